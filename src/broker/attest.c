/* attest.c — post-run attestation: a read-only bash script, sent through the target's own
 * transport, lists hashes and metadata of sensitive files (keys, accounts, sudo, PAM, cron,
 * systemd, shell profiles, ld.so.preload), the lines of line-oriented ones, listening
 * sockets, setuid/setgid files and kernel modules; two snapshots are compared into plain
 * words ("added 1 key to /root/.ssh/authorized_keys", "new listening port tcp 0.0.0.0:4444"). */
#include "broker/broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define SNAPSHOT_MAX ((size_t)64 << 20)
#define SNAPSHOT_TIMEOUT_MS 120000u
#define EXCERPT 80

/* R is the root prefix ('' for the real one). Only reads; prints "KIND\tNAME\tVALUE". */
static const char script_body[] =
    "export LC_ALL=C\n"
    "shopt -s nullglob dotglob\n"
    "declare -A seen\n"
    "homes=(/root)\n"
    "if [ -r \"$R/etc/passwd\" ]; then\n"
    "  while IFS=: read -r _ _ _ _ _ h _; do\n"
    "    [ -n \"$h\" ] && [ \"$h\" != / ] && homes+=(\"$h\")\n"
    "  done < \"$R/etc/passwd\"\n"
    "fi\n"
    "keyfiles=()\n"
    "for h in \"${homes[@]}\"; do\n"
    "  [ -n \"${seen[$h]:-}\" ] && continue; seen[$h]=1\n"
    "  for f in \"$R$h\"/.ssh/authorized_keys \"$R$h\"/.ssh/authorized_keys2; do\n"
    "    [ -e \"$f\" ] && keyfiles+=(\"$f\")\n"
    "  done\n"
    "  for f in .bashrc .profile .bash_profile .bash_login .bash_logout .zshrc .zprofile; do\n"
    "    [ -e \"$R$h/$f\" ] && plain+=(\"$R$h/$f\")\n"
    "  done\n"
    "done\n"
    "linefiles=(\"${keyfiles[@]}\" \"$R/etc/passwd\" \"$R/etc/group\" \"$R/etc/sudoers\" "
    "\"$R\"/etc/sudoers.d/* \"$R/etc/crontab\" \"$R\"/etc/cron.d/* \"$R/etc/anacrontab\" "
    "\"$R\"/var/spool/cron/crontabs/* \"$R\"/var/spool/cron/* \"$R/etc/ld.so.preload\")\n"
    "dirs=(\"$R/etc/shadow\" \"$R/etc/gshadow\" \"$R/etc/pam.d\" \"$R/etc/security\" "
    "\"$R\"/etc/cron.hourly \"$R\"/etc/cron.daily \"$R\"/etc/cron.weekly \"$R\"/etc/cron.monthly "
    "\"$R/etc/systemd/system\" \"$R/lib/systemd/system\" \"$R/usr/lib/systemd/system\" "
    "\"$R/etc/init.d\" \"$R/etc/rc.local\" \"$R/etc/profile\" \"$R/etc/profile.d\" "
    "\"$R/etc/bash.bashrc\" \"$R/etc/environment\" \"$R/etc/ssh/sshd_config\" "
    "\"$R/etc/ssh/sshd_config.d\" \"$R/etc/ld.so.conf\" \"$R/etc/ld.so.conf.d\")\n"
    "declare -A sum\n"
    "meta() {\n"
    "  local kind=$1; shift\n"
    "  local p m\n"
    "  find \"$@\" -maxdepth 3 \\( -type f -o -type l \\) -printf '%p\\t%m %U:%G %s %y %l\\n' 2>/dev/null |\n"
    "  while IFS=$'\\t' read -r p m; do printf '%s\\t%s\\t%s\\n' \"$kind\" \"${p#\"$R\"}\" \"$m\"; done\n"
    "}\n"
    "hashes() {\n"
    "  local kind=$1; shift\n"
    "  find \"$@\" -maxdepth 3 -type f -print0 2>/dev/null | xargs -0 -r sha256sum 2>/dev/null |\n"
    "  while read -r h p; do printf '%s\\t%s\\t%s\\n' \"$kind-sha256\" \"${p#\"$R\"}\" \"$h\"; done\n"
    "}\n"
    "files=(\"${linefiles[@]}\" \"${dirs[@]}\" \"${plain[@]}\")\n"
    "existing=(); for f in \"${files[@]}\"; do [ -e \"$f\" ] || [ -L \"$f\" ] && existing+=(\"$f\"); done\n"
    "if [ ${#existing[@]} -gt 0 ]; then\n"
    "  { meta file \"${existing[@]}\"; hashes file \"${existing[@]}\"; } | sort -u\n"
    "fi\n"
    "lf=(); for f in \"${linefiles[@]}\"; do [ -f \"$f\" ] && [ -r \"$f\" ] && lf+=(\"$f\"); done\n"
    "for f in \"${lf[@]}\"; do\n"
    "  n=${f#\"$R\"}\n"
    "  while IFS= read -r l || [ -n \"$l\" ]; do\n"
    "    t=${l#\"${l%%[![:space:]]*}\"}\n"
    "    case $t in ''|'#'*) continue ;; esac\n"
    "    printf 'line\\t%s\\t%s\\n' \"$n\" \"$l\"\n"
    "  done < \"$f\"\n"
    "done\n"
    "sd=(); for d in /usr/bin /usr/sbin /bin /sbin /usr/local/bin /usr/local/sbin /usr/lib /usr/libexec /opt; do\n"
    "  [ -d \"$R$d\" ] && [ ! -L \"$R$d\" ] && sd+=(\"$R$d\")\n"
    "done\n"
    "if [ ${#sd[@]} -gt 0 ]; then\n"
    "  find \"${sd[@]}\" -xdev -type f -perm /6000 -printf '%p\\t%m %U:%G %s\\n' 2>/dev/null |\n"
    "  while IFS=$'\\t' read -r p m; do printf 'setuid\\t%s\\t%s\\n' \"${p#\"$R\"}\" \"$m\"; done\n"
    "fi\n"
    "for proto in tcp tcp6 udp udp6; do\n"
    "  [ -r /proc/net/$proto ] || continue\n"
    "  while read -r sl loc rem st rest; do\n"
    "    [ \"$sl\" = sl ] && continue\n"
    "    case $proto in tcp*) [ \"$st\" = 0A ] || continue ;; *) [ \"$st\" = 07 ] || continue ;; esac\n"
    "    port=$((16#${loc##*:})); a=${loc%:*}\n"
    "    case $proto in udp*) [ $port -lt 32768 ] || continue ;; esac\n"
    "    if [ ${#a} = 8 ]; then a=$((16#${a:6:2})).$((16#${a:4:2})).$((16#${a:2:2})).$((16#${a:0:2}))\n"
    "    elif [ \"$a\" = 00000000000000000000000000000000 ]; then a='[::]'\n"
    "    elif [ \"$a\" = 00000000000000000000000001000000 ]; then a='[::1]'\n"
    "    else a=\"[$a]\"; fi\n"
    "    printf 'listen\\t%s %s:%s\\t-\\n' \"${proto%6}\" \"$a\" \"$port\"\n"
    "  done < /proc/net/$proto\n"
    "done\n"
    "if [ -r /proc/modules ]; then\n"
    "  while read -r m _; do printf 'module\\t%s\\t-\\n' \"$m\"; done < /proc/modules\n"
    "fi\n";

int
broker_attest(broker *b, const broker_target *t, const char *root, buf *snapshot, buf *msg)
{
	buf script = BUF_INIT;
	broker_limits lim;
	broker_result res;
	const char *r = root && strcmp(root, "/") != 0 ? root : "";
	int rc;

	memset(&lim, 0, sizeof(lim));
	lim.timeout_ms = SNAPSHOT_TIMEOUT_MS;
	lim.out_max = SNAPSHOT_MAX;
	/* the listing is sorted on the target so both snapshots compare line by line */
	if ((rc = buf_puts(&script, "R=")) != 0 ||
	    (rc = broker_shell_quote(&script, (const unsigned char *)r, strlen(r))) != 0 ||
	    (rc = buf_puts(&script, "\n{\n")) != 0 || (rc = buf_puts(&script, script_body)) != 0 ||
	    (rc = buf_puts(&script, "} | LC_ALL=C sort\n")) != 0)
		goto out;
	rc = broker_run(b, t, script.data, script.len, &lim, &res, msg);
	if (rc == 0 && (res.exit_code != 0 || res.out_total > SNAPSHOT_MAX)) {
		buf_printf(msg, "target %s: the attestation snapshot failed (exit %d%s): %.200s",
		           t->name ? t->name : "?", res.exit_code,
		           res.out_total > SNAPSHOT_MAX ? ", too large" : "", buf_cstr(&res.err));
		rc = ESC_EIO;
	}
	if (rc == 0)
		rc = buf_put(snapshot, res.out.data ? (const void *)res.out.data : "", res.out.len);
	broker_result_free(&res);
out:
	buf_free(&script);
	return rc;
}

/* ---- comparing two snapshots ---- */

typedef struct ent {
	const char *line; /* whole line, for ordering */
	size_t len;
	const char *kind, *name, *value;
	size_t klen, nlen, vlen;
} ent;

typedef struct ents {
	ent *v;
	size_t n;
} ents;

static int
ent_cmp(const void *a, const void *b)
{
	const ent *x = a, *y = b;
	size_t m = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->line, y->line, m);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int
parse(const char *s, size_t n, ents *out)
{
	size_t i = 0, cap = 0;

	out->v = NULL;
	out->n = 0;
	while (i < n) {
		const char *l = s + i, *nl = memchr(l, '\n', n - i), *t1, *t2;
		size_t len = nl ? (size_t)(nl - l) : n - i;
		ent e;

		i += len + (nl != NULL);
		t1 = memchr(l, '\t', len);
		if (t1 == NULL)
			continue; /* not ours: ignore */
		t2 = memchr(t1 + 1, '\t', len - (size_t)(t1 + 1 - l));
		e.line = l;
		e.len = len;
		e.kind = l;
		e.klen = (size_t)(t1 - l);
		e.name = t1 + 1;
		e.nlen = t2 ? (size_t)(t2 - t1 - 1) : len - e.klen - 1;
		e.value = t2 ? t2 + 1 : l + len;
		e.vlen = t2 ? len - (size_t)(t2 + 1 - l) : 0;
		if (out->n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			ent *nv = realloc(out->v, nc * sizeof(*nv));

			if (nv == NULL)
				return ESC_ENOMEM;
			out->v = nv;
			cap = nc;
		}
		out->v[out->n++] = e;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), ent_cmp);
	return 0;
}

static int
kind_is(const ent *e, const char *k)
{
	return e->klen == strlen(k) && memcmp(e->kind, k, e->klen) == 0;
}

static int
same_name(const ent *a, const ent *b)
{
	return a->klen == b->klen && memcmp(a->kind, b->kind, a->klen) == 0 &&
	       a->nlen == b->nlen && memcmp(a->name, b->name, a->nlen) == 0;
}

/* (kind, name) order agrees with the whole-line order (neither holds a tab): binary search */
static int
key_cmp(const ent *e, const char *kind, size_t klen, const char *name, size_t nlen)
{
	size_t m = e->klen < klen ? e->klen : klen;
	int c = memcmp(e->kind, kind, m);

	if (c)
		return c;
	if (e->klen != klen)
		return e->klen < klen ? -1 : 1;
	m = e->nlen < nlen ? e->nlen : nlen;
	if ((c = memcmp(e->name, name, m)) != 0)
		return c;
	return (e->nlen > nlen) - (e->nlen < nlen);
}

static const ent *
lookup(const ents *set, const char *kind, size_t klen, const char *name, size_t nlen)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(&set->v[mid], kind, klen, name, nlen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < set->n && key_cmp(&set->v[lo], kind, klen, name, nlen) == 0 ? &set->v[lo] : NULL;
}

static const ent *
find_name(const ents *set, const ent *e)
{
	return lookup(set, e->kind, e->klen, e->name, e->nlen);
}

/* printable excerpt: control characters and non-ASCII escaped, at most EXCERPT bytes */
static void
excerpt(buf *out, const char *p, size_t n)
{
	size_t i;

	buf_putc(out, '"');
	for (i = 0; i < n && i < EXCERPT; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			buf_printf(out, "\\x%02x", c);
		else
			buf_putc(out, c);
	}
	if (n > EXCERPT)
		buf_puts(out, "...");
	buf_putc(out, '"');
}

static int
is_keys_file(const ent *e)
{
	static const char k[] = "authorized_keys";
	size_t i;

	for (i = 0; i + sizeof(k) - 1 <= e->nlen; i++)
		if (memcmp(e->name + i, k, sizeof(k) - 1) == 0)
			return 1;
	return 0;
}

static int
has_line_change(const ents *add, const ents *rem, const ent *file)
{
	return lookup(add, "line", 4, file->name, file->nlen) != NULL ||
	       lookup(rem, "line", 4, file->name, file->nlen) != NULL;
}

/* first word of a metadata value ("644 0:0 12 f ") */
static int
same_word(const ent *a, const ent *b, int word)
{
	const char *p = a->value, *q = b->value, *pe = a->value + a->vlen, *qe = b->value + b->vlen;
	int w;

	for (w = 0; w < word; w++) {
		while (p < pe && *p != ' ')
			p++;
		while (q < qe && *q != ' ')
			q++;
		p += p < pe;
		q += q < qe;
	}
	while (p < pe && q < qe && *p != ' ' && *q != ' ' && *p == *q)
		p++, q++;
	return (p == pe || *p == ' ') && (q == qe || *q == ' ');
}

static void
word(buf *out, const ent *e, int w)
{
	const char *p = e->value, *pe = e->value + e->vlen, *s;
	int i;

	for (i = 0; i < w; i++) {
		while (p < pe && *p != ' ')
			p++;
		p += p < pe;
	}
	for (s = p; p < pe && *p != ' '; p++)
		;
	buf_put(out, s, (size_t)(p - s));
}

static void
say(buf *text, size_t *nch, const char *pre, const ent *e, const char *post)
{
	buf_puts(text, pre);
	buf_put(text, e->name, e->nlen);
	buf_puts(text, post);
	(*nch)++;
}

int
broker_attest_diff(const char *before, size_t blen, const char *after, size_t alen, buf *text,
                   size_t *nchanges)
{
	ents a = { NULL, 0 }, b = { NULL, 0 }, add = { NULL, 0 }, rem = { NULL, 0 };
	size_t i = 0, j = 0, k, nch = 0;
	int rc;

	*nchanges = 0;
	if ((rc = parse(before ? before : "", before ? blen : 0, &a)) != 0 ||
	    (rc = parse(after ? after : "", after ? alen : 0, &b)) != 0)
		goto out;
	add.v = malloc((b.n + 1) * sizeof(ent));
	rem.v = malloc((a.n + 1) * sizeof(ent));
	if (add.v == NULL || rem.v == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	/* multiset difference of two sorted lists */
	while (i < a.n || j < b.n) {
		int c = i == a.n ? 1 : j == b.n ? -1 : ent_cmp(&a.v[i], &b.v[j]);

		if (c == 0)
			i++, j++;
		else if (c < 0)
			rem.v[rem.n++] = a.v[i++];
		else
			add.v[add.n++] = b.v[j++];
	}
	/* files: new, removed, changed (content or metadata) */
	for (k = 0; k < add.n; k++) {
		const ent *e = &add.v[k], *o;

		if (!kind_is(e, "file") && !kind_is(e, "setuid"))
			continue;
		o = find_name(&rem, e);
		if (kind_is(e, "setuid")) {
			if (o == NULL) {
				say(text, &nch, "new setuid/setgid file ", e, " (mode ");
				word(text, e, 0);
				buf_puts(text, ", owner ");
				word(text, e, 1);
				buf_puts(text, ")\n");
			} else {
				say(text, &nch, "setuid/setgid file ", e, " changed (mode ");
				word(text, o, 0);
				buf_puts(text, " -> ");
				word(text, e, 0);
				buf_puts(text, ")\n");
			}
			continue;
		}
		if (o == NULL) {
			say(text, &nch, "new file ", e, " (mode ");
			word(text, e, 0);
			buf_puts(text, ", owner ");
			word(text, e, 1);
			buf_puts(text, ")\n");
			continue;
		}
		if (!same_word(o, e, 0) || !same_word(o, e, 1)) {
			say(text, &nch, "changed ", e, ": mode/owner ");
			word(text, o, 0);
			buf_putc(text, ' ');
			word(text, o, 1);
			buf_puts(text, " -> ");
			word(text, e, 0);
			buf_putc(text, ' ');
			word(text, e, 1);
			buf_putc(text, '\n');
		} else if (!same_word(o, e, 4) || !same_word(o, e, 3)) {
			say(text, &nch, "changed ", e, ": now ");
			buf_put(text, e->value, e->vlen);
			buf_putc(text, '\n');
		}
	}
	for (k = 0; k < add.n; k++) {
		const ent *e = &add.v[k];

		/* a content change is told by its hash (file-sha256) unless lines say more */
		if (kind_is(e, "file-sha256") && find_name(&rem, e) && !has_line_change(&add, &rem, e)) {
			say(text, &nch, "changed content of ", e, "\n");
		}
	}
	for (k = 0; k < rem.n; k++) {
		const ent *e = &rem.v[k];

		if ((kind_is(e, "file") || kind_is(e, "setuid")) && find_name(&add, e) == NULL)
			say(text, &nch, kind_is(e, "file") ? "removed file " : "setuid/setgid gone from ",
			    e, "\n");
	}
	/* lines, counted per file */
	{
		const ents *sets[2] = { &add, &rem };
		int s;

		for (s = 0; s < 2; s++) {
			for (k = 0; k < sets[s]->n;) {
				const ent *e = &sets[s]->v[k];
				size_t cnt = 0, m = k;
				int keys;

				if (!kind_is(e, "line")) {
					k++;
					continue;
				}
				while (m < sets[s]->n && same_name(&sets[s]->v[m], e))
					m++, cnt++;
				keys = is_keys_file(e);
				buf_printf(text, "%s %zu %s%s %s %.*s: ", s == 0 ? "added" : "removed", cnt,
				           keys ? "key" : "line", cnt == 1 ? "" : "s", s == 0 ? "to" : "from",
				           (int)e->nlen, e->name);
				excerpt(text, e->value, e->vlen);
				buf_putc(text, '\n');
				nch++;
				k = m;
			}
		}
	}
	for (k = 0; k < add.n; k++) {
		if (kind_is(&add.v[k], "listen"))
			say(text, &nch, "new listening port ", &add.v[k], "\n");
		else if (kind_is(&add.v[k], "module"))
			say(text, &nch, "new kernel module ", &add.v[k], " loaded\n");
	}
	for (k = 0; k < rem.n; k++) {
		if (kind_is(&rem.v[k], "listen"))
			say(text, &nch, "listening port closed: ", &rem.v[k], "\n");
		else if (kind_is(&rem.v[k], "module"))
			say(text, &nch, "kernel module ", &rem.v[k], " unloaded\n");
	}
	*nchanges = nch;
out:
	free(a.v);
	free(b.v);
	free(add.v);
	free(rem.v);
	return rc;
}

/* ssh.c — the ssh transport over libssh: public-key authentication with a key file kept by
 * escort, the server's host key pinned by SHA-256 fingerprint (anything else refuses before
 * authenticating), one connection per target reused within the process, keepalives, and
 * per command one exec channel: a small bash supervisor runs `bash --noprofile --norc -c
 * 'EXACT BYTES'` in its own process group under a scrubbed environment, reports that
 * group's id first and kills what is left of it at the end; on a time-out a second
 * channel kills the group. */
#include "broker/broker_int.h"

#include <errno.h>
#include <inttypes.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"

#define PGID_TAG "\036escort-pgid "
#define PGID_LINE_MAX 64
#define GRACE_MS 1000
#define KILL_WAIT_MS 5000

struct bk_ssh_conn {
	ssh_session s;
	char *host, *user, *key_file, *host_key;
	unsigned port;
};

typedef struct chan_state {
	int exited;
	int exit_status;
	int signal;
} chan_state;

static const char *
tname(const broker_target *t)
{
	return t->name ? t->name : "?";
}

static unsigned
tport(const broker_target *t)
{
	return t->port ? t->port : 22;
}

static int
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void
conn_free(struct bk_ssh_conn *c)
{
	if (c == NULL)
		return;
	if (c->s) {
		ssh_disconnect(c->s);
		ssh_free(c->s);
	}
	free(c->host);
	free(c->user);
	free(c->key_file);
	free(c->host_key);
	free(c);
}

void
bk_ssh_close_all(broker *b)
{
	size_t i;

	for (i = 0; i < b->nconn; i++)
		conn_free(b->conn[i]);
	b->nconn = 0;
}

static const char *
user_of(const broker_target *t, char *tmp, size_t n)
{
	struct passwd pw, *res = NULL;
	char pbuf[4096];

	if (t->user && *t->user)
		return t->user;
	if (getpwuid_r(geteuid(), &pw, pbuf, sizeof(pbuf), &res) == 0 && res)
		snprintf(tmp, n, "%s", pw.pw_name);
	else
		snprintf(tmp, n, "root");
	return tmp;
}

static ssize_t
find_conn(broker *b, const broker_target *t, const char *user)
{
	size_t i;

	for (i = 0; i < b->nconn; i++) {
		struct bk_ssh_conn *c = b->conn[i];

		if (same(c->host, t->host) && c->port == tport(t) && same(c->user, user) &&
		    same(c->key_file, t->key_file) && same(c->host_key, t->host_key))
			return (ssize_t)i;
	}
	return -1;
}

static void
drop_conn(broker *b, size_t i)
{
	conn_free(b->conn[i]);
	b->conn[i] = b->conn[--b->nconn];
}

void
bk_ssh_disconnect(broker *b, const broker_target *t)
{
	char tmp[256];
	ssize_t i = find_conn(b, t, user_of(t, tmp, sizeof(tmp)));

	if (i >= 0)
		drop_conn(b, (size_t)i);
}

/* "SHA256:abc=" and "abc" name the same key: compare without prefix and padding. */
static int
fp_equal(const char *pinned, const char *got)
{
	size_t a, g;

	if (strncmp(pinned, "SHA256:", 7) == 0)
		pinned += 7;
	if (strncmp(got, "SHA256:", 7) == 0)
		got += 7;
	a = strlen(pinned);
	g = strlen(got);
	while (a && pinned[a - 1] == '=')
		a--;
	while (g && got[g - 1] == '=')
		g--;
	return a == g && a > 0 && memcmp(pinned, got, a) == 0;
}

/* Connects, checks the host key against the pin and returns the session (not
 * authenticated). */
static int
connect_pinned(const broker_target *t, const char *user, ssh_session *out, char *fp,
               size_t fplen, buf *msg)
{
	ssh_session s = ssh_new();
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fph = NULL;
	int port = (int)tport(t), rc = 0;
	long tmo = t->connect_timeout_sec ? (long)t->connect_timeout_sec
	                                  : BROKER_CONNECT_TIMEOUT_SEC;
	bool no = false;
	int one = 1; /* small requests and replies: no Nagle delays */

	*out = NULL;
	if (s == NULL)
		return ESC_ENOMEM;
	if (t->host == NULL || *t->host == 0) {
		buf_printf(msg, "target %s has no host (settings.host)", tname(t));
		rc = ESC_EINVAL;
		goto out;
	}
	/* nothing from ~/.ssh or /etc/ssh may change whom we trust or how we log in */
	if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_HOST, t->host) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_USER, user) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &tmo) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_NODELAY, &one) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0) {
		buf_printf(msg, "target %s: ssh options: %s", tname(t), ssh_get_error(s));
		rc = ESC_EINVAL;
		goto out;
	}
	if (ssh_connect(s) != SSH_OK) {
		buf_printf(msg, "target %s: cannot connect to %s port %u: %s", tname(t), t->host,
		           tport(t), ssh_get_error(s));
		rc = BROKER_ECONNECT;
		goto out;
	}
	if (ssh_get_server_publickey(s, &key) != SSH_OK ||
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0 ||
	    (fph = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen)) == NULL) {
		buf_printf(msg, "target %s: cannot read the server's host key: %s", tname(t),
		           ssh_get_error(s));
		rc = BROKER_EHOSTKEY;
		goto out;
	}
	if (fp)
		snprintf(fp, fplen, "%s", fph);
	if (t->host_key == NULL || *t->host_key == 0) {
		buf_printf(msg, "target %s (%s port %u): no host key is pinned, refusing to connect; "
		           "the server offers %s %s (check it out of band, then set "
		           "settings.host_key)", tname(t), t->host, tport(t),
		           ssh_key_type_to_char(ssh_key_type(key)), fph);
		rc = BROKER_EHOSTKEY;
		goto out;
	}
	if (!fp_equal(t->host_key, fph)) {
		buf_printf(msg, "target %s (%s port %u): HOST KEY MISMATCH, refusing to connect: "
		           "the server presented %s %s but the policy pins %s (the host was "
		           "reinstalled or someone is in the middle)", tname(t), t->host, tport(t),
		           ssh_key_type_to_char(ssh_key_type(key)), fph, t->host_key);
		rc = BROKER_EHOSTKEY;
		goto out;
	}
	*out = s;
	s = NULL;
out:
	ssh_string_free_char(fph);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	if (s) {
		ssh_disconnect(s);
		ssh_free(s);
	}
	return rc;
}

int
broker_ssh_fingerprint(const broker_target *t, char *out, size_t outlen, buf *msg)
{
	broker_target copy = *t;
	ssh_session s = NULL;
	char tmp[256];
	buf ignore = BUF_INIT;
	int rc;

	copy.host_key = "SHA256:-"; /* never matches: we only want the fingerprint */
	*out = 0;
	rc = connect_pinned(&copy, user_of(t, tmp, sizeof(tmp)), &s, out, outlen, &ignore);
	buf_free(&ignore);
	if (s) {
		ssh_disconnect(s);
		ssh_free(s);
	}
	if (*out)
		return 0;
	buf_printf(msg, "target %s: cannot read the host key", tname(t));
	return rc ? rc : BROKER_ECONNECT;
}

static int
authenticate(ssh_session s, const broker_target *t, const char *user, buf *msg)
{
	ssh_key priv = NULL;
	struct stat st;
	int rc = 0;

	if (t->key_file == NULL || *t->key_file == 0) {
		buf_printf(msg, "target %s has no key file", tname(t));
		return ESC_EINVAL;
	}
	if (stat(t->key_file, &st) != 0) {
		buf_printf(msg, "target %s: key %s: %s", tname(t), t->key_file, strerror(errno));
		return ESC_EIO;
	}
	/* a key others can read is a key operators may have: do not use it */
	if (st.st_mode & 077) {
		buf_printf(msg, "target %s: key %s is readable by group or others (mode %03o); "
		           "chmod 600 it", tname(t), t->key_file, (unsigned)(st.st_mode & 0777));
		return ESC_EINVAL;
	}
	if (ssh_pki_import_privkey_file(t->key_file, NULL, NULL, NULL, &priv) != SSH_OK) {
		buf_printf(msg, "target %s: cannot read the private key %s", tname(t), t->key_file);
		return ESC_EPARSE;
	}
	if (ssh_userauth_publickey(s, NULL, priv) != SSH_AUTH_SUCCESS) {
		buf_printf(msg, "target %s: %s@%s refused the key %s: %s", tname(t), user, t->host,
		           t->key_file, ssh_get_error(s));
		rc = BROKER_EAUTH;
	}
	ssh_key_free(priv);
	return rc;
}

int
bk_ssh_connect(const broker_target *t, ssh_session *out, buf *msg)
{
	char tmp[256];
	const char *user = user_of(t, tmp, sizeof(tmp));
	ssh_session s = NULL;
	int rc;

	*out = NULL;
	if ((rc = connect_pinned(t, user, &s, NULL, 0, msg)) != 0)
		return rc;
	if ((rc = authenticate(s, t, user, msg)) != 0) {
		ssh_disconnect(s);
		ssh_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

static int
get_conn(broker *b, const broker_target *t, struct bk_ssh_conn **out, int *reused, buf *msg)
{
	char tmp[256];
	const char *user = user_of(t, tmp, sizeof(tmp));
	ssize_t i = find_conn(b, t, user);
	struct bk_ssh_conn *c;
	ssh_session s = NULL;
	int rc;

	*reused = 0;
	if (i >= 0) {
		if (ssh_is_connected(b->conn[i]->s)) {
			*out = b->conn[i];
			*reused = 1;
			return 0;
		}
		drop_conn(b, (size_t)i);
	}
	if (b->nconn == BK_MAX_CONN)
		drop_conn(b, 0);
	if ((rc = bk_ssh_connect(t, &s, msg)) != 0)
		return rc;
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->host = strdup(t->host)) == NULL || (c->user = strdup(user)) == NULL ||
	    (t->key_file && (c->key_file = strdup(t->key_file)) == NULL) ||
	    (t->host_key && (c->host_key = strdup(t->host_key)) == NULL)) {
		if (c == NULL) {
			ssh_disconnect(s);
			ssh_free(s);
		} else {
			c->s = s;
		}
		conn_free(c);
		return ESC_ENOMEM;
	}
	c->s = s;
	c->port = tport(t);
	b->conn[b->nconn++] = c;
	*out = c;
	return 0;
}

static void
on_exit_status(ssh_session s, ssh_channel ch, int status, void *ud)
{
	chan_state *cs = ud;

	(void)s;
	(void)ch;
	cs->exited = 1;
	cs->exit_status = status & 0xff;
}

static int
signum(const char *name)
{
	static const struct {
		const char *n;
		int v;
	} m[] = { { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "ILL", SIGILL },
		  { "ABRT", SIGABRT }, { "FPE", SIGFPE },   { "KILL", SIGKILL }, { "SEGV", SIGSEGV },
		  { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "USR1", SIGUSR1 },
		  { "USR2", SIGUSR2 }, { "BUS", SIGBUS },   { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ } };
	size_t i;

	for (i = 0; name && i < sizeof(m) / sizeof(m[0]); i++)
		if (strcmp(m[i].n, name) == 0)
			return m[i].v;
	return 127; /* unknown signal: still clearly a failure (128 + 127 = 255) */
}

static void
on_exit_signal(ssh_session s, ssh_channel ch, const char *sig, int core, const char *errmsg,
               const char *lang, void *ud)
{
	chan_state *cs = ud;

	(void)s;
	(void)ch;
	(void)core;
	(void)errmsg;
	(void)lang;
	cs->exited = 1;
	cs->signal = signum(sig);
}

/* Run by bash on the target with the exact bytes as $1: the command runs in its own
 * process group (job control), whose leader first reports its pid, then becomes
 * `bash --noprofile --norc -c "$1"` (same pid: the shell receives exactly $1). When it
 * ends, whatever it left in its group is killed, and its status is passed on. The job
 * notices of `set -m` go to /dev/null; the command's stderr is the channel's. */
static const char supervisor[] =
    "set -m\n"
    "exec 3>&2 2>/dev/null\n"
    "bash --noprofile --norc -c 'printf \"\\036escort-pgid %s\\n\" \"$$\"; "
    "exec bash --noprofile --norc -c \"$1\"' escort \"$1\" 2>&3 3>&- &\n"
    "wait \"$!\"; r=$?\n"
    "kill -KILL -- -\"$!\"\n"
    "exit \"$r\"\n";

/* The string the login shell runs: enter workdir, replace itself by the supervisor bash
 * under a scrubbed environment, with the exact bytes as its argument. */
static int
remote_command(const broker_target *t, const unsigned char *cmd, size_t len,
               const broker_limits *lim, buf *out)
{
	size_t i;
	int rc = 0;

	if (t->workdir && *t->workdir) {
		rc |= buf_puts(out, "cd ");
		rc |= broker_shell_quote(out, (const unsigned char *)t->workdir, strlen(t->workdir));
		rc |= buf_puts(out, " || exit 126; ");
	}
	rc |= buf_puts(out, "exec env -i " BK_PATH " HOME=\"$HOME\" USER=\"$USER\" "
	                    "LOGNAME=\"$USER\" LANG=C.UTF-8 SHELL=/bin/bash TERM=dumb ");
	for (i = 0; lim && lim->env && lim->env[i]; i++) {
		const char *e = lim->env[i], *eq = strchr(e, '=');
		size_t k;

		/* only NAME=value with a plain name: env must not take it for an option */
		if (eq == NULL || eq == e)
			continue;
		for (k = 0; e + k < eq; k++)
			if (!(e[k] == '_' || (e[k] >= 'A' && e[k] <= 'Z') || (e[k] >= 'a' && e[k] <= 'z') ||
			      (k && e[k] >= '0' && e[k] <= '9')))
				break;
		if (e + k != eq)
			continue;
		rc |= broker_shell_quote(out, (const unsigned char *)e, strlen(e));
		rc |= buf_putc(out, ' ');
	}
	rc |= buf_puts(out, "bash --noprofile --norc -c ");
	rc |= broker_shell_quote(out, (const unsigned char *)supervisor, strlen(supervisor));
	rc |= buf_puts(out, " escort ");
	rc |= broker_shell_quote(out, cmd, len);
	return rc ? ESC_ENOMEM : 0;
}

/* Kills the remote process group through a second channel, waiting (bounded) until that
 * has run; with wait == 0 only until sshd has started it. */
static void
kill_group(ssh_session s, long pgid, int wait)
{
	ssh_channel k;
	char cmd[96];
	char junk[256];
	int64_t until = bk_now_ms() + KILL_WAIT_MS;

	if (pgid <= 1)
		return;
	if ((k = ssh_channel_new(s)) == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "kill -KILL -- -%ld 2>/dev/null; exit 0", pgid);
	if (ssh_channel_open_session(k) == SSH_OK && ssh_channel_request_exec(k, cmd) == SSH_OK) {
		ssh_channel_send_eof(k);
		while (wait && !ssh_channel_is_eof(k) && !ssh_channel_is_closed(k) &&
		       bk_now_ms() < until) {
			if (ssh_channel_poll_timeout(k, 100, 0) == SSH_ERROR)
				break;
			(void)ssh_channel_read_nonblocking(k, junk, sizeof(junk), 0);
			(void)ssh_channel_read_nonblocking(k, junk, sizeof(junk), 1);
		}
	}
	ssh_channel_free(k);
}

/* The supervisor's pgid line comes first from the command's side; a login shell's rc
 * files may print before it. Lines before it are output; the line itself is not. */
typedef struct head_state {
	char line[PGID_LINE_MAX + 1];
	size_t len;
	int found;
	int midline; /* the buffered bytes continue a line already passed on */
	long pgid;
} head_state;

static void
take_stdout(bk_sink *sink, head_state *h, const unsigned char *p, size_t n)
{
	size_t i = 0, tl = strlen(PGID_TAG);

	while (!h->found && i < n) {
		unsigned char c = p[i++];

		h->line[h->len++] = (char)c;
		if (c != '\n' && h->len < PGID_LINE_MAX)
			continue;
		if (c == '\n' && !h->midline && h->len > tl && memcmp(h->line, PGID_TAG, tl) == 0) {
			h->line[h->len] = 0;
			h->pgid = strtol(h->line + tl, NULL, 10);
			h->found = 1;
		} else {
			bk_sink_put(sink, BROKER_STDOUT, (const unsigned char *)h->line, h->len);
			h->midline = c != '\n';
		}
		h->len = 0;
	}
	if (i < n)
		bk_sink_put(sink, BROKER_STDOUT, p + i, n - i);
}

static int
run_on(struct bk_ssh_conn *c, const broker_target *t, const buf *rcmd, const broker_limits *lim,
       broker_result *res, int *opened, buf *msg)
{
	ssh_channel ch = NULL;
	ssh_event ev = NULL;
	struct ssh_channel_callbacks_struct cb;
	chan_state cs = { 0, 0, 0 };
	bk_sink sink = { 0 };
	head_state head;
	int rc = 0, eof[2] = { 0, 0 }, i;
	unsigned char chunk[32768];
	unsigned ka = (t->keepalive_sec ? t->keepalive_sec : BROKER_KEEPALIVE_SEC) * 1000u;
	int64_t t0 = bk_now_ms(), deadline = t0 + bk_timeout_ms(lim), exited_at = 0, last_ka = t0;

	*opened = 0;
	memset(&head, 0, sizeof(head));
	if ((rc = bk_sink_init(&sink, res, lim)) != 0)
		return rc;
	if ((ch = ssh_channel_new(c->s)) == NULL || ssh_channel_open_session(ch) != SSH_OK) {
		buf_printf(msg, "target %s: cannot open a channel: %s", tname(t), ssh_get_error(c->s));
		rc = BROKER_ECONNECT;
		goto out;
	}
	memset(&cb, 0, sizeof(cb));
	ssh_callbacks_init(&cb);
	cb.userdata = &cs;
	cb.channel_exit_status_function = on_exit_status;
	cb.channel_exit_signal_function = on_exit_signal;
	ssh_set_channel_callbacks(ch, &cb);
	*opened = 1;
	if (ssh_channel_request_exec(ch, (const char *)rcmd->data) != SSH_OK) {
		buf_printf(msg, "target %s: exec request refused: %s", tname(t), ssh_get_error(c->s));
		rc = BROKER_ECONNECT;
		goto out;
	}
	ssh_channel_send_eof(ch);
	if ((ev = ssh_event_new()) == NULL || ssh_event_add_session(ev, c->s) != SSH_OK) {
		rc = ESC_ENOMEM;
		goto out;
	}
	for (;;) {
		int64_t now;
		int any = 0, wait;

		/* drain what arrived, then check where we are, then wait for packets */
		for (i = 0; i < 2; i++) {
			int k;

			while (!eof[i]) {
				k = ssh_channel_read_nonblocking(ch, chunk, sizeof(chunk), i);
				if (k == SSH_ERROR) {
					buf_printf(msg, "target %s: connection lost: %s", tname(t),
					           ssh_get_error(c->s));
					rc = BROKER_ECONNECT;
					goto out;
				}
				if (k == SSH_EOF || (k == 0 && (ssh_channel_is_eof(ch) ||
				                                ssh_channel_is_closed(ch)))) {
					eof[i] = 1;
					break;
				}
				if (k == 0)
					break;
				any = 1;
				if (i == 0)
					take_stdout(&sink, &head, chunk, (size_t)k);
				else
					bk_sink_put(&sink, BROKER_STDERR, chunk, (size_t)k);
			}
		}
		now = bk_now_ms();
		if (cs.exited && exited_at == 0)
			exited_at = now;
		if (eof[0] && eof[1] && (cs.exited || ssh_channel_is_closed(ch)))
			break;
		if (exited_at && now - exited_at > GRACE_MS)
			break; /* background leftovers keep the output open: they die below */
		if (now >= deadline) {
			res->timed_out = !cs.exited;
			break;
		}
		if (now - last_ka >= ka) {
			(void)ssh_send_ignore(c->s, "keepalive");
			last_ka = now;
		}
		if (any)
			continue;
		wait = deadline - now < 100 ? (int)(deadline - now) : 100;
		if (ssh_event_dopoll(ev, wait > 0 ? wait : 1) == SSH_ERROR && !ssh_is_connected(c->s)) {
			buf_printf(msg, "target %s: connection lost: %s", tname(t), ssh_get_error(c->s));
			rc = BROKER_ECONNECT;
			goto out;
		}
	}
	if (!head.found && head.len)
		bk_sink_put(&sink, BROKER_STDOUT, (const unsigned char *)head.line, head.len);
	if (ev) {
		ssh_event_remove_session(ev, c->s);
		ssh_event_free(ev);
		ev = NULL;
	}
	/* nothing of this run may outlive it: the supervisor cleans up after a normal end;
	 * on a time-out (or a lost supervisor) a second channel kills the group */
	if (res->timed_out || !cs.exited)
		kill_group(c->s, head.pgid, 1);
	if (res->timed_out)
		res->exit_code = BROKER_EXIT_TIMEOUT;
	else if (cs.signal)
		res->exit_code = 128 + cs.signal;
	else if (cs.exited)
		res->exit_code = cs.exit_status;
	else
		res->exit_code = 255;
out:
	res->run_ms = bk_now_ms() - t0;
	bk_sink_finish(&sink);
	if (ev) {
		ssh_event_remove_session(ev, c->s);
		ssh_event_free(ev);
	}
	if (ch) {
		/* the channel may outlive this frame inside libssh until the server closes it:
		 * late messages must not reach our stack */
		if (*opened)
			ssh_remove_channel_callbacks(ch, &cb);
		ssh_channel_close(ch);
		ssh_channel_free(ch);
	}
	return rc;
}

int
bk_ssh_run(broker *b, const broker_target *t, const unsigned char *cmd, size_t len,
           const broker_limits *lim, broker_result *res, buf *msg)
{
	struct bk_ssh_conn *c = NULL;
	buf rcmd = BUF_INIT;
	int rc, reused = 0, opened = 0, attempt;
	int64_t t0;

	if ((rc = remote_command(t, cmd, len, lim, &rcmd)) != 0)
		goto out;
	for (attempt = 0; attempt < 2; attempt++) {
		t0 = bk_now_ms();
		if ((rc = get_conn(b, t, &c, &reused, msg)) != 0)
			goto out;
		res->reused = reused;
		res->connect_ms = reused ? 0 : bk_now_ms() - t0;
		rc = run_on(c, t, &rcmd, lim, res, &opened, msg);
		if (rc == 0)
			break;
		/* a dead cached connection: drop it; retry once only if nothing was sent */
		bk_ssh_disconnect(b, t);
		if (!reused || opened)
			break;
		buf_reset(msg);
		buf_reset(&res->out);
		buf_reset(&res->err);
		res->out_total = res->err_total = 0;
	}
out:
	buf_free(&rcmd);
	return rc;
}

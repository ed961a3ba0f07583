/* analyze.c — the lockbox analyzer: walks the bash AST (every simple command, also inside
 * substitutions, pipelines, compound commands, functions and here-documents fed to
 * shells), resolves each program in the knowledge base, parses its options, turns
 * operands into effects, sees through wrappers and nested shells, and recognizes the
 * cross-command patterns (download piped into a shell, reverse shells). */
#include "lockbox/analyze_int.h"
#include "lockbox/normalize.h"
#include "lockbox/pwsh.h"
#include "lockbox/sigma.h"
#include "util/err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LBX_MAX_NEST 12    /* sh -c, eval, ... strings inside each other */
#define LBX_MAX_WRAP 32    /* wrappers inside each other (sudo nice timeout env ...) */
#define LBX_MAX_WALK (4 * LB_MAX_DEPTH + 64) /* AST levels, nested strings included */
#define LBX_MAX_NODES 20000 /* simple commands per record we analyze */
#define LBX_MAX_UNITS 16384 /* words, operators and expansions per record we parse */

/* Facts about the whole record, for patterns spanning several commands. */
typedef struct facts {
	int devtcp;          /* a /dev/tcp or /dev/udp redirection */
	int devtcp_out;      /* ... written to */
	int devtcp_in;       /* ... read from */
	int devtcp_dup;      /* fd duplication (0>&1, >&5) somewhere */
	lb_span devtcp_span;
	const char *devtcp_target;
	int shell_spawn;     /* a shell runs (interactive or on stdin) */
	lb_span shell_span;
	int dyn_cmd;         /* a command's name is computed at run time */
	int rshell_reported;
	int nodes;
	int raw_net;         /* nc/socat/telnet style connection */
	int file_read;       /* some file is read */
	int file_write;      /* some file is written */
	const char *written[16]; /* files written in this record (for chmod +x) */
	int nwritten;
	int shell_content;   /* a file was given content that starts a shell */
	const char *wrote_desc; /* description of the path do_redirs reported as written */
	size_t norm_budget;  /* bytes the deobfuscator may still produce (LBX_NORM_BUDGET) */
	/* scratch buffers reused for every sentence of the record (no malloc per command):
	 * [0] template filling, [1] option phrases */
	buf *tmp;
} facts;

/* The scratch buffers outlive the record: one spare pair is kept for the next record
 * (shared by all threads, taken and given back atomically). */
typedef struct scratch {
	buf tmp[2];
} scratch;
static _Atomic(scratch *) spare_scratch;

static scratch *
scratch_get(void)
{
	scratch *s = atomic_exchange(&spare_scratch, NULL);
	if (s == NULL && (s = calloc(1, sizeof *s)) != NULL) {
		buf_init(&s->tmp[0], 4096);
		buf_init(&s->tmp[1], 4096);
	}
	return s;
}

static void
scratch_put(scratch *s)
{
	if (s == NULL)
		return;
	buf_reset(&s->tmp[0]);
	buf_reset(&s->tmp[1]);
	scratch *old = atomic_exchange(&spare_scratch, s);
	if (old) {
		buf_free(&old->tmp[0]);
		buf_free(&old->tmp[1]);
		free(old);
	}
}

typedef struct actx {
	const kb *k;
	lockbox_result *r;
	lb_arena *a;
	const char *src;     /* text being analyzed (the record or a nested string) */
	size_t len;
	int exact;           /* nested offsets map 1:1 onto the record at base */
	uint32_t base;
	lb_span outer;       /* when not exact: everything maps to this span */
	int depth;           /* AST walk depth (bounded by the parser, checked anyway) */
	int nest;            /* nested strings and wrappers: sh -c, eval, sudo, xargs */
	int priv;            /* runs as another user (sudo, su, doas) */
	int remote;          /* runs on a remote host (ssh) */
	const char *as_user; /* sentences say who runs it: "root", "the user bob" (sudo) */
	facts *f;
} actx;

/* What a command's standard input is. */
typedef struct sin {
	int piped;           /* from a pipe */
	int net;             /* 1: downloaded content (curl), 2: raw socket (nc) */
	int net_listen;
	const char *net_src;
	const char *text;    /* known static text (echo ... |, here-doc, here-string) */
	size_t tlen;
	lb_span tspan;       /* in record coordinates */
	int texact;          /* text maps 1:1 onto the record at tspan.start */
	int dynamic;         /* produced by something unknown */
	const char *exec_by; /* the program is run by another program (find -exec, nc -e) */
	const char *file;    /* stdin is redirected from this file */
	int obf;             /* the text was decoded (base64 -d): it was hidden on purpose */
} sin;

/* What a command did, for its neighbours in a pipeline. */
typedef struct sout {
	int net;             /* writes network data to stdout: 1 download, 2 raw socket */
	int net_listen;
	const char *net_src;
	int code_stdin;      /* runs stdin as code (sh, python, at) */
	const char *repl;    /* an interactive interpreter started: later lines are its input */
	const char *xfer;    /* an interactive file transfer client started (ftp, sftp) */
	const char *tui;     /* an interactive full-screen program started (ncdu, less) */
	int obf;             /* text was decoded from an encoding (base64 -d) */
	int shell;           /* runs a shell */
	const char *text;    /* prints static text (echo, printf) */
	size_t tlen;
	lb_span tspan;
	int texact;
	int dyn;
} sout;

typedef struct arg {
	const char *v;       /* static value, or display form when not static */
	size_t len;
	const lb_word *w;    /* NULL for synthesized words */
	lb_span span;        /* in record coordinates */
	uint8_t stat;        /* value is fully static */
} arg;

static void walk(actx *c, const lb_node *n, const sin *in, sout *out);
static void analyze_argv(actx *c, arg *v, size_t n, const lb_node *node, const sin *in,
    sout *out);
static void analyze_string(actx *c, const char *s, size_t n, lb_span span, int exact,
    const sin *in, sout *out, const char *why);
static void walk_word(actx *c, const lb_word *w);

/* ---- spans and small helpers ---------------------------------------------------------- */

static lb_span
map_span(const actx *c, lb_span s)
{
	if (!c->exact)
		return c->outer;
	lb_span o = { s.start + c->base, s.end + c->base };
	if (o.end > c->r->len)
		o.end = (uint32_t)c->r->len;
	if (o.start > o.end)
		o.start = o.end;
	return o;
}

static lb_span
join_span(lb_span a, lb_span b)
{
	lb_span o = { a.start < b.start ? a.start : b.start, a.end > b.end ? a.end : b.end };
	return o;
}

static char *
dup(actx *c, const char *s, size_t n)
{
	char *p = lb_arena_strndup(c->a, s, n);
	if (p == NULL)
		c->r->oom = 1;
	return p;
}

#define FMT(...) lbx_printf(c->a, __VA_ARGS__)

static void
finding(actx *c, const char *id, int sev, int cat, lb_span span, const char *msg)
{
	lbx_add_finding(c->r, id, sev, cat, span, msg);
}

static void
sentence(actx *c, int prio, const char *s)
{
	/* under sudo the wrapper has no sentence of its own: each sentence of what it runs
	 * says who runs it */
	if (c->as_user && s)
		s = FMT("As %s: %s", c->as_user, s);
	lbx_add_sentence(c->r, s, prio);
}

static void
cat(actx *c, int risk, kb_cat ct)
{
	lbx_add_risk(c->r, risk, KB_CAT(ct), NULL);
}

static void
attack(actx *c, const char *id)
{
	lbx_add_attack(c->r, id);
}

static const char *
base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* Called with a constant `b` in long chains (program names): comparing the first byte
 * inline skips almost every strcmp call. */
static inline int
streq(const char *a, const char *b)
{
	return a && b && a[0] == b[0] && (a[0] == 0 || (a[1] == b[1] && strcmp(a, b) == 0));
}

static int
starts(const char *s, const char *pre)
{
	return s && strncmp(s, pre, strlen(pre)) == 0;
}

/* Short display of a value for messages: at most 60 bytes. */
static const char *
shown(actx *c, const char *s)
{
	size_t n = strlen(s);
	if (n <= 60)
		return s;
	char *p = lb_arena_alloc(c->a, 64);
	if (p == NULL)
		return s;
	memcpy(p, s, 57);
	memcpy(p + 57, "...", 4);
	return p;
}

/* ---- words ------------------------------------------------------------------------------ */

static void
make_arg(actx *c, const lb_word *w, arg *out)
{
	size_t n = 0;
	const char *v = lb_word_static(c->a, w, &n);
	out->w = w;
	out->span = map_span(c, w->span);
	if (v) {
		out->v = v;
		out->len = n;
		out->stat = 1;
	} else {
		out->v = lb_word_display(c->a, w, c->src);
		if (out->v == NULL) {
			out->v = "";
			c->r->oom = 1;
		}
		out->len = strlen(out->v);
		out->stat = 0;
	}
}

/* Path form of a word for sensitive-path matching: literal text, ~ and $HOME kept as
 * written so lbx_norm_path maps them to any home; other expansions as written. */
static const char *
path_form(actx *c, const arg *a)
{
	(void)c;
	/* the display form keeps ~, $HOME and globs as written; that is what we want */
	return a->v;
}

static int
is_dev_disk(const char *p)
{
	static const char *const pre[] = {
		"/dev/sd", "/dev/hd", "/dev/vd", "/dev/xvd", "/dev/nvme", "/dev/mmcblk", "/dev/md",
		"/dev/dm-", "/dev/mapper/", "/dev/disk/", "/dev/loop", "/dev/sr", "/dev/mtd",
		"/dev/root", NULL,
	};
	for (const char *const *q = pre; *q; q++)
		if (starts(p, *q))
			return 1;
	return 0;
}

/* The top of the filesystem: deleting (recursively) any of these wrecks the system. */
static int
is_system_top(const char *p)
{
	static const char *const top[] = {
		"/", "/*", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64",
		"/opt", "/proc", "/root", "/sbin", "/srv", "/sys", "/usr", "/var", "/usr/bin",
		"/usr/lib", "/usr/sbin", "/usr/local", "/var/lib", "/bin/*", "/boot/*", "/etc/*",
		"/home/*", "/lib/*", "/usr/*", "/var/*", "/root/*", "/sbin/*", "/.", "/home/~",
		"/home/~/*", "/root", NULL,
	};
	for (const char *const *q = top; *q; q++)
		if (streq(p, *q))
			return 1;
	return 0;
}

/* Temporary or relative (working-directory) paths: writing there changes little. */
static int
is_temp_path(const char *p)
{
	if (p == NULL || *p == 0)
		return 1;
	if (p[0] != '/' && p[0] != '~' && !starts(p, "$HOME") && !starts(p, "${HOME}"))
		return 1;
	return starts(p, "/tmp/") || streq(p, "/tmp") || starts(p, "/var/tmp/") ||
	    starts(p, "/dev/shm/") || starts(p, "/dev/null") || starts(p, "/dev/std") ||
	    starts(p, "/dev/fd/") || starts(p, "/proc/self/fd/");
}

/* ---- sensitive paths ------------------------------------------------------------------ */

static const char *const access_verb[KB_X_COUNT] = { "Reads", "Writes", "Deletes", "Runs" };

/* Matches a path against the knowledge base and applies what the entry says. Returns the
 * entry's description or NULL. */
static const char *
check_path(actx *c, const char *raw, kb_access x, lb_span span)
{
	if (raw == NULL || *raw == 0 || streq(raw, "-"))
		return NULL;
	const char *norm = lbx_norm_path(c->a, raw);
	if (norm == NULL)
		return NULL;
	const kb_path *hits[4];
	size_t nh = kb_path_match_all(c->k, norm, x, hits, 4);
	if (nh == 0 && norm[0] != '/' && norm[0] != 0) {
		/* a relative path may be relative to a home directory (.ssh/authorized_keys) */
		size_t nl = strlen(norm);
		char *alt = lb_arena_alloc(c->a, nl + 9);
		if (alt) {
			memcpy(alt, "/home/~/", 8);
			memcpy(alt + 8, norm, nl + 1);
		}
		if (alt)
			nh = kb_path_match_all(c->k, alt, x, hits, 4);
	}
	if (nh == 0)
		return NULL;
	/* every matching entry adds what it says; the descriptions are joined */
	buf d = BUF_INIT;
	int sev = LOCKBOX_RISK_NONE;
	int fcat = -1;
	for (size_t h = 0; h < nh; h++) {
		const kb_pathfx *fx = &hits[h]->fx[x];
		int r = fx->risk >= 0 ? fx->risk : LOCKBOX_RISK_LOW;
		lbx_add_risk(c->r, r, fx->cats, &fx->attack);
		if (r > sev)
			sev = r;
		for (int i = 0; i < KB_C_COUNT && (fcat < 0 || h == 0); i++)
			if (fx->cats & KB_CAT(i)) {
				if (fcat < 0 || r >= sev)
					fcat = i;
				break;
			}
		if (hits[h]->describe) {
			if (d.len)
				buf_puts(&d, "; ");
			buf_puts(&d, hits[h]->describe);
		}
	}
	if (fcat < 0)
		fcat = x == KB_X_READ ? KB_C_FILE_READ : x == KB_X_DELETE ? KB_C_FILE_DELETE :
		    x == KB_X_EXEC ? KB_C_CODE_EXEC : KB_C_FILE_WRITE;
	const char *desc = d.len ? dup(c, buf_cstr(&d), d.len) : NULL;
	buf_free(&d);
	if (sev >= LOCKBOX_RISK_MEDIUM)
		finding(c, "sensitive-path", sev, fcat, span,
		    FMT("%s %s (%s)", access_verb[x], shown(c, raw),
		        desc ? desc : "a sensitive file"));
	return desc;
}

/* ---- effects of roles --------------------------------------------------------------- */

typedef struct cmdctx {
	actx *c;
	lbx_cmd *cmd;
	const char *prog;
	const kb_spec *spec, *sub;
	uint32_t flags;
	int readonly;
	const char *describe_hit; /* a sensitive path description for the sentence */
	int shell_mentioned;
	lb_span span;
	arg *v0;                  /* the command's words, to map args to roles */
	size_t nv;
	int8_t *roles;            /* role given to each word, -1 when none */
	int no_sentence;          /* a handler wrote a better sentence than the template */
} cmdctx;

#define ROLE_LOGIN_SHELL 100 /* the argument of -s/--shell: a login shell name */
#define ROLE_KNOWN_OPT 101   /* an option word the rules know */

static void run_inner_words(cmdctx *cc, arg *v, size_t n, const sin *in, sout *out);

static const char *
effect_type_for(int role)
{
	switch (role) {
	case KB_R_READ:
		return "file-read";
	case KB_R_WRITE:
	case KB_R_APPEND:
	case KB_R_MODIFY:
		return "file-write";
	case KB_R_DELETE:
		return "file-delete";
	case KB_R_EXEC:
		return "exec";
	case KB_R_HOST:
		return "network-connect";
	case KB_R_URL:
		return "network-download";
	case KB_R_LISTEN:
		return "network-listen";
	case KB_R_CODE:
		return "code-exec";
	case KB_R_USER:
		return "user";
	case KB_R_GROUP:
		return "group";
	case KB_R_SERVICE:
		return "service";
	case KB_R_PACKAGE:
		return "package";
	case KB_R_MODULE:
		return "kernel-module";
	case KB_R_DEVICE:
		return "device";
	default:
		return NULL;
	}
}

/* Setuid/setgid bits in a chmod-style mode: u+s, g+s, +s, 4755, 2755, 6777. */
static int
mode_setuid(const char *m)
{
	if (m == NULL || *m == 0)
		return 0;
	size_t n = strlen(m);
	int digits = 1;
	for (size_t i = 0; i < n; i++)
		if (m[i] < '0' || m[i] > '7')
			digits = 0;
	if (digits)
		return n >= 4 && ((m[n - 4] - '0') & 6);
	/* symbolic: look for +s or =s in any clause not restricted to o */
	const char *p = m;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t cl = e ? (size_t)(e - p) : strlen(p);
		int who_o_only = 1, seen_who = 0, adds_s = 0;
		for (size_t i = 0; i < cl; i++) {
			char ch = p[i];
			if (ch == 'u' || ch == 'g' || ch == 'a') {
				if (!adds_s && !strchr(p, '+') ? 0 : 1) {
				}
			}
			if (ch == '+' || ch == '=' || ch == '-') {
				/* who-part ends at the first operator */
				for (size_t j = 0; j < i; j++) {
					seen_who = 1;
					if (p[j] != 'o')
						who_o_only = 0;
				}
				if (ch != '-')
					for (size_t j = i + 1; j < cl && p[j] != '+' && p[j] != '-' &&
					     p[j] != '='; j++)
						if (p[j] == 's')
							adds_s = 1;
				break;
			}
		}
		if (adds_s && (!seen_who || !who_o_only))
			return 1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

/* Code shown in a sentence: whitespace runs become one space, at most 60 bytes, then an
 * ellipsis; quoted so the reader sees where it starts and ends. */
static const char *
code_preview(actx *c, const char *code, size_t n)
{
	char *p = lb_arena_alloc(c->a, 64 + 8);
	if (p == NULL)
		return "";
	size_t o = 0, i = 0;
	p[o++] = '"';
	while (i < n && (code[i] == ' ' || code[i] == '\t' || code[i] == '\n' || code[i] == '\r'))
		i++;
	int sp = 0;
	for (; i < n && o < 58; i++) {
		char ch = code[i];
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			sp = 1;
			continue;
		}
		if (sp)
			p[o++] = ' ';
		sp = 0;
		p[o++] = ch;
	}
	/* do not end inside a UTF-8 sequence */
	if (i < n)
		while (o > 1 && ((unsigned char)p[o - 1] & 0xC0) == 0x80)
			o--;
	if (i < n && o > 1 && ((unsigned char)p[o - 1] & 0xC0) == 0xC0)
		o--;
	if (i < n) {
		memcpy(p + o, "...", 3);
		o += 3;
	}
	p[o++] = '"';
	p[o] = 0;
	return p;
}

/* Shell commands written literally in interpreter code (os.system("..."), also when
 * base64-decoded in place) are analyzed as commands and listed as recovered text. */
static void
code_commands(actx *c, const char *prog, const char *code, size_t n, lb_span span)
{
	if (c->nest >= LBX_MAX_NEST || c->f->norm_budget == 0)
		return;
	lbx_layer *l = lbx_code_commands(c->a, prog, code, n, &c->f->norm_budget);
	for (; l; l = l->next) {
		lbx_deob *d = lbx_add_deob(c->r, l->text, l->len, l->via, span);
		const char *cmdtext = shown(c, dup(c, l->text, l->len));
		if (l->decoded)
			finding(c, "inline-decoded-command", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, span,
			    FMT("%s code decodes hidden commands and runs them: %s", prog, cmdtext));
		else
			finding(c, "wrapped-shell-command", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, span,
			    FMT("%s code runs the shell command %s: wrapping a command in another "
			        "language hides it from a quick review", prog, cmdtext));
		attack(c, "T1027");
		analyze_string(c, l->text, l->len, span, 0, NULL, NULL, "code");
		if (d)
			d->f1 = c->r->nfindings;
	}
}

static void
inline_code(cmdctx *cc, const char *code, size_t n, lb_span span)
{
	actx *c = cc->c;
	unsigned f = lbx_scan_code(code, n);
	lbx_add_effect(c->r, cc->cmd, "code-exec", shown(c, code));
	code_commands(c, cc->prog, code, n, span);
	cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
	attack(c, "T1059");
	if ((f & LBX_CODE_SHELL) && (f & LBX_CODE_SOCKET)) {
		finding(c, "inline-reverse-shell", LOCKBOX_RISK_CRITICAL, KB_C_REVERSE_SHELL, span,
		    FMT("%s code connects to the network and hands it a shell", cc->prog));
		cat(c, LOCKBOX_RISK_CRITICAL, KB_C_NETWORK_CONNECT);
		sentence(c, 90, FMT("Runs %s code that connects out over the network and gives the "
		    "other side a shell on this machine (a reverse shell).", cc->prog));
		attack(c, "T1059.004");
		return;
	}
	if (f & LBX_CODE_LIBLOAD) {
		finding(c, "library-load", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, span,
		    FMT("%s code loads a native library, which runs arbitrary machine code",
		        cc->prog));
	}
	if (f & LBX_CODE_SETUID) {
		finding(c, "inline-setuid", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION, span,
		    FMT("%s code changes its user id", cc->prog));
		attack(c, "T1548");
	}
	if (f & (LBX_CODE_SHELL | LBX_CODE_PTY | LBX_CODE_SHPATH)) {
		finding(c, "inline-shell", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, span,
		    FMT("%s code runs shell commands", cc->prog));
		c->f->shell_spawn = 1;
		c->f->shell_span = span;
	}
	if (f & LBX_CODE_SOCKET) {
		int lis = (f & LBX_CODE_LISTEN) != 0;
		finding(c, lis ? "inline-listen" : "inline-network", LOCKBOX_RISK_MEDIUM,
		    lis ? KB_C_NETWORK_LISTEN : KB_C_NETWORK_CONNECT, span,
		    FMT("%s code opens network connections", cc->prog));
	} else if (f & LBX_CODE_LISTEN) {
		finding(c, "inline-listen", LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_LISTEN, span,
		    FMT("%s code serves on the network", cc->prog));
	}
	if (f & (LBX_CODE_HTTP | LBX_CODE_SOCKET | LBX_CODE_LISTEN)) {
		static const char *const rd[] = {
			"open(", "io.open", "createReadStream", "readFile", "File.read", "File.open",
			"fopen", "file_get_contents", "IO.read", "slurp", "<$", "read_file", NULL,
		};
		int reads = 0;
		for (const char *const *k = rd; *k && !reads; k++)
			reads = memmem(code, n, *k, strlen(*k)) != NULL;
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
		if (reads && !(f & LBX_CODE_FILEWRITE && !(f & LBX_CODE_HTTP) &&
		    memmem(code, n, "\"w", 2))) {
			finding(c, "inline-upload", LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD, span,
			    FMT("%s code reads files and sends them over the network", cc->prog));
			attack(c, "T1048");
		}
		if ((f & LBX_CODE_LISTEN) && (memmem(code, n, "http.server", 11) ||
		    memmem(code, n, "SimpleHTTP", 10) || memmem(code, n, "serve_forever", 13) ||
		    memmem(code, n, "TCPServer", 9)))
			finding(c, "file-server", LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD, span,
			    FMT("%s code serves files to anyone on the network", cc->prog));
	}
	if ((f & LBX_CODE_DECODE) && (f & (LBX_CODE_EVAL | LBX_CODE_SHELL)))
		finding(c, "inline-decode-exec", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, span,
		    FMT("%s code decodes data and runs it", cc->prog));
	if (f & LBX_CODE_FILEWRITE)
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_FILE_WRITE); /* code that writes files */
	/* file paths quoted in the code */
	for (size_t i = 0; i + 1 < n; i++) {
		if ((code[i] == '"' || code[i] == '\'') && code[i + 1] == '/') {
			size_t j = i + 1;
			while (j < n && code[j] != code[i] && j - i < 256)
				j++;
			if (j < n && code[j] == code[i]) {
				const char *p = dup(c, code + i + 1, j - i - 1);
				if (p && !strpbrk(p, " \t\n")) {
					check_path(c, p, (f & LBX_CODE_FILEWRITE) ? KB_X_WRITE : KB_X_READ, span);
					if ((f & LBX_CODE_FILEWRITE) && !is_temp_path(p)) {
						cat(c, LOCKBOX_RISK_MEDIUM, KB_C_FILE_WRITE);
						lbx_add_effect(c->r, cc->cmd, "file-write", p);
					}
				}
			}
			i = j;
		}
	}
	/* one sentence: what the code does, and the code itself (shortened, on one line) */
	const char *does = (f & (LBX_CODE_SHELL | LBX_CODE_PTY | LBX_CODE_SHPATH)) ?
	    (f & LBX_CODE_LIBLOAD ? " that starts a shell and loads a native library" :
	    " that starts a shell or runs system commands") :
	    (f & LBX_CODE_LIBLOAD) ? " that loads a native library (which can run any code)" :
	    (f & LBX_CODE_SOCKET) ? " that opens network connections" :
	    (f & LBX_CODE_HTTP) ? " that fetches data from the network" : "";
	sentence(c, *does ? 60 : 10, FMT("Runs %s code%s: %s.", cc->prog, does,
	    code_preview(c, code, n)));
}

static void
apply_role(cmdctx *cc, int role, arg *a, const sin *in)
{
	actx *c = cc->c;
	if (role <= KB_R_NONE || a == NULL)
		return;
	const char *et = effect_type_for(role);
	const char *pf = path_form(c, a);
	if (cc->roles && a >= cc->v0 && a < cc->v0 + cc->nv)
		cc->roles[a - cc->v0] = (int8_t)role;
	switch (role) {
	case KB_R_READ:
	case KB_R_WRITE:
	case KB_R_APPEND:
	case KB_R_MODIFY:
	case KB_R_DELETE: {
		if (streq(a->v, "-") || a->len == 0)
			return;
		kb_access x = role == KB_R_READ ? KB_X_READ : role == KB_R_DELETE ? KB_X_DELETE :
		    KB_X_WRITE;
		lbx_add_effect(c->r, cc->cmd, et, a->v);
		/* changing files outside temporary directories is a change to the system */
		int lvl = is_temp_path(pf) ? LOCKBOX_RISK_LOW : LOCKBOX_RISK_MEDIUM;
		/* a file created or overwritten in the working directory still changes the
		 * system; only deleting there stays low */
		if (role != KB_R_READ && role != KB_R_DELETE && pf[0] != '/' && pf[0] != '~' &&
		    pf[0] != '$')
			lvl = LOCKBOX_RISK_MEDIUM;
		if (role == KB_R_READ) {
			cat(c, LOCKBOX_RISK_NONE, KB_C_FILE_READ);
			if (!starts(a->v, "/dev/") && !starts(a->v, "/proc/"))
				c->f->file_read = 1;
		} else if (role == KB_R_DELETE) {
			cat(c, lvl, KB_C_FILE_DELETE);
		} else {
			cat(c, lvl, KB_C_FILE_WRITE);
			c->f->file_write = 1;
			if (c->f->nwritten < 16)
				c->f->written[c->f->nwritten++] = a->v;
		}
		const char *d = check_path(c, pf, x, a->span);
		if (d && !cc->describe_hit)
			cc->describe_hit = d;
		if ((role == KB_R_WRITE || role == KB_R_DELETE) && is_dev_disk(a->v)) {
			finding(c, "disk-write", LOCKBOX_RISK_CRITICAL, KB_C_DESTRUCTIVE, a->span,
			    FMT("Writes directly to the disk device %s, destroying its data",
			        shown(c, a->v)));
			sentence(c, 80, FMT("Overwrites the disk %s directly: everything on it is lost.",
			    shown(c, a->v)));
			cc->no_sentence = 1; /* that says it all: no template sentence after it */
		}
		if (role == KB_R_DELETE && (cc->flags & KB_F_RECURSIVE)) {
			const char *norm = lbx_norm_path(c->a, pf);
			if (norm && is_system_top(norm)) {
				finding(c, "rm-system", LOCKBOX_RISK_CRITICAL, KB_C_DESTRUCTIVE, a->span,
				    FMT("Recursively deletes %s, a top-level system directory",
				        shown(c, a->v)));
				sentence(c, 85, FMT("Deletes everything under %s; the system will not "
				    "survive it.", shown(c, a->v)));
				cc->no_sentence = 1;
				attack(c, "T1485");
			}
		}
		if (role != KB_R_READ && role != KB_R_DELETE && lbx_mentions_shell(a->v, a->len) &&
		    !a->stat)
			cc->shell_mentioned = 1;
		return;
	}
	case KB_R_EXEC: {
		lbx_add_effect(c->r, cc->cmd, et, a->v);
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
		check_path(c, pf, KB_X_EXEC, a->span);
		if (cc->spec && (cc->spec->handler == KB_H_SH ||
		    cc->spec->handler == KB_H_INTERPRETER)) {
			/* a script file for this interpreter: its content is not visible */
			sentence(c, 15, FMT("Runs the %s script %s, whose content is not shown here.",
			    cc->prog, shown(c, a->v)));
			return;
		}
		if (a->stat && a->len && a->len < 4096) {
			/* the argument names a program (maybe with arguments): analyze it */
			sin ein = { .exec_by = cc->prog };
			analyze_string(c, a->v, a->len, a->span, 0, &ein, NULL, "runs");
		} else {
			finding(c, "dynamic-exec", LOCKBOX_RISK_MEDIUM, KB_C_OPAQUE, a->span,
			    FMT("%s runs a program computed at run time (%s)", cc->prog,
			        shown(c, a->v)));
		}
		return;
	}
	case KB_R_COMMAND:
		lbx_add_effect(c->r, cc->cmd, "exec", a->v);
		/* a static command string is analyzed below: it carries its own risk */
		cat(c, a->stat ? LOCKBOX_RISK_LOW : LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
		if (a->stat)
			analyze_string(c, a->v, a->len, a->span, 0, NULL, NULL, "runs");
		else
			finding(c, "dynamic-command", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, a->span,
			    FMT("%s runs a command built at run time (%s)", cc->prog, shown(c, a->v)));
		return;
	case KB_R_CODE:
		inline_code(cc, a->v, a->len, a->span);
		if (!a->stat)
			finding(c, "dynamic-code", LOCKBOX_RISK_MEDIUM, KB_C_OPAQUE, a->span,
			    FMT("%s runs code built at run time", cc->prog));
		return;
	case KB_R_HOST:
		lbx_add_effect(c->r, cc->cmd, et, a->v);
		cat(c, LOCKBOX_RISK_LOW, KB_C_NETWORK_CONNECT);
		return;
	case KB_R_URL:
		if (starts(a->v, "file:")) {
			lbx_add_effect(c->r, cc->cmd, "file-read", a->v + 5);
			check_path(c, a->v + 5 + (starts(a->v, "file://") ? 2 : 0), KB_X_READ, a->span);
			return;
		}
		lbx_add_effect(c->r, cc->cmd, et, a->v);
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
		attack(c, "T1105");
		return;
	case KB_R_LISTEN:
		lbx_add_effect(c->r, cc->cmd, et, a->v);
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_LISTEN);
		return;
	case KB_R_MODE:
		if (mode_setuid(a->v)) {
			finding(c, "setuid-bit", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION, a->span,
			    FMT("Sets the setuid/setgid bit (%s): the file will run with its owner's "
			        "privileges", shown(c, a->v)));
			cat(c, LOCKBOX_RISK_HIGH, KB_C_PERMISSION_CHANGE);
			attack(c, "T1548.001");
			sentence(c, 60, FMT("Makes a program run as its owner (setuid, mode %s), a "
			    "classic way to keep root access.", shown(c, a->v)));
		}
		return;
	case KB_R_DEVICE:
		lbx_add_effect(c->r, cc->cmd, et, a->v);
		return;
	case KB_R_USER:
	case KB_R_GROUP:
	case KB_R_SERVICE:
	case KB_R_PACKAGE:
	case KB_R_MODULE:
		lbx_add_effect(c->r, cc->cmd, et, a->v);
		if (role == KB_R_SERVICE) {
			static const char *const sec[] = {
				"auditd", "apparmor", "selinux", "firewalld", "ufw", "iptables", "nftables",
				"rsyslog", "syslog", "syslog-ng", "systemd-journald", "falcon-sensor",
				"osqueryd", "wazuh-agent", "ossec", "crowdstrike", "clamav", "fail2ban",
				"sshguard", "aide", "auditd.service", "rsyslog.service", NULL,
			};
			(void)in;
			for (const char *const *s = sec; *s; s++)
				if (streq(a->v, *s) || (starts(a->v, *s) && a->v[strlen(*s)] == '.'))
					cc->flags |= 1u << 31; /* a security service is named */
		}
		return;
	default:
		return;
	}
}

/* ---- option parsing -------------------------------------------------------------------- */

typedef struct optocc {
	const kb_opt *o;
	const char *arg;     /* the argument value, or NULL */
	int argi;            /* index of the word holding it (-1: attached) */
	int wi;              /* index of the option word */
	size_t alen;
} optocc;

#define MAX_INNER 8

typedef struct pres {
	optocc *occ;          /* arena arrays sized for the command's words */
	int cap_occ;
	int nocc;
	int *ops;
	int cap_ops;
	int nops;
	int inner;            /* wrapper: index where the inner command starts, or -1 */
	int ex_start[MAX_INNER], ex_end[MAX_INNER]; /* find-style -exec word ranges */
	int nex;
	uint32_t flags;
	int operands_role;    /* overridden by an option, or -1 */
	const char *lastarg;
	const char *none_text; /* what a missing {operands} reads as ("its input") */
	int sub_index;        /* word index of the subcommand, or -1 */
} pres;

static int
spec_has_sdlong(const kb_spec *s)
{
	return s && (s->name_kinds & (1u << KB_N_SDLONG));
}

static const kb_opt *
find_opt_in(const kb_spec *s, int kind, const char *w, size_t wl, size_t *used)
{
	if (s == NULL || !(s->name_kinds & (1u << kind)))
		return NULL;
	for (uint16_t i = 0; i < s->nopts; i++) {
		const kb_opt *o = &s->opts[i];
		for (uint16_t j = 0; j < o->nnames; j++) {
			const kb_name *nm = &o->names[j];
			if (nm->kind != kind)
				continue;
			switch (kind) {
			case KB_N_SHORT:
				if (nm->s[1] == w[0]) {
					*used = 1;
					return o;
				}
				break;
			case KB_N_LONG:
			case KB_N_SDLONG:
			case KB_N_WORD:
				if (nm->len == wl && memcmp(nm->s, w, wl) == 0) {
					*used = wl;
					return o;
				}
				break;
			case KB_N_PREFIX:
				if (wl >= nm->len && memcmp(nm->s, w, nm->len) == 0) {
					*used = nm->len;
					return o;
				}
				break;
			default:
				break;
			}
		}
	}
	return NULL;
}

static const kb_opt *
find_opt(const kb_spec *spec, const kb_spec *sub, int kind, const char *w, size_t wl,
    size_t *used)
{
	const kb_opt *o = find_opt_in(sub, kind, w, wl, used);
	return o ? o : find_opt_in(spec, kind, w, wl, used);
}

/* Is every letter of the cluster w (after the dash) a known short option, up to the
 * first one that takes the rest as its argument? (screen -dmS NAME splits; gdb -nx
 * does not) */
static int
all_short(const kb_spec *spec, const kb_spec *sub, const char *w, size_t wl)
{
	for (size_t j = 1; j < wl; j++) {
		size_t used = 0;
		const kb_opt *o = find_opt(spec, sub, KB_N_SHORT, w + j, 1, &used);
		/* only the last letter may take an argument (the next word): -std=c++20 and
		 * -emit-llvm are single-dash long options of their own */
		if (o == NULL || (o->arg != KB_A_NONE && j + 1 < wl))
			return 0;
	}
	return 1;
}

static void
add_occ(pres *p, const kb_opt *o, const char *argv, size_t alen, int argi, int wi)
{
	if (p->nocc >= p->cap_occ)
		return;
	optocc *x = &p->occ[p->nocc++];
	x->o = o;
	x->arg = argv;
	x->alen = alen;
	x->argi = argi;
	x->wi = wi;
	p->flags |= o->flags;
	if (o->operands >= 0)
		p->operands_role = o->operands;
	if (argv)
		p->lastarg = argv;
}

/* Collects the words of a find-style -exec: up to ";" or "+" (or the end). */
static int
take_exec(pres *p, arg *v, size_t n, size_t i)
{
	size_t j = i;
	while (j < n && !(v[j].stat && (streq(v[j].v, ";") ||
	    (streq(v[j].v, "+") && j > i && streq(v[j - 1].v, "{}")))))
		j++;
	if (p->nex < MAX_INNER && j > i) {
		p->ex_start[p->nex] = (int)i;
		p->ex_end[p->nex] = (int)j;
		p->nex++;
	}
	return (int)(j < n ? j : n - 1);
}

/* getopt-like parsing against a spec. `posix` stops at the first operand (wrappers,
 * interpreters: what follows belongs to the inner program). */
static void
parse_opts(actx *c, cmdctx *cc, arg *v, size_t n, pres *p, int posix)
{
	const kb_spec *spec = cc->spec;
	memset(p, 0, sizeof *p);
	/* every word can be one operand, and a cluster like -rfv several options */
	p->cap_ops = (int)n;
	p->cap_occ = (int)(2 * n + 8);
	p->ops = lb_arena_alloc(c->a, (n ? n : 1) * sizeof *p->ops);
	p->occ = lb_arena_alloc(c->a, (size_t)p->cap_occ * sizeof *p->occ);
	if (p->ops == NULL || p->occ == NULL) {
		c->r->oom = 1;
		p->cap_ops = p->cap_occ = 0;
	}
	p->inner = -1;
	p->operands_role = -1;
	p->sub_index = -1;
	int endopts = 0;
	int nops_total = 0;
	for (size_t i = 1; i < n; i++) {
		const char *w = v[i].v;
		size_t wl = v[i].len;
		size_t used = 0;
		const kb_opt *o;
		if (!endopts && v[i].stat && streq(w, "--")) {
			endopts = 1;
			continue;
		}
		if (!endopts && wl >= 2 && w[0] == '-' && v[i].stat) {
			if (w[1] == '-') {
				const char *eq = memchr(w, '=', wl);
				size_t nl = eq ? (size_t)(eq - w) : wl;
				o = find_opt(spec, cc->sub, KB_N_LONG, w, nl, &used);
				if (o == NULL) {
					/* an unambiguous abbreviation (--rec for --recursive) */
					continue;
				}
				if (o->flags & KB_F_EXEC) {
					if (eq)
						continue;
					i = (size_t)take_exec(p, v, n, i + 1);
					add_occ(p, o, NULL, 0, -1, (int)i);
					continue;
				}
				if (o->arg == KB_A_REQUIRED) {
					if (eq)
						add_occ(p, o, eq + 1, wl - nl - 1, -1, (int)i);
					else if (i + 1 < n) {
						add_occ(p, o, v[i + 1].v, v[i + 1].len, (int)i + 1, (int)i);
						i++;
					} else
						add_occ(p, o, NULL, 0, -1, (int)i);
				} else if (o->arg == KB_A_OPTIONAL && eq) {
					add_occ(p, o, eq + 1, wl - nl - 1, -1, (int)i);
				} else {
					add_occ(p, o, NULL, 0, -1, (int)i);
				}
				continue;
			}
			/* -filename=VALUE style names */
			o = find_opt(spec, cc->sub, KB_N_PREFIX, w, wl, &used);
			if (o) {
				add_occ(p, o, w + used, wl - used, -1, (int)i);
				continue;
			}
			/* single-dash long (find -exec, -name) */
			const char *eq = memchr(w, '=', wl);
			size_t nl = eq ? (size_t)(eq - w) : wl;
			o = find_opt(spec, cc->sub, KB_N_SDLONG, w, nl, &used);
			if (o) {
				if (o->flags & KB_F_EXEC) {
					i = (size_t)take_exec(p, v, n, i + 1);
					add_occ(p, o, NULL, 0, -1, (int)i);
					continue;
				}
				if (o->arg == KB_A_REQUIRED) {
					if (eq)
						add_occ(p, o, eq + 1, wl - nl - 1, -1, (int)i);
					else if (i + 1 < n) {
						add_occ(p, o, v[i + 1].v, v[i + 1].len, (int)i + 1, (int)i);
						i++;
					} else
						add_occ(p, o, NULL, 0, -1, (int)i);
				} else {
					add_occ(p, o, eq ? eq + 1 : NULL, eq ? wl - nl - 1 : 0, -1, (int)i);
				}
				continue;
			}
			/* literal words like -1 that a spec names as WORD */
			o = find_opt(spec, cc->sub, KB_N_WORD, w, wl, &used);
			if (o) {
				add_occ(p, o, NULL, 0, -1, (int)i);
				continue;
			}
			/* programs with single-dash long options (gdb -nx, java -jar) do not
			 * cluster: an unknown word is one unknown option */
			if (wl > 2 && (spec_has_sdlong(spec) || spec_has_sdlong(cc->sub)) &&
			    !all_short(spec, cc->sub, w, wl))
				continue;
			/* cluster of short options */
			int known_any = 0;
			for (size_t j = 1; j < wl; j++) {
				o = find_opt(spec, cc->sub, KB_N_SHORT, w + j, 1, &used);
				if (o == NULL) {
					continue;
				}
				known_any = 1;
				if (o->flags & KB_F_EXEC && o->arg != KB_A_NONE) {
					if (j + 1 < wl) {
						/* -eCMD: attached program */
						add_occ(p, o, w + j + 1, wl - j - 1, -1, (int)i);
					} else if (i + 1 < n) {
						add_occ(p, o, v[i + 1].v, v[i + 1].len, (int)i + 1, (int)i);
						i++;
					}
					break;
				}
				if (o->arg == KB_A_REQUIRED) {
					if (j + 1 < wl)
						add_occ(p, o, w + j + 1, wl - j - 1, -1, (int)i);
					else if (i + 1 < n) {
						add_occ(p, o, v[i + 1].v, v[i + 1].len, (int)i + 1, (int)i);
						i++;
					} else
						add_occ(p, o, NULL, 0, -1, (int)i);
					break;
				}
				if (o->arg == KB_A_OPTIONAL) {
					add_occ(p, o, j + 1 < wl ? w + j + 1 : NULL, j + 1 < wl ? wl - j - 1 : 0,
					    -1, (int)i);
					break;
				}
				add_occ(p, o, NULL, 0, -1, (int)i);
			}
			(void)known_any;
			continue;
		}
		/* words that are options by name: if=, +x, u+s */
		if (!endopts && v[i].stat && wl > 0) {
			o = find_opt(spec, cc->sub, KB_N_PREFIX, w, wl, &used);
			if (o) {
				add_occ(p, o, w + used, wl - used, -1, (int)i);
				continue;
			}
			o = find_opt(spec, cc->sub, KB_N_WORD, w, wl, &used);
			if (o) {
				add_occ(p, o, NULL, 0, -1, (int)i);
				continue;
			}
		}
		/* an operand */
		if (nops_total == 0 && spec && spec->nsubs && cc->sub == NULL && v[i].stat) {
			const kb_spec *sub = kb_subcommand(spec, w);
			if (sub) {
				cc->sub = sub;
				p->sub_index = (int)i;
				nops_total++;
				continue;
			}
		}
		int wskip = cc->sub && cc->sub->wrapper_skip >= 0 ? cc->sub->wrapper_skip :
		    spec ? spec->wrapper_skip : -1;
		if (wskip >= 0 && p->nops >= wskip) {
			p->inner = (int)i;
			return;
		}
		if (p->nops < p->cap_ops)
			p->ops[p->nops++] = (int)i;
		nops_total++;
		if (posix && wskip < 0)
			endopts = 1;
	}
}

/* ---- sentences ------------------------------------------------------------------------- */

static void
put_list(buf *b, arg *v, const int *idx, int n)
{
	int shown_n = n > 3 ? 3 : n;
	for (int i = 0; i < shown_n; i++) {
		if (i)
			buf_puts(b, i == n - 1 ? " and " : ", ");
		const char *s = v[idx[i]].v;
		if (strcmp(s, "{}") == 0)
			s = "each file found";
		if (strlen(s) > 60)
			buf_printf(b, "%.57s...", s);
		else
			buf_puts(b, s);
	}
	if (n > 3)
		buf_printf(b, " and %d more", n - 3);
}

/* When a template value is missing and the text before it ends in a preposition
 * ("of ", "into ", "running "), drops that word: the clause reads fine without it.
 * Returns 1 when it did. */
static int
drop_clause(buf *b)
{
	static const char *const preps[] = {
		"of", "on", "in", "into", "to", "from", "for", "at", "with", "under", "running",
		"named", "onto", "inside", "over", "by", "using", "as", "between", "about", NULL,
	};
	size_t e = b->len;
	if (e == 0 || b->data[e - 1] != ' ')
		return 0;
	size_t st = e - 1;
	while (st > 0 && b->data[st - 1] != ' ')
		st--;
	if (st == 0)
		return 0;
	size_t wl = e - 1 - st;
	for (const char *const *p = preps; *p; p++)
		if (strlen(*p) == wl && memcmp(b->data + st, *p, wl) == 0) {
			buf_truncate(b, st - 1);
			return 1;
		}
	return 0;
}

static const char *
fill_template(actx *c, const char *t, arg *v, const pres *p, int of_opt, const char *optarg)
{
	/* {arg} is the argument of the option whose phrase this is (of_opt); in the
	 * program's own sentence, the last option argument */
	const char *argv = of_opt ? optarg : p->lastarg;
	/* no operands: a filter reads its input; otherwise say nothing made up */
	const char *nofiles = p->none_text ? p->none_text : "the given files";
	buf *bp = &c->f->tmp[0];
	buf_reset(bp);
#define b (*bp)
	for (const char *s = t; *s;) {
		if (*s == '{') {
			const char *e = strchr(s, '}');
			if (e) {
				size_t kl = (size_t)(e - s - 1);
				const char *k = s + 1;
				int have = (kl == 3 && !strncmp(k, "arg", 3)) ? argv != NULL :
				    (kl == 5 && !strncmp(k, "first", 5)) ? (p->nops > 0 || p->sub_index >= 0) :
				    (kl == 4 && !strncmp(k, "rest", 4)) ? (p->sub_index >= 0 ? p->nops > 0 :
				    p->nops > 1) : p->nops > 0;
				if (!have && b.len > 0 && b.data[b.len - 1] == '(' && e[1] == ')') {
					/* "(the given files)" says nothing: drop the parenthesis */
					buf_truncate(&b, b.len - 1);
					while (b.len > 0 && b.data[b.len - 1] == ' ')
						buf_truncate(&b, b.len - 1);
					s = e + 2;
					continue;
				}
				if (!have && kl != 3 && !p->none_text && drop_clause(&b)) {
					/* "the partition table of {operands}" with none given: "the
					 * partition table" (no made-up nofiles) */
					s = e + 1;
					continue;
				}
				if (kl == 4 && !strncmp(k, "text", 4)) {
					/* free text (echo's words): one quoted string, as the
					 * program will see it joined, not a list of "files" */
					size_t start = b.len;
					if (p->nops == 0) {
						buf_puts(&b, "an empty line");
						s = e + 1;
						continue;
					}
					buf_puts(&b, "the text ");
					start = b.len;
					buf_putc(&b, '"');
					for (int i = 0; i < p->nops; i++) {
						if (i)
							buf_putc(&b, ' ');
						buf_puts(&b, v[p->ops[i]].v);
					}
					if (b.len - start > 61) {
						buf_truncate(&b, start + 58);
						buf_puts(&b, "...");
					}
					buf_putc(&b, '"');
				} else if (kl == 8 && !strncmp(k, "operands", 8)) {
					if (p->nops)
						put_list(&b, v, p->ops, p->nops);
					else
						buf_puts(&b, nofiles);
				} else if (kl == 5 && !strncmp(k, "first", 5) && p->sub_index >= 0) {
					buf_puts(&b, shown(c, v[p->sub_index].v));
				} else if (kl == 4 && !strncmp(k, "rest", 4) && p->sub_index >= 0) {
					if (p->nops)
						put_list(&b, v, p->ops, p->nops);
					else
						buf_puts(&b, "the given names");
				} else if (kl == 5 && !strncmp(k, "first", 5)) {
					buf_puts(&b, p->nops ? shown(c, v[p->ops[0]].v) : nofiles);
				} else if (kl == 4 && !strncmp(k, "last", 4)) {
					buf_puts(&b, p->nops ? shown(c, v[p->ops[p->nops - 1]].v) :
					    nofiles);
				} else if (kl == 4 && !strncmp(k, "rest", 4)) {
					if (p->nops > 1)
						put_list(&b, v, p->ops + 1, p->nops - 1);
					else
						buf_puts(&b, nofiles);
				} else if (kl == 3 && !strncmp(k, "arg", 3)) {
					buf_puts(&b, argv ? shown(c, argv) : "the given value");
				} else {
					buf_put(&b, s, (size_t)(e - s + 1));
				}
				s = e + 1;
				continue;
			}
		}
		const char *nx = strchr(s, '{');
		size_t l = nx ? (size_t)(nx - s) : strlen(s);
		buf_put(&b, s, l);
		s += l;
	}
	const char *out = dup(c, buf_cstr(&b), b.len);
#undef b
	return out;
}

static const char *
finish_sentence(actx *c, const char *s, const char *extra, const char *descr)
{
	/* "S[ EXTRA][ (DESCR)]." with S's first letter capitalized and its trailing dots
	 * and spaces dropped; concatenated by hand (this runs for every command) */
	size_t n = strlen(s);
	while (n && (s[n - 1] == '.' || s[n - 1] == ' '))
		n--;
	size_t xl = extra && *extra ? strlen(extra) : 0, dl = descr ? strlen(descr) : 0;
	char *p = lb_arena_alloc(c->a, n + xl + dl + 8);
	if (p == NULL) {
		c->r->oom = 1;
		return NULL;
	}
	size_t o = 0;
	char first = s[0];
	if (first >= 'a' && first <= 'z')
		first = (char)(first - 'a' + 'A');
	p[o++] = first ? first : ' ';
	if (n > 1) {
		memcpy(p + o, s + 1, n - 1);
		o += n - 1;
	}
	if (xl) {
		p[o++] = ' ';
		memcpy(p + o, extra, xl);
		o += xl;
	}
	if (descr) {
		p[o++] = ' ';
		p[o++] = '(';
		memcpy(p + o, descr, dl);
		o += dl;
		p[o++] = ')';
	}
	p[o++] = '.';
	p[o] = 0;
	return p;
}

/* ---- redirections ------------------------------------------------------------------------ */

/* Applies a command's redirections. Returns a here-doc/here-string body (for stdin) via
 * *body when one is present. */
static void
do_redirs(actx *c, lbx_cmd *cmd, const lb_redir *r, int shellish, sin *stdin_out, arg *wrote)
{
	if (wrote)
		memset(wrote, 0, sizeof *wrote);
	const char *wdesc = NULL;
	for (; r; r = r->next) {
		lb_span rs = map_span(c, r->span);
		if (r->target)
			walk_word(c, r->target);
		if (r->op == LB_R_HEREDOC || r->op == LB_R_HEREDOC_TAB) {
			if (r->body_word)
				walk_word(c, r->body_word);
			if (stdin_out && (r->fd == -1 || r->fd == 0)) {
				stdin_out->text = r->body;
				stdin_out->tlen = r->body_len;
				stdin_out->tspan = map_span(c, r->body_span);
				stdin_out->texact = c->exact && r->body_quoted;
				stdin_out->dynamic = r->body_word && (r->body_word->flags &
				    (LB_WF_CMDSUB | LB_WF_EXPAND));
			}
			continue;
		}
		if (r->op == LB_R_HERESTRING) {
			if (stdin_out && r->target) {
				arg a;
				make_arg(c, r->target, &a);
				stdin_out->text = a.v;
				stdin_out->tlen = a.len;
				stdin_out->tspan = a.span;
				stdin_out->texact = 0;
				stdin_out->dynamic = !a.stat;
			}
			continue;
		}
		if (r->target == NULL)
			continue;
		arg a;
		make_arg(c, r->target, &a);
		int is_dup = r->op == LB_R_DUP_IN || r->op == LB_R_DUP_OUT;
		if (is_dup) {
			int numeric = a.len > 0;
			for (size_t i = 0; i < a.len; i++)
				if ((a.v[i] < '0' || a.v[i] > '9') && !(i == a.len - 1 && a.v[i] == '-'))
					numeric = 0;
			if (numeric || streq(a.v, "-")) {
				c->f->devtcp_dup = 1;
				continue;
			}
		}
		if (starts(a.v, "/dev/tcp/") || starts(a.v, "/dev/udp/")) {
			const char *hp = a.v + 9;
			const char *sl = strchr(hp, '/');
			const char *target = sl ? FMT("%.*s:%s", (int)(sl - hp), hp, sl + 1) : hp;
			lbx_add_effect(c->r, cmd, "network-connect", target);
			cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_CONNECT);
			c->f->devtcp = 1;
			c->f->devtcp_span = rs;
			c->f->devtcp_target = target;
			int out = r->op != LB_R_IN && r->op != LB_R_DUP_IN;
			int in = r->op == LB_R_IN || r->op == LB_R_INOUT || r->op == LB_R_DUP_IN;
			if (r->op == LB_R_DUP_OUT || r->op == LB_R_OUT_ERR || r->op == LB_R_APPEND_ERR)
				c->f->devtcp_dup = 1;
			if (out)
				c->f->devtcp_out = 1;
			if (in)
				c->f->devtcp_in = 1;
			finding(c, "devtcp-redirect", shellish ? LOCKBOX_RISK_CRITICAL :
			    LOCKBOX_RISK_HIGH, shellish ? KB_C_REVERSE_SHELL : KB_C_NETWORK_CONNECT, rs,
			    FMT("Connects to %s through bash's /dev/%s", target, a.v[5] == 't' ?
			        "tcp" : "udp"));
			if (out && !shellish) {
				cat(c, LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD);
				attack(c, "T1048");
				sentence(c, 70, FMT("Sends data to %s over a raw network connection.",
				    target));
			}
			if (in && !out && !shellish) {
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
				sentence(c, 40, FMT("Reads data from %s over a raw network connection.",
				    target));
			}
			continue;
		}
		int role;
		switch (r->op) {
		case LB_R_IN:
		case LB_R_DUP_IN:
			role = KB_R_READ;
			break;
		case LB_R_APPEND:
		case LB_R_APPEND_ERR:
			role = KB_R_APPEND;
			break;
		case LB_R_INOUT:
			role = KB_R_WRITE;
			break;
		default:
			role = KB_R_WRITE;
			break;
		}
		if (streq(a.v, "/dev/null") || streq(a.v, "/dev/stdout") || streq(a.v, "/dev/stderr") ||
		    streq(a.v, "/dev/tty") || streq(a.v, "/dev/stdin") || starts(a.v, "/dev/fd/") ||
		    starts(a.v, "/dev/pts"))
			continue;
		cmdctx rc = { .c = c, .cmd = cmd, .prog = "redirect" };
		apply_role(&rc, role, &a, NULL);
		if (role != KB_R_READ && wrote && wrote->v == NULL)
			*wrote = a;
		if (role == KB_R_READ && stdin_out && (r->fd == -1 || r->fd == 0) &&
		    r->op == LB_R_IN)
			stdin_out->file = a.v;
		if (role != KB_R_READ && rc.describe_hit && !(wrote && wrote->v == a.v))
			sentence(c, 30, FMT("Writes to %s (%s).", shown(c, a.v), rc.describe_hit));
		if (wrote && wrote->v == a.v)
			wdesc = rc.describe_hit;
		if (role == KB_R_WRITE && streq(a.v, "/dev/null") == 0 && rc.describe_hit == NULL &&
		    (starts(a.v, "/var/log/") || streq(a.v, "/var/log")))
			finding(c, "log-truncate", LOCKBOX_RISK_HIGH, KB_C_LOG_TAMPER, rs,
			    FMT("Truncates the log file %s", shown(c, a.v)));
	}
	c->f->wrote_desc = wdesc;
}

/* ---- nested strings ------------------------------------------------------------------- */

/* Keys typed into full-screen programs that open a shell or write a file. */
static const struct {
	const char *prog;
	const char *key;   /* the line typed */
	int prefix;        /* key is a prefix of the line */
	int write;         /* the key saves to a file instead of starting a shell */
} tui_keys[] = {
	{ "ncdu", "b", 0, 0 }, { "ranger", "S", 0, 0 }, { "ranger", "!", 1, 0 },
	{ "nnn", "!", 0, 0 }, { "vifm", ":!", 1, 0 }, { "vifm", ":sh", 0, 0 },
	{ "less", "!", 1, 0 }, { "less", "s", 1, 1 }, { "more", "!", 1, 0 },
	{ "man", "!", 1, 0 }, { "pic", "sh ", 1, 0 }, { "mc", "!", 1, 0 },
	{ "htop", "!", 1, 0 }, { "top", "!", 1, 0 }, { "lynx", "!", 0, 0 },
	{ "mutt", "!", 1, 0 }, { "neomutt", "!", 1, 0 }, { "ftp", "!", 1, 0 },
	{ "sftp", "!", 1, 0 }, { "mysql", "\\!", 1, 0 }, { "mysql", "system ", 1, 0 },
	{ "psql", "\\!", 1, 0 }, { "sqlite3", ".shell", 1, 0 }, { "sqlite3", ".system", 1, 0 },
	{ "redis-cli", "config set dir", 1, 1 }, { "redis-cli", "CONFIG SET dir", 1, 1 },
	{ "jshell", "/save ", 1, 1 }, { "sqlite3", ".output ", 1, 1 }, { "mysql", "\\T ", 1, 1 },
};

static int
is_tui(const char *p)
{
	for (size_t i = 0; i < sizeof tui_keys / sizeof tui_keys[0]; i++)
		if (streq(p, tui_keys[i].prog))
			return 1;
	return 0;
}

static void
tui_scan(actx *c, const char *prog, const char *s, size_t n, lb_span span)
{
	size_t ls = 0;
	while (ls < n) {
		const char *nl = memchr(s + ls, '\n', n - ls);
		size_t le = nl ? (size_t)(nl - s) : n;
		size_t ll = le - ls;
		const char *line = s + ls;
		for (size_t i = 0; i < sizeof tui_keys / sizeof tui_keys[0]; i++) {
			const char *k = tui_keys[i].key;
			size_t kl = strlen(k);
			if (!streq(prog, tui_keys[i].prog))
				continue;
			if (!(tui_keys[i].prefix ? ll >= kl && !memcmp(line, k, kl) :
			    ll == kl && !memcmp(line, k, kl)))
				continue;
			if (tui_keys[i].write) {
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_FILE_WRITE);
				sentence(c, 30, FMT("Saves data to a file from inside %s.", prog));
			} else {
				finding(c, "tui-shell-escape", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, span,
				    FMT("A key typed into %s opens a shell", prog));
				sentence(c, 55, FMT("Opens a shell from inside %s; what is typed there is "
				    "not shown for review.", prog));
				c->f->shell_spawn = 1;
				c->f->shell_span = span;
			}
			break;
		}
		ls = le + 1;
	}
}

/* Commands of file transfer clients (ftp, sftp, smbclient -c): put sends, get fetches. */
static void
xfer_scan(actx *c, const char *prog, const char *s, size_t n, lb_span span)
{
	int up = 0, down = 0;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && s[i - 1] != '\n' && s[i - 1] != ';' && s[i - 1] != ' ')
			continue;
		if (!strncmp(s + i, "put ", 4) || !strncmp(s + i, "mput ", 5) ||
		    !strncmp(s + i, "send ", 5) || !strncmp(s + i, "append ", 7))
			up = 1;
		if (!strncmp(s + i, "get ", 4) || !strncmp(s + i, "mget ", 5) ||
		    !strncmp(s + i, "recv ", 5) || !strncmp(s + i, "reget ", 6))
			down = 1;
	}
	if (up) {
		finding(c, "xfer-upload", LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD, span,
		    FMT("%s sends files to the remote side (put)", prog));
		attack(c, "T1048");
		sentence(c, 45, FMT("Sends files to another machine with %s.", prog));
	}
	if (down) {
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
		sentence(c, 30, FMT("Fetches files from another machine with %s.", prog));
	}
}

/* Text that does not parse still says something: best-effort signs of what it does. */
static void
unparsed_scan(actx *c, const char *s, size_t n, lb_span span)
{
	if (memmem(s, n, "/dev/tcp/", 9) || memmem(s, n, "/dev/udp/", 9)) {
		c->f->devtcp = 1;
		c->f->devtcp_span = span;
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_CONNECT);
		if (memmem(s, n, "$(<", 3) || memmem(s, n, "< /dev/tcp", 10) ||
		    memmem(s, n, "</dev/tcp", 9))
			cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
	}
	if (lbx_mentions_shell(s, n)) {
		finding(c, "unparsed-shell", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, span,
		    "Text that does not parse mentions starting a shell");
	}
}

static void
analyze_string(actx *c, const char *s, size_t n, lb_span span, int exact, const sin *in,
    sout *out, const char *why)
{
	(void)why;
	if (c->nest >= LBX_MAX_NEST) {
		finding(c, "depth-exceeded", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, span,
		    "Commands nest too deeply to analyze");
		return;
	}
	lb_node *root = NULL;
	lb_parse_error perr = { 0 };
	int rc = lb_parse(c->a, s, n, &root, &perr);
	if (rc == ESC_EPARSE && perr.msg && (!strncmp(perr.msg, "unterminated '", 14) ||
	    !strncmp(perr.msg, "unterminated \"", 14))) {
		/* close the quote at the end and look again (bash would run what is there) */
		char *rp = lb_arena_alloc(c->a, n + 2);
		lb_node *r2 = NULL;
		lb_parse_error e2 = { 0 };
		if (rp) {
			memcpy(rp, s, n);
			rp[n] = perr.msg[13];
			if (lb_parse(c->a, rp, n + 1, &r2, &e2) == 0 && r2) {
				finding(c, "nested-parse-error", LOCKBOX_RISK_MEDIUM, KB_C_OPAQUE, span,
				    "The nested command string has an unclosed quote");
				s = rp;
				n = n + 1;
				root = r2;
				rc = 0;
				exact = 0;
			}
		}
	}
	actx nc = *c;
	nc.src = s;
	nc.len = n;
	nc.depth = c->depth + 1;
	nc.nest = c->nest + 1;
	if (exact && c->exact) {
		nc.exact = 1;
		nc.base = span.start;
	} else {
		nc.exact = 0;
		nc.outer = span;
	}
	if (rc == ESC_ENOMEM || rc == ESC_ETOOBIG) {
		c->r->oom = rc == ESC_ENOMEM;
		return;
	}
	if (rc != 0) {
		lb_span es = map_span(&nc, perr.span);
		if (perr.depth_exceeded || rc == ESC_EDEPTH)
			finding(c, "depth-exceeded", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, es,
			    "The nested command nests too deeply to analyze");
		else
			finding(c, "nested-parse-error", LOCKBOX_RISK_MEDIUM, KB_C_OPAQUE, es,
			    FMT("The nested command string does not parse: %s",
			        perr.msg ? perr.msg : "syntax error"));
		unparsed_scan(c, s, n, span);
	}
	if (root)
		walk(&nc, root, in, out);
}

/* ---- walking the tree ---------------------------------------------------------------- */

static void
walk_parts(actx *c, const lb_part *p)
{
	for (; p; p = p->next) {
		switch (p->kind) {
		case LB_P_DQUOTE:
		case LB_P_LOCALE:
			walk_parts(c, p->parts);
			break;
		case LB_P_PARAM:
			if (p->word)
				walk_word(c, p->word);
			break;
		case LB_P_CMDSUB:
		case LB_P_BACKTICK:
		case LB_P_PROCSUB_IN:
		case LB_P_PROCSUB_OUT:
		case LB_P_ARITH:
			if (p->sub) {
				sout so = { 0 };
				c->depth++;
				if (c->depth < LBX_MAX_WALK)
					walk(c, p->sub, NULL, &so);
				c->depth--;
			}
			break;
		case LB_P_BRACE:
			for (size_t i = 0; i < p->nalts; i++)
				walk_word(c, p->alts[i]);
			break;
		default:
			break;
		}
	}
}

static void
walk_word(actx *c, const lb_word *w)
{
	if (w && (w->flags & (LB_WF_CMDSUB | LB_WF_EXPAND | LB_WF_ARITH | LB_WF_BRACE |
	    LB_WF_QUOTED)))
		walk_parts(c, w->parts);
}

/* Does the subtree (a substitution body) fetch from the network? */
static int
sub_fetches(actx *c, const lb_node *n, int depth)
{
	if (n == NULL || depth > 8)
		return 0;
	if (n->kind == LB_N_SIMPLE && n->words) {
		size_t l = 0;
		const char *v = lb_word_static(c->a, n->words, &l);
		if (v) {
			const char *b = base_name(v);
			static const char *const fetchers[] = {
				"curl", "wget", "fetch", "nc", "ncat", "netcat", "lwp-download",
				"lwp-request", "aria2c", "http", "https", "xh", "GET", "ftp", "tftp", NULL,
			};
			for (const char *const *f = fetchers; *f; f++)
				if (streq(b, *f))
					return 1;
			/* sudo curl, busybox wget: look at the next word too */
			if (n->words->next && (streq(b, "sudo") || streq(b, "busybox") ||
			    streq(b, "env") || streq(b, "command"))) {
				const char *v2 = lb_word_static(c->a, n->words->next, &l);
				if (v2)
					for (const char *const *f = fetchers; *f; f++)
						if (streq(base_name(v2), *f))
							return 1;
			}
		}
	}
	for (size_t i = 0; i < n->nkids; i++)
		if (sub_fetches(c, n->kids[i], depth + 1))
			return 1;
	return 0;
}

/* Does the word contain a substitution whose body fetches from the network? */
static int
word_fetches(actx *c, const lb_word *w)
{
	if (w == NULL)
		return 0;
	for (const lb_part *p = w->parts; p; p = p->next) {
		if ((p->kind == LB_P_CMDSUB || p->kind == LB_P_BACKTICK ||
		    p->kind == LB_P_PROCSUB_IN) && sub_fetches(c, p->sub, 0))
			return 1;
		if (p->kind == LB_P_DQUOTE)
			for (const lb_part *q = p->parts; q; q = q->next)
				if ((q->kind == LB_P_CMDSUB || q->kind == LB_P_BACKTICK) &&
				    sub_fetches(c, q->sub, 0))
					return 1;
	}
	return 0;
}

static void
download_exec(actx *c, lb_span span, const char *src, const char *how)
{
	finding(c, "download-exec", LOCKBOX_RISK_CRITICAL, KB_C_CODE_EXEC, span,
	    FMT("Runs code downloaded from %s %s without any chance to review it",
	        src ? shown(c, src) : "the network", how));
	cat(c, LOCKBOX_RISK_CRITICAL, KB_C_NETWORK_DOWNLOAD);
	cat(c, LOCKBOX_RISK_CRITICAL, KB_C_REMOTE_EXEC);
	attack(c, "T1105");
	attack(c, "T1059.004");
	c->r->opaque = 1;
	sentence(c, 95, FMT("Downloads a script from %s and runs it immediately: whatever "
	    "the server sends is executed, and it cannot be reviewed here.",
	    src ? shown(c, src) : "the network"));
}

static void
walk_simple(actx *c, const lb_node *n, const sin *in, sout *out)
{
	if (++c->f->nodes > LBX_MAX_NODES) {
		if (c->f->nodes == LBX_MAX_NODES + 1)
			finding(c, "too-many-commands", LOCKBOX_RISK_MEDIUM, KB_C_OPAQUE,
			    map_span(c, n->span), "The record has too many commands to analyze all");
		return;
	}
	/* words first: substitutions inside them run before the command */
	size_t nw = 0;
	for (const lb_word *w = n->words; w; w = w->next)
		nw++;
	arg *v = lb_arena_alloc(c->a, (nw ? nw : 1) * sizeof *v);
	if (v == NULL) {
		c->r->oom = 1;
		return;
	}
	size_t nv = 0;
	for (const lb_word *w = n->words; w; w = w->next) {
		walk_word(c, w);
		make_arg(c, w, &v[nv++]);
	}
	for (const lb_assign *as = n->assigns; as; as = as->next) {
		if (as->value)
			walk_word(c, as->value);
		for (const lb_word *w = as->array; w; w = w->next)
			walk_word(c, w);
	}
	/* assignments on their own or before a command */
	sin my_in = in ? *in : (sin){ 0 };
	for (const lb_assign *as = n->assigns; as; as = as->next) {
		arg a = { 0 };
		if (as->value)
			make_arg(c, as->value, &a);
		else
			a.v = "", a.stat = 1, a.span = map_span(c, as->span);
		lb_span sp = map_span(c, as->span);
		const char *nm = as->name ? as->name : "";
		if (streq(nm, "LD_PRELOAD") || streq(nm, "LD_AUDIT")) {
			finding(c, "ld-preload", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, sp,
			    FMT("%s makes every program load %s first", nm, shown(c, a.v)));
			cat(c, LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION);
			attack(c, "T1574.006");
			sentence(c, 60, FMT("Forces programs to load the library %s (%s), which runs "
			    "its code inside them.", shown(c, a.v), nm));
		} else if (streq(nm, "LD_LIBRARY_PATH")) {
			finding(c, "ld-library-path", LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC, sp,
			    FMT("Libraries are searched first in %s", shown(c, a.v)));
		} else if (streq(nm, "HISTFILE") || streq(nm, "HISTSIZE") ||
		    streq(nm, "HISTFILESIZE") || streq(nm, "HISTCONTROL") ||
		    streq(nm, "HISTIGNORE")) {
			if (streq(nm, "HISTFILE") ? (a.len == 0 || streq(a.v, "/dev/null")) :
			    streq(nm, "HISTCONTROL") || streq(nm, "HISTIGNORE") ? 1 :
			    streq(a.v, "0") || a.len == 0) {
				finding(c, "history-off", LOCKBOX_RISK_HIGH, KB_C_LOG_TAMPER, sp,
				    FMT("%s=%s stops the shell history from recording commands", nm,
				        shown(c, a.v)));
				attack(c, "T1070.003");
				sentence(c, 60, "Turns off the shell's command history, hiding what is done "
				    "next.");
			}
		} else if (streq(nm, "PATH")) {
			if (a.len && (starts(a.v, "/tmp") || starts(a.v, ".") || strstr(a.v, ":.") ||
			    strstr(a.v, "/tmp") || starts(a.v, "/dev/shm") || strstr(a.v, "temp") ||
			    strstr(a.v, "/path/to")))
				finding(c, "path-hijack", LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC, sp,
				    FMT("PATH now looks for programs in %s, where anyone may place one",
				        shown(c, a.v)));
		} else if (streq(nm, "PROMPT_COMMAND") || streq(nm, "BASH_ENV") || streq(nm, "ENV") ||
		    strstr(nm, "PAGER") || strstr(nm, "EDITOR") || streq(nm, "VISUAL") ||
		    strstr(nm, "_COMMAND") || streq(nm, "GIT_SSH") || streq(nm, "LESSOPEN") ||
		    streq(nm, "LESSCLOSE") || streq(nm, "BROWSER") || streq(nm, "SHELL") ||
		    streq(nm, "TERMINAL") || strstr(nm, "_PROGRAM")) {
			if (a.stat && a.len) {
				const char *cmdtext = a.v;
				if ((streq(nm, "LESSOPEN") || streq(nm, "LESSCLOSE")) && cmdtext[0] == '|')
					cmdtext++;
				cmdctx tmp = { .c = c, .prog = nm };
				(void)tmp;
				lbx_add_risk(c->r, LOCKBOX_RISK_LOW, KB_CAT(KB_C_CODE_EXEC), NULL);
				analyze_string(c, cmdtext, strlen(cmdtext), a.span, 0, NULL, NULL, nm);
				if (streq(nm, "BASH_ENV") || streq(nm, "ENV"))
					cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
			}
		} else if (lbx_mentions_shell(a.v, a.len)) {
			finding(c, "env-shell", nv ? LOCKBOX_RISK_HIGH : LOCKBOX_RISK_MEDIUM,
			    KB_C_SHELL_ESCAPE, sp, FMT("The variable %s given to the program starts a "
			        "shell", nm));
		}
	}
	/* the command itself */
	if (nv == 0) {
		/* only assignments and/or redirections: `> file` truncates, `< file` reads */
		lbx_cmd *cmd = NULL;
		if (n->redirs) {
			cmd = lbx_add_cmd(c->r, "", map_span(c, n->span));
			if (cmd)
				cmd->argv = NULL, cmd->argc = 0;
			do_redirs(c, cmd, n->redirs, 0, NULL, NULL);
		}
		return;
	}
	analyze_argv(c, v, nv, n, &my_in, out);
}

/* Applies redirections of a simple command and returns the stdin they set. */
static void
walk_list(actx *c, const lb_node *n, const sin *in, sout *out)
{
	for (size_t i = 0; i < n->nkids; i++) {
		sout so = { 0 };
		walk(c, n->kids[i], n->nkids == 1 ? in : NULL, &so);
		if (so.tui && i + 1 < n->nkids) {
			uint32_t s0 = n->kids[i + 1]->span.start;
			uint32_t e0 = n->kind == LB_N_SCRIPT ? (uint32_t)c->len :
			    n->kids[n->nkids - 1]->span.end;
			if (e0 > s0 && e0 <= c->len) {
				lb_span sp = { s0, e0 };
				tui_scan(c, so.tui, c->src + s0, e0 - s0, map_span(c, sp));
			}
		}
		if (so.xfer && i + 1 < n->nkids) {
			uint32_t s0 = n->kids[i + 1]->span.start;
			uint32_t e0 = n->kind == LB_N_SCRIPT ? (uint32_t)c->len :
			    n->kids[n->nkids - 1]->span.end;
			if (e0 > s0 && e0 <= c->len) {
				lb_span sp = { s0, e0 };
				xfer_scan(c, so.xfer, c->src + s0, e0 - s0, map_span(c, sp));
			}
		}
		if (so.repl && (i + 1 < n->nkids || (n->kind == LB_N_SCRIPT &&
		    n->kids[i]->span.end < c->len))) {
			/* pasted lines after an interactive interpreter are typed into it */
			const lb_node *last = n->kids[n->nkids - 1];
			uint32_t s0 = i + 1 < n->nkids ? n->kids[i + 1]->span.start : n->kids[i]->span.end;
			uint32_t e0 = last->span.end;
			if (n->kind == LB_N_SCRIPT && c->len > e0)
				e0 = (uint32_t)c->len; /* the rest may not even parse as shell */
			if (e0 > s0 && e0 <= c->len) {
				cmdctx rc = { .c = c, .prog = so.repl };
				lb_span sp = { s0, e0 };
				inline_code(&rc, c->src + s0, e0 - s0, map_span(c, sp));
			}
		}
		if (out) {
			out->shell |= so.shell;
			out->dyn |= so.dyn;
			out->code_stdin |= so.code_stdin;
			if (i + 1 == n->nkids) {
				out->repl = so.repl;
				out->xfer = so.xfer;
				out->tui = so.tui;
			}
			if (so.net)
				out->net = so.net, out->net_src = so.net_src;
			if (so.text) {
				out->text = so.text;
				out->tlen = so.tlen;
				out->tspan = so.tspan;
				out->texact = so.texact;
			}
		}
	}
}

static void
walk_pipeline(actx *c, const lb_node *n, const sin *in, sout *out)
{
	sout prev = { 0 };
	int have_prev = 0;
	int any_net = 0, any_net_listen = 0, any_code_stdin = 0, any_shell = 0;
	const char *net_src = NULL;
	lb_span sp = map_span(c, n->span);
	for (size_t i = 0; i < n->nkids; i++) {
		sin si = { 0 };
		if (i == 0 && in)
			si = *in;
		if (have_prev) {
			si.piped = 1;
			si.net = prev.net;
			si.net_src = prev.net_src;
			si.net_listen = prev.net_listen;
			si.text = prev.text;
			si.tlen = prev.tlen;
			si.tspan = prev.tspan;
			si.texact = prev.texact;
			si.dynamic = prev.dyn || (!prev.text && !prev.net);
			si.obf = prev.obf;
			/* once data came from the network, everything downstream carries it */
			if (!prev.net && any_net) {
				si.net = any_net;
				si.net_src = net_src;
			}
		}
		sout so = { 0 };
		walk(c, n->kids[i], &si, &so);
		if (so.net) {
			any_net = any_net ? any_net : so.net;
			if (so.net == 2)
				any_net = 2;
			net_src = so.net_src;
		}
		any_net_listen |= so.net_listen;
		any_code_stdin |= so.code_stdin;
		any_shell |= so.shell;
		prev = so;
		have_prev = 1;
	}
	/* a raw network connection and a shell in one pipeline: nc host port | sh | nc ... */
	if (any_net == 2 && (any_code_stdin || any_shell) && !c->f->rshell_reported) {
		int bind = any_net_listen;
		c->f->rshell_reported = 1;
		finding(c, bind ? "pipe-bind-shell" : "pipe-reverse-shell", LOCKBOX_RISK_CRITICAL,
		    bind ? KB_C_BIND_SHELL : KB_C_REVERSE_SHELL, sp,
		    bind ? "A shell is wired to a listening network socket" :
		           "A shell is wired to a network connection");
		attack(c, "T1059.004");
		sentence(c, 95, bind ? "Opens a network port and gives anyone who connects a shell "
		    "on this machine (a bind shell)." : "Connects out over the network and gives "
		    "the other side a shell on this machine (a reverse shell).");
	}
	if (out) {
		*out = prev;
		out->shell |= any_shell;
	}
}

static void
walk(actx *c, const lb_node *n, const sin *in, sout *out)
{
	if (n == NULL)
		return;
	if (c->depth > LBX_MAX_WALK) {
		finding(c, "depth-exceeded", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, map_span(c, n->span),
		    "Commands nest too deeply to analyze");
		return;
	}
	c->depth++;
	sin rin = in ? *in : (sin){ 0 };
	/* redirections on compound commands */
	if (n->kind != LB_N_SIMPLE && n->redirs) {
		lbx_cmd *cmd = lbx_add_cmd(c->r, lb_node_kind_name(n->kind), map_span(c, n->span));
		do_redirs(c, cmd, n->redirs, 0, &rin, NULL);
	}
	switch (n->kind) {
	case LB_N_SCRIPT:
	case LB_N_GROUP:
	case LB_N_SUBSHELL:
		walk_list(c, n, &rin, out);
		break;
	case LB_N_ANDOR:
		for (size_t i = 0; i < n->nkids; i++)
			walk(c, n->kids[i], i == 0 ? &rin : NULL, out);
		break;
	case LB_N_PIPELINE:
		if (n->nkids == 1)
			walk(c, n->kids[0], &rin, out);
		else
			walk_pipeline(c, n, &rin, out);
		break;
	case LB_N_SIMPLE:
		walk_simple(c, n, &rin, out);
		break;
	case LB_N_FUNCTION:
		/* the body runs when called; analyze it as if it runs */
		if (n->name && n->nkids && n->kids[0]) {
			/* fork bomb: a function that calls itself twice through a pipe */
			lb_span sp = map_span(c, n->span);
			size_t nl = strlen(n->name);
			const char *body = c->src + n->kids[0]->span.start;
			size_t blen = n->kids[0]->span.end > n->kids[0]->span.start ?
			    n->kids[0]->span.end - n->kids[0]->span.start : 0;
			if (n->kids[0]->span.end <= c->len && nl) {
				int calls = 0;
				for (size_t i = 0; i + nl <= blen; i++)
					if (!memcmp(body + i, n->name, nl))
						calls++;
				if (calls >= 2 && memchr(body, '|', blen) && memchr(body, '&', blen)) {
					finding(c, "fork-bomb", LOCKBOX_RISK_CRITICAL, KB_C_DESTRUCTIVE, sp,
					    "A function that starts copies of itself without end (fork bomb)");
					sentence(c, 90, "Starts copies of itself without end (a fork bomb) "
					    "until the machine stops responding.");
					attack(c, "T1499");
				}
			}
		}
		for (size_t i = 0; i < n->nkids; i++)
			walk(c, n->kids[i], NULL, NULL);
		break;
	case LB_N_FOR:
	case LB_N_SELECT:
	case LB_N_CASE:
	case LB_N_COND:
		for (const lb_word *w = n->words; w; w = w->next)
			walk_word(c, w);
		for (size_t i = 0; i < n->nkids; i++)
			walk(c, n->kids[i], NULL, out);
		break;
	case LB_N_WHILE:
	case LB_N_UNTIL:
		for (size_t i = 0; i < n->nkids; i++)
			walk(c, n->kids[i], i == 0 ? &rin : NULL, out);
		break;
	default:
		for (const lb_word *w = n->words; w; w = w->next)
			walk_word(c, w);
		for (size_t i = 0; i < n->nkids; i++)
			walk(c, n->kids[i], &rin, out);
		break;
	}
	c->depth--;
}

/* ---- commands ---------------------------------------------------------------------------- */

static const kb_spec *
lookup_prog(actx *c, const char *prog)
{
	size_t n = strlen(prog);
	const kb_spec *s = kb_lookup(c->k, prog, n);
	if (s)
		return s;
	/* python3.11, pip3, perl5.36: strip a trailing version */
	size_t m = n;
	while (m > 1 && ((prog[m - 1] >= '0' && prog[m - 1] <= '9') || prog[m - 1] == '.' ||
	    prog[m - 1] == '-'))
		m--;
	if (m < n && m > 0)
		s = kb_lookup(c->k, prog, m);
	return s;
}

/* Exact names, grouped by length so a name is compared with few candidates (this runs
 * for most commands). */
static int
interp_exact(const char *p, size_t n)
{
	switch (n) {
	case 1:
		return !memcmp(p, "R", 1);
	case 3:
		return !memcmp(p, "php", 3) ||
		    !memcmp(p, "lua", 3) ||
		    !memcmp(p, "irb", 3) ||
		    !memcmp(p, "jjs", 3) ||
		    !memcmp(p, "bun", 3) ||
		    !memcmp(p, "awk", 3) ||
		    !memcmp(p, "erl", 3) ||
		    !memcmp(p, "csi", 3);
	case 4:
		return !memcmp(p, "perl", 4) ||
		    !memcmp(p, "ruby", 4) ||
		    !memcmp(p, "node", 4) ||
		    !memcmp(p, "wish", 4) ||
		    !memcmp(p, "pwsh", 4) ||
		    !memcmp(p, "deno", 4) ||
		    !memcmp(p, "gawk", 4) ||
		    !memcmp(p, "mawk", 4) ||
		    !memcmp(p, "nawk", 4) ||
		    !memcmp(p, "sbcl", 4) ||
		    !memcmp(p, "ghci", 4);
	case 5:
		return !memcmp(p, "tclsh", 5) ||
		    !memcmp(p, "julia", 5) ||
		    !memcmp(p, "guile", 5) ||
		    !memcmp(p, "scala", 5) ||
		    !memcmp(p, "crash", 5) ||
		    !memcmp(p, "clisp", 5);
	case 6:
		return !memcmp(p, "python", 6) ||
		    !memcmp(p, "nodejs", 6) ||
		    !memcmp(p, "luajit", 6) ||
		    !memcmp(p, "expect", 6) ||
		    !memcmp(p, "racket", 6) ||
		    !memcmp(p, "elixir", 6) ||
		    !memcmp(p, "groovy", 6) ||
		    !memcmp(p, "jshell", 6) ||
		    !memcmp(p, "octave", 6);
	case 7:
		return !memcmp(p, "python2", 7) ||
		    !memcmp(p, "python3", 7) ||
		    !memcmp(p, "Rscript", 7) ||
		    !memcmp(p, "busybox", 7);
	case 9:
		return !memcmp(p, "osascript", 9) ||
		    !memcmp(p, "node-repl", 9);
	case 10:
		return !memcmp(p, "jrunscript", 10) ||
		    !memcmp(p, "powershell", 10) ||
		    !memcmp(p, "octave-cli", 10);
	default:
		return 0;
	}
}

static int
is_interp_name(const char *p)
{
	size_t n = strlen(p);
	if (interp_exact(p, n))
		return 1;
	/* versioned names: python3.11, perl5.36, php8.2, lua5.4 */
	static const char *const fam[] = { "python", "perl", "ruby", "php", "lua", NULL };
	if (n < 4 || !(p[0] == 'p' || p[0] == 'r' || p[0] == 'l'))
		return 0;
	for (const char *const *f = fam; *f; f++)
		if (starts(p, *f)) {
			const char *r = p + strlen(*f);
			return *r && strspn(r, "0123456789.") == strlen(r);
		}
	return 0;
}

/* `sh`, `bash -c`, script files, stdin. */
static void
h_shell(cmdctx *cc, arg *v, size_t n, const sin *in, sout *out)
{
	actx *c = cc->c;
	int interactive = 0, privileged = 0, cmd_i = -1, stdin_mode = 0, script_i = -1;
	for (size_t i = 1; i < n; i++) {
		const char *w = v[i].v;
		if (v[i].stat && w[0] == '-' && w[1] != '-' && w[1] &&
		    strspn(w + 1, "abcefhiklmnoprstuvxBCDEHOPT") == strlen(w + 1)) {
			for (size_t j = 1; w[j]; j++) {
				if (w[j] == 'c')
					cmd_i = -2;
				else if (w[j] == 'i')
					interactive = 1;
				else if (w[j] == 'p')
					privileged = 1;
				else if (w[j] == 's')
					stdin_mode = 1;
				else if (w[j] == 'o' || w[j] == 'O') {
					i++;
					break;
				}
			}
			continue;
		}
		if (v[i].stat && w[0] == '+' && w[1]) {
			if (w[1] == 'o' || w[1] == 'O')
				i++;
			continue;
		}
		if (v[i].stat && starts(w, "--")) {
			if (streq(w, "--")) {
				if (cmd_i == -2 && i + 1 < n)
					cmd_i = (int)i + 1;
				else if (i + 1 < n)
					script_i = (int)i + 1;
				break;
			}
			if (streq(w, "--login") || streq(w, "--noprofile") || streq(w, "--norc"))
				continue;
			if (streq(w, "--rcfile") || streq(w, "--init-file")) {
				if (i + 1 < n) {
					cmdctx t = *cc;
					apply_role(&t, KB_R_READ, &v[i + 1], NULL);
					cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
				}
				i++;
			}
			continue;
		}
		if (cmd_i == -2)
			cmd_i = (int)i;
		else
			script_i = (int)i;
		break;
	}
	if (privileged) {
		finding(c, "shell-privileged", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION, cc->span,
		    FMT("%s -p keeps the privileges of a setuid binary instead of dropping them",
		        cc->prog));
		attack(c, "T1548.001");
	}
	if (cmd_i >= 0) {
		arg *a = &v[cmd_i];
		lbx_add_effect(c->r, cc->cmd, "exec", a->v);
		if (a->stat) {
			/* nested analysis maps 1:1 when the word is one plain quoted part */
			int exact = 0;
			if (a->w && a->w->parts && a->w->parts->next == NULL) {
				const lb_part *p = a->w->parts;
				if (p->kind == LB_P_SQUOTE && p->len + 2 == p->span.end - p->span.start)
					exact = 1;
			}
			lb_span sp = a->span;
			if (exact)
				sp.start += 1;
			sentence(c, 5, FMT("Runs a %s command string.", cc->prog));
			analyze_string(c, a->v, a->len, sp, exact, in, out, "sh -c");
		} else {
			if (word_fetches(c, a->w))
				download_exec(c, a->span, NULL, "through a command substitution");
			else
				finding(c, "dynamic-command", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, a->span,
				    FMT("%s -c runs a command string built at run time: %s", cc->prog,
				        shown(c, a->v)));
		}
		if (interactive && c->f->devtcp) {
			/* bash -i -c '...' with /dev/tcp inside */
		}
		return;
	}
	if (script_i >= 0 && !stdin_mode) {
		arg *a = &v[script_i];
		if (a->w && word_fetches(c, a->w)) {
			download_exec(c, a->span, NULL, "through a process substitution");
			return;
		}
		lbx_add_effect(c->r, cc->cmd, "exec", a->v);
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
		check_path(c, a->v, KB_X_EXEC, a->span);
		sentence(c, 20, FMT("Runs the shell script %s.", shown(c, a->v)));
		return;
	}
	/* commands come from standard input */
	if (out)
		out->code_stdin = 1;
	if (in && in->exec_by) {
		c->f->shell_spawn = 1;
		c->f->shell_span = cc->span;
		finding(c, "shell-exec", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, cc->span,
		    FMT("%s runs the shell %s", in->exec_by, cc->prog));
		attack(c, "T1059.004");
		sentence(c, 50, FMT("Has %s start a shell (%s).", in->exec_by, cc->prog));
		return;
	}
	if (in && in->net) {
		if (in->net == 2) {
			c->f->shell_spawn = 1;
			c->f->shell_span = cc->span;
		} else {
			download_exec(c, cc->span, in->net_src, "by piping it into a shell");
		}
		return;
	}
	if (in && in->text && in->obf) {
		finding(c, "decoded-exec", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, cc->span,
		    FMT("%s runs commands that were hidden in base64", cc->prog));
		attack(c, "T1027");
		sentence(c, 80, "Decodes hidden (base64) commands and runs them; lockbox decoded "
		    "them to show what they do.");
	}
	if (in && in->text) {
		lbx_add_effect(c->r, cc->cmd, "exec", "standard input");
		analyze_string(c, in->text, in->tlen, in->tspan, in->texact, NULL, NULL, "stdin");
		if (in->dynamic)
			finding(c, "dynamic-stdin", LOCKBOX_RISK_MEDIUM, KB_C_OPAQUE, cc->span,
			    FMT("%s runs commands whose text is built at run time", cc->prog));
		return;
	}
	if (in && in->piped && in->dynamic) {
		finding(c, "stdin-exec", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, cc->span,
		    FMT("%s runs whatever the previous command prints", cc->prog));
		if (in->obf)
			cat(c, LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION);
		c->r->opaque = 1;
		c->f->shell_spawn = 1;
		c->f->shell_span = cc->span;
		return;
	}
	/* an interactive shell: what is typed into it is not reviewed here */
	c->f->shell_spawn = 1;
	c->f->shell_span = cc->span;
	if (out)
		out->shell = 1;
	finding(c, "shell-spawn", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, cc->span,
	    FMT("Starts an interactive %s shell%s", cc->prog, c->priv ? " with raised privileges" :
	        ""));
	attack(c, "T1059.004");
	sentence(c, 50, FMT("Starts an interactive shell (%s)%s: commands typed into it are "
	    "not shown for review.", cc->prog, c->priv ? " with raised privileges" : ""));
	(void)interactive;
}

static void
h_interpreter(cmdctx *cc, arg *v, size_t n, const sin *in, sout *out, const pres *p)
{
	actx *c = cc->c;
	/* -c CODE, -e CODE, -r CODE, -E CODE: the data names them with role code; when the
	 * data did, apply_role already scanned. Otherwise: a script file, or stdin. */
	int had_code = 0;
	for (int i = 0; i < p->nocc; i++)
		if (p->occ[i].o->role == KB_R_CODE || p->occ[i].o->role == KB_R_COMMAND)
			had_code = 1;
	if (had_code)
		cc->no_sentence = 1;
	if (had_code || cc->sub)
		return; /* code given, or a subcommand (bun init, deno fmt) the data describes */
	if (!had_code) {
		/* fallback when the data lacks the option: -c/-e/-r/-E followed by code */
		for (size_t i = 1; i + 1 < n; i++) {
			const char *w = v[i].v;
			if (v[i].stat && (streq(w, "-c") || streq(w, "-e") || streq(w, "-E") ||
			    streq(w, "-r") || streq(w, "--eval") || streq(w, "-x") ||
			    streq(w, "--command") || streq(w, "-n") || streq(w, "-p") ||
			    streq(w, "-ne") || streq(w, "-pe") || streq(w, "-le") || streq(w, "-lne") ||
			    streq(w, "-we") || streq(w, "-E") || streq(w, "-i"))) {
				if (streq(w, "-i") || streq(w, "-n") || streq(w, "-p"))
					continue;
				inline_code(cc, v[i + 1].v, v[i + 1].len, v[i + 1].span);
				return;
			}
		}
	}
	if (p->nops > 0) {
		arg *a = &v[p->ops[0]];
		if (a->w && word_fetches(c, a->w)) {
			download_exec(c, a->span, NULL, "through a process substitution");
			return;
		}
		return; /* a script: the data's operand role says what it is */
	}
	if (out)
		out->code_stdin = 1;
	if (in && in->net) {
		if (in->net == 2) {
			c->f->shell_spawn = 1;
			c->f->shell_span = cc->span;
		} else {
			download_exec(c, cc->span, in->net_src, FMT("by piping it into %s", cc->prog));
		}
		return;
	}
	if (in && in->text) {
		inline_code(cc, in->text, in->tlen, in->tspan);
		return;
	}
	if (in && in->piped) {
		finding(c, "stdin-exec", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, cc->span,
		    FMT("%s runs whatever code the previous command prints", cc->prog));
		c->r->opaque = 1;
		return;
	}
	/* interactive interpreter */
	finding(c, "interpreter-interactive", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, cc->span,
	    FMT("Starts an interactive %s session: what is typed into it is not reviewed",
	        cc->prog));
	sentence(c, 45, FMT("Starts an interactive %s session; code typed into it is not shown "
	    "for review.", cc->prog));
	cc->no_sentence = 1;
	if (out)
		out->repl = cc->prog;
}

/* curl/wget: what is fetched, where it goes, what is sent. */
static void
h_fetch(cmdctx *cc, arg *v, size_t n, sout *out, const pres *p, int wget)
{
	actx *c = cc->c;
	int to_file = 0, to_stdout = 0, upload = 0;
	const char *url = NULL;
	for (int i = 0; i < p->nops; i++) {
		const char *w = v[p->ops[i]].v;
		if (strstr(w, "://") || (!url && strchr(w, '.')))
			url = url ? url : w;
	}
	for (size_t i = 1; i < n; i++) {
		const char *w = v[i].v;
		if (!v[i].stat)
			continue;
		if (wget) {
			if (streq(w, "-O") || streq(w, "--output-document")) {
				if (i + 1 < n && streq(v[i + 1].v, "-"))
					to_stdout = 1;
				else
					to_file = 1;
			} else if (starts(w, "-O") || starts(w, "--output-document=")) {
				const char *val = w[1] == 'O' ? w + 2 : w + 18;
				if (streq(val, "-"))
					to_stdout = 1;
				else
					to_file = 1;
			} else if (starts(w, "--post-file") || starts(w, "--body-file")) {
				upload = 1;
			} else if (streq(w, "-qO-") || streq(w, "-qO") || streq(w, "-O-")) {
				to_stdout = 1;
			}
			if (starts(w, "-") && !starts(w, "--") && strstr(w, "O-"))
				to_stdout = 1;
		} else {
			if (streq(w, "-o") || streq(w, "--output") || streq(w, "-O") ||
			    streq(w, "--remote-name") || streq(w, "--remote-name-all") ||
			    (starts(w, "-") && !starts(w, "--") && (strchr(w, 'o') || strchr(w, 'O'))))
				to_file = 1;
			if (streq(w, "-T") || streq(w, "--upload-file") || starts(w, "-d@") ||
			    streq(w, "-F") || streq(w, "--form") || streq(w, "--data-binary") ||
			    streq(w, "-d") || streq(w, "--data") || streq(w, "--data-raw") ||
			    streq(w, "--data-urlencode") || starts(w, "--upload-file="))
				upload = 1;
		}
	}
	if (!wget)
		to_stdout = !to_file;
	if (url == NULL)
		url = p->nops ? v[p->ops[0]].v : NULL;
	if (to_stdout && out) {
		out->net = 1;
		out->net_src = url;
	}
	if (url && (starts(url, "gopher://") || starts(url, "dict://") || starts(url, "telnet://") ||
	    starts(url, "ldap://"))) {
		finding(c, "raw-protocol", LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD, cc->span,
		    FMT("%s sends raw data through %.*s", cc->prog, (int)(strstr(url, "://") - url),
		        url));
		attack(c, "T1048");
	}
	if (url) {
		lbx_add_effect(c->r, cc->cmd, "network-download", url);
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
		attack(c, "T1105");
	}
	if (upload) {
		cat(c, LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD);
		attack(c, "T1048");
	}
}

/* nc / ncat / netcat: -e/-c run a program for the connection. */
static void
h_nc(cmdctx *cc, arg *v, size_t n, sout *out)
{
	actx *c = cc->c;
	int listen = 0, exec_i = -1;
	const char *host = NULL;
	for (size_t i = 1; i < n; i++) {
		const char *w = v[i].v;
		if (w[0] == '-' && w[1] && w[1] != '-') {
			for (size_t j = 1; w[j]; j++) {
				if (w[j] == 'l')
					listen = 1;
				else if (w[j] == 'e' || w[j] == 'c') {
					if (w[j + 1]) {
						exec_i = (int)i; /* attached: -e/bin/sh */
					} else if (i + 1 < n) {
						exec_i = (int)i + 1;
						i++;
					}
					break;
				} else if (strchr("pswiqWIOTvx", w[j]) && !w[j + 1]) {
					if (strchr("psiqwIOTx", w[j]))
						i++;
					break;
				}
			}
			continue;
		}
		if (starts(w, "--exec") || starts(w, "--sh-exec") || starts(w, "--lua-exec")) {
			const char *eq = strchr(w, '=');
			if (!eq && i + 1 < n)
				exec_i = (int)i + 1;
			else if (eq)
				exec_i = (int)i;
			continue;
		}
		if (streq(w, "--listen"))
			listen = 1;
		else if (!host && w[0] != '-')
			host = w;
	}
	c->f->raw_net = 1;
	if (out) {
		out->net = 2;
		out->net_listen = listen;
		out->net_src = host;
	}
	if (listen)
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_LISTEN);
	else
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_CONNECT);
	if (exec_i >= 0) {
		const char *prog = v[exec_i].v;
		const char *eq = strchr(prog, '=');
		if (prog[0] == '-' && eq)
			prog = eq + 1;
		else if (prog[0] == '-')
			prog = prog + 2;
		finding(c, listen ? "nc-bind-shell" : "nc-reverse-shell", LOCKBOX_RISK_CRITICAL,
		    listen ? KB_C_BIND_SHELL : KB_C_REVERSE_SHELL, v[exec_i].span,
		    FMT("%s hands the network connection to %s", cc->prog, shown(c, prog)));
		attack(c, "T1059.004");
		lbx_add_effect(c->r, cc->cmd, "exec", prog);
		sentence(c, 95, listen ? FMT("Listens on the network and gives anyone who connects "
		    "%s on this machine (a bind shell).", shown(c, prog)) :
		    FMT("Connects to %s and gives the other side %s on this machine (a reverse "
		        "shell).", host ? shown(c, host) : "a remote host", shown(c, prog)));
	}
}

/* socat ADDRESS ADDRESS: exec:/system: run a program; tcp:/tcp-listen: network. */
static void
h_socat(cmdctx *cc, arg *v, size_t n, sout *out)
{
	actx *c = cc->c;
	int exec = 0, listen = 0, connect = 0, file = 0;
	const char *prog = NULL, *peer = NULL;
	for (size_t i = 1; i < n; i++) {
		const char *w = v[i].v;
		if (w[0] == '-' && w[1])
			continue;
		char low[16];
		size_t k = 0;
		while (w[k] && w[k] != ':' && w[k] != ',' && k < sizeof low - 1) {
			char ch = w[k];
			low[k++] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
		}
		low[k] = 0;
		const char *rest = w[k] == ':' ? w + k + 1 : "";
		if (streq(low, "exec") || streq(low, "system")) {
			exec = 1;
			const char *comma = strchr(rest, ',');
			prog = dup(c, rest, comma ? (size_t)(comma - rest) : strlen(rest));
			if (prog && *prog)
				analyze_string(c, prog, strlen(prog), v[i].span, 0, NULL, NULL, "socat");
		} else if (strstr(low, "listen") || streq(low, "tcp-l") || streq(low, "udp-l") ||
		    streq(low, "tcp4-l") || streq(low, "ssl-l") || streq(low, "openssl-listen")) {
			listen = 1;
			peer = rest;
		} else if (starts(low, "tcp") || starts(low, "udp") || starts(low, "ssl") ||
		    starts(low, "openssl") || starts(low, "sctp") || starts(low, "socks") ||
		    starts(low, "proxy")) {
			connect = 1;
			peer = rest;
		} else if (streq(low, "file") || streq(low, "open") || streq(low, "create") ||
		    streq(low, "gopen") || w[0] == '/') {
			file = 1;
			const char *comma = strchr(rest[0] ? rest : w, ',');
			const char *fp = rest[0] ? rest : w;
			const char *path = dup(c, fp, comma ? (size_t)(comma - fp) : strlen(fp));
			if (path) {
				arg fa = v[i];
				fa.v = path;
				fa.len = strlen(path);
				apply_role(cc, KB_R_WRITE, &fa, NULL);
			}
		}
	}
	c->f->raw_net = 1;
	if (out && (listen || connect)) {
		out->net = 2;
		out->net_listen = listen;
		out->net_src = peer;
	}
	if (listen) {
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_LISTEN);
		lbx_add_effect(c->r, cc->cmd, "network-listen", peer);
	}
	if (connect) {
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_CONNECT);
		lbx_add_effect(c->r, cc->cmd, "network-connect", peer);
	}
	if (exec && (listen || connect)) {
		finding(c, listen ? "socat-bind-shell" : "socat-reverse-shell", LOCKBOX_RISK_CRITICAL,
		    listen ? KB_C_BIND_SHELL : KB_C_REVERSE_SHELL, cc->span,
		    FMT("socat connects the network to %s", prog ? shown(c, prog) : "a program"));
		attack(c, "T1059.004");
		sentence(c, 95, listen ? "Listens on the network and gives whoever connects a "
		    "program on this machine (a bind shell)." : "Connects out and gives the other "
		    "side a program on this machine (a reverse shell).");
	} else if (exec) {
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
	}
	if ((listen || connect) && file)
		cat(c, LOCKBOX_RISK_HIGH, listen ? KB_C_NETWORK_UPLOAD : KB_C_NETWORK_DOWNLOAD);
}

static void
h_find(cmdctx *cc, arg *v, size_t n, const pres *p, const sin *in)
{
	actx *c = cc->c;
	/* start points: operands before the first expression word */
	int del = 0;
	for (int i = 0; i < p->nocc; i++) {
		const kb_opt *o = p->occ[i].o;
		for (uint16_t j = 0; j < o->nnames; j++)
			if (streq(o->names[j].s, "-delete"))
				del = 1;
	}
	for (size_t i = 1; i < n; i++)
		if (v[i].stat && streq(v[i].v, "-delete"))
			del = 1;
	if (del) {
		uint32_t saved = cc->flags;
		cc->flags |= KB_F_RECURSIVE;
		for (size_t i = 1; i < n; i++) {
			const char *w = v[i].v;
			if (w[0] == '-' || w[0] == '(' || w[0] == '!' || w[0] == ')')
				break;
			apply_role(cc, KB_R_DELETE, &v[i], in);
		}
		cc->flags = saved;
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_FILE_DELETE);
	}
}

/* tar: the mode comes from the first word (xvf) or -x/-c/-t. */
/* The files tar packs: its operands other than the archive itself. */
static const char *
tar_files(actx *c, arg *v, const pres *p, const char *archive)
{
	int idx[64], k = 0;
	for (int i = 0; i < p->nops && k < 64; i++) {
		const char *w = v[p->ops[i]].v;
		if (archive && streq(w, archive))
			continue;
		if (i == 0 && p->ops[0] == 1 && w[0] && strspn(w, "AcdrtuxzjJvfpPkmwWOSC") ==
		    strlen(w))
			continue; /* old-style mode letters: tar czf */
		idx[k++] = p->ops[i];
	}
	if (k == 0)
		return "files";
	buf b = BUF_INIT;
	put_list(&b, v, idx, k);
	const char *s = dup(c, buf_cstr(&b), b.len);
	buf_free(&b);
	return s ? s : "files";
}

static void
h_tar(cmdctx *cc, arg *v, size_t n, const pres *p)
{
	actx *c = cc->c;
	char mode = 0;
	const char *archive = NULL;
	arg *archive_arg = NULL;
	const char *todir = NULL;
	for (size_t i = 1; i < n; i++) {
		const char *w = v[i].v;
		if (!v[i].stat)
			continue;
		int bundled = i == 1 && w[0] != '-' && w[0];
		if ((w[0] == '-' && w[1] != '-') || bundled) {
			int fpos = 0;
			for (size_t j = bundled ? 0 : 1; w[j]; j++) {
				char ch = w[j];
				if (strchr("xctruA", ch) && !mode)
					mode = ch == 'u' || ch == 'A' ? 'r' : ch;
				if (ch == 'f') {
					fpos = 1;
					if (!bundled && w[j + 1]) {
						archive = w + j + 1;
						archive_arg = &v[i];
						break;
					}
				}
				if (ch == 'C' && i + 1 < n && !bundled)
					todir = v[i + 1].v;
			}
			if (fpos && !archive && i + 1 < n) {
				archive = v[i + 1].v;
				archive_arg = &v[i + 1];
			}
			continue;
		}
		if (streq(w, "--extract") || streq(w, "--get"))
			mode = 'x';
		else if (streq(w, "--create"))
			mode = 'c';
		else if (streq(w, "--list"))
			mode = 't';
		else if (streq(w, "--append") || streq(w, "--update"))
			mode = 'r';
		else if (starts(w, "--file=")) {
			archive = w + 7;
			archive_arg = &v[i];
		} else if (streq(w, "--file") && i + 1 < n) {
			archive = v[i + 1].v;
			archive_arg = &v[i + 1];
		} else if (starts(w, "--directory="))
			todir = w + 12;
		else if (starts(w, "--to-command=") || starts(w, "--checkpoint-action=exec=") ||
		    starts(w, "--use-compress-program=") || starts(w, "--rsh-command=") ||
		    starts(w, "--info-script=") || starts(w, "--new-volume-script=")) {
			const char *eq = strchr(w, '=');
			if (starts(w, "--checkpoint-action=exec="))
				eq = w + strlen("--checkpoint-action=exec=") - 1;
			arg a = v[i];
			a.v = eq + 1;
			a.len = strlen(a.v);
			finding(c, "tar-exec", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, v[i].span,
			    FMT("tar runs the program %s", shown(c, a.v)));
			cmdctx t = *cc;
			apply_role(&t, KB_R_EXEC, &a, NULL);
		}
	}
	const char *what = NULL;
	if (archive && archive_arg) {
		arg a = *archive_arg;
		a.v = archive;
		a.len = strlen(archive);
		if (mode == 'c' || mode == 'r')
			apply_role(cc, KB_R_WRITE, &a, NULL);
		else
			apply_role(cc, KB_R_READ, &a, NULL);
	}
	switch (mode) {
	case 'x':
		what = FMT("Extracts the archive %s into %s", archive ? shown(c, archive) :
		    "from standard input", todir ? shown(c, todir) : "the current directory");
		lbx_add_effect(c->r, cc->cmd, "file-write", todir ? todir : ".");
		cat(c, LOCKBOX_RISK_LOW, KB_C_FILE_WRITE);
		if (todir)
			check_path(c, todir, KB_X_WRITE, cc->span);
		break;
	case 'c':
	case 'r':
		what = FMT("Packs %s into the archive %s", tar_files(c, v, p, archive),
		    archive ? shown(c, archive) : "standard output");
		for (int i = 0; i < p->nops; i++) {
			if (archive && streq(v[p->ops[i]].v, archive))
				continue;
			apply_role(cc, KB_R_READ, &v[p->ops[i]], NULL);
		}
		break;
	case 't':
		what = FMT("Lists the contents of the archive %s", archive ? shown(c, archive) :
		    "from standard input");
		break;
	default:
		break;
	}
	if (what)
		sentence(c, 10, finish_sentence(c, what, NULL, cc->describe_hit));
}

/* dd if= of= */
static void
h_dd(cmdctx *cc, arg *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		arg a = v[i];
		if (starts(a.v, "if=")) {
			a.v += 3;
			a.len -= 3;
			apply_role(cc, KB_R_READ, &a, NULL);
		} else if (starts(a.v, "of=")) {
			a.v += 3;
			a.len -= 3;
			apply_role(cc, KB_R_WRITE, &a, NULL);
		}
	}
}

/* sed: -i edits in place; e and w commands run programs and write files. */
static void
h_sed(cmdctx *cc, arg *v, size_t n, const pres *p)
{
	actx *c = cc->c;
	int inplace = (p->flags & KB_F_IN_PLACE) != 0;
	const char *script = NULL;
	arg *sa = NULL;
	int have_e = 0;
	for (size_t i = 1; i < n; i++) {
		const char *w = v[i].v;
		if (streq(w, "-i") || starts(w, "--in-place") || (w[0] == '-' && w[1] != '-' &&
		    strchr(w, 'i') && !strchr(w, 'e') && !strchr(w, 'f')))
			inplace = 1;
		if ((streq(w, "-e") || streq(w, "--expression")) && i + 1 < n) {
			script = v[i + 1].v;
			sa = &v[i + 1];
			have_e = 1;
		}
	}
	if (!have_e && p->nops > 0) {
		sa = &v[p->ops[0]];
		script = sa->v;
	}
	if (inplace) {
		for (int i = have_e ? 0 : 1; i < p->nops; i++)
			apply_role(cc, KB_R_MODIFY, &v[p->ops[i]], NULL);
		cat(c, LOCKBOX_RISK_LOW, KB_C_FILE_WRITE);
	}
	if (script) {
		size_t sl = strlen(script);
		/* the e command or s///e flag runs a shell command */
		int exec = 0;
		for (size_t i = 0; i < sl; i++) {
			char ch = script[i];
			char prev = i ? script[i - 1] : ';';
			char next = i + 1 < sl ? script[i + 1] : 0;
			if (ch == 'e' && (prev == ';' || prev == '/' || prev == '$' || prev == '{' ||
			    (prev >= '0' && prev <= '9') || prev == ' ' || prev == '\n') &&
			    (next == ' ' || next == 0 || next == ';' || next == '}' || next == '\n'))
				exec = 1;
		}
		if (exec) {
			finding(c, "sed-exec", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, sa ? sa->span :
			    cc->span, "sed's e command runs a shell command");
			sentence(c, 60, "Uses sed to run shell commands.");
		}
		const char *wp = strstr(script, "w /");
		if (wp && (wp == script || wp[-1] == ' ' || wp[-1] == '/' || wp[-1] == ';' ||
		    (wp[-1] >= '0' && wp[-1] <= '9') || wp[-1] == '$')) {
			arg a = *sa;
			a.v = wp + 2;
			a.len = strlen(a.v);
			apply_role(cc, KB_R_WRITE, &a, NULL);
		}
		if (lbx_mentions_shell(script, sl) && !exec)
			cc->shell_mentioned = 1;
	}
}

/* awk: system(), | getline, print | "cmd", /inet/tcp */
static void
h_awk(cmdctx *cc, arg *v, const pres *p, int have_f)
{
	actx *c = cc->c;
	if (have_f || p->nops == 0)
		return;
	arg *a = &v[p->ops[0]];
	const char *s = a->v;
	size_t n = a->len;
	int shell = memmem(s, n, "system(", 7) || memmem(s, n, "system (", 8) ||
	    memmem(s, n, "| getline", 9) || memmem(s, n, "|getline", 8) ||
	    memmem(s, n, "|&", 2) || memmem(s, n, "| \"", 3) || memmem(s, n, "|\"", 2);
	int net = memmem(s, n, "/inet/", 6) != NULL;
	if (shell && net) {
		finding(c, "awk-reverse-shell", LOCKBOX_RISK_CRITICAL, KB_C_REVERSE_SHELL, a->span,
		    "awk connects to the network and runs commands from it");
		sentence(c, 95, "Uses awk to connect over the network and run commands from it.");
	} else if (shell) {
		finding(c, "awk-exec", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, a->span,
		    "awk runs shell commands");
		sentence(c, 60, "Uses awk to run shell commands.");
		/* system("...") with a literal: analyze it */
		code_commands(c, "awk", s, n, a->span);
	} else if (net) {
		finding(c, "awk-network", LOCKBOX_RISK_HIGH, KB_C_NETWORK_CONNECT, a->span,
		    "awk opens a network connection");
	}
	if (memmem(s, n, "> \"", 3) || memmem(s, n, ">\"", 2) || memmem(s, n, ">> \"", 4))
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_FILE_WRITE);
	if (lbx_mentions_shell(s, n) && !shell)
		cc->shell_mentioned = 1;
}

/* kill: pid 1 or -1 (everything). */
static void
h_kill(cmdctx *cc, arg *v, size_t n)
{
	actx *c = cc->c;
	int sig_kill = 0;
	for (size_t i = 1; i < n; i++) {
		const char *w = v[i].v;
		if (streq(w, "-9") || streq(w, "-KILL") || streq(w, "-SIGKILL") || streq(w, "-s"))
			sig_kill = 1;
		if (streq(w, "1") || (streq(w, "-1") && i > 1)) {
			finding(c, streq(w, "1") ? "kill-init" : "kill-all", LOCKBOX_RISK_CRITICAL,
			    KB_C_DESTRUCTIVE, v[i].span, streq(w, "1") ?
			    "Kills process 1 (init), which brings the whole system down" :
			    "Kills every process the user can signal");
			sentence(c, 85, "Kills the system's init process or every process: the "
			    "machine goes down.");
			attack(c, "T1489");
		}
	}
	(void)sig_kill;
	cat(c, LOCKBOX_RISK_LOW, KB_C_PROCESS_KILL);
}

static int
is_privileged_wrapper(const char *p)
{
	return streq(p, "sudo") || streq(p, "doas") || streq(p, "pkexec") || streq(p, "su") ||
	    streq(p, "runuser") || streq(p, "run0") || streq(p, "sudoedit") || streq(p, "ksu") ||
	    streq(p, "calife") || streq(p, "please");
}

/* Builtins that change how the rest is analyzed. Returns 1 when handled. */
static int
builtin(actx *c, lbx_cmd *cmd, const char *prog, arg *v, size_t n, const lb_node *node,
    const sin *in, sout *out, lb_span span)
{
	if (streq(prog, "eval")) {
		/* eval joins its arguments with spaces and runs them */
		int all_static = 1, fetch = 0;
		for (size_t i = 1; i < n; i++) {
			all_static &= v[i].stat;
			if (v[i].w && word_fetches(c, v[i].w))
				fetch = 1;
		}
		if (fetch) {
			download_exec(c, span, NULL, "through eval");
			return 1;
		}
		if (!all_static) {
			finding(c, "eval-dynamic", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, span,
			    "eval runs a command built at run time");
			sentence(c, 50, "Runs a command that is built only at run time (eval), so what "
			    "it does cannot be known in advance.");
			return 1;
		}
		buf b = BUF_INIT;
		for (size_t i = 1; i < n; i++) {
			if (i > 1)
				buf_putc(&b, ' ');
			buf_put(&b, v[i].v, v[i].len);
		}
		lb_span sp = n > 1 ? join_span(v[1].span, v[n - 1].span) : span;
		int exact = n == 2 && v[1].w && v[1].w->parts && !v[1].w->parts->next &&
		    v[1].w->parts->kind == LB_P_SQUOTE &&
		    v[1].w->parts->len + 2 == v[1].w->parts->span.end - v[1].w->parts->span.start;
		if (exact)
			sp.start += 1;
		const char *s = dup(c, buf_cstr(&b), b.len);
		size_t sl = b.len;
		buf_free(&b);
		if (s)
			analyze_string(c, s, sl, sp, exact, in, out, "eval");
		return 1;
	}
	if (streq(prog, "source") || streq(prog, ".")) {
		if (n > 1) {
			if (v[1].w && word_fetches(c, v[1].w)) {
				download_exec(c, v[1].span, NULL, "through source");
				return 1;
			}
			lbx_add_effect(c->r, cmd, "exec", v[1].v);
			cat(c, LOCKBOX_RISK_LOW, KB_C_CODE_EXEC);
			check_path(c, v[1].v, KB_X_EXEC, v[1].span);
			sentence(c, 10, FMT("Runs the commands in %s in the current shell.",
			    shown(c, v[1].v)));
			if (streq(v[1].v, "/dev/stdin") && in && in->net)
				download_exec(c, span, in->net_src, "through source /dev/stdin");
		}
		return 1;
	}
	if (streq(prog, "export") || streq(prog, "declare") || streq(prog, "typeset") ||
	    streq(prog, "local") || streq(prog, "readonly")) {
		for (size_t i = 1; i < n; i++) {
			const char *eq = strchr(v[i].v, '=');
			if (!eq)
				continue;
			size_t nl = (size_t)(eq - v[i].v);
			const char *val = eq + 1;
			if ((nl == 10 && !strncmp(v[i].v, "LD_PRELOAD", 10)) ||
			    (nl == 8 && !strncmp(v[i].v, "LD_AUDIT", 8))) {
				finding(c, "ld-preload", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, v[i].span,
				    FMT("LD_PRELOAD makes every program load %s first", shown(c, val)));
				cat(c, LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION);
				attack(c, "T1574.006");
			} else if ((nl == 8 && !strncmp(v[i].v, "HISTFILE", 8) &&
			    (!*val || streq(val, "/dev/null"))) ||
			    (nl == 8 && !strncmp(v[i].v, "HISTSIZE", 8) && (streq(val, "0") || !*val)) ||
			    (nl == 12 && !strncmp(v[i].v, "HISTFILESIZE", 12) && streq(val, "0"))) {
				finding(c, "history-off", LOCKBOX_RISK_HIGH, KB_C_LOG_TAMPER, v[i].span,
				    "Stops the shell history from recording commands");
				attack(c, "T1070.003");
				sentence(c, 60, "Turns off the shell's command history, hiding what is "
				    "done next.");
			} else if (nl == 14 && !strncmp(v[i].v, "PROMPT_COMMAND", 14) && *val) {
				analyze_string(c, val, strlen(val), v[i].span, 0, NULL, NULL, "prompt");
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_PERSISTENCE);
			}
		}
		return 1;
	}
	if (streq(prog, "unset")) {
		for (size_t i = 1; i < n; i++)
			if (streq(v[i].v, "HISTFILE") || streq(v[i].v, "HISTSIZE")) {
				finding(c, "history-off", LOCKBOX_RISK_HIGH, KB_C_LOG_TAMPER, v[i].span,
				    FMT("unset %s stops the shell history from being saved", v[i].v));
				attack(c, "T1070.003");
				sentence(c, 60, "Turns off the shell's command history, hiding what is "
				    "done next.");
			}
		return 1;
	}
	if (streq(prog, "set") || streq(prog, "shopt")) {
		for (size_t i = 1; i + 1 < n; i++)
			if (streq(v[i].v, "+o") && streq(v[i + 1].v, "history")) {
				finding(c, "history-off", LOCKBOX_RISK_HIGH, KB_C_LOG_TAMPER, v[i].span,
				    "set +o history stops recording commands");
				attack(c, "T1070.003");
			}
		return 1;
	}
	if (streq(prog, "history")) {
		for (size_t i = 1; i + 1 < n; i++)
			if (streq(v[i].v, "-w") || streq(v[i].v, "-a")) {
				cmdctx hc = { .c = c, .cmd = cmd, .prog = prog };
				apply_role(&hc, KB_R_WRITE, &v[i + 1], NULL);
			}
		for (size_t i = 1; i < n; i++)
			if (v[i].v[0] == '-' && (strchr(v[i].v, 'c') || strchr(v[i].v, 'd') ||
			    strchr(v[i].v, 'w'))) {
				int clear = strchr(v[i].v, 'c') || strchr(v[i].v, 'd');
				if (!clear)
					continue;
				finding(c, "history-clear", LOCKBOX_RISK_HIGH, KB_C_LOG_TAMPER, v[i].span,
				    "Erases the shell's command history");
				attack(c, "T1070.003");
				sentence(c, 60, "Erases the shell's command history, hiding what was done.");
			}
		return 1;
	}
	if (streq(prog, "trap")) {
		if (n > 2 && v[1].stat && v[1].len && v[1].v[0] != '-')
			analyze_string(c, v[1].v, v[1].len, v[1].span, 0, NULL, NULL, "trap");
		return 1;
	}
	if (streq(prog, "alias")) {
		for (size_t i = 1; i < n; i++) {
			const char *eq = strchr(v[i].v, '=');
			if (eq && eq[1])
				analyze_string(c, eq + 1, strlen(eq + 1), v[i].span, 0, NULL, NULL, "alias");
		}
		return 1;
	}
	if (streq(prog, "exec") && n == 1) {
		/* exec with only redirections: they apply to the shell itself */
		(void)node;
		return 1;
	}
	if (streq(prog, "ztcp") || streq(prog, "zsocket")) {
		int lis = n > 1 && streq(v[1].v, "-l");
		c->f->raw_net = 1;
		lbx_add_effect(c->r, cmd, lis ? "network-listen" : "network-connect",
		    n > 1 ? v[n > 2 && !lis ? 1 : n - 1].v : "");
		cat(c, LOCKBOX_RISK_MEDIUM, lis ? KB_C_NETWORK_LISTEN : KB_C_NETWORK_CONNECT);
		return 1;
	}
	if (streq(prog, "enable")) {
		for (size_t i = 1; i < n; i++)
			if (streq(v[i].v, "-f") && i + 1 < n) {
				finding(c, "library-load", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, v[i + 1].span,
				    FMT("bash loads the shared library %s as a builtin", shown(c,
				        v[i + 1].v)));
				sentence(c, 60, FMT("Loads the library %s into the shell, which runs its "
				    "code.", shown(c, v[i + 1].v)));
			}
		return 1;
	}
	return 0;
}

/* Inner command of wrappers: sudo X, nice X, find -exec X ;, xargs X. */
static void
run_inner_words(cmdctx *cc, arg *v, size_t n, const sin *in, sout *out)
{
	actx *c = cc->c;
	if (n == 0)
		return;
	if (c->depth >= LBX_MAX_WALK || c->nest >= LBX_MAX_WRAP) {
		finding(c, "depth-exceeded", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, cc->span,
		    "Wrappers nest too deeply to analyze");
		return;
	}
	c->depth++;
	c->nest++;
	if (n == 1 && v[0].stat && strpbrk(v[0].v, " ;|&<>") && v[0].len < 65536)
		/* watch 'a; b', timeout 5 'cmd': the word is a command line */
		analyze_string(c, v[0].v, v[0].len, v[0].span, 0, in, out, "wrapper");
	else
		analyze_argv(c, v, n, NULL, in, out);
	c->nest--;
	c->depth--;
}

static int
word_is_opt(const arg *a)
{
	return a->stat && a->v[0] == '-' && a->v[1];
}

/* env [-i] [-u NAME] [NAME=VALUE]... [COMMAND [ARG]...] */
static size_t
env_inner(actx *c, arg *v, size_t n)
{
	size_t i = 1;
	for (; i < n; i++) {
		const char *w = v[i].v;
		if (streq(w, "--")) {
			i++;
			break;
		}
		if (v[i].stat && streq(w, "-"))
			continue; /* `env - CMD`: an empty environment, like -i */
		if (word_is_opt(&v[i])) {
			if (streq(w, "-u") || streq(w, "--unset") || streq(w, "-a") ||
			    streq(w, "--argv0") || streq(w, "-C") ||
			    streq(w, "--chdir") || streq(w, "-S") || streq(w, "--split-string")) {
				if ((streq(w, "-S") || streq(w, "--split-string")) && i + 1 < n) {
					analyze_string(c, v[i + 1].v, v[i + 1].len, v[i + 1].span, 0, NULL, NULL,
					    "env -S");
					return n; /* consumed */
				}
				i++;
			}
			continue;
		}
		const char *eq = strchr(w, '=');
		if (eq && eq != w) {
			size_t nl = (size_t)(eq - w);
			if ((nl == 10 && !strncmp(w, "LD_PRELOAD", 10)) ||
			    (nl == 8 && !strncmp(w, "LD_AUDIT", 8))) {
				finding(c, "ld-preload", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, v[i].span,
				    FMT("LD_PRELOAD makes the program load %s first", shown(c, eq + 1)));
				cat(c, LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION);
				attack(c, "T1574.006");
			} else if (strstr(w, "PAGER=") || strstr(w, "EDITOR=") ||
			    strstr(w, "_COMMAND=") || starts(w, "BASH_ENV=") || starts(w, "VISUAL=")) {
				analyze_string(c, eq + 1, strlen(eq + 1), v[i].span, 0, NULL, NULL, "env");
			}
			continue;
		}
		break;
	}
	return i;
}

/* An option name that says its value is a file written (-o, --output, --log-file). */
static int
output_opt(const char *w, size_t nl)
{
	static const char *const names[] = {
		"-o", "--output", "--out", "--outfile", "--outFile", "--output-file", "--out-file",
		"--output-document", "--log-file", "--logfile", "-Logfile", "--logFile", "--write", "-w", "--dump-bin", "--save", "--export", "-outfile", "-out", "--target-file",
		"--output-path", "--junit-xml", "--dump", "-O", NULL,
	};
	if (nl < 2 || nl > 19)
		return 0;
	for (const char *const *k = names; *k; k++)
		if ((*k)[1] == w[1] && strlen(*k) == nl && !memcmp(w, *k, nl))
			return 1;
	return 0;
}

/* An option name that says its value is a program to run. */
static int
option_runs(const char *w, size_t nl)
{
	static const char *const keys[] = {
		"command", "cmd", "exec", "program", "hook", "askpass", "editor", "pager", "shell",
		"on-download", "on-", "script", "Command", "filter", NULL,
	};
	if (nl == 0 || nl > 64)
		return 0;
	char name[65];
	memcpy(name, w, nl);
	name[nl] = 0;
	for (const char *const *k = keys; *k; k++)
		if (strstr(name, *k))
			return streq(*k, "on-") ? starts(name, "--on-") : 1;
	return 0;
}

static int
role_is_data(int r)
{
	return r == KB_R_READ || r == KB_R_WRITE || r == KB_R_APPEND || r == KB_R_MODIFY ||
	    r == KB_R_DELETE || r == KB_R_PATTERN || r == KB_R_DIR || r == KB_R_MODE ||
	    r == ROLE_LOGIN_SHELL;
}

/* A plain path or name: nothing that makes it a command line. */
/* Bytes that make a word more than a plain name or path (a table instead of strpbrk:
 * this runs for every word). */
static const uint8_t word_special[256] = {
	[' '] = 1, ['\t'] = 1, ['\n'] = 1, [';'] = 1, ['|'] = 1, ['&'] = 1, ['<'] = 1,
	['>'] = 1, ['\''] = 1, ['"'] = 1, ['('] = 1, [')'] = 1, [','] = 1, ['='] = 1,
	[':'] = 1, ['`'] = 1, ['$'] = 1,
};

static int
is_plain_word(const char *w)
{
	for (const unsigned char *p = (const unsigned char *)w; *p; p++)
		if (word_special[*p])
			return 0;
	return 1;
}


static int
looks_like_url(const char *w)
{
	const char *p = strstr(w, "://");
	if (p == NULL || p == w)
		return 0;
	for (const char *q = w; q < p; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '+' ||
		    *q == '-' || *q == '.' || (*q >= '0' && *q <= '9')))
			return 0;
	return 1;
}

static int
ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* A shared library path: x.so, x.so.1, or inside an option value (file=/x.so). */
static int
mentions_lib(const char *w)
{
	const char *p = strstr(w, ".so");
	while (p) {
		char nx = p[3];
		if (nx == 0 || nx == '.' || nx == ',' || nx == ' ' || nx == '"' || nx == '\'' ||
		    nx == ':')
			return p > w;
		p = strstr(p + 3, ".so");
	}
	return 0;
}

/* Looks at every word of a command for what the rules do not say: a shell given to the
 * program, a native library, a command line with fd redirections, a URL. */
static void
scan_words(cmdctx *cc, arg *v, size_t n, int8_t *roles)
{
	actx *c = cc->c;
	if (streq(cc->prog, "echo") || streq(cc->prog, "printf"))
		return;
	int compare = streq(cc->prog, "test") || streq(cc->prog, "[");
	for (size_t i = 1; i < n; i++) {
		const char *w = v[i].v;
		int r = roles ? roles[i] : -1;
		if (r == KB_R_COMMAND || r == KB_R_CODE || r == KB_R_EXEC || v[i].len == 0)
			continue;
		/* an output option the rules do not know: -o FILE, --output=FILE */
		if (!cc->readonly && (r < 0 || (r == ROLE_KNOWN_OPT && w[1] == '-')) && v[i].stat &&
		    w[0] == '-') {
			const char *eqp = strchr(w, '=');
			size_t nl = eqp ? (size_t)(eqp - w) : v[i].len;
			if (output_opt(w, nl)) {
				arg t;
				if (eqp) {
					t = v[i];
					t.v = eqp + 1;
					t.len = strlen(t.v);
				} else if (w[1] != '-' && !strpbrk(v[i + 1 < n ? i + 1 : i].v, "/.")) {
					continue; /* -o list, -w 80: not a file */
				} else if (i + 1 < n && v[i + 1].v[0] != '-' && (!roles || roles[i + 1] < 0 ||
				    roles[i + 1] == KB_R_READ || roles[i + 1] == KB_R_NONE ||
				    roles[i + 1] == KB_R_TEXT)) {
					t = v[i + 1];
					if (roles)
						roles[i + 1] = KB_R_WRITE;
				} else {
					continue;
				}
				apply_role(cc, KB_R_WRITE, &t, NULL);
				continue;
			}
		}
		if (r == KB_R_PATTERN)
			continue;
		/* which rare bytes the word holds: most words hold none, and every check
		 * below needs one of them */
		unsigned has = 0;
		for (size_t j = 0; j < v[i].len; j++) {
			unsigned char ch = (unsigned char)w[j];
			has |= ch == '/' ? 1u : ch == '.' ? 2u : ch == ':' ? 4u : ch == '=' ? 8u :
			    ch == ' ' ? 16u : ch == 's' ? 32u : 0u;
		}
		int plain = is_plain_word(w);
		int shellpath = (has & 1u) && lbx_is_shell_name(base_name(w));
		/* test and [ only compare their operands (test "$SHELL" = /bin/zsh); other
		 * read-only programs may still run a word (pidstat -e /bin/sh) */
		/* lbx_mentions_shell needs "sh", "syscmd" (an 's') or a ':' */
		if (!(compare && r == KB_R_TEXT) && ((shellpath && plain) ||
		    ((has & 36u) && lbx_mentions_shell(w, v[i].len)))) {
			if (!(plain && role_is_data(r)))
				cc->shell_mentioned = 1;
		}
		if ((has & 2u) && mentions_lib(w) && !(plain && role_is_data(r)) && !cc->readonly &&
		    !looks_like_url(w)) {
			finding(c, "library-load", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, v[i].span,
			    FMT("%s is given the native library %s to load", cc->prog, shown(c, w)));
			sentence(c, 55, FMT("Has %s load the native library %s, which runs its code.",
			    cc->prog, shown(c, w)));
			attack(c, "T1129");
		}
		if (!plain && v[i].stat && (has & 16u) && (strstr(w, "<&") || strstr(w, ">&") ||
		    strstr(w, "/dev/tty")) && !role_is_data(r)) {
			/* a command line handed to the program */
			cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
		}
		/* --password-command=X, -o ssh_command=X, ProxyCommand=X: X is run */
		const char *eq = (has & 8u) ? strchr(w, '=') : NULL;
		if (eq && eq[1] && v[i].stat && !role_is_data(r) && r != KB_R_URL &&
		    option_runs(w, (size_t)(eq - w))) {
			cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
			lbx_add_effect(c->r, cc->cmd, "exec", eq + 1);
			analyze_string(c, eq + 1, strlen(eq + 1), v[i].span, 0, NULL, NULL, "option");
		}
		if ((has & 12u) && (starts(w, "/:/") || strstr(w, "src=/,") || strstr(w, "source=/,") ||
		    ends_with(w, "src=/") || ends_with(w, "source=/"))) {
			finding(c, "host-root-mount", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION,
			    v[i].span, "Mounts the host's whole filesystem into a container");
			attack(c, "T1611");
		}
		if ((has & 4u) && r != KB_R_URL && r != KB_R_HOST && !cc->readonly && looks_like_url(w) &&
		    !starts(w, "file:")) {
			lbx_add_effect(c->r, cc->cmd, "network-download", w);
			cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
		}
	}
}

/* Programs that start an interactive shell when given no command (nice alone prints). */
static int
shell_when_bare(const char *p)
{
	static const char *const l[] = {
		"chroot", "nsenter", "unshare", "setarch", "linux32", "linux64", "i386", "x86_64",
		"sg", "newgrp", "screen", "tmux", "byobu", "systemd-nspawn", "firejail", "toolbox",
		"distrobox-enter", "su", "runuser", "ksu", "machinectl", "schroot", "fakeroot",
		"proot", "zellij", "script", "run0", "dtach", "abduco", NULL,
	};
	for (const char *const *q = l; *q; q++)
		if (streq(p, *q))
			return 1;
	return 0;
}

static int
is_remote_spec(const char *w)
{
	/* user@host:path or host:path (scp/rsync style), not a local path or URL */
	if (w[0] == '/' || w[0] == '.' || w[0] == '~' || strstr(w, "://"))
		return 0;
	const char *colon = strchr(w, ':');
	const char *slash = strchr(w, '/');
	return colon && colon > w && (slash == NULL || colon < slash);
}

/* Where installed programs live; anything else run by path is a local program. */
/* A program path in the standard binary directories, where the system's own tools live
 * (their rules apply by name). */
static int
is_std_bin(const char *p)
{
	static const char *const dirs[] = {
		"/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/",
		"/etc/init.d/", "/etc/rc.d/init.d/", NULL,
	};
	for (const char *const *d = dirs; *d; d++)
		if (starts(p, *d) && !strchr(p + strlen(*d), '/'))
			return 1;
	return 0;
}

static int
is_system_bin(const char *p)
{
	static const char *const dirs[] = {
		"/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/",
		"/usr/lib/", "/usr/lib64/", "/usr/libexec/", "/lib/", "/lib64/", "/snap/bin/",
		"/usr/games/", "/opt/", NULL,
	};
	for (const char *const *d = dirs; *d; d++)
		if (starts(p, *d) && !strstr(p, "/../"))
			return 1;
	return 0;
}

/* Per-program knowledge that the data cannot express. */
static void
special_programs(cmdctx *cc, arg *v, size_t n, const pres *p, const sin *in, sout *out)
{
	actx *c = cc->c;
	const char *prog = cc->prog;
	(void)out;
	/* installing a package file runs its maintainer scripts as root */
	kb_cats cs = cc->spec->cats | (cc->sub ? cc->sub->cats : 0);
	for (int i = 0; i < p->nocc; i++)
		cs |= p->occ[i].o->cats;
	if (cs & KB_CAT(KB_C_PACKAGE_INSTALL)) {
		static const char *const ext[] = {
			".deb", ".rpm", ".snap", ".apk", ".txz", ".tgz", ".pkg.tar.zst", ".pkg.tar.xz",
			".pkg.tar.gz", ".ipk", ".xbps", ".pkg", ".whl", ".gem", ".msi", NULL,
		};
		for (int i = 0; i < p->nops; i++) {
			const char *w = v[p->ops[i]].v;
			int hit = looks_like_url(w);
			for (const char *const *e = ext; *e && !hit; e++)
				hit = ends_with(w, *e);
			if (hit) {
				finding(c, "package-file", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, v[p->ops[i]].span,
				    FMT("Installs the package %s, whose install scripts run as root",
				        shown(c, w)));
				sentence(c, 50, FMT("Installs the package %s; its install scripts run with "
				    "full rights and can do anything.", shown(c, w)));
				if (looks_like_url(w))
					cat(c, LOCKBOX_RISK_HIGH, KB_C_NETWORK_DOWNLOAD);
				break;
			}
		}
	}
	/* scp/rsync/sshfs: a remote side decides the direction */
	if (streq(prog, "scp") || streq(prog, "rsync") || streq(prog, "pscp") ||
	    streq(prog, "sshfs") || streq(prog, "rcp")) {
		int nops = p->nops;
		for (int i = 0; i < nops; i++) {
			const char *w = v[p->ops[i]].v;
			if (!is_remote_spec(w))
				continue;
			lbx_add_effect(c->r, cc->cmd, "network-connect", w);
			if (i == nops - 1 && nops >= 2) {
				lbx_add_effect(c->r, cc->cmd, "network-upload", w);
				cat(c, LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD);
				attack(c, "T1048");
				sentence(c, 45, FMT("Sends files to the remote location %s.", shown(c, w)));
			} else {
				lbx_add_effect(c->r, cc->cmd, "network-download", w);
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
			}
		}
	}
	/* interactive file transfer clients: the lines after them are their commands */
	if (streq(prog, "ftp") || streq(prog, "sftp") || streq(prog, "tftp") ||
	    streq(prog, "lftp") || streq(prog, "smbclient") || streq(prog, "ncftp") ||
	    streq(prog, "pftp") || streq(prog, "tnftp") || streq(prog, "busybox-tftp")) {
		if (out)
			out->xfer = prog;
		for (size_t i = 1; i + 1 < n; i++)
			if (streq(v[i].v, "-c") || streq(v[i].v, "-e") || streq(v[i].v, "--command"))
				xfer_scan(c, prog, v[i + 1].v, v[i + 1].len, v[i + 1].span);
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_CONNECT);
	}
	if (streq(prog, "sshfs") || streq(prog, "rclone") || streq(prog, "s3fs") ||
	    streq(prog, "curlftpfs")) {
		for (int i = 0; i < p->nops; i++)
			if (is_remote_spec(v[p->ops[i]].v) || looks_like_url(v[p->ops[i]].v)) {
				finding(c, "remote-mount", LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD,
				    v[p->ops[i]].span, FMT("Mounts the remote storage %s: files copied "
				        "there leave this machine", shown(c, v[p->ops[i]].v)));
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
				break;
			}
	}
	/* systemctl link/enable a unit file given by path: a new service from that file */
	if (streq(prog, "systemctl") && cc->sub && (streq(cc->sub->name, "enable") ||
	    streq(cc->sub->name, "link") || streq(cc->sub->name, "start"))) {
		for (int i = 0; i < p->nops; i++)
			if (strchr(v[p->ops[i]].v, '/')) {
				finding(c, "service-from-file", LOCKBOX_RISK_HIGH, KB_C_PERSISTENCE,
				    v[p->ops[i]].span, FMT("Installs a service from the file %s; its "
				        "commands run as root", shown(c, v[p->ops[i]].v)));
				cat(c, LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC);
				attack(c, "T1543.002");
				break;
			}
	}
	/* TeX: \write18 runs shell commands, \openout writes files */
	if (streq(prog, "latex") || streq(prog, "pdflatex") || streq(prog, "xelatex") ||
	    streq(prog, "lualatex") || streq(prog, "tex") || streq(prog, "pdftex") ||
	    streq(prog, "etex") || streq(prog, "luatex") || streq(prog, "xetex") ||
	    streq(prog, "amstex") || streq(prog, "context")) {
		for (size_t i = 1; i < n; i++) {
			const char *w = v[i].v;
			if (strstr(w, "write18") || strstr(w, "\\input|") || strstr(w, "shell-escape") ||
			    strstr(w, "\\directlua")) {
				finding(c, "tex-shell", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, v[i].span,
				    FMT("%s is allowed to run shell commands", prog));
				c->f->shell_spawn = 1;
			}
			if (strstr(w, "\\openout")) {
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_FILE_WRITE);
				sentence(c, 30, FMT("Has %s write a file from the document source.", prog));
			}
		}
	}
	/* make --eval: $(shell ...) runs commands, $(file >x,...) writes files */
	if (streq(prog, "make") || streq(prog, "gmake")) {
		for (size_t i = 1; i < n; i++) {
			const char *w = v[i].v;
			const char *t = starts(w, "--eval=") ? w + 7 : (streq(w, "--eval") && i + 1 < n) ?
			    v[i + 1].v : NULL;
			if (t == NULL)
				continue;
			if (strstr(t, "$(file >") || strstr(t, "$(file>")) {
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_FILE_WRITE);
				sentence(c, 30, "Has make write a file from its command line.");
			}
			if (strstr(t, "$(shell") || lbx_mentions_shell(t, strlen(t)))
				finding(c, "make-shell", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, v[i].span,
				    "make runs shell commands given on the command line");
			cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
		}
	}
	/* debugger and database shell commands given on the command line */
	if (streq(prog, "gdb") || starts(prog, "sqlite") || streq(prog, "lldb")) {
		for (size_t i = 1; i + 1 < n; i++) {
			const char *o = v[i].v;
			if (!(streq(o, "-ex") || streq(o, "-iex") || streq(o, "--eval-command") ||
			    streq(o, "-cmd") || streq(o, "-o") || streq(o, "--one-line")))
				continue;
			const char *t = v[i + 1].v;
			if (starts(t, "dump ") || starts(t, "append ") || starts(t, ".output ") ||
			    starts(t, ".once ") || starts(t, ".save ") || starts(t, ".backup ") ||
			    starts(t, "set logging file")) {
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_FILE_WRITE);
				sentence(c, 30, FMT("Has %s write a file.", prog));
			}
			if (starts(t, "shell") || starts(t, "!") || starts(t, ".shell") ||
			    starts(t, ".system") || starts(t, "platform shell")) {
				finding(c, "debugger-shell", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE,
				    v[i + 1].span, FMT("%s runs a shell command", prog));
				c->f->shell_spawn = 1;
			}
			if (starts(t, ".load ") || starts(t, "load ")) {
				finding(c, "library-load", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, v[i + 1].span,
				    FMT("%s loads a native extension", prog));
			}
			i++;
		}
	}
	/* chown/setfacl giving the caller a file; cp copying only ownership and mode */
	if (streq(prog, "chown") || streq(prog, "setfacl") || streq(prog, "chgrp")) {
		for (size_t i = 1; i < n; i++) {
			const char *w = v[i].v;
			if (strstr(w, "$(id -u") || strstr(w, "$(whoami)") || strstr(w, "$USER") ||
			    strstr(w, "${USER}") || strstr(w, "`id -u") || strstr(w, "`whoami`") ||
			    strstr(w, "$(id -g") || strstr(w, "$(logname)")) {
				finding(c, "take-ownership", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION,
				    v[i].span, FMT("Gives the current user %s of the files",
				        streq(prog, "setfacl") ? "full access" : "ownership"));
				attack(c, "T1222.002");
				break;
			}
		}
	}
	if (streq(prog, "cp")) {
		int attrs = 0, pres_all = 0;
		for (size_t i = 1; i < n; i++) {
			attrs |= streq(v[i].v, "--attributes-only");
			pres_all |= starts(v[i].v, "--preserve=") && (strstr(v[i].v, "all") ||
			    strstr(v[i].v, "mode") || strstr(v[i].v, "ownership"));
		}
		if (attrs && pres_all)
			finding(c, "copy-permissions", LOCKBOX_RISK_HIGH, KB_C_PERMISSION_CHANGE,
			    cc->span, "Copies owner and permission bits (setuid included) onto another "
			    "file without its content");
	}
	/* run-parts runs every program in a directory; --regex picks which */
	if (streq(prog, "run-parts")) {
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
		for (size_t i = 1; i < n; i++) {
			const char *w = v[i].v;
			const char *re = starts(w, "--regex=") ? w + 8 : (streq(w, "--regex") &&
			    i + 1 < n) ? v[i + 1].v : NULL;
			if (re && (strstr(re, "sh") || strstr(re, "bash")))
				finding(c, "run-parts-shell", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE,
				    v[i].span, "run-parts is told to run the shell binaries of a directory");
		}
	}
	/* sysctl kernel.core_pattern=|prog runs prog as root on every crash */
	if (streq(prog, "sysctl")) {
		for (size_t i = 1; i < n; i++)
			if ((strstr(v[i].v, "core_pattern") && strchr(v[i].v, '|')) ||
			    strstr(v[i].v, "kernel.modprobe=") || strstr(v[i].v, "hotplug=")) {
				finding(c, "sysctl-exec", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, v[i].span,
				    "Makes the kernel run a program as root (core_pattern/modprobe)");
				cat(c, LOCKBOX_RISK_HIGH, KB_C_PERSISTENCE);
			}
	}
	/* setcap with powerful capabilities */
	if (streq(prog, "setcap")) {
		static const char *const caps[] = {
			"cap_setuid", "cap_setgid", "cap_sys_admin", "cap_dac_override",
			"cap_dac_read_search", "cap_sys_ptrace", "cap_sys_module", "cap_chown",
			"cap_fowner", "cap_net_raw", "cap_sys_rawio", "all", NULL,
		};
		for (size_t i = 1; i < n; i++)
			for (const char *const *k = caps; *k; k++)
				if (strstr(v[i].v, *k) && (strchr(v[i].v, '+') || strchr(v[i].v, '='))) {
					finding(c, "setcap", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION,
					    v[i].span, FMT("Gives a program the capability %s, close to root",
					        shown(c, v[i].v)));
					attack(c, "T1548");
					i = n;
					break;
				}
	}
	/* at/batch: commands read from stdin */
	if ((streq(prog, "at") || streq(prog, "batch")) && in) {
		int has_f = 0;
		for (int i = 0; i < p->nocc; i++)
			if (p->occ[i].o->role == KB_R_EXEC)
				has_f = 1;
		if (!has_f) {
			cat(c, LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC);
			if (in->net)
				download_exec(c, cc->span, in->net_src, FMT("by scheduling it with %s", prog));
			else if (in->text)
				analyze_string(c, in->text, in->tlen, in->tspan, in->texact, NULL, NULL, "at");
		}
	}
	/* file servers: expose the filesystem to the network */
	int server = streq(prog, "httpd") || streq(prog, "http-server") ||
	    streq(prog, "twistd") || streq(prog, "uploadserver");
	if (starts(prog, "php"))
		for (size_t i = 1; i < n; i++)
			if (streq(v[i].v, "-S"))
				server = 1;
	if (starts(prog, "python"))
		for (size_t i = 1; i + 1 < n; i++)
			if (streq(v[i].v, "-m") && (streq(v[i + 1].v, "http.server") ||
			    streq(v[i + 1].v, "SimpleHTTPServer") || streq(v[i + 1].v, "uploadserver") ||
			    streq(v[i + 1].v, "pyftpdlib") || streq(v[i + 1].v, "smtpd") ||
			    streq(v[i + 1].v, "CGIHTTPServer")))
				server = 1;
	if (starts(prog, "ruby"))
		for (size_t i = 1; i + 1 < n; i++)
			if (streq(v[i].v, "-run") || (streq(v[i].v, "-e") && streq(v[i + 1].v, "httpd")))
				server = 1;
	if (server) {
		finding(c, "file-server", LOCKBOX_RISK_HIGH, KB_C_NETWORK_LISTEN, cc->span,
		    FMT("%s serves files to anyone on the network", prog));
		cat(c, LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD);
		sentence(c, 50, FMT("Starts a server (%s) that lets others on the network fetch "
		    "files from this machine.", prog));
	}
	/* tar to or from a remote host (host:path archives) */
	if (cc->spec->handler == KB_H_TAR)
		for (size_t i = 1; i < n; i++)
			if (is_remote_spec(v[i].v) && strchr(v[i].v, '@')) {
				lbx_add_effect(c->r, cc->cmd, "network-connect", v[i].v);
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
			}
	/* data piped into (or redirected from a file into) a network program is sent out */
	int netprog = cc->spec->handler == KB_H_NC || cc->spec->handler == KB_H_SSH ||
	    cc->spec->handler == KB_H_SOCAT || streq(prog, "telnet") ||
	    (cc->spec->handler == KB_H_OPENSSL && n > 1 && streq(v[1].v, "s_client"));
	if (netprog && in && (in->file || (in->piped && !in->net))) {
		finding(c, "stdin-upload", LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD, cc->span,
		    FMT("%s sends %s over the network", prog, in->file ? shown(c, in->file) :
		        "the previous command's output"));
		attack(c, "T1048");
		sentence(c, 60, FMT("Sends %s to another machine over the network.",
		    in->file ? shown(c, in->file) : "the data it is given"));
	}
	if (cc->spec->handler == KB_H_OPENSSL && n > 1 && (streq(v[1].v, "s_client") ||
	    streq(v[1].v, "s_server"))) {
		c->f->raw_net = 1;
		if (out) {
			out->net = 2;
			out->net_listen = streq(v[1].v, "s_server");
		}
	}
}

static int
has_user_opt(arg *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (streq(v[i].v, "--"))
			return 0;
		if (streq(v[i].v, "-u") || starts(v[i].v, "--user"))
			return 1;
	}
	return 0;
}

/* Decodes static base64 text (echo TEXT | base64 -d) so what it hides can be analyzed. */
static char *
b64_decode(actx *c, const char *s, size_t n, size_t *outn)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = lb_arena_alloc(c->a, n * 3 / 4 + 4);
	if (out == NULL)
		return NULL;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '=' || ch == '\n' || ch == ' ' || ch == '\r')
			continue;
		const char *p = ch ? strchr(tbl, ch) : NULL;
		if (p == NULL)
			return NULL; /* not base64: leave it alone */
		acc = (acc << 6) | (uint32_t)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xFF);
		}
	}
	out[o] = 0;
	*outn = o;
	return out;
}

static int
has_cmd_opt(const pres *p)
{
	for (int i = 0; i < p->nocc; i++)
		if (p->occ[i].o->role == KB_R_COMMAND || p->occ[i].o->role == KB_R_EXEC)
			return 1;
	return 0;
}

/* Text written into a file: a script or config that starts a shell, connects out, or
 * loads a library is where many escapes hide (GTFOBins writes them, then runs them). */
static void
content_check(actx *c, const char *text, size_t len, const arg *target)
{
	unsigned f = lbx_scan_code(text, len);
	int shell = lbx_mentions_shell(text, len) || (f & (LBX_CODE_SHPATH | LBX_CODE_PTY));
	int cmdish = (f & LBX_CODE_SHELL) != 0 || memmem(text, len, "ExecStart", 9) ||
	    memmem(text, len, "ExecStop", 8) || memmem(text, len, "command=", 8) ||
	    memmem(text, len, "\n| /", 4) || memmem(text, len, "\n|/", 3) ||
	    memmem(text, len, "\\n| /", 5) || memmem(text, len, "\\n|/", 4) ||
	    (len > 2 && text[0] == '|' && (text[1] == '/' || text[1] == ' '));
	if (memmem(text, len, "root /;", 7) && memmem(text, len, "listen", 6)) {
		finding(c, "writes-root-server", LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD, target->span,
		    FMT("Writes a web server configuration into %s that serves the whole "
		        "filesystem", shown(c, target->v)));
		cat(c, LOCKBOX_RISK_HIGH, KB_C_NETWORK_DOWNLOAD);
	}
	const char *t = shown(c, target->v);
	if ((shell || cmdish) && (f & LBX_CODE_SOCKET)) {
		int bind = (f & LBX_CODE_LISTEN) != 0;
		finding(c, bind ? "writes-bind-shell" : "writes-reverse-shell", LOCKBOX_RISK_CRITICAL,
		    bind ? KB_C_BIND_SHELL : KB_C_REVERSE_SHELL, target->span,
		    FMT("Writes a program into %s that gives a shell over the network", t));
		sentence(c, 90, FMT("Writes a program into %s that hands a shell to the network.", t));
		c->f->shell_content = 1;
	} else if (shell) {
		finding(c, "writes-shell", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, target->span,
		    FMT("Writes text that starts a shell into %s", t));
		sentence(c, 55, FMT("Writes instructions that start a shell into %s, ready to be "
		    "run by another program.", t));
		c->f->shell_content = 1;
	} else if (cmdish) {
		finding(c, "writes-command", LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC, target->span,
		    FMT("Writes text that runs commands into %s", t));
	}
	if ((f & LBX_CODE_LIBLOAD) || memmem(text, len, "load_module", 11)) {
		finding(c, "writes-library-load", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, target->span,
		    FMT("Writes a configuration into %s that loads a native library", t));
	}
}

/* Finds where the inner command starts in a wrapper's words when the data lacks it. */
static void
analyze_argv(actx *c, arg *v, size_t n, const lb_node *node, const sin *in, sout *out)
{
	if (n == 0)
		return;
	if (c->depth >= LBX_MAX_WALK) {
		finding(c, "depth-exceeded", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, v[0].span,
		    "Commands nest too deeply to analyze");
		return;
	}
	lb_span span = join_span(v[0].span, v[n - 1].span);
	if (node)
		span = map_span(c, node->span);
	/* the program name */
	const char *a0 = v[0].v;
	if (!v[0].stat && v[0].w && (v[0].w->flags & (LB_WF_CMDSUB | LB_WF_EXPAND)) &&
	    !(v[0].w->flags & LB_WF_TILDE && !(v[0].w->flags & LB_WF_CMDSUB))) {
		lbx_cmd *cmd = lbx_add_cmd(c->r, a0, span);
		if (cmd) {
			cmd->argc = n;
			cmd->argv = lb_arena_alloc(c->a, n * sizeof *cmd->argv);
			if (cmd->argv)
				for (size_t i = 0; i < n; i++)
					cmd->argv[i] = v[i].v;
			else
				cmd->argc = 0;
		}
		if (word_fetches(c, v[0].w)) {
			download_exec(c, v[0].span, NULL, "as a command name");
		} else {
			finding(c, "dynamic-command", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, v[0].span,
			    FMT("The program to run is computed at run time from data lockbox cannot "
			        "see: %s", shown(c, a0)));
			sentence(c, 30, FMT("Runs a program whose name is only known at run time (%s).",
			    shown(c, a0)));
		}
		c->f->dyn_cmd = 1;
		if (out)
			out->dyn = 1;
		if (in && in->net)
			download_exec(c, span, in->net_src, "into a command computed at run time");
		if (node)
			do_redirs(c, cmd, node->redirs, 1, NULL, NULL);
		return;
	}
	/* `!/bin/sh` typed at the prompt of an interactive program runs /bin/sh */
	if (a0[0] == '!' && a0[1])
		a0++;
	const char *prog = base_name(a0);
	if (*prog == 0)
		prog = a0;
	lbx_cmd *cmd = lbx_add_cmd(c->r, prog, span);
	if (cmd) {
		cmd->argc = n;
		cmd->argv = lb_arena_alloc(c->a, n * sizeof *cmd->argv);
		if (cmd->argv)
			for (size_t i = 0; i < n; i++)
				cmd->argv[i] = v[i].v;
		else
			cmd->argc = 0;
	}
	/* `[ EXPR ]`: the closing bracket is syntax, not an operand */
	if (prog[0] == '[' && !prog[1] && n > 1 && v[n - 1].stat && streq(v[n - 1].v, "]"))
		n--;
	/* stdin set by this command's own redirections (here-docs) */
	sin my_in = in ? *in : (sin){ 0 };
	sout dummy_out = { 0 };
	if (out == NULL)
		out = &dummy_out;
	if ((streq(prog, "echo") || streq(prog, "printf")) && n > 1) {
		/* what it prints feeds the next command (echo CMD | at now) */
		size_t i = 1;
		if (streq(prog, "echo"))
			while (i < n && v[i].stat && v[i].v[0] == '-' && v[i].len > 1 &&
			    strspn(v[i].v + 1, "neE") == v[i].len - 1)
				i++;
		buf b = BUF_INIT;
		int dyn = 0;
		for (size_t j = i; j < n; j++) {
			if (j > i)
				buf_putc(&b, ' ');
			buf_put(&b, v[j].v, v[j].len);
			dyn |= !v[j].stat;
		}
		out->text = dup(c, buf_cstr(&b), b.len);
		out->tlen = b.len;
		out->tspan = i < n ? join_span(v[i].span, v[n - 1].span) : span;
		out->texact = 0;
		out->dyn = dyn;
		buf_free(&b);
	}
	if (streq(prog, "base64") || streq(prog, "base32") || streq(prog, "xxd") ||
	    streq(prog, "basenc") || streq(prog, "uudecode")) {
		int dec = streq(prog, "uudecode");
		for (size_t i = 1; i < n; i++)
			dec |= streq(v[i].v, "-d") || streq(v[i].v, "--decode") || streq(v[i].v, "-D") ||
			    streq(v[i].v, "-r") || streq(v[i].v, "-revert");
		out->obf = dec; /* what comes out was encoded: hidden from a reader */
		size_t dn = 0;
		char *d = dec && streq(prog, "base64") && in && in->text && !in->dynamic ?
		    b64_decode(c, in->text, in->tlen, &dn) : NULL;
		if (d) {
			/* the next command sees the decoded text */
			out->text = d;
			out->tlen = dn;
			out->tspan = in->tspan;
			out->texact = 0;
			out->obf = 1;
		}
	}
	const kb_spec *spec = lookup_prog(c, prog);
	/* what the name says, computed once (both are used several times below) */
	const int shell_name = lbx_is_shell_name(prog);
	const int interp_name = is_interp_name(prog);
	int shellish = shell_name || (spec && spec->handler == KB_H_SH);
	arg wrote = { 0 };
	if (node) {
		sin hd = { 0 };
		do_redirs(c, cmd, node->redirs, shellish, &hd, &wrote);
		if (hd.text) {
			my_in = hd;
			my_in.piped = 0;
		}
		if (hd.file) {
			my_in.file = hd.file;
			my_in.piped = 0;
		}
	}
	in = &my_in;
	/* content written into a file: echo TEXT > f, cat > f <<EOF, ... | tee f */
	int quiet = 0;
	if (wrote.v) {
		const char *wd = c->f->wrote_desc;
		if ((streq(prog, "echo") || streq(prog, "printf")) && out->text) {
			sentence(c, wd ? 40 : 20, FMT("Writes the text \"%s\" into %s%s%s%s.",
			    shown(c, out->text), shown(c, wrote.v), wd ? " (" : "", wd ? wd : "",
			    wd ? ")" : ""));
			quiet = 1;
		} else if (wd) {
			sentence(c, 30, FMT("Writes to %s (%s).", shown(c, wrote.v), wd));
		}
	}
	if (wrote.v) {
		if ((streq(prog, "echo") || streq(prog, "printf")) && out && out->text)
			content_check(c, out->text, out->tlen, &wrote);
		else if (in->text && (streq(prog, "cat") || streq(prog, "tee") || streq(prog, "dd") ||
		    streq(prog, "cp")))
			content_check(c, in->text, in->tlen, &wrote);
	}
	/* a relative path to a shell (./sh -p) is a setuid copy being used */
	int relpath = strchr(a0, '/') && a0[0] != '/';
	if (relpath && (shell_name || (n > 1 && streq(v[1].v, "-p")))) {
		finding(c, "setuid-copy", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION, v[0].span,
		    FMT("Runs a local copy %s (a planted setuid binary keeps root's rights)",
		        shown(c, a0)));
		attack(c, "T1548.001");
	}
	int is_path = strchr(a0, '/') != NULL;
	/* /tmp/script, ./deploy, ~/bin/x: whatever that file is, it is not the system tool
	 * of the same name, so the tool's rules do not apply (shells and interpreters are
	 * still recognized by name: a copied /tmp/bash is still bash) */
	int foreign = is_path && !is_std_bin(a0) && !shellish && !interp_name;
	if (foreign)
		spec = NULL;
	if (is_tui(prog) && !foreign)
		out->tui = prog;
	if (is_path && !is_system_bin(a0)) {
		/* a program or script at a path: its code is whatever that file holds */
		finding(c, "local-program", LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC, v[0].span,
		    FMT("Runs %s, a program or script lockbox cannot see into", shown(c, a0)));
		lbx_add_effect(c->r, cmd, "exec", a0);
		check_path(c, a0, KB_X_EXEC, v[0].span);
	}
	if (!is_path && builtin(c, cmd, prog, v, n, node, in, out, span))
		return;
	if (!is_path && streq(prog, "sudo")) {
		/* sudo -e FILE edits FILE as root (sudoedit); FILE is not a program */
		size_t i = 1;
		int edit = 0;
		while (i < n && word_is_opt(&v[i]) && !streq(v[i].v, "--")) {
			const char *w = v[i].v;
			edit |= streq(w, "-e") || streq(w, "--edit");
			if (w[1] != '-' && !w[2] && strchr("ugCDhprtTUR", w[1]))
				i++; /* the option's argument */
			i++;
		}
		if (i < n && streq(v[i].v, "--"))
			i++;
		if (edit && i < n) {
			arg *nv = lb_arena_alloc(c->a, (n - i + 1) * sizeof *nv);
			if (nv == NULL) {
				c->r->oom = 1;
				return;
			}
			nv[0] = v[0];
			nv[0].v = "sudoedit";
			nv[0].len = 8;
			nv[0].w = NULL;
			nv[0].stat = 1;
			memcpy(nv + 1, v + i, (n - i) * sizeof *nv);
			int ps = c->priv;
			c->priv = 1;
			cat(c, LOCKBOX_RISK_LOW, KB_C_PRIVILEGE_ESCALATION);
			c->depth++;
			analyze_argv(c, nv, n - i + 1, NULL, in, out);
			c->depth--;
			c->priv = ps;
			return;
		}
	}
	if (!is_path && (streq(prog, "exec") || streq(prog, "command") || streq(prog, "builtin") ||
	    streq(prog, "nohup") || streq(prog, "time") || streq(prog, "coproc"))) {
		size_t i = 1;
		int lookup_only = 0;
		while (i < n && word_is_opt(&v[i])) {
			if (streq(prog, "command") && (strchr(v[i].v, 'v') || strchr(v[i].v, 'V')))
				lookup_only = 1;
			if (streq(prog, "exec") && streq(v[i].v, "-a"))
				i++;
			i++;
		}
		if (lookup_only || i >= n)
			return;
		cmdctx cc = { .c = c, .cmd = cmd, .prog = prog, .span = span };
		run_inner_words(&cc, v + i, n - i, in, out);
		return;
	}
	int8_t *roles = lb_arena_alloc(c->a, n);
	if (roles == NULL) {
		c->r->oom = 1;
		return;
	}
	memset(roles, -1, n);
	cmdctx cc = { .c = c, .cmd = cmd, .prog = prog, .spec = spec, .span = span, .v0 = v,
		.nv = n, .roles = roles, .no_sentence = quiet };
	if (spec == NULL) {
		/* unknown program: busybox-style applet names and heuristics */
		lbx_add_risk(c->r, LOCKBOX_RISK_LOW, 0, NULL);
		if (shellish) {
			h_shell(&cc, v, n, in, out);
			return;
		}
		if (interp_name) {
			pres p;
			parse_opts(c, &cc, v, n, &p, 1);
			h_interpreter(&cc, v, n, in, out, &p);
			return;
		}
		if (streq(prog, "env")) {
			size_t i = env_inner(c, v, n);
			if (i < n)
				run_inner_words(&cc, v + i, n - i, in, out);
			return;
		}
		if (is_privileged_wrapper(prog) && n > 1) {
			cat(c, LOCKBOX_RISK_MEDIUM, KB_C_PRIVILEGE_ESCALATION);
			size_t i = 1;
			while (i < n && word_is_opt(&v[i])) {
				if (strchr("ugpCDhrtTU", v[i].v[1]) && !v[i].v[2])
					i++;
				i++;
			}
			if (i >= n)
				return; /* an option's argument was missing: nothing to run */
			sentence(c, 20, FMT("Runs the following as another user (%s):", prog));
			int ps = c->priv;
			c->priv = 1;
			run_inner_words(&cc, v + i, n - i, in, out);
			c->priv = ps;
			return;
		}
		{
			static const kb_spec unknown_spec = { .risk = -1, .operands = -1, .last = -1,
				.readonly = -1, .stdin_role = -1, .wrapper_skip = -1 };
			pres up;
			cc.spec = &unknown_spec;
			parse_opts(c, &cc, v, n, &up, 0);
			special_programs(&cc, v, n, &up, in, out);
			cc.spec = NULL;
		}
		scan_words(&cc, v, n, NULL);
		if (in->text && lbx_mentions_shell(in->text, in->tlen))
			cc.shell_mentioned = 1;
		if (cc.shell_mentioned) {
			finding(c, "shell-argument", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, span,
			    FMT("%s is given a shell to run", prog));
			sentence(c, 40, FMT("Has %s start a shell.", prog));
			c->f->shell_spawn = 1;
			c->f->shell_span = span;
		}
		if (foreign)
			sentence(c, 10, FMT("Runs the program or script at %s; lockbox cannot see what "
			    "it does.", shown(c, a0)));
		else
			sentence(c, 1, FMT("Runs %s, a program lockbox has no rules for.",
			    shown(c, prog)));
		return;
	}
	/* ---- a known program ---- */
	if (spec->handler == KB_H_NONE && (shell_name || interp_name)) {
		/* the data knows the program but not that it is a shell or interpreter */
		kb_spec *tmp = lb_arena_alloc(c->a, sizeof *tmp);
		if (tmp) {
			*tmp = *spec;
			tmp->handler = shell_name ? KB_H_SH : KB_H_INTERPRETER;
			spec = tmp;
			cc.spec = spec;
		}
	}
	pres p;
	int posix = spec->wrapper_skip >= 0 || spec->handler == KB_H_SH ||
	    spec->handler == KB_H_INTERPRETER || spec->handler == KB_H_SSH ||
	    spec->handler == KB_H_XARGS || spec->handler == KB_H_ENV ||
	    spec->handler == KB_H_BUSYBOX || spec->handler == KB_H_SU;
	parse_opts(c, &cc, v, n, &p, posix);
	const kb_spec *sub = cc.sub;
	cc.flags = p.flags;
	int readonly = sub && sub->readonly >= 0 ? sub->readonly : spec->readonly > 0;
	/* an option or subcommand marked readonly (crontab -l, fdisk -l, wipefs -n) turns
	 * the program into a reader: its base risk is capped at low and its categories
	 * (persistence, config-change, ...) do not apply; options, paths and handlers
	 * still add what they find */
	int ro_cap = sub && sub->readonly == 1;
	for (int i = 0; i < p.nocc; i++)
		if (p.occ[i].o->readonly == 1)
			ro_cap = 2;
	if (ro_cap)
		readonly = 1;
	if (ro_cap == 2)
		p.operands_role = -1;
	cc.readonly = readonly;
	/* base risk, categories, attack */
	int base = spec->risk >= 0 ? spec->risk : LOCKBOX_RISK_LOW;
	if (sub && sub->risk >= 0)
		base = sub->risk;
	if (ro_cap && base > LOCKBOX_RISK_LOW && !(ro_cap == 1 && sub->risk >= 0))
		base = LOCKBOX_RISK_LOW;
	if (ro_cap) {
		lbx_add_risk(c->r, base, 0, NULL);
	} else {
		lbx_add_risk(c->r, base, spec->cats, &spec->attack);
		if (sub)
			lbx_add_risk(c->r, base, sub->cats, &sub->attack);
	}
	if (base >= LOCKBOX_RISK_HIGH) {
		const char *what = sub ? FMT("%s %s", prog, sub->name) : prog;
		const char *d = sub && sub->describe ? sub->describe : spec->describe;
		int fc = -1;
		kb_cats cs = (sub ? sub->cats : 0) | spec->cats;
		for (int i = 0; i < KB_C_COUNT && fc < 0; i++)
			if (cs & KB_CAT(i))
				fc = i;
		finding(c, sub ? "risky-subcommand" : "risky-program", base, fc >= 0 ? fc :
		    KB_C_CODE_EXEC, span, FMT("%s%s%s%s", what, d ? " (" : "", d ? d : "",
		        d ? ")" : ""));
	}
	/* options */
	const char *phrases[8], *phrase_arg[8];
	int nph = 0;
	for (int i = 0; i < p.nocc; i++) {
		const optocc *oc = &p.occ[i];
		const kb_opt *o = oc->o;
		int orisk = o->risk;
		int muted = ro_cap == 2 && orisk > LOCKBOX_RISK_LOW && o->readonly != 1;
		if (muted) {
			/* a dry run (wipefs -n -a): what the other options would do does not
			 * happen */
			lbx_add_risk(c->r, LOCKBOX_RISK_LOW, 0, NULL);
			orisk = KB_RISK_UNSET;
		} else {
			lbx_add_risk(c->r, orisk, o->cats, &o->attack);
		}
		if (o->explain && nph < 8 && !muted) {
			int seen = 0;
			for (int j = 0; j < nph; j++)
				seen |= phrases[j] == o->explain;
			if (!seen) {
				phrase_arg[nph] = oc->arg;
				phrases[nph++] = o->explain;
			}
		}
		lb_span os = oc->wi >= 0 && (size_t)oc->wi < n ? v[oc->wi].span : span;
		if (oc->wi >= 0 && (size_t)oc->wi < n && roles[oc->wi] < 0)
			roles[oc->wi] = ROLE_KNOWN_OPT;
		if (oc->argi >= 0 && (size_t)oc->argi < n) {
			roles[oc->argi] = (int8_t)o->role;
			if (o->role == KB_R_NONE)
				for (uint16_t k = 0; k < o->nnames; k++)
					if (streq(o->names[k].s, "-s") || streq(o->names[k].s, "--shell"))
						roles[oc->argi] = ROLE_LOGIN_SHELL;
		}
		if (orisk >= LOCKBOX_RISK_MEDIUM) {
			int fc = -1;
			for (int k = 0; k < KB_C_COUNT && fc < 0; k++)
				if (o->cats & KB_CAT(k))
					fc = k;
			const char *ox = o->explain ? fill_template(c, o->explain, v, &p, 1, oc->arg) :
			    NULL;
			finding(c, "risky-option", orisk, fc >= 0 ? fc : KB_C_CODE_EXEC, os,
			    FMT("%s %s%s%s", prog, o->names[0].s, ox ? ": " : "", ox ? ox : ""));
		}
		if (o->flags & KB_F_NO_VERIFY)
			finding(c, "tls-no-verify", LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD, os,
			    "TLS certificate checks are turned off");
		if (o->flags & KB_F_SETUID) {
			finding(c, "setuid", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION, os,
			    FMT("%s sets the setuid bit", prog));
			attack(c, "T1548.001");
		}
		if ((o->flags & KB_F_SHELL) && o->role == KB_R_NONE) {
			finding(c, "option-shell", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, os,
			    FMT("%s %s starts a shell", prog, o->names[0].s));
			c->f->shell_spawn = 1;
			c->f->shell_span = os;
			if (out)
				out->shell = 1;
		}
		if (o->flags & KB_F_LISTEN)
			cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_LISTEN);
		if (oc->arg) {
			arg a;
			if (oc->argi >= 0 && (size_t)oc->argi < n) {
				a = v[oc->argi];
			} else {
				a = oc->wi >= 0 && (size_t)oc->wi < n ? v[oc->wi] : v[0];
				a.v = oc->arg;
				a.len = oc->alen;
			}
			int role = o->role;
			if (o->flags & KB_F_DOWNLOAD_TO) {
				role = KB_R_WRITE;
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
			}
			if ((o->flags & KB_F_UPLOAD) && role == KB_R_NONE)
				role = KB_R_READ;
			if (o->flags & KB_F_UPLOAD) {
				cat(c, LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD);
				attack(c, "T1048");
				lbx_add_effect(c->r, cmd, "network-upload", a.v[0] == '@' ? a.v + 1 : a.v);
				if (a.v[0] == '@') {
					a.v++;
					a.len--;
				}
			}
			if (role == KB_R_EXEC && (o->flags & KB_F_EXEC) && a.stat) {
				/* find -exec handled below from the word range */
			} else {
				apply_role(&cc, role, &a, in);
			}
			if (role == KB_R_NONE && !readonly && lbx_mentions_shell(a.v, a.len))
				cc.shell_mentioned = 1;
		} else if (o->flags & KB_F_UPLOAD) {
			cat(c, LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD);
			attack(c, "T1048");
		}
	}
	/* find-style -exec ranges */
	for (int i = 0; i < p.nex; i++) {
		size_t s0 = (size_t)p.ex_start[i], e0 = (size_t)p.ex_end[i];
		if (e0 > s0 && e0 <= n) {
			lbx_add_effect(c->r, cmd, "exec", v[s0].v);
			cat(c, LOCKBOX_RISK_LOW, KB_C_CODE_EXEC);
			run_inner_words(&cc, v + s0, e0 - s0, NULL, NULL);
		}
	}
	/* operands */
	int skip_roles = spec->handler == KB_H_FIND || spec->handler == KB_H_TAR ||
	    spec->handler == KB_H_DD || spec->handler == KB_H_SH ||
	    spec->handler == KB_H_SED || spec->handler == KB_H_SSH ||
	    spec->handler == KB_H_NC || spec->handler == KB_H_SOCAT ||
	    spec->handler == KB_H_ENV || spec->handler == KB_H_BUSYBOX ||
	    spec->handler == KB_H_XARGS || spec->handler == KB_H_SU;
	if (spec->handler == KB_H_FIND) {
		/* start points are read; expression words are not operands */
		for (int i = 0; i < p.nops; i++) {
			const char *w = v[p.ops[i]].v;
			if (w[0] == '-' || w[0] == '(' || w[0] == '!' || w[0] == ')')
				break;
			apply_role(&cc, KB_R_READ, &v[p.ops[i]], in);
		}
	}
	if (!skip_roles) {
		const kb_spec *rs = sub ? sub : spec;
		int oprole = p.operands_role >= 0 ? p.operands_role :
		    rs->operands >= 0 ? rs->operands : spec->operands >= 0 ? spec->operands :
		    KB_R_NONE;
		const uint8_t *first = rs->nfirst ? rs->first : sub ? NULL : NULL;
		uint16_t nfirst = rs->nfirst;
		if (!first && sub == NULL && spec->nfirst) {
			first = spec->first;
			nfirst = spec->nfirst;
		}
		int last = rs->last >= 0 ? rs->last : (sub ? spec->last : KB_ROLE_UNSET);
		if (p.operands_role >= 0) {
			first = NULL;
			nfirst = 0;
			last = KB_ROLE_UNSET;
		}
		if ((p.flags & KB_F_IN_PLACE) && oprole == KB_R_READ)
			oprole = KB_R_MODIFY;
		for (int i = 0; i < p.nops; i++) {
			int role = oprole;
			if (first && i < nfirst)
				role = first[i];
			else if (last >= 0 && p.nops >= 2 && i == p.nops - 1)
				role = last;
			arg *a = &v[p.ops[i]];
			apply_role(&cc, role, a, in);
			if ((role == KB_R_NONE || role == KB_R_TEXT) && !readonly &&
			    (lbx_mentions_shell(a->v, a->len) ||
			    (strchr(a->v, '/') && lbx_is_shell_name(base_name(a->v)))))
				cc.shell_mentioned = 1;
		}
		/* cp /bin/sh elsewhere: a shell copy to be made setuid */
		if (last >= 0 && p.nops >= 2 && (last == KB_R_WRITE || last == KB_R_MODIFY)) {
			for (int i = 0; i < p.nops - 1; i++) {
				const char *s = v[p.ops[i]].v;
				if (s[0] == '/' && lbx_is_shell_name(base_name(s))) {
					finding(c, "shell-copy", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION,
					    v[p.ops[i]].span, FMT("Copies the shell %s to another place "
					        "(a classic step to plant a backdoor shell)", shown(c, s)));
					attack(c, "T1548.001");
				}
			}
		}
	}
	/* stdin role from the data: at, batch, crontab -, sh */
	int stdin_role = sub && sub->stdin_role >= 0 ? sub->stdin_role : spec->stdin_role;
	if ((stdin_role == KB_R_COMMAND || stdin_role == KB_R_CODE) && p.nops == 0 &&
	    spec->handler != KB_H_SH && spec->handler != KB_H_INTERPRETER) {
		if (out)
			out->code_stdin = 1;
		if (in->net)
			download_exec(c, span, in->net_src, FMT("by piping it into %s", prog));
		else if (in->text && stdin_role == KB_R_COMMAND)
			analyze_string(c, in->text, in->tlen, in->tspan, in->texact, NULL, NULL,
			    "stdin");
		else if (in->text)
			inline_code(&cc, in->text, in->tlen, in->tspan);
	}
	/* handlers */
	switch (spec->handler) {
	case KB_H_SH:
		h_shell(&cc, v, n, in, out);
		break;
	case KB_H_INTERPRETER:
		h_interpreter(&cc, v, n, in, out, &p);
		break;
	case KB_H_CURL:
		h_fetch(&cc, v, n, out, &p, 0);
		break;
	case KB_H_WGET:
		h_fetch(&cc, v, n, out, &p, 1);
		break;
	case KB_H_NC:
		h_nc(&cc, v, n, out);
		break;
	case KB_H_SOCAT:
		h_socat(&cc, v, n, out);
		break;
	case KB_H_FIND:
		h_find(&cc, v, n, &p, in);
		break;
	case KB_H_TAR:
		h_tar(&cc, v, n, &p);
		break;
	case KB_H_DD:
		h_dd(&cc, v, n);
		break;
	case KB_H_CHMOD:
		if (p.nops > 0 && p.operands_role < 0) {
			/* the first operand is the mode unless --reference was given */
			if (mode_setuid(v[p.ops[0]].v))
				apply_role(&cc, KB_R_MODE, &v[p.ops[0]], in);
		}
		break;
	case KB_H_SED:
		h_sed(&cc, v, n, &p);
		break;
	case KB_H_AWK: {
		int have_f = 0;
		for (int i = 0; i < p.nocc; i++)
			if (p.occ[i].o->role == KB_R_READ || p.occ[i].o->role == KB_R_EXEC)
				have_f = 1;
		for (size_t i = 1; i < n; i++)
			if (streq(v[i].v, "-f") || starts(v[i].v, "--file"))
				have_f = 1;
		h_awk(&cc, v, &p, have_f);
		if (!have_f && p.nops > 0)
			for (int i = 1; i < p.nops; i++)
				if (!strchr(v[p.ops[i]].v, '='))
					apply_role(&cc, KB_R_READ, &v[p.ops[i]], in);
		break;
	}
	case KB_H_SSH: {
		/* ssh [opts] HOST [COMMAND...] */
		if (p.nops > 0) {
			arg *h = &v[p.ops[0]];
			lbx_add_effect(c->r, cmd, "network-connect", h->v);
			cat(c, LOCKBOX_RISK_LOW, KB_C_NETWORK_CONNECT);
			if (p.ops[0] + 1 < (int)n || p.inner >= 0) {
				size_t s0 = (size_t)(p.ops[0] + 1);
				lbx_add_effect(c->r, cmd, "remote-exec", h->v);
				cat(c, LOCKBOX_RISK_MEDIUM, KB_C_REMOTE_EXEC);
				buf b = BUF_INIT;
				for (size_t i = s0; i < n; i++) {
					if (i > s0)
						buf_putc(&b, ' ');
					buf_put(&b, v[i].v, v[i].len);
				}
				lb_span sp = join_span(v[s0].span, v[n - 1].span);
				const char *s = dup(c, buf_cstr(&b), b.len);
				size_t sl = b.len;
				buf_free(&b);
				sentence(c, 20, FMT("Runs a command on the remote host %s:", shown(c, h->v)));
				int rs = c->remote;
				int fr = c->f->file_read;
				c->remote = 1;
				c->f->file_read = 0;
				if (s && s0 < n)
					analyze_string(c, s, sl, sp, 0, NULL, NULL, "ssh");
				if (c->f->file_read)
					cat(c, LOCKBOX_RISK_MEDIUM, KB_C_NETWORK_DOWNLOAD);
				c->f->file_read = fr; /* remote reads are not local reads */
				c->remote = rs;
			} else {
				sentence(c, 20, FMT("Opens a remote shell on %s.", shown(c, h->v)));
			}
		}
		break;
	}
	case KB_H_SU: {
		cat(c, LOCKBOX_RISK_MEDIUM, KB_C_PRIVILEGE_ESCALATION);
		int ci = -1;
		for (size_t i = 1; i + 1 < n; i++)
			if (streq(v[i].v, "-c") || streq(v[i].v, "--command") ||
			    streq(v[i].v, "--session-command")) {
				ci = (int)i + 1;
				break;
			}
		if (ci >= 0 && v[ci].stat) {
			int ps = c->priv;
			c->priv = 1;
			analyze_string(c, v[ci].v, v[ci].len, v[ci].span, 0, NULL, NULL, "su -c");
			c->priv = ps;
		} else if (ci >= 0) {
			finding(c, "dynamic-command", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, v[ci].span,
			    "su -c runs a command built at run time");
		} else if (streq(prog, "runuser") && p.nops > 0 && has_user_opt(v, n)) {
			/* runuser -u USER [--] COMMAND: a wrapper */
			const char *user = NULL;
			for (size_t i = 1; i < n && user == NULL; i++) {
				if ((streq(v[i].v, "-u") || streq(v[i].v, "--user")) && i + 1 < n)
					user = v[i + 1].v;
				else if (starts(v[i].v, "--user="))
					user = v[i].v + 7;
			}
			cc.no_sentence = 1;
			int ps = c->priv;
			const char *pu = c->as_user;
			c->priv = 1;
			c->as_user = user ? FMT("the user %s", shown(c, user)) : "another user";
			run_inner_words(&cc, v + p.ops[0], n - (size_t)p.ops[0], in, out);
			c->priv = ps;
			c->as_user = pu;
		} else if (p.inner < 0) {
			finding(c, "shell-spawn", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION, span,
			    FMT("%s starts a shell as another user", prog));
			sentence(c, 50, FMT("Starts a shell as another user (%s); commands typed "
			    "into it are not shown for review.", prog));
			cc.no_sentence = 1;
			c->f->shell_spawn = 1;
			c->f->shell_span = span;
			if (out)
				out->shell = 1;
		}
		break;
	}
	case KB_H_ENV: {
		size_t i = env_inner(c, v, n);
		if (i < n)
			run_inner_words(&cc, v + i, n - i, in, out);
		return;
	}
	case KB_H_BUSYBOX:
		if (n > 1 && !word_is_opt(&v[1])) {
			run_inner_words(&cc, v + 1, n - 1, in, out);
			return;
		}
		break;
	case KB_H_XARGS:
		if (p.inner >= 0) {
			sin xin = { 0 };
			if (in->net || in->dynamic)
				xin.dynamic = 1;
			run_inner_words(&cc, v + p.inner, n - (size_t)p.inner, &xin, out);
			const char *ip = base_name(v[p.inner].v);
			if (streq(ip, "rm") || streq(ip, "shred") || streq(ip, "unlink") ||
			    streq(ip, "chmod") || streq(ip, "chown") || streq(ip, "mv") ||
			    streq(ip, "truncate") || streq(ip, "kill")) {
				int xc = streq(ip, "kill") ? KB_C_PROCESS_KILL : (streq(ip, "rm") ||
				    streq(ip, "shred") || streq(ip, "unlink")) ? KB_C_FILE_DELETE :
				    KB_C_FILE_WRITE;
				finding(c, "xargs-targets", LOCKBOX_RISK_MEDIUM, xc, span,
				    FMT("%s acts on names read from the input, which are not shown", ip));
				sentence(c, 30, FMT("Runs %s on every name in its input; those names are not "
				    "visible here.", ip));
			}
			if (in->net)
				finding(c, "xargs-network", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, span,
				    "xargs builds commands from data downloaded from the network");
		}
		return;
	default:
		break;
	}
	if (streq(prog, "kill") || streq(prog, "pkill") || streq(prog, "killall"))
		h_kill(&cc, v, n);
	special_programs(&cc, v, n, &p, in, out);
	scan_words(&cc, v, n, roles);
	if (in->text && !readonly && stdin_role < 0 && spec->handler != KB_H_SH &&
	    spec->handler != KB_H_INTERPRETER && lbx_mentions_shell(in->text, in->tlen))
		cc.shell_mentioned = 1;
	/* a program given a shell to run where the data says nothing */
	if (cc.shell_mentioned) {
		finding(c, "shell-argument", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, span,
		    FMT("%s is given a shell to run", prog));
		sentence(c, 40, FMT("Has %s start a shell.", prog));
		c->f->shell_spawn = 1;
		c->f->shell_span = span;
	}
	if (cc.flags & (1u << 31)) {
		/* a security service is stopped/disabled/masked (base risk from the data) */
		int stopping = sub && (streq(sub->name, "stop") || streq(sub->name, "disable") ||
		    streq(sub->name, "mask") || streq(sub->name, "kill"));
		/* service auditd stop, update-rc.d auditd disable: the action is an option word */
		for (int i = 0; i < p.nocc && !stopping; i++)
			for (uint16_t k = 0; k < p.occ[i].o->nnames; k++) {
				const char *nm = p.occ[i].o->names[k].s;
				if (p.occ[i].o->names[k].kind == KB_N_WORD && (streq(nm, "stop") ||
				    streq(nm, "force-stop") || streq(nm, "kill") || streq(nm, "disable") ||
				    streq(nm, "mask") || streq(nm, "remove") || streq(nm, "off")))
					stopping = 1;
			}
		if (stopping) {
			finding(c, "security-service", LOCKBOX_RISK_HIGH, KB_C_SECURITY_DISABLE, span,
			    "Stops a security or logging service");
			attack(c, "T1562.001");
		}
	}
	/* the explanation sentence (the shell and tar handlers write better ones; sudo CMD
	 * is told through CMD's sentences, "As root: ...") */
	int wskip = sub && sub->wrapper_skip >= 0 ? sub->wrapper_skip : spec->wrapper_skip;
	int priv_inner = wskip >= 0 && p.inner >= 0 && (size_t)p.inner < n &&
	    is_privileged_wrapper(prog);
	int priv_shell = is_privileged_wrapper(prog) && !priv_inner &&
	    (cc.flags & (KB_F_SHELL | KB_F_INTERACTIVE)); /* sudo -i: "Opens a root shell" */
	if (spec->handler == KB_H_SH || spec->handler == KB_H_TAR || cc.no_sentence ||
	    priv_inner || priv_shell)
		goto wrap;
	const kb_spec *es = sub && sub->explain ? sub : spec;
	const char *s;
	if (in->piped || in->text || in->file)
		p.none_text = "its input";
	if (es->explain) {
		s = fill_template(c, es->explain, v, &p, 0, NULL);
	} else {
		const char *d = sub && sub->describe ? sub->describe : spec->describe;
		s = FMT("Runs %s%s%s%s", sub ? FMT("%s %s", prog, sub->name) : prog, d ? " (" : "",
		    d ? d : "", d ? ")" : "");
	}
	if (s) {
		buf *ex = &c->f->tmp[1];
		buf_reset(ex);
		for (int i = 0; i < nph; i++) {
			if (i)
				buf_putc(ex, ' ');
			const char *t = fill_template(c, phrases[i], v, &p, 1, phrase_arg[i]);
			buf_puts(ex, t ? t : phrases[i]);
		}
		const char *st = finish_sentence(c, s, ex->len ? buf_cstr(ex) : NULL,
		    cc.describe_hit);
		int prio = base >= LOCKBOX_RISK_HIGH ? 45 : base >= LOCKBOX_RISK_MEDIUM ? 25 :
		    readonly ? 3 : 10;
		if (cc.describe_hit)
			prio += 10;
		if (c->remote)
			st = FMT("On the remote host: %s", st);
		sentence(c, prio, st);
	}
wrap:;
	/* wrappers: the inner command */
	if (wskip >= 0 && p.inner >= 0 && (size_t)p.inner < n) {
		int ps = c->priv;
		const char *pu = c->as_user;
		if (priv_inner) {
			c->priv = 1;
			cat(c, LOCKBOX_RISK_LOW, KB_C_PRIVILEGE_ESCALATION);
			const char *user = NULL;
			for (int i = 0; i < p.nocc; i++)
				if (p.occ[i].o->role == KB_R_USER && p.occ[i].arg)
					user = p.occ[i].arg;
			c->as_user = user ? FMT("the user %s", shown(c, user)) : "root";
		}
		run_inner_words(&cc, v + p.inner, n - (size_t)p.inner, in, out);
		c->priv = ps;
		c->as_user = pu;
	} else if ((shell_when_bare(prog) || (wskip >= 0 && (p.flags & (KB_F_SHELL |
	    KB_F_INTERACTIVE)) && !is_privileged_wrapper(prog)) || (streq(prog, "capsh") &&
	    streq(v[n - 1].v, "--"))) && spec->handler != KB_H_SU && p.nex == 0 &&
	    !(streq(prog, "script") && (p.flags & KB_F_EXEC || p.nocc > 0 ? has_cmd_opt(&p) : 0))) {
		c->f->shell_spawn = 1;
		c->f->shell_span = span;
		if (out)
			out->shell = 1;
		finding(c, "shell-spawn", LOCKBOX_RISK_HIGH, KB_C_SHELL_ESCAPE, span,
		    FMT("%s starts an interactive shell", prog));
		attack(c, "T1059.004");
		sentence(c, 50, FMT("Starts an interactive shell through %s: commands typed into it "
		    "are not shown for review.", prog));
	} else if (is_privileged_wrapper(prog)) {
		cat(c, LOCKBOX_RISK_LOW, KB_C_PRIVILEGE_ESCALATION);
		if (cc.flags & (KB_F_SHELL | KB_F_INTERACTIVE)) {
			c->f->shell_spawn = 1;
			c->f->shell_span = span;
			finding(c, "root-shell", LOCKBOX_RISK_HIGH, KB_C_PRIVILEGE_ESCALATION, span,
			    FMT("%s opens a shell as another user (root by default)", prog));
			sentence(c, 50, FMT("Opens a root shell (%s); commands typed into it are not "
			    "shown for review.", prog));
		}
	}
}

/* ---- deobfuscation ------------------------------------------------------------------------ */

/* Undoes disguises in the record (normalize.c): every disguise becomes an obfuscation
 * finding, what cannot be decided an opaque one, and the recovered text is analyzed as
 * commands of its own, so the record is at least as risky as what it hides. */
static void
deobfuscate(actx *c, const lb_node *root)
{
	lbx_norm nm;
	lockbox_result *r = c->r;
	lb_span whole = { 0, (uint32_t)c->len };
	if (lbx_normalize(c->a, c->k, c->src, c->len, root, &c->f->norm_budget, &nm) != 0) {
		r->oom = 1;
		return;
	}
	int hidden = 0, word_level = 0;
	for (lbx_note *x = nm.notes; x; x = x->next) {
		lb_span sp = x->span.end ? map_span(c, x->span) : whole;
		if (x->opaque) {
			finding(c, x->id, LOCKBOX_RISK_HIGH, KB_C_OPAQUE, sp, x->msg);
			r->opaque = 1;
			continue;
		}
		finding(c, x->id, LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, sp, x->msg);
		hidden = 1;
		word_level |= strcmp(x->id, "decoded-payload") != 0;
	}
	if (hidden) {
		attack(c, "T1027");
		sentence(c, 85, "The command is written in a disguised form that hides what it "
		    "runs; lockbox undid the disguise to show what actually runs.");
	}
	for (lbx_layer *l = nm.layers; l; l = l->next) {
		lb_span ls = l->span.end ? map_span(c, l->span) : whole;
		lbx_deob *d = lbx_add_deob(r, l->text, l->len, l->via, ls);
		analyze_string(c, l->text, l->len, ls, 0, NULL, NULL, "decoded");
		if (d)
			d->f1 = r->nfindings;
	}
	if (nm.text && word_level) {
		lbx_deob *d = lbx_add_deob(r, nm.text, nm.len, nm.how, whole);
		analyze_string(c, nm.text, nm.len, whole, 0, NULL, NULL, "deobfuscated");
		if (d)
			d->f1 = r->nfindings;
	}
}

/* ---- entry point ------------------------------------------------------------------------- */

int
lockbox_load(lockbox **out, const char *rules_dir, const char *const *extra, buf *errbuf)
{
	lockbox *lb = calloc(1, sizeof *lb);
	if (lb == NULL)
		return ESC_ENOMEM;
	int rc = kb_load(&lb->k, rules_dir, extra, errbuf);
	if (rc) {
		free(lb);
		return rc;
	}
	/* Windows rules (PowerShell, cmd.exe) live in rules_dir/windows/ */
	if ((rc = winkb_load(&lb->wk, rules_dir, extra, errbuf)) != 0) {
		kb_free(lb->k);
		free(lb);
		return rc;
	}
	*out = lb;
	return 0;
}

void
lockbox_free(lockbox *lb)
{
	if (lb == NULL)
		return;
	kb_free(lb->k);
	winkb_free(lb->wk);
	sigma_free(lb->sigma);
	free(lb);
}

int
lockbox_load_sigma(lockbox *lb, const char *dir, buf *report, int verbose)
{
	if (lb == NULL || dir == NULL)
		return ESC_EINVAL;
	if (lb->sigma == NULL && (lb->sigma = sigma_new()) == NULL)
		return ESC_ENOMEM;
	return sigma_load_dir(lb->sigma, dir, report, verbose);
}

size_t
lockbox_sigma_count(const lockbox *lb)
{
	return lb ? sigma_count(lb->sigma) : 0;
}

size_t
lockbox_program_count(const lockbox *lb)
{
	return lb ? kb_program_count(lb->k) : 0;
}

static void
text_findings(lockbox_result *r)
{
	lb_span first[LBX_TXT_KINDS];
	memset(first, 0, sizeof first);
	unsigned t = lbx_scan_text(r->input, r->len, first);
	if (!(t & ~(unsigned)LBX_TXT_NUL))
		return;
	/* what the reviewer sees is not what runs: never less than critical */
	static const struct {
		unsigned bit;
		int k;
		const char *id;
		int sev;
		const char *msg;
	} kinds[] = {
		{ LBX_TXT_BIDI, 1, "bidi-control", LOCKBOX_RISK_CRITICAL,
		  "A bidirectional-text control character reorders what is displayed" },
		{ LBX_TXT_ZEROWIDTH, 2, "zero-width", LOCKBOX_RISK_CRITICAL,
		  "An invisible character (zero-width, tag or filler) hides in the command" },
		{ LBX_TXT_ANSI, 7, "terminal-escape", LOCKBOX_RISK_CRITICAL,
		  "An ANSI/OSC terminal escape sequence can rewrite what the screen shows" },
		{ LBX_TXT_CONTROL, 0, "control-char", LOCKBOX_RISK_CRITICAL,
		  "A control character can change what a terminal shows" },
		{ LBX_TXT_CR_OVER, 8, "carriage-return", LOCKBOX_RISK_CRITICAL,
		  "A carriage return makes the text after it overwrite the start of the line on a "
		  "terminal" },
		{ LBX_TXT_CR, 5, "carriage-return", LOCKBOX_RISK_HIGH,
		  "A carriage return at the end of a line (Windows line ending) becomes part of the "
		  "last word" },
		{ LBX_TXT_BADUTF8, 3, "invalid-utf8", LOCKBOX_RISK_CRITICAL,
		  "Bytes that are not valid UTF-8 (shown as U+FFFD in JSON, \\xHH when explained)" },
		{ LBX_TXT_HOMOGLYPH, 6, "homoglyph", LOCKBOX_RISK_CRITICAL,
		  "A letter or sign that looks like an ASCII one but is not (look-alike character)" },
		{ LBX_TXT_BLANKS, 9, "whitespace-run", LOCKBOX_RISK_CRITICAL,
		  "A long run of blanks pushes the rest of the line off a normal screen" },
	};
	if (t & LBX_TXT_BADUTF8)
		r->bad_utf8 = 1;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if ((t & kinds[i].bit) && !(kinds[i].bit == LBX_TXT_CR && (t & LBX_TXT_CR_OVER)))
			lbx_add_finding(r, kinds[i].id, kinds[i].sev, KB_C_DISPLAY_DECEPTION,
			    first[kinds[i].k], kinds[i].msg);
	lbx_add_sentence(r, "The text contains hidden, look-alike or screen-control characters, "
	    "so what is displayed may not be what runs.", 99);
}

/* Analyzes a record that does not parse as a whole one line at a time. Lines after an
 * interactive interpreter or file transfer client are treated as typed into it. */
static void
line_mode(actx *c)
{
	const char *in = c->src;
	size_t len = c->len;
	size_t ls = 0;
	while (ls < len) {
		const char *nl = memchr(in + ls, '\n', len - ls);
		size_t le = nl ? (size_t)(nl - in) : len;
		if (le > ls) {
			lb_node *root = NULL;
			lb_parse_error perr = { 0 };
			int rc = lb_parse(c->a, in + ls, le - ls, &root, &perr);
			actx lc = *c;
			lc.src = in + ls;
			lc.len = le - ls;
			lc.exact = 1;
			lc.base = (uint32_t)ls;
			lb_span ls_span = { (uint32_t)ls, (uint32_t)le };
			sout so = { 0 };
			if (rc == ESC_ENOMEM || rc == ESC_ETOOBIG)
				return;
			if (rc == 0 && root) {
				walk(&lc, root, NULL, &so);
			} else {
				if (root)
					walk(&lc, root, NULL, &so);
				unparsed_scan(c, in + ls, le - ls, ls_span);
			}
			if (so.tui && le < len) {
				lb_span rest = { (uint32_t)(le + 1), (uint32_t)len };
				tui_scan(c, so.tui, in + le + 1, len - le - 1, rest);
			}
			if ((so.repl || so.xfer) && le < len) {
				lb_span rest = { (uint32_t)(le + 1), (uint32_t)len };
				if (so.repl) {
					cmdctx rc2 = { .c = c, .prog = so.repl };
					inline_code(&rc2, in + le + 1, len - le - 1, rest);
					return;
				}
				xfer_scan(c, so.xfer, in + le + 1, len - le - 1, rest);
			}
		}
		ls = le + 1;
	}
}

/* Bytes that start or separate a word, operator or expansion: a cheap upper bound on
 * the size of the syntax tree a record needs. */
static int
is_unit_byte(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '|' || ch == ';' || ch == '&' ||
	    ch == '$' || ch == '`' || ch == '(' || ch == '<' || ch == '>' || ch == '{';
}

int
lockbox_analyze(const lockbox *lb, const char *src, size_t len, const char *shell,
    lockbox_result **out)
{
	if (lb == NULL || out == NULL || (src == NULL && len))
		return ESC_EINVAL;
	if (shell && (!strcmp(shell, "powershell") || !strcmp(shell, "pwsh") ||
	    !strcmp(shell, "cmd")))
		return pwsh_analyze(lb->wk, src, len, shell, out);
	if (shell && strcmp(shell, "bash") != 0 && strcmp(shell, "sh") != 0)
		return ESC_EINVAL;
	if (len > UINT32_MAX / 2)
		return ESC_ETOOBIG;
	lb_arena *a = lbx_arena_get();
	if (a == NULL)
		return ESC_ENOMEM;
	lockbox_result *r = lb_arena_alloc(a, sizeof *r);
	if (r == NULL) {
		lb_arena_free(a);
		return ESC_ENOMEM;
	}
	r->a = a;
	r->shell = "bash";
	r->len = len;
	char *in = lb_arena_alloc(a, len + 1);
	if (in == NULL) {
		lb_arena_free(a);
		return ESC_ENOMEM;
	}
	if (len)
		memcpy(in, src, len);
	r->input = in;
	text_findings(r);
	facts f = { 0 };
	scratch *scr = scratch_get();
	if (scr == NULL) {
		lb_arena_free(a);
		return ESC_ENOMEM;
	}
	f.tmp = scr->tmp;
	/* A huge record (a|a|a|... over a megabyte) would need hundreds of megabytes of
	 * syntax tree and analysis: only its first LBX_MAX_UNITS words and operators are
	 * analyzed, and the record is marked as not fully seen (never auto-approved). */
	size_t plen = len;
	if (len > LBX_MAX_UNITS) {
		size_t units = 0;
		for (size_t i = 0; i < len; i++) {
			if (!is_unit_byte((unsigned char)in[i]))
				continue;
			if (++units > LBX_MAX_UNITS) {
				plen = i;
				break;
			}
		}
	}
	if (plen < len) {
		lb_span rest = { (uint32_t)plen, (uint32_t)len };
		lbx_add_finding(r, "too-large", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, rest,
		    lbx_printf(a, "The command is too large to analyze fully: only its first %zu "
		        "bytes were analyzed", plen));
		lbx_add_sentence(r, "The command is too large to analyze fully; only its beginning "
		    "was analyzed.", 70);
	}
	actx c = { .k = lb->k, .r = r, .a = a, .src = in, .len = plen, .exact = 1, .f = &f };
	lb_node *root = NULL;
	lb_parse_error perr = { 0 };
	int rc = lb_parse(a, in, plen, &root, &perr);
	if (rc == ESC_ENOMEM || rc == ESC_ETOOBIG) {
		lb_span whole = { 0, (uint32_t)len };
		lbx_add_finding(r, "too-large", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, whole,
		    "The command is too large to analyze");
		root = NULL;
		rc = 0;
		if (r->oom) {
			lb_arena_free(a);
			scratch_put(scr);
			return ESC_ENOMEM;
		}
	} else if (rc != 0) {
		if (perr.depth_exceeded || rc == ESC_EDEPTH) {
			lbx_add_finding(r, "depth-exceeded", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, perr.span,
			    "The command nests too deeply to analyze");
		} else {
			int has_nul = memchr(in, 0, len) != NULL;
			lbx_add_finding(r, has_nul ? "nul-byte" : "parse-error", LOCKBOX_RISK_MEDIUM,
			    has_nul ? KB_C_OBFUSCATION : KB_C_OPAQUE, perr.span,
			    has_nul ? "The command contains a NUL byte, which bash silently drops" :
			    lbx_printf(a, "The command does not parse as bash: %s",
			        perr.msg ? perr.msg : "syntax error"));
			if (has_nul)
				r->opaque = 1;
		}
		lbx_add_sentence(r, "Part of this command is not valid shell syntax, so it cannot be "
		    "fully analyzed.", 70);
		char q = 0;
		if (perr.msg && !strncmp(perr.msg, "unterminated '", 14))
			q = '\'';
		else if (perr.msg && !strncmp(perr.msg, "unterminated \"", 14))
			q = '"';
		lb_node *fixed = NULL;
		if (q) {
			/* an unclosed quote: analyze it as if closed at the end (bash would wait
			 * for the rest; what is there already runs) */
			char *rp = lb_arena_alloc(a, plen + 2);
			lb_parse_error perr2 = { 0 };
			if (rp) {
				memcpy(rp, in, plen);
				rp[plen] = q;
				if (lb_parse(a, rp, plen + 1, &fixed, &perr2) != 0)
					fixed = NULL;
				else {
					actx rc2 = c;
					rc2.src = rp;
					rc2.len = plen + 1;
					walk(&rc2, fixed, NULL, NULL);
				}
			}
		}
		if (fixed) {
			root = NULL;
		} else if (!perr.depth_exceeded && rc != ESC_EDEPTH && memchr(in, '\n', plen)) {
			/* recover line by line: snippets often mix shell lines with keystrokes
			 * typed into an interactive program */
			line_mode(&c);
			root = NULL;
		} else {
			lb_span es = perr.span;
			if (es.start < plen)
				unparsed_scan(&c, in + es.start, plen - es.start, es);
		}
	}
	f.norm_budget = LBX_NORM_BUDGET;
	if (root)
		walk(&c, root, NULL, NULL);
	/* the slow path only when the text could hold a disguise */
	if (root && plen == len && lbx_norm_maybe(in, plen))
		deobfuscate(&c, root);
	/* reverse shell: /dev/tcp plus a shell (bash -i >& /dev/tcp/h/p 0>&1) */
	if (f.devtcp && (f.shell_spawn || f.dyn_cmd) && !f.rshell_reported) {
		lbx_add_finding(r, "reverse-shell", LOCKBOX_RISK_CRITICAL, KB_C_REVERSE_SHELL,
		    f.devtcp_span, lbx_printf(a, "A shell's input and output go to %s",
		        f.devtcp_target ? f.devtcp_target : "a network connection"));
		lbx_add_attack(r, "T1059.004");
		lbx_add_sentence(r, lbx_printf(a, "Connects to %s and gives the other side a shell "
		    "on this machine (a reverse shell).", f.devtcp_target ? f.devtcp_target :
		    "a remote host"), 95);
	}
	if ((f.raw_net || f.devtcp) && f.file_read) {
		lbx_add_finding(r, "raw-upload", LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD,
		    f.devtcp ? f.devtcp_span : (lb_span){ 0, (uint32_t)len },
		    "Reads files and sends them over a raw network connection");
		lbx_add_attack(r, "T1048");
	}
	if ((f.raw_net || f.devtcp) && f.file_write) {
		lbx_add_risk(r, LOCKBOX_RISK_MEDIUM, KB_CAT(KB_C_NETWORK_DOWNLOAD), NULL);
		lbx_add_sentence(r, "Saves data received over a raw network connection into a file.",
		    40);
	}
	scratch_put(scr);
	if (lb->sigma && sigma_apply(lb->sigma, r) != 0)
		r->oom = 1;
	lbx_finalize(r);
	if (r->oom) {
		lb_arena_free(a);
		return ESC_ENOMEM;
	}
	*out = r;
	return 0;
}

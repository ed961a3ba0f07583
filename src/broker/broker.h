/* broker.h — runs exactly the approved bytes on a target (local or ssh), captures stdout
 * and stderr separately with a size cap and a hash of everything, enforces a time limit
 * that kills the whole process group, redacts output for operators and attests what
 * changed on the target. A peer of lockbox, policy and audit: it knows none of them; the
 * workflow describes a target to it in the plain structs below. */
#ifndef ESCORT_BROKER_BROKER_H
#define ESCORT_BROKER_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define BROKER_HASH_LEN 32
#define BROKER_OUT_MAX ((size_t)1 << 20)   /* bytes kept per stream by default */
#define BROKER_TIMEOUT_DEFAULT_MS 600000u   /* when the caller gives none */
#define BROKER_EXIT_TIMEOUT 124             /* exit_code of a run that was killed on time */
#define BROKER_CONNECT_TIMEOUT_SEC 10
#define BROKER_KEEPALIVE_SEC 30

/* Beyond ESC_E*: the target could not be reached or refused us (message says why). */
#define BROKER_ECONNECT (-110)
/* The target's host key is unknown or differs from the pinned one: nothing was sent. */
#define BROKER_EHOSTKEY (-111)
/* Authentication with the configured key failed. */
#define BROKER_EAUTH (-112)

enum broker_transport { BROKER_LOCAL = 0, BROKER_SSH = 1 };
enum broker_stream { BROKER_STDOUT = 1, BROKER_STDERR = 2 };

/* What the workflow knows about a target, as plain strings (all borrowed). */
typedef struct broker_target {
	const char *name; /* for messages */
	int transport;    /* BROKER_LOCAL or BROKER_SSH */
	const char *workdir; /* NULL: "/" locally, the login directory over ssh */
	/* local: the user to become when escort runs as root (NULL: stay who we are) */
	const char *run_as; /* as non-root: must be NULL or our own user name, else refused */
	/* ssh */
	const char *host;
	unsigned port;           /* 0: 22 */
	const char *user;        /* NULL: the current user name */
	const char *host_key;    /* pinned "SHA256:<base64>" (required: none refuses) */
	const char *key_file;    /* private key (kept by escort, never shown to operators) */
	unsigned keepalive_sec;  /* 0: BROKER_KEEPALIVE_SEC */
	unsigned connect_timeout_sec; /* 0: BROKER_CONNECT_TIMEOUT_SEC */
} broker_target;

/* Called for every chunk of output in arrival order (stream: BROKER_STDOUT/STDERR), before
 * the cap applies: the caller can hash or stream everything. */
typedef void (*broker_output_fn)(void *ctx, int stream, const unsigned char *p, size_t n);

typedef struct broker_limits {
	unsigned timeout_ms; /* 0: BROKER_TIMEOUT_DEFAULT_MS */
	size_t out_max;      /* bytes kept per stream; 0: BROKER_OUT_MAX */
	/* local resource limits (0: leave as is); core dumps are always off */
	uint64_t cpu_sec;
	uint64_t as_bytes;
	uint64_t fsize_bytes;
	uint64_t nproc;
	const char *const *env; /* extra "NAME=value" entries (NULL-terminated) or NULL */
	broker_output_fn on_output;
	void *ctx;
} broker_limits;

typedef struct broker_result {
	int exit_code; /* 0..255; 128+N when killed by signal N; 124 on time-out; 255 unknown */
	int timed_out;
	buf out, err;  /* the first out_max bytes of each stream */
	uint64_t out_total, err_total;
	unsigned char out_sha[BROKER_HASH_LEN], err_sha[BROKER_HASH_LEN]; /* of the full streams */
	int64_t connect_ms; /* 0 when a connection was reused */
	int64_t run_ms;
	int reused;         /* 1: an open ssh connection was reused */
} broker_result;

typedef struct broker broker;

/* A broker keeps ssh connections open for reuse within this process (one thread). */
int broker_new(broker **out);
void broker_free(broker *b); /* NULL-safe; closes every connection */

/* Runs `len` exact bytes as one `bash --noprofile --norc -c BYTES` on the target with a
 * scrubbed environment. The bytes must not contain NUL (ESC_EINVAL). Returns 0 when the
 * command ran (whatever its exit status, also on time-out), else a negative code with the
 * reason in msg; res is initialized either way (broker_result_free it). */
int broker_run(broker *b, const broker_target *t, const unsigned char *cmd, size_t len,
               const broker_limits *lim, broker_result *res, buf *msg);
void broker_result_free(broker_result *res); /* NULL-safe */

/* Closes a cached connection to t (e.g. after an error), if any. */
void broker_disconnect(broker *b, const broker_target *t);

/* The server's host key fingerprint ("SHA256:<base64>") without authenticating; for
 * admins pinning a new target. */
int broker_ssh_fingerprint(const broker_target *t, char *out, size_t outlen, buf *msg);

/* Quotes bytes for a POSIX shell (single quotes; ' becomes '\''). */
int broker_shell_quote(buf *out, const unsigned char *p, size_t n);

/* ---- redaction (what an operator may see) ---- */

enum broker_redact_kind {
	BROKER_RK_PRIVATE_KEY = 0, /* PEM / OpenSSH / PGP private key blocks */
	BROKER_RK_PASSWORD_HASH,   /* crypt(3) hashes: $1$ $2b$ $5$ $6$ $y$ ... */
	BROKER_RK_AWS_ACCESS_KEY,  /* AKIA... / ASIA... */
	BROKER_RK_AWS_SECRET_KEY,  /* 40 characters after an aws secret key name */
	BROKER_RK_JWT,
	BROKER_RK_GITHUB_TOKEN,
	BROKER_RK_GITLAB_TOKEN,
	BROKER_RK_ASSIGNED_SECRET, /* password=/secret=/token= values */
	BROKER_RK_KEYTAB,          /* base64 of a Kerberos keytab (0x0502 magic) */
	BROKER_RK_POLICY,          /* a match of a pattern from the policy (redact_patterns) */
	BROKER_RK_COUNT
};

typedef struct broker_redaction {
	size_t count[BROKER_RK_COUNT];
	size_t total;
} broker_redaction;

/* Appends in[0..n) to out with every secret replaced by "[REDACTED:<kind>]"; counts what
 * was replaced (counts may be NULL; they are added to, not reset). Never fails on odd
 * input; ESC_ENOMEM / ESC_ETOOBIG from out only. Redacting redacted text changes nothing. */
int broker_redact(const unsigned char *in, size_t n, buf *out, broker_redaction *counts);
const char *broker_redact_kind_name(int kind); /* "private-key"...; "?" out of range */

/* Extra patterns from the policy (POSIX extended regular expressions, REG_NEWLINE: `.`
 * and bracket expressions do not cross lines, ^ and $ match at line ends), compiled once.
 * Matches become "[REDACTED:policy-pattern]". */
#define BROKER_REDACT_PATTERNS_MAX 64
typedef struct broker_redact_rules broker_redact_rules;
/* ESC_EINVAL with "pattern N: why" in msg for a pattern that does not compile or that
 * matches the empty string (it would redact nothing but loop everywhere). */
int broker_redact_rules_new(broker_redact_rules **out, const char *const *patterns, size_t n,
                            buf *msg);
void broker_redact_rules_free(broker_redact_rules *r); /* NULL-safe */
/* broker_redact, then the extra patterns over what is left between markers (extra may be
 * NULL: exactly broker_redact). Still idempotent. */
int broker_redact_ex(const unsigned char *in, size_t n, buf *out, broker_redaction *counts,
                     const broker_redact_rules *extra);
/* "2 password hashes, 1 private key" ("" when nothing was redacted). */
int broker_redaction_summary(const broker_redaction *c, buf *out);

/* ---- attestation (what changed on the target) ---- */

/* A read-only snapshot of sensitive state, as sorted lines "KIND\tNAME\tVALUE\n":
 * file hashes and metadata, authorized_keys/crontab lines (hashed), listening sockets,
 * setuid/setgid files, kernel modules. root (NULL or "/" for the real one) prefixes every
 * file path, for tests; sockets and modules are always the live ones. */
int broker_attest(broker *b, const broker_target *t, const char *root, buf *snapshot,
                  buf *msg);
/* Plain-words lines, one per change ("added 1 key to /root/.ssh/authorized_keys",
 * "new listening port tcp 4444"); *nchanges counts them (0: nothing changed). */
int broker_attest_diff(const char *before, size_t blen, const char *after, size_t alen,
                       buf *text, size_t *nchanges);

/* ---- sessions: persistent shells (shell.c, shell_frame.c) ---- */
/* An interactive session keeps one shell on the target and feeds it one approved line at
 * a time. After each line the shell prints "ESCORT-<32 hex>-<tag>:<status>\n"; the 32
 * hex digits are drawn afresh for every line after it was approved and exist only in the
 * command bash has already parsed, so neither the line's text nor its output can know
 * them in advance. tag 'e': the line ended; 'i': the probe sent after an interrupt. */

#define BROKER_MARK_HEX 32
#define BROKER_MARK_PREFIX "ESCORT-"
/* longest marker: prefix, hex, '-', tag, ':', 3 digits, '\n' */
#define BROKER_MARK_MAX (sizeof(BROKER_MARK_PREFIX) - 1 + BROKER_MARK_HEX + 7)

typedef void (*broker_frame_out)(void *ctx, const unsigned char *p, size_t n);

/* Scanner state: output bytes pass through, markers are removed and recorded. */
typedef struct broker_frame {
	char mark[sizeof(BROKER_MARK_PREFIX) + BROKER_MARK_HEX + 1]; /* "ESCORT-<hex>-" */
	size_t marklen;
	unsigned char hold[BROKER_MARK_MAX]; /* a possible marker cut by a chunk boundary */
	size_t nhold;
	int seen_end, seen_probe; /* markers seen ('e', 'i') */
	int status_end, status_probe;
} broker_frame;

/* hex: exactly BROKER_MARK_HEX lowercase hex digits (ESC_EINVAL otherwise). */
int broker_frame_init(broker_frame *f, const char *hex);
/* Passes every byte that is not part of a complete marker to out, in order, holding back
 * at most BROKER_MARK_MAX - 1 bytes that may begin one. Something that looks like a
 * marker but is not exactly one (other hex, tag, no digits, status > 255) is output. */
void broker_frame_feed(broker_frame *f, const unsigned char *p, size_t n, broker_frame_out out,
                       void *ctx);
/* Hands out what is held (at the end of the stream). */
void broker_frame_flush(broker_frame *f, broker_frame_out out, void *ctx);
/* A fresh random marker (hex gets BROKER_MARK_HEX + 1 bytes). */
void broker_mark_new(char *hex);

typedef struct broker_shell broker_shell;

enum broker_shell_action { BROKER_SHELL_GO = 0, BROKER_SHELL_INTERRUPT, BROKER_SHELL_KILL };

typedef struct broker_shell_io {
	unsigned timeout_ms; /* per line; 0: BROKER_TIMEOUT_DEFAULT_MS */
	broker_output_fn on_output; /* the line's output (stdout and stderr merged) */
	/* Asked about every 50 ms while a line runs: BROKER_SHELL_GO, _INTERRUPT (Ctrl-C:
	 * SIGINT to what the line started; the shell stays) or _KILL (the kill switch). */
	int (*poll)(void *ctx);
	void *ctx;
} broker_shell_io;

typedef struct broker_shell_result {
	int exit_code;   /* the line's status; 130 after an interrupt, 124 on time-out */
	int interrupted; /* an interrupt was sent */
	int timed_out;
	int killed;       /* the shell is gone: killed (kill switch, or a line that ignored the
	                   * interrupt past its time limit) */
	int shell_exited; /* the line ended the shell itself (exit, exec) */
	uint64_t total;   /* output bytes */
	int64_t ms;
} broker_shell_result;

/* Starts `bash --noprofile --norc --noediting -i` for t with a scrubbed environment plus
 * env. local: a child in its own session and process group, stdin the command pipe,
 * stdout and stderr one pipe, in t->workdir or "/". ssh: an exec channel (the same trust
 * rules as broker_run: pinned host key, escort's key), in the process group sshd made,
 * whose id the login shell reports first; signals and clean-up go through a second
 * channel. Each line runs with stdin from /dev/null: nothing typed while it runs reaches
 * it, so every byte it receives was approved. */
int broker_shell_open(broker_shell **out, const broker_target *t, const char *const *env,
                      buf *msg);
/* Runs one line (exact bytes, no NUL) and waits for its marker. After the line every
 * process it left behind in the shell's session is killed. Returns 0 whenever the line
 * was handed to the shell (res says how it ended), else a negative code. */
int broker_shell_run(broker_shell *sh, const unsigned char *line, size_t len,
                     const broker_shell_io *io, broker_shell_result *res, buf *msg);
int broker_shell_alive(const broker_shell *sh);
/* The shell's pid (= its process group and session id) and start time in clock ticks
 * after boot (/proc/PID/stat field 22), so another process can kill it safely; 0 for an
 * ssh shell (its process group is on the target: only its connection can stop it). */
int64_t broker_shell_pid(const broker_shell *sh);
int64_t broker_shell_start(const broker_shell *sh);
/* Kills the shell and every process in its session and process group (SIGKILL), and
 * reaps the shell. NULL-safe; idempotent. */
void broker_shell_kill(broker_shell *sh);
void broker_shell_close(broker_shell *sh); /* kills what is left; NULL-safe */
/* From another process: kills the shell pid (if its start time still matches, so a
 * reused pid is never hit) with its process group and session. 0 when killed or already
 * gone; ESC_EIO when not permitted (message in msg). */
int broker_shell_kill_pid(int64_t pid, int64_t start, buf *msg);
/* Start time in ticks of a live process (ESC_ENOENT: no such process). */
int broker_proc_start(int64_t pid, int64_t *start);
/* ---- end sessions ---- */

#endif

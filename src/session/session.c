/* session.c — the operator's side of an escorted session: every line goes through the
 * workflow (analysis, policy, escorts' approvals), approved lines run in the session's
 * persistent shell, output is streamed (redacted) to the operator and recorded in full,
 * and the escorts' kill switch and presence quorum are watched throughout. */
#include "session/session.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/sysio.h"
#include "workflow/wf_presence.h"

#define KILL_CHECK_MS 200   /* how often a running line asks the store for the kill switch */
#define REDACT_HOLD 4096    /* operator output is redacted line by line, up to this much */
#define REDACT_KEY_HOLD (256 * 1024) /* an open private key block is held up to this much */

struct sess {
	wf *w;
	char *actor;
	char *target;
	int64_t id;
	sess_ui ui;
	sess_cast *cast;
	wf_shell *shell;
	/* attestation (the target's settings.attest): snapshots at start and end */
	int attest;
	buf snap0, attest_err;
	char path[4096];
	int ended;
	int killed;
	size_t lines;
	unsigned timeout_s;
	policy_sessions ps;
	/* the running line */
	EVP_MD_CTX *md;
	buf keep;     /* its first output bytes (stored with the request) */
	uint64_t total;
	buf pending;  /* operator output waiting for the end of its line (redaction) */
	int64_t last_check;
	int kill_seen;
};

static int64_t
real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
nap(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		break; /* a signal (Ctrl-C) ends the nap: the caller looks at it */
}

static void
notice(sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
notice(sess *s, const char *fmt, ...)
{
	buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (s->ui.notice)
		s->ui.notice(s->ui.ctx, buf_cstr(&b));
	buf_free(&b);
}

/* A marker event in the recording (approvals, denials, interrupts, the kill switch). */
static void
mark(sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
mark(sess *s, const char *fmt, ...)
{
	buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(&b, fmt, ap);
	va_end(ap);
	(void)sess_cast_event(s->cast, real_us(), 'm', b.data ? b.data : (const unsigned char *)"",
	                      b.len);
	buf_free(&b);
}

void
sess_bind(sess *s, wf *w)
{
	if (s)
		s->w = w;
}

int
sess_killed(const sess *s)
{
	return s && s->killed;
}

int64_t
sess_id(const sess *s)
{
	return s->id;
}

const char *
sess_recording(const sess *s)
{
	return s->path;
}

int
sess_start(sess **out, wf *w, const char *actor, const char *target, const char *ticket,
           const sess_ui *ui, buf *msg)
{
	sess *s;
	const policy *pol = wf_policy(w);
	const policy_target *tg;
	char dir[3900], host[256] = "", title[512];
	int rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ESC_ENOMEM;
	s->w = w;
	s->ui = *ui;
	buf_init(&s->keep, STORE_OUTPUT_MAX);
	buf_init(&s->pending, 0);
	if ((s->actor = strdup(actor)) == NULL || (s->target = strdup(target)) == NULL) {
		rc = ESC_ENOMEM;
		goto fail;
	}
	if ((rc = wf_isession_start(w, actor, target, ticket, &s->id, msg)) != 0)
		goto fail;
	tg = policy_target_find(pol, target);
	wf_isession_settings(w, target, &s->ps);
	s->timeout_s = s->ps.line_timeout ? s->ps.line_timeout
	               : tg && tg->timeout_sec ? tg->timeout_sec : SESS_LINE_TIMEOUT_DEFAULT;
	/* the recording */
	snprintf(dir, sizeof(dir), "%s/%s", wf_datadir(w), SESS_DIR);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		buf_printf(msg, "%s: %s", dir, strerror(errno));
		rc = ESC_EIO;
		goto fail_open;
	}
	snprintf(s->path, sizeof(s->path), "%s/%" PRId64 ".cast", dir, s->id);
	snprintf(title, sizeof(title), "escort session %" PRId64 ": %s on %s", s->id, actor, target);
	if ((rc = sess_cast_open(&s->cast, s->path, ui->width, ui->height, real_us(), title,
	                         msg)) != 0)
		goto fail_open;
	/* the shell (and, where the target wants it, what it looks like before) */
	if (tg && tg->attest) {
		s->attest = 1;
		if (wf_isession_attest_begin(w, target, &s->snap0, &s->attest_err) != 0 &&
		    s->attest_err.len == 0)
			buf_puts(&s->attest_err, "cannot take the snapshot");
	}
	if ((rc = wf_shell_open(w, target, s->id, &s->shell, msg)) != 0)
		goto fail_open;
	(void)gethostname(host, sizeof(host) - 1);
	if ((rc = wf_isession_attach(w, actor, s->id, host, wf_shell_pid(s->shell),
	                             wf_shell_start(s->shell), msg)) != 0)
		goto fail_open;
	mark(s, "session %" PRId64 " started by %s on %s", s->id, actor, target);
	*out = s;
	return 0;
fail_open:
	/* the session exists: close it properly so the log says how it ended */
	{
		buf m2 = BUF_INIT;

		(void)sess_end(s, "could not start", &m2);
		buf_free(&m2);
	}
	sess_free(s);
	return rc;
fail:
	sess_free(s);
	return rc;
}

/* ---- output of the running line ---- */

/* Where an unterminated private key block starts in p[0..n) (n: none): such a block is
 * held back whole, so that redaction sees all of it. */
static size_t
open_key_block(const unsigned char *p, size_t n)
{
	static const char begin[] = "-----BEGIN ", end[] = "-----END ";
	const unsigned char *b = NULL, *q = p, *e;
	size_t left = n;

	if (p == NULL || n == 0)
		return n;
	while ((e = memmem(q, left, begin, sizeof(begin) - 1)) != NULL) {
		b = e;
		left = n - (size_t)(e - p) - 1;
		q = e + 1;
	}
	if (b == NULL)
		return n;
	if (memmem(b, n - (size_t)(b - p), end, sizeof(end) - 1) != NULL)
		return n;
	/* from the start of its line */
	while (b > p && b[-1] != '\n')
		b--;
	return (size_t)(b - p);
}

/* mode 0: whole lines; 1: also a partial last line (a prompt); 2: everything (the line
 * ended). Secrets are redacted; a private key block still open waits for its end. */
static void
to_operator(sess *s, int mode)
{
	buf red = BUF_INIT;
	size_t cut = s->pending.len, k;

	if (cut == 0)
		return;
	if (mode == 0) {
		/* whole lines only, unless too much is waiting */
		while (cut && s->pending.data[cut - 1] != '\n')
			cut--;
		if (cut == 0 && s->pending.len < REDACT_HOLD)
			return;
		if (cut == 0)
			cut = s->pending.len;
	}
	if (mode != 2 && s->pending.len < REDACT_KEY_HOLD &&
	    (k = open_key_block(s->pending.data, cut)) < cut)
		cut = k;
	if (cut == 0)
		return;
	if (wf_redact(s->pending.data, cut, &red) == 0 && s->ui.output && red.len)
		s->ui.output(s->ui.ctx, red.data, red.len);
	buf_consume(&s->pending, cut);
	buf_free(&red);
}

static void
on_output(void *ctx, int stream, const unsigned char *p, size_t n)
{
	sess *s = ctx;
	size_t room = s->keep.len < STORE_OUTPUT_MAX ? STORE_OUTPUT_MAX - s->keep.len : 0;

	(void)stream;
	s->total += n;
	EVP_DigestUpdate(s->md, p, n);
	if (room)
		(void)buf_put(&s->keep, p, n < room ? n : room);
	(void)sess_cast_event(s->cast, real_us(), 'o', p, n); /* escorts see it all */
	(void)buf_put(&s->pending, p, n);
	to_operator(s, 0);
}

/* 1 when the session was killed or ended elsewhere. */
static int
check_killed(sess *s)
{
	store_isession se;
	buf m = BUF_INIT;
	int dead = 0;

	if (wf_isession_get(s->w, s->actor, s->id, &se, &m) == 0) {
		dead = strcmp(se.state, "killed") == 0 || strcmp(se.state, "ended") == 0;
		store_isession_clear(&se);
	}
	buf_free(&m);
	return dead;
}

static int
shell_poll(void *ctx)
{
	sess *s = ctx;
	int64_t now = util_mono_ms();

	if (s->ui.interrupted && s->ui.interrupted(s->ui.ctx))
		return BROKER_SHELL_INTERRUPT;
	if (now - s->last_check >= KILL_CHECK_MS) {
		s->last_check = now;
		if (check_killed(s)) {
			s->kill_seen = 1;
			return BROKER_SHELL_KILL;
		}
		/* a partial line (a prompt, progress) is shown after a while */
		to_operator(s, 1);
	}
	return BROKER_SHELL_GO;
}

/* ---- one line ---- */

/* Who decided, as a marker text ("approved by esc-1", "auto-approved by policy"...). */
static void
decision_text(sess *s, int64_t rid, buf *out, int *denied)
{
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0, i, na = 0;
	buf m = BUF_INIT;

	*denied = 0;
	if (wf_request_get(s->w, s->actor, rid, &r, &apv, &napv, &m) != 0) {
		buf_free(&m);
		return;
	}
	for (i = 0; i < napv; i++) {
		if (apv[i].kind == STORE_DENY) {
			*denied = 1;
			buf_printf(out, "denied by %s: %s", apv[i].approver,
			           apv[i].comment ? apv[i].comment : "");
		}
	}
	if (!*denied) {
		for (i = 0; i < napv; i++)
			if (apv[i].kind == STORE_APPROVE)
				buf_printf(out, "%s%s", na++ ? ", " : "approved by ", apv[i].approver);
		if (na == 0)
			buf_puts(out, "auto-approved by policy");
	}
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	buf_free(&m);
}

/* Waits until enough escorts are present (require_escorts); 0 when they are, SESS_ENDED
 * when the session was killed meanwhile, 2 when the operator withdrew the line. */
static int
wait_quorum(sess *s)
{
	size_t n = 0;
	int paused = 0;
	buf names = BUF_INIT, m = BUF_INIT, why = BUF_INIT;
	int rc = 0;

	if (s->ps.require_escorts == 0)
		return 0;
	for (;;) {
		buf_reset(&names);
		if (wf_isession_present(s->w, s->id, s->target, &n, &names) != 0)
			n = 0;
		if (n >= s->ps.require_escorts)
			break;
		if (!paused) {
			paused = 1;
			buf_reset(&m);
			(void)wf_isession_pause(s->w, s->actor, s->id, 1, "escorts missing", &m);
			mark(s, "paused: %zu of %u required escorts present", n, s->ps.require_escorts);
			/* the operator is told why, e.g. whose presence check lapsed */
			buf_reset(&why);
			if (wf_isession_presence_why(s->w, s->id, s->target, &why) != 0 ||
			    why.len == 0) {
				buf_reset(&why);
				(void)buf_puts(&why, "waiting for escorts to join");
			}
			notice(s, "session paused: the policy requires %u escort%s present; %zu %s "
			       "(%s): %s. Waiting...", s->ps.require_escorts,
			       s->ps.require_escorts == 1 ? "" : "s", n, n == 1 ? "is" : "are",
			       n ? buf_cstr(&names) : "none", buf_cstr(&why));
		}
		if (check_killed(s)) {
			rc = SESS_ENDED;
			goto out;
		}
		if (s->ui.interrupted && s->ui.interrupted(s->ui.ctx)) {
			rc = 2; /* Ctrl-C: the line is withdrawn, the session stays paused */
			goto out;
		}
		nap(SESS_POLL_MS * 2);
	}
	if (paused) {
		buf_reset(&m);
		(void)wf_isession_pause(s->w, s->actor, s->id, 0, "escorts present", &m);
		mark(s, "resumed: escorts present: %s", buf_cstr(&names));
		notice(s, "session resumed: escorts present: %s", buf_cstr(&names));
	}
out:
	buf_free(&names);
	buf_free(&m);
	buf_free(&why);
	return rc;
}

static void
killed_now(sess *s)
{
	wf_shell_kill(s->shell);
	s->killed = 1;
	mark(s, "session killed by the escort's kill switch");
	notice(s, "the session was killed by an escort; everything it started on the target "
	          "was stopped");
}

int
sess_line(sess *s, const unsigned char *line, size_t len, buf *msg)
{
	int64_t seq = 0, rid = 0;
	int state = -1, rc, denied, announced = 0;
	broker_shell_io io;
	broker_shell_result res;
	wf_line_result lr;
	buf text = BUF_INIT, m = BUF_INIT;
	unsigned int olen = 0;

	if (s->ended || s->killed || !wf_shell_alive(s->shell))
		return SESS_ENDED;
	if ((rc = wait_quorum(s)) != 0) {
		if (rc == 2) {
			notice(s, "line withdrawn (the session is still paused)");
			return 0;
		}
		if (check_killed(s))
			killed_now(s);
		return rc;
	}
	/* what the operator typed is recorded as input and echoed in the output stream */
	(void)sess_cast_event(s->cast, real_us(), 'i', line, len);
	{
		buf echo = BUF_INIT;

		size_t i;

		/* shown as typed, but a control character in it cannot rewrite the display of a
		 * replay: it appears as \xHH (the "i" event keeps the exact bytes) */
		buf_puts(&echo, "$ ");
		for (i = 0; i < len; i++) {
			if ((line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
				buf_printf(&echo, "\\x%02x", line[i]);
			else
				buf_putc(&echo, line[i]);
		}
		buf_puts(&echo, "\r\n");
		(void)sess_cast_event(s->cast, real_us(), 'o', echo.data, echo.len);
		buf_free(&echo);
	}
	rc = wf_isession_line_submit(s->w, s->actor, s->id, line, len, &seq, &rid, &state, msg);
	if (rid > 0)
		s->lines++;
	if (rc == WF_EREFUSED && rid > 0) {
		mark(s, "line %" PRId64 " denied by policy: %s", seq, buf_cstr(msg));
		notice(s, "line %" PRId64 " denied by policy: %s", seq, buf_cstr(msg));
		buf_reset(msg);
		return 0;
	}
	if (rc)
		return rc;
	/* wait for the escorts */
	while (state == WF_PENDING) {
		store_request r;
		store_approval *apv = NULL;
		size_t napv = 0;

		if (!announced) {
			buf needs = BUF_INIT;

			announced = 1;
			mark(s, "line %" PRId64 " waiting for approval", seq);
			if (wf_request_get(s->w, s->actor, rid, &r, &apv, &napv, &m) == 0) {
				(void)wf_request_needs(s->w, &r, apv, napv, &needs);
				store_request_clear(&r);
				store_approvals_free(apv, napv);
				apv = NULL;
				napv = 0;
			}
			notice(s, "line %" PRId64 " waits for approval%s%s (Ctrl-C withdraws it)", seq,
			       needs.len ? ": " : "", buf_cstr(&needs));
			buf_free(&needs);
		}
		nap(SESS_POLL_MS);
		if (s->ui.interrupted && s->ui.interrupted(s->ui.ctx)) {
			buf_reset(&m);
			(void)wf_request_cancel(s->w, s->actor, rid, &m);
			mark(s, "line %" PRId64 " withdrawn by the operator", seq);
			notice(s, "line %" PRId64 " withdrawn", seq);
			goto out;
		}
		if (check_killed(s)) {
			killed_now(s);
			rc = SESS_ENDED;
			goto out;
		}
		buf_reset(&m);
		if (wf_request_get(s->w, s->actor, rid, &r, &apv, &napv, &m) != 0)
			continue;
		state = wf_state_parse(r.state);
		store_request_clear(&r);
		store_approvals_free(apv, napv);
	}
	decision_text(s, rid, &text, &denied);
	if (state != WF_APPROVED) {
		if (state == WF_DENIED) {
			mark(s, "line %" PRId64 " %s", seq, buf_cstr(&text));
			notice(s, "line %" PRId64 " %s", seq, buf_cstr(&text));
		} else {
			mark(s, "line %" PRId64 " is %s", seq, wf_state_name(state));
			notice(s, "line %" PRId64 " is %s; it did not run", seq, wf_state_name(state));
		}
		goto out;
	}
	/* escorts may have left, or their presence checks lapsed, while the line waited for
	 * its approval: the quorum must hold when it runs, not only when it was typed */
	if ((rc = wait_quorum(s)) != 0) {
		buf_reset(&m);
		(void)wf_request_cancel(s->w, s->actor, rid, &m);
		if (rc == 2) {
			mark(s, "line %" PRId64 " withdrawn by the operator", seq);
			notice(s, "line %" PRId64 " withdrawn (the session is still paused)", seq);
			rc = 0;
		} else if (check_killed(s))
			killed_now(s);
		goto out;
	}
	buf_reset(&m);
	if ((rc = wf_isession_line_claim(s->w, s->actor, rid, &m)) != 0) {
		mark(s, "line %" PRId64 " refused at run time: %s", seq, buf_cstr(&m));
		notice(s, "line %" PRId64 " cannot run: %s", seq, buf_cstr(&m));
		rc = 0;
		goto out;
	}
	mark(s, "line %" PRId64 " %s", seq, buf_cstr(&text));
	if (announced)
		notice(s, "line %" PRId64 " %s", seq, buf_cstr(&text));
	/* run it */
	buf_reset(&s->keep);
	buf_reset(&s->pending);
	s->total = 0;
	s->last_check = util_mono_ms();
	s->kill_seen = 0;
	if ((s->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
		rc = ESC_ENOMEM;
		goto out;
	}
	memset(&io, 0, sizeof(io));
	io.timeout_ms = s->timeout_s * 1000u;
	io.on_output = on_output;
	io.poll = shell_poll;
	io.ctx = s;
	rc = wf_shell_run(s->shell, line, len, &io, &res, msg);
	to_operator(s, 2);
	memset(&lr, 0, sizeof(lr));
	EVP_DigestFinal_ex(s->md, lr.sha256, &olen);
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
	if (rc) {
		res.exit_code = 255;
		res.killed = 1;
	}
	lr.exit_code = res.exit_code;
	lr.interrupted = res.interrupted;
	lr.timed_out = res.timed_out;
	lr.killed = res.killed;
	lr.output = s->keep.data;
	lr.output_len = s->keep.len;
	lr.output_total = s->total;
	lr.ms = res.ms;
	if (res.interrupted) {
		mark(s, "line %" PRId64 " interrupted by the operator (Ctrl-C)", seq);
		notice(s, "^C (line %" PRId64 " interrupted, exit status %d)", seq, res.exit_code);
	}
	if (res.timed_out) {
		mark(s, "line %" PRId64 " stopped: its time limit of %u s passed", seq, s->timeout_s);
		notice(s, "line %" PRId64 " stopped: its time limit of %u s passed", seq, s->timeout_s);
	}
	buf_reset(&m);
	(void)wf_isession_line_finish(s->w, s->actor, rid, &lr, &state, &m);
	if (s->kill_seen || ((res.killed || res.shell_exited) && check_killed(s))) {
		killed_now(s);
		rc = SESS_ENDED;
	} else if (res.killed || res.shell_exited) {
		mark(s, "the session's shell %s", res.shell_exited ? "exited" : "was killed");
		notice(s, "the session's shell %s; the session ends",
		       res.shell_exited ? "exited" : "was killed (the line did not stop)");
		rc = SESS_ENDED;
	} else
		rc = 0;
out:
	/* nothing of the line is kept between lines: an idle session costs its struct */
	buf_free(&s->keep); /* (buf_free keeps each one's limit) */
	buf_free(&s->pending);
	sess_cast_trim(s->cast);
	buf_free(&text);
	buf_free(&m);
	return rc;
}

int
sess_check(sess *s)
{
	if (s->ended || s->killed)
		return SESS_ENDED;
	if (check_killed(s)) {
		killed_now(s);
		return SESS_ENDED;
	}
	if (!wf_shell_alive(s->shell))
		return SESS_ENDED;
	return 0;
}

int
sess_end(sess *s, const char *reason, buf *msg)
{
	unsigned char sha[32];
	char hex[65];
	uint64_t bytes = 0;
	int rc = 0;

	buf diff = BUF_INIT;
	size_t nchanges = 0;

	if (s == NULL || s->ended)
		return 0;
	s->ended = 1;
	wf_shell_close(s->shell);
	s->shell = NULL;
	/* what changed on the target while the session was open */
	if (s->attest && s->attest_err.len == 0 &&
	    wf_isession_attest_end(s->w, s->target, &s->snap0, &diff, &nchanges,
	                           &s->attest_err) != 0 && s->attest_err.len == 0)
		buf_puts(&s->attest_err, "cannot take the snapshot");
	if (s->attest && s->cast) {
		if (s->attest_err.len)
			mark(s, "attestation failed: %s", buf_cstr(&s->attest_err));
		else
			mark(s, "attestation: %zu change%s on the target%s%s", nchanges,
			     nchanges == 1 ? "" : "s", nchanges ? ":\n" : "", buf_cstr(&diff));
		if (s->attest_err.len)
			notice(s, "attestation failed: %s", buf_cstr(&s->attest_err));
		else
			notice(s, "attestation: %zu change%s to sensitive state on the target%s%s",
			       nchanges, nchanges == 1 ? "" : "s", nchanges ? ": " : "",
			       buf_cstr(&diff));
	}
	if (s->cast) {
		mark(s, "session %" PRId64 " ended: %s", s->id, s->killed ? "killed" : reason);
		rc = sess_cast_close(s->cast, sha, &bytes, msg);
		s->cast = NULL;
	} else
		rc = ESC_EIO;
	memset(hex, 0, sizeof(hex));
	if (rc == 0) {
		static const char hx[] = "0123456789abcdef";
		size_t i;

		for (i = 0; i < 32; i++) {
			hex[2 * i] = hx[sha[i] >> 4];
			hex[2 * i + 1] = hx[sha[i] & 15];
		}
	}
	rc = wf_isession_end(s->w, s->actor, s->id, s->killed ? "killed" : reason,
	                     rc == 0 ? hex : NULL, bytes, s->lines,
	                     s->attest ? buf_cstr(&diff) : NULL, nchanges,
	                     s->attest_err.len ? buf_cstr(&s->attest_err) : NULL, msg);
	buf_free(&diff);
	return rc;
}

void
sess_free(sess *s)
{
	if (s == NULL)
		return;
	if (!s->ended && s->id) {
		buf m = BUF_INIT;

		(void)sess_end(s, "ended", &m);
		buf_free(&m);
	}
	wf_shell_close(s->shell);
	buf_free(&s->snap0);
	buf_free(&s->attest_err);
	sess_cast_free(s->cast);
	EVP_MD_CTX_free(s->md);
	buf_free(&s->keep);
	buf_free(&s->pending);
	free(s->actor);
	free(s->target);
	free(s);
}

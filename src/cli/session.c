/* session.c — `escort session`: escorted interactive sessions from the command line. The
 * operator works in `start` (each line is decided before it runs); escorts watch and
 * decide in `join` or with approve/deny, and hold the kill switch; list, replay and verify
 * serve everyone who may see the session. Processes meet in the store and in
 * DATA/sessions/ID.cast. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "audit/event.h"
#include "cli/remote.h"
#include "cli/session_remote.h"
#include "cli/session_term.h"
#include "session/session.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/sysio.h"
#include "workflow/workflow.h"
#include "workflow/wf_presence.h"

#define SUB "session"
#define JOIN_TICK_MS 200
#define HEARTBEAT_MS 1000

static void
session_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort session start --target T [--ticket X] [--server URL]\n"
	    "       escort session join ID\n"
	    "       escort session approve ID LINE [--comment TEXT]\n"
	    "       escort session deny ID LINE --comment TEXT\n"
	    "       escort session kill ID [--reason TEXT]\n"
	    "       escort session list [--target T] [--operator U] [--json]\n"
	    "       escort session replay ID [--speed X] [--idle-limit S]\n"
	    "       escort session verify ID\n\n"
	    "Escorted interactive sessions. 'start' (operator) opens a shell on a target (local\n"
	    "or ssh) and reads lines (on a terminal with line editing: emacs keys, history\n"
	    "with the arrow keys; from a pipe plain lines). With --server URL (or\n"
	    "$ESCORT_SERVER) escortd holds the session and this process is only the terminal.\n"
	    "Each line is analyzed by lockbox and decided by the policy like a request: it\n"
	    "runs at once when the policy auto-approves it, waits for escorts when\n"
	    "it needs approval, or is refused with the reason. State (cd, exported variables)\n"
	    "persists between lines. Ctrl-C interrupts the running line (or withdraws a\n"
	    "waiting one); Ctrl-D ends the session. Lines that would escape line-by-line\n"
	    "review (interactive shells, REPLs, multiplexers, ssh onward, background jobs) are\n"
	    "classified shell-escape for the policy.\n\n"
	    "'join' (escort) shows the session's output live and each waiting line with its\n"
	    "explanation, and asks: [a]pprove, [d]eny, [s]kip, [k]ill the session.\n"
	    "'approve' and 'deny' decide line LINE (1, 2, ...) of session ID without joining.\n"
	    "'kill' is the escort's kill switch: the session and everything it started on the\n"
	    "target end within a second. Every session is recorded as asciicast v2 in\n"
	    "DATA/sessions/ID.cast; its SHA-256 goes into the audit log when the session ends\n"
	    "and 'verify' compares the file with it. 'replay' plays the recording (--speed 2:\n"
	    "twice as fast; --idle-limit S: no pause longer than S seconds).\n\n"
	    "You act as the identity of $ESCORT_TOKEN. See escort-session(1).\n\n"
	    "  --data DIR        data directory (also -d; default: $ESCORT_DATA, else\n"
	    "                    ./escort-data)\n"
	    "  -h, --help        show this help\n\n"
	    "Exit status: 0 ok, 1 other errors (verify: the recording does not match), 2 usage,\n"
	    "3 refused by policy or authorization, 4 not found, 5 conflict.\n");
}

/* ---- context ---- */

struct ctx {
	const char *dir;
	lockbox *lb;
	wf *w;
	char who[256];
	buf msg;
};

static int
ctx_open(struct ctx *c, const char *dir, int need_lockbox)
{
	memset(c, 0, sizeof(*c));
	c->dir = cli_data_dir(dir);
	return cli_wf_login(SUB, c->dir, need_lockbox, &c->lb, &c->w, c->who, sizeof(c->who),
	                    &c->msg);
}

static void
ctx_close(struct ctx *c)
{
	wf_close(c->w);
	lockbox_free(c->lb);
	buf_free(&c->msg);
}

static int
fail(struct ctx *c, int rc, const char *what)
{
	const char *m = c->msg.len ? buf_cstr(&c->msg) : esc_strerror(rc);

	if (rc == WF_EREFUSED)
		cli_warnx(SUB, "refused: %s", m);
	else
		cli_warnx(SUB, "%s: %s", what, m);
	return cli_wf_exit(rc);
}

/* ---- start: the operator's terminal ---- */

/* The shell's output as it came (bare "\n" line ends): the operator's terminal adds the
 * "\r" itself (ONLCR), so the screen matches the recording's "\r\n" without doubling it;
 * a pipe gets the plain lines. */
static void
ui_output(void *ctx, const unsigned char *p, size_t n)
{
	(void)ctx;
	(void)util_write_all(1, p, n);
}

static void
ui_notice(void *ctx, const char *text)
{
	buf b = BUF_INIT;

	(void)ctx;
	buf_puts(&b, "escort: ");
	cli_escape(&b, (const unsigned char *)text, strlen(text), 0);
	buf_putc(&b, '\n');
	(void)util_write_all(2, b.data, b.len);
	buf_free(&b);
}

static int
ui_interrupted(void *ctx)
{
	(void)ctx;
	return sterm_term() || sterm_take_sigint();
}

/* Between keys: the kill switch (asked every 200 ms). */
static int
local_tick(void *ctx)
{
	return sess_check(ctx) == SESS_ENDED;
}

static int
do_start(struct ctx *c, const char *target, const char *ticket)
{
	struct winsize ws;
	sess_ui ui;
	sess *s = NULL;
	sterm *t = NULL;
	buf line = BUF_INIT;
	int rc, r, ended = 0;

	memset(&ui, 0, sizeof(ui));
	ui.output = ui_output;
	ui.notice = ui_notice;
	ui.interrupted = ui_interrupted;
	if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col) {
		ui.width = ws.ws_col;
		ui.height = ws.ws_row;
	}
	buf_init(&line, WF_CMD_MAX);
	sterm_signals(1);
	rc = sess_start(&s, c->w, c->who, target, ticket, &ui, &c->msg);
	if (rc) {
		rc = fail(c, rc, "start");
		goto out;
	}
	if ((rc = sterm_open(&t, sess_id(s), target, local_tick, s)) != 0) {
		cli_warnx(SUB, "start: the terminal: %s", esc_strerror(rc));
		ended = 1; /* (the session is ended below) */
	}
	if (t)
		fprintf(stderr, "escort: session %" PRId64 " on %s: every line is reviewed before "
		        "it runs; Ctrl-C interrupts, Ctrl-D ends the session\n", sess_id(s), target);
	while (t) {
		r = sterm_read(t, &line);
		if (r == 0)
			break;
		if (r == -3) {
			ended = 1;
			break;
		}
		if (r == -1) {
			if (sterm_tty(t))
				fputs("^C\n", stdout);
			fflush(stdout);
			continue;
		}
		if (r == -2) {
			cli_warnx(SUB, "the line is longer than the limit (512 KiB); not sent");
			continue;
		}
		if (line.len == 0)
			continue;
		buf_reset(&c->msg);
		(void)sterm_take_sigint();
		r = sess_line(s, line.data, line.len, &c->msg);
		if (r == SESS_ENDED) {
			ended = 1;
			break;
		}
		if (r != 0)
			cli_warnx(SUB, "%s", c->msg.len ? buf_cstr(&c->msg) : esc_strerror(r));
		if (sterm_term())
			break;
	}
	if (sterm_tty(t) && !ended)
		fputs("\n", stdout);
	fflush(stdout);
	sterm_close(t);
	buf_reset(&c->msg);
	{
		int64_t id = sess_id(s);
		char path[4096];

		snprintf(path, sizeof(path), "%s", sess_recording(s));
		rc = sess_end(s, ended ? "the session's shell ended"
		                 : sterm_term() ? "the operator's terminal went away"
		                                : "the operator ended it",
		              &c->msg);
		if (rc)
			cli_warnx(SUB, "ending session %" PRId64 ": %s", id, buf_cstr(&c->msg));
		else
			fprintf(stderr, "escort: session %" PRId64 " ended; recording %s\n", id, path);
		rc = rc ? cli_wf_exit(rc) : CLI_EXIT_OK;
	}
out:
	sess_free(s);
	sterm_signals(0);
	buf_free(&line);
	return rc;
}

/* ---- join: the escort's view ---- */

struct tail {
	char path[4096];
	off_t off;
	buf part; /* an incomplete last line */
	int header_done;
};

/* Prints new events of the recording: output as is (escorts see everything, control
 * characters escaped), markers and input lines labelled. */
static void
tail_cast(struct tail *t)
{
	unsigned char b[65536];
	buf data = BUF_INIT, out = BUF_INIT;
	sess_cast_ev ev;
	ssize_t k;
	int fd = open(t->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (lseek(fd, t->off, SEEK_SET) == t->off) {
		while ((k = read(fd, b, sizeof(b))) > 0) {
			t->off += k;
			(void)buf_put(&t->part, b, (size_t)k);
		}
	}
	close(fd);
	for (;;) {
		unsigned char *nl = t->part.len ? memchr(t->part.data, '\n', t->part.len) : NULL;
		size_t n;

		if (nl == NULL)
			break;
		n = (size_t)(nl - t->part.data);
		if (!t->header_done)
			t->header_done = 1;
		else if (sess_cast_parse((const char *)t->part.data, n, &ev, &data) == 0) {
			if (ev.type == 'o') {
				/* the terminal's \r\n line ends are newlines here; other controls show */
				size_t a = 0, z;

				for (z = 0; z < data.len; z++) {
					if (data.data[z] == '\r' && z + 1 < data.len && data.data[z + 1] == '\n') {
						cli_escape(&out, data.data + a, z - a, 1);
						a = z + 1;
					}
				}
				cli_escape(&out, data.data + a, data.len - a, 1);
			}
			else if (ev.type == 'm') {
				buf_puts(&out, "\n[escort] ");
				cli_escape(&out, data.data, data.len, 0);
				buf_putc(&out, '\n');
			}
		}
		buf_consume(&t->part, n + 1);
	}
	if (out.len)
		(void)util_write_all(1, out.data, out.len);
	buf_free(&data);
	buf_free(&out);
}

static void
show_line(struct ctx *c, int64_t seq, int64_t rid)
{
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0;
	lockbox_result *res = NULL;
	buf out = BUF_INIT, needs = BUF_INIT, m = BUF_INIT;

	if (wf_request_get(c->w, c->who, rid, &r, &apv, &napv, &m) != 0) {
		buf_free(&m);
		return;
	}
	buf_printf(&out, "\n[escort] line %" PRId64 " by %s waits for approval:\n", seq,
	           r.requester);
	if (r.ncmds && c->lb &&
	    lockbox_analyze(c->lb, (const char *)r.cmds[0].bytes, r.cmds[0].len, "bash", &res) == 0) {
		lockbox_result_render(res, &out, 0);
		lockbox_result_free(res);
	} else if (r.ncmds) {
		buf_puts(&out, "  ");
		cli_escape(&out, r.cmds[0].bytes, r.cmds[0].len, 1);
		buf_putc(&out, '\n');
	}
	if (r.ncmds) {
		buf why = BUF_INIT;

		if (wf_isession_escape_reason(r.cmds[0].bytes, r.cmds[0].len, &why))
			buf_printf(&out, "  escapes line-by-line review: %s\n", buf_cstr(&why));
		buf_free(&why);
	}
	if (wf_request_needs(c->w, &r, apv, napv, &needs) == 0 && needs.len)
		buf_printf(&out, "  approvals: %s\n", buf_cstr(&needs));
	buf_printf(&out, "approve line %" PRId64 "? [a]pprove, [d]eny, [s]kip, [k]ill session: ",
	           seq);
	(void)util_write_all(1, out.data, out.len);
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	buf_free(&out);
	buf_free(&needs);
	buf_free(&m);
}

/* Presence checks (escort-session(1), "Presence checks"): when the policy asks this escort
 * for a proof now, asks once and returns the method (the next line typed answers it, see
 * prove_answer); 0 when nothing is asked. proving: what was asked so far. */
static int
presence_due(struct ctx *c, int64_t id, int proving)
{
	wf_presence_status st;
	size_t i;
	int due = 0, method;

	buf_reset(&c->msg);
	if (wf_isession_presence_status(c->w, c->who, id, &st, &c->msg) != 0) {
		wf_presence_status_free(&st);
		return proving;
	}
	method = st.ps.check_method;
	for (i = 0; i < st.nescorts; i++)
		if (strcmp(st.escorts[i].identity, c->who) == 0)
			due = st.escorts[i].due && method != POLICY_PRESENCE_NONE;
	if (due && proving != method) {
		if (method == POLICY_PRESENCE_TOTP)
			printf("\n[escort] presence check (every %us): lines wait until enough escorts "
			       "prove presence. Enter your current TOTP code: ", st.ps.check_every);
		else
			printf("\n[escort] presence check (every %us): lines wait until enough escorts "
			       "prove presence. Press Enter if you are still here: ", st.ps.check_every);
		fflush(stdout);
	} else if (!due && proving)
		fputs("\n[escort] presence confirmed\n", stdout);
	wf_presence_status_free(&st);
	return due ? method : 0;
}

/* The line typed after a presence prompt: the TOTP code (method totp) or anything (click).
 * Returns 0 once proved, else the method (asked again). */
static int
prove_answer(struct ctx *c, int64_t id, int method, const buf *ans)
{
	char code[17] = "";
	size_t a = 0, z = ans->len;
	int rc;

	while (a < z && (ans->data[a] == ' ' || ans->data[a] == '\t'))
		a++;
	while (z > a && (ans->data[z - 1] == ' ' || ans->data[z - 1] == '\t' ||
	                 ans->data[z - 1] == '\r'))
		z--;
	if (z - a < sizeof(code)) {
		memcpy(code, ans->data + a, z - a);
		code[z - a] = 0;
	} else
		snprintf(code, sizeof(code), "too-long");
	buf_reset(&c->msg);
	rc = wf_isession_prove(c->w, c->who, id, method == POLICY_PRESENCE_TOTP ? code : NULL,
	                       &c->msg);
	if (rc == 0) {
		fputs("[escort] presence proved\n", stdout);
		return 0;
	}
	cli_warnx(SUB, "%s", c->msg.len ? buf_cstr(&c->msg) : esc_strerror(rc));
	if (rc == WF_ECONFLICT)
		return 0; /* over, or no checks any more: nothing to ask */
	fputs(method == POLICY_PRESENCE_TOTP ? "[escort] enter your current TOTP code: "
	                                     : "[escort] press Enter if you are still here: ",
	      stdout);
	return method;
}

static int
do_join(struct ctx *c, int64_t id)
{
	store_isession se;
	struct tail t;
	int64_t asking = 0, asking_rid = 0, last_beat = 0, done_upto = 0, now;
	buf in, ans = BUF_INIT;
	int rc, eof = 0, want_reason = 0, proving = 0;

	memset(&t, 0, sizeof(t));
	buf_init(&in, 4096);
	buf_init(&ans, 4096);
	if ((rc = wf_isession_get(c->w, c->who, id, &se, &c->msg)) != 0)
		return fail(c, rc, "join");
	snprintf(t.path, sizeof(t.path), "%s/%s/%" PRId64 ".cast", c->dir, SESS_DIR, id);
	fprintf(stderr, "escort: joined session %" PRId64 " (%s on %s); Ctrl-D leaves\n", id,
	        se.operator_name, se.target);
	store_isession_clear(&se);
	for (;;) {
		store_isession_line *lines = NULL;
		size_t nl = 0, i;

		now = util_mono_ms();
		if (now - last_beat >= HEARTBEAT_MS) {
			buf_reset(&c->msg);
			if ((rc = wf_isession_presence(c->w, c->who, id, 1, &c->msg)) != 0) {
				rc = fail(c, rc, "join");
				goto out;
			}
			last_beat = now;
			if (!eof && !want_reason)
				proving = presence_due(c, id, proving);
		}
		tail_cast(&t);
		buf_reset(&c->msg);
		if (wf_isession_get(c->w, c->who, id, &se, &c->msg) == 0) {
			int over = strcmp(se.state, "ended") == 0 || strcmp(se.state, "killed") == 0;

			if (over) {
				tail_cast(&t);
				fprintf(stderr, "\nescort: session %" PRId64 " is %s\n", id, se.state);
				store_isession_clear(&se);
				rc = CLI_EXIT_OK;
				goto out;
			}
			store_isession_clear(&se);
		}
		/* the next waiting line, one at a time (not while a presence check is asked) */
		if (asking == 0 && !proving &&
		    wf_isession_lines(c->w, c->who, id, &lines, &nl, &c->msg) == 0) {
			for (i = 0; i < nl && asking == 0; i++) {
				store_request r;
				store_approval *apv = NULL;
				size_t napv = 0, k;
				int mine = 0;

				if (lines[i].seq <= done_upto)
					continue;
				buf_reset(&c->msg);
				if (wf_request_get(c->w, c->who, lines[i].request_id, &r, &apv, &napv,
				                   &c->msg) != 0)
					continue;
				for (k = 0; k < napv; k++)
					if (strcmp(apv[k].approver, c->who) == 0)
						mine = 1;
				if (strcmp(r.state, "pending") == 0 && !mine) {
					asking = lines[i].seq;
					asking_rid = lines[i].request_id;
				} else if (strcmp(r.state, "pending") != 0)
					done_upto = lines[i].seq;
				store_request_clear(&r);
				store_approvals_free(apv, napv);
			}
			free(lines);
			if (asking && !eof)
				show_line(c, asking, asking_rid);
		}
		/* an answer from the keyboard */
		if (!eof) {
			struct pollfd pf = { 0, POLLIN, 0 };

			if (poll(&pf, 1, JOIN_TICK_MS) > 0) {
				unsigned char b[1024];
				ssize_t k = read(0, b, sizeof(b));

				if (k <= 0) {
					eof = 1;
					break;
				}
				buf_put(&in, b, (size_t)k);
			}
		} else
			(void)poll(NULL, 0, JOIN_TICK_MS);
		while (in.len) {
			unsigned char *nlp = memchr(in.data, '\n', in.len);
			size_t n;

			if (nlp == NULL)
				break;
			n = (size_t)(nlp - in.data);
			buf_reset(&ans);
			buf_put(&ans, in.data, n);
			buf_consume(&in, n + 1);
			if (proving) {
				/* a presence prompt takes the next line, before any decision */
				proving = prove_answer(c, id, proving, &ans);
				if (proving == 0 && asking)
					printf("approve line %" PRId64 "? [a]pprove, [d]eny, [s]kip, [k]ill "
					       "session: ", asking);
				fflush(stdout);
				continue;
			}
			if (asking == 0)
				continue;
			buf_reset(&c->msg);
			if (want_reason) {
				want_reason = 0;
				rc = wf_request_deny(c->w, c->who, asking_rid,
				                     ans.len ? buf_cstr(&ans) : "denied by the escort",
				                     &c->msg);
			} else if (ans.len && (ans.data[0] == 'a' || ans.data[0] == 'y')) {
				int st;

				rc = wf_request_approve(c->w, c->who, asking_rid, NULL, &st, &c->msg);
			} else if (ans.len && (ans.data[0] == 'd' || ans.data[0] == 'n')) {
				want_reason = 1;
				fputs("reason for the operator: ", stdout);
				fflush(stdout);
				continue;
			} else if (ans.len && ans.data[0] == 'k') {
				store_isession k;

				rc = wf_isession_kill(c->w, c->who, id, "killed by the escort", &k, &c->msg);
				store_isession_clear(&k);
			} else if (ans.len && ans.data[0] == 's') {
				done_upto = asking;
				rc = 0;
			} else {
				fputs("[a]pprove, [d]eny, [s]kip, [k]ill session: ", stdout);
				fflush(stdout);
				continue;
			}
			if (rc)
				cli_warnx(SUB, "%s", c->msg.len ? buf_cstr(&c->msg) : esc_strerror(rc));
			asking = 0;
		}
		if (asking) {
			/* decided elsewhere meanwhile? */
			store_request r;
			store_approval *apv = NULL;
			size_t napv = 0;

			buf_reset(&c->msg);
			if (wf_request_get(c->w, c->who, asking_rid, &r, &apv, &napv, &c->msg) == 0) {
				if (strcmp(r.state, "pending") != 0 && !want_reason) {
					fprintf(stdout, "\n[escort] line %" PRId64 " is %s\n", asking, r.state);
					done_upto = asking > done_upto ? asking : done_upto;
					asking = 0;
				}
				store_request_clear(&r);
				store_approvals_free(apv, napv);
			}
		}
		fflush(stdout);
	}
	rc = CLI_EXIT_OK;
out:
	buf_reset(&c->msg);
	(void)wf_isession_presence(c->w, c->who, id, 0, &c->msg);
	buf_free(&in);
	buf_free(&ans);
	buf_free(&t.part);
	return rc;
}

/* ---- decisions without joining ---- */

static int
do_decide(struct ctx *c, int64_t id, int64_t seq, int approve, const char *comment)
{
	store_isession se;
	int64_t rid = 0;
	int rc, st = -1;

	if ((rc = wf_isession_get(c->w, c->who, id, &se, &c->msg)) != 0)
		return fail(c, rc, approve ? "approve" : "deny");
	store_isession_clear(&se);
	if ((rc = wf_isession_line_request(c->w, id, seq, &rid, &c->msg)) != 0)
		return fail(c, rc, approve ? "approve" : "deny");
	if (approve)
		rc = wf_request_approve(c->w, c->who, rid, comment, &st, &c->msg);
	else
		rc = wf_request_deny(c->w, c->who, rid, comment, &c->msg);
	if (rc)
		return fail(c, rc, approve ? "approve" : "deny");
	printf("session %" PRId64 " line %" PRId64 " (request %" PRId64 "): %s\n", id, seq, rid,
	       approve ? (st == WF_APPROVED ? "approved" : "approval recorded; more needed")
	               : "denied");
	return CLI_EXIT_OK;
}

static int
do_kill(struct ctx *c, int64_t id, const char *reason)
{
	store_isession se;
	int rc;

	rc = wf_isession_kill(c->w, c->who, id, reason ? reason : "killed by an escort", &se,
	                      &c->msg);
	if (rc)
		return fail(c, rc, "kill");
	/* on the same host the shell dies now; elsewhere its owner sees the state within
	 * a fraction of a second and kills it */
	buf_reset(&c->msg);
	if (wf_isession_kill_here(c->w, &se, &c->msg) < 0)
		cli_warnx(SUB, "%s (the session's owner process will stop it)", buf_cstr(&c->msg));
	printf("session %" PRId64 " killed\n", id);
	store_isession_clear(&se);
	return CLI_EXIT_OK;
}

static int
do_list(struct ctx *c, const char *target, const char *op, int json)
{
	store_isession *v = NULL;
	size_t n = 0, i;
	char t1[32], t2[32];
	int rc;

	if ((rc = wf_isession_list(c->w, c->who, target, op, &v, &n, &c->msg)) != 0)
		return fail(c, rc, "list");
	if (json) {
		json_t *a = json_array();
		char *s;

		for (i = 0; a && i < n; i++) {
			json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s, s:s?, s:s?, s:s?}", "id",
			                      (json_int_t)v[i].id, "state", v[i].state, "operator",
			                      v[i].operator_name, "target", v[i].target, "ticket",
			                      v[i].ticket, "created",
			                      cli_time_str(v[i].created_us, t1, sizeof(t1)), "ended",
			                      v[i].ended_us ? cli_time_str(v[i].ended_us, t2, sizeof(t2))
			                                    : NULL,
			                      "end_reason", v[i].end_reason, "recording_sha256",
			                      v[i].recording_sha256);

			json_array_append_new(a, o);
		}
		s = a ? json_dumps(a, JSON_COMPACT) : NULL;
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(a);
	} else {
		printf("%-6s %-8s %-10s %-12s %-20s %s\n", "ID", "STATE", "OPERATOR", "TARGET",
		       "CREATED", "ENDED");
		for (i = 0; i < n; i++)
			printf("%-6" PRId64 " %-8s %-10s %-12s %-20.19s %.19s\n", v[i].id, v[i].state,
			       v[i].operator_name, v[i].target,
			       cli_time_str(v[i].created_us, t1, sizeof(t1)),
			       cli_time_str(v[i].ended_us, t2, sizeof(t2)));
	}
	store_isessions_free(v, n);
	return CLI_EXIT_OK;
}

static int
do_replay(struct ctx *c, int64_t id, double speed, double idle)
{
	store_isession se;
	char path[4096];
	buf file = BUF_INIT, data = BUF_INIT;
	sess_cast_ev ev;
	size_t off = 0;
	double last = 0;
	int rc, first = 1;

	if ((rc = wf_isession_get(c->w, c->who, id, &se, &c->msg)) != 0)
		return fail(c, rc, "replay");
	store_isession_clear(&se);
	snprintf(path, sizeof(path), "%s/%s/%" PRId64 ".cast", c->dir, SESS_DIR, id);
	buf_init(&file, (size_t)1 << 34);
	if ((rc = buf_read_file(&file, path)) != 0) {
		cli_warnx(SUB, "%s: %s", path, rc == ESC_EIO ? strerror(errno) : esc_strerror(rc));
		buf_free(&file);
		return CLI_EXIT_FAIL;
	}
	while (off < file.len) {
		unsigned char *nl = memchr(file.data + off, '\n', file.len - off);
		size_t n = nl ? (size_t)(nl - (file.data + off)) : file.len - off;

		if (first) {
			first = 0; /* the header */
		} else if (sess_cast_parse((const char *)file.data + off, n, &ev, &data) != 0) {
			cli_warnx(SUB, "%s: event at byte %zu is not an asciicast v2 event", path, off);
			rc = CLI_EXIT_FAIL;
			break;
		} else if (ev.type == 'o') {
			double gap = ev.t - last;

			if (gap > 0) {
				if (idle > 0 && gap > idle)
					gap = idle;
				gap /= speed;
				if (gap > 0.0005) {
					struct timespec ts;

					ts.tv_sec = (time_t)gap;
					ts.tv_nsec = (long)((gap - floor(gap)) * 1e9);
					nanosleep(&ts, NULL);
				}
			}
			last = ev.t;
			(void)util_write_all(1, data.data, data.len);
		}
		off += n + 1;
	}
	buf_free(&file);
	buf_free(&data);
	return rc;
}

static int
do_verify(struct ctx *c, int64_t id)
{
	store_isession se;
	unsigned char sha[32];
	char hex[65], logged[65] = "", path[4096];
	uint64_t bytes = 0;
	size_t i;
	int rc;

	if ((rc = wf_isession_get(c->w, c->who, id, &se, &c->msg)) != 0)
		return fail(c, rc, "verify");
	snprintf(path, sizeof(path), "%s/%s/%" PRId64 ".cast", c->dir, SESS_DIR, id);
	if ((rc = sess_file_sha256(path, sha, &bytes)) != 0) {
		cli_warnx(SUB, "verify: %s: %s", path, esc_strerror(rc));
		store_isession_clear(&se);
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	buf_reset(&c->msg);
	if ((rc = wf_isession_recorded_hash(c->w, id, logged, sizeof(logged), &c->msg)) != 0) {
		store_isession_clear(&se);
		return fail(c, rc, "verify");
	}
	if (strcmp(hex, logged) != 0) {
		cli_warnx(SUB, "session %" PRId64 ": the recording %s was CHANGED: its SHA-256 is %s "
		          "but the audit log's session.end records %s", id, path, hex, logged);
		rc = CLI_EXIT_FAIL;
	} else if (se.recording_sha256 && strcmp(se.recording_sha256, hex) != 0) {
		cli_warnx(SUB, "session %" PRId64 ": the recording matches the audit log, but the "
		          "store's copy of its hash (%s) was changed", id, se.recording_sha256);
		rc = CLI_EXIT_FAIL;
	} else {
		printf("session %" PRId64 ": recording %s verified: sha256 %s (%" PRIu64 " bytes) "
		       "matches the audit log's session.end\n", id, path, hex, bytes);
		rc = CLI_EXIT_OK;
	}
	store_isession_clear(&se);
	return rc;
}

/* ---- dispatch ---- */

enum { O_DATA = 'd', O_HELP = 'h', O_TARGET = 256, O_TICKET, O_COMMENT, O_REASON, O_OPERATOR,
	O_JSON, O_SPEED, O_IDLE, O_SERVER };

static const struct option lo[] = {
	{ "data", required_argument, NULL, O_DATA },
	{ "data-dir", required_argument, NULL, O_DATA },
	{ "help", no_argument, NULL, O_HELP },
	{ "target", required_argument, NULL, O_TARGET },
	{ "ticket", required_argument, NULL, O_TICKET },
	{ "comment", required_argument, NULL, O_COMMENT },
	{ "reason", required_argument, NULL, O_REASON },
	{ "operator", required_argument, NULL, O_OPERATOR },
	{ "json", no_argument, NULL, O_JSON },
	{ "speed", required_argument, NULL, O_SPEED },
	{ "idle-limit", required_argument, NULL, O_IDLE },
	{ "server", required_argument, NULL, O_SERVER },
	{ NULL, 0, NULL, 0 },
};

struct sopts {
	const char *dir, *target, *ticket, *comment, *reason, *op, *speed, *idle, *server;
	int json, help;
};

static int
parse_num(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || end == s || *end || !(*v > 0) || *v > 1e6 ? -1 : 0;
}

int cli_session(int argc, char **argv);

int
cli_session(int argc, char **argv)
{
	static const struct {
		const char *name, *opts;
		int nargs;
	} cmds[] = {
		{ "start", "target ticket server", 0 }, { "join", "", 1 },
		{ "approve", "comment", 2 },     { "deny", "comment", 2 },
		{ "kill", "reason", 1 },          { "list", "target operator json", 0 },
		{ "replay", "speed idle-limit", 1 }, { "verify", "", 1 },
	};
	struct sopts o;
	struct ctx c;
	const char *cmd;
	int64_t id = 0, seq = 0;
	double speed = 1, idle = 0;
	size_t k;
	int rc, ch, nargs;

	if (argc < 2) {
		session_help(stderr);
		return CLI_EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		session_help(stdout);
		return CLI_EXIT_OK;
	}
	for (k = 0; k < sizeof(cmds) / sizeof(cmds[0]) && strcmp(cmds[k].name, cmd) != 0; k++)
		;
	if (k == sizeof(cmds) / sizeof(cmds[0])) {
		cli_warnx(SUB, "'%s' is not a session command (start, join, approve, deny, kill, "
		          "list, replay, verify); see --help", cmd);
		return CLI_EXIT_USAGE;
	}
	memset(&o, 0, sizeof(o));
	optind = 0;
	opterr = 0;
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, ":d:h", lo, NULL)) != -1) {
		const char *name = NULL;

		switch (ch) {
		case O_DATA: o.dir = optarg; break;
		case O_HELP: o.help = 1; break;
		case O_TARGET: o.target = optarg; name = "target"; break;
		case O_TICKET: o.ticket = optarg; name = "ticket"; break;
		case O_COMMENT: o.comment = optarg; name = "comment"; break;
		case O_REASON: o.reason = optarg; name = "reason"; break;
		case O_OPERATOR: o.op = optarg; name = "operator"; break;
		case O_JSON: o.json = 1; name = "json"; break;
		case O_SPEED: o.speed = optarg; name = "speed"; break;
		case O_IDLE: o.idle = optarg; name = "idle-limit"; break;
		case O_SERVER: o.server = optarg; name = "server"; break;
		case ':':
			cli_warnx(SUB, "%s: %s needs an argument", cmd, argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			cli_warnx(SUB, "%s: unknown option %s; see 'escort session --help'", cmd,
			          argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
		if (name && !strstr(cmds[k].opts, name)) {
			cli_warnx(SUB, "%s does not take --%s", cmd, name);
			return CLI_EXIT_USAGE;
		}
	}
	if (o.help) {
		session_help(stdout);
		return CLI_EXIT_OK;
	}
	nargs = argc - optind;
	if (nargs != cmds[k].nargs) {
		cli_warnx(SUB, "%s takes %s; see --help", cmd,
		          cmds[k].nargs == 0 ? "no arguments"
		          : cmds[k].nargs == 1 ? "a session ID" : "a session ID and a line number");
		return CLI_EXIT_USAGE;
	}
	if (nargs >= 1 && cli_parse_pos(argv[optind], &id) != 0) {
		cli_warnx(SUB, "%s: '%s' is not a session ID (a positive number)", cmd, argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (nargs == 2 && cli_parse_pos(argv[optind + 1], &seq) != 0) {
		cli_warnx(SUB, "%s: '%s' is not a line number (1, 2, ...)", cmd, argv[optind + 1]);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(cmd, "start") == 0 && o.target == NULL) {
		cli_warnx(SUB, "start needs --target T");
		return CLI_EXIT_USAGE;
	}
	if (strcmp(cmd, "deny") == 0 && (o.comment == NULL || !*o.comment)) {
		cli_warnx(SUB, "deny needs --comment TEXT saying why (the operator sees it)");
		return CLI_EXIT_USAGE;
	}
	if ((o.speed && parse_num(o.speed, &speed) != 0) || (o.idle && parse_num(o.idle, &idle))) {
		cli_warnx(SUB, "replay: --speed and --idle-limit take a positive number");
		return CLI_EXIT_USAGE;
	}
	if (strcmp(cmd, "start") == 0) {
		/* escortd holds the session: --server here, else $ESCORT_SERVER as for the other
		 * commands (`escort --server ''` keeps the local mode) */
		const char *url = o.server;

		if (url == NULL && cli_remote_active())
			url = cli_remote_url();
		if (url && *url)
			return cli_session_remote_start(url, o.target, o.ticket);
	}
	rc = ctx_open(&c, o.dir, strcmp(cmd, "start") == 0 || strcmp(cmd, "join") == 0);
	if (rc)
		goto out;
	if (strcmp(cmd, "start") == 0)
		rc = do_start(&c, o.target, o.ticket);
	else if (strcmp(cmd, "join") == 0)
		rc = do_join(&c, id);
	else if (strcmp(cmd, "approve") == 0 || strcmp(cmd, "deny") == 0)
		rc = do_decide(&c, id, seq, strcmp(cmd, "approve") == 0, o.comment);
	else if (strcmp(cmd, "kill") == 0)
		rc = do_kill(&c, id, o.reason);
	else if (strcmp(cmd, "list") == 0)
		rc = do_list(&c, o.target, o.op, o.json);
	else if (strcmp(cmd, "replay") == 0)
		rc = do_replay(&c, id, speed, idle);
	else
		rc = do_verify(&c, id);
out:
	ctx_close(&c);
	return rc;
}

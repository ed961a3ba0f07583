/* test_session.c — the pieces of interactive sessions that parse or produce bytes: the
 * shell's end-of-line marker scanner (every chunking, forgeries, bad statuses), the
 * asciicast v2 writer (escaping, UTF-8 repair across chunks, header, file hash), the
 * persistent local shell (state across lines, status, Ctrl-C, time limit, kill), and the
 * shell-escape classification of lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>

#include "audit/sth.h"
#include "broker/broker.h"
#include "lockbox/lockbox.h"
#include "session/session.h"
#include "util/buf.h"
#include "util/err.h"
#include "workflow/workflow.h"

#define HEX "0123456789abcdef0123456789abcdef"

static void
collect(void *ctx, const unsigned char *p, size_t n)
{
	(void)buf_put(ctx, p, n);
}

/* Feeds s in chunks of `step` bytes (0: all at once) and returns the output. */
static void
feed_in_chunks(broker_frame *f, const char *s, size_t step, buf *out)
{
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		k = step == 0 || n - i < step ? n - i : step;
		broker_frame_feed(f, (const unsigned char *)s + i, k, collect, out);
		i += k;
	}
}

static void
test_frame_every_split(void **state)
{
	const char *in = "hello\nESCORT-" HEX "-e:42\nafter";
	size_t step;

	(void)state;
	for (step = 0; step <= strlen(in); step++) {
		broker_frame f;
		buf out = BUF_INIT;

		assert_int_equal(broker_frame_init(&f, HEX), 0);
		feed_in_chunks(&f, in, step, &out);
		broker_frame_flush(&f, collect, &out);
		assert_string_equal(buf_cstr(&out), "hello\nafter");
		assert_true(f.seen_end);
		assert_int_equal(f.status_end, 42);
		assert_false(f.seen_probe);
		buf_free(&out);
	}
}

static void
test_frame_not_markers(void **state)
{
	static const char *const fakes[] = {
		"ESCORT-" HEX "-e:256\n",                                /* status too big */
		"ESCORT-" HEX "-x:0\n",                                  /* unknown tag */
		"ESCORT-" HEX "-e:\n",                                   /* no digits */
		"ESCORT-" HEX "-e:1234\n",                               /* too many digits */
		"ESCORT-" HEX "-e:%d\n",                                 /* the unexpanded command */
		"ESCORT-ffffffffffffffffffffffffffffffff-e:0\n",         /* another line's marker */
		"ESCORT-" HEX "-e:0",                                    /* cut: held, then flushed */
		"ESCORT-" HEX "-e:0 \n",
	};
	size_t i, step;

	(void)state;
	for (i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++) {
		for (step = 0; step < 5; step++) {
			broker_frame f;
			buf out = BUF_INIT;

			assert_int_equal(broker_frame_init(&f, HEX), 0);
			feed_in_chunks(&f, fakes[i], step, &out);
			broker_frame_flush(&f, collect, &out);
			assert_false(f.seen_end);
			assert_string_equal(buf_cstr(&out), fakes[i]);
			buf_free(&out);
		}
	}
}

static void
test_frame_probe_and_prefixes(void **state)
{
	broker_frame f;
	buf out = BUF_INIT;
	const char *in = "EESCORT-ESCORT-" HEX "-i:130\nx" "ESCORT-" HEX "-e:0\n";

	(void)state;
	assert_int_equal(broker_frame_init(&f, "XYZ"), ESC_EINVAL);
	assert_int_equal(broker_frame_init(&f, "0123456789ABCDEF0123456789ABCDEF"), ESC_EINVAL);
	assert_int_equal(broker_frame_init(&f, HEX), 0);
	feed_in_chunks(&f, in, 3, &out);
	broker_frame_flush(&f, collect, &out);
	assert_string_equal(buf_cstr(&out), "EESCORT-x");
	assert_true(f.seen_probe);
	assert_int_equal(f.status_probe, 130);
	assert_true(f.seen_end);
	assert_int_equal(f.status_end, 0);
	buf_free(&out);
}

static void
test_mark_new(void **state)
{
	char a[BROKER_MARK_HEX + 1], b[BROKER_MARK_HEX + 1];
	broker_frame f;

	(void)state;
	broker_mark_new(a);
	broker_mark_new(b);
	assert_int_equal(strlen(a), BROKER_MARK_HEX);
	assert_string_not_equal(a, b);
	assert_int_equal(broker_frame_init(&f, a), 0);
}

/* ---- asciicast ---- */

static void
test_cast_line_escapes(void **state)
{
	buf out = BUF_INIT, data = BUF_INIT;
	sess_cast_ev ev;
	const char *in = "a\"b\\c\n\r\t\x01\x1b[31mred\x7f";

	(void)state;
	assert_int_equal(sess_cast_line(&out, 1500000, 'o', (const unsigned char *)in, strlen(in),
	                                NULL, NULL, 1), 0);
	assert_string_equal(buf_cstr(&out), "[1.500000, \"o\", \"a\\\"b\\\\c\\n\\r\\t\\u0001"
	                                    "\\u001b[31mred\\u007f\"]\n");
	assert_int_equal(sess_cast_parse((const char *)out.data, out.len - 1, &ev, &data), 0);
	assert_int_equal(ev.type, 'o');
	assert_true(ev.t > 1.49 && ev.t < 1.51);
	assert_int_equal(data.len, strlen(in));
	assert_memory_equal(data.data, in, strlen(in));
	buf_free(&out);
	buf_free(&data);
}

static void
test_cast_utf8_repair(void **state)
{
	/* "é€" split inside both characters, plus an invalid byte and a lone continuation */
	const unsigned char a[] = { 'x', 0xc3 }, b[] = { 0xa9, 0xe2, 0x82 }, c[] = { 0xac, 0xff, 0x80, 'y' };
	unsigned char carry[4];
	size_t nc = 0;
	buf out = BUF_INIT, data = BUF_INIT, all = BUF_INIT;
	sess_cast_ev ev;
	const char *p, *nl;

	(void)state;
	assert_int_equal(sess_cast_line(&out, 0, 'o', a, sizeof(a), carry, &nc, 0), 0);
	assert_int_equal(nc, 1);
	assert_int_equal(sess_cast_line(&out, 1, 'o', b, sizeof(b), carry, &nc, 0), 0);
	assert_int_equal(nc, 2);
	assert_int_equal(sess_cast_line(&out, 2, 'o', c, sizeof(c), carry, &nc, 0), 0);
	assert_int_equal(nc, 0);
	/* every line is valid JSON; the data joined is the text with U+FFFD for bad bytes */
	for (p = buf_cstr(&out); (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		assert_int_equal(sess_cast_parse(p, (size_t)(nl - p), &ev, &data), 0);
		buf_put(&all, data.data, data.len);
	}
	assert_string_equal(buf_cstr(&all), "x\xc3\xa9\xe2\x82\xac\xef\xbf\xbd\xef\xbf\xbdy");
	buf_free(&out);
	buf_free(&data);
	buf_free(&all);
}

static void
test_cast_file(void **state)
{
	char dir[] = "/tmp/escort-test-session-XXXXXX", path[256];
	sess_cast *c = NULL;
	buf msg = BUF_INIT, file = BUF_INIT;
	unsigned char sha[32], sha2[32];
	uint64_t bytes = 0, bytes2 = 0;
	json_t *h;
	char *nl;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/1.cast", dir);
	assert_int_equal(sess_cast_open(&c, path, 100, 30, 1764000000000000LL, "t", &msg), 0);
	/* an existing recording is never overwritten */
	{
		sess_cast *c2 = NULL;

		assert_int_not_equal(sess_cast_open(&c2, path, 80, 24, 0, "t", &msg), 0);
	}
	assert_int_equal(sess_cast_event(c, 1764000000500000LL, 'i', (const unsigned char *)"ls\n", 3), 0);
	assert_int_equal(sess_cast_event(c, 1764000001000000LL, 'o', (const unsigned char *)"a\r\n", 3), 0);
	assert_int_equal(sess_cast_event(c, 1764000001000001LL, 'm', (const unsigned char *)"ok", 2), 0);
	assert_int_equal(sess_cast_close(c, sha, &bytes, &msg), 0);
	assert_int_equal(sess_file_sha256(path, sha2, &bytes2), 0);
	assert_memory_equal(sha, sha2, 32);
	assert_int_equal(bytes, bytes2);
	assert_int_equal(buf_read_file(&file, path), 0);
	assert_int_equal(file.len, bytes);
	nl = strchr(buf_cstr(&file), '\n');
	assert_non_null(nl);
	h = json_loadb((const char *)file.data, (size_t)(nl - (char *)file.data), 0, NULL);
	assert_non_null(h);
	assert_int_equal(json_integer_value(json_object_get(h, "version")), 2);
	assert_int_equal(json_integer_value(json_object_get(h, "width")), 100);
	assert_int_equal(json_integer_value(json_object_get(h, "timestamp")), 1764000000);
	json_decref(h);
	assert_non_null(strstr(buf_cstr(&file), "[0.500000, \"i\", \"ls\\n\"]\n"
	                                         "[1.000000, \"o\", \"a\\r\\n\"]\n"
	                                         "[1.000001, \"m\", \"ok\"]\n"));
	unlink(path);
	rmdir(dir);
	buf_free(&msg);
	buf_free(&file);
}

/* Output from a pipe ends lines in a bare "\n": recorded as "\r\n" (what a terminal
 * shows), also across chunk boundaries; "\r\n" stays; input and markers are untouched;
 * the hash taken while writing is the file's. */
static void
test_cast_crlf(void **state)
{
	static const char *const chunks[] = { "a\nb", "\nc\r", "\nd\r\n", "e\n", "\n", "f" };
	static const char *const want[] = { "a\r\nb", "\r\nc\r", "\nd\r\n", "e\r\n", "\r\n", "f" };
	char dir[] = "/tmp/escort-test-session-XXXXXX", path[256];
	sess_cast *c = NULL;
	buf msg = BUF_INIT, file = BUF_INIT, data = BUF_INIT, all = BUF_INIT;
	unsigned char sha[32], sha2[32];
	uint64_t bytes = 0, bytes2 = 0;
	sess_cast_ev ev;
	size_t i, off, nout = 0, nm = 0, ni = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/1.cast", dir);
	assert_int_equal(sess_cast_open(&c, path, 80, 24, 1764000000000000LL, "t", &msg), 0);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		assert_int_equal(sess_cast_event(c, 1764000000000000LL + (int64_t)i * 10, 'o',
		                                 (const unsigned char *)chunks[i], strlen(chunks[i])), 0);
		if (i == 2) { /* between output chunks: neither changed nor in the output's state */
			assert_int_equal(sess_cast_event(c, 1764000000000021LL, 'm',
			                                 (const unsigned char *)"x\ny", 3), 0);
			assert_int_equal(sess_cast_event(c, 1764000000000022LL, 'i',
			                                 (const unsigned char *)"ls\n", 3), 0);
		}
	}
	assert_int_equal(sess_cast_close(c, sha, &bytes, &msg), 0);
	assert_int_equal(sess_file_sha256(path, sha2, &bytes2), 0);
	assert_memory_equal(sha, sha2, 32);
	assert_int_equal(bytes, bytes2);
	assert_int_equal(buf_read_file(&file, path), 0);
	assert_int_equal(file.len, bytes);
	off = (size_t)((unsigned char *)memchr(file.data, '\n', file.len) - file.data) + 1;
	while (off < file.len) {
		unsigned char *nl = memchr(file.data + off, '\n', file.len - off);

		assert_non_null(nl);
		assert_int_equal(sess_cast_parse((const char *)file.data + off,
		                                 (size_t)(nl - (file.data + off)), &ev, &data), 0);
		if (ev.type == 'o') {
			assert_true(nout < sizeof(want) / sizeof(want[0]));
			assert_int_equal(data.len, strlen(want[nout]));
			assert_memory_equal(data.data, want[nout], data.len);
			nout++;
			assert_int_equal(buf_put(&all, data.data, data.len), 0);
		} else if (ev.type == 'm') {
			assert_int_equal(data.len, 3);
			assert_memory_equal(data.data, "x\ny", 3);
			nm++;
		} else if (ev.type == 'i') {
			assert_int_equal(data.len, 3);
			assert_memory_equal(data.data, "ls\n", 3);
			ni++;
		}
		off = (size_t)(nl - file.data) + 1;
	}
	assert_int_equal(nout, sizeof(want) / sizeof(want[0]));
	assert_int_equal(nm, 1);
	assert_int_equal(ni, 1);
	assert_int_equal(all.len, strlen("a\r\nb\r\nc\r\nd\r\ne\r\n\r\nf"));
	assert_memory_equal(all.data, "a\r\nb\r\nc\r\nd\r\ne\r\n\r\nf", all.len);
	unlink(path);
	rmdir(dir);
	buf_free(&msg);
	buf_free(&file);
	buf_free(&data);
	buf_free(&all);
}

/* ---- the persistent shell ---- */

struct pctx {
	buf out;
	int polls;
	int act_after; /* polls before answering act */
	int act;
};

static void
shell_out(void *ctx, int stream, const unsigned char *p, size_t n)
{
	struct pctx *c = ctx;

	(void)stream;
	(void)buf_put(&c->out, p, n);
}

static int
shell_poll(void *ctx)
{
	struct pctx *c = ctx;

	if (c->act && ++c->polls >= c->act_after)
		return c->act;
	return BROKER_SHELL_GO;
}

static int
run(broker_shell *sh, const char *line, unsigned timeout_ms, int act, int after,
    broker_shell_result *res, buf *out)
{
	struct pctx c;
	broker_shell_io io;
	buf msg = BUF_INIT;
	int rc;

	memset(&c, 0, sizeof(c));
	c.act = act;
	c.act_after = after;
	memset(&io, 0, sizeof(io));
	io.timeout_ms = timeout_ms;
	io.on_output = shell_out;
	io.poll = shell_poll;
	io.ctx = &c;
	rc = broker_shell_run(sh, (const unsigned char *)line, strlen(line), &io, res, &msg);
	buf_reset(out);
	buf_put(out, c.out.data, c.out.len);
	buf_free(&c.out);
	buf_free(&msg);
	return rc;
}

static void
test_shell_state_and_status(void **state)
{
	broker_target t;
	broker_shell *sh = NULL;
	broker_shell_result res;
	buf msg = BUF_INIT, out = BUF_INIT;
	char forged[128];

	(void)state;
	memset(&t, 0, sizeof(t));
	t.name = "local";
	t.transport = BROKER_LOCAL;
	assert_int_equal(broker_shell_open(&sh, &t, NULL, &msg), 0);
	assert_int_equal(run(sh, "cd /tmp && export X=5 Y='a b'", 5000, 0, 0, &res, &out), 0);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(run(sh, "pwd; echo \"$X/$Y\"; false", 5000, 0, 0, &res, &out), 0);
	assert_string_equal(buf_cstr(&out), "/tmp\n5/a b\n");
	assert_int_equal(res.exit_code, 1);
	/* stdin is /dev/null: cat ends at once instead of eating what follows */
	assert_int_equal(run(sh, "cat; echo done", 5000, 0, 0, &res, &out), 0);
	assert_string_equal(buf_cstr(&out), "done\n");
	/* output that looks like a marker is output */
	snprintf(forged, sizeof(forged), "printf 'ESCORT-%s-e:0\\n'; exit_code_is_3() { return 3; }; exit_code_is_3", HEX);
	assert_int_equal(run(sh, forged, 5000, 0, 0, &res, &out), 0);
	assert_int_equal(res.exit_code, 3);
	assert_non_null(strstr(buf_cstr(&out), "ESCORT-" HEX "-e:0"));
	/* quotes and odd bytes arrive exactly */
	assert_int_equal(run(sh, "printf '%s|' \"it's\" '$HOME' \"\\\\\" '!x'", 5000, 0, 0, &res, &out), 0);
	assert_string_equal(buf_cstr(&out), "it's|$HOME|\\|!x|");
	/* a background job does not outlive its line */
	assert_int_equal(run(sh, "sleep 30 & echo $! > /tmp/escort-test-bg.pid", 5000, 0, 0, &res, &out), 0);
	{
		buf pid = BUF_INIT;
		int64_t st;

		assert_int_equal(buf_read_file(&pid, "/tmp/escort-test-bg.pid"), 0);
		usleep(100000);
		assert_int_not_equal(broker_proc_start(atoll(buf_cstr(&pid)), &st), 0);
		unlink("/tmp/escort-test-bg.pid");
		buf_free(&pid);
	}
	/* exit ends the shell */
	assert_int_equal(run(sh, "exit 7", 5000, 0, 0, &res, &out), 0);
	assert_true(res.shell_exited);
	assert_false(broker_shell_alive(sh));
	broker_shell_close(sh);
	buf_free(&msg);
	buf_free(&out);
}

static void
test_shell_interrupt_timeout_kill(void **state)
{
	broker_target t;
	broker_shell *sh = NULL;
	broker_shell_result res;
	buf msg = BUF_INIT, out = BUF_INIT;
	int64_t pid, st;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.name = "local";
	t.transport = BROKER_LOCAL;
	assert_int_equal(broker_shell_open(&sh, &t, NULL, &msg), 0);
	/* Ctrl-C: the line stops, the rest of it does not run, the shell stays */
	assert_int_equal(run(sh, "X=1; sleep 20; echo not-reached", 30000, BROKER_SHELL_INTERRUPT, 4, &res, &out), 0);
	assert_true(res.interrupted);
	assert_int_equal(res.exit_code, 130);
	assert_null(strstr(buf_cstr(&out), "not-reached"));
	assert_true(res.ms < 5000);
	assert_int_equal(run(sh, "echo $X", 5000, 0, 0, &res, &out), 0);
	assert_string_equal(buf_cstr(&out), "1\n");
	/* a busy builtin loop is interrupted too */
	assert_int_equal(run(sh, "while :; do :; done", 30000, BROKER_SHELL_INTERRUPT, 3, &res, &out), 0);
	assert_true(res.interrupted);
	/* the time limit, also for a line that ignores SIGINT */
	assert_int_equal(run(sh, "trap '' INT; sleep 20", 300, 0, 0, &res, &out), 0);
	assert_true(res.timed_out);
	assert_int_equal(res.exit_code, BROKER_EXIT_TIMEOUT);
	assert_true(res.ms < 4000);
	assert_true(broker_shell_alive(sh) || res.killed);
	if (!broker_shell_alive(sh)) {
		broker_shell_close(sh);
		sh = NULL;
		assert_int_equal(broker_shell_open(&sh, &t, NULL, &msg), 0);
	}
	assert_int_equal(run(sh, "trap - INT; echo alive", 5000, 0, 0, &res, &out), 0);
	assert_string_equal(buf_cstr(&out), "alive\n");
	/* the kill switch: the shell and its children are gone */
	pid = broker_shell_pid(sh);
	assert_int_equal(run(sh, "sleep 20", 30000, BROKER_SHELL_KILL, 2, &res, &out), 0);
	assert_true(res.killed);
	assert_false(broker_shell_alive(sh));
	assert_int_not_equal(broker_proc_start(pid, &st), 0);
	broker_shell_close(sh);
	/* killing by pid from elsewhere, with the start-time check */
	assert_int_equal(broker_shell_open(&sh, &t, NULL, &msg), 0);
	pid = broker_shell_pid(sh);
	assert_int_equal(broker_shell_kill_pid(pid, broker_shell_start(sh) + 1, &msg), 0);
	assert_int_equal(broker_proc_start(pid, &st), 0); /* wrong start time: spared */
	assert_int_equal(broker_shell_kill_pid(pid, broker_shell_start(sh), &msg), 0);
	usleep(50000);
	assert_int_equal(run(sh, "echo x", 2000, 0, 0, &res, &out) == 0 ? res.shell_exited || res.killed : 1, 1);
	broker_shell_close(sh);
	/* an ssh target without host or key is refused before anything is sent */
	t.transport = BROKER_SSH;
	buf_reset(&msg);
	assert_int_equal(broker_shell_open(&sh, &t, NULL, &msg), ESC_EINVAL);
	assert_non_null(strstr(buf_cstr(&msg), "has no host"));
	buf_free(&msg);
	buf_free(&out);
}

/* ---- escaping line-by-line gating ---- */

static void
test_escapes(void **state)
{
	static const struct {
		const char *line;
		int escapes;
	} cases[] = {
		{ "bash", 1 }, { "python3", 1 }, { "python3 -i", 1 }, { "sleep 9 &", 1 },
		{ "cd /tmp && sleep 9 & echo x", 1 }, { "nohup ./x", 1 }, { "sudo -u root tmux", 1 },
		{ "ssh host2 uptime", 1 }, { "env A=1 bash", 1 }, { "timeout 5 psql", 1 },
		{ "if true; then mysql; fi", 1 }, { "coproc cat", 1 },
		{ "ls -l", 0 }, { "python3 script.py", 0 }, { "bash -c 'echo hi'", 0 },
		{ "mysql -e 'select 1'", 0 }, { "echo a && echo b", 0 }, { "cat x >&2", 0 },
		{ "ls &>/dev/null", 0 }, { "sudo systemctl restart nginx", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf why = BUF_INIT;
		int got = wf_isession_escape_reason((const unsigned char *)cases[i].line,
		                                    strlen(cases[i].line), &why);

		if (got != cases[i].escapes)
			print_error("%s: got %d (%s)\n", cases[i].line, got, buf_cstr(&why));
		assert_int_equal(got, cases[i].escapes);
		if (got)
			assert_true(why.len > 0);
		buf_free(&why);
	}
}

/* ---- a whole session through the session layer and the workflow ---- */

struct ui_rec {
	buf out, notes;
	int interrupt_after; /* interrupted() answers 1 on this call (0: never) */
	int calls;
};

static void
ui_out(void *ctx, const unsigned char *p, size_t n)
{
	buf_put(&((struct ui_rec *)ctx)->out, p, n);
}

static void
ui_note(void *ctx, const char *t)
{
	buf_printf(&((struct ui_rec *)ctx)->notes, "%s\n", t);
}

static int
ui_int(void *ctx)
{
	struct ui_rec *u = ctx;

	return u->interrupt_after && ++u->calls >= u->interrupt_after;
}

static void
test_session_flow(void **state)
{
	char dir[] = "/tmp/escort-test-sess-XXXXXX", e[512] = "", cmd[128], hex[65], logged[65];
	const char *rules = getenv("ESCORT_RULES");
	store *st = NULL;
	lockbox *lb = NULL;
	wf *w = NULL;
	sess *s = NULL;
	buf err = BUF_INIT, msg = BUF_INIT, pol = BUF_INIT, names = BUF_INIT;
	struct ui_rec u;
	sess_ui ui;
	store_isession *v = NULL, se;
	store_isession_line *lines = NULL;
	size_t n = 0, i;
	unsigned char sha[32];
	uint64_t bytes;
	int64_t id, rid = 0;

	(void)state;
	memset(&u, 0, sizeof(u));
	assert_non_null(mkdtemp(dir));
	assert_int_equal(audit_key_generate(dir, e, sizeof(e)), 0);
	assert_int_equal(store_open_sqlite(&st, dir, 1, e, sizeof(e)), 0);
	store_close(st);
	assert_int_equal(lockbox_load(&lb, rules && *rules ? rules : "rules", NULL, &err), 0);
	assert_int_equal(wf_open(&w, dir, lb, e, sizeof(e)), 0);
	assert_int_equal(buf_read_file(&pol, "examples/policy.yaml"), 0);
	assert_int_equal(wf_policy_load(w, "test", (const char *)pol.data, pol.len, "policy.yaml",
	                                NULL, &msg), 0);
	memset(&ui, 0, sizeof(ui));
	ui.output = ui_out;
	ui.notice = ui_note;
	ui.interrupted = ui_int;
	ui.ctx = &u;
	/* an operator the policy keeps out of dod cannot open a session there */
	assert_int_equal(sess_start(&s, w, "op-cn", "dod-web", NULL, &ui, &msg), WF_EREFUSED);
	assert_null(s);
	buf_reset(&msg);
	/* escorts do not open sessions */
	assert_int_equal(sess_start(&s, w, "esc-1", "com-web", NULL, &ui, &msg), WF_EREFUSED);
	buf_reset(&msg);
	assert_int_equal(sess_start(&s, w, "op-in", "com-web", "CHG-1", &ui, &msg), 0);
	id = sess_id(s);
#define LINE(x) sess_line(s, (const unsigned char *)(x), strlen(x), &msg)
	assert_int_equal(LINE("cd /tmp && echo hi"), 0);
	assert_int_equal(LINE("pwd"), 0);
	assert_string_equal(buf_cstr(&u.out), "hi\n/tmp\n");
	/* output is redacted for the operator */
	buf_reset(&u.out);
	assert_int_equal(LINE("echo password=hunter2"), 0);
	assert_null(strstr(buf_cstr(&u.out), "hunter2"));
	/* a private key printed in pieces never reaches the operator unredacted */
	buf_reset(&u.out);
	assert_int_equal(LINE("printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\\n'; sleep 0.5; "
	                      "printf 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\\n'; sleep 0.3; "
	                      "printf -- '-----END OPENSSH PRIVATE KEY-----\\nafter\\n'"), 0);
	assert_null(strstr(buf_cstr(&u.out), "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"));
	assert_non_null(strstr(buf_cstr(&u.out), "after\n"));
	/* a line that needs an escort waits; Ctrl-C withdraws it */
	u.interrupt_after = 3;
	assert_int_equal(LINE("curl -s --max-time 1 http://127.0.0.1:9/"), 0);
	assert_non_null(strstr(buf_cstr(&u.notes), "line 5 waits for approval"));
	assert_non_null(strstr(buf_cstr(&u.notes), "line 5 withdrawn"));
	u.interrupt_after = 0;
	assert_int_equal(wf_isession_line_request(w, id, 5, &rid, &msg), 0);
	{
		store_request r;
		store_approval *apv = NULL;
		size_t napv = 0;

		assert_int_equal(wf_request_get(w, "op-in", rid, &r, &apv, &napv, &msg), 0);
		assert_string_equal(r.state, "cancelled");
		assert_non_null(strstr(r.justification, "interactive session"));
		store_request_clear(&r);
		store_approvals_free(apv, napv);
	}
	/* presence: escorts only, never the operator himself */
	assert_int_equal(wf_isession_presence(w, "op-in", id, 1, &msg), WF_EREFUSED);
	assert_int_equal(wf_isession_presence(w, "esc-1", id, 1, &msg), 0);
	assert_int_equal(wf_isession_present(w, id, "com-web", &n, &names), 0);
	assert_int_equal(n, 1);
	assert_string_equal(buf_cstr(&names), "esc-1");
	assert_int_equal(wf_isession_presence(w, "esc-1", id, 0, &msg), 0);
	assert_int_equal(wf_isession_present(w, id, "com-web", &n, NULL), 0);
	assert_int_equal(n, 0);
	/* another operator may neither see nor kill it */
	buf_reset(&msg);
	assert_int_equal(wf_isession_get(w, "op-cn", id, &se, &msg), WF_EREFUSED);
	assert_int_equal(wf_isession_kill(w, "op-cn", id, "x", &se, &msg), WF_EREFUSED);
	assert_int_equal(wf_isession_lines(w, "aud-1", id, &lines, &n, &msg), 0);
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++)
		assert_int_equal(lines[i].seq, (int64_t)i + 1);
	free(lines);
	/* the end: recording hashed into the audit log */
	snprintf(cmd, sizeof(cmd), "%s", sess_recording(s));
	assert_int_equal(sess_end(s, "done", &msg), 0);
	sess_free(s);
	assert_int_equal(sess_file_sha256(cmd, sha, &bytes), 0);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	assert_int_equal(wf_isession_recorded_hash(w, id, logged, sizeof(logged), &msg), 0);
	assert_string_equal(hex, logged);
	assert_int_equal(wf_isession_list(w, "op-in", "com-web", NULL, &v, &n, &msg), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].state, "ended");
	assert_string_equal(v[0].recording_sha256, hex);
	store_isessions_free(v, n);
	assert_int_equal(wf_isession_list(w, "op-cn", NULL, "op-in", &v, &n, &msg), WF_EREFUSED);
	wf_close(w);
	lockbox_free(lb);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	buf_free(&err);
	buf_free(&msg);
	buf_free(&pol);
	buf_free(&names);
	buf_free(&u.out);
	buf_free(&u.notes);
#undef LINE
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_every_split),
		cmocka_unit_test(test_frame_not_markers),
		cmocka_unit_test(test_frame_probe_and_prefixes),
		cmocka_unit_test(test_mark_new),
		cmocka_unit_test(test_cast_line_escapes),
		cmocka_unit_test(test_cast_utf8_repair),
		cmocka_unit_test(test_cast_file),
		cmocka_unit_test(test_cast_crlf),
		cmocka_unit_test(test_shell_state_and_status),
		cmocka_unit_test(test_shell_interrupt_timeout_kill),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_session_flow),
	};

	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

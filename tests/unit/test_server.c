/* test_server.c — escortd's pieces below HTTP: HOTP/TOTP against the RFC 4226 and RFC 6238
 * test vectors, base32 against RFC 4648, one-use TOTP verification over a real store,
 * console sessions kept hashed, the change feed, and the request-body and query-string
 * parsers refusing bad input with the field named. */
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

#include "server/parse.h"
#include "store/store.h"
#include "util/err.h"
#include "workflow/workflow.h"

/* ---- RFC 4226 appendix D ---- */

static void
test_hotp_rfc4226(void **state)
{
	static const uint32_t want[10] = { 755224, 287082, 359152, 969429, 338314,
		                               254676, 287922, 162583, 399871, 520489 };
	const unsigned char *key = (const unsigned char *)"12345678901234567890";
	uint32_t c;
	uint64_t i;

	(void)state;
	for (i = 0; i < 10; i++) {
		assert_int_equal(wf_hotp(key, 20, "SHA1", i, 6, &c), 0);
		assert_int_equal(c, want[i]);
	}
	assert_int_equal(wf_hotp(key, 20, "SHA1", 0, 5, &c), ESC_EINVAL);
	assert_int_equal(wf_hotp(key, 20, NULL, 0, 6, &c), ESC_EINVAL);
}

/* ---- RFC 6238 appendix B ---- */

static void
test_totp_rfc6238(void **state)
{
	static const struct {
		int64_t t;
		uint32_t sha1, sha256, sha512;
	} v[] = {
		{ 59, 94287082, 46119246, 90693936 },
		{ 1111111109, 7081804, 68084774, 25091201 },
		{ 1111111111, 14050471, 67062674, 99943326 },
		{ 1234567890, 89005924, 91819424, 93441116 },
		{ 2000000000, 69279037, 90698825, 38618901 },
		{ 20000000000, 65353130, 77737706, 47863826 },
	};
	const unsigned char *k1 = (const unsigned char *)"12345678901234567890";
	const unsigned char *k256 = (const unsigned char *)"12345678901234567890123456789012";
	const unsigned char *k512 = (const unsigned char *)"1234567890123456789012345678901234567890"
	                                                   "123456789012345678901234";
	uint32_t c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(wf_totp(k1, 20, "SHA1", v[i].t, 8, &c), 0);
		assert_int_equal(c, v[i].sha1);
		assert_int_equal(wf_totp(k256, 32, "SHA256", v[i].t, 8, &c), 0);
		assert_int_equal(c, v[i].sha256);
		assert_int_equal(wf_totp(k512, 64, "SHA512", v[i].t, 8, &c), 0);
		assert_int_equal(c, v[i].sha512);
	}
	assert_int_equal(wf_totp(k1, 20, "SHA1", -1, 6, &c), ESC_EINVAL);
}

static void
test_base32(void **state)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const out[] = { "", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB",
		                               "MZXW6YTBOI" };
	char b[32];
	size_t i;

	(void)state;
	for (i = 0; i < 7; i++) {
		assert_int_equal(wf_base32((const unsigned char *)in[i], strlen(in[i]), b, sizeof(b)), 0);
		assert_string_equal(b, out[i]);
	}
	assert_int_equal(wf_base32((const unsigned char *)"foobar", 6, b, 10), ESC_ETOOBIG);
}

/* ---- one-use verification over a real store ---- */

struct fx {
	char dir[64];
	wf *w;
};

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	store *s = NULL;
	char err[512];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_server.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open_sqlite(&s, f->dir, 1, err, sizeof(err)), 0);
	store_close(s);
	assert_int_equal(wf_open(&f->w, f->dir, NULL, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	wf_close(f->w);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
code_at(const unsigned char *key, int64_t t, char out[8])
{
	uint32_t c;

	assert_int_equal(wf_totp(key, WF_TOTP_SECRET_LEN, "SHA1", t, 6, &c), 0);
	snprintf(out, 8, "%06u", (unsigned)c);
}

static void
test_totp_verify_once(void **state)
{
	struct fx *f = *state;
	const unsigned char key[WF_TOTP_SECRET_LEN] = "abcdefghijklmnopqrst";
	const int64_t t = 1700000000; /* mid-step: 1700000000 % 30 == 20 */
	buf msg = BUF_INIT;
	char c[8];
	int yes = 1;

	assert_int_equal(wf_totp_enrolled(f->w, "esc-1", &yes, &msg), 0);
	assert_false(yes);
	code_at(key, t, c);
	assert_int_equal(wf_totp_verify(f->w, "esc-1", c, t * 1000000, &msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "no TOTP secret"));
	assert_int_equal(store_totp_set(wf_store(f->w), "esc-1", key, sizeof(key), 1), 0);
	assert_int_equal(wf_totp_enrolled(f->w, "esc-1", &yes, &msg), 0);
	assert_true(yes);

	/* the current code works once */
	buf_reset(&msg);
	assert_int_equal(wf_totp_verify(f->w, "esc-1", c, t * 1000000, &msg), 0);
	assert_int_equal(wf_totp_verify(f->w, "esc-1", c, t * 1000000, &msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "already used"));
	/* an older step after a newer one was used: refused */
	code_at(key, t - 30, c);
	assert_int_equal(wf_totp_verify(f->w, "esc-1", c, t * 1000000, &msg), WF_EREFUSED);
	/* the next step (clock drift) is accepted, two steps ahead is not */
	code_at(key, t + 60, c);
	assert_int_equal(wf_totp_verify(f->w, "esc-1", c, t * 1000000, &msg), WF_EREFUSED);
	code_at(key, t + 30, c);
	assert_int_equal(wf_totp_verify(f->w, "esc-1", c, t * 1000000, &msg), 0);
	/* a code six minutes old is refused */
	code_at(key, t + 30 * 3, c);
	assert_int_equal(wf_totp_verify(f->w, "esc-1", c, (t + 30 * 3 + 360) * 1000000, &msg),
	                 WF_EREFUSED);
	/* malformed codes */
	assert_int_equal(wf_totp_verify(f->w, "esc-1", "12345", t * 1000000, &msg), WF_EREFUSED);
	assert_int_equal(wf_totp_verify(f->w, "esc-1", "12a456", t * 1000000, &msg), WF_EREFUSED);
	assert_int_equal(wf_totp_verify(f->w, "esc-1", NULL, t * 1000000, &msg), WF_EREFUSED);
	/* re-enrolment starts the used-step record over and the old secret stops working */
	{
		const unsigned char k2[WF_TOTP_SECRET_LEN] = "ABCDEFGHIJKLMNOPQRST";

		assert_int_equal(store_totp_set(wf_store(f->w), "esc-1", k2, sizeof(k2), 2), 0);
		code_at(key, t + 600, c);
		assert_int_equal(wf_totp_verify(f->w, "esc-1", c, (t + 600) * 1000000, &msg),
		                 WF_EREFUSED);
		code_at(k2, t + 600, c);
		assert_int_equal(wf_totp_verify(f->w, "esc-1", c, (t + 600) * 1000000, &msg), 0);
	}
	buf_free(&msg);
}

static void
test_sessions_and_changes(void **state)
{
	struct fx *f = *state;
	store *s = wf_store(f->w);
	store_session se, got;
	store_change *v = NULL;
	size_t n = 0;
	int acc = 0;

	memset(&se, 0, sizeof(se));
	memset(se.hash, 7, sizeof(se.hash));
	se.identity = "esc-1";
	memset(se.csrf, 'a', 64);
	se.created_us = 10;
	se.expires_us = 20;
	assert_int_equal(store_session_put(s, &se), 0);
	assert_int_equal(store_session_get(s, se.hash, &got), 0);
	assert_string_equal(got.identity, "esc-1");
	assert_int_equal(strlen(got.csrf), 64);
	assert_int_equal(got.totp_us, 0);
	store_session_clear(&got);
	assert_int_equal(store_session_totp(s, se.hash, 15), 0);
	assert_int_equal(store_session_get(s, se.hash, &got), 0);
	assert_int_equal(got.totp_us, 15);
	store_session_clear(&got);
	assert_int_equal(store_session_delete(s, se.hash), 0);
	assert_int_equal(store_session_get(s, se.hash, &got), ESC_ENOENT);
	assert_int_equal(store_session_delete(s, se.hash), ESC_ENOENT);
	/* a session token that is not in the store is refused */
	{
		buf msg = BUF_INIT;

		assert_int_equal(wf_session_lookup(f->w, "00", &got, &msg), WF_EREFUSED);
		buf_free(&msg);
	}
	/* totp_use is atomic and monotonic */
	assert_int_equal(store_totp_set(s, "rev-1", (const unsigned char *)"0123456789abcdefghij", 20,
	                                 1), 0);
	assert_int_equal(store_totp_use(s, "rev-1", 5, &acc), 0);
	assert_true(acc);
	assert_int_equal(store_totp_use(s, "rev-1", 5, &acc), 0);
	assert_false(acc);
	assert_int_equal(store_totp_use(s, "nobody", 9, &acc), 0);
	assert_false(acc);
	/* the change feed on an empty store */
	assert_int_equal(store_request_changes(s, 0, 10, &v, &n), 0);
	assert_int_equal(n, 0);
	store_changes_free(v, n);
}

/* ---- parsers ---- */

static void
test_parse_create(void **state)
{
	srv_create c;
	srv_err e;
	const char *ok = "{\"target\":\"dod-web\",\"commands\":[\"uptime\",\"id -u\"],"
	                 "\"ticket\":\"CHG-1\"}";
	const char *b64 = "{\"target\":\"t\",\"commands_b64\":[\"ZWNobyDp\"]}";

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(srv_parse_create(ok, strlen(ok), &c, &e), 0);
	assert_string_equal(c.target, "dod-web");
	assert_string_equal(c.ticket, "CHG-1");
	assert_null(c.justification);
	assert_int_equal(c.ncmds, 2);
	assert_memory_equal(c.cmds[1].p, "id -u", 5);
	srv_create_free(&c);
	assert_int_equal(srv_parse_create(b64, strlen(b64), &c, &e), 0);
	assert_int_equal(c.cmds[0].n, 6);
	assert_memory_equal(c.cmds[0].p, "echo \xe9", 6);
	srv_create_free(&c);

#define BAD(body, st, fld)                                                                   \
	do {                                                                                     \
		memset(&e, 0, sizeof(e));                                                            \
		assert_int_not_equal(srv_parse_create(body, strlen(body), &c, &e), 0);               \
		assert_int_equal(e.status, st);                                                      \
		assert_string_equal(e.field, fld);                                                   \
		assert_null(c.root);                                                                 \
	} while (0)
	BAD("", 400, "");
	BAD("[1]", 400, "");
	BAD("{\"target\":\"t\",", 400, "");
	BAD("{\"commands\":[\"x\"]}", 400, "target");
	BAD("{\"target\":7,\"commands\":[\"x\"]}", 400, "target");
	BAD("{\"target\":\"t\"}", 400, "commands");
	BAD("{\"target\":\"t\",\"commands\":[]}", 400, "commands");
	BAD("{\"target\":\"t\",\"commands\":[\"a\",\"\"]}", 400, "commands[1]");
	BAD("{\"target\":\"t\",\"commands\":[\"a\",null]}", 400, "commands[1]");
	BAD("{\"target\":\"t\",\"commands\":[\"a\"],\"commands_b64\":[\"YQ==\"]}", 400, "commands_b64");
	BAD("{\"target\":\"t\",\"commands_b64\":[\"YQ==\",\"!!\"]}", 400, "commands_b64[1]");
	BAD("{\"target\":\"t\",\"commands\":[\"a\"],\"extra\":1}", 400, "extra");
	BAD("{\"target\":\"t\",\"target\":\"u\",\"commands\":[\"a\"]}", 400, "");
	BAD("{\"target\":\"t\",\"commands\":[\"a\\u0000b\"]}", 400, "");
	BAD("{\"target\":\"t\",\"commands\":[\"\xff\"]}", 400, "");
	BAD("{\"target\":\"t\",\"ticket\":\"a\\u0000\",\"commands\":[\"a\"]}", 400, "");
#undef BAD
	{
		/* nesting beyond the limit is refused before parsing */
		char deep[200];

		memset(deep, '[', 100);
		memset(deep + 100, ']', 100);
		assert_int_not_equal(srv_parse_create(deep, sizeof(deep), &c, &e), 0);
		assert_non_null(strstr(e.msg, "nested"));
	}
}

static void
test_parse_others(void **state)
{
	srv_action a;
	srv_login l;
	srv_analyze an;
	srv_err e;

	(void)state;
	assert_int_equal(srv_parse_action("", 0, &a, &e), 0);
	assert_null(a.comment);
	assert_int_equal(srv_parse_action(" \n", 2, &a, &e), 0);
	assert_int_equal(srv_parse_action("{\"comment\":\"ok\",\"totp\":\"123456\"}", 32, &a, &e), 0);
	assert_string_equal(a.comment, "ok");
	assert_string_equal(a.totp, "123456");
	srv_json_free(&a.root);
	assert_int_equal(srv_parse_action("{\"comment\":\"\"}", 14, &a, &e), 0);
	assert_null(a.comment); /* an empty comment is no comment */
	srv_json_free(&a.root);
	assert_int_not_equal(srv_parse_action("{\"comment\":1}", 13, &a, &e), 0);
	assert_string_equal(e.field, "comment");
	assert_int_not_equal(srv_parse_action("{\"totp\":\"12345678901234567\"}", 28, &a, &e), 0);
	assert_string_equal(e.field, "totp");

	assert_int_not_equal(srv_parse_login("{}", 2, &l, &e), 0);
	assert_string_equal(e.field, "token");
	assert_int_equal(srv_parse_login("{\"token\":\"esc_x\"}", 17, &l, &e), 0);
	assert_null(l.totp);
	srv_json_free(&l.root);

	assert_int_equal(srv_parse_analyze("{\"command_b64\":\"AGE=\"}", 22, 0, &an, &e), 0);
	assert_int_equal(an.cmd.n, 2); /* a NUL byte is fine as base64 */
	assert_string_equal(an.shell, "bash");
	srv_json_free(&an.root);
	assert_int_not_equal(srv_parse_analyze("{}", 2, 0, &an, &e), 0);
	assert_string_equal(e.field, "command");
	assert_int_not_equal(srv_parse_analyze("{\"command\":\"id\",\"target\":\"x\"}", 29, 0, &an, &e), 0);
	assert_string_equal(e.field, "target"); /* not a member of analyze */
	assert_int_not_equal(srv_parse_analyze("{\"command\":\"id\"}", 16, 1, &an, &e), 0);
	assert_string_equal(e.field, "target"); /* required by explain */
	assert_int_equal(srv_parse_analyze("{\"command\":\"id\",\"target\":\"x\",\"identity\":\"op\"}", 45,
	                                   1, &an, &e), 0);
	assert_string_equal(an.identity, "op");
	srv_json_free(&an.root);
}

static void
test_query(void **state)
{
	srv_query q;
	srv_err e;
	srv_list_params lp;
	srv_search_params sp;
	const char *s;
	int64_t v;

	(void)state;
	assert_int_equal(srv_query_parse("state=pending&mine=1&limit=5&x=a%20b+c&&flag", 44, &q, &e), 0);
	assert_int_equal(q.n, 5);
	assert_int_equal(srv_query_str(&q, "x", &s, &e), 0);
	assert_string_equal(s, "a b c");
	assert_int_equal(srv_query_str(&q, "nope", &s, &e), 1);
	assert_int_equal(srv_query_str(&q, "flag", &s, &e), ESC_EPARSE); /* empty */
	assert_int_not_equal(srv_list_params_get(&q, &lp, &e), 0);
	assert_string_equal(e.field, "x"); /* unknown parameter */
	srv_query_free(&q);

	assert_int_equal(srv_query_parse("state=pending&mine=1&limit=5", 28, &q, &e), 0);
	assert_int_equal(srv_list_params_get(&q, &lp, &e), 0);
	assert_string_equal(lp.state, "pending");
	assert_int_equal(lp.mine, 1);
	assert_int_equal(lp.limit, 5);
	srv_query_free(&q);

	assert_int_equal(srv_query_parse("limit=99999999999999999999", 26, &q, &e), 0);
	assert_int_not_equal(srv_query_int(&q, "limit", 1, 100, &v, &e), 0);
	assert_string_equal(e.field, "limit");
	srv_query_free(&q);
	assert_int_not_equal(srv_query_parse("a=%zz", 5, &q, &e), 0);
	assert_int_not_equal(srv_query_parse("a=%4", 4, &q, &e), 0);
	assert_int_equal(srv_query_parse("text=%ff", 8, &q, &e), 0);
	assert_int_not_equal(srv_query_str(&q, "text", &s, &e), 0); /* not UTF-8 */
	srv_query_free(&q);
	assert_int_equal(srv_query_parse("text=a%00b", 10, &q, &e), 0);
	assert_int_not_equal(srv_query_str(&q, "text", &s, &e), 0); /* NUL */
	srv_query_free(&q);

	assert_int_equal(srv_query_parse("since=2026-11-25&until=2026-11-25T10:00:00Z&request=3", 53,
	                                 &q, &e), 0);
	assert_int_equal(srv_search_params_get(&q, &sp, &e), 0);
	assert_true(sp.since_us > 0 && sp.until_us - sp.since_us == (int64_t)36000 * 1000000);
	assert_int_equal(sp.request, 3);
	srv_query_free(&q);
	assert_int_equal(srv_query_parse("since=2026-11-26&until=2026-11-25", 33, &q, &e), 0);
	assert_int_not_equal(srv_search_params_get(&q, &sp, &e), 0);
	assert_string_equal(e.field, "until");
	srv_query_free(&q);
	{
		/* more parameters than the limit */
		char many[400] = "";
		int i;

		for (i = 0; i < SRV_QUERY_MAX + 1; i++)
			strcat(many, "a=1&");
		assert_int_not_equal(srv_query_parse(many, strlen(many), &q, &e), 0);
	}
	assert_int_equal(srv_parse_id("12", 2), 12);
	assert_int_equal(srv_parse_id("012", 3), -1);
	assert_int_equal(srv_parse_id("1a", 2), -1);
	assert_int_equal(srv_parse_id("", 0), -1);
	assert_int_equal(srv_parse_id("9999999999999999999", 19), -1);
	assert_true(srv_utf8_ok((const unsigned char *)"caf\xc3\xa9", 5));
	assert_false(srv_utf8_ok((const unsigned char *)"\xc0\xaf", 2));       /* overlong */
	assert_false(srv_utf8_ok((const unsigned char *)"\xed\xa0\x80", 3));   /* surrogate */
	assert_false(srv_utf8_ok((const unsigned char *)"a\0b", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hotp_rfc4226),
		cmocka_unit_test(test_totp_rfc6238),
		cmocka_unit_test(test_base32),
		cmocka_unit_test_setup_teardown(test_totp_verify_once, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sessions_and_changes, fx_setup, fx_teardown),
		cmocka_unit_test(test_parse_create),
		cmocka_unit_test(test_parse_others),
		cmocka_unit_test(test_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

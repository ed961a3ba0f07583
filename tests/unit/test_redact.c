/* test_redact.c — redaction of operator output: every secret kind is replaced and
 * counted, the text around it survives byte for byte, look-alikes are left alone,
 * redacting twice changes nothing, and the summary says what was hidden. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "broker/broker.h"
#include "util/buf.h"

static void
check(const char *in, const char *want, int kind, size_t count)
{
	buf out = BUF_INIT, again = BUF_INIT;
	broker_redaction c, c2;

	memset(&c, 0, sizeof(c));
	memset(&c2, 0, sizeof(c2));
	assert_int_equal(broker_redact((const unsigned char *)in, strlen(in), &out, &c), 0);
	if (strcmp(buf_cstr(&out), want) != 0)
		print_error("in:   %s\nwant: %s\ngot:  %s\n", in, want, buf_cstr(&out));
	assert_string_equal(buf_cstr(&out), want);
	if (kind >= 0)
		assert_int_equal(c.count[kind], count);
	assert_int_equal(c.total, count);
	/* idempotent */
	assert_int_equal(broker_redact(out.data, out.len, &again, &c2), 0);
	assert_string_equal(buf_cstr(&again), buf_cstr(&out));
	assert_int_equal(c2.total, 0);
	buf_free(&out);
	buf_free(&again);
}

static void
test_private_keys(void **state)
{
	(void)state;
	check("before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAA\n"
	      "-----END OPENSSH PRIVATE KEY-----\nafter\n",
	      "before\n[REDACTED:private-key]\nafter\n", BROKER_RK_PRIVATE_KEY, 1);
	check("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
	      "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n",
	      "[REDACTED:private-key][REDACTED:private-key]\n", BROKER_RK_PRIVATE_KEY, 2);
	/* output cut off inside a key: everything after the header is hidden */
	check("x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
	      "x [REDACTED:private-key]", BROKER_RK_PRIVATE_KEY, 1);
	check("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQ\n-----END PGP PRIVATE KEY BLOCK-----\n",
	      "[REDACTED:private-key]\n", BROKER_RK_PRIVATE_KEY, 1);
	/* public material is not secret */
	check("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", -1, 0);
	check("-----BEGIN PUBLIC KEY-----\nMIIB\n", "-----BEGIN PUBLIC KEY-----\nMIIB\n", -1, 0);
}

static void
test_password_hashes(void **state)
{
	(void)state;
	check("root:$6$rounds=5000$saltsalt$Qx6.d0f8ajtXo3mDkEYnnqGAgqmdNQj5gxA2Xe5nl2xW4ybZ8c.e8aHcwwdRm9R5g.QSnq53nXY5T.tBPUaGQ1:19000:0:99999:7:::\n",
	      "root:[REDACTED:password-hash]:19000:0:99999:7:::\n", BROKER_RK_PASSWORD_HASH, 1);
	check("u:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7:1\n",
	      "u:[REDACTED:password-hash]:1\n", BROKER_RK_PASSWORD_HASH, 1);
	check("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW and $1$abcdefgh$0123456789abcdefghijkl",
	      "[REDACTED:password-hash] and [REDACTED:password-hash]", BROKER_RK_PASSWORD_HASH, 2);
	/* prices and variables are not hashes */
	check("costs $5 or $6$ today; echo $1$2", "costs $5 or $6$ today; echo $1$2", -1, 0);
	check("locked:!:19000:: and *:", "locked:!:19000:: and *:", -1, 0);
}

static void
test_aws(void **state)
{
	(void)state;
	check("id AKIAIOSFODNN7EXAMPLE end", "id [REDACTED:aws-access-key] end",
	      BROKER_RK_AWS_ACCESS_KEY, 1);
	check("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
	      "aws_secret_access_key = [REDACTED:aws-secret-key]\n", BROKER_RK_AWS_SECRET_KEY, 1);
	check("{\"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}",
	      "{\"SecretAccessKey\": \"[REDACTED:aws-secret-key]\"}", BROKER_RK_AWS_SECRET_KEY, 1);
	/* too short / embedded in a longer word */
	check("AKIAIOSFODNN7EXAMPL XAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLEX",
	      "AKIAIOSFODNN7EXAMPL XAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLEX", -1, 0);
}

static void
test_tokens(void **state)
{
	(void)state;
	check("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\n",
	      "Authorization: Bearer [REDACTED:jwt]\n", BROKER_RK_JWT, 1);
	check("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 ok",
	      "token [REDACTED:github-token] ok", BROKER_RK_GITHUB_TOKEN, 1);
	check("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
	      "[REDACTED:github-token]", BROKER_RK_GITHUB_TOKEN, 1);
	check("export GL=glpat-xxxxxxxxxxxxxxxxxxxx\n", "export GL=[REDACTED:gitlab-token]\n",
	      BROKER_RK_GITLAB_TOKEN, 1);
	/* short look-alikes stay */
	check("ghp_short glpat-short eyJ.x.y", "ghp_short glpat-short eyJ.x.y", -1, 0);
}

static void
test_assigned(void **state)
{
	(void)state;
	check("DB_PASSWORD=hunter2 next", "DB_PASSWORD=[REDACTED:assigned-secret] next",
	      BROKER_RK_ASSIGNED_SECRET, 1);
	check("password: 'it is me'\nsecret=\"s3cr3t\"; api_token:abc123",
	      "password: '[REDACTED:assigned-secret]'\nsecret=\"[REDACTED:assigned-secret]\"; "
	      "api_token:[REDACTED:assigned-secret]",
	      BROKER_RK_ASSIGNED_SECRET, 3);
	check("{\"client_secret\": \"abc\", \"user\": \"bob\"}",
	      "{\"client_secret\": \"[REDACTED:assigned-secret]\", \"user\": \"bob\"}",
	      BROKER_RK_ASSIGNED_SECRET, 1);
	check("mysql --password=p@ss -u root", "mysql --password=[REDACTED:assigned-secret] -u root",
	      BROKER_RK_ASSIGNED_SECRET, 1);
	/* an unterminated quote is masked to the end of its line (found by fuzz_redact) */
	check("password: \"hunter2 and more\nnext line", "password: \"[REDACTED:assigned-secret]\nnext line",
	      BROKER_RK_ASSIGNED_SECRET, 1);
	/* no value, comparisons, other names */
	check("password= token== user=bob passwords_ok", "password= token== user=bob passwords_ok",
	      -1, 0);
}

static void
test_keytab(void **state)
{
	(void)state;
	check("keytab: BQIAAABHAAIAC0VYQU1QTEUuQ09NAARob3N0ABBob3N0LmV4YW1wbGUuY29tAAAAAWXyZ3oCABIAIA==\n",
	      "keytab: [REDACTED:kerberos-keytab]\n", BROKER_RK_KEYTAB, 1);
	check("BQIAAABHAAIAC0VYQU1QTEUuQ09NAARob3N0ABBob3N0LmV4YW1wbGUuY29tAAAAAWXyZ3oCABIAIAAA\n"
	      "BQIAAABHAAIAC0VYQU1QTEUuQ09N\nrest\n",
	      "[REDACTED:kerberos-keytab]\nrest\n", BROKER_RK_KEYTAB, 1);
	{
		const unsigned char raw[] = { 0x05, 0x02, 0x00, 0x00, 0x00, 0x47, 'E', 'X' };
		buf out = BUF_INIT;
		broker_redaction c;

		memset(&c, 0, sizeof(c));
		assert_int_equal(broker_redact(raw, sizeof(raw), &out, &c), 0);
		assert_string_equal(buf_cstr(&out), "[REDACTED:kerberos-keytab]");
		assert_int_equal(c.count[BROKER_RK_KEYTAB], 1);
		buf_free(&out);
	}
	check("BQI is short", "BQI is short", -1, 0);
}

static void
test_mixed_and_summary(void **state)
{
	buf out = BUF_INIT, sum = BUF_INIT;
	broker_redaction c;
	const char *in = "root:$6$abcdefgh$0123456789abcdefghijklmnopqrstuv:1\n"
	                 "bob:$6$abcdefgh$0123456789abcdefghijklmnopqrstuv:1\n"
	                 "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"
	                 "binary \x01\xff\xfe kept\n";

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(broker_redact((const unsigned char *)in, strlen(in), &out, &c), 0);
	assert_string_equal(buf_cstr(&out), "root:[REDACTED:password-hash]:1\n"
	                                    "bob:[REDACTED:password-hash]:1\n"
	                                    "[REDACTED:private-key]\n"
	                                    "binary \x01\xff\xfe kept\n");
	assert_int_equal(broker_redaction_summary(&c, &sum), 0);
	assert_string_equal(buf_cstr(&sum), "1 private key, 2 password hashes");
	assert_string_equal(broker_redact_kind_name(BROKER_RK_JWT), "jwt");
	assert_string_equal(broker_redact_kind_name(99), "?");
	/* nothing to hide: byte for byte, empty summary */
	buf_reset(&out);
	buf_reset(&sum);
	memset(&c, 0, sizeof(c));
	assert_int_equal(broker_redact((const unsigned char *)"plain\n", 6, &out, &c), 0);
	assert_string_equal(buf_cstr(&out), "plain\n");
	assert_int_equal(broker_redaction_summary(&c, &sum), 0);
	assert_string_equal(buf_cstr(&sum), "");
	assert_int_equal(broker_redact(NULL, 0, &out, NULL), 0);
	buf_free(&out);
	buf_free(&sum);
}


/* Redacts with policy patterns; checks the output, the count of policy-pattern hits, the
 * total, and that a second pass changes nothing. */
static void
check_ex(const char *const *pats, size_t np, const char *in, size_t inlen, const char *want,
         size_t wantlen, size_t npolicy, size_t total)
{
	broker_redact_rules *rr = NULL;
	buf out = BUF_INIT, again = BUF_INIT, msg = BUF_INIT;
	broker_redaction c, c2;

	memset(&c, 0, sizeof(c));
	memset(&c2, 0, sizeof(c2));
	assert_int_equal(broker_redact_rules_new(&rr, pats, np, &msg), 0);
	assert_int_equal(broker_redact_ex((const unsigned char *)in, inlen, &out, &c, rr), 0);
	if (out.len != wantlen || memcmp(out.data, want, wantlen) != 0)
		print_error("want: %.*s\ngot:  %.*s\n", (int)wantlen, want, (int)out.len,
		            (const char *)out.data);
	assert_int_equal(out.len, wantlen);
	assert_memory_equal(out.data, want, wantlen);
	assert_int_equal(c.count[BROKER_RK_POLICY], npolicy);
	assert_int_equal(c.total, total);
	assert_int_equal(broker_redact_ex(out.data, out.len, &again, &c2, rr), 0);
	assert_int_equal(again.len, out.len);
	assert_memory_equal(again.data, out.data, out.len);
	assert_int_equal(c2.total, 0);
	broker_redact_rules_free(rr);
	buf_free(&out);
	buf_free(&again);
	buf_free(&msg);
}

#define CHECK_EX(pats, in, want, np, tot)                                                          \
	check_ex(pats, sizeof(pats) / sizeof(pats[0]), in, sizeof(in) - 1, want, sizeof(want) - 1,  \
	         np, tot)

static void
test_policy_patterns(void **state)
{
	static const char *const emp[] = {"employee-[0-9]{6}"};
	static const char *const anch[] = {"^INTERNAL .*$"};
	static const char *const two[] = {"ab", "abcd", "cd+"};
	static const char *const greedy[] = {"[A-Z]+"};
	static const char *const hex[] = {"[0-9a-f]{32}"};
	broker_redact_rules *rr = NULL;
	buf out = BUF_INIT, msg = BUF_INIT;
	broker_redaction c;
	const char *bad[] = {"ok", "a(b"};
	const char *empty[] = {"x?"};

	(void)state;
	CHECK_EX(emp, "id employee-123456 and employee-12345 end\n",
	         "id [REDACTED:policy-pattern] and employee-12345 end\n", 1, 1);
	/* ^ and $ are line anchors: only the whole INTERNAL line goes */
	CHECK_EX(anch, "a\nINTERNAL build 7\nnot INTERNAL x\n",
	         "a\n[REDACTED:policy-pattern]\nnot INTERNAL x\n", 1, 1);
	/* leftmost match first, the longest on a tie; matches never overlap */
	CHECK_EX(two, "xabcdddy ab cd", "x[REDACTED:policy-pattern]ddy [REDACTED:policy-pattern] "
	                                "[REDACTED:policy-pattern]", 3, 3);
	/* built-in kinds first; a pattern never eats into a marker (idempotent even for a
	 * pattern that matches the marker's own letters) */
	CHECK_EX(greedy, "key AKIAIOSFODNN7EXAMPLE ok",
	         "key [REDACTED:aws-access-key] ok", 0, 1);
	CHECK_EX(greedy, "x TOP y", "x [REDACTED:policy-pattern] y", 1, 1);
	/* NUL bytes split the text: matches on both sides, the NUL kept */
	CHECK_EX(hex, "0123456789abcdef0123456789abcdef\0" "0123456789abcdef0123456789abcdef!",
	         "[REDACTED:policy-pattern]\0[REDACTED:policy-pattern]!", 2, 2);
	/* no patterns: exactly broker_redact */
	memset(&c, 0, sizeof(c));
	assert_int_equal(broker_redact_ex((const unsigned char *)"password=x\n", 11, &out, &c, NULL), 0);
	assert_string_equal(buf_cstr(&out), "password=[REDACTED:assigned-secret]\n");
	buf_free(&out);
	/* patterns that cannot work are refused, naming which */
	assert_int_equal(broker_redact_rules_new(&rr, bad, 2, &msg), -5);
	assert_null(rr);
	assert_non_null(strstr(buf_cstr(&msg), "redaction pattern 2: "));
	buf_reset(&msg);
	assert_int_equal(broker_redact_rules_new(&rr, empty, 1, &msg), -5);
	assert_non_null(strstr(buf_cstr(&msg), "pattern 1 matches the empty string"));
	buf_free(&msg);
	broker_redact_rules_free(NULL);
	assert_string_equal(broker_redact_kind_name(BROKER_RK_POLICY), "policy-pattern");
}

/* A big output with many matches stays fast (each pattern's next match is cached). */
static void
test_policy_patterns_speed(void **state)
{
	static const char *const pats[] = {"tok-[0-9]+", "zzz[a-z]+", "^secret line$"};
	broker_redact_rules *rr = NULL;
	buf in = BUF_INIT, out = BUF_INIT;
	broker_redaction c;
	size_t i;

	(void)state;
	for (i = 0; i < 20000; i++)
		buf_printf(&in, "line %zu tok-%zu plain words here\n", i, i);
	memset(&c, 0, sizeof(c));
	assert_int_equal(broker_redact_rules_new(&rr, pats, 3, NULL), 0);
	assert_int_equal(broker_redact_ex(in.data, in.len, &out, &c, rr), 0);
	assert_int_equal(c.count[BROKER_RK_POLICY], 20000);
	assert_null(strstr(buf_cstr(&out), "tok-"));
	broker_redact_rules_free(rr);
	buf_free(&in);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_private_keys), cmocka_unit_test(test_password_hashes),
		cmocka_unit_test(test_aws),          cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_assigned),     cmocka_unit_test(test_keytab),
		cmocka_unit_test(test_mixed_and_summary),
		cmocka_unit_test(test_policy_patterns), cmocka_unit_test(test_policy_patterns_speed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

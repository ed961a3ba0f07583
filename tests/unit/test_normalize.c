/* test_normalize.c — lockbox's deobfuscation: the static decoders (decode.c) on their own,
 * and the normalizer (normalize.c) end to end through lockbox_analyze against the small
 * rule set in tests/fixtures/rules: what it recovers, the findings it adds, the budget,
 * and that ordinary commands stay unflagged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/decode.h"
#include "lockbox/lockbox.h"
#include "lockbox/normalize.h"
#include "util/err.h"

/* stricter than the default: no NUL inside a JSON string here */
#define LB_FIXTURE_JSON_FLAGS 0
#include "lb_fixture.h"

/* ---- decoders ---------------------------------------------------------------------------- */

static void
test_decoders(void **state)
{
	(void)state;
	lb_arena *a = lb_arena_new();
	assert_non_null(a);
	char *o = NULL;
	size_t ol = 0;
	assert_int_equal(lbx_dec_base64(a, "Y2F0IC9ldGMvc2hhZG93\n", 21, 1024, &o, &ol), 0);
	assert_int_equal(ol, 15);
	assert_memory_equal(o, "cat /etc/shadow", 15);
	assert_int_equal(lbx_dec_base64(a, "not base64!", 11, 1024, &o, &ol), -1);
	assert_int_equal(lbx_dec_base64(a, "Y2F0IC9ldGMvc2hhZG93", 20, 4, &o, &ol), -2);
	assert_int_equal(lbx_dec_base32(a, "MNQXIIDGN5XQ====", 16, 1024, &o, &ol), 0);
	assert_string_equal(o, "cat foo");
	assert_int_equal(lbx_dec_hex(a, "63 61 74\n", 9, 1024, &o, &ol), 0);
	assert_string_equal(o, "cat");
	assert_int_equal(lbx_dec_hex(a, "xyz", 3, 1024, &o, &ol), -1);
	assert_int_equal(lbx_dec_rev(a, "tac\nsl\n", 7, 1024, &o, &ol), 0);
	assert_string_equal(o, "cat\nls\n");
	assert_int_equal(lbx_dec_tr(a, "A-Za-z", "N-ZA-Mn-za-m", "png", 3, 1024, &o, &ol), 0);
	assert_string_equal(o, "cat");
	assert_int_equal(lbx_dec_tr(a, "[:lower:]", "[:upper:]", "x", 1, 1024, &o, &ol), -1);
	/* echo -e wants \0NNN for octal, printf formats \NNN; both know \xHH and \c */
	assert_int_equal(lbx_dec_escapes(a, "\\x63\\0141t\\c ignored", 20, 0, 1024, &o, &ol), 0);
	assert_string_equal(o, "cat");
	assert_int_equal(lbx_dec_escapes(a, "\\143\\141t", 9, 1, 1024, &o, &ol), 0);
	assert_string_equal(o, "cat");
	const char *args[] = { "/etc/shadow", "\\x63" };
	size_t alen[] = { 11, 4 };
	assert_int_equal(lbx_dec_printf(a, "%b\\141t %s\\n", 12, args + 1, alen + 1, 1, 1024, &o,
	    &ol), 0);
	assert_string_equal(o, "cat \n");
	assert_int_equal(lbx_dec_printf(a, "%s-", 3, args, alen, 2, 1024, &o, &ol), 0);
	assert_string_equal(o, "/etc/shadow-\\x63-");
	assert_int_equal(lbx_dec_printf(a, "%q", 2, args, alen, 1, 1024, &o, &ol), -1);
	/* not gzip data */
	assert_int_equal(lbx_dec_gunzip(a, "plain text, not gzip", 20, 1024, &o, &ol), -1);
#ifdef ESCORT_HAVE_ZLIB
	static const unsigned char gz[] = {
		0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x03, 0x4b, 0x4e, 0x2c, 0x51,
		0x00, 0x00, 0xdc, 0xba, 0xff, 0x31, 0x04, 0x00, 0x00, 0x00,
	};
	assert_int_equal(lbx_dec_gunzip(a, (const char *)gz, sizeof gz, 1024, &o, &ol), 0);
	assert_string_equal(o, "cat ");
#endif
	lb_arena_free(a);
}

/* ---- end to end ---------------------------------------------------------------------------- */

static int
has_finding(res *x, const char *id)
{
	return finding(x, id) != NULL;
}

/* Some recovered text equals `text` (and, when given, its path holds `step`). */
static int
recovered(res *x, const char *text, const char *step)
{
	size_t i, k;
	json_t *d, *s;
	json_array_foreach(json_object_get(x->j, "deobfuscated"), i, d) {
		if (strcmp(json_string_value(json_object_get(d, "text")), text))
			continue;
		if (step == NULL)
			return 1;
		json_array_foreach(json_object_get(d, "via"), k, s)
			if (!strcmp(json_string_value(s), step))
				return 1;
	}
	return 0;
}

static void
expect(const char *src, const char *text, const char *step)
{
	res x;
	run(&x, src);
	if (!recovered(&x, text, step))
		print_error("%s: expected \"%s\" in %s\n", src, text, buf_cstr(&x.json));
	assert_true(recovered(&x, text, step));
	assert_true(has_cat(&x, "obfuscation"));
	assert_true(has_cat(&x, "credential-access"));
	assert_true(!strcmp(risk(&x), "high") || !strcmp(risk(&x), "critical"));
	done(&x);
}

static void
test_words(void **state)
{
	(void)state;
	expect("c''at /etc/shadow", "cat /etc/shadow", NULL);
	expect("\"c\"'a't /etc/shadow", "cat /etc/shadow", NULL);
	expect("c\\at /etc/shadow", "cat /etc/shadow", NULL);
	expect("$'\\x63\\141t' /etc/shadow", "cat /etc/shadow", "ANSI-C escapes");
	expect("{cat,/etc/shadow}", "cat /etc/shadow", "brace expansion");
	expect("cat${IFS}/etc/shadow", "cat /etc/shadow", "$IFS");
	expect("a=ca;b=t;$a$b /etc/shadow", "a=ca;b=t;cat /etc/shadow", "variables");
	expect("v=xcatx; ${v:1:3} /etc/shadow", "v=xcatx; cat /etc/shadow", "parameter expansion");
	expect("v=cQQt; ${v//QQ/a} /etc/shadow", "v=cQQt; cat /etc/shadow", NULL);
	expect("v=CAT; ${v,,} /etc/shadow", "v=CAT; cat /etc/shadow", NULL);
	expect("cat ${PATH:0:1}etc${PATH:0:1}shadow", "cat /etc/shadow", "well-known variable");
	expect("$(printf '\\143\\141\\164') /etc/shadow", "cat /etc/shadow", "command substitution");
	expect("eval 'c''at /etc/shadow'", "cat /etc/shadow", NULL);
	expect("shopt -s expand_aliases\nalias ls='cat /etc/shadow'\nls",
	    "shopt -s expand_aliases\nalias ls='cat /etc/shadow'\ncat /etc/shadow", "alias");
}

static void
test_decoding_chains(void **state)
{
	(void)state;
	expect("echo Y2F0IC9ldGMvc2hhZG93 | base64 -d | sh", "cat /etc/shadow", "base64 -d");
	expect("eval \"$(echo Y2F0IC9ldGMvc2hhZG93 | base64 --decode)\"", "cat /etc/shadow", "eval");
	expect("bash <<< \"$(base64 -d <<< Y2F0IC9ldGMvc2hhZG93)\"", "cat /etc/shadow", NULL);
	expect("bash <(echo Y2F0IC9ldGMvc2hhZG93 | base64 -d)", "cat /etc/shadow", NULL);
	expect("echo 'wodahs/cte/ tac' | rev | sh", "cat /etc/shadow", "rev");
	expect("echo 'png /rgp/funqbj' | tr 'A-Za-z' 'N-ZA-Mn-za-m' | bash", "cat /etc/shadow", "tr");
	expect("echo 636174202f6574632f736861646f77 | xxd -r -p | sh", "cat /etc/shadow", "xxd -r -p");
	expect("printf %b '\\143\\141\\164 /etc/shadow' | sh", "cat /etc/shadow", "printf");
	expect("echo -e '\\x63\\x61\\x74 /etc/shadow' | bash", "cat /etc/shadow", "echo -e");
	expect("echo Y2F0IC9ldGMvc2hhZG93 | base64 -d | source /dev/stdin", "cat /etc/shadow", NULL);
	/* base64 inside base64: both layers come out */
	expect("echo ZWNobyBZMkYwSUM5bGRHTXZjMmhoWkc5MyB8IGJhc2U2NCAtZCB8IHNo | base64 -d | sh",
	    "cat /etc/shadow", NULL);
	/* decoded into a variable first, run through a wrapper, or a here-document */
	expect("x=$(echo Y2F0IC9ldGMvc2hhZG93 | base64 -d); eval $x", "cat /etc/shadow", "eval");
	expect("echo Y2F0IC9ldGMvc2hhZG93 | base64 -d | sudo bash", "cat /etc/shadow", "base64 -d");
	expect("base64 -d <<< Y2F0IC9ldGMvc2hhZG93 | env -i bash -s", "cat /etc/shadow", NULL);
	/* shell commands in interpreter code, also when base64-decoded there */
	expect("python3 -c 'import os;os.system(\"cat /etc/shadow\")'", "cat /etc/shadow", NULL);
	expect("python3 -c 'import os,base64;os.system(base64.b64decode(\"Y2F0IC9ldGMvc2hhZG93\"))'",
	    "cat /etc/shadow", NULL);
	expect("perl -e 'system(\"cat /etc/shadow\")'", "cat /etc/shadow", NULL);
}

static void
test_undecidable_and_budget(void **state)
{
	(void)state;
	res x;
	/* a program name from a file: opaque, at least high, said in plain words */
	run(&x, "$(cat /tmp/name) /etc/shadow");
	assert_true(json_is_true(json_object_get(x.j, "opaque")));
	assert_true(!strcmp(risk(&x), "high") || !strcmp(risk(&x), "critical"));
	assert_non_null(strstr(buf_cstr(&x.json), "cannot see"));
	done(&x);
	/* a glob that names more than one known program (cat, chmod? no: c?t is only cat in
	 * the test rules; c* is several) */
	run(&x, "/bin/c* /etc/shadow");
	assert_true(has_finding(&x, "glob-command"));
	assert_true(json_is_true(json_object_get(x.j, "opaque")));
	/* ... each program it could be is analyzed: cat among them reads the hashes */
	assert_true(recovered(&x, "/bin/cat /etc/shadow", NULL));
	assert_true(has_cat(&x, "credential-access"));
	done(&x);
	/* a relative glob depends on the working directory: left to the analyzer */
	run(&x, "ls_*.c | entr make");
	assert_false(has_finding(&x, "glob-command"));
	done(&x);
	/* a function shadowing a program: the call is its body */
	run(&x, "ls() { cat /etc/shadow; }; ls");
	assert_true(has_finding(&x, "function-shadow"));
	assert_true(recovered(&x, "ls() { cat /etc/shadow; }; { cat /etc/shadow; }", NULL));
	done(&x);
	run(&x, "/??" "?/c?t /etc/shadow");
	assert_true(recovered(&x, "/bin/cat /etc/shadow", "glob"));
	assert_true(has_cat(&x, "credential-access"));
	done(&x);
	/* a decoded payload over the budget: opaque, not an out-of-memory failure */
	size_t big = LBX_NORM_BUDGET + 4096;
	char *plain = malloc(big + 1);
	assert_non_null(plain);
	memset(plain, 'x', big);
	plain[0] = 'l', plain[1] = 's', plain[2] = ' ';
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t el = (big + 2) / 3 * 4;
	char *rec = malloc(el + 64);
	assert_non_null(rec);
	size_t o = (size_t)sprintf(rec, "echo ");
	for (size_t i = 0; i < big; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)plain[i] << 16 |
		    (i + 1 < big ? (uint32_t)(unsigned char)plain[i + 1] << 8 : 0) |
		    (i + 2 < big ? (unsigned char)plain[i + 2] : 0);
		rec[o++] = tbl[v >> 18 & 63];
		rec[o++] = tbl[v >> 12 & 63];
		rec[o++] = i + 1 < big ? tbl[v >> 6 & 63] : '=';
		rec[o++] = i + 2 < big ? tbl[v & 63] : '=';
	}
	strcpy(rec + o, " | base64 -d | sh");
	run(&x, rec);
	assert_true(has_finding(&x, "deobfuscation-budget"));
	assert_true(json_is_true(json_object_get(x.j, "opaque")));
	done(&x);
	free(rec);
	free(plain);
	/* brace expansion that would explode is not expanded */
	run(&x, "{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}");
	done(&x);
}

static void
test_ordinary_commands(void **state)
{
	(void)state;
	static const char *const plain[] = {
		"echo \"hello world\"", "mkdir -p /tmp/{a,b}/{c,d}", "f=/tmp/x; cat \"$f\"",
		"alias rm='rm -i'", "grep -r \"\" /srv/docs", "printf '%s\\n' \"$IFS\"",
		"for f in *.txt; do mv \"$f\" \"${f%.txt}.md\"; done", "echo aGVsbG8= | base64 -d",
		"ls -la ~/src", "tar czf backup.tgz ./data", "echo 'a b' | tr 'a-z' 'A-Z'", NULL,
	};
	for (const char *const *p = plain; *p; p++) {
		res x;
		run(&x, *p);
		if (has_cat(&x, "obfuscation") || has_cat(&x, "opaque"))
			print_error("%s: %s\n", *p, buf_cstr(&x.json));
		assert_false(has_cat(&x, "obfuscation"));
		assert_false(has_cat(&x, "opaque"));
		assert_null(json_object_get(x.j, "deobfuscated"));
		done(&x);
	}
	/* the cheap pre-check keeps ordinary records off the slow path */
	assert_int_equal(lbx_norm_maybe("ls -la /tmp", 11), 0);
	assert_int_equal(lbx_norm_maybe("systemctl restart nginx", 23), 0);
	assert_int_equal(lbx_norm_maybe("c''at x", 7), 1);
	assert_int_equal(lbx_norm_maybe("/??" "?/c?t x", 10), 1);
}

static void
test_rendering(void **state)
{
	(void)state;
	res x;
	run(&x, "echo Y2F0IC9ldGMvc2hhZG93 | base64 -d | sh");
	buf out = BUF_INIT;
	assert_int_equal(lockbox_result_render(x.r, &out, 0), 0);
	assert_non_null(strstr(buf_cstr(&out), "what actually runs"));
	assert_non_null(strstr(buf_cstr(&out), "cat /etc/shadow"));
	assert_non_null(strstr(buf_cstr(&out), "base64 -d"));
	buf_free(&out);
	done(&x);
	/* decoded control characters are escaped when shown */
	run(&x, "echo -e '\\x63\\x61\\x74\\x1b[2J /etc/shadow' | sh");
	assert_null(strchr(buf_cstr(&x.json), 0x1b));
	assert_int_equal(lockbox_result_render(x.r, &out, 0), 0);
	assert_null(strchr(buf_cstr(&out), 0x1b));
	buf_free(&out);
	done(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoders),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_decoding_chains),
		cmocka_unit_test(test_undecidable_and_budget),
		cmocka_unit_test(test_ordinary_commands),
		cmocka_unit_test(test_rendering),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

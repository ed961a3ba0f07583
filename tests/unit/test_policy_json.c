/* test_policy_json.c — policy_decision_json writes its text directly (no jansson objects,
 * for escortd's speed); the text stored with every request must stay exactly what
 * jansson's json_dumps(JSON_COMPACT) of the same object gives. The oracle here builds that
 * object with jansson, for decisions with awkward strings: quotes, backslashes, control
 * characters, DEL, non-ASCII, and bytes that are not UTF-8 (written as '?'). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "util/err.h"

/* jansson's string, with every byte >= 0x80 of text that is not UTF-8 made '?' */
static json_t *
ostr(const char *s)
{
	json_t *j;
	char *t;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	t = strdup(s);
	for (size_t i = 0; t[i]; i++)
		if ((unsigned char)t[i] >= 0x80)
			t[i] = '?';
	j = json_string(t);
	free(t);
	return j;
}

static json_t *
ostrv(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, ostr(v[i]));
	return a;
}

static json_t *
oreqs(const policy_approver_req *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *roles = json_array();

		for (unsigned bit = 1; bit <= POLICY_ROLE_ADMIN; bit <<= 1)
			if (v[i].roles & bit)
				json_array_append_new(roles, json_string(policy_role_name(bit)));
		json_array_append_new(
		    a, json_pack("{s:o, s:o, s:s, s:o, s:o, s:I}", "roles", roles, "citizenship",
		                 ostrv(v[i].citizenship, v[i].ncitizenship), "min_clearance",
		                 policy_clearance_name(v[i].min_clearance), "qualifications",
		                 ostrv(v[i].qualifications, v[i].nqualifications), "rule",
		                 ostr(v[i].rule), "line", (json_int_t)v[i].line));
	}
	return a;
}

static char *
oracle(const policy_decision *d)
{
	json_t *reasons = json_array(), *o;
	char *s;

	for (size_t i = 0; i < d->nreasons; i++) {
		const policy_reason *r = &d->reasons[i];

		json_array_append_new(
		    reasons, json_pack("{s:o, s:o, s:I, s:s, s:o}", "rule", ostr(r->rule), "file",
		                       ostr(r->file), "line", (json_int_t)r->line, "effect",
		                       r->effect >= 0 ? policy_effect_name(r->effect) : "limits",
		                       "text", ostr(r->text)));
	}
	o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:b, s:I, s:{s:I, s:b, s:b}, s:o}",
	              "effect", policy_effect_name(d->effect), "policy_version",
	              ostr(d->policy_version), "operator", ostr(d->operator_name), "target",
	              ostr(d->target), "platform", ostr(d->platform), "quorum",
	              (json_int_t)d->quorum, "each", oreqs(d->each, d->neach), "at_least_one",
	              oreqs(d->slots, d->nslots), "distinct_organization",
	              d->distinct_organization, "approval_lifetime",
	              (json_int_t)d->approval_lifetime, "output", "max_bytes",
	              (json_int_t)d->output_max_bytes, "redact_operator", d->redact_operator,
	              "redact_secrets", d->redact_secrets, "reasons", reasons);
	assert_non_null(o);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

static char **
strs(const char *a, const char *b)
{
	char **v = calloc(2, sizeof(*v));

	v[0] = strdup(a);
	v[1] = strdup(b);
	return v;
}

/* Awkward text in every string field; the decision owns everything (policy_decision_free). */
static void
fill(policy_decision *d, const char *odd, int effect)
{
	memset(d, 0, sizeof(*d));
	d->effect = effect;
	d->policy_version = strdup("9c43b811d10e811578258b1f38f74266025b24f9b245de6b666658cfeb633d1b");
	d->operator_name = strdup(odd);
	d->target = strdup("dod-web");
	d->platform = effect == POLICY_DENY ? NULL : strdup(odd);
	d->quorum = 2;
	d->neach = 1;
	d->each = calloc(1, sizeof(*d->each));
	d->each[0].roles = POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER;
	d->each[0].citizenship = strs("US", odd);
	d->each[0].ncitizenship = 2;
	d->each[0].min_clearance = 2;
	d->each[0].rule = strdup(odd);
	d->each[0].line = 159;
	d->nslots = 1;
	d->slots = calloc(1, sizeof(*d->slots));
	d->slots[0].roles = POLICY_ROLE_ESCORT;
	d->slots[0].qualifications = strs("linux", odd);
	d->slots[0].nqualifications = 2;
	d->slots[0].rule = strdup("slot");
	d->slots[0].line = 7;
	d->distinct_organization = 1;
	d->approval_lifetime = 14400;
	d->output_max_bytes = 1048576;
	d->redact_secrets = 1;
	d->nreasons = d->reasons_cap = 2;
	d->reasons = calloc(2, sizeof(*d->reasons));
	d->reasons[0].rule = strdup(odd);
	d->reasons[0].file = strdup("/etc/escort/policy \"v1\".yaml");
	d->reasons[0].line = 150;
	d->reasons[0].effect = effect;
	d->reasons[0].text = strdup(odd);
	d->reasons[1].rule = strdup("(default)");
	d->reasons[1].effect = -1; /* "limits"; no file (a built-in) */
	d->reasons[1].text = strdup("approval lifetime 4 h");
}

static void
test_same_as_jansson(void **state)
{
	static const char *const odd[] = {
		"plain",
		"quote \" backslash \\ slash / tab \t nl \n cr \r bs \b ff \f",
		"ctl \x01\x02\x1b\x1f del \x7f",
		"caf\xc3\xa9 \xe2\x80\xae bidi \xf0\x9f\x98\x80 \xe2\x80\x8b",
		"not utf-8 \xff\xfe and caf\xc3\xa9",   /* every byte >= 0x80 becomes '?' */
		"truncated \xe2\x80",
		"overlong \xc0\xaf surrogate \xed\xa0\x80",
		"",
	};
	int effects[] = { POLICY_NEEDS_APPROVAL, POLICY_DENY, POLICY_AUTO_APPROVE };

	(void)state;
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		for (size_t e = 0; e < 3; e++) {
			policy_decision d, back;
			buf j = BUF_INIT;
			char *want;

			fill(&d, odd[i], effects[e]);
			assert_int_equal(buf_puts(&j, "x"), 0); /* appends after what is there */
			assert_int_equal(policy_decision_json(&d, &j), 0);
			want = oracle(&d);
			assert_string_equal((const char *)j.data + 1, want);
			/* and it reads back */
			assert_int_equal(policy_decision_from_json((const char *)j.data + 1, j.len - 1,
			                                           &back),
			                 0);
			assert_int_equal(back.effect, d.effect);
			policy_decision_free(&back);
			free(want);
			buf_free(&j);
			policy_decision_free(&d);
		}
}

static void
test_nothing_half_written(void **state)
{
	policy_decision d;
	buf j = BUF_INIT;

	(void)state;
	fill(&d, "a long enough text to overflow a tiny buffer", POLICY_NEEDS_APPROVAL);
	buf_init(&j, 64); /* too small for the decision */
	assert_int_equal(buf_puts(&j, "keep"), 0);
	assert_int_not_equal(policy_decision_json(&d, &j), 0);
	assert_int_equal(j.len, 4);
	assert_string_equal((const char *)j.data, "keep");
	buf_free(&j);
	policy_decision_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_jansson),
		cmocka_unit_test(test_nothing_half_written),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_policy.c — the policy library: the example organization's scenario decisions, every
 * rule of the decision and quorum semantics (docs/escort-policy.5), an authorization
 * matrix (role x action x attribute case), JSON round trips, and bad input, each a
 * FILE:LINE:COL: KEY: error. Inputs are built by hand: no lockbox involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"
#include "util/err.h"

#define EXAMPLE "examples/policy.yaml"
/* 2026-11-25 12:00:00 UTC, a Wednesday */
#define NOW ((time_t)1795608000)

static char *example_yaml;
static size_t example_len;

static int
setup(void **state)
{
	buf b = BUF_INIT;

	(void)state;
	if (buf_read_file(&b, EXAMPLE) != 0) {
		print_error("cannot read %s (run from the repository root)\n", EXAMPLE);
		return -1;
	}
	example_yaml = buf_steal(&b, &example_len);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(example_yaml);
	return 0;
}

static policy *
load_ok(const char *yaml, size_t len)
{
	policy *p = NULL;
	buf err = BUF_INIT;
	int rc = policy_load(&p, yaml, len, "t.yaml", &err);

	if (rc)
		print_error("load: %s\n", buf_cstr(&err));
	assert_int_equal(rc, 0);
	assert_non_null(p);
	buf_free(&err);
	return p;
}

static policy *
load_s(const char *yaml)
{
	return load_ok(yaml, strlen(yaml));
}

static policy *
example(void)
{
	return load_ok(example_yaml, example_len);
}

/* Replaces the first `from` after `anchor` in the example text. */
static char *
example_with(const char *anchor, const char *from, const char *to)
{
	const char *a = strstr(example_yaml, anchor), *f;
	buf b = BUF_INIT;

	assert_non_null(a);
	f = strstr(a, from);
	assert_non_null(f);
	buf_put(&b, example_yaml, (size_t)(f - example_yaml));
	buf_puts(&b, to);
	buf_puts(&b, f + strlen(from));
	return buf_steal(&b, NULL);
}

/* Loads and expects failure whose message starts "t.yaml:LINE:COL: KEY: " and
 * contains `msg`. */
static void
load_bad_n(const char *yaml, size_t len, unsigned line, unsigned col, const char *key,
    const char *msg)
{
	policy *p = NULL;
	buf err = BUF_INIT;
	char prefix[256];
	int rc = policy_load(&p, yaml, len, "t.yaml", &err);

	if (rc == 0)
		print_error("unexpectedly loaded:\n%s\n", yaml);
	assert_true(rc < 0);
	assert_null(p);
	snprintf(prefix, sizeof(prefix), "t.yaml:%u:%u: %s: ", line, col, key);
	if (strncmp(buf_cstr(&err), prefix, strlen(prefix)) != 0 || !strstr(buf_cstr(&err), msg))
		print_error("want \"%s...%s\"\n got \"%s\"\n", prefix, msg, buf_cstr(&err));
	assert_memory_equal(buf_cstr(&err), prefix, strlen(prefix));
	assert_non_null(strstr(buf_cstr(&err), msg));
	buf_free(&err);
}

static void
load_bad(const char *yaml, unsigned line, unsigned col, const char *key, const char *msg)
{
	load_bad_n(yaml, strlen(yaml), line, col, key, msg);
}

static void
decide(const policy *p, const char *op, const char *target, int risk, const char *cats,
    int opaque, policy_decision *d)
{
	const char *v[16];
	char tmp[256];
	size_t n = 0;
	char *save = NULL, *tok;
	policy_input in;

	memset(&in, 0, sizeof(in));
	snprintf(tmp, sizeof(tmp), "%s", cats ? cats : "");
	for (tok = strtok_r(tmp, " ", &save); tok && n < 16; tok = strtok_r(NULL, " ", &save))
		v[n++] = tok;
	in.operator_name = op;
	in.target = target;
	in.risk = risk;
	in.categories = v;
	in.ncategories = n;
	in.opaque = opaque;
	in.now = NOW;
	assert_int_equal(policy_decide(p, &in, d), 0);
	/* the strings in v are copied where kept: tmp dies here */
}

/* Runs policy_quorum with a space-separated approver list; returns its code. */
static int
quorum(const policy *p, const policy_decision *d, const char *requester, const char *list,
    time_t now, int *met, buf *why)
{
	const char *v[POLICY_MAX_APPROVERS + 4];
	char tmp[512];
	size_t n = 0;
	char *save = NULL, *tok;

	snprintf(tmp, sizeof(tmp), "%s", list);
	for (tok = strtok_r(tmp, " ", &save); tok && n < POLICY_MAX_APPROVERS + 4;
	     tok = strtok_r(NULL, " ", &save))
		v[n++] = tok;
	if (why)
		buf_reset(why);
	return policy_quorum(p, d, requester, v, n, now, met, why);
}

static int
has_reason(const policy_decision *d, const char *rule, int effect)
{
	size_t i;

	for (i = 0; i < d->nreasons; i++)
		if (strcmp(d->reasons[i].rule, rule) == 0 && d->reasons[i].effect == effect)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ example scenario */

static void
test_example_loads(void **state)
{
	(void)state;
	policy *p = example();
	unsigned char md[32];
	unsigned mdlen = 0;
	char hex[65];
	int i;

	assert_int_equal(policy_identity_count(p), 9);
	assert_int_equal(policy_target_count(p), 6);
	assert_int_equal(policy_environment_count(p), 2);
	assert_true(policy_rule_count(p) >= 6);
	/* version = SHA-256 of the exact bytes */
	assert_int_equal(EVP_Digest(example_yaml, example_len, md, &mdlen, EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(policy_version(p), hex);
	const policy_identity *r = policy_identity_find(p, "rev-1");
	assert_non_null(r);
	assert_true(policy_identity_has_role(r, POLICY_ROLE_REVIEWER));
	assert_true(policy_identity_has_role(r, POLICY_ROLE_ESCORT));
	assert_false(policy_identity_has_role(r, POLICY_ROLE_ADMIN));
	assert_int_equal(r->clearance, POLICY_CLEARANCE_TOP_SECRET);
	assert_int_equal(r->nqualifications, 2);
	assert_null(policy_identity_find(p, "nobody"));
	const policy_target *t = policy_target_find(p, "dod-web");
	assert_non_null(t);
	assert_string_equal(t->environment, "dod");
	assert_string_equal(t->transport, "local");
	assert_string_equal(t->platform, "linux");
	assert_int_equal(t->timeout_sec, 60);
	policy_free(p);
}

static void
test_scenario_op_cn_denied(void **state)
{
	(void)state;
	policy *p = example();
	policy_decision d;
	int risk;

	for (risk = 0; risk <= 4; risk++) {
		decide(p, "op-cn", "dod-web", risk, "", 0, &d);
		assert_int_equal(d.effect, POLICY_DENY);
		assert_true(has_reason(&d, "dod-deny-adversary-locations", POLICY_DENY));
		policy_decision_free(&d);
	}
	/* but op-cn is not barred from commercial work */
	decide(p, "op-cn", "com-web", 0, "file-read", 0, &d);
	assert_int_equal(d.effect, POLICY_AUTO_APPROVE);
	policy_decision_free(&d);
	policy_free(p);
}

static void
test_scenario_systemctl(void **state)
{
	(void)state;
	policy *p = example();
	policy_decision d;
	buf why = BUF_INIT;
	int met = -1;

	decide(p, "op-in", "dod-web", 0, "", 0, &d);
	assert_int_equal(d.effect, POLICY_NEEDS_APPROVAL);
	assert_int_equal(d.quorum, 1);
	assert_int_equal(d.neach, 1);
	assert_int_equal(d.each[0].roles, POLICY_ROLE_ESCORT);
	assert_int_equal(d.each[0].ncitizenship, 1);
	assert_string_equal(d.each[0].citizenship[0], "US");
	assert_int_equal(d.each[0].min_clearance, POLICY_CLEARANCE_SECRET);
	assert_int_equal(d.nslots, 0);
	assert_int_equal(d.approval_lifetime, 4 * 3600);
	assert_int_equal(quorum(p, &d, "op-in", "op-in", NOW, &met, &why), POLICY_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "requested this"));
	assert_int_equal(quorum(p, &d, "op-in", "", NOW, &met, &why), 0);
	assert_int_equal(met, 0);
	assert_int_equal(quorum(p, &d, "op-in", "esc-1", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	policy_decision_free(&d);
	buf_free(&why);
	policy_free(p);
}

static void
test_scenario_curl_sh(void **state)
{
	(void)state;
	policy *p = example();
	policy_decision d;
	buf why = BUF_INIT;
	int met = -1;

	decide(p, "op-in", "dod-web", 4, "network-download remote-exec code-exec opaque", 1, &d);
	assert_int_equal(d.effect, POLICY_NEEDS_APPROVAL);
	assert_int_equal(d.quorum, 2);
	assert_int_equal(d.nslots, 1);
	assert_int_equal(d.slots[0].roles, POLICY_ROLE_REVIEWER);
	assert_int_equal(d.slots[0].nqualifications, 1);
	assert_string_equal(d.slots[0].qualifications[0], "linux"); /* target-platform */
	assert_int_equal(d.approval_lifetime, 3600);                 /* the shorter one */
	assert_true(has_reason(&d, "high-risk-needs-reviewer", POLICY_NEEDS_APPROVAL));
	assert_true(has_reason(&d, "dod-escort-every-command", POLICY_NEEDS_APPROVAL));
	assert_int_equal(quorum(p, &d, "op-in", "esc-1", NOW, &met, &why), 0);
	assert_int_equal(met, 0);
	assert_int_equal(quorum(p, &d, "op-in", "esc-1 esc-1", NOW, &met, &why), POLICY_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "already approved"));
	assert_int_equal(quorum(p, &d, "op-in", "esc-1 esc-2", NOW, &met, &why), 0);
	assert_int_equal(met, 0);
	assert_non_null(strstr(buf_cstr(&why), "reviewer"));
	assert_int_equal(quorum(p, &d, "op-in", "esc-1 esc-2 rev-1", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	assert_int_equal(quorum(p, &d, "op-in", "rev-1 esc-2", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	/* rev-1 alone fills the slot but not the count */
	assert_int_equal(quorum(p, &d, "op-in", "rev-1", NOW, &met, &why), 0);
	assert_int_equal(met, 0);
	/* the auditor and the admin are not escorts */
	assert_int_equal(quorum(p, &d, "op-in", "esc-1 aud-1", NOW, &met, &why), POLICY_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "aud-1"));
	assert_int_equal(quorum(p, &d, "op-in", "adm-1", NOW, &met, &why), POLICY_EREFUSED);
	assert_int_equal(quorum(p, &d, "op-in", "ghost", NOW, &met, &why), POLICY_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "not an identity"));
	policy_decision_free(&d);
	buf_free(&why);
	policy_free(p);
}

static void
test_scenario_ls_auto_and_history_denied(void **state)
{
	(void)state;
	policy *p = example();
	policy_decision d;

	decide(p, "op-in", "com-web", 0, "file-read", 0, &d);
	assert_int_equal(d.effect, POLICY_AUTO_APPROVE);
	assert_true(has_reason(&d, "commercial-auto-low-risk", POLICY_AUTO_APPROVE));
	policy_decision_free(&d);
	decide(p, "op-in", "dod-web", 3, "log-tamper", 0, &d);
	assert_int_equal(d.effect, POLICY_DENY);
	assert_true(has_reason(&d, "dod-deny-dangerous-categories", POLICY_DENY));
	policy_decision_free(&d);
	/* the same in commercial needs an escort, not a deny */
	decide(p, "op-in", "com-web", 3, "log-tamper", 0, &d);
	assert_int_equal(d.effect, POLICY_NEEDS_APPROVAL);
	policy_decision_free(&d);
	policy_free(p);
}

static void
test_scenario_reload_revokes(void **state)
{
	(void)state;
	policy *p = example(), *p2;
	policy_decision d;
	buf why = BUF_INIT;
	int met = -1;
	char *y = example_with("name: esc-1", "clearance: secret", "clearance: none");

	decide(p, "op-in", "dod-web", 0, "", 0, &d);
	assert_int_equal(quorum(p, &d, "op-in", "esc-1", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	p2 = load_s(y);
	assert_string_not_equal(policy_version(p), policy_version(p2));
	/* the stored decision, re-checked against the reloaded policy */
	assert_int_equal(quorum(p2, &d, "op-in", "esc-1", NOW, &met, &why), POLICY_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "clearance is none"));
	assert_int_equal(quorum(p2, &d, "op-in", "esc-2", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	policy_decision_free(&d);
	policy_free(p2);
	policy_free(p);
	free(y);
	buf_free(&why);
}

/* ------------------------------------------------------------------------ semantics */

static const char base_yaml[] =
    "identities:\n"
    "  - {name: op, roles: [operator], citizenship: [IN], location: IN, organization: A,"
    " qualifications: [linux], clearance: public-trust}\n"
    "  - {name: e1, roles: [escort], citizenship: [US], clearance: secret, organization: B,"
    " qualifications: [linux]}\n"
    "  - {name: e2, roles: [escort], citizenship: [US, GB], clearance: top-secret,"
    " organization: B, qualifications: [windows]}\n"
    "  - {name: e3, roles: [escort, reviewer], citizenship: [GB], clearance: secret,"
    " organization: C, qualifications: [linux, windows]}\n"
    "  - {name: e4, roles: [escort], citizenship: [US], clearance: top-secret,"
    " screening_expires: 2026-11-24, organization: D}\n"
    "  - {name: e5, roles: [escort], citizenship: [US], organization: A}\n"
    "  - {name: e6, roles: [escort], citizenship: [US]}\n"
    "  - {name: au, roles: [auditor], citizenship: [US]}\n"
    "environments:\n"
    "  - {name: prod, labels: [tier/1, pci]}\n"
    "  - {name: lab}\n"
    "targets:\n"
    "  - {name: web, environment: prod, transport: local, settings: {platform: linux}}\n"
    "  - {name: win, environment: prod, transport: local, settings: {platform: windows}}\n"
    "  - {name: box, environment: lab, transport: local}\n"
    "  - name: far\n"
    "    environment: lab\n"
    "    transport: ssh\n"
    "    settings: {host: 192.0.2.1, port: 2222, user: ops}\n";

static policy *
with_rules(const char *rules)
{
	buf b = BUF_INIT;
	policy *p;

	buf_puts(&b, base_yaml);
	buf_puts(&b, "rules:\n");
	buf_puts(&b, rules);
	p = load_ok((const char *)b.data, b.len);
	buf_free(&b);
	return p;
}

static int
effect_of(const policy *p, const char *op, const char *target, int risk, const char *cats,
    int opaque)
{
	policy_decision d;
	int e;

	decide(p, op, target, risk, cats, opaque, &d);
	e = d.effect;
	policy_decision_free(&d);
	return e;
}

static void
test_default_deny(void **state)
{
	(void)state;
	policy *p = with_rules("  - {name: only-lab, match: {environment: lab}, auto_approve: true}\n");
	policy_decision d;

	decide(p, "op", "web", 0, "", 0, &d);
	assert_int_equal(d.effect, POLICY_DENY);
	assert_int_equal(d.nreasons, 1);
	assert_string_equal(d.reasons[0].rule, "(default)");
	policy_decision_free(&d);
	assert_int_equal(effect_of(p, "op", "box", 0, "", 0), POLICY_AUTO_APPROVE);
	/* an empty rule list denies everything */
	policy_free(p);
	p = with_rules("");
	assert_int_equal(effect_of(p, "op", "box", 0, "", 0), POLICY_DENY);
	policy_free(p);
	/* limit-only rules do not allow anything */
	p = with_rules("  - {name: lim, output: {max_bytes: 100}}\n");
	assert_int_equal(effect_of(p, "op", "box", 0, "", 0), POLICY_DENY);
	policy_free(p);
}

static void
test_requester_checks(void **state)
{
	(void)state;
	policy *p = with_rules("  - {name: all, auto_approve: true}\n");
	policy_decision d;

	assert_int_equal(effect_of(p, "op", "box", 0, "", 0), POLICY_AUTO_APPROVE);
	decide(p, "nobody", "box", 0, "", 0, &d);
	assert_int_equal(d.effect, POLICY_DENY);
	assert_non_null(strstr(d.reasons[0].text, "not an identity"));
	policy_decision_free(&d);
	decide(p, "e1", "box", 0, "", 0, &d); /* an escort is not an operator */
	assert_int_equal(d.effect, POLICY_DENY);
	assert_non_null(strstr(d.reasons[0].text, "operator role"));
	policy_decision_free(&d);
	decide(p, "op", "nowhere", 0, "", 0, &d);
	assert_int_equal(d.effect, POLICY_DENY);
	assert_non_null(strstr(d.reasons[0].text, "not a target"));
	policy_decision_free(&d);
	decide(p, NULL, "box", 0, "", 0, &d);
	assert_int_equal(d.effect, POLICY_DENY);
	policy_decision_free(&d);
	{
		/* an unknown name from a request is shown safely and still stored as JSON */
		buf j = BUF_INIT;
		policy_decision back;
		decide(p, "evil\x1b[2J\xff\n", "box", 0, "", 0, &d);
		assert_int_equal(d.effect, POLICY_DENY);
		assert_string_equal(d.reasons[0].text, "'evil?[2J?" "?' is not an identity in the policy");
		assert_int_equal(policy_decision_json(&d, &j), 0);
		assert_int_equal(policy_decision_from_json((const char *)j.data, j.len, &back), 0);
		assert_string_equal(back.operator_name, "evil\x1b[2J?\n");
		policy_decision_free(&back);
		policy_decision_free(&d);
		buf_free(&j);
	}
	{
		/* bad arguments: an error, and the decision left at deny */
		const char *cats[] = { "file-read", NULL };
		policy_input in = { "op", "box", 0, cats, 2, 0, NOW };
		assert_int_equal(policy_decide(p, &in, &d), ESC_EINVAL);
		assert_int_equal(d.effect, POLICY_DENY);
		policy_decision_free(&d);
		in.categories = NULL;
		assert_int_equal(policy_decide(p, &in, &d), ESC_EINVAL);
		policy_decision_free(&d);
		in.ncategories = 0;
		in.risk = 5;
		assert_int_equal(policy_decide(p, &in, &d), 0);
		assert_int_equal(d.effect, POLICY_DENY);
		policy_decision_free(&d);
		assert_int_equal(policy_decide(NULL, &in, &d), ESC_EINVAL);
		policy_decision_free(&d);
	}
	policy_free(p);
}

static void
test_deny_wins(void **state)
{
	(void)state;
	/* the deny is last: order must not matter */
	policy *p = with_rules("  - {name: auto, auto_approve: true}\n"
	                       "  - {name: appr, approvals: {count: 3}}\n"
	                       "  - {name: no-pci, match: {environment: pci}, deny: not here}\n");
	policy_decision d;

	decide(p, "op", "web", 0, "", 0, &d);
	assert_int_equal(d.effect, POLICY_DENY);
	assert_true(has_reason(&d, "no-pci", POLICY_DENY));
	assert_true(has_reason(&d, "auto", POLICY_AUTO_APPROVE));
	assert_true(has_reason(&d, "appr", POLICY_NEEDS_APPROVAL));
	assert_int_equal(d.quorum, 0); /* a deny carries no approval requirements */
	policy_decision_free(&d);
	decide(p, "op", "box", 0, "", 0, &d);
	assert_int_equal(d.effect, POLICY_NEEDS_APPROVAL); /* approvals beat auto-approve */
	assert_int_equal(d.quorum, 3);
	policy_decision_free(&d);
	policy_free(p);
}

static void
test_strictest_combination(void **state)
{
	(void)state;
	policy *p = with_rules(
	    "  - name: r1\n"
	    "    approvals: {count: 1, each: {roles: [escort], citizenship: [US]}}\n"
	    "    approval_lifetime: 8h\n"
	    "    output: {max_bytes: 5000, redact_secrets: true}\n"
	    "  - name: r2\n"
	    "    match: {environment: prod}\n"
	    "    approvals:\n"
	    "      count: 2\n"
	    "      each: {min_clearance: top-secret}\n"
	    "      at_least_one: [{qualifications: [target-platform]}]\n"
	    "    approval_lifetime: 30m\n"
	    "    output: {max_bytes: 1000, redact_operator: true}\n"
	    "  - name: r3\n"
	    "    match: {environment: prod}\n"
	    "    approvals: {count: 1, each: {roles: [escort], citizenship: [US]}, "
	    "distinct_organization: true}\n");
	policy_decision d;
	buf why = BUF_INIT;
	int met;

	decide(p, "op", "win", 2, "", 0, &d);
	assert_int_equal(d.effect, POLICY_NEEDS_APPROVAL);
	assert_int_equal(d.quorum, 2);           /* max count */
	assert_int_equal(d.neach, 2);            /* r1 and r3's are equal: deduplicated */
	assert_int_equal(d.nslots, 1);
	assert_string_equal(d.slots[0].qualifications[0], "windows");
	assert_int_equal(d.approval_lifetime, 1800); /* shortest */
	assert_int_equal(d.output_max_bytes, 1000);  /* smallest */
	assert_true(d.redact_operator && d.redact_secrets);
	assert_true(d.distinct_organization);
	/* e1 is US but only secret: r2's each refuses */
	assert_int_equal(quorum(p, &d, "op", "e1", NOW, &met, &why), POLICY_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "below the required top-secret"));
	/* e3 is top... no: secret and GB: refused by r1 (citizenship) first */
	assert_int_equal(quorum(p, &d, "op", "e3", NOW, &met, &why), POLICY_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "not a citizen of US"));
	/* e2 satisfies everything (US, top-secret, windows, org B) but is alone */
	assert_int_equal(quorum(p, &d, "op", "e2", NOW, &met, &why), 0);
	assert_int_equal(met, 0);
	policy_decision_free(&d);
	/* in lab only r1 matches */
	decide(p, "op", "box", 2, "", 0, &d);
	assert_int_equal(d.quorum, 1);
	assert_int_equal(d.neach, 1);
	assert_int_equal(d.approval_lifetime, 8 * 3600);
	assert_int_equal(d.output_max_bytes, 5000);
	assert_false(d.redact_operator);
	assert_int_equal(quorum(p, &d, "op", "e1", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	policy_decision_free(&d);
	buf_free(&why);
	policy_free(p);
}

static void
test_auto_approve_never_for_unseeable(void **state)
{
	(void)state;
	policy *p = with_rules("  - {name: auto, auto_approve: true}\n");
	const char *cats[] = { "obfuscation", "display-deception", "opaque" };
	policy_decision d;
	buf why = BUF_INIT;
	int met, i;

	assert_int_equal(effect_of(p, "op", "box", 0, "file-read", 0), POLICY_AUTO_APPROVE);
	for (i = 0; i < 4; i++) {
		if (i < 3)
			decide(p, "op", "box", 0, cats[i], 0, &d);
		else
			decide(p, "op", "box", 0, "", 1, &d);
		assert_int_equal(d.effect, POLICY_NEEDS_APPROVAL);
		assert_int_equal(d.quorum, 1);
		assert_int_equal(d.neach, 1);
		assert_int_equal(d.each[0].roles, POLICY_ROLE_ESCORT);
		assert_true(has_reason(&d, "(policy)", POLICY_NEEDS_APPROVAL));
		assert_int_equal(quorum(p, &d, "op", "au", NOW, &met, &why), POLICY_EREFUSED);
		assert_int_equal(quorum(p, &d, "op", "e6", NOW, &met, &why), 0);
		assert_int_equal(met, 1);
		policy_decision_free(&d);
	}
	buf_free(&why);
	policy_free(p);
}

static void
test_operator_matching(void **state)
{
	(void)state;
	/* each rule denies on one criterion; "ok" auto-approves the rest */
	static const struct {
		const char *match;
		int hits; /* does it match op (IN/IN, org A, linux, public-trust)? */
	} cases[] = {
		{ "{operator: {names: [op]}}", 1 },
		{ "{operator: {names: [e1]}}", 0 },
		{ "{operator: {roles: [operator, admin]}}", 1 },
		{ "{operator: {roles: [escort]}}", 0 },
		{ "{operator: {citizenship: [US, IN]}}", 1 },
		{ "{operator: {citizenship: [US]}}", 0 },
		{ "{operator: {not_citizenship: [US]}}", 1 },
		{ "{operator: {not_citizenship: [IN]}}", 0 },
		{ "{operator: {location: [IN]}}", 1 },
		{ "{operator: {location: [CN, RU]}}", 0 },
		{ "{operator: {not_location: [US]}}", 1 },
		{ "{operator: {not_location: [IN]}}", 0 },
		{ "{operator: {organization: [A]}}", 1 },
		{ "{operator: {organization: [B]}}", 0 },
		{ "{operator: {qualifications: [linux]}}", 1 },
		{ "{operator: {qualifications: [linux, windows]}}", 0 },
		{ "{operator: {min_clearance: public-trust}}", 1 },
		{ "{operator: {min_clearance: secret}}", 0 },
		{ "{operator: {max_clearance: public-trust}}", 1 },
		{ "{operator: {max_clearance: none}}", 0 },
		{ "{environment: prod}", 1 },
		{ "{environment: [lab]}", 0 },
		{ "{environment: [pci]}", 1 },
		{ "{environment: tier/1}", 1 },
		{ "{target: [web, box]}", 1 },
		{ "{target: win}", 0 },
		{ "{risk: medium}", 1 },
		{ "{risk: [low, high]}", 0 },
		{ "{risk: {min: medium}}", 1 },
		{ "{risk: {min: high}}", 0 },
		{ "{risk: {max: medium}}", 1 },
		{ "{risk: {max: low}}", 0 },
		{ "{risk: {min: low, max: high}}", 1 },
		{ "{categories: [recon, file-read]}", 1 },
		{ "{categories: [destructive]}", 0 },
		{ "{opaque: false}", 1 },
		{ "{opaque: true}", 0 },
		{ "{time: {days: [wed]}}", 1 },
		{ "{time: {days: [mon, tue, thu, fri, sat, sun]}}", 0 },
		{ "{time: {hours: \"11:00-13:00\"}}", 1 },
		{ "{time: {hours: \"13:00-11:00\"}}", 0 },  /* wraps midnight: excludes noon */
		{ "{time: {hours: \"22:00-12:01\"}}", 1 },  /* wraps and includes noon */
		{ "{time: {hours: \"12:01-13:00\"}}", 0 },
		{ "{time: {days: [wed], hours: \"12:00-12:01\"}}", 1 },
		{ "{operator: {location: [IN]}, environment: lab}", 0 }, /* all must hold */
		{ "{}", 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf r = BUF_INIT;
		policy *p;
		policy_decision d;
		buf_printf(&r, "  - {name: x, match: %s, deny: matched}\n"
		               "  - {name: ok, auto_approve: true}\n",
		    cases[i].match);
		p = with_rules(buf_cstr(&r));
		decide(p, "op", "web", 2, "file-read", 0, &d);
		if ((d.effect == POLICY_DENY) != cases[i].hits)
			print_error("case %zu: %s\n", i, cases[i].match);
		assert_int_equal(d.effect == POLICY_DENY, cases[i].hits);
		if (cases[i].hits) {
			unsigned nl = 0;
			for (const char *c = base_yaml; *c; c++)
				nl += *c == '\n';
			assert_int_equal(d.reasons[0].line, nl + 2); /* after "rules:" */
		}
		policy_decision_free(&d);
		policy_free(p);
		buf_free(&r);
	}
}

static void
test_screening_expiry(void **state)
{
	(void)state;
	policy *p = with_rules("  - {name: r, approvals: {each: {min_clearance: secret}}}\n");
	policy_decision d;
	buf why = BUF_INIT;
	int met;
	/* e4: top-secret, screening valid through 2026-11-24 (UTC) */
	time_t last = (time_t)1795564799; /* 2026-11-24 23:59:59 */

	decide(p, "op", "box", 0, "", 0, &d);
	assert_int_equal(quorum(p, &d, "op", "e4", last, &met, &why), 0);
	assert_int_equal(met, 1);
	assert_int_equal(quorum(p, &d, "op", "e4", last + 1, &met, &why), POLICY_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "screening expired"));
	assert_int_equal(policy_identity_clearance(policy_identity_find(p, "e4"), last),
	    POLICY_CLEARANCE_TOP_SECRET);
	assert_int_equal(policy_identity_clearance(policy_identity_find(p, "e4"), last + 1),
	    POLICY_CLEARANCE_NONE);
	/* e5 has no clearance at all */
	assert_int_equal(quorum(p, &d, "op", "e5", NOW, &met, &why), POLICY_EREFUSED);
	policy_decision_free(&d);
	buf_free(&why);
	policy_free(p);
}

static void
test_slot_matching(void **state)
{
	(void)state;
	/* slots: one linux-qualified, one windows-qualified, different people. e3 has both,
	 * e1 only linux: a greedy "first slot first" assignment of e3 to linux fails; the
	 * matching must put e1 on linux and e3 on windows. */
	policy *p = with_rules("  - name: two\n"
	                       "    approvals:\n"
	                       "      count: 2\n"
	                       "      at_least_one: [{qualifications: [linux]}, {qualifications: "
	                       "[windows]}]\n");
	policy_decision d;
	buf why = BUF_INIT;
	int met;

	decide(p, "op", "box", 0, "", 0, &d);
	assert_int_equal(d.quorum, 2);
	assert_int_equal(d.nslots, 2);
	assert_int_equal(quorum(p, &d, "op", "e3 e1", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	assert_int_equal(quorum(p, &d, "op", "e1 e3", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	/* e3 alone cannot fill two slots */
	assert_int_equal(quorum(p, &d, "op", "e3", NOW, &met, &why), 0);
	assert_int_equal(met, 0);
	/* two linux people and nobody for windows */
	assert_int_equal(quorum(p, &d, "op", "e1 op2", NOW, &met, &why), POLICY_EREFUSED);
	assert_int_equal(quorum(p, &d, "op", "e1 e5", NOW, &met, &why), 0);
	assert_int_equal(met, 0);
	assert_non_null(strstr(buf_cstr(&why), "windows"));
	assert_int_equal(quorum(p, &d, "op", "e1 e5 e2", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	policy_decision_free(&d);
	/* more slots than count: the count rises to the number of slots */
	policy_free(p);
	p = with_rules("  - name: s\n"
	               "    approvals: {count: 1, at_least_one: [{roles: [reviewer]}, {roles: "
	               "[escort]}]}\n");
	decide(p, "op", "box", 0, "", 0, &d);
	assert_int_equal(d.quorum, 2);
	assert_int_equal(quorum(p, &d, "op", "e3", NOW, &met, &why), 0);
	assert_int_equal(met, 0);
	assert_int_equal(quorum(p, &d, "op", "e3 e1", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	policy_decision_free(&d);
	buf_free(&why);
	policy_free(p);
}

static void
test_distinct_organization(void **state)
{
	(void)state;
	policy *p = with_rules("  - {name: d, approvals: {count: 2, distinct_organization: true}}\n");
	policy_decision d;
	buf why = BUF_INIT;
	int met;

	decide(p, "op", "box", 0, "", 0, &d); /* op is in organization A */
	assert_true(d.distinct_organization);
	assert_int_equal(quorum(p, &d, "op", "e5", NOW, &met, &why), POLICY_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "requester's organization"));
	assert_int_equal(quorum(p, &d, "op", "e6", NOW, &met, &why), POLICY_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "no organization"));
	assert_int_equal(quorum(p, &d, "op", "e1 e2", NOW, &met, &why), 0); /* both B */
	assert_int_equal(met, 0);
	assert_non_null(strstr(buf_cstr(&why), "distinct organizations"));
	assert_int_equal(quorum(p, &d, "op", "e1 e2 e3", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	policy_decision_free(&d);
	buf_free(&why);
	policy_free(p);
}

static void
test_quorum_bad_calls(void **state)
{
	(void)state;
	policy *p = with_rules("  - {name: a, auto_approve: true}\n");
	policy_decision d;
	int met = 7;
	const char *many[POLICY_MAX_APPROVERS + 1];
	size_t i;

	decide(p, "op", "box", 0, "", 0, &d);
	assert_int_equal(policy_quorum(p, &d, "op", NULL, 0, NOW, &met, NULL), ESC_EINVAL);
	assert_int_equal(met, 0);
	policy_decision_free(&d);
	policy_free(p);
	p = with_rules("  - {name: a, approvals: {count: 1}}\n");
	decide(p, "op", "box", 0, "", 0, &d);
	for (i = 0; i < POLICY_MAX_APPROVERS + 1; i++)
		many[i] = "e1";
	assert_int_equal(policy_quorum(p, &d, "op", many, POLICY_MAX_APPROVERS + 1, NOW, &met,
	                     NULL),
	    ESC_EINVAL);
	assert_int_equal(policy_quorum(p, &d, "op", many, 1, NOW, &met, NULL), 0);
	assert_int_equal(met, 1);
	policy_decision_free(&d);
	policy_free(p);
}

static void
test_platform_required(void **state)
{
	(void)state;
	policy *p = with_rules("  - name: r\n"
	                       "    approvals: {at_least_one: [{qualifications: "
	                       "[target-platform]}]}\n");
	policy_decision d;

	decide(p, "op", "box", 0, "", 0, &d); /* box has no platform */
	assert_int_equal(d.effect, POLICY_DENY);
	assert_true(has_reason(&d, "(policy)", POLICY_DENY));
	policy_decision_free(&d);
	decide(p, "op", "web", 0, "", 0, &d);
	assert_int_equal(d.effect, POLICY_NEEDS_APPROVAL);
	assert_string_equal(d.slots[0].qualifications[0], "linux");
	policy_decision_free(&d);
	policy_free(p);
}

static void
test_json_round_trip(void **state)
{
	(void)state;
	policy *p = example();
	policy_decision d, back;
	buf j1 = BUF_INIT, j2 = BUF_INIT, why = BUF_INIT;
	int met;

	decide(p, "op-in", "dod-web", 4, "network-download code-exec", 1, &d);
	assert_int_equal(policy_decision_json(&d, &j1), 0);
	assert_int_equal(policy_decision_from_json((const char *)j1.data, j1.len, &back), 0);
	assert_int_equal(policy_decision_json(&back, &j2), 0);
	assert_string_equal(buf_cstr(&j1), buf_cstr(&j2));
	/* a reloaded decision works for the quorum just like the original */
	assert_int_equal(quorum(p, &back, "op-in", "esc-1 rev-1", NOW, &met, &why), 0);
	assert_int_equal(met, 1);
	assert_int_equal(quorum(p, &back, "op-in", "esc-1 esc-2", NOW, &met, &why), 0);
	assert_int_equal(met, 0);
	policy_decision_free(&back);
	/* every truncation of the JSON is rejected, without leaks */
	for (size_t n = 0; n < j1.len; n += 7) {
		assert_int_equal(policy_decision_from_json((const char *)j1.data, n, &back),
		    ESC_EPARSE);
		assert_int_equal(back.effect, POLICY_DENY);
		assert_null(back.reasons);
	}
	static const char *bad[] = {
		"{}", "[]", "{\"effect\":\"allow\"}",
		"{\"effect\":\"needs-approval\",\"quorum\":0,\"each\":[],\"at_least_one\":[],"
		"\"distinct_organization\":false,\"approval_lifetime\":1,\"output\":{\"max_bytes\":0,"
		"\"redact_operator\":false,\"redact_secrets\":false},\"reasons\":[]}",
		"{\"effect\":\"needs-approval\",\"quorum\":1,\"each\":[{\"roles\":[\"king\"],"
		"\"min_clearance\":\"none\",\"citizenship\":[],\"qualifications\":[]}],"
		"\"at_least_one\":[],\"distinct_organization\":false,\"approval_lifetime\":1,"
		"\"output\":{\"max_bytes\":0,\"redact_operator\":false,\"redact_secrets\":false},"
		"\"reasons\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(policy_decision_from_json(bad[i], strlen(bad[i]), &back),
		    ESC_EPARSE);
	policy_decision_free(&d);
	buf_free(&j1);
	buf_free(&j2);
	buf_free(&why);
	policy_free(p);
}

/* ---------------------------------------------------------------- authorization matrix */

/* Roles (rows) x attribute cases x actions. Actions:
 *   0 propose a low-risk command on dod-web          A allowed (not denied) / D denied
 *   1 propose a no-risk command on com-web           A / D
 *   2 approve a dod-web request alone                M met / N valid, not enough / R refused
 *   3 approve a critical dod-web request next to a valid escort (needs a linux reviewer)
 *   4 approve a partner request (distinct organizations) alone
 * Policy (below): dod denies operators located in CN; dod needs 1 escort who is a US
 * citizen with secret; high/critical in dod needs 2 with a reviewer qualified for the
 * platform; commercial auto-approves low risk; partner needs 1 escort from another
 * organization than the requester. */
static const char *const roles_m[] = { "operator", "escort", "reviewer", "reviewer, escort",
	"auditor", "admin" };
static const char *const cases_m[] = { "base", "cit-cn", "loc-cn", "clr-none", "clr-pt",
	"clr-secret", "expired", "no-linux", "same-org" };
static const char *const expect_m[6][9] = {
	/*            base     cit-cn   loc-cn   clr-none clr-pt   clr-sec  expired  no-linux same-org */
	/* operator */ { "AARRR", "AARRR", "DARRR", "AARRR", "AARRR", "AARRR", "AARRR", "AARRR", "AARRR" },
	/* escort   */ { "DDMNM", "DDRRM", "DDMNM", "DDRRM", "DDRRM", "DDMNM", "DDRRM", "DDMNM", "DDMNR" },
	/* reviewer */ { "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR" },
	/* rev+esc  */ { "DDMMM", "DDRRM", "DDMMM", "DDRRM", "DDRRM", "DDMMM", "DDRRM", "DDMNM", "DDMMR" },
	/* auditor  */ { "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR" },
	/* admin    */ { "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR", "DDRRR" },
};

static void
matrix_identity(buf *b, size_t r, size_t c)
{
	const char *cit = "US", *loc = "US", *clr = "top-secret", *exp = "2030-01-01",
	           *qual = "linux";
	char org[32];

	snprintf(org, sizeof(org), "org-%zu-%zu", r, c);
	switch (c) {
	case 1: cit = "CN"; break;
	case 2: loc = "CN"; break;
	case 3: clr = "none"; break;
	case 4: clr = "public-trust"; break;
	case 5: clr = "secret"; break;
	case 6: exp = "2020-01-01"; break;
	case 7: qual = "windows"; break;
	case 8: snprintf(org, sizeof(org), "org-req"); break;
	}
	buf_printf(b,
	    "  - {name: m%zu-%zu, roles: [%s], citizenship: [%s], location: %s, clearance: %s,"
	    " screening_expires: %s, qualifications: [%s], organization: %s}\n",
	    r, c, roles_m[r], cit, loc, clr, exp, qual, org);
}

static void
test_authorization_matrix(void **state)
{
	(void)state;
	buf y = BUF_INIT, why = BUF_INIT;
	policy *p;
	policy_decision dlow, dcrit, dpart;
	size_t r, c;
	int cells = 0;

	buf_puts(&y, "identities:\n"
	             "  - {name: req, roles: [operator], citizenship: [IN], location: IN,"
	             " organization: org-req}\n"
	             "  - {name: helper, roles: [escort], citizenship: [US], clearance: secret,"
	             " organization: org-helper}\n");
	for (r = 0; r < 6; r++)
		for (c = 0; c < 9; c++)
			matrix_identity(&y, r, c);
	buf_puts(&y,
	    "environments: [{name: dod}, {name: commercial}, {name: partner}]\n"
	    "targets:\n"
	    "  - {name: dod-web, environment: dod, transport: local, settings: {platform: linux}}\n"
	    "  - {name: com-web, environment: commercial, transport: local}\n"
	    "  - {name: par-web, environment: partner, transport: local}\n"
	    "rules:\n"
	    "  - {name: loc, match: {environment: dod, operator: {location: [CN]}}, deny: no}\n"
	    "  - name: dod-escort\n"
	    "    match: {environment: dod}\n"
	    "    approvals: {each: {roles: [escort], citizenship: [US], min_clearance: secret}}\n"
	    "  - name: dod-high\n"
	    "    match: {environment: dod, risk: {min: high}}\n"
	    "    approvals: {count: 2, at_least_one: [{roles: [reviewer], qualifications: "
	    "[target-platform]}]}\n"
	    "  - {name: com, match: {environment: commercial, risk: {max: low}}, auto_approve: "
	    "true}\n"
	    "  - name: par\n"
	    "    match: {environment: partner}\n"
	    "    approvals: {each: {roles: [escort]}, distinct_organization: true}\n");
	p = load_ok((const char *)y.data, y.len);
	decide(p, "req", "dod-web", 1, "", 0, &dlow);
	decide(p, "req", "dod-web", 4, "", 0, &dcrit);
	decide(p, "req", "par-web", 1, "", 0, &dpart);
	assert_int_equal(dlow.effect, POLICY_NEEDS_APPROVAL);
	assert_int_equal(dcrit.quorum, 2);
	assert_int_equal(dpart.quorum, 1);
	for (r = 0; r < 6; r++) {
		for (c = 0; c < 9; c++) {
			char name[32], list[64], got[6];
			int met, q, e;
			snprintf(name, sizeof(name), "m%zu-%zu", r, c);
			e = effect_of(p, name, "dod-web", 1, "", 0);
			got[0] = e == POLICY_DENY ? 'D' : 'A';
			e = effect_of(p, name, "com-web", 0, "", 0);
			got[1] = e == POLICY_DENY ? 'D' : 'A';
			q = quorum(p, &dlow, "req", name, NOW, &met, &why);
			got[2] = q == POLICY_EREFUSED ? 'R' : q == 0 ? (met ? 'M' : 'N') : '?';
			snprintf(list, sizeof(list), "helper %s", name);
			q = quorum(p, &dcrit, "req", list, NOW, &met, &why);
			got[3] = q == POLICY_EREFUSED ? 'R' : q == 0 ? (met ? 'M' : 'N') : '?';
			q = quorum(p, &dpart, "req", name, NOW, &met, &why);
			got[4] = q == POLICY_EREFUSED ? 'R' : q == 0 ? (met ? 'M' : 'N') : '?';
			got[5] = 0;
			if (strcmp(got, expect_m[r][c]) != 0)
				print_error("role %s, case %s: got %s, want %s\n", roles_m[r],
				    cases_m[c], got, expect_m[r][c]);
			assert_string_equal(got, expect_m[r][c]);
			cells += 5;
		}
	}
	assert_int_equal(cells, 270);
	policy_decision_free(&dlow);
	policy_decision_free(&dcrit);
	policy_decision_free(&dpart);
	policy_free(p);
	buf_free(&y);
	buf_free(&why);
}

/* ------------------------------------------------------------------------ bad input */

#define ID_OK "identities:\n  - {name: a, roles: [escort]}\n"
#define ENV_OK "environments:\n  - {name: e}\n"

static void
test_bad_yaml(void **state)
{
	(void)state;
	load_bad("identities:\n  - name: a\n    roles: [escort\n", 4, 1, "roles", "malformed YAML");
	load_bad("identities: [\n", 2, 1, "identities", "malformed YAML");
	load_bad("a: b\n c: d\n", 2, 3, "a", "malformed YAML");
	load_bad("", 1, 1, "(document)", "empty");
	load_bad("# nothing\n", 1, 1, "(document)", "empty");
	load_bad("- 1\n", 1, 1, "(document)", "expected a mapping");
	load_bad("rules: []\n---\nrules: []\n", 2, 1, "(document)", "one YAML document");
	load_bad(ID_OK "x: &a [1]\ny: *a\n", 4, 4, "y", "aliases");
	load_bad_n("rules: []\n\0", 11, 2, 1, "(document)", "control characters");
	load_bad("rules: \"\\xff\\0\"\n", 1, 8, "rules", "expected a list");
	load_bad(ID_OK "environments: [{name: e, description: \"a\\0b\"}]\n", 3, 39,
	    "environments[e].description", "control characters");
	load_bad("identities: [{name: \"\\xc3\\x28\", roles: [escort]}]\n", 1, 21,
	    "identities[0].name", "only letters");
	/* deep nesting */
	{
		buf b = BUF_INIT;
		int i;
		buf_puts(&b, "rules: ");
		for (i = 0; i < 100; i++)
			buf_putc(&b, '[');
		load_bad(buf_cstr(&b), 1, 39, "rules", "nesting deeper");
		buf_free(&b);
	}
	/* invalid UTF-8 */
	load_bad("identities:\n  - name: \xff\n", 2, 11, "(document)", "invalid leading UTF-8");
}

static void
test_bad_keys_and_types(void **state)
{
	(void)state;
	load_bad("identitis: []\n", 1, 1, "identitis", "unknown key (expected one of: version");
	load_bad("version: 2\n", 1, 10, "version", "out of range");
	load_bad("identities:\n  - {name: a, roles: [escort], clearence: secret}\n", 2, 32,
	    "identities[a].clearence", "unknown key");
	load_bad("identities:\n  - {name: a, roles: {escort: 1}}\n", 2, 22,
	    "identities[a].roles", "got a mapping");
	load_bad("identities:\n  - {name: a, roles: [escort], roles: [admin]}\n", 2, 32,
	    "identities[a].roles", "duplicate key");
	load_bad("identities: {a: 1}\n", 1, 13, "identities", "expected a list");
	load_bad("identities:\n  - {name: [a], roles: [escort]}\n", 2, 12,
	    "identities[0].name", "expected a string");
	load_bad("identities:\n  - {roles: [escort]}\n", 2, 5, "identities[0].name",
	    "required key is missing");
	load_bad("identities:\n  - {name: a}\n", 2, 5, "identities[a].roles", "required");
	load_bad("identities:\n  - {name: a, roles: []}\n", 2, 22, "identities[a].roles",
	    "at least one role");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, approvals: {count: two}}\n", 6, 34,
	    "rules[r].approvals.count", "whole number");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, approvals: {count: 0}}\n", 6, 34,
	    "rules[r].approvals.count", "out of range");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, approvals: {count: 17}}\n", 6, 34,
	    "rules[r].approvals.count", "out of range");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, auto_approve: \"yes\"}\n", 6, 29,
	    "rules[r].auto_approve", "true or false");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, auto_approve: yes}\n", 6, 29,
	    "rules[r].auto_approve", "true or false");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {opaque: 1}, auto_approve: true}\n",
	    6, 31, "rules[r].match.opaque", "true or false");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {colour: red}, deny: x}\n", 6, 23,
	    "rules[r].match.colour", "unknown key");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {operator: {citizen: [US]}}, deny: "
	                      "x}\n",
	    6, 34, "rules[r].match.operator.citizen", "unknown key");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, approvals: {each: {role: [escort]}}}\n", 6,
	    34, "rules[r].approvals.each.role", "unknown key");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, approvals: {at_least_one: {roles: x}}}\n",
	    6, 41, "rules[r].approvals.at_least_one", "expected a list");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, approval_lifetime: forever, approvals: {}}\n",
	    6, 34, "rules[r].approval_lifetime", "expected a duration");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, approval_lifetime: 400d, approvals: {}}\n",
	    6, 34, "rules[r].approval_lifetime", "out of range");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {time: {hours: 8-18}}, deny: x}\n",
	    6, 37, "rules[r].match.time.hours", "HH:MM-HH:MM");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {time: {days: [funday]}}, deny: x}\n",
	    6, 37, "rules[r].match.time.days", "unknown day");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {risk: {min: high, max: low}}, deny: "
	                      "x}\n",
	    6, 29, "rules[r].match.risk", "min is above max");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {risk: severe}, deny: x}\n", 6, 29,
	    "rules[r].match.risk", "unknown risk 'severe'");
}

static void
test_bad_semantics(void **state)
{
	(void)state;
	load_bad("identities:\n  - {name: a, roles: [escort]}\n  - {name: b, roles: [admin]}\n"
	         "  - {name: a, roles: [auditor]}\n",
	    4, 12, "identities[a].name", "duplicate identity name 'a' (first defined at line 2)");
	load_bad(ENV_OK "  - {name: e}\n", 3, 12, "environments[e].name", "duplicate environment");
	load_bad(ENV_OK "targets:\n  - {name: t, environment: e, transport: local}\n"
	                "  - {name: t, environment: e, transport: local}\n",
	    5, 12, "targets[t].name", "duplicate target");
	load_bad(ID_OK "rules:\n  - {name: r, deny: x}\n  - {name: r, deny: y}\n", 5, 12,
	    "rules[r].name", "duplicate rule");
	load_bad(ENV_OK "targets:\n  - {name: t, environment: prod, transport: local}\n", 4, 28,
	    "targets[t].environment", "no environment named 'prod'");
	load_bad(ENV_OK "targets:\n  - {name: t, environment: e, transport: telnet}\n", 4, 42,
	    "targets[t].transport", "unknown transport");
	load_bad(ENV_OK "targets:\n  - {name: t, environment: e, transport: local, settings: "
	                "{host: h}}\n",
	    4, 66, "targets[t].settings.host", "only allowed with transport ssh");
	load_bad(ENV_OK "targets:\n  - {name: t, environment: e, transport: ssh}\n", 4, 5,
	    "targets[t].settings.host", "required for transport ssh");
	load_bad(ENV_OK "targets:\n  - {name: t, environment: e, transport: local, settings: "
	                "{workdir: srv}}\n",
	    4, 69, "targets[t].settings.workdir", "absolute path");
	load_bad("identities:\n  - {name: a, roles: [escort], screening_expires: 2026-02-30}\n", 2,
	    51, "identities[a].screening_expires", "not a valid date");
	load_bad("identities:\n  - {name: a, roles: [escort], screening_expires: 2026-13-01}\n", 2,
	    51, "identities[a].screening_expires", "not a valid date");
	load_bad("identities:\n  - {name: a, roles: [escort], screening_expires: tomorrow}\n", 2,
	    51, "identities[a].screening_expires", "YYYY-MM-DD");
	load_bad("identities:\n  - {name: a, roles: [escort], screening_expires: 2026-1-01}\n", 2,
	    51, "identities[a].screening_expires", "YYYY-MM-DD");
	{
		policy *p = load_s("identities:\n  - {name: a, roles: [escort], screening_expires: "
		                   "2028-02-29}\n"); /* leap day */
		assert_int_equal(policy_identity_find(p, "a")->screening_expires,
		    (time_t)1835481600); /* 2028-03-01T00:00:00Z */
		policy_free(p);
	}
	load_bad("identities:\n  - {name: a, roles: [escort], clearance: confidential}\n", 2, 43,
	    "identities[a].clearance", "unknown clearance 'confidential'");
	load_bad("identities:\n  - {name: a, roles: [escort, wizard]}\n", 2, 31,
	    "identities[a].roles", "unknown role 'wizard'");
	load_bad("identities:\n  - {name: a, roles: [escort], citizenship: [USA]}\n", 2, 46,
	    "identities[a].citizenship", "'USA' is not an ISO 3166-1 alpha-2");
	load_bad("identities:\n  - {name: a, roles: [escort], citizenship: [us]}\n", 2, 46,
	    "identities[a].citizenship", "upper-case");
	load_bad("identities:\n  - {name: a, roles: [escort], location: XX}\n", 2, 42,
	    "identities[a].location", "not an ISO 3166-1");
	load_bad("identities:\n  - {name: a, roles: [escort], citizenship: [US, US]}\n", 2, 50,
	    "identities[a].citizenship", "listed twice");
	load_bad("identities:\n  - {name: o, roles: [operator], citizenship: [IN]}\n", 2, 5,
	    "identities[o].location", "operator role");
	load_bad("identities:\n  - {name: o, roles: [operator], location: IN}\n", 2, 5,
	    "identities[o].citizenship", "operator role");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {categories: [rootkit]}, deny: x}\n",
	    6, 36, "rules[r].match.categories", "unknown category 'rootkit'");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {environment: prod}, deny: x}\n", 6,
	    36, "rules[r].match.environment", "no environment or environment label 'prod'");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {target: t1}, deny: x}\n", 6, 31,
	    "rules[r].match.target", "no target named 't1'");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {operator: {names: [zed]}}, deny: x}\n",
	    6, 42, "rules[r].match.operator.names", "no identity named 'zed'");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {operator: {roles: [boss]}}, deny: x}\n",
	    6, 42, "rules[r].match.operator.roles", "unknown role 'boss'");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, approvals: {each: {min_clearance: q}}}\n", 6,
	    49, "rules[r].approvals.each.min_clearance", "unknown clearance");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, approvals: {each: {}}}\n", 6, 33,
	    "rules[r].approvals.each", "at least one of");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, deny: x, approvals: {count: 1}}\n", 6, 5,
	    "rules[r]", "at most one of deny, approvals and auto_approve");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, approvals: {}, auto_approve: true}\n", 6, 5,
	    "rules[r]", "at most one of");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, match: {environment: e}}\n", 6, 5, "rules[r]",
	    "no effect");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, auto_approve: false}\n", 6, 5, "rules[r]",
	    "no effect");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, deny: \"\"}\n", 6, 21, "rules[r].deny",
	    "must not be empty");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: r, deny: x, output: {max_bytes: 1}}\n", 6, 32,
	    "rules[r].output", "deny rule");
	load_bad(ID_OK ENV_OK "rules:\n  - {name: \"bad name\", deny: x}\n", 6, 12,
	    "rules[0].name", "only letters");
}


/* ------------------------------------------------------------------ broker settings */

#define TGT(settings) ENV_OK "targets:\n  - {name: t, environment: e, transport: " settings "}\n"

static void
test_target_settings(void **state)
{
	policy *p;
	const policy_target *t;

	(void)state;
	/* defaults: key = the target's name, attest on for ssh and off for local */
	p = load_s(ENV_OK "targets:\n"
	                  "  - {name: s, environment: e, transport: ssh, settings: {host: h}}\n"
	                  "  - {name: l, environment: e, transport: local}\n");
	t = policy_target_find(p, "s");
	assert_string_equal(t->key_name, "s");
	assert_true(t->attest);
	assert_int_equal(t->output_max, 0);
	assert_int_equal(t->nredact, 0);
	t = policy_target_find(p, "l");
	assert_false(t->attest);
	assert_null(t->run_as);
	assert_int_equal(policy_egress_daily(p), 0);
	assert_int_equal(policy_environment_find(p, "e")->egress_daily, 0);
	policy_free(p);
	/* everything set */
	p = load_s("egress: {per_operator_daily: 10MiB}\n"
	           "environments:\n  - {name: e, egress: {per_operator_daily: 64kB}}\n"
	           "targets:\n"
	           "  - name: s\n    environment: e\n    transport: ssh\n    settings:\n"
	           "      host: 127.0.0.1\n      port: 2222\n      user: escort\n"
	           "      host_key: \"SHA256:oWpXrMrdcGAYoXTfWj5uQQ2oELoaFIHDwVKpTC/CC6M\"\n"
	           "      key: shared-key\n      attest: false\n      output_max: 512KiB\n"
	           "      timeout: 2m\n"
	           "      redact: ['employee-[0-9]{6}', '^INTERNAL .*$']\n"
	           "  - name: l\n    environment: e\n    transport: local\n    settings:\n"
	           "      run_as: nobody\n      cwd: /srv\n      attest: true\n"
	           "      output_max: 1000\n");
	t = policy_target_find(p, "s");
	assert_string_equal(t->key_name, "shared-key");
	assert_false(t->attest);
	assert_int_equal(t->output_max, 512 * 1024);
	assert_int_equal(t->timeout_sec, 120);
	assert_int_equal(t->ssh_port, 2222);
	assert_string_equal(t->ssh_user, "escort");
	assert_int_equal(t->nredact, 2);
	assert_string_equal(t->redact[0], "employee-[0-9]{6}");
	assert_string_equal(t->redact[1], "^INTERNAL .*$");
	t = policy_target_find(p, "l");
	assert_string_equal(t->run_as, "nobody");
	assert_string_equal(t->workdir, "/srv");
	assert_true(t->attest);
	assert_int_equal(t->output_max, 1000);
	assert_int_equal(policy_egress_daily(p), 10 * 1024 * 1024);
	assert_int_equal(policy_environment_find(p, "e")->egress_daily, 64000);
	policy_free(p);
	/* sizes in every unit */
	{
		static const struct {
			const char *s;
			uint64_t v;
		} sz[] = {{"1", 1}, {"7B", 7}, {"2kB", 2000}, {"2KB", 2000}, {"2KiB", 2048},
		          {"3MB", 3000000}, {"3MiB", 3u << 20}, {"1GB", 1000000000},
		          {"1GiB", 1u << 30}, {"1024GiB", (uint64_t)1 << 40}};
		size_t i;
		char y[256];

		for (i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
			snprintf(y, sizeof(y), "egress: {per_operator_daily: %s}\n", sz[i].s);
			p = load_s(y);
			assert_int_equal(policy_egress_daily(p), sz[i].v);
			policy_free(p);
		}
	}
}

/* ------------------------------------------------------------------ sudo hosts */

#define SUDO_TGTS ENV_OK "targets:\n  - {name: j, environment: e, transport: sudo}\n" \
                  "  - {name: l, environment: e, transport: local}\n"

static void
test_sudo_targets_and_hosts(void **state)
{
	policy *p;
	const policy_identity *h, *op;

	(void)state;
	p = load_s("identities:\n"
	           "  - {name: op, roles: [operator], citizenship: [US], location: US}\n"
	           "  - {name: host@j, roles: [host], hosts: [j]}\n" SUDO_TGTS);
	assert_true(policy_target_is_sudo(policy_target_find(p, "j")));
	assert_false(policy_target_is_sudo(policy_target_find(p, "l")));
	assert_false(policy_target_find(p, "j")->attest);
	h = policy_identity_find(p, "host@j");
	op = policy_identity_find(p, "op");
	assert_int_equal(h->roles, POLICY_ROLE_HOST);
	assert_true(policy_identity_hosts(h, "j"));
	assert_false(policy_identity_hosts(h, "l"));
	assert_false(policy_identity_hosts(op, "j"));
	assert_int_equal(policy_role_parse("host"), POLICY_ROLE_HOST);
	assert_string_equal(policy_role_name(POLICY_ROLE_HOST), "host");
	policy_free(p);

	/* a sudo target has nothing for escort to connect with or run */
	load_bad(ENV_OK "targets:\n  - {name: t, environment: e, transport: sudo, settings: "
	                "{host: h}}\n", 4, 65, "targets[t].settings.host",
	         "not allowed with transport sudo");
	load_bad(ENV_OK "targets:\n  - {name: t, environment: e, transport: sudo, settings: "
	                "{timeout: 5s}}\n", 4, 68, "targets[t].settings.timeout",
	         "not allowed with transport sudo");
	load_bad(ENV_OK "targets:\n  - {name: t, environment: e, transport: sudo, settings: "
	                "{run_as: x}}\n", 4, 67, "targets[t].settings.run_as",
	         "not allowed with transport sudo");
	/* a host token never acts as a person */
	load_bad("identities:\n  - {name: h, roles: [host, operator], hosts: [j]}\n" SUDO_TGTS, 2,
	         22, "identities[h].roles", "cannot be combined with other roles");
	load_bad("identities:\n  - {name: h, roles: [host]}\n" SUDO_TGTS, 2, 5,
	         "identities[h].hosts", "required for identities with the host role");
	load_bad("identities:\n  - {name: h, roles: [escort], hosts: [j]}\n" SUDO_TGTS, 2, 39,
	         "identities[h].hosts", "only allowed for identities with the host role");
	load_bad("identities:\n  - {name: h, roles: [host], hosts: [j, l]}\n" SUDO_TGTS, 2, 41,
	         "identities[h].hosts", "target 'l' has transport local");
	load_bad("identities:\n  - {name: h, roles: [host], hosts: [nope]}\n" SUDO_TGTS, 2, 38,
	         "identities[h].hosts", "no target named 'nope'");
	load_bad(ENV_OK "rules:\n  - {name: r, approvals: {count: 1, each: {roles: [host]}}}\n",
	         4, 51, "rules[r].approvals.each.roles", "a host cannot approve");
	load_bad(ENV_OK "rules:\n  - {name: r, match: {operator: {roles: [host]}}, deny: no}\n",
	         4, 41, "rules[r].match.operator.roles", "a host never proposes commands");
}

static void
test_target_settings_bad(void **state)
{
	(void)state;
	load_bad(TGT("local, settings: {key: k}"), 4, 65, "targets[t].settings.key",
	    "only allowed with transport ssh");
	load_bad(TGT("ssh, settings: {host: h, run_as: root}"), 4, 75,
	    "targets[t].settings.run_as", "only allowed with transport local");
	load_bad(TGT("ssh, settings: {host: h, key: ../x}"), 4, 72, "targets[t].settings.key",
	    "only letters");
	load_bad(TGT("ssh, settings: {host: h, key: .hidden}"), 4, 72, "targets[t].settings.key",
	    "must not start with a dot");
	load_bad(TGT("ssh, settings: {host: h, host_key: abc}"), 4, 77,
	    "targets[t].settings.host_key", "SHA256:<base64>");
	load_bad(TGT("local, settings: {attest: yes}"), 4, 68, "targets[t].settings.attest",
	    "true or false");
	load_bad(TGT("local, settings: {output_max: 10 MiB}"), 4, 72,
	    "targets[t].settings.output_max", "expected a size");
	load_bad(TGT("local, settings: {output_max: 10XB}"), 4, 72,
	    "targets[t].settings.output_max", "expected a size");
	load_bad(TGT("local, settings: {output_max: 0}"), 4, 72,
	    "targets[t].settings.output_max", "out of range");
	load_bad(TGT("local, settings: {output_max: 2048GiB}"), 4, 72,
	    "targets[t].settings.output_max", "out of range");
	load_bad(TGT("local, settings: {workdir: /a, cwd: /b}"), 4, 78,
	    "targets[t].settings.cwd", "not both");
	load_bad(TGT("local, settings: {cwd: tmp}"), 4, 65, "targets[t].settings.cwd",
	    "absolute path");
	load_bad(TGT("local, settings: {redact: ['a(b']}"), 4, 69,
	    "targets[t].settings.redact", "not a valid POSIX extended regular expression");
	load_bad(TGT("local, settings: {redact: ['x', 'y*']}"), 4, 74,
	    "targets[t].settings.redact", "'y*' matches the empty string");
	load_bad(TGT("local, settings: {redact: ['(a)\\1']}"), 4, 69, "targets[t].settings.redact",
	    "back-references (\\1) are not supported");
	load_bad(TGT("local, settings: {redact: ['a{500}b{1,501}']}"), 4, 69,
	    "targets[t].settings.redact", "repetition counts add up to more than 1000");
	load_bad(TGT("local, settings: {redact: {a: b}}"), 4, 68, "targets[t].settings.redact",
	    "got a mapping");
	load_bad(TGT("local, settings: {colour: red}"), 4, 60, "targets[t].settings.colour",
	    "unknown key");
	load_bad("egress: {per_operator_daily: lots}\n", 1, 30, "egress.per_operator_daily",
	    "expected a size");
	load_bad("egress: {daily: 1MiB}\n", 1, 10, "egress.daily", "unknown key");
	load_bad("egress: {}\n", 1, 9, "egress", "give per_operator_daily");
	load_bad("environments:\n  - {name: e, egress: 5}\n", 2, 23, "environments[e].egress",
	    "expected a mapping");
}

static void
test_size_limit(void **state)
{
	(void)state;
	/* a 10 MiB policy: a clear error before any parsing */
	size_t n = (size_t)10 * 1024 * 1024, i;
	char *big = malloc(n);
	policy *p = NULL;
	buf err = BUF_INIT;

	assert_non_null(big);
	memcpy(big, "rules:\n", 7);
	for (i = 7; i + 30 <= n; i += 30)
		memcpy(big + i, "  - {name: r, deny: xxxxxxx}\n", 30);
	for (; i < n; i++)
		big[i] = '\n';
	assert_int_equal(policy_load(&p, big, n, "big.yaml", &err), ESC_ETOOBIG);
	assert_null(p);
	assert_non_null(strstr(buf_cstr(&err), "big.yaml:1:1: (document): "));
	assert_non_null(strstr(buf_cstr(&err), "limit is 4194304 bytes"));
	/* exactly at the limit it is parsed (and fails on its content, not its size) */
	buf_reset(&err);
	assert_int_equal(policy_load(&p, big, POLICY_MAX_BYTES, "big.yaml", &err), ESC_EPARSE);
	assert_null(strstr(buf_cstr(&err), "limit"));
	buf_free(&err);
	free(big);
}

static void
test_large_policy_and_reentrancy(void **state)
{
	(void)state;
	/* 1,000 rules and 1,000 identities load, look up, and decide; two policies coexist */
	buf y = BUF_INIT;
	policy *p, *q;
	policy_decision d;
	int i;

	buf_puts(&y, "identities:\n");
	for (i = 0; i < 1000; i++)
		buf_printf(&y, "  - {name: u%04d, roles: [operator], citizenship: [US], location: "
		               "US}\n",
		    i);
	buf_puts(&y, "environments: [{name: e}]\ntargets: [{name: t, environment: e, transport: "
	             "local}]\nrules:\n");
	for (i = 0; i < 1000; i++)
		buf_printf(&y, "  - {name: r%04d, match: {operator: {names: [u%04d]}}, approvals: "
		               "{count: %d}}\n",
		    i, i, 1 + i % 16);
	p = load_ok((const char *)y.data, y.len);
	q = example();
	assert_int_equal(policy_rule_count(p), 1000);
	assert_non_null(policy_identity_find(p, "u0999"));
	assert_non_null(policy_identity_find(p, "u0000"));
	assert_null(policy_identity_find(p, "u1000"));
	assert_null(policy_identity_find(q, "u0001"));
	decide(p, "u0017", "t", 0, "", 0, &d);
	assert_int_equal(d.effect, POLICY_NEEDS_APPROVAL);
	assert_int_equal(d.quorum, 2);
	assert_int_equal(d.nreasons, 1);
	policy_decision_free(&d);
	policy_free(p);
	policy_free(q);
	buf_free(&y);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Loads (or rejects) y and returns the seconds it took; the result must be `want`. */
static double
timed_load(buf *y, int want)
{
	policy *p = NULL;
	buf err = BUF_INIT;
	double t0 = mono();
	int rc = policy_load(&p, (const char *)y->data, y->len, "big.yaml", &err);
	double t = mono() - t0;

	if (rc != want)
		print_error("rc %d: %s\n", rc, buf_cstr(&err));
	assert_int_equal(rc, want);
	policy_free(p);
	buf_free(&err);
	buf_reset(y);
	return t;
}

static void
test_load_is_linear(void **state)
{
	(void)state;
	/* near-4 MiB files shaped to hit every per-item check; a quadratic check would take
	 * minutes on these. Each must finish in seconds (even under ASan). */
	buf y = BUF_INIT;
	double t;
	int i;

	/* one huge list: duplicates are detected with a table */
	buf_puts(&y, "identities:\n  - {name: a, roles: [escort], qualifications: [");
	for (i = 0; y.len < POLICY_MAX_BYTES - 64; i++)
		buf_printf(&y, "%sq%d", i ? "," : "", i);
	buf_puts(&y, "]}\n");
	t = timed_load(&y, 0);
	assert_true(t < 10);
	/* many environments and targets (name lookups, duplicate checks) */
	buf_puts(&y, "environments:\n");
	for (i = 0; i < 40000; i++)
		buf_printf(&y, "- {name: e%d, labels: [l%d]}\n", i, i % 100);
	buf_puts(&y, "targets:\n");
	for (i = 0; i < 40000; i++)
		buf_printf(&y, "- {name: t%d, environment: e%d, transport: local}\n", i, 39999 - i);
	assert_true(y.len < POLICY_MAX_BYTES);
	t = timed_load(&y, 0);
	assert_true(t < 10);
	/* many rules referencing environments, labels, targets, with distinct requirements */
	buf_puts(&y, "environments: [{name: e, labels: [x]}]\ntargets: [{name: t, environment: e, "
	             "transport: local}]\nidentities: [{name: i, roles: [escort]}]\nrules:\n");
	for (i = 0; y.len < POLICY_MAX_BYTES - 200; i++)
		buf_printf(&y, "- {name: r%d, match: {environment: [e, x], target: t, operator: "
		               "{names: [i]}}, approvals: {each: {qualifications: [q%d]}}}\n",
		    i, i);
	t = timed_load(&y, 0);
	assert_true(t < 10);
	/* too many nodes: a clear error, quickly */
	buf_puts(&y, "rules: [");
	while (y.len < POLICY_MAX_BYTES - 8)
		buf_puts(&y, "1,");
	buf_puts(&y, "1]\n");
	t = timed_load(&y, ESC_EPARSE);
	assert_true(t < 10);
	buf_free(&y);
}

static void
test_names(void **state)
{
	(void)state;
	assert_int_equal(policy_role_parse("reviewer"), POLICY_ROLE_REVIEWER);
	assert_int_equal(policy_role_parse("root"), 0);
	assert_string_equal(policy_role_name(POLICY_ROLE_ADMIN), "admin");
	assert_int_equal(policy_clearance_parse("top-secret"), POLICY_CLEARANCE_TOP_SECRET);
	assert_int_equal(policy_clearance_parse("TS"), -1);
	assert_string_equal(policy_risk_name(4), "critical");
	assert_int_equal(policy_risk_parse("medium"), 2);
	assert_true(policy_category_valid("log-tamper"));
	assert_true(policy_category_valid("recon"));
	assert_false(policy_category_valid("rootkit"));
	assert_string_equal(policy_effect_name(POLICY_NEEDS_APPROVAL), "needs-approval");
	policy_free(NULL);
	policy_decision_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_scenario_op_cn_denied),
		cmocka_unit_test(test_scenario_systemctl),
		cmocka_unit_test(test_scenario_curl_sh),
		cmocka_unit_test(test_scenario_ls_auto_and_history_denied),
		cmocka_unit_test(test_scenario_reload_revokes),
		cmocka_unit_test(test_default_deny),
		cmocka_unit_test(test_requester_checks),
		cmocka_unit_test(test_deny_wins),
		cmocka_unit_test(test_strictest_combination),
		cmocka_unit_test(test_auto_approve_never_for_unseeable),
		cmocka_unit_test(test_operator_matching),
		cmocka_unit_test(test_screening_expiry),
		cmocka_unit_test(test_slot_matching),
		cmocka_unit_test(test_distinct_organization),
		cmocka_unit_test(test_quorum_bad_calls),
		cmocka_unit_test(test_platform_required),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_authorization_matrix),
		cmocka_unit_test(test_bad_yaml),
		cmocka_unit_test(test_bad_keys_and_types),
		cmocka_unit_test(test_bad_semantics),
		cmocka_unit_test(test_target_settings),
		cmocka_unit_test(test_target_settings_bad),
		cmocka_unit_test(test_sudo_targets_and_hosts),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_large_policy_and_reentrancy),
		cmocka_unit_test(test_load_is_linear),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* fuzz_policy.c — the policy loader reads YAML that an admin (or an attacker with write
 * access to the data directory) controls. The input is one policy file: it is loaded, and
 * when it loads, every identity proposes a few requests on every target, decisions go
 * through JSON and back, and the quorum check runs over a handful of approvers. Nothing may
 * crash, leak, hang, or produce a decision that does not survive its JSON round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "util/err.h"

static void
exercise(const policy *p)
{
	static const char *const cats[] = { "log-tamper", "obfuscation", "file-read",
		"reverse-shell" };
	size_t ni = policy_identity_count(p), nt = policy_target_count(p), i, t;
	const char *approvers[4];
	int risk;

	if (ni > 8)
		ni = 8;
	if (nt > 4)
		nt = 4;
	for (i = 0; i < ni; i++) {
		const policy_identity *id = policy_identity_at(p, i);
		for (t = 0; t < nt; t++) {
			for (risk = 0; risk <= 4; risk += 2) {
				policy_input in;
				policy_decision d, back;
				buf j1 = BUF_INIT, j2 = BUF_INIT, why = BUF_INIT;
				size_t k, na = 0;
				int met;

				memset(&in, 0, sizeof(in));
				in.operator_name = id->name;
				in.target = policy_target_at(p, t)->name;
				in.risk = risk;
				in.categories = cats + (size_t)risk / 2;
				in.ncategories = 2;
				in.opaque = risk == 4;
				in.now = (time_t)1795608000 + (time_t)risk * 40000;
				if (policy_decide(p, &in, &d) != 0) {
					policy_decision_free(&d);
					continue;
				}
				if (policy_decision_json(&d, &j1) == 0) {
					if (policy_decision_from_json((const char *)j1.data, j1.len, &back) != 0)
						abort(); /* our own JSON must parse back */
					if (policy_decision_json(&back, &j2) != 0 ||
					    strcmp(buf_cstr(&j1), buf_cstr(&j2)) != 0)
						abort();
					policy_decision_free(&back);
				}
				policy_decision_render(&d, &why);
				if (d.effect == POLICY_NEEDS_APPROVAL) {
					for (k = 0; k < ni && na < 4; k++)
						if (k != i)
							approvers[na++] = policy_identity_at(p, k)->name;
					buf_reset(&why);
					policy_quorum(p, &d, id->name, approvers, na, in.now, &met, &why);
				}
				if (d.effect == POLICY_AUTO_APPROVE && in.opaque)
					abort(); /* the invariant: opaque is never auto-approved */
				policy_decision_free(&d);
				buf_free(&j1);
				buf_free(&j2);
				buf_free(&why);
			}
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	policy *p = NULL;
	buf err = BUF_INIT;
	int r = policy_load(&p, (const char *)data, size, "fuzz.yaml", &err);

	if (r == 0) {
		if (p == NULL || strlen(policy_version(p)) != 64)
			abort();
		exercise(p);
		policy_free(p);
	} else if (p != NULL || err.len == 0) {
		abort(); /* every failure says why */
	}
	buf_free(&err);
	return 0;
}

/* policy_int.h — the loaded policy's internal representation, shared by the loader
 * (load.c), the decision code (decide.c) and the helpers (names.c). Not a public API. */
#ifndef ESCORT_POLICY_POLICY_INT_H
#define ESCORT_POLICY_POLICY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

/* One allocation pool per policy: everything a policy owns is freed at once, which also
 * makes every loader error path leak-free. */
struct pol_arena_blk {
	struct pol_arena_blk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct pol_arena {
	struct pol_arena_blk *head;
};

void *pol_alloc(struct pol_arena *a, size_t n); /* zeroed; NULL on ENOMEM */
char *pol_strndup(struct pol_arena *a, const char *s, size_t n);
void pol_arena_free(struct pol_arena *a);

struct pol_strlist {
	const char *const *v;
	size_t n;
};

struct pol_req {     /* an approver requirement as written */
	unsigned id; /* equal requirements share an id (deduplication) */
	unsigned roles;
	struct pol_strlist citizenship;
	int min_clearance;
	struct pol_strlist qualifications; /* may contain "target-platform" */
};

struct pol_rule {
	const char *name;
	unsigned line;
	/* match; empty lists / -1 mean "not constrained" */
	struct pol_strlist op_names, op_citizenship, op_not_citizenship, op_location,
	    op_not_location, op_organization, op_qualifications;
	unsigned op_roles;
	int op_min_clearance, op_max_clearance;
	struct pol_strlist environments, targets, categories;
	/* environments/targets resolved at load (bit i: envs[i] / targets[i]) when the
	 * policy has at most 64 of them; otherwise the names are compared */
	uint64_t env_mask, target_mask;
	int env_masked, target_masked;
	unsigned risk_mask;         /* bit r set: risk r matches; 0: any */
	int opaque;                 /* -1 any, 0, 1 */
	unsigned days_mask;         /* bit 0 = Sunday; 0: any day */
	int minute_from, minute_to; /* [from, to) minutes of the UTC day; -1: any time */
	/* effects */
	const char *deny; /* reason; NULL when not a deny rule */
	int has_approvals;
	unsigned count;
	int has_each;
	struct pol_req each;
	struct pol_req *slots;
	size_t nslots;
	int distinct_organization;
	int auto_approve;
	long lifetime;                       /* 0: not set */
	long output_max_bytes;               /* -1: not set */
	int redact_operator, redact_secrets; /* -1: not set */
};

struct policy {
	struct pol_arena arena;
	char version[65];
	const char *filename;
	policy_identity *ids;
	size_t nids;
	policy_identity **id_sorted; /* by name, for bsearch */
	policy_environment *envs;
	policy_environment **env_sorted;
	size_t nenvs;
	policy_target *targets;
	policy_target **target_sorted;
	size_t ntargets;
	struct pol_rule *rules;
	size_t nrules;
	uint64_t egress_daily; /* egress.per_operator_daily; 0: none */
	int has_sessions;
	policy_sessions sessions; /* the top-level sessions: block */
};

int pol_country_valid(const char *s);
int pol_strlist_has(const struct pol_strlist *l, const char *s);

#endif

/* policy.h — who may run what where, and who must approve it.
 * A policy (identities, environments, targets, rules) is loaded from YAML once and is
 * immutable afterwards: reload = load a new one and swap pointers. Decisions are pure
 * functions of (policy, input); nothing here touches the store, the audit log or lockbox. */
#ifndef ESCORT_POLICY_POLICY_H
#define ESCORT_POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/buf.h"

/* A larger policy file is rejected (ESC_ETOOBIG) before it is parsed. */
#define POLICY_MAX_BYTES ((size_t)4 * 1024 * 1024)
/* Approval lifetime when no matching rule sets approval_lifetime. */
#define POLICY_DEFAULT_LIFETIME (24 * 60 * 60)
/* policy_quorum considers at most this many approvers (larger lists: ESC_EINVAL). */
#define POLICY_MAX_APPROVERS 16

/* Returned by policy_quorum when an approver may not approve (not an ESC_E* code:
 * esc_strerror does not know it; the reason is in `why`). */
#define POLICY_EREFUSED (-64)

typedef struct policy policy;

/* Roles are bits so that "any of" sets are one unsigned. */
enum policy_role {
	POLICY_ROLE_OPERATOR = 1u << 0,
	POLICY_ROLE_ESCORT = 1u << 1,
	POLICY_ROLE_REVIEWER = 1u << 2,
	POLICY_ROLE_AUDITOR = 1u << 3,
	POLICY_ROLE_ADMIN = 1u << 4,
	/* a machine, not a person: a sudo host (escort_sudo(8)) submitting its users' sudo
	 * commands for the targets listed in its `hosts`; it can do nothing else */
	POLICY_ROLE_HOST = 1u << 5
};

enum policy_clearance {
	POLICY_CLEARANCE_NONE = 0,
	POLICY_CLEARANCE_PUBLIC_TRUST,
	POLICY_CLEARANCE_SECRET,
	POLICY_CLEARANCE_TOP_SECRET
};

enum policy_effect { POLICY_DENY = 0, POLICY_AUTO_APPROVE = 1, POLICY_NEEDS_APPROVAL = 2 };

typedef struct policy_identity {
	const char *name;
	unsigned roles;                 /* POLICY_ROLE_* bits */
	const char *const *citizenship; /* ISO 3166 alpha-2, upper case */
	size_t ncitizenship;
	const char *location;     /* alpha-2, or NULL when not given */
	int clearance;            /* as written; see policy_identity_clearance */
	time_t screening_expires; /* first second AFTER the given date (UTC); 0: none */
	const char *const *qualifications;
	size_t nqualifications;
	const char *organization; /* NULL when not given */
	const char *const *hosts; /* role host only: the sudo targets it speaks for */
	size_t nhosts;
	unsigned line;            /* where it was defined */
} policy_identity;

typedef struct policy_environment {
	const char *name;
	const char *const *labels;
	size_t nlabels;
	uint64_t egress_daily; /* egress.per_operator_daily in bytes; 0: no cap of its own */
	unsigned line;
	/* sessions: {...} of this environment (has_sessions 0: the top-level one applies) */
	int has_sessions;
	struct policy_sessions {
		unsigned require_escorts; /* escorts who must be present for a line to run */
		unsigned presence_every;  /* seconds an escort may go unseen and still count */
		unsigned line_timeout;    /* seconds per line; 0: the target's timeout */
		/* presence_check: {every, method}: an escort counts toward require_escorts
		 * only while his last proof (a TOTP code or a click) is at most check_every
		 * seconds old; check_method POLICY_PRESENCE_NONE: no checks */
		unsigned check_every;
		int check_method;
	} sessions;
} policy_environment;

/* Interactive session settings (escort-policy(5), "sessions"). */
typedef struct policy_sessions policy_sessions;
#define POLICY_PRESENCE_DEFAULT 10 /* seconds, when presence_every is not given */
enum policy_presence_method {
	POLICY_PRESENCE_NONE = 0,
	POLICY_PRESENCE_CLICK = 1, /* a click or keypress of the escort, authenticated */
	POLICY_PRESENCE_TOTP = 2   /* a fresh TOTP code of the escort */
};

typedef struct policy_target {
	const char *name;
	const char *environment; /* always names an existing environment */
	const char *transport;   /* "local", "ssh" or "sudo" (see policy_target_is_sudo) */
	const char *platform;    /* settings.platform, e.g. "linux"; NULL if unset */
	const char *workdir;     /* settings.workdir; NULL: broker default */
	unsigned timeout_sec;    /* settings.timeout; 0: broker default */
	/* ssh settings, accepted now for the broker issue (NULL/0 when unset) */
	const char *ssh_host;
	unsigned ssh_port;
	const char *ssh_user;
	const char *ssh_host_key;
	/* broker settings (escort-policy(5), "targets") */
	const char *key_name;     /* ssh: escort's key is DATA/keys/<key_name>; default: name */
	const char *run_as;       /* local: the user to run as (honoured only as root) */
	int attest;               /* snapshot before and after each request; default: ssh */
	uint64_t output_max;      /* bytes of output kept per request; 0: the default */
	const char *const *redact; /* extra POSIX extended regular expressions to mask */
	size_t nredact;
	unsigned line;
} policy_target;

/* Loads a policy from `len` bytes; `filename` is used in messages and reasons only.
 * Reentrant. Any error rejects the whole file: returns a negative ESC_E* code and
 * appends "FILE:LINE:COL: KEY: message" to err (err may be NULL). */
int policy_load(policy **out, const char *bytes, size_t len, const char *filename, buf *err);
void policy_free(policy *p); /* NULL-safe */

/* Lowercase hex SHA-256 of the exact file bytes (64 chars). */
const char *policy_version(const policy *p);
const char *policy_filename(const policy *p);

size_t policy_identity_count(const policy *p);
size_t policy_environment_count(const policy *p);
size_t policy_target_count(const policy *p);
size_t policy_rule_count(const policy *p);
const policy_identity *policy_identity_at(const policy *p, size_t i);
const policy_target *policy_target_at(const policy *p, size_t i);

/* NULL when there is no such name. */
const policy_identity *policy_identity_find(const policy *p, const char *name);
const policy_environment *policy_environment_find(const policy *p, const char *name);
const policy_target *policy_target_find(const policy *p, const char *name);
/* The top-level egress.per_operator_daily in bytes (0: none). An operator's output is also
 * capped by the target environment's own egress.per_operator_daily; both count per UTC day. */
uint64_t policy_egress_daily(const policy *p);
/* The session settings for a target: its environment's sessions: block if it has one,
 * else the top-level one, else none required (presence_every POLICY_PRESENCE_DEFAULT). */
void policy_sessions_for(const policy *p, const char *target, policy_sessions *out);

int policy_identity_has_role(const policy_identity *id, unsigned role_bits_any);
/* 1 for a target with transport sudo: sudo on that host runs its (approved) commands,
 * escort never does (no broker, no session). */
int policy_target_is_sudo(const policy_target *t);
/* 1 when id has the host role and lists `target` in its hosts (always a sudo target). */
int policy_identity_hosts(const policy_identity *id, const char *target);
/* The clearance that counts at `now`: NONE once the screening has expired. */
int policy_identity_clearance(const policy_identity *id, time_t now);

/* Name <-> value helpers ("operator", "secret", "high"...); -1 / 0 when unknown. */
const char *policy_role_name(unsigned role_bit);
unsigned policy_role_parse(const char *s); /* 0 when unknown */
const char *policy_clearance_name(int c);
int policy_clearance_parse(const char *s);  /* -1 when unknown */
const char *policy_effect_name(int effect); /* "deny", "auto-approve", "needs-approval" */
const char *policy_presence_method_name(int m); /* "totp", "click"; "none" */
int policy_presence_method_parse(const char *s); /* -1 when unknown */
const char *policy_risk_name(int risk);     /* none..critical */
int policy_risk_parse(const char *s);       /* -1 when unknown */
int policy_category_valid(const char *s);   /* the fixed vocabulary of DESIGN.md */

typedef struct policy_input {
	const char *operator_name; /* the requester */
	const char *target;
	int risk; /* 0 none .. 4 critical (same order as lockbox_risk) */
	const char *const *categories;
	size_t ncategories;
	int opaque;
	time_t now;
} policy_input;

/* What one approver must satisfy. Every field that is empty/0 means "no constraint". */
typedef struct policy_approver_req {
	unsigned roles;     /* any of these roles */
	char **citizenship; /* any of */
	size_t ncitizenship;
	int min_clearance;     /* effective clearance (screening checked) >= this */
	char **qualifications; /* all of; "target-platform" is already resolved */
	size_t nqualifications;
	char *rule; /* the rule that asked for it */
	unsigned line;
} policy_approver_req;

typedef struct policy_reason {
	char *rule; /* rule name, or "(default)" / "(policy)" for built-ins */
	char *file;
	unsigned line; /* 0 for built-ins */
	int effect;    /* what the rule asked for: POLICY_* or -1 (modifier only) */
	char *text;    /* why it matched / why denied, plain English */
} policy_reason;

typedef struct policy_decision {
	int effect;           /* POLICY_DENY, POLICY_AUTO_APPROVE, POLICY_NEEDS_APPROVAL */
	char *policy_version; /* hex of the policy that decided */
	char *operator_name;
	char *target;
	char *platform; /* the target's platform, NULL if unset */
	/* NEEDS_APPROVAL only: */
	unsigned quorum;           /* distinct approvers required (>= nslots) */
	policy_approver_req *each; /* EVERY approver must satisfy ALL of these */
	size_t neach;
	policy_approver_req *slots; /* each slot needs its own, distinct approver */
	size_t nslots;
	int distinct_organization; /* requester and counted approvers: pairwise different orgs */
	long approval_lifetime;    /* seconds (shortest of the matching rules) */
	/* output handling, stored for the broker issue */
	long output_max_bytes; /* 0: no limit */
	int redact_operator;   /* redact output shown to the operator */
	int redact_secrets;    /* mask secrets (keys, tokens, passwords) in output */
	policy_reason *reasons;
	size_t nreasons;
	size_t reasons_cap; /* allocated entries (internal) */
} policy_decision;

/* Pure; never fails on odd input (unknown operator/target => deny with a reason), only on
 * ESC_ENOMEM / ESC_EINVAL (NULL args). Semantics: docs/escort-policy.5. `out` is
 * overwritten (call policy_decision_free afterwards, also after an error). */
int policy_decide(const policy *p, const policy_input *in, policy_decision *out);
void policy_decision_free(policy_decision *d); /* NULL-safe; leaves *d zeroed */

/* Checks approvers (in approval order) against a NEEDS_APPROVAL decision using the
 * CURRENT policy p's identity attributes at `now`. Returns 0 and sets *met (1 = quorum
 * satisfied, 0 = more approvals needed; `why` then says what is missing) when every
 * approver may approve. Returns POLICY_EREFUSED with a plain reason in `why` when an
 * approver is the requester, appears twice, is unknown, or does not satisfy the
 * constraints (the first offending approver is named). ESC_EINVAL for a decision that is
 * not NEEDS_APPROVAL or more than POLICY_MAX_APPROVERS approvers. `why` may be NULL. */
int policy_quorum(const policy *p, const policy_decision *d, const char *requester,
                  const char *const *approvers, size_t napprovers, time_t now, int *met, buf *why);

/* Appends one JSON object (no newline) / parses one back (for storing a decision with a
 * request). from_json returns ESC_EPARSE for malformed or incomplete input. */
int policy_decision_json(const policy_decision *d, buf *out);
int policy_decision_from_json(const char *json, size_t len, policy_decision *out);
/* Appends a few human lines: effect, approver requirements, lifetime, reasons. */
int policy_decision_render(const policy_decision *d, buf *out);

#endif

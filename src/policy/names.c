/* names.c — the policy's fixed vocabularies (roles, clearances, risks, categories,
 * countries), its allocation pool, and the read-only accessors of a loaded policy. */
#include "policy/policy_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK ((size_t)16 * 1024)

void *
pol_alloc(struct pol_arena *a, size_t n)
{
	struct pol_arena_blk *b = a->head;
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	if (need == 0)
		need = 16;
	if (b == NULL || b->cap - b->used < need) {
		size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
		if ((b = malloc(sizeof(*b) + cap)) == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		/* a big one-off block goes behind the head so the head keeps its free space */
		if (a->head && need > ARENA_BLOCK) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	p = b->data + b->used;
	b->used += need;
	memset(p, 0, n);
	return p;
}

char *
pol_strndup(struct pol_arena *a, const char *s, size_t n)
{
	char *d = pol_alloc(a, n + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = 0;
	return d;
}

void
pol_arena_free(struct pol_arena *a)
{
	struct pol_arena_blk *b = a->head, *next;

	while (b) {
		next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}

int
pol_strlist_has(const struct pol_strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

/* ISO 3166-1 alpha-2, as listed in tzdata's iso3166.tab (249 codes). */
static const char countries[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW ";

int
pol_country_valid(const char *s)
{
	size_t i;

	if (strlen(s) != 2)
		return 0;
	for (i = 0; i + 2 < sizeof(countries); i += 3)
		if (countries[i] == s[0] && countries[i + 1] == s[1])
			return 1;
	return 0;
}

/* DESIGN.md, "The lockbox contract": the fixed category vocabulary. */
static const char *const categories[] = {"file-read",
                                         "file-write",
                                         "file-delete",
                                         "config-change",
                                         "credential-access",
                                         "network-download",
                                         "network-upload",
                                         "network-connect",
                                         "network-listen",
                                         "reverse-shell",
                                         "bind-shell",
                                         "remote-exec",
                                         "code-exec",
                                         "shell-escape",
                                         "privilege-escalation",
                                         "persistence",
                                         "account-change",
                                         "permission-change",
                                         "service-change",
                                         "security-disable",
                                         "log-tamper",
                                         "destructive",
                                         "package-install",
                                         "kernel-module",
                                         "process-kill",
                                         "obfuscation",
                                         "display-deception",
                                         "opaque",
                                         "recon"};

int
policy_category_valid(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
		if (strcmp(s, categories[i]) == 0)
			return 1;
	return 0;
}

static const char *const role_names[] = {"operator", "escort",  "reviewer",
                                         "auditor",  "admin",   "host"};

const char *
policy_role_name(unsigned role_bit)
{
	size_t i;

	for (i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (role_bit == 1u << i)
			return role_names[i];
	return NULL;
}

unsigned
policy_role_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (strcmp(s, role_names[i]) == 0)
			return 1u << i;
	return 0;
}

static const char *const clearance_names[] = {"none", "public-trust", "secret", "top-secret"};

const char *
policy_clearance_name(int c)
{
	if (c < 0 || c > POLICY_CLEARANCE_TOP_SECRET)
		return NULL;
	return clearance_names[c];
}

int
policy_clearance_parse(const char *s)
{
	int i;

	for (i = 0; i <= POLICY_CLEARANCE_TOP_SECRET; i++)
		if (strcmp(s, clearance_names[i]) == 0)
			return i;
	return -1;
}

static const char *const risk_names[] = {"none", "low", "medium", "high", "critical"};

const char *
policy_risk_name(int risk)
{
	if (risk < 0 || risk > 4)
		return NULL;
	return risk_names[risk];
}

int
policy_risk_parse(const char *s)
{
	int i;

	for (i = 0; i <= 4; i++)
		if (strcmp(s, risk_names[i]) == 0)
			return i;
	return -1;
}

const char *
policy_effect_name(int effect)
{
	switch (effect) {
	case POLICY_DENY: return "deny";
	case POLICY_AUTO_APPROVE: return "auto-approve";
	case POLICY_NEEDS_APPROVAL: return "needs-approval";
	}
	return NULL;
}

const char *
policy_presence_method_name(int m)
{
	switch (m) {
	case POLICY_PRESENCE_TOTP: return "totp";
	case POLICY_PRESENCE_CLICK: return "click";
	}
	return "none";
}

int
policy_presence_method_parse(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "totp") == 0)
		return POLICY_PRESENCE_TOTP;
	if (strcmp(s, "click") == 0)
		return POLICY_PRESENCE_CLICK;
	return -1;
}

int
policy_identity_has_role(const policy_identity *id, unsigned role_bits_any)
{
	return id != NULL && (id->roles & role_bits_any) != 0;
}

int
policy_target_is_sudo(const policy_target *t)
{
	return t != NULL && t->transport != NULL && strcmp(t->transport, "sudo") == 0;
}

int
policy_identity_hosts(const policy_identity *id, const char *target)
{
	size_t i;

	if (id == NULL || target == NULL || !(id->roles & POLICY_ROLE_HOST))
		return 0;
	for (i = 0; i < id->nhosts; i++)
		if (strcmp(id->hosts[i], target) == 0)
			return 1;
	return 0;
}

int
policy_identity_clearance(const policy_identity *id, time_t now)
{
	if (id == NULL)
		return POLICY_CLEARANCE_NONE;
	/* an expired screening voids the clearance: PS-3 */
	if (id->screening_expires != 0 && now >= id->screening_expires)
		return POLICY_CLEARANCE_NONE;
	return id->clearance;
}

const char *
policy_version(const policy *p)
{
	return p->version;
}

const char *
policy_filename(const policy *p)
{
	return p->filename;
}

size_t
policy_identity_count(const policy *p)
{
	return p->nids;
}

size_t
policy_environment_count(const policy *p)
{
	return p->nenvs;
}

size_t
policy_target_count(const policy *p)
{
	return p->ntargets;
}

size_t
policy_rule_count(const policy *p)
{
	return p->nrules;
}

const policy_identity *
policy_identity_at(const policy *p, size_t i)
{
	return i < p->nids ? &p->ids[i] : NULL;
}

const policy_target *
policy_target_at(const policy *p, size_t i)
{
	return i < p->ntargets ? &p->targets[i] : NULL;
}

/* Binary search over an array of pointers to structs whose first member is the name. */
static const void *
find_sorted(void *const *v, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	if (name == NULL || v == NULL)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, *(const char *const *)v[mid]);
		if (c == 0)
			return v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const policy_identity *
policy_identity_find(const policy *p, const char *name)
{
	return find_sorted((void *const *)p->id_sorted, p->nids, name);
}

const policy_environment *
policy_environment_find(const policy *p, const char *name)
{
	return find_sorted((void *const *)p->env_sorted, p->nenvs, name);
}

const policy_target *
policy_target_find(const policy *p, const char *name)
{
	return find_sorted((void *const *)p->target_sorted, p->ntargets, name);
}

uint64_t
policy_egress_daily(const policy *p)
{
	return p ? p->egress_daily : 0;
}

void
policy_sessions_for(const policy *p, const char *target, policy_sessions *out)
{
	const policy_target *t = p ? policy_target_find(p, target) : NULL;
	const policy_environment *e = t ? policy_environment_find(p, t->environment) : NULL;

	memset(out, 0, sizeof(*out));
	if (e && e->has_sessions)
		*out = e->sessions;
	else if (p && p->has_sessions)
		*out = p->sessions;
	if (out->presence_every == 0)
		out->presence_every = POLICY_PRESENCE_DEFAULT;
}

void
policy_free(policy *p)
{
	struct pol_arena a;

	if (p == NULL)
		return;
	/* the policy itself lives in its own arena */
	a = p->arena;
	pol_arena_free(&a);
}

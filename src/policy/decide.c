/* decide.c — the pure decision (which rules match a request and what they require) and
 * the quorum check (do these approvers, with today's attributes, satisfy it).
 * Semantics are documented in docs/escort-policy.5; keep the two in step. */
#include "policy/policy_int.h"
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small heap helpers ---- */

static char *
xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void
req_free(policy_approver_req *q)
{
	size_t i;

	for (i = 0; i < q->ncitizenship; i++)
		free(q->citizenship[i]);
	free(q->citizenship);
	for (i = 0; i < q->nqualifications; i++)
		free(q->qualifications[i]);
	free(q->qualifications);
	free(q->rule);
	memset(q, 0, sizeof(*q));
}

void
policy_decision_free(policy_decision *d)
{
	size_t i;

	if (d == NULL)
		return;
	free(d->policy_version);
	free(d->operator_name);
	free(d->target);
	free(d->platform);
	for (i = 0; i < d->neach; i++)
		req_free(&d->each[i]);
	free(d->each);
	for (i = 0; i < d->nslots; i++)
		req_free(&d->slots[i]);
	free(d->slots);
	for (i = 0; i < d->nreasons; i++) {
		free(d->reasons[i].rule);
		free(d->reasons[i].file);
		free(d->reasons[i].text);
	}
	free(d->reasons);
	memset(d, 0, sizeof(*d));
}

static int
add_reason(policy_decision *d, const char *rule, const char *file, unsigned line, int effect,
           const char *text)
{
	policy_reason *r;

	if (d->nreasons == d->reasons_cap) {
		size_t ncap = d->reasons_cap ? d->reasons_cap * 2 : 4;
		if ((r = realloc(d->reasons, ncap * sizeof(*r))) == NULL)
			return ESC_ENOMEM;
		d->reasons = r;
		d->reasons_cap = ncap;
	}
	r = &d->reasons[d->nreasons];
	memset(r, 0, sizeof(*r));
	r->line = line;
	r->effect = effect;
	if ((r->rule = xstrdup(rule)) == NULL || (file && (r->file = xstrdup(file)) == NULL) ||
	    (r->text = xstrdup(text)) == NULL) {
		free(r->rule);
		free(r->file);
		return ESC_ENOMEM;
	}
	d->nreasons++;
	return 0;
}

static int
strv_dup(char ***dst, size_t *ndst, const char *const *src, size_t n)
{
	size_t i;

	*dst = NULL;
	*ndst = 0;
	if (n == 0)
		return 0;
	if ((*dst = calloc(n, sizeof(**dst))) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < n; i++) {
		if (((*dst)[i] = strdup(src[i])) == NULL)
			return ESC_ENOMEM; /* caller frees the partial list via req_free */
		*ndst = i + 1;
	}
	return 0;
}

/* Appends a name that may not be in the policy (so is untrusted: it came from a request)
 * with anything but printable ASCII shown as '?', at most 64 bytes: reasons end up on
 * terminals and in JSON. */
static void
put_name(buf *b, const char *s)
{
	size_t i;

	if (s == NULL) {
		buf_puts(b, "(none)");
		return;
	}
	for (i = 0; s[i] && i < 64; i++)
		buf_putc(b, s[i] > 0x20 && s[i] < 0x7f ? (unsigned char)s[i] : '?');
	if (s[i])
		buf_puts(b, "...");
}

/* ---- matching ---- */

/* Appends the NULL-terminated list of strings: the reasons are built for every matching
 * rule of every decision, and this is several times faster than printf. */
static void
cat(buf *b, ...)
{
	va_list ap;
	const char *s;

	if (b == NULL)
		return; /* matching without reasons */
	va_start(ap, b);
	while ((s = va_arg(ap, const char *)) != NULL)
		buf_puts(b, s);
	va_end(ap);
}

struct mctx {
	const policy *p;
	const policy_input *in;
	const policy_identity *op;
	const policy_target *tgt;
	const policy_environment *env;
};

static void
join(buf *b, const struct pol_strlist *l)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < l->n; i++)
		cat(b, i ? ", " : "", l->v[i], NULL);
}

static int
any_in(const char *const *v, size_t n, const struct pol_strlist *l, const char **hit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pol_strlist_has(l, v[i])) {
			*hit = v[i];
			return 1;
		}
	return 0;
}

static int
has_str(const char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* The cheap criteria first: most rules of a large policy fail one of these. */
static int
quick_reject(const struct pol_rule *ru, const struct mctx *m)
{
	if (ru->risk_mask && !(ru->risk_mask & (1u << m->in->risk)))
		return 1;
	if (ru->opaque >= 0 && (m->in->opaque != 0) != ru->opaque)
		return 1;
	if (ru->op_roles && !(ru->op_roles & m->op->roles))
		return 1;
	if (ru->env_masked && !(ru->env_mask & ((uint64_t)1 << (m->env - m->p->envs))))
		return 1;
	if (ru->target_masked && !(ru->target_mask & ((uint64_t)1 << (m->tgt - m->p->targets))))
		return 1;
	return 0;
}

/* 1 when the rule matches; `why` gets the reasons, "; "-separated. */
static int
rule_matches(const struct pol_rule *ru, const struct mctx *m, buf *why)
{
	const policy_identity *op = m->op;
	const char *hit = NULL;
	size_t i;
	int clr = policy_identity_clearance(op, m->in->now);

#define SEP() (why && why->len ? "; " : "")
	if (ru->op_names.n) {
		for (i = 0; i < ru->op_names.n; i++)
			if (ru->op_names.v[i] == op->name) /* same policy: interned at load */
				break;
		if (i == ru->op_names.n)
			return 0;
		cat(why, SEP(), "operator is ", op->name, NULL);
	}
	if (ru->op_roles) {
		unsigned both = ru->op_roles & op->roles;
		if (!both)
			return 0;
		for (i = 0; i < 5; i++)
			if (both & (1u << i))
				break;
		cat(why, SEP(), "operator holds the role ", policy_role_name(1u << i), NULL);
	}
	if (ru->op_citizenship.n) {
		if (!any_in(op->citizenship, op->ncitizenship, &ru->op_citizenship, &hit))
			return 0;
		cat(why, SEP(), "operator citizenship ", hit, " is one of ", NULL);
		join(why, &ru->op_citizenship);
	}
	if (ru->op_not_citizenship.n) {
		if (any_in(op->citizenship, op->ncitizenship, &ru->op_not_citizenship, &hit))
			return 0;
		cat(why, SEP(), "operator is a citizen of none of ", NULL);
		join(why, &ru->op_not_citizenship);
	}
	if (ru->op_location.n) {
		if (op->location == NULL || !pol_strlist_has(&ru->op_location, op->location))
			return 0;
		cat(why, SEP(), "operator location ", op->location, " is one of ", NULL);
		join(why, &ru->op_location);
	}
	if (ru->op_not_location.n) {
		if (op->location == NULL || pol_strlist_has(&ru->op_not_location, op->location))
			return 0;
		cat(why, SEP(), "operator location ", op->location, " is none of ", NULL);
		join(why, &ru->op_not_location);
	}
	if (ru->op_organization.n) {
		if (op->organization == NULL ||
		    !pol_strlist_has(&ru->op_organization, op->organization))
			return 0;
		cat(why, SEP(), "operator organization is ", op->organization, NULL);
	}
	if (ru->op_qualifications.n) {
		for (i = 0; i < ru->op_qualifications.n; i++)
			if (!has_str(op->qualifications, op->nqualifications,
			             ru->op_qualifications.v[i]))
				return 0;
		cat(why, SEP(), "operator is qualified for ", NULL);
		join(why, &ru->op_qualifications);
	}
	if (ru->op_min_clearance >= 0) {
		if (clr < ru->op_min_clearance)
			return 0;
		cat(why, SEP(), "operator clearance ", policy_clearance_name(clr), " is at least ",
		    policy_clearance_name(ru->op_min_clearance), NULL);
	}
	if (ru->op_max_clearance >= 0) {
		if (clr > ru->op_max_clearance)
			return 0;
		cat(why, SEP(), "operator clearance ", policy_clearance_name(clr), " is at most ",
		    policy_clearance_name(ru->op_max_clearance), NULL);
	}
	if (ru->environments.n) {
		if (ru->env_masked
		        ? !(ru->env_mask & ((uint64_t)1 << (m->env - m->p->envs)))
		        : !pol_strlist_has(&ru->environments, m->env->name) &&
		              !any_in(m->env->labels, m->env->nlabels, &ru->environments, &hit))
			return 0;
		if (why && pol_strlist_has(&ru->environments, m->env->name))
			cat(why, SEP(), "target ", m->tgt->name, " is in environment ",
			    m->env->name, NULL);
		else if (why && any_in(m->env->labels, m->env->nlabels, &ru->environments, &hit))
			cat(why, SEP(), "target ", m->tgt->name, " is in environment ",
			    m->env->name, ", labelled ", hit, NULL);
	}
	if (ru->targets.n) {
		if (ru->target_masked
		        ? !(ru->target_mask & ((uint64_t)1 << (m->tgt - m->p->targets)))
		        : !pol_strlist_has(&ru->targets, m->tgt->name))
			return 0;
		cat(why, SEP(), "target is ", m->tgt->name, NULL);
	}
	if (ru->risk_mask) {
		int first = 1;
		if (!(ru->risk_mask & (1u << m->in->risk)))
			return 0;
		cat(why, SEP(), "risk ", policy_risk_name(m->in->risk), " is one of ", NULL);
		for (i = 0; i < 5; i++)
			if (ru->risk_mask & (1u << i)) {
				cat(why, first ? "" : ", ", policy_risk_name((int)i), NULL);
				first = 0;
			}
	}
	if (ru->categories.n) {
		size_t before;
		if (!any_in(m->in->categories, m->in->ncategories, &ru->categories, &hit))
			return 0;
		cat(why, SEP(), "command has categor", NULL);
		before = why ? why->len : 0;
		for (i = 0; why && i < m->in->ncategories; i++)
			if (pol_strlist_has(&ru->categories, m->in->categories[i]))
				cat(why, why->len > before ? ", " : "y ", m->in->categories[i],
				    NULL);
	}
	if (ru->opaque >= 0) {
		if ((m->in->opaque != 0) != ru->opaque)
			return 0;
		cat(why, SEP(), "command is ", ru->opaque ? "" : "not ", "opaque", NULL);
	}
	if (ru->days_mask || ru->minute_from >= 0) {
		static const char *const dn[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
		long long t = (long long)m->in->now;
		long long days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
		int minute = (int)((t - days * 86400) / 60);
		int wday = (int)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
		if (ru->days_mask && !(ru->days_mask & (1u << wday)))
			return 0;
		if (ru->minute_from >= 0) {
			int in = ru->minute_from < ru->minute_to
			             ? (minute >= ru->minute_from && minute < ru->minute_to)
			             : (minute >= ru->minute_from || minute < ru->minute_to);
			if (!in)
				return 0;
		}
		if (why)
			buf_printf(why, "%stime %s %02d:%02d UTC is inside the rule's window",
			           SEP(), dn[wday], minute / 60, minute % 60);
	}
	if (why && why->len == 0)
		buf_puts(why, "the rule applies to every request");
#undef SEP
	return 1;
}

/* ---- combining ---- */

static int
strv_same_set(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (!has_str((const char *const *)b, nb, a[i]))
			return 0;
	return 1;
}

static int
req_same(const policy_approver_req *a, const policy_approver_req *b)
{
	return a->roles == b->roles && a->min_clearance == b->min_clearance &&
	       strv_same_set(a->citizenship, a->ncitizenship, b->citizenship, b->ncitizenship) &&
	       strv_same_set(a->qualifications, a->nqualifications, b->qualifications,
	                     b->nqualifications);
}

/* Appends a resolved copy of q to (*v, *n) unless the same requirement (same id, or
 * equal once resolved and from another rule: two equal entries in one rule's list mean
 * two people) is there. `ids` runs parallel to *v. Returns 1 when the requirement names
 * target-platform but the target has none. */
static int
add_req(policy_approver_req **v, size_t *n, unsigned **ids, const struct pol_req *q,
        const char *platform, const struct pol_rule *ru)
{
	policy_approver_req r, *nv;
	unsigned *nids;
	size_t i;
	int rc;

	for (i = 0; q->id && i < *n; i++)
		if ((*ids)[i] == q->id)
			return 0;
	memset(&r, 0, sizeof(r));
	r.roles = q->roles;
	r.min_clearance = q->min_clearance;
	r.line = ru->line;
	if ((rc = strv_dup(&r.citizenship, &r.ncitizenship, q->citizenship.v, q->citizenship.n)) !=
	        0 ||
	    (rc = strv_dup(&r.qualifications, &r.nqualifications, q->qualifications.v,
	                   q->qualifications.n)) != 0 ||
	    (r.rule = strdup(ru->name)) == NULL) {
		req_free(&r);
		return rc ? rc : ESC_ENOMEM;
	}
	for (i = 0; i < r.nqualifications; i++) {
		if (strcmp(r.qualifications[i], "target-platform") != 0)
			continue;
		if (platform == NULL) {
			req_free(&r);
			return 1;
		}
		free(r.qualifications[i]);
		if ((r.qualifications[i] = strdup(platform)) == NULL) {
			req_free(&r);
			return ESC_ENOMEM;
		}
	}
	for (i = 0; i < *n; i++)
		if (req_same(&(*v)[i], &r) && strcmp((*v)[i].rule, r.rule) != 0) {
			req_free(&r);
			return 0;
		}
	if ((nids = realloc(*ids, (*n + 1) * sizeof(*nids))) == NULL) {
		req_free(&r);
		return ESC_ENOMEM;
	}
	*ids = nids;
	nids[*n] = q->id;
	if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL) {
		req_free(&r);
		return ESC_ENOMEM;
	}
	*v = nv;
	nv[(*n)++] = r;
	return 0;
}

static int
is_unseeable(const policy_input *in)
{
	size_t i;

	if (in->opaque)
		return 1;
	for (i = 0; i < in->ncategories; i++)
		if (strcmp(in->categories[i], "obfuscation") == 0 ||
		    strcmp(in->categories[i], "display-deception") == 0 ||
		    strcmp(in->categories[i], "opaque") == 0)
			return 1;
	return 0;
}

static int
deny_builtin(policy_decision *d, const char *rule, const char *text)
{
	d->effect = POLICY_DENY;
	return add_reason(d, rule, NULL, 0, POLICY_DENY, text);
}

int
policy_decide(const policy *p, const policy_input *in, policy_decision *out)
{
	struct mctx m;
	buf why = BUF_INIT, txt = BUF_INIT;
	size_t i;
	int rc = 0, ndeny = 0, nappr = 0, nauto = 0, nmod = 0, r;
	long lifetime = 0;
	const struct pol_rule *platform_rule = NULL;
	unsigned char *matched = NULL;
	unsigned *each_ids = NULL, *slot_ids = NULL;
	size_t nmatched = 0;

	if (out == NULL)
		return ESC_EINVAL;
	memset(out, 0, sizeof(*out));
	out->effect = POLICY_DENY;
	if (p == NULL || in == NULL || (in->ncategories && in->categories == NULL))
		return ESC_EINVAL;
	for (i = 0; i < in->ncategories; i++)
		if (in->categories[i] == NULL)
			return ESC_EINVAL;
	memset(&m, 0, sizeof(m));
	m.p = p;
	m.in = in;
	if ((out->policy_version = strdup(p->version)) == NULL ||
	    (in->operator_name && (out->operator_name = strdup(in->operator_name)) == NULL) ||
	    (in->target && (out->target = strdup(in->target)) == NULL)) {
		rc = ESC_ENOMEM;
		goto out;
	}
	out->approval_lifetime = POLICY_DEFAULT_LIFETIME;
	if (in->risk < 0 || in->risk > 4) {
		rc = deny_builtin(out, "(policy)", "the risk level is not one of none..critical");
		goto out;
	}
	m.op = policy_identity_find(p, in->operator_name);
	if (m.op == NULL) {
		buf_putc(&txt, '\'');
		put_name(&txt, in->operator_name);
		buf_puts(&txt, "' is not an identity in the policy");
		rc = deny_builtin(out, "(policy)", buf_cstr(&txt));
		goto out;
	}
	if (!policy_identity_has_role(m.op, POLICY_ROLE_OPERATOR)) {
		buf_printf(&txt, "%s does not hold the operator role, so cannot propose commands",
		           m.op->name);
		rc = deny_builtin(out, "(policy)", buf_cstr(&txt));
		goto out;
	}
	m.tgt = policy_target_find(p, in->target);
	if (m.tgt == NULL) {
		buf_putc(&txt, '\'');
		put_name(&txt, in->target);
		buf_puts(&txt, "' is not a target in the policy");
		rc = deny_builtin(out, "(policy)", buf_cstr(&txt));
		goto out;
	}
	m.env = policy_environment_find(p, m.tgt->environment);
	if (m.tgt->platform && (out->platform = strdup(m.tgt->platform)) == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}

	if (p->nrules && (matched = calloc(p->nrules, 1)) == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	/* pass 1: which rules match (cheap, no text), so the reasons are allocated once */
	for (i = 0; i < p->nrules; i++)
		if (!quick_reject(&p->rules[i], &m) && rule_matches(&p->rules[i], &m, NULL)) {
			matched[i] = 1;
			nmatched++;
		}
	if (nmatched && (out->reasons = calloc(nmatched + 2, sizeof(*out->reasons))) == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	out->reasons_cap = nmatched ? nmatched + 2 : 0;
	/* pass 2: why each matched, and what it asks for */
	for (i = 0; i < p->nrules; i++) {
		const struct pol_rule *ru = &p->rules[i];
		int eff;
		if (!matched[i])
			continue;
		buf_reset(&why);
		if (!rule_matches(ru, &m, &why)) { /* cannot happen: matching is pure */
			rc = ESC_EINTERNAL;
			goto out;
		}
		if (ru->deny) {
			eff = POLICY_DENY;
			ndeny++;
			cat(&why, "; denied: ", ru->deny, NULL);
		} else if (ru->has_approvals) {
			char num[12];
			eff = POLICY_NEEDS_APPROVAL;
			nappr++;
			snprintf(num, sizeof(num), "%u", ru->count);
			cat(&why, "; requires ", num, ru->count == 1 ? " approval" : " approvals",
			    NULL);
		} else if (ru->auto_approve) {
			eff = POLICY_AUTO_APPROVE;
			nauto++;
			cat(&why, "; auto-approve", NULL);
		} else {
			eff = -1;
			nmod++;
			cat(&why, "; sets limits only", NULL);
		}
		if ((rc = add_reason(out, ru->name, p->filename, ru->line, eff, buf_cstr(&why))) !=
		    0)
			goto out;
		if (ru->deny)
			continue;
		if (ru->lifetime && (lifetime == 0 || ru->lifetime < lifetime))
			lifetime = ru->lifetime;
		if (ru->output_max_bytes > 0 &&
		    (out->output_max_bytes == 0 || ru->output_max_bytes < out->output_max_bytes))
			out->output_max_bytes = ru->output_max_bytes;
		if (ru->redact_operator > 0)
			out->redact_operator = 1;
		if (ru->redact_secrets > 0)
			out->redact_secrets = 1;
	}
	if (lifetime)
		out->approval_lifetime = lifetime;

	if (ndeny) {
		out->effect = POLICY_DENY;
		goto out;
	}
	if (nappr) {
		/* the strictest requirement of all matching rules: max count, every
		 * constraint, every slot */
		out->effect = POLICY_NEEDS_APPROVAL;
		for (i = 0; i < p->nrules; i++) {
			const struct pol_rule *ru = &p->rules[i];
			size_t k;
			if (!matched[i] || !ru->has_approvals)
				continue;
			if (ru->count > out->quorum)
				out->quorum = ru->count;
			if (ru->distinct_organization)
				out->distinct_organization = 1;
			if (ru->has_each) {
				r = add_req(&out->each, &out->neach, &each_ids, &ru->each,
				            m.tgt->platform, ru);
				if (r < 0) {
					rc = r;
					goto out;
				}
				if (r == 1)
					platform_rule = ru;
			}
			for (k = 0; k < ru->nslots; k++) {
				r = add_req(&out->slots, &out->nslots, &slot_ids, &ru->slots[k],
				            m.tgt->platform, ru);
				if (r < 0) {
					rc = r;
					goto out;
				}
				if (r == 1)
					platform_rule = ru;
			}
		}
		if (out->nslots > out->quorum)
			out->quorum = (unsigned)out->nslots;
		if (out->quorum > POLICY_MAX_APPROVERS) {
			rc = deny_builtin(out, "(policy)",
			                  "the matching rules together require "
			                  "more approvers than escort supports");
			goto out;
		}
		if (platform_rule) {
			buf_reset(&txt);
			buf_printf(&txt,
			           "rule %s needs an approver qualified for the target's "
			           "platform, but target %s has no settings.platform",
			           platform_rule->name, m.tgt->name);
			rc = deny_builtin(out, "(policy)", buf_cstr(&txt));
			goto out;
		}
		goto out;
	}
	if (nauto) {
		if (is_unseeable(in)) {
			/* lockbox cannot see through it: a person must look (invariant) */
			struct pol_req esc;
			struct pol_rule builtin;
			memset(&esc, 0, sizeof(esc));
			memset(&builtin, 0, sizeof(builtin));
			esc.roles = POLICY_ROLE_ESCORT;
			builtin.name = "(policy)";
			out->effect = POLICY_NEEDS_APPROVAL;
			out->quorum = 1;
			if ((rc = add_req(&out->each, &out->neach, &each_ids, &esc, NULL,
			                  &builtin)) != 0 ||
			    (rc = add_reason(
			         out, "(policy)", NULL, 0, POLICY_NEEDS_APPROVAL,
			         "auto-approve withheld: the command is opaque, obfuscated or "
			         "deceptive, so one escort must approve it")) != 0)
				goto out;
			goto out;
		}
		out->effect = POLICY_AUTO_APPROVE;
		goto out;
	}
	rc = deny_builtin(out, "(default)",
	                  nmod ? "only limit-setting rules match; no rule "
	                         "allows this request (default deny)"
	                       : "no rule matches this request (default deny)");
out:
	free(matched);
	free(each_ids);
	free(slot_ids);
	buf_free(&why);
	buf_free(&txt);
	if (rc != 0)
		out->effect = POLICY_DENY; /* never leave an allow behind on failure */
	return rc;
}

/* ---- quorum ---- */

static void
describe_req(const policy_approver_req *q, buf *b)
{
	size_t i, n = 0;
	unsigned bit;

	if (q->roles) {
		buf_puts(b, "role ");
		for (bit = 1; bit <= POLICY_ROLE_ADMIN; bit <<= 1)
			if (q->roles & bit)
				buf_printf(b, "%s%s", n++ ? " or " : "", policy_role_name(bit));
	}
	if (q->ncitizenship) {
		buf_printf(b, "%scitizen of ", b->len ? ", " : "");
		for (i = 0; i < q->ncitizenship; i++)
			buf_printf(b, "%s%s", i ? " or " : "", q->citizenship[i]);
	}
	if (q->min_clearance > 0)
		buf_printf(b, "%sclearance %s or higher", b->len ? ", " : "",
		           policy_clearance_name(q->min_clearance));
	if (q->nqualifications) {
		buf_printf(b, "%squalified for ", b->len ? ", " : "");
		for (i = 0; i < q->nqualifications; i++)
			buf_printf(b, "%s%s", i ? " and " : "", q->qualifications[i]);
	}
	if (b->len == 0)
		buf_puts(b, "anyone");
}

/* 1 when id meets q at `now`; otherwise 0 and `why` says what is missing. */
static int
req_ok(const policy_identity *id, const policy_approver_req *q, time_t now, buf *why)
{
	size_t i;
	int clr;

	if (q->roles && !(id->roles & q->roles)) {
		unsigned bit;
		int n = 0;
		if (why) {
			buf_printf(why, "%s does not hold the role ", id->name);
			for (bit = 1; bit <= POLICY_ROLE_ADMIN; bit <<= 1)
				if (q->roles & bit)
					buf_printf(why, "%s%s", n++ ? " or " : "",
					           policy_role_name(bit));
		}
		return 0;
	}
	if (q->ncitizenship) {
		for (i = 0; i < q->ncitizenship; i++)
			if (has_str(id->citizenship, id->ncitizenship, q->citizenship[i]))
				break;
		if (i == q->ncitizenship) {
			if (why) {
				buf_printf(why, "%s is not a citizen of ", id->name);
				for (i = 0; i < q->ncitizenship; i++)
					buf_printf(why, "%s%s", i ? " or " : "", q->citizenship[i]);
			}
			return 0;
		}
	}
	clr = policy_identity_clearance(id, now);
	if (clr < q->min_clearance) {
		if (why) {
			buf_printf(why, "%s's clearance is %s", id->name,
			           policy_clearance_name(clr));
			if (clr != id->clearance)
				buf_printf(why, " (screening expired; %s as written)",
				           policy_clearance_name(id->clearance));
			buf_printf(why, ", below the required %s",
			           policy_clearance_name(q->min_clearance));
		}
		return 0;
	}
	for (i = 0; i < q->nqualifications; i++)
		if (!has_str(id->qualifications, id->nqualifications, q->qualifications[i])) {
			if (why)
				buf_printf(why, "%s is not qualified for %s", id->name,
				           q->qualifications[i]);
			return 0;
		}
	return 1;
}

/* Kuhn's augmenting path; slots and members are few (<= 16). */
static int
augment(int s, const unsigned adj[], int owner[], unsigned *seen)
{
	int j;

	for (j = 0; j < POLICY_MAX_APPROVERS; j++) {
		if (!(adj[s] & (1u << j)) || (*seen & (1u << j)))
			continue;
		*seen |= 1u << j;
		if (owner[j] < 0 || augment(owner[j], adj, owner, seen)) {
			owner[j] = s;
			return 1;
		}
	}
	return 0;
}

/* 1 when every slot can be given its own member of `mask`. */
static int
slots_fillable(const unsigned adj_all[], size_t nslots, unsigned mask)
{
	unsigned adj[POLICY_MAX_APPROVERS];
	int owner[POLICY_MAX_APPROVERS];
	size_t s;

	for (s = 0; s < POLICY_MAX_APPROVERS; s++)
		owner[s] = -1;
	for (s = 0; s < nslots; s++)
		adj[s] = adj_all[s] & mask;
	for (s = 0; s < nslots; s++) {
		unsigned seen = 0;
		/* the recursion depth is at most the number of slots (<= 16) */
		if (!augment((int)s, adj, owner, &seen))
			return 0;
	}
	return 1;
}

static int
orgs_distinct(const policy_identity *const *ids, unsigned mask, const policy_identity *req)
{
	size_t i, j;

	for (i = 0; i < POLICY_MAX_APPROVERS; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (req && req->organization &&
		    strcmp(req->organization, ids[i]->organization) == 0)
			return 0;
		for (j = i + 1; j < POLICY_MAX_APPROVERS; j++)
			if ((mask & (1u << j)) &&
			    strcmp(ids[i]->organization, ids[j]->organization) == 0)
				return 0;
	}
	return 1;
}

static int
popcount(unsigned x)
{
	int n = 0;

	for (; x; x &= x - 1)
		n++;
	return n;
}

int
policy_quorum(const policy *p, const policy_decision *d, const char *requester,
              const char *const *approvers, size_t napprovers, time_t now, int *met, buf *why)
{
	const policy_identity *ids[POLICY_MAX_APPROVERS];
	const policy_identity *req;
	unsigned adj[POLICY_MAX_APPROVERS];
	unsigned mask, full, best_slots = 0;
	size_t i, j, s;
	int found = 0, org_blocked = 0;

	if (met)
		*met = 0;
	if (p == NULL || d == NULL || met == NULL || requester == NULL ||
	    (napprovers && approvers == NULL))
		return ESC_EINVAL;
	if (d->effect != POLICY_NEEDS_APPROVAL || d->quorum == 0 ||
	    d->quorum > POLICY_MAX_APPROVERS || d->nslots > d->quorum) {
		if (why)
			buf_puts(why, "the decision does not call for approvals");
		return ESC_EINVAL;
	}
	if (napprovers > POLICY_MAX_APPROVERS) {
		if (why)
			buf_printf(why, "at most %d approvers are supported", POLICY_MAX_APPROVERS);
		return ESC_EINVAL;
	}
	req = policy_identity_find(p, requester);
	for (i = 0; i < napprovers; i++) {
		const char *a = approvers[i];
		if (a == NULL)
			return ESC_EINVAL;
		if (strcmp(a, requester) == 0) {
			if (why) {
				put_name(why, a);
				buf_puts(why, " requested this and cannot approve it");
			}
			return POLICY_EREFUSED;
		}
		for (j = 0; j < i; j++)
			if (strcmp(approvers[j], a) == 0) {
				if (why) {
					put_name(why, a);
					buf_puts(why, " has already approved this");
				}
				return POLICY_EREFUSED;
			}
		if ((ids[i] = policy_identity_find(p, a)) == NULL) {
			if (why) {
				put_name(why, a);
				buf_puts(why, " is not an identity in the current policy");
			}
			return POLICY_EREFUSED;
		}
		for (j = 0; j < d->neach; j++)
			if (!req_ok(ids[i], &d->each[j], now, why)) {
				if (why)
					buf_printf(why, " (rule %s)",
					           d->each[j].rule ? d->each[j].rule : "?");
				return POLICY_EREFUSED;
			}
		if (d->distinct_organization) {
			if (ids[i]->organization == NULL) {
				if (why)
					buf_printf(
					    why,
					    "%s has no organization, and approvers must come "
					    "from distinct organizations",
					    a);
				return POLICY_EREFUSED;
			}
			if (req && req->organization &&
			    strcmp(req->organization, ids[i]->organization) == 0) {
				if (why)
					buf_printf(why,
					           "%s is in the requester's organization (%s)", a,
					           req->organization);
				return POLICY_EREFUSED;
			}
		}
	}
	for (s = 0; s < d->nslots; s++) {
		adj[s] = 0;
		for (i = 0; i < napprovers; i++)
			if (req_ok(ids[i], &d->slots[s], now, NULL))
				adj[s] |= 1u << i;
	}
	full = napprovers ? (unsigned)((1ul << napprovers) - 1) : 0;
	if (napprovers >= d->quorum) {
		/* any superset of a valid set is unnecessary: look at sets of exactly quorum */
		for (mask = 0; mask <= full && !found; mask++) {
			if (popcount(mask) != (int)d->quorum)
				continue;
			if (!slots_fillable(adj, d->nslots, mask))
				continue;
			best_slots = 1;
			if (d->distinct_organization && !orgs_distinct(ids, mask, req)) {
				org_blocked = 1;
				continue;
			}
			found = 1;
		}
	}
	if (found) {
		*met = 1;
		return 0;
	}
	if (why) {
		if (napprovers < d->quorum)
			buf_printf(why, "%zu of %u approvals", napprovers, d->quorum);
		else
			buf_printf(why, "%zu approvals, but", napprovers);
		for (s = 0; s < d->nslots; s++)
			if (adj[s] == 0) {
				buf_printf(why, "%s still needed: an approver with ",
				           napprovers < d->quorum ? ";" : "");
				describe_req(&d->slots[s], why);
				break;
			}
		if (s == d->nslots && napprovers >= d->quorum) {
			if (!best_slots)
				buf_puts(why, " the required approver kinds need different people");
			else if (org_blocked)
				buf_puts(why, " they must come from distinct organizations");
		}
	}
	return 0;
}

/* ---- rendering ---- */

int
policy_decision_render(const policy_decision *d, buf *out)
{
	size_t i;

	buf_printf(out, "decision: %s\n", policy_effect_name(d->effect));
	if (d->effect == POLICY_NEEDS_APPROVAL) {
		buf_printf(out, "approvals: %u distinct approver%s, none of them the requester\n",
		           d->quorum, d->quorum == 1 ? "" : "s");
		for (i = 0; i < d->neach; i++) {
			buf_puts(out, "  every approver: ");
			describe_req(&d->each[i], out);
			buf_printf(out, " (rule %s)\n", d->each[i].rule ? d->each[i].rule : "?");
		}
		for (i = 0; i < d->nslots; i++) {
			buf_puts(out, "  at least one: ");
			describe_req(&d->slots[i], out);
			buf_printf(out, " (rule %s)\n", d->slots[i].rule ? d->slots[i].rule : "?");
		}
		if (d->distinct_organization)
			buf_puts(out, "  approvers and requester from distinct organizations\n");
		buf_printf(out, "approval lifetime: %lds\n", d->approval_lifetime);
	}
	if (d->output_max_bytes || d->redact_operator || d->redact_secrets)
		buf_printf(out, "output: max %ld bytes%s%s\n", d->output_max_bytes,
		           d->redact_operator ? ", redacted for the operator" : "",
		           d->redact_secrets ? ", secrets masked" : "");
	buf_puts(out, "reasons:\n");
	for (i = 0; i < d->nreasons; i++) {
		const policy_reason *r = &d->reasons[i];
		if (r->file && r->line)
			buf_printf(out, "  %s (%s:%u): %s\n", r->rule, r->file, r->line, r->text);
		else
			buf_printf(out, "  %s: %s\n", r->rule, r->text);
	}
	return 0;
}

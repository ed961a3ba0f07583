/* json.c — a policy decision to and from JSON, so the workflow can store the decision
 * with a request and `escort policy explain --json` can print it. from_json is strict:
 * a stored decision that does not parse back exactly is rejected, never half-used. */
#include "policy/policy_int.h"
#include "util/err.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string even for bytes that are not UTF-8 (names from a request may be anything):
 * such bytes become '?', so a decision can always be stored. */
static json_t *
jstr(const char *s)
{
	json_t *j;
	char *t;
	size_t i;

	if ((j = json_string(s)) != NULL || s == NULL)
		return j;
	if ((t = strdup(s)) == NULL)
		return NULL;
	for (i = 0; t[i]; i++)
		if ((unsigned char)t[i] >= 0x80)
			t[i] = '?';
	j = json_string(t);
	free(t);
	return j;
}

static json_t *
nullable(const char *s)
{
	return s ? jstr(s) : json_null();
}

static json_t *
strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++)
		if (json_array_append_new(a, jstr(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *
req_json(const policy_approver_req *q)
{
	json_t *o = json_object(), *roles = json_array();
	unsigned bit;

	if (o == NULL || roles == NULL)
		goto fail;
	for (bit = 1; bit <= POLICY_ROLE_ADMIN; bit <<= 1)
		if ((q->roles & bit) &&
		    json_array_append_new(roles, json_string(policy_role_name(bit))))
			goto fail;
	if (json_object_set_new(o, "roles", roles) != 0)
		goto fail_o;
	if (json_object_set_new(o, "citizenship", strv_json(q->citizenship, q->ncitizenship)) ||
	    json_object_set_new(o, "min_clearance",
	                        json_string(policy_clearance_name(q->min_clearance))) ||
	    json_object_set_new(o, "qualifications",
	                        strv_json(q->qualifications, q->nqualifications)) ||
	    json_object_set_new(o, "rule", nullable(q->rule)) ||
	    json_object_set_new(o, "line", json_integer(q->line)))
		goto fail_o;
	return o;
fail:
	json_decref(roles);
fail_o:
	json_decref(o);
	return NULL;
}

static json_t *
reqs_json(const policy_approver_req *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++)
		if (json_array_append_new(a, req_json(&v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int
policy_decision_json(const policy_decision *d, buf *out)
{
	json_t *o = json_object(), *reasons = json_array(), *output = json_object();
	char *s = NULL;
	size_t i;
	int rc = ESC_ENOMEM;

	if (o == NULL || reasons == NULL || output == NULL) {
		json_decref(reasons);
		json_decref(output);
		goto out;
	}
	/* o owns both from here on; we keep borrowed pointers to fill them */
	if (json_object_set_new(o, "effect", json_string(policy_effect_name(d->effect))) ||
	    json_object_set_new(o, "policy_version", nullable(d->policy_version)) ||
	    json_object_set_new(o, "operator", nullable(d->operator_name)) ||
	    json_object_set_new(o, "target", nullable(d->target)) ||
	    json_object_set_new(o, "platform", nullable(d->platform)) ||
	    json_object_set_new(o, "quorum", json_integer(d->quorum)) ||
	    json_object_set_new(o, "each", reqs_json(d->each, d->neach)) ||
	    json_object_set_new(o, "at_least_one", reqs_json(d->slots, d->nslots)) ||
	    json_object_set_new(o, "distinct_organization",
	                        json_boolean(d->distinct_organization)) ||
	    json_object_set_new(o, "approval_lifetime", json_integer(d->approval_lifetime))) {
		json_decref(reasons);
		json_decref(output);
		goto out;
	}
	if (json_object_set_new(o, "output", output) != 0) {
		json_decref(reasons);
		goto out;
	}
	if (json_object_set_new(o, "reasons", reasons) != 0)
		goto out;
	if (json_object_set_new(output, "max_bytes", json_integer(d->output_max_bytes)) ||
	    json_object_set_new(output, "redact_operator", json_boolean(d->redact_operator)) ||
	    json_object_set_new(output, "redact_secrets", json_boolean(d->redact_secrets)))
		goto out;
	for (i = 0; i < d->nreasons; i++) {
		const policy_reason *r = &d->reasons[i];
		json_t *ro = json_pack(
		    "{s:o, s:o, s:I, s:o, s:o}", "rule", nullable(r->rule), "file",
		    nullable(r->file), "line", (json_int_t)r->line, "effect",
		    json_string(r->effect >= 0 ? policy_effect_name(r->effect) : "limits"), "text",
		    nullable(r->text));
		if (ro == NULL || json_array_append_new(reasons, ro) != 0)
			goto out;
	}
	if ((s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto out;
	rc = buf_puts(out, s);
out:
	free(s);
	json_decref(o);
	return rc;
}

/* ---- parsing back ---- */

static int
opt_str(json_t *o, const char *key, char **out)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return ESC_EPARSE;
	if ((*out = strdup(json_string_value(v))) == NULL)
		return ESC_ENOMEM;
	return 0;
}

static int
strv_from(json_t *a, char ***out, size_t *n)
{
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(a))
		return ESC_EPARSE;
	if (json_array_size(a) == 0)
		return 0;
	if (json_array_size(a) > 1024)
		return ESC_EPARSE;
	if ((*out = calloc(json_array_size(a), sizeof(**out))) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < json_array_size(a); i++) {
		json_t *s = json_array_get(a, i);
		if (!json_is_string(s))
			return ESC_EPARSE;
		if (((*out)[i] = strdup(json_string_value(s))) == NULL)
			return ESC_ENOMEM;
		*n = i + 1;
	}
	return 0;
}

static int
req_from(json_t *o, policy_approver_req *q)
{
	json_t *roles = json_object_get(o, "roles"), *clr = json_object_get(o, "min_clearance"),
	       *line = json_object_get(o, "line");
	size_t i;
	int r;

	if (!json_is_object(o) || !json_is_array(roles) || !json_is_string(clr))
		return ESC_EPARSE;
	for (i = 0; i < json_array_size(roles); i++) {
		json_t *s = json_array_get(roles, i);
		unsigned b = json_is_string(s) ? policy_role_parse(json_string_value(s)) : 0;
		if (b == 0)
			return ESC_EPARSE;
		q->roles |= b;
	}
	if ((q->min_clearance = policy_clearance_parse(json_string_value(clr))) < 0) {
		q->min_clearance = 0;
		return ESC_EPARSE;
	}
	if ((r = strv_from(json_object_get(o, "citizenship"), &q->citizenship, &q->ncitizenship)) !=
	        0 ||
	    (r = strv_from(json_object_get(o, "qualifications"), &q->qualifications,
	                   &q->nqualifications)) != 0 ||
	    (r = opt_str(o, "rule", &q->rule)) != 0)
		return r;
	if (line && json_is_integer(line) && json_integer_value(line) >= 0 &&
	    json_integer_value(line) <= 0xffffffffLL)
		q->line = (unsigned)json_integer_value(line);
	return 0;
}

static int
reqs_from(json_t *a, policy_approver_req **out, size_t *n)
{
	size_t i;
	int r;

	if (!json_is_array(a) || json_array_size(a) > POLICY_MAX_APPROVERS * 4)
		return ESC_EPARSE;
	if (json_array_size(a) == 0)
		return 0;
	if ((*out = calloc(json_array_size(a), sizeof(**out))) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < json_array_size(a); i++) {
		*n = i + 1; /* so a partial entry is freed too */
		if ((r = req_from(json_array_get(a, i), &(*out)[i])) != 0)
			return r;
	}
	return 0;
}

static int
effect_parse(const char *s)
{
	int e;

	for (e = POLICY_DENY; e <= POLICY_NEEDS_APPROVAL; e++)
		if (strcmp(s, policy_effect_name(e)) == 0)
			return e;
	return -2;
}

int
policy_decision_from_json(const char *js, size_t len, policy_decision *d)
{
	json_t *o = NULL, *v, *reasons, *output;
	json_error_t jerr;
	size_t i;
	int rc = ESC_EPARSE;

	if (d == NULL)
		return ESC_EINVAL;
	memset(d, 0, sizeof(*d));
	d->effect = POLICY_DENY;
	if (js == NULL)
		return ESC_EINVAL;
	if ((o = json_loadb(js, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL || !json_is_object(o))
		goto out;
	v = json_object_get(o, "effect");
	if (!json_is_string(v) || (d->effect = effect_parse(json_string_value(v))) < 0)
		goto out;
	if ((rc = opt_str(o, "policy_version", &d->policy_version)) != 0 ||
	    (rc = opt_str(o, "operator", &d->operator_name)) != 0 ||
	    (rc = opt_str(o, "target", &d->target)) != 0 ||
	    (rc = opt_str(o, "platform", &d->platform)) != 0)
		goto out;
	rc = ESC_EPARSE;
	v = json_object_get(o, "quorum");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > POLICY_MAX_APPROVERS)
		goto out;
	d->quorum = (unsigned)json_integer_value(v);
	if ((rc = reqs_from(json_object_get(o, "each"), &d->each, &d->neach)) != 0 ||
	    (rc = reqs_from(json_object_get(o, "at_least_one"), &d->slots, &d->nslots)) != 0)
		goto out;
	rc = ESC_EPARSE;
	if (d->nslots > d->quorum)
		goto out;
	if (d->effect == POLICY_NEEDS_APPROVAL && d->quorum == 0)
		goto out;
	v = json_object_get(o, "distinct_organization");
	if (!json_is_boolean(v))
		goto out;
	d->distinct_organization = json_is_true(v);
	v = json_object_get(o, "approval_lifetime");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 100LL * 365 * 86400)
		goto out;
	d->approval_lifetime = (long)json_integer_value(v);
	output = json_object_get(o, "output");
	if (!json_is_object(output))
		goto out;
	v = json_object_get(output, "max_bytes");
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1LL << 40))
		goto out;
	d->output_max_bytes = (long)json_integer_value(v);
	v = json_object_get(output, "redact_operator");
	if (!json_is_boolean(v))
		goto out;
	d->redact_operator = json_is_true(v);
	v = json_object_get(output, "redact_secrets");
	if (!json_is_boolean(v))
		goto out;
	d->redact_secrets = json_is_true(v);
	reasons = json_object_get(o, "reasons");
	if (!json_is_array(reasons) || json_array_size(reasons) > 1000000)
		goto out;
	if (json_array_size(reasons) &&
	    (d->reasons = calloc(json_array_size(reasons), sizeof(*d->reasons))) == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	d->reasons_cap = json_array_size(reasons);
	for (i = 0; i < json_array_size(reasons); i++) {
		json_t *r = json_array_get(reasons, i), *line, *eff;
		policy_reason *pr = &d->reasons[i];
		d->nreasons = i + 1;
		if (!json_is_object(r))
			goto out;
		line = json_object_get(r, "line");
		eff = json_object_get(r, "effect");
		if (!json_is_integer(line) || json_integer_value(line) < 0 ||
		    json_integer_value(line) > 0xffffffffLL || !json_is_string(eff))
			goto out;
		pr->line = (unsigned)json_integer_value(line);
		if (strcmp(json_string_value(eff), "limits") == 0)
			pr->effect = -1;
		else if ((pr->effect = effect_parse(json_string_value(eff))) < 0)
			goto out;
		if ((rc = opt_str(r, "rule", &pr->rule)) != 0 ||
		    (rc = opt_str(r, "file", &pr->file)) != 0 ||
		    (rc = opt_str(r, "text", &pr->text)) != 0)
			goto out;
		rc = ESC_EPARSE;
		if (pr->rule == NULL || pr->text == NULL)
			goto out;
	}
	rc = 0;
out:
	json_decref(o);
	if (rc != 0)
		policy_decision_free(d); /* leaves effect = DENY (0) */
	return rc;
}

/* json.c — a policy decision to and from JSON, so the workflow can store the decision
 * with a request and `escort policy explain --json` can print it. from_json is strict:
 * a stored decision that does not parse back exactly is rejected, never half-used. */
#include "policy/policy_int.h"
#include "util/err.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The decision is written straight into out: it is built for every request created (and
 * stored with it), and going through jansson objects was the largest policy item of
 * escortd's writer thread. The text is what jansson's json_dumps(JSON_COMPACT) gives. */

static int
utf8_valid_str(const unsigned char *s)
{
	size_t len, i;
	unsigned c, v, min;

	while ((c = *s) != 0) {
		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			len = 2, v = c & 0x1F, min = 0x80;
		else if (c >= 0xE0 && c <= 0xEF)
			len = 3, v = c & 0x0F, min = 0x800;
		else if (c >= 0xF0 && c <= 0xF4)
			len = 4, v = c & 0x07, min = 0x10000;
		else
			return 0;
		for (i = 1; i < len; i++) {
			if ((s[i] & 0xC0) != 0x80)
				return 0;
			v = (v << 6) | (s[i] & 0x3F);
		}
		if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
			return 0;
		s += len;
	}
	return 1;
}

/* A JSON string, or null for NULL. Text that is not UTF-8 (names from a request may be
 * anything) has each byte >= 0x80 written as '?', so a decision can always be stored. */
static int
jw_str(buf *b, const char *str)
{
	static const char hx[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str;
	int rc, ok;
	size_t run;

	if (str == NULL)
		return buf_puts(b, "null");
	ok = utf8_valid_str(s);
	if ((rc = buf_putc(b, '"')) != 0)
		return rc;
	while (*s) {
		for (run = 0; s[run] >= 0x20 && s[run] != '"' && s[run] != '\\' &&
		              (ok || s[run] < 0x80);
		     run++)
			;
		if (run && (rc = buf_put(b, s, run)) != 0)
			return rc;
		s += run;
		if (*s == 0)
			break;
		switch (*s) {
		case '"': rc = buf_put(b, "\\\"", 2); break;
		case '\\': rc = buf_put(b, "\\\\", 2); break;
		case '\b': rc = buf_put(b, "\\b", 2); break;
		case '\f': rc = buf_put(b, "\\f", 2); break;
		case '\n': rc = buf_put(b, "\\n", 2); break;
		case '\r': rc = buf_put(b, "\\r", 2); break;
		case '\t': rc = buf_put(b, "\\t", 2); break;
		default:
			if (*s >= 0x80) { /* not UTF-8: '?' */
				rc = buf_putc(b, '?');
			} else {
				char e[6] = { '\\', 'u', '0', '0', hx[*s >> 4], hx[*s & 15] };

				rc = buf_put(b, e, sizeof(e));
			}
		}
		if (rc)
			return rc;
		s++;
	}
	return buf_putc(b, '"');
}

static int
jw_strv(buf *b, char *const *v, size_t n)
{
	size_t i;
	int rc = buf_putc(b, '[');

	for (i = 0; rc == 0 && i < n; i++)
		if ((i && (rc = buf_putc(b, ',')) != 0) || (rc = jw_str(b, v[i])) != 0)
			break;
	return rc ? rc : buf_putc(b, ']');
}

static int
jw_reqs(buf *b, const policy_approver_req *v, size_t n)
{
	const char *clear;
	unsigned bit;
	size_t i;
	int rc = buf_putc(b, '['), first;

	for (i = 0; rc == 0 && i < n; i++) {
		const policy_approver_req *q = &v[i];

		if ((rc = buf_puts(b, i ? ",{\"roles\":[" : "{\"roles\":[")) != 0)
			break;
		first = 1;
		for (bit = 1; rc == 0 && bit <= POLICY_ROLE_ADMIN; bit <<= 1)
			if (q->roles & bit) {
				if (!first)
					rc = buf_putc(b, ',');
				if (rc == 0)
					rc = jw_str(b, policy_role_name(bit));
				first = 0;
			}
		if (rc || (rc = buf_puts(b, "],\"citizenship\":")) ||
		    (rc = jw_strv(b, q->citizenship, q->ncitizenship)))
			break;
		if ((clear = policy_clearance_name(q->min_clearance)) == NULL)
			return ESC_ENOMEM; /* as jansson refused a NULL string */
		if ((rc = buf_puts(b, ",\"min_clearance\":")) || (rc = jw_str(b, clear)) ||
		    (rc = buf_puts(b, ",\"qualifications\":")) ||
		    (rc = jw_strv(b, q->qualifications, q->nqualifications)) ||
		    (rc = buf_puts(b, ",\"rule\":")) || (rc = jw_str(b, q->rule)) ||
		    (rc = buf_printf(b, ",\"line\":%u}", q->line)))
			break;
	}
	return rc ? rc : buf_putc(b, ']');
}

int
policy_decision_json(const policy_decision *d, buf *out)
{
	size_t i, start = out->len;
	int rc;

	if ((rc = buf_puts(out, "{\"effect\":")) ||
	    (rc = jw_str(out, policy_effect_name(d->effect))) ||
	    (rc = buf_puts(out, ",\"policy_version\":")) || (rc = jw_str(out, d->policy_version)) ||
	    (rc = buf_puts(out, ",\"operator\":")) || (rc = jw_str(out, d->operator_name)) ||
	    (rc = buf_puts(out, ",\"target\":")) || (rc = jw_str(out, d->target)) ||
	    (rc = buf_puts(out, ",\"platform\":")) || (rc = jw_str(out, d->platform)) ||
	    (rc = buf_printf(out, ",\"quorum\":%u,\"each\":", d->quorum)) ||
	    (rc = jw_reqs(out, d->each, d->neach)) || (rc = buf_puts(out, ",\"at_least_one\":")) ||
	    (rc = jw_reqs(out, d->slots, d->nslots)) ||
	    (rc = buf_printf(out, ",\"distinct_organization\":%s,\"approval_lifetime\":%ld,"
	                     "\"output\":{\"max_bytes\":%ld,\"redact_operator\":%s,"
	                     "\"redact_secrets\":%s},\"reasons\":[",
	                     d->distinct_organization ? "true" : "false", d->approval_lifetime,
	                     d->output_max_bytes, d->redact_operator ? "true" : "false",
	                     d->redact_secrets ? "true" : "false")))
		goto out;
	for (i = 0; i < d->nreasons; i++) {
		const policy_reason *r = &d->reasons[i];

		if ((rc = buf_puts(out, i ? ",{\"rule\":" : "{\"rule\":")) ||
		    (rc = jw_str(out, r->rule)) || (rc = buf_puts(out, ",\"file\":")) ||
		    (rc = jw_str(out, r->file)) ||
		    (rc = buf_printf(out, ",\"line\":%u,\"effect\":", r->line)) ||
		    (rc = jw_str(out, r->effect >= 0 ? policy_effect_name(r->effect) : "limits")) ||
		    (rc = buf_puts(out, ",\"text\":")) || (rc = jw_str(out, r->text)) ||
		    (rc = buf_putc(out, '}')))
			goto out;
	}
	rc = buf_puts(out, "]}");
out:
	if (rc)
		buf_truncate(out, start); /* nothing half-written */
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

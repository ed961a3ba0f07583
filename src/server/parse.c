/* parse.c — turns untrusted request bodies and query strings into typed, checked structs
 * for escortd. Every refusal names the field at fault; nothing here allocates beyond the
 * body size, recurses, or trusts a length it did not check. */
#include "server/parse.h"

#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/event.h"
#include "util/err.h"
#include "workflow/workflow.h"

#define STR_MAX 4096 /* ticket, justification, comment, identity, target */

int
srv_fail(srv_err *e, int status, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return status == 413 ? ESC_ETOOBIG : ESC_EPARSE;
}

int
srv_utf8_ok(const unsigned char *p, size_t n)
{
	size_t i = 0, k, len;
	uint32_t c;

	while (i < n) {
		unsigned char b = p[i];

		if (b == 0)
			return 0;
		if (b < 0x80) {
			i++;
			continue;
		}
		len = (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 0;
		if (len == 0 || i + len > n)
			return 0;
		c = len == 2 ? (b & 0x1fu) : len == 3 ? (b & 0x0fu) : (b & 0x07u);
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (p[i + k] & 0x3fu);
		}
		if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
		    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

int64_t
srv_parse_id(const char *s, size_t n)
{
	int64_t v = 0;
	size_t i;

	if (n == 0 || n > 18 || s[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* ---- JSON bodies ---- */

/* Depth of nesting without recursion: an explicit count over the bytes, so a deep body is
 * refused before jansson builds it. Strings are skipped so brackets inside them do not
 * count. */
static int
depth_ok(const char *p, size_t n, int max)
{
	int d = 0, in_str = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++d > max)
				return 0;
		} else if (c == '}' || c == ']') {
			d--;
		}
	}
	return 1;
}

static int
load_object(const char *body, size_t len, json_t **out, srv_err *e)
{
	json_error_t je;
	json_t *j;

	*out = NULL;
	if (len == 0)
		return srv_fail(e, 400, "bad_request", NULL, "the request body is empty; a JSON object "
		                "is expected");
	if (!depth_ok(body, len, SRV_JSON_DEPTH))
		return srv_fail(e, 400, "bad_request", NULL, "JSON nested deeper than %d levels",
		                SRV_JSON_DEPTH);
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		return srv_fail(e, 400, "bad_request", NULL, "malformed JSON at line %d column %d: %s",
		                je.line, je.column, je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return srv_fail(e, 400, "bad_request", NULL, "the body must be a JSON object");
	}
	*out = j;
	return 0;
}

/* Refuses members not in known (NULL-terminated). */
static int
only_members(json_t *o, const char *const *known, srv_err *e)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(o, k, v) {
		for (i = 0; known[i]; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		(void)v;
		if (known[i] == NULL)
			return srv_fail(e, 400, "bad_request", k, "unknown member '%.64s'", k);
	}
	return 0;
}

/* A string member: absent -> *out NULL (error when required); must be a non-empty UTF-8
 * string without NUL of at most max bytes. jansson has already refused invalid UTF-8 and
 * (without JSON_ALLOW_NUL) \u0000. */
static int
get_str(json_t *o, const char *key, int required, size_t max, const char **out, srv_err *e)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return srv_fail(e, 400, "bad_request", key, "'%s' is required", key);
		return 0;
	}
	if (!json_is_string(v))
		return srv_fail(e, 400, "bad_request", key, "'%s' must be a string", key);
	n = json_string_length(v);
	if (n == 0 && required)
		return srv_fail(e, 400, "bad_request", key, "'%s' must not be empty", key);
	if (n > max)
		return srv_fail(e, 400, "bad_request", key, "'%s' is longer than %zu bytes", key, max);
	if (memchr(json_string_value(v), 0, n) != NULL)
		return srv_fail(e, 400, "bad_request", key, "'%s' contains a NUL byte", key);
	*out = json_string_value(v);
	return 0;
}

/* Decodes base64 (standard alphabet, padding optional) into a fresh allocation. */
static int
b64_decode(const char *s, size_t n, srv_bytes *out)
{
	size_t cap = n / 4 * 3 + 3, got = 0;
	unsigned char *p = malloc(cap + 1);

	out->p = NULL;
	out->n = 0;
	if (p == NULL)
		return ESC_ENOMEM;
	if (sodium_base642bin(p, cap, s, n, NULL, &got, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 &&
	    sodium_base642bin(p, cap, s, n, NULL, &got, NULL,
	                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
		free(p);
		return ESC_EPARSE;
	}
	p[got] = 0;
	out->p = p;
	out->n = got;
	return 0;
}

/* A command: either a string (exact UTF-8 bytes) or base64 of arbitrary bytes. Strings
 * are borrowed from the JSON tree (owned = 0); decoded bytes are owned. */
static int
get_command(json_t *v, int b64, const char *field, srv_bytes *out, int *owned, srv_err *e)
{
	size_t n;
	int rc;

	*owned = 0;
	if (!json_is_string(v))
		return srv_fail(e, 400, "bad_request", field, "'%s' must be a string", field);
	n = json_string_length(v);
	if (b64) {
		if (n > (WF_CMD_MAX / 3 + 1) * 4)
			return srv_fail(e, 413, "too_large", field, "'%s' is longer than %zu bytes",
			                field, WF_CMD_MAX);
		if ((rc = b64_decode(json_string_value(v), n, out)) == ESC_ENOMEM)
			return srv_fail(e, 500, "internal", field, "out of memory");
		if (rc)
			return srv_fail(e, 400, "bad_request", field, "'%s' is not valid base64", field);
		*owned = 1;
	} else {
		out->p = (unsigned char *)(uintptr_t)json_string_value(v);
		out->n = n;
		if (memchr(out->p, 0, n) != NULL)
			return srv_fail(e, 400, "bad_request", field, "'%s' contains a NUL byte; send "
			                "exact bytes in %s_b64", field, field);
	}
	if (out->n == 0 || out->n > WF_CMD_MAX) {
		if (*owned) {
			free(out->p);
			*owned = 0;
		}
		out->p = NULL;
		return out->n == 0
		           ? srv_fail(e, 400, "bad_request", field, "'%s' is empty", field)
		           : srv_fail(e, 413, "too_large", field, "'%s' is longer than %zu bytes",
		                      field, WF_CMD_MAX);
	}
	return 0;
}

void
srv_create_free(srv_create *c)
{
	size_t i;
	json_t *flags;

	if (c == NULL)
		return;
	flags = c->root ? json_object_get(c->root, "\001owned") : NULL;
	for (i = 0; i < c->ncmds; i++)
		if (flags && json_is_true(json_array_get(flags, i)))
			free(c->cmds[i].p);
	json_decref(c->root);
	memset(c, 0, sizeof(*c));
}

int
srv_parse_create(const char *body, size_t len, srv_create *out, srv_err *e)
{
	static const char *const known[] = { "target", "commands", "commands_b64", "ticket",
		                                 "justification", NULL };
	json_t *root = NULL, *arr, *a2, *flags = NULL;
	char field[64];
	size_t i;
	int rc, owned, b64;

	memset(out, 0, sizeof(*out));
	if ((rc = load_object(body, len, &root, e)) != 0)
		return rc;
	if ((rc = only_members(root, known, e)) != 0 ||
	    (rc = get_str(root, "target", 1, 256, &out->target, e)) != 0 ||
	    (rc = get_str(root, "ticket", 0, STR_MAX, &out->ticket, e)) != 0 ||
	    (rc = get_str(root, "justification", 0, STR_MAX, &out->justification, e)) != 0)
		goto fail;
	arr = json_object_get(root, "commands");
	a2 = json_object_get(root, "commands_b64");
	if (arr && a2) {
		rc = srv_fail(e, 400, "bad_request", "commands_b64", "give 'commands' or "
		              "'commands_b64', not both");
		goto fail;
	}
	b64 = arr == NULL;
	if (arr == NULL)
		arr = a2;
	if (arr == NULL) {
		rc = srv_fail(e, 400, "bad_request", "commands", "'commands' is required");
		goto fail;
	}
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > SRV_MAX_COMMANDS) {
		rc = srv_fail(e, 400, "bad_request", b64 ? "commands_b64" : "commands",
		              "'%s' must be an array of 1 to %d commands", b64 ? "commands_b64" : "commands",
		              SRV_MAX_COMMANDS);
		goto fail;
	}
	/* the owned flags live in the tree itself, so freeing needs nothing else */
	if ((flags = json_array()) == NULL || json_object_set_new(root, "\001owned", flags) != 0) {
		rc = srv_fail(e, 500, "internal", NULL, "out of memory");
		goto fail;
	}
	out->root = root;
	for (i = 0; i < json_array_size(arr); i++) {
		snprintf(field, sizeof(field), "%s[%zu]", b64 ? "commands_b64" : "commands", i);
		rc = get_command(json_array_get(arr, i), b64, field, &out->cmds[i], &owned, e);
		if (rc)
			goto fail;
		out->ncmds = i + 1;
		if (json_array_append_new(flags, json_boolean(owned)) != 0) {
			if (owned)
				free(out->cmds[i].p);
			out->ncmds = i;
			rc = srv_fail(e, 500, "internal", NULL, "out of memory");
			goto fail;
		}
	}
	return 0;
fail:
	if (out->root)
		srv_create_free(out);
	else
		json_decref(root);
	memset(out, 0, sizeof(*out));
	return rc;
}

void
srv_json_free(json_t **root)
{
	json_decref(*root);
	*root = NULL;
}

int
srv_parse_action(const char *body, size_t len, srv_action *out, srv_err *e)
{
	static const char *const known[] = { "comment", "totp", NULL };
	json_t *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	/* an empty body is an empty object: cancel and run need no parameters */
	while (len > 0 && (body[len - 1] == ' ' || body[len - 1] == '\n' || body[len - 1] == '\r' ||
	                   body[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 0;
	if ((rc = load_object(body, len, &root, e)) != 0)
		return rc;
	if ((rc = only_members(root, known, e)) != 0 ||
	    (rc = get_str(root, "comment", 0, STR_MAX, &out->comment, e)) != 0 ||
	    (rc = get_str(root, "totp", 0, 16, &out->totp, e)) != 0) {
		json_decref(root);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	if (out->comment && out->comment[0] == 0)
		out->comment = NULL;
	out->root = root;
	return 0;
}

int
srv_parse_login(const char *body, size_t len, srv_login *out, srv_err *e)
{
	static const char *const known[] = { "token", "totp", NULL };
	json_t *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = load_object(body, len, &root, e)) != 0)
		return rc;
	if ((rc = only_members(root, known, e)) != 0 ||
	    (rc = get_str(root, "token", 1, 256, &out->token, e)) != 0 ||
	    (rc = get_str(root, "totp", 0, 16, &out->totp, e)) != 0) {
		json_decref(root);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->root = root;
	return 0;
}

int
srv_parse_analyze(const char *body, size_t len, int explain, srv_analyze *out, srv_err *e)
{
	static const char *const known_a[] = { "command", "command_b64", "shell", NULL };
	static const char *const known_e[] = { "command", "command_b64", "shell", "identity",
		                                   "target", NULL };
	json_t *root = NULL, *c, *c64;
	int rc, owned = 0;

	memset(out, 0, sizeof(*out));
	if ((rc = load_object(body, len, &root, e)) != 0)
		return rc;
	if ((rc = only_members(root, explain ? known_e : known_a, e)) != 0 ||
	    (rc = get_str(root, "shell", 0, 32, &out->shell, e)) != 0)
		goto fail;
	if (explain && ((rc = get_str(root, "identity", 0, 256, &out->identity, e)) != 0 ||
	                (rc = get_str(root, "target", 1, 256, &out->target, e)) != 0))
		goto fail;
	if (out->shell == NULL)
		out->shell = "bash";
	c = json_object_get(root, "command");
	c64 = json_object_get(root, "command_b64");
	if ((c == NULL) == (c64 == NULL)) {
		rc = srv_fail(e, 400, "bad_request", "command", "give exactly one of 'command' and "
		              "'command_b64'");
		goto fail;
	}
	if ((rc = get_command(c ? c : c64, c == NULL, c ? "command" : "command_b64", &out->cmd,
	                      &owned, e)) != 0)
		goto fail;
	if (owned) {
		/* keep decoded bytes alive with the tree: a string copy of them cannot hold
		 * arbitrary bytes, so store them as a JSON string of the base64 we already have
		 * and hand out a pointer into a buffer owned by the tree instead */
		json_t *holder = json_stringn_nocheck((const char *)out->cmd.p, out->cmd.n);

		free(out->cmd.p);
		out->cmd.p = NULL;
		if (holder == NULL || json_object_set_new(root, "\001bytes", holder) != 0) {
			rc = srv_fail(e, 500, "internal", NULL, "out of memory");
			goto fail;
		}
		out->cmd.p = (unsigned char *)(uintptr_t)json_string_value(holder);
	}
	out->root = root;
	return 0;
fail:
	json_decref(root);
	memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- query strings ---- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into a fresh NUL-terminated string; *outlen excludes the NUL. */
static int
pct_decode(const char *s, size_t n, char **out, size_t *outlen)
{
	char *d = malloc(n + 1);
	size_t i, k = 0;
	int h, l;

	*out = NULL;
	if (d == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0) {
				free(d);
				return ESC_EPARSE;
			}
			d[k++] = (char)(h << 4 | l);
			i += 2;
		} else
			d[k++] = s[i] == '+' ? ' ' : s[i];
	}
	d[k] = 0;
	*out = d;
	*outlen = k;
	return 0;
}

int
srv_query_add(srv_query *q, const char *key, const char *val, size_t vlen, srv_err *e)
{
	char *k, *v;

	if (q->n >= SRV_QUERY_MAX)
		return srv_fail(e, 400, "bad_request", NULL, "more than %d query parameters",
		                SRV_QUERY_MAX);
	k = strdup(key);
	v = malloc(vlen + 1);
	if (k == NULL || v == NULL) {
		free(k);
		free(v);
		return srv_fail(e, 500, "internal", NULL, "out of memory");
	}
	if (vlen)
		memcpy(v, val, vlen);
	v[vlen] = 0;
	q->key[q->n] = k;
	q->val[q->n] = v;
	q->vlen[q->n] = vlen;
	q->n++;
	return 0;
}

void
srv_query_free(srv_query *q)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		free(q->key[i]);
		free(q->val[i]);
	}
	memset(q, 0, sizeof(*q));
}

int
srv_query_parse(const char *qs, size_t len, srv_query *q, srv_err *e)
{
	size_t i = 0, j, eq, klen;
	char *k = NULL, *v = NULL;
	size_t vlen = 0;
	int rc;

	memset(q, 0, sizeof(*q));
	while (i < len) {
		for (j = i; j < len && qs[j] != '&'; j++)
			;
		if (j > i) {
			for (eq = i; eq < j && qs[eq] != '='; eq++)
				;
			if ((rc = pct_decode(qs + i, eq - i, &k, &klen)) != 0 ||
			    (rc = pct_decode(qs + (eq < j ? eq + 1 : j), eq < j ? j - eq - 1 : 0, &v,
			                     &vlen)) != 0) {
				free(k);
				k = NULL;
				srv_query_free(q);
				return rc == ESC_ENOMEM
				           ? srv_fail(e, 500, "internal", NULL, "out of memory")
				           : srv_fail(e, 400, "bad_request", NULL, "bad %%-escape in the "
				                      "query string");
			}
			if (klen != strlen(k) || !srv_utf8_ok((const unsigned char *)k, klen)) {
				free(k);
				free(v);
				srv_query_free(q);
				return srv_fail(e, 400, "bad_request", NULL, "a query parameter name is "
				                "not UTF-8 text");
			}
			rc = srv_query_add(q, k, v, vlen, e);
			free(k);
			free(v);
			k = v = NULL;
			if (rc) {
				srv_query_free(q);
				return rc;
			}
		}
		i = j + 1;
	}
	return 0;
}

static int
find(const srv_query *q, const char *key)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (strcmp(q->key[i], key) == 0)
			return (int)i;
	return -1;
}

int
srv_query_str(const srv_query *q, const char *key, const char **out, srv_err *e)
{
	int i = find(q, key);

	if (i < 0)
		return 1;
	if (q->vlen[i] == 0)
		return srv_fail(e, 400, "bad_request", key, "query parameter '%s' is empty", key);
	if (q->vlen[i] > STR_MAX || !srv_utf8_ok((const unsigned char *)q->val[i], q->vlen[i]))
		return srv_fail(e, 400, "bad_request", key, "query parameter '%s' is not UTF-8 text "
		                "(or too long)", key);
	*out = q->val[i];
	return 0;
}

int
srv_query_int(const srv_query *q, const char *key, int64_t lo, int64_t hi, int64_t *out,
              srv_err *e)
{
	const char *s;
	int64_t v = 0;
	size_t k;
	int rc = srv_query_str(q, key, &s, e);

	if (rc)
		return rc;
	for (k = 0; s[k]; k++) {
		if (s[k] < '0' || s[k] > '9' || k >= 18)
			return srv_fail(e, 400, "bad_request", key, "query parameter '%s' must be an "
			                "integer from %lld to %lld", key, (long long)lo, (long long)hi);
		v = v * 10 + (s[k] - '0');
	}
	if (v < lo || v > hi)
		return srv_fail(e, 400, "bad_request", key, "query parameter '%s' must be an integer "
		                "from %lld to %lld", key, (long long)lo, (long long)hi);
	*out = v;
	return 0;
}

int
srv_query_bool(const srv_query *q, const char *key, int *out, srv_err *e)
{
	const char *s;
	int rc = srv_query_str(q, key, &s, e);

	if (rc)
		return rc;
	if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
		*out = 1;
	else if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
		*out = 0;
	else
		return srv_fail(e, 400, "bad_request", key, "query parameter '%s' must be 0 or 1", key);
	return 0;
}

int
srv_query_time(const srv_query *q, const char *key, int64_t *us, srv_err *e)
{
	const char *s;
	char full[40];
	int rc = srv_query_str(q, key, &s, e);

	if (rc)
		return rc;
	if (strlen(s) == 10) {
		snprintf(full, sizeof(full), "%sT00:00:00.000000Z", s);
		s = full;
	} else if (strlen(s) == 20 && s[19] == 'Z') {
		snprintf(full, sizeof(full), "%.19s.000000Z", s);
		s = full;
	}
	if (audit_time_parse(s, us) != 0)
		return srv_fail(e, 400, "bad_request", key, "query parameter '%s' must be a UTC time "
		                "like 2026-11-25T10:00:00Z or a date 2026-11-25", key);
	return 0;
}

int
srv_query_only(const srv_query *q, const char *const *known, srv_err *e)
{
	size_t i, k;

	for (i = 0; i < q->n; i++) {
		for (k = 0; known[k]; k++)
			if (strcmp(q->key[i], known[k]) == 0)
				break;
		if (known[k] == NULL)
			return srv_fail(e, 400, "bad_request", q->key[i], "unknown query parameter "
			                "'%.64s'", q->key[i]);
	}
	return 0;
}

int
srv_list_params_get(const srv_query *q, srv_list_params *p, srv_err *e)
{
	static const char *const known[] = { "state", "mine", "limit", NULL };
	int rc;

	memset(p, 0, sizeof(*p));
	p->limit = 100;
	if ((rc = srv_query_only(q, known, e)) != 0)
		return rc;
	if ((rc = srv_query_str(q, "state", &p->state, e)) < 0)
		return rc;
	if (p->state && wf_state_parse(p->state) < 0)
		return srv_fail(e, 400, "bad_request", "state", "unknown state '%.32s'", p->state);
	if ((rc = srv_query_bool(q, "mine", &p->mine, e)) < 0 ||
	    (rc = srv_query_int(q, "limit", 1, 1000, &p->limit, e)) < 0)
		return rc;
	return 0;
}

int
srv_search_params_get(const srv_query *q, srv_search_params *p, srv_err *e)
{
	static const char *const known[] = { "since", "until", "actor", "type", "text", "request",
		                                 "limit", NULL };
	int rc;

	memset(p, 0, sizeof(*p));
	p->limit = 1000;
	if ((rc = srv_query_only(q, known, e)) != 0)
		return rc;
	if ((rc = srv_query_time(q, "since", &p->since_us, e)) < 0 ||
	    (rc = srv_query_time(q, "until", &p->until_us, e)) < 0 ||
	    (rc = srv_query_str(q, "actor", &p->actor, e)) < 0 ||
	    (rc = srv_query_str(q, "type", &p->type, e)) < 0 ||
	    (rc = srv_query_str(q, "text", &p->text, e)) < 0 ||
	    (rc = srv_query_int(q, "request", 1, INT64_MAX / 2, &p->request, e)) < 0 ||
	    (rc = srv_query_int(q, "limit", 1, 10000, &p->limit, e)) < 0)
		return rc;
	if (p->since_us && p->until_us && p->since_us > p->until_us)
		return srv_fail(e, 400, "bad_request", "until", "'until' is before 'since'");
	return 0;
}

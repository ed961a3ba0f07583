/* api.c — escortd's JSON endpoints for requests, approvals, runs, analysis, policy and
 * the caller's identity (docs/api.md). Each one parses with parse.c, acts through the
 * workflow as the authenticated identity and renders the result; nothing here decides
 * what is allowed beyond the console's extra approval rules (comment, fresh TOTP). */
#include "server/srv_int.h"
#include "server/api_sudo.h"
#include "server/api_session.h"
#include "server/api_presence.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/event.h"
#include "lockbox/lockbox.h"
#include "util/err.h"

/* ---- rendering ---- */

static json_t *
json_text_or_null(const char *s)
{
	json_error_t je;
	json_t *j = s ? json_loads(s, 0, &je) : NULL;

	return j ? j : json_null();
}

static json_t *
b64_json(const unsigned char *p, size_t n)
{
	size_t blen = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
	char *b = malloc(blen);
	json_t *j;

	if (b == NULL)
		return NULL;
	sodium_bin2base64(b, blen, p, n, sodium_base64_VARIANT_ORIGINAL);
	j = json_string(b);
	free(b);
	return j;
}

static void
hex32(const unsigned char *h, char *out)
{
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[64] = 0;
}

int
api_request_risk(const store_request *r)
{
	size_t i;
	int risk = -1, v;

	for (i = 0; i < r->ncmds; i++) {
		json_error_t je;
		json_t *a = r->cmds[i].analysis ? json_loads(r->cmds[i].analysis, 0, &je) : NULL;
		const char *s = a ? json_string_value(json_object_get(a, "risk")) : NULL;

		if (s && (v = policy_risk_parse(s)) > risk)
			risk = v;
		json_decref(a);
	}
	return risk;
}

static int
sees_all(const policy_identity *id)
{
	return policy_identity_has_role(id, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER |
	                                        POLICY_ROLE_AUDITOR | POLICY_ROLE_ADMIN);
}

static json_t *
risk_json(int risk)
{
	return risk < 0 ? json_null() : json_string(policy_risk_name(risk));
}

static json_t *
summary_json(const store_request *r, int64_t now_us)
{
	int64_t waiting = 0;

	if (strcmp(r->state, "pending") == 0 || strcmp(r->state, "approved") == 0)
		waiting = (now_us - r->created_us) / 1000000;
	return json_pack("{s:I, s:s, s:s, s:s?, s:s, s:o, s:o, s:o, s:I, s:I}", "id",
	                 (json_int_t)r->id, "requester", r->requester, "target", r->target,
	                 "ticket", r->ticket, "state", r->state, "risk",
	                 risk_json(api_request_risk(r)), "created", srv_time_json(r->created_us),
	                 "updated", srv_time_json(r->updated_us), "waiting_s",
	                 (json_int_t)(waiting > 0 ? waiting : 0), "commands",
	                 (json_int_t)r->ncmds);
}

static json_t *
request_json(srv_call *k, const store_request *r, const store_approval *apv, size_t napv)
{
	json_t *o = json_object(), *cmds = json_array(), *ap = json_array(), *x;
	unsigned char h[STORE_HASH_LEN], cur[STORE_HASH_LEN];
	char hex[65];
	buf needs = BUF_INIT;
	size_t i;
	int have, mine, pending, approver;

	if (o == NULL || cmds == NULL || ap == NULL) {
		json_decref(o);
		json_decref(cmds);
		json_decref(ap);
		return NULL;
	}
	json_object_set_new(o, "id", json_integer(r->id));
	json_object_set_new(o, "requester", json_string(r->requester));
	json_object_set_new(o, "target", json_string(r->target));
	json_object_set_new(o, "ticket", r->ticket ? json_string(r->ticket) : json_null());
	json_object_set_new(o, "justification",
	                    r->justification ? json_string(r->justification) : json_null());
	json_object_set_new(o, "state", json_string(r->state));
	json_object_set_new(o, "risk", risk_json(api_request_risk(r)));
	json_object_set_new(o, "created", srv_time_json(r->created_us));
	json_object_set_new(o, "updated", srv_time_json(r->updated_us));
	json_object_set_new(o, "expires", srv_time_json(r->expires_us));
	json_object_set_new(o, "policy_version", json_string(r->policy_version));
	for (i = 0; i < r->ncmds; i++) {
		const store_command *c = &r->cmds[i];

		x = json_object();
		json_object_set_new(x, "index", json_integer((json_int_t)i));
		json_object_set_new(x, "text", srv_utf8_ok(c->bytes, c->len)
		                                   ? json_stringn((const char *)c->bytes, c->len)
		                                   : json_null());
		json_object_set_new(x, "text_b64", b64_json(c->bytes, c->len));
		json_object_set_new(x, "bytes", json_integer((json_int_t)c->len));
		if (crypto_hash_sha256(h, c->bytes, c->len) == 0) {
			hex32(h, hex);
			json_object_set_new(x, "sha256", json_string(hex));
		}
		json_object_set_new(x, "analysis", json_text_or_null(c->analysis));
		json_array_append_new(cmds, x);
	}
	json_object_set_new(o, "commands", cmds);
	json_object_set_new(o, "decision", json_text_or_null(r->decision));
	have = wf_approval_hash(r->id, r->target, r->policy_version, r->cmds, r->ncmds, cur) == 0;
	for (i = 0; i < napv; i++) {
		x = json_pack("{s:s, s:s, s:s?, s:o, s:o, s:b}", "approver", apv[i].approver, "kind",
		              apv[i].kind == STORE_DENY ? "deny" : "approve", "comment",
		              apv[i].comment, "created", srv_time_json(apv[i].created_us), "expires",
		              srv_time_json(apv[i].expires_us), "matches",
		              have && sodium_memcmp(cur, apv[i].hash, STORE_HASH_LEN) == 0);
		if (x)
			json_array_append_new(ap, x);
	}
	json_object_set_new(o, "approvals", ap);
	pending = strcmp(r->state, "pending") == 0;
	if (pending || strcmp(r->state, "approved") == 0) {
		if (wf_request_needs(k->w, r, apv, napv, &needs) == 0)
			json_object_set_new(o, "needs", json_pack("{s:s}", "text", buf_cstr(&needs)));
	}
	buf_free(&needs);
	mine = strcmp(r->requester, k->who) == 0;
	approver = policy_identity_has_role(k->id, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER);
	for (i = 0; i < napv; i++)
		if (strcmp(apv[i].approver, k->who) == 0)
			approver = 0; /* decided already */
	json_object_set_new(
	    o, "can",
	    json_pack("{s:b, s:b, s:b, s:b}", "approve", pending && approver && !mine, "deny",
	              pending && approver && !mine, "cancel",
	              (pending || strcmp(r->state, "approved") == 0) &&
	                  (mine || policy_identity_has_role(k->id, POLICY_ROLE_ADMIN)),
	              "run", strcmp(r->state, "approved") == 0 &&
	                         (mine || policy_identity_has_role(k->id, POLICY_ROLE_ESCORT))));
	if (r->started_us) {
		x = json_object();
		json_object_set_new(x, "runner", r->runner ? json_string(r->runner) : json_null());
		json_object_set_new(x, "started", srv_time_json(r->started_us));
		json_object_set_new(x, "finished", srv_time_json(r->finished_us));
		json_object_set_new(x, "exit_code",
		                    r->has_exit ? json_integer(r->exit_code) : json_null());
		if (r->output && srv_utf8_ok(r->output, r->output_len))
			json_object_set_new(x, "output", json_stringn((const char *)r->output,
			                                              r->output_len));
		else
			json_object_set_new(x, "output", json_null());
		json_object_set_new(x, "output_b64", r->output ? b64_json(r->output, r->output_len)
		                                               : json_null());
		json_object_set_new(x, "output_redacted", json_boolean(!sees_all(k->id)));
		json_object_set_new(x, "output_sha256", r->output_sha256
		                                            ? json_string(r->output_sha256)
		                                            : json_null());
		{
			/* the console's names for what the run's result records */
			json_t *res = json_text_or_null(r->result), *red, *v;
			json_int_t total = 0;
			const char *kname;

			red = json_object_get(res, "redactions");
			json_object_foreach(red, kname, v)
				if (json_is_integer(v))
					total += json_integer_value(v);
			json_object_set_new(x, "redactions", json_integer(total));
			json_object_set_new(x, "redactions_by_kind",
			                    json_is_object(red) ? json_incref(red) : json_object());
			v = json_object_get(res, "attestation");
			json_object_set_new(x, "attestation", v ? json_incref(v) : json_null());
			json_object_set_new(x, "result", res);
		}
		json_object_set_new(o, "execution", x);
	} else {
		json_object_set_new(o, "execution", json_null());
	}
	return o;
}

json_t *
api_request_body(srv_call *k, int64_t id, unsigned *status)
{
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0;
	json_t *o;
	int rc;

	buf_reset(&k->msg);
	if ((rc = wf_request_get(k->w, k->who, id, &r, &apv, &napv, &k->msg)) != 0)
		return srv_wf_error_json(k, rc == WF_EREFUSED && !sees_all(k->id) ? WF_ENOTFOUND : rc,
		                         status);
	o = request_json(k, &r, apv, napv);
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	*status = o ? 200 : 500;
	return o;
}

/* Reads request id as the caller and sends it with status. */
static enum MHD_Result
send_request(srv_call *k, int64_t id, unsigned status)
{
	unsigned st = 0;
	json_t *o = api_request_body(k, id, &st);

	if (o == NULL)
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	if (st == 200 && status == 201) {
		char loc[64];
		struct MHD_Response *resp;
		char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
		enum MHD_Result ret;

		json_decref(o);
		if (s == NULL)
			return srv_error(k->conn, 500, "internal", NULL, "out of memory");
		resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
		if (resp == NULL) {
			free(s);
			return MHD_NO;
		}
		snprintf(loc, sizeof(loc), "/api/v1/requests/%" PRId64, id);
		MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
		MHD_add_response_header(resp, "Location", loc);
		ret = MHD_queue_response(k->conn, 201, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	return srv_send_json(k->conn, st, o);
}

/* ---- the 201 of a creation, written directly ----
 * A creation is answered with the request as it was just stored (wf_request_create_kept),
 * written straight into one buffer: no read-back from the store, no re-analysis for
 * "needs" and no parse of the stored analysis and decision JSON only to print it again
 * (together most of escortd's CPU per submission). The text is the same JSON
 * request_json gives, ASCII-only like JSON_ENSURE_ASCII; anything unexpected (text that
 * is not UTF-8) makes the caller fall back to request_json. */

static int
jw_u(buf *o, unsigned v)
{
	static const char hx[] = "0123456789ABCDEF";
	char e[6] = { '\\', 'u', hx[(v >> 12) & 15], hx[(v >> 8) & 15], hx[(v >> 4) & 15],
	              hx[v & 15] };

	return buf_put(o, e, sizeof(e));
}

/* The code point of the UTF-8 sequence at p[0..n) (n >= 1, p[0] >= 0x80) and its length;
 * 0 when it is not valid UTF-8 (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t
utf8_cp(const unsigned char *p, size_t n, unsigned *cp)
{
	unsigned c = p[0], v, min;
	size_t len, i;

	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, v = c & 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, v = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/* Non-ASCII as \uXXXX (a surrogate pair beyond U+FFFF), as jansson's JSON_ENSURE_ASCII. */
static int
jw_nonascii(buf *o, const unsigned char *p, size_t n, size_t *used)
{
	unsigned cp = 0;
	size_t len = utf8_cp(p, n, &cp);
	int rc;

	if (len == 0)
		return ESC_EPARSE;
	*used = len;
	if (cp < 0x10000)
		return jw_u(o, cp);
	cp -= 0x10000;
	if ((rc = jw_u(o, 0xD800 | (cp >> 10))) != 0)
		return rc;
	return jw_u(o, 0xDC00 | (cp & 0x3FF));
}

/* A JSON string (quotes included) of n bytes of UTF-8 text. */
static int
jw_str(buf *o, const unsigned char *s, size_t n)
{
	size_t i = 0, run, used;
	int rc = buf_putc(o, '"');

	while (rc == 0 && i < n) {
		for (run = i; run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
		              s[run] != '\\';
		     run++)
			;
		if (run > i && (rc = buf_put(o, s + i, run - i)) != 0)
			break;
		if ((i = run) >= n)
			break;
		switch (s[i]) {
		case '"': rc = buf_put(o, "\\\"", 2); break;
		case '\\': rc = buf_put(o, "\\\\", 2); break;
		case '\b': rc = buf_put(o, "\\b", 2); break;
		case '\f': rc = buf_put(o, "\\f", 2); break;
		case '\n': rc = buf_put(o, "\\n", 2); break;
		case '\r': rc = buf_put(o, "\\r", 2); break;
		case '\t': rc = buf_put(o, "\\t", 2); break;
		default:
			if (s[i] < 0x20) {
				rc = jw_u(o, s[i]);
				break;
			}
			if ((rc = jw_nonascii(o, s + i, n - i, &used)) == 0)
				i += used - 1;
		}
		i++;
	}
	return rc ? rc : buf_putc(o, '"');
}

static int
jw_cstr(buf *o, const char *s)
{
	return s ? jw_str(o, (const unsigned char *)s, strlen(s)) : buf_puts(o, "null");
}

/* JSON text we produced (lockbox's analysis, the policy decision), copied with any
 * non-ASCII character escaped (in JSON text it can only stand inside a string) and the
 * hex digits of \u escapes in upper case, as jansson prints them. */
static int
jw_raw(buf *o, const char *json)
{
	const unsigned char *s = (const unsigned char *)json;
	size_t n, i = 0, run, used, k;
	int rc = 0;

	if (json == NULL || *json == 0)
		return buf_puts(o, "null");
	n = strlen(json);
	while (rc == 0 && i < n) {
		for (run = i; run < n && s[run] < 0x80 && s[run] != '\\'; run++)
			;
		if (run > i && (rc = buf_put(o, s + i, run - i)) != 0)
			break;
		if ((i = run) >= n)
			break;
		if (s[i] == '\\') { /* an escape: the backslash and what it escapes */
			if (i + 1 >= n)
				return ESC_EPARSE;
			if (s[i + 1] != 'u') {
				rc = buf_put(o, s + i, 2);
				i += 2;
				continue;
			}
			if (i + 6 > n)
				return ESC_EPARSE;
			rc = buf_put(o, "\\u", 2);
			for (k = i + 2; rc == 0 && k < i + 6; k++)
				rc = buf_putc(o, s[k] >= 'a' && s[k] <= 'f' ? s[k] - 'a' + 'A' : s[k]);
			i += 6;
			continue;
		}
		if ((rc = jw_nonascii(o, s + i, n - i, &used)) == 0)
			i += used;
	}
	return rc;
}

static int
jw_time(buf *o, int64_t us)
{
	char t[32];

	if (us <= 0 || audit_time_format(us, t, sizeof(t)) != 0)
		return buf_puts(o, "null");
	return buf_printf(o, "\"%s\"", t);
}

/* The body request_json gives for c->r right after its creation (no approvals, no run),
 * for a caller with these roles. */
static int
created_json(const char *who, unsigned roles, const wf_created *c, buf *o)
{
	const store_request *r = &c->r;
	unsigned char h[STORE_HASH_LEN];
	char hex[65];
	size_t i, blen;
	char *b64;
	int rc, pending, approved, mine, approver;

	pending = strcmp(r->state, "pending") == 0;
	approved = strcmp(r->state, "approved") == 0;
	if ((rc = buf_printf(o, "{\"id\":%" PRId64 ",\"requester\":", r->id)) ||
	    (rc = jw_cstr(o, r->requester)) || (rc = buf_puts(o, ",\"target\":")) ||
	    (rc = jw_cstr(o, r->target)) || (rc = buf_puts(o, ",\"ticket\":")) ||
	    (rc = jw_cstr(o, r->ticket)) || (rc = buf_puts(o, ",\"justification\":")) ||
	    (rc = jw_cstr(o, r->justification)) || (rc = buf_puts(o, ",\"state\":")) ||
	    (rc = jw_cstr(o, r->state)) || (rc = buf_puts(o, ",\"risk\":")) ||
	    (rc = jw_cstr(o, policy_risk_name(c->risk))) || (rc = buf_puts(o, ",\"created\":")) ||
	    (rc = jw_time(o, r->created_us)) || (rc = buf_puts(o, ",\"updated\":")) ||
	    (rc = jw_time(o, r->updated_us)) || (rc = buf_puts(o, ",\"expires\":")) ||
	    (rc = jw_time(o, r->expires_us)) || (rc = buf_puts(o, ",\"policy_version\":")) ||
	    (rc = jw_cstr(o, r->policy_version)) || (rc = buf_puts(o, ",\"commands\":[")))
		return rc;
	for (i = 0; i < r->ncmds; i++) {
		const store_command *cm = &r->cmds[i];

		if ((rc = buf_printf(o, "%s{\"index\":%zu,\"text\":", i ? "," : "", i)) != 0)
			return rc;
		rc = srv_utf8_ok(cm->bytes, cm->len) ? jw_str(o, cm->bytes, cm->len)
		                                       : buf_puts(o, "null");
		if (rc)
			return rc;
		blen = sodium_base64_encoded_len(cm->len, sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(blen)) == NULL)
			return ESC_ENOMEM;
		sodium_bin2base64(b64, blen, cm->bytes, cm->len, sodium_base64_VARIANT_ORIGINAL);
		rc = buf_printf(o, ",\"text_b64\":\"%s\",\"bytes\":%zu", b64, cm->len);
		free(b64);
		if (rc)
			return rc;
		if (crypto_hash_sha256(h, cm->bytes, cm->len) == 0) {
			hex32(h, hex);
			if ((rc = buf_printf(o, ",\"sha256\":\"%s\"", hex)) != 0)
				return rc;
		}
		if ((rc = buf_puts(o, ",\"analysis\":")) || (rc = jw_raw(o, cm->analysis)) ||
		    (rc = buf_putc(o, '}')))
			return rc;
	}
	if ((rc = buf_puts(o, "],\"decision\":")) || (rc = jw_raw(o, r->decision)) ||
	    (rc = buf_puts(o, ",\"approvals\":[]")))
		return rc;
	if (pending || approved) {
		if ((rc = buf_puts(o, ",\"needs\":{\"text\":")) ||
		    (rc = jw_str(o, c->needs.data ? c->needs.data : (const unsigned char *)"",
		                 c->needs.len)) ||
		    (rc = buf_putc(o, '}')))
			return rc;
	}
	mine = strcmp(r->requester, who) == 0;
	approver = (roles & (POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER)) != 0;
	return buf_printf(o, ",\"can\":{\"approve\":%s,\"deny\":%s,\"cancel\":%s,\"run\":%s},"
	                  "\"execution\":null}",
	                  pending && approver && !mine ? "true" : "false",
	                  pending && approver && !mine ? "true" : "false",
	                  (pending || approved) && (mine || (roles & POLICY_ROLE_ADMIN))
	                      ? "true"
	                      : "false",
	                  approved && (mine || (roles & POLICY_ROLE_ESCORT)) ? "true" : "false");
}

/* Sends the 201 for a creation; MHD_NO with *fallback set when created_json could not
 * write it (then request_json answers from the store). */
static enum MHD_Result
send_created(struct MHD_Connection *conn, const char *who, unsigned roles,
             const wf_created *c, int *fallback)
{
	buf o = BUF_INIT;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char loc[64], *s;
	size_t n = 0;

	*fallback = 0;
	buf_init(&o, 0);
	if (buf_reserve(&o, 4096) != 0 || created_json(who, roles, c, &o) != 0 ||
	    (s = buf_steal(&o, &n)) == NULL) {
		buf_free(&o);
		*fallback = 1;
		return MHD_NO;
	}
	resp = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(s);
		return MHD_NO;
	}
	snprintf(loc, sizeof(loc), "/api/v1/requests/%" PRId64, c->r.id);
	MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Location", loc);
	ret = MHD_queue_response(conn, 201, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- requests ---- */

static enum MHD_Result
req_list(srv_call *k)
{
	srv_query q;
	srv_list_params p;
	store_request *v = NULL;
	size_t n = 0, i;
	json_t *a;
	int64_t now = audit_time_now();
	int rc;

	if (srv_query_from_conn(k, &q) != 0)
		return srv_send_error(k->conn, &k->e);
	rc = srv_list_params_get(&q, &p, &k->e);
	if (rc) {
		srv_query_free(&q);
		return srv_send_error(k->conn, &k->e);
	}
	rc = wf_request_list(k->w, k->who, p.state, p.mine, &v, &n, &k->msg);
	srv_query_free(&q);
	if (rc)
		return srv_send_wf_error(k, rc, NULL);
	a = json_array();
	for (i = 0; a && i < n && (int64_t)i < p.limit; i++)
		json_array_append_new(a, summary_json(&v[i], now));
	store_requests_free(v, n);
	return srv_send_json(k->conn, 200, json_pack("{s:o}", "requests", a));
}

/* The answer to a creation: 201 with the request, or 403 naming the stored request the
 * policy denied, or the workflow's error. */
static enum MHD_Result
create_answer(srv_call *k, int rc, int64_t id, int state)
{
	if (rc == WF_EREFUSED && id > 0) {
		/* stored but denied by policy: say so, and where it is */
		json_t *e = json_pack("{s:s, s:s, s:I, s:s}", "code", "forbidden", "message",
		                      buf_cstr(&k->msg), "request", (json_int_t)id, "state",
		                      wf_state_name(state));

		return srv_send_json(k->conn, 403, e ? json_pack("{s:o}", "error", e) : NULL);
	}
	if (rc)
		return srv_send_wf_error(k, rc, NULL);
	return send_request(k, id, 201);
}

/* With the group-commit writer (batch.c) the connection waits suspended while its
 * creation is stored and made durable together with the others that arrived meanwhile;
 * without it (a store without group commit) the creation is one transaction here. */
static enum MHD_Result
req_create(srv_call *k)
{
	srv_create c;
	wf_new_request nr;
	const unsigned char *cmds[SRV_MAX_COMMANDS];
	size_t lens[SRV_MAX_COMMANDS], i;
	int64_t id = 0;
	int state = 0, rc;
	srv_job *j;

	if (srv_parse_create(k->body, k->blen, &c, &k->e) != 0)
		return srv_send_error(k->conn, &k->e);
	if (k->S->batch != NULL) {
		if ((j = calloc(1, sizeof(*j))) == NULL) {
			srv_create_free(&c);
			return srv_error(k->conn, 500, "internal", NULL, "out of memory");
		}
		j->S = k->S;
		j->conn = k->conn;
		j->create = 1;
		snprintf(j->who, sizeof(j->who), "%s", k->who);
		j->roles = k->id ? k->id->roles : 0;
		snprintf(j->pol, sizeof(j->pol), "%s", policy_version(wf_policy(k->w)));
		j->c = c; /* the job owns the parsed body now */
		for (i = 0; i < j->c.ncmds; i++) {
			j->cmds[i] = j->c.cmds[i].p;
			j->lens[i] = j->c.cmds[i].n;
		}
		j->nr.target = j->c.target;
		j->nr.ticket = j->c.ticket;
		j->nr.justification = j->c.justification;
		j->nr.cmds = j->cmds;
		j->nr.lens = j->lens;
		j->nr.ncmds = j->c.ncmds;
		j->state = -1;
		buf_init(&j->msg, 64 * 1024);
		/* the analysis and the decision here, on this HTTP thread, so that the one writer
		 * thread only stores (it redoes them when its policy differs, or when this
		 * failed: then it also says why) */
		if (wf_request_prepare(k->w, k->who, &j->nr, &j->prep) != 0)
			j->prep = NULL;
		/* suspend first: the writer may finish and resume before this returns */
		pthread_mutex_lock(&k->S->mu);
		*k->job = j;
		MHD_suspend_connection(k->conn);
		k->S->jobs++;
		pthread_mutex_unlock(&k->S->mu);
		srv_batch_submit(k->S->batch, j);
		return MHD_YES;
	}
	for (i = 0; i < c.ncmds; i++) {
		cmds[i] = c.cmds[i].p;
		lens[i] = c.cmds[i].n;
	}
	memset(&nr, 0, sizeof(nr));
	nr.target = c.target;
	nr.ticket = c.ticket;
	nr.justification = c.justification;
	nr.cmds = cmds;
	nr.lens = lens;
	nr.ncmds = c.ncmds;
	rc = wf_request_create(k->w, k->who, &nr, &id, &state, &k->msg);
	srv_create_free(&c);
	return create_answer(k, rc, id, state);
}

enum MHD_Result
api_create_done(srv *S, struct MHD_Connection *c, srv_job *j)
{
	srv_call k;
	char err[1024] = "";
	enum MHD_Result ret;

	/* the request as stored, when the policy that decided it is the one the caller was
	 * authenticated by (its roles decide "can"); otherwise, or on an error, the answer
	 * comes from the store under the policy in force now (request_json) */
	if (j->rc == 0 && j->id > 0 && j->kept.r.id == j->id && j->kept.r.policy_version &&
	    strcmp(j->pol, j->kept.r.policy_version) == 0) {
		int fallback = 0;

		ret = send_created(c, j->who, j->roles, &j->kept, &fallback);
		if (!fallback)
			return ret;
	}
	memset(&k, 0, sizeof(k));
	k.S = S;
	k.conn = c;
	k.method = "POST";
	k.path = "/requests";
	snprintf(k.who, sizeof(k.who), "%s", j->who);
	buf_init(&k.msg, 64 * 1024);
	buf_put(&k.msg, j->msg.data, j->msg.len);
	if (srv_pool_get(S, &k.w, err, sizeof(err)) != 0) {
		buf_free(&k.msg);
		return srv_error(c, 503, "unavailable", NULL, "cannot open the data directory: %s", err);
	}
	k.id = policy_identity_find(wf_policy(k.w), k.who);
	if (k.id == NULL && j->rc == 0)
		ret = srv_error(c, 401, "unauthorized", NULL, "the identity left the policy in force");
	else
		ret = create_answer(&k, j->rc, j->id, j->state);
	buf_free(&k.msg);
	srv_pool_put(S, k.w);
	return ret;
}

/* The console's rules on top of the workflow's: high and critical approvals carry a
 * comment and a TOTP code; with a session cookie, any approval needs a TOTP proved in the
 * last five minutes (or one in the body). */
static enum MHD_Result
req_approve(srv_call *k, int64_t id)
{
	srv_action a;
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0;
	int rc, risk, state = 0, high, fresh;
	int64_t now = audit_time_now();

	if (srv_parse_action(k->body, k->blen, &a, &k->e) != 0)
		return srv_send_error(k->conn, &k->e);
	rc = wf_request_get(k->w, k->who, id, &r, &apv, &napv, &k->msg);
	if (rc) {
		srv_json_free(&a.root);
		return srv_send_wf_error(k, rc == WF_EREFUSED && !sees_all(k->id) ? WF_ENOTFOUND : rc,
		                         NULL);
	}
	risk = api_request_risk(&r);
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	high = risk < 0 || risk >= LOCKBOX_RISK_HIGH;
	if (!policy_identity_has_role(k->id, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER)) {
		srv_json_free(&a.root);
		return srv_error(k->conn, 403, "forbidden", NULL, "%s may not approve: only escorts "
		                 "and reviewers approve requests", k->who);
	}
	if (high && a.comment == NULL) {
		srv_json_free(&a.root);
		return srv_error(k->conn, 403, "forbidden", "comment", "approving a %s-risk request "
		                 "needs a comment", risk < 0 ? "unknown" : policy_risk_name(risk));
	}
	fresh = k->via_session && k->se.totp_us && now - k->se.totp_us <= SRV_TOTP_FRESH_US;
	if (a.totp == NULL && (high || (k->via_session && !fresh))) {
		srv_json_free(&a.root);
		return srv_error(k->conn, 403, "forbidden", "totp", "%s needs a current TOTP code "
		                 "(no older than 5 minutes)", high ? "approving a high or critical "
		                 "request" : "approving from the console");
	}
	if (a.totp) {
		buf_reset(&k->msg);
		rc = wf_totp_verify(k->w, k->who, a.totp, now, &k->msg);
		if (rc) {
			srv_json_free(&a.root);
			return srv_send_wf_error(k, rc, "totp");
		}
		if (k->via_session)
			(void)wf_session_mark_totp(k->w, k->session, now, &k->msg);
	}
	buf_reset(&k->msg);
	rc = wf_request_approve(k->w, k->who, id, a.comment, &state, &k->msg);
	srv_json_free(&a.root);
	if (rc)
		return srv_send_wf_error(k, rc, NULL);
	return send_request(k, id, 200);
}

static enum MHD_Result
req_action(srv_call *k, int64_t id, const char *verb)
{
	srv_action a;
	int rc, state = 0;

	if (strcmp(verb, "approve") == 0)
		return req_approve(k, id);
	if (srv_parse_action(k->body, k->blen, &a, &k->e) != 0)
		return srv_send_error(k->conn, &k->e);
	if (strcmp(verb, "deny") == 0) {
		if (a.comment == NULL) {
			srv_json_free(&a.root);
			return srv_error(k->conn, 400, "bad_request", "comment", "a denial needs a "
			                 "comment saying why");
		}
		rc = wf_request_deny(k->w, k->who, id, a.comment, &k->msg);
	} else if (strcmp(verb, "cancel") == 0) {
		rc = wf_request_cancel(k->w, k->who, id, &k->msg);
	} else {
		srv_json_free(&a.root);
		(void)state;
		return srv_run_async(k, id);
	}
	srv_json_free(&a.root);
	if (rc)
		return srv_send_wf_error(k, rc, NULL);
	return send_request(k, id, 200);
}

static enum MHD_Result
requests(srv_call *k, const char *rest)
{
	const char *slash;
	int64_t id;

	if (*rest == 0) {
		if (strcmp(k->method, "GET") == 0)
			return req_list(k);
		if (strcmp(k->method, "POST") == 0)
			return req_create(k);
		return srv_error(k->conn, 405, "method_not_allowed", NULL, "use GET or POST");
	}
	if (*rest != '/')
		return srv_error(k->conn, 404, "not_found", NULL, "no such API path");
	rest++;
	slash = strchr(rest, '/');
	id = srv_parse_id(rest, slash ? (size_t)(slash - rest) : strlen(rest));
	if (id <= 0)
		return srv_error(k->conn, 400, "bad_request", "id", "a request id is a positive "
		                 "integer");
	if (slash == NULL) {
		if (strcmp(k->method, "GET") != 0)
			return srv_error(k->conn, 405, "method_not_allowed", NULL, "use GET");
		return send_request(k, id, 200);
	}
	slash++;
	if (strcmp(slash, "approve") != 0 && strcmp(slash, "deny") != 0 &&
	    strcmp(slash, "cancel") != 0 && strcmp(slash, "run") != 0)
		return srv_error(k->conn, 404, "not_found", NULL, "no such action (approve, deny, "
		                 "cancel, run)");
	if (strcmp(k->method, "POST") != 0)
		return srv_error(k->conn, 405, "method_not_allowed", NULL, "use POST");
	return req_action(k, id, slash);
}

/* ---- identity ---- */

static json_t *
strv_json(const char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static enum MHD_Result
whoami(srv_call *k)
{
	const policy_identity *id = k->id;
	int enrolled = 0;
	json_t *attrs;

	(void)wf_totp_enrolled(k->w, k->who, &enrolled, &k->msg);
	attrs = json_pack("{s:o, s:s?, s:s, s:s?, s:o}", "citizenship",
	                  strv_json(id->citizenship, id->ncitizenship), "location", id->location,
	                  "clearance", policy_clearance_name(id->clearance), "organization",
	                  id->organization, "qualifications",
	                  strv_json(id->qualifications, id->nqualifications));
	/* a session's CSRF token is readable by the console's own pages only (no CORS), so a
	 * new tab can pick it up here */
	return srv_send_json(k->conn, 200,
	                     json_pack("{s:s, s:o, s:o, s:b, s:s, s:s?}", "identity", k->who, "roles",
	                               srv_roles_json(id->roles), "attributes",
	                               attrs ? attrs : json_object(), "totp_enrolled", enrolled,
	                               "auth", k->via_session ? "session" : "bearer", "csrf",
	                               k->via_session ? k->se.csrf : NULL));
}

static enum MHD_Result
totp_enroll(srv_call *k)
{
	char secret[64];
	buf uri = BUF_INIT;
	enum MHD_Result ret;
	int rc;

	if (k->via_session)
		return srv_error(k->conn, 403, "forbidden", NULL, "TOTP enrolment needs the bearer "
		                 "token, not a console session");
	rc = wf_totp_enroll(k->w, k->S->o.datadir, k->who, k->who, secret, sizeof(secret), &uri,
	                    &k->msg);
	if (rc) {
		buf_free(&uri);
		return srv_send_wf_error(k, rc, NULL);
	}
	ret = srv_send_json(k->conn, 200, json_pack("{s:s, s:s, s:s}", "identity", k->who,
	                                            "secret", secret, "uri", buf_cstr(&uri)));
	sodium_memzero(secret, sizeof(secret));
	if (uri.data)
		sodium_memzero(uri.data, uri.len);
	buf_free(&uri);
	return ret;
}

/* ---- analysis and policy ---- */

/* Analyzes bytes; *out gets the lockbox contract's JSON object. */
static int
analyze_json(srv_call *k, const srv_analyze *a, json_t **out, enum MHD_Result *ret)
{
	lockbox_result *res = NULL;
	buf js = BUF_INIT;
	json_error_t je;
	int rc;

	*out = NULL;
	if (k->S->o.lb == NULL) {
		*ret = srv_error(k->conn, 503, "unavailable", NULL, "no rules loaded");
		return -1;
	}
	rc = lockbox_analyze(k->S->o.lb, (const char *)a->cmd.p, a->cmd.n, a->shell, &res);
	if (rc == ESC_EINVAL) {
		*ret = srv_error(k->conn, 400, "bad_request", "shell", "unsupported shell '%.32s' "
		                 "(bash)", a->shell);
		return -1;
	}
	if (rc == 0)
		rc = lockbox_result_json(res, &js);
	lockbox_result_free(res);
	if (rc == 0 && (*out = json_loadb((const char *)js.data, js.len, 0, &je)) == NULL)
		rc = ESC_EINTERNAL;
	buf_free(&js);
	if (rc) {
		*ret = srv_error(k->conn, 500, "internal", NULL, "analysis failed: %s",
		                 esc_strerror(rc));
		return -1;
	}
	return 0;
}

static enum MHD_Result
analyze(srv_call *k)
{
	srv_analyze a;
	json_t *j;
	enum MHD_Result ret = MHD_NO;

	if (srv_parse_analyze(k->body, k->blen, 0, &a, &k->e) != 0)
		return srv_send_error(k->conn, &k->e);
	if (analyze_json(k, &a, &j, &ret) == 0)
		ret = srv_send_json(k->conn, 200, j);
	srv_json_free(&a.root);
	return ret;
}

static enum MHD_Result
explain(srv_call *k)
{
	srv_analyze a;
	json_t *j = NULL, *cats, *d = NULL;
	const char *catv[64];
	size_t nc = 0, i;
	policy_input in;
	policy_decision dec;
	buf out = BUF_INIT;
	json_error_t je;
	enum MHD_Result ret = MHD_NO;
	const char *who;

	memset(&dec, 0, sizeof(dec));
	if (srv_parse_analyze(k->body, k->blen, 1, &a, &k->e) != 0)
		return srv_send_error(k->conn, &k->e);
	who = a.identity ? a.identity : k->who;
	if (!sees_all(k->id) && strcmp(who, k->who) != 0) {
		ret = srv_error(k->conn, 403, "forbidden", "identity", "operators may explain "
		                "decisions for themselves only");
		goto out;
	}
	if (analyze_json(k, &a, &j, &ret) != 0)
		goto out;
	memset(&in, 0, sizeof(in));
	in.operator_name = who;
	in.target = a.target;
	in.risk = policy_risk_parse(json_string_value(json_object_get(j, "risk")));
	if (in.risk < 0)
		in.risk = LOCKBOX_RISK_CRITICAL;
	cats = json_object_get(j, "categories");
	for (i = 0; i < json_array_size(cats) && nc < 64; i++)
		if (json_is_string(json_array_get(cats, i)))
			catv[nc++] = json_string_value(json_array_get(cats, i));
	in.categories = catv;
	in.ncategories = nc;
	in.opaque = json_is_true(json_object_get(j, "opaque"));
	in.now = (time_t)(audit_time_now() / 1000000);
	if (policy_decide(wf_policy(k->w), &in, &dec) != 0 || policy_decision_json(&dec, &out) != 0 ||
	    (d = json_loadb((const char *)out.data, out.len, 0, &je)) == NULL) {
		ret = srv_error(k->conn, 500, "internal", NULL, "the policy decision failed");
		goto out;
	}
	ret = srv_send_json(k->conn, 200, json_pack("{s:o, s:o}", "analysis", j, "decision", d));
	j = NULL;
out:
	json_decref(j);
	policy_decision_free(&dec);
	buf_free(&out);
	srv_json_free(&a.root);
	return ret;
}

static enum MHD_Result
policy_get(srv_call *k)
{
	store_policy sp;
	buf text = BUF_INIT;
	int rc;

	rc = wf_policy_info(k->w, k->S->o.datadir, &sp, &text, &k->msg);
	if (rc == ESC_ENOENT) {
		buf_free(&text);
		return srv_error(k->conn, 503, "unavailable", NULL, "no policy is loaded");
	}
	if (rc) {
		buf_free(&text);
		return srv_send_wf_error(k, rc, NULL);
	}
	rc = srv_send_json(k->conn, 200,
	                   json_pack("{s:I, s:s, s:s?, s:o, s:s%}", "version", (json_int_t)sp.version,
	                             "sha256", sp.sha256, "loaded_by", sp.loaded_by, "loaded",
	                             srv_time_json(sp.loaded_us), "text",
	                             text.data ? (const char *)text.data : "", text.len));
	store_policy_clear(&sp);
	buf_free(&text);
	return (enum MHD_Result)rc;
}

/* ---- dispatch ---- */

static int
is(const char *path, const char *want)
{
	return strcmp(path, want) == 0;
}

static enum MHD_Result
need(srv_call *k, const char *method)
{
	return srv_error(k->conn, 405, "method_not_allowed", NULL, "use %s", method);
}

enum MHD_Result
api_dispatch(srv_call *k)
{
	const char *p = k->path;
	int get = strcmp(k->method, "GET") == 0, post = strcmp(k->method, "POST") == 0;

	if (strncmp(p, "/requests", 9) == 0 && (p[9] == 0 || p[9] == '/'))
		return requests(k, p + 9);
	if (api_presence_path(p))
		return api_presence(k, p); /* api_presence.c: /sessions/ID/presence */
	if (strncmp(p, "/sessions", 9) == 0 && (p[9] == 0 || p[9] == '/'))
		return api_session(k, p + 9); /* api_session.c */
	if (strncmp(p, "/sudo", 5) == 0 && (p[5] == 0 || p[5] == '/'))
		return api_sudo(k, p + 5); /* api_sudo.c */
	if (is(p, "/whoami"))
		return get ? whoami(k) : need(k, "GET");
	if (is(p, "/totp/enroll"))
		return post ? totp_enroll(k) : need(k, "POST");
	if (is(p, "/analyze"))
		return post ? analyze(k) : need(k, "POST");
	if (is(p, "/policy")) {
		if (get)
			return policy_get(k);
		if (post)
			return srv_error(k->conn, 403, "forbidden", NULL, "policies are loaded by the data "
			                 "directory owner with 'escort policy load FILE'");
		return need(k, "GET");
	}
	if (is(p, "/policy/explain"))
		return post ? explain(k) : need(k, "POST");
	if (strncmp(p, "/audit/", 7) == 0) {
		if (!get)
			return need(k, "GET");
		if (!sees_all(k->id))
			return srv_error(k->conn, 403, "forbidden", NULL, "%s may not read the audit "
			                 "log (auditors, escorts, reviewers and admins may)", k->who);
		return api_audit(k, p + 7);
	}
	return srv_error(k->conn, 404, "not_found", NULL, "no such API path");
}

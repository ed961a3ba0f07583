/* api_sudo.c — the sudo approval plugin's side of escortd (docs/sudo.md): a host token
 * submits its user's sudo command, reads the request while the user waits, claims it once
 * approved (exactly this command) or cancels it when sudo gives up. */
#include "server/api_sudo.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/shquote.h"

/* An optional or required string member; NULL when absent (or JSON null). */
static int
str_member(srv_call *k, json_t *o, const char *name, int required, const char **out)
{
	json_t *v = json_object_get(o, name);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		srv_fail(&k->e, 400, "bad_request", name, "%s is required", name);
		return -1;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4096) {
		srv_fail(&k->e, 400, "bad_request", name, "%s must be a string of 1 to 4096 bytes",
		         name);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static void
hex_sha256(const unsigned char *p, size_t n, char out[65])
{
	static const char hx[] = "0123456789abcdef";
	unsigned char h[32];
	unsigned int hl = 0;
	size_t i;

	if (EVP_Digest(p, n, h, &hl, EVP_sha256(), NULL) != 1)
		memset(h, 0, sizeof(h));
	for (i = 0; i < 32; i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[64] = 0;
}

/* The request as the waiting plugin needs it. */
static json_t *
sudo_view(srv_call *k, const store_request *r, const store_approval *apv, size_t napv)
{
	json_t *o, *den = json_array();
	char hex[65] = "";
	buf needs = BUF_INIT;
	size_t i;

	for (i = 0; den && i < napv; i++)
		if (apv[i].kind == STORE_DENY)
			json_array_append_new(den, json_pack("{s:s, s:s?}", "approver", apv[i].approver,
			                                     "comment", apv[i].comment));
	if (r->ncmds == 1)
		hex_sha256(r->cmds[0].bytes, r->cmds[0].len, hex);
	(void)wf_request_needs(k->w, r, apv, napv, &needs);
	o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "id", (json_int_t)r->id,
	              "state", r->state, "target", r->target, "requester", r->requester, "sha256",
	              hex, "needs", needs.data ? (const char *)needs.data : "", "denials",
	              den ? den : json_array(), "expires", srv_time_json(r->expires_us));
	buf_free(&needs);
	return o;
}

static enum MHD_Result
submit(srv_call *k)
{
	json_error_t jerr;
	json_t *o = NULL, *av, *v, *e;
	const char *key, **argv = NULL;
	wf_sudo_req q;
	buf line = BUF_INIT;
	int64_t id = 0;
	int state = 0, rc;
	size_t i, n;
	char hex[65];
	enum MHD_Result ret;
	static const char *const known[] = {"host", "user", "runas", "argv", "cwd", "tty", NULL};

	memset(&q, 0, sizeof(q));
	o = json_loadb(k->body ? k->body : "", k->blen, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL || !json_is_object(o)) {
		ret = srv_error(k->conn, 400, "bad_request", NULL, "malformed JSON at %d:%d: %s",
		                jerr.line, jerr.column, o ? "not an object" : jerr.text);
		goto out;
	}
	json_object_foreach(o, key, v) {
		for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
			;
		if (known[i] == NULL) {
			ret = srv_error(k->conn, 400, "bad_request", key, "unknown member %s", key);
			goto out;
		}
	}
	if (str_member(k, o, "host", 1, &q.host) || str_member(k, o, "user", 1, &q.user) ||
	    str_member(k, o, "runas", 0, &q.runas) || str_member(k, o, "cwd", 0, &q.cwd) ||
	    str_member(k, o, "tty", 0, &q.tty)) {
		ret = srv_send_error(k->conn, &k->e);
		goto out;
	}
	av = json_object_get(o, "argv");
	n = json_is_array(av) ? json_array_size(av) : 0;
	if (n == 0 || n > UTIL_SHQ_ARGV_MAX) {
		ret = srv_error(k->conn, 400, "bad_request", "argv", "argv must be an array of 1 to "
		                "%d strings", UTIL_SHQ_ARGV_MAX);
		goto out;
	}
	if ((argv = calloc(n, sizeof(*argv))) == NULL) {
		ret = srv_error(k->conn, 500, "internal", NULL, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		v = json_array_get(av, i);
		if (!json_is_string(v)) {
			char f[32];
			snprintf(f, sizeof(f), "argv[%zu]", i);
			ret = srv_error(k->conn, 400, "bad_request", f, "%s must be a string", f);
			goto out;
		}
		argv[i] = json_string_value(v);
	}
	q.argv = argv;
	q.argc = n;
	buf_init(&line, UTIL_SHQ_LINE_MAX + 16);
	rc = wf_sudo_submit(k->w, k->who, &q, &id, &state, &line, &k->msg);
	if (rc == WF_EREFUSED && id > 0) {
		e = json_pack("{s:s, s:s, s:I, s:s}", "code", "forbidden", "message",
		              buf_cstr(&k->msg), "request", (json_int_t)id, "state",
		              wf_state_name(state));
		ret = srv_send_json(k->conn, 403, e ? json_pack("{s:o}", "error", e) : NULL);
		goto out;
	}
	if (rc) {
		ret = srv_send_wf_error(k, rc, NULL);
		goto out;
	}
	hex_sha256(line.data, line.len, hex);
	ret = srv_send_json(k->conn, 201,
	                    json_pack("{s:I, s:s, s:s%, s:s}", "id", (json_int_t)id, "state",
	                              wf_state_name(state), "command", (const char *)line.data,
	                              line.len, "sha256", hex));
out:
	free(argv);
	buf_free(&line);
	json_decref(o);
	return ret;
}

static enum MHD_Result
get_one(srv_call *k, int64_t id)
{
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0;
	int rc = wf_sudo_get(k->w, k->who, id, &r, &apv, &napv, &k->msg);
	enum MHD_Result ret;

	if (rc)
		return srv_send_wf_error(k, rc, NULL);
	ret = srv_send_json(k->conn, 200, sudo_view(k, &r, apv, napv));
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	return ret;
}

static int
audit_cb(void *ctx, const char *type, const char *actor, json_t *details, char *err,
         size_t errlen)
{
	return srv_alog_append((srv_alog *)ctx, type, actor, details, err, errlen);
}

static enum MHD_Result
claim(srv_call *k, int64_t id)
{
	json_error_t jerr;
	json_t *o = json_loadb(k->body ? k->body : "", k->blen, JSON_REJECT_DUPLICATES, &jerr);
	json_t *v = json_is_object(o) ? json_object_get(o, "sha256") : NULL;
	int rc;
	enum MHD_Result ret;

	if (!json_is_object(o) || json_object_size(o) != 1 || !json_is_string(v)) {
		json_decref(o);
		return srv_error(k->conn, 400, "bad_request", "sha256", "the body must be "
		                 "{\"sha256\": \"<hex of the command line>\"}");
	}
	rc = wf_sudo_claim(k->w, k->who, id, json_string_value(v), audit_cb, k->S->alog, &k->msg);
	json_decref(o);
	if (rc)
		return srv_send_wf_error(k, rc, NULL);
	ret = srv_send_json(k->conn, 200, json_pack("{s:I, s:b}", "id", (json_int_t)id,
	                                            "allowed", 1));
	return ret;
}

static enum MHD_Result
cancel(srv_call *k, int64_t id)
{
	int rc = wf_sudo_cancel(k->w, k->who, id, &k->msg);

	if (rc)
		return srv_send_wf_error(k, rc, NULL);
	return srv_send_json(k->conn, 200, json_pack("{s:I, s:s}", "id", (json_int_t)id, "state",
	                                             "cancelled"));
}

enum MHD_Result
api_sudo(srv_call *k, const char *sub)
{
	int get = strcmp(k->method, "GET") == 0, post = strcmp(k->method, "POST") == 0;
	const char *p;
	char *end = NULL;
	long long id;

	/* hosts authenticate with their token only: no console session may speak for one */
	if (k->via_session || !wf_sudo_is_host(k->w, k->who))
		return srv_error(k->conn, 403, "forbidden", NULL, "%s is not a host: sudo approvals "
		                 "are submitted with the token of an identity with the host role",
		                 k->who);
	if (sub[0] == 0)
		return post ? submit(k)
		            : srv_error(k->conn, 405, "method_not_allowed", NULL, "use POST");
	if (sub[0] != '/' || sub[1] < '1' || sub[1] > '9')
		return srv_error(k->conn, 404, "not_found", NULL, "no such API path");
	errno = 0;
	id = strtoll(sub + 1, &end, 10);
	if (errno || id <= 0 || end == NULL)
		return srv_error(k->conn, 400, "bad_request", "id", "bad request id");
	p = end;
	if (p[0] == 0)
		return get ? get_one(k, (int64_t)id)
		           : srv_error(k->conn, 405, "method_not_allowed", NULL, "use GET");
	if (strcmp(p, "/claim") == 0)
		return post ? claim(k, (int64_t)id)
		            : srv_error(k->conn, 405, "method_not_allowed", NULL, "use POST");
	if (strcmp(p, "/cancel") == 0)
		return post ? cancel(k, (int64_t)id)
		            : srv_error(k->conn, 405, "method_not_allowed", NULL, "use POST");
	return srv_error(k->conn, 404, "not_found", NULL, "no such API path");
}

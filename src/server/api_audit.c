/* api_audit.c — escortd's read-only audit endpoints: search, verify, the newest signed
 * tree head, inclusion and consistency proofs (the same JSON as `escort audit prove`, so
 * `escort audit check-proof` checks them), and the risk-over-time series for the console. */
#include "server/srv_int.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/event.h"
#include "audit/log.h"
#include "audit/sth.h"
#include "audit/verify.h"
#include "lockbox/lockbox.h"
#include "util/err.h"

static int
open_ro(srv_call *k, audit_log **l)
{
	audit_opts o;
	char err[1024] = "";

	/* the shared writer signs tree heads every N records / T seconds and when it goes
	 * idle; a checkpoint or proof asked for meanwhile gets a head over everything the
	 * server acknowledged (a no-op when nothing is unsigned or the log is closed) */
	(void)srv_alog_sign(k->S->alog);
	memset(&o, 0, sizeof(o));
	o.readonly = 1;
	if (audit_log_open(l, k->S->o.datadir, &o, err, sizeof(err)) != 0) {
		srv_fail(&k->e, 503, "unavailable", NULL, "audit log: %s", err);
		return -1;
	}
	return 0;
}

/* The newest signed tree head, checked against the data directory's public key. */
static int
latest_sth(srv_call *k, audit_log *l, audit_sth *s)
{
	audit_pubkey pk;
	char path[4096], err[512] = "";

	if (audit_log_latest_sth(l, s, NULL) != 0) {
		srv_fail(&k->e, 404, "not_found", NULL, "the log has no signed tree head yet");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", k->S->o.datadir, AUDIT_PUB_FILE);
	if (audit_pubkey_load(path, &pk, err, sizeof(err)) != 0) {
		srv_fail(&k->e, 500, "internal", NULL, "%s", err);
		return -1;
	}
	if (audit_sth_verify(s, &pk) != 0) {
		srv_fail(&k->e, 500, "internal", NULL, "the newest signed tree head does not verify "
		         "with the public key; run 'escort audit verify'");
		return -1;
	}
	return 0;
}

static enum MHD_Result
checkpoint(srv_call *k)
{
	audit_log *l = NULL;
	audit_sth s;
	json_t *j = NULL;
	enum MHD_Result ret;

	if (open_ro(k, &l) != 0)
		return srv_send_error(k->conn, &k->e);
	if (latest_sth(k, l, &s) != 0)
		ret = srv_send_error(k->conn, &k->e);
	else if (audit_sth_to_json(&s, &j) != 0)
		ret = srv_error(k->conn, 500, "internal", NULL, "out of memory");
	else
		ret = srv_send_json(k->conn, 200, j);
	audit_log_close(l, NULL, 0);
	return ret;
}

static enum MHD_Result
verify(srv_call *k)
{
	audit_verify_opts o;
	audit_verify_result *r = calloc(1, sizeof(*r));
	json_t *bad = json_null(), *sth = json_null();
	enum MHD_Result ret;

	if (r == NULL)
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	memset(&o, 0, sizeof(o));
	o.allow_torn_tail = 1; /* other processes append while we read */
	if (audit_verify(k->S->o.datadir, &o, r) != 0) {
		ret = srv_error(k->conn, 503, "unavailable", NULL, "cannot verify: %s", r->msg);
		free(r);
		return ret;
	}
	if (r->bad)
		bad = json_pack("{s:o, s:s?, s:I}", "seq",
		                r->bad_seq == UINT64_MAX ? json_null()
		                                         : json_integer((json_int_t)r->bad_seq),
		                "file", r->bad_file[0] ? r->bad_file : NULL, "offset",
		                (json_int_t)r->bad_off);
	if (r->have_sth && audit_sth_to_json(&r->last, &sth) != 0)
		sth = json_null();
	ret = srv_send_json(
	    k->conn, 200,
	    json_pack("{s:b, s:I, s:I, s:I, s:o, s:o, s:s, s:s}", "ok", !r->bad, "size",
	              (json_int_t)r->records, "sths", (json_int_t)r->sths, "unsigned_tail",
	              (json_int_t)r->unsigned_tail, "first_bad", bad ? bad : json_null(), "sth",
	              sth ? sth : json_null(), "message",
	              r->bad ? r->msg : "the log verifies", "note", r->note));
	free(r);
	return ret;
}

static json_t *
path_json(const mt_hash *path, size_t n)
{
	json_t *a = json_array();
	char hex[65];
	size_t i;

	for (i = 0; a && i < n; i++) {
		audit_hash_hex(&path[i], hex);
		json_array_append_new(a, json_string(hex));
	}
	return a;
}

/* /prove/SEQ (inclusion) and /prove?from=SIZE (consistency), against the newest signed
 * tree head. */
static enum MHD_Result
prove(srv_call *k, const char *rest)
{
	audit_log *l = NULL;
	audit_sth s;
	srv_query q;
	static const char *const known[] = { "from", NULL };
	mt_hash path[MT_MAX_PATH];
	size_t np = 0;
	int64_t seq = -1, from = 0;
	buf rec = BUF_INIT;
	json_t *out = NULL, *js = NULL, *part;
	enum MHD_Result ret;
	int ok;

	if (*rest == '/') {
		rest++;
		if (strcmp(rest, "0") == 0)
			seq = 0;
		else if ((seq = srv_parse_id(rest, strlen(rest))) < 0)
			return srv_error(k->conn, 400, "bad_request", "seq", "a record number is a "
			                 "non-negative integer");
	} else if (*rest != 0)
		return srv_error(k->conn, 404, "not_found", NULL, "no such API path");
	if (srv_query_from_conn(k, &q) != 0)
		return srv_send_error(k->conn, &k->e);
	if (srv_query_only(&q, known, &k->e) != 0 ||
	    srv_query_int(&q, "from", 1, INT64_MAX / 2, &from, &k->e) < 0) {
		srv_query_free(&q);
		return srv_send_error(k->conn, &k->e);
	}
	srv_query_free(&q);
	if (seq < 0 && from == 0)
		return srv_error(k->conn, 400, "bad_request", "from", "give a record number "
		                 "(/audit/prove/SEQ) and/or ?from=SIZE");
	if (open_ro(k, &l) != 0)
		return srv_send_error(k->conn, &k->e);
	if (latest_sth(k, l, &s) != 0) {
		ret = srv_send_error(k->conn, &k->e);
		goto out;
	}
	if (seq >= 0 && (uint64_t)seq >= s.size) {
		ret = srv_error(k->conn, 404, "not_found", "seq", "record %" PRId64 " is not covered "
		                "by the newest signed tree head (%" PRIu64 " records)", seq, s.size);
		goto out;
	}
	if (from && (uint64_t)from > s.size) {
		ret = srv_error(k->conn, 404, "not_found", "from", "size %" PRId64 " is beyond the "
		                "newest signed tree head (%" PRIu64 " records)", from, s.size);
		goto out;
	}
	ok = 0;
	if (audit_sth_to_json(&s, &js) != 0 || (out = json_object()) == NULL ||
	    json_object_set(out, "sth", js) != 0)
		goto built;
	if (seq >= 0) {
		if (audit_log_read(l, (uint64_t)seq, &rec) != 0 ||
		    audit_log_inclusion(l, (uint64_t)seq, s.size, path, &np) != 0)
			goto built;
		part = json_pack("{s:I, s:s%, s:o?}", "seq", (json_int_t)seq, "record",
		                 (const char *)rec.data, rec.len, "path", path_json(path, np));
		if (part == NULL || json_object_set_new(out, "inclusion", part) != 0)
			goto built;
	}
	if (from) {
		if (audit_log_consistency(l, (uint64_t)from, s.size, path, &np) != 0)
			goto built;
		part = json_pack("{s:I, s:o?}", "from_size", (json_int_t)from, "path",
		                 path_json(path, np));
		if (part == NULL || json_object_set_new(out, "consistency", part) != 0)
			goto built;
	}
	ok = 1;
built:
	if (ok) {
		ret = srv_send_json(k->conn, 200, out);
		out = NULL;
	} else
		ret = srv_error(k->conn, 500, "internal", NULL, "cannot build the proof: %s",
		                *audit_log_error(l) ? audit_log_error(l) : "the stored tree does not "
		                "cover this size; run 'escort audit verify'");
out:
	json_decref(out);
	json_decref(js);
	buf_free(&rec);
	audit_log_close(l, NULL, 0);
	return ret;
}

/* Does the record satisfy the search? */
static int
matches(const srv_search_params *p, const uint8_t *rec, size_t len, audit_event *ev)
{
	json_t *rq;

	if (p->text && memmem(rec, len, p->text, strlen(p->text)) == NULL)
		return 0;
	if (p->since_us && ev->time_us < p->since_us)
		return 0;
	if (p->until_us && ev->time_us > p->until_us)
		return 0;
	if (p->actor && strcmp(ev->actor, p->actor) != 0)
		return 0;
	if (p->type && strncmp(ev->type, p->type, strlen(p->type)) != 0)
		return 0;
	if (p->request) {
		rq = json_object_get(ev->details, "request");
		if (!json_is_integer(rq) || json_integer_value(rq) != p->request)
			return 0;
	}
	return 1;
}

static enum MHD_Result
search(srv_call *k)
{
	srv_query q;
	srv_search_params p;
	audit_iter it;
	const uint8_t *rec;
	size_t len;
	uint64_t seq;
	audit_event ev;
	char err[1024] = "";
	json_t *a;
	int rc, truncated = 0;

	if (srv_query_from_conn(k, &q) != 0)
		return srv_send_error(k->conn, &k->e);
	if (srv_search_params_get(&q, &p, &k->e) != 0) {
		srv_query_free(&q);
		return srv_send_error(k->conn, &k->e);
	}
	if (audit_iter_open(&it, k->S->o.datadir, err, sizeof(err)) != 0) {
		srv_query_free(&q);
		return srv_error(k->conn, 503, "unavailable", NULL, "audit log: %s", err);
	}
	a = json_array();
	while (a && (rc = audit_iter_next(&it, &rec, &len, &seq)) == 0) {
		/* cheap text filter before parsing */
		if (p.text && memmem(rec, len, p.text, strlen(p.text)) == NULL)
			continue;
		if (audit_event_parse(rec, len, &ev, NULL, 0) != 0)
			continue;
		if (matches(&p, rec, len, &ev)) {
			if ((int64_t)json_array_size(a) >= p.limit) {
				truncated = 1;
				audit_event_free(&ev);
				break;
			}
			json_array_append(a, ev.root);
		}
		audit_event_free(&ev);
	}
	audit_iter_close(&it);
	srv_query_free(&q);
	return srv_send_json(k->conn, 200,
	                     json_pack("{s:o, s:b}", "events", a ? a : json_array(), "truncated",
	                               truncated));
}

/* Created requests per hour or day by risk, for the console's chart. */
static enum MHD_Result
risk_series(srv_call *k)
{
	static const char *const known[] = { "bucket", NULL };
	srv_query q;
	const char *bucket = "hour";
	store_request *v = NULL;
	size_t n = 0, i;
	int64_t width, b, cur = -1;
	json_t *series = json_array(), *row = NULL;
	char t[32];
	int rc, risk;

	if (srv_query_from_conn(k, &q) != 0) {
		json_decref(series);
		return srv_send_error(k->conn, &k->e);
	}
	if (srv_query_only(&q, known, &k->e) != 0 || srv_query_str(&q, "bucket", &bucket, &k->e) < 0 ||
	    (strcmp(bucket, "hour") != 0 && strcmp(bucket, "day") != 0)) {
		if (k->e.status == 0)
			srv_fail(&k->e, 400, "bad_request", "bucket", "bucket is hour or day");
		srv_query_free(&q);
		json_decref(series);
		return srv_send_error(k->conn, &k->e);
	}
	width = strcmp(bucket, "day") == 0 ? (int64_t)86400 * 1000000 : (int64_t)3600 * 1000000;
	bucket = strcmp(bucket, "day") == 0 ? "day" : "hour"; /* q's storage goes now */
	srv_query_free(&q);
	rc = wf_request_list(k->w, k->who, NULL, 0, &v, &n, &k->msg);
	if (rc) {
		json_decref(series);
		return srv_send_wf_error(k, rc, NULL);
	}
	/* the list is newest first: walk it backwards for an ascending series */
	for (i = n; i-- > 0;) {
		b = v[i].created_us / width * width;
		if (b != cur) {
			if (row)
				json_array_append_new(series, row);
			cur = b;
			if (audit_time_format(b, t, sizeof(t)) != 0)
				t[0] = 0;
			row = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i}", "t", t, "none", 0, "low",
			                0, "medium", 0, "high", 0, "critical", 0, "unknown", 0);
		}
		risk = api_request_risk(&v[i]);
		if (row) {
			const char *key = risk < 0 ? "unknown" : policy_risk_name(risk);

			json_object_set_new(row, key, json_integer(
			                                  json_integer_value(json_object_get(row, key)) + 1));
		}
	}
	if (row)
		json_array_append_new(series, row);
	store_requests_free(v, n);
	return srv_send_json(k->conn, 200, json_pack("{s:s, s:o}", "bucket", bucket, "series",
	                                             series));
}

static enum MHD_Result
pubkey(srv_call *k)
{
	audit_pubkey pk;
	char path[4096], err[512] = "";
	buf b = BUF_INIT;
	json_error_t je;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", k->S->o.datadir, AUDIT_PUB_FILE);
	if (audit_pubkey_load(path, &pk, err, sizeof(err)) != 0)
		return srv_error(k->conn, 500, "internal", NULL, "%s", err);
	j = audit_pubkey_to_json(&pk, &b) == 0 ? json_loadb((const char *)b.data, b.len, 0, &je)
	                                        : NULL;
	buf_free(&b);
	if (j == NULL)
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	return srv_send_json(k->conn, 200, j);
}

/* Categories of an analysis JSON object into a set (a JSON object used as one). */
static void
cats_into(json_t *set, const json_t *analysis)
{
	const json_t *a = json_object_get(analysis, "categories");
	size_t i;

	for (i = 0; i < json_array_size(a); i++)
		if (json_is_string(json_array_get(a, i)))
			json_object_set_new(set, json_string_value(json_array_get(a, i)), json_true());
}

static json_t *
set_minus(const json_t *a, const json_t *b)
{
	json_t *out = json_array(), *v;
	const char *key;

	json_object_foreach((json_t *)(uintptr_t)a, key, v)
		if (json_object_get(b, key) == NULL)
			json_array_append_new(out, json_string(key));
	return out;
}

/* Retro-hunt over the store: every stored command re-analyzed with the rules loaded now;
 * requests whose risk or categories changed are listed (worse: the risk rose or a
 * category appeared). */
static enum MHD_Result
rescan(srv_call *k)
{
	static const char *const known[] = { "since", "worse", NULL };
	srv_query q;
	int64_t since = 0;
	int worse_only = 0, rc;
	store_request *v = NULL;
	size_t n = 0, i, c, scanned = 0;
	json_t *changed = json_array();
	json_error_t je;

	if (k->S->o.lb == NULL) {
		json_decref(changed);
		return srv_error(k->conn, 503, "unavailable", NULL, "no rules loaded");
	}
	if (srv_query_from_conn(k, &q) != 0) {
		json_decref(changed);
		return srv_send_error(k->conn, &k->e);
	}
	if (srv_query_only(&q, known, &k->e) != 0 || srv_query_time(&q, "since", &since, &k->e) < 0 ||
	    srv_query_bool(&q, "worse", &worse_only, &k->e) < 0) {
		srv_query_free(&q);
		json_decref(changed);
		return srv_send_error(k->conn, &k->e);
	}
	srv_query_free(&q);
	if ((rc = wf_request_list(k->w, k->who, NULL, 0, &v, &n, &k->msg)) != 0) {
		json_decref(changed);
		return srv_send_wf_error(k, rc, NULL);
	}
	for (i = n; i-- > 0;) { /* oldest first */
		const store_request *r = &v[i];
		json_t *oldc = json_object(), *newc = json_object(), *cmds = json_array(), *added,
		       *removed;
		int oldr = api_request_risk(r), newr = -1, worse;

		if (r->created_us < since) {
			json_decref(oldc);
			json_decref(newc);
			json_decref(cmds);
			continue;
		}
		scanned++;
		for (c = 0; c < r->ncmds; c++) {
			lockbox_result *res = NULL;
			buf js = BUF_INIT;
			json_t *old = r->cmds[c].analysis ? json_loads(r->cmds[c].analysis, 0, &je) : NULL,
			       *now = NULL, *one;

			cats_into(oldc, old);
			json_decref(old);
			if (lockbox_analyze(k->S->o.lb, (const char *)r->cmds[c].bytes, r->cmds[c].len,
			                    "bash", &res) == 0 &&
			    lockbox_result_json(res, &js) == 0)
				now = json_loadb((const char *)js.data, js.len, 0, &je);
			lockbox_result_free(res);
			buf_free(&js);
			if (now == NULL)
				continue;
			cats_into(newc, now);
			{
				int rk = policy_risk_parse(json_string_value(json_object_get(now, "risk")));

				if (rk > newr)
					newr = rk;
			}
			/* as escort audit rescan --json: the exact command, base64 when not UTF-8 */
			if (srv_utf8_ok(r->cmds[c].bytes, r->cmds[c].len))
				one = json_pack("{s:s%, s:O, s:O}", "command", (const char *)r->cmds[c].bytes,
				                r->cmds[c].len, "risk", json_object_get(now, "risk"),
				                "categories", json_object_get(now, "categories"));
			else {
				size_t bl = sodium_base64_encoded_len(r->cmds[c].len,
				                                      sodium_base64_VARIANT_ORIGINAL);
				char *b64 = malloc(bl);

				one = NULL;
				if (b64) {
					sodium_bin2base64(b64, bl, r->cmds[c].bytes, r->cmds[c].len,
					                  sodium_base64_VARIANT_ORIGINAL);
					one = json_pack("{s:s, s:O, s:O}", "command_base64", b64, "risk",
					                json_object_get(now, "risk"), "categories",
					                json_object_get(now, "categories"));
					free(b64);
				}
			}
			if (one)
				json_array_append_new(cmds, one);
			json_decref(now);
		}
		added = set_minus(newc, oldc);
		removed = set_minus(oldc, newc);
		worse = newr > oldr || json_array_size(added) > 0;
		if ((newr != oldr || json_array_size(added) || json_array_size(removed)) &&
		    (!worse_only || worse)) {
			json_t *e = json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o}",
			                      "request", (json_int_t)r->id, "requester", r->requester,
			                      "target", r->target, "created", srv_time_json(r->created_us),
			                      "old_risk", oldr < 0 ? json_null()
			                                           : json_string(policy_risk_name(oldr)),
			                      "risk", newr < 0 ? json_null()
			                                       : json_string(policy_risk_name(newr)),
			                      "added", added, "removed", removed, "worse", worse,
			                      "commands", cmds);
			added = removed = cmds = NULL;
			/* the console's name for the new risk, next to the CLI's */
			if (e)
				json_object_set(e, "new_risk", json_object_get(e, "risk"));
			if (e)
				json_array_append_new(changed, e);
		}
		json_decref(added);
		json_decref(removed);
		json_decref(cmds);
		json_decref(oldc);
		json_decref(newc);
	}
	store_requests_free(v, n);
	return srv_send_json(k->conn, 200, json_pack("{s:o, s:I}", "changed", changed, "scanned",
	                                             (json_int_t)scanned));
}

enum MHD_Result
api_audit(srv_call *k, const char *sub)
{
	if (strcmp(sub, "pubkey") == 0)
		return pubkey(k);
	if (strcmp(sub, "rescan") == 0)
		return rescan(k);
	if (strcmp(sub, "search") == 0)
		return search(k);
	if (strcmp(sub, "verify") == 0)
		return verify(k);
	if (strcmp(sub, "checkpoint") == 0)
		return checkpoint(k);
	if (strncmp(sub, "prove", 5) == 0 && (sub[5] == 0 || sub[5] == '/'))
		return prove(k, sub + 5);
	if (strcmp(sub, "risk-series") == 0)
		return risk_series(k);
	return srv_error(k->conn, 404, "not_found", NULL, "no such audit endpoint (search, verify, "
	                 "checkpoint, prove, risk-series)");
}

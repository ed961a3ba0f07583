/* api_session.c — escortd's endpoints for escorted interactive sessions: list, one session
 * with its lines (each line is a request: analysis, decision and approvals as
 * /requests/ID shows them; approve/deny go through the request endpoints), the kill switch,
 * a live stream of the recording (output, input, markers) as server-sent events, and the
 * recording itself for replay. Sessions held by escortd itself (start, lines, the
 * operator's events, Ctrl-C, end) are in session_host.c. */
#include "server/api_session.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "session/session.h"
#include "util/err.h"

#define EV_CHUNK ((size_t)256 * 1024) /* recording bytes read per stream response */
#define EV_LINE_MAX ((size_t)8 << 20) /* longest event line followed (far above any) */
#define EV_RETRY_MS 300               /* the browser reconnects this soon for more */
#define ENDED_GRACE_US ((int64_t)10 * 1000000)

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
sees_full(const policy_identity *id)
{
	return policy_identity_has_role(id, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER |
	                                        POLICY_ROLE_AUDITOR | POLICY_ROLE_ADMIN);
}

static int
is_open(const store_isession *se)
{
	return strcmp(se->state, "active") == 0 || strcmp(se->state, "paused") == 0;
}

json_t *
api_session_json(srv_call *k, const store_isession *se)
{
	int own = strcmp(se->operator_name, k->who) == 0;

	return json_pack("{s:I, s:s, s:s, s:s, s:s?, s:o, s:o, s:o, s:s?, s:s?, s:b, s:{s:b}}",
	                 "id", (json_int_t)se->id, "state", se->state, "operator",
	                 se->operator_name, "target", se->target, "ticket", se->ticket,
	                 "created", srv_time_json(se->created_us), "updated",
	                 srv_time_json(se->updated_us), "ended",
	                 se->ended_us ? srv_time_json(se->ended_us) : json_null(), "end_reason",
	                 se->end_reason, "recording_sha256", se->recording_sha256,
	                 "output_redacted", !sees_full(k->id), "can", "kill",
	                 is_open(se) && (own || policy_identity_has_role(
	                                            k->id, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER |
	                                                       POLICY_ROLE_ADMIN)));
}

/* GET /sessions[?target=T&operator=O] */
static enum MHD_Result
list(srv_call *k)
{
	static const char *const known[] = { "target", "operator", NULL };
	srv_query q;
	const char *target = NULL, *op = NULL;
	store_isession *v = NULL;
	size_t n = 0, i;
	json_t *a;
	int rc;

	if (srv_query_from_conn(k, &q) != 0)
		return srv_send_error(k->conn, &k->e);
	if (srv_query_only(&q, known, &k->e) != 0 || srv_query_str(&q, "target", &target, &k->e) < 0 ||
	    srv_query_str(&q, "operator", &op, &k->e) < 0) {
		srv_query_free(&q);
		return srv_send_error(k->conn, &k->e);
	}
	buf_reset(&k->msg);
	rc = wf_isession_list(k->w, k->who, target, op, &v, &n, &k->msg);
	srv_query_free(&q);
	if (rc)
		return srv_send_wf_error(k, rc, NULL);
	a = json_array();
	for (i = 0; a && i < n; i++)
		json_array_append_new(a, api_session_json(k, &v[i]));
	store_isessions_free(v, n);
	if (a == NULL)
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	return srv_send_json(k->conn, 200, json_pack("{s:o}", "sessions", a));
}

static int
get_session(srv_call *k, int64_t id, store_isession *se, enum MHD_Result *ret)
{
	int rc;

	buf_reset(&k->msg);
	if ((rc = wf_isession_get(k->w, k->who, id, se, &k->msg)) != 0) {
		*ret = srv_send_wf_error(k, rc == WF_EREFUSED && !sees_full(k->id) ? WF_ENOTFOUND : rc,
		                         NULL);
		return -1;
	}
	return 0;
}

/* GET /sessions/ID: the session and each line as the request it is. */
static enum MHD_Result
detail(srv_call *k, int64_t id)
{
	store_isession se;
	store_isession_line *lines = NULL;
	size_t n = 0, i;
	enum MHD_Result ret = MHD_NO;
	json_t *o, *a;
	int rc;

	if (get_session(k, id, &se, &ret) != 0)
		return ret;
	o = api_session_json(k, &se);
	store_isession_clear(&se);
	buf_reset(&k->msg);
	if ((rc = wf_isession_lines(k->w, k->who, id, &lines, &n, &k->msg)) != 0) {
		json_decref(o);
		return srv_send_wf_error(k, rc, NULL);
	}
	a = json_array();
	for (i = 0; a && i < n; i++) {
		unsigned st = 0;
		json_t *r = api_request_body(k, lines[i].request_id, &st);

		json_array_append_new(a, json_pack("{s:I, s:I, s:o, s:o}", "seq",
		                                   (json_int_t)lines[i].seq, "request_id",
		                                   (json_int_t)lines[i].request_id, "created",
		                                   srv_time_json(lines[i].created_us), "request",
		                                   st == 200 && r ? r : json_null()));
		if (st != 200)
			json_decref(r);
	}
	free(lines);
	if (o == NULL || a == NULL) {
		json_decref(o);
		json_decref(a);
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	}
	json_object_set_new(o, "lines", a);
	return srv_send_json(k->conn, 200, o);
}

/* POST /sessions/ID/kill {"reason": "..."}: the kill switch. The shell's process group
 * dies now when it runs on this host; elsewhere its owner sees the state within 200 ms. */
static enum MHD_Result
kill_session(srv_call *k, int64_t id)
{
	store_isession se;
	json_t *root = NULL, *v;
	json_error_t je;
	char reason[512] = "killed by an escort from the console";
	int rc, killed_here = 0;
	json_t *o;

	if (k->blen) {
		if ((root = json_loadb(k->body, k->blen, 0, &je)) == NULL || !json_is_object(root)) {
			json_decref(root);
			return srv_error(k->conn, 400, "bad_request", NULL, "the body is not a JSON object");
		}
		v = json_object_get(root, "reason");
		if (v && (!json_is_string(v) || json_string_length(v) == 0 ||
		          json_string_length(v) >= sizeof(reason))) {
			json_decref(root);
			return srv_error(k->conn, 400, "bad_request", "reason", "reason: a non-empty "
			                 "string under %zu bytes", sizeof(reason));
		}
		if (v)
			snprintf(reason, sizeof(reason), "%s", json_string_value(v));
		json_decref(root);
	}
	buf_reset(&k->msg);
	if ((rc = wf_isession_kill(k->w, k->who, id, reason, &se, &k->msg)) != 0)
		return srv_send_wf_error(k, rc == WF_EREFUSED && !sees_full(k->id) ? WF_ENOTFOUND : rc,
		                         NULL);
	buf_reset(&k->msg);
	killed_here = wf_isession_kill_here(k->w, &se, &k->msg) == 1;
	o = api_session_json(k, &se);
	store_isession_clear(&se);
	/* held here and idle: ended now (recording closed, session.end) */
	api_session_host_killed(k, id);
	if (o == NULL)
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	json_object_set_new(o, "shell_killed_here", json_boolean(killed_here));
	return srv_send_json(k->conn, 200, o);
}

/* Where the stream resumes: the browser's Last-Event-ID (a byte offset in the recording)
 * on reconnection, else ?from=, else the start. */
static int
stream_offset(srv_call *k, int64_t *off)
{
	static const char *const known[] = { "from", NULL };
	const char *h = MHD_lookup_connection_value(k->conn, MHD_HEADER_KIND, "Last-Event-ID");
	srv_query q;
	int rc = 0;

	*off = 0;
	if (h && *h) {
		char *end = NULL;
		long long v;

		errno = 0;
		v = strtoll(h, &end, 10);
		if (errno || end == h || *end || v < 0)
			return srv_fail(&k->e, 400, "bad_request", "Last-Event-ID", "not a byte offset");
		*off = v;
		return 0;
	}
	if (srv_query_from_conn(k, &q) != 0)
		return -1;
	if (srv_query_only(&q, known, &k->e) != 0 ||
	    srv_query_int(&q, "from", 0, INT64_MAX / 2, off, &k->e) < 0)
		rc = -1;
	srv_query_free(&q);
	return rc;
}

static void
sse_event(buf *out, int64_t id, const char *type, json_t *data)
{
	char *s = data ? json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(9)) : NULL;

	json_decref(data);
	if (s == NULL)
		return;
	if (id >= 0)
		buf_printf(out, "id: %" PRId64 "\n", id);
	buf_printf(out, "event: %s\ndata: %s\n\n", type, s);
	free(s);
}

/* GET /sessions/ID/events: text/event-stream of the recording's events after the offset
 * (id: the offset after each event), then the session's state; the response ends and the
 * browser reconnects after EV_RETRY_MS with Last-Event-ID, so no worker waits on a quiet
 * session. 204 (EventSource stops) once the session is over and everything was sent.
 * Escorts, reviewers, auditors and admins get the full output, operators redacted. */
static enum MHD_Result
events(srv_call *k, int64_t id)
{
	store_isession se;
	enum MHD_Result ret = MHD_NO;
	struct MHD_Response *r;
	char path[4096];
	buf raw = BUF_INIT, out = BUF_INIT, data = BUF_INIT, red = BUF_INIT;
	int64_t off, pos;
	int fd, full = sees_full(k->id), open_now, more = 0;
	size_t start = 0;

	if (stream_offset(k, &off) != 0)
		return srv_send_error(k->conn, &k->e);
	if (get_session(k, id, &se, &ret) != 0)
		return ret;
	open_now = is_open(&se);
	buf_init(&raw, EV_LINE_MAX);
	snprintf(path, sizeof(path), "%s/%s/%" PRId64 ".cast", k->S->o.datadir, SESS_DIR, id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		/* at least one whole event: one event line can be longer than a chunk (64 KiB of
		 * control bytes escaped as \u00XX), so read on until a newline, up to EV_LINE_MAX */
		for (;;) {
			ssize_t got;

			if (buf_reserve(&raw, EV_CHUNK) != 0)
				break;
			got = pread(fd, raw.data + raw.len, EV_CHUNK, (off_t)off + (off_t)raw.len);
			if (got <= 0)
				break;
			raw.len += (size_t)got;
			more = (size_t)got == EV_CHUNK;
			if (!more || memchr(raw.data, '\n', raw.len) != NULL)
				break;
		}
		close(fd);
	}
	buf_printf(&out, "retry: %d\n", EV_RETRY_MS);
	pos = off;
	for (;;) {
		unsigned char *nl = raw.len > start ? memchr(raw.data + start, '\n', raw.len - start)
		                                     : NULL;
		size_t n;
		sess_cast_ev ev;

		if (nl == NULL)
			break;
		n = (size_t)(nl - (raw.data + start));
		pos = off + (int64_t)(start + n + 1);
		buf_reset(&data);
		if (!(off == 0 && start == 0) && /* the header line */
		    sess_cast_parse((const char *)raw.data + start, n, &ev, &data) == 0) {
			const unsigned char *p = data.data ? data.data : (const unsigned char *)"";
			size_t len = data.len;
			const char *type = ev.type == 'o' ? "output" : ev.type == 'i' ? "input" : "marker";

			if (!full && ev.type == 'o') {
				buf_reset(&red);
				if (wf_redact(p, len, &red) == 0) {
					p = red.data ? red.data : (const unsigned char *)"";
					len = red.len;
				}
			}
			sse_event(&out, pos, type, json_pack("{s:f, s:s%}", "t", ev.t, "data",
			                                     (const char *)p, len));
		} else if (off == 0 && start == 0) {
			buf_printf(&out, "id: %" PRId64 "\n: header\n\n", pos);
		}
		start += n + 1;
	}
	/* the recording is complete once its owner closed and hashed it (a session killed
	 * from here is still being written to for a moment), or long after the end when the
	 * owner vanished without closing it */
	if (!open_now && !more && pos == off &&
	    (se.recording_sha256 || now_us() - se.ended_us > ENDED_GRACE_US)) {
		/* over, and nothing left: EventSource stops on 204 */
		store_isession_clear(&se);
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		ret = r ? MHD_queue_response(k->conn, 204, r) : MHD_NO;
		if (r)
			MHD_destroy_response(r);
		goto out;
	}
	sse_event(&out, -1, "state", json_pack("{s:s, s:b}", "state", se.state, "redacted", !full));
	store_isession_clear(&se);
	r = MHD_create_response_from_buffer(out.len, out.data, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		goto out;
	MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(k->conn, 200, r);
	MHD_destroy_response(r);
out:
	buf_free(&raw);
	buf_free(&out);
	buf_free(&data);
	buf_free(&red);
	return ret;
}

/* GET /sessions/ID/recording: the asciicast v2 file as written (for replay). It holds the
 * full output, so only roles that see full output get it. */
static enum MHD_Result
recording(srv_call *k, int64_t id)
{
	store_isession se;
	enum MHD_Result ret = MHD_NO;
	struct MHD_Response *r;
	struct stat st;
	char path[4096];
	int fd;

	if (get_session(k, id, &se, &ret) != 0)
		return ret;
	store_isession_clear(&se);
	if (!sees_full(k->id))
		return srv_error(k->conn, 403, "forbidden", NULL, "the recording holds the full "
		                 "output: escorts, reviewers, auditors and admins may replay it");
	snprintf(path, sizeof(path), "%s/%s/%" PRId64 ".cast", k->S->o.datadir, SESS_DIR, id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return srv_error(k->conn, 404, "not_found", NULL, "session %" PRId64 " has no recording",
		                 id);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return srv_error(k->conn, 500, "internal", NULL, "cannot read the recording");
	}
	/* the size now: a live session's file grows, the response ends at this size */
	if ((r = MHD_create_response_from_fd((uint64_t)st.st_size, fd)) == NULL) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/x-asciicast");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(k->conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static int
parse_id(const char *p, int64_t *id, const char **rest)
{
	int64_t v = 0;

	if (*p < '1' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	*id = v;
	*rest = p;
	return 0;
}

enum MHD_Result
api_session(srv_call *k, const char *sub)
{
	int get = strcmp(k->method, "GET") == 0, post = strcmp(k->method, "POST") == 0;
	const char *rest;
	int64_t id;
	int handled = 0;
	enum MHD_Result ret;

	if (*sub == 0) {
		if (post)
			return api_session_host_start(k); /* session_host.c */
		if (!get)
			return srv_error(k->conn, 405, "method_not_allowed", NULL, "use GET or POST");
		return list(k);
	}
	if (*sub != '/' || parse_id(sub + 1, &id, &rest) != 0)
		return srv_error(k->conn, 404, "not_found", NULL, "no such API path");
	if (*rest == 0)
		return get ? detail(k, id)
		           : srv_error(k->conn, 405, "method_not_allowed", NULL, "use GET");
	if (strcmp(rest, "/events") == 0)
		return get ? events(k, id)
		           : srv_error(k->conn, 405, "method_not_allowed", NULL, "use GET");
	if (strcmp(rest, "/recording") == 0)
		return get ? recording(k, id)
		           : srv_error(k->conn, 405, "method_not_allowed", NULL, "use GET");
	if (strcmp(rest, "/kill") == 0)
		return post ? kill_session(k, id)
		            : srv_error(k->conn, 405, "method_not_allowed", NULL, "use POST");
	ret = api_session_host_call(k, id, rest, &handled);
	if (handled)
		return ret;
	return srv_error(k->conn, 404, "not_found", NULL, "no such API path");
}

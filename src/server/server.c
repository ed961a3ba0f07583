/* server.c — escortd's HTTP side: the libmicrohttpd daemon (thread pool, limits, TLS),
 * body accumulation with the size cap, authentication (bearer token or session cookie
 * with CSRF), per-identity rate limits, static console files, and the graceful stop. */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/event.h"
#include "audit/log.h"
#include "server/api_session.h"
#include "server/privsep.h"
#include "server/srv_int.h"
#include "util/err.h"

#define API_PREFIX "/api/v1"
#define WORKERS_DEFAULT 4
#define DRAIN_WAIT_S 30
#define DISCARD_MAX ((unsigned long long)16 << 20)

/* Per-connection state for one HTTP request. */
typedef struct srv_req {
	buf body;
	int too_big;
	unsigned long long seen; /* body bytes received */
	int counted; /* counts in S->active */
	srv_job *job; /* an asynchronous run, answered when it is done */
} srv_req;


/* ---- responses ---- */

static void
common_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

static enum MHD_Result
send_json_h(struct MHD_Connection *c, unsigned status, json_t *body, const char *h1,
            const char *v1, const char *h2, const char *v2)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *s = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	size_t n;

	json_decref(body);
	if (s == NULL) {
		s = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
		status = 500;
		if (s == NULL)
			return MHD_NO;
	}
	n = strlen(s);
	s[n] = 0;
	r = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	common_headers(r);
	if (h1)
		MHD_add_response_header(r, h1, v1);
	if (h2)
		MHD_add_response_header(r, h2, v2);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result
srv_send_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
	return send_json_h(c, status, body, NULL, NULL, NULL, NULL);
}

enum MHD_Result
srv_send_error(struct MHD_Connection *c, const srv_err *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "code", json_string(e->code ? e->code : "bad_request"));
	/* messages may quote user input: jansson refuses invalid UTF-8, so fall back */
	if (json_object_set_new(o, "message", json_string(e->msg)) != 0)
		json_object_set_new(o, "message", json_string("(message not printable)"));
	if (e->field[0] && json_object_set_new(o, "field", json_string(e->field)) != 0)
		json_object_set_new(o, "field", json_string("?"));
	if (e->status == 429)
		return send_json_h(c, 429, json_pack("{s:o}", "error", o), "Retry-After", "1", NULL,
		                   NULL);
	return srv_send_json(c, (unsigned)e->status, json_pack("{s:o}", "error", o));
}

enum MHD_Result
srv_error(struct MHD_Connection *c, unsigned status, const char *code, const char *field,
          const char *fmt, ...)
{
	srv_err e;
	va_list ap;

	memset(&e, 0, sizeof(e));
	e.status = (int)status;
	e.code = code;
	snprintf(e.field, sizeof(e.field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	return srv_send_error(c, &e);
}

json_t *
srv_wf_error_json(srv_call *k, int rc, unsigned *status)
{
	const char *m = k->msg.len ? buf_cstr(&k->msg) : esc_strerror(rc);
	const char *code;

	switch (rc) {
	case WF_EREFUSED: *status = 403; code = "forbidden"; break;
	case WF_ENOTFOUND: *status = 404; code = "not_found"; break;
	case WF_ECONFLICT: *status = 409; code = "conflict"; break;
	case ESC_EINVAL:
	case ESC_EPARSE: *status = 400; code = "bad_request"; break;
	case ESC_ETOOBIG: *status = 413; code = "too_large"; break;
	default: *status = 500; code = "internal"; break;
	}
	return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", m);
}

enum MHD_Result
srv_send_wf_error(srv_call *k, int rc, const char *field)
{
	const char *m = k->msg.len ? buf_cstr(&k->msg) : esc_strerror(rc);

	switch (rc) {
	case WF_EREFUSED:
		return srv_error(k->conn, 403, "forbidden", field, "%s", m);
	case WF_ENOTFOUND:
		return srv_error(k->conn, 404, "not_found", field, "%s", m);
	case WF_ECONFLICT:
		return srv_error(k->conn, 409, "conflict", field, "%s", m);
	case ESC_EINVAL:
	case ESC_EPARSE:
		return srv_error(k->conn, 400, "bad_request", field, "%s", m);
	case ESC_ETOOBIG:
		return srv_error(k->conn, 413, "too_large", field, "%s", m);
	default:
		return srv_error(k->conn, 500, "internal", NULL, "%s", m);
	}
}

json_t *
srv_time_json(int64_t us)
{
	char t[32];

	if (us <= 0 || audit_time_format(us, t, sizeof(t)) != 0)
		return json_null();
	return json_string(t);
}

json_t *
srv_roles_json(unsigned roles)
{
	json_t *a = json_array();
	unsigned bit;

	for (bit = 1; bit <= POLICY_ROLE_HOST; bit <<= 1)
		if (roles & bit)
			json_array_append_new(a, json_string(policy_role_name(bit)));
	return a;
}

/* ---- query strings ---- */

struct qctx {
	srv_query *q;
	srv_err *e;
	int rc;
};

static enum MHD_Result
query_it(void *cls, enum MHD_ValueKind kind, const char *key, size_t klen, const char *value,
         size_t vlen)
{
	struct qctx *x = cls;

	(void)kind;
	if (x->rc)
		return MHD_NO;
	if (strlen(key) != klen || !srv_utf8_ok((const unsigned char *)key, klen)) {
		x->rc = srv_fail(x->e, 400, "bad_request", NULL, "a query parameter name is not "
		                 "UTF-8 text");
		return MHD_NO;
	}
	x->rc = srv_query_add(x->q, key, value ? value : "", value ? vlen : 0, x->e);
	return x->rc ? MHD_NO : MHD_YES;
}

int
srv_query_from_conn(srv_call *k, srv_query *q)
{
	struct qctx x = { q, &k->e, 0 };

	memset(q, 0, sizeof(*q));
	MHD_get_connection_values_n(k->conn, MHD_GET_ARGUMENT_KIND, query_it, &x);
	if (x.rc)
		srv_query_free(q);
	return x.rc;
}

/* ---- the workflow handle pool ---- */

/* A handle per concurrent call: a SQLite connection is not shared between threads. A
 * handle whose policy is no longer the one in force is reopened. */
int
srv_pool_get(srv *S, wf **out, char *err, size_t errlen)
{
	srv_wfslot *sl;
	wf *w = NULL;
	int cur = 0;

	*out = NULL;
	pthread_mutex_lock(&S->mu);
	sl = S->pool;
	if (sl)
		S->pool = sl->next;
	pthread_mutex_unlock(&S->mu);
	if (sl) {
		w = sl->w;
		free(sl);
		if (wf_policy_is_current(w, &cur) != 0 || !cur) {
			wf_close(w);
			w = NULL;
		}
	}
	if (w == NULL) {
		int rc = wf_open(&w, S->o.datadir, S->o.lb, err, errlen);

		if (rc)
			return rc;
		wf_set_audit_source(w, srv_alog_acquire, srv_alog_release, S->alog);
	}
	*out = w;
	return 0;
}

void
srv_pool_put(srv *S, wf *w)
{
	srv_wfslot *sl;

	if (w == NULL)
		return;
	if ((sl = malloc(sizeof(*sl))) == NULL) {
		wf_close(w);
		return;
	}
	sl->w = w;
	pthread_mutex_lock(&S->mu);
	sl->next = S->pool;
	S->pool = sl;
	pthread_mutex_unlock(&S->mu);
}

static void
pool_free(srv *S)
{
	srv_wfslot *sl;

	while ((sl = S->pool) != NULL) {
		S->pool = sl->next;
		wf_close(sl->w);
		free(sl);
	}
}

/* ---- rate limits ---- */

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Token bucket per key: rate per second, burst 5 x rate. 1 when allowed. A full table
 * (more distinct keys than buckets nearby) reuses the stalest bucket of the probe run. */
static int
rate_ok(srv *S, const char *key)
{
	double rate = S->o.rate, burst = rate * 5;
	int64_t now = mono_us();
	uint32_t h = fnv1a(key);
	srv_bucket *b = NULL, *stale = NULL;
	int i, ok;

	pthread_mutex_lock(&S->mu);
	for (i = 0; i < 8; i++) {
		srv_bucket *c = &S->buckets[(h + (uint32_t)i) % SRV_BUCKETS];

		if (strcmp(c->key, key) == 0) {
			b = c;
			break;
		}
		/* an empty slot first, else the one unused longest */
		if (stale == NULL || (stale->key[0] != 0 &&
		                      (c->key[0] == 0 || c->last_us < stale->last_us)))
			stale = c;
	}
	if (b == NULL) {
		b = stale;
		snprintf(b->key, sizeof(b->key), "%s", key);
		b->tokens = burst;
		b->last_us = now;
	}
	b->tokens += (double)(now - b->last_us) / 1e6 * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_us = now;
	ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	pthread_mutex_unlock(&S->mu);
	return ok;
}

/* ---- authentication ---- */

/* The value of cookie name in the Cookie header, copied into out; 0 when absent. */
static int
cookie_value(struct MHD_Connection *c, const char *name, char *out, size_t outlen)
{
	const char *v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, name);

	if (v == NULL || strlen(v) >= outlen)
		return 0;
	snprintf(out, outlen, "%s", v);
	return 1;
}

static int
is_write(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

static void
client_addr(struct MHD_Connection *c, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, n, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)n);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
		          (socklen_t)n);
}

/* A failed authentication also costs the client address a token: guessing tokens or
 * session cookies is slowed to the rate limit (429). 1 when the client is over it. */
static int
auth_fail_limited(srv_call *k)
{
	char addr[64], rk[80];

	client_addr(k->conn, addr, sizeof(addr));
	snprintf(rk, sizeof(rk), "ip:%s", addr);
	return !rate_ok(k->S, rk);
}

/* Sets k->who/id from the bearer token or the session cookie. 0, or an error sent. */
static int
authenticate(srv_call *k, enum MHD_Result *ret)
{
	const char *auth = MHD_lookup_connection_value(k->conn, MHD_HEADER_KIND, "Authorization");
	const char *csrf;
	char rk[SRV_NAME_MAX + 8];
	int rc;

	buf_reset(&k->msg);
	if (auth != NULL) {
		if (strncasecmp(auth, "Bearer ", 7) != 0) {
			*ret = srv_error(k->conn, 401, "unauthorized", "Authorization", "the Authorization "
			                 "header must be 'Bearer <token>'");
			return -1;
		}
		auth += 7;
		while (*auth == ' ')
			auth++;
		rc = wf_authenticate(k->w, auth, k->who, sizeof(k->who), &k->msg);
		if (rc == WF_EREFUSED) {
			*ret = auth_fail_limited(k)
			           ? srv_error(k->conn, 429, "rate_limited", NULL, "too many failed "
			                       "authentications; slow down")
			           : srv_error(k->conn, 401, "unauthorized", NULL, "the bearer token is "
			                       "not valid (unknown or revoked)");
			return -1;
		}
		if (rc == ESC_EINVAL) { /* no policy loaded yet */
			*ret = srv_error(k->conn, 503, "unavailable", NULL, "%s", buf_cstr(&k->msg));
			return -1;
		}
		if (rc) {
			*ret = srv_send_wf_error(k, rc, NULL);
			return -1;
		}
	} else if (cookie_value(k->conn, SRV_COOKIE, k->session, sizeof(k->session))) {
		rc = wf_session_lookup(k->w, k->session, &k->se, &k->msg);
		if (rc == WF_EREFUSED && auth_fail_limited(k)) {
			*ret = srv_error(k->conn, 429, "rate_limited", NULL, "too many failed "
			                 "authentications; slow down");
			return -1;
		}
		if (rc) {
			*ret = rc == WF_EREFUSED
			           ? srv_error(k->conn, 401, "unauthorized", NULL, "%s", buf_cstr(&k->msg))
			           : srv_send_wf_error(k, rc, NULL);
			return -1;
		}
		snprintf(k->who, sizeof(k->who), "%s", k->se.identity);
		k->via_session = 1;
		if (is_write(k->method)) {
			csrf = MHD_lookup_connection_value(k->conn, MHD_HEADER_KIND, "X-CSRF-Token");
			if (csrf == NULL || strlen(csrf) != WF_SESSION_TOKEN_LEN ||
			    sodium_memcmp(csrf, k->se.csrf, WF_SESSION_TOKEN_LEN) != 0) {
				*ret = srv_error(k->conn, 403, "forbidden", "X-CSRF-Token", "a request made "
				                 "with the session cookie needs the X-CSRF-Token header "
				                 "returned by login");
				return -1;
			}
		}
	} else {
		*ret = srv_error(k->conn, 401, "unauthorized", "Authorization", "authentication "
		                 "required: 'Authorization: Bearer <token>' or a console session");
		return -1;
	}
	k->id = policy_identity_find(wf_policy(k->w), k->who);
	if (k->id == NULL) {
		*ret = srv_error(k->conn, 401, "unauthorized", NULL, "%s is not an identity in the "
		                 "policy in force", k->who);
		return -1;
	}
	snprintf(rk, sizeof(rk), "id:%s", k->who);
	if (!rate_ok(k->S, rk)) {
		*ret = srv_error(k->conn, 429, "rate_limited", NULL, "too many requests from %s; "
		                 "slow down", k->who);
		return -1;
	}
	return 0;
}

/* ---- login / logout (before authentication) ---- */

static enum MHD_Result
do_login(srv_call *k)
{
	srv_login L;
	char token[WF_SESSION_TOKEN_LEN + 1], csrf[WF_SESSION_TOKEN_LEN + 1];
	char cookie[256], addr[64], rk[80];
	int64_t expires = 0, totp_us = 0;
	int rc, enrolled = 0, need_totp;
	enum MHD_Result ret;

	client_addr(k->conn, addr, sizeof(addr));
	snprintf(rk, sizeof(rk), "ip:%s", addr);
	/* login guesses are what a rate limit is for: per client address */
	if (!rate_ok(k->S, rk))
		return srv_error(k->conn, 429, "rate_limited", NULL, "too many login attempts; "
		                 "slow down");
	if (srv_parse_login(k->body, k->blen, &L, &k->e) != 0)
		return srv_send_error(k->conn, &k->e);
	rc = wf_authenticate(k->w, L.token, k->who, sizeof(k->who), &k->msg);
	if (rc) {
		srv_json_free(&L.root);
		if (rc == WF_EREFUSED)
			return srv_error(k->conn, 401, "unauthorized", "token", "the token is not valid "
			                 "(unknown or revoked)");
		return srv_error(k->conn, rc == ESC_EINVAL ? 503 : 500,
		                 rc == ESC_EINVAL ? "unavailable" : "internal", NULL, "%s",
		                 buf_cstr(&k->msg));
	}
	k->id = policy_identity_find(wf_policy(k->w), k->who);
	need_totp = k->id && policy_identity_has_role(k->id, POLICY_ROLE_ESCORT |
	                                                         POLICY_ROLE_REVIEWER |
	                                                         POLICY_ROLE_ADMIN);
	buf_reset(&k->msg);
	if ((rc = wf_totp_enrolled(k->w, k->who, &enrolled, &k->msg)) != 0) {
		srv_json_free(&L.root);
		return srv_send_wf_error(k, rc, NULL);
	}
	if (need_totp && !enrolled) {
		srv_json_free(&L.root);
		return srv_error(k->conn, 403, "forbidden", "totp", "%s needs TOTP to log in but is "
		                 "not enrolled (the data directory owner runs 'escort user totp %s')",
		                 k->who, k->who);
	}
	if (need_totp || (enrolled && L.totp)) {
		if (L.totp == NULL) {
			srv_json_free(&L.root);
			return srv_error(k->conn, 401, "unauthorized", "totp", "a TOTP code is required "
			                 "for %s", k->who);
		}
		rc = wf_totp_verify(k->w, k->who, L.totp, audit_time_now(), &k->msg);
		if (rc) {
			srv_json_free(&L.root);
			if (rc == WF_EREFUSED)
				return srv_error(k->conn, 401, "unauthorized", "totp", "%s", buf_cstr(&k->msg));
			return srv_send_wf_error(k, rc, NULL);
		}
		totp_us = audit_time_now();
	}
	srv_json_free(&L.root);
	buf_reset(&k->msg);
	rc = wf_session_create(k->w, k->S->o.datadir, k->who, totp_us, SRV_SESSION_LIFETIME_S,
	                       token, csrf, &expires, &k->msg);
	if (rc)
		return srv_send_wf_error(k, rc, NULL);
	snprintf(cookie, sizeof(cookie), "%s=%s; HttpOnly; Secure; SameSite=Strict; Path=/; "
	         "Max-Age=%d", SRV_COOKIE, token, SRV_SESSION_LIFETIME_S);
	ret = send_json_h(k->conn, 200,
	                  json_pack("{s:s, s:o, s:s, s:o, s:b}", "identity", k->who, "roles",
	                            srv_roles_json(k->id ? k->id->roles : 0), "csrf", csrf,
	                            "expires", srv_time_json(expires), "totp", totp_us != 0),
	                  "Set-Cookie", cookie, NULL, NULL);
	sodium_memzero(token, sizeof(token));
	sodium_memzero(cookie, sizeof(cookie));
	return ret;
}

static enum MHD_Result
do_logout(srv_call *k)
{
	int rc = 0;

	if (k->via_session)
		rc = wf_session_end(k->w, k->session, &k->msg);
	if (rc)
		return srv_send_wf_error(k, rc, NULL);
	return send_json_h(k->conn, 200, json_pack("{s:b}", "ok", 1), "Set-Cookie",
	                   SRV_COOKIE "=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0",
	                   NULL, NULL);
}

/* ---- static console files ---- */

static const char *
mime_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot == NULL)
		return "application/octet-stream";
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(dot, ".js") == 0 || strcmp(dot, ".mjs") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".json") == 0)
		return "application/json";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	if (strcmp(dot, ".png") == 0)
		return "image/png";
	if (strcmp(dot, ".ico") == 0)
		return "image/x-icon";
	if (strcmp(dot, ".txt") == 0)
		return "text/plain; charset=utf-8";
	return "application/octet-stream";
}

static enum MHD_Result
serve_static(srv *S, struct MHD_Connection *c, const char *method, const char *url)
{
	char path[4096];
	const char *rel = url + 1, *p;
	struct MHD_Response *r;
	struct stat st;
	enum MHD_Result ret;
	int fd;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return srv_error(c, 405, "method_not_allowed", NULL, "only GET here");
	if (S->o.web_dir == NULL)
		return srv_error(c, 404, "not_found", NULL, "no console is served here (start with "
		                 "--web DIR)");
	if (*rel == 0)
		rel = "index.html";
	/* no hidden files, no parent directories, no odd bytes */
	for (p = rel; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.' || *p == '/') ||
		    (*p == '.' && (p == rel || p[-1] == '/')))
			return srv_error(c, 404, "not_found", NULL, "no such file");
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", S->o.web_dir, rel) >= sizeof(path))
		return srv_error(c, 404, "not_found", NULL, "no such file");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s/index.html", S->o.web_dir, rel) >=
		    sizeof(path))
			return srv_error(c, 404, "not_found", NULL, "no such file");
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return srv_error(c, 404, "not_found", NULL, "no such file");
	}
	r = MHD_create_response_from_fd((size_t)st.st_size, fd);
	if (r == NULL) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", mime_of(path));
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	/* Only the replay page's player (vendored asciinema-player) needs WebAssembly and
	 * inline styles; every other page keeps the strict policy, whatever its own <meta>. */
	MHD_add_response_header(r, "Content-Security-Policy",
	                        strcmp(rel, "session-replay.html") == 0 ?
	                        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
	                        "style-src 'self' 'unsafe-inline'; "
	                        "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
	                        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'" :
	                        "default-src 'self'; script-src 'self'; style-src 'self'; "
	                        "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
	                        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- asynchronous runs ---- */

void
srv_job_free(srv_job *j)
{
	if (j == NULL)
		return;
	json_decref(j->body);
	srv_create_free(&j->c);
	wf_deferred_free(j->dq);
	wf_created_clear(&j->kept);
	wf_prepared_free(j->prep);
	buf_free(&j->msg);
	free(j);
}

static void *
job_main(void *arg)
{
	srv_job *j = arg;
	srv *S = j->S;
	srv_call k;
	char err[1024] = "";
	int rc, state = 0;
	json_t *body = NULL;
	unsigned status = 500;

	memset(&k, 0, sizeof(k));
	k.S = S;
	buf_init(&k.msg, 64 * 1024);
	snprintf(k.who, sizeof(k.who), "%s", j->who);
	if ((rc = srv_pool_get(S, &k.w, err, sizeof(err))) != 0) {
		body = json_pack("{s:{s:s, s:s}}", "error", "code", "unavailable", "message", err);
		status = 503;
	} else if ((k.id = policy_identity_find(wf_policy(k.w), k.who)) == NULL) {
		body = json_pack("{s:{s:s, s:s}}", "error", "code", "unauthorized", "message",
		                 "the identity left the policy in force");
		status = 401;
	} else {
		rc = wf_request_run(k.w, k.who, j->id, &state, &k.msg);
		/* a run that happened but whose command failed is still a result to show */
		if (rc && state == WF_FAILED)
			rc = 0;
		body = rc ? srv_wf_error_json(&k, rc, &status) : api_request_body(&k, j->id, &status);
	}
	srv_pool_put(S, k.w);
	buf_free(&k.msg);
	pthread_mutex_lock(&S->mu);
	j->body = body;
	j->status = body ? status : 500;
	j->done = 1;
	MHD_resume_connection(j->conn);
	S->jobs--;
	pthread_cond_broadcast(&S->idle);
	pthread_mutex_unlock(&S->mu);
	return NULL;
}

enum MHD_Result
srv_run_async(srv_call *k, int64_t id)
{
	srv_job *j = calloc(1, sizeof(*j));
	pthread_attr_t at;
	pthread_t th;
	int rc;

	if (j == NULL)
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	j->S = k->S;
	j->conn = k->conn;
	j->id = id;
	snprintf(j->who, sizeof(j->who), "%s", k->who);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	/* suspend first: the job may finish and resume before this function returns */
	pthread_mutex_lock(&k->S->mu);
	*k->job = j;
	MHD_suspend_connection(k->conn);
	k->S->jobs++;
	rc = pthread_create(&th, &at, job_main, j);
	if (rc != 0) {
		k->S->jobs--;
		j->done = 1;
		j->status = 503;
		j->body = json_pack("{s:{s:s, s:s}}", "error", "code", "unavailable", "message",
		                    "cannot start the run now; try again");
		MHD_resume_connection(k->conn);
	}
	pthread_mutex_unlock(&k->S->mu);
	pthread_attr_destroy(&at);
	return MHD_YES;
}

/* ---- the access handler ---- */

static enum MHD_Result
handle_api(srv *S, struct MHD_Connection *c, const char *method, const char *url,
           srv_req *rq)
{
	srv_call k;
	char err[1024] = "";
	const char *ct;
	enum MHD_Result ret = MHD_NO;
	int rc;

	memset(&k, 0, sizeof(k));
	k.S = S;
	k.conn = c;
	k.method = method;
	k.path = url + strlen(API_PREFIX);
	k.body = rq->body.data ? (const char *)rq->body.data : "";
	k.blen = rq->body.len;
	k.job = &rq->job;
	buf_init(&k.msg, 64 * 1024);
	if (k.path[0] == 0)
		k.path = "/";
	if (k.blen > 0 && strcmp(k.path, "/policy") != 0) {
		ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
		if (ct && strncasecmp(ct, "application/json", 16) != 0)
			return srv_error(c, 415, "unsupported_media_type", "Content-Type", "the body must "
			                 "be application/json");
	}
	/* privilege separation: no changes once the signer or the broker is gone */
	if (strcmp(method, "GET") != 0 && privsep_unavailable(&ct))
		return srv_error(c, 503, "unavailable", NULL, "the %s process is gone; restart "
		                 "escort serve (docs/privsep.md)", ct);
	if ((rc = srv_pool_get(S, &k.w, err, sizeof(err))) != 0)
		return srv_error(c, 503, "unavailable", NULL, "cannot open the data directory: %s",
		                 err);
	if (strcmp(k.path, "/login") == 0) {
		ret = strcmp(method, "POST") == 0
		          ? do_login(&k)
		          : srv_error(c, 405, "method_not_allowed", NULL, "use POST");
		goto out;
	}
	if (authenticate(&k, &ret) != 0)
		goto out;
	if (strcmp(k.path, "/logout") == 0) {
		ret = strcmp(method, "POST") == 0
		          ? do_logout(&k)
		          : srv_error(c, 405, "method_not_allowed", NULL, "use POST");
		goto out;
	}
	if (strcmp(k.path, "/events") == 0) {
		if (strcmp(method, "GET") != 0)
			ret = srv_error(c, 405, "method_not_allowed", NULL, "use GET");
		else
			ret = sse_subscribe(S->hub, c, k.who,
			                    policy_identity_has_role(k.id, POLICY_ROLE_ESCORT |
			                                                       POLICY_ROLE_REVIEWER |
			                                                       POLICY_ROLE_AUDITOR |
			                                                       POLICY_ROLE_ADMIN));
		goto out;
	}
	ret = api_dispatch(&k);
out:
	store_session_clear(&k.se);
	sodium_memzero(k.session, sizeof(k.session));
	buf_free(&k.msg);
	srv_pool_put(S, k.w);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	srv *S = cls;
	srv_req *rq = *con_cls;
	const char *cl;
	char *end;
	unsigned long long n;
	int stopping;

	(void)version;
	if (rq == NULL) {
		if ((rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		buf_init(&rq->body, S->o.max_body);
		*con_cls = rq;
		pthread_mutex_lock(&S->mu);
		rq->counted = 1;
		S->active++;
		stopping = S->stopping;
		pthread_mutex_unlock(&S->mu);
		if (stopping)
			return srv_error(c, 503, "unavailable", NULL, "the server is shutting down");
		/* refuse an announced oversize body before reading a byte of it */
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl) {
			errno = 0;
			n = strtoull(cl, &end, 10);
			/* a moderately oversize body is read and dropped so the client, still
			 * sending, sees the 413 rather than a reset; a huge one is refused at once */
			if (errno == 0 && *end == 0 && n > DISCARD_MAX)
				return srv_error(c, 413, "too_large", NULL, "the body is larger than %zu "
				                 "bytes", S->o.max_body);
			if (errno == 0 && *end == 0 && n > S->o.max_body) {
				rq->too_big = 1;
				buf_free(&rq->body);
			}
		}
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->too_big && buf_put(&rq->body, upload, *upload_size) != 0) {
			rq->too_big = 1;
			buf_free(&rq->body);
		}
		rq->seen += *upload_size;
		*upload_size = 0;
		if (rq->too_big && rq->seen > DISCARD_MAX) /* chunked and endless: stop reading */
			return srv_error(c, 413, "too_large", NULL, "the body is larger than %zu bytes",
			                 S->o.max_body);
		return MHD_YES;
	}
	if (rq->job) {
		srv_job *j = rq->job;
		json_t *body;

		pthread_mutex_lock(&S->mu);
		if (!j->done) { /* not ours to answer yet */
			pthread_mutex_unlock(&S->mu);
			return MHD_YES;
		}
		if (j->create) {
			pthread_mutex_unlock(&S->mu);
			return api_create_done(S, c, j);
		}
		body = j->body;
		j->body = NULL;
		pthread_mutex_unlock(&S->mu);
		return srv_send_json(c, j->status, body);
	}
	if (rq->too_big)
		return srv_error(c, 413, "too_large", NULL, "the body is larger than %zu bytes",
		                 S->o.max_body);
	if (strncmp(url, API_PREFIX, strlen(API_PREFIX)) == 0 &&
	    (url[strlen(API_PREFIX)] == 0 || url[strlen(API_PREFIX)] == '/'))
		return handle_api(S, c, method, url, rq);
	if (strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0)
		return srv_error(c, 404, "not_found", NULL, "no such API path (the API is under "
		                 API_PREFIX ")");
	return serve_static(S, c, method, url);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	srv *S = cls;
	srv_req *rq = *con_cls;

	(void)c;
	(void)toe;
	if (rq == NULL)
		return;
	buf_free(&rq->body);
	srv_job_free(rq->job);
	if (rq->counted) {
		pthread_mutex_lock(&S->mu);
		if (S->active)
			S->active--;
		pthread_cond_broadcast(&S->idle);
		pthread_mutex_unlock(&S->mu);
	}
	free(rq);
	*con_cls = NULL;
}

/* ---- listening ---- */

int
srv_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" -> host, port. */
static int
split_listen(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':' || (size_t)(rb - s - 1) >= hlen)
			return -1;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = 0;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= hlen || colon == s)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
	}
	if (strlen(colon + 1) == 0 || strlen(colon + 1) >= plen ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	snprintf(port, plen, "%s", colon + 1);
	return 0;
}

static int
open_listener(const char *host, const char *port, int *fd_out, char *url, size_t urllen,
              int tls, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char h[INET6_ADDRSTRLEN];
	int fd = -1, one = 1, rc;
	unsigned p = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | (strcmp(host, "localhost") ? AI_NUMERICHOST : 0);
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "--listen %s:%s: %s", host, port, gai_strerror(rc));
		return ESC_EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
			break;
		snprintf(err, errlen, "cannot listen on %s:%s: %s", host, port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (!err[0])
			snprintf(err, errlen, "cannot listen on %s:%s", host, port);
		return ESC_EIO;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, h, sizeof(h));
			p = ntohs(s4->sin_port);
			snprintf(url, urllen, "%s://%s:%u", tls ? "https" : "http", h, p);
		} else {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof(h));
			p = ntohs(s6->sin6_port);
			snprintf(url, urllen, "%s://[%s]:%u", tls ? "https" : "http", h, p);
		}
	}
	*fd_out = fd;
	return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("escort serve: ", stderr);
	vfprintf(stderr, fmt, ap);
}

int
srv_run(const srv_opts *o, char *err, size_t errlen)
{
	srv *S;
	char host[256], port[16], url[300] = "";
	buf cert = BUF_INIT, key = BUF_INIT;
	sigset_t set, old;
	struct timespec until;
	int lfd = -1, rc = 0, sig = 0;
	unsigned flags;
	wf *probe = NULL;

	err[0] = 0;
	if ((S = calloc(1, sizeof(*S))) == NULL)
		return ESC_ENOMEM;
	S->o = *o;
	if (S->o.threads == 0)
		S->o.threads = WORKERS_DEFAULT;
	if (S->o.max_body == 0)
		S->o.max_body = SRV_DEFAULT_MAX_BODY;
	if (S->o.rate == 0)
		S->o.rate = 20;
	if (S->o.max_conns == 0)
		S->o.max_conns = 256;
	if (S->o.per_ip == 0)
		S->o.per_ip = 32;
	if (S->o.timeout_s == 0)
		S->o.timeout_s = 30;
	if (S->o.listen == NULL)
		S->o.listen = SRV_DEFAULT_LISTEN;
	pthread_mutex_init(&S->mu, NULL);
	pthread_cond_init(&S->idle, NULL);
	/* jansson seeds its hash function lazily; do it before there are threads */
	json_object_seed(0);
	if (split_listen(S->o.listen, host, sizeof(host), port, sizeof(port)) != 0) {
		snprintf(err, errlen, "--listen %s: expected HOST:PORT or [IPV6]:PORT", S->o.listen);
		rc = ESC_EINVAL;
		goto out;
	}
	if ((S->o.tls_cert == NULL) != (S->o.tls_key == NULL)) {
		snprintf(err, errlen, "--tls-cert and --tls-key go together");
		rc = ESC_EINVAL;
		goto out;
	}
	S->tls = S->o.tls_cert != NULL;
	if (!S->tls && !srv_is_loopback(host)) {
		snprintf(err, errlen, "refusing to listen on %s without TLS: give --tls-cert and "
		         "--tls-key (a loopback address may use plain HTTP; 'escort serve --make-cert "
		         "DIR' makes a certificate for trials)", host);
		rc = ESC_EINVAL;
		goto out;
	}
	if (S->tls) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
			snprintf(err, errlen, "this libmicrohttpd has no TLS support");
			rc = ESC_EINVAL;
			goto out;
		}
		buf_init(&cert, 1 << 20);
		buf_init(&key, 1 << 20);
		if (buf_read_file(&cert, S->o.tls_cert) != 0 || buf_read_file(&key, S->o.tls_key) != 0) {
			snprintf(err, errlen, "cannot read %s / %s: %s", S->o.tls_cert, S->o.tls_key,
			         strerror(errno));
			rc = ESC_EIO;
			goto out;
		}
	}
	/* the data directory must work before we announce anything */
	if ((rc = srv_alog_start(&S->alog, S->o.datadir, err, errlen)) != 0 ||
	    (rc = wf_open(&probe, S->o.datadir, S->o.lb, err, errlen)) != 0)
		goto out;
	wf_set_audit_source(probe, srv_alog_acquire, srv_alog_release, S->alog);
	srv_pool_put(S, probe);
	if ((rc = srv_batch_start(&S->batch, S, err, errlen)) != 0)
		goto out;
	if ((rc = sse_hub_start(&S->hub, S->o.datadir, err, errlen)) != 0)
		goto out;
	if ((rc = open_listener(host, port, &lfd, url, sizeof(url), S->tls, err, errlen)) != 0)
		goto out;
	/* every thread started from here on inherits the mask; the main thread takes the
	 * signals with sigwait */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	        MHD_USE_ERROR_LOG;
	if (S->tls)
		flags |= MHD_USE_TLS;
	{
		struct MHD_OptionItem opts[] = {
			{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL },
			{ MHD_OPTION_LISTEN_SOCKET, lfd, NULL },
			{ MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)S->o.threads, NULL },
			{ MHD_OPTION_CONNECTION_LIMIT, (intptr_t)S->o.max_conns, NULL },
			{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)S->o.per_ip, NULL },
			{ MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)S->o.timeout_s, NULL },
			/* libmicrohttpd zeroes a connection's pool for every request: 32 KiB (its
			 * default) holds any sane header set and costs half of 64 */
			{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)(32 * 1024), NULL },
			{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, S },
			{ S->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0,
			  S->tls ? cert.data : NULL },
			{ S->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, S->tls ? key.data : NULL },
			{ MHD_OPTION_END, 0, NULL },
		};

		S->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, S, MHD_OPTION_ARRAY, opts,
		                        MHD_OPTION_END);
	}
	if (S->d == NULL) {
		snprintf(err, errlen, "cannot start the HTTP daemon on %s%s", url,
		         S->tls ? " (check the certificate and key)" : "");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		rc = ESC_EIO;
		goto out;
	}
	lfd = -1; /* the daemon owns it now */
	(void)srv_alog_append(S->alog, "server.started", AUDIT_ACTOR_LOG,
	                      json_pack("{s:s, s:I}", "url", url, "pid", (json_int_t)getpid()),
	                      err, errlen);
	err[0] = 0;
	fprintf(stderr, "escort serve: listening on %s\n", url);
	fflush(stderr);
	while (sigwait(&set, &sig) == 0 && sig == SIGPIPE)
		;
	fprintf(stderr, "escort serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* stop accepting, end event streams, let the calls in flight finish */
	{
		MHD_socket ls = MHD_quiesce_daemon(S->d);

		if (ls != MHD_INVALID_SOCKET)
			close(ls);
	}
	pthread_mutex_lock(&S->mu);
	S->stopping = 1;
	pthread_mutex_unlock(&S->mu);
	sse_hub_stop(S->hub);
	api_session_stop(S); /* sessions held here end (recording, session.end) */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DRAIN_WAIT_S;
	pthread_mutex_lock(&S->mu);
	if (S->jobs > 0)
		fprintf(stderr, "escort serve: waiting for %u run(s) or creation(s) to finish\n",
		        S->jobs);
	/* calls get DRAIN_WAIT_S to finish; a run is never abandoned halfway (and its
	 * suspended connection must be resumed before the daemon stops), so runs are
	 * waited for as long as they take */
	for (;;) {
		if (S->jobs > 0)
			pthread_cond_wait(&S->idle, &S->mu);
		else if (S->active == 0 ||
		         pthread_cond_timedwait(&S->idle, &S->mu, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&S->mu);
	MHD_stop_daemon(S->d);
	S->d = NULL;
	srv_batch_stop(S->batch);
	S->batch = NULL;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	rc = srv_alog_append(S->alog, "server.stopped", AUDIT_ACTOR_LOG,
	                     json_pack("{s:s, s:s}", "url", url, "signal",
	                               sig == SIGINT ? "SIGINT" : "SIGTERM"),
	                     err, errlen);
	/* no wf handle holds a lease any more: closing the shared log signs the tree head */
	pool_free(S);
	if (srv_alog_stop(S->alog) != 0 && rc == 0) {
		snprintf(err, errlen, "closing the audit log failed (see above)");
		rc = ESC_EIO;
	}
	S->alog = NULL;
	if (rc == 0)
		fprintf(stderr, "escort serve: stopped; audit tree head signed\n");
out:
	if (lfd >= 0)
		close(lfd);
	sse_hub_free(S->hub);
	srv_batch_stop(S->batch);
	pool_free(S);
	(void)srv_alog_stop(S->alog);
	buf_free(&cert);
	if (key.data)
		sodium_memzero(key.data, key.len);
	buf_free(&key);
	pthread_mutex_destroy(&S->mu);
	pthread_cond_destroy(&S->idle);
	free(S);
	return rc;
}

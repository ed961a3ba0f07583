/* session_host.c — escorted sessions held by escortd itself (issue 8): the operator's CLI
 * (`escort session start --server URL`) only edits lines and shows what comes back; the
 * session (sess_*: decisions, shell, recording) lives here; under privilege separation
 * its shell lives in the broker process (wf_shell_*, docs/privsep.md "Sessions"). An
 * idle session costs its structs, its shell's descriptors (two pipes, or the channel to
 * the broker) and its recording's: no thread, no workflow handle, no buffer. A line runs
 * in a thread of its own; one reaper thread for all sessions notices kill switches pulled
 * elsewhere, shells that died and operators that went away. */
#include "server/api_session.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "session/session.h"
#include "util/err.h"

#define HOST_MAX 8192                      /* sessions held at once */
#define HOST_OUTBOX_MAX ((size_t)4 << 20)  /* operator output not yet fetched */
#define HOST_IDLE_US ((int64_t)600 * 1000000) /* no call from the operator: ended */
#define HOST_CHECK_MS 1000                 /* reaper round */

/* Outbox events: type(1) length(4, little endian) bytes. */
enum { EV_OUTPUT = 'o', EV_NOTICE = 'n', EV_DONE = 'd', EV_END = 'e' };

typedef struct hosted {
	struct hosted *next;
	sess *s;      /* NULL once ended */
	int64_t id;
	char actor[SRV_NAME_MAX];
	int busy;     /* a thread (its line, the reaper, an API call) works on s */
	int running;  /* its line thread exists */
	int intr;     /* Ctrl-C for the running line */
	int want_end; /* end after the running line */
	const char *end_why; /* (a literal) why, then */
	buf ob;       /* events for the operator, from offset ob_base */
	uint64_t ob_base;
	uint64_t dropped;
	int64_t seen_us; /* the operator's last call */
} hosted;

/* One escortd per process: its held sessions live here, guarded by mu (the sessions'
 * own work runs outside it, owned through `busy`). */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	hosted *list;
	size_t n;
	size_t threads; /* line threads */
	srv *S;
	pthread_t reaper;
	int reaper_on;
	int stopping;
} H = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, NULL, 0, 0, 0 };

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* With H.mu held. Over the cap the oldest events go (the operator was not reading). */
static void
ob_put(hosted *h, int type, const void *p, size_t n)
{
	unsigned char hd[5];

	if (n > HOST_OUTBOX_MAX / 2)
		n = HOST_OUTBOX_MAX / 2;
	while (h->ob.len && h->ob.len + n + 5 > HOST_OUTBOX_MAX) {
		uint32_t l;

		memcpy(&l, h->ob.data + 1, 4);
		h->ob_base += 5 + (uint64_t)l;
		h->dropped += l;
		buf_consume(&h->ob, 5 + (size_t)l);
	}
	hd[0] = (unsigned char)type;
	hd[1] = (unsigned char)(n & 0xff);
	hd[2] = (unsigned char)((n >> 8) & 0xff);
	hd[3] = (unsigned char)((n >> 16) & 0xff);
	hd[4] = (unsigned char)((n >> 24) & 0xff);
	if (buf_put(&h->ob, hd, 5) == 0 && buf_put(&h->ob, p, n) != 0)
		buf_truncate(&h->ob, h->ob.len - 5);
}

static void
ui_output(void *ctx, const unsigned char *p, size_t n)
{
	hosted *h = ctx;

	pthread_mutex_lock(&H.mu);
	ob_put(h, EV_OUTPUT, p, n);
	pthread_mutex_unlock(&H.mu);
}

static void
ui_notice(void *ctx, const char *text)
{
	hosted *h = ctx;

	pthread_mutex_lock(&H.mu);
	ob_put(h, EV_NOTICE, text, strlen(text));
	pthread_mutex_unlock(&H.mu);
}

static int
ui_interrupted(void *ctx)
{
	hosted *h = ctx;
	int r;

	pthread_mutex_lock(&H.mu);
	r = h->intr || H.stopping;
	h->intr = 0;
	pthread_mutex_unlock(&H.mu);
	return r;
}

/* The session itself was ended and freed by end_it (h->s NULL), except when escortd
 * stops without a store to end it in: then it is left to the process's exit. */
static void
hosted_free(hosted *h)
{
	if (h == NULL)
		return;
	buf_free(&h->ob);
	free(h);
}

/* With H.mu held. */
static void
unlink_hosted(hosted *h)
{
	hosted **pp;

	for (pp = &H.list; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			H.n--;
			return;
		}
	}
}

/* With H.mu held: waits until nobody works on h. */
static void
wait_idle(hosted *h)
{
	while (h->busy)
		pthread_cond_wait(&H.cv, &H.mu);
}

/* Ends the session (h->busy held by the caller, H.mu not held), with w bound. */
static void
end_it(hosted *h, wf *w, const char *reason)
{
	buf m = BUF_INIT;
	char text[600];

	sess_bind(h->s, w);
	if (sess_end(h->s, reason, &m) != 0)
		fprintf(stderr, "escort serve: ending session %" PRId64 ": %s\n", h->id, buf_cstr(&m));
	sess_bind(h->s, NULL);
	sess_free(h->s);
	snprintf(text, sizeof(text), "%s", reason);
	pthread_mutex_lock(&H.mu);
	h->s = NULL;
	ob_put(h, EV_END, text, strlen(text));
	pthread_mutex_unlock(&H.mu);
	buf_free(&m);
}

/* ---- the reaper ---- */

static void *
reaper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&H.mu);
	while (!H.stopping) {
		struct timespec until;
		hosted *h, *next;
		wf *w = NULL;
		char err[512];

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += HOST_CHECK_MS / 1000;
		while (!H.stopping && pthread_cond_timedwait(&H.cv, &H.mu, &until) != ETIMEDOUT)
			;
		if (H.stopping)
			break;
		for (h = H.list; h && !H.stopping; h = next) {
			int64_t now = now_us();
			int gone, r;

			gone = now - h->seen_us > HOST_IDLE_US;
			if (h->busy) {
				/* a line waiting for escorts nobody will see run: withdrawn, and the
				 * session ends after it */
				if (gone && h->running && !h->want_end) {
					h->want_end = h->intr = 1;
					h->end_why = "the operator's client went away";
				}
				next = h->next;
				continue;
			}
			if (h->s == NULL) {
				/* ended, and the operator never came for the end */
				next = h->next;
				if (gone) {
					unlink_hosted(h);
					hosted_free(h);
				}
				continue;
			}
			h->busy = 1;
			pthread_mutex_unlock(&H.mu);
			if (w == NULL && srv_pool_get(H.S, &w, err, sizeof(err)) != 0)
				w = NULL;
			if (w) {
				if (gone)
					end_it(h, w, "the operator's client went away");
				else {
					sess_bind(h->s, w);
					r = sess_check(h->s);
					sess_bind(h->s, NULL);
					if (r == SESS_ENDED)
						end_it(h, w, sess_killed(h->s) ? "killed" : "the shell ended");
				}
			}
			pthread_mutex_lock(&H.mu);
			h->busy = 0;
			pthread_cond_broadcast(&H.cv);
			next = h->next; /* h stays linked while busy */
		}
		if (w) {
			pthread_mutex_unlock(&H.mu);
			srv_pool_put(H.S, w);
			pthread_mutex_lock(&H.mu);
		}
	}
	pthread_mutex_unlock(&H.mu);
	return NULL;
}

/* ---- calls ---- */

static hosted *
find(int64_t id)
{
	hosted *h;

	for (h = H.list; h; h = h->next)
		if (h->id == id)
			return h;
	return NULL;
}

/* Each held session holds three descriptors: the soft limit goes up to the hard one
 * (with H.mu held, once). */
static void
raise_nofile(void)
{
	static int done;
	struct rlimit rl;

	if (done)
		return;
	done = 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static json_t *
body_object(srv_call *k, enum MHD_Result *ret)
{
	json_error_t je;
	json_t *root;

	if (k->blen == 0)
		return json_object();
	if ((root = json_loadb(k->body, k->blen, JSON_REJECT_DUPLICATES, &je)) == NULL ||
	    !json_is_object(root)) {
		json_decref(root);
		*ret = srv_error(k->conn, 400, "bad_request", NULL, "the body is not a JSON object");
		return NULL;
	}
	return root;
}

/* POST /sessions {"target", "ticket"?, "width"?, "height"?} */
enum MHD_Result
api_session_host_start(srv_call *k)
{
	enum MHD_Result ret = MHD_NO;
	json_t *root, *v;
	const char *target, *ticket = NULL;
	json_int_t width = 0, height = 0;
	hosted *h = NULL;
	sess_ui ui;
	sess *s = NULL;
	int rc;

	if ((root = body_object(k, &ret)) == NULL)
		return ret;
	v = json_object_get(root, "target");
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 255) {
		json_decref(root);
		return srv_error(k->conn, 400, "bad_request", "target", "target: the target's name");
	}
	target = json_string_value(v);
	if ((v = json_object_get(root, "ticket")) != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) > 255) {
			json_decref(root);
			return srv_error(k->conn, 400, "bad_request", "ticket", "ticket: a string");
		}
		ticket = json_string_value(v);
	}
	if ((v = json_object_get(root, "width")) != NULL)
		width = json_is_integer(v) ? json_integer_value(v) : -1;
	if ((v = json_object_get(root, "height")) != NULL)
		height = json_is_integer(v) ? json_integer_value(v) : -1;
	if (width < 0 || width > 10000 || height < 0 || height > 10000) {
		json_decref(root);
		return srv_error(k->conn, 400, "bad_request", "width", "width, height: the operator's "
		                 "terminal size (0..10000)");
	}
	pthread_mutex_lock(&H.mu);
	rc = H.stopping ? 1 : H.n >= HOST_MAX ? 2 : 0;
	pthread_mutex_unlock(&H.mu);
	if (rc) {
		json_decref(root);
		return srv_error(k->conn, 503, "unavailable", NULL, rc == 1 ? "the server is stopping"
		                 : "the server holds as many sessions as it may (%d)", HOST_MAX);
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		json_decref(root);
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	}
	buf_init(&h->ob, HOST_OUTBOX_MAX + 64);
	snprintf(h->actor, sizeof(h->actor), "%s", k->who);
	h->seen_us = now_us();
	memset(&ui, 0, sizeof(ui));
	ui.output = ui_output;
	ui.notice = ui_notice;
	ui.interrupted = ui_interrupted;
	ui.ctx = h;
	ui.width = (unsigned)width;
	ui.height = (unsigned)height;
	pthread_mutex_lock(&H.mu);
	raise_nofile();
	pthread_mutex_unlock(&H.mu);
	buf_reset(&k->msg);
	rc = sess_start(&s, k->w, k->who, target, ticket, &ui, &k->msg);
	json_decref(root);
	if (rc) {
		hosted_free(h);
		return srv_send_wf_error(k, rc, NULL);
	}
	sess_bind(s, NULL);
	h->s = s;
	h->id = sess_id(s);
	pthread_mutex_lock(&H.mu);
	if (H.stopping) {
		pthread_mutex_unlock(&H.mu);
		h->busy = 1;
		end_it(h, k->w, "escortd is stopping");
		hosted_free(h);
		return srv_error(k->conn, 503, "unavailable", NULL, "the server is stopping");
	}
	h->next = H.list;
	H.list = h;
	H.n++;
	H.S = k->S;
	if (!H.reaper_on && pthread_create(&H.reaper, NULL, reaper_main, NULL) == 0)
		H.reaper_on = 1;
	pthread_mutex_unlock(&H.mu);
	{
		store_isession se;
		json_t *o;

		buf_reset(&k->msg);
		if ((rc = wf_isession_get(k->w, k->who, h->id, &se, &k->msg)) != 0)
			return srv_send_wf_error(k, rc, NULL);
		o = api_session_json(k, &se);
		store_isession_clear(&se);
		if (o == NULL)
			return srv_error(k->conn, 500, "internal", NULL, "out of memory");
		json_object_set_new(o, "held_by_server", json_true());
		return srv_send_json(k->conn, 201, o);
	}
}

/* The held session id of the caller, with H.mu held; NULL with an error sent. */
static hosted *
mine(srv_call *k, int64_t id, enum MHD_Result *ret)
{
	hosted *h = find(id);

	if (h == NULL || strcmp(h->actor, k->who) != 0) {
		*ret = srv_error(k->conn, 404, "not_found", NULL, "session %" PRId64 " is not one of "
		                 "yours held by this server", id);
		return NULL;
	}
	h->seen_us = now_us();
	return h;
}

struct line_job {
	hosted *h;
	size_t len;
	unsigned char line[];
};

static void *
line_main(void *arg)
{
	struct line_job *j = arg;
	hosted *h = j->h;
	wf *w = NULL;
	buf m = BUF_INIT;
	char err[512] = "", done[32];
	const char *why;
	int rc, over = 0, want_end, stopping;

	if ((rc = srv_pool_get(H.S, &w, err, sizeof(err))) != 0) {
		ui_notice(h, "the server cannot reach its store now; the line did not run");
	} else {
		sess_bind(h->s, w);
		rc = sess_line(h->s, j->line, j->len, &m);
		sess_bind(h->s, NULL);
		if (rc < 0)
			ui_notice(h, m.len ? buf_cstr(&m) : esc_strerror(rc));
		over = rc == SESS_ENDED;
	}
	pthread_mutex_lock(&H.mu);
	stopping = H.stopping;
	want_end = h->want_end || stopping;
	why = stopping ? "escortd is stopping" : h->end_why ? h->end_why : "the operator ended it";
	pthread_mutex_unlock(&H.mu);
	if (w && (over || want_end))
		end_it(h, w, over ? (sess_killed(h->s) ? "killed" : "the session's shell ended") : why);
	srv_pool_put(H.S, w);
	snprintf(done, sizeof(done), "%d", rc);
	pthread_mutex_lock(&H.mu);
	ob_put(h, EV_DONE, done, strlen(done));
	h->busy = 0;
	h->running = 0;
	h->intr = 0;
	H.threads--;
	pthread_cond_broadcast(&H.cv);
	pthread_mutex_unlock(&H.mu);
	buf_free(&m);
	free(j);
	return NULL;
}

/* POST /sessions/ID/lines {"line": "..."}: 202 once the line is handed over; its notices,
 * output and end ("done") come through /operator. */
static enum MHD_Result
submit(srv_call *k, int64_t id)
{
	enum MHD_Result ret = MHD_NO;
	json_t *root, *v;
	struct line_job *j;
	pthread_attr_t at;
	pthread_t th;
	hosted *h;
	uint64_t at_off;
	size_t n;
	int rc;

	if ((root = body_object(k, &ret)) == NULL)
		return ret;
	v = json_object_get(root, "line");
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > WF_CMD_MAX) {
		json_decref(root);
		return srv_error(k->conn, 400, "bad_request", "line", "line: the line (1 byte to "
		                 "512 KiB of UTF-8)");
	}
	n = json_string_length(v);
	if ((j = malloc(sizeof(*j) + n)) == NULL) {
		json_decref(root);
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	}
	memcpy(j->line, json_string_value(v), n);
	j->len = n;
	json_decref(root);
	pthread_mutex_lock(&H.mu);
	if ((h = mine(k, id, &ret)) == NULL) {
		pthread_mutex_unlock(&H.mu);
		free(j);
		return ret;
	}
	if (h->running || h->s == NULL || H.stopping) {
		pthread_mutex_unlock(&H.mu);
		free(j);
		return srv_error(k->conn, 409, "conflict", NULL, h->s == NULL ? "the session is over"
		                 : H.stopping ? "the server is stopping"
		                              : "a line of this session is still running");
	}
	wait_idle(h);
	if (h->s == NULL) {
		pthread_mutex_unlock(&H.mu);
		free(j);
		return srv_error(k->conn, 409, "conflict", NULL, "the session is over");
	}
	j->h = h;
	h->busy = h->running = 1;
	h->intr = 0;
	H.threads++;
	at_off = h->ob_base + h->ob.len;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &at, line_main, j);
	pthread_attr_destroy(&at);
	if (rc != 0) {
		h->busy = h->running = 0;
		H.threads--;
		pthread_cond_broadcast(&H.cv);
		pthread_mutex_unlock(&H.mu);
		free(j);
		return srv_error(k->conn, 503, "unavailable", NULL, "cannot run the line now; try "
		                 "again");
	}
	pthread_mutex_unlock(&H.mu);
	return srv_send_json(k->conn, 202, json_pack("{s:b, s:I}", "accepted", 1, "next",
	                                              (json_int_t)at_off));
}

static json_t *
event_json(int type, const unsigned char *p, size_t n)
{
	char *b64;
	size_t bl;
	json_t *o;

	switch (type) {
	case EV_OUTPUT:
		bl = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(bl)) == NULL)
			return NULL;
		sodium_bin2base64(b64, bl, p, n, sodium_base64_VARIANT_ORIGINAL);
		o = json_pack("{s:s, s:s}", "type", "output", "data_base64", b64);
		free(b64);
		return o;
	case EV_NOTICE:
		return json_pack("{s:s, s:s%}", "type", "notice", "text", (const char *)p, n);
	case EV_DONE:
		return json_pack("{s:s, s:i}", "type", "done", "status",
		                 n && n < 16 ? atoi((const char *)p) : 0);
	default:
		return json_pack("{s:s, s:s%}", "type", "ended", "reason", (const char *)p, n);
	}
}

/* GET /sessions/ID/operator?from=N: the operator's events after offset N (what came
 * before N is acknowledged and dropped): output (redacted, base64), notices, the end of
 * each line ("done") and of the session ("ended"). */
static enum MHD_Result
operator_events(srv_call *k, int64_t id)
{
	static const char *const known[] = { "from", NULL };
	enum MHD_Result ret = MHD_NO;
	srv_query q;
	int64_t from = 0;
	hosted *h;
	json_t *a, *o;
	size_t off = 0;
	int over;

	if (srv_query_from_conn(k, &q) != 0)
		return srv_send_error(k->conn, &k->e);
	if (srv_query_only(&q, known, &k->e) != 0 ||
	    srv_query_int(&q, "from", 0, INT64_MAX / 2, &from, &k->e) < 0) {
		srv_query_free(&q);
		return srv_send_error(k->conn, &k->e);
	}
	srv_query_free(&q);
	if ((a = json_array()) == NULL)
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	pthread_mutex_lock(&H.mu);
	if ((h = mine(k, id, &ret)) == NULL) {
		pthread_mutex_unlock(&H.mu);
		json_decref(a);
		return ret;
	}
	if ((uint64_t)from > h->ob_base + h->ob.len) {
		pthread_mutex_unlock(&H.mu);
		json_decref(a);
		return srv_error(k->conn, 400, "bad_request", "from", "from: past the last event");
	}
	if ((uint64_t)from > h->ob_base) {
		size_t ack = (size_t)((uint64_t)from - h->ob_base);

		buf_consume(&h->ob, ack);
		h->ob_base += ack;
	}
	while (off + 5 <= h->ob.len) {
		uint32_t l = (uint32_t)h->ob.data[off + 1] | (uint32_t)h->ob.data[off + 2] << 8 |
		             (uint32_t)h->ob.data[off + 3] << 16 | (uint32_t)h->ob.data[off + 4] << 24;

		if (off + 5 + l > h->ob.len)
			break;
		json_array_append_new(a, event_json(h->ob.data[off], h->ob.data + off + 5, l));
		off += 5 + l;
	}
	if (h->ob.len == 0)
		buf_free(&h->ob); /* idle: nothing kept */
	over = h->s == NULL;
	o = json_pack("{s:o, s:I, s:b, s:b, s:I}", "events", a, "next",
	              (json_int_t)(h->ob_base + h->ob.len), "running", h->running, "over", over,
	              "dropped_bytes", (json_int_t)h->dropped);
	if (over && h->ob.len == 0 && !h->busy) {
		/* the operator has everything: the session is gone from here */
		unlink_hosted(h);
		hosted_free(h);
	}
	pthread_mutex_unlock(&H.mu);
	if (o == NULL)
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	return srv_send_json(k->conn, 200, o);
}

/* POST /sessions/ID/interrupt: Ctrl-C for the running line (or the waiting one). */
static enum MHD_Result
interrupt(srv_call *k, int64_t id)
{
	enum MHD_Result ret = MHD_NO;
	hosted *h;
	int running;

	pthread_mutex_lock(&H.mu);
	if ((h = mine(k, id, &ret)) == NULL) {
		pthread_mutex_unlock(&H.mu);
		return ret;
	}
	running = h->running;
	if (running)
		h->intr = 1;
	pthread_mutex_unlock(&H.mu);
	return srv_send_json(k->conn, 200, json_pack("{s:b}", "interrupted", running));
}

/* POST /sessions/ID/end {"from": N}: Ctrl-D. Ends now (200, with the events after N) or,
 * while a line runs, interrupts it and ends after it (202). */
static enum MHD_Result
end_call(srv_call *k, int64_t id)
{
	enum MHD_Result ret = MHD_NO;
	hosted *h;
	json_t *a, *root, *v;
	json_int_t from = 0;
	size_t off = 0;

	if ((root = body_object(k, &ret)) == NULL)
		return ret;
	if ((v = json_object_get(root, "from")) != NULL)
		from = json_is_integer(v) ? json_integer_value(v) : -1;
	json_decref(root);
	if (from < 0)
		return srv_error(k->conn, 400, "bad_request", "from", "from: the offset of the first "
		                 "event not yet shown (\"next\" of the last answer)");
	pthread_mutex_lock(&H.mu);
	if ((h = mine(k, id, &ret)) == NULL) {
		pthread_mutex_unlock(&H.mu);
		return ret;
	}
	if (h->running) {
		h->want_end = 1;
		h->intr = 1;
		h->end_why = "the operator ended it";
		pthread_mutex_unlock(&H.mu);
		return srv_send_json(k->conn, 202, json_pack("{s:b}", "ending", 1));
	}
	wait_idle(h);
	if (h->s) {
		h->busy = 1;
		pthread_mutex_unlock(&H.mu);
		end_it(h, k->w, "the operator ended it");
		pthread_mutex_lock(&H.mu);
		h->busy = 0;
		pthread_cond_broadcast(&H.cv);
	}
	if ((uint64_t)from > h->ob_base) {
		size_t ack = (size_t)((uint64_t)from - h->ob_base);

		ack = ack < h->ob.len ? ack : h->ob.len;
		buf_consume(&h->ob, ack);
		h->ob_base += ack;
	}
	a = json_array();
	while (a && off + 5 <= h->ob.len) {
		uint32_t l = (uint32_t)h->ob.data[off + 1] | (uint32_t)h->ob.data[off + 2] << 8 |
		             (uint32_t)h->ob.data[off + 3] << 16 | (uint32_t)h->ob.data[off + 4] << 24;

		if (off + 5 + l > h->ob.len)
			break;
		json_array_append_new(a, event_json(h->ob.data[off], h->ob.data + off + 5, l));
		off += 5 + l;
	}
	unlink_hosted(h);
	hosted_free(h);
	pthread_mutex_unlock(&H.mu);
	if (a == NULL)
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	return srv_send_json(k->conn, 200, json_pack("{s:o, s:b}", "events", a, "over", 1));
}

enum MHD_Result
api_session_host_call(srv_call *k, int64_t id, const char *rest, int *handled)
{
	int post = strcmp(k->method, "POST") == 0, get = strcmp(k->method, "GET") == 0;

	*handled = 1;
	if (strcmp(rest, "/lines") == 0)
		return post ? submit(k, id)
		            : srv_error(k->conn, 405, "method_not_allowed", NULL, "use POST");
	if (strcmp(rest, "/operator") == 0)
		return get ? operator_events(k, id)
		           : srv_error(k->conn, 405, "method_not_allowed", NULL, "use GET");
	if (strcmp(rest, "/interrupt") == 0)
		return post ? interrupt(k, id)
		            : srv_error(k->conn, 405, "method_not_allowed", NULL, "use POST");
	if (strcmp(rest, "/end") == 0)
		return post ? end_call(k, id)
		            : srv_error(k->conn, 405, "method_not_allowed", NULL, "use POST");
	*handled = 0;
	return MHD_NO;
}

void
api_session_host_killed(srv_call *k, int64_t id)
{
	hosted *h;
	int r;

	pthread_mutex_lock(&H.mu);
	h = find(id);
	if (h == NULL || h->s == NULL || h->running) {
		/* a running line sees the kill switch itself within 200 ms */
		pthread_mutex_unlock(&H.mu);
		return;
	}
	wait_idle(h);
	if (h->s == NULL) {
		pthread_mutex_unlock(&H.mu);
		return;
	}
	h->busy = 1;
	pthread_mutex_unlock(&H.mu);
	sess_bind(h->s, k->w);
	r = sess_check(h->s); /* tells the operator, kills the shell */
	sess_bind(h->s, NULL);
	if (r == SESS_ENDED)
		end_it(h, k->w, "killed");
	pthread_mutex_lock(&H.mu);
	h->busy = 0;
	pthread_cond_broadcast(&H.cv);
	pthread_mutex_unlock(&H.mu);
}

void
api_session_stop(srv *S)
{
	hosted *h;
	wf *w = NULL;
	char err[512];

	pthread_mutex_lock(&H.mu);
	H.stopping = 1;
	if (H.S == NULL && H.list == NULL) {
		pthread_mutex_unlock(&H.mu);
		return;
	}
	pthread_cond_broadcast(&H.cv);
	/* running lines are interrupted (waiting ones withdrawn) and end their sessions */
	while (H.threads > 0)
		pthread_cond_wait(&H.cv, &H.mu);
	pthread_mutex_unlock(&H.mu);
	if (H.reaper_on) {
		pthread_join(H.reaper, NULL);
		H.reaper_on = 0;
	}
	if (srv_pool_get(S, &w, err, sizeof(err)) != 0)
		w = NULL;
	pthread_mutex_lock(&H.mu);
	while ((h = H.list) != NULL) {
		H.list = h->next;
		H.n--;
		if (h->s && w) {
			pthread_mutex_unlock(&H.mu);
			end_it(h, w, "escortd stopped");
			pthread_mutex_lock(&H.mu);
		}
		hosted_free(h);
	}
	H.S = NULL; /* H.stopping stays: calls still draining cannot start a session */
	pthread_mutex_unlock(&H.mu);
	srv_pool_put(S, w);
}

/* sse.c — live request events for escortd (text/event-stream). One poller thread reads
 * the store's change feed every POLL_MS (so changes made by other processes, such as the
 * CLI, arrive too), queues each change for the subscribers allowed to see it, and wakes
 * their suspended connections; a stream with nothing to send is suspended, never spinning
 * and never holding a worker thread. On a shared PostgreSQL store a listener (pgnotify.c)
 * hears every node's commits as they happen, each state change in commit order (a poll
 * sees only the latest state of each request): while it listens, its notices are the
 * events and the timed poll stops; after a (re)connection one poll catches up. */
#include "server/srv_int.h"
#include "server/pgnotify.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/event.h"
#include "util/err.h"

#define POLL_MS 200
#define IDLE_MS 2000 /* while listening: the poller only wakes for keepalives */
#define WINDOW_US ((int64_t)10 * 1000000) /* late commits with older timestamps */
#define KEEPALIVE_S 15
#define SUB_OUT_MAX ((size_t)1 << 20)     /* a reader this far behind is dropped */
#define FEED_LIMIT 5000

typedef struct sse_sub {
	sse_hub *hub;
	struct MHD_Connection *conn;
	char who[SRV_NAME_MAX];
	int see_all;
	buf out;
	int suspended;
	int dropped;
	struct sse_sub *next, *prev;
} sse_sub;

typedef struct seen {
	int64_t id, updated_us;
} seen;

/* The last change sent per request (a small direct-mapped table: a forgotten entry only
 * costs one synthesized or repeated event). It keeps a change that both a notice and a
 * poll carry from being sent twice. */
#define LAST_SLOTS 4096
typedef struct last_state {
	int64_t id;
	int64_t updated_us;
	char state[16];
} last_state;

struct sse_hub {
	char *datadir;
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
	sse_sub *subs;
	uint64_t next_event;
	seen *recent;
	size_t nrecent;
	int64_t mark_us; /* newest update seen */
	/* polls were skipped while no stream was open (the last one then, else 0): the next
	 * poll only marks what changed until then as seen */
	int64_t quiet_us;
	last_state last[LAST_SLOTS];
	int kicked;    /* poll now: catch up after the listener (re)connected */
	int listening; /* a listener hears every commit: no timed polls */
	srv_pgnotify *pn;
};

/* Caller holds h->mu. */
static void
wake(sse_sub *s)
{
	if (s->suspended) {
		s->suspended = 0;
		MHD_resume_connection(s->conn);
	}
}

static void
broadcast(sse_hub *h, const store_change *c, const char *text)
{
	sse_sub *s;

	for (s = h->subs; s; s = s->next) {
		if (s->dropped || (c && !s->see_all && strcmp(c->requester, s->who) != 0))
			continue;
		if (buf_puts(&s->out, text) != 0)
			s->dropped = 1; /* too far behind: end its stream, the client reconnects */
		wake(s);
	}
}

static int
seen_cmp(const void *a, const void *b)
{
	const seen *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->updated_us < y->updated_us ? -1 : x->updated_us > y->updated_us;
}

/* v sorted by seen_cmp: a poll's window holds thousands of changes under load, so a
 * linear search per change would cost the square of that every POLL_MS */
static int
was_seen(const seen *v, size_t n, int64_t id, int64_t up)
{
	seen k = { id, up };

	return n > 0 && bsearch(&k, v, n, sizeof(*v), seen_cmp) != NULL;
}

/* Caller holds h->mu. Records c as the last change of its request without sending it
 * (what a poll with nobody listening would have done). */
static void
remember(sse_hub *h, const store_change *c)
{
	last_state *ls = &h->last[(uint64_t)c->id % LAST_SLOTS];

	ls->id = c->id;
	ls->updated_us = c->updated_us;
	snprintf(ls->state, sizeof(ls->state), "%s", c->state ? c->state : "?");
}

static void
emit(sse_hub *h, const store_change *c, const char *state, const char *t, buf *ev)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)c->id, "state", state,
	                      "requester", c->requester ? c->requester : "?", "target",
	                      c->target ? c->target : "?", "updated", t);
	char *data = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	last_state *ls = &h->last[(uint64_t)c->id % LAST_SLOTS];

	json_decref(j);
	if (data == NULL)
		return;
	buf_reset(ev);
	buf_printf(ev, "event: request\nid: %" PRIu64 "\ndata: %s\n\n", ++h->next_event, data);
	free(data);
	broadcast(h, c, buf_cstr(ev));
	ls->id = c->id;
	ls->updated_us = c->updated_us;
	snprintf(ls->state, sizeof(ls->state), "%s", state);
}

/* Caller holds h->mu. Sends change c unless it is the last one sent for its request (or,
 * from a poll, older than that: a catch-up poll read before a notice was sent); a run
 * too short to be seen running (by a poll) is sent as running first, so a client always
 * sees running before succeeded or failed. */
static void
publish(sse_hub *h, const store_change *c, int polled, buf *ev)
{
	last_state *ls = &h->last[(uint64_t)c->id % LAST_SLOTS];
	const char *st = c->state ? c->state : "?";
	char t[32];

	if (ls->id == c->id && ((ls->updated_us == c->updated_us && strcmp(ls->state, st) == 0) ||
	                        (polled && ls->updated_us > c->updated_us)))
		return;
	if (audit_time_format(c->updated_us, t, sizeof(t)) != 0)
		t[0] = 0;
	if ((strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0) &&
	    !(ls->id == c->id && strcmp(ls->state, "running") == 0))
		emit(h, c, "running", t, ev);
	emit(h, c, st, t, ev);
}

/* One poll: every change in the window not already delivered becomes an event. A run
 * shorter than a poll is seen only as its end; its start is then sent first, so a client
 * always sees running before succeeded or failed. */
static void
poll_once(sse_hub *h, wf *w)
{
	store_change *v = NULL;
	seen *nr;
	size_t n = 0, i;
	int64_t since, quiet;
	buf msg = BUF_INIT, ev = BUF_INIT;

	pthread_mutex_lock(&h->mu);
	quiet = h->quiet_us;
	h->quiet_us = 0;
	if (quiet > h->mark_us)
		h->mark_us = quiet;
	since = h->mark_us - WINDOW_US;
	pthread_mutex_unlock(&h->mu);
	if (wf_request_changes(w, since, FEED_LIMIT, &v, &n, &msg) != 0)
		goto out;
	if ((nr = calloc(n ? n : 1, sizeof(*nr))) == NULL)
		goto out;
	pthread_mutex_lock(&h->mu);
	for (i = 0; i < n; i++) {
		nr[i].id = v[i].id;
		nr[i].updated_us = v[i].updated_us;
		if (v[i].updated_us > h->mark_us)
			h->mark_us = v[i].updated_us;
		if (was_seen(h->recent, h->nrecent, v[i].id, v[i].updated_us))
			continue;
		if (quiet && v[i].updated_us <= quiet) /* before the first stream opened */
			remember(h, &v[i]);
		else
			publish(h, &v[i], 1, &ev);
	}
	qsort(nr, n, sizeof(*nr), seen_cmp);
	free(h->recent);
	h->recent = nr;
	h->nrecent = n;
	pthread_mutex_unlock(&h->mu);
out:
	store_changes_free(v, n);
	buf_free(&msg);
	buf_free(&ev);
}

static void *
poller(void *arg)
{
	sse_hub *h = arg;
	wf *w = NULL;
	char err[512];
	struct timespec next, now;
	time_t last_keepalive = time(NULL);

	clock_gettime(CLOCK_REALTIME, &next);
	for (;;) {
		long ms;
		int poll_now;

		pthread_mutex_lock(&h->mu);
		while (!h->stopping && !h->kicked &&
		       pthread_cond_timedwait(&h->cv, &h->mu, &next) == 0)
			;
		if (h->stopping) {
			pthread_mutex_unlock(&h->mu);
			break;
		}
		clock_gettime(CLOCK_REALTIME, &now);
		/* polled: when asked (a catch-up), or on time unless a listener hears everything */
		poll_now =
		    h->kicked ||
		    (!h->listening && (now.tv_sec > next.tv_sec ||
		                       (now.tv_sec == next.tv_sec && now.tv_nsec >= next.tv_nsec)));
		/* no stream open: nothing to read (a poll costs a read of the whole window,
		 * thousands of rows under load); the first poll with a stream open starts from
		 * here */
		if (poll_now && !h->kicked && h->subs == NULL) {
			h->quiet_us = audit_time_now();
			free(h->recent);
			h->recent = NULL;
			h->nrecent = 0;
			poll_now = 0;
		}
		h->kicked = 0;
		ms = h->listening ? IDLE_MS : POLL_MS;
		next = now;
		next.tv_sec += ms / 1000;
		next.tv_nsec += (ms % 1000) * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		if (time(NULL) - last_keepalive >= KEEPALIVE_S) {
			last_keepalive = time(NULL);
			broadcast(h, NULL, ": keepalive\n\n");
		}
		pthread_mutex_unlock(&h->mu);
		if (!poll_now)
			continue;
		if (w == NULL && wf_open(&w, h->datadir, NULL, err, sizeof(err)) != 0)
			continue;
		poll_once(h, w);
	}
	wf_close(w);
	return NULL;
}

int
sse_hub_start(sse_hub **out, const char *datadir, char *err, size_t errlen)
{
	sse_hub *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL || (h->datadir = strdup(datadir)) == NULL) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return ESC_ENOMEM;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->mark_us = audit_time_now();
	if (pthread_create(&h->th, NULL, poller, h) != 0) {
		snprintf(err, errlen, "cannot start the event thread");
		sse_hub_free(h);
		return ESC_EIO;
	}
	h->started = 1;
	/* the store every wf_open here uses ($ESCORT_STORE): heard when it is shared */
	if (srv_pgnotify_start(&h->pn, h, getenv("ESCORT_STORE"), err, errlen) != 0) {
		sse_hub_free(h);
		return ESC_EIO;
	}
	*out = h;
	return 0;
}

void
sse_hub_kick(sse_hub *h)
{
	pthread_mutex_lock(&h->mu);
	h->kicked = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

void
sse_hub_listening(sse_hub *h, int on)
{
	pthread_mutex_lock(&h->mu);
	h->listening = on;
	if (!on)
		h->kicked = 1; /* poll now: nothing is heard any more */
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

void
sse_hub_request(sse_hub *h, const store_notice *ev)
{
	store_change c;
	buf out = BUF_INIT;

	memset(&c, 0, sizeof(c));
	c.id = ev->id;
	c.updated_us = ev->updated_us;
	/* the notice's strings, borrowed for the call (publish copies what it keeps) */
	c.state = (char *)ev->state;
	c.requester = (char *)ev->owner;
	c.target = (char *)ev->target;
	pthread_mutex_lock(&h->mu);
	/* a poll after listening stops starts from here, not from a stale mark */
	if (c.updated_us > h->mark_us)
		h->mark_us = c.updated_us;
	publish(h, &c, 0, &out);
	pthread_mutex_unlock(&h->mu);
	buf_free(&out);
}

void
sse_hub_session(sse_hub *h, const store_notice *ev)
{
	store_change c;
	json_t *j;
	char *data;
	char t[32];
	buf out = BUF_INIT;

	if (audit_time_format(ev->updated_us, t, sizeof(t)) != 0)
		t[0] = 0;
	j = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)ev->id, "state", ev->state,
	              "operator", ev->owner, "target", ev->target, "updated", t);
	data = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(j);
	if (data == NULL)
		return;
	/* seen by the session's operator and whoever sees everything (only by the latter
	 * when the operator's name was too long for the notice: "") */
	memset(&c, 0, sizeof(c));
	c.requester = (char *)ev->owner;
	pthread_mutex_lock(&h->mu);
	buf_printf(&out, "event: session\nid: %" PRIu64 "\ndata: %s\n\n", ++h->next_event, data);
	broadcast(h, &c, buf_cstr(&out));
	pthread_mutex_unlock(&h->mu);
	buf_free(&out);
	free(data);
}

void
sse_hub_stop(sse_hub *h)
{
	sse_sub *s;

	if (h == NULL)
		return;
	/* the listener first: it calls into the hub */
	srv_pgnotify_stop(h->pn);
	h->pn = NULL;
	pthread_mutex_lock(&h->mu);
	h->stopping = 1;
	for (s = h->subs; s; s = s->next)
		wake(s);
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (h->started) {
		pthread_join(h->th, NULL);
		h->started = 0;
	}
}

void
sse_hub_free(sse_hub *h)
{
	if (h == NULL)
		return;
	sse_hub_stop(h);
	/* streams still listed belong to connections MHD_stop_daemon already closed: their
	 * free callbacks ran, so the list is empty here */
	free(h->recent);
	free(h->datadir);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

static ssize_t
sub_read(void *cls, uint64_t pos, char *out, size_t max)
{
	sse_sub *s = cls;
	sse_hub *h = s->hub;
	size_t n;

	(void)pos;
	pthread_mutex_lock(&h->mu);
	if (s->out.len > 0) {
		n = s->out.len < max ? s->out.len : max;
		memcpy(out, s->out.data, n);
		buf_consume(&s->out, n);
		pthread_mutex_unlock(&h->mu);
		return (ssize_t)n;
	}
	if (h->stopping || s->dropped) {
		pthread_mutex_unlock(&h->mu);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	/* nothing to send: park the connection until the poller has something */
	s->suspended = 1;
	MHD_suspend_connection(s->conn);
	pthread_mutex_unlock(&h->mu);
	return 0;
}

static void
sub_free(void *cls)
{
	sse_sub *s = cls;
	sse_hub *h = s->hub;

	pthread_mutex_lock(&h->mu);
	if (s->prev)
		s->prev->next = s->next;
	else if (h->subs == s)
		h->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&h->mu);
	buf_free(&s->out);
	free(s);
}

enum MHD_Result
sse_subscribe(sse_hub *h, struct MHD_Connection *c, const char *who, int see_all)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	sse_sub *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return MHD_NO;
	s->hub = h;
	s->conn = c;
	s->see_all = see_all;
	snprintf(s->who, sizeof(s->who), "%s", who);
	buf_init(&s->out, SUB_OUT_MAX);
	buf_puts(&s->out, "retry: 2000\n: connected\n\n");
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sub_read, s, sub_free);
	if (r == NULL) {
		buf_free(&s->out);
		free(s);
		return MHD_NO;
	}
	pthread_mutex_lock(&h->mu);
	if (h->stopping) {
		pthread_mutex_unlock(&h->mu);
		MHD_destroy_response(r); /* calls sub_free, which finds s unlisted */
		return srv_error(c, 503, "unavailable", NULL, "the server is shutting down");
	}
	s->next = h->subs;
	if (h->subs)
		h->subs->prev = s;
	h->subs = s;
	pthread_mutex_unlock(&h->mu);
	MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	/* a stream is idle by design: the keepalive, not the idle timeout, keeps it honest */
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0);
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

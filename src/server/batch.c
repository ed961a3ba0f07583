/* batch.c — group commit for POST /api/v1/requests: one writer thread runs the creations
 * that arrive together inside one store transaction and commits them with one sync.
 *
 * Why: every creation is a store write transaction with three audit records that must be
 * durable before it commits. Run one by one, SQLite's single write lock makes those
 * transactions (three fdatasyncs of the log and one of the WAL, ~1.5 ms each on our
 * machines) strictly sequential, whatever the number of threads: ~100 creations/s, and
 * the others wait in SQLite's busy handler (which sleeps in steps of up to 100 ms: p99 of
 * seconds); and an HTTP worker blocked in that wait blocks every connection of its thread.
 * Here the HTTP worker suspends the connection and queues the creation; the writer takes
 * the queue, runs each creation (analysis, policy, the store's inserts) in a savepoint of
 * one transaction with its audit records queued, then appends the records of the whole
 * group, each request's in order, with one audit_log_append_many (one batch, one
 * fdatasync, no thread hand-offs), and only when every record of the group is durable
 * does the writer COMMIT (synchronous FULL: one sync) and resume the connections, whose
 * HTTP threads then answer (api_create_done) from what the creation stored. A 201
 * therefore still means the request and its audit records are durable. (Before
 * audit_log_append_many, 64 appender threads appended the jobs' record lists at the same
 * time: one sync round per record of a job and a thread wake-up per record, ~40% of
 * escortd's CPU.) If any append fails, the whole group
 * is rolled back and every request of it gets the error (records of other requests of
 * the group may already be in the log: the log then names a
 * request the store does not have, exactly as when a store commit fails after a durable
 * append on the one-by-one path). Other actions (approve, run...) stay one transaction
 * each through the worker's own handle; they are rare next to creations. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/log.h"
#include "server/srv_int.h"
#include "store/store_group.h"
#include "util/err.h"

#define BATCH_MAX 128 /* creations in one store transaction */
/* WAL checkpoints (store_group.h): the checkpointer thread copies the WAL into the
 * database once it holds CKPT_FRAMES frames (SQLite's own default), then the writer
 * copies the few frames committed meanwhile between two groups, so that the WAL starts
 * over; beyond CKPT_FORCE frames (a checkpointer that cannot keep up) the writer does the
 * whole checkpoint itself. */
#define CKPT_FRAMES 1000
#define CKPT_FORCE 20000

struct srv_batch {
	srv *S;
	pthread_mutex_t mu;
	pthread_cond_t cv;    /* the writer: work queued */
	pthread_t th;
	int have_th;
	int stop;
	srv_job *qhead, *qtail;   /* creations waiting for the writer */
	wf *w;                /* the writer's handle (deferred audit), reopened on a new policy */
	/* the checkpointer (under mu) */
	pthread_t cth;
	int have_cth;
	pthread_cond_t ccv;
	int cwant, cbusy, cdone, cstop;
};

static void
fail_jobs(srv_job **v, size_t n, int rc, const char *what)
{
	size_t i;

	for (i = 0; i < n; i++) {
		v[i]->rc = rc;
		v[i]->id = 0;
		buf_reset(&v[i]->msg);
		buf_puts(&v[i]->msg, what);
	}
}

/* The writer's handle: opened on demand and reopened when another process loaded a new
 * policy (as the worker pool does). */
static int
writer_handle(srv_batch *b, char *err, size_t errlen)
{
	int cur = 0;

	if (b->w != NULL && (wf_policy_is_current(b->w, &cur) != 0 || !cur)) {
		wf_close(b->w);
		b->w = NULL;
	}
	if (b->w == NULL) {
		int rc = wf_open(&b->w, b->S->o.datadir, b->S->o.lb, err, errlen);

		if (rc) {
			b->w = NULL;
			return rc;
		}
		wf_set_audit_deferred(b->w, 1);
	}
	return 0;
}

/* Every record of the group, each job's in order, in one append. 0, or the error with
 * its message in err. */
static int
append_group(srv_batch *b, srv_job **v, size_t n, char *err, size_t errlen)
{
	const char **types = NULL, **actors = NULL;
	const json_t **details = NULL;
	const wf_deferred *d;
	const char *t, *a;
	const json_t *dt;
	struct audit_log *l = NULL;
	char aerr[512] = "";
	size_t i, k = 0;
	int rc;

	for (i = 0; i < n; i++)
		for (d = v[i]->dq; d != NULL; d = wf_deferred_get(d, &t, &a, &dt))
			k++;
	if (k == 0)
		return 0;
	types = calloc(k, sizeof(*types));
	actors = calloc(k, sizeof(*actors));
	details = calloc(k, sizeof(*details));
	if (types == NULL || actors == NULL || details == NULL) {
		snprintf(err, errlen, "audit log unavailable (out of memory); nothing was changed");
		rc = ESC_ENOMEM;
		goto out;
	}
	k = 0;
	for (i = 0; i < n; i++)
		for (d = v[i]->dq; d != NULL; k++)
			d = wf_deferred_get(d, &types[k], &actors[k], &details[k]);
	if ((rc = srv_alog_acquire(b->S->alog, &l, aerr, sizeof(aerr))) == 0) {
		if ((rc = audit_log_append_many(l, k, types, actors, details, NULL)) != 0)
			snprintf(aerr, sizeof(aerr), "cannot append %zu records to the audit log (%s)",
			         k, audit_log_error(l));
		srv_alog_release(b->S->alog, l);
	}
	if (rc)
		snprintf(err, errlen, "audit log unavailable (%s); nothing was changed", aerr);
out:
	free(types);
	free(actors);
	free(details);
	return rc;
}

/* Answers the group's connections (their HTTP threads build the responses and, with
 * srv_job_free, free the jobs' audit records: not on this one serial thread). */
static void
resume_all(srv_batch *b, srv_job **v, size_t n)
{
	srv *S = b->S;
	size_t i;

	pthread_mutex_lock(&S->mu);
	for (i = 0; i < n; i++) {
		v[i]->done = 1;
		MHD_resume_connection(v[i]->conn);
		S->jobs--;
	}
	pthread_cond_broadcast(&S->idle);
	pthread_mutex_unlock(&S->mu);
}

static void
run_group(srv_batch *b, srv_job **v, size_t n)
{
	char err[1024] = "";
	size_t i;
	int rc, bad = 0;

	if ((rc = writer_handle(b, err, sizeof(err))) != 0) {
		fail_jobs(v, n, rc, err);
		goto done;
	}
	if ((rc = store_group_begin(wf_store(b->w))) != 0) {
		snprintf(err, sizeof(err), "store: %s", store_error(wf_store(b->w)));
		fail_jobs(v, n, rc, err);
		goto done;
	}
	for (i = 0; i < n; i++) {
		v[i]->rc = wf_request_create_prepared(b->w, v[i]->who, &v[i]->nr, v[i]->prep,
		                                      &v[i]->id, &v[i]->state, &v[i]->msg,
		                                      &v[i]->kept);
		v[i]->dq = wf_audit_take(b->w);
	}
	if ((rc = append_group(b, v, n, err, sizeof(err))) != 0)
		bad = 1;
	if (!bad && (rc = store_group_end(wf_store(b->w), 1)) != 0) {
		snprintf(err, sizeof(err), "store: %s", store_error(wf_store(b->w)));
		bad = 1;
	} else if (bad)
		(void)store_group_end(wf_store(b->w), 0);
	if (bad)
		for (i = 0; i < n; i++)
			if (v[i]->rc == 0 || v[i]->id > 0) {
				/* stored in the group, which is gone now */
				v[i]->id = 0;
				v[i]->state = -1;
				v[i]->rc = rc;
				wf_created_clear(&v[i]->kept);
				buf_reset(&v[i]->msg);
				buf_puts(&v[i]->msg, err);
			}
done:
	resume_all(b, v, n);
}

static void *
ckpt_main(void *arg)
{
	srv_batch *b = arg;
	store *st = NULL;
	char err[512] = "";

	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (!b->cwant && !b->cstop)
			pthread_cond_wait(&b->ccv, &b->mu);
		if (b->cstop)
			break;
		b->cwant = 0;
		b->cbusy = 1;
		pthread_mutex_unlock(&b->mu);
		if (st == NULL && store_open_sqlite(&st, b->S->o.datadir, 0, err, sizeof(err)) != 0) {
			fprintf(stderr, "escort serve: checkpoints: %s\n", err);
			st = NULL;
		}
		if (st != NULL && store_group_checkpoint(st) != 0)
			fprintf(stderr, "escort serve: checkpoint: %s\n", store_error(st));
		pthread_mutex_lock(&b->mu);
		b->cbusy = 0;
		b->cdone = 1;
	}
	pthread_mutex_unlock(&b->mu);
	store_close(st);
	return NULL;
}

/* Between two groups (their answers are out): asks for a checkpoint when the WAL is long,
 * and after one finishes copies the rest here, so that the next group's BEGIN can start
 * the WAL over. */
static void
after_group(srv_batch *b)
{
	size_t frames;
	int inline_ckpt = 0;

	if (b->w == NULL || (frames = store_group_wal_frames(wf_store(b->w))) == 0)
		return;
	pthread_mutex_lock(&b->mu);
	if (b->have_cth && b->cdone && !b->cbusy) {
		b->cdone = 0;
		inline_ckpt = 1;
	} else if (b->have_cth && frames >= CKPT_FRAMES && !b->cbusy && !b->cwant) {
		b->cwant = 1;
		pthread_cond_signal(&b->ccv);
	}
	if (frames >= CKPT_FORCE || (!b->have_cth && frames >= CKPT_FRAMES))
		inline_ckpt = 1;
	pthread_mutex_unlock(&b->mu);
	if (inline_ckpt && store_group_checkpoint(wf_store(b->w)) != 0)
		fprintf(stderr, "escort serve: checkpoint: %s\n", store_error(wf_store(b->w)));
}

static void *
writer_main(void *arg)
{
	srv_batch *b = arg;
	srv_job *v[BATCH_MAX];
	size_t n;

	for (;;) {
		pthread_mutex_lock(&b->mu);
		while (b->qhead == NULL && !b->stop)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->qhead == NULL) {
			pthread_mutex_unlock(&b->mu);
			break;
		}
		for (n = 0; n < BATCH_MAX && b->qhead != NULL; n++) {
			v[n] = b->qhead;
			b->qhead = v[n]->next;
			v[n]->next = NULL;
		}
		if (b->qhead == NULL)
			b->qtail = NULL;
		pthread_mutex_unlock(&b->mu);
		run_group(b, v, n);
		after_group(b);
	}
	return NULL;
}

int
srv_batch_start(srv_batch **out, srv *S, char *err, size_t errlen)
{
	srv_batch *b;
	int rc;

	*out = NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return ESC_ENOMEM;
	b->S = S;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	pthread_cond_init(&b->ccv, NULL);
	if ((rc = writer_handle(b, err, errlen)) != 0)
		goto fail;
	/* a store without group commit (PostgreSQL): creations stay on the worker's handle */
	if (store_group_begin(wf_store(b->w)) != 0) {
		srv_batch_stop(b);
		return 0;
	}
	(void)store_group_end(wf_store(b->w), 0);
	if ((rc = pthread_create(&b->cth, NULL, ckpt_main, b)) == 0)
		b->have_cth = 1;
	if (rc == 0 && (rc = pthread_create(&b->th, NULL, writer_main, b)) == 0)
		b->have_th = 1;
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the writer threads: %s", strerror(rc));
		rc = ESC_EIO;
		goto fail;
	}
	*out = b;
	return 0;
fail:
	srv_batch_stop(b);
	return rc;
}

void
srv_batch_stop(srv_batch *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	if (b->have_th)
		pthread_join(b->th, NULL); /* the queue is drained first */
	pthread_mutex_lock(&b->mu);
	b->cstop = 1;
	pthread_cond_broadcast(&b->ccv);
	pthread_mutex_unlock(&b->mu);
	if (b->have_cth)
		pthread_join(b->cth, NULL);
	wf_close(b->w);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	pthread_cond_destroy(&b->ccv);
	free(b);
}

void
srv_batch_submit(srv_batch *b, srv_job *j)
{
	pthread_mutex_lock(&b->mu);
	j->next = NULL;
	if (b->qtail)
		b->qtail->next = j;
	else
		b->qhead = j;
	b->qtail = j;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

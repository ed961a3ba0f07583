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
 * one transaction with its audit records queued, hands the record lists to appender
 * threads which append them at the same time (the log's group commit: one fdatasync per
 * round for all of them; a request's own records stay in order), and only when every
 * record of the group is durable does the writer COMMIT (synchronous FULL: one sync) and
 * resume the connections, whose HTTP threads then answer (api_create_done). A 201
 * therefore still means the request and its audit records are durable. If
 * any append fails, the whole group is rolled back and every request of it gets the error
 * (records of other requests of the group may already be in the log: the log then names a
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
/* Appender threads: a job's records are appended one after another (each returns after
 * its sync), so all jobs of a group progress together only with a thread each; beyond
 * the group's size they would idle. 64 matches the connections a busy client pool keeps
 * open; a larger group takes a few more sync rounds. */
#define APPENDERS 64

struct srv_batch {
	srv *S;
	pthread_mutex_t mu;
	pthread_cond_t cv;    /* the writer: work queued, appends finished */
	pthread_cond_t acv;   /* the appenders: records to append */
	pthread_t th, ath[APPENDERS];
	int have_th;
	size_t nath;
	int stop, astop;
	srv_job *qhead, *qtail;   /* creations waiting for the writer */
	srv_job *ahead;           /* jobs of the current group with records to append */
	size_t pending;           /* jobs of the current group not yet appended */
	wf *w;                /* the writer's handle (deferred audit), reopened on a new policy */
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

static void *
appender_main(void *arg)
{
	srv_batch *b = arg;
	srv_job *j;
	struct audit_log *l = NULL;

	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (b->ahead == NULL && !b->astop)
			pthread_cond_wait(&b->acv, &b->mu);
		if (b->ahead == NULL)
			break;
		j = b->ahead;
		b->ahead = j->next;
		j->next = NULL;
		pthread_mutex_unlock(&b->mu);
		if ((j->arc = srv_alog_acquire(b->S->alog, &l, j->aerr, sizeof(j->aerr))) == 0) {
			j->arc = wf_deferred_append(j->dq, l, j->aerr, sizeof(j->aerr));
			srv_alog_release(b->S->alog, l);
		}
		pthread_mutex_lock(&b->mu);
		if (--b->pending == 0)
			pthread_cond_signal(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Answers the group's connections (their HTTP threads build the responses). */
static void
resume_all(srv_batch *b, srv_job **v, size_t n)
{
	srv *S = b->S;
	size_t i;

	pthread_mutex_lock(&S->mu);
	for (i = 0; i < n; i++) {
		wf_deferred_free(v[i]->dq);
		v[i]->dq = NULL;
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
	size_t i, na = 0;
	int rc, bad = 0;
	srv_job *list = NULL, **tail = &list;

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
		v[i]->rc = wf_request_create(b->w, v[i]->who, &v[i]->nr, &v[i]->id, &v[i]->state,
		                             &v[i]->msg);
		if ((v[i]->dq = wf_audit_take(b->w)) != NULL) {
			*tail = v[i];
			tail = &v[i]->next;
			na++;
		}
	}
	/* the appenders append the records now, all jobs at once */
	if (na > 0) {
		pthread_mutex_lock(&b->mu);
		b->ahead = list;
		b->pending = na;
		pthread_cond_broadcast(&b->acv);
		while (b->pending > 0)
			pthread_cond_wait(&b->cv, &b->mu);
		pthread_mutex_unlock(&b->mu);
	}
	for (i = 0; i < n && !bad; i++)
		if (v[i]->dq != NULL && v[i]->arc != 0) {
			bad = 1;
			rc = v[i]->arc;
			snprintf(err, sizeof(err), "audit log unavailable (%s); nothing was changed",
			         v[i]->aerr);
		}
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
				buf_reset(&v[i]->msg);
				buf_puts(&v[i]->msg, err);
			}
done:
	resume_all(b, v, n);
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
	pthread_cond_init(&b->acv, NULL);
	if ((rc = writer_handle(b, err, errlen)) != 0)
		goto fail;
	/* a store without group commit (PostgreSQL): creations stay on the worker's handle */
	if (store_group_begin(wf_store(b->w)) != 0) {
		srv_batch_stop(b);
		return 0;
	}
	(void)store_group_end(wf_store(b->w), 0);
	for (b->nath = 0; b->nath < APPENDERS; b->nath++)
		if ((rc = pthread_create(&b->ath[b->nath], NULL, appender_main, b)) != 0)
			break;
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
	size_t i;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	if (b->have_th)
		pthread_join(b->th, NULL); /* the queue is drained first */
	pthread_mutex_lock(&b->mu);
	b->astop = 1;
	pthread_cond_broadcast(&b->acv);
	pthread_mutex_unlock(&b->mu);
	for (i = 0; i < b->nath; i++)
		pthread_join(b->ath[i], NULL);
	wf_close(b->w);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	pthread_cond_destroy(&b->acv);
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

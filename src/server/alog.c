/* alog.c — escortd's one shared audit log writer handle, leased to the workflow handles of
 * all worker threads (wf_set_audit_source), so concurrent actions share fdatasyncs (the
 * log's group commit) instead of each opening, locking, syncing and signing on its own.
 *
 * Interplay with other processes: the writer handle holds DIR/audit/lock. The server opens
 * it on the first audit record after an idle period and closes it (signing a tree head over
 * what is unsigned) once no action has used it for SRV_ALOG_IDLE_MS, so a CLI process on
 * the same data directory (escort policy load, escort request ..., which wait up to 60 s
 * for the lock) gets its turn within about that long after the server goes quiet; while
 * the server is busy, CLI writers wait (and the server, symmetrically, waits up to 60 s for
 * a CLI writer). Readers (verify, search, checkpoint) never take the lock. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/log.h"
#include "server/srv_int.h"
#include "util/err.h"

#define SRV_ALOG_IDLE_MS 200
#define SRV_ALOG_WAIT_MS 60000

struct srv_alog {
	char *datadir;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t closer;
	int have_closer;
	int stop;
	audit_log *l;      /* open writer handle, or NULL */
	unsigned users;    /* actions holding a lease */
	int64_t last_us;   /* monotonic time of the last release */
	int failed;        /* an append failed: reopen (recovery) after the idle close */
};

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
close_locked(srv_alog *a)
{
	char err[512] = "";
	int rc;

	if (a->l == NULL)
		return 0;
	if ((rc = audit_log_close(a->l, err, sizeof(err))) != 0)
		fprintf(stderr, "escort serve: closing the audit log: %s\n", err);
	a->l = NULL;
	a->failed = 0;
	return rc;
}

/* Closes the handle after SRV_ALOG_IDLE_MS without a lease (the monotonic clock, since the
 * condition variable's clock is set to it). */
static void *
closer_main(void *arg)
{
	srv_alog *a = arg;
	struct timespec until;
	int64_t due;

	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		if (a->l != NULL && a->users == 0) {
			due = a->last_us + (int64_t)SRV_ALOG_IDLE_MS * 1000;
			if (mono_us() >= due) {
				(void)close_locked(a);
				continue;
			}
		} else
			due = mono_us() + (int64_t)SRV_ALOG_IDLE_MS * 1000;
		until.tv_sec = (time_t)(due / 1000000);
		until.tv_nsec = (long)(due % 1000000) * 1000;
		(void)pthread_cond_timedwait(&a->cv, &a->mu, &until);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int
srv_alog_start(srv_alog **out, const char *datadir, char *err, size_t errlen)
{
	srv_alog *a;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL || (a->datadir = strdup(datadir)) == NULL) {
		free(a);
		snprintf(err, errlen, "out of memory");
		return ESC_ENOMEM;
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = pthread_create(&a->closer, NULL, closer_main, a)) != 0) {
		snprintf(err, errlen, "cannot start the audit log thread: %s", strerror(rc));
		srv_alog_stop(a);
		return ESC_EIO;
	}
	a->have_closer = 1;
	*out = a;
	return 0;
}

int
srv_alog_stop(srv_alog *a)
{
	int rc = 0;

	if (a == NULL)
		return 0;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->have_closer)
		pthread_join(a->closer, NULL);
	/* every wf handle gave its lease back before this (calls have finished) */
	pthread_mutex_lock(&a->mu);
	rc = close_locked(a);
	pthread_mutex_unlock(&a->mu);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a->datadir);
	free(a);
	return rc;
}

/* wf_audit_acquire_fn: opens the log when it is closed. The mutex is held while opening so
 * that concurrent first actions wait for one open instead of racing for the lock file. */
int
srv_alog_acquire(void *ctx, struct audit_log **l, char *err, size_t errlen)
{
	srv_alog *a = ctx;
	audit_opts o;
	int rc = 0;

	pthread_mutex_lock(&a->mu);
	if (a->l != NULL && a->failed && a->users == 0)
		(void)close_locked(a); /* a broken handle: reopen, which recovers or says why not */
	if (a->l == NULL) {
		memset(&o, 0, sizeof(o));
		o.lock_wait_ms = SRV_ALOG_WAIT_MS;
		if ((rc = audit_log_open(&a->l, a->datadir, &o, err, errlen)) != 0)
			a->l = NULL;
	}
	if (rc == 0) {
		a->users++;
		*l = a->l;
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

/* wf_audit_release_fn */
void
srv_alog_release(void *ctx, struct audit_log *l)
{
	srv_alog *a = ctx;

	pthread_mutex_lock(&a->mu);
	if (a->users > 0)
		a->users--;
	if (l != NULL && audit_log_error(l)[0])
		a->failed = 1;
	a->last_us = mono_us();
	if (a->users == 0)
		pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

int
srv_alog_append(srv_alog *a, const char *type, const char *actor, json_t *details, char *err,
                size_t errlen)
{
	struct audit_log *l;
	int rc;

	if (details == NULL) {
		snprintf(err, errlen, "out of memory");
		return ESC_ENOMEM;
	}
	if ((rc = srv_alog_acquire(a, &l, err, errlen)) == 0) {
		if ((rc = audit_log_append(l, type, actor, details, NULL)) != 0)
			snprintf(err, errlen, "audit: %s", audit_log_error(l));
		srv_alog_release(a, l);
	}
	json_decref(details);
	return rc;
}

int
srv_alog_sign(srv_alog *a)
{
	int rc = 0;

	pthread_mutex_lock(&a->mu);
	if (a->l != NULL)
		rc = audit_log_sign(a->l);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

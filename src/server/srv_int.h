/* srv_int.h — what escortd's own files share: the server object, one API call's context,
 * response helpers and the live-event hub. Not for use outside src/server. */
#ifndef ESCORT_SERVER_SRV_INT_H
#define ESCORT_SERVER_SRV_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>

#include "policy/policy.h"
#include "server/parse.h"
#include "server/server.h"
#include "store/store.h"
#include "util/buf.h"
#include "workflow/workflow.h"

#define SRV_NAME_MAX 256
#define SRV_SESSION_LIFETIME_S (8 * 3600)
#define SRV_TOTP_FRESH_US ((int64_t)5 * 60 * 1000000)
#define SRV_COOKIE "escort_session"

typedef struct sse_hub sse_hub;
typedef struct srv_alog srv_alog;
typedef struct srv_batch srv_batch;
typedef struct srv_job srv_job;

typedef struct srv_wfslot {
	wf *w;
	struct srv_wfslot *next;
} srv_wfslot;

typedef struct srv_bucket {
	char key[SRV_NAME_MAX + 8]; /* "id:NAME" or "ip:ADDR"; "" when free */
	double tokens;
	int64_t last_us;
} srv_bucket;

#define SRV_BUCKETS 1024

typedef struct srv {
	srv_opts o;
	struct MHD_Daemon *d;
	pthread_mutex_t mu; /* wf pool, buckets, counters */
	pthread_cond_t idle;
	srv_wfslot *pool;
	unsigned active;    /* HTTP requests in flight (event streams included) */
	unsigned jobs;      /* runs executing in their own threads */
	int stopping;
	srv_bucket buckets[SRV_BUCKETS];
	sse_hub *hub;
	srv_alog *alog; /* the audit log writer shared by all wf handles */
	srv_batch *batch; /* group commit of creations, or NULL (store without it) */
	int tls;
} srv;

/* Work that answers a suspended connection later: a run (server.c) or a creation through
 * the group-commit writer (batch.c). Guarded by srv.mu: done, status, body. */
struct srv_job {
	srv *S;
	struct MHD_Connection *conn;
	char who[SRV_NAME_MAX];
	int64_t id;
	int done;
	unsigned status;
	json_t *body;
	/* a creation: the parsed body and the workflow's results, for api_create_done */
	int create;
	srv_create c;
	wf_new_request nr;
	const unsigned char *cmds[SRV_MAX_COMMANDS];
	size_t lens[SRV_MAX_COMMANDS];
	int rc, state;
	buf msg;
	wf_prepared *prep; /* analysis and decision, made on the HTTP thread (or NULL) */
	wf_created kept; /* what was stored, for the 201 (empty when nothing was) */
	unsigned roles;  /* the caller's roles under pol, the policy it was authenticated by */
	char pol[72];
	wf_deferred *dq; /* its audit records, appended with the group's by the writer */
	struct srv_job *next;
};

/* One API call. */
typedef struct srv_call {
	srv *S;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;     /* URL path below /api/v1, e.g. "/requests/12" */
	const char *body;
	size_t blen;
	wf *w;
	char who[SRV_NAME_MAX];
	const policy_identity *id; /* in wf_policy(w); NULL before authentication */
	int via_session;
	char session[WF_SESSION_TOKEN_LEN + 1];
	store_session se;
	buf msg;
	srv_err e;
	srv_job **job;   /* where an asynchronous run parks itself (server.c) */
} srv_call;

/* ---- server.c ---- */
enum MHD_Result srv_send_json(struct MHD_Connection *c, unsigned status, json_t *body);
enum MHD_Result srv_send_error(struct MHD_Connection *c, const srv_err *e);
/* Error from a workflow result: WF_EREFUSED 403, WF_ENOTFOUND 404, WF_ECONFLICT 409,
 * ESC_EINVAL 400, ESC_ETOOBIG 413, else 500; message from msg. */
enum MHD_Result srv_send_wf_error(srv_call *k, int rc, const char *field);
enum MHD_Result srv_error(struct MHD_Connection *c, unsigned status, const char *code,
                          const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The error body {"error":{...}} of a workflow result (as srv_send_wf_error) and its status. */
json_t *srv_wf_error_json(srv_call *k, int rc, unsigned *status);
/* Runs request id in a thread of its own with the connection suspended, so a long run
 * does not stall the other connections of this worker; the response follows on resume. */
enum MHD_Result srv_run_async(srv_call *k, int64_t id);
/* A workflow handle from the server's pool (reopened when the policy changed). */
int srv_pool_get(srv *S, wf **out, char *err, size_t errlen);
void srv_pool_put(srv *S, wf *w);
/* Fills q from the connection's query arguments; 0 or ESC_EPARSE with k->e set. */
int srv_query_from_conn(srv_call *k, srv_query *q);
/* "2026-..." or null. */
json_t *srv_time_json(int64_t us);
json_t *srv_roles_json(unsigned roles);

/* ---- api.c ---- */
enum MHD_Result api_dispatch(srv_call *k);
/* The request object as the caller sees it (200) or the error body, for sending later. */
json_t *api_request_body(srv_call *k, int64_t id, unsigned *status);
/* Risk of a request: the highest "risk" of its commands' analyses (-1 when unknown). */
int api_request_risk(const store_request *r);

/* ---- api_audit.c ---- */
enum MHD_Result api_audit(srv_call *k, const char *sub);

/* ---- alog.c ---- */
/* Starts the lease owner (no log is opened until the first record). */
int srv_alog_start(srv_alog **out, const char *datadir, char *err, size_t errlen);
/* Closes the log (signing a tree head) after every lease was given back; the close's
 * result. NULL-safe. */
int srv_alog_stop(srv_alog *a);
/* wf_set_audit_source's acquire / release (ctx: the srv_alog). */
int srv_alog_acquire(void *ctx, struct audit_log **l, char *err, size_t errlen);
void srv_alog_release(void *ctx, struct audit_log *l);
/* Appends one record of the server's own (details stolen) through the shared handle. */
int srv_alog_append(srv_alog *a, const char *type, const char *actor, json_t *details, char *err,
                    size_t errlen);
/* Signs a tree head now over unsigned records when the handle is open (checkpoint and
 * proofs then cover everything the server acknowledged). */
int srv_alog_sign(srv_alog *a);

/* ---- batch.c ---- */
/* Starts the writer and checkpointer threads (*out stays NULL when the store has no group
 * commit). */
int srv_batch_start(srv_batch **out, srv *S, char *err, size_t errlen);
/* Finishes the queued creations, stops the threads. NULL-safe. */
void srv_batch_stop(srv_batch *b);
/* Queues a creation (j->create set, j->nr filled, connection suspended, counted in
 * S->jobs): wf_request_create runs in the writer; when the request and its audit records
 * are durable (or nothing of it was stored) j->rc/id/state/msg are set, j->done and the
 * connection resumed, and api_create_done answers it. */
void srv_batch_submit(srv_batch *b, srv_job *j);
/* Frees a job (run or creation). NULL-safe. */
void srv_job_free(srv_job *j);

/* ---- api.c (creation answered after the group commit) ---- */
enum MHD_Result api_create_done(srv *S, struct MHD_Connection *c, srv_job *j);

/* ---- sse.c ---- */
int sse_hub_start(sse_hub **out, const char *datadir, char *err, size_t errlen);
/* Ends every stream and stops the poller (before MHD_stop_daemon). */
void sse_hub_stop(sse_hub *h);
void sse_hub_free(sse_hub *h);
enum MHD_Result sse_subscribe(sse_hub *h, struct MHD_Connection *c, const char *who,
                              int see_all);

#endif

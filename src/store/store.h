/* store.h — escort's persistent state behind one interface: policy versions, identity
 * tokens, requests with their commands, approvals and execution results.
 * A backend is a versioned table of operations (SQLite now, PostgreSQL later); callers
 * only ever use the store_* wrappers below, never a backend directly. */
#ifndef ESCORT_STORE_STORE_H
#define ESCORT_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

/* The schema this code writes; backends migrate older schemas up to it at open. */
#define STORE_SCHEMA_VERSION 6
/* The layout of struct store_ops; a backend built for another layout is refused. */
#define STORE_OPS_VERSION 1

#define STORE_FILE "escort.db" /* the SQLite database inside the data directory */
#define STORE_HASH_LEN 32      /* SHA-256 */
#define STORE_OUTPUT_MAX ((size_t)1 << 20) /* output bytes kept per run (hash covers all) */

typedef struct store store;

/* One command of a request: the exact bytes (may hold NUL or invalid UTF-8) and the
 * lockbox analysis (JSON text) made when the request was created. */
typedef struct store_command {
	unsigned char *bytes;
	size_t len;
	char *analysis; /* JSON object text, or NULL */
} store_command;

typedef struct store_request {
	int64_t id; /* assigned by request_insert */
	char *requester;
	char *target;
	char *ticket;        /* may be NULL */
	char *justification; /* may be NULL */
	char *state;         /* a workflow state name; the store only checks it is known */
	int64_t created_us;
	int64_t updated_us;
	char *policy_version;   /* hex SHA-256 of the policy the decision was made under */
	char *decision;         /* the policy decision and its reasons as JSON text, or NULL */
	int64_t expires_us;     /* the request (and its approvals) lapse then; 0: never */
	/* the approval hash of the content as decided (also binds auto-approved requests) */
	unsigned char binding[STORE_HASH_LEN];
	int has_binding;
	/* execution */
	char *runner; /* who ran it, or NULL */
	int64_t started_us;
	int64_t finished_us;
	int has_exit;
	int exit_code;   /* bash's status, or 128+signal; valid when has_exit */
	char *result;    /* execution summary as JSON text (timeout, truncation...), or NULL */
	unsigned char *output; /* the first STORE_OUTPUT_MAX bytes of stdout+stderr */
	size_t output_len;
	char *output_sha256; /* hex SHA-256 of the full output, or NULL */
	/* commands */
	store_command *cmds;
	size_t ncmds;
} store_request;

enum store_approval_kind { STORE_APPROVE = 1, STORE_DENY = 2 };

typedef struct store_approval {
	int64_t id;
	int64_t request_id;
	char *approver;
	int kind; /* enum store_approval_kind */
	char *comment; /* may be NULL */
	unsigned char hash[STORE_HASH_LEN]; /* what the approval is bound to */
	char *policy_version; /* hex SHA-256 of the policy in force at approval */
	int64_t created_us;
	int64_t expires_us; /* 0: never */
} store_approval;

typedef struct store_policy {
	int64_t version; /* 1, 2, ... in load order; the highest is in force */
	char sha256[2 * STORE_HASH_LEN + 1]; /* hex of the policy file's bytes */
	char *path;      /* where the stored copy lives */
	char *loaded_by;
	int64_t loaded_us;
} store_policy;

typedef struct store_token {
	char *identity;
	unsigned char hash[STORE_HASH_LEN]; /* SHA-256 of the token; the token is never kept */
	int64_t issued_us;
} store_token;

typedef struct store_filter {
	const char *state;     /* NULL: any */
	const char *requester; /* NULL: anyone */
	size_t limit;          /* 0: no limit */
} store_filter;

/* server: a console login session. Only the SHA-256 of the cookie value is kept. */
typedef struct store_session {
	unsigned char hash[STORE_HASH_LEN];
	char *identity;
	char csrf[65];    /* hex CSRF token returned at login */
	int64_t created_us;
	int64_t expires_us;
	int64_t totp_us;  /* when the session last proved a TOTP code (0: never) */
} store_session;

/* server: one request's state as of its last update (live event feeds). */
typedef struct store_change {
	int64_t id;
	char *state;
	char *requester;
	char *target;
	int64_t updated_us;
} store_change;

#define STORE_TOTP_SECRET_MAX 64

/* sessions: one escorted interactive session (its lines are requests). */
typedef struct store_isession {
	int64_t id; /* assigned by isession_insert */
	char *operator_name;
	char *target;
	char *ticket; /* may be NULL */
	char *state;  /* "active", "paused", "ended", "killed" */
	int64_t created_us;
	int64_t updated_us;
	int64_t ended_us;      /* 0 while open */
	char *end_reason;      /* may be NULL */
	char *host;            /* where the shell runs (local transport), or NULL */
	int64_t shell_pid;     /* the shell's process group there (0: none) */
	int64_t shell_start;   /* its start time in clock ticks after boot (pid reuse check) */
	char *recording_sha256; /* hex SHA-256 of DATA/sessions/ID.cast, set at the end */
} store_isession;

typedef struct store_isession_line {
	int64_t session_id;
	int64_t seq; /* 1, 2, ... within the session */
	int64_t request_id;
	int64_t created_us;
} store_isession_line;

typedef struct store_isession_presence {
	char *identity;
	int64_t joined_us;
	int64_t seen_us;
} store_isession_presence;

/* presence checks: an escort's last proof of presence in a session (TOTP code or click) */
typedef struct store_isession_proof {
	char *identity;
	char *method;      /* "totp" or "click" */
	int64_t proved_us; /* when it was proved */
	int64_t lapsed_us; /* when its lapse was recorded (audited); 0: not yet */
} store_isession_proof;

enum store_tx { STORE_TX_READ = 0, STORE_TX_WRITE = 1 };

/* change notification across nodes: one committed change of a request or session */
enum store_notice_kind { STORE_NOTICE_REQUEST = 1, STORE_NOTICE_SESSION = 2 };

typedef struct store_notice {
	int kind;           /* enum store_notice_kind */
	int64_t id;         /* the request's or session's id */
	int64_t updated_us; /* its updated_us after the change */
	char state[16];     /* its state after the change */
	char owner[256];    /* its requester / operator ("" when longer than this holds) */
	char target[256];   /* its target ("" when longer than this holds) */
} store_notice;

/* The backend's operations. Every call returns 0 or a negative ESC_E* code; ESC_ENOENT
 * means "no such row". Strings and buffers handed out are owned by the caller (free with
 * the store_*_free helpers). A write transaction (begin STORE_TX_WRITE) excludes every
 * other writer, in this and in other processes, until commit or rollback: reads made in it
 * stay true until it ends. Writes outside an explicit transaction run in their own. */
typedef struct store_ops {
	uint32_t ops_version; /* STORE_OPS_VERSION */
	const char *name;     /* "sqlite", "postgresql" */
	void (*close)(store *s);
	int (*begin)(store *s, enum store_tx kind);
	int (*commit)(store *s);
	int (*rollback)(store *s);
	int (*schema_version)(store *s, int *version);

	int (*policy_add)(store *s, store_policy *p);      /* assigns p->version */
	int (*policy_current)(store *s, store_policy *p);  /* ESC_ENOENT: none loaded */

	int (*token_set)(store *s, const store_token *t);  /* replaces the identity's token */
	int (*token_revoke)(store *s, const char *identity); /* ESC_ENOENT: had none */
	int (*token_list)(store *s, store_token **out, size_t *n);

	int (*request_insert)(store *s, store_request *r); /* assigns r->id; with commands */
	int (*request_get)(store *s, int64_t id, store_request *r);
	/* Writes every mutable field (state, decision, policy_version, expires, execution). */
	int (*request_update)(store *s, const store_request *r);
	/* Requests matching f, newest first, without output bytes. */
	int (*request_list)(store *s, const store_filter *f, store_request **out, size_t *n);

	int (*approval_insert)(store *s, store_approval *a); /* assigns a->id */
	int (*approval_list)(store *s, int64_t request_id, store_approval **out, size_t *n);
	/* -- broker: egress accounting and the like (operations appended here) -- */
	/* Records what one request's output delivered to an operator (and withheld from
	 * him) on a UTC day (days since the epoch) in an environment; one row per request
	 * (ESC_EINVAL when the request already has one). */
	int (*egress_add)(store *s, int64_t request_id, const char *identity, int64_t day,
	                  const char *environment, uint64_t delivered, uint64_t withheld,
	                  int64_t at_us);
	/* Bytes delivered to identity on day in environment (NULL: in all of them). */
	int (*egress_used)(store *s, const char *identity, int64_t day, const char *environment,
	                   uint64_t *bytes);
	/* -- server: TOTP enrolment, console sessions (operations appended here) -- */
	/* Sets (replaces) identity's TOTP secret; the used-step record starts over. */
	int (*totp_set)(store *s, const char *identity, const unsigned char *secret, size_t n,
	                int64_t now_us);
	/* ESC_ENOENT: not enrolled. secret needs STORE_TOTP_SECRET_MAX bytes. */
	int (*totp_get)(store *s, const char *identity, unsigned char *secret, size_t *n,
	                int64_t *last_step);
	/* Records that step was used, only if it is newer than every step used before
	 * (*accepted 1); otherwise *accepted 0 and nothing changes. Atomic. */
	int (*totp_use)(store *s, const char *identity, int64_t step, int *accepted);
	int (*session_put)(store *s, const store_session *se);
	int (*session_get)(store *s, const unsigned char hash[STORE_HASH_LEN], store_session *se);
	int (*session_delete)(store *s, const unsigned char hash[STORE_HASH_LEN]);
	int (*session_totp)(store *s, const unsigned char hash[STORE_HASH_LEN], int64_t totp_us);
	/* Requests updated at or after since_us, oldest update first, at most limit. */
	int (*request_changes)(store *s, int64_t since_us, size_t limit, store_change **out,
	                       size_t *n);
	/* -- sessions: interactive sessions and recordings (operations appended here) -- */
	/* Stores a new session (assigns se->id). */
	int (*isession_insert)(store *s, store_isession *se);
	int (*isession_get)(store *s, int64_t id, store_isession *se); /* ESC_ENOENT */
	/* Writes state, updated_us, ended_us, end_reason, host, shell_pid, shell_start and
	 * recording_sha256. */
	int (*isession_update)(store *s, const store_isession *se);
	/* Sessions newest first, optionally only of a target / an operator (NULL: any). */
	int (*isession_list)(store *s, const char *target, const char *operator_name,
	                     size_t limit, store_isession **out, size_t *n);
	/* Ties request_id to the session as its next line (*seq: 1, 2, ...). */
	int (*isession_line_add)(store *s, int64_t session_id, int64_t request_id, int64_t at_us,
	                         int64_t *seq);
	/* The session's lines in order. */
	int (*isession_lines)(store *s, int64_t session_id, store_isession_line **out,
	                      size_t *n);
	/* The line a request is (ESC_ENOENT: the request is no session line). */
	int (*isession_line_of)(store *s, int64_t request_id, store_isession_line *out);
	/* Escort presence: sets seen_us (and joined_us on the first call) / forgets it. */
	int (*isession_presence_set)(store *s, int64_t session_id, const char *identity,
	                             int64_t now_us);
	int (*isession_presence_clear)(store *s, int64_t session_id, const char *identity);
	int (*isession_presence_list)(store *s, int64_t session_id,
	                              store_isession_presence **out, size_t *n);
	/* -- presence checks (operations appended here) -- */
	/* Records identity's proof of presence in a session (method "totp" or "click") at
	 * now_us, replacing an older one; its lapse mark starts over. */
	int (*isession_proof_set)(store *s, int64_t session_id, const char *identity,
	                          const char *method, int64_t now_us);
	/* Marks the proof made at proved_us as lapsed at lapsed_us, once: *marked 1 when this
	 * call marked it, 0 when it was marked already or proved anew meanwhile. Atomic. */
	int (*isession_proof_lapse)(store *s, int64_t session_id, const char *identity,
	                            int64_t proved_us, int64_t lapsed_us, int *marked);
	/* Forgets identity's proof (ESC_ENOENT: had none). */
	int (*isession_proof_clear)(store *s, int64_t session_id, const char *identity);
	/* The session's proofs, by identity. */
	int (*isession_proofs)(store *s, int64_t session_id, store_isession_proof **out,
	                       size_t *n);
	/* -- change notification across nodes (operations appended here) -- */
	/* Optional (both NULL or both set; the store_notify_* wrappers answer ESC_ENOENT
	 * for a backend without them, as SQLite: one machine, whose pollers see every change).
	 * notify_listen makes this connection hear the request and session changes every
	 * node commits (in this store only) from now on; *fd becomes readable when one
	 * arrives. Use a store of its own for it: it is then for nothing else. */
	int (*notify_listen)(store *s, int *fd);
	/* The next change heard, never blocking: 0 with *got 1 (ev filled) or *got 0 (none
	 * pending); ESC_EIO once the connection is lost (close, reopen, listen again: what
	 * was committed meanwhile was not heard). */
	int (*notify_next)(store *s, store_notice *ev, int *got);
	/* -- a request stored final with one INSERT (operations appended here) -- */
	/* Reserves the id a new request gets, inside a write transaction: its approval
	 * binding (which hashes the id) can then be computed before the row is written. */
	int (*request_next_id)(store *s, int64_t *id);
	/* As request_insert, but the row gets the id r->id (from request_next_id in the same
	 * transaction) and the binding (when has_binding). */
	int (*request_insert_as)(store *s, store_request *r);
	/* -- a token found by its hash (operations appended here) -- */
	/* The token whose SHA-256 is hash (ESC_ENOENT: none), without reading the others. */
	int (*token_find)(store *s, const unsigned char hash[STORE_HASH_LEN], store_token *out);
} store_ops;

struct store {
	const store_ops *ops;
	int in_tx;
	char err[512]; /* the backend's last error message */
};

/* Opens the SQLite store DIR/escort.db (creating it when create is set), switches it to
 * WAL, sets the busy timeout and migrates the schema. err gets a message on failure. */
int store_open_sqlite(store **out, const char *datadir, int create, char *err, size_t errlen);
/* Opens an SQLite database at an exact path (tests). */
int store_open_sqlite_path(store **out, const char *path, int create, char *err,
                           size_t errlen);

/* Checks that a backend's table has the layout this build expects. */
int store_ops_check(const store_ops *ops);

void store_close(store *s); /* rolls back an open transaction; NULL-safe */
const char *store_error(const store *s);

int store_begin(store *s, enum store_tx kind);
int store_commit(store *s);
int store_rollback(store *s); /* no-op outside a transaction */
int store_schema_version(store *s, int *version);

int store_policy_add(store *s, store_policy *p);
int store_policy_current(store *s, store_policy *p);
int store_token_set(store *s, const store_token *t);
int store_token_revoke(store *s, const char *identity);
int store_token_list(store *s, store_token **out, size_t *n);
int store_request_insert(store *s, store_request *r);
int store_request_get(store *s, int64_t id, store_request *r);
int store_request_update(store *s, const store_request *r);
int store_request_list(store *s, const store_filter *f, store_request **out, size_t *n);
int store_approval_insert(store *s, store_approval *a);
int store_approval_list(store *s, int64_t request_id, store_approval **out, size_t *n);
/* broker */
int store_egress_add(store *s, int64_t request_id, const char *identity, int64_t day,
                     const char *environment, uint64_t delivered, uint64_t withheld,
                     int64_t at_us);
int store_egress_used(store *s, const char *identity, int64_t day, const char *environment,
                      uint64_t *bytes);
/* server */
int store_totp_set(store *s, const char *identity, const unsigned char *secret, size_t n,
                   int64_t now_us);
int store_totp_get(store *s, const char *identity, unsigned char *secret, size_t *n,
                   int64_t *last_step);
int store_totp_use(store *s, const char *identity, int64_t step, int *accepted);
int store_session_put(store *s, const store_session *se);
int store_session_get(store *s, const unsigned char hash[STORE_HASH_LEN], store_session *se);
int store_session_delete(store *s, const unsigned char hash[STORE_HASH_LEN]);
int store_session_totp(store *s, const unsigned char hash[STORE_HASH_LEN], int64_t totp_us);
int store_request_changes(store *s, int64_t since_us, size_t limit, store_change **out,
                          size_t *n);
/* sessions */
int store_isession_insert(store *s, store_isession *se);
int store_isession_get(store *s, int64_t id, store_isession *se);
int store_isession_update(store *s, const store_isession *se);
int store_isession_list(store *s, const char *target, const char *operator_name, size_t limit,
                        store_isession **out, size_t *n);
int store_isession_line_add(store *s, int64_t session_id, int64_t request_id, int64_t at_us,
                            int64_t *seq);
int store_isession_lines(store *s, int64_t session_id, store_isession_line **out, size_t *n);
int store_isession_line_of(store *s, int64_t request_id, store_isession_line *out);
int store_isession_presence_set(store *s, int64_t session_id, const char *identity,
                                int64_t now_us);
int store_isession_presence_clear(store *s, int64_t session_id, const char *identity);
int store_isession_presence_list(store *s, int64_t session_id, store_isession_presence **out,
                                 size_t *n);
/* presence checks */
int store_isession_proof_set(store *s, int64_t session_id, const char *identity,
                             const char *method, int64_t now_us);
int store_isession_proof_lapse(store *s, int64_t session_id, const char *identity,
                               int64_t proved_us, int64_t lapsed_us, int *marked);
int store_isession_proof_clear(store *s, int64_t session_id, const char *identity);
int store_isession_proofs(store *s, int64_t session_id, store_isession_proof **out,
                          size_t *n);
void store_isession_proofs_free(store_isession_proof *v, size_t n);
void store_isession_clear(store_isession *se);
void store_isessions_free(store_isession *v, size_t n);
void store_isession_presence_free(store_isession_presence *v, size_t n);
void store_session_clear(store_session *se);
void store_changes_free(store_change *v, size_t n);

/* Frees what a struct owns and zeroes it (NULL-safe). */
void store_request_clear(store_request *r);
void store_requests_free(store_request *v, size_t n);
void store_approvals_free(store_approval *v, size_t n);
void store_policy_clear(store_policy *p);
void store_tokens_free(store_token *v, size_t n);

/* Sets a string field to a copy of s (NULL allowed); frees the old value. */
int store_strset(char **field, const char *s);

/* Opens a store by spec: "postgres://..." or "postgresql://..." is a libpq URL (the
 * PostgreSQL backend), anything else a data directory (SQLite, DIR/escort.db). create and
 * err as store_open_sqlite; the message never repeats a URL's password. */
int store_open_url(store **out, const char *spec, int create, char *err, size_t errlen);

/* change notification across nodes (see store_ops.notify_listen) */
int store_notify_listen(store *s, int *fd);
int store_notify_next(store *s, store_notice *ev, int *got);

/* a request stored final with one INSERT (see store_ops.request_next_id); both need an
 * open write transaction (ESC_EINTERNAL otherwise) */
int store_request_next_id(store *s, int64_t *id);
int store_request_insert_as(store *s, store_request *r);

/* a token found by its hash (see store_ops.token_find); free out with store_token_clear */
int store_token_find(store *s, const unsigned char hash[STORE_HASH_LEN], store_token *out);
void store_token_clear(store_token *t);

#endif

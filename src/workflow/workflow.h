/* workflow.h — the change-request lifecycle: create (lockbox analyzes, policy decides),
 * approve/deny (approvals bound to the exact bytes), cancel, expire, and run exactly the
 * approved bytes on the target through the broker (local or ssh), with every step in the
 * audit log (fail closed). It orchestrates lockbox, policy, broker and audit over the
 * store; it never prints. */
#ifndef ESCORT_WORKFLOW_WORKFLOW_H
#define ESCORT_WORKFLOW_WORKFLOW_H

#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "lockbox/lockbox.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/buf.h"

/* Outcomes beyond ESC_E*: the CLI maps them to exit codes 3, 4 and 5. The reason is
 * always in the caller's message buffer, naming the request. */
#define WF_EREFUSED (-100) /* policy or authorization said no */
#define WF_ENOTFOUND (-101) /* no such request / identity / target */
#define WF_ECONFLICT (-102) /* the request is in the wrong state for this */

enum wf_state {
	WF_CREATED = 0,
	WF_ANALYZED,
	WF_DENIED,
	WF_PENDING,
	WF_APPROVED,
	WF_RUNNING,
	WF_SUCCEEDED,
	WF_FAILED,
	WF_CANCELLED,
	WF_EXPIRED,
	WF_NSTATES
};

#define WF_RUN_TIMEOUT_DEFAULT 600 /* seconds, when the target sets none */
/* bytes per command: the exact bytes also go into the audit record (base64 when not
 * UTF-8), which must stay under AUDIT_EVENT_MAX (1 MiB) */
#define WF_CMD_MAX ((size_t)512 * 1024)
#define WF_TOKEN_PREFIX "esc_"
#define WF_TOKEN_LEN 47 /* "esc_" + 43 base64url characters (32 random bytes) */

typedef struct wf wf;

/* Opens the store in datadir and the policy in force (its stored copy, checked against
 * the hash the store recorded). lb (borrowed, may be NULL) analyzes commands; without it
 * create fails and run trusts the analysis stored at creation. No policy loaded yet is
 * not an error here: actions that need one fail with a message. */
int wf_open(wf **out, const char *datadir, const lockbox *lb, char *err, size_t errlen);
/* wf_open on the store store_spec names (store_open_url: "postgres://..." or a data
 * directory; NULL = the SQLite store in datadir). datadir still holds the policy files,
 * the audit log and the keys. A PostgreSQL database without escort's schema gets it.
 * wf_open is this with $ESCORT_STORE (unset or empty = NULL). */
int wf_open_store(wf **out, const char *datadir, const char *store_spec, const lockbox *lb,
                  char *err, size_t errlen);
void wf_close(wf *w); /* NULL-safe */

/* For tests: a fixed clock (microseconds since the epoch; 0 = the real clock). */
void wf_set_clock(wf *w, int64_t now_us);
/* Audit lock wait in ms (default 60000). */
void wf_set_audit_wait(wf *w, unsigned ms);
/* A shared audit log for a long-running process (escortd): instead of opening the log for
 * each action and closing it after (which signs a tree head and takes DIR/audit/lock each
 * time), the first audit record of an action calls acquire for a writer handle and the
 * end of the action calls release. Durability is unchanged (every append returns after
 * its fdatasync); concurrent actions of many handles share syncs (group commit) and tree
 * heads come from the log's every-N-records / T-seconds policy and at close, which is the
 * owner's job (release must not close the log while other actions use it). acquire
 * returns 0 or a negative ESC_E* code with a message in err. NULL acquire: open per
 * action again. */
struct audit_log;
typedef int (*wf_audit_acquire_fn)(void *ctx, struct audit_log **l, char *err, size_t errlen);
typedef void (*wf_audit_release_fn)(void *ctx, struct audit_log *l);
void wf_set_audit_source(wf *w, wf_audit_acquire_fn acquire, wf_audit_release_fn release,
                         void *ctx);
/* Deferred audit records, for a writer that runs many actions inside one group store
 * transaction (store_group.h) and makes their records durable before that commits: with
 * on, audit records are queued on the handle instead of appended; wf_audit_take hands
 * over those queued so far (NULL: none), in order; wf_deferred_append appends them in
 * that order (each durable on return; stops at the first failure, message in err). The
 * caller must not commit the group unless the append succeeded. */
typedef struct wf_deferred wf_deferred;
void wf_set_audit_deferred(wf *w, int on);
wf_deferred *wf_audit_take(wf *w);
int wf_deferred_append(const wf_deferred *d, struct audit_log *l, char *err, size_t errlen);
void wf_deferred_free(wf_deferred *d); /* NULL-safe */
/* One queued record (borrowed, valid while d is): for a writer that appends the queues
 * of many actions together (audit_log_append_many). Returns the record after it (NULL at
 * the end). */
struct json_t;
const wf_deferred *wf_deferred_get(const wf_deferred *d, const char **type, const char **actor,
                                   const struct json_t **details);
store *wf_store(wf *w);
const policy *wf_policy(wf *w); /* NULL when none is loaded */

const char *wf_state_name(int state); /* "pending"...; "?" when out of range */
int wf_state_parse(const char *s);    /* -1 when unknown */
/* 1 when the lifecycle allows from -> to, else 0. */
int wf_transition_ok(int from, int to);

/* SHA-256 over (request id, target, policy version, every command's exact bytes), each
 * field length-prefixed so no two different tuples share an encoding. The policy version
 * is the one the request was decided under (what the approver was shown); it is stored
 * with the request ("binding", also for auto-approved requests) and with each approval.
 * Before an approval is recorded and before a run, the request's content is re-hashed:
 * any difference refuses the action. Independently, approve and run re-decide with the
 * policy in force and re-check every approver's attributes now (policy_quorum): a
 * clearance revoked by a reload drops that approval; a policy that now denies refuses.
 * Expiry: a pending/approved request lapses decision-time + approval_lifetime; each
 * approval lapses approval-time + lifetime (expired approvals do not count). */
int wf_approval_hash(int64_t id, const char *target, const char *policy_version,
                     const store_command *cmds, size_t ncmds,
                     unsigned char out[STORE_HASH_LEN]);

/* ---- administration (caller has checked the data directory owner) ---- */

/* Validates bytes with policy_load, keeps them as DATA/policy/vN-HASH.yaml and
 * DATA/policy/current.yaml, records the version; on any error the previous policy stays.
 * *version gets the new version number. */
int wf_policy_load(wf *w, const char *actor, const char *bytes, size_t len,
                   const char *filename, int64_t *version, buf *msg);
/* Issues a new token for identity (which must exist in the policy in force) and replaces
 * the old one. token gets WF_TOKEN_LEN + 1 bytes. */
int wf_token_issue(wf *w, const char *actor, const char *identity, char *token,
                   size_t tokenlen, buf *msg);
int wf_token_revoke(wf *w, const char *actor, const char *identity, buf *msg);

/* Finds the identity a token belongs to (constant-time comparison of hashes); the name
 * is copied into name. WF_EREFUSED for an unknown token or an identity the policy no
 * longer knows. */
int wf_authenticate(wf *w, const char *token, char *name, size_t namelen, buf *msg);

/* ---- requests ---- */

typedef struct wf_new_request {
	const char *target;
	const char *ticket;        /* may be NULL */
	const char *justification; /* may be NULL */
	const unsigned char *const *cmds;
	const size_t *lens;
	size_t ncmds;
} wf_new_request;

/* Stores, analyzes and decides a request. *id and *state are set whenever a request was
 * stored (also when the policy denied it: then WF_EREFUSED with the reasons in msg). */
int wf_request_create(wf *w, const char *actor, const wf_new_request *nr, int64_t *id,
                      int *state, buf *msg);
/* What a creation stored, for a caller that answers with it at once (escortd's 201)
 * instead of reading the request back: the request as stored (commands with their
 * analyses, the decision), the highest risk of its commands, and what wf_request_needs
 * says of it now. */
typedef struct wf_created {
	store_request r;
	int risk;  /* lockbox_risk */
	buf needs; /* pending: the approvals still missing; approved: "" */
} wf_created;
/* wf_request_create that fills *out (wf_created_clear it) whenever a request was stored
 * (*id > 0); *out is empty otherwise. */
int wf_request_create_kept(wf *w, const char *actor, const wf_new_request *nr, int64_t *id,
                           int *state, buf *msg, wf_created *out);
void wf_created_clear(wf_created *c); /* NULL-safe */
/* A creation in two parts, for a writer that stores many creations serially (escortd's
 * group commit) while the part without the store runs on other threads:
 * wf_request_prepare does the checks, the lockbox analysis and the policy decision under
 * w's policy (no store, no audit); it fails (nothing to report: the caller then creates
 * as usual, which says why) for anything wf_request_create would refuse.
 * wf_request_create_prepared then stores p exactly as wf_request_create_kept would have
 * (same rows, same audit records), when w's policy in force is the one p was decided
 * under; otherwise (or with p NULL) it is wf_request_create_kept with nr. p stays the
 * caller's (wf_prepared_free; it is emptied by a use). */
typedef struct wf_prepared wf_prepared;
int wf_request_prepare(wf *w, const char *actor, const wf_new_request *nr, wf_prepared **out);
int wf_request_create_prepared(wf *w, const char *actor, const wf_new_request *nr,
                               wf_prepared *p, int64_t *id, int *state, buf *msg,
                               wf_created *out);
void wf_prepared_free(wf_prepared *p); /* NULL-safe */
int wf_request_approve(wf *w, const char *actor, int64_t id, const char *comment,
                       int *state, buf *msg);
int wf_request_deny(wf *w, const char *actor, int64_t id, const char *comment, buf *msg);
int wf_request_cancel(wf *w, const char *actor, int64_t id, buf *msg);
/* Re-checks everything with the current policy, claims the request (approved -> running,
 * at most once), runs it through the broker, records the result. *state: succeeded or
 * failed. ssh targets use escort's key DATA/keys/<settings.key, default the target name>
 * and the pinned host key; with settings.attest (default: ssh targets) the target is
 * snapshotted before and after the run and the difference goes into the result and the
 * execution.end event (result.attestation). The result also carries the redaction counts
 * and the SHA-256 of the operator's (redacted) view next to the full output's. The
 * requester's share of the data egress caps (egress.per_operator_daily, per UTC day) is
 * charged in the store; what exceeds it is withheld from his view (result.egress, and an
 * egress.truncated / egress.withheld audit event). */
int wf_request_run(wf *w, const char *actor, int64_t id, int *state, buf *msg);

/* Reads a request with its approvals, if actor may see it. Operators (who are not also
 * escorts, reviewers, auditors or admins) get the output with secrets redacted. */
int wf_request_get(wf *w, const char *actor, int64_t id, store_request *r,
                   store_approval **apv, size_t *napv, buf *msg);
/* Lists requests actor may see (operators: their own). */
int wf_request_list(wf *w, const char *actor, const char *state, int mine,
                    store_request **out, size_t *n, buf *msg);

/* What a request still needs, in plain words ("1 more approval: ..."), using the current
 * policy and the valid approvals; "" when nothing. */
int wf_request_needs(wf *w, const store_request *r, const store_approval *apv, size_t napv,
                     buf *out);

/* ---- server-facing authentication (wf_auth.c) ---- */

#define WF_TOTP_SECRET_LEN 20 /* bytes (RFC 4226's recommended 160 bits) */
#define WF_TOTP_STEP 30       /* seconds */
#define WF_TOTP_DIGITS 6
#define WF_SESSION_TOKEN_LEN 64 /* hex characters of a session cookie / CSRF token */

/* RFC 4226 HOTP of counter with HMAC-<md> ("SHA1", "SHA256", "SHA512"), digits 6..9. */
int wf_hotp(const unsigned char *key, size_t keylen, const char *md, uint64_t counter,
            int digits, uint32_t *code);
/* RFC 6238 TOTP at unix_time with WF_TOTP_STEP-second steps. */
int wf_totp(const unsigned char *key, size_t keylen, const char *md, int64_t unix_time,
            int digits, uint32_t *code);
/* RFC 4648 base32 without padding; out needs ceil(n*8/5)+1 bytes. */
int wf_base32(const unsigned char *p, size_t n, char *out, size_t outlen);

/* Gives identity (in the policy in force) a new random TOTP secret, replacing any older
 * one; audited as totp.enrolled by actor. secret_b32 gets the base32 secret, uri (may be
 * NULL) the otpauth:// URI for authenticator apps. */
int wf_totp_enroll(wf *w, const char *datadir, const char *actor, const char *identity,
                   char *secret_b32, size_t b32len, buf *uri, buf *msg);
int wf_totp_enrolled(wf *w, const char *identity, int *yes, buf *msg);
/* Accepts a 6-digit code of the previous, current or next 30-s step at now_us, once:
 * a step at or before the newest one already used is refused (WF_EREFUSED). */
int wf_totp_verify(wf *w, const char *identity, const char *code, int64_t now_us, buf *msg);

/* Console sessions: a random cookie value (only its SHA-256 is stored) and CSRF token;
 * totp_us is when the login proved a TOTP code (0: it did not). Audited as
 * session.login. */
int wf_session_create(wf *w, const char *datadir, const char *identity, int64_t totp_us,
                      int64_t lifetime_s, char token[WF_SESSION_TOKEN_LEN + 1],
                      char csrf[WF_SESSION_TOKEN_LEN + 1], int64_t *expires_us, buf *msg);
/* WF_EREFUSED for an unknown or expired session or an identity the policy dropped. */
int wf_session_lookup(wf *w, const char *token, store_session *se, buf *msg);
int wf_session_end(wf *w, const char *token, buf *msg);
int wf_session_mark_totp(wf *w, const char *token, int64_t now_us, buf *msg);

/* Requests whose last update is at or after since_us (live event feeds). */
int wf_request_changes(wf *w, int64_t since_us, size_t limit, store_change **out, size_t *n,
                       buf *msg);
/* *current = 1 when the policy this handle holds is the one in force in the store (a
 * long-running server reopens its handles when another process loaded a new one). */
int wf_policy_is_current(wf *w, int *current);
/* The stored record of the policy in force and its YAML text (ESC_ENOENT: none). */
int wf_policy_info(wf *w, const char *datadir, store_policy *sp, buf *text, buf *msg);

/* ---- interactive sessions (escort-session(1); used by src/session) ---- */
/* A session ties an operator to a (local) target; each line he enters is a request of
 * that session, analyzed, decided and approved exactly like any request (no
 * self-approval, quorum, bound to the exact bytes). A line that would escape line-by-line
 * gating (an interactive shell or REPL, a multiplexer, ssh onward, a job that outlives the
 * line) also gets the category shell-escape, for the policy to decide. Audit events:
 * session.start, session.join, session.leave, session.pause, session.resume,
 * session.kill, session.end (with the recording's SHA-256), and execution.start /
 * execution.end with "session" and "line" for each line run. */

typedef struct wf_line_result {
	int exit_code;
	int interrupted, timed_out, killed;
	const unsigned char *output; /* the first bytes of the output (kept up to 1 MiB) */
	size_t output_len;
	uint64_t output_total;
	unsigned char sha256[STORE_HASH_LEN]; /* of all the output */
	int64_t ms;
} wf_line_result;

/* Opens a session (operators only; the policy must let actor work on the target). */
int wf_isession_start(wf *w, const char *actor, const char *target, const char *ticket,
                      int64_t *id, buf *msg);
/* Records where the session's shell runs (host, pid = process group, start ticks). */
int wf_isession_attach(wf *w, const char *actor, int64_t id, const char *host, int64_t pid,
                       int64_t start, buf *msg);
int wf_isession_get(wf *w, const char *actor, int64_t id, store_isession *se, buf *msg);
/* Sessions actor may see (operators: their own), optionally of a target / operator. */
int wf_isession_list(wf *w, const char *actor, const char *target, const char *operator_name,
                     store_isession **out, size_t *n, buf *msg);
void wf_isession_settings(wf *w, const char *target, policy_sessions *out);
/* The policy's target as the broker sees it (ssh: escort's key DATA/keys/NAME in key). */
int wf_isession_broker_target(wf *w, const char *target, broker_target *bt, char *key,
                              size_t keylen);
int wf_isession_pause(wf *w, const char *actor, int64_t id, int paused, const char *why,
                      buf *msg);
/* Ends the session with the recording's hex SHA-256 (audited as session.end). A killed
 * session stays "killed" but gets its recording hash and session.end all the same.
 * attest_diff (NULL: attestation off) is what changed on the target between the start and
 * the end of the session (broker_attest_diff lines), or attest_error why it is unknown. */
int wf_isession_end(wf *w, const char *actor, int64_t id, const char *reason,
                    const char *recording_sha256, uint64_t recording_bytes, size_t lines,
                    const char *attest_diff, size_t attest_changes, const char *attest_error,
                    buf *msg);
/* The kill switch (escorts, reviewers, admins, or the session's operator): state killed,
 * audited; *se gets the row (shell host/pid for killing it). */
int wf_isession_kill(wf *w, const char *actor, int64_t id, const char *reason,
                     store_isession *se, buf *msg);
/* An escort joins (present 1: also every few seconds as a heartbeat) or leaves. */
int wf_isession_presence(wf *w, const char *actor, int64_t id, int present, buf *msg);
/* How many escorts count toward the quorum: seen within the target's presence_every and,
 * when the policy has a presence_check, proved presence within its `every` (names appended). */
int wf_isession_present(wf *w, int64_t id, const char *target, size_t *n, buf *names);
/* Enters a line: stores and decides it as a request of the session. *seq is its number
 * in the session; *state and WF_EREFUSED as wf_request_create. */
int wf_isession_line_submit(wf *w, const char *actor, int64_t id, const unsigned char *line,
                            size_t len, int64_t *seq, int64_t *request_id, int *state,
                            buf *msg);
int wf_isession_lines(wf *w, const char *actor, int64_t id, store_isession_line **out,
                      size_t *n, buf *msg);
int wf_isession_line_request(wf *w, int64_t id, int64_t seq, int64_t *request_id, buf *msg);
/* approved -> running after the re-checks every start goes through (wf_claim: bytes,
 * approvers, policy now, at most once); the line's session must not be ended or killed. */
int wf_isession_line_claim(wf *w, const char *actor, int64_t request_id, buf *msg);
/* running -> succeeded / failed with the line's output and how it ended. */
int wf_isession_line_finish(wf *w, const char *actor, int64_t request_id,
                            const wf_line_result *lr, int *state, buf *msg);
/* 1 and the reason when a line would escape line-by-line gating. */
int wf_isession_escape_reason(const unsigned char *line, size_t len, buf *why);
/* The recording hash the audit log's session.end holds for session id (hex, 65 bytes). */
int wf_isession_recorded_hash(wf *w, int64_t id, char *hex, size_t hexlen, buf *msg);
int wf_isession_state_valid(const char *s);
const char *wf_datadir(const wf *w);

/* ---- a session's shell (wf_shell.c): what src/session uses instead of the broker ----
 * Resolves the target in the policy in force and opens its persistent shell: in this
 * process, or, under privilege separation (broker_priv_shell_attach was called), in the
 * broker process, reached over the shell's own channel. */
typedef struct wf_shell wf_shell;
/* ESCORT_SESSION=session_id is in the shell's environment. WF_ENOTFOUND: no such target. */
int wf_shell_open(wf *w, const char *target, int64_t session_id, wf_shell **out, buf *msg);
/* One line (broker_shell_run's contract; io->poll: Ctrl-C and the kill switch). */
int wf_shell_run(wf_shell *sh, const unsigned char *line, size_t len, const broker_shell_io *io,
                 broker_shell_result *res, buf *msg);
int wf_shell_alive(const wf_shell *sh);
/* pid (process group and session) and start ticks for wf_isession_attach; 0 for ssh. */
int64_t wf_shell_pid(const wf_shell *sh);
int64_t wf_shell_start(const wf_shell *sh);
void wf_shell_kill(wf_shell *sh);  /* the shell and everything it started; NULL-safe */
void wf_shell_close(wf_shell *sh); /* NULL-safe */
/* The kill switch's "here" step: when se's shell runs on this host, kill it now (through
 * the broker process under privilege separation). 1 killed here, 0 not on this host (or
 * gone already), negative with why in msg when it could not be killed. */
int wf_isession_kill_here(wf *w, const store_isession *se, buf *msg);
/* Attestation for a session's target: a snapshot at the start, and at the end the plain
 * words of what changed since (broker_attest, broker_attest_diff). */
int wf_isession_attest_begin(wf *w, const char *target, buf *snapshot, buf *msg);
int wf_isession_attest_end(wf *w, const char *target, const buf *before, buf *diff,
                           size_t *nchanges, buf *msg);
/* What an operator may see of output: secrets replaced (broker_redact). */
int wf_redact(const unsigned char *p, size_t n, buf *out);
/* ---- end interactive sessions ---- */


/* ---- sudo approvals (wf_sudo.c; escort_sudo(8)) ---- */
/* A host speaks for its sudo users with the token of an identity with the policy's host
 * role; it may submit, read, claim and cancel only requests on the targets listed in its
 * `hosts` (each a target with transport sudo) and nothing else. The requester is the sudo
 * user (an identity of the policy), the command the argv quoted into one bash line
 * (util/shquote.h). */
struct json_t;
typedef struct wf_sudo_req {
	const char *host, *user, *runas, *cwd, *tty; /* cwd, tty may be NULL */
	const char *const *argv;
	size_t argc;
} wf_sudo_req;
/* 1 when caller is an identity with the host role in the policy in force. */
int wf_sudo_is_host(wf *w, const char *caller);
/* Creates the request; *id and *state as wf_request_create (WF_EREFUSED when the caller is
 * not a host for q->host, the user is unknown or the policy denies); cmdline gets the line. */
int wf_sudo_submit(wf *w, const char *caller, const wf_sudo_req *q, int64_t *id, int *state,
                   buf *cmdline, buf *msg);
/* Reads a request of the caller's host (WF_ENOTFOUND for any other). */
int wf_sudo_get(wf *w, const char *caller, int64_t id, store_request *r, store_approval **apv,
                size_t *napv, buf *msg);
/* Hands an approved request to sudo, once, after the re-checks every start goes through
 * (wf_claim: state, expiry, binding, approvals, the policy in force) and that its one
 * command's SHA-256 is sha256_hex; audits sudo.allowed through audit (before the commit:
 * fail closed) and moves the request to succeeded (runner: the host). Refusals are audited
 * (request.refused, action sudo.claim) through the handle's log. */
typedef int (*wf_sudo_audit_fn)(void *ctx, const char *type, const char *actor,
                                struct json_t *details, char *err, size_t errlen);
int wf_sudo_claim(wf *w, const char *caller, int64_t id, const char *sha256_hex,
                  wf_sudo_audit_fn audit, void *ctx, buf *msg);
/* Cancels a pending request of the caller's host (sudo gave up waiting). */
int wf_sudo_cancel(wf *w, const char *caller, int64_t id, buf *msg);
/* ---- the run-time claim (workflow.c) ----
 * The one re-check every way an approved request starts goes through (wf_request_run, a
 * session's line, a sudo claim), inside one store write transaction: the request is the
 * caller's to take (see who/line/sudo), has not run (at most once), has not expired (else it
 * is moved to expired), is approved, its bytes hold no NUL and still hash to what was
 * decided, no approval is bound to other bytes, it was auto-approved at its decision or a
 * valid approval of someone who is still an escort or reviewer (not its requester) stands,
 * and the policy in force, re-decided with today's rules and attributes, neither denies it
 * nor lacks a quorum of the approvals it still accepts. Then the request is claimed
 * (approved -> running, runner = actor; handed over: -> succeeded with result) and the
 * claim audited (event: request, target, hash, effect, approvers kept, commands; a line's
 * session and line; a sudo claim's host, requester and command_sha256) before the commit.
 * Refusals are WF_EREFUSED, audited as request.refused with the action; wrong states
 * WF_ECONFLICT; not the caller's to see WF_ENOTFOUND. The differences between the callers
 * are the spec's fields, nothing else. */
enum wf_claim_who {
	WF_CLAIM_REQUESTER_OR_ESCORT, /* escort request run */
	WF_CLAIM_REQUESTER,           /* a session's line: its operator */
	WF_CLAIM_HOST                 /* a host identity listing the (sudo) target; any other
	                               * request is WF_ENOTFOUND to it */
};
typedef struct wf_claim_spec {
	const char *actor;          /* who claims: the runner and the audit actor */
	int64_t id;
	int who;                    /* enum wf_claim_who */
	int line;                   /* 1: must be a line of a session not ended or killed;
	                             * 0: must not be a session's line */
	int sudo;                   /* 1: the target's transport must be sudo; 0: local or ssh */
	const char *cmd_sha256_hex; /* set: exactly one command, whose SHA-256 is this */
	int to_state;               /* WF_RUNNING, or WF_SUCCEEDED when someone else runs it */
	const char *result;         /* the stored result when to_state is WF_SUCCEEDED */
	const char *event;          /* the claim's audit record, e.g. "execution.start" */
	const char *action;         /* request.refused's action, e.g. "run" */
	wf_sudo_audit_fn audit;     /* where the claim's record goes (NULL: the handle's log) */
	void *audit_ctx;
} wf_claim_spec;
typedef struct wf_claimed {
	store_request r;            /* as claimed */
	policy_decision d;          /* the decision of the policy in force */
	const policy_target *tg;    /* the target in the policy in force (borrowed) */
} wf_claimed;
/* 0 with *out filled (wf_claimed_clear it); on any error *out is empty. */
int wf_claim(wf *w, const wf_claim_spec *cs, wf_claimed *out, buf *msg);
void wf_claimed_clear(wf_claimed *c); /* NULL-safe */
/* ---- end sudo approvals ---- */

#endif

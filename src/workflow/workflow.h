/* workflow.h — the change-request lifecycle: create (lockbox analyzes, policy decides),
 * approve/deny (approvals bound to the exact bytes), cancel, expire, and run exactly the
 * approved bytes on the target through the broker (local or ssh), with every step in the
 * audit log (fail closed). It orchestrates lockbox, policy, broker and audit over the
 * store; it never prints. */
#ifndef ESCORT_WORKFLOW_WORKFLOW_H
#define ESCORT_WORKFLOW_WORKFLOW_H

#include <stddef.h>
#include <stdint.h>

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
void wf_close(wf *w); /* NULL-safe */

/* For tests: a fixed clock (microseconds since the epoch; 0 = the real clock). */
void wf_set_clock(wf *w, int64_t now_us);
/* Audit lock wait in ms (default 60000). */
void wf_set_audit_wait(wf *w, unsigned ms);
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

#endif

/* wf_sudo.c — sudo approvals (escort_sudo(8)): a host submits its user's sudo command as a
 * request on itself (the target), reads it while the user waits, and claims an approved
 * one exactly once. Built on the workflow's public operations and the store. */
#include "workflow/workflow.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/event.h"
#include "util/err.h"
#include "util/shquote.h"

int
wf_sudo_is_host(wf *w, const char *caller)
{
	const policy *p = wf_policy(w);

	return p != NULL && caller != NULL &&
	       policy_identity_has_role(policy_identity_find(p, caller), POLICY_ROLE_HOST);
}

/* The caller must be a host identity that lists `target`, a target with transport sudo in
 * the policy in force (a request escort itself could run is never a host's business). */
static int
host_for(wf *w, const char *caller, const char *target, buf *msg)
{
	const policy *p = wf_policy(w);
	const policy_identity *who;
	const policy_target *t;

	if (p == NULL) {
		buf_puts(msg, "no policy is loaded");
		return ESC_EINVAL;
	}
	who = caller ? policy_identity_find(p, caller) : NULL;
	if (!policy_identity_has_role(who, POLICY_ROLE_HOST)) {
		buf_printf(msg, "%s is not a host identity (sudo approvals come from identities with "
		                "the host role)", caller ? caller : "(nobody)");
		return WF_EREFUSED;
	}
	if (target == NULL || !policy_identity_hosts(who, target)) {
		buf_printf(msg, "%s may submit sudo commands only for its hosts, not %s", caller,
		           target ? target : "(none)");
		return WF_EREFUSED;
	}
	if ((t = policy_target_find(p, target)) == NULL || !policy_target_is_sudo(t)) {
		buf_printf(msg, "%s is not a target with transport sudo in the policy in force",
		           target);
		return WF_EREFUSED;
	}
	return 0;
}

int
wf_sudo_submit(wf *w, const char *caller, const wf_sudo_req *q, int64_t *id, int *state,
               buf *cmdline, buf *msg)
{
	const char *host = q->host;
	const unsigned char *cmds[1];
	size_t lens[1];
	wf_new_request nr;
	buf just = BUF_INIT;
	int rc;

	if ((rc = host_for(w, caller, host, msg)) != 0)
		return rc;
	if (q->user == NULL || policy_identity_find(wf_policy(w), q->user) == NULL) {
		buf_printf(msg, "sudo user %s is not an identity in the policy in force",
		           q->user ? q->user : "(none)");
		return WF_EREFUSED;
	}
	buf_reset(cmdline);
	if ((rc = util_shquote_argv(q->argv, q->argc, cmdline)) != 0) {
		buf_printf(msg, "the command cannot be quoted: %s", esc_strerror(rc));
		return rc;
	}
	if ((rc = buf_printf(&just, "sudo on %s by %s as %s in %s on %s", host, q->user,
	                     q->runas ? q->runas : "root", q->cwd ? q->cwd : "?",
	                     q->tty ? q->tty : "no tty")) < 0)
		goto out;
	cmds[0] = cmdline->data;
	lens[0] = cmdline->len;
	memset(&nr, 0, sizeof(nr));
	nr.target = host;
	nr.justification = buf_cstr(&just);
	nr.cmds = cmds;
	nr.lens = lens;
	nr.ncmds = 1;
	rc = wf_request_create(w, q->user, &nr, id, state, msg);
out:
	buf_free(&just);
	return rc < 0 ? rc : 0;
}

int
wf_sudo_get(wf *w, const char *caller, int64_t id, store_request *r, store_approval **apv,
            size_t *napv, buf *msg)
{
	store_request peek;
	buf why = BUF_INIT;
	int rc;

	memset(r, 0, sizeof(*r));
	*apv = NULL;
	*napv = 0;
	if (!wf_sudo_is_host(w, caller))
		return host_for(w, caller, NULL, msg);
	memset(&peek, 0, sizeof(peek));
	rc = store_request_get(wf_store(w), id, &peek);
	if (rc == 0 && host_for(w, caller, peek.target, &why) != 0)
		rc = ESC_ENOENT; /* not this host's request: as if it did not exist */
	buf_free(&why);
	if (rc == ESC_ENOENT) {
		store_request_clear(&peek);
		buf_printf(msg, "request %" PRId64 " does not exist on the hosts of %s", id, caller);
		return WF_ENOTFOUND;
	}
	if (rc) {
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
		return rc;
	}
	/* read as its requester: the workflow's own view (expiry, visibility) */
	rc = wf_request_get(w, peek.requester, id, r, apv, napv, msg);
	store_request_clear(&peek);
	return rc;
}

static void
hex_of(const unsigned char *h, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[2 * n] = 0;
}

/* Why an approved request may not be handed to sudo now (0: it may). */
static int
claim_check(wf *w, const store_request *r, const store_approval *apv, size_t napv,
            const char *sha256_hex, int64_t now, buf *msg)
{
	unsigned char h[STORE_HASH_LEN];
	char hex[2 * STORE_HASH_LEN + 1];
	unsigned int hl = 0;
	size_t i;
	int ok = 0;
	const policy_identity *who;

	if (wf_state_parse(r->state) != WF_APPROVED) {
		buf_printf(msg, "request %" PRId64 " is %s, not approved", r->id, r->state);
		return WF_ECONFLICT;
	}
	if (r->expires_us && now >= r->expires_us) {
		buf_printf(msg, "request %" PRId64 " has expired", r->id);
		return WF_ECONFLICT;
	}
	if (r->ncmds != 1 || EVP_Digest(r->cmds[0].bytes, r->cmds[0].len, h, &hl, EVP_sha256(),
	                                NULL) != 1) {
		buf_printf(msg, "request %" PRId64 " is not one sudo command", r->id);
		return WF_EREFUSED;
	}
	hex_of(h, sizeof(h), hex);
	if (sha256_hex == NULL || strlen(sha256_hex) != 2 * STORE_HASH_LEN ||
	    CRYPTO_memcmp(hex, sha256_hex, 2 * STORE_HASH_LEN) != 0) {
		buf_printf(msg, "request %" PRId64 " approved another command than this one", r->id);
		return WF_EREFUSED;
	}
	if (!r->has_binding || r->policy_version == NULL ||
	    wf_approval_hash(r->id, r->target, r->policy_version, r->cmds, r->ncmds, h) != 0 ||
	    CRYPTO_memcmp(h, r->binding, STORE_HASH_LEN) != 0) {
		buf_printf(msg, "request %" PRId64 " was changed after it was decided", r->id);
		return WF_EREFUSED;
	}
	/* an auto-approved request has no approvals: the policy alone allowed it */
	if (napv == 0 && r->decision) {
		policy_decision dec;

		memset(&dec, 0, sizeof(dec));
		if (policy_decision_from_json(r->decision, strlen(r->decision), &dec) == 0 &&
		    dec.effect == POLICY_AUTO_APPROVE)
			ok = 1;
		policy_decision_free(&dec);
	}
	for (i = 0; i < napv; i++) {
		if (apv[i].kind != STORE_APPROVE ||
		    CRYPTO_memcmp(apv[i].hash, r->binding, STORE_HASH_LEN) != 0 ||
		    (apv[i].expires_us && now >= apv[i].expires_us) ||
		    strcmp(apv[i].approver, r->requester) == 0)
			continue;
		who = policy_identity_find(wf_policy(w), apv[i].approver);
		if (who && policy_identity_has_role(who, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER))
			ok = 1;
	}
	if (!ok) {
		buf_printf(msg, "request %" PRId64 " has no valid approval bound to this command",
		           r->id);
		return WF_EREFUSED;
	}
	return 0;
}

int
wf_sudo_claim(wf *w, const char *caller, int64_t id, const char *sha256_hex,
              wf_sudo_audit_fn audit, void *ctx, buf *msg)
{
	store *st = wf_store(w);
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0;
	int64_t now = audit_time_now();
	char err[512] = "";
	json_t *d = NULL;
	buf why = BUF_INIT;
	int rc;

	memset(&r, 0, sizeof(r));
	if (!wf_sudo_is_host(w, caller))
		return host_for(w, caller, NULL, msg);
	if ((rc = store_begin(st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(st));
		return rc;
	}
	rc = store_request_get(st, id, &r);
	if (rc == 0 && host_for(w, caller, r.target, &why) != 0)
		rc = ESC_ENOENT;
	if (rc == ESC_ENOENT) {
		buf_printf(msg, "request %" PRId64 " does not exist on the hosts of %s", id, caller);
		rc = WF_ENOTFOUND;
		goto tx;
	}
	if (rc == 0 && (rc = store_approval_list(st, id, &apv, &napv)) != 0)
		buf_printf(msg, "store: %s", store_error(st));
	if (rc)
		goto tx;
	if ((rc = claim_check(w, &r, apv, napv, sha256_hex, now, msg)) != 0)
		goto tx;
	/* and the policy in force must still allow it, as for a run */
	if ((rc = wf_sudo_claim_check(w, &r, apv, napv, msg)) != 0)
		goto tx;
	if (!wf_transition_ok(WF_APPROVED, WF_RUNNING) ||
	    !wf_transition_ok(WF_RUNNING, WF_SUCCEEDED)) {
		rc = ESC_EINTERNAL;
		goto tx;
	}
	/* sudo runs the command, not escort: the request ends here as handed over */
	r.updated_us = now;
	r.started_us = now;
	r.finished_us = now;
	r.has_exit = 0;
	if ((rc = store_strset(&r.state, wf_state_name(WF_SUCCEEDED))) ||
	    (rc = store_strset(&r.runner, caller)))
		goto tx;
	free(r.result);
	r.result = strdup("{\"exit_code_known\":false,\"transport\":\"sudo\"}");
	if (r.result == NULL) {
		rc = ESC_ENOMEM;
		goto tx;
	}
	d = json_pack("{s:I, s:s, s:s, s:s}", "request", (json_int_t)id, "host", r.target,
	              "requester", r.requester, "command_sha256", sha256_hex);
	if (d == NULL) {
		rc = ESC_ENOMEM;
		goto tx;
	}
	if ((rc = audit(ctx, "sudo.allowed", caller, d, err, sizeof(err))) != 0) {
		d = NULL; /* stolen */
		buf_printf(msg, "audit log unavailable, nothing was allowed: %s", err);
		goto tx;
	}
	d = NULL;
	if ((rc = store_request_update(st, &r)) != 0) {
		buf_printf(msg, "store: %s", store_error(st));
		goto tx;
	}
	if ((rc = store_commit(st)) != 0)
		buf_printf(msg, "store: %s", store_error(st));
	goto out;
tx:
	(void)store_rollback(st);
out:
	buf_free(&why);
	json_decref(d);
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	return rc;
}

int
wf_sudo_cancel(wf *w, const char *caller, int64_t id, buf *msg)
{
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0;
	int rc = wf_sudo_get(w, caller, id, &r, &apv, &napv, msg);

	if (rc)
		return rc;
	rc = wf_request_cancel(w, r.requester, id, msg);
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	return rc;
}

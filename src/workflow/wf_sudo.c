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

/* sudo runs the command, not escort: the claim hands the request over and it ends there
 * (approved -> succeeded, runner: the host), after the same re-check as any run
 * (wf_claim) plus that the command is exactly the one sudo is about to run. */
int
wf_sudo_claim(wf *w, const char *caller, int64_t id, const char *sha256_hex,
              wf_sudo_audit_fn audit, void *ctx, buf *msg)
{
	wf_claimed c;
	const wf_claim_spec cs = {
		.actor = caller, .id = id, .who = WF_CLAIM_HOST, .line = 0, .sudo = 1,
		.cmd_sha256_hex = sha256_hex ? sha256_hex : "",
		.to_state = WF_SUCCEEDED,
		.result = "{\"exit_code_known\":false,\"transport\":\"sudo\"}",
		.event = "sudo.allowed", .action = "sudo.claim", .audit = audit, .audit_ctx = ctx,
	};
	int rc;

	if (!wf_sudo_is_host(w, caller))
		return host_for(w, caller, NULL, msg);
	rc = wf_claim(w, &cs, &c, msg);
	wf_claimed_clear(&c);
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

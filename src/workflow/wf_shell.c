/* wf_shell.c — a session's shell as the workflow hands it to src/session: the target is
 * resolved in the policy in force, and the shell lives in this process or, under
 * privilege separation, in the broker process (broker_priv_shell_*), switched here the
 * way broker_run forwards runs. Also the kill switch's "here" step, attestation and
 * redaction for sessions, so nothing above the workflow calls the broker. */
#include "workflow/workflow.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker_priv.h"
#include "util/err.h"

struct wf_shell {
	broker_shell *sh;  /* in this process */
	broker_pshell *ps; /* in the broker process */
};

int
wf_shell_open(wf *w, const char *target, int64_t session_id, wf_shell **out, buf *msg)
{
	broker_target bt;
	char key[4096], env_sess[64];
	const char *env[2] = { env_sess, NULL };
	wf_shell *s;
	int rc;

	*out = NULL;
	if (wf_isession_broker_target(w, target, &bt, key, sizeof(key)) != 0) {
		buf_printf(msg, "no target %s in the policy in force", target);
		return WF_ENOTFOUND;
	}
	snprintf(env_sess, sizeof(env_sess), "ESCORT_SESSION=%" PRId64, session_id);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ESC_ENOMEM;
	if (broker_priv_shell_active())
		rc = broker_priv_shell_open(&s->ps, &bt, env, msg);
	else
		rc = broker_shell_open(&s->sh, &bt, env, msg);
	if (rc != 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int
wf_shell_run(wf_shell *sh, const unsigned char *line, size_t len, const broker_shell_io *io,
             broker_shell_result *res, buf *msg)
{
	if (sh && sh->ps)
		return broker_priv_shell_run(sh->ps, line, len, io, res, msg);
	return broker_shell_run(sh ? sh->sh : NULL, line, len, io, res, msg);
}

int
wf_shell_alive(const wf_shell *sh)
{
	if (sh == NULL)
		return 0;
	return sh->ps ? broker_priv_shell_alive(sh->ps) : broker_shell_alive(sh->sh);
}

int64_t
wf_shell_pid(const wf_shell *sh)
{
	if (sh == NULL)
		return 0;
	return sh->ps ? broker_priv_shell_pid(sh->ps) : broker_shell_pid(sh->sh);
}

int64_t
wf_shell_start(const wf_shell *sh)
{
	if (sh == NULL)
		return 0;
	return sh->ps ? broker_priv_shell_start(sh->ps) : broker_shell_start(sh->sh);
}

void
wf_shell_kill(wf_shell *sh)
{
	if (sh == NULL)
		return;
	if (sh->ps)
		broker_priv_shell_kill(sh->ps);
	else
		broker_shell_kill(sh->sh);
}

void
wf_shell_close(wf_shell *sh)
{
	if (sh == NULL)
		return;
	broker_priv_shell_close(sh->ps);
	broker_shell_close(sh->sh);
	free(sh);
}

int
wf_isession_kill_here(wf *w, const store_isession *se, buf *msg)
{
	char host[256] = "";
	int rc;

	(void)w;
	(void)gethostname(host, sizeof(host) - 1);
	if (se->shell_pid <= 0 || se->host == NULL || strcmp(se->host, host) != 0)
		return 0;
	if (broker_priv_shell_active()) {
		/* the shells are the broker process's (root's): only it may kill them */
		rc = broker_priv_shell_kill_pid(se->shell_pid, se->shell_start, msg);
		if (rc == ESC_ENOENT)
			return 0; /* not one of its shells (another process's, or gone) */
		return rc == 0 ? 1 : rc;
	}
	rc = broker_shell_kill_pid(se->shell_pid, se->shell_start, msg);
	return rc == 0 ? 1 : rc;
}

int
wf_isession_attest_begin(wf *w, const char *target, buf *snapshot, buf *msg)
{
	broker_target bt;
	broker *b = NULL;
	char key[4096];
	int rc;

	if (wf_isession_broker_target(w, target, &bt, key, sizeof(key)) != 0) {
		buf_printf(msg, "no target %s in the policy in force", target);
		return WF_ENOTFOUND;
	}
	if ((rc = broker_new(&b)) != 0)
		return rc;
	rc = broker_attest(b, &bt, NULL, snapshot, msg);
	broker_free(b);
	return rc;
}

int
wf_isession_attest_end(wf *w, const char *target, const buf *before, buf *diff,
                       size_t *nchanges, buf *msg)
{
	buf after = BUF_INIT;
	int rc;

	*nchanges = 0;
	if ((rc = wf_isession_attest_begin(w, target, &after, msg)) == 0)
		rc = broker_attest_diff((const char *)before->data, before->len,
		                        (const char *)after.data, after.len, diff, nchanges);
	buf_free(&after);
	return rc;
}

int
wf_redact(const unsigned char *p, size_t n, buf *out)
{
	return broker_redact(p, n, out, NULL);
}

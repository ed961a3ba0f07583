/* wf_bench.c — request create -> approve -> run cycles per second on the SQLite store,
 * through the workflow library (lockbox analysis, policy decision, audit records and a
 * real bash run each time). usage: wf_bench [N] (default 200); needs examples/policy.yaml
 * and the rules directory ($ESCORT_RULES or ./rules). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/sth.h"
#include "lockbox/lockbox.h"
#include "store/store.h"
#include "util/buf.h"
#include "workflow/workflow.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/escort-wf-bench-XXXXXX", e[512] = "", cmd[300];
	const char *rules = getenv("ESCORT_RULES");
	buf pol = BUF_INIT, msg = BUF_INIT, lerr = BUF_INIT;
	lockbox *lb = NULL;
	store *s = NULL;
	wf *w = NULL;
	long n = argc > 1 ? atol(argv[1]) : 200, i, ok = 0;
	double t0, t1, tc = 0, ta = 0, tr = 0, x;
	int rc = 1, st;
	int64_t id;

	if (n <= 0 || mkdtemp(dir) == NULL)
		return 2;
	if (buf_read_file(&pol, "examples/policy.yaml") != 0 ||
	    lockbox_load(&lb, rules && *rules ? rules : "rules", NULL, &lerr) != 0 ||
	    audit_key_generate(dir, e, sizeof(e)) != 0 ||
	    store_open_sqlite(&s, dir, 1, e, sizeof(e)) != 0) {
		fprintf(stderr, "wf_bench: setup failed: %s%s\n", e, buf_cstr(&lerr));
		goto out;
	}
	store_close(s);
	if (wf_open(&w, dir, lb, e, sizeof(e)) != 0 ||
	    wf_policy_load(w, "bench", (const char *)pol.data, pol.len, "policy.yaml", NULL,
	                   &msg) != 0) {
		fprintf(stderr, "wf_bench: %s%s\n", e, buf_cstr(&msg));
		goto out;
	}
	t0 = now();
	for (i = 0; i < n; i++) {
		wf_new_request nr;
		const unsigned char *cmds[1];
		size_t lens[1];

		snprintf(cmd, sizeof(cmd), "echo cycle %ld", i);
		cmds[0] = (const unsigned char *)cmd;
		lens[0] = strlen(cmd);
		memset(&nr, 0, sizeof(nr));
		nr.target = "dod-web";
		nr.cmds = cmds;
		nr.lens = lens;
		nr.ncmds = 1;
		buf_reset(&msg);
		x = now();
		if (wf_request_create(w, "op-in", &nr, &id, &st, &msg) != 0)
			break;
		tc += now() - x;
		x = now();
		if (wf_request_approve(w, "esc-1", id, NULL, &st, &msg) != 0 || st != WF_APPROVED)
			break;
		ta += now() - x;
		x = now();
		if (wf_request_run(w, "op-in", id, &st, &msg) != 0 || st != WF_SUCCEEDED)
			break;
		tr += now() - x;
		ok++;
	}
	t1 = now();
	if (ok != n) {
		fprintf(stderr, "wf_bench: cycle %ld failed: %s\n", ok, buf_cstr(&msg));
		goto out;
	}
	printf("workflow: %ld create->approve->run cycles in %.2f s = %.1f cycles/s "
	       "(create %.2f ms, approve %.2f ms, run %.2f ms on average)\n",
	       n, t1 - t0, (double)n / (t1 - t0), tc * 1e3 / n, ta * 1e3 / n, tr * 1e3 / n);
	rc = 0;
out:
	wf_close(w);
	lockbox_free(lb);
	buf_free(&pol);
	buf_free(&msg);
	buf_free(&lerr);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}

/* broker_run.c — drives the broker from scripts (integration tests, make bench):
 *   broker_run [--ssh HOST PORT USER KEYFILE FINGERPRINT] [--timeout MS] [--repeat N]
 *              [--redact] [--attest ROOT] CMD
 * Prints the exit code, stdout, stderr and timings; with --repeat, commands per second;
 * with --attest, the plain-words diff of snapshots taken before and after CMD. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/broker.h"
#include "util/buf.h"
#include "util/err.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	broker_target t;
	broker_limits lim;
	broker_result res;
	broker *b = NULL;
	buf msg = BUF_INIT, before = BUF_INIT, after = BUF_INIT, diff = BUF_INIT, red = BUF_INIT;
	const char *cmd = NULL, *attest = NULL;
	int i, rc = 0, repeat = 1, redact = 0, n;
	double t0, t1, ta, tb;

	memset(&t, 0, sizeof(t));
	memset(&lim, 0, sizeof(lim));
	memset(&res, 0, sizeof(res));
	t.name = "cli";
	t.transport = BROKER_LOCAL;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ssh") == 0 && i + 5 < argc) {
			t.transport = BROKER_SSH;
			t.host = argv[++i];
			t.port = (unsigned)atoi(argv[++i]);
			t.user = argv[++i];
			t.key_file = argv[++i];
			t.host_key = argv[++i];
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			lim.timeout_ms = (unsigned)atoi(argv[++i]);
		} else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
			repeat = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--workdir") == 0 && i + 1 < argc) {
			t.workdir = argv[++i];
		} else if (strcmp(argv[i], "--attest") == 0 && i + 1 < argc) {
			attest = argv[++i];
		} else if (strcmp(argv[i], "--redact") == 0) {
			redact = 1;
		} else if (cmd == NULL) {
			cmd = argv[i];
		} else {
			fprintf(stderr, "usage: broker_run [--ssh HOST PORT USER KEY FP] [--timeout MS] "
			                "[--repeat N] [--redact] [--attest ROOT] CMD\n");
			return 2;
		}
	}
	if (cmd == NULL || repeat < 1) {
		fprintf(stderr, "broker_run: no command\n");
		return 2;
	}
	if (broker_new(&b) != 0)
		return 1;
	ta = now_s();
	if (attest && (rc = broker_attest(b, &t, attest, &before, &msg)) != 0)
		goto fail;
	t0 = now_s();
	for (n = 0; n < repeat; n++) {
		broker_result_free(&res);
		rc = broker_run(b, &t, (const unsigned char *)cmd, strlen(cmd), &lim, &res, &msg);
		if (rc)
			goto fail;
	}
	t1 = now_s();
	if (attest) {
		size_t nch = 0;

		tb = now_s();
		if ((rc = broker_attest(b, &t, attest, &after, &msg)) != 0 ||
		    (rc = broker_attest_diff((const char *)before.data, before.len,
		                             (const char *)after.data, after.len, &diff, &nch)) != 0)
			goto fail;
		printf("snapshot_ms: %.0f %.0f (%zu bytes)\nchanges: %zu\n%s", (t0 - ta) * 1000,
		       (now_s() - tb) * 1000, after.len, nch, buf_cstr(&diff));
	}
	if (repeat > 1)
		printf("commands: %d seconds: %.3f per_second: %.1f\n", repeat, t1 - t0,
		       repeat / (t1 - t0));
	printf("exit: %d\ntimed_out: %d\nreused: %d\nconnect_ms: %lld\nrun_ms: %lld\n",
	       res.exit_code, res.timed_out, res.reused, (long long)res.connect_ms,
	       (long long)res.run_ms);
	if (redact) {
		broker_redaction c;

		memset(&c, 0, sizeof(c));
		broker_redact(res.out.data, res.out.len, &red, &c);
		printf("redacted: %zu\n", c.total);
		fwrite(red.data ? (const void *)red.data : "", 1, red.len, stdout);
	} else {
		printf("stdout:\n");
		fwrite(res.out.data ? (const void *)res.out.data : "", 1, res.out.len, stdout);
	}
	printf("stderr:\n");
	fwrite(res.err.data ? (const void *)res.err.data : "", 1, res.err.len, stdout);
	goto out;
fail:
	fprintf(stderr, "broker_run: %s\n", buf_cstr(&msg));
out:
	broker_result_free(&res);
	buf_free(&msg);
	buf_free(&before);
	buf_free(&after);
	buf_free(&diff);
	buf_free(&red);
	broker_free(b);
	return rc ? 1 : 0;
}

/* store_race.c — a driver for tests/integration/70-postgres.t: many processes try to claim
 * (approved -> running) the same request at once through the store, the way the workflow
 * does; whoever claims it "runs" it by appending a line to a log. Works on any store spec.
 *   store_race setup SPEC                    create the store and one approved request: id
 *   store_race claim SPEC ID NAME GO DELAY_MS tx|notx RUNLOG
 *       tx: read and claim in one write transaction (the workflow's way)
 *       notx: read outside any transaction, then claim (a careless caller: only the
 *             database's constraints stand between it and a second run)
 *       once connected creates GO.NAME.ready, waits for file GO to exist, sleeps DELAY_MS
 *       between reading and claiming.
 *       prints "claimed", "saw STATE" (exit 1) or "refused: MESSAGE" (exit 2)
 *   store_race show SPEC ID                  "STATE RUNNER STARTED_US" */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "util/err.h"

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
open_spec(store **s, const char *spec, int create)
{
	char err[512];

	if (store_open_url(s, spec, create, err, sizeof(err)) != 0) {
		fprintf(stderr, "store_race: %s\n", err);
		return 3;
	}
	return 0;
}

static int
do_setup(const char *spec)
{
	store *s = NULL;
	store_request r;
	int rc;

	if ((rc = open_spec(&s, spec, 1)) != 0)
		return rc;
	memset(&r, 0, sizeof(r));
	if (store_strset(&r.requester, "op-in") || store_strset(&r.target, "dod-web") ||
	    store_strset(&r.state, "approved") || store_strset(&r.policy_version, "race") ||
	    (r.cmds = calloc(1, sizeof(*r.cmds))) == NULL ||
	    (r.cmds[0].bytes = (unsigned char *)strdup("uptime")) == NULL) {
		store_request_clear(&r);
		store_close(s);
		return 3;
	}
	r.ncmds = 1;
	r.cmds[0].len = 6;
	r.created_us = r.updated_us = now_us();
	rc = store_request_insert(s, &r);
	if (rc)
		fprintf(stderr, "store_race: %s\n", store_error(s));
	else
		printf("%" PRId64 "\n", r.id);
	store_request_clear(&r);
	store_close(s);
	return rc ? 3 : 0;
}

static int
do_claim(char **av)
{
	const char *spec = av[0], *name = av[2], *go = av[3], *mode = av[5], *runlog = av[6];
	int64_t id = strtoll(av[1], NULL, 10);
	long delay = strtol(av[4], NULL, 10);
	int tx = strcmp(mode, "tx") == 0, rc, fd, waited = 0;
	store *s = NULL;
	store_request r;
	char line[4200];

	memset(&r, 0, sizeof(r));
	if ((rc = open_spec(&s, spec, 0)) != 0)
		return rc;
	/* connected: say so, then wait for the start signal */
	snprintf(line, sizeof(line), "%s.%s.ready", go, name);
	if ((fd = open(line, O_WRONLY | O_CREAT, 0600)) >= 0)
		close(fd);
	while (access(go, F_OK) != 0 && waited++ < 30000)
		sleep_ms(1);
	if (tx && (rc = store_begin(s, STORE_TX_WRITE)) != 0)
		goto refused;
	if ((rc = store_request_get(s, id, &r)) != 0)
		goto refused;
	if (strcmp(r.state, "approved") != 0) {
		printf("saw %s\n", r.state);
		store_request_clear(&r);
		store_close(s);
		return 1;
	}
	sleep_ms(delay);
	if ((rc = store_strset(&r.state, "running")) || (rc = store_strset(&r.runner, name)))
		goto refused;
	r.started_us = r.updated_us = now_us();
	if ((rc = store_request_update(s, &r)) != 0)
		goto refused;
	if (tx && (rc = store_commit(s)) != 0)
		goto refused;
	/* claimed: now "run" it */
	snprintf(line, sizeof(line), "%s\n", name);
	fd = open(runlog, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		perror(runlog);
		rc = 3;
	}
	if (fd >= 0)
		close(fd);
	printf("claimed\n");
	store_request_clear(&r);
	store_close(s);
	return rc;
refused:
	printf("refused: %s (%s)\n", store_error(s), esc_strerror(rc));
	store_request_clear(&r);
	store_close(s);
	return 2;
}

static int
do_show(const char *spec, const char *ids)
{
	store *s = NULL;
	store_request r;
	int rc;

	if ((rc = open_spec(&s, spec, 0)) != 0)
		return rc;
	if ((rc = store_request_get(s, strtoll(ids, NULL, 10), &r)) != 0) {
		fprintf(stderr, "store_race: %s\n", store_error(s));
		store_close(s);
		return 3;
	}
	printf("%s %s %" PRId64 "\n", r.state, r.runner ? r.runner : "-", r.started_us);
	store_request_clear(&r);
	store_close(s);
	return 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "setup") == 0)
		return do_setup(argv[2]);
	if (argc == 9 && strcmp(argv[1], "claim") == 0 &&
	    (strcmp(argv[7], "tx") == 0 || strcmp(argv[7], "notx") == 0))
		return do_claim(argv + 2);
	if (argc == 4 && strcmp(argv[1], "show") == 0)
		return do_show(argv[2], argv[3]);
	fprintf(stderr, "usage: store_race setup SPEC | claim SPEC ID NAME GO DELAY_MS tx|notx "
	                "RUNLOG | show SPEC ID\n");
	return 64;
}

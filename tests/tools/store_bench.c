/* store_bench.c — store-level request cycles per second, SQLite next to PostgreSQL in one
 * run: each cycle is the workflow's four write transactions (create; approve; claim;
 * record the result) without analysis, policy, audit log or bash, so what is measured is
 * the store. usage: store_bench [SECONDS] [CLIENTS...] (default 2 s, 1 and 4 clients,
 * each a process with its own connection). PostgreSQL rows need ESCORT_TEST_PG (a
 * conninfo URL; tests/lib/pg-run starts a server and sets it). */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "util/err.h"

#define MAX_LAT 200000
#define SCHEMA "escort_bench"

struct result {
	long cycles;
	double p50_ms, p99_ms;
	int failed;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#define CHECK(e)                                                                  \
	do {                                                                          \
		if ((rc = (e)) != 0) {                                                    \
			fprintf(stderr, "store_bench: %s: %s\n", #e, store_error(s));         \
			goto out;                                                             \
		}                                                                         \
	} while (0)

/* One create -> approve -> run cycle, shaped like the workflow's transactions. */
static int
cycle(store *s, const char *who, long k)
{
	store_request r, got;
	store_approval a, *apv = NULL;
	size_t napv = 0;
	char cmd[96];
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&got, 0, sizeof(got));
	memset(&a, 0, sizeof(a));
	snprintf(cmd, sizeof(cmd), "systemctl restart nginx # %s %ld", who, k);
	if (store_strset(&r.requester, who) || store_strset(&r.target, "dod-web") ||
	    store_strset(&r.state, "created") || store_strset(&r.policy_version, "bench") ||
	    (r.cmds = calloc(1, sizeof(*r.cmds))) == NULL ||
	    (r.cmds[0].bytes = (unsigned char *)strdup(cmd)) == NULL ||
	    store_strset(&r.cmds[0].analysis, "{\"risk\":\"medium\",\"summary\":\"restart\"}")) {
		rc = ESC_ENOMEM;
		goto out;
	}
	r.ncmds = 1;
	r.cmds[0].len = strlen(cmd);
	r.created_us = r.updated_us = 1;
	/* create: insert, analyzed, pending */
	CHECK(store_begin(s, STORE_TX_WRITE));
	CHECK(store_request_insert(s, &r));
	CHECK(store_strset(&r.state, "analyzed"));
	CHECK(store_request_update(s, &r));
	CHECK(store_strset(&r.state, "pending"));
	CHECK(store_strset(&r.decision, "{\"effect\":\"needs_approval\",\"quorum\":1}"));
	CHECK(store_request_update(s, &r));
	CHECK(store_commit(s));
	/* approve: read, record the approval, approved */
	CHECK(store_begin(s, STORE_TX_WRITE));
	CHECK(store_request_get(s, r.id, &got));
	CHECK(store_approval_list(s, r.id, &apv, &napv));
	a.request_id = r.id;
	a.approver = "esc-1";
	a.kind = STORE_APPROVE;
	a.policy_version = "bench";
	memset(a.hash, 1, sizeof(a.hash));
	CHECK(store_approval_insert(s, &a));
	CHECK(store_strset(&got.state, "approved"));
	CHECK(store_request_update(s, &got));
	CHECK(store_commit(s));
	store_approvals_free(apv, napv);
	apv = NULL;
	store_request_clear(&got);
	/* run: read, claim; then the result */
	CHECK(store_begin(s, STORE_TX_WRITE));
	CHECK(store_request_get(s, r.id, &got));
	CHECK(store_approval_list(s, r.id, &apv, &napv));
	CHECK(strcmp(got.state, "approved") == 0 ? 0 : ESC_EINTERNAL);
	CHECK(store_strset(&got.state, "running"));
	CHECK(store_strset(&got.runner, "esc-1"));
	got.started_us = 2;
	CHECK(store_request_update(s, &got));
	CHECK(store_commit(s));
	CHECK(store_begin(s, STORE_TX_WRITE));
	CHECK(store_strset(&got.state, "succeeded"));
	got.finished_us = 3;
	got.has_exit = 1;
	if ((got.output = malloc(64)) == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	memset(got.output, 'o', 64);
	got.output_len = 64;
	CHECK(store_request_update(s, &got));
	CHECK(store_commit(s));
out:
	if (rc)
		(void)store_rollback(s);
	store_approvals_free(apv, napv);
	store_request_clear(&got);
	store_request_clear(&r);
	return rc;
}

/* In a child: cycles for secs on spec; the result goes to fd. */
static void
client(const char *spec, double secs, int idx, int fd)
{
	struct result res = { 0, 0, 0, 0 };
	double *lat = calloc(MAX_LAT, sizeof(*lat)), t0, t1, end;
	char who[32], err[512];
	store *s = NULL;
	long n = 0;

	snprintf(who, sizeof(who), "op-%d", idx);
	if (lat == NULL || store_open_url(&s, spec, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "store_bench: %s\n", lat ? err : "out of memory");
		res.failed = 1;
		goto out;
	}
	end = now() + secs;
	while ((t0 = now()) < end) {
		if (cycle(s, who, n) != 0) {
			res.failed = 1;
			break;
		}
		t1 = now();
		if (n < MAX_LAT)
			lat[n] = (t1 - t0) * 1e3;
		n++;
	}
	res.cycles = n;
	if (n > 0) {
		long m = n < MAX_LAT ? n : MAX_LAT;

		qsort(lat, (size_t)m, sizeof(*lat), cmp_double);
		res.p50_ms = lat[m / 2];
		res.p99_ms = lat[(m * 99) / 100];
	}
out:
	store_close(s);
	free(lat);
	if (write(fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(3);
	_exit(res.failed ? 1 : 0);
}

/* Runs clients processes at once on spec; prints one table row. */
static int
run(const char *backend, const char *spec, double secs, int clients)
{
	struct result sum = { 0, 0, 0, 0 }, r;
	int fds[2], i, st, bad = 0;
	pid_t pid;

	if (pipe(fds) != 0)
		return -1;
	for (i = 0; i < clients; i++) {
		if ((pid = fork()) < 0)
			return -1;
		if (pid == 0) {
			close(fds[0]);
			client(spec, secs, i, fds[1]);
		}
	}
	close(fds[1]);
	for (i = 0; i < clients; i++) {
		if (read(fds[0], &r, sizeof(r)) != (ssize_t)sizeof(r)) {
			bad = 1;
			continue;
		}
		sum.cycles += r.cycles;
		sum.p50_ms = r.p50_ms > sum.p50_ms ? r.p50_ms : sum.p50_ms;
		sum.p99_ms = r.p99_ms > sum.p99_ms ? r.p99_ms : sum.p99_ms;
		bad |= r.failed;
	}
	close(fds[0]);
	while (wait(&st) > 0)
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	printf("%-11s %7d %12.1f %10.1f %10.2f %10.2f%s\n", backend, clients,
	       (double)sum.cycles / secs, 4.0 * (double)sum.cycles / secs, sum.p50_ms, sum.p99_ms,
	       bad ? "  FAILED" : "");
	return bad ? -1 : 0;
}

static int
pg_schema(const char *base, int create)
{
	PGconn *c = PQconnectdb(base);
	PGresult *r = NULL;
	int ok = 0;

	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, create ? "SET client_min_messages = warning;"
		                       " DROP SCHEMA IF EXISTS " SCHEMA " CASCADE; CREATE SCHEMA " SCHEMA
		                     : "SET client_min_messages = warning; DROP SCHEMA " SCHEMA " CASCADE");
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	}
	if (!ok)
		fprintf(stderr, "store_bench: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/* The price of one client-server round trip, the unit a store operation pays on
 * PostgreSQL (a cycle makes 22: 4 transactions of 3-7 statements each). */
static double
round_trip_us(const char *base)
{
	PGconn *c = PQconnectdb(base);
	double t0, us = -1;
	int i, n = 2000;

	if (PQstatus(c) == CONNECTION_OK) {
		t0 = now();
		for (i = 0; i < n; i++)
			PQclear(PQexec(c, "SELECT 1"));
		us = (now() - t0) * 1e6 / n;
	}
	PQfinish(c);
	return us;
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	int clients[8] = { 1, 4 }, nc = 2, i, rc = 0;
	const char *pg = getenv("ESCORT_TEST_PG");
	char dir[] = "/tmp/escort-store-bench-XXXXXX", url[2048], err[512], cmd[128];
	store *s = NULL;

	if (secs <= 0 || mkdtemp(dir) == NULL)
		return 2;
	if (argc > 2) {
		for (nc = 0, i = 2; i < argc && nc < 8; i++)
			if ((clients[nc] = atoi(argv[i])) > 0)
				nc++;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("%-11s %7s %12s %10s %10s %10s\n", "backend", "clients", "cycles/s", "write tx/s",
	       "p50 ms", "p99 ms");
	/* SQLite: the data directory's escort.db, WAL, synchronous=FULL */
	if (store_open_url(&s, dir, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "store_bench: %s\n", err);
		rc = 1;
		goto out;
	}
	store_close(s);
	for (i = 0; i < nc; i++)
		if (run("sqlite", dir, secs, clients[i]) != 0)
			rc = 1;
	if (pg == NULL || pg[0] == 0) {
		printf("postgresql  (skipped: ESCORT_TEST_PG is not set)\n");
		goto out;
	}
	if (pg_schema(pg, 1) != 0) {
		rc = 1;
		goto out;
	}
	snprintf(url, sizeof(url), "%s%soptions=-csearch_path%%3D" SCHEMA, pg,
	         strchr(pg, '?') ? "&" : "?");
	if (store_open_url(&s, url, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "store_bench: %s\n", err);
		rc = 1;
	} else {
		store_close(s);
		for (i = 0; i < nc; i++)
			if (run("postgresql", url, secs, clients[i]) != 0)
				rc = 1;
	}
	printf("postgresql round trip (SELECT 1, one connection): %.0f us; a cycle makes 22\n",
	       round_trip_us(pg));
	(void)pg_schema(pg, 0);
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}

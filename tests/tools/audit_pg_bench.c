/* audit_pg_bench.c — durable audit appends per second with 1, 8 and 64 appenders: the file
 * log (fdatasync group commit) next to the log in PostgreSQL (COMMIT group commit) with one
 * node, and with two nodes (two processes sharing the log, the appenders split between
 * them); appends per commit show the group commit. Then `audit_verify` over the PostgreSQL
 * log (records/s), and the floor: bare commits/s of one client inserting one row per
 * transaction (what one durable COMMIT costs on that server). usage: audit_pg_bench URL
 * [SECONDS]. URL should name a fresh schema of a
 * server with fsync on (the numbers are only durable then); the log's tables are created
 * there. AUDIT_PG_BENCH_ONLY=N: one appender count. */
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/log.h"
#include "audit/sth.h"
#include "audit/verify.h"

static double secs = 2.0;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
	audit_log *log;
	int tid;
	double end;
	long ops;
	int failed;
};

/* appends ~256-byte events (as audit_bench does) until the end time */
static void *
worker(void *arg)
{
	struct job *j = arg;

	for (long i = 0; now() < j->end; i++) {
		json_t *d = json_pack("{s:i, s:I, s:s}", "tid", j->tid, "i", (json_int_t)i, "cmd",
		                      "systemctl restart nginx && journalctl -u nginx --since -5min | "
		                      "tail -n 50 >/tmp/x");
		int rc = audit_log_append(j->log, "bench.event", "bench", d, NULL);

		json_decref(d);
		if (rc != 0) {
			fprintf(stderr, "audit_pg_bench: append failed: %s\n", audit_log_error(j->log));
			j->failed = 1;
			break;
		}
		j->ops++;
	}
	return NULL;
}

/* Opens the log (pg_url: NULL for the files in dir), runs n appenders for secs; *ops and
 * *commits get the totals. -1 on failure. */
static int
run(const char *dir, const char *pg_url, int n, long *ops, uint64_t *commits)
{
	audit_opts o;
	audit_log *log = NULL;
	struct job j[64];
	pthread_t th[64];
	char err[4096];
	double end;
	int i, bad = 0;

	memset(&o, 0, sizeof(o));
	o.pg_url = pg_url ? pg_url : "";
	o.lock_wait_ms = 30000;
	if (audit_log_open(&log, dir, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "audit_pg_bench: %s\n", err);
		return -1;
	}
	end = now() + secs;
	for (i = 0; i < n; i++) {
		j[i] = (struct job){ log, i, end, 0, 0 };
		if (pthread_create(&th[i], NULL, worker, &j[i]) != 0)
			return -1;
	}
	*ops = 0;
	for (i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		*ops += j[i].ops;
		bad |= j[i].failed;
	}
	*commits = audit_log_syncs(log);
	if (audit_log_close(log, err, sizeof(err)) != 0) {
		fprintf(stderr, "audit_pg_bench: %s\n", err);
		bad = 1;
	}
	return bad ? -1 : 0;
}

/* Two processes (nodes) with n appenders between them (n = 1: one each). */
static int
run_two(const char *dir, const char *url, int n, long *ops, uint64_t *commits)
{
	int fds[2][2], k, status, bad = 0;
	pid_t pid[2];
	int per = n > 1 ? n / 2 : 1;

	*ops = 0;
	*commits = 0;
	for (k = 0; k < 2; k++) {
		if (pipe(fds[k]) != 0)
			return -1;
		pid[k] = fork();
		if (pid[k] < 0)
			return -1;
		if (pid[k] == 0) {
			long o = 0;
			uint64_t c = 0;
			char line[64];
			int len, rc = run(dir, url, per, &o, &c);

			len = snprintf(line, sizeof(line), "%ld %" PRIu64 "\n", o, c);
			if (rc != 0 || write(fds[k][1], line, (size_t)len) != len)
				_exit(3);
			_exit(0);
		}
		close(fds[k][1]);
	}
	for (k = 0; k < 2; k++) {
		char line[64] = "";
		ssize_t r = read(fds[k][0], line, sizeof(line) - 1);
		long o = 0;
		unsigned long long c = 0;

		close(fds[k][0]);
		waitpid(pid[k], &status, 0);
		if (r <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
		    sscanf(line, "%ld %llu", &o, &c) != 2)
			bad = 1;
		*ops += o;
		*commits += c;
	}
	return bad ? -1 : 0;
}

/* Commits/s of one client, one-row INSERT per (autocommit) transaction; -1 on failure. */
static double
pg_floor(const char *url)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r;
	long n = 0;
	double end, t0;
	int ok;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "audit_pg_bench: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	r = PQexec(c, "CREATE TABLE audit_bench_floor (x integer)");
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	t0 = now();
	end = t0 + secs;
	while (ok && now() < end) {
		r = PQexec(c, "INSERT INTO audit_bench_floor VALUES (1)");
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		n++;
	}
	r = PQexec(c, "DROP TABLE IF EXISTS audit_bench_floor");
	PQclear(r);
	PQfinish(c);
	return ok ? (double)n / (now() - t0) : -1;
}

int
main(int argc, char **argv)
{
	static const int counts[] = { 1, 8, 64 };
	char base[] = "/tmp/escort-audit-pg-bench-XXXXXX", dir[4200], err[4096];
	const char *url;
	audit_verify_opts vo;
	audit_verify_result *r;
	int one = 0;
	double t0, t;

	if (argc < 2 || argc > 3 || (strncmp(argv[1], "postgres://", 11) != 0 &&
	                             strncmp(argv[1], "postgresql://", 13) != 0)) {
		fprintf(stderr, "usage: audit_pg_bench postgres://... [SECONDS]\n");
		return 2;
	}
	url = argv[1];
	if (argc == 3)
		secs = atof(argv[2]);
	if (secs <= 0)
		secs = 2.0;
	if (getenv("AUDIT_PG_BENCH_ONLY"))
		one = atoi(getenv("AUDIT_PG_BENCH_ONLY"));
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 3;
	}
	/* one key for every run: the PostgreSQL log refuses a second key */
	if (audit_key_generate(base, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 3;
	}
	printf("durable audit appends/s (appends per commit), %.0f s each\n", secs);
	printf("%-10s %20s %20s %20s\n", "appenders", "file", "postgresql 1 node",
	       "postgresql 2 nodes");
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		int n = counts[c];
		long f_ops, p_ops, q_ops;
		uint64_t f_c, p_c, q_c;
		char cf[32], cp[32], cq[32];

		if (one && one != n)
			continue;
		snprintf(dir, sizeof(dir), "%s/file%d", base, n);
		mkdir(dir, 0700);
		if (audit_key_generate(dir, err, sizeof(err)) != 0 ||
		    run(dir, NULL, n, &f_ops, &f_c) != 0 || run(base, url, n, &p_ops, &p_c) != 0 ||
		    run_two(base, url, n, &q_ops, &q_c) != 0) {
			fprintf(stderr, "audit_pg_bench: a run failed%s%s\n", err[0] ? ": " : "", err);
			return 3;
		}
		snprintf(cf, sizeof(cf), "%.0f (%.1f)", (double)f_ops / secs,
		         f_c ? (double)f_ops / (double)f_c : 0.0);
		snprintf(cp, sizeof(cp), "%.0f (%.1f)", (double)p_ops / secs,
		         p_c ? (double)p_ops / (double)p_c : 0.0);
		snprintf(cq, sizeof(cq), "%.0f (%.1f)", (double)q_ops / secs,
		         q_c ? (double)q_ops / (double)q_c : 0.0);
		printf("%-10d %20s %20s %20s\n", n, cf, cp, cq);
		fflush(stdout);
	}
	printf("(2 nodes: the appenders split between two processes; with 1, one each)\n");
	printf("postgresql floor: %.0f commits/s (one client, a one-row INSERT per transaction)\n",
	       pg_floor(url));
	/* verify what the runs appended */
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return 3;
	memset(&vo, 0, sizeof(vo));
	vo.pg_url = url;
	snprintf(dir, sizeof(dir), "%s/%s", base, AUDIT_PUB_FILE);
	t0 = now();
	if (audit_verify(base, &vo, r) != 0 || r->bad) {
		fprintf(stderr, "audit_pg_bench: verify: %s\n", r->msg);
		free(r);
		return 1;
	}
	t = now() - t0;
	printf("verify (postgresql): %" PRIu64 " records, %" PRIu64 " signed tree heads in %.2f s = "
	       "%.0f records/s\n", r->records, r->sths, t, t > 0 ? (double)r->records / t : 0.0);
	free(r);
	return 0;
}

/* audit_bench.c — measures the audit log side by side with what a user would otherwise
 * use: durable appends per second of ~256-byte events with 1, 8 and 64 appenders, next to
 * SQLite (WAL, synchronous=FULL; one transaction per event, and batched) and a bare
 * write+fdatasync loop (per event, and batched at the appender count); then verification
 * MB/s next to plain SHA-256 over the same bytes. usage: audit_bench DIR [SECONDS] */
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/log.h"
#include "audit/sth.h"
#include "audit/verify.h"

static double secs = 2.0;
static char base[4096];

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* details that make the whole record about 256 bytes */
static json_t *
details(int tid, long i)
{
	return json_pack("{s:i, s:I, s:s}", "tid", tid, "i", (json_int_t)i, "cmd",
	                 "systemctl restart nginx && journalctl -u nginx --since -5min | "
	                 "tail -n 50 >/tmp/x");
}

struct job {
	int kind; /* 0 escort, 1 sqlite per event, 2 sqlite batched */
	int tid, batch;
	audit_log *log;
	const char *db;
	double end;
	long ops;
};

static void *
worker(void *arg)
{
	struct job *j = arg;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *s;
	long i = 0;

	if (j->kind > 0) {
		if (sqlite3_open(j->db, &db) != SQLITE_OK)
			return NULL;
		sqlite3_busy_timeout(db, 60000);
		sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL);
		sqlite3_prepare_v2(db, "INSERT INTO ev(body) VALUES (?)", -1, &st, NULL);
	}
	while (now() < j->end) {
		json_t *d = details(j->tid, i);

		if (j->kind == 0) {
			if (audit_log_append(j->log, "bench.event", "bench", d, NULL) != 0)
				exit(3);
			j->ops++;
		} else {
			int n = j->kind == 1 ? 1 : j->batch;

			s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
			sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
			for (int k = 0; k < n; k++) {
				sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
				sqlite3_step(st);
				sqlite3_reset(st);
			}
			if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
				exit(3);
			free(s);
			j->ops += n;
		}
		json_decref(d);
		i++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return NULL;
}

static double
run_threads(int kind, int n, audit_log *log, const char *db)
{
	struct job *jobs = calloc((size_t)n, sizeof(*jobs));
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	double t0 = now(), t1;
	long total = 0;

	for (int i = 0; i < n; i++) {
		jobs[i] = (struct job){ kind, i, n, log, db, t0 + secs, 0 };
		pthread_create(&th[i], NULL, worker, &jobs[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		total += jobs[i].ops;
	}
	t1 = now();
	free(jobs);
	free(th);
	return (double)total / (t1 - t0);
}

static double
bare_loop(int batch)
{
	char path[4200], rec[256];
	int fd;
	long ops = 0;
	double t0 = now(), end = t0 + secs;

	snprintf(path, sizeof(path), "%s/bare.dat", base);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (fd < 0)
		exit(3);
	memset(rec, 'x', sizeof(rec));
	while (now() < end) {
		for (int k = 0; k < batch; k++)
			if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
				exit(3);
		if (fdatasync(fd) != 0)
			exit(3);
		ops += batch;
	}
	close(fd);
	return (double)ops / (now() - t0);
}

int
main(int argc, char **argv)
{
	static const int all[] = { 1, 8, 64 };
	const int *counts = all;
	size_t ncounts = 3;
	int one;
	char dir[4200], db[4200], err[4096], cmd[8400];

	if (argc < 2) {
		fprintf(stderr, "usage: audit_bench DIR [SECONDS]\n");
		return 2;
	}
	snprintf(base, sizeof(base), "%s", argv[1]);
	if (argc > 2)
		secs = atof(argv[2]);
	printf("durable appends/s, ~256-byte events, %.0f s each\n", secs);
	printf("%-10s %12s %14s %14s %12s %12s\n", "appenders", "escort", "sqlite/event",
	       "sqlite/batch", "bare/event", "bare/batch");
	if (getenv("AUDIT_BENCH_ONLY")) {
		one = atoi(getenv("AUDIT_BENCH_ONLY"));
		counts = &one;
		ncounts = 1;
	}
	for (size_t c = 0; c < ncounts; c++) {
		int n = counts[c];
		audit_log *log = NULL;
		audit_opts o;
		sqlite3 *h;
		double e, s1, s2, b1, b2;

		snprintf(dir, sizeof(dir), "%s/log%d", base, n);
		mkdir(dir, 0700);
		if (audit_key_generate(dir, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return 3;
		}
		memset(&o, 0, sizeof(o));
		if (getenv("AUDIT_BENCH_STH_EVERY"))
			o.sth_every = (uint64_t)atoll(getenv("AUDIT_BENCH_STH_EVERY"));
		if (audit_log_open(&log, dir, &o, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return 3;
		}
		e = run_threads(0, n, log, NULL);
		audit_log_close(log, NULL, 0);
		snprintf(db, sizeof(db), "%s/bench%d.db", base, n);
		unlink(db);
		if (sqlite3_open(db, &h) != SQLITE_OK)
			return 3;
		sqlite3_exec(h, "PRAGMA journal_mode=WAL; CREATE TABLE ev(id INTEGER PRIMARY KEY, "
		                "body TEXT)", NULL, NULL, NULL);
		sqlite3_close(h);
		s1 = run_threads(1, n, NULL, db);
		s2 = run_threads(2, n, NULL, db);
		b1 = bare_loop(1);
		b2 = bare_loop(n);
		printf("%-10d %12.0f %14.0f %14.0f %12.0f %12.0f\n", n, e, s1, s2, b1, b2);
		fflush(stdout);
	}
	/* verification speed next to hashing the same bytes */
	{
		audit_verify_result *r = calloc(1, sizeof(*r));
		double t0, tv, th;
		uint64_t bytes = 0;
		buf b = BUF_INIT;
		uint64_t *segs = NULL;
		size_t nseg = 0;
		unsigned char md[32];
		unsigned int ml;

		snprintf(dir, sizeof(dir), "%s/log%d", base, counts[ncounts - 1]);
		t0 = now();
		if (audit_verify(dir, NULL, r) != 0 || r->bad) {
			fprintf(stderr, "verify: %s\n", r->msg);
			return 3;
		}
		tv = now() - t0;
		audit_segment_list(dir, &segs, &nseg, err, sizeof(err));
		t0 = now();
		for (size_t i = 0; i < nseg; i++) {
			char p[4200];
			audit_segment_path(dir, segs[i], p, sizeof(p));
			buf_reset(&b);
			buf_read_file(&b, p);
			EVP_Digest(b.data, b.len, md, &ml, EVP_sha256(), NULL);
			bytes += b.len;
		}
		th = now() - t0;
		printf("verify: %" PRIu64 " records, %.1f MB in %.2f s = %.0f MB/s; SHA-256 of the "
		       "same files (read + hash): %.0f MB/s; ratio %.0f%%\n", r->records,
		       (double)bytes / 1e6, tv, (double)bytes / 1e6 / tv, (double)bytes / 1e6 / th,
		       100.0 * th / tv);
		snprintf(cmd, sizeof(cmd), "cat %s/audit/seg/*.seg | openssl dgst -sha256 >/dev/null",
		         dir);
		t0 = now();
		if (system(cmd) == 0)
			printf("openssl dgst -sha256 over the same bytes: %.0f MB/s\n",
			       (double)bytes / 1e6 / (now() - t0));
		buf_free(&b);
		free(segs);
		free(r);
	}
	return 0;
}

/* audit_bench.c — measures the audit log side by side with what a user would otherwise
 * use: durable appends per second of ~256-byte events with 1, 8 and 64 appenders, next to
 * SQLite (WAL, synchronous=FULL; one transaction per event, and batched) and a bare
 * write+fdatasync loop (per event, and batched at the appender count); then verification
 * MB/s next to `openssl dgst -sha256` over the same bytes; `escort audit rescan` commands/s
 * next to `escort analyze` over the tldr corpus' commands ($CORPUS, $ESCORT, $ESCORT_RULES).
 * usage: audit_bench DIR [SECONDS]; AUDIT_BENCH_PART=append|verify|rescan runs one part only;
 * AUDIT_BENCH_ONLY=N one appender count; AUDIT_BENCH_ESCORT_ONLY=1 the log's column only (for
 * profiling); AUDIT_BENCH_VERBOSE=1 group syncs and CPU per append on stderr. */
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/log.h"
#include "audit/sth.h"
#include "audit/verify.h"
#include "lockbox/lockbox.h"

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

/* CPU seconds (user + system) this process used so far */
static double
cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
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

/* ---- rescan next to escort analyze ---- */

struct rjob {
	audit_log *log;
	const lockbox *lb;
	char **lines;
	size_t n, next;
	pthread_mutex_t *mu;
	int failed;
};

/* Appends request.created + request.analyzed pairs shaped as the workflow writes them,
 * with the analysis of today's rules (so a rescan finds nothing changed: the usual case). */
static void *
rworker(void *arg)
{
	struct rjob *j = arg;
	buf js = BUF_INIT;

	for (;;) {
		size_t i;
		lockbox_result *res = NULL;
		json_t *an, *d;

		pthread_mutex_lock(j->mu);
		i = j->next++;
		pthread_mutex_unlock(j->mu);
		if (i >= j->n)
			break;
		d = json_pack("{s:I, s:s, s:s, s:s, s:[{s:s, s:s}]}", "request", (json_int_t)i + 1,
		              "target", "bench-host", "ticket", "CHG-1", "justification", "bench",
		              "commands", "sha256",
		              "0000000000000000000000000000000000000000000000000000000000000000",
		              "command", j->lines[i]);
		buf_reset(&js);
		if (d == NULL || lockbox_analyze(j->lb, j->lines[i], strlen(j->lines[i]), "bash", &res) ||
		    lockbox_result_json(res, &js) ||
		    audit_log_append(j->log, "request.created", "bench", d, NULL)) {
			j->failed = 1;
			json_decref(d);
			lockbox_result_free(res);
			break;
		}
		json_decref(d);
		lockbox_result_free(res);
		d = json_loadb((const char *)js.data, js.len, 0, NULL);
		an = json_pack("{s:I, s:O, s:O, s:O}", "request", (json_int_t)i + 1, "risk",
		               json_object_get(d, "risk"), "categories", json_object_get(d, "categories"),
		               "opaque", json_object_get(d, "opaque"));
		json_decref(d);
		if (an == NULL || audit_log_append(j->log, "request.analyzed", "bench", an, NULL)) {
			j->failed = 1;
			json_decref(an);
			break;
		}
		json_decref(an);
	}
	buf_free(&js);
	return NULL;
}

static double
time_cmd(const char *cmd)
{
	double t0 = now();

	if (system(cmd) != 0)
		return -1;
	return now() - t0;
}

/* Builds a log of the tldr corpus' commands as requests, then times `escort audit rescan`
 * and `escort analyze` over the same commands (both end to end, best of 3). */
static void
bench_rescan(void)
{
	const char *esc = getenv("ESCORT"), *rules = getenv("ESCORT_RULES"), *corpus = getenv("CORPUS");
	char tsv[4200], lines[4200], dir[4200] = "", cmd[13000], err[4096], *p, *q;
	buf b = BUF_INIT, eb = BUF_INIT;
	char **v = NULL;
	size_t n = 0, cap = 0;
	lockbox *lb = NULL;
	audit_log *log = NULL;
	audit_opts o;
	pthread_t th[32];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct rjob j;
	double ta = 1e9, tr = 1e9, x;
	struct stat st;
	FILE *fp;

	if (!esc)
		esc = "build/escort";
	if (!rules)
		rules = "rules";
	snprintf(tsv, sizeof(tsv), "%s/tldr.tsv", corpus ? corpus : "../shared/corpus");
	if (buf_read_file(&b, tsv) != 0) {
		printf("rescan: %s not found (set CORPUS=DIR); not measured\n", tsv);
		return;
	}
	buf_putc(&b, 0);
	/* fourth column of every row after the header */
	p = strchr((char *)b.data, '\n');
	while (p && *++p) {
		char *nl = strchr(p, '\n'), *c = p;

		if (nl)
			*nl = 0;
		for (int k = 0; k < 3 && c; k++)
			c = strchr(c, '\t') ? strchr(c, '\t') + 1 : NULL;
		if (c && *c) {
			if ((q = strchr(c, '\t')) != NULL)
				*q = 0;
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				v = realloc(v, cap * sizeof(*v));
			}
			v[n++] = c;
		}
		p = nl;
	}
	snprintf(lines, sizeof(lines), "%s/rescan.lines", base);
	fp = fopen(lines, "w");
	for (size_t i = 0; fp && i < n; i++)
		fprintf(fp, "%s\n", v[i]);
	if (fp)
		fclose(fp);
	if (lockbox_load(&lb, rules, NULL, &eb) != 0) {
		printf("rescan: cannot load the rules: %s\n", buf_cstr(&eb));
		goto out;
	}
	/* appends to a tmpfs need no disk sync: the log is built in seconds */
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		snprintf(dir, sizeof(dir), "/dev/shm/escort-bench-rescan-%ld", (long)getpid());
	else
		snprintf(dir, sizeof(dir), "%s/rescan", base);
	mkdir(dir, 0700);
	memset(&o, 0, sizeof(o));
	if (audit_key_generate(dir, err, sizeof(err)) != 0 ||
	    audit_log_open(&log, dir, &o, err, sizeof(err)) != 0) {
		printf("rescan: %s\n", err);
		goto out;
	}
	j = (struct rjob){ log, lb, v, n, 0, &mu, 0 };
	for (int i = 0; i < 32; i++)
		pthread_create(&th[i], NULL, rworker, &j);
	for (int i = 0; i < 32; i++)
		pthread_join(th[i], NULL);
	audit_log_close(log, NULL, 0);
	if (j.failed) {
		printf("rescan: building the log failed\n");
		goto out;
	}
	for (int k = 0; k < 3; k++) {
		snprintf(cmd, sizeof(cmd), "'%s' analyze '%s' >/dev/null", esc, lines);
		if ((x = time_cmd(cmd)) >= 0 && x < ta)
			ta = x;
		snprintf(cmd, sizeof(cmd), "'%s' audit rescan -d '%s' >/dev/null 2>&1", esc, dir);
		if ((x = time_cmd(cmd)) >= 0 && x < tr)
			tr = x;
	}
	if (ta >= 1e9 || tr >= 1e9) {
		printf("rescan: running %s failed\n", esc);
		goto out;
	}
	printf("rescan: %zu requests (tldr commands, %zu log records): %.0f commands/s "
	       "(%.0f records/s); escort analyze of the same commands: %.0f records/s; ratio %.0f%% "
	       "(target >= 80%%)\n", n, 2 * n + n / 1000, (double)n / tr,
	       (double)(2 * n + n / 1000) / tr, (double)n / ta, 100.0 * ta / tr);
out:
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	lockbox_free(lb);
	free(v);
	buf_free(&b);
	buf_free(&eb);
}

struct vgen {
	audit_log *log;
	long n;
};

static void *
vgen_worker(void *arg)
{
	struct vgen *g = arg;

	for (long i = 0; i < g->n; i++) {
		json_t *d = details(0, i);

		if (audit_log_append(g->log, "bench.event", "bench", d, NULL) != 0)
			exit(3);
		json_decref(d);
	}
	return NULL;
}

/* Verification MB/s next to `openssl dgst -sha256` over the same segment files (the hashing
 * limit), on a log of AUDIT_BENCH_VERIFY_RECORDS (default 500,000) ~256-byte events built
 * in /dev/shm when there is one (appends there need no disk sync), else under DIR. Best of 3
 * each: in-process audit_verify, `escort audit verify` end to end, openssl. */
static void
bench_verify(void)
{
	const char *esc = getenv("ESCORT") ? getenv("ESCORT") : "build/escort";
	long n = getenv("AUDIT_BENCH_VERIFY_RECORDS") ? atol(getenv("AUDIT_BENCH_VERIFY_RECORDS"))
	                                              : 500000;
	char dir[4200], err[4096], cmd[16000], files[12000] = "", p[4300];
	audit_verify_result *r = calloc(1, sizeof(*r));
	audit_log *log = NULL;
	audit_opts o;
	struct vgen g[8];
	pthread_t th[8];
	uint64_t *segs = NULL, bytes = 0, records = 0;
	size_t nseg = 0;
	double tv = 1e9, tc = 1e9, to = 1e9, t0, x;
	struct stat st;

	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		snprintf(dir, sizeof(dir), "/dev/shm/escort-bench-verify-%ld", (long)getpid());
	else
		snprintf(dir, sizeof(dir), "%s/verify", base);
	mkdir(dir, 0700);
	memset(&o, 0, sizeof(o));
	if (r == NULL || audit_key_generate(dir, err, sizeof(err)) != 0 ||
	    audit_log_open(&log, dir, &o, err, sizeof(err)) != 0) {
		printf("verify: %s\n", err);
		goto out;
	}
	for (int i = 0; i < 8; i++) {
		g[i] = (struct vgen){ log, n / 8 };
		pthread_create(&th[i], NULL, vgen_worker, &g[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	audit_log_close(log, NULL, 0);
	audit_segment_list(dir, &segs, &nseg, err, sizeof(err));
	for (size_t i = 0; i < nseg; i++) {
		audit_segment_path(dir, segs[i], p, sizeof(p));
		if (stat(p, &st) == 0)
			bytes += (uint64_t)st.st_size;
		if (strlen(files) + strlen(p) + 4 < sizeof(files)) {
			strcat(files, " '");
			strcat(files, p);
			strcat(files, "'");
		}
	}
	for (int k = 0; k < 3; k++) {
		t0 = now();
		if (audit_verify(dir, NULL, r) != 0 || r->bad) {
			printf("verify: %s\n", r->msg);
			goto out;
		}
		if ((x = now() - t0) < tv)
			tv = x;
		records = r->records;
		snprintf(cmd, sizeof(cmd), "'%s' audit verify -q -d '%s'", esc, dir);
		t0 = now();
		if (system(cmd) == 0 && (x = now() - t0) < tc)
			tc = x;
		snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 %s >/dev/null", files);
		t0 = now();
		if (system(cmd) == 0 && (x = now() - t0) < to)
			to = x;
	}
	printf("verify: %" PRIu64 " records, %.1f MB: audit_verify %.0f MB/s, escort audit verify "
	       "%.0f MB/s; openssl dgst -sha256 over the same files %.0f MB/s; ratio %.0f%% "
	       "(in-process) / %.0f%% (end to end), target >= 50%%\n", records, (double)bytes / 1e6,
	       (double)bytes / 1e6 / tv, tc < 1e9 ? (double)bytes / 1e6 / tc : 0.0,
	       to < 1e9 ? (double)bytes / 1e6 / to : 0.0, 100.0 * to / tv, 100.0 * to / tc);
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(segs);
	free(r);
}

int
main(int argc, char **argv)
{
	static const int all[] = { 1, 8, 64 };
	const int *counts = all;
	size_t ncounts = 3;
	int one;
	char dir[4200], db[4200], err[4096];

	if (argc < 2) {
		fprintf(stderr, "usage: audit_bench DIR [SECONDS]\n");
		return 2;
	}
	snprintf(base, sizeof(base), "%s", argv[1]);
	if (argc > 2)
		secs = atof(argv[2]);
	if (getenv("AUDIT_BENCH_PART") && strcmp(getenv("AUDIT_BENCH_PART"), "rescan") == 0) {
		bench_rescan();
		return 0;
	}
	if (getenv("AUDIT_BENCH_PART") && strcmp(getenv("AUDIT_BENCH_PART"), "verify") == 0) {
		bench_verify();
		return 0;
	}
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
		double e, s1, s2, b1, b2, c0;

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
		c0 = cpu_now();
		e = run_threads(0, n, log, NULL);
		if (getenv("AUDIT_BENCH_VERBOSE"))
			fprintf(stderr, "# %d appenders: %.0f appends/s, %llu group fdatasyncs in %.0f s, "
			        "%.2f us CPU per append\n", n, e,
			        (unsigned long long)audit_log_syncs(log), secs,
			        (cpu_now() - c0) * 1e6 / (e * secs));
		audit_log_close(log, NULL, 0);
		if (getenv("AUDIT_BENCH_ESCORT_ONLY")) { /* for profiling the log alone */
			printf("%-10d %12.0f\n", n, e);
			continue;
		}
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
	if (getenv("AUDIT_BENCH_PART") && strcmp(getenv("AUDIT_BENCH_PART"), "append") == 0)
		return 0;
	bench_verify();
	bench_rescan();
	return 0;
}

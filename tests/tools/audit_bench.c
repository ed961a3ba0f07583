/* audit_bench.c — measures the audit log side by side with what a user would otherwise
 * use: durable appends per second of ~256-byte events with 1, 8 and 64 appenders, next to
 * SQLite (WAL, synchronous=FULL; one transaction per event, and batched) and a bare
 * write+fdatasync loop (per event; batched at the log's own mean batch, which is the issue's
 * "batched at the same sizes" and gives the ratio; and batched at the appender count, which
 * no group commit reaches: while one batch syncs, its appenders cannot be in the next); then
 * verification MB/s next to `openssl dgst -sha256` over the same bytes; `escort audit
 * rescan` commands/s next to `escort analyze` over the tldr corpus' commands ($CORPUS,
 * $ESCORT, $ESCORT_RULES).
 * usage: audit_bench DIR [SECONDS]; AUDIT_BENCH_PART=append|verify|rescan runs one part only;
 * AUDIT_BENCH_ONLY=N one appender count; AUDIT_BENCH_ROUNDS=R (3) alternating log and bare
 * runs per count; AUDIT_BENCH_ESCORT_ONLY=1 the log's column only (for profiling);
 * AUDIT_BENCH_VERBOSE=1 group syncs and CPU per append on stderr. */
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

/* details that make the whole record about 256 bytes (the frame bytes per record are
 * measured and printed: the bare loop writes as many) */
static json_t *
details(int tid, long i)
{
	return json_pack("{s:i, s:I, s:s}", "tid", tid, "i", (json_int_t)i, "cmd",
	                 "systemctl restart nginx && journalctl -u nginx --since -5min | "
	                 "tail -n 50 >/tmp/x && curl -fsS http://127.0.0.1/healthz >/dev/null");
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

/* A bare write+fdatasync loop on a new file next to the log's (same file system, neither
 * preallocated): frames of `frame` bytes, `batch` of them (a mean: the sizes alternate so
 * that they average exactly batch) in one write, then fdatasync. */
static double
bare_loop(double batch, double frame)
{
	char path[4200], *rec;
	size_t fl = (size_t)(frame + 0.5), n;
	int fd;
	long ops = 0, iter = 0;
	double t0, end;

	if (batch < 1)
		batch = 1;
	n = (size_t)(batch + 1) * fl;
	snprintf(path, sizeof(path), "%s/bare.dat", base);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	rec = malloc(n);
	if (fd < 0 || rec == NULL)
		exit(3);
	memset(rec, 'x', n);
	sync(); /* the previous run's writeback (and its removal) is not timed here */
	t0 = now();
	end = t0 + secs;
	while (now() < end) {
		long k = (long)((double)(iter + 1) * batch) - (long)((double)iter * batch);

		if (write(fd, rec, (size_t)k * fl) != (ssize_t)((size_t)k * fl))
			exit(3);
		if (fdatasync(fd) != 0)
			exit(3);
		ops += k;
		iter++;
	}
	t0 = now() - t0;
	close(fd);
	unlink(path);
	free(rec);
	return (double)ops / t0;
}

/* One timed run of the log with n appenders in a new log under DIR: appends/s, the mean
 * batch (appends per group fdatasync) and the mean frame bytes per record. */
struct erun {
	double rate, batch, frame;
};

static void
escort_run(int n, int round, struct erun *r)
{
	char dir[4200], err[4096], p[4300], cmd[4300];
	audit_log *log = NULL;
	audit_opts o;
	uint64_t *segs = NULL, bytes = 0, count, syncs;
	size_t nseg = 0;
	struct stat st;
	double c0;

	snprintf(dir, sizeof(dir), "%s/log%d.%d", base, n, round);
	mkdir(dir, 0700);
	if (audit_key_generate(dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		exit(3);
	}
	memset(&o, 0, sizeof(o));
	if (getenv("AUDIT_BENCH_STH_EVERY"))
		o.sth_every = (uint64_t)atoll(getenv("AUDIT_BENCH_STH_EVERY"));
	if (audit_log_open(&log, dir, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		exit(3);
	}
	sync(); /* as in bare_loop */
	c0 = cpu_now();
	r->rate = run_threads(0, n, log, NULL);
	syncs = audit_log_syncs(log);
	count = audit_log_size(log);
	r->batch = syncs ? r->rate * secs / (double)syncs : 1;
	if (getenv("AUDIT_BENCH_VERBOSE"))
		fprintf(stderr, "# %d appenders: %.0f appends/s, %llu group fdatasyncs in %.0f s "
		        "(mean batch %.1f), %.2f us CPU per append\n", n, r->rate,
		        (unsigned long long)syncs, secs, r->batch,
		        (cpu_now() - c0) * 1e6 / (r->rate * secs));
	audit_log_close(log, NULL, 0);
	audit_segment_list(dir, &segs, &nseg, err, sizeof(err));
	for (size_t i = 0; i < nseg; i++) {
		audit_segment_path(dir, segs[i], p, sizeof(p));
		if (stat(p, &st) == 0)
			bytes += (uint64_t)st.st_size - AUDIT_SEG_HDR;
	}
	free(segs);
	r->frame = count ? (double)bytes / (double)count : 256;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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
	int one, rounds = 3, ok = 1, have64 = 0;
	char db[4200], rs[64];
	double sq64 = 0, e64 = 0;

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
	if (getenv("AUDIT_BENCH_ROUNDS") && atoi(getenv("AUDIT_BENCH_ROUNDS")) > 0)
		rounds = atoi(getenv("AUDIT_BENCH_ROUNDS"));
	if (rounds > 15)
		rounds = 15;
	if (getenv("AUDIT_BENCH_ONLY")) {
		one = atoi(getenv("AUDIT_BENCH_ONLY"));
		counts = &one;
		ncounts = 1;
	}
	if (getenv("AUDIT_BENCH_ESCORT_ONLY")) { /* for profiling the log alone */
		for (size_t c = 0; c < ncounts; c++) {
			struct erun r;

			escort_run(counts[c], 0, &r);
			printf("%-10d %12.0f\n", counts[c], r.rate);
		}
		return 0;
	}
	printf("durable appends/s of ~256-byte events, %.0f s per run; escort and the bare loop "
	       "batched like it alternate %d times (medians; ratio: median of the rounds' "
	       "ratios, range in brackets)\n", secs, rounds);
	printf("%-9s %9s %6s %6s %11s %19s %13s %13s %11s %11s\n", "appenders", "escort", "batch",
	       "frame", "bare@batch", "escort/bare@batch", "sqlite/event", "sqlite/batch",
	       "bare/event", "bare/n");
	for (size_t c = 0; c < ncounts; c++) {
		int n = counts[c];
		sqlite3 *h;
		double e[15], bb[15], ra[15], mb[15], fr[15], s1, s2, b1, bn, rlo = 1e9, rhi = 0, med;

		for (int k = 0; k < rounds; k++) {
			struct erun r;

			escort_run(n, k, &r);
			e[k] = r.rate;
			mb[k] = r.batch;
			fr[k] = r.frame;
			bb[k] = bare_loop(r.batch, r.frame);
			ra[k] = e[k] / bb[k];
			if (ra[k] < rlo)
				rlo = ra[k];
			if (ra[k] > rhi)
				rhi = ra[k];
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
		med = median(fr, rounds);
		b1 = bare_loop(1, med);
		bn = bare_loop(n, med);
		snprintf(rs, sizeof(rs), "%.2f (%.2f-%.2f)", median(ra, rounds), rlo, rhi);
		printf("%-9d %9.0f %6.1f %6.0f %11.0f %19s %13.0f %13.0f %11.0f %11.0f\n", n,
		       median(e, rounds), median(mb, rounds), med, median(bb, rounds), rs, s1, s2, b1,
		       bn);
		fflush(stdout);
		if (median(ra, rounds) < 0.5)
			ok = 0;
		if (n == 64) {
			have64 = 1;
			e64 = median(e, rounds);
			sq64 = s1;
		}
	}
	printf("target: within 2x of the bare loop batched at the same sizes (escort/bare@batch "
	       ">= 0.50 at every count): %s\n", ok ? "PASS" : "MISS");
	if (have64)
		printf("target: 64 appenders >= 10x SQLite's per-event transactions: %.1fx %s\n",
		       e64 / sq64, e64 >= 10 * sq64 ? "PASS" : "MISS");
	if (getenv("AUDIT_BENCH_PART") && strcmp(getenv("AUDIT_BENCH_PART"), "append") == 0)
		return 0;
	bench_verify();
	bench_rescan();
	return 0;
}

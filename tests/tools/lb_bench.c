/* lb_bench.c — in-process benchmark of the lockbox analyzer for `make bench`: loads the
 * rules once, then times lockbox_analyze + lockbox_result_json per record over several
 * passes and prints throughput, latency percentiles and peak RSS as key=value pairs. */
#include "lockbox/lockbox.h"
#include "util/buf.h"
#include "util/err.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_stats.h"

struct rec {
	size_t off;
	size_t len;
};

/* Splits `in` into records at `sep`; a final unterminated record counts too. */
static int
split(const buf *in, char sep, struct rec **out, size_t *nout)
{
	struct rec *v = NULL, *nv;
	size_t n = 0, cap = 0, start = 0, i;
	int r = ESC_ENOMEM;

	*out = NULL;
	*nout = 0;
	for (i = 0; i <= in->len; i++) {
		if (i < in->len && in->data[i] != (unsigned char)sep)
			continue;
		if (i == in->len && i == start)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				goto out;
			v = nv;
		}
		v[n].off = start;
		v[n].len = i - start;
		n++;
		start = i + 1;
	}
	*out = v;
	*nout = n;
	v = NULL; /* transferred */
	r = 0;
out:
	free(v);
	return r;
}

static void
usage(void)
{
	fprintf(stderr, "usage: lb_bench [--null] [--emit] [--passes N] [--warmup N] "
			"--rules DIR FILE\n"
			"  --emit  print the JSON of every record once (no timing)\n");
}

int
main(int argc, char **argv)
{
	const char *rules = NULL, *file = NULL;
	int null = 0, emit = 0, passes = 5, warmup = 1, i, r, rc = 1;
	lockbox *lb = NULL;
	lockbox_result *res = NULL;
	buf in = BUF_INIT, err = BUF_INIT, js = BUF_INIT;
	struct rec *recs = NULL;
	uint64_t *lat = NULL, t0, t1, wall = 0, cpu = 0;
	size_t nrec = 0, nlat = 0, k, bytes = 0;
	unsigned long risk[5] = { 0 };
	struct rusage ru;
	int p;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--null") == 0)
			null = 1;
		else if (strcmp(argv[i], "--emit") == 0)
			emit = 1;
		else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc)
			passes = atoi(argv[++i]);
		else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
			warmup = atoi(argv[++i]);
		else if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
			rules = argv[++i];
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else {
			usage();
			return 2;
		}
	}
	if (rules == NULL || file == NULL || passes < 1 || passes > 1000 || warmup < 0) {
		usage();
		return 2;
	}
	if ((r = buf_read_file(&in, file)) != 0) {
		fprintf(stderr, "lb_bench: %s: %s\n", file,
		    r == ESC_EIO ? strerror(errno) : esc_strerror(r));
		goto out;
	}
	if ((r = split(&in, null ? '\0' : '\n', &recs, &nrec)) != 0) {
		fprintf(stderr, "lb_bench: %s\n", esc_strerror(r));
		goto out;
	}
	if ((r = lockbox_load(&lb, rules, NULL, &err)) != 0) {
		fprintf(stderr, "lb_bench: loading rules: %s: %s\n", esc_strerror(r),
		    buf_cstr(&err));
		goto out;
	}

	if (emit) {
		for (k = 0; k < nrec; k++) {
			const char *src = (const char *)in.data + recs[k].off;

			if ((r = lockbox_analyze(lb, src, recs[k].len, "bash", &res)) != 0 ||
			    (r = lockbox_result_json(res, &js)) != 0) {
				fprintf(stderr, "lb_bench: record %zu: %s\n", k + 1,
				    esc_strerror(r));
				goto out;
			}
			fwrite(js.data, 1, js.len, stdout);
			fputc('\n', stdout);
			buf_reset(&js);
			lockbox_result_free(res);
			res = NULL;
		}
		rc = fflush(stdout) == 0 ? 0 : 1;
		goto out;
	}

	if (nrec > 0 && (lat = calloc(nrec * (size_t)passes, sizeof(*lat))) == NULL) {
		fprintf(stderr, "lb_bench: out of memory\n");
		goto out;
	}
	for (k = 0; k < nrec; k++)
		bytes += recs[k].len;
	for (p = -warmup; p < passes; p++) {
		uint64_t ps = now_ns(), pc = cpu_ns();

		for (k = 0; k < nrec; k++) {
			const char *src = (const char *)in.data + recs[k].off;

			t0 = now_ns();
			if ((r = lockbox_analyze(lb, src, recs[k].len, "bash", &res)) != 0 ||
			    (r = lockbox_result_json(res, &js)) != 0) {
				fprintf(stderr, "lb_bench: record %zu: %s\n", k + 1,
				    esc_strerror(r));
				goto out;
			}
			t1 = now_ns();
			if (p >= 0) {
				lat[nlat++] = t1 - t0;
				if (p == 0 && lockbox_result_risk(res) <= LOCKBOX_RISK_CRITICAL)
					risk[lockbox_result_risk(res)]++;
			}
			buf_reset(&js);
			lockbox_result_free(res);
			res = NULL;
		}
		if (p >= 0) {
			wall += now_ns() - ps;
			cpu += cpu_ns() - pc;
		}
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	getrusage(RUSAGE_SELF, &ru);
	printf("records=%zu bytes=%zu passes=%d wall_s=%.6f cpu_s=%.6f rps=%.1f mbps=%.3f "
	       "cpu_rps=%.1f cpu_mbps=%.3f "
	       "p50_us=%.3f p99_us=%.3f max_us=%.3f maxrss_kb=%ld programs=%zu "
	       "none=%lu low=%lu medium=%lu high=%lu critical=%lu\n",
	    nrec, bytes, passes, (double)wall / 1e9, (double)cpu / 1e9,
	    wall ? (double)nrec * passes / ((double)wall / 1e9) : 0.0,
	    wall ? (double)bytes * passes / 1e6 / ((double)wall / 1e9) : 0.0,
	    cpu ? (double)nrec * passes / ((double)cpu / 1e9) : 0.0,
	    cpu ? (double)bytes * passes / 1e6 / ((double)cpu / 1e9) : 0.0,
	    (double)pct(lat, nlat, 50) / 1e3, (double)pct(lat, nlat, 99) / 1e3,
	    nlat ? (double)lat[nlat - 1] / 1e3 : 0.0, ru.ru_maxrss,
	    lockbox_program_count(lb), risk[0], risk[1], risk[2], risk[3], risk[4]);
	rc = 0;
out:
	if (res != NULL)
		lockbox_result_free(res);
	if (lb != NULL)
		lockbox_free(lb);
	free(lat);
	free(recs);
	buf_free(&in);
	buf_free(&err);
	buf_free(&js);
	return rc;
}

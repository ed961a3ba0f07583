/* pwsh_bench.c — in-process benchmark of lockbox on PowerShell and cmd.exe input, in the
 * style of lb_bench: loads the rules once, then times lockbox_analyze + lockbox_result_json
 * per record over several passes and prints throughput, latency percentiles and peak RSS.
 * Input: TSV files of the Windows corpus (shell TAB label TAB command; # comments). */
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

#define MAX_RECS 100000

struct rec {
	const char *shell;
	const char *src;
	size_t len;
};

/* Adds the rows of one TSV file (the buffer stays alive: records point into it). */
static int
load_tsv(buf *b, struct rec *recs, size_t *n)
{
	char *p = (char *)b->data, *end = p + b->len;
	while (p < end && *n < MAX_RECS) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl ? nl : end;
		*le = 0;
		char *t1 = strchr(p, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (*p != '#' && t1 && t2) {
			*t1 = 0;
			recs[*n].shell = !strcmp(p, "cmd") ? "cmd" : "powershell";
			recs[*n].src = t2 + 1;
			recs[*n].len = (size_t)(le - (t2 + 1));
			(*n)++;
		}
		p = le + 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *rules = NULL;
	int passes = 20, i, r, rc = 1;
	lockbox *lb = NULL;
	lockbox_result *res = NULL;
	buf files[16], err = BUF_INIT, js = BUF_INIT;
	int nfiles = 0;
	struct rec *recs = calloc(MAX_RECS, sizeof *recs);
	uint64_t *lat = NULL, wall = 0;
	size_t nrec = 0, nlat = 0, bytes = 0;
	unsigned long risk[5] = { 0 };
	struct rusage ru;

	if (recs == NULL)
		return 1;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--passes") && i + 1 < argc) {
			passes = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--rules") && i + 1 < argc) {
			rules = argv[++i];
		} else if (argv[i][0] != '-' && nfiles < 16) {
			buf_init(&files[nfiles], 0);
			if ((r = buf_read_file(&files[nfiles], argv[i])) != 0) {
				fprintf(stderr, "pwsh_bench: %s: %s\n", argv[i],
				    r == ESC_EIO ? strerror(errno) : esc_strerror(r));
				buf_free(&files[nfiles]);
				goto out;
			}
			load_tsv(&files[nfiles], recs, &nrec);
			nfiles++;
		} else {
			fprintf(stderr, "usage: pwsh_bench [--passes N] --rules DIR FILE.tsv...\n");
			goto out;
		}
	}
	if (rules == NULL || nrec == 0 || passes < 1 || passes > 10000) {
		fprintf(stderr, "usage: pwsh_bench [--passes N] --rules DIR FILE.tsv...\n");
		goto out;
	}
	if ((r = lockbox_load(&lb, rules, NULL, &err)) != 0) {
		fprintf(stderr, "pwsh_bench: loading rules: %s\n", buf_cstr(&err));
		goto out;
	}
	if ((lat = calloc(nrec * (size_t)passes, sizeof *lat)) == NULL)
		goto out;
	for (size_t k = 0; k < nrec; k++)
		bytes += recs[k].len;
	for (int p = -1; p < passes; p++) {
		uint64_t ps = now_ns();
		for (size_t k = 0; k < nrec; k++) {
			uint64_t t0 = now_ns();
			if ((r = lockbox_analyze(lb, recs[k].src, recs[k].len, recs[k].shell, &res)) != 0 ||
			    (r = lockbox_result_json(res, &js)) != 0) {
				fprintf(stderr, "pwsh_bench: record %zu: %s\n", k + 1, esc_strerror(r));
				goto out;
			}
			uint64_t t1 = now_ns();
			if (p >= 0) {
				lat[nlat++] = t1 - t0;
				if (p == 0)
					risk[lockbox_result_risk(res)]++;
			}
			buf_reset(&js);
			lockbox_result_free(res);
			res = NULL;
		}
		if (p >= 0)
			wall += now_ns() - ps;
	}
	qsort(lat, nlat, sizeof *lat, cmp_u64);
	getrusage(RUSAGE_SELF, &ru);
	printf("records=%zu bytes=%zu passes=%d wall_s=%.6f rps=%.1f mbps=%.3f p50_us=%.3f "
	    "p99_us=%.3f max_us=%.3f maxrss_kb=%ld none=%lu low=%lu medium=%lu high=%lu "
	    "critical=%lu\n",
	    nrec, bytes, passes, (double)wall / 1e9,
	    wall ? (double)nrec * passes / ((double)wall / 1e9) : 0.0,
	    wall ? (double)bytes * passes / 1e6 / ((double)wall / 1e9) : 0.0,
	    (double)pct(lat, nlat, 50) / 1e3, (double)pct(lat, nlat, 99) / 1e3,
	    nlat ? (double)lat[nlat - 1] / 1e3 : 0.0, ru.ru_maxrss, risk[0], risk[1], risk[2],
	    risk[3], risk[4]);
	rc = 0;
out:
	if (res)
		lockbox_result_free(res);
	lockbox_free(lb);
	free(lat);
	free(recs);
	for (i = 0; i < nfiles; i++)
		buf_free(&files[i]);
	buf_free(&err);
	buf_free(&js);
	return rc;
}

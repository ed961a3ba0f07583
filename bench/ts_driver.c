/* ts_driver.c — the tree-sitter side of `make bench`: parses every record of a file with
 * the tree-sitter bash grammar (parse only, one reused parser) over several passes and
 * prints throughput, per-record latency percentiles and peak RSS as key=value pairs.
 * Built by bench/run against a throwaway npm copy of tree-sitter-bash (never committed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <tree_sitter/api.h>

#include "../tests/tools/bench_stats.h"

/* Provided by the grammar's generated src/parser.c. */
const TSLanguage *tree_sitter_bash(void);

struct rec {
	size_t off;
	uint32_t len;
};

static char *
read_all(const char *path, size_t *lenp)
{
	FILE *f = NULL;
	char *data = NULL, *nd;
	size_t len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL)
		goto fail;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 1 << 20;
			if ((nd = realloc(data, cap)) == NULL)
				goto fail;
			data = nd;
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		goto fail;
	fclose(f);
	*lenp = len;
	return data;
fail:
	if (f != NULL)
		fclose(f);
	free(data);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *file = NULL;
	char sep = '\n', *data = NULL;
	int passes = 5, warmup = 1, i, p, rc = 1;
	size_t len = 0, nrec = 0, cap = 0, start = 0, k, nlat = 0, bytes = 0, errs = 0;
	struct rec *recs = NULL, *nr;
	uint64_t *lat = NULL, t0, t1, wall = 0, cpu = 0;
	TSParser *parser = NULL;
	struct rusage ru;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--null") == 0)
			sep = '\0';
		else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc)
			passes = atoi(argv[++i]);
		else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
			warmup = atoi(argv[++i]);
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else
			break;
	}
	if (i < argc || file == NULL || passes < 1 || passes > 1000 || warmup < 0) {
		fprintf(stderr, "usage: ts_driver [--null] [--passes N] [--warmup N] FILE\n");
		return 2;
	}
	if ((data = read_all(file, &len)) == NULL) {
		perror(file);
		goto out;
	}
	for (k = 0; k <= len; k++) {
		if (k < len && data[k] != sep)
			continue;
		if (k == len && k == start)
			break;
		if (k - start > UINT32_MAX) {
			fprintf(stderr, "ts_driver: record %zu too long\n", nrec + 1);
			goto out;
		}
		if (nrec == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((nr = realloc(recs, cap * sizeof(*recs))) == NULL)
				goto out;
			recs = nr;
		}
		recs[nrec].off = start;
		recs[nrec].len = (uint32_t)(k - start);
		bytes += k - start;
		nrec++;
		start = k + 1;
	}
	if ((parser = ts_parser_new()) == NULL || !ts_parser_set_language(parser, tree_sitter_bash())) {
		fprintf(stderr, "ts_driver: grammar ABI not supported by this libtree-sitter\n");
		goto out;
	}
	if (nrec > 0 && (lat = calloc(nrec * (size_t)passes, sizeof(*lat))) == NULL)
		goto out;
	for (p = -warmup; p < passes; p++) {
		uint64_t ps = now_ns(), pc = cpu_ns();

		for (k = 0; k < nrec; k++) {
			TSTree *t;

			t0 = now_ns();
			t = ts_parser_parse_string(parser, NULL, data + recs[k].off, recs[k].len);
			t1 = now_ns();
			if (t == NULL) {
				fprintf(stderr, "ts_driver: record %zu: parse failed\n", k + 1);
				goto out;
			}
			if (p >= 0) {
				lat[nlat++] = t1 - t0;
				if (p == 0 && ts_node_has_error(ts_tree_root_node(t)))
					errs++;
			}
			ts_tree_delete(t);
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
	       "p50_us=%.3f p99_us=%.3f max_us=%.3f maxrss_kb=%ld syntax_errors=%zu\n",
	    nrec, bytes, passes, (double)wall / 1e9, (double)cpu / 1e9,
	    wall ? (double)nrec * passes / ((double)wall / 1e9) : 0.0,
	    wall ? (double)bytes * passes / 1e6 / ((double)wall / 1e9) : 0.0,
	    cpu ? (double)nrec * passes / ((double)cpu / 1e9) : 0.0,
	    cpu ? (double)bytes * passes / 1e6 / ((double)cpu / 1e9) : 0.0,
	    (double)pct(lat, nlat, 50) / 1e3, (double)pct(lat, nlat, 99) / 1e3,
	    nlat ? (double)lat[nlat - 1] / 1e3 : 0.0, ru.ru_maxrss, errs);
	rc = 0;
out:
	if (parser != NULL)
		ts_parser_delete(parser);
	free(lat);
	free(recs);
	free(data);
	return rc;
}

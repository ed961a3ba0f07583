/* policy_bench.c — policy decisions per second for a generated 1,000-rule policy (1,000
 * identities, 50 targets in 10 environments, rules over every match criterion), plus the
 * load time of that policy and quorum checks per second.
 * usage: policy_bench [SECONDS] [RULES] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"
#include "util/err.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const cats[] = { "file-read", "network-download", "code-exec",
	"log-tamper", "service-change", "recon", "destructive", "persistence" };
static const char *const ccs[] = { "US", "GB", "IN", "CN", "DE", "FR", "JP", "BR" };

/* dense: ~66 of the rules match a typical request; sparse: rules name one operator and a
 * few targets each, so a request matches 1 to 3 of them (closer to a real policy). */
static void
gen(buf *y, int nrules, int sparse)
{
	int i;

	buf_puts(y, "version: 1\nidentities:\n");
	for (i = 0; i < 1000; i++)
		buf_printf(y,
		    "  - {name: u%04d, roles: [%s], citizenship: [%s], location: %s, clearance: %s,"
		    " qualifications: [linux], organization: org%d}\n",
		    i, i % 4 == 0 ? "operator" : i % 4 == 1 ? "escort" : "escort, reviewer",
		    ccs[i % 8], ccs[(i / 8) % 8], i % 3 ? "secret" : "top-secret", i % 7);
	buf_puts(y, "environments:\n");
	for (i = 0; i < 10; i++)
		buf_printf(y, "  - {name: env%d, labels: [tier/%d]}\n", i, i % 3);
	buf_puts(y, "targets:\n");
	for (i = 0; i < 50; i++)
		buf_printf(y, "  - {name: t%02d, environment: env%d, transport: local, settings: "
		              "{platform: linux}}\n",
		    i, i % 10);
	buf_puts(y, "rules:\n");
	if (sparse) {
		buf_puts(y, "  - {name: dod-ish, match: {environment: tier/0}, approvals: {each: "
		            "{roles: [escort], citizenship: [US], min_clearance: secret}}}\n");
		for (i = 1; i < nrules; i++)
			buf_printf(y, "  - {name: r%04d, match: {operator: {names: [u%04d]}, target: "
			              "[t%02d, t%02d], risk: {max: %s}}, %s}\n",
			    i, (i * 4) % 1000, i % 50, (i + 1) % 50, i % 2 ? "low" : "high",
			    i % 3 ? "auto_approve: true" : "approvals: {count: 2}");
		return;
	}
	for (i = 0; i < nrules; i++) {
		switch (i % 5) {
		case 0:
			buf_printf(y, "  - {name: r%04d, match: {environment: env%d, operator: "
			              "{location: [%s, %s]}}, deny: no}\n",
			    i, i % 10, ccs[i % 8], ccs[(i + 3) % 8]);
			break;
		case 1:
			buf_printf(y, "  - {name: r%04d, match: {environment: tier/%d, risk: {min: "
			              "medium}}, approvals: {count: %d, each: {roles: [escort], "
			              "citizenship: [US, GB], min_clearance: secret}}, "
			              "approval_lifetime: %dh}\n",
			    i, i % 3, 1 + i % 3, 1 + i % 8);
			break;
		case 2:
			buf_printf(y, "  - {name: r%04d, match: {target: [t%02d, t%02d], categories: "
			              "[%s]}, approvals: {count: 2, at_least_one: [{roles: [reviewer], "
			              "qualifications: [target-platform]}]}}\n",
			    i, i % 50, (i + 7) % 50, cats[i % 8]);
			break;
		case 3:
			buf_printf(y, "  - {name: r%04d, match: {environment: env%d, risk: {max: low}, "
			              "opaque: false}, auto_approve: true}\n",
			    i, i % 10);
			break;
		default:
			buf_printf(y, "  - {name: r%04d, match: {operator: {citizenship: [%s], "
			              "min_clearance: none}, time: {days: [mon, tue, wed, thu, fri], "
			              "hours: \"06:00-22:00\"}}, output: {max_bytes: %d}}\n",
			    i, ccs[i % 8], 1000 + i);
		}
	}
}

static int
bench(double secs, int nrules, int sparse)
{
	double t0, t1, el;
	buf y = BUF_INIT, err = BUF_INIT;
	policy *p = NULL;
	long n = 0, effects[3] = { 0, 0, 0 }, nq = 0, nreasons = 0;
	int r, i;

	gen(&y, nrules, sparse);
	t0 = now();
	for (i = 0; i < 5; i++) {
		policy_free(p);
		p = NULL;
		if ((r = policy_load(&p, (const char *)y.data, y.len, "bench.yaml", &err)) != 0) {
			fprintf(stderr, "load: %s\n", buf_cstr(&err));
			return 1;
		}
	}
	t1 = now();
	printf("%s policy, %d rules, %zu bytes: load %.1f ms\n", sparse ? "sparse" : "dense",
	    nrules, y.len, (t1 - t0) / 5 * 1e3);
	t0 = now();
	do {
		for (i = 0; i < 1000; i++, n++) {
			policy_input in;
			policy_decision d;
			char op[16], tg[8];
			snprintf(op, sizeof(op), "u%04ld", (n * 4) % 1000);
			snprintf(tg, sizeof(tg), "t%02ld", (n * 7) % 50);
			memset(&in, 0, sizeof(in));
			in.operator_name = op;
			in.target = tg;
			in.risk = (int)(n % 5);
			in.categories = cats + n % 7;
			in.ncategories = 2;
			in.opaque = n % 11 == 0;
			in.now = (time_t)1795608000 + (time_t)(n % 86400);
			if (policy_decide(p, &in, &d) != 0)
				return 1;
			effects[d.effect]++;
			nreasons += (long)d.nreasons;
			if (d.effect == POLICY_NEEDS_APPROVAL && i % 10 == 3) {
				const char *ap[3] = { "u0001", "u0002", "u0006" };
				int met;
				policy_quorum(p, &d, op, ap, 3, in.now, &met, NULL);
				nq++;
			}
			policy_decision_free(&d);
		}
		el = now() - t0;
	} while (el < secs);
	printf("  decide: %.0f decisions/s (%ld in %.2f s; deny %ld, auto %ld, needs-approval "
	       "%ld; %.1f matching rules per decision; %ld quorum checks included)\n",
	    (double)n / el, n, el, effects[0], effects[1], effects[2],
	    (double)nreasons / (double)n, nq);
	policy_free(p);
	buf_free(&y);
	buf_free(&err);
	return 0;
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	int nrules = argc > 2 ? atoi(argv[2]) : 1000;

	if (nrules < 2 || nrules > 100000) {
		fprintf(stderr, "usage: policy_bench [SECONDS] [RULES 2..100000]\n");
		return 2;
	}
	return bench(secs, nrules, 1) || bench(secs, nrules, 0);
}

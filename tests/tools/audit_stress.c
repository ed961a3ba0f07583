/* audit_stress.c — appends audit events from several threads as fast as the log allows
 * and prints "SEQ THREAD I" for each append the moment it is acknowledged (one write(2) per
 * line, unbuffered), so a test can SIGKILL it anywhere and check that every printed append
 * survived. usage: audit_stress DIR [THREADS [COUNT]] */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/log.h"

struct worker {
	audit_log *log;
	int id;
	long count;
};

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void *
run(void *arg)
{
	struct worker *w = arg;
	char line[96];
	uint64_t seq;
	int n;

	for (long i = 0; w->count < 0 || i < w->count; i++) {
		json_t *d = json_pack("{s:i, s:I, s:s}", "tid", w->id, "i", (json_int_t)i, "cmd",
		                      "apt-get install -y nginx && systemctl restart nginx");
		int rc = audit_log_append(w->log, "stress.event", "stress", d, &seq);

		json_decref(d);
		if (rc != 0) {
			fprintf(stderr, "audit_stress: append failed: %s\n", audit_log_error(w->log));
			exit(3);
		}
		n = snprintf(line, sizeof(line), "%" PRIu64 " %d %ld\n", seq, w->id, i);
		pthread_mutex_lock(&out_mu);
		if (write(STDOUT_FILENO, line, (size_t)n) != n)
			exit(3);
		pthread_mutex_unlock(&out_mu);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	audit_opts o;
	audit_log *log = NULL;
	struct worker w[64];
	pthread_t th[64];
	char err[4096];
	int nt = 4, i;
	long count = -1;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: audit_stress DIR [THREADS [COUNT]]\n");
		return 2;
	}
	if (argc > 2)
		nt = atoi(argv[2]);
	if (argc > 3)
		count = atol(argv[3]);
	if (nt < 1 || nt > 64)
		return 2;
	memset(&o, 0, sizeof(o));
	o.sth_every = 50;
	o.segment_max = 64 * 1024;
	o.lock_wait_ms = 10000;
	if (audit_log_open(&log, argv[1], &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "audit_stress: %s\n", err);
		return 3;
	}
	if (*audit_log_recovery(log))
		fprintf(stderr, "audit_stress: recovery: %s\n", audit_log_recovery(log));
	for (i = 0; i < nt; i++) {
		w[i].log = log;
		w[i].id = i;
		w[i].count = count;
		if (pthread_create(&th[i], NULL, run, &w[i]) != 0)
			return 3;
	}
	for (i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	if (audit_log_close(log, err, sizeof(err)) != 0) {
		fprintf(stderr, "audit_stress: %s\n", err);
		return 3;
	}
	return 0;
}

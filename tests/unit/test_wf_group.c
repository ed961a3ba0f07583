/* test_wf_group.c — what escortd's throughput rests on: a workflow handle appending
 * through a shared audit log (wf_set_audit_source: leased, never closed by the action),
 * deferred audit records with a group store transaction (store_group.h: nothing visible
 * or durable before the group commits, nothing left after a rollback), and the store's
 * statement cache surviving many repeated statements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "audit/log.h"
#include "audit/sth.h"
#include "lockbox/lockbox.h"
#include "store/store.h"
#include "store/store_group.h"
#include "util/buf.h"
#include "util/err.h"
#include "workflow/workflow.h"

struct fx {
	char dir[64];
	lockbox *lb;
	wf *w;
	audit_log *l; /* the shared writer */
	int acquired, released;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	buf err = BUF_INIT, msg = BUF_INIT, pol = BUF_INIT;
	char e[512] = "";
	const char *rules = getenv("ESCORT_RULES");
	store *s = NULL;
	audit_opts o;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/escort-test-wfg-XXXXXX");
	if (mkdtemp(f->dir) == NULL || audit_key_generate(f->dir, e, sizeof(e)) != 0 ||
	    store_open_sqlite(&s, f->dir, 1, e, sizeof(e)) != 0) {
		fprintf(stderr, "setup: %s\n", e);
		return -1;
	}
	store_close(s);
	if (lockbox_load(&f->lb, rules && *rules ? rules : "rules", NULL, &err) != 0 ||
	    buf_read_file(&pol, "examples/policy.yaml") != 0 ||
	    wf_open(&f->w, f->dir, f->lb, e, sizeof(e)) != 0 ||
	    wf_policy_load(f->w, "test", (const char *)pol.data, pol.len, "policy.yaml", NULL,
	                   &msg) != 0) {
		fprintf(stderr, "setup: %s %s %s\n", e, buf_cstr(&err), buf_cstr(&msg));
		return -1;
	}
	memset(&o, 0, sizeof(o));
	if (audit_log_open(&f->l, f->dir, &o, e, sizeof(e)) != 0) {
		fprintf(stderr, "setup: %s\n", e);
		return -1;
	}
	buf_free(&err);
	buf_free(&msg);
	buf_free(&pol);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];

	wf_close(f->w);
	audit_log_close(f->l, NULL, 0);
	lockbox_free(f->lb);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static int
acquire(void *ctx, struct audit_log **l, char *err, size_t errlen)
{
	struct fx *f = ctx;

	(void)err;
	(void)errlen;
	f->acquired++;
	*l = f->l;
	return 0;
}

static void
release(void *ctx, struct audit_log *l)
{
	struct fx *f = ctx;

	assert_ptr_equal(l, f->l);
	f->released++;
}

static int
create(wf *w, const char *cmd, int64_t *id)
{
	wf_new_request nr;
	const unsigned char *cmds[1] = { (const unsigned char *)cmd };
	size_t lens[1] = { strlen(cmd) };
	buf msg = BUF_INIT;
	int st = -1, rc;

	memset(&nr, 0, sizeof(nr));
	nr.target = "dod-web";
	nr.cmds = cmds;
	nr.lens = lens;
	nr.ncmds = 1;
	rc = wf_request_create(w, "op-in", &nr, id, &st, &msg);
	if (rc)
		fprintf(stderr, "create: %s\n", buf_cstr(&msg));
	buf_free(&msg);
	return rc;
}

/* requests in the store as another connection sees them */
static long long
count_requests(struct fx *f)
{
	char path[128];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	snprintf(path, sizeof(path), "%s/%s", f->dir, STORE_FILE);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM requests", -1, &st, NULL),
	                 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The type of record seq. */
static void
assert_type(struct fx *f, uint64_t seq, const char *type)
{
	buf rec = BUF_INIT;
	char want[64];

	assert_int_equal(audit_log_read(f->l, seq, &rec), 0);
	snprintf(want, sizeof(want), "\"type\":\"%s\"", type);
	assert_non_null(strstr(buf_cstr(&rec), want));
	buf_free(&rec);
}

static void
test_shared_source(void **state)
{
	struct fx *f = *state;
	uint64_t n0 = audit_log_size(f->l);
	int64_t id = 0;

	wf_set_audit_source(f->w, acquire, release, f);
	assert_int_equal(create(f->w, "uptime", &id), 0);
	assert_true(id > 0);
	/* one lease per action, given back, the log left open and holding the three records */
	assert_int_equal(f->acquired, 1);
	assert_int_equal(f->released, 1);
	assert_int_equal(audit_log_size(f->l), n0 + 3);
	assert_type(f, n0, "request.created");
	assert_type(f, n0 + 2, "request.decided");
	assert_int_equal(create(f->w, "df -h", &id), 0);
	assert_int_equal(f->acquired, 2);
	assert_int_equal(f->released, 2);
	assert_int_equal(audit_log_size(f->l), n0 + 6);
	assert_int_equal(count_requests(f), 2);
}

static void
test_deferred_group(void **state)
{
	struct fx *f = *state;
	uint64_t n0 = audit_log_size(f->l);
	int64_t a = 0, b = 0;
	wf_deferred *d;
	char err[256] = "";

	wf_set_audit_deferred(f->w, 1);
	assert_int_equal(store_group_begin(wf_store(f->w)), 0);
	assert_int_equal(create(f->w, "uptime", &a), 0);
	assert_int_equal(create(f->w, "hostname", &b), 0);
	assert_true(b == a + 1);
	/* nothing appended yet, nothing committed yet */
	assert_int_equal(audit_log_size(f->l), n0);
	assert_int_equal(count_requests(f), 0);
	d = wf_audit_take(f->w);
	assert_non_null(d);
	assert_null(wf_audit_take(f->w));
	assert_int_equal(wf_deferred_append(d, f->l, err, sizeof(err)), 0);
	wf_deferred_free(d);
	assert_int_equal(audit_log_size(f->l), n0 + 6);
	assert_type(f, n0, "request.created");
	assert_type(f, n0 + 3, "request.created");
	assert_type(f, n0 + 5, "request.decided");
	assert_int_equal(count_requests(f), 0);
	assert_int_equal(store_group_end(wf_store(f->w), 1), 0);
	assert_int_equal(count_requests(f), 2);

	/* a group rolled back leaves nothing, and the handle works one by one again */
	assert_int_equal(store_group_begin(wf_store(f->w)), 0);
	assert_int_equal(store_group_begin(wf_store(f->w)), ESC_EINVAL);
	assert_int_equal(create(f->w, "uptime", &a), 0);
	wf_deferred_free(wf_audit_take(f->w));
	assert_int_equal(store_group_end(wf_store(f->w), 0), 0);
	assert_int_equal(count_requests(f), 2);
	assert_int_equal(store_group_end(wf_store(f->w), 1), ESC_EINVAL);
	wf_set_audit_deferred(f->w, 0);
	wf_set_audit_source(f->w, acquire, release, f);
	assert_int_equal(create(f->w, "uptime", &a), 0);
	assert_int_equal(count_requests(f), 3);
}

/* the same statements over and over (cached once, reset between uses): results stay right */
static void
test_statement_cache(void **state)
{
	struct fx *f = *state;
	store_request r;
	int64_t id = 0, ids[100];
	char cmd[64];
	int i;

	wf_set_audit_source(f->w, acquire, release, f);
	for (i = 0; i < 100; i++) {
		snprintf(cmd, sizeof(cmd), "ls /tmp/x%d", i);
		assert_int_equal(create(f->w, cmd, &id), 0);
		ids[i] = id;
	}
	for (i = 0; i < 100; i++) {
		snprintf(cmd, sizeof(cmd), "ls /tmp/x%d", i);
		assert_int_equal(store_request_get(wf_store(f->w), ids[i], &r), 0);
		assert_int_equal(r.ncmds, 1);
		assert_memory_equal(r.cmds[0].bytes, cmd, strlen(cmd));
		store_request_clear(&r);
	}
	assert_int_equal(store_request_get(wf_store(f->w), 99999, &r), ESC_ENOENT);
	assert_int_equal(count_requests(f), 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shared_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statement_cache, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* lb_fixture.h — what the lockbox unit tests share: the cmocka group setup/teardown (the
 * rule set is loaded once per binary) and, for lockbox, analyzing a line into its parsed
 * JSON. Default: lockbox `lb` over tests/fixtures/rules; with LB_FIXTURE_WINDOWS defined
 * first, the Windows knowledge base `wk` over rules/. LB_FIXTURE_JSON_FLAGS: how the
 * result's JSON is parsed back (default JSON_ALLOW_NUL). Include after cmocka.h and the
 * lockbox headers. */
#ifndef ESCORT_TESTS_LB_FIXTURE_H
#define ESCORT_TESTS_LB_FIXTURE_H

#ifdef LB_FIXTURE_WINDOWS
static winkb *wk;
#define LB_FIXTURE_LOAD(err) winkb_load(&wk, "rules", NULL, (err))
#define LB_FIXTURE_FREE() winkb_free(wk)
#else
static lockbox *lb;
#define LB_FIXTURE_LOAD(err) lockbox_load(&lb, "tests/fixtures/rules", NULL, (err))
#define LB_FIXTURE_FREE() lockbox_free(lb)
#endif

static int
setup(void **state)
{
	(void)state;
	buf err = BUF_INIT;
	int rc = LB_FIXTURE_LOAD(&err);
	if (rc)
		print_error("load: %s\n", buf_cstr(&err));
	buf_free(&err);
	return rc;
}

static int
teardown(void **state)
{
	(void)state;
	LB_FIXTURE_FREE();
	return 0;
}

#ifndef LB_FIXTURE_WINDOWS
#ifndef LB_FIXTURE_JSON_FLAGS
#define LB_FIXTURE_JSON_FLAGS JSON_ALLOW_NUL
#endif

typedef struct res {
	lockbox_result *r;
	json_t *j;
	buf json;
} res;

/* Analyzes src (n bytes) as bash and parses the JSON back; the JSON must always be valid. */
static inline void
run_n(res *x, const char *src, size_t n)
{
	memset(x, 0, sizeof *x);
	assert_int_equal(lockbox_analyze(lb, src, n, "bash", &x->r), 0);
	assert_int_equal(lockbox_result_json(x->r, &x->json), 0);
	json_error_t e;
	x->j = json_loadb((const char *)x->json.data, x->json.len, LB_FIXTURE_JSON_FLAGS, &e);
	if (x->j == NULL)
		print_error("invalid JSON (%s): %s\n", e.text, buf_cstr(&x->json));
	assert_non_null(x->j);
}

static inline void
run(res *x, const char *src)
{
	run_n(x, src, strlen(src));
}

static inline void
done(res *x)
{
	json_decref(x->j);
	buf_free(&x->json);
	lockbox_result_free(x->r);
}

static inline const char *
risk(res *x)
{
	return json_string_value(json_object_get(x->j, "risk"));
}

static inline int
has_cat(res *x, const char *c)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(x->j, "categories"), i, v)
		if (!strcmp(json_string_value(v), c))
			return 1;
	return 0;
}

/* The finding with this id, or NULL. */
static inline json_t *
finding(res *x, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(x->j, "findings"), i, v)
		if (!strcmp(json_string_value(json_object_get(v, "id")), id))
			return v;
	return NULL;
}
#endif

#endif

/* store.c — the backend-independent half of the store: dispatch through the versioned
 * operations table, transaction bookkeeping, and freeing of what the store hands out. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int
store_ops_check(const store_ops *ops)
{
	if (ops == NULL || ops->ops_version != STORE_OPS_VERSION || ops->close == NULL ||
	    ops->begin == NULL || ops->commit == NULL || ops->rollback == NULL ||
	    ops->schema_version == NULL || ops->policy_add == NULL ||
	    ops->policy_current == NULL || ops->token_set == NULL || ops->token_revoke == NULL ||
	    ops->token_list == NULL || ops->request_insert == NULL || ops->request_get == NULL ||
	    ops->request_update == NULL || ops->request_list == NULL ||
	    ops->approval_insert == NULL || ops->approval_list == NULL)
		return ESC_EINVAL;
	return 0;
}

void
store_close(store *s)
{
	if (s == NULL)
		return;
	if (s->in_tx)
		(void)s->ops->rollback(s);
	s->ops->close(s);
}

const char *
store_error(const store *s)
{
	return s ? s->err : "no store";
}

int
store_begin(store *s, enum store_tx kind)
{
	int rc;

	if (s->in_tx)
		return ESC_EINTERNAL; /* no nesting: a nested begin is a caller bug */
	rc = s->ops->begin(s, kind);
	if (rc == 0)
		s->in_tx = 1;
	return rc;
}

int
store_commit(store *s)
{
	int rc;

	if (!s->in_tx)
		return ESC_EINTERNAL;
	rc = s->ops->commit(s);
	if (rc != 0)
		(void)s->ops->rollback(s);
	s->in_tx = 0;
	return rc;
}

int
store_rollback(store *s)
{
	if (s == NULL || !s->in_tx)
		return 0;
	s->in_tx = 0;
	return s->ops->rollback(s);
}

int
store_schema_version(store *s, int *version)
{
	return s->ops->schema_version(s, version);
}

int
store_policy_add(store *s, store_policy *p)
{
	return s->ops->policy_add(s, p);
}

int
store_policy_current(store *s, store_policy *p)
{
	return s->ops->policy_current(s, p);
}

int
store_token_set(store *s, const store_token *t)
{
	return s->ops->token_set(s, t);
}

int
store_token_revoke(store *s, const char *identity)
{
	return s->ops->token_revoke(s, identity);
}

int
store_token_list(store *s, store_token **out, size_t *n)
{
	return s->ops->token_list(s, out, n);
}

int
store_request_insert(store *s, store_request *r)
{
	return s->ops->request_insert(s, r);
}

int
store_request_get(store *s, int64_t id, store_request *r)
{
	return s->ops->request_get(s, id, r);
}

int
store_request_update(store *s, const store_request *r)
{
	return s->ops->request_update(s, r);
}

int
store_request_list(store *s, const store_filter *f, store_request **out, size_t *n)
{
	return s->ops->request_list(s, f, out, n);
}

int
store_approval_insert(store *s, store_approval *a)
{
	return s->ops->approval_insert(s, a);
}

int
store_approval_list(store *s, int64_t request_id, store_approval **out, size_t *n)
{
	return s->ops->approval_list(s, request_id, out, n);
}

void
store_request_clear(store_request *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->requester);
	free(r->target);
	free(r->ticket);
	free(r->justification);
	free(r->state);
	free(r->decision);
	free(r->policy_version);
	free(r->runner);
	free(r->result);
	free(r->output);
	free(r->output_sha256);
	for (i = 0; i < r->ncmds; i++) {
		free(r->cmds[i].bytes);
		free(r->cmds[i].analysis);
	}
	free(r->cmds);
	memset(r, 0, sizeof(*r));
}

void
store_requests_free(store_request *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		store_request_clear(&v[i]);
	free(v);
}

void
store_approvals_free(store_approval *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free(v[i].approver);
		free(v[i].comment);
		free(v[i].policy_version);
	}
	free(v);
}

void
store_policy_clear(store_policy *p)
{
	if (p == NULL)
		return;
	free(p->path);
	free(p->loaded_by);
	memset(p, 0, sizeof(*p));
}

void
store_tokens_free(store_token *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i].identity);
	free(v);
}

int
store_strset(char **field, const char *s)
{
	char *c = NULL;

	if (s != NULL && (c = strdup(s)) == NULL)
		return ESC_ENOMEM;
	free(*field);
	*field = c;
	return 0;
}

/* store.c — the backend-independent half of the store: dispatch through the versioned
 * operations table, transaction bookkeeping, and freeing of what the store hands out. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg.h"

#include "util/err.h"

/* libpq's two URL schemes; anything else is a data directory. */
static int
is_pg_url(const char *spec)
{
	return strncmp(spec, "postgres://", 11) == 0 || strncmp(spec, "postgresql://", 13) == 0;
}

int
store_open_url(store **out, const char *spec, int create, char *err, size_t errlen)
{
	int rc;

	*out = NULL;
	if (spec == NULL || spec[0] == 0) {
		snprintf(err, errlen, "no store given (a data directory or a postgres:// URL)");
		return ESC_EINVAL;
	}
	if (is_pg_url(spec))
		rc = store_open_pg(out, spec, create, err, errlen);
	else
		rc = store_open_sqlite(out, spec, create, err, errlen);
	if (rc == 0 && store_ops_check((*out)->ops) != 0) {
		snprintf(err, errlen, "the %s store backend lacks operations this build needs",
		         (*out)->ops->name);
		store_close(*out);
		*out = NULL;
		rc = ESC_EINTERNAL;
	}
	return rc;
}

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
	/* broker */
	if (ops->egress_add == NULL || ops->egress_used == NULL)
		return ESC_EINVAL;
	/* server */
	if (ops->totp_set == NULL || ops->totp_get == NULL || ops->totp_use == NULL ||
	    ops->session_put == NULL || ops->session_get == NULL || ops->session_delete == NULL ||
	    ops->session_totp == NULL || ops->request_changes == NULL)
		return ESC_EINVAL;
	/* sessions */
	if (ops->isession_insert == NULL || ops->isession_get == NULL ||
	    ops->isession_update == NULL || ops->isession_list == NULL ||
	    ops->isession_line_add == NULL || ops->isession_lines == NULL ||
	    ops->isession_line_of == NULL || ops->isession_presence_set == NULL ||
	    ops->isession_presence_clear == NULL || ops->isession_presence_list == NULL)
		return ESC_EINVAL;
	/* presence checks */
	if (ops->isession_proof_set == NULL || ops->isession_proof_lapse == NULL ||
	    ops->isession_proof_clear == NULL || ops->isession_proofs == NULL)
		return ESC_EINVAL;
	/* change notification across nodes: optional, but as a pair */
	if ((ops->notify_listen == NULL) != (ops->notify_next == NULL))
		return ESC_EINVAL;
	/* a request stored final with one INSERT */
	if (ops->request_next_id == NULL || ops->request_insert_as == NULL)
		return ESC_EINVAL;
	/* a token found by its hash */
	if (ops->token_find == NULL)
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

/* ---- broker ---- */

int
store_egress_add(store *s, int64_t request_id, const char *identity, int64_t day,
                 const char *environment, uint64_t delivered, uint64_t withheld, int64_t at_us)
{
	return s->ops->egress_add(s, request_id, identity, day, environment, delivered, withheld,
	                          at_us);
}

int
store_egress_used(store *s, const char *identity, int64_t day, const char *environment,
                  uint64_t *bytes)
{
	return s->ops->egress_used(s, identity, day, environment, bytes);
}

/* ---- server ---- */

int
store_totp_set(store *s, const char *identity, const unsigned char *secret, size_t n,
               int64_t now_us)
{
	return s->ops->totp_set(s, identity, secret, n, now_us);
}

int
store_totp_get(store *s, const char *identity, unsigned char *secret, size_t *n,
               int64_t *last_step)
{
	return s->ops->totp_get(s, identity, secret, n, last_step);
}

int
store_totp_use(store *s, const char *identity, int64_t step, int *accepted)
{
	return s->ops->totp_use(s, identity, step, accepted);
}

int
store_session_put(store *s, const store_session *se)
{
	return s->ops->session_put(s, se);
}

int
store_session_get(store *s, const unsigned char hash[STORE_HASH_LEN], store_session *se)
{
	return s->ops->session_get(s, hash, se);
}

int
store_session_delete(store *s, const unsigned char hash[STORE_HASH_LEN])
{
	return s->ops->session_delete(s, hash);
}

int
store_session_totp(store *s, const unsigned char hash[STORE_HASH_LEN], int64_t totp_us)
{
	return s->ops->session_totp(s, hash, totp_us);
}

int
store_request_changes(store *s, int64_t since_us, size_t limit, store_change **out, size_t *n)
{
	return s->ops->request_changes(s, since_us, limit, out, n);
}

void
store_session_clear(store_session *se)
{
	if (se == NULL)
		return;
	free(se->identity);
	memset(se, 0, sizeof(*se));
}

void
store_changes_free(store_change *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free(v[i].state);
		free(v[i].requester);
		free(v[i].target);
	}
	free(v);
}

/* ---- sessions ---- */

int
store_isession_insert(store *s, store_isession *se)
{
	return s->ops->isession_insert(s, se);
}

int
store_isession_get(store *s, int64_t id, store_isession *se)
{
	return s->ops->isession_get(s, id, se);
}

int
store_isession_update(store *s, const store_isession *se)
{
	return s->ops->isession_update(s, se);
}

int
store_isession_list(store *s, const char *target, const char *operator_name, size_t limit,
                    store_isession **out, size_t *n)
{
	return s->ops->isession_list(s, target, operator_name, limit, out, n);
}

int
store_isession_line_add(store *s, int64_t session_id, int64_t request_id, int64_t at_us,
                        int64_t *seq)
{
	return s->ops->isession_line_add(s, session_id, request_id, at_us, seq);
}

int
store_isession_lines(store *s, int64_t session_id, store_isession_line **out, size_t *n)
{
	return s->ops->isession_lines(s, session_id, out, n);
}

int
store_isession_line_of(store *s, int64_t request_id, store_isession_line *out)
{
	return s->ops->isession_line_of(s, request_id, out);
}

int
store_isession_presence_set(store *s, int64_t session_id, const char *identity, int64_t now_us)
{
	return s->ops->isession_presence_set(s, session_id, identity, now_us);
}

int
store_isession_presence_clear(store *s, int64_t session_id, const char *identity)
{
	return s->ops->isession_presence_clear(s, session_id, identity);
}

int
store_isession_presence_list(store *s, int64_t session_id, store_isession_presence **out,
                             size_t *n)
{
	return s->ops->isession_presence_list(s, session_id, out, n);
}

void
store_isession_clear(store_isession *se)
{
	if (se == NULL)
		return;
	free(se->operator_name);
	free(se->target);
	free(se->ticket);
	free(se->state);
	free(se->end_reason);
	free(se->host);
	free(se->recording_sha256);
	memset(se, 0, sizeof(*se));
}

void
store_isessions_free(store_isession *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		store_isession_clear(&v[i]);
	free(v);
}

void
store_isession_presence_free(store_isession_presence *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i].identity);
	free(v);
}

/* ---- presence checks ---- */

int
store_isession_proof_set(store *s, int64_t session_id, const char *identity, const char *method,
                         int64_t now_us)
{
	return s->ops->isession_proof_set(s, session_id, identity, method, now_us);
}

int
store_isession_proof_lapse(store *s, int64_t session_id, const char *identity,
                           int64_t proved_us, int64_t lapsed_us, int *marked)
{
	*marked = 0;
	return s->ops->isession_proof_lapse(s, session_id, identity, proved_us, lapsed_us, marked);
}

int
store_isession_proof_clear(store *s, int64_t session_id, const char *identity)
{
	return s->ops->isession_proof_clear(s, session_id, identity);
}

int
store_isession_proofs(store *s, int64_t session_id, store_isession_proof **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return s->ops->isession_proofs(s, session_id, out, n);
}

void
store_isession_proofs_free(store_isession_proof *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free(v[i].identity);
		free(v[i].method);
	}
	free(v);
}

/* ---- change notification across nodes ---- */

int
store_notify_listen(store *s, int *fd)
{
	*fd = -1;
	if (s->ops->notify_listen == NULL) {
		snprintf(s->err, sizeof(s->err), "the %s store has no change notification",
		         s->ops->name);
		return ESC_ENOENT;
	}
	return s->ops->notify_listen(s, fd);
}

int
store_notify_next(store *s, store_notice *ev, int *got)
{
	*got = 0;
	if (s->ops->notify_next == NULL)
		return ESC_ENOENT;
	return s->ops->notify_next(s, ev, got);
}

int
store_request_next_id(store *s, int64_t *id)
{
	*id = 0;
	if (!s->in_tx)
		return ESC_EINTERNAL; /* a reservation outside a write transaction holds nothing */
	return s->ops->request_next_id(s, id);
}

int
store_request_insert_as(store *s, store_request *r)
{
	if (!s->in_tx || r->id <= 0)
		return ESC_EINTERNAL;
	return s->ops->request_insert_as(s, r);
}

int
store_token_find(store *s, const unsigned char hash[STORE_HASH_LEN], store_token *out)
{
	memset(out, 0, sizeof(*out));
	return s->ops->token_find(s, hash, out);
}

void
store_token_clear(store_token *t)
{
	if (t == NULL)
		return;
	free(t->identity);
	memset(t, 0, sizeof(*t));
}

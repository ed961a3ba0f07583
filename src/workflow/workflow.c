/* workflow.c — the request lifecycle over the store: lockbox analyzes, policy decides and
 * checks approvers, approvals are bound to a SHA-256 of the exact bytes, and the broker
 * runs exactly those bytes once (local or ssh), redacts for operators and attests. Every state change happens in one store write
 * transaction together with its durable audit record; if the audit append fails the
 * transaction is rolled back (fail closed). */
#include "workflow/workflow.h"
#include "workflow/wf_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/event.h"
#include "audit/log.h"
#include "broker/broker.h"
#include "util/err.h"

#define POLICY_SUBDIR "policy"
#define TEXT_MAX 4096 /* ticket, justification, comment */

struct wf {
	char *datadir;
	store *st;
	const lockbox *lb;
	policy *pol;      /* in force, or NULL */
	int64_t pol_num;  /* its store version number */
	int64_t clock_us; /* 0: real clock */
	unsigned audit_wait;
	audit_log *alog;  /* open (or leased) only during one action */
	int alog_leased;  /* alog came from audit_acquire: release it, never close it */
	wf_audit_acquire_fn audit_acquire; /* shared log of a long-running process, or NULL */
	wf_audit_release_fn audit_release;
	void *audit_ctx;
	int audit_defer;  /* queue records (wf_set_audit_deferred) */
	struct wf_deferred *dq_head, *dq_tail;
	broker *brk;      /* runs commands; keeps ssh connections for reuse */
	int64_t line_session; /* wf_request_create is making a line of this session (0: no) */
	int64_t line_seq;     /* the number that line got */
};

/* ---- small helpers ---- */

static const char *const state_names[WF_NSTATES] = {
	"created", "analyzed", "denied", "pending", "approved",
	"running", "succeeded", "failed", "cancelled", "expired",
};

const char *
wf_state_name(int s)
{
	return s >= 0 && s < WF_NSTATES ? state_names[s] : "?";
}

int
wf_state_parse(const char *s)
{
	int i;

	for (i = 0; s && i < WF_NSTATES; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

int
wf_transition_ok(int from, int to)
{
	/* rows: from; bits: allowed targets. Terminal states allow nothing. */
	static const unsigned allowed[WF_NSTATES] = {
		[WF_CREATED] = 1u << WF_ANALYZED | 1u << WF_CANCELLED,
		[WF_ANALYZED] = 1u << WF_DENIED | 1u << WF_PENDING | 1u << WF_APPROVED |
		                1u << WF_CANCELLED,
		[WF_PENDING] = 1u << WF_APPROVED | 1u << WF_DENIED | 1u << WF_CANCELLED |
		               1u << WF_EXPIRED,
		[WF_APPROVED] = 1u << WF_RUNNING | 1u << WF_DENIED | 1u << WF_CANCELLED |
		                1u << WF_EXPIRED,
		[WF_RUNNING] = 1u << WF_SUCCEEDED | 1u << WF_FAILED,
	};

	if (from < 0 || from >= WF_NSTATES || to < 0 || to >= WF_NSTATES)
		return 0;
	return (allowed[from] >> to) & 1u;
}

static int64_t
now_us(const wf *w)
{
	struct timespec ts;

	if (w && w->clock_us)
		return w->clock_us;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
hexify(const unsigned char *h, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[2 * n] = 0;
}

static int
sha256(const void *p, size_t n, unsigned char out[STORE_HASH_LEN])
{
	/* libsodium's: OpenSSL 3 looks its implementation up on every EVP_Digest, which cost
	 * escortd more than the hashing of a command */
	return crypto_hash_sha256(out, p, n) == 0 ? 0 : ESC_EINTERNAL;
}

/* 1 when p[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int
utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0, k, len;
	uint32_t c;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			len = 2;
			c = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			len = 3;
			c = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			len = 4;
			c = p[i] & 0x07;
		} else
			return 0;
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
		    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* Free text (ticket, justification, comment): UTF-8, no control characters, bounded. */
static int
text_ok(const char *s, const char *what, buf *msg)
{
	size_t i, n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n > TEXT_MAX) {
		buf_printf(msg, "%s is longer than %d bytes", what, TEXT_MAX);
		return ESC_EINVAL;
	}
	if (!utf8_valid((const unsigned char *)s, n)) {
		buf_printf(msg, "%s is not valid UTF-8", what);
		return ESC_EINVAL;
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			buf_printf(msg, "%s contains a control character at byte %zu", what, i);
			return ESC_EINVAL;
		}
	}
	return 0;
}

/* ---- audit (fail closed) ---- */

static int audit_end(wf *w, buf *msg);

struct wf_deferred {
	char *type, *actor;
	json_t *details;
	struct wf_deferred *next;
};

void
wf_deferred_free(wf_deferred *d)
{
	wf_deferred *n;

	for (; d != NULL; d = n) {
		n = d->next;
		free(d->type);
		free(d->actor);
		json_decref(d->details);
		free(d);
	}
}

/* Queues one record (deferred mode); details is stolen. */
static int
audit_defer(wf *w, const char *type, const char *actor, json_t *details, buf *msg)
{
	wf_deferred *d = calloc(1, sizeof(*d));

	if (d == NULL || (d->type = strdup(type)) == NULL ||
	    (actor != NULL && (d->actor = strdup(actor)) == NULL)) {
		if (d)
			free(d->type);
		free(d);
		json_decref(details);
		buf_printf(msg, "cannot queue the audit record %s", type);
		return ESC_ENOMEM;
	}
	d->details = details;
	if (w->dq_tail)
		w->dq_tail->next = d;
	else
		w->dq_head = d;
	w->dq_tail = d;
	return 0;
}

void
wf_set_audit_deferred(wf *w, int on)
{
	(void)audit_end(w, NULL);
	w->audit_defer = on != 0;
}

wf_deferred *
wf_audit_take(wf *w)
{
	wf_deferred *d = w->dq_head;

	w->dq_head = w->dq_tail = NULL;
	return d;
}

int
wf_deferred_append(const wf_deferred *d, struct audit_log *l, char *err, size_t errlen)
{
	int rc;

	for (; d != NULL; d = d->next)
		if ((rc = audit_log_append(l, d->type, d->actor, d->details, NULL)) != 0) {
			snprintf(err, errlen, "cannot append %s to the audit log (%s)", d->type,
			         audit_log_error(l));
			return rc;
		}
	return 0;
}

const wf_deferred *
wf_deferred_get(const wf_deferred *d, const char **type, const char **actor,
                const json_t **details)
{
	*type = d->type;
	*actor = d->actor;
	*details = d->details;
	return d->next;
}

/* Appends one event; the log is opened on first use and kept for the rest of the action
 * (audit_end). details is stolen. */
static int
wf_audit(wf *w, const char *type, const char *actor, json_t *details, buf *msg)
{
	audit_opts o;
	char err[512] = "";
	int rc;

	if (details == NULL) {
		buf_printf(msg, "cannot build the audit record %s", type);
		return ESC_ENOMEM;
	}
	if (w->audit_defer)
		return audit_defer(w, type, actor, details, msg);
	if (w->alog == NULL && w->audit_acquire) {
		if ((rc = w->audit_acquire(w->audit_ctx, &w->alog, err, sizeof(err))) != 0) {
			w->alog = NULL;
			buf_printf(msg, "audit log unavailable (%s); nothing was changed", err);
			json_decref(details);
			return rc;
		}
		w->alog_leased = 1;
	}
	if (w->alog == NULL) {
		memset(&o, 0, sizeof(o));
		o.lock_wait_ms = w->audit_wait;
		if ((rc = audit_log_open(&w->alog, w->datadir, &o, err, sizeof(err))) != 0) {
			w->alog = NULL;
			buf_printf(msg, "audit log unavailable (%s); nothing was changed", err);
			json_decref(details);
			return rc;
		}
	}
	rc = audit_log_append(w->alog, type, actor, details, NULL);
	if (rc != 0)
		buf_printf(msg, "cannot append %s to the audit log (%s); nothing was changed", type,
		           audit_log_error(w->alog));
	json_decref(details);
	return rc;
}

/* Closes the log of this action (signing a tree head over what it appended), or gives a
 * shared one back: its records are durable already (each append synced), and its tree
 * heads are its owner's business. */
static int
audit_end(wf *w, buf *msg)
{
	char err[512] = "";
	int rc;

	if (w->alog == NULL)
		return 0;
	if (w->alog_leased) {
		w->audit_release(w->audit_ctx, w->alog);
		w->alog = NULL;
		w->alog_leased = 0;
		return 0;
	}
	rc = audit_log_close(w->alog, err, sizeof(err));
	w->alog = NULL;
	if (rc && msg)
		buf_printf(msg, "audit log: %s", err);
	return rc;
}

/* Ends a write transaction: the audit records must be durable and signed before the
 * store commits, else everything is rolled back. */
static int
finish_tx(wf *w, int rc, buf *msg)
{
	if (rc != 0 && msg && msg->len == 0) {
		/* a failure without its own words: say what the store said */
		const char *se = store_error(w->st);

		buf_printf(msg, "%s%s%s", esc_strerror(rc), se[0] ? ": " : "", se);
	}
	if (rc == 0)
		rc = audit_end(w, msg);
	else
		(void)audit_end(w, NULL);
	if (rc == 0) {
		if ((rc = store_commit(w->st)) != 0)
			buf_printf(msg, "store: %s", store_error(w->st));
	} else
		(void)store_rollback(w->st);
	return rc;
}

/* Records a refusal outside any transaction (the refusal stands even if this fails). */
static void
audit_refusal(wf *w, const char *actor, const char *action, int64_t id, const buf *why)
{
	buf ignore = BUF_INIT;

	(void)wf_audit(w, "request.refused", actor,
	               json_pack("{s:s, s:I, s:s}", "action", action, "request", (json_int_t)id,
	                         "reason", buf_cstr(why)),
	               &ignore);
	(void)audit_end(w, NULL);
	buf_free(&ignore);
}

/* ---- opening ---- */

static int
load_current_policy(wf *w, char *err, size_t errlen)
{
	store_policy sp;
	buf bytes = BUF_INIT, perr = BUF_INIT;
	char path[4096], hex[2 * STORE_HASH_LEN + 1];
	unsigned char h[STORE_HASH_LEN];
	int rc;

	rc = store_policy_current(w->st, &sp);
	if (rc == ESC_ENOENT)
		return 0;
	if (rc) {
		snprintf(err, errlen, "store: %s", store_error(w->st));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/%s", w->datadir, sp.path);
	buf_init(&bytes, POLICY_MAX_BYTES + 1);
	if ((rc = buf_read_file(&bytes, path)) != 0) {
		snprintf(err, errlen, "policy version %" PRId64 ": %s: %s", sp.version, path,
		         rc == ESC_EIO ? strerror(errno) : esc_strerror(rc));
		goto out;
	}
	if ((rc = sha256(bytes.data, bytes.len, h)) != 0)
		goto out;
	hexify(h, sizeof(h), hex);
	if (strcmp(hex, sp.sha256) != 0) {
		snprintf(err, errlen, "policy version %" PRId64 ": %s was changed on disk (sha256 %s, "
		         "recorded %s); reload it with 'escort policy load'", sp.version, path, hex,
		         sp.sha256);
		rc = ESC_EPARSE;
		goto out;
	}
	rc = policy_load(&w->pol, (const char *)bytes.data, bytes.len, path, &perr);
	if (rc) {
		snprintf(err, errlen, "%s", buf_cstr(&perr));
		w->pol = NULL;
		goto out;
	}
	w->pol_num = sp.version;
out:
	store_policy_clear(&sp);
	buf_free(&bytes);
	buf_free(&perr);
	return rc;
}

int
wf_open(wf **out, const char *datadir, const lockbox *lb, char *err, size_t errlen)
{
	const char *spec = getenv("ESCORT_STORE");

	return wf_open_store(out, datadir, spec && *spec ? spec : NULL, lb, err, errlen);
}

int
wf_open_store(wf **out, const char *datadir, const char *store_spec, const lockbox *lb,
              char *err, size_t errlen)
{
	wf *w;
	int rc;

	*out = NULL;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialize");
		return ESC_EINTERNAL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL || (w->datadir = strdup(datadir)) == NULL) {
		free(w);
		return ESC_ENOMEM;
	}
	w->lb = lb;
	w->audit_wait = 60000;
	/* SQLite: the data directory must exist already ('escort init' made it), so a typo
	 * fails rather than creating an empty store. A database server's database was given
	 * to us deliberately: the first open creates escort's schema in it (escort init only
	 * prepares the data directory). */
	if (store_spec)
		rc = store_open_url(&w->st, store_spec, (strncmp(store_spec, "postgres://", 11) == 0 ||
		                     strncmp(store_spec, "postgresql://", 13) == 0), err, errlen);
	else
		rc = store_open_sqlite(&w->st, datadir, 0, err, errlen);
	if (rc != 0 ||
	    (rc = load_current_policy(w, err, errlen)) != 0) {
		wf_close(w);
		return rc;
	}
	*out = w;
	return 0;
}

void
wf_close(wf *w)
{
	if (w == NULL)
		return;
	(void)audit_end(w, NULL);
	wf_deferred_free(wf_audit_take(w));
	store_close(w->st);
	policy_free(w->pol);
	broker_free(w->brk);
	free(w->datadir);
	free(w);
}

void
wf_set_clock(wf *w, int64_t t)
{
	w->clock_us = t;
}

void
wf_set_audit_wait(wf *w, unsigned ms)
{
	w->audit_wait = ms;
}

void
wf_set_audit_source(wf *w, wf_audit_acquire_fn acquire, wf_audit_release_fn release, void *ctx)
{
	(void)audit_end(w, NULL); /* never mix two sources within one action */
	w->audit_acquire = acquire && release ? acquire : NULL;
	w->audit_release = acquire && release ? release : NULL;
	w->audit_ctx = acquire && release ? ctx : NULL;
}

store *
wf_store(wf *w)
{
	return w->st;
}

const policy *
wf_policy(wf *w)
{
	return w->pol;
}

static int
need_policy(wf *w, buf *msg)
{
	if (w->pol)
		return 0;
	buf_puts(msg, "no policy is loaded; the data directory owner runs 'escort policy load FILE'");
	return ESC_EINVAL;
}

/* ---- the approval hash ---- */

static int
put_u64(EVP_MD_CTX *c, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)(v & 0xff);
	return EVP_DigestUpdate(c, b, 8) == 1 ? 0 : ESC_EINTERNAL;
}

static int
put_field(EVP_MD_CTX *c, const void *p, size_t n)
{
	int rc = put_u64(c, n);

	if (rc == 0 && n && EVP_DigestUpdate(c, p, n) != 1)
		rc = ESC_EINTERNAL;
	return rc;
}

int
wf_approval_hash(int64_t id, const char *target, const char *policy_version,
                 const store_command *cmds, size_t ncmds, unsigned char out[STORE_HASH_LEN])
{
	static const char domain[] = "escort approval v1";
	EVP_MD_CTX *c;
	unsigned int olen = 0;
	size_t i;
	int rc = ESC_EINTERNAL;

	if (target == NULL || policy_version == NULL || (ncmds && cmds == NULL))
		return ESC_EINVAL;
	if ((c = EVP_MD_CTX_new()) == NULL)
		return ESC_ENOMEM;
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		goto out;
	if ((rc = put_field(c, domain, sizeof(domain) - 1)) || (rc = put_u64(c, (uint64_t)id)) ||
	    (rc = put_field(c, target, strlen(target))) ||
	    (rc = put_field(c, policy_version, strlen(policy_version))) ||
	    (rc = put_u64(c, ncmds)))
		goto out;
	for (i = 0; i < ncmds; i++)
		if ((rc = put_field(c, cmds[i].bytes, cmds[i].len)) != 0)
			goto out;
	rc = EVP_DigestFinal_ex(c, out, &olen) == 1 && olen == STORE_HASH_LEN ? 0 : ESC_EINTERNAL;
out:
	EVP_MD_CTX_free(c);
	return rc;
}

/* ---- analysis and decisions ---- */

typedef struct agg {
	int risk;
	int opaque;
	char **cats;
	size_t ncats;
} agg;

static void
agg_free(agg *a)
{
	size_t i;

	for (i = 0; i < a->ncats; i++)
		free(a->cats[i]);
	free(a->cats);
	memset(a, 0, sizeof(*a));
}

/* Folds one lockbox JSON object into the aggregate: highest risk, any opaque, union of
 * categories. A malformed analysis counts as critical and opaque: it never helps. */
static int
agg_add(agg *a, const char *json)
{
	json_t *root, *cats, *v;
	json_error_t je;
	size_t i, k;
	int r;
	char **nv;

	root = json ? json_loads(json, 0, &je) : NULL;
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		a->risk = LOCKBOX_RISK_CRITICAL;
		a->opaque = 1;
		return 0;
	}
	r = policy_risk_parse(json_string_value(json_object_get(root, "risk")));
	if (r < 0)
		r = LOCKBOX_RISK_CRITICAL;
	if (r > a->risk)
		a->risk = r;
	if (json_is_true(json_object_get(root, "opaque")))
		a->opaque = 1;
	cats = json_object_get(root, "categories");
	json_array_foreach(cats, i, v) {
		const char *c = json_string_value(v);

		if (c == NULL)
			continue;
		for (k = 0; k < a->ncats && strcmp(a->cats[k], c) != 0; k++)
			;
		if (k < a->ncats)
			continue;
		if ((nv = realloc(a->cats, (a->ncats + 1) * sizeof(*nv))) == NULL)
			goto nomem;
		a->cats = nv;
		if ((a->cats[a->ncats] = strdup(c)) == NULL)
			goto nomem;
		a->ncats++;
	}
	json_decref(root);
	return 0;
nomem:
	json_decref(root);
	return ESC_ENOMEM;
}

/* Analyzes every command with lockbox into JSON text (analysis[i], caller frees). */
/* agg_add of a result just analyzed: what agg_add reads back from its JSON, taken from the
 * result itself (parsing the JSON again was a tenth of escortd's writer thread). */
static int
agg_add_result(agg *a, const lockbox_result *res)
{
	const char *c;
	char **nv;
	size_t i, k;

	if ((int)lockbox_result_risk(res) > a->risk)
		a->risk = (int)lockbox_result_risk(res);
	if (lockbox_result_opaque(res))
		a->opaque = 1;
	for (i = 0; (c = lockbox_result_category(res, i)) != NULL; i++) {
		for (k = 0; k < a->ncats && strcmp(a->cats[k], c) != 0; k++)
			;
		if (k < a->ncats)
			continue;
		if ((nv = realloc(a->cats, (a->ncats + 1) * sizeof(*nv))) == NULL)
			return ESC_ENOMEM;
		a->cats = nv;
		if ((a->cats[a->ncats] = strdup(c)) == NULL)
			return ESC_ENOMEM;
		a->ncats++;
	}
	return 0;
}

static int
analyze_cmds(wf *w, const store_command *cmds, size_t n, char **analysis, agg *a)
{
	lockbox_result *res = NULL;
	buf js = BUF_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		buf_reset(&js);
		if ((rc = lockbox_analyze(w->lb, (const char *)cmds[i].bytes, cmds[i].len, "bash",
		                          &res)) != 0)
			break;
		rc = lockbox_result_json(res, &js);
		if (rc == 0 && (analysis[i] = strdup(buf_cstr(&js))) == NULL)
			rc = ESC_ENOMEM;
		if (rc == 0)
			rc = agg_add_result(a, res);
		lockbox_result_free(res);
		res = NULL;
	}
	buf_free(&js);
	return rc;
}

static int session_escapes(wf *w, const store_command *cmds, size_t n, char **analysis,
                           struct agg *a);
static int is_session_line(wf *w, int64_t request_id);

/* The current analysis of a stored request: fresh from lockbox when we have it (today's
 * rules judge what runs), else what was stored at creation. */
static int
current_agg(wf *w, const store_request *r, agg *a)
{
	char **an;
	size_t i;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (w->lb == NULL) {
		for (i = 0; i < r->ncmds && rc == 0; i++)
			rc = agg_add(a, r->cmds[i].analysis);
		return rc;
	}
	if ((an = calloc(r->ncmds ? r->ncmds : 1, sizeof(*an))) == NULL)
		return ESC_ENOMEM;
	rc = analyze_cmds(w, r->cmds, r->ncmds, an, a);
	/* a session line is also judged for escaping line-by-line gating */
	if (rc == 0 && is_session_line(w, r->id))
		rc = session_escapes(w, r->cmds, r->ncmds, NULL, a);
	for (i = 0; i < r->ncmds; i++)
		free(an[i]);
	free(an);
	return rc;
}

static int
decide(wf *w, const char *requester, const char *target, const agg *a, policy_decision *d)
{
	policy_input in;

	memset(&in, 0, sizeof(in));
	in.operator_name = requester;
	in.target = target;
	in.risk = a->risk;
	in.categories = (const char *const *)a->cats;
	in.ncategories = a->ncats;
	in.opaque = a->opaque;
	in.now = (time_t)(now_us(w) / 1000000);
	return policy_decide(w->pol, &in, d);
}

/* "rule (file:line): text; ..." */
static void
reasons_text(const policy_decision *d, buf *out, int only_denials)
{
	size_t i, n = 0;

	for (i = 0; i < d->nreasons; i++) {
		const policy_reason *r = &d->reasons[i];

		if (only_denials && r->effect != POLICY_DENY)
			continue;
		if (n++)
			buf_puts(out, "; ");
		if (r->line)
			buf_printf(out, "rule %s (%s:%u): %s", r->rule, r->file ? r->file : "?",
			           r->line, r->text ? r->text : "");
		else
			buf_printf(out, "%s: %s", r->rule, r->text ? r->text : "");
	}
}

static json_t *
reasons_json(const policy_decision *d)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; a && i < d->nreasons; i++) {
		o = json_pack("{s:s?, s:s?, s:i, s:s?}", "rule", d->reasons[i].rule, "file",
		              d->reasons[i].file, "line", (int)d->reasons[i].line, "text",
		              d->reasons[i].text);
		if (o == NULL || json_array_append_new(a, o) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* 0 when the request's content still hashes to what was decided; else WF_EREFUSED-worthy
 * (*bad set, message in msg). */
static int
check_binding(const store_request *r, int *bad, buf *msg)
{
	unsigned char h[STORE_HASH_LEN];
	int rc;

	*bad = 0;
	/* no policy version: never decided, so nothing can be bound to it */
	if (r->policy_version != NULL &&
	    (rc = wf_approval_hash(r->id, r->target, r->policy_version, r->cmds, r->ncmds, h)))
		return rc;
	if (!r->has_binding || r->policy_version == NULL ||
	    sodium_memcmp(h, r->binding, STORE_HASH_LEN) != 0) {
		*bad = 1;
		buf_printf(msg, "request %" PRId64 "'s command, target or policy version no longer "
		           "match what was analyzed and decided (content hash mismatch: the stored "
		           "request was altered)", r->id);
	}
	return 0;
}

/* Approvers whose approval still stands: kind approve, bound to the request's current
 * content (hash), not expired. *tampered is set when some hash does not match. */
static int
valid_approvers(wf *w, const store_request *r, const store_approval *apv, size_t napv,
                const char **names, size_t *n, int *tampered, buf *notes)
{
	unsigned char h[STORE_HASH_LEN];
	int64_t now = now_us(w);
	size_t i;
	int rc;

	*n = 0;
	*tampered = 0;
	if ((rc = wf_approval_hash(r->id, r->target, r->policy_version, r->cmds, r->ncmds, h)))
		return rc;
	for (i = 0; i < napv; i++) {
		if (apv[i].kind != STORE_APPROVE)
			continue;
		if (sodium_memcmp(apv[i].hash, h, STORE_HASH_LEN) != 0) {
			*tampered = 1;
			if (notes)
				buf_printf(notes, "%sthe approval by %s does not match request %" PRId64
				           "'s current command, target or policy version (void)",
				           notes->len ? "; " : "", apv[i].approver, r->id);
			continue;
		}
		if (apv[i].expires_us && now >= apv[i].expires_us) {
			if (notes)
				buf_printf(notes, "%sthe approval by %s has expired (void)",
				           notes->len ? "; " : "", apv[i].approver);
			continue;
		}
		if (*n < POLICY_MAX_APPROVERS)
			names[(*n)++] = apv[i].approver;
	}
	return 0;
}

/* Keeps, in order, the approvers the current policy still accepts; reasons for dropping
 * one go to notes. *met tells whether the kept ones form a quorum. */
static int
kept_quorum(wf *w, const policy_decision *d, const char *requester, const char **names,
            size_t n, const char **kept, size_t *nk, int *met, buf *notes, buf *missing)
{
	buf why = BUF_INIT;
	size_t i;
	int rc = 0;

	*nk = 0;
	*met = 0;
	for (i = 0; i < n; i++) {
		kept[*nk] = names[i];
		buf_reset(&why);
		rc = policy_quorum(w->pol, d, requester, kept, *nk + 1,
		                   (time_t)(now_us(w) / 1000000), met, &why);
		if (rc == POLICY_EREFUSED) {
			if (notes)
				buf_printf(notes, "%sthe approval by %s no longer counts: %s",
				           notes->len ? "; " : "", names[i], buf_cstr(&why));
			rc = 0;
			continue;
		}
		if (rc)
			goto out;
		(*nk)++;
	}
	buf_reset(&why);
	rc = policy_quorum(w->pol, d, requester, kept, *nk, (time_t)(now_us(w) / 1000000), met,
	                   &why);
	if (rc == 0 && !*met && missing)
		buf_puts(missing, buf_cstr(&why));
out:
	buf_free(&why);
	return rc;
}

/* ---- policy and tokens ---- */

static int
write_file_atomic(const char *dir, const char *name, const char *bytes, size_t len, int excl)
{
	char tmp[4200], dst[4200];
	int fd, rc = ESC_EIO;
	size_t off = 0;
	ssize_t k;

	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, name, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ESC_EIO;
	while (off < len) {
		k = write(fd, bytes + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			goto fail;
		off += (size_t)k;
	}
	if (fsync(fd) != 0)
		goto fail;
	close(fd);
	fd = -1;
	if (excl) {
		/* a versioned copy is never replaced: link fails if it exists */
		if (link(tmp, dst) != 0)
			goto fail;
		unlink(tmp);
	} else if (rename(tmp, dst) != 0)
		goto fail;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int
wf_policy_load(wf *w, const char *actor, const char *bytes, size_t len, const char *filename,
               int64_t *version, buf *msg)
{
	policy *np = NULL;
	store_policy sp;
	char dir[4096], name[128];
	int rc, wrote = 0;

	memset(&sp, 0, sizeof(sp));
	if ((rc = policy_load(&np, bytes, len, filename, msg)) != 0)
		return rc; /* the store and the policy in force are untouched */
	snprintf(dir, sizeof(dir), "%s/%s", w->datadir, POLICY_SUBDIR);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		buf_printf(msg, "%s: %s", dir, strerror(errno));
		rc = ESC_EIO;
		goto out;
	}
	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto out;
	}
	snprintf(sp.sha256, sizeof(sp.sha256), "%s", policy_version(np));
	sp.loaded_us = now_us(w);
	{
		store_policy cur;
		int64_t next;
		char rel[200];

		/* inside the write transaction nobody else can take the next version number */
		rc = store_policy_current(w->st, &cur);
		next = rc == 0 ? cur.version + 1 : 1;
		store_policy_clear(&cur);
		if (rc != 0 && rc != ESC_ENOENT) {
			buf_printf(msg, "store: %s", store_error(w->st));
			goto tx;
		}
		snprintf(name, sizeof(name), "v%" PRId64 "-%.12s.yaml", next, sp.sha256);
		snprintf(rel, sizeof(rel), "%s/%s", POLICY_SUBDIR, name);
		if ((rc = store_strset(&sp.loaded_by, actor)) != 0 ||
		    (rc = store_strset(&sp.path, rel)) != 0)
			goto tx;
		if ((rc = write_file_atomic(dir, name, bytes, len, 1)) != 0) {
			buf_printf(msg, "cannot write %s/%s: %s", dir, name, strerror(errno));
			goto tx;
		}
		wrote = 1;
		if ((rc = store_policy_add(w->st, &sp)) != 0) {
			buf_printf(msg, "store: %s", store_error(w->st));
			goto tx;
		}
		if (sp.version != next) {
			rc = ESC_EINTERNAL;
			goto tx;
		}
	}
	rc = wf_audit(w, "policy.load", actor,
	              json_pack("{s:I, s:s, s:s, s:s, s:i, s:i, s:i}", "version",
	                        (json_int_t)sp.version, "sha256", sp.sha256, "file",
	                        filename ? filename : "-", "stored", name, "identities",
	                        (int)policy_identity_count(np), "targets",
	                        (int)policy_target_count(np), "rules", (int)policy_rule_count(np)),
	              msg);
tx:
	rc = finish_tx(w, rc, msg);
	if (rc != 0) {
		if (wrote) {
			char p[4300];

			snprintf(p, sizeof(p), "%s/%s", dir, name);
			unlink(p);
		}
		goto out;
	}
	/* convenience copy for people; the store row and the versioned copy are authoritative */
	if (write_file_atomic(dir, "current.yaml", bytes, len, 0) != 0)
		buf_printf(msg, "warning: could not update %s/current.yaml: %s", dir, strerror(errno));
	policy_free(w->pol);
	w->pol = np;
	np = NULL;
	w->pol_num = sp.version;
	if (version)
		*version = sp.version;
out:
	policy_free(np);
	store_policy_clear(&sp);
	return rc;
}

int
wf_token_issue(wf *w, const char *actor, const char *identity, char *token, size_t tokenlen,
               buf *msg)
{
	unsigned char rnd[32];
	store_token t;
	int rc;

	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if (policy_identity_find(w->pol, identity) == NULL) {
		buf_printf(msg, "%s is not an identity in the policy in force (version %" PRId64 ")",
		           identity, w->pol_num);
		return WF_ENOTFOUND;
	}
	if (tokenlen < WF_TOKEN_LEN + 1)
		return ESC_EINVAL;
	randombytes_buf(rnd, sizeof(rnd));
	memcpy(token, WF_TOKEN_PREFIX, 4);
	sodium_bin2base64(token + 4, tokenlen - 4, rnd, sizeof(rnd),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(rnd, sizeof(rnd));
	memset(&t, 0, sizeof(t));
	t.identity = (char *)identity;
	t.issued_us = now_us(w);
	if ((rc = sha256(token, strlen(token), t.hash)) != 0)
		return rc;
	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		return rc;
	}
	if ((rc = store_token_set(w->st, &t)) != 0)
		buf_printf(msg, "store: %s", store_error(w->st));
	if (rc == 0)
		rc = wf_audit(w, "token.issued", actor, json_pack("{s:s}", "identity", identity), msg);
	rc = finish_tx(w, rc, msg);
	if (rc)
		sodium_memzero(token, tokenlen);
	return rc;
}

int
wf_token_revoke(wf *w, const char *actor, const char *identity, buf *msg)
{
	int rc;

	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		return rc;
	}
	rc = store_token_revoke(w->st, identity);
	if (rc == ESC_ENOENT) {
		buf_printf(msg, "%s has no token", identity);
		rc = WF_ENOTFOUND;
	} else if (rc)
		buf_printf(msg, "store: %s", store_error(w->st));
	if (rc == 0)
		rc = wf_audit(w, "token.revoked", actor, json_pack("{s:s}", "identity", identity), msg);
	return finish_tx(w, rc, msg);
}

int
wf_authenticate(wf *w, const char *token, char *name, size_t namelen, buf *msg)
{
	unsigned char h[STORE_HASH_LEN];
	store_token t;
	int rc;

	memset(&t, 0, sizeof(t));
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if (token == NULL || *token == 0) {
		buf_puts(msg, "no ESCORT_TOKEN given");
		return WF_EREFUSED;
	}
	if ((rc = sha256(token, strlen(token), h)) != 0)
		return rc;
	/* looked up by its hash, not by reading every token: the cost of a request must not
	 * grow with the users. What the lookup's timing could tell is about a SHA-256 of the
	 * token, which no caller can steer. */
	rc = store_token_find(w->st, h, &t);
	if (rc == 0 && sodium_memcmp(t.hash, h, STORE_HASH_LEN) != 0)
		rc = ESC_ENOENT; /* a backend that answered another row: not this token */
	if (rc == ESC_ENOENT) {
		buf_puts(msg, "ESCORT_TOKEN is not valid (unknown or revoked)");
		rc = WF_EREFUSED;
	} else if (rc) {
		buf_printf(msg, "store: %s", store_error(w->st));
	} else if (policy_identity_find(w->pol, t.identity) == NULL) {
		buf_printf(msg, "%s is no longer an identity in the policy in force", t.identity);
		rc = WF_EREFUSED;
	} else if (strlen(t.identity) >= namelen) {
		rc = ESC_ETOOBIG;
	} else
		snprintf(name, namelen, "%s", t.identity);
	store_token_clear(&t);
	return rc;
}

/* ---- requests ---- */

static int
set_state(store_request *r, int to, int64_t now)
{
	r->updated_us = now;
	return store_strset(&r->state, wf_state_name(to));
}

static json_t *
commands_json(const store_command *c, size_t n)
{
	json_t *a = json_array(), *o;
	unsigned char h[STORE_HASH_LEN];
	char hex[2 * STORE_HASH_LEN + 1];
	char *b64;
	size_t i, blen;

	for (i = 0; a && i < n; i++) {
		if (sha256(c[i].bytes, c[i].len, h) != 0)
			goto fail;
		hexify(h, sizeof(h), hex);
		if (utf8_valid(c[i].bytes, c[i].len)) {
			o = json_pack("{s:s, s:s%}", "sha256", hex, "command", c[i].bytes, c[i].len);
		} else {
			blen = sodium_base64_encoded_len(c[i].len, sodium_base64_VARIANT_ORIGINAL);
			if ((b64 = malloc(blen)) == NULL)
				goto fail;
			sodium_bin2base64(b64, blen, c[i].bytes, c[i].len,
			                  sodium_base64_VARIANT_ORIGINAL);
			o = json_pack("{s:s, s:s}", "sha256", hex, "command_base64", b64);
			free(b64);
		}
		if (o == NULL || json_array_append_new(a, o) != 0)
			goto fail;
	}
	return a;
fail:
	json_decref(a);
	return NULL;
}

static json_t *
cats_json(const agg *a)
{
	json_t *j = json_array();
	size_t i;

	for (i = 0; j && i < a->ncats; i++)
		if (json_array_append_new(j, json_string(a->cats[i])) != 0) {
			json_decref(j);
			return NULL;
		}
	return j;
}

void
wf_created_clear(wf_created *c)
{
	if (c == NULL)
		return;
	store_request_clear(&c->r);
	buf_free(&c->needs);
	memset(c, 0, sizeof(*c));
}

/* A creation's part that needs no store (checks, analysis, decision), shared by
 * request_create and wf_request_prepare. */
struct wf_prepared {
	store_request r; /* requester..policy_version, commands with analyses, final state,
	                  * decision and expiry: what create_store inserts */
	policy_decision d;
	agg a;
	int to;
	int64_t now;
	/* the three audit records' details but their "request" (the id comes with the
	 * insert); built here so that a serial writer only adds the id */
	json_t *ev_created, *ev_analyzed, *ev_decided;
};

static void
prep_clear(wf_prepared *p)
{
	json_decref(p->ev_created);
	json_decref(p->ev_analyzed);
	json_decref(p->ev_decided);
	agg_free(&p->a);
	policy_decision_free(&p->d);
	store_request_clear(&p->r);
	memset(p, 0, sizeof(*p));
}

void
wf_prepared_free(wf_prepared *p)
{
	if (p == NULL)
		return;
	prep_clear(p);
	free(p);
}

/* Checks nr and fills p (zeroed by the caller). A non-operator's attempt is audited as a
 * refusal only with audit_refusals. */
static int
create_prep(wf *w, const char *actor, const wf_new_request *nr, wf_prepared *p, buf *msg,
            int audit_refusals)
{
	store_request *r = &p->r;
	const policy_identity *who;
	buf dj = BUF_INIT;
	size_t i;
	int rc;
	const void *nul;

	p->now = now_us(w);
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if (w->lb == NULL) {
		buf_puts(msg, "no lockbox rules loaded");
		return ESC_EINVAL;
	}
	if ((who = policy_identity_find(w->pol, actor)) == NULL) {
		buf_printf(msg, "%s is not an identity in the policy in force", actor);
		return WF_EREFUSED;
	}
	if (!policy_identity_has_role(who, POLICY_ROLE_OPERATOR)) {
		buf_printf(msg, "%s may not create requests: only operators propose work", actor);
		if (audit_refusals)
			audit_refusal(w, actor, "create", 0, msg);
		return WF_EREFUSED;
	}
	if (nr->target == NULL || policy_target_find(w->pol, nr->target) == NULL) {
		buf_printf(msg, "no target '%s' in the policy in force", nr->target ? nr->target : "");
		return WF_ENOTFOUND;
	}
	if ((rc = text_ok(nr->ticket, "the ticket", msg)) != 0 ||
	    (rc = text_ok(nr->justification, "the justification", msg)) != 0)
		return rc;
	if (nr->ncmds == 0 || nr->ncmds > 1000) {
		buf_puts(msg, "a request needs 1 to 1000 commands");
		return ESC_EINVAL;
	}
	for (i = 0; i < nr->ncmds; i++) {
		if (nr->lens[i] == 0) {
			buf_printf(msg, "command %zu is empty", i + 1);
			return ESC_EINVAL;
		}
		if (nr->lens[i] > WF_CMD_MAX) {
			buf_printf(msg, "command %zu is %zu bytes; the limit is %zu", i + 1, nr->lens[i],
			           WF_CMD_MAX);
			return ESC_ETOOBIG;
		}
		/* bash -c cannot receive a NUL: what was approved could never run exactly */
		if ((nul = memchr(nr->cmds[i], 0, nr->lens[i])) != NULL) {
			buf_printf(msg, "command %zu contains a NUL byte at offset %zu; bash cannot run "
			           "it exactly, so it is refused (nothing was stored)", i + 1,
			           (size_t)((const unsigned char *)nul - nr->cmds[i]));
			return ESC_EINVAL;
		}
	}
	if ((r->cmds = calloc(nr->ncmds, sizeof(*r->cmds))) == NULL)
		return ESC_ENOMEM;
	r->ncmds = nr->ncmds;
	for (i = 0; i < nr->ncmds; i++) {
		if ((r->cmds[i].bytes = malloc(nr->lens[i] + 1)) == NULL)
			return ESC_ENOMEM;
		memcpy(r->cmds[i].bytes, nr->cmds[i], nr->lens[i]);
		r->cmds[i].bytes[nr->lens[i]] = 0;
		r->cmds[i].len = nr->lens[i];
	}
	{
		char **an = calloc(r->ncmds, sizeof(*an));

		if (an == NULL)
			return ESC_ENOMEM;
		rc = analyze_cmds(w, r->cmds, r->ncmds, an, &p->a);
		if (rc == 0 && w->line_session)
			rc = session_escapes(w, r->cmds, r->ncmds, an, &p->a);
		for (i = 0; i < r->ncmds; i++)
			r->cmds[i].analysis = an[i]; /* ownership moves to r */
		free(an);
		if (rc) {
			buf_printf(msg, "analysis failed: %s", esc_strerror(rc));
			return rc;
		}
	}
	if ((rc = decide(w, actor, nr->target, &p->a, &p->d)) != 0 ||
	    (rc = policy_decision_json(&p->d, &dj)) != 0) {
		buf_printf(msg, "policy decision failed: %s", esc_strerror(rc));
		goto out;
	}
	p->to = p->d.effect == POLICY_DENY ? WF_DENIED
	        : p->d.effect == POLICY_AUTO_APPROVE ? WF_APPROVED : WF_PENDING;
	if (p->to != WF_DENIED)
		r->expires_us = p->now + (int64_t)(p->d.approval_lifetime > 0
		                                       ? p->d.approval_lifetime
		                                       : POLICY_DEFAULT_LIFETIME) *
		                             1000000;
	if ((rc = store_strset(&r->requester, actor)) ||
	    (rc = store_strset(&r->target, nr->target)) ||
	    (rc = store_strset(&r->ticket, nr->ticket)) ||
	    (rc = store_strset(&r->justification, nr->justification)) ||
	    (rc = store_strset(&r->policy_version, p->d.policy_version)) ||
	    (rc = store_strset(&r->decision, buf_cstr(&dj))))
		goto out;
	r->created_us = p->now;
	p->ev_created = json_pack("{s:s, s:s?, s:s?, s:o}", "target", r->target, "ticket",
	                          r->ticket, "justification", r->justification, "commands",
	                          commands_json(r->cmds, r->ncmds));
	p->ev_analyzed = json_pack("{s:s, s:o, s:b}", "risk", policy_risk_name(p->a.risk),
	                           "categories", cats_json(&p->a), "opaque", p->a.opaque);
	p->ev_decided = json_pack("{s:s, s:s, s:s, s:i, s:o}", "effect",
	                          policy_effect_name(p->d.effect), "state", wf_state_name(p->to),
	                          "policy", p->d.policy_version, "quorum", (int)p->d.quorum,
	                          "reasons", reasons_json(&p->d));
	if (p->ev_created == NULL || p->ev_analyzed == NULL || p->ev_decided == NULL) {
		buf_puts(msg, "cannot build the audit records");
		rc = ESC_ENOMEM;
	}
out:
	buf_free(&dj);
	return rc;
}

/* One of p's prepared audit details with the request's id added; the caller's (stolen by
 * wf_audit), NULL when out of memory. */
static json_t *
prep_event(json_t **ev, int64_t id)
{
	json_t *o = *ev;

	*ev = NULL;
	if (o != NULL && json_object_set_new(o, "request", json_integer((json_int_t)id)) != 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* Stores p (its state "created" first, then the final one) with its audit records in one
 * transaction; with kept, hands back what was stored (see wf_request_create_kept). */
static int
create_store(wf *w, const char *actor, wf_prepared *p, int64_t *id, int *state, buf *msg,
             wf_created *kept)
{
	store_request *r = &p->r;
	const policy_decision *d = &p->d;
	int64_t now = p->now;
	int rc, to = p->to;

	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto out;
	}
	/* the row goes in final (state, decision, binding) with one INSERT: the steps the
	 * audit records tell (created, analyzed, decided) happen inside this transaction,
	 * where nobody sees them. The binding hashes the id, so the id is reserved first. */
	if ((rc = store_request_next_id(w->st, &r->id)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx;
	}
	if ((rc = wf_approval_hash(r->id, r->target, r->policy_version, r->cmds, r->ncmds,
	                           r->binding)) != 0)
		goto tx;
	r->has_binding = 1;
	if ((rc = set_state(r, to, now)) != 0)
		goto tx;
	if ((rc = store_request_insert_as(w->st, r)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx;
	}
	/* a session's line is tied to it in the same transaction */
	if (w->line_session &&
	    (rc = store_isession_line_add(w->st, w->line_session, r->id, now, &w->line_seq)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx;
	}
	if ((rc = wf_audit(w, "request.created", actor, prep_event(&p->ev_created, r->id), msg)) ||
	    (rc = wf_audit(w, "request.analyzed", actor, prep_event(&p->ev_analyzed, r->id),
	                   msg)) ||
	    (rc = wf_audit(w, "request.decided", actor, prep_event(&p->ev_decided, r->id), msg)))
		goto tx;
tx:
	rc = finish_tx(w, rc, msg);
	if (rc)
		goto out;
	*id = r->id;
	*state = to;
	if (kept != NULL) {
		const char *none[1] = { NULL }, *kn[POLICY_MAX_APPROVERS + 1];
		size_t nk = 0;
		int met = 0, krc = 0;

		/* as wf_request_needs would say it now: the same decision, no approvals yet */
		buf_init(&kept->needs, 64 * 1024);
		if (to == WF_PENDING)
			krc = kept_quorum(w, d, actor, none, 0, kn, &nk, &met, &kept->needs,
			                  &kept->needs);
		if (krc == 0) {
			kept->r = *r; /* ownership moves to kept */
			memset(r, 0, sizeof(*r));
			kept->risk = p->a.risk;
		} else {
			buf_free(&kept->needs);
		}
	}
	if (to == WF_DENIED) {
		buf_printf(msg, "request %" PRId64 " denied by policy: ", *id);
		reasons_text(d, msg, 1);
		rc = WF_EREFUSED;
	}
out:
	return rc;
}

/* wf_request_create; with kept, also what was stored (see wf_request_create_kept). */
static int
request_create(wf *w, const char *actor, const wf_new_request *nr, int64_t *id, int *state,
               buf *msg, wf_created *kept)
{
	wf_prepared p;
	int rc;

	memset(&p, 0, sizeof(p));
	*id = 0;
	*state = -1;
	if ((rc = create_prep(w, actor, nr, &p, msg, 1)) == 0)
		rc = create_store(w, actor, &p, id, state, msg, kept);
	prep_clear(&p);
	return rc;
}

int
wf_request_create(wf *w, const char *actor, const wf_new_request *nr, int64_t *id, int *state,
                  buf *msg)
{
	return request_create(w, actor, nr, id, state, msg, NULL);
}

int
wf_request_create_kept(wf *w, const char *actor, const wf_new_request *nr, int64_t *id,
                       int *state, buf *msg, wf_created *out)
{
	memset(out, 0, sizeof(*out));
	return request_create(w, actor, nr, id, state, msg, out);
}

int
wf_request_prepare(wf *w, const char *actor, const wf_new_request *nr, wf_prepared **out)
{
	wf_prepared *p;
	buf msg = BUF_INIT;
	int rc;

	*out = NULL;
	if (w->line_session) /* a session's line is judged with its session: not here */
		return ESC_EINVAL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return ESC_ENOMEM;
	buf_init(&msg, 64 * 1024);
	rc = create_prep(w, actor, nr, p, &msg, 0);
	buf_free(&msg);
	if (rc) {
		wf_prepared_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* 1 when p was prepared for exactly this creation: the same requester, target and bytes
 * (a p mixed up between two callers must not store one's commands under the other's
 * name). */
static int
prep_matches(const wf_prepared *p, const char *actor, const wf_new_request *nr)
{
	size_t i;

	if (p->r.requester == NULL || actor == NULL || strcmp(p->r.requester, actor) != 0 ||
	    p->r.target == NULL || nr->target == NULL || strcmp(p->r.target, nr->target) != 0 ||
	    p->r.ncmds != nr->ncmds)
		return 0;
	for (i = 0; i < nr->ncmds; i++)
		if (p->r.cmds[i].len != nr->lens[i] ||
		    (nr->lens[i] && memcmp(p->r.cmds[i].bytes, nr->cmds[i], nr->lens[i]) != 0))
			return 0;
	return 1;
}

int
wf_request_create_prepared(wf *w, const char *actor, const wf_new_request *nr, wf_prepared *p,
                           int64_t *id, int *state, buf *msg, wf_created *out)
{
	memset(out, 0, sizeof(*out));
	*id = 0;
	*state = -1;
	/* prepared under the policy in force here, for this very creation: only the store's
	 * part is left */
	if (p != NULL && w->pol != NULL && !w->line_session && p->d.policy_version != NULL &&
	    strcmp(policy_version(w->pol), p->d.policy_version) == 0 && w->lb != NULL &&
	    prep_matches(p, actor, nr))
		return create_store(w, actor, p, id, state, msg, out);
	return request_create(w, actor, nr, id, state, msg, out);
}

/* Loads a request and its approvals inside the current transaction. */
static int
load_req(wf *w, int64_t id, store_request *r, store_approval **apv, size_t *napv, buf *msg)
{
	int rc = store_request_get(w->st, id, r);

	if (rc == ESC_ENOENT) {
		buf_printf(msg, "request %" PRId64 " does not exist", id);
		return WF_ENOTFOUND;
	}
	if (rc == 0 && apv)
		rc = store_approval_list(w->st, id, apv, napv);
	if (rc)
		buf_printf(msg, "store: %s", store_error(w->st));
	return rc;
}

/* Moves a request whose time is up to expired (inside the caller's transaction). */
static int
expire_if_due(wf *w, const char *actor, store_request *r, int *expired, buf *msg)
{
	int st = wf_state_parse(r->state), rc;
	int64_t now = now_us(w);

	*expired = 0;
	if (!r->expires_us || now < r->expires_us || !wf_transition_ok(st, WF_EXPIRED))
		return 0;
	if ((rc = set_state(r, WF_EXPIRED, now)) || (rc = store_request_update(w->st, r))) {
		buf_printf(msg, "store: %s", store_error(w->st));
		return rc;
	}
	rc = wf_audit(w, "request.expired", actor,
	              json_pack("{s:I, s:s}", "request", (json_int_t)r->id, "was",
	                        wf_state_name(st)),
	              msg);
	if (rc == 0) {
		*expired = 1;
		buf_printf(msg, "request %" PRId64 " expired (its approval lifetime ran out); "
		           "create a new request", r->id);
	}
	return rc;
}

static int
is_reviewer_kind(const policy_identity *who)
{
	return policy_identity_has_role(who, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER);
}

int
wf_request_approve(wf *w, const char *actor, int64_t id, const char *comment, int *state,
                   buf *msg)
{
	store_request r;
	store_approval *apv = NULL, na;
	size_t napv = 0, nn = 0, nk = 0, i;
	const char *names[POLICY_MAX_APPROVERS + 1], *kept[POLICY_MAX_APPROVERS + 1];
	const policy_identity *who;
	policy_decision d;
	agg a;
	buf why = BUF_INIT, notes = BUF_INIT;
	int rc, st, met = 0, tampered, expired, refused = 0;
	int64_t now = now_us(w);

	memset(&r, 0, sizeof(r));
	memset(&d, 0, sizeof(d));
	memset(&a, 0, sizeof(a));
	memset(&na, 0, sizeof(na));
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if ((rc = text_ok(comment, "the comment", msg)) != 0)
		return rc;
	if ((who = policy_identity_find(w->pol, actor)) == NULL || !is_reviewer_kind(who)) {
		buf_printf(msg, "%s may not approve request %" PRId64 ": only escorts and reviewers "
		           "approve", actor, id);
		audit_refusal(w, actor, "approve", id, msg);
		return WF_EREFUSED;
	}
	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		return rc;
	}
	if ((rc = load_req(w, id, &r, &apv, &napv, msg)) != 0)
		goto tx;
	if ((rc = expire_if_due(w, actor, &r, &expired, msg)) != 0)
		goto tx;
	if (expired) {
		rc = finish_tx(w, 0, msg);
		if (rc == 0) {
			buf_printf(msg, "request %" PRId64 " has expired (it is now expired); nothing to "
			           "approve", id);
			rc = WF_ECONFLICT;
		}
		goto out;
	}
	st = wf_state_parse(r.state);
	if (st != WF_PENDING) {
		buf_printf(msg, "request %" PRId64 " is %s, not pending; nothing to approve", id,
		           r.state);
		rc = WF_ECONFLICT;
		goto tx;
	}
	if (strcmp(r.requester, actor) == 0) {
		buf_printf(msg, "%s cannot approve request %" PRId64 ": it is their own request "
		           "(separation of duties)", actor, id);
		refused = 1;
		goto tx;
	}
	if ((rc = check_binding(&r, &tampered, msg)) != 0)
		goto tx;
	if (tampered) {
		refused = 1;
		goto tx;
	}
	for (i = 0; i < napv; i++) {
		if (strcmp(apv[i].approver, actor) == 0) {
			buf_printf(msg, "%s has already %s request %" PRId64 "; one decision per person",
			           actor, apv[i].kind == STORE_DENY ? "denied" : "approved", id);
			refused = 1;
			goto tx;
		}
	}
	/* the current policy decides what is needed now, from the stored analysis */
	if ((rc = current_agg(w, &r, &a)) != 0 || (rc = decide(w, r.requester, r.target, &a, &d)))
		goto tx;
	if (d.effect == POLICY_DENY) {
		buf_printf(msg, "request %" PRId64 " cannot be approved: the policy in force denies "
		           "it now: ", id);
		reasons_text(&d, msg, 1);
		refused = 1;
		goto tx;
	}
	if ((rc = valid_approvers(w, &r, apv, napv, names, &nn, &tampered, NULL)) != 0)
		goto tx;
	if (nn >= POLICY_MAX_APPROVERS) {
		buf_printf(msg, "request %" PRId64 " already has %d approvals", id, POLICY_MAX_APPROVERS);
		rc = WF_ECONFLICT;
		goto tx;
	}
	if (d.effect == POLICY_NEEDS_APPROVAL) {
		if ((rc = kept_quorum(w, &d, r.requester, names, nn, kept, &nk, &met, NULL, NULL)))
			goto tx;
		kept[nk] = actor;
		rc = policy_quorum(w->pol, &d, r.requester, kept, nk + 1, (time_t)(now / 1000000),
		                   &met, &why);
		if (rc == POLICY_EREFUSED) {
			buf_printf(msg, "%s may not approve request %" PRId64 ": %s", actor, id,
			           buf_cstr(&why));
			rc = 0;
			refused = 1;
			goto tx;
		}
		if (rc)
			goto tx;
	} else
		met = 1;
	na.request_id = id;
	na.approver = (char *)actor;
	na.kind = STORE_APPROVE;
	na.comment = (char *)comment;
	na.policy_version = policy_version(w->pol) ? (char *)policy_version(w->pol) : NULL;
	na.created_us = now;
	na.expires_us = now + (int64_t)(d.approval_lifetime > 0 ? d.approval_lifetime
	                                                      : POLICY_DEFAULT_LIFETIME) * 1000000;
	if ((rc = wf_approval_hash(id, r.target, r.policy_version, r.cmds, r.ncmds, na.hash)))
		goto tx;
	if ((rc = store_approval_insert(w->st, &na)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx;
	}
	{
		char hex[2 * STORE_HASH_LEN + 1];

		hexify(na.hash, STORE_HASH_LEN, hex);
		rc = wf_audit(w, "approval", actor,
		              json_pack("{s:I, s:s, s:s, s:s?, s:b}", "request", (json_int_t)id,
		                        "hash", hex, "policy", na.policy_version, "comment", comment,
		                        "quorum_met", met),
		              msg);
	}
	if (rc)
		goto tx;
	if (met) {
		if ((rc = set_state(&r, WF_APPROVED, now)) || (rc = store_request_update(w->st, &r))) {
			buf_printf(msg, "store: %s", store_error(w->st));
			goto tx;
		}
		rc = wf_audit(w, "request.approved", actor,
		              json_pack("{s:I, s:i}", "request", (json_int_t)id, "approvals",
		                        (int)(nk + 1)),
		              msg);
	}
tx:
	if (refused) {
		(void)finish_tx(w, ESC_EINVAL, NULL); /* nothing to keep */
		audit_refusal(w, actor, "approve", id, msg);
		rc = WF_EREFUSED;
		goto out;
	}
	rc = finish_tx(w, rc, msg);
	if (rc == 0 && state)
		*state = met ? WF_APPROVED : WF_PENDING;
out:
	buf_free(&why);
	buf_free(&notes);
	agg_free(&a);
	policy_decision_free(&d);
	store_approvals_free(apv, napv);
	store_request_clear(&r);
	return rc;
}

int
wf_request_deny(wf *w, const char *actor, int64_t id, const char *comment, buf *msg)
{
	store_request r;
	store_approval *apv = NULL, na;
	size_t napv = 0, i;
	const policy_identity *who;
	int rc, st, refused = 0, had = 0;
	int64_t now = now_us(w);

	memset(&r, 0, sizeof(r));
	memset(&na, 0, sizeof(na));
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if (comment == NULL || *comment == 0) {
		buf_printf(msg, "denying request %" PRId64 " needs a comment saying why", id);
		return ESC_EINVAL;
	}
	if ((rc = text_ok(comment, "the comment", msg)) != 0)
		return rc;
	if ((who = policy_identity_find(w->pol, actor)) == NULL || !is_reviewer_kind(who)) {
		buf_printf(msg, "%s may not deny request %" PRId64 ": only escorts and reviewers "
		           "decide", actor, id);
		audit_refusal(w, actor, "deny", id, msg);
		return WF_EREFUSED;
	}
	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		return rc;
	}
	if ((rc = load_req(w, id, &r, &apv, &napv, msg)) != 0)
		goto tx;
	st = wf_state_parse(r.state);
	if (!wf_transition_ok(st, WF_DENIED) || st == WF_ANALYZED) {
		buf_printf(msg, "request %" PRId64 " is %s; it can no longer be denied", id, r.state);
		rc = WF_ECONFLICT;
		goto tx;
	}
	if (strcmp(r.requester, actor) == 0) {
		buf_printf(msg, "%s cannot decide on request %" PRId64 ": it is their own request "
		           "(cancel it instead)", actor, id);
		refused = 1;
		goto tx;
	}
	for (i = 0; i < napv; i++)
		if (strcmp(apv[i].approver, actor) == 0)
			had = 1;
	if (!had) {
		na.request_id = id;
		na.approver = (char *)actor;
		na.kind = STORE_DENY;
		na.comment = (char *)comment;
		na.policy_version = (char *)policy_version(w->pol);
		na.created_us = now;
		if ((rc = wf_approval_hash(id, r.target, r.policy_version, r.cmds, r.ncmds,
		                           na.hash)) ||
		    (rc = store_approval_insert(w->st, &na))) {
			buf_printf(msg, "store: %s", store_error(w->st));
			goto tx;
		}
	}
	if ((rc = set_state(&r, WF_DENIED, now)) != 0)
		goto tx;
	{
		json_t *res = json_pack("{s:s, s:s}", "denied_by", actor, "comment", comment);
		char *txt = res ? json_dumps(res, JSON_COMPACT) : NULL;

		json_decref(res);
		free(r.result);
		r.result = txt;
		if (txt == NULL) {
			rc = ESC_ENOMEM;
			goto tx;
		}
	}
	if ((rc = store_request_update(w->st, &r)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx;
	}
	rc = wf_audit(w, "denial", actor,
	              json_pack("{s:I, s:s, s:s}", "request", (json_int_t)id, "comment", comment,
	                        "was", wf_state_name(st)),
	              msg);
tx:
	if (refused) {
		(void)finish_tx(w, ESC_EINVAL, NULL);
		audit_refusal(w, actor, "deny", id, msg);
		rc = WF_EREFUSED;
	} else
		rc = finish_tx(w, rc, msg);
	store_approvals_free(apv, napv);
	store_request_clear(&r);
	return rc;
}

int
wf_request_cancel(wf *w, const char *actor, int64_t id, buf *msg)
{
	store_request r;
	const policy_identity *who;
	int rc, st, admin;

	memset(&r, 0, sizeof(r));
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	who = policy_identity_find(w->pol, actor);
	admin = who && policy_identity_has_role(who, POLICY_ROLE_ADMIN);
	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		return rc;
	}
	if ((rc = load_req(w, id, &r, NULL, NULL, msg)) != 0)
		goto tx;
	if (who == NULL || (!admin && strcmp(r.requester, actor) != 0)) {
		buf_printf(msg, "%s may not cancel request %" PRId64 ": only its requester (%s) or "
		           "an admin can", actor, id, r.requester);
		(void)finish_tx(w, ESC_EINVAL, NULL);
		audit_refusal(w, actor, "cancel", id, msg);
		rc = WF_EREFUSED;
		goto out;
	}
	st = wf_state_parse(r.state);
	if (!wf_transition_ok(st, WF_CANCELLED)) {
		buf_printf(msg, "request %" PRId64 " is %s; it can no longer be cancelled", id,
		           r.state);
		rc = WF_ECONFLICT;
		goto tx;
	}
	if ((rc = set_state(&r, WF_CANCELLED, now_us(w))) || (rc = store_request_update(w->st, &r))) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx;
	}
	rc = wf_audit(w, "request.cancelled", actor,
	              json_pack("{s:I, s:s}", "request", (json_int_t)id, "was", wf_state_name(st)),
	              msg);
tx:
	rc = finish_tx(w, rc, msg);
out:
	store_request_clear(&r);
	return rc;
}

/* ---- execution through the broker ---- */

#define KEYS_SUBDIR "keys"

typedef struct exec_res {
	buf out; /* first `cap` bytes of stdout and stderr, in arrival order */
	size_t cap; /* <= STORE_OUTPUT_MAX: the target's output_max and the rules' max_bytes */
	uint64_t total;
	unsigned char sha[STORE_HASH_LEN];
	EVP_MD_CTX *md;
	int exit_code;
	int timed_out;
	size_t ran;
	int64_t ms;
	buf error; /* why the broker could not run it, if so */
} exec_res;

/* Every chunk, from either stream, in the order it arrived: hashed in full, kept capped. */
static void
on_output(void *ctx, int stream, const unsigned char *p, size_t n)
{
	exec_res *res = ctx;
	size_t room = res->out.len < res->cap ? res->cap - res->out.len : 0;

	(void)stream;
	res->total += n;
	EVP_DigestUpdate(res->md, p, n);
	if (room)
		(void)buf_put(&res->out, p, n < room ? n : room);
}

/* The policy's target as the broker's plain description. The ssh key is escort's, kept
 * in DATA/keys/<settings.key, default the target's name> (operators never see it). */
static void
broker_target_of(const wf *w, const policy_target *tg, broker_target *bt, char *key, size_t klen)
{
	memset(bt, 0, sizeof(*bt));
	bt->name = tg->name;
	bt->workdir = tg->workdir;
	bt->transport = strcmp(tg->transport, "ssh") == 0 ? BROKER_SSH : BROKER_LOCAL;
	if (bt->transport == BROKER_SSH) {
		snprintf(key, klen, "%s/" KEYS_SUBDIR "/%s", w->datadir,
		         tg->key_name ? tg->key_name : tg->name);
		bt->host = tg->ssh_host;
		bt->port = tg->ssh_port;
		bt->user = tg->ssh_user;
		bt->host_key = tg->ssh_host_key;
		bt->key_file = key;
	} else
		bt->run_as = tg->run_as;
}

/* The target's extra redaction patterns from the policy, compiled (*out NULL: none). */
static int
target_redact_rules(const policy_target *tg, broker_redact_rules **out, buf *msg)
{
	int rc;

	*out = NULL;
	if (tg == NULL || tg->nredact == 0)
		return 0;
	if ((rc = broker_redact_rules_new(out, tg->redact, tg->nredact, msg)) != 0)
		buf_printf(msg, " (target %s)", tg->name);
	return rc;
}

static int may_see_all(const policy_identity *who);

#define DAY_US ((int64_t)86400 * 1000000)

/* What an operator may receive of view_len bytes today under the egress caps (the
 * policy's and the target environment's per_operator_daily, each over one UTC day), and
 * its record in the store (inside the caller's write transaction). *limit: the cap that
 * cut the view (0: none did). Identities who see full output are not capped. */
static int
charge_egress(wf *w, const store_request *r, const policy_target *tg, uint64_t view_len,
              int64_t now, uint64_t *delivered, uint64_t *limit, const char **scope, buf *msg)
{
	const policy_identity *op = policy_identity_find(w->pol, r->requester);
	const policy_environment *env = policy_environment_find(w->pol, tg->environment);
	uint64_t used, cap, room, allowed = view_len;
	int64_t day = now / DAY_US;
	int rc;

	*delivered = view_len;
	*limit = 0;
	*scope = NULL;
	if (op == NULL || may_see_all(op))
		return 0;
	if ((cap = policy_egress_daily(w->pol)) != 0) {
		if ((rc = store_egress_used(w->st, r->requester, day, NULL, &used)) != 0)
			goto fail;
		room = cap > used ? cap - used : 0;
		if (room < allowed) {
			allowed = room;
			*limit = cap;
			*scope = "policy";
		}
	}
	if (env && (cap = env->egress_daily) != 0) {
		if ((rc = store_egress_used(w->st, r->requester, day, env->name, &used)) != 0)
			goto fail;
		room = cap > used ? cap - used : 0;
		if (room < allowed) {
			allowed = room;
			*limit = cap;
			*scope = "environment";
		}
	}
	*delivered = allowed;
	if ((rc = store_egress_add(w->st, r->id, r->requester, day, tg->environment, allowed,
	                           view_len - allowed, now)) != 0)
		goto fail;
	return 0;
fail:
	buf_printf(msg, "store: %s", store_error(w->st));
	return rc;
}

static int
exec_request(wf *w, const broker_target *bt, unsigned timeout, const store_request *r,
             exec_res *res)
{
	char rid[64];
	const char *env[] = { rid, NULL };
	broker_limits lim;
	broker_result br;
	unsigned int olen = 0;
	int64_t t0, deadline, now;
	size_t i;
	int rc = 0;

	if (w->brk == NULL && (rc = broker_new(&w->brk)) != 0)
		return rc;
	if ((res->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(res->md, EVP_sha256(), NULL) != 1)
		return ESC_ENOMEM;
	snprintf(rid, sizeof(rid), "ESCORT_REQUEST=%" PRId64, r->id);
	memset(&lim, 0, sizeof(lim));
	lim.out_max = 1; /* the callback keeps what we store */
	lim.env = env;
	lim.on_output = on_output;
	lim.ctx = res;
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t0 = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	deadline = t0 + (int64_t)timeout * 1000;
	for (i = 0; i < r->ncmds; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		if (now >= deadline) {
			res->timed_out = 1;
			res->exit_code = BROKER_EXIT_TIMEOUT;
			break;
		}
		lim.timeout_ms = (unsigned)(deadline - now);
		rc = broker_run(w->brk, bt, r->cmds[i].bytes, r->cmds[i].len, &lim, &br, &res->error);
		broker_result_free(&br);
		if (rc) {
			res->exit_code = 255;
			break;
		}
		res->ran++;
		res->exit_code = br.exit_code;
		res->timed_out = br.timed_out;
		if (res->exit_code != 0 || res->timed_out)
			break; /* like set -e: a failed step stops the request */
	}
	EVP_DigestFinal_ex(res->md, res->sha, &olen);
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		res->ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0;
	}
	return rc;
}

/* Redaction summary as JSON: {"kind": count, ...} for the kinds found. */
static json_t *
redactions_json(const broker_redaction *c)
{
	json_t *o = json_object();
	int k;

	for (k = 0; o && k < BROKER_RK_COUNT; k++)
		if (c->count[k])
			json_object_set_new(o, broker_redact_kind_name(k), json_integer((json_int_t)c->count[k]));
	return o;
}

/* Lines of an attestation diff as a JSON array. */
static json_t *
lines_json(const buf *text)
{
	json_t *a = json_array();
	const char *p = buf_cstr(text), *nl;

	while (a && *p) {
		nl = strchr(p, '\n');
		json_array_append_new(a, json_stringn(p, nl ? (size_t)(nl - p) : strlen(p)));
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return a;
}

static json_t *
attestation_json(const buf *diff, size_t nchanges, const buf *err)
{
	if (err->len)
		return json_pack("{s:s}", "error", buf_cstr(err));
	return json_pack("{s:I, s:o}", "changes", (json_int_t)nchanges, "diff", lines_json(diff));
}

static json_t *
egress_json(uint64_t delivered, uint64_t withheld, uint64_t limit, const char *scope)
{
	return json_pack("{s:I, s:I, s:I, s:s}", "delivered", (json_int_t)delivered, "withheld",
	                 (json_int_t)withheld, "limit", (json_int_t)limit, "scope",
	                 scope ? scope : "policy");
}

/* "2026-11-25" of a time in microseconds (a static buffer: one call per expression). */
static const char *
utc_day(int64_t us)
{
	static _Thread_local char day[16];
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0)
		snprintf(day, sizeof(day), "?");
	return day;
}

/* ---- the run-time claim: one re-check for every way an approved request starts ---- */

void
wf_claimed_clear(wf_claimed *c)
{
	if (c == NULL)
		return;
	store_request_clear(&c->r);
	policy_decision_free(&c->d);
	memset(c, 0, sizeof(*c));
}

/* The request was auto-approved when it was decided, or an approval bound to its bytes,
 * unexpired (names: valid_approvers), by someone other than its requester who is still an
 * escort or reviewer stands: a request never starts on a later policy's say-so alone. */
static int
approval_floor(wf *w, const store_request *r, size_t napv, const char *const *names, size_t n)
{
	const policy_identity *who;
	policy_decision dec;
	size_t i;
	int ok = 0;

	if (napv == 0 && r->decision) {
		memset(&dec, 0, sizeof(dec));
		if (policy_decision_from_json(r->decision, strlen(r->decision), &dec) == 0 &&
		    dec.effect == POLICY_AUTO_APPROVE)
			ok = 1;
		policy_decision_free(&dec);
	}
	for (i = 0; !ok && i < n; i++) {
		if (strcmp(names[i], r->requester) == 0)
			continue;
		who = policy_identity_find(w->pol, names[i]);
		ok = who != NULL && is_reviewer_kind(who);
	}
	return ok;
}

/* Whether actor may take r at all (cs->who); 0, or WF_EREFUSED / WF_ENOTFOUND with why. */
static int
claim_who(wf *w, const wf_claim_spec *cs, const store_request *r, const policy_target *tg,
          buf *msg)
{
	const policy_identity *who = policy_identity_find(w->pol, cs->actor);

	switch (cs->who) {
	case WF_CLAIM_HOST:
		/* a host sees only its own sudo targets' requests: others do not exist for it */
		if (!policy_identity_has_role(who, POLICY_ROLE_HOST) ||
		    !policy_identity_hosts(who, r->target) || tg == NULL ||
		    !policy_target_is_sudo(tg)) {
			buf_printf(msg, "request %" PRId64 " does not exist on the hosts of %s", r->id,
			           cs->actor);
			return WF_ENOTFOUND;
		}
		return 0;
	case WF_CLAIM_REQUESTER:
		if (who != NULL && strcmp(r->requester, cs->actor) == 0)
			return 0;
		buf_printf(msg, "%s may not run request %" PRId64 ": only its requester can",
		           cs->actor, r->id);
		return WF_EREFUSED;
	case WF_CLAIM_REQUESTER_OR_ESCORT:
		if (who != NULL && (strcmp(r->requester, cs->actor) == 0 ||
		                    policy_identity_has_role(who, POLICY_ROLE_ESCORT)))
			return 0;
		buf_printf(msg, "%s may not run request %" PRId64 ": only its requester or an escort "
		           "can", cs->actor, r->id);
		return WF_EREFUSED;
	default:
		buf_puts(msg, "internal error: unknown claimant kind");
		return ESC_EINTERNAL;
	}
}

/* The claim's audit record: what every start names, plus a line's session and number and
 * a sudo claim's host view. */
static json_t *
claim_event(const wf_claim_spec *cs, const store_request *r, const policy_decision *d,
            const char *const *kept, size_t nk, const store_isession_line *ln)
{
	unsigned char h[STORE_HASH_LEN];
	char hex[2 * STORE_HASH_LEN + 1];
	json_t *ja = json_array(), *ev;
	size_t i;

	if (wf_approval_hash(r->id, r->target, r->policy_version, r->cmds, r->ncmds, h) != 0) {
		json_decref(ja);
		return NULL;
	}
	hexify(h, sizeof(h), hex);
	for (i = 0; ja && i < nk; i++)
		json_array_append_new(ja, json_string(kept[i]));
	ev = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o}", "request", (json_int_t)r->id, "target",
	               r->target, "hash", hex, "effect", policy_effect_name(d->effect),
	               "approvers", ja, "commands", commands_json(r->cmds, r->ncmds));
	if (ev && ln) {
		json_object_set_new(ev, "session", json_integer((json_int_t)ln->session_id));
		json_object_set_new(ev, "line", json_integer((json_int_t)ln->seq));
	}
	if (ev && cs->cmd_sha256_hex) {
		json_object_set_new(ev, "host", json_string(r->target));
		json_object_set_new(ev, "requester", json_string(r->requester));
		json_object_set_new(ev, "command_sha256", json_string(cs->cmd_sha256_hex));
	}
	return ev;
}

int
wf_claim(wf *w, const wf_claim_spec *cs, wf_claimed *out, buf *msg)
{
	store_request *r = &out->r;
	store_approval *apv = NULL;
	store_isession_line ln;
	store_isession se;
	size_t napv = 0, nn = 0, nk = 0, i;
	const char *names[POLICY_MAX_APPROVERS + 1], *kept[POLICY_MAX_APPROVERS + 1];
	agg a;
	buf notes = BUF_INIT, missing = BUF_INIT;
	char err[512] = "";
	int rc, st, met = 0, tampered = 0, expired = 0, refused = 0, is_line;
	int64_t now = now_us(w);
	json_t *ev;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	memset(&ln, 0, sizeof(ln));
	memset(&se, 0, sizeof(se));
	if (cs->to_state != WF_RUNNING && (cs->to_state != WF_SUCCEEDED || cs->result == NULL)) {
		buf_puts(msg, "internal error: a claim ends in running, or succeeded with a result");
		return ESC_EINVAL;
	}
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		return rc;
	}
	if ((rc = load_req(w, cs->id, r, &apv, &napv, msg)) != 0)
		goto tx;
	out->tg = policy_target_find(w->pol, r->target);
	if (cs->who == WF_CLAIM_HOST && (rc = claim_who(w, cs, r, out->tg, msg)) != 0)
		goto tx; /* not found, not refused: nothing to audit about another host's request */
	/* a session's line runs in its session's shell, in order, or not at all */
	/* only "no such line" means it is not one: a store error must not let a session's
	 * line pass for a plain request (and run outside its session) */
	rc = store_isession_line_of(w->st, cs->id, &ln);
	if (rc != 0 && rc != ESC_ENOENT) {
		buf_printf(msg, "request %" PRId64 ": cannot tell whether it is a session's line: "
		           "store: %s", cs->id, store_error(w->st));
		goto tx;
	}
	is_line = rc == 0;
	rc = 0;
	if (is_line && !cs->line) {
		buf_printf(msg, "request %" PRId64 " is line %" PRId64 " of session %" PRId64
		           "; it runs only in that session", cs->id, ln.seq, ln.session_id);
		refused = 1;
		goto tx;
	}
	if (!is_line && cs->line) {
		buf_printf(msg, "request %" PRId64 " is not a line of a session of %s", cs->id,
		           cs->actor);
		refused = 1;
		goto tx;
	}
	if (is_line) {
		if ((rc = store_isession_get(w->st, ln.session_id, &se)) != 0) {
			buf_printf(msg, "store: %s", store_error(w->st));
			goto tx;
		}
		if (strcmp(se.state, "ended") == 0 || strcmp(se.state, "killed") == 0) {
			buf_printf(msg, "line %" PRId64 " (request %" PRId64 ") cannot run: session %"
			           PRId64 " is %s", ln.seq, cs->id, ln.session_id, se.state);
			refused = 1;
			goto tx;
		}
	}
	/* sudo on that host runs these (escort_sudo(8)); here they would run on escortd's
	 * machine, e.g. an approval sudo never claimed because it was killed while waiting */
	if (out->tg != NULL && policy_target_is_sudo(out->tg) && !cs->sudo) {
		buf_printf(msg, "request %" PRId64 ": requests for sudo host %s are run by sudo on "
		           "that host, not by escort", cs->id, r->target);
		refused = 1;
		goto tx;
	}
	if ((rc = claim_who(w, cs, r, out->tg, msg)) != 0) {
		refused = rc == WF_EREFUSED;
		goto tx;
	}
	st = wf_state_parse(r->state);
	if (st == WF_RUNNING || st == WF_SUCCEEDED || st == WF_FAILED) {
		buf_printf(msg, "request %" PRId64 " is %s: it was already started by %s; a request "
		           "runs at most once", cs->id, r->state, r->runner ? r->runner : "?");
		rc = WF_ECONFLICT;
		goto tx;
	}
	if ((rc = expire_if_due(w, cs->actor, r, &expired, msg)) != 0)
		goto tx;
	if (expired) {
		rc = finish_tx(w, 0, msg);
		if (rc == 0) {
			buf_printf(msg, "request %" PRId64 " has expired (it is now expired); it cannot "
			           "run", cs->id);
			rc = WF_ECONFLICT;
		}
		goto out;
	}
	if (st != WF_APPROVED) {
		buf_printf(msg, "request %" PRId64 " is %s, not approved; it cannot run", cs->id,
		           r->state);
		rc = WF_ECONFLICT;
		goto tx;
	}
	if (out->tg == NULL) {
		buf_printf(msg, "request %" PRId64 ": target %s is not in the policy in force", cs->id,
		           r->target);
		refused = 1;
		goto tx;
	}
	if (cs->sudo ? !policy_target_is_sudo(out->tg)
	             : (out->tg->transport == NULL || (strcmp(out->tg->transport, "local") != 0 &&
	                                               strcmp(out->tg->transport, "ssh") != 0))) {
		buf_printf(msg, "request %" PRId64 ": target %s uses transport %s, which %s", cs->id,
		           r->target, out->tg->transport ? out->tg->transport : "?",
		           cs->sudo ? "is not sudo" : "this escort cannot run (only local and ssh)");
		refused = 1;
		goto tx;
	}
	for (i = 0; i < r->ncmds; i++) {
		if (memchr(r->cmds[i].bytes, 0, r->cmds[i].len) != NULL) {
			buf_printf(msg, "request %" PRId64 ": command %zu contains a NUL byte; refusing "
			           "to run something bash cannot receive exactly", cs->id, i + 1);
			refused = 1;
			goto tx;
		}
	}
	if (cs->cmd_sha256_hex) {
		unsigned char h[STORE_HASH_LEN];
		char hex[2 * STORE_HASH_LEN + 1];

		if (r->ncmds != 1 || (rc = sha256(r->cmds[0].bytes, r->cmds[0].len, h)) != 0) {
			buf_printf(msg, "request %" PRId64 " is not one command", cs->id);
			rc = 0;
			refused = 1;
			goto tx;
		}
		hexify(h, sizeof(h), hex);
		if (strlen(cs->cmd_sha256_hex) != 2 * STORE_HASH_LEN ||
		    sodium_memcmp(hex, cs->cmd_sha256_hex, 2 * STORE_HASH_LEN) != 0) {
			buf_printf(msg, "request %" PRId64 " approved another command than this one",
			           cs->id);
			refused = 1;
			goto tx;
		}
	}
	/* the bytes must still be what was decided and approved */
	if ((rc = check_binding(r, &tampered, msg)) != 0 || tampered) {
		refused = tampered;
		goto tx;
	}
	if ((rc = valid_approvers(w, r, apv, napv, names, &nn, &tampered, &notes)) != 0)
		goto tx;
	if (tampered) {
		buf_printf(msg, "request %" PRId64 " cannot run: %s", cs->id, buf_cstr(&notes));
		refused = 1;
		goto tx;
	}
	if (!approval_floor(w, r, napv, names, nn)) {
		buf_printf(msg, "request %" PRId64 " cannot run: it has no valid approval bound to "
		           "this command by a current escort or reviewer, and was not auto-approved",
		           cs->id);
		refused = 1;
		goto tx;
	}
	/* and the policy in force, with today's attributes, must still agree */
	if ((rc = current_agg(w, r, &a)) != 0 ||
	    (rc = decide(w, r->requester, r->target, &a, &out->d)) != 0)
		goto tx;
	if (out->d.effect == POLICY_DENY) {
		buf_printf(msg, "request %" PRId64 " cannot run: the policy in force denies it now: ",
		           cs->id);
		reasons_text(&out->d, msg, 1);
		refused = 1;
		goto tx;
	}
	if (out->d.effect == POLICY_NEEDS_APPROVAL) {
		if ((rc = kept_quorum(w, &out->d, r->requester, names, nn, kept, &nk, &met, &notes,
		                      &missing)) != 0)
			goto tx;
		if (!met) {
			buf_printf(msg, "request %" PRId64 " cannot run: its approvals no longer "
			           "satisfy the policy in force", cs->id);
			if (notes.len)
				buf_printf(msg, " (%s)", buf_cstr(&notes));
			if (missing.len)
				buf_printf(msg, "; still needed: %s", buf_cstr(&missing));
			refused = 1;
			goto tx;
		}
	}
	/* claim it: only one process sees approved here, the others see running */
	if ((rc = set_state(r, WF_RUNNING, now)) || (rc = store_strset(&r->runner, cs->actor)))
		goto tx;
	r->started_us = now;
	if (cs->to_state != WF_RUNNING) {
		/* someone else runs it (sudo): the request ends here as handed over */
		if ((rc = set_state(r, cs->to_state, now)) != 0)
			goto tx;
		r->finished_us = now;
		r->has_exit = 0;
		free(r->result);
		if ((r->result = strdup(cs->result)) == NULL) {
			rc = ESC_ENOMEM;
			goto tx;
		}
	}
	if ((rc = store_request_update(w->st, r)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx;
	}
	ev = claim_event(cs, r, &out->d, kept, nk, is_line ? &ln : NULL);
	if (cs->audit == NULL) {
		rc = wf_audit(w, cs->event, cs->actor, ev, msg);
	} else if (ev == NULL) {
		buf_printf(msg, "cannot build the audit record %s", cs->event);
		rc = ESC_ENOMEM;
	} else if ((rc = cs->audit(cs->audit_ctx, cs->event, cs->actor, ev, err,
	                           sizeof(err))) != 0) {
		buf_printf(msg, "audit log unavailable, nothing was allowed: %s", err);
	}
tx:
	if (refused) {
		(void)finish_tx(w, ESC_EINVAL, NULL);
		audit_refusal(w, cs->actor, cs->action, cs->id, msg);
		rc = WF_EREFUSED;
		goto out;
	}
	rc = finish_tx(w, rc, msg);
out:
	if (rc != 0)
		wf_claimed_clear(out);
	buf_free(&notes);
	buf_free(&missing);
	agg_free(&a);
	store_isession_clear(&se);
	store_approvals_free(apv, napv);
	return rc;
}

int
wf_request_run(wf *w, const char *actor, int64_t id, int *state, buf *msg)
{
	wf_claimed c;
	store_request *rp = &c.r;
	exec_res res;
	broker_target bt;
	broker_redaction redactions;
	broker_redact_rules *rrules = NULL;
	uint64_t delivered = 0, egress_limit = 0;
	const char *egress_scope = NULL;
	int attest_on = 0;
	buf redacted = BUF_INIT, snap0 = BUF_INIT, snap1 = BUF_INIT, attest = BUF_INIT,
	    attest_err = BUF_INIT;
	char keypath[4096], rhex[2 * STORE_HASH_LEN + 1];
	size_t nchanges = 0;
	char hex[2 * STORE_HASH_LEN + 1];
	int rc, final;
	int64_t now;
	const policy_target *tg;
	const wf_claim_spec cs = {
		.actor = actor, .id = id, .who = WF_CLAIM_REQUESTER_OR_ESCORT, .line = 0, .sudo = 0,
		.to_state = WF_RUNNING, .event = "execution.start", .action = "run",
	};

	memset(&res, 0, sizeof(res));
	memset(&bt, 0, sizeof(bt));
	memset(&redactions, 0, sizeof(redactions));
	buf_init(&res.out, STORE_OUTPUT_MAX);
	/* every check and the claim itself: shared with session lines and sudo claims */
	if ((rc = wf_claim(w, &cs, &c, msg)) != 0)
		goto out;
	tg = c.tg;

	/* outside any lock: the command may take minutes */
	broker_target_of(w, tg, &bt, keypath, sizeof(keypath));
	attest_on = tg->attest;
	res.cap = STORE_OUTPUT_MAX;
	if (tg->output_max && tg->output_max < res.cap)
		res.cap = (size_t)tg->output_max;
	if (c.d.output_max_bytes > 0 && (uint64_t)c.d.output_max_bytes < res.cap)
		res.cap = (size_t)c.d.output_max_bytes;
	/* what the target looked like before, through the same transport (the default is
	 * ssh targets only: a local snapshot looks at escort's own host) */
	if (w->brk == NULL && broker_new(&w->brk) != 0) {
		buf_printf(msg, "request %" PRId64 ": out of memory", id);
		res.exit_code = 255;
	} else if (attest_on && broker_attest(w->brk, &bt, NULL, &snap0, &attest_err) != 0 &&
	           attest_err.len == 0) {
		buf_puts(&attest_err, "cannot take the snapshot");
	}
	rc = exec_request(w, &bt, tg->timeout_sec ? tg->timeout_sec : WF_RUN_TIMEOUT_DEFAULT, rp,
	                  &res);
	if (rc) {
		buf_printf(msg, "request %" PRId64 ": %s", id,
		           res.error.len ? buf_cstr(&res.error) : esc_strerror(rc));
		res.exit_code = res.exit_code ? res.exit_code : 255;
	}
	if (attest_on && attest_err.len == 0 && w->brk) {
		if (broker_attest(w->brk, &bt, NULL, &snap1, &attest_err) == 0)
			(void)broker_attest_diff((const char *)snap0.data, snap0.len,
			                         (const char *)snap1.data, snap1.len, &attest, &nchanges);
		else if (attest_err.len == 0)
			buf_puts(&attest_err, "cannot take the snapshot");
	}
	/* what an operator will be shown (built-in kinds and the target's own patterns; a
	 * pattern that does not compile withholds the whole view), and its hash for the log */
	if (target_redact_rules(tg, &rrules, &res.error) != 0)
		(void)buf_puts(&redacted, "[escort: output withheld: the target's redaction "
		                          "patterns could not be compiled]\n");
	else
		(void)broker_redact_ex(res.out.data, res.out.len, &redacted, &redactions, rrules);
	{
		unsigned char rh[STORE_HASH_LEN];

		sha256(redacted.data ? (const void *)redacted.data : "", redacted.len, rh);
		hexify(rh, sizeof(rh), rhex);
	}
	final = (rc == 0 && res.exit_code == 0 && !res.timed_out) ? WF_SUCCEEDED : WF_FAILED;

	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto out;
	}
	hexify(res.sha, sizeof(res.sha), hex);
	now = now_us(w);
	if ((rc = set_state(rp, final, now)) || (rc = store_strset(&rp->output_sha256, hex)))
		goto tx2;
	/* the data egress cap: what of the operator's view he may still receive today */
	if ((rc = charge_egress(w, rp, tg, redacted.len, now, &delivered, &egress_limit,
	                        &egress_scope, msg)) != 0)
		goto tx2;
	rp->finished_us = now;
	rp->has_exit = 1;
	rp->exit_code = res.exit_code;
	free(rp->output);
	rp->output_len = res.out.len;
	rp->output = (unsigned char *)buf_steal(&res.out, NULL);
	{
		json_t *j = json_pack("{s:b, s:b, s:I, s:i, s:I, s:s, s:s, s:o}", "timed_out",
		                      res.timed_out, "truncated", res.total > res.cap,
		                      "output_bytes", (json_int_t)res.total, "commands_run",
		                      (int)res.ran, "duration_ms", (json_int_t)res.ms, "transport",
		                      tg->transport, "output_redacted_sha256", rhex, "redactions",
		                      redactions_json(&redactions));

		if (j && res.error.len)
			json_object_set_new(j, "error", json_string(buf_cstr(&res.error)));
		if (j && attest_on)
			json_object_set_new(j, "attestation", attestation_json(&attest, nchanges, &attest_err));
		if (j && egress_limit)
			json_object_set_new(j, "egress", egress_json(delivered, redacted.len - delivered,
			                                             egress_limit, egress_scope));

		free(rp->result);
		rp->result = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(j);
	}
	if ((rc = store_request_update(w->st, rp)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx2;
	}
	{
		json_t *ev = json_pack("{s:I, s:s, s:i, s:s, s:I, s:b, s:I, s:s, s:o}", "request",
		                       (json_int_t)id, "state", wf_state_name(final), "exit",
		                       res.exit_code, "output_sha256", hex, "output_bytes",
		                       (json_int_t)res.total, "timed_out", res.timed_out,
		                       "duration_ms", (json_int_t)res.ms, "output_redacted_sha256",
		                       rhex, "redactions", redactions_json(&redactions));

		if (ev && res.error.len)
			json_object_set_new(ev, "error", json_string(buf_cstr(&res.error)));
		if (ev && attest_on)
			json_object_set_new(ev, "attestation",
			                    attestation_json(&attest, nchanges, &attest_err));
		if (ev && egress_limit)
			json_object_set_new(ev, "egress", egress_json(delivered, redacted.len - delivered,
			                                              egress_limit, egress_scope));
		rc = wf_audit(w, "execution.end", actor, ev, msg);
	}
	/* a cut view is its own event: auditors search for it */
	if (rc == 0 && egress_limit)
		rc = wf_audit(w, delivered ? "egress.truncated" : "egress.withheld", actor,
		              json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:s, s:s}", "request",
		                        (json_int_t)id, "operator", rp->requester, "environment",
		                        tg->environment, "delivered", (json_int_t)delivered,
		                        "withheld", (json_int_t)(redacted.len - delivered),
		                        "limit", (json_int_t)egress_limit, "scope", egress_scope,
		                        "day", utc_day(now)),
		              msg);
	if (rc) {
		/* it ran: hiding the result would be worse than an unlogged record of it */
		(void)audit_end(w, NULL);
		if (store_commit(w->st) != 0)
			(void)store_rollback(w->st);
		buf_printf(msg, " (request %" PRId64 " ran; its result is stored but not logged)", id);
		goto out;
	}
tx2:
	rc = finish_tx(w, rc, msg);
	if (rc == 0 && state)
		*state = final;
out:
	buf_free(&res.out);
	buf_free(&res.error);
	EVP_MD_CTX_free(res.md);
	buf_free(&redacted);
	broker_redact_rules_free(rrules);
	buf_free(&snap0);
	buf_free(&snap1);
	buf_free(&attest);
	buf_free(&attest_err);
	wf_claimed_clear(&c);
	return rc;
}

/* ---- reading ---- */

static int
may_see_all(const policy_identity *who)
{
	return policy_identity_has_role(who, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER |
	                                         POLICY_ROLE_AUDITOR | POLICY_ROLE_ADMIN);
}

/* The egress record of a result: how much of the operator's view he received (-1: all). */
static int64_t
egress_delivered(const char *result, uint64_t *limit, const char **scope, char *sbuf, size_t slen)
{
	json_t *j, *e, *v;
	int64_t d = -1;

	*limit = 0;
	*scope = "policy";
	if (result == NULL || (j = json_loads(result, 0, NULL)) == NULL)
		return -1;
	if ((e = json_object_get(j, "egress")) && json_is_object(e) &&
	    (v = json_object_get(e, "delivered")) && json_is_integer(v)) {
		d = json_integer_value(v);
		if ((v = json_object_get(e, "limit")) && json_is_integer(v))
			*limit = (uint64_t)json_integer_value(v);
		if ((v = json_object_get(e, "scope")) && json_is_string(v)) {
			snprintf(sbuf, slen, "%s", json_string_value(v));
			*scope = sbuf;
		}
	}
	json_decref(j);
	return d;
}

/* What an operator is shown: secrets masked (built-in kinds and the target's patterns in
 * the policy in force), then cut to what the data egress cap let through at run time. */
static int
operator_view(wf *w, store_request *r, buf *msg)
{
	const policy_target *tg = policy_target_find(w->pol, r->target);
	broker_redact_rules *rr = NULL;
	buf red = BUF_INIT;
	uint64_t limit;
	const char *scope;
	char sbuf[32];
	int64_t keep;
	int rc;

	if ((rc = target_redact_rules(tg, &rr, msg)) != 0)
		goto out;
	if ((rc = broker_redact_ex(r->output, r->output_len, &red, NULL, rr)) != 0)
		goto out;
	keep = egress_delivered(r->result, &limit, &scope, sbuf, sizeof(sbuf));
	if (keep >= 0 && (uint64_t)keep < red.len) {
		size_t cut = red.len - (size_t)keep;

		buf_truncate(&red, (size_t)keep);
		if ((rc = buf_printf(&red, "%s[escort: %zu more bytes withheld: the daily output limit "
		                           "(%" PRIu64 " bytes per operator, %s) was reached]\n",
		                     red.len && red.data[red.len - 1] != '\n' ? "\n" : "", cut,
		                     limit, strcmp(scope, "environment") == 0
		                                ? "in this environment" : "in all environments")) != 0)
			goto out;
	}
	free(r->output);
	r->output_len = red.len;
	r->output = red.len ? (unsigned char *)buf_steal(&red, NULL) : NULL;
out:
	buf_free(&red);
	broker_redact_rules_free(rr);
	return rc;
}

int
wf_request_get(wf *w, const char *actor, int64_t id, store_request *r, store_approval **apv,
               size_t *napv, buf *msg)
{
	const policy_identity *who;
	int rc;

	memset(r, 0, sizeof(*r));
	*apv = NULL;
	*napv = 0;
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if ((who = policy_identity_find(w->pol, actor)) == NULL) {
		buf_printf(msg, "%s is not an identity in the policy in force", actor);
		return WF_EREFUSED;
	}
	if ((rc = store_begin(w->st, STORE_TX_READ)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		return rc;
	}
	rc = load_req(w, id, r, apv, napv, msg);
	(void)store_rollback(w->st);
	if (rc == 0 && !may_see_all(who) && strcmp(r->requester, actor) != 0) {
		buf_printf(msg, "%s may not see request %" PRId64 ": operators see only their own",
		           actor, id);
		rc = WF_EREFUSED;
	}
	/* operators see output with secrets masked; escorts, reviewers, auditors see it all
	 * (the log holds the hashes of both views) */
	if (rc == 0 && !may_see_all(who) && r->output_len)
		rc = operator_view(w, r, msg);
	if (rc) {
		store_request_clear(r);
		store_approvals_free(*apv, *napv);
		*apv = NULL;
		*napv = 0;
	}
	return rc;
}

int
wf_request_list(wf *w, const char *actor, const char *state, int mine, store_request **out,
                size_t *n, buf *msg)
{
	const policy_identity *who;
	store_filter f;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if ((who = policy_identity_find(w->pol, actor)) == NULL) {
		buf_printf(msg, "%s is not an identity in the policy in force", actor);
		return WF_EREFUSED;
	}
	if (state && wf_state_parse(state) < 0) {
		buf_printf(msg, "unknown state '%s'", state);
		return ESC_EINVAL;
	}
	memset(&f, 0, sizeof(f));
	f.state = state;
	f.requester = (mine || !may_see_all(who)) ? actor : NULL;
	if ((rc = store_request_list(w->st, &f, out, n)) != 0)
		buf_printf(msg, "store: %s", store_error(w->st));
	return rc;
}

int
wf_request_needs(wf *w, const store_request *r, const store_approval *apv, size_t napv,
                 buf *out)
{
	const char *names[POLICY_MAX_APPROVERS + 1], *kept[POLICY_MAX_APPROVERS + 1];
	size_t nn, nk;
	policy_decision d;
	agg a;
	int rc, tampered, met;

	if (w->pol == NULL)
		return 0;
	memset(&d, 0, sizeof(d));
	if ((rc = current_agg(w, r, &a)) != 0)
		return rc;
	if ((rc = decide(w, r->requester, r->target, &a, &d)) != 0)
		goto out;
	if (d.effect == POLICY_DENY) {
		buf_puts(out, "the policy in force denies it: ");
		reasons_text(&d, out, 1);
	} else if (d.effect == POLICY_NEEDS_APPROVAL) {
		if ((rc = valid_approvers(w, r, apv, napv, names, &nn, &tampered, out)) == 0)
			rc = kept_quorum(w, &d, r->requester, names, nn, kept, &nk, &met, out, out);
	}
out:
	agg_free(&a);
	policy_decision_free(&d);
	return rc;
}

/* ==== interactive sessions (escort-session(1)) ====
 * A session is a row tying an operator to a target; each line he enters is a request
 * (wf_request_create with the session's ticket), so lines are analyzed, decided and
 * approved with exactly the rules of requests. The session layer runs approved lines in
 * the session's shell: wf_isession_line_claim takes a line from approved to running after
 * the same re-checks as wf_request_run, wf_isession_line_finish records how it ended. */


#include "lockbox/ast.h"

#define ESC_DEPTH_MAX 128

static const char *const session_states[] = { "active", "paused", "ended", "killed" };

static int
isession_state_ok(const char *s)
{
	size_t i;

	for (i = 0; s && i < sizeof(session_states) / sizeof(session_states[0]); i++)
		if (strcmp(s, session_states[i]) == 0)
			return 1;
	return 0;
}

static int
is_session_line(wf *w, int64_t request_id)
{
	store_isession_line l;

	return store_isession_line_of(w->st, request_id, &l) == 0;
}

/* ---- what escapes line-by-line gating ---- */

static const char *
base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int
in_list(const char *s, const char *const *l)
{
	for (; *l; l++)
		if (strcmp(s, *l) == 0)
			return 1;
	return 0;
}

/* A simple command that leaves the line's control: a shell, REPL or client reading its
 * commands interactively, a multiplexer, a login onward, something that detaches. */
static int
simple_escapes(lb_arena *ar, const lb_node *n, buf *why)
{
	static const char *const always[] = {
		"nohup", "setsid", "disown", "daemonize", "screen", "tmux", "byobu", "ssh", "mosh",
		"telnet", "rsh", "rlogin", "at", "batch", "script", "expect", "xterm", "dtach",
		"abduco", "nsenter", "unshare", "chroot", "su", "machinectl", NULL
	};
	static const char *const repl[] = {
		"bash", "sh", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "python",
		"python2", "python3", "ipython", "ipython3", "perl", "ruby", "irb", "node", "nodejs",
		"php", "lua", "luajit", "R", "ghci", "erl", "iex", "scala", "tclsh", "wish", "gdb",
		"sqlite3", "mysql", "mariadb", "psql", "mongo", "mongosh", "redis-cli", "ftp", "sftp",
		"lftp", "nc", "ncat", "netcat", "socat", "openssl", "bc", "dc", "ed", "rlwrap", NULL
	};
	static const char *const wrappers[] = {
		"sudo", "doas", "env", "nice", "ionice", "timeout", "stdbuf", "command", "builtin",
		"exec", "time", "xargs", "chrt", "taskset", "runuser", NULL
	};
	static const char *const run_opts[] = {
		"-c", "-e", "-E", "-m", "-f", "-x", "--command", "--execute", "--file", "-Command",
		"-r", "-p", NULL
	};
	const lb_word *wd = n->words;
	const char *prog = NULL, *v;
	size_t len;
	int skip_next = 0, positional = 0, run_opt = 0;

	/* the program, past wrappers such as sudo, env and timeout */
	for (; wd; wd = wd->next) {
		if ((v = lb_word_static(ar, wd, &len)) == NULL)
			return 0; /* computed: lockbox calls it opaque */
		if (skip_next) {
			skip_next = 0;
			continue;
		}
		if (prog == NULL || in_list(base_name(prog), wrappers)) {
			if (prog && (v[0] == '-' || strchr(v, '='))) {
				if (strcmp(base_name(prog), "sudo") == 0 &&
				    (strcmp(v, "-u") == 0 || strcmp(v, "-g") == 0))
					skip_next = 1;
				continue;
			}
			if (prog && strcmp(base_name(prog), "timeout") == 0 && v[0] >= '0' &&
			    v[0] <= '9')
				continue;
			prog = v;
			continue;
		}
		if (v[0] == '-') {
			if (in_list(v, run_opts))
				run_opt = 1;
		} else
			positional = 1;
	}
	if (prog == NULL)
		return 0;
	prog = base_name(prog);
	if (in_list(prog, always)) {
		buf_printf(why, "%s leaves line-by-line control (it runs on after the line, "
		           "elsewhere, or in a terminal of its own)", prog);
		return 1;
	}
	if (in_list(prog, repl) && !positional && !run_opt) {
		buf_printf(why, "%s without a script or command to run is interactive: it would "
		           "read its commands outside line-by-line review", prog);
		return 1;
	}
	return 0;
}

static int
node_escapes(lb_arena *ar, const lb_node *n, int depth, buf *why)
{
	size_t i;

	if (n == NULL)
		return 0;
	if (depth > ESC_DEPTH_MAX) {
		buf_puts(why, "the line nests too deeply to be judged");
		return 1;
	}
	if (n->term == LB_T_AMP) {
		buf_puts(why, "it starts a job in the background (&) that would outlive the line");
		return 1;
	}
	if (n->kind == LB_N_COPROC) {
		buf_puts(why, "it starts a coprocess that would outlive the line");
		return 1;
	}
	if (n->kind == LB_N_SIMPLE && simple_escapes(ar, n, why))
		return 1;
	for (i = 0; i < n->nkids; i++)
		if (node_escapes(ar, n->kids[i], depth + 1, why))
			return 1;
	return 0;
}

/* 1 when the line would escape gating (why says how), 0 when not. A line that does not
 * parse escapes nothing here: lockbox already judges it. */
static int
line_escapes(const unsigned char *p, size_t len, buf *why)
{
	lb_arena *ar = lb_arena_new();
	lb_node *root = NULL;
	lb_parse_error pe;
	int hit = 0;

	if (ar == NULL)
		return 0;
	lb_arena_set_max(ar, 64u << 20);
	memset(&pe, 0, sizeof(pe));
	if (lb_parse(ar, (const char *)p, len, &root, &pe) == 0)
		hit = node_escapes(ar, root, 0, why);
	lb_arena_free(ar);
	return hit;
}

/* Adds shell-escape to the aggregate (and to the stored analyses when given) for lines
 * that escape gating. */
static int
session_escapes(wf *w, const store_command *cmds, size_t n, char **analysis, struct agg *a)
{
	buf why = BUF_INIT;
	size_t i, k;
	int rc = 0;

	(void)w;
	for (i = 0; i < n && rc == 0; i++) {
		buf_reset(&why);
		if (!line_escapes(cmds[i].bytes, cmds[i].len, &why))
			continue;
		for (k = 0; k < a->ncats && strcmp(a->cats[k], "shell-escape") != 0; k++)
			;
		if (k == a->ncats) {
			char **nv = realloc(a->cats, (a->ncats + 1) * sizeof(*nv));

			if (nv == NULL)
				return ESC_ENOMEM;
			a->cats = nv;
			if ((a->cats[a->ncats] = strdup("shell-escape")) == NULL)
				return ESC_ENOMEM;
			a->ncats++;
		}
		if (analysis && analysis[i]) {
			json_t *j = json_loads(analysis[i], 0, NULL), *c, *f;
			char *t;

			if (j == NULL)
				continue;
			c = json_object_get(j, "categories");
			if (json_is_array(c))
				json_array_append_new(c, json_string("shell-escape"));
			f = json_object_get(j, "findings");
			if (json_is_array(f))
				json_array_append_new(f, json_pack("{s:s, s:s, s:s, s:s}", "id",
				                                   "session-escape", "severity", "high",
				                                   "category", "shell-escape", "message",
				                                   buf_cstr(&why)));
			t = json_dumps(j, JSON_COMPACT);
			json_decref(j);
			if (t) {
				free(analysis[i]);
				analysis[i] = t;
			}
		}
	}
	buf_free(&why);
	return rc;
}

int
wf_isession_escape_reason(const unsigned char *line, size_t len, buf *why)
{
	return line_escapes(line, len, why);
}

/* ---- the session row ---- */

static int
may_see_session(const policy_identity *who, const store_isession *se, const char *actor)
{
	return may_see_all(who) || strcmp(se->operator_name, actor) == 0;
}

static int
load_isession(wf *w, int64_t id, store_isession *se, buf *msg)
{
	int rc = store_isession_get(w->st, id, se);

	if (rc == ESC_ENOENT) {
		buf_printf(msg, "session %" PRId64 " does not exist", id);
		return WF_ENOTFOUND;
	}
	if (rc)
		buf_printf(msg, "store: %s", store_error(w->st));
	return rc;
}

void
wf_isession_settings(wf *w, const char *target, policy_sessions *out)
{
	policy_sessions_for(w->pol, target, out);
}

int
wf_isession_broker_target(wf *w, const char *target, broker_target *bt, char *key,
                          size_t keylen)
{
	const policy_target *tg = w->pol ? policy_target_find(w->pol, target) : NULL;

	/* a sudo target has no broker: it would map to local, i.e. escortd's own machine */
	if (tg == NULL || tg->transport == NULL || policy_target_is_sudo(tg))
		return WF_ENOTFOUND;
	broker_target_of(w, tg, bt, key, keylen);
	return 0;
}

int
wf_isession_start(wf *w, const char *actor, const char *target, const char *ticket,
                  int64_t *id, buf *msg)
{
	const policy_identity *who;
	const policy_target *tg;
	policy_decision d;
	policy_sessions ps;
	store_isession se;
	agg a;
	int rc;
	int64_t now = now_us(w);

	memset(&d, 0, sizeof(d));
	memset(&se, 0, sizeof(se));
	memset(&a, 0, sizeof(a));
	*id = 0;
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if ((rc = text_ok(ticket, "the ticket", msg)) != 0)
		return rc;
	if ((who = policy_identity_find(w->pol, actor)) == NULL ||
	    !policy_identity_has_role(who, POLICY_ROLE_OPERATOR)) {
		buf_printf(msg, "%s may not start a session: only operators work on targets", actor);
		audit_refusal(w, actor, "session.start", 0, msg);
		return WF_EREFUSED;
	}
	if (target == NULL || (tg = policy_target_find(w->pol, target)) == NULL) {
		buf_printf(msg, "no target '%s' in the policy in force", target ? target : "");
		return WF_ENOTFOUND;
	}
	if (tg->transport == NULL ||
	    (strcmp(tg->transport, "local") != 0 && strcmp(tg->transport, "ssh") != 0)) {
		buf_printf(msg, "target %s uses transport %s; interactive sessions run on local and "
		           "ssh targets only", target, tg->transport ? tg->transport : "?");
		return WF_EREFUSED;
	}
	/* the operator must be allowed to work there at all: what a harmless line decides */
	if ((rc = decide(w, actor, target, &a, &d)) != 0)
		goto out;
	if (d.effect == POLICY_DENY) {
		buf_printf(msg, "%s may not open a session on %s: ", actor, target);
		reasons_text(&d, msg, 1);
		audit_refusal(w, actor, "session.start", 0, msg);
		rc = WF_EREFUSED;
		goto out;
	}
	policy_sessions_for(w->pol, target, &ps);
	if ((rc = store_strset(&se.operator_name, actor)) || (rc = store_strset(&se.target, target)) ||
	    (rc = store_strset(&se.ticket, ticket)) || (rc = store_strset(&se.state, "active")))
		goto out;
	se.created_us = se.updated_us = now;
	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto out;
	}
	if ((rc = store_isession_insert(w->st, &se)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx;
	}
	rc = wf_audit(w, "session.start", actor,
	              json_pack("{s:I, s:s, s:s?, s:s, s:i, s:i, s:i, s:s}", "session",
	                        (json_int_t)se.id, "target", target, "ticket", ticket,
	                        "environment", tg->environment, "require_escorts",
	                        (int)ps.require_escorts, "presence_every", (int)ps.presence_every,
	                        "line_timeout", (int)ps.line_timeout, "policy", policy_version(w->pol)),
	              msg);
tx:
	rc = finish_tx(w, rc, msg);
	if (rc == 0)
		*id = se.id;
out:
	agg_free(&a);
	policy_decision_free(&d);
	store_isession_clear(&se);
	return rc;
}

int
wf_isession_get(wf *w, const char *actor, int64_t id, store_isession *se, buf *msg)
{
	const policy_identity *who;
	int rc;

	memset(se, 0, sizeof(*se));
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if ((who = policy_identity_find(w->pol, actor)) == NULL) {
		buf_printf(msg, "%s is not an identity in the policy in force", actor);
		return WF_EREFUSED;
	}
	if ((rc = load_isession(w, id, se, msg)) != 0)
		return rc;
	if (!may_see_session(who, se, actor)) {
		buf_printf(msg, "%s may not see session %" PRId64 ": operators see only their own",
		           actor, id);
		store_isession_clear(se);
		return WF_EREFUSED;
	}
	return 0;
}

int
wf_isession_list(wf *w, const char *actor, const char *target, const char *operator_name,
                 store_isession **out, size_t *n, buf *msg)
{
	const policy_identity *who;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if ((who = policy_identity_find(w->pol, actor)) == NULL) {
		buf_printf(msg, "%s is not an identity in the policy in force", actor);
		return WF_EREFUSED;
	}
	if (!may_see_all(who)) {
		if (operator_name && strcmp(operator_name, actor) != 0) {
			buf_printf(msg, "%s may not list %s's sessions: operators see only their own",
			           actor, operator_name);
			return WF_EREFUSED;
		}
		operator_name = actor;
	}
	if ((rc = store_isession_list(w->st, target, operator_name, 0, out, n)) != 0)
		buf_printf(msg, "store: %s", store_error(w->st));
	return rc;
}

/* Changes the session's row (state, shell, recording) in one audited transaction. */
static int
isession_update(wf *w, const char *actor, int64_t id, const char *state, const char *reason,
                const char *host, int64_t pid, int64_t start, const char *recording,
                const char *event, json_t *details, store_isession *out, buf *msg)
{
	store_isession se;
	int rc, was_open;
	int64_t now = now_us(w);

	memset(&se, 0, sizeof(se));
	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		json_decref(details);
		return rc;
	}
	if ((rc = load_isession(w, id, &se, msg)) != 0)
		goto tx;
	was_open = strcmp(se.state, "ended") != 0 && strcmp(se.state, "killed") != 0;
	if (!was_open && state && strcmp(state, "ended") != 0) {
		buf_printf(msg, "session %" PRId64 " is %s already", id, se.state);
		rc = WF_ECONFLICT;
		goto tx;
	}
	if (state && was_open && (rc = store_strset(&se.state, state)) != 0)
		goto tx;
	if (reason && se.end_reason == NULL && (rc = store_strset(&se.end_reason, reason)) != 0)
		goto tx;
	if (host && ((rc = store_strset(&se.host, host)) != 0))
		goto tx;
	if (pid) {
		se.shell_pid = pid;
		se.shell_start = start;
	}
	if (recording && (rc = store_strset(&se.recording_sha256, recording)) != 0)
		goto tx;
	if (state && (strcmp(state, "ended") == 0 || strcmp(state, "killed") == 0) &&
	    se.ended_us == 0)
		se.ended_us = now;
	se.updated_us = now;
	if ((rc = store_isession_update(w->st, &se)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx;
	}
	if (event) {
		json_object_set_new(details, "session", json_integer((json_int_t)id));
		rc = wf_audit(w, event, actor, details, msg);
		details = NULL;
	}
tx:
	json_decref(details);
	rc = finish_tx(w, rc, msg);
	if (rc == 0 && out) {
		*out = se;
		memset(&se, 0, sizeof(se));
	}
	store_isession_clear(&se);
	return rc;
}

int
wf_isession_attach(wf *w, const char *actor, int64_t id, const char *host, int64_t pid,
                   int64_t start, buf *msg)
{
	return isession_update(w, actor, id, NULL, NULL, host, pid, start, NULL, NULL, NULL, NULL,
	                       msg);
}

int
wf_isession_pause(wf *w, const char *actor, int64_t id, int paused, const char *why, buf *msg)
{
	return isession_update(w, actor, id, paused ? "paused" : "active", NULL, NULL, 0, 0, NULL,
	                       paused ? "session.pause" : "session.resume",
	                       json_pack("{s:s}", "reason", why ? why : ""), NULL, msg);
}

int
wf_isession_end(wf *w, const char *actor, int64_t id, const char *reason,
                const char *recording_sha256, uint64_t recording_bytes, size_t lines,
                const char *attest_diff, size_t attest_changes, const char *attest_error,
                buf *msg)
{
	json_t *d = json_pack("{s:s, s:s?, s:I, s:I}", "reason", reason ? reason : "",
	                      "recording_sha256", recording_sha256, "recording_bytes",
	                      (json_int_t)recording_bytes, "lines", (json_int_t)lines);

	if (d && (attest_diff || attest_error)) {
		buf t = BUF_INIT;

		if (attest_diff)
			buf_puts(&t, attest_diff);
		json_object_set_new(d, "attestation", attest_error && *attest_error
		                                          ? json_pack("{s:s}", "error", attest_error)
		                                          : json_pack("{s:I, s:o}", "changes",
		                                                      (json_int_t)attest_changes,
		                                                      "diff", lines_json(&t)));
		buf_free(&t);
	}
	return isession_update(w, actor, id, "ended", reason, NULL, 0, 0, recording_sha256,
	                       "session.end", d, NULL, msg);
}

int
wf_isession_kill(wf *w, const char *actor, int64_t id, const char *reason, store_isession *se,
                 buf *msg)
{
	const policy_identity *who;
	store_isession cur;
	int rc;

	memset(se, 0, sizeof(*se));
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if ((rc = text_ok(reason, "the reason", msg)) != 0)
		return rc;
	who = policy_identity_find(w->pol, actor);
	if ((rc = load_isession(w, id, &cur, msg)) != 0)
		return rc;
	/* escorts, reviewers and admins hold the kill switch; the operator may end his own */
	if (who == NULL || (!policy_identity_has_role(who, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER |
	                                                        POLICY_ROLE_ADMIN) &&
	                    strcmp(cur.operator_name, actor) != 0)) {
		buf_printf(msg, "%s may not kill session %" PRId64 ": only escorts, reviewers, admins "
		           "and its operator can", actor, id);
		store_isession_clear(&cur);
		audit_refusal(w, actor, "session.kill", id, msg);
		return WF_EREFUSED;
	}
	store_isession_clear(&cur);
	return isession_update(w, actor, id, "killed", reason ? reason : "killed", NULL, 0, 0, NULL,
	                       "session.kill", json_pack("{s:s?}", "reason", reason), se, msg);
}

/* wf_isession_presence and wf_isession_present are in wf_presence.c, which reaches the
 * few internals it needs through these (wf_int.h). */
int
wf_int_audit(wf *w, const char *type, const char *actor, json_t *details, buf *msg)
{
	return wf_audit(w, type, actor, details, msg);
}

int
wf_int_audit_end(wf *w, buf *msg)
{
	return audit_end(w, msg);
}

int
wf_int_finish_tx(wf *w, int rc, buf *msg)
{
	return finish_tx(w, rc, msg);
}

int64_t
wf_int_now_us(const wf *w)
{
	return now_us(w);
}

/* ---- lines ---- */

int
wf_isession_line_submit(wf *w, const char *actor, int64_t id, const unsigned char *line,
                        size_t len, int64_t *seq, int64_t *request_id, int *state, buf *msg)
{
	store_isession se;
	wf_new_request nr;
	char just[128];
	int rc;

	*seq = 0;
	*request_id = 0;
	*state = -1;
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	if ((rc = load_isession(w, id, &se, msg)) != 0)
		return rc;
	if (strcmp(se.operator_name, actor) != 0) {
		buf_printf(msg, "%s may not enter lines in session %" PRId64 " (it is %s's)", actor, id,
		           se.operator_name);
		rc = WF_EREFUSED;
		goto out;
	}
	if (strcmp(se.state, "active") != 0 && strcmp(se.state, "paused") != 0) {
		buf_printf(msg, "session %" PRId64 " is %s", id, se.state);
		rc = WF_ECONFLICT;
		goto out;
	}
	snprintf(just, sizeof(just), "interactive session %" PRId64, id);
	memset(&nr, 0, sizeof(nr));
	nr.target = se.target;
	nr.ticket = se.ticket;
	nr.justification = just;
	nr.cmds = &line;
	nr.lens = &len;
	nr.ncmds = 1;
	w->line_session = id;
	w->line_seq = 0;
	rc = wf_request_create(w, actor, &nr, request_id, state, msg);
	w->line_session = 0;
	*seq = w->line_seq;
out:
	store_isession_clear(&se);
	return rc;
}

int
wf_isession_lines(wf *w, const char *actor, int64_t id, store_isession_line **out, size_t *n,
                  buf *msg)
{
	store_isession se;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = wf_isession_get(w, actor, id, &se, msg)) != 0)
		return rc;
	store_isession_clear(&se);
	if ((rc = store_isession_lines(w->st, id, out, n)) != 0)
		buf_printf(msg, "store: %s", store_error(w->st));
	return rc;
}

int
wf_isession_line_request(wf *w, int64_t id, int64_t seq, int64_t *request_id, buf *msg)
{
	store_isession_line *v = NULL;
	size_t n = 0, i;
	int rc;

	*request_id = 0;
	if ((rc = store_isession_lines(w->st, id, &v, &n)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		return rc;
	}
	for (i = 0; i < n; i++)
		if (v[i].seq == seq)
			*request_id = v[i].request_id;
	free(v);
	if (*request_id == 0) {
		buf_printf(msg, "session %" PRId64 " has no line %" PRId64, id, seq);
		return WF_ENOTFOUND;
	}
	return 0;
}

int
wf_isession_line_claim(wf *w, const char *actor, int64_t id, buf *msg)
{
	wf_claimed c;
	const wf_claim_spec cs = {
		.actor = actor, .id = id, .who = WF_CLAIM_REQUESTER, .line = 1, .sudo = 0,
		.to_state = WF_RUNNING, .event = "execution.start", .action = "run",
	};
	int rc = wf_claim(w, &cs, &c, msg);

	wf_claimed_clear(&c);
	return rc;
}

int
wf_isession_line_finish(wf *w, const char *actor, int64_t id, const wf_line_result *lr,
                        int *state, buf *msg)
{
	store_request r;
	store_isession_line ln;
	char hex[2 * STORE_HASH_LEN + 1];
	int rc, final;
	int64_t now = now_us(w);
	json_t *j;

	memset(&r, 0, sizeof(r));
	memset(&ln, 0, sizeof(ln));
	if ((rc = store_begin(w->st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		return rc;
	}
	if ((rc = load_req(w, id, &r, NULL, NULL, msg)) != 0)
		goto tx;
	(void)store_isession_line_of(w->st, id, &ln);
	if (wf_state_parse(r.state) != WF_RUNNING || strcmp(r.requester, actor) != 0) {
		buf_printf(msg, "request %" PRId64 " is %s, not a running line of %s", id, r.state,
		           actor);
		rc = WF_ECONFLICT;
		goto tx;
	}
	final = lr->exit_code == 0 && !lr->timed_out && !lr->interrupted && !lr->killed
	            ? WF_SUCCEEDED : WF_FAILED;
	hexify(lr->sha256, STORE_HASH_LEN, hex);
	if ((rc = set_state(&r, final, now)) || (rc = store_strset(&r.output_sha256, hex)))
		goto tx;
	r.finished_us = now;
	r.has_exit = 1;
	r.exit_code = lr->exit_code;
	free(r.output);
	r.output = NULL;
	r.output_len = 0;
	if (lr->output_len) {
		size_t keep = lr->output_len < STORE_OUTPUT_MAX ? lr->output_len : STORE_OUTPUT_MAX;

		if ((r.output = malloc(keep + 1)) == NULL) {
			rc = ESC_ENOMEM;
			goto tx;
		}
		memcpy(r.output, lr->output, keep);
		r.output[keep] = 0;
		r.output_len = keep;
	}
	j = json_pack("{s:I, s:I, s:b, s:b, s:b, s:b, s:I, s:I, s:s}", "session",
	              (json_int_t)ln.session_id, "line", (json_int_t)ln.seq, "timed_out",
	              lr->timed_out, "interrupted", lr->interrupted, "killed", lr->killed,
	              "truncated", lr->output_total > STORE_OUTPUT_MAX, "output_bytes",
	              (json_int_t)lr->output_total, "duration_ms", (json_int_t)lr->ms, "transport",
	              "session-shell");
	free(r.result);
	r.result = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if ((rc = store_request_update(w->st, &r)) != 0) {
		buf_printf(msg, "store: %s", store_error(w->st));
		goto tx;
	}
	rc = wf_audit(w, "execution.end", actor,
	              json_pack("{s:I, s:I, s:I, s:s, s:i, s:s, s:I, s:b, s:b, s:b, s:I}",
	                        "request", (json_int_t)id, "session", (json_int_t)ln.session_id,
	                        "line", (json_int_t)ln.seq, "state", wf_state_name(final), "exit",
	                        lr->exit_code, "output_sha256", hex, "output_bytes",
	                        (json_int_t)lr->output_total, "timed_out", lr->timed_out,
	                        "interrupted", lr->interrupted, "killed", lr->killed,
	                        "duration_ms", (json_int_t)lr->ms),
	              msg);
	if (rc == 0 && state)
		*state = final;
tx:
	rc = finish_tx(w, rc, msg);
	store_request_clear(&r);
	return rc;
}

int
wf_isession_recorded_hash(wf *w, int64_t id, char *hex, size_t hexlen, buf *msg)
{
	audit_iter it;
	audit_event ev;
	const uint8_t *rec;
	size_t len;
	uint64_t seq;
	char err[1024] = "", type[AUDIT_TYPE_MAX + 1];
	int rc, found = 0;

	if (hexlen)
		hex[0] = 0;
	if ((rc = audit_iter_open(&it, w->datadir, err, sizeof(err))) != 0) {
		buf_printf(msg, "audit log: %s", err);
		return rc;
	}
	while ((rc = audit_iter_next(&it, &rec, &len, &seq)) == 0) {
		json_t *v;

		if (audit_event_peek(rec, len, &seq, type) != 0 || strcmp(type, "session.end") != 0)
			continue;
		if (audit_event_parse(rec, len, &ev, NULL, 0) != 0)
			continue;
		v = json_object_get(ev.details, "session");
		if (json_is_integer(v) && json_integer_value(v) == id &&
		    json_is_string(json_object_get(ev.details, "recording_sha256"))) {
			snprintf(hex, hexlen, "%s",
			         json_string_value(json_object_get(ev.details, "recording_sha256")));
			found = 1;
		}
		audit_event_free(&ev);
	}
	if (rc < 0)
		buf_printf(msg, "audit log: %s", it.err);
	audit_iter_close(&it);
	if (rc < 0)
		return rc;
	if (!found) {
		buf_printf(msg, "the audit log has no session.end record for session %" PRId64
		           " (still open, or ended without its recording hash)", id);
		return WF_ENOTFOUND;
	}
	return 0;
}

const char *
wf_datadir(const wf *w)
{
	return w->datadir;
}

int
wf_isession_state_valid(const char *s)
{
	return isession_state_ok(s);
}

/* broker_priv.c — the broker behind a typed request table (broker_priv.h): client stubs
 * that forward broker_run from the unprivileged HTTP worker, and the broker process's
 * state machine and serve loop, which checks every field before anything runs. */
#include "broker/broker_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "util/err.h"
#include "util/pmsg.h"

#define CHUNK ((size_t)32 * 1024)
#define NSTR 7
/* the broker enforces the time limit; the client waits this much longer before it gives
 * the channel up */
#define BACKSTOP_MS 60000

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- the wire form of a target and limits ---- */

static int
put_target(buf *m, const broker_target *t)
{
	int rc;

	if ((rc = pmsg_put_str(m, t->name)) || (rc = pmsg_put_u8(m, (uint8_t)t->transport)) ||
	    (rc = pmsg_put_str(m, t->workdir)) || (rc = pmsg_put_str(m, t->run_as)) ||
	    (rc = pmsg_put_str(m, t->host)) || (rc = pmsg_put_u32(m, t->port)) ||
	    (rc = pmsg_put_str(m, t->user)) || (rc = pmsg_put_str(m, t->host_key)) ||
	    (rc = pmsg_put_str(m, t->key_file)) || (rc = pmsg_put_u32(m, t->keepalive_sec)) ||
	    (rc = pmsg_put_u32(m, t->connect_timeout_sec)))
		return rc;
	return 0;
}

static int
put_limits(buf *m, const broker_limits *lim)
{
	broker_limits z;
	uint32_t n = 0;
	int rc;

	if (lim == NULL) {
		memset(&z, 0, sizeof(z));
		lim = &z;
	}
	while (lim->env && lim->env[n])
		n++;
	if ((rc = pmsg_put_u32(m, lim->timeout_ms)) || (rc = pmsg_put_u64(m, lim->cpu_sec)) ||
	    (rc = pmsg_put_u64(m, lim->as_bytes)) || (rc = pmsg_put_u64(m, lim->fsize_bytes)) ||
	    (rc = pmsg_put_u64(m, lim->nproc)) || (rc = pmsg_put_u32(m, n)))
		return rc;
	for (uint32_t i = 0; i < n; i++)
		if ((rc = pmsg_put_str(m, lim->env[i])) != 0)
			return rc;
	return 0;
}

/* ---- client side ---- */

static pmsg_client cl = PMSG_CLIENT_INIT;

int
broker_priv_client_attach(int fd)
{
	if (cl.attached || fd < 0)
		return ESC_EINVAL;
	cl.fd = fd;
	cl.attached = 1;
	return 0;
}

int
broker_priv_active(void)
{
	return cl.attached;
}

int
broker_priv_failed(void)
{
	return pmsg_client_failed(&cl);
}

static void
unavailable(buf *msg, const broker_target *t)
{
	buf_printf(msg, "target %s: the broker process is unavailable (privilege separation); "
	           "nothing more runs until escort serve is restarted", t->name ? t->name : "?");
}

int
broker_priv_run(const broker_target *t, const unsigned char *cmd, size_t len,
                const broker_limits *lim, broker_result *res, buf *msg)
{
	buf m = BUF_INIT;
	bk_sink sink;
	pmsg_rd r;
	int sink_ok = 0, rc = ESC_EIO, wait;
	size_t off;

	buf_init(&m, PMSG_MAX);
	pthread_mutex_lock(&cl.mu);
	if (!cl.attached || cl.dead) {
		unavailable(msg, t);
		goto out;
	}
	if (len > BROKER_PRIV_CMD_MAX) {
		buf_printf(msg, "target %s: command of %zu bytes is over the broker's limit",
		           t->name ? t->name : "?", len);
		rc = ESC_ETOOBIG;
		goto out;
	}
	if ((rc = pmsg_begin(&m, BROKER_PM_RUN_BEGIN)) || (rc = put_target(&m, t)) ||
	    (rc = put_limits(&m, lim)) || (rc = pmsg_put_u64(&m, len))) {
		buf_printf(msg, "target %s: the run request does not fit a message",
		           t->name ? t->name : "?");
		goto out; /* nothing was sent: the channel is still in step */
	}
	rc = ESC_EIO;
	if (pmsg_send(cl.fd, &m) != 0)
		goto dead;
	for (off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;

		if (pmsg_begin(&m, BROKER_PM_RUN_DATA) != 0 || pmsg_put_bytes(&m, cmd + off, n) != 0 ||
		    pmsg_send(cl.fd, &m) != 0)
			goto dead;
	}
	if ((rc = bk_sink_init(&sink, res, lim)) != 0)
		goto dead; /* the reply would be left unread: the channel is out of step */
	sink_ok = 1;
	wait = (int)(bk_timeout_ms(lim) > INT32_MAX - BACKSTOP_MS ? INT32_MAX
	                                                         : bk_timeout_ms(lim) + BACKSTOP_MS);
	for (;;) {
		const uint8_t *p;
		size_t n;
		uint8_t u8;
		uint32_t u32, code;
		int64_t cms, rms;
		uint8_t to, reused;

		rc = ESC_EIO;
		if (pmsg_recv(cl.fd, &m, &r, wait) != 0)
			goto dead;
		if (r.type == BROKER_PM_OUTPUT) {
			if (pmsg_get_u8(&r, &u8) != 0 || (u8 != BROKER_STDOUT && u8 != BROKER_STDERR) ||
			    pmsg_get_bytes(&r, &p, &n, PMSG_FIELD_MAX) != 0 || pmsg_end(&r) != 0)
				goto dead;
			bk_sink_put(&sink, u8, p, n);
			continue;
		}
		if (r.type != BROKER_PM_RUN_DONE || pmsg_get_u32(&r, &u32) != 0 ||
		    pmsg_get_u32(&r, &code) != 0 || pmsg_get_u8(&r, &to) != 0 ||
		    pmsg_get_i64(&r, &cms) != 0 || pmsg_get_i64(&r, &rms) != 0 ||
		    pmsg_get_u8(&r, &reused) != 0 || pmsg_get_bytes(&r, &p, &n, 4096) != 0 ||
		    pmsg_end(&r) != 0 || code > 255 || to > 1 || reused > 1)
			goto dead;
		rc = (int32_t)u32;
		if (rc > 0 || rc < -1000)
			goto dead;
		res->exit_code = (int)code;
		res->timed_out = to;
		res->connect_ms = cms;
		res->run_ms = rms;
		res->reused = reused;
		if (n)
			buf_put(msg, p, n);
		break;
	}
	goto out;
dead:
	cl.dead = 1;
	rc = ESC_EIO;
	unavailable(msg, t);
	fprintf(stderr, "escort: the broker channel failed; runs are refused from now on\n");
out:
	if (sink_ok)
		bk_sink_finish(&sink);
	pthread_mutex_unlock(&cl.mu);
	buf_free(&m);
	return rc;
}

void
broker_priv_disconnect(const broker_target *t)
{
	buf m = BUF_INIT;

	buf_init(&m, PMSG_MAX);
	pthread_mutex_lock(&cl.mu);
	if (cl.attached && !cl.dead &&
	    (pmsg_begin(&m, BROKER_PM_DISCONNECT) != 0 || put_target(&m, t) != 0 ||
	     pmsg_send(cl.fd, &m) != 0))
		cl.dead = 1;
	pthread_mutex_unlock(&cl.mu);
	buf_free(&m);
}

/* ---- broker side ---- */

enum { PH_IDLE = 1 << 0, PH_CMD = 1 << 1 };

void
broker_priv_state_init(broker_priv_state *st, const char *datadir)
{
	memset(st, 0, sizeof(*st));
	st->datadir = datadir;
	buf_init(&st->req.cmd, BROKER_PRIV_CMD_MAX);
}

static void
req_clear(broker_priv_req *q)
{
	size_t i;

	for (i = 0; i < sizeof(q->s) / sizeof(q->s[0]); i++)
		free(q->s[i]);
	for (i = 0; i < BROKER_PRIV_ENV_MAX + 1; i++)
		free(q->env[i]);
	buf_free(&q->cmd);
	memset(q, 0, sizeof(*q));
	buf_init(&q->cmd, BROKER_PRIV_CMD_MAX);
}

void
broker_priv_state_free(broker_priv_state *st)
{
	req_clear(&st->req);
	buf_free(&st->req.cmd);
}

void
broker_priv_state_done(broker_priv_state *st)
{
	req_clear(&st->req);
	st->phase = 0;
	st->want = 0;
}

/* DATADIR/keys/NAME with one plain component, or nothing. */
static int
key_ok(const broker_priv_state *st, const char *key)
{
	size_t dl;
	const char *name;

	if (key == NULL)
		return 1;
	if (st->datadir == NULL)
		return 0;
	dl = strlen(st->datadir);
	if (strncmp(key, st->datadir, dl) != 0 || strncmp(key + dl, "/keys/", 6) != 0)
		return 0;
	name = key + dl + 6;
	return *name && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* "ESCORT_NAME=value": the only environment a worker may add. */
static int
env_ok(const char *e)
{
	const char *p;

	if (strncmp(e, "ESCORT_", 7) != 0)
		return 0;
	for (p = e + 7; *p && *p != '='; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return *p == '=' && p > e + 7;
}

static int
get_target(broker_priv_state *st, pmsg_rd *r, char *why, size_t whylen)
{
	broker_priv_req *q = &st->req;
	broker_target *t = &q->t;
	uint8_t tr;
	uint32_t port, ka, ct;

	memset(t, 0, sizeof(*t));
	if (pmsg_get_str(r, &q->s[0], BROKER_PRIV_STR_MAX) || pmsg_get_u8(r, &tr) ||
	    pmsg_get_str(r, &q->s[1], BROKER_PRIV_STR_MAX) ||
	    pmsg_get_str(r, &q->s[2], BROKER_PRIV_STR_MAX) ||
	    pmsg_get_str(r, &q->s[3], BROKER_PRIV_STR_MAX) || pmsg_get_u32(r, &port) ||
	    pmsg_get_str(r, &q->s[4], BROKER_PRIV_STR_MAX) ||
	    pmsg_get_str(r, &q->s[5], BROKER_PRIV_STR_MAX) ||
	    pmsg_get_str(r, &q->s[6], BROKER_PRIV_STR_MAX) || pmsg_get_u32(r, &ka) ||
	    pmsg_get_u32(r, &ct)) {
		seterr(why, whylen, "malformed target");
		return ESC_EPARSE;
	}
	if (tr != BROKER_LOCAL && tr != BROKER_SSH) {
		seterr(why, whylen, "unknown transport %u", tr);
		return ESC_EPARSE;
	}
	if (port > 65535 || ka > 86400 || ct > 3600) {
		seterr(why, whylen, "port, keepalive or connect time-out out of range");
		return ESC_EPARSE;
	}
	if (!key_ok(st, q->s[6])) {
		seterr(why, whylen, "key file outside the data directory's keys/");
		return ESC_EPARSE;
	}
	t->name = q->s[0];
	t->transport = tr;
	t->workdir = q->s[1];
	t->run_as = q->s[2];
	t->host = q->s[3];
	t->port = port;
	t->user = q->s[4];
	t->host_key = q->s[5];
	t->key_file = q->s[6];
	t->keepalive_sec = ka;
	t->connect_timeout_sec = ct;
	return 0;
}

/* n "ESCORT_NAME=value" strings into q->env and q->lim.env. */
static int
get_env(broker_priv_req *q, pmsg_rd *r, uint32_t n, char *why, size_t whylen)
{
	uint32_t i;

	if (n > BROKER_PRIV_ENV_MAX) {
		seterr(why, whylen, "%u environment entries (at most %d)", n, BROKER_PRIV_ENV_MAX);
		return ESC_EPARSE;
	}
	for (i = 0; i < n; i++)
		if (pmsg_get_str(r, &q->env[i], BROKER_PRIV_STR_MAX) || q->env[i] == NULL ||
		    !env_ok(q->env[i])) {
			seterr(why, whylen, "environment entry %u refused (only ESCORT_NAME=value)", i);
			return ESC_EPARSE;
		}
	q->lim.env = n ? (const char *const *)q->env : NULL;
	return 0;
}

static int
f_begin(broker_priv_state *st, pmsg_rd *r, char *why, size_t whylen)
{
	broker_priv_req *q = &st->req;
	uint32_t n;
	int rc;

	if ((rc = get_target(st, r, why, whylen)) != 0)
		return rc;
	if (pmsg_get_u32(r, &q->lim.timeout_ms) || pmsg_get_u64(r, &q->lim.cpu_sec) ||
	    pmsg_get_u64(r, &q->lim.as_bytes) || pmsg_get_u64(r, &q->lim.fsize_bytes) ||
	    pmsg_get_u64(r, &q->lim.nproc) || pmsg_get_u32(r, &n)) {
		seterr(why, whylen, "malformed limits");
		return ESC_EPARSE;
	}
	if ((rc = get_env(q, r, n, why, whylen)) != 0)
		return rc;
	q->lim.out_max = 1; /* the client keeps what it wants; we only stream */
	if (pmsg_get_u64(r, &st->want) || pmsg_end(r)) {
		seterr(why, whylen, "malformed run request");
		return ESC_EPARSE;
	}
	if (st->want > BROKER_PRIV_CMD_MAX) {
		seterr(why, whylen, "command of %llu bytes (at most %zu)",
		       (unsigned long long)st->want, BROKER_PRIV_CMD_MAX);
		return ESC_EPARSE;
	}
	q->type = BROKER_PM_RUN_BEGIN;
	if (st->want == 0)
		return 1;
	st->phase = 1;
	return 0;
}

static int
f_data(broker_priv_state *st, pmsg_rd *r, char *why, size_t whylen)
{
	const uint8_t *p;
	size_t n;

	if (pmsg_get_bytes(r, &p, &n, PMSG_FIELD_MAX) || pmsg_end(r) || n == 0) {
		seterr(why, whylen, "malformed command piece");
		return ESC_EPARSE;
	}
	if (n > st->want - st->req.cmd.len) {
		seterr(why, whylen, "more command bytes than announced");
		return ESC_EPARSE;
	}
	if (buf_put(&st->req.cmd, p, n) != 0) {
		seterr(why, whylen, "out of memory");
		return ESC_EPARSE;
	}
	return st->req.cmd.len == st->want ? 1 : 0;
}

static int
f_disconnect(broker_priv_state *st, pmsg_rd *r, char *why, size_t whylen)
{
	int rc;

	if ((rc = get_target(st, r, why, whylen)) != 0)
		return rc;
	if (pmsg_end(r) != 0) {
		seterr(why, whylen, "malformed disconnect request");
		return ESC_EPARSE;
	}
	st->req.type = BROKER_PM_DISCONNECT;
	return 1;
}

/* The request table: type, phases it is allowed in, handler. */
static const struct {
	int type;
	int phases;
	int (*fn)(broker_priv_state *, pmsg_rd *, char *, size_t);
} table[] = {
	{ BROKER_PM_RUN_BEGIN, PH_IDLE, f_begin },
	{ BROKER_PM_RUN_DATA, PH_CMD, f_data },
	{ BROKER_PM_DISCONNECT, PH_IDLE, f_disconnect },
};

int
broker_priv_feed(broker_priv_state *st, const void *msg, size_t len, char *why, size_t whylen)
{
	pmsg_rd r;
	size_t i;
	int ph = st->phase == 0 ? PH_IDLE : PH_CMD, rc;

	if (pmsg_open(&r, msg, len) != 0) {
		seterr(why, whylen, "malformed message (%zu bytes)", len);
		return ESC_EPARSE;
	}
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].type != r.type)
			continue;
		if (!(table[i].phases & ph)) {
			seterr(why, whylen, "request type %d out of phase", r.type);
			return ESC_EPARSE;
		}
		if (ph == PH_IDLE)
			req_clear(&st->req);
		rc = table[i].fn(st, &r, why, whylen);
		return rc < 0 ? ESC_EPARSE : rc;
	}
	seterr(why, whylen, "unknown request type %d", r.type);
	return ESC_EPARSE;
}

/* ---- sessions' shells: the control channel and each shell's channel ---- */

static int
c_open(broker_priv_state *st, pmsg_rd *r, char *why, size_t whylen)
{
	uint32_t n;
	int rc;

	if ((rc = get_target(st, r, why, whylen)) != 0)
		return rc;
	if (pmsg_get_u32(r, &n) != 0) {
		seterr(why, whylen, "malformed shell request");
		return ESC_EPARSE;
	}
	if ((rc = get_env(&st->req, r, n, why, whylen)) != 0)
		return rc;
	if (pmsg_end(r) != 0) {
		seterr(why, whylen, "malformed shell request");
		return ESC_EPARSE;
	}
	st->req.type = BROKER_PM_SHELL_OPEN;
	return 1;
}

static int
c_kill_pid(broker_priv_state *st, pmsg_rd *r, char *why, size_t whylen)
{
	if (pmsg_get_i64(r, &st->req.pid) || pmsg_get_i64(r, &st->req.start) || pmsg_end(r) ||
	    st->req.pid <= 1 || st->req.start < 0) {
		seterr(why, whylen, "malformed kill request");
		return ESC_EPARSE;
	}
	st->req.type = BROKER_PM_SHELL_KILL_PID;
	return 1;
}

int
broker_priv_ctl_feed(broker_priv_state *st, const void *msg, size_t len, char *why,
                     size_t whylen)
{
	pmsg_rd r;

	if (pmsg_open(&r, msg, len) != 0) {
		seterr(why, whylen, "malformed message (%zu bytes)", len);
		return ESC_EPARSE;
	}
	req_clear(&st->req);
	if (r.type == BROKER_PM_SHELL_OPEN)
		return c_open(st, &r, why, whylen) < 0 ? ESC_EPARSE : 1;
	if (r.type == BROKER_PM_SHELL_KILL_PID)
		return c_kill_pid(st, &r, why, whylen) < 0 ? ESC_EPARSE : 1;
	seterr(why, whylen, "unknown shell control request type %d", r.type);
	return ESC_EPARSE;
}

void
broker_priv_shell_in_init(broker_priv_shell_in *in)
{
	memset(in, 0, sizeof(*in));
	buf_init(&in->line, BROKER_PRIV_LINE_MAX);
}

void
broker_priv_shell_in_free(broker_priv_shell_in *in)
{
	buf_free(&in->line);
}

void
broker_priv_shell_in_done(broker_priv_shell_in *in)
{
	buf_free(&in->line); /* an idle shell keeps no line buffer */
	buf_init(&in->line, BROKER_PRIV_LINE_MAX);
	in->phase = BROKER_SH_IDLE;
	in->want = 0;
	in->timeout_ms = 0;
	in->type = 0;
}

static int
s_line(broker_priv_shell_in *in, pmsg_rd *r, char *why, size_t whylen)
{
	uint32_t to;
	uint64_t n;

	if (pmsg_get_u32(r, &to) || pmsg_get_u64(r, &n) || pmsg_end(r)) {
		seterr(why, whylen, "malformed line request");
		return ESC_EPARSE;
	}
	if (n == 0 || n > BROKER_PRIV_LINE_MAX) {
		seterr(why, whylen, "a line of %llu bytes (1 to %zu)", (unsigned long long)n,
		       BROKER_PRIV_LINE_MAX);
		return ESC_EPARSE;
	}
	in->timeout_ms = to;
	in->want = n;
	buf_reset(&in->line);
	in->phase = BROKER_SH_RECV;
	return 0;
}

static int
s_data(broker_priv_shell_in *in, pmsg_rd *r, char *why, size_t whylen)
{
	const uint8_t *p;
	size_t n;

	if (pmsg_get_bytes(r, &p, &n, PMSG_FIELD_MAX) || pmsg_end(r) || n == 0) {
		seterr(why, whylen, "malformed line piece");
		return ESC_EPARSE;
	}
	if (n > in->want - in->line.len) {
		seterr(why, whylen, "more line bytes than announced");
		return ESC_EPARSE;
	}
	if (memchr(p, 0, n) != NULL) {
		seterr(why, whylen, "a NUL byte in the line");
		return ESC_EPARSE;
	}
	if (buf_put(&in->line, p, n) != 0) {
		seterr(why, whylen, "out of memory");
		return ESC_EPARSE;
	}
	if (in->line.len < in->want)
		return 0;
	in->type = BROKER_PM_SHELL_LINE;
	in->phase = BROKER_SH_RUNNING;
	return 1;
}

static int
s_signal(broker_priv_shell_in *in, pmsg_rd *r, char *why, size_t whylen)
{
	uint8_t sig;

	if (pmsg_get_u8(r, &sig) || pmsg_end(r) || sig != 2) {
		seterr(why, whylen, "malformed signal request (only 2, SIGINT)");
		return ESC_EPARSE;
	}
	in->type = BROKER_PM_SHELL_SIGNAL;
	return 1;
}

static int
s_none(broker_priv_shell_in *in, pmsg_rd *r, char *why, size_t whylen)
{
	if (pmsg_end(r) != 0) {
		seterr(why, whylen, "malformed request type %d", r->type);
		return ESC_EPARSE;
	}
	in->type = r->type;
	return 1;
}

enum { SP_IDLE = 1 << BROKER_SH_IDLE, SP_RECV = 1 << BROKER_SH_RECV,
       SP_RUN = 1 << BROKER_SH_RUNNING };

/* A shell channel's request table: type, phases it is allowed in, handler. */
static const struct {
	int type;
	int phases;
	int (*fn)(broker_priv_shell_in *, pmsg_rd *, char *, size_t);
} shell_table[] = {
	{ BROKER_PM_SHELL_LINE, SP_IDLE, s_line },
	{ BROKER_PM_SHELL_DATA, SP_RECV, s_data },
	{ BROKER_PM_SHELL_SIGNAL, SP_IDLE | SP_RUN, s_signal },
	{ BROKER_PM_SHELL_KILL, SP_IDLE | SP_RUN, s_none },
	{ BROKER_PM_SHELL_CLOSE, SP_IDLE, s_none },
};

int
broker_priv_shell_feed(broker_priv_shell_in *in, const void *msg, size_t len, char *why,
                       size_t whylen)
{
	pmsg_rd r;
	size_t i;
	int rc;

	if (pmsg_open(&r, msg, len) != 0) {
		seterr(why, whylen, "malformed message (%zu bytes)", len);
		return ESC_EPARSE;
	}
	if (in->phase < BROKER_SH_IDLE || in->phase > BROKER_SH_RUNNING) {
		seterr(why, whylen, "bad phase");
		return ESC_EPARSE;
	}
	for (i = 0; i < sizeof(shell_table) / sizeof(shell_table[0]); i++) {
		if (shell_table[i].type != r.type)
			continue;
		if (!(shell_table[i].phases & (1 << in->phase))) {
			seterr(why, whylen, "shell request type %d out of phase", r.type);
			return ESC_EPARSE;
		}
		rc = shell_table[i].fn(in, &r, why, whylen);
		return rc < 0 ? ESC_EPARSE : rc;
	}
	seterr(why, whylen, "unknown shell request type %d", r.type);
	return ESC_EPARSE;
}

typedef struct srv_out {
	int fd;
	int failed;
	buf m;
} srv_out;

static void
stream_out(void *ctx, int stream, const unsigned char *p, size_t n)
{
	srv_out *o = ctx;

	while (n && !o->failed) {
		size_t k = n < CHUNK ? n : CHUNK;

		if (pmsg_begin(&o->m, BROKER_PM_OUTPUT) != 0 || pmsg_put_u8(&o->m, (uint8_t)stream) ||
		    pmsg_put_bytes(&o->m, p, k) != 0 || pmsg_send(o->fd, &o->m) != 0)
			o->failed = 1;
		p += k;
		n -= k;
	}
}

/* The worker owns the data directory: a key it could have written is refused. */
int
bk_key_file_trusted(const char *path, buf *msg)
{
	struct stat st;

	if (path == NULL)
		return 1;
	if (lstat(path, &st) != 0) {
		buf_printf(msg, "key %s: %s", path, strerror(errno));
		return 0;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		buf_printf(msg, "key %s is not a regular file of uid %u with mode 0600: refused",
		           path, (unsigned)geteuid());
		return 0;
	}
	return 1;
}

int
broker_priv_serve(int fd, const char *datadir)
{
	broker_priv_state st;
	broker *b = NULL;
	srv_out o;
	buf in = BUF_INIT, msg = BUF_INIT;
	pmsg_rd r;
	char why[256];
	int rc;

	broker_priv_state_init(&st, datadir);
	memset(&o, 0, sizeof(o));
	o.fd = fd;
	buf_init(&o.m, PMSG_MAX);
	if ((rc = broker_new(&b)) != 0)
		goto out;
	for (;;) {
		broker_result res;
		int64_t cms, rms;

		rc = pmsg_recv(fd, &in, &r, -1);
		if (rc == ESC_ENOENT) {
			rc = 0;
			break;
		}
		if (rc == ESC_EIO) {
			fprintf(stderr, "escort-broker: channel error: %s; closing\n", strerror(errno));
			break;
		}
		rc = broker_priv_feed(&st, in.data, in.len, why, sizeof(why));
		if (rc < 0) {
			fprintf(stderr, "escort-broker: refused: %s; closing the channel\n", why);
			break;
		}
		if (rc == 0)
			continue;
		if (st.req.type == BROKER_PM_DISCONNECT) {
			broker_disconnect(b, &st.req.t);
			broker_priv_state_done(&st);
			continue;
		}
		buf_reset(&msg);
		st.req.lim.on_output = stream_out;
		st.req.lim.ctx = &o;
		if (bk_key_file_trusted(st.req.t.key_file, &msg)) {
			rc = broker_run(b, &st.req.t, st.req.cmd.data, st.req.cmd.len, &st.req.lim, &res,
			                &msg);
		} else {
			memset(&res, 0, sizeof(res));
			res.exit_code = 255;
			rc = BROKER_EAUTH;
		}
		cms = res.connect_ms;
		rms = res.run_ms;
		if (o.failed || pmsg_begin(&o.m, BROKER_PM_RUN_DONE) != 0 ||
		    pmsg_put_u32(&o.m, (uint32_t)rc) != 0 ||
		    pmsg_put_u32(&o.m, (uint32_t)(res.exit_code & 255)) != 0 ||
		    pmsg_put_u8(&o.m, res.timed_out ? 1 : 0) != 0 || pmsg_put_i64(&o.m, cms) != 0 ||
		    pmsg_put_i64(&o.m, rms) != 0 || pmsg_put_u8(&o.m, res.reused ? 1 : 0) != 0 ||
		    pmsg_put_bytes(&o.m, msg.data ? msg.data : (unsigned char *)"",
		                   msg.len < 4096 ? msg.len : 4096) != 0 ||
		    pmsg_send(fd, &o.m) != 0) {
			broker_result_free(&res);
			fprintf(stderr, "escort-broker: cannot reply; closing\n");
			rc = ESC_EIO;
			break;
		}
		broker_result_free(&res);
		broker_priv_state_done(&st);
	}
out:
	broker_free(b);
	broker_priv_state_free(&st);
	buf_free(&in);
	buf_free(&msg);
	buf_free(&o.m);
	return rc;
}

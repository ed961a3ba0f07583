/* broker_pshell.c — sessions' shells held by the broker process (privilege separation):
 * the worker's stubs behind wf_shell_*, and the broker's table of shells, served by one
 * thread that watches the control channel and every idle shell's channel, plus one
 * thread per running line. Requests are checked by broker_priv_ctl_feed and
 * broker_priv_shell_feed (broker_priv.c) before anything acts on them. */
#include "broker/broker_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "util/err.h"
#include "util/pmsg.h"

#define CHUNK ((size_t)32 * 1024)
#define OPEN_WAIT_MS 60000  /* an ssh connection and the shell's start, with room to spare */
#define BACKSTOP_MS 60000   /* past a line's time limit: the channel is given up */
#define POLL_MS 50
#define STOP_WAIT_MS 2000

static int
put_msg(buf *m, const buf *msg)
{
	size_t n = msg->len < 4096 ? msg->len : 4096;

	return pmsg_put_bytes(m, msg->data ? msg->data : (const unsigned char *)"", n);
}

/* ======================= the worker's side ======================= */

static pmsg_client ctl = PMSG_CLIENT_INIT;

struct broker_pshell {
	int fd;
	int alive;
	int64_t pid, start;
	char name[128];
};

int
broker_priv_shell_attach(int fd)
{
	if (ctl.attached || fd < 0)
		return ESC_EINVAL;
	ctl.fd = fd;
	ctl.attached = 1;
	return 0;
}

int
broker_priv_shell_active(void)
{
	return ctl.attached;
}

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

int
broker_priv_shell_open(broker_pshell **out, const broker_target *t, const char *const *env,
                       buf *msg)
{
	broker_pshell *ps = NULL;
	buf m = BUF_INIT;
	pmsg_rd r;
	const uint8_t *p;
	size_t n;
	uint32_t u32, ne = 0;
	int64_t pid, start;
	int rc = ESC_EIO, fd = -1;

	*out = NULL;
	buf_init(&m, PMSG_MAX);
	while (env && env[ne])
		ne++;
	pthread_mutex_lock(&ctl.mu);
	if (!ctl.attached || ctl.dead) {
		buf_printf(msg, "target %s: the broker process is unavailable (privilege "
		           "separation); no session can start until escort serve is restarted",
		           t->name ? t->name : "?");
		goto out;
	}
	if ((rc = pmsg_begin(&m, BROKER_PM_SHELL_OPEN)) || (rc = put_target(&m, t)) ||
	    (rc = pmsg_put_u32(&m, ne)))
		goto toobig;
	for (uint32_t i = 0; i < ne; i++)
		if ((rc = pmsg_put_str(&m, env[i])) != 0)
			goto toobig;
	rc = ESC_EIO;
	if (pmsg_send(ctl.fd, &m) != 0 || pmsg_recv_fd(ctl.fd, &m, &r, OPEN_WAIT_MS, &fd) != 0 ||
	    r.type != BROKER_PM_SHELL_OPENED || pmsg_get_u32(&r, &u32) ||
	    pmsg_get_i64(&r, &pid) || pmsg_get_i64(&r, &start) ||
	    pmsg_get_bytes(&r, &p, &n, 4096) || pmsg_end(&r) || (int32_t)u32 > 0 ||
	    (int32_t)u32 < -1000 || ((int32_t)u32 == 0) != (fd >= 0)) {
		ctl.dead = 1;
		buf_printf(msg, "target %s: the broker process is unavailable (privilege "
		           "separation)", t->name ? t->name : "?");
		fprintf(stderr, "escort: the broker's shell channel failed; sessions are refused "
		        "from now on\n");
		goto out;
	}
	rc = (int32_t)u32;
	if (rc != 0) {
		buf_put(msg, p, n);
		goto out;
	}
	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		rc = ESC_ENOMEM;
		goto out; /* closing fd ends that shell in the broker */
	}
	ps->fd = fd;
	fd = -1;
	ps->alive = 1;
	ps->pid = pid;
	ps->start = start;
	snprintf(ps->name, sizeof(ps->name), "%s", t->name ? t->name : "?");
	*out = ps;
	goto out;
toobig:
	buf_printf(msg, "target %s: the shell request does not fit a message",
	           t->name ? t->name : "?");
out:
	pthread_mutex_unlock(&ctl.mu);
	if (fd >= 0)
		close(fd);
	buf_free(&m);
	return rc;
}

/* The shell's channel broke: the shell is given up (closing the channel ends it). */
static void
ps_lost(broker_pshell *ps)
{
	if (ps->fd >= 0)
		close(ps->fd);
	ps->fd = -1;
	ps->alive = 0;
}

static int
ps_send_none(broker_pshell *ps, int type, int u8)
{
	buf m = BUF_INIT;
	int rc;

	buf_init(&m, 64);
	rc = pmsg_begin(&m, type);
	if (rc == 0 && u8 >= 0)
		rc = pmsg_put_u8(&m, (uint8_t)u8);
	if (rc == 0)
		rc = pmsg_send(ps->fd, &m);
	buf_free(&m);
	return rc;
}

int
broker_priv_shell_run(broker_pshell *ps, const unsigned char *line, size_t len,
                      const broker_shell_io *io, broker_shell_result *res, buf *msg)
{
	buf m = BUF_INIT;
	pmsg_rd r;
	unsigned timeout = io && io->timeout_ms ? io->timeout_ms : BROKER_TIMEOUT_DEFAULT_MS;
	int64_t deadline, last_poll = 0;
	int rc = ESC_EIO, killed_sent = 0;
	size_t off;

	memset(res, 0, sizeof(*res));
	if (ps == NULL || !ps->alive || ps->fd < 0) {
		buf_puts(msg, "the session's shell is no longer running");
		return ESC_EINVAL;
	}
	if (len == 0 || len > BROKER_PRIV_LINE_MAX || memchr(line, 0, len) != NULL) {
		buf_puts(msg, "the line is empty, too long or contains a NUL byte");
		return ESC_EINVAL;
	}
	buf_init(&m, PMSG_MAX);
	if (pmsg_begin(&m, BROKER_PM_SHELL_LINE) || pmsg_put_u32(&m, timeout) ||
	    pmsg_put_u64(&m, len) || pmsg_send(ps->fd, &m))
		goto lost;
	for (off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;

		if (pmsg_begin(&m, BROKER_PM_SHELL_DATA) || pmsg_put_bytes(&m, line + off, n) ||
		    pmsg_send(ps->fd, &m))
			goto lost;
	}
	deadline = bk_now_ms() + (int64_t)timeout + BACKSTOP_MS;
	for (;;) {
		const uint8_t *p;
		size_t n;
		uint8_t st, fl[4];
		uint32_t u32, code;
		uint64_t total;
		int64_t ms, now = bk_now_ms();
		int k;

		if (now >= deadline)
			goto lost;
		if (io && io->poll && now - last_poll >= POLL_MS) {
			int a = io->poll(io->ctx);

			last_poll = now;
			if (a == BROKER_SHELL_KILL && !killed_sent) {
				killed_sent = 1;
				if (ps_send_none(ps, BROKER_PM_SHELL_KILL, -1) != 0)
					goto lost;
			} else if (a == BROKER_SHELL_INTERRUPT && !killed_sent) {
				if (ps_send_none(ps, BROKER_PM_SHELL_SIGNAL, 2) != 0)
					goto lost;
			}
		}
		k = pmsg_recv(ps->fd, &m, &r, POLL_MS);
		if (k == ESC_EIO && errno == ETIMEDOUT)
			continue;
		if (k != 0)
			goto lost;
		if (r.type == BROKER_PM_OUTPUT) {
			if (pmsg_get_u8(&r, &st) || pmsg_get_bytes(&r, &p, &n, PMSG_FIELD_MAX) ||
			    pmsg_end(&r))
				goto lost;
			if (io && io->on_output && n)
				io->on_output(io->ctx, BROKER_STDOUT, p, n);
			continue;
		}
		if (r.type != BROKER_PM_LINE_DONE || pmsg_get_u32(&r, &u32) ||
		    pmsg_get_u32(&r, &code) || pmsg_get_u8(&r, &fl[0]) || pmsg_get_u8(&r, &fl[1]) ||
		    pmsg_get_u8(&r, &fl[2]) || pmsg_get_u8(&r, &fl[3]) || pmsg_get_u64(&r, &total) ||
		    pmsg_get_i64(&r, &ms) || pmsg_get_bytes(&r, &p, &n, 4096) || pmsg_end(&r) ||
		    code > 255 || (int32_t)u32 > 0 || (int32_t)u32 < -1000)
			goto lost;
		rc = (int32_t)u32;
		res->exit_code = (int)code;
		res->interrupted = fl[0] != 0;
		res->timed_out = fl[1] != 0;
		res->killed = fl[2] != 0;
		res->shell_exited = fl[3] != 0;
		res->total = total;
		res->ms = ms;
		if (n)
			buf_put(msg, p, n);
		if (res->killed || res->shell_exited || rc != 0)
			ps->alive = 0;
		break;
	}
	goto out;
lost:
	ps_lost(ps);
	res->killed = 1;
	res->exit_code = 255;
	rc = ESC_EIO;
	buf_puts(msg, "the broker process lost the session's shell");
out:
	buf_free(&m);
	return rc;
}

int
broker_priv_shell_alive(const broker_pshell *ps)
{
	return ps && ps->alive && ps->fd >= 0;
}

int64_t
broker_priv_shell_pid(const broker_pshell *ps)
{
	return ps ? ps->pid : 0;
}

int64_t
broker_priv_shell_start(const broker_pshell *ps)
{
	return ps ? ps->start : 0;
}

void
broker_priv_shell_kill(broker_pshell *ps)
{
	if (ps == NULL || ps->fd < 0)
		return;
	if (ps_send_none(ps, BROKER_PM_SHELL_KILL, -1) != 0)
		ps_lost(ps);
	ps->alive = 0;
}

void
broker_priv_shell_close(broker_pshell *ps)
{
	if (ps == NULL)
		return;
	if (ps->fd >= 0)
		(void)ps_send_none(ps, BROKER_PM_SHELL_CLOSE, -1);
	ps_lost(ps); /* the end of the channel ends the shell in any case */
	free(ps);
}

int
broker_priv_shell_kill_pid(int64_t pid, int64_t start, buf *msg)
{
	buf m = BUF_INIT;
	pmsg_rd r;
	const uint8_t *p;
	size_t n;
	uint32_t u32;
	int rc = ESC_EIO;

	buf_init(&m, PMSG_MAX);
	pthread_mutex_lock(&ctl.mu);
	if (!ctl.attached || ctl.dead)
		goto fail;
	if (pmsg_begin(&m, BROKER_PM_SHELL_KILL_PID) || pmsg_put_i64(&m, pid) ||
	    pmsg_put_i64(&m, start) || pmsg_send(ctl.fd, &m) ||
	    pmsg_recv(ctl.fd, &m, &r, OPEN_WAIT_MS) != 0 || r.type != BROKER_PM_SHELL_KILLED ||
	    pmsg_get_u32(&r, &u32) || pmsg_get_bytes(&r, &p, &n, 4096) || pmsg_end(&r) ||
	    ((int32_t)u32 != 0 && (int32_t)u32 != ESC_ENOENT)) {
		ctl.dead = 1;
		goto fail;
	}
	rc = (int32_t)u32;
	if (n && msg)
		buf_put(msg, p, n);
	goto out;
fail:
	if (msg)
		buf_puts(msg, "the broker process is unavailable (privilege separation)");
out:
	pthread_mutex_unlock(&ctl.mu);
	buf_free(&m);
	return rc;
}

/* ======================= the broker's side ======================= */

typedef struct pshell {
	broker_shell *sh;
	int fd;      /* the shell's channel */
	int running; /* a line thread owns sh, fd and in */
	int kill_now; /* the kill switch arrived elsewhere (control channel, stop) */
	int drop;    /* its channel is over: remove it once the line thread is done */
	int out_failed;
	int64_t pid, start;
	broker_priv_shell_in in;
	buf om; /* the line thread's outgoing messages */
} pshell;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pshell **v;
	size_t n, cap;
	int ctl;
	int wake[2];
	pthread_t th;
	int on;
	int stop;
	size_t lines; /* line threads */
	const char *datadir;
} SV = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, -1, { -1, -1 }, 0, 0,
         0, 0, NULL };

static void
wake_loop(void)
{
	char c = 1;

	(void)!write(SV.wake[1], &c, 1);
}

/* With SV.mu held, not running. */
static void
ps_remove(pshell *p)
{
	size_t i;

	for (i = 0; i < SV.n; i++)
		if (SV.v[i] == p) {
			SV.v[i] = SV.v[--SV.n];
			break;
		}
	broker_shell_close(p->sh);
	if (p->fd >= 0)
		close(p->fd);
	broker_priv_shell_in_free(&p->in);
	buf_free(&p->om);
	free(p);
}

static void
line_out(void *ctx, int stream, const unsigned char *p, size_t n)
{
	pshell *ps = ctx;

	(void)stream;
	while (n && !ps->out_failed) {
		size_t k = n < CHUNK ? n : CHUNK;

		if (pmsg_begin(&ps->om, BROKER_PM_OUTPUT) || pmsg_put_u8(&ps->om, BROKER_STDOUT) ||
		    pmsg_put_bytes(&ps->om, p, k) || pmsg_send(ps->fd, &ps->om))
			ps->out_failed = 1;
		p += k;
		n -= k;
	}
}

/* Asked every 50 ms while the line runs: Ctrl-C and the kill switch from the worker
 * arrive on the shell's channel; anything else there is refused (and kills the shell). */
static int
line_poll(void *ctx)
{
	pshell *ps = ctx;
	struct pollfd pf;
	buf in = BUF_INIT;
	pmsg_rd r;
	char why[256];
	int a = BROKER_SHELL_GO, k;

	pthread_mutex_lock(&SV.mu);
	if (ps->kill_now || SV.stop)
		a = BROKER_SHELL_KILL;
	pthread_mutex_unlock(&SV.mu);
	while (a != BROKER_SHELL_KILL && !ps->drop) {
		pf.fd = ps->fd;
		pf.events = POLLIN;
		pf.revents = 0;
		if (poll(&pf, 1, 0) <= 0)
			break;
		k = pmsg_recv(ps->fd, &in, &r, 0);
		if (k == 0)
			k = broker_priv_shell_feed(&ps->in, in.data, in.len, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s", k == ESC_ENOENT ? "" : "malformed message");
		if (k < 0) {
			if (why[0])
				fprintf(stderr, "escort-broker: refused: %s; closing the shell's channel\n",
				        why);
			ps->drop = 1;
			a = BROKER_SHELL_KILL;
		} else if (k == 1 && ps->in.type == BROKER_PM_SHELL_KILL)
			a = BROKER_SHELL_KILL;
		else if (k == 1 && ps->in.type == BROKER_PM_SHELL_SIGNAL)
			a = BROKER_SHELL_INTERRUPT;
	}
	buf_free(&in);
	return a;
}

static void *
line_main(void *arg)
{
	pshell *ps = arg;
	broker_shell_io io;
	broker_shell_result res;
	buf msg = BUF_INIT;
	int rc;

	memset(&io, 0, sizeof(io));
	io.timeout_ms = ps->in.timeout_ms;
	io.on_output = line_out;
	io.poll = line_poll;
	io.ctx = ps;
	ps->out_failed = 0;
	buf_init(&ps->om, PMSG_MAX);
	rc = broker_shell_run(ps->sh, ps->in.line.data, ps->in.line.len, &io, &res, &msg);
	if (rc != 0 && res.exit_code == 0)
		res.exit_code = 255;
	if (!ps->drop &&
	    (ps->out_failed || pmsg_begin(&ps->om, BROKER_PM_LINE_DONE) ||
	     pmsg_put_u32(&ps->om, (uint32_t)rc) ||
	     pmsg_put_u32(&ps->om, (uint32_t)(res.exit_code & 255)) ||
	     pmsg_put_u8(&ps->om, res.interrupted ? 1 : 0) ||
	     pmsg_put_u8(&ps->om, res.timed_out ? 1 : 0) || pmsg_put_u8(&ps->om, res.killed ? 1 : 0) ||
	     pmsg_put_u8(&ps->om, res.shell_exited ? 1 : 0) || pmsg_put_u64(&ps->om, res.total) ||
	     pmsg_put_i64(&ps->om, res.ms) || put_msg(&ps->om, &msg) || pmsg_send(ps->fd, &ps->om)))
		ps->drop = 1;
	buf_free(&ps->om);
	buf_free(&msg);
	pthread_mutex_lock(&SV.mu);
	broker_priv_shell_in_done(&ps->in);
	/* a kill that arrived after the line's last poll (or a stop) is done now */
	if (ps->drop || ps->kill_now || SV.stop)
		broker_shell_kill(ps->sh);
	ps->kill_now = 0;
	ps->running = 0;
	SV.lines--;
	pthread_cond_broadcast(&SV.cv);
	pthread_mutex_unlock(&SV.mu);
	wake_loop();
	return NULL;
}

/* A request on an idle shell's channel (SV.mu not held; the serve thread owns ps). */
static void
shell_request(pshell *ps)
{
	buf in = BUF_INIT;
	pmsg_rd r;
	char why[256];
	int k;
	pthread_attr_t at;
	pthread_t th;

	k = pmsg_recv(ps->fd, &in, &r, 0);
	if (k == ESC_EIO && errno == ETIMEDOUT)
		goto out; /* nothing after all */
	if (k == 0)
		k = broker_priv_shell_feed(&ps->in, in.data, in.len, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", k == ESC_ENOENT ? "" : "malformed message");
	if (k < 0) {
		if (why[0])
			fprintf(stderr, "escort-broker: refused: %s; closing the shell's channel\n", why);
		ps->drop = 1;
		goto out;
	}
	if (k == 0)
		goto out;
	switch (ps->in.type) {
	case BROKER_PM_SHELL_LINE:
		pthread_mutex_lock(&SV.mu);
		ps->running = 1;
		SV.lines++;
		pthread_mutex_unlock(&SV.mu);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		k = pthread_create(&th, &at, line_main, ps);
		pthread_attr_destroy(&at);
		if (k != 0) {
			pthread_mutex_lock(&SV.mu);
			ps->running = 0;
			SV.lines--;
			pthread_mutex_unlock(&SV.mu);
			ps->drop = 1; /* the worker learns it from the closed channel */
		}
		break;
	case BROKER_PM_SHELL_KILL:
		broker_shell_kill(ps->sh);
		ps->in.type = 0;
		break;
	case BROKER_PM_SHELL_CLOSE:
		ps->drop = 1;
		ps->in.type = 0;
		break;
	default: /* a late Ctrl-C: the line ended already */
		ps->in.type = 0;
		break;
	}
out:
	buf_free(&in);
}

/* SHELL_OPEN: the shell, its channel, the answer (with the worker's end of the channel). */
static int
ctl_open(broker_priv_state *st, buf *m)
{
	broker_shell *sh = NULL;
	pshell *ps = NULL;
	buf msg = BUF_INIT;
	int sp[2] = { -1, -1 }, rc;

	pthread_mutex_lock(&SV.mu);
	rc = SV.n >= BROKER_PRIV_SHELLS_MAX ? ESC_ETOOBIG : 0;
	pthread_mutex_unlock(&SV.mu);
	if (rc) {
		buf_printf(&msg, "the broker holds as many shells as it may (%d)",
		           BROKER_PRIV_SHELLS_MAX);
		goto reply;
	}
	if (!bk_key_file_trusted(st->req.t.key_file, &msg)) {
		rc = BROKER_EAUTH;
		goto reply;
	}
	if ((rc = broker_shell_open(&sh, &st->req.t, st->req.lim.env, &msg)) != 0)
		goto reply;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0 ||
	    (ps = calloc(1, sizeof(*ps))) == NULL) {
		buf_printf(&msg, "target %s: cannot make the shell's channel",
		           st->req.t.name ? st->req.t.name : "?");
		rc = ESC_EIO;
		goto reply;
	}
	ps->sh = sh;
	ps->fd = sp[0];
	ps->pid = broker_shell_pid(sh);
	ps->start = broker_shell_start(sh);
	broker_priv_shell_in_init(&ps->in);
	buf_init(&ps->om, PMSG_MAX);
	pthread_mutex_lock(&SV.mu);
	if (SV.n == SV.cap) {
		size_t nc = SV.cap ? SV.cap * 2 : 64;
		pshell **nv = realloc(SV.v, nc * sizeof(*nv));

		if (nv == NULL) {
			pthread_mutex_unlock(&SV.mu);
			broker_priv_shell_in_free(&ps->in);
			free(ps);
			ps = NULL;
			rc = ESC_ENOMEM;
			buf_puts(&msg, "out of memory");
			goto reply;
		}
		SV.v = nv;
		SV.cap = nc;
	}
	SV.v[SV.n++] = ps;
	pthread_mutex_unlock(&SV.mu);
	sp[0] = -1;
	sh = NULL;
reply:
	if (pmsg_begin(m, BROKER_PM_SHELL_OPENED) || pmsg_put_u32(m, (uint32_t)rc) ||
	    pmsg_put_i64(m, rc == 0 ? ps->pid : 0) || pmsg_put_i64(m, rc == 0 ? ps->start : 0) ||
	    put_msg(m, &msg) || pmsg_send_fd(SV.ctl, m, rc == 0 ? sp[1] : -1)) {
		rc = ESC_EIO;
	} else
		rc = 0;
	broker_shell_close(sh);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	buf_free(&msg);
	return rc;
}

static int
ctl_kill_pid(broker_priv_state *st, buf *m)
{
	size_t i;
	int rc = ESC_ENOENT;

	pthread_mutex_lock(&SV.mu);
	for (i = 0; i < SV.n; i++) {
		pshell *ps = SV.v[i];

		if (ps->pid != st->req.pid || ps->start != st->req.start)
			continue;
		if (ps->running)
			ps->kill_now = 1; /* its line thread kills it within 50 ms */
		else
			broker_shell_kill(ps->sh);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&SV.mu);
	if (pmsg_begin(m, BROKER_PM_SHELL_KILLED) || pmsg_put_u32(m, (uint32_t)rc) ||
	    pmsg_put_bytes(m, "", 0) || pmsg_send(SV.ctl, m))
		return ESC_EIO;
	return 0;
}

/* With SV.mu held: every shell killed; waits (bounded) for the lines to end. */
static void
kill_all_locked(void)
{
	struct timespec until;
	size_t i;

	for (i = 0; i < SV.n; i++) {
		SV.v[i]->kill_now = 1;
		if (!SV.v[i]->running)
			broker_shell_kill(SV.v[i]->sh);
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_WAIT_MS / 1000;
	while (SV.lines > 0 && pthread_cond_timedwait(&SV.cv, &SV.mu, &until) == 0)
		;
	for (i = SV.n; i-- > 0;) {
		pshell *p = SV.v[i];

		if (!p->running)
			ps_remove(p);
		else if (broker_shell_pid(p->sh) > 1)
			(void)kill(-(pid_t)broker_shell_pid(p->sh), SIGKILL);
	}
}

static void *
serve_main(void *arg)
{
	broker_priv_state st;
	struct pollfd *pf = NULL;
	pshell **who = NULL;
	size_t cap = 0;
	buf in = BUF_INIT, m = BUF_INIT;
	char why[256];

	(void)arg;
	broker_priv_state_init(&st, SV.datadir);
	buf_init(&m, PMSG_MAX);
	for (;;) {
		size_t n = 0, i;
		int k;

		pthread_mutex_lock(&SV.mu);
		if (SV.stop) {
			pthread_mutex_unlock(&SV.mu);
			break;
		}
		/* drop what is over and idle */
		for (i = SV.n; i-- > 0;)
			if (SV.v[i]->drop && !SV.v[i]->running)
				ps_remove(SV.v[i]);
		if (cap < SV.n + 2) {
			size_t nc = SV.n + 66;
			struct pollfd *np = realloc(pf, nc * sizeof(*np));
			pshell **nw;

			if (np)
				pf = np;
			nw = np ? realloc(who, nc * sizeof(*nw)) : NULL;
			if (nw)
				who = nw;
			if (np == NULL || nw == NULL) {
				pthread_mutex_unlock(&SV.mu);
				fprintf(stderr, "escort-broker: out of memory; ending every shell\n");
				break;
			}
			cap = nc;
		}
		pf[n].fd = SV.ctl;
		pf[n].events = POLLIN;
		who[n++] = NULL;
		pf[n].fd = SV.wake[0];
		pf[n].events = POLLIN;
		who[n++] = NULL;
		for (i = 0; i < SV.n; i++) {
			if (SV.v[i]->running)
				continue;
			pf[n].fd = SV.v[i]->fd;
			pf[n].events = POLLIN;
			who[n++] = SV.v[i];
		}
		pthread_mutex_unlock(&SV.mu);
		for (i = 0; i < n; i++)
			pf[i].revents = 0;
		k = poll(pf, n, -1);
		if (k < 0 && errno != EINTR) {
			fprintf(stderr, "escort-broker: poll: %s; ending every shell\n", strerror(errno));
			break;
		}
		if (k <= 0)
			continue;
		if (pf[1].revents) {
			char drain[64];

			(void)!read(SV.wake[0], drain, sizeof(drain));
		}
		for (i = 2; i < n; i++)
			if (pf[i].revents)
				shell_request(who[i]);
		if (pf[0].revents) {
			pmsg_rd r;

			k = pmsg_recv(SV.ctl, &in, &r, 0);
			if (k == ESC_ENOENT)
				break; /* the worker is gone */
			if (k == ESC_EIO && errno == ETIMEDOUT)
				continue;
			if (k != 0)
				snprintf(why, sizeof(why), "malformed message");
			else
				k = broker_priv_ctl_feed(&st, in.data, in.len, why, sizeof(why));
			if (k < 0) {
				fprintf(stderr, "escort-broker: refused: %s; closing the shell channel\n",
				        why);
				break;
			}
			k = st.req.type == BROKER_PM_SHELL_OPEN ? ctl_open(&st, &m) : ctl_kill_pid(&st, &m);
			if (k != 0) {
				fprintf(stderr, "escort-broker: cannot answer on the shell channel; closing\n");
				break;
			}
		}
	}
	pthread_mutex_lock(&SV.mu);
	kill_all_locked();
	SV.stop = 1;
	pthread_mutex_unlock(&SV.mu);
	close(SV.ctl);
	SV.ctl = -1;
	broker_priv_state_free(&st);
	buf_free(&in);
	buf_free(&m);
	free(pf);
	free(who);
	return NULL;
}

int
broker_priv_shells_start(int fd, const char *datadir)
{
	struct rlimit rl;

	if (SV.on || fd < 0)
		return ESC_EINVAL;
	if (pipe2(SV.wake, O_CLOEXEC | O_NONBLOCK) != 0)
		return ESC_EIO;
	/* three descriptors per shell held */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	SV.ctl = fd;
	SV.datadir = datadir;
	SV.stop = 0;
	if (pthread_create(&SV.th, NULL, serve_main, NULL) != 0) {
		close(SV.wake[0]);
		close(SV.wake[1]);
		SV.wake[0] = SV.wake[1] = -1;
		return ESC_EIO;
	}
	SV.on = 1;
	return 0;
}

void
broker_priv_shells_stop(void)
{
	if (!SV.on)
		return;
	pthread_mutex_lock(&SV.mu);
	SV.stop = 1;
	pthread_mutex_unlock(&SV.mu);
	wake_loop();
	pthread_join(SV.th, NULL);
	SV.on = 0;
	pthread_mutex_lock(&SV.mu);
	kill_all_locked();
	pthread_mutex_unlock(&SV.mu);
	free(SV.v);
	SV.v = NULL;
	SV.n = SV.cap = 0;
	close(SV.wake[0]);
	close(SV.wake[1]);
	SV.wake[0] = SV.wake[1] = -1;
}

/* shell.c — the persistent shell of an interactive session (local transport): one
 * interactive bash per session in its own session and process group, fed one approved
 * line at a time; a fresh random marker after each line tells where its output ends and
 * its exit status; Ctrl-C, a time limit per line, and a kill switch that takes the shell
 * and everything it started. */
#include "broker/broker_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/err.h"

#define SH_ENV_MAX 32
#define SH_START_MS 5000  /* the shell must answer its first marker within this */
#define SH_INT_WAIT_MS 1000 /* after an interrupt: how long before what is left is killed */
#define SH_KILL_WAIT_MS 1000 /* after killing a line's processes: how long for the marker */

struct broker_shell {
	int transport; /* BROKER_LOCAL, BROKER_SSH */
	pid_t pid;     /* local: the shell; ssh: its process group on the target */
	int64_t start;
	int in_fd;  /* local: the shell's command input */
	int out_fd; /* local: its stdout and stderr */
	ssh_session ss; /* ssh: the connection and the shell's channel */
	ssh_channel ch;
	int alive;
	char name[128];
};

static int sh_quick(broker_shell *sh, const char *cmd);

/* ---- /proc ---- */

/* pgrp, session and start time (ticks) of pid from /proc/PID/stat. */
static int
proc_stat(pid_t pid, long *pgrp, long *sid, int64_t *start)
{
	char path[64], b[1024], *p;
	int fd, i;
	ssize_t n;
	long long v[20];

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return ESC_ENOENT;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return ESC_ENOENT;
	b[n] = 0;
	/* the command name may hold spaces and parentheses: fields start after the last ')' */
	if ((p = strrchr(b, ')')) == NULL)
		return ESC_EPARSE;
	p++;
	/* fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itrealvalue starttime */
	while (*p == ' ')
		p++;
	if (*p == 0)
		return ESC_EPARSE;
	p++; /* state */
	for (i = 0; i < 19; i++) {
		char *end;

		v[i] = strtoll(p, &end, 10);
		if (end == p)
			return ESC_EPARSE;
		p = end;
	}
	if (pgrp)
		*pgrp = (long)v[1];
	if (sid)
		*sid = (long)v[2];
	if (start)
		*start = (int64_t)v[18];
	return 0;
}

int
broker_proc_start(int64_t pid, int64_t *start)
{
	if (pid <= 0)
		return ESC_EINVAL;
	return proc_stat((pid_t)pid, NULL, NULL, start);
}

/* SIGKILLs every process whose session or process group is id, except `spare` (0: none).
 * Returns how many were signalled. */
static int
sweep(pid_t id, pid_t spare)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long pgrp, sid;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long p = strtol(e->d_name, &end, 10);

		if (*end || p <= 1 || p == spare || p == (long)getpid())
			continue;
		if (proc_stat((pid_t)p, &pgrp, &sid, NULL) != 0)
			continue;
		if (pgrp == id || sid == id) {
			if (kill((pid_t)p, SIGKILL) == 0)
				n++;
		}
	}
	closedir(d);
	return n;
}

int
broker_shell_kill_pid(int64_t pid, int64_t start, buf *msg)
{
	int64_t now_start;

	if (pid <= 1)
		return ESC_EINVAL;
	if (broker_proc_start(pid, &now_start) != 0)
		return 0; /* gone already */
	if (start && now_start != start)
		return 0; /* the pid was reused: that process is not ours */
	if (kill(-(pid_t)pid, SIGKILL) != 0 && errno == EPERM) {
		if (msg)
			buf_printf(msg, "cannot kill the session's shell (pid %" PRId64 "): %s", pid,
			           strerror(errno));
		return ESC_EIO;
	}
	(void)sweep((pid_t)pid, 0);
	return 0;
}

/* ---- starting ---- */

static void __attribute__((noreturn))
child(const char *workdir, char **env, int in_fd, int out_fd)
{
	char *argv[] = { "bash", "--noprofile", "--norc", "--noediting", "-i", NULL };
	struct rlimit core = { 0, 0 };
	sigset_t none;

	(void)setsid(); /* its own session and process group: pid = pgid = sid */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
		_exit(126);
	(void)setrlimit(RLIMIT_CORE, &core);
	if (chdir(workdir) != 0) {
		dprintf(2, "escort: cannot enter the working directory %s: %s\n", workdir,
		        strerror(errno));
		_exit(126);
	}
	(void)close_range(3, ~0U, 0);
	execve("/bin/bash", argv, env);
	dprintf(2, "escort: cannot execute /bin/bash: %s\n", strerror(errno));
	_exit(127);
}

static int
write_all(int fd, const void *p, size_t n)
{
	const unsigned char *q = p;
	ssize_t k;

	while (n) {
		k = write(fd, q, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return ESC_EIO;
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

static void
discard(void *ctx, const unsigned char *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
}

/* ---- ssh: the shell is `bash -i` on an exec channel of a connection made by
 * bk_ssh_connect (ssh.c: the broker's trust rules); signals go through a second channel
 * to the process group sshd made for it ---- */

static const char *
sh_tname(const broker_target *t)
{
	return t->name ? t->name : "?";
}

/* Up to cap bytes of the shell's stdout or stderr: >0, 0 after timeout_ms, -1 at the end. */
static ssize_t
ssh_read(broker_shell *sh, unsigned char *b, size_t cap, int timeout_ms)
{
	int n, k;

	for (k = 0; k < 2; k++) {
		n = ssh_channel_read_nonblocking(sh->ch, b, (uint32_t)cap, 0);
		if (n > 0)
			return n;
		if (n == SSH_ERROR)
			return -1;
		n = ssh_channel_read_nonblocking(sh->ch, b, (uint32_t)cap, 1);
		if (n > 0)
			return n;
		if (n == SSH_ERROR)
			return -1;
		if (ssh_channel_is_eof(sh->ch) || ssh_channel_is_closed(sh->ch))
			return -1;
		if (k == 0 && ssh_channel_poll_timeout(sh->ch, timeout_ms, 0) == SSH_ERROR)
			return -1;
	}
	return 0;
}

/* Runs a short command on the target through a second channel and waits (3 s at most). */
static int
sh_quick(broker_shell *sh, const char *cmd)
{
	ssh_channel c;
	char b[256];
	int64_t end = bk_now_ms() + 3000;
	int rc = ESC_EIO;

	if (sh->ss == NULL || (c = ssh_channel_new(sh->ss)) == NULL)
		return ESC_EIO;
	if (ssh_channel_open_session(c) == SSH_OK && ssh_channel_request_exec(c, cmd) == SSH_OK) {
		ssh_channel_send_eof(c);
		while (!ssh_channel_is_eof(c) && !ssh_channel_is_closed(c) && bk_now_ms() < end) {
			if (ssh_channel_poll_timeout(c, 50, 0) == SSH_ERROR)
				break;
			(void)ssh_channel_read_nonblocking(c, b, sizeof(b), 0);
			(void)ssh_channel_read_nonblocking(c, b, sizeof(b), 1);
		}
		rc = 0;
		ssh_channel_close(c);
	}
	ssh_channel_free(c);
	return rc;
}

static int
sh_write(broker_shell *sh, const void *p, size_t n)
{
	const unsigned char *q = p;
	int k;

	if (sh->transport != BROKER_SSH)
		return write_all(sh->in_fd, p, n);
	while (n) {
		k = ssh_channel_write(sh->ch, q, n > 65536 ? 65536 : (uint32_t)n);
		if (k == SSH_ERROR || k <= 0)
			return ESC_EIO;
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

/* SIGINT to the shell's process group; SIGKILL to what the shell's session holds
 * besides the shell (spare) or everything. */
static void
sh_signal(broker_shell *sh, int sig)
{
	char cmd[128];

	if (sh->transport != BROKER_SSH) {
		(void)kill(-sh->pid, sig);
		return;
	}
	snprintf(cmd, sizeof(cmd), "kill -%s -- -%ld 2>/dev/null; true", sig == SIGINT ? "INT" : "KILL",
	         (long)sh->pid);
	(void)sh_quick(sh, cmd);
}

static void
sh_sweep(broker_shell *sh, int spare_shell)
{
	char cmd[256];

	if (sh->transport != BROKER_SSH) {
		(void)sweep(sh->pid, spare_shell ? sh->pid : 0);
		return;
	}
	snprintf(cmd, sizeof(cmd), "for p in $(ps -o pid= -s %ld); do [ \"$p\" = %ld ]%s || "
	         "kill -KILL \"$p\"; done 2>/dev/null; true", (long)sh->pid, (long)sh->pid,
	         spare_shell ? "" : " && false");
	(void)sh_quick(sh, cmd);
}

/* Reads output into the frame until `want` marker tag has been seen, the deadline passes
 * (0), or the output closes (-1). */
static int
wait_marker(broker_shell *sh, broker_frame *f, int want, int64_t deadline,
            broker_frame_out out, void *ctx, const broker_shell_io *io, int *action,
            uint64_t *total)
{
	unsigned char chunk[65536];
	struct pollfd pf;
	ssize_t k;
	int64_t now;

	for (;;) {
		if ((want == 'e' && f->seen_end) || (want == 'i' && f->seen_probe))
			return 1;
		now = bk_now_ms();
		if (now >= deadline)
			return 0;
		if (io && io->poll && action) {
			int a = io->poll(io->ctx);

			/* while the interrupt's probe is awaited, only the kill switch counts */
			if (a == BROKER_SHELL_KILL || (a == BROKER_SHELL_INTERRUPT && want == 'e')) {
				*action = a;
				return 0;
			}
		}
		if (sh->transport == BROKER_SSH) {
			k = ssh_read(sh, chunk, sizeof(chunk),
			             deadline - now < 50 ? (int)(deadline - now) : 50);
			if (k == 0)
				continue;
		} else {
			pf.fd = sh->out_fd;
			pf.events = POLLIN;
			pf.revents = 0;
			if (poll(&pf, 1, deadline - now < 50 ? (int)(deadline - now) : 50) < 0 &&
			    errno != EINTR)
				return -1;
			if (!(pf.revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			k = read(sh->out_fd, chunk, sizeof(chunk));
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
		}
		if (k <= 0) {
			broker_frame_flush(f, out, ctx);
			return -1;
		}
		if (total)
			*total += (uint64_t)k;
		broker_frame_feed(f, chunk, (size_t)k, out, ctx);
	}
}

/* "builtin printf 'ESCORT-<hex>-<tag>:%d\n' <status>" */
static int
put_marker_cmd(buf *b, const char *hex, int tag, const char *status)
{
	return buf_printf(b, "builtin printf '" BROKER_MARK_PREFIX "%s-%c:%%d\\n' %s\n", hex, tag,
	                  status);
}

/* Makes the new shell quiet and literal (no history expansion or history, no prompts, no
 * mail) and waits for its first marker; what it said before (bash's complaints about job
 * control without a terminal) is not the operator's. */
static int
shell_init(broker_shell *sh, buf *msg)
{
	char hex[BROKER_MARK_HEX + 1];
	broker_frame f;
	buf init = BUF_INIT;
	int rc;

	broker_mark_new(hex);
	buf_puts(&init, "exec 2>&1; set +H +o history; unset HISTFILE PROMPT_COMMAND MAIL MAILCHECK "
	                "MAILPATH; PS1= PS2= PS4=\n");
	put_marker_cmd(&init, hex, 'e', "0");
	if ((rc = broker_frame_init(&f, hex)) != 0 || (rc = sh_write(sh, init.data, init.len)) != 0) {
		buf_printf(msg, "target %s: the shell did not start", sh->name);
		rc = rc ? rc : ESC_EIO;
	} else if (wait_marker(sh, &f, 'e', bk_now_ms() + SH_START_MS, discard, NULL, NULL, NULL,
	                       NULL) != 1) {
		buf_printf(msg, "target %s: the shell did not start within %d s", sh->name,
		           SH_START_MS / 1000);
		rc = ESC_EIO;
	}
	buf_free(&init);
	return rc;
}

/* ssh: the login shell reports its pid (the process group and session sshd made for it)
 * and becomes the session's bash under a scrubbed environment. */
static int
ssh_shell_open(broker_shell **out, const broker_target *t, const char *const *env, buf *msg)
{
	broker_shell *sh = calloc(1, sizeof(*sh));
	buf cmd = BUF_INIT;
	unsigned char b[256];
	size_t got = 0, i;
	int64_t end;
	int rc;
	ssize_t k;

	if (sh == NULL)
		return ESC_ENOMEM;
	sh->transport = BROKER_SSH;
	sh->in_fd = sh->out_fd = -1;
	snprintf(sh->name, sizeof(sh->name), "%s", sh_tname(t));
	if ((rc = bk_ssh_connect(t, &sh->ss, msg)) != 0)
		goto out;
	buf_puts(&cmd, "printf 'ESCORT-PGID %s\\n' \"$$\"; ");
	if (t->workdir && *t->workdir) {
		buf_puts(&cmd, "cd ");
		broker_shell_quote(&cmd, (const unsigned char *)t->workdir, strlen(t->workdir));
		buf_puts(&cmd, " || exit 126; ");
	}
	buf_puts(&cmd, "exec env -i " BK_PATH " HOME=\"$HOME\" USER=\"$USER\" LOGNAME=\"$USER\" "
	               "LANG=C.UTF-8 SHELL=/bin/bash TERM=dumb PS1= PS2= ");
	for (i = 0; env && env[i]; i++) {
		const char *e = env[i], *eq = strchr(e, '=');
		size_t n;

		/* NAME=value with a plain name only: env must not take it for an option */
		for (n = 0; eq && e + n < eq; n++)
			if (!(e[n] == '_' || (e[n] >= 'A' && e[n] <= 'Z') || (e[n] >= 'a' && e[n] <= 'z') ||
			      (n && e[n] >= '0' && e[n] <= '9')))
				break;
		if (eq == NULL || eq == e || e + n != eq)
			continue;
		broker_shell_quote(&cmd, (const unsigned char *)e, strlen(e));
		buf_putc(&cmd, ' ');
	}
	/* its start-up complaints (no job control without a terminal) go nowhere; shell_init
	 * then merges stderr into stdout, so the channel carries one stream in order */
	buf_puts(&cmd, "bash --noprofile --norc --noediting -i 2>/dev/null");
	if ((sh->ch = ssh_channel_new(sh->ss)) == NULL || ssh_channel_open_session(sh->ch) != SSH_OK ||
	    ssh_channel_request_exec(sh->ch, buf_cstr(&cmd)) != SSH_OK) {
		buf_printf(msg, "target %s: cannot start the session's shell: %s", sh->name,
		           ssh_get_error(sh->ss));
		rc = BROKER_ECONNECT;
		goto out;
	}
	sh->alive = 1;
	/* the first line of stdout is the process group */
	for (end = bk_now_ms() + SH_START_MS; got < sizeof(b) - 1 && bk_now_ms() < end;) {
		k = ssh_channel_read_timeout(sh->ch, b + got, 1, 0, 200);
		if (k < 0 || (k == 0 && ssh_channel_is_eof(sh->ch)))
			break;
		if (k == 1 && b[got++] == '\n')
			break;
	}
	b[got] = 0;
	if (sscanf((const char *)b, "ESCORT-PGID %d", &sh->pid) != 1 || sh->pid <= 1) {
		buf_printf(msg, "target %s: the session's shell did not report its process group",
		           sh->name);
		rc = ESC_EIO;
		goto out;
	}
	if ((rc = shell_init(sh, msg)) != 0)
		goto out;
	*out = sh;
	sh = NULL;
out:
	buf_free(&cmd);
	broker_shell_close(sh);
	return rc;
}

int
broker_shell_open(broker_shell **out, const broker_target *t, const char *const *env,
                  buf *msg)
{
	broker_shell *sh = NULL;
	struct passwd pw, *pres = NULL;
	char tmp[4096], home[1100], user[300], logname[300];
	char *envv[SH_ENV_MAX + 1];
	const char *workdir = t->workdir && *t->workdir ? t->workdir : "/";
	int ip[2] = { -1, -1 }, op[2] = { -1, -1 }, rc = 0;
	size_t ne = 0, i;

	*out = NULL;
	if (t->transport == BROKER_SSH)
		return ssh_shell_open(out, t, env, msg);
	if (getpwuid_r(geteuid(), &pw, tmp, sizeof(tmp), &pres) != 0 || pres == NULL) {
		buf_printf(msg, "cannot tell who uid %u is", (unsigned)geteuid());
		return ESC_EINVAL;
	}
	if (t->run_as && *t->run_as && strcmp(t->run_as, pw.pw_name) != 0) {
		buf_printf(msg, "target %s: run_as %s is set; sessions run as escort's own user (%s) "
		           "only, so refusing rather than run with other rights than the policy "
		           "says", t->name ? t->name : "?", t->run_as, pw.pw_name);
		return ESC_EINVAL;
	}
	snprintf(home, sizeof(home), "HOME=%s", pw.pw_dir ? pw.pw_dir : "/");
	snprintf(user, sizeof(user), "USER=%s", pw.pw_name);
	snprintf(logname, sizeof(logname), "LOGNAME=%s", pw.pw_name);
	envv[ne++] = BK_PATH;
	envv[ne++] = home;
	envv[ne++] = user;
	envv[ne++] = logname;
	envv[ne++] = "LANG=C.UTF-8";
	envv[ne++] = "SHELL=/bin/bash";
	envv[ne++] = "TERM=dumb";
	envv[ne++] = "PS1=";
	envv[ne++] = "PS2=";
	for (i = 0; env && env[i] && ne < SH_ENV_MAX; i++)
		envv[ne++] = (char *)env[i];
	envv[ne] = NULL;

	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return ESC_ENOMEM;
	sh->in_fd = sh->out_fd = -1;
	snprintf(sh->name, sizeof(sh->name), "%s", t->name ? t->name : "?");
	if (pipe2(ip, O_CLOEXEC) != 0 || pipe2(op, O_CLOEXEC) != 0) {
		buf_printf(msg, "target %s: pipe: %s", sh->name, strerror(errno));
		rc = ESC_EIO;
		goto out;
	}
	sh->pid = fork();
	if (sh->pid < 0) {
		buf_printf(msg, "target %s: fork: %s", sh->name, strerror(errno));
		rc = ESC_EIO;
		goto out;
	}
	if (sh->pid == 0)
		child(workdir, envv, ip[0], op[1]);
	close(ip[0]);
	close(op[1]);
	ip[0] = op[1] = -1;
	sh->in_fd = ip[1];
	sh->out_fd = op[0];
	ip[1] = op[0] = -1;
	sh->alive = 1;
	(void)broker_proc_start(sh->pid, &sh->start);
	if ((rc = shell_init(sh, msg)) != 0)
		goto out;
	*out = sh;
	sh = NULL;
out:
	for (i = 0; i < 2; i++) {
		if (ip[i] >= 0)
			close(ip[i]);
		if (op[i] >= 0)
			close(op[i]);
	}
	broker_shell_close(sh);
	return rc;
}

/* ---- running a line ---- */

static void
forward(void *ctx, const unsigned char *p, size_t n)
{
	const broker_shell_io *io = ctx;

	if (io && io->on_output && n)
		io->on_output(io->ctx, BROKER_STDOUT, p, n);
}

/* The line as one bash word: $'...' with every byte other than [A-Za-z0-9] as \xHH, so
 * nothing in it is special to the parser reading the command line around it. */
static int
ansi_c_quote(buf *b, const unsigned char *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;
	int rc = buf_puts(b, "$'");

	for (i = 0; rc == 0 && i < n; i++) {
		unsigned char c = p[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			rc = buf_putc(b, c);
		else {
			char e[4] = { '\\', 'x', hx[c >> 4], hx[c & 15] };

			rc = buf_put(b, e, 4);
		}
	}
	return rc ? rc : buf_putc(b, '\'');
}

static int
reap(broker_shell *sh, int block)
{
	int status;

	if (!sh->alive)
		return 1;
	if (sh->transport == BROKER_SSH) {
		(void)block;
		if (ssh_channel_is_eof(sh->ch) || ssh_channel_is_closed(sh->ch) ||
		    !ssh_is_connected(sh->ss)) {
			sh->alive = 0;
			return 1;
		}
		return 0;
	}
	if (waitpid(sh->pid, &status, block ? 0 : WNOHANG) == sh->pid) {
		sh->alive = 0;
		return 1;
	}
	return 0;
}

int
broker_shell_run(broker_shell *sh, const unsigned char *line, size_t len,
                 const broker_shell_io *io, broker_shell_result *res, buf *msg)
{
	char hex[BROKER_MARK_HEX + 1];
	broker_frame f;
	buf cmd = BUF_INIT;
	int64_t t0 = bk_now_ms(), deadline;
	unsigned timeout = io && io->timeout_ms ? io->timeout_ms : BROKER_TIMEOUT_DEFAULT_MS;
	int rc = 0, w, action = BROKER_SHELL_GO;

	memset(res, 0, sizeof(*res));
	if (sh == NULL || !sh->alive || reap(sh, 0)) {
		buf_puts(msg, "the session's shell is no longer running");
		return ESC_EINVAL;
	}
	if (memchr(line, 0, len) != NULL) {
		buf_puts(msg, "the line contains a NUL byte, which bash cannot receive");
		return ESC_EINVAL;
	}
	broker_mark_new(hex);
	if ((rc = broker_frame_init(&f, hex)) != 0)
		goto out;
	/* the whole command line is parsed before any of it runs, so the marker is never in
	 * anything the line can read; stdin of the line is /dev/null */
	if ((rc = buf_puts(&cmd, "{ eval ")) || (rc = ansi_c_quote(&cmd, line, len)) ||
	    (rc = buf_puts(&cmd, "; } </dev/null; ")) ||
	    (rc = put_marker_cmd(&cmd, hex, 'e', "\"$?\"")))
		goto out;
	if ((rc = sh_write(sh, cmd.data, cmd.len)) != 0) {
		buf_puts(msg, "cannot hand the line to the shell (it has exited)");
		goto out;
	}
	deadline = t0 + timeout;
	w = wait_marker(sh, &f, 'e', deadline, forward, (void *)io, io, &action, &res->total);
	if (w == 1) {
		res->exit_code = f.status_end;
		goto done;
	}
	if (w < 0)
		goto gone;
	if (action == BROKER_SHELL_KILL)
		goto kill;
	/* Ctrl-C or the time limit: SIGINT to the shell's process group (an interactive bash
	 * abandons the line and stays), then a probe for the status; what ignores it is killed */
	if (action == BROKER_SHELL_INTERRUPT)
		res->interrupted = 1;
	else
		res->timed_out = 1;
	sh_signal(sh, SIGINT);
	buf_reset(&cmd);
	if ((rc = put_marker_cmd(&cmd, hex, 'i', "\"$?\"")) != 0 ||
	    (rc = sh_write(sh, cmd.data, cmd.len)) != 0)
		goto gone;
	action = BROKER_SHELL_GO;
	w = wait_marker(sh, &f, 'i', bk_now_ms() + SH_INT_WAIT_MS, forward, (void *)io, io,
	                &action, &res->total);
	if (w == 0 && action != BROKER_SHELL_KILL) {
		/* the line ignores SIGINT: kill what it started, keep the shell if it answers */
		sh_sweep(sh, 1);
		w = wait_marker(sh, &f, 'i', bk_now_ms() + SH_KILL_WAIT_MS, forward, (void *)io, io,
		                &action, &res->total);
	}
	if (w == 1) {
		res->exit_code = res->timed_out ? BROKER_EXIT_TIMEOUT
		                 : f.seen_end ? f.status_end : f.status_probe;
		goto done;
	}
	if (w < 0)
		goto gone;
kill:
	broker_shell_kill(sh);
	res->killed = 1;
	res->exit_code = 137;
	goto done;
gone:
	/* the output closed: the line ended the shell (exit, exec) */
	(void)reap(sh, 0);
	broker_shell_kill(sh);
	res->shell_exited = 1;
	res->exit_code = f.seen_end ? f.status_end : 255;
	rc = 0;
done:
	broker_frame_flush(&f, forward, (void *)io);
	/* nothing a line started may outlive it (background jobs, nohup) */
	if (sh->alive)
		sh_sweep(sh, 1);
	res->ms = bk_now_ms() - t0;
out:
	buf_free(&cmd);
	return rc;
}

int
broker_shell_alive(const broker_shell *sh)
{
	return sh && sh->alive;
}

int64_t
broker_shell_pid(const broker_shell *sh)
{
	/* an ssh shell's process group is on another host: nothing here may signal it */
	return sh && sh->transport == BROKER_LOCAL ? sh->pid : 0;
}

int64_t
broker_shell_start(const broker_shell *sh)
{
	return sh ? sh->start : 0;
}

void
broker_shell_kill(broker_shell *sh)
{
	if (sh == NULL)
		return;
	if (sh->transport == BROKER_SSH) {
		/* the process group and whatever else its session holds, then the channel */
		if (sh->ss && sh->pid > 1 && ssh_is_connected(sh->ss))
			sh_sweep(sh, 0);
		if (sh->ch) {
			ssh_channel_close(sh->ch);
			ssh_channel_free(sh->ch);
			sh->ch = NULL;
		}
		if (sh->ss) {
			ssh_disconnect(sh->ss);
			ssh_free(sh->ss);
			sh->ss = NULL;
		}
		sh->alive = 0;
		return;
	}
	if (sh->pid <= 0)
		return;
	if (sh->alive) {
		(void)kill(-sh->pid, SIGKILL);
		(void)sweep(sh->pid, 0);
		(void)reap(sh, 1);
	}
	if (sh->in_fd >= 0)
		close(sh->in_fd);
	if (sh->out_fd >= 0)
		close(sh->out_fd);
	sh->in_fd = sh->out_fd = -1;
}

void
broker_shell_close(broker_shell *sh)
{
	if (sh == NULL)
		return;
	broker_shell_kill(sh);
	free(sh);
}

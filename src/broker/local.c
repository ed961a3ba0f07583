/* local.c — the local transport: bash --noprofile --norc -c with the exact bytes in its
 * own process group, as a configured user when escort runs as root, in the target's
 * working directory, with a scrubbed environment and resource limits; stdout and stderr
 * read separately until exit (plus a short grace for background leftovers), and the whole
 * group killed at the end or when the time limit passes. */
#include "broker/broker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

#define ENV_MAX 32
#define MAX_GROUPS 64
#define GRACE_MS 1000 /* how long background leftovers may keep the output open */

typedef struct who {
	int switch_user;
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	int ngroups;
	char home[1024];
	char name[256];
} who;

/* Everything the child needs is prepared here: after fork only async-signal-safe calls. */
static int
resolve_user(const broker_target *t, who *w, buf *msg)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];

	memset(w, 0, sizeof(*w));
	if (t->run_as && *t->run_as && geteuid() == 0) {
		if (getpwnam_r(t->run_as, &pw, tmp, sizeof(tmp), &res) != 0 || res == NULL) {
			buf_printf(msg, "target %s: run_as user %s does not exist on this host",
			           t->name ? t->name : "?", t->run_as);
			return ESC_ENOENT;
		}
		w->switch_user = 1;
		w->uid = pw.pw_uid;
		w->gid = pw.pw_gid;
		w->ngroups = MAX_GROUPS;
		if (getgrouplist(pw.pw_name, pw.pw_gid, w->groups, &w->ngroups) < 0)
			w->ngroups = 1, w->groups[0] = pw.pw_gid;
	} else if (getpwuid_r(geteuid(), &pw, tmp, sizeof(tmp), &res) != 0 || res == NULL) {
		if (t->run_as && *t->run_as) {
			buf_printf(msg, "target %s: run_as %s is set, but escort does not run as "
			           "root and cannot tell who it is (uid %u); refusing to run as "
			           "someone else", t->name ? t->name : "?", t->run_as,
			           (unsigned)geteuid());
			return ESC_EINVAL;
		}
		snprintf(w->home, sizeof(w->home), "/");
		snprintf(w->name, sizeof(w->name), "nobody");
		return 0;
	} else if (t->run_as && *t->run_as && strcmp(t->run_as, pw.pw_name) != 0) {
		/* only root can switch users: running as ourselves instead would run the
		 * approved bytes with other rights than the policy says */
		buf_printf(msg, "target %s: run_as %s is set, but escort runs as %s, not root, "
		           "and cannot switch users; refusing to run (run escort as root, or set "
		           "run_as to %s or remove it)", t->name ? t->name : "?", t->run_as,
		           pw.pw_name, pw.pw_name);
		return ESC_EINVAL;
	}
	snprintf(w->home, sizeof(w->home), "%s", pw.pw_dir ? pw.pw_dir : "/");
	snprintf(w->name, sizeof(w->name), "%s", pw.pw_name ? pw.pw_name : "nobody");
	return 0;
}

static void
set_limit(int res, uint64_t v)
{
	struct rlimit r;

	if (v == 0)
		return;
	r.rlim_cur = r.rlim_max = (rlim_t)v;
	(void)setrlimit(res, &r);
}

static void __attribute__((noreturn))
child(const broker_target *t, const who *w, const char *cmd, char **env, int ofd, int efd,
      const broker_limits *lim)
{
	const char *workdir = t->workdir && *t->workdir ? t->workdir : "/";
	char *argv[] = { "bash", "--noprofile", "--norc", "-c", (char *)cmd, NULL };
	struct rlimit core = { 0, 0 };
	sigset_t none;
	int fd;

	(void)setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if ((fd = open("/dev/null", O_RDONLY)) < 0 || dup2(fd, 0) < 0 || dup2(ofd, 1) < 0 ||
	    dup2(efd, 2) < 0)
		_exit(126);
	(void)setrlimit(RLIMIT_CORE, &core);
	if (lim) {
		set_limit(RLIMIT_CPU, lim->cpu_sec);
		set_limit(RLIMIT_AS, lim->as_bytes);
		set_limit(RLIMIT_FSIZE, lim->fsize_bytes);
		set_limit(RLIMIT_NPROC, lim->nproc);
	}
	if (w->switch_user) {
		/* groups first, then gid, then uid; and root must not be regainable */
		if (setgroups((size_t)w->ngroups, w->groups) != 0 || setgid(w->gid) != 0 ||
		    setuid(w->uid) != 0 || (w->uid != 0 && setuid(0) == 0)) {
			dprintf(2, "escort: cannot become the target's run_as user: %s\n",
			        strerror(errno));
			_exit(126);
		}
	}
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

int
bk_local_run(const broker_target *t, const unsigned char *cmd, size_t len,
             const broker_limits *lim, broker_result *res, buf *msg)
{
	char home[1100], user[300], logname[300];
	char *env[ENV_MAX + 1];
	char *cstr = NULL;
	who w;
	bk_sink sink = { 0 };
	int op[2] = { -1, -1 }, ep[2] = { -1, -1 }, status = 0, done = 0, open_fds = 2, rc = 0;
	size_t ne = 0, i;
	pid_t pid = -1;
	unsigned char chunk[65536];
	struct pollfd pf[2];
	int64_t t0, deadline, now, exited_at = 0;

	if ((rc = resolve_user(t, &w, msg)) != 0)
		return rc;
	if ((cstr = malloc(len + 1)) == NULL)
		return ESC_ENOMEM;
	memcpy(cstr, cmd, len);
	cstr[len] = 0;
	snprintf(home, sizeof(home), "HOME=%s", w.home);
	snprintf(user, sizeof(user), "USER=%s", w.name);
	snprintf(logname, sizeof(logname), "LOGNAME=%s", w.name);
	env[ne++] = BK_PATH;
	env[ne++] = home;
	env[ne++] = user;
	env[ne++] = logname;
	env[ne++] = "LANG=C.UTF-8";
	env[ne++] = "SHELL=/bin/bash";
	env[ne++] = "TERM=dumb";
	for (i = 0; lim && lim->env && lim->env[i] && ne < ENV_MAX; i++)
		env[ne++] = (char *)lim->env[i];
	env[ne] = NULL;

	if ((rc = bk_sink_init(&sink, res, lim)) != 0)
		goto out;
	if (pipe2(op, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
		buf_printf(msg, "target %s: pipe: %s", t->name ? t->name : "?", strerror(errno));
		rc = ESC_EIO;
		goto out;
	}
	t0 = bk_now_ms();
	deadline = t0 + bk_timeout_ms(lim);
	pid = fork();
	if (pid < 0) {
		buf_printf(msg, "target %s: fork: %s", t->name ? t->name : "?", strerror(errno));
		rc = ESC_EIO;
		goto out;
	}
	if (pid == 0)
		child(t, &w, cstr, env, op[1], ep[1], lim);
	close(op[1]);
	close(ep[1]);
	op[1] = ep[1] = -1;
	(void)setpgid(pid, pid); /* both sides set it: no race with an early kill */
	pf[0].fd = op[0];
	pf[1].fd = ep[0];
	for (;;) {
		now = bk_now_ms();
		if (!done && waitpid(pid, &status, WNOHANG) == pid) {
			done = 1;
			exited_at = now;
		}
		if (done && (open_fds == 0 || now - exited_at > GRACE_MS))
			break;
		if (now >= deadline) {
			res->timed_out = !done;
			break;
		}
		if (open_fds == 0) {
			/* output closed but bash still runs: wait for it, within the deadline */
			(void)poll(NULL, 0, 5);
			continue;
		}
		pf[0].events = pf[0].fd >= 0 ? POLLIN : 0;
		pf[1].events = pf[1].fd >= 0 ? POLLIN : 0;
		if (poll(pf, 2, 50) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			ssize_t k;

			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			k = read(pf[i].fd, chunk, sizeof(chunk));
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (k <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
				if (i == 0)
					op[0] = -1;
				else
					ep[0] = -1;
				open_fds--;
				continue;
			}
			bk_sink_put(&sink, i == 0 ? BROKER_STDOUT : BROKER_STDERR, chunk, (size_t)k);
		}
	}
	/* nothing of this run may outlive it */
	(void)kill(-pid, SIGKILL);
	if (!done)
		(void)waitpid(pid, &status, 0);
	res->run_ms = bk_now_ms() - t0;
	if (res->timed_out)
		res->exit_code = BROKER_EXIT_TIMEOUT;
	else if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->exit_code = 128 + WTERMSIG(status);
	else
		res->exit_code = 255;
out:
	bk_sink_finish(&sink);
	for (i = 0; i < 2; i++) {
		if (op[i] >= 0)
			close(op[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	free(cstr);
	return rc;
}

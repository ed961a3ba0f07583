/* privsep.c — the monitor of `escort serve`: checks and loads what needs privileges, gives
 * the data directory to the worker's user (except the keys), forks the signer, the broker
 * and the HTTP worker, drops the worker's privileges irrevocably and narrows it with
 * seccomp, then forwards stop signals and reaps (docs/privsep.md). */
#include "server/privsep.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/signer.h"
#include "audit/sth.h"
#include "broker/broker_priv.h"
#include "util/err.h"

#define KEYS_DIR "keys"
#define PEER_STOP_WAIT_MS 5000

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

/* A secret the worker must not be able to read: ours, not a link, no group/other bits
 * (dir: not writable by group/other). Planted files (the worker owns the data directory
 * while it runs) are refused because the worker cannot create files we own. */
static int
check_secret(const char *path, int isdir, int optional, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (optional && errno == ENOENT)
			return 0;
		seterr(err, errlen, "%s: %s%s", path, strerror(errno),
		       isdir ? "" : " (run 'escort init')");
		return ESC_EIO;
	}
	if ((isdir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) || st.st_uid != geteuid() ||
	    (st.st_mode & (isdir ? 022 : 077))) {
		seterr(err, errlen, "%s must be a %s owned by uid %u with mode %s; refusing to start "
		       "with privilege separation", path, isdir ? "directory" : "regular file",
		       (unsigned)geteuid(), isdir ? "0700" : "0600");
		return ESC_EINVAL;
	}
	return 0;
}

/* ---- giving the data directory to the worker ---- */

static const char *own_key, *own_keys;
static uid_t own_uid;
static gid_t own_gid;
static int own_err;

static int
own_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (strcmp(path, own_keys) == 0)
		return FTW_SKIP_SUBTREE;
	if (strcmp(path, own_key) == 0 || flag == FTW_NS)
		return FTW_CONTINUE;
	if ((sb->st_uid != own_uid || sb->st_gid != own_gid) &&
	    lchown(path, own_uid, own_gid) != 0) {
		own_err = errno;
		return FTW_STOP;
	}
	return FTW_CONTINUE;
}

/* Everything under datadir (not following links) except the signing key and keys/. */
int
privsep_give_datadir(const char *datadir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	char key[4096], keys[4096];

	snprintf(key, sizeof(key), "%s/%s", datadir, AUDIT_KEY_FILE);
	snprintf(keys, sizeof(keys), "%s/%s", datadir, KEYS_DIR);
	own_key = key;
	own_keys = keys;
	own_uid = uid;
	own_gid = gid;
	own_err = 0;
	if (nftw(datadir, own_one, 32, FTW_PHYS | FTW_ACTIONRETVAL) != 0 || own_err) {
		seterr(err, errlen, "cannot give %s to uid %u: %s", datadir, (unsigned)uid,
		       strerror(own_err ? own_err : errno));
		return ESC_EIO;
	}
	return 0;
}

/* ---- narrowing a process ---- */

/* Every capability out of the bounding set (needs CAP_SETPCAP: call while root). */
static void
drop_bounding(void)
{
	int c;

	for (c = 0; c <= 63; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno == EINVAL)
			break; /* past the kernel's last capability */
}

/* setgroups, setresgid, setresuid: irrevocable (checked), capabilities gone with uid 0. */
static int
drop_to(uid_t uid, gid_t gid)
{
	uid_t r, e, s;

	if (geteuid() != 0)
		return 0; /* nothing to drop */
	drop_bounding();
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		return ESC_EIO;
	if (setresuid(0, 0, 0) == 0 || getresuid(&r, &e, &s) != 0 || r != uid || e != uid ||
	    s != uid)
		return ESC_EINTERNAL; /* could regain root: never go on */
	return 0;
}

/* Syscalls the HTTP worker never needs; refused with EPERM (default: allow). */
static const char *const worker_deny[] = {
	"execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev",
	"mount", "umount2", "pivot_root", "chroot", "swapon", "swapoff", "reboot",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"setns", "unshare", "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
	"userfaultfd", "acct", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
	"sethostname", "setdomainname", "iopl", "ioperm", "quotactl", "open_by_handle_at",
	"name_to_handle_at", "fanotify_init", "syslog", "personality", "vhangup",
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
	"setfsuid", "setfsgid", "capset", "move_pages", "migrate_pages", "mbind",
	"fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree",
	"mount_setattr", "lookup_dcookie", "nfsservctl", "uselib",
};

/* What the signer uses; everything else is refused with EPERM. */
static const char *const signer_allow[] = {
	"read", "write", "writev", "recvmsg", "sendmsg", "recvfrom", "sendto", "poll", "ppoll",
	"close", "exit", "exit_group", "brk", "mmap", "munmap", "mremap", "madvise", "futex",
	"clock_gettime", "gettimeofday", "getrandom", "rt_sigreturn", "rt_sigprocmask",
	"fstat", "newfstatat", "statx", "lseek", "getpid", "restart_syscall",
};

static int
install_filter(uint32_t def, uint32_t act, const char *const *names, size_t n)
{
	scmp_filter_ctx ctx;
	size_t i;
	int rc = ESC_EINTERNAL, nr;

	if ((ctx = seccomp_init(def)) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < n; i++) {
		nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if (seccomp_rule_add(ctx, act, nr, 0) != 0)
			goto out;
	}
	/* no_new_privs first: the filter needs it without CAP_SYS_ADMIN, and it must hold
	 * whatever the filter says */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || seccomp_load(ctx) != 0)
		goto out;
	rc = 0;
out:
	seccomp_release(ctx);
	return rc;
}

static void
child_common(const char *name, const sigset_t *mask)
{
	prctl(PR_SET_NAME, name, 0, 0, 0);
	sigprocmask(SIG_SETMASK, mask, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
privsep_unavailable(const char **what)
{
	*what = NULL;
	if (audit_signer_failed())
		*what = "signer";
	else if (broker_priv_failed())
		*what = "broker";
	return *what != NULL;
}

/* ---- the monitor ---- */

static int
user_ok(const struct passwd *pw, const char *name, uid_t *uid, gid_t *gid, char *err,
        size_t errlen)
{
	if (pw == NULL) {
		seterr(err, errlen, "no user '%s' for the HTTP worker (--user NAME)", name);
		return ESC_EINVAL;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		seterr(err, errlen, "the HTTP worker's user must not be root or in group root "
		       "('%s')", name);
		return ESC_EINVAL;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* The worker's user, as root: --user; else the data directory's owner (the installation
 * gave it one: `escort init --user`, or an earlier start); else the system user "escort";
 * else, with an explicit --privsep, nobody (warned). 1 when there is none (the caller
 * refuses to start). */
static int
resolve_user(const privsep_opts *o, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd *pw;
	struct stat st;

	if (o->user)
		return user_ok(getpwnam(o->user), o->user, uid, gid, err, errlen);
	if (stat(o->datadir, &st) != 0) {
		seterr(err, errlen, "%s: %s (run 'escort init')", o->datadir, strerror(errno));
		return ESC_EIO;
	}
	if (st.st_uid != 0) {
		char name[32];

		snprintf(name, sizeof(name), "uid %u", (unsigned)st.st_uid);
		if ((pw = getpwuid(st.st_uid)) == NULL) {
			seterr(err, errlen, "%s belongs to %s, which has no account here; give "
			       "--user NAME", o->datadir, name);
			return ESC_EINVAL;
		}
		return user_ok(pw, pw->pw_name, uid, gid, err, errlen);
	}
	if ((pw = getpwnam(PRIVSEP_DEFAULT_USER)) != NULL)
		return user_ok(pw, PRIVSEP_DEFAULT_USER, uid, gid, err, errlen);
	if (o->mode == PRIVSEP_ON) {
		fprintf(stderr, "escort serve: no user '%s' and %s is root's; the HTTP worker runs "
		        "as nobody (create one: useradd --system --no-create-home %s)\n",
		        PRIVSEP_DEFAULT_USER, o->datadir, PRIVSEP_DEFAULT_USER);
		return user_ok(getpwnam("nobody"), "nobody", uid, gid, err, errlen);
	}
	return 1;
}

static int
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int)((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Forwards stop signals to the worker; reaps. Returns the worker's status. */
static int
monitor(pid_t worker, pid_t signer, pid_t brk, const sigset_t *wait)
{
	siginfo_t si;
	struct timespec tick = { 0, 200 * 1000 * 1000 }, t0;
	int st, status = 1, wdone = 0, sdone = 0, bdone = 0, sig;
	pid_t p;

	while (!wdone) {
		int ended[2] = { 0, 0 }, how[2] = { 0, 0 };

		sig = sigtimedwait(wait, &si, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			kill(worker, sig);
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			if (p == worker) {
				wdone = 1;
				status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			} else if (p == signer || p == brk) {
				int i = p == brk;

				*(i ? &bdone : &sdone) = 1;
				ended[i] = 1;
				how[i] = st;
			}
		}
		/* a peer ends with status 0 only when the worker closed its channel (it is
		 * exiting); any other end means the worker refuses what needs that peer */
		for (int i = 0; i < 2; i++)
			if (ended[i] && !(WIFEXITED(how[i]) && WEXITSTATUS(how[i]) == 0))
				fprintf(stderr, "escort serve: the %s process ended (%s %d); work that "
				        "needs it is refused\n", i ? "broker" : "signer",
				        WIFEXITED(how[i]) ? "status" : "signal",
				        WIFEXITED(how[i]) ? WEXITSTATUS(how[i]) : WTERMSIG(how[i]));
	}
	/* the worker's channels are closed: the peers end on EOF; a run in flight may take
	 * a moment, then they are made to go */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!(sdone && bdone)) {
		if (ms_since(&t0) > PEER_STOP_WAIT_MS) {
			if (!sdone)
				kill(signer, SIGKILL);
			if (!bdone) {
				kill(-brk, SIGKILL); /* its process group: a command in flight */
				kill(brk, SIGKILL);
			}
		}
		(void)sigtimedwait(wait, &si, &tick);
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			if (p == signer)
				sdone = 1;
			else if (p == brk)
				bdone = 1;
		}
		if (p < 0 && errno == ECHILD)
			break;
	}
	return status;
}

int
privsep_start(const privsep_opts *o, int *status, char *err, size_t errlen)
{
	char keypath[4096], keysdir[4096];
	audit_key key;
	int sg[2] = { -1, -1 }, bk[2] = { -1, -1 }, sx[2] = { -1, -1 };
	int root = geteuid() == 0, rc;
	uid_t uid = getuid();
	gid_t gid = getgid();
	pid_t signer = -1, brk = -1, worker = -1, monitor_pid = getpid();
	sigset_t wait, old;

	*status = 0;
	memset(&key, 0, sizeof(key));
	if (o->mode == PRIVSEP_OFF && root)
		fprintf(stderr,
		        "escort serve: WARNING: running as root WITHOUT privilege separation "
		        "(--no-privsep)\n"
		        "escort serve: WARNING: the process that parses HTTP and JSON holds the audit "
		        "signing key and every target key, as root; see docs/privsep.md\n");
	if (o->mode == PRIVSEP_OFF || (o->mode == PRIVSEP_AUTO && !root))
		return 0;
	if (o->datadir == NULL || strlen(o->datadir) > 3000) {
		seterr(err, errlen, "privilege separation needs a data directory");
		return ESC_EINVAL;
	}
	/* as root it always separates: the worker runs as the data directory's owner */
	if (root && (rc = resolve_user(o, &uid, &gid, err, errlen)) != 0) {
		if (rc == 1) {
			seterr(err, errlen, "refusing to run as root without privilege separation: "
			       "%s belongs to root and there is no '%s' user for the HTTP worker. "
			       "Give the data directory a user of its own ('escort init --user NAME' "
			       "for a new one; see escort-serve(1)), or --user NAME, or --no-privsep "
			       "to run everything as root", o->datadir, PRIVSEP_DEFAULT_USER);
			rc = ESC_EINVAL;
		}
		return rc;
	}
	snprintf(keypath, sizeof(keypath), "%s/%s", o->datadir, AUDIT_KEY_FILE);
	snprintf(keysdir, sizeof(keysdir), "%s/%s", o->datadir, KEYS_DIR);
	if ((rc = check_secret(keypath, 0, 0, err, errlen)) != 0 ||
	    (rc = check_secret(keysdir, 1, 1, err, errlen)) != 0)
		return rc;
	if (root && (rc = privsep_give_datadir(o->datadir, uid, gid, err, errlen)) != 0)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sg) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, bk) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sx) != 0) {
		seterr(err, errlen, "socketpair: %s", strerror(errno));
		rc = ESC_EIO;
		goto fail;
	}
	sigemptyset(&wait);
	sigaddset(&wait, SIGTERM);
	sigaddset(&wait, SIGINT);
	sigaddset(&wait, SIGCHLD);
	sigprocmask(SIG_BLOCK, &wait, &old);
	fflush(NULL);

	/* the signer: the key, one channel, nothing else */
	if ((signer = fork()) == 0) {
		close(sg[0]);
		close(bk[0]);
		close(bk[1]);
		close(sx[0]);
		close(sx[1]);
		child_common("escort-signer", &old);
		(void)setpgid(0, 0); /* a terminal's ^C stops the worker first, not the signer */
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		/* loaded here, not in the monitor: no other process's memory ever held it */
		if (audit_key_load(keypath, &key, err, errlen) != 0) {
			fprintf(stderr, "escort-signer: %s\n", err);
			_exit(1);
		}
		if ((root && drop_to(uid, gid) != 0) ||
		    install_filter(SCMP_ACT_ERRNO(EPERM), SCMP_ACT_ALLOW, signer_allow,
		                   sizeof(signer_allow) / sizeof(signer_allow[0])) != 0) {
			fprintf(stderr, "escort-signer: cannot drop privileges; exiting\n");
			audit_key_wipe(&key);
			_exit(1);
		}
		rc = audit_signer_serve(sg[1], &key);
		audit_key_wipe(&key);
		_exit(rc == 0 ? 0 : 1);
	}
	if (signer < 0)
		goto forkfail;

	/* the broker: keys and commands; stays privileged (run_as needs root) */
	if ((brk = fork()) == 0) {
		close(sg[0]);
		close(sg[1]);
		close(bk[0]);
		close(sx[0]);
		child_common("escort-broker", &old);
		(void)setpgid(0, 0);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		/* sessions' shells: a thread of their own on the shell channel */
		if (broker_priv_shells_start(sx[1], o->datadir) != 0) {
			fprintf(stderr, "escort-broker: cannot serve sessions' shells\n");
			_exit(1);
		}
		rc = broker_priv_serve(bk[1], o->datadir);
		broker_priv_shells_stop();
		_exit(rc == 0 ? 0 : 1);
	}
	if (brk < 0)
		goto forkfail;

	if ((worker = fork()) == 0) {
		close(sg[1]);
		close(bk[1]);
		close(sx[1]);
		child_common("escort-http", &old);
		if (root && drop_to(uid, gid) != 0) {
			fprintf(stderr, "escort serve: the HTTP worker cannot drop its privileges\n");
			_exit(1);
		}
		/* after the uid change, which clears it; then check for a monitor gone already */
		prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
		if (getppid() != monitor_pid)
			_exit(1);
		if (install_filter(SCMP_ACT_ALLOW, SCMP_ACT_ERRNO(EPERM), worker_deny,
		                   sizeof(worker_deny) / sizeof(worker_deny[0])) != 0) {
			fprintf(stderr, "escort serve: the HTTP worker cannot install its seccomp "
			        "filter\n");
			_exit(1);
		}
		if (access(o->datadir, R_OK | W_OK | X_OK) != 0) {
			fprintf(stderr, "escort serve: the HTTP worker (uid %u) cannot use %s: %s (is "
			        "every parent directory searchable?)\n", (unsigned)uid, o->datadir,
			        strerror(errno));
			_exit(1);
		}
		if (audit_signer_attach(sg[0], err, errlen) != 0 ||
		    broker_priv_client_attach(bk[0]) != 0 || broker_priv_shell_attach(sx[0]) != 0) {
			fprintf(stderr, "escort serve: %s\n", err);
			_exit(1);
		}
		return 0; /* serve */
	}
	if (worker < 0)
		goto forkfail;
	close(sg[0]);
	close(sg[1]);
	close(bk[0]);
	close(bk[1]);
	close(sx[0]);
	close(sx[1]);
	*status = monitor(worker, signer, brk, &wait);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 1;

forkfail:
	seterr(err, errlen, "fork: %s", strerror(errno));
	rc = ESC_EIO;
	if (signer > 0) {
		kill(signer, SIGKILL);
		waitpid(signer, NULL, 0);
	}
	if (brk > 0) {
		kill(brk, SIGKILL);
		waitpid(brk, NULL, 0);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
fail:
	if (sg[0] >= 0) {
		close(sg[0]);
		close(sg[1]);
	}
	if (bk[0] >= 0) {
		close(bk[0]);
		close(bk[1]);
	}
	if (sx[0] >= 0) {
		close(sx[0]);
		close(sx[1]);
	}
	return rc;
}

/* ---- the CLI's peers (src/cli/owner.c) ---- */

int
privsep_cli_peers(const char *datadir, int want_signer, int want_broker, uid_t uid, gid_t gid,
                  char *err, size_t errlen)
{
	char keypath[4096];
	audit_key key;
	int sg[2] = { -1, -1 }, bk[2] = { -1, -1 }, rc;
	pid_t signer = -1, brk = -1;
	sigset_t cur;

	memset(&key, 0, sizeof(key));
	if (geteuid() != 0 || uid == 0 || datadir == NULL || strlen(datadir) > 3000) {
		seterr(err, errlen, "the CLI's signer and broker are for root on another user's "
		       "data directory");
		return ESC_EINVAL;
	}
	snprintf(keypath, sizeof(keypath), "%s/%s", datadir, AUDIT_KEY_FILE);
	if ((want_signer && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sg) != 0) ||
	    (want_broker && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, bk) != 0)) {
		seterr(err, errlen, "socketpair: %s", strerror(errno));
		rc = ESC_EIO;
		goto fail;
	}
	sigprocmask(SIG_SETMASK, NULL, &cur);
	fflush(NULL);
	if (want_signer && (signer = fork()) == 0) {
		/* as escortd's: loads the key itself, then holds nothing else */
		close(sg[0]);
		if (bk[0] >= 0) {
			close(bk[0]);
			close(bk[1]);
		}
		child_common("escort-signer", &cur);
		(void)setpgid(0, 0); /* ^C stops the command; the signer ends on its EOF */
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (audit_key_load(keypath, &key, err, errlen) != 0) {
			fprintf(stderr, "escort-signer: %s\n", err);
			_exit(1);
		}
		if (drop_to(uid, gid) != 0 ||
		    install_filter(SCMP_ACT_ERRNO(EPERM), SCMP_ACT_ALLOW, signer_allow,
		                   sizeof(signer_allow) / sizeof(signer_allow[0])) != 0) {
			fprintf(stderr, "escort-signer: cannot drop privileges; exiting\n");
			audit_key_wipe(&key);
			_exit(1);
		}
		rc = audit_signer_serve(sg[1], &key);
		audit_key_wipe(&key);
		_exit(rc == 0 ? 0 : 1);
	}
	if (want_signer && signer < 0)
		goto forkfail;
	if (want_broker && (brk = fork()) == 0) {
		close(bk[0]);
		if (sg[0] >= 0) {
			close(sg[0]);
			close(sg[1]);
		}
		child_common("escort-broker", &cur);
		(void)setpgid(0, 0);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		rc = broker_priv_serve(bk[1], datadir);
		_exit(rc == 0 ? 0 : 1);
	}
	if (want_broker && brk < 0)
		goto forkfail;
	if (sg[0] >= 0) {
		close(sg[1]);
		sg[1] = -1;
		if ((rc = audit_signer_attach(sg[0], err, errlen)) != 0) {
			/* the signer channel stays attached (failed): nothing gets signed; the
			 * broker is not left running for a command that cannot go on */
			if (brk > 0) {
				kill(brk, SIGKILL);
				waitpid(brk, NULL, 0);
			}
			if (bk[0] >= 0) {
				close(bk[0]);
				close(bk[1]);
			}
			return rc;
		}
	}
	if (bk[0] >= 0) {
		close(bk[1]);
		bk[1] = -1;
		if (broker_priv_client_attach(bk[0]) != 0) {
			seterr(err, errlen, "cannot attach to the broker process");
			kill(brk, SIGKILL);
			waitpid(brk, NULL, 0);
			close(bk[0]);
			return ESC_EIO;
		}
	}
	return 0;

forkfail:
	seterr(err, errlen, "fork: %s", strerror(errno));
	rc = ESC_EIO;
	if (signer > 0) {
		kill(signer, SIGKILL);
		waitpid(signer, NULL, 0);
	}
fail:
	if (sg[0] >= 0) {
		close(sg[0]);
		close(sg[1]);
	}
	if (bk[0] >= 0) {
		close(bk[0]);
		close(bk[1]);
	}
	return rc;
}

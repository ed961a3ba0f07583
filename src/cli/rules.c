/* rules.c — where the CLI finds lockbox's knowledge base: the shipped rules, the site's
 * /etc/escort/rules.d, then --rules directories, in that order (later ones override). */
#include "cli/cli.h"
#include "util/buf.h"
#include "util/err.h"

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

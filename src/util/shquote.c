/* shquote.c — argv → one bash command line (shquote.h). Kept free of everything but buf so
 * the sudo plugin can link it without the rest of libescort. */
#include "util/shquote.h"

#include <string.h>

#include "util/err.h"

/* Characters that mean nothing to bash anywhere in a word; '~' and '^' are left out
 * (tilde expansion, history), '=' in the first word (an assignment, not a command). */
int
util_shword_plain(const char *s, int first)
{
	const unsigned char *p = (const unsigned char *)s;

	if (p == NULL || *p == 0)
		return 0;
	for (; *p; p++) {
		unsigned char c = *p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (strchr("_./:,+@%-", c) != NULL)
			continue;
		if (c == '=' && !first)
			continue;
		return 0;
	}
	return 1;
}

int
util_shquote_argv(const char *const *argv, size_t argc, buf *out)
{
	size_t i;
	const char *p;
	int rc = 0;

	if (argv == NULL || out == NULL || argc == 0 || argc > UTIL_SHQ_ARGV_MAX)
		return ESC_EINVAL;
	for (i = 0; i < argc; i++) {
		if (argv[i] == NULL)
			return ESC_EINVAL;
		if (i > 0 && (rc = buf_putc(out, ' ')) != 0)
			return rc;
		if (util_shword_plain(argv[i], i == 0)) {
			if ((rc = buf_puts(out, argv[i])) != 0)
				return rc;
		} else {
			if ((rc = buf_putc(out, '\'')) != 0)
				return rc;
			for (p = argv[i]; *p; p++) {
				rc = *p == '\'' ? buf_puts(out, "'\\''") : buf_putc(out, (unsigned char)*p);
				if (rc != 0)
					return rc;
				if (out->len > UTIL_SHQ_LINE_MAX)
					return ESC_ETOOBIG;
			}
			if ((rc = buf_putc(out, '\'')) != 0)
				return rc;
		}
		if (out->len > UTIL_SHQ_LINE_MAX)
			return ESC_ETOOBIG;
	}
	return 0;
}

/* sudo_cmdline.h — turns a sudo argv into the one bash command line escort analyzes and
 * approves. Shared by the plugin (src/sudo) and escortd (src/workflow/wf_sudo.c) so both
 * sides derive the same bytes from the same argv; header-only because the plugin must not
 * link the rest of libescort. */
#ifndef ESCORT_SUDO_CMDLINE_H
#define ESCORT_SUDO_CMDLINE_H

#include <stddef.h>
#include <string.h>

#include "util/buf.h"
#include "util/err.h"

#define SUDO_ARGV_MAX 4096               /* arguments per command */
#define SUDO_CMDLINE_MAX ((size_t)256 * 1024) /* bytes of the quoted line */

/* Characters that mean nothing to bash anywhere in a word. '=' is left out for the first
 * word (NAME=VALUE there is an assignment, not a command), '~' and '^' everywhere
 * (tilde expansion, history). */
static inline int
sudo_word_plain(const char *s, int first)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == 0)
		return 0;
	for (; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (strchr("_./:,+@%-", c) != NULL && c != 0)
			continue;
		if (c == '=' && !first)
			continue;
		return 0;
	}
	return 1;
}

/* Appends argv[0..argc) to out as one bash command line: plain words as they are, every
 * other word in single quotes (a quote inside becomes '\''), so bash's word splitting
 * gives back exactly argv. 0, ESC_EINVAL (no words, too many) or ESC_ENOMEM/ETOOBIG. */
static inline int
sudo_cmdline(const char *const *argv, size_t argc, buf *out)
{
	size_t i;
	const char *p;
	int rc;

	if (argc == 0 || argc > SUDO_ARGV_MAX)
		return ESC_EINVAL;
	for (i = 0; i < argc; i++) {
		if (argv[i] == NULL)
			return ESC_EINVAL;
		if (i > 0 && (rc = buf_putc(out, ' ')) != 0)
			return rc;
		if (sudo_word_plain(argv[i], i == 0)) {
			if ((rc = buf_puts(out, argv[i])) != 0)
				return rc;
		} else {
			if ((rc = buf_putc(out, '\'')) != 0)
				return rc;
			for (p = argv[i]; *p; p++) {
				rc = *p == '\'' ? buf_puts(out, "'\\''") : buf_putc(out, (unsigned char)*p);
				if (rc != 0)
					return rc;
			}
			if ((rc = buf_putc(out, '\'')) != 0)
				return rc;
		}
		if (out->len > SUDO_CMDLINE_MAX)
			return ESC_ETOOBIG;
	}
	return 0;
}

#endif

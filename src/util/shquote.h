/* shquote.h — quotes an argv into one bash command line that bash splits back into exactly
 * that argv. Used by the sudo plugin (src/sudo) and escortd (workflow, server) so both
 * sides derive the same bytes, hence the same hash, from the same argv. */
#ifndef ESCORT_UTIL_SHQUOTE_H
#define ESCORT_UTIL_SHQUOTE_H

#include <stddef.h>

#include "util/buf.h"

#define UTIL_SHQ_ARGV_MAX 4096                  /* words per command line */
#define UTIL_SHQ_LINE_MAX ((size_t)256 * 1024) /* bytes of the quoted line */

/* 1 when bash takes s as one literal word without quotes. `first`: s is the command word
 * (where NAME=VALUE would be an assignment, so '=' needs quoting there). */
int util_shword_plain(const char *s, int first);

/* Appends argv[0..argc) to out as one bash command line: plain words as they are, every
 * other word in single quotes (a quote inside becomes '\''). Returns 0, ESC_EINVAL (no
 * words, more than UTIL_SHQ_ARGV_MAX, a NULL word), ESC_ETOOBIG (the line would exceed
 * UTIL_SHQ_LINE_MAX) or ESC_ENOMEM. */
int util_shquote_argv(const char *const *argv, size_t argc, buf *out);

#endif

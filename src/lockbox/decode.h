/* decode.h — static decoders for data written literally in a record (base64, base32,
 * hex, rev, tr, echo -e / printf escapes, gzip), so the normalizer can see what a decoding
 * pipeline would hand to a shell. Pure functions: never execute or open anything. */
#ifndef ESCORT_LOCKBOX_DECODE_H
#define ESCORT_LOCKBOX_DECODE_H

#include <stddef.h>

#include "lockbox/ast.h"

/* Every decoder writes an arena string (NUL-terminated, may hold NUL bytes: use *outn)
 * of at most `max` bytes. Returns 0, -1 when the input is not in that encoding (or the
 * decoder is not available), -2 when the output would exceed max. */
int lbx_dec_base64(lb_arena *a, const char *s, size_t n, size_t max, char **out, size_t *outn);
int lbx_dec_base32(lb_arena *a, const char *s, size_t n, size_t max, char **out, size_t *outn);
/* xxd -r -p: hex digit pairs, whitespace and other separators ignored. */
int lbx_dec_hex(lb_arena *a, const char *s, size_t n, size_t max, char **out, size_t *outn);
/* rev: every line reversed (bytewise; the trailing newline stays at the end). */
int lbx_dec_rev(lb_arena *a, const char *s, size_t n, size_t max, char **out, size_t *outn);
/* tr SET1 SET2 with ranges (a-z) and backslash escapes; -1 for classes ([:alpha:]),
 * options or anything else it does not model. */
int lbx_dec_tr(lb_arena *a, const char *set1, const char *set2, const char *s, size_t n,
    size_t max, char **out, size_t *outn);
/* echo -e / printf %b escapes: \a \b \e \f \n \r \t \v \\ \0NNN \NNN (printf format) \xHH
 * \uHHHH \UHHHHHHHH; \c stops the output. `fmt` selects printf-format octal (\NNN)
 * instead of echo's \0NNN. */
int lbx_dec_escapes(lb_arena *a, const char *s, size_t n, int fmt, size_t max, char **out,
    size_t *outn);
/* printf FORMAT ARGS...: %s %b %c %d %i %u %x %o %% with flags/width ignored (no
 * padding), the format reused while arguments remain. -1 for anything else (%*d, %q). */
int lbx_dec_printf(lb_arena *a, const char *fmt, size_t fn, const char *const *args,
    const size_t *alen, size_t nargs, size_t max, char **out, size_t *outn);
/* gzip / zlib data (gunzip, zcat, gzip -d). -1 when not gzip or zlib is not built in. */
int lbx_dec_gunzip(lb_arena *a, const char *s, size_t n, size_t max, char **out, size_t *outn);

#endif

/* err.h — escort's one error-code space.
 * Every function that can fail returns 0 or a negative ESC_E* code; foreign codes
 * (errno, sqlite, yaml) are mapped into this space at the boundary. */
#ifndef ESCORT_UTIL_ERR_H
#define ESCORT_UTIL_ERR_H

enum esc_err {
	ESC_OK = 0,
	ESC_ENOMEM = -1,   /* allocation failed */
	ESC_ETOOBIG = -2,  /* a size limit was reached */
	ESC_EIO = -3,      /* read/write failed; errno holds the cause */
	ESC_EPARSE = -4,   /* malformed input */
	ESC_EINVAL = -5,   /* invalid argument */
	ESC_ENOENT = -6,   /* no such thing */
	ESC_EDEPTH = -7,   /* nesting deeper than allowed */
	ESC_EINTERNAL = -8 /* a bug: an invariant did not hold */
};

/* Returns a static English description of an ESC_E* code. */
const char *esc_strerror(int code);

#endif

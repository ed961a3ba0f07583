/* err.c — descriptions of escort's error codes. */
#include "util/err.h"

const char *
esc_strerror(int code)
{
	switch (code) {
	case ESC_OK: return "success";
	case ESC_ENOMEM: return "out of memory";
	case ESC_ETOOBIG: return "size limit exceeded";
	case ESC_EIO: return "input/output error";
	case ESC_EPARSE: return "malformed input";
	case ESC_EINVAL: return "invalid argument";
	case ESC_ENOENT: return "not found";
	case ESC_EDEPTH: return "nesting too deep";
	case ESC_EINTERNAL: return "internal error";
	}
	return "unknown error";
}

/* normalize.h — static deobfuscation of a bash record: quote and escape removal, brace
 * expansion, $IFS, constants assigned earlier in the record, printf/echo substitutions,
 * command-name globs, aliases and functions, and decoding pipelines of literal data fed to
 * a shell. Never executes anything; bounded by a byte budget shared by a whole record. */
#ifndef ESCORT_LOCKBOX_NORMALIZE_H
#define ESCORT_LOCKBOX_NORMALIZE_H

#include <stddef.h>

#include "lockbox/ast.h"
#include "lockbox/kb.h"

/* Bytes of decoded or rewritten text one record may produce in all (recursion included);
 * past it the rest is opaque. */
#define LBX_NORM_BUDGET ((size_t)64 * 1024)
/* Decoded text inside decoded text, at most this deep. */
#define LBX_NORM_DEPTH 4

/* Text that a shell (or eval, or an interpreter's system()) runs, recovered from data
 * written in the record. */
typedef struct lbx_layer {
	const char *text;   /* the recovered commands (what runs) */
	size_t len;
	const char *via;    /* how they were recovered: "echo | base64 -d | sh" */
	lb_span span;       /* the part of the input that runs them */
	int decoded;        /* an encoding or escaping was undone (not just plain text) */
	struct lbx_layer *next;
} lbx_layer;

/* A disguise seen (obfuscation), or a reason what runs cannot be known (opaque). */
typedef struct lbx_note {
	const char *id;
	const char *msg;
	lb_span span;
	int opaque;
	struct lbx_note *next;
} lbx_note;

typedef struct lbx_norm {
	const char *text;   /* the input with every resolved disguise undone; NULL: unchanged */
	size_t len;
	const char *how;    /* what was undone, " | "-separated ("variables | quote removal") */
	lbx_note *notes, *notes_tail;
	lbx_layer *layers, *layers_tail;
} lbx_norm;

/* Cheap test on the raw text: could the record hold anything the normalizer undoes?
 * When 0, lbx_normalize would find nothing (keeps the common path fast). */
int lbx_norm_maybe(const char *s, size_t n);

/* Normalizes src[0..len) whose parse tree is root (NULL: parsed here). Everything is
 * allocated in a. *budget is decremented by the bytes produced. Returns 0 or ESC_ENOMEM;
 * never fails on bad input. */
int lbx_normalize(lb_arena *a, const kb *k, const char *src, size_t len, const lb_node *root,
    size_t *budget, lbx_norm *out);

/* Shell commands written literally in interpreter code (`prog` is the interpreter's
 * name): os.system("..."), system('...'), execSync(`...`), os.execute, popen, backquotes,
 * subprocess.call([...]), also when the literal is base64 decoded in place
 * (os.system(base64.b64decode("..."))). Returns a list of layers (span unset) or NULL. */
lbx_layer *lbx_code_commands(lb_arena *a, const char *prog, const char *code, size_t n,
    size_t *budget);

#endif

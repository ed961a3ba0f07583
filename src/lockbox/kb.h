/* kb.h — lockbox's command knowledge base: program specs and sensitive paths loaded from
 * YAML (docs/rules.md). Immutable after load; lookups by program basename go through a
 * hash table and path matching is precompiled, because both run for every command. */
#ifndef ESCORT_LOCKBOX_KB_H
#define ESCORT_LOCKBOX_KB_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* ---- fixed vocabularies -------------------------------------------------------------- */

/* Categories, in the order DESIGN.md lists them; a set is a bit mask (kb_cats). */
typedef enum kb_cat {
	KB_C_FILE_READ,
	KB_C_FILE_WRITE,
	KB_C_FILE_DELETE,
	KB_C_CONFIG_CHANGE,
	KB_C_CREDENTIAL_ACCESS,
	KB_C_NETWORK_DOWNLOAD,
	KB_C_NETWORK_UPLOAD,
	KB_C_NETWORK_CONNECT,
	KB_C_NETWORK_LISTEN,
	KB_C_REVERSE_SHELL,
	KB_C_BIND_SHELL,
	KB_C_REMOTE_EXEC,
	KB_C_CODE_EXEC,
	KB_C_SHELL_ESCAPE,
	KB_C_PRIVILEGE_ESCALATION,
	KB_C_PERSISTENCE,
	KB_C_ACCOUNT_CHANGE,
	KB_C_PERMISSION_CHANGE,
	KB_C_SERVICE_CHANGE,
	KB_C_SECURITY_DISABLE,
	KB_C_LOG_TAMPER,
	KB_C_DESTRUCTIVE,
	KB_C_PACKAGE_INSTALL,
	KB_C_KERNEL_MODULE,
	KB_C_PROCESS_KILL,
	KB_C_OBFUSCATION,
	KB_C_DISPLAY_DECEPTION,
	KB_C_OPAQUE,
	KB_C_RECON,
	KB_C_COUNT
} kb_cat;

typedef uint32_t kb_cats;
#define KB_CAT(c) ((kb_cats)1u << (c))

const char *kb_cat_name(kb_cat c);
/* Returns the category for a name, or -1. */
int kb_cat_lookup(const char *s);

/* Risk levels share lockbox_risk's numbering: none=0 .. critical=4; -1 means "not set". */
#define KB_RISK_UNSET (-1)
int kb_risk_lookup(const char *s);

typedef enum kb_role {
	KB_R_NONE,
	KB_R_READ,
	KB_R_WRITE,
	KB_R_APPEND,
	KB_R_DELETE,
	KB_R_MODIFY,
	KB_R_EXEC,
	KB_R_COMMAND,
	KB_R_CODE,
	KB_R_HOST,
	KB_R_URL,
	KB_R_LISTEN,
	KB_R_USER,
	KB_R_GROUP,
	KB_R_SERVICE,
	KB_R_PACKAGE,
	KB_R_MODULE,
	KB_R_DEVICE,
	KB_R_MODE,
	KB_R_PATTERN,
	KB_R_TEXT,
	KB_R_DIR,
	KB_R_COUNT
} kb_role;
#define KB_ROLE_UNSET (-1)
const char *kb_role_name(kb_role r);
int kb_role_lookup(const char *s);

/* Named flags (docs/rules.md "Flags"), as bits. */
enum {
	KB_F_RECURSIVE = 1u << 0,
	KB_F_FORCE = 1u << 1,
	KB_F_IN_PLACE = 1u << 2,
	KB_F_LISTEN = 1u << 3,
	KB_F_UPLOAD = 1u << 4,
	KB_F_DOWNLOAD_TO = 1u << 5,
	KB_F_EXEC = 1u << 6,
	KB_F_SHELL = 1u << 7,
	KB_F_INTERACTIVE = 1u << 8,
	KB_F_BACKGROUND = 1u << 9,
	KB_F_NO_VERIFY = 1u << 10,
	KB_F_SETUID = 1u << 11,
	KB_F_ALL = 1u << 12,
	KB_F_STDOUT = 1u << 13 /* output goes to stdout (wget -O -, curl without -o) */
};
int kb_flag_lookup(const char *s); /* bit, or 0 when unknown */

typedef enum kb_handler {
	KB_H_NONE,
	KB_H_FIND,
	KB_H_XARGS,
	KB_H_TAR,
	KB_H_DD,
	KB_H_CHMOD,
	KB_H_SH,
	KB_H_SSH,
	KB_H_SU,
	KB_H_ENV,
	KB_H_BUSYBOX,
	KB_H_CURL,
	KB_H_WGET,
	KB_H_NC,
	KB_H_SOCAT,
	KB_H_OPENSSL,
	KB_H_INTERPRETER,
	KB_H_SED,
	KB_H_AWK,
	KB_H_COUNT
} kb_handler;
int kb_handler_lookup(const char *s);
const char *kb_handler_name(kb_handler h);

typedef enum kb_arg { KB_A_NONE, KB_A_REQUIRED, KB_A_OPTIONAL } kb_arg;

/* How an option name is matched against a word. */
typedef enum kb_name_kind {
	KB_N_SHORT,  /* -x: clusters */
	KB_N_LONG,   /* --long, --long=value */
	KB_N_SDLONG, /* -exec: whole word, single dash */
	KB_N_PREFIX, /* if=: word starts with it, the rest is the argument */
	KB_N_WORD    /* +x, u+s: the literal word */
} kb_name_kind;

typedef struct kb_name {
	const char *s;
	uint16_t len;
	uint8_t kind; /* kb_name_kind */
} kb_name;

/* ---- specs ---------------------------------------------------------------------------- */

typedef struct kb_strs {
	const char **v;
	uint16_t n;
} kb_strs;

typedef struct kb_opt {
	kb_name *names;
	uint16_t nnames;
	uint8_t arg;      /* kb_arg */
	uint8_t role;     /* kb_role of the argument */
	int8_t risk;      /* or KB_RISK_UNSET */
	int8_t operands;  /* kb_role or KB_ROLE_UNSET */
	int8_t readonly;  /* 1: with this option the command only reads or shows (-1 unset) */
	uint32_t flags;   /* KB_F_* */
	kb_cats cats;
	kb_strs attack;
	const char *explain;
} kb_opt;

typedef struct kb_spec kb_spec;
struct kb_spec {
	const char *name;     /* program basename (subcommands: first name) */
	const char *file;     /* where it was defined (for messages) */
	kb_strs names;        /* subcommands: every name; programs: name + aliases */
	const char *describe;
	const char *explain;
	int8_t risk;          /* KB_RISK_UNSET when absent */
	int8_t operands;      /* KB_ROLE_UNSET when absent */
	int8_t last;          /* KB_ROLE_UNSET when absent */
	int8_t readonly;      /* -1 unset, 0, 1 */
	int8_t stdin_role;    /* what stdin is: KB_R_COMMAND, KB_R_CODE, ... or unset */
	uint8_t handler;      /* kb_handler */
	int16_t wrapper_skip; /* -1: not a wrapper */
	int8_t extend;        /* adds to the earlier spec of the same name (see rules.md) */
	uint8_t name_kinds;   /* bit (1 << kb_name_kind) for each kind its options use */
	uint8_t *first;
	uint16_t nfirst;
	kb_cats cats;
	kb_strs attack;
	kb_opt *opts;
	uint16_t nopts;
	kb_spec *subs;
	uint16_t nsubs;
};

/* ---- sensitive paths ------------------------------------------------------------------ */

typedef enum kb_access { KB_X_READ, KB_X_WRITE, KB_X_DELETE, KB_X_EXEC, KB_X_COUNT } kb_access;

typedef struct kb_pathfx {
	int8_t present;
	int8_t risk;
	kb_cats cats;
	kb_strs attack;
} kb_pathfx;

typedef struct kb_path {
	kb_strs match;
	const char *describe;
	kb_pathfx fx[KB_X_COUNT];
} kb_path;

typedef struct kb kb;

/* Loads rules_dir/commands/ *.yaml (name order) and rules_dir/paths.yaml, then for each
 * extra directory its *.yaml (paths.yaml included), then its commands/ *.yaml if present. Any error
 * rejects the load: returns <0 and writes "file:line:col: message" into err. */
int kb_load(kb **out, const char *rules_dir, const char *const *extra, buf *err);
/* Loads one YAML document from memory (tests, fuzzing); `name` is used in messages. */
int kb_load_string(kb *k, const char *name, const char *text, size_t len, buf *err);
int kb_new(kb **out);
/* The rule files in dir: every *.yaml (and *.yml when yml) not starting with '.', sorted
 * by name, into *names (free with kb_names_free). A missing dir is no error when optional
 * (*n = 0); otherwise it writes "dir:1:1: cannot open directory: ..." into err. */
int kb_yaml_names(const char *dir, int yml, int optional, char ***names, size_t *n, buf *err);
void kb_names_free(char **names, size_t n);
/* Finishes loading: builds the lookup tables. Must be called after kb_load_string. */
int kb_finish(kb *k, buf *err);
void kb_free(kb *k);

size_t kb_program_count(const kb *k);
/* Spec for a program basename (n bytes), or NULL. */
const kb_spec *kb_lookup(const kb *k, const char *name, size_t n);
/* Every known program name and alias, one per call: start with *iter = 0; NULL at the
 * end. Order is unspecified. */
const char *kb_program_name(const kb *k, size_t *iter);
/* Subcommand of spec named by word, or NULL. */
const kb_spec *kb_subcommand(const kb_spec *s, const char *word);

/* First sensitive-path entry matching `path` (already normalized: absolute, no //, /./,
 * trailing /; home directories written as /root/... or /home/USER/...) that says
 * something about access kind x; NULL when none. */
const kb_path *kb_path_match(const kb *k, const char *path, kb_access x);
/* Every matching entry with key x, in priority order (at most max); returns the count. */
size_t kb_path_match_all(const kb *k, const char *path, kb_access x, const kb_path **out,
    size_t max);

#endif

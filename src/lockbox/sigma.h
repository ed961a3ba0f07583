/* sigma.h — Sigma detection rules (YAML) for Linux process creation, loaded as extra
 * lockbox findings: the parser for the supported subset (docs/sigma.md) and the matcher
 * over one process-creation event. Internal to lockbox; the CLI uses lockbox.h. */
#ifndef ESCORT_LOCKBOX_SIGMA_H
#define ESCORT_LOCKBOX_SIGMA_H

#include <stddef.h>

#include "lockbox/lockbox.h"
#include "util/buf.h"

typedef struct sigma_set sigma_set;

/* One value of an event field: bytes, not NUL-terminated, may hold NUL. */
typedef struct sigma_str {
	const char *p;
	size_t n;
} sigma_str;

/* One process-creation event: each field may have several candidate values (a command
 * written as `curl` is also /usr/bin/curl, ...); a field test holds when it holds for one
 * of them. A field with no values is absent and matches nothing. */
typedef struct sigma_event {
	const sigma_str *image;
	size_t nimage;
	const sigma_str *cmdline;
	size_t ncmdline;
} sigma_event;

/* What a loaded rule says about a match. Strings belong to the set. */
typedef struct sigma_info {
	const char *file;     /* where it was loaded from */
	const char *id;       /* the rule's id, or the file's base name */
	const char *title;
	const char *description; /* "" when absent */
	int risk;             /* lockbox_risk from level */
	int cat;              /* kb_cat from the ATT&CK tactic tags (code-exec otherwise) */
	const char *const *attack; /* technique ids, "T1059.004" */
	size_t nattack;
} sigma_info;

sigma_set *sigma_new(void);
void sigma_free(sigma_set *s);
/* Parses one file's text (name is used in the report). Rules using anything outside the
 * subset are not loaded; each reason becomes a report line "name:line:col: rule 'T':
 * unsupported: why". With verbose, each loaded rule adds "name: loaded: T (level)".
 * Returns 0 (even when rules were refused) or ESC_ENOMEM. */
int sigma_load_text(sigma_set *s, const char *name, const char *text, size_t len,
    buf *report, int verbose);
/* Loads every *.yml / *.yaml file of dir (sorted by name; not recursive). Returns 0, or a
 * negative code when dir cannot be read (reported). */
int sigma_load_dir(sigma_set *s, const char *dir, buf *report, int verbose);

size_t sigma_count(const sigma_set *s);
const sigma_info *sigma_rule_info(const sigma_set *s, size_t i);
/* 1 when rule i matches the event, 0 otherwise. */
int sigma_rule_match(const sigma_set *s, size_t i, const sigma_event *ev);

/* Adds a finding for each rule matching one of the record's commands (analyze.c calls
 * this before the result is finalized). Image: each command's program as written and,
 * for a bare name, where PATH would usually find it; CommandLine: the whole record and
 * the command's own text. Returns 0 or ESC_ENOMEM. */
int sigma_apply(const sigma_set *s, lockbox_result *r);

#endif

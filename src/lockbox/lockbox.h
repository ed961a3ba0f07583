/* lockbox.h — the command analyzer's public face: load the knowledge base once, then
 * turn command records into structured, explained risk assessments.
 * Pure computation: lockbox never executes, opens or resolves anything it analyzes. */
#ifndef ESCORT_LOCKBOX_LOCKBOX_H
#define ESCORT_LOCKBOX_LOCKBOX_H

#include <stddef.h>

#include "util/buf.h"

typedef struct lockbox lockbox;            /* loaded rules; immutable after load, shareable */
typedef struct lockbox_result lockbox_result; /* one analyzed record */

typedef enum lockbox_risk {
	LOCKBOX_RISK_NONE = 0,
	LOCKBOX_RISK_LOW,
	LOCKBOX_RISK_MEDIUM,
	LOCKBOX_RISK_HIGH,
	LOCKBOX_RISK_CRITICAL
} lockbox_risk;

/* Loads the built-in rules directory `rules_dir` (commands/NAME.yaml and paths.yaml), then
 * every extra directory in `extra` (NULL-terminated, may be NULL). Later files may add
 * programs and override earlier specs of the same name. On error returns a negative code
 * (<0) and writes "file:line:col: message" into errbuf. */
int lockbox_load(lockbox **out, const char *rules_dir, const char *const *extra, buf *errbuf);
void lockbox_free(lockbox *lb);
/* Loads the Sigma rules (Linux process_creation, the subset in docs/sigma.md) of every
 * *.yml / *.yaml file in dir; a matching rule adds a finding "sigma:ID" to bash records.
 * Part of loading: call before the lockbox is shared. Rules using unsupported constructs
 * are not loaded; each reason is a report line "file:line:col: rule 'T': unsupported:
 * why" (with verbose, also "file: loaded: T (level)"). Returns 0, ESC_ENOENT when dir
 * cannot be read, or ESC_ENOMEM. */
int lockbox_load_sigma(lockbox *lb, const char *dir, buf *report, int verbose);
/* Number of Sigma rules loaded. */
size_t lockbox_sigma_count(const lockbox *lb);
/* Number of programs known (for --version / tests). */
size_t lockbox_program_count(const lockbox *lb);

/* Analyzes one record (a command line or a multi-line script) of the given shell
 * ("bash"; others return ESC_EINVAL until supported). Never fails on bad input: syntax
 * errors, NUL bytes and invalid UTF-8 become findings. Fails only on ESC_ENOMEM. */
int lockbox_analyze(const lockbox *lb, const char *src, size_t len, const char *shell,
    lockbox_result **out);
void lockbox_result_free(lockbox_result *r);

lockbox_risk lockbox_result_risk(const lockbox_result *r);
int lockbox_result_score(const lockbox_result *r);
int lockbox_result_opaque(const lockbox_result *r);
/* The i-th category of the result in the order its JSON "categories" lists them; NULL
 * past the last. */
const char *lockbox_result_category(const lockbox_result *r, size_t i);

/* Appends the contract's one-line JSON object (no trailing newline). The output is always
 * valid UTF-8 JSON: each byte of the input that is not valid UTF-8 becomes U+FFFD (and the
 * record carries an "invalid-utf8" finding), control characters and bidi/zero-width
 * characters are \u-escaped. Spans are byte offsets [start, end) into the original record
 * bytes, not into the JSON string. */
int lockbox_result_json(const lockbox_result *r, buf *out);
/* Appends the human rendering for `escort explain`: the command with findings underlined,
 * control and deceptive characters escaped, the explanation and the findings. `color`
 * enables ANSI colours. */
int lockbox_result_render(const lockbox_result *r, buf *out, int color);

const char *lockbox_risk_name(lockbox_risk r);

#endif

/* wf_int.h — the few workflow internals that workflow.c lends to the other workflow files
 * (wf_presence.c): the audit path (fail closed), the end of a write transaction and the
 * handle's clock. Not a public API: nothing outside src/workflow includes it. */
#ifndef ESCORT_WORKFLOW_WF_INT_H
#define ESCORT_WORKFLOW_WF_INT_H

#include <jansson.h>
#include <stdint.h>

#include "util/buf.h"
#include "workflow/workflow.h"

/* Appends one audit event for the current action (details stolen; ESC_ENOMEM for NULL). */
int wf_int_audit(wf *w, const char *type, const char *actor, json_t *details, buf *msg);
/* Ends the action's use of the audit log (records of a refusal outside a transaction). */
int wf_int_audit_end(wf *w, buf *msg);
/* Ends a write transaction: audit durable first, then commit; rolls back when rc != 0. */
int wf_int_finish_tx(wf *w, int rc, buf *msg);
/* The handle's clock in microseconds (wf_set_clock's fixed time in tests). */
int64_t wf_int_now_us(const wf *w);

#endif

/* pgnotify.h — the live-event hub (sse.c) hearing other escortd nodes: the listener
 * thread (pgnotify.c) on a shared store's change notification, and the hub's entry points
 * it feeds. Not for use outside src/server. */
#ifndef ESCORT_SERVER_PGNOTIFY_H
#define ESCORT_SERVER_PGNOTIFY_H

#include <stddef.h>

#include "store/store.h"

typedef struct sse_hub sse_hub;
typedef struct srv_pgnotify srv_pgnotify;

/* Starts the listener when store_spec names a store with change notification (a
 * postgres:// URL; NULL or "": SQLite, *out stays NULL and nothing starts). The store
 * need not be reachable yet: the thread connects, and reconnects after a loss, on its
 * own, with the hub polling at its usual pace meanwhile. */
int srv_pgnotify_start(srv_pgnotify **out, sse_hub *h, const char *store_spec, char *err,
                       size_t errlen);
/* Stops and frees the listener; NULL-safe. */
void srv_pgnotify_stop(srv_pgnotify *p);

/* ---- sse.c: what the listener calls (thread-safe) ---- */
/* Polls the store's change feed once, now. */
void sse_hub_kick(sse_hub *h);
/* on: every committed change is heard (sse_hub_request), so the timed poll stops; off:
 * it polls again. */
void sse_hub_listening(sse_hub *h, int on);
/* Sends a request's / a session's change to the streams allowed to see it (a request
 * change the hub already sent is not sent again). */
void sse_hub_request(sse_hub *h, const store_notice *ev);
void sse_hub_session(sse_hub *h, const store_notice *ev);

#endif

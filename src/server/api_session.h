/* api_session.h — escortd's endpoints for escorted interactive sessions (api_session.c,
 * docs/api.md "Sessions"), reached from api_dispatch for paths below /api/v1/sessions. */
#ifndef ESCORT_SERVER_API_SESSION_H
#define ESCORT_SERVER_API_SESSION_H

#include "server/srv_int.h"

/* sub: the path after "/sessions" ("", "/12", "/12/kill", "/12/events", "/12/recording",
 * and for sessions held by escortd "/12/lines", "/12/operator", "/12/interrupt",
 * "/12/end"). */
enum MHD_Result api_session(srv_call *k, const char *sub);
/* The session as the API shows it to the caller. */
json_t *api_session_json(srv_call *k, const store_isession *se);

/* ---- sessions held by escortd (session_host.c) ---- */
/* POST /sessions: opens a session held here (policy check, recording, shell). */
enum MHD_Result api_session_host_start(srv_call *k);
/* rest: "/lines", "/operator", "/interrupt", "/end"; *handled 0 for any other. */
enum MHD_Result api_session_host_call(srv_call *k, int64_t id, const char *rest, int *handled);
/* After the kill switch: a session held here and idle is ended at once. */
void api_session_host_killed(srv_call *k, int64_t id);
/* Before the server stops: running lines are interrupted, every held session ended. */
void api_session_stop(srv *S);

#endif

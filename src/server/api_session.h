/* api_session.h — escortd's endpoints for escorted interactive sessions (api_session.c,
 * docs/api.md "Sessions"), reached from api_dispatch for paths below /api/v1/sessions. */
#ifndef ESCORT_SERVER_API_SESSION_H
#define ESCORT_SERVER_API_SESSION_H

#include "server/srv_int.h"

/* sub: the path after "/sessions" ("", "/12", "/12/kill", "/12/events", "/12/recording"). */
enum MHD_Result api_session(srv_call *k, const char *sub);

#endif

/* api_presence.h — escortd's presence endpoint for interactive sessions (api_presence.c,
 * docs/api.md "Presence"): GET/POST /api/v1/sessions/ID/presence. */
#ifndef ESCORT_SERVER_API_PRESENCE_H
#define ESCORT_SERVER_API_PRESENCE_H

#include "server/srv_int.h"

/* 1 when path (below /api/v1) is "/sessions/ID/presence". */
int api_presence_path(const char *path);
/* Answers GET (the session's presence and quorum) or POST {"action": "join" | "leave" |
 * "prove", "code": "123456"} (the caller's presence) for that path. */
enum MHD_Result api_presence(srv_call *k, const char *path);

#endif

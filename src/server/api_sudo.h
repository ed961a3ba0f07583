/* api_sudo.h — escortd's sudo approval endpoints (api_sudo.c, docs/sudo.md), reached from
 * api_dispatch for paths below /api/v1/sudo. */
#ifndef ESCORT_SERVER_API_SUDO_H
#define ESCORT_SERVER_API_SUDO_H

#include "server/srv_int.h"

/* sub: the path after "/sudo" ("", "/12", "/12/claim", "/12/cancel"). */
enum MHD_Result api_sudo(srv_call *k, const char *sub);

#endif

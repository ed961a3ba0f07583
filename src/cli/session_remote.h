/* session_remote.h — `escort session start` against escortd (--server URL or
 * $ESCORT_SERVER): the server holds the session (docs/api.md "Sessions held by escortd");
 * this process edits lines, shows the operator's output and notices, and sends Ctrl-C
 * and Ctrl-D. */
#ifndef ESCORT_CLI_SESSION_REMOTE_H
#define ESCORT_CLI_SESSION_REMOTE_H

/* Exit status as the local mode's: 0, 1, 2 usage, 3 refused, 4 not found, 5 conflict. */
int cli_session_remote_start(const char *url, const char *target, const char *ticket);

#endif

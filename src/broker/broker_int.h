/* broker_int.h — what the broker's files share: the output sink (cap, hash, callback),
 * the monotonic clock, the scrubbed environment, and the per-transport entry points. */
#ifndef ESCORT_BROKER_BROKER_INT_H
#define ESCORT_BROKER_BROKER_INT_H

#include <libssh/libssh.h>
#include <openssl/evp.h>

#include "broker/broker.h"

#define BK_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct bk_sink {
	broker_result *res;
	const broker_limits *lim;
	size_t max;
	EVP_MD_CTX *md[2]; /* stdout, stderr */
} bk_sink;

int bk_sink_init(bk_sink *s, broker_result *res, const broker_limits *lim);
void bk_sink_put(bk_sink *s, int stream, const unsigned char *p, size_t n);
void bk_sink_finish(bk_sink *s); /* computes the hashes, frees the contexts */

int64_t bk_now_ms(void);
unsigned bk_timeout_ms(const broker_limits *lim);

struct bk_ssh_conn;
int bk_local_run(const broker_target *t, const unsigned char *cmd, size_t len,
                 const broker_limits *lim, broker_result *res, buf *msg);
int bk_ssh_run(broker *b, const broker_target *t, const unsigned char *cmd, size_t len,
               const broker_limits *lim, broker_result *res, buf *msg);
void bk_ssh_close_all(broker *b);
/* Connects to an ssh target with the broker's trust rules (no ~/.ssh or /etc/ssh
 * configuration, the host key must match the pinned SHA-256 fingerprint) and
 * authenticates with escort's key file (refused when group or others can read it).
 * *out is ready for channels; the caller disconnects and frees it. Used for the broker's
 * cached connections and for the sessions' persistent shells alike. */
int bk_ssh_connect(const broker_target *t, ssh_session *out, buf *msg);
void bk_ssh_disconnect(broker *b, const broker_target *t);

/* A key file the broker process may use: a regular file of its own uid, no group/other
 * bits (the worker owns the data directory and must not plant one); else 0 and why. */
int bk_key_file_trusted(const char *path, buf *msg);

/* One cached ssh connection per (host, port, user, key, pin). */
#define BK_MAX_CONN 16
struct broker {
	struct bk_ssh_conn *conn[BK_MAX_CONN];
	size_t nconn;
};

#endif

/* server.h — escortd: the HTTP JSON API of docs/api.md over libmicrohttpd (thread pool),
 * bearer-token and console-session authentication, server-sent events, and the static
 * console. Every action goes through the workflow; the server keeps no state of its own
 * beyond rate-limit counters and live-feed subscribers. */
#ifndef ESCORT_SERVER_SERVER_H
#define ESCORT_SERVER_SERVER_H

#include <stddef.h>

#include "lockbox/lockbox.h"

#define SRV_DEFAULT_LISTEN "127.0.0.1:8443"
#define SRV_DEFAULT_MAX_BODY ((size_t)1 << 20)

typedef struct srv_opts {
	const char *datadir;
	const char *listen;   /* "HOST:PORT", "[::1]:PORT"; port 0 picks a free one */
	const char *web_dir;  /* static console files, or NULL */
	const char *tls_cert; /* PEM files; both or neither */
	const char *tls_key;
	const lockbox *lb;    /* borrowed; analysis for create/analyze/explain */
	unsigned threads;     /* worker threads (0: 4) */
	size_t max_body;      /* bytes (0: SRV_DEFAULT_MAX_BODY) */
	unsigned rate;        /* requests per second per identity (0: 20; burst 5x) */
	unsigned max_conns;   /* connections in all (0: 256) */
	unsigned per_ip;      /* connections per client address (0: 32) */
	unsigned timeout_s;   /* idle connection timeout (0: 30) */
} srv_opts;

/* Listens, prints "escort serve: listening on URL" on stderr, serves until SIGTERM or
 * SIGINT, then stops accepting, lets in-flight requests finish, ends event streams and
 * records server.stopped in the audit log (signing a tree head). 0, or a negative ESC_E*
 * code with a message in err (bad address, TLS refused, cannot bind...). */
int srv_run(const srv_opts *o, char *err, size_t errlen);

/* 1 when host (numeric or "localhost") is a loopback address. */
int srv_is_loopback(const char *host);

/* Writes dir/cert.pem and dir/key.pem: a self-signed EC P-256 certificate for trials
 * (30 days; subjectAltName localhost, 127.0.0.1, ::1 and cn when given). Refuses to
 * overwrite. */
int srv_make_cert(const char *dir, const char *cn, char *err, size_t errlen);

#endif

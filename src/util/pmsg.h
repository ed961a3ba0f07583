/* pmsg.h — the privilege-separation message codec: one message per SOCK_SEQPACKET
 * datagram, a two-byte header (version, type) and typed, length-checked fields. The
 * decoder reads untrusted bytes from a less privileged peer: every getter fails instead
 * of overrunning, and a message with bytes left over after its last field is malformed.
 *
 * MUST: never hand a field to a caller before its length was checked against what is left.
 * MUST: a receiver treats any decode error as a protocol violation (log, close the peer). */
#ifndef ESCORT_UTIL_PMSG_H
#define ESCORT_UTIL_PMSG_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#include <pthread.h>

#define PMSG_VERSION 1
#define PMSG_HDR 2
/* Largest datagram either side sends or accepts (payload plus header). */
#define PMSG_MAX ((size_t)64 * 1024)
/* Largest string or byte field inside one message. */
#define PMSG_FIELD_MAX (PMSG_MAX - 64)

/* A read-only view of one received message, consumed field by field. */
typedef struct pmsg_rd {
	const uint8_t *p;
	size_t len, off;
	int type;
} pmsg_rd;

/* Starts a message of type (1..255) in b (reset first; b's max should be PMSG_MAX). */
int pmsg_begin(buf *b, int type);
int pmsg_put_u8(buf *b, uint8_t v);
int pmsg_put_u32(buf *b, uint32_t v);
int pmsg_put_u64(buf *b, uint64_t v);
int pmsg_put_i64(buf *b, int64_t v);
/* Fixed-size bytes (the receiver knows n). */
int pmsg_put_raw(buf *b, const void *p, size_t n);
/* u32 length, then the bytes (n <= PMSG_FIELD_MAX). */
int pmsg_put_bytes(buf *b, const void *p, size_t n);
/* An optional string: u8 present flag, then bytes without the NUL (s may be NULL). */
int pmsg_put_str(buf *b, const char *s);

/* Checks the header (version, a non-zero type, total length) of data[0..len). The view
 * borrows data. ESC_EPARSE when malformed. */
int pmsg_open(pmsg_rd *r, const void *data, size_t len);
int pmsg_get_u8(pmsg_rd *r, uint8_t *v);
int pmsg_get_u32(pmsg_rd *r, uint32_t *v);
int pmsg_get_u64(pmsg_rd *r, uint64_t *v);
int pmsg_get_i64(pmsg_rd *r, int64_t *v);
int pmsg_get_raw(pmsg_rd *r, void *out, size_t n);
/* *p points into the message (valid while it is); *n <= max else ESC_EPARSE. */
int pmsg_get_bytes(pmsg_rd *r, const uint8_t **p, size_t *n, size_t max);
/* A newly allocated C string (NULL when absent) of at most max bytes; a NUL inside or a
 * present flag other than 0/1 is ESC_EPARSE. Free with free(). */
int pmsg_get_str(pmsg_rd *r, char **s, size_t max);
/* 0 when every byte was consumed, else ESC_EPARSE (trailing garbage). */
int pmsg_end(const pmsg_rd *r);

/* Sends b as one datagram (retrying on EINTR). ESC_EIO when the peer is gone. */
int pmsg_send(int fd, const buf *b);
/* Receives one datagram into b (its max set to PMSG_MAX + 1, storage reused) and opens
 * it into r.
 * timeout_ms < 0 waits forever. ESC_ENOENT on orderly close by the peer, ESC_EIO on an
 * error or time-out (errno ETIMEDOUT), ESC_EPARSE for a truncated (oversized), ancillary
 * -carrying or malformed datagram. */
int pmsg_recv(int fd, buf *b, pmsg_rd *r, int timeout_ms);
/* As pmsg_recv, for a channel that may pass one descriptor with a datagram: *passed gets
 * it (-1 when none came); more than one, or other ancillary data, is ESC_EPARSE and every
 * descriptor that arrived is closed. */
int pmsg_recv_fd(int fd, buf *b, pmsg_rd *r, int timeout_ms, int *passed);
/* As pmsg_send, passing descriptor fd along (fd < 0: none). */
int pmsg_send_fd(int sock, const buf *b, int fd);

/* The client end of a channel to a privileged peer (signer, broker), shared by its
 * threads: one request at a time under mu; dead once the peer hung up or misbehaved. */
typedef struct pmsg_client {
	pthread_mutex_t mu;
	int fd;
	int attached;
	int dead;
} pmsg_client;
#define PMSG_CLIENT_INIT { PTHREAD_MUTEX_INITIALIZER, -1, 0, 0 }

/* 1 when the peer is gone for good (hung up, or sent something nobody asked for). Never
 * waits: while a request is in flight the peer is alive as far as anyone knows. */
int pmsg_client_failed(pmsg_client *c);

#endif

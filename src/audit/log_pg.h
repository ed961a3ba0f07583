/* log_pg.h — private to src/audit: the audit log kept in PostgreSQL (the store's database)
 * so several escortd nodes share one verifiable log. log.c's public functions dispatch
 * here when the log's backend is PostgreSQL; verify.c walks the rows itself. */
#ifndef ESCORT_AUDIT_LOG_PG_H
#define ESCORT_AUDIT_LOG_PG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/log.h"
#include "audit/merkle.h"
#include "audit/sth.h"
#include "util/buf.h"

typedef struct audit_pg audit_pg;

/* Writer (o->readonly 0): loads DATA/signing.key, creates the audit tables when missing,
 * and refuses a log whose newest tree head another key signed. Reader: connects only;
 * ESC_ENOENT when the database holds no audit log. Messages name the server, never the
 * password. */
int audit_pg_open(audit_pg **out, const char *url, const char *datadir, const audit_opts *o,
                  char *err, size_t errlen);
int audit_pg_close(audit_pg *p, char *err, size_t errlen);
int audit_pg_append(audit_pg *p, const char *type, const char *actor, const json_t *details,
                    uint64_t *seq);
/* n records in one transaction: all of them durable, or none (audit_log_append_many). */
int audit_pg_append_many(audit_pg *p, size_t n, const char *const *types,
                         const char *const *actors, const json_t *const *details,
                         uint64_t *seqs);
int audit_pg_sign(audit_pg *p);
uint64_t audit_pg_size(audit_pg *p);
int audit_pg_latest_sth(audit_pg *p, audit_sth *sth, uint64_t *seq);
int audit_pg_read(audit_pg *p, uint64_t seq, buf *rec);
int audit_pg_inclusion(audit_pg *p, uint64_t seq, uint64_t size, mt_hash *path, size_t *n);
int audit_pg_consistency(audit_pg *p, uint64_t m, uint64_t n, mt_hash *path, size_t *np);
int audit_pg_root(audit_pg *p, uint64_t n, mt_hash *root);
uint64_t audit_pg_commits(audit_pg *p);
const char *audit_pg_error(audit_pg *p);

/* Records in the database's audit log (0 when it has no audit tables); for escort init. */
int audit_pg_count(const char *url, uint64_t *n, char *err, size_t errlen);

/* One stored row, as read (pointers valid until the next call). */
typedef struct audit_pg_row {
	uint64_t seq;        /* the row's key */
	const uint8_t *rec;  /* the canonical record */
	size_t reclen;
	const uint8_t *leaf; /* the stored leaf hash (MT_HASH_LEN bytes) or NULL if malformed */
	const uint8_t *nodes; /* the tree nodes this record completed, levels 1.. */
	size_t nodeslen;
} audit_pg_row;

/* Every row in seq order, from one snapshot (REPEATABLE READ, read only). *head_size gets
 * the head row's record count in that snapshot. */
typedef struct audit_pg_iter audit_pg_iter;
int audit_pg_iter_open(audit_pg_iter **out, const char *url, uint64_t *head_size, char *err,
                       size_t errlen);
/* 0 and the next row; 1 after the last; a negative ESC_E* with a message in err. */
int audit_pg_iter_row(audit_pg_iter *it, audit_pg_row *row, char *err, size_t errlen);
/* audit_iter_next's contract over the rows: gap-free seqs, leaf hash checked unless
 * skip_checksum. */
int audit_pg_iter_next(audit_pg_iter *it, const uint8_t **rec, size_t *len, uint64_t *seq,
                       int skip_checksum, char *err, size_t errlen);
void audit_pg_iter_close(audit_pg_iter *it);

#endif

/* log.h — the append-only audit log: segment files of length-prefixed, checksummed
 * canonical records; an index for random access; the Merkle tree's complete subtrees kept
 * in a post-order node file for O(log n) proofs; group-committed durable appends; signed
 * tree heads every N records or T seconds and at close; crash recovery at open. */
#ifndef ESCORT_AUDIT_LOG_H
#define ESCORT_AUDIT_LOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/merkle.h"
#include "audit/sth.h"
#include "util/buf.h"

/* Layout under the data directory. */
#define AUDIT_SUBDIR "audit"
#define AUDIT_SEGDIR "audit/seg"
#define AUDIT_SEG_MAGIC "ESCSEG01"
#define AUDIT_SEG_HDR 16   /* magic(8) first seq (u64 LE) */
#define AUDIT_FRAME_HDR 12 /* length (u32 LE), check (8 bytes: leaf hash prefix) */
#define AUDIT_INDEX_ENTRY 16

typedef struct audit_log audit_log;

typedef struct audit_opts {
	uint64_t sth_every;     /* sign a tree head after this many records (0: 1000) */
	unsigned sth_seconds;   /* ... or at an append this long after the last one (0: 60) */
	uint64_t segment_max;   /* start a new segment beyond this size (0: 64 MiB) */
	int readonly;           /* no lock, no key, no recovery, no writes */
	unsigned lock_wait_ms;  /* wait this long for another writer to finish (0: not at all) */
	const char *pg_url;     /* the log in this PostgreSQL database (log_pg.c); NULL: there
	                           when $ESCORT_STORE is a postgres:// URL; "": the files */
} audit_opts;

/* The PostgreSQL URL the log of o (NULL: defaults) lives at, or NULL for the files under
 * the data directory. Readers that take only a data directory (audit_iter_open,
 * audit_verify) use the default. */
const char *audit_backend_url(const audit_opts *o);

/* Opens (writer: creates DIR/audit if needed, takes DIR/audit/lock, loads the signing
 * key, recovers a torn tail) the log under datadir. Messages name file and offset. */
int audit_log_open(audit_log **out, const char *datadir, const audit_opts *o, char *err,
                   size_t errlen);
/* Signs a final tree head when records are unsigned (writer), closes, frees. NULL-safe. */
int audit_log_close(audit_log *l, char *err, size_t errlen);

/* Appends one event and returns only when its bytes are durable (group commit across
 * threads). details is borrowed and must be an object. Type "sth" is reserved. After a
 * failed sync the log refuses every further append (fail closed). */
int audit_log_append(audit_log *l, const char *type, const char *actor, const json_t *details,
                     uint64_t *seq);
/* Appends n events in this order, next to each other in the log (only a tree head the log
 * signs every sth_every records may fall between them), and returns when all of them are
 * durable: one batch and (up to 8 MiB) one fdatasync for all, where n calls of
 * audit_log_append from one thread would wait for n. Nothing is appended when any of them
 * cannot be rendered. seqs (may be NULL) gets their positions. On an error some of them
 * may be durable (as with n single appends that stop at the first failure, except that
 * the later ones may be written too). A log in PostgreSQL appends them one by one, like n
 * calls of audit_log_append. */
#define AUDIT_HAVE_APPEND_MANY 1
int audit_log_append_many(audit_log *l, size_t n, const char *const *types,
                          const char *const *actors, const json_t *const *details,
                          uint64_t *seqs);
/* Signs a tree head now if any record is not yet covered (writer only). */
int audit_log_sign(audit_log *l);

uint64_t audit_log_size(audit_log *l);
/* The newest signed tree head in the log and the seq of its record; ESC_ENOENT if none. */
int audit_log_latest_sth(audit_log *l, audit_sth *sth, uint64_t *seq);
/* The record bytes of seq (replaces rec's content), checksum-checked. */
int audit_log_read(audit_log *l, uint64_t seq, buf *rec);
/* Proofs from the stored tree, for sizes the node file covers durably. */
int audit_log_inclusion(audit_log *l, uint64_t seq, uint64_t size, mt_hash *path, size_t *n);
int audit_log_consistency(audit_log *l, uint64_t m, uint64_t n, mt_hash *path, size_t *np);
/* Root of the first n records from the stored tree. */
int audit_log_root(audit_log *l, uint64_t n, mt_hash *root);
/* fdatasync calls the group commit made so far (fewer than appends when they overlap). */
uint64_t audit_log_syncs(audit_log *l);
/* Last error message ("" if none) and what recovery did at open ("" if nothing). */
const char *audit_log_error(audit_log *l);
const char *audit_log_recovery(audit_log *l);

/* One frame parsed from untrusted bytes. */
typedef struct audit_frame {
	const uint8_t *rec; /* points into the input */
	size_t reclen;
	size_t next; /* offset just past the frame */
	mt_hash leaf;
} audit_frame;

/* Parses the frame at data[off..len): 0; ESC_ENOENT when it is incomplete (runs past the
 * end: a torn write); ESC_EPARSE (reason in why) when its length or checksum is bad. */
int audit_frame_parse(const uint8_t *data, size_t len, size_t off, audit_frame *f, char *why,
                      size_t whylen);
/* Appends the frame for rec to out. */
int audit_frame_build(const void *rec, size_t reclen, buf *out);
/* Checks a segment header; *first gets its first seq. */
int audit_segment_header(const uint8_t *data, size_t len, uint64_t *first);
/* Sorted first-seqs of the segment files in datadir/audit/seg (caller frees *firsts).
 * ESC_EPARSE with the name in err for a stray file. */
int audit_segment_list(const char *datadir, uint64_t **firsts, size_t *n, char *err,
                       size_t errlen);
/* Reads a whole segment (or other log file) into b (re-initialized; at most 1 GiB), without
 * following a symbolic link. ESC_EIO with errno, or ESC_ETOOBIG. */
int audit_read_segment(const char *path, buf *b);
/* datadir/audit/seg/<20 digits>.seg */
int audit_segment_path(const char *datadir, uint64_t first, char *out, size_t outlen);

/* A sliding window over one segment file for sequential reading: large reads into one
 * reused buffer (no per-record syscalls, no whole-file allocation). */
typedef struct audit_segwin {
	int fd;
	buf b;         /* file bytes [base, base + b.len) */
	uint64_t base;
	int eof;       /* the file has no bytes beyond the window */
} audit_segwin;

/* Opens path (regular file, no symbolic link); ESC_EIO with errno. */
int audit_segwin_open(audit_segwin *w, const char *path);
/* Makes file bytes [off, off + need) available at *p (off must not go backwards). *avail
 * gets how many bytes from off are in the window: at least need unless the file ends
 * first. ESC_EIO with errno on a read error. */
int audit_segwin_get(audit_segwin *w, uint64_t off, size_t need, const uint8_t **p,
                     size_t *avail);
/* Closes the file; keeps the buffer for the next segment (free with audit_segwin_free). */
void audit_segwin_close(audit_segwin *w);
void audit_segwin_free(audit_segwin *w);

/* Every record of the log in order, read sequentially from the segments (length and
 * checksum checked; the tree is not recomputed: that is audit_verify's job). Stops at a
 * torn final record as a live writer may leave one. */
typedef struct audit_iter {
	char *datadir;
	uint64_t *segs;
	size_t nseg, si;
	int open;
	uint64_t off, seq;
	audit_segwin w;
	int skip_checksum; /* set after open: check frame lengths only, not the leaf hash */
	char err[1024];
	struct audit_pg_iter *pg; /* the log is in PostgreSQL: its rows instead */
} audit_iter;

int audit_iter_open(audit_iter *it, const char *datadir, char *err, size_t errlen);
/* 0 with the next record in *rec (valid until the next call) and its position in *seq;
 * 1 after the last record; a negative ESC_E* code with a message in it->err. */
int audit_iter_next(audit_iter *it, const uint8_t **rec, size_t *len, uint64_t *seq);
void audit_iter_close(audit_iter *it);

/* The head file: derived files (index, tree) are durable up to count, the tree root over
 * count records, and where the newest signed tree head known then sits. */
typedef struct audit_head {
	uint64_t count;
	mt_hash root;
	int have_sth;
	uint64_t sth_seq;
} audit_head;
/* ESC_ENOENT when there is no head yet. */
int audit_head_read(const char *datadir, audit_head *h, char *err, size_t errlen);

#endif

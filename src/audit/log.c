/* log.c — segment storage, index, stored Merkle tree, group commit, signed tree heads and
 * crash recovery for the audit log. The segments are the truth; index, tree and head are
 * derived and can be rebuilt from them.
 *
 * Invariants (MUST hold between any two calls; tests in test_auditlog.c):
 *  - MUST: records are written only at the end of the newest segment, in seq order, and a
 *    record's seq equals its position (gap-free: a record that cannot be completed gets no
 *    seq); record times never decrease with seq; nothing is ever rewritten in place.
 *  - MUST: audit_log_append returns success only after fdatasync covered the record's bytes
 *    (and, for a new segment, its directory entry); one fdatasync serves every record
 *    written before it started (group commit). A failed fdatasync fails the log closed.
 *  - MUST: index entry and tree nodes of a record are written before the record itself, so
 *    a durable record never lacks derived data that open would not rebuild.
 *  - MUST: the head file is replaced (write, fdatasync, rename, fsync dir) only after the
 *    index and tree files were fdatasync'ed up to head.count; open trusts derived data only
 *    up to head.count and only when the stored tree's root there equals head.root.
 *  - MUST: a tree head becomes the latest (audit_log_latest_sth, head file) only once its
 *    record, and so every record it covers, is durable; its size equals the seq of its own
 *    record, and the record is the exact canonical rendering of the head. The batch leader
 *    places one after every sth_every records exactly; others come after sth_seconds, on
 *    request and at close.
 *  - MUST: recovery truncates only a torn tail: an incomplete or bad frame at the end of the
 *    newest segment that no valid frame follows, never below head.count; the removed bytes
 *    are kept in DIR/audit/torn-*.bin. Anything else that does not parse refuses the open.
 *  - MUST: one writer process at a time (flock on DIR/audit/lock); threads share the handle.
 */
#include "audit/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/event.h"
#include "audit/log_pg.h"
#include "util/err.h"

#define SEG_READ_MAX ((size_t)1 << 30)
#define PATHLEN 4096
#define SCAN_REBUILD (-100) /* derived data unusable: rescan from record 0 */

#define BATCH_BYTES ((size_t)8 << 20) /* a leader stops taking records beyond this */
/* fdatasync calls in flight at once. With 1 the next leader starts when the sync ends and
 * takes everything queued meanwhile: the biggest batches (~half the appenders) and the
 * fewest syncs. 2 (a leader writes while the previous batch syncs) measured no faster on
 * the 2-core test machine (appends/s there are bound by thread wake-ups) and synced twice
 * as often. With 64 appenders the disk idles 25-40% of the time: a leader whose sync
 * returned, and the next leader it wakes, wait for a CPU behind the ~32 appenders just
 * woken (a leader switched to SCHED_FIFO while it leads gained 20-25% in a trial with a
 * simulated 200 us disk; not done: it needs CAP_SYS_NICE and changes callers' threads). */
#define MAX_SYNCS 1
#define NWQ 8
#define PEND_TAIL_MAX 192              /* `,"seq":N,"time":"T","type":"X"}` */

enum { PEND_QUEUED, PEND_WRITTEN, PEND_DONE };

/* One append (or tree head) on its way into the log; lives on its appender's stack. */
typedef struct pend {
	struct pend *next; /* in the queue, a batch, the written list or a list to complete */
	buf frame;         /* frame header, then the record (completed by the leader) */
	const char *type;  /* borrowed from the appender */
	int is_sth;
	int built;    /* the leader completed the record (leader only) */
	_Atomic int state; /* PEND_*; changed under the lock, read without it by the owner */
	int rc;       /* read by the owner once done */
	uint64_t seq; /* likewise */
	mt_hash leaf;
	uint64_t ticket;  /* queue position: which futex word and bit the owner sleeps on */
	_Atomic int kick; /* the owner is asked to lead */
	audit_sth sth;      /* a tree head: what was signed */
	mt_hash root_after; /* a tree head: the root over seq + 1 records, for the head file */
} pend;

/* A tree head the leader placed on its own (every sth_every records); it becomes the
 * latest once its record is durable. */
typedef struct sth_cand {
	int valid;
	uint64_t seq;
	audit_sth sth;
	mt_hash root1; /* the root over seq + 1 records */
} sth_cand;

struct audit_log {
	char *datadir;
	audit_opts o;
	int lockfd, segfd, idxfd, treefd, readfd;
	uint64_t read_seg; /* segment readfd belongs to */
	/* owned by the leader while one leads: */
	uint64_t seg_first, seg_off;
	mt_frontier fr;
	int64_t last_time;
	uint64_t unsigned_from; /* the seq after the newest tree head written */
	buf frame, widx, wtree; /* a batch's segment, index and tree bytes */
	buf sthbuf;             /* the frame of a tree head the leader signs */
	/* under mu: */
	uint64_t count;      /* records written */
	uint64_t synced;     /* records known durable */
	uint64_t tree_limit; /* stored nodes are trustworthy for trees up to this size */
	audit_head head;
	int have_sth;
	audit_sth sth;
	uint64_t sth_seq;
	double sth_mono;
	_Atomic int64_t sth_due_ns; /* CLOCK_MONOTONIC ns when a timed head is due */
	int have_key;
	audit_key key;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* rare waits: another signer, syncs in flight at a segment roll */
	unsigned cv_waiters;
	pend *qhead, *qtail; /* queued appends, not yet taken by a leader */
	uint64_t next_ticket;
	_Atomic uint32_t wq[NWQ]; /* futex words; owners sleep on bit ticket % 32 of word ticket / 32 % NWQ */
	pend *whead, *wtail; /* written, not yet known durable, in seq order */
	int leading;         /* a leader is writing a batch */
	unsigned nsyncing;   /* fdatasync calls in flight */
	int signing; /* a tree head is being made durable (one at a time) */
	int heading; /* the head file is being replaced (one at a time) */
	mt_hash sth_root1; /* the root over sth_seq + 1 records (for the head file) */
	sth_cand cand;     /* a tree head written, not yet durable */
	int failed;
	uint64_t nsyncs; /* fdatasync calls made for appends (group commit statistics) */
	/* the head file is brought up to a new tree head by a thread of the log's own (when it
	 * could be started), not by the appender whose batch published the head: */
	pthread_t hthr;
	int hthr_on;
	int hwant, hstop; /* under mu */
	pthread_cond_t hcv;
	char err[1024];
	char recov[1024];
	audit_pg *pg; /* the log is in PostgreSQL (log_pg.c): every public call goes there */
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Notes that a tree head became the latest now (lock held). */
static void
sth_noted(audit_log *l)
{
	l->sth_mono = mono_now();
	atomic_store(&l->sth_due_ns, (int64_t)((l->sth_mono + (double)l->o.sth_seconds) * 1e9));
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- frames and segments (pure functions over bytes; fuzzed) ---- */

int
audit_frame_build(const void *rec, size_t reclen, buf *out)
{
	uint8_t hdr[AUDIT_FRAME_HDR];
	mt_hash leaf;
	int rc;

	if (reclen < 2 || reclen > AUDIT_EVENT_MAX)
		return ESC_EINVAL;
	if ((rc = mt_leaf_hash(rec, reclen, &leaf)) != 0)
		return rc;
	put_le32(hdr, (uint32_t)reclen);
	memcpy(hdr + 4, leaf.b, 8);
	if ((rc = buf_put(out, hdr, sizeof(hdr))) != 0)
		return rc;
	return buf_put(out, rec, reclen);
}

int
audit_frame_parse(const uint8_t *data, size_t len, size_t off, audit_frame *f, char *why,
                  size_t whylen)
{
	uint32_t rl;
	int rc;

	memset(f, 0, sizeof(*f));
	if (off > len || len - off < AUDIT_FRAME_HDR) {
		seterr(why, whylen, "incomplete frame header");
		return ESC_ENOENT;
	}
	rl = get_le32(data + off);
	if (rl < 2 || rl > AUDIT_EVENT_MAX) {
		seterr(why, whylen, "bad record length %" PRIu32, rl);
		return ESC_EPARSE;
	}
	if (len - off - AUDIT_FRAME_HDR < rl) {
		seterr(why, whylen, "record of %" PRIu32 " bytes runs past the end of the segment", rl);
		return ESC_ENOENT;
	}
	f->rec = data + off + AUDIT_FRAME_HDR;
	f->reclen = rl;
	f->next = off + AUDIT_FRAME_HDR + rl;
	if ((rc = mt_leaf_hash(f->rec, rl, &f->leaf)) != 0)
		return rc;
	if (memcmp(f->leaf.b, data + off + 4, 8) != 0) {
		seterr(why, whylen, "checksum mismatch");
		return ESC_EPARSE;
	}
	return 0;
}

int
audit_segment_header(const uint8_t *data, size_t len, uint64_t *first)
{
	if (len < AUDIT_SEG_HDR || memcmp(data, AUDIT_SEG_MAGIC, 8) != 0)
		return ESC_EPARSE;
	*first = get_le64(data + 8);
	return 0;
}

int
audit_segment_path(const char *datadir, uint64_t first, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s/%020" PRIu64 ".seg", datadir, AUDIT_SEGDIR, first);

	return (n < 0 || (size_t)n >= outlen) ? ESC_ETOOBIG : 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

int
audit_segment_list(const char *datadir, uint64_t **firsts, size_t *n, char *err, size_t errlen)
{
	char path[PATHLEN];
	DIR *d = NULL;
	struct dirent *e;
	uint64_t *v = NULL, *nv;
	size_t cnt = 0, cap = 0, i;
	int rc = ESC_EIO;

	*firsts = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/%s", datadir, AUDIT_SEGDIR);
	d = opendir(path);
	if (d == NULL) {
		rc = errno == ENOENT ? ESC_ENOENT : ESC_EIO;
		seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	while ((e = readdir(d)) != NULL) {
		const char *s = e->d_name;
		uint64_t val = 0;

		if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
			continue;
		for (i = 0; i < 20 && s[i] >= '0' && s[i] <= '9'; i++) {
			if (val > (UINT64_MAX - 9) / 10) {
				i = 0;
				break;
			}
			val = val * 10 + (uint64_t)(s[i] - '0');
		}
		if (i != 20 || strcmp(s + 20, ".seg") != 0) {
			rc = ESC_EPARSE;
			seterr(err, errlen, "%s/%s: not a segment file name", path, s);
			goto out;
		}
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				rc = ESC_ENOMEM;
				goto out;
			}
			v = nv;
		}
		v[cnt++] = val;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*firsts = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	if (d)
		closedir(d);
	free(v);
	return rc;
}

/* ---- small file helpers ---- */

static int
pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *q = p;
	ssize_t w;

	while (n > 0) {
		w = pwrite(fd, q, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return ESC_EIO;
		}
		q += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int
pread_all(int fd, void *p, size_t n, uint64_t off)
{
	uint8_t *q = p;
	ssize_t r;

	while (n > 0) {
		r = pread(fd, q, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ENODATA;
			return ESC_EIO;
		}
		q += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return ESC_EIO;
	if (fsync(fd) != 0)
		rc = ESC_EIO;
	close(fd);
	return rc;
}

int
audit_read_segment(const char *path, buf *b)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int rc = ESC_EIO;

	buf_free(b);
	buf_init(b, SEG_READ_MAX);
	if (fd < 0)
		return ESC_EIO;
	if (fstat(fd, &st) != 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > SEG_READ_MAX) {
		rc = ESC_ETOOBIG;
		goto out;
	}
	/* one allocation of the right size: segments are large and read whole */
	if (st.st_size > 0 && (rc = buf_reserve(b, (size_t)st.st_size + 1)) != 0)
		goto out;
	rc = buf_read_fd(b, fd);
out:
	close(fd);
	return rc;
}

/* ---- head file ---- */

int
audit_head_read(const char *datadir, audit_head *h, char *err, size_t errlen)
{
	char path[PATHLEN];
	buf b = BUF_INIT;
	json_t *j = NULL, *jc, *js;
	const char *root;
	int rc;

	memset(h, 0, sizeof(*h));
	snprintf(path, sizeof(path), "%s/%s/head", datadir, AUDIT_SUBDIR);
	rc = audit_read_segment(path, &b);
	if (rc) {
		if (errno == ENOENT) {
			rc = ESC_ENOENT;
		} else {
			seterr(err, errlen, "cannot read %s: %s", path, strerror(errno));
		}
		goto out;
	}
	rc = ESC_EPARSE;
	j = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
	jc = json_object_get(j, "count");
	js = json_object_get(j, "sth_seq");
	root = json_string_value(json_object_get(j, "root"));
	if (!json_is_integer(jc) || json_integer_value(jc) < 0 || !root ||
	    audit_hash_unhex(root, &h->root) || !(json_is_null(js) || json_is_integer(js)) ||
	    (json_is_integer(js) && (json_integer_value(js) < 0 ||
	                             json_integer_value(js) >= json_integer_value(jc)))) {
		seterr(err, errlen, "%s: damaged head file", path);
		goto out;
	}
	h->count = (uint64_t)json_integer_value(jc);
	h->have_sth = json_is_integer(js);
	h->sth_seq = h->have_sth ? (uint64_t)json_integer_value(js) : 0;
	rc = 0;
out:
	json_decref(j);
	buf_free(&b);
	return rc;
}

/* Replaces datadir/audit/head atomically and durably; touches no log state, so it can run
 * without the log's lock. */
static int
head_write(const char *datadir, const audit_head *h, char *err, size_t errlen)
{
	char path[PATHLEN], tmp[PATHLEN], dir[PATHLEN], root[65];
	buf b = BUF_INIT;
	int fd = -1, rc = ESC_EIO;

	snprintf(dir, sizeof(dir), "%s/%s", datadir, AUDIT_SUBDIR);
	snprintf(path, sizeof(path), "%s/%s/head", datadir, AUDIT_SUBDIR);
	snprintf(tmp, sizeof(tmp), "%s/%s/head.tmp", datadir, AUDIT_SUBDIR);
	audit_hash_hex(&h->root, root);
	if (h->have_sth)
		rc = buf_printf(&b, "{\"count\":%" PRIu64 ",\"root\":\"%s\",\"sth_seq\":%" PRIu64 "}\n",
		                h->count, root, h->sth_seq);
	else
		rc = buf_printf(&b, "{\"count\":%" PRIu64 ",\"root\":\"%s\",\"sth_seq\":null}\n",
		                h->count, root);
	if (rc)
		goto out;
	rc = ESC_EIO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || pwrite_all(fd, b.data, b.len, 0) || fdatasync(fd) != 0 ||
	    rename(tmp, path) != 0 || fsync_dir(dir) != 0) {
		seterr(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	buf_free(&b);
	return rc;
}

/* ---- stored tree ---- */

static int
node_get(void *ctx, unsigned level, uint64_t index, mt_hash *out)
{
	audit_log *l = ctx;
	uint64_t end;

	if (level >= 64 || index > (UINT64_MAX >> level) - 1)
		return ESC_EINVAL;
	end = (index + 1) << level;
	if (end > l->tree_limit || l->treefd < 0)
		return ESC_ENOENT;
	if (pread_all(l->treefd, out->b, MT_HASH_LEN, mt_postorder_pos(level, index) * MT_HASH_LEN))
		return ESC_EIO;
	return 0;
}

/* Rebuilds the frontier for a tree of n leaves from the node file. */
static int
frontier_from_tree(audit_log *l, uint64_t n, mt_frontier *f)
{
	uint64_t start = 0;
	int b, rc;

	mt_frontier_init(f);
	for (b = 63; b >= 0; b--) {
		if (!(n >> b & 1))
			continue;
		rc = node_get(l, (unsigned)b, start >> b, &f->h[f->n]);
		if (rc)
			return rc;
		f->n++;
		start += (uint64_t)1 << b;
	}
	f->size = n;
	return 0;
}

/* ---- recovery scan ---- */

static int
valid_frame_after(const uint8_t *data, size_t len, size_t off)
{
	audit_frame f;
	size_t p;

	for (p = off + 1; p + AUDIT_FRAME_HDR <= len; p++) {
		uint32_t rl = get_le32(data + p);
		if (rl < 2 || rl > AUDIT_EVENT_MAX || len - p - AUDIT_FRAME_HDR < rl)
			continue;
		if (audit_frame_parse(data, len, p, &f, NULL, 0) == 0)
			return 1;
	}
	return 0;
}

/* Takes note of an STH record (already canonical-parsed). */
static int
note_sth(audit_log *l, const audit_event *ev, uint64_t seq)
{
	audit_sth s;

	if (strcmp(ev->type, AUDIT_TYPE_STH) != 0)
		return 0;
	if (audit_sth_from_json(ev->details, &s))
		return ESC_EPARSE;
	l->sth = s;
	l->sth_seq = seq;
	l->have_sth = 1;
	return 0;
}

/* Writes index entry and tree nodes for record seq (writer only). */
static int
derive_write(audit_log *l, uint64_t seq, uint64_t segfirst, uint64_t off, const mt_hash *done,
             unsigned nd)
{
	uint8_t ent[AUDIT_INDEX_ENTRY];

	put_le64(ent, segfirst);
	put_le64(ent + 8, off);
	if (pwrite_all(l->idxfd, ent, sizeof(ent), seq * AUDIT_INDEX_ENTRY))
		return ESC_EIO;
	if (pwrite_all(l->treefd, done, nd * sizeof(mt_hash), mt_postorder_count(seq) * MT_HASH_LEN))
		return ESC_EIO;
	return 0;
}

static int
keep_torn(audit_log *l, uint64_t segfirst, uint64_t off, const uint8_t *p, size_t n)
{
	char path[PATHLEN];
	int fd, rc = ESC_EIO;

	snprintf(path, sizeof(path), "%s/%s/torn-%020" PRIu64 "-%" PRIu64 "-%" PRId64 ".bin",
	         l->datadir, AUDIT_SUBDIR, segfirst, off, audit_time_now());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ESC_EIO;
	if (n == 0 || (pwrite_all(fd, p, n, 0) == 0 && fdatasync(fd) == 0))
		rc = 0;
	close(fd);
	return rc;
}

/* Reads a segment's header and its bytes from off to the end (b re-initialized). */
static int
read_tail(const char *path, uint64_t off, uint8_t hdr[AUDIT_SEG_HDR], buf *b)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int rc = ESC_EIO;

	buf_free(b);
	buf_init(b, SEG_READ_MAX);
	if (fd < 0)
		return ESC_EIO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < off ||
	    (uint64_t)st.st_size - off > SEG_READ_MAX || pread_all(fd, hdr, AUDIT_SEG_HDR, 0) != 0 ||
	    lseek(fd, (off_t)off, SEEK_SET) < 0)
		goto out;
	if ((rc = buf_reserve(b, (size_t)((uint64_t)st.st_size - off) + 1)) == 0)
		rc = buf_read_fd(b, fd);
out:
	close(fd);
	return rc;
}

/* Reads segments from record `start` on, checks every frame, (writer) rebuilds derived data
 * past start and truncates a torn tail. On return l->count, l->fr, the newest STH seen and
 * (writer) l->seg_first/seg_off describe the log. */
static int
scan(audit_log *l, uint64_t start, char *err, size_t errlen)
{
	uint64_t *segs = NULL;
	size_t nseg = 0, i, si = 0;
	char path[PATHLEN], why[256];
	buf b = BUF_INIT;
	size_t off = AUDIT_SEG_HDR, base = 0; /* b holds the file's bytes from base on */
	uint8_t hdr[AUDIT_SEG_HDR];
	int rc;

	memset(hdr, 0, sizeof(hdr));
	rc = audit_segment_list(l->datadir, &segs, &nseg, err, errlen);
	if (rc == ESC_ENOENT && l->o.readonly)
		rc = 0;
	if (rc)
		goto out;
	rc = ESC_EPARSE;
	if (nseg == 0) {
		if (start > 0 || l->head.count > 0) {
			seterr(err, errlen, "%s/%s: no segment files, but the head file records %" PRIu64
			       " records", l->datadir, AUDIT_SEGDIR, l->head.count);
			goto out;
		}
		rc = 0;
		goto out;
	}
	/* the segment holding record `start` */
	for (i = 0; i < nseg; i++)
		if (segs[i] <= start)
			si = i;
	if (segs[0] != 0) {
		audit_segment_path(l->datadir, segs[0], path, sizeof(path));
		seterr(err, errlen, "%s: first segment does not start at record 0", path);
		goto out;
	}
	if (segs[si] < start) {
		uint8_t ent[AUDIT_INDEX_ENTRY];
		audit_frame f;
		mt_hash stored;

		/* resume just after record start-1, whose place the index knows */
		if (pread_all(l->idxfd, ent, sizeof(ent), (start - 1) * AUDIT_INDEX_ENTRY) ||
		    get_le64(ent) != segs[si]) {
			rc = SCAN_REBUILD;
			goto out;
		}
		off = (size_t)get_le64(ent + 8);
		audit_segment_path(l->datadir, segs[si], path, sizeof(path));
		buf_free(&b);
		/* only the tail from there on: the segment may be large and the tail short */
		if (off < AUDIT_SEG_HDR || read_tail(path, off, hdr, &b) != 0 ||
		    audit_frame_parse(b.data, b.len, 0, &f, NULL, 0) != 0 ||
		    node_get(l, 0, start - 1, &stored) != 0 || !mt_hash_eq(&stored, &f.leaf)) {
			rc = SCAN_REBUILD;
			goto out;
		}
		base = off;
		off = base + f.next;
	}
	l->count = start;
	for (i = si; i < nseg; i++) {
		uint64_t first;
		int last = (i + 1 == nseg);

		audit_segment_path(l->datadir, segs[i], path, sizeof(path));
		if (i != si || b.data == NULL) {
			buf_free(&b);
			base = 0;
			rc = audit_read_segment(path, &b);
			if (rc) {
				seterr(err, errlen, "cannot read %s: %s", path,
				       rc == ESC_ETOOBIG ? "segment too large" : strerror(errno));
				goto out;
			}
		}
		if (i != si)
			off = AUDIT_SEG_HDR;
		if (base == 0)
			memcpy(hdr, b.data, b.len < AUDIT_SEG_HDR ? b.len : AUDIT_SEG_HDR);
		if (last && base == 0 && b.len < AUDIT_SEG_HDR && segs[i] == l->count) {
			/* a crash while a new segment was being created */
			if (!l->o.readonly) {
				if (unlink(path) != 0) {
					rc = ESC_EIO;
					seterr(err, errlen, "cannot remove %s: %s", path, strerror(errno));
					goto out;
				}
				seterr(l->recov, sizeof(l->recov), "removed %s: incomplete new segment",
				       path);
				nseg--;
			}
			break;
		}
		rc = ESC_EPARSE;
		if (audit_segment_header(hdr, base ? AUDIT_SEG_HDR : b.len, &first) ||
		    first != segs[i]) {
			seterr(err, errlen, "%s offset 0: bad segment header", path);
			goto out;
		}
		if (first != l->count && !(i == si && first <= start)) {
			seterr(err, errlen, "%s offset 0: segment starts at record %" PRIu64
			       " but record %" PRIu64 " is next", path, first, l->count);
			goto out;
		}
		while (off < base + b.len) {
			audit_frame f;
			audit_event ev;
			mt_hash done[65];
			unsigned nd = 0;

			rc = audit_frame_parse(b.data, b.len, off - base, &f, why, sizeof(why));
			if (rc == ESC_EPARSE || rc == ESC_ENOENT) {
				if (!last || valid_frame_after(b.data, b.len, off - base)) {
					seterr(err, errlen, "%s offset %zu (record %" PRIu64 "): %s", path,
					       off, l->count, why);
					rc = ESC_EPARSE;
					goto out;
				}
				if (l->count < l->head.count) {
					seterr(err, errlen, "%s offset %zu (record %" PRIu64 "): %s; the "
					       "head file says %" PRIu64 " records were durable",
					       path, off, l->count, why, l->head.count);
					rc = ESC_EPARSE;
					goto out;
				}
				if (l->o.readonly) {
					seterr(l->recov, sizeof(l->recov),
					       "%s offset %zu: incomplete record at the end (%s); it is "
					       "removed at the next open for writing", path, off, why);
					rc = 0;
					break;
				}
				if (keep_torn(l, first, off, b.data + (off - base), base + b.len - off) != 0 ||
				    truncate(path, (off_t)off) != 0) {
					seterr(err, errlen, "%s: cannot truncate torn record at offset %zu: %s",
					       path, off, strerror(errno));
					rc = ESC_EIO;
					goto out;
				}
				seterr(l->recov, sizeof(l->recov),
				       "%s offset %zu: removed a torn final record (%s, %zu bytes kept in "
				       "%s/%s/torn-*.bin)", path, off, why, base + b.len - off, l->datadir,
				       AUDIT_SUBDIR);
				b.len = off - base;
				rc = 0;
				break;
			}
			if (rc)
				goto out;
			rc = audit_event_parse(f.rec, f.reclen, &ev, why, sizeof(why));
			if (rc == 0 && ev.seq != l->count) {
				snprintf(why, sizeof(why), "record carries seq %" PRIu64, ev.seq);
				rc = ESC_EPARSE;
			}
			if (rc == 0 && note_sth(l, &ev, l->count) != 0) {
				snprintf(why, sizeof(why), "malformed signed tree head");
				rc = ESC_EPARSE;
			}
			if (rc == 0 && ev.time_us > l->last_time)
				l->last_time = ev.time_us;
			audit_event_free(&ev);
			if (rc) {
				seterr(err, errlen, "%s offset %zu (record %" PRIu64 "): %s", path, off,
				       l->count, why);
				goto out;
			}
			rc = mt_frontier_push(&l->fr, &f.leaf, done, &nd);
			if (rc == 0 && !l->o.readonly)
				rc = derive_write(l, l->count, first, off, done, nd);
			if (rc) {
				seterr(err, errlen, "cannot update the index or tree files in %s/%s: %s",
				       l->datadir, AUDIT_SUBDIR, strerror(errno));
				goto out;
			}
			l->count++;
			off = base + f.next;
		}
		l->seg_first = first;
		l->seg_off = base + b.len;
	}
	rc = 0;
out:
	buf_free(&b);
	free(segs);
	return rc;
}

/* ---- writing ----
 *
 * Group commit. An appender renders the start of its record (actor and details: all the
 * JSON work) without the lock and queues it. One thread at a time leads: it takes the
 * queue, gives the records their seqs and one time in queue order, finishes and hashes
 * them, and writes the batch with one pwrite per file (index, tree, segment), then gives up
 * the lead and runs one fdatasync for them (up to MAX_SYNCS run at once). Everything queued
 * meanwhile is the next batch. A finished sync marks every written record below its target
 * done and wakes exactly those appenders, with one futex call per word (appenders sleep on
 * one bit of a word each, by queue position), after first asking the owner of the first
 * queued record to lead next. The futex words live in the log, not on an appender's stack,
 * and done is the last thing written to an appender's entry, so nothing touches an entry
 * that its owner may already have left. */

/* Owners to wake, as bits of the futex words: one FUTEX_WAKE_BITSET per word wakes a whole
 * batch and nobody else (bar an owner whose ticket is 256 further on: it checks and sleeps
 * again). */
typedef struct wakeset {
	uint32_t mask[NWQ];
} wakeset;

static void
ws_add(wakeset *ws, uint64_t ticket)
{
	ws->mask[(ticket / 32) % NWQ] |= (uint32_t)1 << (ticket % 32);
}

/* Wakes the owners in ws (the lock need not be held; no pend is touched). */
static void
ws_wake(audit_log *l, wakeset *ws)
{
	for (int w = 0; w < NWQ; w++) {
		if (ws->mask[w] == 0)
			continue;
		atomic_fetch_add(&l->wq[w], 1);
		syscall(SYS_futex, &l->wq[w], FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL,
		        ws->mask[w]);
		ws->mask[w] = 0;
	}
}

/* Marks every entry of list done with rc (unless it already failed) and notes its owner in
 * ws. Done is the last thing written to an entry: its owner may return at once. */
static void
complete_list(pend *list, int rc, const pend *self, wakeset *ws)
{
	pend *p, *nx;

	for (p = list; p; p = nx) {
		nx = p->next;
		if (p->rc == 0)
			p->rc = rc;
		if (p != self)
			ws_add(ws, p->ticket);
		atomic_store(&p->state, PEND_DONE);
	}
}

/* Releases the lock, wakes, takes the lock again. */
static void
wake_unlocked(audit_log *l, wakeset *ws)
{
	pthread_mutex_unlock(&l->mu);
	ws_wake(l, ws);
	pthread_mutex_lock(&l->mu);
}

/* Appends list b to list *a (both through next). */
static void
list_cat(pend **a, pend *b)
{
	while (*a)
		a = &(*a)->next;
	*a = b;
}

static int
can_lead(const audit_log *l)
{
	return !l->leading && !l->failed && l->qhead != NULL && l->nsyncing < MAX_SYNCS;
}

/* When a leader could start, asks the owner of the first queued record to lead (woken
 * through ws by the caller). */
static void
pick_kick(audit_log *l, const pend *self, wakeset *ws)
{
	pend *h = l->qhead;

	if (!can_lead(l) || h == self || atomic_load(&h->kick))
		return;
	atomic_store(&h->kick, 1);
	ws_add(ws, h->ticket);
}

/* Fails the log closed (lock held): every queued and written record fails; their owners
 * are added to *done. */
static int
fail_closed(audit_log *l, const char *what, int saved_errno, pend **done)
{
	pend *v = NULL;

	if (!l->failed)
		seterr(l->err, sizeof(l->err), "%s: %s; the audit log refuses further appends", what,
		       strerror(saved_errno));
	l->failed = 1;
	list_cat(&v, l->whead);
	list_cat(&v, l->qhead);
	l->whead = l->wtail = l->qhead = l->qtail = NULL;
	for (pend *p = v; p; p = p->next)
		p->rc = ESC_EIO;
	list_cat(done, v);
	return ESC_EIO;
}

static int
segment_create(audit_log *l, uint64_t first, char *err, size_t errlen)
{
	char path[PATHLEN], dir[PATHLEN];
	uint8_t hdr[AUDIT_SEG_HDR];
	int fd;

	audit_segment_path(l->datadir, first, path, sizeof(path));
	snprintf(dir, sizeof(dir), "%s/%s", l->datadir, AUDIT_SEGDIR);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		seterr(err, errlen, "cannot create %s", path);
		return ESC_EIO;
	}
	memcpy(hdr, AUDIT_SEG_MAGIC, 8);
	put_le64(hdr + 8, first);
	if (pwrite_all(fd, hdr, sizeof(hdr), 0) || fdatasync(fd) != 0 || fsync_dir(dir) != 0) {
		int saved = errno;

		seterr(err, errlen, "cannot write %s", path);
		close(fd);
		errno = saved;
		return ESC_EIO;
	}
	if (l->segfd >= 0)
		close(l->segfd);
	l->segfd = fd;
	l->seg_first = first;
	l->seg_off = AUDIT_SEG_HDR;
	return 0;
}

/* 1 when JSON text holds a NUL character (\u0000 not itself escaped): jansson writes it,
 * but audit_event_parse (and so open and verify) would refuse the record for good. */
static int
has_escaped_nul(const uint8_t *p, size_t n)
{
	for (size_t i = 1; i + 5 <= n; i++) {
		size_t k = 0;

		if (memcmp(p + i, "u0000", 5) != 0)
			continue;
		while (k < i && p[i - 1 - k] == '\\')
			k++;
		if (k % 2 == 1)
			return 1;
	}
	return 0;
}

/* Dumps j at the end of out, straight into its storage (no intermediate string). */
static int
dump_into(const json_t *j, size_t flags, buf *out)
{
	size_t n, room;
	int rc;

	if ((rc = buf_reserve(out, 256)) != 0)
		return rc;
	room = out->cap - out->len - 1;
	n = json_dumpb(j, (char *)out->data + out->len, room, flags);
	if (n == 0)
		return ESC_EINVAL;
	if (n > room) {
		if ((rc = buf_reserve(out, n)) != 0)
			return rc;
		if (json_dumpb(j, (char *)out->data + out->len, n, flags) != n)
			return ESC_EINVAL;
	}
	out->len += n;
	out->data[out->len] = 0;
	return 0;
}

/* ---- canonical JSON written directly ----
 * The bytes json_dumpb(JSON_COMPACT | JSON_SORT_KEYS) makes (and audit_event_parse demands),
 * without jansson's per-object key array, sort and key lookups, or snprintf per number:
 * about a microsecond per append. Strings: UTF-8 checked as jansson checks it, `"` `\\` and
 * controls escaped (\b \f \n \r \t, else \u00XX in upper case), nothing else; a NUL is
 * refused (audit_event_parse refuses \u0000). Keys sorted bytewise; reals as jansson
 * spells them. Whatever this writer does not cover (deep nesting, big objects, huge
 * strings) is left to jansson (CANON_JANSSON); test_auditlog compares both over random
 * documents. */
#define CANON_JANSSON 1 /* not an error: render this value with jansson */
#define CANON_DEPTH 32
#define CANON_KEYS 64

typedef struct canon_key {
	const char *k;
	size_t n;
	json_t *v;
} canon_key;

/* 0: plain ASCII copied as is; 1: escape with a letter; 2: \u00XX; 3: multi-byte UTF-8;
 * 4: never valid in UTF-8; 5: NUL */
static const uint8_t canon_class[256] = {
	[0] = 5,
	[1] = 2, [2] = 2, [3] = 2, [4] = 2, [5] = 2, [6] = 2, [7] = 2, [8] = 1, [9] = 1,
	[10] = 1, [11] = 2, [12] = 1, [13] = 1, [14] = 2, [15] = 2, [16] = 2, [17] = 2, [18] = 2,
	[19] = 2, [20] = 2, [21] = 2, [22] = 2, [23] = 2, [24] = 2, [25] = 2, [26] = 2, [27] = 2,
	[28] = 2, [29] = 2, [30] = 2, [31] = 2, ['"'] = 1, ['\\'] = 1,
	[0x80 ... 0xC1] = 4, [0xC2 ... 0xF4] = 3, [0xF5 ... 0xFF] = 4,
};

/* Length of the valid UTF-8 sequence at p (first byte classed 3), 0 if invalid: no
 * overlong form, no surrogate, nothing above U+10FFFF (as jansson's utf8_check_full). */
static size_t
canon_utf8(const uint8_t *p, size_t avail)
{
	uint32_t c = p[0], v;
	size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2, i;

	if (avail < n)
		return 0;
	v = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	return n;
}

static int
canon_string(const char *str, size_t len, buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const uint8_t *s = (const uint8_t *)str;
	uint8_t *o;
	size_t i = 0, k;
	int rc;

	if (len > (AUDIT_EVENT_MAX - 2) / 6)
		return CANON_JANSSON; /* too long to reserve the worst case: jansson sizes it */
	if ((rc = buf_reserve(out, 6 * len + 2)) != 0)
		return rc == ESC_ETOOBIG ? CANON_JANSSON : rc;
	o = out->data + out->len;
	*o++ = '"';
	while (i < len) {
		uint8_t c = s[i];

		switch (canon_class[c]) {
		case 0:
			*o++ = c;
			i++;
			break;
		case 1:
			*o++ = '\\';
			*o++ = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' :
			       c == '\t' ? 't' : c;
			i++;
			break;
		case 2:
			memcpy(o, "\\u00", 4);
			o[4] = (uint8_t)hex[c >> 4];
			o[5] = (uint8_t)hex[c & 15];
			o += 6;
			i++;
			break;
		case 3:
			if ((k = canon_utf8(s + i, len - i)) == 0)
				return ESC_EINVAL;
			memcpy(o, s + i, k);
			o += k;
			i += k;
			break;
		default: /* invalid UTF-8, or a NUL */
			return ESC_EINVAL;
		}
	}
	*o++ = '"';
	out->len = (size_t)(o - out->data);
	out->data[out->len] = 0;
	return 0;
}

static int
canon_int(json_int_t v, buf *out)
{
	char tmp[24];
	size_t n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[sizeof(tmp) - 1 - n++] = '-';
	return buf_put(out, tmp + sizeof(tmp) - n, n);
}

static int
canon_keycmp(const canon_key *a, const canon_key *b)
{
	int c = memcmp(a->k, b->k, a->n < b->n ? a->n : b->n);

	return c ? c : (a->n > b->n) - (a->n < b->n);
}

static int canon_value(const json_t *j, unsigned depth, buf *out);

static int
canon_object(const json_t *j, unsigned depth, buf *out)
{
	canon_key keys[CANON_KEYS], t;
	const char *k;
	json_t *v;
	size_t n = 0, i, m, kl;
	int rc;

	if (json_object_size(j) > CANON_KEYS)
		return CANON_JANSSON;
	json_object_keylen_foreach((json_t *)j, k, kl, v) {
		if (n == CANON_KEYS)
			return CANON_JANSSON;
		keys[n++] = (canon_key){ k, kl, v };
	}
	/* insertion sort: records have a handful of keys */
	for (i = 1; i < n; i++) {
		t = keys[i];
		for (m = i; m > 0 && canon_keycmp(&keys[m - 1], &t) > 0; m--)
			keys[m] = keys[m - 1];
		keys[m] = t;
	}
	if ((rc = buf_putc(out, '{')) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		if ((i && (rc = buf_putc(out, ',')) != 0) ||
		    (rc = canon_string(keys[i].k, keys[i].n, out)) != 0 ||
		    (rc = buf_putc(out, ':')) != 0 || (rc = canon_value(keys[i].v, depth + 1, out)) != 0)
			return rc;
	}
	return buf_putc(out, '}');
}

static int
canon_value(const json_t *j, unsigned depth, buf *out)
{
	size_t i, n;
	int rc;

	if (depth > CANON_DEPTH)
		return CANON_JANSSON;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return canon_object(j, depth, out);
	case JSON_ARRAY:
		n = json_array_size(j);
		if ((rc = buf_putc(out, '[')) != 0)
			return rc;
		for (i = 0; i < n; i++)
			if ((i && (rc = buf_putc(out, ',')) != 0) ||
			    (rc = canon_value(json_array_get(j, i), depth + 1, out)) != 0)
				return rc;
		return buf_putc(out, ']');
	case JSON_STRING:
		return canon_string(json_string_value(j), json_string_length(j), out);
	case JSON_INTEGER:
		return canon_int(json_integer_value(j), out);
	case JSON_TRUE:
		return buf_put(out, "true", 4);
	case JSON_FALSE:
		return buf_put(out, "false", 5);
	case JSON_NULL:
		return buf_put(out, "null", 4);
	case JSON_REAL: /* jansson's own spelling of the number, as it writes it in place */
		return dump_into(j, JSON_ENCODE_ANY | JSON_COMPACT, out);
	default:
		return CANON_JANSSON;
	}
}

/* The start of the canonical record, `{"actor":A,"details":D`, after room for the frame
 * header. Sorted keys put seq, time and type last, and their values need no escaping, so
 * the leader completes the exact bytes audit_event_render makes (test_auditlog checks). */
static int
render_head(const char *type, const char *actor, const json_t *details, buf *out)
{
	static const uint8_t zero[AUDIT_FRAME_HDR];
	size_t start;
	int rc = ESC_EINVAL;

	if (!actor || !details || !json_is_object(details) || !audit_type_valid(type) ||
	    actor[0] == '\0' || strlen(actor) > AUDIT_ACTOR_MAX)
		goto out;
	/* one allocation for a typical record */
	if ((rc = buf_reserve(out, 1024)) != 0 || (rc = buf_put(out, zero, sizeof(zero))) != 0 ||
	    (rc = buf_put(out, "{\"actor\":", 9)) != 0)
		goto out;
	/* the actor is short (checked above), so never left to jansson */
	if ((rc = canon_string(actor, strlen(actor), out)) != 0 ||
	    (rc = buf_put(out, ",\"details\":", 11)) != 0)
		goto out;
	start = out->len;
	rc = canon_value(details, 0, out);
	if (rc == CANON_JANSSON) {
		json_t *back;

		buf_truncate(out, start);
		if ((rc = dump_into(details, JSON_COMPACT | JSON_SORT_KEYS, out)) != 0)
			goto out;
		rc = ESC_EINVAL;
		if (has_escaped_nul(out->data + start, out->len - start))
			goto out;
		/* jansson 2.14 ignores a key it cannot write (invalid UTF-8 in a key made with a
		 * _nocheck call) and goes on: such a record would be unreadable. Rare and large
		 * documents only: parse it back. */
		back = json_loadb((const char *)out->data + start, out->len - start,
		                  JSON_REJECT_DUPLICATES, NULL);
		if (back == NULL)
			goto out;
		json_decref(back);
	} else if (rc != 0) {
		goto out;
	}
	rc = ESC_ETOOBIG;
	if (out->len - AUDIT_FRAME_HDR > AUDIT_EVENT_MAX)
		goto out;
	/* the leader's tail must never need memory */
	rc = buf_reserve(out, PEND_TAIL_MAX);
out:
	return rc;
}

enum { WB_OK, WB_SOFT, WB_FATAL };

/* Signs a tree head over the nf.size records before it and renders its record (seq nf.size,
 * time t) into out after room for the frame header. */
static int
build_sth(audit_log *l, const mt_frontier *nf, int64_t t, audit_sth *s, buf *out)
{
	static const uint8_t zero[AUDIT_FRAME_HDR];
	json_t *det = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	s->size = nf->size;
	s->time_us = t;
	buf_reset(out);
	if ((rc = mt_frontier_root(nf, &s->root)) == 0 && (rc = audit_sth_sign(s, &l->key)) == 0 &&
	    (rc = audit_sth_to_json(s, &det)) == 0 && (rc = buf_put(out, zero, sizeof(zero))) == 0)
		rc = audit_event_render(nf->size, t, AUDIT_TYPE_STH, AUDIT_ACTOR_LOG, det, out);
	json_decref(det);
	return rc;
}

/* Fills the frame header of a frame buffer holding a record after it. */
static int
seal_frame(buf *f, mt_hash *leaf)
{
	int rc;

	if ((rc = mt_leaf_hash(f->data + AUDIT_FRAME_HDR, f->len - AUDIT_FRAME_HDR, leaf)) != 0)
		return rc;
	put_le32(f->data, (uint32_t)(f->len - AUDIT_FRAME_HDR));
	memcpy(f->data + 4, leaf->b, 8);
	return 0;
}

/* Completes an appender's record as seq at time t (tbuf: t formatted). */
static int
finish_record(audit_log *l, pend *p, const mt_frontier *nf, int64_t t, const char *tbuf)
{
	char tail[PEND_TAIL_MAX], digits[20];
	size_t n = 0, nd = 0, tl;
	uint64_t v = nf->size;
	int rc;

	if (p->is_sth) {
		if ((rc = build_sth(l, nf, t, &p->sth, &p->frame)) != 0)
			return rc;
	} else {
		/* `,"seq":N,"time":"T","type":"X"}` by hand: the leader does this for every record
		 * of a batch while the batch waits (snprintf was a third of it) */
		tl = strlen(p->type);
		if (tl > AUDIT_TYPE_MAX || strlen(tbuf) != 27)
			return ESC_EINVAL;
		do {
			digits[sizeof(digits) - 1 - nd++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		memcpy(tail + n, ",\"seq\":", 7);
		n += 7;
		memcpy(tail + n, digits + sizeof(digits) - nd, nd);
		n += nd;
		memcpy(tail + n, ",\"time\":\"", 9);
		n += 9;
		memcpy(tail + n, tbuf, 27);
		n += 27;
		memcpy(tail + n, "\",\"type\":\"", 10);
		n += 10;
		memcpy(tail + n, p->type, tl);
		n += tl;
		memcpy(tail + n, "\"}", 2);
		n += 2;
		if (p->frame.len - AUDIT_FRAME_HDR + n > AUDIT_EVENT_MAX)
			return ESC_ETOOBIG;
		if ((rc = buf_put(&p->frame, tail, n)) != 0)
			return rc;
	}
	if ((rc = seal_frame(&p->frame, &p->leaf)) != 0)
		return rc;
	p->built = 1;
	return 0;
}

/* Writes the batch (the leader, without the lock): seqs in list order, a tree head after
 * every sth_every records, index entries and tree nodes before the records, one pwrite per
 * file and segment; a segment that would grow past its maximum is synced and the next one
 * started. An entry that cannot be completed fails alone (no seq). WB_SOFT: a segment write
 * failed (msg); that part was taken back and it and the rest of the batch fail, the log
 * goes on. WB_FATAL: the log must fail closed (msg, errno). *countp gets the records
 * written in the end; *cand the newest tree head placed here on the leader's own. */
static int
write_batch(audit_log *l, pend *batch, uint64_t *countp, sth_cand *cand, char *msg,
            size_t msglen)
{
	pend *p = batch, *p0;
	uint64_t next = l->count, first, off, unsigned0;
	int64_t t = audit_time_now();
	char tbuf[32], path[PATHLEN];
	mt_frontier nf;
	mt_hash done[65], leaf, *lp;
	uint8_t ent[AUDIT_INDEX_ENTRY];
	sth_cand c;
	buf *fb;
	unsigned nd;
	int rc, ret = WB_OK, roll, inl, have_inl = 0;

	memset(&c, 0, sizeof(c));
	if (t < l->last_time)
		t = l->last_time; /* record times never go backwards, even if the clock does */
	if (audit_time_format(t, tbuf, sizeof(tbuf)) != 0) {
		for (p = batch; p; p = p->next)
			p->rc = ESC_EINVAL;
		seterr(msg, msglen, "the clock is out of range");
		ret = WB_SOFT;
		goto out;
	}
	l->last_time = t;
	do {
		buf_reset(&l->frame);
		buf_reset(&l->widx);
		buf_reset(&l->wtree);
		nf = l->fr;
		off = l->seg_off;
		first = next;
		p0 = p;
		unsigned0 = l->unsigned_from;
		roll = 0;
		for (;;) {
			inl = next - l->unsigned_from >= l->o.sth_every;
			if (inl) {
				/* a tree head every sth_every records, exactly: the leader signs it */
				if (!have_inl) {
					if ((rc = build_sth(l, &nf, t, &c.sth, &l->sthbuf)) != 0 ||
					    (rc = seal_frame(&l->sthbuf, &leaf)) != 0) {
						errno = EINVAL;
						seterr(msg, msglen, "cannot sign a tree head (%s)",
						       esc_strerror(rc));
						ret = WB_FATAL;
						goto out;
					}
					have_inl = 1;
				}
				fb = &l->sthbuf;
				lp = &leaf;
			} else {
				if (p == NULL)
					break;
				if (p->rc || (!p->built && (p->rc = finish_record(l, p, &nf, t, tbuf)) != 0)) {
					p = p->next;
					continue;
				}
				fb = &p->frame;
				lp = &p->leaf;
			}
			if (off > AUDIT_SEG_HDR && off + fb->len > l->o.segment_max) {
				roll = 1; /* a new segment first */
				break;
			}
			put_le64(ent, l->seg_first);
			put_le64(ent + 8, off);
			if ((rc = mt_frontier_push(&nf, lp, done, &nd)) != 0 ||
			    (rc = buf_put(&l->widx, ent, sizeof(ent))) != 0 ||
			    (rc = buf_put(&l->wtree, done, nd * sizeof(mt_hash))) != 0 ||
			    (rc = buf_put(&l->frame, fb->data, fb->len)) != 0) {
				errno = ENOMEM;
				seterr(msg, msglen, "cannot prepare audit records (%s)", esc_strerror(rc));
				ret = WB_FATAL;
				goto out;
			}
			if (inl || p->is_sth) {
				mt_hash *r1 = inl ? &c.root1 : &p->root_after;

				if ((rc = mt_frontier_root(&nf, r1)) != 0) {
					errno = EINVAL;
					seterr(msg, msglen, "cannot compute the tree root (%s)", esc_strerror(rc));
					ret = WB_FATAL;
					goto out;
				}
				l->unsigned_from = next + 1;
			}
			if (inl) {
				c.seq = next;
				c.valid = 2; /* committed with the chunk */
				have_inl = 0;
			} else {
				p->seq = next;
				p = p->next;
			}
			next++;
			off += fb->len;
		}
		if (next > first) {
			if (pwrite_all(l->idxfd, l->widx.data, l->widx.len, first * AUDIT_INDEX_ENTRY) ||
			    pwrite_all(l->treefd, l->wtree.data, l->wtree.len,
			               mt_postorder_count(first) * MT_HASH_LEN)) {
				seterr(msg, msglen, "cannot write the audit index or tree file");
				ret = WB_FATAL;
				goto out;
			}
			if (pwrite_all(l->segfd, l->frame.data, l->frame.len, l->seg_off) != 0) {
				int saved = errno;

				audit_segment_path(l->datadir, l->seg_first, path, sizeof(path));
				/* take back a partial batch so the segment stays well-formed (disk full) */
				if (ftruncate(l->segfd, (off_t)l->seg_off) != 0) {
					seterr(msg, msglen, "cannot undo a partial write to %s", path);
					ret = WB_FATAL;
					goto out;
				}
				seterr(msg, msglen, "cannot write %s at offset %" PRIu64 ": %s", path,
				       l->seg_off, strerror(saved));
				for (p = p0; p; p = p->next)
					if (p->rc == 0)
						p->rc = ESC_EIO;
				if (c.valid == 2)
					c.valid = 0;
				next = first;
				l->unsigned_from = unsigned0;
				ret = WB_SOFT;
				goto out;
			}
			l->fr = nf;
			l->seg_off = off;
			if (c.valid == 2)
				*cand = c, cand->valid = 1;
			c.valid = 0;
		}
		if (roll) {
			/* the full segment durable before the next one exists; open relies on it */
			if (fdatasync(l->segfd) != 0) {
				seterr(msg, msglen, "fdatasync of the audit segment failed");
				ret = WB_FATAL;
				goto out;
			}
			/* a sync in flight may still use the old descriptor */
			pthread_mutex_lock(&l->mu);
			while (l->nsyncing > 0) {
				l->cv_waiters++;
				pthread_cond_wait(&l->cv, &l->mu);
				l->cv_waiters--;
			}
			pthread_mutex_unlock(&l->mu);
			if (segment_create(l, next, msg, msglen) != 0) {
				ret = WB_FATAL;
				goto out;
			}
		}
	} while (roll);
out:
	*countp = next;
	return ret;
}

static int head_update(audit_log *l, int wait);
static void head_kick(audit_log *l);

/* Leads one batch (lock held on entry and exit; may be released in between): writes the
 * queue, then syncs it and completes what the sync covered. */
static void
lead(audit_log *l, const pend *self)
{
	pend *batch, *last, *p, **pp, *failed = NULL, *done = NULL;
	wakeset ws = { { 0 } };
	uint64_t count, target;
	size_t bytes = 0;
	sth_cand cand;
	char msg[1024] = "";
	int wb, r, fd, saved, published = 0;

	l->leading = 1;
	batch = last = l->qhead;
	for (p = batch; p && bytes < BATCH_BYTES; p = p->next) {
		bytes += p->frame.len;
		last = p;
	}
	l->qhead = last->next;
	if (l->qhead == NULL)
		l->qtail = NULL;
	last->next = NULL;
	pthread_mutex_unlock(&l->mu);

	memset(&cand, 0, sizeof(cand));
	wb = write_batch(l, batch, &count, &cand, msg, sizeof(msg));
	saved = errno;

	pthread_mutex_lock(&l->mu);
	l->leading = 0;
	/* entries that failed alone (or with a failed segment write) leave the batch */
	for (pp = &batch; *pp;) {
		p = *pp;
		if (p->rc) {
			*pp = p->next;
			p->next = failed;
			failed = p;
		} else {
			pp = &p->next;
		}
	}
	done = failed;
	if (wb == WB_SOFT)
		seterr(l->err, sizeof(l->err), "%s", msg);
	if (wb != WB_FATAL) {
		l->count = count;
		l->tree_limit = count;
		if (cand.valid)
			l->cand = cand;
	}
	if (wb == WB_FATAL || l->failed) {
		/* nothing of this batch will be acknowledged */
		pend *v = batch;

		for (p = v; p; p = p->next)
			p->rc = ESC_EIO;
		if (wb == WB_FATAL)
			fail_closed(l, msg, saved, &v);
		list_cat(&done, v);
		complete_list(done, ESC_EIO, self, &ws);
		wake_unlocked(l, &ws);
		return;
	}
	complete_list(done, 0, self, &ws);
	if (batch == NULL) {
		pick_kick(l, self, &ws);
		wake_unlocked(l, &ws);
		return;
	}
	for (p = batch; p; p = p->next)
		p->state = PEND_WRITTEN;
	if (l->wtail)
		l->wtail->next = batch;
	else
		l->whead = batch;
	for (p = batch; p->next; p = p->next)
		;
	l->wtail = p;

	/* sync without the lead (with MAX_SYNCS > 1 the next leader writes meanwhile) */
	target = l->count;
	fd = l->segfd;
	l->nsyncing++;
	l->nsyncs++;
	pick_kick(l, self, &ws);
	pthread_mutex_unlock(&l->mu);
	ws_wake(l, &ws);
	r = fdatasync(fd);
	saved = errno;
	pthread_mutex_lock(&l->mu);
	l->nsyncing--;
	done = NULL;
	if (r != 0) {
		fail_closed(l, "fdatasync of the audit segment failed", saved, &done);
		complete_list(done, ESC_EIO, self, &ws);
	} else if (!l->failed) {
		if (target > l->synced)
			l->synced = target;
		/* everything written before this sync started is durable */
		while (l->whead && l->whead->seq < l->synced) {
			p = l->whead;
			l->whead = p->next;
			p->next = done;
			done = p;
		}
		if (l->whead == NULL)
			l->wtail = NULL;
		complete_list(done, 0, self, &ws);
		if (l->cand.valid && l->cand.seq < l->synced) {
			if (!l->have_sth || l->cand.seq > l->sth_seq) {
				l->sth = l->cand.sth;
				l->sth_seq = l->cand.seq;
				l->sth_root1 = l->cand.root1;
				l->have_sth = 1;
				sth_noted(l);
				published = 1;
			}
			l->cand.valid = 0;
		}
	}
	if (l->nsyncing == 0 && l->cv_waiters)
		pthread_cond_broadcast(&l->cv);
	{
		wakeset kws = { { 0 } };

		/* the next leader before the batch: the disk waits for it, the batch's owners only
		 * for a CPU (woken after them, it queued behind them on the run queues) */
		pick_kick(l, self, &kws);
		pthread_mutex_unlock(&l->mu);
		ws_wake(l, &kws);
		ws_wake(l, &ws);
		pthread_mutex_lock(&l->mu);
	}
	if (published)
		head_kick(l);
}

/* Waits (lock held) until p is done, leading batches whenever one can be led. Returns with
 * the lock held, or released (*unlocked set) when p was found done after a wake-up. */
static int
await_done(audit_log *l, pend *p, int *unlocked)
{
	_Atomic uint32_t *w = &l->wq[(p->ticket / 32) % NWQ];
	uint32_t bit = (uint32_t)1 << (p->ticket % 32), g;

	*unlocked = 0;
	for (;;) {
		if (atomic_load(&p->state) == PEND_DONE)
			return p->rc;
		if (can_lead(l)) {
			lead(l, p);
			continue;
		}
		pthread_mutex_unlock(&l->mu);
		for (;;) {
			/* the word read first: a wake-up after this read changes it, so none is lost */
			g = atomic_load(w);
			if (atomic_load(&p->state) == PEND_DONE) {
				*unlocked = 1;
				return p->rc;
			}
			if (atomic_exchange(&p->kick, 0))
				break;
			syscall(SYS_futex, w, FUTEX_WAIT_BITSET_PRIVATE, g, NULL, NULL, bit);
		}
		pthread_mutex_lock(&l->mu);
	}
}

static void
enqueue(audit_log *l, pend *p)
{
	p->state = PEND_QUEUED;
	p->ticket = l->next_ticket++;
	p->next = NULL;
	if (l->qtail)
		l->qtail->next = p;
	else
		l->qhead = p;
	l->qtail = p;
}

static int
pend_init(pend *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->frame, AUDIT_FRAME_HDR + AUDIT_EVENT_MAX + PEND_TAIL_MAX + 1);
	return 0;
}

static void
pend_free(pend *p)
{
	buf_free(&p->frame);
}

/* Signs a tree head over every record written before it and appends it (lock held; one
 * signer at a time). The leader that writes the head's record computes the root over
 * exactly the records before it, so its size is its seq; the head becomes the latest once
 * its record is durable. The head file follows in head_update. */
static int
sign_locked(audit_log *l)
{
	pend p;
	int rc, unlocked;

	if (l->o.readonly || !l->have_key)
		return ESC_EINVAL;
	while (l->signing) {
		l->cv_waiters++;
		pthread_cond_wait(&l->cv, &l->mu);
		l->cv_waiters--;
	}
	if (l->failed)
		return ESC_EIO;
	if (l->qhead == NULL && (l->count == 0 || (l->have_sth && l->sth_seq + 1 == l->count)))
		return 0; /* nothing new to sign */
	if ((rc = pend_init(&p)) != 0)
		return rc;
	l->signing = 1;
	p.is_sth = 1;
	enqueue(l, &p);
	rc = await_done(l, &p, &unlocked);
	if (unlocked)
		pthread_mutex_lock(&l->mu);
	if (rc == 0 && (!l->have_sth || p.seq > l->sth_seq)) {
		l->sth = p.sth;
		l->sth_seq = p.seq;
		l->sth_root1 = p.root_after;
		l->have_sth = 1;
		sth_noted(l);
	}
	l->signing = 0;
	if (l->cv_waiters)
		pthread_cond_broadcast(&l->cv);
	pend_free(&p);
	return rc;
}

/* Brings the head file up to the newest tree head (lock held, released while syncing):
 * the derived files durable up to it (written before its record), then the head file says
 * so. One thread at a time; unless wait, returns at once when another is at it (the head
 * file may lag: open then rescans a little more). */
static int
head_update(audit_log *l, int wait)
{
	pend *done = NULL;
	audit_head h;
	int rc, idxfd, treefd, saved;
	char msg[1024] = "";

	while (l->heading) {
		if (!wait)
			return 0;
		l->cv_waiters++;
		pthread_cond_wait(&l->cv, &l->mu);
		l->cv_waiters--;
	}
	if (l->failed)
		return ESC_EIO;
	if (!l->have_sth || l->head.count >= l->sth_seq + 1)
		return 0;
	memset(&h, 0, sizeof(h));
	h.count = l->sth_seq + 1;
	h.root = l->sth_root1;
	h.have_sth = 1;
	h.sth_seq = l->sth_seq;
	idxfd = l->idxfd;
	treefd = l->treefd;
	l->heading = 1;
	pthread_mutex_unlock(&l->mu);
	if (fdatasync(idxfd) != 0 || fdatasync(treefd) != 0) {
		snprintf(msg, sizeof(msg), "fdatasync of the audit index or tree file failed");
		rc = ESC_EIO;
	} else {
		rc = head_write(l->datadir, &h, msg, sizeof(msg));
	}
	saved = errno;
	pthread_mutex_lock(&l->mu);
	l->heading = 0;
	if (l->cv_waiters)
		pthread_cond_broadcast(&l->cv);
	if (rc) {
		wakeset ws = { { 0 } };

		rc = fail_closed(l, msg, saved, &done);
		complete_list(done, ESC_EIO, NULL, &ws);
		wake_unlocked(l, &ws);
		return rc;
	}
	if (h.count > l->head.count)
		l->head = h;
	return 0;
}

/* The head file thread: head_update for every new tree head (a failure fails the log
 * closed). It takes the head file's fdatasyncs of index, tree, head and directory (four
 * disk round trips) off the append of whoever published the head. */
static void *
head_thread(void *arg)
{
	audit_log *l = arg;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->hwant && !l->hstop)
			pthread_cond_wait(&l->hcv, &l->mu);
		if (l->hstop)
			break;
		l->hwant = 0;
		(void)head_update(l, 1);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* A new tree head became the latest (lock held): the head file follows, on the head file
 * thread, or here when there is none (it could not be started: e.g. a seccomp filter). */
static void
head_kick(audit_log *l)
{
	if (l->hthr_on) {
		l->hwant = 1;
		pthread_cond_signal(&l->hcv);
	} else {
		(void)head_update(l, 0); /* a failure fails the log closed */
	}
}

/* Stops the head file thread (lock not held); what it had left to do is up to the caller. */
static void
head_thread_stop(audit_log *l)
{
	if (!l->hthr_on)
		return;
	pthread_mutex_lock(&l->mu);
	l->hstop = 1;
	pthread_cond_signal(&l->hcv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->hthr, NULL);
	l->hthr_on = 0;
}

static int
sth_due(audit_log *l)
{
	uint64_t signed_to = l->have_sth ? l->sth_seq + 1 : 0;

	/* every sth_every records the leader signs on its own; this is the timed head */
	if (l->count <= signed_to || l->signing)
		return 0;
	return mono_now() - l->sth_mono >= (double)l->o.sth_seconds;
}

int
audit_log_append(audit_log *l, const char *type, const char *actor, const json_t *details,
                 uint64_t *seq)
{
	pend p;
	int rc, unlocked;

	if (l && l->pg)
		return audit_pg_append(l->pg, type, actor, details, seq);
	if (l == NULL || l->o.readonly || type == NULL || strcmp(type, AUDIT_TYPE_STH) == 0)
		return ESC_EINVAL;
	if ((rc = pend_init(&p)) != 0)
		return rc;
	p.type = type;
	rc = render_head(type, actor, details, &p.frame); /* the JSON work, without the lock */
	pthread_mutex_lock(&l->mu);
	if (rc) {
		seterr(l->err, sizeof(l->err), "cannot render the event: %s", esc_strerror(rc));
		goto out;
	}
	if (l->failed) {
		seterr(l->err, sizeof(l->err), "the audit log failed earlier and refuses appends");
		rc = ESC_EIO;
		goto out;
	}
	enqueue(l, &p);
	rc = await_done(l, &p, &unlocked);
	if (unlocked) {
		/* a timed tree head is rarely due: look without the lock first */
		if (rc == 0 && mono_ns() < atomic_load(&l->sth_due_ns))
			goto done;
		pthread_mutex_lock(&l->mu);
	}
	if (rc && rc != ESC_EIO)
		seterr(l->err, sizeof(l->err), "cannot render the event: %s", esc_strerror(rc));
	if (rc == 0 && sth_due(l) && sign_locked(l) == 0)
		head_kick(l); /* the record is durable */
out:
	pthread_mutex_unlock(&l->mu);
done:
	if (rc == 0 && seq)
		*seq = p.seq;
	pend_free(&p);
	return rc;
}

int
audit_log_append_many(audit_log *l, size_t n, const char *const *types,
                      const char *const *actors, const json_t *const *details, uint64_t *seqs)
{
	pend *p;
	size_t i, made = 0;
	int rc = 0, unlocked;

	if (l && l->pg)
		return audit_pg_append_many(l->pg, n, types, actors, details, seqs);
	if (l == NULL || l->o.readonly || (n > 0 && (types == NULL || details == NULL)))
		return ESC_EINVAL;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (types[i] == NULL || strcmp(types[i], AUDIT_TYPE_STH) == 0)
			return ESC_EINVAL;
	if ((p = calloc(n, sizeof(*p))) == NULL)
		return ESC_ENOMEM;
	/* render all first (without the lock): either every record goes in or none */
	for (made = 0; made < n && rc == 0; made++) {
		if ((rc = pend_init(&p[made])) != 0)
			break;
		p[made].type = types[made];
		rc = render_head(types[made], actors ? actors[made] : NULL, details[made],
		                 &p[made].frame);
	}
	pthread_mutex_lock(&l->mu);
	if (rc) {
		seterr(l->err, sizeof(l->err), "cannot render the event: %s", esc_strerror(rc));
		goto out;
	}
	if (l->failed) {
		seterr(l->err, sizeof(l->err), "the audit log failed earlier and refuses appends");
		rc = ESC_EIO;
		goto out;
	}
	for (i = 0; i < n; i++)
		enqueue(l, &p[i]);
	/* in order: a leader kick goes to the first queued entry, which is then ours */
	for (i = 0; i < n; i++) {
		int r = await_done(l, &p[i], &unlocked);

		if (unlocked)
			pthread_mutex_lock(&l->mu);
		if (r && rc == 0)
			rc = r;
	}
	if (rc && rc != ESC_EIO)
		seterr(l->err, sizeof(l->err), "cannot render the event: %s", esc_strerror(rc));
	if (rc == 0 && sth_due(l) && sign_locked(l) == 0)
		head_kick(l); /* the records are durable */
out:
	pthread_mutex_unlock(&l->mu);
	for (i = 0; i < made; i++) {
		if (rc == 0 && seqs)
			seqs[i] = p[i].seq;
		pend_free(&p[i]);
	}
	free(p);
	return rc;
}

int
audit_log_sign(audit_log *l)
{
	int rc;

	if (l == NULL)
		return ESC_EINVAL;
	if (l->pg)
		return audit_pg_sign(l->pg);
	pthread_mutex_lock(&l->mu);
	if ((rc = sign_locked(l)) == 0)
		rc = head_update(l, 1);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* ---- open / close ---- */

static int
take_lock(audit_log *l, char *err, size_t errlen)
{
	char path[PATHLEN], pid[32];
	unsigned waited = 0;

	snprintf(path, sizeof(path), "%s/%s/lock", l->datadir, AUDIT_SUBDIR);
	l->lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (l->lockfd < 0) {
		seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return ESC_EIO;
	}
	while (flock(l->lockfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			seterr(err, errlen, "cannot lock %s: %s", path, strerror(errno));
			return ESC_EIO;
		}
		if (waited >= l->o.lock_wait_ms) {
			seterr(err, errlen, "%s: the audit log is in use by another process", path);
			return ESC_EINVAL;
		}
		usleep(10000);
		waited += 10;
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(l->lockfd, 0) == 0)
		(void)pwrite_all(l->lockfd, pid, strlen(pid), 0);
	return 0;
}

static int
open_derived(audit_log *l, const char *name, int *fd, char *err, size_t errlen)
{
	char path[PATHLEN];

	snprintf(path, sizeof(path), "%s/%s/%s", l->datadir, AUDIT_SUBDIR, name);
	if (l->o.readonly)
		*fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	else
		*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd < 0 && !(l->o.readonly && errno == ENOENT)) {
		seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return ESC_EIO;
	}
	return 0;
}

/* Decides from where the scan must rebuild: head.count when index and tree cover it and the
 * tree's root there is the head's root, else 0. */
static uint64_t
trusted_start(audit_log *l)
{
	struct stat a, b;
	mt_frontier f;
	mt_hash root;
	uint64_t n = l->head.count;

	if (n == 0 || l->idxfd < 0 || l->treefd < 0 || fstat(l->idxfd, &a) || fstat(l->treefd, &b))
		return 0;
	if ((uint64_t)a.st_size / AUDIT_INDEX_ENTRY < n ||
	    (uint64_t)b.st_size / MT_HASH_LEN < mt_postorder_count(n))
		return 0;
	l->tree_limit = n;
	if (frontier_from_tree(l, n, &f) || mt_frontier_root(&f, &root) ||
	    !mt_hash_eq(&root, &l->head.root)) {
		l->tree_limit = 0;
		return 0;
	}
	l->fr = f;
	return n;
}

static void
log_free(audit_log *l)
{
	if (l == NULL)
		return;
	head_thread_stop(l); /* before anything it uses goes */
	if (l->segfd >= 0)
		close(l->segfd);
	if (l->idxfd >= 0)
		close(l->idxfd);
	if (l->treefd >= 0)
		close(l->treefd);
	if (l->readfd >= 0)
		close(l->readfd);
	if (l->lockfd >= 0)
		close(l->lockfd); /* releases the flock */
	audit_key_wipe(&l->key);
	buf_free(&l->frame);
	buf_free(&l->widx);
	buf_free(&l->wtree);
	buf_free(&l->sthbuf);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	pthread_cond_destroy(&l->hcv);
	free(l->datadir);
	free(l);
}

int
audit_log_open(audit_log **out, const char *datadir, const audit_opts *o, char *err,
               size_t errlen)
{
	audit_log *l;
	char path[PATHLEN];
	uint64_t start;
	int rc = ESC_ENOMEM;
	const char *url;

	*out = NULL;
	if ((url = audit_backend_url(o)) != NULL) {
		if ((l = calloc(1, sizeof(*l))) == NULL)
			return ESC_ENOMEM;
		if ((rc = audit_pg_open(&l->pg, url, datadir, o, err, errlen)) != 0)
			free(l);
		else
			*out = l;
		return rc;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return ESC_ENOMEM;
	l->lockfd = l->segfd = l->idxfd = l->treefd = l->readfd = -1;
	l->read_seg = UINT64_MAX;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	pthread_cond_init(&l->hcv, NULL);
	buf_init(&l->frame, 0);
	buf_init(&l->widx, 0);
	buf_init(&l->wtree, 0);
	buf_init(&l->sthbuf, 0);
	if (o)
		l->o = *o;
	if (l->o.sth_every == 0)
		l->o.sth_every = 1000;
	if (l->o.sth_seconds == 0)
		l->o.sth_seconds = 60;
	if (l->o.segment_max == 0)
		l->o.segment_max = (uint64_t)64 << 20;
	l->datadir = strdup(datadir);
	if (l->datadir == NULL)
		goto out;
	rc = ESC_EIO;
	if (snprintf(path, sizeof(path), "%s/%s", datadir, AUDIT_SEGDIR) >= (int)sizeof(path) - 64) {
		rc = ESC_ETOOBIG;
		seterr(err, errlen, "%s: path too long", datadir);
		goto out;
	}
	if (l->o.readonly) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", datadir, AUDIT_SUBDIR);
		if (stat(path, &st) != 0) {
			rc = ESC_ENOENT;
			seterr(err, errlen, "no audit log at %s: %s (run 'escort init')", path,
			       strerror(errno));
			goto out;
		}
	} else {
		snprintf(path, sizeof(path), "%s/%s", datadir, AUDIT_KEY_FILE);
		if ((rc = audit_key_load(path, &l->key, err, errlen)) != 0)
			goto out;
		l->have_key = 1;
		/* new directories must survive a crash like the files in them */
		snprintf(path, sizeof(path), "%s/%s", datadir, AUDIT_SUBDIR);
		if (mkdir(path, 0700) == 0) {
			(void)fsync_dir(datadir);
		} else if (errno != EEXIST) {
			rc = ESC_EIO;
			seterr(err, errlen, "cannot create %s: %s", path, strerror(errno));
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s", datadir, AUDIT_SEGDIR);
		if (mkdir(path, 0700) == 0) {
			snprintf(path, sizeof(path), "%s/%s", datadir, AUDIT_SUBDIR);
			(void)fsync_dir(path);
		} else if (errno != EEXIST) {
			rc = ESC_EIO;
			seterr(err, errlen, "cannot create %s: %s", path, strerror(errno));
			goto out;
		}
		if ((rc = take_lock(l, err, errlen)) != 0)
			goto out;
	}
	if ((rc = open_derived(l, "index", &l->idxfd, err, errlen)) != 0 ||
	    (rc = open_derived(l, "tree", &l->treefd, err, errlen)) != 0)
		goto out;
	rc = audit_head_read(datadir, &l->head, err, errlen);
	if (rc == ESC_ENOENT) {
		memset(&l->head, 0, sizeof(l->head));
		rc = 0;
	}
	if (rc)
		goto out;
	start = trusted_start(l);
	if (start == 0 && l->head.count > 0 && !l->o.readonly)
		seterr(l->recov, sizeof(l->recov), "index and tree files rebuilt from the segments");
	l->tree_limit = start;
	if (start == 0)
		mt_frontier_init(&l->fr);
	rc = scan(l, start, err, errlen);
	if (rc == SCAN_REBUILD) {
		l->tree_limit = 0;
		mt_frontier_init(&l->fr);
		l->have_sth = 0;
		rc = scan(l, 0, err, errlen);
	}
	if (rc)
		goto out;
	if (l->count < l->head.count) {
		rc = ESC_EPARSE;
		seterr(err, errlen, "%s/%s: %" PRIu64 " records found, but %" PRIu64
		       " were durable according to the head file: records were removed",
		       datadir, AUDIT_SEGDIR, l->count, l->head.count);
		goto out;
	}
	if (!l->have_sth && l->head.have_sth) {
		/* the newest tree head is before head.count; the scan did not see it */
		buf r = BUF_INIT;
		audit_event ev;

		rc = audit_log_read(l, l->head.sth_seq, &r);
		if (rc == 0)
			rc = audit_event_parse(r.data, r.len, &ev, NULL, 0);
		if (rc == 0) {
			rc = note_sth(l, &ev, l->head.sth_seq);
			if (rc == 0 && !l->have_sth)
				rc = ESC_EPARSE;
			audit_event_free(&ev);
		}
		buf_free(&r);
		if (rc) {
			seterr(err, errlen, "%s/%s: record %" PRIu64 " should be a signed tree head",
			       datadir, AUDIT_SEGDIR, l->head.sth_seq);
			goto out;
		}
	}
	if (l->o.readonly) {
		if (l->tree_limit > l->head.count)
			l->tree_limit = l->head.count;
	} else {
		audit_head h;

		l->tree_limit = l->count;
		if (l->count == 0 && l->seg_off == 0) {
			char msg[PATHLEN + 64];

			if ((rc = segment_create(l, 0, msg, sizeof(msg))) != 0) {
				seterr(err, errlen, "%s: %s", msg, strerror(errno));
				goto out;
			}
		} else {
			audit_segment_path(datadir, l->seg_first, path, sizeof(path));
			l->segfd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
			if (l->segfd < 0) {
				rc = ESC_EIO;
				seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
				goto out;
			}
		}
		/* what the scan found (and rebuilt) becomes durable before anything is added */
		rc = ESC_EIO;
		if (ftruncate(l->idxfd, (off_t)(l->count * AUDIT_INDEX_ENTRY)) != 0 ||
		    ftruncate(l->treefd, (off_t)(mt_postorder_count(l->count) * MT_HASH_LEN)) != 0 ||
		    fdatasync(l->segfd) != 0 || fdatasync(l->idxfd) != 0 || fdatasync(l->treefd) != 0) {
			seterr(err, errlen, "cannot sync the audit log in %s/%s: %s", datadir,
			       AUDIT_SUBDIR, strerror(errno));
			goto out;
		}
		l->synced = l->count;
		if (l->count != l->head.count) {
			memset(&h, 0, sizeof(h));
			h.count = l->count;
			h.have_sth = l->have_sth;
			h.sth_seq = l->sth_seq;
			if ((rc = mt_frontier_root(&l->fr, &h.root)) != 0 ||
			    (rc = head_write(datadir, &h, err, errlen)) != 0)
				goto out;
			l->head = h;
		}
	}
	sth_noted(l);
	l->unsigned_from = l->have_sth ? l->sth_seq + 1 : 0;
	if (!l->o.readonly)
		l->hthr_on = pthread_create(&l->hthr, NULL, head_thread, l) == 0;
	*out = l;
	l = NULL;
	rc = 0;
out:
	log_free(l);
	return rc;
}

int
audit_log_close(audit_log *l, char *err, size_t errlen)
{
	int rc = 0;

	if (l == NULL)
		return 0;
	if (l->pg) {
		rc = audit_pg_close(l->pg, err, errlen);
		free(l);
		return rc;
	}
	if (!l->o.readonly) {
		head_thread_stop(l); /* the head file is brought up to date here */
		pthread_mutex_lock(&l->mu);
		if (!l->failed && (rc = sign_locked(l)) == 0)
			rc = head_update(l, 1);
		else if (l->failed)
			rc = ESC_EIO;
		if (rc)
			seterr(err, errlen, "%s", l->err);
		pthread_mutex_unlock(&l->mu);
	}
	log_free(l);
	return rc;
}

/* ---- reading ---- */

uint64_t
audit_log_size(audit_log *l)
{
	uint64_t n;

	if (l->pg)
		return audit_pg_size(l->pg);
	pthread_mutex_lock(&l->mu);
	n = l->count;
	pthread_mutex_unlock(&l->mu);
	return n;
}

int
audit_log_latest_sth(audit_log *l, audit_sth *sth, uint64_t *seq)
{
	int rc = ESC_ENOENT;

	if (l->pg)
		return audit_pg_latest_sth(l->pg, sth, seq);
	pthread_mutex_lock(&l->mu);
	if (l->have_sth) {
		*sth = l->sth;
		if (seq)
			*seq = l->sth_seq;
		rc = 0;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

static int
read_locked(audit_log *l, uint64_t seq, buf *rec)
{
	uint8_t ent[AUDIT_INDEX_ENTRY], hdr[AUDIT_FRAME_HDR];
	char path[PATHLEN];
	uint64_t segfirst, off;
	uint32_t rl;
	mt_hash leaf;
	int rc;

	if (seq >= l->count)
		return ESC_ENOENT;
	if (l->idxfd < 0 || pread_all(l->idxfd, ent, sizeof(ent), seq * AUDIT_INDEX_ENTRY)) {
		seterr(l->err, sizeof(l->err), "%s/%s/index: no entry for record %" PRIu64,
		       l->datadir, AUDIT_SUBDIR, seq);
		return ESC_EIO;
	}
	segfirst = get_le64(ent);
	off = get_le64(ent + 8);
	audit_segment_path(l->datadir, segfirst, path, sizeof(path));
	if (l->read_seg != segfirst) {
		if (l->readfd >= 0)
			close(l->readfd);
		l->read_seg = UINT64_MAX;
		l->readfd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (l->readfd < 0) {
			seterr(l->err, sizeof(l->err), "cannot open %s: %s", path, strerror(errno));
			return ESC_EIO;
		}
		l->read_seg = segfirst;
	}
	rc = ESC_EPARSE;
	if (pread_all(l->readfd, hdr, sizeof(hdr), off) != 0) {
		seterr(l->err, sizeof(l->err), "%s offset %" PRIu64 ": cannot read record %" PRIu64,
		       path, off, seq);
		return rc;
	}
	rl = get_le32(hdr);
	if (rl < 2 || rl > AUDIT_EVENT_MAX) {
		seterr(l->err, sizeof(l->err), "%s offset %" PRIu64 ": bad record length", path, off);
		return rc;
	}
	buf_reset(rec);
	if ((rc = buf_reserve(rec, rl)) != 0)
		return rc;
	if (pread_all(l->readfd, rec->data, rl, off + AUDIT_FRAME_HDR) != 0) {
		seterr(l->err, sizeof(l->err), "%s offset %" PRIu64 ": record %" PRIu64 " is cut short",
		       path, off, seq);
		return ESC_EPARSE;
	}
	rec->len = rl;
	rec->data[rl] = 0;
	if ((rc = mt_leaf_hash(rec->data, rl, &leaf)) != 0)
		return rc;
	if (memcmp(leaf.b, hdr + 4, 8) != 0) {
		seterr(l->err, sizeof(l->err), "%s offset %" PRIu64 ": checksum mismatch", path, off);
		return ESC_EPARSE;
	}
	return 0;
}

int
audit_log_read(audit_log *l, uint64_t seq, buf *rec)
{
	int rc;

	if (l->pg)
		return audit_pg_read(l->pg, seq, rec);
	pthread_mutex_lock(&l->mu);
	rc = read_locked(l, seq, rec);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int
audit_log_inclusion(audit_log *l, uint64_t seq, uint64_t size, mt_hash *path, size_t *n)
{
	int rc;

	if (l->pg)
		return audit_pg_inclusion(l->pg, seq, size, path, n);
	pthread_mutex_lock(&l->mu);
	rc = (size > l->tree_limit) ? ESC_ENOENT : mt_inclusion_proof(node_get, l, seq, size, path, n);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int
audit_log_consistency(audit_log *l, uint64_t m, uint64_t n, mt_hash *path, size_t *np)
{
	int rc;

	if (l->pg)
		return audit_pg_consistency(l->pg, m, n, path, np);
	pthread_mutex_lock(&l->mu);
	rc = (n > l->tree_limit) ? ESC_ENOENT : mt_consistency_proof(node_get, l, m, n, path, np);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int
audit_log_root(audit_log *l, uint64_t n, mt_hash *root)
{
	int rc;

	if (l->pg)
		return audit_pg_root(l->pg, n, root);
	pthread_mutex_lock(&l->mu);
	rc = (n > l->tree_limit) ? ESC_ENOENT : mt_subtree_root(node_get, l, 0, n, root);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

uint64_t
audit_log_syncs(audit_log *l)
{
	uint64_t n;

	if (l->pg)
		return audit_pg_commits(l->pg);
	pthread_mutex_lock(&l->mu);
	n = l->nsyncs;
	pthread_mutex_unlock(&l->mu);
	return n;
}

const char *
audit_log_error(audit_log *l)
{
	if (l && l->pg)
		return audit_pg_error(l->pg);
	return l ? l->err : "";
}

const char *
audit_log_recovery(audit_log *l)
{
	if (l && l->pg)
		return ""; /* a database has no torn tail */
	return l ? l->recov : "";
}

/* ---- sequential reading ---- */

#define SEGWIN_CHUNK ((size_t)4 << 20)

int
audit_segwin_open(audit_segwin *w, const char *path)
{
	struct stat st;

	errno = 0;
	w->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	w->base = 0;
	w->eof = 0;
	if (w->b.max == 0)
		buf_init(&w->b, AUDIT_EVENT_MAX + AUDIT_FRAME_HDR + SEGWIN_CHUNK + 1);
	buf_reset(&w->b);
	if (w->fd < 0)
		return ESC_EIO;
	if (fstat(w->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int saved = errno;

		close(w->fd);
		errno = saved ? saved : EINVAL;
		w->fd = -1;
		return ESC_EIO;
	}
	(void)posix_fadvise(w->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

int
audit_segwin_get(audit_segwin *w, uint64_t off, size_t need, const uint8_t **p, size_t *avail)
{
	size_t rel;
	ssize_t n;
	int rc;

	if (off < w->base)
		return ESC_EINVAL;
	if (off - w->base > w->b.len) {
		/* skipping past the window: drop it and read from off */
		if (lseek(w->fd, (off_t)off, SEEK_SET) < 0)
			return ESC_EIO;
		buf_reset(&w->b);
		w->base = off;
		w->eof = 0;
	}
	rel = (size_t)(off - w->base);
	if (w->b.len - rel < need && !w->eof) {
		/* keep the unread tail, refill behind it with large reads */
		if (rel > 0) {
			buf_consume(&w->b, rel);
			w->base = off;
			rel = 0;
		}
		if (need > w->b.max - 1)
			return ESC_ETOOBIG;
		if ((rc = buf_reserve(&w->b, (need > SEGWIN_CHUNK ? need : SEGWIN_CHUNK) - w->b.len)) !=
		    0)
			return rc;
		while (w->b.len < need && !w->eof) {
			n = read(w->fd, w->b.data + w->b.len, w->b.cap - 1 - w->b.len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return ESC_EIO;
			if (n == 0)
				w->eof = 1;
			w->b.len += (size_t)n;
			w->b.data[w->b.len] = 0;
		}
	}
	*p = w->b.data + rel;
	*avail = w->b.len - rel;
	return 0;
}

void
audit_segwin_close(audit_segwin *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	buf_reset(&w->b);
}

void
audit_segwin_free(audit_segwin *w)
{
	audit_segwin_close(w);
	buf_free(&w->b);
}

int
audit_iter_open(audit_iter *it, const char *datadir, char *err, size_t errlen)
{
	int rc;
	const char *url = audit_backend_url(NULL);

	memset(it, 0, sizeof(*it));
	it->w.fd = -1;
	if (url)
		return audit_pg_iter_open(&it->pg, url, NULL, err, errlen);
	if ((it->datadir = strdup(datadir)) == NULL)
		return ESC_ENOMEM;
	rc = audit_segment_list(datadir, &it->segs, &it->nseg, err, errlen);
	if (rc) {
		free(it->datadir);
		it->datadir = NULL;
	}
	return rc;
}

int
audit_iter_next(audit_iter *it, const uint8_t **rec, size_t *len, uint64_t *seq)
{
	char path[PATHLEN], why[256];
	const uint8_t *p;
	size_t avail;
	uint64_t first;
	audit_frame f;
	int rc;

	if (it->pg)
		return audit_pg_iter_next(it->pg, rec, len, seq, it->skip_checksum, it->err,
		                          sizeof(it->err));
	for (;;) {
		if (!it->open) {
			if (it->si >= it->nseg)
				return 1;
			audit_segment_path(it->datadir, it->segs[it->si], path, sizeof(path));
			if (audit_segwin_open(&it->w, path) != 0) {
				seterr(it->err, sizeof(it->err), "cannot open %s: %s", path, strerror(errno));
				return ESC_EIO;
			}
			it->open = 1;
			if ((rc = audit_segwin_get(&it->w, 0, AUDIT_SEG_HDR, &p, &avail)) != 0) {
				seterr(it->err, sizeof(it->err), "cannot read %s: %s", path, strerror(errno));
				return rc;
			}
			if (avail < AUDIT_SEG_HDR && it->si + 1 == it->nseg)
				return 1; /* a writer is creating the newest segment */
			if (audit_segment_header(p, avail, &first) || first != it->segs[it->si] ||
			    first != it->seq) {
				seterr(it->err, sizeof(it->err), "%s: bad segment header or first record",
				       path);
				return ESC_EPARSE;
			}
			it->off = AUDIT_SEG_HDR;
		}
		if ((rc = audit_segwin_get(&it->w, it->off, AUDIT_FRAME_HDR, &p, &avail)) != 0)
			goto ioerr;
		if (avail == 0) {
			audit_segwin_close(&it->w);
			it->open = 0;
			it->si++;
			continue;
		}
		if (avail >= AUDIT_FRAME_HDR &&
		    (rc = audit_segwin_get(&it->w, it->off, AUDIT_FRAME_HDR + get_le32(p) > AUDIT_EVENT_MAX
		                                                ? AUDIT_FRAME_HDR
		                                                : AUDIT_FRAME_HDR + get_le32(p),
		                           &p, &avail)) != 0)
			goto ioerr;
		if (it->skip_checksum) {
			/* bounds only: the caller trusts the bytes (audit_verify checks them) */
			memset(&f, 0, sizeof(f));
			rc = ESC_ENOENT;
			snprintf(why, sizeof(why), "incomplete frame");
			if (avail >= AUDIT_FRAME_HDR) {
				uint32_t rl = get_le32(p);

				if (rl < 2 || rl > AUDIT_EVENT_MAX) {
					snprintf(why, sizeof(why), "bad record length %" PRIu32, rl);
					rc = ESC_EPARSE;
				} else if (avail - AUDIT_FRAME_HDR >= rl) {
					f.rec = p + AUDIT_FRAME_HDR;
					f.reclen = rl;
					f.next = AUDIT_FRAME_HDR + rl;
					rc = 0;
				}
			}
		} else {
			rc = audit_frame_parse(p, avail, 0, &f, why, sizeof(why));
		}
		if (rc == ESC_ENOENT && it->si + 1 == it->nseg)
			return 1; /* torn final record: a writer is busy (or recovery is due) */
		if (rc) {
			audit_segment_path(it->datadir, it->segs[it->si], path, sizeof(path));
			seterr(it->err, sizeof(it->err), "%s offset %" PRIu64 ": %s", path, it->off, why);
			return ESC_EPARSE;
		}
		*rec = f.rec;
		*len = f.reclen;
		*seq = it->seq++;
		it->off += f.next;
		return 0;
	}
ioerr:
	audit_segment_path(it->datadir, it->segs[it->si], path, sizeof(path));
	seterr(it->err, sizeof(it->err), "cannot read %s: %s", path, strerror(errno));
	return rc;
}

void
audit_iter_close(audit_iter *it)
{
	audit_pg_iter_close(it->pg);
	audit_segwin_free(&it->w);
	free(it->segs);
	free(it->datadir);
	memset(it, 0, sizeof(*it));
	it->w.fd = -1;
}

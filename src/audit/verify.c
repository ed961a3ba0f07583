/* verify.c — recomputes the audit log from its segments and checks everything that can be
 * checked with the public key: the first problem found is named (seq, segment, offset) and
 * ends the run, since everything after it is suspect anyway. */
#include "audit/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/event.h"
#include "audit/log.h"
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

/* Checks an STH record at seq against the tree recomputed so far. */
static void
check_sth(audit_verify_result *r, const audit_event *ev, const uint8_t *rec, size_t reclen,
          uint64_t seq, const mt_frontier *fr, const audit_pubkey *pk, audit_log *lv,
          const char *file, uint64_t off)
{
	audit_sth s;
	mt_hash root;
	json_t *det = NULL;
	buf again = BUF_INIT;
	mt_hash path[MT_MAX_PATH];
	size_t np = 0;
	char idh[17];

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
	buf b = BUF_INIT;
	char path[4096], why[256], operr[1024];
	int rc, have_head, cp_checked = 0, open_failed;
	audit_opts ro;

	memset(r, 0, sizeof(*r));
	memset(&none, 0, sizeof(none));
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
	/* the stored tree, for consistency proofs between consecutive heads */
	memset(&ro, 0, sizeof(ro));
	ro.readonly = 1;
	open_failed = audit_log_open(&lv, datadir, &ro, operr, sizeof(operr)) != 0;

	for (i = 0; i < nseg && !r->bad; i++) {
		uint64_t first;
		size_t off = AUDIT_SEG_HDR;

		audit_segment_path(datadir, segs[i], path, sizeof(path));
		buf_free(&b);
		rc = audit_read_segment(path, &b);
		if (rc) {
			bad(r, seq, path, 0, "cannot read the segment: %s", strerror(errno));
			break;
		}
		if (b.len < AUDIT_SEG_HDR && o->allow_torn_tail && i + 1 == nseg && segs[i] == seq) {
			snprintf(r->note, sizeof(r->note), "%s: a writer is creating this segment", path);
			break;
		}
		if (audit_segment_header(b.data, b.len, &first) || first != segs[i]) {
			bad(r, seq, path, 0, "bad segment header");
			break;
		}
		if (first != seq) {
			bad(r, seq, path, 0, "segment starts at record %" PRIu64 ", expected %" PRIu64 "%s",
			    first, seq, first > seq ? ": records are missing" : ": records overlap");
			break;
		}
		while (off < b.len && !r->bad) {
			audit_frame f;
			audit_event ev;
			uint64_t pseq;
			char ptype[AUDIT_TYPE_MAX + 1];

			rc = audit_frame_parse(b.data, b.len, off, &f, why, sizeof(why));
			if (rc == ESC_ENOENT && o->allow_torn_tail && i + 1 == nseg) {
				snprintf(r->note, sizeof(r->note), "%s offset %zu: incomplete final record "
				         "(a writer is busy); not checked", path, off);
				break;
			}
			if (rc) {
				bad(r, seq, path, off, "%s", why);
				break;
			}
			if (audit_event_peek(f.rec, f.reclen, &pseq, ptype) != 0) {
				bad(r, seq, path, off, "record is not in canonical form");
				break;
			}
			memset(&ev, 0, sizeof(ev));
			ev.seq = pseq;
			ev.type = ptype;
			if ((o->strict || strcmp(ptype, AUDIT_TYPE_STH) == 0) &&
			    audit_event_parse(f.rec, f.reclen, &ev, why, sizeof(why))) {
				bad(r, seq, path, off, "%s", why);
				break;
			}
			if (ev.seq != seq) {
				bad(r, seq, path, off, "record carries seq %" PRIu64 ", expected %" PRIu64
				    ": records were removed, inserted or reordered", ev.seq, seq);
			} else if (o->checkpoint && o->checkpoint->size == seq) {
				mt_hash root;

				cp_checked = 1;
				if (mt_frontier_root(&fr, &root) || !mt_hash_eq(&root, &o->checkpoint->root))
					bad(r, seq, path, off, "the first %" PRIu64 " records do not match the "
					    "checkpoint's root: the log was rewritten", seq);
			}
			if (!r->bad && strcmp(ev.type, AUDIT_TYPE_STH) == 0) {
				check_sth(r, &ev, f.rec, f.reclen, seq, &fr, &pk, open_failed ? NULL : lv,
				          path, off);
				last_sth_seq = seq;
			}
			audit_event_free(&ev);
			if (r->bad)
				break;
			if (mt_frontier_push(&fr, &f.leaf, NULL, NULL)) {
				rc = ESC_EINTERNAL;
				goto out;
			}
			seq++;
			off = f.next;
			r->bytes += AUDIT_FRAME_HDR + f.reclen;
			if (o->progress && (seq & 4095) == 0)
				o->progress(o->ctx, seq, r->bytes);
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
	audit_log_close(lv, NULL, 0);
	buf_free(&b);
	free(segs);
	return rc;
}

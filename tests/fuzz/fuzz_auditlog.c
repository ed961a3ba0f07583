/* fuzz_auditlog.c — the audit log reads segment files from disk, which an attacker with
 * access to the data directory controls. The input is one segment file: its frames and
 * records are parsed in memory, then the file is placed in a real data directory and
 * opened read-only, verified, read sequentially (audit_iter, which must see what verify
 * saw), and (for some inputs) opened for writing, which runs crash recovery over it.
 * Nothing may crash, leak, or hang. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/event.h"
#include "audit/log.h"
#include "audit/sth.h"
#include "audit/verify.h"

static char dir[64];
static char segpath[256];
static char headpath[256];

static void
cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[1024];

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "/tmp/fuzz_auditlog.XXXXXX");
	if (mkdtemp(dir) == NULL || audit_key_generate(dir, err, sizeof(err)) != 0)
		abort();
	snprintf(segpath, sizeof(segpath), "%s/audit", dir);
	mkdir(segpath, 0700);
	snprintf(segpath, sizeof(segpath), "%s/audit/seg", dir);
	mkdir(segpath, 0700);
	snprintf(segpath, sizeof(segpath), "%s/audit/seg/00000000000000000000.seg", dir);
	snprintf(headpath, sizeof(headpath), "%s/audit/head", dir);
	atexit(cleanup);
	return 0;
}

static void
in_memory(const uint8_t *data, size_t size)
{
	uint64_t first;
	size_t off = AUDIT_SEG_HDR;
	audit_frame f;
	audit_event ev;
	audit_sth s;
	audit_pubkey pk;
	char why[256];

	(void)audit_pubkey_parse(data, size, &pk);
	(void)audit_sth_parse(data, size, &s);
	if (audit_event_parse(data, size, &ev, why, sizeof(why)) == 0) {
		uint64_t pseq;
		char ptype[AUDIT_TYPE_MAX + 1];

		if (audit_event_peek(data, size, &pseq, ptype) != 0 || pseq != ev.seq ||
		    strcmp(ptype, ev.type) != 0)
			abort();
		audit_event_free(&ev);
	}
	if (audit_segment_header(data, size, &first) != 0)
		return;
	while (off < size && audit_frame_parse(data, size, off, &f, why, sizeof(why)) == 0) {
		uint64_t pseq;
		char ptype[AUDIT_TYPE_MAX + 1];
		int peek = audit_event_peek(f.rec, f.reclen, &pseq, ptype);

		if (audit_event_parse(f.rec, f.reclen, &ev, why, sizeof(why)) == 0) {
			/* the fast shape check never rejects or misreads a canonical record */
			if (peek != 0 || pseq != ev.seq || strcmp(ptype, ev.type) != 0)
				abort();
			if (strcmp(ev.type, AUDIT_TYPE_STH) == 0)
				(void)audit_sth_from_json(ev.details, &s);
			audit_event_free(&ev);
		}
		off = f.next;
	}
}

static void
on_disk(const uint8_t *data, size_t size)
{
	audit_log *l = NULL;
	audit_opts o;
	audit_verify_result *r;
	char err[4096], idx[256], tree[256];
	buf rec = BUF_INIT;
	FILE *fp;

	snprintf(idx, sizeof(idx), "%s/audit/index", dir);
	snprintf(tree, sizeof(tree), "%s/audit/tree", dir);
	unlink(idx);
	unlink(tree);
	unlink(headpath);
	fp = fopen(segpath, "wb");
	if (fp == NULL)
		return;
	if (size)
		fwrite(data, 1, size, fp);
	fclose(fp);
	memset(&o, 0, sizeof(o));
	o.readonly = 1;
	if (audit_log_open(&l, dir, &o, err, sizeof(err)) == 0) {
		uint64_t n = audit_log_size(l);
		for (uint64_t i = 0; i < n && i < 64; i++)
			(void)audit_log_read(l, i, &rec);
		audit_log_close(l, NULL, 0);
	}
	r = calloc(1, sizeof(*r));
	if (r) {
		int vrc = audit_verify(dir, NULL, r);

		/* the sequential reader (rescan, search) sees the same records as verify */
		for (int skip = 0; skip <= 1; skip++) {
			audit_iter it;
			const uint8_t *p;
			size_t plen;
			uint64_t seq, cnt = 0;
			int e;

			if (audit_iter_open(&it, dir, err, sizeof(err)) != 0)
				continue;
			it.skip_checksum = skip;
			while ((e = audit_iter_next(&it, &p, &plen, &seq)) == 0) {
				if (seq != cnt++ || plen < 2 || plen > AUDIT_EVENT_MAX)
					abort();
			}
			if (vrc == 0 && !r->bad && r->note[0] == '\0' && skip == 0 &&
			    (e != 1 || cnt != r->records))
				abort();
			audit_iter_close(&it);
		}
		free(r);
	}
	if (size > 0 && (data[size - 1] & 15) == 0) {
		memset(&o, 0, sizeof(o));
		if (audit_log_open(&l, dir, &o, err, sizeof(err)) == 0)
			audit_log_close(l, NULL, 0);
	}
	buf_free(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1 << 20))
		return 0;
	in_memory(data, size);
	on_disk(data, size);
	return 0;
}

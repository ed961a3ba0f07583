/* verify.h — full verification of an audit log from its segments (or its PostgreSQL rows)
 * alone: every frame, every record's canonical form and seq, every hash, every signed tree
 * head (signature, root, exact record form, consistency with the previous head via the
 * stored tree), the head's durable count, and an optional checkpoint saved off the server. */
#ifndef ESCORT_AUDIT_VERIFY_H
#define ESCORT_AUDIT_VERIFY_H

#include <stdint.h>

#include "audit/sth.h"

typedef struct audit_verify_opts {
	const audit_pubkey *pubkey;    /* NULL: DIR/signing.pub */
	const audit_sth *checkpoint;   /* NULL: none */
	int allow_torn_tail;           /* a live writer may be mid-append: stop at a torn end */
	int strict;                    /* parse every record fully and require canonical form;
	                                  else only tree heads are parsed, other records get a
	                                  shape check (their bytes are covered by the hashes) */
	void (*progress)(void *ctx, uint64_t records, uint64_t bytes);
	void *ctx;
	const char *pg_url;            /* the log in PostgreSQL (as audit_opts.pg_url: NULL
	                                  follows $ESCORT_STORE, "" the files) */
} audit_verify_opts;

typedef struct audit_verify_result {
	uint64_t records;       /* records checked */
	uint64_t bytes;         /* segment bytes read */
	uint64_t sths;          /* signed tree heads checked */
	uint64_t unsigned_tail; /* records after the newest signed tree head */
	int have_sth;
	audit_sth last;         /* the newest signed tree head */
	int bad;                /* 1: a problem was found, described below */
	uint64_t bad_seq;       /* UINT64_MAX when the problem is not one record */
	char bad_file[4096];    /* "" when not one file */
	uint64_t bad_off;
	char msg[1024];
	char note[5000];        /* non-fatal remark (e.g. torn tail left by a live writer) */
} audit_verify_result;

/* 0 when verification ran (r->bad says whether the log is sound); a negative ESC_E* code
 * with r->msg when it could not run at all (no log, unreadable public key). */
int audit_verify(const char *datadir, const audit_verify_opts *o, audit_verify_result *r);

#endif

/* signer.h — the audit signing key in a process of its own (privilege separation): the
 * signer process holds the Ed25519 secret key and answers "sign this tree head" over a
 * SOCK_SEQPACKET socket; the process that writes the log holds only the public half.
 *
 * MUST: the signer refuses (and closes) on an unknown, out-of-phase or malformed request.
 * MUST: it never signs a tree smaller than one it signed before, nor a second, different
 *       root for a size it already signed (a forked history), nor a time far ahead.
 * MUST: once the channel failed, every later signature fails (the log fails closed). */
#ifndef ESCORT_AUDIT_SIGNER_H
#define ESCORT_AUDIT_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "audit/sth.h"
#include "util/buf.h"

/* Message types on the signer channel. */
enum audit_signer_msg {
	AUDIT_SG_PUBKEY_REQ = 1, /* client -> signer, once, first: no fields */
	AUDIT_SG_PUBKEY = 2,     /* pk[32], key id[8] */
	AUDIT_SG_SIGN = 3,       /* size u64, root[32], time_us i64 */
	AUDIT_SG_SIGNED = 4,     /* key id[8], signature[64] */
};

/* How far ahead of the signer's clock a tree head's time may be. */
#define AUDIT_SIGNER_SKEW_US ((int64_t)300 * 1000000)

/* ---- client side (the log writer's process) ---- */

/* Makes this process sign through the signer on fd (the channel is kept; not closed by
 * the caller afterwards): fetches the public key. From then on audit_key_load yields the
 * public half only and audit_sth_sign asks the signer. Call once, before any thread. */
int audit_signer_attach(int fd, char *err, size_t errlen);
/* 1 when attached (also after the channel failed: signing then fails). */
int audit_signer_active(void);
/* 1 when attached and the channel failed or the signer hung up: nothing can be signed
 * any more. Never blocks (a signature in flight counts as alive). */
int audit_signer_failed(void);
/* Fills k with the signer's public key and a zero secret half. */
int audit_signer_key(audit_key *k);
/* Asks for key_id and sig over sth's size, root and time_us, checks the signature with
 * the public key. ESC_EIO when the signer refused or is gone (and from then on). */
int audit_signer_sign(audit_sth *sth);

/* ---- signer side ---- */

/* The signer's state machine: phase, and the newest tree it signed. */
typedef struct audit_signer_state {
	int phase; /* 0: waiting for PUBKEY_REQ; 1: signing */
	int signed_any;
	uint64_t last_size;
	mt_hash last_root;
	int64_t now_us; /* for tests: a fixed clock (0: the real one) */
} audit_signer_state;

/* Handles one request msg[0..len) with key k: 0 with the reply in reply, or ESC_EPARSE
 * with why (unknown type, wrong phase, bad length, a refused tree head): the caller must
 * then close the channel. Pure apart from the clock; for the serve loop, tests, fuzzing. */
int audit_signer_handle(audit_signer_state *st, const audit_key *k, const void *msg,
                        size_t len, buf *reply, char *why, size_t whylen);
/* Serves requests on fd until the peer closes (0) or breaks the protocol (ESC_EPARSE,
 * logged to stderr). The caller still owns k and fd. */
int audit_signer_serve(int fd, const audit_key *k);

#endif

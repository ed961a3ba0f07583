/* sth.h — the log's Ed25519 signing key (libsodium) and signed tree heads: (size, root,
 * time, key id) signed over a fixed binary encoding, carried as canonical JSON. */
#ifndef ESCORT_AUDIT_STH_H
#define ESCORT_AUDIT_STH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/merkle.h"
#include "util/buf.h"

#define AUDIT_KEYID_LEN 8
#define AUDIT_SIG_LEN 64
#define AUDIT_KEY_FILE "signing.key"
#define AUDIT_PUB_FILE "signing.pub"

typedef struct audit_pubkey {
	uint8_t pk[32];
	uint8_t id[AUDIT_KEYID_LEN]; /* first 8 bytes of SHA-256(pk) */
} audit_pubkey;

/* Secret: wipe with audit_key_wipe when done. */
typedef struct audit_key {
	uint8_t sk[64];
	audit_pubkey pub;
} audit_key;

typedef struct audit_sth {
	uint64_t size;
	mt_hash root;
	int64_t time_us;
	uint8_t key_id[AUDIT_KEYID_LEN];
	uint8_t sig[AUDIT_SIG_LEN];
} audit_sth;

/* Creates dir/signing.key (0600) and dir/signing.pub (0644), both O_EXCL|O_NOFOLLOW, and
 * syncs them. Never overwrites: ESC_EINVAL with a message when either exists. */
int audit_key_generate(const char *dir, char *err, size_t errlen);
/* Loads a secret key file; refuses one readable by group/others. Messages name the file. */
int audit_key_load(const char *path, audit_key *k, char *err, size_t errlen);
void audit_key_wipe(audit_key *k);
/* Public key file (the JSON of audit_pubkey_to_json). */
int audit_pubkey_load(const char *path, audit_pubkey *pk, char *err, size_t errlen);
int audit_pubkey_parse(const void *data, size_t len, audit_pubkey *pk);
/* {"algorithm":"ed25519","key_id":"<16 hex>","public_key":"<base64>"} + newline */
int audit_pubkey_to_json(const audit_pubkey *pk, buf *out);
void audit_key_id_hex(const uint8_t id[AUDIT_KEYID_LEN], char out[2 * AUDIT_KEYID_LEN + 1]);

/* Fills key_id and sig over size, root, time_us. */
int audit_sth_sign(audit_sth *sth, const audit_key *k);
/* 0 when the signature is valid under pk and key ids match, else ESC_EPARSE. */
int audit_sth_verify(const audit_sth *sth, const audit_pubkey *pk);
/* New object {"key_id","root","signature","size","time"}; *out owned by the caller. */
int audit_sth_to_json(const audit_sth *sth, json_t **out);
/* Strict inverse of audit_sth_to_json (exactly those fields, well-formed values). */
int audit_sth_from_json(const json_t *j, audit_sth *sth);
/* Checkpoint file / bytes: the canonical JSON of the STH. */
int audit_sth_parse(const void *data, size_t len, audit_sth *sth);
int audit_sth_load(const char *path, audit_sth *sth, char *err, size_t errlen);

/* Lowercase hex of a hash (65 bytes incl. NUL) and its inverse. */
void audit_hash_hex(const mt_hash *h, char out[2 * MT_HASH_LEN + 1]);
int audit_hash_unhex(const char *s, mt_hash *h);

#endif

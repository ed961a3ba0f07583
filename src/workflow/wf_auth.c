/* wf_auth.c — server-facing authentication over the workflow's store: TOTP (RFC 6238,
 * HMAC from OpenSSL) enrolment and one-use verification, console login sessions kept
 * hashed, the request change feed for live updates, and policy freshness checks. */
#include "workflow/workflow.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/event.h"
#include "audit/log.h"
#include "util/err.h"

static int
sha256_of(const void *p, size_t n, unsigned char out[STORE_HASH_LEN])
{
	unsigned int olen = 0;

	return EVP_Digest(p, n, out, &olen, EVP_sha256(), NULL) == 1 ? 0 : ESC_EINTERNAL;
}

static void
hex_of(const unsigned char *h, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[2 * n] = 0;
}

/* ---- RFC 4226 / 6238 ---- */

int
wf_hotp(const unsigned char *key, size_t keylen, const char *md, uint64_t counter, int digits,
        uint32_t *code)
{
	unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0, off;
	uint32_t bin, mod = 1;
	int i;

	if (key == NULL || md == NULL || digits < 6 || digits > 9)
		return ESC_EINVAL;
	for (i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	if (EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, key, keylen, msg, sizeof(msg), mac,
	              sizeof(mac), &maclen) == NULL || maclen < 20)
		return ESC_EINTERNAL;
	/* dynamic truncation (RFC 4226 5.3) */
	off = mac[maclen - 1] & 0x0f;
	bin = (uint32_t)(mac[off] & 0x7f) << 24 | (uint32_t)mac[off + 1] << 16 |
	      (uint32_t)mac[off + 2] << 8 | mac[off + 3];
	for (i = 0; i < digits; i++)
		mod *= 10;
	*code = bin % mod;
	return 0;
}

int
wf_totp(const unsigned char *key, size_t keylen, const char *md, int64_t unix_time,
        int digits, uint32_t *code)
{
	if (unix_time < 0)
		return ESC_EINVAL;
	return wf_hotp(key, keylen, md, (uint64_t)unix_time / WF_TOTP_STEP, digits, code);
}

int
wf_base32(const unsigned char *p, size_t n, char *out, size_t outlen)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	size_t i, k = 0, need = (n * 8 + 4) / 5;
	uint32_t acc = 0;
	int bits = 0;

	if (outlen < need + 1)
		return ESC_ETOOBIG;
	for (i = 0; i < n; i++) {
		acc = (acc << 8 | p[i]) & 0xffff;
		bits += 8;
		while (bits >= 5) {
			out[k++] = al[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[k++] = al[(acc << (5 - bits)) & 31];
	out[k] = 0;
	return 0;
}

/* Appends one audit event of its own (enrolment, login), signed at close. */
static int
auth_audit(const char *datadir, const char *type, const char *actor, json_t *details,
           buf *msg)
{
	audit_opts o;
	audit_log *l = NULL;
	char err[512] = "";
	int rc;

	if (details == NULL)
		return ESC_ENOMEM;
	memset(&o, 0, sizeof(o));
	o.lock_wait_ms = 60000;
	if ((rc = audit_log_open(&l, datadir, &o, err, sizeof(err))) != 0) {
		buf_printf(msg, "audit log unavailable (%s)", err);
		json_decref(details);
		return rc;
	}
	rc = audit_log_append(l, type, actor, details, NULL);
	if (rc)
		buf_printf(msg, "cannot append %s to the audit log (%s)", type, audit_log_error(l));
	json_decref(details);
	if (audit_log_close(l, err, sizeof(err)) != 0 && rc == 0) {
		buf_printf(msg, "audit log: %s", err);
		rc = ESC_EIO;
	}
	return rc;
}

int
wf_totp_enroll(wf *w, const char *datadir, const char *actor, const char *identity,
               char *secret_b32, size_t b32len, buf *uri, buf *msg)
{
	unsigned char secret[WF_TOTP_SECRET_LEN];
	store *st = wf_store(w);
	int rc;

	if (wf_policy(w) == NULL) {
		buf_puts(msg, "no policy is loaded; the data directory owner runs 'escort policy load "
		              "FILE'");
		return ESC_EINVAL;
	}
	if (policy_identity_find(wf_policy(w), identity) == NULL) {
		buf_printf(msg, "%s is not an identity in the policy in force", identity);
		return WF_ENOTFOUND;
	}
	randombytes_buf(secret, sizeof(secret));
	if ((rc = wf_base32(secret, sizeof(secret), secret_b32, b32len)) != 0)
		goto out;
	/* the audit record comes first: an enrolment nobody can see must not exist */
	if ((rc = store_begin(st, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(st));
		goto out;
	}
	rc = store_totp_set(st, identity, secret, sizeof(secret), audit_time_now());
	if (rc)
		buf_printf(msg, "store: %s", store_error(st));
	if (rc == 0)
		rc = auth_audit(datadir, "totp.enrolled", actor,
		                json_pack("{s:s}", "identity", identity), msg);
	if (rc == 0) {
		if ((rc = store_commit(st)) != 0)
			buf_printf(msg, "store: %s", store_error(st));
	} else
		(void)store_rollback(st);
	if (rc == 0 && uri) {
		buf_reset(uri);
		rc = buf_printf(uri, "otpauth://totp/escort:%s?secret=%s&issuer=escort&algorithm=SHA1"
		                     "&digits=%d&period=%d", identity, secret_b32, WF_TOTP_DIGITS,
		                WF_TOTP_STEP) < 0 ? ESC_ENOMEM : 0;
	}
out:
	sodium_memzero(secret, sizeof(secret));
	return rc;
}

int
wf_totp_enrolled(wf *w, const char *identity, int *yes, buf *msg)
{
	unsigned char secret[STORE_TOTP_SECRET_MAX];
	size_t n = 0;
	int64_t last = 0;
	int rc = store_totp_get(wf_store(w), identity, secret, &n, &last);

	sodium_memzero(secret, sizeof(secret));
	*yes = rc == 0;
	if (rc == ESC_ENOENT)
		return 0;
	if (rc)
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
	return rc;
}

int
wf_totp_verify(wf *w, const char *identity, const char *code, int64_t now_us, buf *msg)
{
	unsigned char secret[STORE_TOTP_SECRET_MAX];
	char want[16];
	size_t n = 0, i;
	int64_t last = 0, step, hit = -1, d;
	uint32_t c;
	int rc, accepted = 0;

	if (code == NULL || strlen(code) != WF_TOTP_DIGITS) {
		buf_printf(msg, "a TOTP code is %d digits", WF_TOTP_DIGITS);
		return WF_EREFUSED;
	}
	for (i = 0; i < WF_TOTP_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9') {
			buf_printf(msg, "a TOTP code is %d digits", WF_TOTP_DIGITS);
			return WF_EREFUSED;
		}
	rc = store_totp_get(wf_store(w), identity, secret, &n, &last);
	if (rc == ESC_ENOENT) {
		buf_printf(msg, "%s has no TOTP secret (the data directory owner runs 'escort user "
		                "totp %s')", identity, identity);
		return WF_EREFUSED;
	}
	if (rc) {
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
		return rc;
	}
	step = now_us / 1000000 / WF_TOTP_STEP;
	/* the previous, current and next step; every candidate is computed and compared in
	 * constant time so timing does not say which one matched */
	for (d = -1; d <= 1; d++) {
		if ((rc = wf_hotp(secret, n, "SHA1", (uint64_t)(step + d), WF_TOTP_DIGITS, &c)) != 0)
			goto out;
		snprintf(want, sizeof(want), "%0*" PRIu32, WF_TOTP_DIGITS, c);
		if (sodium_memcmp(want, code, WF_TOTP_DIGITS) == 0)
			hit = step + d;
	}
	if (hit < 0) {
		buf_puts(msg, "the TOTP code is wrong or too old");
		rc = WF_EREFUSED;
		goto out;
	}
	if ((rc = store_totp_use(wf_store(w), identity, hit, &accepted)) != 0) {
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
		goto out;
	}
	if (!accepted) {
		buf_puts(msg, "this TOTP code was already used; wait for the next one");
		rc = WF_EREFUSED;
	}
out:
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(want, sizeof(want));
	return rc;
}

/* ---- console sessions ---- */

int
wf_session_create(wf *w, const char *datadir, const char *identity, int64_t totp_us,
                  int64_t lifetime_s, char token[WF_SESSION_TOKEN_LEN + 1],
                  char csrf[WF_SESSION_TOKEN_LEN + 1], int64_t *expires_us, buf *msg)
{
	unsigned char raw[32];
	store_session se;
	int rc;

	memset(&se, 0, sizeof(se));
	randombytes_buf(raw, sizeof(raw));
	hex_of(raw, sizeof(raw), token);
	randombytes_buf(raw, sizeof(raw));
	hex_of(raw, sizeof(raw), csrf);
	sodium_memzero(raw, sizeof(raw));
	if ((rc = sha256_of(token, WF_SESSION_TOKEN_LEN, se.hash)) != 0)
		return rc;
	se.identity = (char *)(uintptr_t)identity;
	memcpy(se.csrf, csrf, WF_SESSION_TOKEN_LEN + 1);
	se.created_us = audit_time_now();
	se.expires_us = se.created_us + lifetime_s * 1000000;
	se.totp_us = totp_us;
	*expires_us = se.expires_us;
	if ((rc = store_session_put(wf_store(w), &se)) != 0) {
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
		return rc;
	}
	rc = auth_audit(datadir, "session.login", identity,
	                json_pack("{s:s, s:b}", "identity", identity, "totp", totp_us != 0), msg);
	if (rc)
		(void)store_session_delete(wf_store(w), se.hash);
	return rc;
}

int
wf_session_lookup(wf *w, const char *token, store_session *se, buf *msg)
{
	unsigned char h[STORE_HASH_LEN];
	int rc;

	memset(se, 0, sizeof(*se));
	if (token == NULL || strlen(token) != WF_SESSION_TOKEN_LEN) {
		buf_puts(msg, "no valid session");
		return WF_EREFUSED;
	}
	if ((rc = sha256_of(token, WF_SESSION_TOKEN_LEN, h)) != 0)
		return rc;
	rc = store_session_get(wf_store(w), h, se);
	if (rc == ESC_ENOENT) {
		buf_puts(msg, "the session is unknown or ended; log in again");
		return WF_EREFUSED;
	}
	if (rc) {
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
		return rc;
	}
	if (se->expires_us <= audit_time_now()) {
		buf_puts(msg, "the session expired; log in again");
		rc = WF_EREFUSED;
	} else if (wf_policy(w) == NULL || policy_identity_find(wf_policy(w), se->identity) == NULL) {
		buf_printf(msg, "%s is no longer an identity in the policy in force", se->identity);
		rc = WF_EREFUSED;
	}
	if (rc)
		store_session_clear(se);
	return rc;
}

int
wf_session_end(wf *w, const char *token, buf *msg)
{
	unsigned char h[STORE_HASH_LEN];
	int rc;

	if (token == NULL || strlen(token) != WF_SESSION_TOKEN_LEN)
		return 0;
	if ((rc = sha256_of(token, WF_SESSION_TOKEN_LEN, h)) != 0)
		return rc;
	rc = store_session_delete(wf_store(w), h);
	if (rc == ESC_ENOENT)
		return 0;
	if (rc)
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
	return rc;
}

int
wf_session_mark_totp(wf *w, const char *token, int64_t now_us, buf *msg)
{
	unsigned char h[STORE_HASH_LEN];
	int rc;

	if (token == NULL || strlen(token) != WF_SESSION_TOKEN_LEN)
		return ESC_EINVAL;
	if ((rc = sha256_of(token, WF_SESSION_TOKEN_LEN, h)) != 0)
		return rc;
	if ((rc = store_session_totp(wf_store(w), h, now_us)) != 0)
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
	return rc;
}

/* ---- live feed and freshness ---- */

int
wf_request_changes(wf *w, int64_t since_us, size_t limit, store_change **out, size_t *n,
                   buf *msg)
{
	int rc = store_request_changes(wf_store(w), since_us, limit, out, n);

	if (rc)
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
	return rc;
}

int
wf_policy_is_current(wf *w, int *current)
{
	store_policy sp;
	const policy *p = wf_policy(w);
	int rc;

	*current = 0;
	rc = store_policy_current(wf_store(w), &sp);
	if (rc == ESC_ENOENT) {
		*current = p == NULL;
		return 0;
	}
	if (rc)
		return rc;
	*current = p != NULL && strcmp(policy_version(p), sp.sha256) == 0;
	store_policy_clear(&sp);
	return 0;
}

int
wf_policy_info(wf *w, const char *datadir, store_policy *sp, buf *text, buf *msg)
{
	char path[4096];
	int rc;

	rc = store_policy_current(wf_store(w), sp);
	if (rc == ESC_ENOENT)
		return rc;
	if (rc) {
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
		return rc;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", datadir, sp->path) >= sizeof(path)) {
		rc = ESC_ETOOBIG;
	} else {
		buf_init(text, POLICY_MAX_BYTES + 1);
		if ((rc = buf_read_file(text, path)) != 0)
			buf_printf(msg, "policy version %" PRId64 ": cannot read %s", sp->version, path);
	}
	if (rc)
		store_policy_clear(sp);
	return rc;
}

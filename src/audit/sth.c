/* sth.c — Ed25519 keys (libsodium) for signed tree heads; the signed message is a fixed
 * binary encoding so no JSON ambiguity can reach the signature. Secret key bytes live only
 * in audit_key and stack buffers that are wiped with sodium_memzero. */
#include "audit/sth.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/event.h"
#include "audit/signer.h"
#include "util/err.h"

#define KEY_MAGIC "escort-audit-key v1 ed25519\n"
#define STH_DOMAIN "escort-sth-v1" /* with its NUL: 14 bytes */

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

void
audit_hash_hex(const mt_hash *h, char out[2 * MT_HASH_LEN + 1])
{
	sodium_bin2hex(out, 2 * MT_HASH_LEN + 1, h->b, MT_HASH_LEN);
}

int
audit_hash_unhex(const char *s, mt_hash *h)
{
	size_t n = 0;
	const char *end = NULL;

	if (strlen(s) != 2 * MT_HASH_LEN)
		return ESC_EPARSE;
	for (size_t i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return ESC_EPARSE; /* lowercase only: one spelling per hash */
	if (sodium_hex2bin(h->b, MT_HASH_LEN, s, 2 * MT_HASH_LEN, NULL, &n, &end) != 0 ||
	    n != MT_HASH_LEN)
		return ESC_EPARSE;
	return 0;
}

void
audit_key_id_hex(const uint8_t id[AUDIT_KEYID_LEN], char out[2 * AUDIT_KEYID_LEN + 1])
{
	sodium_bin2hex(out, 2 * AUDIT_KEYID_LEN + 1, id, AUDIT_KEYID_LEN);
}

static int
key_id_of(const uint8_t pk[32], uint8_t id[AUDIT_KEYID_LEN])
{
	uint8_t d[32];
	unsigned int dl = 0;

	if (EVP_Digest(pk, 32, d, &dl, EVP_sha256(), NULL) != 1 || dl != 32)
		return ESC_EINTERNAL;
	memcpy(id, d, AUDIT_KEYID_LEN);
	return 0;
}

void
audit_key_wipe(audit_key *k)
{
	if (k)
		sodium_memzero(k, sizeof(*k));
}

int
audit_pubkey_to_json(const audit_pubkey *pk, buf *out)
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	char idh[2 * AUDIT_KEYID_LEN + 1];

	sodium_bin2base64(b64, sizeof(b64), pk->pk, 32, sodium_base64_VARIANT_ORIGINAL);
	audit_key_id_hex(pk->id, idh);
	return buf_printf(out, "{\"algorithm\":\"ed25519\",\"key_id\":\"%s\",\"public_key\":\"%s\"}\n",
	                  idh, b64);
}

int
audit_pubkey_parse(const void *data, size_t len, audit_pubkey *pk)
{
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	const char *alg, *b64, *idh;
	uint8_t id[AUDIT_KEYID_LEN];
	char idcalc[2 * AUDIT_KEYID_LEN + 1];
	size_t n = 0;
	int rc = ESC_EPARSE;

	if (j == NULL || !json_is_object(j))
		goto out;
	alg = json_string_value(json_object_get(j, "algorithm"));
	b64 = json_string_value(json_object_get(j, "public_key"));
	idh = json_string_value(json_object_get(j, "key_id"));
	if (!alg || strcmp(alg, "ed25519") != 0 || !b64 || !idh)
		goto out;
	if (sodium_base642bin(pk->pk, 32, b64, strlen(b64), NULL, &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n != 32)
		goto out;
	if (key_id_of(pk->pk, pk->id))
		goto out;
	audit_key_id_hex(pk->id, idcalc);
	(void)id;
	if (strcmp(idcalc, idh) != 0)
		goto out; /* a key id that does not match its key is a damaged file */
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* Reads a small file into b (at most max bytes) with O_NOFOLLOW; messages name the file. */
static int
read_small(const char *path, buf *b, size_t max, int secret, char *err, size_t errlen)
{
	int fd = -1, rc = ESC_EIO;
	struct stat st;
	char tmp[512];
	ssize_t r;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file%s", path, "");
		goto out;
	}
	if (secret && (st.st_mode & 077)) {
		seterr(err, errlen, "%s: secret key is accessible by group or others; run chmod 600 %s",
		       path, path);
		rc = ESC_EINVAL;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		seterr(err, errlen, "%s: file too large for a key%s", path, "");
		rc = ESC_EPARSE;
		goto out;
	}
	for (;;) {
		r = read(fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			seterr(err, errlen, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (b->len + (size_t)r > max || buf_put(b, tmp, (size_t)r)) {
			seterr(err, errlen, "%s: file too large for a key%s", path, "");
			rc = ESC_EPARSE;
			goto out;
		}
	}
	rc = 0;
out:
	sodium_memzero(tmp, sizeof(tmp));
	if (fd >= 0)
		close(fd);
	return rc;
}

int
audit_key_load(const char *path, audit_key *k, char *err, size_t errlen)
{
	buf b;
	uint8_t seed[32];
	size_t n = 0, ml = strlen(KEY_MAGIC);
	const char *end = NULL;
	int rc;

	if (sodium_init() < 0)
		return ESC_EINTERNAL;
	/* privilege separation: the secret half lives in the signer process only */
	if (audit_signer_active())
		return audit_signer_key(k);
	memset(k, 0, sizeof(*k));
	buf_init(&b, 256);
	rc = read_small(path, &b, 256, 1, err, errlen);
	if (rc)
		goto out;
	rc = ESC_EPARSE;
	/* KEY_MAGIC, 64 hex digits, newline */
	if (b.len != ml + 65 || memcmp(b.data, KEY_MAGIC, ml) != 0 || b.data[b.len - 1] != '\n' ||
	    sodium_hex2bin(seed, sizeof(seed), (const char *)b.data + ml, 64, NULL, &n, &end) != 0 ||
	    n != 32) {
		seterr(err, errlen, "%s: not an escort audit signing key%s", path, "");
		goto out;
	}
	if (crypto_sign_seed_keypair(k->pub.pk, k->sk, seed) != 0 ||
	    key_id_of(k->pub.pk, k->pub.id) != 0) {
		rc = ESC_EINTERNAL;
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(seed, sizeof(seed));
	if (b.data)
		sodium_memzero(b.data, b.cap);
	buf_free(&b);
	if (rc)
		audit_key_wipe(k);
	return rc;
}

int
audit_pubkey_load(const char *path, audit_pubkey *pk, char *err, size_t errlen)
{
	buf b;
	int rc;

	if (sodium_init() < 0)
		return ESC_EINTERNAL;
	buf_init(&b, 4096);
	rc = read_small(path, &b, 4096, 0, err, errlen);
	if (rc == 0 && (rc = audit_pubkey_parse(b.data, b.len, pk)) != 0)
		seterr(err, errlen, "%s: not an escort audit public key%s", path, "");
	buf_free(&b);
	return rc;
}

static int
write_new(const char *path, mode_t mode, const void *data, size_t len, char *err, size_t errlen)
{
	int fd, rc = ESC_EIO;
	const char *p = data;
	ssize_t w;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		if (errno == EEXIST) {
			seterr(err, errlen, "%s already exists; refusing to overwrite it", path);
			return ESC_EINVAL;
		}
		seterr(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return ESC_EIO;
	}
	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			seterr(err, errlen, "cannot write %s: %s", path, strerror(errno));
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0) { /* umask must not widen or narrow it */
		seterr(err, errlen, "cannot sync %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	if (rc)
		unlink(path);
	return rc;
}

int
audit_key_generate(const char *dir, char *err, size_t errlen)
{
	char kpath[4096], ppath[4096];
	uint8_t seed[32];
	char text[sizeof(KEY_MAGIC) + 70];
	audit_key k;
	buf pub = BUF_INIT;
	int rc = ESC_EINTERNAL, dfd;

	memset(&k, 0, sizeof(k));
	if (sodium_init() < 0)
		goto out;
	rc = ESC_ETOOBIG;
	if (snprintf(kpath, sizeof(kpath), "%s/%s", dir, AUDIT_KEY_FILE) >= (int)sizeof(kpath) ||
	    snprintf(ppath, sizeof(ppath), "%s/%s", dir, AUDIT_PUB_FILE) >= (int)sizeof(ppath))
		goto out;
	rc = ESC_EINVAL;
	if (access(ppath, F_OK) == 0 || errno != ENOENT) {
		seterr(err, errlen, "%s already exists; refusing to overwrite it%s", ppath, "");
		goto out;
	}
	randombytes_buf(seed, sizeof(seed));
	rc = ESC_EINTERNAL;
	if (crypto_sign_seed_keypair(k.pub.pk, k.sk, seed) != 0 || key_id_of(k.pub.pk, k.pub.id))
		goto out;
	memcpy(text, KEY_MAGIC, strlen(KEY_MAGIC));
	sodium_bin2hex(text + strlen(KEY_MAGIC), 65, seed, 32);
	text[strlen(KEY_MAGIC) + 64] = '\n';
	rc = write_new(kpath, 0600, text, strlen(KEY_MAGIC) + 65, err, errlen);
	if (rc)
		goto out;
	if ((rc = audit_pubkey_to_json(&k.pub, &pub)) != 0)
		goto out;
	rc = write_new(ppath, 0644, pub.data, pub.len, err, errlen);
	if (rc) {
		unlink(kpath);
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd); /* the new names must survive a crash too */
		close(dfd);
	}
out:
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(text, sizeof(text));
	audit_key_wipe(&k);
	buf_free(&pub);
	return rc;
}

static void
sth_message(const audit_sth *sth, uint8_t msg[14 + 8 + 32 + 8 + AUDIT_KEYID_LEN])
{
	size_t o = 0;
	int i;

	memcpy(msg, STH_DOMAIN, 14);
	o = 14;
	for (i = 7; i >= 0; i--)
		msg[o++] = (uint8_t)(sth->size >> (8 * i));
	memcpy(msg + o, sth->root.b, 32);
	o += 32;
	for (i = 7; i >= 0; i--)
		msg[o++] = (uint8_t)((uint64_t)sth->time_us >> (8 * i));
	memcpy(msg + o, sth->key_id, AUDIT_KEYID_LEN);
}

int
audit_sth_sign(audit_sth *sth, const audit_key *k)
{
	uint8_t msg[14 + 8 + 32 + 8 + AUDIT_KEYID_LEN];

	if (audit_signer_active())
		return audit_signer_sign(sth); /* privilege separation: see signer.h */
	memcpy(sth->key_id, k->pub.id, AUDIT_KEYID_LEN);
	sth_message(sth, msg);
	if (crypto_sign_detached(sth->sig, NULL, msg, sizeof(msg), k->sk) != 0)
		return ESC_EINTERNAL;
	return 0;
}

int
audit_sth_verify(const audit_sth *sth, const audit_pubkey *pk)
{
	uint8_t msg[14 + 8 + 32 + 8 + AUDIT_KEYID_LEN];

	if (sodium_init() < 0)
		return ESC_EINTERNAL;
	if (memcmp(sth->key_id, pk->id, AUDIT_KEYID_LEN) != 0)
		return ESC_EPARSE;
	sth_message(sth, msg);
	if (crypto_sign_verify_detached(sth->sig, msg, sizeof(msg), pk->pk) != 0)
		return ESC_EPARSE;
	return 0;
}

int
audit_sth_to_json(const audit_sth *sth, json_t **out)
{
	char root[65], idh[17], tbuf[32];
	char sig[sodium_base64_ENCODED_LEN(AUDIT_SIG_LEN, sodium_base64_VARIANT_ORIGINAL)];
	json_t *o;

	*out = NULL;
	if (audit_time_format(sth->time_us, tbuf, sizeof(tbuf)) || sth->size > (uint64_t)INT64_MAX)
		return ESC_EINVAL;
	audit_hash_hex(&sth->root, root);
	audit_key_id_hex(sth->key_id, idh);
	sodium_bin2base64(sig, sizeof(sig), sth->sig, AUDIT_SIG_LEN, sodium_base64_VARIANT_ORIGINAL);
	o = json_pack("{s:s, s:s, s:s, s:I, s:s}", "key_id", idh, "root", root, "signature", sig,
	              "size", (json_int_t)sth->size, "time", tbuf);
	if (o == NULL)
		return ESC_ENOMEM;
	*out = o;
	return 0;
}

int
audit_sth_from_json(const json_t *j, audit_sth *sth)
{
	const char *idh, *root, *sig, *t;
	json_t *jsize;
	size_t n = 0;
	const char *end = NULL;

	memset(sth, 0, sizeof(*sth));
	if (!json_is_object(j) || json_object_size(j) != 5)
		return ESC_EPARSE;
	idh = json_string_value(json_object_get(j, "key_id"));
	root = json_string_value(json_object_get(j, "root"));
	sig = json_string_value(json_object_get(j, "signature"));
	t = json_string_value(json_object_get(j, "time"));
	jsize = json_object_get(j, "size");
	if (!idh || !root || !sig || !t || !json_is_integer(jsize) || json_integer_value(jsize) < 0)
		return ESC_EPARSE;
	sth->size = (uint64_t)json_integer_value(jsize);
	if (audit_hash_unhex(root, &sth->root) || audit_time_parse(t, &sth->time_us))
		return ESC_EPARSE;
	if (strlen(idh) != 2 * AUDIT_KEYID_LEN ||
	    sodium_hex2bin(sth->key_id, AUDIT_KEYID_LEN, idh, strlen(idh), NULL, &n, &end) != 0 ||
	    n != AUDIT_KEYID_LEN)
		return ESC_EPARSE;
	if (sodium_base642bin(sth->sig, AUDIT_SIG_LEN, sig, strlen(sig), NULL, &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n != AUDIT_SIG_LEN)
		return ESC_EPARSE;
	return 0;
}

int
audit_sth_parse(const void *data, size_t len, audit_sth *sth)
{
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	int rc = j ? audit_sth_from_json(j, sth) : ESC_EPARSE;

	json_decref(j);
	return rc;
}

int
audit_sth_load(const char *path, audit_sth *sth, char *err, size_t errlen)
{
	buf b;
	int rc;

	buf_init(&b, 65536);
	rc = read_small(path, &b, 65536, 0, err, errlen);
	if (rc == 0 && (rc = audit_sth_parse(b.data, b.len, sth)) != 0)
		seterr(err, errlen, "%s: not a signed tree head (checkpoint)%s", path, "");
	buf_free(&b);
	return rc;
}

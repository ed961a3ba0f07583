/* cert.c — `escort serve --make-cert DIR`: a self-signed EC P-256 certificate and key made
 * with OpenSSL's libcrypto, for trying escortd over TLS without a CA. Not for production:
 * clients must pin or explicitly trust it. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

#define CERT_DAYS 30

/* Opens path for writing, never replacing an existing file. */
static FILE *
create_excl(const char *path, mode_t mode, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	FILE *fp;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((fp = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
	}
	return fp;
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

int
srv_make_cert(const char *dir, const char *cn, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char san[600], cpath[4096], kpath[4096];
	FILE *kf = NULL, *cf = NULL;
	int rc = ESC_EINTERNAL;

	if (cn && (strlen(cn) > 200 || strpbrk(cn, ",\n\r") != NULL)) {
		snprintf(err, errlen, "--cn: a host name or address without commas");
		return ESC_EINVAL;
	}
	snprintf(cpath, sizeof(cpath), "%s/cert.pem", dir);
	snprintf(kpath, sizeof(kpath), "%s/key.pem", dir);
	snprintf(err, errlen, "OpenSSL failed to make the certificate");
	if ((key = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		goto out;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f; /* a positive serial number */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	if (X509_set_version(x, 2) != 1 || X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_DAYS * 86400) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		goto out;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                               (const unsigned char *)(cn ? cn : "localhost"), -1, -1,
	                               0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	                               (const unsigned char *)"escort trial certificate", -1, -1,
	                               0) != 1 ||
	    X509_set_issuer_name(x, name) != 1)
		goto out;
	snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s%s%s",
	         cn ? "," : "", cn ? (strspn(cn, "0123456789.:") == strlen(cn) ? "IP:" : "DNS:")
	                          : "", cn ? cn : "");
	if (!add_ext(x, NID_subject_alt_name, san) ||
	    !add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(x, NID_ext_key_usage, "serverAuth") || X509_sign(x, key, EVP_sha256()) == 0)
		goto out;
	if ((kf = create_excl(kpath, 0600, err, errlen)) == NULL) {
		rc = ESC_EIO;
		goto out;
	}
	if ((cf = create_excl(cpath, 0644, err, errlen)) == NULL) {
		rc = ESC_EIO;
		fclose(kf);
		kf = NULL;
		unlink(kpath);
		goto out;
	}
	if (PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_X509(cf, x) != 1 || fflush(kf) != 0 || fflush(cf) != 0 ||
	    fsync(fileno(kf)) != 0 || fsync(fileno(cf)) != 0) {
		snprintf(err, errlen, "writing %s / %s failed", kpath, cpath);
		rc = ESC_EIO;
	} else
		rc = 0;
	fclose(kf);
	fclose(cf);
	kf = cf = NULL;
	if (rc) {
		unlink(kpath);
		unlink(cpath);
	} else
		err[0] = 0;
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

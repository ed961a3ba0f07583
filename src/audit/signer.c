/* signer.c — the audit signing key behind a typed request table (signer.h): the signer
 * process's state machine and serve loop, and the client stubs the log writer uses when
 * privilege separation put the key in another process. */
#include "audit/signer.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/pmsg.h"

#define SIGN_LEN (PMSG_HDR + 8 + MT_HASH_LEN + 8)
#define SIGN_WAIT_MS 30000

/* ---- client side ---- */

static pmsg_client cl = PMSG_CLIENT_INIT;
static audit_pubkey cl_pub;

static void
seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

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

int
audit_signer_attach(int fd, char *err, size_t errlen)
{
	buf m = BUF_INIT;
	pmsg_rd r;
	int rc;

	if (cl.attached) {
		seterr(err, errlen, "audit signer: already attached");
		return ESC_EINVAL;
	}
	buf_init(&m, PMSG_MAX);
	if ((rc = pmsg_begin(&m, AUDIT_SG_PUBKEY_REQ)) != 0 || (rc = pmsg_send(fd, &m)) != 0) {
		seterr(err, errlen, "audit signer: cannot ask for the public key: %s",
		       strerror(errno));
		goto out;
	}
	if ((rc = pmsg_recv(fd, &m, &r, SIGN_WAIT_MS)) != 0 || r.type != AUDIT_SG_PUBKEY ||
	    pmsg_get_raw(&r, cl_pub.pk, sizeof(cl_pub.pk)) != 0 ||
	    pmsg_get_raw(&r, cl_pub.id, sizeof(cl_pub.id)) != 0 || pmsg_end(&r) != 0) {
		seterr(err, errlen, "audit signer: no valid public key from the signer process");
		rc = ESC_EIO;
		goto out;
	}
	cl.fd = fd;
	cl.attached = 1;
	rc = 0;
out:
	buf_free(&m);
	return rc;
}

int
audit_signer_active(void)
{
	return cl.attached;
}

int
audit_signer_failed(void)
{
	return pmsg_client_failed(&cl);
}

int
audit_signer_key(audit_key *k)
{
	memset(k, 0, sizeof(*k));
	if (!cl.attached)
		return ESC_EINVAL;
	k->pub = cl_pub;
	return 0;
}

int
audit_signer_sign(audit_sth *sth)
{
	buf m = BUF_INIT;
	pmsg_rd r;
	audit_sth s;
	int rc = ESC_EIO;

	buf_init(&m, PMSG_MAX);
	pthread_mutex_lock(&cl.mu);
	if (!cl.attached || cl.dead)
		goto out;
	if (pmsg_begin(&m, AUDIT_SG_SIGN) != 0 || pmsg_put_u64(&m, sth->size) != 0 ||
	    pmsg_put_raw(&m, sth->root.b, MT_HASH_LEN) != 0 ||
	    pmsg_put_i64(&m, sth->time_us) != 0 || pmsg_send(cl.fd, &m) != 0)
		goto fail;
	s = *sth;
	if (pmsg_recv(cl.fd, &m, &r, SIGN_WAIT_MS) != 0 || r.type != AUDIT_SG_SIGNED ||
	    pmsg_get_raw(&r, s.key_id, AUDIT_KEYID_LEN) != 0 ||
	    pmsg_get_raw(&r, s.sig, AUDIT_SIG_LEN) != 0 || pmsg_end(&r) != 0)
		goto fail;
	/* a signer that signs garbage must not get it into the log */
	if (audit_sth_verify(&s, &cl_pub) != 0)
		goto fail;
	memcpy(sth->key_id, s.key_id, AUDIT_KEYID_LEN);
	memcpy(sth->sig, s.sig, AUDIT_SIG_LEN);
	rc = 0;
	goto out;
fail:
	/* the channel is out of step or gone: never use it again */
	cl.dead = 1;
	fprintf(stderr, "escort: audit signer unavailable; the audit log refuses to sign\n");
out:
	pthread_mutex_unlock(&cl.mu);
	buf_free(&m);
	return rc;
}

/* ---- signer side ---- */

enum { PH_HELLO = 1 << 0, PH_READY = 1 << 1 };

static int64_t
now_us(const audit_signer_state *st)
{
	struct timespec ts;

	if (st->now_us)
		return st->now_us;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
h_pubkey(audit_signer_state *st, const audit_key *k, pmsg_rd *r, buf *reply, char *why,
         size_t whylen)
{
	int rc;

	if (pmsg_end(r) != 0) {
		seterr(why, whylen, "public key request with %zu extra bytes", r->len - r->off);
		return ESC_EPARSE;
	}
	if ((rc = pmsg_begin(reply, AUDIT_SG_PUBKEY)) != 0 ||
	    (rc = pmsg_put_raw(reply, k->pub.pk, sizeof(k->pub.pk))) != 0 ||
	    (rc = pmsg_put_raw(reply, k->pub.id, sizeof(k->pub.id))) != 0)
		return rc;
	st->phase = 1;
	return 0;
}

static int
h_sign(audit_signer_state *st, const audit_key *k, pmsg_rd *r, buf *reply, char *why,
       size_t whylen)
{
	audit_sth s;
	int rc;

	memset(&s, 0, sizeof(s));
	if (r->len != SIGN_LEN || pmsg_get_u64(r, &s.size) != 0 ||
	    pmsg_get_raw(r, s.root.b, MT_HASH_LEN) != 0 || pmsg_get_i64(r, &s.time_us) != 0 ||
	    pmsg_end(r) != 0) {
		seterr(why, whylen, "sign request of %zu bytes (want %d)", r->len, SIGN_LEN);
		return ESC_EPARSE;
	}
	if (s.time_us <= 0 || s.time_us > now_us(st) + AUDIT_SIGNER_SKEW_US) {
		seterr(why, whylen, "tree head time %lld is not plausible", (long long)s.time_us);
		return ESC_EPARSE;
	}
	if (st->signed_any && s.size < st->last_size) {
		seterr(why, whylen, "tree head of size %llu after one of size %llu (the log never "
		       "shrinks)", (unsigned long long)s.size, (unsigned long long)st->last_size);
		return ESC_EPARSE;
	}
	if (st->signed_any && s.size == st->last_size &&
	    memcmp(s.root.b, st->last_root.b, MT_HASH_LEN) != 0) {
		seterr(why, whylen, "a second, different root for size %llu (a forked history)",
		       (unsigned long long)s.size);
		return ESC_EPARSE;
	}
	if ((rc = audit_sth_sign(&s, k)) != 0)
		return rc;
	if ((rc = pmsg_begin(reply, AUDIT_SG_SIGNED)) != 0 ||
	    (rc = pmsg_put_raw(reply, s.key_id, AUDIT_KEYID_LEN)) != 0 ||
	    (rc = pmsg_put_raw(reply, s.sig, AUDIT_SIG_LEN)) != 0)
		return rc;
	st->signed_any = 1;
	st->last_size = s.size;
	st->last_root = s.root;
	return 0;
}

/* The request table: type, phases it is allowed in, handler (openssh monitor style). */
static const struct {
	int type;
	int phases;
	int (*fn)(audit_signer_state *, const audit_key *, pmsg_rd *, buf *, char *, size_t);
} table[] = {
	{ AUDIT_SG_PUBKEY_REQ, PH_HELLO, h_pubkey },
	{ AUDIT_SG_SIGN, PH_READY, h_sign },
};

int
audit_signer_handle(audit_signer_state *st, const audit_key *k, const void *msg, size_t len,
                    buf *reply, char *why, size_t whylen)
{
	pmsg_rd r;
	size_t i;
	int ph = st->phase == 0 ? PH_HELLO : PH_READY;

	buf_reset(reply);
	if (pmsg_open(&r, msg, len) != 0) {
		seterr(why, whylen, "malformed message (%zu bytes)", len);
		return ESC_EPARSE;
	}
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].type != r.type)
			continue;
		if (!(table[i].phases & ph)) {
			seterr(why, whylen, "request type %d out of phase", r.type);
			return ESC_EPARSE;
		}
		return table[i].fn(st, k, &r, reply, why, whylen) == 0 ? 0 : ESC_EPARSE;
	}
	seterr(why, whylen, "unknown request type %d", r.type);
	return ESC_EPARSE;
}

int
audit_signer_serve(int fd, const audit_key *k)
{
	audit_signer_state st;
	buf in = BUF_INIT, out = BUF_INIT;
	pmsg_rd r;
	char why[256];
	int rc;

	memset(&st, 0, sizeof(st));
	buf_init(&out, PMSG_MAX);
	for (;;) {
		rc = pmsg_recv(fd, &in, &r, -1);
		if (rc == ESC_ENOENT) {
			rc = 0;
			break;
		}
		if (rc == ESC_EIO) {
			fprintf(stderr, "escort-signer: channel error: %s; closing\n", strerror(errno));
			break;
		}
		/* a malformed datagram still reaches the table, which refuses it with a reason */
		if ((rc = audit_signer_handle(&st, k, in.data, in.len, &out, why, sizeof(why))) != 0) {
			fprintf(stderr, "escort-signer: refused: %s; closing the channel\n", why);
			break;
		}
		if ((rc = pmsg_send(fd, &out)) != 0) {
			fprintf(stderr, "escort-signer: cannot reply: %s; closing\n", strerror(errno));
			break;
		}
	}
	buf_free(&in);
	buf_free(&out);
	return rc;
}

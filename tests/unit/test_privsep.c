/* test_privsep.c — the privilege-separation channels: the message codec refuses truncated,
 * oversized and trailing bytes; the signer and broker state machines refuse unknown,
 * out-of-phase and malformed requests (and the signer a shrinking or forked log); and
 * both peers work end to end over a real socketpair, failing closed once refused. The
 * sessions' shell channels refuse the same way, and a shell held by the broker's table
 * runs lines, takes Ctrl-C and the kill switch through the worker's stubs. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/signer.h"
#include "audit/sth.h"
#include "broker/broker.h"
#include "broker/broker_priv.h"
#include "util/err.h"
#include "util/pmsg.h"

static char tmpdir[] = "/tmp/escort-privsep-XXXXXX";
static audit_key key;

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int
setup(void **state)
{
	char err[256], path[256];

	(void)state;
	if (mkdtemp(tmpdir) == NULL || audit_key_generate(tmpdir, err, sizeof(err)) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", tmpdir, AUDIT_KEY_FILE);
	return audit_key_load(path, &key, err, sizeof(err)) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	audit_key_wipe(&key);
	nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- codec ---- */

static void
codec_roundtrip(void **state)
{
	buf m = BUF_INIT;
	pmsg_rd r;
	uint8_t u8, raw[3];
	uint32_t u32;
	uint64_t u64;
	int64_t i64;
	const uint8_t *p;
	size_t n;
	char *s1, *s2;

	(void)state;
	buf_init(&m, PMSG_MAX);
	assert_int_equal(pmsg_begin(&m, 7), 0);
	assert_int_equal(pmsg_put_u8(&m, 0xab), 0);
	assert_int_equal(pmsg_put_u32(&m, 0xdeadbeef), 0);
	assert_int_equal(pmsg_put_u64(&m, 0x0102030405060708ull), 0);
	assert_int_equal(pmsg_put_i64(&m, -5), 0);
	assert_int_equal(pmsg_put_raw(&m, "xyz", 3), 0);
	assert_int_equal(pmsg_put_bytes(&m, "hello", 5), 0);
	assert_int_equal(pmsg_put_str(&m, "s"), 0);
	assert_int_equal(pmsg_put_str(&m, NULL), 0);
	assert_int_equal(pmsg_open(&r, m.data, m.len), 0);
	assert_int_equal(r.type, 7);
	assert_int_equal(pmsg_get_u8(&r, &u8), 0);
	assert_int_equal(u8, 0xab);
	assert_int_equal(pmsg_get_u32(&r, &u32), 0);
	assert_int_equal(u32, 0xdeadbeef);
	assert_int_equal(pmsg_get_u64(&r, &u64), 0);
	assert_true(u64 == 0x0102030405060708ull);
	assert_int_equal(pmsg_get_i64(&r, &i64), 0);
	assert_true(i64 == -5);
	assert_int_equal(pmsg_get_raw(&r, raw, 3), 0);
	assert_memory_equal(raw, "xyz", 3);
	assert_int_equal(pmsg_end(&r), ESC_EPARSE); /* not all consumed yet */
	assert_int_equal(pmsg_get_bytes(&r, &p, &n, 100), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "hello", 5);
	assert_int_equal(pmsg_get_str(&r, &s1, 10), 0);
	assert_string_equal(s1, "s");
	assert_int_equal(pmsg_get_str(&r, &s2, 10), 0);
	assert_null(s2);
	assert_int_equal(pmsg_end(&r), 0);
	/* nothing more to read */
	assert_int_equal(pmsg_get_u8(&r, &u8), ESC_EPARSE);
	free(s1);
	/* type 0 and 256 cannot be sent */
	assert_int_equal(pmsg_begin(&m, 0), ESC_EINVAL);
	assert_int_equal(pmsg_begin(&m, 256), ESC_EINVAL);
	buf_free(&m);
}

static void
codec_malformed(void **state)
{
	static const uint8_t badver[] = { 2, 1 }, type0[] = { 1, 0 }, one[] = { 1 };
	/* version, type, then a bytes field claiming 100 bytes with 2 present */
	static const uint8_t longb[] = { 1, 5, 100, 0, 0, 0, 'a', 'b' };
	/* a string with a NUL inside, and one with present flag 2 */
	static const uint8_t nul[] = { 1, 5, 1, 3, 0, 0, 0, 'a', 0, 'b' };
	static const uint8_t flag2[] = { 1, 5, 2, 1, 0, 0, 0, 'a' };
	static const uint8_t short32[] = { 1, 5, 1, 2, 3 };
	pmsg_rd r;
	const uint8_t *p;
	size_t n;
	uint32_t u32;
	uint64_t u64;
	char *s = NULL;
	uint8_t *big;

	(void)state;
	assert_int_equal(pmsg_open(&r, badver, sizeof(badver)), ESC_EPARSE);
	assert_int_equal(pmsg_open(&r, type0, sizeof(type0)), ESC_EPARSE);
	assert_int_equal(pmsg_open(&r, one, sizeof(one)), ESC_EPARSE);
	assert_int_equal(pmsg_open(&r, NULL, 0), ESC_EPARSE);
	big = calloc(1, PMSG_MAX + 1);
	assert_non_null(big);
	big[0] = 1;
	big[1] = 1;
	assert_int_equal(pmsg_open(&r, big, PMSG_MAX + 1), ESC_EPARSE);
	assert_int_equal(pmsg_open(&r, big, PMSG_MAX), 0);
	free(big);
	assert_int_equal(pmsg_open(&r, longb, sizeof(longb)), 0);
	assert_int_equal(pmsg_get_bytes(&r, &p, &n, 1000), ESC_EPARSE);
	assert_null(p);
	assert_int_equal(pmsg_open(&r, longb, sizeof(longb)), 0);
	assert_int_equal(pmsg_get_bytes(&r, &p, &n, 50), ESC_EPARSE); /* over the caller's max */
	assert_int_equal(pmsg_open(&r, nul, sizeof(nul)), 0);
	assert_int_equal(pmsg_get_str(&r, &s, 100), ESC_EPARSE);
	assert_null(s);
	assert_int_equal(pmsg_open(&r, flag2, sizeof(flag2)), 0);
	assert_int_equal(pmsg_get_str(&r, &s, 100), ESC_EPARSE);
	assert_null(s);
	assert_int_equal(pmsg_open(&r, short32, sizeof(short32)), 0);
	assert_int_equal(pmsg_get_u32(&r, &u32), ESC_EPARSE);
	assert_int_equal(pmsg_open(&r, short32, sizeof(short32)), 0);
	assert_int_equal(pmsg_get_u64(&r, &u64), ESC_EPARSE);
}

static void
codec_socket(void **state)
{
	int sv[2], pass[2];
	buf m = BUF_INIT, in = BUF_INIT;
	pmsg_rd r;
	uint8_t *big;
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	uint8_t hdr[2] = { 1, 9 };

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	buf_init(&m, PMSG_MAX);
	assert_int_equal(pmsg_begin(&m, 3), 0);
	assert_int_equal(pmsg_put_u32(&m, 42), 0);
	assert_int_equal(pmsg_send(sv[0], &m), 0);
	assert_int_equal(pmsg_recv(sv[1], &in, &r, 1000), 0);
	assert_int_equal(r.type, 3);
	assert_int_equal(r.len, 6);
	/* an oversized datagram is refused, not cut to size */
	big = calloc(1, PMSG_MAX + 100);
	assert_non_null(big);
	big[0] = 1;
	big[1] = 2;
	assert_true(send(sv[0], big, PMSG_MAX + 100, 0) == (ssize_t)(PMSG_MAX + 100));
	assert_int_equal(pmsg_recv(sv[1], &in, &r, 1000), ESC_EPARSE);
	free(big);
	/* a passed descriptor is refused (and closed) */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pass), 0);
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = hdr;
	iov.iov_len = sizeof(hdr);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.space;
	mh.msg_controllen = sizeof(ctl.space);
	CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &pass[0], sizeof(int));
	assert_true(sendmsg(sv[0], &mh, 0) == 2);
	assert_int_equal(pmsg_recv(sv[1], &in, &r, 1000), ESC_EPARSE);
	close(pass[0]);
	close(pass[1]);
	/* nothing arrives: a time-out */
	assert_int_equal(pmsg_recv(sv[1], &in, &r, 50), ESC_EIO);
	/* the peer closes */
	close(sv[0]);
	assert_int_equal(pmsg_recv(sv[1], &in, &r, 1000), ESC_ENOENT);
	assert_int_equal(pmsg_send(sv[1], &m), ESC_EIO);
	close(sv[1]);
	buf_free(&m);
	buf_free(&in);
}

/* ---- signer ---- */

static void
sign_msg(buf *m, uint64_t size, uint8_t rootbyte, int64_t t, int extra)
{
	uint8_t root[MT_HASH_LEN];

	memset(root, rootbyte, sizeof(root));
	buf_reset(m);
	assert_int_equal(pmsg_begin(m, AUDIT_SG_SIGN), 0);
	assert_int_equal(pmsg_put_u64(m, size), 0);
	assert_int_equal(pmsg_put_raw(m, root, sizeof(root)), 0);
	assert_int_equal(pmsg_put_i64(m, t), 0);
	if (extra > 0)
		assert_int_equal(pmsg_put_u8(m, 0), 0);
	if (extra < 0)
		buf_truncate(m, m->len - 1);
}

#define NOW ((int64_t)1764000000 * 1000000)

static void
signer_states(void **state)
{
	audit_signer_state st;
	buf m = BUF_INIT, rep = BUF_INIT;
	char why[256];
	pmsg_rd r;
	audit_sth s;
	audit_pubkey pk;

	(void)state;
	memset(&st, 0, sizeof(st));
	st.now_us = NOW;
	buf_init(&m, PMSG_MAX);
	buf_init(&rep, PMSG_MAX);
	/* signing before the hello is out of phase */
	sign_msg(&m, 1, 1, NOW, 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	assert_non_null(strstr(why, "out of phase"));
	/* unknown type */
	assert_int_equal(pmsg_begin(&m, 99), 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	assert_non_null(strstr(why, "unknown"));
	/* hello with a stray byte is malformed */
	assert_int_equal(pmsg_begin(&m, AUDIT_SG_PUBKEY_REQ), 0);
	assert_int_equal(pmsg_put_u8(&m, 0), 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	assert_int_equal(st.phase, 0);
	/* the hello */
	assert_int_equal(pmsg_begin(&m, AUDIT_SG_PUBKEY_REQ), 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)), 0);
	assert_int_equal(pmsg_open(&r, rep.data, rep.len), 0);
	assert_int_equal(r.type, AUDIT_SG_PUBKEY);
	assert_int_equal(pmsg_get_raw(&r, pk.pk, 32), 0);
	assert_int_equal(pmsg_get_raw(&r, pk.id, 8), 0);
	assert_int_equal(pmsg_end(&r), 0);
	assert_memory_equal(pk.pk, key.pub.pk, 32);
	/* only once */
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	/* lengths one short and one long */
	sign_msg(&m, 10, 1, NOW, -1);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	sign_msg(&m, 10, 1, NOW, 1);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	/* a time far ahead, and none */
	sign_msg(&m, 10, 1, NOW + AUDIT_SIGNER_SKEW_US + 1, 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	sign_msg(&m, 10, 1, 0, 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	/* a good one: the signature verifies */
	sign_msg(&m, 10, 1, NOW, 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)), 0);
	memset(&s, 0, sizeof(s));
	s.size = 10;
	memset(s.root.b, 1, MT_HASH_LEN);
	s.time_us = NOW;
	assert_int_equal(pmsg_open(&r, rep.data, rep.len), 0);
	assert_int_equal(r.type, AUDIT_SG_SIGNED);
	assert_int_equal(pmsg_get_raw(&r, s.key_id, 8), 0);
	assert_int_equal(pmsg_get_raw(&r, s.sig, 64), 0);
	assert_int_equal(pmsg_end(&r), 0);
	assert_int_equal(audit_sth_verify(&s, &key.pub), 0);
	/* the log never shrinks, nor forks at a size already signed */
	sign_msg(&m, 9, 1, NOW, 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	assert_non_null(strstr(why, "never shrinks"));
	sign_msg(&m, 10, 2, NOW, 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	assert_non_null(strstr(why, "forked"));
	/* the same tree again (a retry) and a larger one are fine */
	sign_msg(&m, 10, 1, NOW + 1, 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)), 0);
	sign_msg(&m, 11, 3, NOW + 2, 0);
	assert_int_equal(audit_signer_handle(&st, &key, m.data, m.len, &rep, why, sizeof(why)), 0);
	/* garbage */
	assert_int_equal(audit_signer_handle(&st, &key, "\x01", 1, &rep, why, sizeof(why)),
	                 ESC_EPARSE);
	buf_free(&m);
	buf_free(&rep);
}

/* ---- broker ---- */

static void
put_target(buf *m, const char *key_file, uint8_t transport)
{
	assert_int_equal(pmsg_put_str(m, "t1"), 0);
	assert_int_equal(pmsg_put_u8(m, transport), 0);
	assert_int_equal(pmsg_put_str(m, NULL), 0); /* workdir */
	assert_int_equal(pmsg_put_str(m, NULL), 0); /* run_as */
	assert_int_equal(pmsg_put_str(m, "host"), 0);
	assert_int_equal(pmsg_put_u32(m, 22), 0);
	assert_int_equal(pmsg_put_str(m, "u"), 0);
	assert_int_equal(pmsg_put_str(m, "SHA256:x"), 0);
	assert_int_equal(pmsg_put_str(m, key_file), 0);
	assert_int_equal(pmsg_put_u32(m, 0), 0);
	assert_int_equal(pmsg_put_u32(m, 0), 0);
}

static void
begin_msg(buf *m, const char *key_file, uint8_t transport, const char *env, uint64_t cmdlen)
{
	assert_int_equal(pmsg_begin(m, BROKER_PM_RUN_BEGIN), 0);
	put_target(m, key_file, transport);
	assert_int_equal(pmsg_put_u32(m, 1000), 0);
	assert_int_equal(pmsg_put_u64(m, 0), 0);
	assert_int_equal(pmsg_put_u64(m, 0), 0);
	assert_int_equal(pmsg_put_u64(m, 0), 0);
	assert_int_equal(pmsg_put_u64(m, 0), 0);
	assert_int_equal(pmsg_put_u32(m, env ? 1 : 0), 0);
	if (env)
		assert_int_equal(pmsg_put_str(m, env), 0);
	assert_int_equal(pmsg_put_u64(m, cmdlen), 0);
}

static void
data_msg(buf *m, const char *p, size_t n)
{
	assert_int_equal(pmsg_begin(m, BROKER_PM_RUN_DATA), 0);
	assert_int_equal(pmsg_put_bytes(m, p, n), 0);
}

static int
feed(broker_priv_state *st, const buf *m, char *why)
{
	return broker_priv_feed(st, m->data, m->len, why, 256);
}

static void
broker_states(void **state)
{
	broker_priv_state st;
	buf m = BUF_INIT;
	char why[256];

	(void)state;
	buf_init(&m, PMSG_MAX);
	broker_priv_state_init(&st, "/data");
	/* a command piece with no run begun is out of phase */
	data_msg(&m, "ls", 2);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	assert_non_null(strstr(why, "out of phase"));
	/* unknown type; garbage */
	assert_int_equal(pmsg_begin(&m, 77), 0);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	assert_non_null(strstr(why, "unknown"));
	assert_int_equal(broker_priv_feed(&st, "\x01\x01\x00", 3, why, sizeof(why)), ESC_EPARSE);
	/* keys from anywhere but DATA/keys/NAME */
	begin_msg(&m, "/etc/shadow", BROKER_SSH, NULL, 2);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	begin_msg(&m, "/data/keys/../signing.key", BROKER_SSH, NULL, 2);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	begin_msg(&m, "/data/keys/", BROKER_SSH, NULL, 2);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	begin_msg(&m, "/data/keysx/a", BROKER_SSH, NULL, 2);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	/* environment beyond ESCORT_* */
	begin_msg(&m, NULL, BROKER_LOCAL, "LD_PRELOAD=/tmp/x.so", 2);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	begin_msg(&m, NULL, BROKER_LOCAL, "ESCORT_=x", 2);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	/* unknown transport; too long a command; a trailing byte */
	begin_msg(&m, NULL, 9, NULL, 2);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	begin_msg(&m, NULL, BROKER_LOCAL, NULL, BROKER_PRIV_CMD_MAX + 1);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	begin_msg(&m, NULL, BROKER_LOCAL, NULL, 2);
	assert_int_equal(pmsg_put_u8(&m, 0), 0);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	/* a good run in two pieces */
	begin_msg(&m, "/data/keys/t1", BROKER_SSH, "ESCORT_REQUEST=7", 5);
	assert_int_equal(feed(&st, &m, why), 0);
	assert_string_equal(st.req.t.key_file, "/data/keys/t1");
	assert_string_equal(st.req.lim.env[0], "ESCORT_REQUEST=7");
	/* a second begin while the command is arriving is out of phase */
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	data_msg(&m, "ech", 3);
	assert_int_equal(feed(&st, &m, why), 0);
	/* more than announced */
	data_msg(&m, "o x", 3);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	data_msg(&m, "o", 1);
	assert_int_equal(feed(&st, &m, why), 0);
	data_msg(&m, "!", 1);
	assert_int_equal(feed(&st, &m, why), 1);
	assert_int_equal(st.req.cmd.len, 5);
	assert_memory_equal(st.req.cmd.data, "echo!", 5);
	assert_int_equal(st.req.type, BROKER_PM_RUN_BEGIN);
	broker_priv_state_done(&st);
	/* an empty piece is malformed */
	begin_msg(&m, NULL, BROKER_LOCAL, NULL, 1);
	assert_int_equal(feed(&st, &m, why), 0);
	data_msg(&m, "", 0);
	assert_int_equal(feed(&st, &m, why), ESC_EPARSE);
	broker_priv_state_done(&st);
	/* disconnect */
	assert_int_equal(pmsg_begin(&m, BROKER_PM_DISCONNECT), 0);
	put_target(&m, NULL, BROKER_SSH);
	assert_int_equal(feed(&st, &m, why), 1);
	assert_int_equal(st.req.type, BROKER_PM_DISCONNECT);
	broker_priv_state_done(&st);
	broker_priv_state_free(&st);
	buf_free(&m);
}

/* ---- end to end over socketpairs (attaches this process: run last) ---- */

static void
out_cb(void *ctx, int stream, const unsigned char *p, size_t n)
{
	buf *b = ctx;

	(void)stream;
	buf_put(b, p, n);
}

static void
broker_end_to_end(void **state)
{
	int sv[2], st;
	pid_t pid;
	broker *b = NULL;
	broker_target t;
	broker_limits lim;
	broker_result res;
	buf msg = BUF_INIT, seen = BUF_INIT, m = BUF_INIT;
	const char *env[] = { "ESCORT_REQUEST=5", NULL };
	static const char cmd[] = "echo out$ESCORT_REQUEST; echo err >&2; head -c 100000 "
	                          "/dev/zero | tr '\\0' x; exit 3";

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		_exit(broker_priv_serve(sv[1], tmpdir) == 0 ? 0 : 9);
	}
	close(sv[1]);
	assert_int_equal(broker_priv_client_attach(sv[0]), 0);
	assert_int_equal(broker_new(&b), 0);
	memset(&t, 0, sizeof(t));
	t.name = "local";
	t.transport = BROKER_LOCAL;
	memset(&lim, 0, sizeof(lim));
	lim.timeout_ms = 20000;
	lim.out_max = 16;
	lim.env = env;
	lim.on_output = out_cb;
	lim.ctx = &seen;
	assert_int_equal(broker_run(b, &t, (const unsigned char *)cmd, strlen(cmd), &lim, &res,
	                            &msg), 0);
	assert_int_equal(res.exit_code, 3);
	assert_int_equal(res.out_total, 5 + 100000);
	assert_int_equal(res.out.len, 16); /* the client side keeps out_max */
	assert_memory_equal(res.out.data, "out5\nxxxxxxxxxxx", 16);
	assert_int_equal(res.err_total, 4);
	assert_int_equal(seen.len, 5 + 4 + 100000);
	broker_result_free(&res);
	/* a key file the broker does not trust: refused there, the channel stays in step */
	t.transport = BROKER_SSH;
	t.host = "127.0.0.1";
	t.host_key = "SHA256:x";
	{
		char kf[512];

		snprintf(kf, sizeof(kf), "%s/keys/none", tmpdir);
		t.key_file = kf;
		buf_reset(&msg);
		assert_int_equal(broker_run(b, &t, (const unsigned char *)"true", 4, &lim, &res, &msg),
		                 BROKER_EAUTH);
		assert_non_null(strstr(buf_cstr(&msg), "keys/none"));
		broker_result_free(&res);
	}
	assert_int_equal(broker_priv_failed(), 0);
	/* a key outside DATA/keys: the broker refuses the request and closes the channel;
	 * every later run fails closed */
	t.key_file = "/etc/shadow";
	buf_reset(&msg);
	assert_int_equal(broker_run(b, &t, (const unsigned char *)"true", 4, &lim, &res, &msg),
	                 ESC_EIO);
	assert_non_null(strstr(buf_cstr(&msg), "unavailable"));
	broker_result_free(&res);
	t.transport = BROKER_LOCAL;
	t.key_file = NULL;
	buf_reset(&msg);
	assert_int_equal(broker_run(b, &t, (const unsigned char *)"true", 4, &lim, &res, &msg),
	                 ESC_EIO);
	broker_result_free(&res);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 9);
	assert_int_equal(broker_priv_failed(), 1);
	broker_free(b);
	buf_free(&msg);
	buf_free(&seen);
	buf_free(&m);
}

/* ---- sessions' shells: the control channel and each shell's channel ---- */

static void
open_msg(buf *m, const char *key_file, const char *env)
{
	assert_int_equal(pmsg_begin(m, BROKER_PM_SHELL_OPEN), 0);
	put_target(m, key_file, key_file ? BROKER_SSH : BROKER_LOCAL);
	assert_int_equal(pmsg_put_u32(m, env ? 1 : 0), 0);
	if (env)
		assert_int_equal(pmsg_put_str(m, env), 0);
}

static void
shell_ctl_states(void **state)
{
	broker_priv_state st;
	buf m = BUF_INIT;
	char why[256];

	(void)state;
	buf_init(&m, PMSG_MAX);
	broker_priv_state_init(&st, "/data");
	/* a run's request is unknown on the shell channel */
	begin_msg(&m, NULL, BROKER_LOCAL, NULL, 2);
	assert_int_equal(broker_priv_ctl_feed(&st, m.data, m.len, why, sizeof(why)), ESC_EPARSE);
	assert_non_null(strstr(why, "unknown"));
	/* a key outside DATA/keys; foreign environment; a trailing byte */
	open_msg(&m, "/data/keys/../signing.key", NULL);
	assert_int_equal(broker_priv_ctl_feed(&st, m.data, m.len, why, sizeof(why)), ESC_EPARSE);
	open_msg(&m, NULL, "BASH_ENV=/tmp/x");
	assert_int_equal(broker_priv_ctl_feed(&st, m.data, m.len, why, sizeof(why)), ESC_EPARSE);
	open_msg(&m, NULL, "ESCORT_SESSION=4");
	assert_int_equal(pmsg_put_u8(&m, 0), 0);
	assert_int_equal(broker_priv_ctl_feed(&st, m.data, m.len, why, sizeof(why)), ESC_EPARSE);
	/* truncated */
	open_msg(&m, NULL, "ESCORT_SESSION=4");
	assert_int_equal(broker_priv_ctl_feed(&st, m.data, m.len - 1, why, sizeof(why)), ESC_EPARSE);
	/* a good one */
	open_msg(&m, "/data/keys/t1", "ESCORT_SESSION=4");
	assert_int_equal(broker_priv_ctl_feed(&st, m.data, m.len, why, sizeof(why)), 1);
	assert_int_equal(st.req.type, BROKER_PM_SHELL_OPEN);
	assert_string_equal(st.req.t.key_file, "/data/keys/t1");
	assert_string_equal(st.req.lim.env[0], "ESCORT_SESSION=4");
	/* kill by pid: never pid 0, 1 or a negative one (a process group) */
	assert_int_equal(pmsg_begin(&m, BROKER_PM_SHELL_KILL_PID), 0);
	assert_int_equal(pmsg_put_i64(&m, -5), 0);
	assert_int_equal(pmsg_put_i64(&m, 0), 0);
	assert_int_equal(broker_priv_ctl_feed(&st, m.data, m.len, why, sizeof(why)), ESC_EPARSE);
	assert_int_equal(pmsg_begin(&m, BROKER_PM_SHELL_KILL_PID), 0);
	assert_int_equal(pmsg_put_i64(&m, 4242), 0);
	assert_int_equal(pmsg_put_i64(&m, 77), 0);
	assert_int_equal(broker_priv_ctl_feed(&st, m.data, m.len, why, sizeof(why)), 1);
	assert_int_equal(st.req.type, BROKER_PM_SHELL_KILL_PID);
	assert_int_equal(st.req.pid, 4242);
	assert_int_equal(st.req.start, 77);
	broker_priv_state_free(&st);
	buf_free(&m);
}

static int
sfeed(broker_priv_shell_in *in, buf *m, char *why)
{
	return broker_priv_shell_feed(in, m->data, m->len, why, 256);
}

static void
line_msg(buf *m, uint64_t len)
{
	assert_int_equal(pmsg_begin(m, BROKER_PM_SHELL_LINE), 0);
	assert_int_equal(pmsg_put_u32(m, 1000), 0);
	assert_int_equal(pmsg_put_u64(m, len), 0);
}

static void
sdata_msg(buf *m, const char *p, size_t n)
{
	assert_int_equal(pmsg_begin(m, BROKER_PM_SHELL_DATA), 0);
	assert_int_equal(pmsg_put_bytes(m, p, n), 0);
}

static void
shell_states(void **state)
{
	broker_priv_shell_in in;
	buf m = BUF_INIT;
	char why[256];

	(void)state;
	buf_init(&m, PMSG_MAX);
	broker_priv_shell_in_init(&in);
	/* pieces of a line nobody announced; unknown types; garbage */
	sdata_msg(&m, "ls", 2);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	assert_non_null(strstr(why, "out of phase"));
	assert_int_equal(pmsg_begin(&m, 77), 0);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	assert_non_null(strstr(why, "unknown"));
	assert_int_equal(pmsg_begin(&m, BROKER_PM_RUN_BEGIN), 0);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	assert_int_equal(broker_priv_shell_feed(&in, "\x01", 1, why, sizeof(why)), ESC_EPARSE);
	/* lines of 0 bytes or over the limit; a trailing byte */
	line_msg(&m, 0);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	line_msg(&m, BROKER_PRIV_LINE_MAX + 1);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	line_msg(&m, 3);
	assert_int_equal(pmsg_put_u8(&m, 0), 0);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	/* only SIGINT; KILL and CLOSE carry nothing */
	assert_int_equal(pmsg_begin(&m, BROKER_PM_SHELL_SIGNAL), 0);
	assert_int_equal(pmsg_put_u8(&m, 9), 0);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	assert_int_equal(pmsg_begin(&m, BROKER_PM_SHELL_KILL), 0);
	assert_int_equal(pmsg_put_u8(&m, 0), 0);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	/* a line in two pieces */
	line_msg(&m, 5);
	assert_int_equal(sfeed(&in, &m, why), 0);
	assert_int_equal(in.phase, BROKER_SH_RECV);
	/* while it arrives: no second line, no close, no signal */
	line_msg(&m, 5);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	assert_int_equal(pmsg_begin(&m, BROKER_PM_SHELL_CLOSE), 0);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	/* more than announced, a NUL, an empty piece */
	sdata_msg(&m, "echo x", 6);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	sdata_msg(&m, "e\0", 2);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	sdata_msg(&m, "", 0);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	sdata_msg(&m, "ech", 3);
	assert_int_equal(sfeed(&in, &m, why), 0);
	sdata_msg(&m, "o!", 2);
	assert_int_equal(sfeed(&in, &m, why), 1);
	assert_int_equal(in.type, BROKER_PM_SHELL_LINE);
	assert_int_equal(in.phase, BROKER_SH_RUNNING);
	assert_int_equal(in.timeout_ms, 1000);
	assert_memory_equal(in.line.data, "echo!", 5);
	/* while it runs: Ctrl-C and the kill switch only */
	line_msg(&m, 2);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	assert_non_null(strstr(why, "out of phase"));
	assert_int_equal(pmsg_begin(&m, BROKER_PM_SHELL_CLOSE), 0);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	sdata_msg(&m, "x", 1);
	assert_int_equal(sfeed(&in, &m, why), ESC_EPARSE);
	assert_int_equal(pmsg_begin(&m, BROKER_PM_SHELL_SIGNAL), 0);
	assert_int_equal(pmsg_put_u8(&m, 2), 0);
	assert_int_equal(sfeed(&in, &m, why), 1);
	assert_int_equal(in.type, BROKER_PM_SHELL_SIGNAL);
	assert_int_equal(pmsg_begin(&m, BROKER_PM_SHELL_KILL), 0);
	assert_int_equal(sfeed(&in, &m, why), 1);
	assert_int_equal(in.type, BROKER_PM_SHELL_KILL);
	broker_priv_shell_in_done(&in);
	assert_int_equal(in.phase, BROKER_SH_IDLE);
	assert_int_equal(in.line.len, 0);
	/* idle: a late Ctrl-C is harmless; close */
	assert_int_equal(pmsg_begin(&m, BROKER_PM_SHELL_SIGNAL), 0);
	assert_int_equal(pmsg_put_u8(&m, 2), 0);
	assert_int_equal(sfeed(&in, &m, why), 1);
	assert_int_equal(pmsg_begin(&m, BROKER_PM_SHELL_CLOSE), 0);
	assert_int_equal(sfeed(&in, &m, why), 1);
	assert_int_equal(in.type, BROKER_PM_SHELL_CLOSE);
	broker_priv_shell_in_free(&in);
	buf_free(&m);
}

static int
sh_poll_go(void *ctx)
{
	int *n = ctx;

	/* the third poll presses Ctrl-C */
	return ++*n == 3 ? BROKER_SHELL_INTERRUPT : BROKER_SHELL_GO;
}

static void
sh_out(void *ctx, int stream, const unsigned char *p, size_t n)
{
	(void)stream;
	buf_put(ctx, p, n);
}

/* The broker's shell table served in a thread, the worker's stubs over a socketpair: a
 * line, Ctrl-C, kill by pid, and a refusal on the control channel ending every shell. */
static void
shell_end_to_end(void **state)
{
	int sv[2], npoll = 0;
	broker_pshell *ps = NULL, *ps2 = NULL;
	broker_target t;
	broker_shell_io io;
	broker_shell_result res;
	buf msg = BUF_INIT, out = BUF_INIT, m = BUF_INIT;
	const char *env[] = { "ESCORT_SESSION=9", NULL };
	static const char l1[] = "echo s$ESCORT_SESSION; cd /tmp", l2[] = "pwd",
	                  l3[] = "sleep 30; echo not-reached";

	(void)state;
	buf_init(&m, PMSG_MAX);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(broker_priv_shells_start(sv[1], tmpdir), 0);
	assert_int_equal(broker_priv_shell_attach(sv[0]), 0);
	assert_true(broker_priv_shell_active());
	memset(&t, 0, sizeof(t));
	t.name = "local";
	t.transport = BROKER_LOCAL;
	assert_int_equal(broker_priv_shell_open(&ps, &t, env, &msg), 0);
	assert_true(broker_priv_shell_pid(ps) > 1);
	memset(&io, 0, sizeof(io));
	io.timeout_ms = 20000;
	io.on_output = sh_out;
	io.ctx = &out;
	assert_int_equal(broker_priv_shell_run(ps, (const unsigned char *)l1, strlen(l1), &io, &res,
	                                       &msg), 0);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.data, "s9\n", 3);
	buf_reset(&out);
	assert_int_equal(broker_priv_shell_run(ps, (const unsigned char *)l2, strlen(l2), &io, &res,
	                                       &msg), 0);
	assert_memory_equal(out.data, "/tmp\n", 5);
	/* Ctrl-C from io->poll reaches the line in the broker */
	buf_reset(&out);
	io.poll = sh_poll_go;
	io.ctx = &npoll;
	io.on_output = NULL;
	assert_int_equal(broker_priv_shell_run(ps, (const unsigned char *)l3, strlen(l3), &io, &res,
	                                       &msg), 0);
	assert_true(res.interrupted);
	assert_int_equal(res.exit_code, 130);
	assert_true(res.ms < 5000);
	assert_true(broker_priv_shell_alive(ps));
	/* kill by pid: only the broker's own shells */
	assert_int_equal(broker_priv_shell_kill_pid(getpid(), 0, &msg), ESC_ENOENT);
	assert_int_equal(broker_priv_shell_kill_pid(broker_priv_shell_pid(ps),
	                                            broker_priv_shell_start(ps), &msg), 0);
	for (int i = 0; i < 100 && kill((pid_t)broker_priv_shell_pid(ps), 0) == 0; i++)
		usleep(10000);
	assert_int_not_equal(kill((pid_t)broker_priv_shell_pid(ps), 0), 0);
	io.poll = NULL;
	assert_int_not_equal(broker_priv_shell_run(ps, (const unsigned char *)l2, strlen(l2), &io,
	                                           &res, &msg), 0);
	broker_priv_shell_close(ps);
	/* a request the control channel does not know: refused, every shell ends */
	assert_int_equal(broker_priv_shell_open(&ps2, &t, NULL, &msg), 0);
	assert_int_equal(pmsg_begin(&m, BROKER_PM_RUN_DATA), 0);
	assert_int_equal(pmsg_send(sv[0], &m), 0);
	for (int i = 0; i < 100 && kill((pid_t)broker_priv_shell_pid(ps2), 0) == 0; i++)
		usleep(10000);
	assert_int_not_equal(kill((pid_t)broker_priv_shell_pid(ps2), 0), 0);
	assert_int_not_equal(broker_priv_shell_open(&ps, &t, NULL, &msg), 0);
	broker_priv_shell_close(ps2);
	broker_priv_shells_stop();
	close(sv[0]);
	buf_free(&msg);
	buf_free(&out);
	buf_free(&m);
}

static void
signer_end_to_end(void **state)
{
	int sv[2], st;
	pid_t pid;
	char err[256], path[256];
	audit_key k;
	audit_sth s;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		_exit(audit_signer_serve(sv[1], &key) == 0 ? 0 : 9);
	}
	close(sv[1]);
	assert_int_equal(audit_signer_active(), 0);
	assert_int_equal(audit_signer_attach(sv[0], err, sizeof(err)), 0);
	assert_int_equal(audit_signer_active(), 1);
	/* loading the key now yields the public half only */
	snprintf(path, sizeof(path), "%s/%s", tmpdir, AUDIT_KEY_FILE);
	assert_int_equal(audit_key_load("/nonexistent", &k, err, sizeof(err)), 0);
	assert_memory_equal(k.pub.pk, key.pub.pk, 32);
	{
		static const uint8_t zero[64];

		assert_memory_equal(k.sk, zero, 64);
	}
	memset(&s, 0, sizeof(s));
	s.size = 5;
	memset(s.root.b, 7, MT_HASH_LEN);
	s.time_us = (int64_t)time(NULL) * 1000000;
	assert_int_equal(audit_sth_sign(&s, &k), 0);
	assert_int_equal(audit_sth_verify(&s, &key.pub), 0);
	assert_int_equal(audit_signer_failed(), 0);
	/* a shrinking log: refused, the signer closes, and signing fails from then on */
	s.size = 4;
	assert_int_equal(audit_sth_sign(&s, &k), ESC_EIO);
	s.size = 6;
	assert_int_equal(audit_sth_sign(&s, &k), ESC_EIO);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 9);
	assert_int_equal(audit_signer_failed(), 1);
	close(sv[0]);
	(void)path;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(codec_roundtrip),
		cmocka_unit_test(codec_malformed),
		cmocka_unit_test(codec_socket),
		cmocka_unit_test(signer_states),
		cmocka_unit_test(broker_states),
		cmocka_unit_test(broker_end_to_end),
		cmocka_unit_test(signer_end_to_end),
		cmocka_unit_test(shell_ctl_states),
		cmocka_unit_test(shell_states),
		cmocka_unit_test(shell_end_to_end),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

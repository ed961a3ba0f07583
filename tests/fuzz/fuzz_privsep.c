/* fuzz_privsep.c — libFuzzer target for the privilege-separation decoders: the input is a
 * sequence of datagrams (u16 little-endian length, bytes), each fed to the signer's and
 * the broker's state machines as a worker could send it, and read field by field with
 * the codec's getters. Checks: no crash or leak; a peer that refused is never fed again
 * (as the serve loops close the channel); the signer never signs a smaller tree after a
 * larger one, and what it signs verifies; a complete broker run holds exactly the bytes
 * announced and a key file only under DATA/keys/. The sessions' shell channels too: the
 * control channel's decoder (same key and environment rules) and a shell channel's state
 * machine, whose complete line holds exactly the bytes announced and no NUL. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit/signer.h"
#include "audit/sth.h"
#include "broker/broker_priv.h"
#include "util/err.h"
#include "util/pmsg.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static audit_key g_key;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[32];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	memset(seed, 0x5a, sizeof(seed));
	crypto_sign_seed_keypair(g_key.pub.pk, g_key.sk, seed);
	memcpy(g_key.pub.id, g_key.pub.pk, AUDIT_KEYID_LEN);
	return 0;
}

/* Reads every kind of field until the message ends or a getter refuses. */
static void
walk_fields(const uint8_t *p, size_t n)
{
	pmsg_rd r;
	uint8_t u8, raw[16];
	uint32_t u32;
	uint64_t u64;
	int64_t i64;
	const uint8_t *b;
	size_t bl;
	char *s;
	int step = 0;

	if (pmsg_open(&r, p, n) != 0)
		return;
	while (r.off < r.len) {
		int rc;

		switch (step++ % 7) {
		case 0: rc = pmsg_get_u8(&r, &u8); break;
		case 1: rc = pmsg_get_u32(&r, &u32); break;
		case 2: rc = pmsg_get_u64(&r, &u64); break;
		case 3: rc = pmsg_get_i64(&r, &i64); break;
		case 4: rc = pmsg_get_raw(&r, raw, sizeof(raw)); break;
		case 5:
			rc = pmsg_get_bytes(&r, &b, &bl, 4096);
			if (rc == 0 && (b < r.p || b + bl > r.p + r.len))
				abort();
			break;
		default:
			rc = pmsg_get_str(&r, &s, 4096);
			if (rc == 0 && s && strlen(s) > 4096)
				abort();
			if (rc == 0)
				free(s);
			break;
		}
		if (rc != 0)
			break;
		if (r.off > r.len)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	audit_signer_state sst;
	broker_priv_state bst, cst;
	broker_priv_shell_in sin;
	buf rep = BUF_INIT;
	char why[256];
	int sdead = 0, bdead = 0, cdead = 0, shdead = 0;
	uint64_t max_signed = 0;
	size_t off = 0;

	memset(&sst, 0, sizeof(sst));
	sst.now_us = (int64_t)1764000000 * 1000000;
	broker_priv_state_init(&bst, "/data");
	broker_priv_state_init(&cst, "/data");
	broker_priv_shell_in_init(&sin);
	buf_init(&rep, PMSG_MAX);
	while (size - off >= 2) {
		size_t n = (size_t)data[off] | (size_t)data[off + 1] << 8;
		const uint8_t *m = data + off + 2;
		int rc;

		off += 2;
		if (n > size - off)
			n = size - off;
		off += n;
		walk_fields(m, n);
		if (!sdead) {
			rc = audit_signer_handle(&sst, &g_key, m, n, &rep, why, sizeof(why));
			if (rc != 0 && rc != ESC_EPARSE)
				abort();
			if (rc != 0) {
				sdead = 1;
			} else if (rep.len > PMSG_HDR && rep.data[1] == AUDIT_SG_SIGNED) {
				audit_sth s;

				memset(&s, 0, sizeof(s));
				/* the request's fields, as the signer read them */
				for (int i = 0; i < 8; i++)
					s.size |= (uint64_t)m[PMSG_HDR + i] << (8 * i);
				memcpy(s.root.b, m + PMSG_HDR + 8, MT_HASH_LEN);
				for (int i = 0; i < 8; i++)
					s.time_us |= (int64_t)((uint64_t)m[PMSG_HDR + 40 + i] << (8 * i));
				memcpy(s.key_id, rep.data + PMSG_HDR, AUDIT_KEYID_LEN);
				memcpy(s.sig, rep.data + PMSG_HDR + AUDIT_KEYID_LEN, AUDIT_SIG_LEN);
				if (s.size < max_signed || audit_sth_verify(&s, &g_key.pub) != 0)
					abort();
				max_signed = s.size;
			}
		}
		if (!bdead) {
			rc = broker_priv_feed(&bst, m, n, why, sizeof(why));
			if (rc < 0 && rc != ESC_EPARSE)
				abort();
			if (rc < 0) {
				bdead = 1;
			} else if (rc == 1) {
				const char *k = bst.req.t.key_file;

				if (bst.req.type == BROKER_PM_RUN_BEGIN && bst.req.cmd.len != bst.want)
					abort();
				if (k && (strncmp(k, "/data/keys/", 11) != 0 || strchr(k + 11, '/')))
					abort();
				broker_priv_state_done(&bst);
			}
		}
		if (!cdead) {
			rc = broker_priv_ctl_feed(&cst, m, n, why, sizeof(why));
			if (rc != 1 && rc != ESC_EPARSE)
				abort();
			if (rc < 0) {
				cdead = 1;
			} else {
				const char *k = cst.req.t.key_file;

				if (cst.req.type == BROKER_PM_SHELL_KILL_PID && cst.req.pid <= 1)
					abort();
				if (cst.req.type == BROKER_PM_SHELL_OPEN && k &&
				    (strncmp(k, "/data/keys/", 11) != 0 || strchr(k + 11, '/')))
					abort();
				for (size_t i = 0; cst.req.lim.env && cst.req.lim.env[i]; i++)
					if (strncmp(cst.req.lim.env[i], "ESCORT_", 7) != 0)
						abort();
			}
		}
		if (!shdead) {
			int was = sin.phase;

			rc = broker_priv_shell_feed(&sin, m, n, why, sizeof(why));
			if (rc < 0 && rc != ESC_EPARSE)
				abort();
			if (rc < 0) {
				shdead = 1;
			} else if (rc == 1 && sin.type == BROKER_PM_SHELL_LINE) {
				if (was != BROKER_SH_RECV || sin.phase != BROKER_SH_RUNNING ||
				    sin.line.len != sin.want || sin.want == 0 ||
				    memchr(sin.line.data, 0, sin.line.len) != NULL)
					abort();
			} else if (rc == 1 && sin.type == BROKER_PM_SHELL_CLOSE && was != BROKER_SH_IDLE) {
				abort();
			} else if (rc == 1 && sin.type == BROKER_PM_SHELL_KILL) {
				/* the line ends (killed): the shell takes lines again */
				broker_priv_shell_in_done(&sin);
			}
		}
	}
	broker_priv_shell_in_free(&sin);
	broker_priv_state_free(&cst);
	broker_priv_state_free(&bst);
	buf_free(&rep);
	return 0;
}

/* test_merkle.c — RFC 6962 hashing against the published certificate-transparency test
 * vectors and trees computed by hand from the definition; inclusion and consistency proofs
 * for every size 1..70 and random larger ones; any changed byte of a proof or root fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "audit/merkle.h"
#include "util/err.h"

/* independent of merkle.c: SHA-256 of prefix || a || b */
static mt_hash
H(uint8_t prefix, const void *a, size_t alen, const void *b, size_t blen)
{
	mt_hash out;
	uint8_t tmp[1 + 64 + 64];
	unsigned int l = 0;

	assert_true(alen + blen <= 128);
	tmp[0] = prefix;
	memcpy(tmp + 1, a, alen);
	if (blen)
		memcpy(tmp + 1 + alen, b, blen);
	assert_int_equal(EVP_Digest(tmp, 1 + alen + blen, out.b, &l, EVP_sha256(), NULL), 1);
	return out;
}

static mt_hash
N(mt_hash a, mt_hash b)
{
	return H(1, a.b, 32, b.b, 32);
}

static void
hexeq(const mt_hash *h, const char *hex)
{
	char got[65];

	for (int i = 0; i < 32; i++)
		snprintf(got + 2 * i, 3, "%02x", h->b[i]);
	assert_string_equal(got, hex);
}

/* leaves of the certificate-transparency reference tests */
static const char *const ct_roots[8] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void
ct_leaves(mt_hash leaves[8])
{
	static const uint8_t d[] = { 0x00, 0x10, 0x20, 0x21, 0x30, 0x31, 0x40, 0x41, 0x42, 0x43 };
	uint8_t l6[8], l7[16];

	for (int i = 0; i < 8; i++)
		l6[i] = (uint8_t)(0x50 + i);
	for (int i = 0; i < 16; i++)
		l7[i] = (uint8_t)(0x60 + i);
	assert_int_equal(mt_leaf_hash("", 0, &leaves[0]), 0);
	assert_int_equal(mt_leaf_hash(d, 1, &leaves[1]), 0);
	assert_int_equal(mt_leaf_hash(d + 1, 1, &leaves[2]), 0);
	assert_int_equal(mt_leaf_hash(d + 2, 2, &leaves[3]), 0);
	assert_int_equal(mt_leaf_hash(d + 4, 2, &leaves[4]), 0);
	assert_int_equal(mt_leaf_hash(d + 6, 4, &leaves[5]), 0);
	assert_int_equal(mt_leaf_hash(l6, 8, &leaves[6]), 0);
	assert_int_equal(mt_leaf_hash(l7, 16, &leaves[7]), 0);
}

static void
test_ct_vectors(void **state)
{
	mt_hash leaves[8], root;
	mt_frontier f;

	(void)state;
	ct_leaves(leaves);
	mt_frontier_init(&f);
	assert_int_equal(mt_empty_root(&root), 0);
	hexeq(&root, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	for (int n = 1; n <= 8; n++) {
		assert_int_equal(mt_root_of(leaves, (uint64_t)n, &root), 0);
		hexeq(&root, ct_roots[n - 1]);
		assert_int_equal(mt_frontier_push(&f, &leaves[n - 1], NULL, NULL), 0);
		assert_int_equal(mt_frontier_root(&f, &root), 0);
		hexeq(&root, ct_roots[n - 1]);
	}
}

/* roots of 1..7 leaves written out from the RFC 6962 definition */
static void
test_hand_computed(void **state)
{
	mt_hash l[7], want[7], got;
	mt_frontier f;
	char data[8];

	(void)state;
	for (int i = 0; i < 7; i++) {
		snprintf(data, sizeof(data), "rec%d", i);
		l[i] = H(0, data, strlen(data), NULL, 0);
		mt_hash viaapi;
		assert_int_equal(mt_leaf_hash(data, strlen(data), &viaapi), 0);
		assert_memory_equal(viaapi.b, l[i].b, 32);
	}
	want[0] = l[0];
	want[1] = N(l[0], l[1]);
	want[2] = N(N(l[0], l[1]), l[2]);
	want[3] = N(N(l[0], l[1]), N(l[2], l[3]));
	want[4] = N(N(N(l[0], l[1]), N(l[2], l[3])), l[4]);
	want[5] = N(N(N(l[0], l[1]), N(l[2], l[3])), N(l[4], l[5]));
	want[6] = N(N(N(l[0], l[1]), N(l[2], l[3])), N(N(l[4], l[5]), l[6]));
	mt_frontier_init(&f);
	for (int n = 1; n <= 7; n++) {
		assert_int_equal(mt_root_of(l, (uint64_t)n, &got), 0);
		assert_memory_equal(got.b, want[n - 1].b, 32);
		assert_int_equal(mt_frontier_push(&f, &l[n - 1], NULL, NULL), 0);
		assert_int_equal(mt_frontier_root(&f, &got), 0);
		assert_memory_equal(got.b, want[n - 1].b, 32);
	}
	/* hand-computed audit paths in the 7-leaf tree */
	{
		mt_hash p0[3] = { l[1], N(l[2], l[3]), N(N(l[4], l[5]), l[6]) };
		mt_hash p6[2] = { N(l[4], l[5]), N(N(l[0], l[1]), N(l[2], l[3])) };
		mt_hash p5[3] = { l[4], l[6], N(N(l[0], l[1]), N(l[2], l[3])) };
		assert_int_equal(mt_verify_inclusion(&l[0], 0, 7, p0, 3, &want[6]), 0);
		assert_int_equal(mt_verify_inclusion(&l[6], 6, 7, p6, 2, &want[6]), 0);
		assert_int_equal(mt_verify_inclusion(&l[6], 6, 7, p6, 1, &want[6]), ESC_EPARSE);
		assert_int_equal(mt_verify_inclusion(&l[5], 5, 7, p5, 3, &want[6]), 0);
		assert_int_equal(mt_verify_inclusion(&l[5], 4, 7, p5, 3, &want[6]), ESC_EPARSE);
	}
	/* RFC 6962 2.1.3 example: consistency proof between 3 and 7 leaves is [c, d, g, l] */
	{
		mt_hash c = l[2], d = l[3], g = N(l[0], l[1]), ll = N(N(l[4], l[5]), l[6]);
		mt_hash pr[4] = { c, d, g, ll };
		assert_int_equal(mt_verify_consistency(3, 7, &want[2], &want[6], pr, 4), 0);
		/* 4 -> 7: [l] alone (the old root is the left subtree) */
		assert_int_equal(mt_verify_consistency(4, 7, &want[3], &want[6], &ll, 1), 0);
		assert_int_equal(mt_verify_consistency(3, 7, &want[3], &want[6], pr, 4), ESC_EPARSE);
	}
}

/* an in-memory node store filled from mt_frontier_push's post-order output */
struct store {
	mt_hash *nodes;
	uint64_t leaves;
	uint64_t limit; /* largest tree a proof may ask about */
};

static int
store_get(void *ctx, unsigned level, uint64_t index, mt_hash *out)
{
	struct store *s = ctx;

	if (((index + 1) << level) > s->limit)
		return ESC_ENOENT; /* a proof for size n must not look beyond leaf n */
	*out = s->nodes[mt_postorder_pos(level, index)];
	return 0;
}

static void
store_build(struct store *s, mt_hash *leaves, uint64_t n)
{
	mt_frontier f;
	mt_hash done[65];
	unsigned nd;
	uint64_t pos = 0;

	s->nodes = calloc(mt_postorder_count(n) + 1, sizeof(mt_hash));
	assert_non_null(s->nodes);
	s->leaves = n;
	mt_frontier_init(&f);
	for (uint64_t i = 0; i < n; i++) {
		char d[32];
		snprintf(d, sizeof(d), "leaf-%llu", (unsigned long long)i);
		assert_int_equal(mt_leaf_hash(d, strlen(d), &leaves[i]), 0);
		assert_int_equal(mt_frontier_push(&f, &leaves[i], done, &nd), 0);
		assert_int_equal(pos, mt_postorder_count(i));
		for (unsigned k = 0; k < nd; k++)
			s->nodes[pos++] = done[k];
	}
	assert_int_equal(pos, mt_postorder_count(n));
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define BIG 3000

static void
check_inclusion(struct store *s, mt_hash *leaves, uint64_t m, uint64_t n, const mt_hash *root,
                int tamper)
{
	mt_hash path[MT_MAX_PATH], bad;
	size_t np = 0;

	s->limit = n;
	assert_int_equal(mt_inclusion_proof(store_get, s, m, n, path, &np), 0);
	assert_int_equal(mt_verify_inclusion(&leaves[m], m, n, path, np, root), 0);
	if (!tamper)
		return;
	for (size_t i = 0; i < np; i++)
		for (int b = 0; b < 32; b++) {
			path[i].b[b] ^= 0x01;
			assert_int_equal(mt_verify_inclusion(&leaves[m], m, n, path, np, root), ESC_EPARSE);
			path[i].b[b] ^= 0x01;
		}
	for (int b = 0; b < 32; b++) {
		bad = *root;
		bad.b[b] ^= 0x80;
		assert_int_equal(mt_verify_inclusion(&leaves[m], m, n, path, np, &bad), ESC_EPARSE);
		bad = leaves[m];
		bad.b[b] ^= 0x80;
		assert_int_equal(mt_verify_inclusion(&bad, m, n, path, np, root), ESC_EPARSE);
	}
	if (np > 0)
		assert_int_equal(mt_verify_inclusion(&leaves[m], m, n, path, np - 1, root), ESC_EPARSE);
	path[np] = path[0];
	assert_int_equal(mt_verify_inclusion(&leaves[m], m, n, path, np + 1, root), ESC_EPARSE);
	if (n > 1)
		assert_int_equal(mt_verify_inclusion(&leaves[m], (m + 1) % n, n, path, np, root),
		                 ESC_EPARSE);
	assert_int_equal(mt_verify_inclusion(&leaves[m], n, n, path, np, root), ESC_EPARSE);
}

static void
test_inclusion_sizes(void **state)
{
	mt_hash *leaves = calloc(BIG, sizeof(mt_hash)), root;
	struct store s;

	(void)state;
	store_build(&s, leaves, BIG);
	for (uint64_t n = 1; n <= 70; n++) {
		assert_int_equal(mt_root_of(leaves, n, &root), 0);
		for (uint64_t m = 0; m < n; m++)
			check_inclusion(&s, leaves, m, n, &root, n <= 24 || m % 7 == 0);
	}
	for (int k = 0; k < 40; k++) {
		uint64_t n = 71 + rnd() % (BIG - 71), m = rnd() % n;
		assert_int_equal(mt_root_of(leaves, n, &root), 0);
		check_inclusion(&s, leaves, m, n, &root, k < 10);
		check_inclusion(&s, leaves, n - 1, n, &root, 0);
		check_inclusion(&s, leaves, 0, n, &root, 0);
	}
	free(s.nodes);
	free(leaves);
}

static void
check_consistency(struct store *s, mt_hash *leaves, uint64_t m, uint64_t n, int tamper)
{
	mt_hash path[MT_MAX_PATH], r1, r2, bad;
	size_t np = 0;

	assert_int_equal(mt_root_of(leaves, m, &r1), 0);
	assert_int_equal(mt_root_of(leaves, n, &r2), 0);
	s->limit = n;
	assert_int_equal(mt_consistency_proof(store_get, s, m, n, path, &np), 0);
	assert_int_equal(mt_verify_consistency(m, n, &r1, &r2, path, np), 0);
	/* the stored-tree root agrees with the definition */
	assert_int_equal(mt_subtree_root(store_get, s, 0, n, &bad), 0);
	assert_memory_equal(bad.b, r2.b, 32);
	if (!tamper)
		return;
	for (size_t i = 0; i < np; i++)
		for (int b = 0; b < 32; b++) {
			path[i].b[b] ^= 0x04;
			assert_int_equal(mt_verify_consistency(m, n, &r1, &r2, path, np), ESC_EPARSE);
			path[i].b[b] ^= 0x04;
		}
	for (int b = 0; b < 32; b++) {
		bad = r1;
		bad.b[b] ^= 1;
		assert_int_equal(mt_verify_consistency(m, n, &bad, &r2, path, np), ESC_EPARSE);
		bad = r2;
		bad.b[b] ^= 1;
		assert_int_equal(mt_verify_consistency(m, n, &r1, &bad, path, np), ESC_EPARSE);
	}
	if (np > 0)
		assert_int_equal(mt_verify_consistency(m, n, &r1, &r2, path, np - 1), ESC_EPARSE);
	if (m < n) {
		path[np] = path[0];
		assert_int_equal(mt_verify_consistency(m, n, &r1, &r2, path, np + 1), ESC_EPARSE);
	}
}

static void
test_consistency_sizes(void **state)
{
	mt_hash *leaves = calloc(BIG, sizeof(mt_hash));
	struct store s;

	(void)state;
	store_build(&s, leaves, BIG);
	for (uint64_t n = 1; n <= 70; n++)
		for (uint64_t m = 1; m <= n; m++)
			check_consistency(&s, leaves, m, n, n <= 20 || (m * 13) % 11 == 0);
	for (int k = 0; k < 40; k++) {
		uint64_t n = 71 + rnd() % (BIG - 71), m = 1 + rnd() % n;
		check_consistency(&s, leaves, m, n, k < 10);
	}
	/* size 0 has no consistency proof; m > n is not a proof either */
	{
		mt_hash path[MT_MAX_PATH], r;
		size_t np;
		s.limit = 10;
		assert_int_equal(mt_consistency_proof(store_get, &s, 0, 10, path, &np), ESC_EINVAL);
		assert_int_equal(mt_consistency_proof(store_get, &s, 11, 10, path, &np), ESC_EINVAL);
		assert_int_equal(mt_root_of(leaves, 5, &r), 0);
		assert_int_equal(mt_verify_consistency(0, 5, &r, &r, path, 0), ESC_EPARSE);
		assert_int_equal(mt_verify_consistency(6, 5, &r, &r, path, 0), ESC_EPARSE);
		assert_int_equal(mt_verify_consistency(3, 5, &r, &r, path, 0), ESC_EPARSE);
	}
	free(s.nodes);
	free(leaves);
}

static void
test_postorder(void **state)
{
	(void)state;
	assert_int_equal(mt_postorder_pos(0, 0), 0);
	assert_int_equal(mt_postorder_pos(0, 1), 1);
	assert_int_equal(mt_postorder_pos(1, 0), 2);
	assert_int_equal(mt_postorder_pos(0, 2), 3);
	assert_int_equal(mt_postorder_pos(0, 3), 4);
	assert_int_equal(mt_postorder_pos(1, 1), 5);
	assert_int_equal(mt_postorder_pos(2, 0), 6);
	assert_int_equal(mt_postorder_count(4), 7);
	assert_int_equal(mt_postorder_count(5), 8);
}

/* pushing a whole aligned subtree equals pushing its leaves; misaligned pushes refuse */
static void
test_push_node(void **state)
{
	mt_hash leaves[300], node, ra, rb;
	mt_frontier a, b;

	(void)state;
	for (int i = 0; i < 300; i++) {
		unsigned char x[2] = { (unsigned char)i, (unsigned char)(i >> 8) };
		assert_int_equal(mt_leaf_hash(x, 2, &leaves[i]), 0);
	}
	for (unsigned level = 0; level <= 5; level++) {
		uint64_t step = (uint64_t)1 << level;

		mt_frontier_init(&a);
		mt_frontier_init(&b);
		for (uint64_t i = 0; i + step <= 300; i += step) {
			/* every third block leaf by leaf, the others whole */
			if ((i / step) % 3 == 2) {
				for (uint64_t j = 0; j < step; j++)
					assert_int_equal(mt_frontier_push(&b, &leaves[i + j], NULL, NULL), 0);
			} else {
				assert_int_equal(mt_root_of(&leaves[i], step, &node), 0);
				assert_int_equal(mt_frontier_push_node(&b, level, &node), 0);
			}
			for (uint64_t j = 0; j < step; j++)
				assert_int_equal(mt_frontier_push(&a, &leaves[i + j], NULL, NULL), 0);
			assert_int_equal(a.size, b.size);
			assert_int_equal(mt_frontier_root(&a, &ra), 0);
			assert_int_equal(mt_frontier_root(&b, &rb), 0);
			assert_memory_equal(ra.b, rb.b, MT_HASH_LEN);
		}
		if (level > 0) {
			/* one more leaf makes the size unaligned for this level */
			assert_int_equal(mt_frontier_push(&b, &leaves[0], NULL, NULL), 0);
			assert_int_equal(mt_frontier_push_node(&b, level, &node), ESC_EINVAL);
		}
	}
	assert_int_equal(mt_frontier_push_node(&b, 64, &node), ESC_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ct_vectors),
		cmocka_unit_test(test_hand_computed),
		cmocka_unit_test(test_postorder),
		cmocka_unit_test(test_inclusion_sizes),
		cmocka_unit_test(test_consistency_sizes),
		cmocka_unit_test(test_push_node),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

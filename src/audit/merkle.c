/* merkle.c — RFC 6962 tree hashing over OpenSSL's EVP SHA-256, proof generation from a
 * store of complete subtrees, and the RFC 9162 verification algorithms. No secrets here:
 * hashes are public, but comparisons still use sodium_memcmp (cheap and uniform). */
#include "audit/merkle.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "util/err.h"

/* OpenSSL 3 looks the algorithm up on every EVP_sha256() init, and a context costs an
 * allocation: both dominate hashing 100-300 byte records. So the algorithm is fetched once
 * for the process and each thread keeps one context (freed when the thread exits). */
static EVP_MD *sha256_md;
static pthread_key_t ctx_key;
static int ctx_key_ok;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void
sha256_setup(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	ctx_key_ok = pthread_key_create(&ctx_key, ctx_free) == 0;
}

static int
sha256_parts(const void *a, size_t alen, const void *b, size_t blen, const void *c, size_t clen,
             mt_hash *out)
{
	EVP_MD_CTX *ctx;
	unsigned int olen = 0;

	pthread_once(&sha256_once, sha256_setup);
	if (sha256_md == NULL || !ctx_key_ok)
		return ESC_EINTERNAL;
	ctx = pthread_getspecific(ctx_key);
	if (ctx == NULL) {
		ctx = EVP_MD_CTX_new();
		if (ctx == NULL)
			return ESC_ENOMEM;
		if (pthread_setspecific(ctx_key, ctx) != 0) {
			EVP_MD_CTX_free(ctx);
			return ESC_ENOMEM;
		}
	}
	/* a context that hashed before keeps its algorithm: re-initializing with NULL reuses it
	 * without a new provider context */
	if (EVP_DigestInit_ex2(ctx, EVP_MD_CTX_get0_md(ctx) ? NULL : sha256_md, NULL) != 1 ||
	    (alen && EVP_DigestUpdate(ctx, a, alen) != 1) ||
	    (blen && EVP_DigestUpdate(ctx, b, blen) != 1) ||
	    (clen && EVP_DigestUpdate(ctx, c, clen) != 1) ||
	    EVP_DigestFinal_ex(ctx, out->b, &olen) != 1 || olen != MT_HASH_LEN)
		return ESC_EINTERNAL;
	return 0;
}

int
mt_leaf_hash(const void *data, size_t len, mt_hash *out)
{
	static const uint8_t zero = 0x00;

	return sha256_parts(&zero, 1, data, len, NULL, 0, out);
}

int
mt_node_hash(const mt_hash *left, const mt_hash *right, mt_hash *out)
{
	uint8_t m[1 + 2 * MT_HASH_LEN]; /* one update: the per-call cost is most of a node */

	m[0] = 0x01;
	memcpy(m + 1, left->b, MT_HASH_LEN); /* copies first: out may alias an input */
	memcpy(m + 1 + MT_HASH_LEN, right->b, MT_HASH_LEN);
	return sha256_parts(m, sizeof(m), NULL, 0, NULL, 0, out);
}

int
mt_empty_root(mt_hash *out)
{
	return sha256_parts(NULL, 0, NULL, 0, NULL, 0, out);
}

int
mt_hash_eq(const mt_hash *a, const mt_hash *b)
{
	return sodium_memcmp(a->b, b->b, MT_HASH_LEN) == 0;
}

void
mt_frontier_init(mt_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

int
mt_frontier_push(mt_frontier *f, const mt_hash *leaf, mt_hash *done, unsigned *ndone)
{
	uint64_t s;
	mt_hash cur = *leaf;
	unsigned nd = 0;
	int rc;

	if (f->size == UINT64_MAX)
		return ESC_ETOOBIG;
	if (done)
		done[nd] = cur;
	nd++;
	/* every trailing 1 bit of the old size is a complete subtree that now gets a sibling */
	for (s = f->size; s & 1; s >>= 1) {
		if (f->n == 0)
			return ESC_EINTERNAL;
		rc = mt_node_hash(&f->h[f->n - 1], &cur, &cur);
		if (rc)
			return rc;
		f->n--;
		if (done)
			done[nd] = cur;
		nd++;
	}
	if (f->n >= 64)
		return ESC_EINTERNAL;
	f->h[f->n++] = cur;
	f->size++;
	if (ndone)
		*ndone = nd;
	return 0;
}

int
mt_frontier_push_node(mt_frontier *f, unsigned level, const mt_hash *node)
{
	uint64_t s, step;
	mt_hash cur = *node;
	int rc;

	if (level >= 63)
		return ESC_EINVAL;
	step = (uint64_t)1 << level;
	if ((f->size & (step - 1)) != 0 || f->size > UINT64_MAX - step)
		return ESC_EINVAL;
	/* as for a leaf, one level up: every trailing 1 bit above `level` is a sibling */
	for (s = f->size >> level; s & 1; s >>= 1) {
		if (f->n == 0)
			return ESC_EINTERNAL;
		rc = mt_node_hash(&f->h[f->n - 1], &cur, &cur);
		if (rc)
			return rc;
		f->n--;
	}
	if (f->n >= 64)
		return ESC_EINTERNAL;
	f->h[f->n++] = cur;
	f->size += step;
	return 0;
}

int
mt_frontier_root(const mt_frontier *f, mt_hash *out)
{
	mt_hash r;
	unsigned i;
	int rc;

	if (f->n == 0)
		return mt_empty_root(out);
	r = f->h[f->n - 1];
	for (i = f->n - 1; i > 0; i--) {
		rc = mt_node_hash(&f->h[i - 1], &r, &r);
		if (rc)
			return rc;
	}
	*out = r;
	return 0;
}

/* largest power of two strictly less than n (n >= 2) */
static uint64_t
split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k < n - k)
		k <<= 1;
	return k;
}

static int
root_of_rec(const mt_hash *leaves, uint64_t n, mt_hash *out, int depth)
{
	mt_hash l, r;
	uint64_t k;
	int rc;

	if (depth > 64)
		return ESC_EDEPTH;
	if (n == 1) {
		*out = leaves[0];
		return 0;
	}
	k = split_point(n);
	rc = root_of_rec(leaves, k, &l, depth + 1);
	if (rc == 0)
		rc = root_of_rec(leaves + k, n - k, &r, depth + 1);
	if (rc == 0)
		rc = mt_node_hash(&l, &r, out);
	return rc;
}

int
mt_root_of(const mt_hash *leaves, uint64_t n, mt_hash *out)
{
	if (n == 0)
		return mt_empty_root(out);
	return root_of_rec(leaves, n, out, 0);
}

static int
is_pow2(uint64_t n)
{
	return n && (n & (n - 1)) == 0;
}

static unsigned
log2u(uint64_t n)
{
	unsigned l = 0;

	while (n > 1) {
		n >>= 1;
		l++;
	}
	return l;
}

static int
subtree_rec(mt_node_fn get, void *ctx, uint64_t start, uint64_t count, mt_hash *out, int depth)
{
	mt_hash l, r;
	uint64_t k;
	int rc;

	if (depth > 64 || count == 0)
		return ESC_EINVAL;
	if (is_pow2(count)) {
		if (start % count)
			return ESC_EINVAL;
		return get(ctx, log2u(count), start / count, out);
	}
	k = split_point(count);
	rc = subtree_rec(get, ctx, start, k, &l, depth + 1);
	if (rc == 0)
		rc = subtree_rec(get, ctx, start + k, count - k, &r, depth + 1);
	if (rc == 0)
		rc = mt_node_hash(&l, &r, out);
	return rc;
}

int
mt_subtree_root(mt_node_fn get, void *ctx, uint64_t start, uint64_t count, mt_hash *out)
{
	if (count == 0)
		return mt_empty_root(out);
	return subtree_rec(get, ctx, start, count, out, 0);
}

/* PATH(m, D[start:start+n]) appended to path (deepest first, as the RFC orders it) */
static int
path_rec(mt_node_fn get, void *ctx, uint64_t start, uint64_t m, uint64_t n, mt_hash *path,
         size_t *np, int depth)
{
	uint64_t k;
	int rc;

	if (depth > 64)
		return ESC_EDEPTH;
	if (n <= 1)
		return 0;
	k = split_point(n);
	if (m < k)
		rc = path_rec(get, ctx, start, m, k, path, np, depth + 1);
	else
		rc = path_rec(get, ctx, start + k, m - k, n - k, path, np, depth + 1);
	if (rc)
		return rc;
	if (*np >= MT_MAX_PATH)
		return ESC_EINTERNAL;
	if (m < k)
		rc = mt_subtree_root(get, ctx, start + k, n - k, &path[*np]);
	else
		rc = mt_subtree_root(get, ctx, start, k, &path[*np]);
	if (rc == 0)
		(*np)++;
	return rc;
}

int
mt_inclusion_proof(mt_node_fn get, void *ctx, uint64_t m, uint64_t n, mt_hash *path,
                   size_t *npath)
{
	*npath = 0;
	if (m >= n)
		return ESC_EINVAL;
	return path_rec(get, ctx, 0, m, n, path, npath, 0);
}

/* SUBPROOF(m, D[start:start+n], b) */
static int
subproof_rec(mt_node_fn get, void *ctx, uint64_t start, uint64_t m, uint64_t n, int b,
             mt_hash *path, size_t *np, int depth)
{
	uint64_t k;
	int rc;

	if (depth > 64)
		return ESC_EDEPTH;
	if (m == n) {
		if (b)
			return 0;
		if (*np >= MT_MAX_PATH)
			return ESC_EINTERNAL;
		rc = mt_subtree_root(get, ctx, start, n, &path[*np]);
		if (rc == 0)
			(*np)++;
		return rc;
	}
	k = split_point(n);
	if (m <= k)
		rc = subproof_rec(get, ctx, start, m, k, b, path, np, depth + 1);
	else
		rc = subproof_rec(get, ctx, start + k, m - k, n - k, 0, path, np, depth + 1);
	if (rc)
		return rc;
	if (*np >= MT_MAX_PATH)
		return ESC_EINTERNAL;
	if (m <= k)
		rc = mt_subtree_root(get, ctx, start + k, n - k, &path[*np]);
	else
		rc = mt_subtree_root(get, ctx, start, k, &path[*np]);
	if (rc == 0)
		(*np)++;
	return rc;
}

int
mt_consistency_proof(mt_node_fn get, void *ctx, uint64_t m, uint64_t n, mt_hash *path,
                     size_t *npath)
{
	*npath = 0;
	if (m == 0 || m > n)
		return ESC_EINVAL;
	return subproof_rec(get, ctx, 0, m, n, 1, path, npath, 0);
}

int
mt_verify_inclusion(const mt_hash *leaf, uint64_t index, uint64_t size, const mt_hash *path,
                    size_t npath, const mt_hash *root)
{
	uint64_t fn, sn;
	mt_hash r;
	size_t i;

	if (index >= size)
		return ESC_EPARSE;
	fn = index;
	sn = size - 1;
	r = *leaf;
	for (i = 0; i < npath; i++) {
		if (sn == 0)
			return ESC_EPARSE;
		if ((fn & 1) || fn == sn) {
			if (mt_node_hash(&path[i], &r, &r))
				return ESC_EINTERNAL;
			if (!(fn & 1)) {
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else {
			if (mt_node_hash(&r, &path[i], &r))
				return ESC_EINTERNAL;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || !mt_hash_eq(&r, root))
		return ESC_EPARSE;
	return 0;
}

int
mt_verify_consistency(uint64_t size1, uint64_t size2, const mt_hash *root1,
                      const mt_hash *root2, const mt_hash *path, size_t npath)
{
	uint64_t fn, sn;
	mt_hash fr, sr;
	size_t i = 0;

	if (size1 == 0 || size1 > size2)
		return ESC_EPARSE;
	if (size1 == size2)
		return (npath == 0 && mt_hash_eq(root1, root2)) ? 0 : ESC_EPARSE;
	if (npath == 0)
		return ESC_EPARSE;
	/* the RFC prepends first_hash when size1 is a power of two; we start from it instead */
	if (is_pow2(size1)) {
		fr = sr = *root1;
	} else {
		fr = sr = path[0];
		i = 1;
	}
	fn = size1 - 1;
	sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < npath; i++) {
		if (sn == 0)
			return ESC_EPARSE;
		if ((fn & 1) || fn == sn) {
			if (mt_node_hash(&path[i], &fr, &fr) || mt_node_hash(&path[i], &sr, &sr))
				return ESC_EINTERNAL;
			if (!(fn & 1)) {
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else {
			if (mt_node_hash(&sr, &path[i], &sr))
				return ESC_EINTERNAL;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || !mt_hash_eq(&fr, root1) || !mt_hash_eq(&sr, root2))
		return ESC_EPARSE;
	return 0;
}

uint64_t
mt_postorder_count(uint64_t n)
{
	return 2 * n - (uint64_t)__builtin_popcountll(n);
}

uint64_t
mt_postorder_pos(unsigned level, uint64_t index)
{
	uint64_t n = (index + 1) << level; /* leaves when this node completes */

	return mt_postorder_count(n - 1) + level;
}

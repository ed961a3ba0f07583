/* merkle.h — RFC 6962 Merkle tree hashing: leaf and node hashes, tree heads, inclusion
 * and consistency proofs (generated from any store of complete subtree hashes) and their
 * verification (RFC 9162 section 2.1.3.2 / 2.1.4.2), which needs nothing but hashes. */
#ifndef ESCORT_AUDIT_MERKLE_H
#define ESCORT_AUDIT_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MT_HASH_LEN 32
/* A proof for a tree of at most 2^64 leaves has at most 64 entries (+1 for consistency). */
#define MT_MAX_PATH 65

typedef struct mt_hash {
	uint8_t b[MT_HASH_LEN];
} mt_hash;

/* leaf = SHA-256(0x00 || data). 0 or ESC_EINTERNAL when libcrypto fails. */
int mt_leaf_hash(const void *data, size_t len, mt_hash *out);
/* node = SHA-256(0x01 || left || right). */
int mt_node_hash(const mt_hash *left, const mt_hash *right, mt_hash *out);
/* The hash of the empty tree, SHA-256(""). */
int mt_empty_root(mt_hash *out);
/* Constant-time equality of two hashes (1 when equal). */
int mt_hash_eq(const mt_hash *a, const mt_hash *b);

/* The right edge of a tree being built leaf by leaf: the roots of its complete subtrees,
 * biggest first. Enough to compute the root and to append in O(log n). */
typedef struct mt_frontier {
	uint64_t size;            /* leaves so far */
	unsigned n;               /* entries in h[] == popcount(size) */
	mt_hash h[64];
} mt_frontier;

void mt_frontier_init(mt_frontier *f);
/* Appends a leaf hash. Writes the complete subtree hashes this append finished, in
 * post-order (the leaf first, then each new parent), into done[] (room for 65), their
 * count into *ndone (may be NULL with done NULL). */
int mt_frontier_push(mt_frontier *f, const mt_hash *leaf, mt_hash *done, unsigned *ndone);
/* Appends a complete subtree of 2^level leaves whose root is node; the frontier's size must
 * be a multiple of 2^level (the subtree is aligned). ESC_EINVAL otherwise. Equivalent to
 * pushing its leaves one by one (used to hand whole subtrees computed elsewhere). */
int mt_frontier_push_node(mt_frontier *f, unsigned level, const mt_hash *node);
/* MTH of the leaves so far (the empty-tree hash for size 0). */
int mt_frontier_root(const mt_frontier *f, mt_hash *out);

/* Root of an array of leaf hashes, straight from the RFC 6962 definition (recursive, depth
 * bounded by 64). Used for tests and small trees. */
int mt_root_of(const mt_hash *leaves, uint64_t n, mt_hash *out);

/* Source of complete subtree hashes: node (level, index) covers leaves
 * [index << level, (index + 1) << level). Returns 0 or a negative ESC_E* code. */
typedef int (*mt_node_fn)(void *ctx, unsigned level, uint64_t index, mt_hash *out);

/* RFC 6962 PATH(m, D[n]): audit path for leaf m in the tree of the first n leaves.
 * Writes up to MT_MAX_PATH hashes to path, count into *npath. */
int mt_inclusion_proof(mt_node_fn get, void *ctx, uint64_t m, uint64_t n, mt_hash *path,
                       size_t *npath);
/* RFC 6962 PROOF(m, D[n]) for 0 < m <= n (empty when m == n). */
int mt_consistency_proof(mt_node_fn get, void *ctx, uint64_t m, uint64_t n, mt_hash *path,
                         size_t *npath);
/* MTH(D[start:start+count]) from complete subtrees (start aligned as in the RFC split). */
int mt_subtree_root(mt_node_fn get, void *ctx, uint64_t start, uint64_t count, mt_hash *out);

/* Verification: 0 when the proof holds, ESC_EPARSE (a bad proof) otherwise. */
int mt_verify_inclusion(const mt_hash *leaf, uint64_t index, uint64_t size,
                        const mt_hash *path, size_t npath, const mt_hash *root);
int mt_verify_consistency(uint64_t size1, uint64_t size2, const mt_hash *root1,
                          const mt_hash *root2, const mt_hash *path, size_t npath);

/* Position of node (level, index) in the post-order node file that mt_frontier_push's
 * done[] lists produce when written one after the other. */
uint64_t mt_postorder_pos(unsigned level, uint64_t index);
/* Number of nodes in that file for a tree of n leaves: 2n - popcount(n). */
uint64_t mt_postorder_count(uint64_t n);

#endif

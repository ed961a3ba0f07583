/* ast.c — the arena that owns every lockbox syntax tree, and the word helpers
 * (static value, display value) and node-kind names declared in ast.h.
 * The arena is a chain of blocks; the first block survives lb_arena_reset so a caller can
 * parse record after record without touching malloc in the steady state. */
#include "lockbox/ast.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_FIRST_BLOCK ((size_t)64 * 1024)
#define ARENA_MAX_BLOCK ((size_t)4 * 1024 * 1024)
#define ARENA_ALIGN 16u

typedef struct arena_block {
	struct arena_block *next;
	size_t cap;  /* usable bytes in data */
	size_t used;
	/* keeps data 16-byte aligned on every ABI we build for */
	_Alignas(16) unsigned char data[];
} arena_block;

struct lb_arena {
	arena_block *head;  /* block allocations come from */
	arena_block *first; /* kept across resets */
	size_t total;       /* bytes of block storage currently held */
	size_t next_size;   /* size of the next block to allocate */
	size_t max;         /* cap on total (lb_arena_set_max); kept across resets */
	size_t used;        /* bytes handed out since the last reset, padding included */
	int capped;         /* an allocation failed because of max since the last reset */
};

static arena_block *block_new(size_t cap)
{
	arena_block *b = malloc(sizeof(*b) + cap);
	if (!b)
		return NULL;
	b->next = NULL;
	b->cap = cap;
	b->used = 0;
	return b;
}

lb_arena *lb_arena_new(void)
{
	lb_arena *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->first = block_new(ARENA_FIRST_BLOCK);
	if (!a->first) {
		free(a);
		return NULL;
	}
	a->head = a->first;
	a->total = ARENA_FIRST_BLOCK;
	a->next_size = ARENA_FIRST_BLOCK * 2;
	a->max = LB_ARENA_MAX;
	return a;
}

void lb_arena_free(lb_arena *a)
{
	if (!a)
		return;
	arena_block *b = a->head;
	while (b) {
		arena_block *n = b->next;
		free(b);
		b = n;
	}
	free(a);
}

void lb_arena_reset(lb_arena *a)
{
	if (!a)
		return;
	arena_block *b = a->head;
	while (b && b != a->first) {
		arena_block *n = b->next;
		free(b);
		b = n;
	}
	a->head = a->first;
	a->first->next = NULL;
	a->first->used = 0;
	a->total = a->first->cap;
	a->next_size = ARENA_FIRST_BLOCK * 2;
	a->used = 0;
	a->capped = 0;
}

void lb_arena_set_max(lb_arena *a, size_t max)
{
	if (!a)
		return;
	a->max = max == 0 || max > LB_ARENA_MAX ? LB_ARENA_MAX : max;
}

size_t lb_arena_used(const lb_arena *a)
{
	return a ? a->used : 0;
}

int lb_arena_capped(const lb_arena *a)
{
	return a ? a->capped : 0;
}

/* Slow path: a new block that holds at least n bytes (the block sizes double up to
 * ARENA_MAX_BLOCK, but never past the cap, so a small cap is usable to the byte). */
static arena_block *arena_grow(lb_arena *a, size_t n)
{
	size_t cap = a->next_size;
	if (cap < n)
		cap = n;
	if (a->total > a->max || a->max - a->total < cap) {
		if (a->total > a->max || a->max - a->total < n) {
			a->capped = 1;
			return NULL;
		}
		cap = a->max - a->total;
	}
	arena_block *nb = block_new(cap);
	if (!nb)
		return NULL;
	/* newest block first; the first block stays reachable through the chain */
	nb->next = a->head;
	a->head = nb;
	a->total += cap;
	if (a->next_size < ARENA_MAX_BLOCK)
		a->next_size *= 2;
	return nb;
}

/* Takes n bytes at offset-alignment align from the head block, or from a new block.
 * Inlined into both allocators so the common case is a handful of instructions. */
static inline void *arena_take(lb_arena *a, size_t n, size_t align)
{
	arena_block *b = a->head;
	size_t off = (b->used + (align - 1)) & ~(align - 1);
	if (__builtin_expect(off > b->cap || b->cap - off < n, 0)) {
		/* fresh blocks start 16-byte aligned, so no padding is needed there */
		b = arena_grow(a, n);
		if (!b)
			return NULL;
		off = 0;
	}
	a->used += off - b->used + n;
	b->used = off + n;
	return b->data + off;
}

void *lb_arena_alloc_raw(lb_arena *a, size_t n, size_t align)
{
	if (!a || n > LB_ARENA_MAX)
		return NULL;
	if (align == 0 || align > ARENA_ALIGN || (align & (align - 1)))
		align = ARENA_ALIGN;
	if (n == 0)
		n = 1;
	return arena_take(a, n, align);
}

void *lb_arena_alloc(lb_arena *a, size_t n)
{
	if (!a || n > LB_ARENA_MAX)
		return NULL;
	if (n == 0)
		n = 1;
	n = (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
	void *p = arena_take(a, n, ARENA_ALIGN);
	if (p)
		memset(p, 0, n);
	return p;
}

void lb_arena_give_back(lb_arena *a, void *p, size_t n)
{
	if (!a || !p || !n)
		return;
	arena_block *b = a->head;
	unsigned char *q = p;
	if (q >= b->data && q <= b->data + b->used && (size_t)(b->data + b->used - q) == n) {
		b->used -= n;
		a->used -= n;
	}
}

char *lb_arena_strndup(lb_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	/* every byte is written below: no need to zero, and text needs no alignment */
	char *d = lb_arena_alloc_raw(a, n + 1, 1);
	if (!d)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* ---- word helpers ------------------------------------------------------------------ */

/* Returns 1 when every part of a (double-)quoted container is literal text. */
static int dq_static(const lb_part *p)
{
	for (; p; p = p->next)
		if (p->kind != LB_P_LIT)
			return 0;
	return 1;
}

const char *lb_word_static(lb_arena *a, const lb_word *w, size_t *lenp)
{
	if (!w)
		return NULL;
	size_t n = 0;
	for (const lb_part *p = w->parts; p; p = p->next) {
		switch (p->kind) {
		case LB_P_LIT:
		case LB_P_SQUOTE:
		case LB_P_ANSIC:
			n += p->len;
			break;
		case LB_P_DQUOTE:
		case LB_P_LOCALE:
			if (!dq_static(p->parts))
				return NULL;
			for (const lb_part *q = p->parts; q; q = q->next)
				n += q->len;
			break;
		default:
			return NULL;
		}
	}
	char *out = lb_arena_alloc(a, n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (const lb_part *p = w->parts; p; p = p->next) {
		if (p->kind == LB_P_DQUOTE || p->kind == LB_P_LOCALE) {
			for (const lb_part *q = p->parts; q; q = q->next) {
				if (q->len)
					memcpy(out + o, q->text, q->len);
				o += q->len;
			}
		} else {
			if (p->len)
				memcpy(out + o, p->text, p->len);
			o += p->len;
		}
	}
	out[o] = '\0';
	if (lenp)
		*lenp = o;
	return out;
}

static size_t span_len(lb_span s)
{
	return s.end > s.start ? (size_t)(s.end - s.start) : 0;
}

/* One part's display size / bytes; containers show their literal pieces decoded and
 * everything dynamic as written. */
static size_t part_display_len(const lb_part *p)
{
	switch (p->kind) {
	case LB_P_LIT:
	case LB_P_SQUOTE:
	case LB_P_ANSIC:
		return p->len;
	case LB_P_DQUOTE:
	case LB_P_LOCALE: {
		size_t n = 0;
		for (const lb_part *q = p->parts; q; q = q->next)
			n += part_display_len(q);
		return n;
	}
	default:
		return span_len(p->span);
	}
}

static size_t part_display_put(const lb_part *p, const char *src, char *out)
{
	switch (p->kind) {
	case LB_P_LIT:
	case LB_P_SQUOTE:
	case LB_P_ANSIC:
		if (p->len)
			memcpy(out, p->text, p->len);
		return p->len;
	case LB_P_DQUOTE:
	case LB_P_LOCALE: {
		size_t n = 0;
		for (const lb_part *q = p->parts; q; q = q->next)
			n += part_display_put(q, src, out + n);
		return n;
	}
	default: {
		size_t n = span_len(p->span);
		if (n && src)
			memcpy(out, src + p->span.start, n);
		else if (n)
			memset(out, '?', n);
		return n;
	}
	}
}

const char *lb_word_display(lb_arena *a, const lb_word *w, const char *src)
{
	if (!w)
		return lb_arena_strndup(a, "", 0);
	size_t n = 0;
	for (const lb_part *p = w->parts; p; p = p->next)
		n += part_display_len(p);
	char *out = lb_arena_alloc(a, n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (const lb_part *p = w->parts; p; p = p->next)
		o += part_display_put(p, src, out + o);
	out[o] = '\0';
	return out;
}

const char *lb_node_kind_name(lb_node_kind k)
{
	switch (k) {
	case LB_N_SCRIPT: return "script";
	case LB_N_ANDOR: return "andor";
	case LB_N_PIPELINE: return "pipeline";
	case LB_N_SIMPLE: return "simple";
	case LB_N_SUBSHELL: return "subshell";
	case LB_N_GROUP: return "group";
	case LB_N_FUNCTION: return "function";
	case LB_N_IF: return "if";
	case LB_N_FOR: return "for";
	case LB_N_SELECT: return "select";
	case LB_N_ARITH_FOR: return "arith_for";
	case LB_N_WHILE: return "while";
	case LB_N_UNTIL: return "until";
	case LB_N_CASE: return "case";
	case LB_N_CASE_ITEM: return "case_item";
	case LB_N_COND: return "cond";
	case LB_N_ARITH: return "arith";
	case LB_N_COPROC: return "coproc";
	}
	return "unknown";
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * extmap.c - the extent map (LBA -> log location) of the wblog engine.
 *
 * A B+tree in RAM. Every node is one 4088-byte allocation (a 4 KiB malloc
 * chunk). Leaves hold up to LEAF_CAP packed 20-byte entries sorted by lba:
 *   bytes 0..5 lba (48 bit), 6..8 nblocks (24 bit), 9..13 log_blk (40 bit),
 *   14..19 seq (48 bit), all little-endian.
 * Inner nodes hold up to INODE_CAP (key, child) pairs; key[i] (i >= 1) is
 * a lower bound of every lba in child i and key[0] is unused, so the
 * child for an lba is the last i with key[i] <= lba (0 if none).
 *
 * Invariants: entries are non-overlapping and sorted by start over the
 * whole tree, every entry has nblocks >= 1, only the root may be an empty
 * leaf, an inner node has >= 1 child. Entry starts never change in place
 * (a head trim is delete + insert), so the routing keys stay valid.
 *
 * A full leaf first hands entries to a sibling with room, and splits only
 * when both are full; leaves that become small are merged. This keeps the
 * leaves ~80% full under random inserts, which is what brings the cost to
 * about 23 bytes per extent (make bench: 23.1-23.4 B; the bound in
 * extmap.h and docs/benchmarks.md is <= 32 B).
 *
 * -ENOMEM safety: an operation first reserves every node it may need
 * (spare list), so a failed allocation leaves the map unchanged.
 *
 * This file owns all memory of a struct wb_extmap.
 */
#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "engine/byteorder.h"
#include "engine/extmap.h"

#define NODE_BYTES 4088 /* + 8 bytes malloc header = one 4096-byte chunk */
#define XE_SIZE	   20
#define LEAF_CAP   ((NODE_BYTES - 4) / XE_SIZE)
#define INODE_CAP  ((NODE_BYTES - 8) / 16)
#define MAX_HEIGHT 32
#define XE_MAXLEN  ((1u << 24) - 1)
#define SPARE_MAX  64

struct leaf {
	uint16_t n;
	uint8_t e[LEAF_CAP][XE_SIZE];
};

struct inode {
	uint32_t n;
	uint64_t key[INODE_CAP];
	void *child[INODE_CAP];
};

_Static_assert(sizeof(struct leaf) <= NODE_BYTES, "leaf too big");
_Static_assert(sizeof(struct inode) <= NODE_BYTES, "inode too big");

struct wb_extmap {
	void *root;
	int height; /* 1: root is a leaf */
	uint64_t count;
	uint64_t mem;
	void *spare; /* free nodes, linked through their first word */
	unsigned nspare;
	int leaf_cap, inode_cap; /* LEAF_CAP, INODE_CAP; smaller in tests */
};

/* Decoded entry. */
struct xent {
	uint64_t lba, log, seq;
	uint32_t n;
};

/* A position in the tree: node[lev] and the index inside it; lev 0 = leaf.
 * idx[0] == -1 means "before the first entry of this leaf". */
struct xpath {
	void *node[MAX_HEIGHT];
	int idx[MAX_HEIGHT];
};

static inline uint64_t xe_lba(const struct leaf *l, int i)
{
	return wb_load_le(l->e[i], 6);
}

static void xe_get(const struct leaf *l, int i, struct xent *x)
{
	const uint8_t *p = l->e[i];

	x->lba = wb_load_le(p, 6);
	x->n = (uint32_t)wb_load_le(p + 6, 3);
	x->log = wb_load_le(p + 9, 5);
	x->seq = wb_load_le(p + 14, 6);
}

static void xe_set(struct leaf *l, int i, const struct xent *x)
{
	uint8_t *p = l->e[i];

	assert(x->n >= 1 && x->n <= XE_MAXLEN);
	wb_store_le(p, x->lba, 6);
	wb_store_le(p + 6, x->n, 3);
	wb_store_le(p + 9, x->log, 5);
	wb_store_le(p + 14, x->seq, 6);
}

/* ---- node allocation ---- */

static int node_reserve(struct wb_extmap *m, unsigned need)
{
	while (m->nspare < need) {
		void *p = malloc(NODE_BYTES);

		if (!p)
			return -ENOMEM;
		m->mem += malloc_usable_size(p) + sizeof(size_t);
		*(void **)p = m->spare;
		m->spare = p;
		m->nspare++;
	}
	return 0;
}

static void *node_alloc(struct wb_extmap *m)
{
	void *p = m->spare;

	assert(p); /* reserved by the caller */
	m->spare = *(void **)p;
	m->nspare--;
	memset(p, 0, NODE_BYTES);
	return p;
}

static void node_release(void *p, uint64_t *mem)
{
	*mem -= malloc_usable_size(p) + sizeof(size_t);
	free(p);
}

static void node_free(struct wb_extmap *m, void *p)
{
	if (m->nspare < SPARE_MAX) {
		*(void **)p = m->spare;
		m->spare = p;
		m->nspare++;
		return;
	}
	node_release(p, &m->mem);
}

/* Nodes one insertion of an entry may need: a split per level plus a new root. */
static unsigned ins_need(const struct wb_extmap *m, unsigned ninsert)
{
	return ninsert * (unsigned)(m->height + 2);
}

/* ---- search and traversal ---- */

/* Inner node: child index for lba. */
static int inode_route(const struct inode *in, uint64_t lba)
{
	int lo = 1, hi = (int)in->n; /* first i >= 1 with key[i] > lba */

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (in->key[mid] <= lba)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/* Leaf: index of the last entry with start <= lba, or -1. */
static int leaf_route(const struct leaf *l, uint64_t lba)
{
	int lo = 0, hi = l->n;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (xe_lba(l, mid) <= lba)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

static void descend(const struct wb_extmap *m, uint64_t lba, struct xpath *p)
{
	void *node = m->root;

	for (int lev = m->height - 1; lev >= 1; lev--) {
		struct inode *in = node;
		int i = inode_route(in, lba);

		p->node[lev] = in;
		p->idx[lev] = i;
		node = in->child[i];
	}
	p->node[0] = node;
	p->idx[0] = leaf_route(node, lba);
}

/* Move to the next entry. Returns 0 (and leaves *p unchanged) at the end. */
static int path_next(const struct wb_extmap *m, struct xpath *p)
{
	struct leaf *l = p->node[0];
	int lev;

	if (p->idx[0] + 1 < l->n) {
		p->idx[0]++;
		return 1;
	}
	for (lev = 1; lev < m->height; lev++) {
		struct inode *in = p->node[lev];

		if (p->idx[lev] + 1 < (int)in->n)
			break;
	}
	if (lev >= m->height)
		return 0;
	p->idx[lev]++;
	for (; lev >= 1; lev--) {
		struct inode *in = p->node[lev];

		p->node[lev - 1] = in->child[p->idx[lev]];
		if (lev - 1 >= 1)
			p->idx[lev - 1] = 0;
	}
	p->idx[0] = 0;
	assert(((struct leaf *)p->node[0])->n > 0);
	return 1;
}

/* Move to the previous entry. Returns 0 (and leaves *p unchanged) at the start. */
static int path_prev(const struct wb_extmap *m, struct xpath *p)
{
	int lev;

	if (p->idx[0] > 0) {
		p->idx[0]--;
		return 1;
	}
	for (lev = 1; lev < m->height; lev++)
		if (p->idx[lev] > 0)
			break;
	if (lev >= m->height)
		return 0;
	p->idx[lev]--;
	for (; lev >= 1; lev--) {
		struct inode *in = p->node[lev];
		void *c = in->child[p->idx[lev]];

		p->node[lev - 1] = c;
		if (lev - 1 >= 1)
			p->idx[lev - 1] = (int)((struct inode *)c)->n - 1;
		else
			p->idx[0] = ((struct leaf *)c)->n - 1;
	}
	assert(p->idx[0] >= 0);
	return 1;
}

static void path_get(const struct xpath *p, struct xent *x)
{
	xe_get(p->node[0], p->idx[0], x);
}

/* Position p at the first entry overlapping [a, b) and decode it into *x.
 * Returns 0 when there is none. */
static int first_overlap(const struct wb_extmap *m, uint64_t a, uint64_t b, struct xpath *p,
			 struct xent *x)
{
	descend(m, a, p);
	if (p->idx[0] < 0) {
		struct xpath q = *p;

		if (path_prev(m, &q))
			*p = q;
	}
	if (p->idx[0] >= 0) {
		path_get(p, x);
		if (x->lba + x->n > a)
			return x->lba < b;
	}
	if (!path_next(m, p))
		return 0;
	path_get(p, x);
	return x->lba < b;
}

/* ---- modification ---- */

static void inode_insert_at(struct inode *in, int pos, uint64_t key, void *child)
{
	memmove(&in->key[pos + 1], &in->key[pos], (in->n - pos) * sizeof(in->key[0]));
	memmove(&in->child[pos + 1], &in->child[pos], (in->n - pos) * sizeof(in->child[0]));
	in->key[pos] = key;
	in->child[pos] = child;
	in->n++;
}

static void inode_remove_at(struct inode *in, int pos)
{
	memmove(&in->key[pos], &in->key[pos + 1], (in->n - pos - 1) * sizeof(in->key[0]));
	memmove(&in->child[pos], &in->child[pos + 1], (in->n - pos - 1) * sizeof(in->child[0]));
	in->n--;
}

/* Insert (key, child) right after p->idx[lev] in p->node[lev], splitting upwards. */
static void insert_into_parent(struct wb_extmap *m, struct xpath *p, int lev, uint64_t key,
			       void *child)
{
	struct inode *in, *r;
	int pos, half;

	if (lev == m->height) {
		in = node_alloc(m);
		in->n = 2;
		in->child[0] = m->root;
		in->key[1] = key;
		in->child[1] = child;
		m->root = in;
		m->height++;
		return;
	}
	in = p->node[lev];
	pos = p->idx[lev] + 1;
	if ((int)in->n < m->inode_cap) {
		inode_insert_at(in, pos, key, child);
		return;
	}
	assert(m->height < MAX_HEIGHT);
	r = node_alloc(m);
	half = (int)in->n / 2;
	r->n = in->n - half;
	memcpy(r->key, &in->key[half], r->n * sizeof(r->key[0]));
	memcpy(r->child, &in->child[half], r->n * sizeof(r->child[0]));
	in->n = half;
	if (pos <= half)
		inode_insert_at(in, pos, key, child);
	else
		inode_insert_at(r, pos - half, key, child);
	insert_into_parent(m, p, lev + 1, r->key[0], r);
}

/* Make room in the full leaf p->node[0]: give entries to a sibling or split. */
static void leaf_make_room(struct wb_extmap *m, struct xpath *p)
{
	struct leaf *l = p->node[0], *s;
	int k, half;

	if (m->height > 1) {
		struct inode *par = p->node[1];
		int pi = p->idx[1];

		if (pi + 1 < (int)par->n) {
			s = par->child[pi + 1];
			k = (m->leaf_cap - s->n) / 2;
			if (k >= 1) { /* last k entries to the front of the right sibling */
				memmove(s->e[k], s->e[0], s->n * XE_SIZE);
				memcpy(s->e[0], l->e[l->n - k], k * XE_SIZE);
				s->n += k;
				l->n -= k;
				par->key[pi + 1] = xe_lba(s, 0);
				return;
			}
		}
		if (pi > 0) {
			s = par->child[pi - 1];
			k = (m->leaf_cap - s->n) / 2;
			if (k >= 1) { /* first k entries to the end of the left sibling */
				memcpy(s->e[s->n], l->e[0], k * XE_SIZE);
				memmove(l->e[0], l->e[k], (l->n - k) * XE_SIZE);
				s->n += k;
				l->n -= k;
				par->key[pi] = xe_lba(l, 0);
				return;
			}
		}
	}
	s = node_alloc(m);
	half = l->n / 2;
	s->n = l->n - half;
	memcpy(s->e[0], l->e[half], s->n * XE_SIZE);
	l->n = half;
	insert_into_parent(m, p, 1, xe_lba(s, 0), s);
}

/* Insert one entry (must not overlap anything). Nodes must be reserved. */
static void ins_entry(struct wb_extmap *m, const struct xent *x)
{
	struct xpath p;
	struct leaf *l;
	int pos;

	descend(m, x->lba, &p);
	l = p.node[0];
	if (l->n == m->leaf_cap) {
		leaf_make_room(m, &p);
		descend(m, x->lba, &p);
		l = p.node[0];
	}
	pos = p.idx[0] + 1;
	memmove(l->e[pos + 1], l->e[pos], (l->n - pos) * XE_SIZE);
	xe_set(l, pos, x);
	l->n++;
	m->count++;
}

static void collapse_root(struct wb_extmap *m)
{
	while (m->height > 1 && ((struct inode *)m->root)->n == 1) {
		struct inode *r = m->root;

		m->root = r->child[0];
		m->height--;
		node_free(m, r);
	}
}

static void inode_append(struct inode *dst, struct inode *src)
{
	memcpy(&dst->key[dst->n], src->key, src->n * sizeof(src->key[0]));
	memcpy(&dst->child[dst->n], src->child, src->n * sizeof(src->child[0]));
	dst->n += src->n;
}

/* Remove child p->idx[lev] of p->node[lev] (already freed or merged away); frees
 * an emptied inner node and merges a small one into a sibling, upwards. */
static void remove_child(struct wb_extmap *m, struct xpath *p, int lev)
{
	struct inode *in = p->node[lev], *par, *s;
	int pi, small = (m->inode_cap + 3) / 4, fit = m->inode_cap * 3 / 4;

	inode_remove_at(in, p->idx[lev]);
	if (lev == m->height - 1)
		return; /* the root: collapse_root() shrinks it */
	if (in->n == 0) {
		node_free(m, in);
		remove_child(m, p, lev + 1);
		return;
	}
	if ((int)in->n >= small)
		return;
	par = p->node[lev + 1];
	pi = p->idx[lev + 1];
	if (pi + 1 < (int)par->n) { /* absorb the right sibling */
		s = par->child[pi + 1];
		if ((int)(in->n + s->n) <= fit) {
			s->key[0] = par->key[pi + 1];
			inode_append(in, s);
			node_free(m, s);
			p->idx[lev + 1] = pi + 1;
			remove_child(m, p, lev + 1);
			return;
		}
	}
	if (pi > 0) { /* move into the left sibling */
		s = par->child[pi - 1];
		if ((int)(in->n + s->n) <= fit) {
			in->key[0] = par->key[pi];
			inode_append(s, in);
			node_free(m, in);
			remove_child(m, p, lev + 1);
		}
	}
}

/* Delete the entry at *p; frees or merges small leaves. *p is invalid afterwards. */
static void del_entry(struct wb_extmap *m, struct xpath *p)
{
	struct leaf *l = p->node[0], *s;
	struct inode *par;
	int i = p->idx[0], pi, fit = m->leaf_cap * 3 / 4;

	memmove(l->e[i], l->e[i + 1], (l->n - i - 1) * XE_SIZE);
	l->n--;
	m->count--;
	if (m->height == 1 || l->n >= (m->leaf_cap + 3) / 4)
		return;
	par = p->node[1];
	pi = p->idx[1];
	if (l->n == 0) {
		node_free(m, l);
		remove_child(m, p, 1);
	} else if (pi + 1 < (int)par->n && l->n + ((struct leaf *)par->child[pi + 1])->n <= fit) {
		s = par->child[pi + 1]; /* absorb the right sibling */
		memcpy(l->e[l->n], s->e[0], s->n * XE_SIZE);
		l->n += s->n;
		node_free(m, s);
		p->idx[1] = pi + 1;
		remove_child(m, p, 1);
	} else if (pi > 0 && l->n + ((struct leaf *)par->child[pi - 1])->n <= fit) {
		s = par->child[pi - 1]; /* move into the left sibling */
		memcpy(s->e[s->n], l->e[0], l->n * XE_SIZE);
		s->n += l->n;
		node_free(m, l);
		remove_child(m, p, 1);
	}
	collapse_root(m);
}

static void set_entry(struct xpath *p, const struct xent *x)
{
	xe_set(p->node[0], p->idx[0], x);
}

/* Insert [x->lba, +x->n) in pieces of at most XE_MAXLEN (x->n may be larger here). */
static void ins_range(struct wb_extmap *m, uint64_t lba, uint64_t n, uint64_t log, uint64_t seq)
{
	while (n) {
		struct xent x = {.lba = lba, .log = log, .seq = seq};

		x.n = n > XE_MAXLEN ? XE_MAXLEN : (uint32_t)n;
		ins_entry(m, &x);
		lba += x.n;
		log += x.n;
		n -= x.n;
	}
}

/* Remove the part of entry *x (at *p) inside [a, b). Needs one reserved insertion. */
static void cut_entry(struct wb_extmap *m, struct xpath *p, struct xent *x, uint64_t a, uint64_t b)
{
	uint64_t xs = x->lba, xe = x->lba + x->n;
	struct xent t;

	if (xs < a && xe > b) { /* split: keep head in place, insert the tail */
		t = (struct xent){
		    .lba = b, .n = (uint32_t)(xe - b), .log = x->log + (b - xs), .seq = x->seq};
		x->n = (uint32_t)(a - xs);
		set_entry(p, x);
		ins_entry(m, &t);
	} else if (xs < a) { /* trim the tail */
		x->n = (uint32_t)(a - xs);
		set_entry(p, x);
	} else if (xe > b) { /* trim the head: start moves, so delete + insert */
		t = (struct xent){
		    .lba = b, .n = (uint32_t)(xe - b), .log = x->log + (b - xs), .seq = x->seq};
		del_entry(m, p);
		ins_entry(m, &t);
	} else {
		del_entry(m, p);
	}
}

/* Remove [a, b) entirely, or (drop) only the parts with seq <= max_seq. */
static void unmap_range(struct wb_extmap *m, uint64_t a, uint64_t b, int drop, uint64_t max_seq)
{
	struct xpath p;
	struct xent x;
	uint64_t c = a;

	while (c < b && first_overlap(m, c, b, &p, &x)) {
		uint64_t xe = x.lba + x.n;

		if (!drop || x.seq <= max_seq)
			cut_entry(m, &p, &x, c, b);
		c = xe;
	}
}

/* ---- public API ---- */

int wb_extmap_create(struct wb_extmap **out)
{
	struct wb_extmap *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->mem = malloc_usable_size(m) + sizeof(size_t);
	m->height = 1;
	m->leaf_cap = LEAF_CAP;
	m->inode_cap = INODE_CAP;
	if (node_reserve(m, 1)) {
		free(m);
		return -ENOMEM;
	}
	m->root = node_alloc(m);
	*out = m;
	return 0;
}

/* Free the subtree under node, except the node `keep` (may be NULL). */
static void free_subtree(struct wb_extmap *m, void *node, int lev, void *keep)
{
	if (lev > 0) {
		struct inode *in = node;

		for (uint32_t i = 0; i < in->n; i++)
			free_subtree(m, in->child[i], lev - 1, keep);
	}
	if (node != keep)
		node_release(node, &m->mem);
}

static void free_spares(struct wb_extmap *m)
{
	while (m->spare) {
		void *p = m->spare;

		m->spare = *(void **)p;
		node_release(p, &m->mem);
	}
	m->nspare = 0;
}

void wb_extmap_clear(struct wb_extmap *m)
{
	void *leftmost = m->root;

	for (int lev = m->height - 1; lev >= 1; lev--)
		leftmost = ((struct inode *)leftmost)->child[0];
	free_subtree(m, m->root, m->height - 1, leftmost);
	free_spares(m);
	((struct leaf *)leftmost)->n = 0;
	m->root = leftmost;
	m->height = 1;
	m->count = 0;
}

void wb_extmap_destroy(struct wb_extmap *m)
{
	if (!m)
		return;
	free_subtree(m, m->root, m->height - 1, NULL);
	free_spares(m);
	free(m);
}

static int check_range(uint64_t lba, uint32_t n)
{
	if (lba >= WB_EXTMAP_LBA_LIMIT || n > WB_EXTMAP_LBA_LIMIT - lba)
		return -ERANGE;
	return 0;
}

int wb_extmap_insert(struct wb_extmap *m, uint64_t lba, uint32_t n, uint64_t log_blk, uint64_t seq)
{
	uint64_t b = lba + n, len = n;
	struct xpath p;
	struct xent x;
	unsigned chunks;
	int ret;

	if (!n)
		return 0;
	if (check_range(lba, n) || log_blk >= WB_EXTMAP_LOG_LIMIT ||
	    n > WB_EXTMAP_LOG_LIMIT - log_blk || seq >= WB_EXTMAP_SEQ_LIMIT)
		return -ERANGE;
	/* one split/head trim, the new pieces, and up to 2 more from merging */
	chunks = (unsigned)(((uint64_t)n + 2 * XE_MAXLEN) / XE_MAXLEN);
	ret = node_reserve(m, ins_need(m, 1 + chunks));
	if (ret)
		return ret;
	unmap_range(m, lba, b, 0, 0);

	/* merge with a predecessor ending at lba / a successor starting at b */
	descend(m, lba, &p);
	if (p.idx[0] >= 0 || path_prev(m, &p)) {
		path_get(&p, &x);
		if (x.lba + x.n == lba && x.log + x.n == log_blk && x.seq == seq &&
		    x.n + len <= XE_MAXLEN) {
			lba = x.lba;
			log_blk = x.log;
			len += x.n;
			del_entry(m, &p);
		}
	}
	if (first_overlap(m, b, b + 1, &p, &x) && x.lba == b && log_blk + len == x.log &&
	    x.seq == seq && x.n + len <= XE_MAXLEN) {
		len += x.n;
		del_entry(m, &p);
	}
	ins_range(m, lba, len, log_blk, seq);
	return 0;
}

int wb_extmap_punch(struct wb_extmap *m, uint64_t lba, uint32_t n)
{
	int ret;

	if (!n)
		return 0;
	if (check_range(lba, n))
		return -ERANGE;
	ret = node_reserve(m, ins_need(m, 1));
	if (ret)
		return ret;
	unmap_range(m, lba, lba + n, 0, 0);
	return 0;
}

int wb_extmap_drop_upto(struct wb_extmap *m, uint64_t lba, uint32_t n, uint64_t max_seq)
{
	int ret;

	if (!n)
		return 0;
	if (check_range(lba, n))
		return -ERANGE;
	/* at most the first and the last touched entry need an insertion */
	ret = node_reserve(m, ins_need(m, 2));
	if (ret)
		return ret;
	unmap_range(m, lba, lba + n, 1, max_seq);
	return 0;
}

int wb_extmap_lookup(const struct wb_extmap *m, uint64_t lba, uint32_t n, struct wb_extmap_ent *out,
		     int max)
{
	uint64_t b = lba + n;
	struct xpath p;
	struct xent x;
	int cnt = 0;

	if (!n || lba >= WB_EXTMAP_LBA_LIMIT)
		return 0;
	if (!first_overlap(m, lba, b, &p, &x))
		return 0;
	do {
		if (cnt < max) {
			uint64_t s = x.lba > lba ? x.lba : lba;
			uint64_t e = x.lba + x.n < b ? x.lba + x.n : b;

			out[cnt].lba = s;
			out[cnt].nblocks = (uint32_t)(e - s);
			out[cnt].log_blk = x.log + (s - x.lba);
			out[cnt].seq = x.seq;
		}
		cnt++;
		if (!path_next(m, &p))
			break;
		path_get(&p, &x);
	} while (x.lba < b);
	return cnt;
}

int wb_extmap_iterate(const struct wb_extmap *m,
		      int (*fn)(const struct wb_extmap_ent *e, void *arg), void *arg)
{
	struct xpath p;
	struct xent x;
	int ret;

	descend(m, 0, &p);
	p.idx[0] = -1; /* before the first entry of the leftmost leaf */
	while (path_next(m, &p)) {
		struct wb_extmap_ent e;

		path_get(&p, &x);
		e = (struct wb_extmap_ent){
		    .lba = x.lba, .nblocks = x.n, .log_blk = x.log, .seq = x.seq};
		ret = fn(&e, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int wb_extmap_test_set_caps(struct wb_extmap *m, int leaf_cap, int inode_cap)
{
	if (m->count || leaf_cap < 4 || leaf_cap > LEAF_CAP || inode_cap < 4 ||
	    inode_cap > INODE_CAP)
		return -EINVAL;
	m->leaf_cap = leaf_cap;
	m->inode_cap = inode_cap;
	return 0;
}

uint64_t wb_extmap_count(const struct wb_extmap *m)
{
	return m->count;
}

uint64_t wb_extmap_mem_bytes(const struct wb_extmap *m)
{
	return m->mem;
}

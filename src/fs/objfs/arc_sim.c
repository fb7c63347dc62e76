/*
 * Cache simulator: traces, a plain LRU, SIEVE, and the real ARC.
 *
 * LRU and SIEVE here are the textbook ones, written for clarity over
 * records numbered densely (a trace knows its key space), so each is an
 * array indexed by key plus a doubly linked list:
 *
 *   LRU    hit: move to the head.  Miss when full: drop the tail.
 *   SIEVE  hit: set the entry's visited bit; nothing moves.  Miss when
 *          full: a hand walks from the tail towards the head, clearing
 *          visited bits, and evicts the first unvisited entry; new
 *          entries go in at the head (Zhang et al., NSDI 2024).
 *
 * The ARC is not re-implemented: the replay calls arc_read_sync() on an
 * arc_create()d cache with nodata set, so the lists, ghosts and p are the
 * production code's.
 */
#include "fs/objfs/arc_sim.h"

#include "core/util.h"
#include "fs/objfs/arc.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: reproducible traces from a seed. */
static uint64_t
sim_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static double
sim_uniform(uint64_t *s)
{
	return (double)(sim_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* A sampler over nkeys ranks: the cumulative distribution and a shuffle. */
struct zipf {
	double *cdf;
	uint32_t *perm;
	uint32_t n;
};

static int
zipf_init(struct zipf *z, uint32_t n, double alpha, uint64_t *seed)
{
	z->n = n;
	z->cdf = malloc(n * sizeof(*z->cdf));
	z->perm = malloc(n * sizeof(*z->perm));
	if (z->cdf == NULL || z->perm == NULL) {
		free(z->cdf);
		free(z->perm);
		return -ENOMEM;
	}
	double sum = 0;
	for (uint32_t k = 0; k < n; k++) {
		sum += pow((double)k + 1, -alpha);
		z->cdf[k] = sum;
	}
	for (uint32_t k = 0; k < n; k++) {
		z->cdf[k] /= sum;
		z->perm[k] = k;
	}
	/* Hot records are scattered over the key space, as offsets in an image are. */
	for (uint32_t k = n - 1; k > 0; k--) {
		uint32_t j = (uint32_t)(sim_rand(seed) % (k + 1));
		uint32_t t = z->perm[k];
		z->perm[k] = z->perm[j];
		z->perm[j] = t;
	}
	return 0;
}

static uint32_t
zipf_draw(const struct zipf *z, uint64_t *seed)
{
	double u = sim_uniform(seed);
	uint32_t lo = 0, hi = z->n - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (z->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return z->perm[lo];
}

static void
zipf_fini(struct zipf *z)
{
	free(z->cdf);
	free(z->perm);
}

int
sim_trace_zipf_scan(struct sim_trace *t, uint32_t nkeys, double alpha, size_t len,
		    size_t scan_every, uint32_t scan_len, uint64_t seed)
{
	struct zipf z;
	uint64_t s = seed != 0 ? seed : 1;

	memset(t, 0, sizeof(*t));
	if (zipf_init(&z, nkeys, alpha, &s) != 0)
		return -ENOMEM;
	t->keys = malloc(len * sizeof(*t->keys));
	if (t->keys == NULL) {
		zipf_fini(&z);
		return -ENOMEM;
	}
	uint32_t next_scan_key = nkeys;
	size_t i = 0, since_scan = 0;
	while (i < len) {
		if (scan_every != 0 && since_scan == scan_every) {
			/* A scan: records nobody reads again (fresh keys each time). */
			for (uint32_t j = 0; j < scan_len && i < len; j++)
				t->keys[i++] = next_scan_key++;
			since_scan = 0;
			continue;
		}
		t->keys[i++] = zipf_draw(&z, &s);
		since_scan++;
	}
	t->len = len;
	t->nkeys = next_scan_key;
	if (scan_every != 0)
		snprintf(t->name, sizeof(t->name), "zipf-%.1f+scan%u/%zu", alpha, scan_len,
			 scan_every);
	else
		snprintf(t->name, sizeof(t->name), "zipf-%.1f", alpha);
	zipf_fini(&z);
	return 0;
}

int
sim_trace_zipf(struct sim_trace *t, uint32_t nkeys, double alpha, size_t len, uint64_t seed)
{
	return sim_trace_zipf_scan(t, nkeys, alpha, len, 0, 0, seed);
}

int
sim_trace_loop(struct sim_trace *t, uint32_t loop_len, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->keys = malloc(len * sizeof(*t->keys));
	if (t->keys == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++)
		t->keys[i] = (uint32_t)(i % loop_len);
	t->len = len;
	t->nkeys = loop_len;
	snprintf(t->name, sizeof(t->name), "loop-%u", loop_len);
	return 0;
}

void
sim_trace_free(struct sim_trace *t)
{
	free(t->keys);
	t->keys = NULL;
}

/* ---- LRU and SIEVE over dense keys ---- */

#define NIL UINT32_MAX

struct dlist {
	uint32_t *prev, *next; /* by key */
	uint8_t *in;           /* by key: resident */
	uint8_t *visited;      /* by key: SIEVE's bit */
	uint32_t head, tail, n;
};

static int
dlist_init(struct dlist *l, uint32_t nkeys)
{
	l->prev = malloc(nkeys * sizeof(uint32_t));
	l->next = malloc(nkeys * sizeof(uint32_t));
	l->in = calloc(nkeys, 1);
	l->visited = calloc(nkeys, 1);
	l->head = l->tail = NIL;
	l->n = 0;
	if (l->prev == NULL || l->next == NULL || l->in == NULL || l->visited == NULL)
		return -ENOMEM;
	return 0;
}

static void
dlist_fini(struct dlist *l)
{
	free(l->prev);
	free(l->next);
	free(l->in);
	free(l->visited);
}

static void
dlist_unlink(struct dlist *l, uint32_t k)
{
	if (l->prev[k] != NIL)
		l->next[l->prev[k]] = l->next[k];
	else
		l->head = l->next[k];
	if (l->next[k] != NIL)
		l->prev[l->next[k]] = l->prev[k];
	else
		l->tail = l->prev[k];
	l->in[k] = 0;
	l->n--;
}

static void
dlist_push_head(struct dlist *l, uint32_t k)
{
	l->prev[k] = NIL;
	l->next[k] = l->head;
	if (l->head != NIL)
		l->prev[l->head] = k;
	l->head = k;
	if (l->tail == NIL)
		l->tail = k;
	l->in[k] = 1;
	l->visited[k] = 0;
	l->n++;
}

static uint64_t
sim_lru(const struct sim_trace *t, uint32_t cap)
{
	struct dlist l;
	uint64_t hits = 0;
	if (dlist_init(&l, t->nkeys) != 0) {
		dlist_fini(&l);
		return 0;
	}
	for (size_t i = 0; i < t->len; i++) {
		uint32_t k = t->keys[i];
		if (l.in[k]) {
			hits++;
			dlist_unlink(&l, k);
		} else if (l.n == cap) {
			dlist_unlink(&l, l.tail);
		}
		dlist_push_head(&l, k);
	}
	dlist_fini(&l);
	return hits;
}

static uint64_t
sim_sieve(const struct sim_trace *t, uint32_t cap)
{
	struct dlist l;
	uint64_t hits = 0;
	uint32_t hand = NIL;
	if (dlist_init(&l, t->nkeys) != 0) {
		dlist_fini(&l);
		return 0;
	}
	for (size_t i = 0; i < t->len; i++) {
		uint32_t k = t->keys[i];
		if (l.in[k]) {
			hits++;
			l.visited[k] = 1;
			continue;
		}
		if (l.n == cap) {
			uint32_t h = hand != NIL ? hand : l.tail;
			while (l.visited[h]) {
				l.visited[h] = 0;
				h = l.prev[h] != NIL ? l.prev[h] : l.tail;
			}
			hand = l.prev[h]; /* NIL: start again from the tail */
			dlist_unlink(&l, h);
		}
		dlist_push_head(&l, k);
	}
	dlist_fini(&l);
	return hits;
}

/*
 * Belady's MIN.  next[i] is when keys[i] is read again (SIZE_MAX: never);
 * the cache is a max-heap on each resident key's next use.  On a miss with
 * the cache full, the key used furthest ahead goes, and that may be the one
 * just read (it is then not cached at all).
 */
struct opt_heap {
	uint32_t *slot; /* heap of keys */
	uint32_t *pos;  /* by key: its slot, NIL when not resident */
	size_t *when;   /* by key: its next use */
	uint32_t n;
};

static void
opt_swap(struct opt_heap *h, uint32_t a, uint32_t b)
{
	uint32_t ka = h->slot[a], kb = h->slot[b];
	h->slot[a] = kb;
	h->slot[b] = ka;
	h->pos[kb] = a;
	h->pos[ka] = b;
}

static void
opt_up(struct opt_heap *h, uint32_t i)
{
	while (i > 0 && h->when[h->slot[(i - 1) / 2]] < h->when[h->slot[i]]) {
		opt_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
opt_down(struct opt_heap *h, uint32_t i)
{
	for (;;) {
		uint32_t big = i, l = 2 * i + 1, r = l + 1;
		if (l < h->n && h->when[h->slot[l]] > h->when[h->slot[big]])
			big = l;
		if (r < h->n && h->when[h->slot[r]] > h->when[h->slot[big]])
			big = r;
		if (big == i)
			return;
		opt_swap(h, i, big);
		i = big;
	}
}

static uint64_t
sim_opt(const struct sim_trace *t, uint32_t cap)
{
	struct opt_heap h = {
	    .slot = malloc((size_t)cap * sizeof(uint32_t)),
	    .pos = malloc((size_t)t->nkeys * sizeof(uint32_t)),
	    .when = malloc((size_t)t->nkeys * sizeof(size_t)),
	};
	size_t *next = malloc(t->len * sizeof(size_t));
	uint64_t hits = 0;
	if (h.slot == NULL || h.pos == NULL || h.when == NULL || next == NULL)
		goto out;
	for (uint32_t k = 0; k < t->nkeys; k++) {
		h.pos[k] = NIL;
		h.when[k] = SIZE_MAX; /* here: the key's next read, scanning backwards */
	}
	for (size_t i = t->len; i-- > 0;) {
		next[i] = h.when[t->keys[i]];
		h.when[t->keys[i]] = i;
	}
	for (size_t i = 0; i < t->len; i++) {
		uint32_t k = t->keys[i];
		if (h.pos[k] != NIL) {
			hits++;
			h.when[k] = next[i]; /* later than before: towards the top */
			opt_up(&h, h.pos[k]);
		} else if (h.n < cap) {
			h.when[k] = next[i];
			h.slot[h.n] = k;
			h.pos[k] = h.n++;
			opt_up(&h, h.pos[k]);
		} else if (h.when[h.slot[0]] > next[i]) {
			h.pos[h.slot[0]] = NIL;
			h.when[k] = next[i];
			h.slot[0] = k;
			h.pos[k] = 0;
			opt_down(&h, 0);
		}
	}
out:
	free(next);
	free(h.slot);
	free(h.pos);
	free(h.when);
	return hits;
}

/* ---- the real ARC ---- */

static int
sim_fill(void *arg, const struct arc_key *key, void *dst, uint32_t size)
{
	return 0; /* no data: only the lists matter */
}

static const struct arc_fill_ops sim_fill_ops = {.fill_sync = sim_fill};

static uint64_t
sim_arc(const struct sim_trace *t, uint32_t cap)
{
	struct arc_config cfg = {
	    .size = (uint64_t)cap * ARC_SIM_RECORD,
	    .min_promote_ns = 0, /* every access in a trace is a separate use */
	    .nodata = true,
	    .name = "sim",
	};
	struct arc *arc = arc_create(&cfg);
	if (arc == NULL)
		return 0;
	for (size_t i = 0; i < t->len; i++) {
		struct arc_key key = {.image_id = 1,
				      .offset = (uint64_t)t->keys[i] * ARC_SIM_RECORD};
		struct arc_buf *buf;
		if (arc_read_sync(arc, &key, ARC_SIM_RECORD, &sim_fill_ops, NULL, &buf) == 0)
			arc_buf_release(arc, buf);
	}
	uint64_t hits = counter_get(&arc_stats(arc)->hits);
	arc_destroy(arc);
	return hits;
}

uint64_t
sim_run(enum sim_policy policy, const struct sim_trace *t, uint32_t records)
{
	if (records == 0)
		return 0;
	switch (policy) {
	case SIM_LRU:
		return sim_lru(t, records);
	case SIM_SIEVE:
		return sim_sieve(t, records);
	case SIM_ARC:
		return sim_arc(t, records);
	case SIM_OPT:
		return sim_opt(t, records);
	default:
		return 0;
	}
}

const char *
sim_policy_name(enum sim_policy policy)
{
	static const char *const names[] = {"LRU", "SIEVE", "ARC", "OPT"};
	return policy < SIM_NPOLICIES ? names[policy] : "?";
}

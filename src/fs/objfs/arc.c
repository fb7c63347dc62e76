/*
 * The ARC: an adaptive replacement cache of objfs records.
 *
 * Why not LRU.  A page cache in front of a media store sees two kinds of
 * traffic at once: a working set that is read again and again (the popular
 * files) and long one-time reads (a crawler, a backup, one viewer of an old
 * file).  Plain LRU lets every one-time read push a popular record out; a
 * single scan the size of the cache flushes it completely.  The ARC keeps
 * two lists and learns how to split the budget between them:
 *
 *          recency side                      frequency side
 *    +-----------------------+   2nd   +-----------------------+
 *    | MRU ghost |    MRU    |  hit -> |    MFU    | MFU ghost |
 *    +-----------------------+         +-----------------------+
 *     keys only   records  <-- p -->|<---- c - p ---->   keys only
 *
 * A record read once lives in MRU; read again (later than min_promote_ns
 * after it came in: several page runs of one sequential read are one use)
 * it moves to MFU.  When the cache is full the REPLACE step evicts from
 * MRU if MRU is over its target p, else from MFU; the evicted record's key
 * is remembered in that list's ghost.  A miss that hits a ghost is
 * evidence: a hit in the MRU ghost says "MRU was too small", so p grows
 * (by the record's size, times |MFU ghost| / |MRU ghost| when that is
 * bigger); a hit in the MFU ghost shrinks p the same way.  The ghost record
 * comes back straight into MFU.  A one-time scan only ever churns MRU (its
 * keys are never read twice), so the MFU set survives it; and since a scan
 * produces no ghost hits, it cannot move p either.
 *
 * Sizes are bytes, not entries (records are 4 KiB to 1 MiB).  The lists
 * obey the paper's bounds in bytes: MRU + MRU ghost <= c, all four <= 2c.
 *
 * Held records.  Readers hold a buffer while they copy from it (the DMU
 * pager holds every record covering a page run).  A held record, or one
 * whose fill is under way, is never evicted; REPLACE passes over it (counted
 * as evict_skip).  If everything is held the ARC grows past c (counted as an
 * overflow) and shrinks back as holds go.
 *
 * Fills.  A miss puts the record, held and marked filling, into its list at
 * once, so a concurrent miss on the same key finds it and queues behind the
 * one fill.  The fill (the image side's read + checksum + decompress) runs
 * without the lock.  A failed fill (-EIO on a checksum mismatch) takes the
 * record out of the hash before anyone hears of it: every waiter gets the
 * error, and the next read tries the image again.
 *
 * Memory.  Record bytes come from one region made with the ARC (9/8 c,
 * pre-faulted; core/recmem.h): a fill writes into memory that is already
 * there, where a fresh malloc of 128 KiB was faulted in page by page and cut
 * cold objfs streams to a tenth of hostfs.  The same region stages the image
 * reads that cannot go straight into a record (compressed or unaligned).
 *
 * Files: arc.c (hash, lists, reads, holds), arc_evict.c (REPLACE, ghost
 * bounds, adaptation), arc_stats.c (counters, sizes, Prometheus text).
 */
#include "fs/objfs/arc_impl.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/recmem.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARC_HASH_MIN 1024u

/* ---- hash ---- */

static uint64_t
arc_key_hash(const struct arc_key *k)
{
	/* splitmix64 finaliser over both words: cheap, and offsets are aligned. */
	uint64_t x =
	    k->offset ^ (k->image_id * 0x9e3779b97f4a7c15ull) ^ (k->tag * 0xd6e8feb86659fd93ull);
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static bool
arc_key_equal(const struct arc_key *a, const struct arc_key *b)
{
	return a->image_id == b->image_id && a->offset == b->offset && a->tag == b->tag;
}

static struct arc_hdr *
arc_hash_find(struct arc *arc, const struct arc_key *key)
{
	struct arc_hdr *h = arc->hash[arc_key_hash(key) & arc->hash_mask];
	while (h != NULL && !arc_key_equal(&h->key, key))
		h = h->hnext;
	return h;
}

static void
arc_hash_grow(struct arc *arc)
{
	uint64_t nb = (arc->hash_mask + 1) * 2;
	struct arc_hdr **nh = calloc(nb, sizeof(*nh));
	if (nh == NULL)
		return; /* longer chains, still correct */
	for (uint64_t i = 0; i <= arc->hash_mask; i++) {
		struct arc_hdr *h = arc->hash[i];
		while (h != NULL) {
			struct arc_hdr *next = h->hnext;
			uint64_t b = arc_key_hash(&h->key) & (nb - 1);
			h->hnext = nh[b];
			nh[b] = h;
			h = next;
		}
	}
	free(arc->hash);
	arc->hash = nh;
	arc->hash_mask = nb - 1;
}

static void
arc_hash_insert(struct arc *arc, struct arc_hdr *h)
{
	ASSERT(!h->hashed);
	if (arc->hash_count >= 2 * (arc->hash_mask + 1))
		arc_hash_grow(arc);
	uint64_t b = arc_key_hash(&h->key) & arc->hash_mask;
	h->hnext = arc->hash[b];
	arc->hash[b] = h;
	h->hashed = true;
	arc->hash_count++;
}

void
arc_hash_remove(struct arc *arc, struct arc_hdr *h)
{
	ASSERT(h->hashed);
	struct arc_hdr **pp = &arc->hash[arc_key_hash(&h->key) & arc->hash_mask];
	while (*pp != h)
		pp = &(*pp)->hnext;
	*pp = h->hnext;
	h->hnext = NULL;
	h->hashed = false;
	arc->hash_count--;
}

/* ---- lists ---- */

void
arc_list_remove(struct arc *arc, struct arc_hdr *h)
{
	ASSERT3U(h->state, !=, ARC_ANON);
	TAILQ_REMOVE(&arc->lists[h->state], h, link);
	ASSERT3U(arc->lsize[h->state], >=, h->buf.size);
	arc->lsize[h->state] -= h->buf.size;
	arc->lcount[h->state]--;
	h->state = ARC_ANON;
}

void
arc_list_insert_head(struct arc *arc, struct arc_hdr *h, enum arc_state st)
{
	ASSERT3U(h->state, ==, ARC_ANON);
	ASSERT3U(st, !=, ARC_ANON);
	TAILQ_INSERT_HEAD(&arc->lists[st], h, link);
	arc->lsize[st] += h->buf.size;
	arc->lcount[st]++;
	h->state = st;
}

void
arc_hdr_free(struct arc_hdr *h)
{
	ASSERT(!h->hashed);
	ASSERT0(h->holds);
	recmem_free(h->arc->mem, h->data);
	free(h);
}

static void
arc_hold(struct arc *arc, struct arc_hdr *h)
{
	if (h->holds++ == 0)
		arc->held_bytes += h->buf.size;
}

/* Drop one hold (lock held); returns true if the caller must free h. */
static bool
arc_unhold(struct arc *arc, struct arc_hdr *h)
{
	ASSERT3U(h->holds, >, 0);
	if (--h->holds > 0)
		return false;
	ASSERT3U(arc->held_bytes, >=, h->buf.size);
	arc->held_bytes -= h->buf.size;
	if (h->state == ARC_ANON && !h->hashed && !h->filling)
		return true;
	if (arc->lsize[ARC_MRU] + arc->lsize[ARC_MFU] > arc->c)
		arc_adjust(arc);
	return false;
}

/* ---- create / destroy ---- */

struct arc *
arc_create(const struct arc_config *cfg)
{
	struct arc *arc = calloc(1, sizeof(*arc));
	if (arc == NULL)
		return NULL;
	arc->hash = calloc(ARC_HASH_MIN, sizeof(*arc->hash));
	arc->name = strdup(cfg->name != NULL ? cfg->name : "arc");
	if (arc->hash == NULL || arc->name == NULL) {
		free(arc->hash);
		free(arc->name);
		free(arc);
		return NULL;
	}
	arc->hash_mask = ARC_HASH_MIN - 1;
	pthread_mutex_init(&arc->lock, NULL);
	pthread_cond_init(&arc->fill_cv, NULL);
	for (int i = 0; i < ARC_NSTATES; i++)
		TAILQ_INIT(&arc->lists[i]);
	arc->c = cfg->size;
	/* As in the paper, start with no bias for recency: ghost hits earn it. */
	arc->p = 0;
	arc->min_promote_ns = cfg->min_promote_ns;
	arc->nodata = cfg->nodata;
	if (!arc->nodata) {
		/* c, plus room for staging buffers and records rounded up to a power of two. */
		arc->mem = recmem_create(cfg->size + cfg->size / 8, cfg->prefault);
		if (arc->mem == NULL) {
			arc_destroy(arc);
			return NULL;
		}
	}
	return arc;
}

void
arc_destroy(struct arc *arc)
{
	if (arc == NULL)
		return;
	pthread_mutex_lock(&arc->lock);
	VERIFY0(arc->held_bytes);
	for (int st = ARC_MRU; st < ARC_NSTATES; st++) {
		struct arc_hdr *h;
		while ((h = TAILQ_FIRST(&arc->lists[st])) != NULL) {
			VERIFY(arc_hdr_evictable(h));
			arc_list_remove(arc, h);
			arc_hash_remove(arc, h);
			arc_hdr_free(h);
		}
	}
	VERIFY0(arc->hash_count);
	pthread_mutex_unlock(&arc->lock);
	recmem_destroy(arc->mem);
	pthread_mutex_destroy(&arc->lock);
	pthread_cond_destroy(&arc->fill_cv);
	free(arc->hash);
	free(arc->name);
	free(arc);
}

/* ---- reads ---- */

/* A hit on a filled record: move it as the paper says (lock held). */
static void
arc_access_hit(struct arc *arc, struct arc_hdr *h, uint64_t now)
{
	counter_inc(&arc->stats.hits);
	if (h->state == ARC_MRU) {
		counter_inc(&arc->stats.mru_hits);
		if (now - h->access_ns < arc->min_promote_ns)
			return; /* the same use as the first access */
		arc_list_remove(arc, h);
		arc_list_insert_head(arc, h, ARC_MFU);
		counter_inc(&arc->stats.promotions);
	} else {
		ASSERT3U(h->state, ==, ARC_MFU);
		counter_inc(&arc->stats.mfu_hits);
		TAILQ_REMOVE(&arc->lists[ARC_MFU], h, link);
		TAILQ_INSERT_HEAD(&arc->lists[ARC_MFU], h, link);
	}
	h->access_ns = now;
}

/*
 * A miss (lock held): bring `key` in as a held record being filled, from a
 * ghost list (into MFU, after adapting p) or fresh (into MRU).  Returns NULL
 * only on memory exhaustion.
 */
static struct arc_hdr *
arc_access_miss(struct arc *arc, struct arc_hdr *h, const struct arc_key *key, uint32_t size,
		uint64_t now)
{
	enum arc_state to = ARC_MRU;
	bool in_mfu_ghost = false;

	counter_inc(&arc->stats.misses);
	if (h != NULL) {
		ASSERT(h->state == ARC_MRU_GHOST || h->state == ARC_MFU_GHOST);
		in_mfu_ghost = h->state == ARC_MFU_GHOST;
		counter_inc(in_mfu_ghost ? &arc->stats.mfu_ghost_hits : &arc->stats.mru_ghost_hits);
		arc_adapt(arc, h->state, size);
		arc_list_remove(arc, h);
		h->buf.size = size;
		to = ARC_MFU;
	} else {
		h = calloc(1, sizeof(*h));
		if (h == NULL)
			return NULL;
		h->key = *key;
		h->arc = arc;
		h->buf.size = size;
		arc_hash_insert(arc, h);
	}
	if (!arc->nodata) {
		h->data = recmem_alloc(arc->mem, size > 0 ? size : 1);
		if (h->data == NULL) {
			arc_hash_remove(arc, h);
			arc_hdr_free(h);
			return NULL;
		}
	}
	h->buf.data = h->data;
	if (!arc_make_room(arc, size, in_mfu_ghost))
		counter_inc(&arc->stats.overflows);
	h->filling = true;
	h->error = 0;
	h->access_ns = now;
	arc_hold(arc, h);
	arc_list_insert_head(arc, h, to);
	arc_ghost_trim(arc);
	return h;
}

/*
 * A fill ended.  On success the record becomes readable; on error it leaves
 * the hash and lists so nothing caches the failure, and every async waiter
 * is told (its hold goes with it).  Sync waiters wake on fill_cv and drop
 * their own holds.
 */
static void
arc_fill_complete(struct arc_hdr *h, int error)
{
	struct arc *arc = h->arc;
	struct arc_waiter *w;
	bool free_it = false;

	pthread_mutex_lock(&arc->lock);
	ASSERT(h->filling);
	h->filling = false;
	h->error = error;
	w = h->waiters;
	h->waiters = NULL;
	if (error != 0) {
		counter_inc(&arc->stats.fill_errors);
		arc_list_remove(arc, h);
		arc_hash_remove(arc, h);
		recmem_free(arc->mem, h->data);
		h->data = NULL;
		h->buf.data = NULL;
		for (struct arc_waiter *x = w; x != NULL; x = x->next)
			free_it = arc_unhold(arc, h);
	}
	pthread_cond_broadcast(&arc->fill_cv);
	pthread_mutex_unlock(&arc->lock);

	while (w != NULL) {
		struct arc_waiter *next = w->next;
		w->cb(w->cb_arg, error != 0 ? NULL : &h->buf, error);
		free(w);
		w = next;
	}
	if (free_it)
		arc_hdr_free(h);
}

static void
arc_fill_done(void *done_arg, int error)
{
	arc_fill_complete(done_arg, error);
}

static bool
arc_add_waiter(struct arc_hdr *h, arc_read_done_t *cb, void *cb_arg)
{
	struct arc_waiter *w = malloc(sizeof(*w));
	if (w == NULL)
		return false;
	w->cb = cb;
	w->cb_arg = cb_arg;
	/* Order does not matter to readers; prepend. */
	w->next = h->waiters;
	h->waiters = w;
	return true;
}

void
arc_read(struct arc *arc, const struct arc_key *key, uint32_t size, const struct arc_fill_ops *ops,
	 void *fill_arg, arc_read_done_t *cb, void *cb_arg)
{
	uint64_t now = arc->min_promote_ns != 0 ? vms_now_ns() : 0;

	pthread_mutex_lock(&arc->lock);
	struct arc_hdr *h = arc_hash_find(arc, key);
	if (h != NULL && (h->state == ARC_MRU || h->state == ARC_MFU)) {
		if (h->buf.size != size) {
			pthread_mutex_unlock(&arc->lock);
			cb(cb_arg, NULL, -EIO);
			return;
		}
		if (h->filling) {
			if (!arc_add_waiter(h, cb, cb_arg)) {
				pthread_mutex_unlock(&arc->lock);
				cb(cb_arg, NULL, -ENOMEM);
				return;
			}
			counter_inc(&arc->stats.io_hits);
			arc_hold(arc, h);
			pthread_mutex_unlock(&arc->lock);
			return;
		}
		arc_access_hit(arc, h, now);
		arc_hold(arc, h);
		pthread_mutex_unlock(&arc->lock);
		cb(cb_arg, &h->buf, 0);
		return;
	}
	h = arc_access_miss(arc, h, key, size, now);
	if (h == NULL || !arc_add_waiter(h, cb, cb_arg)) {
		if (h != NULL) {
			/* Undo the miss: nobody has seen h yet. */
			h->filling = false;
			arc_list_remove(arc, h);
			arc_hash_remove(arc, h);
			h->holds = 0;
			arc->held_bytes -= h->buf.size;
			arc_hdr_free(h);
		}
		pthread_mutex_unlock(&arc->lock);
		cb(cb_arg, NULL, -ENOMEM);
		return;
	}
	pthread_mutex_unlock(&arc->lock);

	if (ops->fill_async != NULL) {
		ops->fill_async(fill_arg, key, h->data, size, arc_fill_done, h);
	} else {
		int error = ops->fill_sync(fill_arg, key, h->data, size);
		arc_fill_complete(h, error);
	}
}

int
arc_read_sync(struct arc *arc, const struct arc_key *key, uint32_t size,
	      const struct arc_fill_ops *ops, void *fill_arg, struct arc_buf **bufp)
{
	uint64_t now = arc->min_promote_ns != 0 ? vms_now_ns() : 0;
	int error;

	*bufp = NULL;
	pthread_mutex_lock(&arc->lock);
	struct arc_hdr *h = arc_hash_find(arc, key);
	if (h != NULL && (h->state == ARC_MRU || h->state == ARC_MFU)) {
		if (h->buf.size != size) {
			pthread_mutex_unlock(&arc->lock);
			return -EIO; /* one key, two sizes: only a broken image does that */
		}
		arc_hold(arc, h);
		if (!h->filling) {
			arc_access_hit(arc, h, now);
			pthread_mutex_unlock(&arc->lock);
			*bufp = &h->buf;
			return 0;
		}
		counter_inc(&arc->stats.io_hits);
		while (h->filling)
			pthread_cond_wait(&arc->fill_cv, &arc->lock);
		error = h->error;
		if (error != 0) {
			bool free_it = arc_unhold(arc, h);
			pthread_mutex_unlock(&arc->lock);
			if (free_it)
				arc_hdr_free(h);
			return error;
		}
		pthread_mutex_unlock(&arc->lock);
		*bufp = &h->buf;
		return 0;
	}
	h = arc_access_miss(arc, h, key, size, now);
	pthread_mutex_unlock(&arc->lock);
	if (h == NULL)
		return -ENOMEM;

	error = ops->fill_sync(fill_arg, key, h->data, size);
	arc_fill_complete(h, error);
	if (error != 0) {
		pthread_mutex_lock(&arc->lock);
		bool free_it = arc_unhold(arc, h);
		pthread_mutex_unlock(&arc->lock);
		if (free_it)
			arc_hdr_free(h);
		return error;
	}
	*bufp = &h->buf;
	return 0;
}

void
arc_buf_release(struct arc *arc, struct arc_buf *buf)
{
	struct arc_hdr *h = container_of(buf, struct arc_hdr, buf);
	ASSERT3P(h->arc, ==, arc);
	pthread_mutex_lock(&arc->lock);
	bool free_it = arc_unhold(arc, h);
	pthread_mutex_unlock(&arc->lock);
	if (free_it)
		arc_hdr_free(h);
}

struct recmem *
arc_recmem(struct arc *arc)
{
	return arc->mem;
}

bool
arc_cached(struct arc *arc, const struct arc_key *key)
{
	pthread_mutex_lock(&arc->lock);
	struct arc_hdr *h = arc_hash_find(arc, key);
	bool cached = h != NULL && (h->state == ARC_MRU || h->state == ARC_MFU) && !h->filling;
	pthread_mutex_unlock(&arc->lock);
	return cached;
}

enum arc_state
arc_key_state(struct arc *arc, const struct arc_key *key)
{
	pthread_mutex_lock(&arc->lock);
	struct arc_hdr *h = arc_hash_find(arc, key);
	enum arc_state st = h == NULL || h->filling ? ARC_ANON : (enum arc_state)h->state;
	pthread_mutex_unlock(&arc->lock);
	return st;
}

void
arc_set_size(struct arc *arc, uint64_t bytes)
{
	pthread_mutex_lock(&arc->lock);
	arc->c = bytes;
	if (arc->p > bytes)
		arc->p = bytes;
	arc_adjust(arc);
	pthread_mutex_unlock(&arc->lock);
}

void
arc_evict_image(struct arc *arc, uint64_t image_id)
{
	pthread_mutex_lock(&arc->lock);
	for (int st = ARC_MRU; st < ARC_NSTATES; st++) {
		struct arc_hdr *h, *next;
		for (h = TAILQ_FIRST(&arc->lists[st]); h != NULL; h = next) {
			next = TAILQ_NEXT(h, link);
			if (h->key.image_id != image_id || !arc_hdr_evictable(h))
				continue;
			arc_list_remove(arc, h);
			arc_hash_remove(arc, h);
			arc_hdr_free(h);
		}
	}
	pthread_mutex_unlock(&arc->lock);
}

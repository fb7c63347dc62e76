/*
 * ARC unit tests with a fake fill: no image, only keys and byte patterns.
 * Records are 4 KiB; sizes below are in records unless they say bytes.
 */
#include "fs/objfs/arc.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RS 4096u

static _Atomic unsigned fills;

static void
pattern(uint64_t offset, uint8_t *dst, uint32_t size)
{
	for (uint32_t i = 0; i < size; i++)
		dst[i] = (uint8_t)((offset >> 12) * 31 + i * 7);
}

static bool
pattern_ok(uint64_t offset, const uint8_t *p, uint32_t size)
{
	uint8_t want[RS];
	pattern(offset, want, size);
	return memcmp(want, p, size) == 0;
}

static int
fake_fill_sync(void *arg, const struct arc_key *key, void *dst, uint32_t size)
{
	atomic_fetch_add(&fills, 1);
	pattern(key->offset, dst, size);
	return 0;
}

static const struct arc_fill_ops sync_ops = {.fill_sync = fake_fill_sync};

static struct arc *
mk(uint64_t records)
{
	struct arc_config cfg = {.size = records * RS, .min_promote_ns = 0, .name = "t"};
	struct arc *arc = arc_create(&cfg);
	cr_assert_not_null(arc);
	atomic_store(&fills, 0);
	return arc;
}

static struct arc_key
K(uint64_t n) {
	return (struct arc_key){.image_id = 1, .offset = n *RS};
}

/* Read n and release at once; returns true on a hit (no fill ran). */
static bool
touch(struct arc *arc, uint64_t n)
{
	struct arc_key k = K(n);
	struct arc_buf *b;
	unsigned before = atomic_load(&fills);
	cr_assert_eq(arc_read_sync(arc, &k, RS, &sync_ops, NULL, &b), 0);
	cr_assert(pattern_ok(k.offset, b->data, RS), "record %llu has wrong bytes",
		  (unsigned long long)n);
	arc_buf_release(arc, b);
	return atomic_load(&fills) == before;
}

struct stat_query {
	const char *name;
	uint64_t v;
	bool found;
};

static void
stat_cb(void *arg, const char *name, uint64_t value)
{
	struct stat_query *q = arg;
	if (strcmp(name, q->name) == 0) {
		q->v = value;
		q->found = true;
	}
}

static uint64_t
stat_of(struct arc *arc, const char *want)
{
	struct stat_query q = {want, 0, false};
	arc_stats_foreach(arc, stat_cb, &q);
	cr_assert(q.found, "no stat %s", want);
	return q.v;
}

Test(arc, miss_then_hit_returns_the_filled_bytes)
{
	struct arc *arc = mk(8);
	cr_assert_not(touch(arc, 3));
	cr_assert(touch(arc, 3));
	cr_assert_eq(atomic_load(&fills), 1);
	cr_assert_eq(stat_of(arc, "hits"), 1);
	cr_assert_eq(stat_of(arc, "misses"), 1);
	cr_assert_eq(stat_of(arc, "mru_hits"), 1);
	cr_assert_eq(stat_of(arc, "size"), RS);
	/* min_promote_ns == 0: the second access promoted it. */
	struct arc_key k = K(3);
	cr_assert_eq(arc_key_state(arc, &k), ARC_MFU);
	cr_assert(touch(arc, 3));
	cr_assert_eq(stat_of(arc, "mfu_hits"), 1);
	arc_destroy(arc);
}

Test(arc, size_stays_within_budget)
{
	struct arc *arc = mk(8);
	for (uint64_t i = 0; i < 100; i++) {
		touch(arc, i % 37);
		struct arc_sizes z;
		arc_sizes(arc, &z);
		cr_assert_leq(z.size, 8 * RS);
		cr_assert_leq(z.mru + z.mru_ghost, 8 * RS, "MRU + ghost over c");
		cr_assert_leq(z.size + z.mru_ghost + z.mfu_ghost, 16 * RS, "lists over 2c");
	}
	cr_assert_gt(stat_of(arc, "evict_mru") + stat_of(arc, "evict_mfu"), 0);
	arc_destroy(arc);
}

Test(arc, mru_only_cache_leaves_no_ghosts)
{
	/* The paper's case: MRU alone fills c, so its LRU record is forgotten outright. */
	struct arc *arc = mk(4);
	for (uint64_t i = 0; i < 6; i++)
		touch(arc, i);
	struct arc_key k0 = K(0);
	cr_assert_eq(arc_key_state(arc, &k0), ARC_ANON);
	cr_assert_eq(stat_of(arc, "mru_ghost_size"), 0);
	cr_assert_eq(stat_of(arc, "evict_mru"), 2);
	arc_destroy(arc);
}

/* MFU = {2}, MRU = {4, 3, 1}, MRU ghost = {0}, p = 0. */
static struct arc *
setup_mru_ghost(void)
{
	struct arc *arc = mk(4);
	touch(arc, 0);
	touch(arc, 1);
	touch(arc, 2);
	touch(arc, 2); /* second access: MFU */
	touch(arc, 3);
	touch(arc, 4); /* full: MRU > p = 0, so 0 goes to the MRU ghost list */
	struct arc_key k0 = K(0), k2 = K(2);
	cr_assert_eq(arc_key_state(arc, &k0), ARC_MRU_GHOST);
	cr_assert_eq(arc_key_state(arc, &k2), ARC_MFU);
	cr_assert_eq(stat_of(arc, "p"), 0);
	return arc;
}

Test(arc, mru_ghost_hit_grows_p)
{
	struct arc *arc = setup_mru_ghost();
	struct arc_key k0 = K(0);
	struct arc_sizes before, after;
	arc_sizes(arc, &before);
	cr_assert_not(touch(arc, 0), "a ghost holds no data: it must be filled again");
	arc_sizes(arc, &after);
	cr_assert_gt(after.p, before.p, "MRU-ghost hit must grow p (%llu -> %llu)",
		     (unsigned long long)before.p, (unsigned long long)after.p);
	cr_assert_eq(after.p - before.p, RS);
	cr_assert_eq(stat_of(arc, "mru_ghost_hits"), 1);
	cr_assert_eq(stat_of(arc, "mfu_ghost_hits"), 0);
	cr_assert_eq(arc_key_state(arc, &k0), ARC_MFU, "a ghost hit comes back into MFU");
	arc_destroy(arc);
}

Test(arc, mfu_ghost_hit_shrinks_p)
{
	struct arc *arc = setup_mru_ghost();
	touch(arc, 0); /* MRU-ghost hit: p = 1 record; 0 into MFU, 1 out of MRU */
	cr_assert_eq(stat_of(arc, "p"), RS);
	/*
	 * MFU = {0, 2}, MRU = {4, 3}.  New keys keep MRU at two records, over
	 * p, so REPLACE keeps taking from MRU; a second MRU-ghost hit lifts p
	 * to two records and REPLACE turns to MFU's LRU, record 2.
	 */
	touch(arc, 10); /* evicts 3 into the MRU ghost */
	cr_assert_not(touch(arc, 3));
	cr_assert_eq(stat_of(arc, "p"), 2 * RS);
	struct arc_key k2 = K(2);
	cr_assert_eq(arc_key_state(arc, &k2), ARC_MFU_GHOST);
	uint64_t p_before = stat_of(arc, "p");
	cr_assert_gt(p_before, 0);
	cr_assert_not(touch(arc, 2));
	uint64_t p_after = stat_of(arc, "p");
	cr_assert_lt(p_after, p_before, "MFU-ghost hit must shrink p (%llu -> %llu)",
		     (unsigned long long)p_before, (unsigned long long)p_after);
	cr_assert_eq(stat_of(arc, "mfu_ghost_hits"), 1);
	cr_assert_eq(arc_key_state(arc, &k2), ARC_MFU);
	arc_destroy(arc);
}

/* A plain LRU of `cap` keys, for comparison: most recent at [0]. */
struct lru {
	uint64_t keys[64];
	unsigned n, cap;
};

static bool
lru_touch(struct lru *l, uint64_t key)
{
	unsigned i;
	for (i = 0; i < l->n && l->keys[i] != key; i++)
		;
	bool hit = i < l->n;
	if (!hit)
		i = l->n < l->cap ? l->n++ : l->cap - 1;
	memmove(&l->keys[1], &l->keys[0], i * sizeof(l->keys[0]));
	l->keys[0] = key;
	return hit;
}

Test(arc, one_time_scan_does_not_flush_the_frequent_set)
{
	const unsigned cap = 16, hot = 10;
	struct arc *arc = mk(cap);
	struct lru lru = {.cap = cap};

	/* The working set, used three times over. */
	for (int round = 0; round < 3; round++)
		for (uint64_t i = 0; i < hot; i++) {
			touch(arc, i);
			lru_touch(&lru, i);
		}
	/* One pass over 200 records nobody reads again. */
	for (uint64_t i = 1000; i < 1200; i++) {
		touch(arc, i);
		lru_touch(&lru, i);
	}
	unsigned arc_hits = 0, lru_hits = 0;
	for (uint64_t i = 0; i < hot; i++) {
		arc_hits += touch(arc, i);
		lru_hits += lru_touch(&lru, i);
	}
	cr_assert_eq(lru_hits, 0, "the LRU baseline should have been flushed (%u hits)", lru_hits);
	cr_assert_eq(arc_hits, hot, "the ARC kept %u of %u frequent records", arc_hits, hot);
	cr_assert_eq(stat_of(arc, "mru_ghost_hits") + stat_of(arc, "mfu_ghost_hits"), 0,
		     "a scan must not produce ghost hits");
	arc_destroy(arc);
}

Test(arc, held_records_survive_pressure)
{
	struct arc *arc = mk(4);
	struct arc_buf *held[2];
	struct arc_key k0 = K(0), k1 = K(1);
	cr_assert_eq(arc_read_sync(arc, &k0, RS, &sync_ops, NULL, &held[0]), 0);
	cr_assert_eq(arc_read_sync(arc, &k1, RS, &sync_ops, NULL, &held[1]), 0);
	for (uint64_t i = 10; i < 60; i++)
		touch(arc, i);
	cr_assert(arc_cached(arc, &k0) && arc_cached(arc, &k1), "a held record was evicted");
	cr_assert(pattern_ok(k0.offset, held[0]->data, RS));
	cr_assert(pattern_ok(k1.offset, held[1]->data, RS));
	cr_assert_gt(stat_of(arc, "evict_skip"), 0);
	cr_assert_eq(stat_of(arc, "held_size"), 2 * RS);

	/* Everything held: the ARC overflows c rather than failing the read. */
	struct arc_buf *more[4];
	for (int i = 0; i < 4; i++) {
		struct arc_key k = K(100 + i);
		cr_assert_eq(arc_read_sync(arc, &k, RS, &sync_ops, NULL, &more[i]), 0);
	}
	cr_assert_gt(stat_of(arc, "overflows"), 0);
	cr_assert_eq(stat_of(arc, "size"), 6 * RS);
	for (int i = 0; i < 4; i++)
		arc_buf_release(arc, more[i]);
	/* The last releases brought it back within c. */
	cr_assert_leq(stat_of(arc, "size"), 4 * RS);
	cr_assert(arc_cached(arc, &k0) && arc_cached(arc, &k1));
	arc_buf_release(arc, held[0]);
	arc_buf_release(arc, held[1]);
	cr_assert_eq(stat_of(arc, "held_size"), 0);
	for (uint64_t i = 200; i < 210; i++)
		touch(arc, i);
	cr_assert_not(arc_cached(arc, &k0), "released records are evictable again");
	arc_destroy(arc);
}

/* ---- async fills ---- */

struct pending_fill {
	arc_fill_done_t *done;
	void *done_arg;
	void *dst;
	uint32_t size;
	uint64_t offset;
};

static struct pending_fill pend[8];
static _Atomic unsigned npend;

static void
deferred_fill(void *arg, const struct arc_key *key, void *dst, uint32_t size, arc_fill_done_t *done,
	      void *done_arg)
{
	unsigned i = atomic_fetch_add(&npend, 1);
	cr_assert_lt(i, 8);
	atomic_fetch_add(&fills, 1);
	pend[i] = (struct pending_fill){done, done_arg, dst, size, key->offset};
}

static void
complete_fill(unsigned i, int error)
{
	if (error == 0)
		pattern(pend[i].offset, pend[i].dst, pend[i].size);
	else
		memset(pend[i].dst, 0xEE, pend[i].size); /* garbage a reader must never see */
	pend[i].done(pend[i].done_arg, error);
}

static const struct arc_fill_ops async_ops = {.fill_sync = fake_fill_sync,
					      .fill_async = deferred_fill};

struct reader {
	_Atomic int called;
	struct arc_buf *buf;
	int error;
};

static void
reader_done(void *arg, struct arc_buf *buf, int error)
{
	struct reader *r = arg;
	r->buf = buf;
	r->error = error;
	atomic_fetch_add(&r->called, 1);
}

Test(arc, concurrent_async_misses_share_one_fill)
{
	struct arc *arc = mk(8);
	atomic_store(&npend, 0);
	struct reader r[3] = {0};
	struct arc_key k = K(7);
	for (int i = 0; i < 3; i++)
		arc_read(arc, &k, RS, &async_ops, NULL, reader_done, &r[i]);
	cr_assert_eq(atomic_load(&fills), 1, "one fill for three readers");
	cr_assert_eq(stat_of(arc, "io_hits"), 2);
	cr_assert_eq(stat_of(arc, "misses"), 1);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(atomic_load(&r[i].called), 0, "no reader may finish before the fill");
	cr_assert_not(arc_cached(arc, &k), "a record being filled is not cached yet");
	complete_fill(0, 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(atomic_load(&r[i].called), 1);
		cr_assert_eq(r[i].error, 0);
		cr_assert_eq(r[i].buf, r[0].buf, "all readers share one buffer");
		cr_assert(pattern_ok(k.offset, r[i].buf->data, RS));
	}
	cr_assert_eq(stat_of(arc, "held_size"), RS);
	for (int i = 0; i < 3; i++)
		arc_buf_release(arc, r[i].buf);
	cr_assert_eq(stat_of(arc, "held_size"), 0);
	cr_assert(arc_cached(arc, &k));
	arc_destroy(arc);
}

Test(arc, async_error_reaches_every_waiter_and_is_not_cached)
{
	struct arc *arc = mk(8);
	atomic_store(&npend, 0);
	struct reader r[3] = {0};
	struct arc_key k = K(9);
	for (int i = 0; i < 3; i++)
		arc_read(arc, &k, RS, &async_ops, NULL, reader_done, &r[i]);
	complete_fill(0, -EIO);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(atomic_load(&r[i].called), 1);
		cr_assert_eq(r[i].error, -EIO);
		cr_assert_null(r[i].buf);
	}
	cr_assert_not(arc_cached(arc, &k));
	cr_assert_eq(arc_key_state(arc, &k), ARC_ANON, "a failed record leaves no ghost either");
	cr_assert_eq(stat_of(arc, "fill_errors"), 1);
	cr_assert_eq(stat_of(arc, "held_size"), 0);
	cr_assert_eq(stat_of(arc, "size"), 0);
	/* The next read goes back to the image, and this time succeeds. */
	struct reader again = {0};
	arc_read(arc, &k, RS, &async_ops, NULL, reader_done, &again);
	cr_assert_eq(atomic_load(&fills), 2);
	complete_fill(1, 0);
	cr_assert_eq(again.error, 0);
	cr_assert(pattern_ok(k.offset, again.buf->data, RS));
	arc_buf_release(arc, again.buf);
	arc_destroy(arc);
}

/* ---- sync readers on threads ---- */

static _Atomic int gate; /* the fill waits until the test opens it */

static int
gated_fill(void *arg, const struct arc_key *key, void *dst, uint32_t size)
{
	int *result = arg;
	atomic_fetch_add(&fills, 1);
	while (atomic_load(&gate) == 0)
		sched_yield();
	if (*result != 0)
		return *result;
	pattern(key->offset, dst, size);
	return 0;
}

static const struct arc_fill_ops gated_ops = {.fill_sync = gated_fill};

struct thread_reader {
	struct arc *arc;
	int fill_result;
	int rv;
	struct arc_buf *buf;
};

static void *
thread_read(void *arg)
{
	struct thread_reader *t = arg;
	struct arc_key k = K(5);
	t->rv = arc_read_sync(t->arc, &k, RS, &gated_ops, &t->fill_result, &t->buf);
	return NULL;
}

static void
run_threads(int fill_result)
{
	struct arc *arc = mk(8);
	atomic_store(&gate, 0);
	struct thread_reader t[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thread_reader){.arc = arc, .fill_result = fill_result};
		cr_assert_eq(pthread_create(&th[i], NULL, thread_read, &t[i]), 0);
	}
	/* Wait (without timing anything) until one fill runs and the other three queued. */
	while (atomic_load(&fills) < 1 || stat_of(arc, "io_hits") < 3)
		sched_yield();
	atomic_store(&gate, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&fills), 1, "four concurrent misses, one fill");
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(t[i].rv, fill_result);
		if (fill_result == 0) {
			cr_assert_eq(t[i].buf, t[0].buf);
			cr_assert(pattern_ok(K(5).offset, t[i].buf->data, RS));
			arc_buf_release(arc, t[i].buf);
		} else {
			cr_assert_null(t[i].buf);
		}
	}
	struct arc_key k = K(5);
	cr_assert_eq(arc_cached(arc, &k), fill_result == 0);
	cr_assert_eq(stat_of(arc, "held_size"), 0);
	cr_assert_eq(stat_of(arc, "fill_errors"), fill_result == 0 ? 0 : 1);
	arc_destroy(arc);
}

Test(arc, threads_missing_one_key_share_one_fill)
{
	run_threads(0);
}

Test(arc, threads_waiting_on_a_failed_fill_all_get_eio)
{
	run_threads(-EIO);
}

Test(arc, shrinking_c_evicts_and_image_eviction_forgets)
{
	struct arc *arc = mk(8);
	for (uint64_t i = 0; i < 8; i++)
		touch(arc, i);
	cr_assert_eq(stat_of(arc, "size"), 8 * RS);
	arc_set_size(arc, 2 * RS);
	cr_assert_eq(stat_of(arc, "size"), 2 * RS);
	cr_assert_eq(stat_of(arc, "c"), 2 * RS);
	struct arc_key other = {.image_id = 2, .offset = 0};
	struct arc_buf *b;
	cr_assert_eq(arc_read_sync(arc, &other, RS, &sync_ops, NULL, &b), 0);
	arc_buf_release(arc, b);
	arc_evict_image(arc, 1);
	struct arc_sizes z;
	arc_sizes(arc, &z);
	cr_assert_eq(z.records, 1, "only image 2's record is left");
	cr_assert(arc_cached(arc, &other));
	arc_destroy(arc);
}

/* The stats registry lists counters and sizes once; arc_stats_foreach reads them for any ARC. */
Test(arc, registry_names_counters_and_sizes)
{
	struct arc *arc = mk(8);
	touch(arc, 1);
	touch(arc, 1);
	cr_assert_eq(stat_of(arc, "hits"), 1);
	cr_assert_eq(stat_of(arc, "misses"), 1);
	cr_assert_eq(stat_of(arc, "size"), 4096);
	const struct vms_stat *hits = vms_stat_find("arc_hits", "arc=\"objfs\"");
	const struct vms_stat *p = vms_stat_find("arc_p", "arc=\"objfs\"");
	cr_assert_not_null(hits);
	cr_assert_not_null(p);
	cr_assert_eq(hits->kind, VMS_STAT_COUNTER);
	cr_assert_eq(p->kind, VMS_STAT_GAUGE);
	/* This ARC is not the global one, which nothing created: the registry reads 0. */
	cr_assert_null(arc_global_peek());
	cr_assert_eq(vms_stat_value(hits), 0);
	arc_destroy(arc);
}

Test(arc, one_key_with_two_sizes_is_eio_not_a_crash)
{
	/* Only a hostile image names one record with two sizes; it must not panic. */
	struct arc *arc = mk(8);
	touch(arc, 1);
	struct arc_key k = K(1);
	struct arc_buf *b = NULL;
	cr_assert_eq(arc_read_sync(arc, &k, RS / 2, &sync_ops, NULL, &b), -EIO);
	cr_assert_null(b);
	struct reader r = {0};
	arc_read(arc, &k, RS / 2, &sync_ops, NULL, reader_done, &r);
	cr_assert_eq(r.called, 1);
	cr_assert_eq(r.error, -EIO);
	cr_assert_eq(stat_of(arc, "held_size"), 0);
	/* A different tag is a different record. */
	k.tag = 42;
	cr_assert_eq(arc_read_sync(arc, &k, RS / 2, &sync_ops, NULL, &b), 0);
	arc_buf_release(arc, b);
	cr_assert_eq(stat_of(arc, "records"), 2);
	arc_destroy(arc);
}

/*
 * Record bytes live in the ARC's pre-made region (recmem.h), not in fresh
 * mallocs that fault in on first touch; past the region (c grown at run
 * time) they fall back and are counted, and everything goes back on evict.
 */
Test(arc, records_live_in_the_region_and_overflow_falls_back)
{
	struct arc *arc = mk(8);
	struct arc_sizes z;
	arc_sizes(arc, &z);
	cr_expect_geq(z.mem_region, 8 * RS);
	cr_expect_eq(z.mem_used, 0);
	for (uint64_t i = 0; i < 8; i++)
		touch(arc, i);
	arc_sizes(arc, &z);
	cr_expect_eq(z.mem_used, 8 * RS, "8 records, from the region");
	cr_expect_eq(z.mem_fallback_allocs, 0);

	uint64_t n = z.mem_region / RS + 64; /* more than the region holds */
	arc_set_size(arc, n * RS);
	for (uint64_t i = 8; i < n; i++)
		touch(arc, i);
	arc_sizes(arc, &z);
	cr_expect_eq(z.mem_used, z.mem_region, "the region is full");
	cr_expect_gt(z.mem_fallback_allocs, 0);
	cr_expect_eq(z.mem_fallback_live, z.mem_fallback_allocs);
	for (uint64_t i = 0; i < n; i++) /* the fallback records are cached like any other */
		cr_expect(touch(arc, i), "record %llu", (unsigned long long)i);

	arc_set_size(arc, RS);
	arc_sizes(arc, &z);
	cr_expect_leq(z.mem_used + z.mem_fallback_live * RS, RS);
	arc_destroy(arc);
}

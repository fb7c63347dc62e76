/* vm_page_grab_pages flags, reclaim and object lifetime (src/vm/vm.c, vm_object.c). */
#include "vm/vm.h"
#include "vm/vm_internal.h"
#include "core/log.h"
#include "core/tunable.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "support/mempager.h"

#define NPAGES 32

static char data[64 * 4096];

static void
setup(void)
{
	cr_assert_eq(vm_init(NPAGES * PAGE_SIZE), 0);
}

static void
teardown(void)
{
	cr_assert(vm_quiescent());
	cr_assert_eq(vm_object_count(), 0);
	vm_fini();
}

TestSuite(vm, .init = setup, .fini = teardown);

static void
unbusy_all(struct vm_page **ma, int n)
{
	for (int i = 0; i < n; i++)
		vm_page_unbusy(ma[i]);
}

Test(vm, grab_allocates_consecutive_xbusy_pages)
{
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_page *ma[8];
	cr_assert_eq(vm_page_grab_pages(obj, 5, 0, ma, 8), 8);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(ma[i]->object, obj);
		cr_assert_eq(ma[i]->pindex, 5 + i);
		cr_assert(vm_page_xbusied(ma[i]));
		cr_assert_eq(ma[i]->valid, 0);
		cr_assert_eq(vm_page_wired(ma[i]), 0);
	}
	cr_assert_eq(counter_get(&vm_stats.misses), 8);
	unbusy_all(ma, 8);
	struct vm_page *mb[8];
	cr_assert_eq(vm_page_grab_pages(obj, 5, VM_ALLOC_WIRED | VM_ALLOC_SBUSY, mb, 8), 8);
	cr_assert_eq(memcmp(ma, mb, sizeof(ma)), 0);
	cr_assert_eq(counter_get(&vm_stats.hits), 8);
	for (int i = 0; i < 8; i++) {
		cr_assert(vm_page_sbusied(mb[i]));
		cr_assert_eq(vm_page_wired(mb[i]), 1);
		vm_page_sunbusy(mb[i]);
		vm_page_unwire(mb[i]);
	}
	vm_object_deallocate(obj);
}

Test(vm, grab_nobusy_nocreat_nowait)
{
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_page *ma[8];
	cr_assert_eq(vm_page_grab_pages(obj, 0, VM_ALLOC_NOBUSY, ma, 4), 4);
	for (int i = 0; i < 4; i++)
		cr_assert_not(vm_page_busied(ma[i]));
	/* NOCREAT stops at the first page that is not resident. */
	cr_assert_eq(vm_page_grab_pages(obj, 2, VM_ALLOC_NOCREAT | VM_ALLOC_NOBUSY, ma, 6), 2);
	/* NOWAIT stops at the first busy page. */
	struct vm_page *busy = vm_page_grab(obj, 2, 0);
	cr_assert_eq(vm_page_grab_pages(obj, 0, VM_ALLOC_NOWAIT, ma, 4), 2);
	unbusy_all(ma, 2);
	vm_page_xunbusy(busy);
	vm_object_deallocate(obj);
}

Test(vm, nowait_allocation_fails_when_everything_is_wired)
{
	/* Past the wired bound (vm.h, rule 1): every page wired is what this tests. */
	cr_assert_eq(vms_tunable_set("vm_max_wired_pct", "100"), 0);
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_page *ma[NPAGES];
	cr_assert_eq(vm_page_grab_pages(obj, 0, VM_ALLOC_WIRED | VM_ALLOC_NOBUSY, ma, NPAGES),
		     NPAGES);
	struct vm_page *m;
	cr_assert_eq(vm_page_grab_pages(obj, NPAGES, VM_ALLOC_NOWAIT, &m, 1), 0);
	cr_assert_geq(counter_get(&vm_stats.alloc_fail), 1);
	for (int i = 0; i < NPAGES; i++)
		vm_page_unwire(ma[i]);
	cr_assert_eq(vm_page_grab_pages(obj, NPAGES, VM_ALLOC_NOWAIT, &m, 1), 1);
	vm_page_xunbusy(m);
	vm_object_deallocate(obj);
}

Test(vm, reclaim_never_takes_busy_or_wired_pages)
{
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_page *held[8];
	/* 4 wired, 4 busy; then stream 3x the cache through the rest. */
	cr_assert_eq(vm_page_grab_pages(obj, 0, VM_ALLOC_WIRED | VM_ALLOC_NOBUSY, held, 4), 4);
	cr_assert_eq(vm_page_grab_pages(obj, 4, 0, held + 4, 4), 4);
	for (int i = 0; i < 8; i++)
		held[i]->valid = VM_PAGE_BITS_ALL;
	struct vm_object *big = mempager_create(data, sizeof(data), 0, "big");
	for (int round = 0; round < 3; round++) {
		for (uint64_t p = 0; p < 64; p++) {
			struct vm_page *m = vm_page_grab(big, p, 0);
			cr_assert_not_null(m);
			vm_page_xunbusy(m);
		}
	}
	cr_assert_geq(counter_get(&vm_stats.reclaims), 64);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(held[i]->object, obj, "held page %d was reclaimed", i);
		cr_assert_eq(held[i]->pindex, (uint64_t)i);
		cr_assert_eq(held[i]->valid, VM_PAGE_BITS_ALL);
	}
	for (int i = 0; i < 4; i++)
		vm_page_unwire(held[i]);
	unbusy_all(held + 4, 4);
	vm_object_deallocate(big);
	vm_object_deallocate(obj);
}

Test(vm, reclaim_frees_a_batch_and_skips_a_contended_object)
{
	/* Pages of two objects, interleaved on the new queue. */
	struct vm_object *a = mempager_create(data, sizeof(data), 0, "a");
	struct vm_object *b = mempager_create(data, sizeof(data), 0, "b");
	for (uint64_t p = 0; p < 8; p++) {
		vm_page_xunbusy(vm_page_grab(a, p, 0));
		vm_page_xunbusy(vm_page_grab(b, p, 0));
	}
	vm_object_lock(a); /* reclaim only try-locks: a's pages are passed over */
	cr_assert_eq(vm_reclaim(16), 8);
	vm_object_unlock(a);
	cr_assert_eq(a->resident_count, 8);
	cr_assert_eq(b->resident_count, 0);
	for (uint64_t p = 0; p < 8; p++) {
		vm_object_lock(a);
		struct vm_page *m = vm_page_lookup(a, p);
		vm_object_unlock(a);
		cr_assert_not_null(m);
		cr_assert_not(vm_page_busied(m),
			      "a page reclaim passed over is given back unbusied");
	}
	cr_assert_eq(vm_reclaim(16), 8);
	cr_assert_eq(a->resident_count, 0);
	struct vm_counts c;
	vm_counts(&c);
	cr_assert_eq(c.free, c.total);
	vm_object_deallocate(a);
	vm_object_deallocate(b);
}

Test(vm, dead_object_pages_freed_once_unwired)
{
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_page *ma[4];
	cr_assert_eq(vm_page_grab_pages(obj, 0, VM_ALLOC_WIRED, ma, 4), 4);
	unbusy_all(ma, 2); /* 0,1 wired; 2,3 wired and busy */
	struct vm_page *loose = vm_page_grab(obj, 10, 0);
	vm_page_xunbusy(loose);
	struct vm_counts c;
	vm_counts(&c);
	cr_assert_eq(c.cached, 5);
	vm_object_deallocate(obj); /* dies: only the loose page can go now */
	cr_assert_eq(vm_object_count(), 1);
	vm_counts(&c);
	cr_assert_eq(c.cached, 4);
	vm_page_unwire(ma[0]);
	vm_page_unwire(ma[1]);
	vm_counts(&c);
	cr_assert_eq(c.cached, 2);
	vm_page_xunbusy(ma[2]);
	vm_page_xunbusy(ma[3]);
	vm_page_unwire(ma[2]);
	cr_assert_eq(vm_object_count(), 1);
	vm_page_unwire(ma[3]); /* the last page out frees the struct */
	cr_assert_eq(vm_object_count(), 0);
	vm_counts(&c);
	cr_assert_eq(c.cached, 0);
	cr_assert_eq(c.free, c.total);
}

Test(vm, reclaim_frees_dead_object_leftovers)
{
	/* Busy by its grabber, not by reclaim: the orphan mark goes with the plain unbusy. */
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_page *m = vm_page_grab(obj, 0, 0);
	vm_object_deallocate(obj); /* page busy: stays */
	cr_assert_eq(vm_object_count(), 1);
	vm_page_xunbusy(m);
	cr_assert_eq(vm_reclaim(NPAGES), 1);
	cr_assert_eq(vm_object_count(), 0);
}

Test(vm, a_victim_orphaned_by_its_dying_object_is_not_given_back)
{
	/* The protocol of vm_internal.h, step by step, as reclaim and deallocate meet. */
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_page *m = vm_page_grab(obj, 0, 0);
	vm_page_xunbusy(m);
	cr_assert(vm_page_tryxbusy(m)); /* reclaim takes a victim, its object is contended */
	cr_assert(vm_page_giveback(m), "a live object's page is given back");
	cr_assert_not(vm_page_busied(m));
	cr_assert(vm_page_tryxbusy(m)); /* chosen again, and meanwhile ... */
	vm_object_deallocate(obj);      /* ... the last deallocate meets it busy */
	cr_assert_eq(vm_object_count(), 1);
	cr_assert_not(vm_page_giveback(m), "an orphaned page is its victim holder's to free");
	cr_assert(vm_page_xbusied(m));
	vm_page_free(m, false); /* as reclaim does: the last page out frees the struct */
	cr_assert_eq(vm_object_count(), 0);
}

Test(vm, readahead_finish)
{
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_page *a = vm_page_grab(obj, 0, 0), *b = vm_page_grab(obj, 1, 0);
	vm_page_valid(a);
	vm_page_readahead_finish(a); /* valid: stays cached, unbusied */
	vm_page_readahead_finish(b); /* invalid: freed */
	vm_object_lock(obj);
	cr_assert_eq(vm_page_lookup(obj, 0), a);
	cr_assert_null(vm_page_lookup(obj, 1));
	vm_object_unlock(obj);
	cr_assert_not(vm_page_busied(a));
	vm_object_deallocate(obj);
}

Test(vm, nobusy_valid_busies_only_pages_that_need_io)
{
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_page *v = vm_page_grab(obj, 1, 0);
	vm_page_valid(v);
	vm_page_xunbusy(v);
	struct vm_page *ma[3];
	cr_assert_eq(vm_page_grab_pages(obj, 0, VM_ALLOC_WIRED | VM_ALLOC_NOBUSY_VALID, ma, 3), 3);
	cr_assert(vm_page_xbusied(ma[0]), "invalid page: xbusied for its I/O");
	cr_assert_eq(ma[1], v);
	cr_assert_not(vm_page_busied(ma[1]), "valid page: wired, not busied");
	cr_assert_eq(vm_page_wired(ma[1]), 1);
	cr_assert(vm_page_xbusied(ma[2]));
	/* A valid page someone else holds busy stops a NOWAIT grab, as before. */
	struct vm_page *mb[3];
	cr_assert(vm_page_tryxbusy(v));
	cr_assert_eq(vm_page_grab_pages(obj, 1, VM_ALLOC_NOWAIT | VM_ALLOC_NOBUSY_VALID, mb, 1), 0);
	vm_page_xunbusy(v);
	/* Once it is idle again the same grab takes it without busy. */
	cr_assert_eq(vm_page_grab_pages(obj, 1, VM_ALLOC_NOWAIT | VM_ALLOC_NOBUSY_VALID, mb, 1), 1);
	cr_assert_not(vm_page_busied(mb[0]));
	vm_page_xunbusy(ma[0]);
	vm_page_xunbusy(ma[2]);
	for (int i = 0; i < 3; i++)
		vm_page_unwire(ma[i]);
	vm_object_deallocate(obj);
}

/*
 * A run grabbed at once sits in ascending frames even after the cache has
 * turned over (a stream reading through a full cache): one DMA segment, not
 * one per page.  With a LIFO free list each reclaim batch came back reversed.
 */
Test(vm, reclaimed_pages_come_back_in_frame_order)
{
	struct vm_object *a = mempager_create(data, sizeof(data), 0, "a");
	struct vm_object *b = mempager_create(data, sizeof(data), 0, "b");
	struct vm_page *ma[NPAGES];
	for (int round = 0; round < 4; round++) {
		struct vm_object *obj = round % 2 == 0 ? a : b;
		uint64_t pindex = (uint64_t)(round / 2) * NPAGES; /* not resident: all reclaimed */
		cr_assert_eq(vm_page_grab_pages(obj, pindex, 0, ma, NPAGES), NPAGES);
		int ascending = 0;
		for (int i = 1; i < NPAGES; i++)
			ascending += (char *)vm_page_data(ma[i]) ==
				     (char *)vm_page_data(ma[i - 1]) + PAGE_SIZE;
		unbusy_all(ma, NPAGES);
		cr_assert_eq(ascending, NPAGES - 1, "round %d: %d of %d neighbours in frame order",
			     round, ascending, NPAGES - 1);
	}
	vm_object_deallocate(a);
	vm_object_deallocate(b);
}

/*
 * The page index keeps its chains short whatever the access pattern: a file
 * read at a power-of-two stride (every 8th page, every 4 GiB) must not pile
 * all its resident pages into one bucket, as an index by pindex bits would.
 */
Test(vm, page_index_chains_stay_short_at_any_stride)
{
	const uint64_t strides[] = {1, 8, 64, 1u << 10, 1u << 20, 1ull << 30};
	for (size_t s = 0; s < sizeof(strides) / sizeof(strides[0]); s++) {
		struct vm_object *obj = vm_object_allocate(NULL, NULL, UINT64_MAX / 2, "strided");
		cr_assert_not_null(obj);
		for (uint64_t i = 0; i < NPAGES; i++) {
			struct vm_page *m = vm_page_grab(obj, i * strides[s], VM_ALLOC_NOBUSY);
			cr_assert_not_null(m);
		}
		vm_object_lock(obj);
		cr_assert_eq(obj->resident_count, NPAGES);
		uint32_t chain = vm_object_chain_max(obj);
		vm_object_unlock(obj);
		cr_assert_leq(chain, 4, "stride %llu: %u pages in one chain",
			      (unsigned long long)strides[s], chain);
		vm_object_deallocate(obj);
	}
}

static void
finish_all(struct vm_page **ma, int n)
{
	for (int i = 0; i < n; i++)
		vm_page_readahead_finish(ma[i]); /* invalid: freed */
}

Test(vm, optional_run_stops_at_a_resident_page_either_way)
{
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_page *r = vm_page_grab(obj, 10, 0);
	vm_page_xunbusy(r);
	struct vm_page *up[16], *down[16];
	cr_assert_eq(vm_page_grab_optional_run(obj, 4, 1, up, 16), 6);
	cr_assert_eq(vm_page_grab_optional_run(obj, 15, -1, down, 16), 5);
	cr_assert_eq(vm_page_grab_optional_run(obj, 10, 1, up + 6, 4), 0, "resident: nothing");
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(up[i]->object, obj);
		cr_assert_eq(up[i]->pindex, 4 + i);
		cr_assert(vm_page_xbusied(up[i]) && vm_page_none_valid(up[i]));
		cr_assert_eq(vm_page_wired(up[i]), 0);
	}
	for (int i = 0; i < 5; i++)
		cr_assert_eq(down[i]->pindex, 15 - i);
	cr_assert_eq(counter_get(&vm_stats.misses), 1 + 6 + 5);
	finish_all(up, 6);
	finish_all(down, 5);
	vm_object_lock(obj);
	cr_assert_null(vm_page_lookup(obj, 4));
	cr_assert_eq(obj->resident_count, 1);
	vm_object_unlock(obj);
	vm_object_deallocate(obj);
}

Test(vm, optional_run_takes_only_what_reclaim_can_free)
{
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "o");
	struct vm_object *other = mempager_create(data, sizeof(data), 0, "other");
	struct vm_page *held[20], *ra[20];
	cr_assert_eq(vm_page_grab_pages(other, 0, 0, held, 20), 20); /* busy: not reclaimable */
	struct vm_counts c;
	vm_counts(&c);
	int left = (int)c.total - 20;
	cr_assert_eq(vm_page_grab_optional_run(obj, 0, 1, ra, 20), left);
	vm_counts(&c);
	cr_assert_eq(c.free, 0);
	finish_all(ra, left);
	unbusy_all(held, 20);
	/* Now reclaim can take the other object's pages, and the run is whole. */
	cr_assert_eq(vm_page_grab_optional_run(obj, 0, 1, ra, 20), 20);
	finish_all(ra, 20);
	vm_object_deallocate(other);
	vm_object_deallocate(obj);
}

/* A cache big enough for runs of several VM_OPTIONAL_BATCH pages. */
#define BIG_PAGES 512
static char big[BIG_PAGES * 4096];

static void
setup_big(void)
{
	cr_assert_eq(vm_init(BIG_PAGES * PAGE_SIZE), 0);
}

TestSuite(vm_run, .init = setup_big, .fini = teardown);

Test(vm_run, optional_runs_span_batches)
{
	struct vm_object *obj = mempager_create(big, sizeof(big), 0, "o");
	struct vm_page *r = vm_page_grab(obj, 3 * VM_OPTIONAL_BATCH - 7, 0);
	vm_page_xunbusy(r);
	struct vm_page *ma[4 * VM_OPTIONAL_BATCH];
	int n = vm_page_grab_optional_run(obj, 0, 1, ma, 4 * VM_OPTIONAL_BATCH);
	cr_assert_eq(n, 3 * VM_OPTIONAL_BATCH - 7);
	for (int i = 0; i < n; i++)
		cr_assert_eq(ma[i]->pindex, (uint64_t)i);
	finish_all(ma, n);
	n = vm_page_grab_optional_run(obj, 4 * VM_OPTIONAL_BATCH, -1, ma, 4 * VM_OPTIONAL_BATCH);
	cr_assert_eq(n, VM_OPTIONAL_BATCH + 7, "down to the resident page");
	for (int i = 0; i < n; i++)
		cr_assert_eq(ma[i]->pindex, (uint64_t)(4 * VM_OPTIONAL_BATCH - i));
	finish_all(ma, n);
	vm_object_deallocate(obj);
}

/*
 * The arena is whole huge pages: aligned, and mapped to the end of its last
 * one.  A mix of huge and small pages cannot be merged when io_uring pins
 * it, and registering it then cost the kernel over a second per GiB.
 */
Test(vm, the_arena_is_whole_huge_pages)
{
	const size_t huge = 2u << 20;
	char *base = vm_arena_base();
	cr_assert_eq((uintptr_t)base % huge, 0, "arena at %p", (void *)base);
	cr_assert_lt(vm_arena_size(), huge);
	base[huge - 1] = 1; /* faults if the mapping stopped at the frames */
	cr_assert_eq(base[huge - 1], 1);
}

/* ---- a cache the process cannot hold ---- */

static char vm_logged[2048];

static void
vm_log_capture(void *arg, int level, const char *subsys, const char *msg)
{
	(void)arg;
	(void)level;
	snprintf(vm_logged, sizeof(vm_logged), "%s: %s", subsys, msg);
}

Test(vm_memory, a_cache_beyond_the_available_memory_is_refused_with_the_reason)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long kb = 0;
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		(void)sscanf(line, "MemAvailable: %llu kB", &kb);
	fclose(f);
	cr_assert_gt(kb, 0);

	vms_log_set_sink(vm_log_capture, NULL);
	cr_assert_eq(vm_init((kb << 10) + (1ull << 30)), -ENOMEM);
	vms_log_set_sink(NULL, NULL);
	cr_assert_not(vm_initialized());
	/* MemAvailable, or a container's smaller limit. */
	cr_assert(strstr(vm_logged, "(MemAvailable)") != NULL ||
		      strstr(vm_logged, "the memory cgroup") != NULL,
		  "no reason logged: '%s'", vm_logged);
	cr_assert(strstr(vm_logged, "page cache needs about") != NULL, "%s", vm_logged);

	cr_assert_eq(vm_init(1 << 20), 0, "a cache that fits is still made");
	vm_fini();
}

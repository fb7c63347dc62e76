/*
 * The process-wide ARC that objfs mounts share, its tunables, and its stats
 * in the registry (core/stats.h).  The registrations live here, beside
 * arc_global(), because every objfs mount calls it: a binary that can move
 * these counters links this file and so lists them.
 */
#include "fs/objfs/arc_impl.h"

#include "core/assert.h"
#include "core/tunable.h"
#include "vm/vm.h"

#include <string.h>

VMS_TUNABLE(arc_size_tunable, "arc_size", 0,
	    "ARC (objfs record cache) size in bytes; 0: a quarter of the page cache");
VMS_TUNABLE(arc_prefault, "arc_prefault", 1,
	    "1: fault the ARC's record memory in when it is created (first fills run at memory "
	    "speed); 0: on first use");
VMS_TUNABLE(arc_min_promote_ms, "arc_min_promote_ms", 62,
	    "a record read again sooner than this after it came in stays in MRU");

static pthread_mutex_t arc_global_lock = PTHREAD_MUTEX_INITIALIZER;
static struct arc *arc_global_arc;

struct arc *
arc_global(void)
{
	pthread_mutex_lock(&arc_global_lock);
	if (arc_global_arc == NULL) {
		int64_t size = __atomic_load_n(&arc_size_tunable, __ATOMIC_RELAXED);
		if (size <= 0) {
			/*
			 * The page cache already holds decompressed pages of
			 * hot files; the ARC adds compressed-image records
			 * behind it, so a quarter of the page cache keeps
			 * both useful without doubling the memory bill.
			 */
			int64_t cache = 0;
			if (vm_initialized()) {
				cache =
				    (int64_t)vm_arena_size(); /* what --cache-size really made */
			} else {
				const struct vms_tunable *t = vms_tunable_find("cache_size");
				cache = t != NULL ? __atomic_load_n(t->valp, __ATOMIC_RELAXED) : 0;
			}
			size = cache > 0 ? cache / 4 : 64 << 20;
		}
		struct arc_config cfg = {
		    .size = (uint64_t)size,
		    .min_promote_ns =
			(uint64_t)__atomic_load_n(&arc_min_promote_ms, __ATOMIC_RELAXED) *
			1000000ull,
		    .prefault = __atomic_load_n(&arc_prefault, __ATOMIC_RELAXED) != 0,
		    .name = "objfs",
		};
		arc_global_arc = arc_create(&cfg); /* NULL: no memory; the next call tries again */
	}
	struct arc *arc = arc_global_arc;
	pthread_mutex_unlock(&arc_global_lock);
	return arc;
}

struct arc *
arc_global_peek(void)
{
	pthread_mutex_lock(&arc_global_lock);
	struct arc *arc = arc_global_arc;
	pthread_mutex_unlock(&arc_global_lock);
	return arc;
}

void
arc_global_fini(void)
{
	pthread_mutex_lock(&arc_global_lock);
	arc_destroy(arc_global_arc);
	arc_global_arc = NULL;
	pthread_mutex_unlock(&arc_global_lock);
}

/*
 * The registry (core/stats.h) lists the global ARC's stats as "arc_<name>"
 * with the label arc="objfs"; arc_stats_foreach() walks the same entries
 * for any ARC, so the two lists cannot drift apart.
 */
#define ARC_STAT_LABEL "arc=\"objfs\""

uint64_t
arc_stat_counter(struct arc *arc, uintptr_t off)
{
	return counter_get((const struct vms_counter *)((const char *)&arc->stats + off));
}

uint64_t
arc_stat_size(struct arc *arc, uintptr_t off)
{
	struct arc_sizes z;
	arc_sizes(arc, &z);
	return *(const uint64_t *)((const char *)&z + off);
}

uint64_t
arc_stat_read_counter(const struct vms_stat *st)
{
	struct arc *arc = arc_global_peek();
	return arc != NULL ? arc_stat_counter(arc, st->arg) : 0;
}

uint64_t
arc_stat_read_size(const struct vms_stat *st)
{
	struct arc *arc = arc_global_peek();
	return arc != NULL ? arc_stat_size(arc, st->arg) : 0;
}

#define ARC_COUNTER(f, d)                                                                          \
	VMS_STAT_READ(VMS_STAT_COUNTER, arc_stat_read_counter, offsetof(struct arc_stats, f),      \
		      "arc_" #f, ARC_STAT_LABEL, d)
#define ARC_SIZE(f, sname, d)                                                                      \
	VMS_STAT_READ(VMS_STAT_GAUGE, arc_stat_read_size, offsetof(struct arc_sizes, f),           \
		      "arc_" sname, ARC_STAT_LABEL, d)

ARC_COUNTER(hits, "reads that found the record cached");
ARC_COUNTER(misses, "reads that started a fill (ghost hits included)");
ARC_COUNTER(mru_hits, "hits in the MRU list");
ARC_COUNTER(mfu_hits, "hits in the MFU list");
ARC_COUNTER(mru_ghost_hits, "misses found in the MRU ghost list");
ARC_COUNTER(mfu_ghost_hits, "misses found in the MFU ghost list");
ARC_COUNTER(io_hits, "reads that joined a fill already under way");
ARC_COUNTER(evict_mru, "records evicted from MRU");
ARC_COUNTER(evict_mfu, "records evicted from MFU");
ARC_COUNTER(evict_bytes, "bytes of data freed by eviction");
ARC_COUNTER(evict_skip, "held records passed over by eviction");
ARC_COUNTER(ghost_drops, "ghost entries forgotten");
ARC_COUNTER(fill_errors, "fills that failed (never cached)");
ARC_COUNTER(promotions, "MRU -> MFU moves on a second access");
ARC_COUNTER(overflows, "reads that had to exceed c: everything held");
ARC_SIZE(c, "c", "target size (the budget), bytes");
ARC_SIZE(p, "p", "target size of MRU, bytes");
ARC_SIZE(size, "size", "bytes in MRU + MFU");
ARC_SIZE(mru, "mru_size", "bytes in MRU");
ARC_SIZE(mfu, "mfu_size", "bytes in MFU");
ARC_SIZE(mru_ghost, "mru_ghost_size", "bytes the MRU ghost list remembers");
ARC_SIZE(mfu_ghost, "mfu_ghost_size", "bytes the MFU ghost list remembers");
ARC_SIZE(held, "held_size", "bytes of held records");
ARC_SIZE(records, "records", "records in MRU + MFU");
ARC_SIZE(ghost_records, "ghost_records", "entries in the ghost lists");
ARC_SIZE(mem_region, "mem_region", "bytes of the pre-faulted record memory region");
ARC_SIZE(mem_used, "mem_used", "region bytes allocated to records and staging buffers");
ARC_SIZE(mem_fallback_live, "mem_fallback_live", "allocations outside the region, live");
ARC_SIZE(mem_fallback_allocs, "mem_fallback_allocs", "allocations outside the region, ever");

/*
 * The page cache: one page arena, its free list, the cache queue that
 * reclaim walks, and vm_page_grab_pages().
 *
 * The arena is one anonymous mapping made by vm_init() (size from the
 * "cache_size" tunable or the argument), advised for huge pages, page-aligned
 * so the io layer can register it as io_uring fixed buffers and read into it
 * with O_DIRECT.  Frame 0 is reserved as bogus_page's scratch sink; the page
 * structs live in a separate array indexed by frame number.
 *
 * Reclaim is scan-resistant: pages come in on a small FIFO new queue and
 * reach the main CLOCK queue only if used again (vm.c explains); a busy or
 * wired page is never taken.  When no page can be had, a
 * VM_ALLOC_NOWAIT caller gets NULL (or a short count) and any other caller
 * sleeps until a page is freed, unwired or unbusied.
 *
 * The progress guarantee (issue #12).  A waiting grab always finishes, or
 * fails at once with a clear error; it never sleeps forever.  Three rules
 * make it so:
 *
 *  1. Wired pages are bounded.  A grab with VM_ALLOC_WIRED never takes the
 *     number of wired pages past vm_wired_max() (the "vm_max_wired_pct"
 *     tunable, like FreeBSD's vm.max_user_wired): the page that would pass
 *     it is not taken and the grab returns a short count, waiting or not
 *     (vm_stats.wire_limit counts these).  So at least total -
 *     vm_wired_max() pages are never wired by grabs, and reclaim always has
 *     something to take once their busy holders are done.
 *  2. A grab never sleeps holding pages (the VM_ALLOC_WAITFAIL pattern).
 *     Before it sleeps, on a busy page or for a free page, it gives back
 *     every page it got in this call (drops the busy, undoes the wiring),
 *     sleeps, and starts over.  A thread sleeping in the allocator is then
 *     never what another thread's busy sleep waits for, which is how the
 *     old allocator deadlocked (every unwired page xbusied by a thread that
 *     was itself waiting for a free page).
 *  3. A waiting grab whose `count` pages could not fit in the unwired part
 *     of the cache (wired + count > total) does not sleep: only someone
 *     else's unwiring could let it finish, and that someone may be waiting
 *     on it.  It returns a short count (0 after rule 2) with a log line
 *     naming the object and the wired numbers (vm_stats.alloc_toosmall).
 *
 * What stays the caller's job: not holding busy pages from an earlier call
 * while it waits in a new one (rule 2 covers this call's pages only), as
 * with FreeBSD's WAITFAIL.  Under VMSEND_INVARIANTS the grab asserts that it
 * sleeps holding nothing; tests/stress/vm checks the bound and shows the old
 * deadlock (vm_alloc_waitfail = 0) next to the new behaviour.
 */
#ifndef VMSEND_VM_H
#define VMSEND_VM_H

#include "core/stats.h"
#include "vm/vm_object.h"
#include "vm/vm_page.h"

#include <stddef.h>
#include <stdint.h>

/* vm_page_grab_pages() flags */
#define VM_ALLOC_XBUSY   0x00 /* default: return pages exclusively busied */
#define VM_ALLOC_SBUSY   0x01 /* return pages shared-busied */
#define VM_ALLOC_NOBUSY  0x02 /* return pages unbusied */
#define VM_ALLOC_WIRED   0x04 /* wire each returned page */
#define VM_ALLOC_NOWAIT  0x08 /* stop at the first busy page or failed allocation */
#define VM_ALLOC_NOCREAT 0x10 /* stop at the first non-resident page */
/*
 * With XBUSY: every fully valid page comes back unbusied (wired with WIRED),
 * and only pages that are not fully valid come back xbusied.  For readers
 * such as sendfile, which would unbusy valid pages at once: two threads
 * sending the same hot file then never stall on each other's busy.
 */
#define VM_ALLOC_NOBUSY_VALID 0x20

struct vm_stats {
	struct vms_counter hits;              /* grab found the page resident */
	struct vms_counter misses;            /* grab allocated a page */
	struct vms_counter reclaims;          /* pages taken back from objects */
	struct vms_counter orphans;           /* of them, orphans (vm_internal.h) */
	struct vms_counter frees;             /* pages returned to the free list */
	struct vms_counter alloc_fail;        /* NOWAIT allocations that failed */
	struct vms_counter alloc_waits;       /* sleeps for a free page */
	struct vms_counter busy_sleeps;       /* sleeps on a busy page */
	struct vms_counter wire_limit;        /* grabs stopped at the wired bound (rule 1) */
	struct vms_counter waitfail_releases; /* waiting grabs that gave back pages (rule 2) */
	struct vms_counter alloc_toosmall;    /* waiting grabs failed: cache too small (rule 3) */
	struct vms_counter promotions;        /* pages moved from the new to the main queue */
};
extern struct vm_stats vm_stats;

/*
 * Create the arena with `bytes` of cache (0: the "cache_size" tunable),
 * rounded down to pages, at least 16 pages.  Returns 0 or -errno: -ENOMEM,
 * with a log line naming the limit, for a cache the process cannot hold
 * (vm_memory_need() over MemAvailable or its cgroup's limit), since the
 * arena is held for good (io_uring pins it whole) and the kernel would kill
 * the process instead.  Not thread-safe; call once before anything else
 * touches the VM.
 */
int vm_init(uint64_t bytes);
/* The memory a cache of `bytes` holds: its arena and page structures (at most 1/64 more). */
uint64_t vm_memory_need(uint64_t bytes);
/* Tear down; every object must be gone and no page wired or busy. */
void vm_fini(void);
bool vm_initialized(void);

/* The arena, for io_uring buffer registration. */
void *vm_arena_base(void);
size_t vm_arena_size(void);

struct vm_counts {
	uint64_t total;     /* usable pages (frame 0 excluded) */
	uint64_t free;      /* on the free list */
	uint64_t cached;    /* in an object (on the new or the main queue) */
	uint64_t main;      /* of which on the main queue (used again since they came in) */
	uint64_t wired;     /* cached pages with wire_count > 0 */
	uint64_t busy;      /* cached pages busied */
	uint64_t nwired;    /* the wired bound's own count (exact at any instant) */
	uint64_t wired_max; /* vm_wired_max() */
};
/* A walk of every page: for tests and metrics, not a hot path. */
void vm_counts(struct vm_counts *c);

/*
 * Get `count` consecutive pages of `obj` from `pindex`, each looked up or
 * allocated (fresh pages have valid == 0), busied and wired as the flags
 * say.  The object must not be locked by the caller.  Returns how many
 * consecutive pages were got; fewer than count only with NOWAIT (a busy page
 * or no free page), NOCREAT (a non-resident page), WIRED at the wired bound,
 * or a waiting grab too big for the unwired cache (see the progress
 * guarantee above; it then returns 0).  A waiting grab sleeps holding none
 * of the pages of this call.
 */
int vm_page_grab_pages(struct vm_object *obj, uint64_t pindex, int flags, struct vm_page **ma,
		       int count);
/* One page; NULL where grab_pages would return 0. */
struct vm_page *vm_page_grab(struct vm_object *obj, uint64_t pindex, int flags);

/*
 * Grab an optional (read-behind/ahead) page for a pager, pager.h rule 9:
 * never sleeps, never returns a page that was resident (a pager stops at the
 * first cached page), and hands the busy to the pager's I/O rather than the
 * calling thread (busy_owner 0), since the I/O may complete elsewhere.
 * Returns an xbusied, invalid, unwired page, or NULL.  The pager finishes
 * it with vm_page_readahead_finish().
 */
struct vm_page *vm_page_grab_optional(struct vm_object *obj, uint64_t pindex);

/*
 * The same for a run: optional pages at pindex, pindex + step, ... (step 1
 * or -1; a run down must not pass page 0), into ma[0..n), stopping at the
 * first resident page or when no page is free even after reclaim.  Returns
 * how many it grabbed, each as vm_page_grab_optional() returns it.  It takes
 * the object and free-list locks twice per VM_OPTIONAL_BATCH pages rather
 * than five times per page: read-ahead grabs most of a cold stream's pages.
 */
#define VM_OPTIONAL_BATCH 64
int vm_page_grab_optional_run(struct vm_object *obj, uint64_t pindex, int step, struct vm_page **ma,
			      int n);

/*
 * Free a page: it must be exclusively busied by the caller and unwired.  It
 * leaves its object (locked or not by the caller: pass `locked`) and goes to
 * the free list.
 */
void vm_page_free(struct vm_page *m, bool locked);

/*
 * Finish an optional (read-behind/ahead) page that a pager filled: a valid
 * page goes to the cache queue and is unbusied; an invalid one is freed.
 * The page must be xbusied and unwired.
 */
void vm_page_readahead_finish(struct vm_page *m);

/*
 * Unwire `n` pages of one object at once: like vm_page_unwire() on each,
 * but the object lock is taken once for all the pages whose last wiring
 * goes, not once per page.  With `nocache`, the pages are marked
 * PGA_NOCACHE first (freed as their last wiring goes).  Returns how many
 * pages were freed.  ma[] is scratch afterwards (entries are cleared).
 */
int vm_page_unwire_many(struct vm_page **ma, int n, bool nocache);

/*
 * Run the reclaim hand until `target` pages were freed or one full lap found
 * nothing more.  Returns the number freed.
 */
int vm_reclaim(int target);

/* The wired bound in pages: vm_max_wired_pct percent of the usable pages. */
uint64_t vm_wired_max(void);

/*
 * 1 (always, outside tests): rule 2 of the progress guarantee.  0 brings
 * back the old allocator, which slept holding the pages it had grabbed and
 * checked no cache size: tests/stress/vm sets it to show the old deadlock.
 */
extern int vm_alloc_waitfail;

/* For tests: true if no page in the arena is busy or wired. */
bool vm_quiescent(void);

#endif

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
	struct vms_counter hits;        /* grab found the page resident */
	struct vms_counter misses;      /* grab allocated a page */
	struct vms_counter reclaims;    /* pages taken back from objects */
	struct vms_counter frees;       /* pages returned to the free list */
	struct vms_counter alloc_fail;  /* NOWAIT allocations that failed */
	struct vms_counter alloc_waits; /* sleeps for a free page */
	struct vms_counter busy_sleeps; /* sleeps on a busy page */
	struct vms_counter promotions;  /* pages moved from the new to the main queue */
};
extern struct vm_stats vm_stats;

/*
 * Create the arena with `bytes` of cache (0: the "cache_size" tunable),
 * rounded down to pages, at least 16 pages.  Returns 0 or -errno.  Not
 * thread-safe; call once before anything else touches the VM.
 */
int vm_init(uint64_t bytes);
/* Tear down; every object must be gone and no page wired or busy. */
void vm_fini(void);
bool vm_initialized(void);

/* The arena, for io_uring buffer registration. */
void *vm_arena_base(void);
size_t vm_arena_size(void);

struct vm_counts {
	uint64_t total;  /* usable pages (frame 0 excluded) */
	uint64_t free;   /* on the free list */
	uint64_t cached; /* in an object (on the new or the main queue) */
	uint64_t main;   /* of which on the main queue (used again since they came in) */
	uint64_t wired;  /* cached pages with wire_count > 0 */
	uint64_t busy;   /* cached pages busied */
};
/* A walk of every page: for tests and metrics, not a hot path. */
void vm_counts(struct vm_counts *c);

/*
 * Get `count` consecutive pages of `obj` from `pindex`, each looked up or
 * allocated (fresh pages have valid == 0), busied and wired as the flags
 * say.  The object must not be locked by the caller.  Returns how many
 * consecutive pages were got; fewer than count only with NOWAIT (a busy page
 * or no free page) or NOCREAT (a non-resident page).
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

/* For tests: true if no page in the arena is busy or wired. */
bool vm_quiescent(void);

#endif

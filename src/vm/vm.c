/*
 * The page arena, the free list, the cache queue and reclaim, and
 * vm_page_grab_pages().
 *
 *   arena (one mmap, MADV_HUGEPAGE)      page structs (calloc'd array)
 *   +--------+--------+--------+---      +-------+-------+-------+---
 *   | frame0 | frame1 | frame2 | ...     | bogus | pg 1  | pg 2  | ...
 *   +--------+--------+--------+---      +-------+-------+-------+---
 *     sink for bogus_page slots            free list <-> cache queue
 *
 * A page is on exactly one queue: PQ_FREE (no object), or, in an object
 * (maybe busy or wired), the new queue (PQ_CACHE) or the main queue
 * (PQ_MAIN).  Reclaim only ever try-locks objects, so it may run while its
 * caller holds one, and never takes a busy or wired page.  It frees its
 * victims in batches, as read-ahead grabs its pages in runs: a cold stream
 * moves every page through both, and their lock rounds, taken per page,
 * were 8% of the server's CPU at 16 cold streams.
 *
 * Scan resistance (2Q / S3-FIFO style).  A media server streams files far
 * bigger than the cache once, while a small hot set is read again and
 * again; one CLOCK over all pages lets every streamed page push a hot one
 * out, since both look "referenced" once.  So pages come in on a small FIFO
 * new queue and earn the main queue only by being used again there:
 *
 *   grab miss / read-ahead             used again while on new
 *        |                            +------------------------+
 *        v                            |                        v
 *   [ new queue: FIFO, ~vm_new_pct ]--+      [ main queue: CLOCK, the rest ]
 *        | not used again                       | not referenced since the
 *        v                                      v hand last passed
 *      freed                                  freed
 *
 * "Used" is a grab that finds the page resident (vm_page_reference).  The
 * grab that allocates a page is its first use, and a page a pager read
 * ahead (PGA_READAHEAD) spends its first use clearing that mark, so a page
 * read once and sent once leaves from the new queue without touching the
 * main queue; a scan of any length only churns the new queue.  Reclaim
 * takes from the new queue while it holds more than vm_new_pct of the
 * cached pages (or the main queue is empty), else from the main queue,
 * whose hand gives referenced pages a second chance.  Busy and wired pages
 * (a stream's send buffer) are passed over and stay in their queue.
 *
 * The free list is FIFO, so frames leave it in the order they came: the
 * arena starts in frame order, a run grabbed at once gets ascending frames,
 * reclaim frees a stream's pages in the order they were grabbed, and the
 * next run gets ascending frames again.  A run in ascending frames of the
 * (huge-page) arena is one DMA segment per 2 MiB, not one per page: with a
 * LIFO list every reclaim batch came back reversed, and cold streams read
 * 44% slower through a full cache on the virtio disk of our bench machine.
 */
#include "vm/vm_internal.h"
#include "core/util.h"
#include "core/log.h"
#include "core/sysmem.h"
#include "core/tunable.h"
#include "io/io.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

VMS_TUNABLE(vm_cache_size, "cache_size", 256ll << 20, "page cache (arena) size in bytes");
VMS_TUNABLE(vm_reclaim_batch, "vm_reclaim_batch", 32, "pages reclaim frees per allocator call");
VMS_TUNABLE(
    vm_max_wired_pct, "vm_max_wired_pct", 80,
    "most of the page cache grabs may keep wired at once, in percent (like vm.max_user_wired)");

int vm_alloc_waitfail = 1;
VMS_TUNABLE(vm_new_pct, "vm_new_pct", 10,
	    "share of the cached pages the new (probation) queue keeps before reclaim takes "
	    "from the main queue, percent");

struct vm_page *bogus_page;

static struct {
	pthread_mutex_t lock; /* the page queues below */
	pthread_cond_t free_cv;
	TAILQ_HEAD(, vm_page) freeq;
	TAILQ_HEAD(vm_pglist, vm_page) newq; /* PQ_CACHE: in an object, not used again yet */
	struct vm_pglist mainq;              /* PQ_MAIN: used again since it came in */
	uint64_t nfree, nnew, nmain;
	_Atomic uint64_t nwired; /* pages with wire_count > 0 */
	int free_waiters;
	struct vm_page *pages;
	uint32_t npages; /* including frame 0 */
	char *arena;
	size_t arena_size;   /* npages frames */
	size_t arena_maplen; /* mapped: whole huge pages (vm_arena_map) */
	bool initialized;
} vm = {.lock = PTHREAD_MUTEX_INITIALIZER, .free_cv = PTHREAD_COND_INITIALIZER};

#define VM_ARENA_ALIGN (2u << 20) /* a huge page on x86-64 and arm64 (4 KiB granule) */

/*
 * `size` bytes (a multiple of VM_ARENA_ALIGN) at an address aligned to it, so
 * that the arena is made of whole huge pages only.  An arena with 4 KiB pages
 * at its ends is a mix the kernel cannot merge when io_uring registers it as
 * fixed buffers; then its accounting compares every huge page with every
 * page before it, and registering 1 GiB took over a second of CPU per loop.
 * NULL with errno set.
 */
static void *
vm_arena_map(size_t size)
{
	size_t len = size + VM_ARENA_ALIGN;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *a = (char *)roundup2((uintptr_t)p, VM_ARENA_ALIGN);
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + size < p + len)
		munmap(a + size, (size_t)(p + len - (a + size)));
	(void)madvise(a, size, MADV_HUGEPAGE); /* best effort */
	return a;
}

uint64_t
vm_memory_need(uint64_t bytes)
{
	return bytes + bytes / 64; /* the arena, and its page structures (56 bytes a page) */
}

int
vm_init(uint64_t bytes)
{
	VERIFY(!vm.initialized);
	if (bytes == 0)
		bytes = (uint64_t)vm_cache_size;
	uint64_t npages = bytes / PAGE_SIZE;
	if (npages < 16)
		npages = 16;
	npages += 1; /* frame 0: bogus_page's sink */
	if (npages > UINT32_MAX)
		return -EINVAL;
	char why[1200];
	uint64_t need = vm_memory_need(npages * PAGE_SIZE);
	if (vms_memory_fits(need, true, why, sizeof(why)) != 0) {
		LOG_ERR("vm",
			"a %llu MiB page cache needs about %llu MiB, but %s: refused, since its "
			"memory is held for good and the kernel would kill the process",
			(unsigned long long)(bytes >> 20), (unsigned long long)(need >> 20), why);
		return -ENOMEM;
	}
	size_t maplen = roundup2(npages * PAGE_SIZE, VM_ARENA_ALIGN);
	void *arena = vm_arena_map(maplen);
	if (arena == NULL)
		return -errno;
	vm.pages = calloc(npages, sizeof(struct vm_page));
	if (vm.pages == NULL) {
		munmap(arena, maplen);
		return -ENOMEM;
	}
	vm.arena = arena;
	vm.arena_size = npages * PAGE_SIZE;
	vm.arena_maplen = maplen;
	vm.npages = (uint32_t)npages;
	TAILQ_INIT(&vm.freeq);
	TAILQ_INIT(&vm.newq);
	TAILQ_INIT(&vm.mainq);
	vm.nfree = vm.nnew = vm.nmain = 0;
	bogus_page = &vm.pages[0];
	atomic_store(&bogus_page->aflags, PGA_BOGUS);
	for (uint32_t i = 1; i < npages; i++) {
		vm.pages[i].queue = PQ_FREE;
		TAILQ_INSERT_TAIL(&vm.freeq, &vm.pages[i], plinks);
	}
	vm.nfree = npages - 1;
	atomic_store(&vm.nwired, 0);
	memset(&vm_stats, 0, sizeof(vm_stats));
	vm.initialized = true;
	io_region_set(arena, vm.arena_size); /* event loops read into the frames as fixed buffers */
	return 0;
}

void
vm_fini(void)
{
	VERIFY(vm.initialized);
	VERIFY(vm_quiescent());
	io_region_set(NULL, 0);
	munmap(vm.arena, vm.arena_maplen);
	free(vm.pages);
	vm.pages = NULL;
	vm.arena = NULL;
	bogus_page = NULL;
	vm.initialized = false;
}

bool
vm_initialized(void)
{
	return vm.initialized;
}

void *
vm_arena_base(void)
{
	return vm.arena;
}

size_t
vm_arena_size(void)
{
	return vm.arena_size;
}

uint32_t
vm_page_frame(const struct vm_page *m)
{
	ASSERT(m >= vm.pages && m < vm.pages + vm.npages);
	return (uint32_t)(m - vm.pages);
}

void *
vm_page_data(const struct vm_page *m)
{
	return vm.arena + (size_t)vm_page_frame(m) * PAGE_SIZE;
}

void
vm_page_free_wakeup(void)
{
	/* Unlocked peek: a missed wake-up costs one timed-wait period, no more. */
	if (__atomic_load_n(&vm.free_waiters, __ATOMIC_RELAXED) > 0) {
		pthread_mutex_lock(&vm.lock);
		pthread_cond_broadcast(&vm.free_cv);
		pthread_mutex_unlock(&vm.lock);
	}
}

/* Free up to VM_FREE_BATCH pages (as vm_page_free_toq) with one round of the queue lock. */
#define VM_FREE_BATCH 64
static void
free_toq_run(struct vm_page **ma, int n)
{
	uint64_t waiters = 0; /* bit i: ma[i] had busy sleepers */

	KASSERT(n <= VM_FREE_BATCH, ("free_toq_run: %d pages", n));
	if (n == 0)
		return;
	for (int i = 0; i < n; i++) {
		struct vm_page *m = ma[i];
		KASSERT(m->object == NULL,
			("vm_page_free_toq: page %p still in an object", (void *)m));
		KASSERT(vm_page_wired(m) == 0, ("vm_page_free_toq: page %p wired", (void *)m));
		vm_page_assert_xbusied(m);
		__atomic_store_n(&m->valid, 0, __ATOMIC_RELAXED);
		m->dirty = 0;
		atomic_store_explicit(&m->aflags, 0, memory_order_relaxed);
		atomic_store_explicit(&m->busy_owner, 0, memory_order_relaxed);
	}
	pthread_mutex_lock(&vm.lock);
	for (int i = 0; i < n; i++) {
		struct vm_page *m = ma[i];
		if (m->queue == PQ_CACHE) {
			TAILQ_REMOVE(&vm.newq, m, plinks);
			vm.nnew--;
		} else if (m->queue == PQ_MAIN) {
			TAILQ_REMOVE(&vm.mainq, m, plinks);
			vm.nmain--;
		}
		/*
		 * Unbusy under the queue lock, once the page is off the cache
		 * queue (where reclaim try-busies pages) and before it is on the
		 * free list (where page_alloc_run() takes its busy outright).
		 * Sleepers on its old identity are woken below and look their
		 * page up again.
		 */
		uint32_t x =
		    atomic_exchange_explicit(&m->busy_lock, VPB_UNBUSIED, memory_order_release);
		if (x & VPB_WAITERS)
			waiters |= 1ull << i;
		m->queue = PQ_FREE;
		TAILQ_INSERT_TAIL(&vm.freeq, m, plinks); /* FIFO: see the top */
	}
	vm.nfree += (uint64_t)n;
	if (vm.free_waiters > 0)
		pthread_cond_broadcast(&vm.free_cv);
	pthread_mutex_unlock(&vm.lock);
	counter_add(&vm_stats.frees, (uint64_t)n);
	for (int i = 0; waiters != 0; i++, waiters >>= 1)
		if (waiters & 1)
			vm_page_busy_wake(ma[i]);
}

void
vm_page_free_toq(struct vm_page *m)
{
	free_toq_run(&m, 1);
}

bool
vm_page_free_locked(struct vm_page *m)
{
	struct vm_object *obj = m->object;
	VERIFY(obj != NULL);
	VM_OBJECT_ASSERT_LOCKED(obj);
	vm_page_assert_xbusied(m);
	if (vm_page_wired(m) != 0)
		VM_PAGE_PANIC(m, "vm_page_free: page %p is wired", (void *)m);
	vm_page_remove(m);
	vm_page_free_toq(m);
	return vm_object_done(obj);
}

void
vm_page_free(struct vm_page *m, bool locked)
{
	struct vm_object *obj = m->object;
	if (obj == NULL) {
		vm_page_free_toq(m);
		return;
	}
	if (!locked)
		vm_object_lock(obj);
	bool destroy = vm_page_free_locked(m);
	if (!locked) {
		vm_object_unlock(obj);
		if (destroy)
			vm_object_destroy(obj);
	}
}

/*
 * Free the victims reclaim chose: each xbusied by reclaim, unwired when
 * chosen, still on its queue.  A run of one object's pages is freed under
 * one try-lock of it.  Pages whose object is contended, or that were wired
 * meanwhile, are given back unbusied, unless their object died meanwhile
 * (orphaned, see vm_internal.h); *passed_new counts those given back from
 * the new queue.  Returns how many were freed.
 */
static int
reclaim_free(struct vm_page **vic, const bool *from_new, int n, uint64_t *passed_new)
{
	struct vm_page *freed[VM_FREE_BATCH], *orphans[VM_FREE_BATCH];
	int nfreed = 0;

	for (int i = 0; i < n;) {
		/* xbusy pins the identity, and a resident page pins its object. */
		struct vm_object *obj = vic[i]->object;
		int end = i;
		while (end < n && vic[end]->object == obj)
			end++;
		bool locked = vm_object_trylock(obj), destroy = false;
		int norphans = 0;
		for (; i < end; i++) {
			if (locked && vm_page_wired(vic[i]) == 0) {
				vm_page_remove(vic[i]);
				freed[nfreed++] = vic[i];
			} else if (vm_page_giveback(vic[i])) {
				*passed_new += from_new[i];
			} else {
				orphans[norphans++] = vic[i];
			}
		}
		if (norphans > 0) {
			/*
			 * The contender was obj's last deallocate (vm_internal.h).  No
			 * reference is left, so obj's lock is held only briefly by VM
			 * code that waits for nothing we hold: waiting is safe here.
			 */
			if (!locked)
				vm_object_lock(obj);
			locked = true;
			for (int k = 0; k < norphans; k++) {
				vm_page_remove(orphans[k]);
				freed[nfreed++] = orphans[k];
			}
			counter_add(&vm_stats.orphans, (uint64_t)norphans);
		}
		if (locked) {
			destroy = vm_object_done(obj);
			vm_object_unlock(obj);
		}
		if (destroy)
			vm_object_destroy(obj);
	}
	free_toq_run(freed, nfreed);
	counter_add(&vm_stats.reclaims, (uint64_t)nfreed);
	return nfreed;
}

int
vm_reclaim(int target)
{
	struct vm_page *vic[VM_FREE_BATCH];
	bool vic_new[VM_FREE_BATCH];
	int freed = 0, nvic = 0;
	uint64_t chosen_new = 0, chosen_main = 0; /* victims still counted on their queue */

	pthread_mutex_lock(&vm.lock);
	/* Two laps at most: the first may only clear reference bits and promote. */
	uint64_t scan = 2 * (vm.nnew + vm.nmain) + 1, new_passed = 0;
	while (freed < target) {
		struct vm_page *m = NULL;
		bool from_new = false;
		if (scan > 0) {
			scan--;
			uint64_t pct = (uint64_t)MIN(MAX(vm_new_pct, 1), 100);
			uint64_t nnew = vm.nnew - chosen_new, nmain = vm.nmain - chosen_main;
			/* A new queue of busy or wired pages must not hide evictable main ones. */
			from_new = nnew > 0 && new_passed < nnew &&
				   (nmain == 0 || nnew * 100 > (nnew + nmain) * pct);
			struct vm_pglist *q = from_new ? &vm.newq : &vm.mainq;
			m = TAILQ_FIRST(q);
			if (m != NULL) {
				bool referenced =
				    atomic_fetch_and_explicit(&m->aflags, (uint8_t)~PGA_REFERENCED,
							      memory_order_relaxed) &
				    PGA_REFERENCED;
				TAILQ_REMOVE(q, m, plinks);
				if (from_new && referenced) {
					/* Used again while new: it has earned the main queue. */
					vm.nnew--;
					m->queue = PQ_MAIN;
					TAILQ_INSERT_TAIL(&vm.mainq, m, plinks);
					vm.nmain++;
					counter_inc(&vm_stats.promotions);
					continue;
				}
				TAILQ_INSERT_TAIL(q, m, plinks);
				if (referenced)
					continue; /* main: a second chance */
				if (vm_page_wired(m) != 0 || !vm_page_tryxbusy(m)) {
					new_passed += from_new;
					continue;
				}
				vic[nvic] = m;
				vic_new[nvic++] = from_new;
				*(from_new ? &chosen_new : &chosen_main) += 1;
			}
		}
		/* Free the victims once there are enough, or when the scan is over. */
		bool over = m == NULL;
		if (!over && nvic < MIN(target - freed, VM_FREE_BATCH))
			continue;
		if (nvic > 0) {
			pthread_mutex_unlock(&vm.lock);
			freed += reclaim_free(vic, vic_new, nvic, &new_passed);
			nvic = 0;
			chosen_new = chosen_main = 0;
			pthread_mutex_lock(&vm.lock);
		}
		if (over)
			break;
	}
	pthread_mutex_unlock(&vm.lock);
	return freed;
}

/*
 * Up to n free pages, each xbusied by the caller and in no object: one round
 * of the free-list lock for the lot, reclaiming when the list runs short.
 * Returns how many it got (fewer once reclaim finds nothing); never sleeps.
 */
static int
page_alloc_run(struct vm_page **ma, int n)
{
	int got = 0;

	for (;;) {
		pthread_mutex_lock(&vm.lock);
		struct vm_page *m;
		while (got < n && (m = TAILQ_FIRST(&vm.freeq)) != NULL) {
			TAILQ_REMOVE(&vm.freeq, m, plinks);
			vm.nfree--;
			m->queue = PQ_NONE;
			/* A free page is referenced by nobody: take its busy outright. */
			VERIFY3U(atomic_load(&m->busy_lock), ==, 0);
			atomic_store_explicit(&m->busy_lock, VPB_XBUSY, memory_order_relaxed);
			ma[got++] = m;
		}
		pthread_mutex_unlock(&vm.lock);
		if (got == n || vm_reclaim(MAX((int)vm_reclaim_batch, n - got)) == 0)
			break;
	}
	pid_t tid = vms_tid();
	for (int i = 0; i < got; i++)
		atomic_store_explicit(&ma[i]->busy_owner, tid, memory_order_relaxed);
	return got;
}

/* A free, xbusied page in no object, or NULL if reclaim found nothing either. */
static struct vm_page *
page_alloc(void)
{
	struct vm_page *m;
	return page_alloc_run(&m, 1) == 1 ? m : NULL;
}

/*
 * Everything is busy or wired: sleep until a page is freed, unwired or given
 * back by another waiter (vm_page_free_wakeup()); the timeout covers pages
 * that merely became unbusy.  The caller looks again.
 */
static void
page_alloc_sleep(void)
{
	counter_inc(&vm_stats.alloc_waits);
	pthread_mutex_lock(&vm.lock);
	if (TAILQ_EMPTY(&vm.freeq)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		__atomic_add_fetch(&vm.free_waiters, 1, __ATOMIC_RELAXED);
		pthread_cond_timedwait(&vm.free_cv, &vm.lock, &ts);
		__atomic_sub_fetch(&vm.free_waiters, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&vm.lock);
}

uint64_t
vm_wired_max(void)
{
	int64_t pct = vm_max_wired_pct < 1 ? 1 : vm_max_wired_pct > 100 ? 100 : vm_max_wired_pct;
	return (uint64_t)(vm.npages - 1) * (uint64_t)pct / 100;
}

void
vm_wired_add(int64_t delta)
{
	atomic_fetch_add_explicit(&vm.nwired, (uint64_t)delta, memory_order_relaxed);
}

/*
 * Wire a page for a grab, within the wired bound: a page's first wiring
 * reserves its place in vm.nwired before it is made, so concurrent grabs
 * never together pass the bound.  False (and nothing wired) at the bound.
 */
static bool
grab_wire(struct vm_page *m)
{
	if (vm_page_wired(m) != 0) {
		vm_page_wire(m);
		return true;
	}
	uint64_t max = vm_wired_max();
	uint64_t n = atomic_load_explicit(&vm.nwired, memory_order_relaxed);
	do {
		if (n >= max) {
			counter_inc(&vm_stats.wire_limit);
			return false;
		}
	} while (!atomic_compare_exchange_weak_explicit(&vm.nwired, &n, n + 1, memory_order_relaxed,
							memory_order_relaxed));
	KASSERT(m != bogus_page, ("grab_wire: bogus_page is never wired"));
	/* Reserved; if another wiring came first, it already counted the page. */
	if (atomic_fetch_add_explicit(&m->wire_count, 1, memory_order_relaxed) != 0)
		vm_wired_add(-1);
	return true;
}

/* Drop the busy that a grab with these flags took on m. */
static void
grab_unbusy(struct vm_page *m, int flags)
{
	if (flags & VM_ALLOC_NOBUSY)
		return;
	if (flags & VM_ALLOC_SBUSY)
		vm_page_sunbusy(m);
	else if (!(flags & VM_ALLOC_NOBUSY_VALID) || !vm_page_all_valid(m))
		vm_page_xunbusy(m); /* NOBUSY_VALID: a valid page came back unbusied */
}

/*
 * The VM_ALLOC_WAITFAIL step: before a waiting grab sleeps, it gives back
 * the n pages it got so far in this call (busy and wiring), so that no
 * thread ever sleeps on a page whose holder is itself asleep in the
 * allocator.  The object is unlocked.
 */
static void
grab_release(struct vm_page **ma, int n, int flags)
{
	for (int i = 0; i < n; i++)
		grab_unbusy(ma[i], flags);
	if (flags & VM_ALLOC_WIRED)
		vm_page_unwire_many(ma, n, false);
	counter_inc(&vm_stats.waitfail_releases);
	vm_page_free_wakeup();
}

/*
 * A waiting grab that cannot allocate: true if the unwired pages could
 * never hold `count` pages, so that only someone else's unwiring could let
 * it finish and sleeping might never end.  It fails instead, and says so.
 */
static bool
grab_cannot_fit(const struct vm_object *obj, int count)
{
	uint64_t total = vm.npages - 1;
	uint64_t wired = atomic_load_explicit(&vm.nwired, memory_order_relaxed);
	if (wired + (uint64_t)count <= total)
		return false;
	counter_inc(&vm_stats.alloc_toosmall);
	LOG_ERR("vm",
		"cannot grab %d pages of %s: %llu of the cache's %llu pages are wired "
		"(vm_max_wired_pct %lld); a larger cache_size is needed",
		count, obj->name != NULL ? obj->name : "an object", (unsigned long long)wired,
		(unsigned long long)total, (long long)vm_max_wired_pct);
	return true;
}

/* Newly resident pages join the tail of the new queue, in one lock round. */
static void
cacheq_insert_run(struct vm_page **ma, int n)
{
	pthread_mutex_lock(&vm.lock);
	for (int i = 0; i < n; i++) {
		ma[i]->queue = PQ_CACHE;
		TAILQ_INSERT_TAIL(&vm.newq, ma[i], plinks);
	}
	vm.nnew += (uint64_t)n;
	pthread_mutex_unlock(&vm.lock);
}

/* Take the busy `flags` asks for on a resident page; false if it must wait. */
static bool
grab_busy(struct vm_page *m, int flags)
{
	if (flags & VM_ALLOC_NOBUSY)
		return !vm_page_xbusied(m);
	if (flags & VM_ALLOC_SBUSY)
		return vm_page_trysbusy(m);
	return vm_page_tryxbusy(m);
}

int
vm_page_grab_pages(struct vm_object *obj, uint64_t pindex, int flags, struct vm_page **ma,
		   int count)
{
	struct vm_page *fresh = NULL;
	bool wait = !(flags & VM_ALLOC_NOWAIT);
	bool wired = (flags & VM_ALLOC_WIRED) != 0;
	int i = 0;

	KASSERT((flags & (VM_ALLOC_SBUSY | VM_ALLOC_NOBUSY)) != (VM_ALLOC_SBUSY | VM_ALLOC_NOBUSY),
		("vm_page_grab_pages: SBUSY and NOBUSY together"));
	vm_object_lock(obj);
	KASSERT(!atomic_load(&obj->dead), ("vm_page_grab_pages: object %p is dead", (void *)obj));
	while (i < count) {
		struct vm_page *m = vm_page_lookup(obj, pindex + i);
		if (m != NULL && (flags & VM_ALLOC_NOBUSY_VALID) &&
		    atomic_load_explicit(&m->busy_lock, memory_order_acquire) == VPB_UNBUSIED &&
		    vm_page_all_valid(m)) {
			/* Valid and idle: wired under the object lock, no busy taken. */
			if (wired && !grab_wire(m))
				break;
			vm_page_reference(m);
			counter_inc(&vm_stats.hits);
			ma[i++] = m;
			continue;
		}
		if (m != NULL) {
			if (!grab_busy(m, flags)) {
				if (!wait)
					break;
				bool xonly = (flags & (VM_ALLOC_SBUSY | VM_ALLOC_NOBUSY)) != 0;
				if (!vm_alloc_waitfail || (i == 0 && fresh == NULL)) {
					vm_page_busy_sleep(m, obj, xonly);
					vm_object_lock(obj);
					continue;
				}
				/*
				 * Never sleep holding pages (nor a free one): give
				 * them back first.  m may change identity once the
				 * object is unlocked; sleeping on its busy word then
				 * costs one spurious wake-up, since busy never lasts.
				 */
				vm_object_unlock(obj);
				if (fresh != NULL)
					vm_page_free_toq(fresh);
				fresh = NULL;
				grab_release(ma, i, flags);
				i = 0;
				vm_page_busy_sleep(m, NULL, xonly);
				vm_object_lock(obj);
				continue;
			}
			if (wired && !grab_wire(m)) {
				grab_unbusy(m, flags & ~VM_ALLOC_NOBUSY_VALID);
				break;
			}
			/*
			 * Busy when we looked, valid once we had it (its reader
			 * finished in between): keep the promise that valid pages
			 * come back unbusied.
			 */
			if ((flags & VM_ALLOC_NOBUSY_VALID) && vm_page_xbusied(m) &&
			    vm_page_all_valid(m))
				vm_page_xunbusy(m);
			vm_page_reference(m);
			counter_inc(&vm_stats.hits);
			ma[i++] = m;
			continue;
		}
		if (flags & VM_ALLOC_NOCREAT)
			break;
		if (fresh == NULL) {
			/* Never allocate, reclaim or sleep with the object locked. */
			vm_object_unlock(obj);
			fresh = page_alloc();
			if (fresh == NULL && !wait)
				counter_inc(&vm_stats.alloc_fail);
			if (fresh == NULL && wait) {
				if (i > 0 && vm_alloc_waitfail) {
					grab_release(ma, i, flags);
					i = 0;
				}
				if (vm_alloc_waitfail && grab_cannot_fit(obj, count)) {
					vm_object_lock(obj);
					break;
				}
				KASSERT(i == 0 || !vm_alloc_waitfail,
					("vm_page_grab_pages: asleep holding %d pages", i));
				page_alloc_sleep();
			}
			vm_object_lock(obj);
			if (fresh == NULL && !wait)
				break;
			continue; /* look again: the lock was dropped */
		}
		if (wired && !grab_wire(fresh))
			break; /* fresh goes back to the free list below */
		m = fresh;
		fresh = NULL;
		vm_page_insert(m, obj, pindex + i);
		cacheq_insert_run(&m, 1);
		counter_inc(&vm_stats.misses);
		if (flags & VM_ALLOC_SBUSY)
			vm_page_busy_downgrade(m);
		else if (flags & VM_ALLOC_NOBUSY)
			vm_page_xunbusy(m);
		ma[i++] = m;
	}
	vm_object_unlock(obj);
	if (fresh != NULL)
		vm_page_free_toq(fresh);
	return i;
}

struct vm_page *
vm_page_grab(struct vm_object *obj, uint64_t pindex, int flags)
{
	struct vm_page *m;
	return vm_page_grab_pages(obj, pindex, flags, &m, 1) == 1 ? m : NULL;
}

int
vm_page_grab_optional_run(struct vm_object *obj, uint64_t pindex, int step, struct vm_page **ma,
			  int n)
{
	struct vm_page *fresh[VM_OPTIONAL_BATCH];
	int got = 0;
	_Static_assert(VM_OPTIONAL_BATCH <= VM_FREE_BATCH, "unused fresh pages go back in one run");

	KASSERT(step == 1 || step == -1, ("vm_page_grab_optional_run: step %d", step));
	KASSERT(step == 1 || (uint64_t)n <= pindex + 1,
		("vm_page_grab_optional_run: %d pages down from %ju", n, (uintmax_t)pindex));
#define RUN_INDEX(i) (step > 0 ? pindex + (uint64_t)(i) : pindex - (uint64_t)(i))
	while (got < n) {
		int want = MIN(n - got, VM_OPTIONAL_BATCH), absent = 0;

		/* Look first, so that a resident page costs no allocation. */
		vm_object_lock(obj);
		while (absent < want && vm_page_lookup(obj, RUN_INDEX(got + absent)) == NULL)
			absent++;
		vm_object_unlock(obj);
		if (absent == 0)
			break;
		/* Never allocate or reclaim with the object locked. */
		int nfresh = page_alloc_run(fresh, absent), ins = 0;
		vm_object_lock(obj);
		KASSERT(!atomic_load(&obj->dead),
			("vm_page_grab_optional_run: object %p is dead", (void *)obj));
		/* The lock was dropped: stop where another grab got in first. */
		while (ins < nfresh && vm_page_lookup(obj, RUN_INDEX(got + ins)) == NULL) {
			vm_page_insert(fresh[ins], obj, RUN_INDEX(got + ins));
			ins++;
		}
		cacheq_insert_run(fresh, ins);
		vm_object_unlock(obj);
		for (int i = 0; i < ins; i++) {
			/* The busy goes with the pager's I/O, which may finish elsewhere. */
			atomic_store_explicit(&fresh[i]->busy_owner, 0, memory_order_relaxed);
			ma[got + i] = fresh[i];
		}
		counter_add(&vm_stats.misses, (uint64_t)ins);
		free_toq_run(fresh + ins, nfresh - ins);
		got += ins;
		if (ins < absent || absent < want)
			break; /* a page got in first, none was free, or the run met a resident one */
	}
#undef RUN_INDEX
	return got;
}

struct vm_page *
vm_page_grab_optional(struct vm_object *obj, uint64_t pindex)
{
	struct vm_page *m;
	return vm_page_grab_optional_run(obj, pindex, 1, &m, 1) == 1 ? m : NULL;
}

void
vm_page_readahead_finish(struct vm_page *m)
{
	vm_page_assert_xbusied(m);
	KASSERT(vm_page_wired(m) == 0, ("vm_page_readahead_finish: page %p wired", (void *)m));
	if (vm_page_all_valid(m)) {
		/* Not used yet: its first use must not count as a second one (reclaim). */
		atomic_fetch_or_explicit(&m->aflags, PGA_READAHEAD, memory_order_relaxed);
		vm_page_xunbusy(m);
	} else {
		vm_page_free(m, false);
	}
}

void
vm_counts(struct vm_counts *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&vm.lock);
	c->total = vm.npages - 1;
	c->free = vm.nfree;
	c->cached = vm.nnew + vm.nmain;
	c->main = vm.nmain;
	pthread_mutex_unlock(&vm.lock);
	c->nwired = atomic_load(&vm.nwired);
	c->wired_max = vm_wired_max();
	for (uint32_t i = 1; i < vm.npages; i++) {
		struct vm_page *m = &vm.pages[i];
		if (vm_page_wired(m) != 0)
			c->wired++;
		if (atomic_load_explicit(&m->busy_lock, memory_order_relaxed) != 0)
			c->busy++;
	}
}

bool
vm_quiescent(void)
{
	for (uint32_t i = 0; i < vm.npages; i++) {
		struct vm_page *m = &vm.pages[i];
		if (vm_page_wired(m) != 0 ||
		    (atomic_load_explicit(&m->busy_lock, memory_order_relaxed) &
		     (VPB_XBUSY | VPB_SHARERS_MASK)) != 0) {
			vm_page_print(m);
			return false;
		}
	}
	return true;
}

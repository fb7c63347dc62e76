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
 * A page is on exactly one queue: PQ_FREE (no object) or PQ_CACHE (in an
 * object; maybe busy or wired).  Reclaim is a CLOCK hand over the cache
 * queue: it rotates each page it looks at to the tail, gives referenced
 * pages a second chance, skips busy and wired ones, and frees the rest.  It
 * only ever try-locks objects, so it may run while its caller holds one.
 */
#include "vm/vm_internal.h"
#include "core/util.h"
#include "core/log.h"
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

struct vm_page *bogus_page;

static struct {
	pthread_mutex_t lock; /* the page queues below */
	pthread_cond_t free_cv;
	TAILQ_HEAD(, vm_page) freeq;
	TAILQ_HEAD(, vm_page) cacheq;
	uint64_t nfree, ncached;
	int free_waiters;
	struct vm_page *pages;
	uint32_t npages; /* including frame 0 */
	char *arena;
	size_t arena_size;
	bool initialized;
} vm = {.lock = PTHREAD_MUTEX_INITIALIZER, .free_cv = PTHREAD_COND_INITIALIZER};

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
	size_t size = npages * PAGE_SIZE;
	void *arena = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED)
		return -errno;
	(void)madvise(arena, size, MADV_HUGEPAGE); /* best effort */
	vm.pages = calloc(npages, sizeof(struct vm_page));
	if (vm.pages == NULL) {
		munmap(arena, size);
		return -ENOMEM;
	}
	vm.arena = arena;
	vm.arena_size = size;
	vm.npages = (uint32_t)npages;
	TAILQ_INIT(&vm.freeq);
	TAILQ_INIT(&vm.cacheq);
	vm.nfree = vm.ncached = 0;
	bogus_page = &vm.pages[0];
	atomic_store(&bogus_page->aflags, PGA_BOGUS);
	for (uint32_t i = 1; i < npages; i++) {
		vm.pages[i].queue = PQ_FREE;
		TAILQ_INSERT_TAIL(&vm.freeq, &vm.pages[i], plinks);
	}
	vm.nfree = npages - 1;
	memset(&vm_stats, 0, sizeof(vm_stats));
	vm.initialized = true;
	io_region_set(arena, size); /* event loops read into the arena as fixed buffers */
	return 0;
}

void
vm_fini(void)
{
	VERIFY(vm.initialized);
	VERIFY(vm_quiescent());
	io_region_set(NULL, 0);
	munmap(vm.arena, vm.arena_size);
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

void
vm_page_free_toq(struct vm_page *m)
{
	KASSERT(m->object == NULL, ("vm_page_free_toq: page %p still in an object", (void *)m));
	KASSERT(vm_page_wired(m) == 0, ("vm_page_free_toq: page %p wired", (void *)m));
	vm_page_assert_xbusied(m);
	__atomic_store_n(&m->valid, 0, __ATOMIC_RELAXED);
	m->dirty = 0;
	atomic_store_explicit(&m->aflags, 0, memory_order_relaxed);
	atomic_store_explicit(&m->busy_owner, 0, memory_order_relaxed);
	pthread_mutex_lock(&vm.lock);
	if (m->queue == PQ_CACHE) {
		TAILQ_REMOVE(&vm.cacheq, m, plinks);
		vm.ncached--;
	}
	/*
	 * Unbusy under the queue lock, once the page is off the cache queue
	 * (where reclaim try-busies pages) and before it is on the free list
	 * (where freeq_pop() takes its busy outright).  Sleepers on its old
	 * identity are woken below and look their page up again.
	 */
	uint32_t x = atomic_exchange_explicit(&m->busy_lock, VPB_UNBUSIED, memory_order_release);
	m->queue = PQ_FREE;
	TAILQ_INSERT_HEAD(&vm.freeq, m, plinks);
	vm.nfree++;
	if (vm.free_waiters > 0)
		pthread_cond_broadcast(&vm.free_cv);
	pthread_mutex_unlock(&vm.lock);
	counter_inc(&vm_stats.frees);
	if (x & VPB_WAITERS)
		vm_page_busy_wake(m);
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
	return atomic_load(&obj->dead) && obj->resident_count == 0;
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

int
vm_reclaim(int target)
{
	int freed = 0;

	pthread_mutex_lock(&vm.lock);
	/* Two laps at most: the first may only clear reference bits. */
	uint64_t scan = 2 * vm.ncached + 1;
	while (freed < target && scan-- > 0) {
		struct vm_page *m = TAILQ_FIRST(&vm.cacheq);
		if (m == NULL)
			break;
		TAILQ_REMOVE(&vm.cacheq, m, plinks);
		TAILQ_INSERT_TAIL(&vm.cacheq, m, plinks);
		if (atomic_fetch_and_explicit(&m->aflags, ~PGA_REFERENCED, memory_order_relaxed) &
		    PGA_REFERENCED)
			continue;
		if (vm_page_wired(m) != 0 || !vm_page_tryxbusy(m))
			continue;
		/* xbusy pins the identity, and a resident page pins its object. */
		struct vm_object *obj = m->object;
		pthread_mutex_unlock(&vm.lock);
		bool destroy = false, done = false;
		if (vm_object_trylock(obj)) {
			if (vm_page_wired(m) == 0) {
				destroy = vm_page_free_locked(m);
				done = true;
			}
			vm_object_unlock(obj);
		}
		if (done) {
			freed++;
			counter_inc(&vm_stats.reclaims);
			if (destroy)
				vm_object_destroy(obj);
		} else {
			vm_page_xunbusy(m);
		}
		pthread_mutex_lock(&vm.lock);
	}
	pthread_mutex_unlock(&vm.lock);
	return freed;
}

static struct vm_page *
freeq_pop(void)
{
	pthread_mutex_lock(&vm.lock);
	struct vm_page *m = TAILQ_FIRST(&vm.freeq);
	if (m != NULL) {
		TAILQ_REMOVE(&vm.freeq, m, plinks);
		vm.nfree--;
		m->queue = PQ_NONE;
		/* A free page is referenced by nobody: take its busy outright. */
		VERIFY3U(atomic_load(&m->busy_lock), ==, 0);
		atomic_store_explicit(&m->busy_lock, VPB_XBUSY, memory_order_relaxed);
	}
	pthread_mutex_unlock(&vm.lock);
	return m;
}

/* A free, xbusied page in no object; NULL only for NOWAIT callers. */
static struct vm_page *
page_alloc(bool wait)
{
	for (;;) {
		struct vm_page *m = freeq_pop();
		if (m != NULL) {
			atomic_store_explicit(&m->busy_owner, vms_tid(), memory_order_relaxed);
			return m;
		}
		if (vm_reclaim((int)vm_reclaim_batch) > 0)
			continue;
		if (!wait) {
			counter_inc(&vm_stats.alloc_fail);
			return NULL;
		}
		/*
		 * Everything is busy or wired.  Sleep until a page is freed or
		 * unwired; the timeout covers pages that merely became unbusy.
		 */
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
}

static void
cacheq_insert(struct vm_page *m)
{
	pthread_mutex_lock(&vm.lock);
	m->queue = PQ_CACHE;
	TAILQ_INSERT_TAIL(&vm.cacheq, m, plinks);
	vm.ncached++;
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
			if (flags & VM_ALLOC_WIRED)
				vm_page_wire(m);
			vm_page_reference(m);
			counter_inc(&vm_stats.hits);
			ma[i++] = m;
			continue;
		}
		if (m != NULL) {
			if (!grab_busy(m, flags)) {
				if (flags & VM_ALLOC_NOWAIT)
					break;
				vm_page_busy_sleep(
				    m, obj, (flags & (VM_ALLOC_SBUSY | VM_ALLOC_NOBUSY)) != 0);
				vm_object_lock(obj);
				continue;
			}
			if (flags & VM_ALLOC_WIRED)
				vm_page_wire(m);
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
			/* Never wait or reclaim-sleep with the object locked. */
			vm_object_unlock(obj);
			fresh = page_alloc(!(flags & VM_ALLOC_NOWAIT));
			vm_object_lock(obj);
			if (fresh == NULL)
				break;
			continue; /* look again: the lock was dropped */
		}
		m = fresh;
		fresh = NULL;
		vm_page_insert(m, obj, pindex + i);
		cacheq_insert(m);
		counter_inc(&vm_stats.misses);
		if (flags & VM_ALLOC_WIRED)
			vm_page_wire(m);
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

struct vm_page *
vm_page_grab_optional(struct vm_object *obj, uint64_t pindex)
{
	vm_object_lock(obj);
	bool resident = vm_page_lookup(obj, pindex) != NULL;
	vm_object_unlock(obj);
	if (resident)
		return NULL;
	struct vm_page *m = vm_page_grab(obj, pindex, VM_ALLOC_NOWAIT);
	if (m == NULL)
		return NULL;
	if (!vm_page_none_valid(m) || vm_page_wired(m) != 0) {
		/* Made resident between the look and the grab: not ours. */
		vm_page_xunbusy(m);
		return NULL;
	}
	atomic_store_explicit(&m->busy_owner, 0, memory_order_relaxed);
	return m;
}

void
vm_page_readahead_finish(struct vm_page *m)
{
	vm_page_assert_xbusied(m);
	KASSERT(vm_page_wired(m) == 0, ("vm_page_readahead_finish: page %p wired", (void *)m));
	if (vm_page_all_valid(m))
		vm_page_xunbusy(m);
	else
		vm_page_free(m, false);
}

void
vm_counts(struct vm_counts *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&vm.lock);
	c->total = vm.npages - 1;
	c->free = vm.nfree;
	c->cached = vm.ncached;
	pthread_mutex_unlock(&vm.lock);
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

/*
 * Objects: a page index (chained hash by pindex), a reference count and the
 * object's death.  See vm_object.h for the lifetime rules.
 */
#include "vm/vm_internal.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic uint64_t object_next_id = 1;
static _Atomic uint64_t object_live;

#define HASH_MIN 16

/*
 * A run of HASH_RUN consecutive pages lands in consecutive buckets (a cache
 * line or two of the bucket array), so a sequential stream's lookups, inserts
 * and removals share lines instead of missing on every page.  Each run starts
 * at a bucket Fibonacci hashing (the product's top bits) picks among all of
 * them, so no stride piles pages into a few chains.
 */
#define HASH_RUN 8

static inline uint32_t
pindex_hash(uint64_t pindex, uint32_t mask)
{
	int bits = 32 - __builtin_clz(mask); /* mask + 1 buckets, a power of two >= HASH_MIN */
	uint64_t start = (pindex / HASH_RUN * 0x9E3779B97F4A7C15ull) >> (64 - bits);
	return (uint32_t)(start + pindex % HASH_RUN) & mask;
}

struct vm_object *
vm_object_allocate(const struct pager_ops *ops, void *priv, uint64_t size, const char *name)
{
	struct vm_object *obj = calloc(1, sizeof(*obj));
	if (obj == NULL)
		return NULL;
	obj->hash = calloc(HASH_MIN, sizeof(*obj->hash));
	obj->name = strdup(name != NULL ? name : "");
	if (obj->hash == NULL || obj->name == NULL) {
		free(obj->hash);
		free(obj->name);
		free(obj);
		return NULL;
	}
	pthread_mutex_init(&obj->lock, NULL);
	obj->hash_mask = HASH_MIN - 1;
	atomic_init(&obj->ref_count, 1);
	obj->size = size;
	obj->pager = ops;
	obj->pager_priv = priv;
	obj->id = atomic_fetch_add(&object_next_id, 1);
	atomic_fetch_add(&object_live, 1);
	return obj;
}

uint64_t
vm_object_count(void)
{
	return atomic_load(&object_live);
}

void
vm_object_lock(struct vm_object *obj)
{
	pthread_mutex_lock(&obj->lock);
	if (INVARIANTS_ON)
		atomic_store_explicit(&obj->lock_owner, (int)vms_tid(), memory_order_relaxed);
}

bool
vm_object_trylock(struct vm_object *obj)
{
	if (pthread_mutex_trylock(&obj->lock) != 0)
		return false;
	if (INVARIANTS_ON)
		atomic_store_explicit(&obj->lock_owner, (int)vms_tid(), memory_order_relaxed);
	return true;
}

void
vm_object_unlock(struct vm_object *obj)
{
	ASSERT(vm_object_owned(obj));
	if (INVARIANTS_ON)
		atomic_store_explicit(&obj->lock_owner, 0, memory_order_relaxed);
	pthread_mutex_unlock(&obj->lock);
}

bool
vm_object_owned(struct vm_object *obj)
{
	return atomic_load_explicit(&obj->lock_owner, memory_order_relaxed) == (int)vms_tid();
}

void
vm_object_reference(struct vm_object *obj)
{
	uint32_t old = atomic_fetch_add_explicit(&obj->ref_count, 1, memory_order_relaxed);
	VERIFY3U(old, >, 0);
}

struct vm_page *
vm_page_lookup(struct vm_object *obj, uint64_t pindex)
{
	VM_OBJECT_ASSERT_LOCKED(obj);
	struct vm_page *m = obj->hash[pindex_hash(pindex, obj->hash_mask)];
	while (m != NULL && m->pindex != pindex)
		m = m->hnext;
	return m;
}

uint32_t
vm_object_chain_max(struct vm_object *obj)
{
	VM_OBJECT_ASSERT_LOCKED(obj);
	uint32_t max = 0;
	for (uint32_t b = 0; b <= obj->hash_mask; b++) {
		uint32_t n = 0;
		for (struct vm_page *m = obj->hash[b]; m != NULL; m = m->hnext)
			n++;
		max = MAX(max, n);
	}
	return max;
}

static void
hash_grow(struct vm_object *obj)
{
	uint32_t nb = (obj->hash_mask + 1) * 2;
	struct vm_page **nh = calloc(nb, sizeof(*nh));
	if (nh == NULL)
		return; /* longer chains, still correct */
	for (uint32_t b = 0; b <= obj->hash_mask; b++) {
		struct vm_page *m = obj->hash[b], *next;
		for (; m != NULL; m = next) {
			next = m->hnext;
			uint32_t h = pindex_hash(m->pindex, nb - 1);
			m->hnext = nh[h];
			nh[h] = m;
		}
	}
	free(obj->hash);
	obj->hash = nh;
	obj->hash_mask = nb - 1;
}

void
vm_page_insert(struct vm_page *m, struct vm_object *obj, uint64_t pindex)
{
	VM_OBJECT_ASSERT_LOCKED(obj);
	vm_page_assert_xbusied(m);
	KASSERT(m->object == NULL, ("vm_page_insert: page %p already in an object", (void *)m));
	KASSERT(!atomic_load(&obj->dead), ("vm_page_insert: object %p is dead", (void *)obj));
	if (obj->resident_count >= 2 * (obj->hash_mask + 1))
		hash_grow(obj);
	m->object = obj;
	m->pindex = pindex;
	uint32_t h = pindex_hash(pindex, obj->hash_mask);
	m->hnext = obj->hash[h];
	obj->hash[h] = m;
	obj->resident_count++;
}

void
vm_page_remove(struct vm_page *m)
{
	struct vm_object *obj = m->object;
	VM_OBJECT_ASSERT_LOCKED(obj);
	vm_page_assert_xbusied(m);
	struct vm_page **pp = &obj->hash[pindex_hash(m->pindex, obj->hash_mask)];
	while (*pp != m) {
		VERIFY(*pp != NULL);
		pp = &(*pp)->hnext;
	}
	*pp = m->hnext;
	m->hnext = NULL;
	m->object = NULL;
	obj->resident_count--;
}

void
vm_object_destroy(struct vm_object *obj)
{
	VERIFY(atomic_load(&obj->dead));
	VERIFY3U(obj->resident_count, ==, 0);
	VERIFY3U(atomic_load(&obj->ref_count), ==, 0);
	const struct vm_pager_head *ph = (const void *)obj->pager;
	if (ph != NULL && ph->dealloc != NULL)
		ph->dealloc(obj);
	pthread_mutex_destroy(&obj->lock);
	free(obj->hash);
	free(obj->name);
	free(obj);
	atomic_fetch_sub(&object_live, 1);
}

void
vm_object_deallocate(struct vm_object *obj)
{
	uint32_t old = atomic_fetch_sub_explicit(&obj->ref_count, 1, memory_order_acq_rel);
	VERIFY3U(old, >, 0);
	if (old > 1)
		return;

	/*
	 * Last reference: the object dies.  Free every page nobody is using;
	 * a wired or busy page is freed by whoever unwires it (vm_page_unwire)
	 * or by reclaim, and the last page out frees the struct.
	 */
	vm_object_lock(obj);
	atomic_store(&obj->dead, true);
	bool destroy = obj->resident_count == 0;
	for (uint32_t b = 0; b <= obj->hash_mask && !destroy; b++) {
		struct vm_page *m = obj->hash[b], *next;
		for (; m != NULL; m = next) {
			next = m->hnext;
			if (vm_page_wired(m) != 0)
				continue;
			/* Busy: reclaim's in transit frees it once orphaned (vm_internal.h). */
			bool busy;
			while ((busy = !vm_page_tryxbusy(m)) && !vm_page_orphan(m))
				; /* unbusied meanwhile: take it */
			if (!busy)
				destroy = vm_page_free_locked(m);
		}
	}
	vm_object_unlock(obj);
	if (destroy)
		vm_object_destroy(obj);
}

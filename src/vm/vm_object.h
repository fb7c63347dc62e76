/*
 * struct vm_object: the pages of one version of one file.
 *
 * A file that changes on disk gets a new object; responses in flight keep
 * the old one through their references, and the old one dies when its last
 * reference goes.  A dead object frees each page as soon as the page is
 * neither busy nor wired; the struct itself is freed with its last page.
 *
 * Lock key: (c) constant after allocation, (o) the object's lock, (a) atomic.
 *
 * Lock order: an object lock is never held while taking another object's
 * lock, except by reclaim, which only ever try-locks.  The page-queue lock
 * (vm.c) nests inside object locks.
 */
#ifndef VMSEND_VM_OBJECT_H
#define VMSEND_VM_OBJECT_H

#include "core/assert.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct vm_page;
struct pager_ops;

struct vm_object {
	pthread_mutex_t lock;
	_Atomic int lock_owner;              /* (a) tid holding `lock`, 0 if none */
	struct vm_page **hash;               /* (o) page index: chains by pindex */
	uint32_t hash_mask;                  /* (o) buckets - 1 */
	uint32_t resident_count;             /* (o) pages in the index */
	_Atomic uint32_t ref_count;          /* (a) */
	_Atomic uint32_t paging_in_progress; /* (a) pager I/Os under way */
	_Atomic bool dead;                   /* (o) to set, (a) to read */
	uint64_t size;                       /* (c) bytes */
	const struct pager_ops *pager;       /* (c) */
	void *pager_priv;                    /* (c) pager's own state */
	uint64_t id;                         /* (c) unique, for logs */
	char *name;                          /* (c) file path for logs, owned */
};

/*
 * Allocate an object of `size` bytes with one reference.  `name` is copied.
 * Returns NULL only on memory exhaustion.  The pager's dealloc op (if any)
 * runs when the struct is freed.
 */
struct vm_object *vm_object_allocate(const struct pager_ops *ops, void *priv, uint64_t size,
				     const char *name);
/*
 * The VM knows a pager only as the opaque `pager` pointer it stores, whose
 * ops table begins with this head (pager.h asserts so): when an object with
 * a pager is freed, vm_object_destroy() calls its dealloc, if any.  Every
 * other pager call goes through the dispatch in the pager layer above.
 */
typedef void vm_object_dtor_t(struct vm_object *obj);
struct vm_pager_head {
	vm_object_dtor_t *dealloc; /* (c) optional: frees pager_priv */
};
void vm_object_reference(struct vm_object *obj);
/* Drop a reference; the last one kills the object (see above). */
void vm_object_deallocate(struct vm_object *obj);

void vm_object_lock(struct vm_object *obj);
void vm_object_unlock(struct vm_object *obj);
bool vm_object_trylock(struct vm_object *obj);
#define VM_OBJECT_ASSERT_LOCKED(obj) ASSERT(vm_object_owned(obj))
bool vm_object_owned(struct vm_object *obj);

/* Look a page up; the object must be locked.  NULL if not resident. */
struct vm_page *vm_page_lookup(struct vm_object *obj, uint64_t pindex);
/* The longest chain in the page index (tests: no access pattern piles pages up). */
uint32_t vm_object_chain_max(struct vm_object *obj);

/* Number of pages in the object's last (possibly partial) page index + 1. */
static inline uint64_t
vm_object_npages(const struct vm_object *obj)
{
	return (obj->size + 4095) >> 12;
}

static inline void
vm_object_pip_add(struct vm_object *obj, uint32_t n)
{
	atomic_fetch_add(&obj->paging_in_progress, n);
}

static inline void
vm_object_pip_wakeup(struct vm_object *obj, uint32_t n)
{
	uint32_t old = atomic_fetch_sub(&obj->paging_in_progress, n);
	VERIFY3U(old, >=, n);
}

/* Objects alive now (tests check for leaks). */
uint64_t vm_object_count(void);

#endif

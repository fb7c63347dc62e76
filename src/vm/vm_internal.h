/* Private to src/vm: the pieces vm.c, vm_page.c and vm_object.c share. */
#ifndef VMSEND_VM_INTERNAL_H
#define VMSEND_VM_INTERNAL_H

#include "vm/vm.h"

/* Insert a fresh xbusied page into obj at pindex (object locked). */
void vm_page_insert(struct vm_page *m, struct vm_object *obj, uint64_t pindex);
/* Remove a page from its object's index (object locked, page xbusied). */
void vm_page_remove(struct vm_page *m);
/*
 * Free an xbusied, unwired page whose object the caller has locked.  Returns
 * true if the object is now dead and empty: the caller must then call
 * vm_object_destroy() after unlocking it.
 */
bool vm_page_free_locked(struct vm_page *m);
/* Give a page that is in no object back to the free list; releases its busy. */
void vm_page_free_toq(struct vm_page *m);
/* Tell sleepers in the allocator that a page may have become reclaimable. */
void vm_page_free_wakeup(void);
/* Wake every thread sleeping on the page's busy word. */
void vm_page_busy_wake(struct vm_page *m);
/* Count pages whose first wiring came (+1) or last wiring went (-1): the wired bound's count. */
void vm_wired_add(int64_t delta);
/*
 * A page reclaim has chosen is xbusy in transit: reclaim frees it under a
 * try-lock of its object, or gives it back unbusied when the object is
 * contended.  If the contender is the object's last deallocate, that
 * deallocate cannot free the busy page, and a plain give-back would leave
 * a dead object (and its page) in the cache until reclaim came by again.
 * So the deallocate marks such a page orphaned, and reclaim's give-back
 * refuses an orphaned page: reclaim then frees it.  Both act on the busy
 * word, so exactly one of them frees the page.
 *
 * vm_page_orphan (deallocate, object locked, m busy): mark m; false if m
 * was unbusied meanwhile (take it and free it).  A page shared-busy, or
 * busy by someone who unbusies it plainly, is left as before: reclaim
 * frees it later.
 * vm_page_giveback (reclaim, m xbusy): unbusy m, unless it is orphaned:
 * then false and m stays xbusy, for the caller to free.
 */
bool vm_page_orphan(struct vm_page *m);
bool vm_page_giveback(struct vm_page *m);
/* Free the object struct (dead, no pages, unlocked). */
void vm_object_destroy(struct vm_object *obj);
/* Dead and empty (object locked): the caller destroys it once it has unlocked it. */
static inline bool
vm_object_done(struct vm_object *obj)
{
	return atomic_load(&obj->dead) && obj->resident_count == 0;
}

#endif

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
/* Free the object struct (dead, no pages, unlocked). */
void vm_object_destroy(struct vm_object *obj);
/* Dead and empty (object locked): the caller destroys it once it has unlocked it. */
static inline bool
vm_object_done(struct vm_object *obj)
{
	return atomic_load(&obj->dead) && obj->resident_count == 0;
}

#endif

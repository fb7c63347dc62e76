/*
 * A stash: free objects of one kind kept for reuse, at most a given number,
 * last in first out.  The link lives in each stashed object's first word,
 * so whoever takes an object back must set that word before reading it
 * (every user resets or overwrites its object when it takes it).  A stash
 * is not locked: one thread owns it.
 *
 *	if (!vms_stash_put(&spares, obj, 64))
 *		free(obj);
 *	...
 *	if ((obj = vms_stash_get(&spares)) == NULL)
 *		obj = malloc(sizeof(*obj));
 */
#ifndef VMSEND_CORE_STASH_H
#define VMSEND_CORE_STASH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct vms_stash {
	void *head;
	int64_t n;
};

/* An object from the stash, or NULL when it is empty. */
static inline void *
vms_stash_get(struct vms_stash *s)
{
	void *p = s->head;
	if (p != NULL) {
		memcpy(&s->head, p, sizeof(s->head));
		s->n--;
	}
	return p;
}

/* Keep p (at least a pointer's size) unless the stash holds `max` already: false then. */
static inline bool
vms_stash_put(struct vms_stash *s, void *p, int64_t max)
{
	if (s->n >= max)
		return false;
	memcpy(p, &s->head, sizeof(s->head));
	s->head = p;
	s->n++;
	return true;
}

/* free(3) every object in the stash. */
static inline void
vms_stash_free(struct vms_stash *s)
{
	void *p;
	while ((p = vms_stash_get(s)) != NULL)
		free(p);
}

#endif

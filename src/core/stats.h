/*
 * Statistics counters: 64-bit atomics updated with relaxed ordering.  They
 * are read for reports (/metrics, --stats); a reader sees a recent value, not
 * a snapshot consistent across counters.
 */
#ifndef VMSEND_CORE_STATS_H
#define VMSEND_CORE_STATS_H

#include <stdatomic.h>
#include <stdint.h>

struct vms_counter {
	_Atomic uint64_t v; /* (a) */
};

static inline void
counter_add(struct vms_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

static inline void
counter_inc(struct vms_counter *c)
{
	counter_add(c, 1);
}

static inline uint64_t
counter_get(const struct vms_counter *c)
{
	return atomic_load_explicit(&((struct vms_counter *)c)->v, memory_order_relaxed);
}

static inline void
counter_zero(struct vms_counter *c)
{
	atomic_store_explicit(&c->v, 0, memory_order_relaxed);
}

#endif

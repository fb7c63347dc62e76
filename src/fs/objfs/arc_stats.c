/*
 * ARC statistics: the counters of struct arc_stats plus the list sizes, in
 * arcstats' vocabulary (hits, misses, mru_hits, mfu_ghost_hits, p, c, size)
 * so that anyone who has read /proc/spl/kstat/zfs/arcstats reads ours.
 */
#include "fs/objfs/arc_impl.h"

#include "core/recmem.h"

#include <stdio.h>
#include <string.h>

struct arc_stats *
arc_stats(struct arc *arc)
{
	return &arc->stats;
}

const char *
arc_name(const struct arc *arc)
{
	return arc->name;
}

void
arc_sizes(struct arc *arc, struct arc_sizes *out)
{
	pthread_mutex_lock(&arc->lock);
	out->c = arc->c;
	out->p = arc->p;
	out->mru = arc->lsize[ARC_MRU];
	out->mfu = arc->lsize[ARC_MFU];
	out->size = out->mru + out->mfu;
	out->mru_ghost = arc->lsize[ARC_MRU_GHOST];
	out->mfu_ghost = arc->lsize[ARC_MFU_GHOST];
	out->held = arc->held_bytes;
	out->mru_records = arc->lcount[ARC_MRU];
	out->mfu_records = arc->lcount[ARC_MFU];
	out->records = out->mru_records + out->mfu_records;
	out->ghost_records = arc->lcount[ARC_MRU_GHOST] + arc->lcount[ARC_MFU_GHOST];
	pthread_mutex_unlock(&arc->lock);
	struct recmem_stats ms = {0};
	if (arc->mem != NULL)
		recmem_stats(arc->mem, &ms);
	out->mem_region = ms.region_bytes;
	out->mem_used = ms.used_bytes;
	out->mem_fallback_live = ms.fallback_live;
	out->mem_fallback_allocs = ms.fallback_allocs;
}

struct arc_walk {
	struct arc *arc;
	void (*cb)(void *arg, const char *name, uint64_t value);
	void *arg;
};

static void
arc_walk_one(void *arg, const struct vms_stat *st, uint64_t global_value)
{
	struct arc_walk *w = arg;
	uint64_t v;
	if (st->read == arc_stat_read_counter)
		v = arc_stat_counter(w->arc, st->arg);
	else if (st->read == arc_stat_read_size)
		v = arc_stat_size(w->arc, st->arg);
	else
		return; /* some other subsystem's "arc_" name */
	w->cb(w->arg, st->name + strlen("arc_"), v);
}

void
arc_stats_foreach(struct arc *arc, void (*cb)(void *arg, const char *name, uint64_t value),
		  void *arg)
{
	struct arc_walk w = {arc, cb, arg};
	vms_stats_foreach("arc_", arc_walk_one, &w);
}

void
arc_stats_reset(struct arc *arc)
{
	memset(&arc->stats, 0, sizeof(arc->stats));
}

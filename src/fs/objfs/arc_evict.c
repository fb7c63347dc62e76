/*
 * ARC eviction: the paper's REPLACE step in bytes, the ghost-list bounds
 * and the adaptation of p.  See the theory at the top of arc.c.  Every
 * function here runs with arc->lock held.
 */
#include "fs/objfs/arc_impl.h"

#include "core/assert.h"
#include "core/recmem.h"
#include "core/util.h"

#include <stdlib.h>

/*
 * A ghost hit is a miss the other half of the cache would have turned into
 * a hit.  Move p by the record's size, scaled up when the opposite ghost
 * list is the larger one (a hit in the smaller list is the stronger signal,
 * as in the paper's delta = max(1, |B2| / |B1|)).
 */
void
arc_adapt(struct arc *arc, enum arc_state ghost, uint64_t size)
{
	uint64_t mru_g = arc->lsize[ARC_MRU_GHOST], mfu_g = arc->lsize[ARC_MFU_GHOST];
	uint64_t mult, delta;

	if (ghost == ARC_MRU_GHOST) {
		mult = mru_g > 0 && mfu_g > mru_g ? mfu_g / mru_g : 1;
		delta = size * mult;
		arc->p = MIN(arc->c, arc->p + delta);
	} else {
		ASSERT3U(ghost, ==, ARC_MFU_GHOST);
		mult = mfu_g > 0 && mru_g > mfu_g ? mru_g / mfu_g : 1;
		delta = size * mult;
		arc->p = arc->p > delta ? arc->p - delta : 0;
	}
}

/* Forget the oldest entry of a ghost list. */
static void
arc_ghost_drop_tail(struct arc *arc, enum arc_state st)
{
	struct arc_hdr *h = TAILQ_LAST(&arc->lists[st], arc_list);
	ASSERT(h != NULL);
	arc_list_remove(arc, h);
	arc_hash_remove(arc, h);
	arc_hdr_free(h);
	counter_inc(&arc->stats.ghost_drops);
}

/*
 * Evict the least recent evictable record of MRU or MFU into its ghost
 * list.  Held records and records being filled are passed over.  Returns
 * false if the list has nothing evictable.
 */
static bool
arc_evict_one(struct arc *arc, enum arc_state st)
{
	ASSERT(st == ARC_MRU || st == ARC_MFU);
	struct arc_hdr *h = TAILQ_LAST(&arc->lists[st], arc_list);
	while (h != NULL && !arc_hdr_evictable(h)) {
		counter_inc(&arc->stats.evict_skip);
		h = TAILQ_PREV(h, arc_list, link);
	}
	if (h == NULL)
		return false;
	arc_list_remove(arc, h);
	counter_inc(st == ARC_MRU ? &arc->stats.evict_mru : &arc->stats.evict_mfu);
	if (h->data != NULL)
		counter_add(&arc->stats.evict_bytes, h->buf.size);
	recmem_free(arc->mem, h->data);
	h->data = NULL;
	h->buf.data = NULL;
	arc_list_insert_head(arc, h, st == ARC_MRU ? ARC_MRU_GHOST : ARC_MFU_GHOST);
	return true;
}

bool
arc_make_room(struct arc *arc, uint64_t need, bool in_mfu_ghost)
{
	while (arc->lsize[ARC_MRU] + arc->lsize[ARC_MFU] + need > arc->c) {
		uint64_t mru = arc->lsize[ARC_MRU];
		/* REPLACE: take from MRU when it is over its target p. */
		bool from_mru = mru > 0 && (mru > arc->p || (in_mfu_ghost && mru == arc->p));
		enum arc_state first = from_mru ? ARC_MRU : ARC_MFU;
		enum arc_state second = from_mru ? ARC_MFU : ARC_MRU;
		if (!arc_evict_one(arc, first) && !arc_evict_one(arc, second))
			return false;
	}
	return true;
}

void
arc_ghost_trim(struct arc *arc)
{
	uint64_t *ls = arc->lsize;

	/*
	 * The recency side (MRU + its ghost) never exceeds c.  When MRU alone
	 * fills the cache this forgets the record REPLACE just moved out of
	 * MRU: a one-time scan leaves no ghosts behind to skew p.
	 */
	while (ls[ARC_MRU] + ls[ARC_MRU_GHOST] > arc->c && arc->lcount[ARC_MRU_GHOST] > 0)
		arc_ghost_drop_tail(arc, ARC_MRU_GHOST);
	while (ls[ARC_MRU] + ls[ARC_MFU] + ls[ARC_MRU_GHOST] + ls[ARC_MFU_GHOST] > 2 * arc->c &&
	       arc->lcount[ARC_MFU_GHOST] > 0)
		arc_ghost_drop_tail(arc, ARC_MFU_GHOST);
	while (ls[ARC_MRU] + ls[ARC_MFU] + ls[ARC_MRU_GHOST] + ls[ARC_MFU_GHOST] > 2 * arc->c &&
	       arc->lcount[ARC_MRU_GHOST] > 0)
		arc_ghost_drop_tail(arc, ARC_MRU_GHOST);
}

void
arc_adjust(struct arc *arc)
{
	(void)arc_make_room(arc, 0, false);
	arc_ghost_trim(arc);
}

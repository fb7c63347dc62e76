/*
 * ARC internals shared by arc.c, arc_evict.c and arc_stats.c.  Nothing
 * outside those files includes this.
 *
 * Lock key: (c) constant after creation, (l) arc->lock.
 */
#ifndef VMSEND_OBJFS_ARC_IMPL_H
#define VMSEND_OBJFS_ARC_IMPL_H

#include "fs/objfs/arc.h"

#include <pthread.h>
#include <sys/queue.h>

struct arc_waiter {
	struct arc_waiter *next;
	arc_read_done_t *cb;
	void *cb_arg;
};

/*
 * One header per key the ARC knows: a cached record (MRU/MFU, with data),
 * a ghost (MRU_GHOST/MFU_GHOST, no data) or, after a failed fill or an
 * image eviction while held, an orphan (ANON) freed by its last release.
 */
struct arc_hdr {
	struct arc_buf buf;         /* (c after fill) what readers see */
	struct arc_key key;         /* (c) */
	struct arc *arc;            /* (c) */
	struct arc_hdr *hnext;      /* (l) hash chain */
	TAILQ_ENTRY(arc_hdr) link;  /* (l) in arc->lists[state] */
	void *data;                 /* (l) owned buffer; NULL for ghosts */
	uint64_t access_ns;         /* (l) first access since it last came in */
	struct arc_waiter *waiters; /* (l) async readers queued behind a fill */
	uint32_t holds;             /* (l) readers holding it (fill waiters included) */
	uint8_t state;              /* (l) enum arc_state */
	bool filling;               /* (l) a fill is under way */
	bool hashed;                /* (l) in the hash table */
	int error;                  /* (l) result of the last fill */
};

TAILQ_HEAD(arc_list, arc_hdr);

struct arc {
	pthread_mutex_t lock;
	pthread_cond_t fill_cv;             /* (l) broadcast when any fill ends */
	struct arc_list lists[ARC_NSTATES]; /* (l) head = most recent */
	uint64_t lsize[ARC_NSTATES];        /* (l) bytes per list */
	uint64_t lcount[ARC_NSTATES];       /* (l) headers per list */
	uint64_t c;                         /* (l) target size */
	uint64_t p;                         /* (l) target MRU size */
	uint64_t held_bytes;                /* (l) bytes of held records */
	struct arc_hdr **hash;              /* (l) */
	uint64_t hash_mask;                 /* (l) buckets - 1 */
	uint64_t hash_count;                /* (l) headers in the hash */
	uint64_t min_promote_ns;            /* (c) */
	bool nodata;                        /* (c) */
	struct recmem *mem;                 /* (c) record bytes; NULL when nodata */
	char *name;                         /* (c) */
	struct arc_stats stats;             /* (a) */
};

static inline bool
arc_hdr_evictable(const struct arc_hdr *h)
{
	return h->holds == 0 && !h->filling;
}

/* arc.c: hash and list primitives (lock held). */
void arc_hash_remove(struct arc *arc, struct arc_hdr *h);
void arc_list_remove(struct arc *arc, struct arc_hdr *h);
void arc_list_insert_head(struct arc *arc, struct arc_hdr *h, enum arc_state st);
void arc_hdr_free(struct arc_hdr *h);

/*
 * arc_evict.c (lock held).
 *
 * arc_make_room: evict (to the ghost lists) until `need` more bytes fit in
 * c, choosing the list as the paper's REPLACE does.  in_mfu_ghost: the
 * triggering miss was a hit in the MFU ghost list.  Returns false when held
 * records stopped it short.
 */
bool arc_make_room(struct arc *arc, uint64_t need, bool in_mfu_ghost);
/* Keep MRU + MRU ghost <= c and everything <= 2c by forgetting ghosts. */
void arc_ghost_trim(struct arc *arc);
/* After c shrank or a hold went: evict down to c as holds allow, then trim. */
void arc_adjust(struct arc *arc);
/* Ghost hits move p: toward MRU for an MRU-ghost hit, toward MFU otherwise. */
void arc_adapt(struct arc *arc, enum arc_state ghost, uint64_t size);

/*
 * arc_global.c: the registry's read functions for the global ARC's stats
 * (st->arg is an offset into struct arc_stats or struct arc_sizes), and the
 * same reads on any ARC, for arc_stats_foreach().
 */
vms_stat_read_t arc_stat_read_counter;
vms_stat_read_t arc_stat_read_size;
uint64_t arc_stat_counter(struct arc *arc, uintptr_t off);
uint64_t arc_stat_size(struct arc *arc, uintptr_t off);

#endif

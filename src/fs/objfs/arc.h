/*
 * The ARC: objfs's record cache (adaptive replacement, after Megiddo and
 * Modha, with the byte-sized lists and held-buffer rules of a ZFS-style
 * cache).  The theory is at the top of arc.c.
 *
 * The ARC knows nothing of the image format.  A record is named by an
 * arc_key (which image, where in it) and filled on a miss by the caller's
 * arc_fill_ops: the image side reads the stored bytes, verifies their
 * checksum and decompresses them into the buffer the ARC hands it.  That
 * keeps the cache unit-testable with a fake fill and lets the simulator
 * (arc_sim.c) drive the very same code.
 *
 * Holding.  arc_read*() returns a held buffer: its bytes stay put and the
 * record is never evicted until arc_buf_release().  A buffer is read-only.
 *
 * Concurrency.  One mutex per ARC guards every list, the hash and the sizes.
 * Fills and completion callbacks run without it.  Concurrent misses on one
 * key share one fill: the first reader starts it, the others queue behind
 * it and all get the same buffer (or the same error).  A failed fill is
 * never cached: the record leaves the hash before any waiter hears of it.
 *
 * Lock key: (c) constant after arc_create(), (l) the ARC's mutex, (a) atomic.
 */
#ifndef VMSEND_OBJFS_ARC_H
#define VMSEND_OBJFS_ARC_H

#include "core/stats.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

/*
 * A record's name: which image, where the record's stored bytes start, and
 * a fingerprint of the block pointer that names it (checksum word and
 * sizes), so that two block pointers claiming one location (a hostile
 * image) never share a record or skip each other's checksum.
 */
struct arc_key {
	uint64_t image_id; /* unique per open image */
	uint64_t offset;   /* byte offset of the stored record in the image */
	uint64_t tag;      /* fingerprint of the block pointer; 0 when unused */
};

struct arc;
struct arc_buf;

/* Completion of an async fill: 0 or a negative errno (-EIO for a bad checksum). */
typedef void arc_fill_done_t(void *done_arg, int error);

/*
 * How the owner of a key fills a record.  Both get `dst`, `size` bytes (NULL
 * in a no-data ARC, see arc_config), to fill with the record's logical
 * bytes.  `arg` is the per-read fill argument given to arc_read*(); it is
 * only guaranteed valid until the fill function returns (copy what an async
 * fill needs).
 */
struct arc_fill_ops {
	/* Fill now; 0 or -errno. */
	int (*fill_sync)(void *arg, const struct arc_key *key, void *dst, uint32_t size);
	/*
	 * Start a fill and call done(done_arg, error) exactly once, possibly
	 * before returning, possibly on another thread.  Optional: without it
	 * arc_read() runs fill_sync and completes at once.
	 */
	void (*fill_async)(void *arg, const struct arc_key *key, void *dst, uint32_t size,
			   arc_fill_done_t *done, void *done_arg);
};

/* Completion of arc_read(): a held buffer, or NULL and a negative errno. */
typedef void arc_read_done_t(void *cb_arg, struct arc_buf *buf, int error);

/* The buffer a reader holds. */
struct arc_buf {
	const void *data; /* (c) size bytes, NULL in a no-data ARC */
	uint32_t size;    /* (c) logical bytes */
};

enum arc_state { ARC_ANON = 0, ARC_MRU, ARC_MFU, ARC_MRU_GHOST, ARC_MFU_GHOST, ARC_NSTATES };

struct arc_stats {
	struct vms_counter hits;           /* read found the record cached */
	struct vms_counter misses;         /* read started a fill (ghost hits included) */
	struct vms_counter mru_hits;       /* hits in the MRU list */
	struct vms_counter mfu_hits;       /* hits in the MFU list */
	struct vms_counter mru_ghost_hits; /* misses found in the MRU ghost list */
	struct vms_counter mfu_ghost_hits; /* misses found in the MFU ghost list */
	struct vms_counter io_hits;        /* read joined a fill already under way */
	struct vms_counter evict_mru;      /* records evicted from MRU (bytes freed: evict_bytes) */
	struct vms_counter evict_mfu;      /* records evicted from MFU */
	struct vms_counter evict_bytes;    /* bytes of data freed by eviction */
	struct vms_counter evict_skip;     /* held records passed over by eviction */
	struct vms_counter ghost_drops;    /* ghost entries forgotten */
	struct vms_counter fill_errors;    /* fills that failed (never cached) */
	struct vms_counter promotions;     /* MRU -> MFU moves on a second access */
	struct vms_counter overflows;      /* reads that had to exceed c: everything held */
};

/* A consistent snapshot of the sizes (bytes) and the target split. */
struct arc_sizes {
	uint64_t c;             /* target size (the budget) */
	uint64_t p;             /* target size of MRU */
	uint64_t size;          /* MRU + MFU + records being filled */
	uint64_t mru, mfu;      /* bytes in each list (in-flight fills included) */
	uint64_t mru_ghost;     /* bytes the MRU ghost list remembers */
	uint64_t mfu_ghost;     /* bytes the MFU ghost list remembers */
	uint64_t held;          /* bytes of held records */
	uint64_t records;       /* records in MRU + MFU */
	uint64_t ghost_records; /* entries in the ghost lists */
	uint64_t mru_records;   /* records in MRU */
	uint64_t mfu_records;   /* records in MFU */
	/* record memory (recmem.h) */
	uint64_t mem_region;          /* bytes in its pre-faulted region */
	uint64_t mem_used;            /* region bytes allocated */
	uint64_t mem_fallback_live;   /* allocations outside the region, live */
	uint64_t mem_fallback_allocs; /* allocations outside the region, ever */
};

struct arc_config {
	uint64_t size;           /* c, bytes; at least one record always fits */
	uint64_t min_promote_ns; /* a second access sooner than this stays in MRU */
	bool nodata;             /* allocate no buffers (the simulator) */
	bool prefault;           /* fault the record memory in at create (recmem.h) */
	const char *name;        /* for logs and stats; copied */
};

/*
 * Create an ARC; NULL on memory exhaustion.  Unless nodata, record bytes
 * come from a recmem region of 9/8 c made now (pre-faulted if cfg->prefault);
 * what does not fit there (c grown by arc_set_size, overflow) is allocated
 * outside it and counted.
 */
struct arc *arc_create(const struct arc_config *cfg);
/* Destroy; no buffer may be held and no fill under way. */
void arc_destroy(struct arc *arc);
/* The record memory, for staging buffers of the fills (NULL when nodata). */
struct recmem *arc_recmem(struct arc *arc);

/*
 * The process-wide ARC that objfs mounts share.  Created on first use with
 * the "arc_size" tunable (0: a quarter of the page arena, or of the
 * "cache_size" tunable before vm_init()) and
 * "arc_min_promote_ms".  Never destroyed but by arc_global_fini() (tests).
 * NULL when it cannot be created (no memory); a later call tries again.
 */
struct arc *arc_global(void);
/* The global ARC if something created it, else NULL (metrics: no side effects). */
struct arc *arc_global_peek(void);
void arc_global_fini(void);

/*
 * Look `key` up, filling it on a miss with `ops` (fill_async if present),
 * and call cb(cb_arg, buf, error) exactly once with a held buffer or with
 * NULL and the fill's error.  cb may run before arc_read() returns, or on
 * the thread that completes the fill.  `size` is the record's logical size;
 * a reader passing another size than the cached record's gets -EIO.  Never
 * blocks on I/O.
 */
void arc_read(struct arc *arc, const struct arc_key *key, uint32_t size,
	      const struct arc_fill_ops *ops, void *fill_arg, arc_read_done_t *cb, void *cb_arg);

/*
 * The same, waiting: a miss runs ops->fill_sync on the calling thread; a
 * fill already under way elsewhere is waited for.  Returns 0 and a held
 * buffer in *bufp, or a negative errno.
 */
int arc_read_sync(struct arc *arc, const struct arc_key *key, uint32_t size,
		  const struct arc_fill_ops *ops, void *fill_arg, struct arc_buf **bufp);

/* Drop a hold; the record becomes evictable when its last hold goes. */
void arc_buf_release(struct arc *arc, struct arc_buf *buf);

/* Is key cached (in MRU or MFU, filled)?  No side effects on the lists. */
bool arc_cached(struct arc *arc, const struct arc_key *key);
/* Which list holds key now (ARC_ANON if none, or a fill is under way). */
enum arc_state arc_key_state(struct arc *arc, const struct arc_key *key);

/* Change c; shrinks the cache at once as far as holds allow. */
void arc_set_size(struct arc *arc, uint64_t bytes);
/* Forget every record of one image (unmount); held ones are left alone. */
void arc_evict_image(struct arc *arc, uint64_t image_id);

/* ---- arc_stats.c ---- */

struct arc_stats *arc_stats(struct arc *arc);
void arc_sizes(struct arc *arc, struct arc_sizes *out);
const char *arc_name(const struct arc *arc);
/*
 * cb(arg, name, value) for every counter and size, arcstats-style names
 * ("hits", "size").  The global ARC's are also in the stats registry as
 * "arc_hits", ... labelled arc="objfs".
 */
void arc_stats_foreach(struct arc *arc, void (*cb)(void *arg, const char *name, uint64_t value),
		       void *arg);
/* Zero the counters (tests, simulator). */
void arc_stats_reset(struct arc *arc);

#endif

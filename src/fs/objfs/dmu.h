/*
 * The objfs pager (the DMU side): how a vm_object of an objfs file gets its
 * pages, by copying out of ARC records rather than reading into pages.
 *
 *   haspage         from the block-pointer tree: a hole or a page past EOF
 *                   has no page; before/after are bounded by the record
 *   getpages        dmu_read_pages, waiting (for tools and plain threads)
 *   getpages_async  dmu_read_pages with ARC misses read through the calling
 *                   thread's io loop: it never blocks an event-loop thread
 *
 * objfs declares PAGER_CAP_BOGUS: a bogus_page slot inside ma[] is skipped
 * completely (pager.h rule 7) because the bytes come from a record already
 * in memory; there is no contiguous device read to sink them into.
 *
 * Lock key: (c) constant after creation, (a) atomic.
 */
#ifndef VMSEND_FS_OBJFS_DMU_H
#define VMSEND_FS_OBJFS_DMU_H

#include "core/stats.h"
#include "fs/objfs/arc.h"
#include "fs/objfs/format.h"
#include "pager/pager.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct objfs_image;

/*
 * One open image shared by a mount and every object made from it.  Vnodes
 * and objects may outlive the unmount; the image closes (and its records
 * leave the ARC) with the last reference.
 */
struct objfs_fs {
	struct objfs_image *img; /* (c) */
	struct arc *arc;         /* (c) the cache its records go through */
	uint64_t image_id;       /* (c) objfs_image_id(img) */
	_Atomic uint32_t refs;   /* (a) */
};

/*
 * Open `path` with one reference, caching through `arc` (NULL: arc_global()).
 * 0 or -errno with a one-line message in err (see objfs_image_open).
 */
int objfs_fs_open(const char *path, struct arc *arc, struct objfs_fs **out, char *err,
		  size_t errlen);
void objfs_fs_ref(struct objfs_fs *fs);
/* Drop a reference; the last closes the image and forgets its ARC records. */
void objfs_fs_rele(struct objfs_fs *fs);

/* The pager's private data of one object: a file's dnode in an image. */
struct objfs_node {
	struct objfs_fs *fs;   /* (c) referenced */
	struct objfs_dnode dn; /* (c) */
	/* Sequential detection (a hint, relaxed): the record after the last run, and how
	 * many records in a row ended there. */
	_Atomic uint64_t seq_next;
	_Atomic uint32_t seq_run;
};

/* The objfs pager: PAGER_CAP_BOGUS, skips bogus_page slots. */
extern const struct pager_ops objfs_pager_ops;
/*
 * The 2018 variant, for the incident reproduction and its tests only: no
 * PAGER_CAP_BOGUS, and its copy loop asserts exclusive busy on every entry
 * of ma[], bogus_page included, as the ZFS change of 2018 did.  With the
 * dispatch checks off (pager_contract_checks=0) and bogus_page in the array
 * it panics "vm_page_assert_xbusied: page ... not exclusive busy @ dmu.c".
 */
extern const struct pager_ops objfs_pager_2018_ops;

/*
 * A new object (one reference) for the file `dn` of `fs`, paged by `ops`
 * (NULL: objfs_pager_ops).  Takes a reference on fs.  NULL on memory
 * exhaustion or if dn is not a file.
 */
struct vm_object *dmu_object_create(struct objfs_fs *fs, const struct objfs_dnode *dn,
				    const char *name, const struct pager_ops *ops);

struct dmu_stats {
	struct vms_counter reads;          /* getpages calls */
	struct vms_counter async_reads;    /* of which getpages_async */
	struct vms_counter records_held;   /* ARC records held for a run */
	struct vms_counter records_direct; /* records read straight into a stream's pages */
	struct vms_counter holes;          /* hole records in a run (zero-filled) */
	struct vms_counter pages_filled;   /* real requested pages filled */
	struct vms_counter bogus_skipped;  /* bogus_page slots skipped (rule 7) */
	struct vms_counter eof_zeroed;     /* pages with bytes past EOF zeroed */
	struct vms_counter rbehind;        /* optional pages read behind a run */
	struct vms_counter rahead;         /* optional pages read ahead of a run */
	struct vms_counter errors;         /* runs that failed (EIO) */
};
extern struct dmu_stats dmu_stats;
/* Tunable objfs_stream_direct_after: see dmu.c, "streams bypass the ARC". */
extern int64_t objfs_stream_direct_after;
/* fn(arg, name, value, desc) for each dmu_stats counter (names: "dmu_reads", ...). */
void dmu_stats_foreach(vms_stat_named_fn_t *fn, void *arg);

#endif

/*
 * hostfs: a host directory as a vmsend file system.
 *
 * Lookup opens files with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
 * relative to the mount's root directory, so no name (symlink, "..", magic
 * link) leads outside it.  Each regular file version gets a vm_object whose
 * pager (below) reads with io_uring straight into arena pages: one read per
 * run, bogus_page slots aimed at the scratch sink, O_DIRECT when statx
 * STATX_DIOALIGN says page-aligned I/O is allowed.
 *
 * Pager-private data of an object (struct hostfs_node) is constant after
 * lookup (c) and is freed, with its file descriptor, by the dealloc op.
 */
#ifndef VMSEND_FS_HOSTFS_H
#define VMSEND_FS_HOSTFS_H

#include "core/stats.h"
#include "pager/pager.h"
#include "vfs/vfs.h"

#include <stdbool.h>
#include <stdint.h>

/* Register "hostfs" with the VFS (idempotent); call before vfs_mount(). */
void hostfs_register(void);

extern const struct vfsops hostfs_vfsops;
extern const struct pager_ops hostfs_pager_ops; /* caps: PAGER_CAP_BOGUS */

struct hostfs_node {
	int fd;             /* (c) O_RDONLY|O_CLOEXEC (|O_DIRECT when `direct`) */
	bool direct;        /* (c) reads bypass the host page cache */
	bool sparse;        /* (c) the file had a hole at lookup: haspage asks SEEK_DATA */
	uint32_t dio_align; /* (c) STATX_DIOALIGN offset alignment (0: unknown) */
};

/*
 * Tunables:
 *   hostfs_direct        1: O_DIRECT where STATX_DIOALIGN allows page I/O; 0: never
 *   hostfs_max_io_pages  pages one read may cover (haspage's before/after bound,
 *                        read-behind/ahead clamp)
 */
extern int64_t hostfs_direct;
extern int64_t hostfs_max_io_pages;

struct hostfs_stats {
	struct vms_counter ios;           /* page-in I/Os (one per getpages call that read) */
	struct vms_counter submits;       /* read SQEs, resubmissions of short reads included */
	struct vms_counter short_reads;   /* reads that returned less than asked before EOF */
	struct vms_counter pages_read;    /* real requested pages made valid */
	struct vms_counter bogus_slots;   /* bogus_page slots read into the sink */
	struct vms_counter rbehind_pages; /* optional pages read behind */
	struct vms_counter rahead_pages;  /* optional pages read ahead */
	struct vms_counter fixed_reads;   /* I/Os done as one READ_FIXED */
	struct vms_counter direct_reads;  /* I/Os on an O_DIRECT descriptor */
	struct vms_counter sync_reads;    /* I/Os done with preadv (no io_uring readv) */
	struct vms_counter errors;        /* I/Os that failed */
	struct vms_counter injected;      /* failures injected by hostfs_fail_nth_read() */
};
extern struct hostfs_stats hostfs_stats;

/*
 * Fault injection: the nth page-in I/O from now (1 = the next) completes
 * with `error` (a negative errno, e.g. -EIO) after its read really ran.
 * n == 0 disarms.  Process-wide.
 */
void hostfs_fail_nth_read(unsigned n, int error);

#endif

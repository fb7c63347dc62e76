/*
 * The dataset tools behind `vmsend rados put|fsck|gc` (docs/rados-format.md).
 * They run on a connection of their own (rfs_conn_open) and print progress
 * and results to `out`; errors are returned as -errno after a message on
 * stderr naming what failed.
 */
#ifndef VMSEND_FS_RADOSFS_TOOL_H
#define VMSEND_FS_RADOSFS_TOOL_H

#include "fs/radosfs/radosfs.h"

#include <stdio.h>

struct rfs_put_opts {
	uint32_t stripe_size; /* 0: keep the dataset's (RFS_STRIPE_DEFAULT for a new one) */
	uint32_t chunk_size;  /* 0: keep the dataset's (RFS_CHUNK_DEFAULT) */
	bool progress;        /* draw a progress bar on stderr */
	uint64_t notify_timeout_ms;
};

struct rfs_put_result {
	uint64_t version; /* published (or unchanged current) version */
	bool published;   /* false: nothing changed, nothing written */
	uint32_t files, dirs, files_sent, files_kept;
	uint64_t bytes_sent, objects_sent;
};

/*
 * Upload the tree DIR: files whose size and mtime match the current manifest
 * keep their objects; others get a new file id and new objects.  Then the new
 * manifest is written (kept copy first, then the current one) and watchers
 * are notified.  0 or -errno.
 */
int rfs_put(struct rfs_conn *c, const char *dir, const struct rfs_put_opts *o,
	    struct rfs_put_result *res, FILE *out);

/*
 * Verify every stored object of manifest `version` (0: current) against its
 * length, object checksum and chunk checksums; print one line per broken
 * object naming it.  Returns the number of broken objects, or -errno.
 */
int rfs_fsck(struct rfs_conn *c, uint64_t version, FILE *out);

/*
 * Remove objects no manifest among the newest `keep` versions (>= 1) names,
 * and older kept manifests.  Returns objects removed or -errno.
 */
int rfs_gc(struct rfs_conn *c, unsigned keep, FILE *out);

#endif

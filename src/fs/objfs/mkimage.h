/*
 * Building an objfs image from a host directory (`vmsend mkimage DIR IMAGE`).
 * Regular files and directories are packed; symlinks, devices, sockets and
 * FIFOs are skipped (counted, one warning each).
 */
#ifndef VMSEND_FS_OBJFS_MKIMAGE_H
#define VMSEND_FS_OBJFS_MKIMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct objfs_mkimage_opts {
	unsigned
	    rs_shift;   /* file record size, OBJFS_MIN_RS_SHIFT..OBJFS_MAX_RS_SHIFT; 0 = default */
	bool compress;  /* try LZ4 on every block (default true via objfs_mkimage_defaults) */
	FILE *progress; /* progress bar destination (a terminal), or NULL */
	uint64_t guid;  /* 0 = random */
};

struct objfs_mkimage_summary {
	uint64_t files, dirs, skipped;
	uint64_t bytes;        /* logical file bytes */
	uint64_t records;      /* file records, holes included */
	uint64_t holes;        /* file records that are all zero (no storage) */
	uint64_t hole_bytes;   /* their logical bytes */
	uint64_t compressed;   /* file records stored LZ4-compressed */
	uint64_t stored_bytes; /* physical bytes of file records */
	uint64_t meta_bytes;   /* physical bytes of everything else (dirs, dnodes, indirects) */
	uint64_t image_bytes;  /* total image size */
};

void objfs_mkimage_defaults(struct objfs_mkimage_opts *o);
/*
 * Pack `dir` into a new image at `image` (replaced if it exists; written to
 * "image.tmp" first and renamed, so a failure never leaves a half image under
 * the final name).  0 or -errno with a message in err.
 */
int objfs_mkimage(const char *dir, const char *image, const struct objfs_mkimage_opts *o,
		  struct objfs_mkimage_summary *sum, char *err, size_t errlen);

#endif

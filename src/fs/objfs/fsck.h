/*
 * fsck for objfs images: verify every checksum and every structure, name
 * every damaged file and offset.  Read-only; never repairs.
 */
#ifndef VMSEND_FS_OBJFS_FSCK_H
#define VMSEND_FS_OBJFS_FSCK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct objfs_fsck_result {
	uint64_t problems; /* damaged or inconsistent things found */
	uint64_t warnings; /* harmless oddities (empty ring slots, trailing bytes) */
	bool fatal;        /* the image could not be opened at all */
	uint64_t files, dirs;
	uint64_t blocks; /* blocks verified (records + indirects + dnode records) */
	uint64_t bytes;  /* their physical bytes */
};

/*
 * Check `path`, writing one line per problem to `out` (NULL: silent), e.g.
 *   "DAMAGED /a/b.bin: record 3 (file offset 393216..524287), image offset
 *    81920, 4096 bytes: checksum mismatch".
 * Returns 0 when the image is clean, 1 when problems were found, or a
 * negative errno for an internal failure (out of memory).
 */
int objfs_fsck(const char *path, FILE *out, struct objfs_fsck_result *res);

#endif

/*
 * Test helper: forge objfs images by hand, block by block, with correct
 * checksums around whatever nonsense a test wants inside.  This is how the
 * hostile-image tests reach the reader's structural checks: a byte flip only
 * ever trips a checksum.
 */
#ifndef VMSEND_TESTS_OBJFS_FORGE_H
#define VMSEND_TESTS_OBJFS_FORGE_H

#include "fs/objfs/format.h"

#include <stdint.h>

#define FORGE_MAX_OBJ 64

struct forge {
	int fd;
	uint64_t pos;
	uint64_t nobj; /* dnode slots, object 0 included */
	struct objfs_dnode dn[FORGE_MAX_OBJ];
};

void forge_init(struct forge *f, const char *path, uint64_t nobj);
/* Store `lsize` logical bytes uncompressed; returns the bp. */
struct objfs_bp forge_block(struct forge *f, const void *data, uint32_t lsize, uint8_t type,
			    uint8_t level);
/* Store arbitrary bytes claiming compression `comp` and logical size lsize. */
struct objfs_bp forge_raw(struct forge *f, const void *stored, uint32_t psize, uint32_t lsize,
			  uint8_t type, uint8_t level, uint8_t comp);
/* A one-record object (file or directory) from bytes; sets f->dn[objnum]. */
void forge_object(struct forge *f, uint64_t objnum, uint8_t type, const void *data, uint32_t size,
		  uint32_t nentries);
/* Append a directory entry (any order, any name) to a stream buffer; returns new length. */
size_t forge_dirent(char *buf, size_t len, uint64_t objnum, const char *name, size_t namelen,
		    uint8_t type);
/* Write the dnode array, the ring (4 slots), the header; close. */
void forge_finish(struct forge *f);

#endif

/*
 * Private to the image reader (image*.c, fsck.c): the image struct and the
 * small u64-keyed map it uses for its caches.
 *
 * Lock key: (c) constant after open, (m) img->mu, (a) atomic.
 */
#ifndef VMSEND_FS_OBJFS_IMAGE_IMPL_H
#define VMSEND_FS_OBJFS_IMAGE_IMPL_H

#include "fs/objfs/image.h"

#include <pthread.h>
#include <stdatomic.h>

struct objfs_mapent {
	uint64_t key;
	void *val;
	size_t len;
	uint8_t cksum[OBJFS_CKSUM_LEN]; /* meta cache: the checksum the bytes verified against */
	struct objfs_mapent *next;
};

struct objfs_map {
	struct objfs_mapent **b;
	size_t nb; /* power of two, or 0 before the first insert */
	size_t n;
};

extern int64_t objfs_meta_cache_max; /* tunable, image.c */
/* Fail points for tests (tunables, image.c): 0 = off. */
extern int64_t objfs_failpoint_read_nth;   /* the Nth block read of an image fails with EIO */
extern int64_t objfs_failpoint_short_read; /* every read(2) moves at most this many bytes */

struct objfs_mapent *objfs_map_find(const struct objfs_map *m, uint64_t key);
/* Insert (the key must not be present); false when out of memory. */
bool objfs_map_insert(struct objfs_map *m, struct objfs_mapent *e);
/* Free every entry and its val. */
void objfs_map_free(struct objfs_map *m);

/* A verified, parsed directory (image_dir.c); immutable once built. */
struct objfs_dir_ent {
	uint64_t objnum;
	const char *name; /* NUL-terminated, in names */
	uint16_t namelen;
	uint8_t type; /* enum objfs_otype */
};

struct objfs_dir {
	uint64_t objnum;
	uint32_t n;
	struct objfs_dir_ent *ents; /* sorted by name */
	char *names;
};

/* The largest direct-I/O alignment objfs copes with (staging buffers are 4 KiB aligned). */
#define OBJFS_DIO_MAX_ALIGN 4096u

struct objfs_image {
	int fd;                         /* (c) */
	int dfd;                        /* (c) the same file, O_DIRECT; -1: none */
	uint32_t dio_align;             /* (c) offsets, lengths and buffers of dfd reads */
	atomic_bool dio_refused;        /* (a) a direct read failed with EINVAL: buffered */
	char *path;                     /* (c) */
	uint64_t id;                    /* (c) */
	unsigned flags;                 /* (c) OBJFS_OPEN_* */
	struct objfs_header hdr;        /* (c) */
	struct objfs_uber ub;           /* (c) the uberblock in use */
	struct objfs_image_info info;   /* (c) */
	struct objfs_image_stats stats; /* (a) */
	_Atomic uint64_t block_reads;   /* (a) block reads started, for the fail point */
	pthread_mutex_t mu;             /* protects the maps */
	struct objfs_map meta;          /* (m) bp offset -> verified logical bytes; never evicted */
	size_t meta_bytes;              /* (m) */
	struct objfs_map dirs;          /* (m) objnum -> struct objfs_dir *; never evicted */
	struct objfs_map paths;         /* (m) objnum -> path seen by lookup */
};

/*
 * Verified logical bytes of a metadata block, from the cache or read and
 * cached.  *data stays valid until close unless *tofree is set, in which case
 * the caller frees it (cache full).  0 or -errno.
 */
int objfs_image_meta_get(struct objfs_image *img, const struct objfs_bp *bp, uint64_t objnum,
			 uint64_t blkid, const void **data, void **tofree);
/* Remember/recall the path of objnum for error messages ("" if unknown). */
void objfs_image_path_note(struct objfs_image *img, uint64_t objnum, const char *path);
void objfs_image_path_of(struct objfs_image *img, uint64_t objnum, char *buf, size_t len);
/* Verify a block's stored bytes and decode them into buf; logs and counts failures. */
int objfs_image_finish_block(struct objfs_image *img, const struct objfs_bp *bp, uint64_t objnum,
			     uint64_t blkid, const void *pbuf, void *buf);
/* Verify an uncompressed block read into pieces, in place; logs and counts a mismatch. */
int objfs_image_finish_scatter(struct objfs_image *img, const struct objfs_bp *bp, uint64_t objnum,
			       uint64_t blkid, const struct iovec *iov, int iovcnt);
/* Generic sanity of a bp given without context (the ARC's): bounds and sizes only. */
const char *objfs_image_bp_sane(const struct objfs_image *img, const struct objfs_bp *bp);
/* Is this block read the one the fail point fails?  Counts the read. */
bool objfs_image_failpoint_hit(struct objfs_image *img);
/* A read length the short-read fail point allows. */
size_t objfs_image_failpoint_len(size_t len);
/* Count an I/O error, log it (unless quiet) and return -EIO. */
int objfs_image_io_fail(struct objfs_image *img, const struct objfs_bp *bp, uint64_t objnum,
			uint64_t blkid, const char *what);
/* Log (unless quiet) a structural problem and return -EBADMSG. */
int objfs_image_bad(struct objfs_image *img, uint64_t objnum, const char *what, const char *why);
void objfs_dir_free(struct objfs_dir *d);
/*
 * The verified, parsed entries of directory dn: cached until close, or, when
 * the metadata budget is spent, returned in *tofree for the caller to free
 * with objfs_dir_free().  0, -ENOTDIR, -EIO, -EBADMSG (entries out of order,
 * bad names, bad object numbers, a stream that does not add up).
 */
int objfs_image_dir_get(struct objfs_image *img, const struct objfs_dnode *dn,
			const struct objfs_dir **out, struct objfs_dir **tofree);

#endif

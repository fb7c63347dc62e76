/*
 * Reading an objfs image: open and verify, walk directories and block-pointer
 * trees, read + verify + decompress one block, synchronously (pread) or
 * through the io layer (io_uring).  Read-only; the image never changes while
 * open.  The format is in format.h and docs/objfs-format.md.
 *
 * Trust: an image is hostile input.  Every offset, size, count, level and
 * name read from it is bounds-checked before use; a block whose checksum does
 * not match is never decoded, and a read that fails verification returns
 * -EIO (with the caller's buffer zeroed), counts it and logs one line naming
 * the image, the object (and its path when a lookup has seen it) and the
 * offset.  Wrong bytes are never returned.
 *
 * Metadata (indirect blocks, dnode records, directory streams) is cached in
 * memory once verified: it is small and the image is immutable.  File
 * records are not cached here; that is the ARC's job (arc.c).
 *
 * Threads: after objfs_image_open() returns, every call is thread-safe;
 * objfs_image_close() must not race any other call on the same image.
 *
 * Errors: 0 or a negative errno.  -EIO: checksum, decompression or I/O
 * failure (counted, logged); -ENOENT: no such name; -ENOTDIR / -EISDIR: wrong
 * type; -EINVAL: bad argument (object number, record index); -EBADMSG: a
 * structure that is checksummed correctly but makes no sense (a hostile or
 * buggy image; also logged).
 */
#ifndef VMSEND_FS_OBJFS_IMAGE_H
#define VMSEND_FS_OBJFS_IMAGE_H

#include "core/stats.h"
#include "fs/objfs/format.h"
#include "io/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/types.h>

struct objfs_image;

struct objfs_image_stats {
	struct vms_counter blocks_read;   /* blocks read from the image (sync + async) */
	struct vms_counter bytes_read;    /* physical bytes read */
	struct vms_counter bytes_logical; /* logical bytes produced */
	struct vms_counter async_reads;   /* of which through io_uring */
	struct vms_counter direct_reads;  /* io_uring reads (resumptions too) that were O_DIRECT */
	struct vms_counter staged_reads;  /* async blocks read via a staging buffer, direct */
	struct vms_counter holes;         /* hole blocks "read" (zero-filled, no I/O) */
	struct vms_counter cksum_errors;  /* checksum mismatches */
	struct vms_counter decompress_errors; /* LZ4 failures after a good checksum */
	struct vms_counter io_errors;         /* pread / CQE errors, short images */
	struct vms_counter meta_hits;         /* metadata served from the in-memory cache */
	struct vms_counter meta_misses;       /* metadata read from the image */
};

/* What open found; constant while open. */
struct objfs_image_info {
	uint64_t guid;       /* from the header */
	uint64_t image_size; /* bytes */
	uint64_t generation; /* of the uberblock in use */
	uint32_t uber_slot;  /* its ring slot */
	uint32_t uber_valid; /* how many ring slots verified */
	bool fell_back;      /* a newer uberblock was torn and an older one is in use */
	uint64_t nobjects;   /* dnode slots, object 0 included */
	uint64_t create_time;
	uint32_t version;   /* format version (format.h) */
	uint32_t dio_align; /* O_DIRECT alignment of the server's record reads; 0: buffered */
};

#define OBJFS_OPEN_QUIET 0x1 /* do not log open failures (tools print their own) */

/*
 * Open `path` read-only: read and check the header (magic, version, layout,
 * checksum), check that the file is as long as the header says, then choose
 * the uberblock with the highest generation whose checksum, fields and
 * dnode-array root verify, falling back to older generations (logged).
 *
 * Returns 0 and *out, or -errno with a one-line human message in `err`
 * (if errlen > 0), e.g. "img: not an objfs image (bad magic)":
 *   -EINVAL   bad magic
 *   -ENOTSUP  unsupported version
 *   -EIO      truncated (shorter than the header says) or unreadable
 *   -EBADMSG  header checksum / layout wrong, or no valid uberblock
 *   other     from open(2) / fstat(2)
 */
int objfs_image_open(const char *path, unsigned flags, struct objfs_image **out, char *err,
		     size_t errlen);
void objfs_image_close(struct objfs_image *img);

/* Unique per open image in this process (never reused): the ARC's key prefix. */
uint64_t objfs_image_id(const struct objfs_image *img);
/* The path it was opened with (for logs). */
const char *objfs_image_path(const struct objfs_image *img);
/*
 * Does that path now name another file than the one open: a new image moved
 * over it, or this one written again in place (its size or mtime moved)?
 * False when the path is gone or cannot be read: the open image still is.
 */
bool objfs_image_replaced(const struct objfs_image *img);
const struct objfs_image_info *objfs_image_info(const struct objfs_image *img);
/* The image's fd (read-only), for callers that issue their own I/O. */
int objfs_image_fd(const struct objfs_image *img);
/* Live counters; read with counter_get(). */
struct objfs_image_stats *objfs_image_stats(struct objfs_image *img);
/*
 * Testing: the next block read of `img` to start fails with EIO (sets the
 * objfs_failpoint_read_nth tunable, which counts reads per image).
 */
void objfs_image_fail_next_read(struct objfs_image *img);

/*
 * Read, verify and cache all metadata now (directories, dnodes, indirect
 * blocks; not file records) so that later lookups and objfs_image_bp() never
 * touch the disk: call it at mount, before an event loop uses the image.
 * Returns 0; -ENOSPC when the "objfs_meta_cache_max" budget ran out first
 * (what fitted is cached; the rest is read on demand); or the first error met
 * (-EIO, -EBADMSG: damaged metadata, which is then read, and fails, on demand).
 */
int objfs_image_preload(struct objfs_image *img);

/* The dnode of object `objnum`: 0, -EINVAL (out of range or free slot), -EIO, -EBADMSG. */
int objfs_image_dnode(struct objfs_image *img, uint64_t objnum, struct objfs_dnode *out);

/*
 * Look up a relative path ("" or "/" is the root; "a/b/c"; empty segments
 * and a leading '/' are ignored; "." and ".." are refused with -EINVAL).
 * Returns 0 and the dnode, -ENOENT, -ENOTDIR (a non-final component is a
 * file), -ENAMETOOLONG, -EIO, -EBADMSG.  Remembers the path of what it finds
 * so later error messages can name it.
 */
int objfs_image_lookup(struct objfs_image *img, const char *relpath, struct objfs_dnode *out);

/*
 * Call cb(arg, name, dnode) for each entry of directory `dir`, in name order.
 * A non-zero return from cb stops the walk and is returned.  0, -ENOTDIR,
 * -EIO, -EBADMSG.
 */
typedef int objfs_readdir_cb_t(void *arg, const char *name, const struct objfs_dnode *dn);
int objfs_image_readdir(struct objfs_image *img, const struct objfs_dnode *dir,
			objfs_readdir_cb_t *cb, void *arg);

/*
 * The block pointer of record `blkid` of `dn`, by walking its tree; every
 * indirect block is verified against the checksum in its parent and cached.
 * A hole (anywhere on the path) gives a hole bp with lsize set.
 * 0, -EINVAL (blkid past the last record), -EIO, -EBADMSG.
 */
int objfs_image_bp(struct objfs_image *img, const struct objfs_dnode *dn, uint64_t blkid,
		   struct objfs_bp *out);

/*
 * Read block `bp` into buf (bp->lsize bytes): read psize bytes, verify the
 * checksum, decompress.  A hole is zero-filled without I/O.  objnum and
 * blkid only name the block in the error log line.  0 or -EIO (buf zeroed),
 * -EBADMSG (bp fails objfs_bp_check).
 */
int objfs_image_read_bp(struct objfs_image *img, const struct objfs_bp *bp, uint64_t objnum,
			uint64_t blkid, void *buf);
/* objfs_image_bp() + objfs_image_read_bp(): returns the record's lsize (>= 0) or -errno. */
int objfs_image_read_record(struct objfs_image *img, const struct objfs_dnode *dn, uint64_t blkid,
			    void *buf);
/*
 * Read up to len bytes of a file at offset into buf (crossing records).
 * Returns bytes read (0 at or past EOF) or -errno; a convenience for tools
 * and tests, not the page path.
 */
ssize_t objfs_image_pread(struct objfs_image *img, const struct objfs_dnode *dn, void *buf,
			  size_t len, uint64_t offset);

/*
 * Asynchronous read of one block through the io layer.  The caller owns the
 * struct until done runs, fills the "in" fields and calls
 * objfs_image_read_async() on the thread that owns `loop`.  done(ar, error)
 * runs exactly once on that thread, with error 0 (buf holds bp.lsize
 * verified bytes) or -EIO / -EBADMSG (buf zeroed), or -ENOMEM; for a hole, a bad bp or -ENOMEM it
 * runs before objfs_image_read_async() returns.  Short reads are resumed.
 *
 * Where the image has a direct descriptor (objfs_direct), the read bypasses
 * the host page cache: straight into buf when the block is uncompressed and
 * buf, bp.offset and bp.psize are aligned (mkimage aligns large blocks),
 * else into a staging buffer covering the aligned range around the block.
 * A direct read the file system refuses (EINVAL) turns the image's reads
 * buffered, once, with a log line.
 */
struct objfs_aread;
typedef void objfs_aread_done_t(struct objfs_aread *ar, int error);
struct recmem;

struct objfs_aread {
	/* in */
	struct objfs_bp bp;
	uint64_t objnum; /* for the log line */
	uint64_t blkid;  /* for the log line */
	void *buf;       /* bp.lsize bytes; or NULL and: */
	/*
	 * Scatter: the block is read into iov[0..iovcnt) (bp.lsize bytes in
	 * all) and verified there, with no staging buffer and no copy.  Only
	 * for a block objfs_image_can_scatter() accepts.  On an error the
	 * pieces hold whatever was read: the caller must not use them.
	 */
	const struct iovec *iov;
	int iovcnt;
	struct recmem *mem; /* staging buffers come from here; NULL: aligned_alloc */
	objfs_aread_done_t *done;
	void *arg; /* for the caller */
	/* internal */
	struct io_req io_;
	struct objfs_image *img_;
	struct io_loop *loop_;
	char *pbuf_;         /* what is read: buf, or a staging buffer */
	uint64_t start_;     /* image offset of pbuf_[0] */
	uint32_t want_;      /* bytes of pbuf_ that must be read (the block ends there) */
	uint32_t cap_;       /* size of pbuf_ */
	uint32_t got_;       /* bytes of pbuf_ read so far */
	bool direct_;        /* the read in flight went to the direct descriptor */
	struct iovec *tail_; /* scatter: the pieces from got_ on, as submitted */
};

/*
 * Whether bp can be read by scatter into pieces of `piece` bytes each at
 * addresses aligned to `piece`: an uncompressed, non-hole block whose size
 * is a multiple of `piece`, placed so the direct descriptor (if any) can
 * read it without staging.
 */
bool objfs_image_can_scatter(const struct objfs_image *img, const struct objfs_bp *bp,
			     uint32_t piece);

void objfs_image_read_async(struct objfs_image *img, struct io_loop *loop, struct objfs_aread *ar);

#endif

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
	    rs_shift;  /* file record size, OBJFS_MIN_RS_SHIFT..OBJFS_MAX_RS_SHIFT; 0 = default */
	bool compress; /* try LZ4 on every block (default true via objfs_mkimage_defaults) */
	/*
	 * 0: LZ4's fast compressor.  1..OBJFS_MK_LEVEL_MAX: LZ4HC at that level
	 * for each block the fast one shrinks by 1/8 (the rest stay raw without
	 * paying for HC).  Same LZ4 block format, so readers do not care; HC
	 * output is smaller and decompresses faster, at a slower mkimage.
	 */
	int level;
	/* threads that compress and checksum records; 0 = one per online CPU */
	unsigned threads;
	FILE *progress;   /* progress bar destination (a terminal), or NULL */
	uint64_t guid;    /* 0 = random */
	uint64_t time;    /* creation time, seconds since the epoch; 0 = now */
	bool precompress; /* add FILE.gz/.zst/.br for text-like files (mkimage_precompress.c) */
};

#define OBJFS_MK_LEVEL_DEFAULT 4 /* text: 2.66x at ~4.2 GB/s decompression, fast: 2.09x at ~3.0 */
#define OBJFS_MK_LEVEL_MAX     12
#define OBJFS_MK_THREADS_MAX   16

struct objfs_mkimage_summary {
	uint64_t files, dirs, skipped;
	uint64_t bytes;        /* logical file bytes */
	uint64_t records;      /* file records, holes included */
	uint64_t holes;        /* file records that are all zero (no storage) */
	uint64_t hole_bytes;   /* their logical bytes */
	uint64_t compressed;   /* file records stored LZ4-compressed */
	uint64_t stored_bytes; /* physical bytes of file records */
	uint64_t meta_bytes;   /* physical bytes of everything else (dirs, dnodes, indirects) */
	uint64_t pad_bytes;    /* zero bytes that align large blocks (format.h) */
	uint64_t image_bytes;  /* total image size */
	uint64_t variants;     /* precompressed variants added (counted in files and bytes too) */
};

void objfs_mkimage_defaults(struct objfs_mkimage_opts *o);
/*
 * Pack `dir` into a new image at `image` (replaced if it exists; written to
 * "image.tmp" first and renamed, so a failure never leaves a half image under
 * the final name).  0 or -errno with a message in err.
 */
int objfs_mkimage(const char *dir, const char *image, const struct objfs_mkimage_opts *o,
		  struct objfs_mkimage_summary *sum, char *err, size_t errlen);

/*
 * Precompressed variants.  A variant gets the source file's mtime, so a
 * server that wants it "not older than FILE" takes it; a FILE.gz (etc.)
 * already in the directory is packed as it is, never replaced.
 */
enum objfs_precomp {
	OBJFS_PRECOMP_NONE,
	OBJFS_PRECOMP_GZIP,
	OBJFS_PRECOMP_ZSTD,
	OBJFS_PRECOMP_BROTLI,
	OBJFS_PRECOMP_N
};
#define OBJFS_PRECOMP_MAX (64ull << 20) /* larger files get no variants (compressed in memory) */
extern const char *const objfs_precomp_ext[OBJFS_PRECOMP_N];
/* Does a file of this name and size get variants (text-like, 256 B .. OBJFS_PRECOMP_MAX)? */
bool objfs_precompress_wanted(const char *name, uint64_t size);
/* Compress in[0..len) as gzip, zstd or brotli into a new buffer *out.  0 or -errno. */
int objfs_precompress(enum objfs_precomp kind, const void *in, size_t len, void **out,
		      size_t *outlen);

#endif

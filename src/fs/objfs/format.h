/*
 * The objfs on-disk format (docs/objfs-format.md tells the whole story).
 *
 *   offset 0      header (256 B): magic, version, guid, image size, layout
 *   offset 256    uberblock ring: OBJFS_UBER_SLOTS x 256 B, each with a
 *                 generation and its own checksum; the newest valid wins
 *   offset 1280   blocks, back to back, no gaps: data records, directory
 *                 records, dnode records, indirect blocks
 *   image_size    end (the header records it; a shorter file is truncated)
 *
 *   uberblock --bp--> meta-dnode tree --> dnode array (object table)
 *   dnode     --bp--> indirect blocks --bp--> records (file bytes or dir entries)
 *
 * Every block is named by a block pointer (bp) in its parent, which holds its
 * offset, logical and physical size, compression and the XXH3-128 checksum of
 * its stored bytes; the header and each uberblock carry their own checksum.
 * So every byte of an image is covered by exactly one checksum.
 *
 * All integers are little-endian.  The structs below are the exact byte
 * layout; fields hold little-endian values and are read and written only
 * through the objfs_*_decode / objfs_*_encode helpers (format.c), never
 * directly, so the code also works on a big-endian host.
 */
#ifndef VMSEND_FS_OBJFS_FORMAT_H
#define VMSEND_FS_OBJFS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define OBJFS_MAGIC    "VMSOBJFS"            /* 8 bytes, no NUL */
#define OBJFS_UB_MAGIC 0x004255534a424f56ull /* "VOBJSUB\0" as a LE u64 */
/*
 * Version 2 lets blocks of OBJFS_ALIGN_MIN_PSIZE or more start on an
 * OBJFS_ALIGN boundary, after up to OBJFS_ALIGN - 1 zero bytes of padding
 * (so they can be read with O_DIRECT straight into the ARC); version 1
 * images have no padding and read the same.
 */
#define OBJFS_VERSION         2u
#define OBJFS_VERSION_MIN     1u
#define OBJFS_ALIGN           4096u
#define OBJFS_ALIGN_MIN_PSIZE (32u << 10)
#define OBJFS_HEADER_SIZE     256u
#define OBJFS_UBER_SIZE       256u
#define OBJFS_UBER_SLOTS      4u
#define OBJFS_UBER_OFFSET     OBJFS_HEADER_SIZE
#define OBJFS_DATA_START      (OBJFS_UBER_OFFSET + OBJFS_UBER_SLOTS * OBJFS_UBER_SIZE) /* 1280 */

#define OBJFS_CKSUM_LEN 16 /* XXH3_128bits, low 64 bits first, each LE */

/* Records: a power of two from 4 KiB to 1 MiB, per object. */
#define OBJFS_MIN_RS_SHIFT     12
#define OBJFS_MAX_RS_SHIFT     20
#define OBJFS_DEFAULT_RS_SHIFT 17 /* 128 KiB */
#define OBJFS_META_RS_SHIFT    14 /* dnode array and directories: 16 KiB records */

/* Indirect blocks: OBJFS_IND_BPS block pointers each. */
#define OBJFS_IND_SHIFT 7
#define OBJFS_IND_BPS   (1u << OBJFS_IND_SHIFT)
#define OBJFS_IND_SIZE  (OBJFS_IND_BPS * 48u) /* 6144 */
/* Levels of a block tree: 1 = the dnode's bp names the only record. */
#define OBJFS_MAX_LEVELS 6

#define OBJFS_NAME_MAX    255
#define OBJFS_DIR_MAX     (64u << 20)  /* largest directory entry stream a reader accepts */
#define OBJFS_ROOT_OBJ    1            /* object 0 is never used */
#define OBJFS_MAX_OBJECTS (1ull << 31) /* dnode slots a reader accepts */

enum objfs_comp {
	OBJFS_COMP_OFF = 0,
	OBJFS_COMP_LZ4 = 1,
};

/* What a block holds (bp.type); lets fsck name what it found broken. */
enum objfs_btype {
	OBJFS_BT_NONE = 0,
	OBJFS_BT_DATA = 1,     /* file record */
	OBJFS_BT_DIR = 2,      /* directory record */
	OBJFS_BT_DNODE = 3,    /* record of the dnode array */
	OBJFS_BT_INDIRECT = 4, /* array of OBJFS_IND_BPS bps */
};

#define OBJFS_BPF_HOLE 0x01 /* all-zero logical content; no storage, offset/psize/cksum 0 */

/* Object types (dnode.type, dirent.type). */
enum objfs_otype {
	OBJFS_OT_NONE = 0, /* free dnode slot */
	OBJFS_OT_FILE = 1,
	OBJFS_OT_DIR = 2,
	OBJFS_OT_META = 3, /* the dnode array itself (only in the uberblock) */
};

/* 48 bytes. */
struct objfs_disk_bp {
	uint64_t offset;                /* byte offset of the stored block in the image */
	uint32_t lsize;                 /* logical (decompressed) size */
	uint32_t psize;                 /* physical (stored) size */
	uint8_t comp;                   /* enum objfs_comp */
	uint8_t type;                   /* enum objfs_btype */
	uint8_t level;                  /* 0 = record, n = indirect n levels above records */
	uint8_t flags;                  /* OBJFS_BPF_* */
	uint32_t reserved;              /* 0 */
	uint64_t birth;                 /* generation that wrote the block */
	uint8_t cksum[OBJFS_CKSUM_LEN]; /* XXH3-128 of the psize stored bytes */
};
_Static_assert(sizeof(struct objfs_disk_bp) == 48, "objfs bp is 48 bytes");
_Static_assert(OBJFS_IND_SIZE == OBJFS_IND_BPS * sizeof(struct objfs_disk_bp), "indirect size");

/* 128 bytes; an object (file, directory, or the dnode array). */
struct objfs_disk_dnode {
	uint8_t type;      /* enum objfs_otype */
	uint8_t nlevels;   /* 1..OBJFS_MAX_LEVELS */
	uint8_t rs_shift;  /* record size = 1 << rs_shift */
	uint8_t flags;     /* 0 */
	uint32_t mode;     /* permission bits (07777) */
	uint64_t size;     /* bytes; for a directory the size of its entry stream */
	int64_t mtime_sec; /* modification time */
	uint32_t mtime_nsec;
	uint32_t nentries;          /* directory: number of entries; else 0 */
	struct objfs_disk_bp root;  /* root of the block tree */
	uint8_t reserved[128 - 80]; /* 0 */
};
_Static_assert(sizeof(struct objfs_disk_dnode) == 128, "objfs dnode is 128 bytes");
#define OBJFS_DNODES_PER_RECORD ((1u << OBJFS_META_RS_SHIFT) / 128u)

/* 256 bytes at offset 0. */
struct objfs_disk_header {
	char magic[8];                   /* OBJFS_MAGIC */
	uint32_t version;                /* OBJFS_VERSION */
	uint32_t header_size;            /* OBJFS_HEADER_SIZE */
	uint64_t guid;                   /* random, chosen by mkimage */
	uint64_t image_size;             /* total bytes of the image */
	uint64_t uber_offset;            /* OBJFS_UBER_OFFSET */
	uint32_t uber_slots;             /* OBJFS_UBER_SLOTS */
	uint32_t uber_size;              /* OBJFS_UBER_SIZE */
	uint64_t data_start;             /* OBJFS_DATA_START */
	uint64_t create_time;            /* seconds since the epoch */
	uint8_t reserved[256 - 64 - 16]; /* 0 */
	uint8_t cksum[OBJFS_CKSUM_LEN];  /* XXH3-128 of bytes [0, 240) */
};
_Static_assert(sizeof(struct objfs_disk_header) == OBJFS_HEADER_SIZE, "header is 256 bytes");
_Static_assert(offsetof(struct objfs_disk_header, cksum) == 240, "header cksum at 240");

/* 256 bytes per ring slot; an all-zero slot is empty. */
struct objfs_disk_uber {
	uint64_t magic;                   /* OBJFS_UB_MAGIC */
	uint32_t version;                 /* OBJFS_VERSION */
	uint32_t slot;                    /* index in the ring (catches a misplaced copy) */
	uint64_t generation;              /* highest valid wins */
	uint64_t guid;                    /* == header guid */
	uint64_t timestamp;               /* seconds since the epoch */
	uint64_t nobjects;                /* dnode slots in the dnode array (object 0 included) */
	struct objfs_disk_dnode meta;     /* the dnode array as an object */
	uint8_t reserved[256 - 176 - 16]; /* 0 */
	uint8_t cksum[OBJFS_CKSUM_LEN];   /* XXH3-128 of bytes [0, 240) */
};
_Static_assert(sizeof(struct objfs_disk_uber) == OBJFS_UBER_SIZE, "uberblock is 256 bytes");
_Static_assert(offsetof(struct objfs_disk_uber, meta) == 48, "uber meta at 48");
_Static_assert(offsetof(struct objfs_disk_uber, cksum) == 240, "uber cksum at 240");

/*
 * A directory's content is a stream of entries sorted by name (bytewise),
 * each a 16-byte head followed by namelen name bytes (no NUL), padded with
 * zeros to a multiple of 8.  The stream is cut into records like file bytes,
 * so an entry may straddle two records.  Names hold no '/' and no NUL and are
 * not "." or "..".
 */
struct objfs_disk_dirent {
	uint64_t objnum;
	uint16_t namelen; /* 1..OBJFS_NAME_MAX */
	uint8_t type;     /* enum objfs_otype of the target */
	uint8_t reserved[5];
};
_Static_assert(sizeof(struct objfs_disk_dirent) == 16, "dirent head is 16 bytes");
#define OBJFS_DIRENT_SIZE(namelen) ((16u + (unsigned)(namelen) + 7u) & ~7u)

/* The order of directory entries: bytewise, a prefix first. */
static inline int
objfs_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* ---- In-memory (host-endian) forms and the codecs (format.c). ---- */

struct objfs_bp {
	uint64_t offset;
	uint32_t lsize;
	uint32_t psize;
	uint8_t comp;  /* enum objfs_comp */
	uint8_t type;  /* enum objfs_btype */
	uint8_t level; /* 0 = record */
	uint8_t flags; /* OBJFS_BPF_* */
	uint64_t birth;
	uint8_t cksum[OBJFS_CKSUM_LEN];
};

static inline bool
objfs_bp_is_hole(const struct objfs_bp *bp)
{
	return (bp->flags & OBJFS_BPF_HOLE) != 0;
}

struct objfs_dnode {
	uint64_t objnum; /* not on disk: where it was found */
	uint8_t type;    /* enum objfs_otype */
	uint8_t nlevels;
	uint8_t rs_shift;
	uint32_t mode;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t nentries;
	struct objfs_bp root;
};

struct objfs_header {
	uint32_t version;
	uint64_t guid;
	uint64_t image_size;
	uint64_t uber_offset;
	uint32_t uber_slots;
	uint32_t uber_size;
	uint64_t data_start;
	uint64_t create_time;
};

struct objfs_uber {
	uint32_t version;
	uint32_t slot;
	uint64_t generation;
	uint64_t guid;
	uint64_t timestamp;
	uint64_t nobjects;
	struct objfs_dnode meta;
};

/* The block type of an object's records. */
static inline uint8_t
objfs_dnode_data_btype(const struct objfs_dnode *dn)
{
	return dn->type == OBJFS_OT_DIR    ? OBJFS_BT_DIR
	       : dn->type == OBJFS_OT_META ? OBJFS_BT_DNODE
					   : OBJFS_BT_DATA;
}

/* XXH3-128 of buf, in on-disk byte order. */
void objfs_cksum(const void *buf, size_t len, uint8_t out[OBJFS_CKSUM_LEN]);
/* The same checksum of the bytes of iov[0..iovcnt) taken in order; 0 or -ENOMEM. */
int objfs_cksum_iov(const struct iovec *iov, int iovcnt, uint8_t out[OBJFS_CKSUM_LEN]);
bool objfs_cksum_equal(const uint8_t a[OBJFS_CKSUM_LEN], const uint8_t b[OBJFS_CKSUM_LEN]);

void objfs_bp_encode(const struct objfs_bp *bp, struct objfs_disk_bp *d);
void objfs_bp_decode(const struct objfs_disk_bp *d, struct objfs_bp *bp);
void objfs_dnode_encode(const struct objfs_dnode *dn, struct objfs_disk_dnode *d);
void objfs_dnode_decode(const struct objfs_disk_dnode *d, uint64_t objnum, struct objfs_dnode *dn);
/* Encode and seal (compute the checksum over bytes [0, 240)). */
void objfs_header_encode(const struct objfs_header *h, struct objfs_disk_header *d);
/* Decode; -EINVAL bad magic, -ENOTSUP other version, -EBADMSG checksum or layout. */
int objfs_header_decode(const struct objfs_disk_header *d, struct objfs_header *h);
void objfs_uber_encode(const struct objfs_uber *u, struct objfs_disk_uber *d);
/* Decode; -ENOENT for an all-zero (empty) slot, -EBADMSG torn/invalid. */
int objfs_uber_decode(const struct objfs_disk_uber *d, struct objfs_uber *u);

/*
 * Sanity of a decoded bp for its place in a tree (expected type, level and
 * logical size); checks sizes and bounds against image_size and data_start.
 * Returns NULL if sane, else a short reason for messages.
 */
const char *objfs_bp_check(const struct objfs_bp *bp, uint8_t type, uint8_t level, uint32_t lsize,
			   uint64_t data_start, uint64_t image_size);
/* Sanity of a decoded dnode (type, levels, record size, tree big enough for size); NULL if sane. */
const char *objfs_dnode_check(const struct objfs_dnode *dn);

/* Records of an object and the logical size of record blkid (the last is short). */
static inline uint64_t
objfs_dnode_nrecords(const struct objfs_dnode *dn)
{
	uint64_t rs = 1ull << dn->rs_shift;
	return (dn->size + rs - 1) >> dn->rs_shift;
}

static inline uint32_t
objfs_dnode_record_lsize(const struct objfs_dnode *dn, uint64_t blkid)
{
	uint64_t rs = 1ull << dn->rs_shift, off = blkid << dn->rs_shift;
	if (off >= dn->size)
		return 0;
	return (uint32_t)(dn->size - off < rs ? dn->size - off : rs);
}

#endif

/*
 * The RADOS dataset layout (docs/rados-format.md is its home): files striped
 * into immutable objects, a versioned manifest naming every object and its
 * checksums.  This header is shared by the pager, the tools and the tests;
 * it knows no librados.
 *
 *   object "<fileid:016x>.<stripe:08x>"    stripe_size bytes of one file
 *                                           version (the last one shorter)
 *   object "vmsend.manifest"                the current manifest (write_full)
 *   object "vmsend.manifest.<ver:016x>"     every published manifest, kept
 *                                           for gc and for readers of old versions
 *
 * Checksums: XXH3-64 of each stored object, and XXH3-64 of each chunk
 * (chunk_size bytes; the object's last chunk may be shorter) inside it, so
 * the pager verifies what it reads chunk by chunk before any page becomes
 * valid.  A chunk whose checksum equals that of zeros of its length is a
 * hole: never read, zero-filled by the caller.  An object all of whose
 * chunks are holes is not stored at all.
 */
#ifndef VMSEND_FS_RADOSFS_FORMAT_H
#define VMSEND_FS_RADOSFS_FORMAT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RFS_MANIFEST_OID      "vmsend.manifest"
#define RFS_MAGIC             "VMSRADOS"
#define RFS_FORMAT            1
#define RFS_STRIPE_DEFAULT    (4u << 20)
#define RFS_CHUNK_DEFAULT     (64u << 10)
#define RFS_OID_MAX           48
#define RFS_MANIFEST_MAX_SIZE (1ull << 30)

enum rfs_type { RFS_T_FILE = 1, RFS_T_DIR = 2 };

struct rfs_object {
	uint64_t hash;       /* XXH3-64 of the stored bytes */
	uint32_t len;        /* stored bytes: stripe_size, or less for the file's last */
	uint32_t nchunks;    /* howmany(len, chunk_size) */
	bool stored;         /* false: every chunk is a hole, the object does not exist */
	uint64_t *chunk_sum; /* nchunks XXH3-64 values (into the manifest's arrays) */
};

struct rfs_entry {
	char *path; /* "" for the root, "a/b" otherwise; sorted by strcmp */
	enum rfs_type type;
	uint32_t mode; /* permission bits */
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t fileid; /* files: names the objects; new for every new version */
	uint32_t nobjects;
	struct rfs_object *objects;
};

/*
 * A decoded manifest: immutable once published (c), shared by reference
 * between a mount's current state and every vnode made from it.
 */
struct rfs_manifest {
	_Atomic uint32_t refs; /* (a) */
	uint64_t version;      /* (c) 1, 2, ...: one per put that changed something */
	uint32_t stripe_size;  /* (c) bytes per object */
	uint32_t chunk_size;   /* (c) bytes per checksummed chunk; divides stripe_size */
	uint64_t created_sec;  /* (c) */
	uint32_t nentries;     /* (c) */
	struct rfs_entry *entries;
	uint64_t *sums; /* every chunk checksum, one allocation */
};

/* Object name of stripe `stripe` of file version `fileid` (buf: RFS_OID_MAX). */
void rfs_object_name(char *buf, uint64_t fileid, uint32_t stripe);
/* Name of the kept copy of manifest version `version` (buf: RFS_OID_MAX). */
void rfs_manifest_name(char *buf, uint64_t version);

/* XXH3-64 of `len` zero bytes (the hole checksum), cached per length. */
uint64_t rfs_zero_sum(uint32_t len);
/* Is chunk `c` of object `o` of a manifest with chunk size `chunk` a hole? */
bool rfs_chunk_is_hole(const struct rfs_object *o, uint32_t c, uint32_t chunk);
/* Bytes in chunk `c` of `o`. */
uint32_t rfs_chunk_len(const struct rfs_object *o, uint32_t c, uint32_t chunk);

/*
 * Decode `len` bytes into a manifest with one reference.  0, or -EBADMSG
 * with a reason in err (errsz bytes) for anything malformed: bad magic,
 * format, checksum, sizes that do not add up, unsorted or unsafe paths.
 */
int rfs_manifest_decode(const void *buf, size_t len, struct rfs_manifest **out, char *err,
			size_t errsz);
/* Encode; *out is malloc'd.  0 or -ENOMEM. */
int rfs_manifest_encode(const struct rfs_manifest *m, void **out, size_t *outlen);

void rfs_manifest_ref(struct rfs_manifest *m);
void rfs_manifest_rele(struct rfs_manifest *m);

/* The entry for a cleaned path ("" = root), or NULL. */
const struct rfs_entry *rfs_manifest_find(const struct rfs_manifest *m, const char *path);
/*
 * Children of directory `dir` (cleaned path): calls cb for each direct
 * child's last path component; stops at a nonzero return and returns it.
 */
int rfs_manifest_children(const struct rfs_manifest *m, const char *dir,
			  int (*cb)(void *arg, const char *name, const struct rfs_entry *e),
			  void *arg);

#endif

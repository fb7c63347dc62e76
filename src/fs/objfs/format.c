/*
 * Codecs between the on-disk structs of format.h (little-endian bytes) and
 * their host-endian in-memory forms, the checksum, and the sanity checks a
 * reader applies to every decoded bp and dnode before trusting it.
 *
 * Decoding goes through memcpy + leNNtoh so that a struct read from any
 * offset of a buffer is never accessed misaligned and a big-endian host reads
 * the same image.
 */
#include "fs/objfs/format.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <xxhash.h>

static void
cksum_put(XXH128_hash_t h, uint8_t out[OBJFS_CKSUM_LEN])
{
	uint64_t lo = htole64(h.low64), hi = htole64(h.high64);
	memcpy(out, &lo, 8);
	memcpy(out + 8, &hi, 8);
}

void
objfs_cksum(const void *buf, size_t len, uint8_t out[OBJFS_CKSUM_LEN])
{
	cksum_put(XXH3_128bits(buf, len), out);
}

int
objfs_cksum_iov(const struct iovec *iov, int iovcnt, uint8_t out[OBJFS_CKSUM_LEN])
{
	/* The state's layout is private to the library's version: it allocates it. */
	XXH3_state_t *st = XXH3_createState();
	if (st == NULL)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	for (int i = 0; i < iovcnt; i++)
		XXH3_128bits_update(st, iov[i].iov_base, iov[i].iov_len);
	cksum_put(XXH3_128bits_digest(st), out);
	XXH3_freeState(st);
	return 0;
}

bool
objfs_cksum_equal(const uint8_t a[OBJFS_CKSUM_LEN], const uint8_t b[OBJFS_CKSUM_LEN])
{
	return memcmp(a, b, OBJFS_CKSUM_LEN) == 0;
}

void
objfs_bp_encode(const struct objfs_bp *bp, struct objfs_disk_bp *d)
{
	memset(d, 0, sizeof(*d));
	d->offset = htole64(bp->offset);
	d->lsize = htole32(bp->lsize);
	d->psize = htole32(bp->psize);
	d->comp = bp->comp;
	d->type = bp->type;
	d->level = bp->level;
	d->flags = bp->flags;
	d->birth = htole64(bp->birth);
	memcpy(d->cksum, bp->cksum, OBJFS_CKSUM_LEN);
}

void
objfs_bp_decode(const struct objfs_disk_bp *dp, struct objfs_bp *bp)
{
	struct objfs_disk_bp d;
	memcpy(&d, dp, sizeof(d));
	bp->offset = le64toh(d.offset);
	bp->lsize = le32toh(d.lsize);
	bp->psize = le32toh(d.psize);
	bp->comp = d.comp;
	bp->type = d.type;
	bp->level = d.level;
	bp->flags = d.flags;
	bp->birth = le64toh(d.birth);
	memcpy(bp->cksum, d.cksum, OBJFS_CKSUM_LEN);
}

void
objfs_dnode_encode(const struct objfs_dnode *dn, struct objfs_disk_dnode *d)
{
	memset(d, 0, sizeof(*d));
	d->type = dn->type;
	d->nlevels = dn->nlevels;
	d->rs_shift = dn->rs_shift;
	d->mode = htole32(dn->mode);
	d->size = htole64(dn->size);
	d->mtime_sec = (int64_t)htole64((uint64_t)dn->mtime_sec);
	d->mtime_nsec = htole32(dn->mtime_nsec);
	d->nentries = htole32(dn->nentries);
	objfs_bp_encode(&dn->root, &d->root);
}

void
objfs_dnode_decode(const struct objfs_disk_dnode *dp, uint64_t objnum, struct objfs_dnode *dn)
{
	struct objfs_disk_dnode d;
	memcpy(&d, dp, sizeof(d));
	memset(dn, 0, sizeof(*dn));
	dn->objnum = objnum;
	dn->type = d.type;
	dn->nlevels = d.nlevels;
	dn->rs_shift = d.rs_shift;
	dn->mode = le32toh(d.mode);
	dn->size = le64toh(d.size);
	dn->mtime_sec = (int64_t)le64toh((uint64_t)d.mtime_sec);
	dn->mtime_nsec = le32toh(d.mtime_nsec);
	dn->nentries = le32toh(d.nentries);
	objfs_bp_decode(&d.root, &dn->root);
}

void
objfs_header_encode(const struct objfs_header *h, struct objfs_disk_header *d)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->magic, OBJFS_MAGIC, 8);
	d->version = htole32(h->version);
	d->header_size = htole32(OBJFS_HEADER_SIZE);
	d->guid = htole64(h->guid);
	d->image_size = htole64(h->image_size);
	d->uber_offset = htole64(h->uber_offset);
	d->uber_slots = htole32(h->uber_slots);
	d->uber_size = htole32(h->uber_size);
	d->data_start = htole64(h->data_start);
	d->create_time = htole64(h->create_time);
	objfs_cksum(d, offsetof(struct objfs_disk_header, cksum), d->cksum);
}

static bool
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

int
objfs_header_decode(const struct objfs_disk_header *dp, struct objfs_header *h)
{
	struct objfs_disk_header d;
	uint8_t ck[OBJFS_CKSUM_LEN];

	memcpy(&d, dp, sizeof(d));
	if (memcmp(d.magic, OBJFS_MAGIC, 8) != 0)
		return -EINVAL;
	/* Version before checksum: a future version may checksum differently. */
	h->version = le32toh(d.version);
	if (h->version < OBJFS_VERSION_MIN || h->version > OBJFS_VERSION)
		return -ENOTSUP;
	objfs_cksum(&d, offsetof(struct objfs_disk_header, cksum), ck);
	if (!objfs_cksum_equal(ck, d.cksum))
		return -EBADMSG;
	h->guid = le64toh(d.guid);
	h->image_size = le64toh(d.image_size);
	h->uber_offset = le64toh(d.uber_offset);
	h->uber_slots = le32toh(d.uber_slots);
	h->uber_size = le32toh(d.uber_size);
	h->data_start = le64toh(d.data_start);
	h->create_time = le64toh(d.create_time);
	/* Version 1 has exactly one layout; anything else is not ours. */
	if (le32toh(d.header_size) != OBJFS_HEADER_SIZE || h->uber_offset != OBJFS_UBER_OFFSET ||
	    h->uber_slots != OBJFS_UBER_SLOTS || h->uber_size != OBJFS_UBER_SIZE ||
	    h->data_start != OBJFS_DATA_START || h->image_size < OBJFS_DATA_START ||
	    !all_zero(d.reserved, sizeof(d.reserved)))
		return -EBADMSG;
	return 0;
}

void
objfs_uber_encode(const struct objfs_uber *u, struct objfs_disk_uber *d)
{
	memset(d, 0, sizeof(*d));
	d->magic = htole64(OBJFS_UB_MAGIC);
	d->version = htole32(u->version);
	d->slot = htole32(u->slot);
	d->generation = htole64(u->generation);
	d->guid = htole64(u->guid);
	d->timestamp = htole64(u->timestamp);
	d->nobjects = htole64(u->nobjects);
	objfs_dnode_encode(&u->meta, &d->meta);
	objfs_cksum(d, offsetof(struct objfs_disk_uber, cksum), d->cksum);
}

int
objfs_uber_decode(const struct objfs_disk_uber *dp, struct objfs_uber *u)
{
	struct objfs_disk_uber d;
	uint8_t ck[OBJFS_CKSUM_LEN];

	memcpy(&d, dp, sizeof(d));
	if (all_zero(&d, sizeof(d)))
		return -ENOENT;
	objfs_cksum(&d, offsetof(struct objfs_disk_uber, cksum), ck);
	if (!objfs_cksum_equal(ck, d.cksum) || le64toh(d.magic) != OBJFS_UB_MAGIC)
		return -EBADMSG;
	u->version = le32toh(d.version);
	u->slot = le32toh(d.slot);
	u->generation = le64toh(d.generation);
	u->guid = le64toh(d.guid);
	u->timestamp = le64toh(d.timestamp);
	u->nobjects = le64toh(d.nobjects);
	objfs_dnode_decode(&d.meta, 0, &u->meta);
	if (u->version < OBJFS_VERSION_MIN || u->version > OBJFS_VERSION ||
	    !all_zero(d.reserved, sizeof(d.reserved)))
		return -EBADMSG;
	return 0;
}

const char *
objfs_bp_check(const struct objfs_bp *bp, uint8_t type, uint8_t level, uint32_t lsize,
	       uint64_t data_start, uint64_t image_size)
{
	if (bp->level != level)
		return "wrong level";
	if (bp->lsize != lsize)
		return "wrong logical size";
	if (bp->flags & ~OBJFS_BPF_HOLE)
		return "unknown flags";
	if (bp->flags & OBJFS_BPF_HOLE) {
		/* A hole carries no location, so nothing in it can point anywhere. */
		if (bp->offset != 0 || bp->psize != 0 || bp->comp != OBJFS_COMP_OFF)
			return "hole with storage";
		return NULL;
	}
	if (bp->type != type)
		return "wrong block type";
	if (bp->comp == OBJFS_COMP_OFF) {
		if (bp->psize != bp->lsize)
			return "uncompressed block with psize != lsize";
	} else if (bp->comp == OBJFS_COMP_LZ4) {
		/* mkimage keeps compression only when it saves at least 1/8. */
		if (bp->psize == 0 || bp->psize > bp->lsize - bp->lsize / 8)
			return "compressed block too large";
	} else {
		return "unknown compression";
	}
	if (bp->psize == 0)
		return "empty block";
	if (bp->offset < data_start || bp->offset > image_size ||
	    bp->psize > image_size - bp->offset)
		return "block outside the image";
	return NULL;
}

const char *
objfs_dnode_check(const struct objfs_dnode *dn)
{
	if (dn->type != OBJFS_OT_FILE && dn->type != OBJFS_OT_DIR && dn->type != OBJFS_OT_META)
		return "bad object type";
	if (dn->rs_shift < OBJFS_MIN_RS_SHIFT || dn->rs_shift > OBJFS_MAX_RS_SHIFT)
		return "bad record size";
	if (dn->nlevels < 1 || dn->nlevels > OBJFS_MAX_LEVELS)
		return "bad tree depth";
	if ((dn->type == OBJFS_OT_DIR || dn->type == OBJFS_OT_META) &&
	    dn->rs_shift != OBJFS_META_RS_SHIFT)
		return "bad metadata record size";
	if (dn->type == OBJFS_OT_DIR && dn->size > OBJFS_DIR_MAX)
		return "directory too large";
	if (dn->type != OBJFS_OT_DIR && dn->nentries != 0)
		return "entries on a non-directory";
	if (dn->mode & ~07777u)
		return "bad mode";
	if (dn->size > (1ull << 62))
		return "size too large";
	/* The tree must be deep enough for the records, and no deeper than needed. */
	uint64_t nrec = objfs_dnode_nrecords(dn);
	uint64_t cap = 1;
	for (int l = 1; l < dn->nlevels; l++)
		cap <<= OBJFS_IND_SHIFT;
	if (nrec > cap)
		return "tree too shallow for size";
	if (dn->nlevels > 1 && nrec <= (cap >> OBJFS_IND_SHIFT))
		return "tree deeper than needed";
	if (dn->mtime_nsec >= 1000000000u)
		return "bad mtime";
	return NULL;
}

/*
 * The objfs image reader: open, choose an uberblock, walk block-pointer
 * trees, read and verify blocks.
 *
 * Theory.  An image is a tree of checksums.  The header and each uberblock
 * check themselves; everything else is checked by the bp that names it:
 *
 *   header (self)     ring: uber[0..3] (self, generation)
 *                            |
 *                            | meta dnode: bp -> indirects -> dnode records
 *                            v
 *                     dnode[n]: bp -> indirects -> records
 *
 * So a reader that starts from a verified uberblock and verifies each block
 * against its parent's bp before decoding it reads only bytes mkimage wrote,
 * or fails.  Opening picks the highest-generation uberblock that verifies
 * *and* whose dnode array and root directory verify; a torn newest root
 * block therefore falls back to the previous generation instead of failing.
 *
 * Every value taken from a decoded block is checked before use
 * (objfs_bp_check, objfs_dnode_check, the directory parser): a checksum
 * proves that bytes are what mkimage wrote, not that mkimage (or whoever
 * forged the image) was sane.
 */
#include "fs/objfs/image_impl.h"

#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

VMS_TUNABLE(objfs_meta_cache_max, "objfs_meta_cache_max", 64 << 20,
	    "bytes of verified objfs metadata (indirect blocks, dnodes) kept per image");

VMS_TUNABLE(
    objfs_direct, "objfs_direct", 1,
    "1: the server's record reads use O_DIRECT where statx STATX_DIOALIGN allows it; 0: never");
VMS_TUNABLE(objfs_failpoint_read_nth, "objfs_failpoint_read_nth", 0,
	    "testing: fail the Nth block read of each objfs image with EIO (0 = off)");
VMS_TUNABLE(objfs_failpoint_short_read, "objfs_failpoint_short_read", 0,
	    "testing: move at most this many bytes per objfs image read (0 = off)");

static _Atomic uint64_t objfs_image_next_id = 1;

/* ---- a tiny chained hash map keyed by u64 ---- */

static size_t
map_slot(uint64_t key, size_t nb)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & (nb - 1);
}

struct objfs_mapent *
objfs_map_find(const struct objfs_map *m, uint64_t key)
{
	if (m->nb == 0)
		return NULL;
	for (struct objfs_mapent *e = m->b[map_slot(key, m->nb)]; e != NULL; e = e->next)
		if (e->key == key)
			return e;
	return NULL;
}

bool
objfs_map_insert(struct objfs_map *m, struct objfs_mapent *e)
{
	if (m->n + 1 > m->nb) {
		size_t nb = m->nb ? m->nb * 2 : 64;
		struct objfs_mapent **b = calloc(nb, sizeof(*b));
		if (b == NULL)
			return false;
		for (size_t i = 0; i < m->nb; i++) {
			struct objfs_mapent *x, *next;
			for (x = m->b[i]; x != NULL; x = next) {
				next = x->next;
				size_t s = map_slot(x->key, nb);
				x->next = b[s];
				b[s] = x;
			}
		}
		free(m->b);
		m->b = b;
		m->nb = nb;
	}
	size_t s = map_slot(e->key, m->nb);
	e->next = m->b[s];
	m->b[s] = e;
	m->n++;
	return true;
}

void
objfs_map_free(struct objfs_map *m)
{
	for (size_t i = 0; i < m->nb; i++) {
		struct objfs_mapent *x, *next;
		for (x = m->b[i]; x != NULL; x = next) {
			next = x->next;
			free(x->val);
			free(x);
		}
	}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

/* ---- errors ---- */

static __attribute__((format(printf, 3, 4))) void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
objfs_image_bad(struct objfs_image *img, uint64_t objnum, const char *what, const char *why)
{
	if (!(img->flags & OBJFS_OPEN_QUIET)) {
		char path[256];
		objfs_image_path_of(img, objnum, path, sizeof(path));
		LOG_ERR("objfs", "%s: object %llu%s%s%s: bad %s: %s (damaged or forged image)",
			img->path, (unsigned long long)objnum, path[0] ? " (" : "", path,
			path[0] ? ")" : "", what, why);
	}
	return -EBADMSG;
}

static int
block_fail(struct objfs_image *img, struct vms_counter *c, const struct objfs_bp *bp,
	   uint64_t objnum, uint64_t blkid, const char *what)
{
	counter_inc(c);
	if (!(img->flags & OBJFS_OPEN_QUIET)) {
		char path[256];
		objfs_image_path_of(img, objnum, path, sizeof(path));
		LOG_ERR("objfs",
			"%s: %s in object %llu%s%s%s %s %llu (level %u), image offset %llu, %u "
			"bytes: EIO",
			img->path, what, (unsigned long long)objnum, path[0] ? " (" : "", path,
			path[0] ? ")" : "", bp->level ? "indirect block" : "record",
			(unsigned long long)blkid, bp->level, (unsigned long long)bp->offset,
			bp->psize);
	}
	return -EIO;
}

/* ---- paths for messages ---- */

void
objfs_image_path_note(struct objfs_image *img, uint64_t objnum, const char *path)
{
	pthread_mutex_lock(&img->mu);
	/* Bounded: names are for messages, not worth unbounded memory. */
	if (objfs_map_find(&img->paths, objnum) == NULL && img->paths.n < 65536) {
		struct objfs_mapent *e = calloc(1, sizeof(*e));
		char *p = strdup(path);
		if (e != NULL && p != NULL) {
			e->key = objnum;
			e->val = p;
			if (objfs_map_insert(&img->paths, e))
				e = NULL, p = NULL;
		}
		free(e);
		free(p);
	}
	pthread_mutex_unlock(&img->mu);
}

void
objfs_image_path_of(struct objfs_image *img, uint64_t objnum, char *buf, size_t len)
{
	buf[0] = '\0';
	if (objnum == OBJFS_ROOT_OBJ) {
		snprintf(buf, len, "/");
		return;
	}
	pthread_mutex_lock(&img->mu);
	struct objfs_mapent *e = objfs_map_find(&img->paths, objnum);
	if (e != NULL)
		snprintf(buf, len, "/%s", (const char *)e->val);
	pthread_mutex_unlock(&img->mu);
}

/* ---- reading and verifying blocks ---- */

const char *
objfs_image_bp_sane(const struct objfs_image *img, const struct objfs_bp *bp)
{
	uint32_t maxl = 1u << OBJFS_MAX_RS_SHIFT;
	if (bp->lsize == 0 || bp->lsize > maxl)
		return "bad logical size";
	if (bp->level > OBJFS_MAX_LEVELS - 1)
		return "bad level";
	if (bp->level > 0 && bp->lsize != OBJFS_IND_SIZE)
		return "bad indirect size";
	uint8_t type = bp->level > 0 ? OBJFS_BT_INDIRECT : bp->type;
	if (bp->level == 0 && type != OBJFS_BT_DATA && type != OBJFS_BT_DIR &&
	    type != OBJFS_BT_DNODE && !objfs_bp_is_hole(bp))
		return "bad block type";
	return objfs_bp_check(bp, type, bp->level, bp->lsize, img->hdr.data_start,
			      img->hdr.image_size);
}

int
objfs_image_finish_block(struct objfs_image *img, const struct objfs_bp *bp, uint64_t objnum,
			 uint64_t blkid, const void *pbuf, void *buf)
{
	uint8_t ck[OBJFS_CKSUM_LEN];

	objfs_cksum(pbuf, bp->psize, ck);
	if (!objfs_cksum_equal(ck, bp->cksum)) {
		memset(buf, 0, bp->lsize);
		return block_fail(img, &img->stats.cksum_errors, bp, objnum, blkid,
				  "checksum mismatch");
	}
	if (bp->comp == OBJFS_COMP_LZ4) {
		int n = LZ4_decompress_safe(pbuf, buf, (int)bp->psize, (int)bp->lsize);
		if (n != (int)bp->lsize) {
			memset(buf, 0, bp->lsize);
			return block_fail(img, &img->stats.decompress_errors, bp, objnum, blkid,
					  "LZ4 decompression failed");
		}
	} else if (pbuf != buf) {
		memcpy(buf, pbuf, bp->lsize);
	}
	counter_add(&img->stats.bytes_logical, bp->lsize);
	return 0;
}

int
objfs_image_finish_scatter(struct objfs_image *img, const struct objfs_bp *bp, uint64_t objnum,
			   uint64_t blkid, const struct iovec *iov, int iovcnt)
{
	uint8_t ck[OBJFS_CKSUM_LEN];

	if (objfs_cksum_iov(iov, iovcnt, ck) != 0)
		return -ENOMEM;
	if (!objfs_cksum_equal(ck, bp->cksum))
		return block_fail(img, &img->stats.cksum_errors, bp, objnum, blkid,
				  "checksum mismatch");
	counter_add(&img->stats.bytes_logical, bp->lsize);
	return 0;
}

bool
objfs_image_failpoint_hit(struct objfs_image *img)
{
	uint64_t n = atomic_fetch_add_explicit(&img->block_reads, 1, memory_order_relaxed) + 1;
	int64_t nth = objfs_failpoint_read_nth;
	return nth > 0 && n == (uint64_t)nth;
}

void
objfs_image_fail_next_read(struct objfs_image *img)
{
	objfs_failpoint_read_nth =
	    (int64_t)atomic_load_explicit(&img->block_reads, memory_order_relaxed) + 1;
}

size_t
objfs_image_failpoint_len(size_t len)
{
	int64_t cap = objfs_failpoint_short_read;
	return cap > 0 && (uint64_t)cap < len ? (size_t)cap : len;
}

int
objfs_image_io_fail(struct objfs_image *img, const struct objfs_bp *bp, uint64_t objnum,
		    uint64_t blkid, const char *what)
{
	return block_fail(img, &img->stats.io_errors, bp, objnum, blkid, what);
}

static int
pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, objfs_image_failpoint_len(len - got),
				  (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		got += (size_t)n;
	}
	return 0;
}

int
objfs_image_read_bp(struct objfs_image *img, const struct objfs_bp *bp, uint64_t objnum,
		    uint64_t blkid, void *buf)
{
	const char *why = objfs_image_bp_sane(img, bp);
	if (why != NULL) {
		if (bp->lsize > 0 && bp->lsize <= (1u << OBJFS_MAX_RS_SHIFT))
			memset(buf, 0, bp->lsize);
		return objfs_image_bad(img, objnum, "block pointer", why);
	}
	if (objfs_bp_is_hole(bp)) {
		counter_inc(&img->stats.holes);
		memset(buf, 0, bp->lsize);
		return 0;
	}
	void *pbuf = buf;
	if (bp->comp != OBJFS_COMP_OFF && (pbuf = malloc(bp->psize)) == NULL)
		return -ENOMEM;
	int rc = objfs_image_failpoint_hit(img) ? -EIO
						: pread_full(img->fd, pbuf, bp->psize, bp->offset);
	if (rc == 0) {
		counter_inc(&img->stats.blocks_read);
		counter_add(&img->stats.bytes_read, bp->psize);
		rc = objfs_image_finish_block(img, bp, objnum, blkid, pbuf, buf);
	} else {
		memset(buf, 0, bp->lsize);
		rc = block_fail(img, &img->stats.io_errors, bp, objnum, blkid,
				rc == -ENODATA ? "image ends early" : "read error");
	}
	if (pbuf != buf)
		free(pbuf);
	return rc;
}

int
objfs_image_meta_get(struct objfs_image *img, const struct objfs_bp *bp, uint64_t objnum,
		     uint64_t blkid, const void **data, void **tofree)
{
	*data = NULL;
	*tofree = NULL;
	pthread_mutex_lock(&img->mu);
	struct objfs_mapent *e = objfs_map_find(&img->meta, bp->offset);
	/* Keyed by offset, but only a block that verified against this very
	 * checksum counts: a forged image may name one offset twice. */
	if (e != NULL && e->len == bp->lsize && objfs_cksum_equal(e->cksum, bp->cksum)) {
		*data = e->val;
		pthread_mutex_unlock(&img->mu);
		counter_inc(&img->stats.meta_hits);
		return 0;
	}
	pthread_mutex_unlock(&img->mu);
	counter_inc(&img->stats.meta_misses);

	void *buf = malloc(bp->lsize ? bp->lsize : 1);
	if (buf == NULL)
		return -ENOMEM;
	int rc = objfs_image_read_bp(img, bp, objnum, blkid, buf);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	if (objfs_bp_is_hole(bp)) {
		*data = buf;
		*tofree = buf;
		return 0;
	}
	pthread_mutex_lock(&img->mu);
	e = objfs_map_find(&img->meta, bp->offset);
	if (e == NULL && img->meta_bytes + bp->lsize <= (uint64_t)objfs_meta_cache_max) {
		struct objfs_mapent *ne = calloc(1, sizeof(*ne));
		if (ne != NULL) {
			ne->key = bp->offset;
			ne->val = buf;
			ne->len = bp->lsize;
			memcpy(ne->cksum, bp->cksum, OBJFS_CKSUM_LEN);
			if (objfs_map_insert(&img->meta, ne)) {
				img->meta_bytes += bp->lsize;
				pthread_mutex_unlock(&img->mu);
				*data = buf;
				return 0;
			}
			free(ne);
		}
	}
	pthread_mutex_unlock(&img->mu);
	*data = buf;
	*tofree = buf;
	return 0;
}

/* ---- block-pointer trees ---- */

static struct objfs_bp
hole_bp(const struct objfs_dnode *dn, uint64_t blkid)
{
	struct objfs_bp h = {.lsize = objfs_dnode_record_lsize(dn, blkid),
			     .type = objfs_dnode_data_btype(dn),
			     .flags = OBJFS_BPF_HOLE};
	return h;
}

int
objfs_image_bp(struct objfs_image *img, const struct objfs_dnode *dn, uint64_t blkid,
	       struct objfs_bp *out)
{
	const char *why = objfs_dnode_check(dn);
	if (why != NULL)
		return objfs_image_bad(img, dn->objnum, "dnode", why);
	if (blkid >= objfs_dnode_nrecords(dn))
		return -EINVAL;

	struct objfs_bp bp = dn->root;
	unsigned level = dn->nlevels - 1u;
	uint8_t dtype = objfs_dnode_data_btype(dn);
	for (;;) {
		why = objfs_bp_check(&bp, level ? OBJFS_BT_INDIRECT : dtype, (uint8_t)level,
				     level ? OBJFS_IND_SIZE : objfs_dnode_record_lsize(dn, blkid),
				     img->hdr.data_start, img->hdr.image_size);
		if (why != NULL)
			return objfs_image_bad(img, dn->objnum, "block pointer", why);
		if (level == 0) {
			*out = bp;
			return 0;
		}
		if (objfs_bp_is_hole(&bp)) {
			/* A hole indirect block: everything below it is a hole. */
			*out = hole_bp(dn, blkid);
			return 0;
		}
		const void *ind;
		void *tofree;
		uint64_t first = blkid >> (OBJFS_IND_SHIFT * level);
		int rc = objfs_image_meta_get(img, &bp, dn->objnum, first, &ind, &tofree);
		if (rc != 0)
			return rc;
		unsigned idx = (blkid >> (OBJFS_IND_SHIFT * (level - 1))) & (OBJFS_IND_BPS - 1);
		objfs_bp_decode((const struct objfs_disk_bp *)ind + idx, &bp);
		free(tofree);
		level--;
	}
}

int
objfs_image_read_record(struct objfs_image *img, const struct objfs_dnode *dn, uint64_t blkid,
			void *buf)
{
	struct objfs_bp bp;
	int rc = objfs_image_bp(img, dn, blkid, &bp);
	if (rc != 0)
		return rc;
	rc = objfs_image_read_bp(img, &bp, dn->objnum, blkid, buf);
	return rc != 0 ? rc : (int)bp.lsize;
}

ssize_t
objfs_image_pread(struct objfs_image *img, const struct objfs_dnode *dn, void *buf, size_t len,
		  uint64_t offset)
{
	const char *why = objfs_dnode_check(dn);
	if (why != NULL)
		return objfs_image_bad(img, dn->objnum, "dnode", why);
	if (offset >= dn->size || len == 0)
		return 0;
	if (len > dn->size - offset)
		len = dn->size - offset;
	uint64_t rs = 1ull << dn->rs_shift;
	char *rec = malloc(rs);
	if (rec == NULL)
		return -ENOMEM;
	size_t done = 0;
	while (done < len) {
		uint64_t off = offset + done, blkid = off >> dn->rs_shift;
		int n = objfs_image_read_record(img, dn, blkid, rec);
		if (n < 0) {
			free(rec);
			return n;
		}
		size_t in = off & (rs - 1), take = MIN((size_t)n - in, len - done);
		memcpy((char *)buf + done, rec + in, take);
		done += take;
	}
	free(rec);
	return (ssize_t)done;
}

int
objfs_image_dnode(struct objfs_image *img, uint64_t objnum, struct objfs_dnode *out)
{
	if (objnum == 0 || objnum >= img->ub.nobjects)
		return -EINVAL;
	uint64_t rec = objnum / OBJFS_DNODES_PER_RECORD;
	struct objfs_bp bp;
	int rc = objfs_image_bp(img, &img->ub.meta, rec, &bp);
	if (rc != 0)
		return rc;
	const void *data;
	void *tofree;
	rc = objfs_image_meta_get(img, &bp, 0, rec, &data, &tofree);
	if (rc != 0)
		return rc;
	const struct objfs_disk_dnode *d = data;
	objfs_dnode_decode(d + objnum % OBJFS_DNODES_PER_RECORD, objnum, out);
	free(tofree);
	if (out->type == OBJFS_OT_NONE)
		return -EINVAL;
	const char *why =
	    out->type == OBJFS_OT_META ? "dnode array inside itself" : objfs_dnode_check(out);
	if (why != NULL)
		return objfs_image_bad(img, objnum, "dnode", why);
	return 0;
}

/* ---- open / close ---- */

/*
 * Is this uberblock usable: sane fields, a dnode array that reads, a root
 * directory?  Running out of memory says nothing about the uberblock: that
 * sets *error (-ENOMEM) rather than condemn it and fall back to an older one.
 */
static const char *
uber_usable(struct objfs_image *img, const struct objfs_uber *u, unsigned slot, int *error)
{
	if (u->slot != slot)
		return "slot number does not match its place in the ring";
	if (u->guid != img->hdr.guid)
		return "belongs to another image (guid)";
	if (u->meta.type != OBJFS_OT_META || objfs_dnode_check(&u->meta) != NULL)
		return "bad dnode array";
	if (u->nobjects < 2 || u->nobjects > OBJFS_MAX_OBJECTS ||
	    u->meta.size != u->nobjects * sizeof(struct objfs_disk_dnode))
		return "bad object count";
	img->ub = *u;
	struct objfs_dnode root;
	int rc = objfs_image_dnode(img, OBJFS_ROOT_OBJ, &root);
	if (rc == -ENOMEM) {
		*error = rc;
		return "out of memory";
	}
	if (rc != 0)
		return "its dnode array does not verify";
	if (root.type != OBJFS_OT_DIR)
		return "root is not a directory";
	return NULL;
}

static int
choose_uber(struct objfs_image *img, char *err, size_t errlen)
{
	struct objfs_disk_uber ring[OBJFS_UBER_SLOTS];
	struct objfs_uber u[OBJFS_UBER_SLOTS];
	bool ok[OBJFS_UBER_SLOTS];
	unsigned torn = 0, valid = 0;

	int rc = pread_full(img->fd, ring, sizeof(ring), img->hdr.uber_offset);
	if (rc != 0) {
		seterr(err, errlen, "%s: cannot read the uberblock ring: %s", img->path,
		       strerror(-rc));
		return -EIO;
	}
	for (unsigned i = 0; i < OBJFS_UBER_SLOTS; i++) {
		rc = objfs_uber_decode(&ring[i], &u[i]);
		ok[i] = rc == 0;
		valid += ok[i];
		if (rc == -EBADMSG) {
			torn++;
			if (!(img->flags & OBJFS_OPEN_QUIET))
				LOG_WARN("objfs",
					 "%s: uberblock slot %u is torn (checksum mismatch)",
					 img->path, i);
		}
	}
	bool fell_back = torn > 0;
	for (;;) {
		int best = -1;
		for (unsigned i = 0; i < OBJFS_UBER_SLOTS; i++)
			if (ok[i] && (best < 0 || u[i].generation > u[best].generation))
				best = (int)i;
		if (best < 0)
			break;
		int error = 0;
		const char *why = uber_usable(img, &u[best], (unsigned)best, &error);
		if (error != 0) {
			seterr(err, errlen, "%s: %s", img->path, why);
			return error;
		}
		if (why == NULL) {
			img->info.generation = u[best].generation;
			img->info.uber_slot = (unsigned)best;
			img->info.uber_valid = valid;
			img->info.fell_back = fell_back;
			img->info.nobjects = u[best].nobjects;
			if (fell_back && !(img->flags & OBJFS_OPEN_QUIET))
				LOG_WARN("objfs", "%s: using uberblock generation %llu (slot %d)",
					 img->path, (unsigned long long)u[best].generation, best);
			return 0;
		}
		if (!(img->flags & OBJFS_OPEN_QUIET))
			LOG_WARN("objfs",
				 "%s: uberblock slot %d (generation %llu) unusable: %s; trying an "
				 "older one",
				 img->path, best, (unsigned long long)u[best].generation, why);
		ok[best] = false;
		fell_back = true;
	}
	seterr(err, errlen,
	       "%s: no valid uberblock (%u of %u slots torn): the image is damaged beyond use; "
	       "make it again with 'vmsend mkimage'",
	       img->path, torn, OBJFS_UBER_SLOTS);
	return -EBADMSG;
}

/*
 * The second descriptor, opened O_DIRECT, for the server's record reads (the
 * ARC is the cache; the host's page cache would hold every record twice, and
 * copying through it costs more than the read).  Only where statx says
 * direct I/O works with alignments that divide 4 KiB, and only if the path
 * still names the file we opened.  Best effort: without it reads stay
 * buffered.
 */
static void
open_direct(struct objfs_image *img, const struct stat *st)
{
	struct statx stx;
	if (objfs_direct == 0 || statx(img->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0 ||
	    !(stx.stx_mask & STATX_DIOALIGN) || stx.stx_dio_mem_align == 0 ||
	    stx.stx_dio_offset_align == 0 || OBJFS_DIO_MAX_ALIGN % stx.stx_dio_mem_align != 0 ||
	    OBJFS_DIO_MAX_ALIGN % stx.stx_dio_offset_align != 0)
		return;
	int fd = open(img->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	struct stat dst;
	if (fd < 0)
		return;
	if (fstat(fd, &dst) != 0 || dst.st_dev != st->st_dev || dst.st_ino != st->st_ino) {
		close(fd);
		return;
	}
	img->dfd = fd;
	img->dio_align = MAX(stx.stx_dio_mem_align, stx.stx_dio_offset_align);
	img->info.dio_align = img->dio_align;
}

int
objfs_image_open(const char *path, unsigned flags, struct objfs_image **out, char *err,
		 size_t errlen)
{
	char dummy[1];
	if (err == NULL || errlen == 0)
		err = dummy, errlen = sizeof(dummy);
	err[0] = '\0';
	*out = NULL;

	struct objfs_image *img = calloc(1, sizeof(*img));
	if (img == NULL || (img->path = strdup(path)) == NULL) {
		free(img);
		seterr(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	pthread_mutex_init(&img->mu, NULL);
	img->flags = flags;
	img->dfd = -1;
	img->fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;
	struct stat st;
	if (img->fd < 0) {
		rc = -errno;
		seterr(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
		goto fail;
	}
	if (fstat(img->fd, &st) != 0) {
		rc = -errno;
		seterr(err, errlen, "%s: cannot stat: %s", path, strerror(-rc));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		rc = -EINVAL;
		seterr(err, errlen, "%s: not a regular file", path);
		goto fail;
	}

	struct objfs_disk_header dh;
	memset(&dh, 0, sizeof(dh));
	ssize_t n = pread(img->fd, &dh, sizeof(dh), 0);
	if (n < 0) {
		rc = -errno;
		seterr(err, errlen, "%s: cannot read the header: %s", path, strerror(-rc));
		goto fail;
	}
	if (n < 8 && memcmp(dh.magic, OBJFS_MAGIC, (size_t)n) == 0) {
		rc = -EIO;
		seterr(err, errlen, "%s: truncated image: %zd bytes, shorter than its header", path,
		       n);
		goto fail;
	}
	if (memcmp(dh.magic, OBJFS_MAGIC, 8) != 0) {
		rc = -EINVAL;
		seterr(err, errlen, "%s: not an objfs image (bad magic; expected \"%s\")", path,
		       OBJFS_MAGIC);
		goto fail;
	}
	if ((size_t)n < sizeof(dh)) {
		rc = -EIO;
		seterr(err, errlen, "%s: truncated image: %zd bytes, shorter than its header", path,
		       n);
		goto fail;
	}
	rc = objfs_header_decode(&dh, &img->hdr);
	if (rc == -ENOTSUP) {
		seterr(err, errlen, "%s: objfs version %u is not supported (this vmsend reads %u)",
		       path, img->hdr.version, OBJFS_VERSION);
		goto fail;
	}
	if (rc != 0) {
		rc = -EBADMSG;
		seterr(err, errlen, "%s: damaged objfs header (checksum or layout mismatch)", path);
		goto fail;
	}
	if ((uint64_t)st.st_size < img->hdr.image_size) {
		rc = -EIO;
		seterr(err, errlen,
		       "%s: truncated image: %llu bytes, but its header says %llu; copy it again",
		       path, (unsigned long long)st.st_size,
		       (unsigned long long)img->hdr.image_size);
		goto fail;
	}
	img->info.guid = img->hdr.guid;
	img->info.image_size = img->hdr.image_size;
	img->info.create_time = img->hdr.create_time;
	img->info.version = img->hdr.version;
	rc = choose_uber(img, err, errlen);
	if (rc != 0)
		goto fail;
	img->id = atomic_fetch_add(&objfs_image_next_id, 1);
	open_direct(img, &st);
	*out = img;
	return 0;
fail:
	if (!(flags & OBJFS_OPEN_QUIET))
		LOG_ERR("objfs", "%s", err);
	objfs_image_close(img);
	return rc;
}

void
objfs_image_close(struct objfs_image *img)
{
	if (img == NULL)
		return;
	if (img->fd >= 0)
		close(img->fd);
	if (img->dfd >= 0)
		close(img->dfd);
	objfs_map_free(&img->meta);
	for (size_t i = 0; i < img->dirs.nb; i++)
		for (struct objfs_mapent *e = img->dirs.b[i]; e != NULL; e = e->next) {
			objfs_dir_free(e->val);
			e->val = NULL;
		}
	objfs_map_free(&img->dirs);
	objfs_map_free(&img->paths);
	pthread_mutex_destroy(&img->mu);
	free(img->path);
	free(img);
}

uint64_t
objfs_image_id(const struct objfs_image *img)
{
	return img->id;
}

const char *
objfs_image_path(const struct objfs_image *img)
{
	return img->path;
}

bool
objfs_image_replaced(const struct objfs_image *img)
{
	struct stat held, now;

	if (fstat(img->fd, &held) != 0 || stat(img->path, &now) != 0)
		return false;
	return held.st_dev != now.st_dev || held.st_ino != now.st_ino ||
	       held.st_size != now.st_size || held.st_mtim.tv_sec != now.st_mtim.tv_sec ||
	       held.st_mtim.tv_nsec != now.st_mtim.tv_nsec;
}

const struct objfs_image_info *
objfs_image_info(const struct objfs_image *img)
{
	return &img->info;
}

int
objfs_image_fd(const struct objfs_image *img)
{
	return img->fd;
}

struct objfs_image_stats *
objfs_image_stats(struct objfs_image *img)
{
	return &img->stats;
}

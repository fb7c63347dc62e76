/*
 * Fuzz driver for the objfs image reader: the input is an image.  Open it,
 * walk the directory tree (bounded), look every name up again, read every
 * file's records, and run fsck when the image is small enough to check
 * quickly.  Any crash, sanitizer report or hang is a bug: a hostile image
 * may only ever produce errors.
 *
 * A mutated byte almost always just fails a checksum, which would keep the
 * fuzzer at the door.  So each input is tried twice: as it is, and
 * "resealed": every reachable uncompressed block's checksum recomputed
 * bottom-up, then the uberblocks' and the header's, so that mutated
 * structure reaches the parsers behind the checksums.
 *
 * The seed corpus (corpus/) holds small images from mkimage, raw (no LZ4)
 * ones that resealing reaches all the way down, a torn and a truncated one;
 * `ctest -L fuzz` replays it; with -DVMSEND_FUZZ=ON and clang a libFuzzer
 * binary fuzz_objfs_image is built beside it (see CMakeLists.txt).
 */
#include "core/log.h"
#include "fs/objfs/fsck.h"
#include "fs/objfs/image.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct walk {
	struct objfs_image *img;
	char path[1024];
	unsigned depth, objects;
	char *rec;
};

static int walk_entry(void *arg, const char *name, const struct objfs_dnode *dn);

static void
walk_dir(struct walk *w, const struct objfs_dnode *dir)
{
	if (w->depth >= 8 || w->objects >= 256)
		return;
	w->depth++;
	(void)objfs_image_readdir(w->img, dir, walk_entry, w);
	w->depth--;
}

static int
walk_entry(void *arg, const char *name, const struct objfs_dnode *dn)
{
	struct walk *w = arg;
	if (++w->objects > 256)
		return 1;
	size_t len = strlen(w->path);
	if (len + 1 + strlen(name) + 1 > sizeof(w->path))
		return 0;
	snprintf(w->path + len, sizeof(w->path) - len, "/%s", name);
	struct objfs_dnode again;
	if (objfs_image_lookup(w->img, w->path, &again) == 0 && again.objnum != dn->objnum)
		abort(); /* one name, two objects */
	if (dn->type == OBJFS_OT_DIR) {
		walk_dir(w, dn);
	} else {
		uint64_t n = objfs_dnode_nrecords(dn);
		for (uint64_t b = 0; b < n && b < 64; b++) {
			int r = objfs_image_read_record(w->img, dn, b, w->rec);
			if (r > (int)(1u << dn->rs_shift))
				abort();
		}
	}
	w->path[len] = '\0';
	return 0;
}

/* ---- resealing ---- */

struct reseal {
	unsigned char *img;
	size_t size;
	unsigned budget; /* blocks left to visit: cycles and fan-out stay bounded */
};

static void reseal_bp(struct reseal *r, struct objfs_bp *bp, unsigned depth);

static void
reseal_dnode_bytes(struct reseal *r, unsigned char *p, unsigned depth)
{
	struct objfs_disk_dnode d;
	struct objfs_dnode dn;
	memcpy(&d, p, sizeof(d));
	objfs_dnode_decode(&d, 0, &dn);
	if (dn.type == OBJFS_OT_NONE)
		return;
	reseal_bp(r, &dn.root, depth + 1);
	objfs_dnode_encode(&dn, &d);
	memcpy(p, &d, sizeof(d));
}

static void
reseal_bp(struct reseal *r, struct objfs_bp *bp, unsigned depth)
{
	if (depth > 8 || r->budget == 0 || objfs_bp_is_hole(bp) || bp->psize == 0 ||
	    bp->offset < OBJFS_DATA_START || bp->offset > r->size ||
	    bp->psize > r->size - bp->offset)
		return;
	r->budget--;
	unsigned char *p = r->img + bp->offset;
	if (bp->comp == OBJFS_COMP_OFF && bp->level > 0) {
		for (size_t i = 0; i + sizeof(struct objfs_disk_bp) <= bp->psize;
		     i += sizeof(struct objfs_disk_bp)) {
			struct objfs_disk_bp d;
			struct objfs_bp c;
			memcpy(&d, p + i, sizeof(d));
			objfs_bp_decode(&d, &c);
			reseal_bp(r, &c, depth + 1);
			objfs_bp_encode(&c, &d);
			memcpy(p + i, &d, sizeof(d));
		}
	} else if (bp->comp == OBJFS_COMP_OFF && bp->type == OBJFS_BT_DNODE) {
		for (size_t i = 0; i + sizeof(struct objfs_disk_dnode) <= bp->psize;
		     i += sizeof(struct objfs_disk_dnode))
			reseal_dnode_bytes(r, p + i, depth);
	}
	objfs_cksum(p, bp->psize, bp->cksum);
}

static void
reseal(unsigned char *img, size_t size)
{
	struct reseal r = {img, size, 4096};
	if (size < OBJFS_DATA_START)
		return;
	for (unsigned i = 0; i < OBJFS_UBER_SLOTS; i++) {
		unsigned char *slot = img + OBJFS_UBER_OFFSET + i * OBJFS_UBER_SIZE;
		struct objfs_disk_uber d;
		struct objfs_uber u;
		memcpy(&d, slot, sizeof(d));
		objfs_cksum(&d, offsetof(struct objfs_disk_uber, cksum), d.cksum);
		if (objfs_uber_decode(&d, &u) != 0)
			continue;
		reseal_bp(&r, &u.meta.root, 0);
		objfs_uber_encode(&u, &d);
		memcpy(slot, &d, sizeof(d));
	}
	struct objfs_disk_header h;
	memcpy(&h, img, sizeof(h));
	objfs_cksum(&h, offsetof(struct objfs_disk_header, cksum), h.cksum);
	memcpy(img, &h, sizeof(h));
}

/* ---- the driver ---- */

static void
try_image(const char *path)
{
	struct objfs_image *img;
	if (objfs_image_open(path, OBJFS_OPEN_QUIET, &img, NULL, 0) != 0)
		return;
	struct walk w = {.img = img};
	w.rec = malloc(1u << OBJFS_MAX_RS_SHIFT);
	struct objfs_dnode root;
	if (objfs_image_lookup(img, "", &root) == 0)
		walk_dir(&w, &root);
	free(w.rec);
	bool small = objfs_image_info(img)->nobjects <= 4096;
	objfs_image_close(img);
	if (small) {
		struct objfs_fsck_result r;
		(void)objfs_fsck(path, NULL, &r);
	}
}

static void
load(int fd, const unsigned char *data, size_t size)
{
	if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("objfs-fuzz", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		vms_log_level = -1; /* refusals are logged; a fuzzer makes millions */
	}
	load(fd, data, size);
	try_image(path);

	unsigned char *copy = malloc(size ? size : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	reseal(copy, size);
	load(fd, copy, size);
	free(copy);
	try_image(path);
	return 0;
}

/*
 * Fuzz driver for the objfs image reader: the input is an image.  Open it,
 * walk the directory tree (bounded), look every name up again, read every
 * file's records, and run fsck when the image is small enough to check
 * quickly.  Any crash, sanitizer report or hang is a bug: a hostile image
 * may only ever produce errors.
 *
 * The seed corpus (corpus/) holds small images from mkimage and forged ones;
 * `ctest -L fuzz` replays it; with -DVMSEND_FUZZ=ON and clang a libFuzzer
 * binary fuzz_objfs_image is built next to the other drivers.
 */
#include "core/log.h"
#include "fs/objfs/fsck.h"
#include "fs/objfs/image.h"

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
	if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();

	struct objfs_image *img;
	if (objfs_image_open(path, OBJFS_OPEN_QUIET, &img, NULL, 0) == 0) {
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
	return 0;
}

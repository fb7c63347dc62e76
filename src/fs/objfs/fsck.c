/*
 * objfs fsck.
 *
 * 1. Open (header, truncation, uberblock choice) and check every ring slot.
 * 2. Walk the directory tree from the root, depth-first, building paths; each
 *    object must be reached exactly once (no cycles, no shared objects).
 * 3. For every object reached and for the dnode array, walk the whole block
 *    tree: verify each indirect block and each record (checksum and
 *    decompression), check unused slots of indirect blocks are empty.
 * 4. Objects in the dnode array that no directory names are orphans.
 * 5. Space: the blocks found must tile [data_start, image_size) exactly, with
 *    no overlap and no gap, so that every byte of the image is covered by a
 *    checksum that was just verified.  The one exception (version 2) is the
 *    padding before an aligned large block, which must be short and zero.
 *
 * A damaged block is reported with the file's path and the range of file
 * offsets it covers; the walk goes on, so one run names everything broken.
 */
#include "fs/objfs/fsck.h"

#include "core/util.h"
#include "fs/objfs/image_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct extent {
	uint64_t off, len;
	uint64_t objnum;
};

struct fsck {
	struct objfs_image *img;
	FILE *out;
	struct objfs_fsck_result *res;
	uint8_t *seen; /* bitmap per object: reached from the root */
	struct extent *ext;
	size_t next, cap;
	char *rec; /* scratch for one block */
	size_t reccap;
	int oom;
	unsigned dirs_damaged; /* unreadable directories: their children look orphaned */
};

__attribute__((format(printf, 2, 3))) static void
problem(struct fsck *f, const char *fmt, ...)
{
	f->res->problems++;
	if (f->out == NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f->out, fmt, ap);
	va_end(ap);
	fputc('\n', f->out);
}

__attribute__((format(printf, 2, 3))) static void
warning(struct fsck *f, const char *fmt, ...)
{
	f->res->warnings++;
	if (f->out == NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("warning: ", f->out);
	vfprintf(f->out, fmt, ap);
	va_end(ap);
	fputc('\n', f->out);
}

/* Mark objnum reached; returns whether it already was. */
static bool
seen_test_set(struct fsck *f, uint64_t o)
{
	uint8_t bit = (uint8_t)(1u << (o & 7));
	bool was = (f->seen[o >> 3] & bit) != 0;
	f->seen[o >> 3] |= bit;
	return was;
}

static void
add_extent(struct fsck *f, const struct objfs_bp *bp, uint64_t objnum)
{
	if (objfs_bp_is_hole(bp))
		return;
	if (f->next == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		struct extent *e = realloc(f->ext, cap * sizeof(*e));
		if (e == NULL) {
			f->oom = 1;
			return;
		}
		f->ext = e;
		f->cap = cap;
	}
	f->ext[f->next++] = (struct extent){bp->offset, bp->psize, objnum};
}

static const char *
errname(int rc)
{
	switch (rc) {
	case -EIO:
		return "checksum, decompression or read failure";
	case -EBADMSG:
		return "invalid block pointer";
	default:
		return strerror(-rc);
	}
}

/* What a block covers, for messages: file offsets [lo, hi]. */
static void
range(const struct objfs_dnode *dn, uint64_t first, uint64_t nrec, uint64_t *lo, uint64_t *hi)
{
	*lo = first << dn->rs_shift;
	uint64_t end = (first + nrec) << dn->rs_shift;
	if (end > dn->size)
		end = dn->size;
	*hi = end ? end - 1 : 0;
}

/* Verify the subtree under bp (level, covering records first..), recording extents. */
static void
walk_bp(struct fsck *f, const struct objfs_dnode *dn, const char *name, const struct objfs_bp *bp,
	unsigned level, uint64_t first)
{
	uint64_t nrec = objfs_dnode_nrecords(dn);
	uint64_t span = 1ull << (OBJFS_IND_SHIFT * level);
	uint32_t lsize = level ? OBJFS_IND_SIZE : objfs_dnode_record_lsize(dn, first);
	uint64_t lo, hi;
	range(dn, first, MIN(span, nrec - first), &lo, &hi);
	const char *what = level ? "indirect block" : "record";
	const char *why =
	    objfs_bp_check(bp, level ? OBJFS_BT_INDIRECT : objfs_dnode_data_btype(dn),
			   (uint8_t)level, lsize, f->img->hdr.data_start, f->img->hdr.image_size);
	if (why != NULL) {
		problem(f, "DAMAGED %s: %s %llu (offsets %llu..%llu): bad block pointer: %s", name,
			what, (unsigned long long)(level ? first / span : first),
			(unsigned long long)lo, (unsigned long long)hi, why);
		return;
	}
	if (objfs_bp_is_hole(bp))
		return;
	add_extent(f, bp, dn->objnum);
	if (bp->lsize > f->reccap) {
		/* Grown on demand: most images never need the 1 MiB maximum. */
		char *r = realloc(f->rec, bp->lsize);
		if (r == NULL) {
			f->oom = 1;
			return;
		}
		f->rec = r;
		f->reccap = bp->lsize;
	}
	int rc = objfs_image_read_bp(f->img, bp, dn->objnum, first, f->rec);
	f->res->blocks++;
	f->res->bytes += bp->psize;
	if (rc != 0) {
		problem(f,
			"DAMAGED %s: %s %llu (offsets %llu..%llu), image offset %llu, %u bytes: "
			"%s",
			name, what, (unsigned long long)(level ? first / span : first),
			(unsigned long long)lo, (unsigned long long)hi,
			(unsigned long long)bp->offset, bp->psize, errname(rc));
		return;
	}
	if (level == 0)
		return;
	/* Copy the children out: f->rec is reused by the recursion. */
	struct objfs_disk_bp *kids = malloc(OBJFS_IND_SIZE);
	if (kids == NULL) {
		f->oom = 1;
		return;
	}
	memcpy(kids, f->rec, OBJFS_IND_SIZE);
	uint64_t cspan = span >> OBJFS_IND_SHIFT;
	static const struct objfs_disk_bp zero;
	for (unsigned i = 0; i < OBJFS_IND_BPS; i++) {
		uint64_t cfirst = first + i * cspan;
		if (cfirst >= nrec) {
			if (memcmp(&kids[i], &zero, sizeof(zero)) != 0)
				problem(f,
					"DAMAGED %s: indirect block at image offset %llu: slot %u "
					"past the end of the file is not empty",
					name, (unsigned long long)bp->offset, i);
			continue;
		}
		struct objfs_bp c;
		objfs_bp_decode(&kids[i], &c);
		walk_bp(f, dn, name, &c, level - 1, cfirst);
	}
	free(kids);
}

static void
walk_object(struct fsck *f, const struct objfs_dnode *dn, const char *name)
{
	const char *why = objfs_dnode_check(dn);
	if (why != NULL) {
		problem(f, "DAMAGED %s: object %llu: bad dnode: %s", name,
			(unsigned long long)dn->objnum, why);
		return;
	}
	if (objfs_dnode_nrecords(dn) == 0) {
		static const struct objfs_bp empty = {.flags = OBJFS_BPF_HOLE};
		struct objfs_bp r = dn->root;
		r.type = 0;
		r.birth = 0;
		if (memcmp(&r, &empty, sizeof(r)) != 0 || dn->nlevels != 1)
			problem(f, "DAMAGED %s: empty object with a non-empty block tree", name);
		return;
	}
	walk_bp(f, dn, name, &dn->root, dn->nlevels - 1u, 0);
}

static void
walk_dir(struct fsck *f, const struct objfs_dnode *dir, char *path, size_t plen, unsigned depth)
{
	const struct objfs_dir *d;
	struct objfs_dir *dfree;
	int rc = objfs_image_dir_get(f->img, dir, &d, &dfree);
	if (rc != 0) {
		problem(f, "DAMAGED %s: directory entries unreadable: %s", plen ? path : "/",
			errname(rc));
		f->dirs_damaged++;
		return;
	}
	for (uint32_t i = 0; i < d->n && !f->oom; i++) {
		const struct objfs_dir_ent *e = &d->ents[i];
		size_t nlen = plen + 1 + e->namelen;
		if (nlen >= PATH_MAX || depth > PATH_MAX / 2) {
			problem(f, "DAMAGED %s/%s: path too deep", path, e->name);
			continue;
		}
		path[plen] = '/';
		memcpy(path + plen + 1, e->name, e->namelen + 1u);
		if (seen_test_set(f, e->objnum)) {
			problem(f, "DAMAGED %s: object %llu is already named by another entry",
				path, (unsigned long long)e->objnum);
			path[plen] = '\0';
			continue;
		}
		objfs_image_path_note(f->img, e->objnum, path + 1);
		struct objfs_dnode dn;
		rc = objfs_image_dnode(f->img, e->objnum, &dn);
		if (rc != 0) {
			problem(f, "DAMAGED %s: object %llu: dnode unreadable: %s", path,
				(unsigned long long)e->objnum,
				rc == -EINVAL ? "free dnode slot" : errname(rc));
		} else if (dn.type != e->type) {
			problem(f, "DAMAGED %s: entry type does not match object %llu", path,
				(unsigned long long)e->objnum);
		} else {
			walk_object(f, &dn, path);
			if (dn.type == OBJFS_OT_DIR) {
				f->res->dirs++;
				walk_dir(f, &dn, path, nlen, depth + 1);
			} else {
				f->res->files++;
			}
		}
		path[plen] = '\0';
	}
	objfs_dir_free(dfree);
}

static int
ext_cmp(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Is [at, e->off) the zero padding that version 2 allows before an aligned large block? */
static bool
is_padding(struct fsck *f, uint64_t at, const struct extent *e)
{
	uint8_t buf[OBJFS_ALIGN];
	size_t len = (size_t)(e->off - at);
	if (f->img->hdr.version < 2 || e->off % OBJFS_ALIGN != 0 || len >= OBJFS_ALIGN ||
	    e->len < OBJFS_ALIGN_MIN_PSIZE)
		return false;
	if (pread(objfs_image_fd(f->img), buf, len, (off_t)at) != (ssize_t)len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (buf[i] != 0)
			return false;
	return true;
}

static void
check_space(struct fsck *f)
{
	qsort(f->ext, f->next, sizeof(*f->ext), ext_cmp);
	uint64_t at = f->img->hdr.data_start, end = f->img->hdr.image_size;
	for (size_t i = 0; i < f->next; i++) {
		const struct extent *e = &f->ext[i];
		if (e->off > at && !is_padding(f, at, e))
			problem(f, "DAMAGED image: bytes %llu..%llu belong to no block",
				(unsigned long long)at, (unsigned long long)e->off - 1);
		else if (e->off < at)
			problem(
			    f, "DAMAGED image: block at offset %llu (object %llu) overlaps another",
			    (unsigned long long)e->off, (unsigned long long)e->objnum);
		at = MAX(at, e->off + e->len);
	}
	if (at < end)
		problem(f, "DAMAGED image: bytes %llu..%llu belong to no block",
			(unsigned long long)at, (unsigned long long)end - 1);
}

static void
check_ring(struct fsck *f)
{
	struct objfs_disk_uber ring[OBJFS_UBER_SLOTS];
	const struct objfs_image_info *info = objfs_image_info(f->img);
	if (pread(objfs_image_fd(f->img), ring, sizeof(ring), OBJFS_UBER_OFFSET) !=
	    (ssize_t)sizeof(ring)) {
		problem(f, "DAMAGED image: cannot read the uberblock ring");
		return;
	}
	for (unsigned i = 0; i < OBJFS_UBER_SLOTS; i++) {
		struct objfs_uber u;
		int rc = objfs_uber_decode(&ring[i], &u);
		if (rc == -ENOENT) {
			warning(f, "uberblock slot %u is empty", i);
		} else if (rc != 0) {
			problem(f,
				"DAMAGED image: uberblock slot %u (image offset %u): checksum "
				"mismatch (torn or damaged)",
				i, OBJFS_UBER_OFFSET + i * OBJFS_UBER_SIZE);
		} else if (u.slot != i || u.guid != f->img->hdr.guid) {
			problem(f, "DAMAGED image: uberblock slot %u does not belong here", i);
		} else if (u.generation > info->generation) {
			problem(f,
				"DAMAGED image: uberblock slot %u (generation %llu) is newer than "
				"the one in use but its tree does not verify",
				i, (unsigned long long)u.generation);
		} else if (memcmp(&u.meta, &f->img->ub.meta, sizeof(u.meta)) != 0 ||
			   u.nobjects != f->img->ub.nobjects) {
			warning(
			    f,
			    "uberblock slot %u (generation %llu) names an older tree; not checked",
			    i, (unsigned long long)u.generation);
		}
	}
	if (info->fell_back)
		problem(f,
			"DAMAGED image: newest uberblock unusable; using generation %llu (slot %u)",
			(unsigned long long)info->generation, info->uber_slot);
}

int
objfs_fsck(const char *path, FILE *out, struct objfs_fsck_result *res)
{
	char err[512];
	struct fsck fk = {.out = out, .res = res};
	struct fsck *f = &fk;
	memset(res, 0, sizeof(*res));

	int rc = objfs_image_open(path, OBJFS_OPEN_QUIET, &f->img, err, sizeof(err));
	if (rc != 0) {
		res->fatal = true;
		problem(f, "FATAL %s", err);
		return 1;
	}
	struct stat st;
	if (fstat(objfs_image_fd(f->img), &st) == 0 &&
	    (uint64_t)st.st_size > f->img->hdr.image_size)
		warning(f, "%llu bytes after the end of the image (ignored)",
			(unsigned long long)(st.st_size - f->img->hdr.image_size));
	check_ring(f);

	uint64_t nobj = f->img->ub.nobjects;
	f->seen = calloc(nobj / 8 + 1, 1);
	char *pathbuf = malloc(PATH_MAX + OBJFS_NAME_MAX + 2);
	if (f->seen == NULL || pathbuf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* The dnode array first: its damage explains the rest. */
	walk_object(f, &f->img->ub.meta, "(dnode array)");
	struct objfs_dnode root;
	rc = objfs_image_dnode(f->img, OBJFS_ROOT_OBJ, &root);
	if (rc != 0 || root.type != OBJFS_OT_DIR) {
		problem(f, "DAMAGED /: root directory unreadable");
	} else {
		seen_test_set(f, OBJFS_ROOT_OBJ);
		res->dirs++;
		walk_object(f, &root, "/");
		pathbuf[0] = '\0';
		walk_dir(f, &root, pathbuf, 0, 0);
	}
	rc = 0;
	/* Orphans, a dnode record at a time: a hole or unreadable record (already
	 * reported by the array walk) is skipped whole. */
	for (uint64_t o = 2; o < nobj && !f->oom; o++) {
		struct objfs_bp bp;
		uint64_t rec = o / OBJFS_DNODES_PER_RECORD;
		if (o % OBJFS_DNODES_PER_RECORD == 0 || o == 2) {
			if (objfs_image_bp(f->img, &f->img->ub.meta, rec, &bp) != 0 ||
			    objfs_bp_is_hole(&bp)) {
				o = (rec + 1) * OBJFS_DNODES_PER_RECORD - 1;
				continue;
			}
		}
		struct objfs_dnode dn;
		if (!seen_test_set(f, o) && objfs_image_dnode(f->img, o, &dn) == 0)
			problem(f,
				"DAMAGED image: object %llu (%s, %llu bytes) is named by no "
				"directory (orphan%s)",
				(unsigned long long)o,
				dn.type == OBJFS_OT_DIR ? "directory" : "file",
				(unsigned long long)dn.size,
				f->dirs_damaged ? "; a damaged directory may have named it" : "");
	}
	if (!f->oom)
		check_space(f);
	if (f->oom)
		rc = -ENOMEM;
out:
	free(pathbuf);
	free(f->seen);
	free(f->rec);
	free(f->ext);
	objfs_image_close(f->img);
	if (rc != 0)
		return rc;
	return res->problems ? 1 : 0;
}

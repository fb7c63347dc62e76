/*
 * Preloading an image's metadata: every directory, every dnode record and
 * every indirect block, read, verified and cached up front (within the
 * metadata budget), so that a server's event loop never waits on a pread for
 * metadata: after a preload, objfs_image_bp() and lookups are memory-only
 * and only file records (the ARC's business, read asynchronously) touch the
 * disk.
 */
#include "fs/objfs/image_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct preload {
	struct objfs_image *img;
	uint8_t *seen; /* bitmap: objects visited (a forged image may name one twice) */
	int first_error;
	bool full; /* the metadata budget is spent */
};

static void
note_error(struct preload *p, int rc)
{
	if (rc != 0 && p->first_error == 0)
		p->first_error = rc;
}

static bool
budget_left(struct preload *p)
{
	pthread_mutex_lock(&p->img->mu);
	bool left = p->img->meta_bytes < (uint64_t)objfs_meta_cache_max;
	pthread_mutex_unlock(&p->img->mu);
	p->full |= !left;
	return left;
}

/* Cache the indirect blocks under bp (records themselves are not read). */
static void
preload_tree(struct preload *p, const struct objfs_dnode *dn, const struct objfs_bp *bp,
	     unsigned level, uint64_t first)
{
	uint64_t nrec = objfs_dnode_nrecords(dn);
	if (level == 0 || objfs_bp_is_hole(bp) || first >= nrec || !budget_left(p))
		return;
	if (objfs_bp_check(bp, OBJFS_BT_INDIRECT, (uint8_t)level, OBJFS_IND_SIZE,
			   p->img->hdr.data_start, p->img->hdr.image_size) != NULL) {
		note_error(p, -EBADMSG);
		return;
	}
	const void *data;
	void *tofree;
	int rc = objfs_image_meta_get(p->img, bp, dn->objnum, first, &data, &tofree);
	if (rc != 0) {
		note_error(p, rc);
		return;
	}
	p->full |= tofree != NULL; /* read but not kept: the budget is spent */
	if (level > 1) {
		/* Copy the children: when the cache is full the block is ours to free. */
		struct objfs_disk_bp kids[OBJFS_IND_BPS];
		memcpy(kids, data, sizeof(kids));
		uint64_t span = 1ull << (OBJFS_IND_SHIFT * (level - 1));
		for (unsigned i = 0; i < OBJFS_IND_BPS && first + i * span < nrec; i++) {
			struct objfs_bp c;
			objfs_bp_decode(&kids[i], &c);
			preload_tree(p, dn, &c, level - 1, first + i * span);
		}
	}
	free(tofree);
}

static void
preload_dir(struct preload *p, const struct objfs_dnode *dir, unsigned depth)
{
	const struct objfs_dir *d;
	struct objfs_dir *dfree;
	if (depth > 4096 || !budget_left(p))
		return;
	preload_tree(p, dir, &dir->root, dir->nlevels - 1u, 0);
	int rc = objfs_image_dir_get(p->img, dir, &d, &dfree);
	if (rc != 0) {
		note_error(p, rc);
		return;
	}
	p->full |= dfree != NULL;
	for (uint32_t i = 0; i < d->n && !p->full; i++) {
		uint64_t o = d->ents[i].objnum;
		if (p->seen[o >> 3] & (1u << (o & 7)))
			continue;
		p->seen[o >> 3] |= (uint8_t)(1u << (o & 7));
		struct objfs_dnode dn;
		rc = objfs_image_dnode(p->img, o, &dn);
		if (rc != 0) {
			note_error(p, rc == -EINVAL ? -EBADMSG : rc);
			continue;
		}
		if (dn.type == OBJFS_OT_DIR)
			preload_dir(p, &dn, depth + 1);
		else
			preload_tree(p, &dn, &dn.root, dn.nlevels - 1u, 0);
	}
	objfs_dir_free(dfree);
}

int
objfs_image_preload(struct objfs_image *img)
{
	struct preload p = {.img = img};
	p.seen = calloc(img->ub.nobjects / 8 + 1, 1);
	if (p.seen == NULL)
		return -ENOMEM;
	/* The dnode array: its indirect blocks, then every dnode record. */
	const struct objfs_dnode *meta = &img->ub.meta;
	preload_tree(&p, meta, &meta->root, meta->nlevels - 1u, 0);
	uint64_t nrec = objfs_dnode_nrecords(meta);
	for (uint64_t r = 0; r < nrec && budget_left(&p); r++) {
		struct objfs_bp bp;
		const void *data;
		void *tofree;
		int rc = objfs_image_bp(img, meta, r, &bp);
		if (rc == 0 && !objfs_bp_is_hole(&bp))
			rc = objfs_image_meta_get(img, &bp, 0, r, &data, &tofree);
		else
			tofree = NULL;
		note_error(&p, rc);
		p.full |= tofree != NULL;
		free(tofree);
	}
	struct objfs_dnode root;
	int rc = objfs_image_dnode(img, OBJFS_ROOT_OBJ, &root);
	if (rc == 0) {
		p.seen[0] |= 1u << OBJFS_ROOT_OBJ;
		preload_dir(&p, &root, 0);
	}
	note_error(&p, rc);
	free(p.seen);
	if (p.first_error != 0)
		return p.first_error;
	return p.full ? -ENOSPC : 0;
}

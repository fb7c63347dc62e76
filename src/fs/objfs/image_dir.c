/*
 * Directories of an objfs image: load and verify a directory's entry stream
 * once, keep it parsed (sorted, NUL-terminated names) until close, and answer
 * lookups by binary search.
 *
 * The parser trusts nothing but the checksum of each record: counts, name
 * lengths, padding, order, names and object numbers are all checked, so a
 * crafted stream gives -EBADMSG instead of reads out of bounds, a lookup loop
 * or an entry pointing at the dnode array.
 */
#include "fs/objfs/image_impl.h"

#include "core/tunable.h"
#include "core/util.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
objfs_dir_free(struct objfs_dir *d)
{
	if (d == NULL)
		return;
	free(d->ents);
	free(d->names);
	free(d);
}

static bool
name_ok(const char *name, size_t len)
{
	if (len == 0 || len > OBJFS_NAME_MAX)
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL;
}

static int
dir_parse(struct objfs_image *img, const struct objfs_dnode *dn, const char *s,
	  struct objfs_dir **out)
{
	struct objfs_dir *d = calloc(1, sizeof(*d));
	size_t size = dn->size;
	const char *why = NULL;

	if (d == NULL)
		return -ENOMEM;
	d->objnum = dn->objnum;
	/* Each entry takes at least 24 bytes, which bounds what nentries may claim. */
	if (dn->nentries > size / 24) {
		objfs_dir_free(d);
		return objfs_image_bad(img, dn->objnum, "directory", "more entries than bytes");
	}
	d->ents = calloc(dn->nentries ? dn->nentries : 1, sizeof(*d->ents));
	d->names = malloc(size + 1);
	if (d->ents == NULL || d->names == NULL) {
		objfs_dir_free(d);
		return -ENOMEM;
	}
	size_t off = 0, noff = 0;
	for (uint32_t i = 0; i < dn->nentries; i++) {
		struct objfs_disk_dirent h;
		if (size - off < sizeof(h)) {
			why = "entry past the end";
			break;
		}
		memcpy(&h, s + off, sizeof(h));
		struct objfs_dir_ent *e = &d->ents[i];
		e->objnum = le64toh(h.objnum);
		e->namelen = le16toh(h.namelen);
		e->type = h.type;
		const char *name = s + off + sizeof(h);
		size_t esz = OBJFS_DIRENT_SIZE(e->namelen);
		static const uint8_t zero[8];
		if (e->namelen == 0 || e->namelen > OBJFS_NAME_MAX || esz > size - off) {
			why = "bad name length";
			break;
		}
		if (memcmp(h.reserved, zero, sizeof(h.reserved)) != 0 ||
		    memcmp(name + e->namelen, zero, esz - sizeof(h) - e->namelen) != 0) {
			why = "non-zero padding";
			break;
		}
		if (!name_ok(name, e->namelen)) {
			why = "bad name";
			break;
		}
		if (e->type != OBJFS_OT_FILE && e->type != OBJFS_OT_DIR) {
			why = "bad entry type";
			break;
		}
		if (e->objnum <= OBJFS_ROOT_OBJ || e->objnum >= img->ub.nobjects ||
		    e->objnum == dn->objnum) {
			why = "bad object number";
			break;
		}
		memcpy(d->names + noff, name, e->namelen);
		d->names[noff + e->namelen] = '\0';
		e->name = d->names + noff;
		noff += e->namelen + 1u;
		if (i > 0 && objfs_name_cmp(d->ents[i - 1].name, d->ents[i - 1].namelen, e->name,
					    e->namelen) >= 0) {
			why = "entries out of order or duplicated";
			break;
		}
		off += esz;
		d->n = i + 1;
	}
	if (why == NULL && off != size)
		why = "stream longer than its entries";
	if (why != NULL) {
		objfs_dir_free(d);
		return objfs_image_bad(img, dn->objnum, "directory", why);
	}
	*out = d;
	return 0;
}

int
objfs_image_dir_get(struct objfs_image *img, const struct objfs_dnode *dn,
		    const struct objfs_dir **out, struct objfs_dir **tofree)
{
	*tofree = NULL;
	if (dn->type != OBJFS_OT_DIR)
		return -ENOTDIR;
	pthread_mutex_lock(&img->mu);
	struct objfs_mapent *e = objfs_map_find(&img->dirs, dn->objnum);
	pthread_mutex_unlock(&img->mu);
	if (e != NULL) {
		counter_inc(&img->stats.meta_hits);
		*out = e->val;
		return 0;
	}
	const char *why = objfs_dnode_check(dn);
	if (why != NULL)
		return objfs_image_bad(img, dn->objnum, "dnode", why);

	char *s = malloc(dn->size + 1);
	char *rec = malloc(1u << OBJFS_META_RS_SHIFT);
	int rc = 0;
	if (s == NULL || rec == NULL)
		rc = -ENOMEM;
	uint64_t nrec = objfs_dnode_nrecords(dn);
	for (uint64_t b = 0; rc == 0 && b < nrec; b++) {
		int n = objfs_image_read_record(img, dn, b, rec);
		if (n < 0)
			rc = n;
		else
			memcpy(s + (b << OBJFS_META_RS_SHIFT), rec, (size_t)n);
	}
	free(rec);
	struct objfs_dir *d = NULL;
	if (rc == 0)
		rc = dir_parse(img, dn, s, &d);
	free(s);
	if (rc != 0)
		return rc;

	/* What the parsed directory costs, against the same budget as metadata:
	 * a forged image of compressible giant directories must not eat memory. */
	size_t cost = dn->size + d->n * sizeof(*d->ents) + sizeof(*d);
	pthread_mutex_lock(&img->mu);
	e = objfs_map_find(&img->dirs, dn->objnum);
	if (e != NULL) {
		/* Another thread parsed it first; keep theirs. */
		objfs_dir_free(d);
		d = e->val;
	} else if (img->meta_bytes + cost > (uint64_t)objfs_meta_cache_max) {
		*tofree = d;
	} else {
		struct objfs_mapent *ne = calloc(1, sizeof(*ne));
		if (ne != NULL) {
			ne->key = dn->objnum;
			ne->val = d;
		}
		if (ne != NULL && objfs_map_insert(&img->dirs, ne)) {
			img->meta_bytes += cost;
		} else {
			free(ne);
			*tofree = d;
		}
	}
	pthread_mutex_unlock(&img->mu);
	*out = d;
	return 0;
}

static const struct objfs_dir_ent *
dir_find(const struct objfs_dir *d, const char *name, size_t len)
{
	uint32_t lo = 0, hi = d->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = objfs_name_cmp(d->ents[mid].name, d->ents[mid].namelen, name, len);
		if (c == 0)
			return &d->ents[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The child's dnode, checked against what its directory entry says it is. */
static int
child_dnode(struct objfs_image *img, const struct objfs_dir_ent *e, struct objfs_dnode *out)
{
	int rc = objfs_image_dnode(img, e->objnum, out);
	if (rc == -EINVAL)
		return objfs_image_bad(img, e->objnum, "directory entry", "names a free object");
	if (rc != 0)
		return rc;
	if (out->type != e->type)
		return objfs_image_bad(img, e->objnum, "directory entry",
				       "type differs from dnode");
	return 0;
}

int
objfs_image_lookup(struct objfs_image *img, const char *relpath, struct objfs_dnode *out)
{
	size_t plen = strlen(relpath);
	if (plen >= PATH_MAX)
		return -ENAMETOOLONG;
	char *norm = malloc(plen + 1);
	if (norm == NULL)
		return -ENOMEM;
	size_t nlen = 0;
	struct objfs_dnode cur;
	int rc = objfs_image_dnode(img, OBJFS_ROOT_OBJ, &cur);
	const char *p = relpath;
	while (rc == 0) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len > OBJFS_NAME_MAX) {
			rc = -ENAMETOOLONG;
			break;
		}
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
			rc = -EINVAL;
			break;
		}
		if (cur.type != OBJFS_OT_DIR) {
			rc = -ENOTDIR;
			break;
		}
		const struct objfs_dir *d;
		struct objfs_dir *dfree;
		rc = objfs_image_dir_get(img, &cur, &d, &dfree);
		if (rc != 0)
			break;
		const struct objfs_dir_ent *e = dir_find(d, p, len);
		rc = e == NULL ? -ENOENT : child_dnode(img, e, &cur);
		objfs_dir_free(dfree);
		if (rc == -ENOENT)
			break;
		if (nlen > 0)
			norm[nlen++] = '/';
		memcpy(norm + nlen, p, len);
		nlen += len;
		p = end;
	}
	if (rc == 0) {
		norm[nlen] = '\0';
		if (cur.objnum != OBJFS_ROOT_OBJ)
			objfs_image_path_note(img, cur.objnum, norm);
		*out = cur;
	}
	free(norm);
	return rc;
}

static int readdir_walk(struct objfs_image *img, const struct objfs_dnode *dir,
			const struct objfs_dir *d, objfs_readdir_cb_t *cb, void *arg);

int
objfs_image_readdir(struct objfs_image *img, const struct objfs_dnode *dir, objfs_readdir_cb_t *cb,
		    void *arg)
{
	const struct objfs_dir *d;
	struct objfs_dir *dfree;
	int rc = objfs_image_dir_get(img, dir, &d, &dfree);
	if (rc != 0)
		return rc;
	rc = readdir_walk(img, dir, d, cb, arg);
	objfs_dir_free(dfree);
	return rc;
}

static int
readdir_walk(struct objfs_image *img, const struct objfs_dnode *dir, const struct objfs_dir *d,
	     objfs_readdir_cb_t *cb, void *arg)
{
	int rc;
	char base[PATH_MAX];
	objfs_image_path_of(img, dir->objnum, base, sizeof(base));
	for (uint32_t i = 0; i < d->n; i++) {
		struct objfs_dnode dn;
		rc = child_dnode(img, &d->ents[i], &dn);
		if (rc != 0)
			return rc;
		if (base[0] != '\0') {
			char path[PATH_MAX + OBJFS_NAME_MAX + 2];
			/* base is "/..." (or "/" for the root); notes are relative. */
			snprintf(path, sizeof(path), "%s%s%s", base + 1, base[1] ? "/" : "",
				 d->ents[i].name);
			objfs_image_path_note(img, dn.objnum, path);
		}
		rc = cb(arg, d->ents[i].name, &dn);
		if (rc != 0)
			return rc;
	}
	return 0;
}

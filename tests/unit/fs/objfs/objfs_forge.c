#include "objfs_forge.h"

#include <criterion/criterion.h>
#include <endian.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void
forge_init(struct forge *f, const char *path, uint64_t nobj)
{
	memset(f, 0, sizeof(*f));
	cr_assert_leq(nobj, FORGE_MAX_OBJ);
	f->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(f->fd, 0);
	f->pos = OBJFS_DATA_START;
	f->nobj = nobj;
}

struct objfs_bp
forge_raw(struct forge *f, const void *stored, uint32_t psize, uint32_t lsize, uint8_t type,
	  uint8_t level, uint8_t comp)
{
	struct objfs_bp bp = {.offset = f->pos,
			      .lsize = lsize,
			      .psize = psize,
			      .comp = comp,
			      .type = type,
			      .level = level,
			      .birth = 1};
	objfs_cksum(stored, psize, bp.cksum);
	cr_assert_eq(pwrite(f->fd, stored, psize, (off_t)f->pos), (ssize_t)psize);
	f->pos += psize;
	return bp;
}

struct objfs_bp
forge_block(struct forge *f, const void *data, uint32_t lsize, uint8_t type, uint8_t level)
{
	return forge_raw(f, data, lsize, lsize, type, level, OBJFS_COMP_OFF);
}

void
forge_object(struct forge *f, uint64_t objnum, uint8_t type, const void *data, uint32_t size,
	     uint32_t nentries)
{
	struct objfs_dnode *dn = &f->dn[objnum];
	memset(dn, 0, sizeof(*dn));
	dn->objnum = objnum;
	dn->type = type;
	dn->nlevels = 1;
	dn->rs_shift = OBJFS_META_RS_SHIFT;
	dn->mode = type == OBJFS_OT_DIR ? 0755 : 0644;
	dn->size = size;
	dn->nentries = nentries;
	if (size == 0) {
		dn->root.flags = OBJFS_BPF_HOLE;
		return;
	}
	cr_assert_leq(size, 1u << OBJFS_META_RS_SHIFT);
	dn->root = forge_block(f, data, size, objfs_dnode_data_btype(dn), 0);
}

size_t
forge_dirent(char *buf, size_t len, uint64_t objnum, const char *name, size_t namelen, uint8_t type)
{
	struct objfs_disk_dirent h = {0};
	h.objnum = htole64(objnum);
	h.namelen = htole16((uint16_t)namelen);
	h.type = type;
	size_t sz = OBJFS_DIRENT_SIZE(namelen);
	memset(buf + len, 0, sz);
	memcpy(buf + len, &h, sizeof(h));
	memcpy(buf + len + sizeof(h), name, namelen);
	return len + sz;
}

void
forge_finish(struct forge *f)
{
	static struct objfs_disk_dnode arr[FORGE_MAX_OBJ];
	memset(arr, 0, sizeof(arr));
	for (uint64_t i = 1; i < f->nobj; i++)
		if (f->dn[i].type != OBJFS_OT_NONE)
			objfs_dnode_encode(&f->dn[i], &arr[i]);
	struct objfs_uber u = {.version = OBJFS_VERSION, .guid = 7, .nobjects = f->nobj};
	u.meta.type = OBJFS_OT_META;
	u.meta.nlevels = 1;
	u.meta.rs_shift = OBJFS_META_RS_SHIFT;
	u.meta.size = f->nobj * sizeof(arr[0]);
	u.meta.root = forge_block(f, arr, (uint32_t)u.meta.size, OBJFS_BT_DNODE, 0);
	for (unsigned i = 0; i < OBJFS_UBER_SLOTS; i++) {
		struct objfs_disk_uber d;
		u.slot = i;
		u.generation = i + 1;
		objfs_uber_encode(&u, &d);
		cr_assert_eq(pwrite(f->fd, &d, sizeof(d), OBJFS_UBER_OFFSET + i * sizeof(d)),
			     (ssize_t)sizeof(d));
	}
	struct objfs_header h = {.version = OBJFS_VERSION,
				 .guid = 7,
				 .image_size = f->pos,
				 .uber_offset = OBJFS_UBER_OFFSET,
				 .uber_slots = OBJFS_UBER_SLOTS,
				 .uber_size = OBJFS_UBER_SIZE,
				 .data_start = OBJFS_DATA_START};
	struct objfs_disk_header dh;
	objfs_header_encode(&h, &dh);
	cr_assert_eq(pwrite(f->fd, &dh, sizeof(dh), 0), (ssize_t)sizeof(dh));
	close(f->fd);
}

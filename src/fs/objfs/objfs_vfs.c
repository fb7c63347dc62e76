/*
 * objfs vfsops: mount an image, look names up in its directory tree, make
 * vnodes whose objects are paged by dmu.c.  See objfs_vfs.h.
 */
#include "fs/objfs/objfs_vfs.h"

#include "core/log.h"
#include "fs/objfs/dmu.h"
#include "fs/objfs/image.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

static int
objfs_vfs_mount(struct mount *mp, const char *source)
{
	struct objfs_fs *fs;
	char err[256] = "";

	int error = objfs_fs_open(source, NULL, &fs, err, sizeof(err));
	if (error != 0) {
		LOG_ERR("objfs", "cannot mount %s at %s: %s", source, mp->prefix,
			err[0] != '\0' ? err : "open failed");
		return error;
	}
	mp->fs_priv = fs;
	return 0;
}

static bool
objfs_vfs_source_changed(struct mount *mp)
{
	return objfs_image_replaced(((struct objfs_fs *)mp->fs_priv)->img);
}

static void
objfs_vfs_unmount(struct mount *mp)
{
	objfs_fs_rele(mp->fs_priv);
	mp->fs_priv = NULL;
}

/* Errors the VFS understands: a broken structure is an I/O error to a client. */
static int
objfs_vfs_errno(int error)
{
	return error == -EBADMSG ? -EIO : error;
}

static void
objfs_vattr_fill(const struct objfs_fs *fs, const struct objfs_dnode *dn, struct vattr *va)
{
	va->type = dn->type == OBJFS_OT_DIR ? VDIR : dn->type == OBJFS_OT_FILE ? VREG : VNON;
	va->mode = (dn->mode & 07777) | (va->type == VDIR ? S_IFDIR : S_IFREG);
	va->size = dn->size;
	va->dev = fs->image_id;
	va->ino = dn->objnum;
	va->mtime.tv_sec = dn->mtime_sec;
	va->mtime.tv_nsec = dn->mtime_nsec;
}

static int
objfs_vfs_stat(struct mount *mp, const char *relpath, struct vattr *va)
{
	struct objfs_fs *fs = mp->fs_priv;
	struct objfs_dnode dn;

	int error = objfs_image_lookup(fs->img, relpath, &dn);
	if (error != 0)
		return objfs_vfs_errno(error);
	objfs_vattr_fill(fs, &dn, va);
	return va->type == VNON ? -EACCES : 0;
}

static int
objfs_vfs_lookup(struct mount *mp, const char *relpath, struct vnode **vpp)
{
	struct objfs_fs *fs = mp->fs_priv;
	struct objfs_dnode dn;
	struct vattr va;

	int error = objfs_image_lookup(fs->img, relpath, &dn);
	if (error != 0)
		return objfs_vfs_errno(error);
	objfs_vattr_fill(fs, &dn, &va);
	if (va.type == VNON)
		return -EACCES;
	struct vnode *vp = vnode_alloc(mp, relpath, &va);
	if (vp == NULL)
		return -ENOMEM;
	if (va.type == VREG) {
		vp->object = dmu_object_create(fs, &dn, relpath, NULL);
		if (vp->object == NULL) {
			vnode_rele(vp);
			return -ENOMEM;
		}
	}
	*vpp = vp;
	return 0;
}

struct readdir_ctx {
	struct objfs_fs *fs;
	int (*cb)(void *arg, const char *name, const struct vattr *va);
	void *arg;
};

static int
objfs_readdir_one(void *arg, const char *name, const struct objfs_dnode *dn)
{
	struct readdir_ctx *x = arg;
	struct vattr va;
	objfs_vattr_fill(x->fs, dn, &va);
	if (va.type == VNON)
		return 0;
	return x->cb(x->arg, name, &va);
}

static int
objfs_vfs_readdir(struct mount *mp, const char *relpath,
		  int (*cb)(void *arg, const char *name, const struct vattr *va), void *arg)
{
	struct objfs_fs *fs = mp->fs_priv;
	struct objfs_dnode dn;

	int error = objfs_image_lookup(fs->img, relpath, &dn);
	if (error != 0)
		return objfs_vfs_errno(error);
	struct readdir_ctx x = {fs, cb, arg};
	return objfs_vfs_errno(objfs_image_readdir(fs->img, &dn, objfs_readdir_one, &x));
}

const struct vfsops objfs_vfsops = {
    .name = "objfs",
    .mount = objfs_vfs_mount,
    .unmount = objfs_vfs_unmount,
    .lookup = objfs_vfs_lookup,
    .stat = objfs_vfs_stat,
    .readdir = objfs_vfs_readdir,
    .source_changed = objfs_vfs_source_changed,
};

void
objfs_register(void)
{
	vfs_register(&objfs_vfsops);
}

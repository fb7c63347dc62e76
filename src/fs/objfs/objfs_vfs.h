/*
 * objfs as a vmsend file system: `--mount /prefix=objfs:IMAGE` (read-only).
 *
 * The image never changes while mounted, so a vnode's identity (image id as
 * the device, object number as the inode, size, mtime) never goes stale,
 * and every regular file's vm_object pages through dmu.c and the shared ARC
 * (arc_global()).  Objects keep the image open after an unmount until the
 * last of them goes.
 */
#ifndef VMSEND_FS_OBJFS_VFS_H
#define VMSEND_FS_OBJFS_VFS_H

#include "vfs/vfs.h"

/* Register "objfs" with the VFS (idempotent); call before vfs_mount(). */
void objfs_register(void);

extern const struct vfsops objfs_vfsops;

#endif

/*
 * The VFS: mounts (a path prefix mapped to a file-system instance), vnodes,
 * safe lookup and file identity.
 *
 * One vnode per *version* of a file: its identity (device, inode, size,
 * mtime) is fixed at lookup and its vm_object holds that version's pages.
 * When a lookup finds the file changed, it makes a new vnode and object;
 * holders of the old vnode keep the old bytes until they release it.  The
 * name cache keeps a vnode for "vfs_valid_ms" (tunable) before checking the
 * identity again, so a hot file costs no statx per request.
 *
 * Lookup never leaves its mount: hostfs opens with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS); names containing "..", NUL or over NAME_MAX are
 * refused before the fs sees them.
 *
 * Lock key: (c) constant after creation, (a) atomic.
 */
#ifndef VMSEND_VFS_H
#define VMSEND_VFS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct vm_object;
struct mount;

enum vtype { VNON = 0, VREG, VDIR };

struct vattr {
	enum vtype type;
	uint32_t mode;
	uint64_t size;
	uint64_t dev;
	uint64_t ino;
	struct timespec mtime;
};

struct vnode {
	_Atomic uint32_t refs;	  /* (a) */
	struct mount *mp;	  /* (c) */
	struct vm_object *object; /* (c) VREG only: this version's pages; the vnode holds a ref */
	struct vattr va;	  /* (c) identity and attributes at lookup */
	void *fs_priv;		  /* (c) */
	char *path;		  /* (c) mount-relative path, for logs */
};

struct vfsops {
	const char *name; /* "hostfs", "objfs" */
	/* Open `source`; set mp->fs_priv.  0 or -errno. */
	int (*mount)(struct mount *mp, const char *source);
	void (*unmount)(struct mount *mp);
	/*
	 * Look up a cleaned relative path ("" is the root; no "..", no leading
	 * '/') and return a new vnode with one reference.  0 or -errno
	 * (-ENOENT, -EACCES, -ELOOP, -EXDEV for an escape attempt, -ENAMETOOLONG).
	 */
	int (*lookup)(struct mount *mp, const char *relpath, struct vnode **vpp);
	/* Current attributes of relpath without making a vnode (revalidation). */
	int (*stat)(struct mount *mp, const char *relpath, struct vattr *va);
	/* List a directory: cb(arg, name, &va) per entry; optional. */
	int (*readdir)(struct mount *mp, const char *relpath,
		       int (*cb)(void *arg, const char *name, const struct vattr *va), void *arg);
	/* Free fs_priv of a vnode (not its object); optional. */
	void (*reclaim)(struct vnode *vp);
};

struct mount {
	const struct vfsops *ops; /* (c) */
	char *prefix;		  /* (c) "/" or "/media" (no trailing slash but for "/") */
	char *source;		  /* (c) host directory or image path */
	void *fs_priv;		  /* (c) */
};

/* Register a file-system type (hostfs and objfs register themselves). */
void vfs_register(const struct vfsops *ops);
/*
 * Mount `fstype` from `source` at `prefix`.  Spec form for flags:
 * "/prefix=hostfs:DIR" via vfs_mount_spec().  0 or -errno.
 */
int vfs_mount(const char *prefix, const char *fstype, const char *source, struct mount **out);
int vfs_mount_spec(const char *spec, struct mount **out);
/* Unmount everything (shutdown, tests); vnodes still held stay valid until released. */
void vfs_unmount_all(void);

/*
 * Look up an absolute, already percent-decoded path ("/media/a.mp4") in the
 * mount with the longest matching prefix.  Rejects "..", "." segments that
 * would escape, NUL bytes and over-long names with -EXDEV / -EINVAL /
 * -ENAMETOOLONG.  Returns 0 and a referenced vnode, or -errno.
 */
int vfs_lookup(const char *path, struct vnode **vpp);

void vnode_ref(struct vnode *vp);
void vnode_rele(struct vnode *vp);

#endif

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

#include "core/stats.h"

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
	_Atomic uint32_t refs;    /* (a) */
	struct mount *mp;         /* (c) */
	struct vm_object *object; /* (c) VREG only: this version's pages; the vnode holds a ref */
	struct vattr va;          /* (c) identity and attributes at lookup */
	void *fs_priv;            /* (c) */
	char *path;               /* (c) mount-relative path, for logs */
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
	/*
	 * Optional: does `source` now name something else than what was mounted
	 * (a new image moved over its path)?  Then vfs_mounts_replace() mounts it
	 * again rather than keep this mount.
	 */
	bool (*source_changed)(struct mount *mp);
};

struct mount {
	const struct vfsops *ops; /* (c) */
	char *prefix;             /* (c) "/" or "/media" (no trailing slash but for "/") */
	char *source;             /* (c) host directory or image path */
	void *fs_priv;            /* (c) */
};

/* Register a file-system type (hostfs and objfs register themselves). */
void vfs_register(const struct vfsops *ops);
/*
 * Mount `fstype` from `source` at `prefix`.  Spec form for flags:
 * "/prefix=hostfs:DIR" via vfs_mount_spec().  0 or -errno.
 */
int vfs_mount(const char *prefix, const char *fstype, const char *source, struct mount **out);
int vfs_mount_spec(const char *spec, struct mount **out);
/*
 * Make the mount table exactly `specs` ("/prefix=fstype:source"), all or
 * nothing: a mount identical to a current one is kept (its cache stays
 * warm) unless its source changed (vfsops.source_changed: a new image at
 * the same path), the others are mounted first, and only if every one succeeded does
 * the table switch.  Dropped mounts leave the name cache; vnodes still held
 * keep them alive.  0, or -errno (logged) with the old table unchanged.
 */
int vfs_mounts_replace(const char *const *specs, int n);
/* Unmount everything (shutdown, tests); vnodes still held stay valid until released. */
void vfs_unmount_all(void);

/*
 * Look up an absolute, already percent-decoded path ("/media/a.mp4") in the
 * mount with the longest matching prefix.  Rejects "..", "." segments that
 * would escape, NUL bytes and over-long names with -EXDEV / -EINVAL /
 * -ENAMETOOLONG.  Returns 0 and a referenced vnode, or -errno.
 */
int vfs_lookup(const char *path, struct vnode **vpp);

/* Same, for a path of `len` bytes that may hold a NUL (refused with -EINVAL). */
int vfs_lookupn(const char *path, size_t len, struct vnode **vpp);
/* Drop every name-cache entry (held vnodes stay valid). */
void vfs_cache_flush(void);
/*
 * Make the next lookup of every cached name of `mp` revalidate with the fs's
 * stat (a file system whose files changed all at once: a new dataset version).
 */
void vfs_cache_expire(struct mount *mp);

void vnode_ref(struct vnode *vp);
/* Drop a reference; the last one runs the fs's reclaim and drops the object. */
void vnode_rele(struct vnode *vp);
/*
 * For file systems: a vnode with one reference for `relpath` in `mp` with
 * attributes `va` (object and fs_priv still NULL: the caller sets them).
 * NULL on memory exhaustion.
 */
struct vnode *vnode_alloc(struct mount *mp, const char *relpath, const struct vattr *va);

/*
 * The name cache's size while the tunable vfs_cache_entries is 0 (its
 * default): `entries`, at least 4096 (the size until this is called).  An
 * entry keeps a file version and its cached pages alive, so a site with more
 * files than entries reads the colder ones from disk however large the page
 * cache; on hostfs each entry also holds a descriptor.
 */
void vfs_cache_size_hint(uint64_t entries);
/*
 * The hint for a page cache of vm_arena_size() bytes: as many names as a
 * quarter of its pages (files of 16 KiB on average fill it), within `fds`
 * descriptors (UINT64_MAX: no limit).
 */
void vfs_cache_size_fit(uint64_t fds);

extern int64_t vfs_valid_ms;      /* tunable "vfs_valid_ms" */
extern int64_t vfs_cache_entries; /* tunable "vfs_cache_entries" */

struct vfs_stats {
	struct vms_counter lookups;
	struct vms_counter cache_hits;   /* trusted without a syscall */
	struct vms_counter revalidated;  /* stat said unchanged */
	struct vms_counter changed;      /* stat said changed: new vnode and object */
	struct vms_counter cache_misses; /* fs lookup made a vnode */
	struct vms_counter refused;      /* "..", NUL, escape attempts */
	struct vms_counter fd_pressure;  /* EMFILE/ENFILE: half the cache dropped, retried */
	struct vms_counter vnodes_made;
	_Atomic int64_t vnodes_live;  /* (a) vnodes not yet freed (tests check for leaks) */
	_Atomic int64_t names_cached; /* (a) name-cache entries now */
};
extern struct vfs_stats vfs_stats;

#endif

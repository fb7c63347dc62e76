/*
 * hostfs: mounts, safe lookup and file identity for a host directory.
 *
 * Theory.  The mount holds one O_PATH descriptor on the root directory (the
 * one its source path leads to: hostfs_root_follow() takes over another if
 * a deploy switches a symlink).  Every name is resolved by the kernel
 * relative to it with openat2() and
 *
 *     RESOLVE_BENEATH        no absolute path, no ".." above the root, no
 *                            absolute symlink, no symlink leading outside
 *     RESOLVE_NO_MAGICLINKS  no /proc/<pid>/fd/N or /proc/self/root jumps
 *
 * so the check and the open are one atomic step: a symlink swapped in after
 * a check cannot win a race, because there is no separate check.  The VFS
 * already refused "..", NUL and long names; the kernel is the second wall.
 * Without openat2 (ENOSYS, logged once) names are walked one component at a
 * time with O_NOFOLLOW, which follows no symlink at all.
 *
 * A regular file's identity (dev, ino, size, mtime) is read with statx on
 * the opened descriptor, so it describes exactly the file whose bytes the
 * object will read.  That descriptor becomes the object's pager-private
 * data; it keeps a replaced (renamed-over or unlinked) file alive, so an old
 * object keeps serving the old version's bytes while a new lookup gets a new
 * vnode and object for the new version.
 *
 * O_DIRECT is chosen per file from statx STATX_DIOALIGN: when the memory and
 * offset alignment divide the page size, page-sized reads into page-aligned
 * arena frames are legal direct I/O, and the host page cache is bypassed (the
 * arena is our page cache).  Otherwise reads are buffered.
 */
#include "fs/hostfs/hostfs.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"
#include "vm/vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

VMS_TUNABLE(hostfs_direct, "hostfs_direct", 1,
	    "1: read with O_DIRECT where statx STATX_DIOALIGN allows page-sized I/O; 0: never");

struct hostfs_mount {
	pthread_rwlock_t lock;       /* rootfd's users (read) against its replacement (write) */
	int rootfd;                  /* (l) O_PATH|O_DIRECTORY */
	uint64_t root_dev, root_ino; /* (l) what rootfd is */
	_Atomic uint64_t checked_ns; /* (a) when the source path was last resolved again */
};

#define HOSTFS_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)

VMS_TUNABLE(hostfs_use_openat2, "hostfs_openat2", 1,
	    "1: resolve names with openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS); 0: walk "
	    "components with O_NOFOLLOW (follows no symlink; the fallback without openat2)");

static atomic_uint hostfs_logged;
static atomic_bool hostfs_no_openat2; /* ENOSYS seen: walk from now on */
#define HOSTFS_LOG_NO_DIRECT 0x2

/*
 * The fallback when openat2() is missing (or the tunable hostfs_openat2 is
 * 0): walk the name one component at a time from the root with O_NOFOLLOW.
 * It follows no symlink at all (stricter than RESOLVE_BENEATH, so still
 * safe), and refuses ".." and absolute names itself.
 */
static int
hostfs_walk(int rootfd, const char *rel, uint64_t flags)
{
	int dfd = rootfd, fd = -1, err;
	const char *p = rel;

	if (*p == '/')
		return -EXDEV;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
		bool last = slash == NULL || slash[strspn(slash, "/")] == '\0';
		char comp[NAME_MAX + 1];
		struct stat sb;

		if (n > NAME_MAX) {
			err = -ENAMETOOLONG;
			break;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (strcmp(comp, "..") == 0) {
			err = -EXDEV;
			break;
		}
		if (n == 0)
			strcpy(comp, ".");
		fd = openat(dfd, comp,
			    last ? (int)flags | O_NOFOLLOW
				 : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		err = fd < 0 ? -errno : 0;
		/* A symlink: ELOOP (last), ENOTDIR (inside), or an O_PATH fd on the link itself. */
		if (fstatat(dfd, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode)) {
			if (fd >= 0)
				close(fd);
			fd = -1;
			err = -ELOOP;
		}
		if (dfd != rootfd)
			close(dfd);
		dfd = rootfd;
		if (err != 0 || last)
			break;
		dfd = fd;
		fd = -1;
		p = slash + strspn(slash, "/");
	}
	if (err != 0) {
		if (dfd != rootfd)
			close(dfd);
		return err;
	}
	return fd;
}

/*
 * openat2() beneath `rootfd`.  glibc 2.36 has no wrapper and liburing's
 * openat2 is an SQE, not a call, so this is the one raw syscall here.
 */
static int
hostfs_openat2(int rootfd, const char *rel, uint64_t flags)
{
	struct open_how how = {.flags = flags, .resolve = HOSTFS_RESOLVE};
	int fd;

	if (!hostfs_use_openat2 || atomic_load(&hostfs_no_openat2))
		return hostfs_walk(rootfd, rel, flags);
	fd = (int)syscall(SYS_openat2, rootfd, *rel == '\0' ? "." : rel, &how, sizeof(how));
	if (fd >= 0)
		return fd;
	if (errno == ENOSYS) {
		if (!atomic_exchange(&hostfs_no_openat2, true))
			LOG_WARN("hostfs",
				 "openat2() is missing (kernel < 5.6): names are resolved "
				 "one component at a time and symlinks are not followed");
		return hostfs_walk(rootfd, rel, flags);
	}
	return -errno;
}

static int
hostfs_statx(int fd, struct statx *stx)
{
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_DIOALIGN,
		  stx) != 0)
		return -errno;
	return 0;
}

static void
hostfs_vattr_fill(struct vattr *va, const struct statx *stx)
{
	memset(va, 0, sizeof(*va));
	va->type = S_ISREG(stx->stx_mode) ? VREG : S_ISDIR(stx->stx_mode) ? VDIR : VNON;
	va->mode = stx->stx_mode;
	va->size = S_ISREG(stx->stx_mode) ? stx->stx_size : 0;
	va->dev = ((uint64_t)stx->stx_dev_major << 32) | stx->stx_dev_minor;
	va->ino = stx->stx_ino;
	va->mtime.tv_sec = stx->stx_mtime.tv_sec;
	va->mtime.tv_nsec = stx->stx_mtime.tv_nsec;
}

/* ---- mount ---- */

/* The directory `source` leads to now (symlinks followed): an O_PATH fd and its identity. */
static int
hostfs_root_open(const char *source, uint64_t *dev, uint64_t *ino)
{
	struct stat sb;
	int fd = open(source, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) != 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	*dev = sb.st_dev;
	*ino = sb.st_ino;
	return fd;
}

/*
 * Deploys often switch a symlink (/srv/current -> releases/v2) to publish a
 * new tree at once.  A web server that resolves its root by path follows
 * the switch; ours holds the directory, so at most once per vfs_valid_ms
 * the source is resolved again, and a root that now leads elsewhere is
 * taken over.  Cached names then find their files changed when they are
 * next revalidated (their identity is the old tree's), so the new tree is
 * served within about two validity windows, and responses in flight finish
 * with the old files.
 */
static void
hostfs_root_follow(struct mount *mp)
{
	struct hostfs_mount *hm = mp->fs_priv;
	uint64_t now = vms_now_ns(), last = atomic_load(&hm->checked_ns), dev, ino;

	if (now - last < (uint64_t)vfs_valid_ms * 1000000ull ||
	    !atomic_compare_exchange_strong(&hm->checked_ns, &last, now))
		return;
	int fd = hostfs_root_open(mp->source, &dev, &ino);
	if (fd < 0)
		return; /* gone for now: keep serving the directory we hold */
	pthread_rwlock_wrlock(&hm->lock);
	if (dev != hm->root_dev || ino != hm->root_ino) {
		int old = hm->rootfd;

		hm->rootfd = fd;
		hm->root_dev = dev;
		hm->root_ino = ino;
		fd = old;
		LOG_INFO("hostfs", "%s now leads to another directory: serving that one",
			 mp->source);
	}
	pthread_rwlock_unlock(&hm->lock);
	close(fd); /* the replaced root, or the same directory opened again */
}

/* hostfs_openat2() beneath the mount's root, as its source path leads now. */
static int
hostfs_open_beneath(struct mount *mp, const char *rel, uint64_t flags)
{
	struct hostfs_mount *hm = mp->fs_priv;

	hostfs_root_follow(mp);
	pthread_rwlock_rdlock(&hm->lock);
	int fd = hostfs_openat2(hm->rootfd, rel, flags);
	pthread_rwlock_unlock(&hm->lock);
	return fd;
}

static int
hostfs_mount(struct mount *mp, const char *source)
{
	struct hostfs_mount *hm;
	uint64_t dev, ino;
	int fd;

	fd = hostfs_root_open(source, &dev, &ino);
	if (fd < 0) {
		LOG_ERR("hostfs", "cannot open directory %s: %s", source, strerror(-fd));
		return fd;
	}
	hm = calloc(1, sizeof(*hm));
	if (hm == NULL) {
		close(fd);
		return -ENOMEM;
	}
	pthread_rwlock_init(&hm->lock, NULL);
	hm->rootfd = fd;
	hm->root_dev = dev;
	hm->root_ino = ino;
	atomic_init(&hm->checked_ns, vms_now_ns());
	mp->fs_priv = hm;
	(void)vms_fd_limit_raise(); /* every cached file version holds a descriptor */
	return 0;
}

static void
hostfs_unmount(struct mount *mp)
{
	struct hostfs_mount *hm = mp->fs_priv;

	close(hm->rootfd);
	pthread_rwlock_destroy(&hm->lock);
	free(hm);
	mp->fs_priv = NULL;
}

/* ---- lookup ---- */

static bool
hostfs_direct_ok(const struct statx *stx)
{
	if (!(stx->stx_mask & STATX_DIOALIGN))
		return false;
	if (stx->stx_dio_mem_align == 0 || stx->stx_dio_offset_align == 0)
		return false; /* the file system does not do direct I/O on this file */
	return PAGE_SIZE % stx->stx_dio_mem_align == 0 &&
	       PAGE_SIZE % stx->stx_dio_offset_align == 0;
}

/* Make the pager-private node for an open regular file (takes the fd). */
static struct hostfs_node *
hostfs_node_make(int fd, const struct statx *stx, const char *rel)
{
	struct hostfs_node *hn = calloc(1, sizeof(*hn));
	int fl;

	if (hn == NULL)
		return NULL;
	hn->fd = fd;
	/* O_NONBLOCK was only for the open (a FIFO must not block us); io_uring must not see it. */
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	if (hostfs_direct && hostfs_direct_ok(stx)) {
		if (fl >= 0 && fcntl(fd, F_SETFL, (fl & ~O_NONBLOCK) | O_DIRECT) == 0) {
			hn->direct = true;
			hn->dio_align = stx->stx_dio_offset_align;
		} else if ((atomic_fetch_or(&hostfs_logged, HOSTFS_LOG_NO_DIRECT) &
			    HOSTFS_LOG_NO_DIRECT) == 0) {
			LOG_INFO("hostfs", "O_DIRECT refused on %s (%s): using buffered reads", rel,
				 strerror(errno));
		}
	}
	/* A file with no hole before EOF never needs SEEK_DATA in haspage. */
	if (stx->stx_size > 0) {
		off_t h = lseek(fd, 0, SEEK_HOLE);

		hn->sparse = h >= 0 && (uint64_t)h < stx->stx_size;
	}
	return hn;
}

static int
hostfs_lookup(struct mount *mp, const char *rel, struct vnode **vpp)
{
	struct hostfs_node *hn;
	struct statx stx;
	struct vattr va;
	struct vnode *vp;
	int fd, rv;

	/* O_NONBLOCK: opening a FIFO planted in the tree must not hang the server. */
	fd = hostfs_open_beneath(mp, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fd;
	if ((rv = hostfs_statx(fd, &stx)) != 0) {
		close(fd);
		return rv;
	}
	hostfs_vattr_fill(&va, &stx);
	if (va.type == VNON) {
		close(fd);
		return -EACCES; /* devices, FIFOs, sockets are not served */
	}
	vp = vnode_alloc(mp, rel, &va);
	if (vp == NULL) {
		close(fd);
		return -ENOMEM;
	}
	if (va.type == VDIR) {
		close(fd); /* readdir reopens by name */
		*vpp = vp;
		return 0;
	}
	hn = hostfs_node_make(fd, &stx, rel);
	if (hn == NULL) {
		close(fd);
		vnode_rele(vp);
		return -ENOMEM;
	}
	vp->object = vm_object_allocate(&hostfs_pager_ops, hn, va.size, rel);
	if (vp->object == NULL) {
		close(fd);
		free(hn);
		vnode_rele(vp);
		return -ENOMEM;
	}
	*vpp = vp;
	return 0;
}

static int
hostfs_stat(struct mount *mp, const char *rel, struct vattr *va)
{
	struct statx stx;
	int fd, rv;

	/* O_PATH through the same resolver: a stat never follows a name outside either. */
	fd = hostfs_open_beneath(mp, rel, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return fd;
	rv = hostfs_statx(fd, &stx);
	close(fd);
	if (rv == 0)
		hostfs_vattr_fill(va, &stx);
	return rv;
}

static int
hostfs_readdir(struct mount *mp, const char *rel,
	       int (*cb)(void *arg, const char *name, const struct vattr *va), void *arg)
{
	struct dirent *de;
	DIR *d;
	int fd, rv = 0;

	fd = hostfs_open_beneath(mp, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (d == NULL) {
		rv = -errno;
		close(fd);
		return rv;
	}
	while (rv == 0 && (de = readdir(d)) != NULL) {
		struct statx stx;
		struct vattr va;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* Listed as what they are, never followed: a symlink is looked up like any name. */
		if (statx(dirfd(d), de->d_name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0)
			continue;
		hostfs_vattr_fill(&va, &stx);
		if (va.type == VNON)
			continue;
		rv = cb(arg, de->d_name, &va);
	}
	closedir(d);
	return rv;
}

const struct vfsops hostfs_vfsops = {
    .name = "hostfs",
    .mount = hostfs_mount,
    .unmount = hostfs_unmount,
    .lookup = hostfs_lookup,
    .stat = hostfs_stat,
    .readdir = hostfs_readdir,
};

void
hostfs_register(void)
{
	vfs_register(&hostfs_vfsops);
}

/*
 * The VFS: file-system types, mounts, the name cache and vnode lifetime.
 *
 * Theory.  A vnode is one *version* of a file: the file system fixes its
 * identity (dev, ino, size, mtime) when it opens the file, and the vnode's
 * vm_object caches that version's pages.  The name cache maps (mount,
 * cleaned relative path) to the newest vnode it has seen:
 *
 *     vfs_lookup("/m/a/b")
 *        clean + refuse ".." / NUL / long names
 *        longest mount prefix -> (mp, "a/b")
 *        cache hit, checked < vfs_valid_ms ago  -> ref, done (no syscall)
 *        cache hit, older                        -> fs stat: same identity?
 *              yes -> refresh the check time, ref, done
 *              no  -> fs lookup: new vnode + new object replaces the entry
 *        miss                                    -> fs lookup, insert
 *
 * Replacing an entry only drops the cache's reference: whoever still holds
 * the old vnode (a response in flight) keeps reading the old object, and it
 * is freed with the last vnode_rele().  File-system calls run without the
 * cache lock, so two threads may race to open the same name; the later
 * insert wins and the loser's vnode simply dies when its caller releases it.
 *
 * Mounts are reference counted: each vnode holds one, the mount table holds
 * one.  vfs_unmount_all() drops the table's; the fs's unmount op runs when
 * the last vnode goes, so a vnode held across unmount stays usable.
 */
#include "vfs/vfs.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"
#include "vm/vm.h"
#include "vm/vm_object.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

VMS_TUNABLE(vfs_valid_ms, "vfs_valid_ms", 1000,
	    "how long a looked-up file is trusted before its identity is checked again (ms)");
VMS_TUNABLE(vfs_cache_entries, "vfs_cache_entries", 0,
	    "name-cache entries kept (LRU); each keeps one file version, its cached pages and "
	    "(hostfs) a descriptor alive; 0: the size vfs_cache_size_hint() gave (vmsend serve: a "
	    "quarter of the page cache's pages, within the descriptors connections leave), at "
	    "least 4096");

#define VFS_CACHE_MIN 4096
static _Atomic uint64_t vfs_cache_hinted = VFS_CACHE_MIN;

#define VFS_MAX_TYPES  8
#define VFS_MAX_MOUNTS 32

struct mount_impl {
	struct mount mnt; /* first: vnodes point at it */
	_Atomic uint32_t refs;
};

struct ncentry {
	TAILQ_ENTRY(ncentry) lru;
	struct ncentry *hnext;
	struct mount *mp;
	struct vnode *vp; /* the cache's reference */
	uint64_t checked_ns;
	uint64_t hash;
	char *relpath;
};

static struct {
	pthread_mutex_t lock; /* everything below */
	const struct vfsops *types[VFS_MAX_TYPES];
	int ntypes;
	struct mount_impl *mounts[VFS_MAX_MOUNTS];
	int nmounts;
	struct ncentry **hash;
	uint32_t hash_mask;
	uint32_t nentries;
	TAILQ_HEAD(ncentry_lru_head, ncentry) lru; /* head: most recently used */
} vfs = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- types ---- */

void
vfs_register(const struct vfsops *ops)
{
	pthread_mutex_lock(&vfs.lock);
	for (int i = 0; i < vfs.ntypes; i++) {
		if (vfs.types[i] == ops || strcmp(vfs.types[i]->name, ops->name) == 0) {
			pthread_mutex_unlock(&vfs.lock);
			return;
		}
	}
	VERIFY3S(vfs.ntypes, <, VFS_MAX_TYPES);
	vfs.types[vfs.ntypes++] = ops;
	pthread_mutex_unlock(&vfs.lock);
}

static const struct vfsops *
vfs_find_type(const char *name)
{
	const struct vfsops *ops = NULL;

	pthread_mutex_lock(&vfs.lock);
	for (int i = 0; i < vfs.ntypes; i++)
		if (strcmp(vfs.types[i]->name, name) == 0)
			ops = vfs.types[i];
	pthread_mutex_unlock(&vfs.lock);
	return ops;
}

/* ---- mounts ---- */

static void
vfs_mount_rele(struct mount *mp)
{
	struct mount_impl *mi = (struct mount_impl *)mp;

	if (atomic_fetch_sub(&mi->refs, 1) != 1)
		return;
	if (mp->ops->unmount != NULL)
		mp->ops->unmount(mp);
	free(mp->prefix);
	free(mp->source);
	free(mi);
}

/* "/", "/a", "/a/b": absolute, no trailing slash, no empty, "." or ".." segment. */
static int
vfs_prefix_check(const char *prefix)
{
	size_t len = strlen(prefix);

	if (prefix[0] != '/')
		return -EINVAL;
	if (len == 1)
		return 0;
	if (prefix[len - 1] == '/' || strstr(prefix, "//") != NULL || strstr(prefix, "/./") ||
	    strstr(prefix, "/../") || (len >= 2 && strcmp(prefix + len - 2, "/.") == 0) ||
	    (len >= 3 && strcmp(prefix + len - 3, "/..") == 0))
		return -EINVAL;
	return 0;
}

/* A mount not yet in the table, with the table's reference.  0 or -errno (logged). */
static int
vfs_mount_make(const char *prefix, const char *fstype, const char *source, struct mount_impl **out)
{
	const struct vfsops *ops = vfs_find_type(fstype);
	struct mount_impl *mi;
	int rv;

	if (ops == NULL) {
		LOG_ERR("vfs", "mount %s: unknown file-system type \"%s\" (is it registered?)",
			prefix, fstype);
		return -ENODEV;
	}
	if ((rv = vfs_prefix_check(prefix)) != 0) {
		LOG_ERR("vfs", "mount: bad prefix \"%s\" (want \"/\" or \"/name[/name...]\")",
			prefix);
		return rv;
	}
	mi = calloc(1, sizeof(*mi));
	if (mi == NULL)
		return -ENOMEM;
	mi->mnt.ops = ops;
	mi->mnt.prefix = strdup(prefix);
	mi->mnt.source = strdup(source);
	atomic_init(&mi->refs, 1);
	if (mi->mnt.prefix == NULL || mi->mnt.source == NULL) {
		free(mi->mnt.prefix);
		free(mi->mnt.source);
		free(mi);
		return -ENOMEM;
	}
	rv = ops->mount(&mi->mnt, source);
	if (rv != 0) {
		LOG_ERR("vfs", "mount %s=%s:%s failed: %s", prefix, fstype, source, strerror(-rv));
		free(mi->mnt.prefix);
		free(mi->mnt.source);
		free(mi);
		return rv;
	}
	*out = mi;
	return 0;
}

int
vfs_mount(const char *prefix, const char *fstype, const char *source, struct mount **out)
{
	struct mount_impl *mi;
	int rv = vfs_mount_make(prefix, fstype, source, &mi);

	if (rv != 0)
		return rv;
	pthread_mutex_lock(&vfs.lock);
	for (int i = 0; i < vfs.nmounts; i++) {
		if (strcmp(vfs.mounts[i]->mnt.prefix, prefix) == 0) {
			pthread_mutex_unlock(&vfs.lock);
			LOG_ERR("vfs", "mount %s: prefix already mounted", prefix);
			vfs_mount_rele(&mi->mnt);
			return -EEXIST;
		}
	}
	if (vfs.nmounts == VFS_MAX_MOUNTS) {
		pthread_mutex_unlock(&vfs.lock);
		vfs_mount_rele(&mi->mnt);
		return -ENOSPC;
	}
	vfs.mounts[vfs.nmounts++] = mi;
	pthread_mutex_unlock(&vfs.lock);
	LOG_INFO("vfs", "mounted %s at %s (%s)", source, prefix, fstype);
	if (out != NULL)
		*out = &mi->mnt;
	return 0;
}

/* Split "/prefix=fstype:source" into two new strings and a pointer into spec; 0 or -errno. */
static int
vfs_spec_split(const char *spec, char **prefix, char **type, const char **source)
{
	const char *eq = strchr(spec, '='), *colon;

	colon = eq != NULL ? strchr(eq + 1, ':') : NULL;
	if (eq == NULL || colon == NULL || eq == spec || colon == eq + 1 || colon[1] == '\0') {
		LOG_ERR("vfs", "bad mount spec \"%s\" (want /prefix=fstype:source)", spec);
		return -EINVAL;
	}
	*prefix = strndup(spec, (size_t)(eq - spec));
	*type = strndup(eq + 1, (size_t)(colon - eq - 1));
	*source = colon + 1;
	if (*prefix == NULL || *type == NULL) {
		free(*prefix);
		free(*type);
		return -ENOMEM;
	}
	return 0;
}

int
vfs_mount_spec(const char *spec, struct mount **out)
{
	char *prefix, *type;
	const char *source;
	int rv = vfs_spec_split(spec, &prefix, &type, &source);

	if (rv != 0)
		return rv;
	rv = vfs_mount(prefix, type, source, out);
	free(prefix);
	free(type);
	return rv;
}

static void vfs_cache_purge_locked(struct mount *mp, struct ncentry **dead);
static void vfs_cache_free_dead(struct ncentry *dead);

int
vfs_mounts_replace(const char *const *specs, int n)
{
	struct mount_impl *next[VFS_MAX_MOUNTS], *old[VFS_MAX_MOUNTS];
	struct ncentry *dead = NULL;
	int nold, rv = 0, made = 0;

	if (n > VFS_MAX_MOUNTS)
		return -ENOSPC;
	/* Build the whole new table outside the lock, keeping identical mounts (warm caches). */
	for (; made < n; made++) {
		char *prefix, *type;
		const char *source;

		if ((rv = vfs_spec_split(specs[made], &prefix, &type, &source)) != 0)
			break;
		struct mount_impl *keep = NULL;
		pthread_mutex_lock(&vfs.lock);
		for (int i = 0; i < vfs.nmounts && keep == NULL; i++) {
			struct mount *mp = &vfs.mounts[i]->mnt;
			if (strcmp(mp->prefix, prefix) == 0 && strcmp(mp->ops->name, type) == 0 &&
			    strcmp(mp->source, source) == 0) {
				keep = vfs.mounts[i];
				atomic_fetch_add(&keep->refs, 1);
			}
		}
		pthread_mutex_unlock(&vfs.lock);
		if (keep != NULL && keep->mnt.ops->source_changed != NULL &&
		    keep->mnt.ops->source_changed(&keep->mnt)) {
			LOG_INFO("vfs", "%s changed since it was mounted at %s: mounting it again",
				 source, prefix);
			vfs_mount_rele(&keep->mnt);
			keep = NULL;
		}
		for (int j = 0; j < made && rv == 0; j++)
			if (strcmp(next[j]->mnt.prefix, prefix) == 0) {
				LOG_ERR("vfs", "mount %s: prefix mounted twice", prefix);
				rv = -EEXIST;
			}
		if (keep != NULL)
			next[made] = keep;
		else if (rv == 0)
			rv = vfs_mount_make(prefix, type, source, &next[made]);
		if (rv != 0 && keep != NULL)
			vfs_mount_rele(&keep->mnt);
		free(prefix);
		free(type);
		if (rv != 0)
			break;
	}
	if (rv != 0) {
		for (int j = 0; j < made; j++)
			vfs_mount_rele(&next[j]->mnt);
		return rv;
	}
	pthread_mutex_lock(&vfs.lock);
	nold = vfs.nmounts;
	memcpy(old, vfs.mounts, sizeof(old[0]) * (size_t)nold);
	for (int i = 0; i < nold; i++) {
		bool kept = false;
		for (int j = 0; j < n; j++)
			kept |= next[j] == old[i];
		if (!kept)
			vfs_cache_purge_locked(&old[i]->mnt, &dead);
	}
	memcpy(vfs.mounts, next, sizeof(next[0]) * (size_t)n);
	vfs.nmounts = n;
	pthread_mutex_unlock(&vfs.lock);
	vfs_cache_free_dead(dead);
	for (int i = 0; i < nold; i++)
		vfs_mount_rele(&old[i]->mnt);
	return 0;
}

void
vfs_unmount_all(void)
{
	struct mount_impl *mounts[VFS_MAX_MOUNTS];
	struct ncentry *dead = NULL;
	int n;

	pthread_mutex_lock(&vfs.lock);
	vfs_cache_purge_locked(NULL, &dead);
	n = vfs.nmounts;
	memcpy(mounts, vfs.mounts, sizeof(mounts[0]) * (size_t)n);
	vfs.nmounts = 0;
	free(vfs.hash);
	vfs.hash = NULL;
	vfs.hash_mask = 0;
	pthread_mutex_unlock(&vfs.lock);
	vfs_cache_free_dead(dead);
	for (int i = 0; i < n; i++)
		vfs_mount_rele(&mounts[i]->mnt);
}

/* ---- vnodes ---- */

struct vnode *
vnode_alloc(struct mount *mp, const char *relpath, const struct vattr *va)
{
	struct vnode *vp = calloc(1, sizeof(*vp));

	if (vp == NULL)
		return NULL;
	vp->path = strdup(relpath);
	if (vp->path == NULL) {
		free(vp);
		return NULL;
	}
	atomic_init(&vp->refs, 1);
	vp->mp = mp;
	vp->va = *va;
	atomic_fetch_add(&((struct mount_impl *)mp)->refs, 1);
	counter_inc(&vfs_stats.vnodes_made);
	atomic_fetch_add(&vfs_stats.vnodes_live, 1);
	return vp;
}

void
vnode_ref(struct vnode *vp)
{
	uint32_t old = atomic_fetch_add(&vp->refs, 1);

	VERIFY3U(old, >, 0);
}

void
vnode_rele(struct vnode *vp)
{
	/* Read before the drop: once our reference is gone another holder may free vp. */
	struct mount *mp = vp->mp;
	uint32_t old = atomic_fetch_sub(&vp->refs, 1);

	VERIFY3U(old, >, 0);
	if (old != 1)
		return;
	if (mp->ops->reclaim != NULL)
		mp->ops->reclaim(vp);
	if (vp->object != NULL)
		vm_object_deallocate(vp->object);
	free(vp->path);
	free(vp);
	atomic_fetch_sub(&vfs_stats.vnodes_live, 1);
	vfs_mount_rele(mp);
}

/* ---- path cleaning ---- */

/*
 * Clean an absolute path into "a/b/c" (no empty or "." segments).  Refuse
 * "..", NUL and over-long names before any file system sees them.
 */
static int
vfs_path_clean(const char *path, size_t len, char *out, size_t outsz)
{
	size_t o = 0, i = 0;

	if (len == 0 || path[0] != '/')
		return -EINVAL;
	if (memchr(path, '\0', len) != NULL)
		return -EINVAL;
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	while (i < len) {
		size_t s;

		while (i < len && path[i] == '/')
			i++;
		s = i;
		while (i < len && path[i] != '/')
			i++;
		if (i == s || (i - s == 1 && path[s] == '.'))
			continue;
		if (i - s == 2 && path[s] == '.' && path[s + 1] == '.')
			return -EXDEV;
		if (i - s > NAME_MAX)
			return -ENAMETOOLONG;
		if (o + (o != 0) + (i - s) + 1 > outsz)
			return -ENAMETOOLONG;
		if (o != 0)
			out[o++] = '/';
		memcpy(out + o, path + s, i - s);
		o += i - s;
	}
	out[o] = '\0';
	return 0;
}

/* Longest-prefix mount of a cleaned path ("a/b"); sets *rel to the part after it.  Locked. */
static struct mount *
vfs_mount_match_locked(const char *clean, const char **rel)
{
	struct mount *best = NULL;
	size_t bestlen = 0;

	for (int i = 0; i < vfs.nmounts; i++) {
		struct mount *mp = &vfs.mounts[i]->mnt;
		const char *p = mp->prefix + 1; /* cleaned paths have no leading '/' */
		size_t plen = strlen(p);

		if (best != NULL && plen < bestlen)
			continue;
		if (plen != 0 &&
		    (strncmp(clean, p, plen) != 0 || (clean[plen] != '\0' && clean[plen] != '/')))
			continue;
		best = mp;
		bestlen = plen;
	}
	if (best != NULL) {
		const char *r = clean + bestlen;

		*rel = *r == '/' ? r + 1 : r;
	}
	return best;
}

/* ---- the name cache ---- */

static uint64_t
vfs_hash(const struct mount *mp, const char *rel)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)mp;

	for (; *rel; rel++)
		h = (h ^ (unsigned char)*rel) * 1099511628211ull;
	return h;
}

static struct ncentry **
vfs_cache_slot_locked(const struct mount *mp, const char *rel, uint64_t h)
{
	struct ncentry **pp;

	if (vfs.hash == NULL)
		return NULL;
	for (pp = &vfs.hash[h & vfs.hash_mask]; *pp != NULL; pp = &(*pp)->hnext)
		if ((*pp)->hash == h && (*pp)->mp == mp && strcmp((*pp)->relpath, rel) == 0)
			return pp;
	return pp;
}

/* Unlink an entry and chain it on *dead (its vnode is released outside the lock). */
static void
vfs_cache_unlink_locked(struct ncentry **pp, struct ncentry **dead)
{
	struct ncentry *e = *pp;

	*pp = e->hnext;
	TAILQ_REMOVE(&vfs.lru, e, lru);
	vfs.nentries--;
	atomic_store(&vfs_stats.names_cached, vfs.nentries);
	e->hnext = *dead;
	*dead = e;
}

static void
vfs_cache_purge_locked(struct mount *mp, struct ncentry **dead)
{
	if (vfs.hash == NULL)
		return;
	for (uint32_t b = 0; b <= vfs.hash_mask; b++) {
		struct ncentry **pp = &vfs.hash[b];

		while (*pp != NULL) {
			if (mp == NULL || (*pp)->mp == mp)
				vfs_cache_unlink_locked(pp, dead);
			else
				pp = &(*pp)->hnext;
		}
	}
}

static void
vfs_cache_free_dead(struct ncentry *dead)
{
	while (dead != NULL) {
		struct ncentry *next = dead->hnext;

		vnode_rele(dead->vp);
		free(dead->relpath);
		free(dead);
		dead = next;
	}
}

static void
vfs_cache_remove_locked(const struct mount *mp, const char *rel, struct ncentry **dead)
{
	uint64_t h = vfs_hash(mp, rel);
	struct ncentry **pp = vfs_cache_slot_locked(mp, rel, h);

	if (pp != NULL && *pp != NULL)
		vfs_cache_unlink_locked(pp, dead);
}

void
vfs_cache_size_hint(uint64_t entries)
{
	atomic_store(&vfs_cache_hinted, MAX(entries, (uint64_t)VFS_CACHE_MIN));
}

void
vfs_cache_size_fit(uint64_t fds)
{
	vfs_cache_size_hint(MIN(vm_arena_size() / PAGE_SIZE / 4, fds));
}

static uint64_t
vfs_cache_capacity(void)
{
	return vfs_cache_entries > 0 ? (uint64_t)vfs_cache_entries : atomic_load(&vfs_cache_hinted);
}

/*
 * Twice the buckets once the entries outnumber them, so that chains stay
 * short however large the cache is sized; a failed allocation keeps the
 * table as it is (longer chains, still correct).
 */
static void
vfs_cache_grow_locked(void)
{
	uint32_t n = (vfs.hash_mask + 1) * 2;
	struct ncentry **h = n != 0 ? calloc(n, sizeof(*h)) : NULL;

	if (h == NULL)
		return;
	for (uint32_t b = 0; b <= vfs.hash_mask; b++) {
		struct ncentry *e = vfs.hash[b], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = h[e->hash & (n - 1)];
			h[e->hash & (n - 1)] = e;
		}
	}
	free(vfs.hash);
	vfs.hash = h;
	vfs.hash_mask = n - 1;
}

/* Insert or replace (mp, rel) -> vp; takes a reference on vp for the cache. */
static void
vfs_cache_enter_locked(struct mount *mp, const char *rel, struct vnode *vp, uint64_t now,
		       struct ncentry **dead)
{
	uint64_t h = vfs_hash(mp, rel);
	struct ncentry **pp, *e;

	uint64_t cap = vfs_cache_capacity();

	if (vfs.hash == NULL) {
		uint32_t buckets = 1024;

		vfs.hash = calloc(buckets, sizeof(*vfs.hash));
		if (vfs.hash == NULL)
			return;
		vfs.hash_mask = buckets - 1;
		TAILQ_INIT(&vfs.lru);
	}
	pp = vfs_cache_slot_locked(mp, rel, h);
	if (*pp != NULL)
		vfs_cache_unlink_locked(pp, dead);
	while (vfs.nentries >= cap) {
		struct ncentry *old = TAILQ_LAST(&vfs.lru, ncentry_lru_head), **opp;

		opp = vfs_cache_slot_locked(old->mp, old->relpath, old->hash);
		vfs_cache_unlink_locked(opp, dead);
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->relpath = strdup(rel)) == NULL) {
		free(e);
		return;
	}
	vnode_ref(vp);
	e->mp = mp;
	e->vp = vp;
	e->hash = h;
	e->checked_ns = now;
	pp = vfs_cache_slot_locked(mp, rel, h);
	e->hnext = NULL;
	*pp = e;
	TAILQ_INSERT_HEAD(&vfs.lru, e, lru);
	vfs.nentries++;
	atomic_store(&vfs_stats.names_cached, vfs.nentries);
	if (vfs.nentries > vfs.hash_mask + 1)
		vfs_cache_grow_locked();
}

/* Drop the colder half of the cache. */
static void
vfs_cache_shrink_half(void)
{
	struct ncentry *dead = NULL;
	uint32_t n;

	pthread_mutex_lock(&vfs.lock);
	n = (vfs.nentries + 1) / 2;
	while (n-- > 0 && vfs.nentries > 0) {
		struct ncentry *old = TAILQ_LAST(&vfs.lru, ncentry_lru_head), **opp;

		opp = vfs_cache_slot_locked(old->mp, old->relpath, old->hash);
		vfs_cache_unlink_locked(opp, &dead);
	}
	pthread_mutex_unlock(&vfs.lock);
	vfs_cache_free_dead(dead);
}

static bool
vattr_same_identity(const struct vattr *a, const struct vattr *b)
{
	return a->type == b->type && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* ---- lookup ---- */

int
vfs_lookupn(const char *path, size_t len, struct vnode **vpp)
{
	char clean[PATH_MAX];
	const char *rel;
	struct mount *mp;
	struct ncentry **pp, *dead = NULL;
	struct vnode *vp = NULL, *cached = NULL;
	uint64_t now = vms_now_ns(), h;
	struct vattr va;
	int rv;

	counter_inc(&vfs_stats.lookups);
	if ((rv = vfs_path_clean(path, len, clean, sizeof(clean))) != 0) {
		counter_inc(&vfs_stats.refused);
		return rv;
	}
	pthread_mutex_lock(&vfs.lock);
	mp = vfs_mount_match_locked(clean, &rel);
	if (mp == NULL) {
		pthread_mutex_unlock(&vfs.lock);
		return -ENOENT;
	}
	/* Pin the mount: an unmount may run while the fs works unlocked. */
	atomic_fetch_add(&((struct mount_impl *)mp)->refs, 1);
	h = vfs_hash(mp, rel);
	pp = vfs_cache_slot_locked(mp, rel, h);
	if (pp != NULL && *pp != NULL) {
		struct ncentry *e = *pp;

		TAILQ_REMOVE(&vfs.lru, e, lru);
		TAILQ_INSERT_HEAD(&vfs.lru, e, lru);
		cached = e->vp;
		vnode_ref(cached);
		if (now - e->checked_ns < (uint64_t)vfs_valid_ms * 1000000ull) {
			pthread_mutex_unlock(&vfs.lock);
			counter_inc(&vfs_stats.cache_hits);
			*vpp = cached;
			vfs_mount_rele(mp);
			return 0;
		}
	}
	pthread_mutex_unlock(&vfs.lock);

	if (cached != NULL) {
		/* Revalidate: one stat, no open, if the file is unchanged. */
		rv = mp->ops->stat(mp, rel, &va);
		if (rv == 0 && vattr_same_identity(&va, &cached->va)) {
			pthread_mutex_lock(&vfs.lock);
			pp = vfs_cache_slot_locked(mp, rel, h);
			if (pp != NULL && *pp != NULL && (*pp)->vp == cached)
				(*pp)->checked_ns = now;
			pthread_mutex_unlock(&vfs.lock);
			counter_inc(&vfs_stats.revalidated);
			*vpp = cached;
			vfs_mount_rele(mp);
			return 0;
		}
		vnode_rele(cached);
		if (rv == 0)
			counter_inc(&vfs_stats.changed);
	}
	rv = mp->ops->lookup(mp, rel, &vp);
	if (rv == -EMFILE || rv == -ENFILE) {
		/* Each cached version holds a descriptor: give back the colder half, retry once. */
		counter_inc(&vfs_stats.fd_pressure);
		vfs_cache_shrink_half();
		rv = mp->ops->lookup(mp, rel, &vp);
	}
	pthread_mutex_lock(&vfs.lock);
	if (rv == 0)
		vfs_cache_enter_locked(mp, rel, vp, now, &dead);
	else
		vfs_cache_remove_locked(mp, rel, &dead);
	pthread_mutex_unlock(&vfs.lock);
	vfs_cache_free_dead(dead);
	if (rv == 0) {
		counter_inc(&vfs_stats.cache_misses);
		*vpp = vp;
	} else if (rv == -EXDEV || rv == -ELOOP) {
		counter_inc(&vfs_stats.refused);
	}
	vfs_mount_rele(mp);
	return rv;
}

int
vfs_lookup(const char *path, struct vnode **vpp)
{
	return vfs_lookupn(path, strlen(path), vpp);
}

void
vfs_cache_flush(void)
{
	struct ncentry *dead = NULL;

	pthread_mutex_lock(&vfs.lock);
	vfs_cache_purge_locked(NULL, &dead);
	pthread_mutex_unlock(&vfs.lock);
	vfs_cache_free_dead(dead);
}

void
vfs_cache_expire(struct mount *mp)
{
	pthread_mutex_lock(&vfs.lock);
	if (vfs.hash != NULL) {
		for (uint32_t b = 0; b <= vfs.hash_mask; b++)
			for (struct ncentry *e = vfs.hash[b]; e != NULL; e = e->hnext)
				if (e->mp == mp)
					e->checked_ns = 0;
	}
	pthread_mutex_unlock(&vfs.lock);
}

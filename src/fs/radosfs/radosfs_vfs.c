/*
 * radosfs vfsops: mount a dataset ("POOL[/NAMESPACE]"), look names up in the
 * current manifest, and the mount's thread that follows new versions and the
 * cluster's health (see radosfs.h).
 *
 *   put ──write objects, manifest.N, manifest──▶ notify(manifest)
 *                                                   │ librados thread: queue the ack
 *   mount thread ◀─────────────── kick ─────────────┘
 *     read the manifest header: new version? load it, swap `cur`,
 *     vfs_cache_expire(mp); then ack, so put returns once every node switched.
 *     Every radosfs_poll_ms the same header read is the health probe.
 *
 * A vnode holds its own manifest reference, so a lookup done before the swap
 * keeps reading the version it started with; the next lookup revalidates
 * against the new manifest and keeps the vnode only if the file id (the
 * identity of a file version) did not change.
 */
#include "fs/radosfs/radosfs.h"

#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

VMS_TUNABLE(radosfs_poll_ms, "radosfs_poll_ms", 500,
	    "how often a rados mount reads the manifest's version (a missed notify, the health "
	    "probe), ms");

static const char *radosfs_conf;

void
radosfs_set_conf(const char *path)
{
	radosfs_conf = path;
}

#define RFS_MAX_ACKS 64

struct rfs_mount {
	struct rfs_conn *conn;       /* (c) */
	struct mount *mp;            /* (c) */
	uint64_t dev;                /* (c) vattr dev of every vnode */
	pthread_mutex_t lock;        /* everything (l) below */
	pthread_cond_t cv;           /* kicks the thread */
	struct rfs_manifest *cur;    /* (l) the version new lookups get */
	bool stop;                   /* (l) */
	bool kick;                   /* (l) a notify came */
	uint64_t acks[RFS_MAX_ACKS]; /* (l) notify ids to ack after the reload */
	int nacks;                   /* (l) */
	uint64_t watch_cookie;       /* thread only */
	_Atomic int watch_err;       /* (a) the watch broke: re-watch */
	bool watching;               /* thread only */
	pthread_t thread;            /* (c) */
};

static struct rfs_manifest *
rfs_mount_current(struct rfs_mount *rm)
{
	pthread_mutex_lock(&rm->lock);
	struct rfs_manifest *m = rm->cur;
	rfs_manifest_ref(m);
	pthread_mutex_unlock(&rm->lock);
	return m;
}

/* ---- the watch ---- */

static void
rfs_watch_cb(void *arg, uint64_t notify_id, uint64_t handle, uint64_t notifier_id, void *data,
	     size_t len)
{
	struct rfs_mount *rm = arg;

	counter_inc(&radosfs_stats.notifies);
	pthread_mutex_lock(&rm->lock);
	if (rm->nacks < RFS_MAX_ACKS)
		rm->acks[rm->nacks++] = notify_id;
	rm->kick = true;
	pthread_cond_signal(&rm->cv);
	pthread_mutex_unlock(&rm->lock);
}

static void
rfs_watch_err(void *arg, uint64_t cookie, int err)
{
	struct rfs_mount *rm = arg;

	atomic_store(&rm->watch_err, err ? err : -ENOTCONN);
	pthread_mutex_lock(&rm->lock);
	rm->kick = true;
	pthread_cond_signal(&rm->cv);
	pthread_mutex_unlock(&rm->lock);
}

/* Version in the current manifest's header (the health probe); 0 on error (noted). */
static uint64_t
rfs_mount_peek_version(struct rfs_mount *rm)
{
	char hdr[24];
	uint64_t v;
	int rv = rados_read(rm->conn->io, RFS_MANIFEST_OID, hdr, sizeof(hdr), 0);

	rfs_conn_note(rm->conn, rv, "manifest probe");
	if (rv != (int)sizeof(hdr) || memcmp(hdr, RFS_MAGIC, 8) != 0)
		return 0;
	memcpy(&v, hdr + 16, 8);
	return le64toh(v);
}

static void
rfs_mount_refresh(struct rfs_mount *rm)
{
	uint64_t v = rfs_mount_peek_version(rm);

	pthread_mutex_lock(&rm->lock);
	uint64_t have = rm->cur->version;
	pthread_mutex_unlock(&rm->lock);
	if (v == 0 || v == have)
		return;
	struct rfs_manifest *m;
	char err[256] = "";
	int rv = rfs_manifest_load(rm->conn, 0, &m, err, sizeof(err));
	if (rv != 0) {
		LOG_ERR("radosfs", "%s: cannot load manifest version %llu: %s; still serving %llu",
			rm->conn->where, (unsigned long long)v, err, (unsigned long long)have);
		return;
	}
	pthread_mutex_lock(&rm->lock);
	struct rfs_manifest *old = rm->cur;
	rm->cur = m;
	pthread_mutex_unlock(&rm->lock);
	counter_inc(&radosfs_stats.versions_loaded);
	/* Lookups from now on revalidate against the new version. */
	vfs_cache_expire(rm->mp);
	LOG_INFO("radosfs", "%s: switched from version %llu to %llu (%u entries)", rm->conn->where,
		 (unsigned long long)old->version, (unsigned long long)m->version, m->nentries);
	rfs_manifest_rele(old);
}

static void *
rfs_mount_thread(void *arg)
{
	struct rfs_mount *rm = arg;

	for (;;) {
		if (!rm->watching || atomic_exchange(&rm->watch_err, 0) != 0) {
			if (rm->watching)
				(void)rados_unwatch2(rm->conn->io, rm->watch_cookie);
			rm->watching =
			    rados_watch2(rm->conn->io, RFS_MANIFEST_OID, &rm->watch_cookie,
					 rfs_watch_cb, rfs_watch_err, rm) == 0;
		}
		rfs_mount_refresh(rm);
		pthread_mutex_lock(&rm->lock);
		uint64_t acks[RFS_MAX_ACKS];
		int n = rm->nacks;
		memcpy(acks, rm->acks, sizeof(acks[0]) * (size_t)n);
		rm->nacks = 0;
		pthread_mutex_unlock(&rm->lock);
		/* Acked after the switch: the notifier returns once every node serves it. */
		for (int i = 0; i < n; i++)
			(void)rados_notify_ack(rm->conn->io, RFS_MANIFEST_OID, acks[i],
					       rm->watch_cookie, NULL, 0);
		pthread_mutex_lock(&rm->lock);
		if (!rm->kick && !rm->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t ns =
			    (uint64_t)ts.tv_nsec + (uint64_t)MAX(radosfs_poll_ms, 10) * 1000000ull;
			ts.tv_sec += (time_t)(ns / 1000000000ull);
			ts.tv_nsec = (long)(ns % 1000000000ull);
			(void)pthread_cond_timedwait(&rm->cv, &rm->lock, &ts);
		}
		bool stop = rm->stop;
		rm->kick = false;
		pthread_mutex_unlock(&rm->lock);
		if (stop)
			break;
	}
	if (rm->watching) {
		(void)rados_unwatch2(rm->conn->io, rm->watch_cookie);
		(void)rados_watch_flush(rm->conn->cluster);
	}
	return NULL;
}

/* ---- mount ---- */

static int
radosfs_mount(struct mount *mp, const char *source)
{
	char err[256] = "";
	char *pool = strdup(source), *ns = NULL;
	struct rfs_mount *rm = calloc(1, sizeof(*rm));
	int rv;

	if (pool == NULL || rm == NULL) {
		free(pool);
		free(rm);
		return -ENOMEM;
	}
	if ((ns = strchr(pool, '/')) != NULL)
		*ns++ = '\0';
	rv = rfs_conn_open(radosfs_conf, pool, ns, &rm->conn, err, sizeof(err));
	if (rv == 0) {
		rv = rfs_manifest_load(rm->conn, 0, &rm->cur, err, sizeof(err));
		if (rv == -ENOENT)
			snprintf(err, sizeof(err), "no dataset in %s (run vmsend rados put)",
				 rm->conn->where);
	}
	free(pool);
	if (rv != 0) {
		LOG_ERR("radosfs", "cannot mount rados:%s at %s: %s", source, mp->prefix, err);
		rfs_conn_rele(rm->conn);
		free(rm);
		return rv;
	}
	rm->mp = mp;
	rm->dev = XXH3_64bits(rm->conn->where, strlen(rm->conn->where));
	pthread_mutex_init(&rm->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rm->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((rv = -pthread_create(&rm->thread, NULL, rfs_mount_thread, rm)) != 0) {
		rfs_manifest_rele(rm->cur);
		rfs_conn_rele(rm->conn);
		free(rm);
		return rv;
	}
	mp->fs_priv = rm;
	LOG_INFO("radosfs", "%s: serving manifest version %llu (%u entries)", rm->conn->where,
		 (unsigned long long)rm->cur->version, rm->cur->nentries);
	return 0;
}

static void
radosfs_unmount(struct mount *mp)
{
	struct rfs_mount *rm = mp->fs_priv;

	pthread_mutex_lock(&rm->lock);
	rm->stop = true;
	pthread_cond_signal(&rm->cv);
	pthread_mutex_unlock(&rm->lock);
	pthread_join(rm->thread, NULL);
	rfs_manifest_rele(rm->cur);
	rfs_conn_rele(rm->conn);
	pthread_mutex_destroy(&rm->lock);
	pthread_cond_destroy(&rm->cv);
	free(rm);
	mp->fs_priv = NULL;
}

/* ---- names ---- */

static void
rfs_vattr_fill(const struct rfs_mount *rm, const struct rfs_entry *e, struct vattr *va)
{
	memset(va, 0, sizeof(*va));
	va->type = e->type == RFS_T_DIR ? VDIR : VREG;
	va->mode = e->mode | (va->type == VDIR ? S_IFDIR : S_IFREG);
	va->size = e->type == RFS_T_FILE ? e->size : 0;
	va->dev = rm->dev;
	/* A file version's id is its identity: a new version is a new vnode and object. */
	va->ino = e->type == RFS_T_FILE ? e->fileid : XXH3_64bits(e->path, strlen(e->path));
	va->mtime.tv_sec = e->mtime_sec;
	va->mtime.tv_nsec = e->mtime_nsec;
}

static int
rfs_refuse_if_down(struct rfs_mount *rm)
{
	if (!atomic_load(&rm->conn->down))
		return 0;
	counter_inc(&radosfs_stats.down_refused);
	return -EHOSTUNREACH;
}

static int
radosfs_stat(struct mount *mp, const char *rel, struct vattr *va)
{
	struct rfs_mount *rm = mp->fs_priv;
	int rv = rfs_refuse_if_down(rm);

	if (rv != 0)
		return rv;
	struct rfs_manifest *m = rfs_mount_current(rm);
	const struct rfs_entry *e = rfs_manifest_find(m, rel);
	if (e != NULL)
		rfs_vattr_fill(rm, e, va);
	rfs_manifest_rele(m);
	return e != NULL ? 0 : -ENOENT;
}

static int
radosfs_lookup(struct mount *mp, const char *rel, struct vnode **vpp)
{
	struct rfs_mount *rm = mp->fs_priv;
	struct vattr va;
	int rv = rfs_refuse_if_down(rm);

	if (rv != 0)
		return rv;
	struct rfs_manifest *m = rfs_mount_current(rm);
	const struct rfs_entry *e = rfs_manifest_find(m, rel);
	if (e == NULL) {
		rfs_manifest_rele(m);
		return -ENOENT;
	}
	rfs_vattr_fill(rm, e, &va);
	struct vnode *vp = vnode_alloc(mp, rel, &va);
	if (vp == NULL) {
		rfs_manifest_rele(m);
		return -ENOMEM;
	}
	if (va.type == VREG) {
		vp->object = rfs_object_create(rm->conn, m, e);
		if (vp->object == NULL) {
			rfs_manifest_rele(m);
			vnode_rele(vp);
			return -ENOMEM;
		}
	}
	rfs_manifest_rele(m);
	*vpp = vp;
	return 0;
}

struct rfs_readdir_ctx {
	struct rfs_mount *rm;
	int (*cb)(void *arg, const char *name, const struct vattr *va);
	void *arg;
};

static int
rfs_readdir_one(void *arg, const char *name, const struct rfs_entry *e)
{
	struct rfs_readdir_ctx *x = arg;
	struct vattr va;

	rfs_vattr_fill(x->rm, e, &va);
	return x->cb(x->arg, name, &va);
}

static int
radosfs_readdir(struct mount *mp, const char *rel,
		int (*cb)(void *arg, const char *name, const struct vattr *va), void *arg)
{
	struct rfs_mount *rm = mp->fs_priv;
	int rv = rfs_refuse_if_down(rm);

	if (rv != 0)
		return rv;
	struct rfs_manifest *m = rfs_mount_current(rm);
	const struct rfs_entry *e = rfs_manifest_find(m, rel);
	struct rfs_readdir_ctx x = {rm, cb, arg};

	rv = e == NULL              ? -ENOENT
	     : e->type != RFS_T_DIR ? -ENOTDIR
				    : rfs_manifest_children(m, rel, rfs_readdir_one, &x);
	rfs_manifest_rele(m);
	return rv;
}

const struct vfsops radosfs_vfsops = {
    .name = "rados",
    .mount = radosfs_mount,
    .unmount = radosfs_unmount,
    .lookup = radosfs_lookup,
    .stat = radosfs_stat,
    .readdir = radosfs_readdir,
};

void
radosfs_register(void)
{
	vfs_register(&radosfs_vfsops);
}

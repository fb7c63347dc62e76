/*
 * radosfs: a dataset in a Ceph RADOS pool as a vmsend file system, and the
 * tools that write and check it (docs/rados-format.md).
 *
 * A mount ("/=rados:POOL[/NAMESPACE]") connects once, reads the manifest and
 * watches it (rados_watch2).  A notify from `vmsend rados put` (or a poll
 * every radosfs_poll_ms, for missed notifies) makes the mount's thread load
 * the new manifest and swap it in; the VFS name cache is told to revalidate,
 * so the next lookup of a changed file gets a new vnode and object while a
 * response in flight keeps the vnode, manifest and immutable objects it
 * started with.  Unchanged files keep their identity (the same file id) and
 * their cached pages.
 *
 * Health: the same thread probes the cluster; while a probe or a read
 * fails with a connection error or time-out the mount is "down": lookups and
 * page-ins fail at once with -EHOSTUNREACH (HTTP 503) and one log line says
 * so; the first good probe brings it back, logged too.
 *
 * Lock key: (c) constant after creation, (a) atomic, (l) rfs_conn.lock.
 */
#ifndef VMSEND_FS_RADOSFS_H
#define VMSEND_FS_RADOSFS_H

#include "core/stats.h"
#include "fs/radosfs/radosfs_format.h"
#include "pager/pager.h"
#include "vfs/vfs.h"

#include <pthread.h>
#include <rados/librados.h>
#include <stdbool.h>
#include <stdint.h>

/* Register "rados" with the VFS (idempotent). */
void radosfs_register(void);
/*
 * Ceph configuration file for mounts made from now on (NULL: librados's
 * default search, which honours $CEPH_CONF).  The string is not copied.
 */
void radosfs_set_conf(const char *path);

extern const struct vfsops radosfs_vfsops;
extern const struct pager_ops radosfs_pager_ops; /* caps: PAGER_CAP_BOGUS */

/* A connection to one pool/namespace, shared by a mount and its nodes. */
struct rfs_conn {
	_Atomic uint32_t refs; /* (a) */
	rados_t cluster;       /* (c) */
	rados_ioctx_t io;      /* (c) */
	char *pool, *ns;       /* (c) ns "" for the default namespace */
	char *where;           /* (c) "pool" or "pool/ns", for logs */
	atomic_bool down;      /* (a) the cluster did not answer lately */
};

/*
 * Connect to `pool` (namespace `ns`, may be NULL) with ceph config `conf`
 * (NULL: default search).  Operations time out after radosfs_op_timeout_ms.
 * The client is client.admin, or the name "--id X" / "--name T.X" in
 * $CEPH_ARGS gives (as for the ceph tools); its key comes from the keyring the
 * config names.  0, or -errno with a reason in err (naming the client when
 * the connect fails: wrong key, missing keyring, unknown name).
 */
int rfs_conn_open(const char *conf, const char *pool, const char *ns, struct rfs_conn **out,
		  char *err, size_t errsz);
void rfs_conn_rele(struct rfs_conn *c);
/* Note an operation's result: connection errors mark the conn down (logged once). */
void rfs_conn_note(struct rfs_conn *c, int rv, const char *what);
/* An errno that means "the cluster did not answer" (time-out, no connection). */
bool rfs_errno_is_down(int rv);

/*
 * Read the current manifest (or version `version` when nonzero).
 * 0, -ENOENT (no dataset yet), -EBADMSG (reason in err) or another -errno.
 */
int rfs_manifest_load(struct rfs_conn *c, uint64_t version, struct rfs_manifest **out, char *err,
		      size_t errsz);

/* Pager-private data of a file version's object (all constant). */
struct rfs_node {
	struct rfs_conn *conn;     /* (c) a reference */
	struct rfs_manifest *man;  /* (c) a reference: the version this vnode belongs to */
	const struct rfs_entry *e; /* (c) inside man */
};

/* Make the vm_object for file entry e of manifest man (takes no references of the caller's). */
struct vm_object *rfs_object_create(struct rfs_conn *c, struct rfs_manifest *man,
				    const struct rfs_entry *e);

/*
 * Tunables:
 *   radosfs_op_timeout_ms  librados operation time-out (OSD and monitor)
 *   radosfs_poll_ms        how often a mount checks the manifest version and
 *                          probes the cluster besides notifies
 *   radosfs_max_io_pages   pages one read may cover (haspage bound)
 */
extern int64_t radosfs_op_timeout_ms;
extern int64_t radosfs_poll_ms;
extern int64_t radosfs_max_io_pages;

struct radosfs_stats {
	struct vms_counter ios;           /* page-in reads started (one RADOS op each) */
	struct vms_counter pages_read;    /* real requested pages made valid */
	struct vms_counter bogus_slots;   /* bogus_page slots read into the sink */
	struct vms_counter sink_pages;    /* other pages read only to verify a chunk */
	struct vms_counter rbehind_pages; /* optional pages read behind */
	struct vms_counter rahead_pages;  /* optional pages read ahead */
	struct vms_counter bytes_read;    /* bytes asked of the cluster */
	struct vms_counter chunks_verified;
	struct vms_counter checksum_errors; /* chunks whose XXH3 did not match: EIO */
	struct vms_counter errors;          /* reads that failed */
	struct vms_counter down_refused;    /* lookups/reads refused while the cluster is down */
	struct vms_counter versions_loaded; /* manifests switched to */
	struct vms_counter notifies;        /* notifies received */
	struct vms_counter injected;        /* failures injected by radosfs_fail_nth_read() */
};
extern struct radosfs_stats radosfs_stats;

/* Fault injection: the nth page-in read from now fails with `error` after it ran. */
void radosfs_fail_nth_read(unsigned n, int error);

#endif

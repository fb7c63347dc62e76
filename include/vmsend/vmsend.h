/*
 * libvmsend: FreeBSD's asynchronous sendfile(2) path as a library.
 *
 * The engine is a page cache of a fixed size, file systems mounted under path
 * prefixes (hostfs: a host directory; objfs: a checksummed, compressed image),
 * and a sendfile that queues file bytes on a socket the caller owns without
 * ever blocking on disk: pages that need I/O go out when their read completes.
 *
 *	struct vmsend *vs;
 *	vmsend_create(256 << 20, &vs);                 // 256 MiB of cache
 *	vmsend_mount(vs, "/", "hostfs", "/srv/www");
 *	struct vms_loop *loop;
 *	vms_loop_create(vs, &loop);                    // this thread's event loop
 *	struct vms_file *f;
 *	vms_lookup(vs, "/index.html", &f);
 *	struct vms_conn *c;
 *	vms_conn_create(loop, fd, &c);                 // fd: your connected socket
 *	vms_sendfile(c, f, 0, vms_file_size(f), done, arg);
 *	while (!finished)
 *		vms_loop_run(loop, 1000);              // done(arg, 0, bytes) runs here
 *
 * Errors.  Every int-returning call returns 0 or a negative errno:
 * -EINVAL (bad argument), -ENOMEM, -ENOENT (no such file or tunable),
 * -EBUSY (a second engine), -EIO (a read failed, or an objfs block did not
 * verify: the log names it, and no wrong byte is ever sent), -EPIPE or
 * -ECONNRESET (the peer went away).
 *
 * Threads.  One engine per process.  vmsend_create, vmsend_mount and
 * vmsend_destroy are called by one thread while no loop exists.  vms_lookup,
 * vms_file_* and the tunables/stats calls may be made from any thread.  A
 * loop belongs to the thread that created it: its connections, its
 * vms_sendfile calls and vms_loop_run are made on that thread, and the
 * callbacks run there, from inside vms_loop_run, never from inside the call
 * that queued the data.  Run one loop per thread to use several cores.
 *
 * Logging.  The library never writes to stdout or stderr.  Its log lines
 * (one per event, no newline) go to the callback set with vmsend_set_log;
 * without one they are dropped.  A broken internal invariant (a bug, never
 * bad input) aborts the process; its message reaches the callback first, at
 * level 0 with subsystem "panic".
 *
 * Only names starting with vms_ or vmsend_ are exported.
 */
#ifndef VMSEND_VMSEND_H
#define VMSEND_VMSEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMSEND_API __attribute__((visibility("default")))

#define VMSEND_VERSION_MAJOR 0
#define VMSEND_VERSION_MINOR 1

/* ---- logging, tunables, stats: any thread, any time ---- */

enum { VMSEND_LOG_ERROR = 0, VMSEND_LOG_WARN, VMSEND_LOG_INFO, VMSEND_LOG_DEBUG };

/*
 * A log line: `subsystem` is "vm", "hostfs", "objfs", ...; `msg` is one line
 * without a newline, valid only during the call.  Called from any thread
 * the library runs on (loop threads, pager completion threads), possibly at
 * once from several: the callback must be thread-safe and must not call
 * back into the library.
 */
typedef void vmsend_log_fn(void *arg, int level, const char *subsystem, const char *msg);
/* Send lines at `max_level` or more severe to fn (NULL: drop them all). */
VMSEND_API void vmsend_set_log(vmsend_log_fn *fn, void *arg, int max_level);

/*
 * Tunables: the knobs `vmsend tunables` lists ("cache_size", "sf_readahead",
 * "arc_size", ...).  Values are integers; sizes accept K, M, G suffixes.
 * Set them before vmsend_create; most are read at start-up.
 * 0, -ENOENT (no such tunable) or -EINVAL (not a number).
 */
VMSEND_API int vmsend_tunable_set(const char *name, const char *value);
VMSEND_API int vmsend_tunable_get(const char *name, int64_t *value);

/*
 * Counters and gauges ("vm_hits", "sf_bytes_sent", "vm_pages_wired", ...;
 * the names of /.vmsend/metrics without "vmsend_" and "_total").
 * 0 and *value, or -ENOENT.
 */
VMSEND_API int vmsend_stat_get(const char *name, uint64_t *value);

/* ---- the engine ---- */

struct vmsend;

/*
 * Create the engine with `cache_bytes` of page cache (0: the "cache_size"
 * tunable; at least 64 KiB).  0 and *out, -EBUSY when an engine exists,
 * -ENOMEM.  The cache is held for the life of the engine, so one larger
 * than MemAvailable or the memory limit of the process's cgroup (a
 * container's) gets -ENOMEM and an error log line naming the limit, where
 * the kernel would kill the process later.  The engine keeps as many files
 * open (and their pages cached) as a quarter of the cache's pages, or half
 * the descriptors RLIMIT_NOFILE allows, whichever is fewer (the tunable
 * "vfs_cache_entries" sets another number).
 */
VMSEND_API int vmsend_create(uint64_t cache_bytes, struct vmsend **out);
/*
 * Unmount everything and free the cache.  Every loop must be destroyed and
 * every file released first.
 */
VMSEND_API void vmsend_destroy(struct vmsend *vs);
/*
 * Mount `fstype` ("hostfs": `source` is a directory; "objfs": an image made
 * by `vmsend mkimage`) at the absolute path `prefix` ("/", "/media").
 * Lookups use the longest matching prefix.  0, -ENOENT, -EINVAL (unknown
 * fstype, bad prefix), -EIO / -EBADMSG (a damaged image).
 */
VMSEND_API int vmsend_mount(struct vmsend *vs, const char *prefix, const char *fstype,
			    const char *source);

/* ---- files ---- */

struct vms_file;

/*
 * Look up an absolute path.  A lookup never leaves its mount: "..", NUL
 * bytes and symlinks out of a hostfs root are refused (-EXDEV, -EINVAL).
 * 0 and *out (a reference the caller releases), -ENOENT, -EISDIR (a
 * directory), -ENAMETOOLONG.  The file is the version found at lookup: if it
 * changes on disk later, this reference keeps sending the old bytes.
 */
VMSEND_API int vms_lookup(struct vmsend *vs, const char *path, struct vms_file **out);
VMSEND_API uint64_t vms_file_size(const struct vms_file *f);
/* Drop the reference; sends still queued keep what they need. */
VMSEND_API void vms_file_release(struct vms_file *f);

/* ---- loops and connections: on the loop's thread ---- */

struct vms_loop;
struct vms_conn;

/* An event loop (io_uring) bound to the calling thread.  0 and *out, -ENOMEM, -ENOSYS. */
VMSEND_API int vms_loop_create(struct vmsend *vs, struct vms_loop **out);
/*
 * Wait up to timeout_ms (0: do not wait; -1: until something happens) and
 * run what completed: reads, sends, and the callbacks they finish.
 * Returns the number of events handled (>= 0) or a negative errno.
 */
VMSEND_API int vms_loop_run(struct vms_loop *loop, int timeout_ms);
/* Destroy; every connection made on it must be closed and gone (vms_loop_conns() == 0). */
VMSEND_API void vms_loop_destroy(struct vms_loop *loop);
/* Connections of this loop not yet freed (closed ones linger until the kernel is done). */
VMSEND_API unsigned vms_loop_conns(const struct vms_loop *loop);

/*
 * Wrap the caller's connected stream socket `fd` (made non-blocking; sends
 * use MSG_NOSIGNAL).  The caller keeps owning fd and closes it after the
 * connection is gone.  0 and *out, -ENOMEM, -EINVAL.
 */
VMSEND_API int vms_conn_create(struct vms_loop *loop, int fd, struct vms_conn **out);
/*
 * Close: what is queued is still sent (abort = 0) or dropped (abort = 1);
 * no callback runs after this call.  The connection is freed once the
 * kernel is done with its bytes, while the loop keeps running.
 */
VMSEND_API void vms_conn_close(struct vms_conn *c, int abort);

/*
 * Called once per vms_sendfile, on the loop's thread: error 0 when the
 * kernel has completed every byte (`bytes` of them), else the negative
 * errno that stopped it (bytes: how many were completed before).
 */
typedef void vms_sendfile_done_fn(void *arg, int error, uint64_t bytes);

/*
 * Send `length` bytes of `f` from `offset` (clamped to the file's end) on
 * `c`, after any earlier vms_sendfile on it.  Returns at once: 0 (done will
 * be called), -EINVAL, or the connection's error.  The file reference is
 * taken for the send; the caller may release its own at once.  Bytes reach
 * the socket in call order; pages needing disk I/O wait in the queue
 * without blocking anything else on the loop.
 */
VMSEND_API int vms_sendfile(struct vms_conn *c, struct vms_file *f, uint64_t offset,
			    uint64_t length, vms_sendfile_done_fn *done, void *arg);

#ifdef __cplusplus
}
#endif

#endif

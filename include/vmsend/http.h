/*
 * libvmsend_http: the vmsend static-file server (HTTP/1.1, HTTP/2 with
 * prior knowledge) over an engine made with vmsend_create().  The library
 * libvmsend_http contains the engine too: link it instead of libvmsend
 * (pkg-config vmsend-http), never both.
 *
 *	vmsend_create(0, &vs);
 *	vmsend_mount(vs, "/", "hostfs", "/srv/www");
 *	vms_http_start(vs, "127.0.0.1:8080", 2, VMS_HTTP_METRICS, &h);
 *	...
 *	vms_http_stop(h);
 *	vmsend_destroy(vs);
 *
 * Threads.  The server runs its own event-loop threads.  vms_http_start and
 * vms_http_stop are called by one thread, the one that made the engine;
 * mounts are made before start.  The server logs through vmsend_set_log's
 * callback and never writes to stdout or stderr.
 */
#ifndef VMSEND_HTTP_H
#define VMSEND_HTTP_H

#include <vmsend/vmsend.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vms_http;

#define VMS_HTTP_METRICS 0x1 /* serve /.vmsend/metrics (every registered counter) */
#define VMS_HTTP_LISTING 0x2 /* list directories that have no index.html */
#define VMS_HTTP_H2C     0x4 /* also take HTTP/2 with prior knowledge */

/*
 * Listen on `listen` ("127.0.0.1:8080", "[::1]:0"; port 0: any) with
 * `threads` event loops (0: one per CPU) and serve the engine's mounts.
 * 0 and *out; -EINVAL (bad address or flags), -EADDRINUSE, -ENOMEM, -errno.
 */
VMSEND_API int vms_http_start(struct vmsend *vs, const char *listen, int threads, unsigned flags,
			      struct vms_http **out);
/* The port the server is bound to (useful after port 0). */
VMSEND_API int vms_http_port(const struct vms_http *h);
/*
 * Stop: the listener closes at once, idle connections close, responses in
 * flight get a short grace period, then the threads are joined and h is freed.
 */
VMSEND_API void vms_http_stop(struct vms_http *h);

#ifdef __cplusplus
}
#endif

#endif

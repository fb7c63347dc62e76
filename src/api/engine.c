/*
 * The public engine API (include/vmsend/vmsend.h): thin wrappers over the
 * layers below.  The one piece of logic of its own is the completion of a
 * vms_sendfile: the sendfile engine returns as soon as bytes are queued, so
 * each connection keeps its sends in call order and, after every turn of
 * the loop, queues what the send buffer takes (resuming after -EAGAIN) and
 * completes the sends whose last byte the kernel has sent.  A send is done
 * when the socket's bytes_sent reaches the socket's bytes_queued as it was
 * right after the send's last byte was queued.
 */
#include "vmsend/vmsend.h"

#include "core/log.h"
#include "core/stats.h"
#include "core/tunable.h"
#include "core/util.h"
#include "fs/hostfs/hostfs.h"
#include "fs/objfs/arc.h"
#include "fs/objfs/objfs_vfs.h"
#include "io/io.h"
#include "sendfile/sendfile.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

struct vmsend {
	int unused;
};

static struct vmsend vms_engine;
static atomic_bool vms_engine_live;
static pthread_once_t vms_fs_once = PTHREAD_ONCE_INIT;

struct vms_send {
	TAILQ_ENTRY(vms_send) link;
	struct vnode *vp;         /* referenced until done */
	uint64_t start, off, end; /* file range; off: next byte to queue */
	bool queued;              /* every byte is in the send buffer */
	uint64_t target;          /* bytes_sent at which the kernel is done with it */
	uint64_t sent0;           /* bytes_sent when the send was made */
	vms_sendfile_done_fn *done;
	void *arg;
};

struct vms_conn {
	struct vms_loop *loop;
	struct vms_socket *so;
	TAILQ_HEAD(, vms_send) sends; /* call order */
	TAILQ_ENTRY(vms_conn) link;   /* on loop->conns */
	int error;                    /* the socket's error, once aborted */
	bool closed;                  /* vms_conn_close ran (then on loop->dead while running) */
};

struct vms_loop {
	struct io_loop *io;
	TAILQ_HEAD(, vms_conn) conns; /* open connections */
	TAILQ_HEAD(, vms_conn) dead;  /* closed inside vms_loop_run: freed at its end */
	bool running;                 /* in vms_loop_run's walk of conns */
	_Atomic uint32_t live;        /* sockets not yet freed (closed ones linger) */
};

/* ---- logging, tunables, stats ---- */

void
vmsend_set_log(vmsend_log_fn *fn, void *arg, int max_level)
{
	vms_log_level = max_level;
	vms_log_set_sink(fn, arg);
}

int
vmsend_tunable_set(const char *name, const char *value)
{
	if (name == NULL || value == NULL)
		return -EINVAL;
	return vms_tunable_set(name, value);
}

int
vmsend_tunable_get(const char *name, int64_t *value)
{
	const struct vms_tunable *t = name != NULL ? vms_tunable_find(name) : NULL;
	if (t == NULL)
		return -ENOENT;
	*value = __atomic_load_n(t->valp, __ATOMIC_RELAXED);
	return 0;
}

struct stat_sum {
	const char *name;
	uint64_t sum;
	bool found;
};

static void
stat_sum_one(void *arg, const struct vms_stat *st, uint64_t value)
{
	struct stat_sum *x = arg;
	if (strcmp(st->name, x->name) == 0) {
		x->sum += value;
		x->found = true;
	}
}

int
vmsend_stat_get(const char *name, uint64_t *value)
{
	/* A labelled family (http_responses by code) reads as its sum. */
	struct stat_sum x = {name, 0, false};
	if (name == NULL)
		return -EINVAL;
	vms_stats_foreach(name, stat_sum_one, &x);
	if (!x.found)
		return -ENOENT;
	*value = x.sum;
	return 0;
}

/* ---- the engine ---- */

static void
vms_fs_register(void)
{
	hostfs_register();
	objfs_register();
}

int
vmsend_create(uint64_t cache_bytes, struct vmsend **out)
{
	if (out == NULL)
		return -EINVAL;
	if (atomic_exchange(&vms_engine_live, true))
		return -EBUSY;
	int error = vm_init(cache_bytes);
	if (error != 0) {
		atomic_store(&vms_engine_live, false);
		return error;
	}
	/* The name cache's files take at most half the descriptors: the rest are the embedder's. */
	uint64_t fds = vms_fd_limit_raise();
	vfs_cache_size_fit(fds == UINT64_MAX ? fds : fds / 2);
	pthread_once(&vms_fs_once, vms_fs_register);
	*out = &vms_engine;
	return 0;
}

void
vmsend_destroy(struct vmsend *vs)
{
	VERIFY3P(vs, ==, &vms_engine);
	vfs_unmount_all();
	vfs_cache_flush();
	arc_global_fini();
	vm_fini();
	atomic_store(&vms_engine_live, false);
}

int
vmsend_mount(struct vmsend *vs, const char *prefix, const char *fstype, const char *source)
{
	if (vs != &vms_engine || prefix == NULL || prefix[0] != '/' || fstype == NULL ||
	    source == NULL)
		return -EINVAL;
	return vfs_mount(prefix, fstype, source, NULL);
}

/* ---- files: a vms_file is a referenced regular-file vnode ---- */

int
vms_lookup(struct vmsend *vs, const char *path, struct vms_file **out)
{
	struct vnode *vp;
	if (vs != &vms_engine || path == NULL || out == NULL)
		return -EINVAL;
	int error = vfs_lookup(path, &vp);
	if (error != 0)
		return error;
	if (vp->va.type != VREG) {
		vnode_rele(vp);
		return -EISDIR;
	}
	*out = (struct vms_file *)vp;
	return 0;
}

uint64_t
vms_file_size(const struct vms_file *f)
{
	return ((const struct vnode *)f)->va.size;
}

void
vms_file_release(struct vms_file *f)
{
	vnode_rele((struct vnode *)f);
}

/* ---- loops ---- */

int
vms_loop_create(struct vmsend *vs, struct vms_loop **out)
{
	if (vs != &vms_engine || out == NULL)
		return -EINVAL;
	struct vms_loop *loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return -ENOMEM;
	int error = io_loop_create(&loop->io, 256, IO_LOOP_ARENA);
	if (error != 0) {
		free(loop);
		return error;
	}
	TAILQ_INIT(&loop->conns);
	TAILQ_INIT(&loop->dead);
	*out = loop;
	return 0;
}

static void conn_progress(struct vms_conn *c);
static int conn_queue(struct vms_conn *c);

/* Does a connection have a send to complete without waiting for an event? */
static bool
loop_ready(struct vms_loop *loop)
{
	struct vms_conn *c;
	TAILQ_FOREACH(c, &loop->conns, link)
	{
		struct vms_send *s = TAILQ_FIRST(&c->sends);
		if (s == NULL)
			continue;
		if (c->error != 0)
			return true;
		struct vms_socket_stats st;
		vms_socket_get_stats(c->so, &st);
		if (s->queued && st.bytes_sent >= s->target)
			return true;
	}
	return false;
}

int
vms_loop_run(struct vms_loop *loop, int timeout_ms)
{
	bool wait = timeout_ms != 0 && !loop_ready(loop);
	uint64_t ns = timeout_ms > 0 ? (uint64_t)timeout_ms * 1000000ull : 0;
	int n = io_loop_run_once(loop->io, wait, ns);
	if (n < 0 && n != -ETIME && n != -EINTR)
		return n;
	/*
	 * Callbacks may close any connection, this one or the next: closed ones
	 * wait on loop->dead, so the walk never touches freed memory (it may end
	 * early on the dead list; the rest move on the next turn).
	 */
	loop->running = true;
	for (struct vms_conn *c = TAILQ_FIRST(&loop->conns), *next; c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		conn_progress(c);
		if (c->closed)
			break;
	}
	loop->running = false;
	struct vms_conn *c;
	while ((c = TAILQ_FIRST(&loop->dead)) != NULL) {
		TAILQ_REMOVE(&loop->dead, c, link);
		free(c);
	}
	return n < 0 ? 0 : n;
}

unsigned
vms_loop_conns(const struct vms_loop *loop)
{
	return atomic_load(&((struct vms_loop *)loop)->live);
}

void
vms_loop_destroy(struct vms_loop *loop)
{
	VERIFY(TAILQ_EMPTY(&loop->conns));
	/* Closed connections linger until the kernel is done with their bytes. */
	while (atomic_load(&loop->live) > 0)
		(void)io_loop_run_once(loop->io, true, 100 * 1000 * 1000);
	io_loop_destroy(loop->io);
	free(loop);
}

/* ---- connections and sends ---- */

static void
conn_on_error(struct vms_socket *so, int error, void *arg)
{
	struct vms_conn *c = arg;
	if (c->error == 0)
		c->error = error;
}

static void
conn_on_lowat(struct vms_socket *so, void *arg)
{
	/* Nothing to do here: vms_loop_run resumes queueing after this turn. */
}

int
vms_conn_create(struct vms_loop *loop, int fd, struct vms_conn **out)
{
	if (loop == NULL || fd < 0 || out == NULL)
		return -EINVAL;
	struct vms_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	struct vms_socket_params p = {
	    .close_fd = true,
	    .on_lowat = conn_on_lowat,
	    .on_error = conn_on_error,
	    .arg = c,
	    .live = &loop->live,
	};
	int error = vms_socket_create(loop->io, fd, &p, &c->so);
	if (error != 0) {
		free(c);
		return error;
	}
	c->loop = loop;
	TAILQ_INIT(&c->sends);
	TAILQ_INSERT_TAIL(&loop->conns, c, link);
	*out = c;
	return 0;
}

static void
send_free(struct vms_send *s)
{
	vnode_rele(s->vp);
	free(s);
}

void
vms_conn_close(struct vms_conn *c, int abort)
{
	struct vms_send *s;
	VERIFY(!c->closed);
	c->closed = true;
	while ((s = TAILQ_FIRST(&c->sends)) != NULL) {
		TAILQ_REMOVE(&c->sends, s, link);
		send_free(s);
	}
	TAILQ_REMOVE(&c->loop->conns, c, link);
	vms_socket_close(c->so, abort ? VMS_CLOSE_ABORT : VMS_CLOSE_LINGER);
	if (c->loop->running)
		TAILQ_INSERT_TAIL(&c->loop->dead, c, link);
	else
		free(c);
}

int
vms_sendfile(struct vms_conn *c, struct vms_file *f, uint64_t offset, uint64_t length,
	     vms_sendfile_done_fn *done, void *arg)
{
	if (c == NULL || c->closed || f == NULL || done == NULL)
		return -EINVAL;
	if (c->error != 0)
		return c->error;
	struct vnode *vp = (struct vnode *)f;
	uint64_t size = vp->va.size;
	struct vms_send *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	struct vms_socket_stats st;
	vms_socket_get_stats(c->so, &st);
	s->start = s->off = offset < size ? offset : size;
	s->end = length < size - s->off ? s->off + length : size;
	s->sent0 = st.bytes_sent;
	s->done = done;
	s->arg = arg;
	vnode_ref(vp);
	s->vp = vp;
	TAILQ_INSERT_TAIL(&c->sends, s, link);
	/* Queue what fits now; done runs from vms_loop_run only, never from here. */
	int rc = conn_queue(c);
	if (rc != 0 && rc != -EAGAIN)
		c->error = rc;
	return 0;
}

/* Queue what the buffer takes, in call order; 0, -EAGAIN (full) or an error. */
static int
conn_queue(struct vms_conn *c)
{
	struct vms_send *s;
	TAILQ_FOREACH(s, &c->sends, link)
	{
		if (s->queued)
			continue;
		while (s->off < s->end) {
			off_t sb = 0;
			int rc = vms_sendfile_vnode(c->so, s->vp, (off_t)s->off,
						    (size_t)(s->end - s->off), NULL, &sb, 0);
			s->off += (uint64_t)sb;
			if (rc == -EAGAIN) {
				vms_socket_want_lowat(c->so);
				return rc;
			}
			if (rc != 0)
				return rc;
		}
		struct vms_socket_stats st;
		vms_socket_get_stats(c->so, &st);
		s->queued = true;
		s->target = st.bytes_queued;
	}
	return 0;
}

static void
conn_progress(struct vms_conn *c)
{
	struct vms_send *s;
	if (c->closed)
		return;
	int rc = c->error != 0 ? c->error : conn_queue(c);
	if (rc != 0 && rc != -EAGAIN && c->error == 0)
		c->error = rc;
	struct vms_socket_stats st;
	vms_socket_get_stats(c->so, &st);
	while (!c->closed && (s = TAILQ_FIRST(&c->sends)) != NULL) {
		int error = 0;
		uint64_t bytes = s->end - s->start;
		if (c->error != 0) {
			error = c->error;
			bytes = st.bytes_sent > s->sent0 ? st.bytes_sent - s->sent0 : 0;
			bytes = bytes < s->end - s->start ? bytes : s->end - s->start;
		} else if (!s->queued || st.bytes_sent < s->target) {
			break;
		}
		TAILQ_REMOVE(&c->sends, s, link);
		s->done(s->arg, error, bytes); /* may send more or close c */
		send_free(s);
	}
}

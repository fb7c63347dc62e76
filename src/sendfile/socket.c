/*
 * The vmsend socket: a kernel socket and our own send buffer.
 *
 * The send buffer is a queue of segments in call order.  At most one send
 * (IORING_OP_SENDMSG over an iovec of consecutive ready segments) is in
 * flight per socket, so the kernel sees bytes in queue order without links
 * between SQEs; a not-ready segment stops the iovec, which is what holds
 * later data back until its I/O is done.
 *
 *   head                                                       tail
 *   [hdr COPY|ready] [file PAGES|ready] [file PAGES|not ready] [trl COPY]
 *   \______ one sendmsg ______________/  ^ the send stops here
 *
 * A send completion says how many bytes the kernel took (a copying send has
 * copied them by then): those bytes leave sb_cc from the head, and a segment
 * whose last byte went is freed, unwiring its pages.  A short completion
 * just leaves the rest at the head for the next send.
 *
 * Lifetime: the owner holds one reference until vms_socket_close(); every
 * swapin in progress, the send in flight, an armed retry timer and a posted
 * notification hold one each, so the struct outlives everything that can
 * still touch it.  Callbacks always run from a task posted to the loop, so
 * they never run inside the call that caused them.
 */
#include "sendfile/sf_impl.h"

#include "core/assert.h"
#include "core/stash.h"
#include "core/tunable.h"
#include "core/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Most bytes one sendmsg carries; more would only delay unwiring. */
#define SF_SEND_MAX (1u << 20)

/*
 * The gather list of a send.  A socket holds one only from building a send
 * to its completion, so an idle connection carries no iovec array; spares
 * wait on a short list of the thread's own (freed when the thread ends).
 */
struct sf_send {
	struct msghdr msg;    /* its msg_iov is iov (its first word links it while spare) */
	struct iovec iov[64]; /* ready bytes, adjacent ones merged */
	char cmsg[32];        /* kernel TLS: record type of a control record */
};
VMS_TUNABLE(sf_send_spares, "sf_send_spares", 64,
	    "gather lists (1.1 KiB each) a thread keeps for its next sends; 0: malloc every time");

static _Thread_local struct vms_stash sf_send_spare;
static pthread_key_t sf_send_key; /* its destructor frees the thread's spares */
static pthread_once_t sf_send_once = PTHREAD_ONCE_INIT;
static _Atomic int64_t sf_send_held; /* (a) */
VMS_STAT_LEVEL(sf_send_held, "sf_send_lists",
	       "gather lists held by sends being built or in flight now (idle sockets hold none)");

static _Atomic uint64_t sf_socket_live;

static void sf_socket_notify_task(struct io_task *task);
static void sf_send_done(struct io_req *req, int res, uint32_t cqe_flags);
static void sf_zc_done(struct io_req *req, int res, uint32_t cqe_flags);
static bool sf_sink_all_ready(const struct vms_socket *so);

uint64_t
vms_socket_count(void)
{
	return atomic_load(&sf_socket_live);
}

static void
sf_send_spares_free(void *unused)
{
	(void)unused;
	vms_stash_free(&sf_send_spare);
}

static void
sf_send_key_init(void)
{
	VERIFY0(pthread_key_create(&sf_send_key, sf_send_spares_free));
}

/* A gather list for so's next send: a spare, or malloc'd; NULL when out of memory. */
static struct sf_send *
sf_send_get(void)
{
	struct sf_send *sd = vms_stash_get(&sf_send_spare);
	if (sd == NULL && (sd = malloc(sizeof(*sd))) == NULL)
		return NULL;
	atomic_fetch_add_explicit(&sf_send_held, 1, memory_order_relaxed);
	return sd;
}

static void
sf_send_put(struct sf_send *sd)
{
	atomic_fetch_sub_explicit(&sf_send_held, 1, memory_order_relaxed);
	if (sf_send_spare.n == 0 && sf_send_spares > 0) {
		/* The thread's first spare (again): its exit must free the stash. */
		VERIFY0(pthread_once(&sf_send_once, sf_send_key_init));
		if (pthread_setspecific(sf_send_key, &sf_send_spare) != 0) {
			free(sd);
			return;
		}
	}
	if (!vms_stash_put(&sf_send_spare, sd, sf_send_spares))
		free(sd);
}

int
vms_socket_create(struct io_loop *loop, int fd, const struct vms_socket_params *params,
		  struct vms_socket **out)
{
	if (loop == NULL || fd < 0)
		return -EINVAL;
	bool known = params != NULL && params->nonblocking_socket;
	int type;
	socklen_t tl = sizeof(type);
	bool is_socket = known || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0;
	if (!is_socket && errno != ENOTSOCK)
		return -errno;
	/*
	 * A socket becomes non-blocking (io_uring then polls instead of tying up a
	 * worker).  A pipe or file (vmsend cat's stdout) is left alone: its
	 * status flags are shared with whoever else holds it, a shell for one.
	 */
	if (is_socket && !known) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
	}
	struct vms_socket *so = sf_socket_alloc(loop);
	if (so == NULL)
		return -ENOMEM;
	so->fd = fd;
	so->is_socket = is_socket;
	so->hiwat = (uint32_t)sf_sb_hiwat;
	if (params != NULL) {
		so->blocking = params->blocking;
		so->close_fd = params->close_fd;
		if (params->hiwat != 0)
			so->hiwat = params->hiwat;
		so->lowat = params->lowat;
		so->on_lowat = params->on_lowat;
		so->on_error = params->on_error;
		so->arg = params->arg;
		so->live = params->live;
		if (so->live != NULL)
			atomic_fetch_add(so->live, 1);
	}
	if (so->hiwat == 0)
		so->hiwat = 256 * 1024;
	if (so->lowat == 0 || so->lowat >= so->hiwat)
		so->lowat = so->hiwat / 4;
	so->use_zc = is_socket && sf_send_zc != 0 && io_loop_features(loop)->send_zc;
	*out = so;
	return 0;
}

struct vms_socket *
sf_socket_alloc(struct io_loop *loop)
{
	struct vms_socket *so = calloc(1, sizeof(*so));
	if (so == NULL)
		return NULL;
	so->loop = loop;
	so->fd = -1;
	TAILQ_INIT(&so->sb);
	TAILQ_INIT(&so->zc_pending);
	TAILQ_INIT(&so->zc_held);
	so->send_req.done = sf_send_done;
	so->notify_task.fn = sf_socket_notify_task;
	so->refs = 1;
	atomic_fetch_add(&sf_socket_live, 1);
	return so;
}

void
sf_socket_ref(struct vms_socket *so)
{
	so->refs++;
}

void
sf_socket_rele(struct vms_socket *so)
{
	VERIFY3S(so->refs, >, 0);
	if (--so->refs > 0)
		return;
	VERIFY(TAILQ_EMPTY(&so->sb));
	VERIFY(TAILQ_EMPTY(&so->zc_held) && TAILQ_EMPTY(&so->zc_pending));
	VERIFY(!so->send_inflight && so->snd == NULL);
	sf_ra_reset(&so->ra);
	sf_tls_free(so->tls);
	if (so->close_fd)
		close(so->fd);
	if (so->live != NULL)
		atomic_fetch_sub(so->live, 1);
	free(so);
	atomic_fetch_sub(&sf_socket_live, 1);
}

/* The owner's reference goes once a lingering close has nothing left to send. */
static void
sf_socket_linger_check(struct vms_socket *so)
{
	if (so->closed && !so->owner_dropped && TAILQ_EMPTY(&so->sb) && !so->send_inflight) {
		so->owner_dropped = true;
		sf_socket_rele(so);
	}
}

/* Unwire the first n pages of a page segment. */
static void
sf_seg_unwire(struct sf_seg *seg, int n)
{
	int freed = vm_page_unwire_many(seg->pages, n, seg->nocache);
	if (seg->nocache)
		counter_add(&sf_stats.nocache_frees, (uint64_t)freed);
}

void
sf_seg_free(struct sf_seg *seg)
{
	if (seg->kind == SEG_COPY && seg->pooled) {
		sf_tls_buf_free(seg->buf);
	} else if (seg->kind == SEG_COPY) {
		VERIFY(seg->buf == (char *)(seg + 1)); /* sf_queue_copy's: freed with seg */
	} else if (seg->kind == SEG_KEY) {
		explicit_bzero(seg->buf, sizeof(struct vms_tls_tx));
		free(seg->buf);
	} else {
		if (seg->pages != NULL) {
			sf_seg_unwire(seg, seg->npages);
			if (seg->pages != seg->inl)
				free(seg->pages);
		}
		vm_object_deallocate(seg->obj);
	}
	free(seg);
}

void
sf_seg_drop_head(struct sf_seg *seg, uint32_t n)
{
	VERIFY(seg->kind == SEG_PAGES && seg->ready && !seg->sending && n > 0 && n < seg->len);
	int drop = (int)((sf_seg_pgoff(seg) + n) >> PAGE_SHIFT);
	sf_seg_unwire(seg, drop);
	memmove(seg->pages, seg->pages + drop, (size_t)(seg->npages - drop) * sizeof(*seg->pages));
	seg->npages -= drop;
	seg->offset += n;
	seg->len -= n;
}

/* Post the notification task (callbacks run from it, on the loop). */
static void
sf_socket_notify(struct vms_socket *so)
{
	if (so->notify_posted || so->closed)
		return;
	so->notify_posted = true;
	sf_socket_ref(so);
	io_loop_post(so->loop, &so->notify_task);
}

static void
sf_socket_notify_task(struct io_task *task)
{
	struct vms_socket *so = container_of(task, struct vms_socket, notify_task);
	so->notify_posted = false;
	if (!so->closed) {
		so->in_callback = true;
		if (so->error != 0 && !so->error_reported) {
			so->error_reported = true;
			if (so->on_error != NULL)
				so->on_error(so, -so->error, so->arg);
		} else if (so->sink) {
			if (so->error == 0 && !so->sink_ready && sf_sink_all_ready(so)) {
				so->sink_ready = true;
				so->on_ready(so, so->arg);
			}
		} else if (so->error == 0 && so->want_lowat && so->sb_cc <= so->lowat) {
			so->want_lowat = false;
			if (so->on_lowat != NULL)
				so->on_lowat(so, so->arg);
		}
		so->in_callback = false;
	}
	sf_socket_rele(so);
}

void
vms_socket_want_lowat(struct vms_socket *so)
{
	so->want_lowat = true;
	if (so->sb_cc <= so->lowat)
		sf_socket_notify(so);
}

void
sf_sb_append(struct vms_socket *so, struct sf_seg *seg)
{
	if (seg->rtype == 0 || so->tls == NULL) /* before TLS: raw bytes */
		seg->rtype = SF_RT_APPDATA;
	seg->sealed = seg->kind != SEG_KEY && (so->tls == NULL || sf_tls_kernel(so));
	TAILQ_INSERT_TAIL(&so->sb, seg, link);
	so->sb_cc += seg->len;
	if (!seg->ready)
		so->notready += seg->len;
	if (seg->kind == SEG_PAGES && seg->pages == NULL && so->pending == NULL)
		so->pending = seg;
	so->bytes_queued += seg->len;
	counter_add(&sf_stats.bytes_queued, seg->len);
}

void
sf_sb_ready(struct vms_socket *so, struct sf_seg *seg)
{
	ASSERT(!seg->ready);
	seg->ready = true;
	so->notready -= seg->len;
	sf_sb_kick(so);
}

/*
 * Add iovec entries for bytes [off, len) of seg, merging neighbours that are
 * adjacent in memory (consecutive arena frames).  Returns true if all of them
 * fit.
 */
static bool
sf_seg_iov(struct sf_send *sd, const struct sf_seg *seg, uint32_t off, int *n, uint32_t *total)
{
	while (off < seg->len) {
		char *addr;
		uint32_t chunk;
		if (seg->kind == SEG_COPY) {
			addr = seg->buf + off;
			chunk = seg->len - off;
		} else {
			uint32_t abs = sf_seg_pgoff(seg) + off;
			uint32_t po = abs & PAGE_MASK;
			addr = (char *)vm_page_data(seg->pages[abs >> PAGE_SHIFT]) + po;
			chunk = MIN(PAGE_SIZE - po, seg->len - off);
		}
		chunk = MIN(chunk, SF_SEND_MAX - *total);
		struct iovec *last = *n > 0 ? &sd->iov[*n - 1] : NULL;
		if (last != NULL && (char *)last->iov_base + last->iov_len == addr) {
			last->iov_len += chunk;
		} else {
			if (*n == (int)nitems(sd->iov))
				return false;
			sd->iov[*n].iov_base = addr;
			sd->iov[*n].iov_len = chunk;
			(*n)++;
		}
		*total += chunk;
		off += chunk;
		if (*total >= SF_SEND_MAX)
			return off == seg->len;
	}
	return true;
}

/* A sink's pages are all in hand and valid: nothing pending, swapping or not ready. */
static bool
sf_sink_all_ready(const struct vms_socket *so)
{
	return so->notready == 0 && so->pending == NULL && !so->retry_armed;
}

void
sf_sb_kick(struct vms_socket *so)
{
	if (so->sink) {
		/* A sink never sends: it only tells its owner once everything is ready. */
		if (so->error == 0 && !so->sink_ready && sf_sink_all_ready(so))
			sf_socket_notify(so);
		return;
	}
	if (so->send_inflight || so->error != 0)
		return;
	if (so->tls != NULL) {
		int error = sf_tls_seal(so);
		if (error != 0) {
			sf_socket_abort(so, error);
			return;
		}
	}
	struct sf_seg *seg = TAILQ_FIRST(&so->sb);
	if (seg == NULL || !seg->ready || !seg->sealed)
		return;
	struct sf_send *sd = sf_send_get();
	if (sd == NULL) {
		sf_retry_arm(so); /* its timer kicks again */
		return;
	}
	int n = 0;
	uint32_t total = 0, off = so->head_done;
	uint8_t ctl = 0; /* kernel TLS: this send is one control record */
	TAILQ_FOREACH(seg, &so->sb, link)
	{
		if (!seg->ready || !seg->sealed)
			break;
		if (so->tls != NULL && seg->rtype != SF_RT_APPDATA) {
			if (n > 0)
				break; /* kernel TLS: a control record goes in a send of its own */
			ctl = seg->rtype;
		}
		seg->sending = true;
		bool all = sf_seg_iov(sd, seg, off, &n, &total);
		off = 0;
		if (!all || total >= SF_SEND_MAX || ctl != 0)
			break;
	}
	if (n == 0) {
		sf_send_put(sd);
		return;
	}
	memset(&sd->msg, 0, sizeof(sd->msg));
	sd->msg.msg_iov = sd->iov;
	sd->msg.msg_iovlen = n;
	if (ctl != 0) {
		/* Kernel TLS: the record type travels as SOL_TLS/TLS_SET_RECORD_TYPE. */
		struct cmsghdr *cm = (struct cmsghdr *)sd->cmsg;
		cm->cmsg_level = 282; /* SOL_TLS */
		cm->cmsg_type = 1;    /* TLS_SET_RECORD_TYPE */
		cm->cmsg_len = CMSG_LEN(1);
		*CMSG_DATA(cm) = ctl;
		sd->msg.msg_control = sd->cmsg;
		sd->msg.msg_controllen = CMSG_SPACE(1);
	}
	struct sf_zc *zc = NULL;
	if (so->use_zc && total >= (uint64_t)sf_zc_min && ctl == 0)
		zc = calloc(1, sizeof(*zc)); /* no memory to track it: this one copies */
	if (zc != NULL) {
		zc->req.done = sf_zc_done;
		zc->so = so;
		zc->seq = ++so->zc_seq;
		TAILQ_INSERT_TAIL(&so->zc_pending, zc, link);
		sf_socket_ref(so); /* until the notification */
		struct io_uring_sqe *sqe = io_sqe(so->loop, &zc->req);
		io_uring_prep_sendmsg_zc(sqe, so->fd, &sd->msg, MSG_NOSIGNAL);
		so->zc_sends++;
		counter_inc(&sf_stats.sends_zc);
	} else {
		struct io_uring_sqe *sqe = io_sqe(so->loop, &so->send_req);
		if (so->is_socket)
			io_uring_prep_sendmsg(sqe, so->fd, &sd->msg, MSG_NOSIGNAL);
		else
			io_uring_prep_writev(sqe, so->fd, sd->iov, (unsigned)n, (uint64_t)-1);
	}
	so->snd = sd;
	so->send_inflight = true;
	so->send_bytes = total;
	so->sends++;
	counter_inc(&sf_stats.sends);
	sf_socket_ref(so);
}

/* Drop every segment nobody else owns now (after an abort). */
static void
sf_socket_reap(struct vms_socket *so)
{
	struct sf_seg *seg, *next;
	for (seg = TAILQ_FIRST(&so->sb); seg != NULL; seg = next) {
		next = TAILQ_NEXT(seg, link);
		if (seg->sending || seg->swapping)
			continue;
		if (seg == TAILQ_FIRST(&so->sb)) {
			so->sb_cc -= seg->len - so->head_done;
			so->head_done = 0;
		} else {
			so->sb_cc -= seg->len;
		}
		if (!seg->ready)
			so->notready -= seg->len;
		TAILQ_REMOVE(&so->sb, seg, link);
		sf_seg_free(seg);
	}
	so->pending = NULL;
	sf_socket_linger_check(so);
}

void
sf_socket_abort(struct vms_socket *so, int error)
{
	ASSERT3S(error, <, 0);
	if (so->error == 0) {
		so->error = -error;
		/* Wake a send stuck on a peer that does not read; the connection is dead anyway. */
		if (so->is_socket)
			shutdown(so->fd, SHUT_RDWR);
		sf_socket_notify(so);
	}
	sf_socket_reap(so);
}

/* The kernel took `done` bytes from the head of the queue. */
static void
sf_sb_complete(struct vms_socket *so, uint32_t done)
{
	so->bytes_sent += done;
	counter_add(&sf_stats.bytes_sent, done);
	while (done > 0) {
		struct sf_seg *seg = TAILQ_FIRST(&so->sb);
		VERIFY(seg != NULL && seg->ready);
		ASSERT3U(seg->kind, !=, SEG_KEY); /* a send never passes a key change */
		uint32_t take = MIN(done, seg->len - so->head_done);
		so->head_done += take;
		so->sb_cc -= take;
		done -= take;
		if (so->head_done == seg->len) {
			TAILQ_REMOVE(&so->sb, seg, link);
			so->head_done = 0;
			if (TAILQ_EMPTY(&so->zc_pending)) {
				sf_seg_free(seg);
			} else {
				/* A zero-copy send may still read these pages. */
				seg->zc_tag = so->zc_seq;
				TAILQ_INSERT_TAIL(&so->zc_held, seg, link);
			}
		}
	}
}

/* The result of the send in flight (copying or zero-copy). */
static void
sf_send_result(struct vms_socket *so, int res)
{
	so->send_inflight = false;
	sf_send_put(so->snd);
	so->snd = NULL;
	struct sf_seg *seg;
	if (res >= 0) {
		VERIFY3S(res, <=, so->send_bytes);
		if ((uint32_t)res < so->send_bytes)
			so->partial++;
		sf_sb_complete(so, (uint32_t)res);
	}
	TAILQ_FOREACH(seg, &so->sb, link)
	{
		if (!seg->sending)
			break;
		seg->sending = false;
	}
	if (res < 0 && res != -EINTR && res != -EAGAIN)
		sf_socket_abort(so, res);
	else if (so->error != 0)
		sf_socket_reap(so);
	else {
		if (so->want_lowat && so->sb_cc <= so->lowat)
			sf_socket_notify(so);
		sf_sb_kick(so);
	}
	sf_socket_linger_check(so);
}

static void
sf_send_done(struct io_req *req, int res, uint32_t cqe_flags)
{
	struct vms_socket *so = container_of(req, struct vms_socket, send_req);
	sf_send_result(so, res);
	sf_socket_rele(so);
}

/* Zero-copy send `zc` was notified: free what no pending send can still read. */
static void
sf_zc_notified(struct vms_socket *so, struct sf_zc *zc)
{
	zc->notified = true;
	struct sf_zc *z;
	while ((z = TAILQ_FIRST(&so->zc_pending)) != NULL && z->notified) {
		TAILQ_REMOVE(&so->zc_pending, z, link);
		free(z);
		sf_socket_rele(so); /* never the last: the caller holds one */
	}
	uint64_t lowest = z != NULL ? z->seq : UINT64_MAX;
	struct sf_seg *seg;
	while ((seg = TAILQ_FIRST(&so->zc_held)) != NULL && seg->zc_tag < lowest) {
		TAILQ_REMOVE(&so->zc_held, seg, link);
		sf_seg_free(seg);
	}
}

static void
sf_zc_done(struct io_req *req, int res, uint32_t cqe_flags)
{
	struct sf_zc *zc = container_of(req, struct sf_zc, req);
	struct vms_socket *so = zc->so;
	sf_socket_ref(so);
	if (cqe_flags & IORING_CQE_F_NOTIF) {
		sf_zc_notified(so, zc);
	} else {
		sf_send_result(so, res);
		sf_socket_rele(so); /* the send's reference */
		if (!(cqe_flags & IORING_CQE_F_MORE))
			sf_zc_notified(so, zc); /* no notification will follow */
	}
	sf_socket_rele(so);
}

void
vms_socket_close(struct vms_socket *so, int how)
{
	VERIFY(!so->closed);
	sf_socket_ref(so); /* the abort below may drop the owner's reference */
	so->closed = true;
	so->want_lowat = false;
	if (how == VMS_CLOSE_ABORT)
		sf_socket_abort(so, -ECONNABORTED);
	sf_socket_linger_check(so);
	sf_socket_rele(so);
}

int
sf_socket_wait(struct vms_socket *so)
{
	if (so->in_callback)
		return -EDEADLK;
	int r = io_loop_run_once(so->loop, true, 0);
	return r < 0 && r != -EINTR && r != -ETIME ? r : 0;
}

int
sf_wait_space(struct vms_socket *so)
{
	while (so->error == 0 && so->sb_cc >= so->hiwat) {
		if (!so->blocking) {
			vms_socket_want_lowat(so);
			return -EAGAIN;
		}
		int r = sf_socket_wait(so);
		if (r < 0)
			return r;
	}
	return so->error != 0 ? -so->error : 0;
}

int
vms_socket_write(struct vms_socket *so, const void *buf, size_t len, size_t *queued)
{
	if (queued != NULL)
		*queued = 0;
	if (so->error != 0)
		return -so->error;
	if (len == 0)
		return 0;
	if (len > UINT32_MAX / 2)
		return -EINVAL;
	int error = sf_wait_space(so);
	if (error != 0)
		return error;
	struct iovec iov = {(void *)buf, len};
	if ((error = sf_queue_copy(so, &iov, 1, len, SF_RT_APPDATA)) != 0)
		return error;
	sf_sb_kick(so);
	if (queued != NULL)
		*queued = len;
	return 0;
}

int
sf_queue_copy(struct vms_socket *so, const struct iovec *iov, int cnt, size_t len, uint8_t rtype)
{
	/* One allocation: the copy follows the segment. */
	struct sf_seg *seg = malloc(sizeof(*seg) + len);
	if (seg == NULL)
		return -ENOMEM;
	memset(seg, 0, sizeof(*seg));
	char *buf = (char *)(seg + 1);
	size_t off = 0;
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > 0)
			memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	seg->kind = SEG_COPY;
	seg->ready = true;
	seg->rtype = rtype;
	seg->buf = buf;
	seg->len = (uint32_t)len;
	sf_sb_append(so, seg);
	return 0;
}

int
vms_socket_write_record(struct vms_socket *so, uint8_t type, const void *buf, size_t len)
{
	if (so->error != 0)
		return -so->error;
	if (len == 0)
		return 0;
	if (len > UINT32_MAX / 2 || type == 0)
		return -EINVAL;
	struct iovec iov = {(void *)buf, len};
	int error = sf_queue_copy(so, &iov, 1, len, type);
	if (error == 0)
		sf_sb_kick(so);
	return error;
}

int
vms_socket_flush(struct vms_socket *so)
{
	/* Zero-copy sends count as done only once notified: the pages are free then. */
	while (so->error == 0 && (so->sb_cc > 0 || !TAILQ_EMPTY(&so->zc_pending))) {
		int r = sf_socket_wait(so);
		if (r < 0)
			return r;
	}
	return so->error != 0 ? -so->error : 0;
}

uint32_t
vms_socket_sbcc(const struct vms_socket *so)
{
	return so->sb_cc;
}

uint32_t
vms_socket_sbspace(const struct vms_socket *so)
{
	return so->sb_cc >= so->hiwat ? 0 : so->hiwat - so->sb_cc;
}

int
vms_socket_error(const struct vms_socket *so)
{
	return so->error != 0 ? -so->error : 0;
}

int
vms_socket_fd(const struct vms_socket *so)
{
	return so->fd;
}

struct io_loop *
vms_socket_loop(const struct vms_socket *so)
{
	return so->loop;
}

void
vms_socket_get_stats(const struct vms_socket *so, struct vms_socket_stats *st)
{
	st->bytes_queued = so->bytes_queued;
	st->bytes_sent = so->bytes_sent;
	st->sends = so->sends;
	st->partial = so->partial;
	st->sends_zc = so->zc_sends;
	st->sb_cc = so->sb_cc;
	st->notready = so->notready;
	st->inflight = so->send_inflight ? so->send_bytes : 0;
	st->ra_window = so->ra.win;
}

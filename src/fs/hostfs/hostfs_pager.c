/*
 * hostfs's pager: haspage, getpages and getpages_async over io_uring.
 *
 * Theory.  A request is a run of consecutive page indexes.  The pager may
 * widen it with optional pages (read-behind before, read-ahead after) that it
 * grabs itself without sleeping, stopping at the first resident page, EOF or
 * the I/O size bound.  The whole run is then ONE read:
 *
 *   file:   |  behind  |   ma[0] ... ma[count-1]        |  ahead  |
 *   iovec:  | p  | p   | m0 | m1 | sink | sink | m4 | m5 | p  | p  |
 *                                  ^bogus_page slots: the real pages are
 *                                   valid; their bytes go to the sink
 *
 * one IORING_OP_READV with an iovec per page, or one IORING_OP_READ_FIXED
 * when the run has no bogus slot and its frames are consecutive in the
 * registered arena.  The sink is bogus_page's own frame (vm_page_data()),
 * shared by every read: what lands there is thrown away, and a valid page
 * that a bogus slot stands for is never written.
 *
 * Completion: a short read before EOF is resubmitted for the rest (on an
 * O_DIRECT descriptor from the page boundary, to keep the alignment; the
 * re-read bytes are the same); at EOF (or the object's size, whichever comes
 * first, since the file may have grown) the rest of every real page is
 * zeroed.  Then the requested pages become fully valid and stay xbusied for
 * the caller; optional pages are validated and finished
 * (vm_page_readahead_finish).  On error the requested pages keep their valid
 * bits and busy state, and optional pages are finished invalid (freed).
 *
 * getpages_async submits on the calling thread's event loop when it has one
 * and iodone runs there later; otherwise (and for synchronous getpages) the
 * read goes through the thread's private ring and completes before the call
 * returns.  Without io_uring READV the read is a blocking preadv().
 *
 * The I/O holds a reference and a paging-in-progress count on the object
 * until after iodone returns.
 */
#include "fs/hostfs/hostfs.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"
#include "io/io.h"
#include "vm/vm.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

VMS_TUNABLE(hostfs_max_io_pages, "hostfs_max_io_pages", 256,
	    "most pages one hostfs read covers (haspage bound, read-behind/ahead clamp)");

VMS_TUNABLE(hostfs_debug_read_cap, "hostfs_debug_read_cap", 0,
	    "testing: cap each read SQE at this many bytes to force short reads (0: off)");

/* Fault injection: countdown to the failing I/O (0: off) and its error. */
static _Atomic uint32_t hostfs_fail_countdown;
static _Atomic int hostfs_fail_error;

void
hostfs_fail_nth_read(unsigned n, int error)
{
	VERIFY3S(error, <, 0);
	atomic_store(&hostfs_fail_error, error);
	atomic_store(&hostfs_fail_countdown, n);
}

static int
hostfs_fail_take(void)
{
	uint32_t c = atomic_load(&hostfs_fail_countdown);

	while (c != 0) {
		if (atomic_compare_exchange_weak(&hostfs_fail_countdown, &c, c - 1))
			return c == 1 ? atomic_load(&hostfs_fail_error) : 0;
	}
	return 0;
}

/* The most pages one I/O may hold: the iovec limit, and the caller's run. */
#define HOSTFS_MAX_IOV IOV_MAX

struct hostfs_io {
	struct io_req req;
	struct io_loop *loop; /* the ring the read runs on; completions run on its thread */
	struct vm_object *obj;
	struct hostfs_node *hn;
	uint64_t off; /* file offset of pages[0] */
	size_t total; /* npages * PAGE_SIZE */
	size_t done;  /* bytes the kernel has returned so far */
	int npages;   /* nbehind + count + nahead */
	int nbehind, count, nahead, nbogus;
	int fixed_idx; /* >= 0: one READ_FIXED into consecutive frames */
	int fail_err;  /* injected error for this I/O, or 0 */
	int error;
	bool finished;
	pager_iodone_t *iodone; /* NULL: synchronous caller waits for `finished` */
	void *arg;
	struct vm_page **pages; /* npages: behind, requested (maybe bogus), ahead */
	struct iovec *iov;      /* npages */
	struct iovec *iov_work; /* scratch for resubmissions */
};

/* ---- haspage ---- */

static uint64_t
hostfs_npages(const struct vm_object *obj)
{
	return vm_object_npages(obj);
}

/*
 * Start of the data region holding `off`, looking back at most `limit`
 * bytes (SEEK_HOLE has no backward form: walk forward from the bound).
 */
static uint64_t
hostfs_data_start(int fd, uint64_t off, uint64_t limit)
{
	uint64_t start = off > limit ? off - limit : 0;
	off_t d = (off_t)start, h;

	for (;;) {
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)h > off)
			return (uint64_t)d;
		d = lseek(fd, h, SEEK_DATA);
		if (d < 0 || (uint64_t)d > off)
			return off; /* cannot happen when off is in data */
	}
}

static bool
hostfs_haspage(struct vm_object *obj, uint64_t pindex, int *before, int *after)
{
	struct hostfs_node *hn = obj->pager_priv;
	uint64_t npages = hostfs_npages(obj), off = IDX_TO_OFF(pindex), b, a;
	uint64_t bound = (uint64_t)MAX(hostfs_max_io_pages, 1) - 1;
	off_t d, h;

	if (pindex >= npages)
		return false;
	b = MIN(pindex, bound);
	a = MIN(npages - 1 - pindex, bound);
	/* A file that had no hole at lookup skips the syscalls. */
	d = hn->sparse ? lseek(hn->fd, (off_t)off, SEEK_DATA) : -1;
	if (hn->sparse && d < 0 && errno == ENXIO)
		return false; /* a hole up to EOF */
	if (d >= 0) {
		if ((uint64_t)d >= off + PAGE_SIZE)
			return false; /* this whole page is a hole */
		/* From d, not off: data may start inside this page. */
		h = lseek(hn->fd, d, SEEK_HOLE);
		if (h > d) {
			/* Pages after the data region are holes the caller zero-fills. */
			a = MIN(a, OFF_TO_IDX((uint64_t)h - 1) - pindex);
		}
		if (b > 0)
			b = pindex - OFF_TO_IDX(hostfs_data_start(hn->fd, off, IDX_TO_OFF(b)));
	}
	/* d < 0 otherwise: not sparse, or the fs cannot tell; all of it is data. */
	if (before != NULL)
		*before = (int)b;
	if (after != NULL)
		*after = (int)a;
	return true;
}

/* ---- optional pages ---- */

/* Finish the optional pages of an I/O: valid ones are cached, the rest freed. */
static void
hostfs_optional_finish(struct hostfs_io *io, bool ok)
{
	for (int i = 0; i < io->npages; i++) {
		struct vm_page *m = io->pages[i];

		if (i >= io->nbehind && i < io->nbehind + io->count)
			continue;
		if (ok)
			vm_page_valid(m);
		vm_page_readahead_finish(m);
	}
}

/* ---- building the I/O ---- */

static struct hostfs_io *
hostfs_io_alloc(int npages)
{
	struct hostfs_io *io;
	size_t sz =
	    sizeof(*io) + (size_t)npages * (sizeof(struct vm_page *) + 2 * sizeof(struct iovec));

	io = calloc(1, sz);
	if (io == NULL)
		return NULL;
	io->iov = (struct iovec *)(io + 1);
	io->iov_work = io->iov + npages;
	io->pages = (struct vm_page **)(io->iov_work + npages);
	return io;
}

/*
 * Collect the run: optional pages behind, the caller's pages, optional pages
 * ahead, each bounded as rule 9 says.  Returns NULL (nothing grabbed, nothing
 * changed) on memory exhaustion.
 */
static struct hostfs_io *
hostfs_io_build(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead)
{
	struct hostfs_node *hn = obj->pager_priv;
	uint64_t pindex0 = ma[0]->pindex, npages = hostfs_npages(obj);
	int max_io = (int)MAX(hostfs_max_io_pages, 1);
	int want_b = 0, want_a = 0, nb = 0, na = 0;
	struct vm_page *behind[HOSTFS_MAX_IOV], *ahead[HOSTFS_MAX_IOV];
	struct hostfs_io *io;
	int ab = 0, aa = 0;

	/*
	 * Optional pages never extend a run past the I/O bound, EOF or a hole;
	 * read-ahead (the likelier next request) gets the budget first.
	 */
	int budget = MAX(0, MIN(max_io, HOSTFS_MAX_IOV) - count);

	if (rahead != NULL && *rahead > 0 && budget > 0) {
		if (!hostfs_haspage(obj, pindex0 + (uint64_t)count - 1, NULL, &aa))
			aa = 0;
		want_a = MIN(MIN(*rahead, budget), aa);
		want_a = (int)MIN((uint64_t)want_a, npages - (pindex0 + (uint64_t)count));
	}
	if (rbehind != NULL && *rbehind > 0 && budget - want_a > 0) {
		if (!hostfs_haspage(obj, pindex0, &ab, NULL))
			ab = 0;
		want_b = MIN(MIN(*rbehind, budget - want_a), ab);
	}
	if (want_b > 0)
		nb = vm_page_grab_optional_run(obj, pindex0 - 1, -1, behind, want_b);
	if (want_a > 0)
		na = vm_page_grab_optional_run(obj, pindex0 + (uint64_t)count, 1, ahead, want_a);
	io = hostfs_io_alloc(nb + count + na);
	if (io == NULL) {
		for (int i = 0; i < nb; i++)
			vm_page_readahead_finish(behind[i]);
		for (int i = 0; i < na; i++)
			vm_page_readahead_finish(ahead[i]);
		return NULL;
	}
	io->obj = obj;
	io->hn = hn;
	io->nbehind = nb;
	io->count = count;
	io->nahead = na;
	io->npages = nb + count + na;
	io->off = IDX_TO_OFF(pindex0 - (uint64_t)nb);
	io->total = (size_t)io->npages * PAGE_SIZE;
	io->fixed_idx = -1;
	for (int i = 0; i < nb; i++)
		io->pages[i] = behind[nb - 1 - i];
	for (int i = 0; i < count; i++) {
		struct vm_page *m = ma[i];

		/* Rule 6: offsets come from ma[0]->pindex + i; a real page must agree. */
		if (m == bogus_page) {
			io->nbogus++;
		} else {
			KASSERT(m->pindex == pindex0 + (uint64_t)i && m->object == obj,
				("hostfs_getpages: ma[%d] is pindex %llu of %p, want %llu of %p", i,
				 (unsigned long long)m->pindex, (void *)m->object,
				 (unsigned long long)(pindex0 + (uint64_t)i), (void *)obj));
			vm_page_assert_xbusied(m);
		}
		io->pages[nb + i] = m;
	}
	for (int i = 0; i < na; i++)
		io->pages[nb + count + i] = ahead[i];
	for (int i = 0; i < io->npages; i++) {
		/* Rule 7: a bogus slot reads into the sink, never into the valid page. */
		io->iov[i].iov_base = vm_page_data(io->pages[i]);
		io->iov[i].iov_len = PAGE_SIZE;
	}
	if (rbehind != NULL)
		*rbehind = nb;
	if (rahead != NULL)
		*rahead = na;
	return io;
}

/* One READ_FIXED is possible when the frames are consecutive in the registered arena. */
static void
hostfs_io_pick_fixed(struct hostfs_io *io, struct io_loop *loop)
{
	const struct io_features *f = io_loop_features(loop);
	char *base = io->iov[0].iov_base;

	if (io->nbogus != 0 || !f->fixed_buffers || !f->read_fixed)
		return;
	for (int i = 1; i < io->npages; i++)
		if ((char *)io->iov[i].iov_base != base + (size_t)i * PAGE_SIZE)
			return;
	io->fixed_idx = io_fixed_index(loop, base, io->total);
}

/* ---- completion ---- */

/* Zero every real page's bytes from file offset io->off + from to the end of the run. */
static void
hostfs_io_zero_tail(struct hostfs_io *io, size_t from)
{
	for (int i = (int)(from / PAGE_SIZE); i < io->npages; i++) {
		size_t pstart = (size_t)i * PAGE_SIZE;
		size_t z = from > pstart ? from - pstart : 0;

		if (io->pages[i] == bogus_page)
			continue;
		memset((char *)vm_page_data(io->pages[i]) + z, 0, PAGE_SIZE - z);
	}
}

static void
hostfs_io_complete(struct hostfs_io *io)
{
	struct vm_object *obj = io->obj;
	uint64_t eof = obj->size;
	size_t good = io->done;

	if (io->error == 0 && io->off + good < MIN(eof, io->off + io->total)) {
		/*
		 * EOF before this version's end: the file shrank (truncated in
		 * place) after lookup.  Zeros in its place would be wrong bytes
		 * sent as the file's, so the read fails; the next lookup's stat
		 * finds the new version.
		 */
		LOG_ERR("hostfs",
			"%s shrank while cached: a read at %llu ended at %llu, but this version "
			"is %llu bytes; failing it (EIO), not sending zeros",
			obj->name, (unsigned long long)io->off,
			(unsigned long long)(io->off + good), (unsigned long long)eof);
		io->error = -EIO;
	}
	if (io->error == 0) {
		/* The file may have grown since lookup: this version ends at obj->size. */
		if (io->off + good > eof)
			good = (size_t)(eof - io->off);
		if (good < io->total)
			hostfs_io_zero_tail(io, good);
		for (int i = io->nbehind; i < io->nbehind + io->count; i++)
			if (io->pages[i] != bogus_page)
				vm_page_valid(io->pages[i]);
		counter_add(&hostfs_stats.pages_read, (uint64_t)(io->count - io->nbogus));
		counter_add(&hostfs_stats.bogus_slots, (uint64_t)io->nbogus);
		counter_add(&hostfs_stats.rbehind_pages, (uint64_t)io->nbehind);
		counter_add(&hostfs_stats.rahead_pages, (uint64_t)io->nahead);
	} else {
		counter_inc(&hostfs_stats.errors);
		LOG_DEBUG("hostfs", "read of %s at %llu (%d pages) failed: %s", obj->name,
			  (unsigned long long)io->off, io->npages, strerror(-io->error));
	}
	hostfs_optional_finish(io, io->error == 0);
	if (io->iodone != NULL) {
		/* Rule 10: exactly once; the array is ours and may hold bogus_page. */
		io->iodone(io->arg, io->pages + io->nbehind, io->count, io->error);
		vm_object_pip_wakeup(obj, 1);
		vm_object_deallocate(obj);
		free(io);
	} else {
		vm_object_pip_wakeup(obj, 1);
		vm_object_deallocate(obj);
		io->finished = true;
	}
}

static void hostfs_io_submit(struct hostfs_io *io);

/*
 * After a read that returned bytes but left the run short: is there more to
 * read?  Not past this version's end, and not after an O_DIRECT read that
 * ended inside a page: that one only does at EOF, and restarting it at the
 * page boundary (as O_DIRECT must) would return the same bytes forever when
 * the file shrank after lookup.
 */
static bool
hostfs_io_more(const struct hostfs_io *io)
{
	if (io->hn->direct && io->done % PAGE_SIZE != 0)
		return false;
	return io->done < io->total && io->off + io->done < io->obj->size;
}

static void
hostfs_io_done(struct io_req *req, int res, uint32_t flags)
{
	struct hostfs_io *io = container_of(req, struct hostfs_io, req);

	if (io->fail_err != 0 && res >= 0) {
		counter_inc(&hostfs_stats.injected);
		res = io->fail_err;
	}
	if (res == -EAGAIN || res == -EINTR) {
		hostfs_io_submit(io);
		return;
	}
	if (res < 0) {
		io->error = res;
		hostfs_io_complete(io);
		return;
	}
	io->done += (size_t)res;
	if (res > 0 && hostfs_io_more(io)) {
		/* Short, but not at EOF: read the rest into the same pages. */
		counter_inc(&hostfs_stats.short_reads);
		hostfs_io_submit(io);
		return;
	}
	hostfs_io_complete(io);
}

/* ---- submission ---- */

/* Bytes the next read may ask for (all of the rest unless the test cap says less). */
static size_t
hostfs_read_len(const struct hostfs_io *io, size_t from)
{
	size_t len = io->total - from, cap = (size_t)MAX(hostfs_debug_read_cap, 0);

	if (cap != 0 && io->hn->direct)
		cap = MAX(rounddown2(cap, (size_t)PAGE_SIZE), (size_t)PAGE_SIZE);
	return cap != 0 ? MIN(len, cap) : len;
}

/* Fill iov_work with the iovecs for [from, from + len); returns the first index used. */
static int
hostfs_iov_window(struct hostfs_io *io, size_t from, size_t len, int *cnt)
{
	int first = (int)(from / PAGE_SIZE), last = (int)((from + len - 1) / PAGE_SIZE);

	for (int i = first; i <= last; i++)
		io->iov_work[i] = io->iov[i];
	io->iov_work[first].iov_base = (char *)io->iov_work[first].iov_base + from % PAGE_SIZE;
	io->iov_work[first].iov_len -= from % PAGE_SIZE;
	io->iov_work[last].iov_len -= (size_t)(last + 1) * PAGE_SIZE - (from + len);
	*cnt = last - first + 1;
	return first;
}

static void
hostfs_io_submit(struct hostfs_io *io)
{
	struct io_uring_sqe *sqe;
	size_t from = io->done, len;
	int first, cnt;

	/* O_DIRECT needs aligned offsets: restart a short read at its page boundary. */
	if (io->hn->direct)
		from = rounddown2(from, (size_t)PAGE_SIZE);
	io->done = from;
	len = hostfs_read_len(io, from);
	counter_inc(&hostfs_stats.submits);
	sqe = io_sqe(io->loop, &io->req);
	if (io->fixed_idx >= 0) {
		io_uring_prep_read_fixed(sqe, io->hn->fd, (char *)io->iov[0].iov_base + from,
					 (unsigned)len, io->off + from, io->fixed_idx);
		return;
	}
	first = hostfs_iov_window(io, from, len, &cnt);
	io_uring_prep_readv(sqe, io->hn->fd, io->iov_work + first, (unsigned)cnt, io->off + from);
}

/*
 * No io_uring READV: the same read, blocking, on this thread.  Bogus slots
 * read into a sink of this thread's own: threads reading at once would
 * otherwise write bogus_page's frame together, harmless bytes nobody reads
 * but a data race all the same (the kernel's io_uring writes are not ours).
 */
static void
hostfs_io_run_preadv(struct hostfs_io *io)
{
	static _Thread_local char sink[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

	for (int i = 0; i < io->npages; i++)
		if (io->pages[i] == bogus_page)
			io->iov[i].iov_base = sink;
	counter_inc(&hostfs_stats.sync_reads);
	while (io->done < io->total) {
		size_t from = io->hn->direct ? rounddown2(io->done, (size_t)PAGE_SIZE) : io->done;
		int cnt, first = hostfs_iov_window(io, from, hostfs_read_len(io, from), &cnt);
		ssize_t r;

		counter_inc(&hostfs_stats.submits);
		r = preadv(io->hn->fd, io->iov_work + first, cnt, (off_t)(io->off + from));
		if (r < 0 && errno == EINTR)
			continue;
		if (io->fail_err != 0 && r >= 0) {
			counter_inc(&hostfs_stats.injected);
			r = -1;
			errno = -io->fail_err;
		}
		if (r < 0) {
			io->error = -errno;
			break;
		}
		io->done = from + (size_t)r;
		if (r == 0 || !hostfs_io_more(io))
			break;
		if (io->done < io->total)
			counter_inc(&hostfs_stats.short_reads);
	}
	hostfs_io_complete(io);
}

/* Account for and launch a built I/O on `loop` (NULL: blocking preadv). */
static void
hostfs_io_start(struct hostfs_io *io, struct io_loop *loop)
{
	io->req.done = hostfs_io_done;
	io->loop = loop;
	io->fail_err = hostfs_fail_take();
	vm_object_reference(io->obj);
	vm_object_pip_add(io->obj, 1);
	counter_inc(&hostfs_stats.ios);
	if (io->hn->direct)
		counter_inc(&hostfs_stats.direct_reads);
	if (loop == NULL || !io_loop_features(loop)->readv) {
		hostfs_io_run_preadv(io);
		return;
	}
	hostfs_io_pick_fixed(io, loop);
	if (io->fixed_idx >= 0)
		counter_inc(&hostfs_stats.fixed_reads);
	hostfs_io_submit(io);
	(void)io_submit(loop);
}

static bool
hostfs_request_ok(struct vm_object *obj, struct vm_page **ma, int count)
{
	if (count <= 0 || count > HOSTFS_MAX_IOV || ma[0] == bogus_page ||
	    ma[count - 1] == bogus_page)
		return false;
	return ma[0]->pindex + (uint64_t)count <= hostfs_npages(obj);
}

/* ---- the pager ops ---- */

static int
hostfs_getpages(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead)
{
	struct hostfs_io *io;
	int error;

	if (!hostfs_request_ok(obj, ma, count))
		return PAGER_BAD;
	struct io_loop *loop = io_loop_private();
	if (loop == NULL)
		return PAGER_AGAIN;
	io = hostfs_io_build(obj, ma, count, rbehind, rahead);
	if (io == NULL)
		return PAGER_AGAIN;
	io->iodone = NULL;
	hostfs_io_start(io, loop);
	if (!io->finished)
		io_wait_flag(io->loop, &io->finished);
	error = io->error;
	free(io);
	if (error != 0) {
		if (rbehind != NULL)
			*rbehind = 0;
		if (rahead != NULL)
			*rahead = 0;
		return PAGER_ERROR;
	}
	return PAGER_OK;
}

/* An async request on a thread without an event loop: runs on the private ring. */
struct hostfs_wait {
	pager_iodone_t *iodone;
	void *arg;
	bool finished;
};

static void
hostfs_wait_iodone(void *arg, struct vm_page **ma, int count, int error)
{
	struct hostfs_wait *w = arg;

	w->iodone(w->arg, ma, count, error);
	w->finished = true;
}

static int
hostfs_getpages_async(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind,
		      int *rahead, pager_iodone_t *iodone, void *arg)
{
	struct io_loop *loop = io_loop_current();
	struct hostfs_wait w = {.iodone = iodone, .arg = arg};
	struct hostfs_io *io;

	if (!hostfs_request_ok(obj, ma, count))
		return PAGER_BAD;
	bool private = loop == NULL;
	if (private && (loop = io_loop_private()) == NULL)
		return PAGER_AGAIN;
	io = hostfs_io_build(obj, ma, count, rbehind, rahead);
	if (io == NULL)
		return PAGER_AGAIN;
	if (!private) {
		io->iodone = iodone;
		io->arg = arg;
		hostfs_io_start(io, loop);
		return PAGER_OK;
	}
	/* iodone runs on this thread before we return (pager.h rule 10 allows it). */
	io->iodone = hostfs_wait_iodone;
	io->arg = &w;
	hostfs_io_start(io, loop);
	if (!w.finished)
		io_wait_flag(loop, &w.finished);
	return PAGER_OK;
}

static void
hostfs_dealloc(struct vm_object *obj)
{
	struct hostfs_node *hn = obj->pager_priv;

	if (hn == NULL)
		return;
	close(hn->fd);
	free(hn);
	obj->pager_priv = NULL;
}

const struct pager_ops hostfs_pager_ops = {
    .name = "hostfs",
    .caps = PAGER_CAP_BOGUS,
    .getpages = hostfs_getpages,
    .getpages_async = hostfs_getpages_async,
    .haspage = hostfs_haspage,
    .dealloc = hostfs_dealloc,
};

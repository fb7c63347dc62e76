/*
 * Read-ahead for sendfile streams: sequential detection, an adaptive
 * window, and a global bound on what is in flight.
 *
 * Theory.  A socket sends a file as a series of vms_sendfile calls: the
 * send buffer holds only hiwat bytes, so a large request is queued a piece
 * at a time (the caller comes back after -EAGAIN with the rest), and the
 * next request on a keep-alive connection may continue where the last one
 * ended (a player fetching a video in consecutive ranges) or seek.  The
 * pages a call queues are its demand: swapin reads them into wired pages
 * and the sender waits for them.  Reading only the demand keeps one small
 * read per stream in flight, so the device idles between calls.
 *
 * Read-ahead reads the pages a stream will ask for next into the cache,
 * unwired, before it asks: by the time the caller queues them they are
 * valid (or already being read), and the device always has work queued.
 * The state lives in the socket (struct sf_ra), one stream per socket, and
 * names its file by object id: between calls it holds no reference, so an
 * idle keep-alive connection pins no file and no descriptor:
 *
 *      demand (queued, wired)       read ahead (cached, unwired)
 *   ...[=========next)[~~~~~~~~~~~~~~~~~~~~~~~~~end)        limit)
 *                     ^pos                       ^ issue more when less
 *                                                  than half a window is
 *                                                  left ahead of pos
 *
 *   sequential   a call continues at the byte where the last one's queued
 *                bytes ended, on the same object: the window doubles each
 *                time more is issued, up to sf_ra_max_pages;
 *   seek         any other call (another file, another offset): the
 *                window restarts at sf_ra_min_pages and nothing read ahead
 *                for the old position is counted on;
 *   limit        read-ahead never passes the end of the request (bytes the
 *                client did not ask for are a guess) unless the stream is
 *                sequential across requests (this request began where the
 *                previous one ended); never past EOF, never over a hole
 *                (swapin zero-fills holes itself).  A video seek therefore
 *                reads the range it asked for and nothing more beyond the
 *                few pages of sf_readahead.
 *
 * Each read-ahead I/O is one getpages_async over pages the stream grabbed
 * itself with vm_page_grab_optional() (never a resident page: it stops at
 * the first one), at most sf_ra_io_pages long and bounded by haspage (a
 * hostfs read, an objfs record).  Completion validates and unbusies the
 * pages (or frees them on error: the demand read that comes later meets
 * the error itself and reports it), then wakes the stream's swapin, which
 * may be waiting for exactly those pages.  Errors never abort the socket.
 *
 * Global bound.  All streams together keep at most sf_ra_inflight_max
 * pages in read-ahead I/O (0: an eighth of the page cache), so a thousand
 * streams cannot busy the whole cache; a stream over the bound reads only
 * its demand until I/O completes.  Pages read ahead and not yet sent are
 * ordinary clean pages on the reclaim queue, marked PGA_READAHEAD so that
 * their first use does not count as a second reference (see vm.c).
 */
#include "sendfile/sf_impl.h"

#include "core/assert.h"
#include "core/tunable.h"
#include "core/util.h"
#include "pager/pager.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>

VMS_TUNABLE(sf_ra_min_pages, "sf_ra_min_pages", 32,
	    "first read-ahead window of a sendfile stream, pages (0: no adaptive read-ahead)");
/*
 * 8 MiB: 4 cold streams of 64 MiB files from ext4 on virtio measured
 * 1.969 2.533 1.672 2.101 2.032 2.200 GB/s with 1024 pages and 3.362 2.861
 * 2.157 2.392 2.782 2.888 with 2048; 1 and 16 streams did not move.
 */
VMS_TUNABLE(sf_ra_max_pages, "sf_ra_max_pages", 2048,
	    "largest read-ahead window of a sequential sendfile stream, pages");
VMS_TUNABLE(sf_ra_io_pages, "sf_ra_io_pages", 256, "most pages one read-ahead I/O covers");
VMS_TUNABLE(sf_ra_inflight_max, "sf_ra_inflight_max", 0,
	    "read-ahead pages in flight across all streams (0: an eighth of the page cache)");

static _Atomic int64_t sf_ra_inflight; /* pages in read-ahead I/O now */
VMS_STAT_LEVEL(sf_ra_inflight, "sf_ra_inflight_pages", "pages in read-ahead I/O now");

/* One read-ahead I/O. */
struct sf_ra_io {
	struct io_task task;   /* (c) posted to the stream's loop on completion */
	struct vms_socket *so; /* (c) referenced */
	struct vm_object *obj; /* (c) referenced */
	int count;             /* (c) */
	struct vm_page *ma[];  /* (c) */
};

int64_t
sf_ra_inflight_pages(void)
{
	return atomic_load(&sf_ra_inflight);
}

static int64_t
sf_ra_bound(void)
{
	int64_t max = __atomic_load_n(&sf_ra_inflight_max, __ATOMIC_RELAXED);
	if (max <= 0)
		max = (int64_t)(vm_arena_size() / PAGE_SIZE / 8);
	return MAX(max, 1);
}

/* Most pages one read-ahead I/O covers: sf_ra_io_pages, kept within [1, 1024]. */
static int
sf_ra_io_max(void)
{
	return (int)MAX(MIN(sf_ra_io_pages, 1024), 1);
}

/* Reserve up to n pages of the global bound; returns how many were granted. */
static int
sf_ra_reserve(int n)
{
	int64_t bound = sf_ra_bound();
	int64_t cur = atomic_load(&sf_ra_inflight);
	for (;;) {
		int64_t grant = MIN((int64_t)n, bound - cur);
		if (grant <= 0)
			return 0;
		if (atomic_compare_exchange_weak(&sf_ra_inflight, &cur, cur + grant))
			return (int)grant;
	}
}

static void
sf_ra_unreserve(int n)
{
	if (n > 0)
		atomic_fetch_sub(&sf_ra_inflight, n);
}

void
sf_ra_reset(struct sf_ra *ra)
{
	ra->obj_id = 0;
	ra->win = 0;
}

/* The stream may be waiting for the pages this I/O read: resume it now, not at its timer. */
static void
sf_ra_io_task(struct io_task *task)
{
	struct sf_ra_io *r = container_of(task, struct sf_ra_io, task);
	struct vms_socket *so = r->so;

	vm_object_deallocate(r->obj);
	free(r);
	if (so->retry_armed && so->error == 0) {
		io_timer_cancel(so->loop, &so->retry);
		so->retry_armed = false;
		sf_swapin_pump(so);
		sf_socket_rele(so); /* the timer's reference */
	}
	sf_socket_rele(so);
}

static void
sf_ra_iodone(void *arg, struct vm_page **ma, int count, int error)
{
	struct sf_ra_io *r = arg;

	VERIFY3S(count, ==, r->count);
	for (int i = 0; i < count; i++) {
		struct vm_page *m = ma[i];
		vm_page_xbusy_claim(m);
		vm_page_readahead_finish(m); /* valid: cached and unbusied; not: freed */
	}
	if (error != 0)
		counter_inc(&sf_stats.ra_errors);
	else
		counter_add(&sf_stats.ra_pages, (uint64_t)count);
	sf_ra_unreserve(count);
	io_loop_post(r->so->loop, &r->task);
}

static bool
sf_page_resident(struct vm_object *obj, uint64_t pindex)
{
	vm_object_lock(obj);
	bool resident = vm_page_lookup(obj, pindex) != NULL;
	vm_object_unlock(obj);
	return resident;
}

/*
 * Start one read-ahead I/O of up to n pages from pindex (n already granted
 * by the bound).  Returns the pages it covers (0: none could be grabbed, the
 * grant is returned) or -1 when the page at pindex is resident.
 */
static int
sf_ra_start(struct vms_socket *so, struct vm_object *obj, uint64_t pindex, int n)
{
	struct sf_ra_io *r = malloc(sizeof(*r) + (size_t)n * sizeof(r->ma[0]));
	if (r == NULL) {
		sf_ra_unreserve(n);
		return 0;
	}
	int got = vm_page_grab_optional_run(obj, pindex, 1, r->ma, n);
	for (int i = 0; i < got; i++)
		vm_page_xbusy_claim(r->ma[i]); /* ours until we hand them to the pager */
	sf_ra_unreserve(n - got);
	if (got == 0) {
		free(r);
		return sf_page_resident(obj, pindex) ? -1 : 0;
	}
	r->task.fn = sf_ra_io_task;
	r->so = so;
	r->obj = obj;
	r->count = got;
	sf_socket_ref(so);
	vm_object_reference(obj);
	counter_inc(&sf_stats.ra_ios);
	int rv = pager_getpages_async(obj, r->ma, got, NULL, NULL, sf_ra_iodone, r);
	if (rv != PAGER_OK) {
		/* Nothing started and iodone will not run: the pages are ours to free. */
		for (int i = 0; i < got; i++)
			vm_page_readahead_finish(r->ma[i]);
		sf_ra_unreserve(got);
		counter_inc(&sf_stats.ra_errors);
		vm_object_deallocate(obj);
		free(r);
		sf_socket_rele(so); /* never the last: the caller holds the socket */
		return 0;
	}
	return got;
}

/*
 * Read ahead pages [lo, hi) of obj, skipping resident pages and holes.
 * Returns the page index it got to (hi, or where the bound or memory
 * stopped it).
 */
static uint64_t
sf_ra_issue(struct vms_socket *so, struct vm_object *obj, uint64_t lo, uint64_t hi)
{
	uint64_t p = lo;
	int io_max = sf_ra_io_max();

	while (p < hi) {
		int after = 0;
		if (!pager_haspage(obj, p, NULL, &after)) {
			p++; /* a hole: swapin zero-fills it without I/O */
			continue;
		}
		int n = (int)MIN(hi - p, (uint64_t)after + 1);
		n = MIN(n, io_max);
		int grant = sf_ra_reserve(n);
		if (grant == 0) {
			counter_inc(&sf_stats.ra_throttled);
			break;
		}
		int got = sf_ra_start(so, obj, p, grant);
		if (got == 0)
			break; /* out of memory: the demand path will read it */
		p += got < 0 ? 1 : (uint64_t)got;
	}
	return p;
}

void
sf_ra_call(struct vms_socket *so, struct vm_object *obj, uint64_t offset, uint64_t req_end,
	   int flags)
{
	struct sf_ra *ra = &so->ra;
	bool adaptive = !(flags & (SF_NODISKIO | SF_USER_READAHEAD)) && sf_ra_min_pages > 0;

	if (!adaptive) {
		sf_ra_reset(ra);
		return;
	}
	if (ra->obj_id == obj->id && offset == ra->next && ra->win > 0) {
		/* Sequential.  Starting where the previous request ended: across requests too. */
		if (offset == ra->req_end)
			ra->past_req = true;
	} else {
		if (ra->obj_id == obj->id)
			counter_inc(&sf_stats.ra_seeks);
		ra->obj_id = obj->id;
		ra->end = OFF_TO_IDX(offset);
		ra->win = (uint32_t)MIN(sf_ra_min_pages, MAX(sf_ra_max_pages, 1));
		ra->past_req = false;
	}
	ra->next = offset;
	ra->req_end = req_end;
}

void
sf_ra_kick(struct vms_socket *so, struct vm_object *obj, uint64_t pos)
{
	struct sf_ra *ra = &so->ra;

	if (ra->obj_id != obj->id || ra->win == 0 || so->error != 0)
		return;
	ra->next = pos;
	uint64_t npages = vm_object_npages(obj);
	uint64_t demand = howmany(pos, PAGE_SIZE); /* first page not queued */
	uint64_t limit = ra->past_req ? npages : MIN(howmany(ra->req_end, PAGE_SIZE), npages);
	if (ra->end < demand)
		ra->end = demand;
	/*
	 * Top the window up one slice per call: a slice is one read-ahead I/O
	 * (sf_ra_io_max), issued once a whole slice or half the window is free
	 * (or the limit is nearer), so I/Os stay large while a large window
	 * stays nearly full.  Grabbing a page costs a lookup, an insert and
	 * often a reclaim; a whole 8 MiB window at once kept the loop from the
	 * hot requests for milliseconds, and a stream calls often enough (every
	 * hiwat bytes) to keep its window full a slice at a time.
	 */
	uint64_t full = MIN(demand + ra->win, limit);
	uint64_t slice = (uint64_t)sf_ra_io_max();
	if (ra->end >= full || (full - ra->end < MIN(slice, ra->win / 2) && full < limit))
		return;
	uint64_t hi = MIN(full, ra->end + slice);
	uint64_t got = sf_ra_issue(so, obj, ra->end, hi);
	if (got == full && ra->win < (uint32_t)sf_ra_max_pages) {
		ra->win = (uint32_t)MIN((int64_t)ra->win * 2, sf_ra_max_pages);
		counter_inc(&sf_stats.ra_grows);
	}
	ra->end = got;
}

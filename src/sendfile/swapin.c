/*
 * swapin and iodone: getting a file segment's pages valid without blocking.
 *
 * A SEG_PAGES segment is queued not ready with no pages ("pending").  The
 * pump takes pending segments in queue order and, for each:
 *
 *   1. grabs its pages wired without waiting (VM_ALLOC_NOWAIT), xbusying
 *      only those that are not yet valid (VM_ALLOC_NOBUSY_VALID), so two
 *      sockets sending the same hot file never stall on each other.  A
 *      busy page or an empty free list stops the grab: the pages got so far
 *      become this segment and the rest is split off as a new pending
 *      segment, retried from a timer on the loop (counted as a busy wait).
 *      Sleeping here could deadlock: the page may be busy for an I/O whose
 *      completion this very loop has to run.
 *   2. zero-fills and validates holes (haspage false);
 *   3. for each run starting at an invalid page, bounds it by haspage's
 *      `after`, trims valid pages off its end, and reads it:
 *        coalesce: one getpages_async, valid pages inside as bogus_page
 *                  (only for pagers with PAGER_CAP_BOGUS);
 *        split:    one getpages_async per invalid sub-run.
 *      Read-ahead goes only on the run ending at the call's last page.
 *
 * The request (struct sf_io) counts references in `nios`: one for the
 * swapin call, one per I/O.  Each iodone (any thread, possibly before
 * getpages_async returns) puts the real pages back in the segment's array
 * (bogus slots keep the page saved there; the pager's array is not trusted
 * for them), unbusies them and drops its reference.  Whoever drops the last
 * one finishes the request on the socket's loop: ready on success, abort
 * with EIO on any error.
 *
 *   swapin ──nios=1──┬─ I/O a (+1) ──iodone──(-1)─┐
 *                    ├─ I/O b (+1) ──iodone──(-1)─┼─ last: finish on loop
 *                    └─ end of call      ──(-1)───┘
 */
#include "sendfile/sf_impl.h"

#include "core/assert.h"
#include "core/util.h"
#include "pager/pager.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef VMSEND_INVARIANTS
bool sf_coalesce_ignore_caps;
#define SF_COALESCE_IGNORES_CAPS sf_coalesce_ignore_caps
#else
#define SF_COALESCE_IGNORES_CAPS false
#endif

/* One pager I/O of a request. */
struct sf_ioreq {
	struct sf_io *sfio; /* (c) */
	int start;          /* (c) index of ma[0] in the segment's pages */
	int count;          /* (c) */
	bool *bogus;        /* (c) slots given to the pager as bogus_page */
	struct vm_page *ma[];
};

static void sf_io_finish_task(struct io_task *task);

static void
sf_io_finish(struct sf_io *sfio)
{
	struct vms_socket *so = sfio->so;
	struct sf_seg *seg = sfio->seg;
	int error = atomic_load(&sfio->error);

	counter_add(&sf_stats.readahead, (uint64_t)sfio->ra_done);
	free(sfio);
	seg->swapping = false;
	if (error != 0)
		sf_socket_abort(so, -EIO);
	else if (so->error != 0)
		sf_socket_abort(so, -so->error);
	else
		sf_sb_ready(so, seg);
	sf_socket_rele(so);
}

static void
sf_io_finish_task(struct io_task *task)
{
	sf_io_finish(container_of(task, struct sf_io, task));
}

/* Drop one reference; the last one finishes on the socket's loop. */
static void
sf_io_rele(struct sf_io *sfio, bool on_loop)
{
	if (atomic_fetch_sub(&sfio->nios, 1) != 1)
		return;
	if (on_loop)
		sf_io_finish(sfio);
	else
		io_loop_post(sfio->so->loop, &sfio->task);
}

static void
sf_iodone(void *arg, struct vm_page **ma, int count, int error)
{
	struct sf_ioreq *r = arg;
	struct sf_io *sfio = r->sfio;
	struct vm_page **pa = sfio->seg->pages;
	int nreal = 0;

	VERIFY3S(count, ==, r->count);
	for (int i = 0; i < count; i++) {
		if (r->bogus[i])
			continue; /* the valid page saved in pa[] stands; never the pager's slot */
		struct vm_page *m = ma[i] != bogus_page ? ma[i] : r->ma[i];
		struct vm_page *old = pa[r->start + i];
		if (m != old) {
			/* The pager re-grabbed (rule 11): move our wiring to the new page. */
			vm_page_wire(m);
			vm_page_unwire(old);
			pa[r->start + i] = m;
		}
		vm_page_xbusy_claim(m);
		vm_page_xunbusy(m);
		nreal++;
	}
	if (error != 0) {
		int zero = 0;
		atomic_compare_exchange_strong(&sfio->error, &zero, error);
		counter_inc(&sf_stats.io_errors);
	} else {
		counter_add(&sf_stats.pages_read, (uint64_t)nreal);
	}
	free(r);
	atomic_fetch_sub_explicit(&sf_ios_inflight, 1, memory_order_relaxed);
	sf_io_rele(sfio, false);
}

/* Start one pager I/O over pages [start, start + count) of the segment. */
static void
sf_issue(struct sf_io *sfio, struct vm_object *obj, int start, int count, bool coalesce, int ra)
{
	struct vm_page **pa = sfio->seg->pages;
	struct sf_ioreq *r = malloc(sizeof(*r) + count * (sizeof(r->ma[0]) + sizeof(bool)));
	if (r == NULL) {
		/* Out of memory: this I/O fails as one the pager could not start. */
		for (int k = 0; k < count; k++)
			if (!(coalesce && vm_page_all_valid(pa[start + k])))
				vm_page_xunbusy(pa[start + k]);
		int zero = 0;
		atomic_compare_exchange_strong(&sfio->error, &zero, -ENOMEM);
		counter_inc(&sf_stats.io_errors);
		return;
	}
	r->sfio = sfio;
	r->start = start;
	r->count = count;
	r->bogus = (bool *)&r->ma[count];
	for (int k = 0; k < count; k++) {
		struct vm_page *m = pa[start + k];
		r->bogus[k] = coalesce && vm_page_all_valid(m);
		r->ma[k] = r->bogus[k] ? bogus_page : m;
		if (r->bogus[k])
			counter_inc(&sf_stats.pages_bogus);
	}
	ASSERT(!r->bogus[0] && !r->bogus[count - 1]);
	atomic_fetch_add(&sfio->nios, 1);
	counter_inc(&sf_stats.ios);
	atomic_fetch_add_explicit(&sf_ios_inflight, 1, memory_order_relaxed);
	int *rahead = NULL;
	if (ra > 0) {
		sfio->ra_done = ra;
		rahead = &sfio->ra_done;
	}
	int rv = pager_getpages_async(obj, r->ma, count, NULL, rahead, sf_iodone, r);
	if (rv != PAGER_OK) {
		/* Nothing started and iodone will not run: the pages are still ours. */
		for (int k = 0; k < count; k++)
			if (!r->bogus[k])
				vm_page_xunbusy(pa[start + k]);
		if (ra > 0)
			sfio->ra_done = 0;
		int zero = 0;
		atomic_compare_exchange_strong(&sfio->error, &zero, pager_to_errno(rv));
		counter_inc(&sf_stats.io_errors);
		free(r);
		atomic_fetch_sub_explicit(&sf_ios_inflight, 1, memory_order_relaxed);
		atomic_fetch_sub(&sfio->nios, 1); /* never the last: the call holds one */
	}
}

/*
 * Split the pending tail [n, npages) of seg off as a new pending segment
 * right behind it.  Both stay not ready; sb_cc and notready do not change.
 */
static struct sf_seg *
sf_seg_split(struct sf_seg *seg, int n, struct sf_seg *tail)
{
	uint32_t head_len = n * PAGE_SIZE - sf_seg_pgoff(seg);
	ASSERT3U(head_len, <, seg->len);
	tail->kind = SEG_PAGES;
	tail->nocache = seg->nocache;
	tail->sealed = seg->sealed; /* TLS: both halves are still to be sealed (or never are) */
	tail->rtype = seg->rtype;
	tail->obj = seg->obj;
	vm_object_reference(tail->obj);
	tail->offset = seg->offset + head_len;
	tail->len = seg->len - head_len;
	tail->npages = seg->npages - n;
	tail->ra = seg->ra;
	seg->ra = 0;
	seg->len = head_len;
	seg->npages = n;
	return tail;
}

static void
sf_retry_timer(struct io_timer *t)
{
	struct vms_socket *so = container_of(t, struct vms_socket, retry);
	so->retry_armed = false;
	if (so->error == 0) {
		sf_swapin_pump(so);
		sf_sb_kick(so); /* a send that found no memory for its gather list */
	}
	sf_socket_rele(so);
}

void
sf_retry_arm(struct vms_socket *so)
{
	if (so->retry_armed)
		return;
	so->retry_armed = true;
	so->retry.fn = sf_retry_timer;
	sf_socket_ref(so);
	int rc = io_timer_arm(so->loop, &so->retry, (uint64_t)sf_retry_us * 1000);
	if (rc != 0) {
		/* Nothing else would resume this stalled queue: fail the socket, not the process. */
		so->retry_armed = false;
		sf_socket_abort(so, rc);
		sf_socket_rele(so);
	}
}

/* Was the grab stopped by a busy page (rather than by an empty free list)? */
static bool
sf_page_busy(struct vm_object *obj, uint64_t pindex)
{
	vm_object_lock(obj);
	struct vm_page *m = vm_page_lookup(obj, pindex);
	bool busy = m != NULL && vm_page_busied(m);
	vm_object_unlock(obj);
	return busy;
}

enum sf_swapin_rv {
	SWAPIN_DONE,    /* all its pages are in hand (reads may be under way) */
	SWAPIN_NOTHING, /* no page could be had: seg is untouched, still pending */
	SWAPIN_PART,    /* a head of seg is in hand, the tail was split off pending */
};

/* Room for seg's page pointers: in the segment when they fit, else allocated (or NULL). */
static struct vm_page **
sf_seg_pagevec(struct sf_seg *seg)
{
	if (seg->npages <= SF_SEG_INLINE)
		return seg->inl;
	return calloc((size_t)seg->npages, sizeof(struct vm_page *));
}

static void
sf_seg_pagevec_free(struct sf_seg *seg, struct vm_page **pa)
{
	if (pa != seg->inl)
		free(pa);
}

/*
 * Give back n pages a grab returned, unused: valid ones come unbusied,
 * invalid ones xbusied by us (they stay cached, invalid, for a later read).
 */
static void
sf_pages_release(struct vm_page **pa, int n)
{
	for (int i = 0; i < n; i++) {
		if (!vm_page_all_valid(pa[i]))
			vm_page_xunbusy(pa[i]);
		vm_page_unwire(pa[i]);
	}
}

/*
 * Swap in one pending segment.  With a synchronous pager error the socket
 * may be aborted and seg freed before this returns: the caller must not
 * touch seg unless told SWAPIN_NOTHING.
 */
static enum sf_swapin_rv
sf_swapin_seg(struct vms_socket *so, struct sf_seg *seg)
{
	struct vm_object *obj = seg->obj;
	uint64_t pindex0 = OFF_TO_IDX(seg->offset);
	struct vm_page **pa = sf_seg_pagevec(seg);
	if (pa == NULL)
		return SWAPIN_NOTHING; /* out of memory: like an empty free list, the retry timer */
	/* Valid pages come back wired but unbusied: nothing to wait for, nothing to release. */
	int n = vm_page_grab_pages(obj, pindex0,
				   VM_ALLOC_WIRED | VM_ALLOC_NOWAIT | VM_ALLOC_NOBUSY_VALID, pa,
				   seg->npages);
	bool stalled = n < seg->npages;
	if (stalled && sf_page_busy(obj, pindex0 + n))
		counter_inc(&sf_stats.busy_waits);
	int valid = 0;
	for (int i = 0; i < n; i++)
		valid += vm_page_all_valid(pa[i]);
	/*
	 * What else this needs: the tail if the grab stalled, the request if a
	 * page must be read.  A hot segment needs neither, and allocates nothing.
	 */
	struct sf_seg *tail = stalled && n > 0 ? calloc(1, sizeof(*tail)) : NULL;
	struct sf_io *sfio = valid < n ? calloc(1, sizeof(*sfio)) : NULL;
	if (n == 0 || (stalled && tail == NULL) || (valid < n && sfio == NULL)) {
		sf_pages_release(pa, n);
		sf_seg_pagevec_free(seg, pa);
		free(tail);
		free(sfio);
		return SWAPIN_NOTHING;
	}
	if (stalled) {
		sf_seg_split(seg, n, tail);
		TAILQ_INSERT_AFTER(&so->sb, seg, tail, link);
		so->pending = tail;
	}
	seg->pages = pa;
	counter_add(&sf_stats.pages_valid, (uint64_t)valid);
	if (sfio == NULL) {
		/* Every page is valid: ready now, as an I/O request finishing here would make it. */
		ASSERT3S(so->error, ==, 0);
		sf_sb_ready(so, seg);
		return stalled ? SWAPIN_PART : SWAPIN_DONE;
	}
	seg->swapping = true;

	sfio->task.fn = sf_io_finish_task;
	sfio->so = so;
	sfio->seg = seg;
	atomic_init(&sfio->nios, 1);
	sf_socket_ref(so);

	/* Valid pages came back unbusied; the others are xbusied by us. */
	bool coalesce = sf_swapin_policy == SF_POLICY_COALESCE &&
			((obj->pager->caps & PAGER_CAP_BOGUS) != 0 || SF_COALESCE_IGNORES_CAPS);
	for (int i = 0; i < n;) {
		if (vm_page_all_valid(pa[i])) {
			i++;
			continue;
		}
		int after = 0;
		if (!pager_haspage(obj, pindex0 + i, NULL, &after)) {
			vm_page_zero_invalid(pa[i], true);
			vm_page_xunbusy(pa[i]);
			counter_inc(&sf_stats.pages_zeroed);
			i++;
			continue;
		}
		int count = MIN(after + 1, n - i);
		/* Valid pages at a run's end are not read; they are unbusied already. */
		while (count > 1 && vm_page_all_valid(pa[i + count - 1]))
			count--;
		bool last = i + count == n;
		if (coalesce) {
			sf_issue(sfio, obj, i, count, true, last ? seg->ra : 0);
		} else {
			for (int j = i; j < i + count;) {
				if (vm_page_all_valid(pa[j])) {
					j++;
					continue;
				}
				int k = j;
				while (k < i + count && !vm_page_all_valid(pa[k]))
					k++;
				sf_issue(sfio, obj, j, k - j, false,
					 last && k == i + count ? seg->ra : 0);
				j = k;
			}
		}
		i += count;
	}
	sf_io_rele(sfio, true); /* may finish the request, and abort the socket */
	return stalled ? SWAPIN_PART : SWAPIN_DONE;
}

void
sf_swapin_pump(struct vms_socket *so)
{
	if (so->retry_armed)
		return; /* stalled: the timer resumes in order */
	while (so->pending != NULL && so->error == 0) {
		struct sf_seg *seg = so->pending;
		ASSERT(seg->kind == SEG_PAGES && seg->pages == NULL);
		/* The next pending segment: swapin always proceeds in queue order. */
		struct sf_seg *next = TAILQ_NEXT(seg, link);
		while (next != NULL && !(next->kind == SEG_PAGES && next->pages == NULL))
			next = TAILQ_NEXT(next, link);
		so->pending = next;
		enum sf_swapin_rv rv = sf_swapin_seg(so, seg);
		if (rv == SWAPIN_NOTHING)
			so->pending = seg;
		if (rv != SWAPIN_DONE && so->error == 0) {
			sf_retry_arm(so);
			return;
		}
	}
}

uint32_t
sf_swapin_nodiskio(struct sf_seg *seg)
{
	struct vm_page **pa = sf_seg_pagevec(seg);
	if (pa == NULL)
		return 0; /* out of memory: nothing queued, as if nothing were cached */
	int n = vm_page_grab_pages(seg->obj, OFF_TO_IDX(seg->offset),
				   VM_ALLOC_WIRED | VM_ALLOC_NOWAIT | VM_ALLOC_NOCREAT |
				       VM_ALLOC_NOBUSY_VALID,
				   pa, seg->npages);
	int k = 0;
	while (k < n && vm_page_all_valid(pa[k]))
		k++;
	sf_pages_release(pa + k, n - k); /* keep only [0, k) */
	counter_add(&sf_stats.pages_valid, (uint64_t)k);
	if (k == 0) {
		sf_seg_pagevec_free(seg, pa);
		return 0;
	}
	seg->pages = pa;
	if (k < seg->npages) {
		seg->npages = k;
		seg->len = k * PAGE_SIZE - sf_seg_pgoff(seg);
	}
	return seg->len;
}

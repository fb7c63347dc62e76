/*
 * dmu_read_pages: the objfs pager.
 *
 * hostfs reads file bytes straight into pages: one device read per run,
 * bogus slots sunk into a scratch page.  objfs cannot: its bytes live in
 * checksummed, maybe compressed records that must be verified whole before
 * a single byte is trusted.  So a run of pages is served in three steps:
 *
 *    ma[]:      [behind...][ m0  m1  bogus  m3 ][ahead...]
 *    records:   |<------ rec 4 ------>|<------ rec 5 ------>|
 *
 *   1. hold:  find the records covering the run (block-pointer tree), and
 *             hold each in the ARC; a miss is read, verified and
 *             decompressed by the image side, asynchronously through the
 *             calling thread's io loop when it has one;
 *   2. copy:  when the last hold arrives, copy each real page's bytes out of
 *             its record (zero for holes and past EOF) and mark it valid;
 *             bogus_page slots are skipped entirely (rule 7): the real page
 *             is valid already and is neither read nor written;
 *   3. release the holds, finish the optional pages, call iodone once.
 *
 * Read-behind and read-ahead cost nothing extra here, since the records are
 * held anyway: optional pages are taken only within the held records,
 * grabbed without sleeping and stopping at the first page already valid.
 *
 * Streams bypass the ARC.  Each file notes where its last run of records
 * ended; a run that starts there after objfs_stream_direct_after records
 * in a row is a stream (sendfile's read-ahead asks for one record after
 * the other), in the spirit of ZFS's dmu_zfetch.  A stream's record that
 * lies whole inside the file, has every page in this request (none bogus)
 * and is not in the ARC already goes straight into its pages: when they are
 * consecutive frames (the usual case, see vm.c) as one buffer, into which
 * a compressed record is decompressed; otherwise, if it is stored
 * uncompressed, by a scatter read verified in place
 * (objfs_image_can_scatter).  Step 2 then has nothing to copy for it.  So
 * a one-pass stream costs no copy and no ARC space, and cannot push out what
 * other reads keep in the ARC.
 *
 * Failure is all or nothing: if any record fails (EIO after a checksum
 * mismatch, logged by the image side), no requested page is touched, the
 * optional pages are freed and iodone gets -EIO.  Nothing was copied, so
 * nothing wrong was ever visible.
 *
 * What may still block: block pointers come from the image side's
 * metadata cache, so the first lookup through a cold indirect block is one
 * small pread on the calling thread (haspage included); after that the tree
 * is in memory for the life of the mount.  The synchronous getpages waits
 * for record reads by design and must not be called on a thread whose own
 * io loop is filling the same record (it would wait for itself).
 *
 * The copy loop computes every offset from ma[0]->pindex + i (rule 6) and
 * asserts exclusive busy at the line that fills a page.  The 2018 variant
 * (objfs_pager_2018_ops) differs by one flag: it asserts before looking for
 * bogus_page, which is the bug of the incident.
 */
#include "fs/objfs/dmu.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"
#include "fs/objfs/image.h"
#include "io/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dmu_stats dmu_stats;

VMS_TUNABLE(objfs_stream_direct_after, "objfs_stream_direct_after", 2,
	    "objfs records read in a row before a file's records go straight into the page "
	    "cache, not through the ARC (0: never)");

VMS_STAT_COUNTER(dmu_stats.reads, "dmu_reads", "objfs getpages calls");
VMS_STAT_COUNTER(dmu_stats.async_reads, "dmu_async_reads", "of which getpages_async");
VMS_STAT_COUNTER(dmu_stats.records_held, "dmu_records_held", "ARC records held for page runs");
VMS_STAT_COUNTER(dmu_stats.records_direct, "dmu_records_direct",
		 "records read straight into a stream's pages, past the ARC");
VMS_STAT_COUNTER(dmu_stats.holes, "dmu_holes", "hole records in page runs (zero-filled)");
VMS_STAT_COUNTER(dmu_stats.pages_filled, "dmu_pages_filled", "requested pages filled from records");
VMS_STAT_COUNTER(dmu_stats.bogus_skipped, "dmu_bogus_skipped", "bogus_page slots skipped (rule 7)");
VMS_STAT_COUNTER(dmu_stats.eof_zeroed, "dmu_eof_zeroed", "pages zeroed past end of file");
VMS_STAT_COUNTER(dmu_stats.rbehind, "dmu_rbehind", "optional pages read behind runs");
VMS_STAT_COUNTER(dmu_stats.rahead, "dmu_rahead", "optional pages read ahead of runs");
VMS_STAT_COUNTER(dmu_stats.errors, "dmu_errors", "page runs that failed with EIO");

void
dmu_stats_foreach(vms_stat_named_fn_t *fn, void *arg)
{
	vms_stats_foreach_named("dmu_", fn, arg);
}

struct dmu_req;

struct dmu_rec {
	struct dmu_req *req;
	struct objfs_bp bp;
	struct arc_buf *buf; /* held; NULL for a hole, a direct record or before it arrives */
	bool direct;         /* read straight into its pages (see the top) */
};

struct dmu_req {
	struct vm_object *obj;
	struct objfs_node *np;
	bool skip_bogus; /* rule 7: false only in the 2018 variant */
	bool stream;     /* part of a sequential stream (see the top) */
	uint64_t first;  /* ma[0]->pindex */
	int count;
	int nbehind, nahead;
	struct vm_page **pages; /* nbehind optional, count requested, nahead optional */
	uint64_t blk0;
	int nrecs;
	struct dmu_rec *recs;
	_Atomic int pending; /* record reads outstanding, + 1 while starting */
	_Atomic int error;
	pager_iodone_t *iodone;
	void *arg;
	int result; /* sync: the error seen by dmu_sync_done */
};

/* ---- the image as an ARC fill ---- */

struct dmu_fill_arg {
	struct objfs_image *img;
	struct recmem *mem; /* staging buffers for the image read */
	const struct objfs_bp *bp;
	uint64_t objnum, blkid;
};

struct dmu_aread {
	struct objfs_aread ar;
	arc_fill_done_t *done;
	void *done_arg;
};

static int
dmu_fill_sync(void *arg, const struct arc_key *key, void *dst, uint32_t size)
{
	const struct dmu_fill_arg *fa = arg;
	ASSERT3U(size, ==, fa->bp->lsize);
	return objfs_image_read_bp(fa->img, fa->bp, fa->objnum, fa->blkid, dst);
}

static void
dmu_aread_done(struct objfs_aread *ar, int error)
{
	struct dmu_aread *a = container_of(ar, struct dmu_aread, ar);
	arc_fill_done_t *done = a->done;
	void *done_arg = a->done_arg;
	free(a);
	done(done_arg, error);
}

static void
dmu_fill_async(void *arg, const struct arc_key *key, void *dst, uint32_t size,
	       arc_fill_done_t *done, void *done_arg)
{
	const struct dmu_fill_arg *fa = arg;
	struct io_loop *loop = io_loop_current();
	struct dmu_aread *a;

	if (loop == NULL || (a = calloc(1, sizeof(*a))) == NULL) {
		done(done_arg, dmu_fill_sync(arg, key, dst, size));
		return;
	}
	a->ar.bp = *fa->bp;
	a->ar.objnum = fa->objnum;
	a->ar.blkid = fa->blkid;
	a->ar.buf = dst;
	a->ar.mem = fa->mem;
	a->ar.done = dmu_aread_done;
	a->ar.arg = a;
	a->done = done;
	a->done_arg = done_arg;
	objfs_image_read_async(fa->img, loop, &a->ar);
}

static const struct arc_fill_ops dmu_fill_ops_async = {
    .fill_sync = dmu_fill_sync,
    .fill_async = dmu_fill_async,
};
static const struct arc_fill_ops dmu_fill_ops_sync = {.fill_sync = dmu_fill_sync};

static struct arc_key
dmu_key(const struct objfs_fs *fs, const struct objfs_bp *bp)
{
	uint64_t tag;
	memcpy(&tag, bp->cksum, sizeof(tag));
	tag ^= ((uint64_t)bp->psize << 32 | bp->lsize) ^ bp->comp;
	return (struct arc_key){.image_id = fs->image_id, .offset = bp->offset, .tag = tag};
}

/* ---- filling pages ---- */

/*
 * Fill page `m` standing for file page `pindex` from the held records:
 * record bytes, zeros for a hole, zeros past EOF.  The caller has asserted
 * that m is exclusively busied.
 */
static void
dmu_fill_page(struct dmu_req *req, struct vm_page *m, uint64_t pindex)
{
	const struct objfs_dnode *dn = &req->np->dn;
	uint8_t *dst = vm_page_data(m);
	uint64_t off = IDX_TO_OFF(pindex);
	size_t n = 0;

	if (off < dn->size) {
		uint64_t blk = off >> dn->rs_shift;
		ASSERT3U(blk, >=, req->blk0);
		ASSERT3U(blk, <, req->blk0 + req->nrecs);
		const struct dmu_rec *r = &req->recs[blk - req->blk0];
		if (r->direct) {
			vm_page_valid(m); /* read and verified in place, a whole page of the file */
			return;
		}
		uint64_t roff = off - (blk << dn->rs_shift);
		size_t want = MIN((uint64_t)PAGE_SIZE, dn->size - off);
		if (r->buf != NULL && roff < r->buf->size) {
			n = MIN(want, r->buf->size - roff);
			memcpy(dst, (const uint8_t *)r->buf->data + roff, n);
		}
		if (want < PAGE_SIZE)
			counter_inc(&dmu_stats.eof_zeroed);
	} else {
		counter_inc(&dmu_stats.eof_zeroed);
	}
	memset(dst + n, 0, PAGE_SIZE - n);
	vm_page_valid(m);
}

static void
dmu_release_all(struct dmu_req *req)
{
	struct arc *arc = req->np->fs->arc;
	for (int i = 0; i < req->nrecs; i++)
		if (req->recs[i].buf != NULL) {
			arc_buf_release(arc, req->recs[i].buf);
			req->recs[i].buf = NULL;
		}
}

/* Every hold has arrived (or failed): copy, release, call iodone once. */
static void
dmu_req_finish(struct dmu_req *req)
{
	struct vm_page **ma = req->pages + req->nbehind;
	int error = atomic_load(&req->error);

	if (error == 0) {
		for (int i = 0; i < req->count; i++) {
			struct vm_page *m = ma[i];
			if (req->skip_bogus && m == bogus_page) {
				/* Rule 7: the real page is valid; touch nothing. */
				counter_inc(&dmu_stats.bogus_skipped);
				continue;
			}
			vm_page_assert_xbusied(m);
			dmu_fill_page(req, m, req->first + i); /* rule 6: from ma[0] + i */
			counter_inc(&dmu_stats.pages_filled);
		}
	} else {
		counter_inc(&dmu_stats.errors);
	}
	/* Optional pages are ours (rule 9): fill them or let them go. */
	for (int i = 0; i < req->nbehind; i++) {
		if (error == 0)
			dmu_fill_page(req, req->pages[i], req->first - req->nbehind + i);
		vm_page_readahead_finish(req->pages[i]);
	}
	for (int i = 0; i < req->nahead; i++) {
		struct vm_page *m = ma[req->count + i];
		if (error == 0)
			dmu_fill_page(req, m, req->first + req->count + i);
		vm_page_readahead_finish(m);
	}
	if (error == 0) {
		counter_add(&dmu_stats.rbehind, req->nbehind);
		counter_add(&dmu_stats.rahead, req->nahead);
	}
	dmu_release_all(req);
	vm_object_pip_wakeup(req->obj, 1);
	req->iodone(req->arg, ma, req->count, error);
	free(req);
}

static void
dmu_req_drop(struct dmu_req *req)
{
	if (atomic_fetch_sub(&req->pending, 1) == 1)
		dmu_req_finish(req);
}

static void
dmu_rec_done(void *arg, struct arc_buf *buf, int error)
{
	struct dmu_rec *r = arg;
	struct dmu_req *req = r->req;
	r->buf = buf;
	if (error != 0) {
		int expect = 0;
		atomic_compare_exchange_strong(&req->error, &expect, error);
	}
	dmu_req_drop(req);
}

/* ---- optional pages ---- */

/* ---- the request ---- */

/*
 * Build a request for ma[0..count): bound the run, grab the optional pages
 * within the records it covers, look the records' block pointers up.
 * Returns PAGER_OK and *reqp, or PAGER_BAD / PAGER_ERROR / PAGER_AGAIN with
 * nothing left behind.
 */
static int
dmu_req_create(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead,
	       bool skip_bogus, struct dmu_req **reqp)
{
	struct objfs_node *np = obj->pager_priv;
	const struct objfs_dnode *dn = &np->dn;
	uint64_t npages = vm_object_npages(obj);

	if (count <= 0 || ma[0] == bogus_page)
		return PAGER_BAD;
	uint64_t first = ma[0]->pindex;
	if (first >= npages || count > (int64_t)(npages - first))
		return PAGER_BAD;

	uint64_t run_end = MIN(IDX_TO_OFF(first + count), dn->size);
	uint64_t blk0 = IDX_TO_OFF(first) >> dn->rs_shift;
	uint64_t blk1 = (run_end - 1) >> dn->rs_shift;
	int nrecs = (int)(blk1 - blk0 + 1);

	/* Optional pages stay inside the records the run holds anyway. */
	uint64_t rec_first = OFF_TO_IDX(blk0 << dn->rs_shift);
	uint64_t rec_end = MIN(OFF_TO_IDX((blk1 + 1) << dn->rs_shift), npages);
	int maxb = rbehind != NULL ? (int)MIN((uint64_t)MAX(*rbehind, 0), first - rec_first) : 0;
	int maxa =
	    rahead != NULL ? (int)MIN((uint64_t)MAX(*rahead, 0), rec_end - (first + count)) : 0;

	size_t sz = sizeof(struct dmu_req) + (size_t)nrecs * sizeof(struct dmu_rec) +
		    (size_t)(maxb + count + maxa) * sizeof(struct vm_page *);
	struct dmu_req *req = calloc(1, sz);
	if (req == NULL)
		return PAGER_AGAIN;
	req->obj = obj;
	req->np = np;
	req->skip_bogus = skip_bogus;
	req->first = first;
	req->count = count;
	req->blk0 = blk0;
	req->nrecs = nrecs;
	req->recs = (struct dmu_rec *)(req + 1);
	req->pages = (struct vm_page **)(req->recs + nrecs);

	for (int i = 0; i < nrecs; i++) {
		req->recs[i].req = req;
		int error = objfs_image_bp(np->fs->img, dn, blk0 + i, &req->recs[i].bp);
		if (error != 0) {
			free(req);
			return error == -EINVAL   ? PAGER_BAD
			       : error == -ENOMEM ? PAGER_AGAIN /* short of memory, not of data */
						  : PAGER_ERROR;
		}
	}

	/* Behind: walk down from the run, then turn into ascending order. */
	int nb = maxb > 0 ? vm_page_grab_optional_run(obj, first - 1, -1, req->pages, maxb) : 0;
	for (int i = 0; i < nb / 2; i++) {
		struct vm_page *t = req->pages[i];
		req->pages[i] = req->pages[nb - 1 - i];
		req->pages[nb - 1 - i] = t;
	}
	req->nbehind = nb;
	memcpy(req->pages + nb, ma, (size_t)count * sizeof(*ma));
	int na = maxa > 0 ? vm_page_grab_optional_run(obj, first + count, 1,
						      req->pages + nb + count, maxa)
			  : 0;
	req->nahead = na;
	if (rbehind != NULL)
		*rbehind = nb;
	if (rahead != NULL)
		*rahead = na;
	*reqp = req;
	return PAGER_OK;
}

/* ---- streams: records straight into pages ---- */

/*
 * Note a run of nrecs records from blk0; true if it continues a stream:
 * at least objfs_stream_direct_after records ended right here, in a row.
 * (One large request alone is no stream: a seek reads through the ARC.)
 */
static bool
dmu_seq_note(struct objfs_node *np, uint64_t blk0, int nrecs)
{
	uint64_t next =
	    atomic_exchange_explicit(&np->seq_next, blk0 + (uint64_t)nrecs, memory_order_relaxed);
	uint32_t prior = 0;
	if (next == blk0 && blk0 != 0)
		prior = atomic_load_explicit(&np->seq_run, memory_order_relaxed);
	atomic_store_explicit(&np->seq_run, MIN(prior + (uint32_t)nrecs, UINT32_MAX / 2),
			      memory_order_relaxed);
	int64_t after = objfs_stream_direct_after;
	return after > 0 && prior >= (uint64_t)after;
}

struct dmu_sread {
	struct objfs_aread ar;
	struct dmu_rec *r;
	struct iovec iov[]; /* one per page of the record, for a scatter read */
};

static void
dmu_sread_done(struct objfs_aread *ar, int error)
{
	struct dmu_sread *s = container_of(ar, struct dmu_sread, ar);
	struct dmu_rec *r = s->r;
	free(s);
	if (error == 0)
		r->direct = true;
	dmu_rec_done(r, NULL, error);
}

/*
 * Start record i as a direct read if it qualifies (see the top); false
 * leaves it to the ARC.
 */
static bool
dmu_rec_start_direct(struct dmu_req *req, int i, const struct arc_key *key)
{
	const struct objfs_dnode *dn = &req->np->dn;
	struct objfs_fs *fs = req->np->fs;
	struct dmu_rec *r = &req->recs[i];
	struct io_loop *loop = io_loop_current();

	if (!req->stream || loop == NULL || objfs_bp_is_hole(&r->bp) ||
	    r->bp.lsize % PAGE_SIZE != 0)
		return false;
	uint64_t roff = (req->blk0 + (uint64_t)i) << dn->rs_shift;
	if (roff + r->bp.lsize > dn->size)
		return false; /* the file ends inside it: pages past EOF need zeros */
	uint64_t p0 = OFF_TO_IDX(roff), np = OFF_TO_IDX(r->bp.lsize);
	uint64_t have0 = req->first - (uint64_t)req->nbehind;
	if (p0 < have0 || p0 + np > req->first + (uint64_t)(req->count + req->nahead))
		return false;
	struct vm_page **pg = req->pages + (p0 - have0);
	char *base = vm_page_data(pg[0]);
	bool contiguous = true;
	for (uint64_t k = 0; k < np; k++) {
		if (pg[k] == bogus_page)
			return false;
		contiguous &= (char *)vm_page_data(pg[k]) == base + k * PAGE_SIZE;
	}
	if (!contiguous && !objfs_image_can_scatter(fs->img, &r->bp, PAGE_SIZE))
		return false;
	if (arc_cached(fs->arc, key))
		return false; /* copying from memory beats reading again */

	size_t niov = contiguous ? 0 : np;
	struct dmu_sread *s = calloc(1, sizeof(*s) + niov * sizeof(struct iovec));
	if (s == NULL)
		return false;
	if (contiguous) {
		s->ar.buf = base;
		s->ar.mem = arc_recmem(fs->arc); /* staging for a compressed record */
	} else {
		for (uint64_t k = 0; k < np; k++)
			s->iov[k] =
			    (struct iovec){.iov_base = vm_page_data(pg[k]), .iov_len = PAGE_SIZE};
		s->ar.iov = s->iov;
		s->ar.iovcnt = (int)np;
	}
	s->r = r;
	s->ar.bp = r->bp;
	s->ar.objnum = dn->objnum;
	s->ar.blkid = req->blk0 + (uint64_t)i;
	s->ar.done = dmu_sread_done;
	counter_inc(&dmu_stats.records_direct);
	objfs_image_read_async(fs->img, loop, &s->ar);
	return true;
}

/*
 * Start every record read; the last completion (maybe on this thread)
 * finishes the request.  Sync: every read is done (or waited for, if
 * another thread's fill of the same record is under way) before this
 * returns, so the request is finished too.
 */
static void
dmu_req_start(struct dmu_req *req, bool async)
{
	struct objfs_fs *fs = req->np->fs;

	vm_object_pip_add(req->obj, 1);
	atomic_store(&req->pending, req->nrecs + 1);
	req->stream = async && dmu_seq_note(req->np, req->blk0, req->nrecs);
	for (int i = 0; i < req->nrecs; i++) {
		struct dmu_rec *r = &req->recs[i];
		if (objfs_bp_is_hole(&r->bp)) {
			counter_inc(&dmu_stats.holes);
			dmu_rec_done(r, NULL, 0);
			continue;
		}
		struct arc_key key = dmu_key(fs, &r->bp);
		if (async && dmu_rec_start_direct(req, i, &key))
			continue;
		counter_inc(&dmu_stats.records_held);
		struct dmu_fill_arg fa = {
		    .img = fs->img,
		    .mem = arc_recmem(fs->arc),
		    .bp = &r->bp,
		    .objnum = req->np->dn.objnum,
		    .blkid = req->blk0 + i,
		};
		if (async) {
			arc_read(fs->arc, &key, r->bp.lsize, &dmu_fill_ops_async, &fa, dmu_rec_done,
				 r);
		} else {
			struct arc_buf *buf;
			int error = arc_read_sync(fs->arc, &key, r->bp.lsize, &dmu_fill_ops_sync,
						  &fa, &buf);
			dmu_rec_done(r, buf, error);
		}
	}
	dmu_req_drop(req);
}

static void
dmu_sync_done(void *arg, struct vm_page **ma, int count, int error)
{
	*(int *)arg = error;
}

static int
dmu_getpages_common(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind,
		    int *rahead, bool skip_bogus)
{
	struct dmu_req *req;
	int error = 0;

	counter_inc(&dmu_stats.reads);
	int rv = dmu_req_create(obj, ma, count, rbehind, rahead, skip_bogus, &req);
	if (rv != PAGER_OK)
		return rv;
	req->iodone = dmu_sync_done;
	req->arg = &error;
	dmu_req_start(req, false);
	return error == 0 ? PAGER_OK : error == -ENOMEM ? PAGER_AGAIN : PAGER_ERROR;
}

static int
dmu_getpages_async_common(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind,
			  int *rahead, pager_iodone_t *iodone, void *arg, bool skip_bogus)
{
	struct dmu_req *req;

	counter_inc(&dmu_stats.reads);
	counter_inc(&dmu_stats.async_reads);
	int rv = dmu_req_create(obj, ma, count, rbehind, rahead, skip_bogus, &req);
	if (rv == PAGER_ERROR) {
		counter_inc(&dmu_stats.errors);
		iodone(arg, ma, count, -EIO);
		return PAGER_OK;
	}
	if (rv != PAGER_OK)
		return rv;
	req->iodone = iodone;
	req->arg = arg;
	dmu_req_start(req, true);
	return PAGER_OK;
}

static int
dmu_getpages(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead)
{
	return dmu_getpages_common(obj, ma, count, rbehind, rahead, true);
}

static int
dmu_getpages_async(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead,
		   pager_iodone_t *iodone, void *arg)
{
	return dmu_getpages_async_common(obj, ma, count, rbehind, rahead, iodone, arg, true);
}

static int
dmu_getpages_2018(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead)
{
	return dmu_getpages_common(obj, ma, count, rbehind, rahead, false);
}

static int
dmu_getpages_async_2018(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind,
			int *rahead, pager_iodone_t *iodone, void *arg)
{
	return dmu_getpages_async_common(obj, ma, count, rbehind, rahead, iodone, arg, false);
}

/* ---- haspage ---- */

static bool
dmu_haspage(struct vm_object *obj, uint64_t pindex, int *before, int *after)
{
	struct objfs_node *np = obj->pager_priv;
	const struct objfs_dnode *dn = &np->dn;
	uint64_t npages = vm_object_npages(obj);
	struct objfs_bp bp;

	if (pindex >= npages)
		return false;
	uint64_t blk = IDX_TO_OFF(pindex) >> dn->rs_shift;
	int error = objfs_image_bp(np->fs->img, dn, blk, &bp);
	if (error == 0 && objfs_bp_is_hole(&bp))
		return false;
	/*
	 * On an error claim the page anyway: getpages will meet the same
	 * error and report EIO, where "no page" would serve zeros.
	 */
	uint64_t rec_first = OFF_TO_IDX(blk << dn->rs_shift);
	uint64_t rec_end = MIN(OFF_TO_IDX((blk + 1) << dn->rs_shift), npages);
	if (before != NULL)
		*before = error == 0 ? (int)(pindex - rec_first) : 0;
	if (after != NULL)
		*after = error == 0 ? (int)(rec_end - pindex - 1) : 0;
	return true;
}

/* ---- objects ---- */

static void
dmu_dealloc(struct vm_object *obj)
{
	struct objfs_node *np = obj->pager_priv;
	if (np == NULL)
		return;
	objfs_fs_rele(np->fs);
	free(np);
}

const struct pager_ops objfs_pager_ops = {
    .name = "objfs",
    .caps = PAGER_CAP_BOGUS,
    .getpages = dmu_getpages,
    .getpages_async = dmu_getpages_async,
    .haspage = dmu_haspage,
    .dealloc = dmu_dealloc,
};

const struct pager_ops objfs_pager_2018_ops = {
    .name = "objfs-2018",
    .caps = 0,
    .getpages = dmu_getpages_2018,
    .getpages_async = dmu_getpages_async_2018,
    .haspage = dmu_haspage,
    .dealloc = dmu_dealloc,
};

struct vm_object *
dmu_object_create(struct objfs_fs *fs, const struct objfs_dnode *dn, const char *name,
		  const struct pager_ops *ops)
{
	if (dn->type != OBJFS_OT_FILE)
		return NULL;
	struct objfs_node *np = calloc(1, sizeof(*np));
	if (np == NULL)
		return NULL;
	objfs_fs_ref(fs);
	np->fs = fs;
	np->dn = *dn;
	struct vm_object *obj =
	    vm_object_allocate(ops != NULL ? ops : &objfs_pager_ops, np, dn->size, name);
	if (obj == NULL) {
		objfs_fs_rele(fs);
		free(np);
	}
	return obj;
}

/* ---- the shared image ---- */

int
objfs_fs_open(const char *path, struct arc *arc, struct objfs_fs **out, char *err, size_t errlen)
{
	struct objfs_fs *fs = calloc(1, sizeof(*fs));
	if (fs == NULL)
		return -ENOMEM;
	fs->arc = arc != NULL ? arc : arc_global();
	if (fs->arc == NULL) {
		snprintf(err, errlen, "%s: no memory for the ARC", path);
		free(fs);
		return -ENOMEM;
	}
	int error = objfs_image_open(path, 0, &fs->img, err, errlen);
	if (error != 0) {
		free(fs);
		return error;
	}
	/*
	 * Read all metadata now, so lookups and block-pointer walks never make
	 * an event loop wait on a pread.  Over the cache budget (-ENOSPC) the
	 * rest is read on demand; damaged metadata (-EIO, -EBADMSG) fails on
	 * demand too, for the files it names only, so neither stops the mount.
	 */
	(void)objfs_image_preload(fs->img);
	fs->image_id = objfs_image_id(fs->img);
	atomic_init(&fs->refs, 1);
	*out = fs;
	return 0;
}

void
objfs_fs_ref(struct objfs_fs *fs)
{
	atomic_fetch_add(&fs->refs, 1);
}

void
objfs_fs_rele(struct objfs_fs *fs)
{
	uint32_t old = atomic_fetch_sub(&fs->refs, 1);
	VERIFY3U(old, >, 0);
	if (old != 1)
		return;
	arc_evict_image(fs->arc, fs->image_id);
	objfs_image_close(fs->img);
	free(fs);
}

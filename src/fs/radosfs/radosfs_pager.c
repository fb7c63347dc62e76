/*
 * radosfs's pager: haspage, getpages and getpages_async over librados.
 *
 * Theory.  A file is striped into objects (stripe_size bytes) and every
 * object into chunks (chunk_size bytes), each chunk with its own XXH3-64 in
 * the manifest.  haspage bounds a run by its object, by hole chunks and by
 * radosfs_max_io_pages, so one request lies in one object and becomes ONE
 * RADOS read op.  The op reads whole chunks, because a chunk can be verified
 * only whole:
 *
 *   object:  | chunk k                     | chunk k+1                  |
 *   slots:   | sink | p_b | m0 | bogus | m3 | p_a | p_a | sink ...     |
 *                     ^behind    ^ma[]          ^ahead (optional pages)
 *
 * Slots holding a real page read straight into its frame; bogus_page slots
 * (the real page is valid and must not be touched) and chunk bytes around
 * the request for which no optional page could be grabbed read into a sink
 * private to this I/O, so that their bytes can still be checksummed.  The op
 * is a rados_read_op with one read per run of slots that are consecutive in
 * memory.
 *
 * The completion comes on a librados thread.  It only posts the I/O back to
 * the event loop that started it (io_loop_post); there every chunk's XXH3
 * is compared with the manifest before any page becomes valid.  A mismatch
 * fails the whole request with EIO and a log line naming the object, chunk
 * and file: a page of it is never marked valid.  Bytes past EOF are zeroed.
 * Synchronous getpages runs the same path on the thread's private ring and
 * waits.
 *
 * The I/O holds a reference and a paging-in-progress count on the object,
 * and the node holds the manifest and connection it reads with, so a version
 * switch under a running request changes nothing for it.
 */
#include "fs/radosfs/radosfs.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"
#include "io/io.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

VMS_TUNABLE(radosfs_max_io_pages, "radosfs_max_io_pages", 256,
	    "most pages one RADOS read covers (haspage bound, read-ahead clamp)");

static _Atomic uint32_t rfs_fail_countdown;
static _Atomic int rfs_fail_error;

void
radosfs_fail_nth_read(unsigned n, int error)
{
	VERIFY3S(error, <, 0);
	atomic_store(&rfs_fail_error, error);
	atomic_store(&rfs_fail_countdown, n);
}

static int
rfs_fail_take(void)
{
	uint32_t c = atomic_load(&rfs_fail_countdown);

	while (c != 0)
		if (atomic_compare_exchange_weak(&rfs_fail_countdown, &c, c - 1))
			return c == 1 ? atomic_load(&rfs_fail_error) : 0;
	return 0;
}

struct rfs_seg {
	size_t got; /* bytes librados read */
	int rv;     /* this read's result */
};

struct rfs_io {
	struct io_task task; /* the completion, posted back to `loop` */
	struct io_loop *loop;
	struct vm_object *obj;
	struct rfs_node *rn;
	const struct rfs_object *o;
	char oid[RFS_OID_MAX];
	uint32_t objno;
	uint32_t obj_off; /* object offset of slot 0 (chunk-aligned) */
	uint32_t rd_len;  /* bytes read from the object */
	int nslots;       /* pages in the window */
	int req;          /* slot of ma[0] */
	int count, nbehind, nahead, nbogus, nsink;
	int nseg;
	int fail_err;
	int error;
	bool finished;
	pager_iodone_t *iodone; /* NULL: a synchronous caller waits for `finished` */
	void *arg;
	rados_read_op_t op;
	rados_completion_t comp;
	struct vm_page **pages; /* nslots: optional, requested (maybe bogus), or NULL (sink) */
	char **dst;             /* nslots: where each slot's bytes land */
	struct rfs_seg *segs;   /* nslots at most */
	char *sink;
};

/* ---- geometry ---- */

static inline const struct rfs_manifest *
rfs_man(const struct vm_object *obj)
{
	return ((const struct rfs_node *)obj->pager_priv)->man;
}

static inline uint64_t
rfs_stripe_pages(const struct vm_object *obj)
{
	return rfs_man(obj)->stripe_size / PAGE_SIZE;
}

static inline uint64_t
rfs_chunk_pages(const struct vm_object *obj)
{
	return rfs_man(obj)->chunk_size / PAGE_SIZE;
}

/* Is the chunk holding page `pindex` data (not a hole)? */
static bool
rfs_page_is_data(const struct vm_object *obj, uint64_t pindex)
{
	const struct rfs_node *rn = obj->pager_priv;
	uint64_t sp = rfs_stripe_pages(obj), k = pindex / sp;

	if (k >= rn->e->nobjects)
		return false;
	const struct rfs_object *o = &rn->e->objects[k];
	return o->stored && !rfs_chunk_is_hole(o, (uint32_t)((pindex % sp) / rfs_chunk_pages(obj)),
					       rn->man->chunk_size);
}

static bool
rfs_haspage(struct vm_object *obj, uint64_t pindex, int *before, int *after)
{
	uint64_t npages = vm_object_npages(obj), sp = rfs_stripe_pages(obj);
	uint64_t cp = rfs_chunk_pages(obj), bound = (uint64_t)MAX(radosfs_max_io_pages, 1) - 1;
	uint64_t ostart = rounddown2(pindex, sp), oend = MIN(ostart + sp, npages), b = 0, a = 0;

	if (pindex >= npages || !rfs_page_is_data(obj, pindex))
		return false;
	/* Whole data chunks only, within this object: one request is one RADOS op. */
	uint64_t cstart = rounddown2(pindex, cp);
	while (cstart > ostart && rfs_page_is_data(obj, cstart - 1) && pindex - cstart < bound)
		cstart -= cp;
	uint64_t cend = MIN(rounddown2(pindex, cp) + cp, oend);
	while (cend < oend && rfs_page_is_data(obj, cend) && cend - pindex <= bound)
		cend = MIN(cend + cp, oend);
	b = MIN(pindex - cstart, bound);
	a = MIN(cend - 1 - pindex, bound);
	if (before != NULL)
		*before = (int)b;
	if (after != NULL)
		*after = (int)a;
	return true;
}

/* ---- building the I/O ---- */

static void
rfs_io_free(struct rfs_io *io)
{
	if (io->op != NULL)
		rados_release_read_op(io->op);
	if (io->comp != NULL)
		rados_aio_release(io->comp);
	free(io->sink);
	free(io);
}

/* Finish the optional pages: valid ones are cached, the rest freed. */
static void
rfs_optional_finish(struct rfs_io *io, bool ok)
{
	for (int i = 0; i < io->nslots; i++) {
		struct vm_page *m = io->pages[i];

		if (m == NULL || (i >= io->req && i < io->req + io->count))
			continue;
		if (ok)
			vm_page_valid(m);
		vm_page_readahead_finish(m);
	}
}

static bool
rfs_request_ok(struct vm_object *obj, struct vm_page **ma, int count)
{
	uint64_t sp = rfs_stripe_pages(obj), p0;

	if (count <= 0 || ma[0] == bogus_page || ma[count - 1] == bogus_page)
		return false;
	p0 = ma[0]->pindex;
	if (p0 + (uint64_t)count > vm_object_npages(obj))
		return false;
	/* One object per request (haspage's bound), and its chunks must hold data. */
	return p0 / sp == (p0 + (uint64_t)count - 1) / sp && rfs_page_is_data(obj, p0);
}

/*
 * The window: the chunks covering ma[], plus read-ahead chunks, with behind
 * and ahead optional pages grabbed as rule 9 says and sinks for the rest.
 * NULL (nothing grabbed) on memory exhaustion.
 */
static struct rfs_io *
rfs_io_build(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead)
{
	struct rfs_node *rn = obj->pager_priv;
	uint64_t sp = rfs_stripe_pages(obj), cp = rfs_chunk_pages(obj);
	uint64_t p0 = ma[0]->pindex, objno = p0 / sp, ostart = objno * sp;
	const struct rfs_object *o = &rn->e->objects[objno];
	uint64_t opages = howmany((uint64_t)o->len, PAGE_SIZE);
	uint64_t rs = p0 - ostart, re = rs + (uint64_t)count; /* object-relative pages */
	uint64_t ws = rounddown2(rs, cp), we = MIN(roundup2(re, cp), opages);
	uint64_t ahead_to = we, maxio = (uint64_t)MAX(radosfs_max_io_pages, count);
	int want_b = rbehind != NULL ? MAX(*rbehind, 0) : 0;
	int want_a = rahead != NULL ? MAX(*rahead, 0) : 0;

	/* Read-ahead: whole data chunks of this object, within the I/O bound. */
	if (want_a > 0) {
		uint64_t lim = MIN(opages, ws + rounddown2(maxio, cp));
		uint64_t to = MIN(roundup2(re + (uint64_t)want_a, cp), lim);

		while (ahead_to < to && rfs_page_is_data(obj, ostart + ahead_to))
			ahead_to = MIN(ahead_to + cp, to);
		ahead_to = MAX(ahead_to, we);
	}
	uint64_t nslots = ahead_to - ws;
	size_t sz = sizeof(struct rfs_io) +
		    nslots * (sizeof(struct vm_page *) + sizeof(char *) + sizeof(struct rfs_seg));
	struct rfs_io *io = calloc(1, sz);
	if (io == NULL)
		return NULL;
	io->pages = (struct vm_page **)(io + 1);
	io->dst = (char **)(io->pages + nslots);
	io->segs = (struct rfs_seg *)(io->dst + nslots);
	io->obj = obj;
	io->rn = rn;
	io->o = o;
	io->objno = (uint32_t)objno;
	rfs_object_name(io->oid, rn->e->fileid, io->objno);
	io->nslots = (int)nslots;
	io->req = (int)(rs - ws);
	io->count = count;
	io->obj_off = (uint32_t)(ws * PAGE_SIZE);
	io->rd_len = (uint32_t)MIN((uint64_t)o->len - io->obj_off, nslots * PAGE_SIZE);
	for (int i = 0; i < count; i++) {
		struct vm_page *m = ma[i];

		if (m == bogus_page) {
			io->nbogus++;
		} else {
			/* Rule 6: offsets come from ma[0]->pindex + i; a real page must agree. */
			KASSERT(m->pindex == p0 + (uint64_t)i && m->object == obj,
				("radosfs_getpages: ma[%d] is pindex %llu of %p, want %llu of %p",
				 i, (unsigned long long)m->pindex, (void *)m->object,
				 (unsigned long long)(p0 + (uint64_t)i), (void *)obj));
			vm_page_assert_xbusied(m);
		}
		io->pages[io->req + i] = m;
	}
	/*
	 * Optional pages: grabbed without sleeping, stopping at the first
	 * resident one.  Behind, the run goes down from p0 - 1 into the
	 * `behind` slots just before ma[] (still NULL), nearest first; turning
	 * those slots around puts the pages in pindex order, ending at ma[],
	 * and the NULLs of a short run first.
	 */
	int behind = MIN(want_b, io->req);
	if (behind > 0) {
		struct vm_page **b = io->pages + io->req - behind;

		io->nbehind = vm_page_grab_optional_run(obj, p0 - 1, -1, b, behind);
		for (int i = 0; i < behind / 2; i++) {
			struct vm_page *m = b[i];
			b[i] = b[behind - 1 - i];
			b[behind - 1 - i] = m;
		}
	}
	int ahead = MIN(want_a, io->nslots - (io->req + count));
	if (ahead > 0)
		io->nahead = vm_page_grab_optional_run(obj, p0 + (uint64_t)count, 1,
						       io->pages + io->req + count, ahead);
	/* Rule 7: a bogus slot (and any slot without a page of ours) reads into the sink. */
	for (int i = 0; i < io->nslots; i++)
		if (io->pages[i] == NULL || io->pages[i] == bogus_page)
			io->nsink++;
	io->sink = io->nsink ? malloc((size_t)io->nsink * PAGE_SIZE) : NULL;
	if (io->nsink != 0 && io->sink == NULL) {
		rfs_optional_finish(io, false);
		free(io);
		return NULL;
	}
	for (int i = 0, s = 0; i < io->nslots; i++) {
		struct vm_page *m = io->pages[i];

		io->dst[i] = (m == NULL || m == bogus_page) ? io->sink + (size_t)s++ * PAGE_SIZE
							    : vm_page_data(m);
	}
	if (rbehind != NULL)
		*rbehind = io->nbehind;
	if (rahead != NULL)
		*rahead = io->nahead;
	return io;
}

/* ---- completion ---- */

/* Verify every chunk of the window against the manifest; 0 or -EIO (logged). */
static int
rfs_io_verify(struct rfs_io *io)
{
	const struct rfs_manifest *man = io->rn->man;
	uint32_t chunk = man->chunk_size, cpages = chunk / PAGE_SIZE;
	XXH3_state_t st;

	for (uint32_t off = 0; off < io->rd_len; off += chunk) {
		uint32_t c = (io->obj_off + off) / chunk, len = rfs_chunk_len(io->o, c, chunk);
		int first = (int)(off / PAGE_SIZE);

		XXH3_64bits_reset(&st);
		for (uint32_t p = 0; p < cpages && (uint64_t)p * PAGE_SIZE < len; p++)
			XXH3_64bits_update(&st, io->dst[first + (int)p],
					   MIN((uint32_t)PAGE_SIZE, len - p * PAGE_SIZE));
		counter_inc(&radosfs_stats.chunks_verified);
		if (XXH3_64bits_digest(&st) != io->o->chunk_sum[c]) {
			counter_inc(&radosfs_stats.checksum_errors);
			LOG_ERR(
			    "radosfs",
			    "checksum mismatch in object %s (%s) chunk %u, bytes %llu-%llu of %s "
			    "(manifest version %llu): EIO; run vmsend rados fsck",
			    io->oid, io->rn->conn->where, c, (unsigned long long)c * chunk,
			    (unsigned long long)c * chunk + len - 1, io->obj->name,
			    (unsigned long long)man->version);
			return -EIO;
		}
	}
	return 0;
}

static void
rfs_io_complete(struct rfs_io *io)
{
	struct vm_object *obj = io->obj;
	/* No completion: the read was refused before it started (error already set). */
	int rv = io->comp != NULL ? rados_aio_get_return_value(io->comp) : io->error;

	if (rv < 0) {
		io->error = rv;
	} else {
		size_t want = io->rd_len;
		for (int s = 0; s < io->nseg && io->error == 0; s++) {
			if (io->segs[s].rv < 0)
				io->error = io->segs[s].rv;
		}
		size_t got = 0;
		for (int s = 0; s < io->nseg; s++)
			got += io->segs[s].got;
		if (io->error == 0 && got != want) {
			LOG_ERR("radosfs",
				"object %s (%s) of %s is shorter than the manifest says: "
				"EIO; run vmsend rados fsck",
				io->oid, io->rn->conn->where, obj->name);
			io->error = -EIO;
		}
	}
	rfs_conn_note(io->rn->conn, io->error, "read");
	if (io->error == 0)
		io->error = rfs_io_verify(io);
	if (io->error == 0 && io->fail_err != 0) {
		counter_inc(&radosfs_stats.injected);
		io->error = io->fail_err;
	}
	if (io->error == 0) {
		/* Bytes past the object's end (the file's EOF) are zero in every real page. */
		for (int i = (int)(io->rd_len / PAGE_SIZE); i < io->nslots; i++) {
			size_t z = (size_t)i * PAGE_SIZE < io->rd_len ? io->rd_len % PAGE_SIZE : 0;

			if (io->pages[i] != NULL && io->pages[i] != bogus_page)
				memset(io->dst[i] + z, 0, PAGE_SIZE - z);
		}
		for (int i = io->req; i < io->req + io->count; i++)
			if (io->pages[i] != bogus_page)
				vm_page_valid(io->pages[i]);
		counter_add(&radosfs_stats.pages_read, (uint64_t)(io->count - io->nbogus));
		counter_add(&radosfs_stats.bogus_slots, (uint64_t)io->nbogus);
		counter_add(&radosfs_stats.sink_pages, (uint64_t)(io->nsink - io->nbogus));
		counter_add(&radosfs_stats.rbehind_pages, (uint64_t)io->nbehind);
		counter_add(&radosfs_stats.rahead_pages, (uint64_t)io->nahead);
	} else {
		counter_inc(&radosfs_stats.errors);
		if (io->error != -EIO)
			LOG_DEBUG("radosfs", "read of %s (%s) for %s failed: %s", io->oid,
				  io->rn->conn->where, obj->name, strerror(-io->error));
	}
	rfs_optional_finish(io, io->error == 0);
	if (io->iodone != NULL) {
		/* Rule 10: exactly once; the pages are the caller's, bogus slots included. */
		io->iodone(io->arg, io->pages + io->req, io->count, io->error);
		vm_object_pip_wakeup(obj, 1);
		vm_object_deallocate(obj);
		rfs_io_free(io);
	} else {
		vm_object_pip_wakeup(obj, 1);
		vm_object_deallocate(obj);
		io->finished = true;
	}
}

static void
rfs_io_task(struct io_task *task)
{
	rfs_io_complete(container_of(task, struct rfs_io, task));
}

/* librados's thread: nothing here but the hand-off to the loop that started the read. */
static void
rfs_io_cb(rados_completion_t comp, void *arg)
{
	struct rfs_io *io = arg;

	io_loop_post(io->loop, &io->task);
}

/* Start a built I/O; completes (now or later) on `loop`. */
static void
rfs_io_start(struct rfs_io *io, struct io_loop *loop)
{
	io->loop = loop;
	io->task.fn = rfs_io_task;
	io->fail_err = rfs_fail_take();
	vm_object_reference(io->obj);
	vm_object_pip_add(io->obj, 1);
	counter_inc(&radosfs_stats.ios);
	if (atomic_load(&io->rn->conn->down)) {
		counter_inc(&radosfs_stats.down_refused);
		io->error = -EHOSTUNREACH;
	} else if ((io->op = rados_create_read_op()) == NULL ||
		   rados_aio_create_completion2(io, rfs_io_cb, &io->comp) != 0) {
		io->comp = NULL;
		io->error = -ENOMEM;
	}
	if (io->error != 0) {
		/* Post, not call: iodone then runs from the loop like any completion. */
		io_loop_post(loop, &io->task);
		return;
	}
	/* One read per run of slots consecutive in memory (a sink run, or adjacent frames). */
	for (int i = 0; i < io->nslots && (uint64_t)i * PAGE_SIZE < io->rd_len;) {
		int j = i + 1;

		while (j < io->nslots && (uint64_t)j * PAGE_SIZE < io->rd_len &&
		       io->dst[j] == io->dst[j - 1] + PAGE_SIZE)
			j++;
		size_t len = MIN((size_t)(j - i) * PAGE_SIZE, io->rd_len - (size_t)i * PAGE_SIZE);
		struct rfs_seg *sg = &io->segs[io->nseg++];

		rados_read_op_read(io->op, io->obj_off + (uint64_t)i * PAGE_SIZE, len, io->dst[i],
				   &sg->got, &sg->rv);
		i = j;
	}
	counter_add(&radosfs_stats.bytes_read, io->rd_len);
	int rv = rados_aio_read_op_operate(io->op, io->rn->conn->io, io->comp, io->oid, 0);
	if (rv != 0) {
		/* Never started: no callback will come. */
		io->error = rv;
		rados_aio_release(io->comp);
		io->comp = NULL;
		io_loop_post(loop, &io->task);
	}
}

/* ---- the pager ops ---- */

static int
rfs_getpages(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead)
{
	struct rfs_io *io;
	int error;

	if (!rfs_request_ok(obj, ma, count))
		return PAGER_BAD;
	struct io_loop *loop = io_loop_private();
	if (loop == NULL)
		return PAGER_AGAIN;
	io = rfs_io_build(obj, ma, count, rbehind, rahead);
	if (io == NULL)
		return PAGER_AGAIN;
	rfs_io_start(io, loop);
	io_wait_flag(loop, &io->finished);
	error = io->error;
	rfs_io_free(io);
	if (error != 0) {
		if (rbehind != NULL)
			*rbehind = 0;
		if (rahead != NULL)
			*rahead = 0;
		return PAGER_ERROR;
	}
	return PAGER_OK;
}

struct rfs_wait {
	pager_iodone_t *iodone;
	void *arg;
	bool finished;
};

static void
rfs_wait_iodone(void *arg, struct vm_page **ma, int count, int error)
{
	struct rfs_wait *w = arg;

	w->iodone(w->arg, ma, count, error);
	w->finished = true;
}

static int
rfs_getpages_async(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead,
		   pager_iodone_t *iodone, void *arg)
{
	struct io_loop *loop = io_loop_current();
	struct rfs_wait w = {.iodone = iodone, .arg = arg};
	struct rfs_io *io;

	if (!rfs_request_ok(obj, ma, count))
		return PAGER_BAD;
	bool private = loop == NULL;
	if (private && (loop = io_loop_private()) == NULL)
		return PAGER_AGAIN;
	io = rfs_io_build(obj, ma, count, rbehind, rahead);
	if (io == NULL)
		return PAGER_AGAIN;
	if (!private) {
		io->iodone = iodone;
		io->arg = arg;
		rfs_io_start(io, loop);
		return PAGER_OK;
	}
	/* No event loop on this thread: complete on the private ring before returning. */
	io->iodone = rfs_wait_iodone;
	io->arg = &w;
	rfs_io_start(io, loop);
	io_wait_flag(loop, &w.finished);
	return PAGER_OK;
}

static void
rfs_dealloc(struct vm_object *obj)
{
	struct rfs_node *rn = obj->pager_priv;

	if (rn == NULL)
		return;
	rfs_manifest_rele(rn->man);
	rfs_conn_rele(rn->conn);
	free(rn);
	obj->pager_priv = NULL;
}

const struct pager_ops radosfs_pager_ops = {
    .name = "radosfs",
    .caps = PAGER_CAP_BOGUS,
    .getpages = rfs_getpages,
    .getpages_async = rfs_getpages_async,
    .haspage = rfs_haspage,
    .dealloc = rfs_dealloc,
};

struct vm_object *
rfs_object_create(struct rfs_conn *c, struct rfs_manifest *man, const struct rfs_entry *e)
{
	struct rfs_node *rn = calloc(1, sizeof(*rn));
	struct vm_object *obj;

	if (rn == NULL)
		return NULL;
	rn->conn = c;
	rn->man = man;
	rn->e = e;
	obj = vm_object_allocate(&radosfs_pager_ops, rn, e->size, e->path);
	if (obj == NULL) {
		free(rn);
		return NULL;
	}
	atomic_fetch_add(&c->refs, 1);
	rfs_manifest_ref(man);
	return obj;
}

#include "mempager.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

struct mp_req {
	STAILQ_ENTRY(mp_req) link;
	struct vm_object *obj;
	uint64_t pindex;
	int count;
	int nopt;
	int error;
	pager_iodone_t *iodone;
	void *arg;
	struct vm_page *ma[]; /* count + nopt: the request's pages, then optional ones */
};

struct mempager {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	char *data;
	size_t size;
	uint8_t *hole; /* per page */
	enum mempager_mode mode;
	unsigned delay_us;
	unsigned block;
	bool readahead;
	uint64_t io_seq, fail_at;
	int fail_error;
	struct mempager_stats st;
	STAILQ_HEAD(, mp_req) pending;
	unsigned npending, inflight;
	pthread_t worker;
	bool worker_running, stopping;
};

static struct mempager *
mp_of(struct vm_object *obj)
{
	return obj->pager_priv;
}

/* Decide at submission whether this I/O fails (counts I/Os). */
static int
mp_next_io(struct mempager *mp)
{
	int error = 0;
	pthread_mutex_lock(&mp->lock);
	mp->io_seq++;
	mp->st.ios++;
	if (mp->fail_at != 0 && mp->io_seq == mp->fail_at) {
		error = mp->fail_error;
		mp->st.errors++;
		mp->fail_at = 0;
	}
	pthread_mutex_unlock(&mp->lock);
	return error;
}

static void
mp_fill(struct mempager *mp, struct vm_page *m, uint64_t pindex)
{
	vm_page_assert_xbusied(m);
	char *dst = vm_page_data(m);
	uint64_t off = pindex * PAGE_SIZE;
	size_t n = 0;
	pthread_mutex_lock(&mp->lock);
	if (off < mp->size && !mp->hole[pindex]) {
		n = mp->size - off < PAGE_SIZE ? mp->size - off : PAGE_SIZE;
		memcpy(dst, mp->data + off, n);
	}
	pthread_mutex_unlock(&mp->lock);
	memset(dst + n, 0, PAGE_SIZE - n);
	vm_page_valid(m);
}

/* Fill the request's pages (rules 6-8), skipping bogus slots (rule 7). */
static void
mp_fill_req(struct mempager *mp, struct mp_req *r)
{
	uint64_t bogus = 0;
	for (int i = 0; i < r->count; i++) {
		if (r->ma[i] == bogus_page) {
			bogus++;
			continue;
		}
		mp_fill(mp, r->ma[i], r->pindex + i); /* rule 6: offset from pindex + i */
	}
	for (int i = 0; i < r->nopt; i++) {
		mp_fill(mp, r->ma[r->count + i], r->pindex + r->count + i);
		vm_page_readahead_finish(r->ma[r->count + i]);
	}
	pthread_mutex_lock(&mp->lock);
	mp->st.pages_read += r->count - bogus;
	mp->st.bogus_seen += bogus;
	mp->st.optional_read += r->nopt;
	pthread_mutex_unlock(&mp->lock);
}

static void
mp_finish(struct mempager *mp, struct mp_req *r)
{
	if (r->error == 0) {
		mp_fill_req(mp, r);
	} else {
		for (int i = 0; i < r->nopt; i++)
			vm_page_readahead_finish(r->ma[r->count + i]);
	}
	r->iodone(r->arg, r->ma, r->count, r->error);
	free(r);
}

static void *
mp_worker(void *arg)
{
	struct mempager *mp = arg;
	pthread_mutex_lock(&mp->lock);
	for (;;) {
		while (STAILQ_EMPTY(&mp->pending) && !mp->stopping)
			pthread_cond_wait(&mp->cv, &mp->lock);
		if (STAILQ_EMPTY(&mp->pending))
			break;
		struct mp_req *r = STAILQ_FIRST(&mp->pending);
		STAILQ_REMOVE_HEAD(&mp->pending, link);
		mp->npending--;
		mp->inflight++;
		unsigned delay = mp->delay_us;
		pthread_mutex_unlock(&mp->lock);
		if (delay)
			usleep(delay);
		mp_finish(mp, r);
		pthread_mutex_lock(&mp->lock);
		mp->inflight--;
		pthread_cond_broadcast(&mp->cv);
	}
	pthread_mutex_unlock(&mp->lock);
	return NULL;
}

/* Optional pages after the run: within the block, NOWAIT, stop at a resident page (rule 9). */
static int
mp_grab_optional(struct vm_object *obj, struct mempager *mp, uint64_t next, int want,
		 struct vm_page **out)
{
	uint64_t npages = vm_object_npages(obj);
	uint64_t blockend = (next / mp->block + 1) * mp->block;
	if (next % mp->block == 0)
		return 0; /* the run ended on a block boundary */
	int n = 0;
	while (n < want && next + n < npages && next + n < blockend && !mp->hole[next + n]) {
		struct vm_page *m = vm_page_grab_optional(obj, next + n);
		if (m == NULL)
			break;
		out[n++] = m;
	}
	return n;
}

static struct mp_req *
mp_req_new(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead,
	   pager_iodone_t *iodone, void *arg)
{
	struct mempager *mp = mp_of(obj);
	int want = (rahead != NULL && mp->readahead) ? *rahead : 0;
	struct mp_req *r = calloc(1, sizeof(*r) + (count + want) * sizeof(struct vm_page *));
	if (r == NULL)
		return NULL;
	r->obj = obj;
	r->pindex = ma[0]->pindex;
	r->count = count;
	r->iodone = iodone;
	r->arg = arg;
	memcpy(r->ma, ma, count * sizeof(*ma));
	r->nopt = mp_grab_optional(obj, mp, r->pindex + count, want, r->ma + count);
	if (rbehind != NULL)
		*rbehind = 0;
	if (rahead != NULL)
		*rahead = r->nopt;
	r->error = mp_next_io(mp);
	return r;
}

static int
mp_getpages(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead)
{
	struct mempager *mp = mp_of(obj);
	struct mp_req *r = mp_req_new(obj, ma, count, rbehind, rahead, NULL, NULL);
	if (r == NULL)
		return PAGER_AGAIN;
	int error = r->error;
	if (error == 0)
		mp_fill_req(mp, r);
	else
		for (int i = 0; i < r->nopt; i++)
			vm_page_readahead_finish(r->ma[count + i]);
	free(r);
	return error == 0 ? PAGER_OK : PAGER_ERROR;
}

static int
mp_getpages_async(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead,
		  pager_iodone_t *iodone, void *arg)
{
	struct mempager *mp = mp_of(obj);
	struct mp_req *r = mp_req_new(obj, ma, count, rbehind, rahead, iodone, arg);
	if (r == NULL)
		return PAGER_AGAIN;
	pthread_mutex_lock(&mp->lock);
	enum mempager_mode mode = mp->mode;
	if (mode != MEMPAGER_SYNC) {
		STAILQ_INSERT_TAIL(&mp->pending, r, link);
		mp->npending++;
		pthread_cond_broadcast(&mp->cv);
	}
	pthread_mutex_unlock(&mp->lock);
	if (mode == MEMPAGER_SYNC)
		mp_finish(mp, r);
	return PAGER_OK;
}

static bool
mp_haspage(struct vm_object *obj, uint64_t pindex, int *before, int *after)
{
	struct mempager *mp = mp_of(obj);
	uint64_t npages = vm_object_npages(obj);
	if (pindex >= npages || mp->hole[pindex])
		return false;
	uint64_t bstart = pindex / mp->block * mp->block;
	uint64_t bend = bstart + mp->block;
	if (bend > npages)
		bend = npages;
	if (before != NULL)
		*before = (int)(pindex - bstart);
	if (after != NULL)
		*after = (int)(bend - pindex - 1);
	return true;
}

static void
mp_dealloc(struct vm_object *obj)
{
	struct mempager *mp = mp_of(obj);
	if (mp->worker_running) {
		pthread_mutex_lock(&mp->lock);
		mp->stopping = true;
		pthread_cond_broadcast(&mp->cv);
		pthread_mutex_unlock(&mp->lock);
		pthread_join(mp->worker, NULL);
	}
	VERIFY(STAILQ_EMPTY(&mp->pending));
	pthread_mutex_destroy(&mp->lock);
	pthread_cond_destroy(&mp->cv);
	free(mp->hole);
	free(mp->data);
	free(mp);
}

const struct pager_ops mempager_ops = {
    .name = "mempager",
    .caps = 0,
    .getpages = mp_getpages,
    .getpages_async = mp_getpages_async,
    .haspage = mp_haspage,
    .dealloc = mp_dealloc,
};

const struct pager_ops mempager_bogus_ops = {
    .name = "mempager-bogus",
    .caps = PAGER_CAP_BOGUS,
    .getpages = mp_getpages,
    .getpages_async = mp_getpages_async,
    .haspage = mp_haspage,
    .dealloc = mp_dealloc,
};

struct vm_object *
mempager_create(const void *data, size_t size, unsigned caps, const char *name)
{
	struct mempager *mp = calloc(1, sizeof(*mp));
	VERIFY(mp != NULL);
	uint64_t npages = (size + PAGE_SIZE - 1) / PAGE_SIZE;
	mp->data = malloc(size ? size : 1);
	mp->hole = calloc(npages ? npages : 1, 1);
	VERIFY(mp->data != NULL && mp->hole != NULL);
	if (size)
		memcpy(mp->data, data, size);
	mp->size = size;
	mp->block = 16;
	pthread_mutex_init(&mp->lock, NULL);
	pthread_cond_init(&mp->cv, NULL);
	STAILQ_INIT(&mp->pending);
	const struct pager_ops *ops =
	    (caps & PAGER_CAP_BOGUS) ? &mempager_bogus_ops : &mempager_ops;
	struct vm_object *obj = vm_object_allocate(ops, mp, size, name);
	VERIFY(obj != NULL);
	return obj;
}

void
mempager_set_mode(struct vm_object *obj, enum mempager_mode mode, unsigned delay_us)
{
	struct mempager *mp = mp_of(obj);
	pthread_mutex_lock(&mp->lock);
	mp->mode = mode;
	mp->delay_us = delay_us;
	bool start = mode == MEMPAGER_THREAD && !mp->worker_running;
	mp->worker_running |= start;
	pthread_mutex_unlock(&mp->lock);
	if (start)
		VERIFY0(pthread_create(&mp->worker, NULL, mp_worker, mp));
}

void
mempager_fail_nth(struct vm_object *obj, unsigned n, int error)
{
	struct mempager *mp = mp_of(obj);
	pthread_mutex_lock(&mp->lock);
	mp->fail_at = n == 0 ? 0 : mp->io_seq + n;
	mp->fail_error = error;
	pthread_mutex_unlock(&mp->lock);
}

void
mempager_set_hole(struct vm_object *obj, uint64_t pindex, uint64_t npages)
{
	struct mempager *mp = mp_of(obj);
	uint64_t total = vm_object_npages(obj);
	pthread_mutex_lock(&mp->lock);
	for (uint64_t p = pindex; p < pindex + npages && p < total; p++)
		mp->hole[p] = 1;
	pthread_mutex_unlock(&mp->lock);
}

void
mempager_set_block(struct vm_object *obj, unsigned pages)
{
	VERIFY(pages > 0);
	mp_of(obj)->block = pages;
}

void
mempager_set_readahead(struct vm_object *obj, bool on)
{
	mp_of(obj)->readahead = on;
}

void
mempager_write(struct vm_object *obj, uint64_t off, const void *buf, size_t len)
{
	struct mempager *mp = mp_of(obj);
	pthread_mutex_lock(&mp->lock);
	VERIFY(off + len <= mp->size);
	memcpy(mp->data + off, buf, len);
	pthread_mutex_unlock(&mp->lock);
}

int
mempager_complete_pending(struct vm_object *obj)
{
	struct mempager *mp = mp_of(obj);
	int n = 0;
	for (;;) {
		pthread_mutex_lock(&mp->lock);
		struct mp_req *r = STAILQ_FIRST(&mp->pending);
		if (r != NULL) {
			STAILQ_REMOVE_HEAD(&mp->pending, link);
			mp->npending--;
		}
		pthread_mutex_unlock(&mp->lock);
		if (r == NULL)
			return n;
		mp_finish(mp, r);
		n++;
	}
}

unsigned
mempager_pending(struct vm_object *obj)
{
	struct mempager *mp = mp_of(obj);
	pthread_mutex_lock(&mp->lock);
	unsigned n = mp->npending;
	pthread_mutex_unlock(&mp->lock);
	return n;
}

void
mempager_drain(struct vm_object *obj)
{
	struct mempager *mp = mp_of(obj);
	pthread_mutex_lock(&mp->lock);
	while (mp->npending != 0 || mp->inflight != 0)
		pthread_cond_wait(&mp->cv, &mp->lock);
	pthread_mutex_unlock(&mp->lock);
}

void
mempager_get_stats(struct vm_object *obj, struct mempager_stats *st)
{
	struct mempager *mp = mp_of(obj);
	pthread_mutex_lock(&mp->lock);
	*st = mp->st;
	pthread_mutex_unlock(&mp->lock);
}

/*
 * vmsend-stress: a ztest-like driver for the whole sendfile path.
 *
 * Worker threads, each with its own io loop, send random ranges of random
 * files with random flags to TCP loopback connections; on the other end of
 * every connection a reader thread checks each byte against what the file
 * held *in the version the sender looked up*.  Meanwhile:
 *
 *   - the page cache is tiny (256 pages by default), so reclaim and
 *     "no free page, retry from a timer" run all the time;
 *   - a replacer thread writes new versions of the hostfs files (write a
 *     temporary file, rename it over the old one): a send in flight must
 *     deliver all old or all new bytes, never a mix;
 *   - hostfs reads fail now and then (hostfs_fail_nth_read), memory-pager
 *     objects fail their Nth I/O (mempager_fail_nth): the socket must abort
 *     with EIO and the reader see a short stream, never a wrong byte;
 *   - an arena hog wires a large share of the cache now and then, so
 *     swapin meets an empty free list and retries from its timer;
 *   - every fourth round sends zero-copy (sf_send_zc);
 *   - rounds alternate the swapin policy (coalesce / split) and, every third
 *     round, cap hostfs reads so every read comes back short.
 *
 * Sources: hostfs files (with holes), an objfs image built with mkimage at
 * start (immutable), and memory-pager objects (sync, deferred and threaded
 * completions, with and without PAGER_CAP_BOGUS, with holes and
 * read-ahead), private to one send or shared by all workers.
 *
 * How the reader knows the right bytes.  Every file version's content is a
 * pure function of a 64-bit seed (content_fill in sf_stress_check.c, holes
 * included).  The replacer records (inode, size, seed) of each version
 * before renaming it into place; a vnode's identity carries the inode, and while the vnode is
 * held its inode cannot be reused, so the newest recorded version with that
 * inode is the one the sender has.
 *
 * After every round: no page busy or wired (vm_quiescent), objects, sockets
 * and vnodes back to their baseline, and every injected I/O error accounted
 * for by exactly one failed pager I/O in sf_stats.
 *
 *   vmsend-stress [--seconds N] [--threads N] [--cache-pages N] [--seed S]
 *                 [--no-post-barrier]   (destroy loops at once: TSan shows a
 *                                        poster still inside io_loop_post)
 */
#include "core/tunable.h"
#include "core/util.h"
#include "fs/hostfs/hostfs.h"
#include "fs/objfs/arc.h"
#include "fs/objfs/mkimage.h"
#include "fs/objfs/objfs_vfs.h"
#include "io/io.h"
#include "pager/pager.h"
#include "sendfile/sendfile.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include "sf_stress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/check.h"
#include "support/mempager.h"
#include "support/seed.h"

#define MAX_THREADS 16
#define NHOST       6 /* hostfs files, replaced underneath */
#define NOBJFS      5 /* objfs files */
#define NSHARED     3 /* memory-pager objects every worker sends from */
#define MAX_SIZE    (640u << 10)

extern int64_t hostfs_debug_read_cap; /* tunable in hostfs_pager.c */

static unsigned
rnd(unsigned *seed, unsigned n)
{
	return n ? (unsigned)rand_r(seed) % n : 0;
}

static uint64_t
rnd64(unsigned *seed)
{
	return ((uint64_t)rand_r(seed) << 33) ^ ((uint64_t)rand_r(seed) << 11) ^ rand_r(seed);
}

static size_t
rnd_size(unsigned *seed)
{
	static const size_t edge[] = {0, 1, 511, 4095, 4096, 4097, 8192, 32768, 32769};
	if (rnd(seed, 4) == 0)
		return edge[rnd(seed, nitems(edge))];
	return rnd(seed, MAX_SIZE + 1);
}

/* ---- hostfs files and their versions ---- */

struct version {
	uint64_t ino, size, seed;
};

struct hfile {
	pthread_mutex_t lock;
	struct version *v; /* every version ever made, oldest first */
	unsigned nv, cap;
};

static struct hfile hfiles[NHOST];
static char hostdir[] = "/tmp/vmsend-stress-XXXXXX";
static char objdir[] = "/tmp/vmsend-stress-img-XXXXXX";
static char image[PATH_MAX];
static uint64_t objfs_seed[NOBJFS], objfs_size[NOBJFS];
static struct vm_object *shared[NSHARED];
static uint64_t shared_seed[NSHARED];

/* Write the file via a temporary name and rename it into place. */
static void
hfile_replace(unsigned f, unsigned *seed)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	struct version v = {.size = rnd_size(seed), .seed = rnd64(seed)};
	snprintf(tmp, sizeof(tmp), "%s/.tmp%u", hostdir, f);
	snprintf(path, sizeof(path), "%s/f%u", hostdir, f);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0, "open %s: %s", tmp, strerror(errno));
	static _Thread_local uint8_t page[PAGE_SIZE];
	for (uint64_t off = 0; off < v.size; off += PAGE_SIZE) {
		size_t n = MIN(PAGE_SIZE, v.size - off);
		if (content_hole(v.seed, off >> PAGE_SHIFT))
			continue; /* leave a real hole */
		content_fill(v.seed, off, page, n);
		CHECK(pwrite(fd, page, n, (off_t)off) == (ssize_t)n);
	}
	CHECK(ftruncate(fd, (off_t)v.size) == 0);
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	close(fd);
	v.ino = st.st_ino;
	struct hfile *h = &hfiles[f];
	pthread_mutex_lock(&h->lock); /* recorded before it can be looked up */
	if (h->nv == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = realloc(h->v, h->cap * sizeof(*h->v));
		CHECK(h->v != NULL);
	}
	h->v[h->nv++] = v;
	pthread_mutex_unlock(&h->lock);
	CHECK(rename(tmp, path) == 0);
}

/* The version a vnode holds; *newest: it is the latest one made. */
static struct version
hfile_version_of(unsigned f, const struct vnode *vp, bool *newest)
{
	struct hfile *h = &hfiles[f];
	pthread_mutex_lock(&h->lock);
	for (unsigned i = h->nv; i-- > 0;) {
		if (h->v[i].ino != vp->va.ino)
			continue;
		struct version v = h->v[i];
		*newest = i == h->nv - 1;
		pthread_mutex_unlock(&h->lock);
		CHECK(v.size == vp->va.size, "f%u: vnode size %llu, version size %llu", f,
		      (unsigned long long)vp->va.size, (unsigned long long)v.size);
		return v;
	}
	pthread_mutex_unlock(&h->lock);
	CHECK(0, "f%u: vnode inode %llu is no version we wrote", f, (unsigned long long)vp->va.ino);
	return (struct version){0};
}

/* ---- workers ---- */

static _Atomic bool stop;
static unsigned nthreads = 4;
static pthread_barrier_t workers_done; /* no worker destroys its loop before all are idle */
static bool post_barrier = true;       /* --no-post-barrier: show the io_loop_post race */

struct stats {
	_Atomic uint64_t ops, bytes_verified, eio_seen, aborted, ebusy, eagain, blocking;
	_Atomic uint64_t mem_injected, old_versions, kinds[4];
	_Atomic uint64_t islands, island_failed; /* pages cached ahead; reads of them that failed */
};
static struct stats st;

enum kind { K_HOSTFS, K_OBJFS, K_MEM, K_SHARED };
static const char *const kind_names[] = {"hostfs", "objfs", "mem", "shared-mem"};

struct worker {
	unsigned idx, seed;
	pthread_t th;
	struct io_loop *loop;
	int lfd; /* listening socket on 127.0.0.1 */
	struct reader rd;
	struct vm_object *deferred; /* a DEFERRED memory-pager object of the current send */
	int sock_error;             /* from on_error */
};

static void
on_error(struct vms_socket *so, int error, void *arg)
{
	struct worker *w = arg;
	CHECK(w->sock_error == 0, "error callback ran twice");
	w->sock_error = error;
}

static void
worker_run_once(struct worker *w)
{
	if (w->deferred != NULL)
		mempager_complete_pending(w->deferred);
	CHECK(io_loop_run_once(w->loop, true, 1000 * 1000) >= 0);
}

static void
tcp_pair(struct worker *w, int fds[2])
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	CHECK(getsockname(w->lfd, (struct sockaddr *)&a, &al) == 0);
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fds[0] >= 0);
	CHECK(connect(fds[0], (struct sockaddr *)&a, sizeof(a)) == 0, "connect: %s",
	      strerror(errno));
	fds[1] = accept4(w->lfd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(fds[1] >= 0, "accept: %s", strerror(errno));
}

/* A source for one send: an object (referenced), its content seed and maybe a vnode. */
struct source {
	enum kind kind;
	struct vm_object *obj;
	struct vnode *vp;
	uint64_t seed, size;
	bool deferred;
};

/*
 * Most sends are random.  The first two of each worker's round are planned so
 * that however slow the machine, every round coalesces around cached pages
 * (bogus slots, in coalesce rounds) and aborts a send with an injected EIO.
 */
enum plan { PLAN_RANDOM, PLAN_BOGUS, PLAN_EIO };

static void
source_get(struct worker *w, struct source *s, enum plan plan)
{
	unsigned *seed = &w->seed;
	memset(s, 0, sizeof(*s));
	unsigned k = rnd(seed, 20);
	s->kind = k < 9 ? K_HOSTFS : k < 14 ? K_OBJFS : k < 17 ? K_MEM : K_SHARED;
	if (plan != PLAN_RANDOM)
		s->kind = K_MEM;
	char path[64];
	switch (s->kind) {
	case K_HOSTFS: {
		unsigned f = rnd(seed, NHOST);
		snprintf(path, sizeof(path), "/h/f%u", f);
		CHECK(vfs_lookup(path, &s->vp) == 0, "lookup %s", path);
		bool newest;
		struct version v = hfile_version_of(f, s->vp, &newest);
		st.old_versions += !newest;
		s->seed = v.seed;
		s->size = v.size;
		s->obj = s->vp->object;
		/* Now and then fail a hostfs read (whichever thread does it). */
		if (rnd(seed, 24) == 0)
			hostfs_fail_nth_read(1 + rnd(seed, 3), -EIO);
		break;
	}
	case K_OBJFS: {
		unsigned f = rnd(seed, NOBJFS);
		snprintf(path, sizeof(path), "/img/o%u", f);
		CHECK(vfs_lookup(path, &s->vp) == 0, "lookup %s", path);
		CHECK(s->vp->va.size == objfs_size[f]);
		s->seed = objfs_seed[f];
		s->size = objfs_size[f];
		s->obj = s->vp->object;
		break;
	}
	case K_MEM: {
		s->size =
		    plan == PLAN_RANDOM ? rnd_size(seed) : 16 * PAGE_SIZE + rnd(seed, PAGE_SIZE);
		s->seed = rnd64(seed) & ~(uint64_t)1; /* planned sends need no hole: no odd seed */
		if (plan == PLAN_RANDOM)
			s->seed |= rnd(seed, 2);
		uint8_t *data = malloc(s->size ? s->size : 1);
		CHECK(data != NULL);
		content_fill(s->seed, 0, data, s->size);
		bool bogus_ok = plan != PLAN_RANDOM || rnd(seed, 3) != 0;
		s->obj = mempager_create(data, s->size, bogus_ok ? PAGER_CAP_BOGUS : 0, "mem");
		free(data);
		for (uint64_t p = 0; p < vm_object_npages(s->obj); p++)
			if (content_hole(s->seed, p))
				mempager_set_hole(s->obj, p, 1);
		enum mempager_mode modes[] = {MEMPAGER_SYNC, MEMPAGER_DEFERRED, MEMPAGER_THREAD};
		enum mempager_mode mode = plan == PLAN_RANDOM ? modes[rnd(seed, 3)] : MEMPAGER_SYNC;
		mempager_set_mode(s->obj, mode, rnd(seed, 2) ? 0 : rnd(seed, 200));
		mempager_set_block(s->obj, plan == PLAN_RANDOM ? 1 + rnd(seed, 16) : 16);
		mempager_set_readahead(s->obj, rnd(seed, 2));
		if (plan == PLAN_EIO)
			mempager_fail_nth(s->obj, 1, -EIO);
		else if (plan == PLAN_RANDOM && rnd(seed, 4) == 0)
			mempager_fail_nth(s->obj, 1 + rnd(seed, 4), -EIO);
		s->deferred = mode == MEMPAGER_DEFERRED;
		break;
	}
	case K_SHARED: {
		unsigned i = rnd(seed, NSHARED);
		s->obj = shared[i];
		vm_object_reference(s->obj);
		s->seed = shared_seed[i];
		s->size = s->obj->size;
		break;
	}
	}
	st.kinds[s->kind]++;
}

static void
source_put(struct source *s)
{
	if (s->kind == K_MEM) {
		struct mempager_stats ms;
		mempager_drain(s->obj);
		mempager_get_stats(s->obj, &ms);
		st.mem_injected += ms.errors;
		vm_object_deallocate(s->obj);
	} else if (s->kind == K_SHARED) {
		vm_object_deallocate(s->obj);
	} else {
		vnode_rele(s->vp);
	}
}

/*
 * Cache pages [p, p + n) as an earlier reader would have left them, so the
 * send's runs have valid pages inside (bogus slots when coalescing).  A read
 * here may take an injected error: counted, the page freed.
 */
static void
cache_island(struct vm_object *obj, uint64_t p, int n)
{
	for (int i = 0; i < n && p + i < vm_object_npages(obj); i++) {
		struct vm_page *m = vm_page_grab(obj, p + i, VM_ALLOC_NOWAIT);
		if (m == NULL)
			continue; /* busy, or no free page */
		if (!vm_page_all_valid(m)) {
			if (!pager_haspage(obj, p + i, NULL, NULL)) {
				vm_page_zero_invalid(m, true);
			} else if (pager_getpages(obj, &m, 1, NULL, NULL) != PAGER_OK) {
				st.island_failed++;
				vm_page_free(m, false);
				continue;
			}
		}
		vm_page_xunbusy(m);
		st.islands++;
	}
}

/* Header and trailer bytes of one send, from the op number. */
static void
make_hdtr(struct expect *ex, uint64_t opid, unsigned *seed)
{
	ex->hlen = rnd(seed, 3) ? HDR_LEN : 0;
	ex->tlen = rnd(seed, 3) ? TRL_LEN : 0;
	snprintf((char *)ex->hdr, sizeof(ex->hdr), "HDR%012llx", (unsigned long long)opid);
	ex->hdr[HDR_LEN - 1] = '\n';
	snprintf((char *)ex->trl, sizeof(ex->trl), "T%06x", (unsigned)(opid & 0xffffff));
	ex->trl[TRL_LEN - 1] = '\n';
}

static void
one_send(struct worker *w, uint64_t opid, enum plan plan)
{
	unsigned *seed = &w->seed;
	struct source s;
	source_get(w, &s, plan);

	/* The range: often from 0, sometimes at or past EOF, nbytes 0 means "to EOF". */
	uint64_t off = rnd(seed, 8) == 0 ? 0 : rnd(seed, (unsigned)s.size + 1);
	if (rnd(seed, 16) == 0)
		off = s.size + rnd(seed, 3) * 5000;
	size_t nbytes = rnd(seed, 4) == 0 ? 0 : 1 + rnd(seed, (unsigned)s.size + 1);
	uint64_t rest = off < s.size ? s.size - off : 0;
	struct expect ex = {.seed = s.seed, .off = off};
	ex.flen = nbytes == 0 ? rest : MIN(rest, nbytes);
	if (plan != PLAN_RANDOM) { /* the whole object, flags 0 */
		off = 0;
		nbytes = 0;
		ex.off = 0;
		ex.flen = s.size;
	}
	make_hdtr(&ex, opid, seed);
	uint64_t first = OFF_TO_IDX(off),
		 npg = ex.flen ? OFF_TO_IDX(off + ex.flen - 1) - first + 1 : 0;
	if (plan == PLAN_BOGUS)
		cache_island(s.obj, 2, 2); /* pages 2-3 inside the 16-page first run */
	else if (plan == PLAN_RANDOM && npg > 3 && rnd(seed, 3) == 0)
		cache_island(s.obj, first + 1 + rnd(seed, (unsigned)npg - 2),
			     1 + (int)rnd(seed, 3));

	int flags = 0;
	if (rnd(seed, 4) == 0)
		flags |= SF_NOCACHE;
	if (rnd(seed, 4) == 0)
		flags |= SF_NODISKIO;
	if (rnd(seed, 3) == 0)
		flags = SF_FLAGS(rnd(seed, 17), flags | SF_USER_READAHEAD);
	else if (rnd(seed, 2) == 0)
		flags = SF_FLAGS(rnd(seed, 8), flags);
	/* Calls that run the loop to completion would wait forever on deferred I/O. */
	bool may_wait = !s.deferred;
	if (may_wait && rnd(seed, 8) == 0)
		flags |= SF_SYNC;
	bool blocking = may_wait && rnd(seed, 8) == 0;
	if (plan != PLAN_RANDOM) {
		flags = 0;
		blocking = false;
	}
	static const uint32_t hiwats[] = {8 << 10, 32 << 10, 64 << 10, 128 << 10};

	int fds[2];
	tcp_pair(w, fds);
	reader_start(&w->rd, fds[1], &ex);
	struct vms_socket_params p = {.hiwat = hiwats[rnd(seed, nitems(hiwats))],
				      .close_fd = true,
				      .on_error = on_error,
				      .arg = w};
	struct vms_socket *so;
	w->sock_error = 0;
	w->deferred = s.deferred ? s.obj : NULL;
	CHECK(vms_socket_create(w->loop, fds[0], &p, &so) == 0);

	struct iovec hiov = {ex.hdr, ex.hlen}, tiov = {ex.trl, ex.tlen};
	bool hsent = ex.hlen == 0, tsent = false, called = false;
	uint64_t fdone = 0;
	int error = 0;
	while (!tsent && error == 0) {
		if (called && hsent && fdone == ex.flen) { /* only the trailer is left */
			size_t q = 0;
			int r = ex.tlen ? vms_socket_write(so, ex.trl, ex.tlen, &q) : 0;
			if (r == 0) {
				tsent = true;
			} else if (r == -EAGAIN) {
				CHECK(q == 0);
				while (vms_socket_sbspace(so) == 0 && vms_socket_error(so) == 0)
					worker_run_once(w);
			} else {
				error = r;
			}
			continue;
		}
		struct vms_hdtr hd = {hsent ? NULL : &hiov, hsent ? 0 : 1, &tiov, ex.tlen ? 1 : 0};
		off_t sb = 0;
		/* The first call may say "to EOF" (0); retries name exactly what is left. */
		size_t n = fdone == 0 && nbytes == 0 ? 0 : ex.flen - fdone;
		int r;
		if (blocking) {
			st.blocking++;
			r = vms_sendfile_blocking(so, s.obj, (off_t)(off + fdone), n, &hd, &sb,
						  flags);
		} else if (s.vp != NULL) {
			r = vms_sendfile_vnode(so, s.vp, (off_t)(off + fdone), n, &hd, &sb, flags);
		} else {
			r = vms_sendfile_object(so, s.obj, (off_t)(off + fdone), n, &hd, &sb,
						flags);
		}
		called = true;
		uint64_t q = (uint64_t)sb;
		if (!hsent && q >= ex.hlen) {
			hsent = true;
			q -= ex.hlen;
		} else if (!hsent) {
			CHECK(q == 0, "a header was split: %llu of %zu", (unsigned long long)q,
			      ex.hlen);
		}
		uint64_t fq = MIN(q, ex.flen - fdone);
		fdone += fq;
		q -= fq;
		CHECK(q == 0 || q == ex.tlen, "sbytes %lld leaves %llu, not the trailer",
		      (long long)sb, (unsigned long long)q);
		if (q == ex.tlen && hsent && fdone == ex.flen && (q > 0 || r == 0))
			tsent = true;
		switch (r) {
		case 0:
			CHECK(hsent && fdone == ex.flen && tsent,
			      "returned 0 with %llu of %llu file bytes queued",
			      (unsigned long long)fdone, (unsigned long long)ex.flen);
			break;
		case -EAGAIN:
			st.eagain++;
			CHECK(!blocking);
			while (vms_socket_sbspace(so) == 0 && vms_socket_error(so) == 0)
				worker_run_once(w);
			break;
		case -EBUSY:
			CHECK(flags & SF_NODISKIO);
			st.ebusy++;
			flags &=
			    ~SF_NODISKIO; /* then send the rest the waiting way, like a server */
			break;
		default:
			CHECK(r == -EIO, "sendfile returned %d", r);
			error = r;
		}
	}
	bool abort_close = plan == PLAN_RANDOM && rnd(seed, 16) == 0;
	if (!abort_close) /* our flush: the deferred pager needs its completions run */
		while (vms_socket_sbcc(so) > 0 && vms_socket_error(so) == 0)
			worker_run_once(w);
	if (error == 0)
		error = vms_socket_error(so);
	CHECK(error == 0 || error == -EIO, "socket error %d", error);
	/* The error callback runs from a task the abort posted to the loop. */
	while (!abort_close && error != 0 && w->sock_error == 0)
		worker_run_once(w);
	CHECK(error == w->sock_error || abort_close, "socket error %d, callback said %d", error,
	      w->sock_error);
	vms_socket_close(so, abort_close ? VMS_CLOSE_ABORT : VMS_CLOSE_LINGER);
	while (!reader_done(&w->rd))
		worker_run_once(w);
	/* A deferred pager's I/O of an aborted send still needs its completion. */
	while (s.deferred && mempager_pending(s.obj) > 0)
		worker_run_once(w);
	w->deferred = NULL;

	struct reader *rd = &w->rd;
	uint64_t total = ex.hlen + ex.flen + ex.tlen;
	CHECK(rd->bad_at < 0,
	      "%s: wrong byte at stream offset %lld (got %#x, want %#x): header %zu, file "
	      "[%llu, +%llu) of size %llu, flags %#x",
	      kind_names[s.kind], (long long)rd->bad_at, rd->bad_byte, rd->want_byte, ex.hlen,
	      (unsigned long long)off, (unsigned long long)ex.flen, (unsigned long long)s.size,
	      flags);
	if (error == -EIO) {
		st.eio_seen++;
		CHECK(rd->got < total, "%s: an aborted (EIO) stream was delivered whole",
		      kind_names[s.kind]);
	} else if (abort_close) {
		st.aborted++;
		CHECK(rd->got <= total);
	} else {
		CHECK(rd->got == total, "%s: received %llu of %llu bytes", kind_names[s.kind],
		      (unsigned long long)rd->got, (unsigned long long)total);
	}
	st.bytes_verified += rd->got;
	source_put(&s);
	st.ops++;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	/* Half the loops read into registered arena buffers, half into plain ones. */
	unsigned flags = (w->idx & 1) ? IO_LOOP_ARENA : 0;
	if (io_loop_create(&w->loop, 256, flags) != 0)
		CHECK(io_loop_create(&w->loop, 256, 0) == 0);
	uint64_t opid = (uint64_t)w->idx << 40;
	for (unsigned n = 0; !atomic_load(&stop); n++)
		one_send(w, opid++, n == 0 ? PLAN_BOGUS : n == 1 ? PLAN_EIO : PLAN_RANDOM);
	/* Sockets of every worker may still drain through this loop's posts: run until all go. */
	while (vms_socket_count() > 0)
		worker_run_once(w);
	/*
	 * io_loop_post() still touches the target loop (its eventfd or ring) after
	 * the task it published has run there.  Before a loop goes, every thread that
	 * may post to it must be out of io_loop_post: the memory pagers' completion
	 * threads (drained) and the other workers (the barrier).
	 */
	if (post_barrier) {
		for (unsigned i = 0; i < NSHARED; i++)
			mempager_drain(shared[i]);
		pthread_barrier_wait(&workers_done);
	}
	io_loop_destroy(w->loop);
	io_loop_private_destroy();
	return NULL;
}

static _Atomic uint64_t replacements;

/*
 * The arena hog: now and then wires a large share of the cache for a
 * moment, so swapin meets an empty free list (NOWAIT grabs fail and are
 * retried from the socket's timer) while everything else runs.
 */
#define HOG_PAGES 512
static struct vm_object *hog;
static _Atomic uint64_t hog_rounds;

static void *
hog_main(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	static struct vm_page *held[HOG_PAGES];
	for (unsigned cycle = 0; !atomic_load(&stop); cycle++) {
		/* Every other cycle takes all it can get: the arena runs dry. */
		int want = cycle % 2 ? HOG_PAGES : (int)rnd(&seed, HOG_PAGES / 2), n = 0;
		uint64_t base = rnd(&seed, HOG_PAGES);
		for (int i = 0; i < want; i++) {
			struct vm_page *m =
			    vm_page_grab(hog, (base + (uint64_t)i) % HOG_PAGES,
					 VM_ALLOC_WIRED | VM_ALLOC_NOBUSY | VM_ALLOC_NOWAIT);
			if (m != NULL)
				held[n++] = m;
		}
		usleep(500 + rnd(&seed, 2000));
		while (n > 0)
			vm_page_unwire(held[--n]);
		hog_rounds++;
		usleep(2000 + rnd(&seed, 8000));
	}
	return NULL;
}

static void *
replacer_main(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	while (!atomic_load(&stop)) {
		hfile_replace(rnd(&seed, NHOST), &seed);
		replacements++;
		usleep(2000 + rnd(&seed, 8000));
	}
	return NULL;
}

/* ---- set-up ---- */

static void
make_objfs_image(unsigned *seed)
{
	CHECK(mkdtemp(objdir) != NULL);
	for (unsigned f = 0; f < NOBJFS; f++) {
		objfs_size[f] = f == 0   ? 0
				: f == 1 ? rnd_size(seed)
					 : (64u << 10) + rnd(seed, MAX_SIZE);
		/* Odd files have hole records, files 2 and 3 compressed ones. */
		objfs_seed[f] = rnd64(seed) | (f & 1) | (f == 2 || f == 3 ? 2 : 0);
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/o%u", objdir, f);
		uint8_t *data = malloc(objfs_size[f] + 1);
		CHECK(data != NULL);
		content_fill(objfs_seed[f], 0, data, objfs_size[f]);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		CHECK(fd >= 0);
		CHECK(write(fd, data, objfs_size[f]) == (ssize_t)objfs_size[f]);
		close(fd);
		free(data);
	}
	snprintf(image, sizeof(image), "%s.img", objdir);
	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	o.rs_shift = 15; /* 32 KiB records: several per file, holes among them */
	struct objfs_mkimage_summary sum;
	char err[256] = "";
	CHECK(objfs_mkimage(objdir, image, &o, &sum, err, sizeof(err)) == 0, "mkimage: %s", err);
	CHECK(sum.files == NOBJFS);
	printf("objfs image: %llu files, %llu records (%llu holes, %llu compressed), %llu bytes\n",
	       (unsigned long long)sum.files, (unsigned long long)sum.records,
	       (unsigned long long)sum.holes, (unsigned long long)sum.compressed,
	       (unsigned long long)sum.image_bytes);
	objfs_register();
	CHECK(vfs_mount("/img", "objfs", image, NULL) == 0);
}

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void
round_check(unsigned round, uint64_t base_objects, int64_t base_vnodes, uint64_t injected)
{
	hostfs_fail_nth_read(0, -EIO);
	vfs_cache_flush();
	CHECK(vms_socket_count() == 0, "round %u: %llu sockets leaked", round,
	      (unsigned long long)vms_socket_count());
	CHECK(vm_quiescent(), "round %u: a page was left busy or wired", round);
	CHECK(vm_object_count() == base_objects, "round %u: %llu objects, baseline %llu", round,
	      (unsigned long long)vm_object_count(), (unsigned long long)base_objects);
	CHECK(atomic_load(&vfs_stats.vnodes_live) == base_vnodes,
	      "round %u: %lld vnodes, baseline %lld", round,
	      (long long)atomic_load(&vfs_stats.vnodes_live), (long long)base_vnodes);
	/* A stream's read-ahead I/Os take injected errors too: counted apart, never aborting. */
	uint64_t failed = counter_get(&sf_stats.io_errors) + counter_get(&sf_stats.ra_errors);
	CHECK(failed == injected,
	      "round %u: %llu pager I/Os of sends failed (%llu of them read-ahead), %llu errors "
	      "injected into them",
	      round, (unsigned long long)failed,
	      (unsigned long long)counter_get(&sf_stats.ra_errors), (unsigned long long)injected);
	CHECK(sf_ra_inflight_pages() == 0, "round %u: %lld read-ahead pages still in flight", round,
	      (long long)sf_ra_inflight_pages());
}

int
main(int argc, char **argv)
{
	double seconds = 5;
	unsigned cache_pages = 256, seed = stress_seed("vmsend-stress", argc, argv);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			nthreads = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--cache-pages") == 0 && i + 1 < argc)
			cache_pages = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			i++; /* read by stress_seed() */
		else if (strcmp(argv[i], "--no-post-barrier") == 0)
			post_barrier = false;
		else {
			fprintf(stderr, "usage: vmsend-stress [--seconds N] [--threads N] "
					"[--cache-pages N] [--seed S] [--no-post-barrier]\n");
			return 2;
		}
	}
	CHECK(nthreads >= 1 && nthreads <= MAX_THREADS);
	printf("vmsend-stress: seed %u, %u threads, %u cache pages, %.1f s\n", seed, nthreads,
	       cache_pages, seconds);
	/* The hog runs the arena dry, which the wired bound (vm.h, rule 1) would forbid. */
	CHECK(vms_tunable_set("vm_max_wired_pct", "100") == 0);
	CHECK(vm_init((uint64_t)cache_pages * PAGE_SIZE) == 0);
	sf_stats_reset();

	CHECK(mkdtemp(hostdir) != NULL);
	for (unsigned f = 0; f < NHOST; f++) {
		pthread_mutex_init(&hfiles[f].lock, NULL);
		hfile_replace(f, &seed);
	}
	hostfs_register();
	CHECK(vfs_mount("/h", "hostfs", hostdir, NULL) == 0);
	make_objfs_image(&seed);
	for (unsigned i = 0; i < NSHARED; i++) {
		uint64_t size = 100 * PAGE_SIZE + 77 * i;
		shared_seed[i] = rnd64(&seed) | (i == 1);
		uint8_t *data = malloc(size);
		CHECK(data != NULL);
		content_fill(shared_seed[i], 0, data, size);
		shared[i] = mempager_create(data, size, i == 2 ? 0 : PAGER_CAP_BOGUS, "shared");
		free(data);
		mempager_set_mode(shared[i], i == 0 ? MEMPAGER_SYNC : MEMPAGER_THREAD, 20 * i);
		mempager_set_block(shared[i], 4 + 4 * i);
		mempager_set_readahead(shared[i], i != 2);
	}
	static uint8_t hog_bytes[HOG_PAGES * PAGE_SIZE];
	hog = mempager_create(hog_bytes, sizeof(hog_bytes), 0, "hog");
	vfs_cache_flush();
	uint64_t base_objects = vm_object_count();
	int64_t base_vnodes = atomic_load(&vfs_stats.vnodes_live);

	CHECK(pthread_barrier_init(&workers_done, NULL, nthreads) == 0);
	struct worker *ws = calloc(nthreads, sizeof(*ws));
	CHECK(ws != NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		struct worker *w = &ws[i];
		w->idx = i;
		w->seed = seed + 7919 * (i + 1);
		w->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK(w->lfd >= 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		CHECK(bind(w->lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
		CHECK(listen(w->lfd, 4) == 0);
		w->rd.fd = -1;
		pthread_mutex_init(&w->rd.lock, NULL);
		pthread_cond_init(&w->rd.cv, NULL);
		CHECK(pthread_create(&w->rd.th, NULL, reader_main, &w->rd) == 0);
	}

	uint64_t deadline = vms_now_ns() + (uint64_t)(seconds * 1e9);
	uint64_t round_ns = (uint64_t)(MIN(seconds / 4, 2.0) * 1e9) + 1;
	uint64_t injected = 0;
	unsigned round = 0;
	do {
		/* Tunables change only here, with no worker running. */
		sf_swapin_policy = round % 2 ? SF_POLICY_SPLIT : SF_POLICY_COALESCE;
		hostfs_debug_read_cap = round % 3 == 2 ? 1000 + rnd(&seed, 9000) : 0;
		/* Every fourth round sends zero-copy: pages held until the notifications. */
		sf_send_zc = round % 4 == 3;
		sf_zc_min = 4096;
		/* Odd rounds check a file's identity on every lookup (new versions at once). */
		vfs_valid_ms = round % 2 ? 0 : 1000;
		/*
		 * io fallbacks, read when the workers create their loops: eventfd wakes
		 * instead of msg_ring, synchronous preadv instead of io_uring reads, no
		 * fixed buffers; and buffered hostfs reads instead of O_DIRECT.
		 */
		static const int64_t io_modes[] = {0, IO_DISABLE_MSG_RING,
						   IO_DISABLE_READV | IO_DISABLE_FIXED_BUFFERS,
						   IO_DISABLE_READ_FIXED, 0};
		io_disable = io_modes[round % nitems(io_modes)];
		hostfs_direct = round % 5 != 4;
		uint64_t hinj = counter_get(&hostfs_stats.injected), minj = st.mem_injected;
		atomic_store(&stop, false);
		pthread_t rep, hogth;
		CHECK(pthread_create(&rep, NULL, replacer_main,
				     (void *)(uintptr_t)(seed + round)) == 0);
		/* Hogged rounds: split, and coalesce with short reads; the others keep bogus slots. */
		bool hogged = round % 4 == 1 || round % 4 == 2;
		if (hogged)
			CHECK(pthread_create(&hogth, NULL, hog_main,
					     (void *)(uintptr_t)(seed - round)) == 0);
		for (unsigned i = 0; i < nthreads; i++)
			CHECK(pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) == 0);
		/* The first four rounds run whole (each setting gets its time), later ones to the deadline. */
		uint64_t end = vms_now_ns() + round_ns;
		if (round >= 4)
			end = MIN(end, deadline);
		while (vms_now_ns() < end)
			usleep(10000);
		atomic_store(&stop, true);
		for (unsigned i = 0; i < nthreads; i++)
			pthread_join(ws[i].th, NULL);
		pthread_join(rep, NULL);
		if (hogged)
			pthread_join(hogth, NULL);
		for (unsigned i = 0; i < NSHARED; i++)
			mempager_drain(shared[i]);
		injected += counter_get(&hostfs_stats.injected) - hinj + (st.mem_injected - minj);
		/* Every injected error failed one pager I/O: a send's, or an island's read. */
		round_check(round, base_objects, base_vnodes, injected - st.island_failed);
		printf("round %u (%s%s%s%s%s): %llu sends so far, %llu pager I/O errors\n", round,
		       sf_swapin_policy == SF_POLICY_SPLIT ? "split" : "coalesce",
		       hogged ? ", hogged" : "", sf_send_zc ? ", zero-copy" : "",
		       io_disable & IO_DISABLE_MSG_RING     ? ", eventfd wakes"
		       : io_disable & IO_DISABLE_READV      ? ", sync reads"
		       : io_disable & IO_DISABLE_READ_FIXED ? ", no read_fixed"
		       : !hostfs_direct                     ? ", buffered hostfs"
							    : "",
		       hostfs_debug_read_cap ? ", short reads" : "", (unsigned long long)st.ops,
		       (unsigned long long)injected);
		round++;
	} while (round < 4 || vms_now_ns() < deadline);

	for (unsigned i = 0; i < nthreads; i++) {
		struct worker *w = &ws[i];
		pthread_mutex_lock(&w->rd.lock);
		w->rd.fd = -2;
		pthread_cond_signal(&w->rd.cv);
		pthread_mutex_unlock(&w->rd.lock);
		pthread_join(w->rd.th, NULL);
		close(w->lfd);
	}

	printf("operations: %llu sends (hostfs %llu, objfs %llu, mem %llu, shared-mem %llu), "
	       "%llu rounds\n",
	       (unsigned long long)st.ops, (unsigned long long)st.kinds[K_HOSTFS],
	       (unsigned long long)st.kinds[K_OBJFS], (unsigned long long)st.kinds[K_MEM],
	       (unsigned long long)st.kinds[K_SHARED], (unsigned long long)round);
	printf("bytes verified: %llu\n", (unsigned long long)st.bytes_verified);
	printf("errors injected: %llu (hostfs %llu, memory pager %llu); EIO aborts seen %llu\n",
	       (unsigned long long)injected,
	       (unsigned long long)counter_get(&hostfs_stats.injected),
	       (unsigned long long)st.mem_injected, (unsigned long long)st.eio_seen);
	printf("pages cached ahead of a send: %llu (%llu reads failed by injection)\n",
	       (unsigned long long)st.islands, (unsigned long long)st.island_failed);
	printf("file replacements: %llu; sends of a replaced (old) version: %llu\n",
	       (unsigned long long)replacements, (unsigned long long)st.old_versions);
	printf("abort closes %llu, EBUSY %llu, EAGAIN %llu, blocking sends %llu, arena hogged %llu "
	       "times\n",
	       (unsigned long long)st.aborted, (unsigned long long)st.ebusy,
	       (unsigned long long)st.eagain, (unsigned long long)st.blocking,
	       (unsigned long long)hog_rounds);
	printf("sendfile: %llu I/Os, %llu pages read, %llu bogus slots, %llu busy waits, %llu "
	       "zero-copy sends; vm: %llu reclaims (%llu orphaned), %llu allocation failures\n",
	       (unsigned long long)counter_get(&sf_stats.ios),
	       (unsigned long long)counter_get(&sf_stats.pages_read),
	       (unsigned long long)counter_get(&sf_stats.pages_bogus),
	       (unsigned long long)counter_get(&sf_stats.busy_waits),
	       (unsigned long long)counter_get(&sf_stats.sends_zc),
	       (unsigned long long)counter_get(&vm_stats.reclaims),
	       (unsigned long long)counter_get(&vm_stats.orphans),
	       (unsigned long long)counter_get(&vm_stats.alloc_fail));
	/* A run that never reclaimed or never failed a read tested less than it claims. */
	CHECK(st.ops > 0);
	if (seconds >= 2) {
		CHECK(counter_get(&vm_stats.reclaims) > 0, "the cache never reclaimed");
		CHECK(injected > 0 && st.eio_seen > 0, "no injected error was seen");
		CHECK(counter_get(&sf_stats.pages_bogus) > 0, "no coalesced I/O used bogus_page");
		CHECK(counter_get(&vm_stats.alloc_fail) > 0, "the arena never ran dry");
	}

	for (unsigned i = 0; i < NSHARED; i++)
		vm_object_deallocate(shared[i]);
	vm_object_deallocate(hog);
	vfs_unmount_all();
	CHECK(atomic_load(&vfs_stats.vnodes_live) == 0, "vnodes leaked");
	arc_global_fini();
	io_loop_private_destroy();
	CHECK(vm_object_count() == 0, "objects leaked");
	vm_fini();
	for (unsigned f = 0; f < NHOST; f++) {
		free(hfiles[f].v);
		pthread_mutex_destroy(&hfiles[f].lock);
	}
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_mutex_destroy(&ws[i].rd.lock);
		pthread_cond_destroy(&ws[i].rd.cv);
	}
	free(ws);
	pthread_barrier_destroy(&workers_done);
	nftw(hostdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(objdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	unlink(image);
	printf("%llu passed, 0 failed\n", (unsigned long long)st.ops);
	return 0;
}

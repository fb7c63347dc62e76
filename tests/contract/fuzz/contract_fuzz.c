/*
 * The contract fuzzer: random page-cache states and requests driven through
 * real pagers and the memory pager, with every contract rule checked by the
 * dispatch wrappers (VMSEND_INVARIANTS) and every result checked here.
 *
 * One iteration:
 *   1. pick a pager and an object over random bytes; cache, wire or
 *      shared-busy random pages (the "other users" of the cache);
 *   2. pick a run whose first and last pages are invalid; grab it wired +
 *      xbusy as sendfile does; unbusy the valid pages inside; then either
 *      coalesce (valid pages become bogus_page: one I/O, capable pagers
 *      only) or split (one I/O per invalid sub-run);
 *   3. random read-ahead, random completion timing (memory pager: sync,
 *      deferred, threaded), random injected I/O errors; objfs runs are
 *      sometimes part of a stream, whose uncompressed records go straight
 *      into the pages (dmu.c);
 *   4. check: iodone exactly once per I/O, every real page fully valid and
 *      byte-identical to the backing bytes, bogus slots left alone, the
 *      valid pages unchanged; after cleanup no page busy or wired.
 *
 *   contract_fuzz [--seconds N] [--iterations N] [--seed S] [--pager mem|hostfs|objfs|all]
 */
#include "core/tunable.h"
#include "core/util.h"
#include "fs/hostfs/hostfs.h"
#include "fs/objfs/dmu.h"
#include "fs/objfs/image.h"
#include "fs/objfs/mkimage.h"
#include "io/io.h"
#include "pager/pager.h"
#include "vfs/vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/check.h"
#include "support/mempager.h"

#define MAXPAGES 48

enum kind { K_MEM, K_MEM_BOGUS, K_HOSTFS, K_OBJFS, K_NKINDS };
static const char *const kind_names[] = {"mem", "mem-bogus", "hostfs", "objfs"};

/*
 * objfs: two images of a few files made at start, one with small records
 * (8 or 16 KiB: read through staging buffers) and one with 32 KiB records
 * (stored aligned, so a stream reads them straight into pages); each
 * iteration pages a fresh object.  Their ARC is a few records small, so
 * records keep being read from the image.
 */
#define OBJFS_FILES 8
static char objdir[] = "/tmp/vmsend-cfuzz-obj-XXXXXX";
static char objimage[2][96];
static struct objfs_fs *objfs[2];
static struct arc *objarc;
static uint8_t *objfs_data[OBJFS_FILES];
static size_t objfs_size[OBJFS_FILES];

static unsigned seed;
static struct io_loop *loop;
static char hostdir[] = "/tmp/vmsend-cfuzz-XXXXXX";
static uint64_t stat_iter, stat_ios, stat_bogus, stat_errors, stat_rahead, stat_stream;

static unsigned
rnd(unsigned n)
{
	return n ? (unsigned)rand_r(&seed) % n : 0;
}

struct io_rec {
	atomic_int calls;
	atomic_int error;
	struct vm_page *saved[MAXPAGES]; /* the request's own array */
	int count;
};

static void
iodone(void *arg, struct vm_page **ma, int count, int error)
{
	struct io_rec *r = arg;
	CHECK(count == r->count, "iodone count %d, request %d", count, r->count);
	for (int i = 0; i < count; i++) /* rule 10: may be another array, same pages */
		CHECK(ma[i] == r->saved[i], "iodone slot %d differs", i);
	atomic_store(&r->error, error);
	atomic_fetch_add(&r->calls, 1);
}

static void
objfs_setup(void)
{
	CHECK(mkdtemp(objdir) != NULL);
	struct arc_config cfg = {.size = 128 << 10, .name = "cfuzz"};
	CHECK((objarc = arc_create(&cfg)) != NULL);
	for (int f = 0; f < OBJFS_FILES; f++) {
		/* f0 is noise of the largest size: whole records a stream can skip the ARC for. */
		size_t size = (size_t)(f == 0 ? MAXPAGES - 1 : rnd(MAXPAGES - 1)) * PAGE_SIZE + 1 +
			      rnd(PAGE_SIZE);
		uint8_t *d = malloc(size);
		int style = f % 3; /* noise, text (compresses), zero runs (holes) */
		for (size_t i = 0; i < size; i++)
			d[i] = style == 0   ? (uint8_t)rand_r(&seed)
			       : style == 1 ? (uint8_t) "sendfile bogus_page "[i % 20]
					    : ((i / 8192) % 2 ? 0 : (uint8_t)(i | 1));
		char path[160];
		snprintf(path, sizeof(path), "%s/f%d", objdir, f);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		CHECK(fd >= 0 && write(fd, d, size) == (ssize_t)size);
		close(fd);
		objfs_data[f] = d;
		objfs_size[f] = size;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(objimage[i], sizeof(objimage[i]), "%s.%d.img", objdir, i);
		struct objfs_mkimage_opts o;
		objfs_mkimage_defaults(&o);
		o.rs_shift =
		    i == 0 ? 13 + rnd(2) : 15; /* records of 8, 16 or 32 KiB: runs cross them */
		struct objfs_mkimage_summary sum;
		char err[256];
		CHECK(objfs_mkimage(objdir, objimage[i], &o, &sum, err, sizeof(err)) == 0, "%s",
		      err);
		CHECK(objfs_fs_open(objimage[i], objarc, &objfs[i], err, sizeof(err)) == 0, "%s",
		      err);
	}
}

static void
objfs_teardown(void)
{
	for (int i = 0; i < 2; i++) {
		objfs_fs_rele(objfs[i]);
		unlink(objimage[i]);
	}
	arc_destroy(objarc);
	for (int f = 0; f < OBJFS_FILES; f++) {
		char path[160];
		snprintf(path, sizeof(path), "%s/f%d", objdir, f);
		unlink(path);
		free(objfs_data[f]);
	}
	rmdir(objdir);
}

/* Fail the next block read of obj's image with EIO (the Nth-read fail point). */
static void
objfs_fail_next_read(struct vm_object *obj)
{
	struct objfs_node *np = obj->pager_priv;
	objfs_image_fail_next_read(np->fs->img);
}

static struct vm_object *
make_object(enum kind k, char *data, size_t *sizep, struct vnode **vpp)
{
	*vpp = NULL;
	size_t size = *sizep;
	if (k == K_OBJFS) {
		int f = (int)rnd(OBJFS_FILES);
		struct objfs_fs *fs = objfs[rnd(2)];
		char name[16];
		snprintf(name, sizeof(name), "f%d", f);
		struct objfs_dnode dn;
		CHECK(objfs_image_lookup(fs->img, name, &dn) == 0);
		memcpy(data, objfs_data[f], objfs_size[f]);
		*sizep = objfs_size[f];
		return dmu_object_create(fs, &dn, name, NULL);
	}
	if (k != K_HOSTFS)
		return mempager_create(data, size, k == K_MEM_BOGUS ? PAGER_CAP_BOGUS : 0, "fuzz");
	static unsigned fileno;
	char path[256], vpath[64];
	snprintf(vpath, sizeof(vpath), "/cf/f%u", fileno);
	snprintf(path, sizeof(path), "%s/f%u", hostdir, fileno++);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	close(fd);
	CHECK(vfs_lookup(vpath, vpp) == 0, "lookup %s", vpath);
	unlink(path); /* the open descriptor keeps the bytes */
	vm_object_reference((*vpp)->object);
	return (*vpp)->object;
}

static void
one_iteration(enum kind k)
{
	static char data[MAXPAGES * 4096];
	uint64_t npages = 1 + rnd(MAXPAGES - 1);
	size_t size = (npages - 1) * PAGE_SIZE + 1 + rnd(PAGE_SIZE);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)rand_r(&seed);
	struct vnode *vp;
	struct vm_object *obj = make_object(k, data, &size, &vp);
	npages = (size + PAGE_SIZE - 1) / PAGE_SIZE;
	bool capable = obj->pager->caps & PAGER_CAP_BOGUS;
	if (k == K_MEM || k == K_MEM_BOGUS) {
		enum mempager_mode modes[] = {MEMPAGER_SYNC, MEMPAGER_DEFERRED, MEMPAGER_THREAD};
		mempager_set_mode(obj, modes[rnd(3)], rnd(2) ? 0 : 50);
		mempager_set_block(obj, 1 + rnd(16));
		mempager_set_readahead(obj, rnd(2));
	}

	/* An objfs stream: fewer pages cached by others (a stream's window is its own). */
	bool stream = k == K_OBJFS && rnd(2);
	/* Other users: cached valid pages, some wired, some shared-busied. */
	struct vm_page *wired[MAXPAGES], *sbusy[MAXPAGES];
	int nwired = 0, nsbusy = 0;
	for (uint64_t p = 0; p < npages; p++) {
		if (rnd(stream ? 12 : 3) != 0)
			continue;
		struct vm_page *m = vm_page_grab(obj, p, 0);
		memcpy(vm_page_data(m), data + p * PAGE_SIZE, MIN(PAGE_SIZE, size - p * PAGE_SIZE));
		memset((char *)vm_page_data(m) + MIN(PAGE_SIZE, size - p * PAGE_SIZE), 0,
		       PAGE_SIZE - MIN(PAGE_SIZE, size - p * PAGE_SIZE));
		vm_page_valid(m);
		if (rnd(3) == 0) {
			vm_page_wire(m);
			wired[nwired++] = m;
		}
		vm_page_xunbusy(m);
	}
	/* The run: first and last pages invalid; a stream's covers whole records. */
	uint64_t s = rnd((unsigned)npages), e, rec = 1;
	if (stream) {
		rec = OFF_TO_IDX(1ull << ((struct objfs_node *)obj->pager_priv)->dn.rs_shift);
		s = rounddown2(s, rec);
	}
	struct vm_page *ma[MAXPAGES];
	vm_object_lock(obj);
	while (s < npages && vm_page_lookup(obj, s) != NULL)
		s++;
	vm_object_unlock(obj);
	if (s == npages)
		goto out;
	e = roundup2(s + 1 + rnd((unsigned)(npages - s)), rec); /* MIN() evaluates twice */
	e = MIN(e, npages);
	int n = vm_page_grab_pages(obj, s, VM_ALLOC_WIRED, ma, (int)(e - s));
	CHECK(n == (int)(e - s));
	while (n > 1 && vm_page_all_valid(ma[n - 1])) { /* trim valid pages off the end */
		vm_page_xunbusy(ma[n - 1]);
		vm_page_unwire(ma[n - 1]);
		n--;
	}
	/* Shared-busy a page or two beyond the run: read-ahead must stop there. */
	for (uint64_t p = s + n; p < npages && nsbusy < 2; p++)
		if (rnd(4) == 0 && (sbusy[nsbusy] = vm_page_grab(
					obj, p, VM_ALLOC_NOWAIT | VM_ALLOC_SBUSY)) != NULL)
			nsbusy++;
	uint8_t before[MAXPAGES][64];
	for (int i = 0; i < n; i++)
		if (vm_page_all_valid(ma[i])) {
			memcpy(before[i], vm_page_data(ma[i]), 64);
			vm_page_xunbusy(ma[i]);
		}

	bool coalesce = capable && rnd(2);
	int fail = rnd(8) == 0;
	if (fail && k == K_HOSTFS)
		hostfs_fail_nth_read(1, -EIO);
	else if (fail && k == K_OBJFS)
		objfs_fail_next_read(obj);
	else if (fail)
		mempager_fail_nth(obj, 1, -EIO);
	uint64_t direct0 = counter_get(&dmu_stats.records_direct);
	struct io_rec recs[MAXPAGES];
	int nrec = 0;
	for (int i = 0; i < n;) {
		if (vm_page_all_valid(ma[i])) {
			i++;
			continue;
		}
		int j = i + 1;
		if (coalesce)
			j = n;
		else
			while (j < n && !vm_page_all_valid(ma[j]))
				j++;
		struct io_rec *r = &recs[nrec++];
		atomic_init(&r->calls, 0);
		atomic_init(&r->error, 0);
		r->count = j - i;
		for (int q = i; q < j; q++)
			r->saved[q - i] = vm_page_all_valid(ma[q]) ? bogus_page : ma[q];
		for (int q = 0; q < r->count; q++)
			stat_bogus += r->saved[q] == bogus_page;
		int rb = (int)rnd(4), ra = (j == n) ? (int)rnd(9) : 0;
		struct vm_page *arr[MAXPAGES];
		memcpy(arr, r->saved, sizeof(arr[0]) * r->count);
		if (stream) {
			/* As if the records before this run had just been read in a row. */
			struct objfs_node *np = obj->pager_priv;
			atomic_store(&np->seq_next, IDX_TO_OFF(s + (uint64_t)i) >> np->dn.rs_shift);
			atomic_store(&np->seq_run, 1000);
		}
		int rv = pager_getpages_async(obj, arr, r->count, &rb, &ra, iodone, r);
		CHECK(rv == PAGER_OK,
		      "%s: getpages_async of %d pages from %llu of %llu/%llu (e %llu): %s",
		      kind_names[k], r->count, (unsigned long long)(s + (uint64_t)i),
		      (unsigned long long)vm_object_npages(obj), (unsigned long long)npages,
		      (unsigned long long)e, pager_strerror(rv));
		stat_rahead += ra;
		stat_ios++;
		i = j;
	}
	if (k == K_MEM || k == K_MEM_BOGUS) {
		mempager_complete_pending(obj);
		mempager_drain(obj);
		mempager_complete_pending(obj);
	} else {
		/* hostfs and objfs complete on this thread's io loop: run it until every I/O is done. */
		for (int r = 0; r < nrec; r++)
			while (atomic_load(&recs[r].calls) == 0)
				CHECK(io_loop_run_once(loop, true, 0) >= 0);
	}
	bool failed = false;
	for (int r = 0; r < nrec; r++) {
		CHECK(atomic_load(&recs[r].calls) == 1, "iodone called %d times",
		      atomic_load(&recs[r].calls));
		failed |= atomic_load(&recs[r].error) != 0;
	}
	if (fail && k == K_HOSTFS)
		hostfs_fail_nth_read(0, -EIO); /* disarm if the run did not read */
	if (fail && k == K_OBJFS)
		CHECK(vms_tunable_set("objfs_failpoint_read_nth", "0") ==
		      0); /* ARC hits: no read */
	stat_stream += counter_get(&dmu_stats.records_direct) - direct0;
	stat_errors += failed;
	for (int i = 0; i < n; i++) {
		struct vm_page *m = ma[i];
		uint64_t p = s + i;
		size_t len = MIN(PAGE_SIZE, size - p * PAGE_SIZE);
		if (vm_page_xbusied(m)) { /* was read by the pager */
			if (!failed) {
				CHECK(vm_page_all_valid(m), "page %llu invalid after success",
				      (unsigned long long)p);
				CHECK(memcmp(vm_page_data(m), data + p * PAGE_SIZE, len) == 0,
				      "%s: page %llu bytes differ", kind_names[k],
				      (unsigned long long)p);
				for (size_t b = len; b < PAGE_SIZE; b++)
					CHECK(((char *)vm_page_data(m))[b] == 0,
					      "EOF tail not zero");
			}
			if (vm_page_all_valid(m)) {
				vm_page_xunbusy(m);
				vm_page_unwire(m);
			} else {
				vm_page_unwire(m);
				vm_page_free(m, false);
			}
		} else { /* valid page the caller kept: untouched (rule 7) */
			CHECK(vm_page_all_valid(m));
			CHECK(memcmp(vm_page_data(m), before[i], 64) == 0, "bogus slot written");
			vm_page_unwire(m);
		}
	}
out:
	while (nsbusy > 0)
		vm_page_sunbusy(sbusy[--nsbusy]);
	while (nwired > 0)
		vm_page_unwire(wired[--nwired]);
	CHECK(vm_quiescent(), "a page was left busy or wired");
	if (vp != NULL)
		vnode_rele(vp);
	vm_object_deallocate(obj);
	stat_iter++;
}

int
main(int argc, char **argv)
{
	double seconds = 2;
	long iterations = -1;
	const char *which = "all";
	seed = (unsigned)getpid();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
			iterations = atol(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--pager") == 0 && i + 1 < argc)
			which = argv[++i];
		else {
			fprintf(stderr, "usage: contract_fuzz [--seconds N] [--iterations N] "
					"[--seed S] [--pager mem|hostfs|objfs|all]\n");
			return 2;
		}
	}
	printf("contract_fuzz: seed %u\n", seed);
	CHECK(vm_init(96 * PAGE_SIZE) == 0);
	CHECK(io_loop_create(&loop, 64, IO_LOOP_ARENA) == 0);
	CHECK(mkdtemp(hostdir) != NULL);
	hostfs_register();
	CHECK(vfs_mount("/cf", "hostfs", hostdir, NULL) == 0);
	objfs_setup();
	uint64_t deadline = vms_now_ns() + (uint64_t)(seconds * 1e9);
	for (long it = 0; iterations < 0 ? vms_now_ns() < deadline : it < iterations; it++) {
		enum kind k = (enum kind)rnd(K_NKINDS);
		if (strcmp(which, "mem") == 0)
			k = (enum kind)rnd(2);
		else if (strcmp(which, "hostfs") == 0)
			k = K_HOSTFS;
		else if (strcmp(which, "objfs") == 0)
			k = K_OBJFS;
		one_iteration(k);
	}
	vfs_unmount_all();
	objfs_teardown();
	io_loop_destroy(loop);
	rmdir(hostdir);
	CHECK(vm_object_count() == 0, "objects leaked");
	vm_fini();
	printf("contract_fuzz: %llu iterations, %llu I/Os, %llu bogus slots, %llu read-ahead "
	       "pages, %llu failed requests, %llu stream records past the ARC\n",
	       (unsigned long long)stat_iter, (unsigned long long)stat_ios,
	       (unsigned long long)stat_bogus, (unsigned long long)stat_rahead,
	       (unsigned long long)stat_errors, (unsigned long long)stat_stream);
	CHECK(stat_bogus > 0 || iterations == 0 || stat_iter < 50,
	      "no bogus slot was ever exercised");
	bool objfs_ran = strcmp(which, "all") == 0 || strcmp(which, "objfs") == 0;
	CHECK(!objfs_ran || stat_stream > 0 || stat_iter < 200,
	      "no stream record was ever read past the ARC");
	printf("%llu passed, 0 failed\n", (unsigned long long)stat_iter);
	return 0;
}

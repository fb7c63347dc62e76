/*
 * objfs pager stress: three threads, each with its own io_uring loop, read
 * random runs of one object of a real image (made here by mkimage) through
 * a small ARC and a small page cache, so ARC misses are shared across
 * loops (a request may finish on another thread), records and pages are
 * evicted under the readers, and valid pages inside runs travel as
 * bogus_page.  Like sendfile, nobody sleeps on a busy page (NOWAIT grabs).
 * A plain program so TSan runs it.
 *
 * Checks: every page a read returns holds the file's bytes; bogus slots'
 * pages keep theirs; at the end nothing is busy, wired or held.
 */
#include "core/assert.h"
#include "core/util.h"
#include "fs/objfs/dmu.h"
#include "fs/objfs/image.h"
#include "fs/objfs/mkimage.h"
#include "io/io.h"
#include "pager/pager.h"
#include "vm/vm.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/seed.h"

#define FILE_SIZE (96 * 4096 * 4 + 777) /* 96 records of 16 KiB, and a tail */
#define NTHREADS  3
#define ITERS     400
#define MAXRUN    24

static unsigned seed; /* stress_seed(): printed, replayed with --seed */
static uint8_t *file;
static struct vm_object *obj;

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
check_page(struct vm_page *m, uint64_t pindex)
{
	uint8_t want[PAGE_SIZE];
	uint64_t off = IDX_TO_OFF(pindex);
	memset(want, 0, sizeof(want));
	if (off < FILE_SIZE)
		memcpy(want, file + off, MIN((uint64_t)PAGE_SIZE, FILE_SIZE - off));
	VERIFY(vm_page_all_valid(m));
	VERIFY(memcmp(vm_page_data(m), want, PAGE_SIZE) == 0);
}

struct done {
	volatile bool fired;
	int error;
};

static void
on_done(void *arg, struct vm_page **ma, int count, int error)
{
	struct done *d = arg;
	d->error = error;
	__atomic_store_n(&d->fired, true, __ATOMIC_RELEASE);
}

static void *
reader(void *arg)
{
	uint64_t s = ((uintptr_t)arg + (uint64_t)seed * 64) * 0x9e3779b97f4a7c15ull + 7;
	struct io_loop *loop;
	VERIFY0(io_loop_create(&loop, 64, 0));
	uint64_t npages = vm_object_npages(obj);

	for (int it = 0; it < ITERS; it++) {
		uint64_t start = xorshift(&s) % npages;
		uint64_t want = 1 + xorshift(&s) % MAXRUN; /* MIN() evaluates twice: draw first */
		int count = (int)MIN(want, npages - start);
		struct vm_page *ma[MAXRUN], *real[MAXRUN];
		int n = vm_page_grab_pages(obj, start, VM_ALLOC_WIRED | VM_ALLOC_NOWAIT, ma, count);
		/* Trim valid pages off both ends (rule 1: ends are real, invalid pages). */
		int lo = 0, hi = n;
		while (lo < hi && vm_page_all_valid(ma[lo]))
			lo++;
		while (hi > lo && vm_page_all_valid(ma[hi - 1]))
			hi--;
		for (int i = 0; i < n; i++) {
			real[i] = ma[i];
			if (i < lo || i >= hi) {
				check_page(ma[i], start + i);
				vm_page_xunbusy(ma[i]);
				vm_page_unwire(ma[i]);
			} else if (vm_page_all_valid(ma[i])) {
				/* Wired and valid: it may stand as bogus_page (rule 3). */
				vm_page_xunbusy(ma[i]);
				ma[i] = bogus_page;
			}
		}
		if (lo < hi) {
			struct done d = {0};
			int ra = (int)(xorshift(&s) % 8), rb = (int)(xorshift(&s) % 4);
			VERIFY0(pager_getpages_async(obj, ma + lo, hi - lo, &rb, &ra, on_done, &d));
			while (!__atomic_load_n(&d.fired, __ATOMIC_ACQUIRE))
				VERIFY3S(io_loop_run_once(loop, true, 1000000), >=, 0);
			VERIFY0(d.error);
			for (int i = lo; i < hi; i++) {
				check_page(real[i], start + i);
				if (ma[i] != bogus_page)
					vm_page_xunbusy(real[i]);
				vm_page_unwire(real[i]);
			}
		}
	}
	/* Completions this loop owes other threads' requests were all run: they waited for them. */
	io_loop_destroy(loop);
	return NULL;
}

int
main(int argc, char **argv)
{
	seed = stress_seed("test_dmu_stress", argc, argv);
	char dir[] = "/tmp/vmsend-dmu-stress-XXXXXX", img[64], path[96];
	VERIFY(mkdtemp(dir) != NULL);
	snprintf(img, sizeof(img), "%s.img", dir);
	snprintf(path, sizeof(path), "%s/f", dir);
	file = malloc(FILE_SIZE);
	uint64_t s = 99;
	for (size_t i = 0; i < FILE_SIZE; i++)
		file[i] = (i / 16384) % 3 == 0 ? (uint8_t)(i / 16384) : (uint8_t)xorshift(&s);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	VERIFY(fd >= 0);
	VERIFY3S(write(fd, file, FILE_SIZE), ==, FILE_SIZE);
	close(fd);
	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	o.rs_shift = 14;
	struct objfs_mkimage_summary sum;
	char err[256];
	VERIFY0(objfs_mkimage(dir, img, &o, &sum, err, sizeof(err)));

	VERIFY0(vm_init(160 * PAGE_SIZE)); /* fewer pages than the file: reclaim runs */
	struct arc_config cfg = {.size = 32 * 16384, .name = "dmu-stress"};
	struct arc *arc = arc_create(&cfg);
	struct objfs_fs *fs;
	VERIFY0(objfs_fs_open(img, arc, &fs, err, sizeof(err)));
	struct objfs_dnode dn;
	VERIFY0(objfs_image_lookup(fs->img, "f", &dn));
	obj = dmu_object_create(fs, &dn, "f", NULL);
	VERIFY(obj != NULL);

	pthread_t th[NTHREADS];
	for (uintptr_t i = 0; i < NTHREADS; i++)
		VERIFY0(pthread_create(&th[i], NULL, reader, (void *)(i + 1)));
	for (int i = 0; i < NTHREADS; i++)
		VERIFY0(pthread_join(th[i], NULL));

	VERIFY(vm_quiescent());
	struct arc_sizes z;
	arc_sizes(arc, &z);
	VERIFY0(z.held);
	struct arc_stats *st = arc_stats(arc);
	printf(
	    "dmu stress: %llu page runs, %llu pages filled, %llu bogus skipped, %llu read ahead; "
	    "ARC %llu hits, %llu misses, %llu shared fills, %llu evictions; %llu reclaims\n",
	    (unsigned long long)counter_get(&dmu_stats.reads),
	    (unsigned long long)counter_get(&dmu_stats.pages_filled),
	    (unsigned long long)counter_get(&dmu_stats.bogus_skipped),
	    (unsigned long long)counter_get(&dmu_stats.rahead),
	    (unsigned long long)counter_get(&st->hits),
	    (unsigned long long)counter_get(&st->misses),
	    (unsigned long long)counter_get(&st->io_hits),
	    (unsigned long long)(counter_get(&st->evict_mru) + counter_get(&st->evict_mfu)),
	    (unsigned long long)counter_get(&vm_stats.reclaims));
	VERIFY(counter_get(&dmu_stats.pages_filled) > 0);
	vm_object_deallocate(obj);
	objfs_fs_rele(fs);
	arc_destroy(arc);
	io_loop_private_destroy();
	vm_fini();
	unlink(path);
	rmdir(dir);
	unlink(img);
	free(file);
	return 0;
}

/*
 * The objfs pager (src/fs/objfs/dmu.c) over a real image made by mkimage
 * from files this test writes: bytes equal the file's for random runs with
 * pre-cached pages and bogus_page slots, holes and the EOF tail read as
 * zeros, a corrupted record fails with EIO and leaves nothing busy, and
 * the 2018 variant trips over bogus_page as the incident did.
 */
#include "core/util.h"
#include "fs/objfs/dmu.h"
#include "fs/objfs/image.h"
#include "fs/objfs/mkimage.h"
#include "io/io.h"
#include "pager/pager.h"
#include "vm/vm.h"

#include "support/death.h"
#include "support/mempager.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RS_SHIFT 14 /* 16 KiB records: 4 pages each, so runs cross records */
#define RS       (1u << RS_SHIFT)

/* "data": mixed incompressible and compressible records, odd tail. */
#define DATA_SIZE (13 * RS + 1234)
/* "sparse": records 2-5 and 9 all zero (holes), tail inside record 11. */
#define SPARSE_SIZE (11 * RS + 3 * 4096 + 17)

static char dir[64], image[96];
static uint8_t *data_bytes, *sparse_bytes;
static struct arc *arc;
static struct objfs_fs *fs;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
write_file(const char *in, const char *name, const uint8_t *buf, size_t len)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s", in, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* mkimage of directory `from` into `to`, with records of 1 << rs_shift bytes. */
static struct objfs_mkimage_summary
make_image(const char *from, const char *to, unsigned rs_shift)
{
	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	o.rs_shift = rs_shift;
	struct objfs_mkimage_summary sum;
	char err[256];
	cr_assert_eq(objfs_mkimage(from, to, &o, &sum, err, sizeof(err)), 0, "mkimage: %s", err);
	return sum;
}

static void
make_contents(void)
{
	data_bytes = malloc(DATA_SIZE);
	for (size_t i = 0; i < DATA_SIZE; i++) {
		size_t rec = i / RS;
		/* Odd records compress (text), even ones do not (noise). */
		data_bytes[i] = rec % 2 ? "the quick brown fox "[i % 20] : (uint8_t)rnd();
	}
	sparse_bytes = calloc(1, SPARSE_SIZE);
	for (size_t i = 0; i < SPARSE_SIZE; i++) {
		size_t rec = i / RS;
		if ((rec >= 2 && rec <= 5) || rec == 9)
			continue;
		sparse_bytes[i] = (uint8_t)(rnd() | 1);
	}
}

static void
open_image(const char *path)
{
	struct arc_config cfg = {.size = 6 * RS, .name = "dmu-test"};
	arc = arc_create(&cfg);
	cr_assert_not_null(arc);
	char err[256];
	int error = objfs_fs_open(path, arc, &fs, err, sizeof(err));
	cr_assert_eq(error, 0, "open %s: %s", path, err);
}

static void
setup(void)
{
	cr_assert_eq(vm_init(4 << 20), 0);
	strcpy(dir, "/tmp/vmsend-dmu-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(image, sizeof(image), "%s.img", dir);
	make_contents();
	write_file(dir, "data", data_bytes, DATA_SIZE);
	write_file(dir, "sparse", sparse_bytes, SPARSE_SIZE);
	write_file(dir, "empty", (const uint8_t *)"", 0);

	struct objfs_mkimage_summary sum = make_image(dir, image, RS_SHIFT);
	cr_assert_gt(sum.holes, 0, "the sparse file must have holes in the image");
	cr_assert_gt(sum.compressed, 0, "some records must be stored compressed");
	open_image(image);
}

static void
rm_tree(void)
{
	char path[160];
	const char *names[] = {"data", "sparse", "empty"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	unlink(image);
}

static void
teardown(void)
{
	cr_assert(vm_quiescent(), "a page was left busy or wired");
	objfs_fs_rele(fs);
	cr_assert_eq(vm_object_count(), 0);
	struct arc_sizes z;
	arc_sizes(arc, &z);
	cr_assert_eq(z.held, 0, "an ARC record is still held");
	arc_destroy(arc);
	vm_fini();
	rm_tree();
	free(data_bytes);
	free(sparse_bytes);
}

TestSuite(dmu, .init = setup, .fini = teardown);

static struct vm_object *
file_object(const char *name, const struct pager_ops *ops)
{
	struct objfs_dnode dn;
	cr_assert_eq(objfs_image_lookup(fs->img, name, &dn), 0);
	struct vm_object *obj = dmu_object_create(fs, &dn, name, ops);
	cr_assert_not_null(obj);
	cr_assert_eq(obj->size, dn.size);
	return obj;
}

/* The page's bytes equal the file's (zeros past EOF). */
static void
assert_page_bytes(struct vm_page *m, const uint8_t *file, uint64_t size, uint64_t pindex)
{
	uint8_t want[PAGE_SIZE];
	uint64_t off = IDX_TO_OFF(pindex);
	memset(want, 0, sizeof(want));
	if (off < size)
		memcpy(want, file + off, MIN((uint64_t)PAGE_SIZE, size - off));
	cr_assert(vm_page_all_valid(m), "page %llu not valid", (unsigned long long)pindex);
	cr_assert(memcmp(vm_page_data(m), want, PAGE_SIZE) == 0, "page %llu has wrong bytes",
		  (unsigned long long)pindex);
}

/* Read one page synchronously and leave it valid and unbusied in the cache. */
static void
precache(struct vm_object *obj, uint64_t pindex)
{
	struct vm_page *m = vm_page_grab(obj, pindex, 0);
	cr_assert_not_null(m);
	if (!vm_page_all_valid(m))
		cr_assert_eq(pager_getpages(obj, &m, 1, NULL, NULL), PAGER_OK);
	vm_page_xunbusy(m);
}

struct done {
	volatile bool fired;
	int calls;
	int error;
	int count;
};

static void
on_done(void *arg, struct vm_page **ma, int count, int error)
{
	struct done *d = arg;
	d->calls++;
	d->error = error;
	d->count = count;
	d->fired = true;
}

/*
 * One random run: pre-cache a few pages inside and around it, build the
 * array the way sendfile's coalesce policy does (valid interior pages
 * become bogus_page), read it, and check every byte.
 */
static void
random_run(const char *name, const uint8_t *file, uint64_t size, struct io_loop *loop)
{
	struct vm_object *obj = file_object(name, NULL);
	uint64_t npages = vm_object_npages(obj);
	uint64_t start = rnd() % npages;
	uint64_t want = 1 + rnd() % 12; /* MIN() evaluates twice: draw first */
	int count = (int)MIN(want, npages - start);
	uint64_t last = start + count - 1;

	/* Pre-cache: some interior pages, and maybe neighbours of the run. */
	bool cached[16] = {false};
	for (int i = 1; i < count - 1; i++)
		if (rnd() % 3 == 0) {
			precache(obj, start + i);
			cached[i] = true;
		}
	if (start >= 2 && rnd() % 2)
		precache(obj, start - 2);
	if (last + 2 < npages && rnd() % 2)
		precache(obj, last + 2);

	struct vm_page *ma[16];
	cr_assert_eq(vm_page_grab_pages(obj, start, 0, ma, count), count);
	struct vm_page *real[16];
	int nbogus = 0;
	for (int i = 0; i < count; i++) {
		real[i] = ma[i];
		if (cached[i]) {
			cr_assert(vm_page_all_valid(ma[i]));
			vm_page_xunbusy(ma[i]); /* rule 3/4: the caller unbusies it */
			ma[i] = bogus_page;
			nbogus++;
		}
	}
	int rb = (int)(rnd() % 8), ra = (int)(rnd() % 8);
	uint64_t skipped0 = counter_get(&dmu_stats.bogus_skipped);
	struct done d = {0};
	int rv = pager_getpages_async(obj, ma, count, &rb, &ra, on_done, &d);
	cr_assert_eq(rv, PAGER_OK, "%s: run %llu+%d of %llu pages: %s", name,
		     (unsigned long long)start, count, (unsigned long long)npages,
		     pager_strerror(rv));
	if (loop != NULL)
		io_loop_run_until(loop, &d.fired);
	cr_assert(d.fired);
	cr_assert_eq(d.calls, 1, "iodone exactly once");
	cr_assert_eq(d.error, 0);
	cr_assert_eq(d.count, count);
	cr_assert_eq(counter_get(&dmu_stats.bogus_skipped) - skipped0, (uint64_t)nbogus);
	for (int i = 0; i < count; i++) {
		assert_page_bytes(real[i], file, size, start + i);
		if (ma[i] != bogus_page) {
			cr_assert(vm_page_xbusied(real[i]), "rule 8: still xbusy for the caller");
			vm_page_xunbusy(real[i]);
		} else {
			cr_assert_not(vm_page_busied(real[i]), "the bogus slot's page was touched");
		}
	}
	/* Optional pages: valid, right bytes, unbusied, inside the run's records. */
	vm_object_lock(obj);
	for (uint64_t p = start - MIN((uint64_t)rb, start); p < start; p++) {
		struct vm_page *m = vm_page_lookup(obj, p);
		cr_assert_not_null(m, "read-behind page %llu missing", (unsigned long long)p);
		cr_assert_not(vm_page_busied(m));
		assert_page_bytes(m, file, size, p);
		cr_assert_eq(IDX_TO_OFF(p) >> RS_SHIFT, IDX_TO_OFF(start) >> RS_SHIFT,
			     "read-behind left the first record");
	}
	for (uint64_t p = last + 1; p <= last + (uint64_t)ra; p++) {
		struct vm_page *m = vm_page_lookup(obj, p);
		cr_assert_not_null(m, "read-ahead page %llu missing", (unsigned long long)p);
		cr_assert_not(vm_page_busied(m));
		assert_page_bytes(m, file, size, p);
		cr_assert_eq(IDX_TO_OFF(p) >> RS_SHIFT, IDX_TO_OFF(last) >> RS_SHIFT,
			     "read-ahead left the last record");
		cr_assert_lt(p, npages);
	}
	vm_object_unlock(obj);
	vm_object_deallocate(obj);
}

Test(dmu, random_runs_match_the_file_inline)
{
	for (int i = 0; i < 150; i++) {
		random_run("data", data_bytes, DATA_SIZE, NULL);
		random_run("sparse", sparse_bytes, SPARSE_SIZE, NULL);
	}
	cr_assert_gt(counter_get(&dmu_stats.bogus_skipped), 0);
	cr_assert_gt(counter_get(&arc_stats(arc)->hits), 0);
	cr_assert_gt(counter_get(&arc_stats(arc)->misses), 0);
}

Test(dmu, random_runs_match_the_file_through_io_uring)
{
	struct io_loop *loop;
	cr_assert_eq(io_loop_create(&loop, 64, 0), 0);
	struct objfs_image_stats *is = objfs_image_stats(fs->img);
	uint64_t async0 = counter_get(&is->async_reads);
	for (int i = 0; i < 150; i++) {
		random_run("data", data_bytes, DATA_SIZE, loop);
		random_run("sparse", sparse_bytes, SPARSE_SIZE, loop);
	}
	cr_assert_gt(counter_get(&is->async_reads), async0, "misses must go through io_uring");
	io_loop_destroy(loop);
}

Test(dmu, sync_getpages_reads_whole_file)
{
	struct vm_object *obj = file_object("data", NULL);
	uint64_t npages = vm_object_npages(obj);
	for (uint64_t p = 0; p < npages; p += 5) {
		int n = (int)MIN(5, npages - p);
		struct vm_page *ma[5];
		cr_assert_eq(vm_page_grab_pages(obj, p, 0, ma, n), n);
		cr_assert_eq(pager_getpages(obj, ma, n, NULL, NULL), PAGER_OK);
		for (int i = 0; i < n; i++) {
			assert_page_bytes(ma[i], data_bytes, DATA_SIZE, p + i);
			vm_page_xunbusy(ma[i]);
		}
	}
	vm_object_deallocate(obj);
}

Test(dmu, haspage_reports_holes_and_record_bounds)
{
	struct vm_object *obj = file_object("sparse", NULL);
	const int ppr = RS / PAGE_SIZE;
	uint64_t npages = vm_object_npages(obj);
	for (uint64_t p = 0; p < npages + 3; p++) {
		int before = -1, after = -1;
		bool has = pager_haspage(obj, p, &before, &after);
		uint64_t rec = IDX_TO_OFF(p) >> RS_SHIFT;
		bool hole = (rec >= 2 && rec <= 5) || rec == 9;
		if (p >= npages || hole) {
			cr_assert_not(has, "page %llu: hole or past EOF", (unsigned long long)p);
			continue;
		}
		cr_assert(has, "page %llu has data", (unsigned long long)p);
		cr_assert_eq(before, (int)(p % ppr));
		uint64_t rec_end = MIN((rec + 1) * ppr, npages);
		cr_assert_eq(after, (int)(rec_end - p - 1), "page %llu after %d",
			     (unsigned long long)p, after);
	}
	vm_object_deallocate(obj);
}

Test(dmu, holes_and_eof_tail_read_as_zeros)
{
	struct vm_object *obj = file_object("sparse", NULL);
	uint64_t npages = vm_object_npages(obj);
	/* A run from the middle of record 1 across the holes 2..5 into record 6. */
	struct vm_page *ma[20];
	cr_assert_eq(vm_page_grab_pages(obj, 6, 0, ma, 20), 20);
	uint64_t holes0 = counter_get(&dmu_stats.holes);
	cr_assert_eq(pager_getpages(obj, ma, 20, NULL, NULL), PAGER_OK);
	cr_assert_eq(counter_get(&dmu_stats.holes) - holes0, 4);
	for (int i = 0; i < 20; i++) {
		assert_page_bytes(ma[i], sparse_bytes, SPARSE_SIZE, 6 + i);
		uint64_t rec = IDX_TO_OFF(6 + i) >> RS_SHIFT;
		if (rec >= 2 && rec <= 5) {
			static const uint8_t zero[PAGE_SIZE];
			cr_assert(memcmp(vm_page_data(ma[i]), zero, PAGE_SIZE) == 0);
		}
		vm_page_xunbusy(ma[i]);
	}
	/* The last page: 17 bytes of file, the rest zero even if the frame was dirty. */
	struct vm_page *m = vm_page_grab(obj, npages - 1, 0);
	memset(vm_page_data(m), 0xAB, PAGE_SIZE);
	cr_assert_eq(pager_getpages(obj, &m, 1, NULL, NULL), PAGER_OK);
	assert_page_bytes(m, sparse_bytes, SPARSE_SIZE, npages - 1);
	const uint8_t *b = vm_page_data(m);
	for (unsigned i = SPARSE_SIZE % PAGE_SIZE; i < PAGE_SIZE; i++)
		cr_assert_eq(b[i], 0, "byte %u past EOF is %#x", i, b[i]);
	vm_page_xunbusy(m);
	vm_object_deallocate(obj);
}

Test(dmu, request_past_eof_is_bad)
{
	struct vm_object *obj = file_object("data", NULL);
	uint64_t npages = vm_object_npages(obj);
	struct vm_page *ma[2];
	cr_assert_eq(vm_page_grab_pages(obj, npages - 1, 0, ma, 2), 2);
	/* The pager itself, not the dispatch: rule checks are about callers. */
	cr_assert_eq(objfs_pager_ops.getpages(obj, ma, 2, NULL, NULL), PAGER_BAD);
	cr_assert_eq(ma[0]->valid, 0);
	vm_page_xunbusy(ma[0]);
	vm_page_xunbusy(ma[1]);
	vm_object_deallocate(obj);
}

/* ---- corruption ---- */

static void
corrupt_copy(const char *src, const char *name, uint64_t blkid, char *out, size_t outlen)
{
	struct objfs_dnode dn;
	struct objfs_bp bp;
	cr_assert_eq(objfs_image_lookup(fs->img, name, &dn), 0);
	cr_assert_eq(objfs_image_bp(fs->img, &dn, blkid, &bp), 0);
	cr_assert_not(objfs_bp_is_hole(&bp));
	snprintf(out, outlen, "%s.bad", src);
	struct stat st;
	cr_assert_eq(stat(src, &st), 0);
	uint8_t *buf = malloc(st.st_size);
	int fd = open(src, O_RDONLY);
	cr_assert_eq(read(fd, buf, st.st_size), st.st_size);
	close(fd);
	buf[bp.offset + bp.psize / 2] ^= 0x40;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_eq(write(fd, buf, st.st_size), st.st_size);
	close(fd);
	free(buf);
}

static void
eio_run(struct io_loop *loop)
{
	char bad[128];
	corrupt_copy(image, "data", 3, bad, sizeof(bad));
	objfs_fs_rele(fs);
	arc_destroy(arc);
	open_image(bad);
	unlink(bad);

	struct vm_object *obj = file_object("data", NULL);
	for (int attempt = 0; attempt < 2; attempt++) {
		/* Pages 10..17 span records 2, 3 (corrupt) and 4; page 13 pre-cached? no: 3 is bad. */
		struct vm_page *ma[8];
		cr_assert_eq(vm_page_grab_pages(obj, 10, 0, ma, 8), 8);
		int rb = 2, ra = 2;
		struct done d = {0};
		cr_assert_eq(pager_getpages_async(obj, ma, 8, &rb, &ra, on_done, &d), PAGER_OK);
		if (loop != NULL)
			io_loop_run_until(loop, &d.fired);
		cr_assert_eq(d.calls, 1);
		cr_assert_eq(d.error, -EIO);
		for (int i = 0; i < 8; i++) {
			cr_assert(vm_page_xbusied(ma[i]), "rule 10: still xbusy after an error");
			cr_assert_eq(ma[i]->valid, 0, "rule 10: no valid bits after an error");
			vm_page_free(ma[i], false);
		}
		cr_assert(vm_quiescent(), "an error left a page busy or wired");
		cr_assert_eq(counter_get(&arc_stats(arc)->fill_errors), (uint64_t)attempt + 1,
			     "the failed record must not be cached");
	}
	/* Sync getpages fails the same way; records beside the bad one still read. */
	struct vm_page *m = vm_page_grab(obj, 13, 0);
	cr_assert_eq(pager_getpages(obj, &m, 1, NULL, NULL), PAGER_ERROR);
	vm_page_free(m, false);
	m = vm_page_grab(obj, 16, 0);
	cr_assert_eq(pager_getpages(obj, &m, 1, NULL, NULL), PAGER_OK);
	assert_page_bytes(m, data_bytes, DATA_SIZE, 16);
	vm_page_xunbusy(m);
	cr_assert_gt(counter_get(&objfs_image_stats(fs->img)->cksum_errors), 0);
	vm_object_deallocate(obj);
}

Test(dmu, corrupted_record_is_eio_and_leaves_nothing_busy)
{
	eio_run(NULL);
}

Test(dmu, corrupted_record_is_eio_through_io_uring)
{
	struct io_loop *loop;
	cr_assert_eq(io_loop_create(&loop, 64, 0), 0);
	eio_run(loop);
	io_loop_destroy(loop);
}

/* ---- streams past the ARC ---- */

/*
 * Their own image: records of 32 KiB, so that they are stored aligned and
 * O_DIRECT can read them into pages (OBJFS_ALIGN_MIN_PSIZE).  "s" has
 * 10 whole records, noise (stored uncompressed) and text (compressed) in
 * turn, and a tail of 1234 bytes in record 10.
 */
#define S_RS_SHIFT 15
#define S_RS       (1u << S_RS_SHIFT)
#define S_RECS     11
#define S_SIZE     (10 * S_RS + 1234)
#define S_PAGES    (S_RS / PAGE_SIZE)

static char s_dir[64], s_image[96];
static uint8_t *s_bytes;

static void
stream_image_open(void)
{
	strcpy(s_dir, "/tmp/vmsend-dmu-s-XXXXXX");
	cr_assert_not_null(mkdtemp(s_dir));
	snprintf(s_image, sizeof(s_image), "%s.img", s_dir);
	s_bytes = malloc(S_SIZE);
	for (size_t i = 0; i < S_SIZE; i++)
		s_bytes[i] = (i / S_RS) % 2 ? "the quick brown fox "[i % 20] : (uint8_t)rnd();
	write_file(s_dir, "s", s_bytes, S_SIZE);
	(void)make_image(s_dir, s_image, S_RS_SHIFT);
	char path[160];
	snprintf(path, sizeof(path), "%s/s", s_dir);
	unlink(path);
	rmdir(s_dir);
	objfs_fs_rele(fs);
	arc_destroy(arc);
	open_image(s_image);
}

static void
stream_image_close(void)
{
	unlink(s_image);
	free(s_bytes);
}

/*
 * Read record `rec` of "s" as sendfile's read-ahead does: its pages in one
 * getpages_async.  On success the bytes are checked and the pages
 * unbusied; on an error no page may be valid, and they are freed.
 */
static int
stream_record(struct vm_object *obj, uint64_t rec, struct io_loop *loop)
{
	uint64_t p0 = rec * S_PAGES;
	int count = (int)MIN((uint64_t)S_PAGES, vm_object_npages(obj) - p0);
	struct vm_page *ma[S_PAGES];
	cr_assert_eq(vm_page_grab_pages(obj, p0, 0, ma, count), count);
	struct done d = {0};
	cr_assert_eq(pager_getpages_async(obj, ma, count, NULL, NULL, on_done, &d), PAGER_OK);
	io_loop_run_until(loop, &d.fired);
	cr_assert_eq(d.calls, 1);
	for (int i = 0; i < count; i++) {
		if (d.error == 0) {
			assert_page_bytes(ma[i], s_bytes, S_SIZE, p0 + i);
			vm_page_xunbusy(ma[i]);
		} else {
			cr_assert_eq(ma[i]->valid, 0, "record %llu: a page is valid after %d",
				     (unsigned long long)rec, d.error);
			vm_page_free(ma[i], false);
		}
	}
	return d.error;
}

/*
 * Leave the head of the free list in every other frame, so that the pages a
 * stream grabs next are not consecutive frames (vm.c hands frames out in
 * free-list order): drain the free list into a junk object, free every
 * other page of it.  Returns the junk object, holding the rest busy.
 */
static struct vm_object *
scatter_free_frames(struct vm_page ***held, int *nheld)
{
	static char junk[4 << 20];
	struct vm_object *obj = mempager_create(junk, sizeof(junk), 0, "junk");
	struct vm_page **ma = calloc(sizeof(junk) / PAGE_SIZE, sizeof(*ma));
	int n = vm_page_grab_pages(obj, 0, VM_ALLOC_NOWAIT, ma, (int)(sizeof(junk) / PAGE_SIZE));
	cr_assert_gt(n, 2 * S_RECS * S_PAGES, "the cache is too small to drain usefully");
	int kept = 0;
	for (int i = 0; i < n; i++) {
		if (i % 2 == 0)
			vm_page_free(ma[i], false);
		else
			ma[kept++] = ma[i];
	}
	*held = ma;
	*nheld = kept;
	return obj;
}

/*
 * Records 0 and 1 start the stream; from record 2 on, records go straight
 * into their pages: all but the tail (it ends inside its record) when the
 * pages are consecutive frames, only those stored uncompressed (the even
 * ones) when they are not.  The rest go through the ARC, and with
 * objfs_stream_direct_after 0, everything does.
 */
static void
stream_all(int64_t after, uint64_t want_direct, bool scattered)
{
	stream_image_open();
	struct vm_page **held = NULL;
	int nheld = 0;
	struct vm_object *junk = scattered ? scatter_free_frames(&held, &nheld) : NULL;
	struct io_loop *loop;
	cr_assert_eq(io_loop_create(&loop, 64, 0), 0);
	int64_t saved = objfs_stream_direct_after;
	objfs_stream_direct_after = after;
	struct vm_object *obj = file_object("s", NULL);
	uint64_t direct0 = counter_get(&dmu_stats.records_direct);
	uint64_t miss0 = counter_get(&arc_stats(arc)->misses);
	for (uint64_t rec = 0; rec < S_RECS; rec++)
		cr_assert_eq(stream_record(obj, rec, loop), 0, "record %llu",
			     (unsigned long long)rec);
	cr_assert_eq(counter_get(&dmu_stats.records_direct) - direct0, want_direct);
	cr_assert_eq(counter_get(&arc_stats(arc)->misses) - miss0, S_RECS - want_direct,
		     "a record read straight into pages went through the ARC too");
	vm_object_deallocate(obj);
	if (junk != NULL) {
		for (int i = 0; i < nheld; i++)
			vm_page_free(held[i], false);
		free(held);
		vm_object_deallocate(junk);
	}
	objfs_stream_direct_after = saved;
	io_loop_destroy(loop);
	stream_image_close();
}

Test(dmu, a_stream_reads_records_straight_into_consecutive_pages)
{
	stream_all(2, 8, false); /* records 2 to 9, compressed or not */
}

Test(dmu, a_stream_in_scattered_pages_reads_uncompressed_records_in_place)
{
	stream_all(2, 4, true); /* records 2, 4, 6, 8 */
}

Test(dmu, without_stream_detection_every_record_goes_through_the_arc)
{
	stream_all(0, 0, false);
}

Test(dmu, a_streams_short_reads_are_resumed)
{
	extern int64_t objfs_failpoint_short_read;
	objfs_failpoint_short_read = 5000; /* reads end inside a page, not at a piece's end */
	stream_all(2, 8, false);
	stream_all(2, 4, true);
	objfs_failpoint_short_read = 0;
}

/*
 * A record read straight into pages that fails (a flipped byte, or an
 * injected EIO from the disk) fails its run alone: its pages are not valid,
 * nothing stays busy, and the stream's other records read fine.
 */
static void
stream_with_bad_record(bool inject, uint64_t badrec)
{
	extern int64_t objfs_failpoint_read_nth;
	stream_image_open();
	if (!inject) {
		char bad[128];
		corrupt_copy(s_image, "s", badrec, bad, sizeof(bad));
		objfs_fs_rele(fs);
		arc_destroy(arc);
		open_image(bad);
		unlink(bad);
	}
	struct io_loop *loop;
	cr_assert_eq(io_loop_create(&loop, 64, 0), 0);
	struct vm_object *obj = file_object("s", NULL);
	struct objfs_image_stats *st = objfs_image_stats(fs->img);
	uint64_t cksum0 = counter_get(&st->cksum_errors), io0 = counter_get(&st->io_errors);
	for (uint64_t rec = 0; rec < S_RECS; rec++) {
		if (inject && rec == badrec)
			objfs_image_fail_next_read(fs->img);
		uint64_t direct0 = counter_get(&dmu_stats.records_direct);
		int error = stream_record(obj, rec, loop);
		cr_assert_eq(error, rec == badrec ? -EIO : 0, "record %llu",
			     (unsigned long long)rec);
		if (rec == badrec)
			cr_assert_eq(counter_get(&dmu_stats.records_direct) - direct0, 1,
				     "record %llu was not read straight into pages",
				     (unsigned long long)badrec);
	}
	objfs_failpoint_read_nth = 0;
	if (inject)
		cr_assert_eq(counter_get(&st->io_errors) - io0, 1);
	else
		cr_assert_eq(counter_get(&st->cksum_errors) - cksum0, 1);
	cr_assert(vm_quiescent(), "a failed stream record left a page busy or wired");
	/* Nothing bad was kept: once an injected fault is gone, the record reads. */
	if (inject)
		cr_assert_eq(stream_record(obj, badrec, loop), 0);
	vm_object_deallocate(obj);
	io_loop_destroy(loop);
	stream_image_close();
}

Test(dmu, a_corrupt_record_in_a_stream_is_eio_for_its_run_alone)
{
	stream_with_bad_record(false, 4); /* read in place */
}

Test(dmu, a_corrupt_compressed_record_in_a_stream_is_eio_for_its_run_alone)
{
	stream_with_bad_record(false, 5); /* decompressed into the pages */
}

Test(dmu, an_injected_disk_error_in_a_stream_is_eio_for_its_run_alone)
{
	stream_with_bad_record(true, 4);
}

/* ---- the incident ---- */

/* [m0, bogus, m2]: page 1 pre-cached and unbusied, as sendfile's coalesce builds it. */
static void
bogus_array(struct vm_object *obj, struct vm_page **ma, struct vm_page **real1)
{
	precache(obj, 1);
	cr_assert_eq(vm_page_grab_pages(obj, 0, 0, ma, 3), 3);
	*real1 = ma[1];
	vm_page_xunbusy(ma[1]);
	ma[1] = bogus_page;
}

/*
 * Runs in a forked child: no cr_assert here (with --full-stats every
 * assertion messages the Criterion runner, which knows nothing of this
 * process); a setup failure exits with a code death_expect reports.
 */
static __attribute__((unused)) void /* used only with INVARIANTS */
read_2018_with_bogus(void *arg)
{
	extern int64_t pager_contract_checks;
	pager_contract_checks = 0; /* behave like FreeBSD in 2018: no dispatch checks */
	struct objfs_dnode dn;
	if (objfs_image_lookup(fs->img, "data", &dn) != 0)
		_exit(3);
	struct vm_object *obj = dmu_object_create(fs, &dn, "data", &objfs_pager_2018_ops);
	struct vm_page *ma[3];
	if (obj == NULL)
		_exit(4);
	struct vm_page *m = vm_page_grab(obj, 1, 0);
	if (m == NULL || pager_getpages(obj, &m, 1, NULL, NULL) != PAGER_OK)
		_exit(5);
	vm_page_xunbusy(m);
	if (vm_page_grab_pages(obj, 0, 0, ma, 3) != 3)
		_exit(6);
	vm_page_xunbusy(ma[1]);
	ma[1] = bogus_page;
	struct done d = {0};
	pager_getpages_async(obj, ma, 3, NULL, NULL, on_done, &d);
	_exit(0); /* not reached with INVARIANTS */
}

Test(dmu, the_2018_variant_panics_on_bogus_page)
{
#ifdef VMSEND_INVARIANTS
	char out[4096];
	cr_assert(death_expect(read_2018_with_bogus, NULL, "vm_page_assert_xbusied: page", out,
			       sizeof(out)));
	cr_assert_not_null(strstr(out, "not exclusive busy @ "), "%s", out);
	cr_assert_not_null(strstr(out, "src/fs/objfs/dmu.c:"), "%s", out);
#endif
	/* The fixed pager reads the same array: bogus slot skipped, page 1 untouched. */
	struct vm_object *obj = file_object("data", NULL);
	struct vm_page *ma[3], *real1;
	bogus_array(obj, ma, &real1);
	memset(vm_page_data(bogus_page), 0x5A, PAGE_SIZE);
	struct done d = {0};
	cr_assert_eq(pager_getpages_async(obj, ma, 3, NULL, NULL, on_done, &d), PAGER_OK);
	cr_assert_eq(d.error, 0);
	assert_page_bytes(ma[0], data_bytes, DATA_SIZE, 0);
	assert_page_bytes(real1, data_bytes, DATA_SIZE, 1);
	assert_page_bytes(ma[2], data_bytes, DATA_SIZE, 2);
	const uint8_t *sink = vm_page_data(bogus_page);
	cr_assert_eq(sink[0], 0x5A, "objfs has no contiguous read: nothing goes to the sink");
	cr_assert_eq(bogus_page->valid, 0, "no valid bits on bogus_page");
	vm_page_xunbusy(ma[0]);
	vm_page_xunbusy(ma[2]);
	vm_object_deallocate(obj);
}

Test(dmu, empty_file_has_no_pages)
{
	struct vm_object *obj = file_object("empty", NULL);
	cr_assert_eq(vm_object_npages(obj), 0);
	cr_assert_not(pager_haspage(obj, 0, NULL, NULL));
	vm_object_deallocate(obj);
}

struct stat_find {
	const char *name;
	uint64_t value;
	int seen, total;
};

static void
stat_find(void *arg, const char *name, uint64_t value, const char *desc)
{
	struct stat_find *f = arg;
	f->total++;
	cr_assert(desc != NULL && desc[0] != '\0', "%s has no description", name);
	if (strcmp(name, f->name) == 0) {
		f->seen++;
		f->value = value;
	}
}

Test(dmu, stats_are_listed_for_metrics)
{
	struct vm_object *obj = file_object("data", NULL);
	struct vm_page *ma[3], *real1;
	bogus_array(obj, ma, &real1);
	struct done d = {0};
	cr_assert_eq(pager_getpages_async(obj, ma, 3, NULL, NULL, on_done, &d), PAGER_OK);
	vm_page_xunbusy(ma[0]);
	vm_page_xunbusy(ma[2]);
	struct stat_find f = {.name = "dmu_bogus_skipped"};
	dmu_stats_foreach(stat_find, &f);
	cr_assert_eq(f.seen, 1);
	cr_assert_eq(f.value, 1);
	cr_assert_eq(f.total, 11);
	vm_object_deallocate(obj);
}

/* ---- two threads, one record ---- */

struct loop_reader {
	struct vm_object *obj;
	struct vm_page *ma[2];
	struct done d;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool started, go;
	volatile bool both_done;
	struct done *other;
	pid_t other_tid;
};

static _Atomic pid_t main_done_tid;

static void
on_done_tid(void *arg, struct vm_page **ma, int count, int error)
{
	atomic_store(&main_done_tid, gettid());
	on_done(arg, ma, count, error);
}

static void *
loop_reader_main(void *arg)
{
	struct loop_reader *lr = arg;
	struct io_loop *loop;
	VERIFY0(io_loop_create(&loop, 16, 0));
	VERIFY3S(vm_page_grab_pages(lr->obj, 0, 0, lr->ma, 2), ==, 2);
	VERIFY0(pager_getpages_async(lr->obj, lr->ma, 2, NULL, NULL, on_done, &lr->d));
	pthread_mutex_lock(&lr->lock);
	lr->started = true;
	pthread_cond_broadcast(&lr->cv);
	while (!lr->go)
		pthread_cond_wait(&lr->cv, &lr->lock);
	pthread_mutex_unlock(&lr->lock);
	while (!(lr->d.fired && lr->other->fired))
		VERIFY3S(io_loop_run_once(loop, true, 0), >=, 0);
	io_loop_destroy(loop);
	return NULL;
}

Test(dmu, a_second_thread_joins_the_first_threads_fill)
{
	/*
	 * The helper thread misses record 0 and its io_uring read waits until
	 * it runs its loop.  Meanwhile this thread (no loop of its own) asks for
	 * other pages of the same record: it must join that fill rather than
	 * read again, and its iodone runs on the helper's thread.
	 */
	struct vm_object *obj = file_object("data", NULL);
	struct loop_reader lr = {.obj = obj};
	struct done mine = {0};
	lr.other = &mine;
	pthread_mutex_init(&lr.lock, NULL);
	pthread_cond_init(&lr.cv, NULL);
	pthread_t th;
	uint64_t fills0 = counter_get(&objfs_image_stats(fs->img)->async_reads);
	cr_assert_eq(pthread_create(&th, NULL, loop_reader_main, &lr), 0);
	pthread_mutex_lock(&lr.lock);
	while (!lr.started)
		pthread_cond_wait(&lr.cv, &lr.lock);
	pthread_mutex_unlock(&lr.lock);

	struct vm_page *ma[2];
	cr_assert_eq(vm_page_grab_pages(obj, 2, 0, ma, 2), 2);
	cr_assert_eq(pager_getpages_async(obj, ma, 2, NULL, NULL, on_done_tid, &mine), PAGER_OK);
	cr_assert_not(mine.fired, "the record is still being read by the other thread");
	cr_assert_eq(counter_get(&arc_stats(arc)->io_hits), 1);

	pthread_mutex_lock(&lr.lock);
	lr.go = true;
	pthread_cond_broadcast(&lr.cv);
	pthread_mutex_unlock(&lr.lock);
	pthread_join(th, NULL);

	cr_assert_eq(lr.d.calls, 1);
	cr_assert_eq(mine.calls, 1);
	cr_assert_eq(lr.d.error, 0);
	cr_assert_eq(mine.error, 0);
	cr_assert_neq(atomic_load(&main_done_tid), gettid(),
		      "completion came from the loop thread");
	cr_assert_eq(counter_get(&objfs_image_stats(fs->img)->async_reads) - fills0, 1,
		     "one read for both requests");
	for (int i = 0; i < 2; i++) {
		assert_page_bytes(lr.ma[i], data_bytes, DATA_SIZE, i);
		assert_page_bytes(ma[i], data_bytes, DATA_SIZE, 2 + i);
		vm_page_xunbusy(lr.ma[i]);
		vm_page_xunbusy(ma[i]);
	}
	vm_object_deallocate(obj);
}

/* ---- corruption anywhere: EIO or the right bytes, never wrong bytes ---- */

static void
read_all_checked(struct objfs_fs *bfs, const char *name, const uint8_t *file, uint64_t size,
		 int *errors, int *good)
{
	struct objfs_dnode dn;
	if (objfs_image_lookup(bfs->img, name, &dn) != 0) {
		(*errors)++;
		return;
	}
	cr_assert_eq(dn.size, size, "a size that passed its checksum must be right");
	struct vm_object *obj = dmu_object_create(bfs, &dn, name, NULL);
	cr_assert_not_null(obj);
	uint64_t npages = vm_object_npages(obj);
	for (uint64_t p = 0; p < npages; p += 3) {
		int n = (int)MIN(3, npages - p);
		struct vm_page *ma[3];
		cr_assert_eq(vm_page_grab_pages(obj, p, 0, ma, n), n);
		int rv = pager_getpages(obj, ma, n, NULL, NULL);
		for (int i = 0; i < n; i++) {
			if (rv == PAGER_OK) {
				assert_page_bytes(ma[i], file, size, p + i);
				vm_page_xunbusy(ma[i]);
			} else {
				cr_assert_eq(rv, PAGER_ERROR);
				cr_assert_eq(ma[i]->valid, 0);
				vm_page_free(ma[i], false);
			}
		}
		if (rv == PAGER_OK)
			(*good)++;
		else
			(*errors)++;
	}
	vm_object_deallocate(obj);
}

Test(dmu, flipped_bytes_read_back_as_eio_never_as_wrong_bytes)
{
	struct stat st;
	cr_assert_eq(stat(image, &st), 0);
	uint8_t *orig = malloc(st.st_size);
	int fd = open(image, O_RDONLY);
	cr_assert_eq(read(fd, orig, st.st_size), st.st_size);
	close(fd);
	char bad[128];
	snprintf(bad, sizeof(bad), "%s.flip", image);
	int errors = 0, good = 0, unopenable = 0;
	/* 61 offsets spread over the whole image: header, uberblocks, data, metadata. */
	for (int k = 0; k < 61; k++) {
		uint64_t off = (uint64_t)k * (uint64_t)(st.st_size - 1) / 60;
		orig[off] ^= 0x10;
		fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		cr_assert_eq(write(fd, orig, st.st_size), st.st_size);
		close(fd);
		orig[off] ^= 0x10;

		struct arc_config cfg = {.size = 8 * RS, .name = "flip"};
		struct arc *farc = arc_create(&cfg);
		struct objfs_fs *bfs;
		char err[256];
		if (objfs_fs_open(bad, farc, &bfs, err, sizeof(err)) != 0) {
			unopenable++;
			arc_destroy(farc);
			continue;
		}
		read_all_checked(bfs, "data", data_bytes, DATA_SIZE, &errors, &good);
		read_all_checked(bfs, "sparse", sparse_bytes, SPARSE_SIZE, &errors, &good);
		objfs_fs_rele(bfs);
		arc_destroy(farc);
	}
	unlink(bad);
	free(orig);
	cr_assert(vm_quiescent());
	cr_assert_gt(errors, 0, "some flips must land in file records and fail");
	cr_assert_gt(good, 0);
}

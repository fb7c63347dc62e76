/*
 * Tests for src/fs/hostfs/hostfs_pager.c: bytes through the page cache equal
 * pread() of the file, one read per run with bogus slots into the sink,
 * read-behind/ahead bounds, EOF zeroing, short reads, fallbacks, faults.
 */
#include "hostfs_test.h"

#include "core/tunable.h"
#include "core/util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[PATH_MAX];

static struct vnode *
lookup(const char *path)
{
	struct vnode *vp = NULL;
	int rv = vfs_lookup(path, &vp);

	cr_assert_eq(rv, 0, "lookup %s: %s", path, strerror(-rv));
	return vp;
}

/* The file "f" of `len` bytes of ht_fill's pattern `seed` (also left in data), looked up. */
static struct vnode *
file_f(char *data, size_t len, uint32_t seed)
{
	ht_fill(data, len, seed);
	ht_write_file(dir, "f", data, len);
	return lookup("/f");
}

static void
host_pread(const char *name, uint64_t off, size_t len, void *out)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, out, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void
host_pwrite(const char *name, uint64_t off, const void *buf, size_t len)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* Page `pindex` of obj: resident and valid? (test-only peek, under the object lock) */
static bool
page_valid(struct vm_object *obj, uint64_t pindex)
{
	struct vm_page *m;
	bool v;

	vm_object_lock(obj);
	m = vm_page_lookup(obj, pindex);
	v = m != NULL && vm_page_all_valid(m);
	vm_object_unlock(obj);
	return v;
}

static bool
page_resident(struct vm_object *obj, uint64_t pindex)
{
	struct vm_page *m;

	vm_object_lock(obj);
	m = vm_page_lookup(obj, pindex);
	vm_object_unlock(obj);
	return m != NULL;
}

/* ---- the data test: many random ranges, every mode ---- */

enum mode { M_SYNC, M_ASYNC_NOLOOP, M_ASYNC_SPLIT, M_ASYNC_COALESCE };

struct tfile {
	const char *name;
	size_t size;
	bool sparse;
};

static const struct tfile files[] = {
    {"empty", 0, false},
    {"one", 1, false},
    {"b511", 511, false},
    {"b4095", 4095, false},
    {"b4096", 4096, false},
    {"b4097", 4097, false},
    {"big", (3u << 20) + 123, false},
    {"sparse", (2u << 20) + 777, true},
};

static void
make_files(void)
{
	for (unsigned f = 0; f < nitems(files); f++) {
		char *buf = calloc(1, files[f].size + 1);

		ht_fill(buf, files[f].size, f + 1);
		if (!files[f].sparse) {
			ht_write_file(dir, files[f].name, buf, files[f].size);
		} else {
			/* Data at the start, around 1 MiB and at the end; holes between. */
			char path[PATH_MAX + 64];
			int fd;

			snprintf(path, sizeof(path), "%s/%s", dir, files[f].name);
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			cr_assert_geq(fd, 0);
			cr_assert_eq(ftruncate(fd, (off_t)files[f].size), 0);
			cr_assert_eq(pwrite(fd, buf, 5000, 0), 5000);
			cr_assert_eq(pwrite(fd, buf + (1 << 20) - 100, 9100, (1 << 20) - 100),
				     9100);
			cr_assert_eq(pwrite(fd, buf + files[f].size - 3000, 3000,
					    (off_t)files[f].size - 3000),
				     3000);
			close(fd);
		}
		free(buf);
	}
}

static void
data_test(bool direct, enum mode mode, bool rahead)
{
	struct io_loop *loop = NULL;
	struct ht_read_opts o = {
	    .async = mode != M_SYNC,
	    .coalesce = mode == M_ASYNC_COALESCE,
	    .rahead = rahead ? 8 : 0,
	    .rbehind = rahead ? 4 : 0,
	};
	struct ht_read_stats st = {0};
	uint64_t direct0 = counter_get(&hostfs_stats.direct_reads);
	uint64_t ra0 =
	    counter_get(&hostfs_stats.rahead_pages) + counter_get(&hostfs_stats.rbehind_pages);
	uint64_t bogus0 = counter_get(&hostfs_stats.bogus_slots);
	uint32_t seed = 12345u + (unsigned)mode * 7u + (direct ? 1000u : 0u) + (rahead ? 77u : 0u);

	ht_setup(dir, 16u << 20);
	cr_assert_eq(vms_tunable_set("hostfs_direct", direct ? "1" : "0"), 0);
	if (mode == M_ASYNC_SPLIT || mode == M_ASYNC_COALESCE)
		cr_assert_eq(io_loop_create(&loop, 64, IO_LOOP_ARENA), 0);
	make_files();
	for (unsigned f = 0; f < nitems(files); f++) {
		const struct tfile *tf = &files[f];
		char path[PATH_MAX + 64];
		char *want = malloc(tf->size + 1), *got = malloc(tf->size + 1);

		snprintf(path, sizeof(path), "/%s", tf->name);
		host_pread(tf->name, 0, tf->size, want);
		for (int round = 0; round < 3; round++) {
			struct vnode *vp = lookup(path);
			struct vm_object *obj = vp->object;

			cr_assert_not_null(obj);
			cr_assert_eq(obj->size, tf->size);
			cr_assert_eq(vp->va.size, tf->size);
			if (tf->size == 0)
				cr_assert_not(pager_haspage(obj, 0, NULL, NULL));
			for (int r = 0; r < 12 && tf->size > 0; r++) {
				uint32_t x = seed = seed * 1103515245u + 12345u;
				uint64_t off = (x >> 3) % tf->size;
				size_t maxlen = MIN(tf->size - off, (size_t)(300u << 10));
				size_t len = (r & 1) ? 1 + (x >> 7) % MIN(maxlen, 9000u)
						     : 1 + (x >> 5) % maxlen;

				if (r % 3 == 1) {
					/* Cache a few pages inside the next range first. */
					for (int k = 0; k < 3; k++) {
						uint64_t p = OFF_TO_IDX(off) +
							     (x >> (9 + k)) % (OFF_TO_IDX(len) + 1);
						struct ht_read_opts one = {.async = false};
						char pg[PAGE_SIZE];

						if (IDX_TO_OFF(p) >= tf->size)
							continue;
						size_t plen = MIN((size_t)PAGE_SIZE,
								  tf->size - IDX_TO_OFF(p));
						cr_assert_eq(ht_cache_read(obj, IDX_TO_OFF(p), plen,
									   pg, &one, &st),
							     0);
						cr_assert_eq(memcmp(pg, want + IDX_TO_OFF(p), plen),
							     0);
					}
				}
				memset(got, 0xa5, len);
				cr_assert_eq(ht_cache_read(obj, off, len, got, &o, &st), 0);
				cr_assert_eq(
				    memcmp(got, want + off, len), 0,
				    "%s: bytes differ in [%llu, +%zu) (%s, mode %d, ra %d)",
				    tf->name, (unsigned long long)off, len,
				    direct ? "direct" : "buffered", mode, rahead);
			}
			/* The whole file, with whatever is cached now. */
			if (tf->size > 0) {
				cr_assert_eq(ht_cache_read(obj, 0, tf->size, got, &o, &st), 0);
				cr_assert_eq(memcmp(got, want, tf->size), 0, "%s: whole file",
					     tf->name);
			}
			if (tf->sparse) {
				/* Page 100 (400 KiB) lies in the hole [5000, 1 MiB - 100). */
				cr_assert_not(pager_haspage(obj, 100, NULL, NULL));
				int before = -1, after = -1;
				cr_assert(pager_haspage(obj, 0, &before, &after));
				cr_assert_eq(before, 0);
				cr_assert_eq(after, 1, "data [0, 5000) ends in page 1");
			}
			vnode_rele(vp);
			vfs_cache_flush(); /* next round: a new object, nothing cached */
		}
		free(want);
		free(got);
	}
	cr_assert_eq(st.errors, 0);
	cr_assert_gt(st.holes, 0, "the sparse file's holes were never zero-filled");
	if (direct)
		cr_assert_gt(counter_get(&hostfs_stats.direct_reads), direct0);
	else
		cr_assert_eq(counter_get(&hostfs_stats.direct_reads), direct0);
	if (rahead)
		cr_assert_gt(counter_get(&hostfs_stats.rahead_pages) +
				 counter_get(&hostfs_stats.rbehind_pages),
			     ra0);
	else
		cr_assert_eq(counter_get(&hostfs_stats.rahead_pages) +
				 counter_get(&hostfs_stats.rbehind_pages),
			     ra0);
	if (mode == M_ASYNC_COALESCE) {
		cr_assert_gt(st.bogus, 0, "no bogus slot was ever used");
		cr_assert_eq(counter_get(&hostfs_stats.bogus_slots) - bogus0, (uint64_t)st.bogus);
	} else {
		cr_assert_eq(st.bogus, 0);
	}
	if (loop != NULL)
		io_loop_destroy(loop);
	ht_teardown(dir);
}

Test(hostfs_data, buffered_sync)
{
	data_test(false, M_SYNC, false);
}
Test(hostfs_data, buffered_sync_readahead)
{
	data_test(false, M_SYNC, true);
}
Test(hostfs_data, buffered_async_noloop_readahead)
{
	data_test(false, M_ASYNC_NOLOOP, true);
}
Test(hostfs_data, buffered_async_split)
{
	data_test(false, M_ASYNC_SPLIT, false);
}
Test(hostfs_data, buffered_async_coalesce)
{
	data_test(false, M_ASYNC_COALESCE, false);
}
Test(hostfs_data, buffered_async_coalesce_readahead)
{
	data_test(false, M_ASYNC_COALESCE, true);
}
Test(hostfs_data, direct_sync)
{
	data_test(true, M_SYNC, false);
}
Test(hostfs_data, direct_sync_readahead)
{
	data_test(true, M_SYNC, true);
}
Test(hostfs_data, direct_async_noloop)
{
	data_test(true, M_ASYNC_NOLOOP, false);
}
Test(hostfs_data, direct_async_split_readahead)
{
	data_test(true, M_ASYNC_SPLIT, true);
}
Test(hostfs_data, direct_async_coalesce)
{
	data_test(true, M_ASYNC_COALESCE, false);
}
Test(hostfs_data, direct_async_coalesce_readahead)
{
	data_test(true, M_ASYNC_COALESCE, true);
}

/* ---- one read per run; the sink protects valid pages ---- */

struct done_flag {
	bool done;
	int error, count;
	struct vm_page *slots[16];
};

static void
iodone_record(void *arg, struct vm_page **ma, int count, int error)
{
	struct done_flag *d = arg;

	d->count = count;
	d->error = error;
	for (int i = 0; i < count && i < 16; i++)
		d->slots[i] = ma[i];
	d->done = true;
}

static void
bogus_sink_test(bool direct)
{
	enum { NP = 20 };
	static char oldb[NP * PAGE_SIZE], newb[NP * PAGE_SIZE];
	struct vm_page *ma[16], *run[16];
	struct io_loop *loop;
	struct done_flag d = {0};

	ht_setup(dir, 4u << 20);
	cr_assert_eq(vms_tunable_set("hostfs_direct", direct ? "1" : "0"), 0);
	cr_assert_eq(io_loop_create(&loop, 64, IO_LOOP_ARENA), 0);
	ht_fill(oldb, sizeof(oldb), 1);
	ht_fill(newb, sizeof(newb), 2);
	ht_write_file(dir, "f", oldb, sizeof(oldb));
	struct vnode *vp = lookup("/f");
	struct vm_object *obj = vp->object;

	/* Make pages 5, 6, 7 valid with the old bytes. */
	cr_assert_eq(vm_page_grab_pages(obj, 5, 0, ma, 3), 3);
	cr_assert_eq(pager_getpages(obj, ma, 3, NULL, NULL), PAGER_OK);
	for (int i = 0; i < 3; i++)
		vm_page_xunbusy(ma[i]);

	/* The file changes underneath: every byte is new. */
	host_pwrite("f", 0, newb, sizeof(newb));

	uint64_t ios = counter_get(&hostfs_stats.ios), subs = counter_get(&hostfs_stats.submits);
	uint64_t bog = counter_get(&hostfs_stats.bogus_slots);
	cr_assert_eq(vm_page_grab_pages(obj, 0, VM_ALLOC_WIRED, ma, 16), 16);
	for (int i = 0; i < 16; i++) {
		run[i] = ma[i];
		if (i >= 5 && i <= 7) {
			cr_assert(vm_page_all_valid(ma[i]));
			vm_page_xunbusy(
			    ma[i]); /* rule 3: the real page is valid, unbusied, wired */
			run[i] = bogus_page;
		}
	}
	int ra = 0;
	cr_assert_eq(pager_getpages_async(obj, run, 16, NULL, &ra, iodone_record, &d), PAGER_OK);
	io_wait_flag(loop, &d.done);
	cr_assert_eq(d.error, 0);
	cr_assert_eq(d.count, 16);
	for (int i = 5; i <= 7; i++)
		cr_assert_eq(d.slots[i], bogus_page, "iodone's array keeps bogus_page");
	cr_assert_eq(counter_get(&hostfs_stats.ios) - ios, 1, "one I/O for the run");
	cr_assert_eq(counter_get(&hostfs_stats.submits) - subs, 1, "one read SQE for the run");
	cr_assert_eq(counter_get(&hostfs_stats.bogus_slots) - bog, 3);
	for (int i = 0; i < 16; i++) {
		const char *want = (i >= 5 && i <= 7) ? oldb : newb;

		cr_assert(vm_page_all_valid(ma[i]));
		cr_assert_eq(memcmp(vm_page_data(ma[i]), want + (size_t)i * PAGE_SIZE, PAGE_SIZE),
			     0, "page %d: %s bytes expected", i,
			     (i >= 5 && i <= 7) ? "old (sink failed)" : "new");
		if (i < 5 || i > 7)
			vm_page_xunbusy(ma[i]);
		vm_page_unwire(ma[i]);
	}
	vnode_rele(vp);
	io_loop_destroy(loop);
	ht_teardown(dir);
}

Test(hostfs_io, bogus_run_is_one_read_and_sink_keeps_valid_pages_buffered)
{
	bogus_sink_test(false);
}

Test(hostfs_io, bogus_run_is_one_read_and_sink_keeps_valid_pages_direct)
{
	bogus_sink_test(true);
}

/* ---- read-behind / read-ahead ---- */

Test(hostfs_io, readahead_stops_at_cached_page_and_eof)
{
	enum { NP = 24 };
	static char oldb[NP * PAGE_SIZE], newb[NP * PAGE_SIZE];
	struct vm_page *m;
	int rb, ra;

	ht_setup(dir, 4u << 20);
	ht_fill(oldb, sizeof(oldb), 3);
	ht_fill(newb, sizeof(newb), 4);
	ht_write_file(dir, "f", oldb, sizeof(oldb));
	struct vnode *vp = lookup("/f");
	struct vm_object *obj = vp->object;

	/* Cache page 4 (old bytes), then change the file. */
	m = vm_page_grab(obj, 4, 0);
	cr_assert_eq(pager_getpages(obj, &m, 1, NULL, NULL), PAGER_OK);
	vm_page_xunbusy(m);
	host_pwrite("f", 0, newb, sizeof(newb));

	/* Read page 0 offering 8 ahead: pages 1-3 only, page 4 untouched. */
	m = vm_page_grab(obj, 0, 0);
	rb = 0;
	ra = 8;
	cr_assert_eq(pager_getpages(obj, &m, 1, &rb, &ra), PAGER_OK);
	vm_page_xunbusy(m);
	cr_assert_eq(ra, 3);
	for (uint64_t p = 1; p <= 3; p++)
		cr_assert(page_valid(obj, p));
	cr_assert_not(page_resident(obj, 5), "read-ahead went past the cached page");
	m = vm_page_grab(obj, 4, VM_ALLOC_NOBUSY);
	cr_assert_eq(memcmp(vm_page_data(m), oldb + 4 * PAGE_SIZE, PAGE_SIZE), 0,
		     "read-ahead overwrote a cached page");

	/* Read-behind from page 12 offering 4: pages 8-11 with the new bytes. */
	m = vm_page_grab(obj, 12, 0);
	rb = 4;
	ra = 0;
	cr_assert_eq(pager_getpages(obj, &m, 1, &rb, &ra), PAGER_OK);
	vm_page_xunbusy(m);
	cr_assert_eq(rb, 4);
	for (uint64_t p = 8; p <= 12; p++) {
		cr_assert(page_valid(obj, p));
		m = vm_page_grab(obj, p, VM_ALLOC_NOBUSY);
		cr_assert_eq(memcmp(vm_page_data(m), newb + p * PAGE_SIZE, PAGE_SIZE), 0);
	}
	cr_assert_not(page_resident(obj, 7));

	/* Read-ahead is clamped to EOF: page 21 offering 10 ahead gets 2. */
	m = vm_page_grab(obj, 21, 0);
	rb = 0;
	ra = 10;
	cr_assert_eq(pager_getpages(obj, &m, 1, &rb, &ra), PAGER_OK);
	vm_page_xunbusy(m);
	cr_assert_eq(ra, 2);
	cr_assert(page_valid(obj, 23));
	cr_assert_not(page_resident(obj, 24));
	cr_assert(vm_quiescent());
	vnode_rele(vp);
	ht_teardown(dir);
}

/* ---- EOF tail, growth, short reads, fallbacks ---- */

Test(hostfs_io, eof_tail_is_zeroed_even_if_the_file_grew)
{
	static char junk[64 * PAGE_SIZE], data[4097], more[8192];
	struct ht_read_opts o = {0};
	struct ht_read_stats st = {0};
	struct vm_page *m;

	ht_setup(dir, 256u << 10); /* small arena: the junk pages get reused */
	/* junk is read wired whole: all 64 pages, past the wired bound (vm.h, rule 1). */
	cr_assert_eq(vms_tunable_set("vm_max_wired_pct", "100"), 0);
	ht_fill(junk, sizeof(junk), 5);
	memset(junk, 0xee, sizeof(junk));
	ht_write_file(dir, "junk", junk, sizeof(junk));
	struct vnode *jv = lookup("/junk");
	static char tmp[sizeof(junk)];
	cr_assert_eq(ht_cache_read(jv->object, 0, sizeof(junk), tmp, &o, &st), 0);
	vnode_rele(jv);
	vfs_cache_flush(); /* junk's pages go back to the free list, 0xee inside */

	struct vnode *vp = file_f(data, sizeof(data), 6);
	/* The file grows after lookup: this version still ends at 4097. */
	ht_fill(more, sizeof(more), 7);
	host_pwrite("f", sizeof(data), more, sizeof(more));

	m = vm_page_grab(vp->object, 1, 0);
	cr_assert_eq(pager_getpages(vp->object, &m, 1, NULL, NULL), PAGER_OK);
	const unsigned char *p = vm_page_data(m);
	cr_assert_eq(p[0], (unsigned char)data[4096]);
	for (unsigned i = 1; i < PAGE_SIZE; i++)
		cr_assert_eq(p[i], 0, "byte %u past EOF is %#x", i, p[i]);
	vm_page_xunbusy(m);
	vnode_rele(vp);
	ht_teardown(dir);
}

/*
 * A file truncated in place after lookup: the read stops at the new EOF,
 * inside this version.  Zero-filling the rest (what happened) sent zeros as
 * the file's bytes; now the read fails and no page becomes valid.
 */
static void
shrink_test(bool direct, bool async, const char *disable)
{
	enum { NP = 16 };
	static char data[NP * PAGE_SIZE], got[sizeof(data)];
	struct ht_read_opts o = {.async = async};
	struct ht_read_stats st = {0};
	char path[PATH_MAX + 8];

	ht_setup(dir, 4u << 20);
	cr_assert_eq(vms_tunable_set("hostfs_direct", direct ? "1" : "0"), 0);
	cr_assert_eq(vms_tunable_set("io_disable", disable), 0);
	struct vnode *vp = file_f(data, sizeof(data), 10);
	snprintf(path, sizeof(path), "%s/f", dir);
	/* Inside a page: an O_DIRECT read restarted at its page boundary spun here for ever. */
	cr_assert_eq(truncate(path, 4 * PAGE_SIZE + 10), 0);
	uint64_t errs = counter_get(&hostfs_stats.errors);
	cr_assert_eq(ht_cache_read(vp->object, 0, sizeof(data), got, &o, &st), -EIO);
	cr_assert_gt(counter_get(&hostfs_stats.errors), errs);
	for (uint64_t i = 4; i < NP; i++)
		cr_assert_not(page_valid(vp->object, i), "page %llu past the new EOF is valid",
			      (unsigned long long)i);
	cr_assert(vm_quiescent());
	vnode_rele(vp);
	ht_teardown(dir);
}

Test(hostfs_io, a_file_that_shrank_after_lookup_fails_the_read_buffered)
{
	shrink_test(false, false, "0");
}

Test(hostfs_io, a_file_that_shrank_after_lookup_fails_the_read_direct_async)
{
	shrink_test(true, true, "0");
}

Test(hostfs_io, a_file_that_shrank_after_lookup_fails_the_read_direct_preadv)
{
	shrink_test(true, true, "16"); /* no io_uring READV: the blocking preadv loop */
}

static void
short_read_test(bool direct, const char *cap)
{
	enum { NP = 12 };
	static char data[NP * PAGE_SIZE - 100], got[sizeof(data)];
	struct ht_read_opts o = {.async = true, .rahead = 0};
	struct ht_read_stats st = {0};

	ht_setup(dir, 4u << 20);
	cr_assert_eq(vms_tunable_set("hostfs_direct", direct ? "1" : "0"), 0);
	cr_assert_eq(vms_tunable_set("hostfs_debug_read_cap", cap), 0);
	struct vnode *vp = file_f(data, sizeof(data), 8);
	uint64_t ios = counter_get(&hostfs_stats.ios), sh = counter_get(&hostfs_stats.short_reads);
	cr_assert_eq(ht_cache_read(vp->object, 0, sizeof(data), got, &o, &st), 0);
	cr_assert_eq(memcmp(got, data, sizeof(data)), 0);
	cr_assert_eq(counter_get(&hostfs_stats.ios) - ios, 1);
	cr_assert_gt(counter_get(&hostfs_stats.short_reads) - sh, 2, "short reads not resubmitted");
	vnode_rele(vp);
	ht_teardown(dir);
}

Test(hostfs_io, short_reads_are_completed_buffered)
{
	short_read_test(false, "1000");
}

Test(hostfs_io, short_reads_are_completed_direct)
{
	short_read_test(true, "8192");
}

Test(hostfs_io, without_io_uring_readv_reads_with_preadv)
{
	static char data[10 * PAGE_SIZE + 5], got[sizeof(data)];
	struct ht_read_opts o = {.async = true, .rahead = 4};
	struct ht_read_stats st = {0};

	ht_setup(dir, 4u << 20);
	cr_assert_eq(vms_tunable_set("io_disable", "16"), 0);
	struct vnode *vp = file_f(data, sizeof(data), 9);
	uint64_t sr = counter_get(&hostfs_stats.sync_reads);
	cr_assert_eq(ht_cache_read(vp->object, 0, sizeof(data), got, &o, &st), 0);
	cr_assert_eq(memcmp(got, data, sizeof(data)), 0);
	cr_assert_gt(counter_get(&hostfs_stats.sync_reads), sr);
	vnode_rele(vp);
	ht_teardown(dir);
}

/* Read 8 fresh pages with an event loop that registered the arena (or, with io_disable, not). */
static void
fixed_read_test(const char *io_disable_mask, uint64_t want_fixed)
{
	static char data[8 * PAGE_SIZE], got[sizeof(data)];
	struct ht_read_opts o = {.async = true};
	struct ht_read_stats st = {0};
	struct io_loop *loop;

	ht_setup(dir, 4u << 20);
	cr_assert_eq(vms_tunable_set("io_disable", io_disable_mask), 0);
	cr_assert_eq(io_loop_create(&loop, 64, IO_LOOP_ARENA), 0);
	struct vnode *vp = file_f(data, sizeof(data), 10);
	uint64_t fx = counter_get(&hostfs_stats.fixed_reads);
	uint64_t ios = counter_get(&hostfs_stats.ios);
	/* A fresh arena hands out frames in order: the run is contiguous. */
	cr_assert_eq(ht_cache_read(vp->object, 0, sizeof(data), got, &o, &st), 0);
	cr_assert_eq(memcmp(got, data, sizeof(data)), 0);
	cr_assert_eq(counter_get(&hostfs_stats.ios) - ios, 1);
	cr_assert_eq(counter_get(&hostfs_stats.fixed_reads) - fx, want_fixed, "io_disable=%s",
		     io_disable_mask);
	vnode_rele(vp);
	io_loop_destroy(loop);
	ht_teardown(dir);
}

Test(hostfs_io, consecutive_frames_use_read_fixed)
{
	fixed_read_test("0", 1);
}

Test(hostfs_io, without_fixed_buffers_reads_use_readv)
{
	fixed_read_test("4", 0);
}

Test(hostfs_io, without_read_fixed_op_reads_use_readv)
{
	fixed_read_test("8", 0);
}

Test(hostfs_io, private_ring_never_uses_read_fixed)
{
	static char data[8 * PAGE_SIZE], got[sizeof(data)];
	struct ht_read_opts o = {0};
	struct ht_read_stats st = {0};

	ht_setup(dir, 4u << 20);
	struct vnode *vp = file_f(data, sizeof(data), 14);
	uint64_t fx = counter_get(&hostfs_stats.fixed_reads);
	cr_assert_eq(ht_cache_read(vp->object, 0, sizeof(data), got, &o, &st), 0);
	cr_assert_eq(memcmp(got, data, sizeof(data)), 0);
	cr_assert_eq(counter_get(&hostfs_stats.fixed_reads), fx);
	/* The private ring survives a new arena: reads still land in it. */
	vnode_rele(vp);
	vfs_unmount_all();
	vm_fini();
	cr_assert_eq(vm_init(4u << 20), 0);
	cr_assert_eq(vfs_mount("/", "hostfs", dir, NULL), 0);
	vp = lookup("/f");
	memset(got, 0, sizeof(got));
	cr_assert_eq(ht_cache_read(vp->object, 0, sizeof(data), got, &o, &st), 0);
	cr_assert_eq(memcmp(got, data, sizeof(data)), 0);
	vnode_rele(vp);
	ht_teardown(dir);
}

/* ---- fault injection ---- */

/*
 * Eight pages, 2 and 5 cached: split mode makes three reads ([0,1] [3,4]
 * [6,7]), coalesce mode one (bogus at 2 and 5).  Fail the nth for n = 1, 2,
 * ...: the caller sees -EIO, the failed run's pages stay invalid, no page is
 * left busy or wired, and a retry reads the right bytes.
 */
static void
fault_test(enum mode mode, bool rahead)
{
	enum { NP = 8 };
	static char data[(NP + 8) * PAGE_SIZE], got[NP * PAGE_SIZE];
	struct io_loop *loop = NULL;
	struct ht_read_opts o = {
	    .async = mode != M_SYNC,
	    .coalesce = mode == M_ASYNC_COALESCE,
	    .rahead = rahead ? 4 : 0,
	};
	int ios_per_read = mode == M_ASYNC_COALESCE ? 1 : 3, n;

	ht_setup(dir, 4u << 20);
	if (mode == M_ASYNC_SPLIT || mode == M_ASYNC_COALESCE)
		cr_assert_eq(io_loop_create(&loop, 64, IO_LOOP_ARENA), 0);
	ht_fill(data, sizeof(data), 11);
	ht_write_file(dir, "f", data, sizeof(data));
	for (n = 1;; n++) {
		struct ht_read_stats st = {0};
		struct ht_read_opts one = {0};
		struct vnode *vp;
		struct vm_object *obj;
		uint64_t inj = counter_get(&hostfs_stats.injected);
		int rv;

		vfs_cache_flush();
		vp = lookup("/f");
		obj = vp->object;
		cr_assert_eq(ht_cache_read(obj, 2 * PAGE_SIZE, PAGE_SIZE, got, &one, &st), 0);
		cr_assert_eq(ht_cache_read(obj, 5 * PAGE_SIZE, PAGE_SIZE, got, &one, &st), 0);
		hostfs_fail_nth_read((unsigned)n, -EIO);
		rv = ht_cache_read(obj, 0, sizeof(got), got, &o, &st);
		cr_assert(vm_quiescent(), "n=%d: a page was left busy or wired", n);
		if (n > ios_per_read) {
			cr_assert_eq(rv, 0, "n=%d: only %d reads happen", n, ios_per_read);
			cr_assert_eq(counter_get(&hostfs_stats.injected), inj);
			cr_assert_eq(memcmp(got, data, sizeof(got)), 0);
			hostfs_fail_nth_read(0, -EIO);
			vnode_rele(vp);
			break;
		}
		cr_assert_eq(rv, -EIO, "n=%d: the caller must see the error", n);
		cr_assert_eq(counter_get(&hostfs_stats.injected) - inj, 1);
		/* The failed run's pages are not valid; the cached ones still are. */
		cr_assert(page_valid(obj, 2) && page_valid(obj, 5));
		if (mode == M_ASYNC_COALESCE) {
			for (uint64_t p = 0; p < NP; p++)
				if (p != 2 && p != 5)
					cr_assert_not(page_valid(obj, p), "n=%d page %llu", n,
						      (unsigned long long)p);
		} else {
			uint64_t first = (uint64_t)(n - 1) * 3; /* runs start at 0, 3, 6 */

			cr_assert_not(page_valid(obj, first));
			cr_assert_not(page_valid(obj, first + 1));
		}
		if (rahead)
			cr_assert_not(page_resident(obj, NP) && !page_valid(obj, NP),
				      "a failed read-ahead page was left behind invalid");
		/* A retry with no fault reads the right bytes. */
		cr_assert_eq(ht_cache_read(obj, 0, sizeof(got), got, &o, &st), 0);
		cr_assert_eq(memcmp(got, data, sizeof(got)), 0, "n=%d: retry bytes", n);
		vnode_rele(vp);
	}
	cr_assert_eq(n, ios_per_read + 1);
	if (loop != NULL)
		io_loop_destroy(loop);
	ht_teardown(dir);
}

Test(hostfs_fault, nth_read_fails_sync)
{
	fault_test(M_SYNC, false);
}

Test(hostfs_fault, nth_read_fails_sync_readahead)
{
	fault_test(M_SYNC, true);
}

Test(hostfs_fault, nth_read_fails_async_noloop)
{
	fault_test(M_ASYNC_NOLOOP, true);
}

Test(hostfs_fault, nth_read_fails_async_split)
{
	fault_test(M_ASYNC_SPLIT, false);
}

Test(hostfs_fault, nth_read_fails_async_coalesce_readahead)
{
	fault_test(M_ASYNC_COALESCE, true);
}

Test(hostfs_fault, nth_read_fails_without_readv)
{
	cr_assert_eq(vms_tunable_set("io_disable", "16"), 0);
	fault_test(M_ASYNC_NOLOOP, true);
}

/* ---- concurrency: readers racing on one object under reclaim pressure ---- */

enum { CONC_THREADS = 4, CONC_READS = 60 };

struct conc_arg {
	struct vm_object *obj;
	const char *want;
	size_t size;
	int id;
	int bad;
};

static void *
conc_reader(void *p)
{
	struct conc_arg *a = p;
	struct io_loop *loop = NULL;
	struct ht_read_opts o = {
	    .async = a->id != 0,
	    .coalesce = a->id == 2,
	    .rahead = a->id == 3 ? 0 : 8,
	    .rbehind = a->id == 1 ? 4 : 0,
	};
	struct ht_read_stats st = {0};
	static char bufs[CONC_THREADS][64 * 1024];
	char *got = bufs[a->id];
	uint32_t x = 777u + (unsigned)a->id;

	if (a->id == 2 && io_loop_create(&loop, 64, IO_LOOP_ARENA) != 0)
		a->bad++;
	for (int r = 0; r < CONC_READS; r++) {
		x = x * 1103515245u + 12345u;
		uint64_t off = (x >> 4) % a->size;
		size_t len = 1 + (x >> 9) % MIN(a->size - off, sizeof(bufs[0]));

		if (ht_cache_read(a->obj, off, len, got, &o, &st) != 0 ||
		    memcmp(got, a->want + off, len) != 0)
			a->bad++;
	}
	if (loop != NULL)
		io_loop_destroy(loop);
	io_loop_private_destroy();
	return NULL;
}

Test(hostfs_io, concurrent_readers_under_reclaim_agree_with_pread)
{
	enum { SIZE = 1u << 20 };
	static char data[SIZE];
	pthread_t th[CONC_THREADS];
	struct conc_arg args[CONC_THREADS];

	ht_setup(dir, 512u << 10); /* 128 pages for a 256-page file */
	ht_fill(data, SIZE, 40);
	ht_write_file(dir, "f", data, SIZE);
	struct vnode *vp = lookup("/f");
	uint64_t reclaims = counter_get(&vm_stats.reclaims);
	for (int i = 0; i < CONC_THREADS; i++) {
		args[i] = (struct conc_arg){.obj = vp->object, .want = data, .size = SIZE, .id = i};
		cr_assert_eq(pthread_create(&th[i], NULL, conc_reader, &args[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(args[i].bad, 0, "reader %d saw %d wrong reads", i, args[i].bad);
	}
	cr_assert_gt(counter_get(&vm_stats.reclaims), reclaims, "no reclaim pressure");
	vnode_rele(vp);
	ht_teardown(dir);
}

Test(hostfs_io, haspage_bounds_runs_by_holes_eof_and_io_size)
{
	struct vnode *vp;
	int b, a;

	ht_setup(dir, 4u << 20);
	make_files();
	vp =
	    lookup("/sparse"); /* data: [0, 5000) [1 MiB - 100, 1 MiB + 9000) [size - 3000, size) */
	struct vm_object *obj = vp->object;
	cr_assert_not(pager_haspage(obj, 2, NULL, NULL));
	cr_assert_not(pager_haspage(obj, 254, NULL, NULL));
	cr_assert(pager_haspage(obj, 256, &b, &a));
	cr_assert_eq(b, 1, "the region starts in page 255");
	cr_assert_eq(a, 2, "the region ends in page 258");
	cr_assert(pager_haspage(obj, 255, &b, &a));
	cr_assert_eq(b, 0);
	cr_assert_eq(a, 3);
	cr_assert_not(pager_haspage(obj, 259, NULL, NULL));
	cr_assert_not(pager_haspage(obj, 510, NULL, NULL));
	cr_assert(pager_haspage(obj, 512, &b, &a));
	cr_assert_eq(b, 1);
	cr_assert_eq(a, 0, "EOF");
	cr_assert_not(pager_haspage(obj, 513, NULL, NULL), "past EOF");
	vnode_rele(vp);

	/* A dense file: bounded by the I/O size and EOF only. */
	cr_assert_eq(vms_tunable_set("hostfs_max_io_pages", "16"), 0);
	vp = lookup("/big"); /* 769 pages */
	cr_assert(pager_haspage(vp->object, 100, &b, &a));
	cr_assert_eq(b, 15);
	cr_assert_eq(a, 15);
	cr_assert(pager_haspage(vp->object, 3, &b, &a));
	cr_assert_eq(b, 3);
	cr_assert(pager_haspage(vp->object, 766, &b, &a));
	cr_assert_eq(a, 2);
	cr_assert_not(pager_haspage(vp->object, 769, NULL, NULL));
	vnode_rele(vp);
	ht_teardown(dir);
}

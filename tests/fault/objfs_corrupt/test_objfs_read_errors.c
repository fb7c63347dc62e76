/*
 * Read errors from the disk under an objfs image, by fail point: the Nth
 * block read of an image fails with EIO, for N = 1, 2, ... until a whole
 * pass sees no failure.  Every read must give the right bytes or an error
 * (never wrong bytes), the failure must not be cached (the same image reads
 * everything once the fault is gone), and nothing may leak (ASan).  Short
 * reads (every read(2) moving 7 bytes) must be resumed, sync and io_uring.
 */
#include "core/log.h"
#include "core/tunable.h"
#include "fs/objfs/image.h"
#include "objfs_tree.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ttree tree;
static char image[300];
static int saved_level;

static void
setup(void)
{
	ttree_init(&tree, 4711);
	snprintf(image, sizeof(image), "%s.img", tree.root);
	saved_level = vms_log_level;
}

static void
teardown(void)
{
	vms_tunables_reset();
	vms_log_level = saved_level;
	ttree_fini(&tree);
	unlink(image);
}

TestSuite(objfs_read_errors, .init = setup, .fini = teardown, .timeout = 240);

/* Read every file; returns how many reads failed (each with -EIO). */
static int
read_all(struct objfs_image *img, char *buf, size_t bufsz)
{
	int failed = 0;
	for (size_t i = 0; i < tree.n; i++) {
		if (tree.e[i].dir)
			continue;
		struct objfs_dnode dn;
		int rc = objfs_image_lookup(img, tree.e[i].rel, &dn);
		ssize_t n = rc;
		if (rc == 0)
			n = objfs_image_pread(img, &dn, buf, bufsz, 0);
		if (n < 0) {
			cr_assert_eq(n, -EIO, "%s: %zd", tree.e[i].rel, n);
			failed++;
			continue;
		}
		size_t wl;
		char *want = ttree_read(&tree, tree.e[i].rel, &wl);
		cr_assert_eq((size_t)n, wl, "%s length", tree.e[i].rel);
		cr_assert(memcmp(buf, want, wl) == 0, "%s: WRONG BYTES", tree.e[i].rel);
		free(want);
	}
	return failed;
}

Test(objfs_read_errors, nth_block_read_fails_for_every_n)
{
	ttree_standard(&tree, 4096, 12);
	ttree_pack(&tree, image, 4096);
	size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	char num[32];
	vms_log_level = -1; /* one error line per injected failure otherwise */
	int n, clean_pass = 0;
	for (n = 1; n < 5000 && !clean_pass; n++) {
		snprintf(num, sizeof(num), "%d", n);
		cr_assert_eq(vms_tunable_set("objfs_failpoint_read_nth", num), 0);
		struct objfs_image *img;
		char err[256];
		int rc = objfs_image_open(image, OBJFS_OPEN_QUIET, &img, err, sizeof(err));
		if (rc != 0) {
			/* Only an I/O failure may stop an open of a good image. */
			cr_assert(rc == -EBADMSG || rc == -EIO, "N=%d: open %d: %s", n, rc, err);
			continue;
		}
		int failed = read_all(img, buf, bufsz);
		uint64_t ioerr = counter_get(&objfs_image_stats(img)->io_errors);
		cr_assert_leq(ioerr, 1, "N=%d: one injected failure, %llu errors", n,
			      (unsigned long long)ioerr);
		clean_pass = ioerr == 0 && failed == 0 && !objfs_image_info(img)->fell_back;
		if (!clean_pass)
			cr_assert_eq(ioerr, 1, "N=%d: a failed read without an I/O error", n);
		/* The fault is gone: the same image reads everything (nothing bad cached). */
		cr_assert_eq(vms_tunable_set("objfs_failpoint_read_nth", "0"), 0);
		cr_assert_eq(read_all(img, buf, bufsz), 0, "N=%d: a failure was cached", n);
		objfs_image_close(img);
	}
	cr_expect(clean_pass, "ran out of N before a clean pass");
	cr_expect_gt(n, 30, "the tree takes more than 30 block reads (%d)", n);
	free(buf);
	ttree_expect_no_leaks();
}

struct aread_ctx {
	struct objfs_aread ar;
	bool done;
	int error;
};

static void
aread_done(struct objfs_aread *ar, int error)
{
	struct aread_ctx *c = ar->arg;
	c->error = error;
	c->done = true;
}

Test(objfs_read_errors, short_reads_are_resumed)
{
	ttree_standard(&tree, 4096, 4);
	ttree_pack(&tree, image, 4096);
	cr_assert_eq(vms_tunable_set("objfs_failpoint_short_read", "7"), 0);
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(image, 0, &img, NULL, 0), 0);
	ttree_verify(&tree, img);

	struct io_loop *loop;
	cr_assert_eq(io_loop_create(&loop, 16, 0), 0);
	struct objfs_dnode dn;
	cr_assert_eq(objfs_image_lookup(img, "random.bin", &dn), 0);
	size_t wl;
	char *want = ttree_read(&tree, "random.bin", &wl);
	char *buf = malloc(4096);
	for (uint64_t b = 0; b < objfs_dnode_nrecords(&dn); b++) {
		struct aread_ctx c = {0};
		cr_assert_eq(objfs_image_bp(img, &dn, b, &c.ar.bp), 0);
		c.ar.buf = buf;
		c.ar.objnum = dn.objnum;
		c.ar.blkid = b;
		c.ar.done = aread_done;
		c.ar.arg = &c;
		objfs_image_read_async(img, loop, &c.ar);
		io_loop_run_until(loop, &c.done);
		cr_assert_eq(c.error, 0);
		cr_assert(memcmp(buf, want + b * 4096, c.ar.bp.lsize) == 0, "record %llu",
			  (unsigned long long)b);
	}
	/* And an injected failure through io_uring is EIO, zeroed, counted. */
	struct objfs_image_stats *st = objfs_image_stats(img);
	objfs_image_fail_next_read(img);
	struct aread_ctx c = {0};
	cr_assert_eq(objfs_image_bp(img, &dn, 1, &c.ar.bp), 0, "indirect cached: no read");
	memset(buf, 0x5a, 4096);
	c.ar.buf = buf;
	c.ar.objnum = dn.objnum;
	c.ar.blkid = 1;
	c.ar.done = aread_done;
	c.ar.arg = &c;
	vms_log_level = -1;
	objfs_image_read_async(img, loop, &c.ar);
	io_loop_run_until(loop, &c.done);
	cr_expect_eq(c.error, -EIO);
	cr_expect_eq(counter_get(&st->io_errors), 1);
	for (int k = 0; k < 4096; k++)
		cr_assert_eq(buf[k], 0);
	/* The next read of the same block succeeds. */
	c.done = false;
	objfs_image_read_async(img, loop, &c.ar);
	io_loop_run_until(loop, &c.done);
	cr_expect_eq(c.error, 0);
	cr_expect(memcmp(buf, want + 4096, 4096) == 0);
	objfs_image_close(img);
	free(buf);
	free(want);
	io_loop_destroy(loop);
	ttree_expect_no_leaks();
}

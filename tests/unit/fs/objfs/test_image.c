/*
 * The objfs image reader against images made by mkimage: round trips of
 * edge-case trees, holes, compression, block-pointer trees of several
 * levels, open failures (truncated, wrong magic, torn uberblocks), checksum
 * errors (EIO, counter, log line, zeroed buffer) and io_uring reads.
 */
#include "core/log.h"
#include "core/tunable.h"
#include "fs/objfs/format.h"
#include "fs/objfs/image.h"
#include "fs/objfs/mkimage.h"
#include "objfs_tree.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct ttree tree;
static char image[300];

static void
setup_tree(void)
{
	ttree_init(&tree, 0x5eed);
	snprintf(image, sizeof(image), "%s.img", tree.root);
}

static void
teardown_tree(void)
{
	ttree_fini(&tree);
	unlink(image);
}

static struct objfs_image *
open_ok(void)
{
	struct objfs_image *img;
	char err[512] = "";
	int rc = objfs_image_open(image, 0, &img, err, sizeof(err));
	cr_assert_eq(rc, 0, "open: %s", err);
	return img;
}

static void
flip(const char *path, uint64_t off, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t b;
	cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= mask;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

TestSuite(objfs_image, .init = setup_tree, .fini = teardown_tree, .timeout = 120);

Test(objfs_image, roundtrip_edge_cases_4k_records)
{
	ttree_standard(&tree, 4096, 40);
	ttree_pack(&tree, image, 4096);
	struct objfs_image *img = open_ok();
	ttree_verify(&tree, img);
	struct objfs_image_stats *st = objfs_image_stats(img);
	cr_expect_eq(counter_get(&st->cksum_errors), 0);
	cr_expect_gt(counter_get(&st->blocks_read), 0);
	cr_expect_gt(counter_get(&st->holes), 0, "zero records read back as holes");
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

Test(objfs_image, roundtrip_edge_cases_default_and_1m_records)
{
	ttree_standard(&tree, 128 << 10, 12);
	ttree_pack(&tree, image, 128 << 10);
	struct objfs_image *img = open_ok();
	ttree_verify(&tree, img);
	objfs_image_close(img);
	/* The same tree (128K-shaped sizes) with 1 MiB records: every file one record. */
	ttree_pack(&tree, image, 1 << 20);
	img = open_ok();
	ttree_verify(&tree, img);
	struct objfs_dnode dn;
	cr_assert_eq(objfs_image_lookup(img, "compressible.txt", &dn), 0);
	cr_expect_eq(dn.rs_shift, 20);
	cr_expect_eq(dn.nlevels, 1);
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

Test(objfs_image, holes_take_no_storage_and_compression_keeps_only_a_real_saving)
{
	/* 16386 records, more than 128 * 128: three indirect levels. */
	ttree_file(&tree, "sparse", 64ull << 20 | 4096 | 1, 'z');
	ttree_file(&tree, "text", 64 << 10, 'c');
	ttree_file(&tree, "noise", 64 << 10, 'r');
	/* Patch one byte near the end of the sparse file so it has data. */
	char p[400];
	snprintf(p, sizeof(p), "%s/sparse", tree.root);
	int fd = open(p, O_WRONLY);
	cr_assert_eq(pwrite(fd, "Z", 1, (64 << 20) + 4096), 1);
	close(fd);

	struct objfs_mkimage_opts o;
	struct objfs_mkimage_summary s;
	char err[256];
	objfs_mkimage_defaults(&o);
	o.rs_shift = 12;
	cr_assert_eq(objfs_mkimage(tree.root, image, &o, &s, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(s.files, 3);
	cr_expect_eq(s.holes, (64u << 20) / 4096 + 1, "all-zero records counted as holes");
	struct stat st;
	cr_assert_eq(stat(image, &st), 0);
	cr_expect_lt((uint64_t)st.st_size, 200u << 10, "64 MiB of zeros stored in %lld bytes",
		     (long long)st.st_size);
	cr_expect_eq((uint64_t)st.st_size, s.image_bytes);

	struct objfs_image *img = open_ok();
	struct objfs_dnode dn;
	struct objfs_bp bp;
	cr_assert_eq(objfs_image_lookup(img, "sparse", &dn), 0);
	cr_expect_eq(dn.nlevels, 4);
	cr_assert_eq(objfs_image_bp(img, &dn, 5, &bp), 0);
	cr_expect(objfs_bp_is_hole(&bp));
	cr_expect_eq(bp.lsize, 4096);
	uint64_t last = objfs_dnode_nrecords(&dn) - 1;
	cr_assert_eq(objfs_image_bp(img, &dn, last, &bp), 0);
	cr_expect_not(objfs_bp_is_hole(&bp));
	cr_expect_eq(bp.lsize, 1, "the last record is short");
	cr_expect_eq(objfs_image_bp(img, &dn, last + 1, &bp), -EINVAL);
	char buf[4];
	cr_assert_eq(objfs_image_pread(img, &dn, buf, 4, (64 << 20) + 4095), 2);
	cr_expect_eq(buf[0], 0);
	cr_expect_eq(buf[1], 'Z');

	cr_assert_eq(objfs_image_lookup(img, "text", &dn), 0);
	cr_assert_eq(objfs_image_bp(img, &dn, 0, &bp), 0);
	cr_expect_eq(bp.comp, OBJFS_COMP_LZ4);
	cr_expect_leq(bp.psize, bp.lsize - bp.lsize / 8);
	cr_assert_eq(objfs_image_lookup(img, "noise", &dn), 0);
	cr_assert_eq(objfs_image_bp(img, &dn, 0, &bp), 0);
	cr_expect_eq(bp.comp, OBJFS_COMP_OFF, "random bytes are stored as they are");
	cr_expect_eq(bp.psize, 4096);
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

Test(objfs_image, lookup_errors)
{
	ttree_mkdir(&tree, "d");
	ttree_file(&tree, "d/f", 10, 'r');
	ttree_pack(&tree, image, 4096);
	struct objfs_image *img = open_ok();
	struct objfs_dnode dn, dn2;
	cr_expect_eq(objfs_image_lookup(img, "d/nope", &dn), -ENOENT);
	cr_expect_eq(objfs_image_lookup(img, "d/f/x", &dn), -ENOTDIR);
	cr_expect_eq(objfs_image_lookup(img, "d/../d/f", &dn), -EINVAL);
	cr_expect_eq(objfs_image_lookup(img, "./d", &dn), -EINVAL);
	char longname[300];
	memset(longname, 'a', 256);
	longname[256] = '\0';
	cr_expect_eq(objfs_image_lookup(img, longname, &dn), -ENAMETOOLONG);
	cr_assert_eq(objfs_image_lookup(img, "/d//f", &dn), 0, "extra slashes are ignored");
	cr_assert_eq(objfs_image_lookup(img, "d/f", &dn2), 0);
	cr_expect_eq(dn.objnum, dn2.objnum);
	cr_assert_eq(objfs_image_lookup(img, "/", &dn), 0);
	cr_expect_eq(dn.objnum, OBJFS_ROOT_OBJ);
	cr_expect_eq(objfs_image_dnode(img, 0, &dn), -EINVAL);
	cr_expect_eq(objfs_image_dnode(img, 1000, &dn), -EINVAL);
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

Test(objfs_image, ids_are_unique_per_open)
{
	ttree_file(&tree, "f", 1, 'r');
	ttree_pack(&tree, image, 4096);
	struct objfs_image *a = open_ok(), *b = open_ok();
	cr_expect_neq(objfs_image_id(a), objfs_image_id(b));
	cr_expect_eq(objfs_image_info(a)->guid, objfs_image_info(b)->guid);
	objfs_image_close(a);
	objfs_image_close(b);
	ttree_expect_no_leaks();
}

static int
open_err(char *err, size_t len)
{
	struct objfs_image *img = NULL;
	int rc = objfs_image_open(image, OBJFS_OPEN_QUIET, &img, err, len);
	if (rc == 0)
		objfs_image_close(img);
	return rc;
}

Test(objfs_image, wrong_magic_truncated_and_missing_give_clear_messages)
{
	char err[512];
	ttree_file(&tree, "f", 20000, 'r');
	ttree_pack(&tree, image, 4096);
	struct stat st;
	cr_assert_eq(stat(image, &st), 0);

	flip(image, 0, 0x20);
	cr_expect_eq(open_err(err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "not an objfs image (bad magic") != NULL, "%s", err);
	cr_expect(strstr(err, image) != NULL, "the message names the image: %s", err);
	flip(image, 0, 0x20);
	cr_assert_eq(open_err(err, sizeof(err)), 0);

	cr_assert_eq(truncate(image, st.st_size - 1), 0);
	cr_expect_eq(open_err(err, sizeof(err)), -EIO);
	cr_expect(strstr(err, "truncated image") != NULL, "%s", err);
	cr_expect(strstr(err, "header says") != NULL, "%s", err);
	cr_assert_eq(truncate(image, 100), 0);
	cr_expect_eq(open_err(err, sizeof(err)), -EIO);
	cr_expect(strstr(err, "truncated image") != NULL, "%s", err);
	cr_assert_eq(truncate(image, 0), 0);
	cr_expect_eq(open_err(err, sizeof(err)), -EIO);
	cr_expect(strstr(err, "truncated") != NULL, "%s", err);

	unlink(image);
	cr_expect_eq(open_err(err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "cannot open") != NULL, "%s", err);
	ttree_expect_no_leaks();
}

Test(objfs_image, version_and_header_damage)
{
	char err[512];
	ttree_file(&tree, "f", 10, 'r');
	ttree_pack(&tree, image, 4096);
	flip(image, 8, 0x01); /* version 2 -> 3 */
	cr_expect_eq(open_err(err, sizeof(err)), -ENOTSUP);
	cr_expect(strstr(err, "version 3 is not supported") != NULL, "%s", err);
	flip(image, 8, 0x03); /* 3 -> 0 */
	cr_expect_eq(open_err(err, sizeof(err)), -ENOTSUP);
	cr_expect(strstr(err, "version 0 is not supported") != NULL, "%s", err);
	flip(image, 8, 0x02);
	flip(image, 100, 0x01); /* reserved, covered by the header checksum */
	cr_expect_eq(open_err(err, sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "damaged objfs header") != NULL, "%s", err);
	ttree_expect_no_leaks();
}

Test(objfs_image, torn_newest_uberblock_falls_back_to_the_previous_generation)
{
	char err[512];
	ttree_standard(&tree, 4096, 0);
	ttree_pack(&tree, image, 4096);
	struct objfs_image *img = open_ok();
	const struct objfs_image_info *in = objfs_image_info(img);
	cr_expect_eq(in->generation, OBJFS_UBER_SLOTS);
	cr_expect_eq(in->uber_valid, OBJFS_UBER_SLOTS);
	cr_expect_not(in->fell_back);
	unsigned newest = in->uber_slot;
	objfs_image_close(img);

	/* Tear the newest: a byte in the middle of its slot. */
	flip(image, OBJFS_UBER_OFFSET + newest * OBJFS_UBER_SIZE + 77, 0xff);
	img = open_ok();
	in = objfs_image_info(img);
	cr_expect_eq(in->generation, OBJFS_UBER_SLOTS - 1);
	cr_expect(in->fell_back);
	cr_expect_eq(in->uber_valid, OBJFS_UBER_SLOTS - 1);
	ttree_verify(&tree, img);
	objfs_image_close(img);

	/* Tear them all: a clear failure. */
	for (unsigned i = 0; i < OBJFS_UBER_SLOTS; i++)
		if (i != newest)
			flip(image, OBJFS_UBER_OFFSET + i * OBJFS_UBER_SIZE + 200, 0x10);
	cr_expect_eq(open_err(err, sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "no valid uberblock") != NULL, "%s", err);
	ttree_expect_no_leaks();
}

Test(objfs_image, uberblock_whose_tree_does_not_verify_is_skipped)
{
	ttree_standard(&tree, 4096, 0);
	ttree_pack(&tree, image, 4096);
	/* Re-seal the newest uberblock with a wrong dnode-array checksum: its own
	 * checksum is fine, its tree is not, and open must not use it. */
	int fd = open(image, O_RDWR);
	struct objfs_disk_uber d;
	struct objfs_uber u;
	off_t off = OBJFS_UBER_OFFSET + (OBJFS_UBER_SLOTS - 1) * OBJFS_UBER_SIZE;
	cr_assert_eq(pread(fd, &d, sizeof(d), off), (ssize_t)sizeof(d));
	cr_assert_eq(objfs_uber_decode(&d, &u), 0);
	u.meta.root.cksum[3] ^= 1;
	u.generation = 99;
	objfs_uber_encode(&u, &d);
	cr_assert_eq(pwrite(fd, &d, sizeof(d), off), (ssize_t)sizeof(d));
	close(fd);
	struct objfs_image *img;
	char err[256];
	cr_assert_eq(objfs_image_open(image, OBJFS_OPEN_QUIET, &img, err, sizeof(err)), 0, "%s",
		     err);
	cr_expect_eq(objfs_image_info(img)->generation, OBJFS_UBER_SLOTS - 1);
	cr_expect(objfs_image_info(img)->fell_back);
	ttree_verify(&tree, img);
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

Test(objfs_image, checksum_mismatch_is_eio_counted_logged_and_zeroed)
{
	ttree_mkdir(&tree, "dir");
	ttree_file(&tree, "dir/victim", 3 * 4096, 'r');
	ttree_file(&tree, "other", 4096, 'r');
	ttree_pack(&tree, image, 4096);
	struct objfs_image *img = open_ok();
	struct objfs_dnode dn;
	struct objfs_bp bp;
	cr_assert_eq(objfs_image_lookup(img, "dir/victim", &dn), 0);
	cr_assert_eq(objfs_image_bp(img, &dn, 1, &bp), 0);
	objfs_image_close(img);
	flip(image, bp.offset + 1000, 0x04);

	char logpath[320];
	snprintf(logpath, sizeof(logpath), "%s.log", tree.root);
	int lfd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(lfd, 0);
	vms_log_set_fd(lfd);
	img = open_ok();
	cr_assert_eq(objfs_image_lookup(img, "dir/victim", &dn), 0);
	char *buf = malloc(4096);
	memset(buf, 0xaa, 4096);
	cr_expect_eq(objfs_image_read_record(img, &dn, 1, buf), -EIO);
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(buf[i], 0, "no stale or wrong byte at %d", i);
	cr_expect_eq(objfs_image_read_record(img, &dn, 0, buf), 4096, "other records still read");
	cr_expect_eq(objfs_image_pread(img, &dn, buf, 4096, 4096), -EIO);
	cr_expect_eq(counter_get(&objfs_image_stats(img)->cksum_errors), 2);
	struct objfs_dnode o;
	cr_assert_eq(objfs_image_lookup(img, "other", &o), 0);
	cr_expect_eq(objfs_image_read_record(img, &o, 0, buf), 4096);
	vms_log_set_fd(STDERR_FILENO);

	char log[4096] = "";
	cr_assert_geq(pread(lfd, log, sizeof(log) - 1, 0), 0);
	close(lfd);
	unlink(logpath);
	char want[600];
	snprintf(want, sizeof(want), "%s: checksum mismatch in object %llu (/dir/victim) record 1",
		 image, (unsigned long long)dn.objnum);
	cr_expect(strstr(log, want) != NULL, "log names image, object, path: %s", log);
	snprintf(want, sizeof(want), "image offset %llu", (unsigned long long)bp.offset);
	cr_expect(strstr(log, want) != NULL, "log names the offset: %s", log);
	free(buf);
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

Test(objfs_image, damaged_indirect_block_fails_only_the_records_under_it)
{
	ttree_file(&tree, "big", 300 * 4096, 'r'); /* 300 records: root + 3 level-1 indirects */
	ttree_pack(&tree, image, 4096);
	struct objfs_image *img = open_ok();
	struct objfs_dnode dn;
	cr_assert_eq(objfs_image_lookup(img, "big", &dn), 0);
	cr_assert_eq(dn.nlevels, 3);
	cr_assert_eq(dn.root.level, 2);
	struct objfs_disk_bp *kids = malloc(OBJFS_IND_SIZE);
	cr_assert_eq(objfs_image_read_bp(img, &dn.root, dn.objnum, 0, kids), 0);
	struct objfs_bp ind;
	objfs_bp_decode(&kids[1], &ind);
	cr_assert_eq(ind.level, 1);
	cr_assert_eq(ind.type, OBJFS_BT_INDIRECT);
	objfs_bp_decode(&kids[3], &ind);
	cr_expect_eq(ind.lsize, 0, "slots past the last record are empty");
	objfs_bp_decode(&kids[1], &ind);
	free(kids);
	objfs_image_close(img);

	/* Damage the indirect block for records 128..255. */
	flip(image, ind.offset + ind.psize / 2, 0x80);
	cr_assert_eq(objfs_image_open(image, OBJFS_OPEN_QUIET, &img, NULL, 0), 0);
	struct objfs_bp bp;
	char b[16];
	cr_expect_eq(objfs_image_bp(img, &dn, 0, &bp), 0);
	cr_expect_eq(objfs_image_bp(img, &dn, 299, &bp), 0);
	cr_expect_eq(objfs_image_bp(img, &dn, 128, &bp), -EIO);
	cr_expect_eq(objfs_image_bp(img, &dn, 255, &bp), -EIO);
	cr_expect_eq(objfs_image_pread(img, &dn, b, sizeof(b), 200 * 4096), -EIO);
	cr_expect_eq(objfs_image_pread(img, &dn, b, sizeof(b), 100 * 4096), (ssize_t)sizeof(b));
	cr_expect_geq(counter_get(&objfs_image_stats(img)->cksum_errors), 1);
	objfs_image_close(img);

	/* Damage the root: nothing reads. */
	flip(image, dn.root.offset + dn.root.psize / 2, 0x80);
	cr_assert_eq(objfs_image_open(image, OBJFS_OPEN_QUIET, &img, NULL, 0), 0);
	cr_expect_eq(objfs_image_bp(img, &dn, 0, &bp), -EIO);
	cr_expect_eq(objfs_image_pread(img, &dn, b, sizeof(b), 0), -EIO);
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

/* ---- io_uring reads ---- */

struct aread_ctx {
	struct objfs_aread ar;
	bool done;
	int error;
};

static void
aread_done(struct objfs_aread *ar, int error)
{
	struct aread_ctx *c = (struct aread_ctx *)ar->arg;
	c->done = true;
	c->error = error;
}

static int
read_async(struct objfs_image *img, struct io_loop *loop, const struct objfs_bp *bp,
	   uint64_t objnum, uint64_t blkid, void *buf)
{
	struct aread_ctx c = {0};
	c.ar.bp = *bp;
	c.ar.objnum = objnum;
	c.ar.blkid = blkid;
	c.ar.buf = buf;
	c.ar.done = aread_done;
	c.ar.arg = &c;
	objfs_image_read_async(img, loop, &c.ar);
	io_loop_run_until(loop, &c.done);
	return c.error;
}

Test(objfs_image, async_reads_match_sync_reads)
{
	ttree_file(&tree, "text", 10 * 4096 + 5, 'c');
	ttree_file(&tree, "noise", 3 * 4096, 'r');
	ttree_file(&tree, "zeros", 2 * 4096, 'z');
	ttree_pack(&tree, image, 4096);
	struct io_loop *loop;
	cr_assert_eq(io_loop_create(&loop, 32, 0), 0);
	struct objfs_image *img = open_ok();
	const char *names[] = {"text", "noise", "zeros"};
	char *a = malloc(4096), *s = malloc(4096);
	for (int f = 0; f < 3; f++) {
		struct objfs_dnode dn;
		cr_assert_eq(objfs_image_lookup(img, names[f], &dn), 0);
		for (uint64_t b = 0; b < objfs_dnode_nrecords(&dn); b++) {
			struct objfs_bp bp;
			cr_assert_eq(objfs_image_bp(img, &dn, b, &bp), 0);
			memset(a, 0x55, 4096);
			cr_assert_eq(read_async(img, loop, &bp, dn.objnum, b, a), 0);
			int n = objfs_image_read_record(img, &dn, b, s);
			cr_assert_eq(n, (int)bp.lsize);
			cr_assert(memcmp(a, s, (size_t)n) == 0, "%s record %llu", names[f],
				  (unsigned long long)b);
		}
	}
	struct objfs_image_stats *st = objfs_image_stats(img);
	cr_expect_eq(counter_get(&st->async_reads), 11 + 3, "holes need no I/O");
	cr_expect_geq(counter_get(&st->holes), 2 * 2);

	/* A damaged block read asynchronously: -EIO, zeroed, counted. */
	struct objfs_dnode dn;
	struct objfs_bp bp;
	cr_assert_eq(objfs_image_lookup(img, "text", &dn), 0);
	cr_assert_eq(objfs_image_bp(img, &dn, 2, &bp), 0);
	flip(image, bp.offset + bp.psize / 2, 0x01);
	uint64_t before = counter_get(&st->cksum_errors);
	memset(a, 0x55, 4096);
	int prev = vms_log_level;
	vms_log_level = -1; /* keep the expected error line out of the test output */
	cr_expect_eq(read_async(img, loop, &bp, dn.objnum, 2, a), -EIO);
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(a[i], 0);
	cr_expect_eq(counter_get(&st->cksum_errors), before + 1);
	/* A bp that points outside the image never reaches the disk. */
	uint64_t reads = counter_get(&st->blocks_read);
	bp.offset = objfs_image_info(img)->image_size;
	cr_expect_eq(read_async(img, loop, &bp, dn.objnum, 2, a), -EBADMSG);
	cr_expect_eq(counter_get(&st->blocks_read), reads);
	vms_log_level = prev;
	free(a);
	free(s);
	objfs_image_close(img);
	io_loop_destroy(loop);
	ttree_expect_no_leaks();
}

/*
 * With an O_DIRECT descriptor, an aligned uncompressed record is read
 * straight into the caller's buffer, and anything else through a staging
 * buffer; short reads resume, direct while the offset stays aligned.
 * Every path gives the bytes the synchronous (buffered) reader gives.
 */
Test(objfs_image, direct_async_reads_match_sync_reads)
{
	ttree_file(&tree, "a.txt", 5000, 'c');
	ttree_file(&tree, "noise", 5 * 65536 + 3000, 'r');
	ttree_file(&tree, "text", 3 * 65536, 'c');
	ttree_pack(&tree, image, 65536);
	struct io_loop *loop;
	cr_assert_eq(io_loop_create(&loop, 32, 0), 0);
	struct objfs_image *img = open_ok();
	if (objfs_image_info(img)->dio_align == 0) {
		objfs_image_close(img);
		io_loop_destroy(loop);
		cr_skip_test("the file system under %s has no O_DIRECT (statx STATX_DIOALIGN)",
			     image);
	}
	struct objfs_image_stats *st = objfs_image_stats(img);
	char *a = aligned_alloc(4096, 2 * 65536), *s = malloc(65536);
	/* Short reads: off, shorter than the alignment (buffered), longer (direct). */
	const char *shorts[] = {"0", "100", "5000"};
	for (int sr = 0; sr < 3; sr++) {
		cr_assert_eq(vms_tunable_set("objfs_failpoint_short_read", shorts[sr]), 0);
		/* Into an aligned buffer and into one that is not. */
		for (int off = 0; off < 2; off++) {
			const char *names[] = {"noise", "text"};
			for (int f = 0; f < 2; f++) {
				struct objfs_dnode dn;
				cr_assert_eq(objfs_image_lookup(img, names[f], &dn), 0);
				for (uint64_t b = 0; b < objfs_dnode_nrecords(&dn); b++) {
					struct objfs_bp bp;
					cr_assert_eq(objfs_image_bp(img, &dn, b, &bp), 0);
					uint64_t staged = counter_get(&st->staged_reads);
					uint64_t direct = counter_get(&st->direct_reads);
					memset(a + off, 0x55, bp.lsize);
					cr_assert_eq(
					    read_async(img, loop, &bp, dn.objnum, b, a + off), 0);
					int n = objfs_image_read_record(img, &dn, b, s);
					cr_assert_eq(n, (int)bp.lsize);
					cr_assert(
					    memcmp(a + off, s, (size_t)n) == 0,
					    "%s record %llu, buffer offset %d, short reads %s",
					    names[f], (unsigned long long)b, off, shorts[sr]);
					uint32_t al = objfs_image_info(img)->dio_align;
					bool straight = off == 0 && bp.comp == OBJFS_COMP_OFF &&
							bp.offset % al == 0 && bp.psize % al == 0;
					if (bp.psize >= OBJFS_ALIGN_MIN_PSIZE) {
						cr_expect_eq(bp.offset % OBJFS_ALIGN, 0);
						cr_expect(bp.comp == OBJFS_COMP_LZ4 || straight ||
							  off != 0);
					}
					cr_expect_eq(counter_get(&st->staged_reads),
						     staged + !straight,
						     "%s record %llu, buffer offset %d", names[f],
						     (unsigned long long)b, off);
					if (sr != 1)
						cr_expect_gt(counter_get(&st->direct_reads), direct,
							     "%s record %llu read direct", names[f],
							     (unsigned long long)b);
				}
			}
		}
	}
	vms_tunables_reset();
	free(a);
	free(s);
	objfs_image_close(img);
	io_loop_destroy(loop);
	ttree_expect_no_leaks();
}

static void
walk_all_bps(struct objfs_image *img)
{
	for (size_t i = 0; i < tree.n; i++) {
		struct objfs_dnode dn;
		cr_assert_eq(objfs_image_lookup(img, tree.e[i].rel, &dn), 0);
		if (tree.e[i].dir)
			continue;
		for (uint64_t b = 0; b < objfs_dnode_nrecords(&dn); b++) {
			struct objfs_bp bp;
			cr_assert_eq(objfs_image_bp(img, &dn, b, &bp), 0);
		}
	}
}

Test(objfs_image, preload_makes_metadata_memory_only)
{
	ttree_standard(&tree, 4096, 20);
	ttree_file(&tree, "huge-sparse", (40ull << 20) + 1, 'z'); /* 3 levels, hole indirects */
	ttree_file(&tree, "wide", 300 * 4096, 'c');               /* 3 levels, real indirects */
	ttree_pack(&tree, image, 4096);
	struct objfs_image *img = open_ok();
	struct objfs_image_stats *st = objfs_image_stats(img);
	cr_assert_eq(objfs_image_preload(img), 0);
	uint64_t misses = counter_get(&st->meta_misses), reads = counter_get(&st->blocks_read);
	cr_expect_gt(misses, 3);
	walk_all_bps(img);
	cr_expect_eq(counter_get(&st->meta_misses), misses, "no metadata read after preload");
	cr_expect_eq(counter_get(&st->blocks_read), reads, "no disk access at all");
	ttree_verify(&tree, img);
	objfs_image_close(img);

	/* A tiny budget: preload says so, and everything still reads. */
	cr_assert_eq(vms_tunable_set("objfs_meta_cache_max", "8K"), 0);
	img = open_ok();
	cr_expect_eq(objfs_image_preload(img), -ENOSPC);
	walk_all_bps(img);
	ttree_verify(&tree, img);
	objfs_image_close(img);
	vms_tunables_reset();

	/* Damaged metadata: preload reports it; the damage is met again on demand. */
	img = open_ok();
	struct objfs_dnode dn;
	cr_assert_eq(objfs_image_lookup(img, "wide", &dn), 0);
	objfs_image_close(img);
	flip(image, dn.root.offset + 1, 0x01);
	cr_assert_eq(objfs_image_open(image, OBJFS_OPEN_QUIET, &img, NULL, 0), 0);
	cr_expect_eq(objfs_image_preload(img), -EIO);
	struct objfs_bp bp;
	cr_expect_eq(objfs_image_bp(img, &dn, 0, &bp), -EIO);
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

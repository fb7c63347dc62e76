/* mkimage: summary accounting, progress bar, what it skips, and failures. */
#include "core/assert.h"
#include "core/log.h"
#include "fs/objfs/fsck.h"
#include "fs/objfs/image.h"
#include "fs/objfs/mkimage.h"
#include "objfs_tree.h"
#include "support/death.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct ttree tree;
static char image[300];

static void
setup(void)
{
	ttree_init(&tree, 31337);
	snprintf(image, sizeof(image), "%s.img", tree.root);
}

static void
teardown(void)
{
	ttree_fini(&tree);
	unlink(image);
}

/* In a child: drop root if we have it, then mkimage must fail on the unreadable "secret". */
static void
mkimage_unreadable(void *arg)
{
	(void)arg;
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("nobody");
		VERIFY(pw != NULL);
		VERIFY0(setgroups(0, NULL));
		VERIFY0(setgid(pw->pw_gid));
		VERIFY0(setuid(pw->pw_uid));
		VERIFY(geteuid() != 0);
	}
	char err[256];
	struct objfs_mkimage_summary s;
	int rc = objfs_mkimage(tree.root, image, NULL, &s, err, sizeof(err));
	if (rc != -EACCES || strstr(err, "secret") == NULL)
		PANIC("mkimage of a tree with an unreadable file: %d (%s), want -EACCES", rc, err);
}

TestSuite(objfs_mkimage, .init = setup, .fini = teardown, .timeout = 120);

Test(objfs_mkimage, summary_adds_up_and_progress_reaches_100)
{
	ttree_file(&tree, "text", 10 * 4096, 'c');
	ttree_file(&tree, "noise", 3 * 4096 + 5, 'r');
	ttree_file(&tree, "zeros", 6 * 4096, 'z');
	ttree_mkdir(&tree, "d");
	ttree_file(&tree, "d/empty", 0, 'r');

	char *prog = NULL;
	size_t plen = 0;
	struct objfs_mkimage_opts o;
	struct objfs_mkimage_summary s;
	char err[256];
	objfs_mkimage_defaults(&o);
	o.rs_shift = 12;
	o.progress = open_memstream(&prog, &plen);
	cr_assert_eq(objfs_mkimage(tree.root, image, &o, &s, err, sizeof(err)), 0, "%s", err);
	fclose(o.progress);
	cr_expect(strstr(prog, "100%") != NULL, "progress: %s", prog);
	cr_expect(strstr(prog, "\r") != NULL, "the bar redraws in place");
	free(prog);

	cr_expect_eq(s.files, 4);
	cr_expect_eq(s.dirs, 2, "the root and d");
	cr_expect_eq(s.bytes, 19 * 4096 + 5);
	cr_expect_eq(s.records, 10 + 4 + 6);
	cr_expect_eq(s.holes, 6);
	cr_expect_eq(s.hole_bytes, 6 * 4096);
	cr_expect_eq(s.compressed, 10, "every text record compresses, no noise record does");
	cr_expect_eq(s.stored_bytes > 3 * 4096 + 5, true);
	cr_expect_lt(s.stored_bytes, 4 * 4096 + 5);
	cr_expect_eq(s.image_bytes, OBJFS_DATA_START + s.stored_bytes + s.meta_bytes,
		     "every stored byte is accounted for");
	struct stat st;
	cr_assert_eq(stat(image, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, s.image_bytes);
	char tmp[320];
	snprintf(tmp, sizeof(tmp), "%s.tmp", image);
	cr_expect_eq(access(tmp, F_OK), -1, "no temporary left");
	ttree_expect_no_leaks();
}

Test(objfs_mkimage, no_compress_stores_everything_raw)
{
	ttree_file(&tree, "text", 4 * 4096, 'c');
	struct objfs_mkimage_opts o;
	struct objfs_mkimage_summary s;
	objfs_mkimage_defaults(&o);
	o.rs_shift = 12;
	o.compress = false;
	cr_assert_eq(objfs_mkimage(tree.root, image, &o, &s, NULL, 0), 0);
	cr_expect_eq(s.compressed, 0);
	cr_expect_eq(s.stored_bytes, 4 * 4096);
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(image, 0, &img, NULL, 0), 0);
	ttree_verify(&tree, img);
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

static uint64_t
stored_at_level(int level)
{
	struct objfs_mkimage_opts o;
	struct objfs_mkimage_summary s;
	char err[256];
	objfs_mkimage_defaults(&o);
	o.rs_shift = 16;
	o.level = level;
	cr_assert_eq(objfs_mkimage(tree.root, image, &o, &s, err, sizeof(err)), 0, "%s", err);
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(image, 0, &img, NULL, 0), 0);
	ttree_verify(&tree, img);
	objfs_image_close(img);
	return s.stored_bytes;
}

Test(objfs_mkimage, higher_levels_pack_text_smaller_and_read_back_exact)
{
	ttree_file(&tree, "words.txt", 1 << 20, 'w');
	ttree_file(&tree, "noise", 5 * 65536, 'r');
	uint64_t fast = stored_at_level(0), hc = stored_at_level(OBJFS_MK_LEVEL_DEFAULT),
		 max = stored_at_level(OBJFS_MK_LEVEL_MAX);
	cr_expect_lt(hc * 10, fast * 9, "LZ4HC saves over a tenth: %lu vs %lu bytes", hc, fast);
	cr_expect_leq(max, hc);
	cr_expect_gt(max, 5 * 65536, "the noise stays raw at every level");
	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	o.level = OBJFS_MK_LEVEL_MAX + 1;
	char err[256];
	struct objfs_mkimage_summary s;
	cr_expect_eq(objfs_mkimage(tree.root, image, &o, &s, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "compression level") != NULL, "%s", err);
	ttree_expect_no_leaks();
}

Test(objfs_mkimage, threads_make_the_same_image_byte_for_byte)
{
	ttree_standard(&tree, 1 << 15, 12);
	ttree_file(&tree, "words.txt", 77 * 32768 + 5, 'w');
	ttree_file(&tree, "mixed", 40 * 32768, 's');
	char *img[3];
	size_t len[3];
	const unsigned threads[3] = {1, 2, 3};
	for (int i = 0; i < 3; i++) {
		struct objfs_mkimage_opts o;
		struct objfs_mkimage_summary s;
		char err[256];
		objfs_mkimage_defaults(&o);
		o.rs_shift = 15;
		o.guid = 42;
		o.time = 1700000000; /* not now: a second may tick between the runs */
		o.threads = threads[i];
		cr_assert_eq(objfs_mkimage(tree.root, image, &o, &s, err, sizeof(err)), 0, "%s",
			     err);
		cr_assert_gt(s.compressed, 70);
		img[i] = ttree_slurp(image, &len[i]);
	}
	struct objfs_image *oi;
	cr_assert_eq(objfs_image_open(image, 0, &oi, NULL, 0), 0);
	cr_expect_eq(objfs_image_info(oi)->create_time, 1700000000);
	ttree_verify(&tree, oi);
	objfs_image_close(oi);
	for (int i = 1; i < 3; i++) {
		cr_expect_eq(len[i], len[0]);
		cr_expect(len[i] == len[0] && memcmp(img[i], img[0], len[0]) == 0,
			  "%u threads made a different image from 1 thread", threads[i]);
	}
	for (int i = 0; i < 3; i++)
		free(img[i]);
	ttree_expect_no_leaks();
}

Test(objfs_mkimage, skips_symlinks_fifos_and_the_image_itself)
{
	ttree_file(&tree, "real", 100, 'r');
	char p[400];
	snprintf(p, sizeof(p), "%s/link", tree.root);
	cr_assert_eq(symlink("real", p), 0);
	snprintf(p, sizeof(p), "%s/fifo", tree.root);
	cr_assert_eq(mkfifo(p, 0600), 0);
	/* The image is written inside the tree it packs. */
	char inside[400];
	snprintf(inside, sizeof(inside), "%s/self.img", tree.root);
	struct objfs_mkimage_summary s;
	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	int prev = vms_log_level;
	vms_log_level = -1; /* the skip warnings are expected */
	cr_assert_eq(objfs_mkimage(tree.root, inside, &o, &s, NULL, 0), 0);
	vms_log_level = prev;
	cr_expect_eq(s.skipped, 2);
	cr_expect_eq(s.files, 1);
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(inside, 0, &img, NULL, 0), 0);
	struct objfs_dnode dn;
	cr_expect_eq(objfs_image_lookup(img, "real", &dn), 0);
	cr_expect_eq(objfs_image_lookup(img, "link", &dn), -ENOENT);
	cr_expect_eq(objfs_image_lookup(img, "self.img", &dn), -ENOENT);
	cr_expect_eq(objfs_image_lookup(img, "self.img.tmp", &dn), -ENOENT);
	objfs_image_close(img);
	unlink(inside);
	snprintf(p, sizeof(p), "%s/link", tree.root);
	unlink(p);
	snprintf(p, sizeof(p), "%s/fifo", tree.root);
	unlink(p);
	ttree_expect_no_leaks();
}

Test(objfs_mkimage, empty_directory_makes_a_valid_image)
{
	struct objfs_mkimage_summary s;
	cr_assert_eq(objfs_mkimage(tree.root, image, NULL, &s, NULL, 0), 0);
	cr_expect_eq(s.files, 0);
	cr_expect_eq(s.dirs, 1);
	struct objfs_fsck_result r;
	cr_expect_eq(objfs_fsck(image, NULL, &r), 0);
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(image, 0, &img, NULL, 0), 0);
	struct objfs_dnode root;
	cr_assert_eq(objfs_image_lookup(img, "", &root), 0);
	cr_expect_eq(root.size, 0);
	cr_expect_eq(root.nentries, 0);
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

Test(objfs_mkimage, failures_leave_nothing_behind)
{
	char err[256];
	struct objfs_mkimage_summary s;
	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	o.rs_shift = 11;
	cr_expect_eq(objfs_mkimage(tree.root, image, &o, &s, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "record size") != NULL, "%s", err);
	cr_expect_eq(objfs_mkimage("/nonexistent-objfs-dir", image, NULL, &s, err, sizeof(err)),
		     -ENOENT);
	cr_expect(strstr(err, "/nonexistent-objfs-dir") != NULL, "%s", err);
	/*
	 * An unreadable file fails the whole image.  Root reads it anyway, so the
	 * build runs in a child that is not root (as root, CI's case: it drops to
	 * nobody, and the tree is opened up for nobody to walk).
	 */
	ttree_file(&tree, "secret", 10, 'r');
	char p[400];
	snprintf(p, sizeof(p), "%s/secret", tree.root);
	cr_assert_eq(chmod(p, 0), 0);
	if (geteuid() == 0)
		cr_assert_eq(chmod(tree.root, 0755), 0);
	cr_assert(death_survives(mkimage_unreadable, NULL), "see the child's message above");
	chmod(p, 0600);
	cr_expect_eq(access(image, F_OK), -1);
	char tmp[320];
	snprintf(tmp, sizeof(tmp), "%s.tmp", image);
	cr_expect_eq(access(tmp, F_OK), -1);
	ttree_expect_no_leaks();
}

Test(objfs_mkimage, sparse_files_are_packed_by_their_data)
{
	/* 2 GiB + 1 with three bytes of data: SEEK_DATA finds them without reading
	 * the zeros, and every record between is a hole. */
	char p[400];
	snprintf(p, sizeof(p), "%s/sparse", tree.root);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "A", 1, 0), 1);
	cr_assert_eq(pwrite(fd, "B", 1, (1ll << 30) + 5), 1);
	cr_assert_eq(pwrite(fd, "C", 1, 2ll << 30), 1);
	close(fd);
	struct objfs_mkimage_opts o;
	struct objfs_mkimage_summary s;
	objfs_mkimage_defaults(&o);
	o.rs_shift = 20;
	cr_assert_eq(objfs_mkimage(tree.root, image, &o, &s, NULL, 0), 0);
	cr_expect_eq(s.records, 2049);
	cr_expect_eq(s.holes, 2046);
	cr_expect_lt(s.image_bytes, 64 << 10);
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(image, 0, &img, NULL, 0), 0);
	struct objfs_dnode dn;
	cr_assert_eq(objfs_image_lookup(img, "sparse", &dn), 0);
	cr_expect_eq(dn.size, (2ull << 30) + 1);
	char b[8];
	cr_assert_eq(objfs_image_pread(img, &dn, b, 2, 0), 2);
	cr_expect(b[0] == 'A' && b[1] == 0);
	cr_assert_eq(objfs_image_pread(img, &dn, b, 3, (1ull << 30) + 4), 3);
	cr_expect(b[0] == 0 && b[1] == 'B' && b[2] == 0);
	cr_assert_eq(objfs_image_pread(img, &dn, b, 8, (2ull << 30) - 1), 2);
	cr_expect(b[0] == 0 && b[1] == 'C');
	cr_assert_eq(objfs_image_pread(img, &dn, b, 4, 12345678), 4);
	cr_expect(b[0] == 0 && b[3] == 0);
	objfs_image_close(img);
	unlink(p);
	ttree_expect_no_leaks();
}

/* objfs fsck: clean images pass; each kind of damage is found and named. */
#include "fs/objfs/format.h"
#include "fs/objfs/fsck.h"
#include "fs/objfs/image.h"
#include "objfs_tree.h"

#include <criterion/criterion.h>
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
	ttree_init(&tree, 77);
	snprintf(image, sizeof(image), "%s.img", tree.root);
}

static void
teardown(void)
{
	ttree_fini(&tree);
	unlink(image);
}

TestSuite(objfs_fsck, .init = setup, .fini = teardown, .timeout = 120);

static void
flip(uint64_t off)
{
	int fd = open(image, O_RDWR);
	uint8_t b;
	cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x08;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/* Run fsck, return its report (malloc'd) and rc. */
static char *
run(int *rc, struct objfs_fsck_result *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	*rc = objfs_fsck(image, f, r);
	fclose(f);
	return buf;
}

static struct objfs_bp
bp_of(const char *path, uint64_t blkid)
{
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(image, OBJFS_OPEN_QUIET, &img, NULL, 0), 0);
	struct objfs_dnode dn;
	struct objfs_bp bp;
	cr_assert_eq(objfs_image_lookup(img, path, &dn), 0);
	cr_assert_eq(objfs_image_bp(img, &dn, blkid, &bp), 0);
	objfs_image_close(img);
	return bp;
}

Test(objfs_fsck, clean_image_is_clean)
{
	ttree_standard(&tree, 4096, 30);
	ttree_pack(&tree, image, 4096);
	struct objfs_fsck_result r;
	int rc;
	char *rep = run(&rc, &r);
	cr_expect_eq(rc, 0, "report:\n%s", rep);
	cr_expect_eq(r.problems, 0);
	cr_expect_eq(r.warnings, 0);
	size_t files = 0, dirs = 1;
	for (size_t i = 0; i < tree.n; i++)
		tree.e[i].dir ? dirs++ : files++;
	cr_expect_eq(r.files, files);
	cr_expect_eq(r.dirs, dirs);
	cr_expect_gt(r.blocks, files / 2);
	free(rep);
	ttree_expect_no_leaks();
}

/* Re-stamp the header and every uberblock with another format version. */
static void
set_version(uint32_t v)
{
	int fd = open(image, O_RDWR);
	struct objfs_disk_header dh;
	struct objfs_header h;
	cr_assert_eq(pread(fd, &dh, sizeof(dh), 0), (ssize_t)sizeof(dh));
	cr_assert_eq(objfs_header_decode(&dh, &h), 0);
	h.version = v;
	objfs_header_encode(&h, &dh);
	cr_assert_eq(pwrite(fd, &dh, sizeof(dh), 0), (ssize_t)sizeof(dh));
	for (uint32_t i = 0; i < OBJFS_UBER_SLOTS; i++) {
		struct objfs_disk_uber du;
		struct objfs_uber u;
		off_t off = (off_t)(OBJFS_UBER_OFFSET + i * OBJFS_UBER_SIZE);
		cr_assert_eq(pread(fd, &du, sizeof(du), off), (ssize_t)sizeof(du));
		cr_assert_eq(objfs_uber_decode(&du, &u), 0);
		u.version = v;
		objfs_uber_encode(&u, &du);
		cr_assert_eq(pwrite(fd, &du, sizeof(du), off), (ssize_t)sizeof(du));
	}
	close(fd);
}

/* Version 1 images (no padding) still open and check clean. */
Test(objfs_fsck, version_1_images_are_read)
{
	ttree_standard(&tree, 4096, 5);
	ttree_pack(&tree, image, 4096); /* no block reaches OBJFS_ALIGN_MIN_PSIZE: no padding */
	set_version(1);
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(image, OBJFS_OPEN_QUIET, &img, NULL, 0), 0);
	ttree_verify(&tree, img);
	objfs_image_close(img);
	struct objfs_fsck_result r;
	int rc;
	char *rep = run(&rc, &r);
	cr_expect_eq(rc, 0, "report:\n%s", rep);
	free(rep);
	ttree_expect_no_leaks();
}

/*
 * Version 2 aligns large blocks: the padding before them is zero, and fsck
 * checks that it is (a byte there belongs to no checksum).
 */
Test(objfs_fsck, alignment_padding_is_checked)
{
	ttree_file(&tree, "a_small.txt", 3000, 'c');
	ttree_file(&tree, "b_big.bin", 3 * 65536 + 100, 'r');
	ttree_pack(&tree, image, 65536);
	for (uint64_t b = 0; b < 4; b++) {
		struct objfs_bp bp = bp_of("b_big.bin", b);
		if (bp.psize >= OBJFS_ALIGN_MIN_PSIZE)
			cr_expect_eq(bp.offset % OBJFS_ALIGN, 0, "record %llu at %llu",
				     (unsigned long long)b, (unsigned long long)bp.offset);
	}
	struct objfs_fsck_result r;
	int rc;
	char *rep = run(&rc, &r);
	cr_expect_eq(rc, 0, "an aligned image is clean:\n%s", rep);
	free(rep);
	set_version(1); /* version 1 has no padding: the same bytes are a gap */
	rep = run(&rc, &r);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(rep, "belong to no block") != NULL, "%s", rep);
	free(rep);
	set_version(2);

	struct objfs_bp b0 = bp_of("b_big.bin", 0);
	cr_assert_eq(b0.offset % OBJFS_ALIGN, 0);
	flip(b0.offset - 1); /* the last padding byte before record 0 */
	rep = run(&rc, &r);
	cr_expect_eq(rc, 1);
	char want[128];
	snprintf(want, sizeof(want), "..%llu belong to no block",
		 (unsigned long long)b0.offset - 1);
	cr_expect(strstr(rep, want) != NULL, "want '%s' in:\n%s", want, rep);
	free(rep);
	ttree_expect_no_leaks();
}

Test(objfs_fsck, names_the_damaged_file_and_offsets)
{
	ttree_mkdir(&tree, "sub");
	ttree_file(&tree, "sub/victim.bin", 5 * 4096, 'r');
	ttree_file(&tree, "fine.txt", 9000, 'c');
	ttree_pack(&tree, image, 4096);
	struct objfs_bp b1 = bp_of("sub/victim.bin", 1), b4 = bp_of("sub/victim.bin", 4);
	flip(b1.offset + 10);
	flip(b4.offset + b4.psize - 1);
	struct objfs_fsck_result r;
	int rc;
	char *rep = run(&rc, &r);
	cr_expect_eq(rc, 1);
	cr_expect_eq(r.problems, 2, "report:\n%s", rep);
	char want[256];
	snprintf(want, sizeof(want),
		 "DAMAGED /sub/victim.bin: record 1 (offsets 4096..8191), image offset %llu",
		 (unsigned long long)b1.offset);
	cr_expect(strstr(rep, want) != NULL, "want '%s' in:\n%s", want, rep);
	cr_expect(strstr(rep, "record 4 (offsets 16384..20479)") != NULL, "%s", rep);
	cr_expect(strstr(rep, "fine.txt") == NULL, "only damaged files are named:\n%s", rep);
	free(rep);
	ttree_expect_no_leaks();
}

Test(objfs_fsck, damaged_indirect_names_the_file_and_range)
{
	ttree_file(&tree, "big", 100 * 4096, 'c');
	ttree_pack(&tree, image, 4096);
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(image, OBJFS_OPEN_QUIET, &img, NULL, 0), 0);
	struct objfs_dnode dn;
	cr_assert_eq(objfs_image_lookup(img, "big", &dn), 0);
	objfs_image_close(img);
	cr_assert_eq(dn.root.level, 1);
	flip(dn.root.offset + 3);
	struct objfs_fsck_result r;
	int rc;
	char *rep = run(&rc, &r);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(rep, "DAMAGED /big: indirect block 0 (offsets 0..409599)") != NULL, "%s",
		  rep);
	/* Its records are unreachable, so their bytes belong to no verified block. */
	cr_expect(strstr(rep, "belong to no block") != NULL, "%s", rep);
	free(rep);
	ttree_expect_no_leaks();
}

Test(objfs_fsck, torn_uberblock_truncation_and_trailing_bytes)
{
	ttree_file(&tree, "f", 10000, 'r');
	ttree_pack(&tree, image, 4096);
	struct objfs_fsck_result r;
	int rc;
	char *rep;

	/* Trailing bytes are only a warning. */
	int fd = open(image, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, "junk", 4), 4);
	close(fd);
	rep = run(&rc, &r);
	cr_expect_eq(rc, 0, "%s", rep);
	cr_expect_eq(r.warnings, 1);
	cr_expect(strstr(rep, "4 bytes after the end of the image") != NULL, "%s", rep);
	free(rep);

	flip(OBJFS_UBER_OFFSET + 3 * OBJFS_UBER_SIZE + 50);
	rep = run(&rc, &r);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(rep, "uberblock slot 3") != NULL, "%s", rep);
	cr_expect(strstr(rep, "using generation 3") != NULL, "%s", rep);
	cr_expect_eq(r.files, 1, "the rest is still checked");
	free(rep);

	struct stat st;
	cr_assert_eq(stat(image, &st), 0);
	cr_assert_eq(truncate(image, st.st_size - 100), 0);
	rep = run(&rc, &r);
	cr_expect_eq(rc, 1);
	cr_expect(r.fatal);
	cr_expect(strstr(rep, "FATAL") != NULL && strstr(rep, "truncated image") != NULL, "%s",
		  rep);
	free(rep);
	ttree_expect_no_leaks();
}

Test(objfs_fsck, damaged_directory_names_it_and_its_orphans)
{
	ttree_mkdir(&tree, "lost");
	ttree_file(&tree, "lost/a", 100, 'r');
	ttree_file(&tree, "lost/b", 200, 'r');
	ttree_file(&tree, "kept", 300, 'r');
	ttree_pack(&tree, image, 4096);
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(image, OBJFS_OPEN_QUIET, &img, NULL, 0), 0);
	struct objfs_dnode dn;
	cr_assert_eq(objfs_image_lookup(img, "lost", &dn), 0);
	objfs_image_close(img);
	flip(dn.root.offset + 2);
	struct objfs_fsck_result r;
	int rc;
	char *rep = run(&rc, &r);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(rep, "DAMAGED /lost: record 0") != NULL, "%s", rep);
	cr_expect(strstr(rep, "DAMAGED /lost: directory entries unreadable") != NULL, "%s", rep);
	cr_expect(strstr(rep, "(file, 100 bytes) is named by no directory (orphan; a damaged "
			      "directory may have named it)") != NULL,
		  "%s", rep);
	cr_expect(strstr(rep, "(file, 200 bytes)") != NULL, "%s", rep);
	cr_expect(strstr(rep, "kept") == NULL, "%s", rep);
	free(rep);
	ttree_expect_no_leaks();
}

/*
 * Hostile images: structures that carry correct checksums but make no sense.
 * The reader must refuse each with -EBADMSG (or -EIO for data that does not
 * decompress), never read out of bounds or loop, and fsck must name each.
 */
#include "core/log.h"
#include "fs/objfs/fsck.h"
#include "fs/objfs/image.h"
#include "objfs_forge.h"
#include "objfs_tree.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static char image[64];
static int saved_level;

static void
setup(void)
{
	snprintf(image, sizeof(image), "/tmp/objfs-hostile-%d.img", (int)getpid());
	saved_level = vms_log_level;
	vms_log_level = VMS_LOG_ERROR - 1; /* the reader logs every refusal; keep output clean */
}

static void
teardown(void)
{
	unlink(image);
	vms_log_level = saved_level;
}

TestSuite(objfs_hostile, .init = setup, .fini = teardown, .timeout = 60);

static struct objfs_image *
open_forged(void)
{
	struct objfs_image *img;
	char err[256] = "";
	cr_assert_eq(objfs_image_open(image, 0, &img, err, sizeof(err)), 0, "open: %s", err);
	return img;
}

static char *
fsck_report(int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct objfs_fsck_result r;
	*rc = objfs_fsck(image, f, &r);
	fclose(f);
	return buf;
}

/* Root (1) holding the given stream, a 5-byte file as object 2. */
static void
forge_with_root(const char *stream, size_t len, uint32_t nentries, uint64_t nobj)
{
	struct forge f;
	forge_init(&f, image, nobj);
	forge_object(&f, 2, OBJFS_OT_FILE, "hello", 5, 0);
	forge_object(&f, OBJFS_ROOT_OBJ, OBJFS_OT_DIR, stream, (uint32_t)len, nentries);
	forge_finish(&f);
}

Test(objfs_hostile, a_well_forged_image_reads_and_checks_clean)
{
	char s[256];
	size_t n = forge_dirent(s, 0, 2, "f", 1, OBJFS_OT_FILE);
	forge_with_root(s, n, 1, 3);
	struct objfs_image *img = open_forged();
	struct objfs_dnode dn;
	char buf[8];
	cr_assert_eq(objfs_image_lookup(img, "f", &dn), 0);
	cr_assert_eq(objfs_image_pread(img, &dn, buf, sizeof(buf), 0), 5);
	cr_expect_eq(memcmp(buf, "hello", 5), 0);
	objfs_image_close(img);
	int rc;
	char *rep = fsck_report(&rc);
	cr_expect_eq(rc, 0, "%s", rep);
	free(rep);
	ttree_expect_no_leaks();
}

static void
expect_root_refused(const char *stream, size_t len, uint32_t nentries, uint64_t nobj,
		    const char *why)
{
	forge_with_root(stream, len, nentries, nobj);
	struct objfs_image *img = open_forged();
	struct objfs_dnode dn, root;
	cr_expect_eq(objfs_image_lookup(img, "f", &dn), -EBADMSG, "%s: lookup", why);
	cr_assert_eq(objfs_image_dnode(img, OBJFS_ROOT_OBJ, &root), 0);
	cr_expect_eq(objfs_image_readdir(img, &root, NULL, NULL), -EBADMSG, "%s: readdir", why);
	objfs_image_close(img);
	int rc;
	char *rep = fsck_report(&rc);
	cr_expect_eq(rc, 1, "%s: fsck", why);
	cr_expect(strstr(rep, "DAMAGED /: directory entries unreadable") != NULL, "%s: %s", why,
		  rep);
	free(rep);
}

Test(objfs_hostile, bad_directory_streams)
{
	char s[1024];
	size_t n;

	n = forge_dirent(s, 0, 2, "g", 1, OBJFS_OT_FILE);
	n = forge_dirent(s, n, 2, "f", 1, OBJFS_OT_FILE);
	expect_root_refused(s, n, 2, 3, "out of order");

	n = forge_dirent(s, 0, 2, "f", 1, OBJFS_OT_FILE);
	n = forge_dirent(s, n, 2, "f", 1, OBJFS_OT_FILE);
	expect_root_refused(s, n, 2, 3, "duplicate");

	n = forge_dirent(s, 0, 1, "f", 1, OBJFS_OT_DIR);
	expect_root_refused(s, n, 1, 3, "names the root");
	n = forge_dirent(s, 0, 0, "f", 1, OBJFS_OT_FILE);
	expect_root_refused(s, n, 1, 3, "object 0");
	n = forge_dirent(s, 0, 3, "f", 1, OBJFS_OT_FILE);
	expect_root_refused(s, n, 1, 3, "object past the array");

	n = forge_dirent(s, 0, 2, "a/b", 3, OBJFS_OT_FILE);
	expect_root_refused(s, n, 1, 3, "slash in a name");
	n = forge_dirent(s, 0, 2, "..", 2, OBJFS_OT_FILE);
	expect_root_refused(s, n, 1, 3, "dot-dot");
	n = forge_dirent(s, 0, 2, "a\0b", 3, OBJFS_OT_FILE);
	expect_root_refused(s, n, 1, 3, "NUL in a name");
	n = forge_dirent(s, 0, 2, "", 0, OBJFS_OT_FILE);
	expect_root_refused(s, n, 1, 3, "empty name");
	n = forge_dirent(s, 0, 2, "f", 1, 9);
	expect_root_refused(s, n, 1, 3, "bad type");

	n = forge_dirent(s, 0, 2, "f", 1, OBJFS_OT_FILE);
	s[n - 1] = 'x';
	expect_root_refused(s, n, 1, 3, "non-zero padding");
	n = forge_dirent(s, 0, 2, "f", 1, OBJFS_OT_FILE);
	s[8] = (char)200; /* namelen past the stream */
	expect_root_refused(s, n, 1, 3, "name past the end");
	n = forge_dirent(s, 0, 2, "f", 1, OBJFS_OT_FILE);
	expect_root_refused(s, n, 1000, 3, "more entries than bytes");
	expect_root_refused(s, n, 2, 3, "count larger than the stream");
	expect_root_refused(s, n, 0, 3, "stream longer than its entries");
	ttree_expect_no_leaks();
}

Test(objfs_hostile, entry_type_must_match_the_dnode)
{
	char s[256];
	size_t n = forge_dirent(s, 0, 2, "f", 1, OBJFS_OT_DIR); /* object 2 is a file */
	forge_with_root(s, n, 1, 3);
	struct objfs_image *img = open_forged();
	struct objfs_dnode dn;
	cr_expect_eq(objfs_image_lookup(img, "f", &dn), -EBADMSG);
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

/* A file (object 2) whose dnode the test shapes. */
static void
forge_file(struct objfs_dnode *dn, const struct objfs_bp *root)
{
	struct forge f;
	char s[256];
	size_t n = forge_dirent(s, 0, 2, "f", 1, OBJFS_OT_FILE);
	forge_init(&f, image, 3);
	forge_object(&f, 2, OBJFS_OT_FILE, "hello", 5, 0);
	if (dn != NULL) {
		f.dn[2] = *dn;
		f.dn[2].objnum = 2;
	}
	if (root != NULL)
		f.dn[2].root = *root;
	forge_object(&f, OBJFS_ROOT_OBJ, OBJFS_OT_DIR, s, (uint32_t)n, 1);
	forge_finish(&f);
}

static int
read_f(struct objfs_image *img)
{
	struct objfs_dnode dn;
	int rc = objfs_image_lookup(img, "f", &dn);
	if (rc != 0)
		return rc;
	char buf[64];
	return (int)objfs_image_pread(img, &dn, buf, sizeof(buf), 0);
}

Test(objfs_hostile, bad_block_pointers_and_dnodes)
{
	struct objfs_bp bp;
	struct objfs_image *img;
	struct forge tmp;

	/* Where the file's record lands in a forged image: right after the header. */
	forge_init(&tmp, image, 3);
	bp = forge_block(&tmp, "hello", 5, OBJFS_BT_DATA, 0);
	close(tmp.fd);

	struct objfs_bp b = bp;
	b.offset = 1ull << 40;
	forge_file(NULL, &b);
	img = open_forged();
	cr_expect_eq(read_f(img), -EBADMSG, "outside the image");
	objfs_image_close(img);

	b = bp;
	b.lsize = 6; /* not the record's logical size */
	forge_file(NULL, &b);
	img = open_forged();
	cr_expect_eq(read_f(img), -EBADMSG, "wrong lsize");
	objfs_image_close(img);

	b = bp;
	b.level = 1;
	forge_file(NULL, &b);
	img = open_forged();
	cr_expect_eq(read_f(img), -EBADMSG, "wrong level");
	objfs_image_close(img);

	b = bp;
	b.type = OBJFS_BT_DIR;
	forge_file(NULL, &b);
	img = open_forged();
	cr_expect_eq(read_f(img), -EBADMSG, "wrong type");
	objfs_image_close(img);

	struct objfs_dnode dn = {.type = OBJFS_OT_FILE,
				 .nlevels = OBJFS_MAX_LEVELS + 1,
				 .rs_shift = 12,
				 .size = 5,
				 .mode = 0644};
	dn.root = bp;
	forge_file(&dn, NULL);
	img = open_forged();
	cr_expect_eq(read_f(img), -EBADMSG, "too deep");
	objfs_image_close(img);

	dn.nlevels = 1;
	dn.rs_shift = 30;
	forge_file(&dn, NULL);
	img = open_forged();
	cr_expect_eq(read_f(img), -EBADMSG, "record size too large");
	objfs_image_close(img);
	ttree_expect_no_leaks();
}

Test(objfs_hostile, lz4_garbage_with_a_good_checksum_is_eio)
{
	struct forge f;
	char s[256];
	size_t n = forge_dirent(s, 0, 2, "f", 1, OBJFS_OT_FILE);
	forge_init(&f, image, 3);
	forge_object(&f, 2, OBJFS_OT_FILE, "x", 1, 0); /* placeholder record */
	/* 4096 logical bytes claimed, 100 stored bytes of nonsense "LZ4". */
	char junk[100];
	memset(junk, 0xf0, sizeof(junk));
	f.dn[2].rs_shift = 12;
	f.dn[2].size = 4096;
	f.dn[2].root = forge_raw(&f, junk, sizeof(junk), 4096, OBJFS_BT_DATA, 0, OBJFS_COMP_LZ4);
	forge_object(&f, OBJFS_ROOT_OBJ, OBJFS_OT_DIR, s, (uint32_t)n, 1);
	forge_finish(&f);
	struct objfs_image *img = open_forged();
	cr_expect_eq(read_f(img), -EIO);
	cr_expect_eq(counter_get(&objfs_image_stats(img)->decompress_errors), 1);
	cr_expect_eq(counter_get(&objfs_image_stats(img)->cksum_errors), 0);
	objfs_image_close(img);
	int rc;
	char *rep = fsck_report(&rc);
	cr_expect_eq(rc, 1);
	/* The placeholder record is stored but named by nothing. */
	cr_expect(strstr(rep, "DAMAGED /f: record 0") != NULL, "%s", rep);
	cr_expect(strstr(rep, "belong to no block") != NULL, "%s", rep);
	free(rep);
	ttree_expect_no_leaks();
}

Test(objfs_hostile, cycles_shared_objects_orphans_and_shared_blocks)
{
	/* 1: root {a -> 2, b -> 3}; 2: dir {x -> 3}; 3: dir {y -> 2}: a cycle, and
	 * objects named twice.  4: a file no directory names.  5 and 6: two files
	 * sharing one stored block. */
	struct forge f;
	char s1[256], s2[256], s3[256];
	size_t n1 = 0, n2, n3;
	forge_init(&f, image, 7);
	n1 = forge_dirent(s1, n1, 2, "a", 1, OBJFS_OT_DIR);
	n1 = forge_dirent(s1, n1, 3, "b", 1, OBJFS_OT_DIR);
	n1 = forge_dirent(s1, n1, 5, "p", 1, OBJFS_OT_FILE);
	n1 = forge_dirent(s1, n1, 6, "q", 1, OBJFS_OT_FILE);
	n2 = forge_dirent(s2, 0, 3, "x", 1, OBJFS_OT_DIR);
	n3 = forge_dirent(s3, 0, 2, "y", 1, OBJFS_OT_DIR);
	forge_object(&f, 2, OBJFS_OT_DIR, s2, (uint32_t)n2, 1);
	forge_object(&f, 3, OBJFS_OT_DIR, s3, (uint32_t)n3, 1);
	forge_object(&f, 4, OBJFS_OT_FILE, "orphan", 6, 0);
	forge_object(&f, 5, OBJFS_OT_FILE, "shared", 6, 0);
	f.dn[6] = f.dn[5];
	f.dn[6].objnum = 6;
	forge_object(&f, OBJFS_ROOT_OBJ, OBJFS_OT_DIR, s1, (uint32_t)n1, 4);
	forge_finish(&f);

	struct objfs_image *img = open_forged();
	struct objfs_dnode dn;
	/* Lookups through the cycle end: they are bounded by the path. */
	cr_expect_eq(objfs_image_lookup(img, "a/x/y/x/y/x", &dn), 0);
	cr_expect_eq(dn.objnum, 3);
	objfs_image_close(img);

	int rc;
	char *rep = fsck_report(&rc);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(rep, "is already named by another entry") != NULL, "%s", rep);
	cr_expect(strstr(rep, "object 4 (file, 6 bytes) is named by no directory (orphan)") != NULL,
		  "%s", rep);
	cr_expect(strstr(rep, "overlaps another") != NULL, "%s", rep);
	free(rep);
	ttree_expect_no_leaks();
}

Test(objfs_hostile, absurd_object_count_is_refused_at_open)
{
	char s[256];
	size_t n = forge_dirent(s, 0, 2, "f", 1, OBJFS_OT_FILE);
	forge_with_root(s, n, 1, 3);
	/* Rewrite every slot claiming 2^40 objects (sealed, so only sense can refuse it). */
	int fd = open(image, O_RDWR);
	for (unsigned i = 0; i < OBJFS_UBER_SLOTS; i++) {
		struct objfs_disk_uber d;
		struct objfs_uber u;
		off_t off = OBJFS_UBER_OFFSET + i * OBJFS_UBER_SIZE;
		cr_assert_eq(pread(fd, &d, sizeof(d), off), (ssize_t)sizeof(d));
		cr_assert_eq(objfs_uber_decode(&d, &u), 0);
		u.nobjects = 1ull << 40;
		objfs_uber_encode(&u, &d);
		cr_assert_eq(pwrite(fd, &d, sizeof(d), off), (ssize_t)sizeof(d));
	}
	close(fd);
	struct objfs_image *img;
	char err[256];
	cr_expect_eq(objfs_image_open(image, OBJFS_OPEN_QUIET, &img, err, sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "no valid uberblock") != NULL, "%s", err);
	ttree_expect_no_leaks();
}

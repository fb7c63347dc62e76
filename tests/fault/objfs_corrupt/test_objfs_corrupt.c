/*
 * Corruption of objfs images, byte by byte.
 *
 * For every byte of a small image (and many sampled bytes of a larger one):
 * flip it, then
 *   - fsck must report a problem (every byte is under some checksum);
 *   - reading every file through the reader must give either exactly the
 *     original bytes or an error, never different bytes;
 *   - if the byte lies in a stored record of file F, reading F fails with EIO.
 * And every truncation of an image is refused with a "truncated" message.
 */
#include "fs/objfs/fsck.h"
#include "fs/objfs/image.h"
#include "objfs_tree.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct owned {
	uint64_t off, len;
	size_t file; /* index into files[] */
};

struct corpus {
	struct ttree tree;
	char image[300];
	size_t nfiles;
	const char **files;
	char **want;
	size_t *wlen;
	struct owned *own;
	size_t nown;
	uint64_t size;
};

static void
corpus_load(struct corpus *c)
{
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(c->image, OBJFS_OPEN_QUIET, &img, NULL, 0), 0);
	c->files = calloc(c->tree.n, sizeof(*c->files));
	c->want = calloc(c->tree.n, sizeof(*c->want));
	c->wlen = calloc(c->tree.n, sizeof(*c->wlen));
	for (size_t i = 0; i < c->tree.n; i++) {
		if (c->tree.e[i].dir)
			continue;
		size_t f = c->nfiles++;
		c->files[f] = c->tree.e[i].rel;
		c->want[f] = ttree_read(&c->tree, c->files[f], &c->wlen[f]);
		struct objfs_dnode dn;
		cr_assert_eq(objfs_image_lookup(img, c->files[f], &dn), 0);
		for (uint64_t b = 0; b < objfs_dnode_nrecords(&dn); b++) {
			struct objfs_bp bp;
			cr_assert_eq(objfs_image_bp(img, &dn, b, &bp), 0);
			if (objfs_bp_is_hole(&bp))
				continue;
			c->own = realloc(c->own, (c->nown + 1) * sizeof(*c->own));
			c->own[c->nown++] = (struct owned){bp.offset, bp.psize, f};
		}
	}
	c->size = objfs_image_info(img)->image_size;
	objfs_image_close(img);
}

static void
corpus_free(struct corpus *c)
{
	for (size_t f = 0; f < c->nfiles; f++)
		free(c->want[f]);
	free(c->want);
	free(c->wlen);
	free(c->files);
	free(c->own);
	unlink(c->image);
	ttree_fini(&c->tree);
}

static void
flip(int fd, uint64_t off, uint8_t mask)
{
	uint8_t b;
	cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= mask;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
}

/* One corrupted byte at `off`: the three promises. */
static void
check_flip(struct corpus *c, int fd, uint64_t off, char *buf, size_t bufsz)
{
	uint8_t mask = (uint8_t)(1u << (off % 8));
	flip(fd, off, mask);

	struct objfs_fsck_result r;
	int rc = objfs_fsck(c->image, NULL, &r);
	cr_assert_eq(rc, 1, "fsck missed a flipped byte at offset %llu", (unsigned long long)off);

	struct objfs_image *img;
	if (objfs_image_open(c->image, OBJFS_OPEN_QUIET, &img, NULL, 0) == 0) {
		for (size_t f = 0; f < c->nfiles; f++) {
			bool owned = false;
			for (size_t k = 0; k < c->nown; k++)
				if (c->own[k].file == f && off >= c->own[k].off &&
				    off < c->own[k].off + c->own[k].len)
					owned = true;
			struct objfs_dnode dn;
			int lrc = objfs_image_lookup(img, c->files[f], &dn);
			if (lrc != 0) {
				cr_assert_neq(lrc, -ENOENT,
					      "byte %llu: %s vanished instead of failing",
					      (unsigned long long)off, c->files[f]);
				continue;
			}
			cr_assert_leq(c->wlen[f], bufsz);
			ssize_t n = objfs_image_pread(img, &dn, buf, bufsz, 0);
			if (owned)
				cr_assert_eq(n, -EIO, "byte %llu in a record of %s: read gave %zd",
					     (unsigned long long)off, c->files[f], n);
			if (n >= 0) {
				cr_assert_eq((size_t)n, c->wlen[f], "byte %llu: %s length",
					     (unsigned long long)off, c->files[f]);
				cr_assert(memcmp(buf, c->want[f], c->wlen[f]) == 0,
					  "byte %llu: %s returned WRONG BYTES",
					  (unsigned long long)off, c->files[f]);
			}
		}
		objfs_image_close(img);
	}
	flip(fd, off, mask);
}

Test(objfs_corrupt, every_byte_of_a_small_image, .timeout = 300)
{
	struct corpus c = {0};
	ttree_init(&c.tree, 99);
	snprintf(c.image, sizeof(c.image), "%s.img", c.tree.root);
	ttree_file(&c.tree, "a", 10, 'r');
	ttree_file(&c.tree, "b.txt", 9000, 'c');
	ttree_file(&c.tree, "zeros", 8192, 'z');
	ttree_file(&c.tree, "one", 1, 'r');
	ttree_mkdir(&c.tree, "d");
	ttree_file(&c.tree, "d/c", 4097, 'r');
	ttree_mkdir(&c.tree, "d/e");
	ttree_file(&c.tree, "d/e/empty", 0, 'r');
	ttree_pack(&c.tree, c.image, 4096);
	corpus_load(&c);
	cr_assert_lt(c.size, 12000, "keep the small image small (%llu)",
		     (unsigned long long)c.size);

	char *buf = malloc(1 << 16);
	int fd = open(c.image, O_RDWR);
	cr_assert_geq(fd, 0);
	for (uint64_t off = 0; off < c.size; off++)
		check_flip(&c, fd, off, buf, 1 << 16);
	close(fd);

	/* Unchanged after all that flipping back: still clean. */
	struct objfs_fsck_result r;
	cr_expect_eq(objfs_fsck(c.image, NULL, &r), 0);
	free(buf);
	corpus_free(&c);
	ttree_expect_no_leaks();
}

Test(objfs_corrupt, sampled_bytes_of_a_larger_image, .timeout = 300)
{
	struct corpus c = {0};
	ttree_init(&c.tree, 1234);
	snprintf(c.image, sizeof(c.image), "%s.img", c.tree.root);
	ttree_standard(&c.tree, 4096, 20);
	ttree_pack(&c.tree, c.image, 4096);
	corpus_load(&c);

	size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	int fd = open(c.image, O_RDWR);
	/* All of the header and ring, then 600 random bytes of the rest. */
	for (uint64_t off = 0; off < OBJFS_DATA_START; off += 7)
		check_flip(&c, fd, off, buf, bufsz);
	for (int i = 0; i < 600; i++) {
		uint64_t off = OBJFS_DATA_START + ttree_rand(&c.tree) % (c.size - OBJFS_DATA_START);
		check_flip(&c, fd, off, buf, bufsz);
	}
	close(fd);
	free(buf);
	corpus_free(&c);
	ttree_expect_no_leaks();
}

Test(objfs_corrupt, every_truncation_is_refused_clearly)
{
	struct corpus c = {0};
	ttree_init(&c.tree, 5);
	snprintf(c.image, sizeof(c.image), "%s.img", c.tree.root);
	ttree_file(&c.tree, "f", 6000, 'r');
	ttree_pack(&c.tree, c.image, 4096);
	struct stat st;
	cr_assert_eq(stat(c.image, &st), 0);
	char err[512];
	for (off_t len = st.st_size - 1; len >= 0; len -= (len > 2000 ? 13 : 1)) {
		cr_assert_eq(truncate(c.image, len), 0);
		struct objfs_image *img;
		int rc = objfs_image_open(c.image, OBJFS_OPEN_QUIET, &img, err, sizeof(err));
		cr_assert_eq(rc, -EIO, "length %lld opened (rc %d)", (long long)len, rc);
		cr_assert(strstr(err, "truncated image") != NULL, "length %lld: %s", (long long)len,
			  err);
	}
	unlink(c.image);
	ttree_fini(&c.tree);
	ttree_expect_no_leaks();
}

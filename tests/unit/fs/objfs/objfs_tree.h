/*
 * Test helper: build a host directory tree full of objfs edge cases
 * (empty, 1-byte, record multiples and off-by-one sizes, compressible,
 * incompressible, sparse, deep paths, unusual names), pack it, compare.
 */
#ifndef VMSEND_TESTS_OBJFS_TREE_H
#define VMSEND_TESTS_OBJFS_TREE_H

#include "fs/objfs/image.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ttree_ent {
	char *rel; /* relative path, no leading '/' */
	bool dir;
	uint64_t size;
};

struct ttree {
	char root[256]; /* the host directory */
	struct ttree_ent *e;
	size_t n, cap;
	uint64_t rng;
};

/* A fresh empty directory under $TMPDIR (or /tmp). */
void ttree_init(struct ttree *t, uint64_t seed);
/* Remove the host tree and free. */
void ttree_fini(struct ttree *t);
void ttree_mkdir(struct ttree *t, const char *rel);
/* kind: 'z' zeros (sparse), 'r' random, 'c' compressible text, 'w' words
 * drawn at random (text LZ4HC packs tighter than LZ4), 's' sparse with data islands */
void ttree_file(struct ttree *t, const char *rel, uint64_t size, char kind);
/* The standard edge-case tree for record size rs, plus `extra` random files. */
void ttree_standard(struct ttree *t, uint32_t rs, unsigned extra);
uint64_t ttree_rand(struct ttree *t);
/* The bytes of the file at path, NUL-terminated (malloc'd, *len set without the NUL). */
char *ttree_slurp(const char *path, size_t *len);
/* Host bytes of rel, as ttree_slurp. */
char *ttree_read(const struct ttree *t, const char *rel, size_t *len);
/* Pack into `image` with record size rs; asserts success. */
void ttree_pack(const struct ttree *t, const char *image, uint32_t rs);
/*
 * Check every entry against the image: lookup, type, size, mode, and for
 * files the bytes through objfs_image_pread; every directory's readdir
 * names exactly the host entries.  Asserts (Criterion) on any difference.
 */
void ttree_verify(const struct ttree *t, struct objfs_image *img);
/*
 * With ASan, assert that nothing allocated so far is unreachable (a leak).
 * Criterion does not fail a test whose process LSan reports at exit, so the
 * tests that exercise error paths ask LSan themselves.  No-op without ASan.
 */
void ttree_expect_no_leaks(void);

#endif

#include "objfs_tree.h"

#include "fs/objfs/mkimage.h"

#include <criterion/criterion.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t
ttree_rand(struct ttree *t)
{
	/* xorshift64*: deterministic per seed, so a failure reproduces. */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 2685821657736338717ull;
}

void
ttree_init(struct ttree *t, uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->rng = seed ? seed : 1;
	const char *tmp = getenv("TMPDIR");
	snprintf(t->root, sizeof(t->root), "%s/objfs-tree-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(t->root));
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void
ttree_fini(struct ttree *t)
{
	nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < t->n; i++)
		free(t->e[i].rel);
	free(t->e);
}

static void
add(struct ttree *t, const char *rel, bool dir, uint64_t size)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->e = realloc(t->e, t->cap * sizeof(*t->e));
		cr_assert_not_null(t->e);
	}
	t->e[t->n++] = (struct ttree_ent){strdup(rel), dir, size};
}

void
ttree_mkdir(struct ttree *t, const char *rel)
{
	char p[8192];
	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s: %s", p, strerror(errno));
	add(t, rel, true, 0);
}

static const char ttree_words[] =
    "the     page    busy    wired,  valid.  pager   object  record  "
    "stream: sendfilecache   of      arc     read    ahead   \n       ";

void
ttree_file(struct ttree *t, const char *rel, uint64_t size, char kind)
{
	char p[8192];
	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0640);
	cr_assert_geq(fd, 0, "create %s: %s", p, strerror(errno));
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	char buf[4096];
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		bool write_it = true;
		for (size_t i = 0; i < n; i += 8) {
			uint64_t r = ttree_rand(t);
			memcpy(buf + i, &r, n - i < 8 ? n - i : 8);
		}
		switch (kind) {
		case 'z':
			write_it = false;
			break;
		case 'c':
			for (size_t i = 0; i < n; i++)
				buf[i] = "objfs compresses this line well\n"[(off + i) % 32];
			break;
		case 'w':
			/* Each random 8 bytes picks one of 16 eight-byte words. */
			for (size_t i = 0; i < n; i += 8) {
				uint64_t r;
				memcpy(&r, buf + i, n - i < 8 ? n - i : 8);
				memcpy(buf + i, &ttree_words[(r % 16) * 8], n - i < 8 ? n - i : 8);
			}
			break;
		case 's':
			/* Islands of data every 8th 4 KiB chunk, zeros between. */
			write_it = (off / sizeof(buf)) % 8 == 3 || off + n == size;
			break;
		default:
			break;
		}
		if (write_it)
			cr_assert_eq(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	}
	close(fd);
	add(t, rel, false, size);
}

void
ttree_standard(struct ttree *t, uint32_t rs, unsigned extra)
{
	ttree_file(t, "empty", 0, 'r');
	ttree_file(t, "one", 1, 'r');
	ttree_file(t, "rs", rs, 'r');
	ttree_file(t, "rs-1", rs - 1, 'r');
	ttree_file(t, "rs+1", rs + 1, 'r');
	ttree_file(t, "3rs", 3ull * rs, 'c');
	ttree_file(t, "3rs+1", 3ull * rs + 1, 'r');
	ttree_file(t, "compressible.txt", 5ull * rs + 123, 'c');
	ttree_file(t, "random.bin", 2ull * rs + 7, 'r');
	ttree_file(t, "zeros", 4ull * rs, 'z');
	ttree_file(t, "sparse", 40ull * 4096 + 17, 's');
	ttree_mkdir(t, "emptydir");
	/* Unusual names: spaces, UTF-8, control and shell characters, a leading dot,
	 * a name of the maximum length. */
	ttree_mkdir(t, "we ird");
	ttree_file(t, "we ird/sp ace & $(x) 'q' \"dq\"", 10, 'r');
	ttree_file(t, "we ird/\xc3\xa9t\xc3\xa9 \xe2\x98\x83", 100, 'c');
	ttree_file(t, "we ird/.hidden", 3, 'r');
	ttree_file(t, "we ird/new\nline\ttab\x01", 5, 'r');
	ttree_file(t, "we ird/-", 2, 'r');
	char longname[256];
	memset(longname, 'L', 255);
	longname[255] = '\0';
	char rel[300];
	snprintf(rel, sizeof(rel), "we ird/%s", longname);
	ttree_file(t, rel, 33, 'r');
	/* A deep path. */
	char deep[1024] = "deep";
	ttree_mkdir(t, deep);
	for (int i = 0; i < 24; i++) {
		size_t l = strlen(deep);
		snprintf(deep + l, sizeof(deep) - l, "/d%02d", i);
		ttree_mkdir(t, deep);
	}
	size_t l = strlen(deep);
	snprintf(deep + l, sizeof(deep) - l, "/leaf");
	ttree_file(t, deep, 4097, 'c');
	/* Random extras in a few directories. */
	ttree_mkdir(t, "r");
	for (unsigned i = 0; i < extra; i++) {
		char p[64];
		if (i % 7 == 0) {
			snprintf(p, sizeof(p), "r/sub%u", i);
			ttree_mkdir(t, p);
			continue;
		}
		/* Subdirectory sub<7k> exists for every 7k < i; some files stay at the top. */
		uint64_t k = ttree_rand(t) % (i / 7 + 2);
		if (k > i / 7)
			snprintf(p, sizeof(p), "r/f%u", i);
		else
			snprintf(p, sizeof(p), "r/sub%u/f%u", (unsigned)(7 * k), i);
		uint64_t size = ttree_rand(t) % (4ull * rs + 3);
		static const char kinds[] = "rczs";
		ttree_file(t, p, size, kinds[ttree_rand(t) % 4]);
	}
}

char *
ttree_slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	char *b = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(b);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);
		cr_assert_gt(n, 0);
		got += (size_t)n;
	}
	close(fd);
	b[got] = '\0';
	*len = got;
	return b;
}

char *
ttree_read(const struct ttree *t, const char *rel, size_t *len)
{
	char p[8192];
	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	return ttree_slurp(p, len);
}

void
ttree_pack(const struct ttree *t, const char *image, uint32_t rs)
{
	struct objfs_mkimage_opts o;
	struct objfs_mkimage_summary s;
	char err[512] = "";
	objfs_mkimage_defaults(&o);
	o.rs_shift = (unsigned)__builtin_ctz(rs);
	int rc = objfs_mkimage(t->root, image, &o, &s, err, sizeof(err));
	cr_assert_eq(rc, 0, "mkimage: %s", err);
}

struct seen {
	const struct ttree *t;
	const char *dir; /* "" for the root */
	size_t count;
};

static int
check_entry(void *arg, const char *name, const struct objfs_dnode *dn)
{
	struct seen *s = arg;
	char rel[8192];
	snprintf(rel, sizeof(rel), "%s%s%s", s->dir, s->dir[0] ? "/" : "", name);
	for (size_t i = 0; i < s->t->n; i++)
		if (strcmp(s->t->e[i].rel, rel) == 0) {
			cr_expect_eq(dn->type == OBJFS_OT_DIR, s->t->e[i].dir, "%s type", rel);
			s->count++;
			return 0;
		}
	cr_expect_fail("readdir names %s, which the host tree lacks", rel);
	return 0;
}

static size_t
host_children(const struct ttree *t, const char *dir)
{
	size_t n = 0, dl = strlen(dir);
	for (size_t i = 0; i < t->n; i++) {
		const char *r = t->e[i].rel;
		if (dl == 0 ? strchr(r, '/') == NULL
			    : strncmp(r, dir, dl) == 0 && r[dl] == '/' &&
				  strchr(r + dl + 1, '/') == NULL)
			n++;
	}
	return n;
}

void
ttree_verify(const struct ttree *t, struct objfs_image *img)
{
	struct objfs_dnode root;
	cr_assert_eq(objfs_image_lookup(img, "", &root), 0);
	struct seen s = {t, "", 0};
	cr_assert_eq(objfs_image_readdir(img, &root, check_entry, &s), 0);
	cr_expect_eq(s.count, host_children(t, ""), "root entries");
	for (size_t i = 0; i < t->n; i++) {
		const struct ttree_ent *e = &t->e[i];
		struct objfs_dnode dn;
		int rc = objfs_image_lookup(img, e->rel, &dn);
		cr_assert_eq(rc, 0, "lookup %s: %d", e->rel, rc);
		char p[8192];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", t->root, e->rel);
		cr_assert_eq(lstat(p, &st), 0);
		cr_expect_eq(dn.mode, st.st_mode & 07777, "%s mode", e->rel);
		cr_expect_eq(dn.mtime_sec, st.st_mtim.tv_sec, "%s mtime", e->rel);
		cr_expect_eq(dn.mtime_nsec, (uint32_t)st.st_mtim.tv_nsec, "%s mtime ns", e->rel);
		if (e->dir) {
			cr_assert_eq(dn.type, OBJFS_OT_DIR, "%s is a directory", e->rel);
			struct seen sd = {t, e->rel, 0};
			cr_assert_eq(objfs_image_readdir(img, &dn, check_entry, &sd), 0);
			cr_expect_eq(sd.count, host_children(t, e->rel), "%s entries", e->rel);
			continue;
		}
		cr_assert_eq(dn.type, OBJFS_OT_FILE, "%s is a file", e->rel);
		cr_assert_eq(dn.size, e->size, "%s size", e->rel);
		size_t len;
		char *want = ttree_read(t, e->rel, &len);
		char *got = malloc(len + 1);
		ssize_t n = objfs_image_pread(img, &dn, got, len + 1, 0);
		cr_assert_eq(n, (ssize_t)len, "%s: read %zd of %zu", e->rel, n, len);
		cr_assert(memcmp(want, got, len) == 0, "%s: bytes differ", e->rel);
		/* An unaligned read across a record boundary. */
		if (len > 3) {
			uint64_t off = len / 2 - 1;
			n = objfs_image_pread(img, &dn, got, len - off, off);
			cr_assert_eq(n, (ssize_t)(len - off));
			cr_assert(memcmp(want + off, got, len - off) == 0, "%s: tail differs",
				  e->rel);
		}
		free(want);
		free(got);
	}
}

void
ttree_expect_no_leaks(void)
{
#if defined(__SANITIZE_ADDRESS__)
	cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "LeakSanitizer found leaks (above)");
#endif
}

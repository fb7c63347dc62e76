/*
 * One image shared by several threads, as the server shares a mount: cold
 * metadata and directory caches filled concurrently, every file read back
 * byte-identical by every thread, synchronously and through each thread's
 * own io_uring loop.  A plain program (not Criterion) so that it also runs
 * under ThreadSanitizer (`make tsan`), which checks the caches' locking.
 * The image itself is packed by NTHREADS mkimage threads, which TSan checks
 * too.
 */
#include "fs/objfs/image.h"
#include "fs/objfs/mkimage.h"
#include "support/check.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NTHREADS 4
#define NFILES   40

static char root[256], image[300];
static char names[NFILES][64];
static char *want[NFILES];
static size_t wlen[NFILES];
static struct objfs_image *img;
static _Atomic int failures;
/* Every loop lives from the first barrier to the last: a ring unmapped by one
 * thread and mapped again at the same address by another would look like a
 * race to TSan. */
static pthread_barrier_t start, finish;

static uint64_t rng = 88172645463325252ull;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
make_tree(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof(root), "%s/objfs-threads-XXXXXX", tmp ? tmp : "/tmp");
	CHECK(mkdtemp(root) != NULL);
	for (int d = 0; d < 4; d++) {
		char p[300];
		snprintf(p, sizeof(p), "%s/d%d", root, d);
		CHECK(mkdir(p, 0755) == 0);
	}
	for (int i = 0; i < NFILES; i++) {
		snprintf(names[i], sizeof(names[i]), "d%d/f%02d", i % 4, i);
		size_t len = (size_t)(rnd() % (5 * 4096 + 3));
		char *b = calloc(1, len + 1);
		int kind = i % 3; /* random, text, zeros with an island */
		for (size_t j = 0; j < len; j++)
			b[j] = kind == 0   ? (char)rnd()
			       : kind == 1 ? "threads read this\n"[j % 18]
					   : 0;
		if (kind == 2 && len > 0)
			b[len / 2] = 'x';
		char p[400];
		snprintf(p, sizeof(p), "%s/%s", root, names[i]);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		CHECK(fd >= 0);
		CHECK(write(fd, b, len) == (ssize_t)len);
		close(fd);
		want[i] = b;
		wlen[i] = len;
	}
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
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

static void *
reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct io_loop *loop;
	CHECK(io_loop_create(&loop, 16, 0) == 0);
	pthread_barrier_wait(&start);
	char *buf = malloc(1 << 16);
	for (int k = 0; k < NFILES; k++) {
		/* Each thread walks the files in its own order. */
		int i = (int)((k * 7 + seed * 13) % NFILES);
		struct objfs_dnode dn;
		if (objfs_image_lookup(img, names[i], &dn) != 0 ||
		    objfs_image_pread(img, &dn, buf, 1 << 16, 0) != (ssize_t)wlen[i] ||
		    memcmp(buf, want[i], wlen[i]) != 0) {
			atomic_fetch_add(&failures, 1);
			continue;
		}
		if (objfs_dnode_nrecords(&dn) == 0)
			continue;
		/* The last record again, through io_uring. */
		uint64_t b = objfs_dnode_nrecords(&dn) - 1;
		struct aread_ctx c = {0};
		if (objfs_image_bp(img, &dn, b, &c.ar.bp) != 0) {
			atomic_fetch_add(&failures, 1);
			continue;
		}
		c.ar.objnum = dn.objnum;
		c.ar.blkid = b;
		c.ar.buf = buf;
		c.ar.done = aread_done;
		c.ar.arg = &c;
		objfs_image_read_async(img, loop, &c.ar);
		io_loop_run_until(loop, &c.done);
		uint64_t off = b << dn.rs_shift;
		if (c.error != 0 || memcmp(buf, want[i] + off, wlen[i] - off) != 0)
			atomic_fetch_add(&failures, 1);
	}
	free(buf);
	pthread_barrier_wait(&finish);
	io_loop_destroy(loop);
	return NULL;
}

int
main(void)
{
	make_tree();
	snprintf(image, sizeof(image), "%s.img", root);
	struct objfs_mkimage_opts o;
	struct objfs_mkimage_summary s;
	char err[256] = "";
	objfs_mkimage_defaults(&o);
	o.rs_shift = 12;
	o.threads = NTHREADS;
	CHECK(objfs_mkimage(root, image, &o, &s, err, sizeof(err)) == 0, "%s", err);
	CHECK(objfs_image_open(image, 0, &img, err, sizeof(err)) == 0, "%s", err);

	pthread_t t[NTHREADS];
	pthread_barrier_init(&start, NULL, NTHREADS);
	pthread_barrier_init(&finish, NULL, NTHREADS);
	for (uintptr_t i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&t[i], NULL, reader, (void *)i) == 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	CHECK(atomic_load(&failures) == 0, "%d reads disagreed", atomic_load(&failures));
	struct objfs_image_stats *st = objfs_image_stats(img);
	CHECK(counter_get(&st->cksum_errors) == 0);
	CHECK(counter_get(&st->meta_hits) > 0);
	CHECK(counter_get(&st->async_reads) > 0);

	objfs_image_close(img);
	for (int i = 0; i < NFILES; i++)
		free(want[i]);
	unlink(image);
	nftw(root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	printf("objfs image threads: %d threads x %d files agree\n", NTHREADS, NFILES);
	return 0;
}

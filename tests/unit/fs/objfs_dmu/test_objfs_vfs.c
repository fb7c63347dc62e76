/*
 * objfs mounted through the VFS (src/fs/objfs/objfs_vfs.c) and read by the
 * sendfile engine: names, types and errors of lookups, directory listings,
 * and whole files sent over TCP loopback byte-identical, partly cached with
 * the coalesce policy (bogus slots skipped by dmu.c) and with split.
 */
#include "sf_testlib.h"

#include "fs/objfs/dmu.h"
#include "fs/objfs/image.h"
#include "fs/objfs/mkimage.h"
#include "fs/objfs/objfs_vfs.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX], image[PATH_MAX + 8];

#define DATA_SIZE   (48 * PAGE_SIZE + 1234)
#define SPARSE_SIZE (300 * 1024 + 5)

static uint8_t *data, *sparse;

static void
put(const char *rel, const uint8_t *buf, size_t len)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void
setup(void)
{
	sft_setup(512);
	objfs_register();
	snprintf(dir, sizeof(dir), "/tmp/vmsend-objfs-vfs-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(image, sizeof(image), "%s.img", dir);
	data = sft_pattern(DATA_SIZE, 7);
	sparse = calloc(1, SPARSE_SIZE);
	memset(sparse, 'a', 1000);                    /* record 0 */
	memset(sparse + 200 * 1024, 'z', 100 * 1024); /* record 1 from its middle; 2 is short */
	put("data.bin", data, DATA_SIZE);
	put("sparse.bin", sparse, SPARSE_SIZE);
	char sub[PATH_MAX + 8];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	cr_assert_eq(mkdir(sub, 0755), 0);
	put("sub/one", (const uint8_t *)"1", 1);

	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	struct objfs_mkimage_summary sum;
	char err[256];
	cr_assert_eq(objfs_mkimage(dir, image, &o, &sum, err, sizeof(err)), 0, "%s", err);
	char spec[PATH_MAX + 32];
	snprintf(spec, sizeof(spec), "/img=objfs:%s", image);
	cr_assert_eq(vfs_mount_spec(spec, NULL), 0);
}

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void
teardown(void)
{
	for (int i = 0; i < 100000 && vms_socket_count() > 0; i++)
		sft_run_once();
	vfs_unmount_all();
	cr_assert_eq(atomic_load(&vfs_stats.vnodes_live), 0, "vnodes leaked");
	struct arc_sizes z;
	arc_sizes(arc_global(), &z);
	cr_assert_eq(z.held, 0, "an ARC record is still held");
	cr_assert_eq(z.records, 0, "the unmounted image's records must leave the ARC");
	arc_global_fini();
	cr_assert_null(arc_global_peek());
	io_loop_private_destroy();
	sft_teardown();
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	unlink(image);
	free(data);
	free(sparse);
}

TestSuite(objfs_vfs, .init = setup, .fini = teardown, .timeout = 120);

Test(objfs_vfs, lookup_gives_types_sizes_and_errors)
{
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/img/data.bin", &vp), 0);
	cr_assert_eq(vp->va.type, VREG);
	cr_assert_eq(vp->va.size, DATA_SIZE);
	cr_assert_eq(vp->va.mode & 0777, 0644);
	cr_assert_not_null(vp->object);
	cr_assert_eq(vp->object->pager, &objfs_pager_ops);
	cr_assert(objfs_pager_ops.caps & PAGER_CAP_BOGUS);
	vnode_rele(vp);

	cr_assert_eq(vfs_lookup("/img/sub", &vp), 0);
	cr_assert_eq(vp->va.type, VDIR);
	cr_assert_null(vp->object);
	vnode_rele(vp);
	cr_assert_eq(vfs_lookup("/img/sub/one", &vp), 0);
	cr_assert_eq(vp->va.size, 1);
	vnode_rele(vp);

	cr_assert_eq(vfs_lookup("/img/nope", &vp), -ENOENT);
	cr_assert_eq(vfs_lookup("/img/data.bin/x", &vp), -ENOTDIR);
	cr_assert_eq(vfs_lookup("/img/../etc/passwd", &vp), -EXDEV);
	cr_assert_eq(arc_global_peek(), arc_global(), "the mount made the shared ARC");
	struct arc_sizes z;
	arc_sizes(arc_global(), &z);
	cr_assert_eq(z.c, vm_arena_size() / 4,
		     "by default the ARC gets a quarter of the page cache");
}

struct names {
	char seen[8][32];
	int n;
};

static int
collect(void *arg, const char *name, const struct vattr *va)
{
	struct names *x = arg;
	cr_assert_lt(x->n, 8);
	snprintf(x->seen[x->n++], 32, "%s%s", name, va->type == VDIR ? "/" : "");
	return 0;
}

Test(objfs_vfs, readdir_lists_the_image)
{
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/img/", &vp), 0);
	struct names x = {0};
	cr_assert_eq(vp->mp->ops->readdir(vp->mp, "", collect, &x), 0);
	cr_assert_eq(x.n, 3);
	cr_assert_str_eq(x.seen[0], "data.bin");
	cr_assert_str_eq(x.seen[1], "sparse.bin");
	cr_assert_str_eq(x.seen[2], "sub/");
	struct vattr va;
	cr_assert_eq(vp->mp->ops->stat(vp->mp, "sparse.bin", &va), 0);
	cr_assert_eq(va.size, SPARSE_SIZE);
	vnode_rele(vp);
}

/* Send vp whole over TCP loopback; returns what the peer received. */
static struct sft_sink *
send_whole(struct vnode *vp, int *rc)
{
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, NULL, NULL);
	/* A file larger than the send buffer takes several calls (EAGAIN: flush, go on). */
	off_t off = 0;
	for (;;) {
		off_t sb = 0;
		*rc = vms_sendfile_vnode(so, vp, off, 0, NULL, &sb, 0);
		off += sb;
		if (*rc != -EAGAIN)
			break;
		if ((*rc = vms_socket_flush(so)) != 0)
			break;
	}
	if (*rc == 0)
		*rc = vms_socket_flush(so);
	sft_close_wait(so, *rc == 0 ? VMS_CLOSE_LINGER : VMS_CLOSE_ABORT);
	sft_sink_join(sink);
	return sink;
}

static const int cached[] = {3, 4, 10, 40};

Test(objfs_vfs, partly_cached_file_sent_with_coalesce_skips_bogus_slots)
{
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/img/data.bin", &vp), 0);
	for (unsigned i = 0; i < sizeof(cached) / sizeof(cached[0]); i++)
		sft_cache_pages(vp->object, cached[i], 1);
	uint64_t skipped0 = counter_get(&dmu_stats.bogus_skipped);
	sf_stats_reset();
	sf_swapin_policy = SF_POLICY_COALESCE;
	int rc;
	struct sft_sink *s = send_whole(vp, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(s->len, DATA_SIZE);
	cr_assert_eq(memcmp(s->buf, data, DATA_SIZE), 0, "objfs sent wrong bytes");
	sft_sink_free(s);
	cr_assert_eq(counter_get(&sf_stats.pages_bogus), 4);
	cr_assert_eq(counter_get(&dmu_stats.bogus_skipped) - skipped0, 4,
		     "every bogus slot reached dmu.c and was skipped");
	cr_assert_eq(counter_get(&sf_stats.pages_read), 45);
	vnode_rele(vp);
}

Test(objfs_vfs, split_and_sparse_files_send_the_same_bytes)
{
	struct vnode *vp;
	int rc;
	cr_assert_eq(vfs_lookup("/img/data.bin", &vp), 0);
	for (unsigned i = 0; i < sizeof(cached) / sizeof(cached[0]); i++)
		sft_cache_pages(vp->object, cached[i], 1);
	sf_stats_reset();
	sf_swapin_policy = SF_POLICY_SPLIT;
	struct sft_sink *s = send_whole(vp, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(s->len, DATA_SIZE);
	cr_assert_eq(memcmp(s->buf, data, DATA_SIZE), 0);
	sft_sink_free(s);
	cr_assert_eq(counter_get(&sf_stats.pages_bogus), 0);
	vnode_rele(vp);

	sf_swapin_policy = SF_POLICY_COALESCE;
	cr_assert_eq(vfs_lookup("/img/sparse.bin", &vp), 0);
	s = send_whole(vp, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(s->len, SPARSE_SIZE);
	cr_assert_eq(memcmp(s->buf, sparse, SPARSE_SIZE), 0);
	sft_sink_free(s);
	/* Sent twice: the second time every page is a cache hit. */
	s = send_whole(vp, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(memcmp(s->buf, sparse, SPARSE_SIZE), 0);
	sft_sink_free(s);
	vnode_rele(vp);
}

Test(objfs_vfs, corrupted_record_aborts_the_send_with_eio)
{
	/* Flip a byte in record 1 of data.bin, in a copy mounted elsewhere. */
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/img/data.bin", &vp), 0);
	struct objfs_node *np = vp->object->pager_priv;
	struct objfs_bp bp;
	cr_assert_eq(objfs_image_bp(np->fs->img, &np->dn, 1, &bp), 0);
	vnode_rele(vp);
	char bad[PATH_MAX + 16];
	snprintf(bad, sizeof(bad), "%s.bad", image);
	struct stat st;
	cr_assert_eq(stat(image, &st), 0);
	uint8_t *buf = malloc(st.st_size);
	int fd = open(image, O_RDONLY);
	cr_assert_eq(read(fd, buf, st.st_size), st.st_size);
	close(fd);
	buf[bp.offset + 7] ^= 1;
	fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_eq(write(fd, buf, st.st_size), st.st_size);
	close(fd);
	free(buf);
	cr_assert_eq(vfs_mount("/bad", "objfs", bad, NULL), 0);
	unlink(bad); /* the mount holds it open */

	cr_assert_eq(vfs_lookup("/bad/data.bin", &vp), 0);
	int rc;
	struct sft_sink *s = send_whole(vp, &rc);
	cr_assert_eq(rc, -EIO, "rc %d", rc);
	/* Whatever arrived before the abort is a prefix of the file, never wrong bytes. */
	cr_assert_leq(s->len, DATA_SIZE);
	if (s->len > 0)
		cr_assert_eq(memcmp(s->buf, data, s->len), 0);
	cr_assert_lt(s->len, 128 * 1024 + 1, "bytes of the bad record were sent");
	sft_sink_free(s);
	vnode_rele(vp);
}

/* ---- round trip: a varied tree packed, mounted and sent back ---- */

struct rt_file {
	const char *name;
	size_t size;
	int kind; /* 0 noise, 1 text, 2 sparse, 3 zeros */
};

static const struct rt_file rt_files[] = {
    {"empty", 0, 0},
    {"one", 1, 0},
    {"rec", 128 * 1024, 0},
    {"rec-1", 128 * 1024 - 1, 0},
    {"rec+1", 128 * 1024 + 1, 0},
    {"two-rec+1", 256 * 1024 + 1, 1},
    {"text", 300 * 1024 + 17, 1},
    {"sparse", 1024 * 1024 + 5, 2},
    {"zeros", 200 * 1024, 3},
    {"a/b/c/d/e/f/g/deep.bin", 5000, 0},
    {"sp ace & #hash?x=1", 4097, 1},
    {"\xc3\xbc-\xc3\xb1 \xe2\x9c\x93", 8191, 0},
    {"-dash.txt", 12, 1},
};

static uint8_t *
rt_bytes(const struct rt_file *f, uint32_t seed)
{
	uint8_t *b = sft_pattern(f->size, seed);
	for (size_t i = 0; i < f->size; i++) {
		if (f->kind == 1)
			b[i] = "lorem ipsum dolor sit amet, "[i % 28];
		else if (f->kind == 3 || (f->kind == 2 && i >= 4096 && i < f->size - 3000))
			b[i] = 0;
	}
	return b;
}

static void
rt_mkdirs(const char *root, const char *rel)
{
	char path[PATH_MAX];
	cr_assert_lt(snprintf(path, sizeof(path), "%s/%s", root, rel), (int)sizeof(path));
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
}

Test(objfs_vfs, varied_tree_round_trips_through_sendfile)
{
	char rdir[PATH_MAX], rimg[PATH_MAX + 8];
	snprintf(rdir, sizeof(rdir), "/tmp/vmsend-objfs-rt-XXXXXX");
	cr_assert_not_null(mkdtemp(rdir));
	snprintf(rimg, sizeof(rimg), "%s.img", rdir);
	const size_t n = sizeof(rt_files) / sizeof(rt_files[0]);
	uint8_t *bytes[sizeof(rt_files) / sizeof(rt_files[0])];
	for (size_t i = 0; i < n; i++) {
		bytes[i] = rt_bytes(&rt_files[i], (uint32_t)i + 100);
		rt_mkdirs(rdir, rt_files[i].name);
		char path[PATH_MAX * 2];
		snprintf(path, sizeof(path), "%s/%s", rdir, rt_files[i].name);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		cr_assert_geq(fd, 0, "%s", path);
		cr_assert_eq(write(fd, bytes[i], rt_files[i].size), (ssize_t)rt_files[i].size);
		close(fd);
	}
	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	struct objfs_mkimage_summary sum;
	char err[256];
	cr_assert_eq(objfs_mkimage(rdir, rimg, &o, &sum, err, sizeof(err)), 0, "%s", err);
	cr_assert_gt(sum.holes, 0);
	cr_assert_gt(sum.compressed, 0);
	cr_assert_eq(vfs_mount("/rt", "objfs", rimg, NULL), 0);

	sf_stats_reset();
	for (int policy = 0; policy < 2; policy++) {
		sf_swapin_policy = policy == 0 ? SF_POLICY_COALESCE : SF_POLICY_SPLIT;
		for (size_t i = 0; i < n; i++) {
			char vpath[PATH_MAX];
			snprintf(vpath, sizeof(vpath), "/rt/%s", rt_files[i].name);
			struct vnode *vp;
			cr_assert_eq(vfs_lookup(vpath, &vp), 0, "lookup %s", vpath);
			cr_assert_eq(vp->va.size, rt_files[i].size);
			/* Some pages cached first, so coalesced runs carry bogus slots. */
			uint64_t np = vm_object_npages(vp->object);
			for (uint64_t p = 2; p + 1 < np; p += 7)
				sft_cache_pages(vp->object, p, 1);
			int rc;
			struct sft_sink *s = send_whole(vp, &rc);
			cr_assert_eq(rc, 0, "%s: rc %d", vpath, rc);
			cr_assert_eq(s->len, rt_files[i].size, "%s: %zu bytes", vpath, s->len);
			if (s->len > 0)
				cr_assert_eq(memcmp(s->buf, bytes[i], s->len), 0, "%s: wrong bytes",
					     vpath);
			sft_sink_free(s);
			vnode_rele(vp);
		}
		if (policy == 0)
			cr_assert_gt(counter_get(&sf_stats.pages_bogus), 0);
		/* Drop the vnodes, so their pages go: the next pass pages in again (from ARC hits). */
		vfs_cache_flush();
		sf_stats_reset();
	}
	for (size_t i = 0; i < n; i++)
		free(bytes[i]);
	nftw(rdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	unlink(rimg);
}

/*
 * The sendfile engine on the first real pager (src/sendfile over
 * src/fs/hostfs): a partly cached file coalesced with bogus slots that
 * hostfs reads into its sink, the same file split, and an I/O-error loop
 * through hostfs's fault injection.
 */
#include "sf_testlib.h"

#include "fs/hostfs/hostfs.h"
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
#include <unistd.h>

static char dir[PATH_MAX];

static void
setup(void)
{
	sft_setup(512);
	hostfs_register();
	snprintf(dir, sizeof(dir), "/tmp/vmsend-sf-hostfs-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(vfs_mount("/", "hostfs", dir, NULL), 0);
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
	io_loop_private_destroy();
	sft_teardown();
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(sendfile_hostfs, .init = setup, .fini = teardown, .timeout = 120);

static struct vnode *
make_file(const char *name, const uint8_t *data, size_t len)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	char vpath[PATH_MAX];
	snprintf(vpath, sizeof(vpath), "/%s", name);
	struct vnode *vp;
	cr_assert_eq(vfs_lookup(vpath, &vp), 0);
	return vp;
}

/* Send vp whole over TCP loopback; returns the received bytes (sink freed by caller). */
static struct sft_sink *
send_whole(struct vnode *vp, int *rc)
{
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, NULL, NULL);
	*rc = vms_sendfile_vnode(so, vp, 0, 0, NULL, NULL, 0);
	if (*rc == 0)
		*rc = vms_socket_flush(so);
	sft_close_wait(so, *rc == 0 ? VMS_CLOSE_LINGER : VMS_CLOSE_ABORT);
	sft_sink_join(sink);
	return sink;
}

static const int cached[] = {3, 4, 10, 40};

Test(sendfile_hostfs, partly_cached_file_coalesce_vs_split)
{
	size_t size = 48 * PAGE_SIZE + 1234;
	uint8_t *data = sft_pattern(size, 41);
	struct vnode *a = make_file("a.bin", data, size);
	struct vnode *b = make_file("b.bin", data, size);
	for (unsigned i = 0; i < sizeof(cached) / sizeof(cached[0]); i++) {
		sft_cache_pages(a->object, cached[i], 1);
		sft_cache_pages(b->object, cached[i], 1);
	}
	uint64_t hios0 = counter_get(&hostfs_stats.ios);
	uint64_t hbogus0 = counter_get(&hostfs_stats.bogus_slots);
	sf_stats_reset();
	sf_swapin_policy = SF_POLICY_COALESCE;
	int rc;
	struct sft_sink *s = send_whole(a, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(s->len, size);
	cr_assert_eq(memcmp(s->buf, data, size), 0);
	sft_sink_free(s);
	uint64_t coalesce_ios = counter_get(&hostfs_stats.ios) - hios0;
	cr_assert_eq(counter_get(&sf_stats.pages_bogus), 4);
	cr_assert_eq(counter_get(&hostfs_stats.bogus_slots) - hbogus0, 4);
	cr_assert_eq(counter_get(&sf_stats.pages_read), 45);

	uint64_t hios1 = counter_get(&hostfs_stats.ios);
	sf_stats_reset();
	sf_swapin_policy = SF_POLICY_SPLIT;
	s = send_whole(b, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(s->len, size);
	cr_assert_eq(memcmp(s->buf, data, size), 0);
	sft_sink_free(s);
	uint64_t split_ios = counter_get(&hostfs_stats.ios) - hios1;
	cr_assert_eq(counter_get(&sf_stats.pages_bogus), 0);
	cr_assert_eq(counter_get(&sf_stats.pages_read), 45);
	/* Chunks of 32 pages: coalesce [0,32) [32,49); split adds a read per cached gap. */
	cr_assert_eq(coalesce_ios, 2, "coalesce did %llu I/Os", (unsigned long long)coalesce_ios);
	cr_assert_eq(split_ios, 5, "split did %llu I/Os", (unsigned long long)split_ios);
	vnode_rele(a);
	vnode_rele(b);
	free(data);
}

Test(sendfile_hostfs, nth_read_fails_aborts_with_eio)
{
	size_t size = 70 * PAGE_SIZE + 3;
	uint8_t *data = sft_pattern(size, 42);
	struct vnode *other = make_file("other.bin", data, size);
	sft_cache_pages(other->object, 0, 71); /* the bystander needs no I/O */
	sf_swapin_policy = SF_POLICY_SPLIT;
	unsigned n;
	for (n = 1; n < 64; n++) {
		char name[32];
		snprintf(name, sizeof(name), "f%u.bin", n);
		struct vnode *vp = make_file(name, data, size);
		sft_cache_pages(vp->object, 5, 1); /* more runs, more I/Os */
		sft_cache_pages(vp->object, 37, 1);
		hostfs_fail_nth_read(n, -EIO);
		int bf[2];
		sft_tcp_pair(bf);
		struct sft_sink *bs = sft_sink_start(bf[1], false);
		struct vms_socket *bso = sft_socket(bf[0], 1 << 20, NULL, NULL, NULL);
		cr_assert_eq(vms_sendfile_vnode(bso, other, 0, 0, NULL, NULL, 0), 0);
		int rc;
		struct sft_sink *s = send_whole(vp, &rc);
		hostfs_fail_nth_read(0, -EIO);
		cr_assert_eq(vms_socket_flush(bso), 0);
		sft_close_all(bso);
		sft_sink_join(bs);
		cr_assert_eq(bs->len, size, "the bystander lost bytes in round %u", n);
		cr_assert_eq(memcmp(bs->buf, data, size), 0);
		sft_sink_free(bs);
		cr_assert(vm_quiescent(), "round %u: a page stayed busy or wired", n);
		bool failed = rc != 0;
		if (failed) {
			cr_assert_eq(rc, -EIO, "round %u: %d", n, rc);
			cr_assert_lt(s->len, size);
			if (s->len > 0)
				cr_assert_eq(memcmp(s->buf, data, s->len), 0);
		} else {
			cr_assert_eq(s->len, size);
			cr_assert_eq(memcmp(s->buf, data, size), 0);
		}
		sft_sink_free(s);
		vnode_rele(vp);
		if (!failed)
			break;
	}
	cr_assert_gt(n, 3, "only %u reads per request: the loop proved little", n - 1);
	cr_assert_lt(n, 64);
	vnode_rele(other);
	free(data);
}

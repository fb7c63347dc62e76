/*
 * malloc failing at the Nth call inside the radosfs pager path: a
 * vms_sendfile of a file in a RADOS dataset (stripes of 64 KiB, so one file
 * spans 4 objects), cold or with pages 3-4 and 20 cached (bogus slots), so
 * getpages_async issues real rados_aio_reads against the dev cluster and its
 * completions come back through the loop.  librados is a shared library: its
 * own allocations are not counted; ours (the I/O state, the sink, the
 * completion's post back to the loop, the send path) are.  After each N the
 * stream is whole or a clean prefix, the call gave 0, -ENOMEM or -EIO, and
 * fat_check_clean finds no busy or wired page, object, vnode or descriptor
 * left; LeakSanitizer finds nothing after each loop.  See test_alloc_fault.c
 * for the loop's rules.  Needs the rados_cluster ctest fixture; skips (77)
 * with the reason without it.
 */
#include "alloc_testlib.h"
#include "fault_alloc.h"

#include "core/util.h"
#include "fs/radosfs/radosfs.h"
#include "io/io.h"
#include "pager/pager.h"
#include "sendfile/sendfile.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern int64_t radosfs_poll_ms; /* tunable in radosfs_vfs.c */

TestSuite(fault_alloc_rados, .init = fat_setup, .fini = fat_teardown, .timeout = 240);

static char rados_conf[PATH_MAX];

/*
 * Upload the set-up's hostfs tree (sub/file.bin) to a fresh namespace of the
 * dev cluster's pool and mount it at /r; read the file once so that librados
 * has its OSD connection open before the baseline is taken.
 */
static void
rados_mount(void)
{
	const char *dir = getenv("VMSEND_CEPH_DIR"), *bin = getenv("VMSEND_BINARY_DIR");
	if (dir == NULL || bin == NULL)
		cr_skip_test("VMSEND_CEPH_DIR/VMSEND_BINARY_DIR not set (run through ctest)");
	snprintf(rados_conf, sizeof(rados_conf), "%s/ceph.conf", dir);
	if (access(rados_conf, R_OK) != 0)
		cr_skip_test("no dev cluster at %s (the rados_cluster_start fixture did not run)",
			     dir);
	char ns[64], cmd[3 * PATH_MAX + 256], src[PATH_MAX + 8];
	snprintf(ns, sizeof(ns), "falloc-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "ASAN_OPTIONS=detect_leaks=0 %s/src/cli/vmsend rados put %s --pool vmsend "
		 "--namespace %s --ceph-conf %s --stripe-size 64K --no-progress >/dev/null",
		 bin, fat_dir, ns, rados_conf);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	radosfs_poll_ms = 3600 * 1000; /* no poll from the mount's thread while armed */
	radosfs_set_conf(rados_conf);
	radosfs_register();
	snprintf(src, sizeof(src), "vmsend/%s", ns);
	cr_assert_eq(vfs_mount("/r", "rados", src, NULL), 0);
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/r/sub/file.bin", &vp), 0);
	cr_assert_eq(vp->va.size, FILE_SIZE);
	fat_cache_pages(vp->object, 0, (int)howmany(FILE_SIZE, PAGE_SIZE));
	vnode_rele(vp);
	fat_baseline();
}

/* One vms_sendfile of /r/sub/file.bin; arg non-NULL: pages 3-4 and 20 cached first. */
static bool
op_sendfile_rados(unsigned long n, const void *arg)
{
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/r/sub/file.bin", &vp), 0);
	if (arg != NULL) {
		fat_cache_pages(vp->object, 3, 2);
		fat_cache_pages(vp->object, 20, 1);
	}
	bool fired = fat_send_armed(n, vp, 0, fat_fdata, FILE_SIZE, "alloc_sendfile_rados");
	vnode_rele(vp);
	return fired;
}

Test(fault_alloc_rados, alloc_sendfile_rados)
{
	rados_mount();
	uint64_t ios0 = counter_get(&radosfs_stats.ios);
	cr_assert_gt(fat_loop_run("alloc_sendfile_rados(cold)", op_sendfile_rados, NULL), 5);
	cr_assert_gt(fat_loop_run("alloc_sendfile_rados(bogus slots)", op_sendfile_rados, ""), 5);
	uint64_t ios = counter_get(&radosfs_stats.ios) - ios0;
	cr_assert_gt(ios, 0, "no read reached the cluster");
	printf("alloc_sendfile_rados: %llu rados reads, %llu failed\n", (unsigned long long)ios,
	       (unsigned long long)counter_get(&radosfs_stats.errors));
}

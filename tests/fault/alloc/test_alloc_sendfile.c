/*
 * malloc failing at the Nth call inside vms_sendfile (socket creation, the
 * call, swapin, the pager I/O and the close) for a partly cached hostfs file
 * and for an objfs file read through the DMU and a cold ARC; see
 * test_alloc_fault.c for the loop's rules.
 *
 * Before 3c2159f every injected failure in swapin or the debug pager
 * dispatch panicked (VERIFY on malloc); now swapin retries or the socket
 * aborts, and the stream is whole or a clean prefix.
 */
#include "alloc_testlib.h"
#include "fault_alloc.h"

#include "core/util.h"
#include "fs/hostfs/hostfs.h"
#include "fs/objfs/arc.h"
#include "fs/objfs/image.h"
#include "fs/objfs/mkimage.h"
#include "fs/objfs/objfs_vfs.h"
#include "io/io.h"
#include "pager/pager.h"
#include "sendfile/sendfile.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/mempager.h"

TestSuite(fault_alloc_sendfile, .init = fat_setup, .fini = fat_teardown, .timeout = 240);

struct sf_case {
	int policy;
	int flags;       /* vms_sendfile flags */
	bool all_cached; /* the whole file in the cache first (else pages 3-4 and 20) */
	bool zc;         /* zero-copy sends (sf_send_zc) */
};

/*
 * One vms_sendfile of the hostfs file, partly cached (coalesce makes runs
 * with bogus slots) or wholly, headers first.  Armed over socket creation,
 * the call, the I/O and the close.  Returns whether the failure was injected.
 */
static bool
op_sendfile_hostfs(unsigned long n, const void *arg)
{
	const struct sf_case *sc = arg;
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/h/sub/file.bin", &vp), 0);
	if (sc->all_cached) {
		fat_cache_pages(vp->object, 0, (int)howmany(FILE_SIZE, PAGE_SIZE));
	} else {
		fat_cache_pages(vp->object, 3, 2);
		fat_cache_pages(vp->object, 20, 1);
	}
	sf_swapin_policy = sc->policy;
	sf_send_zc = sc->zc;
	sf_zc_min = 4096;
	bool fired =
	    fat_send_armed(n, vp, sc->flags, fat_fdata, FILE_SIZE, "alloc_sendfile_hostfs");
	sf_send_zc = 0;
	vnode_rele(vp);
	return fired;
}

Test(fault_alloc_sendfile, alloc_sendfile_hostfs)
{
	struct sf_case coalesce = {.policy = SF_POLICY_COALESCE};
	struct sf_case split = {.policy = SF_POLICY_SPLIT};
	struct sf_case nocache_ra = {.policy = SF_POLICY_COALESCE,
				     .flags = SF_FLAGS(8, SF_NOCACHE | SF_USER_READAHEAD)};
	struct sf_case nodiskio = {
	    .policy = SF_POLICY_COALESCE, .flags = SF_NODISKIO, .all_cached = true};
	struct sf_case zc = {.policy = SF_POLICY_COALESCE, .zc = true};
	cr_assert_gt(fat_loop_run("alloc_sendfile_hostfs(coalesce)", op_sendfile_hostfs, &coalesce),
		     5);
	cr_assert_gt(fat_loop_run("alloc_sendfile_hostfs(split)", op_sendfile_hostfs, &split), 5);
	cr_assert_gt(fat_loop_run("alloc_sendfile_hostfs(nocache, readahead 8)", op_sendfile_hostfs,
				  &nocache_ra),
		     5);
	cr_assert_gt(
	    fat_loop_run("alloc_sendfile_hostfs(nodiskio, cached)", op_sendfile_hostfs, &nodiskio),
	    2);
	uint64_t zc0 = counter_get(&sf_stats.sends_zc);
	cr_assert_gt(fat_loop_run("alloc_sendfile_hostfs(zero-copy)", op_sendfile_hostfs, &zc), 5);
	/* Where the kernel has zero-copy sends, the loop went through them. */
	if (io_loop_features(fat_loop)->send_zc)
		cr_assert_gt(counter_get(&sf_stats.sends_zc), zc0, "no zero-copy send was made");
}

/* vms_sendfile of an objfs file through the DMU and a cold ARC (remounted each time). */
static bool
op_sendfile_objfs(unsigned long n, const void *arg)
{
	vfs_unmount_all();
	cr_assert_eq(vfs_mount("/h", "hostfs", fat_dir, NULL), 0);
	cr_assert_eq(vfs_mount("/img", "objfs", fat_image, NULL), 0);
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/img/obj.bin", &vp), 0);
	fat_cache_pages(vp->object, 5, 1);
	sf_swapin_policy = *(const int *)arg;
	bool fired = fat_send_armed(n, vp, 0, fat_odata, OBJ_SIZE, "alloc_sendfile_objfs");
	vnode_rele(vp);
	return fired;
}

Test(fault_alloc_sendfile, alloc_sendfile_objfs)
{
	int coalesce = SF_POLICY_COALESCE;
	cr_assert_gt(fat_loop_run("alloc_sendfile_objfs", op_sendfile_objfs, &coalesce), 5);
}

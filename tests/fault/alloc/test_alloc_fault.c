/*
 * Fault-injection loops, SQLite style: for N = 1, 2, ... the Nth allocation
 * (or I/O) of an operation fails; a loop ends with the first N at which the
 * operation completed with nothing injected.  After every iteration the
 * operation failed cleanly (a negative errno, never wrong bytes) and no
 * page is busy or wired, no object, socket, vnode or descriptor leaked;
 * after every loop LeakSanitizer finds no leaked memory.  Each loop prints
 * how many injection points it exercised.
 *
 *   malloc  cold vfs_lookup                               alloc_vfs_lookup
 *   malloc  vfs_lookup of a cached file replaced on disk  alloc_vfs_lookup_changed
 *   malloc  objfs image open + lookup + read              alloc_objfs_image
 *   malloc  mount + lookup + one page in, hostfs / objfs  alloc_vfs_mount_*
 *           (with the private ring and the global ARC made afresh)
 *   EIO     hostfs Nth read (coalesce, split, short reads) io_hostfs_*
 *   EIO     memory pager Nth I/O (deferred, threaded)      io_mempager_*
 *   the page arena exhausted (every page wired)            arena_exhausted_*
 *   malloc  the io loop's timer heap cannot grow           io_timer_heap_cannot_grow
 *
 * malloc failing inside vms_sendfile: test_alloc_sendfile.c.
 */
#include "alloc_testlib.h"
#include "fault_alloc.h"

#include "core/tunable.h"
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

TestSuite(fault_alloc, .init = fat_setup, .fini = fat_teardown, .timeout = 240);

/* ---- malloc failing at the Nth call ---- */

/* A cold vfs_lookup (the name cache is flushed after every iteration). */
static bool
op_vfs_lookup(unsigned long n, const void *arg)
{
	struct vnode *vp = NULL;
	fault_alloc_arm(n);
	int r = vfs_lookup("/h/sub/file.bin", &vp);
	bool fired = fault_alloc_disarm();
	cr_assert(r == 0 || r == -ENOMEM, "N=%lu: vfs_lookup gave %d", n, r);
	cr_assert(fired || r == 0, "N=%lu: failed (%d) with nothing injected", n, r);
	if (r == 0) {
		cr_assert_eq(vp->va.size, FILE_SIZE);
		cr_assert_not_null(vp->object);
		vnode_rele(vp);
	}
	return fired;
}

Test(fault_alloc, alloc_vfs_lookup)
{
	cr_assert_gt(fat_loop_run("alloc_vfs_lookup", op_vfs_lookup, NULL), 2);
}

/* Replace /h/sub/chg.bin by a new file of len bytes (write aside, rename over). */
static void
replace_chg(const uint8_t *data, size_t len)
{
	char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
	snprintf(tmp, sizeof(tmp), "%s/sub/.chg.tmp", fat_dir);
	snprintf(path, sizeof(path), "%s/sub/chg.bin", fat_dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	cr_assert_eq(rename(tmp, path), 0);
}

/*
 * A lookup that finds the cached file replaced on disk: revalidation, then a
 * new vnode and object, while the holder of the old vnode keeps it.
 */
static bool
op_vfs_lookup_changed(unsigned long n, const void *arg)
{
	struct vnode *old, *vp = NULL;
	replace_chg(fat_fdata, 5000);
	cr_assert_eq(vfs_lookup("/h/sub/chg.bin", &old), 0);
	replace_chg(fat_fdata + 1, 9000);
	int64_t valid_was = vfs_valid_ms;
	vfs_valid_ms = 0; /* check the identity on every lookup */
	fault_alloc_arm(n);
	int r = vfs_lookup("/h/sub/chg.bin", &vp);
	bool fired = fault_alloc_disarm();
	vfs_valid_ms = valid_was;
	cr_assert(r == 0 || r == -ENOMEM, "N=%lu: vfs_lookup gave %d", n, r);
	cr_assert(fired || r == 0, "N=%lu: failed (%d) with nothing injected", n, r);
	if (r == 0) {
		cr_assert_neq(vp, old, "N=%lu: the replaced file's vnode came back", n);
		cr_assert_eq(vp->va.size, 9000);
		vnode_rele(vp);
	}
	cr_assert_eq(old->va.size, 5000, "the old holder's vnode changed");
	vnode_rele(old);
	return fired;
}

Test(fault_alloc, alloc_vfs_lookup_changed)
{
	uint64_t changed0 = counter_get(&vfs_stats.changed);
	cr_assert_gt(fat_loop_run("alloc_vfs_lookup_changed", op_vfs_lookup_changed, NULL), 2);
	cr_assert_gt(counter_get(&vfs_stats.changed), changed0, "no lookup saw the change");
}

/* objfs image API: open, look the file up, read it all, close. */
static bool
op_objfs_image(unsigned long n, const void *arg)
{
	static uint8_t buf[OBJ_SIZE];
	struct objfs_image *img;
	struct objfs_dnode dn;
	char err[256];
	memset(buf, 0, sizeof(buf));
	fault_alloc_arm(n);
	int r = objfs_image_open(fat_image, OBJFS_OPEN_QUIET, &img, err, sizeof(err));
	if (r == 0) {
		/* Short of memory is no reason to mount an older generation of the image. */
		const struct objfs_image_info *info = objfs_image_info(img);
		uint64_t gen = info->generation;
		bool fell_back = info->fell_back;
		if (fell_back || gen != *(const uint64_t *)arg) {
			fault_alloc_disarm();
			cr_assert_fail(
			    "N=%lu: opened generation %llu (fell back: %d), newest is %llu", n,
			    (unsigned long long)gen, fell_back,
			    (unsigned long long)*(const uint64_t *)arg);
		}
		r = objfs_image_lookup(img, "obj.bin", &dn);
		if (r == 0) {
			ssize_t got = objfs_image_pread(img, &dn, buf, OBJ_SIZE, 0);
			r = got < 0 ? (int)got : 0;
			if (got >= 0)
				cr_assert_eq(got, OBJ_SIZE, "N=%lu: short read %zd", n, got);
		}
		objfs_image_close(img);
	}
	bool fired = fault_alloc_disarm();
	cr_assert(r == 0 || r == -ENOMEM, "N=%lu: objfs gave %d (%s)", n, r, err);
	cr_assert(fired || r == 0, "N=%lu: failed (%d) with nothing injected", n, r);
	if (r == 0)
		cr_assert_eq(memcmp(buf, fat_odata, OBJ_SIZE), 0, "N=%lu: wrong bytes", n);
	return fired;
}

Test(fault_alloc, alloc_objfs_image)
{
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(fat_image, OBJFS_OPEN_QUIET, &img, NULL, 0), 0);
	uint64_t newest = objfs_image_info(img)->generation;
	cr_assert(!objfs_image_info(img)->fell_back);
	objfs_image_close(img);
	cr_assert_gt(fat_loop_run("alloc_objfs_image", op_objfs_image, &newest), 3);
}

/*
 * Mount (hostfs: the directory; objfs: the image) at /m, look the file up
 * and page one page in; then back to the set-up's mounts.
 */
static bool
op_vfs_mount(unsigned long n, const void *arg)
{
	bool objfs = strcmp(arg, "objfs") == 0;
	const char *lookup = objfs ? "/m/obj.bin" : "/m/sub/file.bin";
	const uint8_t *data = objfs ? fat_odata : fat_fdata;
	struct vnode *vp = NULL;
	/*
	 * Injection also reaches what is made once and kept: this thread's
	 * private ring (made by the first synchronous read) and the global
	 * ARC (made by the first objfs mount).  Both panicked when they could
	 * not be made; now the read says PAGER_AGAIN and the mount -ENOMEM.
	 */
	io_loop_private_destroy();
	if (objfs) {
		vfs_unmount_all();
		vfs_cache_flush();
		arc_global_fini();
		cr_assert_eq(vfs_mount("/h", "hostfs", fat_dir, NULL), 0);
	}
	fault_alloc_arm(n);
	int r = vfs_mount("/m", arg, objfs ? fat_image : fat_dir, NULL);
	if (r == 0)
		r = vfs_lookup(lookup, &vp);
	struct vm_page *m = NULL;
	int pr = PAGER_OK;
	if (r == 0) {
		m = vm_page_grab(vp->object, 1, 0);
		cr_assert_not_null(m);
		pr = pager_getpages(vp->object, &m, 1, NULL, NULL);
	}
	bool fired = fault_alloc_disarm();
	cr_assert(r == 0 || r == -ENOMEM, "N=%lu: mount/lookup gave %d", n, r);
	/* A pager short of memory says PAGER_AGAIN (pager.h), never a wrong page. */
	cr_assert(pr == PAGER_OK || pr == PAGER_AGAIN, "N=%lu: getpages gave %s", n,
		  pager_strerror(pr));
	if (pr != PAGER_OK)
		r = pager_to_errno(pr);
	cr_assert(fired || r == 0, "N=%lu: failed (%d) with nothing injected", n, r);
	if (m != NULL) {
		if (r == 0)
			cr_assert_eq(memcmp(vm_page_data(m), data + PAGE_SIZE, PAGE_SIZE), 0,
				     "N=%lu: wrong bytes paged in", n);
		if (vm_page_all_valid(m))
			vm_page_xunbusy(m);
		else
			vm_page_free(m, false);
	}
	if (vp != NULL)
		vnode_rele(vp);
	vfs_unmount_all();
	cr_assert_eq(vfs_mount("/h", "hostfs", fat_dir, NULL), 0);
	cr_assert_eq(vfs_mount("/img", "objfs", fat_image, NULL), 0);
	cr_assert_not_null(io_loop_private()); /* the baseline's descriptors */
	return fired;
}

Test(fault_alloc, alloc_vfs_mount_hostfs)
{
	cr_assert_gt(fat_loop_run("alloc_vfs_mount(hostfs)", op_vfs_mount, "hostfs"), 3);
}

Test(fault_alloc, alloc_vfs_mount_objfs)
{
	cr_assert_gt(fat_loop_run("alloc_vfs_mount(objfs)", op_vfs_mount, "objfs"), 3);
}

/* ---- I/O errors at each I/O ---- */

struct io_case {
	int policy;
	int64_t read_cap; /* hostfs_debug_read_cap: every read comes back short */
	enum mempager_mode mode;
	unsigned caps;
};

/* hostfs: the Nth page-in I/O of one send fails with EIO after its read ran. */
static bool
op_io_hostfs(unsigned long n, const void *arg)
{
	const struct io_case *ic = arg;
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/h/sub/file.bin", &vp), 0);
	fat_cache_pages(vp->object, 3, 2);
	fat_cache_pages(vp->object, 20, 1);
	fat_cache_pages(vp->object, 33, 3);
	sf_swapin_policy = ic->policy;
	hostfs_debug_read_cap = ic->read_cap;
	uint64_t inj0 = counter_get(&hostfs_stats.injected);
	uint64_t err0 = counter_get(&sf_stats.io_errors);
	struct fat_conn c;
	fat_conn_open(&c);
	cr_assert_eq(vms_socket_create(fat_loop, c.fds[0], NULL, &c.so), 0);
	struct iovec h = {"head", 4};
	struct vms_hdtr hd = {&h, 1, NULL, 0};

	hostfs_fail_nth_read((unsigned)n, -EIO);
	int r = vms_sendfile_vnode(c.so, vp, 0, 0, &hd, NULL, SF_FLAGS(4, SF_USER_READAHEAD));
	if (r == 0)
		r = fat_conn_flush(&c, NULL);
	fat_conn_close(&c, VMS_CLOSE_LINGER);
	hostfs_fail_nth_read(0, -EIO);
	hostfs_debug_read_cap = 0;
	bool fired = counter_get(&hostfs_stats.injected) != inj0;

	cr_assert_eq(r, fired ? -EIO : 0, "N=%lu: injected %d, vms_sendfile gave %d", n, fired, r);
	cr_assert_eq(counter_get(&sf_stats.io_errors) - err0, fired ? 1 : 0,
		     "N=%lu: one injected error, one failed pager I/O", n);
	fat_check_stream(&c, fat_fdata, 0, FILE_SIZE, !fired, "io_hostfs", n);
	fat_conn_free(&c);
	vnode_rele(vp);
	return fired;
}

Test(fault_alloc, io_hostfs_coalesce)
{
	struct io_case ic = {.policy = SF_POLICY_COALESCE};
	cr_assert_geq(fat_loop_run("io_hostfs(coalesce)", op_io_hostfs, &ic), 2);
}

Test(fault_alloc, io_hostfs_split)
{
	struct io_case ic = {.policy = SF_POLICY_SPLIT};
	cr_assert_geq(fat_loop_run("io_hostfs(split)", op_io_hostfs, &ic), 4);
}

Test(fault_alloc, io_hostfs_short_reads)
{
	/* Every read SQE capped at 3000 bytes: each I/O is resumed several times. */
	struct io_case ic = {.policy = SF_POLICY_SPLIT, .read_cap = 3000};
	uint64_t short0 = counter_get(&hostfs_stats.short_reads);
	cr_assert_geq(fat_loop_run("io_hostfs(short reads)", op_io_hostfs, &ic), 4);
	cr_assert_gt(counter_get(&hostfs_stats.short_reads), short0, "no read came back short");
}

/* Memory pager: the Nth I/O fails; completions deferred until the fat_loop delivers them. */
static bool
op_io_mempager(unsigned long n, const void *arg)
{
	const struct io_case *ic = arg;
	struct vm_object *obj = mempager_create(fat_odata, OBJ_SIZE, ic->caps, "victim");
	mempager_set_mode(obj, ic->mode, 30);
	mempager_set_block(obj, 4);
	mempager_set_readahead(obj, true);
	mempager_set_hole(obj, 12, 2);
	fat_cache_pages(obj, 2, 1);
	fat_cache_pages(obj, 7, 2);
	sf_swapin_policy = ic->policy;
	uint64_t err0 = counter_get(&sf_stats.io_errors);
	static uint8_t expect[OBJ_SIZE];
	memcpy(expect, fat_odata, OBJ_SIZE);
	memset(expect + 12 * PAGE_SIZE, 0, 2 * PAGE_SIZE);
	struct fat_conn c;
	fat_conn_open(&c);
	cr_assert_eq(vms_socket_create(fat_loop, c.fds[0], NULL, &c.so), 0);
	struct iovec h = {"head", 4};
	struct vms_hdtr hd = {&h, 1, NULL, 0};

	mempager_fail_nth(obj, (unsigned)n, -EIO);
	int r = vms_sendfile_object(c.so, obj, 0, 0, &hd, NULL, 0);
	if (r == 0)
		r = fat_conn_flush(&c, ic->mode == MEMPAGER_DEFERRED ? obj : NULL);
	vms_socket_close(c.so, VMS_CLOSE_LINGER);
	c.so = NULL;
	for (int i = 0; i < 100000 && (mempager_pending(obj) > 0 || vms_socket_count() > 0); i++) {
		mempager_complete_pending(obj);
		fat_conn_run(&c);
	}
	mempager_drain(obj);
	fat_conn_close(&c, VMS_CLOSE_LINGER);
	struct mempager_stats ms;
	mempager_get_stats(obj, &ms);
	bool fired = ms.errors > 0;

	cr_assert_eq(r, fired ? -EIO : 0, "N=%lu: injected %d, vms_sendfile gave %d", n, fired, r);
	cr_assert_eq(counter_get(&sf_stats.io_errors) - err0, fired ? 1 : 0,
		     "N=%lu: one injected error, one failed pager I/O", n);
	fat_check_stream(&c, expect, 0, OBJ_SIZE, !fired, "io_mempager", n);
	fat_conn_free(&c);
	vm_object_deallocate(obj);
	return fired;
}

Test(fault_alloc, io_mempager_deferred_coalesce)
{
	struct io_case ic = {
	    .policy = SF_POLICY_COALESCE, .mode = MEMPAGER_DEFERRED, .caps = PAGER_CAP_BOGUS};
	cr_assert_gt(fat_loop_run("io_mempager(deferred, coalesce)", op_io_mempager, &ic), 3);
}

Test(fault_alloc, io_mempager_deferred_split)
{
	struct io_case ic = {.policy = SF_POLICY_SPLIT, .mode = MEMPAGER_DEFERRED, .caps = 0};
	cr_assert_gt(fat_loop_run("io_mempager(deferred, split)", op_io_mempager, &ic), 3);
}

Test(fault_alloc, io_mempager_thread_coalesce)
{
	struct io_case ic = {
	    .policy = SF_POLICY_COALESCE, .mode = MEMPAGER_THREAD, .caps = PAGER_CAP_BOGUS};
	cr_assert_gt(fat_loop_run("io_mempager(thread, coalesce)", op_io_mempager, &ic), 3);
}

/* ---- the page arena exhausted ---- */

/* Wire every page of the arena into a hog object; returns how many. */
static int
arena_hog(struct vm_object *hog, struct vm_page **held, int max)
{
	int n = 0;
	/* All of it, past the wired bound (vm.h, rule 1): a dry arena is the point. */
	cr_assert_eq(vms_tunable_set("vm_max_wired_pct", "100"), 0);
	while (n < max) {
		struct vm_page *m = vm_page_grab(
		    hog, (uint64_t)n, VM_ALLOC_WIRED | VM_ALLOC_NOBUSY | VM_ALLOC_NOWAIT);
		if (m == NULL)
			break;
		held[n++] = m;
	}
	struct vm_counts vc;
	vm_counts(&vc);
	cr_assert_eq(vc.free, 0, "pages left free with the arena hogged");
	cr_assert_eq(vc.wired, vc.total, "%llu of %llu pages wired", (unsigned long long)vc.wired,
		     (unsigned long long)vc.total);
	return n;
}

static void
arena_release(struct vm_page **held, int n)
{
	for (int i = 0; i < n; i++)
		vm_page_unwire(held[i]);
}

Test(fault_alloc, arena_exhausted_nodiskio_ebusy)
{
	static struct vm_page *held[512];
	static uint8_t zero[300 * PAGE_SIZE];
	struct vm_object *hog = mempager_create(zero, sizeof(zero), 0, "hog");
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/h/sub/file.bin", &vp), 0);
	int nheld = arena_hog(hog, held, 300);

	struct fat_conn c;
	fat_conn_open(&c);
	cr_assert_eq(vms_socket_create(fat_loop, c.fds[0], NULL, &c.so), 0);
	struct iovec h = {"head", 4};
	struct vms_hdtr hd = {&h, 1, NULL, 0};
	off_t sb = -1;
	int r = vms_sendfile_vnode(c.so, vp, 0, 0, &hd, &sb, SF_NODISKIO);
	cr_assert_eq(r, -EBUSY, "SF_NODISKIO with no page to be had gave %d", r);
	cr_assert_eq(sb, 4, "only the header was queued, sbytes %lld", (long long)sb);
	cr_assert_eq(vms_socket_flush(c.so), 0);
	fat_conn_close(&c, VMS_CLOSE_LINGER);
	cr_assert_eq(c.len, 4);
	cr_assert_eq(memcmp(c.buf, "head", 4), 0);
	arena_release(held, nheld);
	fat_conn_free(&c);
	vnode_rele(vp);
	vm_object_deallocate(hog);
	fat_check_clean("arena_exhausted_nodiskio", 0);
}

/*
 * Without SF_NODISKIO the call queues the range not ready and returns; the
 * socket waits (swapin retries from a timer) and sends nothing of the file
 * until pages come back, then every byte arrives.  Or, closed while it
 * waits, it goes away with nothing left behind.
 */
static void
arena_exhausted_wait(bool abort_while_waiting)
{
	static struct vm_page *held[512];
	static uint8_t zero[300 * PAGE_SIZE];
	struct vm_object *hog = mempager_create(zero, sizeof(zero), 0, "hog");
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/h/sub/file.bin", &vp), 0);
	int nheld = arena_hog(hog, held, 300);

	struct fat_conn c;
	fat_conn_open(&c);
	cr_assert_eq(vms_socket_create(fat_loop, c.fds[0], NULL, &c.so), 0);
	struct iovec h = {"head", 4};
	struct vms_hdtr hd = {&h, 1, NULL, 0};
	off_t sb = -1;
	cr_assert_eq(vms_sendfile_vnode(c.so, vp, 0, 0, &hd, &sb, 0), 0);
	cr_assert_eq(sb, 4 + FILE_SIZE, "the range is queued (not ready) at once");
	uint64_t fails0 = counter_get(&vm_stats.alloc_fail);
	for (int i = 0; i < 20; i++)
		fat_conn_run(&c);
	cr_assert_leq(c.len, 4, "file bytes were sent with no page in the arena");
	cr_assert_eq(vms_socket_error(c.so), 0);
	cr_assert_gt(vms_socket_sbcc(c.so), 0);
	cr_assert_gt(counter_get(&vm_stats.alloc_fail), fails0, "swapin did not try again");
	if (abort_while_waiting) {
		fat_conn_close(&c, VMS_CLOSE_ABORT);
		cr_assert_leq(c.len, 4);
		arena_release(held, nheld);
	} else {
		arena_release(held, nheld);
		cr_assert_eq(fat_conn_flush(&c, NULL), 0);
		fat_conn_close(&c, VMS_CLOSE_LINGER);
		fat_check_stream(&c, fat_fdata, 0, FILE_SIZE, true, "arena_exhausted_wait", 0);
	}
	fat_conn_free(&c);
	vnode_rele(vp);
	vm_object_deallocate(hog);
	fat_check_clean("arena_exhausted_wait", 0);
}

Test(fault_alloc, arena_exhausted_waits_then_sends)
{
	arena_exhausted_wait(false);
}

Test(fault_alloc, arena_exhausted_abort_while_waiting)
{
	arena_exhausted_wait(true);
}

/* ---- the io loop's timer heap cannot grow ---- */

struct fat_timer {
	struct io_timer t;
	int fired;
};

static void
fat_timer_fn(struct io_timer *t)
{
	container_of(t, struct fat_timer, t)->fired++;
}

/*
 * Arm timers one at a time with the next allocation failing: arms that fit
 * the heap allocate nothing; one that needs it to grow gets -ENOMEM and
 * leaves its timer unarmed and the others intact (then it is armed again
 * with memory back).  Moving an armed timer never allocates.  Before the
 * fix, the first such arm panicked (VERIFY).
 */
Test(fault_alloc, io_timer_heap_cannot_grow)
{
	enum { NT = 100 };
	struct fat_timer *ts = calloc(NT, sizeof(*ts));
	cr_assert_not_null(ts);
	int nfailed = 0;
	for (int i = 0; i < NT; i++) {
		ts[i].t.fn = fat_timer_fn;
		fault_alloc_arm(1);
		int rc = io_timer_arm(fat_loop, &ts[i].t, 1000000ull * (uint64_t)(1 + i % 7));
		bool fired = fault_alloc_disarm();
		if (rc == 0) {
			cr_assert(!fired, "timer %d: armed, yet its failed allocation was taken",
				  i);
			cr_assert(ts[i].t.armed);
			continue;
		}
		cr_assert_eq(rc, -ENOMEM, "timer %d: io_timer_arm gave %d", i, rc);
		cr_assert(fired, "timer %d: %d with nothing injected", i, rc);
		cr_assert(!ts[i].t.armed, "timer %d: armed after -ENOMEM", i);
		nfailed++;
		cr_assert_eq(io_timer_arm(fat_loop, &ts[i].t, 1000000ull), 0, "timer %d", i);
	}
	/* The heap starts empty and doubles: it had to grow at least twice for NT timers. */
	cr_assert_geq(nfailed, 2, "only %d of %d arms needed the heap to grow", nfailed, NT);
	/* Moving armed timers reuses their slots: no allocation, even with the heap full. */
	fault_alloc_arm(1);
	for (int i = 0; i < NT; i++)
		cr_assert_eq(io_timer_arm(fat_loop, &ts[i].t, 2000000ull), 0, "moving timer %d", i);
	cr_assert(!fault_alloc_disarm(), "moving an armed timer allocated");
	/* Every timer fires exactly once. */
	for (int k = 0; k < 10000; k++) {
		bool all = true;
		for (int i = 0; i < NT; i++)
			all = all && ts[i].fired > 0;
		if (all)
			break;
		io_loop_run_once(fat_loop, true, 1000000ull);
	}
	for (int i = 0; i < NT; i++) {
		cr_assert_eq(ts[i].fired, 1, "timer %d fired %d times", i, ts[i].fired);
		cr_assert(!ts[i].t.armed);
	}
	free(ts);
	fat_check_clean("io_timer_heap_cannot_grow", 0);
}

/*
 * The radosfs pager's optional pages, against the dev cluster (this
 * folder's fixture): read-behind and read-ahead stay inside the chunks of
 * the request's object, stop at the first resident page (contract rule 9),
 * and fill their pages with the dataset's bytes.  The data set is one file
 * of two 64 KiB objects in 16 KiB chunks, so pages 0-15 are object 0 and
 * chunks are 4 pages.  Skips (77) with the reason without the cluster.
 */
#include "core/util.h"
#include "fs/radosfs/radosfs.h"
#include "io/io.h"
#include "pager/pager.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NPAGES = 32 };

static char dir[PATH_MAX];
static unsigned char data[NPAGES * PAGE_SIZE];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void
teardown(void)
{
	vfs_unmount_all();
	io_loop_private_destroy();
	vm_fini();
	if (dir[0] != '\0')
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(rados_pager, .fini = teardown, .timeout = 120);

/* Put the file in a fresh namespace and mount it; returns its object. */
static struct vm_object *
setup(struct vnode **vpp)
{
	const char *ceph = getenv("VMSEND_CEPH_DIR"), *bin = getenv("VMSEND_BINARY_DIR");
	char conf[PATH_MAX], cmd[3 * PATH_MAX + 256], path[PATH_MAX + 8], src[128];

	if (ceph == NULL || bin == NULL)
		cr_skip_test("VMSEND_CEPH_DIR/VMSEND_BINARY_DIR not set (run through ctest)");
	snprintf(conf, sizeof(conf), "%s/ceph.conf", ceph);
	if (access(conf, R_OK) != 0)
		cr_skip_test("no dev cluster at %s (the rados_cluster_start fixture did not run)",
			     ceph);
	cr_assert_eq(vm_init(256 * PAGE_SIZE), 0);
	snprintf(dir, sizeof(dir), "/tmp/vmsend-rados-pager-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131 + i / PAGE_SIZE * 7 + 1);
	snprintf(path, sizeof(path), "%s/f", dir);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, sizeof(data), f), sizeof(data));
	cr_assert_eq(fclose(f), 0);
	snprintf(cmd, sizeof(cmd),
		 "ASAN_OPTIONS=detect_leaks=0 %s/src/cli/vmsend rados put %s --pool vmsend "
		 "--namespace pager-%d --ceph-conf %s --stripe-size 64K --chunk-size 16K "
		 "--no-progress >/dev/null",
		 bin, dir, (int)getpid(), conf);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	radosfs_set_conf(conf);
	radosfs_register();
	snprintf(src, sizeof(src), "vmsend/pager-%d", (int)getpid());
	cr_assert_eq(vfs_mount("/r", "rados", src, NULL), 0);
	cr_assert_eq(vfs_lookup("/r/f", vpp), 0);
	cr_assert_eq((*vpp)->va.size, sizeof(data));
	return (*vpp)->object;
}

/* 0: not resident; 1: resident, not valid; 2: valid with the file's bytes; 3: valid, wrong bytes. */
static int
page_state(struct vm_object *obj, uint64_t p)
{
	vm_object_lock(obj);
	struct vm_page *m = vm_page_lookup(obj, p);
	int st = m == NULL ? 0 : !vm_page_all_valid(m) ? 1 : 2;
	if (st == 2 && memcmp(vm_page_data(m), data + p * PAGE_SIZE, PAGE_SIZE) != 0)
		st = 3;
	vm_object_unlock(obj);
	return st;
}

Test(rados_pager, optional_pages_stay_in_the_object_and_stop_at_a_resident_page)
{
	/*
	 * Each case caches page `resident` first (-1: none), then reads page p
	 * offering want_b pages behind and want_a ahead: got_b and got_a come
	 * back, pages p - got_b .. p + got_a have the file's bytes, and page
	 * `absent` is not in the cache.
	 */
	static const struct {
		int resident, p, want_b, want_a, got_b, got_a, absent;
		const char *what;
	} cases[] = {
	    {-1, 5, 0, 0, 0, 0, 4, "none asked: the chunk's other pages go to the sink only"},
	    {-1, 10, 8, 0, 2, 0, 7, "behind stays in its chunk (8-11)"},
	    {1, 3, 8, 0, 1, 0, 0, "behind stops at resident page 1 (rule 9)"},
	    {13, 14, 8, 0, 0, 0, 12, "behind: nothing past resident page 13"},
	    {-1, 15, 0, 8, 0, 0, 16, "ahead stops where object 0 ends"},
	    {-1, 17, 0, 8, 0, 8, 26, "ahead: 18-25; the rest of chunk 24-27 goes to the sink"},
	};
	struct vnode *vp;
	struct vm_object *obj = setup(&vp);
	uint64_t behind0 = counter_get(&radosfs_stats.rbehind_pages);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rb = cases[i].want_b, ra = cases[i].want_a, none = 0;
		if (cases[i].resident >= 0) {
			struct vm_page *r = vm_page_grab(obj, (uint64_t)cases[i].resident, 0);
			cr_assert_not_null(r);
			cr_assert_eq(pager_getpages(obj, &r, 1, &none, &none), PAGER_OK);
			vm_page_xunbusy(r);
		}
		struct vm_page *m = vm_page_grab(obj, (uint64_t)cases[i].p, 0);
		cr_assert_not_null(m);
		cr_assert_eq(pager_getpages(obj, &m, 1, &rb, &ra), PAGER_OK, "%s", cases[i].what);
		vm_page_xunbusy(m);
		cr_assert_eq(rb, cases[i].got_b, "%s: %d behind", cases[i].what, rb);
		cr_assert_eq(ra, cases[i].got_a, "%s: %d ahead", cases[i].what, ra);
		for (int p = cases[i].p - rb; p <= cases[i].p + ra; p++)
			cr_assert_eq(page_state(obj, (uint64_t)p), 2, "%s: page %d", cases[i].what,
				     p);
		cr_assert_eq(page_state(obj, (uint64_t)cases[i].absent), 0, "%s: page %d cached",
			     cases[i].what, cases[i].absent);
	}
	cr_assert_eq(counter_get(&radosfs_stats.rbehind_pages) - behind0, 3);
	cr_assert(vm_quiescent(), "a page was left busy or wired");
	vnode_rele(vp);
}

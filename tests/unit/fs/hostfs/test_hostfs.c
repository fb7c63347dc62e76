/*
 * Tests for src/fs/hostfs/hostfs.c: lookup never leaves the mount, file
 * identity, changed files get new objects while old holders keep old bytes,
 * readdir.
 */
#include "hostfs_test.h"

#include "core/tunable.h"
#include "core/util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char base[PATH_MAX];      /* the scratch tree */
static char root[PATH_MAX + 64]; /* base/root: mounted at "/" */

/* mkdir base/[root/]rel */
static void
mk(bool in_root, const char *rel)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s%s", base, in_root ? "root/" : "", rel);
	cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s", p);
}

static void
ln(const char *target, const char *rel)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/root/%s", base, rel);
	cr_assert_eq(symlink(target, p), 0, "symlink %s", p);
}

/* The tree: base/outside/secret.txt, base/root/{in.txt, sub/in2.txt, links...}. */
static void
tree_setup(void)
{
	char p[PATH_MAX * 2];

	ht_setup(base, 4u << 20);
	vfs_unmount_all(); /* ht_setup mounted base itself; mount base/root instead */
	mk(false, "outside");
	mk(false, "root");
	mk(true, "sub");
	ht_write_file(base, "outside/secret.txt", "SECRET", 6);
	ht_write_file(base, "root/in.txt", "inside", 6);
	ht_write_file(base, "root/sub/in2.txt", "inside two", 10);
	ln("in.txt", "link_rel");
	ln("../in.txt", "sub/ok_up");
	ln("../outside/secret.txt", "escape");
	ln("../../outside", "sub/escape_dir");
	ln("/etc/passwd", "abs_link");
	snprintf(p, sizeof(p), "%s/root/in.txt", base);
	ln(p, "abs_inside"); /* absolute, even though it points inside */
	ln("/proc/self/root", "proc_root");
	ln("loop_b", "loop_a");
	ln("loop_a", "loop_b");
	snprintf(p, sizeof(p), "%s/root/fifo", base);
	cr_assert_eq(mkfifo(p, 0644), 0);
	snprintf(root, sizeof(root), "%s/root", base);
	cr_assert_eq(vfs_mount("/", "hostfs", root, NULL), 0);
}

static void
tree_teardown(void)
{
	ht_teardown(base);
}

/* Read a small file through the page cache. */
static void
expect_bytes(const char *path, const char *want)
{
	struct vnode *vp = NULL;
	struct ht_read_opts o = {0};
	struct ht_read_stats st = {0};
	char got[64] = {0};
	size_t len = strlen(want);
	int rv = vfs_lookup(path, &vp);

	cr_assert_eq(rv, 0, "%s: %s", path, strerror(-rv));
	cr_assert_eq(vp->va.type, VREG);
	cr_assert_eq(vp->va.size, len);
	cr_assert_eq(ht_cache_read(vp->object, 0, len, got, &o, &st), 0);
	cr_assert_str_eq(got, want, "%s", path);
	vnode_rele(vp);
}

static void
expect_refused(const char *path, int err)
{
	struct vnode *vp = NULL;
	int rv = vfs_lookup(path, &vp);

	cr_assert_eq(rv, err, "%s: got %d (%s), want %d (%s)", path, rv, strerror(-rv), err,
		     strerror(-err));
	cr_assert_null(vp);
}

TestSuite(hostfs_paths, .init = tree_setup, .fini = tree_teardown);

Test(hostfs_paths, files_inside_open)
{
	expect_bytes("/in.txt", "inside");
	expect_bytes("/sub/in2.txt", "inside two");
	expect_bytes("/link_rel", "inside");
	expect_bytes("/sub/ok_up", "inside");
	expect_bytes("/sub/./in2.txt", "inside two");
}

Test(hostfs_paths, escapes_are_refused)
{
	expect_refused("/../outside/secret.txt", -EXDEV);
	expect_refused("/sub/../../outside/secret.txt", -EXDEV);
	expect_refused("/escape", -EXDEV);
	expect_refused("/sub/escape_dir/secret.txt", -EXDEV);
	expect_refused("/abs_link", -EXDEV);
	expect_refused("/abs_inside", -EXDEV);
	expect_refused("/proc_root/etc/passwd", -EXDEV);
	/* Percent-encoding is the HTTP layer's to decode: here it is just a name. */
	expect_refused("/%2e%2e/outside/secret.txt", -ENOENT);
	expect_refused("/loop_a", -ELOOP);
	expect_refused("/fifo", -EACCES);
	expect_refused("/missing", -ENOENT);
}

Test(hostfs_paths, long_names_and_nul_are_refused)
{
	char name[NAME_MAX + 3], path[PATH_MAX + 16];
	struct vnode *vp = NULL;

	memset(name, 'a', sizeof(name));
	name[0] = '/';
	name[NAME_MAX + 2] = '\0';
	expect_refused(name, -ENAMETOOLONG);
	/* A path longer than PATH_MAX made of short names. */
	for (size_t i = 0; i + 2 < sizeof(path); i += 2)
		memcpy(path + i, "/a", 2);
	path[sizeof(path) - 1] = '\0';
	expect_refused(path, -ENAMETOOLONG);
	cr_assert_eq(vfs_lookupn("/in.txt\0../x", 12, &vp), -EINVAL);
	cr_assert_null(vp);
}

Test(hostfs_paths, the_kernel_refuses_escapes_even_if_vfs_did_not)
{
	struct mount *mp = NULL;
	struct vnode *vp = NULL;

	/* Call the fs directly, past vfs's ".." check: openat2 is the second wall. */
	vfs_unmount_all();
	cr_assert_eq(vfs_mount("/", "hostfs", root, &mp), 0);
	cr_assert_eq(hostfs_vfsops.lookup(mp, "../outside/secret.txt", &vp), -EXDEV);
	cr_assert_eq(hostfs_vfsops.lookup(mp, "sub/../../outside/secret.txt", &vp), -EXDEV);
	cr_assert_eq(hostfs_vfsops.lookup(mp, "/etc/passwd", &vp), -EXDEV);
	cr_assert_null(vp);
	cr_assert_eq(hostfs_vfsops.lookup(mp, "sub/../in.txt", &vp), 0, "inside is fine");
	vnode_rele(vp);
}

Test(hostfs_paths, magic_links_are_refused)
{
	/* A mount of /proc/self: its "root", "cwd" and "fd/N" are magic links. */
	cr_assert_eq(vfs_mount("/pself", "hostfs", "/proc/self", NULL), 0);
	expect_refused("/pself/root/etc/passwd", -ELOOP);
	expect_refused("/pself/cwd", -ELOOP);
	expect_refused("/pself/fd/0", -ELOOP);
	expect_refused("/pself/exe", -ELOOP);
}

Test(hostfs_paths, directories_and_identity)
{
	struct vnode *vp;
	struct stat sb;
	char p[PATH_MAX * 2];

	cr_assert_eq(vfs_lookup("/sub", &vp), 0);
	cr_assert_eq(vp->va.type, VDIR);
	cr_assert_null(vp->object);
	vnode_rele(vp);
	cr_assert_eq(vfs_lookup("/sub/in2.txt", &vp), 0);
	snprintf(p, sizeof(p), "%s/sub/in2.txt", root);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(vp->va.ino, sb.st_ino);
	cr_assert_eq(vp->va.size, (uint64_t)sb.st_size);
	cr_assert_eq(vp->va.mtime.tv_sec, sb.st_mtim.tv_sec);
	cr_assert_eq(vp->va.mtime.tv_nsec, sb.st_mtim.tv_nsec);
	cr_assert_eq(vp->va.dev, ((uint64_t)major(sb.st_dev) << 32) | minor(sb.st_dev));
	cr_assert_eq(vp->object->size, 10);
	cr_assert_eq(vp->object->pager, &hostfs_pager_ops);
	cr_assert(hostfs_pager_ops.caps & PAGER_CAP_BOGUS);
	vnode_rele(vp);
}

Test(hostfs_paths, without_openat2_the_walk_follows_no_symlink)
{
	struct mount *mp = NULL;
	struct vnode *vp = NULL;

	cr_assert_eq(vms_tunable_set("hostfs_openat2", "0"), 0);
	expect_bytes("/in.txt", "inside");
	expect_bytes("/sub/in2.txt", "inside two");
	expect_bytes("/sub/./in2.txt", "inside two");
	cr_assert_eq(vfs_lookup("/sub/", &vp), 0);
	cr_assert_eq(vp->va.type, VDIR);
	vnode_rele(vp);
	/* Every symlink is refused, inside or not. */
	expect_refused("/link_rel", -ELOOP);
	expect_refused("/sub/ok_up", -ELOOP);
	expect_refused("/escape", -ELOOP);
	expect_refused("/sub/escape_dir/secret.txt", -ELOOP);
	expect_refused("/abs_link", -ELOOP);
	expect_refused("/proc_root/etc/passwd", -ELOOP);
	expect_refused("/fifo", -EACCES);
	expect_refused("/missing", -ENOENT);
	vfs_unmount_all();
	vp = NULL;
	cr_assert_eq(vfs_mount("/", "hostfs", root, &mp), 0);
	cr_assert_eq(hostfs_vfsops.lookup(mp, "../outside/secret.txt", &vp), -EXDEV);
	cr_assert_eq(hostfs_vfsops.lookup(mp, "sub/../../outside/secret.txt", &vp), -EXDEV);
	cr_assert_eq(hostfs_vfsops.lookup(mp, "/etc/passwd", &vp), -EXDEV);
	cr_assert_null(vp);
	cr_assert_eq(vfs_mount("/pself", "hostfs", "/proc/self", NULL), 0);
	expect_refused("/pself/root/etc/passwd", -ELOOP);
	expect_refused("/pself/fd/0", -ELOOP);
}

struct listing {
	char names[16][64];
	enum vtype types[16];
	int n;
};

static int
list_cb(void *arg, const char *name, const struct vattr *va)
{
	struct listing *l = arg;

	cr_assert_lt(l->n, 16);
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	l->types[l->n++] = va->type;
	return 0;
}

Test(hostfs_paths, readdir_lists_files_and_dirs)
{
	struct mount *mp = NULL;
	struct listing l = {0};
	bool in = false, sub = false;

	vfs_unmount_all();
	cr_assert_eq(vfs_mount("/", "hostfs", root, &mp), 0);
	cr_assert_eq(mp->ops->readdir(mp, "", list_cb, &l), 0);
	for (int i = 0; i < l.n; i++) {
		cr_assert_neq(strcmp(l.names[i], ".."), 0);
		cr_assert_neq(strcmp(l.names[i], "fifo"), 0, "a FIFO is not served");
		if (strcmp(l.names[i], "in.txt") == 0)
			in = l.types[i] == VREG;
		if (strcmp(l.names[i], "sub") == 0)
			sub = l.types[i] == VDIR;
	}
	cr_assert(in && sub);
	cr_assert_eq(mp->ops->readdir(mp, "../outside", list_cb, &l), -EXDEV);
}

/* ---- changed files ---- */

static char cdir[PATH_MAX];

static void
read_obj(struct vm_object *obj, uint64_t off, size_t len, void *out)
{
	struct ht_read_opts o = {0};
	struct ht_read_stats st = {0};

	cr_assert_eq(ht_cache_read(obj, off, len, out, &o, &st), 0);
}

static void
replace_file(const char *name, const void *data, size_t len)
{
	char tmp[PATH_MAX + 64], dst[PATH_MAX + 64];

	ht_write_file(cdir, "tmp.new", data, len);
	snprintf(tmp, sizeof(tmp), "%s/tmp.new", cdir);
	snprintf(dst, sizeof(dst), "%s/%s", cdir, name);
	cr_assert_eq(rename(tmp, dst), 0);
}

static void
changed_file_test(bool direct)
{
	enum { V1 = 6 * PAGE_SIZE + 10, V2 = 4 * PAGE_SIZE + 99 };
	static char v1[V1], v2[V2], got[V1];
	struct vnode *a, *b;

	ht_setup(cdir, 4u << 20);
	cr_assert_eq(vms_tunable_set("vfs_valid_ms", "0"), 0);
	cr_assert_eq(vms_tunable_set("hostfs_direct", direct ? "1" : "0"), 0);
	ht_fill(v1, V1, 21);
	ht_fill(v2, V2, 22);
	ht_write_file(cdir, "f", v1, V1);
	cr_assert_eq(vfs_lookup("/f", &a), 0);
	read_obj(a->object, 0, 3 * PAGE_SIZE, got); /* half of v1 cached */
	cr_assert_eq(memcmp(got, v1, 3 * PAGE_SIZE), 0);

	replace_file("f", v2, V2); /* a deploy: rename over */
	uint64_t objs = vm_object_count();
	cr_assert_eq(vfs_lookup("/f", &b), 0);
	cr_assert_neq(a, b);
	cr_assert_neq(a->object, b->object);
	cr_assert_eq(vm_object_count(), objs + 1);
	cr_assert_eq(b->object->size, V2);
	read_obj(b->object, 0, V2, got);
	cr_assert_eq(memcmp(got, v2, V2), 0, "a new lookup serves the new bytes");
	/* The holder of the old version reads all of it, cached or not. */
	read_obj(a->object, 0, V1, got);
	cr_assert_eq(memcmp(got, v1, V1), 0, "the old object serves the old bytes");

	/* Releasing the old vnode frees the old object (the cache holds only b). */
	vnode_rele(a);
	cr_assert_eq(vm_object_count(), objs);
	vnode_rele(b);

	/* An in-place rewrite with a new mtime: a new object too. */
	cr_assert_eq(vfs_lookup("/f", &a), 0);
	read_obj(a->object, 0, V2, got);
	static char v3[V2];
	ht_fill(v3, V2, 23);
	ht_write_file(cdir, "f", v3, V2); /* same inode, same size */
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1000000000}};
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/f", cdir);
	cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
	cr_assert_eq(vfs_lookup("/f", &b), 0);
	cr_assert_neq(a->object, b->object);
	read_obj(b->object, 0, V2, got);
	cr_assert_eq(memcmp(got, v3, V2), 0);
	read_obj(a->object, 0, V2, got);
	cr_assert_eq(memcmp(got, v2, V2), 0, "cached pages of the old object keep old bytes");
	vnode_rele(a);
	vnode_rele(b);
	ht_teardown(cdir);
}

Test(hostfs_changed, rename_over_and_rewrite_buffered)
{
	changed_file_test(false);
}

Test(hostfs_changed, rename_over_and_rewrite_direct)
{
	changed_file_test(true);
}

Test(hostfs_changed, unchanged_file_keeps_its_vnode_and_pages)
{
	static char v[3 * PAGE_SIZE], got[sizeof(v)];
	struct vnode *a, *b;

	ht_setup(cdir, 4u << 20);
	cr_assert_eq(vms_tunable_set("vfs_valid_ms", "0"), 0);
	ht_fill(v, sizeof(v), 30);
	ht_write_file(cdir, "f", v, sizeof(v));
	cr_assert_eq(vfs_lookup("/f", &a), 0);
	read_obj(a->object, 0, sizeof(v), got);
	uint64_t ios = counter_get(&hostfs_stats.ios);
	uint64_t reval = counter_get(&vfs_stats.revalidated);
	cr_assert_eq(vfs_lookup("/f", &b), 0);
	cr_assert_eq(a, b);
	cr_assert_eq(counter_get(&vfs_stats.revalidated) - reval, 1);
	read_obj(b->object, 0, sizeof(v), got);
	cr_assert_eq(counter_get(&hostfs_stats.ios), ios, "cached pages cost no read");
	cr_assert_eq(memcmp(got, v, sizeof(v)), 0);
	vnode_rele(a);
	vnode_rele(b);
	ht_teardown(cdir);
}

/* ---- versions never mix: readers race a writer that renames new versions in ---- */

enum { VSIZE = 3 * PAGE_SIZE + 500, VREADERS = 3, VWRITES = 40 };

static _Atomic bool vstop;

static void
version_bytes(char *buf, uint32_t v)
{
	ht_fill(buf, VSIZE, 1000 + v);
	memcpy(buf, &v, sizeof(v));
}

static void *
version_reader(void *arg)
{
	int *bad = arg;
	static _Thread_local char got[VSIZE], want[VSIZE];

	/* Until the writer is done, and a few more: the last lookups see the last change. */
	for (int i = 0, extra = 0; extra < 5; i++) {
		struct vnode *vp;
		struct ht_read_opts o = {.async = (i & 1) != 0, .rahead = 4};
		struct ht_read_stats st = {0};
		uint32_t v;

		if (vfs_lookup("/f", &vp) != 0) {
			(*bad)++;
			continue;
		}
		if (vp->object->size != VSIZE ||
		    ht_cache_read(vp->object, 0, VSIZE, got, &o, &st) != 0) {
			(*bad)++;
		} else {
			memcpy(&v, got, sizeof(v));
			version_bytes(want, v);
			if (memcmp(got, want, VSIZE) != 0)
				(*bad)++; /* one object mixed two versions */
		}
		vnode_rele(vp);
		if (atomic_load(&vstop))
			extra++;
	}
	io_loop_private_destroy();
	return NULL;
}

Test(hostfs_changed, concurrent_lookups_never_mix_versions)
{
	static char buf[VSIZE];
	pthread_t th[VREADERS];
	int bad[VREADERS] = {0};
	uint64_t changed = counter_get(&vfs_stats.changed);

	ht_setup(cdir, 4u << 20);
	cr_assert_eq(vms_tunable_set("vfs_valid_ms", "0"), 0);
	version_bytes(buf, 0);
	ht_write_file(cdir, "f", buf, VSIZE);
	for (int i = 0; i < VREADERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, version_reader, &bad[i]), 0);
	for (uint32_t v = 1; v <= VWRITES; v++) {
		version_bytes(buf, v);
		replace_file("f", buf, VSIZE);
		usleep(500);
	}
	atomic_store(&vstop, true);
	for (int i = 0; i < VREADERS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(bad[i], 0, "reader %d: %d bad reads", i, bad[i]);
	}
	cr_assert_gt(counter_get(&vfs_stats.changed), changed, "no reader ever saw a change");
	ht_teardown(cdir);
}

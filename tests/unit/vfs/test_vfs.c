/*
 * Tests for src/vfs/vfs.c with a small in-memory file system: path
 * cleaning and refusals, longest-prefix mounts, the name cache's validity
 * window, identity changes, reference counts and unmount.
 */
#include "vfs/vfs.h"

#include "core/tunable.h"
#include "core/util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- fakefs: names with an identity the test can change ---- */

struct fentry {
	const char *name;
	uint64_t ino, size;
	long mtime;
	enum vtype type;
};

struct fakefs {
	struct fentry files[8];
	int nfiles;
	int lookups, stats, mounts, unmounts, reclaims;
	int live, max_live; /* vnodes alive; > 0: -EMFILE at that many (a descriptor limit) */
	int nsynth;         /* files "n0" .. "n<nsynth - 1>" besides files[] */
	char last_rel[PATH_MAX];
};

static struct fakefs fs_a, fs_b;

static struct fentry *
fake_find(struct fakefs *fs, const char *rel)
{
	static _Thread_local struct fentry synth;
	char *end;

	for (int i = 0; i < fs->nfiles; i++)
		if (strcmp(fs->files[i].name, rel) == 0)
			return &fs->files[i];
	if (rel[0] == 'n' && rel[1] != '\0') {
		long k = strtol(rel + 1, &end, 10);
		if (*end == '\0' && k >= 0 && k < fs->nsynth) {
			synth = (struct fentry){rel, 1000 + (uint64_t)k, 1, 1, VREG};
			return &synth;
		}
	}
	return NULL;
}

static void
fake_va(const struct fentry *e, struct vattr *va)
{
	memset(va, 0, sizeof(*va));
	va->type = e->type;
	va->ino = e->ino;
	va->dev = 7;
	va->size = e->size;
	va->mtime.tv_sec = e->mtime;
}

static int
fake_mount(struct mount *mp, const char *source)
{
	struct fakefs *fs = strcmp(source, "a") == 0 ? &fs_a : &fs_b;

	fs->mounts++;
	mp->fs_priv = fs;
	return 0;
}

static void
fake_unmount(struct mount *mp)
{
	((struct fakefs *)mp->fs_priv)->unmounts++;
}

static int
fake_lookup(struct mount *mp, const char *rel, struct vnode **vpp)
{
	struct fakefs *fs = mp->fs_priv;
	struct fentry *e;
	struct vattr va;

	fs->lookups++;
	snprintf(fs->last_rel, sizeof(fs->last_rel), "%s", rel);
	if ((e = fake_find(fs, rel)) == NULL)
		return -ENOENT;
	if (fs->max_live > 0 && fs->live >= fs->max_live)
		return -EMFILE;
	fs->live++;
	fake_va(e, &va);
	*vpp = vnode_alloc(mp, rel, &va);
	return *vpp != NULL ? 0 : -ENOMEM;
}

static int
fake_stat(struct mount *mp, const char *rel, struct vattr *va)
{
	struct fakefs *fs = mp->fs_priv;
	struct fentry *e;

	fs->stats++;
	if ((e = fake_find(fs, rel)) == NULL)
		return -ENOENT;
	fake_va(e, va);
	return 0;
}

static void
fake_reclaim(struct vnode *vp)
{
	((struct fakefs *)vp->mp->fs_priv)->reclaims++;
	((struct fakefs *)vp->mp->fs_priv)->live--;
}

static const struct vfsops fakefs_ops = {
    .name = "fakefs",
    .mount = fake_mount,
    .unmount = fake_unmount,
    .lookup = fake_lookup,
    .stat = fake_stat,
    .reclaim = fake_reclaim,
};

static void
setup(void)
{
	memset(&fs_a, 0, sizeof(fs_a));
	memset(&fs_b, 0, sizeof(fs_b));
	fs_a.files[fs_a.nfiles++] = (struct fentry){"", 1, 0, 1, VDIR};
	fs_a.files[fs_a.nfiles++] = (struct fentry){"a/b/c", 2, 100, 1, VREG};
	fs_a.files[fs_a.nfiles++] = (struct fentry){"mediax", 3, 5, 1, VREG};
	fs_a.files[fs_a.nfiles++] = (struct fentry){"x", 4, 5, 1, VREG};
	fs_a.files[fs_a.nfiles++] = (struct fentry){"y", 5, 5, 1, VREG};
	fs_a.files[fs_a.nfiles++] = (struct fentry){"z", 6, 5, 1, VREG};
	fs_b.files[fs_b.nfiles++] = (struct fentry){"", 1, 0, 1, VDIR};
	fs_b.files[fs_b.nfiles++] = (struct fentry){"x", 9, 50, 1, VREG};
	vfs_register(&fakefs_ops);
	cr_assert_eq(vfs_mount("/", "fakefs", "a", NULL), 0);
	cr_assert_eq(vfs_mount("/media", "fakefs", "b", NULL), 0);
}

static void
teardown(void)
{
	vfs_unmount_all();
	cr_assert_eq(atomic_load(&vfs_stats.vnodes_live), 0, "vnodes leaked");
	cr_assert_eq(fs_a.unmounts, fs_a.mounts, "every mount is unmounted once");
	cr_assert_eq(fs_b.unmounts, fs_b.mounts, "every mount is unmounted once");
}

TestSuite(vfs, .init = setup, .fini = teardown);

static int
lk(const char *path, struct vnode **vpp)
{
	return vfs_lookup(path, vpp);
}

Test(vfs, paths_are_cleaned_before_the_fs_sees_them)
{
	struct vnode *vp;

	cr_assert_eq(lk("/a//b/./c/", &vp), 0);
	cr_assert_str_eq(fs_a.last_rel, "a/b/c");
	cr_assert_str_eq(vp->path, "a/b/c");
	cr_assert_eq(vp->va.ino, 2);
	vnode_rele(vp);
	cr_assert_eq(lk("/", &vp), 0);
	cr_assert_eq(vp->va.type, VDIR);
	vnode_rele(vp);
}

Test(vfs, dotdot_nul_long_and_relative_names_are_refused)
{
	struct vnode *vp = NULL;
	char longname[NAME_MAX + 3], okname[NAME_MAX + 2];
	uint64_t refused = counter_get(&vfs_stats.refused);

	cr_assert_eq(lk("/..", &vp), -EXDEV);
	cr_assert_eq(lk("/a/../a/b/c", &vp), -EXDEV);
	cr_assert_eq(lk("/a/b/..", &vp), -EXDEV);
	cr_assert_eq(lk("/media/../x", &vp), -EXDEV);
	cr_assert_eq(vfs_lookupn("/x\0/../etc", 10, &vp), -EINVAL);
	cr_assert_eq(lk("x", &vp), -EINVAL);
	cr_assert_eq(lk("", &vp), -EINVAL);
	memset(longname, 'n', sizeof(longname));
	longname[0] = '/';
	longname[NAME_MAX + 2] = '\0'; /* one segment of NAME_MAX + 1 bytes */
	cr_assert_eq(lk(longname, &vp), -ENAMETOOLONG);
	cr_assert_eq(fs_a.lookups + fs_b.lookups, 0, "the fs saw a refused name");
	cr_assert_eq(counter_get(&vfs_stats.refused) - refused, 8);
	/* NAME_MAX itself is a legal name: the fs is asked (and says ENOENT). */
	memset(okname, 'n', sizeof(okname));
	okname[0] = '/';
	okname[NAME_MAX + 1] = '\0';
	cr_assert_eq(lk(okname, &vp), -ENOENT);
	cr_assert_eq(fs_a.lookups, 1);
	cr_assert_null(vp);
}

Test(vfs, longest_prefix_mount_wins_on_segment_boundaries)
{
	struct vnode *vp;

	cr_assert_eq(lk("/media/x", &vp), 0);
	cr_assert_eq(vp->va.ino, 9);
	cr_assert_str_eq(fs_b.last_rel, "x");
	vnode_rele(vp);
	cr_assert_eq(lk("/mediax", &vp), 0, "/mediax is not under /media");
	cr_assert_eq(vp->va.ino, 3);
	vnode_rele(vp);
	cr_assert_eq(lk("/media", &vp), 0);
	cr_assert_str_eq(fs_b.last_rel, "");
	cr_assert_eq(vp->va.type, VDIR);
	vnode_rele(vp);
	cr_assert_eq(lk("/x", &vp), 0);
	cr_assert_eq(vp->va.ino, 4);
	vnode_rele(vp);
}

Test(vfs, validity_window_skips_the_stat)
{
	struct vnode *v1, *v2;

	cr_assert_eq(vms_tunable_set("vfs_valid_ms", "600000"), 0);
	cr_assert_eq(lk("/x", &v1), 0);
	cr_assert_eq(lk("/x", &v2), 0);
	cr_assert_eq(v1, v2);
	cr_assert_eq(fs_a.lookups, 1);
	cr_assert_eq(fs_a.stats, 0, "a fresh entry must not cost a stat");
	/* A change inside the window is not seen (that is the window's price). */
	fake_find(&fs_a, "x")->mtime = 99;
	vnode_rele(v2);
	cr_assert_eq(lk("/x", &v2), 0);
	cr_assert_eq(v1, v2);
	vnode_rele(v1);
	vnode_rele(v2);
}

Test(vfs, changed_identity_makes_a_new_vnode_and_old_holders_keep_theirs)
{
	struct vnode *v1, *v2, *v3;

	cr_assert_eq(vms_tunable_set("vfs_valid_ms", "0"), 0);
	cr_assert_eq(lk("/x", &v1), 0);
	cr_assert_eq(lk("/x", &v2), 0);
	cr_assert_eq(v1, v2, "unchanged: same vnode");
	cr_assert_eq(fs_a.stats, 1);
	cr_assert_eq(fs_a.lookups, 1);
	vnode_rele(v2);

	fake_find(&fs_a, "x")->size = 6; /* the file changed */
	cr_assert_eq(lk("/x", &v2), 0);
	cr_assert_neq(v1, v2);
	cr_assert_eq(v1->va.size, 5, "the holder keeps the old version");
	cr_assert_eq(v2->va.size, 6);
	cr_assert_eq(fs_a.lookups, 2);

	fake_find(&fs_a, "x")->ino = 44; /* replaced by another file */
	cr_assert_eq(lk("/x", &v3), 0);
	cr_assert_neq(v3, v2);
	cr_assert_eq(v3->va.ino, 44);

	int live = (int)atomic_load(&vfs_stats.vnodes_live);
	vnode_rele(v1); /* the cache dropped it: this frees it */
	cr_assert_eq(atomic_load(&vfs_stats.vnodes_live), live - 1);
	cr_assert_eq(fs_a.reclaims, 1);
	vnode_rele(v2);
	cr_assert_eq(atomic_load(&vfs_stats.vnodes_live), live - 2);
	vnode_rele(v3); /* still cached */
	cr_assert_eq(atomic_load(&vfs_stats.vnodes_live), live - 2);

	/* Gone from the fs: the lookup fails and the cache forgets it. */
	fake_find(&fs_a, "x")->name = "gone";
	cr_assert_eq(lk("/x", &v1), -ENOENT);
	cr_assert_eq(atomic_load(&vfs_stats.vnodes_live), live - 3);
}

Test(vfs, cache_is_bounded_lru)
{
	struct vnode *vp;

	cr_assert_eq(vms_tunable_set("vfs_valid_ms", "600000"), 0);
	cr_assert_eq(vms_tunable_set("vfs_cache_entries", "2"), 0);
	const char *names[] = {"/x", "/y", "/x", "/z", "/x", "/y"};
	for (unsigned i = 0; i < nitems(names); i++) {
		cr_assert_eq(lk(names[i], &vp), 0);
		vnode_rele(vp);
	}
	/* x miss, y miss, x hit, z miss (evicts y), x hit, y miss. */
	cr_assert_eq(fs_a.lookups, 4);
	cr_assert_leq(atomic_load(&vfs_stats.vnodes_live), 2);
}

Test(vfs, held_vnode_survives_unmount)
{
	struct vnode *vp;

	cr_assert_eq(lk("/media/x", &vp), 0);
	vfs_unmount_all();
	cr_assert_eq(fs_b.unmounts, 0, "unmount ran under a held vnode");
	cr_assert_eq(vp->va.ino, 9);
	cr_assert_str_eq(vp->mp->prefix, "/media");
	cr_assert_eq(lk("/media/x", &vp), -ENOENT, "nothing is mounted any more");
	vnode_rele(vp);
	cr_assert_eq(fs_b.unmounts, 1);
	cr_assert_eq(fs_a.unmounts, 1);
	/* teardown's vfs_unmount_all() finds nothing left to do. */
}

Test(vfs, mount_errors)
{
	struct mount *mp;

	cr_assert_eq(vfs_mount("/m", "nosuchfs", "a", &mp), -ENODEV);
	cr_assert_eq(vfs_mount("m", "fakefs", "a", &mp), -EINVAL);
	cr_assert_eq(vfs_mount("/m/", "fakefs", "a", &mp), -EINVAL);
	cr_assert_eq(vfs_mount("/m/../n", "fakefs", "a", &mp), -EINVAL);
	cr_assert_eq(vfs_mount("/media", "fakefs", "b", &mp), -EEXIST);
	cr_assert_eq(vfs_mount_spec("/media", &mp), -EINVAL);
	cr_assert_eq(vfs_mount_spec("/m=fakefs", &mp), -EINVAL);
	cr_assert_eq(vfs_mount_spec("/m=fakefs:", &mp), -EINVAL);
	cr_assert_eq(vfs_mount_spec("/m=fakefs:b", &mp), 0);
	cr_assert_str_eq(mp->prefix, "/m");
	cr_assert_str_eq(mp->source, "b");
	cr_assert_eq(mp->ops, &fakefs_ops);
	/* The refused duplicate was opened, then closed again at once. */
	cr_assert_eq(fs_b.mounts, 3);
	cr_assert_eq(fs_b.unmounts, 1);
}

Test(vfs, descriptor_pressure_sheds_cold_entries_and_retries)
{
	struct vnode *vp;
	uint64_t fdp = counter_get(&vfs_stats.fd_pressure);

	cr_assert_eq(vms_tunable_set("vfs_valid_ms", "600000"), 0);
	fs_a.max_live = 3;
	const char *warm[] = {"/x", "/y", "/z"};
	for (unsigned i = 0; i < nitems(warm); i++) {
		cr_assert_eq(lk(warm[i], &vp), 0);
		vnode_rele(vp); /* the cache keeps it (and its descriptor) */
	}
	cr_assert_eq(fs_a.live, 3);
	cr_assert_eq(lk("/mediax", &vp), 0, "EMFILE must shed cached entries and retry");
	cr_assert_eq(counter_get(&vfs_stats.fd_pressure) - fdp, 1);
	cr_assert_eq(fs_a.live, 2, "x and y (the colder half) were dropped");
	vnode_rele(vp);
	int lookups = fs_a.lookups;
	cr_assert_eq(lk("/z", &vp), 0);
	cr_assert_eq(fs_a.lookups, lookups, "z stayed cached");
	vnode_rele(vp);
	cr_assert_eq(lk("/x", &vp), 0);
	cr_assert_eq(fs_a.lookups, lookups + 1, "x was dropped");
	vnode_rele(vp);
}

/* Look up /n0 .. /n<n - 1> once each; returns how many the fs had to answer. */
static int
lookup_synth_pass(int n)
{
	int before = fs_a.lookups;
	char path[32];
	struct vnode *vp;

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/n%d", i);
		cr_assert_eq(lk(path, &vp), 0, "%s", path);
		vnode_rele(vp);
	}
	return fs_a.lookups - before;
}

Test(vfs, the_cache_holds_as_many_names_as_it_was_sized_for)
{
	cr_assert_eq(vms_tunable_set("vfs_valid_ms", "600000"), 0);
	fs_a.nsynth = 6000;
	/* Unsized: 4096 entries, and a cyclic pass over more names than that always misses. */
	cr_assert_eq(lookup_synth_pass(6000), 6000);
	cr_assert_eq(atomic_load(&vfs_stats.names_cached), 4096);
	cr_assert_eq(lookup_synth_pass(6000), 6000);

	vfs_cache_size_hint(8000);
	cr_assert_eq(lookup_synth_pass(6000), 6000 - 4096, "the last 4096 were cached");
	cr_assert_eq(atomic_load(&vfs_stats.names_cached), 6000);
	cr_assert_eq(lookup_synth_pass(6000), 0, "every name was still cached");
	cr_assert_eq(atomic_load(&vfs_stats.vnodes_live), 6000);

	/* The tunable, when set, wins over the hint. */
	vfs_cache_flush();
	cr_assert_eq(vms_tunable_set("vfs_cache_entries", "100"), 0);
	cr_assert_eq(lookup_synth_pass(200), 200);
	cr_assert_eq(atomic_load(&vfs_stats.names_cached), 100);
}

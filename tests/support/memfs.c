/*
 * Memory-pager objects as files (memfs.h).
 */
#include "memfs.h"

#include "core/assert.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static struct {
	const char *name;
	struct vm_object *obj;
	uint64_t size;
} memfs_files[TEST_MEMFS_MAX];
static int memfs_n;

static int
memfs_mount(struct mount *mp, const char *source)
{
	return 0;
}

static void
memfs_unmount(struct mount *mp)
{
}

/* The file's index, -1 for the root, or -ENOENT. */
static int
memfs_find(const char *rel)
{
	if (rel[0] == '\0')
		return -1;
	for (int i = 0; i < memfs_n; i++)
		if (strcmp(rel, memfs_files[i].name) == 0)
			return i;
	return -ENOENT;
}

static int
memfs_stat(struct mount *mp, const char *rel, struct vattr *va)
{
	int i = memfs_find(rel);
	if (i < -1)
		return i;
	memset(va, 0, sizeof(*va));
	va->mode = 0644;
	va->dev = 42;
	va->type = i < 0 ? VDIR : VREG;
	va->ino = (uint64_t)(i + 2);
	va->size = i < 0 ? 0 : memfs_files[i].size;
	va->mtime.tv_sec = 1700000000;
	return 0;
}

static int
memfs_lookup(struct mount *mp, const char *rel, struct vnode **vpp)
{
	struct vattr va;
	int rc = memfs_stat(mp, rel, &va);
	if (rc != 0)
		return rc;
	struct vnode *vp = vnode_alloc(mp, rel, &va);
	if (vp == NULL)
		return -ENOMEM;
	if (va.type == VREG) {
		vp->object = memfs_files[va.ino - 2].obj;
		vm_object_reference(vp->object);
	}
	*vpp = vp;
	return 0;
}

static const struct vfsops memfs_ops = {
    .name = "testmemfs",
    .mount = memfs_mount,
    .unmount = memfs_unmount,
    .lookup = memfs_lookup,
    .stat = memfs_stat,
};

void
test_memfs_add(const char *name, struct vm_object *obj, uint64_t size)
{
	/* A test with too many files must say so, not serve a 404 for the extra ones. */
	VERIFY3U(memfs_n, <, TEST_MEMFS_MAX);
	vm_object_reference(obj);
	memfs_files[memfs_n].name = name;
	memfs_files[memfs_n].obj = obj;
	memfs_files[memfs_n].size = size;
	memfs_n++;
}

int
test_memfs_mount(const char *prefix)
{
	static bool registered;
	if (!registered) {
		vfs_register(&memfs_ops);
		registered = true;
	}
	struct mount *mp;
	return vfs_mount(prefix, "testmemfs", "mem", &mp);
}

void
test_memfs_clear(void)
{
	for (int i = 0; i < memfs_n; i++)
		vm_object_deallocate(memfs_files[i].obj);
	memfs_n = 0;
}

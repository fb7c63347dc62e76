/*
 * A file system of memory-pager objects for tests that run a server
 * in-process: each file is an object the test made (mempager_create, whose
 * mode it controls: a deferred one is a cold file whose page-in completes
 * only when the test says so).  Files sit at the root of the mount.
 */
#ifndef VMSEND_TEST_MEMFS_H
#define VMSEND_TEST_MEMFS_H

#include <stdint.h>

struct vm_object;

#define TEST_MEMFS_MAX 16

/*
 * Serve `obj` (size bytes) as /<name> below the mount: takes a reference,
 * dropped by test_memfs_clear().  Call before lookups; more than
 * TEST_MEMFS_MAX files panic (VERIFY).
 */
void test_memfs_add(const char *name, struct vm_object *obj, uint64_t size);
/* Register the type once and mount it at `prefix` ("/"); 0 or -errno. */
int test_memfs_mount(const char *prefix);
/* Forget every file (after vfs_unmount_all()). */
void test_memfs_clear(void);

#endif

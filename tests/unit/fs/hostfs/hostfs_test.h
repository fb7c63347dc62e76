/* Helpers shared by the hostfs tests: a scratch tree and a reader through the page cache. */
#ifndef VMSEND_TEST_HOSTFS_H
#define VMSEND_TEST_HOSTFS_H

#include "fs/hostfs/hostfs.h"
#include "io/io.h"
#include "pager/pager.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh directory under /tmp (path in *dir, PATH_MAX bytes), VM of `cache` bytes, mounted at "/". */
void ht_setup(char *dir, uint64_t cache);
/* Unmount, check nothing leaked (pages, objects, vnodes), remove the tree. */
void ht_teardown(const char *dir);
/* Write `len` bytes from `data` to dir/name (created or truncated). */
void ht_write_file(const char *dir, const char *name, const void *data, size_t len);
/* Deterministic pseudo-random bytes. */
void ht_fill(void *buf, size_t len, uint32_t seed);

struct ht_read_opts {
	bool async;    /* pager_getpages_async (else pager_getpages) */
	bool coalesce; /* async only: valid pages inside a run become bogus_page */
	int rahead;    /* read-ahead bound offered to the pager */
	int rbehind;   /* read-behind bound offered to the pager */
};

struct ht_read_stats {
	int calls;   /* getpages / getpages_async calls */
	int bogus;   /* bogus_page slots passed */
	int holes;   /* pages zero-filled because haspage said no */
	int errors;  /* calls that failed */
	int lasterr; /* last error (negative errno) */
};

/*
 * Read [off, off + len) of obj through the page cache the way sendfile's
 * swapin does (grab wired + xbusy, unbusy valid pages, zero-fill holes, one
 * run per invalid stretch bounded by haspage), copy the bytes out, unbusy
 * and unwire everything.  Returns 0 or the first pager error (negative errno);
 * on error no page stays busy or wired either.
 */
int ht_cache_read(struct vm_object *obj, uint64_t off, size_t len, void *out,
		  const struct ht_read_opts *o, struct ht_read_stats *st);

#endif

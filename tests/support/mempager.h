/*
 * The memory pager: a pager whose backing store is a byte array, for tests.
 *
 * - caps are chosen at creation (0 or PAGER_CAP_BOGUS);
 * - completions are delivered synchronously (before getpages_async
 *   returns), deferred (only when the test calls mempager_complete_pending,
 *   and the bytes are copied at that moment), or from a worker thread after
 *   a delay;
 * - the Nth I/O from now can be made to fail;
 * - holes (haspage false) and a block size (haspage's before/after bound)
 *   can be set;
 * - iodone always receives the pager's own copy of the array (rule 10);
 * - it counts I/Os, pages read, bogus slots seen and optional pages.
 */
#ifndef VMSEND_TEST_MEMPAGER_H
#define VMSEND_TEST_MEMPAGER_H

#include "pager/pager.h"

#include <stddef.h>
#include <stdint.h>

enum mempager_mode { MEMPAGER_SYNC, MEMPAGER_DEFERRED, MEMPAGER_THREAD };

struct mempager_stats {
	uint64_t ios;           /* getpages + getpages_async calls that did I/O */
	uint64_t pages_read;    /* real requested pages filled */
	uint64_t bogus_seen;    /* bogus_page slots skipped */
	uint64_t optional_read; /* read-ahead pages filled */
	uint64_t errors;        /* injected failures */
};

/* A new object (one reference) over a copy of data[0..size). */
struct vm_object *mempager_create(const void *data, size_t size, unsigned caps, const char *name);
void mempager_set_mode(struct vm_object *obj, enum mempager_mode mode, unsigned delay_us);
/* Make the nth I/O from now fail with `error` (negative errno); n == 0 disables. */
void mempager_fail_nth(struct vm_object *obj, unsigned n, int error);
/* Pages [pindex, pindex + npages) become a hole: haspage false, bytes read as zero. */
void mempager_set_hole(struct vm_object *obj, uint64_t pindex, uint64_t npages);
/* haspage bounds before/after to blocks of this many pages (default 16). */
void mempager_set_block(struct vm_object *obj, unsigned pages);
/* Let getpages fill up to *rahead optional pages after the run (default off). */
void mempager_set_readahead(struct vm_object *obj, bool on);
/* Change the backing bytes (the "file changed underneath"); size is fixed. */
void mempager_write(struct vm_object *obj, uint64_t off, const void *buf, size_t len);
/* Deliver deferred completions in order; returns how many. */
int mempager_complete_pending(struct vm_object *obj);
unsigned mempager_pending(struct vm_object *obj);
/* Wait until the worker thread has delivered everything queued. */
void mempager_drain(struct vm_object *obj);
void mempager_get_stats(struct vm_object *obj, struct mempager_stats *st);

extern const struct pager_ops mempager_ops;       /* caps 0 */
extern const struct pager_ops mempager_bogus_ops; /* PAGER_CAP_BOGUS */

#endif

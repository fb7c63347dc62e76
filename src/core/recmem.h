/*
 * Record memory: buffers the hot path fills and frees at a high rate, and
 * must not fault in: the ARC's objfs records and the image reads' staging
 * buffers (src/fs/objfs), and the TLS records the sealer encrypts into
 * (src/sendfile/sf_tls.c), as FreeBSD's ktls keeps its own buffer zone.
 *
 * One region per owner, mapped when it is created (and pre-faulted then, or
 * faulted in as it is first used: either way its pages are never given back,
 * and a free block is reused most recently freed first), carved by a binary
 * buddy allocator into blocks of 4 KiB to 2 MiB, each aligned to its
 * own size (so every block is an O_DIRECT target).  A request the region
 * cannot serve (too big, or the region is full: the ARC may overflow c while
 * everything is held, and c can grow at run time) falls back to
 * aligned_alloc() and is counted.
 *
 * Why not malloc.  glibc serves a 128 KiB buffer with mmap and gives it back
 * on free, and trims the top of its heaps when smaller ones are freed, so
 * such buffers are faulted in again and again: an objfs stream took 65,810
 * faults per 256 MiB, HTTPS 64 KiB responses 28,000 faults a second, and
 * first touch of memory runs at 0.28 GB/s on the VMs we bench on, against
 * 17 GB/s for memory already touched.  No packaged allocator lets us
 * pre-fault and keep a region, and the buddy scheme is small, so it is
 * written here.
 *
 * Lock key: (c) constant after create, (l) m->lock.  All calls are
 * thread-safe.
 */
#ifndef VMSEND_CORE_RECMEM_H
#define VMSEND_CORE_RECMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECMEM_MIN_SHIFT 12 /* 4 KiB */
#define RECMEM_MAX_SHIFT 21 /* 2 MiB: a 1 MiB record plus its alignment slack */

struct recmem;

struct recmem_stats {
	uint64_t region_bytes;    /* size of the region (0: none) */
	uint64_t used_bytes;      /* region bytes in allocated blocks */
	uint64_t fallback_allocs; /* allocations served by aligned_alloc, ever */
	uint64_t fallback_live;   /* of those, not yet freed */
	bool prefaulted;          /* the region was faulted in at create */
};

/*
 * Map a region of `bytes` (rounded up to 2 MiB; 0 makes an allocator that
 * only falls back) and, if `prefault`, fault it in now (MADV_POPULATE_WRITE,
 * or a write to each page on kernels without it).  NULL when the mapping
 * or its bookkeeping cannot be made.
 */
struct recmem *recmem_create(uint64_t bytes, bool prefault);
/* Unmap; every block must have been freed (VERIFY). NULL is a no-op. */
void recmem_destroy(struct recmem *m);

/*
 * At least `size` bytes (size > 0), 4 KiB aligned: from the region when a
 * block is free, else from aligned_alloc().  NULL only when both fail.
 * Under ASan the bytes past `size` and every free block are poisoned.
 * m == NULL (an owner that could not make its region) is aligned_alloc(),
 * not counted anywhere.
 */
void *recmem_alloc(struct recmem *m, size_t size);
/* Give back a block from recmem_alloc(m, ...), with the same m; p == NULL is a no-op. */
void recmem_free(struct recmem *m, void *p);

void recmem_stats(struct recmem *m, struct recmem_stats *out);

#endif

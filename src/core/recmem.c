/*
 * Record memory: a pre-faulted region under a binary buddy allocator (the
 * why is in recmem.h).
 *
 * The region is npages 4 KiB pages.  A block of order k is 2^k pages, starts
 * at a page index that is a multiple of 2^k, and its buddy is the block at
 * index ^ 2^k.  Freeing merges a block with its buddy while the buddy is a
 * free block of the same order, so the region always returns to whole 2 MiB
 * blocks when everything is freed.
 *
 * The bookkeeping lives beside the region, never inside free blocks, so
 * ASan can poison free blocks whole:
 *
 *   tag[i]    0 for a page that does not start a block; else FREE or USED,
 *             or'd with the block's order
 *   next/prev the free list of the block's order, by page index
 */
#include "core/recmem.h"

#include "core/assert.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define RECMEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RECMEM_ASAN 1
#endif
#endif
#ifdef RECMEM_ASAN
#include <sanitizer/asan_interface.h>
#define RECMEM_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define RECMEM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define RECMEM_POISON(p, n)   ((void)(p), (void)(n))
#define RECMEM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; Debian 12's headers may lack it */
#endif

#define NORDERS   (RECMEM_MAX_SHIFT - RECMEM_MIN_SHIFT + 1)
#define PGSZ      ((size_t)1 << RECMEM_MIN_SHIFT)
#define CHUNK     ((size_t)1 << RECMEM_MAX_SHIFT)
#define TAG_FREE  0x80u
#define TAG_USED  0x40u
#define TAG_ORDER 0x0fu
#define NIL       UINT32_MAX

_Static_assert(NORDERS <= TAG_ORDER + 1, "order fits in the tag");

struct recmem {
	pthread_mutex_t lock;
	char *base;               /* (c) 2 MiB aligned; NULL: no region */
	void *map;                /* (c) what mmap returned */
	size_t map_len;           /* (c) */
	uint32_t npages;          /* (c) multiple of 2^(NORDERS-1) */
	bool prefaulted;          /* (c) */
	uint8_t *tag;             /* (l) [npages] */
	uint32_t *next, *prev;    /* (l) [npages] free-list links */
	uint32_t head[NORDERS];   /* (l) free lists */
	uint64_t used_bytes;      /* (l) */
	uint64_t fallback_allocs; /* (l) */
	uint64_t fallback_live;   /* (l) */
};

static void
list_push(struct recmem *m, uint32_t i, unsigned order)
{
	m->tag[i] = (uint8_t)(TAG_FREE | order);
	m->prev[i] = NIL;
	m->next[i] = m->head[order];
	if (m->head[order] != NIL)
		m->prev[m->head[order]] = i;
	m->head[order] = i;
}

static void
list_remove(struct recmem *m, uint32_t i, unsigned order)
{
	ASSERT3U(m->tag[i], ==, TAG_FREE | order);
	if (m->prev[i] != NIL)
		m->next[m->prev[i]] = m->next[i];
	else
		m->head[order] = m->next[i];
	if (m->next[i] != NIL)
		m->prev[m->next[i]] = m->prev[i];
	m->tag[i] = 0;
}

static void
prefault(char *p, size_t len)
{
	if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
		return;
	for (size_t off = 0; off < len; off += PGSZ) /* kernels before 5.14 */
		((volatile char *)p)[off] = 0;
}

/* Unmap and free everything (create's failure path, destroy). */
static void
release(struct recmem *m)
{
	if (m->base != NULL)
		RECMEM_UNPOISON(m->base, (size_t)m->npages * PGSZ);
	if (m->map != NULL && m->map != MAP_FAILED)
		munmap(m->map, m->map_len);
	free(m->tag);
	free(m->next);
	free(m->prev);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

struct recmem *
recmem_create(uint64_t bytes, bool prefault_it)
{
	struct recmem *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	for (unsigned k = 0; k < NORDERS; k++)
		m->head[k] = NIL;
	uint64_t len = (bytes + CHUNK - 1) & ~(uint64_t)(CHUNK - 1);
	if (len == 0 || len / PGSZ > UINT32_MAX / 2)
		return m; /* fallback only (or absurdly large: the same) */

	m->map_len = len + CHUNK; /* room to align the base to 2 MiB, for THP */
	m->map = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m->npages = (uint32_t)(len / PGSZ);
	m->tag = calloc(m->npages, 1);
	m->next = malloc(m->npages * sizeof(*m->next));
	m->prev = malloc(m->npages * sizeof(*m->prev));
	if (m->map == MAP_FAILED || m->tag == NULL || m->next == NULL || m->prev == NULL) {
		release(m);
		return NULL;
	}
	m->base = (char *)(((uintptr_t)m->map + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1));
	/* Best effort: fewer faults, fewer TLB misses. */
	(void)madvise(m->base, len, MADV_HUGEPAGE);
	if (prefault_it)
		prefault(m->base, len);
	m->prefaulted = prefault_it;
	RECMEM_POISON(m->base, len);
	for (uint32_t i = m->npages; i > 0; i -= CHUNK / PGSZ)
		list_push(m, i - (uint32_t)(CHUNK / PGSZ), NORDERS - 1);
	return m;
}

void
recmem_destroy(struct recmem *m)
{
	if (m == NULL)
		return;
	VERIFY0(m->used_bytes);
	VERIFY0(m->fallback_live);
	release(m);
}

static unsigned
order_of(size_t size)
{
	unsigned k = 0;
	while ((PGSZ << k) < size)
		k++;
	return k;
}

void *
recmem_alloc(struct recmem *m, size_t size)
{
	ASSERT3U(size, >, 0);
	if (m == NULL)
		return aligned_alloc(PGSZ, (size + PGSZ - 1) & ~(PGSZ - 1));
	unsigned want = order_of(size);
	pthread_mutex_lock(&m->lock);
	unsigned k = want;
	while (k < NORDERS && m->head[k] == NIL)
		k++;
	if (k >= NORDERS) {
		m->fallback_allocs++;
		m->fallback_live++;
		pthread_mutex_unlock(&m->lock);
		void *p = aligned_alloc(PGSZ, (size + PGSZ - 1) & ~(PGSZ - 1));
		if (p == NULL) {
			pthread_mutex_lock(&m->lock);
			m->fallback_live--;
			pthread_mutex_unlock(&m->lock);
		}
		return p;
	}
	uint32_t i = m->head[k];
	list_remove(m, i, k);
	while (k > want) { /* split: keep the low half, free the high one */
		k--;
		list_push(m, i + ((uint32_t)1 << k), k);
	}
	m->tag[i] = (uint8_t)(TAG_USED | want);
	m->used_bytes += PGSZ << want;
	pthread_mutex_unlock(&m->lock);

	char *p = m->base + (size_t)i * PGSZ;
	RECMEM_UNPOISON(p, size);
	return p;
}

void
recmem_free(struct recmem *m, void *ptr)
{
	if (ptr == NULL)
		return;
	if (m == NULL) {
		free(ptr);
		return;
	}
	char *p = ptr;
	if (m->base == NULL || p < m->base || p >= m->base + (size_t)m->npages * PGSZ) {
		free(ptr);
		pthread_mutex_lock(&m->lock);
		VERIFY3U(m->fallback_live, >, 0);
		m->fallback_live--;
		pthread_mutex_unlock(&m->lock);
		return;
	}
	size_t off = (size_t)(p - m->base);
	uint32_t i = (uint32_t)(off / PGSZ);
	pthread_mutex_lock(&m->lock);
	/* Always checked: a double or a misaligned free would corrupt the lists. */
	VERIFY0(off % PGSZ);
	VERIFY3U(m->tag[i] & ~TAG_ORDER, ==, TAG_USED);
	unsigned k = m->tag[i] & TAG_ORDER;
	m->tag[i] = 0;
	m->used_bytes -= PGSZ << k;
	RECMEM_POISON(p, PGSZ << k);
	while (k + 1 < NORDERS) {
		uint32_t b = i ^ ((uint32_t)1 << k);
		if (m->tag[b] != (TAG_FREE | k))
			break;
		list_remove(m, b, k);
		i &= ~((uint32_t)1 << k);
		k++;
	}
	list_push(m, i, k);
	pthread_mutex_unlock(&m->lock);
}

void
recmem_stats(struct recmem *m, struct recmem_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = (struct recmem_stats){
	    .region_bytes = (uint64_t)m->npages * PGSZ,
	    .used_bytes = m->used_bytes,
	    .fallback_allocs = m->fallback_allocs,
	    .fallback_live = m->fallback_live,
	    .prefaulted = m->prefaulted,
	};
	pthread_mutex_unlock(&m->lock);
}

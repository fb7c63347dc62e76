/* Record memory: buddy blocks are aligned and disjoint, merge back, fall back when full, and the region is resident from the start. */
#include "core/recmem.h"
#include "support/seed.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KB (1u << 10)
#define MB (1u << 20)

static struct recmem_stats
stats(struct recmem *m)
{
	struct recmem_stats s;
	recmem_stats(m, &s);
	return s;
}

static size_t
block_of(size_t size)
{
	size_t b = 4 * KB;
	while (b < size)
		b *= 2;
	return b;
}

/* Every whole 2 MiB block of the region can be had at once: nothing is lost to fragments. */
static void
expect_whole_region(struct recmem *m)
{
	struct recmem_stats s = stats(m);
	size_t n = (size_t)(s.region_bytes / (2 * MB));
	void **p = calloc(n, sizeof(*p));
	for (size_t i = 0; i < n; i++)
		p[i] = recmem_alloc(m, 2 * MB);
	cr_expect_eq(stats(m).fallback_allocs, s.fallback_allocs, "the region merged back whole");
	cr_expect_eq(stats(m).used_bytes, s.region_bytes);
	for (size_t i = 0; i < n; i++)
		recmem_free(m, p[i]);
	free(p);
	cr_expect_eq(stats(m).used_bytes, 0);
}

Test(recmem, blocks_are_aligned_disjoint_and_merge_back)
{
	struct recmem *m = recmem_create(4 * MB, false);
	cr_assert_not_null(m);
	cr_assert_eq(stats(m).region_bytes, 4 * MB);
	size_t sizes[] = {1, 4 * KB, 4 * KB + 1, 40000, 128 * KB, 1 * MB, 1 * MB + 8 * KB, 12 * KB};
	void *p[64];
	size_t len[64], n = 0;
	uint64_t used = 0;
	for (size_t i = 0; n < 64 && stats(m).fallback_allocs == 0; i++) {
		size_t sz = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
		p[n] = recmem_alloc(m, sz);
		cr_assert_not_null(p[n]);
		if (stats(m).fallback_allocs != 0) {
			recmem_free(m, p[n]);
			break;
		}
		size_t b = block_of(sz);
		cr_expect_eq((uintptr_t)p[n] % b, 0, "a %zu-byte block at %p", b, p[n]);
		used += b;
		cr_expect_eq(stats(m).used_bytes, used);
		len[n] = sz;
		memset(p[n], (int)n + 1, sz);
		n++;
	}
	cr_expect_gt(n, 5);
	cr_expect_eq(stats(m).fallback_live, 0);
	for (size_t i = 0; i < n; i++) { /* disjoint: nobody overwrote anybody */
		const unsigned char *c = p[i];
		for (size_t j = 0; j < len[i]; j += 511)
			cr_assert_eq(c[j], (unsigned char)(i + 1), "block %zu byte %zu", i, j);
	}
	for (size_t i = 0; i < n; i += 2) /* free out of order */
		recmem_free(m, p[i]);
	for (size_t i = 1; i < n; i += 2)
		recmem_free(m, p[i]);
	cr_expect_eq(stats(m).used_bytes, 0);
	expect_whole_region(m);
	recmem_destroy(m);
}

Test(recmem, full_or_too_big_falls_back_and_is_counted)
{
	struct recmem *m = recmem_create(2 * MB, false);
	void *all = recmem_alloc(m, 2 * MB);
	cr_expect_eq(stats(m).fallback_allocs, 0);
	void *more = recmem_alloc(m, 4 * KB);
	void *huge = recmem_alloc(m, 3 * MB);
	cr_assert_not_null(more);
	cr_assert_not_null(huge);
	cr_expect_eq((uintptr_t)more % (4 * KB), 0, "fallbacks are 4 KiB aligned too");
	memset(huge, 1, 3 * MB);
	struct recmem_stats s = stats(m);
	cr_expect_eq(s.fallback_allocs, 2);
	cr_expect_eq(s.fallback_live, 2);
	recmem_free(m, more);
	recmem_free(m, huge);
	recmem_free(m, all);
	s = stats(m);
	cr_expect_eq(s.fallback_live, 0);
	cr_expect_eq(s.used_bytes, 0);
	recmem_destroy(m);

	struct recmem *none = recmem_create(0, true); /* no region: every allocation falls back */
	cr_assert_not_null(none);
	void *x = recmem_alloc(none, 100);
	cr_assert_not_null(x);
	cr_expect_eq(stats(none).region_bytes, 0);
	cr_expect_eq(stats(none).fallback_live, 1);
	recmem_free(none, x);
	recmem_destroy(none);

	/* No allocator at all (its owner could not make one): plain aligned memory. */
	void *y = recmem_alloc(NULL, 5000);
	cr_assert_not_null(y);
	cr_expect_eq((uintptr_t)y % (4 * KB), 0);
	memset(y, 2, 8 * KB); /* rounded up to whole 4 KiB pages: ASan checks the bound */
	recmem_free(NULL, y);
	recmem_free(NULL, NULL);
}

/* Resident pages of [p, p + len). */
static size_t
resident(void *p, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t n = len / (size_t)pg, in = 0;
	unsigned char *vec = malloc(n);
	cr_assert_eq(mincore(p, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		in += vec[i] & 1;
	free(vec);
	return in;
}

Test(recmem, prefault_makes_the_region_resident_before_first_use)
{
	struct recmem *cold = recmem_create(4 * MB, false), *warm = recmem_create(4 * MB, true);
	void *c = recmem_alloc(cold, 2 * MB), *w = recmem_alloc(warm, 2 * MB);
	long pg = sysconf(_SC_PAGESIZE);
	cr_expect_eq(resident(c, 2 * MB), 0, "untouched memory is not resident");
	cr_expect_eq(resident(w, 2 * MB), 2 * MB / (size_t)pg, "pre-faulted memory is");
	cr_expect(stats(warm).prefaulted);
	recmem_free(cold, c);
	recmem_free(warm, w);
	recmem_destroy(cold);
	recmem_destroy(warm);
}

/* Random allocations and frees against a model; the seed replays a failure. */
Test(recmem, random_traffic_keeps_every_block_intact)
{
	unsigned seed = stress_seed("recmem", 0, NULL);
	srandom(seed);
	struct recmem *m = recmem_create(8 * MB, false);
	enum { SLOTS = 48 };
	unsigned char *p[SLOTS] = {0};
	size_t len[SLOTS] = {0};
	for (int op = 0; op < 20000; op++) {
		int i = (int)(random() % SLOTS);
		if (p[i] != NULL) {
			for (size_t j = 0; j < len[i]; j += 97)
				cr_assert_eq(p[i][j], (unsigned char)i,
					     "seed %u op %d slot %d byte %zu", seed, op, i, j);
			recmem_free(m, p[i]);
			p[i] = NULL;
			continue;
		}
		unsigned shift = 12 + (unsigned)(random() % 10); /* 4 KiB .. 2 MiB */
		len[i] = 1 + (size_t)random() % (((size_t)1 << shift) + 4096);
		p[i] = recmem_alloc(m, len[i]);
		cr_assert_not_null(p[i]);
		memset(p[i], i, len[i]);
	}
	for (int i = 0; i < SLOTS; i++)
		recmem_free(m, p[i]);
	cr_expect_eq(stats(m).fallback_live, 0, "seed %u", seed);
	cr_expect_eq(stats(m).used_bytes, 0, "seed %u", seed);
	expect_whole_region(m);
	recmem_destroy(m);
}

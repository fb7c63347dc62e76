/* The cache simulator (src/fs/objfs/arc_sim.c): its reference models and the ARC's targets. */
#include "fs/objfs/arc_sim.h"

#include <criterion/criterion.h>

static void
keys(struct sim_trace *t, const uint32_t *k, size_t n, uint32_t nkeys)
{
	t->keys = malloc(n * sizeof(*k));
	memcpy(t->keys, k, n * sizeof(*k));
	t->len = n;
	t->nkeys = nkeys;
}

Test(cachesim, loops_are_lru_worst_case)
{
	struct sim_trace t;
	cr_assert_eq(sim_trace_loop(&t, 11, 1100), 0);
	cr_assert_eq(sim_run(SIM_LRU, &t, 10), 0, "a loop one larger than an LRU never hits");
	cr_assert_eq(sim_run(SIM_LRU, &t, 11), 1100 - 11);
	cr_assert_eq(sim_run(SIM_SIEVE, &t, 11), 1100 - 11);
	cr_assert_eq(sim_run(SIM_ARC, &t, 11), 1100 - 11);
	sim_trace_free(&t);
}

Test(cachesim, sieve_keeps_a_visited_record_that_lru_drops)
{
	/*
	 * Capacity 2: 0 is read twice, then 1 and 2 arrive.  LRU drops 0 (least
	 * recent); SIEVE's hand clears 0's visited bit and evicts 1 instead, so
	 * the last read of 0 hits.  The ARC keeps 0 too: it is in MFU.
	 */
	const uint32_t k[] = {0, 0, 1, 2, 0};
	struct sim_trace t;
	keys(&t, k, sizeof(k) / sizeof(k[0]), 3);
	cr_assert_eq(sim_run(SIM_LRU, &t, 2), 1);
	cr_assert_eq(sim_run(SIM_SIEVE, &t, 2), 2);
	cr_assert_eq(sim_run(SIM_ARC, &t, 2), 2);
	sim_trace_free(&t);
}

Test(cachesim, zipf_traces_are_skewed_and_reproducible)
{
	struct sim_trace a, b;
	cr_assert_eq(sim_trace_zipf(&a, 1000, 1.0, 20000, 7), 0);
	cr_assert_eq(sim_trace_zipf(&b, 1000, 1.0, 20000, 7), 0);
	cr_assert_eq(memcmp(a.keys, b.keys, a.len * sizeof(*a.keys)), 0);
	/* With skew 1.0 the top 10% of 1000 records take well over half the draws. */
	uint32_t *count = calloc(a.nkeys, sizeof(*count));
	for (size_t i = 0; i < a.len; i++)
		count[a.keys[i]]++;
	uint32_t top = 0;
	for (int r = 0; r < 100; r++) {
		uint32_t best = 0, bi = 0;
		for (uint32_t k = 0; k < a.nkeys; k++)
			if (count[k] > best)
				best = count[k], bi = k;
		top += best;
		count[bi] = 0;
	}
	cr_assert_gt(top, a.len / 2);
	free(count);
	sim_trace_free(&a);
	sim_trace_free(&b);
}

/*
 * The ARC never does worse than LRU on Zipf, and scans widen its lead:
 * they cost LRU its working set and the ARC only its MRU side.  (The
 * absolute ratios, which depend on the trace, are what `vmsend cachesim`
 * reports.)
 */
Test(cachesim, arc_beats_lru_on_zipf_and_scans_widen_the_gap)
{
	const uint32_t sizes[] = {100, 200, 400};
	struct sim_trace plain, scan;
	cr_assert_eq(sim_trace_zipf(&plain, 2000, 0.8, 40000, 3), 0);
	cr_assert_eq(sim_trace_zipf_scan(&scan, 2000, 0.8, 40000, 5000, 600, 3), 0);
	for (int i = 0; i < 3; i++) {
		uint64_t lru = sim_run(SIM_LRU, &plain, sizes[i]);
		uint64_t arc = sim_run(SIM_ARC, &plain, sizes[i]);
		cr_assert_geq(arc, lru, "zipf, cache %u: ARC %llu < LRU %llu hits", sizes[i],
			      (unsigned long long)arc, (unsigned long long)lru);
		double plain_ratio = (double)arc / (double)lru;

		lru = sim_run(SIM_LRU, &scan, sizes[i]);
		arc = sim_run(SIM_ARC, &scan, sizes[i]);
		double scan_ratio = (double)arc / (double)lru;
		cr_assert_gt(scan_ratio, plain_ratio,
			     "cache %u: ARC/LRU %.3f with scans, %.3f without", sizes[i],
			     scan_ratio, plain_ratio);
		cr_assert_geq(scan_ratio, 1.1, "cache %u: ARC/LRU %.3f with scans", sizes[i],
			      scan_ratio);
	}
	sim_trace_free(&plain);
	sim_trace_free(&scan);
}

Test(cachesim, opt_evicts_the_record_used_furthest_ahead)
{
	/*
	 * Capacity 2: 3 and 4 are never read again, so OPT does not keep them
	 * and every later read of 1 and 2 hits.  LRU evicts each just before
	 * it is needed.
	 */
	const uint32_t k[] = {1, 2, 3, 1, 2, 4, 1, 2};
	struct sim_trace t;
	keys(&t, k, sizeof(k) / sizeof(k[0]), 5);
	cr_assert_eq(sim_run(SIM_OPT, &t, 2), 4);
	cr_assert_eq(sim_run(SIM_LRU, &t, 2), 0);
	sim_trace_free(&t);
}

Test(cachesim, no_policy_beats_opt)
{
	struct sim_trace t;
	cr_assert_eq(sim_trace_zipf_scan(&t, 2000, 0.8, 40000, 5000, 600, 3), 0);
	for (uint32_t cap = 50; cap <= 800; cap *= 2) {
		uint64_t opt = sim_run(SIM_OPT, &t, cap);
		for (int p = 0; p < SIM_OPT; p++)
			cr_assert_leq(sim_run((enum sim_policy)p, &t, cap), opt, "%s at %u",
				      sim_policy_name((enum sim_policy)p), cap);
	}
	/* With room for every record only first reads miss. */
	uint8_t *seen = calloc(t.nkeys, 1);
	uint64_t first = 0;
	for (size_t i = 0; i < t.len; i++)
		if (!seen[t.keys[i]]) {
			seen[t.keys[i]] = 1;
			first++;
		}
	free(seen);
	cr_assert_eq(sim_run(SIM_OPT, &t, t.nkeys), t.len - first);
	sim_trace_free(&t);
}

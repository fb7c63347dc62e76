/*
 * The cache simulator behind `vmsend cachesim`: synthetic traces replayed
 * through the real ARC (arc.c, in no-data mode), a plain LRU, SIEVE and the
 * offline optimum, to compare hit ratios at several cache sizes.
 *
 * A trace is an array of record numbers; every record has the same size,
 * so a cache of N records is an ARC with c = N * ARC_SIM_RECORD bytes.
 */
#ifndef VMSEND_OBJFS_ARC_SIM_H
#define VMSEND_OBJFS_ARC_SIM_H

#include <stddef.h>
#include <stdint.h>

#define ARC_SIM_RECORD 4096u

/*
 * SIM_OPT is Belady's MIN, which knows the future: no policy hits more, so
 * OPT/LRU bounds what any policy can gain over LRU on a trace.
 */
enum sim_policy { SIM_LRU = 0, SIM_SIEVE, SIM_ARC, SIM_OPT, SIM_NPOLICIES };

struct sim_trace {
	char name[48];
	uint32_t *keys;
	size_t len;
	uint32_t nkeys; /* every key is < nkeys */
};

/*
 * Zipf(alpha) over nkeys records: record k is drawn with probability
 * proportional to 1 / (k + 1)^alpha; ranks are shuffled over the key space.
 * 0 or -ENOMEM.
 */
int sim_trace_zipf(struct sim_trace *t, uint32_t nkeys, double alpha, size_t len, uint64_t seed);
/*
 * The same, interrupted every `scan_every` draws by a scan of `scan_len`
 * records read once and never again.
 */
int sim_trace_zipf_scan(struct sim_trace *t, uint32_t nkeys, double alpha, size_t len,
			size_t scan_every, uint32_t scan_len, uint64_t seed);
/* 0, 1, ..., loop_len - 1, 0, 1, ... for len accesses. */
int sim_trace_loop(struct sim_trace *t, uint32_t loop_len, size_t len);
void sim_trace_free(struct sim_trace *t);

/* Replay t through `policy` with room for `records` records; returns the hits. */
uint64_t sim_run(enum sim_policy policy, const struct sim_trace *t, uint32_t records);
const char *sim_policy_name(enum sim_policy policy);

#endif

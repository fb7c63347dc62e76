/*
 * `vmsend cachesim`: replay synthetic traces through the real ARC, a plain
 * LRU, SIEVE and Belady's offline optimum (OPT), and print hit ratios per
 * trace and cache size with the ARC/LRU ratio.  OPT/LRU is the most any
 * policy could gain over LRU on the same trace.  The traces: Zipf at
 * several skews (a media library's popularity), Zipf interrupted by
 * one-time scans (a crawler or a backup passing through), and loops
 * slightly larger than the cache (LRU's worst case).  Everything is
 * seeded, so two runs print the same numbers.
 */
#include "cli/commands.h"
#include "fs/objfs/arc_sim.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZES 8

static void
cachesim_usage(FILE *f)
{
	fprintf(f, "usage: vmsend cachesim [--records N] [--length N] [--sizes A,B,...] "
		   "[--seed S] [--quick]\n"
		   "  --records N   distinct records in the Zipf traces (default 20000)\n"
		   "  --length N    accesses per trace (default 400000)\n"
		   "  --sizes LIST  cache sizes in records (default 500,1000,2000,4000)\n"
		   "  --seed S      trace seed (default 1)\n"
		   "  --scan-every N  Zipf draws between scans (default: length/8 and length/40)\n"
		   "  --scan-len N    records per scan (default 30%% of --records)\n"
		   "  --quick       5000 records, 100000 accesses, sizes 125,250,500,1000\n");
}

/* ARC/LRU over all rows (the targets), and over the rows of scan traces. */
struct ratio_range {
	double min, max;
	unsigned rows, undefined; /* rows where LRU and ARC both had no hit */
};

static struct ratio_range all_rows = {1e9, 0, 0, 0}, scan_rows = {1e9, 0, 0, 0},
			  scan_opt = {1e9, 0, 0, 0};
/* ARC/LRU wanted on every zipf+scan row (the bench's cachesim target). */
#define SCAN_TARGET 1.3
static unsigned opt_short; /* scan rows where not even OPT/LRU reaches SCAN_TARGET */

static void
ratio_note(struct ratio_range *r, double v)
{
	r->rows++;
	if (v < r->min)
		r->min = v;
	if (v > r->max)
		r->max = v;
}

static void
print_row(const char *trace, uint32_t size, size_t len, const uint64_t hits[SIM_NPOLICIES],
	  double *min_ratio)
{
	printf("%-24s %7u", trace, size);
	for (int p = 0; p < SIM_NPOLICIES; p++)
		printf("  %6.2f%%", 100.0 * (double)hits[p] / (double)len);
	bool scan = strstr(trace, "+scan") != NULL;
	if (hits[SIM_LRU] == 0) {
		printf("  %7s\n", hits[SIM_ARC] == 0 ? "n/a" : "inf");
		all_rows.undefined += hits[SIM_ARC] == 0;
		return;
	}
	double r = (double)hits[SIM_ARC] / (double)hits[SIM_LRU];
	printf("  %7.3f\n", r);
	ratio_note(&all_rows, r);
	if (scan) {
		ratio_note(&scan_rows, r);
		double o = (double)hits[SIM_OPT] / (double)hits[SIM_LRU];
		ratio_note(&scan_opt, o);
		opt_short += o < SCAN_TARGET;
	}
	if (r < *min_ratio)
		*min_ratio = r;
}

static int
run_trace(const struct sim_trace *t, const uint32_t *sizes, int nsizes)
{
	double min_ratio = 1e9;
	for (int s = 0; s < nsizes; s++) {
		uint64_t hits[SIM_NPOLICIES];
		for (int p = 0; p < SIM_NPOLICIES; p++)
			hits[p] = sim_run((enum sim_policy)p, t, sizes[s]);
		print_row(t->name, sizes[s], t->len, hits, &min_ratio);
	}
	if (min_ratio < 1e9)
		printf("%-24s min ARC/LRU %.3f\n", t->name, min_ratio);
	return 0;
}

int
cmd_cachesim(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"records", required_argument, NULL, 'r'},
	    {"length", required_argument, NULL, 'l'},
	    {"sizes", required_argument, NULL, 's'},
	    {"seed", required_argument, NULL, 'S'},
	    {"quick", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"scan-every", required_argument, NULL, 'E'},
	    {"scan-len", required_argument, NULL, 'L'},
	    {NULL, 0, NULL, 0},
	};
	uint32_t nrec = 20000, sizes[MAX_SIZES] = {500, 1000, 2000, 4000};
	size_t len = 400000;
	uint64_t seed = 1;
	size_t scan_every = 0, scan_len = 0;
	int nsizes = 4, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:l:s:S:E:L:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			nrec = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'l':
			len = strtoull(optarg, NULL, 0);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'E':
			scan_every = strtoull(optarg, NULL, 0);
			break;
		case 'L':
			scan_len = strtoull(optarg, NULL, 0);
			break;
		case 'q':
			nrec = 5000;
			len = 100000;
			sizes[0] = 125, sizes[1] = 250, sizes[2] = 500, sizes[3] = 1000;
			nsizes = 4;
			break;
		case 's': {
			nsizes = 0;
			char *save, *list = strdup(optarg);
			for (char *tok = strtok_r(list, ",", &save); tok && nsizes < MAX_SIZES;
			     tok = strtok_r(NULL, ",", &save))
				sizes[nsizes++] = (uint32_t)strtoul(tok, NULL, 0);
			free(list);
			break;
		}
		case 'h':
			cachesim_usage(stdout);
			return 0;
		default:
			cachesim_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || nrec < 2 || len == 0 || nsizes == 0) {
		cachesim_usage(stderr);
		return 2;
	}
	for (int s = 0; s < nsizes; s++)
		if (sizes[s] == 0) {
			fprintf(stderr,
				"vmsend cachesim: a cache size must be at least 1 record\n");
			return 2;
		}

	printf("vmsend cachesim: %u records, %zu accesses per trace, seed %llu\n"
	       "hit ratios; ARC is src/fs/objfs/arc.c itself (no data), LRU and SIEVE are "
	       "reference models,\nOPT is Belady's offline optimum (no policy hits more)\n\n",
	       nrec, len, (unsigned long long)seed);
	printf("%-24s %7s  %7s  %7s  %7s  %7s  %7s\n", "trace", "cache", "LRU", "SIEVE", "ARC",
	       "OPT", "ARC/LRU");

	static const double skews[] = {0.6, 0.8, 1.0, 1.2};
	struct sim_trace t;
	for (size_t i = 0; i < sizeof(skews) / sizeof(skews[0]); i++) {
		if (sim_trace_zipf(&t, nrec, skews[i], len, seed + i) != 0)
			goto nomem;
		run_trace(&t, sizes, nsizes);
		sim_trace_free(&t);
	}
	/*
	 * One-time scans longer than every cache size: each one flushes an
	 * LRU.  By default at two rates (every length/8 and length/40 draws):
	 * how much the ARC gains depends on how often LRU must rewarm.
	 */
	size_t rates[2] = {scan_every, 0};
	int nrates = 1;
	if (scan_every == 0) {
		rates[0] = len / 8;
		rates[1] = len / 40;
		nrates = 2;
	}
	if (scan_len == 0)
		scan_len = nrec * 3 / 10;
	for (int r = 0; r < nrates; r++)
		for (size_t i = 0; i < 2; i++) {
			double a = i == 0 ? 0.8 : 1.0;
			if (rates[r] == 0 ||
			    sim_trace_zipf_scan(&t, nrec, a, len, rates[r], (uint32_t)scan_len,
						seed + 10 + i) != 0)
				goto nomem;
			run_trace(&t, sizes, nsizes);
			sim_trace_free(&t);
		}
	/* Loops 10% larger than each cache size. */
	for (int s = 0; s < nsizes; s++) {
		if (sim_trace_loop(&t, sizes[s] + sizes[s] / 10 + 1, len) != 0)
			goto nomem;
		run_trace(&t, &sizes[s], 1);
		sim_trace_free(&t);
	}
	printf("\ntargets: ARC/LRU >= 1.0 on every trace: %s (min %.3f over %u rows; %u rows "
	       "where neither hits)\n",
	       all_rows.min >= 1.0 ? "met" : "NOT met", all_rows.min, all_rows.rows,
	       all_rows.undefined);
	printf("         ARC/LRU >= %.1f on zipf+scan:    %s (%.3f to %.3f over %u rows)\n",
	       SCAN_TARGET, scan_rows.min >= SCAN_TARGET ? "met" : "NOT met on every row",
	       scan_rows.min, scan_rows.max, scan_rows.rows);
	printf("         OPT/LRU on those rows, the most any policy reaches: %.3f to %.3f; "
	       "below %.1f on %u of them\n",
	       scan_opt.min, scan_opt.max, SCAN_TARGET, opt_short);
	return 0;
nomem:
	fprintf(stderr, "vmsend cachesim: out of memory building a trace\n");
	return 1;
}

/* The page cache's counters and page-count gauges, registered for the reports (core/stats.h). */
#include "vm/vm.h"

struct vm_stats vm_stats;

VMS_STAT_COUNTER(vm_stats.hits, "vm_hits", "page lookups that found the page");
VMS_STAT_COUNTER(vm_stats.misses, "vm_misses", "page lookups that allocated");
VMS_STAT_COUNTER(vm_stats.reclaims, "vm_reclaims", "pages reclaimed from objects");
VMS_STAT_COUNTER(
    vm_stats.orphans, "vm_reclaim_orphans",
    "reclaimed pages whose object died while reclaim held them (freed, not given back)");
VMS_STAT_COUNTER(vm_stats.frees, "vm_frees", "pages freed");
VMS_STAT_COUNTER(vm_stats.alloc_fail, "vm_alloc_fail", "NOWAIT allocations that failed");
VMS_STAT_COUNTER(vm_stats.alloc_waits, "vm_alloc_waits", "sleeps for a free page");
VMS_STAT_COUNTER(vm_stats.busy_sleeps, "vm_busy_sleeps", "sleeps on a busy page");
VMS_STAT_COUNTER(vm_stats.wire_limit, "vm_wire_limit", "grabs stopped at the wired bound");
VMS_STAT_COUNTER(vm_stats.waitfail_releases, "vm_waitfail_releases",
		 "waiting grabs that gave back their pages before sleeping");
VMS_STAT_COUNTER(vm_stats.alloc_toosmall, "vm_alloc_toosmall",
		 "waiting grabs failed: the cache is too small for what is wired");
VMS_STAT_COUNTER(vm_stats.promotions, "vm_promotions",
		 "pages promoted from the new to the main queue");

/* One field of a vm_counts() walk; 0 before vm_init(). */
static uint64_t
vm_stat_count(const struct vms_stat *st)
{
	if (!vm_initialized())
		return 0;
	struct vm_counts c;
	vm_counts(&c);
	return *(const uint64_t *)((const char *)&c + st->arg);
}

VMS_STAT_GAUGE(vm_stat_count, offsetof(struct vm_counts, total), "vm_pages_total",
	       "usable cache pages");
VMS_STAT_GAUGE(vm_stat_count, offsetof(struct vm_counts, free), "vm_pages_free",
	       "pages on the free list");
VMS_STAT_GAUGE(vm_stat_count, offsetof(struct vm_counts, cached), "vm_pages_active",
	       "pages holding file data");
VMS_STAT_GAUGE(vm_stat_count, offsetof(struct vm_counts, main), "vm_pages_main",
	       "cached pages on the main queue (used again since read)");
VMS_STAT_GAUGE(vm_stat_count, offsetof(struct vm_counts, wired_max), "vm_pages_wired_max",
	       "the wired bound: most pages grabs may keep wired (vm_max_wired_pct)");
VMS_STAT_GAUGE(vm_stat_count, offsetof(struct vm_counts, wired), "vm_pages_wired",
	       "pages wired (in use by sends)");
VMS_STAT_GAUGE(vm_stat_count, offsetof(struct vm_counts, busy), "vm_pages_busy",
	       "pages busied (I/O)");

/* The VFS name cache's counters, registered for the reports (core/stats.h). */
#include "vfs/vfs.h"

struct vfs_stats vfs_stats;

VMS_STAT_COUNTER(vfs_stats.lookups, "vfs_lookups", "path lookups");
VMS_STAT_COUNTER(vfs_stats.cache_hits, "vfs_cache_hits",
		 "lookups answered by the name cache without a syscall");
VMS_STAT_COUNTER(vfs_stats.revalidated, "vfs_revalidated",
		 "cached names whose stat said unchanged");
VMS_STAT_COUNTER(vfs_stats.changed, "vfs_changed", "files found changed (new object)");
VMS_STAT_COUNTER(vfs_stats.cache_misses, "vfs_cache_misses", "lookups the file system answered");
VMS_STAT_COUNTER(vfs_stats.refused, "vfs_refused", "lookups refused (escape attempts)");
VMS_STAT_COUNTER(vfs_stats.fd_pressure, "vfs_fd_pressure",
		 "EMFILE/ENFILE: half the name cache dropped, lookup retried");
VMS_STAT_COUNTER(vfs_stats.vnodes_made, "vfs_vnodes_made", "vnodes created");

static uint64_t
vfs_stat_vnodes_live(const struct vms_stat *st)
{
	int64_t v = atomic_load_explicit(&vfs_stats.vnodes_live, memory_order_relaxed);
	return v > 0 ? (uint64_t)v : 0;
}

VMS_STAT_GAUGE(vfs_stat_vnodes_live, 0, "vfs_vnodes_live", "vnodes not yet freed");

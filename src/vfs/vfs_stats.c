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

VMS_STAT_LEVEL(vfs_stats.vnodes_live, "vfs_vnodes_live", "vnodes not yet freed");
VMS_STAT_LEVEL(vfs_stats.names_cached, "vfs_names_cached",
	       "names in the name cache (each keeps a file version and its cached pages)");

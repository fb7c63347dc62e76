/* hostfs's counters, registered for the reports (core/stats.h). */
#include "fs/hostfs/hostfs.h"

struct hostfs_stats hostfs_stats;

VMS_STAT_COUNTER(hostfs_stats.ios, "hostfs_ios", "hostfs page-in I/Os");
VMS_STAT_COUNTER(hostfs_stats.submits, "hostfs_submits",
		 "read SQEs, resubmissions of short reads included");
VMS_STAT_COUNTER(hostfs_stats.short_reads, "hostfs_short_reads",
		 "reads that returned less than asked before EOF");
VMS_STAT_COUNTER(hostfs_stats.pages_read, "hostfs_pages_read", "hostfs pages read");
VMS_STAT_COUNTER(hostfs_stats.bogus_slots, "hostfs_bogus_slots",
		 "bogus_page slots read into the sink");
VMS_STAT_COUNTER(hostfs_stats.rbehind_pages, "hostfs_rbehind_pages", "optional pages read behind");
VMS_STAT_COUNTER(hostfs_stats.rahead_pages, "hostfs_rahead_pages", "optional pages read ahead");
VMS_STAT_COUNTER(hostfs_stats.fixed_reads, "hostfs_fixed_reads", "I/Os done as one READ_FIXED");
VMS_STAT_COUNTER(hostfs_stats.direct_reads, "hostfs_direct_reads",
		 "I/Os on an O_DIRECT descriptor");
VMS_STAT_COUNTER(hostfs_stats.sync_reads, "hostfs_sync_reads",
		 "I/Os done with preadv (no io_uring readv)");
VMS_STAT_COUNTER(hostfs_stats.errors, "hostfs_errors", "hostfs failed I/Os");
VMS_STAT_COUNTER(hostfs_stats.injected, "hostfs_injected",
		 "failures injected by hostfs_fail_nth_read()");

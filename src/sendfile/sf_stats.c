/* The sendfile counters (FreeBSD's sfstat shape) and the engine's tunables. */
#include "sendfile/sendfile.h"
#include "sendfile/sf_impl.h"

#include "core/tunable.h"

#include <stddef.h>

VMS_TUNABLE(sf_swapin_policy, "sf_swapin_policy", SF_POLICY_COALESCE,
	    "swapin of a run with valid pages inside: 0 coalesce (bogus_page, one I/O), 1 split");
VMS_TUNABLE(sf_sb_hiwat, "sf_sb_hiwat", 256 << 10, "default send-buffer high-water mark, bytes");
VMS_TUNABLE(sf_readahead, "sf_readahead", 8, "read-ahead pages past a sendfile request");
VMS_TUNABLE(sf_max_chunk_pages, "sf_max_chunk_pages", 32,
	    "pages per swapin request (one not-ready segment)");
VMS_TUNABLE(sf_send_zc, "sf_send_zc", 0,
	    "1: send with IORING_OP_SENDMSG_ZC when the kernel has it (loopback copies anyway; "
	    "measured no faster there)");
VMS_TUNABLE(sf_zc_min, "sf_zc_min", 64 << 10, "smallest send made zero-copy, bytes");
VMS_TUNABLE(sf_retry_us, "sf_retry_us", 200,
	    "delay before swapin retries after a busy page or an empty free list, microseconds");

struct sf_stats sf_stats;

VMS_STAT_COUNTER(sf_stats.calls, "sf_calls", "vms_sendfile calls");
VMS_STAT_COUNTER(sf_stats.ios, "sf_ios", "pager I/Os started");
VMS_STAT_COUNTER(sf_stats.pages_read, "sf_pages_read", "requested pages filled by I/O");
VMS_STAT_COUNTER(sf_stats.pages_valid, "sf_pages_valid", "pages found valid in the cache");
VMS_STAT_COUNTER(sf_stats.pages_zeroed, "sf_pages_zeroed", "hole pages zero-filled");
VMS_STAT_COUNTER(sf_stats.pages_bogus, "sf_pages_bogus", "bogus_page slots in coalesced I/O");
VMS_STAT_COUNTER(sf_stats.readahead, "sf_readahead", "read-ahead pages read by pagers");
VMS_STAT_COUNTER(sf_stats.busy_waits, "sf_busy_waits", "swapin waits for a busy page");
VMS_STAT_COUNTER(sf_stats.ebusy, "sf_ebusy", "SF_NODISKIO calls that returned EBUSY");
VMS_STAT_COUNTER(sf_stats.eagain, "sf_eagain", "calls that returned EAGAIN");
VMS_STAT_COUNTER(sf_stats.nocache_frees, "sf_nocache_frees",
		 "SF_NOCACHE pages freed after sending");
VMS_STAT_COUNTER(sf_stats.io_errors, "sf_io_errors", "pager I/Os that failed");
VMS_STAT_COUNTER(sf_stats.bytes_queued, "sf_bytes_queued",
		 "bytes queued (headers, file, trailers)");
VMS_STAT_COUNTER(sf_stats.bytes_sent, "sf_bytes_sent", "bytes completed by the kernel");
VMS_STAT_COUNTER(sf_stats.sends, "sf_sends", "send operations issued");
VMS_STAT_COUNTER(sf_stats.sends_zc, "sf_sends_zc", "zero-copy sends issued");
VMS_STAT_COUNTER(sf_stats.ra_ios, "sf_ra_ios", "stream read-ahead I/Os started");
VMS_STAT_COUNTER(sf_stats.ra_pages, "sf_ra_pages", "pages read by stream read-ahead");
VMS_STAT_COUNTER(sf_stats.ra_errors, "sf_ra_errors", "stream read-ahead I/Os that failed");
VMS_STAT_COUNTER(sf_stats.ra_grows, "sf_ra_grows", "read-ahead windows doubled");
VMS_STAT_COUNTER(sf_stats.ra_seeks, "sf_ra_seeks", "stream read-ahead restarts on a seek");
VMS_STAT_COUNTER(sf_stats.ra_throttled, "sf_ra_throttled",
		 "read-ahead held back by the global bound");

_Atomic int64_t sf_ios_inflight;

VMS_STAT_LEVEL(sf_ios_inflight, "sf_ios_inflight", "swapin pager I/Os started and not yet done");

static void
sf_stats_print_one(void *arg, const char *name, uint64_t value, const char *desc)
{
	fprintf(arg, "%-18s %llu\n", name, (unsigned long long)value);
}

void
sf_stats_print(FILE *f)
{
	vms_stats_foreach_named("sf_", sf_stats_print_one, f);
}

void
sf_stats_reset(void)
{
	vms_stats_reset("sf_");
}

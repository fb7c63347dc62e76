/* The sendfile counters (FreeBSD's sfstat shape) and the engine's tunables. */
#include "sendfile/sendfile.h"

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

static const struct {
	const char *name;
	size_t off;
	const char *desc;
} sf_stat_names[] = {
#define S(f, d)                                                                                    \
	{                                                                                          \
		"sf_" #f, offsetof(struct sf_stats, f), d                                          \
	}
    S(calls, "vms_sendfile calls"),
    S(ios, "pager I/Os started"),
    S(pages_read, "requested pages filled by I/O"),
    S(pages_valid, "pages found valid in the cache"),
    S(pages_zeroed, "hole pages zero-filled"),
    S(pages_bogus, "bogus_page slots in coalesced I/O"),
    S(readahead, "read-ahead pages read by pagers"),
    S(busy_waits, "swapin waits for a busy page"),
    S(ebusy, "SF_NODISKIO calls that returned EBUSY"),
    S(eagain, "calls that returned EAGAIN"),
    S(nocache_frees, "SF_NOCACHE pages freed after sending"),
    S(io_errors, "pager I/Os that failed"),
    S(bytes_queued, "bytes queued (headers, file, trailers)"),
    S(bytes_sent, "bytes completed by the kernel"),
    S(sends, "send operations issued"),
    S(sends_zc, "zero-copy sends issued"),
    S(ra_ios, "stream read-ahead I/Os started"),
    S(ra_pages, "pages read by stream read-ahead"),
    S(ra_errors, "stream read-ahead I/Os that failed"),
    S(ra_grows, "read-ahead windows doubled"),
    S(ra_seeks, "stream read-ahead restarts on a seek"),
    S(ra_throttled, "read-ahead held back by the global bound"),
#undef S
};

void
sf_stats_foreach(void (*fn)(void *arg, const char *name, uint64_t value, const char *desc),
		 void *arg)
{
	for (size_t i = 0; i < sizeof(sf_stat_names) / sizeof(sf_stat_names[0]); i++) {
		const struct vms_counter *c =
		    (const struct vms_counter *)((const char *)&sf_stats + sf_stat_names[i].off);
		fn(arg, sf_stat_names[i].name, counter_get(c), sf_stat_names[i].desc);
	}
}

static void
sf_stats_print_one(void *arg, const char *name, uint64_t value, const char *desc)
{
	fprintf(arg, "%-18s %llu\n", name, (unsigned long long)value);
}

void
sf_stats_print(FILE *f)
{
	sf_stats_foreach(sf_stats_print_one, f);
}

void
sf_stats_reset(void)
{
	for (size_t i = 0; i < sizeof(sf_stat_names) / sizeof(sf_stat_names[0]); i++)
		counter_zero((struct vms_counter *)((char *)&sf_stats + sf_stat_names[i].off));
}

/*
 * The memory this process may hold for good: what the kernel says is
 * available, and the limit of its memory cgroup (a container's).  And the
 * CPUs it may run on.
 */
#ifndef VMSEND_CORE_SYSMEM_H
#define VMSEND_CORE_SYSMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Can `bytes` more be held for the life of the process?  Compared with the
 * memory limit of our cgroup and of each cgroup above it (v2 memory.max, v1
 * memory.limit_in_bytes; in a container the paths are its own) and, `now`,
 * with MemAvailable, or else with MemTotal (could it ever: a check made
 * while another process holds the memory, a running server's for one).
 * 0, or -ENOMEM with `why` naming the limit: "the memory cgroup /x is
 * limited to 1024 MiB" or "only 900 MiB are available (MemAvailable)".  A
 * limit that cannot be read does not refuse.
 */
int vms_memory_fits(uint64_t bytes, bool now, char *why, size_t whylen);

/*
 * The CPUs this thread may run on: its affinity mask (taskset, a unit's
 * CPUAffinity=), capped by the CFS quota of its cgroup and of each one above
 * it, rounded up (docker --cpus=2.5: 3; v2 cpu.max, v1 cpu.cfs_quota_us).
 * The number online counts the whole machine; a thread per CPU beyond
 * these only contends.  At least 1.
 */
unsigned vms_cpus_usable(void);

#endif

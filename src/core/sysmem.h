/*
 * The memory this process may hold for good: what the kernel says is
 * available, and the limit of its memory cgroup (a container's).
 */
#ifndef VMSEND_CORE_SYSMEM_H
#define VMSEND_CORE_SYSMEM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Can `bytes` more be held for the life of the process?  Compared with
 * MemAvailable and with the memory limit of our cgroup and of each cgroup
 * above it (v2 memory.max, v1 memory.limit_in_bytes; in a container the
 * paths are its own).  0, or -ENOMEM with `why` naming the limit: "the
 * memory cgroup /x is limited to 1024 MiB" or "only 900 MiB are available
 * (MemAvailable)".  A limit that cannot be read does not refuse.
 */
int vms_memory_fits(uint64_t bytes, char *why, size_t whylen);

#endif

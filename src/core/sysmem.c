/*
 * How much memory the process may hold for good (core/sysmem.h).  Read
 * from /proc and the cgroup file system each time: called once per cache
 * made, and a container's limit may have been changed since the last.
 */
#include "core/sysmem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The number in a one-line file; UINT64_MAX if none (cgroup v2's "max", v1's ~2^63). */
static uint64_t
sysmem_read_limit(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned long long v;
	uint64_t r = UINT64_MAX;
	if (f != NULL && fscanf(f, "%llu", &v) == 1 && v < (1ull << 62))
		r = v;
	if (f != NULL)
		fclose(f);
	return r;
}

/*
 * The smallest memory limit over our memory cgroup and its ancestors (v2
 * memory.max, v1 memory.limit_in_bytes), naming that cgroup in `where`;
 * UINT64_MAX if there is none.  In a container the paths are its own.
 */
static uint64_t
sysmem_cgroup_limit(char *where, size_t wlen)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[1024], dir[1024], path[1100];
	uint64_t best = UINT64_MAX;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		char *ctl = strchr(line, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;
		if (cg == NULL)
			continue;
		*cg++ = '\0';
		ctl++;
		bool v2 = *ctl == '\0';
		if ((!v2 && strcmp(ctl, "memory") != 0) || *cg != '/')
			continue;
		snprintf(dir, sizeof(dir), "%s", cg);
		for (;;) { /* this cgroup, then each parent up to the root */
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s%s/%s", v2 ? "" : "/memory",
				 strcmp(dir, "/") == 0 ? "" : dir,
				 v2 ? "memory.max" : "memory.limit_in_bytes");
			uint64_t l = sysmem_read_limit(path);
			if (l < best) {
				best = l;
				snprintf(where, wlen, "%s", dir);
			}
			char *slash = strrchr(dir, '/');
			if (slash == NULL || strcmp(dir, "/") == 0)
				break;
			slash[slash == dir ? 1 : 0] = '\0';
		}
	}
	if (f != NULL)
		fclose(f);
	return best;
}

/* MemAvailable from /proc/meminfo in bytes; UINT64_MAX if it cannot be read. */
static uint64_t
sysmem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long kb;
	uint64_t r = UINT64_MAX;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			r = (uint64_t)kb << 10;
	if (f != NULL)
		fclose(f);
	return r;
}

int
vms_memory_fits(uint64_t bytes, char *why, size_t whylen)
{
	char where[1024] = "";
	uint64_t limit = sysmem_cgroup_limit(where, sizeof(where));
	uint64_t avail = sysmem_available();
	if (bytes <= limit && bytes <= avail)
		return 0;
	if (bytes > limit)
		snprintf(why, whylen, "the memory cgroup %s is limited to %llu MiB", where,
			 (unsigned long long)(limit >> 20));
	else
		snprintf(why, whylen, "only %llu MiB are available (MemAvailable)",
			 (unsigned long long)(avail >> 20));
	return -ENOMEM;
}

/*
 * How much memory the process may hold for good, and how many CPUs it may
 * run on (core/sysmem.h).  Read from /proc and the cgroup file system each
 * time: called once per cache or server made, and a container's limits
 * may have been changed since the last.
 */
#include "core/sysmem.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
 * A cgroup's limit from the files in `dir` (/sys/fs/cgroup/..., v2 or the
 * v1 controller's hierarchy); UINT64_MAX if it has none.
 */
typedef uint64_t sysmem_cg_read(const char *dir, bool v2);

/*
 * The smallest limit `read` finds over our cgroup and its ancestors in the
 * v2 hierarchy or the v1 one of controller `v1ctl`, naming that cgroup in
 * `where`; UINT64_MAX if there is none.  In a container the paths are its
 * own.
 */
static uint64_t
sysmem_cgroup_min(const char *v1ctl, sysmem_cg_read *read, char *where, size_t wlen)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[1024], cg[1024], dir[1200];
	uint64_t best = UINT64_MAX;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		char *ctl = strchr(line, ':'), *path = ctl ? strchr(ctl + 1, ':') : NULL;
		if (path == NULL)
			continue;
		*path++ = '\0';
		ctl++;
		bool v2 = *ctl == '\0';
		/* v1 lists the controllers of a hierarchy, "cpu,cpuacct", also its directory. */
		size_t n = strlen(v1ctl);
		const char *hit = v2 ? NULL : strstr(ctl, v1ctl);
		if ((!v2 && (hit == NULL || (hit != ctl && hit[-1] != ',') ||
			     (hit[n] != '\0' && hit[n] != ','))) ||
		    *path != '/')
			continue;
		snprintf(cg, sizeof(cg), "%s", path);
		for (;;) { /* this cgroup, then each parent up to the root */
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s%s%s", v2 ? "" : "/",
				 v2 ? "" : ctl, strcmp(cg, "/") == 0 ? "" : cg);
			uint64_t l = read(dir, v2);
			if (l < best) {
				best = l;
				snprintf(where, wlen, "%s", cg);
			}
			char *slash = strrchr(cg, '/');
			if (slash == NULL || strcmp(cg, "/") == 0)
				break;
			slash[slash == cg ? 1 : 0] = '\0';
		}
	}
	if (f != NULL)
		fclose(f);
	return best;
}

static uint64_t
sysmem_cg_memory(const char *dir, bool v2)
{
	char path[1300];
	snprintf(path, sizeof(path), "%s/%s", dir, v2 ? "memory.max" : "memory.limit_in_bytes");
	return sysmem_read_limit(path);
}

/* CPUs of a cgroup's CFS quota, rounded up: v2 cpu.max "QUOTA PERIOD", v1 two files. */
static uint64_t
sysmem_cg_cpus(const char *dir, bool v2)
{
	char path[1300];
	uint64_t quota, period;
	if (v2) {
		snprintf(path, sizeof(path), "%s/cpu.max", dir);
		FILE *f = fopen(path, "r");
		unsigned long long q, p;
		bool ok = f != NULL && fscanf(f, "%llu %llu", &q, &p) == 2; /* "max ...": no */
		if (f != NULL)
			fclose(f);
		if (!ok)
			return UINT64_MAX;
		quota = q;
		period = p;
	} else {
		snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir); /* -1: none */
		quota = sysmem_read_limit(path);
		snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
		period = sysmem_read_limit(path);
	}
	if (quota == UINT64_MAX || period == 0 || period == UINT64_MAX)
		return UINT64_MAX;
	return (quota + period - 1) / period;
}

unsigned
vms_cpus_usable(void)
{
	cpu_set_t set;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t n = sched_getaffinity(0, sizeof(set), &set) == 0 ? (uint64_t)CPU_COUNT(&set)
		     : online > 0                                 ? (uint64_t)online
								  : 1;
	char where[1024];
	uint64_t quota = sysmem_cgroup_min("cpu", sysmem_cg_cpus, where, sizeof(where));
	n = n < quota ? n : quota;
	return n > 0 ? (unsigned)n : 1;
}

/* A "Name: N kB" line of /proc/meminfo in bytes; UINT64_MAX if it cannot be read. */
static uint64_t
sysmem_meminfo(const char *name)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long kb;
	size_t n = strlen(name);
	uint64_t r = UINT64_MAX;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':' &&
		    sscanf(line + n + 1, "%llu kB", &kb) == 1)
			r = (uint64_t)kb << 10;
	if (f != NULL)
		fclose(f);
	return r;
}

int
vms_memory_fits(uint64_t bytes, bool now, char *why, size_t whylen)
{
	char where[1024] = "";
	const char *field = now ? "MemAvailable" : "MemTotal";
	uint64_t limit = sysmem_cgroup_min("memory", sysmem_cg_memory, where, sizeof(where));
	uint64_t mem = sysmem_meminfo(field);
	if (bytes <= limit && bytes <= mem)
		return 0;
	if (bytes > limit)
		snprintf(why, whylen, "the memory cgroup %s is limited to %llu MiB", where,
			 (unsigned long long)(limit >> 20));
	else
		snprintf(why, whylen, "only %llu MiB %s (%s)", (unsigned long long)(mem >> 20),
			 now ? "are available" : "are in the machine", field);
	return -ENOMEM;
}

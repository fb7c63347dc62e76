/*
 * The process around `vmsend serve`: the error log, the memory the cache
 * may take, dropping privileges and, when systemd started us, its notify
 * and socket-activation protocols.
 */
#include "cli/serve.h"
#include "cli/serve_sys.h"

#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int
serve_error_log_open(const char *path)
{
	if (path == NULL)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	/* stderr itself moves, so whatever writes there (our log, libraries) follows. */
	int rc = dup2(fd, 2) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* The number in a one-line file; UINT64_MAX if none (cgroup v2's "max", v1's ~2^63). */
static uint64_t
serve_read_limit(const char *path)
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
serve_cgroup_limit(char *where, size_t wlen)
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
			uint64_t l = serve_read_limit(path);
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
serve_mem_available(void)
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
serve_memory_check(uint64_t cache, char *err, size_t errlen)
{
	/* The arena, its page structures (56 bytes a page: under 1/64) and 64 MiB for the rest. */
	uint64_t need = cache + cache / 64 + (64ull << 20);
	char where[1024] = "";
	uint64_t limit = serve_cgroup_limit(where, sizeof(where));
	uint64_t avail = serve_mem_available();
	if (need <= limit && need <= avail)
		return 0;
	int n = snprintf(err, errlen, "a %llu MiB cache needs about %llu MiB, but ",
			 (unsigned long long)(cache >> 20), (unsigned long long)(need >> 20));
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	if (need > limit)
		snprintf(err + n, errlen - (size_t)n, "the memory cgroup %s is limited to %llu MiB",
			 where, (unsigned long long)(limit >> 20));
	else
		snprintf(err + n, errlen - (size_t)n, "only %llu MiB are available (MemAvailable)",
			 (unsigned long long)(avail >> 20));
	snprintf(err + strlen(err), errlen - strlen(err),
		 ": the cache's memory is never given back, so the kernel would kill vmsend; "
		 "give a smaller --cache-size");
	return -1;
}

int
serve_privileges_check(const struct serve_opts *o, char *err, size_t errlen)
{
	bool root = geteuid() == 0;
	if (!root && (o->user != NULL || o->group != NULL)) {
		struct passwd *pw = o->user ? getpwnam(o->user) : NULL;
		if (o->group != NULL || pw == NULL || pw->pw_uid != geteuid()) {
			snprintf(err, errlen, "--user/--group need vmsend to be started as root");
			return -1;
		}
	}
	if (root && o->user == NULL && !o->allow_root) {
		snprintf(err, errlen,
			 "refusing to serve as root: give --user USER (e.g. www-data or nobody) "
			 "to drop privileges after binding, or --allow-root");
		return -1;
	}
	if (o->user != NULL && getpwnam(o->user) == NULL) {
		snprintf(err, errlen, "--user %s: no such user", o->user);
		return -1;
	}
	if (o->group != NULL && getgrnam(o->group) == NULL) {
		snprintf(err, errlen, "--group %s: no such group", o->group);
		return -1;
	}
	if (root && o->user == NULL && o->group != NULL) {
		snprintf(err, errlen, "--group without --user would still serve as root");
		return -1;
	}
	return 0;
}

int
serve_privileges_drop(const struct serve_opts *o)
{
	if (geteuid() != 0 || o->user == NULL)
		return 0;
	struct passwd *pw = getpwnam(o->user);
	if (pw == NULL)
		return -ENOENT;
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (o->group != NULL) {
		struct group *gr = getgrnam(o->group);
		if (gr == NULL)
			return -ENOENT;
		gid = gr->gr_gid;
	}
	/* glibc applies these to every thread of the process, not only the caller. */
	if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		return -errno;
	if (setuid(0) == 0) /* must be gone for good */
		return -EPERM;
	/* Dropping uid clears "dumpable"; a crash should still leave a core. */
	prctl(PR_SET_DUMPABLE, 1);
	return 0;
}

/*
 * The process around `vmsend serve`: the error log, the memory the cache
 * may take, dropping privileges and, when systemd started us, its notify
 * and socket-activation protocols.
 */
#include "cli/serve.h"
#include "cli/serve_sys.h"

#include "core/log.h"
#include "core/sysmem.h"
#include "vm/vm.h"

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
#include <linux/capability.h>
#include <sys/syscall.h>
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

int
serve_memory_check(uint64_t cache, bool now, char *err, size_t errlen)
{
	/* The cache (vm_memory_need) and 64 MiB for the rest of the server. */
	uint64_t need = vm_memory_need(cache) + (64ull << 20);
	char why[1200];
	if (vms_memory_fits(need, now, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, errlen,
		 "a %llu MiB cache needs about %llu MiB, but %s: the cache's memory is never given "
		 "back, so the kernel would kill vmsend; give a smaller --cache-size",
		 (unsigned long long)(cache >> 20), (unsigned long long)(need >> 20), why);
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

/*
 * Permitted and effective: the capabilities in `mask` (of the first 32),
 * nothing else.  The raw capset(2): one call, where libcap would add a
 * dependency for it.  0 or -1 (errno).
 */
static int
serve_caps_only(uint32_t mask)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {0};
	data[0].permitted = data[0].effective = mask;
	return (int)syscall(SYS_capset, &hdr, data);
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
	/*
	 * Each loop pins the page arena for io_uring (fixed buffers).  As the
	 * user that counts against RLIMIT_MEMLOCK (8 MiB on Debian), and every
	 * read would fall back to a plain one; with CAP_IPC_LOCK the kernel
	 * does not count it.  So this thread keeps that one capability through
	 * the uid change, and the loops' threads, started after us, inherit it.
	 * Threads that exist already lose every capability with their uid.
	 */
	if (prctl(PR_SET_KEEPCAPS, 1) != 0)
		return -errno;
	/* glibc applies these to every thread of the process, not only the caller. */
	if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		return -errno;
	if (setuid(0) == 0) /* must be gone for good */
		return -EPERM;
	/* Outside our bounding set (a unit's CapabilityBoundingSet=) it cannot be kept. */
	if (prctl(PR_SET_KEEPCAPS, 0) != 0 ||
	    (serve_caps_only(CAP_TO_MASK(CAP_IPC_LOCK)) != 0 && serve_caps_only(0) != 0))
		return -errno;
	/* Dropping uid clears "dumpable"; a crash should still leave a core. */
	prctl(PR_SET_DUMPABLE, 1);
	return 0;
}

static void
serve_reload_file_check(const struct serve_opts *o, const char *what, const char *path)
{
	if (path == NULL || access(path, R_OK) == 0)
		return;
	if (o->group != NULL)
		LOG_WARN("serve",
			 "%s %s is not readable by %s (%s): a reload (SIGHUP) will be refused "
			 "until it is (chgrp %s %s; chmod g+r %s)",
			 what, path, o->user, strerror(errno), o->group, path, path);
	else
		LOG_WARN("serve",
			 "%s %s is not readable by %s (%s): a reload (SIGHUP) will be refused "
			 "until it is (e.g. give it a group, mode 0640, and serve with --group)",
			 what, path, o->user, strerror(errno));
}

void
serve_user_access_check(const struct serve_opts *o)
{
	/* A directory the user cannot search: every file under it would be 403. */
	for (int i = 0; i < o->nmounts; i++) {
		const char *dir = strstr(o->mounts[i], "=hostfs:");
		if (dir != NULL && access(dir + 8, X_OK) != 0)
			LOG_WARN("serve",
				 "%s: %s cannot search %s (%s): every request there will get 403",
				 o->mounts[i], o->user, dir + 8, strerror(errno));
	}
	serve_reload_file_check(o, "--config", o->config_path);
	for (int i = 0; i < o->ntls_cert; i++) {
		serve_reload_file_check(o, "--tls-cert", o->tls_cert[i]);
		serve_reload_file_check(o, "--tls-key", o->tls_key[i]);
	}
	for (int i = 0; i < o->ntls_ticket_key; i++)
		serve_reload_file_check(o, "--tls-ticket-key", o->tls_ticket_key[i]);
}

/* serve_sys.c: error log, privileges and systemd for `vmsend serve`. */
#ifndef VMSEND_CLI_SERVE_SYS_H
#define VMSEND_CLI_SERVE_SYS_H

#include "cli/serve.h"

#include <stddef.h>
#include <stdint.h>

/* Point stderr at path (append; created 0644); NULL: leave it.  0 or -errno. */
int serve_error_log_open(const char *path);
/*
 * Refuse a cache that cannot fit: more than MemAvailable (`now`; else more
 * than the machine has, for --check-config, which a running server's cache
 * must not fail), or than the memory limit of our cgroup (a container's) or
 * of one above it.  The arena is held for the life of the process (taken
 * whole at start where io_uring pins it), so the kernel would kill us
 * instead of telling why.  0, or -1 with `err` naming the limit.
 */
int serve_memory_check(uint64_t cache, bool now, char *err, size_t errlen);
/* Refuse what cannot work before anything starts: root without --user, unknown names.  0 or -1. */
int serve_privileges_check(const struct serve_opts *o, char *err, size_t errlen);
/* Started as root with --user: become that user and group for good (every thread).  0 or -errno. */
int serve_privileges_drop(const struct serve_opts *o);
/*
 * After serve_privileges_drop: a warning for each hostfs directory the user
 * cannot search (its files would all be 403) and each file a reload
 * re-reads (--config, certificates, keys, ticket keys) that it cannot read.
 */
void serve_user_access_check(const struct serve_opts *o);

#endif

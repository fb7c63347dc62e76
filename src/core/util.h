/* Small helpers used everywhere. */
#ifndef VMSEND_CORE_UTIL_H
#define VMSEND_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define nitems(a)                  (sizeof(a) / sizeof((a)[0]))
#define container_of(p, type, mem) ((type *)((char *)(p)-offsetof(type, mem)))
#define MIN(a, b)                  ((a) < (b) ? (a) : (b))
#define MAX(a, b)                  ((a) > (b) ? (a) : (b))
#define howmany(x, y)              (((x) + ((y)-1)) / (y))
#define roundup2(x, y)             (((x) + ((y)-1)) & ~((__typeof__(x))(y)-1))
#define rounddown2(x, y)           ((x) & ~((__typeof__(x))(y)-1))
#define powerof2(x)                ((((x)-1) & (x)) == 0)
#define likely(x)                  __builtin_expect(!!(x), 1)
#define unlikely(x)                __builtin_expect(!!(x), 0)

static inline uint64_t
vms_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Raise the soft RLIMIT_NOFILE to the hard one (a server may use every
 * descriptor it is allowed: connections and cached files each hold one) and
 * return it; UINT64_MAX when unlimited or unreadable.
 */
static inline uint64_t
vms_fd_limit_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return UINT64_MAX;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

/*
 * The calling thread's id, cached per thread: glibc's gettid() enters the
 * kernel on every call, and the lock and busy owner bookkeeping asks often.
 */
static inline uint32_t
vms_tid(void)
{
	static __thread uint32_t tid;
	if (unlikely(tid == 0))
		tid = (uint32_t)gettid();
	return tid;
}

#endif

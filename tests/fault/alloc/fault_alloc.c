/*
 * The --wrap'd allocator of fault_alloc.h.  Armed state is process-wide
 * (completions may allocate on other threads); a countdown reaching zero
 * fails exactly one call and disarms.
 */
#include "fault_alloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t sz);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
/* The wrappers ld's --wrap points every call at (declared here: nothing else calls them by name). */
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t sz);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static _Atomic unsigned long countdown; /* 0: off */
static _Atomic unsigned long calls;
static _Atomic bool fired;
static _Thread_local bool exempt;

void
fault_alloc_arm(unsigned long n)
{
	atomic_store(&calls, 0);
	atomic_store(&fired, false);
	atomic_store(&countdown, n);
}

bool
fault_alloc_disarm(void)
{
	atomic_store(&countdown, 0);
	return atomic_load(&fired);
}

unsigned long
fault_alloc_calls(void)
{
	return atomic_load(&calls);
}

void
fault_alloc_exempt_thread(void)
{
	exempt = true;
}

/* True if this call is the one to fail. */
static bool
fault_take(void)
{
	if (exempt)
		return false;
	unsigned long c = atomic_load(&countdown);
	while (c != 0) {
		if (atomic_compare_exchange_weak(&countdown, &c, c - 1)) {
			atomic_fetch_add(&calls, 1);
			if (c != 1)
				return false;
			atomic_store(&fired, true);
			errno = ENOMEM;
			return true;
		}
	}
	return false;
}

void *
__wrap_malloc(size_t n)
{
	return fault_take() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t sz)
{
	return fault_take() ? NULL : __real_calloc(n, sz);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return fault_take() ? NULL : __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
	return fault_take() ? NULL : __real_strdup(s);
}

char *
__wrap_strndup(const char *s, size_t n)
{
	return fault_take() ? NULL : __real_strndup(s, n);
}

int
__wrap_asprintf(char **out, const char *fmt, ...)
{
	if (fault_take())
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(out, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * A failing allocator for fault-injection loops.  The test binary is linked
 * with -Wl,--wrap=malloc,... so that every call from our own objects (the
 * static libraries and the test) goes through a wrapper that counts calls
 * while armed and fails the Nth with ENOMEM.  libc, liburing and Criterion
 * are shared libraries: their internal allocations are not counted.
 *
 * Wrapped: malloc, calloc, realloc, strdup, strndup, asprintf.
 */
#ifndef VMSEND_TEST_FAULT_ALLOC_H
#define VMSEND_TEST_FAULT_ALLOC_H

#include <stdbool.h>

/* Fail the nth counted allocation from now (1 = the next); 0 disarms. */
void fault_alloc_arm(unsigned long n);
/* Disarm; returns true if the armed failure happened. */
bool fault_alloc_disarm(void);
/* Allocations counted since the last arm. */
unsigned long fault_alloc_calls(void);
/* The calling thread's allocations are never failed (helper threads). */
void fault_alloc_exempt_thread(void);

#endif

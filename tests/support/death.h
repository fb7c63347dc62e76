/*
 * Death tests: run a function in a forked child with its stderr captured
 * and check that it aborted with a message containing `expect`.
 *
 * The child must not use cr_assert*: Criterion's runner socket is shared
 * with the parent and a forked child talking on it hangs the run.  Use
 * VERIFY* (src/core/assert.h) inside child functions.
 */
#ifndef VMSEND_TEST_DEATH_H
#define VMSEND_TEST_DEATH_H

#include <stdbool.h>

/*
 * Returns true if fn(arg) died of SIGABRT and its stderr contains `expect`.
 * Otherwise prints what happened and the captured stderr to our stderr and
 * returns false.  If `out` is not NULL the captured stderr is copied there
 * (up to outlen - 1 bytes, NUL-terminated).
 */
bool death_expect(void (*fn)(void *arg), void *arg, const char *expect, char *out, unsigned outlen);

/* Returns true if fn(arg) exits normally with status 0 in a child. */
bool death_survives(void (*fn)(void *arg), void *arg);

#endif

/*
 * CHECK for standalone test programs (stress drivers, TSan builds, where
 * Criterion's forking runner cannot start under ThreadSanitizer).  A failed
 * check prints file:line and the message and exits non-zero.
 */
#ifndef VMSEND_TEST_CHECK_H
#define VMSEND_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, " " __VA_ARGS__);                                          \
			fprintf(stderr, "\n");                                                     \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#endif

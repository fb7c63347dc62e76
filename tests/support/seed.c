/* Seeds for stress tests (seed.h). */
#include "support/seed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned
seed_parse(const char *what, const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v > 0xffffffffUL) {
		fprintf(stderr, "bad seed %s '%s': want a number below 2^32\n", what, s);
		exit(2);
	}
	return (unsigned)v;
}

unsigned
stress_seed(const char *name, int argc, char **argv)
{
	unsigned seed = 0;
	const char *from = NULL;
	for (int i = 1; argv != NULL && i < argc; i++) {
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			from = argv[i + 1];
		else if (strncmp(argv[i], "--seed=", 7) == 0)
			from = argv[i] + 7;
	}
	if (from != NULL) {
		seed = seed_parse("--seed", from);
	} else if ((from = getenv("VMSEND_STRESS_SEED")) != NULL && *from != '\0') {
		seed = seed_parse("VMSEND_STRESS_SEED", from);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned)(ts.tv_sec ^ ts.tv_nsec ^ ((unsigned)getpid() << 16));
	}
	printf("%s: seed %u (replay: VMSEND_STRESS_SEED=%u or --seed %u)\n", name, seed, seed,
	       seed);
	fflush(stdout);
	return seed;
}

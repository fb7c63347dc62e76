/*
 * Seeds for stress tests: every stress test prints the seed it runs with
 * and takes it back to replay a failure.  The seed comes from `--seed N` on
 * the command line, else the VMSEND_STRESS_SEED environment variable, else
 * the clock and pid (a new one each run, as `make test-repeat` wants).
 */
#ifndef VMSEND_TEST_SEED_H
#define VMSEND_TEST_SEED_H

/*
 * Pick the seed as above and print "NAME: seed N (replay: VMSEND_STRESS_SEED=N
 * or --seed N)" on stdout.  argv may be NULL.  A malformed --seed or
 * environment value exits with status 2 and says why.
 */
unsigned stress_seed(const char *name, int argc, char **argv);

#endif

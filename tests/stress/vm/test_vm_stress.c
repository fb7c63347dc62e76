/*
 * Threads grabbing, busying, validating, wiring, unwiring and reclaiming on
 * a small arena, with the page invariants checked as they go and after.
 * Runs for VMSEND_STRESS_SECONDS (default 3) with a seed from --seed or
 * VMSEND_STRESS_SEED (printed; random otherwise).  A plain program, not a
 * Criterion test, so that it also runs under TSan (make tsan).
 *
 * Each worker keeps up to 16 pages wired, so the four of them would wire
 * the whole 64-page arena; the wired bound (vm.h, rule 1) stops them at
 * vm_wired_max(), and the main thread checks the bound while they run.  A
 * run that stops making progress fails with the VM's counters instead of
 * hanging until ctest's timeout (issue #12: this test hung 4 runs in 30).
 */
#include "vm/vm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "support/check.h"
#include "support/mempager.h"
#include "support/seed.h"

#define NTHREADS 4
#define NOBJ     3
#define OBJPAGES 48
#define ARENA    64

static struct vm_object *objs[NOBJ];
static _Atomic bool stop;
static _Atomic uint64_t ops;
static _Atomic int finished;

/* A valid page holds its (object index, pindex) stamped in every word. */
static void
stamp(struct vm_page *m, uint64_t tag)
{
	uint64_t *w = vm_page_data(m);
	for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
		w[i] = tag;
}

static void
check_stamp(struct vm_page *m, uint64_t tag)
{
	uint64_t *w = vm_page_data(m);
	for (unsigned i = 0; i < PAGE_SIZE / 8; i += 64)
		CHECK(w[i] == tag, "page %llu holds %llx, want %llx", (unsigned long long)m->pindex,
		      (unsigned long long)w[i], (unsigned long long)tag);
}

static void *
worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct vm_page *wired[16];
	int nwired = 0;
	while (!atomic_load(&stop)) {
		int oi = rand_r(&seed) % NOBJ;
		struct vm_object *obj = objs[oi];
		uint64_t p = rand_r(&seed) % (OBJPAGES - 4);
		int n = 1 + rand_r(&seed) % 4;
		int op = rand_r(&seed) % 8;
		struct vm_page *ma[4];
		int flags = (op == 0 ? VM_ALLOC_NOWAIT : 0) | (op == 1 ? VM_ALLOC_SBUSY : 0);
		if (op == 2 && nwired + 4 <= 16)
			flags |= VM_ALLOC_WIRED;
		int got = vm_page_grab_pages(obj, p, flags, ma, n);
		for (int i = 0; i < got; i++) {
			struct vm_page *m = ma[i];
			uint64_t tag = ((uint64_t)oi << 32) | (p + i);
			CHECK(m->object == obj);
			CHECK(m->pindex == p + i);
			if (flags & VM_ALLOC_SBUSY) {
				CHECK(vm_page_sbusied(m));
				if (vm_page_all_valid(m))
					check_stamp(m, tag);
				vm_page_sunbusy(m);
			} else {
				CHECK(vm_page_xbusied(m));
				if (vm_page_all_valid(m)) {
					check_stamp(m, tag);
				} else {
					stamp(m, tag);
					vm_page_valid(m);
				}
				vm_page_xunbusy(m);
			}
			if (flags & VM_ALLOC_WIRED)
				wired[nwired++] = m;
		}
		if (op == 3 && nwired > 0)
			vm_page_unwire(wired[--nwired]);
		if (op == 4)
			vm_reclaim(4);
		atomic_fetch_add(&ops, 1);
	}
	while (nwired > 0)
		vm_page_unwire(wired[--nwired]);
	atomic_fetch_add(&finished, 1);
	return NULL;
}

static void
print_counters(const char *what)
{
	printf("vm stress: %s: %llu operations, %llu reclaims, %llu busy sleeps, %llu alloc waits, "
	       "%llu wire-limit stops, %llu waitfail releases\n",
	       what, (unsigned long long)atomic_load(&ops),
	       (unsigned long long)counter_get(&vm_stats.reclaims),
	       (unsigned long long)counter_get(&vm_stats.busy_sleeps),
	       (unsigned long long)counter_get(&vm_stats.alloc_waits),
	       (unsigned long long)counter_get(&vm_stats.wire_limit),
	       (unsigned long long)counter_get(&vm_stats.waitfail_releases));
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	unsigned seed = stress_seed("test_vm_stress", argc, argv);
	CHECK(vm_init(ARENA * PAGE_SIZE) == 0);
	static char zero[OBJPAGES * 4096];
	for (int i = 0; i < NOBJ; i++)
		objs[i] = mempager_create(zero, sizeof(zero), 0, "stress");
	const char *s = getenv("VMSEND_STRESS_SECONDS");
	int seconds = s ? atoi(s) : 3;
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(seed * NTHREADS + i + 1));
	/* Watch the bound and progress every 10 ms; no progress for 60 s is a hang. */
	uint64_t last_ops = 0;
	int still = 0;
	for (int tick = 0; atomic_load(&finished) < NTHREADS; tick++) {
		if (tick == seconds * 100)
			atomic_store(&stop, true);
		struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		struct vm_counts c;
		vm_counts(&c);
		CHECK(c.nwired <= c.wired_max, "%llu pages wired, bound %llu (seed %u)",
		      (unsigned long long)c.nwired, (unsigned long long)c.wired_max, seed);
		uint64_t now = atomic_load(&ops);
		still = now == last_ops ? still + 1 : 0;
		last_ops = now;
		if (still >= 6000) {
			print_counters("no progress for 60 s");
			CHECK(false, "the workers stopped making progress (seed %u)", seed);
		}
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);

	CHECK(vm_quiescent(), "a page was left busy or wired");
	struct vm_counts c;
	vm_counts(&c);
	CHECK(c.free + c.cached == c.total);
	print_counters("done");
	CHECK(c.nwired == 0, "the wired count is %llu with nothing wired",
	      (unsigned long long)c.nwired);
	CHECK(counter_get(&vm_stats.reclaims) > 0, "the arena was never under pressure");
	for (int i = 0; i < NOBJ; i++)
		vm_object_deallocate(objs[i]);
	CHECK(vm_object_count() == 0);
	vm_counts(&c);
	CHECK(c.free == c.total);
	vm_fini();
	printf("1 passed, 0 failed\n");
	return 0;
}

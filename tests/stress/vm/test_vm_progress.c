/*
 * The VM's progress guarantee (vm.h), shown on the deadlock that made
 * test_vm_stress hang (issue #12), built deterministically on a 16-page
 * arena:
 *
 *   main  wires 12 pages of X (a client's in-flight data) and holds 2 pages
 *         of Z exclusive-busy (an I/O that finishes only after B's grab);
 *   A     grabs 3 pages of Y: gets Y0 and Y1, then waits for a free page;
 *   B     grabs Y0, which A holds.
 *
 * The old allocator (vm_alloc_waitfail = 0, no wired bound) sleeps in A
 * holding Y0 and Y1: B sleeps on Y0, main waits for B, nobody ever frees a
 * page.  That variant runs in a child killed after 3 s, and must hang.  The
 * real allocator gives Y0 and Y1 back before A sleeps (rule 2): B finishes,
 * main ends its I/O, A gets its pages.  Then rules 1 and 3: wiring stops at
 * the bound with a short count, and a waiting grab that cannot fit beside
 * what is wired fails at once with a log line instead of sleeping.
 *
 * A plain program (fork, no Criterion) so that it also runs under TSan.
 */
#include "vm/vm.h"

#include "core/tunable.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/check.h"
#include "support/mempager.h"

#define ARENA 16

static struct vm_object *X, *Y, *Z;
static _Atomic bool b_done;

static void *
grab_three(void *arg)
{
	struct vm_page **ma = arg;
	CHECK(vm_page_grab_pages(Y, 0, 0, ma, 3) == 3);
	return NULL;
}

static void *
grab_y0(void *arg)
{
	(void)arg;
	struct vm_page *m = vm_page_grab(Y, 0, 0);
	CHECK(m != NULL && m->pindex == 0);
	vm_page_xunbusy(m);
	atomic_store(&b_done, true);
	return NULL;
}

static void
setup(void)
{
	static char zero[32 * 4096];
	CHECK(vm_init(ARENA * PAGE_SIZE) == 0);
	X = mempager_create(zero, 32 * PAGE_SIZE, 0, "X");
	Y = mempager_create(zero, 8 * PAGE_SIZE, 0, "Y");
	Z = mempager_create(zero, 4 * PAGE_SIZE, 0, "Z");
}

/* The scenario above; returns only if it finished. */
static void
scenario(void)
{
	struct vm_page *xs[12], *zs[2], *ys[3];
	setup();
	CHECK(vm_page_grab_pages(X, 0, VM_ALLOC_WIRED, xs, 12) == 12);
	for (int i = 0; i < 12; i++)
		vm_page_xunbusy(xs[i]);
	CHECK(vm_page_grab_pages(Z, 0, 0, zs, 2) == 2);

	pthread_t a, b;
	pthread_create(&a, NULL, grab_three, ys);
	while (counter_get(&vm_stats.alloc_waits) == 0)
		usleep(1000); /* until A waits for a free page */
	pthread_create(&b, NULL, grab_y0, NULL);
	while (!atomic_load(&b_done))
		usleep(1000); /* the old allocator never gets past here */
	pthread_join(b, NULL);
	for (int i = 0; i < 2; i++)
		vm_page_xunbusy(zs[i]); /* the I/O ends; Z's pages become reclaimable */
	pthread_join(a, NULL);
	for (int i = 0; i < 3; i++) {
		CHECK(ys[i]->object == Y && ys[i]->pindex == (uint64_t)i);
		vm_page_xunbusy(ys[i]);
	}
	vm_page_unwire_many(xs, 12, false);
	printf("progress: A and B finished; %llu waitfail releases, %llu alloc waits\n",
	       (unsigned long long)counter_get(&vm_stats.waitfail_releases),
	       (unsigned long long)counter_get(&vm_stats.alloc_waits));
	CHECK(counter_get(&vm_stats.waitfail_releases) > 0, "A never gave its pages back");
}

/* Run fn in a child; true if it was still running after `seconds` (then killed). */
static bool
child_hangs(void (*fn)(void), int seconds, int *status)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm((unsigned)seconds * 20); /* a stray child never outlives the test */
		fn();
		fflush(NULL);
		_exit(0);
	}
	for (int i = 0; i < seconds * 100; i++) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return false;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return true;
}

static void
old_allocator(void)
{
	vm_alloc_waitfail = 0;
	CHECK(vms_tunable_set("vm_max_wired_pct", "100") == 0);
	scenario();
}

static void
new_allocator(void)
{
	scenario();
	/* Rule 1: wiring stops at the bound, waiting or not. */
	struct vm_page *xs[ARENA];
	uint64_t stops = counter_get(&vm_stats.wire_limit);
	int n = vm_page_grab_pages(X, 0, VM_ALLOC_WIRED, xs, 14);
	CHECK((uint64_t)n == vm_wired_max(), "wired %d pages, bound %llu", n,
	      (unsigned long long)vm_wired_max());
	CHECK(counter_get(&vm_stats.wire_limit) == stops + 1);
	for (int i = 0; i < n; i++)
		vm_page_xunbusy(xs[i]);
	/* Rule 3: 12 wired + 5 wanted > 16: a clear failure, not a sleep. */
	struct vm_page *zs[2], *ys[5];
	CHECK(vm_page_grab_pages(Z, 0, 0, zs, 2) == 2);
	CHECK(vm_page_grab_pages(Y, 0, 0, ys, 5) == 0);
	CHECK(counter_get(&vm_stats.alloc_toosmall) == 1);
	for (int i = 0; i < 2; i++)
		vm_page_xunbusy(zs[i]);
	vm_page_unwire_many(xs, n, false);
	CHECK(vm_quiescent());
	vm_object_deallocate(X);
	vm_object_deallocate(Y);
	vm_object_deallocate(Z);
	vm_fini();
}

int
main(void)
{
	int status = 0;
	CHECK(child_hangs(old_allocator, 3, &status),
	      "the old allocator finished (status %#x): the test no longer shows the deadlock",
	      status);
	printf("old allocator: deadlocked as in issue #12 (killed after 3 s)\n");
	CHECK(!child_hangs(new_allocator, 60, &status), "the new allocator hung");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the new allocator failed (status %#x)", status);
	printf("new allocator: finished\n1 passed, 0 failed\n");
	return 0;
}

/* Busy transitions, wiring and valid-mask arithmetic of src/vm/vm_page.c. */
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "support/mempager.h"

static struct vm_object *obj;

static void
setup(void)
{
	cr_assert_eq(vm_init(64 * PAGE_SIZE), 0);
	static char data[8 * 4096];
	obj = mempager_create(data, sizeof(data), 0, "test");
}

static void
teardown(void)
{
	vm_object_deallocate(obj);
	cr_assert_eq(vm_object_count(), 0);
	vm_fini();
}

TestSuite(vm_page, .init = setup, .fini = teardown);

Test(vm_page, xbusy_excludes_everything)
{
	struct vm_page *m = vm_page_grab(obj, 0, 0);
	cr_assert(vm_page_xbusied(m));
	cr_assert_not(vm_page_tryxbusy(m));
	cr_assert_not(vm_page_trysbusy(m));
	vm_page_xunbusy(m);
	cr_assert_not(vm_page_busied(m));
	cr_assert(vm_page_tryxbusy(m));
	vm_page_xunbusy(m);
}

Test(vm_page, sbusy_shares_and_counts)
{
	struct vm_page *m = vm_page_grab(obj, 0, VM_ALLOC_SBUSY);
	cr_assert(vm_page_sbusied(m));
	cr_assert(vm_page_trysbusy(m));
	cr_assert_not(vm_page_tryxbusy(m));
	cr_assert_not(vm_page_tryupgrade(m)); /* two sharers */
	vm_page_sunbusy(m);
	cr_assert(vm_page_sbusied(m));
	cr_assert(vm_page_tryupgrade(m)); /* sole sharer */
	cr_assert(vm_page_xbusied(m));
	cr_assert_not(vm_page_sbusied(m));
	vm_page_busy_downgrade(m);
	cr_assert(vm_page_sbusied(m));
	cr_assert_not(vm_page_xbusied(m));
	vm_page_sunbusy(m);
	cr_assert_eq(atomic_load(&m->busy_lock), VPB_UNBUSIED);
}

struct sleeper {
	struct vm_page *m;
	atomic_int state; /* 0 started, 1 asleep soon, 2 got it */
};

static void *
sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	atomic_store(&s->state, 1);
	struct vm_page *m = vm_page_grab(obj, s->m->pindex, 0); /* sleeps until unbusied */
	cr_assert_eq(m, s->m);
	atomic_store(&s->state, 2);
	vm_page_xunbusy(m);
	return NULL;
}

Test(vm_page, waiters_are_woken_on_unbusy)
{
	struct sleeper s = {.m = vm_page_grab(obj, 3, 0)};
	pthread_t t;
	pthread_create(&t, NULL, sleeper_main, &s);
	/* Wait until the sleeper has set the WAITERS bit (it sleeps on the futex after). */
	while (!(atomic_load(&s.m->busy_lock) & VPB_WAITERS))
		usleep(100);
	cr_assert_eq(atomic_load(&s.state), 1);
	vm_page_xunbusy(s.m);
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&s.state), 2);
	cr_assert_geq(counter_get(&vm_stats.busy_sleeps), 1);
}

Test(vm_page, nowait_fails_on_busy_page)
{
	struct vm_page *m = vm_page_grab(obj, 1, 0);
	cr_assert_null(vm_page_grab(obj, 1, VM_ALLOC_NOWAIT));
	cr_assert_null(vm_page_grab(obj, 1, VM_ALLOC_NOWAIT | VM_ALLOC_SBUSY));
	cr_assert_null(vm_page_grab(obj, 1, VM_ALLOC_NOWAIT | VM_ALLOC_NOBUSY));
	vm_page_busy_downgrade(m);
	/* shared busy: SBUSY and NOBUSY succeed, XBUSY does not */
	cr_assert_null(vm_page_grab(obj, 1, VM_ALLOC_NOWAIT));
	cr_assert_eq(vm_page_grab(obj, 1, VM_ALLOC_NOWAIT | VM_ALLOC_SBUSY), m);
	cr_assert_eq(vm_page_grab(obj, 1, VM_ALLOC_NOWAIT | VM_ALLOC_NOBUSY), m);
	vm_page_sunbusy(m);
	vm_page_sunbusy(m);
	cr_assert_not(vm_page_busied(m));
}

Test(vm_page, wire_and_unwire)
{
	struct vm_page *m = vm_page_grab(obj, 2, VM_ALLOC_WIRED);
	cr_assert_eq(vm_page_wired(m), 1);
	vm_page_wire(m);
	cr_assert_eq(vm_page_wired(m), 2);
	vm_page_xunbusy(m);
	cr_assert_not(vm_page_unwire(m));
	cr_assert_not(vm_page_unwire(m));
	cr_assert_eq(vm_page_wired(m), 0);
	cr_assert_eq(m->object, obj); /* still cached */
}

Test(vm_page, nocache_page_freed_on_last_unwire)
{
	struct vm_page *m = vm_page_grab(obj, 2, VM_ALLOC_WIRED);
	vm_page_valid(m);
	atomic_fetch_or(&m->aflags, PGA_NOCACHE);
	vm_page_xunbusy(m);
	uint64_t frees = counter_get(&vm_stats.frees);
	cr_assert(vm_page_unwire(m));
	cr_assert_null(m->object);
	cr_assert_eq(counter_get(&vm_stats.frees), frees + 1);
}

Test(vm_page, valid_bits_at_512_byte_granularity)
{
	cr_assert_eq(vm_page_bits(0, 0), 0);
	cr_assert_eq(vm_page_bits(0, 1), 0x01);
	cr_assert_eq(vm_page_bits(0, 512), 0x01);
	cr_assert_eq(vm_page_bits(0, 513), 0x03);
	cr_assert_eq(vm_page_bits(511, 2), 0x03);
	cr_assert_eq(vm_page_bits(512, 512), 0x02);
	cr_assert_eq(vm_page_bits(3584, 512), 0x80);
	cr_assert_eq(vm_page_bits(0, 4096), 0xff);
	cr_assert_eq(vm_page_bits(1000, 3096), 0xfe);
}

Test(vm_page, partial_validity)
{
	struct vm_page *m = vm_page_grab(obj, 4, 0);
	cr_assert(vm_page_none_valid(m));
	/* A file whose last page holds 1300 bytes: blocks 0 and 1 full, block 2 partial. */
	vm_page_set_valid_range(m, 0, 1300);
	cr_assert_eq(m->valid, 0x03);
	cr_assert(vm_page_is_valid(m, 0, 1024));
	cr_assert_not(vm_page_is_valid(m, 0, 1300));
	cr_assert_not(vm_page_all_valid(m));
	vm_page_set_valid_range(m, 1100, 4096 - 1100); /* up to the page end: block 2 not whole */
	cr_assert_eq(m->valid, 0xfb);
	memset(vm_page_data(m), 0x5a, PAGE_SIZE);
	vm_page_zero_invalid(m, true);
	unsigned char *d = vm_page_data(m);
	cr_assert_eq(d[1023], 0x5a);
	cr_assert_eq(d[1024], 0);
	cr_assert_eq(d[1535], 0);
	cr_assert_eq(d[1536], 0x5a);
	cr_assert(vm_page_all_valid(m));
	vm_page_xunbusy(m);
}

Test(vm_page, metadata_per_page)
{
	cr_log_info("vm_page metadata: %zu bytes per %u-byte page", sizeof(struct vm_page),
		    PAGE_SIZE);
	cr_assert_leq(sizeof(struct vm_page), 64);
}

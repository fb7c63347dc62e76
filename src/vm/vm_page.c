/*
 * Page busy, wire and valid primitives.
 *
 * Sleeping on a busy page uses a futex on the busy word itself: glibc has
 * no wrapper and no library offers one, and a futex lets a sleeper say
 * "wake me only if the word is still what I saw", which closes the race
 * between deciding to sleep and the owner's unbusy without any lock.
 */
#include "vm/vm.h"
#include "core/util.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void
vm_page_busy_wake(struct vm_page *m)
{
	syscall(SYS_futex, &m->busy_lock, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void
busy_set_owner(struct vm_page *m)
{
#ifdef VMSEND_INVARIANTS
	atomic_store_explicit(&m->busy_owner, vms_tid(), memory_order_relaxed);
#else
	(void)m;
#endif
}

bool
vm_page_tryxbusy(struct vm_page *m)
{
	uint32_t x = VPB_UNBUSIED;

	KASSERT(m != bogus_page, ("vm_page_tryxbusy: bogus_page is never busied"));
	if (!atomic_compare_exchange_strong_explicit(&m->busy_lock, &x, VPB_XBUSY,
						     memory_order_acquire, memory_order_relaxed))
		return false;
	busy_set_owner(m);
	return true;
}

bool
vm_page_trysbusy(struct vm_page *m)
{
	uint32_t x = atomic_load_explicit(&m->busy_lock, memory_order_relaxed);

	KASSERT(m != bogus_page, ("vm_page_trysbusy: bogus_page is never busied"));
	for (;;) {
		if (x & VPB_XBUSY)
			return false;
		VERIFY3U(x & VPB_SHARERS_MASK, <, VPB_SHARERS_MASK);
		if (atomic_compare_exchange_weak_explicit(
			&m->busy_lock, &x, x + 1, memory_order_acquire, memory_order_relaxed))
			return true;
	}
}

void
vm_page_xunbusy(struct vm_page *m)
{
	vm_page_assert_xbusied(m);
	atomic_store_explicit(&m->busy_owner, 0, memory_order_relaxed);
	uint32_t x = atomic_exchange_explicit(&m->busy_lock, VPB_UNBUSIED, memory_order_release);
	if (x & VPB_WAITERS)
		vm_page_busy_wake(m);
}

bool
vm_page_orphan(struct vm_page *m)
{
	uint32_t x = atomic_load_explicit(&m->busy_lock, memory_order_relaxed);

	for (;;) {
		if (!(x & VPB_XBUSY))
			return (x & VPB_SHARERS_MASK) != 0;
		if (atomic_compare_exchange_weak_explicit(&m->busy_lock, &x, x | VPB_ORPHANED,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return true;
	}
}

bool
vm_page_giveback(struct vm_page *m)
{
	vm_page_assert_xbusied(m);
	uint32_t x = atomic_load_explicit(&m->busy_lock, memory_order_relaxed);
	uint32_t owner = atomic_exchange_explicit(&m->busy_owner, 0, memory_order_relaxed);

	for (;;) {
		if (x & VPB_ORPHANED) {
			atomic_store_explicit(&m->busy_owner, owner, memory_order_relaxed);
			return false;
		}
		if (atomic_compare_exchange_weak_explicit(&m->busy_lock, &x, VPB_UNBUSIED,
							  memory_order_release,
							  memory_order_relaxed))
			break;
	}
	if (x & VPB_WAITERS)
		vm_page_busy_wake(m);
	return true;
}

void
vm_page_sunbusy(struct vm_page *m)
{
	uint32_t x = atomic_load_explicit(&m->busy_lock, memory_order_relaxed);

	for (;;) {
		if ((x & VPB_XBUSY) || (x & VPB_SHARERS_MASK) == 0)
			VM_PAGE_PANIC(m, "vm_page_sunbusy: page %p not shared busy", (void *)m);
		uint32_t nx = (x & VPB_SHARERS_MASK) == 1 ? VPB_UNBUSIED : x - 1;
		if (atomic_compare_exchange_weak_explicit(
			&m->busy_lock, &x, nx, memory_order_release, memory_order_relaxed))
			break;
	}
	if (x & VPB_WAITERS && (x & VPB_SHARERS_MASK) == 1)
		vm_page_busy_wake(m);
}

void
vm_page_unbusy(struct vm_page *m)
{
	if (vm_page_xbusied(m))
		vm_page_xunbusy(m);
	else
		vm_page_sunbusy(m);
}

bool
vm_page_tryupgrade(struct vm_page *m)
{
	uint32_t x = atomic_load_explicit(&m->busy_lock, memory_order_relaxed);

	for (;;) {
		if ((x & VPB_XBUSY) || (x & VPB_SHARERS_MASK) != 1)
			return false;
		if (atomic_compare_exchange_weak_explicit(
			&m->busy_lock, &x, VPB_XBUSY | (x & VPB_WAITERS), memory_order_acquire,
			memory_order_relaxed)) {
			busy_set_owner(m);
			return true;
		}
	}
}

void
vm_page_busy_downgrade(struct vm_page *m)
{
	vm_page_assert_xbusied(m);
	atomic_store_explicit(&m->busy_owner, 0, memory_order_relaxed);
	uint32_t x = atomic_exchange_explicit(&m->busy_lock, 1, memory_order_release);
	if (x & VPB_WAITERS)
		vm_page_busy_wake(m);
}

void
vm_page_xbusy_claim(struct vm_page *m)
{
	vm_page_assert_xbusied(m);
	busy_set_owner(m);
}

void
vm_page_busy_sleep(struct vm_page *m, struct vm_object *obj, bool xonly)
{
	uint32_t x = atomic_load_explicit(&m->busy_lock, memory_order_relaxed);

	for (;;) {
		if (x == VPB_UNBUSIED || (xonly && !(x & VPB_XBUSY))) {
			if (obj != NULL)
				vm_object_unlock(obj);
			return;
		}
		if (x & VPB_WAITERS)
			break;
		if (atomic_compare_exchange_weak_explicit(&m->busy_lock, &x, x | VPB_WAITERS,
							  memory_order_relaxed,
							  memory_order_relaxed)) {
			x |= VPB_WAITERS;
			break;
		}
	}
	if (obj != NULL)
		vm_object_unlock(obj);
	counter_inc(&vm_stats.busy_sleeps);
	/* Returns at once if the word changed since we looked: no lost wake-up. */
	syscall(SYS_futex, &m->busy_lock, FUTEX_WAIT_PRIVATE, x, NULL, NULL, 0);
}

void
vm_page_wire(struct vm_page *m)
{
	KASSERT(m != bogus_page, ("vm_page_wire: bogus_page is never wired"));
	KASSERT(vm_page_busied(m) || (m->object != NULL && vm_object_owned(m->object)),
		("vm_page_wire: page %p neither busied nor object-locked", (void *)m));
	uint32_t old = atomic_fetch_add_explicit(&m->wire_count, 1, memory_order_relaxed);
	VERIFY3U(old, <, UINT32_MAX);
	if (old == 0)
		vm_wired_add(1);
}

bool
vm_page_unwire(struct vm_page *m)
{
	struct vm_page *one[1] = {m};
	return vm_page_unwire_many(one, 1, false) == 1;
}

int
vm_page_unwire_many(struct vm_page **ma, int n, bool nocache)
{
	struct vm_object *obj = NULL;
	int last = 0, freed = 0;

	/* Fast path first; count the pages whose last wiring this is. */
	for (int i = 0; i < n; i++) {
		struct vm_page *m = ma[i];
		if (nocache)
			atomic_fetch_or_explicit(&m->aflags, PGA_NOCACHE, memory_order_relaxed);
		uint32_t x = atomic_load_explicit(&m->wire_count, memory_order_relaxed);
		while (x > 1 && !atomic_compare_exchange_weak_explicit(&m->wire_count, &x, x - 1,
								       memory_order_release,
								       memory_order_relaxed))
			;
		if (x > 1) {
			ma[i] = NULL; /* done */
			continue;
		}
		if (x == 0)
			VM_PAGE_PANIC(m, "vm_page_unwire_many: page %p not wired", (void *)m);
		KASSERT(obj == NULL || m->object == obj,
			("vm_page_unwire_many: pages of two objects"));
		obj = m->object;
		last++;
	}
	if (last == 0)
		return 0;
	/* As in vm_page_unwire(): still wired, the pages keep obj alive. */
	bool destroy = false;
	vm_object_lock(obj);
	for (int i = 0; i < n; i++) {
		struct vm_page *m = ma[i];
		if (m == NULL)
			continue;
		/* acq_rel: whoever frees the page must see every earlier holder's accesses done. */
		uint32_t x = atomic_fetch_sub_explicit(&m->wire_count, 1, memory_order_acq_rel);
		if (x != 1)
			continue;
		vm_wired_add(-1);
		bool nc = atomic_load_explicit(&m->aflags, memory_order_relaxed) & PGA_NOCACHE;
		if ((nc || atomic_load(&obj->dead)) && vm_page_tryxbusy(m)) {
			destroy = vm_page_free_locked(m);
			freed++;
		}
	}
	vm_page_free_wakeup();
	vm_object_unlock(obj);
	if (destroy)
		vm_object_destroy(obj);
	return freed;
}

uint8_t
vm_page_bits(unsigned base, unsigned size)
{
	if (size == 0)
		return 0;
	ASSERT3U(base + size, <=, PAGE_SIZE);
	unsigned first = base >> DEV_BSHIFT;
	unsigned last = (base + size - 1) >> DEV_BSHIFT;
	return (uint8_t)(((2u << last) - (1u << first)) & VM_PAGE_BITS_ALL);
}

void
vm_page_set_valid_range(struct vm_page *m, unsigned base, unsigned size)
{
	vm_page_assert_xbusied(m);
	unsigned start = (base + DEV_BSIZE - 1) & ~(DEV_BSIZE - 1);
	unsigned end = (base + size) & ~(DEV_BSIZE - 1);
	if (base + size == PAGE_SIZE)
		end = PAGE_SIZE;
	if (end > start)
		__atomic_fetch_or(&m->valid, vm_page_bits(start, end - start), __ATOMIC_RELEASE);
}

bool
vm_page_is_valid(const struct vm_page *m, unsigned base, unsigned size)
{
	uint8_t bits = vm_page_bits(base, size);
	return (vm_page_valid_bits(m) & bits) == bits;
}

void
vm_page_zero_invalid(struct vm_page *m, bool setvalid)
{
	vm_page_assert_xbusied(m);
	char *p = vm_page_data(m);
	for (unsigned b = 0; b < PAGE_SIZE / DEV_BSIZE; b++)
		if (!(vm_page_valid_bits(m) & (1u << b)))
			memset(p + b * DEV_BSIZE, 0, DEV_BSIZE);
	if (setvalid)
		vm_page_valid(m);
}

int
vm_page_describe(const struct vm_page *m, char *buf, unsigned len)
{
	if (m == NULL)
		return snprintf(buf, len, "page NULL");
	struct vm_page *mm = (struct vm_page *)m;
	const struct vm_object *obj = m->object;
	return snprintf(buf, len,
			"page %p%s obj %p (%s) pindex %llu busy %#x owner %u wire %u valid %#x "
			"dirty %#x queue %u",
			(void *)m, m == bogus_page ? " [bogus_page]" : "", (void *)obj,
			obj != NULL && obj->name != NULL ? obj->name : "-",
			(unsigned long long)m->pindex,
			atomic_load_explicit(&mm->busy_lock, memory_order_relaxed),
			atomic_load_explicit(&mm->busy_owner, memory_order_relaxed),
			atomic_load_explicit(&mm->wire_count, memory_order_relaxed),
			vm_page_valid_bits(m), m->dirty, m->queue);
}

void
vm_page_print(const struct vm_page *m)
{
	char buf[256];
	vm_page_describe(m, buf, sizeof(buf));
	dprintf(STDERR_FILENO, "%s\n", buf);
}

void
vm_page_assert_xbusied_KBI(const struct vm_page *m, const char *file, int line)
{
	if (m != NULL && vm_page_xbusied(m))
		return;
	vm_page_print(m);
	vms_panic(file, line, "vm_page_assert_xbusied: page %p not exclusive busy", (void *)m);
}

void
vm_page_assert_unbusied_KBI(const struct vm_page *m, const char *file, int line)
{
	if (m != NULL && !vm_page_busied(m))
		return;
	vm_page_print(m);
	vms_panic(file, line, "vm_page_assert_unbusied: page %p busy", (void *)m);
}

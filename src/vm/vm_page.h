/*
 * struct vm_page: one per 4 KiB frame of the page arena.
 *
 * Lock key for the fields below:
 *   (c) constant after vm_init()
 *   (o) the owning object's lock
 *   (b) the page's busy lock (exclusive to write, shared or exclusive to read)
 *   (a) atomic
 *   (q) the page-queue lock (vm.c: free list and cache queue)
 *
 * The busy protocol.  `busy_lock` is one 32-bit word:
 *
 *     31       30        29..0
 *   +-------+---------+--------------------+
 *   | XBUSY | WAITERS | shared-busy count  |
 *   +-------+---------+--------------------+
 *
 * Unbusied is 0.  Exclusive busy (xbusy) means one owner may change the page's
 * contents, valid/dirty bits and (with the object lock) its identity.  Shared
 * busy (sbusy) pins contents and identity for readers.  A thread that cannot
 * get the busy it wants either fails (the try* and NOWAIT forms) or sleeps on
 * the word with a futex after setting WAITERS; every unbusy that sees WAITERS
 * wakes the sleepers, who then look the page up again (its identity may have
 * changed while they slept).  Nothing spins.
 *
 * Wiring.  wire_count > 0 keeps a page from being reclaimed or freed: the
 * sendfile engine wires every page it hands to the network until the kernel
 * is done with the bytes.  Wiring needs the page busied or its object locked
 * (so reclaim, which holds both, cannot race with a new wiring); unwiring
 * needs nothing.
 *
 * Validity.  `valid` and `dirty` have one bit per 512-byte block
 * (DEV_BSIZE).  A page is fully valid when valid == VM_PAGE_BITS_ALL.
 */
#ifndef VMSEND_VM_PAGE_H
#define VMSEND_VM_PAGE_H

#include "core/assert.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#define PAGE_SHIFT       12
#define PAGE_SIZE        (1u << PAGE_SHIFT)
#define PAGE_MASK        (PAGE_SIZE - 1)
#define DEV_BSHIFT       9
#define DEV_BSIZE        (1u << DEV_BSHIFT)
#define VM_PAGE_BITS_ALL 0xffu
#define OFF_TO_IDX(off)  ((uint64_t)(off) >> PAGE_SHIFT)
#define IDX_TO_OFF(idx)  ((uint64_t)(idx) << PAGE_SHIFT)

/* busy_lock bits */
#define VPB_XBUSY        0x80000000u
#define VPB_WAITERS      0x40000000u
#define VPB_ORPHANED     0x20000000u /* with XBUSY: the object died meanwhile (vm_page_orphan) */
#define VPB_SHARERS_MASK 0x1fffffffu
#define VPB_UNBUSIED     0u

/* queue (q) */
enum vm_page_queue {
	PQ_NONE = 0,
	PQ_FREE,
	PQ_CACHE, /* in an object, on the new (probation) queue */
	PQ_MAIN,  /* in an object, on the main queue: used again since it came in */
};

/* aflags (a) */
#define PGA_REFERENCED 0x01 /* touched since the reclaim hand last passed */
#define PGA_NOCACHE    0x02 /* free as soon as the last wiring goes (SF_NOCACHE) */
#define PGA_BOGUS      0x04 /* this is bogus_page */
#define PGA_INIO       0x08 /* in a pager request now (INVARIANTS bookkeeping, pager.c) */
#define PGA_READAHEAD  0x10 /* read ahead and not used yet: its first use is not a reuse */

struct vm_object;

struct vm_page {
	TAILQ_ENTRY(vm_page) plinks; /* (q) free list or cache queue */
	struct vm_page *hnext;       /* (o) object page-index chain */
	struct vm_object *object;    /* (o,b) owner, NULL when free */
	uint64_t pindex;             /* (o,b) page index within object */
	_Atomic uint32_t busy_lock;  /* (a) see above */
	_Atomic uint32_t wire_count; /* (a) */
	uint8_t valid;               /* (b) 512-byte blocks holding file bytes */
	uint8_t dirty;               /* (b) blocks modified (write path, later) */
	uint8_t queue;               /* (q) enum vm_page_queue */
	_Atomic uint8_t aflags;      /* (a) PGA_* */
	_Atomic uint32_t busy_owner; /* (a) tid of the xbusy owner, for panics */
};
/* The budget: at most 64 bytes of metadata per 4 KiB page. */
_Static_assert(sizeof(struct vm_page) <= 64, "struct vm_page grew past 64 bytes");

/*
 * bogus_page: belongs to no object, is never busied, valid or reclaimed.  In
 * an I/O array it means "the real page for this slot is already valid; read
 * this slot's bytes into a scratch sink".  Its data frame is that sink.
 */
extern struct vm_page *bogus_page;

/* ---- busy ---- */

/* Try to xbusy; returns false at once if the page is busy in any way. */
bool vm_page_tryxbusy(struct vm_page *m);
/* Try to sbusy; returns false at once if the page is xbusied. */
bool vm_page_trysbusy(struct vm_page *m);
/* Release an exclusive busy; wakes waiters.  Caller must own it. */
void vm_page_xunbusy(struct vm_page *m);
/* Release one shared busy; wakes waiters on the last one. */
void vm_page_sunbusy(struct vm_page *m);
/* Drop whichever busy the caller holds. */
void vm_page_unbusy(struct vm_page *m);
/* sbusy (sole sharer) -> xbusy; false if other sharers exist. */
bool vm_page_tryupgrade(struct vm_page *m);
/* xbusy -> sbusy, waking waiters (shared waiters may proceed). */
void vm_page_busy_downgrade(struct vm_page *m);
/*
 * Sleep until the page's busy state may have changed: until it is unbusied
 * (xonly == false) or no longer xbusied (xonly == true).  If `obj` is not
 * NULL it is locked on entry and is unlocked before sleeping and NOT
 * re-locked: the caller must look the page up again.  Returns at once if the
 * state already allows it.
 */
void vm_page_busy_sleep(struct vm_page *m, struct vm_object *obj, bool xonly);
/* Claim an xbusy taken by another thread (async completions). */
void vm_page_xbusy_claim(struct vm_page *m);

static inline bool
vm_page_xbusied(const struct vm_page *m)
{
	return (atomic_load_explicit(&((struct vm_page *)m)->busy_lock, memory_order_acquire) &
		VPB_XBUSY) != 0;
}

static inline bool
vm_page_sbusied(const struct vm_page *m)
{
	return (atomic_load_explicit(&((struct vm_page *)m)->busy_lock, memory_order_acquire) &
		VPB_SHARERS_MASK) != 0;
}

static inline bool
vm_page_busied(const struct vm_page *m)
{
	return vm_page_xbusied(m) || vm_page_sbusied(m);
}

/* ---- wiring ---- */

/* Wire: the page must be busied or its object locked. */
void vm_page_wire(struct vm_page *m);
/*
 * Unwire once.  On the last wiring the page returns to the cache queue, or
 * is freed if its object is dead or the page was marked PGA_NOCACHE (and is
 * not busy).  Returns true if this call freed the page.
 */
bool vm_page_unwire(struct vm_page *m);

static inline uint32_t
vm_page_wired(const struct vm_page *m)
{
	return atomic_load_explicit(&((struct vm_page *)m)->wire_count, memory_order_relaxed);
}

/* ---- validity (the page must be busied) ---- */

/* Mask of the 512-byte blocks that [base, base + size) touches in a page. */
uint8_t vm_page_bits(unsigned base, unsigned size);
/* Mark [base, base + size) valid.  Partial blocks at the ends are not marked. */
void vm_page_set_valid_range(struct vm_page *m, unsigned base, unsigned size);
/* True if every block touched by [base, base + size) is valid. */
bool vm_page_is_valid(const struct vm_page *m, unsigned base, unsigned size);
/* Zero the invalid blocks of the page and, if setvalid, mark it fully valid. */
void vm_page_zero_invalid(struct vm_page *m, bool setvalid);

/*
 * `valid` is written under xbusy but read on unbusied pages too (the
 * dispatch's rule-3 check, reclaim decisions, metrics): stores are release
 * and loads acquire, so a page seen fully valid has its bytes in place.
 */
static inline uint8_t
vm_page_valid_bits(const struct vm_page *m)
{
	return __atomic_load_n(&m->valid, __ATOMIC_ACQUIRE);
}

static inline bool
vm_page_all_valid(const struct vm_page *m)
{
	return vm_page_valid_bits(m) == VM_PAGE_BITS_ALL;
}

static inline bool
vm_page_none_valid(const struct vm_page *m)
{
	return vm_page_valid_bits(m) == 0;
}

/* Mark fully valid. */
static inline void
vm_page_valid(struct vm_page *m)
{
	__atomic_store_n(&m->valid, VM_PAGE_BITS_ALL, __ATOMIC_RELEASE);
}

/* ---- data, identity, printing ---- */

/* The page's 4 KiB of data in the arena (bogus_page: the scratch sink). */
void *vm_page_data(const struct vm_page *m);
/* Frame number of the page in the arena (its fixed-buffer offset / PAGE_SIZE). */
uint32_t vm_page_frame(const struct vm_page *m);

/*
 * A page is used (a grab found it resident): mark it for the reclaim hand.
 * A page read ahead was not used when it came in, so its first use only
 * clears PGA_READAHEAD; a page read once and used once is never promoted
 * past the new queue (vm.c).
 */
static inline void
vm_page_reference(struct vm_page *m)
{
	uint8_t f = atomic_load_explicit(&m->aflags, memory_order_relaxed);
	if (f & PGA_READAHEAD)
		atomic_fetch_and_explicit(&m->aflags, (uint8_t)~PGA_READAHEAD,
					  memory_order_relaxed);
	else if (!(f & PGA_REFERENCED))
		atomic_fetch_or_explicit(&m->aflags, PGA_REFERENCED, memory_order_relaxed);
}

/* "page 0x... obj 0x... (name) pindex N busy 0x... wire N valid 0x.. dirty 0x.. queue N" */
int vm_page_describe(const struct vm_page *m, char *buf, unsigned len);
/* Print vm_page_describe() to stderr. */
void vm_page_print(const struct vm_page *m);

/*
 * Contract assertions with FreeBSD's wording.  They print the page with
 * vm_page_print() and panic "vm_page_assert_xbusied: page 0x... not exclusive
 * busy @ file:line".  The checking form is always compiled (the pager
 * dispatch and pagers call it under VMSEND_INVARIANTS).
 */
void vm_page_assert_xbusied_KBI(const struct vm_page *m, const char *file, int line);
void vm_page_assert_unbusied_KBI(const struct vm_page *m, const char *file, int line);
#ifdef VMSEND_INVARIANTS
#define vm_page_assert_xbusied(m)  vm_page_assert_xbusied_KBI((m), __FILE__, __LINE__)
#define vm_page_assert_unbusied(m) vm_page_assert_unbusied_KBI((m), __FILE__, __LINE__)
#else
#define vm_page_assert_xbusied(m)  ((void)0)
#define vm_page_assert_unbusied(m) ((void)0)
#endif

/* Panic naming the page: prints it, then "<msg> @ file:line". */
#define VM_PAGE_PANIC(m, ...)                                                                      \
	do {                                                                                       \
		vm_page_print(m);                                                                  \
		PANIC(__VA_ARGS__);                                                                \
	} while (0)

#endif

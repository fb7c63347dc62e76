/*
 * VERIFY / ASSERT / KASSERT: the assertion vocabulary of vmsend.
 *
 * VERIFY*  are always on (cheap checks whose failure means memory is already
 *          wrong: continuing would serve corrupt bytes).
 * ASSERT*  and KASSERT are compiled only with VMSEND_INVARIANTS (debug and
 *          test builds).  They state the contracts of design.md where they can
 *          break.
 *
 * A failure calls vms_panic(), which prints "panic: <message> @ file:line",
 * a backtrace, and aborts.  ASSERT3U/3S/3P print both operands.
 */
#ifndef VMSEND_CORE_ASSERT_H
#define VMSEND_CORE_ASSERT_H

#include <stdint.h>

__attribute__((noreturn, format(printf, 3, 4))) void vms_panic(const char *file, int line,
							       const char *fmt, ...);

/* Hook run before aborting (tests may install one); NULL for none. */
extern void (*vms_panic_hook)(void);

#define PANIC(...) vms_panic(__FILE__, __LINE__, __VA_ARGS__)

#define VERIFY(cond)                                                                               \
	do {                                                                                       \
		if (__builtin_expect(!(cond), 0))                                                  \
			vms_panic(__FILE__, __LINE__, "VERIFY(%s) failed", #cond);                 \
	} while (0)

#define VERIFY_IMPL(a, op, b, type, fmt)                                                           \
	do {                                                                                       \
		const type va_ = (type)(a), vb_ = (type)(b);                                       \
		if (__builtin_expect(!(va_ op vb_), 0))                                            \
			vms_panic(__FILE__, __LINE__,                                              \
				  "VERIFY3(%s %s %s) failed (" fmt " %s " fmt ")", #a, #op, #b,    \
				  va_, #op, vb_);                                                  \
	} while (0)

#define VERIFY3U(a, op, b) VERIFY_IMPL(a, op, b, unsigned long long, "%llu")
#define VERIFY3S(a, op, b) VERIFY_IMPL(a, op, b, long long, "%lld")
#define VERIFY3P(a, op, b) VERIFY_IMPL(a, op, b, unsigned long, "%#lx")
#define VERIFY0(a)         VERIFY3S(a, ==, 0)

#ifdef VMSEND_INVARIANTS
#define ASSERT(cond)       VERIFY(cond)
#define ASSERT3U(a, op, b) VERIFY3U(a, op, b)
#define ASSERT3S(a, op, b) VERIFY3S(a, op, b)
#define ASSERT3P(a, op, b) VERIFY3P(a, op, b)
#define ASSERT0(a)         VERIFY0(a)
/* KASSERT(cond, ("fmt", args)): FreeBSD's shape, message in its own parentheses. */
#define KASSERT(cond, msg)                                                                         \
	do {                                                                                       \
		if (__builtin_expect(!(cond), 0))                                                  \
			vms_panic(__FILE__, __LINE__, VMS_KASSERT_ARGS_ msg);                      \
	} while (0)
#define VMS_KASSERT_ARGS_(...) __VA_ARGS__
#define INVARIANTS_ON          1
#else
#define ASSERT(cond)       ((void)0)
#define ASSERT3U(a, op, b) ((void)0)
#define ASSERT3S(a, op, b) ((void)0)
#define ASSERT3P(a, op, b) ((void)0)
#define ASSERT0(a)         ((void)0)
#define KASSERT(cond, msg) ((void)0)
#define INVARIANTS_ON      0
#endif

#endif

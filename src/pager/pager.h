/*
 * The pager contract: how the VM asks a file system for pages.
 *
 * This header is the contract's home; docs/contract.md tells its story.
 *
 *   getpages(obj, ma[], count, *rbehind, *rahead)       -> PAGER_OK | PAGER_BAD | PAGER_ERROR | PAGER_AGAIN
 *   getpages_async(obj, ma[], count, *rbehind, *rahead, iodone, arg)
 *   haspage(obj, pindex, *before, *after)               -> bool
 *   caps: PAGER_CAP_BOGUS  "I accept bogus_page strictly inside ma[]"
 *
 * Rules for every caller (sendfile included):
 *  1. ma[0..count-1] covers consecutive pindexes from ma[0]->pindex; ma[0]
 *     and ma[count-1] are real pages, never bogus_page.
 *  2. Every real page in ma[] belongs to obj, is exclusively busied by the
 *     caller, is not fully valid and is not dirty.
 *  3. bogus_page may stand only strictly inside the array, only in
 *     getpages_async, only for a pager whose ops declare PAGER_CAP_BOGUS.
 *     The real page it stands for is valid, unbusied and (for sendfile) wired.
 *  4. Pages the caller will not pass (valid ones, holes it fills itself,
 *     valid pages trimmed off a run's end) are unbusied before the call.
 *  5. rbehind/rahead are optional upper bounds (NULL or a pointer to 0 is
 *     fine); the pager writes back how many optional pages it really read.
 *
 * Rules for every pager:
 *  6. Compute offsets from ma[0]->pindex + i, never from ma[i].
 *  7. Skip a bogus_page slot completely: no busy check, no copy into it, no
 *     valid bits, no unbusy.  A contiguous read sends that slot's bytes to a
 *     scratch sink (vm_page_data(bogus_page)).  The real page is not touched.
 *  8. On success every real requested page is fully valid (bytes past EOF
 *     are zero) and still exclusively busied; whoever called unbusies.
 *  9. Optional (read-behind/ahead) pages belong to the pager: it grabs them
 *     with VM_ALLOC_NOWAIT, never reads into a valid page (stops at the first
 *     resident one), clamps to EOF and to its block, and finishes them with
 *     vm_page_readahead_finish().
 * 10. getpages_async calls iodone(arg, pages, count, error) exactly once, on
 *     success and on error, possibly before it returns, possibly on another
 *     thread; `pages` may be a different array and may still hold bogus_page.
 *     On error the real pages are still xbusied and their valid bits are as
 *     before the call (the caller frees or unbusies them).
 * 11. A pager that must drop busy re-grabs the pages, writes the new pointers
 *     back into ma[], and still obeys 7 and 8.
 *
 * With VMSEND_INVARIANTS the dispatch wrappers below check rules 1-5 on the
 * way in and 8 on the way out (for async: in a trampoline around iodone) and
 * abort naming the page, the rule and the caller's file:line.  The tunable
 * "pager_contract_checks" (default 1) turns the wrapper checks off; only the
 * incident reproduction does that, to behave like FreeBSD in 2018.
 */
#ifndef VMSEND_PAGER_H
#define VMSEND_PAGER_H

#include "vm/vm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pager_result {
	PAGER_OK = 0,
	PAGER_BAD = 1,   /* request outside the object / bad argument */
	PAGER_ERROR = 2, /* I/O error (EIO) */
	PAGER_AGAIN = 3, /* resources short; try again */
};

#define PAGER_CAP_BOGUS 0x1u

/* Completion of getpages_async: error is 0 or a negative errno. */
typedef void pager_iodone_t(void *arg, struct vm_page **ma, int count, int error);

typedef int pager_getpages_t(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind,
			     int *rahead);
/* Returns 0 when the I/O was started (iodone will run) or, with iodone NOT
 * called, PAGER_BAD / PAGER_AGAIN when nothing was started. */
typedef int pager_getpages_async_t(struct vm_object *obj, struct vm_page **ma, int count,
				   int *rbehind, int *rahead, pager_iodone_t *iodone, void *arg);
/*
 * Does the backing store hold data for pindex?  If so, *before / *after
 * (either may be NULL) get how many pages before and after it may be read
 * together with it in one I/O (bounded by the pager's block and EOF).  A page
 * past EOF or in a hole: false.
 */
typedef bool pager_haspage_t(struct vm_object *obj, uint64_t pindex, int *before, int *after);
/* Free pager_priv when the object struct is freed. */
typedef void pager_dealloc_t(struct vm_object *obj);

struct pager_ops {
	pager_dealloc_t *dealloc; /* optional; first: the VM calls it (struct vm_pager_head) */
	const char *name;
	unsigned caps;                          /* PAGER_CAP_* */
	pager_getpages_t *getpages;             /* required */
	pager_getpages_async_t *getpages_async; /* optional: default runs getpages, then iodone */
	pager_haspage_t *haspage;               /* required */
};
/* The VM, below this layer, sees an ops table only as its first field. */
_Static_assert(offsetof(struct pager_ops, dealloc) == offsetof(struct vm_pager_head, dealloc),
	       "struct pager_ops must begin as struct vm_pager_head");

/* Human-readable name of a PAGER_* result. */
const char *pager_strerror(int rv);
/* PAGER_* -> negative errno (PAGER_OK -> 0). */
int pager_to_errno(int rv);

int pager_getpages_KBI(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind,
		       int *rahead, const char *file, int line);
int pager_getpages_async_KBI(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind,
			     int *rahead, pager_iodone_t *iodone, void *arg, const char *file,
			     int line);
bool pager_haspage(struct vm_object *obj, uint64_t pindex, int *before, int *after);

#define pager_getpages(obj, ma, count, rb, ra)                                                     \
	pager_getpages_KBI((obj), (ma), (count), (rb), (ra), __FILE__, __LINE__)
#define pager_getpages_async(obj, ma, count, rb, ra, iodone, arg)                                  \
	pager_getpages_async_KBI((obj), (ma), (count), (rb), (ra), (iodone), (arg), __FILE__,      \
				 __LINE__)

/*
 * The checks themselves, exported so pagers and tests can call them:
 * panic (with the caller's file:line) on a violation of rules 1-5 for a
 * request, or of rule 8 for a completed request.
 */
void pager_check_request(struct vm_object *obj, struct vm_page **ma, int count, bool async,
			 const char *file, int line);
void pager_check_done(struct vm_object *obj, struct vm_page **ma, int count, const char *file,
		      int line);

extern int64_t pager_contract_checks; /* tunable */

#endif

/*
 * Pager dispatch: every getpages call in vmsend goes through these
 * wrappers, which check the contract of pager.h on the way in (rules 1-5)
 * and on the way out (rule 8) when VMSEND_INVARIANTS is on.
 *
 * The asynchronous wrapper checks rule 8 in a trampoline around the
 * caller's iodone, because completion may come later and on another thread.
 * A pager without a getpages_async op gets the synchronous one followed by
 * iodone, like FreeBSD's vop_stdgetpages_async; the request checks are those
 * of the asynchronous call (bogus_page is allowed to a PAGER_CAP_BOGUS pager)
 * since that is the call the caller made.
 */
#include "pager/pager.h"
#include "core/util.h"
#include "core/tunable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

VMS_TUNABLE(pager_contract_checks, "pager_contract_checks", 1,
	    "check the pager contract at every call (debug builds; 0 only to reproduce the 2018 "
	    "incident)");

const char *
pager_strerror(int rv)
{
	switch (rv) {
	case PAGER_OK:
		return "PAGER_OK";
	case PAGER_BAD:
		return "PAGER_BAD";
	case PAGER_ERROR:
		return "PAGER_ERROR";
	case PAGER_AGAIN:
		return "PAGER_AGAIN";
	default:
		return "PAGER_?";
	}
}

int
pager_to_errno(int rv)
{
	switch (rv) {
	case PAGER_OK:
		return 0;
	case PAGER_BAD:
		return -EINVAL;
	case PAGER_AGAIN:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

static bool
checks_on(void)
{
	return INVARIANTS_ON && __atomic_load_n(&pager_contract_checks, __ATOMIC_RELAXED) != 0;
}

void
pager_check_request(struct vm_object *obj, struct vm_page **ma, int count, bool async,
		    const char *file, int line)
{
	if (count <= 0)
		vms_panic(file, line, "pager_getpages: count %d (rule 1)", count);
	if (ma[0] == bogus_page || ma[count - 1] == bogus_page)
		vms_panic(
		    file, line,
		    "pager_getpages: bogus_page at ma[%d] of %d: the ends of the array must be "
		    "real pages (rule 1)",
		    ma[0] == bogus_page ? 0 : count - 1, count);
	uint64_t first = ma[0]->pindex;
	for (int i = 0; i < count; i++) {
		struct vm_page *m = ma[i];
		if (m == bogus_page) {
			if (!async)
				vms_panic(file, line,
					  "pager_getpages: bogus_page at ma[%d] in synchronous "
					  "getpages (rule 3)",
					  i);
			if (!(obj->pager->caps & PAGER_CAP_BOGUS))
				vms_panic(
				    file, line,
				    "pager_getpages_async: bogus_page at ma[%d] passed to pager "
				    "%s, which lacks PAGER_CAP_BOGUS (rule 3)",
				    i, obj->pager->name);
			vm_object_lock(obj);
			struct vm_page *real = vm_page_lookup(obj, first + i);
			/* Another thread may busy it for a moment; the caller must not. */
			bool ok = real != NULL && vm_page_all_valid(real) &&
				  !(vm_page_xbusied(real) &&
				    atomic_load_explicit(&real->busy_owner, memory_order_relaxed) ==
					vms_tid());
			vm_object_unlock(obj);
			if (!ok) {
				vm_page_print(real);
				vms_panic(
				    file, line,
				    "pager_getpages_async: bogus_page at ma[%d] stands for a page "
				    "that is not resident and valid, or that the caller still "
				    "busies (rule 3)",
				    i);
			}
			continue;
		}
		if (m->object != obj || m->pindex != first + i) {
			vm_page_print(m);
			vms_panic(file, line,
				  "pager_getpages: ma[%d] is not page %llu of object %p (rule 1/2)",
				  i, (unsigned long long)(first + i), (void *)obj);
		}
		vm_page_assert_xbusied_KBI(m, file, line);
		if (vm_page_all_valid(m)) {
			vm_page_print(m);
			vms_panic(file, line,
				  "vm_page_assert_invalid: page %p fully valid (rule 2)",
				  (void *)m);
		}
		if (m->dirty != 0) {
			vm_page_print(m);
			vms_panic(file, line, "pager_getpages: page %p dirty (rule 2)", (void *)m);
		}
	}
	/*
	 * Rule 4: a valid neighbour of the run that the caller still holds
	 * exclusive busy is a page it trimmed and forgot to unbusy; a pager
	 * reading whole blocks would wait on it forever.  A neighbour that is
	 * in another request still in flight (PGA_INIO) is not: its
	 * completion releases it.
	 */
	uint64_t nb[2] = {first - 1, first + count};
	vm_object_lock(obj);
	for (int k = first == 0 ? 1 : 0; k < 2; k++) {
		struct vm_page *m = vm_page_lookup(obj, nb[k]);
		/* In this order: only a page we own may have its valid bits read. */
		if (m != NULL && vm_page_xbusied(m) &&
		    !(atomic_load_explicit(&m->aflags, memory_order_acquire) & PGA_INIO) &&
		    atomic_load_explicit(&m->busy_owner, memory_order_relaxed) == vms_tid() &&
		    vm_page_all_valid(m)) {
			vm_object_unlock(obj);
			vm_page_print(m);
			vms_panic(
			    file, line,
			    "pager_getpages: valid page %p next to the run (pages %llu-%llu) is "
			    "still exclusive busy (rule 4); the caller, thread %u, holds it",
			    (void *)m, (unsigned long long)first,
			    (unsigned long long)(first + count - 1), vms_tid());
		}
	}
	vm_object_unlock(obj);
}

/* Mark or clear the real pages of a request as in flight (rule 4's bookkeeping). */
static void
pager_mark_inio(struct vm_page **ma, int count, bool on)
{
	for (int i = 0; i < count; i++) {
		if (ma[i] == bogus_page)
			continue;
		if (on)
			atomic_fetch_or_explicit(&ma[i]->aflags, PGA_INIO, memory_order_relaxed);
		else
			atomic_fetch_and_explicit(&ma[i]->aflags, (uint8_t)~PGA_INIO,
						  memory_order_release);
	}
}

void
pager_check_done(struct vm_object *obj, struct vm_page **ma, int count, const char *file, int line)
{
	for (int i = 0; i < count; i++) {
		struct vm_page *m = ma[i];
		if (m == bogus_page)
			continue;
		vm_page_assert_xbusied_KBI(m, file, line);
		if (!vm_page_all_valid(m)) {
			vm_page_print(m);
			vms_panic(file, line,
				  "pager %s: page %p not fully valid after a successful getpages "
				  "(rule 8)",
				  obj->pager->name, (void *)m);
		}
	}
}

int
pager_getpages_KBI(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind, int *rahead,
		   const char *file, int line)
{
	bool check = checks_on();
	if (check) {
		pager_check_request(obj, ma, count, false, file, line);
		pager_mark_inio(ma, count, true);
	}
	int rv = obj->pager->getpages(obj, ma, count, rbehind, rahead);
	if (check) {
		pager_mark_inio(ma, count, false);
		if (rv == PAGER_OK)
			pager_check_done(obj, ma, count, file, line);
	}
	return rv;
}

/*
 * Checks rules 7 and 8 when an asynchronous request completes, then calls
 * the caller's iodone.  It remembers which slots held bogus_page: a pager
 * that re-grabbed the page behind one (rule 11 gone wrong) hands back the
 * caller's valid page busied, and the caller, which left a placeholder
 * there, would never unbusy it.
 */
struct pager_trampoline {
	pager_iodone_t *iodone;
	void *arg;
	struct vm_object *obj;
	const char *file;
	int line;
	int count;
	struct vm_page *req[]; /* the request's array as the caller passed it */
};

static void
pager_trampoline_done(void *arg, struct vm_page **ma, int count, int error)
{
	struct pager_trampoline *tp = arg;
	for (int i = 0; i < count; i++) {
		if (tp->req[i] == bogus_page && ma[i] != bogus_page && vm_page_xbusied(ma[i])) {
			vm_page_print(ma[i]);
			vms_panic(
			    tp->file, tp->line,
			    "pager %s: busied the real page behind bogus slot ma[%d] (rule 7)",
			    tp->obj->pager->name, i);
		}
	}
	/*
	 * The pages now belong to the completion, which may run on another
	 * thread: forget the submitting owner before the in-flight mark goes,
	 * so rule 4 never takes a completed neighbour for a forgotten one.
	 */
	for (int i = 0; i < count; i++)
		if (ma[i] != bogus_page)
			atomic_store_explicit(&ma[i]->busy_owner, 0, memory_order_relaxed);
	pager_mark_inio(tp->req, tp->count, false);
	pager_mark_inio(ma, count, false); /* pages a pager re-grabbed (rule 11) */
	struct pager_trampoline t = *tp;
	free(tp);
	if (error == 0)
		pager_check_done(t.obj, ma, count, t.file, t.line);
	t.iodone(t.arg, ma, count, error);
}

int
pager_getpages_async_KBI(struct vm_object *obj, struct vm_page **ma, int count, int *rbehind,
			 int *rahead, pager_iodone_t *iodone, void *arg, const char *file, int line)
{
	if (checks_on()) {
		pager_check_request(obj, ma, count, true, file, line);
		struct pager_trampoline *t = malloc(sizeof(*t) + count * sizeof(t->req[0]));
		if (t == NULL)
			return PAGER_AGAIN; /* out of memory: nothing started, iodone not called */
		*t = (struct pager_trampoline){iodone, arg, obj, file, line, count};
		memcpy(t->req, ma, count * sizeof(ma[0]));
		pager_mark_inio(ma, count, true);
		iodone = pager_trampoline_done;
		arg = t;
	}
	if (obj->pager->getpages_async != NULL) {
		int rv = obj->pager->getpages_async(obj, ma, count, rbehind, rahead, iodone, arg);
		if (rv != PAGER_OK && iodone == pager_trampoline_done) {
			pager_mark_inio(ma, count, false);
			free(arg);
		}
		return rv;
	}
	int rv = obj->pager->getpages(obj, ma, count, rbehind, rahead);
	iodone(arg, ma, count, pager_to_errno(rv));
	return PAGER_OK;
}

bool
pager_haspage(struct vm_object *obj, uint64_t pindex, int *before, int *after)
{
	if (before != NULL)
		*before = 0;
	if (after != NULL)
		*after = 0;
	return obj->pager->haspage(obj, pindex, before, after);
}

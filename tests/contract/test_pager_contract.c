/*
 * The pager contract (src/pager/pager.h) is checked at every call in debug
 * builds: each rule violated once aborts with a message naming the page and
 * the rule, and the same call done right passes.
 */
#include "pager/pager.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "support/death.h"
#include "support/mempager.h"

static char data[32 * 4096];
static struct vm_object *obj, *bobj; /* caps 0, PAGER_CAP_BOGUS */

static void
setup(void)
{
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + i / 4096);
	cr_assert_eq(vm_init(64 * PAGE_SIZE), 0);
	obj = mempager_create(data, sizeof(data), 0, "plain");
	bobj = mempager_create(data, sizeof(data), PAGER_CAP_BOGUS, "bogus-capable");
}

static void
teardown(void)
{
	vm_object_deallocate(obj);
	vm_object_deallocate(bobj);
	vm_fini();
}

TestSuite(pager_contract, .init = setup, .fini = teardown);

static int iodone_calls, iodone_error;

static void
iodone(void *arg, struct vm_page **ma, int count, int error)
{
	iodone_calls++;
	iodone_error = error;
}

/* Grab n xbusy pages at p; make the ones listed in `valid` (bitmask) valid and unbusied. */
static void
grab(struct vm_object *o, uint64_t p, int n, unsigned valid, struct vm_page **ma)
{
	/* VERIFY, not cr_assert: death-test children must not talk to the runner. */
	VERIFY3S(vm_page_grab_pages(o, p, 0, ma, n), ==, n);
	for (int i = 0; i < n; i++)
		if (valid & (1u << i)) {
			memcpy(vm_page_data(ma[i]), data + (p + i) * PAGE_SIZE, PAGE_SIZE);
			vm_page_valid(ma[i]);
			vm_page_xunbusy(ma[i]);
		}
}

static void
unbusy(struct vm_page **ma, int n)
{
	for (int i = 0; i < n; i++)
		if (ma[i] != bogus_page && vm_page_xbusied(ma[i]))
			vm_page_xunbusy(ma[i]);
}

/* ---- each rule violated once ---- */

static void
pass_unbusied_page(void *arg)
{
	struct vm_page *ma[4];
	grab(obj, 0, 4, 0, ma);
	vm_page_xunbusy(ma[2]);
	pager_getpages(obj, ma, 4, NULL, NULL);
}

Test(pager_contract, unbusied_page_aborts)
{
	char out[4096];
	cr_assert(death_expect(pass_unbusied_page, NULL, "vm_page_assert_xbusied: page 0x", out,
			       sizeof(out)));
	cr_assert(strstr(out, "not exclusive busy @ ") != NULL);
	cr_assert(strstr(out, "test_pager_contract.c:") != NULL, "names the caller's file:line");
	cr_assert(strstr(out, "pindex 2") != NULL, "prints the page");
}

static void
pass_valid_page(void *arg)
{
	struct vm_page *ma[4];
	grab(obj, 0, 4, 0, ma);
	vm_page_valid(ma[1]);
	pager_getpages(obj, ma, 4, NULL, NULL);
}

Test(pager_contract, fully_valid_page_aborts)
{
	cr_assert(death_expect(pass_valid_page, NULL, "vm_page_assert_invalid: page 0x", NULL, 0));
}

static void
bogus_at_start(void *arg)
{
	struct vm_page *ma[4];
	grab(bobj, 0, 4, 1u << 0, ma);
	ma[0] = bogus_page;
	pager_getpages_async(bobj, ma, 4, NULL, NULL, iodone, NULL);
}

static void
bogus_at_end(void *arg)
{
	struct vm_page *ma[4];
	grab(bobj, 0, 4, 1u << 3, ma);
	ma[3] = bogus_page;
	pager_getpages_async(bobj, ma, 4, NULL, NULL, iodone, NULL);
}

Test(pager_contract, bogus_page_at_the_ends_aborts)
{
	cr_assert(death_expect(bogus_at_start, NULL, "bogus_page at ma[0] of 4", NULL, 0));
	cr_assert(death_expect(bogus_at_end, NULL, "bogus_page at ma[3] of 4", NULL, 0));
}

static void
bogus_without_cap(void *arg)
{
	struct vm_page *ma[4];
	grab(obj, 0, 4, 1u << 1, ma);
	ma[1] = bogus_page;
	pager_getpages_async(obj, ma, 4, NULL, NULL, iodone, NULL);
}

Test(pager_contract, bogus_page_to_pager_without_cap_aborts)
{
	cr_assert(death_expect(bogus_without_cap, NULL,
			       "passed to pager mempager, which lacks PAGER_CAP_BOGUS (rule 3)",
			       NULL, 0));
}

static void
bogus_to_sync(void *arg)
{
	struct vm_page *ma[4];
	grab(bobj, 0, 4, 1u << 1, ma);
	ma[1] = bogus_page;
	pager_getpages(bobj, ma, 4, NULL, NULL);
}

Test(pager_contract, bogus_page_to_synchronous_getpages_aborts)
{
	cr_assert(death_expect(bogus_to_sync, NULL, "in synchronous getpages (rule 3)", NULL, 0));
}

static void
bogus_for_invalid_page(void *arg)
{
	struct vm_page *ma[4];
	grab(bobj, 0, 4, 0, ma);
	vm_page_xunbusy(ma[1]); /* not valid, yet replaced by bogus_page */
	ma[1] = bogus_page;
	pager_getpages_async(bobj, ma, 4, NULL, NULL, iodone, NULL);
}

Test(pager_contract, bogus_page_standing_for_an_invalid_page_aborts)
{
	cr_assert(
	    death_expect(bogus_for_invalid_page, NULL, "that is not resident and valid", NULL, 0));
}

static void
not_consecutive(void *arg)
{
	struct vm_page *ma[4], *mb[1];
	grab(obj, 0, 4, 0, ma);
	grab(obj, 9, 1, 0, mb);
	ma[2] = mb[0];
	pager_getpages(obj, ma, 4, NULL, NULL);
}

Test(pager_contract, pages_not_consecutive_abort)
{
	cr_assert(death_expect(not_consecutive, NULL, "ma[2] is not page 2 of object", NULL, 0));
}

static void
valid_neighbour_left_busy(void *arg)
{
	struct vm_page *ma[6];
	grab(obj, 0, 6, 0, ma);
	/* the caller trimmed valid pages 4-5 off the run but left them xbusy */
	vm_page_valid(ma[4]);
	vm_page_valid(ma[5]);
	pager_getpages(obj, ma, 4, NULL, NULL);
}

Test(pager_contract, trimmed_valid_page_left_busy_aborts)
{
	cr_assert(death_expect(valid_neighbour_left_busy, NULL, "still exclusive busy (rule 4)",
			       NULL, 0));
}

/* A broken pager: claims success but leaves pages invalid (rule 8). */
static int
lazy_getpages(struct vm_object *o, struct vm_page **ma, int count, int *rb, int *ra)
{
	return PAGER_OK;
}

static bool
lazy_haspage(struct vm_object *o, uint64_t pindex, int *before, int *after)
{
	return true;
}

static const struct pager_ops lazy_ops = {
    .name = "lazy", .getpages = lazy_getpages, .haspage = lazy_haspage};

static void
pager_leaves_invalid(void *arg)
{
	struct vm_object *o = vm_object_allocate(&lazy_ops, NULL, 8 * PAGE_SIZE, "lazy");
	struct vm_page *ma[2];
	grab(o, 0, 2, 0, ma);
	pager_getpages_async(o, ma, 2, NULL, NULL, iodone, NULL);
}

Test(pager_contract, pager_returning_invalid_pages_aborts)
{
	cr_assert(death_expect(pager_leaves_invalid, NULL, "pager lazy: page 0x", NULL, 0));
	cr_assert(death_expect(pager_leaves_invalid, NULL,
			       "not fully valid after a successful getpages (rule 8)", NULL, 0));
}

/* ---- the same calls done right ---- */

static void
check_bytes(struct vm_page **ma, uint64_t p, int n)
{
	for (int i = 0; i < n; i++) {
		cr_assert(vm_page_all_valid(ma[i]));
		cr_assert_eq(memcmp(vm_page_data(ma[i]), data + (p + i) * PAGE_SIZE, PAGE_SIZE), 0,
			     "page %llu bytes", (unsigned long long)(p + i));
	}
}

Test(pager_contract, correct_sync_call_passes)
{
	struct vm_page *ma[4];
	grab(obj, 0, 4, 0, ma);
	cr_assert_eq(pager_getpages(obj, ma, 4, NULL, NULL), PAGER_OK);
	for (int i = 0; i < 4; i++)
		cr_assert(vm_page_xbusied(ma[i]), "rule 8: still xbusy");
	check_bytes(ma, 0, 4);
	unbusy(ma, 4);
	cr_assert(vm_quiescent());
}

Test(pager_contract, correct_async_call_with_bogus_passes)
{
	struct vm_page *ma[5], *real[5];
	grab(bobj, 4, 5, (1u << 1) | (1u << 3), ma);
	memcpy(real, ma, sizeof(ma));
	ma[1] = ma[3] = bogus_page;
	iodone_calls = 0;
	cr_assert_eq(pager_getpages_async(bobj, ma, 5, NULL, NULL, iodone, NULL), PAGER_OK);
	cr_assert_eq(iodone_calls, 1);
	cr_assert_eq(iodone_error, 0);
	check_bytes(real, 4, 5);
	struct mempager_stats st;
	mempager_get_stats(bobj, &st);
	cr_assert_eq(st.bogus_seen, 2);
	cr_assert_eq(st.ios, 1);
	unbusy(ma, 5);
	cr_assert(vm_quiescent());
}

Test(pager_contract, async_without_cap_split_runs_pass)
{
	struct vm_page *ma[5];
	grab(obj, 0, 5, 1u << 2, ma);
	iodone_calls = 0;
	cr_assert_eq(pager_getpages_async(obj, ma, 2, NULL, NULL, iodone, NULL), PAGER_OK);
	cr_assert_eq(pager_getpages_async(obj, ma + 3, 2, NULL, NULL, iodone, NULL), PAGER_OK);
	cr_assert_eq(iodone_calls, 2);
	check_bytes(ma, 0, 5);
	unbusy(ma, 5);
}

/* A synchronous-only pager: the dispatch supplies getpages_async. */
static int
sync_getpages(struct vm_object *o, struct vm_page **ma, int count, int *rb, int *ra)
{
	for (int i = 0; i < count; i++) {
		memcpy(vm_page_data(ma[i]), data + (ma[0]->pindex + i) * PAGE_SIZE, PAGE_SIZE);
		vm_page_valid(ma[i]);
	}
	return PAGER_OK;
}

static const struct pager_ops sync_ops = {
    .name = "synconly", .getpages = sync_getpages, .haspage = lazy_haspage};

Test(pager_contract, default_async_runs_sync_getpages_then_iodone)
{
	struct vm_object *o = vm_object_allocate(&sync_ops, NULL, 8 * PAGE_SIZE, "synconly");
	struct vm_page *ma[3];
	grab(o, 2, 3, 0, ma);
	iodone_calls = 0;
	iodone_error = 1;
	cr_assert_eq(pager_getpages_async(o, ma, 3, NULL, NULL, iodone, NULL), PAGER_OK);
	cr_assert_eq(iodone_calls, 1);
	cr_assert_eq(iodone_error, 0);
	check_bytes(ma, 2, 3);
	unbusy(ma, 3);
	vm_object_deallocate(o);
}

Test(pager_contract, deferred_completion_rule8_checked_at_iodone)
{
	mempager_set_mode(obj, MEMPAGER_DEFERRED, 0);
	struct vm_page *ma[3];
	grab(obj, 0, 3, 0, ma);
	iodone_calls = 0;
	cr_assert_eq(pager_getpages_async(obj, ma, 3, NULL, NULL, iodone, NULL), PAGER_OK);
	cr_assert_eq(iodone_calls, 0);
	cr_assert_eq(mempager_complete_pending(obj), 1);
	cr_assert_eq(iodone_calls, 1);
	check_bytes(ma, 0, 3);
	unbusy(ma, 3);
}

Test(pager_contract, io_error_reaches_iodone_and_leaves_pages_invalid)
{
	struct vm_page *ma[3];
	grab(obj, 0, 3, 0, ma);
	mempager_fail_nth(obj, 1, -EIO);
	iodone_calls = 0;
	cr_assert_eq(pager_getpages_async(obj, ma, 3, NULL, NULL, iodone, NULL), PAGER_OK);
	cr_assert_eq(iodone_calls, 1);
	cr_assert_eq(iodone_error, -EIO);
	for (int i = 0; i < 3; i++) {
		cr_assert(vm_page_none_valid(ma[i]));
		vm_page_free(ma[i], false);
	}
	cr_assert(vm_quiescent());
}

/*
 * I/O errors under holds (src/sendfile/hold.c), the path HTTP/2 reads cold
 * DATA through: fail the Nth pager I/O of a hold for N = 1, 2, ... until a
 * hold succeeds.  Each time: done runs once with -EIO (or 0 when no Nth
 * I/O existed), nothing is busy or wired after the release, and a bystander
 * socket on the same loop still delivers its bytes exactly.  Also the
 * release-while-reading order, which an HTTP/2 stream reset mid-read takes.
 */
#include "sf_testlib.h"

#include "pager/pager.h"
#include "support/mempager.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static void
setup(void)
{
	sft_setup(512);
}

TestSuite(hold_eio, .init = setup, .fini = sft_teardown, .timeout = 120);

struct done_state {
	int calls;
	int error;
};

static void
on_done(struct vms_sfhold *h, int error, void *arg)
{
	struct done_state *d = arg;
	d->calls++;
	d->error = error;
}

/* One round; returns true if the hold failed (an Nth I/O existed). */
static bool
hold_round(unsigned n, enum mempager_mode mode, bool release_early, const uint8_t *data,
	   size_t size, struct vm_object *other)
{
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "victim");
	mempager_set_block(obj, 4);
	mempager_set_mode(obj, mode, 20);
	sft_cache_pages(obj, 2, 1);
	sft_cache_pages(obj, 11, 2);
	mempager_fail_nth(obj, n, -EIO);

	int bf[2];
	sft_tcp_pair(bf);
	struct sft_sink *bs = sft_sink_start(bf[1], false);
	struct vms_socket *bso = sft_socket(bf[0], 1 << 20, NULL, NULL, NULL);
	cr_assert_eq(vms_sendfile_object(bso, other, 0, 0, NULL, NULL, 0), 0);

	struct done_state d = {0};
	struct vms_sfhold *h;
	cr_assert_eq(vms_sfhold_start(sft_loop, obj, 100, size - 100, on_done, &d, &h), 0);
	if (release_early) {
		vms_sfhold_release(h);
		h = NULL;
	}
	for (int i = 0; i < 20000 && (release_early ? vms_socket_count() > 1 : d.calls == 0); i++)
		sft_run_once();
	bool failed = false;
	if (!release_early) {
		cr_assert_eq(d.calls, 1, "round %u: done ran %d times", n, d.calls);
		cr_assert(d.error == 0 || d.error == -EIO, "round %u: done said %d", n, d.error);
		failed = d.error != 0;
		if (!failed)
			cr_assert_eq(vms_sendfile_cached(obj, 100, size - 100), size - 100);
		vms_sfhold_release(h);
	} else {
		cr_assert_eq(d.calls, 0, "round %u: done ran after the release", n);
		struct mempager_stats st;
		mempager_get_stats(obj, &st);
		failed = st.errors > 0;
	}
	cr_assert_eq(vms_socket_flush(bso), 0);
	sft_close_all(bso);
	sft_sink_join(bs);
	if (mode == MEMPAGER_THREAD)
		mempager_drain(obj);
	for (int i = 0; i < 1000 && vms_socket_count() > 0; i++)
		sft_run_once();
	cr_assert(vm_quiescent(), "round %u: a page is busy or wired", n);
	cr_assert_eq(bs->len, other->size);
	sft_sink_free(bs);
	vm_object_deallocate(obj);
	return failed;
}

static void
hold_loop(enum mempager_mode mode, bool release_early)
{
	size_t size = 40 * PAGE_SIZE + 100;
	uint8_t *data = sft_pattern(size, 31);
	uint8_t *odata = sft_pattern(30 * PAGE_SIZE, 32);
	struct vm_object *other = mempager_create(odata, 30 * PAGE_SIZE, 0, "bystander");
	unsigned n = 1;
	while (hold_round(n, mode, release_early, data, size, other))
		n++;
	cr_assert_gt(n, 5, "only %u I/Os per hold: the loop proved little", n - 1);
	vm_object_deallocate(other);
	free(data);
	free(odata);
}

Test(hold_eio, nth_io_fails_sync)
{
	hold_loop(MEMPAGER_SYNC, false);
}

Test(hold_eio, nth_io_fails_thread)
{
	hold_loop(MEMPAGER_THREAD, false);
}

Test(hold_eio, nth_io_fails_released_while_reading)
{
	hold_loop(MEMPAGER_THREAD, true);
}

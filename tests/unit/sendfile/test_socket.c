/*
 * The vmsend socket (src/sendfile/socket.c): copied bytes in order, the
 * high-water mark, the lowat and error callbacks, closing, and non-socket
 * descriptors.
 */
#include "sf_testlib.h"

#include "support/mempager.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
setup(void)
{
	sft_setup(64);
}

TestSuite(socket, .init = setup, .fini = sft_teardown, .timeout = 60);

struct cbs {
	int lowat;
	int errors;
	int error;
};

static void
cb_lowat(struct vms_socket *so, void *arg)
{
	((struct cbs *)arg)->lowat++;
}

static void
cb_error(struct vms_socket *so, int error, void *arg)
{
	struct cbs *c = arg;
	c->errors++;
	c->error = error;
}

Test(socket, writes_arrive_in_order)
{
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, NULL, NULL);
	char want[3000];
	for (int i = 0; i < 1000; i++) {
		char b[3] = {(char)('a' + i % 26), (char)('0' + i % 10), ','};
		memcpy(want + 3 * i, b, 3);
		size_t q;
		cr_assert_eq(vms_socket_write(so, b, 3, &q), 0);
		cr_assert_eq(q, 3);
	}
	cr_assert_eq(vms_socket_write(so, "", 0, NULL), 0);
	cr_assert_eq(vms_socket_flush(so), 0);
	struct vms_socket_stats st;
	vms_socket_get_stats(so, &st);
	cr_assert_eq(st.bytes_queued, 3000);
	cr_assert_eq(st.bytes_sent, 3000);
	cr_assert_eq(st.sb_cc, 0);
	cr_assert_lt(st.sends, 1000, "consecutive segments should share sends");
	sft_close_all(so);
	sft_sink_join(sink);
	cr_assert_eq(sink->len, 3000);
	cr_assert_eq(memcmp(sink->buf, want, 3000), 0);
	sft_sink_free(sink);
}

Test(socket, hiwat_gives_eagain_and_lowat_fires_once_drained)
{
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], true);
	struct cbs c = {0};
	struct vms_socket *so = sft_socket(fds[0], 8192, cb_lowat, cb_error, &c);
	static char big[10000];
	memset(big, 'z', sizeof(big));
	size_t q;
	/* Under hiwat on entry: queued whole even though it passes hiwat. */
	cr_assert_eq(vms_socket_write(so, big, sizeof(big), &q), 0);
	cr_assert_eq(q, sizeof(big));
	cr_assert_eq(vms_socket_write(so, "x", 1, &q), -EAGAIN);
	cr_assert_eq(q, 0);
	cr_assert_eq(vms_socket_sbspace(so), 0);
	sft_sink_resume(sink);
	while (c.lowat == 0)
		sft_run_once();
	cr_assert_eq(c.lowat, 1);
	cr_assert_leq(vms_socket_sbcc(so), 2048);
	cr_assert_eq(vms_socket_write(so, "x", 1, &q), 0);
	cr_assert_eq(vms_socket_flush(so), 0);
	for (int i = 0; i < 3; i++)
		sft_run_once();
	cr_assert_eq(c.lowat, 1, "lowat fired without being armed");
	cr_assert_eq(c.errors, 0);
	sft_close_all(so);
	sft_sink_join(sink);
	cr_assert_eq(sink->len, sizeof(big) + 1);
	sft_sink_free(sink);
}

Test(socket, want_lowat_on_an_empty_buffer_fires_from_the_loop)
{
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct cbs c = {0};
	struct vms_socket *so = sft_socket(fds[0], 0, cb_lowat, NULL, &c);
	vms_socket_want_lowat(so);
	cr_assert_eq(c.lowat, 0, "a callback ran inside the call");
	while (c.lowat == 0)
		sft_run_once();
	cr_assert_eq(c.lowat, 1);
	sft_close_all(so);
	sft_sink_join(sink);
	sft_sink_free(sink);
}

Test(socket, a_peer_that_goes_away_aborts_with_an_error)
{
	int fds[2];
	sft_tcp_pair(fds);
	struct cbs c = {0};
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, cb_error, &c);
	close(fds[1]);
	static char buf[65536];
	while (c.errors == 0) {
		int r = vms_socket_write(so, buf, sizeof(buf), NULL);
		cr_assert(r == 0 || r == -EPIPE || r == -ECONNRESET || r == -EAGAIN, "r = %d", r);
		sft_run_once();
	}
	cr_assert_eq(c.errors, 1);
	cr_assert(c.error == -EPIPE || c.error == -ECONNRESET, "error %d", c.error);
	cr_assert_eq(vms_socket_error(so), c.error);
	cr_assert_eq(vms_socket_write(so, "x", 1, NULL), c.error);
	vms_socket_close(so, VMS_CLOSE_ABORT);
}

/* An abort with file pages queued for a peer that never reads: nothing stays wired. */
Test(socket, abort_close_releases_pages_of_a_stuck_peer)
{
	size_t size = 48 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 31);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	int fds[2];
	sft_tcp_pair(fds);
	int small = 4096;
	setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	struct cbs c = {0};
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, cb_error, &c);
	cr_assert_eq(vms_sendfile_object(so, obj, 0, 0, NULL, NULL, 0), 0);
	for (int i = 0; i < 20; i++)
		sft_run_once();
	struct vms_socket_stats st;
	vms_socket_get_stats(so, &st);
	cr_assert_gt(st.sb_cc, 0, "the peer read nothing, yet everything left");
	/* The kernel took a short piece first: a partial send, the rest kept queued. */
	cr_assert_gt(st.partial, 0);
	cr_assert_gt(st.bytes_sent, 0);
	cr_assert_eq(st.sb_cc, size - st.bytes_sent);
	vms_socket_close(so, VMS_CLOSE_ABORT);
	for (int i = 0; i < 1000 && vms_socket_count() > 0; i++)
		sft_run_once();
	cr_assert_eq(vms_socket_count(), 0);
	cr_assert(vm_quiescent());
	cr_assert_eq(c.errors, 0, "a callback ran after close");
	close(fds[1]);
	vm_object_deallocate(obj);
	free(data);
}

Test(socket, linger_close_delivers_everything)
{
	size_t size = 20 * PAGE_SIZE + 3;
	uint8_t *data = sft_pattern(size, 32);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	mempager_set_mode(obj, MEMPAGER_THREAD, 200);
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, NULL, NULL);
	cr_assert_eq(vms_sendfile_object(so, obj, 0, 0, NULL, NULL, 0), 0);
	cr_assert_eq(vms_socket_write(so, "!", 1, NULL), 0);
	sft_close_all(so); /* closes at once; the not-ready data still goes */
	sft_sink_join(sink);
	cr_assert_eq(sink->len, size + 1);
	cr_assert_eq(memcmp(sink->buf, data, size), 0);
	cr_assert_eq(sink->buf[size], '!');
	sft_sink_free(sink);
	mempager_drain(obj); /* the worker is out of io_loop_post before the loop goes */
	vm_object_deallocate(obj);
	free(data);
}

Test(socket, blocking_socket_waits_instead_of_eagain)
{
	size_t size = 100 * PAGE_SIZE; /* more than the cache and far more than hiwat */
	uint8_t *data = sft_pattern(size, 33);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket_params p = {.hiwat = 16384, .blocking = true, .close_fd = true};
	struct vms_socket *so;
	cr_assert_eq(vms_socket_create(sft_loop, fds[0], &p, &so), 0);
	off_t sb;
	cr_assert_eq(vms_sendfile_object(so, obj, 0, 0, NULL, &sb, 0), 0);
	cr_assert_eq(sb, (off_t)size);
	cr_assert_eq(counter_get(&sf_stats.eagain), 0);
	sft_close_all(so);
	sft_sink_join(sink);
	cr_assert_eq(sink->len, size);
	cr_assert_eq(memcmp(sink->buf, data, size), 0);
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(socket, a_pipe_is_written_with_writev)
{
	size_t size = 10 * PAGE_SIZE + 9;
	uint8_t *data = sft_pattern(size, 34);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct sft_sink *sink = sft_sink_start(p[0], false);
	struct vms_socket *so = sft_socket(p[1], 0, NULL, NULL, NULL);
	struct iovec h = {"hd", 2};
	struct vms_hdtr hd = {&h, 1, NULL, 0};
	off_t sb;
	cr_assert_eq(vms_sendfile_blocking(so, obj, 0, 0, &hd, &sb, 0), 0);
	cr_assert_eq(sb, (off_t)size + 2);
	sft_close_all(so);
	sft_sink_join(sink);
	cr_assert_eq(sink->len, size + 2);
	cr_assert_eq(memcmp(sink->buf + 2, data, size), 0);
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	free(data);
}

/* Zero-copy sends (opt-in): the same bytes; every page unwired once notified. */
Test(socket, zero_copy_sends_deliver_and_release_pages)
{
	sf_send_zc = 1;
	sf_zc_min = 1;
	size_t size = 300 * 1000 + 5;
	uint8_t *data = sft_pattern(size, 35);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, NULL, NULL);
	for (int k = 0; k < 3; k++) {
		cr_assert_eq(vms_socket_write(so, "<>", 2, NULL), 0);
		cr_assert_eq(vms_sendfile_object(so, obj, k * 777, 0, NULL, NULL, 0), 0);
	}
	cr_assert_eq(vms_socket_flush(so), 0);
	struct vms_socket_stats st;
	vms_socket_get_stats(so, &st);
	if (io_loop_features(sft_loop)->send_zc)
		cr_assert_gt(st.sends_zc, 0, "the kernel has send_zc but no send used it");
	else
		cr_assert_eq(st.sends_zc, 0);
	sft_close_all(so);
	sft_sink_join(sink);
	cr_assert(vm_quiescent(), "a page stayed wired after the notifications");
	size_t off = 0;
	for (int k = 0; k < 3; k++) {
		cr_assert_eq(memcmp(sink->buf + off, "<>", 2), 0);
		off += 2;
		cr_assert_eq(memcmp(sink->buf + off, data + k * 777, size - k * 777), 0);
		off += size - k * 777;
	}
	cr_assert_eq(sink->len, off);
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	free(data);
}

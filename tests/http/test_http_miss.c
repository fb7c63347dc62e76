/*
 * A cache miss never blocks the loop (src/http/conn.c, design.md section 6).
 *
 * The server runs in-process with ONE thread over a tiny file system whose
 * files are memory-pager objects.  "/slow.bin" completes its page-in only
 * when the test says so (MEMPAGER_DEFERRED).  While that I/O is pending, a
 * second connection to the same thread asks for "/fast.txt" and must get
 * its whole answer; then the test completes the I/O and the first client
 * must get its bytes, exactly.  No timing is asserted: the order of events
 * is the proof.
 */
#include "http/http_server.h"
#include "sendfile/sendfile.h"
#include "support/memfs.h"
#include "support/mempager.h"
#include "support/net.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOW_SIZE (96 * 1024 + 17)

static struct vm_object *slow_obj, *fast_obj;
static unsigned char *slow_data;
static const char fast_data[] = "fast bytes, served while the slow file waits for its pager\n";

static void
client_send(int fd, const char *s)
{
	cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Read until `want` bytes or EOF; poll bounded by 30 s so a broken server fails, not hangs. */
static size_t
client_read(int fd, char *buf, size_t want)
{
	size_t got = 0;
	while (got < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 30000) <= 0)
			break;
		ssize_t n = read(fd, buf + got, want - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Read one response head (up to the blank line); returns its length. */
static size_t
client_read_head(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	while (got < cap - 1) {
		if (client_read(fd, buf + got, 1) != 1)
			break;
		got++;
		buf[got] = '\0';
		if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	return got;
}

/* Bytes readable right now without waiting. */
static size_t
client_pending(int fd)
{
	char tmp[4096];
	size_t total = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 0) <= 0)
			return total;
		ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n <= 0)
			return total;
		total += (size_t)n;
	}
}

Test(http_miss, other_connections_are_served_while_a_miss_is_pending, .timeout = 120)
{
	cr_assert_eq(vm_init(4 << 20), 0);
	slow_data = malloc(SLOW_SIZE);
	for (size_t i = 0; i < SLOW_SIZE; i++)
		slow_data[i] = (unsigned char)(i * 7 + (i >> 9));
	slow_obj = mempager_create(slow_data, SLOW_SIZE, 0, "slow.bin");
	mempager_set_mode(slow_obj, MEMPAGER_DEFERRED, 0);
	fast_obj = mempager_create(fast_data, sizeof(fast_data) - 1, 0, "fast.txt");
	test_memfs_add("slow.bin", slow_obj, SLOW_SIZE);
	test_memfs_add("fast.txt", fast_obj, sizeof(fast_data) - 1);
	cr_assert_eq(test_memfs_mount("/"), 0);

	struct http_server_config cfg;
	http_server_config_defaults(&cfg);
	cfg.listen[0] = "127.0.0.1:0";
	cfg.nlisten = 1;
	cfg.threads = 1; /* both connections on the same loop */
	cfg.quiet = true;
	cfg.grace_ms = 1000;
	struct http_server *srv;
	cr_assert_eq(http_server_start(&cfg, &srv), 0);
	int port = http_server_port(srv, 0);

	/* A: the slow file.  Wait (bounded) until its page-in is pending in the pager. */
	int a = test_tcp_connect(port);
	cr_assert_geq(a, 0, "connect: %s", strerror(-a));
	client_send(a, "GET /slow.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	for (int i = 0; i < 3000 && mempager_pending(slow_obj) == 0; i++)
		usleep(10000);
	cr_assert_gt(mempager_pending(slow_obj), 0, "the slow read never reached the pager");

	/* B: the fast file, on the same thread, answered in full while A's I/O is pending. */
	int b = test_tcp_connect(port);
	cr_assert_geq(b, 0, "connect: %s", strerror(-b));
	client_send(b, "GET /fast.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	char head[2048], body[256];
	size_t hl = client_read_head(b, head, sizeof(head));
	cr_assert_gt(hl, 0);
	cr_assert(strncmp(head, "HTTP/1.1 200 ", 13) == 0, "%s", head);
	size_t bl = client_read(b, body, sizeof(fast_data) - 1);
	cr_assert_eq(bl, sizeof(fast_data) - 1);
	cr_assert(memcmp(body, fast_data, bl) == 0);
	cr_assert_gt(mempager_pending(slow_obj), 0, "the slow I/O completed by itself");

	/* A has at most its head: no body byte can pass the not-ready segment. */
	hl = client_read_head(a, head, sizeof(head));
	cr_assert(strncmp(head, "HTTP/1.1 200 ", 13) == 0, "%s", head);
	cr_assert(strstr(head, "Content-Length: 98321\r\n") != NULL, "%s", head);
	cr_assert_eq(client_pending(a), 0, "body bytes went out before the page-in completed");

	/* Complete the I/O from this (foreign) thread; A then gets every byte, exactly. */
	while (mempager_pending(slow_obj) > 0)
		mempager_complete_pending(slow_obj);
	char *got = malloc(SLOW_SIZE);
	size_t n = 0;
	/* Later chunks of the file may be separate page-ins: complete them as they come. */
	for (int round = 0; n < SLOW_SIZE && round < 6000; round++) {
		struct pollfd p = {.fd = a, .events = POLLIN};
		if (poll(&p, 1, 10) == 1) {
			ssize_t r = read(a, got + n, SLOW_SIZE - n);
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		while (mempager_pending(slow_obj) > 0)
			mempager_complete_pending(slow_obj);
	}
	cr_assert_eq(n, SLOW_SIZE);
	cr_assert(memcmp(got, slow_data, SLOW_SIZE) == 0, "body differs");
	free(got);
	close(a);
	close(b);

	http_server_stop(srv);
	cr_assert_eq(vms_socket_count(), 0);
	vfs_unmount_all();
	test_memfs_clear();
	vm_object_deallocate(slow_obj);
	vm_object_deallocate(fast_obj);
	free(slow_data);
}

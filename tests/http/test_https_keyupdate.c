/*
 * TLS 1.3 KeyUpdate through the userspace record sealer (issue 14).
 *
 * The server seals its records itself (src/sendfile/sf_tls.c) with the
 * transmit keys OpenSSL hands over at the end of the handshake.  A client's
 * KeyUpdate with update_requested makes OpenSSL answer with a KeyUpdate of
 * its own, after which every record must be sealed with the next key and a
 * sequence number from 0, while whatever was queued before the answer, file
 * pages still being read included, keeps the old key.
 *
 * The server runs in-process with one thread over memory-pager files (a
 * cold one completes its page-in only when the test says so), the client
 * is OpenSSL on the test's thread, TLS 1.3 only, with each cipher suite
 * (the next key is derived with SHA-256 or SHA-384, 16 or 32 bytes):
 *
 *   - KeyUpdate(update_requested) while the response's pages are still
 *     being read: the body (old key), the server's KeyUpdate, then the
 *     next response (new key) arrive intact;
 *   - several KeyUpdates on one keep-alive connection, in the middle of
 *     large downloads, two in a row, and update_not_requested (the server
 *     changes nothing and sends no KeyUpdate);
 *   - every request's body byte-exact, the connection still working after,
 *     and exactly one KeyUpdate from the server per update_requested (seen
 *     by the client's message callback);
 *   - 32 KeyUpdates in a row without a request are answered, the 33rd ends
 *     the connection (each answer grows the server's send queue).
 *
 * No timing is asserted: the test waits (bounded) for the pager's pending
 * read and for the server's key-change counter, and every read is bounded
 * by a receive timeout, so a broken server fails the test instead of
 * hanging it.
 */
#include "http/http_server.h"
#include "sendfile/sendfile.h"
#include "support/memfs.h"
#include "support/mempager.h"
#include "support/net.h"
#include "support/tls.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define COLD_SIZE (160 * 1024 + 123)   /* fits the send buffer: queued whole, not ready */
#define BIG_SIZE  (1024 * 1024 + 4321) /* more than the send buffer */
#define NCIPHERS  3

static const char *const ciphers[NCIPHERS] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
					      "TLS_CHACHA20_POLY1305_SHA256"};

static struct test_tls tls;
static struct http_server *srv;
static int port;
static struct vm_object *cold[NCIPHERS], *big;
static unsigned char *cold_data[NCIPHERS], *big_data;

static unsigned char *
pattern(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n);
	cr_assert_not_null(p);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
	return p;
}

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(vm_init(16 << 20), 0);
	static char names[NCIPHERS][16];
	for (int i = 0; i < NCIPHERS; i++) {
		cold_data[i] = pattern(COLD_SIZE, (unsigned)i + 1);
		cold[i] = mempager_create(cold_data[i], COLD_SIZE, 0, "cold");
		mempager_set_mode(cold[i], MEMPAGER_DEFERRED, 0);
		snprintf(names[i], sizeof(names[i]), "cold%d.bin", i);
		test_memfs_add(names[i], cold[i], COLD_SIZE);
	}
	big_data = pattern(BIG_SIZE, 99);
	big = mempager_create(big_data, BIG_SIZE, 0, "big");
	test_memfs_add("big.bin", big, BIG_SIZE);
	cr_assert_eq(test_memfs_mount("/"), 0);
	test_tls_setup(&tls);

	struct http_server_config cfg;
	http_server_config_defaults(&cfg);
	cfg.listen_tls[0] = "127.0.0.1:0";
	cfg.nlisten_tls = 1;
	cfg.tls = tls.srv;
	cfg.threads = 1;
	cfg.quiet = true;
	cfg.grace_ms = 1000;
	cr_assert_eq(http_server_start(&cfg, &srv), 0);
	port = http_server_port(srv, 0);
}

static void
teardown(void)
{
	http_server_stop(srv);
	cr_assert_eq(vms_socket_count(), 0);
	test_tls_teardown(&tls);
	vfs_unmount_all();
	test_memfs_clear();
	for (int i = 0; i < NCIPHERS; i++) {
		vm_object_deallocate(cold[i]);
		free(cold_data[i]);
	}
	vm_object_deallocate(big);
	free(big_data);
}

TestSuite(https_keyupdate, .init = setup, .fini = teardown, .timeout = 120);

struct client {
	int fd;
	SSL *ssl;
	int server_updates; /* KeyUpdate messages received from the server */
	const char *what;
};

static void
client_msg(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
	   void *arg)
{
	struct client *c = arg;
	if (!write_p && content_type == SSL3_RT_HANDSHAKE && len >= 1 &&
	    ((const unsigned char *)buf)[0] == SSL3_MT_KEY_UPDATE)
		c->server_updates++;
}

static void
client_connect(struct client *c, const char *cipher)
{
	memset(c, 0, sizeof(*c));
	c->what = cipher;
	c->fd = test_tcp_connect(port);
	cr_assert_geq(c->fd, 0, "connect: %s", strerror(-c->fd));
	struct timeval tv = {.tv_sec = 30};
	cr_assert_eq(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	c->ssl = SSL_new(tls.cctx);
	cr_assert_not_null(c->ssl);
	SSL_set_min_proto_version(c->ssl, TLS1_3_VERSION);
	cr_assert_eq(SSL_set_ciphersuites(c->ssl, cipher), 1);
	SSL_set_msg_callback(c->ssl, client_msg);
	SSL_set_msg_callback_arg(c->ssl, c);
	SSL_set_fd(c->ssl, c->fd);
	cr_assert_eq(SSL_connect(c->ssl), 1, "%s: handshake failed", cipher);
	cr_assert_str_eq(SSL_get_cipher_name(c->ssl), cipher);
}

static void
client_close(struct client *c)
{
	SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	close(c->fd);
}

static void
client_send(struct client *c, const char *s)
{
	size_t n;
	cr_assert_eq(SSL_write_ex(c->ssl, s, strlen(s), &n), 1, "%s: SSL_write failed", c->what);
}

/* Read exactly n plaintext bytes; a record the client cannot open fails with OpenSSL's reason. */
static void
client_read(struct client *c, void *buf, size_t n, const char *ctx)
{
	size_t got = 0;
	while (got < n) {
		size_t k = 0;
		if (SSL_read_ex(c->ssl, (char *)buf + got, n - got, &k) != 1) {
			char why[256] = "no OpenSSL error";
			unsigned long e = ERR_get_error();
			if (e != 0)
				ERR_error_string_n(e, why, sizeof(why));
			cr_assert_fail(
			    "%s: %s: read failed after %zu of %zu bytes (SSL error %d, errno "
			    "%d): %s",
			    c->what, ctx, got, n, SSL_get_error(c->ssl, 0), errno, why);
		}
		got += k;
	}
}

/* Send a KeyUpdate now (SSL_key_update only schedules it). */
static void
client_key_update(struct client *c, int type)
{
	cr_assert_eq(SSL_key_update(c->ssl, type), 1);
	cr_assert_eq(SSL_do_handshake(c->ssl), 1, "%s: sending the KeyUpdate failed", c->what);
}

/* Read a response head; returns its Content-Length after checking the status is 200. */
static size_t
client_read_head(struct client *c, const char *ctx)
{
	char head[2048];
	size_t n = 0;
	while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
		cr_assert_lt(n, sizeof(head) - 1, "%s: %s: head too long", c->what, ctx);
		client_read(c, head + n, 1, ctx);
		n++;
	}
	head[n] = '\0';
	cr_assert(strncmp(head, "HTTP/1.1 200 ", 13) == 0, "%s: %s: %s", c->what, ctx, head);
	const char *cl = strstr(head, "Content-Length: ");
	cr_assert_not_null(cl, "%s: %s: %s", c->what, ctx, head);
	return strtoul(cl + 16, NULL, 10);
}

/*
 * GET path; after `at` body bytes (if at < size) send KeyUpdate(s) of
 * `type`; the body must be want[0, size).
 */
static void
client_get(struct client *c, const char *path, const unsigned char *want, size_t size, size_t at,
	   int nupdates, int type)
{
	char req[256];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
	client_send(c, req);
	size_t clen = client_read_head(c, path);
	cr_assert_eq(clen, size, "%s: %s: Content-Length %zu", c->what, path, clen);
	unsigned char *body = malloc(size);
	cr_assert_not_null(body);
	size_t first = at < size ? at : size;
	client_read(c, body, first, path);
	if (at < size)
		for (int i = 0; i < nupdates; i++)
			client_key_update(c, type);
	client_read(c, body + first, size - first, path);
	cr_assert(memcmp(body, want, size) == 0, "%s: %s: the body differs", c->what, path);
	free(body);
}

/*
 * Read (without waiting for data) until the server's KeyUpdates number
 * `want`: true, or false if the connection ended first.  Bounded at 30 s.
 */
static bool
client_wait_updates(struct client *c, int want)
{
	int fl = fcntl(c->fd, F_GETFL);
	cr_assert_eq(fcntl(c->fd, F_SETFL, fl | O_NONBLOCK), 0);
	bool alive = true;
	for (int i = 0; i < 3000 && c->server_updates < want; i++) {
		char b;
		size_t k;
		cr_assert_eq(SSL_read_ex(c->ssl, &b, 1, &k), 0, "%s: data nobody asked for",
			     c->what);
		if (SSL_get_error(c->ssl, 0) != SSL_ERROR_WANT_READ) {
			alive = false;
			break;
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		poll(&p, 1, 10);
	}
	ERR_clear_error();
	cr_assert_eq(fcntl(c->fd, F_SETFL, fl), 0);
	return alive;
}

static uint64_t
server_key_changes(void)
{
	return counter_get(&sf_tls_stats.key_updates);
}

/* Wait (bounded, 30 s) until the server queued `n` more key changes than `base`. */
static void
wait_key_changes(uint64_t base, uint64_t n, const char *what)
{
	for (int i = 0; i < 3000 && server_key_changes() < base + n; i++)
		usleep(10000);
	cr_assert_eq(server_key_changes(), base + n, "%s: the server changed its keys %llu times",
		     what, (unsigned long long)(server_key_changes() - base));
}

Test(https_keyupdate, requested_while_the_file_is_being_read)
{
	for (int i = 0; i < NCIPHERS; i++) {
		struct client c;
		client_connect(&c, ciphers[i]);
		char req[64];
		snprintf(req, sizeof(req), "GET /cold%d.bin HTTP/1.1\r\nHost: l\r\n\r\n", i);
		client_send(&c, req);
		for (int k = 0; k < 3000 && mempager_pending(cold[i]) == 0; k++)
			usleep(10000);
		cr_assert_gt(mempager_pending(cold[i]), 0, "the cold read never reached the pager");

		/*
		 * The server answers after the queued head and the pages being
		 * read: its KeyUpdate record waits behind them in the send buffer.
		 */
		uint64_t base = server_key_changes();
		client_key_update(&c, SSL_KEY_UPDATE_REQUESTED);
		wait_key_changes(base, 1, ciphers[i]);
		cr_assert_gt(mempager_pending(cold[i]), 0, "the cold read completed by itself");
		cr_assert_eq(c.server_updates, 0);

		/* Now the pages arrive: sealed with the old key, then the KeyUpdate. */
		mempager_set_mode(cold[i], MEMPAGER_THREAD, 0);
		mempager_complete_pending(cold[i]);
		size_t clen = client_read_head(&c, "cold");
		cr_assert_eq(clen, COLD_SIZE);
		unsigned char *body = malloc(COLD_SIZE);
		client_read(&c, body, COLD_SIZE, "cold body");
		cr_assert(memcmp(body, cold_data[i], COLD_SIZE) == 0, "%s: the cold body differs",
			  ciphers[i]);
		free(body);

		/* The next response is under the new key. */
		client_get(&c, "/big.bin", big_data, BIG_SIZE, BIG_SIZE, 0, 0);
		cr_assert_eq(c.server_updates, 1, "%s: %d KeyUpdates from the server", ciphers[i],
			     c.server_updates);
		client_close(&c);
	}
}

Test(https_keyupdate, several_on_one_keep_alive_connection)
{
	for (int i = 0; i < NCIPHERS; i++) {
		struct client c;
		client_connect(&c, ciphers[i]);
		uint64_t base = server_key_changes();
		int want = 0;
		/* One in the middle of each large download, at different points. */
		for (int r = 0; r < 4; r++) {
			client_get(&c, "/big.bin", big_data, BIG_SIZE, 4096 + (size_t)r * 300000, 1,
				   SSL_KEY_UPDATE_REQUESTED);
			want++;
		}
		/* Two in a row: two answers, two key changes back to back. */
		client_get(&c, "/big.bin", big_data, BIG_SIZE, 65536, 2, SSL_KEY_UPDATE_REQUESTED);
		want += 2;
		/* Not requested: the client changes its key; the server only follows it. */
		client_get(&c, "/big.bin", big_data, BIG_SIZE, 1000, 1,
			   SSL_KEY_UPDATE_NOT_REQUESTED);
		/* Before the first byte of a response, and a request after each. */
		client_key_update(&c, SSL_KEY_UPDATE_REQUESTED);
		want++;
		client_get(&c, "/big.bin", big_data, BIG_SIZE, BIG_SIZE, 0, 0);
		client_key_update(&c, SSL_KEY_UPDATE_NOT_REQUESTED);
		client_get(&c, "/big.bin", big_data, BIG_SIZE, BIG_SIZE, 0, 0);

		cr_assert_eq(c.server_updates, want, "%s: %d KeyUpdates from the server, want %d",
			     ciphers[i], c.server_updates, want);
		cr_assert_eq(server_key_changes(), base + (uint64_t)want);
		client_close(&c);
	}
}

Test(https_keyupdate, too_many_without_a_request_end_the_connection)
{
	struct client c;
	client_connect(&c, ciphers[0]);
	for (int round = 0; round < 2; round++) {
		for (int k = 1; k <= 32; k++) {
			client_key_update(&c, SSL_KEY_UPDATE_REQUESTED);
			cr_assert(client_wait_updates(&c, round * 32 + k),
				  "the connection ended at KeyUpdate %d of round %d", k, round);
		}
		/* A request in between: the count starts again, the keys are right. */
		if (round == 0)
			client_get(&c, "/big.bin", big_data, BIG_SIZE, BIG_SIZE, 0, 0);
	}
	client_key_update(&c, SSL_KEY_UPDATE_REQUESTED);
	cr_assert_not(client_wait_updates(&c, 65), "the 33rd KeyUpdate in a row was answered");
	cr_assert_eq(c.server_updates, 64);
	SSL_free(c.ssl);
	close(c.fd);
}

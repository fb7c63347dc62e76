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
 *     the connection (each answer grows the server's send queue);
 *   - a worn key (tls_key_update_records): the server's own KeyUpdates
 *     during downloads, unasked; more than 32 in one response do not end
 *     the connection (they are not answers); none with the limit off;
 *   - HTTP/2 (ALPN h2, libnghttp2's client session): on one connection a
 *     cold file of several reads, a large one and two small ones in flight
 *     at once, and KeyUpdates (requested, not requested, two in a row) while
 *     the cold file's first read is pending and in the middle of the
 *     bodies; every body byte-exact, exactly one KeyUpdate from the server
 *     per update_requested, and the connection still serving after.  There
 *     a cold stream's pages are read into a hold before they are framed
 *     (src/http/h2.c), so the server's KeyUpdate goes out at once, ahead
 *     of them.
 *
 * No timing is asserted: the test waits (bounded) for the pager's pending
 * read and for the server's key-change counter, and every read is bounded
 * by a receive timeout, so a broken server fails the test instead of
 * hanging it.
 */
#include "core/util.h"
#include "http/http_server.h"
#include "sendfile/sendfile.h"
#include "support/h2client.h"
#include "support/memfs.h"
#include "support/mempager.h"
#include "support/net.h"
#include "support/tls.h"
#include "tls/tls.h"
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

#define COLD_SIZE (160 * 1024 + 123)      /* fits the send buffer: queued whole, not ready */
#define BIG_SIZE  (1024 * 1024 + 4321)    /* more than the send buffer */
#define HUGE_SIZE (12 * 1024 * 1024 + 77) /* more than 32 send buffers (48 at 256 KiB) */
/* More than one HTTP/2 hold (H2_HOLD_BYTES, 256 KiB): read in several goes. */
#define H2_COLD_SIZE (3 * 256 * 1024 + 4567)
#define HOT_SIZE     (1000 + 7)
#define NCIPHERS     3
#define NHOT         2

static const char *const ciphers[NCIPHERS] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
					      "TLS_CHACHA20_POLY1305_SHA256"};

static struct test_tls tls;
static struct http_server *srv;
static int port;
static struct vm_object *cold[NCIPHERS], *big, *huge;
static unsigned char *cold_data[NCIPHERS], *big_data, *huge_data;
static struct vm_object *h2cold[NCIPHERS], *hot[NHOT];
static unsigned char *h2cold_data[NCIPHERS], *hot_data[NHOT];
static char h2cold_path[NCIPHERS][16], hot_path[NHOT][16];

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

/*
 * Serve `size` pattern bytes as `name` (which must outlive the mount); a
 * deferred file is cold: its page-ins complete only when the test says so.
 */
static struct vm_object *
file_add(const char *name, size_t size, unsigned seed, bool deferred, unsigned char **data)
{
	*data = pattern(size, seed);
	struct vm_object *obj = mempager_create(*data, size, 0, name);
	if (deferred)
		mempager_set_mode(obj, MEMPAGER_DEFERRED, 0);
	test_memfs_add(name, obj, size);
	return obj;
}

static void
file_drop(struct vm_object *obj, unsigned char *data)
{
	vm_object_deallocate(obj);
	free(data);
}

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(vm_init(16 << 20), 0);
	static char names[NCIPHERS][16];
	for (int i = 0; i < NCIPHERS; i++) {
		snprintf(names[i], sizeof(names[i]), "cold%d.bin", i);
		cold[i] = file_add(names[i], COLD_SIZE, (unsigned)i + 1, true, &cold_data[i]);
		snprintf(h2cold_path[i], sizeof(h2cold_path[i]), "/h2cold%d.bin", i);
		h2cold[i] = file_add(h2cold_path[i] + 1, H2_COLD_SIZE, (unsigned)i + 10, true,
				     &h2cold_data[i]);
	}
	big = file_add("big.bin", BIG_SIZE, 99, false, &big_data);
	huge = file_add("huge.bin", HUGE_SIZE, 98, false, &huge_data);
	for (int i = 0; i < NHOT; i++) {
		/* Synchronous: read before getpages returns, never waited for. */
		snprintf(hot_path[i], sizeof(hot_path[i]), "/hot%d.bin", i);
		hot[i] = file_add(hot_path[i] + 1, HOT_SIZE * (size_t)(i + 1), (unsigned)i + 20,
				  false, &hot_data[i]);
	}
	cr_assert_eq(test_memfs_mount("/"), 0);
	test_tls_setup(&tls);
	/* h2 for clients that offer it (ALPN), HTTP/1.1 for the others. */
	tls_server_set_alpn(tls.srv, (const unsigned char *)HTTP_ALPN_H2, sizeof(HTTP_ALPN_H2) - 1);

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
		file_drop(cold[i], cold_data[i]);
		file_drop(h2cold[i], h2cold_data[i]);
	}
	file_drop(big, big_data);
	file_drop(huge, huge_data);
	for (int i = 0; i < NHOT; i++)
		file_drop(hot[i], hot_data[i]);
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

/* A TLS 1.3 connection with `cipher`, offering ALPN `alpn` (wire format) unless NULL. */
static void
client_connect(struct client *c, const char *cipher, const char *alpn)
{
	memset(c, 0, sizeof(*c));
	c->what = cipher;
	c->fd = test_tcp_connect(port);
	cr_assert_geq(c->fd, 0, "connect: %s", strerror(-c->fd));
	struct timeval tv = {.tv_sec = 30};
	cr_assert_eq(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	cr_assert_eq(setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	c->ssl = SSL_new(tls.cctx);
	cr_assert_not_null(c->ssl);
	SSL_set_min_proto_version(c->ssl, TLS1_3_VERSION);
	cr_assert_eq(SSL_set_ciphersuites(c->ssl, cipher), 1);
	SSL_set_msg_callback(c->ssl, client_msg);
	SSL_set_msg_callback_arg(c->ssl, c);
	SSL_set_fd(c->ssl, c->fd);
	if (alpn != NULL)
		cr_assert_eq(SSL_set_alpn_protos(c->ssl, (const unsigned char *)alpn, strlen(alpn)),
			     0);
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
		client_connect(&c, ciphers[i], NULL);
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
		client_connect(&c, ciphers[i], NULL);
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
	client_connect(&c, ciphers[0], NULL);
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

/*
 * HTTP/2: what the client does between its reads of one batch of streams.
 * Each stage waits for its point in the bodies, acts once, and moves on.
 */
struct h2_keyupdate {
	struct client *c;
	struct vm_object *cold_obj;
	struct test_h2_stream *cold, *big;
	int stage;
	int want;      /* KeyUpdates the server owes: one per update_requested */
	uint64_t base; /* the server's key changes before the connection */
};

#define H2_STAGES 4

static void
h2_keyupdate_step(void *arg)
{
	struct h2_keyupdate *k = arg;
	struct client *c = k->c;
	const struct test_h2_stream *mid = k->cold; /* the body this stage is in the middle of */
	switch (k->stage) {
	case 0:
		/* The cold file's first read is pending; the large body is under way. */
		if (mempager_pending(k->cold_obj) == 0 || k->big->len < 64 * 1024)
			return;
		client_key_update(c, SSL_KEY_UPDATE_REQUESTED);
		k->want++;
		wait_key_changes(k->base, (uint64_t)k->want, c->what);
		cr_assert_gt(mempager_pending(k->cold_obj), 0,
			     "%s: the cold read completed by itself", c->what);
		cr_assert_eq(k->cold->len, 0, "%s: cold bytes framed before they were read",
			     c->what);
		/* Its pages arrive now, and every later read of it on its own. */
		mempager_set_mode(k->cold_obj, MEMPAGER_THREAD, 0);
		mempager_complete_pending(k->cold_obj);
		break;
	case 1:
		/* Not requested, in the middle of the large body: the server changes nothing. */
		if (k->big->len < 300 * 1024)
			return;
		client_key_update(c, SSL_KEY_UPDATE_NOT_REQUESTED);
		mid = k->big;
		break;
	case 2:
		/* Two in a row, past the cold file's first hold. */
		if (k->cold->len < 300 * 1024)
			return;
		client_key_update(c, SSL_KEY_UPDATE_REQUESTED);
		client_key_update(c, SSL_KEY_UPDATE_REQUESTED);
		k->want += 2;
		break;
	case 3:
		if (k->cold->len < 600 * 1024)
			return;
		client_key_update(c, SSL_KEY_UPDATE_REQUESTED);
		k->want++;
		break;
	default:
		return;
	}
	cr_assert(!mid->ended, "%s: stage %d after %s ended", c->what, k->stage, mid->path);
	k->stage++;
}

/* Every stream of a batch came whole and byte-exact; free their bodies. */
static void
h2_check_batch(struct test_h2_stream *st, int nst, bool alive, const char *what)
{
	cr_assert(alive, "%s: the connection ended: %s", what, test_conn_error());
	for (int i = 0; i < nst; i++)
		test_h2_check(&st[i], true, what);
	test_h2_streams_free(st, nst);
}

/*
 * A worn key (tls_key_update_records): the server sends KeyUpdates of its
 * own, unasked, once a key sealed that many records; every body stays
 * byte-exact and the connection goes on.  With a limit of 1 a single long
 * response gets more of them than the 32 answers a client may ask for
 * without a request: ours are not answers, so the connection lives.
 */
Test(https_keyupdate, server_changes_a_worn_key)
{
	int64_t saved = __atomic_load_n(&tls_key_update_records, __ATOMIC_RELAXED);
	for (int i = 0; i < NCIPHERS; i++) {
		__atomic_store_n(&tls_key_update_records, 16, __ATOMIC_RELAXED);
		struct client c;
		client_connect(&c, ciphers[i], NULL);
		uint64_t base = server_key_changes();
		for (int r = 0; r < 3; r++)
			client_get(&c, "/big.bin", big_data, BIG_SIZE, BIG_SIZE, 0, 0);
		client_get(&c, hot_path[0], hot_data[0], HOT_SIZE, HOT_SIZE, 0, 0);
		/* Each download is 65 records: worn at least once, and no key changed before 16. */
		int records = 3 * (int)(BIG_SIZE / VMS_TLS_MAX_PLAIN + 2) + 1;
		cr_assert_geq(c.server_updates, 3, "%s: %d KeyUpdates from the server", ciphers[i],
			      c.server_updates);
		cr_assert_leq(c.server_updates, records / 16 + 1, "%s: %d KeyUpdates", ciphers[i],
			      c.server_updates);
		cr_assert_geq(server_key_changes() - base, (uint64_t)c.server_updates);

		__atomic_store_n(&tls_key_update_records, 1, __ATOMIC_RELAXED);
		c.server_updates = 0;
		client_get(&c, "/huge.bin", huge_data, HUGE_SIZE, HUGE_SIZE, 0, 0);
		cr_assert_gt(c.server_updates, 32, "%s: %d KeyUpdates in one response", ciphers[i],
			     c.server_updates);
		/* Off: the next response changes nothing. */
		__atomic_store_n(&tls_key_update_records, 0, __ATOMIC_RELAXED);
		c.server_updates = 0;
		client_get(&c, "/big.bin", big_data, BIG_SIZE, BIG_SIZE, 0, 0);
		client_get(&c, hot_path[1], hot_data[1], 2 * HOT_SIZE, 2 * HOT_SIZE, 0, 0);
		cr_assert_leq(c.server_updates, 1, "%s: %d KeyUpdates with the limit off",
			      ciphers[i],
			      c.server_updates); /* one may have been queued before it was off */
		client_close(&c);
	}
	__atomic_store_n(&tls_key_update_records, saved, __ATOMIC_RELAXED);
}

Test(https_keyupdate, h2_streams_across_key_updates)
{
	for (int i = 0; i < NCIPHERS; i++) {
		struct client c;
		client_connect(&c, ciphers[i], "\x02h2");
		const unsigned char *proto;
		unsigned plen = 0;
		SSL_get0_alpn_selected(c.ssl, &proto, &plen);
		cr_assert(plen == 2 && memcmp(proto, "h2", 2) == 0, "%s: ALPN did not agree on h2",
			  ciphers[i]);
		struct test_conn x = {.fd = c.fd, .ssl = c.ssl};
		struct test_h2 *h = test_h2_open(&x, "https", ciphers[i]);

		struct test_h2_stream st[] = {
		    {.path = h2cold_path[i], .want = h2cold_data[i], .wantlen = H2_COLD_SIZE},
		    {.path = "/big.bin", .want = big_data, .wantlen = BIG_SIZE},
		    {.path = hot_path[0], .want = hot_data[0], .wantlen = HOT_SIZE},
		    {.path = hot_path[1], .want = hot_data[1], .wantlen = 2 * HOT_SIZE},
		};
		struct h2_keyupdate k = {.c = &c,
					 .cold_obj = h2cold[i],
					 .cold = &st[0],
					 .big = &st[1],
					 .base = server_key_changes()};
		bool alive = test_h2_get(h, st, nitems(st), h2_keyupdate_step, &k);
		h2_check_batch(st, nitems(st), alive, ciphers[i]);
		cr_assert_eq(k.stage, H2_STAGES, "%s: the bodies ended at stage %d", ciphers[i],
			     k.stage);
		struct mempager_stats ms;
		mempager_get_stats(h2cold[i], &ms);
		cr_assert_gt(ms.ios, 1, "%s: the cold file came in one read", ciphers[i]);

		/* Before the next requests: their answers come under the keys after it. */
		client_key_update(&c, SSL_KEY_UPDATE_REQUESTED);
		k.want++;
		struct test_h2_stream again[] = {
		    {.path = "/big.bin", .want = big_data, .wantlen = BIG_SIZE},
		    {.path = hot_path[0], .want = hot_data[0], .wantlen = HOT_SIZE},
		    {.path = h2cold_path[i], .want = h2cold_data[i], .wantlen = H2_COLD_SIZE},
		};
		alive = test_h2_get(h, again, nitems(again), NULL, NULL);
		h2_check_batch(again, nitems(again), alive, ciphers[i]);

		cr_assert_eq(c.server_updates, k.want, "%s: %d KeyUpdates from the server, want %d",
			     ciphers[i], c.server_updates, k.want);
		cr_assert_eq(server_key_changes(), k.base + (uint64_t)k.want);
		test_h2_close(h);
		client_close(&c);
	}
}

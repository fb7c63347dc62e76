/*
 * malloc failing at the Nth call on the HTTPS path: setting up a TLS
 * connection (the vms_socket, tls_conn, OpenSSL's SSL and everything the
 * handshake allocates, the transmit keys) and sending a file through it
 * (sendfile, swapin, sealing the records), also after a client's TLS 1.3
 * KeyUpdate (the server's answer, the next keys, the key change queued
 * before the file: a failure there must end the connection, never leave
 * records under a key the client does not expect).  OpenSSL's allocations are
 * routed through the counted allocator with CRYPTO_set_mem_functions; the
 * client side of the handshake (OpenSSL too, same thread) is exempt.
 *
 * After each N: the client got "head" + the file whole or a clean prefix of
 * it, and nothing leaked (fat_check_clean: no socket, page busy or wired,
 * object, vnode or fd; LeakSanitizer at the end).  The certificate is made
 * in memory at start (a test-only key in a temp dir).
 */
#include "alloc_testlib.h"
#include "alloc_tls.h"
#include "fault_alloc.h"

#include "core/util.h"
#include "io/io.h"
#include "sendfile/sendfile.h"
#include "tls/tls.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void *__real_malloc(size_t n);

static void
setup(void)
{
	fat_setup();
	fat_tls_setup();
}

static void
teardown(void)
{
	fat_tls_teardown();
	fat_teardown();
}

TestSuite(fault_alloc_tls, .init = setup, .fini = teardown, .timeout = 600);

struct client {
	SSL *ssl;
	BIO *in, *out;  /* memory BIOs: ciphertext from / to the server */
	size_t fed;     /* bytes of the fat_conn buffer given to `in` */
	uint8_t *plain; /* what SSL_read returned */
	size_t plen;
	bool hs_done;
};

static void
client_new(struct client *cl, uint16_t version)
{
	fat_tls_client_mode = true;
	memset(cl, 0, sizeof(*cl));
	cl->ssl = SSL_new(fat_tls.cctx);
	cl->in = BIO_new(BIO_s_mem());
	cl->out = BIO_new(BIO_s_mem());
	cr_assert(cl->ssl && cl->in && cl->out);
	SSL_set_min_proto_version(cl->ssl, version);
	SSL_set_max_proto_version(cl->ssl, version);
	SSL_set_bio(cl->ssl, cl->in, cl->out);
	SSL_set_connect_state(cl->ssl);
	cl->plain = __real_malloc(FILE_SIZE + 64);
	fat_tls_client_mode = false;
}

/* Move ciphertext both ways and let the client handshake or read. */
static void
client_step(struct client *cl, struct fat_conn *c)
{
	fat_tls_client_mode = true;
	fat_conn_drain(c);
	if (c->len > cl->fed) {
		BIO_write(cl->in, c->buf + cl->fed, (int)(c->len - cl->fed));
		cl->fed = c->len;
	}
	if (!cl->hs_done) {
		cl->hs_done = SSL_do_handshake(cl->ssl) == 1;
	}
	if (cl->hs_done) {
		size_t got;
		while (cl->plen < FILE_SIZE + 64 &&
		       SSL_read_ex(cl->ssl, cl->plain + cl->plen, FILE_SIZE + 64 - cl->plen,
				   &got) == 1)
			cl->plen += got;
	}
	char buf[4096];
	int k;
	while ((k = BIO_read(cl->out, buf, sizeof(buf))) > 0)
		(void)send(c->fds[1], buf, (size_t)k, MSG_NOSIGNAL); /* the server may be gone */
	ERR_clear_error();
	fat_tls_client_mode = false;
}

/* The server's side: recv ciphertext, run the handshake / read requests.  0, or its error. */
static int
server_step(struct tls_conn *t, struct fat_conn *c)
{
	char *p;
	size_t cap;
	tls_conn_inbuf(t, &p, &cap);
	if (cap > 0) {
		ssize_t k = recv(c->fds[0], p, cap, 0);
		if (k >= 0)
			tls_conn_received(t, (size_t)k);
	}
	char plain[256];
	int r = tls_conn_read(t, plain, sizeof(plain));
	io_loop_run_once(fat_loop, false, 0);
	return r < 0 ? r : vms_socket_error(c->so);
}

struct tls_case {
	uint16_t version;
	bool arm_after_handshake; /* only the send is armed */
	bool key_update; /* armed: the client's KeyUpdate(update_requested), then the send */
};

static bool
op_tls(unsigned long n, const void *arg)
{
	const struct tls_case *tc = arg;
	struct vnode *vp;
	cr_assert_eq(vfs_lookup("/h/sub/file.bin", &vp), 0);
	fat_cache_pages(vp->object, 3, 2);
	struct fat_conn c;
	fat_conn_open(&c);
	struct client cl;
	client_new(&cl, tc->version);
	struct tls_conn *t = NULL;
	struct iovec h = {"head", 4};
	struct vms_hdtr hd = {&h, 1, NULL, 0};

	if (!tc->arm_after_handshake)
		fault_alloc_arm(n);
	int r = vms_socket_create(fat_loop, c.fds[0], NULL, &c.so);
	if (r != 0)
		c.so = NULL;
	else
		r = tls_conn_new(fat_tls.srv, c.so, &t);
	for (int i = 0; r == 0 && !(cl.hs_done && tls_conn_ready(t)); i++) {
		cr_assert_lt(i, 100000, "N=%lu: the handshake never ended", n);
		client_step(&cl, &c);
		r = server_step(t, &c);
	}
	if (r == 0 && tc->arm_after_handshake)
		fault_alloc_arm(n);
	if (r == 0 && tc->key_update) {
		/* The server answers with its own KeyUpdate and new keys before the file. */
		fat_tls_client_mode = true;
		cr_assert_eq(SSL_key_update(cl.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
		cr_assert_eq(SSL_do_handshake(cl.ssl), 1);
		fat_tls_client_mode = false;
		client_step(&cl, &c);
		r = server_step(t, &c);
	}
	if (r == 0)
		r = vms_sendfile_vnode(c.so, vp, 0, 0, &hd, NULL, 0);
	for (int i = 0; r == 0 && cl.plen < 4 + FILE_SIZE; i++) {
		cr_assert_lt(i, 1000000, "N=%lu: the body never arrived", n);
		r = server_step(t, &c);
		client_step(&cl, &c);
	}
	tls_conn_free(t);
	fat_conn_close(&c, r == 0 ? VMS_CLOSE_LINGER : VMS_CLOSE_ABORT);
	client_step(&cl, &c);
	bool fired = fault_alloc_disarm();

	/* -EIO: a swapin that got no memory fails its I/O (as in test_alloc_sendfile). */
	cr_assert(r == 0 || r == -ENOMEM || r == -EPROTO || r == -ECONNRESET || r == -EIO,
		  "N=%lu: the connection failed with %d", n, r);
	cr_assert(fired || r == 0, "N=%lu: failed (%d) with nothing injected", n, r);
	cr_assert_leq(cl.plen, 4 + FILE_SIZE);
	if (r == 0)
		cr_assert_eq(cl.plen, 4 + FILE_SIZE, "N=%lu: %zu bytes of a whole stream", n,
			     cl.plen);
	if (cl.plen > 0)
		cr_assert_eq(memcmp(cl.plain, "head", MIN(cl.plen, 4)), 0);
	if (cl.plen > 4)
		cr_assert_eq(memcmp(cl.plain + 4, fat_fdata, cl.plen - 4), 0,
			     "N=%lu: the body is not the file", n);
	fat_tls_client_mode = true;
	SSL_free(cl.ssl);
	free(cl.plain);
	fat_tls_client_mode = false;
	fat_conn_free(&c);
	vnode_rele(vp);
	return fired;
}

Test(fault_alloc_tls, connection_setup_and_send_tls13)
{
	struct tls_case all = {.version = TLS1_3_VERSION};
	struct tls_case send = {.version = TLS1_3_VERSION, .arm_after_handshake = true};
	struct tls_case ku = {
	    .version = TLS1_3_VERSION, .arm_after_handshake = true, .key_update = true};
	op_tls(ULONG_MAX, &all); /* warm OpenSSL's lazy state outside the loop */
	op_tls(ULONG_MAX, &ku);
	cr_assert_gt(fat_loop_run("alloc_tls13(send)", op_tls, &send), 3);
	cr_assert_gt(fat_loop_run("alloc_tls13(keyupdate+send)", op_tls, &ku), 10);
	cr_assert_gt(fat_loop_run("alloc_tls13(setup+send)", op_tls, &all), 20);
}

Test(fault_alloc_tls, connection_setup_and_send_tls12)
{
	struct tls_case all = {.version = TLS1_2_VERSION};
	op_tls(ULONG_MAX, &all);
	cr_assert_gt(fat_loop_run("alloc_tls12(setup+send)", op_tls, &all), 20);
}

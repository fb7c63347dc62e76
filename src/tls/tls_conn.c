/*
 * One TLS connection: OpenSSL's SSL over a BIO of ours.
 *
 * The BIO reads the ciphertext the HTTP layer received (tls_conn_inbuf /
 * tls_conn_received) and writes to the connection's vms_socket.  It also
 * answers OpenSSL's kernel-TLS controls, which is how the transmit keys
 * reach the sendfile engine without copying any of OpenSSL's internals:
 *
 *   BIO_CTRL_SET_KTLS (tx)    crypto_info (linux/tls.h layout) -> vms_socket_tls_tx()
 *   BIO_CTRL_GET_KTLS_SEND    1 from then on: OpenSSL writes plaintext
 *   ..._SEND_CTRL_MSG / CLEAR the record type of OpenSSL's next write
 *                             (handshake: tickets, key updates; alert)
 *
 * OpenSSL checks these before it uses kernel TLS (SSL_OP_ENABLE_KTLS, a
 * supported AEAD, full-size records), so a session it would not hand over
 * keeps OpenSSL's own record layer; then there is no way to send pages and
 * the connection fails with a logged reason (our cipher list has only
 * ciphers it hands over).  We never take the receive keys: OpenSSL decrypts.
 */
#include "tls/tls_impl.h"

#include "core/log.h"
#include "sendfile/sendfile.h"

#include <errno.h>
#include <linux/tls.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL's internal BIO controls for kernel TLS (include/internal/bio.h, stable in 3.x). */
#define TLS_BIO_SET_KTLS          72
#define TLS_BIO_SET_KTLS_CTRL_MSG 74
#define TLS_BIO_CLR_KTLS_CTRL_MSG 75

static BIO_METHOD *tls_bio_method;
static pthread_once_t tls_bio_once = PTHREAD_ONCE_INIT;

static int
tls_bio_write(BIO *b, const char *data, int len)
{
	struct tls_conn *tc = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	uint8_t type = tc->ctl_type != 0 ? tc->ctl_type : 23;
	int rc = vms_socket_write_record(tc->so, type, data, (size_t)len);
	if (rc != 0) {
		snprintf(tc->why, sizeof(tc->why), "send: %s", strerror(-rc));
		return -1;
	}
	return len;
}

static int
tls_bio_read(BIO *b, char *out, int len)
{
	struct tls_conn *tc = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	size_t avail = tc->inlen - tc->inoff;
	if (avail == 0) {
		if (tc->eof)
			return 0;
		BIO_set_retry_read(b);
		return -1;
	}
	size_t n = avail < (size_t)len ? avail : (size_t)len;
	memcpy(out, tc->in + tc->inoff, n);
	/*
	 * No rewind to the start when all is read: a recv may be in flight
	 * into in[inlen..) (tls_conn_inbuf, which compacts, is not called
	 * then), and its bytes must land after the ones read here.
	 */
	tc->inoff += n;
	return (int)n;
}

/* OpenSSL's crypto_info for kernel TLS -> the engine's transmit keys. */
static long
tls_bio_set_tx(struct tls_conn *tc, const void *info)
{
	const struct tls_crypto_info *ci = info;
	struct vms_tls_tx tx = {.version = ci->version};
	const unsigned char *seq;
	switch (ci->cipher_type) {
	case TLS_CIPHER_AES_GCM_128: {
		const struct tls12_crypto_info_aes_gcm_128 *g = info;
		tx.cipher = VMS_TLS_AES_128_GCM;
		memcpy(tx.key, g->key, sizeof(g->key));
		memcpy(tx.iv, g->salt, 4);
		memcpy(tx.iv + 4, g->iv, 8);
		seq = g->rec_seq;
		break;
	}
	case TLS_CIPHER_AES_GCM_256: {
		const struct tls12_crypto_info_aes_gcm_256 *g = info;
		tx.cipher = VMS_TLS_AES_256_GCM;
		memcpy(tx.key, g->key, sizeof(g->key));
		memcpy(tx.iv, g->salt, 4);
		memcpy(tx.iv + 4, g->iv, 8);
		seq = g->rec_seq;
		break;
	}
	case TLS_CIPHER_CHACHA20_POLY1305: {
		const struct tls12_crypto_info_chacha20_poly1305 *g = info;
		tx.cipher = VMS_TLS_CHACHA20_POLY1305;
		memcpy(tx.key, g->key, sizeof(g->key));
		memcpy(tx.iv, g->iv, 12);
		seq = g->rec_seq;
		break;
	}
	default:
		return 0;
	}
	for (int i = 0; i < 8; i++)
		tx.seq = tx.seq << 8 | seq[i];
	int rc = vms_socket_tls_tx(tc->so, &tx);
	explicit_bzero(&tx, sizeof(tx));
	if (rc < 0) {
		snprintf(tc->why, sizeof(tc->why), "cannot start TLS records: %s", strerror(-rc));
		return 0;
	}
	tc->tx_on = true;
	return 1;
}

static long
tls_bio_ctrl(BIO *b, int cmd, long larg, void *parg)
{
	struct tls_conn *tc = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return tc->eof && tc->inoff == tc->inlen;
	case BIO_CTRL_GET_KTLS_SEND:
		return tc->tx_on;
	case BIO_CTRL_GET_KTLS_RECV:
		return 0;
	case TLS_BIO_SET_KTLS:
		return larg != 0 && !tc->tx_on ? tls_bio_set_tx(tc, parg) : 0;
	case TLS_BIO_SET_KTLS_CTRL_MSG:
		tc->ctl_type = (uint8_t)larg;
		return 1;
	case TLS_BIO_CLR_KTLS_CTRL_MSG:
		tc->ctl_type = 0;
		return 1;
	default:
		return 0;
	}
}

static void
tls_bio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vmsend");
	if (m == NULL || BIO_meth_set_write(m, tls_bio_write) != 1 ||
	    BIO_meth_set_read(m, tls_bio_read) != 1 || BIO_meth_set_ctrl(m, tls_bio_ctrl) != 1) {
		BIO_meth_free(m);
		return;
	}
	tls_bio_method = m;
}

int
tls_conn_new(struct tls_server *srv, struct vms_socket *so, struct tls_conn **out)
{
	pthread_once(&tls_bio_once, tls_bio_method_init);
	if (tls_bio_method == NULL)
		return -ENOMEM;
	struct tls_conn *tc = calloc(1, sizeof(*tc));
	if (tc == NULL)
		return -ENOMEM;
	tc->so = so;
	tc->in = malloc(TLS_INBUF);
	tc->ssl = SSL_new(srv->ctx[0]);
	tc->bio = BIO_new(tls_bio_method);
	if (tc->in == NULL || tc->ssl == NULL || tc->bio == NULL) {
		BIO_free(tc->bio);
		tls_conn_free(tc);
		ERR_clear_error();
		return -ENOMEM;
	}
	BIO_set_data(tc->bio, tc);
	BIO_set_init(tc->bio, 1);
	SSL_set_bio(tc->ssl, tc->bio, tc->bio); /* the SSL owns the BIO now */
	SSL_set_accept_state(tc->ssl);
	*out = tc;
	return 0;
}

void
tls_conn_free(struct tls_conn *tc)
{
	if (tc == NULL)
		return;
	SSL_free(tc->ssl);
	free(tc->in);
	free(tc);
}

void
tls_conn_inbuf(struct tls_conn *tc, char **p, size_t *cap)
{
	if (tc->inoff > 0) {
		memmove(tc->in, tc->in + tc->inoff, tc->inlen - tc->inoff);
		tc->inlen -= tc->inoff;
		tc->inoff = 0;
	}
	*p = tc->in + tc->inlen;
	*cap = TLS_INBUF - tc->inlen;
}

void
tls_conn_received(struct tls_conn *tc, size_t n)
{
	if (n == 0)
		tc->eof = true;
	tc->inlen += n;
}

/* An SSL call failed with `ret`: 0 (wants input), or the error to report. */
static int
tls_conn_fail(struct tls_conn *tc, int ret)
{
	int e = SSL_get_error(tc->ssl, ret);
	if (e == SSL_ERROR_WANT_READ) {
		ERR_clear_error();
		return tc->eof ? -ECONNRESET : 0;
	}
	if (e == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		return TLS_CONN_EOF;
	}
	unsigned long err = ERR_peek_last_error();
	if (err != 0)
		ERR_error_string_n(err, tc->why, sizeof(tc->why));
	else if (tc->why[0] == '\0')
		snprintf(tc->why, sizeof(tc->why), "%s",
			 tc->eof ? "peer closed during the handshake" : "TLS failure");
	ERR_clear_error();
	if (e == SSL_ERROR_SYSCALL && err == 0 && tc->eof)
		return -ECONNRESET;
	return ERR_GET_REASON(err) == ERR_R_MALLOC_FAILURE ? -ENOMEM : -EPROTO;
}

int
tls_conn_read(struct tls_conn *tc, char *out, size_t cap)
{
	if (!tc->ready) {
		int r = SSL_do_handshake(tc->ssl);
		if (r != 1)
			return tls_conn_fail(tc, r);
		if (!tc->tx_on) {
			/* OpenSSL kept its own record layer: we could not send pages. */
			snprintf(tc->why, sizeof(tc->why),
				 "OpenSSL did not hand over the transmit keys (%s)",
				 SSL_get_cipher_name(tc->ssl));
			return -EPROTO;
		}
		tc->ready = true;
	}
	size_t got = 0;
	int r = SSL_read_ex(tc->ssl, out, cap, &got);
	if (r == 1)
		return (int)got;
	return tls_conn_fail(tc, r);
}

bool
tls_conn_ready(const struct tls_conn *tc)
{
	return tc->ready;
}

const char *
tls_conn_alpn(const struct tls_conn *tc)
{
	const unsigned char *p;
	unsigned int len;
	SSL_get0_alpn_selected(tc->ssl, &p, &len);
	if (len == 8 && memcmp(p, "http/1.1", 8) == 0)
		return "http/1.1";
	if (len == 2 && memcmp(p, "h2", 2) == 0)
		return "h2";
	return NULL;
}

void
tls_conn_shutdown(struct tls_conn *tc)
{
	if (!tc->ready || tc->shut)
		return;
	tc->shut = true;
	SSL_shutdown(tc->ssl); /* queues close_notify; we do not wait for the peer's */
	ERR_clear_error();
}

const char *
tls_conn_error(const struct tls_conn *tc)
{
	return tc->why;
}

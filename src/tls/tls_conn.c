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
 *
 * KeyUpdate (TLS 1.3).  A peer's KeyUpdate changes only its own keys, which
 * OpenSSL handles on the receive side.  With update_requested OpenSSL owes
 * the peer a KeyUpdate of its own, after which our records must use the
 * next transmit keys.  OpenSSL 3.0 does not hand those over (it offers
 * BIO_CTRL_SET_KTLS only at the handshake) and sends the answer at its next
 * SSL_write, which a server whose bytes go through the engine never makes.
 * So:
 *
 *   tls_conn_read       after SSL_read, a KeyUpdate still owed is sent at
 *                       once (SSL_key_update + SSL_do_handshake);
 *   tls_bio_write       a handshake record holding a KeyUpdate is queued,
 *                       then the next keys (vms_socket_tls_rekey): the
 *                       engine applies them after that record, in byte
 *                       order, file pages still being read keep the old key;
 *   a limit             TLS_MAX_KEY_UPDATES answers in a row without
 *                       application data from the peer, then the
 *                       connection ends (each answer grows the queue);
 *   a worn key          after tls_key_update_records records under one key
 *                       (tls_conn_check_key, from tls_conn_read and from
 *                       the HTTP layer whenever the send buffer drains) we
 *                       send KeyUpdate(update_not_requested) ourselves, the
 *                       same way; these do not count towards the limit;
 *   the next keys       RFC 8446 7.2: secret' = HKDF-Expand-Label(secret,
 *                       "traffic upd", "", Hash.length), then "key" / "iv"
 *                       from secret', sequence numbers from 0.  The first
 *                       secret comes from the keylog callback
 *                       (SERVER_TRAFFIC_SECRET_0), checked against the keys
 *                       OpenSSL handed over.
 */
#include "tls/tls_impl.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/tunable.h"
#include "sendfile/sendfile.h"

#include <errno.h>
#include <linux/tls.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL's internal BIO controls for kernel TLS (include/internal/bio.h, stable in 3.x). */
#define TLS_BIO_SET_KTLS          72
#define TLS_BIO_SET_KTLS_CTRL_MSG 74
#define TLS_BIO_CLR_KTLS_CTRL_MSG 75

#define TLS_RT_HANDSHAKE  22
#define TLS_MT_KEY_UPDATE 24

static BIO_METHOD *tls_bio_method;
static pthread_once_t tls_bio_once = PTHREAD_ONCE_INIT;

VMS_TUNABLE(tls_key_update_records, "tls_key_update_records", 1 << 24,
	    "TLS 1.3: records one transmit key seals before the server changes it with a "
	    "KeyUpdate (AES-GCM should seal at most 2^24.5, RFC 8446 5.5); 0: only when asked");

/* HKDF, fetched once for the process (a fetch per call is a provider lookup per handshake). */
static EVP_KDF *tls_hkdf;
static pthread_once_t tls_hkdf_once = PTHREAD_ONCE_INIT;

static void
tls_hkdf_fetch(void)
{
	tls_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

/* RFC 8446 7.1 HKDF-Expand-Label(secret, label, "", olen) with the suite's hash. */
static int
tls_expand_label(const EVP_MD *md, const uint8_t *secret, size_t slen, const char *label,
		 uint8_t *out, size_t olen)
{
	uint8_t info[4 + 6 + 32];
	size_t ll = strlen(label);
	ASSERT3U(ll, <=, 32);
	info[0] = (uint8_t)(olen >> 8);
	info[1] = (uint8_t)olen;
	info[2] = (uint8_t)(6 + ll);
	memcpy(info + 3, "tls13 ", 6);
	memcpy(info + 9, label, ll);
	info[9 + ll] = 0; /* no context */
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md),
					     0),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, 10 + ll),
	    OSSL_PARAM_construct_end(),
	};
	(void)pthread_once(&tls_hkdf_once, tls_hkdf_fetch);
	EVP_KDF_CTX *kctx = tls_hkdf != NULL ? EVP_KDF_CTX_new(tls_hkdf) : NULL;
	bool ok = kctx != NULL && EVP_KDF_derive(kctx, out, olen, params) == 1;
	EVP_KDF_CTX_free(kctx);
	return ok ? 0 : -ENOMEM;
}

/* The transmit keys of traffic secret `secret` (TLS 1.3, sequence 0). */
static int
tls_conn_traffic_keys(struct tls_conn *tc, const EVP_MD *md, const uint8_t *secret,
		      struct vms_tls_tx *tx)
{
	*tx = (struct vms_tls_tx){.version = 0x0304, .cipher = tc->cipher};
	size_t klen = tc->cipher == VMS_TLS_AES_128_GCM ? 16 : 32;
	int rc = tls_expand_label(md, secret, tc->secret_len, "key", tx->key, klen);
	if (rc == 0)
		rc = tls_expand_label(md, secret, tc->secret_len, "iv", tx->iv, sizeof(tx->iv));
	return rc;
}

/* The suite's hash, if `secret` is one of its length. */
static const EVP_MD *
tls_conn_md(struct tls_conn *tc)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(tc->ssl);
	const EVP_MD *md = c != NULL ? SSL_CIPHER_get_handshake_digest(c) : NULL;
	if (md == NULL || tc->secret_len == 0 || (size_t)EVP_MD_get_size(md) != tc->secret_len)
		return NULL;
	return md;
}

/* The traffic secret after our next KeyUpdate, and its keys. */
static int
tls_conn_next_keys(struct tls_conn *tc, uint8_t *next, struct vms_tls_tx *tx)
{
	const EVP_MD *md = tls_conn_md(tc);
	if (md == NULL)
		return -EPROTO;
	int rc =
	    tls_expand_label(md, tc->secret, tc->secret_len, "traffic upd", next, tc->secret_len);
	if (rc == 0)
		rc = tls_conn_traffic_keys(tc, md, next, tx);
	return rc;
}

/*
 * Does this handshake record end with a KeyUpdate?  1 yes, 0 no, -1 a
 * KeyUpdate with more after it in the same record (the keys would change
 * inside a record: never done by OpenSSL, refused).
 */
static int
tls_has_key_update(const uint8_t *p, size_t len)
{
	size_t off = 0;
	while (len - off >= 4) {
		size_t mlen = (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3];
		if (mlen > len - off - 4)
			return 0; /* not whole messages: none of ours */
		if (p[off] == TLS_MT_KEY_UPDATE)
			return off + 4 + mlen == len ? 1 : -1;
		off += 4 + mlen;
	}
	return 0;
}

static int
tls_bio_write(BIO *b, const char *data, int len)
{
	struct tls_conn *tc = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	uint8_t type = tc->ctl_type != 0 ? tc->ctl_type : 23;
	int ku = 0, rc = 0;
	uint8_t next[EVP_MAX_MD_SIZE];
	struct vms_tls_tx tx;
	if (tc->tx_on && tc->tls13 && type == TLS_RT_HANDSHAKE)
		ku = tls_has_key_update((const uint8_t *)data, (size_t)len);
	if (ku < 0) {
		snprintf(tc->why, sizeof(tc->why), "KeyUpdate not at the end of its record");
		return -1;
	}
	if (ku > 0 && !tc->own_update && ++tc->key_updates > TLS_MAX_KEY_UPDATES) {
		snprintf(tc->why, sizeof(tc->why), "more than %d KeyUpdates asked for without data",
			 TLS_MAX_KEY_UPDATES);
		return -1;
	}
	/* The next keys first: if they cannot be had, the KeyUpdate is not sent either. */
	if (ku > 0 && (rc = tls_conn_next_keys(tc, next, &tx)) != 0) {
		snprintf(tc->why, sizeof(tc->why), "KeyUpdate: no next keys: %s",
			 rc == -EPROTO ? "the traffic secret is unknown" : strerror(-rc));
		return -1;
	}
	rc = vms_socket_write_record(tc->so, type, data, (size_t)len);
	if (rc == 0 && ku > 0) {
		rc = vms_socket_tls_rekey(tc->so, &tx); /* on failure the socket is aborted */
		if (rc == 0)
			memcpy(tc->secret, next, tc->secret_len);
	}
	if (ku > 0) {
		explicit_bzero(next, sizeof(next));
		explicit_bzero(&tx, sizeof(tx));
	}
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
	tc->cipher = tx.cipher;
	tc->tls13 = tx.version == 0x0304;
	if (tc->tls13) {
		/*
		 * The secret from the keylog must give exactly these keys, or a
		 * KeyUpdate would switch to keys the peer does not have: then
		 * forget it, and a KeyUpdate ends the connection instead.
		 */
		struct vms_tls_tx chk;
		const EVP_MD *md = tls_conn_md(tc);
		if (md == NULL || tls_conn_traffic_keys(tc, md, tc->secret, &chk) != 0 ||
		    memcmp(chk.key, tx.key, sizeof(tx.key)) != 0 ||
		    memcmp(chk.iv, tx.iv, sizeof(tx.iv)) != 0) {
			ERR_clear_error();
			explicit_bzero(tc->secret, sizeof(tc->secret));
			tc->secret_len = 0;
		}
		explicit_bzero(&chk, sizeof(chk));
	}
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
	tc->ssl = SSL_new(srv->ctx[0]);
	tc->bio = BIO_new(tls_bio_method);
	if (tc->ssl == NULL || tc->bio == NULL) {
		BIO_free(tc->bio);
		tls_conn_free(tc);
		ERR_clear_error();
		return -ENOMEM;
	}
	BIO_set_data(tc->bio, tc);
	BIO_set_init(tc->bio, 1);
	SSL_set_app_data(tc->ssl, tc);          /* for tls_conn_keylog */
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
	tc->inoff = tc->inlen; /* unread input dies with the connection */
	tls_conn_inbuf_release(tc);
	explicit_bzero(tc->secret, sizeof(tc->secret));
	free(tc);
}

static _Atomic int64_t tls_inbufs; /* (a) ciphertext buffers allocated now */
VMS_STAT_LEVEL(tls_inbufs, "tls_input_buffers",
	       "TLS connections' ciphertext buffers now (one with nothing unread holds none)");

int
tls_conn_inbuf(struct tls_conn *tc, char **p, size_t *cap)
{
	if (tc->in == NULL) {
		if ((tc->in = malloc(TLS_INBUF)) == NULL)
			return -ENOMEM;
		atomic_fetch_add_explicit(&tls_inbufs, 1, memory_order_relaxed);
	}
	if (tc->inoff > 0) {
		memmove(tc->in, tc->in + tc->inoff, tc->inlen - tc->inoff);
		tc->inlen -= tc->inoff;
		tc->inoff = 0;
	}
	*p = tc->in + tc->inlen;
	*cap = TLS_INBUF - tc->inlen;
	return 0;
}

bool
tls_conn_inbuf_release(struct tls_conn *tc)
{
	if (tc->inoff < tc->inlen)
		return false;
	if (tc->in != NULL) {
		free(tc->in);
		tc->in = NULL;
		atomic_fetch_sub_explicit(&tls_inbufs, 1, memory_order_relaxed);
	}
	tc->inoff = tc->inlen = 0;
	return true;
}

bool
tls_conn_has_input(const struct tls_conn *tc)
{
	return !tc->ready || tc->inoff < tc->inlen || tc->eof || SSL_has_pending(tc->ssl);
}

void
tls_conn_received(struct tls_conn *tc, size_t n)
{
	if (n == 0)
		tc->eof = true;
	tc->inlen += n;
}

/* An SSL call failed with SSL_get_error() `e`: 0 (wants input), or the error to report. */
static int
tls_conn_fail(struct tls_conn *tc, int e)
{
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

/*
 * Send a KeyUpdate of `type` now: an answer to the peer's (own false) or ours
 * for a worn key.  Written through our BIO, which queues the record, then
 * the next keys.  1, or tls_conn_fail()'s result.
 */
static int
tls_conn_key_update(struct tls_conn *tc, int type, bool own)
{
	tc->own_update = own;
	int k = SSL_key_update(tc->ssl, type);
	if (k == 1)
		k = SSL_do_handshake(tc->ssl);
	tc->own_update = false;
	return k == 1 ? 1 : tls_conn_fail(tc, SSL_get_error(tc->ssl, k));
}

int
tls_conn_read(struct tls_conn *tc, char *out, size_t cap)
{
	if (!tc->ready) {
		int r = SSL_do_handshake(tc->ssl);
		if (r != 1)
			return tls_conn_fail(tc, SSL_get_error(tc->ssl, r));
		if (!tc->tx_on) {
			/* OpenSSL kept its own record layer: we could not send pages. */
			snprintf(tc->why, sizeof(tc->why),
				 "OpenSSL did not hand over the transmit keys (%s)",
				 SSL_get_cipher_name(tc->ssl));
			return -EPROTO;
		}
		tc->ready = true;
	} else if (!tls_conn_has_input(tc)) {
		/*
		 * No new ciphertext and nothing buffered: SSL_read could only say
		 * "want read", and saying it costs a pass through OpenSSL's record
		 * layer and an error-queue clear, once for every request the HTTP
		 * layer drains.
		 */
		return 0;
	}
	size_t got = 0;
	int r = SSL_read_ex(tc->ssl, out, cap, &got);
	int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(tc->ssl, r);
	if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
		return tls_conn_fail(tc, e);
	int type = SSL_get_key_update_type(tc->ssl);
	if (type != SSL_KEY_UPDATE_NONE) {
		/* The peer asked for our KeyUpdate: send it now (see the top of the file). */
		int k = tls_conn_key_update(tc, type, false);
		if (k != 1)
			return k;
	}
	if (r != 1)
		return tls_conn_fail(tc, e);
	tc->key_updates = 0;
	int w = tls_conn_check_key(tc);
	return w != 0 ? w : (int)got;
}

int
tls_conn_check_key(struct tls_conn *tc)
{
	int64_t lim = __atomic_load_n(&tls_key_update_records, __ATOMIC_RELAXED);
	if (lim <= 0 || !tc->ready || !tc->tls13 || tc->shut || tc->secret_len == 0 ||
	    vms_socket_tls_records(tc->so) < (uint64_t)lim)
		return 0;
	int k = tls_conn_key_update(tc, SSL_KEY_UPDATE_NOT_REQUESTED, true);
	return k == 1 ? 0 : k;
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

void
tls_conn_keylog(const SSL *ssl, const char *line)
{
	static const char label[] = "SERVER_TRAFFIC_SECRET_0 ";
	struct tls_conn *tc = SSL_get_app_data(ssl);
	if (tc == NULL || strncmp(line, label, sizeof(label) - 1) != 0)
		return;
	/* "<label> <client random, hex> <secret, hex>" */
	const char *hex = strrchr(line, ' ');
	size_t n = hex != NULL ? strlen(++hex) : 0;
	tc->secret_len = 0;
	if (n % 2 != 0 || n / 2 > sizeof(tc->secret))
		return;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
		int lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return;
		tc->secret[i] = (uint8_t)(hi << 4 | lo);
	}
	tc->secret_len = n / 2;
}

const char *
tls_conn_error(const struct tls_conn *tc)
{
	return tc->why;
}

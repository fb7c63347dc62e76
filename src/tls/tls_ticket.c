/*
 * Session-ticket keys: one ring for the whole process, rotated by the clock,
 * or the operator's --tls-ticket-key files, shared across a fleet.
 *
 * OpenSSL's own ticket keys are made at random with each SSL_CTX and never
 * change.  That has two costs an operator sees: a reload (SIGHUP makes new
 * contexts) throws away every ticket a client holds, so all of them pay a
 * full handshake again; and a server that runs for months seals every ticket
 * under one key, so whoever steals it can open every session since start
 * (tickets hold the resumption secret: no forward secrecy across them).
 *
 * So every context gets tls_ticket_cb, and the keys live here:
 *
 *   time   ──|── epoch e-2 ──|── epoch e-1 ──|── epoch e (now) ──|
 *   keys        key[e-2]        key[e-1]        key[e]
 *   seal                                        new tickets
 *   open       accepted, renewed (a new ticket under key[e] is sent)
 *
 * An epoch is tls_ticket_rotate seconds of CLOCK_MONOTONIC (clock steps do
 * not move it).  A key is made, at random, by the first ticket sealed in its
 * epoch, in slot epoch % TLS_TICKET_KEYS.  A ticket is good for at most
 * TLS_TICKET_KEYS epochs (3 hours by default, beyond OpenSSL's 2-hour ticket
 * lifetime); then its key is wiped, by the first ticket sealed or opened
 * after that, so the process no longer holds anything that opens it.  The
 * ring outlives every tls_server, so reloads keep it.
 *
 * With --tls-ticket-key files (tls_server_set_ticket_keys) the keys are the
 * server's instead: the first seals, all open (an older one renews), and
 * the operator rotates them by reordering the files and reloading, on every
 * machine that shares them.  The clock is not involved.
 *
 * Cipher and MAC are OpenSSL's defaults for tickets: AES-256-CBC, then
 * HMAC-SHA256 over the ciphertext (OpenSSL does the framing and checks the
 * MAC before it decrypts).  A mutex guards the ring: it is taken once per
 * ticket sealed or opened, next to a handshake that costs a thousand times
 * more.
 */
#include "tls/tls_impl.h"

#include "core/log.h"
#include "core/stats.h"
#include "core/tunable.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

VMS_TUNABLE(tls_ticket_rotate, "tls_ticket_rotate", 3600,
	    "seconds between TLS session-ticket keys; a ticket is accepted for 3 of these "
	    "(the process keeps the keys across reloads)");

#define TLS_TICKET_KEYS 3

static pthread_mutex_t tls_ticket_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_ticket_key tls_ticket_ring[TLS_TICKET_KEYS] = {
    {.epoch = -1}, {.epoch = -1}, {.epoch = -1}};
static EVP_CIPHER *tls_ticket_aes;
static pthread_once_t tls_ticket_once = PTHREAD_ONCE_INIT;

static struct vms_counter tls_ticket_keys_made, tls_tickets_renewed, tls_tickets_unknown;
VMS_STAT_COUNTER(tls_ticket_keys_made, "tls_ticket_keys",
		 "session-ticket keys made (one per tls_ticket_rotate seconds of TLS traffic)");
VMS_STAT_COUNTER(tls_tickets_renewed, "tls_tickets_renewed",
		 "sessions resumed with a ticket under an older key, and sent a new ticket");
VMS_STAT_COUNTER(tls_tickets_unknown, "tls_tickets_unknown",
		 "tickets presented whose key is gone (or never was ours): full handshake");

static void
tls_ticket_fetch(void)
{
	tls_ticket_aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
}

static int64_t
tls_ticket_epoch(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t period = __atomic_load_n(&tls_ticket_rotate, __ATOMIC_RELAXED);
	return (int64_t)ts.tv_sec / (period > 0 ? period : 1);
}

/* Wipe the keys that opened their last ticket (lock held). */
static void
tls_ticket_sweep(int64_t now)
{
	for (int i = 0; i < TLS_TICKET_KEYS; i++) {
		struct tls_ticket_key *k = &tls_ticket_ring[i];
		if (k->epoch >= 0 && now - k->epoch >= TLS_TICKET_KEYS) {
			OPENSSL_cleanse(k, sizeof(*k));
			k->epoch = -1;
		}
	}
}

/* The key of the current epoch, made now if this is its first use (lock held).  NULL: no randomness. */
static struct tls_ticket_key *
tls_ticket_current(int64_t now)
{
	struct tls_ticket_key *k = &tls_ticket_ring[now % TLS_TICKET_KEYS];
	if (k->epoch == now)
		return k;
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_bytes(k->hmac, sizeof(k->hmac)) != 1) {
		OPENSSL_cleanse(k, sizeof(*k));
		k->epoch = -1;
		return NULL;
	}
	k->epoch = now;
	counter_inc(&tls_ticket_keys_made);
	return k;
}

/* The key a ticket names, if it is still in the ring (lock held). */
static struct tls_ticket_key *
tls_ticket_find(const unsigned char *name)
{
	for (int i = 0; i < TLS_TICKET_KEYS; i++) {
		struct tls_ticket_key *k = &tls_ticket_ring[i];
		if (k->epoch >= 0 && memcmp(k->name, name, sizeof(k->name)) == 0)
			return k;
	}
	return NULL;
}

static int
tls_ticket_mac_key(EVP_MAC_CTX *hctx, const struct tls_ticket_key *k)
{
	OSSL_PARAM p[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof(k->hmac)),
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end()};
	return EVP_MAC_CTX_set_params(hctx, p) == 1 ? 0 : -1;
}

/*
 * Copy out the key for a new ticket (enc) or the one `name` names, from the
 * process's ring.  *older: not the key that seals now.  false: none.
 */
static bool
tls_ticket_ring_pick(const unsigned char *name, bool enc, struct tls_ticket_key *out, bool *older)
{
	int64_t now = tls_ticket_epoch();
	pthread_mutex_lock(&tls_ticket_lock);
	tls_ticket_sweep(now);
	struct tls_ticket_key *k = enc ? tls_ticket_current(now) : tls_ticket_find(name);
	if (k != NULL) {
		*out = *k; /* the crypto runs unlocked */
		*older = k->epoch != now;
	}
	pthread_mutex_unlock(&tls_ticket_lock);
	return k != NULL;
}

/* The same from the server's --tls-ticket-key files (constant: no lock). */
static bool
tls_ticket_file_pick(const struct tls_server *srv, const unsigned char *name, bool enc,
		     struct tls_ticket_key *out, bool *older)
{
	for (int i = 0; i < srv->ntickets; i++) {
		if (enc || memcmp(srv->tickets[i].name, name, sizeof(out->name)) == 0) {
			*out = srv->tickets[i];
			*older = i > 0;
			return true;
		}
	}
	return false;
}

/*
 * OpenSSL's ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb).  enc: give
 * the name, IV and keys for a new ticket (1; -1 on error).  !enc: find the
 * named key (0: unknown, full handshake; 1: the sealing key; 2: an older
 * one, send a new ticket).
 */
int
tls_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
	      EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct tls_server *srv = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	pthread_once(&tls_ticket_once, tls_ticket_fetch);
	if (tls_ticket_aes == NULL || srv == NULL)
		return -1;
	struct tls_ticket_key key;
	bool older = false;
	bool found = srv->ntickets > 0 ? tls_ticket_file_pick(srv, name, enc, &key, &older)
				       : tls_ticket_ring_pick(name, enc, &key, &older);
	if (!found) {
		if (enc)
			return -1;
		counter_inc(&tls_tickets_unknown);
		return 0;
	}
	int rc = 1;
	if (enc) {
		memcpy(name, key.name, sizeof(key.name));
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(tls_ticket_aes)) != 1 ||
		    EVP_EncryptInit_ex2(cctx, tls_ticket_aes, key.aes, iv, NULL) != 1)
			rc = -1;
	} else if (EVP_DecryptInit_ex2(cctx, tls_ticket_aes, key.aes, iv, NULL) != 1) {
		rc = -1;
	} else if (older) {
		rc = 2;
		counter_inc(&tls_tickets_renewed);
	}
	if (rc > 0 && tls_ticket_mac_key(hctx, &key) != 0)
		rc = -1;
	OPENSSL_cleanse(&key, sizeof(key));
	return rc;
}

int
tls_server_set_ticket_keys(struct tls_server *srv, const char *const *files, int n, char *err,
			   size_t errlen)
{
	if (n > TLS_MAX_TICKET_KEYS) {
		snprintf(err, errlen, "at most %d --tls-ticket-key", TLS_MAX_TICKET_KEYS);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		struct tls_ticket_key *k = &srv->tickets[i];
		unsigned char buf[sizeof(k->name) + sizeof(k->aes) + sizeof(k->hmac) + 1];
		int fd = open(files[i], O_RDONLY | O_CLOEXEC);
		struct stat st;
		ssize_t got = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
		int e = errno;
		if (fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
			LOG_WARN("tls", "warning: --tls-ticket-key %s is readable by other users",
				 files[i]);
		if (fd >= 0)
			close(fd);
		if (got < 0) {
			snprintf(err, errlen, "cannot read --tls-ticket-key %s: %s", files[i],
				 strerror(e));
			return -e;
		}
		if ((size_t)got != sizeof(buf) - 1) {
			OPENSSL_cleanse(buf, sizeof(buf));
			snprintf(err, errlen,
				 "--tls-ticket-key %s: want exactly %zu bytes (make one with "
				 "'openssl rand %zu'), found %s",
				 files[i], sizeof(buf) - 1, sizeof(buf) - 1,
				 (size_t)got == sizeof(buf) ? "more" : "fewer");
			return -EINVAL;
		}
		memcpy(k->name, buf, sizeof(k->name));
		memcpy(k->aes, buf + sizeof(k->name), sizeof(k->aes));
		memcpy(k->hmac, buf + sizeof(k->name) + sizeof(k->aes), sizeof(k->hmac));
		OPENSSL_cleanse(buf, sizeof(buf));
	}
	srv->ntickets = n;
	return 0;
}

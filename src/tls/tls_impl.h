/* Private to src/tls.  Lock key: (c) constant after creation; (l) the connection's loop. */
#ifndef VMSEND_TLS_TLS_IMPL_H
#define VMSEND_TLS_TLS_IMPL_H

#include "tls/tls.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdint.h>

#define TLS_MAX_CERTS 16

/* A session-ticket key (tls_ticket.c); a --tls-ticket-key file holds name, aes, hmac in this order. */
struct tls_ticket_key {
	int64_t epoch; /* the ring's: the period it seals in, -1: none; a file's: 0 */
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
};

struct tls_server {
	_Atomic uint32_t refs;       /* (a) the creator and each HTTP generation */
	int n;                       /* (c) contexts: one per set of names */
	SSL_CTX *ctx[TLS_MAX_CERTS]; /* (c) [0] is the default */
	X509 *certs[TLS_MAX_CERTS];  /* (c) ctx[i]'s first certificate (its names), owned by it */
	const unsigned char *alpn;   /* (c) wire format */
	size_t alpn_len;             /* (c) */
	/* (c) --tls-ticket-key files: [0] seals, all open; none: the process's rotating ring */
	struct tls_ticket_key tickets[TLS_MAX_TICKET_KEYS];
	int ntickets; /* (c) */
};

/*
 * KeyUpdates we send in a row while the peer sends no application data: one
 * more ends the connection.  Each costs a record and a key change in the
 * send queue, which a peer that never reads would otherwise grow forever.
 */
#define TLS_MAX_KEY_UPDATES 32

/*
 * Ciphertext input.  OpenSSL takes a record in as many pieces as come (it
 * keeps a partial record in its own buffer), and requests are small, so
 * this need not hold a whole record: a whole record's 19 KiB was 19 MiB
 * over 1,000 connections.  It is allocated when ciphertext arrives and
 * freed when all of it was read (tls_conn_inbuf_release), so an idle
 * connection holds none.
 */
#define TLS_INBUF 4096

struct tls_conn {
	SSL *ssl;              /* (l) */
	BIO *bio;              /* (l) ours: reads inbuf, writes to the vms_socket */
	struct vms_socket *so; /* (l) */
	char *in;              /* (l) TLS_INBUF bytes of ciphertext, or NULL */
	size_t inoff, inlen;   /* (l) unread bytes are in[inoff, inlen) */
	bool eof;              /* (l) TCP EOF */
	bool ready;            /* (l) handshake done */
	bool tx_on;            /* (l) the engine has the transmit keys */
	bool shut;             /* (l) close_notify queued */
	uint8_t ctl_type;      /* (l) record type of OpenSSL's next write (0: data) */
	bool tls13;            /* (l) TLS 1.3 keys were handed over: a KeyUpdate changes them */
	int cipher;            /* (l) VMS_TLS_* of the keys handed over */
	size_t secret_len;     /* (l) bytes of `secret`; 0: unknown, no KeyUpdate possible */
	unsigned key_updates;  /* (l) KeyUpdates we answered since the peer last sent data */
	bool own_update; /* (l) the KeyUpdate being written is ours (worn key), not an answer */
	uint8_t secret[EVP_MAX_MD_SIZE]; /* (l) TLS 1.3: our application traffic secret now */
	char why[120];                   /* (l) last failure */
};

/*
 * SSL_CTX keylog callback of every server context: keeps the server's first
 * application traffic secret in the connection (SSL app data), from which
 * the keys after each KeyUpdate are derived (tls_conn.c).  Logs nothing.
 */
void tls_conn_keylog(const SSL *ssl, const char *line);

/*
 * Session-ticket callback of every server context (tls_ticket.c), whose app
 * data is the tls_server: tickets are sealed under the server's first
 * --tls-ticket-key, or else under a process-wide key that changes every
 * tls_ticket_rotate seconds and is kept for three of them, across reloads.
 */
int tls_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
		  EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc);

#endif

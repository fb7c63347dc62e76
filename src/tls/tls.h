/*
 * The TLS transport: OpenSSL 3 does the handshake, the sendfile engine
 * makes the records (issue 14).
 *
 * A connection's bytes flow like this:
 *
 *   recv ──ciphertext──▶ tls_conn (SSL_read) ──plaintext──▶ HTTP parser
 *   HTTP response ──▶ vms_socket_write / vms_sendfile ──▶ records (sf_tls.c)
 *
 * OpenSSL is given a BIO of ours.  During the handshake it writes its own
 * records through it (queued raw on the vms_socket).  When the transmit
 * keys are ready OpenSSL offers them to the BIO exactly as it offers them
 * to kernel TLS (SSL_OP_ENABLE_KTLS, BIO_CTRL_SET_KTLS): we pass them to
 * vms_socket_tls_tx(), and from then on OpenSSL writes plaintext (tickets,
 * alerts) with a record type and the engine seals everything, file pages
 * included, in order.  The receive side stays in OpenSSL.
 *
 * The HTTP layer sees only this header: it recvs into tls_conn_inbuf(),
 * reads plaintext with tls_conn_read(), and asks tls_conn_alpn() which
 * protocol was agreed (the hook for h2: tls_server_set_alpn()).
 *
 * Threading: a tls_server is shared (read-only after creation, OpenSSL's
 * SSL_CTX is thread-safe); a tls_conn belongs to its vms_socket's loop.
 */
#ifndef VMSEND_TLS_TLS_H
#define VMSEND_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vms_socket;
struct tls_server;
struct tls_conn;

struct tls_cert_spec {
	const char *cert; /* PEM, full chain */
	const char *key;  /* PEM private key */
};

/*
 * Load certificate/key pairs (the first is the default; the others are
 * chosen by SNI against their certificates' names; a pair with exactly the
 * names of an earlier one and another key type, RSA beside ECDSA, is sent
 * to the clients that cannot use the earlier one, and one with the same
 * key type too is refused).  TLS 1.3 and 1.2,
 * AES-GCM and ChaCha20-Poly1305 with ECDHE only, session tickets, ALPN
 * http/1.1.  An expired certificate is logged as a warning.  Returns 0 and
 * *out, or a negative errno with `err` naming the file and the reason.
 */
int tls_server_new(const struct tls_cert_spec *certs, int n, char *err, size_t errlen,
		   struct tls_server **out);
/*
 * References: tls_server_new() returns one; whoever keeps the pointer beyond
 * the caller's hold (an HTTP configuration generation, which its connections
 * hold) takes its own.  tls_server_free() drops one and frees with the last,
 * so a reload can load new certificates while connections accepted under the
 * old ones finish on them.  Any thread.  NULL is ignored.
 */
void tls_server_ref(struct tls_server *srv);
void tls_server_free(struct tls_server *srv);
#define TLS_MAX_TICKET_KEYS 4 /* --tls-ticket-key files a server takes */
/*
 * Session-ticket keys shared with other servers (a fleet behind one name
 * resumes anywhere): each file holds 80 random bytes (`openssl rand 80`);
 * the first seals new tickets, every one opens them, so a key is rotated by
 * putting a new file first, reloading everywhere, and dropping the old one
 * a ticket lifetime later.  Without files the keys are the process's own
 * and rotate by themselves (tls_ticket_rotate).  Call before any
 * connection.  0, or a negative errno with `err` naming the file.  A file
 * other users may read is logged as a warning.
 */
int tls_server_set_ticket_keys(struct tls_server *srv, const char *const *files, int n, char *err,
			       size_t errlen);
/*
 * ALPN protocols the server accepts, in its order of preference, in wire
 * format ("\x02h2\x08http/1.1"); default "\x08http/1.1".  Call before any
 * connection.  `protos` must outlive the server.
 */
void tls_server_set_alpn(struct tls_server *srv, const unsigned char *protos, size_t len);

/* A server-side connection over `so` (which must not have queued anything).  0, -ENOMEM. */
int tls_conn_new(struct tls_server *srv, struct vms_socket *so, struct tls_conn **out);
void tls_conn_free(struct tls_conn *tc);
/*
 * Where the next recv of ciphertext goes (cap 0: full, read plaintext
 * first).  0, or -ENOMEM when there was no buffer and none could be made.
 */
int tls_conn_inbuf(struct tls_conn *tc, char **p, size_t *cap);
/*
 * No ciphertext waits unread: free the input buffer (tls_conn_inbuf makes a
 * new one) and return true.  Not while a recv into it is in flight.
 */
bool tls_conn_inbuf_release(struct tls_conn *tc);
/* tls_conn_read() may make progress: ciphertext, buffered plaintext, EOF or a handshake to run. */
bool tls_conn_has_input(const struct tls_conn *tc);
/* n bytes of ciphertext arrived there; n == 0: the peer closed TCP. */
void tls_conn_received(struct tls_conn *tc, size_t n);

#define TLS_CONN_EOF (-ESHUTDOWN) /* the peer sent close_notify (or closed after it) */
/*
 * Run the handshake as far as the input allows, then decrypt up to `cap`
 * plaintext bytes into `out`.  Returns the byte count (> 0), 0 when more
 * ciphertext is needed, TLS_CONN_EOF, or -EPROTO (handshake or record
 * failure; an alert is queued when OpenSSL made one) / -ECONNRESET (TCP
 * closed without close_notify) / -ENOMEM.
 */
int tls_conn_read(struct tls_conn *tc, char *out, size_t cap);
/*
 * TLS 1.3: once the transmit key has sealed tls_key_update_records records,
 * queue a KeyUpdate of ours and change to the next key behind it (a key's
 * wear limit, RFC 8446 5.5).  tls_conn_read() checks after every read; call
 * it too when the send buffer drains, so a long response without requests
 * is covered.  0, or a negative errno: the connection is broken.
 */
int tls_conn_check_key(struct tls_conn *tc);
extern int64_t tls_key_update_records;          /* tunable; 0: never on our own */
bool tls_conn_ready(const struct tls_conn *tc); /* the handshake is done */
/* The ALPN protocol agreed ("http/1.1", "h2"), or NULL (none: HTTP/1.1). */
const char *tls_conn_alpn(const struct tls_conn *tc);
/* Queue close_notify (after the handshake; once). */
void tls_conn_shutdown(struct tls_conn *tc);
/* Why the connection failed, for debug logs ("" if unknown). */
const char *tls_conn_error(const struct tls_conn *tc);

#endif

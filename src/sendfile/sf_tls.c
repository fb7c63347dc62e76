/*
 * TLS records from wired pages: FreeBSD's kTLS, in userspace.
 *
 * Theory.  A TLS connection's send buffer is the same queue of segments as
 * a plain one.  The handshake library (src/tls) hands us the transmit keys
 * the way OpenSSL hands them to kernel TLS, and from then on every segment
 * appended is "unsealed": plaintext that must leave inside records.  A
 * segment still being read from disk is not ready, as on a plain socket.
 *
 * When the sender looks at the head of the queue (sf_sb_kick), runs of
 * ready unsealed segments are sealed, up to the first not-ready one and
 * until enough ciphertext waits unsent (SF_TLS_AHEAD_*), in queue order, so
 * sequence numbers follow the byte order on the wire:
 *
 *   [hdr COPY][file PAGES][file PAGES|not ready][trl COPY]
 *   \_ one run: records of <= 16 KiB plaintext _/
 *      AEAD reads the header copy and the wired pages in place and writes
 *      header|ciphertext|tag into one new buffer  ->  [sealed COPY]
 *
 * The run's segments are then freed, which unwires their pages: the
 * ciphertext is all the kernel needs.  There is no staging copy of file
 * bytes: EVP_EncryptUpdate is fed the page pointers themselves, one
 * contiguous piece at a time, and a record can start in the header copy
 * and end in a page (a small response is one record, as nginx makes it).
 *
 * Key changes.  A TLS 1.3 KeyUpdate changes the transmit keys at a point in
 * the byte stream: right after the KeyUpdate record.  Bytes queued before
 * it, pages still being read included, are sealed later than the change is
 * known, so the change is not applied when it is announced but queued as a
 * SEG_KEY segment (no bytes) behind the KeyUpdate record, and applied when
 * sealing reaches it, in byte order:
 *
 *   [file PAGES|not ready][KeyUpdate COPY][KEY][next response COPY]...
 *    \____ old key, sealed when the pages are ready ___/ \_ new key, seq 0 _/
 *
 * The sequence number is 64 bits and must never wrap (RFC 8446 5.3): a key
 * that sealed record 2^64 - 1 seals no more, the socket aborts (-EOVERFLOW)
 * instead.  From 0, at 16 KiB a record, that is 2^78 bytes: it cannot
 * happen, but a key handed over with a high sequence number would meet it.
 *
 * Where it runs: on the socket's loop thread, inside the kick, measured
 * against worker threads in docs/tls.md.
 *
 * Kernel TLS.  Where setsockopt(TCP_ULP, "tls") works the keys go to the
 * kernel (TLS_TX) and segments are sent as plaintext, pages included,
 * exactly as on a plain socket; a control record (alert, handshake) goes in
 * a send of its own with the record type as a TLS_SET_RECORD_TYPE cmsg.
 * A key change waits at the head of the queue until every byte before it
 * was sent, then goes to the kernel as TLS_TX again (Linux 6.14 and later
 * take it; an older kernel refuses and the socket aborts).
 */
#include "sendfile/sf_impl.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/recmem.h"
#include "core/tunable.h"
#include "core/util.h"
#include "vm/vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

VMS_TUNABLE(sf_ktls, "sf_ktls", 1,
	    "1: hand TLS keys to the kernel when it has kernel TLS; 0: always seal records in "
	    "userspace");

VMS_TUNABLE(tls_buffer_mem, "tls_buffer_mem", 32 << 20,
	    "bytes of memory the userspace TLS sealer encrypts records into (core/recmem.h), "
	    "faulted in as first used and kept; buffers beyond it come from malloc");

struct sf_tls_stats sf_tls_stats;
VMS_STAT_COUNTER(sf_tls_stats.records, "tls_records", "TLS records sealed in userspace");
VMS_STAT_COUNTER(sf_tls_stats.bytes_sealed, "tls_bytes_sealed", "plaintext bytes sealed");
VMS_STAT_COUNTER(sf_tls_stats.page_bytes, "tls_page_bytes",
		 "plaintext bytes sealed straight from wired pages");
VMS_STAT_COUNTER(sf_tls_stats.kernel, "tls_kernel_sockets", "sockets handed to kernel TLS");
VMS_STAT_COUNTER(sf_tls_stats.user, "tls_user_sockets", "sockets sealing in userspace");
VMS_STAT_COUNTER(sf_tls_stats.seal_errors, "tls_seal_errors",
		 "sockets aborted: out of memory or cipher failure");
VMS_STAT_COUNTER(sf_tls_stats.key_updates, "tls_key_updates",
		 "TLS 1.3 transmit key changes queued (KeyUpdate answered)");

/*
 * Sealed records go into buffers from one region, made at server start
 * (vms_ktls_probe) or else by the first socket that starts sealing:
 * malloc'd ones of 64 KiB and more were faulted in afresh for most responses
 * (28,000 faults a second, half the server's time, at 64 KiB over 64
 * connections).  The region is not pre-faulted: its pages fault in once, as
 * the load first needs them, and stay, so a server that serves little TLS
 * does not hold tls_buffer_mem.  Set once; atomic for the metrics reader,
 * which never makes it.
 */
static pthread_once_t sf_tls_mem_once = PTHREAD_ONCE_INIT;
static _Atomic(struct recmem *) sf_tls_mem; /* NULL: no memory for it; malloc then */

static void
sf_tls_mem_create(void)
{
	int64_t bytes = __atomic_load_n(&tls_buffer_mem, __ATOMIC_RELAXED);
	atomic_store(&sf_tls_mem, recmem_create(bytes > 0 ? (uint64_t)bytes : 0, false));
}

void
sf_tls_buf_free(void *buf)
{
	recmem_free(atomic_load(&sf_tls_mem), buf);
}

static uint64_t
sf_tls_mem_stat(const struct vms_stat *st)
{
	struct recmem_stats s = {0};
	struct recmem *m = atomic_load(&sf_tls_mem);
	if (m != NULL)
		recmem_stats(m, &s);
	return st->arg == 0 ? s.used_bytes : st->arg == 1 ? s.fallback_allocs : s.fallback_live;
}
VMS_STAT_GAUGE(sf_tls_mem_stat, 0, "tls_buffer_used", "bytes of sealed records in the region");
VMS_STAT_GAUGE(sf_tls_mem_stat, 1, "tls_buffer_fallback_allocs",
	       "sealed-record buffers that did not fit the region (malloc'd), ever");
VMS_STAT_GAUGE(sf_tls_mem_stat, 2, "tls_buffer_fallback_live",
	       "sealed-record buffers that did not fit the region, held now");

/*
 * A run takes segments until it holds SF_TLS_RUN bytes of plaintext (a
 * page segment that goes past it is cut, and its head sealed; a copy may
 * end a run past it): a head and the body after it share records, as
 * nginx's do.  SF_TLS_RUN is 128 bytes short of 64 KiB, so that its four
 * records, with their headers and tags, fill the 64 KiB block they are
 * sealed into (core/recmem.h rounds up to a power of two: 64 KiB of
 * plaintext took a 128 KiB block).
 */
#define SF_TLS_RUN ((64u << 10) - 128)
/*
 * Sealing stops once this much ciphertext waits unsent at the head of the
 * queue.  While the record region is less than half used, up to
 * SF_TLS_AHEAD_MAX (a send buffer's worth, as a plain send carries): one
 * run per send cost 14% more server CPU per byte on 256 MiB responses
 * (15.8k against 13.9k ticks per 1,000, medians of 10 runs).  Once it is,
 * or without a region, records are sealed as the sender needs them
 * (SF_TLS_AHEAD_MIN), so a peer that reads slowly holds at most two sealed
 * runs (the one being sent and the next), not a send buffer's worth of
 * copies on top of its pages: 1,000 such peers held 62 MiB of sealed
 * records in the TLS soak.
 */
#define SF_TLS_AHEAD_MIN VMS_TLS_MAX_PLAIN
#define SF_TLS_AHEAD_MAX (256u << 10)
#define SF_TLS_TAG       16u

struct sf_tls {
	EVP_CIPHER_CTX *ctx; /* (l) key set, a nonce per record */
	bool kernel;         /* (c) the kernel makes the records */
	bool tls13;          /* (c) */
	bool explicit_nonce; /* (c) TLS 1.2 AES-GCM: 8 bytes of nonce in each record */
	bool seq_spent;      /* (l) the key sealed record 2^64 - 1: it may seal no more */
	int cipher;          /* (c) VMS_TLS_* */
	uint8_t iv[12];      /* (l) the current key's */
	uint64_t seq;        /* (l) next record's sequence number */
	uint64_t nonce;      /* (l) TLS 1.2 AES-GCM: next explicit nonce */
	uint32_t rekeys;     /* (l) key changes queued, not yet reached by sealing */
};

bool
sf_tls_kernel(const struct vms_socket *so)
{
	return so->tls != NULL && so->tls->kernel;
}

bool
vms_socket_tls_on(const struct vms_socket *so)
{
	return so->tls != NULL;
}

uint64_t
vms_socket_tls_records(const struct vms_socket *so)
{
	const struct sf_tls *t = so->tls;
	if (t == NULL || t->kernel || t->rekeys > 0)
		return 0;
	return t->seq;
}

void
sf_tls_free(struct sf_tls *tls)
{
	if (tls == NULL)
		return;
	EVP_CIPHER_CTX_free(tls->ctx);
	explicit_bzero(tls, sizeof(*tls));
	free(tls);
}

/* ---- kernel TLS ---- */

static pthread_once_t sf_ktls_once = PTHREAD_ONCE_INIT;
static bool sf_ktls_ok;

/* TCP_ULP needs an established connection: make one on loopback and try it. */
static void
sf_ktls_probe_once(void)
{
	int l = -1, c = -1, a = -1, err = 0;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	if ((l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(l, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&sin, &sl) != 0 ||
	    (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(c, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    (a = accept(l, NULL, NULL)) < 0) {
		err = errno;
	} else if (setsockopt(a, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) != 0) {
		err = errno;
	} else {
		sf_ktls_ok = true;
	}
	if (a >= 0)
		close(a);
	if (c >= 0)
		close(c);
	if (l >= 0)
		close(l);
	if (sf_ktls_ok)
		LOG_INFO("sendfile", "TLS: kernel TLS (TCP_ULP tls) in use: the kernel makes the "
				     "records, pages are sent as on plain sockets");
	else
		LOG_INFO("sendfile",
			 "TLS: no kernel TLS here (TCP_ULP tls: %s): records are sealed in "
			 "userspace from the wired pages",
			 strerror(err));
}

bool
vms_ktls_probe(void)
{
	pthread_once(&sf_tls_mem_once, sf_tls_mem_create); /* not on the first connection's path */
	if (sf_ktls == 0) {
		static _Atomic bool said;
		if (!atomic_exchange(&said, true))
			LOG_INFO("sendfile", "TLS: kernel TLS off (sf_ktls=0): records are sealed "
					     "in userspace from the wired pages");
		return false;
	}
	pthread_once(&sf_ktls_once, sf_ktls_probe_once);
	return sf_ktls_ok;
}

union sf_ktls_info {
	struct tls12_crypto_info_aes_gcm_128 g128;
	struct tls12_crypto_info_aes_gcm_256 g256;
	struct tls12_crypto_info_chacha20_poly1305 cc;
};

/* The kernel's crypto_info for `tx`; returns its length. */
static socklen_t
sf_ktls_info(const struct vms_tls_tx *tx, union sf_ktls_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	socklen_t len;
	uint8_t seq[8];
	for (int i = 0; i < 8; i++)
		seq[i] = (uint8_t)(tx->seq >> (56 - 8 * i));
	switch (tx->cipher) {
	case VMS_TLS_AES_128_GCM:
		ci->g128.info.version = tx->version;
		ci->g128.info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(ci->g128.key, tx->key, 16);
		memcpy(ci->g128.salt, tx->iv, 4);
		memcpy(ci->g128.iv, tx->iv + 4, 8);
		memcpy(ci->g128.rec_seq, seq, 8);
		len = sizeof(ci->g128);
		break;
	case VMS_TLS_AES_256_GCM:
		ci->g256.info.version = tx->version;
		ci->g256.info.cipher_type = TLS_CIPHER_AES_GCM_256;
		memcpy(ci->g256.key, tx->key, 32);
		memcpy(ci->g256.salt, tx->iv, 4);
		memcpy(ci->g256.iv, tx->iv + 4, 8);
		memcpy(ci->g256.rec_seq, seq, 8);
		len = sizeof(ci->g256);
		break;
	default:
		ci->cc.info.version = tx->version;
		ci->cc.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		memcpy(ci->cc.key, tx->key, 32);
		memcpy(ci->cc.iv, tx->iv, 12);
		memcpy(ci->cc.rec_seq, seq, 8);
		len = sizeof(ci->cc);
		break;
	}
	return len;
}

/* Hand the keys to the kernel; false leaves the socket as it was (plain TCP). */
static bool
sf_ktls_start(struct vms_socket *so, const struct vms_tls_tx *tx)
{
	union sf_ktls_info ci;
	socklen_t len = sf_ktls_info(tx, &ci);
	bool ok = setsockopt(so->fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 &&
		  setsockopt(so->fd, SOL_TLS, TLS_TX, &ci, len) == 0;
	if (!ok)
		LOG_DEBUG("sendfile", "TLS: kernel TLS refused a socket (%s): userspace records",
			  strerror(errno));
	explicit_bzero(&ci, sizeof(ci));
	return ok;
}

/* Kernel TLS: the next keys (Linux takes TLS_TX again for TLS 1.3 since 6.14). */
static int
sf_ktls_rekey(struct vms_socket *so, const struct vms_tls_tx *tx)
{
	union sf_ktls_info ci;
	socklen_t len = sf_ktls_info(tx, &ci);
	int error = setsockopt(so->fd, SOL_TLS, TLS_TX, &ci, len) == 0 ? 0 : -errno;
	explicit_bzero(&ci, sizeof(ci));
	if (error != 0)
		LOG_DEBUG(
		    "sendfile",
		    "TLS: the kernel refused the keys of a KeyUpdate (%s): connection aborted",
		    strerror(-error));
	return error;
}

int
vms_socket_tls_tx(struct vms_socket *so, const struct vms_tls_tx *tx)
{
	const EVP_CIPHER *cipher;
	switch (tx->cipher) {
	case VMS_TLS_AES_128_GCM:
		cipher = EVP_aes_128_gcm();
		break;
	case VMS_TLS_AES_256_GCM:
		cipher = EVP_aes_256_gcm();
		break;
	case VMS_TLS_CHACHA20_POLY1305:
		cipher = EVP_chacha20_poly1305();
		break;
	default:
		return -EINVAL;
	}
	if (so->tls != NULL || (tx->version != 0x0303 && tx->version != 0x0304))
		return -EINVAL;
	struct sf_tls *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->tls13 = tx->version == 0x0304;
	t->cipher = tx->cipher;
	t->explicit_nonce = !t->tls13 && tx->cipher != VMS_TLS_CHACHA20_POLY1305;
	memcpy(t->iv, tx->iv, sizeof(t->iv));
	t->seq = tx->seq;
	for (int i = 4; i < 12; i++)
		t->nonce = t->nonce << 8 | tx->iv[i];
	if (so->is_socket && vms_ktls_probe() && sf_ktls_start(so, tx)) {
		t->kernel = true;
		so->tls = t;
		counter_inc(&sf_tls_stats.kernel);
		return 1;
	}
	pthread_once(&sf_tls_mem_once, sf_tls_mem_create);
	t->ctx = EVP_CIPHER_CTX_new();
	if (t->ctx == NULL || EVP_EncryptInit_ex(t->ctx, cipher, NULL, tx->key, NULL) != 1) {
		sf_tls_free(t);
		return -ENOMEM;
	}
	so->tls = t;
	counter_inc(&sf_tls_stats.user);
	return 0;
}

int
vms_socket_tls_rekey(struct vms_socket *so, const struct vms_tls_tx *tx)
{
	if (so->error != 0)
		return -so->error;
	int error = 0;
	struct sf_seg *seg = NULL;
	if (so->tls == NULL || !so->tls->tls13 || tx->version != 0x0304 ||
	    tx->cipher != so->tls->cipher)
		error = -EINVAL;
	else if ((seg = calloc(1, sizeof(*seg))) == NULL ||
		 (seg->buf = malloc(sizeof(*tx))) == NULL)
		error = -ENOMEM;
	if (error != 0) {
		free(seg);
		sf_socket_abort(so, error);
		return error;
	}
	memcpy(seg->buf, tx, sizeof(*tx));
	seg->kind = SEG_KEY;
	seg->ready = true;
	sf_sb_append(so, seg);
	so->tls->rekeys++;
	counter_inc(&sf_tls_stats.key_updates);
	sf_sb_kick(so);
	return 0;
}

/* ---- sealing ---- */

/* A read position in a run of segments: copied bytes or wired pages. */
struct sf_src {
	struct sf_seg *seg;
	uint32_t off;
};

/* The next contiguous piece of plaintext, at most `max` bytes (adjacent frames merge). */
static const uint8_t *
sf_src_next(struct sf_src *s, uint32_t max, uint32_t *lenp, uint64_t *page_bytes)
{
	struct sf_seg *seg = s->seg;
	const uint8_t *p;
	uint32_t n;
	if (seg->kind == SEG_COPY) {
		p = (const uint8_t *)seg->buf + s->off;
		n = MIN(seg->len - s->off, max);
	} else {
		uint32_t abs = sf_seg_pgoff(seg) + s->off;
		p = (const uint8_t *)vm_page_data(seg->pages[abs >> PAGE_SHIFT]) +
		    (abs & PAGE_MASK);
		n = MIN(PAGE_SIZE - (abs & PAGE_MASK), seg->len - s->off);
		while (n < max && s->off + n < seg->len) {
			uint32_t na = abs + n;
			const uint8_t *q = vm_page_data(seg->pages[na >> PAGE_SHIFT]);
			if (q != p + n)
				break;
			n += MIN(PAGE_SIZE, seg->len - s->off - n);
		}
		n = MIN(n, max);
		*page_bytes += n;
	}
	s->off += n;
	if (s->off == seg->len) {
		s->seg = TAILQ_NEXT(seg, link);
		s->off = 0;
	}
	*lenp = n;
	return p;
}

static uint32_t
sf_tls_overhead(const struct sf_tls *t)
{
	return 5 + (t->explicit_nonce ? 8 : 0) + (t->tls13 ? 1 : 0) + SF_TLS_TAG;
}

/* Seal `plen` bytes from `src` as one record of content `type` at `out`. */
static int
sf_tls_seal_record(struct sf_tls *t, uint8_t type, struct sf_src *src, uint32_t plen, uint8_t *out,
		   uint64_t *page_bytes)
{
	uint8_t nonce[12], aad[13];
	int aadlen, ol;
	if (t->seq_spent)
		return -EOVERFLOW;
	uint32_t body = plen + (t->tls13 ? 1 : 0) + SF_TLS_TAG + (t->explicit_nonce ? 8 : 0);
	out[0] = t->tls13 ? SF_RT_APPDATA : type;
	out[1] = 3;
	out[2] = 3;
	out[3] = (uint8_t)(body >> 8);
	out[4] = (uint8_t)body;
	uint8_t *c = out + 5;
	memcpy(nonce, t->iv, 12);
	if (t->explicit_nonce) {
		for (int i = 0; i < 8; i++)
			c[i] = nonce[4 + i] = (uint8_t)(t->nonce >> (56 - 8 * i));
		c += 8;
		t->nonce++;
	} else {
		for (int i = 0; i < 8; i++)
			nonce[4 + i] ^= (uint8_t)(t->seq >> (56 - 8 * i));
	}
	if (t->tls13) {
		memcpy(aad, out, 5);
		aadlen = 5;
	} else {
		for (int i = 0; i < 8; i++)
			aad[i] = (uint8_t)(t->seq >> (56 - 8 * i));
		aad[8] = type;
		aad[9] = 3;
		aad[10] = 3;
		aad[11] = (uint8_t)(plen >> 8);
		aad[12] = (uint8_t)plen;
		aadlen = 13;
	}
	if (EVP_EncryptInit_ex(t->ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(t->ctx, NULL, &ol, aad, aadlen) != 1)
		return -EIO;
	while (plen > 0) {
		uint32_t n;
		const uint8_t *p = sf_src_next(src, plen, &n, page_bytes);
		if (EVP_EncryptUpdate(t->ctx, c, &ol, p, (int)n) != 1)
			return -EIO;
		ASSERT3U((uint32_t)ol, ==, n); /* AEAD stream ciphers hold nothing back */
		c += ol;
		plen -= n;
	}
	if (t->tls13) {
		if (EVP_EncryptUpdate(t->ctx, c, &ol, &type, 1) != 1)
			return -EIO;
		c += ol;
	}
	if (EVP_EncryptFinal_ex(t->ctx, c, &ol) != 1)
		return -EIO;
	c += ol;
	if (EVP_CIPHER_CTX_ctrl(t->ctx, EVP_CTRL_AEAD_GET_TAG, SF_TLS_TAG, c) != 1)
		return -EIO;
	if (++t->seq == 0)
		t->seq_spent = true; /* that was record 2^64 - 1 */
	return 0;
}

/*
 * Replace the run of `total` plaintext bytes, segments [first, end) and the
 * first `cut` bytes of end (a page segment, then), by one sealed segment.
 */
static int
sf_tls_seal_run(struct vms_socket *so, struct sf_seg *first, struct sf_seg *end, uint32_t total,
		uint32_t cut)
{
	struct sf_tls *t = so->tls;
	uint32_t nrec = howmany(total, VMS_TLS_MAX_PLAIN);
	uint32_t ctlen = total + nrec * sf_tls_overhead(t);
	struct sf_seg *ns = calloc(1, sizeof(*ns));
	uint8_t *ct = recmem_alloc(atomic_load(&sf_tls_mem), ctlen);
	if (ns == NULL || ct == NULL) {
		free(ns);
		sf_tls_buf_free(ct);
		return -ENOMEM;
	}
	struct sf_src src = {first, 0};
	uint64_t page_bytes = 0;
	uint8_t *out = ct;
	for (uint32_t left = total; left > 0;) {
		uint32_t plen = MIN(left, VMS_TLS_MAX_PLAIN);
		int error = sf_tls_seal_record(t, first->rtype, &src, plen, out, &page_bytes);
		if (error != 0) {
			free(ns);
			sf_tls_buf_free(ct);
			return error;
		}
		out += plen + sf_tls_overhead(t);
		left -= plen;
	}
	VERIFY3U((uint32_t)(out - ct), ==, ctlen);
	VERIFY(src.seg == end && src.off == cut);
	ns->kind = SEG_COPY;
	ns->ready = true;
	ns->sealed = true;
	ns->pooled = true;
	ns->rtype = SF_RT_APPDATA;
	ns->buf = (char *)ct;
	ns->len = ctlen;
	TAILQ_INSERT_BEFORE(first, ns, link);
	for (struct sf_seg *s = first, *next; s != end; s = next) {
		next = TAILQ_NEXT(s, link);
		TAILQ_REMOVE(&so->sb, s, link);
		sf_seg_free(s); /* unwires the pages: the ciphertext is all that is sent */
	}
	if (cut > 0)
		sf_seg_drop_head(end, cut);
	so->sb_cc += ctlen - total;
	so->bytes_queued += ctlen - total;
	counter_add(&sf_tls_stats.records, nrec);
	counter_add(&sf_tls_stats.bytes_sealed, total);
	counter_add(&sf_tls_stats.page_bytes, page_bytes);
	return 0;
}

/* How much ciphertext may wait unsent (see SF_TLS_AHEAD_MIN). */
static uint32_t
sf_tls_ahead(void)
{
	struct recmem *m = atomic_load(&sf_tls_mem);
	struct recmem_stats st = {0};
	if (m != NULL)
		recmem_stats(m, &st);
	return st.used_bytes < st.region_bytes / 2 ? SF_TLS_AHEAD_MAX : SF_TLS_AHEAD_MIN;
}

/* Switch to the keys of the SEG_KEY segment `seg` and drop it from the queue. */
static int
sf_tls_key_change(struct vms_socket *so, struct sf_seg *seg)
{
	struct sf_tls *t = so->tls;
	const struct vms_tls_tx *tx = (const struct vms_tls_tx *)seg->buf;
	ASSERT3U(seg->kind, ==, SEG_KEY);
	ASSERT3U(seg->len, ==, 0);
	if (t->kernel) {
		int error = sf_ktls_rekey(so, tx);
		if (error != 0)
			return error;
	} else {
		if (EVP_EncryptInit_ex(t->ctx, NULL, NULL, tx->key, NULL) != 1)
			return -EIO;
		memcpy(t->iv, tx->iv, sizeof(t->iv));
		t->seq = tx->seq;
		t->seq_spent = false;
	}
	TAILQ_REMOVE(&so->sb, seg, link);
	sf_seg_free(seg);
	t->rekeys--;
	return 0;
}

int
sf_tls_seal(struct vms_socket *so)
{
	ASSERT(!so->send_inflight);
	struct sf_seg *seg = TAILQ_FIRST(&so->sb);
	if (so->tls->kernel) {
		/* Every byte before a key change at the head went to the kernel: its turn. */
		while (seg != NULL && seg->kind == SEG_KEY) {
			int error = sf_tls_key_change(so, seg);
			if (error != 0)
				return error;
			seg = TAILQ_FIRST(&so->sb);
		}
		return 0;
	}
	uint32_t ahead = 0; /* sealed bytes waiting to be sent */
	for (; seg != NULL && seg->ready && seg->sealed; seg = TAILQ_NEXT(seg, link))
		ahead += seg->len - (seg == TAILQ_FIRST(&so->sb) ? so->head_done : 0);
	while (seg != NULL && seg->ready && !seg->sealed && ahead < sf_tls_ahead()) {
		ASSERT(!seg->sending && !seg->swapping);
		if (seg->kind == SEG_KEY) {
			/* Everything before it is sealed: the next record is the new key's. */
			struct sf_seg *next = TAILQ_NEXT(seg, link);
			int error = sf_tls_key_change(so, seg);
			if (error != 0) {
				counter_inc(&sf_tls_stats.seal_errors);
				return error;
			}
			seg = next;
			continue;
		}
		struct sf_seg *end = seg;
		uint32_t total = 0, cut = 0;
		while (end != NULL && end->ready && !end->sealed && end->kind != SEG_KEY &&
		       end->rtype == seg->rtype && total < SF_TLS_RUN) {
			if (end->kind == SEG_PAGES && total + end->len > SF_TLS_RUN) {
				cut = SF_TLS_RUN - total;
				total = SF_TLS_RUN;
				break;
			}
			total += end->len;
			end = TAILQ_NEXT(end, link);
		}
		int error = sf_tls_seal_run(so, seg, end, total, cut);
		if (error != 0) {
			counter_inc(&sf_tls_stats.seal_errors);
			return error;
		}
		ahead += total;
		seg = end;
	}
	return 0;
}

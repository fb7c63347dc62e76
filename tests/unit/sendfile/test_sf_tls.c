/*
 * TLS records made by the sendfile engine (src/sendfile/sf_tls.c), checked
 * by decrypting what the peer received with the same keys: every version
 * and cipher, a file partly cached and partly read by a threaded pager
 * (not-ready segments), headers, trailers and control records in order,
 * records of at most 16 KiB, body bytes sealed straight from the pages; and
 * the EIO loop with TLS on: the socket aborts, nothing stays wired.
 */
#include "sf_testlib.h"

#include "core/stats.h"
#include "core/tunable.h"
#include "core/util.h"
#include "pager/pager.h"
#include "support/mempager.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/socket.h>

static void
setup(void)
{
	sft_setup(512);
}

TestSuite(sf_tls, .init = setup, .fini = sft_teardown, .timeout = 120);

static struct vms_tls_tx
tx_keys(uint16_t version, int cipher)
{
	struct vms_tls_tx tx = {.version = version, .cipher = cipher, .seq = 7};
	for (int i = 0; i < 32; i++)
		tx.key[i] = (uint8_t)(0x40 + i);
	for (int i = 0; i < 12; i++)
		tx.iv[i] = (uint8_t)(0x90 + 3 * i);
	return tx;
}

/* One record's plaintext and type (the TLS 1.3 inner type), decrypted and authenticated. */
struct rec {
	uint8_t type;
	size_t len;
};

/*
 * Decrypt the records in buf[0, len) sealed with tx (first sequence tx.seq),
 * at most `limit` of them; stores application data in *app and returns the
 * number of records (*used: the bytes they took, if not NULL).  Asserts
 * every record authenticates and holds at most 16 KiB.
 */
static int
open_records_n(const struct vms_tls_tx *tx, const uint8_t *buf, size_t len, int limit, size_t *used,
	       uint8_t *app, size_t *applen, struct rec *recs, int maxrecs)
{
	const EVP_CIPHER *c = tx->cipher == VMS_TLS_AES_128_GCM   ? EVP_aes_128_gcm()
			      : tx->cipher == VMS_TLS_AES_256_GCM ? EVP_aes_256_gcm()
								  : EVP_chacha20_poly1305();
	bool tls13 = tx->version == 0x0304;
	bool expl = !tls13 && tx->cipher != VMS_TLS_CHACHA20_POLY1305;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	cr_assert_not_null(ctx);
	uint64_t seq = tx->seq;
	size_t off = 0;
	int n = 0;
	*applen = 0;
	while (off < len && n < limit) {
		cr_assert_geq(len - off, 5, "a record header was cut");
		const uint8_t *h = buf + off;
		size_t rl = (size_t)h[3] << 8 | h[4];
		cr_assert_leq(off + 5 + rl, len, "a record was cut");
		cr_assert(h[1] == 3 && h[2] == 3, "record version %02x%02x", h[1], h[2]);
		uint8_t nonce[12], aad[13];
		const uint8_t *ct = h + 5;
		size_t clen = rl - 16;
		memcpy(nonce, tx->iv, 12);
		if (expl) {
			memcpy(nonce + 4, ct, 8);
			ct += 8;
			clen -= 8;
		} else {
			for (int i = 0; i < 8; i++)
				nonce[4 + i] ^= (uint8_t)(seq >> (56 - 8 * i));
		}
		int aadlen = 5;
		if (tls13) {
			memcpy(aad, h, 5);
		} else {
			for (int i = 0; i < 8; i++)
				aad[i] = (uint8_t)(seq >> (56 - 8 * i));
			aad[8] = h[0];
			aad[9] = 3;
			aad[10] = 3;
			aad[11] = (uint8_t)(clen >> 8);
			aad[12] = (uint8_t)clen;
			aadlen = 13;
		}
		uint8_t *pt = malloc(clen + 16);
		int ol, fl;
		cr_assert(EVP_DecryptInit_ex(ctx, c, NULL, tx->key, nonce) == 1);
		cr_assert(EVP_DecryptUpdate(ctx, NULL, &ol, aad, aadlen) == 1);
		cr_assert(EVP_DecryptUpdate(ctx, pt, &ol, ct, (int)clen) == 1);
		cr_assert(
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(ct + clen)) == 1);
		cr_assert(EVP_DecryptFinal_ex(ctx, pt + ol, &fl) == 1,
			  "record %d (seq %llu) does not authenticate", n, (unsigned long long)seq);
		size_t plen = clen;
		uint8_t type = h[0];
		if (tls13) {
			cr_assert_eq(h[0], 23, "TLS 1.3 records are application_data outside");
			type = pt[--plen];
		}
		cr_assert_leq(plen, VMS_TLS_MAX_PLAIN, "record %d has %zu bytes", n, plen);
		if (type == 23) {
			memcpy(app + *applen, pt, plen);
			*applen += plen;
		}
		if (n < maxrecs)
			recs[n] = (struct rec){type, plen};
		free(pt);
		off += 5 + rl;
		seq++;
		n++;
	}
	EVP_CIPHER_CTX_free(ctx);
	if (used != NULL)
		*used = off;
	return n;
}

static int
open_records(const struct vms_tls_tx *tx, const uint8_t *buf, size_t len, uint8_t *app,
	     size_t *applen, struct rec *recs, int maxrecs)
{
	return open_records_n(tx, buf, len, INT_MAX, NULL, app, applen, recs, maxrecs);
}

static bool expect_region = true; /* tls_buffer_mem > 0 */

static uint64_t
stat_now(const char *name)
{
	const struct vms_stat *st = vms_stat_find(name, NULL);
	cr_assert_not_null(st, "no stat %s", name);
	return vms_stat_value(st);
}

static void
records_case(uint16_t version, int cipher)
{
	size_t size = 100 * 1024 + 123;
	uint8_t *data = sft_pattern(size, 31);
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "tlsfile");
	mempager_set_mode(obj, MEMPAGER_THREAD, 50); /* the uncached pages arrive later */
	sft_cache_pages(obj, 2, 3);
	sft_cache_pages(obj, 20, 1);

	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, NULL, NULL);
	cr_assert_eq(vms_socket_write(so, "raw", 3, NULL), 0); /* before TX: bytes as they are */
	struct vms_tls_tx tx = tx_keys(version, cipher);
	int k = vms_socket_tls_tx(so, &tx);
	cr_assert(k == 0 || k == 1, "vms_socket_tls_tx gave %d", k);
	cr_assert(vms_socket_tls_on(so));
	cr_assert_eq(vms_socket_tls_tx(so, &tx), -EINVAL, "TX twice");
	uint64_t pb0 = counter_get(&sf_tls_stats.page_bytes);
	cr_assert_eq(vms_socket_write_record(so, 22, "tkt", 3), 0);
	struct iovec h = {"head", 4}, t = {"tail", 4};
	struct vms_hdtr hd = {&h, 1, &t, 1};
	cr_assert_eq(vms_sendfile_object(so, obj, 0, 0, &hd, NULL, 0), 0);
	cr_assert_eq(vms_socket_flush(so), 0);
	cr_assert_eq(vms_socket_write(so, "after", 5, NULL), 0);
	sft_close_all(so);
	sft_sink_join(sink);
	mempager_drain(obj);
	cr_assert(vm_quiescent(), "a page is busy or wired");

	if (k == 1) /* kernel TLS: the kernel made the records; nothing more to check here */
		goto out;
	cr_assert_geq(sink->len, 3);
	cr_assert_eq(memcmp(sink->buf, "raw", 3), 0);
	uint8_t *app = malloc(size + 64);
	size_t applen;
	struct rec recs[64];
	int n = open_records(&tx, sink->buf + 3, sink->len - 3, app, &applen, recs, 64);
	cr_assert_eq(recs[0].type, 22, "the control record keeps its place and type");
	cr_assert_eq(recs[0].len, 3);
	cr_assert_eq(applen, 4 + size + 4 + 5);
	cr_assert_eq(memcmp(app, "head", 4), 0);
	cr_assert_eq(memcmp(app + 4, data, size), 0, "the body decrypts to the file");
	cr_assert_eq(memcmp(app + 4 + size, "tailafter", 9), 0);
	cr_assert_geq(n, 1 + (int)howmany(size, VMS_TLS_MAX_PLAIN));
	/* Every body byte was sealed straight from a wired page, none from a copy. */
	cr_assert_eq(counter_get(&sf_tls_stats.page_bytes) - pb0, size);
	/* The records were sealed into the pre-faulted region (if any), and all given back. */
	if (expect_region)
		cr_assert_eq(stat_now("tls_buffer_fallback_allocs"), 0);
	else
		cr_assert_gt(stat_now("tls_buffer_fallback_allocs"), 0);
	cr_assert_eq(stat_now("tls_buffer_used"), 0);
	free(app);
out:
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sf_tls, records_tls13_aes128gcm)
{
	records_case(0x0304, VMS_TLS_AES_128_GCM);
}
Test(sf_tls, records_tls13_aes256gcm)
{
	records_case(0x0304, VMS_TLS_AES_256_GCM);
}
Test(sf_tls, records_tls13_chacha20)
{
	records_case(0x0304, VMS_TLS_CHACHA20_POLY1305);
}
Test(sf_tls, records_tls12_aes128gcm)
{
	records_case(0x0303, VMS_TLS_AES_128_GCM);
}
Test(sf_tls, records_tls12_aes256gcm)
{
	records_case(0x0303, VMS_TLS_AES_256_GCM);
}
Test(sf_tls, records_tls12_chacha20)
{
	records_case(0x0303, VMS_TLS_CHACHA20_POLY1305);
}

/* With no region (tls_buffer_mem 0), every record buffer is malloc'd, counted, and right. */
Test(sf_tls, records_without_the_buffer_region)
{
	cr_assert_eq(vms_tunable_set("tls_buffer_mem", "0"), 0);
	expect_region = false;
	sf_ktls = 0;
	records_case(0x0304, VMS_TLS_AES_128_GCM);
	sf_ktls = 1;
	vms_tunables_reset();
}

/*
 * A peer that stops reading in the middle of 1 MiB: returns the stat
 * `held` (sealed-record memory) at the stall, then lets the peer read and
 * checks that every byte came through and nothing stays wired or allocated.
 */
static uint64_t
stalled_peer(const char *held)
{
	sf_ktls = 0;
	size_t size = 1 << 20;
	uint8_t *data = sft_pattern(size, 57);
	struct vm_object *obj = mempager_create(data, size, 0, "stalled");
	sft_cache_pages(obj, 0, (int)(size / 4096)); /* every page ready at once */
	int fds[2];
	sft_tcp_pair(fds);
	int small = 8192;
	cr_assert_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	struct sft_sink *sink = sft_sink_start(fds[1], true);
	struct vms_socket *so = sft_socket(fds[0], 2 << 20, NULL, NULL, NULL);
	struct vms_tls_tx tx = tx_keys(0x0304, VMS_TLS_AES_128_GCM);
	cr_assert_eq(vms_socket_tls_tx(so, &tx), 0);
	int rc = vms_sendfile_object(so, obj, 0, 0, NULL, NULL, 0);
	cr_assert_eq(rc, 0, "%d", rc);
	for (int i = 0; i < 50; i++)
		sft_run_once();
	uint64_t n = stat_now(held);
	cr_assert_gt(vms_socket_sbcc(so), size / 2, "the peer's buffers took most of it: %u",
		     vms_socket_sbcc(so));
	sft_sink_resume(sink);
	cr_assert_eq(vms_socket_flush(so), 0);
	sft_close_all(so);
	sft_sink_join(sink);
	cr_assert(vm_quiescent(), "a page is busy or wired");
	cr_assert_eq(stat_now(held), 0);
	uint8_t *app = malloc(size + 64);
	size_t applen;
	struct rec recs[80];
	int nrec = open_records(&tx, sink->buf, sink->len, app, &applen, recs, 80);
	cr_assert_geq(nrec, (int)howmany(size, VMS_TLS_MAX_PLAIN));
	cr_assert_eq(applen, size);
	cr_assert_eq(memcmp(app, data, size), 0, "the body decrypts to the file");
	free(app);
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	free(data);
	sf_ktls = 1;
	return n;
}

/*
 * With room in the record region, sealing runs up to 256 KiB ahead, in
 * runs whose four records fill their 64 KiB block: five blocks, and one
 * more once a send comes back short (four full records took 128 KiB each).
 */
Test(sf_tls, a_stalled_peer_holds_256k_ahead_in_64k_blocks_with_room)
{
	uint64_t used = stalled_peer("tls_buffer_used");
	cr_assert_geq(used, 4 * 65536, "%lu bytes sealed ahead", used);
	cr_assert_leq(used, 6 * 65536, "%lu bytes of sealed records for a stalled peer", used);
}

/* Without room (here: no region at all), records are sealed as sends need them. */
Test(sf_tls, a_stalled_peer_holds_two_sealed_runs_without_room)
{
	cr_assert_eq(vms_tunable_set("tls_buffer_mem", "0"), 0);
	uint64_t live = stalled_peer("tls_buffer_fallback_live");
	cr_assert_gt(live, 0);
	cr_assert_leq(live, 2, "%lu sealed runs held for a stalled peer", live);
	vms_tunables_reset();
}

Test(sf_tls, userspace_when_forced)
{
	sf_ktls = 0;
	cr_assert_not(vms_ktls_probe());
	int fds[2];
	sft_tcp_pair(fds);
	struct vms_socket *so = sft_socket(fds[0], 0, NULL, NULL, NULL);
	struct vms_tls_tx tx = tx_keys(0x0304, VMS_TLS_AES_128_GCM);
	cr_assert_eq(vms_socket_tls_tx(so, &tx), 0, "sf_ktls=0 must seal in userspace");
	sft_close_all(so);
	close(fds[1]);
	sf_ktls = 1;
}

/*
 * EIO while a record's pages are read: the Nth pager I/O fails, N = 1, 2,
 * ... until a request succeeds.  The socket aborts with EIO, the records
 * before the hole are a clean prefix, no page stays busy or wired.
 */
static bool
tls_eio_round(unsigned n, const uint8_t *data, size_t size)
{
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "tls-victim");
	mempager_set_block(obj, 4);
	mempager_set_mode(obj, MEMPAGER_THREAD, 20);
	sft_cache_pages(obj, 1, 1);
	sft_cache_pages(obj, 9, 2);
	mempager_fail_nth(obj, n, -EIO);
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, NULL, NULL);
	struct vms_tls_tx tx = tx_keys(0x0304, VMS_TLS_AES_128_GCM);
	cr_assert_geq(vms_socket_tls_tx(so, &tx), 0);
	struct iovec h = {"head", 4};
	struct vms_hdtr hd = {&h, 1, NULL, 0};
	int r = vms_sendfile_object(so, obj, 0, 0, &hd, NULL, 0);
	cr_assert(r == 0 || r == -EIO, "vms_sendfile returned %d", r);
	int fr = vms_socket_flush(so);
	bool failed = fr != 0;
	if (failed)
		cr_assert_eq(fr, -EIO);
	sft_close_all(so);
	sft_sink_join(sink);
	mempager_drain(obj);
	cr_assert(vm_quiescent(), "round %u: a page is busy or wired", n);
	{
		uint8_t *app = malloc(size + 64);
		size_t applen;
		struct rec recs[1];
		open_records(&tx, sink->buf, sink->len, app, &applen, recs, 1);
		if (failed)
			cr_assert_lt(applen, 4 + size, "an aborted stream was delivered whole");
		else
			cr_assert_eq(applen, 4 + size);
		if (applen > 4)
			cr_assert_eq(memcmp(app + 4, data, applen - 4), 0, "a prefix was wrong");
		free(app);
	}
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	return failed;
}

Test(sf_tls, eio_while_pages_are_read)
{
	size_t size = 40 * PAGE_SIZE + 100;
	uint8_t *data = sft_pattern(size, 23);
	sf_ktls = 0; /* userspace records, so the test can open them */
	unsigned n = 1;
	while (tls_eio_round(n, data, size))
		n++;
	cr_assert_gt(n, 5, "only %u I/Os per request: the loop proved little", n - 1);
	sf_ktls = 1;
	free(data);
}

/*
 * A KeyUpdate while the response's pages are still being read: the file
 * (not ready), the KeyUpdate record, a key change, more bytes, a second
 * change back to back with a third.  The peer opens everything up to the
 * KeyUpdate with the first key, the rest with the last key from sequence 0;
 * the middle key sealed nothing.
 */
static void
rekey_case(int cipher)
{
	size_t size = 70 * 1024 + 5;
	uint8_t *data = sft_pattern(size, 41);
	struct vm_object *obj = mempager_create(data, size, 0, "rekey");
	mempager_set_mode(obj, MEMPAGER_DEFERRED, 0);
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, NULL, NULL);
	struct vms_tls_tx tx1 = tx_keys(0x0304, cipher), tx2 = tx1, tx3 = tx1;
	tx2.key[0] ^= 0x55;
	tx2.iv[11] ^= 0x55;
	tx2.seq = 0;
	tx3.key[1] ^= 0xaa;
	tx3.iv[0] ^= 0xaa;
	tx3.seq = 0;
	cr_assert_eq(vms_socket_tls_tx(so, &tx1), 0);
	uint64_t ku0 = counter_get(&sf_tls_stats.key_updates);

	cr_assert_eq(vms_sendfile_object(so, obj, 0, 0, NULL, NULL, 0), 0);
	for (int i = 0; i < 1000 && mempager_pending(obj) == 0; i++)
		sft_run_once();
	cr_assert_gt(mempager_pending(obj), 0, "the read never reached the pager");
	cr_assert_eq(vms_socket_write_record(so, 22, "\x18\0\0\1\1", 5), 0);
	cr_assert_eq(vms_socket_tls_rekey(so, &tx2), 0);
	cr_assert_eq(vms_socket_tls_rekey(so, &tx3), 0);
	cr_assert_eq(vms_socket_write(so, "after", 5, NULL), 0);
	cr_assert_eq(counter_get(&sf_tls_stats.key_updates) - ku0, 2);
	sft_run_once();
	cr_assert_eq(sft_sink_len(sink), 0, "bytes passed the pages being read");
	mempager_set_mode(obj, MEMPAGER_THREAD, 0);
	mempager_complete_pending(obj);
	cr_assert_eq(vms_socket_flush(so), 0);
	sft_close_all(so);
	sft_sink_join(sink);
	mempager_drain(obj);
	cr_assert(vm_quiescent(), "a page is busy or wired");

	uint8_t *app = malloc(size + 64);
	size_t applen, used;
	struct rec recs[16];
	int nfile = (int)howmany(size, VMS_TLS_MAX_PLAIN);
	int n =
	    open_records_n(&tx1, sink->buf, sink->len, nfile + 1, &used, app, &applen, recs, 16);
	cr_assert_eq(n, nfile + 1, "the file and the KeyUpdate under the first key");
	cr_assert_eq(applen, size);
	cr_assert_eq(memcmp(app, data, size), 0, "the file decrypts with the first key");
	cr_assert_eq(recs[nfile].type, 22, "the KeyUpdate record is the first key's last");
	n = open_records(&tx3, sink->buf + used, sink->len - used, app, &applen, recs, 16);
	cr_assert_eq(n, 1);
	cr_assert_eq(applen, 5);
	cr_assert_eq(memcmp(app, "after", 5), 0, "the bytes after it decrypt with the new key");
	free(app);
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sf_tls, rekey_in_byte_order_aes128gcm)
{
	sf_ktls = 0; /* userspace records, so the test can open them */
	rekey_case(VMS_TLS_AES_128_GCM);
	sf_ktls = 1;
}
Test(sf_tls, rekey_in_byte_order_aes256gcm)
{
	sf_ktls = 0;
	rekey_case(VMS_TLS_AES_256_GCM);
	sf_ktls = 1;
}
Test(sf_tls, rekey_in_byte_order_chacha20)
{
	sf_ktls = 0;
	rekey_case(VMS_TLS_CHACHA20_POLY1305);
	sf_ktls = 1;
}

/* A key change the socket cannot make aborts it: no byte may follow under a wrong key. */
Test(sf_tls, rekey_refused_aborts)
{
	struct {
		uint16_t version;
		int cipher, new_cipher;
	} cases[] = {{0x0303, VMS_TLS_AES_128_GCM, VMS_TLS_AES_128_GCM},
		     {0x0304, VMS_TLS_AES_128_GCM, VMS_TLS_AES_256_GCM}};
	for (size_t i = 0; i < nitems(cases); i++) {
		int fds[2];
		sft_tcp_pair(fds);
		struct vms_socket *so = sft_socket(fds[0], 0, NULL, NULL, NULL);
		struct vms_tls_tx tx = tx_keys(cases[i].version, cases[i].cipher);
		cr_assert_geq(vms_socket_tls_tx(so, &tx), 0);
		tx.cipher = cases[i].new_cipher;
		cr_assert_eq(vms_socket_tls_rekey(so, &tx), -EINVAL);
		cr_assert_eq(vms_socket_error(so), -EINVAL, "case %zu: the socket goes on", i);
		sft_close_all(so);
		close(fds[1]);
	}
}

/*
 * The 64-bit sequence number never wraps (RFC 8446 5.3): a key handed over
 * at 2^64 - 2 seals two records, then the socket aborts with EOVERFLOW
 * rather than reuse a nonce; a key change before that starts again at 0.
 */
static void
seq_end_case(bool rekey)
{
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, NULL, NULL);
	struct vms_tls_tx tx = tx_keys(0x0304, VMS_TLS_AES_128_GCM), tx2 = tx;
	tx.seq = UINT64_MAX - 1;
	tx2.key[5] ^= 1;
	tx2.seq = 0;
	cr_assert_eq(vms_socket_tls_tx(so, &tx), 0);
	size_t two = 2 * VMS_TLS_MAX_PLAIN;
	uint8_t *buf = sft_pattern(two, 5);
	cr_assert_eq(vms_socket_write(so, buf, two, NULL), 0);
	cr_assert_eq(vms_socket_flush(so), 0, "records 2^64 - 2 and 2^64 - 1 are allowed");
	if (rekey)
		cr_assert_eq(vms_socket_tls_rekey(so, &tx2), 0);
	uint64_t errs = counter_get(&sf_tls_stats.seal_errors);
	int r = vms_socket_write(so, "x", 1, NULL);
	if (r == 0)
		r = vms_socket_flush(so);
	if (rekey) {
		cr_assert_eq(r, 0);
	} else {
		cr_assert_eq(r, -EOVERFLOW, "a record past 2^64 - 1: %d", r);
		cr_assert_eq(counter_get(&sf_tls_stats.seal_errors) - errs, 1);
	}
	sft_close_all(so);
	sft_sink_join(sink);

	uint8_t *app = malloc(two + 8);
	size_t applen, used;
	struct rec recs[4];
	int n = open_records_n(&tx, sink->buf, sink->len, 2, &used, app, &applen, recs, 4);
	cr_assert_eq(n, 2);
	cr_assert_eq(memcmp(app, buf, two), 0);
	if (rekey) {
		n = open_records(&tx2, sink->buf + used, sink->len - used, app, &applen, recs, 4);
		cr_assert_eq(n, 1);
		cr_assert_eq(applen, 1);
	} else {
		cr_assert_eq(used, sink->len, "nothing went out past the last sequence number");
	}
	free(app);
	free(buf);
	sft_sink_free(sink);
}

Test(sf_tls, sequence_number_never_wraps)
{
	sf_ktls = 0;
	seq_end_case(false);
	seq_end_case(true);
	sf_ktls = 1;
}

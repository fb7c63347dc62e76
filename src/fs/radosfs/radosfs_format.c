/*
 * Encoding and decoding of the RADOS dataset manifest (docs/rados-format.md).
 *
 * Everything is little-endian and read through a bounds-checked cursor:
 * the manifest comes from the cluster, and a damaged or hostile one must be
 * refused with a reason, never trusted.  The whole encoding ends with an
 * XXH3-64 of every byte before it.
 */
#include "fs/radosfs/radosfs_format.h"

#include "core/util.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define RFS_HDR_LEN   56
#define RFS_ENT_LEN   40
#define RFS_OBJ_LEN   24
#define RFS_PATH_MAX  4095
#define RFS_MAX_CHUNK (16u << 20)

void
rfs_object_name(char *buf, uint64_t fileid, uint32_t stripe)
{
	snprintf(buf, RFS_OID_MAX, "%016" PRIx64 ".%08" PRIx32, fileid, stripe);
}

void
rfs_manifest_name(char *buf, uint64_t version)
{
	snprintf(buf, RFS_OID_MAX, RFS_MANIFEST_OID ".%016" PRIx64, version);
}

/* The hole checksums of the two lengths a dataset uses (full and last chunk) are cached. */
uint64_t
rfs_zero_sum(uint32_t len)
{
	static _Thread_local uint32_t clen[2] = {UINT32_MAX, UINT32_MAX};
	static _Thread_local uint64_t csum[2];
	static _Thread_local unsigned next;

	for (int i = 0; i < 2; i++)
		if (clen[i] == len)
			return csum[i];
	void *z = calloc(1, len ? len : 1);
	uint64_t s = z ? XXH3_64bits(z, len) : 0;
	free(z);
	if (z == NULL)
		return ~0ull; /* no memory: nothing is a hole, the data is read instead */
	clen[next] = len;
	csum[next] = s;
	next ^= 1;
	return s;
}

uint32_t
rfs_chunk_len(const struct rfs_object *o, uint32_t c, uint32_t chunk)
{
	uint64_t start = (uint64_t)c * chunk;

	return start >= o->len ? 0 : (uint32_t)MIN((uint64_t)chunk, o->len - start);
}

bool
rfs_chunk_is_hole(const struct rfs_object *o, uint32_t c, uint32_t chunk)
{
	if (!o->stored)
		return true;
	return o->chunk_sum[c] == rfs_zero_sum(rfs_chunk_len(o, c, chunk));
}

/* ---- encoding ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void
w_bytes(struct wbuf *w, const void *src, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap) {
		size_t cap = MAX(w->cap * 2, w->len + n + 4096);
		uint8_t *np = realloc(w->p, cap);

		if (np == NULL) {
			w->oom = true;
			return;
		}
		w->p = np;
		w->cap = cap;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void
w_u64(struct wbuf *w, uint64_t v)
{
	v = htole64(v);
	w_bytes(w, &v, 8);
}

static void
w_u32(struct wbuf *w, uint32_t v)
{
	v = htole32(v);
	w_bytes(w, &v, 4);
}

static void
w_u16(struct wbuf *w, uint16_t v)
{
	v = htole16(v);
	w_bytes(w, &v, 2);
}

int
rfs_manifest_encode(const struct rfs_manifest *m, void **out, size_t *outlen)
{
	struct wbuf w = {0};
	static const uint8_t zero[8];

	w_bytes(&w, RFS_MAGIC, 8);
	w_u32(&w, RFS_FORMAT);
	w_u32(&w, RFS_HDR_LEN);
	w_u64(&w, m->version);
	w_u32(&w, m->stripe_size);
	w_u32(&w, m->chunk_size);
	w_u64(&w, m->created_sec);
	w_u32(&w, m->nentries);
	w_u32(&w, 0);
	w_u64(&w, 0); /* reserved */
	for (uint32_t i = 0; i < m->nentries; i++) {
		const struct rfs_entry *e = &m->entries[i];
		size_t pl = strlen(e->path);

		w_u16(&w, (uint16_t)pl);
		w_bytes(&w, &(uint8_t){(uint8_t)e->type}, 1);
		w_bytes(&w, zero, 1);
		w_u32(&w, e->mode);
		w_u64(&w, e->size);
		w_u64(&w, (uint64_t)e->mtime_sec);
		w_u32(&w, e->mtime_nsec);
		w_u32(&w, e->nobjects);
		w_u64(&w, e->fileid);
		w_bytes(&w, e->path, pl);
		for (uint32_t k = 0; k < e->nobjects; k++) {
			const struct rfs_object *o = &e->objects[k];

			w_u64(&w, o->hash);
			w_u32(&w, o->len);
			w_u32(&w, o->nchunks);
			w_bytes(&w, &(uint8_t){o->stored}, 1);
			w_bytes(&w, zero, 7);
			for (uint32_t c = 0; c < o->nchunks; c++)
				w_u64(&w, o->chunk_sum[c]);
		}
	}
	if (!w.oom)
		w_u64(&w, XXH3_64bits(w.p, w.len));
	if (w.oom) {
		free(w.p);
		return -ENOMEM;
	}
	*out = w.p;
	*outlen = w.len;
	return 0;
}

/* ---- decoding ---- */

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const void *
r_take(struct rbuf *r, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	const void *p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t
r_u64(struct rbuf *r)
{
	uint64_t v = 0;
	const void *p = r_take(r, 8);

	if (p)
		memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t
r_u32(struct rbuf *r)
{
	uint32_t v = 0;
	const void *p = r_take(r, 4);

	if (p)
		memcpy(&v, p, 4);
	return le32toh(v);
}

static uint16_t
r_u16(struct rbuf *r)
{
	uint16_t v = 0;
	const void *p = r_take(r, 2);

	if (p)
		memcpy(&v, p, 2);
	return le16toh(v);
}

static uint8_t
r_u8(struct rbuf *r)
{
	const uint8_t *p = r_take(r, 1);

	return p ? *p : 0;
}

__attribute__((format(printf, 3, 4))) static int
rfs_bad(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errsz > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* A stored path: "" or components without "", ".", "..", NUL; no leading or trailing '/'. */
static bool
rfs_path_ok(const char *p, size_t n)
{
	size_t s = 0;

	if (n == 0)
		return true;
	if (memchr(p, '\0', n) != NULL)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		size_t cl = i - s;
		if (cl == 0 || (cl == 1 && p[s] == '.') ||
		    (cl == 2 && p[s] == '.' && p[s + 1] == '.'))
			return false;
		s = i + 1;
	}
	return true;
}

static void
rfs_manifest_free(struct rfs_manifest *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; i < m->nentries; i++) {
		free(m->entries[i].path);
		free(m->entries[i].objects);
	}
	free(m->entries);
	free(m->sums);
	free(m);
}

/* Check one file entry's objects against its size and the manifest's geometry. */
static int
rfs_entry_check(const struct rfs_manifest *m, const struct rfs_entry *e, char *err, size_t errsz)
{
	uint64_t want = e->size == 0 ? 0 : (e->size - 1) / m->stripe_size + 1;

	if (e->nobjects != want)
		return rfs_bad(err, errsz, "%s: %u objects for %" PRIu64 " bytes", e->path,
			       e->nobjects, e->size);
	for (uint32_t k = 0; k < e->nobjects; k++) {
		const struct rfs_object *o = &e->objects[k];
		uint64_t len =
		    MIN((uint64_t)m->stripe_size, e->size - (uint64_t)k * m->stripe_size);

		if (o->len != len || o->nchunks != howmany(len, m->chunk_size))
			return rfs_bad(err, errsz, "%s: object %u has a bad length or chunk count",
				       e->path, k);
	}
	return 0;
}

int
rfs_manifest_decode(const void *buf, size_t len, struct rfs_manifest **out, char *err, size_t errsz)
{
	struct rbuf r = {.p = buf, .len = len};
	struct rfs_manifest *m;
	uint64_t sum, total_chunks = 0;
	int rv = 0;

	if (len < RFS_HDR_LEN + 8)
		return rfs_bad(err, errsz, "manifest too short (%zu bytes)", len);
	memcpy(&sum, (const uint8_t *)buf + len - 8, 8);
	if (le64toh(sum) != XXH3_64bits(buf, len - 8))
		return rfs_bad(err, errsz, "manifest checksum mismatch");
	r.len = len - 8;
	if (memcmp(r_take(&r, 8), RFS_MAGIC, 8) != 0)
		return rfs_bad(err, errsz, "not a vmsend manifest (bad magic)");
	if (r_u32(&r) != RFS_FORMAT)
		return rfs_bad(err, errsz, "unknown manifest format");
	if (r_u32(&r) != RFS_HDR_LEN)
		return rfs_bad(err, errsz, "bad header length");
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	atomic_init(&m->refs, 1);
	m->version = r_u64(&r);
	m->stripe_size = r_u32(&r);
	m->chunk_size = r_u32(&r);
	m->created_sec = r_u64(&r);
	m->nentries = r_u32(&r);
	(void)r_u32(&r);
	(void)r_u64(&r);
	if (m->chunk_size < 4096 || m->chunk_size > RFS_MAX_CHUNK ||
	    (m->chunk_size & (m->chunk_size - 1)) != 0 || m->stripe_size < m->chunk_size ||
	    m->stripe_size % m->chunk_size != 0 || m->stripe_size > (1u << 30)) {
		rfs_manifest_free(m);
		return rfs_bad(err, errsz, "bad stripe/chunk size %u/%u", m->stripe_size,
			       m->chunk_size);
	}
	if (m->nentries > len / RFS_ENT_LEN) {
		rfs_manifest_free(m);
		return rfs_bad(err, errsz, "entry count %u exceeds the manifest", m->nentries);
	}
	/* Two passes over the bytes: count the chunks, then fill one array. */
	size_t start = r.off;
	m->entries = calloc(m->nentries ? m->nentries : 1, sizeof(*m->entries));
	if (m->entries == NULL) {
		rfs_manifest_free(m);
		return -ENOMEM;
	}
	for (int pass = 0; pass < 2 && rv == 0; pass++) {
		uint64_t ci = 0;

		r.off = start;
		r.bad = false;
		if (pass == 1) {
			m->sums = calloc(total_chunks ? total_chunks : 1, sizeof(uint64_t));
			if (m->sums == NULL) {
				rv = -ENOMEM;
				break;
			}
		}
		for (uint32_t i = 0; i < m->nentries && rv == 0; i++) {
			struct rfs_entry *e = &m->entries[i];
			uint16_t pl = r_u16(&r);
			uint8_t type = r_u8(&r);

			(void)r_u8(&r);
			e->type = type;
			e->mode = r_u32(&r) & 07777;
			e->size = r_u64(&r);
			e->mtime_sec = (int64_t)r_u64(&r);
			e->mtime_nsec = r_u32(&r);
			e->nobjects = r_u32(&r);
			e->fileid = r_u64(&r);
			const char *p = r_take(&r, pl);
			if (r.bad)
				break;
			if ((type != RFS_T_FILE && type != RFS_T_DIR) || !rfs_path_ok(p, pl) ||
			    e->mtime_nsec >= 1000000000u || (type == RFS_T_DIR && e->nobjects) ||
			    e->nobjects > (r.len - r.off) / RFS_OBJ_LEN) {
				rv = rfs_bad(err, errsz, "entry %u is malformed", i);
				break;
			}
			if (pass == 0) {
				for (uint32_t k = 0; k < e->nobjects && !r.bad; k++) {
					(void)r_take(&r, 12);
					uint32_t nc = r_u32(&r);
					(void)r_take(&r, 8);
					if (nc > (r.len - r.off) / 8) {
						r.bad = true;
						break;
					}
					(void)r_take(&r, (size_t)nc * 8);
					total_chunks += nc;
				}
				continue;
			}
			e->path = strndup(p, pl);
			e->objects = calloc(e->nobjects ? e->nobjects : 1, sizeof(*e->objects));
			if (e->path == NULL || e->objects == NULL) {
				rv = -ENOMEM;
				break;
			}
			for (uint32_t k = 0; k < e->nobjects; k++) {
				struct rfs_object *o = &e->objects[k];

				o->hash = r_u64(&r);
				o->len = r_u32(&r);
				o->nchunks = r_u32(&r);
				o->stored = r_u8(&r) != 0;
				(void)r_take(&r, 7);
				o->chunk_sum = m->sums + ci;
				for (uint32_t c = 0; c < o->nchunks && ci < total_chunks; c++)
					m->sums[ci++] = r_u64(&r);
			}
			if (r.bad)
				break;
			if (i > 0 && strcmp(m->entries[i - 1].path, e->path) >= 0) {
				rv = rfs_bad(err, errsz, "entries not sorted at %s", e->path);
				break;
			}
			if (type == RFS_T_FILE && (rv = rfs_entry_check(m, e, err, errsz)) != 0)
				break;
		}
		if (rv == 0 && r.bad)
			rv = rfs_bad(err, errsz, "manifest truncated");
	}
	if (rv == 0 && r.off != r.len)
		rv = rfs_bad(err, errsz, "%zu trailing bytes", r.len - r.off);
	if (rv == 0 &&
	    (m->nentries == 0 || m->entries[0].path[0] != '\0' || m->entries[0].type != RFS_T_DIR))
		rv = rfs_bad(err, errsz, "no root directory");
	if (rv != 0) {
		rfs_manifest_free(m);
		return rv;
	}
	*out = m;
	return 0;
}

void
rfs_manifest_ref(struct rfs_manifest *m)
{
	atomic_fetch_add(&m->refs, 1);
}

void
rfs_manifest_rele(struct rfs_manifest *m)
{
	if (m != NULL && atomic_fetch_sub(&m->refs, 1) == 1)
		rfs_manifest_free(m);
}

const struct rfs_entry *
rfs_manifest_find(const struct rfs_manifest *m, const char *path)
{
	uint32_t lo = 0, hi = m->nentries;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->entries[mid].path, path);

		if (c == 0)
			return &m->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
rfs_manifest_children(const struct rfs_manifest *m, const char *dir,
		      int (*cb)(void *arg, const char *name, const struct rfs_entry *e), void *arg)
{
	size_t dl = strlen(dir);

	for (uint32_t i = 0; i < m->nentries; i++) {
		const char *p = m->entries[i].path;
		const char *name;

		if (dl == 0) {
			if (p[0] == '\0')
				continue;
			name = p;
		} else {
			if (strncmp(p, dir, dl) != 0 || p[dl] != '/')
				continue;
			name = p + dl + 1;
		}
		if (strchr(name, '/') != NULL)
			continue;
		int rv = cb(arg, name, &m->entries[i]);
		if (rv != 0)
			return rv;
	}
	return 0;
}

/*
 * From a parsed request to a response plan.
 *
 * The handler decides everything about a response before a byte is queued:
 * status, head, and a list of pieces (copied bytes and file ranges).  conn.c
 * then queues the pieces in order, through vms_socket_write() for copied
 * bytes and vms_sendfile_vnode() for file ranges, resuming after EAGAIN.  Keeping
 * the decision and the queueing apart is what lets one connection wait for
 * its send buffer while the loop serves others.
 *
 * Order of checks (RFC 9110 section 13.2.2): method, path, lookup, then
 * If-None-Match / If-Modified-Since, then If-Range and Range.
 */
#include "http/http_impl.h"

#include "core/log.h"
#include "core/util.h"
#include "vfs/vfs.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_SERVER_NAME "vmsend"

void
http_resp_reset(struct http_resp *r)
{
	r->status = 0;
	r->close = false;
	r->vp = NULL;
	r->npieces = 0;
	r->cur = 0;
	r->done = 0;
	r->memlen = 0;
	r->body = 0;
	r->loglen = 0;
	r->head_only = false;
	r->http10 = false;
	r->nomem = false;
	r->always = NULL;
}

void
http_resp_free_mem(struct http_resp *r)
{
	if (r->mem == NULL)
		return;
	free(r->mem);
	atomic_fetch_sub_explicit(&http_stats.respbufs, 1, memory_order_relaxed);
	r->mem = NULL;
	r->memcap = r->memlen = 0;
}

long
http_resp_alloc(struct http_resp *r, size_t n)
{
	if (r->memlen + n > r->memcap) {
		size_t cap = r->memcap ? r->memcap : HTTP_RESP_MEM;
		while (cap < r->memlen + n)
			cap *= 2;
		char *m = realloc(r->mem, cap);
		if (m == NULL) {
			r->nomem = true;
			return -1;
		}
		if (r->mem == NULL)
			atomic_fetch_add_explicit(&http_stats.respbufs, 1, memory_order_relaxed);
		r->mem = m;
		r->memcap = cap;
	}
	long off = (long)r->memlen;
	r->memlen += n;
	return off;
}

static void
http_piece_copy(struct http_resp *r, size_t moff, size_t len)
{
	if (len == 0 || r->npieces == HTTP_MAX_PIECES)
		return;
	/* Adjacent copies merge: a multipart trailer and the next part's head go out as one. */
	struct http_piece *last = r->npieces ? &r->pieces[r->npieces - 1] : NULL;
	if (last && !last->file && last->moff + last->len == moff) {
		last->len += len;
		return;
	}
	r->pieces[r->npieces++] = (struct http_piece){.file = false, .moff = moff, .len = len};
}

void
http_resp_add_copy(struct http_resp *r, const char *p, size_t n)
{
	long off = http_resp_alloc(r, n);
	if (off < 0)
		return;
	memcpy(r->mem + off, p, n);
	http_piece_copy(r, (size_t)off, n);
}

static void
http_piece_file(struct http_resp *r, uint64_t off, uint64_t len)
{
	if (len == 0 || r->npieces == HTTP_MAX_PIECES)
		return;
	r->pieces[r->npieces++] = (struct http_piece){.file = true, .off = off, .len = len};
}

/* The Date value, formatted once per second per thread. */
static const char *
http_date_now(void)
{
	static _Thread_local time_t last;
	static _Thread_local char buf[HTTP_DATE_LEN + 1];
	time_t now = time(NULL);
	if (now != last) {
		http_date_format(now, buf);
		last = now;
	}
	return buf;
}

/*
 * Start a head in a fresh region of r->mem; finish with http_head_end().
 * `more` is the length of any caller-made line beyond the usual fields (a
 * Location echoes up to HTTP_MAX_PATH bytes of the request), so the region
 * always fits the head and an overflow means only that memory ran out.
 */
static void
http_head_begin(struct http_resp *r, struct http_hdrbuf *hb, int status, size_t more)
{
	r->status = status;
	size_t cap = 2048 + more;
	long off = http_resp_alloc(r, cap);
	http_hdr_init(hb, off < 0 ? NULL : r->mem + off, off < 0 ? 0 : cap);
	if (off < 0) {
		hb->overflow = true;
		return;
	}
	http_hdr_status(hb, status);
	http_hdr_str(hb, "Server", HTTP_SERVER_NAME);
	http_hdr_strn(hb, "Date", http_date_now(), HTTP_DATE_LEN);
	if (r->always != NULL)
		http_hdr_line(hb, r->always);
}

static void
http_head_end(struct http_resp *r, struct http_hdrbuf *hb)
{
	http_hdr_str(hb, "Connection", r->close ? "close" : "keep-alive");
	size_t n = http_hdr_end(hb);
	if (hb->buf == NULL)
		return;
	size_t moff = (size_t)(hb->buf - r->mem);
	/* Give back what the head did not use so the next copy lands right after it. */
	r->memlen = moff + n;
	http_piece_copy(r, moff, n);
}

void
http_resp_simple(struct http_conn *c, struct http_resp *r, int status, bool close,
		 const char *extra)
{
	(void)c;
	if (r->vp) {
		vnode_rele(r->vp);
		r->vp = NULL;
	}
	r->npieces = 0;
	r->memlen = 0;
	r->close = close || r->close;
	char body[256];
	int blen = 0;
	if (status != 304)
		blen = snprintf(body, sizeof(body),
				"<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
				"<body><h1>%d %s</h1></body></html>\n",
				status, http_status_reason(status), status,
				http_status_reason(status));
	struct http_hdrbuf hb;
	http_head_begin(r, &hb, status, extra ? strlen(extra) : 0);
	if (extra)
		http_hdr_line(&hb, extra);
	if (status != 304) {
		http_hdr_str(&hb, "Content-Type", "text/html; charset=utf-8");
		http_hdr_u64(&hb, "Content-Length", (uint64_t)blen);
	}
	http_head_end(r, &hb);
	if (!r->head_only && blen > 0) {
		http_resp_add_copy(r, body, (size_t)blen);
		r->body = (uint64_t)blen;
	}
}

/* ---- files ---- */

/*
 * A file's validators (ETag and Last-Modified text) depend only on its
 * identity (device, inode, size, mtime), so each thread keeps the ones it
 * made last in a small direct-mapped table keyed by all of it: a hit can
 * never give another version's tags, and a changed file simply misses.
 * This takes gmtime_r (which takes glibc's global time-zone lock) and the
 * formatting off the path of a hot file.
 */
struct http_vcache {
	bool used;
	uint64_t dev, ino, size;
	int64_t mtime_sec;
	long mtime_nsec;
	size_t etag_len;
	char etag[HTTP_ETAG_MAX];
	char lastmod[HTTP_DATE_LEN + 1];
};

#define HTTP_VCACHE_SLOTS 64 /* a power of two */

static const char *
http_validators(const struct vnode *vp, const char **lastmod, size_t *etag_len)
{
	static _Thread_local struct http_vcache vc[HTTP_VCACHE_SLOTS];
	const struct vattr *va = &vp->va;
	uint64_t h =
	    (va->ino ^ (va->dev << 20) ^ (uint64_t)va->mtime.tv_nsec) * 0x9e3779b97f4a7c15ull;
	struct http_vcache *e = &vc[h >> 58 & (HTTP_VCACHE_SLOTS - 1)];
	if (!e->used || e->dev != va->dev || e->ino != va->ino || e->size != va->size ||
	    e->mtime_sec != (int64_t)va->mtime.tv_sec || e->mtime_nsec != va->mtime.tv_nsec) {
		e->used = true;
		e->dev = va->dev;
		e->ino = va->ino;
		e->size = va->size;
		e->mtime_sec = (int64_t)va->mtime.tv_sec;
		e->mtime_nsec = va->mtime.tv_nsec;
		e->etag_len = http_etag_make(e->etag, HTTP_ETAG_MAX, e->dev, e->ino, e->size,
					     e->mtime_sec, e->mtime_nsec);
		http_date_format(va->mtime.tv_sec, e->lastmod);
	}
	*lastmod = e->lastmod;
	*etag_len = e->etag_len;
	return e->etag;
}

/* ---- precompressed variants and configured headers ---- */

static const struct {
	const char *coding, *ext;
} http_variants[] = {{"br", ".br"}, {"zstd", ".zst"}, {"gzip", ".gz"}}; /* preference on ties */

static bool
http_not_older(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

/*
 * --precompressed: the variant FILE.br, FILE.zst or FILE.gz with the highest
 * Accept-Encoding weight that exists, is a regular file and is not older
 * than FILE (a stale variant would serve old content).  Returns the vnode
 * to serve, vp itself or the variant (vp released), and the coding in *enc
 * (NULL for vp).  The variant is an ordinary file to the rest of the
 * handler: its own ETag, ranges and conditionals apply to its bytes.
 */
static struct vnode *
http_precompressed(const struct http_request *req, struct vnode *vp, const char *path,
		   const char **enc)
{
	enum { NV = sizeof(http_variants) / sizeof(http_variants[0]) };
	const struct http_str *ae = http_request_header(req, "Accept-Encoding");
	size_t plen = strlen(path);
	char vpath[HTTP_MAX_PATH + 32];
	int q[NV];
	*enc = NULL;
	if (ae == NULL || ae->len == 0 || plen + 5 > sizeof(vpath))
		return vp;
	for (int i = 0; i < NV; i++)
		q[i] = http_accept_encoding_q(ae->p, ae->len, http_variants[i].coding);
	memcpy(vpath, path, plen);
	for (;;) {
		int best = -1;
		for (int i = 0; i < NV; i++)
			if (q[i] > 0 && (best < 0 || q[i] > q[best]))
				best = i;
		if (best < 0)
			return vp;
		q[best] = 0;
		strcpy(vpath + plen, http_variants[best].ext);
		struct vnode *cv;
		if (vfs_lookup(vpath, &cv) != 0)
			continue;
		if (cv->va.type == VREG && http_not_older(&cv->va.mtime, &vp->va.mtime)) {
			vnode_rele(vp);
			*enc = http_variants[best].coding;
			return cv;
		}
		vnode_rele(cv);
	}
}

/* Head room the configured header lines may need (head_begin's `more`). */
static size_t
http_rules_room(const struct http_server_config *cfg)
{
	size_t n = 0;
	for (int i = 0; i < cfg->nheader_rules; i++)
		n += strlen(cfg->header_rules[i].name) + strlen(cfg->header_rules[i].value) + 64;
	return n;
}

static bool
http_rule_matches(const struct http_header_rule *hr, const char *path)
{
	const char *base = strrchr(path, '/');
	return fnmatch(hr->pattern, hr->pattern[0] == '/' ? path : base ? base + 1 : path, 0) == 0;
}

/* A file's Content-Type: the last rule that sets one for its path, else the table's. */
static const char *
http_file_type(const struct http_server_config *cfg, const char *path)
{
	for (int i = cfg->nheader_rules - 1; i >= 0; i--) {
		const struct http_header_rule *hr = &cfg->header_rules[i];
		if (strcasecmp(hr->name, "Content-Type") == 0 && http_rule_matches(hr, path))
			return hr->value;
	}
	return http_mime_type(path);
}

/* The configured headers for a URL path (see struct http_header_rule); not Content-Type. */
static void
http_head_rules(const struct http_server_config *cfg, struct http_hdrbuf *hb, const char *path)
{
	const struct http_header_rule *use[HTTP_MAX_HEADER_RULES];
	int n = 0;
	bool cache_control = false;
	for (int i = 0; i < cfg->nheader_rules; i++) {
		const struct http_header_rule *hr = &cfg->header_rules[i];
		if (strcasecmp(hr->name, "Content-Type") == 0 || !http_rule_matches(hr, path))
			continue;
		int j = 0;
		while (j < n && strcasecmp(use[j]->name, hr->name) != 0)
			j++;
		use[j] = hr; /* a later rule for the same name replaces the earlier one */
		n = j == n ? n + 1 : n;
		cache_control |= strcasecmp(hr->name, "Cache-Control") == 0;
	}
	for (int j = 0; j < n; j++) {
		if (strcmp(use[j]->name, "Expires") != 0) {
			http_hdr_str(hb, use[j]->name, use[j]->value);
			continue;
		}
		long long secs = atoll(use[j]->value);
		char date[HTTP_DATE_LEN + 1];
		http_date_format(time(NULL) + (time_t)secs, date);
		http_hdr_strn(hb, "Expires", date, HTTP_DATE_LEN);
		if (!cache_control)
			http_hdr_add(hb, "Cache-Control", "max-age=%lld", secs);
	}
}

/* Validators, coding and configured headers: the same on 200, 206 and 304. */
static void
http_head_file(const struct http_server_config *cfg, struct http_hdrbuf *hb, const char *etag,
	       size_t etag_len, const char *lastmod, const char *enc, const char *path)
{
	http_hdr_strn(hb, "ETag", etag, etag_len);
	http_hdr_strn(hb, "Last-Modified", lastmod, HTTP_DATE_LEN);
	if (enc != NULL)
		http_hdr_str(hb, "Content-Encoding", enc);
	if (cfg->precompressed)
		http_hdr_str(hb, "Vary", "Accept-Encoding");
	if (cfg->nheader_rules > 0)
		http_head_rules(cfg, hb, path);
}

static void
http_serve_file(struct http_conn *c, struct http_resp *r, const struct http_request *req,
		struct vnode *vp, const char *path)
{
	const struct http_server_config *cfg = http_conn_cfg(c);
	uint64_t size = vp->va.size;
	const char *lastmod;
	size_t etag_len;
	struct http_hdrbuf hb;
	const char *enc = NULL;
	size_t room = http_rules_room(cfg);

	const char *ctype = http_file_type(cfg, path);
	if (cfg->precompressed) {
		vp = http_precompressed(req, vp, path, &enc);
		size = vp->va.size;
	}
	/* Points into this thread's cache: valid until the next lookup here. */
	const char *etag = http_validators(vp, &lastmod, &etag_len);

	int cond = http_cond_evaluate(req, etag, etag_len, vp->va.mtime.tv_sec);
	if (cond == 412) {
		vnode_rele(vp);
		http_resp_simple(c, r, 412, false, NULL);
		return;
	}
	if (cond == 304) {
		vnode_rele(vp);
		http_head_begin(r, &hb, 304, room);
		http_head_file(cfg, &hb, etag, etag_len, lastmod, enc, path);
		http_head_end(r, &hb);
		return;
	}

	struct http_range rg[HTTP_MAX_RANGES];
	int nr = 0;
	enum http_range_result rr = HTTP_RANGE_NONE;
	if (req->range.len > 0 && http_if_range_ok(req, etag, etag_len, vp->va.mtime.tv_sec))
		rr = http_range_parse(req->range.p, req->range.len, size, rg, HTTP_MAX_RANGES, &nr);

	if (rr == HTTP_RANGE_UNSATISFIABLE) {
		vnode_rele(vp);
		char extra[64];
		snprintf(extra, sizeof(extra), "Content-Range: bytes */%llu",
			 (unsigned long long)size);
		http_resp_simple(c, r, 416, false, extra);
		return;
	}

	r->vp = vp;
	if (rr == HTTP_RANGE_OK && nr == 1) {
		uint64_t len = rg[0].end - rg[0].start + 1;
		http_head_begin(r, &hb, 206, room);
		http_hdr_str(&hb, "Content-Type", ctype);
		http_hdr_put(&hb, "Content-Range: bytes ", 21);
		http_hdr_put_u64(&hb, rg[0].start);
		http_hdr_put(&hb, "-", 1);
		http_hdr_put_u64(&hb, rg[0].end);
		http_hdr_put(&hb, "/", 1);
		http_hdr_put_u64(&hb, size);
		http_hdr_put(&hb, "\r\n", 2);
		http_hdr_u64(&hb, "Content-Length", len);
		http_hdr_str(&hb, "Accept-Ranges", "bytes");
		http_head_file(cfg, &hb, etag, etag_len, lastmod, enc, path);
		http_head_end(r, &hb);
		if (!r->head_only) {
			http_piece_file(r, rg[0].start, len);
			r->body = len;
		}
		return;
	}
	if (rr == HTTP_RANGE_OK) {
		char boundary[HTTP_BOUNDARY_LEN + 1];
		http_boundary_make(boundary, vms_now_ns() ^ (uintptr_t)r);
		uint64_t total = http_multipart_length(rg, nr, boundary, ctype, size);
		http_head_begin(r, &hb, 206, room);
		http_hdr_add(&hb, "Content-Type", "multipart/byteranges; boundary=%s", boundary);
		http_hdr_u64(&hb, "Content-Length", total);
		http_hdr_str(&hb, "Accept-Ranges", "bytes");
		http_head_file(cfg, &hb, etag, etag_len, lastmod, enc, path);
		http_head_end(r, &hb);
		if (!r->head_only) {
			for (int i = 0; i < nr; i++) {
				long off = http_resp_alloc(r, 512);
				if (off < 0)
					break;
				size_t n = http_multipart_part(r->mem + off, 512, boundary, ctype,
							       &rg[i], size);
				r->memlen = (size_t)off + n;
				http_piece_copy(r, (size_t)off, n);
				http_piece_file(r, rg[i].start, rg[i].end - rg[i].start + 1);
			}
			long off = http_resp_alloc(r, 64);
			if (off >= 0) {
				size_t n = http_multipart_end(r->mem + off, 64, boundary);
				r->memlen = (size_t)off + n;
				http_piece_copy(r, (size_t)off, n);
			}
			r->body = total;
		}
		return;
	}
	http_head_begin(r, &hb, 200, room);
	http_hdr_str(&hb, "Content-Type", ctype);
	http_hdr_u64(&hb, "Content-Length", size);
	http_hdr_str(&hb, "Accept-Ranges", "bytes");
	http_head_file(cfg, &hb, etag, etag_len, lastmod, enc, path);
	http_head_end(r, &hb);
	if (!r->head_only) {
		http_piece_file(r, 0, size);
		r->body = size;
	}
}

/* ---- directory listings ---- */

/* "?format=json" (among other parameters) asks for the JSON listing. */
static bool
http_query_json(const struct http_request *req)
{
	const char *q = req->query.p, *end = q + req->query.len;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *e = amp ? amp : end;
		if (e - q == 11 && memcmp(q, "format=json", 11) == 0)
			return true;
		q = amp ? amp + 1 : end;
	}
	return false;
}

static void
http_serve_listing(struct http_conn *c, struct http_resp *r, const struct http_request *req,
		   struct vnode *dvp, const char *path)
{
	const struct http_server_config *cfg = http_conn_cfg(c);
	struct http_hdrbuf hb;
	bool json = http_query_json(req);
	char *body;
	size_t blen;
	int rc = http_listing_render(dvp, path, cfg->dotfiles, json, &body, &blen);
	vnode_rele(dvp);
	if (rc != 0) {
		http_resp_simple(c, r, rc == -ENOTSUP ? 404 : 500, false, NULL);
		return;
	}
	/* The body goes first into r->mem, so running out of memory is known before the head. */
	long body0 = r->head_only ? 0 : http_resp_alloc(r, blen);
	if (body0 < 0) {
		free(body);
		http_resp_simple(c, r, 500, false, NULL);
		return;
	}
	if (!r->head_only)
		memcpy(r->mem + body0, body, blen);
	free(body);
	http_head_begin(r, &hb, 200, http_rules_room(cfg));
	http_hdr_str(&hb, "Content-Type", json ? "application/json" : "text/html; charset=utf-8");
	http_hdr_u64(&hb, "Content-Length", blen);
	if (cfg->nheader_rules > 0)
		http_head_rules(cfg, &hb, path);
	http_head_end(r, &hb);
	if (!r->head_only) {
		http_piece_copy(r, (size_t)body0, blen);
		r->body = blen;
	}
}

static void
http_serve_metrics(struct http_conn *c, struct http_resp *r)
{
	size_t cap = HTTP_METRICS_CAP;
	long off = http_resp_alloc(r, cap);
	if (off < 0) {
		http_resp_simple(c, r, 500, false, NULL);
		return;
	}
	size_t blen = http_metrics_render(r->mem + off, cap, c->th->srv);
	r->memlen = (size_t)off + blen;
	struct http_hdrbuf hb;
	http_head_begin(r, &hb, 200, 0);
	http_hdr_str(&hb, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	http_hdr_u64(&hb, "Content-Length", blen);
	http_hdr_str(&hb, "Cache-Control", "no-store");
	http_head_end(r, &hb);
	if (!r->head_only) {
		http_piece_copy(r, (size_t)off, blen);
		r->body = blen;
	}
}

static int
http_errno_status(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
	case -ELOOP:
	case -EXDEV: /* an escape attempt looks like a missing file from outside */
		return 404;
	case -EACCES:
	case -EPERM:
		return 403;
	case -ENAMETOOLONG:
		return 414;
	case -EINVAL:
		return 400;
	case -EHOSTUNREACH: /* a file system's backing store (a RADOS cluster) is unreachable */
	case -ETIMEDOUT:
		return 503;
	default:
		return 500;
	}
}

#define HTTP_METRICS_PATH "/.vmsend/metrics"

/* A plain listener that sends everyone to https://: the same host, the first TLS port. */
static void
http_redirect_https(struct http_conn *c, struct http_resp *r, const struct http_request *req)
{
	const struct http_server *srv = c->th->srv;
	size_t hl = req->host.len;
	const char *h = req->host.p;
	if (hl == 0 || req->path.len + req->query.len > HTTP_MAX_PATH || hl > 256) {
		http_resp_simple(c, r, hl == 0 ? 400 : 414, false, NULL);
		return;
	}
	/* Drop the plain port from Host (an IPv6 literal keeps its brackets). */
	const char *colon = memrchr(h, ':', hl);
	if (colon != NULL && memchr(colon, ']', hl - (size_t)(colon - h)) == NULL)
		hl = (size_t)(colon - h);
	int port = http_server_port(srv, http_conn_cfg(c)->nlisten);
	char extra[HTTP_MAX_PATH + 320], ps[16] = "";
	if (port != 443 && port > 0) /* 0: a unix socket, behind a proxy on 443 */
		snprintf(ps, sizeof(ps), ":%d", port);
	/* Path and query are visible ASCII already (the parser checked): safe to echo. */
	snprintf(extra, sizeof(extra), "Location: https://%.*s%s%.*s%s%.*s", (int)hl, h, ps,
		 (int)req->path.len, req->path.p, req->query.len ? "?" : "", (int)req->query.len,
		 req->query.p);
	http_resp_simple(c, r, 301, false, extra);
}

void
http_handle(struct http_conn *c, struct http_resp *r, const struct http_request *req)
{
	const struct http_server_config *cfg = http_conn_cfg(c);

	r->close = !req->keep_alive || c->th->stopping;
	r->head_only = req->method == HTTP_M_HEAD;
	r->http10 = req->version_minor == 0;
	if (c->tls != NULL && cfg->hsts_max_age > 0)
		r->always = c->gen->hsts;

	if (req->method == HTTP_M_UNKNOWN) { /* HTTP/2's: HTTP/1.1's parser answered already */
		http_resp_simple(c, r, 501, false, NULL);
		return;
	}
	if (req->method != HTTP_M_GET && req->method != HTTP_M_HEAD) {
		http_resp_simple(c, r, 405, false, "Allow: GET, HEAD");
		return;
	}
	if (req->path.len == 0) {
		http_resp_simple(c, r, 400, true, NULL);
		return;
	}
	char path[HTTP_MAX_PATH + 16];
	int n = http_path_normalize(req->path.p, req->path.len, path, HTTP_MAX_PATH);
	if (n < 0) {
		http_resp_simple(c, r, -n, false, NULL);
		return;
	}
	if (cfg->metrics && c->metrics_ok && strcmp(path, HTTP_METRICS_PATH) == 0) {
		http_serve_metrics(c, r);
		return;
	}
	if (cfg->https_redirect && c->tls == NULL && cfg->nlisten_tls > 0) {
		http_redirect_https(c, r, req);
		return;
	}
	if (!cfg->dotfiles && http_path_has_dotfile(path)) {
		http_resp_simple(c, r, 404, false, NULL);
		return;
	}
	bool slash = n > 1 && path[n - 1] == '/';
	if (slash)
		path[n - 1] = '\0';
	struct vnode *vp;
	int rc = vfs_lookup(path, &vp);
	if (rc != 0) {
		http_resp_simple(c, r, http_errno_status(rc), false, NULL);
		return;
	}
	if (vp->va.type == VREG) {
		if (slash) { /* "/file.txt/" names no directory */
			vnode_rele(vp);
			http_resp_simple(c, r, 404, false, NULL);
			return;
		}
		http_serve_file(c, r, req, vp, path);
		return;
	}
	if (vp->va.type != VDIR) {
		vnode_rele(vp);
		http_resp_simple(c, r, 404, false, NULL);
		return;
	}
	if (!slash && n > 1) {
		vnode_rele(vp);
		/* The raw path is visible ASCII already (the parser checked): safe to echo. */
		char extra[HTTP_MAX_PATH + 64];
		if (req->path.len + req->query.len > HTTP_MAX_PATH) {
			http_resp_simple(c, r, 414, false, NULL);
			return;
		}
		snprintf(extra, sizeof(extra), "Location: %.*s/%s%.*s", (int)req->path.len,
			 req->path.p, req->query.len ? "?" : "", (int)req->query.len, req->query.p);
		http_resp_simple(c, r, 301, false, extra);
		return;
	}
	if (n == 1)
		path[0] = '\0';
	char ipath[HTTP_MAX_PATH + 32];
	snprintf(ipath, sizeof(ipath), "%s/index.html", path);
	struct vnode *ivp;
	rc = vfs_lookup(ipath, &ivp);
	if (rc == 0 && ivp->va.type == VREG) {
		vnode_rele(vp);
		http_serve_file(c, r, req, ivp, ipath);
		return;
	}
	if (rc == 0)
		vnode_rele(ivp);
	if (cfg->listing) {
		http_serve_listing(c, r, req, vp, n == 1 ? "/" : path);
		return;
	}
	vnode_rele(vp);
	http_resp_simple(c, r, 404, false, NULL);
}

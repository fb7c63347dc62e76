/*
 * Directory listings (--listing), as HTML or, with ?format=json, JSON.
 *
 * Names are bytes from the file system: anything may be in them.  So a
 * name is percent-encoded (every byte but unreserved ones) wherever it
 * becomes a URL, HTML-escaped wherever it becomes text, and shown with
 * invalid UTF-8 replaced by U+FFFD, so the page and the JSON stay valid;
 * the href (and the JSON "href") keep the exact bytes.  A name no request
 * can reach (a control byte or a backslash: http_path_normalize refuses
 * them) is left out.  Entries are sorted
 * directories first, then by name (bytewise), so the order does not
 * depend on the file system.
 */
#include "http/http_impl.h"

#include "vfs/vfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct http_lentry {
	char *name;
	bool dir;
	uint64_t size;
	time_t mtime;
};

struct http_lbuf {
	char *p;
	size_t len, cap;
	bool oom;
	struct http_lentry *e;
	size_t n, ecap;
	bool dotfiles;
};

static void
http_lput(struct http_lbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
http_lputs(struct http_lbuf *b, const char *s)
{
	http_lput(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one. */
static size_t
http_utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000;
	else
		return 0;
	unsigned cp = c & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

enum http_esc { HTTP_ESC_URL, HTTP_ESC_HTML, HTTP_ESC_JSON };

static void
http_lname(struct http_lbuf *b, const char *name, enum http_esc how)
{
	char buf[8];
	const unsigned char *p = (const unsigned char *)name;
	while (*p) {
		unsigned c = *p;
		if (how == HTTP_ESC_URL) {
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || strchr("-._~", (int)c))
				http_lput(b, (const char *)p, 1);
			else {
				snprintf(buf, sizeof(buf), "%%%02X", c);
				http_lput(b, buf, 3);
			}
			p++;
			continue;
		}
		size_t n = http_utf8_len(p);
		if (n == 0) {
			http_lputs(b, "\xef\xbf\xbd"); /* U+FFFD */
			p++;
			continue;
		}
		if (how == HTTP_ESC_HTML && c == '<') {
			http_lputs(b, "&lt;");
		} else if (how == HTTP_ESC_HTML && c == '>') {
			http_lputs(b, "&gt;");
		} else if (how == HTTP_ESC_HTML && c == '&') {
			http_lputs(b, "&amp;");
		} else if (how == HTTP_ESC_HTML && c == '"') {
			http_lputs(b, "&quot;");
		} else if (how == HTTP_ESC_HTML && c == '\'') {
			http_lputs(b, "&#39;");
		} else if (how == HTTP_ESC_JSON && (c < 0x20 || c == '"' || c == '\\')) {
			snprintf(buf, sizeof(buf), "\\u%04x", c);
			http_lputs(b, buf);
		} else if (how == HTTP_ESC_HTML && c < 0x20) {
			http_lputs(b, "\xef\xbf\xbd");
		} else {
			http_lput(b, (const char *)p, n);
		}
		p += n;
	}
}

static int
http_lcollect(void *arg, const char *name, const struct vattr *va)
{
	struct http_lbuf *b = arg;
	if ((name[0] == '.' && !b->dotfiles) || !http_name_reachable(name))
		return 0; /* a link that would only get 404 or 400 */
	if (b->n == b->ecap) {
		size_t cap = b->ecap ? 2 * b->ecap : 64;
		struct http_lentry *e = realloc(b->e, cap * sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		b->e = e;
		b->ecap = cap;
	}
	struct http_lentry *e = &b->e[b->n];
	e->name = strdup(name);
	if (e->name == NULL)
		return -ENOMEM;
	e->dir = va->type == VDIR;
	e->size = va->size;
	e->mtime = va->mtime.tv_sec;
	b->n++;
	return 0;
}

static int
http_lcmp(const void *a, const void *b)
{
	const struct http_lentry *x = a, *y = b;
	if (x->dir != y->dir)
		return x->dir ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* "912 B", "4.0 KiB", "1.5 MiB" ... */
static void
http_lsize(char *buf, size_t cap, uint64_t size)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)size;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)size);
	else
		snprintf(buf, cap, "%.1f %s", v, unit[u]);
}

static void
http_lhtml(struct http_lbuf *b, const char *path)
{
	http_lputs(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
	http_lname(b, path, HTTP_ESC_HTML);
	http_lputs(b, "</title></head><body><h1>Index of ");
	http_lname(b, path, HTTP_ESC_HTML);
	http_lputs(b,
		   "</h1>\n<table>\n<tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr>\n");
	if (strcmp(path, "/") != 0)
		http_lputs(b, "<tr><td><a href=\"../\">../</a></td><td>-</td><td></td></tr>\n");
	for (size_t i = 0; i < b->n; i++) {
		const struct http_lentry *e = &b->e[i];
		char sz[32], tm[32];
		struct tm t;
		gmtime_r(&e->mtime, &t);
		strftime(tm, sizeof(tm), "%Y-%m-%d %H:%M", &t);
		if (e->dir)
			strcpy(sz, "-");
		else
			http_lsize(sz, sizeof(sz), e->size);
		http_lputs(b, "<tr><td><a href=\"");
		http_lname(b, e->name, HTTP_ESC_URL);
		http_lputs(b, e->dir ? "/\">" : "\">");
		http_lname(b, e->name, HTTP_ESC_HTML);
		http_lputs(b, e->dir ? "/</a></td><td>" : "</a></td><td>");
		http_lputs(b, sz);
		http_lputs(b, "</td><td>");
		http_lputs(b, tm);
		http_lputs(b, "</td></tr>\n");
	}
	http_lputs(b, "</table></body></html>\n");
}

static void
http_ljson(struct http_lbuf *b, const char *path)
{
	http_lputs(b, "{\"path\":\"");
	http_lname(b, path, HTTP_ESC_JSON);
	http_lputs(b, "\",\"entries\":[");
	for (size_t i = 0; i < b->n; i++) {
		const struct http_lentry *e = &b->e[i];
		char tail[128], tm[32];
		struct tm t;
		gmtime_r(&e->mtime, &t);
		strftime(tm, sizeof(tm), "%Y-%m-%dT%H:%M:%SZ", &t);
		http_lputs(b, i ? ",\n{\"name\":\"" : "\n{\"name\":\"");
		http_lname(b, e->name, HTTP_ESC_JSON);
		http_lputs(b, "\",\"href\":\"");
		http_lname(b, e->name, HTTP_ESC_URL);
		snprintf(tail, sizeof(tail), "%s\",\"type\":\"%s\",\"size\":%llu,\"mtime\":\"%s\"}",
			 e->dir ? "/" : "", e->dir ? "directory" : "file",
			 (unsigned long long)e->size, tm);
		http_lputs(b, tail);
	}
	http_lputs(b, "\n]}\n");
}

int
http_listing_render(struct vnode *dvp, const char *path, bool dotfiles, bool json, char **out,
		    size_t *outlen)
{
	struct http_lbuf b = {.dotfiles = dotfiles};
	if (dvp->mp->ops->readdir == NULL)
		return -ENOTSUP;
	int rc = dvp->mp->ops->readdir(dvp->mp, dvp->path, http_lcollect, &b);
	if (rc == 0) {
		if (b.n > 1) /* an empty directory has no array at all */
			qsort(b.e, b.n, sizeof(*b.e), http_lcmp);
		if (json)
			http_ljson(&b, path);
		else
			http_lhtml(&b, path);
		if (b.oom)
			rc = -ENOMEM;
	}
	for (size_t i = 0; i < b.n; i++)
		free(b.e[i].name);
	free(b.e);
	if (rc != 0) {
		free(b.p);
		return rc;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}

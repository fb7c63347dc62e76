/*
 * Response framing: status lines, header fields, and multipart/byteranges
 * part headers.  The server builds every head into a bounded buffer and
 * hands it to the sendfile engine as the header of the file range, so an
 * overflow latches and is checked once at the end instead of after each
 * field.
 *
 * Heads are built with memcpy and one integer formatter, not printf: the
 * printf family was about a tenth of the server's CPU for hot 4 KiB
 * responses (format scanning and stdio setup for every field).  Only
 * http_hdr_add() and the multipart framing, both off the common path, still
 * format with printf.
 */
#include "http/http_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *
http_status_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 416:
		return "Range Not Satisfiable";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

void
http_hdr_init(struct http_hdrbuf *hb, char *buf, size_t cap)
{
	hb->buf = buf;
	hb->len = 0;
	hb->cap = cap;
	hb->overflow = false;
}

size_t
http_fmt_u64(char *buf, uint64_t v)
{
	/* Digits come out backwards; write them into the tail of a scratch, then copy once. */
	char tmp[HTTP_U64_DIGITS];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	size_t n = sizeof(tmp) - i;
	memcpy(buf, tmp + i, n);
	return n;
}

void
http_hdr_put(struct http_hdrbuf *hb, const char *p, size_t n)
{
	/* A part that does not fit is dropped whole: the head is refused anyway. */
	if (hb->overflow || n > hb->cap - hb->len) {
		hb->overflow = true;
		return;
	}
	memcpy(hb->buf + hb->len, p, n);
	hb->len += n;
}

void
http_hdr_put_u64(struct http_hdrbuf *hb, uint64_t v)
{
	char d[HTTP_U64_DIGITS];
	http_hdr_put(hb, d, http_fmt_u64(d, v));
}

/* "Name: " */
static void
http_hdr_name(struct http_hdrbuf *hb, const char *name)
{
	http_hdr_put(hb, name, strlen(name));
	http_hdr_put(hb, ": ", 2);
}

void
http_hdr_status(struct http_hdrbuf *hb, int status)
{
	const char *reason = http_status_reason(status);
	http_hdr_put(hb, "HTTP/1.1 ", 9);
	http_hdr_put_u64(hb, (uint64_t)(status < 0 ? 0 : status)); /* always 3 digits in practice */
	http_hdr_put(hb, " ", 1);
	http_hdr_put(hb, reason, strlen(reason));
	http_hdr_put(hb, "\r\n", 2);
}

void
http_hdr_strn(struct http_hdrbuf *hb, const char *name, const char *value, size_t len)
{
	http_hdr_name(hb, name);
	http_hdr_put(hb, value, len);
	http_hdr_put(hb, "\r\n", 2);
}

void
http_hdr_str(struct http_hdrbuf *hb, const char *name, const char *value)
{
	http_hdr_strn(hb, name, value, strlen(value));
}

void
http_hdr_u64(struct http_hdrbuf *hb, const char *name, uint64_t v)
{
	http_hdr_name(hb, name);
	http_hdr_put_u64(hb, v);
	http_hdr_put(hb, "\r\n", 2);
}

void
http_hdr_add(struct http_hdrbuf *hb, const char *name, const char *fmt, ...)
{
	http_hdr_name(hb, name);
	if (hb->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(hb->buf + hb->len, hb->cap - hb->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= hb->cap - hb->len)
		hb->overflow = true;
	else
		hb->len += (size_t)n;
	http_hdr_put(hb, "\r\n", 2);
}

void
http_hdr_line(struct http_hdrbuf *hb, const char *line)
{
	http_hdr_put(hb, line, strlen(line));
	http_hdr_put(hb, "\r\n", 2);
}

size_t
http_hdr_end(struct http_hdrbuf *hb)
{
	http_hdr_put(hb, "\r\n", 2);
	return hb->overflow ? 0 : hb->len;
}

void
http_boundary_make(char *buf, uint64_t seed)
{
	/* splitmix64: two rounds give 20 hex digits that do not look like file bytes */
	static const char hex[] = "0123456789abcdef";
	uint64_t x = seed;
	for (int i = 0; i < HTTP_BOUNDARY_LEN; i++) {
		if (i % 16 == 0) {
			x += 0x9e3779b97f4a7c15ull;
			uint64_t z = x;
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
			seed = z ^ (z >> 31);
		}
		buf[i] = hex[(seed >> ((i % 16) * 4)) & 0xf];
	}
	buf[HTTP_BOUNDARY_LEN] = '\0';
}

size_t
http_multipart_part(char *buf, size_t cap, const char *boundary, const char *ctype,
		    const struct http_range *r, uint64_t size)
{
	int n = snprintf(
	    buf, cap, "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %llu-%llu/%llu\r\n\r\n",
	    boundary, ctype, (unsigned long long)r->start, (unsigned long long)r->end,
	    (unsigned long long)size);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t
http_multipart_end(char *buf, size_t cap, const char *boundary)
{
	int n = snprintf(buf, cap, "\r\n--%s--\r\n", boundary);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

uint64_t
http_multipart_length(const struct http_range *r, int n, const char *boundary, const char *ctype,
		      uint64_t size)
{
	char tmp[512];
	uint64_t total = http_multipart_end(tmp, sizeof(tmp), boundary);
	for (int i = 0; i < n; i++)
		total += http_multipart_part(tmp, sizeof(tmp), boundary, ctype, &r[i], size) +
			 (r[i].end - r[i].start + 1);
	return total;
}

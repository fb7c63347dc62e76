/*
 * The HTTP/1.1 protocol layer: pure functions over byte buffers, no I/O.
 *
 * Everything the server decides about a request that does not need a socket
 * or a file lives here so that it can be unit-tested and fuzzed on its own:
 * the request parser, the Range parser, percent-decoding and path
 * normalisation, HTTP dates, ETags, conditional requests, the Content-Type
 * table and the response/multipart framing.
 *
 * Error vocabulary: functions that can reject a request return a negative
 * HTTP status (-400, -413, -414, -431, -501, -505) so the caller can answer
 * with exactly that status; 0 or a positive value means success as each
 * function says.  All parsers are strict (RFC 9110/9112) and never read past
 * the length they are given; none allocates.
 */
#ifndef VMSEND_HTTP_PROTO_H
#define VMSEND_HTTP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Limits: past these a request is refused with the status in brackets. */
#define HTTP_MAX_REQUEST_LINE 8192       /* [414] request line incl. CRLF */
#define HTTP_MAX_HEADER_BYTES 16384      /* [431] whole header section after the request line */
#define HTTP_MAX_HEADERS      64         /* [431] header fields */
#define HTTP_MAX_RANGES       16         /* more range specs than this: Range is ignored (200) */
#define HTTP_MAX_PATH         4096       /* [414] decoded path */
#define HTTP_MAX_BODY         (1u << 20) /* [413] request body read and discarded */

/* A view into the request buffer; never NUL-terminated. */
struct http_str {
	const char *p;
	size_t len;
};

enum http_method {
	HTTP_M_UNKNOWN = 0, /* a valid token we do not know: 501 */
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST, /* known methods we do not allow: 405 with Allow */
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
	HTTP_M_TRACE,
	HTTP_M_CONNECT,
	HTTP_M_PATCH,
};

struct http_header {
	struct http_str name;
	struct http_str value; /* optional whitespace trimmed */
};

struct http_request {
	enum http_method method;
	struct http_str method_str;
	struct http_str target; /* the raw request-target */
	struct http_str path;   /* still percent-encoded; from origin- or absolute-form */
	struct http_str query;  /* after '?', without it; len 0 if none */
	struct http_str host;   /* authority of an absolute-form target, else the Host field */
	int version_major;      /* 1 from the parser; 2 for an HTTP/2 stream */
	int version_minor;      /* HTTP/1.x */
	bool keep_alive;        /* after Connection, the version default and the body */
	uint64_t body_length;   /* Content-Length: body bytes after the head to discard */
	bool absolute_form;
	/* Fields the server acts on (len 0 when absent). */
	struct http_str range;
	struct http_str if_match;
	struct http_str if_unmodified_since;
	struct http_str if_none_match;
	struct http_str if_modified_since;
	struct http_str if_range;
	struct http_str user_agent;
	struct http_str referer;
	size_t nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t header_bytes; /* request line + fields + final empty line */
};

/*
 * Parse one request head from buf[0..len).  Returns the number of bytes it
 * used (> 0) when the head is complete and acceptable, 0 when more bytes are
 * needed (and no limit is yet exceeded), or a negative HTTP status:
 *   -400 malformed (bad syntax, bare CR, obs-fold, missing/duplicate Host in
 *        1.1, bad or conflicting Content-Length, Content-Length with
 *        Transfer-Encoding, NUL or control bytes),
 *   -413 a Content-Length above HTTP_MAX_BODY,
 *   -414 request line too long, -431 header section too big or too many fields,
 *   -501 unknown method or transfer coding, -505 HTTP major version not 1.
 * A known but unsupported method (POST...) parses successfully; the caller
 * answers 405.  Bytes after the head (pipelined requests) are not touched.
 *
 * We serve files and take no content, but a request may carry some (a GET
 * with a body, a form POSTed to a static page): it gets its answer like any
 * other, and its body is thrown away.  A Content-Length body is skipped by
 * the caller (body_length bytes) and the connection lives on.  A chunked
 * body, or one the client holds back until "100 Continue", ends the
 * connection after the answer (keep_alive false): the lingering close reads
 * and drops it, and no second reading of chunk framing can disagree with a
 * proxy's about where the next request starts.
 */
int http_request_parse(struct http_request *req, const char *buf, size_t len);

const char *http_method_name(enum http_method m);
/* Does a comma-separated field value contain `tok` (case-insensitive)? */
bool http_list_has(struct http_str v, const char *tok);
/* Case-insensitive lookup of a header field; NULL if absent. */
const struct http_str *http_request_header(const struct http_request *req, const char *name);

/* ---- Range (RFC 9110 section 14) ---- */

struct http_range {
	uint64_t start; /* first byte */
	uint64_t end;   /* last byte, inclusive */
};

enum http_range_result {
	HTTP_RANGE_NONE = 0,          /* no usable Range: send the whole file (200) */
	HTTP_RANGE_OK = 1,            /* *n ranges (>= 1), sorted and coalesced: 206 */
	HTTP_RANGE_UNSATISFIABLE = 2, /* syntactically fine, nothing inside the file: 416 */
};

/*
 * Evaluate a Range field value against a representation of `size` bytes.
 * Malformed values, units other than "bytes", more than HTTP_MAX_RANGES
 * specs and any Range of an empty representation are ignored (RFC 9110
 * allows it) and give HTTP_RANGE_NONE.  Specs
 * that do not overlap the file are dropped; if none is left the result is
 * UNSATISFIABLE.  The rest are sorted by start and overlapping or adjacent
 * ones merged, so out[] never holds more than `max` entries and a client
 * cannot make us send a byte twice.
 */
enum http_range_result http_range_parse(const char *s, size_t len, uint64_t size,
					struct http_range *out, int max, int *n);

/* ---- Paths ---- */

/*
 * Percent-decode (once) and normalise a request path into out[0..outsz).
 * The result starts with '/', has no empty, "." or ".." segments and keeps a
 * trailing '/' if the request had one.  Refused with -400: no leading '/',
 * bad %-escapes, a decoded NUL, '/' or '\' (so "%2f" cannot smuggle a
 * separator), a backslash, a control byte, or a ".." that would climb above
 * the root.  -414 if the result does not fit.  Returns the length on success.
 */
int http_path_normalize(const char *raw, size_t len, char *out, size_t outsz);
/* True if a segment of a normalised path starts with '.' (hidden file). */
bool http_path_has_dotfile(const char *path);
/* A byte http_path_normalize refuses in a name (400): a control byte or '\\'. */
static inline bool
http_path_byte_refused(unsigned char c)
{
	return c < 0x20 || c == 0x7f || c == '\\';
}
/* Can a request reach this directory entry's name?  (A listing shows only those.) */
bool http_name_reachable(const char *name);

/* ---- Dates (IMF-fixdate out; IMF-fixdate, RFC 850 and asctime in) ---- */

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */
/* Format t into buf (at least HTTP_DATE_LEN + 1 bytes); returns HTTP_DATE_LEN. */
size_t http_date_format(time_t t, char *buf);
/* Parse one of the three HTTP date forms; 0 and *t, or -1 if malformed. */
int http_date_parse(const char *s, size_t len, time_t *t);

/* ---- Validators and conditional requests (RFC 9110 section 13) ---- */

#define HTTP_ETAG_MAX 64
/* A strong ETag from a file's identity; writes a quoted tag, returns its length. */
size_t http_etag_make(char *buf, size_t cap, uint64_t dev, uint64_t ino, uint64_t size,
		      int64_t mtime_sec, long mtime_nsec);

/*
 * The preconditions of a GET/HEAD of an existing file, in RFC 9110 13.2.2's
 * order: 412 if If-Match names no tag equal to `etag` (strong comparison,
 * "*" matches) or, without If-Match, If-Unmodified-Since is a valid date
 * older than `mtime`; else 304 if If-None-Match matches (weak comparison,
 * "*" matches) or, without If-None-Match, If-Modified-Since is a valid date
 * not older than `mtime`; else 200.  A client resuming with If-Match or
 * If-Unmodified-Since thus never gets bytes of another version.
 */
int http_cond_evaluate(const struct http_request *req, const char *etag, size_t etag_len,
		       time_t mtime);
/*
 * True when Range may be honoured: no If-Range, or If-Range holds a strong
 * tag equal to `etag`, or a date exactly equal to `mtime`.
 */
bool http_if_range_ok(const struct http_request *req, const char *etag, size_t etag_len,
		      time_t mtime);

/* ---- Peers ---- */

struct sockaddr;
/* Is a client at `sa` on this machine: a loopback address (127/8, ::1, mapped) or a unix socket? */
bool http_peer_local(const struct sockaddr *sa);

/* ---- Accept-Encoding ---- */

/*
 * The weight (0..1000) the Accept-Encoding value ae gives `coding` ("br",
 * "zstd", "gzip"; "x-gzip" counts as gzip): its own q, else that of "*",
 * else 0 (a coding not named is not acceptable).  Malformed members are
 * ignored.
 */
int http_accept_encoding_q(const char *ae, size_t len, const char *coding);

/* ---- Content-Type ---- */

/* The media type for a path's extension (case-insensitive), or application/octet-stream. */
const char *http_mime_type(const char *path);

/* ---- Responses ---- */

const char *http_status_reason(int status);

/* A bounded header writer; `overflow` latches when something did not fit. */
struct http_hdrbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool overflow;
};
void http_hdr_init(struct http_hdrbuf *hb, char *buf, size_t cap);
/* "HTTP/1.1 206 Partial Content\r\n" */
void http_hdr_status(struct http_hdrbuf *hb, int status);
/* "Name: value\r\n" from a string, a counted string, or a decimal number (no printf). */
void http_hdr_str(struct http_hdrbuf *hb, const char *name, const char *value);
void http_hdr_strn(struct http_hdrbuf *hb, const char *name, const char *value, size_t len);
void http_hdr_u64(struct http_hdrbuf *hb, const char *name, uint64_t v);
/* "Name: value\r\n" with a printf value (slower; for rare fields). */
__attribute__((format(printf, 3, 4))) void http_hdr_add(struct http_hdrbuf *hb, const char *name,
							const char *fmt, ...);
/* Raw bytes, or a decimal number, for a field built in pieces (the caller adds "\r\n"). */
void http_hdr_put(struct http_hdrbuf *hb, const char *p, size_t n);
void http_hdr_put_u64(struct http_hdrbuf *hb, uint64_t v);
/* A whole "Name: value" line given as one string (CRLF added). */
void http_hdr_line(struct http_hdrbuf *hb, const char *line);
/* The final CRLF; returns the total length, or 0 on overflow. */
size_t http_hdr_end(struct http_hdrbuf *hb);

#define HTTP_U64_DIGITS 20 /* decimal digits of UINT64_MAX */
/* v in decimal into buf (at least HTTP_U64_DIGITS bytes, no NUL); returns the length. */
size_t http_fmt_u64(char *buf, uint64_t v);

/* ---- multipart/byteranges (RFC 9110 section 14.6) ---- */

#define HTTP_BOUNDARY_LEN 20
/* A boundary of HTTP_BOUNDARY_LEN hex digits from `seed`; buf has room for +1. */
void http_boundary_make(char *buf, uint64_t seed);
/* The header of one part ("\r\n--B\r\nContent-Type..\r\nContent-Range..\r\n\r\n"); length or 0. */
size_t http_multipart_part(char *buf, size_t cap, const char *boundary, const char *ctype,
			   const struct http_range *r, uint64_t size);
/* The closing delimiter "\r\n--B--\r\n"; length or 0. */
size_t http_multipart_end(char *buf, size_t cap, const char *boundary);
/* Content-Length of the whole multipart body. */
uint64_t http_multipart_length(const struct http_range *r, int n, const char *boundary,
			       const char *ctype, uint64_t size);

#endif

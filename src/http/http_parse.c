/*
 * The HTTP/1.1 request-head parser.
 *
 * Theory: the parser is a single pass over a complete-or-not buffer.  The
 * server calls it again from the start each time more bytes arrive; heads are
 * small (capped at HTTP_MAX_REQUEST_LINE + HTTP_MAX_HEADER_BYTES) so
 * re-scanning is cheaper than keeping a resumable state machine, and it keeps
 * every decision in one readable function.  Incompleteness is decided only at
 * the end of the data: everything before the last line seen is already
 * validated, so a malformed request is refused as soon as its bad line ends,
 * and an over-long one as soon as it crosses a limit, without waiting for the
 * rest.
 *
 * Strictness follows RFC 9112: CRLF line ends (a lone LF is accepted, a lone
 * CR is not), no whitespace before a field's colon, no obs-fold, tokens for
 * method and field names, visible ASCII in the target, exactly one Host in
 * HTTP/1.1, and no request bodies at all (a static server has no use for them,
 * and refusing them closes the door on request smuggling).
 */
#include "http/http_proto.h"

#include <string.h>
#include <strings.h>

static bool
http_is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
http_str_ieq(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

/* Find the end of the line starting at p; returns the index of '\n' or -1. */
static long
http_line_end(const char *buf, size_t from, size_t len)
{
	const char *nl = memchr(buf + from, '\n', len - from);
	return nl ? nl - buf : -1;
}

/* Length of the line content (without CR); -1 if a CR appears anywhere but before LF. */
static long
http_line_content(const char *buf, size_t from, size_t nl)
{
	size_t end = nl;
	if (end > from && buf[end - 1] == '\r')
		end--;
	if (memchr(buf + from, '\r', end - from) != NULL)
		return -1;
	return (long)(end - from);
}

static const struct {
	const char *name;
	enum http_method m;
} http_methods[] = {
    {"GET", HTTP_M_GET},     {"HEAD", HTTP_M_HEAD},       {"POST", HTTP_M_POST},
    {"PUT", HTTP_M_PUT},     {"DELETE", HTTP_M_DELETE},   {"OPTIONS", HTTP_M_OPTIONS},
    {"TRACE", HTTP_M_TRACE}, {"CONNECT", HTTP_M_CONNECT}, {"PATCH", HTTP_M_PATCH},
};

const char *
http_method_name(enum http_method m)
{
	for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++)
		if (http_methods[i].m == m)
			return http_methods[i].name;
	return "UNKNOWN";
}

/* Parse "HTTP/1.1"; -400 if not an HTTP-version, -505 if not major 1. */
static int
http_parse_version(const char *p, size_t n, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
	    p[7] < '0' || p[7] > '9')
		return -400;
	if (p[5] != '1')
		return -505;
	*minor = p[7] - '0';
	return 0;
}

/* Split a request-target into path, query and (absolute-form) host. */
static int
http_parse_target(struct http_request *req)
{
	const char *t = req->target.p;
	size_t n = req->target.len;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c <= 0x20 || c >= 0x7f)
			return -400;
	}
	size_t start = 0;
	if (t[0] != '/') {
		/* absolute-form: scheme "://" authority path-abempty */
		size_t s = 0;
		while (s < n && t[s] != ':')
			s++;
		struct http_str scheme = {t, s};
		if (s == n || !(http_str_ieq(scheme, "http") || http_str_ieq(scheme, "https")))
			return -400;
		if (n - s < 3 || t[s + 1] != '/' || t[s + 2] != '/')
			return -400;
		size_t a = s + 3, e = a;
		while (e < n && t[e] != '/' && t[e] != '?' && t[e] != '#')
			e++;
		if (e == a || memchr(t + a, '@', e - a) != NULL) /* no userinfo: it only confuses */
			return -400;
		req->host = (struct http_str){t + a, e - a};
		req->absolute_form = true;
		start = e;
		if (start == n) {
			req->path = (struct http_str){"/", 1};
			return 0;
		}
		if (t[start] != '/')
			return -400;
	}
	size_t q = start;
	while (q < n && t[q] != '?' && t[q] != '#')
		q++;
	req->path = (struct http_str){t + start, q - start};
	if (q < n && t[q] == '#')
		return -400; /* a fragment is never sent by a client */
	if (q < n) {
		size_t qe = q + 1;
		while (qe < n && t[qe] != '#')
			qe++;
		if (qe != n)
			return -400;
		req->query = (struct http_str){t + q + 1, n - q - 1};
	}
	return 0;
}

static int
http_parse_request_line(struct http_request *req, const char *p, size_t n)
{
	const char *sp1 = memchr(p, ' ', n);
	if (sp1 == NULL || sp1 == p)
		return -400;
	const char *rest = sp1 + 1;
	const char *sp2 = memchr(rest, ' ', n - (rest - p));
	if (sp2 == NULL || sp2 == rest)
		return -400;
	const char *ver = sp2 + 1;
	size_t vlen = n - (ver - p);
	if (memchr(ver, ' ', vlen) != NULL)
		return -400;

	req->method_str = (struct http_str){p, (size_t)(sp1 - p)};
	for (size_t i = 0; i < req->method_str.len; i++)
		if (!http_is_tchar((unsigned char)p[i]))
			return -400;
	int rc = http_parse_version(ver, vlen, &req->version_minor);
	if (rc != 0)
		return rc;
	req->method = HTTP_M_UNKNOWN;
	for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++) {
		size_t ml = strlen(http_methods[i].name);
		if (req->method_str.len == ml && memcmp(p, http_methods[i].name, ml) == 0)
			req->method = http_methods[i].m;
	}
	req->target = (struct http_str){rest, (size_t)(sp2 - rest)};
	if (req->method == HTTP_M_UNKNOWN)
		return -501;
	if (req->method == HTTP_M_CONNECT || (req->target.len == 1 && rest[0] == '*'))
		return 0; /* authority-/asterisk-form: the server answers 405 */
	return http_parse_target(req);
}

bool
http_list_has(struct http_str v, const char *tok)
{
	size_t i = 0;
	while (i < v.len) {
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
			i++;
		size_t s = i;
		while (i < v.len && v.p[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
			e--;
		if (http_str_ieq((struct http_str){v.p + s, e - s}, tok))
			return true;
	}
	return false;
}

/* Content-Length: 1*DIGIT; a list of identical values is tolerated (RFC 9112 6.3). */
static int
http_parse_content_length(struct http_str v, uint64_t *out)
{
	bool have = false;
	uint64_t val = 0;
	size_t i = 0;
	while (i <= v.len) {
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		size_t s = i;
		uint64_t x = 0;
		while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9') {
			if (x > (UINT64_MAX - 9) / 10)
				return -400;
			x = x * 10 + (uint64_t)(v.p[i] - '0');
			i++;
		}
		if (i == s)
			return -400;
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		if (have && x != val)
			return -400;
		have = true;
		val = x;
		if (i == v.len)
			break;
		if (v.p[i] != ',')
			return -400;
		i++;
	}
	*out = val;
	return 0;
}

static bool
http_host_valid(struct http_str h)
{
	for (size_t i = 0; i < h.len; i++) {
		unsigned char c = (unsigned char)h.p[i];
		if (!(http_is_tchar(c) || c == ':' || c == '[' || c == ']') || c == '/' ||
		    c == '\\')
			return false;
	}
	return true;
}

static int
http_parse_field(struct http_request *req, const char *p, size_t n)
{
	if (n == 0 || p[0] == ' ' || p[0] == '\t')
		return -400; /* obs-fold or empty name */
	const char *colon = memchr(p, ':', n);
	if (colon == NULL || colon == p)
		return -400;
	for (const char *c = p; c < colon; c++)
		if (!http_is_tchar((unsigned char)*c))
			return -400; /* includes whitespace before the colon */
	const char *v = colon + 1, *ve = p + n;
	while (v < ve && (*v == ' ' || *v == '\t'))
		v++;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	for (const char *c = v; c < ve; c++) {
		unsigned char ch = (unsigned char)*c;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return -400;
	}
	if (req->nheaders == HTTP_MAX_HEADERS)
		return -431;
	struct http_header *h = &req->headers[req->nheaders++];
	h->name = (struct http_str){p, (size_t)(colon - p)};
	h->value = (struct http_str){v, (size_t)(ve - v)};
	return 0;
}

/* Once the head is complete: the semantic checks that need every field. */
static int
http_request_finish(struct http_request *req)
{
	int nhost = 0;
	bool have_cl = false, have_te = false, conn_close = false, conn_keep = false;
	bool expect_continue = false;
	uint64_t cl = 0;
	struct http_str te = {0};

	for (size_t i = 0; i < req->nheaders; i++) {
		struct http_str name = req->headers[i].name, val = req->headers[i].value;
		if (http_str_ieq(name, "host")) {
			nhost++;
			if (!req->absolute_form)
				req->host = val;
			if (!http_host_valid(val))
				return -400;
		} else if (http_str_ieq(name, "content-length")) {
			uint64_t x;
			if (http_parse_content_length(val, &x) != 0 || (have_cl && x != cl))
				return -400;
			have_cl = true;
			cl = x;
		} else if (http_str_ieq(name, "transfer-encoding")) {
			have_te = true;
			te = val;
		} else if (http_str_ieq(name, "connection")) {
			conn_close |= http_list_has(val, "close");
			conn_keep |= http_list_has(val, "keep-alive");
		} else if (http_str_ieq(name, "expect")) {
			expect_continue |= http_list_has(val, "100-continue");
		} else if (http_str_ieq(name, "range")) {
			req->range = val;
		} else if (http_str_ieq(name, "if-match")) {
			req->if_match = val;
		} else if (http_str_ieq(name, "if-unmodified-since")) {
			req->if_unmodified_since = val;
		} else if (http_str_ieq(name, "if-none-match")) {
			req->if_none_match = val;
		} else if (http_str_ieq(name, "if-modified-since")) {
			req->if_modified_since = val;
		} else if (http_str_ieq(name, "if-range")) {
			req->if_range = val;
		} else if (http_str_ieq(name, "user-agent")) {
			req->user_agent = val;
		} else if (http_str_ieq(name, "referer")) {
			req->referer = val;
		}
	}
	if (req->version_minor >= 1 && nhost != 1)
		return -400;
	if (nhost > 1)
		return -400;
	if (have_te) {
		/* A body framed two ways is the classic smuggling vector; 1.0 has no chunked. */
		if (have_cl || req->version_minor == 0)
			return -400;
		if (!http_list_has(te, "chunked"))
			return -501;
	}
	if (cl > HTTP_MAX_BODY)
		return -413;
	req->body_length = cl;
	if (req->version_minor == 0)
		req->keep_alive = conn_keep && !conn_close;
	else
		req->keep_alive = !conn_close;
	if (have_te || (cl > 0 && expect_continue))
		req->keep_alive = false; /* the body is dropped by the lingering close */
	return 0;
}

int
http_request_parse(struct http_request *req, const char *buf, size_t len)
{
	memset(req, 0, offsetof(struct http_request, headers));
	req->version_major = 1;
	size_t pos = 0;

	/* RFC 9112 2.2: ignore a few empty lines before the request line. */
	for (int i = 0; i < 4; i++) {
		if (pos < len && buf[pos] == '\n')
			pos++;
		else if (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n')
			pos += 2;
		else
			break;
	}
	long nl = http_line_end(buf, pos, len);
	if (nl < 0) {
		if (len - pos > HTTP_MAX_REQUEST_LINE)
			return -414;
		if (memchr(buf + pos, '\0', len - pos) != NULL)
			return -400;
		/* Garbage (a TLS hello, binary) is refused before its line ends. */
		for (size_t i = pos; i < len && buf[i] != ' '; i++)
			if (!http_is_tchar((unsigned char)buf[i]) && buf[i] != '\r')
				return -400;
		return 0;
	}
	if ((size_t)nl + 1 - pos > HTTP_MAX_REQUEST_LINE)
		return -414;
	long cl = http_line_content(buf, pos, (size_t)nl);
	if (cl <= 0 || memchr(buf + pos, '\0', (size_t)cl) != NULL)
		return -400;
	int rc = http_parse_request_line(req, buf + pos, (size_t)cl);
	if (rc != 0)
		return rc;
	pos = (size_t)nl + 1;
	size_t fields_start = pos;

	for (;;) {
		nl = http_line_end(buf, pos, len);
		if (nl < 0) {
			if (len - fields_start > HTTP_MAX_HEADER_BYTES)
				return -431;
			return 0;
		}
		if ((size_t)nl + 1 - fields_start > HTTP_MAX_HEADER_BYTES)
			return -431;
		cl = http_line_content(buf, pos, (size_t)nl);
		if (cl < 0 || memchr(buf + pos, '\0', (size_t)nl - pos) != NULL)
			return -400;
		if (cl == 0) {
			pos = (size_t)nl + 1;
			break;
		}
		rc = http_parse_field(req, buf + pos, (size_t)cl);
		if (rc != 0)
			return rc;
		pos = (size_t)nl + 1;
	}
	rc = http_request_finish(req);
	if (rc != 0)
		return rc;
	req->header_bytes = pos;
	return (int)pos;
}

const struct http_str *
http_request_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (http_str_ieq(req->headers[i].name, name))
			return &req->headers[i].value;
	return NULL;
}

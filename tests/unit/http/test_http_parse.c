/* The request-head parser: what it accepts, and the exact status of each refusal. */
#include "http/http_proto.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct http_request req;

static int
parse(const char *s)
{
	return http_request_parse(&req, s, strlen(s));
}

static bool
str_is(struct http_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

Test(http_parse, simple_get)
{
	const char *s = "GET /a/b.txt?x=1 HTTP/1.1\r\nHost: example\r\nRange: bytes=0-1\r\n\r\n";
	cr_assert_eq(parse(s), (int)strlen(s));
	cr_assert_eq(req.method, HTTP_M_GET);
	cr_assert(str_is(req.path, "/a/b.txt"));
	cr_assert(str_is(req.query, "x=1"));
	cr_assert(str_is(req.host, "example"));
	cr_assert(str_is(req.range, "bytes=0-1"));
	cr_assert_eq(req.version_minor, 1);
	cr_assert(req.keep_alive);
	cr_assert_eq(req.nheaders, 2);
}

Test(http_parse, incomplete_then_complete)
{
	const char *s = "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n";
	for (size_t n = 0; n < strlen(s); n++)
		cr_assert_eq(http_request_parse(&req, s, n), 0, "prefix %zu", n);
	cr_assert_eq(parse(s), (int)strlen(s));
	cr_assert_eq(req.method, HTTP_M_HEAD);
}

Test(http_parse, pipelined_leaves_rest)
{
	const char *s = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
	int n = parse(s);
	cr_assert_eq(n, (int)strlen(s) / 2);
	cr_assert(str_is(req.path, "/1"));
	cr_assert_eq(http_request_parse(&req, s + n, strlen(s) - n), n);
	cr_assert(str_is(req.path, "/2"));
}

Test(http_parse, bare_lf_and_leading_empty_lines)
{
	cr_assert_gt(parse("\r\n\nGET / HTTP/1.1\nHost: h\n\n"), 0);
	cr_assert(str_is(req.path, "/"));
}

Test(http_parse, keep_alive_defaults)
{
	cr_assert_gt(parse("GET / HTTP/1.0\r\n\r\n"), 0);
	cr_assert_not(req.keep_alive);
	cr_assert_gt(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0);
	cr_assert(req.keep_alive);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n"), 0);
	cr_assert_not(req.keep_alive);
}

Test(http_parse, absolute_form)
{
	cr_assert_gt(parse("GET http://other.example:81/x/y?q HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	cr_assert(req.absolute_form);
	cr_assert(str_is(req.host, "other.example:81"));
	cr_assert(str_is(req.path, "/x/y"));
	cr_assert_gt(parse("GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	cr_assert(str_is(req.path, "/"));
	cr_assert_eq(parse("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET http://user@h/x HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
}

Test(http_parse, methods)
{
	cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	cr_assert_eq(req.method, HTTP_M_POST);
	cr_assert_gt(parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	cr_assert_eq(req.method, HTTP_M_OPTIONS);
	cr_assert_eq(parse("BREW / HTTP/1.1\r\nHost: h\r\n\r\n"), -501);
	cr_assert_eq(parse("get / HTTP/1.1\r\nHost: h\r\n\r\n"),
		     -501); /* methods are case-sensitive */
	cr_assert_eq(parse("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	cr_assert_str_eq(http_method_name(HTTP_M_HEAD), "HEAD");
}

Test(http_parse, versions)
{
	cr_assert_eq(parse("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), -505);
	cr_assert_eq(parse("GET / HTTP/0.9\r\n\r\n"), -505);
	cr_assert_eq(parse("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / http/1.1\r\nHost: h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET /\r\n\r\n"), -400);
}

Test(http_parse, request_line_syntax)
{
	cr_assert_eq(parse("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET /a\xff HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET a HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET /\rx HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	cr_assert_eq(http_request_parse(&req, tls, sizeof(tls) - 1), -400);
	cr_assert_eq(http_request_parse(&req, tls, 1), -400); /* refused at the first byte */
	const char nul[] = "GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(http_request_parse(&req, nul, sizeof(nul) - 1), -400);
}

Test(http_parse, host_rules)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), -400);
	cr_assert_gt(parse("GET / HTTP/1.0\r\n\r\n"), 0);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 0);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 0); /* empty Host is allowed */
}

Test(http_parse, field_syntax)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n"), -400);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: h\r\nX:   v \t\r\n\r\n"), 0);
	const struct http_str *v = http_request_header(&req, "x");
	cr_assert_not_null(v);
	cr_assert(str_is(*v, "v"));
	cr_assert_null(http_request_header(&req, "y"));
}

Test(http_parse, a_body_is_framed_for_dropping)
{
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), 0);
	cr_assert_eq(req.body_length, 0);
	cr_assert(req.keep_alive);
	/* A Content-Length body is skipped and the connection kept. */
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"), 0);
	cr_assert_eq(req.body_length, 5);
	cr_assert(req.keep_alive);
	cr_assert_gt(parse("POST / HTTP/1.0\r\nContent-Length: 1048576\r\n\r\n"), 0);
	cr_assert_eq(req.body_length, HTTP_MAX_BODY);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n"), -413);
	/* Chunked, or held back for "100 Continue": answered, then the connection ends. */
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
	cr_assert_eq(req.body_length, 0);
	cr_assert_not(req.keep_alive);
	cr_assert_gt(parse("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
			   "Expect: 100-continue\r\n\r\n"),
		     0);
	cr_assert_not(req.keep_alive);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"), 0);
	cr_assert(req.keep_alive); /* no body to wait for */
}

Test(http_parse, bad_body_framing_refused)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), -400);
	cr_assert_eq(
	    parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
	    -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), -501);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
			   "Content-Length: 3\r\n\r\n"),
		     -400);
	cr_assert_eq(parse("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
}

Test(http_parse, limits)
{
	size_t big = HTTP_MAX_REQUEST_LINE + 100;
	char *s = malloc(big + 64);
	strcpy(s, "GET /");
	memset(s + 5, 'a', big);
	s[5 + big] = '\0';
	/* Over-long before the line ends: refused without waiting for more. */
	cr_assert_eq(parse(s), -414);
	strcat(s, " HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(parse(s), -414);
	free(s);

	s = malloc(HTTP_MAX_HEADER_BYTES + 200);
	strcpy(s, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
	size_t l = strlen(s);
	memset(s + l, 'b', HTTP_MAX_HEADER_BYTES);
	s[l + HTTP_MAX_HEADER_BYTES] = '\0';
	cr_assert_eq(parse(s), -431);
	free(s);

	char many[HTTP_MAX_HEADERS * 8 + 64];
	strcpy(many, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		strcat(many, "A: b\r\n");
	strcat(many, "\r\n");
	cr_assert_eq(parse(many), -431);
}

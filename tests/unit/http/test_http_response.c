/* Response heads and multipart/byteranges framing. */
#include "http/http_proto.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

Test(http_response, head_builder)
{
	char buf[256];
	struct http_hdrbuf hb;
	http_hdr_init(&hb, buf, sizeof(buf));
	http_hdr_status(&hb, 416);
	http_hdr_add(&hb, "Content-Range", "bytes */%d", 100);
	size_t n = http_hdr_end(&hb);
	const char *want =
	    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */100\r\n\r\n";
	cr_assert_eq(n, strlen(want));
	cr_assert(memcmp(buf, want, n) == 0);
}

Test(http_response, overflow_latches)
{
	char buf[40];
	struct http_hdrbuf hb;
	http_hdr_init(&hb, buf, sizeof(buf));
	http_hdr_status(&hb, 200);
	http_hdr_add(&hb, "X-Long", "%s", "0123456789012345678901234567890123456789");
	http_hdr_add(&hb, "A", "b");
	cr_assert_eq(http_hdr_end(&hb), 0);
}

Test(http_response, fmt_u64)
{
	char d[HTTP_U64_DIGITS + 1];
	const uint64_t v[] = {0, 7, 9, 10, 99, 100, 4096, 65536, 1000000007, UINT64_MAX};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char want[32];
		snprintf(want, sizeof(want), "%llu", (unsigned long long)v[i]);
		size_t n = http_fmt_u64(d, v[i]);
		d[n] = '\0';
		cr_assert_str_eq(d, want);
	}
	cr_assert_eq(http_fmt_u64(d, UINT64_MAX), HTTP_U64_DIGITS);
}

/* The printf-free builders give exactly the bytes the printf one gives. */
Test(http_response, builders_match_printf)
{
	char a[512], b[512];
	struct http_hdrbuf ha, hbb;
	http_hdr_init(&ha, a, sizeof(a));
	http_hdr_init(&hbb, b, sizeof(b));
	http_hdr_status(&ha, 206);
	http_hdr_str(&ha, "Content-Type", "text/plain");
	http_hdr_strn(&ha, "ETag", "\"abc\"xyz", 5);
	http_hdr_u64(&ha, "Content-Length", 18446744073709551615ull);
	http_hdr_u64(&ha, "X-Zero", 0);
	http_hdr_put(&ha, "Content-Range: bytes ", 21);
	http_hdr_put_u64(&ha, 10);
	http_hdr_put(&ha, "-", 1);
	http_hdr_put_u64(&ha, 19);
	http_hdr_put(&ha, "/", 1);
	http_hdr_put_u64(&ha, 4096);
	http_hdr_put(&ha, "\r\n", 2);
	http_hdr_line(&ha, "Allow: GET, HEAD");
	size_t na = http_hdr_end(&ha);

	http_hdr_add(&hbb, "Content-Type", "%s", "text/plain");
	http_hdr_add(&hbb, "ETag", "%.*s", 5, "\"abc\"xyz");
	http_hdr_add(&hbb, "Content-Length", "%llu", 18446744073709551615ull);
	http_hdr_add(&hbb, "X-Zero", "%d", 0);
	http_hdr_add(&hbb, "Content-Range", "bytes %d-%d/%d", 10, 19, 4096);
	http_hdr_add(&hbb, "Allow", "GET, HEAD");
	size_t nb = http_hdr_end(&hbb);

	const char *status = "HTTP/1.1 206 Partial Content\r\n";
	cr_assert_eq(na, strlen(status) + nb);
	cr_assert(memcmp(a, status, strlen(status)) == 0);
	cr_assert(memcmp(a + strlen(status), b, nb) == 0, "%.*s", (int)na, a);
}

/* A part that does not fit latches overflow; a head that fits exactly is fine. */
Test(http_response, builder_bounds)
{
	char buf[32];
	struct http_hdrbuf hb;
	http_hdr_init(&hb, buf, sizeof(buf));
	http_hdr_status(&hb, 200);         /* 17 bytes */
	http_hdr_str(&hb, "A", "0123456"); /* 12 bytes: 29 */
	cr_assert_eq(http_hdr_end(&hb), 31);
	cr_assert(memcmp(buf, "HTTP/1.1 200 OK\r\nA: 0123456\r\n\r\n", 31) == 0);

	http_hdr_init(&hb, buf, sizeof(buf));
	http_hdr_status(&hb, 200);
	http_hdr_u64(&hb, "Content-Length", 1234567890123ull); /* 16 + 13 + 2 = 31: past 32 */
	cr_assert(hb.overflow);
	size_t len = hb.len;
	http_hdr_put(&hb, "x", 1); /* latched: later small parts do not sneak in */
	cr_assert_eq(hb.len, len);
	cr_assert_eq(http_hdr_end(&hb), 0);
}

Test(http_response, reasons)
{
	int codes[] = {200, 206, 301, 304, 400, 404, 405, 408, 413, 414, 416, 431, 501, 505};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		cr_assert_str_neq(http_status_reason(codes[i]), "Unknown", "%d", codes[i]);
}

Test(http_response, multipart)
{
	char b[HTTP_BOUNDARY_LEN + 1], b2[HTTP_BOUNDARY_LEN + 1];
	http_boundary_make(b, 1);
	http_boundary_make(b2, 2);
	cr_assert_eq(strlen(b), HTTP_BOUNDARY_LEN);
	cr_assert_str_neq(b, b2);

	struct http_range r[2] = {{0, 9}, {20, 24}};
	const char *ct = "text/plain";
	/* Build the body by hand from a 30-byte "file" and compare lengths and text. */
	const char *file = "abcdefghijklmnopqrstuvwxyz0123";
	char body[1024], part[256];
	size_t len = 0;
	for (int i = 0; i < 2; i++) {
		size_t n = http_multipart_part(part, sizeof(part), b, ct, &r[i], 30);
		cr_assert_gt(n, 0);
		memcpy(body + len, part, n);
		len += n;
		memcpy(body + len, file + r[i].start, r[i].end - r[i].start + 1);
		len += r[i].end - r[i].start + 1;
	}
	len += http_multipart_end(body + len, sizeof(body) - len, b);
	body[len] = '\0';
	cr_assert_eq(http_multipart_length(r, 2, b, ct, 30), len);
	char want[1024];
	snprintf(want, sizeof(want),
		 "\r\n--%s\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-9/30\r\n\r\n"
		 "abcdefghij"
		 "\r\n--%s\r\nContent-Type: text/plain\r\nContent-Range: bytes 20-24/30\r\n\r\n"
		 "uvwxy"
		 "\r\n--%s--\r\n",
		 b, b, b);
	cr_assert_str_eq(body, want);
}

/* Response heads and multipart/byteranges framing. */
#include "http/http_proto.h"

#include <criterion/criterion.h>
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

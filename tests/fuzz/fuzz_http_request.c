/*
 * Fuzz the request-head parser.  Besides "no crash, no overread" (ASan), it
 * checks what the server relies on: a successful parse consumes no more than
 * it was given, every view points inside the buffer, and feeding the same
 * head in two pieces gives the same answer as feeding it whole.
 */
#include "http/http_proto.h"

#include <stdlib.h>
#include <string.h>

static struct http_request req, req2;

static void
check_view(struct http_str s, const char *buf, size_t len)
{
	if (s.len > 0 && (s.p < buf || s.p + s.len > buf + len))
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *buf = (const char *)data;
	int rc = http_request_parse(&req, buf, size);
	if (rc > 0) {
		if ((size_t)rc > size || req.nheaders > HTTP_MAX_HEADERS)
			abort();
		/* "http://host" with no path gets a static "/" */
		if (!(req.absolute_form && req.path.len == 1 && req.path.p[0] == '/'))
			check_view(req.path, buf, size);
		check_view(req.host, buf, size);
		check_view(req.range, buf, size);
		for (size_t i = 0; i < req.nheaders; i++) {
			check_view(req.headers[i].name, buf, size);
			check_view(req.headers[i].value, buf, size);
		}
		if (req.method == HTTP_M_UNKNOWN)
			abort();
		/* Bytes after the head (a pipelined request) must not change the answer. */
		char *more = malloc(size + 4);
		memcpy(more, buf, size);
		memcpy(more + size, "GET ", 4);
		int r3 = http_request_parse(&req2, more, size + 4);
		free(more);
		if (r3 != rc)
			abort();
	} else if (rc < 0) {
		int st = -rc;
		if (st != 400 && st != 413 && st != 414 && st != 431 && st != 501 && st != 505)
			abort();
	}
	/* Incremental delivery: no prefix of a complete head is itself complete but shorter
	 * (a shorter complete head would be a different request). */
	if (rc > 0 && size > 1) {
		int r2 = http_request_parse(&req2, buf, (size_t)rc - 1);
		if (r2 > 0)
			abort();
	}
	return 0;
}

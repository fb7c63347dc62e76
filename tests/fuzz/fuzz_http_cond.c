/*
 * Fuzz HTTP-date parsing and the conditional-request evaluators.  Input:
 * one byte selecting the field, then its value.  Invariants: a date that
 * parses formats back to a date that parses to the same instant; the
 * evaluators never read past the value and answer only 200/304 (or a bool).
 */
#include "http/http_proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	const char *v = (const char *)data + 1;
	size_t n = size - 1;

	time_t t;
	if (http_date_parse(v, n, &t) == 0) {
		char buf[HTTP_DATE_LEN + 1];
		time_t t2;
		if (t >= 0 && t < 253402300800) { /* years 1970..9999 format as four digits */
			http_date_format(t, buf);
			if (http_date_parse(buf, HTTP_DATE_LEN, &t2) != 0 || t2 != t)
				abort();
		}
	}

	static const char etag[] = "\"5-1a-2b\"";
	struct http_request req;
	memset(&req, 0, sizeof(req));
	struct http_str s = {v, n};
	switch (sel % 3) {
	case 0:
		req.if_none_match = s;
		break;
	case 1:
		req.if_modified_since = s;
		break;
	default:
		req.if_range = s;
		break;
	}
	int st = http_cond_evaluate(&req, etag, sizeof(etag) - 1, 784111777);
	if (st != 200 && st != 304)
		abort();
	bool ok = http_if_range_ok(&req, etag, sizeof(etag) - 1, 784111777);
	if (sel % 3 != 2 && !ok)
		abort(); /* no If-Range: Range is always allowed */
	return 0;
}

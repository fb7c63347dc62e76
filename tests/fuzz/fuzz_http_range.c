/*
 * Fuzz the Range parser.  Input: 8 bytes of file size, then the field value.
 * Invariants: OK means 1..max ranges, each inside the file, sorted, with
 * gaps between them (coalesced), so no byte is ever sent twice.
 */
#include "http/http_proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	uint64_t fsize = 0;
	if (size >= 8) {
		memcpy(&fsize, data, 8);
		fsize %= (1ull << 40);
		data += 8;
		size -= 8;
	}
	struct http_range r[HTTP_MAX_RANGES];
	int n = -1;
	enum http_range_result res =
	    http_range_parse((const char *)data, size, fsize, r, HTTP_MAX_RANGES, &n);
	if (res == HTTP_RANGE_OK) {
		if (n < 1 || n > HTTP_MAX_RANGES)
			abort();
		for (int i = 0; i < n; i++) {
			if (r[i].start > r[i].end || r[i].end >= fsize)
				abort();
			if (i > 0 && r[i].start <= r[i - 1].end + 1)
				abort();
		}
	} else if (res == HTTP_RANGE_NONE || res == HTTP_RANGE_UNSATISFIABLE) {
		if (n != 0)
			abort();
	} else {
		abort();
	}
	return 0;
}

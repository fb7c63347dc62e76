/*
 * Fuzz percent-decoding and path normalisation.  Invariants on success: the
 * result starts with '/', has no NUL, backslash or control byte, no empty,
 * "." or ".." segment, and normalising it again (it has no '%' escapes left
 * once any '%' is re-encoded; we skip those) changes nothing.
 */
#include "http/http_proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char out[512], again[512];
	int n = http_path_normalize((const char *)data, size, out, sizeof(out));
	if (n < 0) {
		if (n != -400 && n != -414)
			abort();
		return 0;
	}
	if ((size_t)n >= sizeof(out) || out[0] != '/' || strlen(out) != (size_t)n)
		abort();
	for (int i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			abort();
		if (c == '/' && i + 1 < n) {
			const char *seg = out + i + 1;
			size_t sl = strcspn(seg, "/");
			if (sl == 0 || (sl == 1 && seg[0] == '.') ||
			    (sl == 2 && seg[0] == '.' && seg[1] == '.'))
				abort();
		}
	}
	if (strchr(out, '%') == NULL) {
		int m = http_path_normalize(out, (size_t)n, again, sizeof(again));
		if (m != n || memcmp(out, again, (size_t)n) != 0)
			abort();
	}
	return 0;
}

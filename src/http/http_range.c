/*
 * Range header evaluation (RFC 9110 section 14).
 *
 * Policy, chosen so that a client can neither confuse us nor make us do
 * more work than sending the file once:
 *   - anything we cannot parse is ignored (the full 200 response is always a
 *     correct answer to a Range request);
 *   - more than HTTP_MAX_RANGES specs: ignored likewise (nginx does the same);
 *   - specs outside the file are dropped; none left means 416;
 *   - the rest are sorted and merged when they overlap or touch, so the
 *     response never repeats a byte and a single surviving range is sent as
 *     a plain 206 rather than a one-part multipart.
 */
#include "http/http_proto.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
http_range_digits(const char *s, size_t *i, size_t len, uint64_t *out)
{
	size_t start = *i;
	uint64_t v = 0;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		uint64_t d = (uint64_t)(s[*i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		(*i)++;
	}
	*out = v;
	return *i > start;
}

static int
http_range_cmp(const void *a, const void *b)
{
	const struct http_range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

enum http_range_result
http_range_parse(const char *s, size_t len, uint64_t size, struct http_range *out, int max, int *n)
{
	struct http_range tmp[HTTP_MAX_RANGES];
	int nspec = 0, nsat = 0;
	size_t i = 0;

	*n = 0;
	/* An empty file has no byte to point at and no Content-Range for "-5": the whole, 200. */
	if (size == 0 || len < 6 || strncasecmp(s, "bytes=", 6) != 0)
		return HTTP_RANGE_NONE;
	i = 6;
	for (;;) {
		/* Empty list elements are allowed by the #rule: "bytes=0-1,,2-3". */
		while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		if (i == len)
			break;
		uint64_t a = 0, b = 0;
		bool suffix = false, open = false;
		if (s[i] == '-') {
			i++;
			if (!http_range_digits(s, &i, len, &b))
				return HTTP_RANGE_NONE;
			suffix = true;
		} else {
			if (!http_range_digits(s, &i, len, &a) || i == len || s[i] != '-')
				return HTTP_RANGE_NONE;
			i++;
			if (!http_range_digits(s, &i, len, &b))
				open = true;
			else if (b < a)
				return HTTP_RANGE_NONE;
		}
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i < len && s[i] != ',')
			return HTTP_RANGE_NONE;
		if (++nspec > HTTP_MAX_RANGES)
			return HTTP_RANGE_NONE;

		struct http_range r;
		if (suffix) {
			if (b == 0 || size == 0)
				continue; /* "-0" selects nothing */
			r.start = b >= size ? 0 : size - b;
			r.end = size - 1;
		} else {
			if (a >= size)
				continue;
			r.start = a;
			r.end = (open || b >= size) ? size - 1 : b;
		}
		tmp[nsat++] = r;
	}
	if (nspec == 0)
		return HTTP_RANGE_NONE;
	if (nsat == 0)
		return HTTP_RANGE_UNSATISFIABLE;

	qsort(tmp, (size_t)nsat, sizeof(tmp[0]), http_range_cmp);
	int k = 0;
	for (int j = 1; j < nsat; j++) {
		if (tmp[j].start <= tmp[k].end + 1) {
			if (tmp[j].end > tmp[k].end)
				tmp[k].end = tmp[j].end;
		} else {
			tmp[++k] = tmp[j];
		}
	}
	int cnt = k + 1;
	if (cnt > max)
		return HTTP_RANGE_NONE;
	memcpy(out, tmp, (size_t)cnt * sizeof(tmp[0]));
	*n = cnt;
	return HTTP_RANGE_OK;
}

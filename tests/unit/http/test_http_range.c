/* Range evaluation: single, suffix, open, multiple, coalescing, the cap and 416. */
#include "http/http_proto.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static struct http_range r[HTTP_MAX_RANGES];
static int n;

static enum http_range_result
rp(const char *s, uint64_t size)
{
	return http_range_parse(s, strlen(s), size, r, HTTP_MAX_RANGES, &n);
}

#define ASSERT_ONE(s, size, a, b)                                                                  \
	do {                                                                                       \
		cr_assert_eq(rp(s, size), HTTP_RANGE_OK, "%s", s);                                 \
		cr_assert_eq(n, 1, "%s", s);                                                       \
		cr_assert_eq(r[0].start, (a), "%s", s);                                            \
		cr_assert_eq(r[0].end, (b), "%s", s);                                              \
	} while (0)

Test(http_range, single_forms)
{
	ASSERT_ONE("bytes=0-0", 100, 0, 0);
	ASSERT_ONE("bytes=-1", 100, 99, 99);
	ASSERT_ONE("bytes=5-", 100, 5, 99);
	ASSERT_ONE("bytes=10-19", 100, 10, 19);
	ASSERT_ONE("bytes=90-1000", 100, 90, 99);
	ASSERT_ONE("bytes=-1000", 100, 0, 99);
	/* the unit is case-insensitive */
	ASSERT_ONE("BYTES=1-2", 100, 1, 2);
}

Test(http_range, unsatisfiable)
{
	cr_assert_eq(rp("bytes=100-", 100), HTTP_RANGE_UNSATISFIABLE);
	cr_assert_eq(rp("bytes=100-200", 100), HTTP_RANGE_UNSATISFIABLE);
	cr_assert_eq(rp("bytes=-0", 100), HTTP_RANGE_UNSATISFIABLE);
	/* An empty file is sent whole: "-5" is satisfiable there, but has no Content-Range. */
	cr_assert_eq(rp("bytes=0-0", 0), HTTP_RANGE_NONE);
	cr_assert_eq(rp("bytes=-5", 0), HTTP_RANGE_NONE);
	cr_assert_eq(rp("bytes=200-300,400-", 100), HTTP_RANGE_UNSATISFIABLE);
	/* one satisfiable spec is enough */
	ASSERT_ONE("bytes=200-300,5-6", 100, 5, 6);
}

Test(http_range, malformed_is_ignored)
{
	const char *bad[] = {"bytes=",
			     "bytes=a-b",
			     "bytes=5-4",
			     "bytes=1-2-3",
			     "items=0-1",
			     "bytes 0-1",
			     "bytes=--1",
			     "bytes=1-2;x",
			     "bytes=-",
			     "bytes=0-1 x",
			     "bytes=18446744073709551616-",
			     ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(rp(bad[i], 100), HTTP_RANGE_NONE, "'%s'", bad[i]);
}

Test(http_range, multiple_sorted_and_coalesced)
{
	cr_assert_eq(rp("bytes=50-59, 0-9", 100), HTTP_RANGE_OK);
	cr_assert_eq(n, 2);
	cr_assert_eq(r[0].start, 0);
	cr_assert_eq(r[0].end, 9);
	cr_assert_eq(r[1].start, 50);
	cr_assert_eq(r[1].end, 59);
	/* overlapping and adjacent merge */
	ASSERT_ONE("bytes=0-10,5-20,21-30", 100, 0, 30);
	ASSERT_ONE("bytes=0-,-10", 100, 0, 99);
	cr_assert_eq(rp("bytes=0-0,2-2,,4-4", 100), HTTP_RANGE_OK);
	cr_assert_eq(n, 3);
}

Test(http_range, cap_on_count)
{
	char s[512] = "bytes=";
	for (int i = 0; i < HTTP_MAX_RANGES; i++)
		sprintf(s + strlen(s), "%s%d-%d", i ? "," : "", i * 3, i * 3);
	cr_assert_eq(rp(s, 1000), HTTP_RANGE_OK);
	cr_assert_eq(n, HTTP_MAX_RANGES);
	strcat(s, ",900-901");
	cr_assert_eq(rp(s, 1000), HTTP_RANGE_NONE);
	/* a caller allowing fewer parts than survive gets NONE */
	cr_assert_eq(http_range_parse("bytes=0-0,5-5", 13, 100, r, 1, &n), HTTP_RANGE_NONE);
}

/* Dates, ETags and conditional requests. */
#include "http/http_proto.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static const time_t T = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

Test(http_cond, date_roundtrip)
{
	char buf[HTTP_DATE_LEN + 1];
	cr_assert_eq(http_date_format(T, buf), HTTP_DATE_LEN);
	cr_assert_str_eq(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
	time_t t = 0;
	cr_assert_eq(http_date_parse(buf, strlen(buf), &t), 0);
	cr_assert_eq(t, T);
	cr_assert_eq(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30, &t), 0);
	cr_assert_eq(t, T);
	cr_assert_eq(http_date_parse("Sun Nov  6 08:49:37 1994", 24, &t), 0);
	cr_assert_eq(t, T);
	for (time_t x = 0; x < 4000000000; x += 86400 * 37 + 3671) {
		http_date_format(x, buf);
		cr_assert_eq(http_date_parse(buf, HTTP_DATE_LEN, &t), 0, "%s", buf);
		cr_assert_eq(t, x, "%s", buf);
	}
}

Test(http_cond, date_malformed)
{
	const char *bad[] = {"",
			     "Sun, 06 Nov 1994 08:49:37",
			     "Sun, 06 Nov 1994 08:49:37 UTC",
			     "Sun, 6 Nov 1994 08:49:37 GMT",
			     "Sun, 06 Foo 1994 08:49:37 GMT",
			     "Xyz, 06 Nov 1994 08:49:37 GMT",
			     "Sun, 32 Nov 1994 08:49:37 GMT",
			     "Sun, 06 Nov 1994 24:49:37 GMT",
			     "Sun, 06 Nov 1994 08:49:37 GMTx",
			     "Sunday, 06-Nov-1994 08:49:37 GMT",
			     "1994-11-06T08:49:37Z"};
	time_t t;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(http_date_parse(bad[i], strlen(bad[i]), &t), -1, "%s", bad[i]);
}

Test(http_cond, etag_from_identity)
{
	char a[HTTP_ETAG_MAX], b[HTTP_ETAG_MAX];
	size_t la = http_etag_make(a, sizeof(a), 1, 2, 3, 4, 5);
	size_t lb = http_etag_make(b, sizeof(b), 1, 2, 3, 4, 5);
	cr_assert_gt(la, 2);
	cr_assert_eq(a[0], '"');
	cr_assert_eq(a[la - 1], '"');
	cr_assert(la == lb && memcmp(a, b, la) == 0);
	/* each identity component changes the tag */
	const uint64_t v[5][5] = {
	    {9, 2, 3, 4, 5}, {1, 9, 3, 4, 5}, {1, 2, 9, 4, 5}, {1, 2, 3, 9, 5}, {1, 2, 3, 4, 9}};
	for (int i = 0; i < 5; i++) {
		lb = http_etag_make(b, sizeof(b), v[i][0], v[i][1], v[i][2], (int64_t)v[i][3],
				    (long)v[i][4]);
		cr_assert(la != lb || memcmp(a, b, la) != 0, "component %d", i);
	}
}

/* The tag's exact bytes: "ID-SIZE-MTIME" in lowercase hex, ID = ino ^ dev * golden ratio. */
Test(http_cond, etag_bytes)
{
	char a[HTTP_ETAG_MAX], want[HTTP_ETAG_MAX];
	const uint64_t v[][5] = {{0, 0, 0, 0, 0},
				 {1, 2, 3, 4, 5},
				 {0, 0x1234abcd, 4096, 1764000000, 999999999},
				 {~0ull, ~0ull, ~0ull, 0x7fffffff, 999999999}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t id = v[i][1] ^ (v[i][0] * 0x9e3779b97f4a7c15ull);
		uint64_t mt = v[i][3] * 1000000000ull + v[i][4];
		int n = snprintf(want, sizeof(want), "\"%llx-%llx-%llx\"", (unsigned long long)id,
				 (unsigned long long)v[i][2], (unsigned long long)mt);
		size_t la = http_etag_make(a, sizeof(a), v[i][0], v[i][1], v[i][2],
					   (int64_t)v[i][3], (long)v[i][4]);
		cr_assert_eq(la, (size_t)n, "row %zu", i);
		cr_assert_str_eq(a, want);
	}
	/* Too small a buffer gives 0, like before. */
	cr_assert_eq(http_etag_make(a, 8, 1, 2, 3, 4, 5), 0);
}

/* Every field of the date, with leading zeros, against strftime in the C locale. */
Test(http_cond, date_bytes)
{
	char buf[HTTP_DATE_LEN + 1], want[64];
	for (time_t x = -86400 * 365; x < 4102444800; x += 86400 * 13 + 3600 * 7 + 61 * 5 + 1) {
		struct tm tm;
		gmtime_r(&x, &tm);
		strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		cr_assert_eq(http_date_format(x, buf), HTTP_DATE_LEN);
		cr_assert_str_eq(buf, want);
	}
}

static struct http_request req;

static void
setreq(const char *inm, const char *ims, const char *ifr)
{
	memset(&req, 0, sizeof(req));
	if (inm)
		req.if_none_match = (struct http_str){inm, strlen(inm)};
	if (ims)
		req.if_modified_since = (struct http_str){ims, strlen(ims)};
	if (ifr)
		req.if_range = (struct http_str){ifr, strlen(ifr)};
}

#define ETAG "\"abc-1\""

Test(http_cond, if_none_match)
{
	setreq(ETAG, NULL, NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 304);
	setreq("W/" ETAG, NULL, NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 304);
	setreq("\"x\", " ETAG, NULL, NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 304);
	setreq("*", NULL, NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 304);
	setreq("\"abc-2\"", NULL, NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 200);
	setreq("abc-1", NULL, NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 200);
	/* If-None-Match wins over If-Modified-Since */
	setreq("\"nope\"", "Sun, 06 Nov 1994 08:49:37 GMT", NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 200);
}

Test(http_cond, if_modified_since)
{
	setreq(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 304);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T - 10), 304);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T + 1), 200);
	setreq(NULL, "garbage", NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 200);
	setreq(NULL, NULL, NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 200);
}

static void
setpre(const char *im, const char *ius)
{
	memset(&req, 0, sizeof(req));
	if (im)
		req.if_match = (struct http_str){im, strlen(im)};
	if (ius)
		req.if_unmodified_since = (struct http_str){ius, strlen(ius)};
}

Test(http_cond, if_match_and_if_unmodified_since)
{
	setpre(ETAG, NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 200);
	setpre("\"x\", " ETAG, NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 200);
	setpre("*", NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 200);
	setpre("\"abc-2\"", NULL);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 412);
	setpre("W/" ETAG, NULL); /* If-Match compares strongly */
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 412);
	setpre(NULL, "Sun, 06 Nov 1994 08:49:37 GMT");
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 200);
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T + 1), 412);
	setpre(NULL, "garbage"); /* not a date: ignored */
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T + 1), 200);
	/* If-Match wins over If-Unmodified-Since, and 412 over 304. */
	setpre(ETAG, "Sun, 06 Nov 1994 08:49:36 GMT");
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 200);
	setpre("\"nope\"", NULL);
	req.if_none_match = (struct http_str){"*", 1};
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 412);
	setpre(ETAG, NULL);
	req.if_none_match = (struct http_str){"*", 1};
	cr_assert_eq(http_cond_evaluate(&req, ETAG, strlen(ETAG), T), 304);
}

Test(http_cond, if_range)
{
	setreq(NULL, NULL, NULL);
	cr_assert(http_if_range_ok(&req, ETAG, strlen(ETAG), T));
	setreq(NULL, NULL, ETAG);
	cr_assert(http_if_range_ok(&req, ETAG, strlen(ETAG), T));
	setreq(NULL, NULL, "W/" ETAG); /* weak tags never match If-Range */
	cr_assert_not(http_if_range_ok(&req, ETAG, strlen(ETAG), T));
	setreq(NULL, NULL, "\"other\"");
	cr_assert_not(http_if_range_ok(&req, ETAG, strlen(ETAG), T));
	setreq(NULL, NULL, "Sun, 06 Nov 1994 08:49:37 GMT");
	cr_assert(http_if_range_ok(&req, ETAG, strlen(ETAG), T));
	cr_assert_not(http_if_range_ok(&req, ETAG, strlen(ETAG), T + 1));
	setreq(NULL, NULL, "junk");
	cr_assert_not(http_if_range_ok(&req, ETAG, strlen(ETAG), T));
}

/*
 * HTTP dates, ETags and conditional requests (RFC 9110 sections 5.6.7, 8.8
 * and 13).
 *
 * The ETag is strong and made from the file's identity (device, inode, size,
 * mtime): the VFS gives a changed file a new identity, so equal tags mean
 * equal bytes, which is what a strong validator promises and what If-Range
 * needs.  Dates are parsed by hand in the C locale's month and day names
 * because strptime() depends on the process locale.
 */
#include "http/http_proto.h"

#include <string.h>
#include <strings.h>

static const char http_wday[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char http_month[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Two decimal digits of v (0..99). */
static char *
http_put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

size_t
http_date_format(time_t t, char *buf)
{
	/* By hand, not snprintf: this runs for every Last-Modified a thread has not cached. */
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	gmtime_r(&t, &tm);
	int year = (tm.tm_year + 1900) % 10000;
	if (year < 0)
		year = 0;
	char *p = buf;
	memcpy(p, http_wday[(tm.tm_wday % 7 + 7) % 7], 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	p = http_put2(p, tm.tm_mday);
	*p++ = ' ';
	memcpy(p, http_month[(tm.tm_mon % 12 + 12) % 12], 3);
	p += 3;
	*p++ = ' ';
	p = http_put2(p, year / 100);
	p = http_put2(p, year % 100);
	*p++ = ' ';
	p = http_put2(p, tm.tm_hour);
	*p++ = ':';
	p = http_put2(p, tm.tm_min);
	*p++ = ':';
	p = http_put2(p, tm.tm_sec);
	memcpy(p, " GMT", 4);
	buf[HTTP_DATE_LEN] = '\0';
	return HTTP_DATE_LEN;
}

/* A tiny cursor over the date string. */
struct http_dcur {
	const char *s;
	size_t i, len;
};

static bool
http_dc_lit(struct http_dcur *c, const char *lit)
{
	size_t n = strlen(lit);
	if (c->len - c->i < n || memcmp(c->s + c->i, lit, n) != 0)
		return false;
	c->i += n;
	return true;
}

static bool
http_dc_num(struct http_dcur *c, int mindig, int maxdig, int *out)
{
	int v = 0, d = 0;
	while (c->i < c->len && d < maxdig && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
		v = v * 10 + (c->s[c->i++] - '0');
		d++;
	}
	*out = v;
	return d >= mindig;
}

static bool
http_dc_month(struct http_dcur *c, int *mon)
{
	if (c->len - c->i < 3)
		return false;
	for (int m = 0; m < 12; m++)
		if (memcmp(c->s + c->i, http_month[m], 3) == 0) {
			*mon = m;
			c->i += 3;
			return true;
		}
	return false;
}

static bool
http_dc_time(struct http_dcur *c, struct tm *tm)
{
	return http_dc_num(c, 2, 2, &tm->tm_hour) && http_dc_lit(c, ":") &&
	       http_dc_num(c, 2, 2, &tm->tm_min) && http_dc_lit(c, ":") &&
	       http_dc_num(c, 2, 2, &tm->tm_sec);
}

static const char *const http_wday_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
					      "Thursday", "Friday", "Saturday"};

int
http_date_parse(const char *s, size_t len, time_t *t)
{
	struct http_dcur c = {s, 0, len};
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int wd = -1;
	for (int d = 0; d < 7; d++)
		if (len >= 3 && memcmp(s, http_wday[d], 3) == 0)
			wd = d;
	if (wd < 0)
		return -1;

	if (len > 3 && s[3] == ',') {
		/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
		c.i = 4;
		if (!(http_dc_lit(&c, " ") && http_dc_num(&c, 2, 2, &tm.tm_mday) &&
		      http_dc_lit(&c, " ") && http_dc_month(&c, &tm.tm_mon) &&
		      http_dc_lit(&c, " ") && http_dc_num(&c, 4, 4, &tm.tm_year) &&
		      http_dc_lit(&c, " ") && http_dc_time(&c, &tm) && http_dc_lit(&c, " GMT")))
			return -1;
		tm.tm_year -= 1900;
	} else if (len > 3 && s[3] == ' ') {
		/* asctime: "Sun Nov  6 08:49:37 1994" */
		c.i = 4;
		if (!(http_dc_month(&c, &tm.tm_mon) && http_dc_lit(&c, " ")))
			return -1;
		if (c.i < len && s[c.i] == ' ')
			c.i++;
		if (!(http_dc_num(&c, 1, 2, &tm.tm_mday) && http_dc_lit(&c, " ") &&
		      http_dc_time(&c, &tm) && http_dc_lit(&c, " ") &&
		      http_dc_num(&c, 4, 4, &tm.tm_year)))
			return -1;
		tm.tm_year -= 1900;
	} else {
		/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
		if (!http_dc_lit(&c, http_wday_long[wd]) ||
		    !(http_dc_lit(&c, ", ") && http_dc_num(&c, 2, 2, &tm.tm_mday) &&
		      http_dc_lit(&c, "-") && http_dc_month(&c, &tm.tm_mon) &&
		      http_dc_lit(&c, "-") && http_dc_num(&c, 2, 2, &tm.tm_year) &&
		      http_dc_lit(&c, " ") && http_dc_time(&c, &tm) && http_dc_lit(&c, " GMT")))
			return -1;
		/* RFC 9110 5.6.7: a two-digit year more than 50 years ahead is in the past. */
		if (tm.tm_year < 70)
			tm.tm_year += 100;
	}
	if (c.i != len)
		return -1;
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (tm.tm_mday < 1 || tm.tm_mday > mdays[tm.tm_mon] || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return -1;
	*t = timegm(&tm);
	return 0;
}

/* v in lowercase hex without leading zeros; returns the end. */
static char *
http_put_hex(char *p, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	int shift = 60;
	while (shift > 0 && (v >> shift) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*p++ = hex[(v >> shift) & 0xf];
	return p;
}

size_t
http_etag_make(char *buf, size_t cap, uint64_t dev, uint64_t ino, uint64_t size, int64_t mtime_sec,
	       long mtime_nsec)
{
	/* Mix dev into ino so the tag stays short; size and mtime stay readable. */
	uint64_t id = ino ^ (dev * 0x9e3779b97f4a7c15ull);
	uint64_t mt = (uint64_t)mtime_sec * 1000000000ull + (uint64_t)mtime_nsec;
	char tmp[3 * 16 + 4], *p = tmp; /* the longest tag: three 16-digit numbers */
	*p++ = '"';
	p = http_put_hex(p, id);
	*p++ = '-';
	p = http_put_hex(p, size);
	*p++ = '-';
	p = http_put_hex(p, mt);
	*p++ = '"';
	size_t n = (size_t)(p - tmp);
	if (n >= cap)
		return 0;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	return n;
}

/* Walk an entity-tag list; true if an element equals etag (weakly or strongly). */
static bool
http_etag_list_match(const char *v, size_t len, const char *etag, size_t elen, bool strong)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		if (i == len)
			break;
		bool weak = false;
		if (len - i >= 2 && v[i] == 'W' && v[i + 1] == '/') {
			weak = true;
			i += 2;
		}
		if (i == len || v[i] != '"')
			return false; /* malformed list: no match */
		size_t s = i++;
		while (i < len && v[i] != '"')
			i++;
		if (i == len)
			return false;
		i++;
		size_t tl = i - s;
		if (!(strong && weak) && tl == elen && memcmp(v + s, etag, elen) == 0)
			return true;
	}
	return false;
}

static bool
http_str_is_star(const struct http_str *v)
{
	return v->len == 1 && v->p[0] == '*';
}

int
http_cond_evaluate(const struct http_request *req, const char *etag, size_t etag_len, time_t mtime)
{
	time_t t;
	if (req->if_match.len > 0) {
		const struct http_str *v = &req->if_match;
		if (!http_str_is_star(v) &&
		    !http_etag_list_match(v->p, v->len, etag, etag_len, true))
			return 412;
	} else if (req->if_unmodified_since.len > 0 &&
		   http_date_parse(req->if_unmodified_since.p, req->if_unmodified_since.len, &t) ==
		       0 &&
		   mtime > t) {
		return 412;
	}
	if (req->if_none_match.len > 0) {
		const struct http_str *v = &req->if_none_match;
		if (http_str_is_star(v))
			return 304;
		return http_etag_list_match(v->p, v->len, etag, etag_len, false) ? 304 : 200;
	}
	if (req->if_modified_since.len > 0) {
		time_t ims;
		if (http_date_parse(req->if_modified_since.p, req->if_modified_since.len, &ims) ==
			0 &&
		    mtime <= ims)
			return 304;
	}
	return 200;
}

bool
http_if_range_ok(const struct http_request *req, const char *etag, size_t etag_len, time_t mtime)
{
	const struct http_str *v = &req->if_range;
	if (v->len == 0)
		return true;
	if (v->p[0] == '"' || (v->len >= 2 && v->p[0] == 'W' && v->p[1] == '/'))
		return v->len == etag_len && memcmp(v->p, etag, etag_len) == 0;
	time_t t;
	return http_date_parse(v->p, v->len, &t) == 0 && t == mtime;
}

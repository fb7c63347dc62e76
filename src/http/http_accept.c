/*
 * Accept-Encoding (RFC 9110 section 12.5.3): which content codings a client
 * takes, with their weights.  Only what serving precompressed files needs:
 * the weight of one coding, "*" standing in for codings not named, and
 * q=0 meaning "not acceptable".
 */
#include "http/http_proto.h"

#include <string.h>
#include <strings.h>

/* "q=0.5" -> 500; -1 if malformed. */
static int
http_qvalue(const char *p, size_t n)
{
	if (n < 3 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
		return -1;
	p += 2;
	n -= 2;
	if (p[0] != '0' && p[0] != '1')
		return -1;
	int q = (p[0] - '0') * 1000, scale = 100;
	if (n > 1) {
		if (p[1] != '.' || n > 5)
			return -1;
		for (size_t i = 2; i < n; i++, scale /= 10) {
			if (p[i] < '0' || p[i] > '9')
				return -1;
			q += (p[i] - '0') * scale;
		}
	}
	return q > 1000 ? -1 : q;
}

static const char *
http_trim(const char *p, const char *e, const char **end)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*end = e;
	return p;
}

int
http_accept_encoding_q(const char *ae, size_t len, const char *coding)
{
	int named = -1, star = -1;
	const char *p = ae, *end = ae + len;
	size_t clen = strlen(coding);
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *ie = comma ? comma : end;
		const char *semi = memchr(p, ';', (size_t)(ie - p));
		const char *te;
		const char *t = http_trim(p, semi ? semi : ie, &te);
		int q = 1000;
		if (semi) {
			const char *qe;
			const char *qp = http_trim(semi + 1, ie, &qe);
			q = http_qvalue(qp, (size_t)(qe - qp));
		}
		size_t tl = (size_t)(te - t);
		if (q >= 0) {
			bool gz_alias = strcmp(coding, "gzip") == 0 && tl == 6 &&
					strncasecmp(t, "x-gzip", 6) == 0;
			if ((tl == clen && strncasecmp(t, coding, clen) == 0) || gz_alias)
				named = q > named ? q : named;
			else if (tl == 1 && *t == '*')
				star = q;
		}
		p = comma ? comma + 1 : end;
	}
	return named >= 0 ? named : star >= 0 ? star : 0;
}

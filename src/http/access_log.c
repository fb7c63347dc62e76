/*
 * The access log, in the combined format nginx and Apache write:
 *
 *   127.0.0.1 - - [25/Nov/2026:13:00:00 +0000] "GET /a HTTP/1.1" 200 1234 "ref" "agent"
 *
 * The request part is captured when the head is parsed (the input buffer
 * moves on), the status and size when the response is fully queued.  Each
 * line is one write(2) to an O_APPEND descriptor, so threads never mix
 * lines.  Bytes that would break the format (quotes, backslashes, controls,
 * non-ASCII) are written as \xHH.
 */
#include "http/http_impl.h"

#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static size_t
http_log_esc(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	if (n == 0 && cap > 1) {
		out[o++] = '-';
		return o;
	}
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\x%02X", ch);
		else
			out[o++] = (char)ch;
	}
	return o;
}

/* "25/Nov/2026:13:00:00 +0000] \"", formatted once a second per thread. */
static const char *
http_log_time(size_t *len)
{
	static _Thread_local time_t last = -1;
	static _Thread_local char buf[48];
	static _Thread_local size_t n;
	time_t now = time(NULL);
	if (now != last) {
		struct tm tm;
		gmtime_r(&now, &tm);
		n = strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S +0000] \"", &tm);
		last = now;
	}
	*len = n;
	return buf;
}

void
http_log_prepare(struct http_conn *c, struct http_resp *r, const struct http_request *req)
{
	if (c->gen->log == NULL)
		return;
	char *b = r->logline;
	size_t cap = sizeof(r->logline) / 2, o = 0;
	o += (size_t)snprintf(b + o, cap - o, "%s - - [", c->peer);
	size_t tl;
	const char *ts = http_log_time(&tl);
	memcpy(b + o, ts, tl);
	o += tl;
	if (req != NULL) {
		o += http_log_esc(b + o, 64, req->method_str.p,
				  req->method_str.len); /* cap: o < 160 */
		if (o < cap - 1)
			b[o++] = ' ';
		o += http_log_esc(b + o, cap - o - 16, req->target.p, req->target.len);
		o += (size_t)snprintf(b + o, cap - o, " HTTP/%d.%d\"", req->version_major,
				      req->version_minor);
	} else {
		o += (size_t)snprintf(b + o, cap - o, "-\"");
	}
	r->loglen = o;
	/* The tail (referer, agent) goes in the second half of logline. */
	char *t = r->logline + cap;
	size_t tc = sizeof(r->logline) - cap - 1, to = 0;
	t[to++] = ' ';
	t[to++] = '"';
	if (req != NULL)
		to += http_log_esc(t + to, tc - to - 8, req->referer.p, req->referer.len);
	else
		t[to++] = '-';
	t[to++] = '"';
	t[to++] = ' ';
	t[to++] = '"';
	if (req != NULL)
		to += http_log_esc(t + to, tc - to - 3, req->user_agent.p, req->user_agent.len);
	else
		t[to++] = '-';
	t[to++] = '"';
	t[to++] = '\n';
	t[to] = '\0';
}

void
http_log_finish(struct http_conn *c, struct http_resp *r)
{
	static _Atomic uint64_t warned_ns; /* (a) */
	const struct http_logfile *lf = c->gen->log;
	if (lf == NULL || r->loglen == 0)
		return;
	char line[sizeof(r->logline) + 64];
	const char *tail = r->logline + sizeof(r->logline) / 2;
	int n = snprintf(line, sizeof(line), "%.*s %d %llu%s", (int)r->loglen, r->logline,
			 r->status, (unsigned long long)r->body, tail);
	r->loglen = 0;
	size_t len = n < 0 ? 0 : MIN((size_t)n, sizeof(line) - 1);
	ssize_t w = write(lf->fd, line, len);
	if (w == (ssize_t)len)
		return;
	/* A full disk: serving goes on, and the operator hears of it once a minute. */
	const char *why = w < 0 ? strerror(errno) : "short write";
	counter_inc(&http_stats.access_log_lost);
	if (vms_log_every(&warned_ns, 60 * 1000000000ull))
		LOG_WARN("http", "cannot write the access log %s (%s); lines lost so far: %llu",
			 lf->path, why,
			 (unsigned long long)counter_get(&http_stats.access_log_lost));
}

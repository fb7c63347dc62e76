/*
 * `vmsend stat`: a live view of a running server, in the spirit of arcstat
 * and varnishstat.  It reads the server's /.vmsend/metrics page (a walk of
 * the stats registry, core/stats.h) once per interval and prints rates over
 * the interval and the gauges at its end:
 *
 *   req/s     HTTP requests handled      vmsend_http_requests_total
 *   MB/s      bytes the kernel sent      vmsend_sf_bytes_sent_total
 *   pc_hit    page-cache lookups that hit   vm_hits / (vm_hits + vm_misses)
 *   arc_hit   ARC reads that hit            arc_hits / (arc_hits + arc_misses)
 *   wired     pages wired by sends now   vmsend_vm_pages_wired
 *   busy      pages busy (in I/O) now    vmsend_vm_pages_busy
 *   io        swapin pager I/Os in flight   vmsend_sf_ios_inflight
 *   ra_pg     read-ahead pages in flight    vmsend_sf_ra_inflight_pages
 *   conns     connections open now          vmsend_http_connections_open
 *   errors    5xx responses + failed pager I/Os in the interval
 *
 * --json also gives the connections each event-loop thread holds
 * (vmsend_http_thread_connections), to see how they are spread.
 *
 * A ratio with no lookups in the interval prints "-" (null in JSON).
 */
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct stat_sample {
	char *body; /* the metrics page, NUL-terminated */
	struct timespec at;
};

static void
stat_usage(FILE *f)
{
	fprintf(f, "usage: vmsend stat [[--server] HOST:PORT] [-1] [--json] [--interval SECONDS]\n"
		   "                   [--count N]\n"
		   "  --server HOST:PORT  the server's metrics listener (default 127.0.0.1:8080);\n"
		   "                      the --server may be left out\n"
		   "  -1                  print one sample (over one interval) and exit\n"
		   "  --json              one JSON object per line\n"
		   "  --interval S        seconds between samples (default 1)\n"
		   "  --count N           stop after N lines\n");
}

/* GET /.vmsend/metrics over HTTP/1.0; 0 and s->body, or -errno (-EPROTO: not a 200). */
static int
stat_fetch(const char *host, const char *port, struct stat_sample *s)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		return -EHOSTUNREACH;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -e;
	}
	freeaddrinfo(ai);
	static const char req[] = "GET /.vmsend/metrics HTTP/1.0\r\nHost: vmsend\r\n\r\n";
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return -EIO;
	}
	size_t len = 0, cap = 64 * 1024;
	char *buf = malloc(cap + 1);
	ssize_t n;
	while (buf != NULL && (n = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap) {
			char *nb = realloc(buf, 2 * cap + 1);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	if (buf == NULL)
		return -ENOMEM;
	buf[len] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0 || body == NULL) {
		free(buf);
		return -EPROTO;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	s->body = buf;
	clock_gettime(CLOCK_MONOTONIC, &s->at);
	return 0;
}

/* The sum of the samples named `name` (any labels), or of exactly `name{...}` when it has them. */
static double
stat_get(const struct stat_sample *s, const char *name)
{
	double sum = 0;
	size_t nl = strlen(name);
	bool labelled = strchr(name, '{') != NULL;
	for (const char *p = s->body; p != NULL && *p != '\0';) {
		const char *eol = strchr(p, '\n');
		if (*p != '#' && strncmp(p, name, nl) == 0 &&
		    (p[nl] == ' ' || (!labelled && p[nl] == '{'))) {
			const char *v = strchr(p + nl, ' ');
			if (v != NULL && (eol == NULL || v < eol))
				sum += strtod(v + 1, NULL);
		}
		p = eol != NULL ? eol + 1 : NULL;
	}
	return sum;
}

#define STAT_MAX_THREADS 256

struct stat_row {
	double req_s, bytes_s, pc_hit, arc_hit; /* ratios < 0: no lookups */
	double wired, busy, io, ra_pages, errors, conns;
	int nthreads;
	double thread_conns[STAT_MAX_THREADS];
};

/* vmsend_http_thread_connections{thread="0"}, {thread="1"}, ... while present: how many. */
static int
stat_threads(const struct stat_sample *s, double *held, int max)
{
	int n = 0;
	for (char name[96]; n < max; n++) {
		int len = snprintf(name, sizeof(name),
				   "\nvmsend_http_thread_connections{thread=\"%d\"} ", n);
		const char *p = strstr(s->body, name);
		if (p == NULL)
			break;
		held[n] = strtod(p + len, NULL);
	}
	return n;
}

static double
stat_delta(const struct stat_sample *a, const struct stat_sample *b, const char *name)
{
	double d = stat_get(b, name) - stat_get(a, name);
	return d > 0 ? d : 0; /* a restarted server starts again from 0 */
}

static double
stat_ratio(const struct stat_sample *a, const struct stat_sample *b, const char *hits,
	   const char *misses)
{
	double h = stat_delta(a, b, hits), m = stat_delta(a, b, misses);
	return h + m > 0 ? h / (h + m) : -1;
}

static void
stat_compute(const struct stat_sample *a, const struct stat_sample *b, struct stat_row *r)
{
	double dt = (double)(b->at.tv_sec - a->at.tv_sec) + (b->at.tv_nsec - a->at.tv_nsec) / 1e9;
	if (dt <= 0)
		dt = 1e-9;
	r->req_s = stat_delta(a, b, "vmsend_http_requests_total") / dt;
	r->bytes_s = stat_delta(a, b, "vmsend_sf_bytes_sent_total") / dt;
	r->pc_hit = stat_ratio(a, b, "vmsend_vm_hits_total", "vmsend_vm_misses_total");
	r->arc_hit = stat_ratio(a, b, "vmsend_arc_hits_total", "vmsend_arc_misses_total");
	r->wired = stat_get(b, "vmsend_vm_pages_wired");
	r->busy = stat_get(b, "vmsend_vm_pages_busy");
	r->io = stat_get(b, "vmsend_sf_ios_inflight");
	r->ra_pages = stat_get(b, "vmsend_sf_ra_inflight_pages");
	r->conns = stat_get(b, "vmsend_http_connections_open");
	r->nthreads = stat_threads(b, r->thread_conns, STAT_MAX_THREADS);
	r->errors = stat_delta(a, b, "vmsend_http_responses_total{code=\"5xx\"}") +
		    stat_delta(a, b, "vmsend_sf_io_errors_total") +
		    stat_delta(a, b, "vmsend_sf_ra_errors_total");
}

static void
stat_print(const struct stat_row *r, bool json, int line)
{
	time_t now = time(NULL);
	if (json) {
		char pc[32] = "null", arc[32] = "null";
		if (r->pc_hit >= 0)
			snprintf(pc, sizeof(pc), "%.4f", r->pc_hit);
		if (r->arc_hit >= 0)
			snprintf(arc, sizeof(arc), "%.4f", r->arc_hit);
		printf(
		    "{\"time\": %lld, \"requests_per_s\": %.1f, \"bytes_per_s\": %.0f, "
		    "\"page_cache_hit_ratio\": %s, \"arc_hit_ratio\": %s, \"pages_wired\": %.0f, "
		    "\"pages_busy\": %.0f, \"io_inflight\": %.0f, "
		    "\"readahead_pages_inflight\": %.0f, \"errors\": %.0f, \"connections\": %.0f, "
		    "\"thread_connections\": [",
		    (long long)now, r->req_s, r->bytes_s, pc, arc, r->wired, r->busy, r->io,
		    r->ra_pages, r->errors, r->conns);
		for (int t = 0; t < r->nthreads; t++)
			printf("%s%.0f", t ? ", " : "", r->thread_conns[t]);
		printf("]}\n");
	} else {
		if (line % 20 == 0)
			printf("%8s %8s %8s %7s %7s %7s %6s %5s %6s %6s %6s\n", "time", "req/s",
			       "MB/s", "pc_hit", "arc_hit", "wired", "busy", "io", "ra_pg", "conns",
			       "errors");
		char tbuf[16], pc[16] = "-", arc[16] = "-";
		struct tm tm;
		strftime(tbuf, sizeof(tbuf), "%H:%M:%S", localtime_r(&now, &tm));
		if (r->pc_hit >= 0)
			snprintf(pc, sizeof(pc), "%.1f%%", r->pc_hit * 100);
		if (r->arc_hit >= 0)
			snprintf(arc, sizeof(arc), "%.1f%%", r->arc_hit * 100);
		printf("%8s %8.0f %8.1f %7s %7s %7.0f %6.0f %5.0f %6.0f %6.0f %6.0f\n", tbuf,
		       r->req_s, r->bytes_s / 1e6, pc, arc, r->wired, r->busy, r->io, r->ra_pages,
		       r->conns, r->errors);
	}
	fflush(stdout);
}

int
cmd_stat(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"server", required_argument, NULL, 's'},   {"json", no_argument, NULL, 'j'},
	    {"interval", required_argument, NULL, 'i'}, {"count", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	const char *server = "127.0.0.1:8080";
	bool json = false, once = false;
	double interval = 1;
	long count = -1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "1hs:i:n:", opts, NULL)) != -1) {
		switch (c) {
		case '1':
			once = true;
			break;
		case 's':
			server = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'i':
			interval = strtod(optarg, NULL);
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 'h':
			stat_usage(stdout);
			return 0;
		default:
			stat_usage(stderr);
			return 2;
		}
	}
	if (optind + 1 == argc) /* "vmsend stat 127.0.0.1:8080", as one would guess */
		server = argv[optind++];
	if (optind != argc || interval <= 0 || interval > 3600) {
		stat_usage(stderr);
		return 2;
	}
	char host[256];
	const char *colon = strrchr(server, ':');
	if (colon == NULL || colon == server || (size_t)(colon - server) >= sizeof(host)) {
		fprintf(stderr, "vmsend stat: --server wants HOST:PORT, not '%s'\n", server);
		return 2;
	}
	memcpy(host, server, colon - server);
	host[colon - server] = '\0';
	const char *port = colon + 1;
	if (once)
		count = 1;

	struct stat_sample prev = {0}, cur = {0};
	int rc = stat_fetch(host, port, &prev);
	for (long line = 0; rc == 0 && (count < 0 || line < count); line++) {
		struct timespec ts = {(time_t)interval,
				      (long)((interval - (double)(time_t)interval) * 1e9)};
		nanosleep(&ts, NULL);
		if ((rc = stat_fetch(host, port, &cur)) != 0)
			break;
		struct stat_row r;
		stat_compute(&prev, &cur, &r);
		stat_print(&r, json, (int)line);
		free(prev.body);
		prev = cur;
		cur.body = NULL;
	}
	free(prev.body);
	if (rc != 0) {
		fprintf(stderr,
			"vmsend stat: cannot read http://%s/.vmsend/metrics: %s (is `vmsend serve` "
			"running, with its metrics on that address?)\n",
			server, rc == -EPROTO ? "not a 200 response" : strerror(-rc));
		return 1;
	}
	return 0;
}

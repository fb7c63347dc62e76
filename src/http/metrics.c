/*
 * /.vmsend/metrics: every counter vmsend keeps, in the Prometheus text
 * exposition format (version 0.0.4).
 *
 * The page is a walk of the stats registry (core/stats.h): every counter and
 * gauge any layer registered, sorted by name, as vmsend_<name>_total
 * (counters) or vmsend_<name> (gauges).  Names keep their subsystem prefix
 * so a reader can find the code that moves them.  This file knows no other
 * subsystem; it adds only the request latency histogram, which is not a
 * counter, and the connections each thread holds, which the registry cannot
 * name (the number of threads is known only at start).
 *
 * Latency is measured from "request head parsed" to "response fully queued
 * on the socket": the time the server spent deciding and queueing, which a
 * cache miss does not lengthen (its bytes are queued not-ready).
 */
#include "http/http_impl.h"

#include "core/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct http_stats http_stats;
VMS_STAT_COUNTER(http_stats.connections, "http_connections", "connections accepted");
VMS_STAT_COUNTER(http_stats.conn_refused, "http_connections_refused",
		 "connections closed at once: over --max-connections");
VMS_STAT_COUNTER(http_stats.conn_timeouts, "http_timeouts", "idle, header and send timeouts");
VMS_STAT_COUNTER(http_stats.conn_timer_errors, "http_timer_errors",
		 "connections closed: no memory to arm their timer");
VMS_STAT_COUNTER(http_stats.requests, "http_requests", "request heads handled (parse errors too)");
VMS_STAT_COUNTER_LABEL(http_stats.status[1], "http_responses", "code=\"1xx\"",
		       "responses by status class");
VMS_STAT_COUNTER_LABEL(http_stats.status[2], "http_responses", "code=\"2xx\"",
		       "responses by status class");
VMS_STAT_COUNTER_LABEL(http_stats.status[3], "http_responses", "code=\"3xx\"",
		       "responses by status class");
VMS_STAT_COUNTER_LABEL(http_stats.status[4], "http_responses", "code=\"4xx\"",
		       "responses by status class");
VMS_STAT_COUNTER_LABEL(http_stats.status[5], "http_responses", "code=\"5xx\"",
		       "responses by status class");
VMS_STAT_COUNTER(http_stats.ranges, "http_partial_responses", "206 responses");
VMS_STAT_COUNTER(http_stats.not_modified, "http_not_modified", "304 responses");
VMS_STAT_COUNTER(http_stats.parse_errors, "http_parse_errors", "requests refused by the parser");
VMS_STAT_COUNTER(http_stats.bytes_body, "http_body_bytes", "response body bytes queued");
VMS_STAT_COUNTER(http_stats.tls_errors, "tls_errors", "TLS handshakes or records that failed");
VMS_STAT_COUNTER(http_stats.heap_trims, "heap_trims",
		 "heap memory given back to the system after a burst of connections ended");
VMS_STAT_COUNTER(http_stats.accept_asides, "http_accept_asides",
		 "times a thread stopped accepting because it held more connections than another");
VMS_STAT_COUNTER(http_stats.accept_pauses, "http_accept_pauses",
		 "times accepts paused for 100 ms: the process was out of descriptors or memory");
VMS_STAT_COUNTER(http_stats.sendfile_again, "http_send_waits",
		 "responses that waited for send-buffer space");

VMS_STAT_LEVEL(http_stats.conns_open, "http_connections_open", "connections open now");
VMS_STAT_LEVEL(http_stats.inbufs, "http_input_buffers",
	       "connections' input buffers now (a connection waiting for a request holds none)");
VMS_STAT_LEVEL(http_stats.respbufs, "http_response_buffers",
	       "response buffers (heads, generated bodies) held now: only responses being queued "
	       "hold one");
VMS_STAT_COUNTER(http_stats.ring_empty, "http_recv_ring_empty",
		 "receives that found the thread's ring of buffers empty and used their own");
VMS_STAT_COUNTER(http_stats.access_log_lost, "http_access_log_lines_lost",
		 "access log lines that could not be written (a full disk)");

/* Requests by protocol: HTTP/2 ones are counted, the rest are HTTP/1.x. */
static uint64_t
http_stat_protocol_requests(const struct vms_stat *st)
{
	uint64_t h2req = counter_get(&http_stats.h2_requests);
	uint64_t allreq = counter_get(&http_stats.requests);
	if (st->arg == 2)
		return h2req;
	return allreq > h2req ? allreq - h2req : 0;
}

VMS_STAT_READ(VMS_STAT_COUNTER, http_stat_protocol_requests, 1, "http_protocol_requests",
	      "protocol=\"HTTP/1.1\"", "requests by protocol");
VMS_STAT_READ(VMS_STAT_COUNTER, http_stat_protocol_requests, 2, "http_protocol_requests",
	      "protocol=\"HTTP/2\"", "requests by protocol");
VMS_STAT_COUNTER(http_stats.h2_connections, "http2_connections", "connections that spoke HTTP/2");
VMS_STAT_COUNTER(http_stats.h2_resets, "http2_resets_received", "RST_STREAM frames received");
VMS_STAT_COUNTER(http_stats.h2_refused, "http2_refused",
		 "HTTP/2 peers sent GOAWAY for floods, bombs or stalls");
VMS_STAT_COUNTER(http_stats.h2_holds, "http2_holds",
		 "file ranges read into the cache before their DATA frames");
VMS_STAT_COUNTER(http_stats.h2_data_frames, "http2_data_frames",
		 "DATA frames sent from file pages");

const double http_latency_bounds_ms[HTTP_LATENCY_BUCKETS] = {0.1, 0.25, 0.5, 1,   2.5, 5,
							     10,  25,   50,  100, 250, 1000};

void
http_stats_response(int status, uint64_t body, uint64_t t0_ns)
{
	int cls = status / 100;
	if (cls >= 1 && cls <= 5)
		counter_inc(&http_stats.status[cls]);
	if (status == 206)
		counter_inc(&http_stats.ranges);
	if (status == 304)
		counter_inc(&http_stats.not_modified);
	if (t0_ns == 0)
		return;
	uint64_t us = (vms_now_ns() - t0_ns) / 1000;
	counter_add(&http_stats.latency_sum_us, us);
	int b = 0;
	while (b < HTTP_LATENCY_BUCKETS && (double)us / 1000.0 > http_latency_bounds_ms[b])
		b++;
	counter_inc(&http_stats.latency[b]);
}

struct http_mbuf {
	char *buf;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void
http_m_put(struct http_mbuf *m, const char *fmt, ...)
{
	if (m->len >= m->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		m->len = MIN(m->cap, m->len + (size_t)n);
}

struct http_mwalk {
	struct http_mbuf *m;
	const char *family; /* the name whose HELP and TYPE were written last */
};

static void
http_m_stat(void *arg, const struct vms_stat *st, uint64_t value)
{
	struct http_mwalk *w = arg;
	bool counter = st->kind == VMS_STAT_COUNTER;
	const char *suffix = counter ? "_total" : "";
	if (w->family == NULL || strcmp(w->family, st->name) != 0) {
		http_m_put(w->m, "# HELP vmsend_%s%s %s\n# TYPE vmsend_%s%s %s\n", st->name, suffix,
			   st->desc, st->name, suffix, counter ? "counter" : "gauge");
		w->family = st->name;
	}
	http_m_put(w->m, "vmsend_%s%s%s%s%s %llu\n", st->name, suffix, st->label ? "{" : "",
		   st->label ? st->label : "", st->label ? "}" : "", (unsigned long long)value);
}

size_t
http_metrics_render(char *buf, size_t cap, const struct http_server *srv)
{
	struct http_mbuf mb = {buf, 0, cap}, *m = &mb;
	struct http_mwalk w = {m, NULL};

	vms_stats_foreach(NULL, http_m_stat, &w);

	if (srv != NULL) {
		http_m_put(m, "# HELP vmsend_http_thread_connections connections open on each "
			      "event-loop thread\n# TYPE vmsend_http_thread_connections gauge\n");
		for (int t = 0; t < srv->nthreads; t++)
			http_m_put(m, "vmsend_http_thread_connections{thread=\"%d\"} %d\n", t,
				   atomic_load(&srv->threads[t].nconns));
	}

	http_m_put(m, "# HELP vmsend_http_request_duration_seconds head parsed to response queued\n"
		      "# TYPE vmsend_http_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (int b = 0; b < HTTP_LATENCY_BUCKETS; b++) {
		cum += counter_get(&http_stats.latency[b]);
		http_m_put(m, "vmsend_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
			   http_latency_bounds_ms[b] / 1000.0, (unsigned long long)cum);
	}
	cum += counter_get(&http_stats.latency[HTTP_LATENCY_BUCKETS]);
	http_m_put(m, "vmsend_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		   (unsigned long long)cum);
	http_m_put(m, "vmsend_http_request_duration_seconds_sum %.6f\n",
		   (double)counter_get(&http_stats.latency_sum_us) / 1e6);
	http_m_put(m, "vmsend_http_request_duration_seconds_count %llu\n", (unsigned long long)cum);
	return m->len;
}

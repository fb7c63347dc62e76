/*
 * /.vmsend/metrics: every counter vmsend keeps, in the Prometheus text
 * exposition format (version 0.0.4).
 *
 * Sections: HTTP (this layer: requests by status class, bytes, timeouts, a
 * latency histogram), the page cache (vm_stats and a vm_counts() walk of the
 * pages), the sendfile engine (sf_stats), the io layer, the VFS name
 * cache, hostfs and the objfs ARC.  Counter names keep their subsystem
 * prefix so a reader can find the code that moves them.
 *
 * Latency is measured from "request head parsed" to "response fully queued
 * on the socket": the time the server spent deciding and queueing, which a
 * cache miss does not lengthen (its bytes are queued not-ready).
 */
#include "http/http_impl.h"

#include "core/util.h"
#include "fs/hostfs/hostfs.h"
#include "fs/objfs/arc.h"
#include "fs/objfs/dmu.h"
#include "io/io.h"
#include "sendfile/sendfile.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct http_stats http_stats;
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

static void
http_m_metric(struct http_mbuf *m, const char *name, const char *type, const char *help, uint64_t v)
{
	http_m_put(m, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
		   (unsigned long long)v);
}

static void
http_m_sf(void *arg, const char *name, uint64_t value, const char *desc)
{
	char full[128];
	snprintf(full, sizeof(full), "vmsend_%s_total", name);
	http_m_metric(arg, full, "counter", desc, value);
}

#define HTTP_M_COUNTER(m, name, help, ctr) http_m_metric(m, name, "counter", help, counter_get(ctr))

size_t
http_metrics_render(char *buf, size_t cap)
{
	struct http_mbuf mb = {buf, 0, cap}, *m = &mb;

	/* HTTP */
	HTTP_M_COUNTER(m, "vmsend_http_connections_total", "connections accepted",
		       &http_stats.connections);
	HTTP_M_COUNTER(m, "vmsend_http_connections_refused_total",
		       "connections closed at once: over --max-connections",
		       &http_stats.conn_refused);
	HTTP_M_COUNTER(m, "vmsend_http_timeouts_total", "idle, header and send timeouts",
		       &http_stats.conn_timeouts);
	http_m_metric(m, "vmsend_http_connections_open", "gauge", "connections open now",
		      (uint64_t)atomic_load(&http_stats.conns_open));
	HTTP_M_COUNTER(m, "vmsend_http_requests_total", "request heads handled (parse errors too)",
		       &http_stats.requests);
	http_m_put(m, "# HELP vmsend_http_responses_total responses by status class\n"
		      "# TYPE vmsend_http_responses_total counter\n");
	for (int i = 1; i <= 5; i++)
		http_m_put(m, "vmsend_http_responses_total{code=\"%dxx\"} %llu\n", i,
			   (unsigned long long)counter_get(&http_stats.status[i]));
	HTTP_M_COUNTER(m, "vmsend_http_partial_responses_total", "206 responses",
		       &http_stats.ranges);
	HTTP_M_COUNTER(m, "vmsend_http_not_modified_total", "304 responses",
		       &http_stats.not_modified);
	HTTP_M_COUNTER(m, "vmsend_http_parse_errors_total", "requests refused by the parser",
		       &http_stats.parse_errors);
	HTTP_M_COUNTER(m, "vmsend_http_body_bytes_total", "response body bytes queued",
		       &http_stats.bytes_body);
	HTTP_M_COUNTER(m, "vmsend_tls_errors_total", "TLS handshakes or records that failed",
		       &http_stats.tls_errors);
	HTTP_M_COUNTER(m, "vmsend_tls_records_total", "TLS records sealed in userspace",
		       &sf_tls_stats.records);
	HTTP_M_COUNTER(m, "vmsend_tls_page_bytes_total",
		       "plaintext bytes sealed straight from wired pages",
		       &sf_tls_stats.page_bytes);
	HTTP_M_COUNTER(m, "vmsend_http_send_waits_total",
		       "responses that waited for send-buffer space", &http_stats.sendfile_again);
	uint64_t h2req = counter_get(&http_stats.h2_requests);
	uint64_t allreq = counter_get(&http_stats.requests);
	http_m_put(m,
		   "# HELP vmsend_http_protocol_requests_total requests by protocol\n"
		   "# TYPE vmsend_http_protocol_requests_total counter\n"
		   "vmsend_http_protocol_requests_total{protocol=\"HTTP/1.1\"} %llu\n"
		   "vmsend_http_protocol_requests_total{protocol=\"HTTP/2\"} %llu\n",
		   (unsigned long long)(allreq > h2req ? allreq - h2req : 0),
		   (unsigned long long)h2req);
	HTTP_M_COUNTER(m, "vmsend_http2_connections_total", "connections that spoke HTTP/2",
		       &http_stats.h2_connections);
	HTTP_M_COUNTER(m, "vmsend_http2_resets_received_total", "RST_STREAM frames received",
		       &http_stats.h2_resets);
	HTTP_M_COUNTER(m, "vmsend_http2_refused_total",
		       "HTTP/2 peers sent GOAWAY for floods, bombs or stalls",
		       &http_stats.h2_refused);
	HTTP_M_COUNTER(m, "vmsend_http2_holds_total",
		       "file ranges read into the cache before their DATA frames",
		       &http_stats.h2_holds);
	HTTP_M_COUNTER(m, "vmsend_http2_data_frames_total", "DATA frames sent from file pages",
		       &http_stats.h2_data_frames);
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

	/* Page cache */
	if (vm_initialized()) {
		struct vm_counts vc;
		vm_counts(&vc);
		http_m_metric(m, "vmsend_vm_pages_total", "gauge", "usable cache pages", vc.total);
		http_m_metric(m, "vmsend_vm_pages_free", "gauge", "pages on the free list",
			      vc.free);
		http_m_metric(m, "vmsend_vm_pages_active", "gauge", "pages holding file data",
			      vc.cached);
		http_m_metric(m, "vmsend_vm_pages_main", "gauge",
			      "cached pages on the main queue (used again since read)", vc.main);
		http_m_metric(m, "vmsend_vm_pages_wired", "gauge", "pages wired (in use by sends)",
			      vc.wired);
		http_m_metric(m, "vmsend_vm_pages_busy", "gauge", "pages busied (I/O)", vc.busy);
	}
	HTTP_M_COUNTER(m, "vmsend_vm_hits_total", "page lookups that found the page",
		       &vm_stats.hits);
	HTTP_M_COUNTER(m, "vmsend_vm_misses_total", "page lookups that allocated",
		       &vm_stats.misses);
	HTTP_M_COUNTER(m, "vmsend_vm_reclaims_total", "pages reclaimed from objects",
		       &vm_stats.reclaims);
	HTTP_M_COUNTER(m, "vmsend_vm_frees_total", "pages freed", &vm_stats.frees);
	HTTP_M_COUNTER(m, "vmsend_vm_alloc_fail_total", "NOWAIT allocations that failed",
		       &vm_stats.alloc_fail);
	HTTP_M_COUNTER(m, "vmsend_vm_alloc_waits_total", "sleeps for a free page",
		       &vm_stats.alloc_waits);
	HTTP_M_COUNTER(m, "vmsend_vm_busy_sleeps_total", "sleeps on a busy page",
		       &vm_stats.busy_sleeps);
	HTTP_M_COUNTER(m, "vmsend_vm_promotions_total",
		       "pages promoted from the new to the main queue", &vm_stats.promotions);

	/* sendfile, the objfs pager */
	sf_stats_foreach(http_m_sf, m);
	dmu_stats_foreach(http_m_sf, m);

	/* io, vfs, hostfs */
	HTTP_M_COUNTER(m, "vmsend_io_submits_total", "SQEs submitted", &io_stats.submits);
	HTTP_M_COUNTER(m, "vmsend_io_completions_total", "CQEs dispatched", &io_stats.completions);
	HTTP_M_COUNTER(m, "vmsend_io_posts_total", "cross-thread posts", &io_stats.posts);
	HTTP_M_COUNTER(m, "vmsend_vfs_lookups_total", "path lookups", &vfs_stats.lookups);
	HTTP_M_COUNTER(m, "vmsend_vfs_cache_hits_total", "lookups answered by the name cache",
		       &vfs_stats.cache_hits);
	HTTP_M_COUNTER(m, "vmsend_vfs_changed_total", "files found changed (new object)",
		       &vfs_stats.changed);
	HTTP_M_COUNTER(m, "vmsend_vfs_refused_total", "lookups refused (escape attempts)",
		       &vfs_stats.refused);
	HTTP_M_COUNTER(m, "vmsend_hostfs_ios_total", "hostfs page-in I/Os", &hostfs_stats.ios);
	HTTP_M_COUNTER(m, "vmsend_hostfs_pages_read_total", "hostfs pages read",
		       &hostfs_stats.pages_read);
	HTTP_M_COUNTER(m, "vmsend_hostfs_errors_total", "hostfs failed I/Os", &hostfs_stats.errors);

	/* ARC (objfs), once an objfs mount has created it */
	struct arc *arc = arc_global_peek();
	if (arc != NULL && m->len < m->cap) {
		size_t need = arc_stats_prometheus(arc, m->buf + m->len, m->cap - m->len);
		m->len = MIN(m->cap - 1, m->len + need);
	}
	return m->len;
}

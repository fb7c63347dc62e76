/*
 * The server: listeners, threads, start and stop.
 *
 * Each thread owns an io loop, one SO_REUSEPORT listening socket per
 * address, and the connections it accepted; no lock is taken on the request
 * path.  Every listener is bound in http_server_start() on the caller's
 * thread, so "address in use" is reported before anything runs.
 *
 * SO_REUSEPORT would let a second vmsend (same user) bind the same port and
 * silently take half the connections, so each address is first bound by a
 * probe socket *without* SO_REUSEPORT: that bind fails if anyone listens
 * there, and the probe is closed before the real listeners bind.
 *
 * Stopping is posted to every loop: listeners shut down, idle connections
 * close, busy ones close after their response; after the grace period the
 * rest are aborted.  A loop leaves when it has no connection left and every
 * vms_socket has been freed, then the threads are joined.
 */
#include "http/http_impl.h"

#include "core/log.h"
#include "core/util.h"
#include "sendfile/sendfile.h"
#include "vm/vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
http_server_config_defaults(struct http_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = 0;
	cfg->max_connections = 10000;
	cfg->idle_timeout_ms = 60000;
	cfg->header_timeout_ms = 10000;
	cfg->send_timeout_ms = 30000;
	cfg->grace_ms = 5000;
	cfg->metrics = true;
}

/* "1.2.3.4:80", "[::1]:80", ":80", "80", "localhost:80" */
static int
http_addr_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *port;
	if (spec[0] == '[') {
		const char *e = strchr(spec, ']');
		if (e == NULL || e[1] != ':' || (size_t)(e - spec - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec + 1, (size_t)(e - spec - 1));
		host[e - spec - 1] = '\0';
		port = e + 2;
	} else {
		const char *c = strrchr(spec, ':');
		if (c == NULL) {
			strcpy(host, "0.0.0.0");
			port = spec;
		} else {
			if ((size_t)(c - spec) >= sizeof(host))
				return -EINVAL;
			memcpy(host, spec, (size_t)(c - spec));
			host[c - spec] = '\0';
			if (host[0] == '\0')
				strcpy(host, "0.0.0.0");
			port = c + 1;
		}
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || p < 0 || p > 65535)
		return -EINVAL;
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *ai;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void
http_addr_set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static int
http_addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static int
http_listen_socket(const struct sockaddr_storage *ss, socklen_t len, bool reuseport)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 1024) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static void http_accept_arm(struct http_listener *l);

static void
http_accept_done(struct io_req *req, int res, uint32_t flags)
{
	struct http_listener *l = container_of(req, struct http_listener, req);
	struct http_thread *th = l->th;
	l->busy = false;
	if (th->stopping) {
		if (res >= 0)
			close(res);
		return;
	}
	if (res >= 0) {
		http_conn_accepted(th, res, (const struct sockaddr *)&l->addr, l->metrics_ok);
	} else if (res != -EINTR && res != -ECONNABORTED && res != -EAGAIN) {
		/* EMFILE and friends: say so once in a while, keep listening. */
		static _Thread_local uint64_t last;
		uint64_t now = vms_now_ns();
		if (now - last > 1000000000ull) {
			LOG_WARN("http", "accept: %s", strerror(-res));
			last = now;
		}
	}
	http_accept_arm(l);
}

static void
http_accept_arm(struct http_listener *l)
{
	if (l->th->stopping || l->fd < 0)
		return;
	l->addrlen = sizeof(l->addr);
	struct io_uring_sqe *sqe = io_sqe(l->th->loop, &l->req);
	io_uring_prep_accept(sqe, l->fd, (struct sockaddr *)&l->addr, &l->addrlen, SOCK_CLOEXEC);
	l->busy = true;
}

static void
http_thread_grace_end(struct io_timer *t)
{
	struct http_thread *th = container_of(t, struct http_thread, stop_timer);
	if (th->nconns > 0)
		LOG_INFO("http", "thread %d: grace period over, cutting %d connections", th->idx,
			 th->nconns);
	http_conn_stop_all(th, true);
}

static void
http_thread_stop_task(struct io_task *task)
{
	struct http_thread *th = container_of(task, struct http_thread, stop_task);
	th->stopping = true;
	for (int i = 0; i < th->nlis; i++)
		if (th->lis[i].fd >= 0)
			shutdown(th->lis[i].fd, SHUT_RDWR); /* wakes the pending accept */
	http_conn_stop_all(th, false);
	io_timer_arm(th->loop, &th->stop_timer, (uint64_t)th->srv->cfg.grace_ms * 1000000ull);
}

static bool
http_thread_quiet(struct http_thread *th)
{
	if (th->nconns > 0)
		return false;
	for (int i = 0; i < th->nlis; i++)
		if (th->lis[i].busy)
			return false;
	return true;
}

static void *
http_thread_main(void *arg)
{
	struct http_thread *th = arg;
	struct http_server *srv = th->srv;
	th->stop_task.fn = http_thread_stop_task;
	th->stop_timer.fn = http_thread_grace_end;
	int rc = io_loop_create(&th->loop, 1024, vm_initialized() ? IO_LOOP_ARENA : 0);
	th->start_rc = rc;
	pthread_mutex_lock(&srv->start_mu);
	srv->started++;
	pthread_cond_broadcast(&srv->start_cv);
	pthread_mutex_unlock(&srv->start_mu);
	if (rc != 0)
		return NULL;
	for (int i = 0; i < th->nlis; i++)
		http_accept_arm(&th->lis[i]);

	while (!(th->stopping && http_thread_quiet(th)))
		io_loop_run_once(th->loop, true, 0);

	/* Let lingering sockets (ours and the other threads') finish: bounded. */
	uint64_t deadline = vms_now_ns() + (uint64_t)srv->cfg.grace_ms * 1000000ull + 1000000000ull;
	while (vms_socket_count() > 0 && vms_now_ns() < deadline)
		io_loop_run_once(th->loop, true, 10 * 1000000ull);
	io_timer_cancel(th->loop, &th->stop_timer);
	/*
	 * io_loop_post() may still be waking this loop (writing its eventfd)
	 * after our stop task ran: wait until the stopper's posts returned.
	 */
	while (!atomic_load(&srv->posts_done))
		usleep(1000);
	for (int i = 0; i < th->nlis; i++)
		if (th->lis[i].fd >= 0) {
			close(th->lis[i].fd);
			th->lis[i].fd = -1;
		}
	io_loop_destroy(th->loop);
	http_conn_free_spares(th);
	return NULL;
}

static void
http_server_free(struct http_server *srv)
{
	for (int t = 0; t < srv->nthreads; t++)
		for (int i = 0; i < srv->threads[t].nlis; i++)
			if (srv->threads[t].lis[i].fd >= 0)
				close(srv->threads[t].lis[i].fd);
	if (srv->log_fd > 1)
		close(srv->log_fd);
	pthread_mutex_destroy(&srv->start_mu);
	pthread_cond_destroy(&srv->start_cv);
	free(srv->threads);
	free(srv);
}

int
http_server_start(const struct http_server_config *cfg, struct http_server **out)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	srv->cfg = *cfg;
	srv->log_fd = -1;
	pthread_mutex_init(&srv->start_mu, NULL);
	pthread_cond_init(&srv->start_cv, NULL);
	if (srv->cfg.nlisten == 0) {
		srv->cfg.listen[0] = "127.0.0.1:8080";
		srv->cfg.nlisten = 1;
	}
	if (srv->cfg.max_connections <= 0)
		srv->cfg.max_connections = 10000;
	int n = srv->cfg.threads;
	if (n <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (int)cpus : 1;
	}
	srv->nthreads = n;
	srv->threads = calloc((size_t)n, sizeof(*srv->threads));
	if (srv->threads == NULL) {
		http_server_free(srv);
		return -ENOMEM;
	}

	/* Addresses: the regular listeners, then the metrics-only one. */
	const char *addrs[HTTP_MAX_LISTEN + 1];
	int naddr = 0;
	for (int i = 0; i < srv->cfg.nlisten && i < HTTP_MAX_LISTEN; i++)
		addrs[naddr++] = srv->cfg.listen[i];
	if (srv->cfg.metrics_listen)
		addrs[naddr++] = srv->cfg.metrics_listen;
	for (int t = 0; t < n; t++) {
		srv->threads[t].srv = srv;
		srv->threads[t].idx = t;
		srv->threads[t].nlis = naddr;
		for (int i = 0; i < naddr; i++)
			srv->threads[t].lis[i].fd = -1;
	}
	for (int i = 0; i < naddr; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (http_addr_parse(addrs[i], &ss, &len) != 0) {
			fprintf(stderr, "vmsend serve: bad listen address '%s' (want HOST:PORT)\n",
				addrs[i]);
			http_server_free(srv);
			return -EINVAL;
		}
		int probe = http_listen_socket(&ss, len, false);
		if (probe < 0) {
			fprintf(stderr, "vmsend serve: cannot listen on %s: %s%s\n", addrs[i],
				strerror(-probe),
				probe == -EADDRINUSE ? " (is another server running there?)" : "");
			http_server_free(srv);
			return probe;
		}
		struct sockaddr_storage bound;
		socklen_t blen = sizeof(bound);
		getsockname(probe, (struct sockaddr *)&bound, &blen);
		close(probe);
		srv->ports[i] = http_addr_port(&bound);
		http_addr_set_port(&ss, srv->ports[i]);
		bool metrics_ok = srv->cfg.metrics_listen ? i == naddr - 1 : true;
		for (int t = 0; t < n; t++) {
			int fd = http_listen_socket(&ss, len, true);
			if (fd < 0) {
				fprintf(stderr, "vmsend serve: cannot listen on %s: %s\n", addrs[i],
					strerror(-fd));
				http_server_free(srv);
				return fd;
			}
			srv->threads[t].lis[i].fd = fd;
			srv->threads[t].lis[i].th = &srv->threads[t];
			srv->threads[t].lis[i].metrics_ok = metrics_ok;
			srv->threads[t].lis[i].req.done = http_accept_done;
		}
	}
	if (srv->cfg.access_log) {
		if (strcmp(srv->cfg.access_log, "-") == 0) {
			srv->log_fd = 1;
		} else {
			srv->log_fd = open(srv->cfg.access_log,
					   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (srv->log_fd < 0) {
				int e = -errno;
				fprintf(stderr, "vmsend serve: cannot open access log %s: %s\n",
					srv->cfg.access_log, strerror(errno));
				http_server_free(srv);
				return e;
			}
		}
	}

	/* Threads never take SIGINT/SIGTERM/SIGPIPE: the caller waits for them. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int started = 0, rc = 0;
	for (int t = 0; t < n; t++) {
		if (pthread_create(&srv->threads[t].tid, NULL, http_thread_main,
				   &srv->threads[t]) != 0) {
			rc = -EAGAIN;
			break;
		}
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_lock(&srv->start_mu);
	while (srv->started < started)
		pthread_cond_wait(&srv->start_cv, &srv->start_mu);
	pthread_mutex_unlock(&srv->start_mu);
	for (int t = 0; t < started; t++)
		if (srv->threads[t].start_rc != 0)
			rc = srv->threads[t].start_rc;
	if (rc != 0) {
		fprintf(stderr, "vmsend serve: cannot start the event loops: %s\n", strerror(-rc));
		for (int t = 0; t < started; t++) {
			if (srv->threads[t].start_rc == 0)
				io_loop_post(srv->threads[t].loop, &srv->threads[t].stop_task);
		}
		atomic_store(&srv->posts_done, true);
		for (int t = 0; t < started; t++)
			pthread_join(srv->threads[t].tid, NULL);
		srv->nthreads = 0;
		http_server_free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}

int
http_server_port(const struct http_server *srv, int i)
{
	return srv->ports[i];
}

void
http_server_stop(struct http_server *srv)
{
	for (int t = 0; t < srv->nthreads; t++)
		io_loop_post(srv->threads[t].loop, &srv->threads[t].stop_task);
	atomic_store(&srv->posts_done, true);
	for (int t = 0; t < srv->nthreads; t++)
		pthread_join(srv->threads[t].tid, NULL);
	for (int t = 0; t < srv->nthreads; t++)
		srv->threads[t].nlis = 0; /* closed by the threads */
	http_server_free(srv);
}

void
http_server_wait_signal(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int sig = 0;
	sigwait(&set, &sig);
	LOG_INFO("http", "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
}

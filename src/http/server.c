/*
 * The server: listeners, threads, start and stop.
 *
 * Each thread owns an io loop, its own descriptor (a dup) of every
 * listening socket, and the connections it accepted; no lock is taken on
 * the request path.  Every listener is bound in http_server_start() on the
 * caller's thread, so "address in use" is reported before anything runs.
 *
 * One socket per address, shared by the threads, rather than one
 * SO_REUSEPORT socket per thread: the kernel gives a new connection to
 * whichever thread's accept is waiting first (accept waits are exclusive),
 * so the threads take connections in turn, where SO_REUSEPORT hashes each
 * one to a thread at random.  With short connections from a few clients
 * the hash left one thread with two or three handshakes queued while the
 * other idled: two threads did 1,536..2,040 TLS handshakes/s where two
 * one-thread processes did 2,042..2,673.  A shared socket also cannot be
 * joined silently by a second server on the same port.
 *
 * A shared socket alone does not spread a burst: io_uring tries an accept
 * the moment it is submitted, so the thread that wakes for the first
 * connection of a burst takes every one already queued.  Four connections
 * opened together by one client landed on one of two threads in 4 of 6
 * runs, and a 4-stream download then ran on one core.  So the threads
 * balance by connections held (http_thread_balance): a thread holding more
 * than one over the fewest stands aside (arms no accept), and connections
 * wait in the shared backlog for a thread holding fewer.
 *
 * Stopping is posted to every loop: listeners shut down, idle connections
 * close, busy ones close after their response; after the grace period the
 * rest are aborted.  A loop leaves when it has no connection left and every
 * vms_socket has been freed, then the threads are joined.
 */
#include "http/http_impl.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/sysmem.h"
#include "core/util.h"
#include "sendfile/sendfile.h"
#include "vm/vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void
http_server_config_defaults(struct http_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = 0;
	cfg->max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
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
	const char *path = http_unix_path(spec);
	if (path != NULL) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		size_t n = strlen(path);
		if (n == 0 || n >= sizeof(un->sun_path))
			return -EINVAL;
		memset(un, 0, sizeof(*un));
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, n);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
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

/* Address i of a configuration: the plain listeners, the TLS ones, then the metrics-only one. */
static const char *
http_addr_spec_at(const struct http_server_config *cfg, int i, bool *metrics_ok, bool *tls)
{
	int ntls = cfg->nlisten + cfg->nlisten_tls;
	if (metrics_ok != NULL)
		*metrics_ok = cfg->metrics_listen ? i == ntls : true;
	if (tls != NULL)
		*tls = i >= cfg->nlisten && i < ntls;
	if (i < cfg->nlisten)
		return cfg->listen[i];
	return i < ntls ? cfg->listen_tls[i - cfg->nlisten] : cfg->metrics_listen;
}

int
http_server_config_check(const struct http_server_config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int total = cfg->nlisten + cfg->nlisten_tls + (cfg->metrics_listen ? 1 : 0);
	for (int i = 0; i < total; i++) {
		const char *spec = http_addr_spec_at(cfg, i, NULL, NULL);
		if (strncmp(spec, "fd:", 3) != 0 && http_addr_parse(spec, &ss, &len) != 0) {
			LOG_ERR("http", "bad listen address '%s' (want HOST:PORT)", spec);
			return -EINVAL;
		}
	}
	struct http_gen *g;
	int rc = http_gen_new(cfg, 0, NULL, &g); /* opens the access log as a start would */
	if (rc == 0)
		http_gen_rele(g);
	return rc;
}

static int
http_addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0; /* a unix socket */
}

/*
 * A unix socket's path may hold the socket of a server that is gone (a
 * crash, a kill -9): remove it when nothing answers there, so that bind
 * works; a live one stays, and bind says EADDRINUSE.
 */
static void
http_unix_stale_remove(const struct sockaddr_un *un, socklen_t len)
{
	struct stat st;
	if (lstat(un->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (const struct sockaddr *)un, len) != 0 && errno == ECONNREFUSED)
		unlink(un->sun_path);
	close(fd);
}

static int
http_listen_socket(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (ss->ss_family == AF_UNIX)
		http_unix_stale_remove((const struct sockaddr_un *)ss, len);
	if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 1024) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/*
 * What every accepted connection of a listener is set to, set once on the
 * listening socket: Linux copies TCP options from the listener into each
 * socket it accepts, so a connection costs no setsockopt of its own.
 * TCP_USER_TIMEOUT bounds how long unacknowledged data may wait, as
 * --send-timeout bounds send progress (0: the kernel's default).
 */
void
http_listen_tune(int fd, const struct http_server_config *cfg)
{
	int one = 1;
	unsigned uto = cfg->send_timeout_ms;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
}

/* How long accepts wait after the process ran out of descriptors or memory. */
#define HTTP_ACCEPT_PAUSE_NS (100 * 1000000ull)

static void http_accept_arm(struct http_listener *l);

static void
http_accept_done(struct io_req *req, int res, uint32_t flags)
{
	struct http_listener *l = container_of(req, struct http_listener, req);
	struct http_thread *th = l->th;
	l->busy = false;
	if (l->retiring) {
		/* A reload dropped this address; a connection that made it in is still served. */
		if (res >= 0 && !th->stopping)
			http_conn_accepted(th, res, (const struct sockaddr *)&l->addr,
					   l->metrics_ok, l->tls);
		else if (res >= 0)
			close(res);
		close(l->fd);
		l->fd = -1;
		l->retiring = false;
		return;
	}
	if (th->stopping) {
		if (res >= 0)
			close(res);
		return;
	}
	if (res == -EINVAL) {
		/*
		 * The socket is no longer listening: another thread shut it down
		 * (a stop, or a reload that drops the address) before this
		 * thread's own task ran.  That task closes this dup.
		 */
		return;
	}
	if (res >= 0) {
		http_conn_accepted(th, res, (const struct sockaddr *)&l->addr, l->metrics_ok,
				   l->tls);
	} else if (res != -EINTR && res != -ECONNABORTED && res != -EAGAIN) {
		/* EMFILE and friends: say so once in a while, keep listening. */
		static _Thread_local uint64_t last;
		uint64_t now = vms_now_ns();
		if (now - last > 1000000000ull) {
			LOG_WARN("http", "accept: %s", strerror(-res));
			last = now;
		}
		/*
		 * Out of descriptors or memory, the connection stays queued and an
		 * accept armed again fails at once: the loop would spin.  Wait a
		 * little instead (a closing connection or file gives one back).
		 */
		if ((res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) &&
		    !th->accept_paused &&
		    io_timer_arm(th->loop, &th->accept_timer, HTTP_ACCEPT_PAUSE_NS) == 0) {
			th->accept_paused = true;
			counter_inc(&http_stats.accept_pauses);
		}
	}
	http_thread_balance(th);
}

static void
http_thread_accept_resume(struct io_timer *t)
{
	struct http_thread *th = container_of(t, struct http_thread, accept_timer);
	th->accept_paused = false;
	http_thread_balance(th);
}

static void
http_accept_arm(struct http_listener *l)
{
	if (l->th->stopping || l->fd < 0 || l->retiring)
		return;
	l->addrlen = sizeof(l->addr);
	struct io_uring_sqe *sqe = io_sqe(l->th->loop, &l->req);
	io_uring_prep_accept(sqe, l->fd, (struct sockaddr *)&l->addr, &l->addrlen,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
	l->busy = true;
}

/*
 * Accept balancing.  A thread accepts only while it holds at most
 * HTTP_ACCEPT_SLACK more connections than the thread holding the fewest;
 * otherwise it stands aside until a connection of its own closes or another
 * thread nudges it.  The thread deciding marks itself aside first and then
 * reads every other thread (sequentially consistent atomics), and nudges any
 * thread aside that may accept again.  So of two threads deciding at once,
 * the later one sees the earlier one's mark, and some thread holding the
 * fewest connections always accepts or has a nudge on its way: the backlog
 * never waits for nothing.  With one address, and no connection closing,
 * the threads' counts stay within HTTP_ACCEPT_SLACK + 1 of each other.
 *
 * The slack is 1, not 0: with 0, a thread holding one connection in its
 * handshake stood aside for an idle one in 26% of accepts of short TLS
 * connections (openssl s_time), each a cross-thread nudge and wake-up; with 1
 * it was 5%, and 4 long downloads still split 2 and 2 in every run.
 */
#define HTTP_ACCEPT_SLACK 1

static void
http_thread_nudge(struct http_thread *o)
{
	struct http_server *srv = o->srv;
	/* No nudge once the stop tasks are out: a loop may be gone (see the thread's exit). */
	atomic_fetch_add(&srv->nudging, 1);
	if (!atomic_load(&srv->posts_done) && !atomic_exchange(&o->nudged, true))
		io_loop_post(o->loop, &o->nudge_task);
	atomic_fetch_sub(&srv->nudging, 1);
}

void
http_thread_balance(struct http_thread *th)
{
	struct http_server *srv = th->srv;
	if (srv->nthreads > 1) {
		bool was_aside = atomic_exchange(&th->aside, true);
		int fewest = INT_MAX;
		for (int t = 0; t < srv->nthreads; t++) {
			int held = atomic_load(&srv->threads[t].nconns);
			fewest = MIN(fewest, held);
		}
		for (int t = 0; t < srv->nthreads; t++) {
			struct http_thread *o = &srv->threads[t];
			if (o != th && atomic_load(&o->aside) &&
			    atomic_load(&o->nconns) <= fewest + HTTP_ACCEPT_SLACK)
				http_thread_nudge(o);
		}
		if (atomic_load(&th->nconns) > fewest + HTTP_ACCEPT_SLACK) {
			if (!was_aside)
				counter_inc(&http_stats.accept_asides);
			return;
		}
		atomic_store(&th->aside, false);
	}
	if (th->accept_paused)
		return; /* http_thread_accept_resume arms them */
	for (int i = 0; i < th->nlis; i++)
		if (!th->lis[i].busy)
			http_accept_arm(&th->lis[i]);
}

static void
http_thread_nudge_task(struct io_task *task)
{
	struct http_thread *th = container_of(task, struct http_thread, nudge_task);
	atomic_store(&th->nudged, false);
	if (atomic_load(&th->aside))
		http_thread_balance(th);
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
	int rc =
	    io_timer_arm(th->loop, &th->stop_timer, (uint64_t)th->gen->cfg.grace_ms * 1000000ull);
	if (rc != 0) {
		/* No timer to end the grace period: end it now rather than never. */
		LOG_WARN("http", "thread %d: cannot arm the grace timer (%s): no grace period",
			 th->idx, strerror(-rc));
		http_thread_grace_end(&th->stop_timer);
	}
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
	th->reload_task.fn = http_thread_reload_task;
	th->nudge_task.fn = http_thread_nudge_task;
	th->accept_timer.fn = http_thread_accept_resume;
	int rc = io_loop_create(&th->loop, 1024, vm_initialized() ? IO_LOOP_ARENA : 0);
	/* Before the start returns, so that its allocation is not counted as a request's. */
	if (rc == 0)
		http_conn_thread_start(th);
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
	uint64_t deadline =
	    vms_now_ns() + (uint64_t)th->gen->cfg.grace_ms * 1000000ull + 1000000000ull;
	while (vms_socket_count() > 0 && vms_now_ns() < deadline)
		io_loop_run_once(th->loop, true, 10 * 1000000ull);
	io_timer_cancel(th->loop, &th->stop_timer);
	io_timer_cancel(th->loop, &th->accept_timer);
	/*
	 * io_loop_post() may still be waking this loop (writing its eventfd)
	 * after our stop task ran: wait until the stopper's posts returned.
	 */
	while (!atomic_load(&srv->posts_done) || atomic_load(&srv->nudging) > 0)
		usleep(1000);
	for (int i = 0; i < th->nlis; i++)
		if (th->lis[i].fd >= 0) {
			close(th->lis[i].fd);
			th->lis[i].fd = -1;
		}
	http_conn_thread_stop(th);
	io_loop_destroy(th->loop);
	http_conn_free_spares(th);
	return NULL;
}

static void
http_server_free(struct http_server *srv)
{
	for (int t = 0; t < srv->nthreads; t++) {
		for (int i = 0; i < srv->threads[t].nlis; i++)
			if (srv->threads[t].lis[i].fd >= 0)
				close(srv->threads[t].lis[i].fd);
		if (srv->threads[t].gen)
			http_gen_rele(srv->threads[t].gen);
	}
	for (int i = 0; i < srv->naddrs; i++)
		free(srv->addrs[i].fds); /* the threads own the sockets */
	if (srv->gen)
		http_gen_rele(srv->gen);
	pthread_mutex_destroy(&srv->start_mu);
	pthread_cond_destroy(&srv->start_cv);
	free(srv->threads);
	free(srv);
}

void
http_addr_close(struct http_addr *a, int nthreads)
{
	for (int t = 0; a->fds != NULL && t < nthreads; t++)
		if (a->fds[t] >= 0)
			close(a->fds[t]);
	free(a->fds);
	a->fds = NULL;
}

/* Give each of nthreads threads its own dup of listening socket fd (see the top). */
static int
http_addr_share(struct http_addr *a, int fd, int nthreads)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	getsockname(fd, (struct sockaddr *)&bound, &blen);
	a->port = http_addr_port(&bound);
	a->fds = malloc(sizeof(int) * (size_t)nthreads);
	if (a->fds == NULL)
		return -ENOMEM;
	for (int t = 0; t < nthreads; t++) {
		a->fds[t] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (a->fds[t] < 0) {
			int e = -errno;
			for (int u = 0; u < t; u++)
				close(a->fds[u]);
			free(a->fds);
			a->fds = NULL;
			return e;
		}
	}
	return 0;
}

/*
 * Listen on a->spec: a new socket, or "fd:N", one bound by whoever started
 * us (systemd's socket activation).  0 or -errno.
 */
static int
http_addr_bind(struct http_addr *a, const struct http_server_config *cfg, int nthreads)
{
	if (strncmp(a->spec, "fd:", 3) == 0) {
		char *end;
		long fd = strtol(a->spec + 3, &end, 10);
		int acc = 0;
		socklen_t alen = sizeof(acc);
		if (a->spec[3] == '\0' || *end != '\0' || fd < 0 || fd > 65535 ||
		    getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) != 0 || !acc) {
			LOG_ERR("http", "%s is not a listening socket", a->spec);
			return -EBADF;
		}
		http_listen_tune((int)fd, cfg);
		return http_addr_share(a, (int)fd, nthreads);
	}
	struct sockaddr_storage ss;
	socklen_t len;
	if (http_addr_parse(a->spec, &ss, &len) != 0) {
		LOG_ERR("http", "bad listen address '%s' (want HOST:PORT or unix:PATH)", a->spec);
		return -EINVAL;
	}
	int fd = http_listen_socket(&ss, len);
	if (fd < 0) {
		LOG_ERR("http", "cannot listen on %s: %s%s", a->spec, strerror(-fd),
			fd == -EADDRINUSE ? " (is another server running there?)"
			: fd == -EACCES && geteuid() != 0
			    ? " (a port below 1024 needs root: after --user dropped it, only a "
			      "restart binds a new one)"
			    : "");
		return fd;
	}
	http_listen_tune(fd, cfg);
	int rc = http_addr_share(a, fd, nthreads);
	close(fd); /* the threads' dups hold it */
	return rc;
}

/*
 * The addresses cfg asks for, in order (the listeners, then the
 * metrics-only one): an address the server already listens on is kept as
 * it is (fds NULL: the threads have its sockets), a new one is bound.  On
 * error the new sockets are closed and nothing changed.
 */
int
http_addrs_bind(struct http_server *srv, const struct http_server_config *cfg,
		struct http_addr *out, int *nout)
{
	int n = 0, rc = 0;
	int total = cfg->nlisten + cfg->nlisten_tls + (cfg->metrics_listen ? 1 : 0);
	for (int i = 0; i < total && rc == 0; i++) {
		bool metrics_ok, tls;
		const char *spec = http_addr_spec_at(cfg, i, &metrics_ok, &tls);
		struct http_addr *a = &out[n];
		memset(a, 0, sizeof(*a));
		if (strlen(spec) >= sizeof(a->spec)) {
			LOG_ERR("http", "listen address too long: '%s'", spec);
			rc = -EINVAL;
			break;
		}
		strcpy(a->spec, spec);
		a->metrics_ok = metrics_ok;
		a->tls = tls;
		bool kept = false;
		for (int j = 0; j < srv->naddrs && !kept; j++) {
			bool taken = false; /* two "127.0.0.1:0" are two sockets */
			for (int k = 0; k < n; k++)
				taken |= out[k].lid == srv->addrs[j].lid;
			if (!taken && strcmp(srv->addrs[j].spec, spec) == 0 &&
			    srv->addrs[j].metrics_ok == metrics_ok && srv->addrs[j].tls == tls) {
				*a = srv->addrs[j];
				a->fds = NULL;
				kept = true;
			}
		}
		if (!kept) {
			a->lid = ++srv->next_lid;
			rc = http_addr_bind(a, cfg, srv->nthreads);
		}
		if (rc == 0)
			n++;
	}
	if (rc != 0) {
		for (int j = 0; j < n; j++)
			http_addr_close(&out[j], srv->nthreads);
		return rc;
	}
	*nout = n;
	return 0;
}

/* Put a's socket for this thread in a free slot and start accepting (its thread, or before it runs). */
void
http_listener_arm(struct http_thread *th, const struct http_addr *a)
{
	int slot = 0;
	while (th->lis[slot].fd >= 0 || th->lis[slot].busy)
		slot++;
	VERIFY3S(slot, <, (int)(sizeof(th->lis) / sizeof(th->lis[0])));
	struct http_listener *l = &th->lis[slot];
	memset(l, 0, sizeof(*l));
	l->th = th;
	l->fd = a->fds[th->idx];
	l->lid = a->lid;
	l->metrics_ok = a->metrics_ok;
	l->tls = a->tls;
	l->req.done = http_accept_done;
	if (slot >= th->nlis)
		th->nlis = slot + 1;
	if (th->loop != NULL && !atomic_load(&th->aside))
		http_accept_arm(l);
}

int
http_server_start(const struct http_server_config *cfg, struct http_server **out)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	pthread_mutex_init(&srv->start_mu, NULL);
	pthread_cond_init(&srv->start_cv, NULL);
	if (cfg->nlisten_tls > 0 && cfg->tls == NULL) {
		fprintf(stderr, "vmsend serve: --listen-tls needs --tls-cert and --tls-key\n");
		pthread_mutex_destroy(&srv->start_mu);
		pthread_cond_destroy(&srv->start_cv);
		free(srv);
		return -EINVAL;
	}
	struct http_server_config c = *cfg;
	if (c.nlisten == 0 && c.nlisten_tls == 0) {
		c.listen[0] = "127.0.0.1:8080";
		c.nlisten = 1;
	}
	int n = c.threads > 0 ? c.threads : (int)MIN(vms_cpus_usable(), 1024u);
	srv->nthreads = n;
	srv->threads = calloc((size_t)n, sizeof(*srv->threads));
	if (srv->threads == NULL) {
		http_server_free(srv);
		return -ENOMEM;
	}
	int rc = http_gen_new(&c, 1, NULL, &srv->gen);
	if (rc != 0) {
		http_server_free(srv);
		return rc;
	}
	for (int t = 0; t < n; t++) {
		srv->threads[t].srv = srv;
		srv->threads[t].idx = t;
		for (size_t i = 0; i < sizeof(srv->threads[t].lis) / sizeof(srv->threads[t].lis[0]);
		     i++)
			srv->threads[t].lis[i].fd = -1;
		http_gen_ref(srv->gen);
		srv->threads[t].gen = srv->gen;
	}
	rc = http_addrs_bind(srv, &srv->gen->cfg, srv->addrs, &srv->naddrs);
	if (rc != 0) {
		http_server_free(srv);
		return rc;
	}
	for (int i = 0; i < srv->naddrs; i++) {
		for (int t = 0; t < n; t++)
			http_listener_arm(&srv->threads[t], &srv->addrs[i]);
		free(srv->addrs[i].fds); /* the threads own the sockets now */
		srv->addrs[i].fds = NULL;
	}
	if (c.after_bind != NULL && (rc = c.after_bind(c.after_bind_arg)) != 0) {
		http_server_free(srv);
		return rc < 0 ? rc : -EPERM;
	}

	/* Threads never take signals: the caller waits for them (SIGHUP reloads, SIGUSR1 reopens). */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGPIPE);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int started = 0;
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
		LOG_ERR("http", "cannot start the event loops: %s", strerror(-rc));
		for (int t = 0; t < started; t++) {
			if (srv->threads[t].start_rc == 0)
				io_loop_post(srv->threads[t].loop, &srv->threads[t].stop_task);
		}
		atomic_store(&srv->posts_done, true);
		for (int t = 0; t < started; t++)
			pthread_join(srv->threads[t].tid, NULL);
		for (int t = 0; t < started; t++)
			srv->threads[t].nlis = 0; /* closed by the threads */
		http_server_free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}

int
http_server_port(const struct http_server *srv, int i)
{
	return i < srv->naddrs ? srv->addrs[i].port : -1;
}

void
http_addr_unlink(const struct http_addr *a)
{
	const char *path = http_unix_path(a->spec);
	if (path != NULL)
		unlink(path);
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
	for (int i = 0; i < srv->naddrs; i++)
		http_addr_unlink(&srv->addrs[i]);
	http_server_free(srv);
}

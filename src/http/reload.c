/*
 * Configuration generations and reload (SIGHUP).
 *
 * A generation is an immutable copy of the settings.  The server holds the
 * current one; each thread holds the one it accepts under; each connection
 * holds the one it was accepted under, until it closes:
 *
 *     srv->gen ──▶ gen 2 ◀── thread 0, thread 1, new connections
 *                  gen 1 ◀── connections accepted before the reload
 *                            (freed with the last of them)
 *
 * Reload never stops accepting: addresses present before and after keep
 * their sockets (and their accept queues), new ones are bound before
 * anything changes, and only the sockets of dropped addresses are closed.
 * Switching is a task posted to every loop, so a thread changes its
 * generation and listeners between two events, never inside a request.
 */
#include "http/http_impl.h"

#include "core/log.h"
#include "core/util.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct http_reload {
	struct http_gen *gen;
	struct http_addr addrs[HTTP_LISTEN_ALL];
	int naddrs;
};

static void
http_logfile_rele(struct http_logfile *lf)
{
	if (lf == NULL || atomic_fetch_sub(&lf->refs, 1) != 1)
		return;
	if (lf->fd > 2)
		close(lf->fd);
	free(lf->path);
	free(lf);
}

static int
http_logfile_open(const char *path, struct http_logfile **out)
{
	struct http_logfile *lf = calloc(1, sizeof(*lf));
	if (lf == NULL || (lf->path = strdup(path)) == NULL) {
		free(lf);
		return -ENOMEM;
	}
	atomic_init(&lf->refs, 1);
	if (strcmp(path, "-") == 0) {
		lf->fd = 1;
	} else {
		lf->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (lf->fd < 0) {
			int e = -errno;
			fprintf(stderr, "vmsend serve: cannot open access log %s: %s\n", path,
				strerror(errno));
			free(lf->path);
			free(lf);
			return e;
		}
	}
	*out = lf;
	return 0;
}

/* A copy of s owned by g (NULL stays NULL); false when memory ran out. */
static bool
http_gen_str(struct http_gen *g, const char **s)
{
	if (*s == NULL)
		return true;
	char *d = strdup(*s);
	if (d == NULL)
		return false;
	g->strs[g->nstrs++] = d;
	*s = d;
	return true;
}

static void
http_gen_free(struct http_gen *g)
{
	for (int i = 0; i < g->nstrs; i++)
		free(g->strs[i]);
	free(g->strs);
	http_logfile_rele(g->log);
	tls_server_free(g->cfg.tls);
	free(g);
}

/*
 * Each connection holds a descriptor, and so does each cached file (vfs):
 * connections that took every descriptor would leave no file to open (500
 * for everyone) and accepts failing with EMFILE.  So, with the soft
 * RLIMIT_NOFILE raised to the hard one, connections get at most three
 * quarters of what it leaves over 64 (the server's own: listeners, rings,
 * logs), and an operator asking for more is told why not.
 */
int
http_connections_fit(int max_connections)
{
	int64_t asked = max_connections > 0 ? max_connections : HTTP_DEFAULT_MAX_CONNECTIONS;
	uint64_t fds = vms_fd_limit_raise();
	if (fds == UINT64_MAX)
		return (int)asked;
	int64_t fit = fds > 64 ? (int64_t)(fds - 64) * 3 / 4 : 1;
	return (int)MIN(asked, MAX(fit, 1));
}

static void
http_conns_fit_fds(int *max_connections)
{
	int fit = http_connections_fit(*max_connections);
	if (*max_connections <= fit)
		return;
	LOG_WARN("http",
		 "%llu file descriptors (ulimit -n) leave room for %d connections, not the %d "
		 "asked for: raise the limit (LimitNOFILE= under systemd)",
		 (unsigned long long)vms_fd_limit_raise(), fit, *max_connections);
	*max_connections = fit;
}

int
http_gen_new(const struct http_server_config *cfg, uint64_t id, const struct http_gen *prev,
	     struct http_gen **out)
{
	struct http_gen *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	atomic_init(&g->refs, 1);
	g->id = id;
	g->cfg = *cfg;
	tls_server_ref(
	    g->cfg.tls); /* the connections accepted under g finish on g's certificates */
	if (g->cfg.max_connections <= 0)
		g->cfg.max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
	http_conns_fit_fds(&g->cfg.max_connections);
	struct http_server_config *c = &g->cfg;
	g->strs = calloc(2 * HTTP_MAX_LISTEN + 2 + 3 * HTTP_MAX_HEADER_RULES, sizeof(char *));
	bool ok = g->strs != NULL;
	for (int i = 0; ok && i < c->nlisten; i++)
		ok = http_gen_str(g, &c->listen[i]);
	for (int i = 0; ok && i < c->nlisten_tls; i++)
		ok = http_gen_str(g, &c->listen_tls[i]);
	snprintf(g->hsts, sizeof(g->hsts), "Strict-Transport-Security: max-age=%u",
		 c->hsts_max_age);
	ok = ok && http_gen_str(g, &c->metrics_listen) && http_gen_str(g, &c->access_log);
	for (int i = 0; ok && i < c->nheader_rules; i++) {
		struct http_header_rule *hr = &c->header_rules[i];
		ok = http_gen_str(g, &hr->pattern) && http_gen_str(g, &hr->name) &&
		     http_gen_str(g, &hr->value);
	}
	if (!ok) {
		http_gen_free(g);
		return -ENOMEM;
	}
	if (c->access_log != NULL) {
		if (prev != NULL && prev->log != NULL &&
		    strcmp(prev->log->path, c->access_log) == 0) {
			g->log = prev->log;
			atomic_fetch_add(&g->log->refs, 1);
		} else {
			int rc = http_logfile_open(c->access_log, &g->log);
			if (rc != 0) {
				http_gen_free(g);
				return rc;
			}
		}
	}
	*out = g;
	return 0;
}

void
http_gen_ref(struct http_gen *g)
{
	atomic_fetch_add(&g->refs, 1);
}

void
http_gen_rele(struct http_gen *g)
{
	if (atomic_fetch_sub(&g->refs, 1) == 1)
		http_gen_free(g);
}

int
http_server_reload_prepare(struct http_server *srv, const struct http_server_config *cfg,
			   struct http_reload **out)
{
	struct http_reload *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return -ENOMEM;
	struct http_server_config c = *cfg;
	if (c.nlisten == 0 && c.nlisten_tls == 0) {
		c.listen[0] = "127.0.0.1:8080";
		c.nlisten = 1;
	}
	int rc = http_gen_new(&c, srv->gen->id + 1, srv->gen, &rl->gen);
	if (rc == 0) {
		rc = http_addrs_bind(srv, &rl->gen->cfg, rl->addrs, &rl->naddrs);
		if (rc != 0)
			http_gen_rele(rl->gen);
	}
	if (rc != 0) {
		free(rl);
		return rc;
	}
	*out = rl;
	return 0;
}

void
http_server_reload_abort(struct http_server *srv, struct http_reload *rl)
{
	for (int i = 0; i < rl->naddrs; i++)
		http_addr_close(&rl->addrs[i], srv->nthreads);
	http_gen_rele(rl->gen);
	free(rl);
}

void
http_thread_reload_task(struct io_task *task)
{
	struct http_thread *th = container_of(task, struct http_thread, reload_task);
	struct http_server *srv = th->srv;
	const struct http_reload *rl = srv->pending;

	for (int i = 0; i < th->nlis; i++) {
		struct http_listener *l = &th->lis[i];
		bool keep = false;
		for (int j = 0; j < rl->naddrs; j++)
			keep |= rl->addrs[j].lid == l->lid;
		if (l->fd < 0 || l->retiring)
			continue;
		if (keep) {
			if (th->idx == 0) /* the threads' fds share one socket */
				http_listen_tune(l->fd, &rl->gen->cfg);
			continue;
		}
		if (l->busy) {
			l->retiring = true;
			shutdown(l->fd, SHUT_RDWR); /* the accept comes back and closes it */
		} else {
			close(l->fd);
			l->fd = -1;
		}
	}
	for (int j = 0; j < rl->naddrs; j++)
		if (rl->addrs[j].fds != NULL) {
			http_listener_arm(th, &rl->addrs[j]);
			rl->addrs[j].fds[th->idx] = -1; /* the thread owns it now */
		}
	struct http_gen *old = th->gen;
	http_gen_ref(rl->gen);
	th->gen = rl->gen;
	http_gen_rele(old);

	pthread_mutex_lock(&srv->start_mu);
	srv->reload_acks++;
	pthread_cond_broadcast(&srv->start_cv);
	pthread_mutex_unlock(&srv->start_mu);
}

void
http_server_reload_commit(struct http_server *srv, struct http_reload *rl)
{
	srv->pending = rl;
	srv->reload_acks = 0;
	for (int t = 0; t < srv->nthreads; t++)
		io_loop_post(srv->threads[t].loop, &srv->threads[t].reload_task);
	pthread_mutex_lock(&srv->start_mu);
	while (srv->reload_acks < srv->nthreads)
		pthread_cond_wait(&srv->start_cv, &srv->start_mu);
	pthread_mutex_unlock(&srv->start_mu);
	srv->pending = NULL;
	for (int j = 0; j < srv->naddrs; j++) { /* addresses the reload dropped */
		bool kept = false;
		for (int i = 0; i < rl->naddrs; i++)
			kept |= rl->addrs[i].lid == srv->addrs[j].lid;
		if (!kept)
			http_addr_unlink(&srv->addrs[j]);
	}
	for (int i = 0; i < rl->naddrs; i++) {
		free(rl->addrs[i].fds);
		rl->addrs[i].fds = NULL;
		srv->addrs[i] = rl->addrs[i];
	}
	srv->naddrs = rl->naddrs;
	http_gen_rele(srv->gen);
	srv->gen = rl->gen;
	LOG_INFO("http", "configuration generation %llu in effect",
		 (unsigned long long)srv->gen->id);
	free(rl);
}

int
http_server_threads(const struct http_server *srv)
{
	return srv->nthreads;
}

const char *
http_server_addr(const struct http_server *srv, int i)
{
	return i < srv->naddrs ? srv->addrs[i].spec : NULL;
}

int
http_server_reopen_logs(struct http_server *srv)
{
	struct http_logfile *lf = srv->gen->log;
	if (lf == NULL || lf->fd <= 2)
		return 0;
	int fd = open(lf->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	/* Atomic for the writers: each write(2) lands in the old file or the new one. */
	int rc = dup3(fd, lf->fd, O_CLOEXEC) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

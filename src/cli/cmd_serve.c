/*
 * `vmsend serve`: the HTTP/1.1 static-file server (src/http).
 *
 * Flags and --config become options (serve_config.c); this file sets up the
 * page cache and the mounts, starts the server, and then waits for signals:
 *
 *   SIGHUP   re-read the config; refuse it whole on any error (logged), or
 *            switch mounts and server settings (new connections only)
 *   SIGUSR1  reopen the access and error logs
 *   SIGINT, SIGTERM  stop
 *
 * Under systemd (Type=notify) it reports READY, RELOADING and STOPPING,
 * pets the watchdog, and takes its listening sockets from LISTEN_FDS.
 */
#include "cli/commands.h"
#include "cli/serve.h"
#include "cli/serve_sys.h"
#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"
#include "fs/hostfs/hostfs.h"
#include "fs/objfs/objfs_vfs.h"
#ifdef VMSEND_HAVE_RADOS
#include "fs/radosfs/radosfs.h"
#endif
#include "http/http_server.h"
#include "sendfile/sendfile.h"
#include "tls/tls.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef VMSEND_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#define serve_notify(...) sd_notifyf(0, __VA_ARGS__)
#else
#define serve_notify(...) ((void)0)
#endif

/* LISTEN_FDS from systemd (or a test standing in for it): listen on "fd:3".. instead. */
static int
serve_listen_fds(struct serve_opts *o, char *err, size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	if (pid == NULL || nfds == NULL || atol(pid) != (long)getpid())
		return 0;
	int n = atoi(nfds);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n <= 0)
		return 0;
	if (n > HTTP_MAX_LISTEN) {
		snprintf(err, errlen, "LISTEN_FDS=%d: at most %d sockets", n, HTTP_MAX_LISTEN);
		return -1;
	}
	/* Handed sockets replace --listen: the unit's .socket decides where we listen. */
	o->cfg.nlisten = 0;
	for (int i = 0; i < n; i++) {
		char *spec;
		if (asprintf(&spec, "fd:%d", 3 + i) < 0 || serve_own(o, spec) == NULL)
			return -1;
		o->cfg.listen[o->cfg.nlisten++] = spec;
	}
	return 0;
}

static int
serve_after_bind(void *arg)
{
	const struct serve_opts *o = arg;
	int rc = serve_privileges_drop(o);
	if (rc != 0)
		fprintf(stderr, "vmsend serve: cannot become %s: %s\n", o->user, strerror(-rc));
	else if (o->user != NULL)
		serve_user_access_check(o);
	return rc;
}

static void
serve_banner(const struct serve_opts *o, struct http_server *srv)
{
	int n = 0;
	while (http_server_addr(srv, n) != NULL)
		n++;
	for (int i = 0; i < n; i++) {
		const char *a = http_server_addr(srv, i);
		bool metrics_only = o->cfg.metrics_listen && i == n - 1; /* listed last */
		/* The plain listeners come first, then the TLS ones. */
		bool tls =
		    !metrics_only && i >= n - o->cfg.nlisten_tls - (o->cfg.metrics_listen ? 1 : 0);
		char port[32] = ""; /* a unix socket has none */
		if (http_unix_path(a) == NULL)
			snprintf(port, sizeof(port), " (port %d)", http_server_port(srv, i));
		printf(metrics_only ? "vmsend: metrics on %s/.vmsend/metrics%s\n"
				    : "vmsend: listening on %s%s%s\n",
		       a, port,
		       tls                     ? " with TLS"
		       : o->cfg.https_redirect ? ", redirecting to https"
					       : "");
	}
	if (!o->cfg.metrics_listen && o->cfg.metrics)
		printf("vmsend: metrics at /.vmsend/metrics\n");
	for (int i = 0; i < o->nmounts; i++)
		printf("vmsend: serving %s\n", o->mounts[i]);
	fflush(stdout);
}

/* Options that only a restart changes: say so rather than pretend. */
static void
serve_reload_warn(const struct serve_opts *old, const struct serve_opts *nw)
{
	if (old->cfg.threads != nw->cfg.threads)
		LOG_WARN("serve", "reload: --threads changes on restart only");
	if (old->cache != nw->cache)
		LOG_WARN("serve", "reload: --cache-size changes on restart only");
	bool sets = old->nsets != nw->nsets;
	for (int i = 0; !sets && i < old->nsets; i++)
		sets = strcmp(old->sets[i], nw->sets[i]) != 0;
	if (sets)
		LOG_WARN("serve", "reload: --set tunables change on restart only");
	if ((old->user == NULL) != (nw->user == NULL) ||
	    (old->user && strcmp(old->user, nw->user) != 0))
		LOG_WARN("serve", "reload: --user changes on restart only");
}

/* The --tls-cert/--tls-key pairs and --tls-ticket-key files into o->cfg.tls (none: NULL), ALPN per --no-h2.  0, or -errno with err set. */
static int
serve_tls_load(struct serve_opts *o, char *err, size_t errlen)
{
	o->cfg.tls = NULL;
	if (o->ntls_cert == 0)
		return 0;
	struct tls_cert_spec certs[16];
	for (int i = 0; i < o->ntls_cert; i++)
		certs[i] = (struct tls_cert_spec){o->tls_cert[i], o->tls_key[i]};
	int rc = tls_server_new(certs, o->ntls_cert, err, errlen, &o->cfg.tls);
	if (rc == 0 && (rc = tls_server_set_ticket_keys(o->cfg.tls, o->tls_ticket_key,
							o->ntls_ticket_key, err, errlen)) != 0) {
		tls_server_free(o->cfg.tls);
		o->cfg.tls = NULL;
	}
	if (rc == 0 && !o->no_h2) /* server preference: h2 when the client offers it */
		tls_server_set_alpn(o->cfg.tls, (const unsigned char *)HTTP_ALPN_H2,
				    sizeof(HTTP_ALPN_H2) - 1);
	return rc;
}

/*
 * Every name-cache entry keeps a file version and its cached pages alive
 * (and, on hostfs, a descriptor), so the cache is sized to the page cache
 * (vfs_cache_size_fit), within the descriptors the connections leave.  With
 * a fixed 4096, a site of 10,000 small files read every one from disk on
 * every pass.
 */
static void
serve_name_cache_size(const struct serve_opts *o)
{
	uint64_t fds = vms_fd_limit_raise();
	uint64_t left = 64 + (uint64_t)http_connections_fit(o->cfg.max_connections);
	vfs_cache_size_fit(fds == UINT64_MAX ? fds : fds > left ? fds - left : 0);
}

/* SIGHUP: all or nothing.  On success *o becomes the new options. */
static void
serve_reload(struct serve_opts *o, struct http_server *srv, int argc, char **argv)
{
	struct serve_opts nw;
	char err[512];
	serve_notify("RELOADING=1\nSTATUS=reloading %s", o->config_path ? o->config_path : "");
	int rc = serve_opts_parse(argc, argv, &nw, err, sizeof(err));
	if (rc != 0) {
		LOG_ERR("serve", "reload refused, still serving the old configuration: %s", err);
		goto out;
	}
	if (o->cfg.nlisten > 0 && strncmp(o->cfg.listen[0], "fd:", 3) == 0) {
		/* Socket activation: the sockets come from systemd, not from the file. */
		nw.cfg.nlisten = 0;
		for (int i = 0; i < o->cfg.nlisten; i++)
			nw.cfg.listen[nw.cfg.nlisten++] = serve_own(&nw, strdup(o->cfg.listen[i]));
	}
	serve_reload_warn(o, &nw);
	nw.cfg.threads = o->cfg.threads;
	/* Certificates are read again: new connections get the new ones, open ones keep theirs. */
	if (serve_tls_load(&nw, err, sizeof(err)) != 0) {
		LOG_ERR("serve", "reload refused, still serving the old configuration: %s", err);
		serve_opts_free(&nw);
		goto out;
	}
	struct http_reload *rl;
	rc = http_server_reload_prepare(srv, &nw.cfg, &rl);
	if (rc != 0) {
		LOG_ERR("serve", "reload refused, still serving the old configuration: %s",
			strerror(-rc));
		serve_opts_free(&nw);
		goto out;
	}
	rc = vfs_mounts_replace(nw.mounts, nw.nmounts);
	if (rc != 0) {
		LOG_ERR("serve",
			"reload refused, still serving the old configuration: a mount failed: %s",
			strerror(-rc));
		http_server_reload_abort(srv, rl);
		serve_opts_free(&nw);
		goto out;
	}
	http_server_reload_commit(srv, rl);
	serve_name_cache_size(&nw);
	if (nw.log_level >= 0)
		vms_log_level = nw.log_level;
	if (nw.error_log != NULL &&
	    (o->error_log == NULL || strcmp(nw.error_log, o->error_log) != 0) &&
	    (rc = serve_error_log_open(nw.error_log)) != 0)
		LOG_ERR("serve",
			"reload: cannot open --error-log %s, errors stay where they were: %s",
			nw.error_log, strerror(-rc));
	nw.cache = o->cache;
	serve_opts_free(o);
	*o = nw;
	LOG_INFO("serve", "reloaded %s", o->config_path ? o->config_path : "(no --config)");
	if (!o->cfg.quiet) {
		printf("vmsend: reloaded\n");
		serve_banner(o, srv);
	}
out:
	serve_notify("READY=1\nSTATUS=serving");
}

/* The page cache's size: --cache-size, or the cache_size tunable. */
static uint64_t
serve_cache_size(const struct serve_opts *o)
{
	return o->cache ? (uint64_t)o->cache : (uint64_t)*vms_tunable_find("cache_size")->valp;
}

/* --check-config: what a start would do, without listening. */
static int
serve_check(struct serve_opts *o)
{
	char err[512];
	int rc = serve_privileges_check(o, err, sizeof(err));
	if (rc == 0 && (rc = serve_memory_check(serve_cache_size(o), false, err, sizeof(err))) != 0)
		goto bad;
	if (rc == 0 && (rc = serve_tls_load(o, err, sizeof(err))) != 0)
		goto bad; /* err names the file and the reason */
	if (rc == 0) {
		rc = http_server_config_check(&o->cfg);
		if (rc == 0)
			rc = vm_init(16 << 20);
		if (rc == 0) {
			hostfs_register();
			objfs_register();
#ifdef VMSEND_HAVE_RADOS
			radosfs_register();
#endif
			rc = vfs_mounts_replace(o->mounts, o->nmounts);
			vfs_unmount_all();
		}
		if (rc != 0)
			snprintf(err, sizeof(err), "%s", strerror(-rc));
	}
bad:
	if (rc != 0) {
		fprintf(stderr, "vmsend serve: configuration%s%s is not valid: %s\n",
			o->config_path ? " " : "", o->config_path ? o->config_path : "", err);
		return 1;
	}
	printf("vmsend serve: configuration%s%s is valid\n", o->config_path ? " " : "",
	       o->config_path ? o->config_path : "");
	return 0;
}

int
cmd_serve(int argc, char **argv)
{
	struct serve_opts o;
	char err[512];
	int rc = serve_opts_parse(argc, argv, &o, err, sizeof(err));
	if (rc == 1)
		return 0;
	if (rc != 0) {
		fprintf(stderr, "vmsend serve: %s\n", err);
		return 2;
	}
	for (int i = 0; i < o.nsets; i++)
		vms_tunable_set_arg(o.sets[i]); /* checked by the parser */
	if (o.log_level >= 0)
		vms_log_level = o.log_level;
	if (o.check_config) {
		rc = serve_check(&o);
		serve_opts_free(&o);
		return rc;
	}
	if (serve_listen_fds(&o, err, sizeof(err)) != 0 ||
	    serve_privileges_check(&o, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmsend serve: %s\n", err);
		serve_opts_free(&o);
		return 2;
	}
	if ((rc = serve_error_log_open(o.error_log)) != 0) {
		fprintf(stderr, "vmsend serve: cannot open --error-log %s: %s\n", o.error_log,
			strerror(-rc));
		serve_opts_free(&o);
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	/*
	 * Block our signals before any thread exists (the page cache, the file
	 * systems and the server may all start some): every thread inherits the
	 * block, and only the loop below takes them.
	 */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	struct http_server *srv = NULL;
	if (serve_memory_check(serve_cache_size(&o), true, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmsend serve: %s\n", err);
		rc = -ENOMEM;
		goto fail;
	}
	rc = vm_init((uint64_t)o.cache);
	if (rc != 0) {
		fprintf(stderr, "vmsend serve: cannot create the page cache: %s\n", strerror(-rc));
		goto fail;
	}
	serve_name_cache_size(&o);
	hostfs_register();
	objfs_register();
#ifdef VMSEND_HAVE_RADOS
	radosfs_register();
#endif
	rc = vfs_mounts_replace(o.mounts, o.nmounts);
	if (rc != 0) {
		fprintf(stderr, "vmsend serve: cannot mount %s: %s (want /PREFIX=FS:SOURCE)\n",
			o.nmounts == 1 ? o.mounts[0] : "the file systems", strerror(-rc));
		goto fail;
	}
	if ((rc = serve_tls_load(&o, err, sizeof(err))) != 0) {
		fprintf(stderr, "vmsend serve: %s\n", err);
		goto fail;
	}
	if (o.cfg.tls != NULL)
		vms_ktls_probe(); /* logs which path makes the records */
	o.cfg.after_bind = serve_after_bind;
	o.cfg.after_bind_arg = &o;
	rc = http_server_start(&o.cfg, &srv);
	if (rc != 0)
		goto fail;
	if (!o.cfg.quiet) {
		serve_banner(&o, srv);
		int nt = http_server_threads(srv);
		printf("vmsend: %d thread%s, %llu MiB page cache; Ctrl-C stops\n", nt,
		       nt == 1 ? "" : "s", (unsigned long long)(vm_arena_size() >> 20));
		fflush(stdout);
	}
	serve_notify("READY=1\nSTATUS=serving\nMAINPID=%lu", (unsigned long)getpid());

	uint64_t wd_usec = 0;
#ifdef VMSEND_HAVE_SYSTEMD
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
#endif
	for (;;) {
		int sig;
		if (wd_usec != 0) {
			/* Pet at half the interval; a wedged main thread stops petting. */
			struct timespec ts = {.tv_sec = (time_t)(wd_usec / 2000000),
					      .tv_nsec = (long)(wd_usec / 2 % 1000000) * 1000};
			sig = sigtimedwait(&sigs, NULL, &ts);
			if (sig < 0) {
				serve_notify("WATCHDOG=1");
				continue;
			}
		} else if (sigwait(&sigs, &sig) != 0) {
			continue;
		}
		if (sig == SIGHUP) {
			LOG_INFO("serve", "SIGHUP: reloading");
			serve_reload(&o, srv, argc, argv);
		} else if (sig == SIGUSR1) {
			int e1 = serve_error_log_open(o.error_log);
			int e2 = http_server_reopen_logs(srv);
			if (e1 != 0 || e2 != 0)
				LOG_ERR("serve", "SIGUSR1: cannot reopen a log: %s",
					strerror(-(e1 ? e1 : e2)));
			else
				LOG_INFO("serve", "SIGUSR1: logs reopened");
		} else {
			LOG_INFO("http", "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
	}
	serve_notify("STOPPING=1");
	http_server_stop(srv);
	if (!o.cfg.quiet)
		printf("vmsend: stopped\n");
	vfs_unmount_all();
	serve_opts_free(&o);
	return 0;
fail:
	vfs_unmount_all();
	serve_opts_free(&o);
	return 1;
}

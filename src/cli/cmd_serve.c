/*
 * `vmsend serve`: the HTTP/1.1 static-file server (src/http).
 *
 * This file only turns flags into a struct http_server_config, sets up the
 * page cache and the mounts, starts the server and waits for SIGINT or
 * SIGTERM.
 */
#include "cli/commands.h"
#include "core/log.h"
#include "core/tunable.h"
#include "fs/hostfs/hostfs.h"
#include "fs/objfs/objfs_vfs.h"
#include "http/http_server.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
serve_usage(FILE *f)
{
	fprintf(
	    f, "usage: vmsend serve [FLAGS]\n"
	       "\n"
	       "Serve files over HTTP/1.1 and HTTP/2 (GET, HEAD, ranges, conditional requests)\n"
	       "through vmsend's page cache and sendfile engine.\n"
	       "\n"
	       "What to serve:\n"
	       "  --root DIR             serve the host directory DIR at / (same as\n"
	       "                         --mount /=hostfs:DIR); default: the current directory\n"
	       "  --mount /PREFIX=FS:SRC mount a file system at PREFIX: hostfs:DIR (a host\n"
	       "                         directory) or objfs:IMAGE (made by 'vmsend mkimage',\n"
	       "                         checksummed, cached in the ARC); repeatable\n"
	       "  --listing              list directories that have no index.html (default: 404)\n"
	       "  --dotfiles             serve names starting with '.' (default: hidden, 404)\n"
	       "\n"
	       "Where to listen:\n"
	       "  --listen ADDR:PORT     address to listen on, e.g. 127.0.0.1:8080, [::1]:8080,\n"
	       "                         :8080 (all IPv4); repeatable; default 127.0.0.1:8080\n"
	       "  --threads N            event loops, each with its own io_uring and\n"
	       "                         SO_REUSEPORT listeners; default: one per CPU\n"
	       "  --max-connections N    close new connections beyond N at once (default 10000)\n"
	       "  --h2c                  also speak HTTP/2 with prior knowledge (h2c) on the\n"
	       "                         --listen addresses: a connection that starts with the\n"
	       "                         HTTP/2 preface is HTTP/2, any other is HTTP/1.1\n"
	       "\n"
	       "Memory:\n"
	       "  --cache-size SIZE      page-cache size, e.g. 256M, 2G (default: the cache_size\n"
	       "                         tunable, 256M)\n"
	       "\n"
	       "Timeouts (seconds, fractions allowed; 0 disables):\n"
	       "  --idle-timeout S       keep-alive wait for the next request (default 60)\n"
	       "  --header-timeout S     time to send a whole request head, else 408 (default 10)\n"
	       "  --send-timeout S       time without send progress before a client that stopped\n"
	       "                         reading is cut off (default 30)\n"
	       "  --grace S              on SIGINT/SIGTERM, time in-flight responses get to\n"
	       "                         finish before they are cut (default 5)\n"
	       "\n"
	       "Observability:\n"
	       "  --access-log FILE|-    combined-format access log to FILE or stdout (off by\n"
	       "                         default)\n"
	       "  --no-metrics           do not serve /.vmsend/metrics\n"
	       "  --metrics-listen ADDR:PORT  serve /.vmsend/metrics only on this extra listener\n"
	       "  --log-level LEVEL      error, warn, info (default) or debug (per-connection\n"
	       "                         events: errors, timeouts, aborted responses)\n"
	       "  --quiet                no startup banner\n"
	       "  --set NAME=VALUE       set a tunable (see 'vmsend tunables'); repeatable\n"
	       "  --config FILE          read flags from FILE, one per line without the leading\n"
	       "                         '--' (\"listen 127.0.0.1:8080\", \"listing\"); '#' "
	       "comments;\n"
	       "                         command-line flags come after it (repeatable ones add)\n"
	       "  --help                 this text\n");
}

static int
serve_seconds(const char *flag, const char *v, uint32_t *ms)
{
	char *end;
	double s = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || s < 0 || s > 86400 * 7) {
		fprintf(stderr, "vmsend serve: %s wants seconds, got '%s'\n", flag, v);
		return -1;
	}
	*ms = (uint32_t)(s * 1000.0 + 0.5);
	return 0;
}

/*
 * --config FILE: one flag per line, written as on the command line without
 * the leading "--" ("listen 127.0.0.1:8080", "listing"); '#' starts a
 * comment.  The file's flags go first, so the command line overrides them.
 * Returns a new argv (never freed: the config keeps pointers into it) or
 * NULL after printing why.
 */
static char **serve_config_argv;

static char **
serve_load_config(int argc, char **argv, int *argcp)
{
	const char *path = NULL;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--config") == 0)
			path = argv[i + 1];
	if (path == NULL) {
		*argcp = argc;
		return argv;
	}
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "vmsend serve: cannot read --config %s: %s\n", path,
			strerror(errno));
		return NULL;
	}
	int cap = argc + 64, n = 0;
	char **out = calloc((size_t)cap, sizeof(*out));
	char line[4096];
	int lineno = 0;
	out[n++] = argv[0];
	while (out != NULL && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		char *h = strchr(line, '#');
		if (h)
			*h = '\0';
		char *save, *name = strtok_r(line, " \t\r\n", &save);
		if (name == NULL)
			continue;
		char *val = strtok_r(NULL, "\r\n", &save);
		while (val && (*val == ' ' || *val == '\t'))
			val++;
		if (strcmp(name, "config") == 0 || n + 2 >= cap - argc) {
			fprintf(stderr, "vmsend serve: %s:%d: '%s' not allowed here\n", path,
				lineno, name);
			fclose(f);
			return NULL;
		}
		if (asprintf(&out[n++], "--%s", name) < 0)
			break;
		if (val && *val)
			out[n++] = strdup(val);
	}
	fclose(f);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			i++;
			continue;
		}
		out[n++] = argv[i];
	}
	*argcp = n;
	serve_config_argv = out; /* the config points into it for the process's life */
	return out;
}

int
cmd_serve(int argc, char **argv)
{
	argv = serve_load_config(argc, argv, &argc);
	if (argv == NULL)
		return 2;
	struct http_server_config cfg;
	http_server_config_defaults(&cfg);
	const char *root = NULL;
	const char *mounts[16];
	int nmounts = 0;
	int64_t cache = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			serve_usage(stdout);
			return 0;
		}
		bool has_val = i + 1 < argc;
		const char *v = has_val ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                                               \
	do {                                                                                       \
		if (!has_val) {                                                                    \
			fprintf(stderr, "vmsend serve: %s needs a value\n", a);                    \
			return 2;                                                                  \
		}                                                                                  \
		i++;                                                                               \
	} while (0)
		if (strcmp(a, "--root") == 0) {
			NEED_VALUE();
			root = v;
		} else if (strcmp(a, "--mount") == 0) {
			NEED_VALUE();
			if (nmounts == 16) {
				fprintf(stderr, "vmsend serve: at most 16 --mount\n");
				return 2;
			}
			mounts[nmounts++] = v;
		} else if (strcmp(a, "--listen") == 0) {
			NEED_VALUE();
			if (cfg.nlisten == HTTP_MAX_LISTEN) {
				fprintf(stderr, "vmsend serve: at most %d --listen\n",
					HTTP_MAX_LISTEN);
				return 2;
			}
			cfg.listen[cfg.nlisten++] = v;
		} else if (strcmp(a, "--threads") == 0) {
			NEED_VALUE();
			cfg.threads = atoi(v);
			if (cfg.threads < 1 || cfg.threads > 1024) {
				fprintf(stderr, "vmsend serve: --threads wants 1..1024\n");
				return 2;
			}
		} else if (strcmp(a, "--max-connections") == 0) {
			NEED_VALUE();
			cfg.max_connections = atoi(v);
			if (cfg.max_connections < 1) {
				fprintf(stderr, "vmsend serve: --max-connections wants N >= 1\n");
				return 2;
			}
		} else if (strcmp(a, "--cache-size") == 0) {
			NEED_VALUE();
			if (vms_parse_size(v, &cache) != 0 || cache <= 0) {
				fprintf(stderr, "vmsend serve: bad --cache-size '%s' (e.g. 256M)\n",
					v);
				return 2;
			}
		} else if (strcmp(a, "--idle-timeout") == 0) {
			NEED_VALUE();
			if (serve_seconds(a, v, &cfg.idle_timeout_ms))
				return 2;
		} else if (strcmp(a, "--header-timeout") == 0) {
			NEED_VALUE();
			if (serve_seconds(a, v, &cfg.header_timeout_ms))
				return 2;
		} else if (strcmp(a, "--send-timeout") == 0) {
			NEED_VALUE();
			if (serve_seconds(a, v, &cfg.send_timeout_ms))
				return 2;
		} else if (strcmp(a, "--grace") == 0) {
			NEED_VALUE();
			if (serve_seconds(a, v, &cfg.grace_ms))
				return 2;
		} else if (strcmp(a, "--access-log") == 0) {
			NEED_VALUE();
			cfg.access_log = v;
		} else if (strcmp(a, "--metrics-listen") == 0) {
			NEED_VALUE();
			cfg.metrics_listen = v;
		} else if (strcmp(a, "--no-metrics") == 0) {
			cfg.metrics = false;
		} else if (strcmp(a, "--listing") == 0) {
			cfg.listing = true;
		} else if (strcmp(a, "--dotfiles") == 0) {
			cfg.dotfiles = true;
		} else if (strcmp(a, "--log-level") == 0) {
			NEED_VALUE();
			int lv = vms_log_level_parse(v);
			if (lv < 0) {
				fprintf(stderr,
					"vmsend serve: --log-level wants error|warn|info|debug\n");
				return 2;
			}
			vms_log_level = lv;
		} else if (strcmp(a, "--h2c") == 0) {
			cfg.h2c = true;
		} else if (strcmp(a, "--quiet") == 0) {
			cfg.quiet = true;
		} else if (strcmp(a, "--set") == 0) {
			NEED_VALUE();
			if (vms_tunable_set_arg(v) != 0) {
				fprintf(stderr,
					"vmsend serve: bad --set '%s' (see vmsend tunables)\n", v);
				return 2;
			}
		} else {
			fprintf(stderr, "vmsend serve: unknown flag '%s' (try --help)\n", a);
			return 2;
		}
#undef NEED_VALUE
	}
	if (root != NULL && nmounts > 0) {
		bool has_root = false;
		for (int i = 0; i < nmounts; i++)
			has_root |= strncmp(mounts[i], "/=", 2) == 0;
		if (has_root) {
			fprintf(stderr, "vmsend serve: --root and --mount /=... both mount /\n");
			return 2;
		}
	}
	if (cfg.metrics_listen && !cfg.metrics) {
		fprintf(stderr, "vmsend serve: --metrics-listen and --no-metrics contradict\n");
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	/*
	 * Block SIGINT/SIGTERM before any thread exists (the page cache, the
	 * file systems and the server may all start some): every thread inherits
	 * the block, and only http_server_wait_signal() takes them.
	 */
	sigset_t stop_sigs;
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
	int rc = vm_init((uint64_t)cache);
	if (rc != 0) {
		fprintf(stderr, "vmsend serve: cannot create the page cache: %s\n", strerror(-rc));
		return 1;
	}
	hostfs_register();
	objfs_register();
	if (root == NULL && nmounts == 0)
		root = ".";
	if (root != NULL) {
		struct mount *mp;
		rc = vfs_mount("/", "hostfs", root, &mp);
		if (rc != 0) {
			fprintf(stderr, "vmsend serve: cannot serve %s: %s\n", root, strerror(-rc));
			return 1;
		}
	}
	for (int i = 0; i < nmounts; i++) {
		struct mount *mp;
		rc = vfs_mount_spec(mounts[i], &mp);
		if (rc != 0) {
			fprintf(stderr,
				"vmsend serve: cannot mount '%s': %s (want /PREFIX=FS:SOURCE)\n",
				mounts[i], strerror(-rc));
			return 1;
		}
	}

	struct http_server *srv;
	rc = http_server_start(&cfg, &srv);
	if (rc != 0)
		return 1;
	if (!cfg.quiet) {
		int nl = cfg.nlisten ? cfg.nlisten : 1;
		for (int i = 0; i < nl; i++) {
			const char *a = cfg.nlisten ? cfg.listen[i] : "127.0.0.1:8080";
			printf("vmsend: listening on %s (port %d)\n", a, http_server_port(srv, i));
		}
		if (cfg.metrics_listen)
			printf("vmsend: metrics on %s/.vmsend/metrics (port %d)\n",
			       cfg.metrics_listen, http_server_port(srv, nl));
		else if (cfg.metrics)
			printf("vmsend: metrics at /.vmsend/metrics\n");
		if (root)
			printf("vmsend: serving %s at /\n", root);
		for (int i = 0; i < nmounts; i++)
			printf("vmsend: serving %s\n", mounts[i]);
		printf("vmsend: %d threads, %llu MiB page cache; Ctrl-C stops\n",
		       cfg.threads ? cfg.threads : (int)sysconf(_SC_NPROCESSORS_ONLN),
		       (unsigned long long)(vm_arena_size() >> 20));
		fflush(stdout);
	}
	http_server_wait_signal();
	http_server_stop(srv);
	if (!cfg.quiet)
		printf("vmsend: stopped\n");
	vfs_unmount_all();
	return 0;
}

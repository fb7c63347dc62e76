/*
 * `vmsend serve` flags and --config FILE.
 *
 * A config file holds the same flags, one per line without the leading
 * "--" ("listen 127.0.0.1:8080", "listing", "header *.html Cache-Control:
 * no-cache"); '#' starts a comment.  The file's flags come first, so the
 * command line overrides single-valued ones and adds to repeatable ones.
 * The parser has no side effects: the same code checks a file for
 * --check-config and for a reload, and a refused file changes nothing.
 */
#ifdef VMSEND_HAVE_RADOS
#include "fs/radosfs/radosfs.h"
#endif
#include "cli/serve.h"
#include "http/http_proto.h"

#include "core/log.h"
#include "core/tunable.h"
#include "tls/tls.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
serve_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: vmsend serve [FLAGS]\n"
	    "\n"
	    "Serve files over HTTP/1.1 and HTTP/2 (GET, HEAD, ranges, conditional requests)\n"
	    "through vmsend's page cache and sendfile engine.\n"
	    "\n"
	    "What to serve:\n"
	    "  --root DIR             serve the host directory DIR at / (same as\n"
	    "                         --mount /=hostfs:DIR); default: the current directory\n"
	    "  --mount /PREFIX=FS:SRC\n"
	    "                         mount a file system at PREFIX: hostfs:DIR (a host\n"
	    "                         directory) or objfs:IMAGE (made by 'vmsend mkimage',\n"
	    "                         checksummed, cached in the ARC) or rados:POOL[/NS] (a\n"
	    "                         dataset put with 'vmsend rados put'); repeatable\n"
	    "  --ceph-conf FILE       ceph.conf for rados mounts (default: $CEPH_CONF)\n"
	    "  --listing              list directories that have no index.html (default: 404)\n"
	    "  --dotfiles             serve names starting with '.' (default: hidden, 404)\n"
	    "  --precompressed        serve FILE.br, FILE.zst or FILE.gz in place of FILE\n"
	    "                         when it exists, is not older than FILE and the\n"
	    "                         client's Accept-Encoding allows it (default: off)\n"
	    "\n"
	    "Response headers (PATTERN: fnmatch on the URL path, '*' crosses '/';\n"
	    "without a leading '/' it matches the last segment, e.g. '*.html'):\n"
	    "  --header 'PATTERN NAME: VALUE'   add a header; repeatable, later rules\n"
	    "                         for the same NAME win; Content-Type replaces the\n"
	    "                         type a file's extension gives\n"
	    "  --cache-control 'PATTERN VALUE'  same as --header 'PATTERN Cache-Control: VALUE'\n"
	    "  --expires 'PATTERN TIME'  Expires: now + TIME (seconds, or with s, m, h, d),\n"
	    "                         and Cache-Control: max-age unless a rule sets it\n"
	    "\n"
	    "Where to listen:\n"
	    "  --listen ADDR:PORT     address to listen on, e.g. 127.0.0.1:8080, [::1]:8080,\n"
	    "                         unix:/run/vmsend.sock (mode from the umask),\n"
	    "                         :8080 (all IPv4); repeatable; default 127.0.0.1:8080\n"
	    "  --threads N            event loops, each with its own io_uring and\n"
	    "                         its own accepts on every listener; default: one per CPU\n"
	    "                         it may use (its affinity, its cgroup's CPU quota)\n"
	    "  --max-connections N    close new connections beyond N at once (default 10000)\n"
	    "  --h2c                  also speak HTTP/2 with prior knowledge (h2c) on the\n"
	    "                         --listen addresses: a connection that starts with the\n"
	    "                         HTTP/2 preface is HTTP/2, any other is HTTP/1.1\n"
	    "                         (which may ask for HTTP/2 with Upgrade: h2c)\n"
	    "\n"
	    "HTTPS (TLS 1.3 and 1.2, AES-GCM / ChaCha20-Poly1305, records made from the\n"
	    "page cache by the sendfile engine; kernel TLS when the kernel has it):\n"
	    "  --listen-tls ADDR:PORT an HTTPS listener; repeatable, beside --listen\n"
	    "  --tls-cert FILE        PEM certificate chain; repeatable, each with its\n"
	    "  --tls-key FILE         PEM private key; the first pair is the default, the\n"
	    "                         others are chosen by SNI against their names; a pair\n"
	    "                         with the names of an earlier one and another key\n"
	    "                         type (RSA beside ECDSA) serves clients that cannot\n"
	    "                         use the first (read again on SIGHUP: new\n"
	    "                         connections get them)\n"
	    "                         ALPN offers h2 (HTTP/2, preferred) and http/1.1\n"
	    "  --tls-ticket-key FILE  session-ticket key shared with other servers (80\n"
	    "                         random bytes: openssl rand 80); repeatable, up to 4:\n"
	    "                         the first seals new tickets, all open them (default:\n"
	    "                         the process's own keys, rotated hourly)\n"
	    "  --no-h2                TLS listeners offer http/1.1 only\n"
	    "  --hsts SECONDS         send Strict-Transport-Security: max-age=SECONDS\n"
	    "  --https-redirect       plain listeners answer 301 to https:// (first TLS port)\n"
	    "\n"
	    "Memory:\n"
	    "  --cache-size SIZE      page-cache size, e.g. 256M, 2G (default: the cache_size\n"
	    "                         tunable, 256M); held for the life of the process, so\n"
	    "                         a size beyond the free memory or the cgroup's limit\n"
	    "                         is refused at start.  It holds as many files as a\n"
	    "                         quarter of its pages, or as the descriptors\n"
	    "                         (ulimit -n) left after --max-connections\n"
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
	    "  --error-log FILE       write errors and warnings to FILE instead of stderr\n"
	    "  --no-metrics           do not serve /.vmsend/metrics (default: served on every\n"
	    "                         listener to this machine's clients: loopback, unix)\n"
	    "  --metrics-listen ADDR:PORT  serve /.vmsend/metrics only on this extra\n"
	    "                         listener, to every client (a scraper elsewhere)\n"
	    "  --log-level LEVEL      error, warn, info (default) or debug (per-connection\n"
	    "                         events: errors, timeouts, aborted responses)\n"
	    "  --quiet                no startup banner\n"
	    "  --set NAME=VALUE       set a tunable (see 'vmsend tunables'); repeatable\n"
	    "\n"
	    "Privileges:\n"
	    "  --user USER            started as root: bind, then run as USER (and its group),\n"
	    "                         keeping only CAP_IPC_LOCK (the cache is pinned for I/O)\n"
	    "  --group GROUP          ... and as GROUP\n"
	    "  --allow-root           serve as root without --user (refused otherwise)\n"
	    "\n"
	    "Configuration and signals:\n"
	    "  --config FILE          read flags from FILE, one per line without the leading\n"
	    "                         '--' (\"listen 127.0.0.1:8080\", \"listing\"); '#' "
	    "comments;\n"
	    "                         command-line flags come after it (repeatable ones add)\n"
	    "  --check-config         check the flags and FILE (mounts included), then exit:\n"
	    "                         0 if the server would start with them\n"
	    "  SIGHUP                 re-read --config: mounts, listeners, headers, options,\n"
	    "                         certificates;\n"
	    "                         open connections finish on the old settings, new ones\n"
	    "                         get the new; a file with an error is refused and logged\n"
	    "  SIGUSR1                reopen --access-log and --error-log (for logrotate)\n"
	    "  SIGINT, SIGTERM        stop, giving responses in flight --grace seconds\n"
	    "  --help                 this text\n");
}

char *
serve_own(struct serve_opts *o, char *s)
{
	if (s == NULL)
		return NULL;
	if (o->nowned == o->capowned) {
		int cap = o->capowned ? 2 * o->capowned : 64;
		char **n = realloc(o->owned, sizeof(*n) * (size_t)cap);
		if (n == NULL) {
			free(s);
			return NULL;
		}
		o->owned = n;
		o->capowned = cap;
	}
	o->owned[o->nowned++] = s;
	return s;
}

void
serve_opts_free(struct serve_opts *o)
{
	for (int i = 0; i < o->nowned; i++)
		free(o->owned[i]);
	free(o->owned);
	o->owned = NULL;
	o->nowned = o->capowned = 0;
	tls_server_free(o->cfg.tls); /* the options' reference; generations hold their own */
	o->cfg.tls = NULL;
}

__attribute__((format(printf, 3, 4))) static int
serve_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
serve_seconds(const char *v, uint32_t *ms)
{
	char *end;
	double s = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || s < 0 || s > 86400 * 7)
		return -1;
	*ms = (uint32_t)(s * 1000.0 + 0.5);
	return 0;
}

/* "3600", "90s", "15m", "12h", "30d" -> seconds */
static int
serve_duration(const char *v, long long *secs)
{
	char *end;
	long long n = strtoll(v, &end, 10);
	long long mul = 1;
	if (end == v || n < 0)
		return -1;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		mul = 60, end++;
	else if (*end == 'h')
		mul = 3600, end++;
	else if (*end == 'd')
		mul = 86400, end++;
	if (*end != '\0' || n > 10LL * 366 * 86400 / mul)
		return -1;
	*secs = n * mul;
	return 0;
}

static bool
serve_token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("!#$%&'*+-.^_`|~", s[i]))
			return false;
	return true;
}

/* A header value goes out verbatim: visible ASCII, spaces and tabs only (no CR/LF). */
static bool
serve_field_value(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
		else if ((unsigned char)*s == 0x7f)
			return false;
	return true;
}

/* Headers each response computes (framing, validators): a rule would send a second one. */
static bool
serve_header_computed(const char *name)
{
	static const char *const computed[] = {
	    "Accept-Ranges", "Connection", "Content-Encoding",  "Content-Length", "Content-Range",
	    "Date",          "ETag",       "Keep-Alive",        "Last-Modified",  "Location",
	    "Server",        "Trailer",    "Transfer-Encoding", "Upgrade",
	};
	for (size_t i = 0; i < sizeof(computed) / sizeof(computed[0]); i++)
		if (strcasecmp(name, computed[i]) == 0)
			return true;
	return false;
}

/*
 * --header 'PATTERN NAME: VALUE', --cache-control 'PATTERN VALUE',
 * --expires 'PATTERN TIME' into a rule.  0 or -1 (err says why).
 */
static int
serve_header_rule(struct serve_opts *o, const char *flag, const char *v, char *err, size_t errlen)
{
	struct http_server_config *c = &o->cfg;
	if (c->nheader_rules == HTTP_MAX_HEADER_RULES)
		return serve_err(err, errlen, "at most %d header rules", HTTP_MAX_HEADER_RULES);
	const char *sp = strpbrk(v, " \t");
	if (sp == NULL || sp == v)
		return serve_err(err, errlen, "%s wants 'PATTERN ...', got '%s'", flag, v);
	char *pattern = serve_own(o, strndup(v, (size_t)(sp - v)));
	while (*sp == ' ' || *sp == '\t')
		sp++;
	const char *name, *value;
	if (strcmp(flag, "--header") == 0) {
		const char *colon = strchr(sp, ':');
		size_t nlen = colon ? (size_t)(colon - sp) : 0;
		if (colon == NULL || !serve_token(sp, nlen))
			return serve_err(err, errlen,
					 "--header wants 'PATTERN NAME: VALUE', got '%s'", v);
		name = serve_own(o, strndup(sp, nlen));
		value = colon + 1;
		while (*value == ' ' || *value == '\t')
			value++;
		if (strcasecmp(name ? name : "", "Expires") == 0)
			return serve_err(err, errlen, "use --expires 'PATTERN TIME' for Expires");
		if (serve_header_computed(name ? name : ""))
			return serve_err(err, errlen,
					 "--header %s: vmsend sets it for each response", name);
	} else if (strcmp(flag, "--cache-control") == 0) {
		name = "Cache-Control";
		value = sp;
	} else {
		long long secs;
		if (serve_duration(sp, &secs) != 0)
			return serve_err(
			    err, errlen,
			    "--expires wants 'PATTERN TIME' (3600, 30m, 12h, 7d), got '%s'", v);
		name = "Expires";
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", secs);
		value = serve_own(o, strdup(buf));
	}
	if (pattern == NULL || name == NULL || value == NULL)
		return serve_err(err, errlen, "out of memory");
	if (*value == '\0' || !serve_field_value(value))
		return serve_err(err, errlen, "%s '%s': empty value or control characters", flag,
				 v);
	c->header_rules[c->nheader_rules++] =
	    (struct http_header_rule){.pattern = pattern, .name = name, .value = value};
	return 0;
}

/*
 * The --config file's lines as flags, appended to *out, with the line each
 * came from in (*lines)[] (arrays of *cap entries, grown together).
 */
static int
serve_config_read(struct serve_opts *o, const char *path, const char ***out, int **lines, int *n,
		  int *cap, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return serve_err(err, errlen, "cannot read --config %s: %s", path, strerror(errno));
	char line[HTTP_MAX_HEADER_BYTES]; /* room for any header a rule can add */
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			rc = serve_err(err, errlen, "%s:%d: line longer than %zu bytes", path,
				       lineno, sizeof(line) - 2);
			break;
		}
		char *h = strchr(line, '#');
		if (h)
			*h = '\0';
		char *save, *name = strtok_r(line, " \t\r\n", &save);
		if (name == NULL)
			continue;
		char *val = strtok_r(NULL, "\r\n", &save);
		while (val && (*val == ' ' || *val == '\t'))
			val++;
		if (val) { /* trailing blanks are not part of a value */
			size_t l = strlen(val);
			while (l > 0 && (val[l - 1] == ' ' || val[l - 1] == '\t'))
				val[--l] = '\0';
		}
		if (strcmp(name, "config") == 0 || strcmp(name, "check-config") == 0) {
			rc = serve_err(err, errlen, "%s:%d: '%s' not allowed here", path, lineno,
				       name);
			break;
		}
		if (*n + 2 >= *cap) {
			const char **nv = realloc(*out, sizeof(*nv) * (size_t)*cap * 2);
			if (nv != NULL)
				*out = nv;
			int *nl = realloc(*lines, sizeof(*nl) * (size_t)*cap * 2);
			if (nl != NULL)
				*lines = nl;
			if (nv == NULL || nl == NULL) {
				rc = serve_err(err, errlen, "out of memory");
				break;
			}
			*cap *= 2;
		}
		char *flag;
		if (asprintf(&flag, "--%s", name) < 0 || serve_own(o, flag) == NULL) {
			rc = serve_err(err, errlen, "out of memory");
			break;
		}
		(*lines)[*n] = lineno;
		(*out)[(*n)++] = flag;
		if (val && *val) {
			(*lines)[*n] = lineno;
			(*out)[(*n)++] = serve_own(o, strdup(val));
		}
	}
	fclose(f);
	return rc;
}

static int serve_flags(struct serve_opts *o, int argc, const char **argv, const int *lines, int *at,
		       char *err, size_t errlen);

int
serve_opts_parse(int argc, char **argv, struct serve_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	http_server_config_defaults(&o->cfg);
	o->log_level = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			serve_usage(stdout);
			return 1;
		}
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			o->config_path = argv[i + 1];
	}
	int cap = argc + 64, n = 0, at = -1;
	const char **all = malloc(sizeof(*all) * (size_t)cap);
	int *lines = malloc(sizeof(*lines) * (size_t)cap);
	int rc = all && lines ? 0 : serve_err(err, errlen, "out of memory");
	if (rc == 0 && o->config_path)
		rc = serve_config_read(o, o->config_path, &all, &lines, &n, &cap, err, errlen);
	if (rc == 0) {
		int nfile = n;
		for (int i = 1; i < argc; i++) { /* room: cap was kept argc ahead */
			lines[n] = 0;
			all[n++] = argv[i];
		}
		rc = serve_flags(o, n, all, lines, &at, err, errlen);
		if (rc != 0 && at >= 0 && at < nfile) {
			/* Say where in the file, as "FILE:LINE: what". */
			char why[1024];
			snprintf(why, sizeof(why), "%s", err);
			serve_err(err, errlen, "%s:%d: %s", o->config_path, lines[at], why);
		}
	}
	free(all);
	free(lines);
	if (rc != 0)
		serve_opts_free(o);
	return rc;
}

/*
 * argv[] with lines[]: the config file's line of each entry (0: the command
 * line), so that a flag takes its value only from its own line.  On an
 * error, *at is the index of the flag it is about (-1: the whole set).
 */
static int
serve_flags(struct serve_opts *o, int argc, const char **argv, const int *lines, int *at, char *err,
	    size_t errlen)
{
	struct http_server_config *cfg = &o->cfg;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc && lines[i + 1] == lines[i];
		*at = i;
		const char *v = has_val ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                                               \
	do {                                                                                       \
		if (!has_val)                                                                      \
			return serve_err(err, errlen, "%s needs a value", a);                      \
		i++;                                                                               \
	} while (0)
		if (strcmp(a, "--root") == 0) {
			NEED_VALUE();
			o->root = v;
		} else if (strcmp(a, "--mount") == 0) {
			NEED_VALUE();
			if (o->nmounts == SERVE_MAX_MOUNTS)
				return serve_err(err, errlen, "at most %d --mount",
						 SERVE_MAX_MOUNTS);
			o->mounts[o->nmounts++] = v;
		} else if (strcmp(a, "--ceph-conf") == 0) {
			NEED_VALUE();
#ifdef VMSEND_HAVE_RADOS
			radosfs_set_conf(v);
#endif
		} else if (strcmp(a, "--config") == 0) {
			NEED_VALUE(); /* read first, by serve_opts_parse */
		} else if (strcmp(a, "--check-config") == 0) {
			o->check_config = true;
		} else if (strcmp(a, "--listen") == 0) {
			NEED_VALUE();
			if (cfg->nlisten == HTTP_MAX_LISTEN)
				return serve_err(err, errlen, "at most %d --listen",
						 HTTP_MAX_LISTEN);
			cfg->listen[cfg->nlisten++] = v;
		} else if (strcmp(a, "--listen-tls") == 0) {
			NEED_VALUE();
			if (cfg->nlisten_tls == HTTP_MAX_LISTEN)
				return serve_err(err, errlen, "at most %d --listen-tls",
						 HTTP_MAX_LISTEN);
			cfg->listen_tls[cfg->nlisten_tls++] = v;
		} else if (strcmp(a, "--tls-cert") == 0 || strcmp(a, "--tls-key") == 0) {
			NEED_VALUE();
			bool cert = a[6] == 'c';
			int *k = cert ? &o->ntls_cert : &o->ntls_key;
			if (*k == 16)
				return serve_err(err, errlen, "at most 16 %s", a);
			(cert ? o->tls_cert : o->tls_key)[(*k)++] = v;
		} else if (strcmp(a, "--tls-ticket-key") == 0) {
			NEED_VALUE();
			if (o->ntls_ticket_key == TLS_MAX_TICKET_KEYS)
				return serve_err(err, errlen, "at most %d --tls-ticket-key",
						 TLS_MAX_TICKET_KEYS);
			o->tls_ticket_key[o->ntls_ticket_key++] = v;
		} else if (strcmp(a, "--hsts") == 0) {
			NEED_VALUE();
			char *end;
			unsigned long hs = strtoul(v, &end, 10);
			if (*v == '\0' || *end != '\0' || hs == 0 || hs > 100000000ul)
				return serve_err(err, errlen, "--hsts wants seconds > 0");
			cfg->hsts_max_age = (uint32_t)hs;
		} else if (strcmp(a, "--https-redirect") == 0) {
			cfg->https_redirect = true;
		} else if (strcmp(a, "--threads") == 0) {
			NEED_VALUE();
			cfg->threads = atoi(v);
			if (cfg->threads < 1 || cfg->threads > 1024)
				return serve_err(err, errlen, "--threads wants 1..1024");
		} else if (strcmp(a, "--max-connections") == 0) {
			NEED_VALUE();
			cfg->max_connections = atoi(v);
			if (cfg->max_connections < 1)
				return serve_err(err, errlen, "--max-connections wants N >= 1");
		} else if (strcmp(a, "--cache-size") == 0) {
			NEED_VALUE();
			if (vms_parse_size(v, &o->cache) != 0 || o->cache <= 0)
				return serve_err(err, errlen, "bad --cache-size '%s' (e.g. 256M)",
						 v);
		} else if (strcmp(a, "--idle-timeout") == 0 || strcmp(a, "--header-timeout") == 0 ||
			   strcmp(a, "--send-timeout") == 0 || strcmp(a, "--grace") == 0) {
			NEED_VALUE();
			uint32_t *ms = a[2] == 'i'   ? &cfg->idle_timeout_ms
				       : a[2] == 'h' ? &cfg->header_timeout_ms
				       : a[2] == 's' ? &cfg->send_timeout_ms
						     : &cfg->grace_ms;
			if (serve_seconds(v, ms) != 0)
				return serve_err(err, errlen, "%s wants seconds, got '%s'", a, v);
		} else if (strcmp(a, "--access-log") == 0) {
			NEED_VALUE();
			cfg->access_log = v;
		} else if (strcmp(a, "--error-log") == 0) {
			NEED_VALUE();
			o->error_log = v;
		} else if (strcmp(a, "--metrics-listen") == 0) {
			NEED_VALUE();
			cfg->metrics_listen = v;
		} else if (strcmp(a, "--no-metrics") == 0) {
			cfg->metrics = false;
		} else if (strcmp(a, "--listing") == 0) {
			cfg->listing = true;
		} else if (strcmp(a, "--dotfiles") == 0) {
			cfg->dotfiles = true;
		} else if (strcmp(a, "--precompressed") == 0) {
			cfg->precompressed = true;
		} else if (strcmp(a, "--header") == 0 || strcmp(a, "--cache-control") == 0 ||
			   strcmp(a, "--expires") == 0) {
			NEED_VALUE();
			if (serve_header_rule(o, a, v, err, errlen) != 0)
				return -1;
		} else if (strcmp(a, "--log-level") == 0) {
			NEED_VALUE();
			o->log_level = vms_log_level_parse(v);
			if (o->log_level < 0)
				return serve_err(err, errlen,
						 "--log-level wants error|warn|info|debug");
		} else if (strcmp(a, "--h2c") == 0) {
			cfg->h2c = true;
		} else if (strcmp(a, "--no-h2") == 0) {
			o->no_h2 = true;
		} else if (strcmp(a, "--quiet") == 0) {
			cfg->quiet = true;
		} else if (strcmp(a, "--set") == 0) {
			NEED_VALUE();
			const char *eq = strchr(v, '=');
			char name[64];
			int64_t val;
			if (eq == NULL || (size_t)(eq - v) >= sizeof(name))
				return serve_err(err, errlen, "bad --set '%s' (want NAME=VALUE)",
						 v);
			memcpy(name, v, (size_t)(eq - v));
			name[eq - v] = '\0';
			if (vms_tunable_find(name) == NULL || vms_parse_size(eq + 1, &val) != 0)
				return serve_err(err, errlen,
						 "bad --set '%s' (see vmsend tunables)", v);
			if (o->nsets == SERVE_MAX_SETS)
				return serve_err(err, errlen, "at most %d --set", SERVE_MAX_SETS);
			o->sets[o->nsets++] = v;
		} else if (strcmp(a, "--user") == 0) {
			NEED_VALUE();
			o->user = v;
		} else if (strcmp(a, "--group") == 0) {
			NEED_VALUE();
			o->group = v;
		} else if (strcmp(a, "--allow-root") == 0) {
			o->allow_root = true;
		} else {
			return serve_err(err, errlen, "unknown flag '%s' (try --help)", a);
		}
#undef NEED_VALUE
		if (lines[i] > 0 && i + 1 < argc && lines[i + 1] == lines[i])
			return serve_err(err, errlen, "'%s' takes no value", a + 2);
	}
	*at = -1;
	if (o->root != NULL) {
		for (int i = 0; i < o->nmounts; i++)
			if (strncmp(o->mounts[i], "/=", 2) == 0)
				return serve_err(err, errlen,
						 "--root and --mount /=... both mount /");
	}
	if (o->root == NULL && o->nmounts == 0)
		o->root = ".";
	if (o->root != NULL) {
		char *spec;
		if (asprintf(&spec, "/=hostfs:%s", o->root) < 0 || serve_own(o, spec) == NULL)
			return serve_err(err, errlen, "out of memory");
		memmove(&o->mounts[1], &o->mounts[0], sizeof(o->mounts[0]) * (size_t)o->nmounts);
		o->mounts[0] = spec;
		o->nmounts++;
	}
	if (cfg->metrics_listen && !cfg->metrics)
		return serve_err(err, errlen, "--metrics-listen and --no-metrics contradict");
	if (o->ntls_cert != o->ntls_key)
		return serve_err(err, errlen, "--tls-cert and --tls-key come in pairs");
	if (cfg->nlisten_tls > 0 && o->ntls_cert == 0)
		return serve_err(err, errlen, "--listen-tls needs --tls-cert FILE --tls-key FILE");
	if (o->ntls_ticket_key > 0 && o->ntls_cert == 0)
		return serve_err(err, errlen,
				 "--tls-ticket-key needs --tls-cert FILE --tls-key FILE");
	if ((cfg->https_redirect || cfg->hsts_max_age) && cfg->nlisten_tls == 0)
		return serve_err(err, errlen, "--https-redirect and --hsts need --listen-tls");
	return 0;
}

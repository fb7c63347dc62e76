/*
 * `vmsend serve` options: the command line and --config FILE turned into
 * the server's settings (serve_config.c), and the process set-up around the
 * server: logs, privileges, systemd (serve_sys.c).  cmd_serve.c runs them.
 */
#ifndef VMSEND_CLI_SERVE_H
#define VMSEND_CLI_SERVE_H

#include "http/http_server.h"
#include "tls/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVE_MAX_MOUNTS 16
#define SERVE_MAX_SETS   32

struct serve_opts {
	struct http_server_config cfg;
	const char *mounts[SERVE_MAX_MOUNTS + 1]; /* "/PREFIX=FS:SRC", --root as "/=hostfs:DIR" */
	int nmounts;
	const char *root; /* --root DIR, for the banner */
	int64_t cache;    /* --cache-size, 0: the tunable */
	int log_level;    /* -1: unchanged */
	const char *sets[SERVE_MAX_SETS];
	int nsets;
	const char *config_path; /* --config FILE, re-read on SIGHUP */
	const char *error_log;   /* --error-log FILE: stderr goes there, reopened on SIGUSR1 */
	const char *user, *group;
	bool allow_root;
	bool check_config;
	const char *tls_cert[16], *tls_key[16]; /* --tls-cert / --tls-key pairs, in order */
	int ntls_cert, ntls_key;
	const char *
	    tls_ticket_key[TLS_MAX_TICKET_KEYS]; /* --tls-ticket-key files, the sealing one first */
	int ntls_ticket_key;
	bool no_h2;   /* --no-h2: TLS listeners offer ALPN http/1.1 only */
	char **owned; /* strings the options point into */
	int nowned, capowned;
};

/*
 * Parse the command line (argv[0] is "serve") with --config FILE's lines
 * before it.  0: o is filled (free with serve_opts_free); 1: --help was
 * printed; -1: err holds why (o needs no free).
 */
int serve_opts_parse(int argc, char **argv, struct serve_opts *o, char *err, size_t errlen);
void serve_opts_free(struct serve_opts *o);
/* Keep the malloc'd s alive as long as o (freed with it); NULL when memory ran out. */
char *serve_own(struct serve_opts *o, char *s);
void serve_usage(FILE *f);

#endif

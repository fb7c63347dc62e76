/*
 * `vmsend rados put|fsck|ls|stat|cat|gc`: write and inspect a dataset in a
 * Ceph pool (docs/rados-format.md).  Flags are parsed with getopt_long; the
 * work is in src/fs/radosfs.  `cat` streams through the radosfs pager and
 * the sendfile engine (it is `vmsend cat --mount /=rados:POOL[/NS]`).
 */
#ifdef VMSEND_HAVE_RADOS
#include "cli/commands.h"
#include "core/tunable.h"
#include "core/util.h"
#include "fs/radosfs/radosfs_tool.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
rados_usage(FILE *f)
{
	fprintf(f,
		"usage: vmsend rados COMMAND --pool POOL [--namespace NS] [--ceph-conf FILE] ...\n"
		"\n"
		"  put DIR [--stripe-size N] [--chunk-size N] [--no-progress]\n"
		"        upload DIR as a new dataset version (unchanged files are not sent)\n"
		"  fsck [--version V]      verify every object against the manifest\n"
		"  ls [PATH]               list a directory of the current version\n"
		"  stat PATH               a file's size, mtime, file id and objects\n"
		"  cat PATH                stream a file through the radosfs pager to stdout\n"
		"  gc [--keep K]           remove objects no manifest of the newest K versions\n"
		"                          (default 2) names\n"
		"\n"
		"  --ceph-conf FILE   ceph.conf (mon host, keyring); default: $CEPH_CONF or\n"
		"                     /etc/ceph/ceph.conf\n"
		"Operations wait up to 30 s for the cluster (radosfs_op_timeout_ms if higher).\n"
		"Exit status: 0 ok, 1 error or (fsck) broken objects found, 2 usage.\n");
}

struct rados_args {
	const char *pool, *ns, *conf;
	int64_t stripe, chunk;
	uint64_t version;
	unsigned keep;
	bool no_progress;
	int argi; /* first positional argument */
};

static int
rados_parse(int argc, char **argv, struct rados_args *a)
{
	static const struct option opts[] = {
	    {"pool", required_argument, NULL, 'p'},
	    {"namespace", required_argument, NULL, 'N'},
	    {"ceph-conf", required_argument, NULL, 'c'},
	    {"stripe-size", required_argument, NULL, 's'},
	    {"chunk-size", required_argument, NULL, 'k'},
	    {"version", required_argument, NULL, 'v'},
	    {"keep", required_argument, NULL, 'K'},
	    {"no-progress", no_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(a, 0, sizeof(*a));
	a->keep = 2;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "p:N:c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			a->pool = optarg;
			break;
		case 'N':
			a->ns = optarg;
			break;
		case 'c':
			a->conf = optarg;
			break;
		case 's':
		case 'k':
			if (vms_parse_size(optarg, ch == 's' ? &a->stripe : &a->chunk) != 0 ||
			    (ch == 's' ? a->stripe : a->chunk) <= 0 ||
			    (ch == 's' ? a->stripe : a->chunk) > (1 << 30)) {
				fprintf(stderr, "vmsend rados: bad size '%s' (e.g. 4M, 64K)\n",
					optarg);
				return -1;
			}
			break;
		case 'v':
			a->version = strtoull(optarg, NULL, 10);
			break;
		case 'K':
			a->keep = (unsigned)atoi(optarg);
			if (a->keep < 1) {
				fprintf(stderr, "vmsend rados gc: --keep wants K >= 1\n");
				return -1;
			}
			break;
		case 'P':
			a->no_progress = true;
			break;
		case 'h':
			rados_usage(stdout);
			return 1;
		default:
			rados_usage(stderr);
			return -1;
		}
	}
	a->argi = optind;
	if (a->pool == NULL) {
		fprintf(stderr, "vmsend rados: --pool POOL is required\n");
		return -1;
	}
	return 0;
}

static int
rados_connect_or_say(const struct rados_args *a, struct rfs_conn **c)
{
	char err[256] = "";
	int rv = rfs_conn_open(a->conf, a->pool, a->ns, c, err, sizeof(err));

	if (rv != 0)
		fprintf(stderr, "vmsend rados: %s\n", err);
	return rv;
}

/* Cleaned dataset path: no leading or trailing '/'. */
static void
rados_clean(const char *in, char *out, size_t sz)
{
	while (*in == '/')
		in++;
	snprintf(out, sz, "%s", in);
	size_t n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
}

static void
rados_print_entry(const struct rfs_entry *e, const char *name)
{
	char tbuf[32];
	time_t t = (time_t)e->mtime_sec;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s %04o %12" PRIu64 " %s %s%s\n", e->type == RFS_T_DIR ? "d" : "-", e->mode,
	       e->size, tbuf, name, e->type == RFS_T_DIR ? "/" : "");
}

static int
rados_ls_one(void *arg, const char *name, const struct rfs_entry *e)
{
	rados_print_entry(e, name);
	return 0;
}

static int
rados_inspect(const char *cmd, const struct rados_args *a, int argc, char **argv)
{
	struct rfs_conn *c;
	struct rfs_manifest *m;
	char err[256] = "", path[4096];
	int rc = 1;

	rados_clean(a->argi < argc ? argv[a->argi] : "", path, sizeof(path));
	if (strcmp(cmd, "stat") == 0 && a->argi >= argc) {
		fprintf(stderr, "vmsend rados stat: PATH is required\n");
		return 2;
	}
	if (rados_connect_or_say(a, &c) != 0)
		return 1;
	if (rfs_manifest_load(c, a->version, &m, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmsend rados %s: %s\n", cmd, err);
		rfs_conn_rele(c);
		return 1;
	}
	const struct rfs_entry *e = rfs_manifest_find(m, path);
	if (e == NULL) {
		fprintf(stderr,
			"vmsend rados %s: /%s: no such file or directory in version %" PRIu64 "\n",
			cmd, path, m->version);
	} else if (strcmp(cmd, "ls") == 0) {
		if (e->type == RFS_T_DIR)
			rfs_manifest_children(m, path, rados_ls_one, NULL);
		else
			rados_print_entry(e, path);
		rc = 0;
	} else {
		char oid[RFS_OID_MAX];
		printf("path: /%s\ntype: %s\nsize: %" PRIu64 "\nmtime: %" PRId64 ".%09u\n"
		       "mode: %04o\nversion: %" PRIu64 "\n",
		       e->path, e->type == RFS_T_DIR ? "directory" : "file", e->size, e->mtime_sec,
		       e->mtime_nsec, e->mode, m->version);
		if (e->type == RFS_T_FILE) {
			printf("fileid: %016" PRIx64 "\nstripe: %u\nchunk: %u\nobjects: %u\n",
			       e->fileid, m->stripe_size, m->chunk_size, e->nobjects);
			for (uint32_t k = 0; k < e->nobjects; k++) {
				rfs_object_name(oid, e->fileid, k);
				printf("  %s %10u bytes xxh3 %016" PRIx64 "%s\n", oid,
				       e->objects[k].len, e->objects[k].hash,
				       e->objects[k].stored ? "" : " (hole, not stored)");
			}
		}
		rc = 0;
	}
	rfs_manifest_rele(m);
	rfs_conn_rele(c);
	return rc;
}

static int
rados_cat(const struct rados_args *a, int argc, char **argv)
{
	char spec[1024], path[4096];

	if (a->argi >= argc) {
		fprintf(stderr, "vmsend rados cat: PATH is required\n");
		return 2;
	}
	rados_clean(argv[a->argi], path, sizeof(path));
	snprintf(spec, sizeof(spec), "/=rados:%s%s%s", a->pool, a->ns ? "/" : "",
		 a->ns ? a->ns : "");
	char *cargv[] = {"cat", path, "--mount", spec, "--ceph-conf", (char *)a->conf, NULL};
	return cmd_cat(a->conf ? 6 : 4, cargv);
}

int
cmd_rados(int argc, char **argv)
{
	struct rados_args a;
	struct rfs_conn *c;
	int rv;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		rados_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	/* A tool would rather wait than fail on a busy cluster (servers keep 3 s: fail fast). */
	radosfs_op_timeout_ms = MAX(radosfs_op_timeout_ms, 30000);
	rv = rados_parse(argc - 1, argv + 1, &a);
	if (rv != 0)
		return rv > 0 ? 0 : 2;
	a.argi += 1; /* indexes into argv, which has the subcommand before */
	if (strcmp(cmd, "ls") == 0 || strcmp(cmd, "stat") == 0)
		return rados_inspect(cmd, &a, argc, argv);
	if (strcmp(cmd, "cat") == 0)
		return rados_cat(&a, argc, argv);
	if (strcmp(cmd, "put") == 0) {
		if (a.argi >= argc) {
			fprintf(stderr, "vmsend rados put: DIR is required\n");
			return 2;
		}
		struct rfs_put_opts po = {
		    .stripe_size = (uint32_t)a.stripe,
		    .chunk_size = (uint32_t)a.chunk,
		    .progress = !a.no_progress && isatty(STDERR_FILENO),
		};
		struct rfs_put_result res;
		if (rados_connect_or_say(&a, &c) != 0)
			return 1;
		rv = rfs_put(c, argv[a.argi], &po, &res, stdout);
		rfs_conn_rele(c);
		return rv == 0 ? 0 : 1;
	}
	if (strcmp(cmd, "fsck") == 0) {
		if (rados_connect_or_say(&a, &c) != 0)
			return 1;
		rv = rfs_fsck(c, a.version, stdout);
		rfs_conn_rele(c);
		if (rv < 0)
			fprintf(stderr, "vmsend rados fsck: %s\n", strerror(-rv));
		return rv == 0 ? 0 : 1;
	}
	if (strcmp(cmd, "gc") == 0) {
		if (rados_connect_or_say(&a, &c) != 0)
			return 1;
		rv = rfs_gc(c, a.keep, stdout);
		rfs_conn_rele(c);
		return rv >= 0 ? 0 : 1;
	}
	fprintf(stderr, "vmsend rados: unknown command '%s'\n", cmd);
	rados_usage(stderr);
	return 2;
}
#endif

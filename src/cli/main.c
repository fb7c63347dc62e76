/*
 * vmsend: one binary, several commands.  Each command lives in its own
 * cmd_*.c and is listed once in the table below.
 */
#include "cli/commands.h"
#include "core/log.h"
#include "core/tunable.h"

#include <vmsend/vmsend.h> /* the version */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct vms_command commands[] = {
    {"demo", cmd_demo, "exercise the page cache and print its counters"},
    {"cat", cmd_cat, "stream a file to stdout through the sendfile engine"},
    {"mkimage", cmd_mkimage, "pack a directory into an objfs image"},
    {"fsck", cmd_fsck, "verify every checksum and structure of an objfs image"},
    {"objfs", cmd_objfs, "inspect an objfs image: ls, stat, cat, blocks, info"},
    {"serve", cmd_serve,
     "serve files over HTTP/1.1, HTTP/2 and HTTPS through the page cache and sendfile"},
    {"incident", cmd_incident,
     "reproduce the 2018 sendfile/ZFS panic, then avoid it (debug build)"},
    {"stat", cmd_stat, "live counters of a running server (requests/s, hit ratios, I/O)"},
    {"tunables", cmd_tunables, "list every tunable with its value and description"},
    {"cachesim", cmd_cachesim,
     "replay synthetic traces through the ARC, LRU, SIEVE and the optimum; print hit ratios"},
#ifdef VMSEND_HAVE_RADOS
    {"rados", cmd_rados,
     "write and inspect a dataset in a Ceph pool: put, fsck, ls, stat, cat, gc"},
#endif
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: vmsend COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nEvery tunable can be set with VMSEND_<NAME>=value in the environment or\n"
		   "--set name=value on the command line ('vmsend tunables' lists them).\n"
		   "Run 'vmsend COMMAND --help' for a command's flags, 'vmsend --version'\n"
		   "for the version.\n");
}

/*
 * Tunables come from the environment (VMSEND_<NAME>) and then from
 * "--set name=value" anywhere on the command line, which wins.  The --set
 * pairs are removed from argv before the command sees it.
 */
static int
apply_tunables(int *argcp, char **argv)
{
	if (vms_tunables_load_env() != 0)
		fprintf(stderr,
			"vmsend: warning: a VMSEND_* environment variable has a bad value\n");
	int out = 0;
	for (int i = 0; i < *argcp; i++) {
		if (strcmp(argv[i], "--set") == 0 && i + 1 < *argcp) {
			int error = vms_tunable_set_arg(argv[++i]);
			if (error != 0) {
				fprintf(stderr, "vmsend: --set %s: %s (see 'vmsend tunables')\n",
					argv[i],
					error == -ENOENT ? "no such tunable" : "bad value");
				return -1;
			}
			continue;
		}
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argcp = out;
	return 0;
}

int
main(int argc, char **argv)
{
	vms_log_set_fd(STDERR_FILENO); /* the library logs nowhere unless told; the CLI to stderr */
	if (apply_tunables(&argc, argv) != 0)
		return 2;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("vmsend %d.%d\n", VMSEND_VERSION_MAJOR, VMSEND_VERSION_MINOR);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmsend: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

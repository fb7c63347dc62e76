/*
 * vmsend: one binary, several commands.  Each command lives in its own
 * cmd_*.c and is listed once in the table below.
 */
#include "cli/commands.h"
#include "core/log.h"
#include "core/tunable.h"

#include <stdio.h>
#include <string.h>

static const struct vms_command commands[] = {
    {"demo", cmd_demo, "exercise the page cache and print its counters"},
    {"mkimage", cmd_mkimage, "pack a directory into an objfs image"},
    {"fsck", cmd_fsck, "verify every checksum and structure of an objfs image"},
    {"objfs", cmd_objfs, "inspect an objfs image: ls, stat, cat, blocks, info"},
    {"tunables", cmd_tunables, "list every tunable with its value and description"},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: vmsend COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nEvery tunable can be set with VMSEND_<NAME>=value in the environment.\n"
		   "Run 'vmsend COMMAND --help' for a command's flags.\n");
}

int
main(int argc, char **argv)
{
	if (vms_tunables_load_env() != 0)
		fprintf(stderr,
			"vmsend: warning: a VMSEND_* environment variable has a bad value\n");
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmsend: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

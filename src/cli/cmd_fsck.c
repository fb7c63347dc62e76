/*
 * `vmsend fsck IMAGE`: verify every checksum and structure of an objfs
 * image.  Exit 0 clean, 1 damaged (every damaged file and offset named on
 * stdout), 2 usage or internal error.
 */
#include "cli/commands.h"
#include "fs/objfs/fsck.h"

#include <stdio.h>
#include <string.h>

int
cmd_fsck(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: vmsend fsck IMAGE\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: vmsend fsck IMAGE\n");
		return 2;
	}
	struct objfs_fsck_result r;
	int rc = objfs_fsck(argv[1], stdout, &r);
	if (rc < 0) {
		fprintf(stderr, "vmsend fsck: %s: %s\n", argv[1], strerror(-rc));
		return 2;
	}
	if (r.fatal) {
		printf("fsck: %s: cannot be opened; nothing checked\n", argv[1]);
		return 1;
	}
	printf("fsck: %s: %llu files, %llu directories, %llu blocks (%llu bytes) verified: ",
	       argv[1], (unsigned long long)r.files, (unsigned long long)r.dirs,
	       (unsigned long long)r.blocks, (unsigned long long)r.bytes);
	if (r.problems)
		printf("%llu problems\n", (unsigned long long)r.problems);
	else
		printf("clean\n");
	return rc;
}

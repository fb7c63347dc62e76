/*
 * Stream a byte range of a file in an objfs image (made by `vmsend
 * mkimage`) to stdout through libvmsend: every block is checksummed and
 * decompressed by the engine on its way into the page cache, and a damaged
 * one is an error, never wrong bytes.
 *
 * usage: objcat IMAGE PATH [OFFSET [LENGTH]]
 */
#include <vmsend/vmsend.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct result {
	int done, error;
	uint64_t bytes;
};

static void
finished(void *arg, int error, uint64_t bytes)
{
	struct result *r = arg;
	r->done = 1;
	r->error = error;
	r->bytes = bytes;
}

static void
logline(void *arg, int level, const char *subsystem, const char *msg)
{
	fprintf(stderr, "objcat: %s: %s\n", subsystem, msg);
}

int
main(int argc, char **argv)
{
	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: objcat IMAGE PATH [OFFSET [LENGTH]]\n");
		return 2;
	}
	uint64_t off = argc > 3 ? strtoull(argv[3], NULL, 0) : 0;
	uint64_t len = argc > 4 ? strtoull(argv[4], NULL, 0) : UINT64_MAX;
	struct vmsend *vs;
	struct vms_loop *loop = NULL;
	struct vms_file *f;
	struct vms_conn *c;
	struct result r = {0};
	vmsend_set_log(logline, NULL, VMSEND_LOG_WARN);
	int error = vmsend_create(32 << 20, &vs);
	if (error == 0)
		error = vmsend_mount(vs, "/", "objfs", argv[1]);
	if (error != 0) {
		fprintf(stderr, "objcat: %s: %s\n", argv[1], strerror(-error));
		return 1;
	}
	if ((error = vms_lookup(vs, argv[2], &f)) != 0) {
		fprintf(stderr, "objcat: %s: %s\n", argv[2], strerror(-error));
		vmsend_destroy(vs);
		return 1;
	}
	/* The connection owns the descriptor it is given: hand it a copy of stdout. */
	if ((error = vms_loop_create(vs, &loop)) == 0 &&
	    (error = vms_conn_create(loop, dup(STDOUT_FILENO), &c)) == 0) {
		if ((error = vms_sendfile(c, f, off, len, finished, &r)) == 0) {
			while (!r.done)
				vms_loop_run(loop, -1);
			error = r.error;
		}
		vms_conn_close(c, error != 0);
	}
	vms_file_release(f);
	if (loop != NULL)
		vms_loop_destroy(loop);
	vmsend_destroy(vs);
	if (error != 0) {
		fprintf(stderr, "objcat: %s: %s after %llu bytes\n", argv[2], strerror(-error),
			(unsigned long long)r.bytes);
		return 1;
	}
	return 0;
}

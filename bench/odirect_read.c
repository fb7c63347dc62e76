/*
 * bench_odirect_read: the device limit for the cold-file benchmark.
 *
 * A server streaming cold files can go no faster than the storage under it,
 * so bench/run compares cold throughput with this: a plain sequential read
 * of the same files with O_DIRECT (no kernel page cache in the way, so a
 * previous run cannot make it look faster than the disk), kept busy with
 * several reads in flight through io_uring so one request's latency does not
 * hide the device's bandwidth.  Files are read one after another, in the
 * order given, in --block sized reads with --depth of them outstanding.
 *
 * Prints one line: odirect bytes=N seconds=S gbps=G
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct slot {
	void *buf;
	int file;
	uint64_t off;
};

/* Where the sequential sweep over all files stands. */
struct sweep {
	struct io_uring ring;
	int nfiles, next_file;
	int *fds;
	uint64_t *sizes;
	uint64_t next_off;
	size_t block;
	unsigned inflight;
};

/* Queue the next block of the sweep into `s`; false when every block is queued. */
static bool
sweep_queue_next(struct sweep *sw, struct slot *s)
{
	while (sw->next_file < sw->nfiles && sw->next_off >= sw->sizes[sw->next_file]) {
		sw->next_file++;
		sw->next_off = 0;
	}
	if (sw->next_file >= sw->nfiles)
		return false;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sw->ring);
	s->file = sw->next_file;
	s->off = sw->next_off;
	io_uring_prep_read(sqe, sw->fds[sw->next_file], s->buf, (unsigned)sw->block, sw->next_off);
	io_uring_sqe_set_data(sqe, s);
	sw->next_off += sw->block;
	sw->inflight++;
	return true;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_odirect_read [-b BLOCK_KIB] [-q DEPTH] FILE...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	unsigned block_kib = 1024, depth = 8;
	struct sweep sw = {0};
	int c, err;

	while ((c = getopt(argc, argv, "b:q:")) != -1) {
		switch (c) {
		case 'b':
			block_kib = (unsigned)atoi(optarg);
			break;
		case 'q':
			depth = (unsigned)atoi(optarg);
			break;
		default:
			usage();
		}
	}
	sw.nfiles = argc - optind;
	if (sw.nfiles <= 0 || block_kib == 0 || depth == 0 || depth > 256)
		usage();
	sw.block = (size_t)block_kib << 10;

	sw.fds = calloc((size_t)sw.nfiles, sizeof(int));
	sw.sizes = calloc((size_t)sw.nfiles, sizeof(uint64_t));
	for (int i = 0; i < sw.nfiles; i++) {
		struct stat st;
		sw.fds[i] = open(argv[optind + i], O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (sw.fds[i] < 0 || fstat(sw.fds[i], &st) != 0) {
			fprintf(stderr, "bench_odirect_read: %s: %s\n", argv[optind + i],
				strerror(errno));
			return 1;
		}
		sw.sizes[i] = (uint64_t)st.st_size;
	}

	err = io_uring_queue_init(depth, &sw.ring, 0);
	if (err < 0) {
		fprintf(stderr, "bench_odirect_read: io_uring_queue_init: %s\n", strerror(-err));
		return 1;
	}
	struct slot *slots = calloc(depth, sizeof(*slots));
	for (unsigned i = 0; i < depth; i++)
		if (posix_memalign(&slots[i].buf, 4096, sw.block) != 0) {
			fprintf(stderr, "bench_odirect_read: out of memory\n");
			return 1;
		}

	uint64_t total = 0, t0 = now_ns();
	for (unsigned i = 0; i < depth; i++)
		if (!sweep_queue_next(&sw, &slots[i]))
			break;
	while (sw.inflight > 0) {
		struct io_uring_cqe *cqe;
		io_uring_submit(&sw.ring);
		err = io_uring_wait_cqe(&sw.ring, &cqe);
		if (err == -EINTR)
			continue;
		if (err < 0) {
			fprintf(stderr, "bench_odirect_read: wait: %s\n", strerror(-err));
			return 1;
		}
		struct slot *s = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&sw.ring, cqe);
		sw.inflight--;
		if (res < 0) {
			fprintf(stderr, "bench_odirect_read: read %s at %llu: %s\n",
				argv[optind + s->file], (unsigned long long)s->off, strerror(-res));
			return 1;
		}
		total += (uint64_t)res;
		sweep_queue_next(&sw, s);
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	printf("odirect bytes=%llu seconds=%.3f gbps=%.3f\n", (unsigned long long)total, secs,
	       (double)total / secs / 1e9);

	io_uring_queue_exit(&sw.ring);
	for (int i = 0; i < sw.nfiles; i++)
		close(sw.fds[i]);
	for (unsigned i = 0; i < depth; i++)
		free(slots[i].buf);
	free(slots);
	free(sw.fds);
	free(sw.sizes);
	return 0;
}

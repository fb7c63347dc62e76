/*
 * Shared by the sendfile tests: a VM + io loop per test, TCP loopback
 * pairs, a reader thread that collects what the peer receives, and
 * deterministic file contents.
 */
#ifndef VMSEND_TEST_SF_TESTLIB_H
#define VMSEND_TEST_SF_TESTLIB_H

#include "io/io.h"
#include "sendfile/sendfile.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* vm_init(cache_pages) and a loop for this thread; counters zeroed. */
void sft_setup(unsigned cache_pages);
/* Run the loop until every socket is freed, then check nothing leaked and tear down. */
void sft_teardown(void);
extern struct io_loop *sft_loop;

/* A connected TCP pair on 127.0.0.1: fds[0] sends, fds[1] receives. */
void sft_tcp_pair(int fds[2]);

/* Bytes i of a file made with seed: deterministic, not periodic in pages. */
uint8_t *sft_pattern(size_t n, uint32_t seed);

/* A thread reading fd until EOF or error; may start paused. */
struct sft_sink {
	int fd;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool paused;
	bool done;
	uint8_t *buf;
	size_t len, cap;
};
struct sft_sink *sft_sink_start(int fd, bool paused);
void sft_sink_resume(struct sft_sink *s);
/* Bytes received so far. */
size_t sft_sink_len(struct sft_sink *s);
/* The reader saw EOF or an error. */
bool sft_sink_done(struct sft_sink *s);
/* Wait for EOF, close fd, return the bytes (caller frees with sft_sink_free). */
void sft_sink_join(struct sft_sink *s);
void sft_sink_free(struct sft_sink *s);

/* A socket on fd (owned) with the given hiwat (0: default). */
struct vms_socket *sft_socket(int fd, uint32_t hiwat, vms_socket_lowat_t *lowat,
			      vms_socket_error_t *err, void *arg);
/* Run the loop once, waiting at most 10 ms. */
void sft_run_once(void);
/* Close lingering and run the loop until all sockets are freed. */
void sft_close_all(struct vms_socket *so);
/* Close with `how` (VMS_CLOSE_*) and run the loop until this socket is freed. */
void sft_close_wait(struct vms_socket *so, int how);

/*
 * Read pages [first, first + n) of obj into the cache and leave them
 * unbusied, unwired and valid (to make a file partly cached).
 */
void sft_cache_pages(struct vm_object *obj, uint64_t first, int n);
/* True if page pindex of obj is resident and fully valid. */
bool sft_page_cached(struct vm_object *obj, uint64_t pindex);

#endif

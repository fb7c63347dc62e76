/*
 * vmsend-stress (sf_stress.c) and its byte checker (sf_stress_check.c):
 * what a file version holds, as a pure function of its seed, and the
 * reader thread that checks every byte a connection delivers.
 */
#ifndef VMSEND_TEST_SF_STRESS_H
#define VMSEND_TEST_SF_STRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HDR_LEN 16
#define TRL_LEN 8

/* ---- file contents ---- */

/* Page pindex of the version with `seed` is a hole (all zero). */
bool content_hole(uint64_t seed, uint64_t pindex);
/* Page pindex repeats one word (compressible). */
bool content_dull(uint64_t seed, uint64_t pindex);
/* Bytes [off, off + len) of the version with `seed`. */
void content_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t len);

/* ---- the reader end of a connection ---- */

/* What one connection must deliver: header, file bytes, trailer (or a prefix). */
struct expect {
	uint8_t hdr[HDR_LEN], trl[TRL_LEN];
	size_t hlen, tlen;
	uint64_t seed, off, flen; /* file bytes [off, off + flen) of the version with seed */
};

struct reader {
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int fd; /* -1: idle; -2: exit */
	struct expect ex;
	bool done;
	uint64_t got;      /* bytes received */
	int64_t bad_at;    /* first wrong byte, or -1 */
	uint8_t bad_byte;  /* what came */
	uint8_t want_byte; /* what should have */
};

/* The reader's thread body: waits for a connection, reads it to EOF, checks every byte. */
void *reader_main(void *arg);
/* Hand the reader a connection (fd: it closes it) and what it must carry. */
void reader_start(struct reader *r, int fd, const struct expect *ex);
/* The reader saw the end of the stream (got, bad_at are final then). */
bool reader_done(struct reader *r);

#endif

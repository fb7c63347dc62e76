/*
 * ARC stress: reader threads hammer a small ARC with sync and async reads
 * of a few hundred keys while a completer thread finishes the async fills,
 * so holds, shared fills, failed fills and eviction race each other.  A
 * plain program (no Criterion) so it also runs under TSan.
 *
 * Checks: every buffer a reader gets holds its key's bytes; keys whose
 * fill always fails give every reader -EIO and are never cached; at the end
 * nothing is held and the ARC is within its budget.
 */
#include "core/assert.h"
#include "fs/objfs/arc.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/seed.h"

#define RS       512u
#define NKEYS    300u
#define NREADERS 4
#define OPS      20000
#define CACHE    64u /* records */

static struct arc *arc;
static unsigned seed; /* stress_seed(): printed, replayed with --seed */

static bool
bad_key(uint64_t k)
{
	return k % 31 == 7;
}

static void
pattern(uint64_t k, uint8_t *dst)
{
	for (unsigned i = 0; i < RS; i++)
		dst[i] = (uint8_t)(k * 13 + i);
}

static void
check(uint64_t k, const struct arc_buf *b)
{
	uint8_t want[RS];
	pattern(k, want);
	VERIFY3U(b->size, ==, RS);
	VERIFY(memcmp(b->data, want, RS) == 0);
}

static int
fill_sync(void *arg, const struct arc_key *key, void *dst, uint32_t size)
{
	uint64_t k = key->offset / RS;
	if (bad_key(k)) {
		memset(dst, 0xEE, size);
		return -EIO;
	}
	pattern(k, dst);
	return 0;
}

/* Async fills go to the completer thread through a locked list. */
struct job {
	struct job *next;
	uint64_t k;
	void *dst;
	arc_fill_done_t *done;
	void *done_arg;
};

static pthread_mutex_t jlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jcv = PTHREAD_COND_INITIALIZER;
static struct job *jobs;
static bool stopping;

static void
fill_async(void *arg, const struct arc_key *key, void *dst, uint32_t size, arc_fill_done_t *done,
	   void *done_arg)
{
	struct job *j = malloc(sizeof(*j));
	VERIFY(j != NULL);
	*j = (struct job){.k = key->offset / RS, .dst = dst, .done = done, .done_arg = done_arg};
	pthread_mutex_lock(&jlock);
	j->next = jobs;
	jobs = j;
	pthread_cond_signal(&jcv);
	pthread_mutex_unlock(&jlock);
}

static void *
completer(void *unused)
{
	pthread_mutex_lock(&jlock);
	for (;;) {
		while (jobs == NULL && !stopping)
			pthread_cond_wait(&jcv, &jlock);
		if (jobs == NULL && stopping)
			break;
		struct job *j = jobs;
		jobs = j->next;
		pthread_mutex_unlock(&jlock);
		int error = 0;
		if (bad_key(j->k))
			error = -EIO;
		else
			pattern(j->k, j->dst);
		j->done(j->done_arg, error);
		free(j);
		pthread_mutex_lock(&jlock);
	}
	pthread_mutex_unlock(&jlock);
	return NULL;
}

static const struct arc_fill_ops ops = {.fill_sync = fill_sync, .fill_async = fill_async};

struct waiter {
	_Atomic int done;
	struct arc_buf *buf;
	int error;
};

static void
read_done(void *arg, struct arc_buf *buf, int error)
{
	struct waiter *w = arg;
	w->buf = buf;
	w->error = error;
	atomic_store_explicit(&w->done, 1, memory_order_release);
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *
reader(void *argp)
{
	uint64_t s = ((uintptr_t)argp + (uint64_t)seed * NREADERS) * 0x9e3779b97f4a7c15ull + 1;
	struct arc_buf *held[4] = {NULL};
	uint64_t heldk[4];

	for (int op = 0; op < OPS; op++) {
		/* Skewed keys: low numbers are hot, so hits, promotions and ghosts all happen. */
		uint64_t r = xorshift(&s);
		uint64_t k = (r % 4 == 0) ? r % NKEYS : (r >> 8) % 40;
		struct arc_key key = {.image_id = 1, .offset = k * RS};
		struct arc_buf *b = NULL;
		int error;
		if (r & 0x100) {
			error = arc_read_sync(arc, &key, RS, &ops, NULL, &b);
		} else {
			struct waiter w = {0};
			arc_read(arc, &key, RS, &ops, NULL, read_done, &w);
			while (!atomic_load_explicit(&w.done, memory_order_acquire))
				sched_yield();
			b = w.buf;
			error = w.error;
		}
		if (bad_key(k)) {
			VERIFY3S(error, ==, -EIO);
			VERIFY(b == NULL);
			continue;
		}
		VERIFY0(error);
		check(k, b);
		/* Keep a few buffers held across other reads, so eviction meets holds. */
		int slot = (int)((r >> 20) % 4);
		if (held[slot] != NULL) {
			check(heldk[slot], held[slot]);
			arc_buf_release(arc, held[slot]);
		}
		held[slot] = b;
		heldk[slot] = k;
	}
	for (int i = 0; i < 4; i++)
		if (held[i] != NULL)
			arc_buf_release(arc, held[i]);
	return NULL;
}

int
main(int argc, char **argv)
{
	seed = stress_seed("test_arc_stress", argc, argv);
	struct arc_config cfg = {.size = CACHE * RS, .name = "stress"};
	arc = arc_create(&cfg);
	VERIFY(arc != NULL);
	pthread_t comp, th[NREADERS];
	VERIFY0(pthread_create(&comp, NULL, completer, NULL));
	for (uintptr_t i = 0; i < NREADERS; i++)
		VERIFY0(pthread_create(&th[i], NULL, reader, (void *)(i + 1)));
	for (int i = 0; i < NREADERS; i++)
		VERIFY0(pthread_join(th[i], NULL));
	pthread_mutex_lock(&jlock);
	stopping = true;
	pthread_cond_signal(&jcv);
	pthread_mutex_unlock(&jlock);
	VERIFY0(pthread_join(comp, NULL));

	struct arc_sizes z;
	arc_sizes(arc, &z);
	struct arc_stats *st = arc_stats(arc);
	VERIFY0(z.held);
	VERIFY3U(z.size, <=, z.c);
	VERIFY3U(z.mru + z.mru_ghost, <=, z.c);
	for (uint64_t k = 7; k < NKEYS; k += 31) {
		struct arc_key key = {.image_id = 1, .offset = k * RS};
		VERIFY(!arc_cached(arc, &key));
	}
	VERIFY(counter_get(&st->hits) > 0 && counter_get(&st->misses) > 0);
	VERIFY(counter_get(&st->fill_errors) > 0);
	VERIFY(counter_get(&st->evict_mru) + counter_get(&st->evict_mfu) > 0);
	printf("arc stress: %llu hits, %llu misses, %llu shared fills, %llu failed fills, "
	       "%llu evictions, %llu held skips, p %llu of c %llu\n",
	       (unsigned long long)counter_get(&st->hits),
	       (unsigned long long)counter_get(&st->misses),
	       (unsigned long long)counter_get(&st->io_hits),
	       (unsigned long long)counter_get(&st->fill_errors),
	       (unsigned long long)(counter_get(&st->evict_mru) + counter_get(&st->evict_mfu)),
	       (unsigned long long)counter_get(&st->evict_skip), (unsigned long long)z.p,
	       (unsigned long long)z.c);
	arc_destroy(arc);
	return 0;
}

/*
 * The checking side of vmsend-stress: file contents as a function of a
 * seed, and the reader thread that compares each received byte with the
 * header, the file range and the trailer the sender queued.  See sf_stress.c.
 */
#include "sf_stress.h"

#include "core/util.h"
#include "vm/vm_page.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static uint64_t
mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * Holes: in a "holey" version (seed bit 0), some aligned groups of 8 pages
 * (32 KiB) are zero, so hostfs sees real holes and objfs (32 KiB records)
 * stores hole records.
 */
bool
content_hole(uint64_t seed, uint64_t pindex)
{
	return (seed & 1) != 0 && mix64(seed ^ (pindex / 8) * 0x51ed27) % 3 == 0;
}

/*
 * Dull pages: in a version with seed bit 1, about a third of the pages repeat
 * one word, so objfs records holding them compress (LZ4) and reads decompress.
 */
bool
content_dull(uint64_t seed, uint64_t pindex)
{
	return (seed & 2) != 0 && mix64(seed ^ pindex * 0x2545f491) % 3 == 1;
}

void
content_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	while (len > 0) {
		uint64_t w = off >> 3, p = off >> PAGE_SHIFT;
		size_t in = off & 7, n = MIN(len, 8 - in);
		uint64_t v = content_hole(seed, p)   ? 0
			     : content_dull(seed, p) ? mix64(seed ^ p)
						     : mix64(seed * 31 + w);
		memcpy(buf, (uint8_t *)&v + in, n);
		buf += n;
		off += n;
		len -= n;
	}
}

static void
reader_check(struct reader *r, const uint8_t *buf, size_t n)
{
	const struct expect *ex = &r->ex;
	uint8_t want[65536];
	uint64_t pos = r->got;
	size_t done = 0;
	while (done < n) {
		size_t k;
		const uint8_t *w;
		if (pos < ex->hlen) {
			k = MIN(n - done, ex->hlen - pos);
			w = ex->hdr + pos;
		} else if (pos < ex->hlen + ex->flen) {
			k = MIN(n - done, ex->hlen + ex->flen - pos);
			k = MIN(k, sizeof(want));
			content_fill(ex->seed, ex->off + (pos - ex->hlen), want, k);
			w = want;
		} else if (pos < ex->hlen + ex->flen + ex->tlen) {
			k = MIN(n - done, ex->hlen + ex->flen + ex->tlen - pos);
			w = ex->trl + (pos - ex->hlen - ex->flen);
		} else {
			/* More bytes than the stream has: wrong by definition. */
			if (r->bad_at < 0) {
				r->bad_at = (int64_t)pos;
				r->bad_byte = buf[done];
				r->want_byte = 0;
			}
			break;
		}
		if (r->bad_at < 0 && memcmp(buf + done, w, k) != 0) {
			size_t i = 0;
			while (buf[done + i] == w[i])
				i++;
			r->bad_at = (int64_t)(pos + i);
			r->bad_byte = buf[done + i];
			r->want_byte = w[i];
		}
		done += k;
		pos += k;
	}
	r->got += n;
}

void *
reader_main(void *arg)
{
	struct reader *r = arg;
	static _Thread_local uint8_t buf[65536];
	for (;;) {
		pthread_mutex_lock(&r->lock);
		while (r->fd == -1)
			pthread_cond_wait(&r->cv, &r->lock);
		int fd = r->fd;
		pthread_mutex_unlock(&r->lock);
		if (fd == -2)
			return NULL;
		for (;;) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break; /* EOF, or a reset after an abort: the stream ends here */
			reader_check(r, buf, (size_t)n);
		}
		close(fd);
		pthread_mutex_lock(&r->lock);
		r->fd = -1;
		r->done = true;
		pthread_mutex_unlock(&r->lock);
	}
}

void
reader_start(struct reader *r, int fd, const struct expect *ex)
{
	pthread_mutex_lock(&r->lock);
	r->ex = *ex;
	r->got = 0;
	r->bad_at = -1;
	r->done = false;
	r->fd = fd;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->lock);
}

bool
reader_done(struct reader *r)
{
	pthread_mutex_lock(&r->lock);
	bool d = r->done;
	pthread_mutex_unlock(&r->lock);
	return d;
}

/*
 * bench_gendata: write the benchmark's data files.
 *
 *   bench_gendata FILE SIZE random|text [SEED]
 *
 * SIZE takes K, M and G suffixes (powers of 1024).  "random" bytes do not
 * compress at all, so objfs stores them raw and the benchmark sees the cost
 * of its checksums and copies alone; "text" is words drawn at random from a
 * small vocabulary, which LZ4 shrinks to roughly half, so objfs stores it
 * compressed and the benchmark sees decompression too.  The same SEED gives
 * the same bytes, which keeps runs comparable.  /dev/urandom would do for
 * "random" but is slow for gigabytes; a splitmix64 stream is plenty here,
 * the bytes only need to defeat a compressor.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1u << 20)

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const char *const words[] = {
    "page",     "cache",    "object",  "pager",    "busy",     "wired",   "valid",      "sendfile",
    "socket",   "buffer",   "record",  "checksum", "compress", "arena",   "reclaim",    "queue",
    "vnode",    "mount",    "request", "response", "header",   "range",   "offset",     "length",
    "loop",     "ring",     "submit",  "complete", "timer",    "thread",  "lock",       "atomic",
    "the",      "a",        "of",      "and",      "to",       "in",      "is",         "that",
    "server",   "client",   "file",    "system",   "disk",     "memory",  "network",    "kernel",
    "read",     "write",    "send",    "receive",  "open",     "close",   "map",        "unmap",
    "hole",     "block",    "tree",    "root",     "leaf",     "pointer", "hash",       "index",
    "zero",     "one",      "two",     "three",    "four",     "five",    "six",        "seven",
    "alpha",    "beta",     "gamma",   "delta",    "epsilon",  "zeta",    "eta",        "theta",
    "January",  "February", "March",   "April",    "May",      "June",    "July",       "August",
    "red",      "green",    "blue",    "yellow",   "orange",   "purple",  "black",      "white",
    "quick",    "brown",    "fox",     "jumps",    "over",     "lazy",    "dog",        "again",
    "estimate", "measure",  "compare", "median",   "ratio",    "latency", "throughput", "cold",
    "hot",      "warm",     "miss",    "hit",      "evict",    "ghost",   "adapt",      "scan",
    "\n",       ", ",       ". ",      "; ",       "(",        ")",       "\"",         "-",
};

static void
fill_random(unsigned char *buf, size_t len, uint64_t *state)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t r = splitmix64(state);
		memcpy(buf + i, &r, 8);
	}
}

static void
fill_text(unsigned char *buf, size_t len, uint64_t *state)
{
	const size_t nwords = sizeof(words) / sizeof(words[0]);
	size_t i = 0;
	while (i < len) {
		uint64_t r = splitmix64(state);
		for (int k = 0; k < 4 && i < len; k++, r >>= 16) {
			const char *w = words[(r & 0xffff) % nwords];
			size_t wl = strlen(w);
			for (size_t j = 0; j < wl && i < len; j++)
				buf[i++] = (unsigned char)w[j];
			if (i < len && w[wl - 1] != '\n' && w[wl - 1] != ' ')
				buf[i++] = ' ';
		}
	}
}

static int
size_parse(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return -1;
	switch (*end) {
	case 'G':
		v <<= 10; /* fall through */
	case 'M':
		v <<= 10; /* fall through */
	case 'K':
		v <<= 10;
		end++;
		break;
	case '\0':
		break;
	default:
		return -1;
	}
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	uint64_t size, state = 1;
	if (argc < 4 || argc > 5 || size_parse(argv[2], &size) != 0 ||
	    (strcmp(argv[3], "random") != 0 && strcmp(argv[3], "text") != 0)) {
		fprintf(stderr, "usage: bench_gendata FILE SIZE[K|M|G] random|text [SEED]\n");
		return 2;
	}
	if (argc == 5)
		state = strtoull(argv[4], NULL, 0);
	const int text = strcmp(argv[3], "text") == 0;

	FILE *f = fopen(argv[1], "wb");
	unsigned char *buf = malloc(CHUNK);
	if (f == NULL || buf == NULL) {
		fprintf(stderr, "bench_gendata: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (uint64_t left = size; left > 0;) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		if (text)
			fill_text(buf, n, &state);
		else
			fill_random(buf, CHUNK, &state);
		if (fwrite(buf, 1, n, f) != n) {
			fprintf(stderr, "bench_gendata: write %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
		left -= n;
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "bench_gendata: close %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	free(buf);
	return 0;
}

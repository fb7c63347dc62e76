/*
 * bench_httpload: the latency and streaming client of bench/run.
 *
 * wrk answers "how many requests per second"; it cannot say how long one hot
 * request waits while other clients pull cold gigabytes through the same
 * server, which is the property the sendfile engine exists for (a miss must
 * never block the loop that answers hits).  This program measures exactly
 * that, with one thread per connection so each connection is a closed loop:
 *
 *   hot clients  (-c N, --hot PATH)     GET PATH again and again on a
 *                                       keep-alive connection, timing each
 *                                       request from the first byte sent to
 *                                       the last body byte received;
 *   streamers    (-s M, --stream P,...) each GET its share of the listed
 *                                       files once, reading and discarding;
 *                with --range MIN:MAX --file-size B --requests N each
 *                streamer instead asks for N byte ranges of MIN..MAX bytes
 *                at random offsets of its files (video seeking).
 *
 *   t=0 ---- warmup (hot only, not recorded) ---- start ---------- end
 *                                                 |  hot recorded   |
 *                                                 |  streamers run  |
 *
 * With streamers, the measured window ends when the last streamer is done
 * (or at --duration, whichever comes first); without them it lasts
 * --duration seconds.  Results are one line of key=value pairs per role, so
 * the driver script can parse them, and optionally a CDF of the hot
 * latencies for gnuplot.
 *
 * Only loopback is ever used by bench/run; the host is still a flag so the
 * program can be pointed at an IPv6 loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HDR_MAX     16384
#define STREAM_BUF  (1u << 20)
#define MAX_THREADS 1024

struct opts {
	const char *host;
	const char *port;
	const char *hot_path;
	char **hot_paths; /* hot_path split at commas */
	int nhot_paths;
	int hot_conns;
	char **stream_paths;
	int nstream_paths;
	int streamers;
	double duration;
	double warmup;
	const char *cdf_file;
	uint64_t range_min, range_max; /* 0: whole files */
	uint64_t file_size;            /* with ranges: every stream file's size */
	int requests;                  /* with ranges: requests per streamer */
};

struct lat_vec {
	uint64_t *v;
	size_t n, cap;
};

struct hot_ctx {
	const struct opts *o;
	int index;
	struct lat_vec lat;
	uint64_t errors;
};

struct stream_ctx {
	const struct opts *o;
	int index;
	uint64_t bytes;
	uint64_t errors;
};

static atomic_bool recording;
static atomic_bool stop_hot;
static atomic_int streamers_left;

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
lat_push(struct lat_vec *lv, uint64_t ns)
{
	if (lv->n == lv->cap) {
		size_t cap = lv->cap ? lv->cap * 2 : 65536;
		uint64_t *v = realloc(lv->v, cap * sizeof(*v));
		if (v == NULL) {
			perror("bench_httpload: realloc");
			exit(1);
		}
		lv->v = v;
		lv->cap = cap;
	}
	lv->v[lv->n++] = ns;
}

static int
conn_open(const struct opts *o)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int fd = -1, one = 1;

	if (getaddrinfo(o->host, o->port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one response to a GET: headers into `hdr`, then Content-Length body
 * bytes into `body` (reused, the bytes are not kept).  Returns the body
 * length, or -1 on a connection error, a non-200 status or a response
 * without Content-Length (the servers under test always send one for a
 * plain GET of a file).
 */
static long long
response_read(int fd, char *hdr, char *body, size_t body_cap)
{
	size_t have = 0;
	char *end = NULL;

	while (end == NULL) {
		if (have == HDR_MAX - 1)
			return -1;
		ssize_t n = recv(fd, hdr + have, HDR_MAX - 1 - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		have += (size_t)n;
		hdr[have] = '\0';
		end = strstr(hdr, "\r\n\r\n");
	}
	if (strncmp(hdr, "HTTP/1.1 200 ", 13) != 0 && strncmp(hdr, "HTTP/1.0 200 ", 13) != 0 &&
	    strncmp(hdr, "HTTP/1.1 206 ", 13) != 0)
		return -1;

	long long clen = -1;
	for (char *line = strstr(hdr, "\r\n"); line != NULL && line < end;
	     line = strstr(line + 2, "\r\n")) {
		if (strncasecmp(line + 2, "content-length:", 15) == 0) {
			clen = strtoll(line + 2 + 15, NULL, 10);
			break;
		}
	}
	if (clen < 0)
		return -1;

	size_t hlen = (size_t)(end + 4 - hdr);
	long long left = clen - (long long)(have - hlen);
	if (left < 0)
		return -1; /* pipelining is never used here: extra bytes mean a broken reply */
	while (left > 0) {
		size_t want = left < (long long)body_cap ? (size_t)left : body_cap;
		ssize_t n = recv(fd, body, want, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		left -= n;
	}
	return clen;
}

static int
request_fmt(char *buf, size_t cap, const struct opts *o, const char *path)
{
	return snprintf(buf, cap,
			"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench_httpload\r\n\r\n", path,
			o->host);
}

static void *
hot_main(void *arg)
{
	struct hot_ctx *hc = arg;
	const struct opts *o = hc->o;
	char req[1024], *hdr = malloc(HDR_MAX), *body = malloc(STREAM_BUF);
	int reqlen = request_fmt(req, sizeof(req), o, o->hot_paths[0]);
	unsigned seed = 777u + (unsigned)hc->index;
	int fd = -1;

	while (!atomic_load(&stop_hot)) {
		/* A hot set (a comma list): a random member per request. */
		if (o->nhot_paths > 1)
			reqlen = request_fmt(req, sizeof(req), o,
					     o->hot_paths[rand_r(&seed) % o->nhot_paths]);
		if (fd < 0 && (fd = conn_open(o)) < 0) {
			hc->errors++;
			usleep(10000);
			continue;
		}
		uint64_t t0 = now_ns();
		bool rec = atomic_load(&recording);
		if (send_all(fd, req, (size_t)reqlen) != 0 ||
		    response_read(fd, hdr, body, STREAM_BUF) < 0) {
			if (rec)
				hc->errors++;
			close(fd);
			fd = -1;
			continue;
		}
		if (rec && atomic_load(&recording))
			lat_push(&hc->lat, now_ns() - t0);
	}
	if (fd >= 0)
		close(fd);
	free(hdr);
	free(body);
	return NULL;
}

/* Random byte ranges of the streamer's files, on one keep-alive connection. */
static void
stream_ranges(struct stream_ctx *sc, char *hdr, char *body)
{
	const struct opts *o = sc->o;
	unsigned seed = 12345u + 7919u * (unsigned)sc->index;
	char req[4096];
	int fd = -1, mine = 0;

	for (int i = sc->index; i < o->nstream_paths; i += o->streamers)
		mine++;
	for (int r = 0; r < o->requests && mine > 0; r++) {
		int k = rand_r(&seed) % mine;
		const char *path = o->stream_paths[sc->index + k * o->streamers];
		uint64_t len =
		    o->range_min + (uint64_t)rand_r(&seed) % (o->range_max - o->range_min + 1);
		if (len > o->file_size)
			len = o->file_size;
		uint64_t span = o->file_size - len + 1;
		uint64_t off = (((uint64_t)rand_r(&seed) << 31) ^ (uint64_t)rand_r(&seed)) % span;
		if (fd < 0 && (fd = conn_open(o)) < 0) {
			sc->errors++;
			continue;
		}
		int reqlen = snprintf(req, sizeof(req),
				      "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%llu-%llu\r\n"
				      "User-Agent: bench_httpload\r\n\r\n",
				      path, o->host, (unsigned long long)off,
				      (unsigned long long)(off + len - 1));
		long long got;
		if (send_all(fd, req, (size_t)reqlen) != 0 ||
		    (got = response_read(fd, hdr, body, STREAM_BUF)) != (long long)len) {
			sc->errors++;
			close(fd);
			fd = -1;
			continue;
		}
		sc->bytes += (uint64_t)got;
	}
	if (fd >= 0)
		close(fd);
}

static void *
stream_main(void *arg)
{
	struct stream_ctx *sc = arg;
	const struct opts *o = sc->o;
	char req[4096], *hdr = malloc(HDR_MAX), *body = malloc(STREAM_BUF);
	int fd = -1;

	if (o->range_max > 0) {
		stream_ranges(sc, hdr, body);
		goto out;
	}
	for (int i = sc->index; i < o->nstream_paths; i += o->streamers) {
		if (fd < 0 && (fd = conn_open(o)) < 0) {
			sc->errors++;
			continue;
		}
		int reqlen = request_fmt(req, sizeof(req), o, o->stream_paths[i]);
		long long got;
		if (send_all(fd, req, (size_t)reqlen) != 0 ||
		    (got = response_read(fd, hdr, body, STREAM_BUF)) < 0) {
			sc->errors++;
			close(fd);
			fd = -1;
			continue;
		}
		sc->bytes += (uint64_t)got;
	}
	if (fd >= 0)
		close(fd);
out:
	free(hdr);
	free(body);
	atomic_fetch_sub(&streamers_left, 1);
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double
pct_us(const uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1000.0;
}

static void
cdf_write(const char *file, const uint64_t *v, size_t n)
{
	FILE *f = fopen(file, "w");
	if (f == NULL) {
		perror(file);
		return;
	}
	fprintf(f, "# latency_us cumulative_fraction (%zu samples)\n", n);
	/* About 2000 evenly spaced points, plus every sample of the top 0.1%. */
	size_t step = n > 2000 ? n / 2000 : 1, tail = n - n / 1000;
	for (size_t i = 0; i < n; i++)
		if (i % step == 0 || i >= tail || i == n - 1)
			fprintf(f, "%.1f %.6f\n", (double)v[i] / 1000.0,
				(double)(i + 1) / (double)n);
	fclose(f);
}

static void
split_paths(char ***paths, int *n, char *list)
{
	for (char *save = NULL, *p = strtok_r(list, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		*paths = realloc(*paths, (*n + 1) * sizeof(char *));
		(*paths)[(*n)++] = p;
	}
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: bench_httpload -p PORT [-H HOST] [--hot PATH -c CONNS] [--stream PATH,... "
		"-s STREAMERS]\n"
		"                      [--range MIN:MAX --file-size BYTES --requests N]\n"
		"                      [-d SECONDS] [-w WARMUP_SECONDS] [--cdf FILE]\n");
	exit(2);
}

static void
sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
main(int argc, char **argv)
{
	struct opts o = {
	    .host = "127.0.0.1", .hot_conns = 4, .streamers = 8, .duration = 10, .warmup = 0.5};
	static const struct option longopts[] = {{"port", required_argument, NULL, 'p'},
						 {"host", required_argument, NULL, 'H'},
						 {"hot", required_argument, NULL, 'h'},
						 {"conns", required_argument, NULL, 'c'},
						 {"stream", required_argument, NULL, 'S'},
						 {"streamers", required_argument, NULL, 's'},
						 {"duration", required_argument, NULL, 'd'},
						 {"warmup", required_argument, NULL, 'w'},
						 {"cdf", required_argument, NULL, 'C'},
						 {"range", required_argument, NULL, 'R'},
						 {"file-size", required_argument, NULL, 'F'},
						 {"requests", required_argument, NULL, 'N'},
						 {NULL, 0, NULL, 0}};
	int c;

	while ((c = getopt_long(argc, argv, "p:H:c:s:d:w:", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.port = optarg;
			break;
		case 'H':
			o.host = optarg;
			break;
		case 'h':
			o.hot_path = optarg;
			split_paths(&o.hot_paths, &o.nhot_paths, optarg);
			break;
		case 'c':
			o.hot_conns = atoi(optarg);
			break;
		case 'S':
			split_paths(&o.stream_paths, &o.nstream_paths, optarg);
			break;
		case 's':
			o.streamers = atoi(optarg);
			break;
		case 'd':
			o.duration = atof(optarg);
			break;
		case 'w':
			o.warmup = atof(optarg);
			break;
		case 'C':
			o.cdf_file = optarg;
			break;
		case 'R':
			if (sscanf(optarg, "%llu:%llu", (unsigned long long *)&o.range_min,
				   (unsigned long long *)&o.range_max) != 2 ||
			    o.range_min == 0 || o.range_max < o.range_min)
				usage();
			break;
		case 'F':
			o.file_size = strtoull(optarg, NULL, 10);
			break;
		case 'N':
			o.requests = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (o.port == NULL || (o.hot_path == NULL && o.nstream_paths == 0))
		usage();
	if (o.range_max > 0 && (o.file_size == 0 || o.requests <= 0))
		usage();
	if (o.hot_path == NULL || o.nhot_paths == 0)
		o.hot_conns = 0;
	if (o.nstream_paths == 0)
		o.streamers = 0;
	if (o.streamers > o.nstream_paths)
		o.streamers = o.nstream_paths;
	if (o.hot_conns < 0 || o.hot_conns > MAX_THREADS || o.streamers < 0 ||
	    o.streamers > MAX_THREADS)
		usage();

	struct hot_ctx *hot = calloc((size_t)o.hot_conns + 1, sizeof(*hot));
	struct stream_ctx *st = calloc((size_t)o.streamers + 1, sizeof(*st));
	pthread_t *ht = calloc((size_t)o.hot_conns + 1, sizeof(*ht));
	pthread_t *stt = calloc((size_t)o.streamers + 1, sizeof(*stt));

	for (int i = 0; i < o.hot_conns; i++) {
		hot[i].o = &o;
		hot[i].index = i;
		pthread_create(&ht[i], NULL, hot_main, &hot[i]);
	}
	if (o.hot_conns > 0)
		sleep_s(o.warmup);

	atomic_store(&streamers_left, o.streamers);
	uint64_t t_start = now_ns();
	atomic_store(&recording, true);
	for (int i = 0; i < o.streamers; i++) {
		st[i].o = &o;
		st[i].index = i;
		pthread_create(&stt[i], NULL, stream_main, &st[i]);
	}

	uint64_t deadline = t_start + (uint64_t)(o.duration * 1e9);
	if (o.streamers > 0) {
		while (atomic_load(&streamers_left) > 0 && now_ns() < deadline)
			sleep_s(0.005);
	} else {
		sleep_s(o.duration);
	}
	atomic_store(&recording, false);
	uint64_t t_end = now_ns();
	double secs = (double)(t_end - t_start) / 1e9;

	atomic_store(&stop_hot, true);
	for (int i = 0; i < o.hot_conns; i++)
		pthread_join(ht[i], NULL);

	if (o.streamers > 0) {
		/* Streamers past the deadline are left to finish: their bytes count in the
		 * total but the window (and so GB/s) is the full time they took. */
		for (int i = 0; i < o.streamers; i++)
			pthread_join(stt[i], NULL);
		uint64_t t_st = now_ns(), bytes = 0, errors = 0;
		for (int i = 0; i < o.streamers; i++) {
			bytes += st[i].bytes;
			errors += st[i].errors;
		}
		double ssecs = (double)(t_st - t_start) / 1e9;
		printf("stream bytes=%llu seconds=%.3f gbps=%.3f errors=%llu\n",
		       (unsigned long long)bytes, ssecs, (double)bytes / ssecs / 1e9,
		       (unsigned long long)errors);
	}

	if (o.hot_conns > 0) {
		struct lat_vec all = {0};
		uint64_t errors = 0;
		for (int i = 0; i < o.hot_conns; i++) {
			for (size_t j = 0; j < hot[i].lat.n; j++)
				lat_push(&all, hot[i].lat.v[j]);
			errors += hot[i].errors;
			free(hot[i].lat.v);
		}
		qsort(all.v, all.n, sizeof(*all.v), cmp_u64);
		printf("hot requests=%zu errors=%llu seconds=%.3f rps=%.0f p50_us=%.1f p90_us=%.1f "
		       "p99_us=%.1f p999_us=%.1f max_us=%.1f\n",
		       all.n, (unsigned long long)errors, secs, (double)all.n / secs,
		       pct_us(all.v, all.n, 0.50), pct_us(all.v, all.n, 0.90),
		       pct_us(all.v, all.n, 0.99), pct_us(all.v, all.n, 0.999),
		       all.n ? (double)all.v[all.n - 1] / 1000.0 : 0.0);
		if (o.cdf_file != NULL)
			cdf_write(o.cdf_file, all.v, all.n);
		free(all.v);
	}
	free(hot);
	free(st);
	free(ht);
	free(stt);
	free(o.stream_paths);
	free(o.hot_paths);
	return 0;
}

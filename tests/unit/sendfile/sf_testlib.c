#include "sf_testlib.h"

#include "pager/pager.h"
#include "vm/vm.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct io_loop *sft_loop;

void
sft_setup(unsigned cache_pages)
{
	cr_assert_eq(vm_init((uint64_t)cache_pages * PAGE_SIZE), 0);
	cr_assert_eq(io_loop_create(&sft_loop, 256, 0), 0);
	sf_stats_reset();
}

void
sft_teardown(void)
{
	for (int i = 0; i < 100000 && vms_socket_count() > 0; i++)
		sft_run_once();
	cr_assert_eq(vms_socket_count(), 0, "sockets leaked");
	cr_assert(vm_quiescent(), "a page is still busy or wired");
	cr_assert_eq(vm_object_count(), 0, "objects leaked");
	cr_assert_eq(sf_ra_inflight_pages(), 0, "read-ahead pages still counted in flight");
	io_loop_destroy(sft_loop);
	sft_loop = NULL;
	vm_fini();
}

void
sft_tcp_pair(int fds[2])
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(l >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fds[0] >= 0);
	cr_assert_eq(connect(fds[0], (struct sockaddr *)&a, sizeof(a)), 0);
	fds[1] = accept(l, NULL, NULL);
	cr_assert(fds[1] >= 0);
	close(l);
}

uint8_t *
sft_pattern(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

static void *
sft_sink_main(void *arg)
{
	struct sft_sink *s = arg;
	pthread_mutex_lock(&s->lock);
	while (s->paused)
		pthread_cond_wait(&s->cv, &s->lock);
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		uint8_t tmp[65536];
		ssize_t r = read(s->fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		pthread_mutex_lock(&s->lock);
		if (s->len + (size_t)r > s->cap) {
			s->cap = (s->len + (size_t)r) * 2;
			s->buf = realloc(s->buf, s->cap);
		}
		memcpy(s->buf + s->len, tmp, (size_t)r);
		s->len += (size_t)r;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_lock(&s->lock);
	s->done = true;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct sft_sink *
sft_sink_start(int fd, bool paused)
{
	struct sft_sink *s = calloc(1, sizeof(*s));
	s->fd = fd;
	s->paused = paused;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	cr_assert_eq(pthread_create(&s->th, NULL, sft_sink_main, s), 0);
	return s;
}

void
sft_sink_resume(struct sft_sink *s)
{
	pthread_mutex_lock(&s->lock);
	s->paused = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
}

size_t
sft_sink_len(struct sft_sink *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->len;
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool
sft_sink_done(struct sft_sink *s)
{
	pthread_mutex_lock(&s->lock);
	bool d = s->done;
	pthread_mutex_unlock(&s->lock);
	return d;
}

void
sft_sink_join(struct sft_sink *s)
{
	sft_sink_resume(s);
	pthread_join(s->th, NULL);
	close(s->fd);
}

void
sft_sink_free(struct sft_sink *s)
{
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cv);
	free(s->buf);
	free(s);
}

struct vms_socket *
sft_socket(int fd, uint32_t hiwat, vms_socket_lowat_t *lowat, vms_socket_error_t *err, void *arg)
{
	struct vms_socket_params p = {
	    .hiwat = hiwat, .close_fd = true, .on_lowat = lowat, .on_error = err, .arg = arg};
	struct vms_socket *so;
	cr_assert_eq(vms_socket_create(sft_loop, fd, &p, &so), 0);
	return so;
}

void
sft_run_once(void)
{
	io_loop_run_once(sft_loop, true, 10 * 1000 * 1000);
}

void
sft_close_wait(struct vms_socket *so, int how)
{
	/* An abort's shutdown gives the peer EOF early: wait for the socket itself to go. */
	uint64_t before = vms_socket_count();
	vms_socket_close(so, how);
	for (int i = 0; i < 100000 && vms_socket_count() >= before; i++)
		sft_run_once();
	cr_assert_lt(vms_socket_count(), before, "socket not freed after its close");
}

void
sft_close_all(struct vms_socket *so)
{
	sft_close_wait(so, VMS_CLOSE_LINGER);
}

void
sft_cache_pages(struct vm_object *obj, uint64_t first, int n)
{
	for (int i = 0; i < n; i++) {
		struct vm_page *m = vm_page_grab(obj, first + i, 0);
		cr_assert_not_null(m);
		if (!vm_page_all_valid(m)) {
			if (pager_haspage(obj, first + i, NULL, NULL))
				cr_assert_eq(pager_getpages(obj, &m, 1, NULL, NULL), PAGER_OK);
			else
				vm_page_zero_invalid(m, true);
		}
		vm_page_xunbusy(m);
	}
}

bool
sft_page_cached(struct vm_object *obj, uint64_t pindex)
{
	vm_object_lock(obj);
	struct vm_page *m = vm_page_lookup(obj, pindex);
	bool v = m != NULL && vm_page_all_valid(m);
	vm_object_unlock(obj);
	return v;
}

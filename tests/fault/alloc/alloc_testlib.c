/*
 * Shared by the fault-injection loops (tests/fault/alloc): a VM, an io
 * loop, a hostfs mount (/h/sub/file.bin) and an objfs image mount
 * (/img/obj.bin), TCP loopback connections drained from the loop, the
 * "nothing leaked" checks and the N = 1, 2, ... loop driver.
 */
#include "alloc_testlib.h"

#include "fault_alloc.h"

#include "core/tunable.h"
#include "core/util.h"
#include "fs/hostfs/hostfs.h"
#include "fs/objfs/arc.h"
#include "fs/objfs/image.h"
#include "fs/objfs/mkimage.h"
#include "fs/objfs/objfs_vfs.h"
#include "io/io.h"
#include "pager/pager.h"
#include "sendfile/sendfile.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/mempager.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#else
#define HAVE_LSAN 0
#endif

struct io_loop *fat_loop;
char fat_dir[PATH_MAX], fat_image[PATH_MAX + 8], fat_imgdir[PATH_MAX];
uint8_t *fat_fdata, *fat_odata;
static int base_fds;
static uint64_t base_objects;
static int64_t base_vnodes;

uint8_t *
fat_pattern(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n);
	cr_assert_not_null(p);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

static void
fat_put(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static int
fat_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	int n = 0;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Nothing in use: the state every iteration must return to. */
void
fat_check_clean(const char *loopname, unsigned long n)
{
	for (int i = 0; i < 1000 && vms_socket_count() > 0; i++)
		io_loop_run_once(fat_loop, true, 1000 * 1000);
	cr_assert_eq(vms_socket_count(), 0, "%s N=%lu: socket leaked", loopname, n);
	cr_assert(vm_quiescent(), "%s N=%lu: a page is busy or wired", loopname, n);
	vfs_cache_flush();
	cr_assert_eq(vm_object_count(), base_objects, "%s N=%lu: %llu objects, baseline %llu",
		     loopname, n, (unsigned long long)vm_object_count(),
		     (unsigned long long)base_objects);
	cr_assert_eq(atomic_load(&vfs_stats.vnodes_live), base_vnodes, "%s N=%lu: vnode leaked",
		     loopname, n);
	cr_assert_eq(fat_count_fds(), base_fds, "%s N=%lu: %d fds open, baseline %d", loopname, n,
		     fat_count_fds(), base_fds);
}

void
fat_check_no_leaks(const char *loopname)
{
#if HAVE_LSAN
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "%s: LeakSanitizer found leaks",
		     loopname);
#endif
}

void
fat_setup(void)
{
	cr_assert_eq(vm_init(256 * PAGE_SIZE), 0);
	cr_assert_eq(io_loop_create(&fat_loop, 256, 0), 0);
	sf_stats_reset();
	/* Every send allocates its gather list, so the loops fail that too. */
	cr_assert_eq(vms_tunable_set("sf_send_spares", "0"), 0);
	snprintf(fat_dir, sizeof(fat_dir), "/tmp/vmsend-falloc-XXXXXX");
	cr_assert_not_null(mkdtemp(fat_dir));
	char path[PATH_MAX + 32];
	fat_fdata = fat_pattern(FILE_SIZE, 5);
	snprintf(path, sizeof(path), "%s/sub", fat_dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sub/file.bin", fat_dir);
	fat_put(path, fat_fdata, FILE_SIZE);
	hostfs_register();
	cr_assert_eq(vfs_mount("/h", "hostfs", fat_dir, NULL), 0);

	/* An image with one file of 8 KiB records, some compressible. */
	snprintf(fat_imgdir, sizeof(fat_imgdir), "/tmp/vmsend-falloc-img-XXXXXX");
	cr_assert_not_null(mkdtemp(fat_imgdir));
	fat_odata = fat_pattern(OBJ_SIZE, 6);
	memset(fat_odata + 9 * PAGE_SIZE, 'z', 5 * PAGE_SIZE);
	snprintf(path, sizeof(path), "%s/obj.bin", fat_imgdir);
	fat_put(path, fat_odata, OBJ_SIZE);
	snprintf(fat_image, sizeof(fat_image), "%s.img", fat_imgdir);
	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	o.rs_shift = 13;
	struct objfs_mkimage_summary sum;
	char err[256] = "";
	cr_assert_eq(objfs_mkimage(fat_imgdir, fat_image, &o, &sum, err, sizeof(err)), 0, "%s",
		     err);
	objfs_register();
	cr_assert_eq(vfs_mount("/img", "objfs", fat_image, NULL), 0);

	/* Synchronous page-ins open this thread's private ring on first use: count it in. */
	cr_assert_not_null(io_loop_private());
	fat_baseline();
}

void
fat_baseline(void)
{
	vfs_cache_flush();
	base_objects = vm_object_count();
	base_vnodes = atomic_load(&vfs_stats.vnodes_live);
	base_fds = fat_count_fds();
}

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

void
fat_teardown(void)
{
	fault_alloc_disarm();
	vfs_unmount_all();
	cr_assert_eq(atomic_load(&vfs_stats.vnodes_live), 0, "vnodes leaked");
	arc_global_fini();
	io_loop_private_destroy();
	io_loop_destroy(fat_loop);
	cr_assert_eq(vm_object_count(), 0, "objects leaked");
	vm_fini();
	nftw(fat_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(fat_imgdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	unlink(fat_image);
	free(fat_fdata);
	free(fat_odata);
	hostfs_debug_read_cap = 0;
}

/* ---- a connection and a receiver drained from the loop ---- */

void
fat_conn_open(struct fat_conn *c)
{
	memset(c, 0, sizeof(*c));
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(l, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
	c->fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(c->fds[0], 0);
	cr_assert_eq(connect(c->fds[0], (struct sockaddr *)&a, sizeof(a)), 0);
	c->fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	cr_assert_geq(c->fds[1], 0);
	close(l);
	c->cap = 1 << 20;
	c->buf = malloc(c->cap);
	cr_assert_not_null(c->buf);
}

/* Read what has arrived (the test's own buffer: never a counted allocation). */
void
fat_conn_drain(struct fat_conn *c)
{
	while (!c->eof) {
		ssize_t r = read(c->fds[1], c->buf + c->len, c->cap - c->len);
		if (r > 0) {
			c->len += (size_t)r;
			cr_assert_lt(c->len, c->cap, "more bytes than any stream here has");
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->eof = true; /* EOF, or a reset after an abort */
		} else {
			break;
		}
	}
}

void
fat_conn_run(struct fat_conn *c)
{
	io_loop_run_once(fat_loop, true, 1000 * 1000);
	fat_conn_drain(c);
}

/* Close, run until the socket is gone (the fd is ours: closed then), and until the peer's EOF. */
void
fat_conn_close(struct fat_conn *c, int how)
{
	if (c->so != NULL)
		vms_socket_close(c->so, how);
	c->so = NULL;
	for (int i = 0; i < 100000 && vms_socket_count() > 0; i++)
		fat_conn_run(c);
	cr_assert_eq(vms_socket_count(), 0, "a closed socket was never freed");
	close(c->fds[0]);
	for (int i = 0; i < 100000 && !c->eof; i++) {
		fat_conn_drain(c);
		if (!c->eof)
			usleep(100);
	}
	cr_assert(c->eof, "the peer never saw the end of the stream");
	close(c->fds[1]);
}

void
fat_conn_free(struct fat_conn *c)
{
	free(c->buf);
}

/* Run until everything queued went out or the socket failed; returns its error. */
int
fat_conn_flush(struct fat_conn *c, struct vm_object *deferred)
{
	for (int i = 0; i < 100000 && vms_socket_sbcc(c->so) > 0 && vms_socket_error(c->so) == 0;
	     i++) {
		if (deferred != NULL)
			mempager_complete_pending(deferred);
		fat_conn_run(c);
	}
	return vms_socket_error(c->so);
}

/* The received stream is "head" + data[off, off + len) or a prefix of it. */
void
fat_check_stream(const struct fat_conn *c, const uint8_t *data, size_t off, size_t len, bool whole,
		 const char *what, unsigned long n)
{
	if (whole)
		cr_assert_eq(c->len, 4 + len, "%s N=%lu: received %zu of %zu bytes", what, n,
			     c->len, 4 + len);
	else
		cr_assert_lt(c->len, 4 + len, "%s N=%lu: a failed stream arrived whole", what, n);
	cr_assert_eq(memcmp(c->buf, "head", MIN(c->len, 4)), 0, "%s N=%lu: header", what, n);
	if (c->len > 4)
		cr_assert_eq(memcmp(c->buf + 4, data + off, c->len - 4), 0,
			     "%s N=%lu: wrong bytes received", what, n);
}

bool
fat_send_armed(unsigned long n, struct vnode *vp, int flags, const uint8_t *want, size_t len,
	       const char *what)
{
	struct fat_conn c;
	fat_conn_open(&c);
	struct iovec h = {"head", 4};
	struct vms_hdtr hd = {&h, 1, NULL, 0};

	fault_alloc_arm(n);
	int r = vms_socket_create(fat_loop, c.fds[0], NULL, &c.so);
	if (r == 0) {
		r = vms_sendfile_vnode(c.so, vp, 0, 0, &hd, NULL, flags);
		if (r == 0)
			r = fat_conn_flush(&c, NULL);
	} else {
		c.so = NULL;
	}
	fat_conn_close(&c, VMS_CLOSE_LINGER);
	bool fired = fault_alloc_disarm();

	/* SF_NODISKIO: no memory for the page array queues nothing more, like an uncached page. */
	bool ebusy_ok = (flags & SF_NODISKIO) != 0;
	cr_assert(r == 0 || r == -ENOMEM || r == -EIO || (ebusy_ok && r == -EBUSY),
		  "N=%lu: vms_sendfile gave %d", n, r);
	cr_assert(fired || r == 0, "N=%lu: failed (%d) with nothing injected", n, r);
	fat_check_stream(&c, want, 0, len, r == 0, what, n);
	fat_conn_free(&c);
	return fired;
}

void
fat_cache_pages(struct vm_object *obj, uint64_t first, int count)
{
	for (int i = 0; i < count; i++) {
		struct vm_page *m = vm_page_grab(obj, first + i, 0);
		cr_assert_not_null(m);
		if (!vm_page_all_valid(m))
			cr_assert_eq(pager_getpages(obj, &m, 1, NULL, NULL), PAGER_OK);
		vm_page_xunbusy(m);
	}
}

/* ---- the loop driver ---- */

/*
 * Run op with injection point n = 1, 2, ... until an iteration had nothing
 * to fail.  Returns the number of injection points exercised.
 */
unsigned long
fat_loop_run(const char *name, fat_op_t *op, const void *arg)
{
	unsigned long n = 1;
	for (;; n++) {
		bool fired = op(n, arg);
		fat_check_clean(name, n);
		if (!fired)
			break;
		cr_assert_lt(n, 100000, "%s: no end in sight", name);
	}
	fat_check_no_leaks(name);
	printf("%s: %lu injection points\n", name, n - 1);
	fflush(stdout);
	return n - 1;
}

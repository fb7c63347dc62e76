/*
 * `vmsend incident`: the 2018 FreeBSD panic, reproduced, then the same
 * transfer done the vmsend way (docs/contract.md).
 *
 *   1. An objfs image holds one file; its middle page is already cached.
 *      The file is sent with coalescing through a pager that behaves like
 *      the 2018 ZFS code (asserts exclusive busy on every array entry and
 *      does not declare PAGER_CAP_BOGUS), sendfile coalescing regardless of
 *      the capability and the dispatch checks off, as FreeBSD had none.  It
 *      runs in a child process, which panics with
 *      "vm_page_assert_xbusied: page 0x... not exclusive busy @ ...dmu.c".
 *   2. The same transfer with the capability-aware objfs pager (coalesced:
 *      one I/O, the bogus slot skipped), and with the 2018 pager under the
 *      rules (sendfile splits around the cached page): right bytes, counters.
 *
 * Debug builds only: the 2018 switches exist only with VMSEND_INVARIANTS.
 */
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

#ifndef VMSEND_INVARIANTS
int
cmd_incident(int argc, char **argv)
{
	/* --help still answers, as every command's does (make release builds man pages from it). */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("Usage: vmsend incident\n\n"
			       "Reproduce the 2018 FreeBSD sendfile/ZFS panic in a child, then run "
			       "the\n"
			       "same transfer the vmsend way.  Needs a debug build "
			       "(VMSEND_INVARIANTS):\n"
			       "run 'make incident'.\n");
			return 0;
		}
	}
	fprintf(stderr, "vmsend incident: needs a debug build (VMSEND_INVARIANTS); run "
			"'make incident'\n");
	return 2;
}
#else

#include "fs/objfs/arc.h"
#include "fs/objfs/dmu.h"
#include "fs/objfs/image.h"
#include "fs/objfs/mkimage.h"
#include "io/io.h"
#include "pager/pager.h"
#include "sendfile/sendfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_PAGES  16
#define CACHED_PAGE 7

static char dir[] = "/tmp/vmsend-incident-XXXXXX";
static char image[96];
static uint8_t filebytes[FILE_PAGES * 4096 + 100];
static struct objfs_fs *fs;
static struct objfs_dnode dn;
static struct io_loop *loop;

struct sink {
	int fd;
	uint8_t *buf;
	size_t len;
};

static void *
sink_main(void *arg)
{
	struct sink *s = arg;
	size_t cap = sizeof(filebytes) + 4096;
	s->buf = malloc(cap);
	ssize_t n;
	while (s->buf != NULL && (n = read(s->fd, s->buf + s->len, cap - s->len)) > 0)
		s->len += (size_t)n;
	return NULL;
}

/* Make `obj`'s middle page valid through a one-page read (no placeholder involved). */
static int
cache_middle_page(struct vm_object *obj)
{
	struct vm_page *m = vm_page_grab(obj, CACHED_PAGE, 0);
	int rv = pager_getpages(obj, &m, 1, NULL, NULL);
	vm_page_xunbusy(m);
	return rv == PAGER_OK ? 0 : -EIO;
}

/* Send the whole file of `obj` over a socketpair; 0 if the peer got exactly the file. */
static int
send_file(struct vm_object *obj)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -errno;
	struct sink s = {.fd = sv[1]};
	pthread_t th;
	pthread_create(&th, NULL, sink_main, &s);
	struct vms_socket *so;
	struct vms_socket_params p = {.close_fd = true};
	int error = vms_socket_create(loop, sv[0], &p, &so);
	off_t sbytes = 0;
	if (error == 0) {
		error = vms_sendfile_blocking(so, obj, 0, 0, NULL, &sbytes, 0);
		vms_socket_close(so, VMS_CLOSE_LINGER);
		while (vms_socket_count() != 0)
			io_loop_run_once(loop, true, 10 * 1000 * 1000);
	}
	pthread_join(th, NULL);
	close(sv[1]);
	bool same = s.len == sizeof(filebytes) && memcmp(s.buf, filebytes, s.len) == 0;
	free(s.buf);
	if (error == 0 && !same)
		error = -EILSEQ;
	return error;
}

static void
print_counters(void)
{
	printf("      sendfile: ios %llu, pages read %llu, pages already valid %llu, "
	       "bogus pages %llu\n",
	       (unsigned long long)counter_get(&sf_stats.ios),
	       (unsigned long long)counter_get(&sf_stats.pages_read),
	       (unsigned long long)counter_get(&sf_stats.pages_valid),
	       (unsigned long long)counter_get(&sf_stats.pages_bogus));
	printf("      objfs pager: getpages %llu, pages filled %llu, bogus slots skipped %llu\n",
	       (unsigned long long)counter_get(&dmu_stats.reads),
	       (unsigned long long)counter_get(&dmu_stats.pages_filled),
	       (unsigned long long)counter_get(&dmu_stats.bogus_skipped));
}

static void
reset_counters(void)
{
	sf_stats_reset();
	memset(&dmu_stats, 0, sizeof(dmu_stats));
}

/* Step 1, in the child: the 2018 code path.  Does not return if it panics. */
static void
run_2018(void)
{
	pager_contract_checks = 0;      /* FreeBSD had no dispatch checks */
	sf_coalesce_ignore_caps = true; /* sendfile coalesced for every pager */
	sf_swapin_policy = SF_POLICY_COALESCE;
	struct vm_object *obj = dmu_object_create(fs, &dn, "movie.bin", &objfs_pager_2018_ops);
	if (obj == NULL || cache_middle_page(obj) != 0)
		_exit(3);
	send_file(obj);
	_exit(0); /* no panic: not reproduced */
}

static int
setup(void)
{
	if (mkdtemp(dir) == NULL)
		return -errno;
	snprintf(image, sizeof(image), "%s.img", dir);
	char path[128];
	snprintf(path, sizeof(path), "%s/movie.bin", dir);
	for (size_t i = 0; i < sizeof(filebytes); i++)
		filebytes[i] = (uint8_t)(i * 131 + i / 4096 * 7 + 1);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, filebytes, sizeof(filebytes)) != (ssize_t)sizeof(filebytes))
		return -EIO;
	close(fd);
	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	struct objfs_mkimage_summary sum;
	char err[256];
	if (objfs_mkimage(dir, image, &o, &sum, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmsend incident: mkimage: %s\n", err);
		return -EIO;
	}
	if (vm_init(4 << 20) != 0 || io_loop_create(&loop, 64, IO_LOOP_ARENA) != 0)
		return -ENOMEM;
	if (objfs_fs_open(image, NULL, &fs, err, sizeof(err)) != 0 ||
	    objfs_image_lookup(fs->img, "movie.bin", &dn) != 0) {
		fprintf(stderr, "vmsend incident: open %s: %s\n", image, err);
		return -EIO;
	}
	return 0;
}

static void
cleanup(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/movie.bin", dir);
	unlink(path);
	rmdir(dir);
	unlink(image);
}

/* Step 2: one transfer the vmsend way. */
static bool
run_vmsend_way(const char *title, const struct pager_ops *ops, int policy)
{
	reset_counters();
	sf_swapin_policy = policy;
	struct vm_object *obj = dmu_object_create(fs, &dn, "movie.bin", ops);
	int error = obj == NULL ? -ENOMEM : cache_middle_page(obj);
	reset_counters(); /* count the transfer only */
	if (error == 0)
		error = send_file(obj);
	printf("  %s: %s\n", title,
	       error == 0         ? "all bytes right"
	       : error == -EILSEQ ? "WRONG BYTES"
				  : strerror(-error));
	print_counters();
	if (obj != NULL)
		vm_object_deallocate(obj);
	return error == 0;
}

int
cmd_incident(int argc, char **argv)
{
	if (argc > 1) {
		printf("usage: vmsend incident\n  Reproduce the 2018 sendfile/ZFS panic in a child "
		       "process, then send the same file the vmsend way.\n");
		return strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	if (setup() != 0) {
		cleanup();
		return 1;
	}
	printf("vmsend incident: an objfs file of %d pages + 100 bytes, page %d already cached\n\n",
	       FILE_PAGES, CACHED_PAGE);
	printf("1. 2018: sendfile coalesces (bogus_page for page %d) into a pager that asserts\n"
	       "   exclusive busy on every array entry and does not declare PAGER_CAP_BOGUS\n",
	       CACHED_PAGE);
	int pfd[2];
	if (pipe(pfd) != 0)
		return 1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDERR_FILENO);
		run_2018();
	}
	close(pfd[1]);
	char out[16384];
	size_t n = 0;
	ssize_t r;
	while ((r = read(pfd[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(pfd[0]);
	int status;
	waitpid(pid, &status, 0);
	bool reproduced = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
			  strstr(out, "vm_page_assert_xbusied: page 0x") != NULL;
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"))
		if (strstr(line, "vmsend[") == NULL) /* skip log lines */
			printf("   | %s\n", line);
	printf("   -> %s\n\n", reproduced ? "the child panicked, as FreeBSD did"
					  : "NOT reproduced (the child did not panic)");

	printf("2. vmsend: the contract checked at every call\n");
	bool ok = run_vmsend_way("capability-aware objfs pager, coalesce (one I/O, bogus slot "
				 "skipped)",
				 &objfs_pager_ops, SF_POLICY_COALESCE);
	ok &=
	    run_vmsend_way("2018 pager without PAGER_CAP_BOGUS: sendfile splits around the cached "
			   "page",
			   &objfs_pager_2018_ops, SF_POLICY_COALESCE);
	ok &=
	    run_vmsend_way("split policy with the objfs pager", &objfs_pager_ops, SF_POLICY_SPLIT);
	objfs_fs_rele(fs);
	io_loop_destroy(loop);
	vm_fini();
	cleanup();
	printf("\n%s\n",
	       reproduced && ok ? "incident reproduced and avoided" : "vmsend incident: FAILED");
	return reproduced && ok ? 0 : 1;
}
#endif

/*
 * The objfs commands end to end, through the vmsend binary: mkimage's
 * summary, `objfs cat` byte-identical for every file of an edge-case tree,
 * `objfs ls`, and fsck's exit status and report on a damaged image.
 */
#include "fs/objfs/image.h"
#include "objfs_tree.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pty.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static struct ttree tree;
static char image[300], out[300], errf[300], bin[4096];

static void
setup(void)
{
	ttree_init(&tree, 4242);
	snprintf(image, sizeof(image), "%s.img", tree.root);
	snprintf(out, sizeof(out), "%s.out", tree.root);
	snprintf(errf, sizeof(errf), "%s.err", tree.root);
	const char *b = getenv("VMSEND_BINARY_DIR");
	cr_assert_not_null(b, "run under ctest (VMSEND_BINARY_DIR)");
	snprintf(bin, sizeof(bin), "%s/src/cli/vmsend", b);
}

static void
teardown(void)
{
	ttree_fini(&tree);
	unlink(image);
	unlink(out);
	unlink(errf);
}

TestSuite(objfs_cli, .init = setup, .fini = teardown, .timeout = 240);

/* Run vmsend with args (no shell), stdout to `out`, stderr to `errf`; exit status. */
static int
run(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5)
{
	char *argv[] = {bin, (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	pid_t pid;
	int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(rc, 0, "spawn %s: %s", bin, strerror(rc));
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "vmsend %s %s died", a1, a2 ? a2 : "");
	return WEXITSTATUS(st);
}

Test(objfs_cli, mkimage_then_cat_every_file_byte_identical)
{
	ttree_standard(&tree, 4096, 25);
	cr_assert_eq(run("mkimage", "--level", "0", tree.root, image), 0); /* LZ4's fast mode */
	cr_assert_eq(run("mkimage", "--threads", "3", tree.root, image), 0);
	cr_assert_eq(run("mkimage", "--recordsize", "4K", tree.root, image), 0);
	size_t len;
	char *s = ttree_slurp(out, &len);
	cr_expect(strstr(s, " files, ") != NULL, "%s", s);
	cr_expect(strstr(s, "compression ratio") != NULL, "%s", s);
	cr_expect(strstr(s, "holes: ") != NULL, "%s", s);
	cr_expect(strstr(s, "record size 4096") != NULL, "%s", s);
	free(s);
	s = ttree_slurp(errf, &len);
	cr_expect_eq(len, 0, "no progress bar when stderr is not a terminal: %s", s);
	free(s);

	for (size_t i = 0; i < tree.n; i++) {
		if (tree.e[i].dir)
			continue;
		cr_assert_eq(run("objfs", "cat", image, tree.e[i].rel, NULL), 0, "cat %s",
			     tree.e[i].rel);
		size_t wl, gl;
		char *want = ttree_read(&tree, tree.e[i].rel, &wl);
		char *got = ttree_slurp(out, &gl);
		cr_assert_eq(gl, wl, "%s: %zu bytes, want %zu", tree.e[i].rel, gl, wl);
		cr_assert(memcmp(want, got, wl) == 0, "%s differs", tree.e[i].rel);
		free(want);
		free(got);
	}
	cr_expect_eq(run("objfs", "ls", image, "we ird", NULL), 0);
	s = ttree_slurp(out, &len);
	cr_expect(strstr(s, " .hidden\n") != NULL, "%s", s);
	cr_expect(strstr(s, " -\n") != NULL, "%s", s);
	free(s);
	cr_expect_eq(run("objfs", "stat", image, "sparse", NULL), 0);
	s = ttree_slurp(out, &len);
	cr_expect(strstr(s, "size: 163857") != NULL, "%s", s);
	free(s);
	cr_expect_eq(run("fsck", image, NULL, NULL, NULL), 0);
	s = ttree_slurp(out, &len);
	cr_expect(strstr(s, "clean") != NULL, "%s", s);
	free(s);
}

Test(objfs_cli, guid_and_time_make_an_image_reproducible)
{
	char image2[320];
	snprintf(image2, sizeof(image2), "%s.2.img", tree.root);
	ttree_standard(&tree, 4096, 26);
	/* The time from SOURCE_DATE_EPOCH, as reproducible builds set it. */
	cr_assert_eq(setenv("SOURCE_DATE_EPOCH", "1700000000", 1), 0);
	cr_assert_eq(run("mkimage", "--guid", "0123456789abcdef", tree.root, image), 0);
	cr_assert_eq(unsetenv("SOURCE_DATE_EPOCH"), 0);
	cr_assert_eq(
	    run("mkimage", "--time=1700000000", "--guid=123456789ABCDEF", tree.root, image2), 0);
	size_t la, lb;
	char *a = ttree_slurp(image, &la), *b = ttree_slurp(image2, &lb);
	cr_assert_eq(la, lb);
	cr_assert(memcmp(a, b, la) == 0, "the same tree, guid and time made different images");
	free(a);
	free(b);
	cr_assert_eq(run("objfs", "info", image2, NULL, NULL), 0);
	size_t len;
	char *s = ttree_slurp(out, &len);
	cr_expect(strstr(s, "guid: 0123456789abcdef") != NULL, "%s", s);
	cr_expect(strstr(s, "created: 2023-11-14") != NULL, "%s", s);
	free(s);
	/* Without them, two packs differ (a random guid). */
	cr_assert_eq(run("mkimage", tree.root, image2, NULL, NULL), 0);
	a = ttree_slurp(image, &la);
	b = ttree_slurp(image2, &lb);
	cr_assert(la != lb || memcmp(a, b, la) != 0);
	free(a);
	free(b);
	unlink(image2);

	cr_expect_eq(run("mkimage", "--guid", "0", tree.root, image), 2);
	cr_expect_eq(run("mkimage", "--guid", "12345678901234567", tree.root, image), 2);
	cr_expect_eq(run("mkimage", "--guid", "xyz", tree.root, image), 2);
	cr_expect_eq(run("mkimage", "--time", "-5", tree.root, image), 2);
	s = ttree_slurp(errf, &len);
	cr_expect(strstr(s, "--time -5: must be a decimal number") != NULL, "%s", s);
	free(s);
	cr_assert_eq(setenv("SOURCE_DATE_EPOCH", "yesterday", 1), 0);
	cr_expect_eq(run("mkimage", tree.root, image, NULL, NULL), 2);
	cr_assert_eq(unsetenv("SOURCE_DATE_EPOCH"), 0);
	s = ttree_slurp(errf, &len);
	cr_expect(strstr(s, "SOURCE_DATE_EPOCH yesterday") != NULL, "%s", s);
	free(s);
}

Test(objfs_cli, damaged_image_fsck_and_cat)
{
	ttree_file(&tree, "ok.txt", 3000, 'c');
	ttree_file(&tree, "bad.bin", 3 * 4096, 'r');
	cr_assert_eq(run("mkimage", "--recordsize", "4096", tree.root, image), 0);
	struct objfs_image *img;
	cr_assert_eq(objfs_image_open(image, OBJFS_OPEN_QUIET, &img, NULL, 0), 0);
	struct objfs_dnode dn;
	struct objfs_bp bp;
	cr_assert_eq(objfs_image_lookup(img, "bad.bin", &dn), 0);
	cr_assert_eq(objfs_image_bp(img, &dn, 2, &bp), 0);
	objfs_image_close(img);
	int fd = open(image, O_RDWR);
	char c;
	cr_assert_eq(pread(fd, &c, 1, (off_t)bp.offset + 7), 1);
	c ^= 1;
	cr_assert_eq(pwrite(fd, &c, 1, (off_t)bp.offset + 7), 1);
	close(fd);

	cr_expect_eq(run("fsck", image, NULL, NULL, NULL), 1);
	size_t len;
	char *s = ttree_slurp(out, &len);
	cr_expect(strstr(s, "DAMAGED /bad.bin: record 2 (offsets 8192..12287)") != NULL, "%s", s);
	cr_expect(strstr(s, "1 problems") != NULL, "%s", s);
	free(s);

	/* cat stops at the bad record: the bytes before it, never wrong ones. */
	cr_expect_eq(run("objfs", "cat", image, "bad.bin", NULL), 1);
	size_t wl;
	char *want = ttree_read(&tree, "bad.bin", &wl);
	s = ttree_slurp(out, &len);
	cr_expect_eq(len, 8192);
	cr_expect(memcmp(want, s, len) == 0);
	free(s);
	free(want);
	s = ttree_slurp(errf, &len);
	cr_expect(strstr(s, "Input/output error at file offset 8192") != NULL, "%s", s);
	free(s);
	cr_expect_eq(run("objfs", "cat", image, "ok.txt", NULL), 0);
}

Test(objfs_cli, usage_and_open_errors)
{
	cr_expect_eq(run("mkimage", "--recordsize", "3000", tree.root, image), 2);
	cr_expect_eq(run("mkimage", "--recordsize", "2M", tree.root, image), 2);
	cr_expect_eq(run("mkimage", "--level", "4x", tree.root, image), 2);
	cr_expect_eq(run("mkimage", "--threads", "0", tree.root, image), 2);
	cr_expect_eq(run("mkimage", "--level", "13", tree.root, image), 2);
	size_t len;
	char *s = ttree_slurp(errf, &len);
	cr_expect(strstr(s, "--level 13: must be a number from 0 to 12") != NULL, "%s", s);
	free(s);
	cr_expect_eq(run("mkimage", "/nonexistent/dir", image, NULL, NULL), 1);
	cr_expect_eq(access(image, F_OK), -1, "no image left behind");
	cr_expect_eq(run("fsck", NULL, NULL, NULL, NULL), 2);
	cr_expect_eq(run("objfs", "frob", image, "x", NULL), 2);
	/* Not an image at all. */
	int fd = open(image, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(write(fd, "hello, this is not an image", 27), 27);
	close(fd);
	cr_expect_eq(run("objfs", "ls", image, NULL, NULL), 1);
	s = ttree_slurp(errf, &len);
	cr_expect(strstr(s, "not an objfs image (bad magic") != NULL, "%s", s);
	free(s);
	cr_expect_eq(run("fsck", image, NULL, NULL, NULL), 1);
	s = ttree_slurp(out, &len);
	cr_expect(strstr(s, "FATAL") != NULL && strstr(s, "bad magic") != NULL, "%s", s);
	free(s);
}

Test(objfs_cli, progress_bar_only_on_a_terminal)
{
	ttree_file(&tree, "big", 3 << 20, 'r');
	int master, slave;
	cr_assert_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
	char *argv[] = {bin, "mkimage", tree.root, image, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, slave, 2);
	posix_spawn_file_actions_addclose(&fa, master);
	pid_t pid;
	cr_assert_eq(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(slave);
	char tty[8192];
	size_t n = 0;
	for (;;) {
		ssize_t r = read(master, tty + n, sizeof(tty) - 1 - n);
		if (r <= 0) /* EIO once the child has gone and closed the terminal */
			break;
		n += (size_t)r;
	}
	tty[n] = '\0';
	close(master);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_expect(strstr(tty, "mkimage [") != NULL, "bar drawn: %s", tty);
	cr_expect(strstr(tty, "100%") != NULL, "bar completes: %s", tty);
	cr_expect(strchr(tty, '\r') != NULL, "bar redraws in place");
	size_t len;
	char *s = ttree_slurp(out, &len);
	cr_expect(strstr(s, "1 files") != NULL, "summary on stdout: %s", s);
	cr_expect(strstr(s, "[") == NULL, "no bar on stdout");
	free(s);
}

Test(objfs_cli, torn_and_truncated_images_say_so)
{
	ttree_file(&tree, "f", 5000, 'r');
	cr_assert_eq(run("mkimage", tree.root, image, NULL, NULL), 0);
	/* Tear the newest uberblock (slot 3, generation 4). */
	int fd = open(image, O_RDWR);
	char c;
	off_t off = OBJFS_UBER_OFFSET + 3 * OBJFS_UBER_SIZE + 100;
	cr_assert_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
	cr_expect_eq(run("objfs", "info", image, NULL, NULL), 0);
	size_t len;
	char *s = ttree_slurp(out, &len);
	cr_expect(strstr(s, "generation 3 in slot 2 (3 of 4 slots valid), fell back") != NULL, "%s",
		  s);
	cr_expect(strstr(s, "format: version 2") != NULL, "%s", s);
	cr_expect(strstr(s, "server reads: ") != NULL, "%s", s);
	free(s);
	cr_expect_eq(run("objfs", "cat", image, "f", NULL), 0, "the older root still reads");
	cr_expect_eq(run("fsck", image, NULL, NULL, NULL), 1);
	s = ttree_slurp(out, &len);
	cr_expect(strstr(s, "uberblock slot 3") != NULL && strstr(s, "torn") != NULL, "%s", s);
	free(s);

	struct stat st;
	cr_assert_eq(stat(image, &st), 0);
	cr_assert_eq(truncate(image, st.st_size / 2), 0);
	cr_expect_eq(run("objfs", "cat", image, "f", NULL), 1);
	s = ttree_slurp(errf, &len);
	cr_expect(strstr(s, "truncated image") != NULL && strstr(s, "copy it again") != NULL, "%s",
		  s);
	free(s);
}

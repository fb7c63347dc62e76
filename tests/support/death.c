#include "death.h"

#include "core/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int
run_child(void (*fn)(void *), void *arg, char *buf, size_t buflen)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		vms_log_set_fd(STDERR_FILENO); /* as the CLI does: panics are read from stderr */
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while ((r = read(p[0], buf + n, buflen - 1 - n)) > 0 && n < buflen - 1)
		n += (size_t)r;
	/* Drain whatever did not fit so the child never blocks on a full pipe. */
	char sink[4096];
	while (r > 0 && (r = read(p[0], sink, sizeof(sink))) > 0)
		;
	buf[n] = '\0';
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	return status;
}

bool
death_expect(void (*fn)(void *), void *arg, const char *expect, char *out, unsigned outlen)
{
	static char buf[65536];
	int status = run_child(fn, arg, buf, sizeof(buf));
	if (out != NULL && outlen > 0) {
		strncpy(out, buf, outlen - 1);
		out[outlen - 1] = '\0';
	}
	bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
	bool found = strstr(buf, expect) != NULL;
	if (aborted && found)
		return true;
	fprintf(stderr, "death_expect: wanted SIGABRT with \"%s\"; got %s %d; stderr:\n%s\n",
		expect, WIFSIGNALED(status) ? "signal" : "exit",
		WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), buf);
	return false;
}

bool
death_survives(void (*fn)(void *), void *arg)
{
	static char buf[65536];
	int status = run_child(fn, arg, buf, sizeof(buf));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	fprintf(stderr, "death_survives: child died (status %#x); stderr:\n%s\n", status, buf);
	return false;
}

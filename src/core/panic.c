/*
 * vms_panic: report the message and a backtrace where the log goes (the
 * embedder's sink gets the message; the CLI's stderr gets both), and abort.
 *
 * backtrace_symbols_fd() names only exported functions; most of ours are
 * static.  So the frames in our own executable are also resolved with
 * addr2line (binutils, always beside gcc) into "function (file:line)",
 * which makes a contract violation readable straight from the log.
 */
#include "core/assert.h"
#include "core/log.h"

#include <dlfcn.h>
#include <limits.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void (*vms_panic_hook)(void);

/* Resolve the frames that lie in the main executable; prints nothing if addr2line is missing. */
static void
symbolize(int fd, void *const *frames, int n)
{
	char exe[PATH_MAX];
	if (realpath("/proc/self/exe", exe) == NULL)
		return;
	char cmd[4096];
	int off = snprintf(cmd, sizeof(cmd), "addr2line -f -e '%s'", exe);
	int idx[64], m = 0;
	for (int i = 0; i < n && off < (int)sizeof(cmd) - 32; i++) {
		Dl_info info;
		if (dladdr(frames[i], &info) == 0 || info.dli_fname == NULL)
			continue;
		char fname[PATH_MAX];
		if (realpath(info.dli_fname, fname) == NULL || strcmp(fname, exe) != 0)
			continue;
		/* return addresses point after the call: -1 lands on the call's line */
		uintptr_t rel = (uintptr_t)frames[i] - (uintptr_t)info.dli_fbase - 1;
		off += snprintf(cmd + off, sizeof(cmd) - off, " %#lx", (unsigned long)rel);
		idx[m++] = i;
	}
	if (m == 0)
		return;
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return;
	char fn[256], loc[512];
	dprintf(fd, "frames in vmsend:\n");
	for (int k = 0; k < m && fgets(fn, sizeof(fn), p) && fgets(loc, sizeof(loc), p); k++) {
		fn[strcspn(fn, "\n")] = '\0';
		loc[strcspn(loc, "\n")] = '\0';
		const char *src = strstr(loc, "/src/");
		dprintf(fd, "  #%-2d %s (%s)\n", idx[k], fn, src ? src + 1 : loc);
	}
	pclose(p);
}

void
vms_panic(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char report[1200];
	snprintf(report, sizeof(report), "%s @ %s:%d", msg, file, line);
	int fd = vms_log_panic(report);
	if (fd >= 0) {
		/* One write so that concurrent panics do not interleave mid-line. */
		dprintf(fd, "panic: %s\n", report);
		void *frames[64];
		int n = backtrace(frames, 64);
		dprintf(fd, "backtrace:\n");
		backtrace_symbols_fd(frames, n, fd);
		symbolize(fd, frames, n);
	}
	if (vms_panic_hook != NULL)
		vms_panic_hook();
	abort();
}

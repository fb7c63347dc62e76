#include "core/assert.h"
#include "core/log.h"

#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void (*vms_panic_hook)(void);

void
vms_panic(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One write so that concurrent panics do not interleave mid-line. */
	dprintf(STDERR_FILENO, "panic: %s @ %s:%d\n", msg, file, line);

	void *frames[64];
	int n = backtrace(frames, 64);
	dprintf(STDERR_FILENO, "backtrace:\n");
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	if (vms_panic_hook != NULL)
		vms_panic_hook();
	abort();
}

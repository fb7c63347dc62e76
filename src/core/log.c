#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int vms_log_level = VMS_LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
vms_log_set_fd(int fd)
{
	log_fd = fd;
}

int
vms_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void
vms_log(enum vms_log_level level, const char *subsys, const char *fmt, ...)
{
	if ((int)level > vms_log_level)
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n += snprintf(line + n, sizeof(line) - n, " vmsend[%d] %s %s: ", (int)getpid(),
		      level_names[level], subsys);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n = m < 0 ? n : (n + m > (int)sizeof(line) - 2 ? (int)sizeof(line) - 2 : n + m);
	line[n++] = '\n';
	ssize_t w = write(log_fd, line, n);
	(void)w;
}

#include "core/log.h"

#include "core/util.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int vms_log_level = VMS_LOG_INFO;
/* The library prints nothing by default: the CLI points it at stderr, an embedder sets a sink. */
static _Atomic int log_fd = -1;
static vms_log_sink_t *_Atomic log_sink;
static void *_Atomic log_sink_arg;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
vms_log_set_fd(int fd)
{
	log_fd = fd;
}

void
vms_log_set_sink(vms_log_sink_t *fn, void *arg)
{
	atomic_store(&log_sink_arg, arg);
	atomic_store(&log_sink, fn);
}

int
vms_log_panic(const char *msg)
{
	vms_log_sink_t *sink = atomic_load(&log_sink);
	if (sink == NULL)
		return atomic_load(&log_fd);
	sink(atomic_load(&log_sink_arg), VMS_LOG_ERROR, "panic", msg);
	return -1;
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
	vms_log_sink_t *sink = atomic_load(&log_sink);
	int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
	if (sink == NULL && fd < 0)
		return;
	char line[2048];
	va_list ap;
	if (sink != NULL) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		sink(atomic_load(&log_sink_arg), (int)level, subsys, line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n += snprintf(line + n, sizeof(line) - n, " vmsend[%d] %s %s: ", (int)getpid(),
		      level_names[level], subsys);
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n = m < 0 ? n : (n + m > (int)sizeof(line) - 2 ? (int)sizeof(line) - 2 : n + m);
	line[n++] = '\n';
	ssize_t w = write(fd, line, n);
	(void)w;
}

bool
vms_log_every(_Atomic uint64_t *last_ns, uint64_t interval_ns)
{
	uint64_t now = vms_now_ns(), last = atomic_load(last_ns);
	return (last == 0 || now - last >= interval_ns) &&
	       atomic_compare_exchange_strong(last_ns, &last, now);
}

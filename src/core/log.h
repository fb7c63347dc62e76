/*
 * A levelled logger.  The library writes nowhere by default: lines go to
 * the sink an embedder set (vms_log_set_sink: level, subsystem and the bare
 * message), or else to the fd the CLI set (vms_log_set_fd(2)) as
 * "2026-11-25T13:00:00Z vmsend[pid] LEVEL subsystem: message".
 * The level comes from the tunable "log_level" (error, warn, info, debug).
 * Thread-safe: each line is written with one write(2).
 */
#ifndef VMSEND_CORE_LOG_H
#define VMSEND_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum vms_log_level { VMS_LOG_ERROR = 0, VMS_LOG_WARN, VMS_LOG_INFO, VMS_LOG_DEBUG };

extern int vms_log_level; /* lines above this level are dropped */

__attribute__((format(printf, 3, 4))) void vms_log(enum vms_log_level level, const char *subsys,
						   const char *fmt, ...);
/* Parse "error|warn|info|debug"; returns the level or -1. */
int vms_log_level_parse(const char *s);
/* Send log lines to fd (default -1: nowhere). */
void vms_log_set_fd(int fd);
/* Send messages to fn instead (NULL: back to the fd); fn must be thread-safe. */
typedef void vms_log_sink_t(void *arg, int level, const char *subsys, const char *msg);
void vms_log_set_sink(vms_log_sink_t *fn, void *arg);
/*
 * For vms_panic: with a sink set, hands it `msg` (VMS_LOG_ERROR, subsystem
 * "panic") and returns -1; otherwise returns the log fd, where the panic
 * writes its message and backtrace (-1: nowhere; an embedder that set no
 * log hears of a panic only by the abort).
 */
int vms_log_panic(const char *msg);
/*
 * For a warning that could come with every request (a full disk, no
 * memory): true at most once per interval_ns for one *last_ns (start it at
 * 0), to the one caller that won the slot.  Say the count so far in the line.
 */
bool vms_log_every(_Atomic uint64_t *last_ns, uint64_t interval_ns);

#define LOG_ERR(sub, ...)   vms_log(VMS_LOG_ERROR, sub, __VA_ARGS__)
#define LOG_WARN(sub, ...)  vms_log(VMS_LOG_WARN, sub, __VA_ARGS__)
#define LOG_INFO(sub, ...)  vms_log(VMS_LOG_INFO, sub, __VA_ARGS__)
#define LOG_DEBUG(sub, ...) vms_log(VMS_LOG_DEBUG, sub, __VA_ARGS__)

#endif

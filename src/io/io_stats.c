/* The io layer's counters, registered for the reports (core/stats.h). */
#include "io/io.h"

struct io_stats io_stats;

VMS_STAT_COUNTER(io_stats.submits, "io_submits", "SQEs submitted");
VMS_STAT_COUNTER(io_stats.completions, "io_completions", "CQEs dispatched");
VMS_STAT_COUNTER(io_stats.posts, "io_posts", "cross-thread posts");
VMS_STAT_COUNTER(io_stats.wakes_msg, "io_wakes_msg", "cross-thread wakes sent with msg_ring");
VMS_STAT_COUNTER(io_stats.wakes_efd, "io_wakes_efd", "cross-thread wakes sent with the eventfd");
VMS_STAT_COUNTER(io_stats.timers_fired, "io_timers_fired", "loop timers that fired");

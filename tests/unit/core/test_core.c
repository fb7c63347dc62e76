/* src/core: assertions print both sides, tunables parse and apply, the logger filters. */
#include "core/assert.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/tunable.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/death.h"

VMS_TUNABLE(test_knob, "test_knob", 42, "a knob for tests");

Test(tunable, parse_sizes)
{
	int64_t v;
	cr_assert_eq(vms_parse_size("123", &v), 0);
	cr_assert_eq(v, 123);
	cr_assert_eq(vms_parse_size("64K", &v), 0);
	cr_assert_eq(v, 65536);
	cr_assert_eq(vms_parse_size("256M", &v), 0);
	cr_assert_eq(v, 256ll << 20);
	cr_assert_eq(vms_parse_size("2G", &v), 0);
	cr_assert_eq(v, 2ll << 30);
	cr_assert_eq(vms_parse_size("1GiB", &v), 0);
	cr_assert_eq(v, 1ll << 30);
	cr_assert_eq(vms_parse_size("0x10", &v), 0);
	cr_assert_eq(v, 16);
	cr_assert_eq(vms_parse_size("", &v), -EINVAL);
	cr_assert_eq(vms_parse_size("12Q", &v), -EINVAL);
	cr_assert_eq(vms_parse_size("99999999999999G", &v), -EINVAL);
}

Test(tunable, set_by_name_flag_and_environment)
{
	cr_assert_eq(test_knob, 42);
	cr_assert_not_null(vms_tunable_find("test_knob"));
	cr_assert_eq(vms_tunable_set("test_knob", "7"), 0);
	cr_assert_eq(test_knob, 7);
	cr_assert_eq(vms_tunable_set_arg("test_knob=1K"), 0);
	cr_assert_eq(test_knob, 1024);
	cr_assert_eq(vms_tunable_set("no_such_knob", "1"), -ENOENT);
	cr_assert_eq(vms_tunable_set_arg("test_knob"), -EINVAL);
	cr_assert_eq(vms_tunable_set("test_knob", "x"), -EINVAL);
	cr_assert_eq(test_knob, 1024, "a bad value leaves the knob alone");
	setenv("VMSEND_TEST_KNOB", "99", 1);
	cr_assert_eq(vms_tunables_load_env(), 0);
	cr_assert_eq(test_knob, 99);
	vms_tunables_reset();
	cr_assert_eq(test_knob, 42);
}

static void
verify3u_fails(void *arg)
{
	unsigned a = 3, b = 5;
	VERIFY3U(a, ==, b);
}

Test(assert, verify3u_prints_both_sides_and_backtrace)
{
	char out[8192];
	cr_assert(death_expect(verify3u_fails, NULL, "VERIFY3(a == b) failed (3 == 5) @ ", out,
			       sizeof(out)));
	cr_assert(strstr(out, "test_core.c:") != NULL);
	cr_assert(strstr(out, "backtrace:") != NULL);
}

static void
kassert_fails(void *arg)
{
	KASSERT(1 == 2, ("custom %s %d", "message", 7));
}

Test(assert, kassert_formats_its_message)
{
	cr_assert(death_expect(kassert_fails, NULL, "panic: custom message 7 @ ", NULL, 0));
}

/* An embedder's sink: the panic arrives there, and nothing on stderr but what the sink wrote. */
static void
panic_sink(void *arg, int level, const char *subsys, const char *msg)
{
	dprintf(STDERR_FILENO, "sink got level %d %s: %s\n", level, subsys, msg);
}

static void
kassert_fails_into_sink(void *arg)
{
	vms_log_set_sink(panic_sink, NULL);
	KASSERT(1 == 2, ("custom %s %d", "message", 8));
}

Test(assert, panic_goes_to_the_embedders_sink)
{
	char out[8192];
	cr_assert(death_expect(kassert_fails_into_sink, NULL,
			       "sink got level 0 panic: custom message 8 @ ", out, sizeof(out)));
	cr_assert(strstr(out, "backtrace:") == NULL, "%s", out);
	cr_assert(strncmp(out, "sink got", 8) == 0, "%s", out);
}

static void
kassert_fails_unlogged(void *arg)
{
	vms_log_set_fd(-1); /* a library nobody told where to log */
	KASSERT(1 == 2, ("custom %s %d", "message", 9));
}

Test(assert, panic_of_an_unlogged_library_writes_nothing)
{
	char out[8192];
	cr_assert(death_expect(kassert_fails_unlogged, NULL, "", out, sizeof(out))); /* aborted */
	cr_assert_str_empty(out);
}

static void
log_lines(void *arg)
{
	vms_log_set_fd(STDERR_FILENO); /* as the CLI does: the library alone writes nowhere */
	vms_log_level = VMS_LOG_WARN;
	LOG_INFO("test", "hidden %d", 1);
	LOG_WARN("test", "shown %d", 2);
	LOG_ERR("test", "also shown");
	abort();
}

Test(log, filters_by_level_and_names_subsystem)
{
	char out[4096];
	cr_assert(death_expect(log_lines, NULL, "warn test: shown 2", out, sizeof(out)));
	cr_assert(strstr(out, "error test: also shown") != NULL);
	cr_assert(strstr(out, "hidden") == NULL);
	cr_assert_eq(vms_log_level_parse("debug"), VMS_LOG_DEBUG);
	cr_assert_eq(vms_log_level_parse("loud"), -1);
}

Test(stats, counters_add)
{
	struct vms_counter c = {0};
	counter_inc(&c);
	counter_add(&c, 41);
	cr_assert_eq(counter_get(&c), 42);
	counter_zero(&c);
	cr_assert_eq(counter_get(&c), 0);
}

static void
log_unconfigured(void *arg)
{
	vms_log_set_fd(-1); /* undo death_expect's stderr: the library as an embedder gets it */
	LOG_ERR("test", "must not appear");
	dprintf(STDERR_FILENO, "end of output\n");
	abort();
}

/* The library never writes to stderr on its own: without an fd or a sink, lines go nowhere. */
Test(log, silent_until_told_where)
{
	char out[4096];
	cr_assert(death_expect(log_unconfigured, NULL, "end of output", out, sizeof(out)));
	cr_assert(strstr(out, "must not appear") == NULL, "%s", out);
}

struct sink_got {
	int n, level;
	char subsys[16], msg[64];
};

static void
sink(void *arg, int level, const char *subsys, const char *msg)
{
	struct sink_got *g = arg;
	g->n++;
	g->level = level;
	snprintf(g->subsys, sizeof(g->subsys), "%s", subsys);
	snprintf(g->msg, sizeof(g->msg), "%s", msg);
}

/* An embedder's sink gets the level, the subsystem and the bare message, filtered by level. */
Test(log, sink_receives_messages)
{
	struct sink_got g = {0};
	vms_log_set_sink(sink, &g);
	vms_log_level = VMS_LOG_WARN;
	LOG_INFO("vm", "filtered");
	LOG_WARN("objfs", "block %d is corrupt", 7);
	vms_log_set_sink(NULL, NULL);
	vms_log_level = VMS_LOG_INFO;
	cr_assert_eq(g.n, 1);
	cr_assert_eq(g.level, VMS_LOG_WARN);
	cr_assert_str_eq(g.subsys, "objfs");
	cr_assert_str_eq(g.msg, "block 7 is corrupt");
}

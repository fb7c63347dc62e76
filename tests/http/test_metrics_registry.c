/*
 * /.vmsend/metrics is a walk of the stats registry (core/stats.h): every
 * registered counter and gauge has its sample line on the page, within the
 * buffer the server renders it into, and every subsystem's counters are in
 * the registry of a binary that links the server.
 */
#include "core/stats.h"
#include "fs/hostfs/hostfs.h"
#include "fs/objfs/arc.h"
#include "fs/objfs/dmu.h"
#include "http/http_server.h"
#include "io/io.h"
#include "sendfile/sendfile.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The registry is a linker section, so it holds the stats of the object
 * files linked in.  The server links every layer below it; this test, which
 * calls only the renderer, names one object of each so the linker pulls the
 * same ones in.
 */
static const void *const link_every_layer[] __attribute__((used)) = {
    &io_stats, &vm_stats, &vfs_stats, &hostfs_stats, &dmu_stats, &sf_stats, arc_global_peek,
};

struct reg_check {
	const char *page;
	size_t seen;
};

static void
reg_check_one(void *arg, const struct vms_stat *st, uint64_t value)
{
	struct reg_check *x = arg;
	char line[256];
	snprintf(line, sizeof(line), "\nvmsend_%s%s%s%s%s ", st->name,
		 st->kind == VMS_STAT_COUNTER ? "_total" : "", st->label ? "{" : "",
		 st->label ? st->label : "", st->label ? "}" : "");
	cr_assert_not_null(strstr(x->page, line), "registered stat %s%s%s is missing from the page",
			   st->name, st->label ? " " : "", st->label ? st->label : "");
	cr_assert(st->desc != NULL && st->desc[0] != '\0', "%s has no description", st->name);
	x->seen++;
}

Test(metrics, every_registered_stat_is_on_the_page)
{
	cr_assert_eq(vm_init(4 << 20), 0);
	char *page = malloc(HTTP_METRICS_CAP + 1);
	size_t n = http_metrics_render(page, HTTP_METRICS_CAP, NULL);
	cr_assert_lt(n, HTTP_METRICS_CAP - 1, "the page filled its buffer: stats were cut off");
	page[n] = '\0';
	struct reg_check x = {page, 0};
	vms_stats_foreach(NULL, reg_check_one, &x);
	cr_assert_eq(x.seen, vms_stats_count());
	/* The page's gauges are live: the pages vm_init() made are counted. */
	cr_assert_not_null(strstr(page, "\nvmsend_vm_pages_total 1024\n"), "%s", page);
	free(page);
	vm_fini();
}

/* Each subsystem's counters are registered (a linker section an object file could miss). */
Test(metrics, every_subsystem_registers_its_counters)
{
	static const char *const names[] = {
	    "io_submits",   "io_completions",  "io_posts",      "io_wakes_msg",
	    "io_wakes_efd", "io_timers_fired", "vm_hits",       "vm_pages_wired",
	    "vfs_lookups",  "hostfs_ios",      "dmu_reads",     "dmu_errors",
	    "sf_calls",     "sf_bytes_sent",   "http_requests", "http_connections_open",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cr_assert_not_null(vms_stat_find(names[i], NULL), "%s is not registered", names[i]);
	cr_assert_not_null(vms_stat_find("arc_hits", "arc=\"objfs\""));
	cr_assert_not_null(vms_stat_find("http_responses", "code=\"2xx\""));
	cr_assert_null(vms_stat_find("http_responses", NULL), "labelled stats need their label");
}

struct reg_span {
	const char *lo, *hi;
	size_t n;
};

static void
reg_span_one(void *arg, const struct vms_stat *st, uint64_t value)
{
	struct reg_span *x = arg;
	if ((const char *)st->ctr >= x->lo && (const char *)st->ctr < x->hi)
		x->n++;
}

/* Registered counters inside one stats struct. */
static size_t
registered_in(const void *base, size_t size)
{
	struct reg_span x = {base, (const char *)base + size, 0};
	vms_stats_foreach(NULL, reg_span_one, &x);
	return x.n;
}

/*
 * A counter added to a subsystem's stats struct without a VMS_STAT_COUNTER
 * line would never be reported: every field of these all-counter structs is
 * registered.
 */
Test(metrics, every_field_of_the_stats_structs_is_registered)
{
#define ALL_REGISTERED(s)                                                                          \
	cr_assert_eq(registered_in(&(s), sizeof(s)), sizeof(s) / sizeof(struct vms_counter),       \
		     "%s has a counter that is not registered (core/stats.h)", #s)
	ALL_REGISTERED(io_stats);
	ALL_REGISTERED(vm_stats);
	ALL_REGISTERED(hostfs_stats);
	ALL_REGISTERED(dmu_stats);
	ALL_REGISTERED(sf_stats);
#undef ALL_REGISTERED
	/* vfs_stats ends with a gauge (vnodes_live), registered as a read function. */
	cr_assert_eq(registered_in(&vfs_stats, offsetof(struct vfs_stats, vnodes_live)),
		     offsetof(struct vfs_stats, vnodes_live) / sizeof(struct vms_counter));
}

/*
 * Statistics counters and the registry that lists them.
 *
 * A counter is a 64-bit atomic updated with relaxed ordering.  It is read for
 * reports (/.vmsend/metrics, `vmsend stat`, --stats); a reader sees a recent
 * value, not a snapshot consistent across counters.
 *
 * Every counter and gauge a report shows is registered once, next to the code
 * that moves it, the way tunables are (core/tunable.h):
 *
 *	VMS_STAT_COUNTER(vm_stats.hits, "vm_hits", "page lookups that found the page");
 *	VMS_STAT_GAUGE(vm_stat_pages, VM_COUNTS_FREE, "vm_pages_free", "pages on the free list");
 *
 * The definitions are gathered in the "vms_stats" linker section, and the
 * reports walk that section (vms_stats_foreach), so a counter registered
 * anywhere in the binary can never be missing from them.  Names are
 * "<subsystem>_<what>" (a reader finds the code from the prefix); reports
 * add their own decoration (Prometheus: "vmsend_" prefix, "_total" suffix on
 * counters).  One name may be registered several times with different
 * labels (http_responses with code="2xx", code="4xx", ...).
 */
#ifndef VMSEND_CORE_STATS_H
#define VMSEND_CORE_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct vms_counter {
	_Atomic uint64_t v; /* (a) */
};

static inline void
counter_add(struct vms_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

static inline void
counter_inc(struct vms_counter *c)
{
	counter_add(c, 1);
}

static inline uint64_t
counter_get(const struct vms_counter *c)
{
	return atomic_load_explicit(&((struct vms_counter *)c)->v, memory_order_relaxed);
}

static inline void
counter_zero(struct vms_counter *c)
{
	atomic_store_explicit(&c->v, 0, memory_order_relaxed);
}

enum vms_stat_kind {
	VMS_STAT_COUNTER = 0, /* only goes up (until a reset) */
	VMS_STAT_GAUGE,       /* a level: pages wired, connections open */
};

struct vms_stat;
/* Computes a stat that is not a plain counter; may take locks, never sleeps on I/O. */
typedef uint64_t vms_stat_read_t(const struct vms_stat *st);

/* A registered stat.  Everything is (c): written by the compiler, never changed. */
struct vms_stat {
	const char *name;        /* "<subsystem>_<what>" */
	const char *label;       /* NULL, or one Prometheus label pair: code="2xx" */
	const char *desc;        /* one line for HELP */
	enum vms_stat_kind kind; /* counter or gauge */
	struct vms_counter *ctr; /* the counter; NULL when read computes the value */
	vms_stat_read_t *read;   /* used when ctr is NULL */
	uintptr_t arg;           /* for read: an offset, an index */
};

#define VMS_STAT_CAT2_(a, b) a##b
#define VMS_STAT_CAT_(a, b)  VMS_STAT_CAT2_(a, b)
#define VMS_STAT_DEFINE_(...)                                                                      \
	static const struct vms_stat VMS_STAT_CAT_(vms_stat_, __LINE__)                            \
	    __attribute__((section("vms_stats"), used, aligned(8))) = {__VA_ARGS__}

/* Register a struct vms_counter (an lvalue with static storage). */
#define VMS_STAT_COUNTER(counter, sname, description)                                              \
	VMS_STAT_DEFINE_(.name = sname, .desc = description, .kind = VMS_STAT_COUNTER,             \
			 .ctr = &(counter))
/* The same with one label pair, e.g. "code=\"2xx\"". */
#define VMS_STAT_COUNTER_LABEL(counter, sname, slabel, description)                                \
	VMS_STAT_DEFINE_(.name = sname, .label = slabel, .desc = description,                      \
			 .kind = VMS_STAT_COUNTER, .ctr = &(counter))
/* A computed value: readfn(st) with st->arg == farg. */
#define VMS_STAT_READ(skind, readfn, farg, sname, slabel, description)                             \
	VMS_STAT_DEFINE_(.name = sname, .label = slabel, .desc = description, .kind = skind,       \
			 .read = readfn, .arg = (uintptr_t)(farg))
#define VMS_STAT_GAUGE(readfn, farg, sname, description)                                           \
	VMS_STAT_READ(VMS_STAT_GAUGE, readfn, farg, sname, NULL, description)
/* A gauge of an _Atomic int64_t level (a variable with static storage); below 0 reads as 0. */
uint64_t vms_stat_read_level(const struct vms_stat *st);
#define VMS_STAT_LEVEL(level, sname, description)                                                  \
	VMS_STAT_GAUGE(vms_stat_read_level, &(level), sname, description)

typedef void vms_stat_fn_t(void *arg, const struct vms_stat *st, uint64_t value);

/*
 * fn(arg, st, value) for every registered stat whose name starts with
 * `prefix` (NULL or "": all), sorted by name then label, so the samples of a
 * name are adjacent.  Thread-safe; values are read during the walk.
 */
void vms_stats_foreach(const char *prefix, vms_stat_fn_t *fn, void *arg);
/* The same, handing fn the name, value and description only (per-subsystem listings). */
typedef void vms_stat_named_fn_t(void *arg, const char *name, uint64_t value, const char *desc);
void vms_stats_foreach_named(const char *prefix, vms_stat_named_fn_t *fn, void *arg);
/* The stat registered as name (and label, NULL for none), or NULL. */
const struct vms_stat *vms_stat_find(const char *name, const char *label);
/* Its current value. */
uint64_t vms_stat_value(const struct vms_stat *st);
/* Zero every plain counter whose name starts with prefix (tests, `--stats` runs). */
void vms_stats_reset(const char *prefix);
/* How many stats are registered. */
size_t vms_stats_count(void);

#endif

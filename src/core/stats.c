/*
 * The stats registry: a walk over the "vms_stats" linker section, sorted once
 * so every report lists the same stats in the same order.
 */
#include "core/stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

extern const struct vms_stat __start_vms_stats[] __attribute__((weak));
extern const struct vms_stat __stop_vms_stats[] __attribute__((weak));

static pthread_once_t stats_once = PTHREAD_ONCE_INIT;
static const struct vms_stat **stats_sorted; /* (c) after stats_once */
static size_t stats_n;                       /* (c) after stats_once */

static int
stats_cmp(const void *a, const void *b)
{
	const struct vms_stat *x = *(const struct vms_stat *const *)a;
	const struct vms_stat *y = *(const struct vms_stat *const *)b;
	int c = strcmp(x->name, y->name);
	if (c != 0)
		return c;
	return strcmp(x->label != NULL ? x->label : "", y->label != NULL ? y->label : "");
}

static void
stats_sort(void)
{
	size_t n = (size_t)(__stop_vms_stats - __start_vms_stats);
	if (n == 0)
		return;
	const struct vms_stat **v = malloc(n * sizeof(*v));
	if (v == NULL)
		return; /* reports then show nothing rather than crash */
	for (size_t i = 0; i < n; i++)
		v[i] = &__start_vms_stats[i];
	qsort(v, n, sizeof(*v), stats_cmp);
	stats_sorted = v;
	stats_n = n;
}

static size_t
stats_get(const struct vms_stat ***out)
{
	pthread_once(&stats_once, stats_sort);
	*out = stats_sorted;
	return stats_n;
}

uint64_t
vms_stat_value(const struct vms_stat *st)
{
	if (st->ctr != NULL)
		return counter_get(st->ctr);
	return st->read != NULL ? st->read(st) : 0;
}

void
vms_stats_foreach(const char *prefix, vms_stat_fn_t *fn, void *arg)
{
	const struct vms_stat **v;
	size_t n = stats_get(&v);
	size_t plen = prefix != NULL ? strlen(prefix) : 0;
	for (size_t i = 0; i < n; i++)
		if (plen == 0 || strncmp(v[i]->name, prefix, plen) == 0)
			fn(arg, v[i], vms_stat_value(v[i]));
}

struct stats_named {
	vms_stat_named_fn_t *fn;
	void *arg;
};

static void
stats_named_one(void *arg, const struct vms_stat *st, uint64_t value)
{
	struct stats_named *x = arg;
	x->fn(x->arg, st->name, value, st->desc);
}

void
vms_stats_foreach_named(const char *prefix, vms_stat_named_fn_t *fn, void *arg)
{
	struct stats_named x = {fn, arg};
	vms_stats_foreach(prefix, stats_named_one, &x);
}

const struct vms_stat *
vms_stat_find(const char *name, const char *label)
{
	const struct vms_stat **v;
	size_t n = stats_get(&v);
	for (size_t i = 0; i < n; i++) {
		const char *l = v[i]->label;
		if (strcmp(v[i]->name, name) == 0 &&
		    (label == NULL ? l == NULL : l != NULL && strcmp(l, label) == 0))
			return v[i];
	}
	return NULL;
}

void
vms_stats_reset(const char *prefix)
{
	const struct vms_stat **v;
	size_t n = stats_get(&v);
	size_t plen = prefix != NULL ? strlen(prefix) : 0;
	for (size_t i = 0; i < n; i++)
		if (v[i]->ctr != NULL && (plen == 0 || strncmp(v[i]->name, prefix, plen) == 0))
			counter_zero(v[i]->ctr);
}

size_t
vms_stats_count(void)
{
	const struct vms_stat **v;
	return stats_get(&v);
}

uint64_t
vms_stat_read_level(const struct vms_stat *st)
{
	int64_t v = atomic_load_explicit((_Atomic int64_t *)st->arg, memory_order_relaxed);
	return v > 0 ? (uint64_t)v : 0;
}

/*
 * ARC statistics: the counters of struct arc_stats plus the list sizes, in
 * arcstats' vocabulary (hits, misses, mru_hits, mfu_ghost_hits, p, c, size)
 * so that anyone who has read /proc/spl/kstat/zfs/arcstats reads ours.
 */
#include "fs/objfs/arc_impl.h"

#include <stdio.h>
#include <string.h>

struct arc_stats *
arc_stats(struct arc *arc)
{
	return &arc->stats;
}

const char *
arc_name(const struct arc *arc)
{
	return arc->name;
}

void
arc_sizes(struct arc *arc, struct arc_sizes *out)
{
	pthread_mutex_lock(&arc->lock);
	out->c = arc->c;
	out->p = arc->p;
	out->mru = arc->lsize[ARC_MRU];
	out->mfu = arc->lsize[ARC_MFU];
	out->size = out->mru + out->mfu;
	out->mru_ghost = arc->lsize[ARC_MRU_GHOST];
	out->mfu_ghost = arc->lsize[ARC_MFU_GHOST];
	out->held = arc->held_bytes;
	out->mru_records = arc->lcount[ARC_MRU];
	out->mfu_records = arc->lcount[ARC_MFU];
	out->records = out->mru_records + out->mfu_records;
	out->ghost_records = arc->lcount[ARC_MRU_GHOST] + arc->lcount[ARC_MFU_GHOST];
	pthread_mutex_unlock(&arc->lock);
}

void
arc_stats_foreach(struct arc *arc, void (*cb)(void *arg, const char *name, uint64_t value),
		  void *arg)
{
	const struct arc_stats *s = &arc->stats;
	const struct {
		const char *name;
		const struct vms_counter *c;
	} counters[] = {
	    {"hits", &s->hits},
	    {"misses", &s->misses},
	    {"mru_hits", &s->mru_hits},
	    {"mfu_hits", &s->mfu_hits},
	    {"mru_ghost_hits", &s->mru_ghost_hits},
	    {"mfu_ghost_hits", &s->mfu_ghost_hits},
	    {"io_hits", &s->io_hits},
	    {"evict_mru", &s->evict_mru},
	    {"evict_mfu", &s->evict_mfu},
	    {"evict_bytes", &s->evict_bytes},
	    {"evict_skip", &s->evict_skip},
	    {"ghost_drops", &s->ghost_drops},
	    {"fill_errors", &s->fill_errors},
	    {"promotions", &s->promotions},
	    {"overflows", &s->overflows},
	};
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		cb(arg, counters[i].name, counter_get(counters[i].c));

	struct arc_sizes z;
	arc_sizes(arc, &z);
	cb(arg, "c", z.c);
	cb(arg, "p", z.p);
	cb(arg, "size", z.size);
	cb(arg, "mru_size", z.mru);
	cb(arg, "mfu_size", z.mfu);
	cb(arg, "mru_ghost_size", z.mru_ghost);
	cb(arg, "mfu_ghost_size", z.mfu_ghost);
	cb(arg, "held_size", z.held);
	cb(arg, "records", z.records);
	cb(arg, "ghost_records", z.ghost_records);
}

struct prom_ctx {
	const char *arc;
	char *buf;
	size_t len;
	size_t need;
};

static bool
prom_is_gauge(const char *name)
{
	static const char *const gauges[] = {"c",
					     "p",
					     "size",
					     "mru_size",
					     "mfu_size",
					     "mru_ghost_size",
					     "mfu_ghost_size",
					     "held_size",
					     "records",
					     "ghost_records"};
	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
		if (strcmp(name, gauges[i]) == 0)
			return true;
	return false;
}

static void
prom_line(void *arg, const char *name, uint64_t value)
{
	struct prom_ctx *x = arg;
	bool gauge = prom_is_gauge(name);
	size_t room = x->need < x->len ? x->len - x->need : 0;
	int n = snprintf(room > 0 ? x->buf + x->need : NULL, room,
			 "# TYPE vmsend_arc_%s%s %s\nvmsend_arc_%s%s{arc=\"%s\"} %llu\n", name,
			 gauge ? "" : "_total", gauge ? "gauge" : "counter", name,
			 gauge ? "" : "_total", x->arc, (unsigned long long)value);
	if (n > 0)
		x->need += (size_t)n;
}

size_t
arc_stats_prometheus(struct arc *arc, char *buf, size_t len)
{
	struct prom_ctx x = {.arc = arc->name, .buf = len > 0 ? buf : NULL, .len = len};
	if (len > 0)
		buf[0] = '\0';
	arc_stats_foreach(arc, prom_line, &x);
	return x.need;
}

void
arc_stats_reset(struct arc *arc)
{
	memset(&arc->stats, 0, sizeof(arc->stats));
}

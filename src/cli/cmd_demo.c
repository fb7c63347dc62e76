/*
 * `vmsend demo`: exercise the page cache without any file system: fill an
 * object from memory through the checked pager contract, read it twice
 * (misses, then hits), put the cache under pressure so reclaim runs, and
 * print the counters.
 */
#include "cli/commands.h"
#include "core/tunable.h"
#include "pager/pager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tiny pager over a pattern: page p holds bytes (p + i) & 0xff. */
static int
demo_getpages(struct vm_object *obj, struct vm_page **ma, int count, int *rb, int *ra)
{
	for (int i = 0; i < count; i++) {
		unsigned char *d = vm_page_data(ma[i]);
		uint64_t p = ma[0]->pindex + i;
		for (unsigned j = 0; j < PAGE_SIZE; j++)
			d[j] = (unsigned char)(p + j);
		vm_page_valid(ma[i]);
	}
	if (rb)
		*rb = 0;
	if (ra)
		*ra = 0;
	return PAGER_OK;
}

static bool
demo_haspage(struct vm_object *obj, uint64_t pindex, int *before, int *after)
{
	return pindex < vm_object_npages(obj);
}

static const struct pager_ops demo_ops = {
    .name = "demo",
    .getpages = demo_getpages,
    .haspage = demo_haspage,
};

static int
read_object(struct vm_object *obj, uint64_t npages)
{
	for (uint64_t p = 0; p < npages; p += 16) {
		struct vm_page *ma[16];
		int n = vm_page_grab_pages(obj, p, 0, ma, (int)(npages - p < 16 ? npages - p : 16));
		int i = 0;
		while (i < n) {
			if (vm_page_all_valid(ma[i])) {
				vm_page_xunbusy(ma[i++]);
				continue;
			}
			int j = i;
			while (j < n && !vm_page_all_valid(ma[j]))
				j++;
			if (pager_getpages(obj, ma + i, j - i, NULL, NULL) != PAGER_OK)
				return -1;
			for (; i < j; i++)
				vm_page_xunbusy(ma[i]);
		}
	}
	return 0;
}

int
cmd_demo(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf(
		    "usage: vmsend demo\n  Reads a 4 MiB pattern object twice through a 2 MiB page "
		    "cache and prints the counters.\n");
		return 0;
	}
	if (vm_init(2u << 20) != 0) {
		fprintf(stderr, "vmsend demo: cannot create the page arena\n");
		return 1;
	}
	struct vm_object *small = vm_object_allocate(&demo_ops, NULL, 256 << 10, "demo-small");
	struct vm_object *big = vm_object_allocate(&demo_ops, NULL, 4 << 20, "demo-big");
	read_object(small, 64);
	read_object(small, 64); /* all hits */
	read_object(big, 1024); /* larger than the cache: reclaim runs */
	struct vm_counts c;
	vm_counts(&c);
	printf("page cache: %llu pages (%zu bytes of metadata each)\n", (unsigned long long)c.total,
	       sizeof(struct vm_page));
	printf("  free %llu cached %llu wired %llu busy %llu\n", (unsigned long long)c.free,
	       (unsigned long long)c.cached, (unsigned long long)c.wired,
	       (unsigned long long)c.busy);
	printf("  hits %llu misses %llu reclaims %llu frees %llu busy_sleeps %llu\n",
	       (unsigned long long)counter_get(&vm_stats.hits),
	       (unsigned long long)counter_get(&vm_stats.misses),
	       (unsigned long long)counter_get(&vm_stats.reclaims),
	       (unsigned long long)counter_get(&vm_stats.frees),
	       (unsigned long long)counter_get(&vm_stats.busy_sleeps));
	vm_object_deallocate(small);
	vm_object_deallocate(big);
	vm_fini();
	return 0;
}

int
cmd_tunables(int argc, char **argv)
{
	vms_tunables_print(stdout);
	return 0;
}

/*
 * bench_page_meta: what the page cache costs per cached 4 KiB page.
 *
 * Issue 6 bounds page metadata at 64 bytes per page (1.6% of the memory it
 * describes).  The bound is about the struct the VM keeps for every frame
 * of the arena, so this reads it from the header the VM is built from
 * rather than trusting a number written down somewhere.
 */
#include "vm/vm_page.h"

#include <stdio.h>

int
main(void)
{
	printf("page_meta bytes_per_page=%zu page_size=%u overhead_pct=%.2f\n",
	       sizeof(struct vm_page), PAGE_SIZE, 100.0 * sizeof(struct vm_page) / PAGE_SIZE);
	return 0;
}

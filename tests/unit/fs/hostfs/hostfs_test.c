/* Helpers for the hostfs tests (see hostfs_test.h). */
#include "hostfs_test.h"

#include "core/util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
ht_setup(char *dir, uint64_t cache)
{
	cr_assert_eq(vm_init(cache), 0);
	hostfs_register();
	snprintf(dir, PATH_MAX, "/tmp/vmsend-hostfs-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(vfs_mount("/", "hostfs", dir, NULL), 0);
}

static int
ht_rm(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

void
ht_teardown(const char *dir)
{
	vfs_unmount_all();
	cr_assert(vm_quiescent(), "a page was left busy or wired");
	cr_assert_eq(atomic_load(&vfs_stats.vnodes_live), 0, "vnodes leaked");
	cr_assert_eq(vm_object_count(), 0, "objects leaked");
	io_loop_private_destroy();
	vm_fini();
	nftw(dir, ht_rm, 16, FTW_DEPTH | FTW_PHYS);
}

void
ht_write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	for (size_t done = 0; done < len;) {
		ssize_t w = write(fd, (const char *)data + done, len - done);

		cr_assert_gt(w, 0);
		done += (size_t)w;
	}
	close(fd);
}

void
ht_fill(void *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

struct ht_wait {
	bool done;
	int error;
	int count;
	int calls;
};

static void
ht_iodone(void *arg, struct vm_page **ma, int count, int error)
{
	struct ht_wait *w = arg;

	w->calls++;
	w->count = count;
	w->error = error;
	w->done = true;
}

/* One pager call over ma[0..count-1]; returns 0 or a negative errno. */
static int
ht_pager_call(struct vm_object *obj, struct vm_page **ma, int count, bool async, int rbehind,
	      int rahead, struct ht_read_stats *st)
{
	int rb = rbehind, ra = rahead, rv;

	st->calls++;
	for (int i = 0; i < count; i++)
		if (ma[i] == bogus_page)
			st->bogus++;
	if (!async) {
		rv = pager_getpages(obj, ma, count, &rb, &ra);
		cr_assert(rv == PAGER_OK || rv == PAGER_ERROR, "getpages: %s", pager_strerror(rv));
		rv = pager_to_errno(rv);
	} else {
		struct ht_wait w = {0};

		rv = pager_getpages_async(obj, ma, count, &rb, &ra, ht_iodone, &w);
		cr_assert_eq(rv, PAGER_OK, "getpages_async: %s", pager_strerror(rv));
		if (!w.done) {
			cr_assert_not_null(io_loop_current(),
					   "iodone pending without an event loop");
			io_wait_flag(io_loop_current(), &w.done);
		}
		cr_assert_eq(w.calls, 1, "iodone ran %d times", w.calls);
		cr_assert_eq(w.count, count);
		rv = w.error;
	}
	cr_assert(rb >= 0 && rb <= rbehind, "rbehind out %d of %d", rb, rbehind);
	cr_assert(ra >= 0 && ra <= rahead, "rahead out %d of %d", ra, rahead);
	if (rv != 0) {
		st->errors++;
		st->lasterr = rv;
	}
	return rv;
}

int
ht_cache_read(struct vm_object *obj, uint64_t off, size_t len, void *out,
	      const struct ht_read_opts *o, struct ht_read_stats *st)
{
	uint64_t p0 = OFF_TO_IDX(off);
	int n, err = 0;
	struct vm_page **ma, **run;
	bool *mine; /* pages this call still holds xbusy (others may busy them too) */

	if (len == 0)
		return 0;
	cr_assert_leq(off + len, obj->size);
	n = (int)(OFF_TO_IDX(off + len - 1) - p0 + 1);
	ma = calloc((size_t)n, sizeof(*ma));
	run = calloc((size_t)n, sizeof(*run));
	mine = calloc((size_t)n, sizeof(*mine));
	cr_assert_eq(vm_page_grab_pages(obj, p0, VM_ALLOC_WIRED, ma, n), n);
	for (int i = 0; i < n; i++) {
		struct vm_page *m = ma[i];

		mine[i] = true;
		if (vm_page_all_valid(m)) {
			vm_page_xunbusy(m);
			mine[i] = false;
		} else if (!pager_haspage(obj, p0 + (uint64_t)i, NULL, NULL)) {
			vm_page_zero_invalid(m, true);
			vm_page_xunbusy(m);
			mine[i] = false;
			st->holes++;
		}
	}
	for (int i = 0; i < n && err == 0;) {
		int after = 0, end, last;

		if (vm_page_all_valid(ma[i])) {
			i++;
			continue;
		}
		cr_assert(pager_haspage(obj, p0 + (uint64_t)i, NULL, &after));
		end = MIN(n, i + after + 1);
		for (last = end - 1; vm_page_all_valid(ma[last]); last--)
			;
		int ra = last == n - 1 ? o->rahead : 0, rb = i == 0 ? o->rbehind : 0;
		if (o->async && o->coalesce) {
			for (int k = i; k <= last; k++)
				run[k - i] = vm_page_all_valid(ma[k]) ? bogus_page : ma[k];
			err = ht_pager_call(obj, run, last - i + 1, true, rb, ra, st);
		} else {
			for (int s = i; s <= last && err == 0;) {
				int e = s;

				while (e + 1 <= last && !vm_page_all_valid(ma[e + 1]))
					e++;
				err = ht_pager_call(obj, ma + s, e - s + 1, o->async,
						    s == i ? rb : 0, e == last ? ra : 0, st);
				for (s = e + 1; s <= last && vm_page_all_valid(ma[s]); s++)
					;
			}
		}
		if (err == 0) {
			for (int k = i; k <= last; k++) {
				cr_assert(vm_page_all_valid(ma[k]), "page %d not valid after read",
					  k);
				if (mine[k]) {
					cr_assert(vm_page_xbusied(ma[k]), "page %d lost its busy",
						  k);
					vm_page_xunbusy(ma[k]);
					mine[k] = false;
				}
			}
		}
		i = last + 1;
	}
	if (err == 0) {
		for (int i = 0; i < n; i++) {
			uint64_t pstart = IDX_TO_OFF(p0 + (uint64_t)i);
			uint64_t a = MAX(pstart, off), b = MIN(pstart + PAGE_SIZE, off + len);

			memcpy((char *)out + (a - off), (char *)vm_page_data(ma[i]) + (a - pstart),
			       b - a);
		}
	}
	for (int i = 0; i < n; i++) {
		if (mine[i]) {
			cr_assert_neq(err, 0, "page %d left xbusy after a good read", i);
			vm_page_xunbusy(ma[i]);
		}
		vm_page_unwire(ma[i]);
	}
	free(mine);
	free(run);
	free(ma);
	return err;
}

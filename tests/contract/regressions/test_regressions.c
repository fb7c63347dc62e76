/*
 * Regressions of the pager contract (docs/contract.md), each named after the
 * failure it guards.  Every test first shows the failure against a
 * deliberately broken variant (a caller or pager that makes the old
 * mistake), then shows the real code passing the same scenario.
 */
#include "sf_testlib.h"

#include "core/util.h"
#include "fs/hostfs/hostfs.h"
#include "vfs/vfs.h"
#include "pager/pager.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/death.h"
#include "support/mempager.h"

static void
setup(void)
{
	sft_setup(256);
}

TestSuite(regression, .init = setup, .fini = sft_teardown, .timeout = 60);

static uint8_t *
send_all(struct vm_object *obj, off_t off, size_t len, int flags, size_t *got)
{
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 0, NULL, NULL, NULL);
	off_t sbytes = 0;
	int error = vms_sendfile_blocking(so, obj, off, len, NULL, &sbytes, flags);
	cr_assert_eq(error, 0, "vms_sendfile_blocking: %d", error);
	sft_close_all(so);
	sft_sink_join(sink);
	uint8_t *buf = sink->buf;
	*got = sink->len;
	sink->buf = NULL;
	sft_sink_free(sink);
	return buf;
}

static void
assert_same(const uint8_t *got, size_t gotlen, const uint8_t *want, size_t wantlen)
{
	cr_assert_eq(gotlen, wantlen, "received %zu bytes, want %zu", gotlen, wantlen);
	for (size_t i = 0; i < wantlen; i++)
		if (got[i] != want[i])
			cr_assert_fail("first difference at byte %zu (page %zu)", i, i / PAGE_SIZE);
}

/* ------------------------------------------------------------------------
 * Trimmed valid pages left exclusively busy next to a run, with a pager that
 * reads whole multi-page blocks: the pager waits for the page forever.
 */

#define BLOCK 4
static const uint8_t *block_data;

/* Reads whole blocks: the pages of the block outside ma[] are grabbed *sleeping*. */
static int
block_getpages(struct vm_object *obj, struct vm_page **ma, int count, int *rb, int *ra)
{
	uint64_t first = ma[0]->pindex, bstart = first / BLOCK * BLOCK;
	uint64_t bend = MIN(bstart + BLOCK, vm_object_npages(obj));
	for (uint64_t p = bstart; p < bend; p++) {
		bool inside = p >= first && p < first + count;
		struct vm_page *m = inside ? ma[p - first] : vm_page_grab(obj, p, 0);
		if (m == bogus_page)
			continue;
		if (!vm_page_all_valid(m)) {
			size_t n = MIN(PAGE_SIZE, obj->size - p * PAGE_SIZE);
			memcpy(vm_page_data(m), block_data + p * PAGE_SIZE, n);
			memset((char *)vm_page_data(m) + n, 0, PAGE_SIZE - n);
			vm_page_valid(m);
		}
		if (!inside)
			vm_page_xunbusy(m);
	}
	return PAGER_OK;
}

static bool
block_haspage(struct vm_object *obj, uint64_t pindex, int *before, int *after)
{
	if (pindex >= vm_object_npages(obj))
		return false;
	if (before)
		*before = (int)(pindex % BLOCK);
	if (after)
		*after = (int)MIN(BLOCK - 1 - pindex % BLOCK, vm_object_npages(obj) - 1 - pindex);
	return true;
}

/* Make page p valid from `data` without asking the pager (which would fill its whole block). */
static void
cache_one(struct vm_object *obj, uint64_t p, const uint8_t *data)
{
	struct vm_page *m = vm_page_grab(obj, p, 0);
	memcpy(vm_page_data(m), data + p * PAGE_SIZE, PAGE_SIZE);
	vm_page_valid(m);
	vm_page_xunbusy(m);
}

static const struct pager_ops block_ops = {
    .name = "blockpager", .getpages = block_getpages, .haspage = block_haspage};

/* The broken caller: trims valid page 3 off the run but leaves it xbusy. */
static void
broken_trim_caller(void *arg)
{
	struct vm_object *obj = arg;
	pager_contract_checks = 0; /* FreeBSD had no rule-4 check: show the hang itself */
	struct vm_page *ma[BLOCK];
	VERIFY3S(vm_page_grab_pages(obj, 0, 0, ma, BLOCK), ==, BLOCK);
	pager_getpages(obj, ma, 3, NULL, NULL); /* page 3 (valid) trimmed, still xbusy */
	_exit(0);
}

Test(regression, trimmed_pages_left_busy_hang)
{
	size_t size = 8 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 11);
	block_data = data;
	struct vm_object *obj = vm_object_allocate(&block_ops, NULL, size, "block");
	cache_one(obj, 3, data); /* page 3 valid, 0-2 not */

	/* Broken variant: the child must hang; we kill it after 2 s. */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		broken_trim_caller(obj);
	int status = 0;
	bool hung = true;
	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			hung = false;
			break;
		}
		usleep(10000);
	}
	if (hung) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	cr_assert(hung, "the broken caller should hang on its own busy page");
	/* With the checks on, the same mistake is a clear panic instead of a hang. */
	pager_contract_checks = 1;

	/* The real sendfile trims and unbusies: no hang, right bytes. */
	size_t got;
	uint8_t *buf = send_all(obj, 0, 4 * PAGE_SIZE, SF_FLAGS(0, SF_USER_READAHEAD), &got);
	assert_same(buf, got, data, 4 * PAGE_SIZE);
	free(buf);
	vm_object_deallocate(obj);
	free(data);
}

static void
trim_caller_checked(void *arg)
{
	struct vm_object *obj = arg;
	struct vm_page *ma[BLOCK];
	VERIFY3S(vm_page_grab_pages(obj, 0, 0, ma, BLOCK), ==, BLOCK);
	pager_getpages(obj, ma, 3, NULL, NULL);
}

Test(regression, trimmed_pages_left_busy_caught_by_rule4)
{
	size_t size = 8 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 12);
	block_data = data;
	struct vm_object *obj = vm_object_allocate(&block_ops, NULL, size, "block");
	cache_one(obj, 3, data);
	cr_assert(death_expect(trim_caller_checked, obj, "still exclusive busy (rule 4)", NULL, 0));
	vm_object_deallocate(obj);
	free(data);
}

/* ------------------------------------------------------------------------
 * Bogus slots restored to the real pages before the I/O completes: a slow
 * read copies stale bytes over a valid page that changed meanwhile.
 */

static int early_calls;
static void
early_iodone(void *arg, struct vm_page **ma, int count, int error)
{
	early_calls++;
}

Test(regression, bogus_restored_before_completion)
{
	size_t size = 8 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 21);
	uint8_t fresh[PAGE_SIZE];
	memset(fresh, 0xa5, sizeof(fresh));

	/* Broken variant: the caller puts the real page back into slot 2 at
	 * submission (checks off, as in FreeBSD); the slow pager then fills
	 * it with the old bytes, clobbering what changed meanwhile. */
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "early");
	mempager_set_mode(obj, MEMPAGER_DEFERRED, 0);
	sft_cache_pages(obj, 2, 1);
	struct vm_page *ma[5];
	cr_assert_eq(vm_page_grab_pages(obj, 0, 0, ma, 5), 5);
	struct vm_page *valid = ma[2];
	vm_page_xunbusy(valid);
	pager_contract_checks = 0;
	cr_assert_eq(pager_getpages_async(obj, ma, 5, NULL, NULL, early_iodone, NULL), PAGER_OK);
	pager_contract_checks = 1;
	cr_assert(vm_page_tryxbusy(valid)); /* the page changes while the read is slow */
	memcpy(vm_page_data(valid), fresh, PAGE_SIZE);
	vm_page_xunbusy(valid);
	/* The deferred pager copies into every non-bogus slot: it must xbusy-assert
	 * slot 2 and die, or (with INVARIANTS off) overwrite it.  Either is the bug. */
	cr_assert(vm_page_tryxbusy(valid)); /* let the pager's xbusy assertion pass ... */
	mempager_complete_pending(obj);
	cr_assert_eq(early_calls, 1);
	cr_assert_neq(memcmp(vm_page_data(valid), fresh, PAGE_SIZE), 0,
		      "... and watch it overwrite the changed page with stale bytes");
	for (int i = 0; i < 5; i++)
		vm_page_xunbusy(ma[i]);
	vm_object_deallocate(obj);

	/* The real sendfile: slot 2 stays bogus until the read completed. */
	obj = mempager_create(data, size, PAGER_CAP_BOGUS, "late");
	mempager_set_mode(obj, MEMPAGER_DEFERRED, 0);
	sft_cache_pages(obj, 2, 1);
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 0, NULL, NULL, NULL);
	off_t sbytes;
	int64_t saved_policy = sf_swapin_policy;
	sf_swapin_policy = SF_POLICY_COALESCE;
	uint64_t bogus0 = counter_get(&sf_stats.pages_bogus);
	cr_assert_eq(vms_sendfile_object(so, obj, 0, 5 * PAGE_SIZE, NULL, &sbytes,
					 SF_FLAGS(0, SF_USER_READAHEAD)),
		     0);
	cr_assert_eq(mempager_pending(obj), 1, "one coalesced I/O in flight");
	cr_assert_eq(counter_get(&sf_stats.pages_bogus), bogus0 + 1);
	vm_object_lock(obj);
	valid = vm_page_lookup(obj, 2);
	vm_object_unlock(obj);
	cr_assert(vm_page_tryxbusy(valid), "the valid page is not busied by the request");
	memcpy(vm_page_data(valid), fresh, PAGE_SIZE);
	vm_page_xunbusy(valid);
	mempager_complete_pending(obj);
	sft_close_all(so);
	sft_sink_join(sink);
	sf_swapin_policy = saved_policy;
	memcpy(data + 2 * PAGE_SIZE, fresh, PAGE_SIZE); /* what the cache held when sent */
	assert_same(sink->buf, sink->len, data, 5 * PAGE_SIZE);
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	free(data);
}

/* ------------------------------------------------------------------------
 * The completion handed a different array than the request's, still
 * holding bogus_page: restoring from it would send the sink's bytes.
 */

Test(regression, iodone_array_differs_from_request)
{
	size_t size = 16 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 31);
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "copy");
	mempager_set_mode(obj, MEMPAGER_THREAD, 200); /* completes from its own copy */
	sft_cache_pages(obj, 3, 2);
	sft_cache_pages(obj, 9, 1);

	/* Broken variant: a caller that takes the pages to send from iodone's
	 * array finds bogus_page in the valid slots. */
	struct vm_page *ma[12];
	cr_assert_eq(vm_page_grab_pages(obj, 0, 0, ma, 12), 12);
	struct vm_page *req[12];
	memcpy(req, ma, sizeof(ma));
	for (int i = 0; i < 12; i++)
		if (vm_page_all_valid(ma[i])) {
			vm_page_xunbusy(ma[i]);
			ma[i] = bogus_page;
		}
	early_calls = 0;
	cr_assert_eq(pager_getpages_async(obj, ma, 12, NULL, NULL, early_iodone, NULL), PAGER_OK);
	mempager_drain(obj);
	cr_assert_eq(early_calls, 1);
	struct mempager_stats st;
	mempager_get_stats(obj, &st);
	cr_assert_eq(st.bogus_seen, 3, "the completion's array still held 3 bogus slots");
	for (int i = 0; i < 12; i++)
		if (!vm_page_busied(req[i]) && req[i]->valid == VM_PAGE_BITS_ALL &&
		    ma[i] == bogus_page)
			continue;
		else
			vm_page_xunbusy(req[i]);
	vm_object_deallocate(obj);

	/* The real sendfile restores from its own saved array: right bytes. */
	obj = mempager_create(data, size, PAGER_CAP_BOGUS, "copy2");
	mempager_set_mode(obj, MEMPAGER_THREAD, 200);
	sft_cache_pages(obj, 3, 2);
	sft_cache_pages(obj, 9, 1);
	int64_t saved_policy = sf_swapin_policy;
	sf_swapin_policy = SF_POLICY_COALESCE;
	uint64_t bogus0 = counter_get(&sf_stats.pages_bogus);
	size_t got;
	uint8_t *buf = send_all(obj, 0, size, SF_FLAGS(0, SF_USER_READAHEAD), &got);
	sf_swapin_policy = saved_policy;
	cr_assert_geq(counter_get(&sf_stats.pages_bogus), bogus0 + 3);
	assert_same(buf, got, data, size);
	free(buf);
	vm_object_deallocate(obj);
	free(data);
}

/* ------------------------------------------------------------------------
 * A pager that drops busy and re-grabs its pages (rule 11) must write the
 * new pointers back into ma[] and leave bogus slots alone.
 */

static bool regrab_touch_bogus; /* the broken variant */

static int
regrab_getpages_async(struct vm_object *obj, struct vm_page **ma, int count, int *rb, int *ra,
		      pager_iodone_t *iodone, void *arg)
{
	uint64_t first = ma[0]->pindex;
	for (int i = 0; i < count; i++) {
		if (ma[i] == bogus_page && !regrab_touch_bogus)
			continue; /* rule 7 */
		if (ma[i] != bogus_page)
			vm_page_xunbusy(ma[i]); /* drop busy, e.g. to take a lock in order */
		ma[i] = vm_page_grab(obj, first + i, 0); /* re-grab and write back (rule 11) */
	}
	for (int i = 0; i < count; i++) {
		if (ma[i] == bogus_page)
			continue;
		vm_page_assert_xbusied(ma[i]);
		if (!vm_page_all_valid(ma[i])) {
			size_t n = MIN(PAGE_SIZE, obj->size - (first + i) * PAGE_SIZE);
			memcpy(vm_page_data(ma[i]), block_data + (first + i) * PAGE_SIZE, n);
			memset((char *)vm_page_data(ma[i]) + n, 0, PAGE_SIZE - n);
			vm_page_valid(ma[i]);
		}
	}
	iodone(arg, ma, count, 0);
	return PAGER_OK;
}

static const struct pager_ops regrab_ops = {
    .name = "regrab",
    .caps = PAGER_CAP_BOGUS,
    .getpages = block_getpages,
    .getpages_async = regrab_getpages_async,
    .haspage = block_haspage,
};

static void
regrab_broken(void *arg)
{
	struct vm_object *obj = arg;
	regrab_touch_bogus = true;
	struct vm_page *ma[4];
	VERIFY3S(vm_page_grab_pages(obj, 0, 0, ma, 4), ==, 4);
	vm_page_xunbusy(ma[1]);
	ma[1] = bogus_page;
	pager_getpages_async(obj, ma, 4, NULL, NULL, early_iodone, NULL);
}

Test(regression, pager_drops_busy_and_regrabs)
{
	size_t size = 8 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 41);
	block_data = data;
	struct vm_object *obj = vm_object_allocate(&regrab_ops, NULL, size, "regrab");
	cache_one(obj, 1, data);
	/* Broken variant: re-grabbing the bogus slot busies the caller's valid
	 * page behind the placeholder, which the caller would never unbusy: the
	 * completion check (rule 7) catches it. */
	cr_assert(death_expect(regrab_broken, obj,
			       "busied the real page behind bogus slot ma[1] (rule 7)", NULL, 0));

	/* Real pager: writes back, leaves the bogus slot; sendfile gets the right bytes. */
	regrab_touch_bogus = false;
	int64_t saved_policy = sf_swapin_policy;
	sf_swapin_policy = SF_POLICY_COALESCE;
	size_t got;
	uint8_t *buf = send_all(obj, 0, 4 * PAGE_SIZE, SF_FLAGS(0, SF_USER_READAHEAD), &got);
	sf_swapin_policy = saved_policy;
	assert_same(buf, got, data, 4 * PAGE_SIZE);
	free(buf);
	vm_object_deallocate(obj);
	free(data);
}

/* ------------------------------------------------------------------------
 * A file replaced while it is being sent: the response must be all old
 * bytes or all new bytes.  hostfs gives each file version (dev, ino, size,
 * mtime) its own object; a response keeps the object it started with.
 */

static void
write_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Send [off, off + len) of vp on so, running the loop through EAGAIN. */
static void
send_range(struct vms_socket *so, struct vnode *vp, off_t off, size_t len)
{
	while (len > 0) {
		off_t sbytes = 0;
		int error = vms_sendfile_vnode(so, vp, off, len, NULL, &sbytes, 0);
		cr_assert(error == 0 || error == -EAGAIN, "vms_sendfile: %d", error);
		off += sbytes;
		len -= (size_t)sbytes;
		if (error == -EAGAIN)
			sft_run_once();
	}
}

Test(regression, file_replaced_while_sent)
{
	char dir[] = "/tmp/vmsend-regr-XXXXXX", path[64], tmp[64];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/movie.bin", dir);
	snprintf(tmp, sizeof(tmp), "%s/.movie.new", dir);
	size_t size = 96 * PAGE_SIZE + 77, half = 48 * PAGE_SIZE;
	uint8_t *oldb = sft_pattern(size, 51), *newb = sft_pattern(size, 52);
	write_file(path, oldb, size);
	hostfs_register();
	cr_assert_eq(vfs_mount("/r", "hostfs", dir, NULL), 0);
	int64_t saved_valid = vfs_valid_ms;
	vfs_valid_ms = 0; /* every lookup checks identity */

	/* Broken variant: a sender that looks the path up again for each part
	 * of the response (no per-version object) delivers a mix. */
	struct vnode *a, *b;
	cr_assert_eq(vfs_lookup("/r/movie.bin", &a), 0);
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 64 << 10, NULL, NULL, NULL);
	send_range(so, a, 0, half);
	write_file(tmp, newb, size);
	cr_assert_eq(rename(tmp, path), 0);
	cr_assert_eq(vfs_lookup("/r/movie.bin", &b), 0);
	cr_assert_neq(a->object, b->object, "a replaced file gets a new object");
	send_range(so, b, half, size - half);
	sft_close_all(so);
	sft_sink_join(sink);
	cr_assert_eq(sink->len, size);
	bool mixed = memcmp(sink->buf, oldb, half) == 0 &&
		     memcmp(sink->buf + half, newb + half, size - half) == 0;
	cr_assert(mixed, "the broken sender mixes versions");
	sft_sink_free(sink);
	vnode_rele(a);
	vnode_rele(b);

	/* The real thing: the response holds its vnode; the file is replaced
	 * half-way through; the peer gets all old bytes, and a new lookup all new. */
	write_file(path, oldb, size);
	cr_assert_eq(vfs_lookup("/r/movie.bin", &a), 0);
	sft_tcp_pair(fds);
	sink = sft_sink_start(fds[1], false);
	so = sft_socket(fds[0], 64 << 10, NULL, NULL, NULL);
	send_range(so, a, 0, half);
	write_file(tmp, newb, size);
	cr_assert_eq(rename(tmp, path), 0);
	send_range(so, a, half, size - half);
	sft_close_all(so);
	sft_sink_join(sink);
	assert_same(sink->buf, sink->len, oldb, size);
	sft_sink_free(sink);
	cr_assert_eq(vfs_lookup("/r/movie.bin", &b), 0);
	size_t got;
	uint8_t *buf = send_all(b->object, 0, 0, 0, &got);
	assert_same(buf, got, newb, size);
	free(buf);
	vnode_rele(a);
	vnode_rele(b);
	vfs_valid_ms = saved_valid;
	vfs_unmount_all();
	unlink(path);
	rmdir(dir);
	free(oldb);
	free(newb);
}

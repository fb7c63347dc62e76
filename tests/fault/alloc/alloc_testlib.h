/*
 * Shared by the fault-injection loops (tests/fault/alloc): set-up with a
 * VM (256 pages), an io loop, a hostfs mount holding /h/sub/file.bin and an
 * objfs image mounted at /img holding /img/obj.bin; TCP loopback
 * connections whose receiving end the loop thread drains; the checks that
 * nothing leaked; and the N = 1, 2, ... loop driver.
 */
#ifndef VMSEND_TEST_ALLOC_TESTLIB_H
#define VMSEND_TEST_ALLOC_TESTLIB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct io_loop;
struct vm_object;
struct vms_socket;
struct vnode;

#define FILE_SIZE (50 * 4096 + 321) /* /h/sub/file.bin: fat_fdata */
#define OBJ_SIZE  (40 * 4096 + 77)  /* /img/obj.bin (8 KiB records): fat_odata */

extern int64_t hostfs_debug_read_cap; /* tunable in hostfs_pager.c */

extern struct io_loop *fat_loop;
extern char fat_dir[PATH_MAX], fat_image[PATH_MAX + 8], fat_imgdir[PATH_MAX];
extern uint8_t *fat_fdata, *fat_odata;

/* Criterion .init / .fini */
void fat_setup(void);
void fat_teardown(void);

uint8_t *fat_pattern(size_t n, uint32_t seed);

/* A connected pair: fds[0] for the vms_socket (closed by us), fds[1] read into buf. */
struct fat_conn {
	int fds[2];
	struct vms_socket *so;
	uint8_t *buf;
	size_t len, cap;
	bool eof;
};
void fat_conn_open(struct fat_conn *c);
void fat_conn_drain(struct fat_conn *c);
/* Run the loop once (up to 1 ms), then drain. */
void fat_conn_run(struct fat_conn *c);
/* Run until the socket's queue is empty or it failed; returns vms_socket_error(). */
int fat_conn_flush(struct fat_conn *c, struct vm_object *deferred);
/* Close c->so (if any) with `how`, run until it is freed, close fds, wait for the peer's EOF. */
void fat_conn_close(struct fat_conn *c, int how);
void fat_conn_free(struct fat_conn *c);
/* The stream is "head" + data[off, off + len) (whole) or a strict prefix of it. */
void fat_check_stream(const struct fat_conn *c, const uint8_t *data, size_t off, size_t len,
		      bool whole, const char *what, unsigned long n);

/*
 * One send with the Nth allocation failing: open a connection, make its
 * vms_socket, queue "head" + all of vp with `flags`, flush, close lingering,
 * disarm.  Then the result must be 0, -ENOMEM or -EIO (-EBUSY too with
 * SF_NODISKIO), a failure must have had a fault injected, and the stream
 * must be "head" + want[0, len), whole if the result was 0, else a clean
 * prefix (`what` names the loop in messages).  Returns whether a fault was
 * injected.
 */
bool fat_send_armed(unsigned long n, struct vnode *vp, int flags, const uint8_t *want, size_t len,
		    const char *what);

/* Make pages [first, first + count) of obj resident, valid and unbusied. */
void fat_cache_pages(struct vm_object *obj, uint64_t first, int count);

/* No socket, busy or wired page, object, vnode or fd beyond the set-up's. */
void fat_check_clean(const char *loopname, unsigned long n);
/* Take the baseline fat_check_clean compares with again (after a test's own set-up). */
void fat_baseline(void);
/* LeakSanitizer (ASan builds): no unreachable allocation. */
void fat_check_no_leaks(const char *loopname);

/* One iteration with injection point n; returns true if the fault was injected. */
typedef bool fat_op_t(unsigned long n, const void *arg);
/*
 * Run op for n = 1, 2, ... until an iteration had nothing injected, checking
 * fat_check_clean after each and fat_check_no_leaks at the end; prints and
 * returns the number of injection points exercised.
 */
unsigned long fat_loop_run(const char *name, fat_op_t *op, const void *arg);

#endif

/*
 * Holds: a file range wired in the page cache, read in without a socket.
 *
 * An HTTP/2 connection multiplexes many responses over one vms_socket,
 * whose send buffer goes out strictly in order.  If it framed a DATA
 * payload whose pages still need disk I/O, that not-ready segment would
 * hold back every frame queued behind it, hot streams included.  So the
 * HTTP/2 layer frames a payload only once its pages are valid: a range
 * that is not cached is first *held*, and framed when the hold says ready.
 *
 * A hold is a sink: a vms_socket without a file descriptor that never
 * sends.  vms_sendfile on it does everything it does on a real socket
 * (swapin, coalesced or split reads, read-ahead, busy-page retries, EIO)
 * and the segments simply stay queued, their pages wired, until the hold
 * is released.  When every segment is ready the sink calls on_ready from
 * its loop; an I/O error calls on_error.  Sending the same range on the
 * real socket then grabs the held pages (valid, so unbusied) and queues
 * them ready at once; releasing the hold drops its own wiring.
 */
#include "sendfile/sf_impl.h"

#include "core/assert.h"
#include "core/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>

struct vms_sfhold {
	struct vms_socket *so;   /* (c) the sink */
	vms_sfhold_done_t *done; /* (c) */
	void *arg;               /* (c) */
	bool reported;           /* (l) done ran */
};

static void
sf_hold_ready(struct vms_socket *so, void *arg)
{
	struct vms_sfhold *h = arg;
	if (h->reported)
		return;
	h->reported = true;
	h->done(h, 0, h->arg);
}

static void
sf_hold_error(struct vms_socket *so, int error, void *arg)
{
	struct vms_sfhold *h = arg;
	if (h->reported)
		return;
	h->reported = true;
	h->done(h, error, h->arg);
}

int
vms_sfhold_start(struct io_loop *loop, struct vm_object *obj, uint64_t offset, size_t nbytes,
		 vms_sfhold_done_t *done, void *arg, struct vms_sfhold **out)
{
	if (loop == NULL || obj == NULL || done == NULL || nbytes == 0 || nbytes > VMS_SFHOLD_MAX)
		return -EINVAL;
	struct vms_sfhold *h = calloc(1, sizeof(*h));
	struct vms_socket *so = sf_socket_alloc(loop);
	if (h == NULL || so == NULL) {
		free(h);
		if (so != NULL)
			sf_socket_rele(so);
		return -ENOMEM;
	}
	so->sink = true;
	so->hiwat = (uint32_t)nbytes + 1; /* the whole range is queued by the one call */
	so->lowat = 0;
	so->on_ready = sf_hold_ready;
	so->on_error = sf_hold_error;
	so->arg = h;
	h->so = so;
	h->done = done;
	h->arg = arg;
	off_t sb = 0;
	int rc = vms_sendfile_object(so, obj, (off_t)offset, nbytes, NULL, &sb, 0);
	if (rc != 0 && so->error != 0) {
		/* A read failed at once (a synchronous pager): done reports it from the loop. */
		rc = 0;
	}
	if (rc != 0) {
		/* A failure before anything was queued (memory): nothing is held. */
		vms_socket_close(so, VMS_CLOSE_ABORT);
		free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void
vms_sfhold_release(struct vms_sfhold *h)
{
	if (h == NULL)
		return;
	/* Reads still under way finish on the loop and unwire their pages then. */
	vms_socket_close(h->so, VMS_CLOSE_ABORT);
	free(h);
}

size_t
vms_sendfile_cached(struct vm_object *obj, uint64_t offset, size_t nbytes)
{
	if (offset >= obj->size)
		return 0;
	uint64_t end = MIN(offset + nbytes, obj->size);
	uint64_t pos = offset;
	vm_object_lock(obj);
	while (pos < end) {
		struct vm_page *m = vm_page_lookup(obj, OFF_TO_IDX(pos));
		if (m == NULL || !vm_page_all_valid(m))
			break;
		pos = MIN(end, IDX_TO_OFF(OFF_TO_IDX(pos) + 1));
	}
	vm_object_unlock(obj);
	return (size_t)(pos - offset);
}

/*
 * vms_sendfile: queue headers, a file range and trailers on a vmsend socket.
 *
 * The call never waits for the disk.  It cuts the file range into segments
 * of at most sf_max_chunk_pages pages (one swapin request each, so pages
 * are released as each chunk leaves rather than after the whole range),
 * queues them not ready behind the headers, and starts swapin; the pages
 * that need reading turn their segment ready when the last I/O completes
 * (see swapin.c), and the socket sends whatever is ready at its head (see
 * socket.c).  Only the send buffer's high-water mark limits a call: past it
 * a non-blocking socket returns -EAGAIN with *sbytes saying what was queued.
 *
 * Headers and trailers are each queued whole or not at all, so a caller
 * retrying after -EAGAIN knows exactly what went: if *sbytes covers the
 * headers, the rest of *sbytes is file bytes.
 */
#include "sendfile/sf_impl.h"

#include "core/assert.h"
#include "core/util.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int
sf_iov_len(const struct iovec *iov, int cnt, size_t *len)
{
	*len = 0;
	if (cnt < 0 || (cnt > 0 && iov == NULL))
		return -EINVAL;
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > 0 && iov[i].iov_base == NULL)
			return -EINVAL;
		*len += iov[i].iov_len;
	}
	return *len > UINT32_MAX / 2 ? -EINVAL : 0;
}

static struct sf_seg *
sf_seg_new_pages(struct vm_object *obj, uint64_t offset, uint32_t len, bool nocache)
{
	struct sf_seg *seg = calloc(1, sizeof(*seg));
	if (seg == NULL)
		return NULL;
	seg->kind = SEG_PAGES;
	seg->nocache = nocache;
	seg->obj = obj;
	vm_object_reference(obj);
	seg->offset = offset;
	seg->len = len;
	seg->npages = (int)howmany(sf_seg_pgoff(seg) + len, PAGE_SIZE);
	return seg;
}

int
vms_sendfile_object(struct vms_socket *so, struct vm_object *obj, off_t offset, size_t nbytes,
		    const struct vms_hdtr *hdtr, off_t *sbytes, int flags)
{
	off_t queued = 0;
	size_t hlen = 0, tlen = 0;
	int error;

	if (sbytes != NULL)
		*sbytes = 0;
	counter_inc(&sf_stats.calls);
	if (obj == NULL || offset < 0)
		return -EINVAL;
	if (hdtr != NULL) {
		if ((error = sf_iov_len(hdtr->headers, hdtr->hdr_cnt, &hlen)) != 0 ||
		    (error = sf_iov_len(hdtr->trailers, hdtr->trl_cnt, &tlen)) != 0)
			return error;
	}
	if (so->error != 0)
		return -so->error;

	uint64_t pos = (uint64_t)offset, rem = 0;
	if (pos < obj->size) {
		rem = obj->size - pos;
		if (nbytes != 0 && nbytes < rem)
			rem = nbytes;
	}
	int ra = (int)SF_READAHEAD(flags);
	if (!(flags & SF_USER_READAHEAD))
		ra = MAX(ra, (int)sf_readahead);
	uint32_t chunk_max = (uint32_t)MAX(sf_max_chunk_pages, 1) * PAGE_SIZE;
	sf_ra_call(so, obj, pos, pos + rem, flags);

	error = 0;
	if (hlen > 0) {
		if ((error = sf_wait_space(so)) != 0 ||
		    (error =
			 sf_queue_copy(so, hdtr->headers, hdtr->hdr_cnt, hlen, SF_RT_APPDATA)) != 0)
			goto out;
		queued += (off_t)hlen;
	}
	while (rem > 0) {
		/* A blocking socket waits below: the rest of the request is read ahead meanwhile. */
		if (so->sb_cc >= so->hiwat)
			sf_ra_kick(so, obj, pos);
		if ((error = sf_wait_space(so)) != 0)
			goto out;
		uint32_t len = (uint32_t)MIN(rem, (uint64_t)(so->hiwat - so->sb_cc));
		len = MIN(len, chunk_max - (uint32_t)(pos & PAGE_MASK));
		struct sf_seg *seg = sf_seg_new_pages(obj, pos, len, (flags & SF_NOCACHE) != 0);
		if (seg == NULL) {
			error = -ENOMEM;
			goto out;
		}
		if (len == rem)
			seg->ra = ra;
		if (flags & SF_NODISKIO) {
			uint32_t got = sf_swapin_nodiskio(seg);
			if (got == 0) {
				sf_seg_free(seg);
				error = -EBUSY;
				goto out;
			}
			seg->ready = true;
			sf_sb_append(so, seg);
			sf_sb_kick(so);
			pos += got;
			rem -= got;
			queued += got;
			if (got < len) {
				error = -EBUSY;
				goto out;
			}
			continue;
		}
		sf_sb_append(so, seg);
		pos += len;
		rem -= len;
		queued += len;
		/* Start the reads now: a blocking socket's wait above needs them under way. */
		sf_swapin_pump(so);
	}
	if (tlen > 0) {
		if ((error = sf_wait_space(so)) != 0 ||
		    (error = sf_queue_copy(so, hdtr->trailers, hdtr->trl_cnt, tlen,
					   SF_RT_APPDATA)) != 0)
			goto out;
		queued += (off_t)tlen;
	}
out:
	sf_swapin_pump(so);
	sf_ra_kick(so, obj, pos);
	sf_sb_kick(so);
	if (error == -EAGAIN)
		counter_inc(&sf_stats.eagain);
	else if (error == -EBUSY)
		counter_inc(&sf_stats.ebusy);
	if ((flags & SF_SYNC) && (error == 0 || error == -EBUSY)) {
		/* Bytes complete in queue order, so ours are done once the count passes them. */
		uint64_t target = so->bytes_queued;
		while (so->error == 0 &&
		       (so->bytes_sent < target || !TAILQ_EMPTY(&so->zc_pending) ||
			(so->tls != NULL && so->sb_cc > 0))) { /* sealing grows the bytes */
			int r = sf_socket_wait(so);
			if (r < 0) {
				error = r;
				break;
			}
		}
	}
	if (so->error != 0 && (error == 0 || error == -EAGAIN || error == -EBUSY))
		error = -so->error;
	if (sbytes != NULL)
		*sbytes = queued;
	return error;
}

int
vms_sendfile_vnode(struct vms_socket *so, struct vnode *vp, off_t offset, size_t nbytes,
		   const struct vms_hdtr *hdtr, off_t *sbytes, int flags)
{
	if (sbytes != NULL)
		*sbytes = 0;
	if (vp == NULL || vp->va.type != VREG || vp->object == NULL)
		return -EINVAL;
	return vms_sendfile_object(so, vp->object, offset, nbytes, hdtr, sbytes, flags);
}

int
vms_sendfile_blocking(struct vms_socket *so, struct vm_object *obj, off_t offset, size_t nbytes,
		      const struct vms_hdtr *hdtr, off_t *sbytes, int flags)
{
	bool was = so->blocking;
	so->blocking = true;
	int error = vms_sendfile_object(so, obj, offset, nbytes, hdtr, sbytes, flags);
	so->blocking = was;
	if (error == 0)
		error = vms_socket_flush(so);
	return error;
}

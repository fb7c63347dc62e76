/*
 * Asynchronous block reads through the io layer, for the ARC's misses: one
 * IORING_OP_READ per block (resumed on a short read), then the same
 * verify-and-decompress as the synchronous path, on the loop's thread.
 */
#include "fs/objfs/image_impl.h"

#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void
aread_finish(struct objfs_aread *ar, int error)
{
	if (ar->pbuf_ != NULL && ar->pbuf_ != ar->buf)
		free(ar->pbuf_);
	ar->pbuf_ = NULL;
	ar->done(ar, error);
}

static void
aread_submit(struct objfs_aread *ar)
{
	struct io_uring_sqe *sqe = io_sqe(ar->loop_, &ar->io_);
	io_uring_prep_read(sqe, objfs_image_fd(ar->img_), (char *)ar->pbuf_ + ar->got_,
			   (unsigned)objfs_image_failpoint_len(ar->bp.psize - ar->got_),
			   ar->bp.offset + ar->got_);
	io_uring_sqe_set_data(sqe, &ar->io_);
}

static void
aread_cqe(struct io_req *req, int res, uint32_t cqe_flags)
{
	struct objfs_aread *ar = container_of(req, struct objfs_aread, io_);
	struct objfs_image *img = ar->img_;

	if (res == -EINTR || res == -EAGAIN) {
		aread_submit(ar);
		return;
	}
	if (res <= 0) {
		memset(ar->buf, 0, ar->bp.lsize);
		aread_finish(ar, objfs_image_io_fail(img, &ar->bp, ar->objnum, ar->blkid,
						     res == 0 ? "image ends early" : "read error"));
		return;
	}
	ar->got_ += (uint32_t)res;
	if (ar->got_ < ar->bp.psize) {
		aread_submit(ar);
		return;
	}
	counter_inc(&img->stats.blocks_read);
	counter_inc(&img->stats.async_reads);
	counter_add(&img->stats.bytes_read, ar->bp.psize);
	aread_finish(
	    ar, objfs_image_finish_block(img, &ar->bp, ar->objnum, ar->blkid, ar->pbuf_, ar->buf));
}

void
objfs_image_read_async(struct objfs_image *img, struct io_loop *loop, struct objfs_aread *ar)
{
	ar->img_ = img;
	ar->loop_ = loop;
	ar->got_ = 0;
	ar->pbuf_ = NULL;
	ar->io_.done = aread_cqe;

	const char *why = objfs_image_bp_sane(img, &ar->bp);
	if (why != NULL) {
		if (ar->bp.lsize > 0 && ar->bp.lsize <= (1u << OBJFS_MAX_RS_SHIFT))
			memset(ar->buf, 0, ar->bp.lsize);
		aread_finish(ar, objfs_image_bad(img, ar->objnum, "block pointer", why));
		return;
	}
	if (objfs_bp_is_hole(&ar->bp)) {
		counter_inc(&img->stats.holes);
		memset(ar->buf, 0, ar->bp.lsize);
		aread_finish(ar, 0);
		return;
	}
	if (objfs_image_failpoint_hit(img)) {
		memset(ar->buf, 0, ar->bp.lsize);
		aread_finish(ar, objfs_image_io_fail(img, &ar->bp, ar->objnum, ar->blkid,
						     "injected read error"));
		return;
	}
	ar->pbuf_ = ar->bp.comp == OBJFS_COMP_OFF ? ar->buf : malloc(ar->bp.psize);
	if (ar->pbuf_ == NULL) {
		memset(ar->buf, 0, ar->bp.lsize);
		aread_finish(ar, -ENOMEM);
		return;
	}
	aread_submit(ar);
}

/*
 * Asynchronous block reads through the io layer, for the ARC's misses: one
 * IORING_OP_READ per block (resumed on a short read), then the same
 * verify-and-decompress as the synchronous path, on the loop's thread.
 *
 * Where the image has an O_DIRECT descriptor, a block is read without the
 * host page cache.  An uncompressed block whose offset and size are aligned
 * goes straight into the caller's buffer; any other block is read as the
 * aligned range around it into a staging buffer and verified there:
 *
 *   image   ...|  a  |  a  |  a  |  a  |...    a = dio_align
 *                  [ stored block ]
 *   pbuf_      [start_ .. start_+want_ .. cap_)
 *
 * A resumed short read goes direct only while the offset stays aligned; the
 * rest of it is read buffered (short direct reads happen only at EOF).
 *
 * A scatter read (ar->iov: an uncompressed block straight into the caller's
 * pieces, e.g. a record into the page cache) is one IORING_OP_READV over the
 * pieces from got_ on, checksummed in place with no copy.
 */
#include "fs/objfs/image_impl.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/recmem.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void
aread_finish(struct objfs_aread *ar, int error)
{
	if (ar->pbuf_ != ar->buf)
		recmem_free(ar->mem, ar->pbuf_);
	ar->pbuf_ = NULL;
	free(ar->tail_);
	ar->tail_ = NULL;
	ar->done(ar, error);
}

/* A failed read leaves zeros in a buffer; a scatter read's pieces are the caller's to drop. */
static void
aread_fail(struct objfs_aread *ar, int error)
{
	if (ar->iov == NULL && ar->bp.lsize > 0 && ar->bp.lsize <= (1u << OBJFS_MAX_RS_SHIFT))
		memset(ar->buf, 0, ar->bp.lsize);
	aread_finish(ar, error);
}

/* Scatter: point tail_ at the pieces' bytes [got_, got_ + len); returns how many. */
static int
aread_tail(struct objfs_aread *ar, size_t len)
{
	size_t skip = ar->got_;
	int i = 0, n = 0;

	while (skip >= ar->iov[i].iov_len) {
		skip -= ar->iov[i].iov_len;
		i++;
	}
	for (; i < ar->iovcnt && len > 0; i++, n++) {
		size_t l = MIN(ar->iov[i].iov_len - skip, len);
		ar->tail_[n].iov_base = (char *)ar->iov[i].iov_base + skip;
		ar->tail_[n].iov_len = l;
		len -= l;
		skip = 0;
	}
	return n;
}

static uint32_t
dio_align(const struct objfs_image *img)
{
	if (img->dfd < 0 || atomic_load_explicit(&img->dio_refused, memory_order_relaxed))
		return 0;
	return img->dio_align;
}

static void
aread_submit(struct objfs_aread *ar)
{
	struct objfs_image *img = ar->img_;
	uint64_t off = ar->start_ + ar->got_;
	char *dst = ar->iov != NULL ? NULL : ar->pbuf_ + ar->got_;
	size_t len = ar->want_ - ar->got_;
	uint32_t a = dio_align(img);
	int fd = img->fd;

	/* Scatter pieces are aligned (objfs_image_can_scatter), so got_ says it all. */
	uintptr_t at = dst != NULL ? (uintptr_t)dst : ar->got_;
	ar->direct_ = false;
	if (a != 0 && off % a == 0 && at % a == 0 && ar->got_ + roundup2(len, a) <= ar->cap_) {
		size_t n = objfs_image_failpoint_len(roundup2(len, a));
		n -= n % a;
		if (n > 0) {
			fd = img->dfd;
			len = n;
			ar->direct_ = true;
		}
	}
	if (!ar->direct_)
		len = objfs_image_failpoint_len(len);
	struct io_uring_sqe *sqe = io_sqe(ar->loop_, &ar->io_);
	if (dst != NULL)
		io_uring_prep_read(sqe, fd, dst, (unsigned)len, off);
	else
		io_uring_prep_readv(sqe, fd, ar->tail_, (unsigned)aread_tail(ar, len), off);
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
	if (res == -EINVAL && ar->direct_) {
		if (!atomic_exchange(&img->dio_refused, true))
			LOG_INFO("objfs", "%s: O_DIRECT read refused: reading buffered from now on",
				 img->path);
		aread_submit(ar);
		return;
	}
	if (res <= 0) {
		aread_fail(ar, objfs_image_io_fail(img, &ar->bp, ar->objnum, ar->blkid,
						   res == 0 ? "image ends early" : "read error"));
		return;
	}
	if (ar->direct_)
		counter_inc(&img->stats.direct_reads);
	ar->got_ += (uint32_t)res;
	if (ar->got_ < ar->want_) {
		aread_submit(ar);
		return;
	}
	counter_inc(&img->stats.blocks_read);
	counter_inc(&img->stats.async_reads);
	counter_add(&img->stats.bytes_read, ar->bp.psize);
	if (ar->iov != NULL) {
		aread_finish(ar, objfs_image_finish_scatter(img, &ar->bp, ar->objnum, ar->blkid,
							    ar->iov, ar->iovcnt));
		return;
	}
	const char *stored = ar->pbuf_ + (ar->bp.offset - ar->start_);
	aread_finish(
	    ar, objfs_image_finish_block(img, &ar->bp, ar->objnum, ar->blkid, stored, ar->buf));
}

/* Choose what the read fills: the caller's buffer, or a staging buffer (see the top). */
static int
aread_plan(struct objfs_aread *ar)
{
	uint32_t a = dio_align(ar->img_);
	bool stored_is_logical = ar->bp.comp == OBJFS_COMP_OFF;

	ar->start_ = ar->bp.offset;
	ar->want_ = ar->bp.psize;
	ar->cap_ = ar->bp.psize;
	if (ar->iov != NULL) {
		/* The caller checked objfs_image_can_scatter(). */
		ar->tail_ = calloc((size_t)ar->iovcnt, sizeof(*ar->tail_));
		return ar->tail_ != NULL ? 0 : -ENOMEM;
	}
	if (stored_is_logical && (a == 0 || (ar->bp.offset % a == 0 && ar->bp.psize % a == 0 &&
					     (uintptr_t)ar->buf % a == 0))) {
		ar->pbuf_ = ar->buf;
		return 0;
	}
	if (a != 0) {
		ar->start_ = ar->bp.offset - ar->bp.offset % a;
		ar->want_ = (uint32_t)(ar->bp.offset - ar->start_) + ar->bp.psize;
		ar->cap_ = (uint32_t)roundup2(ar->want_, a);
		counter_inc(&ar->img_->stats.staged_reads);
	}
	ar->pbuf_ = recmem_alloc(ar->mem, ar->cap_); /* 4 KiB aligned: OBJFS_DIO_MAX_ALIGN */
	return ar->pbuf_ != NULL ? 0 : -ENOMEM;
}

void
objfs_image_read_async(struct objfs_image *img, struct io_loop *loop, struct objfs_aread *ar)
{
	ar->img_ = img;
	ar->loop_ = loop;
	ar->got_ = 0;
	ar->pbuf_ = NULL;
	ar->tail_ = NULL;
	ar->io_.done = aread_cqe;

	const char *why = objfs_image_bp_sane(img, &ar->bp);
	if (why != NULL) {
		aread_fail(ar, objfs_image_bad(img, ar->objnum, "block pointer", why));
		return;
	}
	if (objfs_bp_is_hole(&ar->bp)) {
		VERIFY(ar->iov == NULL); /* not a scatter block */
		counter_inc(&img->stats.holes);
		memset(ar->buf, 0, ar->bp.lsize);
		aread_finish(ar, 0);
		return;
	}
	if (objfs_image_failpoint_hit(img)) {
		aread_fail(ar, objfs_image_io_fail(img, &ar->bp, ar->objnum, ar->blkid,
						   "injected read error"));
		return;
	}
	if (aread_plan(ar) != 0) {
		aread_fail(ar, -ENOMEM);
		return;
	}
	aread_submit(ar);
}

bool
objfs_image_can_scatter(const struct objfs_image *img, const struct objfs_bp *bp, uint32_t piece)
{
	uint32_t a = dio_align(img);
	return bp->comp == OBJFS_COMP_OFF && !objfs_bp_is_hole(bp) && bp->psize == bp->lsize &&
	       bp->lsize > 0 && bp->lsize % piece == 0 &&
	       (a == 0 || (piece % a == 0 && bp->offset % a == 0));
}

/*
 * mkimage: pack a host directory into an objfs image.
 *
 * Two passes.  The scan walks the tree breadth-first, so the children of a
 * directory get consecutive object numbers (root = 1) and every directory's
 * entries are known, sorted, before anything is written.  The write pass then
 * appends, for each object in order, its records and then its indirect
 * blocks bottom-up; then the dnode array (an object like any other); then the
 * uberblock ring and, last, the header.  Until the header is written the file
 * is not an image, and it is built under IMAGE.tmp and renamed into place.
 *
 *   [header][uber x4][obj1 records|indirects][obj2 ...]...[dnode array][its indirects]
 *
 * Blocks are laid back to back, except that a block of OBJFS_ALIGN_MIN_PSIZE
 * or more starts on an OBJFS_ALIGN boundary, after zero padding: the server
 * reads such a record with O_DIRECT straight into its ARC buffer.  Every
 * other byte of the image is covered by some checksum (fsck verifies that
 * blocks tile the image and that padding is only that, and zero).
 */
#include "fs/objfs/mkimage.h"

#include "core/log.h"
#include "core/sysmem.h"
#include "core/util.h"
#include "fs/objfs/format.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <lz4.h>
#include <lz4hc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct mk_node {
	char *name;   /* entry name in its parent ("" for the root) */
	char *rel;    /* path relative to DIR ("." for the root) */
	uint8_t type; /* OBJFS_OT_FILE / OBJFS_OT_DIR */
	uint32_t mode;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t first, nchild; /* children: nodes[first .. first + nchild) */
	uint8_t variant;        /* enum objfs_precomp: made from the file at rel when written */
};

/* One block on its way to the image: its bytes, then what is stored. */
struct mk_blk {
	const char *data; /* logical bytes: rbuf, or the caller's */
	uint32_t lsize;
	bool hole;
	char *rbuf, *cbuf, *hcbuf; /* read, LZ4 and LZ4HC scratch (maxblk each) */
	const char *out;           /* what is stored: data, cbuf or hcbuf */
	uint32_t psize;
	uint8_t comp;
	uint8_t cksum[OBJFS_CKSUM_LEN];
};

struct mk {
	const struct objfs_mkimage_opts *o;
	struct objfs_mkimage_summary *sum;
	char *err;
	size_t errlen;
	int rootfd;
	dev_t img_dev;
	ino_t img_ino;
	struct mk_node *nodes;
	uint32_t n, cap;
	/* writer */
	int fd;
	uint64_t pos;
	struct mk_blk *blk; /* nblk slots: a batch of records packed at once */
	unsigned nblk;
	unsigned nthreads; /* packing threads, the caller's included */
	void **hc;         /* LZ4HC state per packing thread (o->level > 0) */
	/* progress */
	uint64_t total, done;
	int shown;
};

__attribute__((format(printf, 3, 4))) static int
mk_err(struct mk *m, int rc, const char *fmt, ...)
{
	if (m->errlen > 0 && m->err[0] == '\0') {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(m->err, m->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void
objfs_mkimage_defaults(struct objfs_mkimage_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->rs_shift = OBJFS_DEFAULT_RS_SHIFT;
	o->compress = true;
	o->level = OBJFS_MK_LEVEL_DEFAULT;
}

/* ---- scan ---- */

static int
node_cmp(const void *a, const void *b)
{
	const struct mk_node *x = a, *y = b;
	return objfs_name_cmp(x->name, strlen(x->name), y->name, strlen(y->name));
}

static int
mk_add(struct mk *m, struct mk_node *nd)
{
	if (m->n == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 256;
		struct mk_node *p = realloc(m->nodes, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		m->nodes = p;
		m->cap = cap;
	}
	if ((uint64_t)m->n + 2 >= (1ull << 31))
		return mk_err(m, -EFBIG, "too many files");
	m->nodes[m->n++] = *nd;
	return 0;
}

static void
node_attrs(struct mk_node *nd, const struct stat *st)
{
	nd->mode = st->st_mode & 07777;
	nd->mtime_sec = st->st_mtim.tv_sec;
	nd->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	nd->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	nd->type = S_ISDIR(st->st_mode) ? OBJFS_OT_DIR : OBJFS_OT_FILE;
}

static int write_object(struct mk *m, struct objfs_dnode *dn, int fd, const char *mem,
			const char *what);

/*
 * --precompress: a FILE.gz/.zst/.br node for each text-like file among
 * nodes[first..n) that has no such file next to it already.  The variant's
 * bytes are made when it is written (write_all); until then its size is 0.
 */
static int
add_variants(struct mk *m, uint32_t first)
{
	uint32_t end = m->n;
	qsort(m->nodes + first, end - first, sizeof(*m->nodes), node_cmp);
	for (uint32_t i = first; i < end; i++) {
		if (m->nodes[i].type != OBJFS_OT_FILE ||
		    !objfs_precompress_wanted(m->nodes[i].name, m->nodes[i].size))
			continue;
		for (int k = OBJFS_PRECOMP_GZIP; k < OBJFS_PRECOMP_N; k++) {
			struct mk_node nd = m->nodes[i]; /* attributes of the source: same mtime */
			nd.variant = (uint8_t)k;
			nd.size = 0;
			if (asprintf(&nd.name, "%s%s", m->nodes[i].name, objfs_precomp_ext[k]) < 0)
				return -ENOMEM;
			if (strlen(nd.name) > OBJFS_NAME_MAX ||
			    bsearch(&nd, m->nodes + first, end - first, sizeof(*m->nodes),
				    node_cmp) != NULL) {
				free(nd.name); /* too long, or the directory has its own */
				continue;
			}
			nd.rel = strdup(m->nodes[i].rel);
			int rc = nd.rel ? mk_add(m, &nd) : -ENOMEM;
			if (rc != 0) {
				free(nd.name);
				free(nd.rel);
				return rc;
			}
		}
	}
	return 0;
}

/* Write variant node nd: compress its source file (read whole) into an object. */
static int
write_variant(struct mk *m, const struct mk_node *nd, struct objfs_dnode *dn)
{
	int fd = openat(m->rootfd, nd->rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		int rc = mk_err(m, -errno, "%s: %s", nd->rel, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	size_t len = (size_t)st.st_size, got = 0;
	char *in = malloc(len ? len : 1);
	int rc = in ? 0 : -ENOMEM;
	while (rc == 0 && got < len) {
		ssize_t r = pread(fd, in + got, len - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			rc = mk_err(m, r < 0 ? -errno : -EIO, "%s: %s", nd->rel,
				    r < 0 ? strerror(errno) : "file shrank while being packed");
		else
			got += (size_t)r;
	}
	close(fd);
	void *out = NULL;
	size_t outlen = 0;
	if (rc == 0 && (rc = objfs_precompress(nd->variant, in, len, &out, &outlen)) != 0)
		rc = mk_err(m, rc, "%s: cannot compress%s: %s", nd->rel,
			    objfs_precomp_ext[nd->variant], strerror(-rc));
	free(in);
	if (rc == 0) {
		dn->size = outlen;
		m->total += outlen; /* the progress bar counts what is written */
		rc = write_object(m, dn, -1, out, nd->name);
		m->sum->variants++;
		m->sum->bytes += outlen;
	}
	free(out);
	return rc;
}

static int
scan_dir(struct mk *m, uint32_t idx)
{
	const char *rel = m->nodes[idx].rel;
	int dfd = openat(m->rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return mk_err(m, -errno, "%s: cannot open directory: %s", rel, strerror(errno));
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return mk_err(m, -ENOMEM, "out of memory");
	}
	uint32_t first = m->n;
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = mk_err(m, -errno, "%s/%s: %s", rel, de->d_name, strerror(errno));
			break;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
			LOG_WARN("objfs",
				 "mkimage: skipping %s/%s: not a regular file or directory", rel,
				 de->d_name);
			m->sum->skipped++;
			continue;
		}
		if (st.st_dev == m->img_dev && st.st_ino == m->img_ino)
			continue; /* the image being written, inside DIR */
		struct mk_node nd = {0};
		node_attrs(&nd, &st);
		size_t nl = strlen(de->d_name);
		if (nl > OBJFS_NAME_MAX) {
			rc = mk_err(m, -ENAMETOOLONG, "%s/%s: name too long", rel, de->d_name);
			break;
		}
		nd.name = strdup(de->d_name);
		if (strcmp(rel, ".") == 0)
			nd.rel = strdup(de->d_name);
		else if (asprintf(&nd.rel, "%s/%s", rel, de->d_name) < 0)
			nd.rel = NULL;
		if (nd.name == NULL || nd.rel == NULL) {
			free(nd.name);
			free(nd.rel);
			rc = -ENOMEM;
			break;
		}
		if (strlen(nd.rel) >= PATH_MAX) {
			rc = mk_err(m, -ENAMETOOLONG, "%s: path too long", nd.rel);
			free(nd.name);
			free(nd.rel);
			break;
		}
		if ((rc = mk_add(m, &nd)) != 0) {
			free(nd.name);
			free(nd.rel);
		}
	}
	if (rc == 0 && errno != 0)
		rc = mk_err(m, -errno, "%s: readdir: %s", rel, strerror(errno));
	closedir(d);
	if (rc == 0 && m->o->precompress)
		rc = add_variants(m, first);
	if (rc != 0)
		return rc;
	qsort(m->nodes + first, m->n - first, sizeof(*m->nodes), node_cmp);
	m->nodes[idx].first = first;
	m->nodes[idx].nchild = m->n - first;
	return 0;
}

static int
scan(struct mk *m)
{
	struct stat st;
	if (fstat(m->rootfd, &st) != 0)
		return mk_err(m, -errno, "cannot stat the directory: %s", strerror(errno));
	struct mk_node root = {0};
	node_attrs(&root, &st);
	root.name = strdup("");
	root.rel = strdup(".");
	int rc = mk_add(m, &root);
	/* Breadth-first: the queue is the node array itself. */
	for (uint32_t i = 0; rc == 0 && i < m->n; i++) {
		if (m->nodes[i].type == OBJFS_OT_DIR)
			rc = scan_dir(m, i);
		else
			m->total += m->nodes[i].size;
	}
	return rc;
}

/* ---- write ---- */

static void
progress(struct mk *m)
{
	if (m->o->progress == NULL || m->total == 0)
		return;
	int pct = (int)(m->done * 100 / m->total);
	if (pct == m->shown)
		return;
	m->shown = pct;
	char bar[41];
	int fill = pct * 40 / 100;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(40 - fill));
	bar[40] = '\0';
	fprintf(m->o->progress, "\rmkimage [%s] %3d%% %llu/%llu MiB", bar, pct,
		(unsigned long long)(m->done >> 20), (unsigned long long)(m->total >> 20));
	if (pct == 100)
		fputc('\n', m->o->progress);
	fflush(m->o->progress);
}

static bool
is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	/* Fast path: compare with itself shifted by one byte after checking the first. */
	return n == 0 || (b[0] == 0 && memcmp(b, b + 1, n - 1) == 0);
}

static int
pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Compress (LZ4, then LZ4HC at o->level) and checksum one block; no I/O, so threads may. */
static void
blk_pack(const struct objfs_mkimage_opts *o, void *hc, struct mk_blk *bk)
{
	bk->out = bk->data;
	bk->psize = bk->lsize;
	bk->comp = OBJFS_COMP_OFF;
	if (bk->hole)
		return;
	uint32_t lsize = bk->lsize, cap = lsize - lsize / 8;
	if (o->compress && cap > 0) {
		int n = LZ4_compress_default(bk->data, bk->cbuf, (int)lsize, (int)cap);
		/* Kept only when it saves at least 1/8 (n <= cap). */
		if (n > 0) {
			bk->out = bk->cbuf;
			bk->psize = (uint32_t)n;
			bk->comp = OBJFS_COMP_LZ4;
		}
		int hn = n > 0 && hc != NULL
			     ? LZ4_compress_HC_extStateHC(hc, bk->data, bk->hcbuf, (int)lsize,
							  n - 1, o->level)
			     : 0;
		if (hn > 0) {
			bk->out = bk->hcbuf;
			bk->psize = (uint32_t)hn;
		}
	}
	objfs_cksum(bk->out, bk->psize, bk->cksum);
}

/* Store a packed block at the end of the image (or make it a hole); fill *bp. */
static int
blk_write(struct mk *m, const struct mk_blk *bk, uint8_t type, uint8_t level, struct objfs_bp *bp)
{
	memset(bp, 0, sizeof(*bp));
	bp->lsize = bk->lsize;
	bp->type = type;
	bp->level = level;
	bp->birth = 1;
	if (bk->hole) {
		bp->flags = OBJFS_BPF_HOLE;
		return 0;
	}
	bp->psize = bk->psize;
	bp->comp = bk->comp;
	memcpy(bp->cksum, bk->cksum, sizeof(bp->cksum));
	if (bp->psize >= OBJFS_ALIGN_MIN_PSIZE && m->pos % OBJFS_ALIGN != 0) {
		static const char zeros[OBJFS_ALIGN];
		uint32_t pad = OBJFS_ALIGN - (uint32_t)(m->pos % OBJFS_ALIGN);
		int rc = pwrite_full(m->fd, zeros, pad, m->pos);
		if (rc != 0)
			return mk_err(m, rc, "write failed: %s", strerror(-rc));
		m->pos += pad;
		m->sum->pad_bytes += pad;
	}
	bp->offset = m->pos;
	int rc = pwrite_full(m->fd, bk->out, bp->psize, m->pos);
	if (rc != 0)
		return mk_err(m, rc, "write failed: %s", strerror(-rc));
	m->pos += bp->psize;
	if (type == OBJFS_BT_DATA)
		m->sum->stored_bytes += bp->psize;
	else
		m->sum->meta_bytes += bp->psize;
	return 0;
}

/* Pack and store one block through slot 0. */
static int
write_block(struct mk *m, const void *data, uint32_t lsize, uint8_t type, uint8_t level, bool hole,
	    struct objfs_bp *bp)
{
	struct mk_blk *bk = &m->blk[0];
	bk->data = data;
	bk->lsize = lsize;
	bk->hole = hole;
	blk_pack(m->o, m->hc[0], bk);
	return blk_write(m, bk, type, level, bp);
}

/*
 * Packing a batch on threads.  LZ4HC runs at tens of MB/s, so a batch of
 * records is packed by nthreads threads (slot i by thread i % nthreads),
 * then written in order by the caller: the image is the same byte for byte
 * whatever the thread count.  Threads live for one batch: a batch is
 * milliseconds of compression, starting a thread microseconds.
 */
struct mk_packer {
	struct mk *m;
	unsigned tid, n;
	pthread_t thread;
};

static void *
mk_packer_run(void *arg)
{
	struct mk_packer *pk = arg;
	for (unsigned i = pk->tid; i < pk->n; i += pk->m->nthreads)
		blk_pack(pk->m->o, pk->m->hc[pk->tid], &pk->m->blk[i]);
	return NULL;
}

static void
pack_batch(struct mk *m, unsigned n)
{
	struct mk_packer pk[OBJFS_MK_THREADS_MAX];
	unsigned t = MIN(m->nthreads, n), started = 1;
	for (unsigned i = 0; i < t; i++)
		pk[i] = (struct mk_packer){.m = m, .tid = i, .n = n};
	while (started < t &&
	       pthread_create(&pk[started].thread, NULL, mk_packer_run, &pk[started]) == 0)
		started++;
	/* A thread that could not start: its slots are packed here (with its state). */
	for (unsigned i = started; i < t; i++)
		mk_packer_run(&pk[i]);
	mk_packer_run(&pk[0]);
	for (unsigned i = 1; i < started; i++)
		pthread_join(pk[i].thread, NULL);
}

/* Build the indirect levels over bps[0..n) (overwritten); set dn->root, dn->nlevels. */
static int
write_tree(struct mk *m, struct objfs_bp *bps, uint64_t n, struct objfs_dnode *dn)
{
	uint8_t level = 0;
	dn->nlevels = 1;
	if (n == 0) {
		memset(&dn->root, 0, sizeof(dn->root));
		dn->root.type = objfs_dnode_data_btype(dn);
		dn->root.flags = OBJFS_BPF_HOLE;
		dn->root.birth = 1;
		return 0;
	}
	struct objfs_disk_bp ind[OBJFS_IND_BPS];
	while (n > 1) {
		uint64_t nn = howmany(n, OBJFS_IND_BPS);
		for (uint64_t g = 0; g < nn; g++) {
			uint64_t lo = g * OBJFS_IND_BPS, hi = MIN(n, lo + OBJFS_IND_BPS);
			bool allhole = true;
			memset(ind, 0, sizeof(ind));
			for (uint64_t i = lo; i < hi; i++) {
				objfs_bp_encode(&bps[i], &ind[i - lo]);
				allhole &= objfs_bp_is_hole(&bps[i]);
			}
			struct objfs_bp bp;
			int rc = write_block(m, ind, OBJFS_IND_SIZE, OBJFS_BT_INDIRECT, level + 1,
					     allhole, &bp);
			if (rc != 0)
				return rc;
			bps[g] = bp;
		}
		n = nn;
		level++;
		dn->nlevels++;
	}
	dn->root = bps[0];
	return 0;
}

/* Record b of an object into slot bk: from mem, or read from fd unless SEEK_DATA finds a hole. */
static int
read_record(struct mk *m, const struct objfs_dnode *dn, uint64_t b, int fd, const char *mem,
	    const char *what, uint64_t *next_data, struct mk_blk *bk)
{
	uint64_t off = b << dn->rs_shift;
	bk->lsize = objfs_dnode_record_lsize(dn, b);
	bk->data = mem ? mem + off : bk->rbuf;
	if (mem == NULL && *next_data <= off) {
		/* A sparse file's holes need not be read to be found all zero. */
		off_t d = lseek(fd, (off_t)off, SEEK_DATA);
		*next_data = d >= 0 ? (uint64_t)d : errno == ENXIO ? UINT64_MAX : off;
	}
	if (mem == NULL && *next_data >= off + bk->lsize) {
		bk->data = NULL;
		bk->hole = true;
		return 0;
	}
	for (size_t got = 0; mem == NULL && got < bk->lsize;) {
		ssize_t r = pread(fd, bk->rbuf + got, bk->lsize - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return mk_err(m, r < 0 ? -errno : -EIO, "%s: %s", what,
				      r < 0 ? strerror(errno) : "file shrank while being packed");
		got += (size_t)r;
	}
	bk->hole = is_zero(bk->data, bk->lsize);
	return 0;
}

/*
 * Write an object's records from fd (a file) or mem (a directory stream or
 * the dnode array), then its tree.  dn->size and dn->rs_shift are set.
 */
static int
write_object(struct mk *m, struct objfs_dnode *dn, int fd, const char *mem, const char *what)
{
	uint64_t nrec = objfs_dnode_nrecords(dn);
	uint8_t type = objfs_dnode_data_btype(dn);
	struct objfs_bp *bps = calloc(nrec ? nrec : 1, sizeof(*bps));
	if (bps == NULL)
		return mk_err(m, -ENOMEM, "out of memory");
	int rc = 0;
	uint64_t next_data = 0; /* files: no data before this offset (SEEK_DATA) */
	for (uint64_t b0 = 0; rc == 0 && b0 < nrec; b0 += m->nblk) {
		unsigned n = (unsigned)MIN(nrec - b0, m->nblk);
		for (unsigned j = 0; rc == 0 && j < n; j++)
			rc = read_record(m, dn, b0 + j, fd, mem, what, &next_data, &m->blk[j]);
		if (rc != 0)
			break;
		pack_batch(m, n);
		for (unsigned j = 0; rc == 0 && j < n; j++) {
			struct objfs_bp *bp = &bps[b0 + j];
			rc = blk_write(m, &m->blk[j], type, 0, bp);
			if (type == OBJFS_BT_DATA) {
				m->sum->records++;
				m->sum->holes += m->blk[j].hole;
				m->sum->hole_bytes += m->blk[j].hole ? bp->lsize : 0;
				m->sum->compressed += bp->comp == OBJFS_COMP_LZ4;
				m->done += bp->lsize;
				progress(m);
			}
		}
	}
	struct stat st;
	/* Holes found by SEEK_DATA look the same as a tail cut off meanwhile. */
	if (rc == 0 && mem == NULL && fstat(fd, &st) == 0 && (uint64_t)st.st_size < dn->size)
		rc = mk_err(m, -EIO, "%s: file shrank while being packed", what);
	if (rc == 0)
		rc = write_tree(m, bps, nrec, dn);
	free(bps);
	return rc;
}

static void
node_dnode(const struct mk_node *nd, uint64_t objnum, unsigned rs_shift, struct objfs_dnode *dn)
{
	memset(dn, 0, sizeof(*dn));
	dn->objnum = objnum;
	dn->type = nd->type;
	dn->mode = nd->mode;
	dn->size = nd->size;
	dn->mtime_sec = nd->mtime_sec;
	dn->mtime_nsec = nd->mtime_nsec;
	dn->rs_shift = (uint8_t)(nd->type == OBJFS_OT_DIR ? OBJFS_META_RS_SHIFT : rs_shift);
}

/* The entry stream of directory node idx. */
static char *
dir_stream(struct mk *m, uint32_t idx, uint64_t *size)
{
	const struct mk_node *nd = &m->nodes[idx];
	uint64_t sz = 0;
	for (uint32_t i = 0; i < nd->nchild; i++)
		sz += OBJFS_DIRENT_SIZE(strlen(m->nodes[nd->first + i].name));
	char *s = calloc(1, sz ? sz : 1);
	if (s == NULL)
		return NULL;
	uint64_t off = 0;
	for (uint32_t i = 0; i < nd->nchild; i++) {
		const struct mk_node *c = &m->nodes[nd->first + i];
		size_t nl = strlen(c->name);
		struct objfs_disk_dirent h = {0};
		h.objnum = htole64((uint64_t)nd->first + i + 1);
		h.namelen = htole16((uint16_t)nl);
		h.type = c->type;
		memcpy(s + off, &h, sizeof(h));
		memcpy(s + off + sizeof(h), c->name, nl);
		off += OBJFS_DIRENT_SIZE(nl);
	}
	*size = sz;
	return s;
}

static int
write_all(struct mk *m, uint64_t guid, uint64_t now)
{
	uint64_t nobj = (uint64_t)m->n + 1;
	struct objfs_disk_dnode *arr = calloc(nobj, sizeof(*arr));
	if (arr == NULL)
		return mk_err(m, -ENOMEM, "out of memory");
	int rc = 0;
	m->pos = OBJFS_DATA_START;
	for (uint32_t i = 0; rc == 0 && i < m->n; i++) {
		struct mk_node *nd = &m->nodes[i];
		struct objfs_dnode dn;
		node_dnode(nd, i + 1, m->o->rs_shift, &dn);
		if (nd->type == OBJFS_OT_DIR) {
			char *s = dir_stream(m, i, &dn.size);
			if (s == NULL) {
				rc = mk_err(m, -ENOMEM, "out of memory");
				break;
			}
			if (dn.size > OBJFS_DIR_MAX)
				rc = mk_err(m, -EFBIG, "%s: too many entries", nd->rel);
			dn.nentries = nd->nchild;
			if (rc == 0)
				rc = write_object(m, &dn, -1, s, nd->rel);
			free(s);
			m->sum->dirs++;
		} else if (nd->variant != OBJFS_PRECOMP_NONE) {
			rc = write_variant(m, nd, &dn);
			m->sum->files++;
		} else {
			int fd = openat(m->rootfd, nd->rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				rc = mk_err(m, -errno, "%s: %s", nd->rel, strerror(errno));
				break;
			}
			rc = write_object(m, &dn, fd, NULL, nd->rel);
			close(fd);
			m->sum->files++;
			m->sum->bytes += dn.size;
		}
		objfs_dnode_encode(&dn, &arr[i + 1]);
	}
	struct objfs_uber u = {
	    .version = OBJFS_VERSION, .guid = guid, .nobjects = nobj, .timestamp = now};
	if (rc == 0) {
		u.meta.type = OBJFS_OT_META;
		u.meta.rs_shift = OBJFS_META_RS_SHIFT;
		u.meta.size = nobj * sizeof(*arr);
		rc = write_object(m, &u.meta, -1, (const char *)arr, "dnode array");
	}
	free(arr);
	if (rc != 0)
		return rc;

	/* Every slot names the same root, newest last: any one torn slot leaves
	 * an older generation that still opens. */
	struct objfs_disk_uber ring[OBJFS_UBER_SLOTS];
	for (unsigned i = 0; i < OBJFS_UBER_SLOTS; i++) {
		u.slot = i;
		u.generation = i + 1;
		objfs_uber_encode(&u, &ring[i]);
	}
	rc = pwrite_full(m->fd, ring, sizeof(ring), OBJFS_UBER_OFFSET);
	if (rc != 0)
		return mk_err(m, rc, "write failed: %s", strerror(-rc));
	if (fsync(m->fd) != 0)
		return mk_err(m, -errno, "fsync failed: %s", strerror(errno));
	struct objfs_header h = {.version = OBJFS_VERSION,
				 .guid = guid,
				 .image_size = m->pos,
				 .uber_offset = OBJFS_UBER_OFFSET,
				 .uber_slots = OBJFS_UBER_SLOTS,
				 .uber_size = OBJFS_UBER_SIZE,
				 .data_start = OBJFS_DATA_START,
				 .create_time = now};
	struct objfs_disk_header dh;
	objfs_header_encode(&h, &dh);
	rc = pwrite_full(m->fd, &dh, sizeof(dh), 0);
	if (rc == 0 && fsync(m->fd) != 0)
		rc = -errno;
	if (rc != 0)
		return mk_err(m, rc, "write failed: %s", strerror(-rc));
	m->sum->image_bytes = m->pos;
	return 0;
}

/* Packing threads and batch slots (o->threads; 0: one thread per online CPU). */
static int
mk_alloc(struct mk *m, uint32_t maxblk)
{
	unsigned t = m->o->threads ? m->o->threads : vms_cpus_usable();
	m->nthreads = MIN(t, OBJFS_MK_THREADS_MAX);
	m->nblk = m->nthreads == 1 ? 1 : 4 * m->nthreads;
	bool hc = m->o->compress && m->o->level > 0;
	m->blk = calloc(m->nblk, sizeof(*m->blk));
	m->hc = calloc(m->nthreads, sizeof(*m->hc));
	if (m->blk == NULL || m->hc == NULL)
		return mk_err(m, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < m->nblk; i++) {
		struct mk_blk *bk = &m->blk[i];
		bk->rbuf = malloc(maxblk);
		bk->cbuf = malloc(maxblk);
		bk->hcbuf = hc ? malloc(maxblk) : NULL;
		if (bk->rbuf == NULL || bk->cbuf == NULL || (hc && bk->hcbuf == NULL))
			return mk_err(m, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; hc && i < m->nthreads; i++)
		if ((m->hc[i] = malloc((size_t)LZ4_sizeofStateHC())) == NULL)
			return mk_err(m, -ENOMEM, "out of memory");
	return 0;
}

static void
mk_free(struct mk *m)
{
	for (unsigned i = 0; m->blk != NULL && i < m->nblk; i++) {
		free(m->blk[i].rbuf);
		free(m->blk[i].cbuf);
		free(m->blk[i].hcbuf);
	}
	for (unsigned i = 0; m->hc != NULL && i < m->nthreads; i++)
		free(m->hc[i]);
	free(m->blk);
	free(m->hc);
}

int
objfs_mkimage(const char *dir, const char *image, const struct objfs_mkimage_opts *o,
	      struct objfs_mkimage_summary *sum, char *err, size_t errlen)
{
	struct objfs_mkimage_opts defo;
	if (o == NULL) {
		objfs_mkimage_defaults(&defo);
		o = &defo;
	}
	struct mk mk = {.o = o, .sum = sum, .err = err, .errlen = errlen, .fd = -1, .shown = -1};
	struct mk *m = &mk;
	char dummy[1];
	if (err == NULL || errlen == 0)
		m->err = dummy, m->errlen = sizeof(dummy);
	m->err[0] = '\0';
	memset(sum, 0, sizeof(*sum));
	if (o->rs_shift < OBJFS_MIN_RS_SHIFT || o->rs_shift > OBJFS_MAX_RS_SHIFT)
		return mk_err(m, -EINVAL, "record size must be a power of two from 4K to 1M");
	if (o->level < 0 || o->level > OBJFS_MK_LEVEL_MAX)
		return mk_err(m, -EINVAL, "compression level must be 0 to %d", OBJFS_MK_LEVEL_MAX);

	char *tmp = NULL;
	int rc = 0;
	if (asprintf(&tmp, "%s.tmp", image) < 0)
		return mk_err(m, -ENOMEM, "out of memory");
	m->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->rootfd < 0) {
		rc = mk_err(m, -errno, "%s: %s", dir, strerror(errno));
		free(tmp);
		return rc;
	}
	m->fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct stat st;
	if (m->fd < 0 || fstat(m->fd, &st) != 0) {
		rc = mk_err(m, -errno, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	m->img_dev = st.st_dev;
	m->img_ino = st.st_ino;
	uint32_t maxblk = MAX(1u << o->rs_shift, MAX(OBJFS_IND_SIZE, 1u << OBJFS_META_RS_SHIFT));
	if ((rc = mk_alloc(m, maxblk)) != 0)
		goto out;
	uint64_t guid = o->guid;
	while (guid == 0 && getrandom(&guid, sizeof(guid), 0) != sizeof(guid))
		;
	if ((rc = scan(m)) == 0 &&
	    (rc = write_all(m, guid, o->time ? o->time : (uint64_t)time(NULL))) == 0) {
		if (rename(tmp, image) != 0)
			rc = mk_err(m, -errno, "rename %s to %s: %s", tmp, image, strerror(errno));
	}
	if (rc == -ENOMEM)
		mk_err(m, rc, "out of memory");
out:
	if (m->fd >= 0)
		close(m->fd);
	if (rc != 0)
		unlink(tmp);
	close(m->rootfd);
	for (uint32_t i = 0; i < m->n; i++) {
		free(m->nodes[i].name);
		free(m->nodes[i].rel);
	}
	free(m->nodes);
	mk_free(m);
	free(tmp);
	return rc;
}

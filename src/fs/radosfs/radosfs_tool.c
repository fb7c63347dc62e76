/*
 * `vmsend rados put|fsck|gc`: see radosfs_tool.h and docs/rados-format.md.
 *
 * put publishes in this order, so that a reader never sees a manifest
 * naming an object that is not there yet:
 *   1. every new object (write_full; objects are never rewritten),
 *   2. the kept copy "vmsend.manifest.<version>",
 *   3. "vmsend.manifest" (write_full is atomic: readers see old or new),
 *   4. a notify on "vmsend.manifest": every watching mount switches and
 *      acks, so put returns once the fleet serves the new version.
 */
#include "fs/radosfs/radosfs_tool.h"

#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- walking the tree ---- */

struct rfs_list {
	struct rfs_entry *v;
	uint32_t n, cap;
};

static int
rfs_list_add(struct rfs_list *l, const char *path, const struct stat *st)
{
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 64;
		struct rfs_entry *nv = realloc(l->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	struct rfs_entry *e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	if ((e->path = strdup(path)) == NULL)
		return -ENOMEM;
	e->type = S_ISDIR(st->st_mode) ? RFS_T_DIR : RFS_T_FILE;
	e->mode = st->st_mode & 07777;
	e->size = e->type == RFS_T_FILE ? (uint64_t)st->st_size : 0;
	e->mtime_sec = st->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	l->n++;
	return 0;
}

/* Regular files and directories under root/rel, recursively; others are skipped (said so). */
static int
rfs_walk(const char *root, const char *rel, struct rfs_list *l)
{
	char path[8192];
	struct stat st;
	int rv = 0;

	snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel);
	if (lstat(path, &st) != 0) {
		fprintf(stderr, "vmsend rados put: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		fprintf(stderr, "vmsend rados put: skipping %s (not a regular file or directory)\n",
			path);
		return 0;
	}
	if ((rv = rfs_list_add(l, rel, &st)) != 0 || !S_ISDIR(st.st_mode))
		return rv;
	DIR *d = opendir(path);
	if (d == NULL) {
		fprintf(stderr, "vmsend rados put: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	struct dirent *de;
	while (rv == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char sub[4096];
		if (snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >=
		    (int)sizeof(sub)) {
			fprintf(stderr, "vmsend rados put: path too long under %s\n", path);
			rv = -ENAMETOOLONG;
			break;
		}
		rv = rfs_walk(root, sub, l);
	}
	closedir(d);
	return rv;
}

static int
rfs_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rfs_entry *)a)->path, ((const struct rfs_entry *)b)->path);
}

/* ---- uploading one file ---- */

static void
rfs_progress(bool on, uint64_t done, uint64_t total, const char *name)
{
	if (!on || total == 0)
		return;
	int w = 30, fill = (int)(done * (uint64_t)w / total);
	fprintf(stderr, "\r[%.*s%*s] %3d%% %6.1f/%.1f MiB %-30.30s", fill,
		"##############################", w - fill, "", (int)(done * 100 / total),
		(double)done / 1048576.0, (double)total / 1048576.0, name);
	fflush(stderr);
}

struct rfs_put_ctx {
	struct rfs_conn *c;
	const struct rfs_put_opts *o;
	uint32_t stripe, chunk;
	uint64_t total, done;
	uint64_t *sums; /* chunk sums of the new manifest, appended */
	uint64_t nsums, capsums;
	struct rfs_put_result *res;
};

static int
rfs_sums_reserve(struct rfs_put_ctx *x, uint64_t n)
{
	if (x->nsums + n <= x->capsums)
		return 0;
	uint64_t cap = MAX(x->capsums * 2, x->nsums + n + 1024);
	uint64_t *ns = realloc(x->sums, cap * sizeof(*ns));
	if (ns == NULL)
		return -ENOMEM;
	x->sums = ns;
	x->capsums = cap;
	return 0;
}

/* Read, checksum and write the objects of a new file version; e->objects gets sum offsets. */
static int
rfs_put_file(struct rfs_put_ctx *x, const char *root, struct rfs_entry *e, char *buf)
{
	char path[8192], oid[RFS_OID_MAX];
	int fd, rv = 0;

	snprintf(path, sizeof(path), "%s/%s", root, e->path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "vmsend rados put: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (getrandom(&e->fileid, sizeof(e->fileid), 0) != sizeof(e->fileid)) {
		close(fd);
		return -EIO;
	}
	e->nobjects = (uint32_t)howmany(e->size, x->stripe);
	e->objects = calloc(e->nobjects ? e->nobjects : 1, sizeof(*e->objects));
	if (e->objects == NULL) {
		close(fd);
		return -ENOMEM;
	}
	for (uint32_t k = 0; k < e->nobjects && rv == 0; k++) {
		struct rfs_object *o = &e->objects[k];
		uint64_t off = (uint64_t)k * x->stripe;

		o->len = (uint32_t)MIN((uint64_t)x->stripe, e->size - off);
		o->nchunks = (uint32_t)howmany(o->len, x->chunk);
		size_t got = 0;
		while (got < o->len) {
			ssize_t r = pread(fd, buf + got, o->len - got, (off_t)(off + got));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				fprintf(stderr, "vmsend rados put: %s: %s\n", path,
					r == 0 ? "file shrank while being read" : strerror(errno));
				rv = r == 0 ? -EAGAIN : -errno;
				break;
			}
			got += (size_t)r;
		}
		if (rv != 0 || (rv = rfs_sums_reserve(x, o->nchunks)) != 0)
			break;
		/* Offsets now, pointers once the sum array stops moving. */
		o->chunk_sum = (uint64_t *)(uintptr_t)x->nsums;
		o->hash = XXH3_64bits(buf, o->len);
		for (uint32_t ci = 0; ci < o->nchunks; ci++) {
			uint32_t cl = MIN(x->chunk, o->len - ci * x->chunk);
			uint64_t s = XXH3_64bits(buf + (size_t)ci * x->chunk, cl);

			x->sums[x->nsums++] = s;
			o->stored |= s != rfs_zero_sum(cl);
		}
		if (o->stored) {
			rfs_object_name(oid, e->fileid, k);
			rv = rados_write_full(x->c->io, oid, buf, o->len);
			if (rv != 0) {
				fprintf(stderr,
					"\nvmsend rados put: writing %s (%s stripe %u): %s\n", oid,
					e->path, k, strerror(-rv));
				break;
			}
			x->res->objects_sent++;
			x->res->bytes_sent += o->len;
		}
		x->done += o->len;
		rfs_progress(x->o->progress, x->done, x->total, e->path);
	}
	close(fd);
	return rv;
}

/* Does `old` hold this file unchanged (same size, mtime and geometry)? */
static const struct rfs_entry *
rfs_put_unchanged(const struct rfs_manifest *old, const struct rfs_put_ctx *x,
		  const struct rfs_entry *e)
{
	if (old == NULL || old->stripe_size != x->stripe || old->chunk_size != x->chunk)
		return NULL;
	const struct rfs_entry *oe = rfs_manifest_find(old, e->path);
	if (oe == NULL || oe->type != RFS_T_FILE || oe->size != e->size ||
	    oe->mtime_sec != e->mtime_sec || oe->mtime_nsec != e->mtime_nsec)
		return NULL;
	return oe;
}

static bool
rfs_same_tree(const struct rfs_manifest *old, const struct rfs_manifest *m)
{
	if (old == NULL || old->nentries != m->nentries || old->stripe_size != m->stripe_size ||
	    old->chunk_size != m->chunk_size)
		return false;
	for (uint32_t i = 0; i < m->nentries; i++) {
		const struct rfs_entry *a = &old->entries[i], *b = &m->entries[i];
		if (strcmp(a->path, b->path) != 0 || a->type != b->type || a->mode != b->mode ||
		    a->size != b->size || a->fileid != b->fileid || a->mtime_sec != b->mtime_sec ||
		    a->mtime_nsec != b->mtime_nsec)
			return false;
	}
	return true;
}

static int
rfs_publish(struct rfs_conn *c, const struct rfs_manifest *m, const struct rfs_put_opts *o)
{
	char oid[RFS_OID_MAX];
	void *buf;
	size_t len;
	int rv = rfs_manifest_encode(m, &buf, &len);

	if (rv != 0)
		return rv;
	rfs_manifest_name(oid, m->version);
	rv = rados_write_full(c->io, oid, buf, len);
	if (rv == 0)
		rv = rados_write_full(c->io, RFS_MANIFEST_OID, buf, len);
	free(buf);
	if (rv != 0) {
		fprintf(stderr, "vmsend rados put: writing the manifest: %s\n", strerror(-rv));
		return rv;
	}
	char *reply = NULL;
	size_t rlen = 0;
	int nrv = rados_notify2(c->io, RFS_MANIFEST_OID, "", 0,
				o->notify_timeout_ms ? o->notify_timeout_ms : 5000, &reply, &rlen);
	if (reply != NULL)
		rados_buffer_free(reply);
	if (nrv != 0 && nrv != -ETIMEDOUT)
		fprintf(stderr,
			"vmsend rados put: notify: %s (watchers will see it on their poll)\n",
			strerror(-nrv));
	else if (nrv == -ETIMEDOUT)
		fprintf(stderr, "vmsend rados put: some watchers did not ack within the notify "
				"time-out (they switch on their next poll)\n");
	return 0;
}

int
rfs_put(struct rfs_conn *c, const char *dir, const struct rfs_put_opts *o,
	struct rfs_put_result *res, FILE *out)
{
	struct rfs_manifest *old = NULL, m = {0};
	struct rfs_list l = {0};
	struct rfs_put_ctx x = {.c = c, .o = o, .res = res};
	char err[256] = "";
	char *buf = NULL;
	int rv;

	memset(res, 0, sizeof(*res));
	rv = rfs_manifest_load(c, 0, &old, err, sizeof(err));
	if (rv != 0 && rv != -ENOENT) {
		fprintf(stderr, "vmsend rados put: %s\n", err);
		return rv;
	}
	if (rv == -ENOENT)
		old = NULL;
	x.stripe = o->stripe_size ? o->stripe_size : old ? old->stripe_size : RFS_STRIPE_DEFAULT;
	x.chunk = o->chunk_size ? o->chunk_size : old ? old->chunk_size : RFS_CHUNK_DEFAULT;
	if (x.chunk < 4096 || !powerof2(x.chunk) || x.stripe % x.chunk != 0 ||
	    x.stripe > (1u << 30)) {
		fprintf(stderr, "vmsend rados put: chunk size must be a power of two >= 4096 "
				"dividing the stripe size (<= 1 GiB)\n");
		rv = -EINVAL;
		goto out;
	}
	if ((rv = rfs_walk(dir, "", &l)) != 0)
		goto out;
	if (l.n == 0 || l.v[0].type != RFS_T_DIR) {
		fprintf(stderr, "vmsend rados put: %s is not a directory\n", dir);
		rv = -ENOTDIR;
		goto out;
	}
	qsort(l.v, l.n, sizeof(*l.v), rfs_entry_cmp);
	for (uint32_t i = 0; i < l.n; i++)
		if (l.v[i].type == RFS_T_FILE && rfs_put_unchanged(old, &x, &l.v[i]) == NULL)
			x.total += l.v[i].size;
	if ((buf = malloc(x.stripe)) == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < l.n && rv == 0; i++) {
		struct rfs_entry *e = &l.v[i];
		if (e->type == RFS_T_DIR) {
			res->dirs++;
			continue;
		}
		res->files++;
		const struct rfs_entry *oe = rfs_put_unchanged(old, &x, e);
		if (oe == NULL) {
			res->files_sent++;
			rv = rfs_put_file(&x, dir, e, buf);
			continue;
		}
		/* Unchanged: the same file id and objects, nothing sent. */
		res->files_kept++;
		e->fileid = oe->fileid;
		e->nobjects = oe->nobjects;
		e->objects = calloc(oe->nobjects ? oe->nobjects : 1, sizeof(*e->objects));
		if (e->objects == NULL) {
			rv = -ENOMEM;
			break;
		}
		for (uint32_t k = 0; k < oe->nobjects && rv == 0; k++) {
			e->objects[k] = oe->objects[k];
			if ((rv = rfs_sums_reserve(&x, oe->objects[k].nchunks)) != 0)
				break;
			e->objects[k].chunk_sum = (uint64_t *)(uintptr_t)x.nsums;
			memcpy(x.sums + x.nsums, oe->objects[k].chunk_sum,
			       oe->objects[k].nchunks * sizeof(uint64_t));
			x.nsums += oe->objects[k].nchunks;
		}
	}
	if (o->progress && x.total > 0)
		fputc('\n', stderr);
	if (rv != 0)
		goto out;
	for (uint32_t i = 0; i < l.n; i++)
		for (uint32_t k = 0; k < l.v[i].nobjects; k++)
			l.v[i].objects[k].chunk_sum =
			    x.sums + (uintptr_t)l.v[i].objects[k].chunk_sum;
	m.version = old ? old->version + 1 : 1;
	m.stripe_size = x.stripe;
	m.chunk_size = x.chunk;
	m.created_sec = (uint64_t)time(NULL);
	m.nentries = l.n;
	m.entries = l.v;
	if (rfs_same_tree(old, &m)) {
		res->version = old->version;
		fprintf(out, "unchanged: %s stays at version %" PRIu64 " (%u files)\n", c->where,
			old->version, res->files);
		goto out;
	}
	if ((rv = rfs_publish(c, &m, o)) != 0)
		goto out;
	res->version = m.version;
	res->published = true;
	fprintf(out,
		"published %s version %" PRIu64 ": %u files (%u sent, %u unchanged), %u dirs, "
		"%" PRIu64 " objects, %" PRIu64 " bytes sent\n",
		c->where, m.version, res->files, res->files_sent, res->files_kept, res->dirs,
		res->objects_sent, res->bytes_sent);
out:
	for (uint32_t i = 0; i < l.n; i++) {
		free(l.v[i].path);
		free(l.v[i].objects);
	}
	free(l.v);
	free(x.sums);
	free(buf);
	rfs_manifest_rele(old);
	return rv;
}

/* ---- fsck ---- */

int
rfs_fsck(struct rfs_conn *c, uint64_t version, FILE *out)
{
	struct rfs_manifest *m;
	char err[256] = "", oid[RFS_OID_MAX];
	int rv = rfs_manifest_load(c, version, &m, err, sizeof(err));
	int broken = 0;
	uint64_t objects = 0, chunks = 0;

	if (rv != 0) {
		fprintf(out, "BROKEN manifest: %s\n", err);
		return rv == -EBADMSG ? 1 : rv;
	}
	char *buf = malloc((size_t)m->stripe_size + 1);
	if (buf == NULL) {
		rfs_manifest_rele(m);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->nentries; i++) {
		const struct rfs_entry *e = &m->entries[i];
		for (uint32_t k = 0; k < e->nobjects; k++) {
			const struct rfs_object *o = &e->objects[k];
			if (!o->stored)
				continue;
			objects++;
			rfs_object_name(oid, e->fileid, k);
			int r = rados_read(c->io, oid, buf, (size_t)o->len + 1, 0);
			const char *why = NULL;
			char whybuf[128];
			if (r < 0) {
				snprintf(whybuf, sizeof(whybuf), "cannot read: %s", strerror(-r));
				why = whybuf;
			} else if ((uint32_t)r != o->len) {
				snprintf(whybuf, sizeof(whybuf), "%d bytes, manifest says %u", r,
					 o->len);
				why = whybuf;
			} else if (XXH3_64bits(buf, o->len) != o->hash) {
				why = "object checksum mismatch";
			}
			for (uint32_t ci = 0; why == NULL && ci < o->nchunks; ci++) {
				uint32_t cl = rfs_chunk_len(o, ci, m->chunk_size);
				chunks++;
				if (XXH3_64bits(buf + (size_t)ci * m->chunk_size, cl) !=
				    o->chunk_sum[ci]) {
					snprintf(whybuf, sizeof(whybuf),
						 "chunk %u checksum mismatch", ci);
					why = whybuf;
				}
			}
			if (why != NULL) {
				broken++;
				fprintf(out,
					"BROKEN object %s (%s, stripe %u, bytes %" PRIu64
					"-%" PRIu64 "): %s\n",
					oid, e->path, k, (uint64_t)k * m->stripe_size,
					(uint64_t)k * m->stripe_size + o->len - 1, why);
			}
		}
	}
	fprintf(out,
		"%s version %" PRIu64 ": %u entries, %" PRIu64 " objects, %" PRIu64
		" chunks verified, %d broken\n",
		c->where, m->version, m->nentries, objects, chunks, broken);
	free(buf);
	rfs_manifest_rele(m);
	return broken;
}

/* ---- gc ---- */

static int
rfs_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int
rfs_gc(struct rfs_conn *c, unsigned keep, FILE *out)
{
	struct rfs_manifest *cur;
	char err[256] = "";
	int rv = rfs_manifest_load(c, 0, &cur, err, sizeof(err));

	if (rv != 0) {
		fprintf(stderr, "vmsend rados gc: %s\n", err);
		return rv;
	}
	if (keep == 0)
		keep = 1;
	/* File ids named by the kept versions: the current one and keep-1 before it. */
	uint64_t *live = NULL, nlive = 0, cap = 0, oldest = cur->version;
	for (uint64_t v = cur->version; v > 0 && cur->version - v < keep; v--) {
		struct rfs_manifest *m = NULL;
		if (v == cur->version) {
			m = cur;
			rfs_manifest_ref(m);
		} else if (rfs_manifest_load(c, v, &m, err, sizeof(err)) != 0) {
			continue;
		}
		oldest = v;
		for (uint32_t i = 0; i < m->nentries && rv == 0; i++) {
			if (m->entries[i].type != RFS_T_FILE)
				continue;
			if (nlive == cap) {
				cap = cap ? cap * 2 : 256;
				uint64_t *nl = realloc(live, cap * sizeof(*nl));
				if (nl == NULL) {
					rv = -ENOMEM;
					break;
				}
				live = nl;
			}
			live[nlive++] = m->entries[i].fileid;
		}
		rfs_manifest_rele(m);
	}
	if (live != NULL)
		qsort(live, nlive, sizeof(*live), rfs_u64_cmp);
	rados_list_ctx_t lc;
	int removed = 0, kept = 0;
	if (rv == 0 && (rv = rados_nobjects_list_open(c->io, &lc)) == 0) {
		const char *name;
		char **dead = NULL;
		size_t ndead = 0, capd = 0;
		while (rados_nobjects_list_next(lc, &name, NULL, NULL) == 0) {
			uint64_t id, ver;
			uint32_t stripe;
			int n = 0;
			bool drop = false;
			if (sscanf(name, "%16" SCNx64 ".%8" SCNx32 "%n", &id, &stripe, &n) == 2 &&
			    name[n] == '\0' && strlen(name) == 25) {
				drop = live == NULL || bsearch(&id, live, nlive, sizeof(*live),
							       rfs_u64_cmp) == NULL;
			} else if (sscanf(name, RFS_MANIFEST_OID ".%16" SCNx64 "%n", &ver, &n) ==
				       1 &&
				   name[n] == '\0') {
				drop = ver < oldest;
			}
			if (!drop) {
				kept++;
				continue;
			}
			if (ndead == capd) {
				capd = capd ? capd * 2 : 64;
				char **nd = realloc(dead, capd * sizeof(*nd));
				if (nd == NULL)
					break;
				dead = nd;
			}
			if ((dead[ndead] = strdup(name)) != NULL)
				ndead++;
		}
		rados_nobjects_list_close(lc);
		for (size_t i = 0; i < ndead; i++) {
			int r = rados_remove(c->io, dead[i]);
			if (r == 0 || r == -ENOENT)
				removed++;
			else
				fprintf(stderr, "vmsend rados gc: remove %s: %s\n", dead[i],
					strerror(-r));
			free(dead[i]);
		}
		free(dead);
	}
	if (rv == 0)
		fprintf(out,
			"%s: kept versions %" PRIu64 "-%" PRIu64 ", removed %d objects, %d kept\n",
			c->where, oldest, cur->version, removed, kept);
	free(live);
	rfs_manifest_rele(cur);
	return rv != 0 ? rv : removed;
}

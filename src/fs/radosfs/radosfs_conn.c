/*
 * radosfs connections: one rados_t + ioctx per pool/namespace, with the
 * health flag every lookup and read consults, and manifest loading.
 */
#include "fs/radosfs/radosfs.h"

#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

VMS_TUNABLE(radosfs_op_timeout_ms, "radosfs_op_timeout_ms", 3000,
	    "librados operation time-out (OSD and monitor ops), ms, rounded up to whole seconds; a "
	    "read that times out is EIO and marks the cluster down");

struct radosfs_stats radosfs_stats;
VMS_STAT_COUNTER(radosfs_stats.ios, "radosfs_ios", "page-in reads started (one RADOS op each)");
VMS_STAT_COUNTER(radosfs_stats.pages_read, "radosfs_pages_read", "requested pages made valid");
VMS_STAT_COUNTER(radosfs_stats.bogus_slots, "radosfs_bogus_slots",
		 "bogus_page slots read into the sink");
VMS_STAT_COUNTER(radosfs_stats.sink_pages, "radosfs_sink_pages",
		 "other pages read only to verify a chunk");
VMS_STAT_COUNTER(radosfs_stats.rbehind_pages, "radosfs_rbehind_pages",
		 "optional pages read behind");
VMS_STAT_COUNTER(radosfs_stats.rahead_pages, "radosfs_rahead_pages", "optional pages read ahead");
VMS_STAT_COUNTER(radosfs_stats.bytes_read, "radosfs_bytes_read", "bytes asked of the cluster");
VMS_STAT_COUNTER(radosfs_stats.chunks_verified, "radosfs_chunks_verified",
		 "64 KiB chunks whose XXH3 was checked");
VMS_STAT_COUNTER(radosfs_stats.checksum_errors, "radosfs_checksum_errors",
		 "chunks whose XXH3 did not match: EIO");
VMS_STAT_COUNTER(radosfs_stats.errors, "radosfs_errors", "reads that failed");
VMS_STAT_COUNTER(radosfs_stats.down_refused, "radosfs_down_refused",
		 "lookups and reads refused while the cluster is down");
VMS_STAT_COUNTER(radosfs_stats.versions_loaded, "radosfs_versions_loaded", "manifests switched to");
VMS_STAT_COUNTER(radosfs_stats.notifies, "radosfs_notifies", "manifest notifies received");
VMS_STAT_COUNTER(radosfs_stats.injected, "radosfs_injected", "failures injected by tests");

bool
rfs_errno_is_down(int rv)
{
	return rv == -ETIMEDOUT || rv == -ENOTCONN || rv == -ECONNREFUSED || rv == -EHOSTUNREACH ||
	       rv == -ESHUTDOWN || rv == -ECONNRESET;
}

void
rfs_conn_note(struct rfs_conn *c, int rv, const char *what)
{
	if (rv >= 0 || rv == -ENOENT) {
		if (atomic_exchange(&c->down, false))
			LOG_WARN("radosfs", "cluster for %s answers again (%s): serving", c->where,
				 what);
		return;
	}
	if (rfs_errno_is_down(rv) && !atomic_exchange(&c->down, true))
		LOG_ERR("radosfs",
			"cluster for %s unreachable (%s: %s): requests get 503 until it is back",
			c->where, what, strerror(-rv));
}

/*
 * The client name, as the ceph tools take it: "--id X" / "-i X" (client.X) or
 * "--name T.X" / "-n T.X" in $CEPH_ARGS; client.admin without them.  librados
 * fixes the name at rados_create2, before rados_conf_parse_env would see it.
 */
static void
rfs_client_name(char *name, size_t namesz)
{
	const char *args = getenv("CEPH_ARGS");
	char *copy, *save = NULL, *tok;
	bool id = false, full = false;

	snprintf(name, namesz, "client.admin");
	if (args == NULL || (copy = strdup(args)) == NULL)
		return;
	for (tok = strtok_r(copy, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		if (id || full)
			snprintf(name, namesz, "%s%s", id ? "client." : "", tok);
		id = strcmp(tok, "--id") == 0 || strcmp(tok, "-i") == 0;
		full = strcmp(tok, "--name") == 0 || strcmp(tok, "-n") == 0;
		if (strncmp(tok, "--id=", 5) == 0)
			snprintf(name, namesz, "client.%s", tok + 5);
		else if (strncmp(tok, "--name=", 7) == 0)
			snprintf(name, namesz, "%s", tok + 7);
	}
	free(copy);
}

int
rfs_conn_open(const char *conf, const char *pool, const char *ns, struct rfs_conn **out, char *err,
	      size_t errsz)
{
	struct rfs_conn *c = calloc(1, sizeof(*c));
	char tmo[32], name[128];
	int rv;

	if (c == NULL)
		return -ENOMEM;
	atomic_init(&c->refs, 1);
	c->pool = strdup(pool);
	c->ns = strdup(ns ? ns : "");
	if (c->pool == NULL || c->ns == NULL ||
	    asprintf(&c->where, "%s%s%s", pool, c->ns[0] ? "/" : "", c->ns) < 0) {
		c->where = NULL;
		rv = -ENOMEM;
		goto fail;
	}
	rfs_client_name(name, sizeof(name));
	if ((rv = rados_create2(&c->cluster, "ceph", name, 0)) != 0) {
		snprintf(err, errsz, "rados_create as %s: %s", name, strerror(-rv));
		c->cluster = NULL;
		goto fail;
	}
	rv = rados_conf_read_file(c->cluster, conf);
	if (rv != 0 && conf != NULL) {
		snprintf(err, errsz, "cannot read ceph config %s: %s", conf, strerror(-rv));
		goto fail;
	}
	(void)rados_conf_parse_env(c->cluster, NULL);
	/* Whole seconds: librados refuses "3.000" for these options (EINVAL, silently unset). */
	snprintf(tmo, sizeof(tmo), "%lld", (long long)MAX(1, (radosfs_op_timeout_ms + 999) / 1000));
	if ((rv = rados_conf_set(c->cluster, "rados_osd_op_timeout", tmo)) != 0 ||
	    (rv = rados_conf_set(c->cluster, "rados_mon_op_timeout", tmo)) != 0 ||
	    (rv = rados_conf_set(c->cluster, "client_mount_timeout", tmo)) != 0) {
		snprintf(err, errsz, "cannot set the librados time-outs to %s s: %s", tmo,
			 strerror(-rv));
		goto fail;
	}
	/* librados logs to stderr by default: keep it to our own log lines. */
	(void)rados_conf_set(c->cluster, "log_to_stderr", "false");
	(void)rados_conf_set(c->cluster, "err_to_stderr", "false");
	if ((rv = rados_connect(c->cluster)) != 0) {
		snprintf(err, errsz, "cannot connect to the cluster (%s) as %s: %s%s",
			 conf ? conf : "default ceph.conf", name, strerror(-rv),
			 rv == -EACCES || rv == -EPERM || rv == -ENOENT || rv == -EINVAL
			     ? " (is the keyring there and the key right for this name?)"
			     : "");
		goto fail;
	}
	if ((rv = rados_ioctx_create(c->cluster, pool, &c->io)) != 0) {
		snprintf(err, errsz, "pool %s: %s", pool, strerror(-rv));
		c->io = NULL;
		goto fail;
	}
	rados_ioctx_set_namespace(c->io, c->ns);
	*out = c;
	return 0;
fail:
	if (rv == 0)
		rv = -EIO;
	if (c->cluster != NULL)
		rados_shutdown(c->cluster);
	free(c->pool);
	free(c->ns);
	free(c->where);
	free(c);
	return rv;
}

void
rfs_conn_rele(struct rfs_conn *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	rados_ioctx_destroy(c->io);
	rados_shutdown(c->cluster);
	free(c->pool);
	free(c->ns);
	free(c->where);
	free(c);
}

int
rfs_manifest_load(struct rfs_conn *c, uint64_t version, struct rfs_manifest **out, char *err,
		  size_t errsz)
{
	char oid[RFS_OID_MAX];
	uint64_t size;
	time_t mtime;
	int rv;

	if (version != 0)
		rfs_manifest_name(oid, version);
	else
		snprintf(oid, sizeof(oid), "%s", RFS_MANIFEST_OID);
	/* The manifest may be replaced between stat and read: retry on a size change. */
	for (int tries = 0; tries < 5; tries++) {
		rv = rados_stat(c->io, oid, &size, &mtime);
		rfs_conn_note(c, rv, "manifest stat");
		if (rv != 0) {
			snprintf(err, errsz, "%s in %s: %s", oid, c->where, strerror(-rv));
			return rv;
		}
		if (size > RFS_MANIFEST_MAX_SIZE) {
			snprintf(err, errsz, "%s is %llu bytes: too big", oid,
				 (unsigned long long)size);
			return -EFBIG;
		}
		char *buf = malloc(size + 1);
		if (buf == NULL)
			return -ENOMEM;
		rv = rados_read(c->io, oid, buf, size + 1, 0);
		rfs_conn_note(c, rv, "manifest read");
		if (rv < 0) {
			free(buf);
			snprintf(err, errsz, "read %s: %s", oid, strerror(-rv));
			return rv;
		}
		if ((uint64_t)rv != size) {
			free(buf);
			continue;
		}
		char why[200] = "";
		rv = rfs_manifest_decode(buf, size, out, why, sizeof(why));
		free(buf);
		if (rv == -EBADMSG)
			snprintf(err, errsz, "%s in %s is damaged: %s", oid, c->where, why);
		return rv;
	}
	snprintf(err, errsz, "%s keeps changing size", oid);
	return -EAGAIN;
}

/*
 * `vmsend cat PATH`: stream a file to stdout through the sendfile engine.
 *
 * The file is looked up in a hostfs mount of its directory (or of --root),
 * or, with --mount, at its path in the mounts given (hostfs or objfs); its
 * pages come through the page cache and the pager contract, and the
 * bytes leave through a vmsend socket wrapped around stdout: the engine's
 * first real user, and a quick way to see its counters (--stats).
 */
#include "cli/commands.h"
#include "core/tunable.h"
#include "fs/hostfs/hostfs.h"
#include "fs/objfs/objfs_vfs.h"
#ifdef VMSEND_HAVE_RADOS
#include "fs/radosfs/radosfs.h"
#endif
#include "io/io.h"
#include "sendfile/sendfile.h"
#include "vfs/vfs.h"
#include "vm/vm.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
cat_usage(FILE *f)
{
	fprintf(
	    f, "usage: vmsend cat PATH [--root DIR | --mount /PREFIX=FS:SOURCE ...] [--offset N]\n"
	       "                       [--length N] [--split|--coalesce] [--nodiskio] [--nocache]\n"
	       "                       [--cache-size N] [--stats]\n"
	       "  Streams PATH (relative to --root, or in its own directory) to stdout\n"
	       "  through the sendfile engine.  With --mount (repeatable; FS is hostfs or\n"
	       "  objfs, e.g. --mount /=objfs:site.img), PATH is a path in those mounts.\n"
	       "  --length 0 (the default) means to EOF.\n"
	       "  --stats prints the sendfile counters to stderr.\n"
	       "  --ceph-conf FILE: ceph.conf for rados mounts (--mount /=rados:POOL[/NS]).\n");
}

static int
cat_size_arg(const char *flag, const char *v, int64_t *out)
{
	if (v == NULL || vms_parse_size(v, out) != 0 || *out < 0) {
		fprintf(stderr, "vmsend cat: %s needs a size (e.g. 4096, 64K, 1M)\n", flag);
		return -1;
	}
	return 0;
}

int
cmd_cat(int argc, char **argv)
{
	const char *path = NULL, *root = NULL;
	const char *mounts[16];
	int nmounts = 0;
	int64_t offset = 0, length = 0, cache = 0;
	int flags = 0;
	bool stats = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cat_usage(stdout);
			return 0;
		} else if (strcmp(a, "--mount") == 0 && v != NULL) {
			if (nmounts == 16) {
				fprintf(stderr, "vmsend cat: at most 16 --mount\n");
				return 2;
			}
			mounts[nmounts++] = v;
			i++;
		} else if (strcmp(a, "--ceph-conf") == 0 && v != NULL) {
#ifdef VMSEND_HAVE_RADOS
			radosfs_set_conf(v);
#endif
			i++;
		} else if (strcmp(a, "--root") == 0 && v != NULL) {
			root = v;
			i++;
		} else if (strcmp(a, "--offset") == 0) {
			if (cat_size_arg(a, v, &offset) != 0)
				return 2;
			i++;
		} else if (strcmp(a, "--length") == 0) {
			if (cat_size_arg(a, v, &length) != 0)
				return 2;
			i++;
		} else if (strcmp(a, "--cache-size") == 0) {
			if (cat_size_arg(a, v, &cache) != 0)
				return 2;
			i++;
		} else if (strcmp(a, "--split") == 0) {
			sf_swapin_policy = SF_POLICY_SPLIT;
		} else if (strcmp(a, "--coalesce") == 0) {
			sf_swapin_policy = SF_POLICY_COALESCE;
		} else if (strcmp(a, "--nodiskio") == 0) {
			flags |= SF_NODISKIO;
		} else if (strcmp(a, "--nocache") == 0) {
			flags |= SF_NOCACHE;
		} else if (strcmp(a, "--stats") == 0) {
			stats = true;
		} else if (a[0] == '-' || path != NULL) {
			fprintf(stderr, "vmsend cat: unexpected argument '%s'\n", a);
			cat_usage(stderr);
			return 2;
		} else {
			path = a;
		}
	}
	if (path == NULL) {
		cat_usage(stderr);
		return 2;
	}

	/* Without --root the file's own directory is the mount. */
	char *pcopy = strdup(path), *bcopy = strdup(path);
	char rel[4096];
	if (nmounts > 0) {
		if (root != NULL) {
			fprintf(stderr, "vmsend cat: --root and --mount do not go together\n");
			free(pcopy);
			free(bcopy);
			return 2;
		}
		snprintf(rel, sizeof(rel), "%s%s", path[0] == '/' ? "" : "/", path);
	} else if (root == NULL) {
		root = dirname(pcopy);
		snprintf(rel, sizeof(rel), "/%s", basename(bcopy));
	} else {
		snprintf(rel, sizeof(rel), "/%s", path[0] == '/' ? path + 1 : path);
	}

	int rc = 1, error;
	struct io_loop *loop = NULL;
	struct vnode *vp = NULL;
	struct vms_socket *so = NULL;
	signal(SIGPIPE, SIG_IGN); /* a closed pipe is an error return, not a signal */
	if ((error = vm_init((uint64_t)cache)) != 0) {
		fprintf(stderr, "vmsend cat: cannot create the page cache: %s\n", strerror(-error));
		goto out;
	}
	if ((error = io_loop_create(&loop, 256, 0)) != 0) {
		fprintf(stderr, "vmsend cat: cannot create an io_uring loop: %s\n",
			strerror(-error));
		goto out;
	}
	hostfs_register();
	objfs_register();
#ifdef VMSEND_HAVE_RADOS
	radosfs_register();
#endif
	for (int i = 0; i < nmounts; i++) {
		if ((error = vfs_mount_spec(mounts[i], NULL)) != 0) {
			fprintf(stderr, "vmsend cat: cannot mount %s: %s\n", mounts[i],
				strerror(-error));
			goto out;
		}
	}
	if (nmounts == 0 && (error = vfs_mount("/", "hostfs", root, NULL)) != 0) {
		fprintf(stderr, "vmsend cat: cannot mount %s: %s\n", root, strerror(-error));
		goto out;
	}
	if ((error = vfs_lookup(rel, &vp)) != 0) {
		fprintf(stderr, "vmsend cat: %s: %s\n", path, strerror(-error));
		goto out;
	}
	if (vp->va.type != VREG) {
		fprintf(stderr, "vmsend cat: %s: not a regular file\n", path);
		goto out;
	}
	struct vms_socket_params p = {.blocking = true};
	if ((error = vms_socket_create(loop, STDOUT_FILENO, &p, &so)) != 0) {
		fprintf(stderr, "vmsend cat: cannot use stdout: %s\n", strerror(-error));
		goto out;
	}
	off_t sbytes = 0;
	error = vms_sendfile_blocking(so, vp->object, (off_t)offset, (size_t)length, NULL, &sbytes,
				      flags);
	if (error == -EBUSY) {
		fprintf(stderr, "vmsend cat: %s: not all cached (--nodiskio): %lld bytes sent\n",
			path, (long long)sbytes);
		rc = 3;
	} else if (error != 0) {
		fprintf(stderr, "vmsend cat: %s: %s after %lld bytes\n", path, strerror(-error),
			(long long)sbytes);
	} else {
		rc = 0;
	}
out:
	if (so != NULL) {
		vms_socket_close(so, error == 0 ? VMS_CLOSE_LINGER : VMS_CLOSE_ABORT);
		while (vms_socket_count() > 0)
			io_loop_run_once(loop, true, 100 * 1000 * 1000);
	}
	if (stats)
		sf_stats_print(stderr);
	if (vp != NULL)
		vnode_rele(vp);
	vfs_unmount_all();
	if (loop != NULL)
		io_loop_destroy(loop);
	free(pcopy);
	free(bcopy);
	return rc;
}

/*
 * `vmsend objfs ls|stat|cat|blocks|info IMAGE [PATH]`: a small zdb-like
 * inspector for objfs images.  Reads go through the verifying reader, so
 * `cat` of a damaged file stops with an error at the first bad record and
 * never prints wrong bytes.
 */
#include "cli/commands.h"
#include "fs/objfs/image.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void
objfs_usage(FILE *f)
{
	fprintf(f, "usage: vmsend objfs ls IMAGE [PATH]     list a directory\n"
		   "       vmsend objfs stat IMAGE PATH     object, sizes, records, storage\n"
		   "       vmsend objfs cat IMAGE PATH      file bytes to stdout\n"
		   "       vmsend objfs blocks IMAGE PATH   every block pointer of an object\n"
		   "       vmsend objfs info IMAGE          header and uberblock in use\n");
}

static void
mode_string(const struct objfs_dnode *dn, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";
	out[0] = dn->type == OBJFS_OT_DIR ? 'd' : '-';
	for (int i = 0; i < 9; i++)
		out[1 + i] = (dn->mode & (0400u >> i)) ? rwx[i] : '-';
	out[10] = '\0';
}

static void
time_string(int64_t sec, char *buf, size_t len)
{
	time_t t = (time_t)sec;
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%" PRId64, sec);
}

static int
ls_one(void *arg, const char *name, const struct objfs_dnode *dn)
{
	char m[11], t[32];
	mode_string(dn, m);
	time_string(dn->mtime_sec, t, sizeof(t));
	printf("%s %12" PRIu64 " %s %s%s\n", m, dn->size, t, name,
	       dn->type == OBJFS_OT_DIR ? "/" : "");
	return 0;
}

static int
do_cat(struct objfs_image *img, const struct objfs_dnode *dn, const char *path)
{
	uint64_t rs = 1ull << dn->rs_shift;
	char *buf = malloc(rs);
	if (buf == NULL)
		return -ENOMEM;
	int rc = 0;
	for (uint64_t off = 0; off < dn->size; off += rs) {
		ssize_t n = objfs_image_pread(img, dn, buf, rs, off);
		if (n < 0) {
			fflush(stdout);
			fprintf(stderr, "vmsend objfs cat: %s: %s at file offset %" PRIu64 "\n",
				path, strerror((int)-n), off);
			rc = (int)n;
			break;
		}
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
			rc = -EIO;
			fprintf(stderr, "vmsend objfs cat: write to stdout failed\n");
			break;
		}
	}
	free(buf);
	if (fflush(stdout) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

static const char *
comp_name(uint8_t c)
{
	return c == OBJFS_COMP_LZ4 ? "lz4" : c == OBJFS_COMP_OFF ? "off" : "?";
}

static int
do_stat(struct objfs_image *img, const struct objfs_dnode *dn, const char *path, bool blocks)
{
	uint64_t nrec = objfs_dnode_nrecords(dn), holes = 0, stored = 0, comp = 0;
	int rc = 0;
	for (uint64_t b = 0; b < nrec; b++) {
		struct objfs_bp bp;
		rc = objfs_image_bp(img, dn, b, &bp);
		if (rc != 0) {
			fprintf(stderr, "vmsend objfs: %s: record %" PRIu64 ": %s\n", path, b,
				strerror(-rc));
			return rc;
		}
		if (blocks) {
			if (objfs_bp_is_hole(&bp))
				printf("  record %8" PRIu64 "  hole  lsize %u\n", b, bp.lsize);
			else {
				printf("  record %8" PRIu64 "  offset %10" PRIu64
				       "  lsize %7u  psize %7u  %s  cksum ",
				       b, bp.offset, bp.lsize, bp.psize, comp_name(bp.comp));
				for (int i = 0; i < OBJFS_CKSUM_LEN; i++)
					printf("%02x", bp.cksum[i]);
				printf("\n");
			}
		}
		holes += objfs_bp_is_hole(&bp);
		stored += bp.psize;
		comp += bp.comp == OBJFS_COMP_LZ4;
	}
	if (blocks)
		return 0;
	char m[11], t[32];
	mode_string(dn, m);
	time_string(dn->mtime_sec, t, sizeof(t));
	printf("  path: %s\n object: %" PRIu64 "\n   type: %s\n   mode: %s (%04o)\n   size: "
	       "%" PRIu64 "\n  mtime: %s (+%u ns)\nrecordsize: %u\n levels: %u\nrecords: %" PRIu64
	       " (%" PRIu64 " holes, %" PRIu64 " lz4)\n stored: %" PRIu64 " bytes\n",
	       path, dn->objnum, dn->type == OBJFS_OT_DIR ? "directory" : "file", m, dn->mode,
	       dn->size, t, dn->mtime_nsec, 1u << dn->rs_shift, dn->nlevels, nrec, holes, comp,
	       stored);
	if (dn->type == OBJFS_OT_DIR)
		printf("entries: %u\n", dn->nentries);
	return 0;
}

static void
do_info(struct objfs_image *img)
{
	const struct objfs_image_info *i = objfs_image_info(img);
	char t[32];
	time_string((int64_t)i->create_time, t, sizeof(t));
	printf("image: %s\n  format: version %u\n  guid: %016" PRIx64 "\n  size: %" PRIu64
	       " bytes\n  created: %s\n"
	       "  uberblock: generation %" PRIu64 " in slot %u (%u of %u slots valid)%s\n"
	       "  objects: %" PRIu64 "\n",
	       objfs_image_path(img), i->version, i->guid, i->image_size, t, i->generation,
	       i->uber_slot, i->uber_valid, OBJFS_UBER_SLOTS, i->fell_back ? ", fell back" : "",
	       i->nobjects - 1);
	if (i->dio_align != 0)
		printf("  server reads: O_DIRECT, %u-byte alignment\n", i->dio_align);
	else
		printf("  server reads: buffered (no O_DIRECT here, or objfs_direct=0)\n");
}

int
cmd_objfs(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		objfs_usage(stdout);
		return 0;
	}
	if (argc < 3 || argc > 4) {
		objfs_usage(stderr);
		return 2;
	}
	const char *sub = argv[1], *image = argv[2], *path = argc == 4 ? argv[3] : "/";
	bool need_path = strcmp(sub, "ls") != 0 && strcmp(sub, "info") != 0;
	if ((need_path && argc != 4) ||
	    (strcmp(sub, "ls") && strcmp(sub, "stat") && strcmp(sub, "cat") &&
	     strcmp(sub, "blocks") && strcmp(sub, "info"))) {
		objfs_usage(stderr);
		return 2;
	}
	struct objfs_image *img;
	char err[512];
	int rc = objfs_image_open(image, OBJFS_OPEN_QUIET, &img, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "vmsend objfs: %s\n", err);
		return 1;
	}
	if (strcmp(sub, "info") == 0) {
		do_info(img);
		objfs_image_close(img);
		return 0;
	}
	struct objfs_dnode dn;
	rc = objfs_image_lookup(img, path, &dn);
	if (rc != 0) {
		fprintf(stderr, "vmsend objfs %s: %s: %s\n", sub, path, strerror(-rc));
		objfs_image_close(img);
		return 1;
	}
	if (strcmp(sub, "ls") == 0) {
		if (dn.type == OBJFS_OT_DIR)
			rc = objfs_image_readdir(img, &dn, ls_one, NULL);
		else
			rc = ls_one(NULL, path, &dn);
		if (rc != 0)
			fprintf(stderr, "vmsend objfs ls: %s: %s\n", path, strerror(-rc));
	} else if (strcmp(sub, "cat") == 0) {
		if (dn.type == OBJFS_OT_DIR) {
			fprintf(stderr, "vmsend objfs cat: %s: %s\n", path, strerror(EISDIR));
			rc = -EISDIR;
		} else {
			rc = do_cat(img, &dn, path);
		}
	} else {
		rc = do_stat(img, &dn, path, strcmp(sub, "blocks") == 0);
	}
	objfs_image_close(img);
	return rc == 0 ? 0 : 1;
}

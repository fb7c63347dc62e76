/*
 * `vmsend mkimage [--recordsize SIZE] [--level N] [--threads N] [--no-compress]
 * [--precompress] [--guid HEX] [--time SECONDS] DIR IMAGE`: pack a directory
 * into an objfs image; a progress bar when stderr is a terminal, a summary
 * at the end.  With --guid and --time (or SOURCE_DATE_EPOCH) the image
 * depends only on the tree: the same tree gives the same bytes.
 */
#include "cli/commands.h"
#include "core/tunable.h"
#include "fs/objfs/format.h"
#include "fs/objfs/mkimage.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
mkimage_usage(FILE *f)
{
	fprintf(f,
		"usage: vmsend mkimage [--recordsize SIZE] [--level N] [--threads N] "
		"[--no-compress] [--precompress]\n"
		"                      [--guid HEX] [--time SECONDS] DIR IMAGE\n"
		"  --recordsize SIZE  file record size, a power of two from 4K to 1M "
		"(default 128K)\n"
		"  --level N          LZ4 effort: 0 is LZ4's fast mode, 1 to %d LZ4HC (default\n"
		"                     %d); higher packs smaller and decompresses faster, but\n"
		"                     builds slower\n"
		"  --threads N        threads that compress, 1 to %d (default: one per CPU);\n"
		"                     the image is the same whatever the number\n"
		"  --no-compress      store every block uncompressed\n"
		"  --precompress      also store FILE.gz, FILE.zst and FILE.br for text-like\n"
		"                     files (html, css, js, json, svg, txt, ...; 256 B to 64 MiB)\n"
		"                     that have none in DIR, for 'vmsend serve --precompressed'\n"
		"  --guid HEX         the image's id, 1 to 16 hex digits, not 0 (default: random)\n"
		"  --time SECONDS     creation time, seconds since 1970 (default:\n"
		"                     $SOURCE_DATE_EPOCH if set, else now); with --guid the\n"
		"                     same tree always packs to the same bytes\n",
		OBJFS_MK_LEVEL_MAX, OBJFS_MK_LEVEL_DEFAULT, OBJFS_MK_THREADS_MAX);
}

/* A whole decimal number in [lo, hi], or a message naming the flag. */
static int
mkimage_number(const char *flag, const char *arg, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "vmsend mkimage: %s %s: must be a number from %d to %d\n", flag,
			arg, lo, hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* A whole number in `base`, from 1 to max, or a message naming where it came from. */
static int
mkimage_u64(const char *what, const char *arg, int base, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, base);
	if (end == arg || *end != '\0' || arg[0] == '-' || errno != 0 || v == 0 || v > max) {
		fprintf(stderr, "vmsend mkimage: %s %s: must be a %s number from 1 to %llu\n", what,
			arg, base == 16 ? "hexadecimal" : "decimal", (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

int
cmd_mkimage(int argc, char **argv)
{
	static const struct option lopts[] = {{"recordsize", required_argument, NULL, 'r'},
					      {"level", required_argument, NULL, 'l'},
					      {"threads", required_argument, NULL, 't'},
					      {"no-compress", no_argument, NULL, 'n'},
					      {"precompress", no_argument, NULL, 'p'},
					      {"guid", required_argument, NULL, 'g'},
					      {"time", required_argument, NULL, 'T'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	struct objfs_mkimage_opts o;
	objfs_mkimage_defaults(&o);
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	if (epoch != NULL && *epoch != '\0' &&
	    mkimage_u64("SOURCE_DATE_EPOCH", epoch, 10, INT64_MAX, &o.time) != 0)
		return 2;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "r:l:t:nph", lopts, NULL)) != -1) {
		int64_t rs;
		switch (c) {
		case 'r':
			if (vms_parse_size(optarg, &rs) != 0 || rs <= 0 || (rs & (rs - 1)) != 0 ||
			    rs < (1 << OBJFS_MIN_RS_SHIFT) || rs > (1 << OBJFS_MAX_RS_SHIFT)) {
				fprintf(stderr,
					"vmsend mkimage: --recordsize %s: must be a power "
					"of two from 4K to 1M\n",
					optarg);
				return 2;
			}
			o.rs_shift = (unsigned)__builtin_ctzll((unsigned long long)rs);
			break;
		case 'l':
			if (mkimage_number("--level", optarg, 0, OBJFS_MK_LEVEL_MAX, &o.level) != 0)
				return 2;
			break;
		case 't': {
			int t;
			if (mkimage_number("--threads", optarg, 1, OBJFS_MK_THREADS_MAX, &t) != 0)
				return 2;
			o.threads = (unsigned)t;
			break;
		}
		case 'n':
			o.compress = false;
			break;
		case 'p':
			o.precompress = true;
			break;
		case 'g':
			if (mkimage_u64("--guid", optarg, 16, UINT64_MAX, &o.guid) != 0)
				return 2;
			break;
		case 'T':
			if (mkimage_u64("--time", optarg, 10, INT64_MAX, &o.time) != 0)
				return 2;
			break;
		case 'h':
			mkimage_usage(stdout);
			return 0;
		default:
			mkimage_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		mkimage_usage(stderr);
		return 2;
	}
	const char *dir = argv[optind], *image = argv[optind + 1];
	if (isatty(STDERR_FILENO))
		o.progress = stderr;

	struct objfs_mkimage_summary s;
	char err[512];
	int rc = objfs_mkimage(dir, image, &o, &s, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "vmsend mkimage: %s\n", err);
		return 1;
	}
	uint64_t data = s.bytes - s.hole_bytes;
	printf("mkimage: %s: %llu files, %llu directories, %llu bytes", image,
	       (unsigned long long)s.files, (unsigned long long)s.dirs,
	       (unsigned long long)s.bytes);
	if (s.skipped)
		printf(" (%llu entries skipped)", (unsigned long long)s.skipped);
	if (s.variants)
		printf(" (%llu precompressed variants)", (unsigned long long)s.variants);
	printf("\n  stored %llu bytes of file data, compression ratio %.2fx (%llu of %llu "
	       "records compressed)\n",
	       (unsigned long long)s.stored_bytes,
	       s.stored_bytes ? (double)data / (double)s.stored_bytes : 1.0,
	       (unsigned long long)s.compressed, (unsigned long long)s.records);
	printf("  holes: %llu records, %llu bytes not stored\n", (unsigned long long)s.holes,
	       (unsigned long long)s.hole_bytes);
	printf("  metadata %llu bytes, alignment padding %llu bytes, image %llu bytes, record size "
	       "%u\n",
	       (unsigned long long)s.meta_bytes, (unsigned long long)s.pad_bytes,
	       (unsigned long long)s.image_bytes, 1u << o.rs_shift);
	return 0;
}

/*
 * `vmsend mkimage --precompress`: FILE.gz, FILE.zst and FILE.br made next to
 * each text-like file in the image, for servers that hand out precompressed
 * variants (vmsend serve --precompressed, nginx gzip_static/brotli_static).
 * Each variant is compressed once, at the highest ratio that stays
 * reasonable, since it is then served many times; the output is
 * reproducible (no timestamps in the gzip header).
 */
#include "fs/objfs/mkimage.h"

#include <brotli/encode.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

const char *const objfs_precomp_ext[OBJFS_PRECOMP_N] = {
    [OBJFS_PRECOMP_GZIP] = ".gz", [OBJFS_PRECOMP_ZSTD] = ".zst", [OBJFS_PRECOMP_BROTLI] = ".br"};

bool
objfs_precompress_wanted(const char *name, uint64_t size)
{
	/* Already-compressed media gains nothing; tiny files gain less than a header. */
	static const char *const text[] = {".html", ".htm", ".css", ".js",  ".mjs",        ".json",
					   ".svg",  ".txt", ".xml", ".csv", ".md",         ".map",
					   ".wasm", ".ico", ".ttf", ".otf", ".webmanifest"};
	if (size < 256 || size > OBJFS_PRECOMP_MAX)
		return false;
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot != NULL && i < sizeof(text) / sizeof(text[0]); i++)
		if (strcasecmp(dot, text[i]) == 0)
			return true;
	return false;
}

static int
objfs_gzip(const void *in, size_t len, void **out, size_t *outlen)
{
	z_stream zs = {0};
	if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	uLong cap = deflateBound(&zs, (uLong)len);
	void *buf = malloc(cap);
	int rc = buf ? 0 : -ENOMEM;
	if (rc == 0) {
		zs.next_in = (Bytef *)(uintptr_t)in;
		zs.avail_in = (uInt)len;
		zs.next_out = buf;
		zs.avail_out = (uInt)cap;
		rc = deflate(&zs, Z_FINISH) == Z_STREAM_END ? 0 : -EIO;
	}
	*outlen = zs.total_out;
	deflateEnd(&zs);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

static int
objfs_zstd(const void *in, size_t len, void **out, size_t *outlen)
{
	size_t cap = ZSTD_compressBound(len);
	void *buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	size_t n = ZSTD_compress(buf, cap, in, len, 19);
	if (ZSTD_isError(n)) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

static int
objfs_brotli(const void *in, size_t len, void **out, size_t *outlen)
{
	size_t cap = BrotliEncoderMaxCompressedSize(len);
	void *buf = cap ? malloc(cap) : NULL;
	if (buf == NULL)
		return -ENOMEM;
	/* Quality 11 costs about a second per MiB: kept for files where it is cheap. */
	int quality = len <= (1u << 20) ? BROTLI_MAX_QUALITY : 9;
	size_t n = cap;
	if (!BrotliEncoderCompress(quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, len, in, &n,
				   buf)) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

int
objfs_precompress(enum objfs_precomp kind, const void *in, size_t len, void **out, size_t *outlen)
{
	switch (kind) {
	case OBJFS_PRECOMP_GZIP:
		return objfs_gzip(in, len, out, outlen);
	case OBJFS_PRECOMP_ZSTD:
		return objfs_zstd(in, len, out, outlen);
	case OBJFS_PRECOMP_BROTLI:
		return objfs_brotli(in, len, out, outlen);
	default:
		return -EINVAL;
	}
}

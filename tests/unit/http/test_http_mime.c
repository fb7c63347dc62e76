/* The Content-Type table. */
#include "http/http_proto.h"

#include <criterion/criterion.h>

bool http_mime_table_sorted(void);

Test(http_mime, table_sorted)
{
	cr_assert(http_mime_table_sorted());
}

Test(http_mime, lookups)
{
	cr_assert_str_eq(http_mime_type("/index.html"), "text/html; charset=utf-8");
	cr_assert_str_eq(http_mime_type("/a/B.PNG"), "image/png");
	cr_assert_str_eq(http_mime_type("/v.mp4"), "video/mp4");
	cr_assert_str_eq(http_mime_type("/x.tar.gz"), "application/gzip");
	cr_assert_str_eq(http_mime_type("/7z.7z"), "application/x-7z-compressed");
	cr_assert_str_eq(http_mime_type("/zz.zst"), "application/zstd");
	/* Browsers refuse a <track> whose file is not text/vtt; DASH segments, source maps. */
	cr_assert_str_eq(http_mime_type("/subs/en.vtt"), "text/vtt; charset=utf-8");
	cr_assert_str_eq(http_mime_type("/dash/seg-1.m4s"), "video/iso.segment");
	cr_assert_str_eq(http_mime_type("/app.js.map"), "application/json");
	cr_assert_str_eq(http_mime_type("/c.yml"), "application/yaml");
	cr_assert_str_eq(http_mime_type("/noext"), "application/octet-stream");
	cr_assert_str_eq(http_mime_type("/dir.d/noext"), "application/octet-stream");
	cr_assert_str_eq(http_mime_type("/.hidden"), "application/octet-stream");
	cr_assert_str_eq(http_mime_type("/x."), "application/octet-stream");
	cr_assert_str_eq(http_mime_type("/x.unknownext"), "application/octet-stream");
}

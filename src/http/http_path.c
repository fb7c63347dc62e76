/*
 * Percent-decoding and path normalisation: the only way a request path
 * reaches the VFS.
 *
 * The rule is "decode once, then judge the bytes".  Decoding happens exactly
 * once, so "%252e%252e" becomes the literal name "%2e%2e" and never "..".
 * Bytes that would change the path's structure after decoding are refused
 * outright rather than interpreted: an encoded '/' (%2f) or '\' and any NUL or
 * control byte give 400.  Dot segments are then resolved as RFC 3986 5.2.4
 * does, and a ".." that would climb above the root is refused (400), so the
 * result is always a path inside the mount.  vfs_lookup checks again, and
 * hostfs opens with RESOLVE_BENEATH: three fences, each sufficient alone.
 */
#include "http/http_proto.h"

#include <string.h>

static int
http_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
http_path_normalize(const char *raw, size_t len, char *out, size_t outsz)
{
	if (len == 0 || raw[0] != '/' || outsz < 2)
		return -400;
	size_t o = 0;
	size_t i = 0;
	out[o++] = '/';
	while (i < len) {
		/* Decode one segment straight into out[]; judge it once it is whole. */
		while (i < len && raw[i] == '/')
			i++;
		if (i == len)
			break;
		size_t seg = o;
		while (i < len && raw[i] != '/') {
			unsigned char c = (unsigned char)raw[i];
			if (c == '%') {
				int h, l;
				if (i + 2 >= len)
					return -400;
				h = http_hexval(raw[i + 1]);
				l = http_hexval(raw[i + 2]);
				if (h < 0 || l < 0)
					return -400;
				c = (unsigned char)(h * 16 + l);
				if (c == '/')
					return -400;
				i += 3;
			} else {
				i++;
			}
			if (http_path_byte_refused(c))
				return -400;
			if (o + 1 >= outsz)
				return -414;
			out[o++] = (char)c;
		}
		size_t seglen = o - seg;
		if (seglen == 1 && out[seg] == '.') {
			o = seg;
		} else if (seglen == 2 && out[seg] == '.' && out[seg + 1] == '.') {
			if (seg == 1)
				return -400; /* above the root */
			/* drop this ".." and the previous segment */
			o = seg - 1;
			while (o > 0 && out[o - 1] != '/')
				o--;
		} else {
			if (o + 1 >= outsz)
				return -414;
			out[o++] = '/';
		}
	}
	/* Every kept segment ended with '/'; drop it unless the request had one. */
	if (o > 1 && out[o - 1] == '/' && raw[len - 1] != '/') {
		/* "a/." and "a/.." denote a directory too: keep the slash for them */
		bool dotend = false;
		size_t k = len;
		if (k >= 2 && raw[k - 1] == '.' && raw[k - 2] == '/')
			dotend = true;
		if (k >= 3 && raw[k - 1] == '.' && raw[k - 2] == '.' && raw[k - 3] == '/')
			dotend = true;
		if (!dotend)
			o--;
	}
	out[o] = '\0';
	return (int)o;
}

bool
http_path_has_dotfile(const char *path)
{
	for (const char *p = path; *p; p++)
		if (*p == '/' && p[1] == '.')
			return true;
	return path[0] == '.';
}

bool
http_name_reachable(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		if (http_path_byte_refused(*p))
			return false;
	return true;
}

/* Path normalisation: every encoding of "get out of the root" is refused or stays inside. */
#include "http/http_proto.h"

#include <criterion/criterion.h>
#include <string.h>

static char out[256];

static int
norm(const char *s)
{
	return http_path_normalize(s, strlen(s), out, sizeof(out));
}

#define ASSERT_NORM(in, want)                                                                      \
	do {                                                                                       \
		cr_assert_eq(norm(in), (int)strlen(want), "%s", in);                               \
		cr_assert_str_eq(out, want, "%s", in);                                             \
	} while (0)

Test(http_path, plain)
{
	ASSERT_NORM("/", "/");
	ASSERT_NORM("/a/b.txt", "/a/b.txt");
	ASSERT_NORM("/a/", "/a/");
	ASSERT_NORM("//a///b", "/a/b");
	ASSERT_NORM("/a/./b/.", "/a/b/");
	ASSERT_NORM("/a/b/../c", "/a/c");
	ASSERT_NORM("/a/b/..", "/a/");
	ASSERT_NORM("/a/..", "/");
	ASSERT_NORM("/hello%20world", "/hello world");
	ASSERT_NORM("/%7euser/%C3%A9", "/~user/\xc3\xa9");
	ASSERT_NORM("/a%2e/b", "/a./b");
	/* decoded once: double encoding stays a literal name */
	ASSERT_NORM("/%252e%252e/x", "/%2e%2e/x");
	ASSERT_NORM("/a/%2e%2e/b", "/b");
	ASSERT_NORM("/...", "/...");
}

Test(http_path, refused)
{
	const char *bad[] = {"/..",
			     "/../etc/passwd",
			     "/a/../../x",
			     "/%2e%2e/x",
			     "/%2E%2E%2Fetc",
			     "/a%2fb",
			     "/a%2F..%2F..",
			     "/a\\b",
			     "/a%5cb",
			     "/..%5c..",
			     "/a%00b",
			     "/a%0ab",
			     "/a%",
			     "/a%2",
			     "/a%zz",
			     "a/b",
			     "",
			     "/%2e%2e",
			     "/./../x",
			     "/a/./../../x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(norm(bad[i]), -400, "'%s' -> %d", bad[i], norm(bad[i]));
}

Test(http_path, too_long)
{
	char in[600];
	in[0] = '/';
	memset(in + 1, 'x', 500);
	in[501] = '\0';
	cr_assert_eq(norm(in), -414);
}

Test(http_path, dotfiles)
{
	cr_assert(http_path_has_dotfile("/.git/config"));
	cr_assert(http_path_has_dotfile("/a/.env"));
	cr_assert_not(http_path_has_dotfile("/a/b.c/d"));
	cr_assert_not(http_path_has_dotfile("/"));
}

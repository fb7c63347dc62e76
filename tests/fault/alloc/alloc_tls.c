/*
 * OpenSSL through the counted allocator, and the TLS set-up (alloc_tls.h).
 */
#include "alloc_tls.h"

#include <criterion/criterion.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>

void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);

bool fat_tls_client_mode;
struct test_tls fat_tls;

static void *
tls_hook_malloc(size_t n, const char *file, int line)
{
	return fat_tls_client_mode ? __real_malloc(n) : malloc(n);
}

static void *
tls_hook_realloc(void *p, size_t n, const char *file, int line)
{
	return fat_tls_client_mode ? __real_realloc(p, n) : realloc(p, n);
}

static void
tls_hook_free(void *p, const char *file, int line)
{
	free(p);
}

static bool tls_hooks_ok;

__attribute__((constructor)) static void
tls_hooks_install(void)
{
	tls_hooks_ok = CRYPTO_set_mem_functions(tls_hook_malloc, tls_hook_realloc, tls_hook_free);
}

void
fat_tls_setup(void)
{
	cr_assert(tls_hooks_ok, "OpenSSL allocated before the hooks were installed");
	test_tls_setup(&fat_tls);
}

void
fat_tls_teardown(void)
{
	test_tls_teardown(&fat_tls);
}

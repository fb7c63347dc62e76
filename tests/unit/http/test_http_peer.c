#include "http/http_proto.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

static bool
local4(const char *ip)
{
	struct sockaddr_in s = {.sin_family = AF_INET};
	cr_assert_eq(inet_pton(AF_INET, ip, &s.sin_addr), 1);
	return http_peer_local((const struct sockaddr *)&s);
}

static bool
local6(const char *ip)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6};
	cr_assert_eq(inet_pton(AF_INET6, ip, &s.sin6_addr), 1);
	return http_peer_local((const struct sockaddr *)&s);
}

Test(http_peer, only_this_machines_clients_are_local)
{
	cr_assert(local4("127.0.0.1"));
	cr_assert(local4("127.255.0.9"));
	cr_assert_not(local4("10.0.0.1"));
	cr_assert_not(local4("128.0.0.1"));
	cr_assert_not(local4("0.0.0.0"));
	cr_assert(local6("::1"));
	cr_assert(local6("::ffff:127.0.0.1"));
	cr_assert_not(local6("::ffff:10.1.2.3"));
	cr_assert_not(local6("fe80::1"));
	cr_assert_not(local6("2001:db8::1"));
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	cr_assert(http_peer_local((const struct sockaddr *)&un));
}

/*
 * Which peers count as this machine's own (http_proto.h): what the
 * metrics page is served to when it is on every listener.
 */
#include "http/http_proto.h"

#include <netinet/in.h>
#include <sys/socket.h>

bool
http_peer_local(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_UNIX)
		return true;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	/* ::1, or an IPv4 loopback address mapped (::ffff:127.x.y.z). */
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/*
 * Loopback clients for tests that talk to an in-process server.
 */
#ifndef VMSEND_TEST_NET_H
#define VMSEND_TEST_NET_H

/* A blocking TCP connection to 127.0.0.1:port (TCP_NODELAY); the fd, or -errno. */
int test_tcp_connect(int port);

#endif

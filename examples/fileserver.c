/*
 * A minimal file server on libvmsend: it accepts on its own socket, reads a
 * "GET /path" request, writes the response head itself, and hands the body
 * to vms_sendfile.  One thread, one event loop; HTTP/1.0, one request per
 * connection.
 *
 * usage: fileserver ROOT PORT [COUNT]   (PORT 0: any; prints the port; COUNT: exit after so many)
 */
#include <vmsend/vmsend.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long served;

static void
sent(void *arg, int error, uint64_t bytes)
{
	struct vms_conn *c = arg;
	if (error != 0)
		fprintf(stderr, "fileserver: send failed after %llu bytes: %s\n",
			(unsigned long long)bytes, strerror(-error));
	vms_conn_close(c, error != 0); /* the connection closes the socket when it is done */
	served++;
}

static void
serve(struct vmsend *vs, struct vms_loop *loop, int fd)
{
	char req[2048], path[1024], head[256];
	ssize_t n = recv(fd, req, sizeof(req) - 1, 0); /* one read holds a small request */
	struct vms_file *f = NULL;
	if (n <= 0 || (req[n] = '\0', sscanf(req, "GET %1023s ", path) != 1) ||
	    vms_lookup(vs, path, &f) != 0) {
		static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
		(void)!write(fd, nf, sizeof(nf) - 1);
		close(fd);
		served++;
		return;
	}
	int hl = snprintf(head, sizeof(head), "HTTP/1.0 200 OK\r\nContent-Length: %llu\r\n\r\n",
			  (unsigned long long)vms_file_size(f));
	struct vms_conn *c;
	if (write(fd, head, hl) != hl || vms_conn_create(loop, fd, &c) != 0) {
		close(fd);
	} else if (vms_sendfile(c, f, 0, vms_file_size(f), sent, c) != 0) {
		vms_conn_close(c, 1);
	}
	vms_file_release(f); /* the send holds its own reference */
}

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: fileserver ROOT PORT [COUNT]\n");
		return 2;
	}
	long count = argc > 3 ? atol(argv[3]) : -1;
	struct vmsend *vs;
	struct vms_loop *loop;
	int error = vmsend_create(64 << 20, &vs);
	if (error == 0)
		error = vmsend_mount(vs, "/", "hostfs", argv[1]);
	if (error == 0)
		error = vms_loop_create(vs, &loop);
	if (error != 0) {
		fprintf(stderr, "fileserver: %s: %s\n", argv[1], strerror(-error));
		return 1;
	}
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	socklen_t sl = sizeof(sin);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(lfd, 64) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0) {
		perror("fileserver: listen");
		return 1;
	}
	printf("%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	while (count < 0 || served < count) {
		int fd;
		while ((fd = accept(lfd, NULL, NULL)) >= 0)
			serve(vs, loop, fd);
		vms_loop_run(loop, 5); /* sends progress here; accept is polled between turns */
	}
	close(lfd);
	vms_loop_destroy(loop);
	vmsend_destroy(vs);
	return 0;
}

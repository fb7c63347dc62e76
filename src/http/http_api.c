/* The public HTTP API (include/vmsend/http.h): a thin wrapper over http_server_start(). */
#include "vmsend/http.h"

#include "http/http_server.h"

#include <errno.h>
#include <stddef.h>

int
vms_http_start(struct vmsend *vs, const char *listen, int threads, unsigned flags,
	       struct vms_http **out)
{
	if (vs == NULL || listen == NULL || out == NULL || threads < 0 ||
	    (flags & ~(unsigned)(VMS_HTTP_METRICS | VMS_HTTP_LISTING | VMS_HTTP_H2C)) != 0)
		return -EINVAL;
	struct http_server_config cfg;
	http_server_config_defaults(&cfg);
	cfg.listen[0] = listen;
	cfg.nlisten = 1;
	cfg.threads = threads;
	cfg.metrics = (flags & VMS_HTTP_METRICS) != 0;
	cfg.listing = (flags & VMS_HTTP_LISTING) != 0;
	cfg.h2c = (flags & VMS_HTTP_H2C) != 0;
	cfg.quiet = true;
	cfg.access_log = NULL;
	struct http_server *srv;
	int error = http_server_start(&cfg, &srv);
	if (error == 0)
		*out = (struct vms_http *)srv;
	return error;
}

int
vms_http_port(const struct vms_http *h)
{
	return http_server_port((const struct http_server *)h, 0);
}

void
vms_http_stop(struct vms_http *h)
{
	http_server_stop((struct http_server *)h);
}

/* mhd_floor.c — the floor for bench/server: the least an HTTP JSON API on libmicrohttpd can
 * do per request (read the body, answer a fixed JSON object), with the same thread-pool setup
 * class as `escort serve`, so the bench can state escort's submissions/s as a share of it.
 * usage: mhd_floor [PORT] [THREADS]; prints "listening on http://127.0.0.1:PORT" on stderr. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] = "{\"id\":1,\"state\":\"pending\",\"risk\":\"low\"}\n";
static struct MHD_Response *resp;

/* One byte whose address marks "headers seen" for a connection. */
static char seen;

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
        const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload;
	if (*con_cls == NULL) {
		*con_cls = &seen;
		return MHD_YES;
	}
	if (*upload_size) { /* drop the body: the floor does no work with it */
		*upload_size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(c, strcmp(method, "POST") == 0 ? 201 : 200, resp);
}

int
main(int argc, char **argv)
{
	unsigned port = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 0;
	long nthr = argc > 2 ? strtol(argv[2], NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	struct sockaddr_in sa;
	sigset_t set;
	int sig;

	if (nthr < 1)
		nthr = 1;
	memset(&sa, 0, sizeof(sa)); /* loopback only */
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* MHD's threads inherit the mask */
	resp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body,
	                                       MHD_RESPMEM_PERSISTENT);
	if (resp == NULL ||
	    MHD_add_response_header(resp, "Content-Type", "application/json") != MHD_YES)
		return 1;
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
	                     (uint16_t)port, NULL, NULL, handler, NULL,
	                     MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)nthr,
	                     MHD_OPTION_CONNECTION_LIMIT, 1024u,
	                     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "mhd_floor: cannot start the daemon\n");
		MHD_destroy_response(resp);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "mhd_floor: listening on http://127.0.0.1:%u\n",
	        info ? (unsigned)info->port : port);
	fflush(stderr);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	MHD_destroy_response(resp);
	return 0;
}

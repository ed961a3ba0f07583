/* pgnotify.c — escortd hearing the other nodes that share its PostgreSQL store: a thread
 * with a store connection of its own LISTENs for every committed request and session
 * change and feeds the live-event hub (sse.c), so a console on any node sees a change
 * made on any node at once; the connection is re-made after a loss. */
#include "server/pgnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 5000

struct srv_pgnotify {
	sse_hub *hub;
	char *spec;
	pthread_t th;
	int started;
	int wake[2]; /* a byte written to wake[1] stops the thread */
};

/* Waits ms for the stop byte; 1 when it came. */
static int
stop_within(srv_pgnotify *p, int ms)
{
	struct pollfd pf = {.fd = p->wake[0], .events = POLLIN};

	return poll(&pf, 1, ms) > 0;
}

/* Hands what the connection heard to the hub, in commit order. */
static int
drain(srv_pgnotify *p, store *s)
{
	store_notice ev;
	int got, rc;

	for (;;) {
		if ((rc = store_notify_next(s, &ev, &got)) != 0 || !got)
			break;
		if (ev.kind == STORE_NOTICE_REQUEST)
			sse_hub_request(p->hub, &ev);
		else
			sse_hub_session(p->hub, &ev);
	}
	return rc;
}

static void *
listener(void *arg)
{
	srv_pgnotify *p = arg;
	store *s = NULL;
	char err[512];
	int fd = -1, rc, backoff = 0, said = 0;

	for (;;) {
		struct pollfd pf[2];

		if (s == NULL) {
			if (backoff && stop_within(p, backoff))
				break;
			backoff =
			    backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2)
			            : BACKOFF_FIRST_MS;
			if ((rc = store_open_url(&s, p->spec, 0, err, sizeof(err))) == 0 &&
			    (rc = store_notify_listen(s, &fd)) != 0)
				snprintf(err, sizeof(err), "%s", store_error(s));
			if (rc != 0) {
				if (said != -1)
					fprintf(
					    stderr,
					    "escort serve: cannot listen for other nodes' changes "
					    "(%s); polling, retrying\n",
					    err);
				said = -1;
				store_close(s);
				s = NULL;
				continue;
			}
			backoff = 0;
			/* from now on every commit is heard; one poll finds what was committed
			 * while nobody listened */
			sse_hub_listening(p->hub, 1);
			sse_hub_kick(p->hub);
			if (said != 1)
				fprintf(stderr, "escort serve: hearing changes from every node "
				                "(PostgreSQL LISTEN)\n");
			said = 1;
		}
		pf[0] = (struct pollfd){.fd = fd, .events = POLLIN};
		pf[1] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		if (pf[0].revents && drain(p, s) != 0) {
			fprintf(stderr, "escort serve: lost the change feed (%s); reconnecting\n",
			        store_error(s));
			sse_hub_listening(p->hub, 0);
			store_close(s);
			s = NULL;
			said = 0;
		}
	}
	sse_hub_listening(p->hub, 0);
	store_close(s);
	return NULL;
}

int
srv_pgnotify_start(srv_pgnotify **out, sse_hub *h, const char *store_spec, char *err, size_t errlen)
{
	srv_pgnotify *p;

	*out = NULL;
	/* only PostgreSQL has change notification; anything else is SQLite, on one machine */
	if (store_spec == NULL || (strncmp(store_spec, "postgres://", 11) != 0 &&
	                           strncmp(store_spec, "postgresql://", 13) != 0))
		return 0;
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->spec = strdup(store_spec)) == NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return ESC_ENOMEM;
	}
	p->hub = h;
	if (pipe2(p->wake, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		free(p->spec);
		free(p);
		return ESC_EIO;
	}
	if (pthread_create(&p->th, NULL, listener, p) != 0) {
		snprintf(err, errlen, "cannot start the change listener thread");
		srv_pgnotify_stop(p);
		return ESC_EIO;
	}
	p->started = 1;
	*out = p;
	return 0;
}

void
srv_pgnotify_stop(srv_pgnotify *p)
{
	if (p == NULL)
		return;
	if (p->started) {
		while (write(p->wake[1], "x", 1) < 0 && errno == EINTR)
			;
		pthread_join(p->th, NULL);
	}
	close(p->wake[0]);
	close(p->wake[1]);
	free(p->spec);
	free(p);
}

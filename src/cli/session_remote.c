/* session_remote.c — `escort session start --server URL`: the session is held by escortd
 * (POST /sessions); this process is only the operator's terminal. Each line goes to
 * POST /sessions/ID/lines; what the session tells the operator (redacted output,
 * notices, the end of each line and of the session) comes from GET /sessions/ID/operator,
 * asked every 100 ms while a line runs and every second between lines (the kill switch).
 * Ctrl-C is POST .../interrupt, Ctrl-D POST .../end. Token: $ESCORT_TOKEN. */
#include "cli/session_remote.h"
#include "cli/cli.h"
#include "cli/remote.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/session_term.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/sysio.h"
#include "workflow/workflow.h"

#define SUB "session"
#define RESP_MAX ((size_t)64 * 1024 * 1024)
#define RUN_POLL_MS 100
#define IDLE_POLL_MS 1000 /* between lines: the kill switch, and the server knows we are here */

struct rs {
	CURL *c;
	struct curl_slist *h;
	buf base; /* URL/api/v1/sessions/ID */
	int64_t id;
	uint64_t next;
	int ended;     /* "ended" seen */
	int done;      /* "done" seen since the line was sent */
	int64_t last_poll;
	buf body;
	long status;
	json_t *j;
};

static size_t
on_data(char *p, size_t size, size_t n, void *ctx)
{
	buf *b = ctx;

	return buf_put(b, p, size * n) == 0 ? size * n : 0;
}

/* One call; 0 with r->status and r->j (JSON body or NULL), else a transport failure
 * (reported). path is appended to r->base. */
static int
call(struct rs *r, const char *method, const char *path, const char *body)
{
	buf url = BUF_INIT;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	int rc = CLI_EXIT_FAIL;

	json_decref(r->j);
	r->j = NULL;
	r->status = 0;
	buf_reset(&r->body);
	if (buf_put(&url, r->base.data, r->base.len) || buf_puts(&url, path))
		goto out;
	curl_easy_setopt(r->c, CURLOPT_URL, buf_cstr(&url));
	curl_easy_setopt(r->c, CURLOPT_ERRORBUFFER, errbuf);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(r->c, CURLOPT_POST, 1L);
		curl_easy_setopt(r->c, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)(body ? strlen(body) : 0));
		curl_easy_setopt(r->c, CURLOPT_COPYPOSTFIELDS, body ? body : "");
	} else
		curl_easy_setopt(r->c, CURLOPT_HTTPGET, 1L);
	cc = curl_easy_perform(r->c);
	if (cc != CURLE_OK) {
		cli_warnx(SUB, "%s: %s", buf_cstr(&url), *errbuf ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body.len)
		r->j = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
	rc = 0;
out:
	buf_free(&url);
	return rc;
}

static int
status_exit(long s)
{
	if (s >= 200 && s < 300)
		return CLI_EXIT_OK;
	switch (s) {
	case 400: case 413: case 415: case 422: return CLI_EXIT_USAGE;
	case 401: case 403: return CLI_EXIT_REFUSED;
	case 404: return CLI_EXIT_NOTFOUND;
	case 409: return CLI_EXIT_CONFLICT;
	default: return CLI_EXIT_FAIL;
	}
}

/* Reports a failed answer; its exit status. */
static int
failed(struct rs *r, const char *what)
{
	json_t *e = json_object_get(r->j, "error");
	const char *m = json_string_value(json_object_get(e, "message"));
	buf b = BUF_INIT;
	int rc = status_exit(r->status);

	if (m)
		cli_escape(&b, (const unsigned char *)m, strlen(m), 0);
	else
		buf_printf(&b, "the server answered HTTP %ld", r->status);
	cli_warnx(SUB, "%s: %s%s", what, rc == CLI_EXIT_REFUSED ? "refused: " : "", buf_cstr(&b));
	buf_free(&b);
	return rc == CLI_EXIT_OK ? CLI_EXIT_FAIL : rc;
}

static void
notice(const char *text, size_t n)
{
	buf b = BUF_INIT;

	buf_puts(&b, "escort: ");
	cli_escape(&b, (const unsigned char *)text, n, 0);
	buf_putc(&b, '\n');
	(void)util_write_all(2, b.data, b.len);
	buf_free(&b);
}

/* Shows the events of an answer (output to stdout as the shell wrote it, notices to
 * stderr) and notes "done" and "ended". */
static void
show_events(struct rs *r, const json_t *events)
{
	size_t i;
	json_t *ev;

	json_array_foreach(events, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		json_t *v;

		if (type == NULL)
			continue;
		if (strcmp(type, "output") == 0) {
			const char *b64 = json_string_value(json_object_get(ev, "data_base64"));
			size_t n = b64 ? strlen(b64) : 0, bl = 0;
			unsigned char *p = n ? malloc(n) : NULL;

			if (p && sodium_base642bin(p, n, b64, n, NULL, &bl, NULL,
			                           sodium_base64_VARIANT_ORIGINAL) == 0)
				(void)util_write_all(1, p, bl);
			free(p);
		} else if (strcmp(type, "notice") == 0 &&
		           (v = json_object_get(ev, "text")) != NULL && json_is_string(v)) {
			notice(json_string_value(v), json_string_length(v));
		} else if (strcmp(type, "done") == 0) {
			r->done = 1;
		} else if (strcmp(type, "ended") == 0) {
			r->ended = 1;
		}
	}
}

/* GET /operator: shows what is new. 0, or an exit status after a failure (the session is
 * then treated as over: a 404 means the server no longer holds it). */
static int
poll_events(struct rs *r)
{
	char path[64];
	int rc;

	r->last_poll = util_mono_ms();
	snprintf(path, sizeof(path), "/operator?from=%" PRIu64, r->next);
	if ((rc = call(r, "GET", path, NULL)) != 0) {
		r->ended = 1;
		return rc;
	}
	if (r->status != 200 || !json_is_object(r->j)) {
		r->ended = 1;
		return failed(r, "the session");
	}
	show_events(r, json_object_get(r->j, "events"));
	if (json_is_integer(json_object_get(r->j, "next")))
		r->next = (uint64_t)json_integer_value(json_object_get(r->j, "next"));
	if (json_is_true(json_object_get(r->j, "over")))
		r->ended = 1;
	return 0;
}

static int
tick(void *ctx)
{
	struct rs *r = ctx;

	if (util_mono_ms() - r->last_poll >= IDLE_POLL_MS)
		(void)poll_events(r);
	return r->ended;
}

/* Sends one line and follows it to its end. */
static void
run_line(struct rs *r, const buf *line)
{
	json_t *o = json_object();
	char *body = NULL;
	int interrupted = 0;

	if (o == NULL || json_object_set_new(o, "line", json_stringn((const char *)line->data,
	                                                             line->len)) != 0) {
		cli_warnx(SUB, "the line is not valid UTF-8 (or holds a NUL byte); not sent");
		json_decref(o);
		return;
	}
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (body == NULL || call(r, "POST", "/lines", body) != 0) {
		free(body);
		return;
	}
	free(body);
	if (r->status != 202) {
		(void)failed(r, "the line");
		return;
	}
	r->done = 0;
	(void)sterm_take_sigint();
	while (!r->done && !r->ended) {
		struct timespec ts = { 0, RUN_POLL_MS * 1000000L };

		(void)nanosleep(&ts, NULL); /* Ctrl-C cuts it short */
		if ((sterm_take_sigint() || sterm_term()) && !interrupted) {
			interrupted = sterm_term(); /* SIGTERM: once; Ctrl-C: each time */
			if (call(r, "POST", "/interrupt", "{}") != 0)
				break;
		}
		if (poll_events(r) != 0)
			break;
	}
}

static int
end_session(struct rs *r)
{
	char body[64];

	snprintf(body, sizeof(body), "{\"from\":%" PRIu64 "}", r->next);
	if (call(r, "POST", "/end", body) != 0)
		return CLI_EXIT_FAIL;
	if (r->status == 404) /* over and gone already */
		return CLI_EXIT_OK;
	if (r->status != 200 && r->status != 202)
		return failed(r, "ending the session");
	show_events(r, json_object_get(r->j, "events"));
	if (r->status == 202) {
		/* a line was still running: it is interrupted and the session ends after it */
		while (!r->ended && poll_events(r) == 0) {
			struct timespec ts = { 0, RUN_POLL_MS * 1000000L };

			(void)nanosleep(&ts, NULL);
		}
	}
	return CLI_EXIT_OK;
}

static int
start(struct rs *r, const char *url, const char *target, const char *ticket)
{
	const char *tok = getenv("ESCORT_TOKEN"), *ca = getenv("ESCORT_CACERT");
	struct winsize ws;
	json_t *o;
	char *body;
	buf auth = BUF_INIT;
	size_t n = strlen(url);
	int rc;

	if ((rc = cli_remote_url_ok(SUB, url)) != 0)
		return rc;
	if (tok == NULL || *tok == 0) {
		cli_warnx(SUB, "refused: set ESCORT_TOKEN to your token to talk to the server");
		return CLI_EXIT_REFUSED;
	}
	for (const char *p = tok; *p; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f) {
			cli_warnx(SUB, "refused: ESCORT_TOKEN holds a control character or space");
			return CLI_EXIT_REFUSED;
		}
	while (n && url[n - 1] == '/')
		n--;
	if ((r->c = curl_easy_init()) == NULL || buf_printf(&auth, "Authorization: Bearer %s", tok) ||
	    (r->h = curl_slist_append(NULL, buf_cstr(&auth))) == NULL ||
	    curl_slist_append(r->h, "Accept: application/json") == NULL ||
	    curl_slist_append(r->h, "Content-Type: application/json") == NULL ||
	    buf_put(&r->base, url, n) || buf_puts(&r->base, "/api/v1/sessions")) {
		if (auth.data)
			sodium_memzero(auth.data, auth.len);
		buf_free(&auth);
		cli_warnx(SUB, "out of memory");
		return CLI_EXIT_FAIL;
	}
	sodium_memzero(auth.data, auth.len);
	buf_free(&auth);
	curl_easy_setopt(r->c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->c, CURLOPT_FOLLOWLOCATION, 0L); /* never carry the token elsewhere */
	curl_easy_setopt(r->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(r->c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(r->c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca && *ca)
		curl_easy_setopt(r->c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(r->c, CURLOPT_HTTPHEADER, r->h);
	curl_easy_setopt(r->c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(r->c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(r->c, CURLOPT_USERAGENT, "escort/" ESCORT_VERSION);
	o = json_pack("{s:s, s:s?}", "target", target, "ticket", ticket);
	if (o && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col) {
		json_object_set_new(o, "width", json_integer(ws.ws_col));
		json_object_set_new(o, "height", json_integer(ws.ws_row));
	}
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (body == NULL)
		return CLI_EXIT_FAIL;
	rc = call(r, "POST", "", body);
	free(body);
	if (rc)
		return rc;
	if (r->status != 201 || !json_is_integer(json_object_get(r->j, "id")))
		return failed(r, "start");
	r->id = json_integer_value(json_object_get(r->j, "id"));
	if (buf_printf(&r->base, "/%" PRId64, r->id))
		return CLI_EXIT_FAIL;
	return 0;
}

int
cli_session_remote_start(const char *url, const char *target, const char *ticket)
{
	struct rs r;
	sterm *t = NULL;
	buf line = BUF_INIT;
	int rc, x;

	memset(&r, 0, sizeof(r));
	buf_init(&r.body, RESP_MAX);
	buf_init(&line, WF_CMD_MAX);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		cli_warnx(SUB, "cannot initialize libcurl");
		return CLI_EXIT_FAIL;
	}
	sterm_signals(1);
	if ((rc = start(&r, url, target, ticket)) != 0)
		goto out;
	r.last_poll = util_mono_ms();
	if ((rc = sterm_open(&t, r.id, target, tick, &r)) != 0) {
		cli_warnx(SUB, "start: the terminal: %s", esc_strerror(rc));
		(void)end_session(&r);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	fprintf(stderr, "escort: session %" PRId64 " on %s (held by the server): every line is "
	        "reviewed before it runs; Ctrl-C interrupts, Ctrl-D ends the session\n", r.id,
	        target);
	while (!r.ended) {
		x = sterm_read(t, &line);
		if (x == 0 || x == -3)
			break;
		if (x == -1) {
			if (sterm_tty(t))
				fputs("^C\n", stdout);
			fflush(stdout);
			continue;
		}
		if (x == -2) {
			cli_warnx(SUB, "the line is longer than the limit (512 KiB); not sent");
			continue;
		}
		if (line.len == 0)
			continue;
		run_line(&r, &line);
		if (sterm_term())
			break;
	}
	if (sterm_tty(t) && !r.ended)
		fputs("\n", stdout);
	fflush(stdout);
	sterm_close(t);
	rc = CLI_EXIT_OK;
	if (!r.ended)
		rc = end_session(&r);
	if (rc == CLI_EXIT_OK)
		fprintf(stderr, "escort: session %" PRId64 " ended; the server keeps its recording\n",
		        r.id);
out:
	sterm_signals(0);
	json_decref(r.j);
	buf_free(&r.body);
	buf_free(&r.base);
	buf_free(&line);
	curl_slist_free_all(r.h);
	curl_easy_cleanup(r.c);
	curl_global_cleanup();
	return rc;
}

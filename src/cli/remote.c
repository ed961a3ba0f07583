/* remote.c — the CLI's remote mode (issue 7): `escort --server URL request|policy explain|audit`
 * sends each command to `escort serve` (docs/api.md) with `Authorization: Bearer $ESCORT_TOKEN`
 * over libcurl and prints the answer the way the local mode prints it, with the same exit codes
 * (HTTP 400/413/415 -> 2, 401/403 -> 3, 404 -> 4, 409 -> 5, anything else -> 1). */
#include "cli/remote.h"
#include "cli/cli.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "util/buf.h"
#include "util/err.h"
#include "workflow/workflow.h"

/* A command is at most WF_CMD_MAX bytes; answers (a run's output, a search) can be large. */
#define RESP_MAX ((size_t)256 * 1024 * 1024)
#define LIST_LIMIT "1000"    /* the API's maximum page of requests */
#define SEARCH_LIMIT "10000" /* and of audit events */

static struct {
	const char *url;    /* --server; NULL: $ESCORT_SERVER */
	const char *cacert; /* --cacert; NULL: $ESCORT_CACERT */
	int url_set;
} g;

/* ---- options ---- */

static int
take(const char *arg, const char *name, const char *next, const char **val, int *used)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0)
		return 0;
	if (arg[n] == '=') {
		*val = arg + n + 1;
		*used = 1;
		return 1;
	}
	if (arg[n] != '\0')
		return 0;
	if (next == NULL) {
		cli_warnx(NULL, "%s needs an argument", name);
		return -1;
	}
	*val = next;
	*used = 2;
	return 1;
}

int
cli_remote_options(int *argc, char ***argv)
{
	char **v = *argv;
	int i = 1, used, r;

	while (i < *argc) {
		char *next = i + 1 < *argc ? v[i + 1] : NULL;

		if ((r = take(v[i], "--server", next, &g.url, &used)) == 1)
			g.url_set = 1;
		else if (r == 0)
			r = take(v[i], "--cacert", next, &g.cacert, &used);
		if (r < 0)
			return CLI_EXIT_USAGE;
		if (r == 0)
			break;
		i += used;
	}
	if (i > 1) {
		v[i - 1] = v[0];
		*argv = v + i - 1;
		*argc -= i - 1;
	}
	return 0;
}

const char *
cli_remote_url(void)
{
	const char *e = getenv("ESCORT_SERVER");

	if (g.url_set)
		return g.url;
	return e;
}

int
cli_remote_active(void)
{
	const char *u = cli_remote_url();

	return u != NULL && *u != '\0';
}

/* ---- HTTP ---- */

struct resp {
	long status;
	buf body;
	json_t *j; /* the parsed body when it is JSON, else NULL */
};

static size_t
on_data(char *p, size_t size, size_t n, void *ctx)
{
	buf *b = ctx;

	if (buf_put(b, p, size * n) != 0)
		return 0; /* over RESP_MAX: curl stops with CURLE_WRITE_ERROR */
	return size * n;
}

/* Plain HTTP only to loopback: the bearer token must not cross a network in clear. The host
 * is taken with curl's own URL parser, so "http://127.0.0.1.evil.example" or
 * "http://127.0.0.1@evil.example" cannot pass for loopback. */
int
cli_remote_url_ok(const char *sub, const char *u)
{
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL;
	struct in_addr a4;
	int rc = CLI_EXIT_USAGE;

	if (h == NULL)
		return CLI_EXIT_FAIL;
	if (curl_url_set(h, CURLUPART_URL, u, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		cli_warnx(sub, "--server %s: expected an http:// or https:// URL", u);
		goto out;
	}
	if (strcmp(scheme, "https") == 0 || strcmp(host, "localhost") == 0 ||
	    strcmp(host, "[::1]") == 0 ||
	    (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127))
		rc = 0;
	else
		cli_warnx(sub, "--server %s: plain http only to a loopback address; use https://", u);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(h);
	return rc;
}

/* Sends one request; on a transport failure prints why and returns CLI_EXIT_FAIL. Any HTTP
 * status is a success here: the caller maps it. body may be NULL (no body). */
static int
http(const char *sub, const char *method, const char *path, const char *body, struct resp *r)
{
	const char *base = cli_remote_url(), *tok = getenv("ESCORT_TOKEN");
	const char *ca = g.cacert ? g.cacert : getenv("ESCORT_CACERT");
	struct curl_slist *h = NULL, *h2;
	char errbuf[CURL_ERROR_SIZE] = "";
	buf url = BUF_INIT, auth = BUF_INIT;
	CURL *c = NULL;
	CURLcode cc;
	size_t blen;
	int rc = CLI_EXIT_FAIL;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, RESP_MAX);
	if ((rc = cli_remote_url_ok(sub, base)) != 0)
		return rc;
	rc = CLI_EXIT_FAIL;
	blen = strlen(base);
	while (blen && base[blen - 1] == '/')
		blen--;
	if (buf_put(&url, base, blen) || buf_printf(&url, "/api/v1%s", path))
		goto out;
	if (tok && *tok) {
		for (const char *p = tok; *p; p++)
			if ((unsigned char)*p < 0x21 || *p == 0x7f) {
				cli_warnx(sub, "refused: ESCORT_TOKEN holds a control character or space");
				rc = CLI_EXIT_REFUSED;
				goto out;
			}
		if (buf_printf(&auth, "Authorization: Bearer %s", tok))
			goto out;
		if ((h2 = curl_slist_append(h, buf_cstr(&auth))) == NULL)
			goto out;
		h = h2;
	}
	if ((h2 = curl_slist_append(h, "Accept: application/json")) == NULL)
		goto out;
	h = h2;
	if (body) {
		if ((h2 = curl_slist_append(h, "Content-Type: application/json")) == NULL)
			goto out;
		h = h2;
	}
	if ((c = curl_easy_init()) == NULL)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, buf_cstr(&url));
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* never carry the token elsewhere */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca && *ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "escort/" ESCORT_VERSION);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		cli_warnx(sub, "%s: %s", buf_cstr(&url), *errbuf ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body.len)
		r->j = json_loadb((const char *)r->body.data, r->body.len, JSON_ALLOW_NUL, NULL);
	rc = 0;
out:
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	buf_free(&url);
	buf_free(&auth);
	return rc;
}

static void
resp_free(struct resp *r)
{
	json_decref(r->j);
	buf_free(&r->body);
	memset(r, 0, sizeof(*r));
}

static int
status_exit(long s)
{
	if (s >= 200 && s < 300)
		return CLI_EXIT_OK;
	switch (s) {
	case 400: case 413: case 414: case 415: case 422: return CLI_EXIT_USAGE;
	case 401: case 403: return CLI_EXIT_REFUSED;
	case 404: return CLI_EXIT_NOTFOUND;
	case 409: return CLI_EXIT_CONFLICT;
	default: return CLI_EXIT_FAIL;
	}
}

/* The error object's message (escaped for the terminal), else the status line. */
static void
error_text(const struct resp *r, buf *out)
{
	json_t *e = json_object_get(r->j, "error");
	const char *m = json_string_value(json_object_get(e, "message"));
	const char *f = json_string_value(json_object_get(e, "field"));

	if (m == NULL && json_is_string(e))
		m = json_string_value(e);
	if (m)
		cli_escape(out, (const unsigned char *)m, strlen(m), 0);
	else
		buf_printf(out, "the server answered HTTP %ld", r->status);
	if (f && m && !strstr(m, f)) {
		buf_puts(out, " (field ");
		cli_escape(out, (const unsigned char *)f, strlen(f), 0);
		buf_putc(out, ')');
	}
}

/* Reports a failed answer like the local mode reports a workflow error; returns the exit code. */
static int
fail(const char *sub, const struct resp *r)
{
	buf m = BUF_INIT;
	int rc = status_exit(r->status);

	if (rc == CLI_EXIT_OK)
		rc = CLI_EXIT_FAIL; /* a 2xx that is not what we asked for */
	error_text(r, &m);
	cli_warnx(sub, "%s%s", rc == CLI_EXIT_REFUSED ? "refused: " : "", buf_cstr(&m));
	buf_free(&m);
	return rc;
}

/* A 2xx answer whose body is a JSON object, else reports and returns an exit code. */
static int
want_object(const char *sub, const struct resp *r)
{
	if (r->status < 200 || r->status >= 300)
		return fail(sub, r);
	if (!json_is_object(r->j)) {
		cli_warnx(sub, "the server's answer is not a JSON object (HTTP %ld)", r->status);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static int
write_out(const buf *b)
{
	if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
		return CLI_EXIT_FAIL;
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int
print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	int rc = CLI_EXIT_FAIL;

	if (s && printf("%s\n", s) >= 0 && fflush(stdout) == 0)
		rc = CLI_EXIT_OK;
	free(s);
	return rc;
}

/* Runs one command with libcurl initialized around it (no global state left behind). */
static int
with_curl(int (*fn)(const void *), const void *arg)
{
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		cli_warnx(NULL, "cannot initialize libcurl");
		return CLI_EXIT_FAIL;
	}
	rc = fn(arg);
	curl_global_cleanup();
	return rc;
}

/* ---- JSON helpers ---- */

static const char *
str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The first of two member names that is a string. */
static const char *
str2(const json_t *o, const char *k1, const char *k2)
{
	const char *s = str(o, k1);

	return s ? s : str(o, k2);
}

static void
put_escaped(buf *out, const char *s)
{
	cli_escape(out, (const unsigned char *)s, strlen(s), 0);
}

/* Decodes base64 (standard alphabet) into a new buffer. */
static int
unb64(const char *s, unsigned char **out, size_t *len)
{
	size_t n = strlen(s), cap = n / 4 * 3 + 3;
	unsigned char *p = malloc(cap + 1);

	if (p == NULL)
		return -1;
	if (sodium_base642bin(p, cap, s, n, NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* A byte string the server sends as "K_b64"/"K_base64" (exact bytes, preferred) or as "K"
 * (UTF-8 text); 1 when neither is there (or null). */
static int
get_bytes(const json_t *o, const char *k, unsigned char **p, size_t *n)
{
	static const char *const sfx[] = { "_b64", "_base64" };
	const json_t *v;
	char k2[64];
	size_t i;

	*p = NULL;
	*n = 0;
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(k2, sizeof(k2), "%s%s", k, sfx[i]);
		if (json_is_string(v = json_object_get(o, k2)))
			return unb64(json_string_value(v), p, n);
	}
	if (!json_is_string(v = json_object_get(o, k)))
		return 1;
	*n = json_string_length(v);
	if ((*p = malloc(*n + 1)) == NULL)
		return -1;
	memcpy(*p, json_string_value(v), *n);
	(*p)[*n] = 0;
	return 0;
}

/* The command bytes of a command object: "text" (the API), else "command" (the CLI's JSON). */
static int
cmd_bytes(const json_t *c, unsigned char **p, size_t *n)
{
	int r = get_bytes(c, "text", p, n);

	return r == 1 ? get_bytes(c, "command", p, n) : r;
}

/* "needs": a string, or an object with "text". */
static const char *
needs_text(const json_t *req)
{
	const json_t *n = json_object_get(req, "needs");

	if (json_is_string(n))
		return json_string_value(n);
	return str(n, "text");
}

/* ---- escort request ---- */

#define RSUB "request"

static int
state_open(const char *s)
{
	return s && (strcmp(s, "pending") == 0 || strcmp(s, "approved") == 0);
}

/* "request N VERB: STATE (approvals: ...)" — request.c's report(). */
static int
report(const json_t *req, int json, const char *verb)
{
	buf out = BUF_INIT;
	const char *st = str(req, "state"), *nd = needs_text(req);
	int rc;

	if (json)
		return print_json(req);
	buf_printf(&out, "request %" JSON_INTEGER_FORMAT " %s: %s",
	           json_integer_value(json_object_get(req, "id")), verb, st ? st : "?");
	if (state_open(st) && nd && *nd) {
		buf_puts(&out, " (approvals: ");
		put_escaped(&out, nd);
		buf_putc(&out, ')');
	}
	buf_putc(&out, '\n');
	rc = write_out(&out);
	buf_free(&out);
	return rc;
}

/* The request object of an answer: the body itself or its "request" member. */
static const json_t *
req_of(const json_t *j)
{
	const json_t *r = json_object_get(j, "request");

	return json_is_object(r) ? r : j;
}

static int
get_request(int64_t id, struct resp *r)
{
	char path[64];

	snprintf(path, sizeof(path), "/requests/%" PRId64, id);
	return http(RSUB, "GET", path, NULL, r);
}

/* The command of `create`: the words joined with spaces, or the file. */
static int
create_bytes(const struct cli_remote_req *q, buf *cmd)
{
	int i, rc;

	buf_init(cmd, WF_CMD_MAX);
	if (q->file) {
		if ((rc = buf_read_file(cmd, q->file)) != 0) {
			cli_warnx(RSUB, "%s: %s", q->file,
			          rc == ESC_EIO ? strerror(errno)
			          : rc == ESC_ETOOBIG ? "larger than the command limit (512 KiB)"
			                              : esc_strerror(rc));
			return rc == ESC_ETOOBIG ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
		}
		return 0;
	}
	for (i = 0; i < q->nwords; i++)
		if ((i && buf_putc(cmd, ' ') != 0) || buf_puts(cmd, q->words[i]) != 0) {
			cli_warnx(RSUB, "the command is larger than the limit (512 KiB)");
			return CLI_EXIT_USAGE;
		}
	return 0;
}

static int
r_create(const struct cli_remote_req *q)
{
	buf cmd = BUF_INIT;
	json_t *body = NULL, *a, *denied;
	struct resp r = { 0 }, g2 = { 0 };
	char *s = NULL;
	int rc;

	if ((rc = create_bytes(q, &cmd)) != 0)
		goto out;
	rc = CLI_EXIT_FAIL;
	body = json_pack("{s:s}", "target", q->target);
	if (body == NULL)
		goto out;
	if (q->ticket)
		json_object_set_new(body, "ticket", json_string(q->ticket));
	if (q->just)
		json_object_set_new(body, "justification", json_string(q->just));
	a = json_stringn(cmd.data ? (const char *)cmd.data : "", cmd.len);
	if (a != NULL) { /* valid UTF-8 */
		json_object_set_new(body, "commands", json_pack("[o]", a));
	} else {
		size_t bl = sodium_base64_encoded_len(cmd.len, sodium_base64_VARIANT_ORIGINAL);
		char *b64 = malloc(bl);

		if (b64 == NULL)
			goto out;
		sodium_bin2base64(b64, bl, cmd.data, cmd.len, sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(body, "commands_b64", json_pack("[s]", b64));
		free(b64);
	}
	if (json_is_string(json_object_get(body, "ticket")) != (q->ticket != NULL) ||
	    json_is_string(json_object_get(body, "justification")) != (q->just != NULL)) {
		cli_warnx(RSUB, "create: --ticket and --justification must be UTF-8 text");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if ((s = json_dumps(body, JSON_COMPACT)) == NULL)
		goto out;
	if ((rc = http(RSUB, "POST", "/requests", s, &r)) != 0)
		goto out;
	denied = json_object_get(json_object_get(r.j, "error"), "request");
	if (r.status == 403 && json_is_integer(denied)) {
		/* stored as denied: show it, then say why on stderr (as the local mode does) */
		buf m = BUF_INIT;

		if ((rc = get_request((int64_t)json_integer_value(denied), &g2)) == 0 &&
		    (rc = want_object(RSUB, &g2)) == 0)
			rc = report(req_of(g2.j), q->json, "created");
		error_text(&r, &m);
		cli_warnx(RSUB, "refused: %s", buf_cstr(&m));
		buf_free(&m);
		rc = rc == CLI_EXIT_OK ? CLI_EXIT_REFUSED : rc;
		goto out;
	}
	if ((rc = want_object(RSUB, &r)) != 0)
		goto out;
	rc = report(req_of(r.j), q->json, "created");
out:
	free(s);
	json_decref(body);
	resp_free(&r);
	resp_free(&g2);
	buf_free(&cmd);
	return rc;
}

/* The first command of a summary, for the list's COMMAND column: "commands" (strings or
 * command objects), else "command" or "text". */
static int
summary_cmd(const json_t *s, unsigned char **p, size_t *n)
{
	const json_t *c = json_object_get(s, "commands"), *c0;
	int rc;

	if (json_is_array(c) && json_array_size(c)) {
		c0 = json_array_get(c, 0);
		if (!json_is_string(c0))
			return cmd_bytes(c0, p, n);
		*n = json_string_length(c0);
		if ((*p = malloc(*n + 1)) == NULL)
			return -1;
		memcpy(*p, json_string_value(c0), *n + 1);
		return 0;
	}
	if ((rc = get_bytes(s, "command", p, n)) != 1)
		return rc;
	return get_bytes(s, "text", p, n);
}

static int
r_list(const struct cli_remote_req *q)
{
	struct resp r = { 0 };
	buf path = BUF_INIT, out = BUF_INIT;
	const json_t *a, *s;
	size_t i;
	int rc, fetch = 1;

	buf_printf(&path, "/requests?limit=%s", LIST_LIMIT);
	if (q->state)
		buf_printf(&path, "&state=%s", q->state); /* a known state name: no escaping needed */
	if (q->mine)
		buf_puts(&path, "&mine=1");
	if ((rc = http(RSUB, "GET", buf_cstr(&path), NULL, &r)) != 0)
		goto out;
	if (r.status >= 200 && r.status < 300 && json_is_array(r.j))
		a = r.j;
	else if ((rc = want_object(RSUB, &r)) != 0)
		goto out;
	else
		a = json_object_get(r.j, "requests");
	if (!json_is_array(a)) {
		cli_warnx(RSUB, "list: the server's answer has no \"requests\" array");
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	if (q->json) {
		rc = print_json(a);
		goto out;
	}
	buf_printf(&out, "%-6s %-10s %-10s %-12s %-20s %s\n", "ID", "STATE", "REQUESTER", "TARGET",
	           "CREATED", "COMMAND");
	json_array_foreach(a, i, s) {
		const char *cr = str(s, "created");
		unsigned char *cb = NULL;
		size_t len = 0;

		buf_printf(&out, "%-6" JSON_INTEGER_FORMAT " %-10s %-10s %-12s %-20.19s ",
		           json_integer_value(json_object_get(s, "id")), str(s, "state") ? str(s, "state") : "?",
		           str(s, "requester") ? str(s, "requester") : "?",
		           str(s, "target") ? str(s, "target") : "?", cr ? cr : "-");
		if (summary_cmd(s, &cb, &len) == 1 && fetch) {
			/* summaries carry only the number of commands: read the request (until the
			 * server says no, e.g. 429 from its rate limit: the column stays empty) */
			struct resp d = { 0 };

			if (get_request(json_integer_value(json_object_get(s, "id")), &d) == 0 &&
			    d.status == 200 && json_is_object(d.j))
				(void)summary_cmd(req_of(d.j), &cb, &len);
			else
				fetch = 0;
			resp_free(&d);
		}
		if (cb && len)
			cli_escape(&out, cb, len > 60 ? 60 : len, 0);
		buf_puts(&out, len > 60 ? "...\n" : "\n");
		free(cb);
	}
	rc = write_out(&out);
out:
	resp_free(&r);
	buf_free(&path);
	buf_free(&out);
	return rc;
}

static void
hexs(const unsigned char *h, size_t n, char *hex)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t k = 0; k < n; k++) {
		hex[2 * k] = hx[h[k] >> 4];
		hex[2 * k + 1] = hx[h[k] & 15];
	}
	hex[2 * n] = 0;
}

/* The commands of a request object as store_commands (bytes only). */
static int
req_commands(const json_t *req, store_command **out, size_t *n)
{
	const json_t *a = json_object_get(req, "commands"), *c;
	store_command *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(a))
		return 0;
	if ((v = calloc(json_array_size(a) + 1, sizeof(*v))) == NULL)
		return -1;
	json_array_foreach(a, i, c) {
		if (cmd_bytes(c, &v[i].bytes, &v[i].len) != 0) {
			v[i].bytes = NULL;
			v[i].len = 0;
		}
	}
	*out = v;
	*n = json_array_size(a);
	return 0;
}

static void
commands_free(store_command *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].bytes);
	free(v);
}

/* request.c's render_request over the API's request object; commands are re-analyzed with the
 * local rules (the local mode does the same), so both modes show the same text. */
static int
render(const json_t *req, buf *out)
{
	const char *st = str(req, "state"), *s, *pv = str(req, "policy_version");
	const json_t *apv = json_object_get(req, "approvals"), *x, *d = json_object_get(req, "decision");
	const json_t *ex = json_object_get(req, "execution");
	int64_t id = json_integer_value(json_object_get(req, "id"));
	unsigned char cur[STORE_HASH_LEN];
	store_command *cmds = NULL;
	size_t ncmds = 0, i;
	lockbox *lb = NULL;
	lockbox_result *res = NULL;
	policy_decision pd;
	int have = 0;

	memset(&pd, 0, sizeof(pd));
	if (req_commands(req, &cmds, &ncmds) != 0)
		return CLI_EXIT_FAIL;
	if (ncmds && (lb = cli_load_rules(RSUB, NULL, 0)) == NULL) {
		commands_free(cmds, ncmds);
		return CLI_EXIT_FAIL;
	}
	buf_printf(out, "request %" PRId64 "  %s\n", id, st ? st : "?");
	buf_puts(out, "  requester      ");
	put_escaped(out, (s = str(req, "requester")) ? s : "?");
	buf_puts(out, "\n  target         ");
	put_escaped(out, (s = str(req, "target")) ? s : "?");
	buf_putc(out, '\n');
	if ((s = str(req, "ticket")) != NULL) {
		buf_puts(out, "  ticket         ");
		put_escaped(out, s);
		buf_putc(out, '\n');
	}
	if ((s = str(req, "justification")) != NULL) {
		buf_puts(out, "  justification  ");
		put_escaped(out, s);
		buf_putc(out, '\n');
	}
	buf_printf(out, "  created        %s\n", (s = str(req, "created")) ? s : "-");
	if ((s = str(req, "expires")) != NULL)
		buf_printf(out, "  expires        %s\n", s);
	buf_printf(out, "  policy         %.12s\n", pv ? pv : "");
	for (i = 0; i < ncmds; i++) {
		buf_printf(out, "\ncommand %zu of %zu (%zu bytes):\n", i + 1, ncmds, cmds[i].len);
		if (cmds[i].bytes && lockbox_analyze(lb, (const char *)cmds[i].bytes, cmds[i].len,
		                                     "bash", &res) == 0) {
			lockbox_result_render(res, out, 0);
			lockbox_result_free(res);
			res = NULL;
		} else {
			buf_puts(out, "  ");
			if (cmds[i].bytes)
				cli_escape(out, cmds[i].bytes, cmds[i].len, 1);
			buf_putc(out, '\n');
		}
	}
	if (json_is_object(d)) {
		char *dj = json_dumps(d, JSON_COMPACT);

		if (dj && policy_decision_from_json(dj, strlen(dj), &pd) == 0) {
			buf_puts(out, "\ndecision when created:\n");
			policy_decision_render(&pd, out);
		}
		free(dj);
	}
	policy_decision_free(&pd);
	have = pv && wf_approval_hash(id, str(req, "target") ? str(req, "target") : "", pv, cmds,
	                              ncmds, cur) == 0;
	if (json_array_size(apv))
		buf_puts(out, "\ndecisions:\n");
	json_array_foreach(apv, i, x) {
		const char *kind = str(x, "kind"), *h = str(x, "hash"), *cm = str(x, "comment");
		const json_t *m = json_object_get(x, "matches");
		char hex[2 * STORE_HASH_LEN + 1];
		int match;

		hexs(cur, STORE_HASH_LEN, hex);
		if (json_is_boolean(m))
			match = json_is_true(m);
		else
			match = have && h && strcmp(h, hex) == 0;
		if (h == NULL && match && have)
			h = hex; /* a matching approval's hash is the request's hash now */
		buf_printf(out, "  %-8s ", kind && strcmp(kind, "deny") == 0 ? "denied" : "approved");
		put_escaped(out, (s = str2(x, "approver", "by")) ? s : "?");
		buf_printf(out, " at %s (hash %.16s%s)", (s = str2(x, "created", "at")) ? s : "-",
		           h ? h : "?", match ? "" : ", DOES NOT MATCH the request any more");
		if (cm) {
			buf_puts(out, ": ");
			put_escaped(out, cm);
		}
		buf_putc(out, '\n');
	}
	if (state_open(st) && (s = needs_text(req)) != NULL && *s) {
		buf_puts(out, "\napprovals: ");
		put_escaped(out, s);
		buf_putc(out, '\n');
	}
	if (json_is_object(ex) && str(ex, "started")) {
		const json_t *code = json_object_get(ex, "exit_code");
		unsigned char *ob = NULL;
		size_t olen = 0;

		buf_puts(out, "\nrun by ");
		put_escaped(out, (s = str(ex, "runner")) ? s : "?");
		buf_printf(out, " at %s", str(ex, "started"));
		if (json_is_integer(code))
			buf_printf(out, ", exit status %" JSON_INTEGER_FORMAT, json_integer_value(code));
		buf_printf(out, "\noutput (sha256 %s):\n",
		           (s = str(ex, "output_sha256")) ? s : "-");
		if (get_bytes(ex, "output", &ob, &olen) == 0) {
			cli_escape(out, ob, olen, 1);
			if (olen && ob[olen - 1] != '\n')
				buf_putc(out, '\n');
		}
		free(ob);
	}
	lockbox_free(lb);
	commands_free(cmds, ncmds);
	return 0;
}

static int
r_show(const struct cli_remote_req *q)
{
	struct resp r = { 0 };
	buf out = BUF_INIT;
	int rc;

	if ((rc = get_request(q->id, &r)) != 0 || (rc = want_object(RSUB, &r)) != 0)
		goto out;
	if (q->json)
		rc = print_json(req_of(r.j));
	else if ((rc = render(req_of(r.j), &out)) == 0)
		rc = write_out(&out);
out:
	buf_free(&out);
	resp_free(&r);
	return rc;
}

/* request.c's print_run_summary over the execution object: the broker's error (escaped),
 * then cli_run_details. */
static void
run_summary(const json_t *ex)
{
	const json_t *res = json_object_get(ex, "result"), *v;

	if (!json_is_object(res))
		res = ex;
	if ((v = json_object_get(res, "error")) && json_is_string(v) && *json_string_value(v)) {
		buf m = BUF_INIT;

		put_escaped(&m, json_string_value(v));
		cli_warnx(RSUB, "broker: %s", buf_cstr(&m));
		buf_free(&m);
	}
	cli_run_details(res);
}

static int
r_run(const struct cli_remote_req *q)
{
	struct resp r = { 0 }, g2 = { 0 };
	const json_t *req, *ex;
	const char *st;
	unsigned char *ob = NULL;
	size_t olen = 0;
	buf out = BUF_INIT, path = BUF_INIT;
	int rc;

	buf_printf(&path, "/requests/%" PRId64 "/run", q->id);
	if ((rc = http(RSUB, "POST", buf_cstr(&path), NULL, &r)) != 0 ||
	    (rc = want_object(RSUB, &r)) != 0)
		goto out;
	req = req_of(r.j);
	if (!json_is_object(json_object_get(req, "execution"))) {
		/* the answer is not the request: read it */
		if ((rc = get_request(q->id, &g2)) != 0 || (rc = want_object(RSUB, &g2)) != 0)
			goto out;
		req = req_of(g2.j);
	}
	ex = json_object_get(req, "execution");
	st = str(req, "state");
	if (q->json)
		rc = print_json(req);
	else {
		if (get_bytes(ex, "output", &ob, &olen) == 0) {
			cli_escape(&out, ob, olen, 1);
			if (olen && ob[olen - 1] != '\n')
				buf_putc(&out, '\n');
		}
		rc = write_out(&out);
		run_summary(ex);
	}
	if (st == NULL || strcmp(st, "succeeded") != 0) {
		const json_t *code = json_object_get(ex, "exit_code");
		const json_t *res = json_object_get(ex, "result");

		cli_warnx(RSUB, "request %" PRId64 " ran and failed: exit status %" JSON_INTEGER_FORMAT
		          "%s", q->id, json_integer_value(code),
		          json_is_true(json_object_get(json_is_object(res) ? res : ex, "timed_out"))
		              ? " (time limit)" : "");
		rc = CLI_EXIT_FAIL;
	} else if (!q->json)
		fprintf(stderr, "request %" PRId64 " succeeded\n", q->id);
out:
	free(ob);
	buf_free(&out);
	buf_free(&path);
	resp_free(&r);
	resp_free(&g2);
	return rc;
}

/* approve, deny, cancel: POST, then the short report of the request's new state. */
static int
r_act(const struct cli_remote_req *q)
{
	const char *totp = getenv("ESCORT_TOTP");
	struct resp r = { 0 }, g2 = { 0 };
	json_t *body = json_object();
	buf path = BUF_INIT;
	const char *verb;
	char *s = NULL;
	int rc = CLI_EXIT_FAIL;

	if (body == NULL)
		goto out;
	if (q->comment && json_object_set_new(body, "comment", json_string(q->comment)) != 0) {
		cli_warnx(RSUB, "%s: --comment must be UTF-8 text", q->cmd);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (strcmp(q->cmd, "approve") == 0 && totp && *totp)
		json_object_set_new(body, "totp", json_string(totp));
	verb = strcmp(q->cmd, "approve") == 0 ? "approved by you; now"
	       : strcmp(q->cmd, "deny") == 0  ? "denied by you; now"
	                                      : "cancelled; now";
	buf_printf(&path, "/requests/%" PRId64 "/%s", q->id, q->cmd);
	if ((s = json_dumps(body, JSON_COMPACT)) == NULL)
		goto out;
	if ((rc = http(RSUB, "POST", buf_cstr(&path), s, &r)) != 0 ||
	    (rc = want_object(RSUB, &r)) != 0)
		goto out;
	if (str(req_of(r.j), "state") && json_object_get(req_of(r.j), "id"))
		rc = report(req_of(r.j), q->json, verb);
	else if ((rc = get_request(q->id, &g2)) == 0 && (rc = want_object(RSUB, &g2)) == 0)
		rc = report(req_of(g2.j), q->json, verb);
out:
	free(s);
	json_decref(body);
	buf_free(&path);
	resp_free(&r);
	resp_free(&g2);
	return rc;
}

static int
request_fn(const void *arg)
{
	const struct cli_remote_req *q = arg;

	if (strcmp(q->cmd, "create") == 0)
		return r_create(q);
	if (strcmp(q->cmd, "list") == 0)
		return r_list(q);
	if (strcmp(q->cmd, "show") == 0)
		return r_show(q);
	if (strcmp(q->cmd, "run") == 0)
		return r_run(q);
	return r_act(q);
}

int
cli_remote_request(const struct cli_remote_req *q)
{
	return with_curl(request_fn, q);
}

/* ---- escort policy explain ---- */

struct explain_args {
	const char *op, *target, *cmd;
	size_t len;
	int json;
};

/* policy.c's human explanation over {"analysis","decision"} and GET /policy (p, may be
 * NULL): the policy's text gives the target's environment and platform. */
static int
explain_render(const struct explain_args *a, const json_t *j, const json_t *p, buf *out)
{
	const json_t *lb = json_object_get(j, json_object_get(j, "analysis") ? "analysis" : "lockbox");
	const json_t *d = json_object_get(j, "decision");
	const json_t *cats = json_object_get(lb, "categories"), *c;
	const char *s, *env = NULL, *plat = NULL, *text = str(p, "text");
	const policy_target *t = NULL;
	policy *pol = NULL;
	policy_decision pd;
	char *dj = NULL, *inp = NULL;
	size_t i;
	int rc = CLI_EXIT_FAIL;

	memset(&pd, 0, sizeof(pd));
	if (!json_is_object(lb) || !json_is_object(d)) {
		cli_warnx("policy", "explain: the server's answer lacks \"analysis\" or \"decision\"");
		goto out;
	}
	if (text && policy_load(&pol, text, strlen(text), "server", NULL) == 0 &&
	    (t = policy_target_find(pol, a->target)) != NULL) {
		env = t->environment;
		plat = t->platform;
	}
	buf_puts(out, "policy: ");
	put_escaped(out, cli_remote_url());
	buf_printf(out, "/api/v1/policy (version %.12s)\n", (s = str(p, "sha256")) ? s : "?");
	buf_puts(out, "operator: ");
	put_escaped(out, a->op);
	buf_puts(out, "   target: ");
	put_escaped(out, a->target);
	if (env)
		buf_printf(out, " (environment %s%s%s)", env, plat ? ", platform " : "",
		           plat ? plat : "");
	buf_puts(out, "\ncommand: ");
	inp = json_dumps(json_object_get(lb, "input"), JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
	buf_puts(out, inp ? inp : "?");
	buf_printf(out, "\nlockbox: risk %s (score %" JSON_INTEGER_FORMAT ")%s, categories: ",
	           (s = str(lb, "risk")) ? s : "?", json_integer_value(json_object_get(lb, "score")),
	           json_is_true(json_object_get(lb, "opaque")) ? ", opaque" : "");
	json_array_foreach(cats, i, c)
		buf_printf(out, "%s%s", i ? ", " : "", json_string_value(c) ? json_string_value(c) : "?");
	if (json_array_size(cats) == 0)
		buf_puts(out, "(none)");
	buf_putc(out, '\n');
	if ((s = str(lb, "explanation")) != NULL && *s) {
		buf_puts(out, "what it does: ");
		put_escaped(out, s);
		buf_putc(out, '\n');
	}
	if ((dj = json_dumps(d, JSON_COMPACT)) == NULL ||
	    policy_decision_from_json(dj, strlen(dj), &pd) != 0 ||
	    policy_decision_render(&pd, out) != 0) {
		cli_warnx("policy", "explain: the server's decision is not a policy decision");
		goto out;
	}
	rc = 0;
out:
	policy_decision_free(&pd);
	policy_free(pol);
	free(dj);
	free(inp);
	return rc;
}

static int
explain_fn(const void *arg)
{
	const struct explain_args *a = arg;
	json_t *body = NULL, *cj;
	struct resp r = { 0 }, p = { 0 };
	buf out = BUF_INIT;
	char *s = NULL;
	int rc = CLI_EXIT_FAIL;

	if ((cj = json_stringn(a->cmd, a->len)) == NULL) {
		cli_warnx("policy", "explain: the command must be UTF-8 text with --server");
		return CLI_EXIT_USAGE;
	}
	body = json_pack("{s:s, s:s, s:o}", "identity", a->op, "target", a->target, "command", cj);
	if (body == NULL || (s = json_dumps(body, JSON_COMPACT)) == NULL)
		goto out;
	if ((rc = http("policy", "POST", "/policy/explain", s, &r)) != 0 ||
	    (rc = want_object("policy", &r)) != 0)
		goto out;
	if (a->json)
		rc = print_json(r.j);
	else {
		/* the policy's version for the header line; without it the line says "?" */
		if (http("policy", "GET", "/policy", NULL, &p) == 0 && p.status != 200) {
			json_decref(p.j);
			p.j = NULL;
		}
		if ((rc = explain_render(a, r.j, p.j, &out)) == 0)
			rc = write_out(&out);
	}
out:
	free(s);
	json_decref(body);
	resp_free(&r);
	resp_free(&p);
	buf_free(&out);
	return rc;
}

int
cli_remote_policy_explain(const char *op, const char *target, const char *cmd, size_t len,
                          int json)
{
	struct explain_args a = { op, target, cmd, len, json };

	return with_curl(explain_fn, &a);
}

/* ---- escort audit ---- */

#define ASUB "audit"

struct audit_args {
	int argc;
	char **argv;
};

static json_int_t
num(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* verify: the server recomputes the log; the newest tree head comes from the checkpoint, so
 * the lines are the local mode's. --checkpoint and --pubkey are local-only options. */
static int
a_verify(int argc, char **argv)
{
	struct resp r = { 0 }, c = { 0 };
	const json_t *fb, *sth;
	const char *m;
	buf out = BUF_INIT, e = BUF_INIT;
	int rc, quiet = argc > 1 && (strcmp(argv[1], "-q") == 0 || strcmp(argv[1], "--quiet") == 0);

	if (argc > 1 + quiet) {
		cli_warnx(ASUB, "verify: %s is not available with --server (to check a saved tree "
		          "head, run 'escort audit prove --from SIZE' and 'escort audit check-proof')",
		          argv[1 + quiet]);
		return CLI_EXIT_USAGE;
	}
	if ((rc = http(ASUB, "GET", "/audit/verify", NULL, &r)) != 0 ||
	    (rc = want_object(ASUB, &r)) != 0)
		goto out;
	if ((m = str(r.j, "message")) != NULL)
		put_escaped(&e, m);
	fb = json_object_get(r.j, "first_bad");
	if (!json_is_true(json_object_get(r.j, "ok"))) {
		if (json_is_integer(json_object_get(fb, "seq")) && str(fb, "file"))
			fprintf(stderr, "escort audit verify: FAILED at record %" JSON_INTEGER_FORMAT
			        ", %s offset %" JSON_INTEGER_FORMAT ": %s\n", num(fb, "seq"),
			        str(fb, "file"), num(fb, "offset"), buf_cstr(&e));
		else if (json_is_integer(json_object_get(fb, "seq")))
			fprintf(stderr, "escort audit verify: FAILED at record %" JSON_INTEGER_FORMAT
			        ": %s\n", num(fb, "seq"), buf_cstr(&e));
		else
			fprintf(stderr, "escort audit verify: FAILED: %s\n", buf_cstr(&e));
		rc = CLI_EXIT_FINDINGS;
		goto out;
	}
	if ((m = str(r.j, "note")) != NULL && *m) {
		buf_reset(&e);
		put_escaped(&e, m);
		fprintf(stderr, "escort audit verify: note: %s\n", buf_cstr(&e));
	}
	if (quiet)
		goto out;
	if (!json_object_get(r.j, "sth")) { /* an older server: ask for the newest tree head */
		if ((rc = http(ASUB, "GET", "/audit/checkpoint", NULL, &c)) != 0)
			goto out;
		if (c.status != 200 && c.status != 404) {
			rc = fail(ASUB, &c);
			goto out;
		}
	}
	sth = json_object_get(r.j, "sth") ? json_object_get(r.j, "sth")
	      : c.status == 200           ? c.j
	                                  : NULL;
	buf_printf(&out, "ok: %" JSON_INTEGER_FORMAT " records, %" JSON_INTEGER_FORMAT
	           " signed tree heads; newest covers %" JSON_INTEGER_FORMAT " records, root %s\n",
	           num(r.j, "size"), num(r.j, "sths"), num(sth, "size"),
	           str(sth, "root") ? str(sth, "root") : "-");
	if (num(r.j, "unsigned_tail"))
		buf_printf(&out, "note: %" JSON_INTEGER_FORMAT " records after the newest signed tree "
		           "head are not signed yet\n", num(r.j, "unsigned_tail"));
	rc = write_out(&out);
out:
	resp_free(&r);
	resp_free(&c);
	buf_free(&out);
	buf_free(&e);
	return rc;
}

static int
a_checkpoint(int argc, char **argv)
{
	struct resp r = { 0 };
	int rc;

	if (argc > 1) {
		cli_warnx(ASUB, "checkpoint: unexpected argument %s", argv[1]);
		return CLI_EXIT_USAGE;
	}
	if ((rc = http(ASUB, "GET", "/audit/checkpoint", NULL, &r)) != 0)
		goto out;
	if (r.status == 404) {
		cli_warnx(ASUB, "the log has no signed tree head yet");
		rc = CLI_EXIT_ERROR;
	} else if ((rc = want_object(ASUB, &r)) == 0)
		rc = print_json(r.j);
out:
	resp_free(&r);
	return rc;
}

static int
a_pubkey(int argc, char **argv)
{
	struct resp r = { 0 };
	int rc;

	if (argc > 1) {
		cli_warnx(ASUB, "pubkey: unexpected argument %s", argv[1]);
		return CLI_EXIT_USAGE;
	}
	if ((rc = http(ASUB, "GET", "/audit/pubkey", NULL, &r)) == 0 &&
	    (rc = want_object(ASUB, &r)) == 0)
		rc = print_json(r.j);
	resp_free(&r);
	return rc;
}

static int
digits(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 18)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* prove SEQ [--from SIZE] | prove --from SIZE: the server answers with the local mode's
 * proof document {"sth","inclusion":{"seq","record","path"},"consistency":{"from_size",
 * "path"}}, which 'escort audit check-proof' checks with only the public key. */
static int
a_prove(int argc, char **argv)
{
	const char *seq = NULL, *from = NULL;
	struct resp r = { 0 };
	buf path = BUF_INIT;
	int i, rc = CLI_EXIT_USAGE;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			from = argv[++i];
		else if (strncmp(argv[i], "--from=", 7) == 0)
			from = argv[i] + 7;
		else if (seq == NULL && argv[i][0] != '-')
			seq = argv[i];
		else {
			cli_warnx(ASUB, "prove: unexpected argument %s; see 'escort audit prove --help'",
			          argv[i]);
			goto out;
		}
	}
	if (seq == NULL && from == NULL) {
		cli_warnx(ASUB, "prove: expected SEQ and/or --from SIZE; see 'escort audit prove "
		          "--help'");
		goto out;
	}
	if (seq && !digits(seq)) {
		cli_warnx(ASUB, "prove: SEQ must be a record number, not %s", seq);
		goto out;
	}
	if (from && (!digits(from) || strspn(from, "0") == strlen(from))) {
		cli_warnx(ASUB, "prove: --from needs a tree size of at least 1, not %s", from);
		goto out;
	}
	buf_puts(&path, "/audit/prove");
	if (seq)
		buf_printf(&path, "/%s", seq);
	if (from)
		buf_printf(&path, "?from=%s", from);
	if ((rc = http(ASUB, "GET", buf_cstr(&path), NULL, &r)) != 0 ||
	    (rc = want_object(ASUB, &r)) != 0)
		goto out;
	if (!json_is_object(json_object_get(r.j, "sth")) ||
	    (seq && !json_is_string(json_object_get(json_object_get(r.j, "inclusion"), "record")))) {
		cli_warnx(ASUB, "prove: the server's answer is not a proof document");
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	rc = print_json(r.j);
out:
	resp_free(&r);
	buf_free(&path);
	return rc;
}

/* search: the options the API has become query parameters; records print as stored
 * (canonical JSON is jansson's compact sorted form, which re-serializing reproduces). */
static int
a_search(int argc, char **argv)
{
	static const struct { const char *opt, *param; } map[] = {
		{ "--since", "since" }, { "--until", "until" }, { "--actor", "actor" },
		{ "--type", "type" }, { "--text", "text" }, { "--request", "request" },
		{ "--limit", "limit" },
	};
	struct resp r = { 0 };
	buf path = BUF_INIT, out = BUF_INIT;
	const json_t *ev, *e;
	CURL *c = curl_easy_init();
	int i, rc = CLI_EXIT_USAGE, have_limit = 0;
	size_t k, n;

	if (c == NULL)
		return CLI_EXIT_FAIL;
	buf_puts(&path, "/audit/search");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq = strchr(a, '=');
		char *esc;

		if (strcmp(a, "--format") == 0 && i + 1 < argc && strcmp(argv[i + 1], "jsonl") == 0) {
			i++;
			continue;
		}
		n = eq && strncmp(a, "--", 2) == 0 ? (size_t)(eq - a) : strlen(a);
		for (k = 0; k < sizeof(map) / sizeof(map[0]); k++)
			if (strlen(map[k].opt) == n && strncmp(a, map[k].opt, n) == 0)
				break;
		if (k == sizeof(map) / sizeof(map[0])) {
			cli_warnx(ASUB, "search: %s is not available with --server (there: --since, "
			          "--until, --actor, --type, --text, --request, --limit; jsonl)", a);
			goto out;
		}
		if (n < strlen(a))
			val = a + n + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			cli_warnx(ASUB, "search: %s needs an argument", a);
			goto out;
		}
		if (strcmp(map[k].param, "limit") == 0)
			have_limit = 1;
		if ((esc = curl_easy_escape(c, val, 0)) == NULL) {
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		buf_printf(&path, "%c%s=%s", strchr(buf_cstr(&path), '?') ? '&' : '?', map[k].param,
		           esc);
		curl_free(esc);
	}
	if (!have_limit)
		buf_printf(&path, "%climit=%s", strchr(buf_cstr(&path), '?') ? '&' : '?',
		           SEARCH_LIMIT);
	if ((rc = http(ASUB, "GET", buf_cstr(&path), NULL, &r)) != 0 ||
	    (rc = want_object(ASUB, &r)) != 0)
		goto out;
	ev = json_object_get(r.j, "events");
	if (!json_is_array(ev)) {
		cli_warnx(ASUB, "search: the server's answer has no \"events\" array");
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	json_array_foreach(ev, k, e) {
		char *s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);

		if (s == NULL || buf_puts(&out, s) || buf_putc(&out, '\n')) {
			free(s);
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		free(s);
	}
	rc = write_out(&out);
	if (rc == 0 && json_is_true(json_object_get(r.j, "truncated")) && !have_limit)
		cli_warnx(ASUB, "search: the server sent its first %s matches only; narrow the "
		          "search (--since, --until)", SEARCH_LIMIT);
out:
	curl_easy_cleanup(c);
	resp_free(&r);
	buf_free(&path);
	buf_free(&out);
	return rc;
}

static int
audit_fn(const void *arg)
{
	const struct audit_args *a = arg;
	const char *cmd = a->argv[0];

	if (strcmp(cmd, "verify") == 0)
		return a_verify(a->argc, a->argv);
	if (strcmp(cmd, "checkpoint") == 0)
		return a_checkpoint(a->argc, a->argv);
	if (strcmp(cmd, "prove") == 0)
		return a_prove(a->argc, a->argv);
	if (strcmp(cmd, "pubkey") == 0)
		return a_pubkey(a->argc, a->argv);
	return a_search(a->argc, a->argv);
}

int
cli_remote_audit(int argc, char **argv)
{
	struct audit_args a = { argc, argv };
	const char *cmd = argv[0];

	if (strcmp(cmd, "verify") != 0 && strcmp(cmd, "checkpoint") != 0 &&
	    strcmp(cmd, "prove") != 0 && strcmp(cmd, "search") != 0 && strcmp(cmd, "pubkey") != 0) {
		cli_warnx(ASUB, "%s is not available with --server (verify, checkpoint, prove, "
		          "pubkey and search are; check-proof runs locally)", cmd);
		return CLI_EXIT_USAGE;
	}
	return with_curl(audit_fn, &a);
}

/* escort_sudo.c — a sudo approval plugin (sudo_plugin(5), escort_sudo(8)): for members of
 * the configured groups, every command sudo's policy accepted is sent to escortd as a
 * request on this host and runs only once an escort approved exactly this argv here.
 * Denial, timeout, an unreachable escortd or any error refuse (fail closed). */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sudo_plugin.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/shquote.h"

#define ES_GROUPS_MAX 32
#define ES_TOKEN_MAX 256
#define ES_REPLY_MAX ((size_t)1024 * 1024)
#define ES_TIMEOUT_DEFAULT 120 /* seconds to wait for an approval */
#define ES_POLL_MS 500
#define ES_POLL_FAILS 6 /* consecutive failed polls (about 3 s) before giving up */

/* Everything one open()..close() of sudo needs; sudo runs the plugin single-threaded. */
static struct es {
	sudo_printf_t say;
	char server[1024];      /* base URL, e.g. https://escort.example:8443 */
	char unix_socket[PATH_MAX];
	char ca_file[PATH_MAX];
	char token_file[PATH_MAX];
	char target[256];       /* target name; default: the host sudo reports */
	char *groups[ES_GROUPS_MAX];
	size_t ngroups;
	unsigned timeout;
	char user[256], host[256], cwd[PATH_MAX], tty[PATH_MAX], runas[256];
	gid_t gids[NGROUPS_MAX + 1];
	size_t ngids;
	char token[ES_TOKEN_MAX];
	char reason[1024]; /* errstr: what sudo hands to its audit plugins */
	int curl_up;
} S;

/* Set by SIGINT/SIGTERM/SIGHUP/SIGQUIT while the user waits: the request is cancelled, so
 * an approval given after sudo gave up can never be used (nor run by escortd). */
static volatile sig_atomic_t es_interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	es_interrupted = 1;
}

static const int es_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define ES_NSIGS (sizeof(es_sigs) / sizeof(es_sigs[0]))

static void
catch_signals(struct sigaction old[ES_NSIGS])
{
	struct sigaction sa;
	sigset_t set;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: the wait wakes up */
	sigemptyset(&sa.sa_mask);
	sigemptyset(&set);
	es_interrupted = 0;
	for (i = 0; i < ES_NSIGS; i++) {
		(void)sigaction(es_sigs[i], &sa, &old[i]);
		sigaddset(&set, es_sigs[i]);
	}
	(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void
restore_signals(const struct sigaction old[ES_NSIGS])
{
	size_t i;

	for (i = 0; i < ES_NSIGS; i++)
		(void)sigaction(es_sigs[i], &old[i], NULL);
}

static void
tell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Messages go to the user's tty when there is one (stderr otherwise), so a command's
 * piped output stays clean. */
static void
tell(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (S.say != NULL)
		S.say(SUDO_CONV_ERROR_MSG | SUDO_CONV_PREFER_TTY, "%s\n", line);
}

/* Refuses with a message for the user and the same reason for sudo's audit plugins. */
static int
refuse(const char **errstr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
refuse(const char **errstr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(S.reason, sizeof(S.reason), fmt, ap);
	va_end(ap);
	tell("escort: %s", S.reason);
	*errstr = S.reason;
	return 0;
}

static const char *
kv(char *const v[], const char *key)
{
	size_t n = strlen(key);

	for (; v != NULL && *v != NULL; v++)
		if (strncmp(*v, key, n) == 0 && (*v)[n] == '=')
			return *v + n + 1;
	return NULL;
}

static int
copy(char *dst, size_t cap, const char *src)
{
	if (src == NULL)
		return 0;
	if (strlen(src) >= cap)
		return ESC_ETOOBIG;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static void
free_groups(void)
{
	size_t i;

	for (i = 0; i < S.ngroups; i++)
		free(S.groups[i]);
	S.ngroups = 0;
}

static int
parse_groups(const char *list)
{
	const char *p = list, *c;
	size_t n;

	while (*p) {
		c = strchr(p, ',');
		n = c ? (size_t)(c - p) : strlen(p);
		if (n > 0) {
			if (S.ngroups == ES_GROUPS_MAX || (S.groups[S.ngroups] = strndup(p, n)) == NULL)
				return ESC_ETOOBIG;
			S.ngroups++;
		}
		p += n + (c != NULL);
	}
	return 0;
}

/* The user's groups from sudo's user_info ("gid=", "groups=" comma-separated ids). */
static void
parse_gids(char *const user_info[])
{
	const char *g = kv(user_info, "gid"), *p = kv(user_info, "groups");
	char *end;
	unsigned long v;

	S.ngids = 0;
	if (g != NULL) {
		errno = 0;
		v = strtoul(g, &end, 10);
		if (!errno && *end == 0)
			S.gids[S.ngids++] = (gid_t)v;
	}
	while (p != NULL && *p && S.ngids < sizeof(S.gids) / sizeof(S.gids[0])) {
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || end == p)
			break;
		S.gids[S.ngids++] = (gid_t)v;
		p = *end == ',' ? end + 1 : end;
		if (*end != ',' )
			break;
	}
}

static int
opt(const char *o, const char *key, const char **val)
{
	size_t n = strlen(key);

	if (strncmp(o, key, n) == 0 && o[n] == '=') {
		*val = o + n + 1;
		return 1;
	}
	return 0;
}

static int
es_open(unsigned int version, sudo_conv_t conversation, sudo_printf_t sudo_plugin_printf,
        char *const settings[], char *const user_info[], int submit_optind,
        char *const submit_argv[], char *const submit_envp[], char *const plugin_options[],
        const char **errstr)
{
	char *const *o;
	const char *v;
	char *end;
	unsigned long t;

	(void)conversation;
	(void)submit_optind;
	(void)submit_argv;
	(void)submit_envp;
	memset(&S, 0, sizeof(S));
	S.say = sudo_plugin_printf;
	S.timeout = ES_TIMEOUT_DEFAULT;
	if (SUDO_API_VERSION_GET_MAJOR(version) != SUDO_API_VERSION_MAJOR) {
		snprintf(S.reason, sizeof(S.reason), "escort_sudo: incompatible sudo plugin API "
		         "version %u", SUDO_API_VERSION_GET_MAJOR(version));
		tell("%s", S.reason);
		*errstr = S.reason;
		return -1;
	}
	for (o = plugin_options; o != NULL && *o != NULL; o++) {
		int rc = 0;

		if (opt(*o, "server", &v))
			rc = copy(S.server, sizeof(S.server), v);
		else if (opt(*o, "unix_socket", &v))
			rc = copy(S.unix_socket, sizeof(S.unix_socket), v);
		else if (opt(*o, "ca_file", &v))
			rc = copy(S.ca_file, sizeof(S.ca_file), v);
		else if (opt(*o, "token_file", &v))
			rc = copy(S.token_file, sizeof(S.token_file), v);
		else if (opt(*o, "target", &v))
			rc = copy(S.target, sizeof(S.target), v);
		else if (opt(*o, "groups", &v))
			rc = parse_groups(v);
		else if (opt(*o, "timeout", &v)) {
			errno = 0;
			t = strtoul(v, &end, 10);
			if (errno || *end != 0 || t == 0 || t > 86400)
				rc = ESC_EINVAL;
			else
				S.timeout = (unsigned)t;
		} else
			rc = ESC_EINVAL;
		if (rc != 0) {
			snprintf(S.reason, sizeof(S.reason), "escort_sudo: bad option '%s' in "
			         "sudo.conf", *o);
			goto bad;
		}
	}
	if (S.server[0] == 0 || S.token_file[0] == 0) {
		snprintf(S.reason, sizeof(S.reason), "escort_sudo: sudo.conf must give server= "
		         "and token_file=");
		goto bad;
	}
	if (strncmp(S.server, "https://", 8) != 0 && strncmp(S.server, "http://", 7) != 0) {
		snprintf(S.reason, sizeof(S.reason), "escort_sudo: server= must be an http(s) URL");
		goto bad;
	}
	/* the host token must not cross a network in clear text */
	if (strncmp(S.server, "http://", 7) == 0 && S.unix_socket[0] == 0 &&
	    strncmp(S.server + 7, "127.", 4) != 0 && strncmp(S.server + 7, "localhost", 9) != 0 &&
	    strncmp(S.server + 7, "[::1]", 5) != 0) {
		snprintf(S.reason, sizeof(S.reason), "escort_sudo: plain http:// is allowed only to "
		         "a loopback address or over unix_socket=; use https://");
		goto bad;
	}
	(void)settings;
	if (copy(S.user, sizeof(S.user), kv(user_info, "user")) ||
	    copy(S.host, sizeof(S.host), kv(user_info, "host")) ||
	    copy(S.cwd, sizeof(S.cwd), kv(user_info, "cwd")) ||
	    copy(S.tty, sizeof(S.tty), kv(user_info, "tty")) || S.user[0] == 0 || S.host[0] == 0) {
		snprintf(S.reason, sizeof(S.reason), "escort_sudo: sudo did not say who and where");
		goto bad;
	}
	if (S.target[0] == 0)
		memcpy(S.target, S.host, sizeof(S.target));
	parse_gids(user_info);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(S.reason, sizeof(S.reason), "escort_sudo: cannot initialise libcurl");
		goto bad;
	}
	S.curl_up = 1;
	return 1;
bad:
	tell("%s", S.reason);
	*errstr = S.reason;
	free_groups();
	return -1;
}

static void
es_close(void)
{
	free_groups();
	OPENSSL_cleanse(S.token, sizeof(S.token));
	if (S.curl_up)
		curl_global_cleanup();
	S.curl_up = 0;
}

static int
es_show_version(int verbose)
{
	(void)verbose;
	if (S.say != NULL)
		S.say(SUDO_CONV_INFO_MSG, "escort approval plugin version %s\n", ESCORT_VERSION);
	return 1;
}

/* 1 when the user is in one of the configured groups (all users when none is). */
static int
gated(void)
{
	size_t i, j;
	struct group *g;

	if (S.ngroups == 0)
		return 1;
	for (i = 0; i < S.ngroups; i++) {
		if ((g = getgrnam(S.groups[i])) == NULL)
			continue;
		for (j = 0; j < S.ngids; j++)
			if (S.gids[j] == g->gr_gid)
				return 1;
	}
	return 0;
}

/* The host token: a root-owned file nobody else can read or write. */
static int
read_token(char *why, size_t whylen)
{
	struct stat st;
	char tmp[ES_TOKEN_MAX + 2];
	ssize_t n;
	int fd = open(S.token_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = -1;

	if (fd < 0) {
		snprintf(why, whylen, "cannot open the host token %.512s: %s", S.token_file,
		         strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 077) != 0) {
		snprintf(why, whylen, "the host token %.512s must be a regular file owned by root with "
		         "mode 0600 or stricter", S.token_file);
		goto out;
	}
	n = read(fd, tmp, sizeof(tmp) - 1);
	if (n <= 0) {
		snprintf(why, whylen, "cannot read the host token %.512s", S.token_file);
		goto out;
	}
	tmp[n] = 0;
	while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r' || tmp[n - 1] == ' '))
		tmp[--n] = 0;
	if (n == 0 || (size_t)n >= sizeof(S.token) || strspn(tmp, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != (size_t)n) {
		snprintf(why, whylen, "the host token %.512s does not hold a token", S.token_file);
		goto out;
	}
	memcpy(S.token, tmp, (size_t)n + 1);
	rc = 0;
out:
	OPENSSL_cleanse(tmp, sizeof(tmp));
	close(fd);
	return rc;
}

static size_t
on_data(char *p, size_t size, size_t n, void *ctx)
{
	buf *b = ctx;

	if (size != 1 || buf_put(b, p, n) != 0)
		return 0; /* too large: abort the transfer */
	return n;
}

/* One API call. *status gets the HTTP status (0: no answer), *reply the parsed JSON
 * (NULL when not JSON); why says what went wrong on the wire. */
static int
api(const char *method, const char *path, json_t *body, long *status, json_t **reply,
    char *why, size_t whylen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL, *h2;
	char url[1400], auth[ES_TOKEN_MAX + 32], errbuf[CURL_ERROR_SIZE] = "";
	char *text = NULL;
	buf b;
	CURLcode cc;
	int rc = -1;

	*status = 0;
	*reply = NULL;
	buf_init(&b, ES_REPLY_MAX);
	if (c == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	snprintf(url, sizeof(url), "%s%s%s", S.server,
	         S.server[strlen(S.server) - 1] == '/' ? "api/v1" : "/api/v1", path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", S.token);
	if ((h2 = curl_slist_append(h, auth)) == NULL)
		goto oom;
	h = h2;
	if ((h2 = curl_slist_append(h, "Content-Type: application/json")) == NULL)
		goto oom;
	h = h2;
	if ((h2 = curl_slist_append(h, "Accept: application/json")) == NULL)
		goto oom;
	h = h2;
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		goto oom;
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK) {
		snprintf(why, whylen, "libcurl refused an option");
		goto out;
	}
	if (text != NULL && curl_easy_setopt(c, CURLOPT_POSTFIELDS, text) != CURLE_OK)
		goto oom;
	if (text == NULL && strcmp(method, "POST") == 0 &&
	    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}") != CURLE_OK)
		goto oom;
	if (S.unix_socket[0] && curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, S.unix_socket) !=
	    CURLE_OK)
		goto oom;
	if (S.ca_file[0] && curl_easy_setopt(c, CURLOPT_CAINFO, S.ca_file) != CURLE_OK)
		goto oom;
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (b.len > 0)
		*reply = json_loadb((const char *)b.data, b.len, 0, NULL);
	if (*reply == NULL) {
		snprintf(why, whylen, "escortd answered HTTP %ld without JSON", *status);
		goto out;
	}
	rc = 0;
	goto out;
oom:
	snprintf(why, whylen, "out of memory");
out:
	free(text);
	curl_slist_free_all(h);
	if (c != NULL)
		curl_easy_cleanup(c);
	OPENSSL_cleanse(auth, sizeof(auth));
	buf_free(&b);
	return rc;
}

/* The error message of an escortd error body, or a fallback. */
static const char *
err_msg(json_t *reply, const char *dflt)
{
	const char *m = json_string_value(json_object_get(json_object_get(reply, "error"),
	                                                  "message"));
	return m ? m : dflt;
}

static void
hex_sha256(const unsigned char *p, size_t n, char out[65])
{
	static const char hx[] = "0123456789abcdef";
	unsigned char h[32];
	unsigned int hl = 0;
	size_t i;

	if (EVP_Digest(p, n, h, &hl, EVP_sha256(), NULL) != 1)
		memset(h, 0, sizeof(h));
	for (i = 0; i < 32; i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[64] = 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !es_interrupted)
		;
}

/* Best effort: sudo gave up, so the escorts need not look at it any more. */
static void
cancel(json_int_t id)
{
	char path[64], why[256];
	long st;
	json_t *r = NULL;

	snprintf(path, sizeof(path), "/sudo/%lld/cancel", (long long)id);
	(void)api("POST", path, NULL, &st, &r, why, sizeof(why));
	json_decref(r);
}

/* The requester, the command and the host the server reports must all be ours. */
static int
same_request(json_t *r, json_int_t id, const char *sha)
{
	const char *s = json_string_value(json_object_get(r, "sha256"));
	const char *t = json_string_value(json_object_get(r, "target"));
	const char *u = json_string_value(json_object_get(r, "requester"));

	return json_integer_value(json_object_get(r, "id")) == id && s && strlen(s) == 64 &&
	       CRYPTO_memcmp(s, sha, 64) == 0 && t && strcmp(t, S.target) == 0 && u &&
	       strcmp(u, S.user) == 0;
}

static int
wait_and_claim(json_int_t id, const char *sha, const char *line, const char **errstr)
{
	int64_t deadline = now_ms() + (int64_t)S.timeout * 1000;
	char path[64], why[512];
	const char *state, *needs;
	json_t *r = NULL, *d, *body;
	long st;
	int fails = 0, rc, told = 0;

	(void)line;
	snprintf(path, sizeof(path), "/sudo/%lld", (long long)id);
	for (;;) {
		json_decref(r);
		r = NULL;
		if (api("GET", path, NULL, &st, &r, why, sizeof(why)) != 0 || st != 200) {
			if (st != 0 && st != 429 && st < 500) {
				rc = refuse(errstr, "escortd refused to report request %lld: %s; "
				            "refusing", (long long)id, err_msg(r, why));
				goto out;
			}
			if (++fails >= ES_POLL_FAILS) {
				rc = refuse(errstr, "escortd stopped answering while waiting for request "
				            "%lld (%s); refusing", (long long)id, st ? err_msg(r, why) : why);
				goto out;
			}
		} else {
			fails = 0;
			if (!same_request(r, id, sha)) {
				rc = refuse(errstr, "escortd described request %lld as another command, "
				            "user or host; refusing", (long long)id);
				goto out;
			}
			state = json_string_value(json_object_get(r, "state"));
			state = state ? state : "?";
			if (strcmp(state, "approved") == 0)
				break;
			if (strcmp(state, "denied") == 0) {
				d = json_array_get(json_object_get(r, "denials"), 0);
				if (d != NULL)
					rc = refuse(errstr, "request %lld was denied by %s: %s", (long long)id,
					            json_string_value(json_object_get(d, "approver")),
					            json_string_value(json_object_get(d, "comment"))
					                ? json_string_value(json_object_get(d, "comment"))
					                : "(no comment)");
				else
					rc = refuse(errstr, "request %lld was denied by the policy",
					            (long long)id);
				goto out;
			}
			if (strcmp(state, "pending") != 0 && strcmp(state, "analyzed") != 0 &&
			    strcmp(state, "created") != 0) {
				rc = refuse(errstr, "request %lld is %s; refusing", (long long)id, state);
				goto out;
			}
			needs = json_string_value(json_object_get(r, "needs"));
			if (!told && needs && needs[0]) {
				tell("escort: request %lld still needs: %s", (long long)id, needs);
				told = 1;
			}
		}
		if (es_interrupted) {
			cancel(id);
			rc = refuse(errstr, "interrupted while waiting for request %lld; refusing (the "
			            "request was cancelled)", (long long)id);
			goto out;
		}
		if (now_ms() >= deadline) {
			cancel(id);
			rc = refuse(errstr, "no escort approved request %lld within %u seconds; "
			            "refusing (the request was cancelled)", (long long)id, S.timeout);
			goto out;
		}
		nap_ms(ES_POLL_MS);
	}
	/* approved: claim it (once) for exactly these bytes; the server re-checks */
	json_decref(r);
	r = NULL;
	snprintf(path, sizeof(path), "/sudo/%lld/claim", (long long)id);
	if ((body = json_pack("{s:s}", "sha256", sha)) == NULL) {
		rc = refuse(errstr, "out of memory; refusing");
		goto out;
	}
	rc = api("POST", path, body, &st, &r, why, sizeof(why));
	json_decref(body);
	if (rc != 0 || st != 200 || !json_is_true(json_object_get(r, "allowed")) ||
	    json_integer_value(json_object_get(r, "id")) != id) {
		rc = refuse(errstr, "request %lld could not be claimed: %s; refusing", (long long)id,
		            rc != 0 ? why : err_msg(r, "unexpected answer"));
		goto out;
	}
	tell("escort: request %lld approved", (long long)id);
	rc = 1;
out:
	json_decref(r);
	return rc;
}

static int
es_check(char *const command_info[], char *const run_argv[], char *const run_envp[],
         const char **errstr)
{
	const char *cmd = kv(command_info, "command"), *v;
	const char **argv = NULL;
	size_t argc = 0, i;
	buf line;
	char why[1024], sha[65];
	json_t *req = NULL, *av = NULL, *r = NULL;
	json_int_t id;
	struct passwd *pw;
	struct sigaction old[ES_NSIGS];
	long st;
	int rc = 0;

	(void)run_envp;
	buf_init(&line, UTIL_SHQ_LINE_MAX + 16);
	if (!gated()) {
		rc = 1; /* not an escorted user: sudo's policy alone decides */
		goto out;
	}
	while (run_argv != NULL && run_argv[argc] != NULL && argc <= UTIL_SHQ_ARGV_MAX)
		argc++;
	if (argc == 0 || argc > UTIL_SHQ_ARGV_MAX || cmd == NULL) {
		rc = refuse(errstr, "sudo gave no command to approve; refusing");
		goto out;
	}
	if ((argv = calloc(argc, sizeof(*argv))) == NULL) {
		rc = refuse(errstr, "out of memory; refusing");
		goto out;
	}
	/* what will really run: the resolved path sudo's policy chose, then the arguments */
	argv[0] = cmd;
	for (i = 1; i < argc; i++)
		argv[i] = run_argv[i];
	if (util_shquote_argv(argv, argc, &line) != 0) {
		rc = refuse(errstr, "the command is too long to be approved; refusing");
		goto out;
	}
	hex_sha256(line.data, line.len, sha);
	if ((v = kv(command_info, "runas_user")) != NULL)
		(void)copy(S.runas, sizeof(S.runas), v);
	else if ((v = kv(command_info, "runas_uid")) != NULL &&
	         (pw = getpwuid((uid_t)strtoul(v, NULL, 10))) != NULL)
		(void)copy(S.runas, sizeof(S.runas), pw->pw_name);
	else
		(void)copy(S.runas, sizeof(S.runas), "root");
	if ((v = kv(command_info, "cwd")) != NULL)
		(void)copy(S.cwd, sizeof(S.cwd), v);
	if (read_token(why, sizeof(why)) != 0) {
		rc = refuse(errstr, "%s; refusing", why);
		goto out;
	}
	if ((av = json_array()) == NULL)
		goto oom;
	for (i = 0; i < argc; i++)
		if (json_array_append_new(av, json_string(argv[i])) != 0)
			goto oom;
	req = json_pack("{s:s, s:s, s:s, s:O, s:s?, s:s?}", "host", S.target, "user", S.user,
	                "runas", S.runas, "argv", av, "cwd", S.cwd[0] ? S.cwd : NULL, "tty",
	                S.tty[0] ? S.tty : NULL);
	if (req == NULL) {
		/* argv that is not UTF-8 cannot travel as JSON text */
		rc = refuse(errstr, "the command's arguments are not valid UTF-8; refusing");
		goto out;
	}
	if (api("POST", "/sudo", req, &st, &r, why, sizeof(why)) != 0 && st == 0) {
		rc = refuse(errstr, "cannot reach escortd at %s (%s); refusing (fail closed)",
		            S.server, why);
		goto out;
	}
	if (st == 403 && json_integer_value(json_object_get(json_object_get(r, "error"),
	                                                    "request")) > 0) {
		rc = refuse(errstr, "request %lld was denied by policy: %s",
		            (long long)json_integer_value(json_object_get(json_object_get(r, "error"),
		                                                          "request")),
		            err_msg(r, "denied"));
		goto out;
	}
	if (st != 201) {
		rc = refuse(errstr, "escortd did not accept the request (HTTP %ld: %s); refusing",
		            st, err_msg(r, why));
		goto out;
	}
	id = json_integer_value(json_object_get(r, "id"));
	v = json_string_value(json_object_get(r, "sha256"));
	if (id <= 0 || v == NULL || strcmp(v, sha) != 0) {
		rc = refuse(errstr, "escortd recorded another command than this one; refusing");
		goto out;
	}
	tell("waiting for escort approval of request %lld\xe2\x80\xa6 (up to %u s; %s)",
	     (long long)id, S.timeout, (const char *)line.data);
	catch_signals(old);
	rc = wait_and_claim(id, sha, (const char *)line.data, errstr);
	restore_signals(old);
	goto out;
oom:
	rc = refuse(errstr, "out of memory; refusing");
out:
	json_decref(req);
	json_decref(av);
	json_decref(r);
	free(argv);
	buf_free(&line);
	OPENSSL_cleanse(S.token, sizeof(S.token));
	return rc;
}

/* The symbol sudo.conf names ("Plugin escort_approval /path/escort_sudo.so ..."). */
extern struct approval_plugin escort_approval;
__attribute__((visibility("default"))) struct approval_plugin escort_approval = {
	SUDO_APPROVAL_PLUGIN, SUDO_API_VERSION, es_open, es_close, es_check, es_show_version,
};

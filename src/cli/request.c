/* request.c — `escort request`: create, list, show, approve, deny, cancel and run change
 * requests as the identity of ESCORT_TOKEN, plus the helpers the workflow commands share
 * (exit codes, data-directory ownership, safe display of untrusted bytes). */
#include "cli/cli.h"
#include "cli/remote.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/event.h"
#include "policy/policy.h"
#include "util/buf.h"
#include "util/err.h"
#include "workflow/workflow.h"

#define SUB "request"

/* ---- shared with user.c and policyload.c ---- */

int
cli_wf_exit(int rc)
{
	switch (rc) {
	case 0:
		return CLI_EXIT_OK;
	case WF_EREFUSED:
		return CLI_EXIT_REFUSED;
	case WF_ENOTFOUND:
		return CLI_EXIT_NOTFOUND;
	case WF_ECONFLICT:
		return CLI_EXIT_CONFLICT;
	case ESC_EINVAL:
	case ESC_ETOOBIG:
		return CLI_EXIT_USAGE;
	default:
		return CLI_EXIT_FAIL;
	}
}

int
cli_owner_actor(const char *sub, const char *dir, char *actor, size_t len)
{
	struct stat st;
	struct passwd *pw;

	if (stat(dir, &st) != 0) {
		cli_warnx(sub, "%s: %s (run 'escort init --data %s' first)", dir, strerror(errno), dir);
		return CLI_EXIT_FAIL;
	}
	if (st.st_uid != geteuid()) {
		cli_warnx(sub, "refused: only the owner of %s (uid %ld) administers it; you are uid %ld",
		          dir, (long)st.st_uid, (long)geteuid());
		return CLI_EXIT_REFUSED;
	}
	pw = getpwuid(geteuid());
	snprintf(actor, len, "owner:%s", pw && pw->pw_name ? pw->pw_name : "?");
	return 0;
}

/* Appends bytes for a terminal: printable UTF-8 as is; control characters, invalid bytes,
 * bidi overrides and invisible characters escaped, so what is shown is what is there. */
void
cli_escape(buf *out, const unsigned char *p, size_t n, int keep_newlines)
{
	size_t i = 0, k, len;
	uint32_t c;

	while (i < n) {
		unsigned char b = p[i];

		if (b < 0x80) {
			if ((b == '\n' && keep_newlines) || b == '\t' || (b >= 0x20 && b < 0x7f))
				buf_putc(out, b);
			else if (b == '\n')
				buf_puts(out, "\\n");
			else
				buf_printf(out, "\\x%02x", b);
			i++;
			continue;
		}
		len = (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 0;
		c = len == 2 ? (b & 0x1fu) : len == 3 ? (b & 0x0fu) : (b & 0x07u);
		for (k = 1; len && k < len; k++) {
			if (i + k >= n || (p[i + k] & 0xc0) != 0x80) {
				len = 0;
				break;
			}
			c = c << 6 | (p[i + k] & 0x3fu);
		}
		if (len == 0 || (len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
		    (len == 4 && c < 0x10000) || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
			buf_printf(out, "\\x%02x", b);
			i++;
			continue;
		}
		if ((c >= 0x80 && c < 0xa0) || c == 0xad || (c >= 0x200b && c <= 0x200f) ||
		    (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x2069) || c == 0xfeff ||
		    c == 0x2028 || c == 0x2029)
			buf_printf(out, "\\u{%04" PRIx32 "}", c);
		else
			buf_put(out, p + i, len);
		i += len;
	}
}

/* ---- helpers ---- */

int
cli_wf_login(const char *sub, const char *dir, int need_lockbox, lockbox **lb, wf **w,
             char *who, size_t whon, buf *msg)
{
	char err[1024] = "";
	int rc;

	buf_init(msg, 64 * 1024);
	if (need_lockbox && (*lb = cli_load_rules(sub, NULL, 0)) == NULL)
		return CLI_EXIT_FAIL;
	if ((rc = wf_open(w, dir, *lb, err, sizeof(err))) != 0) {
		cli_warnx(sub, "%s", err);
		return CLI_EXIT_FAIL;
	}
	rc = wf_authenticate(*w, getenv("ESCORT_TOKEN"), who, whon, msg);
	if (rc) {
		cli_warnx(sub, "refused: %s", buf_cstr(msg));
		return cli_wf_exit(rc);
	}
	return 0;
}

int
cli_parse_pos(const char *s, int64_t *v)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || end == s || *end || x <= 0)
		return -1;
	*v = x;
	return 0;
}

const char *
cli_time_str(int64_t us, char *t, size_t n)
{
	if (us <= 0 || audit_time_format(us, t, n) != 0)
		snprintf(t, n, "-");
	return t;
}

void
cli_run_details(const json_t *res)
{
	const json_t *v, *n;
	const char *k;

	if ((v = json_object_get(res, "redactions")) && json_is_object(v) && json_object_size(v)) {
		int first = 1;

		fprintf(stderr, "redacted from your view:");
		json_object_foreach((json_t *)v, k, n) {
			fprintf(stderr, "%s %" JSON_INTEGER_FORMAT " %s", first ? "" : ",",
			        json_integer_value(n), k);
			first = 0;
		}
		fputc('\n', stderr);
	}
	if ((v = json_object_get(res, "attestation")) && json_is_object(v)) {
		const json_t *diff = json_object_get(v, "diff"), *e = json_object_get(v, "error"), *line;
		size_t i;

		if (e && json_is_string(e))
			fprintf(stderr, "attestation failed: %s\n", json_string_value(e));
		else if (json_array_size(diff) == 0)
			fprintf(stderr, "attestation: no change to sensitive state on the target\n");
		else {
			fprintf(stderr, "attestation: what changed on the target:\n");
			json_array_foreach(diff, i, line) {
				buf esc = BUF_INIT;

				if (!json_is_string(line))
					continue;
				cli_escape(&esc, (const unsigned char *)json_string_value(line),
				           json_string_length(line), 0);
				fprintf(stderr, "  %s\n", buf_cstr(&esc));
				buf_free(&esc);
			}
		}
	}
}

static int
utf8_ok(const unsigned char *p, size_t n)
{
	json_t *j = json_stringn((const char *)p, n); /* jansson checks UTF-8 */
	int ok = j != NULL;

	json_decref(j);
	return ok;
}

/* "key": string when the bytes are UTF-8, else "key_base64". */
static int
set_bytes(json_t *o, const char *key, const unsigned char *p, size_t n)
{
	char k2[64], *b64;
	size_t blen;
	int rc;

	if (p == NULL)
		return json_object_set_new(o, key, json_null());
	if (utf8_ok(p, n))
		return json_object_set_new(o, key, json_stringn((const char *)p, n));
	blen = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = malloc(blen)) == NULL)
		return -1;
	sodium_bin2base64(b64, blen, p, n, sodium_base64_VARIANT_ORIGINAL);
	snprintf(k2, sizeof(k2), "%s_base64", key);
	rc = json_object_set_new(o, k2, json_string(b64));
	free(b64);
	return rc;
}

static json_t *
time_json(int64_t us)
{
	char t[32];

	if (us <= 0 || audit_time_format(us, t, sizeof(t)) != 0)
		return json_null();
	return json_string(t);
}

static json_t *
parse_json_text(const char *s)
{
	json_error_t je;
	json_t *j = s ? json_loads(s, 0, &je) : NULL;

	return j ? j : json_null();
}

static int
print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = 0;

	if (s == NULL || printf("%s\n", s) < 0)
		rc = -1;
	free(s);
	json_decref(j);
	return rc;
}

/* Everything a workflow command needs: the data directory, a workflow, the caller's
 * identity from ESCORT_TOKEN, optionally lockbox. */
struct ctx {
	const char *dir;
	lockbox *lb;
	wf *w;
	char who[256];
	int json;
	buf msg;
};

static int
ctx_open(struct ctx *c, int need_lockbox)
{
	return cli_wf_login(SUB, c->dir, need_lockbox, &c->lb, &c->w, c->who, sizeof(c->who),
	                    &c->msg);
}

static void
ctx_close(struct ctx *c)
{
	wf_close(c->w);
	lockbox_free(c->lb);
	buf_free(&c->msg);
}

/* Reports a workflow failure and returns its exit code. */
static int
fail(struct ctx *c, int rc, const char *what)
{
	const char *m = c->msg.len ? buf_cstr(&c->msg) : esc_strerror(rc);

	if (rc == WF_EREFUSED)
		cli_warnx(SUB, "refused: %s", m);
	else if (c->msg.len)
		cli_warnx(SUB, "%s", m);
	else
		cli_warnx(SUB, "%s: %s", what, m);
	return cli_wf_exit(rc);
}

static void
hex_of(const unsigned char *h, char *hex)
{
	static const char hx[] = "0123456789abcdef";
	size_t k;

	for (k = 0; k < STORE_HASH_LEN; k++) {
		hex[2 * k] = hx[h[k] >> 4];
		hex[2 * k + 1] = hx[h[k] & 15];
	}
	hex[2 * STORE_HASH_LEN] = 0;
}

static json_t *
request_json(struct ctx *c, const store_request *r, const store_approval *apv, size_t napv,
             int full)
{
	json_t *o = json_object(), *cmds = json_array(), *ap = json_array(), *x;
	unsigned char h[STORE_HASH_LEN];
	char hex[2 * STORE_HASH_LEN + 1];
	buf needs = BUF_INIT;
	size_t i;

	if (o == NULL || cmds == NULL || ap == NULL)
		goto fail;
	json_object_set_new(o, "id", json_integer(r->id));
	json_object_set_new(o, "state", json_string(r->state));
	json_object_set_new(o, "requester", json_string(r->requester));
	json_object_set_new(o, "target", json_string(r->target));
	json_object_set_new(o, "ticket", r->ticket ? json_string(r->ticket) : json_null());
	json_object_set_new(o, "justification",
	                    r->justification ? json_string(r->justification) : json_null());
	json_object_set_new(o, "created", time_json(r->created_us));
	json_object_set_new(o, "updated", time_json(r->updated_us));
	json_object_set_new(o, "expires", time_json(r->expires_us));
	json_object_set_new(o, "policy_version", json_string(r->policy_version));
	for (i = 0; i < r->ncmds; i++) {
		x = json_object();
		if (x == NULL || json_array_append_new(cmds, x) != 0)
			goto fail;
		set_bytes(x, "command", r->cmds[i].bytes, r->cmds[i].len);
		if (EVP_Digest(r->cmds[i].bytes, r->cmds[i].len, h, NULL, EVP_sha256(), NULL) == 1) {
			hex_of(h, hex);
			json_object_set_new(x, "sha256", json_string(hex));
		}
		json_object_set_new(x, "bytes", json_integer((json_int_t)r->cmds[i].len));
		if (full)
			json_object_set_new(x, "analysis", parse_json_text(r->cmds[i].analysis));
	}
	json_object_set_new(o, "commands", cmds);
	cmds = NULL;
	json_object_set_new(o, "decision", parse_json_text(r->decision));
	if (full) {
		unsigned char cur[STORE_HASH_LEN];
		int have = wf_approval_hash(r->id, r->target, r->policy_version, r->cmds, r->ncmds,
		                            cur) == 0;

		for (i = 0; i < napv; i++) {
			hex_of(apv[i].hash, hex);
			x = json_pack("{s:s, s:s, s:s?, s:o, s:o, s:s, s:b}", "by", apv[i].approver,
			              "kind", apv[i].kind == STORE_DENY ? "deny" : "approve", "comment",
			              apv[i].comment, "at", time_json(apv[i].created_us), "expires",
			              time_json(apv[i].expires_us), "hash", hex, "matches",
			              have && sodium_memcmp(cur, apv[i].hash, STORE_HASH_LEN) == 0);
			if (x == NULL || json_array_append_new(ap, x) != 0)
				goto fail;
		}
		json_object_set_new(o, "approvals", ap);
		ap = NULL;
		if (strcmp(r->state, "pending") == 0 || strcmp(r->state, "approved") == 0) {
			if (wf_request_needs(c->w, r, apv, napv, &needs) == 0)
				json_object_set_new(o, "needs", json_string(buf_cstr(&needs)));
		}
		if (r->started_us) {
			x = json_object();
			json_object_set_new(x, "runner", r->runner ? json_string(r->runner) : json_null());
			json_object_set_new(x, "started", time_json(r->started_us));
			json_object_set_new(x, "finished", time_json(r->finished_us));
			json_object_set_new(x, "exit_code", r->has_exit ? json_integer(r->exit_code)
			                                                : json_null());
			json_object_set_new(x, "output_sha256", r->output_sha256
			                                            ? json_string(r->output_sha256)
			                                            : json_null());
			set_bytes(x, "output", r->output, r->output_len);
			json_object_set_new(x, "result", parse_json_text(r->result));
			json_object_set_new(o, "execution", x);
		} else if (r->result)
			json_object_set_new(o, "result", parse_json_text(r->result));
	}
	json_decref(ap);
	buf_free(&needs);
	return o;
fail:
	json_decref(o);
	json_decref(cmds);
	json_decref(ap);
	buf_free(&needs);
	return NULL;
}

/* ---- human rendering ---- */

static void
render_request(struct ctx *c, const store_request *r, const store_approval *apv, size_t napv,
               buf *out)
{
	char t[32], hex[2 * STORE_HASH_LEN + 1];
	unsigned char cur[STORE_HASH_LEN];
	policy_decision d;
	lockbox_result *res = NULL;
	buf needs = BUF_INIT;
	size_t i;
	int have;

	buf_printf(out, "request %" PRId64 "  %s\n", r->id, r->state);
	buf_printf(out, "  requester      %s\n  target         %s\n", r->requester, r->target);
	if (r->ticket) {
		buf_puts(out, "  ticket         ");
		cli_escape(out, (const unsigned char *)r->ticket, strlen(r->ticket), 0);
		buf_putc(out, '\n');
	}
	if (r->justification) {
		buf_puts(out, "  justification  ");
		cli_escape(out, (const unsigned char *)r->justification, strlen(r->justification), 0);
		buf_putc(out, '\n');
	}
	buf_printf(out, "  created        %s\n", cli_time_str(r->created_us, t, sizeof(t)));
	if (r->expires_us)
		buf_printf(out, "  expires        %s\n", cli_time_str(r->expires_us, t, sizeof(t)));
	buf_printf(out, "  policy         %.12s\n", r->policy_version);
	for (i = 0; i < r->ncmds; i++) {
		buf_printf(out, "\ncommand %zu of %zu (%zu bytes):\n", i + 1, r->ncmds, r->cmds[i].len);
		if (c->lb && lockbox_analyze(c->lb, (const char *)r->cmds[i].bytes, r->cmds[i].len,
		                             "bash", &res) == 0) {
			lockbox_result_render(res, out, 0);
			lockbox_result_free(res);
			res = NULL;
		} else {
			buf_puts(out, "  ");
			cli_escape(out, r->cmds[i].bytes, r->cmds[i].len, 1);
			buf_putc(out, '\n');
		}
	}
	memset(&d, 0, sizeof(d));
	if (r->decision &&
	    policy_decision_from_json(r->decision, strlen(r->decision), &d) == 0) {
		buf_puts(out, "\ndecision when created:\n");
		policy_decision_render(&d, out);
	}
	policy_decision_free(&d);
	have = wf_approval_hash(r->id, r->target, r->policy_version, r->cmds, r->ncmds, cur) == 0;
	if (napv)
		buf_puts(out, "\ndecisions:\n");
	for (i = 0; i < napv; i++) {
		hex_of(apv[i].hash, hex);
		buf_printf(out, "  %-8s %s at %s (hash %.16s%s)", apv[i].kind == STORE_DENY ? "denied" : "approved",
		           apv[i].approver, cli_time_str(apv[i].created_us, t, sizeof(t)), hex,
		           have && sodium_memcmp(cur, apv[i].hash, STORE_HASH_LEN) == 0
		               ? ""
		               : ", DOES NOT MATCH the request any more");
		if (apv[i].comment) {
			buf_puts(out, ": ");
			cli_escape(out, (const unsigned char *)apv[i].comment, strlen(apv[i].comment), 0);
		}
		buf_putc(out, '\n');
	}
	if (strcmp(r->state, "pending") == 0 || strcmp(r->state, "approved") == 0) {
		if (wf_request_needs(c->w, r, apv, napv, &needs) == 0 && needs.len)
			buf_printf(out, "\napprovals: %s\n", buf_cstr(&needs));
	}
	if (r->started_us) {
		buf_printf(out, "\nrun by %s at %s", r->runner ? r->runner : "?",
		           cli_time_str(r->started_us, t, sizeof(t)));
		if (r->has_exit)
			buf_printf(out, ", exit status %d", r->exit_code);
		buf_printf(out, "\noutput (sha256 %s):\n", r->output_sha256 ? r->output_sha256 : "-");
		if (r->output)
			cli_escape(out, r->output, r->output_len, 1);
		if (r->output_len && r->output[r->output_len - 1] != '\n')
			buf_putc(out, '\n');
	}
	buf_free(&needs);
}

static int
write_out(const buf *b)
{
	if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
		return -1;
	return fflush(stdout);
}

/* Prints the request as the JSON object or the short human summary. */
static int
report(struct ctx *c, int64_t id, const char *verb)
{
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0;
	buf out = BUF_INIT, needs = BUF_INIT;
	int rc;

	buf_reset(&c->msg);
	rc = wf_request_get(c->w, c->who, id, &r, &apv, &napv, &c->msg);
	if (rc)
		return fail(c, rc, "reading the request");
	if (c->json) {
		rc = print_json(request_json(c, &r, apv, napv, 1));
	} else {
		buf_printf(&out, "request %" PRId64 " %s: %s", id, verb, r.state);
		if ((strcmp(r.state, "pending") == 0 || strcmp(r.state, "approved") == 0) &&
		    wf_request_needs(c->w, &r, apv, napv, &needs) == 0 && needs.len)
			buf_printf(&out, " (approvals: %s)", buf_cstr(&needs));
		buf_putc(&out, '\n');
		rc = write_out(&out);
	}
	buf_free(&out);
	buf_free(&needs);
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* ---- subcommands ---- */

enum {
	O_DATA = 'd', O_HELP = 'h', O_JSON = 256, O_TARGET, O_TICKET, O_JUST, O_FILE, O_STATE,
	O_MINE, O_COMMENT
};

static const struct option common_lo[] = {
	{ "data", required_argument, NULL, O_DATA },
	{ "data-dir", required_argument, NULL, O_DATA },
	{ "json", no_argument, NULL, O_JSON },
	{ "help", no_argument, NULL, O_HELP },
	{ "target", required_argument, NULL, O_TARGET },
	{ "ticket", required_argument, NULL, O_TICKET },
	{ "justification", required_argument, NULL, O_JUST },
	{ "file", required_argument, NULL, O_FILE },
	{ "state", required_argument, NULL, O_STATE },
	{ "mine", no_argument, NULL, O_MINE },
	{ "comment", required_argument, NULL, O_COMMENT },
	{ NULL, 0, NULL, 0 },
};

struct ropts {
	const char *dir, *target, *ticket, *just, *file, *state, *comment;
	int json, mine, help;
	int first; /* optind after parsing */
};

static void
request_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort request create --target T [--ticket X] [--justification TEXT]\n"
	    "                             (-- CMD... | --file SCRIPT)\n"
	    "       escort request list [--state S] [--mine]\n"
	    "       escort request show ID\n"
	    "       escort request approve ID [--comment TEXT]\n"
	    "       escort request deny ID --comment TEXT\n"
	    "       escort request cancel ID\n"
	    "       escort request run ID\n\n"
	    "Change requests: an operator proposes a command for a target; lockbox analyzes\n"
	    "it, the policy in force decides (deny, auto-approve, or which approvals are\n"
	    "needed), escorts approve or deny, and 'run' executes exactly the approved bytes\n"
	    "once. Approvals are bound to the SHA-256 of (request id, target, policy version,\n"
	    "command bytes): any change voids them. You act as the identity of $ESCORT_TOKEN\n"
	    "(issued with 'escort user token NAME' by the data directory owner).\n\n"
	    "CMD words after -- are joined with spaces into one command; --file SCRIPT makes\n"
	    "the whole file one command (analyzed as a whole; NUL bytes are refused, invalid\n"
	    "UTF-8 is kept and shown escaped).\n\n"
	    "  --data DIR        data directory (also -d; default: $ESCORT_DATA, else\n"
	    "                    ./escort-data)\n"
	    "  --json            machine output: one JSON object (list: an array)\n"
	    "  -h, --help        show this help\n\n"
	    "Exit status: 0 ok, 1 other errors (also: the run's command failed), 2 usage,\n"
	    "3 refused by policy or authorization, 4 not found, 5 conflict (wrong state).\n");
}

static int
parse(const char *cmd, int argc, char **argv, struct ropts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:h", common_lo, NULL)) != -1) {
		switch (c) {
		case O_DATA: o->dir = optarg; break;
		case O_JSON: o->json = 1; break;
		case O_HELP: o->help = 1; break;
		case O_TARGET: o->target = optarg; break;
		case O_TICKET: o->ticket = optarg; break;
		case O_JUST: o->just = optarg; break;
		case O_FILE: o->file = optarg; break;
		case O_STATE: o->state = optarg; break;
		case O_MINE: o->mine = 1; break;
		case O_COMMENT: o->comment = optarg; break;
		case ':':
			cli_warnx(SUB, "%s: %s needs an argument", cmd, argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			cli_warnx(SUB, "%s: unknown option %s; see 'escort request --help'", cmd,
			          argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	o->first = optind;
	return 0;
}

/* Options a command does not take are usage errors, not silently ignored. */
static int
only(const char *cmd, const struct ropts *o, const char *allowed)
{
	struct { const void *set; const char *name; } opts[] = {
		{ o->target, "target" }, { o->ticket, "ticket" }, { o->just, "justification" },
		{ o->file, "file" }, { o->state, "state" }, { o->mine ? "" : NULL, "mine" },
		{ o->comment, "comment" },
	};
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (opts[i].set && !strstr(allowed, opts[i].name)) {
			cli_warnx(SUB, "%s does not take --%s", cmd, opts[i].name);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

static int
one_id(const char *cmd, int argc, char **argv, const struct ropts *o, int64_t *id)
{
	if (o->first >= argc) {
		cli_warnx(SUB, "%s needs a request ID", cmd);
		return CLI_EXIT_USAGE;
	}
	if (o->first + 1 < argc) {
		cli_warnx(SUB, "%s: unexpected argument %s", cmd, argv[o->first + 1]);
		return CLI_EXIT_USAGE;
	}
	if (cli_parse_pos(argv[o->first], id) != 0) {
		cli_warnx(SUB, "%s: '%s' is not a request ID (a positive number)", cmd, argv[o->first]);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int
do_create(struct ctx *c, const struct ropts *o, int argc, char **argv)
{
	buf cmd = BUF_INIT;
	const unsigned char *cmds[1];
	size_t lens[1];
	wf_new_request nr;
	int64_t id = 0;
	int state = -1, rc, i;

	if (o->target == NULL) {
		cli_warnx(SUB, "create needs --target T");
		return CLI_EXIT_USAGE;
	}
	if ((o->file != NULL) == (o->first < argc)) {
		cli_warnx(SUB, "create needs either -- CMD... or --file SCRIPT (exactly one)");
		return CLI_EXIT_USAGE;
	}
	buf_init(&cmd, WF_CMD_MAX);
	if (o->file) {
		rc = buf_read_file(&cmd, o->file);
		if (rc) {
			cli_warnx(SUB, "%s: %s", o->file,
			          rc == ESC_EIO ? strerror(errno)
			          : rc == ESC_ETOOBIG ? "larger than the command limit (512 KiB)"
			                              : esc_strerror(rc));
			buf_free(&cmd);
			return rc == ESC_ETOOBIG ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
		}
	} else {
		for (i = o->first; i < argc; i++) {
			if ((i > o->first && buf_putc(&cmd, ' ') != 0) || buf_puts(&cmd, argv[i]) != 0) {
				cli_warnx(SUB, "the command is larger than the limit (512 KiB)");
				buf_free(&cmd);
				return CLI_EXIT_USAGE;
			}
		}
	}
	memset(&nr, 0, sizeof(nr));
	cmds[0] = cmd.data ? cmd.data : (const unsigned char *)"";
	lens[0] = cmd.len;
	nr.target = o->target;
	nr.ticket = o->ticket;
	nr.justification = o->just;
	nr.cmds = cmds;
	nr.lens = lens;
	nr.ncmds = 1;
	rc = wf_request_create(c->w, c->who, &nr, &id, &state, &c->msg);
	buf_free(&cmd);
	if (rc == WF_EREFUSED && id > 0) {
		/* stored as denied: show it, then say why on stderr */
		int e;
		buf keep = BUF_INIT;

		buf_puts(&keep, buf_cstr(&c->msg));
		e = report(c, id, "created");
		cli_warnx(SUB, "refused: %s", buf_cstr(&keep));
		buf_free(&keep);
		return e == CLI_EXIT_OK ? CLI_EXIT_REFUSED : e;
	}
	if (rc)
		return fail(c, rc, "create");
	return report(c, id, "created");
}

static int
do_list(struct ctx *c, const struct ropts *o)
{
	store_request *v = NULL;
	size_t n = 0, i;
	buf out = BUF_INIT;
	json_t *a;
	char t[32];
	int rc;

	rc = wf_request_list(c->w, c->who, o->state, o->mine, &v, &n, &c->msg);
	if (rc)
		return fail(c, rc, "list");
	if (c->json) {
		a = json_array();
		for (i = 0; a && i < n; i++)
			json_array_append_new(a, request_json(c, &v[i], NULL, 0, 0));
		rc = print_json(a);
	} else {
		buf_printf(&out, "%-6s %-10s %-10s %-12s %-20s %s\n", "ID", "STATE", "REQUESTER",
		           "TARGET", "CREATED", "COMMAND");
		for (i = 0; i < n; i++) {
			size_t len = v[i].ncmds ? v[i].cmds[0].len : 0;

			buf_printf(&out, "%-6" PRId64 " %-10s %-10s %-12s %-20.19s ", v[i].id, v[i].state,
			           v[i].requester, v[i].target, cli_time_str(v[i].created_us, t, sizeof(t)));
			if (len)
				cli_escape(&out, v[i].cmds[0].bytes, len > 60 ? 60 : len, 0);
			buf_puts(&out, len > 60 ? "...\n" : "\n");
		}
		rc = write_out(&out);
	}
	buf_free(&out);
	store_requests_free(v, n);
	return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static int
do_show(struct ctx *c, int64_t id)
{
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0;
	buf out = BUF_INIT;
	int rc;

	rc = wf_request_get(c->w, c->who, id, &r, &apv, &napv, &c->msg);
	if (rc)
		return fail(c, rc, "show");
	if (c->json)
		rc = print_json(request_json(c, &r, apv, napv, 1));
	else {
		render_request(c, &r, apv, napv, &out);
		rc = write_out(&out);
	}
	buf_free(&out);
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* After a run, tells the person at the terminal what the broker knows besides the output:
 * why it failed, what was redacted from their view, and what changed on the target. */
static void
print_run_summary(const char *result)
{
	json_t *j, *v;

	if (result == NULL || (j = json_loads(result, 0, NULL)) == NULL)
		return;
	if ((v = json_object_get(j, "error")) && json_is_string(v) && *json_string_value(v))
		cli_warnx(SUB, "broker: %s", json_string_value(v));
	cli_run_details(j);
	json_decref(j);
}

static int
do_run(struct ctx *c, int64_t id)
{
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0;
	buf out = BUF_INIT;
	int rc, state = -1;

	rc = wf_request_run(c->w, c->who, id, &state, &c->msg);
	if (rc)
		return fail(c, rc, "run");
	buf_reset(&c->msg);
	if ((rc = wf_request_get(c->w, c->who, id, &r, &apv, &napv, &c->msg)) != 0)
		return fail(c, rc, "run");
	if (c->json)
		rc = print_json(request_json(c, &r, apv, napv, 1));
	else {
		if (r.output)
			cli_escape(&out, r.output, r.output_len, 1);
		if (r.output_len && r.output[r.output_len - 1] != '\n')
			buf_putc(&out, '\n');
		rc = write_out(&out);
	}
	if (!c->json)
		print_run_summary(r.result);
	if (state == WF_FAILED)
		cli_warnx(SUB, "request %" PRId64 " ran and failed: exit status %d%s", id, r.exit_code,
		          r.result && strstr(r.result, "\"timed_out\":true") ? " (time limit)" : "");
	else if (!c->json)
		fprintf(stderr, "request %" PRId64 " succeeded\n", id);
	buf_free(&out);
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	if (rc)
		return CLI_EXIT_FAIL;
	return state == WF_SUCCEEDED ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int
cli_request(int argc, char **argv)
{
	static const char *const cmds[] = { "create", "list", "show", "approve", "deny", "cancel",
		                            "run" };
	struct ropts o;
	struct ctx c;
	const char *cmd;
	int64_t id = 0;
	int rc, need_lb;
	size_t k;

	if (argc < 2) {
		request_help(stderr);
		return CLI_EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		request_help(stdout);
		return CLI_EXIT_OK;
	}
	for (k = 0; k < sizeof(cmds) / sizeof(cmds[0]) && strcmp(cmds[k], cmd) != 0; k++)
		;
	if (k == sizeof(cmds) / sizeof(cmds[0])) {
		cli_warnx(SUB, "'%s' is not a request command (create, list, show, approve, deny, "
		          "cancel, run); see --help", cmd);
		return CLI_EXIT_USAGE;
	}
	if ((rc = parse(cmd, argc - 1, argv + 1, &o)) != 0)
		return rc;
	if (o.help) {
		request_help(stdout);
		return CLI_EXIT_OK;
	}
	argc -= 1;
	argv += 1;
	if (strcmp(cmd, "create") == 0)
		rc = only(cmd, &o, "target ticket justification file");
	else if (strcmp(cmd, "list") == 0) {
		rc = only(cmd, &o, "state mine");
		if (rc == 0 && o.first < argc) {
			cli_warnx(SUB, "list: unexpected argument %s", argv[o.first]);
			rc = CLI_EXIT_USAGE;
		}
		if (rc == 0 && o.state && wf_state_parse(o.state) < 0) {
			cli_warnx(SUB, "list: unknown state '%s'", o.state);
			rc = CLI_EXIT_USAGE;
		}
	} else {
		rc = only(cmd, &o, strcmp(cmd, "approve") == 0 || strcmp(cmd, "deny") == 0 ? "comment"
		                                                                          : "");
		if (rc == 0)
			rc = one_id(cmd, argc, argv, &o, &id);
		if (rc == 0 && strcmp(cmd, "deny") == 0 && (o.comment == NULL || !*o.comment)) {
			cli_warnx(SUB, "deny needs --comment TEXT saying why");
			rc = CLI_EXIT_USAGE;
		}
	}
	if (rc)
		return rc;
	if (cli_remote_active()) {
		struct cli_remote_req q = { cmd, id, o.target, o.ticket, o.just, o.file, o.state,
			                    o.comment, o.mine, o.json, argc - o.first, argv + o.first };
		return cli_remote_request(&q);
	}
	memset(&c, 0, sizeof(c));
	c.dir = cli_data_dir(o.dir);
	c.json = o.json;
	need_lb = strcmp(cmd, "create") == 0 || strcmp(cmd, "run") == 0 || strcmp(cmd, "show") == 0;
	if ((rc = ctx_open(&c, need_lb)) != 0)
		goto out;
	if (strcmp(cmd, "create") == 0)
		rc = do_create(&c, &o, argc, argv);
	else if (strcmp(cmd, "list") == 0)
		rc = do_list(&c, &o);
	else if (strcmp(cmd, "show") == 0)
		rc = do_show(&c, id);
	else if (strcmp(cmd, "run") == 0)
		rc = do_run(&c, id);
	else if (strcmp(cmd, "approve") == 0) {
		int st;

		rc = wf_request_approve(c.w, c.who, id, o.comment, &st, &c.msg);
		rc = rc ? fail(&c, rc, "approve") : report(&c, id, "approved by you; now");
	} else if (strcmp(cmd, "deny") == 0) {
		rc = wf_request_deny(c.w, c.who, id, o.comment, &c.msg);
		rc = rc ? fail(&c, rc, "deny") : report(&c, id, "denied by you; now");
	} else {
		rc = wf_request_cancel(c.w, c.who, id, &c.msg);
		rc = rc ? fail(&c, rc, "cancel") : report(&c, id, "cancelled; now");
	}
out:
	ctx_close(&c);
	return rc;
}

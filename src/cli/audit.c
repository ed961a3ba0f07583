/* audit.c — `escort audit`: verify the log, print its checkpoint and public key, produce
 * inclusion/consistency proofs and check them with only the public key (what an outside
 * auditor runs), append an event by hand, export and search records, and the retro-hunt
 * (rescan: today's lockbox over every recorded command; the CLI orchestrates audit and
 * lockbox, which never call each other). */
#include "cli/cli.h"
#include "cli/remote.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "audit/event.h"
#include "audit/log.h"
#include "audit/sth.h"
#include "audit/verify.h"
#include "util/buf.h"
#include "util/cpu.h"
#include "util/err.h"

#define SUB "audit"

const char *
cli_data_dir(const char *opt)
{
	const char *e = getenv("ESCORT_DATA");

	if (opt && *opt)
		return opt;
	if (e && *e)
		return e;
	if ((e = getenv("ESCORT_DATA_DIR")) != NULL && *e)
		return e;
	return "./escort-data";
}

static void
audit_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort audit [--data DIR] <command> [<args>]\n\n"
	    "The tamper-evident audit log (RFC 6962 Merkle tree, Ed25519 signed tree heads).\n\n"
	    "  verify [--checkpoint FILE] [--pubkey FILE]\n"
	    "                       recompute every hash and check every signed tree head\n"
	    "  checkpoint           print the newest signed tree head (keep it off the server)\n"
	    "  prove SEQ [--from SIZE]\n"
	    "  prove --from SIZE    inclusion proof for record SEQ / consistency proof from an\n"
	    "                       earlier tree size, both against the newest signed tree head\n"
	    "  check-proof [--pubkey FILE] [--checkpoint FILE] PROOF\n"
	    "                       check a proof with only the public key\n"
	    "  pubkey               print the public key\n"
	    "  append --type T --actor A [--details JSON]\n"
	    "                       append one event (administration and testing)\n"
	    "  search [--since T] [--until T] [--actor A] [--type T] [--where K=V] [--text S]\n"
	    "         [--request ID] [--target T] [--category C] [--risk-min R]\n"
	    "                       print the matching records (request conditions select\n"
	    "                       every event of the matching requests)\n"
	    "  rescan [--rules DIR]... [--since T] [--json] [--stats]\n"
	    "                       re-run today's lockbox over every recorded command and\n"
	    "                       list the requests whose risk or categories changed\n"
	    "  export [--format jsonl|syslog|cef] [--follow]\n"
	    "                       print every record (for a SIEM)\n\n"
	    "  --data DIR           data directory (also -d, --data-dir; default: $ESCORT_DATA,\n"
	    "                       else ./escort-data)\n"
	    "  -h, --help           show this help; 'escort audit COMMAND --help' for a command\n\n"
	    "With $ESCORT_STORE set to a postgres:// URL the log lives in that database, shared\n"
	    "by every node; the data directory holds the keys.\n\n"
	    "Exit status: 0 ok, 1 verification failed, refused, or (rescan) something got\n"
	    "worse, 2 usage, 3 error. See escort-audit(1).\n");
}

enum { O_CHECKPOINT = 256, O_PUBKEY, O_FROM, O_TYPE, O_ACTOR, O_DETAILS, O_FORMAT, O_QUIET, O_STRICT };

struct aopts {
	const char *dir;
	const char *checkpoint;
	const char *pubkey;
	const char *from;
	const char *type;
	const char *actor;
	const char *details;
	const char *format;
	int quiet;
	int strict;
	int help;
};

/* Parses the options every audit command shares; returns 0 or an exit code. */
static int
parse_opts(const char *cmd, int argc, char **argv, struct aopts *o)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "checkpoint", required_argument, NULL, O_CHECKPOINT },
		{ "pubkey", required_argument, NULL, O_PUBKEY },
		{ "from", required_argument, NULL, O_FROM },
		{ "type", required_argument, NULL, O_TYPE },
		{ "actor", required_argument, NULL, O_ACTOR },
		{ "details", required_argument, NULL, O_DETAILS },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "strict", no_argument, NULL, O_STRICT },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:hq", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'h': o->help = 1; break;
		case 'q': o->quiet = 1; break;
		case O_CHECKPOINT: o->checkpoint = optarg; break;
		case O_PUBKEY: o->pubkey = optarg; break;
		case O_FROM: o->from = optarg; break;
		case O_TYPE: o->type = optarg; break;
		case O_ACTOR: o->actor = optarg; break;
		case O_DETAILS: o->details = optarg; break;
		case O_FORMAT: o->format = optarg; break;
		case O_STRICT: o->strict = 1; break;
		case ':':
			cli_warnx(SUB, "%s: %s needs an argument", cmd, argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			cli_warnx(SUB, "%s: unknown option %s; see 'escort audit %s --help'", cmd,
			          argv[optind - 1], cmd);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end || x > (unsigned long long)INT64_MAX)
		return -1;
	*v = (uint64_t)x;
	return 0;
}

static int
load_pubkey(const struct aopts *o, const char *dir, audit_pubkey *pk)
{
	char path[4096], err[1024];

	if (o->pubkey)
		snprintf(path, sizeof(path), "%s", o->pubkey);
	else
		snprintf(path, sizeof(path), "%s/%s", dir, AUDIT_PUB_FILE);
	if (audit_pubkey_load(path, pk, err, sizeof(err)) != 0) {
		cli_warnx(SUB, "%s", err);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

static int
print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	if (s == NULL)
		return CLI_EXIT_ERROR;
	printf("%s\n", s);
	free(s);
	return fflush(stdout) == 0 ? 0 : CLI_EXIT_ERROR;
}

/* ---- verify ---- */

struct progress {
	double last;
	int shown;
};

static void
show_progress(void *ctx, uint64_t records, uint64_t bytes)
{
	struct progress *p = ctx;
	struct timespec ts;
	double now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (now - p->last < 0.2)
		return;
	p->last = now;
	p->shown = 1;
	fprintf(stderr, "\rverifying: %" PRIu64 " records, %.1f MiB", records,
	        (double)bytes / (1024.0 * 1024.0));
}

static int
cmd_verify(int argc, char **argv)
{
	struct aopts o = { 0 };
	audit_verify_opts vo;
	audit_verify_result *r = NULL;
	audit_pubkey pk;
	audit_sth cp;
	audit_log *log = NULL;
	audit_opts wo;
	struct progress pr = { 0, 0 };
	char err[4096] = "";
	const char *dir;
	int rc, ret = CLI_EXIT_ERROR, locked = 0;

	if ((rc = parse_opts("verify", argc, argv, &o)) != 0)
		return rc;
	if (o.help) {
		printf("usage: escort audit verify [-d DIR] [--checkpoint FILE] [--pubkey FILE] [--strict]\n"
		       "                           [-q]\n\n"
		       "Recomputes every record's hash and the tree, checks every signed tree head\n"
		       "(signature, root, consistency with the previous one) and, with --checkpoint,\n"
		       "that the log still extends a tree head saved earlier. Names the first bad\n"
		       "record (seq, segment file, offset). When no writer holds the log, a torn\n"
		       "final record left by a crash is removed first (recovery) and reported.\n\n"
		       "  --checkpoint FILE   a tree head saved with 'escort audit checkpoint'\n"
		       "  --pubkey FILE       the public key to trust (default: DIR/signing.pub)\n"
		       "  --strict            also parse every record and require canonical JSON\n"
		       "  -q, --quiet         no progress, no success message\n\n"
		       "Exit status: 0 verified, 1 a problem was found, 2 usage, 3 error.\n");
		return CLI_EXIT_OK;
	}
	if (optind != argc) {
		cli_warnx(SUB, "verify: unexpected argument %s", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	dir = cli_data_dir(o.dir);
	if ((rc = load_pubkey(&o, dir, &pk)) != 0)
		return rc;
	if (o.checkpoint && audit_sth_load(o.checkpoint, &cp, err, sizeof(err)) != 0) {
		cli_warnx(SUB, "verify: %s", err);
		return CLI_EXIT_ERROR;
	}
	/* recovery first, when no writer holds the log and we may write (a log in
	 * PostgreSQL has no torn tail to recover) */
	memset(&wo, 0, sizeof(wo));
	if (audit_backend_url(NULL) == NULL && access(dir, W_OK) == 0) {
		rc = audit_log_open(&log, dir, &wo, err, sizeof(err));
		if (rc == 0) {
			if (*audit_log_recovery(log))
				fprintf(stderr, "escort audit verify: recovery: %s\n", audit_log_recovery(log));
			rc = audit_log_close(log, err, sizeof(err));
			log = NULL;
			if (rc)
				fprintf(stderr, "escort audit verify: recovery: %s\n", err);
		} else if (strstr(err, "in use by another process")) {
			locked = 1;
		} else if (!o.quiet && rc != ESC_EPARSE) {
			fprintf(stderr, "escort audit verify: note: no recovery: %s\n", err);
		}
	}
	memset(&vo, 0, sizeof(vo));
	vo.pubkey = &pk;
	vo.checkpoint = o.checkpoint ? &cp : NULL;
	vo.allow_torn_tail = locked;
	vo.strict = o.strict;
	if (!o.quiet && isatty(STDERR_FILENO)) {
		vo.progress = show_progress;
		vo.ctx = &pr;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto out;
	rc = audit_verify(dir, &vo, r);
	if (pr.shown)
		fprintf(stderr, "\n");
	if (rc) {
		cli_warnx(SUB, "verify: %s", r->msg[0] ? r->msg : esc_strerror(rc));
		goto out;
	}
	if (r->bad) {
		if (r->bad_seq != UINT64_MAX && r->bad_file[0])
			fprintf(stderr, "escort audit verify: FAILED at record %" PRIu64 ", %s offset %"
			        PRIu64 ": %s\n", r->bad_seq, r->bad_file, r->bad_off, r->msg);
		else if (r->bad_seq != UINT64_MAX)
			fprintf(stderr, "escort audit verify: FAILED at record %" PRIu64 ": %s\n",
			        r->bad_seq, r->msg);
		else
			fprintf(stderr, "escort audit verify: FAILED: %s\n", r->msg);
		ret = CLI_EXIT_FINDINGS;
		goto out;
	}
	if (r->note[0])
		fprintf(stderr, "escort audit verify: note: %s\n", r->note);
	if (!o.quiet) {
		char root[65] = "-";

		if (r->have_sth)
			audit_hash_hex(&r->last.root, root);
		printf("ok: %" PRIu64 " records, %" PRIu64 " signed tree heads; newest covers %" PRIu64
		       " records, root %s\n", r->records, r->sths, r->have_sth ? r->last.size : 0, root);
		if (r->unsigned_tail)
			printf("note: %" PRIu64 " records after the newest signed tree head are not signed "
			       "yet\n", r->unsigned_tail);
		if (o.checkpoint)
			printf("ok: the log extends the checkpoint of %" PRIu64 " records\n", cp.size);
	}
	ret = CLI_EXIT_OK;
out:
	free(r);
	return ret;
}

/* ---- checkpoint, pubkey ---- */

static int
open_ro(const char *dir, audit_log **log)
{
	audit_opts ro;
	char err[4096];

	memset(&ro, 0, sizeof(ro));
	ro.readonly = 1;
	if (audit_log_open(log, dir, &ro, err, sizeof(err)) != 0) {
		cli_warnx(SUB, "%s", err);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* The newest signed tree head, checked against the public key. */
static int
latest_sth(audit_log *log, const audit_pubkey *pk, audit_sth *s)
{
	if (audit_log_latest_sth(log, s, NULL) != 0) {
		cli_warnx(SUB, "the log has no signed tree head yet");
		return CLI_EXIT_ERROR;
	}
	if (audit_sth_verify(s, pk) != 0) {
		cli_warnx(SUB, "the newest signed tree head does not verify with the public key; "
		          "run 'escort audit verify'");
		return CLI_EXIT_FINDINGS;
	}
	return 0;
}

static int
cmd_checkpoint(int argc, char **argv)
{
	struct aopts o = { 0 };
	audit_log *log = NULL;
	audit_pubkey pk;
	audit_sth s;
	json_t *j = NULL;
	const char *dir;
	int rc;

	if ((rc = parse_opts("checkpoint", argc, argv, &o)) != 0)
		return rc;
	if (o.help) {
		printf("usage: escort audit checkpoint [-d DIR]\n\n"
		       "Prints the newest signed tree head as JSON (size, root, time, key id,\n"
		       "signature). Keep it somewhere the server's administrators cannot change;\n"
		       "'escort audit verify --checkpoint FILE' later proves the log still extends it.\n");
		return CLI_EXIT_OK;
	}
	if (optind != argc) {
		cli_warnx(SUB, "checkpoint: unexpected argument %s", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	dir = cli_data_dir(o.dir);
	if ((rc = load_pubkey(&o, dir, &pk)) != 0 || (rc = open_ro(dir, &log)) != 0)
		return rc;
	if ((rc = latest_sth(log, &pk, &s)) != 0)
		goto out;
	rc = CLI_EXIT_ERROR;
	if (audit_sth_to_json(&s, &j) == 0)
		rc = print_json(j);
out:
	json_decref(j);
	audit_log_close(log, NULL, 0);
	return rc;
}

static int
cmd_pubkey(int argc, char **argv)
{
	struct aopts o = { 0 };
	audit_pubkey pk;
	buf b = BUF_INIT;
	int rc;

	if ((rc = parse_opts("pubkey", argc, argv, &o)) != 0)
		return rc;
	if (o.help) {
		printf("usage: escort audit pubkey [-d DIR]\n\n"
		       "Prints the audit log's Ed25519 public key as JSON; give it to auditors.\n");
		return CLI_EXIT_OK;
	}
	if (optind != argc) {
		cli_warnx(SUB, "pubkey: unexpected argument %s", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if ((rc = load_pubkey(&o, cli_data_dir(o.dir), &pk)) != 0)
		return rc;
	rc = CLI_EXIT_ERROR;
	if (audit_pubkey_to_json(&pk, &b) == 0 && fwrite(b.data, 1, b.len, stdout) == b.len &&
	    fflush(stdout) == 0)
		rc = 0;
	buf_free(&b);
	return rc;
}

/* ---- prove, check-proof ---- */

static json_t *
path_json(const mt_hash *path, size_t n)
{
	json_t *a = json_array();
	char hex[65];

	for (size_t i = 0; a && i < n; i++) {
		audit_hash_hex(&path[i], hex);
		if (json_array_append_new(a, json_string(hex))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int
cmd_prove(int argc, char **argv)
{
	struct aopts o = { 0 };
	audit_log *log = NULL;
	audit_pubkey pk;
	audit_sth s;
	uint64_t seq = 0, from = 0;
	mt_hash path[MT_MAX_PATH];
	size_t np = 0;
	json_t *out = NULL, *js = NULL, *part;
	buf rec = BUF_INIT;
	const char *dir;
	int rc, have_seq = 0;

	if ((rc = parse_opts("prove", argc, argv, &o)) != 0)
		return rc;
	if (o.help) {
		printf("usage: escort audit prove [-d DIR] SEQ [--from SIZE]\n"
		       "       escort audit prove [-d DIR] --from SIZE\n\n"
		       "Prints a proof against the newest signed tree head, as JSON: that record SEQ\n"
		       "is in the log (inclusion: the record and its audit path), and/or that the log\n"
		       "of SIZE records an auditor saw earlier is a prefix of today's (consistency).\n"
		       "Check it with 'escort audit check-proof'.\n");
		return CLI_EXIT_OK;
	}
	if (optind + 1 == argc) {
		if (parse_u64(argv[optind], &seq)) {
			cli_warnx(SUB, "prove: SEQ must be a record number, not %s", argv[optind]);
			return CLI_EXIT_USAGE;
		}
		have_seq = 1;
	} else if (optind != argc || !o.from) {
		cli_warnx(SUB, "prove: expected SEQ and/or --from SIZE; see 'escort audit prove --help'");
		return CLI_EXIT_USAGE;
	}
	if (o.from && (parse_u64(o.from, &from) || from == 0)) {
		cli_warnx(SUB, "prove: --from needs a tree size of at least 1, not %s", o.from);
		return CLI_EXIT_USAGE;
	}
	dir = cli_data_dir(o.dir);
	if ((rc = load_pubkey(&o, dir, &pk)) != 0 || (rc = open_ro(dir, &log)) != 0)
		return rc;
	if ((rc = latest_sth(log, &pk, &s)) != 0)
		goto out;
	rc = CLI_EXIT_FINDINGS;
	if (have_seq && seq >= s.size) {
		cli_warnx(SUB, "prove: record %" PRIu64 " is not covered by the newest signed tree "
		          "head (%" PRIu64 " records)", seq, s.size);
		goto out;
	}
	if (o.from && from > s.size) {
		cli_warnx(SUB, "prove: --from %" PRIu64 " is beyond the newest signed tree head (%"
		          PRIu64 " records)", from, s.size);
		goto out;
	}
	rc = CLI_EXIT_ERROR;
	if (audit_sth_to_json(&s, &js) != 0 || (out = json_object()) == NULL ||
	    json_object_set(out, "sth", js) != 0)
		goto out;
	if (have_seq) {
		if (audit_log_read(log, seq, &rec) != 0 ||
		    audit_log_inclusion(log, seq, s.size, path, &np) != 0) {
			cli_warnx(SUB, "prove: %s", *audit_log_error(log) ? audit_log_error(log)
			          : "the stored tree does not cover this size; run 'escort audit verify'");
			goto out;
		}
		part = json_pack("{s:I, s:s%, s:o?}", "seq", (json_int_t)seq, "record",
		                 (const char *)rec.data, rec.len, "path", path_json(path, np));
		if (part == NULL || json_object_set_new(out, "inclusion", part) != 0)
			goto out;
	}
	if (o.from) {
		if (audit_log_consistency(log, from, s.size, path, &np) != 0) {
			cli_warnx(SUB, "prove: cannot build the consistency proof: %s",
			          *audit_log_error(log) ? audit_log_error(log)
			          : "the stored tree does not cover this size; run 'escort audit verify'");
			goto out;
		}
		part = json_pack("{s:I, s:o?}", "from_size", (json_int_t)from, "path",
		                 path_json(path, np));
		if (part == NULL || json_object_set_new(out, "consistency", part) != 0)
			goto out;
	}
	rc = print_json(out);
out:
	buf_free(&rec);
	json_decref(js);
	json_decref(out);
	audit_log_close(log, NULL, 0);
	return rc;
}

static int
read_path(json_t *a, mt_hash *path, size_t *n)
{
	size_t i;

	if (!json_is_array(a) || json_array_size(a) > MT_MAX_PATH)
		return -1;
	for (i = 0; i < json_array_size(a); i++) {
		const char *h = json_string_value(json_array_get(a, i));
		if (h == NULL || audit_hash_unhex(h, &path[i]) != 0)
			return -1;
	}
	*n = i;
	return 0;
}

static int
cmd_check_proof(int argc, char **argv)
{
	struct aopts o = { 0 };
	audit_pubkey pk;
	audit_sth s, cp;
	json_t *j = NULL, *inc, *con;
	json_error_t jerr;
	mt_hash path[MT_MAX_PATH], leaf;
	size_t np = 0;
	char err[4096];
	const char *file;
	int rc;

	if ((rc = parse_opts("check-proof", argc, argv, &o)) != 0)
		return rc;
	if (o.help) {
		printf("usage: escort audit check-proof [--pubkey FILE] [--checkpoint FILE] PROOF\n\n"
		       "Checks a proof made by 'escort audit prove' (PROOF is a file, - for standard\n"
		       "input) with nothing but the public key: the tree head's signature, that the\n"
		       "record is in the tree (inclusion) and, with --checkpoint, that the tree head\n"
		       "saved earlier is a prefix of the proof's (consistency). This is what an\n"
		       "outside auditor runs; no access to the server is needed.\n\n"
		       "  --pubkey FILE       the log's public key (default: DIR/signing.pub)\n"
		       "  --checkpoint FILE   a tree head saved earlier\n\n"
		       "Exit status: 0 the proof holds, 1 it does not, 2 usage, 3 error.\n");
		return CLI_EXIT_OK;
	}
	if (optind + 1 != argc) {
		cli_warnx(SUB, "check-proof: expected one PROOF file; see 'escort audit check-proof "
		          "--help'");
		return CLI_EXIT_USAGE;
	}
	file = argv[optind];
	if ((rc = load_pubkey(&o, cli_data_dir(o.dir), &pk)) != 0)
		return rc;
	if (o.checkpoint && audit_sth_load(o.checkpoint, &cp, err, sizeof(err)) != 0) {
		cli_warnx(SUB, "check-proof: %s", err);
		return CLI_EXIT_ERROR;
	}
	if (strcmp(file, "-") == 0)
		j = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	else
		j = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		cli_warnx(SUB, "check-proof: %s:%d:%d: %s", file, jerr.line, jerr.column, jerr.text);
		return CLI_EXIT_ERROR;
	}
	rc = CLI_EXIT_FINDINGS;
	if (audit_sth_from_json(json_object_get(j, "sth"), &s) != 0) {
		cli_warnx(SUB, "check-proof: %s: no valid \"sth\" (signed tree head)", file);
		goto out;
	}
	if (audit_sth_verify(&s, &pk) != 0) {
		cli_warnx(SUB, "check-proof: FAILED: the tree head's signature does not verify with "
		          "the public key");
		goto out;
	}
	if (o.checkpoint && audit_sth_verify(&cp, &pk) != 0) {
		cli_warnx(SUB, "check-proof: FAILED: the checkpoint's signature does not verify with "
		          "the public key");
		goto out;
	}
	inc = json_object_get(j, "inclusion");
	con = json_object_get(j, "consistency");
	if (!inc && !con) {
		cli_warnx(SUB, "check-proof: %s: neither an inclusion nor a consistency proof", file);
		goto out;
	}
	if (inc) {
		json_t *jseq = json_object_get(inc, "seq"), *jrec = json_object_get(inc, "record");
		audit_event ev;
		uint64_t seq;

		if (!json_is_integer(jseq) || json_integer_value(jseq) < 0 || !json_is_string(jrec) ||
		    read_path(json_object_get(inc, "path"), path, &np) != 0) {
			cli_warnx(SUB, "check-proof: %s: malformed inclusion proof", file);
			goto out;
		}
		seq = (uint64_t)json_integer_value(jseq);
		if (audit_event_parse(json_string_value(jrec), json_string_length(jrec), &ev, err,
		                      sizeof(err)) != 0) {
			cli_warnx(SUB, "check-proof: FAILED: %s", err);
			goto out;
		}
		if (ev.seq != seq) {
			audit_event_free(&ev);
			cli_warnx(SUB, "check-proof: FAILED: the record carries seq %" PRIu64
			          ", the proof claims %" PRIu64, ev.seq, seq);
			goto out;
		}
		audit_event_free(&ev);
		if (mt_leaf_hash(json_string_value(jrec), json_string_length(jrec), &leaf) != 0 ||
		    mt_verify_inclusion(&leaf, seq, s.size, path, np, &s.root) != 0) {
			cli_warnx(SUB, "check-proof: FAILED: record %" PRIu64 " is not proven to be in the "
			          "signed tree of %" PRIu64 " records", seq, s.size);
			goto out;
		}
		printf("ok: record %" PRIu64 " is in the signed log of %" PRIu64 " records\n", seq,
		       s.size);
	}
	if (con) {
		json_t *jf = json_object_get(con, "from_size");

		if (!json_is_integer(jf) || json_integer_value(jf) < 1 ||
		    read_path(json_object_get(con, "path"), path, &np) != 0) {
			cli_warnx(SUB, "check-proof: %s: malformed consistency proof", file);
			goto out;
		}
		if (!o.checkpoint) {
			cli_warnx(SUB, "check-proof: a consistency proof needs the --checkpoint it starts "
			          "from");
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		if ((uint64_t)json_integer_value(jf) != cp.size) {
			cli_warnx(SUB, "check-proof: the proof starts at %" PRIu64 " records, the "
			          "checkpoint has %" PRIu64, (uint64_t)json_integer_value(jf), cp.size);
			goto out;
		}
		if (mt_verify_consistency(cp.size, s.size, &cp.root, &s.root, path, np) != 0) {
			cli_warnx(SUB, "check-proof: FAILED: the log of %" PRIu64 " records does not "
			          "extend the checkpoint of %" PRIu64 " records", s.size, cp.size);
			goto out;
		}
		printf("ok: the signed log of %" PRIu64 " records extends the checkpoint of %" PRIu64
		       " records\n", s.size, cp.size);
	} else if (o.checkpoint) {
		if (cp.size != s.size || !mt_hash_eq(&cp.root, &s.root)) {
			cli_warnx(SUB, "check-proof: FAILED: the checkpoint (%" PRIu64 " records) is not "
			          "the proof's tree head (%" PRIu64 " records); ask for 'prove --from %"
			          PRIu64 "'", cp.size, s.size, cp.size);
			goto out;
		}
	}
	rc = CLI_EXIT_OK;
out:
	json_decref(j);
	return rc;
}

/* ---- append, export ---- */

static int
cmd_append(int argc, char **argv)
{
	struct aopts o = { 0 };
	audit_log *log = NULL;
	audit_opts wo;
	json_t *det = NULL;
	json_error_t jerr;
	char err[4096];
	uint64_t seq;
	int rc;

	if ((rc = parse_opts("append", argc, argv, &o)) != 0)
		return rc;
	if (o.help) {
		printf("usage: escort audit append [-d DIR] --type TYPE --actor ACTOR [--details JSON]\n\n"
		       "Appends one event and prints its seq once it is durable. For administration\n"
		       "and testing; escort's own components record their events themselves. TYPE is\n"
		       "[a-z0-9._-]+ ('sth' is reserved), DETAILS a JSON object.\n");
		return CLI_EXIT_OK;
	}
	if (optind != argc || !o.type || !o.actor) {
		cli_warnx(SUB, "append: needs --type and --actor; see 'escort audit append --help'");
		return CLI_EXIT_USAGE;
	}
	if (!audit_type_valid(o.type) || strcmp(o.type, AUDIT_TYPE_STH) == 0) {
		cli_warnx(SUB, "append: --type %s: expected [a-z0-9._-]+, not 'sth'", o.type);
		return CLI_EXIT_USAGE;
	}
	if (o.actor[0] == '\0' || strlen(o.actor) > AUDIT_ACTOR_MAX) {
		cli_warnx(SUB, "append: --actor must be 1 to %d bytes", AUDIT_ACTOR_MAX);
		return CLI_EXIT_USAGE;
	}
	det = o.details ? json_loads(o.details, JSON_REJECT_DUPLICATES, &jerr) : json_object();
	if (!json_is_object(det)) {
		cli_warnx(SUB, "append: --details must be a JSON object%s%s",
		          det ? "" : ": ", det ? "" : jerr.text);
		json_decref(det);
		return CLI_EXIT_USAGE;
	}
	memset(&wo, 0, sizeof(wo));
	wo.lock_wait_ms = 10000;
	rc = CLI_EXIT_ERROR;
	if (audit_log_open(&log, cli_data_dir(o.dir), &wo, err, sizeof(err)) != 0) {
		cli_warnx(SUB, "append: %s", err);
		goto out;
	}
	if (*audit_log_recovery(log))
		fprintf(stderr, "escort audit append: recovery: %s\n", audit_log_recovery(log));
	if (audit_log_append(log, o.type, o.actor, det, &seq) != 0) {
		cli_warnx(SUB, "append: %s", audit_log_error(log));
		goto out;
	}
	printf("%" PRIu64 "\n", seq);
	fflush(stdout);
	rc = audit_log_close(log, err, sizeof(err));
	log = NULL;
	if (rc) {
		cli_warnx(SUB, "append: %s", err);
		rc = CLI_EXIT_ERROR;
	}
out:
	audit_log_close(log, NULL, 0);
	json_decref(det);
	return rc;
}

/* ---- export, search ---- */

enum fmt { FMT_JSONL, FMT_SYSLOG, FMT_CEF };

/* CEF: header fields escape | and \, extension values escape = and \ and line breaks */
static int
cef_put(buf *o, const char *s, int header)
{
	int rc = 0;

	for (; *s && rc == 0; s++) {
		if (*s == '\\' || (header && *s == '|') || (!header && *s == '='))
			rc = buf_putc(o, '\\');
		if (rc)
			break;
		if (*s == '\n')
			rc = buf_puts(o, "\\n");
		else if (*s == '\r')
			rc = buf_puts(o, "\\r");
		else
			rc = buf_putc(o, (unsigned char)*s);
	}
	return rc;
}

/* RFC 5424 structured-data parameter values escape ", \ and ] */
static int
sd_put(buf *o, const char *s)
{
	int rc = 0;

	for (; *s && rc == 0; s++) {
		if (*s == '"' || *s == '\\' || *s == ']')
			rc = buf_putc(o, '\\');
		if (rc == 0)
			rc = buf_putc(o, (unsigned char)*s);
	}
	return rc;
}

/* Formats one record as one message (no line ending) into o. Every format carries the
 * record's sequence number and its Merkle leaf hash (SHA-256(0x00 || record), RFC 6962), so
 * a SIEM's copy can be checked against the log and 'escort audit prove': jsonl is the
 * record as stored (it holds "seq"; its leaf hash is that of the line's bytes), syslog puts
 * both in structured data, CEF in cs1/cs2. */
static int
format_rec(enum fmt f, const buf *rec, const char *host, buf *o)
{
	audit_event ev;
	mt_hash leaf;
	char lhex[2 * MT_HASH_LEN + 1];
	char *det;
	int sev, rc = 0;

	o->len = 0;
	if (f == FMT_JSONL)
		return buf_put(o, rec->data, rec->len) ? -1 : 0;
	if (audit_event_parse(rec->data, rec->len, &ev, NULL, 0) != 0)
		return -1;
	if (mt_leaf_hash(rec->data, rec->len, &leaf) != 0) {
		audit_event_free(&ev);
		return -1;
	}
	audit_hash_hex(&leaf, lhex);
	det = json_dumps(ev.details, JSON_COMPACT | JSON_SORT_KEYS);
	if (det == NULL) {
		audit_event_free(&ev);
		return -1;
	}
	/* tree heads and denials are notices; everything else informational */
	sev = strcmp(ev.type, AUDIT_TYPE_STH) == 0 ? 5 : 6;
	if (f == FMT_SYSLOG) {
		char t[32];

		audit_time_format(ev.time_us, t, sizeof(t));
		/* facility authpriv (10): these are access records */
		rc |= buf_printf(o, "<%d>1 %s %s escort - %s [escort@32473 seq=\"%" PRIu64
		                 "\" actor=\"", 10 * 8 + sev, t, host, ev.type, ev.seq);
		rc |= sd_put(o, ev.actor);
		rc |= buf_printf(o, "\" leaf=\"%s\"] ", lhex);
		rc |= buf_put(o, rec->data, rec->len);
	} else {
		rc |= buf_printf(o, "CEF:0|escort|escort|%s|", ESCORT_VERSION);
		rc |= cef_put(o, ev.type, 1);
		rc |= buf_putc(o, '|');
		rc |= cef_put(o, ev.type, 1);
		rc |= buf_printf(o, "|%d|rt=%" PRId64 " cs1Label=seq cs1=%" PRIu64
		                 " cs2Label=leaf cs2=%s suser=", sev == 5 ? 3 : 1,
		                 ev.time_us / 1000, ev.seq, lhex);
		rc |= cef_put(o, ev.actor, 0);
		rc |= buf_puts(o, " msg=");
		rc |= cef_put(o, det, 0);
	}
	free(det);
	audit_event_free(&ev);
	return rc ? -1 : 0;
}

/* Where export sends its messages: standard output (one per line) or a syslog
 * receiver: a Unix datagram socket, UDP (one message per datagram) or TCP (octet-counting
 * framing, RFC 6587 section 3.4.1: "LEN SP MSG"). */
enum sink_kind { SINK_STDOUT, SINK_UNIX, SINK_UDP, SINK_TCP };

struct sink {
	enum sink_kind kind;
	const char *spec;           /* as given to --to */
	int fd;
	struct sockaddr_storage ss; /* UDP / TCP peer */
	socklen_t sslen;
	struct sockaddr_un sun;     /* Unix socket path */
	int stream;                 /* a Unix stream socket: framed like TCP */
	buf frame;
};

/* Parses --to: unix:/PATH, udp:HOST:PORT, tcp:HOST:PORT (HOST may be [v6]). */
static int
sink_parse(struct sink *s, const char *spec)
{
	char host[256];
	const char *rest, *colon, *hs, *he;
	struct addrinfo hints, *ai = NULL;
	int e;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->spec = spec;
	if (spec == NULL) {
		s->kind = SINK_STDOUT;
		return 0;
	}
	if (strncmp(spec, "unix:", 5) == 0) {
		rest = spec + 5;
		if (*rest == '\0' || strlen(rest) >= sizeof(s->sun.sun_path)) {
			cli_warnx(SUB, "export: --to %s: the socket path is empty or too long", spec);
			return -1;
		}
		s->kind = SINK_UNIX;
		s->sun.sun_family = AF_UNIX;
		memcpy(s->sun.sun_path, rest, strlen(rest) + 1);
		return 0;
	}
	if (strncmp(spec, "udp:", 4) == 0)
		s->kind = SINK_UDP;
	else if (strncmp(spec, "tcp:", 4) == 0)
		s->kind = SINK_TCP;
	else {
		cli_warnx(SUB, "export: --to %s: expected unix:/PATH, udp:HOST:PORT or tcp:HOST:PORT",
		          spec);
		return -1;
	}
	rest = spec + 4;
	if ((colon = strrchr(rest, ':')) == NULL || colon[1] == '\0') {
		cli_warnx(SUB, "export: --to %s: no port", spec);
		return -1;
	}
	hs = rest;
	he = colon;
	if (*hs == '[' && he > hs + 1 && he[-1] == ']') {
		hs++;
		he--;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(host)) {
		cli_warnx(SUB, "export: --to %s: no host", spec);
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = s->kind == SINK_UDP ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((e = getaddrinfo(host, colon + 1, &hints, &ai)) != 0 || ai == NULL) {
		cli_warnx(SUB, "export: --to %s: %s", spec, gai_strerror(e));
		return -1;
	}
	memcpy(&s->ss, ai->ai_addr, ai->ai_addrlen);
	s->sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int
sink_connect(struct sink *s)
{
	int fam, type;

	if (s->kind == SINK_STDOUT || s->fd >= 0)
		return 0;
	fam = s->kind == SINK_UNIX ? AF_UNIX : s->ss.ss_family;
	type = s->kind == SINK_TCP || s->stream ? SOCK_STREAM : SOCK_DGRAM;
	if ((s->fd = socket(fam, type | SOCK_CLOEXEC, 0)) < 0) {
		cli_warnx(SUB, "export: --to %s: socket: %s", s->spec, strerror(errno));
		return -1;
	}
	/* connected even for datagrams, so an absent receiver is reported (ECONNREFUSED) */
	if (s->kind == SINK_UNIX ? connect(s->fd, (struct sockaddr *)&s->sun, sizeof(s->sun))
	                         : connect(s->fd, (struct sockaddr *)&s->ss, s->sslen)) {
		/* a Unix stream socket (some syslog daemons): octet-counted like TCP */
		if (s->kind == SINK_UNIX && !s->stream && errno == EPROTOTYPE) {
			close(s->fd);
			s->fd = -1;
			s->stream = 1;
			return sink_connect(s);
		}
		cli_warnx(SUB, "export: --to %s: %s", s->spec, strerror(errno));
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	return 0;
}

static void
sink_close(struct sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	buf_free(&s->frame);
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends one message. A datagram too large for the transport is skipped with a warning
 * naming its seq (the receiver sees the gap); a broken TCP connection is reopened once. */
static int
sink_send(struct sink *s, const buf *msg, uint64_t seq)
{
	int tries;

	if (s->kind == SINK_STDOUT) {
		fwrite(msg->data, 1, msg->len, stdout);
		putchar('\n');
		return ferror(stdout) ? -1 : 0;
	}
	for (tries = 0; tries < 2; tries++) {
		if (sink_connect(s) != 0)
			return -1;
		if (s->kind == SINK_TCP || s->stream) {
			s->frame.len = 0;
			if (buf_printf(&s->frame, "%zu ", msg->len) != 0 ||
			    buf_put(&s->frame, msg->data, msg->len) != 0)
				return -1;
			if (write_all(s->fd, s->frame.data, s->frame.len) == 0)
				return 0;
		} else {
			ssize_t w;

			do
				w = send(s->fd, msg->data, msg->len, MSG_NOSIGNAL);
			while (w < 0 && errno == EINTR);
			if (w >= 0)
				return 0;
			if (errno == EMSGSIZE) {
				cli_warnx(SUB, "export: record %" PRIu64 " (%zu bytes) is too large for a "
				          "datagram to %s; skipped", seq, msg->len, s->spec);
				return 0;
			}
		}
		cli_warnx(SUB, "export: --to %s: %s", s->spec, strerror(errno));
		close(s->fd);
		s->fd = -1;
	}
	return -1;
}

struct filter {
	const char *since, *until, *actor, *type, *text;
	const char *wkey, *wval; /* --where KEY=VALUE on a top-level details member */
	/* request-level conditions: --category, --risk-min (on request.analyzed), --target (on
	 * request.created), --request; a record matches when its details.request is one of
	 * the requests that meet them all (ids, sorted) */
	const char *category, *target;
	int risk_min; /* -1: none */
	int have_request;
	int64_t request;
	int by_request;
	int64_t *ids;
	size_t nids;
};

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct idset {
	int64_t *v;
	size_t n, cap;
};

static int
idset_add(struct idset *s, int64_t id)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		int64_t *nv = realloc(s->v, cap * sizeof(*nv));

		if (nv == NULL)
			return ESC_ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = id;
	return 0;
}

static void
idset_sort(struct idset *s)
{
	size_t i, k = 0;

	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_i64);
	for (i = 1; i < s->n; i++)
		if (s->v[i] != s->v[k])
			s->v[++k] = s->v[i];
	s->n = k + 1;
}

static int
idset_has(const int64_t *v, size_t n, int64_t id)
{
	return n && bsearch(&id, v, n, sizeof(*v), cmp_i64) != NULL;
}

/* First pass for the request-level conditions: which requests were created on --target,
 * and which were analyzed at --risk-min or above with --category. */
static int
collect_requests(const char *dir, struct filter *fl)
{
	struct idset tm = { 0 }, am = { 0 }, res = { 0 };
	audit_iter it;
	const uint8_t *p;
	size_t len, i;
	uint64_t seq, pseq;
	char err[1024], type[AUDIT_TYPE_MAX + 1];
	int rc, e;

	if ((e = audit_iter_open(&it, dir, err, sizeof(err))) != 0) {
		if (e == ESC_ENOENT)
			cli_warnx(SUB, "search: no audit log at %s/%s (run 'escort init')", dir,
			          AUDIT_SUBDIR);
		else
			cli_warnx(SUB, "search: %s", err);
		return CLI_EXIT_ERROR;
	}
	rc = CLI_EXIT_ERROR;
	while ((e = audit_iter_next(&it, &p, &len, &seq)) == 0) {
		int created, analyzed;
		json_t *root, *det, *jid;

		if (audit_event_peek(p, len, &pseq, type) != 0)
			continue;
		created = fl->target && strcmp(type, "request.created") == 0;
		analyzed = (fl->category || fl->risk_min >= 0) && strcmp(type, "request.analyzed") == 0;
		if (!created && !analyzed)
			continue;
		if ((root = json_loadb((const char *)p, len, 0, NULL)) == NULL)
			continue;
		det = json_object_get(root, "details");
		jid = json_object_get(det, "request");
		e = 0;
		if (json_is_integer(jid) && created) {
			const char *t = json_string_value(json_object_get(det, "target"));

			if (t && strcmp(t, fl->target) == 0)
				e = idset_add(&tm, json_integer_value(jid));
		} else if (json_is_integer(jid)) {
			const char *risk = json_string_value(json_object_get(det, "risk"));
			json_t *cats = json_object_get(det, "categories"), *c;
			int ok = 1;

			if (fl->risk_min >= 0)
				ok = risk && cli_parse_risk(risk) >= fl->risk_min;
			if (ok && fl->category) {
				ok = 0;
				json_array_foreach(cats, i, c)
					if (json_is_string(c) && strcmp(json_string_value(c), fl->category) == 0)
						ok = 1;
			}
			if (ok)
				e = idset_add(&am, json_integer_value(jid));
		}
		json_decref(root);
		if (e) {
			cli_warnx(SUB, "search: %s", esc_strerror(e));
			goto out;
		}
	}
	if (e < 0) {
		cli_warnx(SUB, "search: %s", it.err);
		goto out;
	}
	idset_sort(&tm);
	idset_sort(&am);
	if (fl->target && (fl->category || fl->risk_min >= 0)) {
		for (i = 0; i < tm.n; i++)
			if (idset_has(am.v, am.n, tm.v[i]) && (e = idset_add(&res, tm.v[i])) != 0)
				goto out;
	} else if (fl->target || fl->category || fl->risk_min >= 0) {
		res = fl->target ? tm : am;
		if (fl->target)
			tm.v = NULL;
		else
			am.v = NULL;
	}
	if (fl->have_request) {
		int keep = !(fl->target || fl->category || fl->risk_min >= 0) ||
		           idset_has(res.v, res.n, fl->request);

		res.n = 0;
		if (keep && (e = idset_add(&res, fl->request)) != 0)
			goto out;
	}
	fl->ids = res.v;
	fl->nids = res.n;
	res.v = NULL;
	rc = 0;
out:
	free(tm.v);
	free(am.v);
	free(res.v);
	audit_iter_close(&it);
	return rc;
}

static int
matches(const struct filter *fl, const buf *rec)
{
	audit_event ev;
	char t[32];
	int ok = 1;

	if (fl->text && strcasestr((const char *)rec->data, fl->text) == NULL)
		return 0;
	if (!fl->since && !fl->until && !fl->actor && !fl->type && !fl->wkey && !fl->by_request)
		return 1;
	if (audit_event_parse(rec->data, rec->len, &ev, NULL, 0) != 0)
		return 0;
	audit_time_format(ev.time_us, t, sizeof(t));
	/* canonical times are fixed-width ISO 8601, so string order is time order */
	if (fl->since && strcmp(t, fl->since) < 0)
		ok = 0;
	if (fl->until && strcmp(t, fl->until) >= 0)
		ok = 0;
	if (fl->actor && strcmp(ev.actor, fl->actor) != 0)
		ok = 0;
	if (fl->type && strcmp(ev.type, fl->type) != 0)
		ok = 0;
	if (ok && fl->by_request) {
		json_t *id = json_object_get(ev.details, "request");

		ok = json_is_integer(id) && idset_has(fl->ids, fl->nids, json_integer_value(id));
	}
	if (ok && fl->wkey) {
		json_t *v = json_object_get(ev.details, fl->wkey);
		char num[32];

		if (json_is_string(v))
			ok = strcmp(json_string_value(v), fl->wval) == 0;
		else if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			ok = strcmp(num, fl->wval) == 0;
		} else if (json_is_boolean(v))
			ok = strcmp(json_is_true(v) ? "true" : "false", fl->wval) == 0;
		else
			ok = 0;
	}
	audit_event_free(&ev);
	return ok;
}

/* Prints records [*from, size) that pass the filter; *from advances. */
static int
emit_range(const char *dir, uint64_t *from, enum fmt f, const struct filter *fl, const char *host,
           uint64_t *left, struct sink *sk)
{
	audit_log *log = NULL;
	buf rec = BUF_INIT, msg = BUF_INIT;
	uint64_t n, i;
	int rc;

	if ((rc = open_ro(dir, &log)) != 0)
		return rc;
	n = audit_log_size(log);
	for (i = *from; i < n && *left > 0; i++) {
		if (audit_log_read(log, i, &rec) != 0) {
			cli_warnx(SUB, "%s", audit_log_error(log));
			rc = CLI_EXIT_ERROR;
			goto out;
		}
		if (!matches(fl, &rec))
			continue;
		if (format_rec(f, &rec, host, &msg) != 0) {
			cli_warnx(SUB, "record %" PRIu64 " is not a valid record; run 'escort audit verify'",
			          i);
			rc = CLI_EXIT_ERROR;
			goto out;
		}
		if (sink_send(sk, &msg, i) != 0) {
			rc = CLI_EXIT_ERROR;
			goto out;
		}
		(*left)--;
	}
	*from = i;
	if (fflush(stdout) != 0)
		rc = CLI_EXIT_ERROR;
out:
	buf_free(&rec);
	buf_free(&msg);
	audit_log_close(log, NULL, 0);
	return rc;
}

static int
run_listing(const char *cmd, int argc, char **argv, int search)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' },
		{ "follow", no_argument, NULL, 'F' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "actor", required_argument, NULL, 'a' },
		{ "type", required_argument, NULL, 't' },
		{ "text", required_argument, NULL, 'x' },
		{ "where", required_argument, NULL, 'w' },
		{ "limit", required_argument, NULL, 'n' },
		{ "category", required_argument, NULL, 'C' },
		{ "risk-min", required_argument, NULL, 'R' },
		{ "request", required_argument, NULL, 'Q' },
		{ "target", required_argument, NULL, 'T' },
		{ "to", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct filter fl;
	struct sink sk;
	const char *to = NULL;
	uint64_t reqid;
	const char *dir = NULL, *format = "jsonl";
	char host[256], *eq, *wcopy = NULL;
	uint64_t from = 0, left = UINT64_MAX;
	enum fmt f;
	int c, follow = 0, rc;

	memset(&fl, 0, sizeof(fl));
	fl.risk_min = -1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f': format = optarg; break;
		case 'F': follow = 1; break;
		case 'o': to = optarg; break;
		case 's': fl.since = optarg; break;
		case 'u': fl.until = optarg; break;
		case 'a': fl.actor = optarg; break;
		case 't': fl.type = optarg; break;
		case 'x': fl.text = optarg; break;
		case 'w': fl.wkey = optarg; break;
		case 'C': fl.category = optarg; break;
		case 'T': fl.target = optarg; break;
		case 'R':
			if ((fl.risk_min = cli_parse_risk(optarg)) < 0) {
				cli_warnx(SUB, "%s: --risk-min %s: expected none, low, medium, high or "
				          "critical", cmd, optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'Q':
			if (parse_u64(optarg, &reqid)) {
				cli_warnx(SUB, "%s: --request needs a request id, not %s", cmd, optarg);
				return CLI_EXIT_USAGE;
			}
			fl.have_request = 1;
			fl.request = (int64_t)reqid;
			break;
		case 'n':
			if (parse_u64(optarg, &left)) {
				cli_warnx(SUB, "%s: --limit needs a number, not %s", cmd, optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			if (search)
				printf("usage: escort audit search [-d DIR] [--since TIME] [--until TIME]\n"
				       "       [--actor A] [--type T] [--where KEY=VALUE] [--text STR]\n"
				       "       [--request ID] [--target T] [--category C] [--risk-min R]\n"
				       "       [--limit N] [--format jsonl|syslog|cef]\n\n"
				       "Prints the records that match every condition given. TIME is UTC in\n"
				       "the records' form or a prefix of it (2026-11-25, 2026-11-25T07:30);\n"
				       "--since is inclusive, --until exclusive. --where matches a top-level\n"
				       "member of details; --text is a case-insensitive substring of the record.\n\n"
				       "Request conditions select whole requests and print every event of\n"
				       "theirs (created, analyzed, decided, approvals, execution...):\n"
				       "  --request ID     that request\n"
				       "  --target T       requests created for target T\n"
				       "  --category C     requests whose analysis (request.analyzed) has\n"
				       "                   category C\n"
				       "  --risk-min R     requests analyzed at risk R or higher (none, low,\n"
				       "                   medium, high, critical)\n");
			else
				printf("usage: escort audit export [-d DIR] [--format jsonl|syslog|cef] "
				       "[--follow]\n"
				       "       [--to unix:/PATH|udp:HOST:PORT|tcp:HOST:PORT]\n\n"
				       "Prints every record: jsonl (as stored), syslog (RFC 5424, facility\n"
				       "authpriv) or cef (ArcSight CEF), each with its seq and leaf hash.\n"
				       "--follow keeps printing new records as they are appended, for a SIEM\n"
				       "forwarder. --to sends each record as one message to a syslog receiver\n"
				       "instead: a Unix datagram socket, UDP (a datagram each), or TCP or a\n"
				       "Unix stream socket (octet-counting framing, RFC 6587).\n");
			return CLI_EXIT_OK;
		case ':':
			cli_warnx(SUB, "%s: %s needs an argument", cmd, argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			cli_warnx(SUB, "%s: unknown option %s; see 'escort audit %s --help'", cmd,
			          argv[optind - 1], cmd);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_warnx(SUB, "%s: unexpected argument %s", cmd, argv[optind]);
		return CLI_EXIT_USAGE;
	}
	fl.by_request = fl.category || fl.target || fl.risk_min >= 0 || fl.have_request;
	if (!search && (fl.since || fl.until || fl.actor || fl.type || fl.text || fl.wkey ||
	                fl.by_request)) {
		cli_warnx(SUB, "export: filters belong to 'escort audit search'");
		return CLI_EXIT_USAGE;
	}
	if (search && (follow || to)) {
		cli_warnx(SUB, "search: --follow and --to are export options");
		return CLI_EXIT_USAGE;
	}
	if (sink_parse(&sk, to) != 0)
		return CLI_EXIT_USAGE;
	if (strcmp(format, "jsonl") == 0)
		f = FMT_JSONL;
	else if (strcmp(format, "syslog") == 0)
		f = FMT_SYSLOG;
	else if (strcmp(format, "cef") == 0)
		f = FMT_CEF;
	else {
		cli_warnx(SUB, "%s: --format %s: expected jsonl, syslog or cef", cmd, format);
		return CLI_EXIT_USAGE;
	}
	if (fl.wkey) {
		wcopy = strdup(fl.wkey);
		if (wcopy == NULL)
			return CLI_EXIT_ERROR;
		eq = strchr(wcopy, '=');
		if (eq == NULL || eq == wcopy) {
			cli_warnx(SUB, "search: --where needs KEY=VALUE, not %s", fl.wkey);
			free(wcopy);
			return CLI_EXIT_USAGE;
		}
		*eq = '\0';
		fl.wkey = wcopy;
		fl.wval = eq + 1;
	}
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "-");
	host[sizeof(host) - 1] = '\0';
	dir = cli_data_dir(dir);
	if (fl.by_request && (rc = collect_requests(dir, &fl)) != 0) {
		free(wcopy);
		return rc;
	}
	/* the receiver is reached before anything is read: a typo in --to fails at once */
	if (sink_connect(&sk) != 0) {
		free(fl.ids);
		free(wcopy);
		return CLI_EXIT_ERROR;
	}
	for (;;) {
		rc = emit_range(dir, &from, f, &fl, host, &left, &sk);
		if (rc || !follow)
			break;
		usleep(500 * 1000);
	}
	sink_close(&sk);
	free(fl.ids);
	free(wcopy);
	return rc;
}

static int
cmd_export(int argc, char **argv)
{
	return run_listing("export", argc, argv, 0);
}

static int
cmd_search(int argc, char **argv)
{
	return run_listing("search", argc, argv, 1);
}

/* ---- rescan: today's lockbox over every command the log recorded ---- */

/* A set of category names (small: the vocabulary has fewer than 40). */
struct cats {
	char **v;
	size_t n;
};

static int
cats_has(const struct cats *c, const char *s)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i], s) == 0)
			return 1;
	return 0;
}

static int
cats_add(struct cats *c, const char *s)
{
	char **nv;

	if (cats_has(c, s))
		return 0;
	if ((nv = realloc(c->v, (c->n + 1) * sizeof(*nv))) == NULL)
		return ESC_ENOMEM;
	c->v = nv;
	if ((c->v[c->n] = strdup(s)) == NULL)
		return ESC_ENOMEM;
	c->n++;
	return 0;
}

static void
cats_free(struct cats *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

/* Adds the string members of a JSON array (others are ignored). */
static int
cats_from_json(struct cats *c, const json_t *a)
{
	size_t i;
	json_t *v;
	int rc;

	json_array_foreach(a, i, v) {
		if (json_is_string(v) && (rc = cats_add(c, json_string_value(v))) != 0)
			return rc;
	}
	return 0;
}

static json_t *
cats_json(const struct cats *c)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < c->n; i++)
		if (json_array_append_new(a, json_string(c->v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* One command of a request and what today's rules make of it. */
struct rs_cmd {
	unsigned char *bytes;
	size_t len;
	int risk;
	struct cats cats;
};

/* One request: from its request.created event, paired with its request.analyzed. */
struct rs_req {
	int64_t id;
	uint64_t seq;
	char time[32];
	char *actor, *target;
	struct rs_cmd *cmd;
	size_t ncmd;
	int old_risk; /* -1: never analyzed (no request.analyzed event) */
	struct cats old_cats;
	int new_risk;
	struct cats new_cats, added, removed;
	int worse;
};

static void
rs_req_free(struct rs_req *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->ncmd; i++) {
		free(r->cmd[i].bytes);
		cats_free(&r->cmd[i].cats);
	}
	free(r->cmd);
	free(r->actor);
	free(r->target);
	cats_free(&r->old_cats);
	cats_free(&r->new_cats);
	cats_free(&r->added);
	cats_free(&r->removed);
	free(r);
}

/* A growable array of requests. */
struct rs_list {
	struct rs_req **v;
	size_t n, cap;
};

static int
rs_push(struct rs_list *l, struct rs_req *r)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct rs_req **nv = realloc(l->v, cap * sizeof(*nv));

		if (nv == NULL)
			return ESC_ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = r;
	return 0;
}

static void
rs_list_free(struct rs_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		rs_req_free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The request from a request.created record; NULL (and *rc 0) when the record does not
 * have that shape (nothing to re-analyze), *rc < 0 on memory errors. */
static struct rs_req *
rs_from_created(uint64_t seq, const json_t *root, int *rc)
{
	const json_t *det = json_object_get(root, "details");
	const json_t *cmds = json_object_get(det, "commands"), *c;
	json_t *jid = json_object_get(det, "request");
	const char *target = json_string_value(json_object_get(det, "target"));
	const char *actor = json_string_value(json_object_get(root, "actor"));
	const char *t = json_string_value(json_object_get(root, "time"));
	struct rs_req *r = NULL;
	size_t i;

	*rc = 0;
	if (!json_is_integer(jid) || !json_is_array(cmds) || actor == NULL || t == NULL ||
	    strlen(t) >= sizeof(r->time))
		return NULL;
	*rc = ESC_ENOMEM;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->id = json_integer_value(jid);
	r->seq = seq;
	r->old_risk = -1;
	snprintf(r->time, sizeof(r->time), "%s", t);
	if ((r->actor = strdup(actor)) == NULL ||
	    (r->target = strdup(target ? target : "")) == NULL)
		goto fail;
	if ((r->cmd = calloc(json_array_size(cmds) + 1, sizeof(*r->cmd))) == NULL)
		goto fail;
	json_array_foreach(cmds, i, c) {
		const json_t *s = json_object_get(c, "command");
		const char *b64 = json_string_value(json_object_get(c, "command_base64"));
		struct rs_cmd *m = &r->cmd[r->ncmd];

		if (json_is_string(s)) {
			m->len = json_string_length(s);
			if ((m->bytes = malloc(m->len + 1)) == NULL)
				goto fail;
			memcpy(m->bytes, json_string_value(s), m->len);
		} else if (b64) {
			size_t blen = strlen(b64), bin = 0;

			if ((m->bytes = malloc(blen / 4 * 3 + 4)) == NULL)
				goto fail;
			if (sodium_base642bin(m->bytes, blen / 4 * 3 + 3, b64, blen, NULL, &bin, NULL,
			                      sodium_base64_VARIANT_ORIGINAL) != 0) {
				free(m->bytes);
				m->bytes = NULL;
				continue; /* not base64: nothing we could analyze */
			}
			m->len = bin;
		} else {
			continue;
		}
		m->bytes[m->len] = '\0';
		r->ncmd++;
	}
	*rc = 0;
	return r;
fail:
	rs_req_free(r);
	return NULL;
}

/* A small pull reader for the compact JSON of audit records and lockbox results: pulls a
 * few members out without building a jansson tree (which dominated the rescan's time).
 * Depth-limited; anything it does not understand makes it fail, and callers then fall
 * back to jansson, so it never decides what a record means on its own. */
struct jr {
	const char *p, *e;
};

#define JR_MAX_DEPTH 64

static void
jr_ws(struct jr *j)
{
	while (j->p < j->e && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

static int
jr_lit(struct jr *j, char c)
{
	jr_ws(j);
	if (j->p >= j->e || *j->p != c)
		return -1;
	j->p++;
	return 0;
}

static int
jr_hex4(const char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return -1;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

static int
jr_utf8(buf *out, uint32_t c)
{
	unsigned char u[4];
	size_t n;

	if (c < 0x80) {
		u[0] = (unsigned char)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (unsigned char)(0xc0 | c >> 6);
		u[1] = (unsigned char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (unsigned char)(0xe0 | c >> 12);
		u[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | c >> 18);
		u[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
		u[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
		u[3] = (unsigned char)(0x80 | (c & 0x3f));
		n = 4;
	}
	return buf_put(out, u, n);
}

/* A string value, decoded into out (reset first; NULL: skipped). */
static int
jr_string(struct jr *j, buf *out)
{
	const char *s;
	uint32_t c, lo;

	if (jr_lit(j, '"'))
		return -1;
	if (out)
		buf_reset(out);
	for (;;) {
		const char *q, *bs;

		/* memchr runs many bytes at a time: most strings have no escape at all */
		s = j->p;
		q = memchr(s, '"', (size_t)(j->e - s));
		if (q == NULL)
			return -1;
		bs = memchr(s, '\\', (size_t)(q - s));
		j->p = bs ? bs : q;
		if (out && j->p > s && buf_put(out, s, (size_t)(j->p - s)) != 0)
			return -1;
		if (j->p >= j->e)
			return -1;
		if (*j->p == '"') {
			j->p++;
			if (out && out->data == NULL && buf_reserve(out, 1) != 0)
				return -1;
			return 0;
		}
		if (j->e - j->p < 2)
			return -1;
		switch (j->p[1]) {
		case '"': c = '"'; break;
		case '\\': c = '\\'; break;
		case '/': c = '/'; break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			if (j->e - j->p < 6 || jr_hex4(j->p + 2, &c))
				return -1;
			if (c >= 0xdc00 && c <= 0xdfff)
				return -1;
			if (c >= 0xd800 && c <= 0xdbff) {
				if (j->e - j->p < 12 || j->p[6] != '\\' || j->p[7] != 'u' ||
				    jr_hex4(j->p + 8, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return -1;
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				j->p += 6;
			}
			j->p += 4;
			break;
		default:
			return -1;
		}
		j->p += 2;
		if (out && jr_utf8(out, c) != 0)
			return -1;
	}
}

static int
jr_int(struct jr *j, int64_t *v)
{
	int neg = 0, nd = 0;
	uint64_t x = 0;

	jr_ws(j);
	if (j->p < j->e && *j->p == '-') {
		neg = 1;
		j->p++;
	}
	while (j->p < j->e && *j->p >= '0' && *j->p <= '9') {
		if (x > ((uint64_t)INT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*j->p++ - '0');
		nd++;
	}
	if (nd == 0 || (j->p < j->e && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')))
		return -1;
	*v = neg ? -(int64_t)x : (int64_t)x;
	return 0;
}

static int jr_skip(struct jr *j, int depth);

/* Calls fn for each member of an object; fn must consume the value and return 0, or 1 to
 * stop reading early (the rest of the object is left unread). Keys are plain: one with an
 * escape or longer than 63 bytes makes the reader give up. */
typedef int (*jr_member_fn)(struct jr *j, const char *key, void *ctx);

static int
jr_object(struct jr *j, jr_member_fn fn, void *ctx, int depth)
{
	char key[64];
	const char *s;
	int rc;

	if (depth > JR_MAX_DEPTH || jr_lit(j, '{'))
		return -1;
	jr_ws(j);
	if (j->p < j->e && *j->p == '}') {
		j->p++;
		return 0;
	}
	for (;;) {
		if (jr_lit(j, '"'))
			return -1;
		s = j->p;
		while (j->p < j->e && *j->p != '"' && *j->p != '\\' && j->p - s < 63)
			j->p++;
		if (j->p >= j->e || *j->p != '"')
			return -1;
		memcpy(key, s, (size_t)(j->p - s));
		key[j->p - s] = '\0';
		j->p++;
		if (jr_lit(j, ':'))
			return -1;
		if ((rc = fn(j, key, ctx)) != 0)
			return rc > 0 ? 0 : -1;
		jr_ws(j);
		if (j->p < j->e && *j->p == ',') {
			j->p++;
			continue;
		}
		return jr_lit(j, '}');
	}
}

static int
jr_skip(struct jr *j, int depth)
{
	jr_ws(j);
	if (depth > JR_MAX_DEPTH || j->p >= j->e)
		return -1;
	switch (*j->p) {
	case '"':
		return jr_string(j, NULL);
	case '{': case '[': {
		char close = *j->p == '{' ? '}' : ']';
		int obj = *j->p == '{';

		j->p++;
		jr_ws(j);
		if (j->p < j->e && *j->p == close) {
			j->p++;
			return 0;
		}
		for (;;) {
			if (obj && (jr_string(j, NULL) || jr_lit(j, ':')))
				return -1;
			if (jr_skip(j, depth + 1))
				return -1;
			jr_ws(j);
			if (j->p < j->e && *j->p == ',') {
				j->p++;
				continue;
			}
			return jr_lit(j, close);
		}
	}
	default:
		/* numbers, true, false, null */
		if (!((*j->p >= '0' && *j->p <= '9') || *j->p == '-' || *j->p == 't' || *j->p == 'f' ||
		      *j->p == 'n'))
			return -1;
		while (j->p < j->e && *j->p != ',' && *j->p != '}' && *j->p != ']' && *j->p != ' ')
			j->p++;
		return 0;
	}
}

/* An array of strings into a category set (other elements are an error). */
static int
jr_cats(struct jr *j, struct cats *c)
{
	buf s = BUF_INIT;
	int rc = -1;

	if (jr_lit(j, '['))
		return -1;
	jr_ws(j);
	if (j->p < j->e && *j->p == ']') {
		j->p++;
		return 0;
	}
	for (;;) {
		if (jr_string(j, &s) || memchr(s.data, 0, s.len) || cats_add(c, buf_cstr(&s)))
			goto out;
		jr_ws(j);
		if (j->p < j->e && *j->p == ',') {
			j->p++;
			continue;
		}
		if (jr_lit(j, ']'))
			goto out;
		break;
	}
	rc = 0;
out:
	buf_free(&s);
	return rc;
}

/* What rescan takes from a request.created or request.analyzed record, filled by the pull
 * reader; reused from record to record. */
struct rs_fields {
	buf actor, time, target, risk, tmp;
	int64_t id;
	int have_id, bad;
	struct cats cats;
	struct rs_cmd *cmd;
	size_t ncmd, cap;
};

static void
rs_fields_reset(struct rs_fields *f)
{
	buf_reset(&f->actor);
	buf_reset(&f->time);
	buf_reset(&f->target);
	buf_reset(&f->risk);
	f->have_id = 0;
	f->bad = 0;
	cats_free(&f->cats);
	for (size_t i = 0; i < f->ncmd; i++)
		free(f->cmd[i].bytes);
	f->ncmd = 0;
}

static void
rs_fields_free(struct rs_fields *f)
{
	rs_fields_reset(f);
	free(f->cmd);
	buf_free(&f->actor);
	buf_free(&f->time);
	buf_free(&f->target);
	buf_free(&f->risk);
	buf_free(&f->tmp);
}

static int
rs_cmd_member(struct jr *j, const char *key, void *ctx)
{
	struct rs_fields *f = ctx;
	struct rs_cmd *c = &f->cmd[f->ncmd - 1];
	int b64;

	if (key[0] != 'c')
		return jr_skip(j, 3);
	b64 = strcmp(key, "command_base64") == 0;
	if (!b64 && strcmp(key, "command") != 0)
		return jr_skip(j, 3);
	if (jr_string(j, &f->tmp) || c->bytes)
		return -1;
	if (b64) {
		size_t bin = 0;

		if ((c->bytes = malloc(f->tmp.len / 4 * 3 + 4)) == NULL)
			return -1;
		if (sodium_base642bin(c->bytes, f->tmp.len / 4 * 3 + 3, buf_cstr(&f->tmp), f->tmp.len,
		                      NULL, &bin, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
			return -1;
		c->len = bin;
	} else {
		if ((c->bytes = malloc(f->tmp.len + 1)) == NULL)
			return -1;
		memcpy(c->bytes, f->tmp.data, f->tmp.len);
		c->len = f->tmp.len;
	}
	c->bytes[c->len] = '\0';
	return 0;
}

static int
rs_det_member(struct jr *j, const char *key, void *ctx)
{
	struct rs_fields *f = ctx;

	/* first letters first: this runs for every member of every request record */
	switch (key[0]) {
	case 'r':
		if (strcmp(key, "request") == 0) {
			f->have_id = 1;
			return jr_int(j, &f->id);
		}
		if (strcmp(key, "risk") == 0)
			return jr_string(j, &f->risk);
		return jr_skip(j, 2);
	case 't':
		return strcmp(key, "target") == 0 ? jr_string(j, &f->target) : jr_skip(j, 2);
	case 'c':
		if (strcmp(key, "categories") == 0)
			return jr_cats(j, &f->cats);
		if (strcmp(key, "commands") == 0)
			break;
		return jr_skip(j, 2);
	default:
		return jr_skip(j, 2);
	}
	if (jr_lit(j, '['))
		return -1;
	jr_ws(j);
	if (j->p < j->e && *j->p == ']') {
		j->p++;
		return 0;
	}
	for (;;) {
		if (f->ncmd == f->cap) {
			size_t cap = f->cap ? f->cap * 2 : 8;
			struct rs_cmd *nv = realloc(f->cmd, cap * sizeof(*nv));

			if (nv == NULL)
				return -1;
			f->cmd = nv;
			f->cap = cap;
		}
		memset(&f->cmd[f->ncmd++], 0, sizeof(*f->cmd));
		if (jr_object(j, rs_cmd_member, f, 3))
			return -1;
		if (f->cmd[f->ncmd - 1].bytes == NULL) /* neither form: nothing to analyze */
			f->ncmd--;
		jr_ws(j);
		if (j->p < j->e && *j->p == ',') {
			j->p++;
			continue;
		}
		return jr_lit(j, ']');
	}
}

static int
rs_rec_member(struct jr *j, const char *key, void *ctx)
{
	struct rs_fields *f = ctx;

	if (key[0] == 'a' && strcmp(key, "actor") == 0)
		return jr_string(j, &f->actor);
	if (key[0] == 't' && strcmp(key, "time") == 0)
		return jr_string(j, &f->time);
	if (key[0] == 'd' && strcmp(key, "details") == 0)
		return jr_object(j, rs_det_member, f, 1);
	return jr_skip(j, 1);
}

/* Pulls the fields out of a record; -1 when the pull reader cannot (use jansson). */
static int
rs_fields_read(struct rs_fields *f, const uint8_t *rec, size_t len)
{
	struct jr j = { (const char *)rec, (const char *)rec + len };

	rs_fields_reset(f);
	if (jr_object(&j, rs_rec_member, f, 0) != 0)
		return -1;
	jr_ws(&j);
	return j.p == j.e ? 0 : -1;
}

/* The request of a request.created record from the pulled fields (takes the commands). */
static struct rs_req *
rs_from_fields(uint64_t seq, struct rs_fields *f, int *rc)
{
	struct rs_req *r;

	*rc = 0;
	if (!f->have_id || f->actor.data == NULL || f->time.len == 0 ||
	    f->time.len >= sizeof(r->time))
		return NULL;
	*rc = ESC_ENOMEM;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->id = f->id;
	r->seq = seq;
	r->old_risk = -1;
	memcpy(r->time, f->time.data, f->time.len);
	if ((r->actor = strdup(buf_cstr(&f->actor))) == NULL ||
	    (r->target = strdup(buf_cstr(&f->target))) == NULL ||
	    (r->cmd = calloc(f->ncmd + 1, sizeof(*r->cmd))) == NULL) {
		rs_req_free(r);
		return NULL;
	}
	memcpy(r->cmd, f->cmd, f->ncmd * sizeof(*r->cmd));
	r->ncmd = f->ncmd;
	f->ncmd = 0;
	*rc = 0;
	return r;
}

static int
rs_result_member(struct jr *j, const char *key, void *ctx)
{
	/* the top-level categories come before the long members: stop there */
	if (key[0] == 'c' && strcmp(key, "categories") == 0)
		return jr_cats(j, ctx) == 0 ? 1 : -1;
	return jr_skip(j, 1);
}

/* Top-level "categories" of a lockbox JSON object into c. */
static int
rs_result_cats(const buf *js, struct cats *c)
{
	struct jr r = { (const char *)js->data, (const char *)js->data + js->len };
	json_t *j;
	int rc;

	if (jr_object(&r, rs_result_member, c, 0) == 0)
		return 0;
	cats_free(c);
	if ((j = json_loadb((const char *)js->data, js->len, 0, NULL)) == NULL)
		return ESC_EPARSE;
	rc = cats_from_json(c, json_object_get(j, "categories"));
	json_decref(j);
	return rc;
}

/* Analyzes every command of r with lb and compares the aggregate (highest risk, union of
 * categories, as the workflow folds them) with what was recorded: *changed, r->worse. */
static int
rs_evaluate(const lockbox *lb, struct rs_req *r, buf *js, int *changed)
{
	lockbox_result *res = NULL;
	size_t i;
	int rc = 0;

	*changed = 0;
	r->new_risk = LOCKBOX_RISK_NONE;
	for (i = 0; i < r->ncmd && rc == 0; i++) {
		struct rs_cmd *c = &r->cmd[i];

		if ((rc = lockbox_analyze(lb, (const char *)c->bytes, c->len, "bash", &res)) != 0)
			break;
		c->risk = (int)lockbox_result_risk(res);
		buf_reset(js);
		rc = lockbox_result_json(res, js);
		lockbox_result_free(res);
		res = NULL;
		if (rc == 0)
			rc = rs_result_cats(js, &c->cats);
		if (c->risk > r->new_risk)
			r->new_risk = c->risk;
		for (size_t k = 0; rc == 0 && k < c->cats.n; k++)
			rc = cats_add(&r->new_cats, c->cats.v[k]);
	}
	if (rc)
		return rc;
	for (i = 0; rc == 0 && i < r->new_cats.n; i++)
		if (!cats_has(&r->old_cats, r->new_cats.v[i]))
			rc = cats_add(&r->added, r->new_cats.v[i]);
	for (i = 0; rc == 0 && i < r->old_cats.n; i++)
		if (!cats_has(&r->new_cats, r->old_cats.v[i]))
			rc = cats_add(&r->removed, r->old_cats.v[i]);
	if (rc)
		return rc;
	if (r->old_risk < 0) {
		/* created but never analyzed at the time: whatever is found is news */
		*changed = 1;
		r->worse = r->new_risk > LOCKBOX_RISK_NONE || r->new_cats.n > 0;
	} else {
		*changed = r->new_risk != r->old_risk || r->added.n > 0 || r->removed.n > 0;
		r->worse = r->new_risk > r->old_risk || r->added.n > 0;
	}
	return 0;
}

/* Re-analysis runs on worker threads while the main thread reads the log (lockbox is
 * immutable after load and shareable). Requests travel in batches through a small queue;
 * when the queue is full the main thread analyzes a batch itself. Each thread keeps its
 * own list of changed requests; the lists are merged and sorted at the end, so the output
 * does not depend on scheduling. */
#define RS_BATCH 64
#define RS_QUEUE 16
#define RS_MAX_THREADS 8

struct rs_pool {
	const lockbox *lb;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rs_list q[RS_QUEUE];
	size_t qhead, qcount;
	int done, err;
	int nth;
	pthread_t th[RS_MAX_THREADS];
	struct rs_list found[RS_MAX_THREADS + 1]; /* [nth]: the main thread's */
	struct rs_list cur;                       /* the batch being filled */
};

/* Evaluates a batch (taking its requests); changed ones go to *found. */
static int
rs_run_batch(const lockbox *lb, struct rs_list *b, struct rs_list *found, buf *js)
{
	int rc = 0, changed;

	for (size_t i = 0; i < b->n; i++) {
		struct rs_req *r = b->v[i];

		b->v[i] = NULL;
		if (rc == 0)
			rc = rs_evaluate(lb, r, js, &changed);
		if (rc == 0 && changed && (rc = rs_push(found, r)) == 0)
			r = NULL;
		rs_req_free(r);
	}
	b->n = 0;
	return rc;
}

/* Takes the oldest queued batch into *b (caller holds mu); 0 when the queue is empty. */
static int
rs_pool_pop(struct rs_pool *p, struct rs_list *b)
{
	if (p->qcount == 0)
		return 0;
	*b = p->q[p->qhead];
	memset(&p->q[p->qhead], 0, sizeof(p->q[0]));
	p->qhead = (p->qhead + 1) % RS_QUEUE;
	p->qcount--;
	return 1;
}

struct rs_worker {
	struct rs_pool *p;
	int idx;
};

static void *
rs_worker_main(void *arg)
{
	struct rs_worker *w = arg;
	struct rs_pool *p = w->p;
	struct rs_list b = { 0 };
	buf js = BUF_INIT;
	int rc;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->qcount == 0 && !p->done)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!rs_pool_pop(p, &b)) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		pthread_cond_broadcast(&p->cv); /* room in the queue */
		pthread_mutex_unlock(&p->mu);
		rc = rs_run_batch(p->lb, &b, &p->found[w->idx], &js);
		rs_list_free(&b);
		if (rc) {
			pthread_mutex_lock(&p->mu);
			if (p->err == 0)
				p->err = rc;
			pthread_mutex_unlock(&p->mu);
		}
	}
	buf_free(&js);
	return NULL;
}

static struct rs_worker rs_workers[RS_MAX_THREADS];

static void
rs_pool_start(struct rs_pool *p, const lockbox *lb)
{
	long ncpu = util_usable_cpus();
	int want = ncpu > 1 ? (int)(ncpu - 1 > RS_MAX_THREADS ? RS_MAX_THREADS : ncpu - 1) : 0;

	memset(p, 0, sizeof(*p));
	p->lb = lb;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (int i = 0; i < want; i++) {
		rs_workers[i].p = p;
		rs_workers[i].idx = i;
		if (pthread_create(&p->th[i], NULL, rs_worker_main, &rs_workers[i]) != 0)
			break;
		p->nth++;
	}
}

/* Queues the filled batch; with no room (or no workers) the main thread runs one. */
static int
rs_pool_flush(struct rs_pool *p, buf *js)
{
	struct rs_list b = { 0 };
	int rc = 0;

	if (p->cur.n == 0)
		return 0;
	if (p->nth == 0)
		return rs_run_batch(p->lb, &p->cur, &p->found[p->nth], js);
	pthread_mutex_lock(&p->mu);
	if (p->qcount == RS_QUEUE)
		rs_pool_pop(p, &b);
	p->q[(p->qhead + p->qcount) % RS_QUEUE] = p->cur;
	p->qcount++;
	memset(&p->cur, 0, sizeof(p->cur));
	pthread_cond_broadcast(&p->cv);
	rc = p->err;
	pthread_mutex_unlock(&p->mu);
	if (b.n) {
		int e = rs_run_batch(p->lb, &b, &p->found[p->nth], js);

		if (rc == 0)
			rc = e;
	}
	rs_list_free(&b);
	return rc;
}

static int
rs_pool_submit(struct rs_pool *p, struct rs_req *r, buf *js)
{
	int rc = rs_push(&p->cur, r);

	if (rc) {
		rs_req_free(r);
		return rc;
	}
	return p->cur.n >= RS_BATCH ? rs_pool_flush(p, js) : 0;
}

/* Flushes, waits for the workers and merges every changed request into *all. */
static int
rs_pool_finish(struct rs_pool *p, struct rs_list *all, buf *js)
{
	int rc = rs_pool_flush(p, js), e;

	pthread_mutex_lock(&p->mu);
	p->done = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	p->nth = 0;
	/* batches the workers never took (none when they ran to the end) */
	for (size_t i = 0; i < RS_QUEUE; i++) {
		e = rs_run_batch(p->lb, &p->q[i], &p->found[RS_MAX_THREADS], js);
		rs_list_free(&p->q[i]);
		if (rc == 0)
			rc = e;
	}
	if (rc == 0)
		rc = p->err;
	for (int i = 0; i <= RS_MAX_THREADS; i++) {
		for (size_t k = 0; k < p->found[i].n; k++) {
			if (rc == 0 && (e = rs_push(all, p->found[i].v[k])) == 0)
				p->found[i].v[k] = NULL;
			else if (rc == 0)
				rc = e;
		}
		rs_list_free(&p->found[i]);
	}
	rs_list_free(&p->cur);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	return rc;
}

/* Worst first: new risk, then how much it rose, then log order. */
static int
rs_cmp(const void *a, const void *b)
{
	const struct rs_req *x = *(struct rs_req *const *)a, *y = *(struct rs_req *const *)b;
	int dx = x->new_risk - x->old_risk, dy = y->new_risk - y->old_risk;

	if (x->new_risk != y->new_risk)
		return y->new_risk - x->new_risk;
	if (dx != dy)
		return dy - dx;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

static int
rs_print_text(const struct rs_req *r, buf *o)
{
	size_t i;

	buf_printf(o, "seq %" PRIu64 "  %s  ", r->seq, r->time);
	cli_escape(o, (const unsigned char *)r->actor, strlen(r->actor), 0);
	buf_printf(o, "  request %" PRId64 "  target ", r->id);
	cli_escape(o, (const unsigned char *)r->target, strlen(r->target), 0);
	buf_printf(o, "  risk %s -> %s%s",
	           r->old_risk < 0 ? "(never analyzed)" : lockbox_risk_name((lockbox_risk)r->old_risk),
	           lockbox_risk_name((lockbox_risk)r->new_risk), r->worse ? "  WORSE" : "");
	for (i = 0; i < r->added.n; i++)
		buf_printf(o, "%s+%s", i ? " " : "\n    categories ", r->added.v[i]);
	for (i = 0; i < r->removed.n; i++)
		buf_printf(o, "%s-%s", i || r->added.n ? " " : "\n    categories ", r->removed.v[i]);
	for (i = 0; i < r->ncmd; i++) {
		const struct rs_cmd *c = &r->cmd[i];

		buf_puts(o, "\n    $ ");
		cli_escape(o, c->bytes, c->len, 0);
		buf_printf(o, "    [%s", lockbox_risk_name((lockbox_risk)c->risk));
		for (size_t k = 0; k < c->cats.n; k++)
			buf_printf(o, "%s%s", k ? ", " : ": ", c->cats.v[k]);
		buf_putc(o, ']');
	}
	return buf_putc(o, '\n');
}

static int
rs_print_json(const struct rs_req *r, buf *o)
{
	json_t *j, *a, *c;
	char *s;
	int rc = ESC_ENOMEM;

	j = json_pack("{s:I, s:s, s:s, s:I, s:s, s:o, s:s, s:o?, s:o?, s:b}", "seq",
	              (json_int_t)r->seq, "time", r->time, "actor", r->actor, "request",
	              (json_int_t)r->id, "target", r->target, "old_risk",
	              r->old_risk < 0 ? json_null()
	                              : json_string(lockbox_risk_name((lockbox_risk)r->old_risk)),
	              "risk", lockbox_risk_name((lockbox_risk)r->new_risk), "added",
	              cats_json(&r->added), "removed", cats_json(&r->removed), "worse", r->worse);
	a = json_array();
	if (j == NULL || a == NULL || json_object_set_new(j, "commands", a) != 0) {
		json_decref(a);
		goto out;
	}
	for (size_t i = 0; i < r->ncmd; i++) {
		const struct rs_cmd *m = &r->cmd[i];
		json_t *str = json_stringn((const char *)m->bytes, m->len);

		if (str) {
			c = json_pack("{s:o, s:s, s:o?}", "command", str, "risk",
			              lockbox_risk_name((lockbox_risk)m->risk), "categories",
			              cats_json(&m->cats));
		} else {
			size_t bl = sodium_base64_encoded_len(m->len, sodium_base64_VARIANT_ORIGINAL);
			char *b64 = malloc(bl);

			c = NULL;
			if (b64) {
				sodium_bin2base64(b64, bl, m->bytes, m->len, sodium_base64_VARIANT_ORIGINAL);
				c = json_pack("{s:s, s:s, s:o?}", "command_base64", b64, "risk",
				              lockbox_risk_name((lockbox_risk)m->risk), "categories",
				              cats_json(&m->cats));
				free(b64);
			}
		}
		if (c == NULL || json_array_append_new(a, c) != 0)
			goto out;
	}
	if ((s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto out;
	rc = buf_puts(o, s);
	free(s);
	if (rc == 0)
		rc = buf_putc(o, '\n');
out:
	json_decref(j);
	return rc;
}

static double
mono_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define RS_MAX_RULES 64

static int
cmd_rescan(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "rules", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "since", required_argument, NULL, 's' },
		{ "stats", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	char *rules[RS_MAX_RULES];
	const char *dir = NULL, *since = NULL;
	int nrules = 0, json = 0, stats = 0, c, rc = CLI_EXIT_ERROR;
	lockbox *lb = NULL;
	audit_iter it;
	struct rs_fields fl;
	struct rs_list pending = { 0 }, found = { 0 };
	struct rs_req *r;
	buf js = BUF_INIT, out = BUF_INIT;
	const uint8_t *p;
	size_t plen;
	uint64_t n = 0, seq, ncmds = 0, nreq = 0, nworse = 0;
	char err[1024];
	struct rs_pool pool;
	double t0;
	int e, pool_on = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'j': json = 1; break;
		case 's': since = optarg; break;
		case 'S': stats = 1; break;
		case 'r':
			if (nrules == RS_MAX_RULES) {
				cli_warnx(SUB, "rescan: at most %d --rules directories", RS_MAX_RULES);
				return CLI_EXIT_USAGE;
			}
			rules[nrules++] = optarg;
			break;
		case 'h':
			printf("usage: escort audit rescan [-d DIR] [--rules DIR]... [--since TIME] [--json]\n"
			       "                           [--stats]\n\n"
			       "The retro-hunt: re-runs today's lockbox (the shipped rules, the site's\n"
			       "/etc/escort/rules.d and each --rules DIR) over every command recorded in\n"
			       "request.created events and compares the result with the request.analyzed\n"
			       "event of the same request (highest risk, union of categories). Lists the\n"
			       "requests whose risk or categories changed, worst first (by new risk, then\n"
			       "by how much it rose): seq, time, actor, request, target, old -> new risk,\n"
			       "added (+) and removed (-) categories and each command (control and\n"
			       "invisible characters escaped) with its own new rating.\n\n"
			       "  --rules DIR    load extra rules from DIR (repeatable)\n"
			       "  --since TIME   only requests created at or after TIME (UTC, the records'\n"
			       "                 form or a prefix of it: 2026-11-25, 2026-11-25T07:30)\n"
			       "  --json         one JSON object per changed request\n"
			       "  --stats        print records/s and commands/s to standard error\n\n"
			       "Exit status: 0 nothing got worse, 1 some request got worse (a higher risk\n"
			       "or new categories), 2 usage, 3 error.\n");
			return CLI_EXIT_OK;
		case ':':
			cli_warnx(SUB, "rescan: %s needs an argument", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			cli_warnx(SUB, "rescan: unknown option %s; see 'escort audit rescan --help'",
			          argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_warnx(SUB, "rescan: unexpected argument %s", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	dir = cli_data_dir(dir);
	memset(&it, 0, sizeof(it));
	memset(&fl, 0, sizeof(fl));
	if ((lb = cli_load_rules("audit rescan", rules, nrules)) == NULL)
		return CLI_EXIT_ERROR;
	if ((e = audit_iter_open(&it, dir, err, sizeof(err))) != 0) {
		if (e == ESC_ENOENT)
			cli_warnx(SUB, "rescan: no audit log at %s/%s (run 'escort init')", dir,
			          AUDIT_SUBDIR);
		else
			cli_warnx(SUB, "rescan: %s", err);
		goto out;
	}
	/* the retro-hunt reads what verify vouches for; it does not re-hash every record */
	it.skip_checksum = 1;
	t0 = mono_secs();
	rs_pool_start(&pool, lb);
	pool_on = 1;
	while ((e = audit_iter_next(&it, &p, &plen, &seq)) == 0) {
		char type[AUDIT_TYPE_MAX + 1];
		uint64_t pseq;
		json_t *root = NULL;
		int created, fast;

		n++;
		if (audit_event_peek(p, plen, &pseq, type) != 0 || pseq != seq) {
			cli_warnx(SUB, "rescan: record %" PRIu64 " is not a valid record; run 'escort "
			          "audit verify'", seq);
			goto out;
		}
		created = strcmp(type, "request.created") == 0;
		if (!created && strcmp(type, "request.analyzed") != 0)
			continue;
		fast = rs_fields_read(&fl, p, plen) == 0;
		if (!fast && (root = json_loadb((const char *)p, plen, 0, NULL)) == NULL) {
			cli_warnx(SUB, "rescan: record %" PRIu64 " is not JSON; run 'escort audit verify'",
			          seq);
			goto out;
		}
		if (created) {
			const char *t = fast ? buf_cstr(&fl.time)
			                     : json_string_value(json_object_get(root, "time"));

			r = NULL;
			if (!since || (t && strcmp(t, since) >= 0))
				r = fast ? rs_from_fields(seq, &fl, &e) : rs_from_created(seq, root, &e);
			if (r && rs_push(&pending, r) != 0) {
				rs_req_free(r);
				e = ESC_ENOMEM;
			}
			json_decref(root);
			if (e) {
				cli_warnx(SUB, "rescan: %s", esc_strerror(e));
				goto out;
			}
		} else {
			const json_t *det = json_object_get(root, "details");
			json_t *jid = json_object_get(det, "request");
			const char *risk = fast ? (fl.risk.data ? buf_cstr(&fl.risk) : NULL)
			                        : json_string_value(json_object_get(det, "risk"));
			int have_id = fast ? fl.have_id : json_is_integer(jid);
			int64_t id = fast ? fl.id : (int64_t)json_integer_value(jid);
			size_t k;

			/* the newest pending request of that id (created events precede theirs) */
			for (k = pending.n; have_id && k > 0; k--)
				if (pending.v[k - 1]->id == id)
					break;
			if (!have_id || k == 0) {
				json_decref(root);
				continue;
			}
			r = pending.v[k - 1];
			memmove(&pending.v[k - 1], &pending.v[k], (pending.n - k) * sizeof(r));
			pending.n--;
			r->old_risk = risk ? cli_parse_risk(risk) : -1;
			if (fast) {
				r->old_cats = fl.cats;
				memset(&fl.cats, 0, sizeof(fl.cats));
				e = 0;
			} else {
				e = cats_from_json(&r->old_cats, json_object_get(det, "categories"));
			}
			json_decref(root);
			nreq++;
			ncmds += r->ncmd;
			if (e == 0)
				e = rs_pool_submit(&pool, r, &js);
			else
				rs_req_free(r);
			if (e) {
				cli_warnx(SUB, "rescan: %s", esc_strerror(e));
				goto out;
			}
		}
	}
	if (e < 0) {
		cli_warnx(SUB, "rescan: %s; run 'escort audit verify'", it.err);
		goto out;
	}
	/* requests whose analysis was never recorded */
	for (size_t k = 0; k < pending.n; k++) {
		r = pending.v[k];
		pending.v[k] = NULL;
		nreq++;
		ncmds += r->ncmd;
		if ((e = rs_pool_submit(&pool, r, &js)) != 0) {
			cli_warnx(SUB, "rescan: %s", esc_strerror(e));
			goto out;
		}
	}
	pending.n = 0;
	pool_on = 0;
	if ((e = rs_pool_finish(&pool, &found, &js)) != 0) {
		cli_warnx(SUB, "rescan: %s", esc_strerror(e));
		goto out;
	}
	if (stats) {
		double dt = mono_secs() - t0;

		if (dt <= 0)
			dt = 1e-9;
		fprintf(stderr, "rescan: %" PRIu64 " records, %" PRIu64 " requests, %" PRIu64
		        " commands re-analyzed in %.3f s: %.0f records/s, %.0f commands/s\n", n, nreq,
		        ncmds, dt, (double)n / dt, (double)ncmds / dt);
	}
	if (found.n)
		qsort(found.v, found.n, sizeof(*found.v), rs_cmp);
	for (size_t k = 0; k < found.n; k++) {
		e = json ? rs_print_json(found.v[k], &out) : rs_print_text(found.v[k], &out);
		if (e) {
			cli_warnx(SUB, "rescan: %s", esc_strerror(e));
			goto out;
		}
		nworse += found.v[k]->worse != 0;
	}
	if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		cli_warnx(SUB, "rescan: cannot write: %s", strerror(errno));
		goto out;
	}
	if (!json)
		fprintf(stderr, "escort audit rescan: %" PRIu64 " requests re-analyzed; %zu changed, %"
		        PRIu64 " worse\n", nreq, found.n, nworse);
	rc = nworse ? CLI_EXIT_FINDINGS : CLI_EXIT_OK;
out:
	if (pool_on)
		(void)rs_pool_finish(&pool, &found, &js);
	rs_list_free(&pending);
	rs_list_free(&found);
	rs_fields_free(&fl);
	buf_free(&js);
	buf_free(&out);
	audit_iter_close(&it);
	lockbox_free(lb);
	return rc;
}

static const struct {
	const char *name;
	int (*run)(int, char **);
} cmds[] = {
	{ "verify", cmd_verify },       { "checkpoint", cmd_checkpoint },
	{ "prove", cmd_prove },         { "check-proof", cmd_check_proof },
	{ "pubkey", cmd_pubkey },       { "append", cmd_append },
	{ "export", cmd_export },       { "search", cmd_search },
	{ "rescan", cmd_rescan },
};

int
cli_audit(int argc, char **argv)
{
	const char *dir = NULL;
	char **sub;
	int i = 1, nsub, rc;
	size_t k;

	/* options before the command: --data DIR (-d, --data-dir), --data=DIR, --help */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			audit_help(stdout);
			return CLI_EXIT_OK;
		}
		if ((strcmp(argv[i], "-d") == 0 || strcmp(argv[i], "--data-dir") == 0 ||
		     strcmp(argv[i], "--data") == 0) && i + 1 < argc) {
			dir = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--data-dir=", 11) == 0) {
			dir = argv[i] + 11;
			i++;
		} else if (strncmp(argv[i], "--data=", 7) == 0) {
			dir = argv[i] + 7;
			i++;
		} else {
			cli_warnx(SUB, "unknown option %s; see 'escort audit --help'", argv[i]);
			return CLI_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		audit_help(stderr);
		return CLI_EXIT_USAGE;
	}
	for (k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		if (strcmp(argv[i], cmds[k].name) != 0)
			continue;
		if (cli_remote_active() && strcmp(argv[i], "check-proof") != 0 &&
		    !(argc > i + 1 && (strcmp(argv[i + 1], "-h") == 0 ||
		                       strcmp(argv[i + 1], "--help") == 0)))
			return cli_remote_audit(argc - i, argv + i);
		/* hand the command its own argv, with a leading -d DIR when given before it */
		nsub = argc - i + (dir ? 2 : 0);
		sub = calloc((size_t)nsub + 1, sizeof(*sub));
		if (sub == NULL)
			return CLI_EXIT_ERROR;
		sub[0] = argv[i];
		if (dir) {
			sub[1] = "-d";
			sub[2] = (char *)dir;
		}
		for (int a = i + 1, o = dir ? 3 : 1; a < argc; a++, o++)
			sub[o] = argv[a];
		rc = cmds[k].run(nsub, sub);
		free(sub);
		return rc;
	}
	cli_warnx(SUB, "'%s' is not an audit command; see 'escort audit --help'", argv[i]);
	return CLI_EXIT_USAGE;
}

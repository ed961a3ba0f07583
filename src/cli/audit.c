/* audit.c — `escort audit`: verify the log, print its checkpoint and public key, produce
 * inclusion/consistency proofs and check them with only the public key (what an outside
 * auditor runs), append an event by hand, export records. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/event.h"
#include "audit/log.h"
#include "audit/sth.h"
#include "audit/verify.h"
#include "util/buf.h"
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
	    "                       print the matching records\n"
	    "  export [--format jsonl|syslog|cef] [--follow]\n"
	    "                       print every record (for a SIEM)\n\n"
	    "  --data DIR           data directory (also -d, --data-dir; default: $ESCORT_DATA,\n"
	    "                       else ./escort-data)\n"
	    "  -h, --help           show this help; 'escort audit COMMAND --help' for a command\n\n"
	    "Exit status: 0 ok, 1 verification failed or refused, 2 usage, 3 error.\n"
	    "See escort-audit(1).\n");
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
	/* recovery first, when no writer holds the log and we may write */
	memset(&wo, 0, sizeof(wo));
	if (access(dir, W_OK) == 0) {
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
static void
cef_put(FILE *fp, const char *s, int header)
{
	for (; *s; s++) {
		if (*s == '\\' || (header && *s == '|') || (!header && *s == '='))
			fputc('\\', fp);
		if (*s == '\n')
			fputs("\\n", fp);
		else if (*s == '\r')
			fputs("\\r", fp);
		else
			fputc(*s, fp);
	}
}

/* RFC 5424 structured-data parameter values escape ", \ and ] */
static void
sd_put(FILE *fp, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\' || *s == ']')
			fputc('\\', fp);
		fputc(*s, fp);
	}
}

static int
emit(enum fmt f, const buf *rec, const char *host)
{
	audit_event ev;
	char *det;
	int sev;

	if (f == FMT_JSONL) {
		fwrite(rec->data, 1, rec->len, stdout);
		putchar('\n');
		return 0;
	}
	if (audit_event_parse(rec->data, rec->len, &ev, NULL, 0) != 0)
		return -1;
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
		printf("<%d>1 %s %s escort - %s [escort@32473 seq=\"%" PRIu64 "\" actor=\"", 10 * 8 + sev,
		       t, host, ev.type, ev.seq);
		sd_put(stdout, ev.actor);
		printf("\"] ");
		fwrite(rec->data, 1, rec->len, stdout);
		putchar('\n');
	} else {
		printf("CEF:0|escort|escort|%s|", ESCORT_VERSION);
		cef_put(stdout, ev.type, 1);
		putchar('|');
		cef_put(stdout, ev.type, 1);
		printf("|%d|rt=%" PRId64 " cs1Label=seq cs1=%" PRIu64 " suser=", sev == 5 ? 3 : 1,
		       ev.time_us / 1000, ev.seq);
		cef_put(stdout, ev.actor, 0);
		printf(" msg=");
		cef_put(stdout, det, 0);
		putchar('\n');
	}
	free(det);
	audit_event_free(&ev);
	return 0;
}

struct filter {
	const char *since, *until, *actor, *type, *text;
	const char *wkey, *wval; /* --where KEY=VALUE on a top-level details member */
};

static int
matches(const struct filter *fl, const buf *rec)
{
	audit_event ev;
	char t[32];
	int ok = 1;

	if (fl->text && strcasestr((const char *)rec->data, fl->text) == NULL)
		return 0;
	if (!fl->since && !fl->until && !fl->actor && !fl->type && !fl->wkey)
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
           uint64_t *left)
{
	audit_log *log = NULL;
	buf rec = BUF_INIT;
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
		if (emit(f, &rec, host) != 0) {
			cli_warnx(SUB, "record %" PRIu64 " is not a valid record; run 'escort audit verify'",
			          i);
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
		{ NULL, 0, NULL, 0 },
	};
	struct filter fl;
	const char *dir = NULL, *format = "jsonl";
	char host[256], *eq, *wcopy = NULL;
	uint64_t from = 0, left = UINT64_MAX;
	enum fmt f;
	int c, follow = 0, rc;

	memset(&fl, 0, sizeof(fl));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f': format = optarg; break;
		case 'F': follow = 1; break;
		case 's': fl.since = optarg; break;
		case 'u': fl.until = optarg; break;
		case 'a': fl.actor = optarg; break;
		case 't': fl.type = optarg; break;
		case 'x': fl.text = optarg; break;
		case 'w': fl.wkey = optarg; break;
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
				       "       [--limit N] [--format jsonl|syslog|cef]\n\n"
				       "Prints the records that match every condition given. TIME is UTC in\n"
				       "the records' form or a prefix of it (2026-11-25, 2026-11-25T07:30);\n"
				       "--since is inclusive, --until exclusive. --where matches a top-level\n"
				       "member of details; --text is a case-insensitive substring of the record.\n");
			else
				printf("usage: escort audit export [-d DIR] [--format jsonl|syslog|cef] "
				       "[--follow]\n\n"
				       "Prints every record: jsonl (as stored), syslog (RFC 5424, facility\n"
				       "authpriv) or cef (ArcSight CEF). --follow keeps printing new records\n"
				       "as they are appended, for a SIEM forwarder.\n");
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
	if (!search && (fl.since || fl.until || fl.actor || fl.type || fl.text || fl.wkey)) {
		cli_warnx(SUB, "export: filters belong to 'escort audit search'");
		return CLI_EXIT_USAGE;
	}
	if (search && follow) {
		cli_warnx(SUB, "search: --follow is an export option");
		return CLI_EXIT_USAGE;
	}
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
	for (;;) {
		rc = emit_range(dir, &from, f, &fl, host, &left);
		if (rc || !follow)
			break;
		usleep(500 * 1000);
	}
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

static const struct {
	const char *name;
	int (*run)(int, char **);
} cmds[] = {
	{ "verify", cmd_verify },       { "checkpoint", cmd_checkpoint },
	{ "prove", cmd_prove },         { "check-proof", cmd_check_proof },
	{ "pubkey", cmd_pubkey },       { "append", cmd_append },
	{ "export", cmd_export },       { "search", cmd_search },
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

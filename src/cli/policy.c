/* policy.c — `escort policy check FILE...` (validate a policy, file:line:col errors),
 * dispatch of `escort policy load` (policyload.c), and `escort policy explain` (what the policy
 * decides for an operator, a target and a command, and why: the first thing an auditor asks). The
 * CLI is the top layer, so it may feed lockbox's result into the policy; the two libraries never
 * call each other. */
#include "cli/cli.h"
#include "cli/remote.h"
#include "policy/policy.h"
#include "util/buf.h"
#include "util/err.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUB "policy"
/* Read a little more than the policy limit so policy_load can report the real size. */
#define READ_MAX ((size_t)64 * 1024 * 1024)
#define CMD_MAX ((size_t)1024 * 1024)
#define MAX_CATEGORIES 64

static void
policy_help(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: escort policy check FILE...\n"
	    "       escort policy load FILE [-d DIR] [--json]   (see escort policy load --help)\n"
	    "       escort policy explain --operator NAME --target T [--policy FILE]\n"
	    "                             [-d DIR] [--rules DIR]... [--json] -- CMD...\n\n"
	    "check    validates each policy FILE and prints\n"
	    "         \"FILE: ok (N identities, N targets, N rules, version HEX12)\", or the "
	    "first\n"
	    "         error as FILE:LINE:COL: KEY: message.\n"
	    "explain  analyzes CMD with lockbox and shows the policy's decision for NAME running\n"
	    "         it on target T: the risk and categories, the effect (deny, auto-approve,\n"
	    "         needs-approval), who must approve, and every matching rule with its\n"
	    "         file:line and why it matched. The policy is --policy FILE, else the\n"
	    "         active policy DIR/policy/current.yaml of the data directory.\n\n"
	    "  --operator NAME   the requesting identity\n"
	    "  --target T        the target name\n"
	    "  --policy FILE     the policy to evaluate\n"
	    "  -d, --data DIR    data directory (see escort(1))\n"
	    "  --rules DIR       extra lockbox rules (repeatable)\n"
	    "  --json            one JSON object: lockbox result and decision\n"
	    "  -h, --help        show this help\n\n"
	    "Exit status: 0 ok (explain: whatever the decision), 1 invalid policy or other\n"
	    "error, 2 usage.\n"
	    "See escort-policy(5) for the format and the semantics.\n");
}

/* Loads a policy file; prints the error and returns NULL on failure. */
static policy *
load_file(const char *path)
{
	buf bytes = BUF_INIT, err = BUF_INIT;
	policy *p = NULL;
	int r;

	buf_init(&bytes, READ_MAX);
	if ((r = buf_read_file(&bytes, path)) != 0) {
		if (r == ESC_ETOOBIG)
			fprintf(stderr,
			        "%s:1:1: (document): the file is larger than %zu bytes; the "
			        "policy limit is %zu bytes (4 MiB)\n",
			        path, READ_MAX, POLICY_MAX_BYTES);
		else
			fprintf(stderr, "%s: %s\n", path,
			        r == ESC_EIO ? strerror(errno) : esc_strerror(r));
		goto out;
	}
	if ((r = policy_load(&p, (const char *)bytes.data, bytes.len, path, &err)) != 0) {
		fprintf(stderr, "%s\n", err.len ? buf_cstr(&err) : esc_strerror(r));
		p = NULL;
	}
out:
	buf_free(&bytes);
	buf_free(&err);
	return p;
}

static int
policy_check(int argc, char **argv)
{
	int i, rc = CLI_EXIT_OK;

	if (argc < 1) {
		cli_warnx(SUB, "check: give at least one FILE");
		return CLI_EXIT_USAGE;
	}
	for (i = 0; i < argc; i++) {
		policy *p = load_file(argv[i]);
		if (p == NULL) {
			rc = CLI_EXIT_FINDINGS;
			continue;
		}
		printf("%s: ok (%zu identities, %zu targets, %zu rules, version %.12s)\n", argv[i],
		       policy_identity_count(p), policy_target_count(p), policy_rule_count(p),
		       policy_version(p));
		policy_free(p);
	}
	return rc;
}

enum { OPT_OPERATOR = 256, OPT_TARGET, OPT_POLICY, OPT_RULES, OPT_JSON };

static int
policy_explain(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"operator", required_argument, NULL, OPT_OPERATOR},
	    {"target", required_argument, NULL, OPT_TARGET},
	    {"policy", required_argument, NULL, OPT_POLICY},
	    {"data", required_argument, NULL, 'd'},
	    {"data-dir", required_argument, NULL, 'd'},
	    {"rules", required_argument, NULL, OPT_RULES},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *op = NULL, *target = NULL, *pfile = NULL, *dir = NULL;
	char *rules[64];
	int nrules = 0, json = 0, c, i, r, rc = CLI_EXIT_FAIL;
	const char *cats[MAX_CATEGORIES];
	buf cmd = BUF_INIT, out = BUF_INIT, lbjson = BUF_INIT, path = BUF_INIT;
	lockbox *lb = NULL;
	lockbox_result *res = NULL;
	policy *p = NULL;
	json_t *lj = NULL, *jcats;
	json_error_t jerr;
	policy_input in;
	policy_decision d;

	memset(&d, 0, sizeof(d));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hd:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': policy_help(stdout); return CLI_EXIT_OK;
		case OPT_OPERATOR: op = optarg; break;
		case OPT_TARGET: target = optarg; break;
		case OPT_POLICY: pfile = optarg; break;
		case 'd': dir = optarg; break;
		case OPT_RULES:
			if (nrules == 64) {
				cli_warnx(SUB, "--rules: at most 64 directories");
				return CLI_EXIT_USAGE;
			}
			rules[nrules++] = optarg;
			break;
		case OPT_JSON: json = 1; break;
		default:
			cli_warnx(SUB, "explain: unknown or incomplete option '%s'; see --help",
			          argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (op == NULL || target == NULL || optind == argc) {
		cli_warnx(SUB, "explain: --operator, --target and a command (after --) are "
		               "required; see --help");
		return CLI_EXIT_USAGE;
	}
	buf_init(&cmd, CMD_MAX);
	for (i = optind; i < argc; i++)
		if ((i > optind && buf_putc(&cmd, ' ') != 0) || buf_puts(&cmd, argv[i]) != 0) {
			cli_warnx(SUB, "explain: command longer than %zu bytes", CMD_MAX);
			goto out;
		}
	if (pfile == NULL && cli_remote_active()) { /* the server's policy in force */
		rc = nrules ? CLI_EXIT_USAGE
		            : cli_remote_policy_explain(op, target, buf_cstr(&cmd), cmd.len, json);
		if (nrules)
			cli_warnx(SUB, "explain: --rules is a local option; not with --server");
		goto out;
	}
	if (pfile == NULL) {
		buf_printf(&path, "%s/policy/current.yaml", cli_data_dir(dir));
		pfile = buf_cstr(&path);
	}
	if ((p = load_file(pfile)) == NULL)
		goto out;
	if ((lb = cli_load_rules(SUB, rules, nrules)) == NULL)
		goto out;
	if ((r = lockbox_analyze(lb, buf_cstr(&cmd), cmd.len, "bash", &res)) != 0 ||
	    (r = lockbox_result_json(res, &lbjson)) != 0) {
		cli_warnx(SUB, "explain: %s", esc_strerror(r));
		goto out;
	}
	/* the categories are only in the JSON contract; read them back from there */
	if ((lj = json_loadb((const char *)lbjson.data, lbjson.len, 0, &jerr)) == NULL) {
		cli_warnx(SUB, "explain: lockbox output: %s", jerr.text);
		goto out;
	}
	memset(&in, 0, sizeof(in));
	jcats = json_object_get(lj, "categories");
	for (i = 0; i < (int)json_array_size(jcats) && i < MAX_CATEGORIES; i++)
		cats[i] = json_string_value(json_array_get(jcats, (size_t)i));
	in.operator_name = op;
	in.target = target;
	in.risk = (int)lockbox_result_risk(res);
	in.opaque = lockbox_result_opaque(res);
	in.categories = cats;
	in.ncategories = (size_t)i;
	in.now = time(NULL);
	for (i = 0; i < (int)in.ncategories; i++)
		if (cats[i] == NULL) {
			cli_warnx(SUB, "explain: lockbox output: a category is not a string");
			goto out;
		}
	if ((r = policy_decide(p, &in, &d)) != 0) {
		cli_warnx(SUB, "explain: %s", esc_strerror(r));
		goto out;
	}
	if (json) {
		buf_puts(&out, "{\"policy\":");
		{
			char *s;
			json_t *pj =
			    json_pack("{s:s, s:s}", "file", pfile, "version", policy_version(p));
			s = pj ? json_dumps(pj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
			json_decref(pj);
			if (s == NULL) {
				cli_warnx(SUB, "explain: out of memory");
				goto out;
			}
			buf_puts(&out, s);
			free(s);
		}
		buf_puts(&out, ",\"lockbox\":");
		buf_put(&out, lbjson.data, lbjson.len);
		buf_puts(&out, ",\"decision\":");
		if ((r = policy_decision_json(&d, &out)) != 0) {
			cli_warnx(SUB, "explain: %s", esc_strerror(r));
			goto out;
		}
		buf_puts(&out, "}\n");
	} else {
		const policy_target *t = policy_target_find(p, target);
		buf_printf(&out, "policy: %s (version %.12s)\n", pfile, policy_version(p));
		buf_puts(&out, "operator: ");
		cli_escape(&out, (const unsigned char *)op, strlen(op), 0);
		buf_puts(&out, "   target: ");
		cli_escape(&out, (const unsigned char *)target, strlen(target), 0);
		if (t)
			buf_printf(&out, " (environment %s%s%s)", t->environment,
			           t->platform ? ", platform " : "",
			           t->platform ? t->platform : "");
		buf_puts(&out, "\ncommand: ");
		/* the command itself is shown escaped by lockbox's rendering; here only its
		 * JSON-escaped form, so control characters cannot reach the terminal raw */
		{
			json_t *inp = json_object_get(lj, "input");
			char *s = inp ? json_dumps(inp, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
			buf_puts(&out, s ? s : "?");
			free(s);
		}
		buf_printf(&out, "\nlockbox: risk %s (score %d)%s, categories: ",
		           lockbox_risk_name(lockbox_result_risk(res)), lockbox_result_score(res),
		           in.opaque ? ", opaque" : "");
		for (i = 0; i < (int)in.ncategories; i++)
			buf_printf(&out, "%s%s", i ? ", " : "", cats[i]);
		if (in.ncategories == 0)
			buf_puts(&out, "(none)");
		buf_putc(&out, '\n');
		{
			const char *ex = json_string_value(json_object_get(lj, "explanation"));
			if (ex && *ex) {
				buf_puts(&out, "what it does: ");
				cli_escape(&out, (const unsigned char *)ex, strlen(ex), 0);
				buf_putc(&out, '\n');
			}
		}
		if ((r = policy_decision_render(&d, &out)) != 0) {
			cli_warnx(SUB, "explain: %s", esc_strerror(r));
			goto out;
		}
	}
	fwrite(out.data, 1, out.len, stdout);
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	policy_decision_free(&d);
	json_decref(lj);
	lockbox_result_free(res);
	lockbox_free(lb);
	policy_free(p);
	buf_free(&cmd);
	buf_free(&out);
	buf_free(&lbjson);
	buf_free(&path);
	return rc;
}

int
cli_policy(int argc, char **argv)
{
	if (argc < 2) {
		policy_help(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		policy_help(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "check") == 0) {
		if (argc > 2 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
			policy_help(stdout);
			return CLI_EXIT_OK;
		}
		return policy_check(argc - 2, argv + 2);
	}
	if (strcmp(argv[1], "explain") == 0)
		return policy_explain(argc - 1, argv + 1);
	if (strcmp(argv[1], "load") == 0)
		return cli_policy_load(argc - 1, argv + 1);
	cli_warnx(SUB, "'%s' is not a policy command (check, load, explain); see --help", argv[1]);
	return CLI_EXIT_USAGE;
}

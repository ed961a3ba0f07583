/* policyload.c — `escort policy load FILE`: the data directory owner puts a new policy in
 * force. The file is validated first; on any error the previous policy stays in force. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"
#include "util/buf.h"
#include "util/err.h"
#include "workflow/workflow.h"

#define SUB "policy load"

static void
load_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort policy load FILE [--data DIR] [--json]\n\n"
	    "Validates FILE (escort-policy(5)); when it is valid, stores it as\n"
	    "DIR/policy/vN-HASH.yaml and DIR/policy/current.yaml and puts it in force as\n"
	    "version N (recorded in the store and the audit log with the file's SHA-256).\n"
	    "On any error nothing changes: the previous policy stays in force.\n"
	    "Only the owner of the data directory may do this.\n\n"
	    "  --data DIR   data directory (also -d; default: $ESCORT_DATA, else ./escort-data)\n"
	    "  --json       print {\"version\": N, \"sha256\": ...}\n\n"
	    "Exit status: 0 ok, 1 invalid policy or other error, 2 usage, 3 refused.\n");
}

int
cli_policy_load(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dopt = NULL, *dir, *file;
	char actor[300], err[1024] = "";
	buf bytes = BUF_INIT, msg = BUF_INIT;
	wf *w = NULL;
	int64_t version = 0;
	int c, json = 0, rc, ret = CLI_EXIT_FAIL;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dopt = optarg; break;
		case 'j': json = 1; break;
		case 'h': load_help(stdout); return CLI_EXIT_OK;
		case ':':
			cli_warnx(SUB, "%s needs an argument", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			cli_warnx(SUB, "unknown option %s; see 'escort policy load --help'",
			          argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_warnx(SUB, "needs exactly one FILE");
		return CLI_EXIT_USAGE;
	}
	file = argv[optind];
	dir = cli_data_dir(dopt);
	if ((rc = cli_owner_actor(SUB, dir, actor, sizeof(actor))) != 0)
		return rc;
	/* one byte over the limit lets policy_load name the real problem (too big) */
	buf_init(&bytes, POLICY_MAX_BYTES + 1);
	rc = buf_read_file(&bytes, file);
	if (rc == ESC_ETOOBIG) {
		cli_warnx(SUB, "%s: larger than the %zu byte policy limit; the previous policy stays "
		          "in force", file, POLICY_MAX_BYTES);
		goto out;
	}
	if (rc) {
		cli_warnx(SUB, "%s: %s", file, rc == ESC_EIO ? strerror(errno) : esc_strerror(rc));
		goto out;
	}
	if ((rc = wf_open(&w, dir, NULL, err, sizeof(err))) != 0) {
		/* a broken current policy must not stop the owner from loading a good one */
		cli_warnx(SUB, "%s", err);
		goto out;
	}
	rc = wf_policy_load(w, actor, (const char *)bytes.data, bytes.len, file, &version, &msg);
	if (rc) {
		cli_warnx(SUB, "%s%s", buf_cstr(&msg),
		          " (the previous policy stays in force)");
		ret = rc == ESC_EINVAL && msg.len == 0 ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
		goto out;
	}
	if (json)
		printf("{\"sha256\":\"%s\",\"version\":%" PRId64 "}\n", policy_version(wf_policy(w)),
		       version);
	else
		printf("policy version %" PRId64 " in force (%s, sha256 %s)\n", version, file,
		       policy_version(wf_policy(w)));
	if (msg.len)
		cli_warnx(SUB, "%s", buf_cstr(&msg));
	ret = CLI_EXIT_OK;
out:
	wf_close(w);
	buf_free(&bytes);
	buf_free(&msg);
	return ret;
}

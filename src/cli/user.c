/* user.c — `escort user token NAME`, `escort user revoke NAME` and `escort user totp NAME`:
 * identity tokens and TOTP enrolment, for the owner of the data directory only. A token
 * is printed once; the store keeps only its SHA-256, so a lost token is replaced, never
 * recovered. */
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/err.h"
#include "workflow/workflow.h"

#define SUB "user"

static void
user_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort user token NAME [--data DIR] [--json]\n"
	    "       escort user revoke NAME [--data DIR] [--json]\n"
	    "       escort user totp NAME [--data DIR] [--json]\n\n"
	    "token   issues a new random token for identity NAME (which must exist in the\n"
	    "        policy in force) and prints it once; any older token of NAME stops working.\n"
	    "        NAME then authenticates with ESCORT_TOKEN=<token>.\n"
	    "revoke  removes NAME's token.\n"
	    "totp    gives NAME a new TOTP secret (RFC 6238: SHA-1, 30 s, 6 digits) for the\n"
	    "        console login and approvals, and prints it with its otpauth:// URI once;\n"
	    "        any older secret stops working.\n\n"
	    "Only the owner of the data directory may do this.\n\n"
	    "  --data DIR   data directory (also -d; default: $ESCORT_DATA, else ./escort-data)\n"
	    "  --json       print {\"identity\": ..., \"token\": ...}\n"
	    "  -h, --help   show this help\n\n"
	    "Exit status: 0 ok, 1 error, 2 usage, 3 refused (not the owner), 4 no such identity.\n");
}

int
cli_user(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dopt = NULL, *cmd, *dir, *name;
	char actor[300], err[1024] = "", token[WF_TOKEN_LEN + 1];
	buf msg = BUF_INIT;
	wf *w = NULL;
	int c, json = 0, rc;

	if (argc < 2) {
		user_help(stderr);
		return CLI_EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		user_help(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "token") != 0 && strcmp(cmd, "revoke") != 0 && strcmp(cmd, "totp") != 0) {
		cli_warnx(SUB, "'%s' is not a user command (token, revoke, totp); see --help", cmd);
		return CLI_EXIT_USAGE;
	}
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, ":d:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dopt = optarg; break;
		case 'j': json = 1; break;
		case 'h': user_help(stdout); return CLI_EXIT_OK;
		case ':':
			cli_warnx(SUB, "%s needs an argument", argv[optind]);
			return CLI_EXIT_USAGE;
		default:
			cli_warnx(SUB, "unknown option %s; see 'escort user --help'", argv[optind]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc - 1) {
		cli_warnx(SUB, "%s needs exactly one identity NAME", cmd);
		return CLI_EXIT_USAGE;
	}
	name = argv[1 + optind];
	dir = cli_data_dir(dopt);
	if ((rc = cli_owner_actor(SUB, dir, actor, sizeof(actor))) != 0)
		return rc;
	if ((rc = wf_open(&w, dir, NULL, err, sizeof(err))) != 0) {
		cli_warnx(SUB, "%s", err);
		return CLI_EXIT_FAIL;
	}
	if (strcmp(cmd, "totp") == 0) {
		char secret[64];
		buf uri = BUF_INIT;

		rc = wf_totp_enroll(w, dir, actor, name, secret, sizeof(secret), &uri, &msg);
		if (rc == 0) {
			if (json) {
				json_t *j = json_pack("{s:s, s:s, s:s}", "identity", name, "secret", secret,
				                      "uri", buf_cstr(&uri));
				char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

				if (s)
					printf("%s\n", s);
				free(s);
				json_decref(j);
			} else
				printf("%s\n%s\n", secret, buf_cstr(&uri));
			fflush(stdout);
			if (!json)
				fprintf(stderr, "TOTP secret for %s set; it is shown only this once (add it "
				                "to an authenticator app)\n", name);
		}
		sodium_memzero(secret, sizeof(secret));
		if (uri.data)
			sodium_memzero(uri.data, uri.len);
		buf_free(&uri);
	} else if (strcmp(cmd, "token") == 0) {
		rc = wf_token_issue(w, actor, name, token, sizeof(token), &msg);
		if (rc == 0) {
			if (json) {
				json_t *j = json_pack("{s:s, s:s}", "identity", name, "token", token);
				char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

				if (s)
					printf("%s\n", s);
				free(s);
				json_decref(j);
			} else
				printf("%s\n", token);
			fflush(stdout);
			sodium_memzero(token, sizeof(token));
			if (!json)
				fprintf(stderr, "token for %s issued; it is shown only this once (set it as "
				                "ESCORT_TOKEN)\n", name);
		}
	} else {
		rc = wf_token_revoke(w, actor, name, &msg);
		if (rc == 0) {
			if (json)
				printf("{\"identity\":\"%s\",\"revoked\":true}\n", name);
			else
				printf("token of %s revoked\n", name);
		}
	}
	if (rc)
		cli_warnx(SUB, "%s", msg.len ? buf_cstr(&msg) : esc_strerror(rc));
	buf_free(&msg);
	wf_close(w);
	return cli_wf_exit(rc);
}

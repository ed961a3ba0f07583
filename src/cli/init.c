/* init.c — `escort init`: creates the data directory (0700) with the audit log's Ed25519
 * signing key (0600, O_EXCL|O_NOFOLLOW) and public key, and records the first event and
 * signed tree head. Never overwrites an existing key. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/log.h"
#include "audit/sth.h"
#include "store/store.h"
#include "util/err.h"

static void
init_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort init [--data DIR]\n\n"
	    "Creates the data directory DIR (mode 0700) with the audit log's Ed25519 signing key\n"
	    "(signing.key, mode 0600) and its public key (signing.pub) and the request store\n"
	    "(escort.db), then writes the first audit record and a signed tree head. Refuses to\n"
	    "overwrite an existing key. Whoever owns DIR administers it (policy load, tokens).\n"
	    "With $ESCORT_STORE set to a postgres:// URL, store and audit log are created in that\n"
	    "database instead; a second node does not run init but gets a copy of the first\n"
	    "node's signing.key and signing.pub (every node signs the one log with that key).\n\n"
	    "  --data DIR           data directory (also -d, --data-dir; default: $ESCORT_DATA,\n"
	    "                       else ./escort-data)\n"
	    "  --user NAME          (root) DIR belongs to NAME, escortd's worker user; only\n"
	    "                       signing.key (and keys/) stay root's. Default as root: the\n"
	    "                       system user 'escort' when it exists, else root\n"
	    "  -h, --help           show this help\n\n"
	    "Exit status: 0 ok, 1 refused (a key exists), 2 usage, 3 error. See escort-init(1).\n");
}

int
cli_init(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dopt = NULL, *dir;
	char err[1024] = "", path[4096], idh[17];
	struct stat st;
	audit_log *log = NULL;
	store *sto = NULL;
	const char *spec;
	int schema = 0;
	audit_pubkey pk;
	json_t *det = NULL;
	int c, rc, ret = CLI_EXIT_ERROR;
	const char *uopt = NULL; /* --user */
	uid_t ouid = 0;
	gid_t ogid = 0;
	int give = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:hu:", lo, NULL)) != -1) {
		switch (c) {
		case 'u':
			uopt = optarg;
			break;
		case 'd':
			dopt = optarg;
			break;
		case 'h':
			init_help(stdout);
			return CLI_EXIT_OK;
		case ':':
			cli_warnx("init", "%s needs an argument", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			cli_warnx("init", "unknown option %s; see 'escort init --help'", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_warnx("init", "unexpected argument %s; see 'escort init --help'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	dir = cli_data_dir(dopt);
	if ((rc = cli_init_user(uopt, dir, &ouid, &ogid, &give)) != 0)
		return rc;
	if (lstat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			cli_warnx("init", "%s exists and is not a directory; refusing", dir);
			return CLI_EXIT_FINDINGS;
		}
		if ((st.st_mode & 077) && chmod(dir, 0700) != 0) {
			cli_warnx("init", "cannot restrict %s to mode 0700: %s", dir, strerror(errno));
			return CLI_EXIT_ERROR;
		}
	} else if (errno != ENOENT || mkdir(dir, 0700) != 0) {
		cli_warnx("init", "cannot create %s: %s", dir, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, AUDIT_SUBDIR);
	if (lstat(path, &st) == 0) {
		/* a new key would orphan the existing log's signatures */
		cli_warnx("init", "%s already holds an audit log; refusing to create a new key", path);
		return CLI_EXIT_FINDINGS;
	}
	/* $ESCORT_STORE (postgres://...) keeps the audit log there too: one log for every
	 * node, signed with one key, so a second node copies the first one's key instead */
	spec = getenv("ESCORT_STORE");
	if (audit_backend_url(NULL) != NULL) {
		audit_opts ro;

		memset(&ro, 0, sizeof(ro));
		ro.readonly = 1;
		rc = audit_log_open(&log, dir, &ro, err, sizeof(err));
		if (rc == 0 && audit_log_size(log) > 0) {
			cli_warnx("init", "the database already holds an audit log (%" PRIu64 " records); "
			          "refusing to create a new key. To add a node, copy %s and %s from an "
			          "existing node's data directory into %s instead", audit_log_size(log),
			          AUDIT_KEY_FILE, AUDIT_PUB_FILE, dir);
			audit_log_close(log, NULL, 0);
			return CLI_EXIT_FINDINGS;
		}
		audit_log_close(log, NULL, 0);
		log = NULL;
		if (rc && rc != ESC_ENOENT) {
			cli_warnx("init", "%s", err);
			return CLI_EXIT_ERROR;
		}
		err[0] = 0;
	}
	rc = audit_key_generate(dir, err, sizeof(err));
	if (rc) {
		cli_warnx("init", "%s", err);
		return rc == ESC_EINVAL ? CLI_EXIT_FINDINGS : CLI_EXIT_ERROR;
	}
	/* $ESCORT_STORE (postgres://...) keeps the state elsewhere; its schema is made here
	 * too, so init leaves a store ready for `escort policy load` either way */
	if ((spec && *spec ? store_open_url(&sto, spec, 1, err, sizeof(err)) :
	                     store_open_sqlite(&sto, dir, 1, err, sizeof(err))) != 0 ||
	    store_schema_version(sto, &schema) != 0) {
		cli_warnx("init", "cannot create the store: %s", err[0] ? err : store_error(sto));
		goto out;
	}
	store_close(sto);
	sto = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, AUDIT_PUB_FILE);
	if (audit_pubkey_load(path, &pk, err, sizeof(err)) != 0 ||
	    audit_log_open(&log, dir, NULL, err, sizeof(err)) != 0) {
		cli_warnx("init", "%s", err);
		goto out;
	}
	audit_key_id_hex(pk.id, idh);
	det = json_pack("{s:s, s:i}", "key_id", idh, "store_schema", schema);
	if (det == NULL || audit_log_append(log, "log.init", "escort", det, NULL) != 0) {
		cli_warnx("init", "cannot record the first event: %s", audit_log_error(log));
		goto out;
	}
	rc = audit_log_close(log, err, sizeof(err));
	log = NULL;
	if (rc) {
		cli_warnx("init", "%s", err);
		goto out;
	}
	/* made as root, for escortd's worker user: all but the secrets become its */
	if (give && cli_init_give(dir, ouid, ogid) != 0)
		goto out;
	printf("initialized %s\naudit signing key %s; public key in %s\n", dir, idh, path);
	ret = CLI_EXIT_OK;
out:
	store_close(sto);
	json_decref(det);
	audit_log_close(log, NULL, 0);
	return ret;
}

/* serve.c — `escort serve`: runs escortd (the HTTP JSON API and the console) over the
 * data directory until SIGTERM/SIGINT, and `escort serve --make-cert DIR` for a trial TLS
 * certificate. Options only; the server itself lives in src/server. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/privsep.h"
#include "server/server.h"
#include "util/err.h"

#define SUB "serve"

static void
serve_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort serve [--data DIR] [--store URL] [--listen HOST:PORT] [--web DIR]\n"
	    "                    [--tls-cert FILE --tls-key FILE] [--threads N]\n"
	    "                    [--max-body BYTES] [--rate N] [--max-connections N]\n"
	    "                    [--per-ip N] [--timeout SECONDS]\n"
	    "                    [--privsep | --no-privsep] [--user NAME]\n"
	    "       escort serve --make-cert DIR [--cn NAME]\n\n"
	    "Runs escortd, the HTTP JSON API of docs/api.md (and the web console with --web),\n"
	    "over the data directory, until SIGTERM or SIGINT. Prints 'escort serve: listening\n"
	    "on URL' on standard error when ready.\n\n"
	    "  --data DIR          data directory (also -d; default: $ESCORT_DATA, else\n"
	    "                      ./escort-data)\n"
	    "  --store URL         keep requests, approvals, tokens, sessions and the audit\n"
	    "                      log in PostgreSQL (postgres://...; default: $ESCORT_STORE,\n"
	    "                      else the data directory's SQLite file and audit segments).\n"
	    "                      The signing key and the policy stay in DIR\n"
	    "  --listen HOST:PORT  address (default 127.0.0.1:8443; port 0 picks one). Any\n"
	    "                      non-loopback address requires --tls-cert and --tls-key\n"
	    "  --web DIR           serve the console's files at / (default: $ESCORT_WEB, else\n"
	    "                      the installed share directory, else web/ of a build tree)\n"
	    "  --tls-cert, --tls-key FILE   PEM certificate and key: serve HTTPS\n"
	    "  --threads N         worker threads (default 4)\n"
	    "  --max-body BYTES    request body limit (default 1048576): larger is 413\n"
	    "  --rate N            requests per second per identity (default 20, burst 5x)\n"
	    "  --max-connections N connections in all (default 256)\n"
	    "  --per-ip N          connections per client address (default 32)\n"
	    "  --timeout SECONDS   idle connections are closed after this (default 30)\n"
	    "  --privsep, --no-privsep  privilege separation (docs/privsep.md): a signer and a\n"
	    "                      broker process hold the keys; the HTTP worker runs with no\n"
	    "                      capabilities and seccomp as --user, else the data\n"
	    "                      directory's owner, else the user escort. Always on as root\n"
	    "                      (refused when there is no such user); --no-privsep runs\n"
	    "                      everything as root, with a warning\n"
	    "  --user NAME         the HTTP worker's user (root only); it gets the data\n"
	    "                      directory except signing.key and keys/\n"
	    "  --make-cert DIR     write DIR/cert.pem and DIR/key.pem (self-signed, 30 days,\n"
	    "                      for trials) and exit; --cn NAME adds a host name\n"
	    "  -h, --help          show this help\n\n"
	    "Exit status: 0 stopped cleanly, 1 error, 2 usage.\n");
}

static int
parse_num(const char *opt, const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *v == 0 || *v > max || s[0] == '-') {
		cli_warnx(SUB, "%s needs a number from 1 to %llu, not '%s'", opt, max, s);
		return -1;
	}
	return 0;
}

/* The console's files when neither --web nor $ESCORT_WEB names them: the installed share
 * directory, else web/ next to the binary's parent (a build tree); NULL when neither has
 * an index.html. out needs PATH_MAX bytes. */
static const char *
default_web(char *out, size_t outlen)
{
	char exe[PATH_MAX], *slash;
	struct stat st;
	ssize_t n;

	snprintf(out, outlen, "%s/web", ESCORT_DATADIR);
	if ((size_t)snprintf(exe, sizeof(exe), "%.*s/index.html", (int)(sizeof(exe) - 12), out) <
	        sizeof(exe) &&
	    stat(exe, &st) == 0)
		return out;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return NULL;
	exe[n] = 0;
	if ((slash = strrchr(exe, '/')) == NULL)
		return NULL;
	*slash = 0;
	if ((size_t)snprintf(out, outlen, "%.*s/../web", (int)(outlen - 8), exe) >= outlen)
		return NULL;
	if ((size_t)snprintf(exe, sizeof(exe), "%.*s/index.html", (int)(sizeof(exe) - 12), out) <
	        sizeof(exe) &&
	    stat(exe, &st) == 0)
		return out;
	return NULL;
}

enum { O_LISTEN = 256, O_WEB, O_CERT, O_KEY, O_THREADS, O_BODY, O_RATE, O_CONNS, O_PERIP,
       O_TIMEOUT, O_MAKECERT, O_CN, O_PRIVSEP, O_NOPRIVSEP, O_USER, O_STORE };

int
cli_serve(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "web", required_argument, NULL, O_WEB },
		{ "tls-cert", required_argument, NULL, O_CERT },
		{ "tls-key", required_argument, NULL, O_KEY },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "max-body", required_argument, NULL, O_BODY },
		{ "rate", required_argument, NULL, O_RATE },
		{ "max-connections", required_argument, NULL, O_CONNS },
		{ "per-ip", required_argument, NULL, O_PERIP },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "make-cert", required_argument, NULL, O_MAKECERT },
		{ "cn", required_argument, NULL, O_CN },
		{ "privsep", no_argument, NULL, O_PRIVSEP },
		{ "no-privsep", no_argument, NULL, O_NOPRIVSEP },
		{ "user", required_argument, NULL, O_USER },
		{ "store", required_argument, NULL, O_STORE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	srv_opts o;
	privsep_opts po = { NULL, NULL, PRIVSEP_AUTO };
	const char *dopt = NULL, *store = NULL, *make_cert = NULL, *cn = NULL;
	unsigned long long v;
	char err[2048] = "", webbuf[PATH_MAX];
	lockbox *lb;
	int c, rc;

	memset(&o, 0, sizeof(o));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dopt = optarg; break;
		case O_LISTEN: o.listen = optarg; break;
		case O_WEB: o.web_dir = optarg; break;
		case O_CERT: o.tls_cert = optarg; break;
		case O_KEY: o.tls_key = optarg; break;
		case O_MAKECERT: make_cert = optarg; break;
		case O_CN: cn = optarg; break;
		case O_PRIVSEP: po.mode = PRIVSEP_ON; break;
		case O_NOPRIVSEP: po.mode = PRIVSEP_OFF; break;
		case O_USER: po.user = optarg; break;
		case O_STORE: store = optarg; break;
		case O_THREADS:
			if (parse_num("--threads", optarg, 256, &v))
				return CLI_EXIT_USAGE;
			o.threads = (unsigned)v;
			break;
		case O_BODY:
			if (parse_num("--max-body", optarg, (unsigned long long)64 << 20, &v))
				return CLI_EXIT_USAGE;
			o.max_body = (size_t)v;
			break;
		case O_RATE:
			if (parse_num("--rate", optarg, 1000000, &v))
				return CLI_EXIT_USAGE;
			o.rate = (unsigned)v;
			break;
		case O_CONNS:
			if (parse_num("--max-connections", optarg, 65536, &v))
				return CLI_EXIT_USAGE;
			o.max_conns = (unsigned)v;
			break;
		case O_PERIP:
			if (parse_num("--per-ip", optarg, 65536, &v))
				return CLI_EXIT_USAGE;
			o.per_ip = (unsigned)v;
			break;
		case O_TIMEOUT:
			if (parse_num("--timeout", optarg, 86400, &v))
				return CLI_EXIT_USAGE;
			o.timeout_s = (unsigned)v;
			break;
		case 'h':
			serve_help(stdout);
			return CLI_EXIT_OK;
		case ':':
			cli_warnx(SUB, "%s needs an argument", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			cli_warnx(SUB, "unknown option %s; see 'escort serve --help'", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_warnx(SUB, "unexpected argument '%s'; see 'escort serve --help'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (make_cert) {
		if ((rc = srv_make_cert(make_cert, cn, err, sizeof(err))) != 0) {
			cli_warnx(SUB, "%s", err);
			return CLI_EXIT_FAIL;
		}
		fprintf(stderr, "escort serve: wrote %s/cert.pem and %s/key.pem (self-signed, for "
		                "trials)\n", make_cert, make_cert);
		return CLI_EXIT_OK;
	}
	if (o.web_dir == NULL)
		o.web_dir = getenv("ESCORT_WEB");
	if (o.web_dir == NULL)
		o.web_dir = default_web(webbuf, sizeof(webbuf));
	if (o.web_dir && *o.web_dir == 0)
		o.web_dir = NULL;
	o.datadir = cli_data_dir(dopt);
	/* Every workflow handle the server opens (wf_open, in workers, batches and the event
	 * hub, also in privsep's child processes) takes its store from $ESCORT_STORE. */
	if (store) {
		if (strncmp(store, "postgres://", 11) != 0 && strncmp(store, "postgresql://", 13) != 0) {
			cli_warnx(SUB, "--store needs a postgres:// or postgresql:// URL");
			return CLI_EXIT_USAGE;
		}
		if (setenv("ESCORT_STORE", store, 1) != 0) {
			cli_warnx(SUB, "setenv: %s", strerror(errno));
			return CLI_EXIT_FAIL;
		}
	}
	if ((lb = cli_load_rules(SUB, NULL, 0)) == NULL)
		return CLI_EXIT_FAIL;
	o.lb = lb;
	/* privilege separation (docs/privsep.md): returns 1 in the monitor when all ended */
	po.datadir = o.datadir;
	if ((rc = privsep_start(&po, &c, err, sizeof(err))) != 0) {
		lockbox_free(lb);
		if (rc > 0)
			return c;
		cli_warnx(SUB, "%s", err);
		return CLI_EXIT_FAIL;
	}
	rc = srv_run(&o, err, sizeof(err));
	lockbox_free(lb);
	if (rc) {
		cli_warnx(SUB, "%s", err[0] ? err : esc_strerror(rc));
		return rc == ESC_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

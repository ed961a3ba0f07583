/* analyze.c — `escort analyze` (records in, one JSON object per record out) and
 * `escort explain` (one command, rendered for a person at a terminal).
 * Both stream: input is read in chunks and every complete record is analyzed at once. */
#include "cli/cli.h"
#include "util/buf.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A longer record is not analyzed; it is reported as critical so nothing waves it through. */
#define RECORD_MAX ((size_t)16 * 1024 * 1024)
#define MAX_RULE_DIRS 64

struct common_opts {
	const char *shell;
	char *rules[MAX_RULE_DIRS];
	int nrules;
	int fail_on; /* risk level that makes the exit status 1, or -1 */
	char *sigma[MAX_RULE_DIRS]; /* --sigma directories */
	int nsigma;
};

enum { OPT_RULES = 256, OPT_FAIL_ON, OPT_SHELL, OPT_COLOR, OPT_JSON, OPT_HELP, OPT_SIGMA,
       OPT_CHECK_SIGMA };

static int
common_opt(const char *sub, struct common_opts *o, int c, const char *arg)
{
	switch (c) {
	case OPT_SHELL:
		if (strcmp(arg, "bash") == 0 || strcmp(arg, "sh") == 0) {
			o->shell = "bash";
		} else if (strcmp(arg, "powershell") == 0 || strcmp(arg, "pwsh") == 0) {
			o->shell = "powershell";
		} else if (strcmp(arg, "cmd") == 0) {
			o->shell = "cmd";
		} else {
			cli_warnx(sub, "--shell %s: not supported (supported: bash, powershell, cmd)",
			    arg);
			return CLI_EXIT_USAGE;
		}
		return 0;
	case OPT_RULES:
		if (o->nrules == MAX_RULE_DIRS) {
			cli_warnx(sub, "--rules: at most %d directories", MAX_RULE_DIRS);
			return CLI_EXIT_USAGE;
		}
		o->rules[o->nrules++] = (char *)arg;
		return 0;
	case OPT_SIGMA:
		if (o->nsigma == MAX_RULE_DIRS) {
			cli_warnx(sub, "--sigma: at most %d directories", MAX_RULE_DIRS);
			return CLI_EXIT_USAGE;
		}
		o->sigma[o->nsigma++] = (char *)arg;
		return 0;
	case OPT_FAIL_ON:
		if ((o->fail_on = cli_parse_risk(arg)) < 0) {
			cli_warnx(sub, "--fail-on %s: expected none, low, medium, high or critical",
			    arg);
			return CLI_EXIT_USAGE;
		}
		return 0;
	}
	return CLI_EXIT_USAGE;
}

/* Loads the --sigma directories into lb. A refused rule is a warning (the others still
 * apply); an unreadable directory is an error. With verbose (--check-sigma) every loaded
 * rule is listed on standard output and *refused counts the problem lines. */
static int
load_sigma(const char *sub, lockbox *lb, const struct common_opts *o, int verbose,
    int *refused)
{
	buf rep = BUF_INIT;
	int i, r = 0;

	for (i = 0; i < o->nsigma && r == 0; i++) {
		char *line, *save = NULL;

		rep.len = 0;
		r = lockbox_load_sigma(lb, o->sigma[i], &rep, verbose);
		if (rep.len == 0)
			continue;
		for (line = strtok_r((char *)buf_cstr(&rep), "\n", &save); line;
		    line = strtok_r(NULL, "\n", &save)) {
			if (verbose && strstr(line, ": loaded: ")) {
				printf("%s\n", line);
				continue;
			}
			if (refused)
				(*refused)++;
			cli_warnx(sub, "sigma: %s", line);
		}
	}
	buf_free(&rep);
	if (r != 0 && r != ESC_ENOENT)
		cli_warnx(sub, "sigma: %s", esc_strerror(r));
	return r;
}

static void
analyze_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort analyze [--shell SHELL] [-0|--null] [--rules DIR]... [--sigma DIR]...\n"
	    "                      [--fail-on RISK] [FILE...]\n"
	    "       escort analyze --check-sigma DIR\n\n"
	    "Reads command records from FILE (or standard input), one per line, or separated by\n"
	    "NUL bytes with --null so a record can be a multi-line script, and writes one JSON\n"
	    "object per record, in order, one per line: risk, score, categories, ATT&CK ids,\n"
	    "whether the command is opaque, an explanation, the commands and the findings.\n\n"
	    "  --shell SHELL     the records' shell: bash (default), powershell (pwsh) or cmd\n"
	    "  -0, --null        records are NUL-separated\n"
	    "  --rules DIR       load extra rules from DIR (repeatable; later ones override)\n"
	    "  --sigma DIR       also apply the Sigma rules (Linux process_creation) in DIR\n"
	    "                    (repeatable); unsupported rules are reported and skipped\n"
	    "  --check-sigma DIR list the Sigma rules of DIR that load and those that do not,\n"
	    "                    then exit (1 when any is refused)\n"
	    "  --fail-on RISK    exit 1 if any record is rated RISK or higher\n"
	    "  -h, --help        show this help\n\n"
	    "Exit status: 0 ok, 1 a record reached --fail-on, 2 usage, 3 input or rules error.\n"
	    "See escort-analyze(1).\n");
}

/* Emits the stand-in object for a record too large to analyze. */
static void
emit_oversize(buf *out, const char *shell)
{
	/* shell is one of our own constant names, never user text: safe to print raw */
	buf_printf(out,
	    "{\"input\":\"\",\"shell\":\"%s\",\"risk\":\"critical\",\"score\":100,"
	    "\"categories\":[\"opaque\"],\"attack\":[],\"opaque\":true,"
	    "\"explanation\":\"The record is longer than %zu bytes and was not analyzed.\","
	    "\"commands\":[],\"findings\":[{\"id\":\"record-too-large\",\"severity\":"
	    "\"critical\",\"category\":\"opaque\",\"message\":\"record longer than %zu bytes "
	    "was not analyzed\",\"span\":[0,0]}]}\n",
	    shell, RECORD_MAX, RECORD_MAX);
}

struct run {
	const lockbox *lb;
	const char *shell;
	int fail_on;
	int failed;     /* a record reached fail_on */
	int errors;     /* an internal error happened */
	buf out;
};

static int
analyze_record(struct run *rn, const char *p, size_t n)
{
	lockbox_result *res = NULL;
	int r;

	if ((r = lockbox_analyze(rn->lb, p, n, rn->shell, &res)) != 0)
		return r;
	if ((r = lockbox_result_json(res, &rn->out)) == 0)
		r = buf_putc(&rn->out, '\n');
	if (rn->fail_on >= 0 && (int)lockbox_result_risk(res) >= rn->fail_on)
		rn->failed = 1;
	lockbox_result_free(res);
	return r;
}

static int
flush_out(struct run *rn)
{
	if (rn->out.len && fwrite(rn->out.data, 1, rn->out.len, stdout) != rn->out.len)
		return ESC_EIO;
	buf_reset(&rn->out);
	return fflush(stdout) == 0 ? 0 : ESC_EIO;
}

/* Streams one input: complete records are analyzed as soon as they are read. */
static int
analyze_fd(struct run *rn, int fd, const char *name, int delim)
{
	buf in = BUF_INIT;
	size_t scan = 0, recno = 0;
	int r = 0, skipping = 0;
	ssize_t n;

	buf_init(&in, RECORD_MAX + 65536);
	for (;;) {
		if ((r = buf_reserve(&in, 65536)) != 0)
			goto out;
		n = read(fd, in.data + in.len, 65536);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cli_warnx("analyze", "%s: %s", name, strerror(errno));
			r = ESC_EIO;
			goto out;
		}
		in.len += (size_t)n;
		in.data[in.len] = 0;
		for (;;) {
			unsigned char *e = memchr(in.data + scan, delim, in.len - scan);
			size_t rlen;

			if (e == NULL) {
				scan = in.len;
				break;
			}
			rlen = (size_t)(e - in.data);
			recno++;
			if (skipping) {
				skipping = 0;
			} else if ((r = analyze_record(rn, (char *)in.data, rlen)) != 0)
				goto out;
			buf_consume(&in, rlen + 1);
			scan = 0;
		}
		if (!skipping && in.len > RECORD_MAX) {
			cli_warnx("analyze", "%s: record %zu is longer than %zu bytes; not analyzed",
			    name, recno + 1, RECORD_MAX);
			emit_oversize(&rn->out, rn->shell);
			skipping = 1;
		}
		if (skipping) {
			buf_reset(&in);
			scan = 0;
		}
		if ((r = flush_out(rn)) != 0)
			goto out;
		if (n == 0)
			break;
	}
	/* a last record without a terminator still counts */
	if (!skipping && in.len > 0)
		r = analyze_record(rn, (char *)in.data, in.len);
out:
	buf_free(&in);
	return r;
}

int
cli_analyze(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "shell", required_argument, NULL, OPT_SHELL },
		{ "null", no_argument, NULL, '0' },
		{ "rules", required_argument, NULL, OPT_RULES },
		{ "sigma", required_argument, NULL, OPT_SIGMA },
		{ "check-sigma", required_argument, NULL, OPT_CHECK_SIGMA },
		{ "fail-on", required_argument, NULL, OPT_FAIL_ON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts o = { "bash", { NULL }, 0, -1, { NULL }, 0 };
	struct run rn;
	int c, delim = '\n', i, r, rc = CLI_EXIT_OK, check = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+0h", longopts, NULL)) != -1) {
		switch (c) {
		case '0':
			delim = 0;
			break;
		case 'h':
			analyze_help(stdout);
			return CLI_EXIT_OK;
		case OPT_CHECK_SIGMA:
			check = 1;
			if ((r = common_opt("analyze", &o, OPT_SIGMA, optarg)) != 0)
				return r;
			break;
		case '?':
			cli_warnx("analyze", "unknown or incomplete option '%s'; see --help",
			    argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			if ((r = common_opt("analyze", &o, c, optarg)) != 0)
				return r;
		}
	}
	memset(&rn, 0, sizeof(rn));
	rn.shell = o.shell;
	rn.fail_on = o.fail_on;
	if ((rn.lb = cli_load_rules("analyze", o.rules, o.nrules)) == NULL)
		return CLI_EXIT_ERROR;
	if (check) {
		int refused = 0;

		r = load_sigma("analyze", (lockbox *)rn.lb, &o, 1, &refused);
		printf("%zu Sigma rules loaded, %d problems\n",
		    lockbox_sigma_count(rn.lb), refused);
		lockbox_free((lockbox *)rn.lb);
		return r ? CLI_EXIT_ERROR : refused ? CLI_EXIT_FINDINGS : CLI_EXIT_OK;
	}
	if (load_sigma("analyze", (lockbox *)rn.lb, &o, 0, NULL) != 0) {
		lockbox_free((lockbox *)rn.lb);
		return CLI_EXIT_ERROR;
	}
	if (optind == argc) {
		r = analyze_fd(&rn, 0, "standard input", delim);
	} else {
		for (r = 0, i = optind; i < argc && r == 0; i++) {
			int fd;

			if (strcmp(argv[i], "-") == 0) {
				r = analyze_fd(&rn, 0, "standard input", delim);
				continue;
			}
			if ((fd = open(argv[i], O_RDONLY | O_CLOEXEC)) == -1) {
				cli_warnx("analyze", "%s: %s", argv[i], strerror(errno));
				r = ESC_EIO;
				break;
			}
			r = analyze_fd(&rn, fd, argv[i], delim);
			close(fd);
		}
	}
	if (r == 0)
		r = flush_out(&rn);
	else
		(void)flush_out(&rn);
	if (r != 0) {
		if (r != ESC_EIO)
			cli_warnx("analyze", "%s", esc_strerror(r));
		rc = CLI_EXIT_ERROR;
	} else if (rn.failed)
		rc = CLI_EXIT_FINDINGS;
	buf_free(&rn.out);
	lockbox_free((lockbox *)rn.lb);
	return rc;
}

static void
explain_help(FILE *fp)
{
	fprintf(fp,
	    "usage: escort explain [--shell SHELL] [--rules DIR]... [--sigma DIR]... [--color WHEN]\n"
	    "                      [--json]\n"
	    "                      [--fail-on RISK] [--] [COMMAND...]\n\n"
	    "Explains one command in plain words for the person who must approve it: its\n"
	    "risk, what each part does, and where in the text the danger is (underlined).\n"
	    "Control, bidi and zero-width characters are shown escaped. The words of COMMAND\n"
	    "are joined with spaces; without COMMAND the whole standard input is one record\n"
	    "(a multi-line script is fine).\n\n"
	    "  --shell SHELL     the command's shell: bash (default), powershell (pwsh) or cmd\n"
	    "  --rules DIR       load extra rules from DIR (repeatable)\n"
	    "  --sigma DIR       also apply the Sigma rules in DIR (repeatable)\n"
	    "  --color WHEN      auto (default: when standard output is a terminal), always,\n"
	    "                    never\n"
	    "  --json            print the JSON object of escort-analyze(1) instead\n"
	    "  --fail-on RISK    exit 1 if the command is rated RISK or higher\n"
	    "  -h, --help        show this help\n\n"
	    "Exit status: 0 ok, 1 the command reached --fail-on, 2 usage, 3 errors.\n"
	    "See escort-explain(1).\n");
}

int
cli_explain(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "shell", required_argument, NULL, OPT_SHELL },
		{ "rules", required_argument, NULL, OPT_RULES },
		{ "sigma", required_argument, NULL, OPT_SIGMA },
		{ "fail-on", required_argument, NULL, OPT_FAIL_ON },
		{ "color", required_argument, NULL, OPT_COLOR },
		{ "colour", required_argument, NULL, OPT_COLOR },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts o = { "bash", { NULL }, 0, -1, { NULL }, 0 };
	lockbox *lb = NULL;
	lockbox_result *res = NULL;
	buf cmd = BUF_INIT, out = BUF_INIT;
	int c, i, r, rc = CLI_EXIT_ERROR, color = isatty(1), json = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			explain_help(stdout);
			return CLI_EXIT_OK;
		case OPT_COLOR:
			if (strcmp(optarg, "always") == 0)
				color = 1;
			else if (strcmp(optarg, "never") == 0)
				color = 0;
			else if (strcmp(optarg, "auto") == 0)
				color = isatty(1);
			else {
				cli_warnx("explain", "--color %s: expected auto, always or never",
				    optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_JSON:
			json = 1;
			break;
		case '?':
			cli_warnx("explain", "unknown or incomplete option '%s'; see --help",
			    argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			if ((r = common_opt("explain", &o, c, optarg)) != 0)
				return r;
		}
	}
	if (getenv("NO_COLOR") && *getenv("NO_COLOR"))
		color = 0;
	buf_init(&cmd, RECORD_MAX);
	if (optind == argc) {
		if (isatty(0))
			cli_warnx("explain", "reading the command from standard input "
			                     "(end with Ctrl-D)");
		if ((r = buf_read_fd(&cmd, 0)) != 0) {
			cli_warnx("explain", "standard input: %s",
			    r == ESC_EIO ? strerror(errno) : esc_strerror(r));
			goto out;
		}
		/* the newline that ends the last line is not part of the command */
		if (cmd.len && cmd.data[cmd.len - 1] == '\n')
			buf_truncate(&cmd, cmd.len - 1);
	} else {
		for (i = optind; i < argc; i++) {
			if ((i > optind && buf_putc(&cmd, ' ') != 0) ||
			    buf_puts(&cmd, argv[i]) != 0) {
				cli_warnx("explain", "command longer than %zu bytes", RECORD_MAX);
				goto out;
			}
		}
	}
	if ((lb = cli_load_rules("explain", o.rules, o.nrules)) == NULL)
		goto out;
	if (load_sigma("explain", lb, &o, 0, NULL) != 0)
		goto out;
	if ((r = lockbox_analyze(lb, buf_cstr(&cmd), cmd.len, o.shell, &res)) != 0) {
		cli_warnx("explain", "%s", esc_strerror(r));
		goto out;
	}
	r = json ? lockbox_result_json(res, &out) : lockbox_result_render(res, &out, color);
	if (r == 0 && json)
		r = buf_putc(&out, '\n');
	if (r != 0 || fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		cli_warnx("explain", "cannot write the explanation: %s",
		    r ? esc_strerror(r) : strerror(errno));
		goto out;
	}
	rc = (o.fail_on >= 0 && (int)lockbox_result_risk(res) >= o.fail_on) ? CLI_EXIT_FINDINGS
	                                                                      : CLI_EXIT_OK;
out:
	lockbox_result_free(res);
	lockbox_free(lb);
	buf_free(&cmd);
	buf_free(&out);
	return rc;
}

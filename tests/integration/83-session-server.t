#!/usr/bin/perl
# 83-session-server.t — sessions held by escortd (issue 8): a session started through the
# API runs an auto-run line, waits for a line an escort approves through the API, takes
# Ctrl-C, and dies by the kill switch (the target's processes gone within 1 s); its
# recording verifies. A dod session pauses until an escort joins (`escort session join`,
# unchanged) and approves. `escort session start --server URL` drives one from a pipe,
# with SIGINT as Ctrl-C. Under privilege separation: 86-session-privsep.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IPC::Open3;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use POSIX qw(WNOHANG);
use Symbol 'gensym';
use Time::HiRes qw(sleep time);
use Cwd qw(abs_path);

my $E = abs_path($ENV{ESCORT} // 'build/escort');
my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
my $work = "$t/work";
mkdir $work or die;
$ENV{ESCORT_DATA} = $dir;
delete $ENV{$_} for qw(ESCORT_DATA_DIR ESCORT_TOKEN ESCORT_SERVER);
$ENV{ESCORT_RULES} //= abs_path('rules');
sub run { my ($tok, @a) = @_; return escort({ token => $tok }, @a) }

my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" if $s;
# presence checks (TOTP or click) have their own test; an escort is present by joining
my $pol = slurp('examples/policy.yaml');
$pol =~ s/^\s+presence_check: \{[^}]*\}\n//mg;
spit("$t/policy.yaml", $pol);
($s, $o, $e) = run(undef, 'policy', 'load', "$t/policy.yaml");
die "policy load: $e" if $s;
my %tok;
for my $u (qw(op-in op-cn esc-1)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	chomp $o;
	$tok{$u} = $o;
}

my $spid = fork() // die "fork: $!";
if ($spid == 0) {
	open(STDIN, '<', '/dev/null');
	open(STDOUT, '>', "$t/serve.out");
	open(STDERR, '>', "$t/serve.err");
	exec { $E } $E, 'serve', '--data', $dir, '--listen', '127.0.0.1:0', '--no-privsep' or die;
}
END { if ($spid) { kill 'TERM', $spid; waitpid($spid, 0) } }
my $url;
for (1 .. 400) {
	last if -f "$t/serve.err" && (($url) = slurp("$t/serve.err") =~ m{listening on (http://\S+)});
	sleep 0.05;
}
die "escort serve did not start: " . slurp("$t/serve.err") unless $url;

my $http = HTTP::Tiny->new(timeout => 20);
sub api {
	my ($who, $method, $path, $body) = @_;
	my $r = $http->request($method, "$url/api/v1$path", {
		headers => { Authorization => "Bearer $tok{$who}", 'Content-Type' => 'application/json' },
		defined $body ? (content => encode_json($body)) : () });
	return ($r->{status}, $r->{content} ? eval { decode_json($r->{content}) } : undef);
}
# follows the operator's events until a "done" (or "ended"); returns (output, notices, ended)
my %next;
sub follow {
	my ($id, $secs) = @_;
	my ($out, $notes, $ended, $end) = ('', '', 0, time + ($secs // 10));
	while (time < $end) {
		my ($st, $j) = api('op-in', 'GET', "/sessions/$id/operator?from=" . ($next{$id} // 0));
		last unless $st == 200;
		$next{$id} = $j->{next};
		my $done = 0;
		for my $ev (@{ $j->{events} }) {
			$out .= decode_base64($ev->{data_base64}) if $ev->{type} eq 'output';
			$notes .= "$ev->{text}\n" if $ev->{type} eq 'notice';
			$done = 1 if $ev->{type} eq 'done';
			$ended = 1 if $ev->{type} eq 'ended';
		}
		return ($out, $notes, $ended) if $done || $ended || $j->{over};
		sleep 0.1;
	}
	return ($out, $notes, $ended);
}

# ---- start ----
my ($st, $j) = api('op-cn', 'POST', '/sessions', { target => 'dod-web' });
ok($st == 403, 'policy decides who may open a session (op-cn on dod-web: 403)') or print "# $st\n";
($st, $j) = api('op-in', 'POST', '/sessions', { target => 'com-web', ticket => 'CHG-83', width => 100, height => 30 });
my $id = $j && $j->{id};
ok($st == 201 && $id && $j->{state} eq 'active' && $j->{held_by_server}, 'POST /sessions: the server holds an active session')
	or print "# $st\n";

# an auto-run line, cwd kept for the next one
($st, $j) = api('op-in', 'POST', "/sessions/$id/lines", { line => "cd $work && echo auto-\$((40+2))" });
ok($st == 202, 'a line is accepted (202)') or print "# $st\n";
my ($out, $notes) = follow($id);
ok($out eq "auto-42\n", 'a low-risk line runs at once; its output reaches the operator') or print "# [$out] $notes\n";
api('op-in', 'POST', "/sessions/$id/lines", { line => 'pwd' });
($out) = follow($id);
ok($out eq "$work\n", 'the shell keeps its working directory between lines') or print "# [$out]\n";

# a line that needs an escort, approved through the API
($st, $j) = api('op-in', 'POST', "/sessions/$id/lines", { line => "curl -s --max-time 1 http://127.0.0.1:9/ ; echo approved > $work/approved" });
my $waiting = '';
for (1 .. 50) {
	my ($s2, $j2) = api('op-in', 'GET', "/sessions/$id/operator?from=" . ($next{$id} // 0));
	$waiting .= join('', map { $_->{type} eq 'notice' ? "$_->{text}\n" : '' } @{ $j2->{events} });
	$next{$id} = $j2->{next};
	last if $waiting =~ /waits for approval/;
	sleep 0.1;
}
ok($waiting =~ /line 3 waits for approval/ && !-e "$work/approved", 'a medium-risk line waits for an escort') or print "# $waiting\n";
($st, $j) = api('op-in', 'POST', "/sessions/$id/lines", { line => 'true' });
ok($st == 409, 'one line at a time: another line while one waits is 409') or print "# $st\n";
($st, $j) = api('esc-1', 'GET', "/sessions/$id");
my $rid = $j && $j->{lines} && $j->{lines}[-1]{request_id};
($st, $j) = api('esc-1', 'POST', "/requests/$rid/approve", {});
ok($st == 200, 'an escort approves the line through the API') or print "# $st\n";
($out, $notes) = follow($id);
ok($notes =~ /line 3 approved by esc-1/ && -e "$work/approved", 'the approved line ran in the held session') or print "# $notes\n";

# Ctrl-C
api('op-in', 'POST', "/sessions/$id/lines", { line => 'sleep 30; echo not-reached' });
sleep 0.4;
my $t0 = time;
($st, $j) = api('op-in', 'POST', "/sessions/$id/interrupt", {});
($out, $notes) = follow($id);
ok($st == 200 && $notes =~ /line 4 interrupted, exit status 130/ && $out !~ /not-reached/ && time - $t0 < 2,
   'Ctrl-C (POST .../interrupt) interrupts the running line within 2 s') or print "# $st $notes\n";
($st, $j) = api('op-cn', 'POST', "/sessions/$id/interrupt", {});
ok($st == 404, "another operator cannot reach someone's held session") or print "# $st\n";

# the kill switch while a line runs
api('op-in', 'POST', "/sessions/$id/lines", { line => 'sleep 83' });
sleep 0.4;
ok(`pgrep -f '^sleep 83\$'` =~ /\d/, 'the line runs on the target');
$t0 = time;
($st, $j) = api('esc-1', 'POST', "/sessions/$id/kill", { reason => 'test 83' });
my $gone = 0;
while (time - $t0 < 1.0) {
	last if ($gone = `pgrep -f '^sleep 83\$'` !~ /\d/);
	sleep 0.05;
}
ok($st == 200 && $gone, "kill: the target's processes are gone within 1 s") or print "# $st\n";
my $ended;
($out, $notes, $ended) = follow($id);
($out, $notes, $ended) = follow($id) unless $ended;
ok($ended && $notes =~ /killed by an escort/, 'the operator is told; the session is over') or print "# $notes\n";
my $sha;
for (1 .. 50) {
	($st, $j) = api('esc-1', 'GET', "/sessions/$id");
	last if ($sha = $j->{recording_sha256});
	sleep 0.1;
}
ok($j->{state} eq 'killed' && $sha && $sha =~ /^[0-9a-f]{64}$/, 'killed, with its recording hash') or print "# $j->{state}\n";
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'verify', $id);
ok($s == 0 && $o =~ /verified/, 'the recording verifies against session.end in the audit log') or print "# $s $o $e\n";

# ---- dod: the policy wants an escort present; one joins with `escort session join` ----
($st, $j) = api('op-in', 'POST', '/sessions', { target => 'dod-web' });
my $id2 = $j && $j->{id};
ok($st == 201 && $id2, 'a dod session is held by the server too') or print "# $st\n";
api('op-in', 'POST', "/sessions/$id2/lines", { line => 'id -un' });
my $paused = '';
for (1 .. 50) {
	my ($s2, $j2) = api('op-in', 'GET', "/sessions/$id2/operator?from=" . ($next{$id2} // 0));
	$paused .= join('', map { $_->{type} eq 'notice' ? "$_->{text}\n" : '' } @{ $j2->{events} });
	$next{$id2} = $j2->{next};
	last if $paused =~ /session paused/;
	sleep 0.1;
}
ok($paused =~ /session paused: the policy requires 1 escort present/, 'without an escort present it pauses')
	or print "# $paused\n";
my $jerr = gensym;
my $jpid = open3(my $jin, my $jout, $jerr, 'env', "ESCORT_TOKEN=$tok{'esc-1'}", $E, 'session', 'join', $id2);
my $jbuf = '';
my $jchunk;
$t0 = time;
while (time - $t0 < 8 && $jbuf !~ /approve line 1\?/) { sysread($jout, $jchunk, 4096) and $jbuf .= $jchunk }
print $jin "a\n";
$jin->flush;
my $me = getpwuid($>);
($out, $notes) = follow($id2);
ok($jbuf =~ /approve line 1\?/ && $notes =~ /session resumed: escorts present: esc-1/ && $out eq "$me\n",
   'the joined escort sees the line and approves it; it runs in the held session') or print "# [$out] $notes\n";
close $jin;
kill 'TERM', $jpid;
waitpid($jpid, 0);
($st, $j) = api('op-in', 'POST', "/sessions/$id2/end", { from => $next{$id2} // 0 });
ok($st == 200 && $j->{over}, 'Ctrl-D (POST .../end) ends it') or print "# $st\n";
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'verify', $id2);
ok($s == 0, 'its recording verifies') or print "# $s $e\n";

# ---- the CLI against the server: lines from a pipe, SIGINT as Ctrl-C, EOF ends it ----
my $err = gensym;
my $pid = open3(my $in, my $cout, $err, 'env', "ESCORT_TOKEN=$tok{'op-in'}", $E, 'session', 'start',
                '--target', 'com-web', '--server', $url);
print $in "echo cli-\$((1+1))\nsleep 20; echo cli-not-reached\n";
$in->flush;
my $buf = '';
$t0 = time;
my $chunk;
while (time - $t0 < 5 && $buf !~ /cli-2\n/) { sysread($cout, $chunk, 4096) and $buf .= $chunk }
sleep 0.5;
kill 'INT', $pid;
print $in "echo cli-after\n";
close $in;
while (sysread($cout, $chunk, 4096)) { $buf .= $chunk }
my $errs = join('', <$err>);
waitpid($pid, 0);
my $cs = $? >> 8;
ok($cs == 0 && $buf =~ /^cli-2\n\n?cli-after\n/ && $buf !~ /cli-not-reached/ && $errs =~ /interrupted, exit status 130/
   && $errs =~ /held by the server/ && $errs =~ /session (\d+) ended/,
   '--server: lines run in the held session, SIGINT interrupts, end of input ends it') or print "# $cs [$buf] $errs\n";
my ($cid) = $errs =~ /session (\d+) ended/;
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'list', '--json');
my ($row) = grep { $_->{id} == ($cid // 0) } @{ js($o) // [] };
ok($row && $row->{state} eq 'ended' && $row->{recording_sha256}, 'it ended with its recording hashed') or print "# $o\n";

done();

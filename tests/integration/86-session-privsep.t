#!/usr/bin/perl
# 86-session-privsep.t — sessions held by escortd under privilege separation (root only):
# the broker process holds the shell (docs/privsep.md "Sessions"), the HTTP worker has no
# shell child. An auto-run line, a line an escort approves, Ctrl-C, the kill switch (the
# target's processes gone within 1 s), the line time limit, and a recording that verifies,
# all through the API.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(sleep time);
use Cwd qw(abs_path);

if ($> != 0 || !getpwnam('nobody')) {
	print "ok 1 # SKIP privilege separation needs root and a user nobody\n";
	done();
}
my $E = abs_path($ENV{ESCORT} // 'build/escort');
my $t = tempdir(CLEANUP => 1);
chmod 0711, $t; # the worker must reach the data directory inside
my $dir = "$t/data";
my $work = "$t/work";
mkdir $work or die;
chmod 0777, $work;
$ENV{ESCORT_DATA} = $dir;
delete $ENV{$_} for qw(ESCORT_DATA_DIR ESCORT_TOKEN ESCORT_SERVER);
$ENV{ESCORT_RULES} //= abs_path('rules');
sub run { my ($tok, @a) = @_; return escort({ token => $tok }, @a) }

# an ssh target too, when sshd is there (tests/integration/lib/sshd.sh)
my $sd = "$t/sshd";
$ENV{SSHD_OWNER} = $$;
system('sh', 'tests/integration/lib/sshd.sh', 'start', $sd);
my $have_sshd = $? == 0;
END { system('sh', 'tests/integration/lib/sshd.sh', 'stop', $sd) if $sd && -d $sd }

my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" if $s;
my $pol = slurp('examples/policy.yaml');
if ($have_sshd) {
	chomp(my $port = slurp("$sd/port"));
	chomp(my $fp = slurp("$sd/fingerprint"));
	chomp(my $user = slurp("$sd/user"));
	my $targets = <<"YAML";
  - name: com-ssh
    environment: commercial
    transport: ssh
    settings:
      platform: linux
      host: 127.0.0.1
      port: $port
      user: $user
      host_key: "$fp"
YAML
	$pol =~ s/^targets:\n/targets:\n$targets/m or die 'targets';
	mkdir "$dir/keys", 0700;
	system('cp', "$sd/client_key", "$dir/keys/com-ssh") == 0 or die;
	chmod 0600, "$dir/keys/com-ssh";
}
$pol =~ s/^\s+presence_check: \{[^}]*\}\n//mg;
$pol =~ s/^sessions: \{line_timeout: 10m\}$/sessions: {line_timeout: 2s}/m or die 'policy: sessions';
spit("$t/policy.yaml", $pol);
chmod 0644, "$t/policy.yaml";
($s, $o, $e) = run(undef, 'policy', 'load', "$t/policy.yaml");
die "policy load: $e" if $s;
my %tok;
for my $u (qw(op-in esc-1)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	die "token: $e" if $s;
	chomp $o;
	$tok{$u} = $o;
}

my $spid = fork() // die "fork: $!";
if ($spid == 0) {
	open(STDIN, '<', '/dev/null');
	open(STDOUT, '>', "$t/serve.out");
	open(STDERR, '>', "$t/serve.err");
	exec { $E } $E, 'serve', '--data', $dir, '--listen', '127.0.0.1:0', '--user', 'nobody' or die;
}
END { if ($spid) { kill 'TERM', $spid; waitpid($spid, 0) } }
my $url;
for (1 .. 400) {
	last if -f "$t/serve.err" && (($url) = slurp("$t/serve.err") =~ m{listening on (http://\S+)});
	sleep 0.05;
}
die "escort serve did not start: " . slurp("$t/serve.err") unless $url;

# the processes under pid: name, pid, parent
sub procs {
	my @p;
	for my $st (glob '/proc/[0-9]*/stat') {
		my $l = eval { slurp($st) } // next;
		push @p, [$2, $1, $3] if $l =~ /^(\d+) \((.*)\) \S+ (\d+) /s;
	}
	return @p;
}
my ($worker) = map { $_->[1] } grep { $_->[0] eq 'escort-http' && $_->[2] == $spid } procs();
my ($broker) = map { $_->[1] } grep { $_->[0] eq 'escort-broker' && $_->[2] == $spid } procs();

my $http = HTTP::Tiny->new(timeout => 20);
sub api {
	my ($who, $method, $path, $body) = @_;
	my $r = $http->request($method, "$url/api/v1$path", {
		headers => { Authorization => "Bearer $tok{$who}", 'Content-Type' => 'application/json' },
		defined $body ? (content => encode_json($body)) : () });
	return ($r->{status}, $r->{content} ? eval { decode_json($r->{content}) } : undef);
}
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

my ($st, $j) = api('op-in', 'POST', '/sessions', { target => 'com-web', ticket => 'CHG-85' });
my $id = $j && $j->{id};
ok($st == 201 && $id && $j->{held_by_server}, 'under privilege separation POST /sessions holds a session')
	or print "# $st " . ($j ? encode_json($j) : '') . ' ' . slurp("$t/serve.err") . "\n";

# where the shell is: a child of the broker process, none of the worker's
my @p = procs();
my @wkids = map { $_->[0] } grep { $_->[2] == ($worker // -1) } @p;
my @bash = grep { $_->[0] eq 'bash' && $_->[2] == ($broker // -1) } @p;
ok($worker && $broker && !grep({ $_ eq 'bash' } @wkids) && @bash == 1,
   "the shell is the broker's child; the HTTP worker has no shell child")
	or print "# worker $worker children [@wkids], broker $broker bash " . scalar(@bash) . "\n";

# an auto-run line (it runs as root: the broker's shell, not the worker's user)
api('op-in', 'POST', "/sessions/$id/lines", { line => "cd $work && echo auto-\$((40+2)) \$(id -u)" });
my ($out, $notes) = follow($id);
ok($out eq "auto-42 0\n", 'an auto-run line runs in the broker\'s shell; output reaches the operator')
	or print "# [$out] $notes\n";
api('op-in', 'POST', "/sessions/$id/lines", { line => 'pwd' });
($out) = follow($id);
ok($out eq "$work\n", 'the shell keeps its working directory between lines') or print "# [$out]\n";

# a line that needs an escort, approved through the API
api('op-in', 'POST', "/sessions/$id/lines", { line => "curl -s --max-time 1 http://127.0.0.1:9/ ; echo approved > $work/approved" });
my $waiting = '';
for (1 .. 50) {
	my ($s2, $j2) = api('op-in', 'GET', "/sessions/$id/operator?from=" . ($next{$id} // 0));
	$waiting .= join('', map { $_->{type} eq 'notice' ? "$_->{text}\n" : '' } @{ $j2->{events} });
	$next{$id} = $j2->{next};
	last if $waiting =~ /waits for approval/;
	sleep 0.1;
}
($st, $j) = api('esc-1', 'GET', "/sessions/$id");
my $rid = $j && $j->{lines} && $j->{lines}[-1]{request_id};
($st, $j) = api('esc-1', 'POST', "/requests/$rid/approve", {});
($out, $notes) = follow($id);
ok($waiting =~ /line 3 waits for approval/ && $st == 200 && $notes =~ /line 3 approved by esc-1/ && -e "$work/approved",
   'an approved line runs in the broker\'s shell') or print "# $st $waiting $notes\n";

# Ctrl-C
api('op-in', 'POST', "/sessions/$id/lines", { line => 'sleep 30; echo not-reached' });
sleep 0.4;
my $t0 = time;
($st, $j) = api('op-in', 'POST', "/sessions/$id/interrupt", {});
($out, $notes) = follow($id);
ok($st == 200 && $notes =~ /line 4 interrupted, exit status 130/ && $out !~ /not-reached/ && time - $t0 < 2,
   'Ctrl-C reaches the line in the broker\'s shell within 2 s') or print "# $st $notes\n";

# the line's time limit (2 s here) holds in the broker; the shell stays
$t0 = time;
api('op-in', 'POST', "/sessions/$id/lines", { line => 'sleep 20; echo not-reached' });
($out, $notes) = follow($id);
my $took = time - $t0;
ok($notes =~ /line 5 stopped: its time limit of 2 s passed/ && $out !~ /not-reached/ && $took > 1.5 && $took < 5,
   'the time limit stops a line in the broker\'s shell') or print "# $took $notes\n";
api('op-in', 'POST', "/sessions/$id/lines", { line => 'echo still-here' });
($out) = follow($id);
ok($out eq "still-here\n", 'the shell survives the interrupt and the time limit') or print "# [$out]\n";

# the kill switch while a line runs
api('op-in', 'POST', "/sessions/$id/lines", { line => 'sleep 85' });
sleep 0.4;
ok(`pgrep -f '^sleep 85\$'` =~ /\d/, 'the line runs on the target');
$t0 = time;
($st, $j) = api('esc-1', 'POST', "/sessions/$id/kill", { reason => 'test 85' });
my $gone = 0;
while (time - $t0 < 1.0) {
	last if ($gone = `pgrep -f '^sleep 85\$'` !~ /\d/);
	sleep 0.05;
}
ok($st == 200 && $gone, "kill: the target's processes are gone within 1 s") or print "# $st\n";
my $ended;
($out, $notes, $ended) = follow($id);
($out, $notes, $ended) = follow($id) unless $ended;
ok($ended && $notes =~ /killed by an escort/, 'the operator is told; the session is over') or print "# $notes\n";
@bash = grep { $_->[0] eq 'bash' && $_->[2] == ($broker // -1) } procs();
ok(!@bash, 'the broker holds no shell any more');
my $sha;
for (1 .. 50) {
	($st, $j) = api('esc-1', 'GET', "/sessions/$id");
	last if ($sha = $j->{recording_sha256});
	sleep 0.1;
}
ok($j->{state} eq 'killed' && $sha && $sha =~ /^[0-9a-f]{64}$/, 'killed, with its recording hash') or print "# $j->{state}\n";
($st, $j) = api('esc-1', 'GET', "/sessions/$id/recording");
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'verify', $id);
ok($s == 0 && $o =~ /verified/, 'the recording verifies against session.end in the audit log') or print "# $s $o $e\n";

# the kill switch on an idle session
($st, $j) = api('op-in', 'POST', '/sessions', { target => 'com-web' });
my $id2 = $j && $j->{id};
api('op-in', 'POST', "/sessions/$id2/lines", { line => 'true' });
follow($id2);
my ($shell) = map { $_->[1] } grep { $_->[0] eq 'bash' && $_->[2] == ($broker // -1) } procs();
$t0 = time;
($st, $j) = api('esc-1', 'POST', "/sessions/$id2/kill", { reason => 'idle' });
$gone = 0;
while (time - $t0 < 1.0) {
	last if ($gone = !-e "/proc/$shell");
	sleep 0.05;
}
ok($st == 200 && $shell && $gone && $j->{shell_killed_here}, 'kill on an idle session: its shell is gone within 1 s')
	or print "# $st " . ($j ? encode_json($j) : '') . "\n";
# an ssh target: the broker connects with the key the worker cannot read
SKIP: {
	if (!$have_sshd) {
		ok(1, '# SKIP no sshd') for 1 .. 2;
		last SKIP;
	}
	($st, $j) = api('op-in', 'POST', '/sessions', { target => 'com-ssh' });
	my $id3 = $j && $j->{id};
	api('op-in', 'POST', "/sessions/$id3/lines", { line => 'cd /tmp && echo ssh-$((1+1))' }) if $id3;
	($out, $notes) = $id3 ? follow($id3) : ('', '');
	api('op-in', 'POST', "/sessions/$id3/lines", { line => 'pwd' }) if $id3;
	my ($out2) = $id3 ? follow($id3) : ('');
	ok($st == 201 && $out eq "ssh-2\n" && $out2 eq "/tmp\n", 'ssh: a session whose shell the broker holds over ssh')
		or print "# $st [$out] [$out2] $notes " . ($j ? encode_json($j) : '') . "\n";
	api('op-in', 'POST', "/sessions/$id3/lines", { line => 'sleep 86' }) if $id3;
	my $seen = 0;
	for (1 .. 100) { last if ($seen = `pgrep -f '^sleep 86\$'` =~ /\d/); sleep 0.05 }
	$t0 = time;
	($st, $j) = api('esc-1', 'POST', "/sessions/$id3/kill", { reason => 'ssh' });
	$gone = 0;
	while (time - $t0 < 1.0) {
		last if ($gone = `pgrep -f '^sleep 86\$'` !~ /\d/);
		sleep 0.05;
	}
	ok($seen && $st == 200 && $gone, "ssh: kill ends the target's processes within 1 s") or print "# $seen $st\n";
}
ok(slurp("$t/serve.err") !~ /refused/, 'the broker refused nothing') or print '# ' . slurp("$t/serve.err") . "\n";
done();

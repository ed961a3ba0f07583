#!/usr/bin/perl
# 61-privsep.t — `escort serve` started as root separates privileges (docs/privsep.md):
# the HTTP worker runs as an unprivileged user (--user, else the data directory's owner)
# with no capabilities, no_new_privs and a seccomp filter, and that user cannot open the
# audit signing key or a target key, while a request still runs end to end through the
# broker process and tree heads are signed by the signer process; a planted keys/
# directory stops the start; as root on a root-owned data directory with no user for the
# worker it refuses to start unless --no-privsep (loudly). The CLI run by root on the
# worker's data directory becomes its owner: nothing it writes is root's, it still signs
# (through a signer) and runs as root (through a broker). `escort init --user` makes a
# data directory for the worker from the start.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep);

sub check($$) { return ok($_[0], $_[1]) }

if ($> != 0) {
	print "ok 1 # SKIP not root: privilege separation needs root to change users\n";
	done();
}
my $setpriv = -x '/usr/bin/setpriv' ? '/usr/bin/setpriv' : -x '/bin/setpriv' ? '/bin/setpriv' : undef;
my $user = 'nobody';
my @pw = getpwnam($user);
if (!@pw) {
	print "ok 1 # SKIP no user 'nobody'\n";
	done();
}
my ($uid, $gid) = @pw[2, 3];

my $E = $ENV{ESCORT} // 'build/escort';
my $t = tempdir(CLEANUP => 1);
chmod 0711, $t; # the worker must reach the data directory inside
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{$_} for qw(ESCORT_DATA_DIR ESCORT_TOKEN ESCORT_SERVER);

my ($s, $o, $e) = escort({}, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = escort({}, 'policy', 'load', 'examples/policy.yaml');
die "policy load: $e" if $s;
($s, $o, $e) = escort({}, 'user', 'token', 'op-in');
die "token: $e" if $s;
chomp(my $tok = $o);
mkdir "$dir/keys", 0700 or die "keys: $!";
spit("$dir/keys/dod-db", "not a real key\n");
chmod 0600, "$dir/keys/dod-db";

sub start_server {
	my (@args) = @_;
	my $log = "$t/serve-" . int(rand(1e9)) . '.err';
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDERR, '>', $log) or die;
		open(STDOUT, '>', '/dev/null') or die;
		exec { $E } $E, 'serve', '--data', $dir, @args or die "exec: $!";
	}
	for (1 .. 200) {
		my $l = -f $log ? slurp($log) : '';
		return ($pid, $1, $log) if $l =~ m{listening on (\S+)};
		return ($pid, undef, $log, $? >> 8) if waitpid($pid, WNOHANG) == $pid;
		sleep 0.05;
	}
	return ($pid, undef, $log);
}

# the direct children of pid, by their process names
sub children {
	my ($ppid) = @_;
	my %c;
	for my $st (glob '/proc/[0-9]*/stat') {
		my $l = eval { slurp($st) } // next;
		next unless $l =~ /^(\d+) \((.*)\) \S+ (\d+) /s;
		$c{$2} = $1 if $3 == $ppid;
	}
	return %c;
}

sub status_of {
	my ($pid) = @_;
	my %h;
	for (split /\n/, eval { slurp("/proc/$pid/status") } // '') {
		$h{$1} = $2 if /^(\w+):\s*(.*)$/;
	}
	return \%h;
}

# ---- as root on root's data directory without a worker user: refused, unless asked ----
SKIP: {
	if (getpwnam('escort')) {
		ok(1, "# SKIP a user 'escort' exists: it would be the worker's user here") for 1 .. 2;
		last SKIP;
	}
	my ($p0, $u0, $l0, $st0) = start_server('--listen', '127.0.0.1:0');
	check(!defined $u0 && ($st0 // -1) == 1 &&
	      slurp($l0) =~ /refusing to run as root without privilege separation: \S+ belongs to root and there is no 'escort' user/,
	      'as root on a root-owned data directory with no worker user: refuses to start')
	    or print "# ", slurp($l0);
	waitpid($p0, 0) if !defined $st0;
	my ($p1, $u1, $l1) = start_server('--listen', '127.0.0.1:0', '--no-privsep');
	my %c1 = children($p1);
	check(defined $u1 && slurp($l1) =~ /WARNING: running as root WITHOUT privilege separation/ &&
	      !%c1, '--no-privsep: starts as one root process, with a loud warning')
	    or print "# ", slurp($l1);
	kill 'TERM', $p1;
	waitpid($p1, 0);
}

# ---- a planted keys/ directory (the worker owns the data directory while it runs) ----
chown $uid, $gid, "$dir/keys" or die "chown: $!";
my ($pid, $url, $log, $status) = start_server('--listen', '127.0.0.1:0', '--user', $user);
check(!defined $url && ($status // -1) == 1 && slurp($log) =~ m{keys must be a directory owned by uid 0},
    'a keys/ directory not owned by root stops the start') or print "# ", slurp($log);
chown 0, 0, "$dir/keys" or die "chown: $!";

# ---- the real thing ----
($pid, $url, $log) = start_server('--listen', '127.0.0.1:0', '--user', $user);
check(defined $url, 'serve as root with --user starts with privilege separation')
    or do { print "# ", slurp($log); done() };
my %c = children($pid);
check(defined $c{'escort-http'} && defined $c{'escort-signer'} && defined $c{'escort-broker'},
    'the monitor has three children: worker, signer, broker')
    or print "# children: ", join(' ', %c), "\n";
my $w = status_of($c{'escort-http'} // 0);
check(($w->{Uid} // '') =~ /^$uid\s+$uid\s+$uid\s+$uid$/,
    "the HTTP worker runs as $user (real, effective, saved, fs uid)") or print "# Uid: $w->{Uid}\n";
check(($w->{Groups} // 'x') eq '' && ($w->{Gid} // '') =~ /^$gid\s+$gid\s+$gid\s+$gid$/,
    'no supplementary groups, the user\'s group only') or print "# Gid: $w->{Gid} Groups: $w->{Groups}\n";
check(($w->{CapEff} // '') =~ /^0+$/ && ($w->{CapPrm} // '') =~ /^0+$/ &&
      ($w->{CapBnd} // '') =~ /^0+$/ && ($w->{CapAmb} // '') =~ /^0+$/,
    'the worker has no capabilities (effective, permitted, bounding, ambient)')
    or print "# CapEff $w->{CapEff} CapBnd $w->{CapBnd}\n";
check(($w->{NoNewPrivs} // '') eq '1', 'the worker has no_new_privs');
check(($w->{Seccomp} // '') eq '2', 'the worker runs under a seccomp filter');
my $sg = status_of($c{'escort-signer'} // 0);
check(($sg->{Uid} // '') =~ /^$uid\s/ && ($sg->{CapEff} // '') =~ /^0+$/ &&
      ($sg->{Seccomp} // '') eq '2' && ($sg->{NoNewPrivs} // '') eq '1',
    'the signer is unprivileged too, with its own (allow-list) filter');
my $bk = status_of($c{'escort-broker'} // 0);
check(($bk->{Uid} // '') =~ /^0\s/, 'the broker keeps root (to run as targets\' users)');

# the worker's user cannot open the keys; the same command reads a public file
SKIP: {
	if (!$setpriv) {
		ok(1, "# SKIP no setpriv") for 1 .. 3;
		last SKIP;
	}
	my @as = ($setpriv, "--reuid=$uid", "--regid=$gid", '--clear-groups', 'cat');
	my $rc = system("@as $dir/signing.pub >/dev/null") >> 8;
	check($rc == 0, "$user can read the public key (the check itself works)");
	$rc = system("@as $dir/signing.key >/dev/null 2>&1") >> 8;
	check($rc != 0, "$user cannot open the audit signing key");
	$rc = system("@as $dir/keys/dod-db >/dev/null 2>&1") >> 8;
	check($rc != 0, "$user cannot open a target key in keys/");
}
my @st = stat("$dir/escort.db");
check(@st && $st[4] == $uid, 'the store belongs to the worker\'s user');
@st = stat("$dir/signing.key");
check(@st && $st[4] == 0 && ($st[2] & 07777) == 0600, 'signing.key stays root\'s, mode 0600');

# a request end to end: the worker cannot execve, so the broker process ran it
my $http = HTTP::Tiny->new(timeout => 30);
my %h = (Authorization => "Bearer $tok", 'Content-Type' => 'application/json');
my $r = $http->request('POST', "$url/api/v1/requests",
    { headers => \%h, content => encode_json({ target => 'com-web',
      commands => ['echo ran-by-$(id -u)'] }) });
my $j = js($r->{content});
check($r->{status} == 201 && $j && $j->{state} eq 'approved', 'a low-risk request is auto-approved')
    or print "# $r->{status} $r->{content}\n";
my $id = $j ? $j->{id} : 0;
$r = $http->request('POST', "$url/api/v1/requests/$id/run", { headers => \%h });
$j = js($r->{content});
check($r->{status} == 200 && $j && $j->{state} eq 'succeeded', 'it runs through the broker process')
    or print "# $r->{status} $r->{content}\n";
my $out = encode_json(($j // {})->{execution} // {});
check($out =~ /ran-by-0/, 'the command ran with the broker\'s uid 0, not the worker\'s')
    or print "# execution: $out\n";

# ---- root's CLI on the served data directory becomes its owner ----
# (it used to write DATA/audit/head and the like as root, which locked the worker out)
($s, $o, $e) = escort({}, 'user', 'token', 'esc-1', '--data', $dir);
check($s == 0 && $o =~ /^esc_/, 'root administers the worker\'s data directory (as its owner)')
    or print "# $s $e\n";
chomp(my $etok = $o);
($s, $o, $e) = escort({ token => $tok }, 'request', 'create', '--data', $dir, '--target', 'com-web',
    '--', 'echo cli-ran-by-$(id -u)');
my ($cid) = $o =~ /request (\d+) created: approved/;
check($s == 0 && $cid, 'root\'s CLI creates a request next to the running server (signed via a signer)')
    or print "# $s $o $e\n";
($s, $o, $e) = escort({ token => $tok }, 'request', 'run', '--data', $dir, $cid // 0);
check($s == 0 && $o =~ /cli-ran-by-0/, 'and runs it with root\'s rights, through a broker')
    or print "# $s $o $e\n";
my @rootfiles = grep { $_ ne "$dir/signing.key" && $_ !~ m{^\Q$dir\E/keys(?:/|$)} }
    split /\n/, `find $dir -uid 0`;
check(!@rootfiles, 'nothing in the data directory is root\'s but signing.key and keys/')
    or print "# root's: @rootfiles\n";
$r = $http->request('POST', "$url/api/v1/requests", { headers => \%h,
    content => encode_json({ target => 'com-web', commands => ['true'] }) });
check($r->{status} == 201, 'the worker keeps working after the root CLI wrote to the log')
    or print "# $r->{status} $r->{content}\n";

# stop: the worker signs the final tree head through the signer; everything ends
kill 'TERM', $pid;
my $gone = 0;
for (1 .. 200) {
	if (waitpid($pid, WNOHANG) == $pid) { $gone = 1; last }
	sleep 0.05;
}
check($gone && $? == 0, 'SIGTERM to the monitor stops the server cleanly');
check(slurp($log) =~ /stopped; audit tree head signed/, 'the final tree head was signed (by the signer)')
    or print "# ", slurp($log);
check(slurp($log) !~ /escort-(?:signer|broker): refused|process ended/, "no peer failed or refused anything") or print "# ", slurp($log);
my %left = children($pid);
check(!%left, 'no process is left behind');
($s, $o, $e) = escort({}, 'audit', 'verify', '--data', $dir);
check($s == 0 && $o =~ /^ok: (\d+) records, (\d+) signed tree heads; newest covers (\d+)/ && $3 == $1 - 1,
    'audit verify: every signature good, the newest head covers everything before it')
    or print "# $o $e";

# ---- without --user the worker is the data directory's owner (here: nobody now) ----
# ---- fail closed: with the signer gone, nothing is changed ----
($pid, $url, $log) = start_server('--listen', '127.0.0.1:0');
%c = children($pid);
$w = status_of($c{'escort-http'} // 0);
check(($w->{Uid} // '') =~ /^$uid\s/, "without --user the worker runs as the data directory's owner ($user)")
    or print "# ", slurp($log);
kill 'KILL', $c{'escort-signer'} if $c{'escort-signer'};
sleep 0.3;
$r = $http->request('POST', "$url/api/v1/requests",
    { headers => \%h, content => encode_json({ target => 'com-web', commands => ['true'] }) });
$j = js($r->{content});
check($r->{status} == 503 && $j && $j->{error}{code} eq 'unavailable' &&
      $j->{error}{message} =~ /signer/, 'with the signer killed, a new request is refused: 503')
    or print "# $r->{status} $r->{content}\n";
check(slurp($log) =~ /the signer process ended \(signal 9\)/, 'the monitor reports the signer\'s end')
    or print "# ", slurp($log);
$r = $http->request('GET', "$url/api/v1/requests", { headers => \%h });
check($r->{status} == 200, 'reading still works');
kill 'TERM', $pid;
waitpid($pid, 0);
check(slurp($log) !~ /audit tree head signed/, 'no tree head is signed without the signer');
($s, $o, $e) = escort({}, 'audit', 'verify', '--data', $dir);
check($s == 0, 'the log still verifies: nothing half-written') or print "# $o $e";

# ---- escort init --user: a data directory made for the worker from the start ----
my $d2 = "$t/data2";
($s, $o, $e) = escort({}, 'init', '--data', $d2, '--user', $user);
my @d = stat($d2);
my @k = stat("$d2/signing.key");
my @db = stat("$d2/escort.db");
check($s == 0 && @d && $d[4] == $uid && @db && $db[4] == $uid && @k && $k[4] == 0 &&
      ($k[2] & 07777) == 0600, "init --user $user: the directory is $user\'s, signing.key root\'s (0600)")
    or print "# $s $e\n";
($s, $o, $e) = escort({}, 'policy', 'load', '--data', $d2, 'examples/policy.yaml');
check($s == 0 && !grep({ $_ ne "$d2/signing.key" } split /\n/, `find $d2 -uid 0`),
    'root loads a policy into it as its owner: still nothing root\'s but the key') or print "# $s $e\n";
{
	my $keep = $dir;
	$dir = $d2;
	($pid, $url, $log) = start_server('--listen', '127.0.0.1:0');
	$dir = $keep;
}
%c = children($pid);
$w = status_of($c{'escort-http'} // 0);
check(defined $url && ($w->{Uid} // '') =~ /^$uid\s/ && ($w->{Seccomp} // '') eq '2',
    'serve on it without --user: the worker runs as its owner, under seccomp') or print "# ", slurp($log);
SKIP: {
	if (!$setpriv) {
		ok(1, "# SKIP no setpriv");
		last SKIP;
	}
	my $rc = system("$setpriv --reuid=$uid --regid=$gid --clear-groups cat $d2/signing.key >/dev/null 2>&1") >> 8;
	check($rc != 0, "$user (the worker, the directory's owner) cannot open its signing key");
}
kill 'TERM', $pid;
waitpid($pid, 0);
($s, $o, $e) = escort({}, 'init', '--data', "$t/data3", '--user', 'root');
check($s == 2 && $e =~ /must not be root/, 'init --user root is refused') or print "# $s $e\n";
done();

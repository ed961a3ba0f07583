#!/usr/bin/perl
# 90-sudo.t — the sudo approval plugin (escort_sudo(8)) with Debian's real sudo: a test
# operator in group escortops runs `sudo CMD` in one process while the test approves or
# denies through escortd's API in another. Approved runs, denied / timed out / escortd
# down refuse with a message, and an approval of another argv never lets this one run.
# Needs root and sudo; /etc/sudo.conf is restored (END block) whatever happens.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use POSIX qw(:sys_wait_h _exit);
use Time::HiRes qw(time sleep);

sub check($$;$) { return ok($_[0], $_[1], $_[2]) }

my $B = $ENV{BUILD} // 'build';
my $E = $ENV{ESCORT} // 'build/escort';
my $SO = "$B/escort_sudo.so";
if ($> != 0) { print "1..0 # SKIP needs root (creates a user, edits /etc/sudo.conf)\n"; exit 0 }
my ($SUDO) = grep { -x $_ } qw(/usr/bin/sudo /bin/sudo);
if (!$SUDO) { print "1..0 # SKIP sudo is not installed\n"; exit 0 }
my ($USERADD) = grep { -x $_ } qw(/usr/sbin/useradd /sbin/useradd);
if (!$USERADD || !-x '/usr/bin/su' && !-x '/bin/su') {
	print "1..0 # SKIP useradd or su missing\n";
	exit 0;
}
if (!-f $SO) { print "1..0 # SKIP $SO not built\n"; exit 0 }

my $OP = 'escort-sudo-op';
my $GROUP = 'escortops';
my $HOST = 'sudo-test';
my $CONF = '/etc/sudo.conf';
my $DROPIN = '/etc/sudoers.d/escort-sudo-test';
my $parent = $$;
my $t = tempdir(CLEANUP => 1);
my $orig_conf = -e $CONF ? slurp($CONF) : undef;
my ($made_user, $made_group, $srv_pid) = (0, 0, 0);

# Whatever happens (failure, die, signal), put the machine back as it was.
my $restored = 0;
sub restore {
	return unless defined $parent && $$ == $parent && !$restored++;
	system('cat', $_) for (sort glob "$t/err*") x !!$ENV{SUDO_T_SHOW};
	if (defined $orig_conf) { spit("$CONF.escort-tmp", $orig_conf); rename "$CONF.escort-tmp", $CONF }
	else { unlink $CONF }
	unlink $DROPIN;
	system('userdel', $OP) if $made_user;
	system('groupdel', $GROUP) if $made_group;
	($made_user, $made_group) = (0, 0);
	if ($srv_pid) { kill 'TERM', $srv_pid; waitpid($srv_pid, 0); $srv_pid = 0 }
}
END { my $rc = $?; restore(); $? = $rc }
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);
spit("$t/sudo.conf.orig", $orig_conf) if defined $orig_conf; # a copy on disk as well

# ---- the operator, his group, his sudoers rights ----
if (!getgrnam($GROUP)) { system('groupadd', $GROUP) == 0 or die "groupadd"; $made_group = 1 }
if (!getpwnam($OP)) {
	system($USERADD, '-M', '-N', '-g', $GROUP, '-s', '/bin/sh', '-d', '/tmp', $OP) == 0
	    or die "useradd";
	$made_user = 1;
}
spit($DROPIN, "%$GROUP ALL=(ALL) NOPASSWD: /usr/bin/id, /bin/cat\n");
chmod 0440, $DROPIN;
system('visudo', '-cqf', $DROPIN) == 0 or die "sudoers drop-in does not parse";

# the plugin: a root-owned copy sudo accepts (not group/other writable)
copy($SO, "$t/escort_sudo.so") or die "copy: $!";
chmod 0644, "$t/escort_sudo.so";
chmod 0755, $t;

# ---- the plugin exports only what sudo looks up; escortd does not include its header ----
if (-x '/usr/bin/nm') {
	my @syms = map { (split ' ')[-1] } grep { /\S/ } split /\n/, `nm -D --defined-only $SO`;
	check("@syms" eq 'escort_approval', 'escort_sudo.so exports only escort_approval', "@syms");
}
my @up = grep { slurp($_) =~ m{#include "sudo/} } glob('src/workflow/*.[ch] src/server/*.[ch]');
check(!@up, 'no workflow or server source includes a header of the sudo front end', "@up");

# ---- escortd with a small policy ----
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete @ENV{qw(ESCORT_DATA_DIR ESCORT_TOKEN ESCORT_SERVER)};
spit("$t/policy.yaml", <<"YAML");
version: 1
identities:
  - name: $OP
    roles: [operator]
    citizenship: [US]
    location: US
  - name: esc-1
    roles: [escort]
    citizenship: [US]
    location: US
  - name: host\@$HOST
    roles: [host]
    hosts: [$HOST]
  - name: host\@other
    roles: [host]
    hosts: [other]
environments:
  - name: lab
targets:
  - name: $HOST
    environment: lab
    transport: sudo
    settings: {platform: linux}
  - name: other
    environment: lab
    transport: sudo
    settings: {platform: linux}
rules:
  - name: escort-every-sudo
    match: {environment: lab}
    approvals: {count: 1, each: {roles: [escort]}}
YAML
my $policy = slurp("$t/policy.yaml");
my ($s, $o, $e) = escort({ token => undef }, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = escort({ token => undef }, 'policy', 'load', "$t/policy.yaml");
die "policy load: $e" if $s;
my %tok;
for my $u ('esc-1', $OP, "host\@$HOST", 'host@other') {
	($s, $o, $e) = escort({ token => undef }, 'user', 'token', $u);
	die "token $u: $e" if $s;
	chomp($tok{$u} = $o);
}
spit("$t/host.token", "$tok{\"host\@$HOST\"}\n");
chmod 0600, "$t/host.token";

my $log = "$t/serve.err";
$srv_pid = fork() // die "fork: $!";
if ($srv_pid == 0) {
	open(STDERR, '>', $log) or _exit(127);
	open(STDOUT, '>', '/dev/null') or _exit(127);
	exec { $E } $E, 'serve', '--data', $dir, '--listen', '127.0.0.1:0', '--no-privsep'
	    or _exit(127);
}
my $url;
for (1 .. 200) {
	last if -f $log && slurp($log) =~ m{listening on (\S+)} && ($url = $1);
	sleep 0.05;
}
check(defined $url, 'escortd is listening') or do { print "# ", slurp($log); done() };
my $http = HTTP::Tiny->new(timeout => 20);
sub call {
	my ($m, $p, $tk, $body) = @_;
	my %opt = (headers => { Authorization => "Bearer $tk" });
	if (defined $body) {
		$opt{content} = encode_json($body);
		$opt{headers}{'Content-Type'} = 'application/json';
	}
	my $r = $http->request($m, "$url/api/v1$p", \%opt);
	return ($r->{status}, js($r->{content}));
}

sub sudo_conf {
	my ($server, $timeout) = @_;
	spit("$CONF.escort-tmp", "# written by tests/integration/90-sudo.t (restored afterwards)\n" .
	    "Plugin sudoers_policy sudoers.so\nPlugin sudoers_io sudoers.so\n" .
	    "Plugin sudoers_audit sudoers.so\n" .
	    "Plugin escort_approval $t/escort_sudo.so server=$server token_file=$t/host.token " .
	    "groups=$GROUP timeout=$timeout target=$HOST\n");
	rename "$CONF.escort-tmp", $CONF or die "rename: $!";
}

# sudo as the operator, in the background: returns the child's pid and output files
my $runs = 0;
sub sudo_bg {
	my (@cmd) = @_;
	my $n = ++$runs;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null') or _exit(127);
		open(STDOUT, '>', "$t/out$n") or _exit(127);
		open(STDERR, '>', "$t/err$n") or _exit(127);
		setpgrp(0, 0); # no controlling tty: messages go to stderr
		my $line = join ' ', map { "'$_'" } @cmd;
		exec('su', '-s', '/bin/sh', $OP, '-c', "cd /tmp && exec $SUDO -n $line") or _exit(127);
	}
	return ($pid, "$t/out$n", "$t/err$n");
}
sub finish {
	my ($pid, $of, $ef, $limit) = @_;
	my $end = time() + ($limit // 30);
	while (waitpid($pid, WNOHANG) != $pid) {
		if (time() > $end) { kill 'KILL', $pid; waitpid($pid, 0); return (-1, '', 'hung') }
		sleep 0.05;
	}
	return ($? >> 8, slurp($of), slurp($ef));
}
# the newest pending request of the operator after id $after (waits for it)
sub pending_after {
	my ($after) = @_;
	for (1 .. 200) {
		my ($st, $j) = call('GET', '/requests?state=pending', $tok{'esc-1'});
		my ($r) = grep { $_->{requester} eq $OP && $_->{id} > $after } @{ $j->{requests} // [] };
		return $r->{id} if $r;
		sleep 0.05;
	}
	return 0;
}

my $srv = $url;
sudo_conf($srv, 20);

# ---- approved: runs ----
my ($pid, $of, $ef) = sudo_bg('/usr/bin/id', '-u');
my $id = pending_after(0);
check($id > 0, 'sudo submitted a pending request');
my ($st, $j) = call('GET', "/requests/$id", $tok{'esc-1'});
check($st == 200 && $j->{target} eq $HOST && $j->{commands}[0]{text} eq '/usr/bin/id -u' &&
    $j->{requester} eq $OP, 'requester is the sudo user, target the host, command the argv',
    encode_json($j // {}));
check(($j->{justification} // '') =~ /as root in \/tmp/, 'run-as user and cwd recorded');
($st, $j) = call('POST', "/requests/$id/approve", $tok{'esc-1'}, { comment => 'ok' });
check($st == 200 && $j->{state} eq 'approved', 'escort approves', encode_json($j // {}));
my ($rc, $out, $err) = finish($pid, $of, $ef);
check($rc == 0 && $out eq "0\n", 'approved: the command ran as root', "rc=$rc out=$out err=$err");
check($err =~ /waiting for escort approval of request $id\x{e2}\x{80}\x{a6}/ ||
    $err =~ /waiting for escort approval of request $id/, 'the user was told which request waits',
    $err);
($st, $j) = call('GET', "/requests/$id", $tok{'esc-1'});
check($st == 200 && $j->{state} eq 'succeeded', 'the approval was consumed (state succeeded)',
    encode_json($j // {}));
($st, $j) = call('GET', '/audit/search?type=sudo.allowed', $tok{'esc-1'});
check($st == 200 && grep({ ($_->{details}{request} // 0) == $id && $_->{actor} eq "host\@$HOST" }
    @{ $j->{events} // [] }), 'sudo.allowed is in the audit log', encode_json($j // {}));
($st, $j) = call('POST', "/sudo/$id/claim", $tok{"host\@$HOST"},
    { sha256 => sha256_hex('/usr/bin/id -u') });
check($st == 409, 'a second claim of the same approval is refused (409)', "$st");

# ---- denied: refused with the escort's reason ----
($pid, $of, $ef) = sudo_bg('/bin/cat', '/etc/hostname');
$id = pending_after($id);
($st, $j) = call('POST', "/requests/$id/deny", $tok{'esc-1'}, { comment => 'not today' });
check($st == 200, 'escort denies');
($rc, $out, $err) = finish($pid, $of, $ef);
check($rc != 0 && $out eq '' && $err =~ /request $id was denied by esc-1: not today/,
    'denied: refused with the reason', "rc=$rc out=$out err=$err");

# ---- another argv approved does not let this one run ----
# the host itself submitted /bin/cat /etc/hostname earlier (approved); the user now runs
# /bin/cat /etc/shadow: a new request that nobody approves
($st, $j) = call('POST', '/sudo', $tok{"host\@$HOST"}, { host => $HOST, user => $OP,
    runas => 'root', argv => ['/bin/cat', '/etc/hostname'] });
my $other = $j->{id} // 0;
check($st == 201 && $j->{command} eq '/bin/cat /etc/hostname' &&
    $j->{sha256} eq sha256_hex('/bin/cat /etc/hostname'), 'POST /sudo quotes argv into one line');
($st, $j) = call('POST', "/requests/$other/approve", $tok{'esc-1'}, { comment => 'ok' });
check($st == 200, 'the other argv is approved');
($st, $j) = call('POST', "/sudo/$other/claim", $tok{"host\@$HOST"},
    { sha256 => sha256_hex('/bin/cat /etc/shadow') });
check($st == 403 && ($j->{error}{message} // '') =~ /another command/,
    'claiming an approval with another command is refused (403)', encode_json($j // {}));

# ---- an approved request sudo never claimed (e.g. sudo was SIGKILLed) never runs here ----
($st, $j) = call('POST', "/requests/$other/run", $tok{$OP});
check($st == 403 && ($j->{error}{message} // '') =~
    /requests for sudo host $HOST are run by sudo on that host, not by escort/,
    'its requester cannot run an approved sudo request through escortd (403)',
    "$st " . encode_json($j // {}));
($s, $o, $e) = escort({ token => $tok{$OP} }, 'request', 'run', $other);
check($s != 0 && $e =~ /run by sudo on that host, not by escort/,
    'nor with escort request run', "rc=$s err=$e");
($st, $j) = call('GET', "/requests/$other", $tok{'esc-1'});
check($st == 200 && $j->{state} eq 'approved' && !defined $j->{result},
    'the request is still approved and nothing ran', encode_json($j // {}));

# ---- a host token is not an operator, escort or runner ----
($st, $j) = call('POST', '/requests', $tok{"host\@$HOST"}, { target => $HOST,
    justification => 'x', commands => ['id'] });
check($st == 403, 'a host cannot create an ordinary request', "$st " . encode_json($j // {}));
($st, $j) = call('POST', "/requests/$other/approve", $tok{"host\@$HOST"}, { comment => 'ok' });
check($st == 403 || $st == 404, 'a host cannot approve (not even see the request)', "$st");
($st, $j) = call('GET', '/requests', $tok{"host\@$HOST"});
check($st != 200 || !@{ $j->{requests} // [] }, 'a host does not see the request list',
    "$st " . encode_json($j // {}));

# ---- the claim re-decides with the policy in force ----
sub policy_in_force {
	my ($text, $what) = @_;
	spit("$t/policy2.yaml", $text);
	my ($ps, $po, $pe) = escort({ token => undef }, 'policy', 'load', "$t/policy2.yaml");
	die "policy load ($what): $pe" if $ps;
}
my $sha_host = sha256_hex('/bin/cat /etc/hostname');
(my $two = $policy) =~ s/approvals: \{count: 1,/approvals: {count: 2,/ or die;
policy_in_force($two, 'two approvals');
($st, $j) = call('POST', "/sudo/$other/claim", $tok{"host\@$HOST"}, { sha256 => $sha_host });
check($st == 403 && ($j->{error}{message} // '') =~ /no longer satisfy the policy in force/,
    'claim refused once the policy in force needs more approvals', "$st " . encode_json($j // {}));
(my $deny = $policy) =~ s/rules:\n/rules:\n  - {name: no-cat, match: {environment: lab}, deny: not now}\n/
    or die;
policy_in_force($deny, 'deny');
($st, $j) = call('POST', "/sudo/$other/claim", $tok{"host\@$HOST"}, { sha256 => $sha_host });
check($st == 403 && ($j->{error}{message} // '') =~ /denies it now/,
    'claim refused once the policy in force denies it', "$st " . encode_json($j // {}));
policy_in_force($policy, 'original');
($st, $j) = call('POST', "/sudo/$other/claim", $tok{"host\@$HOST"}, { sha256 => $sha_host });
check($st == 200 && $j->{allowed}, 'with the original policy back the same claim succeeds',
    "$st " . encode_json($j // {}));

sudo_conf($srv, 3);
($pid, $of, $ef) = sudo_bg('/bin/cat', '/etc/shadow');
($rc, $out, $err) = finish($pid, $of, $ef);
check($rc != 0 && $out !~ /root:/ && $err =~ /no escort approved request (\d+) within 3 seconds/,
    'an approval of another argv does not allow this one (timeout)', "rc=$rc err=$err");
my $tid = ($err =~ /request (\d+) within/)[0] // 0;
check($tid && $tid != $other, 'this command got a request of its own');
($st, $j) = call('GET', "/requests/$tid", $tok{'esc-1'});
check($st == 200 && $j->{state} eq 'cancelled', 'timeout: the request was cancelled',
    encode_json($j // {}));

# ---- interrupted while waiting: the request is cancelled, so a late approval is void ----
sudo_conf($srv, 20);
($pid, $of, $ef) = sudo_bg('/usr/bin/id', '-u');
my $iid = pending_after($tid);
kill 'INT', -$pid; # the whole group: su and sudo, as a Ctrl-C on a terminal would
($rc, $out, $err) = finish($pid, $of, $ef);
($st, $j) = call('GET', "/requests/$iid", $tok{'esc-1'});
# (su's own status after the signal says nothing; the output and the message do)
check($iid && $out eq '' && $err =~ /interrupted while waiting for request $iid/ &&
    $j->{state} eq 'cancelled',
    'interrupted: refused and the request cancelled', "rc=$rc err=$err state=$j->{state}");

# ---- quoting: odd arguments arrive as one exact argv ----
($st, $j) = call('POST', '/sudo', $tok{"host\@$HOST"}, { host => $HOST, user => $OP,
    argv => ['/bin/cat', "it's a file", '$(reboot)', 'a;b', ''] });
check($st == 201 && $j->{command} eq q{/bin/cat 'it'\''s a file' '$(reboot)' 'a;b' ''},
    'arguments with quotes and metacharacters are single-quoted', encode_json($j // {}));
{
	local $ENV{LINE} = $j->{command} // '';
	my $got = `bash -c 'eval "set -- \$LINE"; printf "%s|" "\$@"'`;
	check($got eq "/bin/cat|it's a file|\$(reboot)|a;b||", 'bash splits the line back into the argv',
	    $got);
}

# ---- hosts speak only for themselves ----
($st, $j) = call('POST', '/sudo', $tok{'host@other'}, { host => $HOST, user => $OP,
    argv => ['/usr/bin/id'] });
check($st == 403, 'a host cannot submit for another host', "$st");
($st, $j) = call('GET', "/sudo/$other", $tok{'host@other'});
check($st == 404, "another host cannot read this host's request", "$st");
($st, $j) = call('POST', '/sudo', $tok{$OP}, { host => $HOST, user => $OP, argv => ['/usr/bin/id'] });
check($st == 403, 'an operator token is not a host token', "$st");
($st, $j) = call('POST', '/sudo', $tok{"host\@$HOST"}, { host => $HOST, user => 'nobody-here',
    argv => ['/usr/bin/id'] });
check($st == 403, 'an unknown sudo user is refused', "$st");
($st, $j) = call('POST', '/sudo', $tok{"host\@$HOST"}, { host => $HOST, user => $OP,
    argv => ['/usr/bin/id'], env => 'x' });
check($st == 400 && $j->{error}{field} eq 'env', 'unknown members are refused');

# ---- escortd unreachable: refused at once ----
my $sock = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die;
my $dead = $sock->sockport;
close $sock;
sudo_conf("http://127.0.0.1:$dead", 20);
my $t0 = time();
($pid, $of, $ef) = sudo_bg('/usr/bin/id', '-u');
($rc, $out, $err) = finish($pid, $of, $ef);
check($rc != 0 && $out eq '' && $err =~ /cannot reach escortd/ && time() - $t0 < 15,
    'escortd down: refused (fail closed)', "rc=$rc err=$err");

# ---- users outside the group are not escorted ----
($rc, $out) = (system("$SUDO -n /usr/bin/id -u >$t/root.out 2>$t/root.err") >> 8,
    slurp("$t/root.out"));
check($rc == 0 && $out eq "0\n" && slurp("$t/root.err") !~ /escort/,
    'root (not in escortops) runs without escort');

# ---- plugin configuration errors refuse ----
spit("$CONF.escort-tmp", "Plugin sudoers_policy sudoers.so\nPlugin escort_approval " .
    "$t/escort_sudo.so token_file=$t/host.token\n");
rename "$CONF.escort-tmp", $CONF;
($pid, $of, $ef) = sudo_bg('/usr/bin/id', '-u');
($rc, $out, $err) = finish($pid, $of, $ef);
check($rc != 0 && $out eq '' && $err =~ /server=/, 'missing server= refuses', "rc=$rc err=$err");

restore();
check(defined $orig_conf ? slurp($CONF) eq $orig_conf : !-e $CONF, '/etc/sudo.conf restored');
done();

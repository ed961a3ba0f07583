#!/usr/bin/perl
# 81-session-ssh.t — an escorted session on an ssh target (the throwaway sshd of
# tests/integration/lib/sshd.sh): state across lines, the scrubbed environment, Ctrl-C,
# attestation at start and end, a swapped host key refused before anything runs, and the
# kill switch ending the remote processes within a second. Skips when sshd is missing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use IPC::Open3;
use IO::Select;
use Symbol 'gensym';
use Time::HiRes qw(sleep time);
use Cwd qw(abs_path);

my $E = abs_path($ENV{ESCORT} // 'build/escort');
my $t = tempdir(CLEANUP => 1);
my $sd = "$t/sshd";
$ENV{SSHD_OWNER} = $$;
system('sh', 'tests/integration/lib/sshd.sh', 'start', $sd);
if (($? >> 8) == 77) { print "1..0 # SKIP no /usr/sbin/sshd\n"; exit 0 }
die "sshd did not start\n" if $?;
END { system('sh', 'tests/integration/lib/sshd.sh', 'stop', $sd) if $sd && -d $sd }
chomp(my $port = slurp("$sd/port"));
chomp(my $fp = slurp("$sd/fingerprint"));
chomp(my $user = slurp("$sd/user"));

my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};
delete $ENV{ESCORT_SERVER};
$ENV{ESCORT_RULES} //= abs_path('rules');
sub run { my ($tok, @a) = @_; return escort({ token => $tok }, @a) }

my $pol = slurp('examples/policy.yaml');
my $targets = <<"YAML";
  - name: com-ssh
    environment: commercial
    transport: ssh
    settings:
      platform: linux
      timeout: 5s
      host: 127.0.0.1
      port: $port
      user: $user
      host_key: "$fp"
  - name: com-ssh-swapped
    environment: commercial
    transport: ssh
    settings:
      platform: linux
      host: 127.0.0.1
      port: $port
      user: $user
      host_key: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
      key: com-ssh
YAML
$pol =~ s/^targets:\n/targets:\n$targets/m or die 'targets';
spit("$t/policy.yaml", $pol);
my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = run(undef, 'policy', 'load', "$t/policy.yaml");
die "policy: $e" if $s;
my %tok;
for my $u (qw(op-in esc-1)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	chomp $o;
	$tok{$u} = $o;
}
mkdir "$dir/keys", 0700 or die;
system('cp', "$sd/client_key", "$dir/keys/com-ssh") == 0 or die;
chmod 0600, "$dir/keys/com-ssh";

# An operator's session with its stdin a pipe: lines go in when we say, output is read
# as it comes.
sub session {
	my ($target) = @_;
	local $ENV{ESCORT_TOKEN} = $tok{'op-in'};
	my $err = gensym;
	my $pid = open3(my $in, my $out, $err, $E, 'session', 'start', '--target', $target);
	$in->autoflush(1);
	return { pid => $pid, in => $in, out => $out, err => $err, buf => '', ebuf => '' };
}
sub pump {
	my ($ss, $secs) = @_;
	my $sel = IO::Select->new($ss->{out}, $ss->{err});
	my $end = time + $secs;
	while (time < $end) {
		for my $fh ($sel->can_read(0.05)) {
			my $n = sysread($fh, my $b, 65536);
			if (!$n) { $sel->remove($fh); next }
			if ($fh == $ss->{out}) { $ss->{buf} .= $b } else { $ss->{ebuf} .= $b }
		}
		last if $sel->count == 0;
	}
}
sub until_out {
	my ($ss, $re, $secs) = @_;
	my $end = time + ($secs // 8);
	while (time < $end) {
		return 1 if $ss->{buf} =~ $re || $ss->{ebuf} =~ $re;
		pump($ss, 0.1);
	}
	return 0;
}
sub finish { my ($ss) = @_; close $ss->{in}; pump($ss, 10); waitpid($ss->{pid}, 0); return $? >> 8 }

my $ss = session('com-ssh');
print { $ss->{in} } "cd /tmp && export V=over-ssh\n", "pwd; echo \"\$V\"; echo \"[\$ESCORT_SESSION]\"; env | grep -c . \n";
ok(until_out($ss, qr/^\/tmp\nover-ssh\n\[1\]\n\d+\n/m), 'ssh: lines run in one remote shell: cd and export persist')
	or print "# $ss->{buf} $ss->{ebuf}\n";
my ($nenv) = $ss->{buf} =~ /^\[1\]\n(\d+)$/m;
ok(!!($nenv && $nenv < 20), 'ssh: the remote shell has a scrubbed environment') or print "# $nenv\n";
print { $ss->{in} } "sleep 30; echo not-reached\n";
sleep 1.5;
my $t0 = time;
kill 'INT', $ss->{pid};
ok(until_out($ss, qr/line 3 interrupted, exit status 130/, 5) && time - $t0 < 3,
   'ssh: Ctrl-C interrupts the remote line') or print "# $ss->{ebuf}\n";
print { $ss->{in} } "echo after-\$((1+1))\n";
ok(until_out($ss, qr/^after-2$/m), 'ssh: the shell goes on after Ctrl-C');
# the target is this host: listening ports of other programs (tests running in parallel)
# may come and go meanwhile; nothing else may change
my $fs = finish($ss);
my ($att) = $ss->{ebuf} =~ /attestation: (\d+ changes? to sensitive state.*)/;
my @chg = defined $att && $att =~ /^\d+ changes? to sensitive state on the target: (.*)$/ ? split(/\\n/, $1) : ();
ok(!!($fs == 0 && defined $att && ($att =~ /^0 changes/
       || (@chg && !grep { !/^(?:new listening port|listening port closed:) tcp / } @chg))),
   'ssh: the session ends with an attestation of the target') or print "# $ss->{ebuf}\n";
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'verify', 1);
ok(!!($s == 0), 'ssh: the recording verifies') or print "# $e\n";

# a swapped host key: refused before anything runs
($s, $o, $e) = escort({ token => $tok{'op-in'}, stdin => "echo should-not-run\n" },
                      'session', 'start', '--target', 'com-ssh-swapped');
ok(!!($s != 0 && $e =~ /HOST KEY MISMATCH/ && $o !~ /should-not-run/), 'ssh: a swapped host key is refused')
	or print "# $s $o $e\n";

# the kill switch: the remote process is gone within a second
$ss = session('com-ssh');
print { $ss->{in} } "sleep 88\n";
my $seen = 0;
for (1 .. 100) { last if ($seen = `pgrep -f '^sleep 88\$'` =~ /\d/); sleep 0.05 }
ok($seen, 'ssh: the line runs on the target');
until_out($ss, qr/session \d+ on/);
my ($id) = $ss->{ebuf} =~ /session (\d+) on/;
$t0 = time;
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'kill', $id // 0);
my $gone = 0;
while (time - $t0 < 1.0) { last if ($gone = `pgrep -f '^sleep 88\$'` !~ /\d/); sleep 0.05 }
ok(!!($s == 0 && $gone), 'ssh: kill ends the remote processes within 1 s') or print "# $s $e\n";
finish($ss);
ok(!!($ss->{ebuf} =~ /killed by an escort/), 'ssh: the operator is told');
done();

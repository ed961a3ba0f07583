#!/usr/bin/perl
# 50-broker-ssh.t — approved requests run on a real OpenSSH server through the broker,
# end to end through the CLI: a denied or unapproved request never even connects; the
# exact bytes arrive (the target's bash hashes what it received); the time limit kills
# the remote process group; operators see redacted output while auditors see all, and the
# log holds both hashes; a listener left behind shows in the attestation diff; a swapped
# host key is refused before authentication. Skips when sshd is not installed.
use strict;
use warnings;
use File::Temp qw(tempdir);
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time);
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortServer qw(sshd_start);
use EscortTest qw(escort);

my $n = 0;
sub ok($$) { my ($c, $d) = @_; $n++; print(($c ? "ok" : "not ok") . " $n - $d\n"); $c }

my $t = tempdir(CLEANUP => 1);
my $sshd = sshd_start("$t/sshd");
my ($sd, $port, $fp, $user) = @$sshd{qw(dir port fingerprint user)};
sub slurp { my ($f) = @_; open my $h, '<', $f or die "$f: $!"; local $/; my $s = <$h>; close $h; $s }
system('ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', "$t/otherhost") == 0 or die;
my $otherfp = (split ' ', `ssh-keygen -l -E sha256 -f $t/otherhost.pub`)[1];
sub log_count { my ($re) = @_; my @l = grep { /$re/ } split /\n/, slurp("$sd/sshd.log"); scalar @l }

my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};

# run(TOKEN or undef, ARGS...) -> (status, out, err)
sub run { my ($tok, @args) = @_; return escort(defined $tok ? { token => $tok } : {}, @args) }
sub js { my ($s) = @_; my $j = eval { decode_json($s) }; return $j }

# the example organization plus two ssh targets in dod: the real one, and the same
# address pinned to another host key (what a swapped or intercepted server looks like)
my $pol = slurp('examples/policy.yaml');
my $targets = <<"YAML";
  - name: dod-ssh
    environment: dod
    transport: ssh
    settings:
      platform: linux
      timeout: 3s
      host: 127.0.0.1
      port: $port
      user: $user
      host_key: "$fp"
  - name: dod-ssh-swapped
    environment: dod
    transport: ssh
    settings:
      platform: linux
      timeout: 3s
      host: 127.0.0.1
      port: $port
      user: $user
      host_key: "$otherfp"
YAML
$pol =~ s/^targets:\n/targets:\n$targets/m or die "no targets: in the example policy";
open my $ph, '>', "$t/policy.yaml" or die;
print $ph $pol;
close $ph;

my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = run(undef, 'policy', 'load', "$t/policy.yaml");
ok($s == 0, 'a policy with ssh targets loads') or print "# $o $e\n";
my %tok;
for my $u (qw(op-cn op-in esc-1 esc-2 rev-1 aud-1)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	chomp $o;
	$tok{$u} = $o;
	die "token for $u: $e" if $s;
}
# escort's own key for the targets, in the data directory (operators never see it)
mkdir "$dir/keys", 0700 or die;
for my $tg (qw(dod-ssh dod-ssh-swapped)) {
	system('cp', "$sd/client_key", "$dir/keys/$tg") == 0 or die;
	chmod 0600, "$dir/keys/$tg";
}

sub create {
	my ($who, $target, $cmd) = @_;
	open my $fh, '>', "$t/cmd" or die;
	print $fh $cmd;
	close $fh;
	my ($st, $out, $err) = run($tok{$who}, 'request', 'create', '--json', '--target', $target,
	    '--ticket', 'CHG-50', '--justification', 'broker test', '--file', "$t/cmd");
	return ($st, js($out), $err);
}
sub act { my ($who, @a) = @_; return run($tok{$who}, 'request', @a) }
sub show { my ($who, $id) = @_; my ($st, $out) = act($who, 'show', '--json', $id); return js($out) }
sub approve {
	my ($id) = @_;
	for my $who (qw(esc-2 rev-1 esc-1)) {
		my ($st, $out) = act($who, 'approve', '--json', $id);
		my $j = js($out);
		return 1 if $j && $j->{state} eq 'approved';
	}
	return 0;
}

# 1. denied and unapproved requests never reach the target
my $conn0 = log_count(qr/Connection from 127\.0\.0\.1/);
my $j;
($s, $j, $e) = create('op-cn', 'dod-ssh', 'uptime');
ok($s == 3 && $j && $j->{state} eq 'denied', 'op-cn on dod-ssh: denied');
($s, $o, $e) = act('op-cn', 'run', $j->{id});
ok($s != 0, 'running a denied request fails') or print "# $s $o\n";
($s, $j, $e) = create('op-in', 'dod-ssh', 'uptime');
ok($s == 0 && $j->{state} eq 'pending', 'op-in on dod-ssh: pending');
($s, $o, $e) = act('op-in', 'run', $j->{id});
ok($s == 5, 'running an unapproved request: exit 5') or print "# $s $e\n";
ok(log_count(qr/Connection from 127\.0\.0\.1/) == $conn0,
   'no connection to the target was opened for the denied or unapproved request');

# 2. the exact bytes: quotes, newlines, unicode, $, backslashes, control characters
my $cmd = "printf %s \"\$BASH_EXECUTION_STRING\" | sha256sum # it's \"quoted\" \$HOME `id` \\ \\\\n\n"
        . "# caf\xc3\xa9 \xe2\x9c\x93 tab\there \$'\\x41' \${x:-y} !! %s\n"
        . "echo \"user=\$USER pwd=\$PWD tk=[\$ESCORT_TOKEN] req=\$ESCORT_REQUEST\"";
($s, $j, $e) = create('op-in', 'dod-ssh', $cmd);
my $rx = $j->{id};
ok(approve($rx), 'the tricky command is approved');
my $t0 = time;
($s, $o, $e) = act('op-in', 'run', '--json', $rx);
$j = js($o);
ok($s == 0 && $j && $j->{state} eq 'succeeded', 'it runs over ssh (exit 0)') or print "# $s $o $e\n";
my $out = $j ? ($j->{execution}{output} // '') : '';
ok(substr($out, 0, 64) eq sha256_hex($cmd), 'the target\'s bash received exactly the approved bytes (SHA-256 matches)')
    or print "# got $out\n# want " . sha256_hex($cmd) . "\n";
ok($out =~ /^user=\Q$user\E pwd=\S+ tk=\[\] req=$rx$/m, 'scrubbed environment on the target, ESCORT_REQUEST set') or print "# $out\n";
my $res = $j ? $j->{execution}{result} : {};
ok($res->{transport} eq 'ssh', 'the result names the ssh transport');
# (listening sockets of tests running in parallel may come and go meanwhile)
ok(ref $res->{attestation} eq 'HASH' && !exists $res->{attestation}{error} &&
   !grep({ !/listening port/ } @{$res->{attestation}{diff} // []}),
   'a read-only command: the attestation shows no file change') or print "# " . encode_json($res->{attestation} // {}) . "\n";

# 3. the time limit (3 s) kills the remote process group
($s, $j, $e) = create('op-in', 'dod-ssh', 'echo $$; sleep 100 & sleep 100');
my $rt = $j->{id};
approve($rt);
$t0 = time;
($s, $o, $e) = act('op-in', 'run', '--json', $rt);
$j = js($o);
ok($s == 1 && $j && $j->{state} eq 'failed' && $j->{execution}{result}{timed_out}, 'sleep 100 & sleep 100: failed on the time limit')
    or print "# $s $o $e\n";
ok(time - $t0 < 20, 'within the limit plus snapshots');
my ($pg) = ($j->{execution}{output} // '') =~ /^(\d+)$/m;
my $alive = 1;
for (1 .. 200) { $alive = $pg ? kill(0, -$pg) : 1; last unless $alive; select(undef, undef, undef, 0.02) }
ok($pg && !$alive, "the remote process group $pg is gone (no sleep survived)");

# 4. redaction: operators see masks, auditors the full output; the log has both hashes
my $secret = 'root:$6$saltsalt$Qx6.d0f8ajtXo3mDkEYnnqGAgqmdNQj5gxA2Xe5nl2xW4ybZ8c:19000:0:99999:7:::';
($s, $j, $e) = create('op-in', 'dod-ssh', "echo '$secret'; echo 'AKIAIOSFODNN7EXAMPLE'; echo 'DB_PASSWORD=hunter2'");
my $rr = $j->{id};
approve($rr);
($s, $o, $e) = act('op-in', 'run', $rr);
ok($s == 0 && $o =~ /root:\[REDACTED:password-hash\]:19000/ && $o =~ /\[REDACTED:aws-access-key\]/ &&
   $o =~ /DB_PASSWORD=\[REDACTED:assigned-secret\]/ && $o !~ /hunter2|Qx6\.d0f8|AKIAIOSFODNN7EXAMPLE/,
   'the operator sees the output redacted') or print "# $o\n";
ok($e =~ /redacted from your view: .*password-hash/ && $e =~ /attestation: /,
   'request run tells the operator what was redacted and what changed') or print "# $e\n";
my $full = show('aud-1', $rr);
ok(index($full->{execution}{output}, $secret) >= 0 && $full->{execution}{output} =~ /hunter2/,
   'the auditor sees the full output');
my $mine = show('op-in', $rr);
ok($mine->{execution}{output} !~ /hunter2/, 'show to the operator is redacted too');
my $red = $full->{execution}{result}{redactions} // {};
ok(($red->{'password-hash'} // 0) == 1 && ($red->{'aws-access-key'} // 0) == 1 && ($red->{'assigned-secret'} // 0) == 1,
   'the result counts what was redacted, by kind') or print "# " . encode_json($red) . "\n";

# 5. attestation: a listener left behind (detached from the run) is caught
my $lp = "$t/listener";
my $perl = <<"PERL";
perl -MPOSIX -MIO::Socket::INET -e '
\$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1) or die "listen: \$!";
open(F, ">", "$lp.port") or die; print F \$s->sockport; close F;
\$p = fork(); die unless defined \$p;
if (\$p) { open(F, ">", "$lp.pid") or die; print F \$p; close F; exit 0 }
POSIX::setsid(); close STDOUT; close STDERR; sleep 60'
PERL
($s, $j, $e) = create('op-in', 'dod-ssh', $perl);
my $rl = $j->{id};
ok(approve($rl), 'the listener command is approved');
($s, $o, $e) = act('op-in', 'run', '--json', $rl);
$j = js($o);
my ($lport, $lpid) = (-f "$lp.port" ? slurp("$lp.port") : '?', -f "$lp.pid" ? slurp("$lp.pid") : 0);
kill 'KILL', $lpid if $lpid;
my $att = $j ? $j->{execution}{result}{attestation} : undef;
ok($att && $att->{changes} >= 1 && grep({ $_ eq "new listening port tcp 127.0.0.1:$lport" } @{$att->{diff}}),
   "the attestation diff says: new listening port tcp 127.0.0.1:$lport") or print "# " . encode_json($att // {}) . " $o $e\n";

# 6. a swapped host key: refused before authentication, nothing runs
my $auth0 = log_count(qr/Accepted publickey/);
($s, $j, $e) = create('op-in', 'dod-ssh-swapped', "touch $t/should-not-exist");
my $rs = $j->{id};
approve($rs);
($s, $o, $e) = act('op-in', 'run', '--json', $rs);
$j = js($o);
ok($s != 0 && $j && $j->{state} eq 'failed', 'a run against a swapped host key fails') or print "# $s $o $e\n";
ok(($j->{execution}{result}{error} // '') =~ /HOST KEY MISMATCH.*\Q$fp\E/,
   'with a clear message naming the mismatch and the key the server presented')
    or print "# " . encode_json($j->{execution}{result} // {}) . "\n";
ok(!-e "$t/should-not-exist" && log_count(qr/Accepted publickey/) == $auth0, 'and escort never authenticated or ran anything');

# 7. the log: both output hashes and the attestation, and it verifies
($s, $o, $e) = run(undef, 'audit', 'export');
my @recs = grep { $_ } map { js($_) } grep { length } split /\n/, $o;
my ($end) = grep { $_->{type} eq 'execution.end' && $_->{details}{request} == $rr } @recs;
ok($end && $end->{details}{output_sha256} eq sha256_hex($full->{execution}{output}) &&
   $end->{details}{output_redacted_sha256} eq sha256_hex($mine->{execution}{output}),
   'execution.end holds the hash of the full output and of the redacted view') or print "# " . encode_json($end // {}) . "\n";
my ($endl) = grep { $_->{type} eq 'execution.end' && $_->{details}{request} == $rl } @recs;
ok($endl && grep({ /new listening port/ } @{$endl->{details}{attestation}{diff} // []}), 'execution.end holds the attestation diff');
($s, $o, $e) = run(undef, 'audit', 'verify');
ok($s == 0 && $o =~ /^ok/, 'escort audit verify passes') or print "# $o $e\n";

print "1..$n\n";

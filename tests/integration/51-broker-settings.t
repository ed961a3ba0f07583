#!/usr/bin/perl
# 51-broker-settings.t — the policy's target settings and the data egress cap, end to end
# through the CLI against a real OpenSSH server: the example's ssh targets (dod-db, com-db)
# with their host key filled in; escort's key chosen by `key:` (shared by two targets, a
# missing one refused by name); the target's own redaction patterns; attestation on or off
# per target; and the per-operator daily output cap (cut, then withheld, each audited).
# Skips when sshd is not installed.
use strict;
use warnings;
use File::Temp qw(tempdir);
use JSON::PP;
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

my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};

# run(TOKEN or undef, ARGS...) -> (status, out, err)
sub run { my ($tok, @args) = @_; return escort(defined $tok ? { token => $tok } : {}, @args) }
sub js { my ($s) = @_; return eval { decode_json($s) } }

# the example policy, pointed at the throwaway sshd the way `make demo` does it, plus two
# more commercial targets: one sharing com-db's key without attestation, one whose key
# is missing; and a small commercial egress cap
my $pol = slurp('examples/policy.yaml');
$pol =~ s/port: 2222/port: $port/g == 2 or die "example: two ssh targets on port 2222";
$pol =~ s/user: escort/user: $user/g;
$pol =~ s/SHA256:A{43}/$fp/g == 2 or die "example: two placeholder host keys";
$pol =~ s/^  - name: commercial\n/  - name: commercial\n    egress: {per_operator_daily: 300}\n/m or die;
my $more = <<"YAML";
  - name: com-db2
    environment: commercial
    transport: ssh
    settings: {host: 127.0.0.1, port: $port, user: $user, host_key: "$fp", key: com-db, attest: false, timeout: 10s}
  - name: com-db3
    environment: commercial
    transport: ssh
    settings: {host: 127.0.0.1, port: $port, user: $user, host_key: "$fp", key: nokey, timeout: 10s}
YAML
$pol =~ s/^targets:\n/targets:\n$more/m or die;
open my $ph, '>', "$t/policy.yaml" or die;
print $ph $pol;
close $ph;

my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = run(undef, 'policy', 'load', "$t/policy.yaml");
ok($s == 0, 'the example policy with its ssh targets filled in loads') or print "# $o $e\n";
my %tok;
for my $u (qw(op-in esc-1 esc-2 rev-1 aud-1)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	chomp $o;
	$tok{$u} = $o;
	die "token for $u: $e" if $s;
}
# escort's keys by the names the policy gives (no file is named after com-db2 or com-db3)
mkdir "$dir/keys", 0700 or die;
for my $k (qw(dod-db com-db)) {
	system('cp', "$sd/client_key", "$dir/keys/$k") == 0 or die;
	chmod 0600, "$dir/keys/$k";
}

sub act { my ($who, @a) = @_; return run($tok{$who}, 'request', @a) }
sub show { my ($who, $id) = @_; my ($st, $out) = act($who, 'show', '--json', $id); return js($out) }
# creates, approves as needed and runs cmd as op-in; returns (exit, run json, stderr, id)
sub go {
	my ($target, $cmd) = @_;
	open my $fh, '>', "$t/cmd" or die;
	print $fh $cmd;
	close $fh;
	my ($st, $out, $err) = run($tok{'op-in'}, 'request', 'create', '--json', '--target', $target,
	    '--ticket', 'CHG-51', '--file', "$t/cmd");
	my $j = js($out) or return (-1, undef, $err, 0);
	my $id = $j->{id};
	for my $who (qw(esc-2 rev-1 esc-1)) {
		last if $j->{state} eq 'approved';
		($st, $out) = act($who, 'approve', '--json', $id);
		$j = js($out) // $j;
	}
	($st, $out, $err) = act('op-in', 'run', '--json', $id);
	return ($st, js($out), $err, $id);
}
sub result { my ($j) = @_; return $j ? ($j->{execution}{result} // {}) : {} }

# 1. key: two targets share one key file; a missing key is refused by its name
my ($id, $j);
($s, $j, $e, $id) = go('com-db2', 'echo ok');
ok($s == 0 && $j && $j->{state} eq 'succeeded' && $j->{execution}{output} eq "ok\n",
   'com-db2 runs with the key named com-db (settings.key)') or print "# $s $e\n";
ok(!exists result($j)->{attestation}, 'attest: false: no snapshot for com-db2');
($s, $j, $e, $id) = go('com-db3', 'echo never');
ok($s != 0 && $j && $j->{state} eq 'failed' && (result($j)->{error} // '') =~ m{keys/nokey},
   'com-db3 (key: nokey) fails, naming the missing key file') or print "# " . encode_json(result($j)) . " $e\n";

# 2. the target's own patterns (dod-db: SSNs and employee ids) on top of the built-ins
($s, $j, $e, $id) = go('dod-db', "echo 'ssn 123-45-6789 emp EMP-123456 id EMP-12'; echo DB_PASSWORD=hunter2");
ok($s == 0 && $j && $j->{execution}{output} eq
   "ssn [REDACTED:policy-pattern] emp [REDACTED:policy-pattern] id EMP-12\nDB_PASSWORD=[REDACTED:assigned-secret]\n",
   'dod-db: the operator sees SSNs, employee ids and the password masked') or print "# $s $e " . ($j ? $j->{execution}{output} : '') . "\n";
ok((result($j)->{redactions}{'policy-pattern'} // 0) == 2 && (result($j)->{redactions}{'assigned-secret'} // 0) == 1,
   'the result counts the pattern matches apart from the built-in kinds') or print "# " . encode_json(result($j)) . "\n";
my $full = show('aud-1', $id);
ok($full && $full->{execution}{output} =~ /123-45-6789 emp EMP-123456/, 'the auditor sees the full output');
# (sockets opened and closed meanwhile by tests running in parallel may show up)
my $att = result($j)->{attestation};
ok(ref $att eq 'HASH' && !exists $att->{error} && !grep({ !/listening port/ } @{$att->{diff} // []}),
   'dod-db (ssh, attest by default): a snapshot before and after, no file changed') or print "# " . encode_json(result($j)) . "\n";

# 3. the commercial egress cap (300 bytes per operator per UTC day); 3 bytes used above
my $x250 = "head -c 250 /dev/zero | tr '\\0' x";
($s, $j, $e, my $id1) = go('com-db2', $x250);
ok($s == 0 && $j && $j->{execution}{output} eq ('x' x 250), '250 bytes: delivered in full (253 of 300 used)')
    or print "# $s $e\n";
($s, $j, $e, my $id2) = go('com-db2', $x250);
my $out2 = $j ? $j->{execution}{output} : '';
ok($out2 =~ /\Ax{47}\n\[escort: 203 more bytes withheld: the daily output limit \(300 bytes per operator, in this environment\) was reached\]\n\z/,
   'the next 250: 47 delivered, 203 withheld, and the operator is told') or print "# $out2\n";
my $eg = result(show('esc-1', $id2))->{egress} // {};
ok(($eg->{delivered} // -1) == 47 && ($eg->{withheld} // -1) == 203 && ($eg->{limit} // 0) == 300,
   'the result records delivered, withheld and the limit') or print "# " . encode_json($eg) . "\n";
ok(show('esc-1', $id2)->{execution}{output} eq ('x' x 250), 'the escort still sees all of it');
($s, $j, $e, my $id3) = go('com-db2', $x250);
ok($j && $j->{execution}{output} =~ /\A\[escort: 250 more bytes withheld/, 'once spent: nothing but the notice');
($s, $o, $e) = run(undef, 'audit', 'export');
my @recs = grep { $_ } map { js($_) } grep { length } split /\n/, $o;
my ($tr) = grep { $_->{type} eq 'egress.truncated' } @recs;
my ($wh) = grep { $_->{type} eq 'egress.withheld' } @recs;
ok($tr && $tr->{details}{request} == $id2 && $tr->{details}{operator} eq 'op-in' &&
   $tr->{details}{withheld} == 203 && $tr->{details}{day} =~ /^\d{4}-\d\d-\d\d$/,
   'the audit log has egress.truncated for the cut run') or print "# " . encode_json($tr // {}) . "\n";
ok($wh && $wh->{details}{request} == $id3 && $wh->{details}{delivered} == 0,
   'and egress.withheld for the withheld one') or print "# " . encode_json($wh // {}) . "\n";
my ($end) = grep { $_->{type} eq 'execution.end' && $_->{details}{request} == $id2 } @recs;
ok($end && ($end->{details}{egress}{withheld} // 0) == 203, 'execution.end carries the egress record too');
($s, $o, $e) = run(undef, 'audit', 'verify');
ok($s == 0 && $o =~ /^ok/, 'escort audit verify passes') or print "# $o $e\n";

print "1..$n\n";

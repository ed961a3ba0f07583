#!/usr/bin/perl
# 72-postgres-audit.t — the audit log in PostgreSQL ($ESCORT_STORE / escort serve --store)
# against a real server (tests/lib/EscortPg.pm): init creates it there (and refuses a second
# key), CLI and escortd appends land in the database, verify/checkpoint/prove/check-proof/
# search/export work as on files, a second node with a copied key appends to the same log
# and a node with another key is refused, two processes appending at once interleave and
# verify; the triggers refuse changes, and what a superuser changes past them (one record,
# a record with its leaf hash, the tail, two records swapped, a record removed) is named by
# seq; and the search/rescan suite 31-audit-rescan.t runs against this backend.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use EscortServer;
use EscortPg qw(pg_start pg_sql pg_url);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;

my $BUILD = $ENV{BUILD} // 'build';
my $STRESS = "$BUILD/tools/audit_stress";
my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";

my $pg = pg_start();
sub schema {
	my ($name) = @_;
	my ($st, $out) = pg_sql($pg, "CREATE SCHEMA $name");
	die "CREATE SCHEMA $name: $out" if $st;
	return pg_url($pg, $name);
}
my $url = schema('a');
ok(1, "PostgreSQL on 127.0.0.1:$pg->{port}");

$ENV{ESCORT_DATA} = $dir;
$ENV{ESCORT_STORE} = $url;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};
delete $ENV{ESCORT_SERVER};

sub run { my ($in, @args) = @_; return escort({ stdin => $in }, @args) }
sub count { my ($s) = @_; my ($st, $o) = pg_sql($pg, "SELECT count(*) FROM $s.audit_record"); return $st ? -1 : $o }

# ---- init: the log is created in the database, not in the data directory ----
my ($s, $o, $e) = run(undef, 'init');
ok($s == 0 && $o =~ /initialized/, 'escort init with ESCORT_STORE=postgres://') or print "# $e\n";
ok(!-e "$dir/audit", 'the data directory holds no audit log files');
ok(count('a') >= 2, 'the database holds log.init and a signed tree head (' . count('a') . ' rows)');
($s, $o, $e) = run(undef, 'init', '-d', "$t/other");
ok($s == 1 && $e =~ /already holds an audit log/ && $e =~ /copy signing\.key/ && !-e "$t/other/signing.key",
   'a second init on the same database refuses and says how to add a node') or print "# $s $e\n";

# ---- appends, verify, checkpoint ----
my @seqs;
for my $i (1 .. 6) {
	($s, $o, $e) = run(undef, 'audit', 'append', '--type', 'cmd.exec', '--actor', "op$i",
	    '--details', qq({"cmd":"systemctl restart nginx","n":$i}));
	chomp $o;
	push @seqs, $o if $s == 0;
}
ok(@seqs == 6 && (grep { /^\d+$/ } @seqs) == 6, "6 appends print their seqs (@seqs)");
my ($st, $n) = pg_sql($pg, "SELECT size FROM a.audit_head");
ok($st == 0 && $n == count('a') && $n > $seqs[-1], "the head row counts every row ($n)");
($s, $o, $e) = run(undef, 'audit', 'verify');
ok($s == 0 && $o =~ /^ok: (\d+) records/ && $1 == $n, 'verify: ok') or print "# $s $o $e\n";
($s, $o, $e) = run(undef, 'audit', 'checkpoint');
my $cp = js($o);
ok($s == 0 && $cp && $cp->{size} > 0 && $cp->{root} =~ /^[0-9a-f]{64}$/, 'checkpoint prints the newest signed tree head');
spit("$t/cp.json", $o);
($s, $o, $e) = run(undef, 'audit', 'pubkey');
spit("$t/pub.json", $o);
for my $i (7 .. 9) {
	run(undef, 'audit', 'append', '--type', 'cmd.exec', '--actor', "op$i", '--details', qq({"n":$i}));
}
($s, $o, $e) = run(undef, 'audit', 'verify', '--checkpoint', "$t/cp.json", '--pubkey', "$t/pub.json");
ok($s == 0 && $o =~ /extends the checkpoint/, 'verify --checkpoint: the log extends it') or print "# $e\n";

# ---- proofs, checked with only the public key ----
($s, $o, $e) = run(undef, 'audit', 'prove', $seqs[1], '--from', $cp->{size});
ok($s == 0, 'prove SEQ --from SIZE') or print "# $e\n";
my $proof = $o;
spit("$t/proof.json", $proof);
{
	local $ENV{ESCORT_STORE} = '';
	($s, $o, $e) = run(undef, 'audit', '-d', "$t/nowhere", 'check-proof', '--pubkey', "$t/pub.json",
	    '--checkpoint', "$t/cp.json", "$t/proof.json");
	ok($s == 0 && $o =~ /record $seqs[1] is in/ && $o =~ /extends the checkpoint/,
	   'check-proof with only the public key and checkpoint') or print "# $s $o $e\n";
	my $pj = decode_json($proof);
	my @variants;
	for my $k (0 .. $#{ $pj->{inclusion}{path} }) {
		my $c = decode_json($proof);
		substr($c->{inclusion}{path}[$k], 7, 1) = substr($c->{inclusion}{path}[$k], 7, 1) eq 'a' ? 'b' : 'a';
		push @variants, $c;
	}
	for my $k (0 .. $#{ $pj->{consistency}{path} }) {
		my $c = decode_json($proof);
		substr($c->{consistency}{path}[$k], 0, 1) = substr($c->{consistency}{path}[$k], 0, 1) eq 'f' ? 'e' : 'f';
		push @variants, $c;
	}
	my $c = decode_json($proof);
	$c->{inclusion}{record} =~ s/"actor":"op/"actor":"OP/ or die;
	push @variants, $c;
	my $rejected = 0;
	for my $v (@variants) {
		spit("$t/bad.json", JSON::PP->new->canonical->encode($v));
		($s) = run(undef, 'audit', 'check-proof', '--pubkey', "$t/pub.json", '--checkpoint', "$t/cp.json", "$t/bad.json");
		$rejected++ if $s == 1;
	}
	ok(@variants > 3 && $rejected == @variants, "check-proof rejects every changed proof ($rejected/" . scalar(@variants) . ')');
}

# ---- search, export, rescan ----
($s, $o, $e) = run(undef, 'audit', 'search', '--actor', 'op4');
my @l = split /\n/, $o;
ok($s == 0 && @l == 1 && js($l[0]) && js($l[0])->{actor} eq 'op4' && js($l[0])->{seq} == $seqs[3], 'search --actor') or print "# $s $o $e\n";
($s, $o) = run(undef, 'audit', 'search', '--text', 'SYSTEMCTL RESTART');
@l = split /\n/, $o;
ok(@l == 6, 'search --text (' . scalar(@l) . ')');
($s, $o) = run(undef, 'audit', 'export');
@l = split /\n/, $o;
ok($s == 0 && @l == count('a') && (grep { js($l[$_])->{seq} != $_ } 0 .. $#l) == 0, 'export prints every record in seq order');
{	# --follow prints what is appended later (waiting up to 20 s: the machine may be busy)
	my $pid = fork() // die;
	if ($pid == 0) {
		open(STDOUT, '>', "$t/follow") or die;
		exec { $ENV{ESCORT} // 'build/escort' } 'escort', 'audit', 'export', '--follow' or die;
	}
	for (1 .. 400) { last if -s "$t/follow"; select(undef, undef, undef, 0.05) }
	run(undef, 'audit', 'append', '--type', 'late.event', '--actor', 'late');
	for (1 .. 400) { last if slurp("$t/follow") =~ /late\.event/; select(undef, undef, undef, 0.05) }
	kill 'TERM', $pid;
	waitpid($pid, 0);
	ok(slurp("$t/follow") =~ /"type":"late\.event"/, 'export --follow prints a record appended later');
}
($s, $o, $e) = run(undef, 'audit', 'rescan');
ok($s == 0 && $e =~ /re-analyzed/, 'rescan reads the log') or print "# $s $e\n";

# ---- escortd writes its audit records to the database ----
($s, $o, $e) = run(undef, 'policy', 'load', 'examples/policy.yaml');
ok($s == 0, 'policy load') or print "# $e\n";
($s, $o, $e) = run(undef, 'user', 'token', 'op-in');
chomp(my $tok = $o);
{
	local $ENV{ESCORT_STORE};
	delete $ENV{ESCORT_STORE};
	my ($pid, $surl) = EscortServer::serve_start($dir, "$t/serve.log", '--no-privsep', '--store', $url);
	ok(defined $surl, 'escort serve --store URL starts') or print "# " . slurp("$t/serve.log") . "\n";
	my $id;
	if (defined $surl) {
		my $r = HTTP::Tiny->new(timeout => 10)->post("$surl/api/v1/requests", {
			headers => { Authorization => "Bearer $tok", 'Content-Type' => 'application/json' },
			content => encode_json({ target => 'dod-web', commands => ['uptime'], ticket => 'CHG-72',
			                         justification => 'pg audit' }) });
		my $b = js($r->{content});
		$id = $b ? $b->{id} : undef;
		ok($r->{status} == 201 && $id, "POST /api/v1/requests through escortd: $r->{status}") or print "# $r->{content}\n";
	}
	if ($pid) { kill 'TERM', $pid; waitpid($pid, 0) }
	($st, $o) = pg_sql($pg, "SELECT count(*) FROM a.audit_record WHERE convert_from(rec, 'UTF8') LIKE "
	    . "'%\"actor\":\"op-in\"%\"type\":\"request.created\"}'");
	ok($st == 0 && $o == 1, "the server's request.created record is in PostgreSQL ($o)");
	ok(!-e "$dir/audit", 'and still no audit files in the data directory');
}
($s, $o, $e) = run(undef, 'audit', 'search', '--type', 'request.created', '--actor', 'op-in');
ok($s == 0 && $o =~ /CHG-72/, 'audit search finds it');
($s, $o, $e) = run(undef, 'audit', 'verify');
ok($s == 0 && $o =~ /^ok: /, 'verify after the server: ok') or print "# $s $o $e\n";

# ---- a second node: the same key, copied; a node with another key is refused ----
mkdir "$t/node2", 0700 or die;
copy("$dir/$_", "$t/node2/$_") or die for qw(signing.key signing.pub);
chmod 0600, "$t/node2/signing.key";
($s, $o, $e) = run(undef, 'audit', '-d', "$t/node2", 'append', '--type', 'node.two', '--actor', 'n2');
ok($s == 0 && $o =~ /^\d+$/, 'a second node with the copied key appends to the same log') or print "# $e\n";
($s, $o, $e) = run(undef, 'audit', 'search', '--type', 'node.two');
ok($s == 0 && $o =~ /"actor":"n2"/, 'the first node sees it');
{
	local $ENV{ESCORT_STORE} = schema('keyb');
	($s, $o, $e) = run(undef, 'init', '-d', "$t/keyb");
	ok($s == 0, 'another data directory with its own key (other schema)') or print "# $e\n";
}
my $before = count('a');
($s, $o, $e) = run(undef, 'audit', '-d', "$t/keyb", 'append', '--type', 'x', '--actor', 'intruder');
ok($s == 3 && $e =~ /signed with key [0-9a-f]{16}/ && $e =~ /same key/ && count('a') == $before,
   'a node with another key is refused before it writes') or print "# $s $e\n";

# ---- two processes appending at once interleave ----
# both append (4 threads each) until each has 100 acknowledged appends, so they ran at the
# same time however slowly either one started; then both are killed mid-append
SKIP: {
	ok(-x $STRESS, "$STRESS is built") or last SKIP;
	my @pids;
	for my $p (1, 2) {
		my $pid = fork() // die;
		if ($pid == 0) {
			open(STDOUT, '>', "$t/stress$p") or die;
			open(STDERR, '>', "$t/stress$p.err") or die;
			exec { $STRESS } $STRESS, $dir, 4 or die;
		}
		push @pids, $pid;
	}
	my $lines = sub { return 0 unless -e $_[0]; my $c = () = slurp($_[0]) =~ /\n/g; return $c };
	for (1 .. 600) {
		last if $lines->("$t/stress1") >= 100 && $lines->("$t/stress2") >= 100;
		select(undef, undef, undef, 0.05);
	}
	kill 'KILL', @pids;
	waitpid($_, 0) for @pids;
	my (%seen, @p1, @p2, $dup);
	for my $p (1, 2) {
		for (split /\n/, slurp("$t/stress$p")) {
			my ($q) = split / /;
			$dup++ if $seen{$q}++;
			push @{ $p == 1 ? \@p1 : \@p2 }, $q;
		}
	}
	ok(@p1 >= 100 && @p2 >= 100 && !$dup, 'two processes x 4 threads: ' . (@p1 + @p2) . ' appends, every seq once')
		or print "# " . scalar(@p1) . "/" . scalar(@p2) . " lines, dups " . ($dup // 0)
		. "\n# " . slurp("$t/stress1.err") . slurp("$t/stress2.err") . "\n";
	my ($min1, $max1) = (sort { $a <=> $b } @p1)[0, -1];
	my ($min2, $max2) = (sort { $a <=> $b } @p2)[0, -1];
	ok(@p1 && @p2 && $min1 < $max2 && $min2 < $max1, "their seqs interleave ($min1..$max1, $min2..$max2)");
	($st, $o) = pg_sql($pg, 'SELECT count(*) FROM a.audit_record WHERE seq IN (' . join(',', @p1, @p2) . ')');
	ok($st == 0 && $o == @p1 + @p2, "every acknowledged append is in the database ($o)");
	($s, $o, $e) = run(undef, 'audit', 'verify', '--strict');
	ok($s == 0 && $o =~ /^ok: /, 'verify --strict after two writers were killed mid-append: ok') or print "# $s $o $e\n";
}

# ---- append-only: the triggers refuse changes ----
for my $sql ('UPDATE a.audit_record SET rec = rec WHERE seq = 1', 'DELETE FROM a.audit_record WHERE seq = 1',
             'TRUNCATE a.audit_record', 'UPDATE a.audit_head SET size = 1', 'DELETE FROM a.audit_head') {
	($st, $o) = pg_sql($pg, $sql);
	ok($st != 0 && $o =~ /append-only|only moves forward/, "refused: $sql");
}

# ---- a superuser gets past the triggers: verify names the first bad record ----
# tamper(NAME, SQL) -> verify's (status, stderr) on a fresh log of 12 events in schema NAME
sub tamper {
	my ($name, $sql) = @_;
	my $u = schema($name);
	local $ENV{ESCORT_STORE} = $u;
	system("$STRESS $dir 1 12 >/dev/null") == 0 or die "audit_stress failed";
	my ($vs, $vo, $ve) = run(undef, 'audit', 'verify');
	die "verify before tampering: $ve" if $vs;
	my ($ts, $to) = pg_sql($pg, "SET search_path = $name; BEGIN; ALTER TABLE audit_record DISABLE TRIGGER USER; "
	    . "$sql; ALTER TABLE audit_record ENABLE TRIGGER USER; COMMIT");
	die "tampering failed: $to" if $ts;
	($vs, $vo, $ve) = run(undef, 'audit', 'verify');
	return ($vs, $ve);
}
($s, $e) = tamper('t_update', "UPDATE audit_record SET rec = convert_to(replace(convert_from(rec, 'UTF8'), "
    . "'\"tid\":0', '\"tid\":7'), 'UTF8') WHERE seq = 5");
ok($s == 1 && $e =~ /FAILED at record 5: .*leaf hash/, 'a record changed: exit 1 naming it') or print "# $s $e\n";
($s, $e) = tamper('t_leaf', "UPDATE audit_record SET rec = convert_to(replace(convert_from(rec, 'UTF8'), "
    . "'\"tid\":0', '\"tid\":7'), 'UTF8') WHERE seq = 5; UPDATE audit_record SET leaf = "
    . "sha256('\\x00'::bytea || rec) WHERE seq = 5");
ok($s == 1 && $e =~ /FAILED at record 4: records 4\.\.5 do not match the tree node stored with record 5/,
   'a record changed with its leaf hash: named by the stored tree node above it') or print "# $s $e\n";
($s, $e) = tamper('t_tail', 'DELETE FROM audit_record WHERE seq >= (SELECT max(seq) - 2 FROM audit_record)');
ok($s == 1 && $e =~ /FAILED at record (\d+): .*removed from the end/, 'the tail removed: exit 1') or print "# $s $e\n";
($s, $e) = tamper('t_swap', 'CREATE TEMP TABLE x AS SELECT * FROM audit_record WHERE seq IN (3, 6); '
    . 'UPDATE audit_record r SET rec = x.rec, leaf = x.leaf, nodes = x.nodes FROM x '
    . 'WHERE (r.seq = 3 AND x.seq = 6) OR (r.seq = 6 AND x.seq = 3)');
ok($s == 1 && $e =~ /FAILED at record 3: record carries seq 6/, 'two records swapped: exit 1 naming the first')
	or print "# $s $e\n";
($s, $e) = tamper('t_gap', 'DELETE FROM audit_record WHERE seq = 7');
ok($s == 1 && $e =~ /FAILED at record 7: record 7 is missing/, 'a record removed: exit 1 naming it') or print "# $s $e\n";

# ---- the audit search/rescan suite (31-audit-rescan.t) on this backend ----
# Everything but its check that a data directory without audit files has no log: with
# $ESCORT_STORE the log is in the database, whatever the directory holds.
{
	local $ENV{ESCORT_STORE} = schema('suite31');
	my $out = `"$^X" "$FindBin::Bin/31-audit-rescan.t" 2>&1`;
	my @notok = grep { !/ - no log: exit 3$/ } ($out =~ /^(not ok \d+ - .*)$/mg);
	my $pass = () = $out =~ /^ok \d+/mg;
	my ($plan) = $out =~ /^1\.\.(\d+)$/m;
	ok(defined $plan && $pass >= $plan - 1 && !@notok,
	   "31-audit-rescan.t against PostgreSQL: $pass of " . ($plan // '?') . ' passed')
		or print map { "# $_\n" } @notok;
}

done();

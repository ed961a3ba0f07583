#!/usr/bin/perl
# 30-audit-cli.t — `escort init` and `escort audit` as an operator and an outside auditor
# use them: modes and refusal of init, help and usage errors, append/verify/checkpoint,
# proofs checked with only the public key (and rejected when changed), tampering named by
# seq/segment/offset, a forged log caught by the checkpoint, bad keys and segments.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use JSON::PP;

my $E = $ENV{ESCORT} // 'build/escort';

# run(STDIN, ARGS...): escort with that standard input
sub run { my ($in, @args) = @_; return escort({ stdin => $in }, @args) }

my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
my ($s, $o, $e);

# init
($s, $o, $e) = run(undef, 'init', '-d', $dir);
ok($s == 0 && $o =~ /initialized/, 'init creates the data directory') or print "# $e\n";
ok(((stat $dir)[2] & 07777) == 0700, 'data directory is 0700');
ok(((stat "$dir/signing.key")[2] & 07777) == 0600, 'signing key is 0600');
my $key_before = slurp("$dir/signing.key");
($s, $o, $e) = run(undef, 'init', '-d', $dir);
ok($s == 1 && $e =~ /refusing/, 'a second init refuses (exit 1)');
ok(slurp("$dir/signing.key") eq $key_before, 'and leaves the key untouched');
rename("$dir/signing.key", "$t/key.save") or die;
($s, $o, $e) = run(undef, 'init', '-d', $dir);
ok($s == 1 && $e =~ /already holds an audit log/ && !-e "$dir/signing.key", 'init refuses a new key for an existing log');
rename("$t/key.save", "$dir/signing.key") or die;
symlink("$t/elsewhere", "$t/link") or die;
mkdir "$t/d2";
symlink("$t/target.key", "$t/d2/signing.key") or die;
($s, $o, $e) = run(undef, 'init', '-d', "$t/d2");
ok($s != 0 && !-e "$t/target.key", 'init does not follow a symlink planted as the key');

# help and usage
for my $sub (qw(verify checkpoint prove check-proof pubkey append export search)) {
	($s, $o) = run(undef, 'audit', $sub, '--help');
	ok($s == 0 && $o =~ /usage: escort audit \Q$sub\E/, "audit $sub --help");
}
($s, $o) = run(undef, 'init', '--help');
ok($s == 0 && $o =~ /usage: escort init/, 'init --help');
($s, $o) = run(undef, 'audit', '--help');
ok($s == 0 && $o =~ /check-proof/, 'audit --help lists the commands');
($s, $o, $e) = run(undef, 'audit', 'frob');
ok($s == 2 && $e =~ /frob/, 'unknown audit command: exit 2');
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'verify', '--bogus');
ok($s == 2 && $e =~ /--bogus/, 'unknown option: exit 2');
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'append', '--type', 'x');
ok($s == 2, 'append without --actor: exit 2');
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'append', '--type', 'sth', '--actor', 'a');
ok($s == 2 && $e =~ /sth/, "append refuses the reserved type 'sth'");
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'append', '--type', 'x', '--actor', 'a', '--details', '[1]');
ok($s == 2 && $e =~ /object/, 'append --details must be an object');
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'prove', 'abc');
ok($s == 2, 'prove with a non-number: exit 2');

# appends via -d, --data-dir and ESCORT_DATA_DIR
for my $i (1 .. 6) {
	($s, $o, $e) = run(undef, 'audit', '--data-dir', $dir, 'append', '--type', 'cmd.exec', '--actor', "op$i",
		'--details', qq({"cmd":"systemctl restart nginx","n":$i}));
	ok($s == 0 && $o =~ /^\d+$/, "append $i prints its seq") or print "# $e\n";
}
{
	local $ENV{ESCORT_DATA_DIR} = $dir;
	($s, $o, $e) = run(undef, 'audit', 'append', '--type', 'cmd.exec', '--actor', 'env');
	ok($s == 0, 'ESCORT_DATA_DIR selects the data directory') or print "# $e\n";
	($s, $o, $e) = run(undef, 'audit', 'verify');
	ok($s == 0 && $o =~ /^ok: \d+ records/, 'verify: ok') or print "# $e\n";
}

# checkpoint and public key, kept by the auditor
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'checkpoint');
my $cp = eval { decode_json($o) };
ok($s == 0 && $cp && $cp->{size} > 0 && $cp->{root} =~ /^[0-9a-f]{64}$/ && $cp->{signature}, 'checkpoint prints the signed tree head');
spit("$t/cp.json", $o);
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'pubkey');
my $pk = eval { decode_json($o) };
ok($s == 0 && $pk && $pk->{algorithm} eq 'ed25519' && $pk->{key_id}, 'pubkey exports the public key');
spit("$t/pub.json", $o);

# more activity after the checkpoint
for my $i (7 .. 9) {
	run(undef, 'audit', '-d', $dir, 'append', '--type', 'cmd.exec', '--actor', "op$i", '--details', qq({"n":$i}));
}
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'verify', '--checkpoint', "$t/cp.json", '--pubkey', "$t/pub.json");
ok($s == 0 && $o =~ /extends the checkpoint/, 'verify --checkpoint: the log extends it') or print "# $e\n";

# progress on a terminal only
SKIP: {
	my $script = `command -v script 2>/dev/null`;
	chomp $script;
	last SKIP unless $script;
	my $tty = `$script -qc '$E audit -d $dir verify' /dev/null 2>&1`;
	ok($tty =~ /\rverifying: \d+ records/ && $tty =~ /ok: /, 'verify shows progress on a terminal');
	($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'verify');
	ok($e !~ /verifying:/, 'and none when stderr is not a terminal');
}

# proofs, checked with only the public key
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'prove', '2', '--from', $cp->{size});
ok($s == 0, 'prove SEQ --from SIZE') or print "# $e\n";
my $proof = $o;
spit("$t/proof.json", $proof);
($s, $o, $e) = run(undef, 'audit', '-d', "$t/nowhere", 'check-proof', '--pubkey', "$t/pub.json", '--checkpoint', "$t/cp.json", "$t/proof.json");
ok($s == 0 && $o =~ /record 2 is in/ && $o =~ /extends the checkpoint/, 'check-proof with only the public key and checkpoint') or print "# $e\n";
($s, $o, $e) = run($proof, 'check-proof', '--pubkey', "$t/pub.json", '-');
# (the line above runs "escort check-proof", which does not exist: a usage error)
ok($s == 2, 'check-proof is an audit command');
my $pj = decode_json($proof);
my @variants;
{	# every hex digit of the path, the root and the record changed in turn
	for my $k (0 .. $#{ $pj->{inclusion}{path} }) {
		my $c = decode_json($proof);
		substr($c->{inclusion}{path}[$k], 7, 1) = substr($c->{inclusion}{path}[$k], 7, 1) eq 'a' ? 'b' : 'a';
		push @variants, ["inclusion path entry $k", $c];
	}
	for my $k (0 .. $#{ $pj->{consistency}{path} }) {
		my $c = decode_json($proof);
		substr($c->{consistency}{path}[$k], 0, 1) = substr($c->{consistency}{path}[$k], 0, 1) eq 'f' ? 'e' : 'f';
		push @variants, ["consistency path entry $k", $c];
	}
	my $c = decode_json($proof);
	substr($c->{sth}{root}, 10, 1) = substr($c->{sth}{root}, 10, 1) eq '0' ? '1' : '0';
	push @variants, ['signed root', $c];
	$c = decode_json($proof);
	$c->{inclusion}{record} =~ s/"actor":"op/"actor":"OP/ or die;
	push @variants, ['record text', $c];
	$c = decode_json($proof);
	$c->{inclusion}{seq} = 3;
	push @variants, ['record seq', $c];
	$c = decode_json($proof);
	$c->{sth}{size} += 1;
	push @variants, ['tree size', $c];
	$c = decode_json($proof);
	pop @{ $c->{inclusion}{path} };
	push @variants, ['shortened path', $c];
}
my $rejected = 0;
for my $v (@variants) {
	spit("$t/bad.json", JSON::PP->new->canonical->encode($v->[1]));
	($s, $o, $e) = run(undef, 'audit', 'check-proof', '--pubkey', "$t/pub.json", '--checkpoint', "$t/cp.json", "$t/bad.json");
	if ($s == 1) { $rejected++ } else { print "# accepted a changed $v->[0] (exit $s)\n" }
}
ok($rejected == @variants, "check-proof rejects every changed proof ($rejected/" . scalar(@variants) . ")");
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'prove', '--from', $cp->{size});
spit("$t/c.json", $o);
($s, $o, $e) = run(undef, 'audit', 'check-proof', '--pubkey', "$t/pub.json", "$t/c.json");
ok($s == 2 && $e =~ /checkpoint/, 'a consistency proof needs the checkpoint');
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'prove', '100000');
ok($s == 1 && $e =~ /not covered/, 'prove a record beyond the signed tree: exit 1');

# tampering: one byte in the middle of a record, named by seq, segment and offset
my $seg = "$dir/audit/seg/00000000000000000000.seg";
my $orig = slurp($seg);
my $pos = index($orig, '"actor":"op4"');
my $bad = $orig;
substr($bad, $pos + 10, 1) = '5';
spit($seg, $bad);
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'verify');
ok($s == 1 && scalar($e =~ /FAILED at record \d+, \S+00000000000000000000\.seg offset \d+: checksum/),
	'a changed byte: exit 1 naming the record, segment and offset') or print "# $e\n";
spit($seg, $orig);
($s) = run(undef, 'audit', '-d', $dir, 'verify', '-q');
ok($s == 0, 'restored: verify passes again');

# a complete forgery: another key, a self-consistent log in place of the real one
my $fdir = "$t/forged";
run(undef, 'init', '-d', $fdir);
for my $i (1 .. 15) {
	run(undef, 'audit', '-d', $fdir, 'append', '--type', 'cmd.exec', '--actor', 'nobody', '--details', qq({"n":$i}));
}
($s) = run(undef, 'audit', '-d', $fdir, 'verify', '-q');
ok($s == 0, 'the forgery is self-consistent');
($s, $o, $e) = run(undef, 'audit', '-d', $fdir, 'verify', '--checkpoint', "$t/cp.json");
ok($s == 1 && $e =~ /checkpoint/, 'forgery: the saved checkpoint does not verify with its key');
($s, $o, $e) = run(undef, 'audit', '-d', $fdir, 'verify', '--pubkey', "$t/pub.json", '--checkpoint', "$t/cp.json");
ok($s == 1 && $e =~ /signature/, 'forgery: its tree heads fail with the real public key');

# search and export
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'search', '--actor', 'op4');
my @l = split /\n/, $o;
ok($s == 0 && @l == 1 && decode_json($l[0])->{actor} eq 'op4', 'search --actor');
($s, $o) = run(undef, 'audit', '-d', $dir, 'search', '--type', 'cmd.exec', '--where', 'n=7');
@l = split /\n/, $o;
ok(@l == 1 && decode_json($l[0])->{details}{n} == 7, 'search --type --where');
($s, $o) = run(undef, 'audit', '-d', $dir, 'search', '--text', 'SYSTEMCTL RESTART');
@l = split /\n/, $o;
ok(@l == 6, 'search --text is case-insensitive (' . scalar(@l) . ')');
($s, $o) = run(undef, 'audit', '-d', $dir, 'search', '--since', '2000-01-01', '--until', '2000-01-02');
ok($s == 0 && $o eq '', 'search by time range');
($s, $o) = run(undef, 'audit', '-d', $dir, 'search', '--type', 'sth', '--limit', '2');
@l = split /\n/, $o;
ok(@l == 2, 'search --limit');
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'search', '--where', 'novalue');
ok($s == 2, 'search --where without = is a usage error');
($s, $o) = run(undef, 'audit', '-d', $dir, 'export', '--format', 'syslog');
@l = split /\n/, $o;
ok($s == 0 && @l > 10 && $l[0] =~ /^<\d+>1 \S+Z \S+ escort - log\.init \[escort\@32473 seq="0" actor="escort" leaf="[0-9a-f]{64}"\] \{/, 'export --format syslog (RFC 5424)');
($s, $o) = run(undef, 'audit', '-d', $dir, 'export', '--format', 'cef');
@l = split /\n/, $o;
ok($s == 0 && $l[0] =~ /^CEF:0\|escort\|escort\|[^|]+\|log\.init\|log\.init\|\d+\|rt=\d+ cs1Label=seq cs1=0 cs2Label=leaf cs2=[0-9a-f]{64} suser=escort msg=/, 'export --format cef');
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'export', '--format', 'xml');
ok($s == 2 && $e =~ /xml/, 'export: unknown format is a usage error');
{	# --follow prints what is appended later
	my $pid = open(my $fh, '-|', $E, 'audit', '-d', $dir, 'export', '--follow') or die;
	sleep 1;
	run(undef, 'audit', '-d', $dir, 'append', '--type', 'late.event', '--actor', 'late');
	sleep 1;
	kill 'TERM', $pid;
	local $/;
	my $out = <$fh>;
	close $fh;
	ok($out =~ /"type":"late\.event"/, 'export --follow prints a record appended later');
}

# bad input: unreadable key, corrupt key, corrupt segment header, no log
chmod 0644, "$dir/signing.key";
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'append', '--type', 'x', '--actor', 'a');
ok($s == 3 && $e =~ /signing\.key.*chmod 600/, 'a key readable by others is refused, naming the file');
chmod 0600, "$dir/signing.key";
my $k = slurp("$dir/signing.key");
spit("$dir/signing.key", "garbage\n");
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'append', '--type', 'x', '--actor', 'a');
ok($s == 3 && $e =~ /signing\.key: not an escort audit signing key/, 'a corrupt key: clear error');
spit("$dir/signing.key", $k);
$orig = slurp($seg);
$bad = $orig;
substr($bad, 0, 8) = 'NOTASEG!';
spit($seg, $bad);
($s, $o, $e) = run(undef, 'audit', '-d', $dir, 'verify');
ok($s == 1 && $e =~ /\.seg offset 0: bad segment header/, 'a corrupt segment header: exit 1 naming the file') or print "# $e\n";
spit($seg, $orig);
($s, $o, $e) = run(undef, 'audit', '-d', "$t/none", 'checkpoint');
ok($s == 3 && $e =~ /\Q$t\/none\E/, 'no data directory: exit 3 naming it');
($s) = run(undef, 'audit', '-d', $dir, 'verify', '-q');
ok($s == 0, 'the real log still verifies');

done();

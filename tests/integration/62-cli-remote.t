#!/usr/bin/perl
# 62-cli-remote.t — the CLI's remote mode (issue 7): `escort --server URL` against a real
# `escort serve` on a free loopback port: create -> list -> show -> approve (another
# identity) -> run over HTTP with bearer tokens, the exit codes for refused / not found /
# conflict / usage, `request show` byte-identical to the local mode, policy explain, audit
# verify / checkpoint / search / prove (checked offline with check-proof), and TLS with a
# self-signed certificate that is verified (refused without --cacert).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Digest::SHA qw(hmac_sha1);

my $E = $ENV{ESCORT} // 'build/escort';
my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{$_} for qw(ESCORT_DATA_DIR ESCORT_TOKEN ESCORT_SERVER ESCORT_CACERT ESCORT_TOTP);

my $help = `"$E" serve --help 2>&1`;
if ($? != 0 || $help !~ /--listen/) {
	print "1..0 # SKIP escort serve is not built in\n";
	exit 0;
}

my %srv;    # name -> pid
END { for (values %srv) { kill 'TERM', $_; waitpid($_, 0) } }

# serve(NAME, ARGS...): starts escort serve, returns the URL from its "listening on" line.
sub serve {
	my ($name, @args) = @_;
	my $err = "$t/$name.err";
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', "$t/$name.out");
		open(STDERR, '>', $err);
		exec { $E } $E, 'serve', '--data', $dir, '--listen', '127.0.0.1:0', '--no-privsep', @args or die "exec: $!";
	}
	$srv{$name} = $pid;
	my $until = time + 20;
	while (time < $until) {
		my $e = -f $err ? slurp($err) : '';
		return $1 if $e =~ m{listening on (https?://\S+)};
		if (waitpid($pid, WNOHANG) == $pid) {
			delete $srv{$name};
			print "# $name exited: $e\n";
			return;
		}
		sleep 0.05;
	}
	print "# $name: no 'listening on' line\n";
	return;
}

my ($s, $o, $e);
($s, $o, $e) = escort({}, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = escort({}, 'policy', 'load', 'examples/policy.yaml');
die "policy load: $e" if $s;
my %tok;
for my $u (qw(op-in op-cn esc-1 aud-1)) {
	($s, $o, $e) = escort({}, 'user', 'token', $u);
	chomp $o;
	die "token $u: $e" if $s;
	$tok{$u} = $o;
}

# totp(BASE32): the RFC 6238 code now (SHA-1, 30 s, 6 digits)
sub totp {
	my ($b32) = @_;
	$b32 =~ s/=+$//;
	my $bits = join '', map { sprintf '%05b', index('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', $_) } split //, $b32;
	my $key = pack 'B*', substr($bits, 0, length($bits) - length($bits) % 8);
	my $h = hmac_sha1(pack('NN', 0, int(time() / 30)), $key);
	my $o = ord(substr($h, -1)) & 15;
	return sprintf '%06d', (unpack('N', substr($h, $o, 4)) & 0x7fffffff) % 1000000;
}

my $url = serve('plain');
ok(defined $url && $url =~ m{^http://127\.0\.0\.1:\d+$}, "escort serve listens on a free loopback port ($url)")
    or do { done() };

# remote(WHO, ARGS...): escort --server URL ... as WHO; local(WHO, ARGS...): the same locally
sub remote { my ($who, @a) = @_; return escort({ token => $who ? $tok{$who} : undef }, '--server', $url, @a) }
sub local_ { my ($who, @a) = @_; return escort({ token => $who ? $tok{$who} : undef }, @a) }

# create -> list -> show
($s, $o, $e) = remote('op-in', 'request', 'create', '--target', 'dod-web', '--ticket', 'CHG-7',
    '--justification', 'remote mode', '--', 'echo', 'remote-$((6*7))');
ok($s == 0 && $o =~ /^request (\d+) created: pending \(approvals: .+\)$/, 'create over --server: exit 0, pending')
    or print "# $s $o $e\n";
my ($id) = $o =~ /^request (\d+)/;
$id //= 0;
($s, $o, $e) = remote('op-in', 'request', 'list');
ok($s == 0 && $o =~ /^ID\s+STATE\s+REQUESTER/ && $o =~ /^$id\s+pending\s+op-in\s+dod-web\s+\S+\s+echo remote-\$\(\(6\*7\)\)$/m,
    'list over --server: the table with the new request and its command') or print "# $s $o $e\n";
my ($ls, $lo) = local_('op-in', 'request', 'list');
ok($s == 0 && $o eq $lo, 'list: the same table as the local mode') or print "# remote:\n$o# local:\n$lo";
($s, $o, $e) = remote('esc-1', 'request', 'show', $id);
my ($ls2, $lo2, $le2) = local_('esc-1', 'request', 'show', $id);
ok($s == 0 && $ls2 == 0 && $o =~ /^request $id  pending\n/ && $o =~ /decision when created:/,
    'show over --server: exit 0 with the rendered request') or print "# $s $o $e\n";
ok($o eq $lo2, 'show: byte-identical to the local mode') or print "# remote:\n$o# local:\n$lo2";
($s, $o, $e) = remote('esc-1', 'request', 'show', '--json', $id);
my $j = js($o);
ok($s == 0 && $j && $j->{id} == $id && $j->{state} eq 'pending' && $j->{commands}[0]{text} eq 'echo remote-$((6*7))',
    'show --json: the API request object') or print "# $s $o $e\n";

# refusals and errors map to the local exit codes
($s, $o, $e) = remote('op-in', 'request', 'approve', $id);
ok($s == 3 && $e =~ /^escort request: refused: /, 'approving one\'s own request: exit 3, "refused:"') or print "# $s $e\n";
($s, $o, $e) = remote('op-in', 'request', 'run', $id);
ok($s == 5, 'running a pending request: exit 5 (conflict)') or print "# $s $e\n";
($s, $o, $e) = remote('esc-1', 'request', 'show', '999999');
ok($s == 4, 'show of a request that does not exist: exit 4') or print "# $s $e\n";
($s, $o, $e) = remote(undef, 'request', 'list');
ok($s == 3, 'no token: exit 3') or print "# $s $e\n";
{
	local $tok{'nobody'} = 'esc_' . ('A' x 43);
	($s, $o, $e) = remote('nobody', 'request', 'list');
	ok($s == 3, 'an unknown token: exit 3') or print "# $s $e\n";
}
($s, $o, $e) = remote('esc-1', 'request', 'deny', $id);
ok($s == 2 && $e =~ /comment/, 'deny without --comment: usage error before any request (exit 2)');
($s, $o, $e) = remote('op-cn', 'request', 'create', '--target', 'dod-web', '--', 'uptime');
ok($s == 3 && $o =~ /^request \d+ created: denied$/ && $e =~ /refused: .*dod-deny-adversary-locations/,
    'a creation the policy denies: stored as denied, the reason on stderr, exit 3') or print "# $s $o $e\n";

# approve by another identity, then run
($s, $o, $e) = remote('esc-1', 'request', 'approve', $id, '--comment', 'ok over http');
ok($s == 0 && $o eq "request $id approved by you; now: approved\n", 'esc-1 approves over --server: approved')
    or print "# $s $o $e\n";
($s, $o, $e) = remote('esc-1', 'request', 'approve', $id);
ok($s == 5 || $s == 3, 'approving again: refused or conflict') or print "# $s $e\n";
($s, $o, $e) = remote('op-in', 'request', 'run', $id);
ok($s == 0 && $o eq "remote-42\n" && $e =~ /request $id succeeded/, 'run over --server: the output, exit 0')
    or print "# $s $o $e\n";
($s, $o, $e) = remote('op-in', 'request', 'run', $id);
ok($s == 5, 'a second run: exit 5') or print "# $s $e\n";
($s, $o, $e) = remote('aud-1', 'request', 'show', $id);
($ls2, $lo2) = local_('aud-1', 'request', 'show', $id);
ok($s == 0 && $o =~ /\nrun by op-in at \S+, exit status 0\noutput \(sha256 [0-9a-f]{64}\):\nremote-42\n/,
    'show after the run: runner, exit status, output hash and output') or print "# $o\n";
ok($o eq $lo2, 'show after approval and run: byte-identical to the local mode') or print "# remote:\n$o# local:\n$lo2";

# cancel and deny
($s, $o, $e) = remote('op-in', 'request', 'create', '--json', '--target', 'dod-web', '--', 'df', '-h');
my $id2 = (js($o) // {})->{id} // 0;
($s, $o, $e) = remote('esc-1', 'request', 'cancel', $id2);
ok($s == 3, 'cancelling someone else\'s request: exit 3') or print "# $s $e\n";
($s, $o, $e) = remote('esc-1', 'request', 'deny', $id2, '--comment', 'not today');
ok($s == 0 && $o eq "request $id2 denied by you; now: denied\n", 'deny with a comment over --server') or print "# $s $o $e\n";
($s, $o, $e) = remote('op-in', 'request', 'cancel', $id2);
ok($s == 5, 'cancelling a denied request: exit 5') or print "# $s $e\n";

# exact bytes: a script that is not UTF-8 travels as base64 and is shown escaped, as locally
spit("$t/bytes.sh", "echo caf\xe9 \xe2\x80\xae\n");
($s, $o, $e) = remote('op-in', 'request', 'create', '--json', '--target', 'dod-web', '--file', "$t/bytes.sh");
my $id3 = (js($o) // {})->{id} // 0;
ok($s == 0 && $id3 > 0, 'create --file with invalid UTF-8 over --server') or print "# $s $e\n";
($s, $o, $e) = remote('esc-1', 'request', 'show', $id3);
($ls2, $lo2) = local_('esc-1', 'request', 'show', $id3);
ok($s == 0 && $o =~ /\(14 bytes\)/ && $o =~ /\\xe9/ && $o eq $lo2, 'the stored bytes are exact; show is identical to the local mode')
    or print "# remote:\n$o# local:\n$lo2";

# a critical request: the server wants a comment and a fresh TOTP code ($ESCORT_TOTP)
($s, $o, $e) = remote('esc-1', 'request', 'approve', $id3, '--comment', 'looked at the bytes');
ok($s == 3 && $e =~ /refused: .*totp/i, 'approving a critical request without a TOTP code: exit 3, the reason') or print "# $s $e\n";
($s, $o, $e) = escort({}, 'user', 'totp', 'esc-1', '--json');
my $secret = (js($o) // {})->{secret} // '';
ok($s == 0 && $secret =~ /^[A-Z2-7]+=*$/, 'esc-1 enrolled for TOTP') or print "# $s $o $e\n";
($s, $o, $e) = escort({ token => $tok{'esc-1'}, env => { ESCORT_TOTP => totp($secret) } }, '--server', $url,
    'request', 'approve', $id3, '--comment', 'looked at the bytes');
ok($s == 0 && $o eq "request $id3 approved by you; now: pending (approvals: " . ($o =~ /\(approvals: (.*)\)$/ ? $1 : 'x') . ")\n",
    'with $ESCORT_TOTP the approval is recorded') or print "# $s $o $e\n";

# $ESCORT_SERVER does the same; --server '' forces the local mode
($s, $o, $e) = escort({ token => $tok{'esc-1'}, env => { ESCORT_SERVER => $url } }, 'request', 'show', $id2);
ok($s == 0 && $o =~ /^request $id2  denied/, '$ESCORT_SERVER selects the remote mode') or print "# $s $e\n";
($s, $o, $e) = escort({ token => $tok{'esc-1'}, env => { ESCORT_SERVER => 'http://127.0.0.1:1' } },
    '--server', '', 'request', 'show', $id2);
ok($s == 0 && $o =~ /^request $id2  denied/, "--server '' overrides \$ESCORT_SERVER (local mode)") or print "# $s $e\n";
($s, $o, $e) = escort({ token => $tok{'esc-1'} }, '--server', 'http://127.0.0.1:1', 'request', 'list');
ok($s == 1 && $e =~ /127\.0\.0\.1/, 'an unreachable server: exit 1 with the reason') or print "# $s $e\n";
($s, $o, $e) = escort({ token => $tok{'esc-1'} }, '--server', 'http://192.0.2.1:8443', 'request', 'list');
ok($s == 2 && $e =~ /https/, 'plain http to a non-loopback address is refused before sending the token') or print "# $s $e\n";
($s, $o, $e) = escort({ token => $tok{'esc-1'} }, '--server', 'http://127.0.0.1.example.invalid:8443', 'request', 'list');
ok($s == 2 && $e =~ /https/, 'a host name that merely starts with 127.0.0.1 is not loopback') or print "# $s $e\n";

# policy explain
($s, $o, $e) = remote('op-in', 'policy', 'explain', '--operator', 'op-in', '--target', 'dod-web', '--', 'history', '-c');
my ($pls, $plo) = local_(undef, 'policy', 'explain', '--operator', 'op-in', '--target', 'dod-web', '--', 'history', '-c');
# the first line names the policy (URL vs file); reasons name the policy file the server
# loaded (a versioned copy of current.yaml), so file names are set aside
my $norm = sub { my ($x) = @_; $x =~ s/\A[^\n]*\n//; $x =~ s{\((\S+/)?[^/\s]+\.yaml:(\d+)\)}{(POLICY:$2)}g; return $x };
ok($s == 0 && $o =~ /^policy: \Q$url\E\/api\/v1\/policy \(version [0-9a-f]{12}\)\n/ && $o =~ /^decision: deny/m
    && $norm->($o) eq $norm->($plo),
    'policy explain over --server: the local explanation (target environment, analysis, decision, reasons)')
    or print "# remote:\n$o$e# local:\n$plo";

# audit
($s, $o, $e) = remote('aud-1', 'audit', 'verify');
ok($s == 0 && $o =~ /^ok: \d+ records, \d+ signed tree heads; newest covers \d+ records, root [0-9a-f-]+/,
    'audit verify over --server') or print "# $s $o $e\n";
($s, $o, $e) = remote('op-in', 'audit', 'verify');
ok($s == 3, 'an operator may not read the audit log: exit 3') or print "# $s $e\n";
($s, $o, $e) = remote('aud-1', 'audit', 'search', '--request', $id);
my ($as, $ao) = local_(undef, 'audit', 'search');
my %all = map { $_ => 1 } split /\n/, $ao;
my @lines = split /\n/, $o;
ok($s == 0 && @lines >= 4 && !grep({ !$all{$_} } @lines) && !grep({ !/"request":$id\b/ } @lines),
    'audit search --request over --server: the records byte for byte as stored') or print "# $s $e\n$o";
($s, $o, $e) = remote('aud-1', 'audit', 'search', '--category', 'x');
ok($s == 2, 'a search option the API lacks: usage error') or print "# $s $e\n";
($s, $o, $e) = remote('aud-1', 'audit', 'checkpoint');
my $cp = js($o);
ok($s == 0 && $cp && $cp->{size} > 0 && $cp->{signature}, 'audit checkpoint over --server') or print "# $s $o $e\n";
spit("$t/cp.json", $o);
($s, $o, $e) = remote('aud-1', 'audit', 'prove', '1');
spit("$t/proof.json", $o);
my ($cs, $co, $ce) = local_(undef, 'audit', 'check-proof', '--pubkey', "$dir/signing.pub", "$t/proof.json");
ok($s == 0 && $cs == 0 && $co =~ /^ok: record 1 is in the signed log/, 'audit prove over --server; check-proof holds offline')
    or print "# $s $e | $cs $co $ce\n";
# the log grows (a new request), then: record 2 is in it and it extends the saved checkpoint
remote('op-in', 'request', 'create', '--target', 'dod-web', '--', 'uptime');
($s, $o, $e) = remote('aud-1', 'audit', 'prove', '2', '--from', $cp->{size});
spit("$t/proof2.json", $o);
($cs, $co, $ce) = local_(undef, 'audit', 'check-proof', '--pubkey', "$dir/signing.pub", '--checkpoint', "$t/cp.json", "$t/proof2.json");
ok($s == 0 && $cs == 0 && $co =~ /^ok: record 2 is in the signed log/m && $co =~ /extends the checkpoint of $cp->{size} records/,
    'audit prove SEQ --from SIZE over --server: both proofs hold against the saved checkpoint') or print "# $s $e | $cs $co $ce\n";
($s, $o, $e) = remote('aud-1', 'audit', 'pubkey');
my ($ps, $po) = local_(undef, 'audit', 'pubkey');
ok($s == 0 && $o eq $po && $o =~ /"public_key"/, 'audit pubkey over --server: what the local mode prints') or print "# $s $o $e | $po\n";
($s, $o, $e) = remote('aud-1', 'audit', 'prove', '99999999');
ok($s == 4 || $s == 1, 'a proof for a record beyond the log: refused') or print "# $s $e\n";

# TLS with the trial certificate: verified by default, trusted with --cacert
mkdir "$t/tls";
($s, $o, $e) = escort({}, 'serve', '--make-cert', "$t/tls");
my $turl = $s == 0 ? serve('tls', '--tls-cert', "$t/tls/cert.pem", '--tls-key', "$t/tls/key.pem") : undef;
ok(defined $turl && $turl =~ m{^https://}, 'escort serve with the self-signed trial certificate') or print "# $s $e\n";
if ($turl) {
	($s, $o, $e) = escort({ token => $tok{'esc-1'} }, '--server', $turl, 'request', 'list');
	ok($s == 1 && $e =~ /certificate/i, 'https without --cacert: the self-signed certificate is refused') or print "# $s $e\n";
	($s, $o, $e) = escort({ token => $tok{'esc-1'} }, '--server', $turl, '--cacert', "$t/tls/cert.pem", 'request', 'show', $id);
	ok($s == 0 && $o =~ /^request $id  succeeded/, 'https with --cacert: verified and served') or print "# $s $e\n";
}
done();

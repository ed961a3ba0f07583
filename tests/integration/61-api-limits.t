#!/usr/bin/perl
# 61-api-limits.t — escortd's limits with small settings: --max-body (413 before and while
# reading), --rate (429 with Retry-After, per identity), --per-ip (a connection over the
# limit is closed unanswered), oversize headers refused, a policy reloaded by the CLI is
# picked up by the running server, and bad --listen values refused before listening.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use EscortServer qw(serve_start data_setup);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use POSIX qw(:sys_wait_h);

# the server closes a connection after a 413 while the test still writes to it: that is an
# EPIPE to check, not a signal that ends the test
$SIG{PIPE} = 'IGNORE';
use Time::HiRes qw(time sleep);

sub check($$) { return ok($_[0], $_[1]) }

my $E = $ENV{ESCORT} // 'build/escort';
my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};

my %tok = data_setup($dir, qw(op-in aud-1));
my ($tok, $aud) = @tok{qw(op-in aud-1)};
my ($s, $o, $e);

my $log = "$t/serve.err";
my ($pid, $url) = serve_start($dir, $log, '--max-body', '200', '--rate', '2', '--per-ip', '3');
check(defined $url, 'serve with small limits starts') or do { print '# ', slurp($log); done() };
my ($port) = $url =~ /:(\d+)$/;
my $api = "$url/api/v1";
my $h = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
sub post {
	my ($path, $body, $token) = @_;
	my $r = $h->request('POST', "$api$path", { content => $body,
	    headers => { 'Content-Type' => 'application/json', Authorization => "Bearer " . ($token // $tok) } });
	return ($r->{status}, js($r->{content}) // {}, $r);
}

my ($st, $j) = post('/analyze', encode_json({ command => 'x' x 300 }));
check($st == 413 && $j->{error}{code} eq 'too_large', '--max-body: 413 from Content-Length');
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5);
print $sock "POST /api/v1/analyze HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $tok\r\n" .
    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
print $sock sprintf("%x\r\n%s\r\n", 150, 'y' x 150) for 1 .. 3;
print $sock "0\r\n\r\n";
my $resp = '';
my $sel = IO::Select->new($sock);
my $deadline = time() + 5;
while (time() < $deadline) {
	next unless $sel->can_read(0.2);
	my $n = sysread($sock, my $b, 65536);
	last unless $n;
	$resp .= $b;
}
close $sock;
check(scalar($resp =~ m{^HTTP/1\.1 413}), '--max-body: 413 for a chunked body that grows too big')
    or print "# $resp\n";

sleep 1.1; # refill
my @codes;
for (1 .. 16) {
	my $r = $h->request('GET', "$api/whoami", { headers => { Authorization => "Bearer $tok" } });
	push @codes, $r->{status};
	if ($r->{status} == 429) {
		check(($r->{headers}{'retry-after'} // '') eq '1', '429 carries Retry-After');
		last;
	}
}
check(scalar(grep { $_ == 200 } @codes) >= 5 && $codes[-1] == 429,
    "--rate 2: a burst of 10 then 429 (@codes)");
my $r = $h->request('GET', "$api/whoami", { headers => { Authorization => "Bearer $aud" } });
check($r->{status} == 200, 'another identity is not limited');

# --per-ip 3: three idle connections, the fourth is closed without an answer
my @keep = map { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) } 1 .. 3;
sleep 1; # the server must have accepted all three (a loaded machine is slow to) before the fourth
my $fourth = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5);
my $got = '';
if ($fourth) {
	print $fourth "GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n";
	my $s4 = IO::Select->new($fourth);
	if ($s4->can_read(3)) {
		sysread($fourth, $got, 4096);
	}
}
check($got eq '', '--per-ip 3: a fourth connection from one address is refused');
close $_ for grep { $_ } @keep, $fourth;
sleep 0.3;

# oversize headers
my $big = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5);
print $big "GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\nX-Big: " . ('z' x 100000) . "\r\n\r\n";
my $bresp = '';
my $sb = IO::Select->new($big);
$deadline = time() + 5;
while (time() < $deadline) {
	next unless $sb->can_read(0.2);
	my $n = sysread($big, my $b, 65536);
	last unless $n;
	$bresp .= $b;
}
check($bresp eq '' || $bresp =~ m{^HTTP/1\.1 4\d\d}, 'oversize headers are refused (4xx or closed)')
    or print "# $bresp\n";
check($bresp !~ m{^HTTP/1\.1 2}, 'oversize headers never reach the API');
close $big;

# a policy reloaded by the CLI is in force in the running server
my $pol = slurp('examples/policy.yaml');
$pol =~ s/name: dod-deny-adversary-locations/name: dod-deny-adversary-locations-v2/ or die;
spit("$t/p2.yaml", $pol);
($s, $o, $e) = escort({ token => undef }, 'policy', 'load', "$t/p2.yaml");
check($s == 0, 'the owner reloads the policy with the CLI');
sleep 1.1;
$r = $h->request('GET', "$api/policy", { headers => { Authorization => "Bearer $aud" } });
check($r->{status} == 200 && (js($r->{content}) // {})->{version} == 2,
    'the server serves the reloaded policy (version 2)');

kill 'TERM', $pid;
waitpid($pid, 0);
check($? == 0, 'clean stop');

for my $bad ('127.0.0.1', '127.0.0.1:http', '[::1', 'nosuchhost.invalid:0') {
	($s, $o, $e) = escort({ token => undef }, 'serve', '--data', $dir, '--no-privsep', '--listen', $bad);
	check($s != 0 && $e =~ /listen/, "--listen $bad is refused") or print "# $s $e\n";
}
($s, $o, $e) = escort({ token => undef }, 'serve', '--data', $dir, '--no-privsep', '--listen', '127.0.0.1:0',
    '--tls-cert', '/nonexistent');
check($s == 2 && $e =~ /together/, '--tls-cert without --tls-key is refused');
($s, $o, $e) = escort({ token => undef }, 'serve', '--data', "$t/none", '--listen', '127.0.0.1:0');
check($s != 0 && $e =~ /escort init|no store/, 'a missing data directory is refused before listening');

done();

#!/usr/bin/perl
# 32-audit-siem.t — `escort audit export --to` as a SIEM forwarder: RFC 5424 syslog to a
# loopback UDP listener, a TCP listener (RFC 6587 octet counting), a Unix datagram and a
# Unix stream socket, --follow streaming later records, and every received record's seq
# and leaf hash checked against the record bytes and against `escort audit prove`.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SOCK_DGRAM SOCK_STREAM);
use Digest::SHA qw(sha256_hex);
use JSON::PP;

my $E = $ENV{ESCORT} // 'build/escort';
my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
my ($s, $o, $e) = escort({}, 'init', '-d', $dir);
die "init: $e" if $s;
# an actor and details that need RFC 5424 SD escaping and CEF escaping
for my $i (1 .. 5) {
	escort({}, 'audit', '-d', $dir, 'append', '--type', 'cmd.exec', '--actor', qq(op"$i]),
	    '--details', qq({"cmd":"rm -rf /tmp/x$i | tee a=b","n":$i}));
}
($s, $o) = escort({}, 'audit', '-d', $dir, 'export');
my @log = split /\n/, $o;
my $nrec = @log;
ok($s == 0 && $nrec >= 6, "the log has $nrec records");

# check(MSG): a syslog message's header, seq and leaf hash against the log's record
sub check_msg {
	my ($m) = @_;
	return 'no RFC 5424 header' unless $m =~ /^<(\d+)>1 \S+Z \S+ escort - (\S+) \[escort\@32473 seq="(\d+)" actor="((?:[^"\\]|\\.)*)" leaf="([0-9a-f]{64})"\] (.*)\z/s;
	my ($seq, $leaf, $body) = ($3, $5, $6);
	return "seq $seq is not in the log" unless defined $log[$seq];
	return "record $seq differs from the log" unless $body eq $log[$seq];
	return "leaf of $seq is not SHA-256(0x00 || record)" unless sha256_hex("\0" . $body) eq $leaf;
	return "seq field differs from the record's" unless decode_json($body)->{seq} == $seq;
	return '';
}

sub check_all {
	my ($name, @msgs) = @_;
	my @bad = grep { $_ } map { check_msg($_) } @msgs;
	my @seqs = map { /seq="(\d+)"/ ? $1 : -1 } @msgs;
	ok(@msgs == $nrec && !@bad && join(',', @seqs) eq join(',', 0 .. $nrec - 1),
	    "$name: every record arrives once, in order, seq and leaf hash match the log",
	    join("\n", scalar(@msgs) . " messages", @bad));
}

# UDP: one message per datagram, no line ending
{
	my $u = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp')
	    or die "udp: $!";
	my $port = $u->sockport;
	($s, $o, $e) = escort({}, 'audit', '-d', $dir, 'export', '--format', 'syslog', '--to',
	    "udp:127.0.0.1:$port");
	ok($s == 0 && $o eq '', 'export --to udp: exit 0, nothing on stdout') or print "# $e\n";
	my (@m, $d);
	my $sel = IO::Select->new($u);
	while ($sel->can_read(1)) {
		$u->recv($d, 65536);
		push @m, $d;
	}
	check_all('udp', @m);
	ok(!grep({ /\n\z/ } @m), 'udp: datagrams carry no line ending');
}

# TCP: octet-counting frames "LEN SP MSG"
sub read_frames {
	my ($data) = @_;
	my @m;
	while ($data =~ s/\A([1-9][0-9]*) //) {
		my $n = $1;
		last if length($data) < $n;
		push @m, substr($data, 0, $n, '');
	}
	return (\@m, $data);
}
{
	my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
	    Listen => 5, ReuseAddr => 1) or die "tcp: $!";
	my $port = $l->sockport;
	my $pid = fork // die;
	if ($pid == 0) {
		exec $E, 'audit', '-d', $dir, 'export', '--format', 'syslog', '--to',
		    "tcp:127.0.0.1:$port" or exit 99;
	}
	my $c = $l->accept;
	my $data = '';
	my $sel = IO::Select->new($c);
	while ($sel->can_read(5)) {
		my $r = sysread($c, $data, 65536, length $data);
		last unless $r;
	}
	waitpid($pid, 0);
	ok($? == 0, 'export --to tcp: exit 0');
	my ($m, $rest) = read_frames($data);
	ok($rest eq '', 'tcp: the stream is whole octet-counted frames', "left: " . substr($rest, 0, 80));
	check_all('tcp', @$m);

	# --follow streams records appended later over the same connection
	$pid = fork // die;
	if ($pid == 0) {
		exec $E, 'audit', '-d', $dir, 'export', '--follow', '--format', 'syslog', '--to',
		    "tcp:127.0.0.1:$port" or exit 99;
	}
	$c = $l->accept;
	$sel = IO::Select->new($c);
	$data = '';
	my $deadline = time + 10;
	my $appended = 0;
	my @got;
	while (time < $deadline) {
		if ($sel->can_read(0.5)) {
			my $r = sysread($c, $data, 65536, length $data);
			last unless $r;
		}
		($m, $rest) = read_frames($data);
		@got = @$m;
		if (!$appended && @got >= $nrec) {
			escort({}, 'audit', '-d', $dir, 'append', '--type', 'late.event', '--actor', 'late');
			$appended = 1;
		}
		last if grep { /late\.event/ } @got;
	}
	kill 'TERM', $pid;
	waitpid($pid, 0);
	($s, $o) = escort({}, 'audit', '-d', $dir, 'export');
	@log = split /\n/, $o;
	$nrec = @log;
	my @late = grep { /late\.event/ } @got;
	ok(@late == 1 && check_msg($late[0]) eq '', 'tcp --follow: a record appended later arrives, '
	    . 'its leaf hash matching the log', scalar(@got) . " frames");
	check_all('tcp --follow', @got);
}

# Unix datagram socket (like /dev/log)
{
	my $path = "$t/log.sock";
	my $u = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path) or die "unix: $!";
	# read while it sends: a Unix datagram queue holds only a few messages and the
	# sender waits for room (like a busy /dev/log)
	my $pid = fork // die;
	if ($pid == 0) {
		exec $E, 'audit', '-d', $dir, 'export', '--format', 'syslog', '--to',
		    "unix:$path" or exit 99;
	}
	my (@m, $d);
	my $sel = IO::Select->new($u);
	while ($sel->can_read(1)) {
		$u->recv($d, 262144);
		push @m, $d;
	}
	waitpid($pid, 0);
	ok($? == 0, 'export --to unix: exit 0');
	check_all('unix', @m);

	# the SIEM copy checked against a proof: the record in `prove` is the one received
	my ($msg) = grep { /seq="2"/ } @m;
	($s, $o, $e) = escort({}, 'audit', '-d', $dir, 'prove', '2');
	my $p = $s == 0 ? decode_json($o) : {};
	my ($leaf) = ($msg // '') =~ /leaf="([0-9a-f]{64})"/;
	ok($s == 0 && defined $leaf && sha256_hex("\0" . $p->{inclusion}{record}) eq $leaf,
	    'the leaf hash received for seq 2 is that of the record `escort audit prove 2` proves', $e);
	my $pf = "$t/proof.json";
	spit($pf, $o);
	($s, $o, $e) = escort({}, 'audit', '-d', $dir, 'check-proof', $pf);
	ok($s == 0, 'and that proof checks');
}

# a Unix stream socket (some syslog daemons listen so): octet-counted like TCP
{
	my $path = "$t/stream.sock";
	my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => 1)
	    or die "unix stream: $!";
	my $pid = fork // die;
	if ($pid == 0) {
		exec $E, 'audit', '-d', $dir, 'export', '--format', 'syslog', '--to', "unix:$path"
		    or exit 99;
	}
	my $c = $l->accept;
	my $data = '';
	my $sel = IO::Select->new($c);
	while ($sel->can_read(5)) {
		my $r = sysread($c, $data, 65536, length $data);
		last unless $r;
	}
	waitpid($pid, 0);
	my ($m, $rest) = read_frames($data);
	ok($? == 0 && $rest eq '', 'export --to a Unix stream socket: exit 0, whole frames');
	check_all('unix stream', @$m);
}

# CEF and jsonl carry seq and leaf too
($s, $o) = escort({}, 'audit', '-d', $dir, 'export', '--format', 'cef');
my @cef = split /\n/, $o;
my @badcef = grep { my ($q, $l) = $cef[$_] =~ /cs1=(\d+) cs2Label=leaf cs2=([0-9a-f]{64})/;
	!defined $q || $q != $_ || $l ne sha256_hex("\0" . $log[$_]) } 0 .. $#cef;
ok(@cef == $nrec && !@badcef, 'cef: every line carries seq (cs1) and the leaf hash (cs2)',
    "bad: @badcef");
my @badj = grep { decode_json($log[$_])->{seq} != $_ } 0 .. $#log;
ok(!@badj, 'jsonl: every line is the record as stored, with its seq (leaf = SHA-256(0x00 || line))');

# errors
($s, $o, $e) = escort({}, 'audit', '-d', $dir, 'export', '--to', 'ftp:x');
ok($s == 2 && $e =~ /unix:\/PATH/, 'a bad --to is a usage error naming the forms');
($s, $o, $e) = escort({}, 'audit', '-d', $dir, 'export', '--to', 'udp:127.0.0.1');
ok($s == 2 && $e =~ /no port/, '--to without a port: usage error');
{
	my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
	    Listen => 1, ReuseAddr => 1) or die;
	my $port = $l->sockport;
	close $l;
	($s, $o, $e) = escort({}, 'audit', '-d', $dir, 'export', '--to', "tcp:127.0.0.1:$port");
	ok($s == 3 && $e =~ /refused/i, 'no TCP receiver: exit 3, the error named') or print "# $e\n";
}
($s, $o, $e) = escort({}, 'audit', '-d', $dir, 'export', '--to', "unix:$t/nosuch.sock");
ok($s == 3 && $e =~ /nosuch\.sock/, 'no Unix socket: exit 3');
($s, $o, $e) = escort({}, 'audit', '-d', $dir, 'search', '--to', "unix:$t/x");
ok($s == 2, '--to is an export option');

done();

# EscortServer.pm — servers the integration tests start: a throwaway OpenSSH server
# (tests/integration/lib/sshd.sh, stopped when the test ends), escortd on a free loopback
# port, and a data directory with the example policy and tokens for it to serve.
package EscortServer;
use strict;
use warnings;
use Exporter 'import';
use File::Temp (); # before our END: a test's temporary directories outlive its sshd
use Time::HiRes qw(sleep);
use EscortTest ();

our @EXPORT_OK = qw(sshd_start serve_start data_setup);

my @sshd; # directories of the servers sshd_start started

END { system('sh', 'tests/integration/lib/sshd.sh', 'stop', $_) for grep { -d } @sshd }

# sshd_start(DIR) -> {dir, port, fingerprint, user}: starts sshd in DIR (to be created);
# the whole test is skipped when sshd is not installed.
sub sshd_start {
	my ($sd) = @_;
	$ENV{SSHD_OWNER} = $$; # a crashed test leaves no server behind
	system('sh', 'tests/integration/lib/sshd.sh', 'start', $sd);
	if (($? >> 8) == 77) { print "1..0 # SKIP no /usr/sbin/sshd (scripts/deps test installs openssh-server)\n"; exit 0 }
	die "sshd did not start\n" if $?;
	push @sshd, $sd;
	my %s = (dir => $sd);
	for my $k (qw(port fingerprint user)) {
		chomp($s{$k} = EscortTest::slurp("$sd/$k"));
	}
	return \%s;
}

# data_setup(DIR, IDENTITY...) -> (IDENTITY => TOKEN, ...): `escort init` of DIR, the
# example policy loaded, and a token for each identity; dies on a failure.
sub data_setup {
	my ($dir, @who) = @_;
	my ($s, $o, $e) = EscortTest::escort({ token => undef }, 'init', '--data', $dir);
	die "init: $e" if $s;
	($s, $o, $e) = EscortTest::escort({ token => undef }, 'policy', 'load', 'examples/policy.yaml');
	die "policy: $e" if $s;
	my %tok;
	for my $who (@who) {
		($s, $o, $e) = EscortTest::escort({ token => undef }, 'user', 'token', $who);
		chomp $o;
		$tok{$who} = $o;
	}
	return %tok;
}

# serve_start(DATA, LOG, ARGS...) -> (PID, URL): `escort serve --data DATA --listen
# 127.0.0.1:0 ARGS...` with its standard error in LOG; URL is what it says it listens on,
# undef when that did not come within 10 s.
sub serve_start {
	my ($dir, $log, @args) = @_;
	my $E = $ENV{ESCORT} // 'build/escort';
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDERR, '>', $log) or die;
		exec { $E } $E, 'serve', '--data', $dir, '--listen', '127.0.0.1:0', '--no-privsep',
		    @args or die;
	}
	my $url;
	for (1 .. 200) {
		last if -f $log && EscortTest::slurp($log) =~ m{listening on (\S+)} && ($url = $1);
		sleep 0.05;
	}
	return ($pid, $url);
}

1;

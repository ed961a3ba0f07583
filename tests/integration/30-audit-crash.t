#!/usr/bin/perl
# 30-audit-crash.t — crash safety of the audit log: build/tools/audit_stress appends from
# several threads and prints each acknowledged seq; it is killed with SIGKILL at random
# points 50 times. After each kill `escort audit verify` must pass and every acknowledged
# append must be in the log with its content. Every fifth time a torn final record is
# added as a crash mid-write would leave it: verify must report the recovery, not accept
# it silently.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use Time::HiRes qw(usleep);
use JSON::PP;
use POSIX ();

my $E = $ENV{ESCORT} // 'build/escort';
my $B = $ENV{BUILD} // 'build';
my $S = "$B/tools/audit_stress";
unless (-x $S) { print "1..0 # SKIP $S not built\n"; exit 0; }


sub run { return escort({}, @_) }

my $d = tempdir(CLEANUP => 1);
my $dir = "$d/data";
my ($s, $o, $e) = run('init', '-d', $dir);
ok($s == 0, 'init') or print "# $e\n";

# verify while a writer is busy: read-only, nothing torn or unsigned counts against it
{
	my $pid = fork() // die;
	if ($pid == 0) {
		open STDOUT, '>', '/dev/null';
		open STDERR, '>', '/dev/null';
		exec $S, $dir, 4 or POSIX::_exit(127);
	}
	usleep(300_000);
	my $live_ok = 1;
	for (1 .. 3) {
		($s, $o, $e) = run('audit', '-d', $dir, 'verify');
		$live_ok = 0 unless $s == 0 && $o =~ /^ok: /;
		print "# live verify: exit $s: $e\n" unless $s == 0;
	}
	kill 'KILL', $pid;
	waitpid($pid, 0);
	ok($live_ok, 'verify passes (read-only) while a writer appends under load');
}

srand($ENV{SEED} // time);
my %acked;    # seq -> "tid i"
my $kills = 0;
my $torn_reported = 0;
my $torn_made = 0;
my ($all_present, $verify_ok) = (1, 1);
for my $round (1 .. 50) {
	pipe(my $rd, my $wr) or die;
	my $pid = fork() // die;
	if ($pid == 0) {
		close $rd;
		POSIX::dup2(fileno($wr), 1);
		open STDERR, '>', '/dev/null';
		exec $S, $dir, 4 or POSIX::_exit(127);
	}
	close $wr;
	usleep(30_000 + int(rand(170_000)));
	kill 'KILL', $pid;
	waitpid($pid, 0);
	$kills++ if ($? & 127) == 9;
	my $got = 0;
	while (my $line = <$rd>) {
		next unless $line =~ /^(\d+) (\d+) (\d+)\n\z/; # a line cut by the kill was not read
		$acked{$1} = "$2 $3";
		$got++;
	}
	close $rd;
	if ($round % 5 == 0) {
		# a torn final record: a frame header promising more bytes than follow
		opendir(my $dh, "$dir/audit/seg") or die;
		my @segs = sort grep { /\.seg$/ } readdir $dh;
		closedir $dh;
		open my $fh, '>>', "$dir/audit/seg/$segs[-1]" or die;
		binmode $fh;
		print $fh pack('V', 300) . ("\x01" x 8) . '{"actor":"tor';
		close $fh;
		$torn_made++;
	}
	($s, $o, $e) = run('audit', '-d', $dir, 'verify', '-q');
	$torn_reported++ if $round % 5 == 0 && $e =~ /recovery: .*torn/;
	if ($s != 0) {
		$verify_ok = 0;
		print "# round $round: verify exit $s: $e\n";
	}
	print "# round $round: $got acknowledged\n" if $ENV{VERBOSE};
}
ok($kills == 50, "the appender was killed with SIGKILL 50 times ($kills)");
ok($verify_ok, 'verify passed after every kill');
ok($torn_reported == $torn_made, "every torn final record was reported as recovered ($torn_reported/$torn_made)");
ok(scalar(keys %acked) > 500, scalar(keys %acked) . ' appends were acknowledged in all');

# every acknowledged append is present, at its seq, with its content
($s, $o, $e) = run('audit', '-d', $dir, 'export');
ok($s == 0, 'export') or print "# $e\n";
my @recs = split /\n/, $o;
my $missing = 0;
for my $seq (sort { $a <=> $b } keys %acked) {
	my ($tid, $i) = split / /, $acked{$seq};
	my $j = $seq < @recs ? eval { decode_json($recs[$seq]) } : undef;
	unless ($j && $j->{seq} == $seq && $j->{type} eq 'stress.event'
		&& $j->{details}{tid} == $tid && $j->{details}{i} == $i) {
		$missing++;
		print "# acknowledged seq $seq ($tid $i) is not in the log\n" if $missing < 5;
	}
}
ok($missing == 0, "every acknowledged append is in the log ($missing missing)");
my @torn = glob("$dir/audit/torn-*.bin");
ok(@torn >= $torn_made, 'the removed torn bytes were kept for inspection');
($s, $o, $e) = run('audit', '-d', $dir, 'verify');
ok($s == 0 && $o =~ /^ok: (\d+) records/ && $1 == @recs, 'final verify covers every record');

done();

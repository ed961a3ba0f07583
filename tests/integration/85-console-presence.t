#!/usr/bin/perl
# 85-console-presence.t — the console's live session page and presence checks: an
# operator's dod session (the example policy demands a TOTP presence check) is started from
# the CLI against the data directory the real `escort serve` uses; its first line waits
# because no escort counts yet. In chromium (tests/browser/presence.js) the escort's page
# shows the prompt, refuses a wrong code and resumes the session with the right one. The
# operator's terminal must say the same.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../browser";
use Cwd qw(abs_path);
use Encode qw(encode_utf8);
use File::Basename qw(dirname);
use IO::Select;
use IPC::Open3;
use Symbol qw(gensym);
use Time::HiRes qw(sleep time);
use EscortTest;
use ConsoleTest;

$| = 1;
my $ROOT = abs_path("$FindBin::Bin/../..");
my $E = abs_path($ENV{ESCORT} // "$ROOT/build/escort");
my $fx = console_start();
my $F = js(slurp($fx));
my $dir = dirname($fx) . '/data'; # ConsoleTest keeps the data directory next to the fixture
ok(-d $dir, 'the console\'s data directory is known') or do { console_stop(); done() };

# the operator: `escort session start` with its stdin a pipe
my ($in, $out, $err) = (undef, undef, gensym);
my $pid = do {
	local $ENV{ESCORT_TOKEN} = $F->{tokens}{'op-in'};
	local $ENV{ESCORT_DATA} = $dir;
	local $ENV{ESCORT_RULES} = $ENV{ESCORT_RULES} // "$ROOT/rules";
	open3($in, $out, $err, $E, 'session', 'start', '--target', 'dod-web');
};
$in->autoflush(1);
my ($obuf, $ebuf) = ('', '');
sub until_out {
	my ($re, $secs) = @_;
	my $sel = IO::Select->new($out, $err);
	my $end = time + ($secs // 8);
	while (time < $end) {
		return 1 if ($obuf . $ebuf) =~ $re;
		for my $fh ($sel->can_read(0.1)) {
			my $n = sysread($fh, my $b, 65536);
			if (!$n) { $sel->remove($fh); next }
			if ($fh == $out) { $obuf .= $b } else { $ebuf .= $b }
		}
	}
	return ($obuf . $ebuf) =~ $re;
}
ok(until_out(qr/session \d+ on dod-web/, 10), 'the operator opens a dod session') or print "# $ebuf\n";
my ($id) = $ebuf =~ /session (\d+) on/;
print {$in} "id -un\n";
ok(until_out(qr/session paused: the policy requires 1 escort present; 0 are/), 'its first line waits: no escort counts')
	or print "# $ebuf\n";

{
	local $ENV{ESCORT_FIXTURE} = $fx;
	local $ENV{ESCORT_SESSION_ID} = $id // '';
	local $ENV{NODE_PATH} = "$ROOT/tests/browser/node_modules";
	my $t0 = time;
	open(my $r, '-|', 'node', "$ROOT/tests/browser/presence.js") or die "node: $!";
	my $n = 0;
	while (my $line = <$r>) {
		chomp $line;
		my $j = js($line);
		if ($j && exists $j->{ok}) {
			$n++;
			ok($j->{ok}, encode_utf8($j->{name})) or print map { "# $_\n" } split /\n/, encode_utf8($j->{diag} // '');
		} else {
			print "# $line\n";
		}
	}
	close $r;
	ok($n > 0 && $? == 0, sprintf('browser presence scenario ran (%d checks, %.1f s)', $n, time - $t0));
}

ok(until_out(qr/session resumed: escorts present: esc-1/), 'the operator\'s terminal shows the session resumed')
	or print "# $ebuf\n";
ok(until_out(qr/line 1 waits for approval/), '... and the line waiting for its approval');
my ($s, $o, $e) = escort({ token => $F->{tokens}{'esc-1'}, env => { ESCORT_DATA => $dir } }, 'session', 'kill', $id);
ok(!!($s == 0 && until_out(qr/killed by an escort/)), 'the kill switch ends it') or print "# $s $e\n";
close $in;
waitpid($pid, 0);
console_stop();
done();

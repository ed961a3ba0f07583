#!/usr/bin/perl
# 64-console-session.t — the console's live session page: an operator's session is started
# from the CLI in a tmux pane (as 80-session.t does) against the data directory the real
# `escort serve` uses; its first line waits for an escort. In chromium
# (tests/browser/session.js) the escort sees the waiting line highlighted and explained,
# approves it and its output appears live; the operator's view is redacted and has no
# buttons; the kill switch ends the session; the replay page plays the recording. The
# pane must show the same. Through the API: full vs redacted event streams, another
# operator gets 404, the recording is refused to the operator.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../browser";
use Cwd qw(abs_path);
use Encode qw(encode_utf8);
use File::Basename qw(dirname);
use HTTP::Tiny;
use Time::HiRes qw(sleep time);
use EscortTest;
use ConsoleTest;

if (system('tmux -V >/dev/null 2>&1') != 0) {
	print "1..0 # SKIP tmux is not installed\n";
	exit 0;
}
my $ROOT = abs_path("$FindBin::Bin/../..");
my $E = abs_path($ENV{ESCORT} // "$ROOT/build/escort");
my $fx = console_start();
my $F = js(slurp($fx));
# ConsoleTest keeps the server's data directory next to the fixture file
my $dir = dirname($fx) . '/data';
ok(-d $dir, 'the console\'s data directory is known') or do { console_stop(); done() };

my $sock = "escort-t64-$$";
my @T = ('tmux', '-L', $sock, '-f', '/dev/null');
END { system(@T, 'kill-server') if defined $sock; }
sub shq { my ($v) = @_; $v =~ s/'/'\\''/g; return "'$v'" }
sub pane { return scalar `@T capture-pane -p -J -S -300 -t op` }
sub wait_for {
	my ($re, $secs) = @_;
	my $end = time + ($secs // 5);
	while (time < $end) {
		my $p = pane();
		return $p if $p =~ $re;
		sleep 0.05;
	}
	return undef;
}

my $cmd = join(' ', 'env', "ESCORT_TOKEN=$F->{tokens}{'op-in'}", "ESCORT_DATA=$dir",
               'ESCORT_RULES=' . ($ENV{ESCORT_RULES} // "$ROOT/rules"),
               map { shq($_) } $E, 'session', 'start', '--target', 'com-web', '--ticket', 'CHG-64');
system(@T, 'new-session', '-d', '-x', '160', '-y', '50', '-s', 'op', "$cmd; sleep 60") == 0 or die 'tmux';
my $p = wait_for(qr/escort\[\d+\] com-web\$ /, 10);
ok(!!$p, 'the operator has a session prompt in the tmux pane') or print "# " . pane();
my ($id) = ($p // '') =~ /session (\d+) on/;
# line 1 runs at once (no risk) and prints an AWS access key id (the line itself does not
# hold it): the operator's views get it redacted, escorts' in full
system(@T, 'send-keys', '-t', 'op', '-l', q{printf 'AKIA%s\n' IOSFODNN7EXAMPLE});
system(@T, 'send-keys', '-t', 'op', 'Enter');
$p = wait_for(qr/IOSFODNN7EXAMPLE\n(?:.*\n)*?escort\[\d+\] com-web\$ /);
ok(!!($p && $p !~ /AKIAIOSFODNN7EXAMPLE/), 'line 1 ran at once; the operator\'s terminal shows the key redacted') or print "# " . pane();
# a medium-risk line: it waits for an escort in the commercial policy
system(@T, 'send-keys', '-t', 'op', '-l', 'curl -sk --max-time 1 https://127.0.0.1:9/ ; echo approved-ran');
system(@T, 'send-keys', '-t', 'op', 'Enter');
$p = wait_for(qr/line 2 waits for approval/);
ok(!!($id && $p), 'line 2 waits for an escort') or print "# " . pane();

# the API: who sees what
sub get {
	my ($who, $path) = @_;
	my $r = HTTP::Tiny->new(timeout => 10)->get("$F->{url}/api/v1$path",
		{ headers => { Authorization => "Bearer $F->{tokens}{$who}" } });
	return ($r->{status}, $r->{content} // '');
}
{
	my ($st, $body) = get('esc-1', "/sessions/$id/events");
	ok($st == 200 && $body =~ /^event: output\ndata: .*AKIAIOSFODNN7EXAMPLE/m && $body =~ /^id: \d+$/m,
	   'events: an escort gets the full output as server-sent events with byte-offset ids') or print "# $st $body\n";
	($st, $body) = get('op-in', "/sessions/$id/events");
	ok($st == 200 && $body =~ /^event: output\n/m && $body !~ /AKIAIOSFODNN7EXAMPLE/ && $body =~ /REDACTED:aws-access-key/ && $body =~ /"redacted":true/,
	   'events: the session\'s operator gets the output redacted') or print "# $st $body\n";
	($st) = get('op-cn', "/sessions/$id");
	my ($st2) = get('op-cn', "/sessions/$id/events");
	ok($st == 404 && $st2 == 404, 'another operator does not see the session (404)') or print "# $st $st2\n";
	($st) = get('op-in', "/sessions/$id/recording");
	($st2, $body) = get('esc-1', "/sessions/$id/recording");
	ok($st == 403 && $st2 == 200 && $body =~ /^\{"version": ?2/ && $body =~ /AKIAIOSFODNN7EXAMPLE/,
	   'the recording (full output) is for escorts, not the operator (403)') or print "# $st $st2\n";
	($st, $body) = get('esc-1', "/sessions/$id");
	my $j = js($body) // {};
	my @l = @{ $j->{lines} // [] };
	ok($st == 200 && @l == 2 && $l[1]{request}{state} eq 'pending' && $l[1]{request}{commands}[0]{analysis}{risk} eq 'medium',
	   'the session detail lists its lines as requests with their analysis and state') or print "# $st $body\n";
}

{
	local $ENV{ESCORT_FIXTURE} = $fx;
	local $ENV{ESCORT_SESSION_ID} = $id // '';
	local $ENV{ESCORT_SESSION_LINE} = 2;
	local $ENV{NODE_PATH} = "$ROOT/tests/browser/node_modules";
	my $t0 = time;
	open(my $r, '-|', 'node', "$ROOT/tests/browser/session.js") or die "node: $!";
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
	ok($n > 0 && $? == 0, sprintf('browser session scenario ran (%d checks, %.1f s)', $n, time - $t0));
}

$p = pane();
ok($p =~ /^approved-ran$/m && $p =~ /line 2 approved by esc-1/, 'the operator\'s pane shows the approval and the output') or print "# $p";
$p = wait_for(qr/killed by an escort/, 5);
ok(!!$p, 'the operator\'s pane shows the kill') or print "# " . pane();
console_stop();
done();

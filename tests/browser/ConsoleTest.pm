# ConsoleTest.pm — what the console's TAP wrappers (tests/integration/65..69-*.t) share:
# skip only when node or chromium is truly absent, install playwright-core from the
# committed lock file when missing, start the real `escort serve` on a free loopback port
# over a fresh data directory with the example policy, tokens and TOTP secrets, run
# tests/browser/run.js and turn its JSON result lines into TAP checks.
package ConsoleTest;
use strict;
use warnings;
use Exporter 'import';
use Cwd qw(abs_path);
use Encode qw(encode_utf8);
use Fcntl qw(:flock);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use FindBin;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use lib "$FindBin::Bin/../lib";
use EscortTest;

our @EXPORT = qw(console_start console_run console_stop);

my $ROOT = abs_path("$FindBin::Bin/../..");
my $BROWSER = "$ROOT/tests/browser";
my $server_pid;
my $server_log;

sub which {
	my ($p) = @_;
	for my $d (split /:/, $ENV{PATH} // '') {
		return "$d/$p" if -x "$d/$p";
	}
	return undef;
}

sub skip_all {
	print "1..0 # SKIP $_[0]\n";
	exit 0;
}

# playwright-core from the committed package-lock.json, once, under a lock so two
# tests never install at the same time.
sub ensure_playwright {
	return 1 if -f "$BROWSER/node_modules/playwright-core/package.json";
	my $build = $ENV{BUILD} // "$ROOT/build";
	make_path($build);
	open(my $lk, '>', "$build/.npm-browser.lock") or die "lock: $!";
	flock($lk, LOCK_EX) or die "flock: $!";
	my $rc = 0;
	unless (-f "$BROWSER/node_modules/playwright-core/package.json") {
		my $out = `cd '$BROWSER' && npm ci --no-audit --no-fund --loglevel=error 2>&1`;
		$rc = $?;
		print map { "# npm: $_\n" } split /\n/, $out if $rc;
	}
	close $lk;
	return ok($rc == 0 && -f "$BROWSER/node_modules/playwright-core/package.json",
		'playwright-core installed from package-lock.json');
}

sub token {
	my ($dir, $name) = @_;
	my ($s, $o, $e) = escort({}, 'user', 'token', $name, '-d', $dir, '--json');
	my $j = js($o);
	die "escort user token $name: $e" unless $s == 0 && $j && $j->{token};
	return $j->{token};
}

# The TOTP secret of NAME from `escort user totp`, whatever its output form (JSON with a
# secret or an otpauth URI, or the plain base32 secret).
sub totp_secret {
	my ($dir, $name) = @_;
	my ($s, $o, $e) = escort({}, 'user', 'totp', $name, '-d', $dir, '--json');
	($s, $o, $e) = escort({}, 'user', 'totp', $name, '-d', $dir) if $s != 0;
	return undef if $s != 0;
	my $j = js($o);
	if ($j) {
		return $j->{secret} if $j->{secret};
		$o = $j->{uri} // '';
	}
	return $1 if $o =~ /secret=([A-Z2-7]+)/i;
	return $1 if $o =~ /\b([A-Z2-7]{16,})\b/;
	return undef;
}

# console_start() -> fixture path. Prints "1..0 # SKIP" and exits when node or chromium
# is absent; otherwise every failure to start is a failed check.
sub console_start {
	my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';
	skip_all("chromium not installed ($chromium)") unless -x $chromium;
	skip_all('node not installed') unless which('node');
	skip_all('npm not installed') unless -f "$BROWSER/node_modules/playwright-core/package.json" || which('npm');
	ensure_playwright() or done();

	my $t = tempdir('escort-console-XXXXXX', TMPDIR => 1, CLEANUP => 1);
	my $dir = "$t/data";
	my ($s, $o, $e) = escort({}, 'init', '-d', $dir);
	ok($s == 0, 'escort init') or print "# $e\n";
	($s, $o, $e) = escort({}, 'policy', 'load', "$ROOT/examples/policy.yaml", '-d', $dir);
	ok($s == 0, 'escort policy load examples/policy.yaml') or print "# $e\n";
	my (%tok, %sec);
	for my $n (qw(op-in op-cn esc-1 esc-2 rev-1 aud-1 adm-1)) {
		$tok{$n} = token($dir, $n);
	}
	for my $n (qw(esc-1 esc-2 rev-1 aud-1 adm-1)) {
		my $x = totp_secret($dir, $n);
		$sec{$n} = $x if $x;
	}
	ok($sec{'esc-1'}, 'escort user totp enrolls esc-1') or done();

	$server_log = "$t/serve.log";
	my $bin = $ENV{ESCORT} // "$ROOT/build/escort";
	$server_pid = fork();
	die "fork: $!" unless defined $server_pid;
	if ($server_pid == 0) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', "$t/serve.out");
		open(STDERR, '>', $server_log);
		no warnings 'exec';
		exec { $bin } $bin, 'serve', '--data', $dir, '--listen', '127.0.0.1:0', '--no-privsep',
		    '--web', "$ROOT/web";
		print STDERR "exec $bin: $!\n";
		POSIX::_exit(127); # not exit: the parent's END blocks and temporary files are not ours
	}
	my $url;
	my $until = time + 15;
	while (time < $until) {
		if (open(my $fh, '<', $server_log)) {
			local $/;
			my $l = <$fh> // '';
			close $fh;
			if ($l =~ m{listening on (http://127\.0\.0\.1:\d+)}) {
				$url = $1;
				last;
			}
		}
		last if waitpid($server_pid, WNOHANG) == $server_pid;
		sleep 0.05;
	}
	unless (ok(defined $url, 'escort serve listens on a free loopback port')) {
		print map { "# serve: $_\n" } split /\n/, (-f $server_log ? slurp($server_log) : '');
		console_stop(1);
		done();
	}
	my $build = $ENV{BUILD} // "$ROOT/build";
	my $fx = {
		url => $url, tokens => \%tok, totp_secrets => \%sec, artifacts => "$build/artifacts/console",
	};
	spit("$t/fixture.json", encode_json($fx));
	return "$t/fixture.json";
}

# console_run(FIXTURE, SCENARIO...): runs the scenarios in chromium; one TAP check per result.
sub console_run {
	my ($fx, @names) = @_;
	local $ENV{ESCORT_FIXTURE} = $fx;
	local $ENV{NODE_PATH} = "$BROWSER/node_modules";
	my $t0 = time;
	open(my $r, '-|', 'node', "$BROWSER/run.js", @names) or die "node: $!";
	my $n = 0;
	while (my $line = <$r>) {
		chomp $line;
		my $j = js($line);
		if ($j && exists $j->{ok}) {
			$n++;
			my $name = encode_utf8($j->{name});
			$name .= ' # SKIP ' . encode_utf8($j->{skip}) if defined $j->{skip};
			ok($j->{ok}, $name) or print map { "# $_\n" } split /\n/, encode_utf8($j->{diag} // '');
		} else {
			print "# $line\n";
		}
	}
	close $r;
	my $st = $?;
	ok($n > 0 && $st == 0, sprintf('browser scenarios %s ran (%d checks, %.1f s)', join(',', @names), $n, time - $t0))
		or print "# node exit status " . ($st >> 8) . "\n";
}

# console_stop(QUIET): SIGTERM, then a clean exit within 10 s is checked.
sub console_stop {
	my ($quiet) = @_;
	return unless $server_pid;
	kill 'TERM', $server_pid;
	my $until = time + 10;
	my $done = 0;
	while (time < $until) {
		if (waitpid($server_pid, WNOHANG) == $server_pid) {
			$done = 1;
			last;
		}
		sleep 0.05;
	}
	my $st = $?;
	unless ($done) {
		kill 'KILL', $server_pid;
		waitpid($server_pid, 0);
	}
	$server_pid = undef;
	return if $quiet;
	ok($done && $st == 0, 'escort serve stops cleanly on SIGTERM')
		or print map { "# serve: $_\n" } split /\n/, slurp($server_log);
}

END {
	local $?;
	if ($server_pid) {
		kill 'KILL', $server_pid;
		waitpid($server_pid, 0);
	}
}

1;

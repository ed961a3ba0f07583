# bench/run.pl — the body of `make bench` (started by bench/run from the repo root).
# Measures lockbox on one core over the tldr corpus, side by side with tree-sitter-bash
# (parse only) and shellcheck, then peak RSS on 1 MiB worst-case inputs, and prints
# every target with PASS/MISS. A missing comparison tool prints "n/a (reason)".
use strict;
use warnings;
use utf8;
use File::Basename qw(dirname);
use File::Spec;
use File::Path qw(make_path remove_tree);
use POSIX qw(_exit);
use Time::HiRes qw(time);

require(File::Spec->rel2abs(dirname(__FILE__)) . '/common.pl');
our ($ROOT, $ESCORT, $RULES, $BUILD, $CORPUS, $WORK, $BWORK);

my $PASSES = $ENV{BENCH_PASSES} // 5;          # timed passes over the corpus (plus 1 warm-up)
my $SC_SAMPLE = $ENV{BENCH_SC_SAMPLE} // 500;  # shellcheck sample size
my $TS_VERSION = $ENV{TS_BASH_VERSION} // '0.20.5';
my $WORST_TIMEOUT = $ENV{BENCH_WORST_TIMEOUT} // 120;
my $MIB = 1024 * 1024;

# targets
my $T_TS_RATIO = 2;
my $T_SC_RATIO = 100;
my $T_P99_US = 50;
my $T_RSS_KB = 32 * 1024;

bench_env();
binmode(STDOUT, ':encoding(UTF-8)');
my $have_taskset = system('sh', '-c', 'command -v taskset >/dev/null 2>&1') == 0;
my @PIN = $have_taskset ? ('taskset', '-c', '0') : ();
my $have_time = -x '/usr/bin/time';

# Runs argv with stdin/stdout/stderr redirected to files; returns {rc, wall, rss_kb}.
# Wall time is taken here; peak RSS and CPU time come from GNU time when present.
sub run_cmd {
	my (%o) = @_;
	my @argv = @{ $o{argv} };
	my $tf = "$BWORK/.time.$$";
	unlink $tf;
	@argv = ('/usr/bin/time', '-f', '%M %U %S %x', '-o', $tf, @argv) if $have_time;
	my $t0 = time();
	my $pid = fork();
	die "fork: $!\n" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', $o{stdin} // '/dev/null') or _exit(127);
		open(STDOUT, '>', $o{stdout} // '/dev/null') or _exit(127);
		open(STDERR, '>', $o{stderr} // '/dev/null') or _exit(127);
		{ exec { $argv[0] } @argv; }
		_exit(127);
	}
	waitpid($pid, 0);
	my %r = (rc => $? >> 8, sig => $? & 127, wall => time() - $t0);
	if ($have_time && open(my $fh, '<', $tf)) {
		local $/;
		my $t = <$fh>;
		close $fh;
		# GNU time prints "Command exited with non-zero status N" first when N != 0
		if ($t =~ /(\d+) ([\d.]+) ([\d.]+) (\d+)\s*$/) {
			$r{rss_kb} = $1;
			$r{cpu} = $2 + $3;
		}
	}
	unlink $tf;
	return \%r;
}

# Throughput of one process run, by wall time and (when known) by CPU time.
sub rates {
	my ($r, $n, $bytes) = @_;
	my %h = (wall_s => $r->{wall}, rps => $n / $r->{wall}, mbps => $bytes / 1e6 / $r->{wall});
	if ($r->{cpu}) {
		$h{cpu_s} = $r->{cpu};
		$h{cpu_rps} = $n / $r->{cpu};
		$h{cpu_mbps} = $bytes / 1e6 / $r->{cpu};
	}
	return %h;
}

sub first_line {
	my ($path) = @_;
	open(my $fh, '<', $path) or return '';
	my $l = <$fh> // '';
	close $fh;
	chomp $l;
	return length($l) > 120 ? substr($l, 0, 117) . '...' : $l;
}

sub slurp {
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or return '';
	local $/;
	my $d = <$fh>;
	close $fh;
	return $d // '';
}

# "k=v k=v" -> hash
sub parse_kv {
	my ($s) = @_;
	my %h;
	$h{$1} = $2 while $s =~ /(\w+)=(\S+)/g;
	return \%h;
}

my @notes;

# ---------------------------------------------------------------- the corpus
my $rows = tldr_rows();
unless ($rows) {
	print "bench: tldr corpus not found at $CORPUS/tldr.tsv (set CORPUS=DIR); nothing to measure\n";
	exit 0;
}
my $lines_file = "$BWORK/tldr.lines";
write_file($lines_file, join('', map { "$_->[1]\n" } @$rows));
my $nrec = scalar @$rows;
my $nbytes = 0;
$nbytes += length($_->[1]) for @$rows;

# ---------------------------------------------------------------- escort, in-process
my %res;    # tool => {rps, mbps, p50, p99, max, rss_kb, records, note}
my $lb_bench = "$BUILD/tools/lb_bench";
if (-x $lb_bench) {
	my $out = "$BWORK/lb_bench.out";
	my $r = run_cmd(argv => [ @PIN, $lb_bench, '--rules', $RULES, '--passes', $PASSES, $lines_file ],
	    stdout => $out, stderr => "$out.err");
	if ($r->{rc} == 0 && !$r->{sig}) {
		my $kv = parse_kv(slurp($out));
		$res{lb} = { %$kv, rss_kb => $kv->{maxrss_kb} };
	} else {
		$res{lb} = { na => 'lb_bench failed: ' . first_line("$out.err") };
	}
} else {
	$res{lb} = { na => "$lb_bench not built" };
}

# ---------------------------------------------------------------- escort analyze, end to end
my $escort_ok = 0;
if (-x $ESCORT) {
	my $out = "$BWORK/escort-tldr.jsonl";
	my $r = run_cmd(argv => [ @PIN, $ESCORT, 'analyze', $lines_file ],
	    stdout => $out, stderr => "$out.err");
	my $n = 0;
	if (open(my $fh, '<', $out)) {
		$n++ while <$fh>;
		close $fh;
	}
	if ($r->{rc} == 0 && !$r->{sig} && $n == $nrec) {
		$escort_ok = 1;
		$res{cli} = { records => $nrec, rss_kb => $r->{rss_kb}, rates($r, $nrec, $nbytes) };
	} else {
		my $e = first_line("$out.err");
		$res{cli} = { na => "escort analyze: exit $r->{rc}, $n of $nrec lines" . ($e ne '' ? ": $e" : '') };
	}
} else {
	$res{cli} = { na => "$ESCORT not built" };
}

# ---------------------------------------------------------------- tree-sitter-bash, parse only
sub build_ts {
	my $pkg = "$WORK/tree-sitter-bash-$TS_VERSION";
	my $bin = "$BWORK/ts_bench-$TS_VERSION";
	return (undef, 'pkg-config tree-sitter not found (apt install libtree-sitter-dev)')
	    if system('pkg-config --exists tree-sitter 2>/dev/null') != 0;
	unless (-f "$pkg/src/parser.c") {
		return (undef, 'npm not found') if system('sh', '-c', 'command -v npm >/dev/null 2>&1') != 0;
		print "bench: fetching tree-sitter-bash\@$TS_VERSION with npm pack into bench/.work/ ...\n";
		my $tgz = "$WORK/tree-sitter-bash-$TS_VERSION.tgz";
		my $r = system("cd '$WORK' && npm pack --silent 'tree-sitter-bash\@$TS_VERSION' >npm.log 2>&1");
		return (undef, 'npm pack failed: ' . first_line("$WORK/npm.log")) if $r != 0 || !-f $tgz;
		remove_tree($pkg);
		make_path($pkg);
		return (undef, 'tar failed') if system('tar', '-xzf', $tgz, '-C', $pkg, '--strip-components=1') != 0;
		return (undef, "no src/parser.c in tree-sitter-bash\@$TS_VERSION") unless -f "$pkg/src/parser.c";
	}
	my $drv = "$ROOT/bench/ts_driver.c";
	my $stats = "$ROOT/tests/tools/bench_stats.h"; # the driver includes it
	return ($bin, undef) if -x $bin && -M $bin < -M $drv && -M $bin < -M $stats;
	print "bench: compiling tree-sitter-bash $TS_VERSION grammar (takes a minute) ...\n";
	my $scanner = -f "$pkg/src/scanner.cc" ? "$pkg/src/scanner.cc" : "$pkg/src/scanner.c";
	my $cc = $ENV{CC} // 'cc';
	my $cxx = $scanner =~ /\.cc$/ ? ($ENV{CXX} // 'c++') : $cc;
	my $cfl = `pkg-config --cflags tree-sitter`;
	my $lib = `pkg-config --libs tree-sitter`;
	chomp($cfl, $lib);
	my $log = "$BWORK/ts_build.log";
	my $sh = "set -e; cd '$BWORK';"
	    . " $cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror $cfl -c '$drv' -o ts_driver.o;"
	    . " $cc -O2 -w -I'$pkg/src' -c '$pkg/src/parser.c' -o ts_parser.o;"
	    . " $cxx -O2 -w -I'$pkg/src' -c '$scanner' -o ts_scanner.o;"
	    . " $cxx -o '$bin' ts_driver.o ts_parser.o ts_scanner.o $lib";
	return (undef, 'compiling the grammar failed: ' . first_line($log)) if system("($sh) >'$log' 2>&1") != 0;
	return ($bin, undef);
}
{
	my ($bin, $why) = build_ts();
	if ($bin) {
		my $out = "$BWORK/ts_bench.out";
		my $r = run_cmd(argv => [ @PIN, $bin, '--passes', $PASSES, $lines_file ], stdout => $out, stderr => "$out.err");
		if ($r->{rc} == 0 && !$r->{sig}) {
			my $kv = parse_kv(slurp($out));
			$res{ts} = { %$kv, rss_kb => $kv->{maxrss_kb} };
		} else {
			$res{ts} = { na => 'ts_driver failed: ' . first_line("$out.err") };
		}
	} else {
		$res{ts} = { na => $why };
	}
}

# ---------------------------------------------------------------- shellcheck
# Sample: every k-th line, deterministic. Two ways to feed it, both one process:
#  (a) one file per line, all files named on one command line: each record is parsed and
#      checked on its own (a syntax error stays local), process start-up paid once;
#  (b) one file in which each line is the body of its own function: one parse, but only
#      lines that pass `bash -n` on their own can take part, or one bad line would end the
#      parse for all. The faster of the two is used for the ratio (most charitable).
my $sc_version = '';
if (system('sh', '-c', 'command -v shellcheck >/dev/null 2>&1') == 0) {
	($sc_version) = `shellcheck --version` =~ /version:\s*(\S+)/;
	$sc_version //= '?';
	my $k = $nrec > $SC_SAMPLE ? int($nrec / $SC_SAMPLE) : 1;
	my @sample;
	for (my $i = 0; $i < $nrec && @sample < $SC_SAMPLE; $i += $k) {
		push @sample, $rows->[$i][1];
	}
	my $dir = "$BWORK/shellcheck";
	remove_tree($dir);
	make_path("$dir/files");
	my @files;
	for my $i (0 .. $#sample) {
		my $f = sprintf('%s/files/%04d.sh', $dir, $i + 1);
		write_file($f, "$sample[$i]\n");
		push @files, $f;
	}
	my $r = run_cmd(argv => [ @PIN, 'shellcheck', '-s', 'bash', '-f', 'gcc', @files ],
	    stdout => "$dir/a.out", stderr => "$dir/a.err");
	if ($r->{rc} <= 1 && !$r->{sig}) {
		my $b = 0;
		$b += length($_) for @sample;
		$res{sca} = { records => scalar @sample, rss_kb => $r->{rss_kb}, rates($r, scalar @sample, $b) };
	} else {
		$res{sca} = { na => "shellcheck exit $r->{rc}: " . first_line("$dir/a.err") };
	}
	my ($fn, $nfn, $fnb) = ('', 0, 0);
	for my $i (0 .. $#sample) {
		# bash -n on the line alone; the line is passed as an argument, never run
		next if system('sh', '-c', 'exec bash -n -c "$1" 2>/dev/null', 'sh', $sample[$i]) != 0;
		$fn .= sprintf("f%d() {\n%s\n}\n", $i + 1, $sample[$i]);
		$nfn++;
		$fnb += length($sample[$i]);
	}
	write_file("$dir/functions.sh", $fn);
	$r = run_cmd(argv => [ @PIN, 'shellcheck', '-s', 'bash', '-f', 'gcc', "$dir/functions.sh" ],
	    stdout => "$dir/b.out", stderr => "$dir/b.err");
	if ($r->{rc} <= 1 && !$r->{sig} && $nfn) {
		$res{scb} = { records => $nfn, rss_kb => $r->{rss_kb}, rates($r, $nfn, $fnb) };
	} else {
		$res{scb} = { na => "shellcheck exit $r->{rc}: " . first_line("$dir/b.err") };
	}
} else {
	$res{sca} = $res{scb} = { na => 'shellcheck not installed (apt install shellcheck)' };
}

# ---------------------------------------------------------------- worst cases, 1 MiB each
sub gen_worst {
	my $dir = "$BWORK/worst";
	make_path($dir);
	my %w;
	my $s = 'echo';
	my $i = 0;
	$s .= sprintf(' arg%07d', $i++) while length($s) < $MIB;
	$w{'many-args'} = substr($s, 0, $MIB);
	my $depth = int(($MIB - length('echo true')) / 3);
	$w{'nested-$()'} = 'echo ' . ('$(' x $depth) . 'true' . (')' x $depth);
	$s = "cat <<EOF\n";
	$i = 0;
	$s .= sprintf("line %d: \$HOME \${USER:-x} \$(id -u) `date` \$((1+%d))\n", $i, $i), $i++
	    while length($s) < $MIB - 64;
	$w{'here-doc'} = $s . "EOF\n";
	$w{'a|-pipes'} = ('a|' x ($MIB / 2 - 1)) . 'a';
	srand(20261125);    # fixed seed: the same bytes every run
	# bytes 1..255: NUL would split the input into several --null records
	$w{'random-bytes'} = join('', map { chr(1 + int(rand(255))) } 1 .. $MIB);
	my %file = ('many-args' => 'many_args', 'nested-$()' => 'nested_subst', 'here-doc' => 'heredoc',
	    'a|-pipes' => 'pipes', 'random-bytes' => 'random_bytes');
	my @out;
	for my $n ('many-args', 'nested-$()', 'here-doc', 'a|-pipes', 'random-bytes') {
		my $f = "$dir/$file{$n}.in";
		write_file($f, $w{$n});
		push @out, [ $n, $f, length($w{$n}) ];
	}
	return @out;
}
# The risk of a one-record JSON line whose echoed input may be megabytes long: skip the
# input string by hand (a regex over it hits perl's recursion limit), then read "risk".
sub risk_after_input {
	my ($o) = @_;
	return '?' unless $o =~ /\A\{\s*"input"\s*:\s*"/g;
	my $p = pos($o);
	for (;;) {
		my $q = index($o, '"', $p);
		return '?' if $q < 0;
		my $bs = 0;
		$bs++ while $q - $bs - 1 >= 0 && substr($o, $q - $bs - 1, 1) eq '\\';
		$p = $q + 1;
		last if $bs % 2 == 0;
	}
	pos($o) = $p;
	return $o =~ /\G.*?"risk"\s*:\s*"(\w+)"/gs ? $1 : '?';
}

my @worst;
my $worst_via_lb;
for my $w (gen_worst()) {
	my ($name, $f, $size) = @$w;
	my $out = "$f.jsonl";
	my @cmd = ($ESCORT, 'analyze', '--null', $f);
	unless ($escort_ok) {
		# Until the CLI works, the same library through lb_bench --emit gives a preview.
		if ($res{lb}{na}) {
			push @worst, { name => $name, size => $size, na => $res{cli}{na} };
			next;
		}
		@cmd = ($lb_bench, '--emit', '--null', '--rules', $RULES, $f);
		$name .= ' *';
		$worst_via_lb = 1;
	}
	my $r = run_cmd(argv => [ 'timeout', $WORST_TIMEOUT, @PIN, @cmd ], stdout => $out, stderr => "$out.err");
	my $o = slurp($out);
	my $risk = risk_after_input($o);
	my $lines = ($o =~ tr/\n//);
	push @worst, { name => $name, size => $size, rc => $r->{rc}, sig => $r->{sig}, wall => $r->{wall},
	    rss_kb => $r->{rss_kb}, risk => $risk, lines => $lines, err => first_line("$out.err") };
}

# ---------------------------------------------------------------- report
my $cpu = '';
if (open(my $fh, '<', '/proc/cpuinfo')) {
	while (<$fh>) { if (/^model name\s*:\s*(.*)/) { $cpu = $1; last } }
	close $fh;
}
printf "\nlockbox bench — tldr command_filled: %s records, %.2f MB; %s; %s\n",
    commify($nrec), $nbytes / 1e6, ($have_taskset ? 'one core (taskset -c 0)' : 'taskset missing: not pinned'),
    $cpu || 'unknown CPU';
my $load = '';
if (open(my $fh, '<', '/proc/loadavg')) {
	($load) = split ' ', scalar(<$fh>) // '';
	close $fh;
}
printf "in-process rows: %d timed passes after 1 warm-up; shellcheck rows: a %s-line sample; "
    . "load average %s (other work on core 0 slows every row)\n\n", $PASSES, ($res{sca}{records} // $SC_SAMPLE),
    $load || '?';

my $fmt = "%-46s %7s %10s %10s %7s %7s %7s %9s %9s\n";
printf $fmt, 'tool', 'records', 'rec/s CPU', 'rec/s wall', 'MB/s', 'p50 µs', 'p99 µs', 'max µs', 'peak RSS';
printf $fmt, '-' x 46, '-' x 7, '-' x 10, '-' x 10, '-' x 7, '-' x 7, '-' x 7, '-' x 9, '-' x 9;
my @tools = (
	[ lb => 'escort lockbox, in-process (analyze+json)' ],
	[ cli => 'escort analyze CLI, end to end (1 pass)' ],
	[ ts => "tree-sitter-bash $TS_VERSION, parse only" ],
	[ sca => "shellcheck $sc_version, file per line, 1 process" ],
	[ scb => "shellcheck $sc_version, 1 file, line per function" ],
);
for my $t (@tools) {
	my ($k, $label) = @$t;
	my $r = $res{$k};
	if ($r->{na}) {
		printf "%-46s n/a (%s)\n", $label, $r->{na};
		next;
	}
	my $f = sub { defined $_[0] ? sprintf('%.1f', $_[0]) : '-' };
	printf $fmt, $label, commify($r->{records}), (defined $r->{cpu_rps} ? commify($r->{cpu_rps}) : '-'),
	    commify($r->{rps}), sprintf('%.2f', $r->{cpu_mbps} // $r->{mbps}), $f->($r->{p50_us}), $f->($r->{p99_us}),
	    $f->($r->{max_us}), (defined $r->{rss_kb} ? mib($r->{rss_kb}) : '-');
}
push @notes, "tree-sitter: $res{ts}{syntax_errors} of $nrec records parse with ERROR nodes"
    if defined $res{ts}{syntax_errors};
push @notes, "shellcheck (b) used $res{scb}{records} of $res{sca}{records} sample lines (the rest fail bash -n alone)"
    if $res{scb}{records} && $res{sca}{records};

# The escort figure for ratios: in-process when available, else the CLI.
my ($esc, $esc_from) = (undef, '');
if (!$res{lb}{na}) { ($esc, $esc_from) = ($res{lb}, 'in-process') }
elsif (!$res{cli}{na}) { ($esc, $esc_from) = ($res{cli}, 'CLI end to end') }
# Records per CPU second when both sides have it (robust against other load), else wall.
sub rate_of { $_[0]{cpu_rps} // $_[0]{rps} }
my $sc_best;
for my $k (qw(sca scb)) {
	$sc_best = $res{$k} if !$res{$k}{na} && (!$sc_best || rate_of($res{$k}) > rate_of($sc_best));
}

my @checks;
sub check_row {
	my ($name, $value, $target, $ok, $na) = @_;
	push @checks, [ $name, $na ? "n/a ($na)" : $value, $target, $na ? 'n/a' : $ok ? 'PASS' : 'MISS' ];
}
{
	my $na = !$esc ? 'no escort figure' : $res{ts}{na} ? "tree-sitter: $res{ts}{na}" : undef;
	my $ratio = $na ? 0 : rate_of($esc) / rate_of($res{ts});
	check_row("escort ÷ tree-sitter rec/s CPU ($esc_from)", sprintf('%.2f×', $ratio), "≥ ${T_TS_RATIO}×",
	    $ratio >= $T_TS_RATIO, $na);
	$na = !$esc ? 'no escort figure' : !$sc_best ? "shellcheck: $res{sca}{na}" : undef;
	$ratio = $na ? 0 : rate_of($esc) / rate_of($sc_best);
	check_row("escort ÷ shellcheck rec/s CPU (best of a, b)", sprintf('%.0f×', $ratio), "≥ ${T_SC_RATIO}×",
	    $ratio >= $T_SC_RATIO, $na);
	$na = $res{lb}{na};
	check_row('escort p99 latency per record (in-process)', $na ? '' : sprintf('%.1f µs', $res{lb}{p99_us}),
	    "< $T_P99_US µs", !$na && $res{lb}{p99_us} < $T_P99_US, $na);
}
my ($worst_max, $worst_na);
for my $w (@worst) {
	my $name = "1 MiB worst case, peak RSS: $w->{name}";
	if ($w->{na}) {
		check_row($name, '', '< 32 MiB', 0, $w->{na});
		$worst_na = 1;
		next;
	}
	my $ok = !$w->{sig} && $w->{rc} == 0 && $w->{lines} == 1 && defined $w->{rss_kb} && $w->{rss_kb} < $T_RSS_KB;
	my $v = defined $w->{rss_kb} ? mib($w->{rss_kb}) : '?';
	$v .= sprintf(', %.2f s, risk %s', $w->{wall}, $w->{risk});
	$v .= ", TIMEOUT" if $w->{rc} == 124;
	$v .= ", exit $w->{rc}" if $w->{rc} && $w->{rc} != 124;
	$v .= ", signal $w->{sig}" if $w->{sig};
	$v .= ", $w->{lines} output lines" if !$w->{sig} && $w->{rc} == 0 && $w->{lines} != 1;
	$v .= " ($w->{err})" if ($w->{rc} || $w->{sig}) && $w->{err} ne '';
	check_row($name, $v, '< 32 MiB', $ok, undef);
	$worst_max = $w->{rss_kb} if defined $w->{rss_kb} && (!defined $worst_max || $w->{rss_kb} > $worst_max);
}

print "\n";
my $cfmt = "%-50s %-36s %-10s %s\n";
printf $cfmt, 'target', 'measured', 'target', 'result';
printf $cfmt, '-' x 50, '-' x 36, '-' x 10, '------';
printf $cfmt, @$_ for @checks;
push @notes, "* worst cases ran through build/tools/lb_bench --emit --null (same library): $res{cli}{na}"
    if $worst_via_lb;
print "\n";
print "note: $_\n" for @notes;
my $miss = grep { $_->[3] eq 'MISS' } @checks;
my $na = grep { $_->[3] eq 'n/a' } @checks;
printf "\nbench: %d PASS, %d MISS, %d n/a (outputs in %s)\n", scalar(@checks) - $miss - $na, $miss, $na, $BWORK;
exit 0;

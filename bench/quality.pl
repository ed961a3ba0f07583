# bench/quality.pl — the body of `make quality` (started by bench/quality from the repo
# root). Runs `escort analyze` over the tldr corpus (benign: few should be critical) and
# the GTFOBins corpus (abuse: nearly all should meet their function's bar) and prints
# the distributions, every critical tldr example and each target with PASS/MISS.
use strict;
use warnings;
use utf8;
use File::Basename qw(dirname);
use File::Spec;
use JSON::PP;
use POSIX qw(_exit);

require(File::Spec->rel2abs(dirname(__FILE__)) . '/common.pl');
our ($ROOT, $ESCORT, $RULES, $BUILD, $CORPUS, $WORK, $BWORK);

my $TOP_PAGES = $ENV{QUALITY_TOP_PAGES} // 60;
my $MAX_MISSES = $ENV{QUALITY_MAX_MISSES} // 60;    # GTFOBins misses printed (all go to a file)
my $T_TLDR_CRIT = 1.0;                                # % of tldr rated critical, at most
my $T_GTFO = 97.0;                                    # % of GTFOBins rows meeting the bar, at least
my $T_TLDR_OBF = 1.0;                                 # % of tldr with obfuscation/opaque/display findings, below
my $MAX_OBF = $ENV{QUALITY_MAX_OBF} // 200;           # such tldr examples printed (all go to a file)

my @RISKS = qw(none low medium high critical);
my %RANK = map { $RISKS[$_] => $_ } 0 .. $#RISKS;

# GTFOBins function => [minimum risk, categories of which one is required (none: any)]
my %BAR = (
	'shell' => [ 'high', [] ],
	'reverse-shell' => [ 'high', [] ],
	'bind-shell' => [ 'high', [] ],
	'upload' => [ 'high', [] ],
	'library-load' => [ 'high', [] ],
	'privilege-escalation' => [ 'high', [] ],
	'download' => [ 'medium', ['network-download'] ],
	'file-write' => [ 'medium', [ 'file-write', 'config-change', 'persistence' ] ],
	'command' => [ 'medium', [ 'code-exec', 'shell-escape' ] ],
);

bench_env();
binmode(STDOUT, ':encoding(UTF-8)');
my $json = JSON::PP->new->utf8;
my @checks;
my $failed = 0;

sub run_to_file {
	my ($argv, $out, $err) = @_;
	my $pid = fork();
	die "fork: $!\n" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null') or _exit(127);
		open(STDOUT, '>', $out) or _exit(127);
		open(STDERR, '>', $err) or _exit(127);
		{ exec { $argv->[0] } @$argv; }
		_exit(127);
	}
	waitpid($pid, 0);
	return $?;
}

sub first_line {
	my ($path) = @_;
	open(my $fh, '<', $path) or return '';
	my $l = <$fh> // '';
	close $fh;
	chomp $l;
	return $l;
}

# Analyzes records (joined by "\n", or by NUL with $null) and returns one decoded JSON
# object per record, or dies with the reason. Uses `escort analyze`; if that is not
# available yet, build/tools/lb_bench --emit (same library, same JSON) with a notice.
sub analyze {
	my ($name, $recs, $null) = @_;
	my $in = "$BWORK/quality-$name.in";
	my $out = "$BWORK/quality-$name.jsonl";
	my $sep = $null ? "\0" : "\n";
	write_file($in, join('', map { $_ . $sep } @$recs));
	my @flags = $null ? ('--null') : ();
	my $st = -x $ESCORT ? run_to_file([ $ESCORT, 'analyze', @flags, $in ], $out, "$out.err") : -1;
	if ($st != 0) {
		my $why = $st == -1 ? "$ESCORT not built" : "escort analyze exit " . ($st >> 8) . ': ' . first_line("$out.err");
		my $lbb = "$BUILD/tools/lb_bench";
		die "$why\n" unless -x $lbb;
		print "NOTE: $why; using $lbb --emit instead (same library and JSON)\n";
		$st = run_to_file([ $lbb, '--emit', @flags, '--rules', $RULES, $in ], $out, "$out.err");
		die 'lb_bench --emit exit ' . ($st >> 8) . ': ' . first_line("$out.err") . "\n" if $st != 0;
	}
	open(my $fh, '<:raw', $out) or die "$out: $!\n";
	my @res;
	while (my $l = <$fh>) {
		my $o = eval { $json->decode($l) };
		die "$out line $.: not JSON: $@" unless ref $o eq 'HASH';
		die "$out line $.: risk '" . ($o->{risk} // 'missing') . "' is not one of @RISKS\n"
		    unless defined $o->{risk} && exists $RANK{ $o->{risk} };
		push @res, $o;
	}
	close $fh;
	die sprintf("%d records in, %d JSON lines out\n", scalar @$recs, scalar @res) if @res != @$recs;
	my $bad = 0;
	for my $i (0 .. $#res) {
		# the contract echoes the record; a mismatch means records and results are misaligned
		my $want = $recs->[$i];
		utf8::decode($want);
		next if !defined $res[$i]{input} || $res[$i]{input} eq $want;
		print "WARNING: $name record " . ($i + 1) . ": input echoed differently\n" unless $bad++;
	}
	print "WARNING: $name: $bad records echoed with a different input\n" if $bad > 1;
	return \@res;
}

sub pct { $_[1] ? 100.0 * $_[0] / $_[1] : 0 }

sub check_row {
	my ($name, $value, $target, $ok) = @_;
	push @checks, [ $name, $value, $target, $ok ? 'PASS' : 'MISS' ];
}

sub cats { join(',', @{ $_[0]{categories} // [] }) }

sub text {
	my ($s) = @_;
	utf8::decode($s);
	$s =~ s/([\x00-\x1f\x7f])/sprintf('\\x%02x', ord $1)/ge;
	return $s;
}

# ---------------------------------------------------------------- tldr
sub tldr {
	my $rows = tldr_rows() or do {
		print "tldr: corpus not found at $CORPUS/tldr.tsv (set CORPUS=DIR); skipped\n";
		return;
	};
	my $res = eval { analyze('tldr', [ map { $_->[1] } @$rows ], 0) } or do {
		print "tldr: FAILED: $@";
		$failed++;
		return;
	};
	my (%page, %tot, @crit);
	my @page_order;
	for my $i (0 .. $#$rows) {
		my ($p, $cmd) = @{ $rows->[$i] };
		my $r = $res->[$i]{risk};
		push @page_order, $p unless $page{$p};
		$page{$p}{n}++;
		$page{$p}{$r}++;
		$tot{$r}++;
		push @crit, [ $p, $cmd, $res->[$i] ] if $r eq 'critical';
	}
	my $n = scalar @$rows;

	my $tsv = "$BUILD/quality-tldr.tsv";
	open(my $fh, '>:raw', $tsv) or die "$tsv: $!\n";
	print $fh join("\t", 'page', 'n', @RISKS), "\n";
	for my $p (@page_order) {
		print $fh join("\t", $p, $page{$p}{n}, map { $page{$p}{$_} // 0 } @RISKS), "\n";
	}
	close $fh;
	my $all = "$BUILD/quality-tldr-results.tsv";
	open($fh, '>:raw', $all) or die "$all: $!\n";
	print $fh join("\t", qw(page risk score opaque categories command)), "\n";
	for my $i (0 .. $#$rows) {
		my $o = $res->[$i];
		print $fh join("\t", $rows->[$i][0], $o->{risk}, $o->{score} // '', ($o->{opaque} ? 1 : 0), cats($o),
		    $rows->[$i][1]), "\n";
	}
	close $fh;

	# Almost every tldr page has 5-8 examples, so ranking by examples says little; rank by
	# what a benign corpus should rarely show: critical, then high, then examples.
	my $rank = sub { ($page{ $_[0] }{critical} // 0, $page{ $_[0] }{high} // 0, $page{ $_[0] }{n}) };
	my @sorted = sort {
		my @x = $rank->($a);
		my @y = $rank->($b);
		$y[0] <=> $x[0] || $y[1] <=> $x[1] || $y[2] <=> $x[2] || $a cmp $b
	} keys %page;
	my @top = @sorted[ 0 .. ($TOP_PAGES < @sorted ? $TOP_PAGES : @sorted) - 1 ];
	printf "tldr: %s examples from %s pages; risk per page, top %d pages by critical, then high, then examples\n"
	    . "(all pages: %s; every result: %s)\n\n", commify($n), commify(scalar @sorted), scalar @top, $tsv, $all;
	my $fmt = "%-28s %5s %6s %6s %6s %6s %8s\n";
	printf $fmt, 'page', 'n', @RISKS;
	printf $fmt, '-' x 28, '-----', ('------') x 4, '--------';
	for my $p (@top) {
		printf $fmt, text($p), $page{$p}{n}, map { $page{$p}{$_} // 0 } @RISKS;
	}
	printf $fmt, '-' x 28, '-----', ('------') x 4, '--------';
	printf $fmt, 'TOTAL (' . scalar(keys %page) . ' pages)', $n, map { $tot{$_} // 0 } @RISKS;

	print "\ntldr overall distribution:\n";
	printf "  %-9s %6d  %5.1f%%\n", $_, $tot{$_} // 0, pct($tot{$_} // 0, $n) for @RISKS;
	my $cp = pct($tot{critical} // 0, $n);
	check_row('tldr share rated critical', sprintf('%.2f%% (%d of %d)', $cp, $tot{critical} // 0, $n),
	    "≤ $T_TLDR_CRIT%", $cp <= $T_TLDR_CRIT);

	printf "\ntldr examples rated critical: %d\n", scalar @crit;
	for my $c (@crit) {
		printf "  %-26s %-40s %s\n", text($c->[0]), '[' . cats($c->[2]) . ']', text($c->[1]);
	}
	print "\n";

	# False alarms of the disguise detectors: benign examples with an obfuscation, opaque
	# or display-deception finding. A syntax error (parse-error: mostly keystrokes such as
	# "<Ctrl ]>" that bash refuses to run) is counted apart, as it says nothing about
	# disguises.
	my (@obf, %by_id, $syntax);
	for my $i (0 .. $#$rows) {
		my @f = grep { ($_->{category} // '') =~ /^(obfuscation|opaque|display-deception)$/ }
		    @{ $res->[$i]{findings} // [] };
		next unless @f;
		my @ids = do { my %u; grep { !$u{$_}++ } map { $_->{id} } @f };
		if (!grep { $_ ne 'parse-error' } @ids) {
			$syntax++;
			next;
		}
		$by_id{$_}++ for grep { $_ ne 'parse-error' } @ids;
		push @obf, [ $rows->[$i][0], join(',', @ids), $rows->[$i][1] ];
	}
	my $of = "$BUILD/quality-tldr-disguise.tsv";
	open($fh, '>:raw', $of) or die "$of: $!\n";
	print $fh join("\t", qw(page findings command)), "\n";
	print $fh join("\t", @$_), "\n" for @obf;
	close $fh;
	my $op = pct(scalar @obf, $n);
	printf "tldr examples with obfuscation / opaque / display-deception findings: %d (%.2f%%), by finding: %s\n"
	    . "(plus %d examples whose only such finding is a syntax error, parse-error: %.2f%% with them; all in %s)\n",
	    scalar @obf, $op, join(', ', map { "$_ $by_id{$_}" } sort { $by_id{$b} <=> $by_id{$a} || $a cmp $b } keys %by_id),
	    $syntax // 0, pct(@obf + ($syntax // 0), $n), $of;
	for my $o (@obf[ 0 .. ($#obf < $MAX_OBF - 1 ? $#obf : $MAX_OBF - 1) ]) {
		printf "  %-26s %-34s %s\n", text($o->[0]), '[' . $o->[1] . ']', text($o->[2]);
	}
	print "\n";
	check_row('tldr obfuscation/opaque/display', sprintf('%.2f%% (%d of %d)', $op, scalar @obf, $n),
	    "< $T_TLDR_OBF%", $op < $T_TLDR_OBF);
}

# ---------------------------------------------------------------- GTFOBins
sub gtfobins {
	my $rows = read_tsv("$CORPUS/gtfobins.tsv") or do {
		print "gtfobins: corpus not found at $CORPUS/gtfobins.tsv (set CORPUS=DIR); skipped\n";
		return;
	};
	my @snip = map { unescape_corpus($_->{snippet}) } @$rows;
	my $nul = grep { /\0/ } @snip;
	s/\0/\\x00/g for @snip;    # a NUL would split a --null record; none expected
	print "WARNING: gtfobins: $nul snippets contain NUL, analyzed with it written as \\x00\n" if $nul;
	my $res = eval { analyze('gtfobins', \@snip, 1) } or do {
		print "gtfobins: FAILED: $@";
		$failed++;
		return;
	};
	my (%f, @miss);
	my ($bar_n, $bar_ok) = (0, 0);
	for my $i (0 .. $#$rows) {
		my $fn = $rows->[$i]{function};
		my $o = $res->[$i];
		# inherit:<binary> rows show how to reach another program: one table row for all
		my $row = $fn =~ /^inherit:/ ? 'inherit:*' : $fn;
		$f{$row}{n}++;
		$f{$row}{ $o->{risk} }++;
		my $bar = $BAR{$fn} or next;
		my %c = map { $_ => 1 } @{ $o->{categories} // [] };
		my $ok = $RANK{ $o->{risk} } >= $RANK{ $bar->[0] } && (!@{ $bar->[1] } || grep { $c{$_} } @{ $bar->[1] });
		$bar_n++;
		$f{$fn}{bar_n}++;
		if ($ok) {
			$bar_ok++;
			$f{$fn}{ok}++;
		} else {
			push @miss, [ $rows->[$i], $o, $snip[$i] ];
		}
	}
	printf "GTFOBins: %s snippets (%s binaries); share meeting each function's bar\n\n", commify(scalar @$rows),
	    commify(scalar keys %{ { map { $_->{binary} => 1 } @$rows } });
	my $fmt = "%-21s %5s %5s %5s %6s %5s %8s  %-46s %7s\n";
	printf $fmt, 'function', 'n', @RISKS, 'bar', 'meets';
	printf $fmt, '-' x 21, '-----', '-----', '-----', '------', '-----', '--------', '-' x 46, '-------';
	for my $fn (sort { $f{$b}{n} <=> $f{$a}{n} || $a cmp $b } keys %f) {
		my $b = $BAR{$fn};
		my $bar = $b ? "≥$b->[0]" . (@{ $b->[1] } ? ' + ' . join('|', @{ $b->[1] }) : '') : '(no bar)';
		my $meets = $b ? sprintf('%.1f%%', pct($f{$fn}{ok} // 0, $f{$fn}{bar_n})) : '-';
		printf $fmt, $fn, $f{$fn}{n}, (map { $f{$fn}{$_} // 0 } @RISKS), $bar, $meets;
	}
	my $share = pct($bar_ok, $bar_n);
	printf "\nGTFOBins overall: %d of %d rows with a bar meet it (%.1f%%)\n", $bar_ok, $bar_n, $share;
	check_row('GTFOBins share meeting the bar', sprintf('%.1f%% (%d of %d)', $share, $bar_ok, $bar_n), "≥ $T_GTFO%",
	    $share >= $T_GTFO);

	my $mf = "$BUILD/quality-gtfobins-misses.tsv";
	open(my $fh, '>:raw', $mf) or die "$mf: $!\n";
	print $fh join("\t", qw(binary function context risk categories snippet)), "\n";
	print $fh join("\t", $_->[0]{binary}, $_->[0]{function}, $_->[0]{context}, $_->[1]{risk}, cats($_->[1]),
	    $_->[0]{snippet}), "\n" for @miss;
	close $fh;
	# the same snippet often appears under several contexts: show each once
	my (%seen, @uniq);
	for my $m (@miss) {
		my $k = "$m->[0]{function}\t$m->[2]";
		push @uniq, $m unless $seen{$k}++;
	}
	printf "\nGTFOBins misses: %d rows, %d distinct (function, snippet); all in %s%s\n", scalar @miss, scalar @uniq, $mf,
	    @uniq > $MAX_MISSES ? "; first $MAX_MISSES:" : ':';
	for my $m (@uniq[ 0 .. ($#uniq < $MAX_MISSES - 1 ? $#uniq : $MAX_MISSES - 1) ]) {
		my $s = text($m->[2]);
		$s = substr($s, 0, 100) . '...' if length($s) > 103;
		printf "  %-12s %-20s %-8s %-34s %s\n", $m->[0]{binary}, $m->[0]{function}, $m->[1]{risk},
		    '[' . cats($m->[1]) . ']', $s;
	}
	print "\n";
}

tldr();
gtfobins();

my $cfmt = "%-36s %-26s %-8s %s\n";
printf $cfmt, 'target', 'measured', 'target', 'result';
printf $cfmt, '-' x 36, '-' x 26, '-' x 8, '------';
printf $cfmt, @$_ for @checks;
my $miss = grep { $_->[3] eq 'MISS' } @checks;
printf "\nquality: %d PASS, %d MISS%s\n", @checks - $miss, $miss, $failed ? ", $failed corpus run(s) FAILED" : '';
exit($failed ? 1 : 0);

#!/usr/bin/perl
# 23-windows.t — lockbox quality bar for PowerShell and cmd.exe over the labelled corpus in
# tests/fixtures/windows/: benign administrator lines must stay at or below their listed risk
# (none/low for read-only, at most medium for routine changes); dangerous or obfuscated lines
# must be high or critical with the listed category. At least 97% on each side, and every
# miss must be listed in tests/fixtures/windows/exceptions.tsv with a reason.
use strict;
use warnings;
use File::Temp qw(tempfile);

my $escort = $ENV{ESCORT} // 'build/escort';
my $dir = 'tests/fixtures/windows';
my %rank = (none => 0, low => 1, medium => 2, high => 3, critical => 4);

sub load {
	my ($file) = @_;
	open my $fh, '<', "$dir/$file" or die "$dir/$file: $!";
	my @rows;
	while (my $l = <$fh>) {
		chomp $l;
		next if $l =~ /^\s*(#|$)/;
		my ($shell, $want, $cmd) = split /\t/, $l, 3;
		die "$file: bad row: $l\n" unless defined $cmd && length $cmd;
		push @rows, { shell => $shell, want => $want, cmd => $cmd };
	}
	return @rows;
}

# one escort run per shell; results in input order
sub run_all {
	my (@rows) = @_;
	my %by;
	push @{ $by{ $_->{shell} } }, $_ for @rows;
	for my $shell (keys %by) {
		my ($tfh, $tname) = tempfile(UNLINK => 1);
		binmode $tfh;
		print $tfh join("\0", map { $_->{cmd} } @{ $by{$shell} });
		close $tfh;
		open my $out, '-|', $escort, 'analyze', '--shell', $shell, '--null', $tname
		    or die "run $escort: $!";
		my @res = <$out>;
		close $out;
		die "escort analyze --shell $shell returned " . scalar(@res) . " records for " .
		    scalar(@{ $by{$shell} }) . "\n" unless @res == @{ $by{$shell} };
		for my $i (0 .. $#res) {
			my $j = $res[$i];
			my $r = $by{$shell}[$i];
			$r->{risk} = $j =~ /"risk":"([a-z]+)"/ ? $1 : '?';
			$r->{cats} = { map { s/"//gr => 1 } split /,/, ($j =~ /"categories":\[([^\]]*)\]/ ? $1 : '') };
		}
	}
}

my @benign = load('benign.tsv');
my @bad = load('dangerous.tsv');
my %exc;
if (open my $ef, '<', "$dir/exceptions.tsv") {
	while (my $l = <$ef>) {
		chomp $l;
		next if $l =~ /^\s*(#|$)/;
		my ($shell, $cmd, $why) = split /\t/, $l, 3;
		$exc{"$shell\t$cmd"} = $why if defined $why && length $why;
	}
	close $ef;
}

print "1..5\n";
eval { run_all(@benign, @bad); 1 } or do {
	print "not ok 1 - analyze ran: $@";
	print "not ok $_ # skipped\n" for 2 .. 5;
	exit 0;
};
print "ok 1 - analyzed ", scalar(@benign), " benign and ", scalar(@bad), " dangerous lines\n";

my (@bfail, @dfail);
for my $r (@benign) {
	push @bfail, $r if !exists $rank{ $r->{risk} } || $rank{ $r->{risk} } > $rank{ $r->{want} };
}
for my $r (@bad) {
	push @dfail, $r if ($rank{ $r->{risk} } // 0) < 3 || !$r->{cats}{ $r->{want} };
}
my $bpct = 100 * (@benign - @bfail) / @benign;
my $dpct = 100 * (@bad - @dfail) / @bad;
printf "# benign: %d/%d right (%.1f%%), dangerous: %d/%d right (%.1f%%)\n",
    @benign - @bfail, scalar @benign, $bpct, @bad - @dfail, scalar @bad, $dpct;
for my $r (@bfail) {
	printf "#   benign rated %s (max %s): [%s] %s\n", $r->{risk}, $r->{want}, $r->{shell}, $r->{cmd};
}
for my $r (@dfail) {
	printf "#   dangerous rated %s, categories %s (want %s): [%s] %s\n", $r->{risk},
	    join(',', sort keys %{ $r->{cats} }), $r->{want}, $r->{shell}, $r->{cmd};
}
print +(@benign >= 150 && $bpct >= 97 ? '' : 'not '), "ok 2 - at least 150 benign lines, >= 97% rated at or below their risk\n";
print +(@bad >= 150 && $dpct >= 97 ? '' : 'not '), "ok 3 - at least 150 dangerous lines, >= 97% rated high/critical with their category\n";
my @unlisted = grep { !exists $exc{"$_->{shell}\t$_->{cmd}"} } @bfail, @dfail;
print +(@unlisted ? 'not ' : ''), "ok 4 - every miss is listed in exceptions.tsv with a reason\n";
for my $r (@unlisted) {
	print "#   unlisted: [$r->{shell}] $r->{cmd}\n";
}
# speed on this corpus, when the benchmark tool is built (figures only, not a test)
my $bench = ($ENV{BUILD} // 'build') . '/tools/pwsh_bench';
if (-x $bench) {
	my $rules = $ENV{ESCORT_RULES} // 'rules';
	my $out = `$bench --passes 5 --rules $rules $dir/benign.tsv $dir/dangerous.tsv 2>&1`;
	my %f = $out =~ /(\w+)=([\d.]+)/g;
	printf "# speed: %s records/s, p50 %s us, p99 %s us, max %s us, peak RSS %s kB\n",
	    map { $f{$_} // '?' } qw(rps p50_us p99_us max_us maxrss_kb);
}
my %fail = map { ("$_->{shell}\t$_->{cmd}" => 1) } @bfail, @dfail;
my @stale = grep { !$fail{$_} } sort keys %exc;
print +(@stale ? 'not ' : ''), "ok 5 - no stale exceptions\n";
print "#   stale exception: $_\n" for @stale;

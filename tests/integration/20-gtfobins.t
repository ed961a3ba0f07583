#!/usr/bin/perl
# 20-gtfobins.t — lockbox quality bar over the GTFOBins corpus: snippets that spawn
# shells, open reverse/bind shells, upload, load libraries or escalate privileges must be
# high or critical; downloads, file writes and command execution at least medium with the
# right category. At least 97% of judged rows must pass, and every failing row must be
# listed in tests/fixtures/gtfobins-exceptions.tsv with a reason.
use strict;
use warnings;
use File::Temp qw(tempfile);

my $escort = $ENV{ESCORT} // 'build/escort';
my $corpus = $ENV{CORPUS} // '../shared/corpus';
my $tsv = "$corpus/gtfobins.tsv";
unless (-r $tsv) {
	print "1..0 # SKIP corpus not found at $tsv (set CORPUS)\n";
	exit 0;
}

# Decode the corpus escaping: \\ \n \t \r \xHH, left to right.
sub decode {
	my ($s) = @_;
	$s =~ s{\\(\\|n|t|r|x([0-9A-Fa-f]{2}))}{
		$1 eq '\\' ? '\\' : $1 eq 'n' ? "\n" : $1 eq 't' ? "\t" : $1 eq 'r' ? "\r" : chr(hex($2))
	}ge;
	return $s;
}

open my $fh, '<:raw', $tsv or die "$tsv: $!";
my $hdr = <$fh>;
my @rows;
while (my $l = <$fh>) {
	chomp $l;
	my ($bin, $fn, $ctx, $snip) = split /\t/, $l, 4;
	next unless defined $snip;
	next if $fn eq 'file-read' || $fn =~ /^inherit/;
	push @rows, { bin => $bin, fn => $fn, ctx => $ctx, snip => decode($snip) };
}
close $fh;

my %exc;
if (open my $ef, '<', 'tests/fixtures/gtfobins-exceptions.tsv') {
	while (my $l = <$ef>) {
		chomp $l;
		next if $l =~ /^\s*(#|$)/;
		my ($b, $f, $c, $why) = split /\t/, $l;
		next unless defined $why && length $why;
		$exc{"$b\t$f\t$c"} = $why;
	}
	close $ef;
}

my ($tfh, $tname) = tempfile(UNLINK => 1);
binmode $tfh;
print $tfh join("\0", map { $_->{snip} } @rows);
close $tfh;
open my $out, '-|', $escort, 'analyze', '--null', $tname or die "run $escort: $!";
my @res = <$out>;
close $out;

print "1..3\n";
if (@res != @rows) {
	print "not ok 1 - escort analyze returned ", scalar(@res), " records for ", scalar(@rows), "\n";
	print "not ok 2 # skipped\nnot ok 3 # skipped\n";
	exit 0;
}

my %rank = (none => 0, low => 1, medium => 2, high => 3, critical => 4);
# decode just what we need from each JSON line (no JSON module dependency)
sub field {
	my ($j, $k) = @_;
	return $j =~ /"$k":"([^"]*)"/ ? $1 : '';
}
sub cats {
	my ($j) = @_;
	return {} unless $j =~ /"categories":\[([^\]]*)\]/;
	my %c = map { s/"//gr => 1 } split /,/, $1;
	return \%c;
}

my ($pass, $fail, @unlisted, %seen_exc) = (0, 0);
for my $i (0 .. $#rows) {
	my $r = $rows[$i];
	my $j = $res[$i];
	my $risk = $rank{ field($j, 'risk') } // -1;
	my $c = cats($j);
	my $ok;
	my $fn = $r->{fn};
	if ($fn =~ /^(shell|reverse-shell|bind-shell|upload|library-load|privilege-escalation)$/) {
		$ok = $risk >= 3;
	} elsif ($fn eq 'download') {
		$ok = $risk >= 2 && $c->{'network-download'};
	} elsif ($fn eq 'file-write') {
		$ok = $risk >= 2 && ($c->{'file-write'} || $c->{'config-change'} || $c->{'persistence'});
	} elsif ($fn eq 'command') {
		$ok = $risk >= 2 && ($c->{'code-exec'} || $c->{'shell-escape'});
	} else {
		$ok = $risk >= 2;
	}
	# sudo / setuid-copy invocations carry privilege-escalation
	if ($ok && $r->{ctx} =~ /^(sudo|suid)$/ &&
	    $r->{snip} =~ /(?:^|[;&|(]\s*|\n\s*)(?:sudo\s|\.\/[\w.\/-]+)/m) {
		$ok = $c->{'privilege-escalation'} ? 1 : 0;
	}
	if ($ok) {
		$pass++;
		next;
	}
	$fail++;
	my $key = "$r->{bin}\t$fn\t$r->{ctx}";
	if (exists $exc{$key}) {
		$seen_exc{$key} = 1;
		next;
	}
	(my $s = $r->{snip}) =~ s/\n/\\n/g;
	push @unlisted, "$key\t" . field($j, 'risk') . "\t$s";
}
my $judged = $pass + $fail;
my $pct = $judged ? 100.0 * $pass / $judged : 0;
printf "# gtfobins: %d/%d judged rows pass (%.2f%%), %d listed exceptions\n", $pass, $judged,
    $pct, scalar(keys %seen_exc);
print(($pct >= 97.0 ? "ok" : "not ok"), sprintf(" 1 - at least 97%% of judged rows pass (%.2f%%)\n", $pct));
print "# not listed: $_\n" for @unlisted;
print((@unlisted ? "not ok" : "ok"), " 2 - every failing row is listed in gtfobins-exceptions.tsv (",
    scalar(@unlisted), " unlisted)\n");
my @stale = grep { !$seen_exc{$_} } sort keys %exc;
print "# exception no longer needed: $_\n" for @stale;
print "ok 3 - exceptions file read (", scalar(keys %exc), " entries, ", scalar(@stale), " stale)\n";

#!/usr/bin/perl
# 21-tldr.t — lockbox false-positive bars over tldr-pages examples (mostly benign admin
# commands): at most 1% of examples critical, none of them from read-only tools, and at
# least 98% of read-only tools' examples rated none or low (offenders are listed).
# Examples from tldr-pages (https://github.com/tldr-pages/tldr), CC BY 4.0.
use strict;
use warnings;
use File::Temp qw(tempfile);

my $escort = $ENV{ESCORT} // 'build/escort';
my $corpus = $ENV{CORPUS} // '../shared/corpus';
my $tsv = "$corpus/tldr.tsv";
unless (-r $tsv) {
	print "1..0 # SKIP corpus not found at $tsv (set CORPUS)\n";
	exit 0;
}

# Tools that only look at the system. `find`, `env` and `ip` count only in their
# read-only forms (see readonly_example).
my @ro = qw(ls cat df ps grep egrep fgrep journalctl du free uptime whoami id uname head tail
    wc less more find stat file which date env lsblk ip ss netstat pwd hostname lscpu lsusb
    lspci w who last vmstat iostat nproc printenv cut sort uniq tr diff cmp md5sum sha1sum
    sha256sum basename dirname realpath readlink tree whereis groups lsof pgrep pstree arch
    cal nl tac rev fold column strings zcat zgrep zless hexdump od nm readelf objdump
    getent lsmod dig host nslookup ping tracepath findmnt blkid mount-info df uptime
    timedatectl-status locale tty users dmidecode-info lslogins lsns lsipc);
my %ro = map { $_ => 1 } @ro;

sub readonly_example {
	my ($name, $cmd) = @_;
	return 0 unless $ro{$name};
	if ($name eq 'find') {
		return $cmd !~ /\s-(exec|execdir|ok|okdir|delete|fprint|fprintf|fls)\b/;
	}
	if ($name eq 'env') {
		# env without a command: only options and no program after assignments
		return $cmd =~ /^env(\s+-[0iuv-]\S*)*\s*$/;
	}
	if ($name eq 'ip') {
		return $cmd =~ /^ip(\s+-\S+)*\s+(a|addr|address|l|link|r|route|n|neigh|neighbour|rule|maddr|netns)(\s+(show|list|ls|get)\b.*)?$/
		    && $cmd !~ /\b(add|del|delete|flush|set|change|replace|append)\b/;
	}
	if ($name eq 'journalctl') {
		return $cmd !~ /--(vacuum|rotate|flush|relinquish|sync|setup-keys|update-catalog)/;
	}
	if ($name eq 'ss') {
		return $cmd !~ /\s-K\b|--kill/;
	}
	if ($name eq 'sort') {
		return $cmd !~ /\s-o\b|--output/;
	}
	# redirections and pipes into other tools are not the read-only tool alone
	return $cmd !~ /[>|]|\$\(|`/;
}

open my $fh, '<:raw', $tsv or die "$tsv: $!";
<$fh>;
my @rows;
while (my $l = <$fh>) {
	chomp $l;
	my ($page, $desc, $cmd, $filled) = split /\t/, $l, 4;
	next unless defined $filled && length $filled;
	(my $name = $page) =~ s{^[^/]*/}{};
	push @rows, { page => $page, name => $name, cmd => $filled };
}
close $fh;

my ($tfh, $tname) = tempfile(UNLINK => 1);
binmode $tfh;
print $tfh join("\n", map { $_->{cmd} } @rows), "\n";
close $tfh;
open my $out, '-|', $escort, 'analyze', $tname or die "run $escort: $!";
my @res = <$out>;
close $out;

print "1..4\n";
if (@res != @rows) {
	print "not ok 1 - escort analyze returned ", scalar(@res), " records for ", scalar(@rows), "\n";
	print "not ok $_ # skipped\n" for 2 .. 4;
	exit 0;
}
print "ok 1 - one result per example (", scalar(@rows), ")\n";

my ($crit, $ro_n, $ro_ok, @crit_ro, @offenders, %crit_pages) = (0, 0, 0);
for my $i (0 .. $#rows) {
	my $r = $rows[$i];
	my ($risk) = $res[$i] =~ /"risk":"(\w+)"/;
	$risk //= 'none';
	if ($risk eq 'critical') {
		$crit++;
		$crit_pages{$r->{page}}++;
		push @crit_ro, "$r->{page}: $r->{cmd}" if $ro{$r->{name}};
	}
	next unless readonly_example($r->{name}, $r->{cmd});
	$ro_n++;
	if ($risk eq 'none' || $risk eq 'low') {
		$ro_ok++;
	} else {
		push @offenders, "$risk\t$r->{page}: $r->{cmd}";
	}
}
my $cpct = 100.0 * $crit / @rows;
printf "# tldr: %d of %d examples critical (%.2f%%)\n", $crit, scalar(@rows), $cpct;
print(($cpct <= 1.0 ? "ok" : "not ok"), sprintf(" 2 - at most 1%% of examples are critical (%.2f%%)\n", $cpct));
print "# critical from a read-only tool: $_\n" for @crit_ro;
print((@crit_ro ? "not ok" : "ok"), " 3 - no critical example comes from a read-only tool\n");
my $ropct = $ro_n ? 100.0 * $ro_ok / $ro_n : 100;
printf "# read-only tools: %d of %d examples none or low (%.2f%%)\n", $ro_ok, $ro_n, $ropct;
print "# offender: $_\n" for @offenders;
print(($ropct >= 98.0 ? "ok" : "not ok"), sprintf(" 4 - at least 98%% of read-only tools' examples are none or low (%.2f%%)\n", $ropct));
if ($ENV{VERBOSE}) {
	print "# critical page: $_ ($crit_pages{$_})\n" for sort keys %crit_pages;
}

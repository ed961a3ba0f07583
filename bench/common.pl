# bench/common.pl — shared by bench/run.pl and bench/quality.pl: where things are
# (escort, rules, build dir, corpus), corpus readers and small formatting helpers.
use strict;
use warnings;
use Cwd qw(abs_path getcwd);
use File::Path qw(make_path);

our ($ROOT, $ESCORT, $RULES, $BUILD, $CORPUS, $WORK, $BWORK);

sub bench_env {
	$ROOT = getcwd();
	$ESCORT = $ENV{ESCORT} // "$ROOT/build/escort";
	$RULES = $ENV{ESCORT_RULES} // "$ROOT/rules";
	$ENV{ESCORT_RULES} = $RULES;    # escort reads its built-in rules from here; --rules adds more
	$BUILD = $ENV{BUILD} // "$ROOT/build";
	my $c = $ENV{CORPUS} // "$ROOT/../shared/corpus";
	$CORPUS = -d $c ? abs_path($c) : $c;
	$WORK = "$ROOT/bench/.work";    # git-ignored: third-party code fetched for comparison
	$BWORK = "$BUILD/bench";        # generated inputs and outputs
	make_path($WORK, $BWORK);
}

# Reads a corpus TSV into a list of hashes keyed by the header's column names.
sub read_tsv {
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or return;
	my $hdr = <$fh>;
	return unless defined $hdr;
	chomp $hdr;
	my @cols = split /\t/, $hdr, -1;
	my @rows;
	while (my $l = <$fh>) {
		chomp $l;
		my @f = split /\t/, $l, -1;
		my %r;
		@r{@cols} = @f;
		push @rows, \%r;
	}
	close $fh;
	return \@rows;
}

# Undoes the corpus escaping (README: \\ \n \t \r \xHH), scanning left to right.
sub unescape_corpus {
	my ($s) = @_;
	$s =~ s{\\(\\|n|t|r|x([0-9A-Fa-f]{2}))}{
		$1 eq '\\' ? '\\' : $1 eq 'n' ? "\n" : $1 eq 't' ? "\t" : $1 eq 'r' ? "\r" : chr(hex($2))
	}ge;
	return $s;
}

# tldr command_filled lines as [page, command] pairs; undef when the corpus is absent.
sub tldr_rows {
	my $rows = read_tsv("$CORPUS/tldr.tsv") or return;
	return [ map { [ $_->{page}, $_->{command_filled} ] } @$rows ];
}

sub write_file {
	my ($path, $data) = @_;
	open(my $fh, '>:raw', $path) or die "$path: $!\n";
	print $fh $data;
	close $fh or die "$path: $!\n";
}

# 1234567.8 -> "1,234,568"
sub commify {
	my ($n) = @_;
	my $s = sprintf('%.0f', $n);
	1 while $s =~ s/^(-?\d+)(\d{3})/$1,$2/;
	return $s;
}

sub mib { sprintf('%.1f MiB', $_[0] / 1024) }    # from KiB

1;

# EscortTest.pm — what the TAP integration tests share: numbered checks with a plan at
# the end, running the escort binary (token, standard input, environment), and small
# file helpers. Standard input and error go through files, so a chatty command can
# never deadlock the test on a full pipe.
package EscortTest;
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempfile);
use JSON::PP;

our @EXPORT = qw(ok done escort slurp spit js);

my $n = 0;
my $fails = 0;

# ok(COND, NAME[, DIAG]): one numbered check; returns COND so callers can add
# diagnostics. The prototype puts COND in scalar context: without it a failed match
# (`ok($x =~ /re/, ...)`) is an empty list, NAME slides into COND and the check passes.
sub ok($$;$) {
	my ($c, $d, $diag) = @_;
	$n++;
	print(($c ? 'ok' : 'not ok') . " $n - $d\n");
	if (!$c) {
		$fails++;
		print map { "# $_\n" } split /\n/, $diag if defined $diag;
	}
	return $c;
}

# done(): prints the plan and exits non-zero when any check failed.
sub done {
	print "1..$n\n";
	exit($fails ? 1 : 0);
}

# escort({token => T, stdin => BYTES, env => {K => V}}, ARGS...) -> (status, out, err).
# A token of undef runs without ESCORT_TOKEN. $ENV{ESCORT} names the binary.
sub escort {
	my ($o, @args) = @_;
	my $bin = $ENV{ESCORT} // 'build/escort';
	my ($efh, $efile) = tempfile(UNLINK => 1);
	my ($ifh, $ifile) = tempfile(UNLINK => 1);
	binmode $ifh;
	print $ifh $o->{stdin} if defined $o->{stdin};
	close $ifh;
	my $pid = open(my $r, '-|');
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', $ifile) or die "stdin: $!";
		open(STDERR, '>&', $efh) or die "stderr: $!";
		if (exists $o->{token}) {
			delete $ENV{ESCORT_TOKEN};
			$ENV{ESCORT_TOKEN} = $o->{token} if defined $o->{token};
		}
		$ENV{$_} = $o->{env}{$_} for keys %{ $o->{env} // {} };
		exec { $bin } $bin, @args or die "exec $bin: $!";
	}
	binmode $r;
	local $/;
	my $out = <$r> // '';
	close $r;
	my $status = $? >> 8;
	$status = 128 + ($? & 127) if $? & 127;
	my $err = slurp($efile);
	return ($status, $out, $err);
}

sub slurp {
	my ($f) = @_;
	open my $fh, '<', $f or die "$f: $!";
	binmode $fh;
	local $/;
	my $c = <$fh> // '';
	close $fh;
	return $c;
}

sub spit {
	my ($f, $c) = @_;
	open my $fh, '>', $f or die "$f: $!";
	binmode $fh;
	print $fh $c;
	close $fh or die "$f: $!";
}

# js(TEXT): the decoded JSON, or undef when it is not JSON.
sub js {
	my $j = eval { decode_json($_[0]) };
	return $j;
}

1;

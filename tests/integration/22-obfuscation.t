#!/usr/bin/perl
# 22-obfuscation.t — lockbox sees through disguises: every variant in
# tests/fixtures/obfuscation/variants.tsv (dangerous payloads x obfuscation techniques, made
# by gen.pl there) is rated high or critical and carries obfuscation or opaque, and >= 80%
# still name the payload's own category. A differential check runs the harmless twins
# (markers.tsv, payload `printf MARKER-N`) in bash in a scratch directory and compares
# what ran with what lockbox says runs. Display tricks are flagged display-deception
# critical. Prints the measured figures.
use strict;
use warnings;
use File::Temp qw(tempdir tempfile);
use lib 'tests/lib';
use EscortTest;

my $escort = $ENV{ESCORT} // 'build/escort';
my $rules = $ENV{ESCORT_RULES} // 'rules';
my $dir = 'tests/fixtures/obfuscation';

sub decode {
	my ($s) = @_;
	$s =~ s{\\(\\|n|t|r|x([0-9A-Fa-f]{2}))}{
		$1 eq '\\' ? '\\' : $1 eq 'n' ? "\n" : $1 eq 't' ? "\t" : $1 eq 'r' ? "\r" : chr(hex($2))
	}ge;
	return $s;
}

sub read_tsv {
	my ($f) = @_;
	open my $fh, '<:raw', $f or die "$f: $!";
	my $h = <$fh>;
	chomp $h;
	my @cols = split /\t/, $h;
	my @rows;
	while (my $l = <$fh>) {
		chomp $l;
		my @v = split /\t/, $l, scalar @cols;
		my %r;
		@r{@cols} = @v;
		$r{command} = decode($r{command});
		push @rows, \%r;
	}
	return @rows;
}

# Analyzes the records (NUL-separated) and returns one decoded JSON object per record.
sub analyze {
	my @recs = @_;
	my ($st, $out, $err) = escort({ stdin => join("\0", @recs) }, 'analyze', '--null', '--rules', $rules);
	die "escort analyze failed ($st): $err" if $st != 0;
	my @j = map { js($_) } split /\n/, $out;
	die "escort analyze: " . scalar(@j) . " results for " . scalar(@recs) . " records" if @j != @recs;
	return @j;
}

sub has_cat { my ($j, $c) = @_; return scalar grep { $_ eq $c } @{ $j->{categories} // [] } }
sub high { my ($j) = @_; return $j->{risk} eq 'high' || $j->{risk} eq 'critical' }

# --- the payloads themselves: the category bar is meaningless unless lockbox names it here
my @pl = read_tsv("$dir/payloads.tsv");
my @pj = analyze(map { $_->{command} } @pl);
my @pmiss = grep { !has_cat($pj[$_], $pl[$_]{category}) } 0 .. $#pl;
ok(!@pmiss, scalar(@pl) . ' plain payloads name their own category')
    or print "# plain miss: $pl[$_]{payload} ($pl[$_]{category}): $pj[$_]{risk} @{$pj[$_]{categories}}\n" for @pmiss;

# --- the variants
my @v = read_tsv("$dir/variants.tsv");
my %payloads = map { $_->{payload} => 1 } @v;
my %techs;
$techs{ $_->{payload} }{ $_->{technique} } = 1 for @v;
my $minT = (sort { $a <=> $b } map { scalar keys %{ $techs{$_} } } keys %techs)[0];
ok(keys(%payloads) >= 40 && $minT >= 10, scalar(@v) . ' variants of ' . keys(%payloads)
    . " payloads, at least $minT techniques each");
my @vj = analyze(map { $_->{command} } @v);
my (@miss, @catmiss, %tech_miss, %tech_cat);
for my $i (0 .. $#v) {
	my ($r, $j) = ($v[$i], $vj[$i]);
	my $flag = has_cat($j, 'obfuscation') || has_cat($j, 'opaque') || $j->{opaque};
	if (!(high($j) && $flag)) {
		push @miss, $i;
		$tech_miss{ $r->{technique} }++;
	}
	if (!has_cat($j, $r->{category})) {
		push @catmiss, $i;
		$tech_cat{ $r->{technique} }++;
	}
}
my $n = @v;
my $det = 100 * ($n - @miss) / $n;
my $catr = 100 * ($n - @catmiss) / $n;
printf "# variants: %d; rated high/critical with obfuscation or opaque: %d (%.1f%%); "
    . "naming the payload's category: %d (%.1f%%)\n", $n, $n - @miss, $det, $n - @catmiss, $catr;
print "# detection misses by technique: " . join(', ', map { "$_ $tech_miss{$_}" } sort keys %tech_miss) . "\n" if %tech_miss;
print "# category misses by technique: " . join(', ', map { "$_ $tech_cat{$_}" } sort { $tech_cat{$b} <=> $tech_cat{$a} } keys %tech_cat) . "\n" if %tech_cat;
my $shown = 0;
for my $i (@miss) {
	last if ++$shown > 25;
	my $c = $v[$i]{command};
	$c =~ s/\n/\\n/g;
	print "# miss $v[$i]{id}: $vj[$i]{risk} [@{$vj[$i]{categories}}]: $c\n";
}
ok(!@miss, 'every variant is rated high or critical and carries obfuscation or opaque');
ok($catr >= 80, sprintf('%.1f%% of variants name the payload\'s own category (>= 80%%)', $catr));

# --- decoded text and path appear in the JSON
my ($b64) = grep { $v[$_]{id} eq 'cr-shadow/base64-pipe' } 0 .. $#v;
my $d = $vj[$b64]{deobfuscated} // [];
ok(@$d && grep({ $_->{text} =~ m{^cat /etc/shadow\s*$} } @$d)
    && grep({ join(' ', @{ $_->{via} // [] }) =~ /base64/ } @$d),
    'base64 pipe: the decoded text and its decoding path are in the output');

# --- differential: what lockbox says runs is what bash runs (harmless twins only)
my @m = read_tsv("$dir/markers.tsv");
my @mj = analyze(map { $_->{command} } @m);
my $scratch = tempdir(CLEANUP => 1);
my ($claimed, $agree, @disagree, $skipped) = (0, 0);
$skipped = 0;

# Runs text in bash in the scratch directory; `restricted`: bash -r with no PATH, so only
# builtins run (printf) and nothing can be written: for lockbox's claims.
sub run_bash {
	my ($text, $restricted) = @_;
	my $pid = open(my $r, '-|');
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		chdir $scratch or exit 127;
		open(STDIN, '<', '/dev/null');
		open(STDERR, '>', '/dev/null');
		%ENV = (PATH => '/usr/bin:/bin', HOME => $scratch, LC_ALL => 'C');
		exec 'timeout', '10', 'env', 'PATH=/nonexistent', '/bin/bash', '-r', '-c', $text or exit 127
		    if $restricted;
		exec 'timeout', '10', 'bash', '-c', $text or exit 127;
	}
	local $/;
	my $o = <$r> // '';
	close $r;
	return $o;
}

for my $i (0 .. $#m) {
	my ($r, $j) = ($m[$i], $mj[$i]);
	my @texts = map { $_->{text} } @{ $j->{deobfuscated} // [] };
	next unless @texts;
	$claimed++;
	# what lockbox says runs (the last: the whole record when it was rewritten), run in a
	# restricted bash where only builtins work
	# (a program named by its standard path, /usr/bin/printf, runs as the builtin there)
	(my $claim = $texts[-1]) =~ s!(^|[\s;&(])/(?:usr/)?(?:local/)?s?bin/(?=\w)!$1!g;
	my $said = run_bash($claim, 1);
	my $interp = $r->{command} =~ /^(\w+)/ ? $1 : '';
	if ($interp =~ /^(python3|perl|ruby|php|node|lua|awk)$/
	    && system("command -v $interp >/dev/null 2>&1") != 0) {
		# cannot run the original here: compare with the marker instead
		$skipped++;
		if ($said eq $r->{marker}) { $agree++ } else { push @disagree, "$r->{id}: lockbox '$said'" }
		next;
	}
	my $ran = run_bash($r->{command});
	if ($ran eq $said && $ran eq $r->{marker}) {
		$agree++;
	} else {
		push @disagree, "$r->{id}: bash '$ran', lockbox '$said'";
	}
}
printf "# differential: %d harmless variants, lockbox claims a deobfuscated form for %d, "
    . "bash agrees on %d (%.1f%%)%s\n", scalar(@m), $claimed, $agree,
    $claimed ? 100 * $agree / $claimed : 0, $skipped ? " ($skipped interpreters missing: compared with the marker)" : '';
print "# disagree: $_\n" for @disagree;
ok($claimed >= 0.8 * @m, "lockbox claims a deobfuscated form for $claimed of " . scalar(@m) . ' harmless variants');
ok(!@disagree, 'what lockbox says runs is what bash runs');

# --- display deception: each trick is flagged display-deception, critical
my @dd = (
	[ 'C0 control', "ls\x07 /tmp" ],
	[ 'C1 control', "ls \xc2\x9b /tmp" ],
	[ 'DEL', "ls\x7f /tmp" ],
	[ 'ANSI CSI', "echo hi \x1b[2K\x1b[1Gls /tmp" ],
	[ 'OSC', "echo \x1b]0;title\x07 hi" ],
	[ 'CR overwrite', "rm -rf /srv/data\rls -l /srv/data" ],
	[ 'bidi RLO', "ls /tmp/\xe2\x80\xaetxt.exe" ],
	[ 'bidi isolate', "ls \xe2\x81\xa6/tmp\xe2\x81\xa9" ],
	[ 'LRM', "ls /tmp\xe2\x80\x8e" ],
	[ 'ALM', "ls /tmp\xd8\x9c" ],
	[ 'zero-width space', "l\xe2\x80\x8bs /tmp" ],
	[ 'word joiner', "ls /t\xe2\x81\xa0mp" ],
	[ 'BOM', "\xef\xbb\xbfls /tmp" ],
	[ 'soft hyphen', "ls /tm\xc2\xadp" ],
	[ 'tag character', "ls /tmp \xf3\xa0\x80\xa1" ],
	[ 'Cyrillic in command name', "\xd1\x81at /etc/hosts" ],
	[ 'Greek in path', "cat /etc/h\xce\xbfsts" ],
	[ 'invalid UTF-8', "ls /tmp/\xff\xfe" ],
	[ 'whitespace run', 'ls /tmp' . (' ' x 200) . '; rm -rf /srv' ],
);
my @ddj = analyze(map { $_->[1] } @dd);
for my $i (0 .. $#dd) {
	my @f = grep { $_->{category} eq 'display-deception' && $_->{severity} eq 'critical' }
	    @{ $ddj[$i]{findings} // [] };
	ok(@f && $ddj[$i]{risk} eq 'critical', "display deception flagged critical: $dd[$i][0]")
	    or print "# got $ddj[$i]{risk}: " . join(', ', map { "$_->{id}/$_->{severity}" } @{ $ddj[$i]{findings} }) . "\n";
}
# ... but ordinary non-ASCII text is not deception
my @benign = ("echo 'Grüße aus Köln'", "grep -r 'Привет мир' /srv/docs", "printf 'a\\tb\\n'", "echo \"\xce\xb1\xce\xb2\xce\xb3\"");
my @bj = analyze(@benign);
ok(!grep({ my $j = $_; grep { $_->{category} =~ /^(display-deception|obfuscation|opaque)$/ } @{ $j->{findings} } } @bj),
    'non-Latin text in arguments and ordinary escapes are not flagged');

# --- rendering: escort explain shows the decoded text and escapes control characters
my ($st, $out) = escort({}, 'explain', '--rules', $rules, 'echo Y2F0IC9ldGMvc2hhZG93 | base64 -d | sh');
ok($st <= 3 && $out =~ m{cat /etc/shadow}, 'explain shows the decoded command') or print "# $out\n";

done();

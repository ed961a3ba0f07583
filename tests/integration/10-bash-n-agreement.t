#!/usr/bin/perl
# 10-bash-n-agreement.t — lockbox's parser must accept/reject exactly what `bash -n` does.
# Runs bash -n on every record of the tldr and GTFOBins corpora and on a generated set of
# valid and broken variations, compares with build/tools/lb_parsecheck, fails below 99.9%.
use strict;
use warnings;
use File::Temp qw(tempfile);
use POSIX qw(_exit);

my $root = '.';
my $corpus = $ENV{CORPUS} // "$root/../shared/corpus";
my $build = $ENV{BUILD} // "$root/build";
my $check = "$build/tools/lb_parsecheck";
my $min = 99.9;
my $jobs = $ENV{JOBS} // 3;

if (!-r "$corpus/tldr.tsv" || !-r "$corpus/gtfobins.tsv") {
	print "1..0 # SKIP corpus not found (set CORPUS; looked in $corpus)\n";
	exit 0;
}
if (!-x $check) {
	print "1..0 # SKIP $check not built (make $check)\n";
	exit 0;
}
my $bash = '/bin/bash';
$bash = 'bash' unless -x $bash;
delete $ENV{BASH_ENV};
delete $ENV{ENV};

# ---- corpora ------------------------------------------------------------------------

sub read_tsv {
	my ($file, $col) = @_;
	open(my $fh, '<:raw', $file) or die "$file: $!";
	my $hdr = <$fh>;
	chomp $hdr;
	my @h = split /\t/, $hdr, -1;
	my ($ci) = grep { $h[$_] eq $col } 0 .. $#h;
	die "$file: no column $col" unless defined $ci;
	my @r;
	while (my $l = <$fh>) {
		chomp $l;
		my @f = split /\t/, $l, -1;
		push @r, $f[$ci] if defined $f[$ci];
	}
	return \@r;
}

# gtfobins escaping: \\ \n \t \r \xHH, scanned left to right
sub unescape {
	my ($s) = @_;
	$s =~ s/\\(\\|n|t|r|x([0-9A-Fa-f]{2}))/
		$1 eq '\\' ? '\\' : $1 eq 'n' ? "\n" : $1 eq 't' ? "\t" : $1 eq 'r' ? "\r" : chr(hex($2))/ge;
	return $s;
}

# ---- generated variations -------------------------------------------------------------

sub generated {
	srand(20260);
	my @base = (
		'echo hello world', 'ls -la /tmp | grep x > out 2>&1', 'a=1 b=(x y) c+=z cmd',
		'if true; then echo a; elif false; then echo b; else echo c; fi',
		'for i in 1 2 3; do echo $i; done', 'for ((i=0;i<3;i++)); do :; done',
		'while read -r l; do echo "$l"; done < f', 'until false; do break; done',
		'case $x in a|b) echo ab;; (c) echo c;& *) echo d;;& esac',
		'f() { echo "$@"; }', 'function g { local x=1; }', 'function h() ( exit 1 )',
		'[[ -f $f && $x == y* || ! -d /tmp ]]', '[[ $a =~ ^(x|y)[0-9]+$ ]]', '(( x = 1 + 2 ))',
		'echo $(date) `id` $((1+2)) $[3*4] ${x:-y} ${#x} ${!p} ${x[1]} ${x:1:2} ${x//a/b}',
		'cat <<EOF
$HOME $(id)
EOF', 'cat <<-"E"
	tab
	E', 'diff <(ls a) >(wc -l)', 'coproc cat', 'coproc N { cat; }', 'time -p ls', '! false',
		'select x in a b; do echo $x; done', "echo \$'a\\tb' \$\"loc\" 'sq' \"dq \$x\"",
		'exec 3<>/dev/tcp/10.0.0.1/4444; cat <&3 >&3', 'echo {a,b}{1..3} ~/x ~root a*b?[ch]',
		'{ echo a; echo b; } | tee f', 'x=$(case y in y) echo z;; esac)',
		'echo "$(echo "nested $(echo deep)")"', 'a && b || c & d; e |& f',
		'cmd >| f >> g <> h <&0 &> i &>> j <<< "s" {fd}>k', 'echo \\ a\\
b # comment', "echo 'it'\\''s'", 'x=(
 1 # c
 2)', 'declare -a arr=(1 2)', 'ls !(*.txt)', 'echo ((x))', 'a | ! b',
	);
	my @tokens = ('(', ')', '{', '}', ';', ';;', '&', '&&', '||', '|', '"', "'", '`', '$(',
		'${', '$((', '))', 'do', 'done', 'if', 'then', 'fi', 'else', 'case', 'esac', 'in',
		'for', 'while', '[[', ']]', '<<EOF', "\n", '<', '>', '2>&1', '!', 'time', 'x=(',
		'function', '\\', '#', 'EOF', '=~', '-f', '<(', '>(', 'select', 'coproc', '$[');
	my @out;
	for my $b (@base) {
		push @out, $b;
		for my $i (1 .. length($b) - 1) { push @out, substr($b, 0, $i) }
	}
	for (1 .. 1500) {
		my $b = $base[int(rand(@base))];
		my $p = int(rand(length($b) + 1));
		my $r = rand();
		if ($r < 0.35) {
			substr($b, $p, 1) = '' if $p < length($b);
		} elsif ($r < 0.8) {
			substr($b, $p, 0) = $tokens[int(rand(@tokens))] . (rand() < 0.5 ? ' ' : '');
		} else {
			my $q = int(rand(length($b) + 1));
			($p, $q) = ($q, $p) if $q < $p;
			$b = substr($b, 0, $p) . substr($b, $q);
		}
		push @out, $b;
	}
	for (1 .. 1500) {
		my $n = 1 + int(rand(6));
		push @out, join(' ', map { $tokens[int(rand(@tokens))] } 1 .. $n) . (rand() < 0.5 ? ' x' : '');
	}
	# token soup: words, operators, keywords and quoting pieces glued at random
	my @soup = ('echo', 'a', 'x=1', 'y=(a b)', 'z[1]=2', '"q $x"', "'s'", '$x', '${x:-y}',
		'${#x}', '$(id)', '`id`', '$((1+2))', '$[1]', '|', '|&', '&&', '||', ';', '&', ';;',
		';&', ';;&', "\n", '(', ')', '((', '))', '{', '}', '[[', ']]', '!', 'time', '-p', 'if',
		'then', 'elif', 'else', 'fi', 'for', 'in', 'do', 'done', 'while', 'until', 'case',
		'esac', 'select', 'function', 'coproc', '<', '>', '>>', '<<EOF', '<<-EOF', '<<<',
		'2>&1', '<&', '>&', '&>', '&>>', '>|', '<>', '{fd}>', '3<', 'EOF', "\tEOF", '=~',
		'==', '-f', '-eq', '<(', '>(', '$(', '${', '"', "'", '`', '\\', '#', '~', '*', '?',
		'[a]', '{a,b}', '{1..3}', "\$'\\n'", '$"l"', 'f()', 'x', 'y', '--', '=', '+=',
		'a[', 'b]', '@(x)', '!(x)', '$', '$@', "\\\n", ' ');
	for (1 .. 2500) {
		my $s = '';
		for (1 .. 1 + int(rand(12))) {
			$s .= $soup[int(rand(@soup))] . (rand() < 0.7 ? ' ' : '');
		}
		$s =~ s/^ +| +$//g;
		push @out, $s;
	}
	# multi-line scripts: here-documents, substitutions and compound commands spanning
	# lines, glued together and sometimes damaged
	my @frags = ("cat <<EOF\nbody \$x \$(id)\nEOF\n", "cat <<-\"E\"\n\tq \$y\n\tE\n",
		"x=\$(cat <<E\na)b\nE\n)\n", "a <<A <<B\n1\nA\n2\nB\n",
		"if a\nthen\n b\nelif c\nthen d\nelse\n e\nfi\n", "for i in 1 2\ndo\n echo \$i\ndone\n",
		"while read l\ndo :\ndone < f\n", "case \$1 in\n a) x;;\n (b|c)\n  y\n  ;&\n *) ;;&\nesac\n",
		"f() {\n  local x=\$1\n  echo \"\${x:-d}\"\n}\n", "{\n a\n b\n} >out\n", "( cd /\n  ls )\n",
		"echo \$(\n case x in x) echo;;\n esac\n)\n", "echo \"multi\nline \$(\n id\n)\"\n",
		"a &&\n b ||\n c\n", "a |\n b\n", "arr=(\n 1\n # c\n 2\n)\n", "[[ -f x &&\n -d y ]]\n",
		"(( a = \n 1 + 2 ))\n", "echo `\nid\n`\n", "echo 'a\nb'\n", "echo \\\n x\n",
		"cat <<EOF | grep x\n\$(echo \")\")\nEOF\n",
		"cat <<EOF; echo \"\$(cat <<F\ninner\nF\n)\"\nouter\nEOF\n", "# comment )\n",
		"select x in a\ndo break; done\n", "coproc n {\n cat\n}\n", "time {\n a\n}\n",
		"echo \$((\n1+\n2))\n", "until x; do\n :\ndone\n", "x=\$(cat <<E\na\nE)\n");
	my @dmg = (split(//, "'\"`\$(){};|&<>\n\\#"), "EOF\n", "\n", 'done', 'fi', 'esac');
	for (1 .. 1500) {
		my $s = join('', map { $frags[int(rand(@frags))] } 1 .. 1 + int(rand(4)));
		if (rand() < 0.6) {
			for (1 .. 1 + int(rand(2))) {
				my $p = int(rand(length($s) + 1));
				if (rand() < 0.5) { substr($s, $p, 1) = '' if $p < length($s) }
				else { substr($s, $p, 0) = $dmg[int(rand(@dmg))] }
			}
		}
		$s =~ s/\n+$// if rand() < 0.3;
		push @out, $s;
	}
	my %seen;
	return [grep { length($_) && !$seen{$_}++ } @out];
}

# ---- bash -n, in parallel ---------------------------------------------------------------

# bash -n sometimes prints a syntax error and still exits 0 (e.g. `[[ a b ]]`); any
# non-warning line on stderr counts as a rejection.
my %bash_cache;

sub bash_verdicts {
	my ($all) = @_;
	# identical records (common in the corpora) are checked once
	my (%idx, $recs);
	$recs = [];
	for my $r (@$all) {
		next if exists $bash_cache{$r} || exists $idx{$r};
		$idx{$r} = scalar(@$recs);
		push @$recs, $r;
	}
	my @v;
	my $n = @$recs;
	my @kids;
	for my $j (0 .. $jobs - 1) {
		my ($fh, $tmp) = tempfile(UNLINK => 1);
		my $pid = fork() // die "fork: $!";
		if (!$pid) {
			for (my $i = $j; $i < $n; $i += $jobs) {
				my $out = '';
				my $kid = open(my $rd, '-|');
				die "fork: $!" unless defined $kid;
				if (!$kid) {
					open(STDERR, '>&', \*STDOUT);
					open(STDIN, '<', '/dev/null');
					exec($bash, '-n', '-c', '--', $recs->[$i]) or _exit(127);
				}
				{ local $/; $out = <$rd> // ''; }
				close($rd);
				my $rc = $? >> 8;
				# warnings are not rejections; a here-doc delimiter may hold a newline
				$out =~ s/[^\n]*warning: here-document at line \d+ delimited by end-of-file \(wanted `.*?'\)//sg;
				my $bad = $rc != 0 || grep { /\S/ && !/warning:/ } split /\n/, $out;
				print $fh "$i " . ($bad ? 1 : 0) . "\n";
			}
			close($fh);
			_exit(0);
		}
		push @kids, [$pid, $tmp];
	}
	for my $k (@kids) {
		waitpid($k->[0], 0);
		open(my $in, '<', $k->[1]) or die;
		while (<$in>) { my ($i, $b) = split; $v[$i] = $b; }
	}
	$bash_cache{$recs->[$_]} = $v[$_] for 0 .. $n - 1;
	return [map { $bash_cache{$_} } @$all];
}

sub our_verdicts {
	my ($recs) = @_;
	my ($fh, $tmp) = tempfile(UNLINK => 1);
	binmode $fh;
	print $fh join("\0", @$recs);
	close $fh;
	open(my $out, '-|', "$check -0 < $tmp") or die "$check: $!";
	my @v;
	while (my $l = <$out>) {
		chomp $l;
		push @v, $l;
	}
	close $out;
	return \@v;
}

sub show {
	my ($s) = @_;
	$s =~ s/([\x00-\x1f\\])/sprintf('\\x%02x', ord($1))/ge;
	return length($s) > 160 ? substr($s, 0, 160) . '...' : $s;
}

my @sets = (
	['tldr', read_tsv("$corpus/tldr.tsv", 'command_filled')],
	['gtfobins', [map { unescape($_) } @{read_tsv("$corpus/gtfobins.tsv", 'snippet')}]],
	['generated', generated()],
);
@sets = grep { my $n = $_->[0]; grep { $_ eq $n } split /,/, $ENV{SETS} } @sets if $ENV{SETS};
print "1..", scalar(@sets), "\n";
my $t = 0;
for my $set (@sets) {
	my ($name, $recs) = @$set;
	$t++;
	my $b = bash_verdicts($recs);
	my $o = our_verdicts($recs);
	my ($agree, $total, $shown) = (0, scalar(@$recs), 0);
	for my $i (0 .. $total - 1) {
		my $ours = defined $o->[$i] && $o->[$i] eq 'ok' ? 0 : 1;
		if (defined $b->[$i] && $ours == $b->[$i]) {
			$agree++;
			next;
		}
		next if $shown++ >= 60;
		printf "# %s: bash %s, lockbox %s: %s\n", $name, ($b->[$i] // 1) ? 'rejects' : 'accepts',
			$o->[$i] // 'missing', show($recs->[$i]);
	}
	my $pct = $total ? 100.0 * $agree / $total : 100;
	my $ok = $pct >= $min ? 'ok' : 'not ok';
	printf "%s %d - %s: %d/%d agree with bash -n (%.3f%%)\n", $ok, $t, $name, $agree, $total, $pct;
}

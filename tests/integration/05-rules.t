#!/usr/bin/perl
# 05-rules.t — validates the shipped knowledge base (rules/commands/*.yaml, rules/paths.yaml)
# against docs/rules.md: YAML parses, version 1, known keys only, fixed category vocabulary,
# valid risks/roles/flags/handlers, ATT&CK id syntax, no duplicate programs, coverage; then
# that the real loader accepts it and a few reference commands get the intended rating.
use strict;
use warnings;
use JSON::PP;
use File::Temp ();

my $rules = $ENV{ESCORT_RULES} || 'rules';
my @cmdfiles = sort glob("$rules/commands/*.yaml");
my $pathsfile = "$rules/paths.yaml";

# Parse YAML with whatever full parser is present (the loader itself uses libyaml; this
# test checks the data independently of it). Returns a Perl structure or dies.
sub load_yaml {
	my ($file) = @_;
	if (eval { require YAML::XS; 1 }) {
		no warnings "once";
		local $YAML::XS::Boolean = "JSON::PP";
		return YAML::XS::LoadFile($file);
	}
	if (eval { require YAML::PP; 1 }) {
		return YAML::PP->new(schema => ['Core'])->load_file($file);
	}
	# one python3 run parses every file (starting python per file is slow)
	our %PY;
	unless (%PY) {
		my $py = 'import sys, json, yaml
out = {}
for f in sys.argv[1:]:
    try:
        out[f] = {"ok": yaml.safe_load(open(f, encoding="utf-8"))}
    except Exception as e:
        out[f] = {"error": str(e)}
print(json.dumps(out))';
		open(my $fh, '-|', 'python3', '-c', $py, @cmdfiles, $pathsfile) or die "cannot run python3: $!\n";
		local $/;
		my $json = <$fh>;
		close($fh) or die "python3 YAML parsing failed\n";
		%PY = %{ JSON::PP->new->decode($json) };
	}
	my $r = $PY{$file} or die "not parsed\n";
	die "$r->{error}\n" if exists $r->{error};
	return $r->{ok};
}

my $have_parser = eval { require YAML::XS; 1 } || eval { require YAML::PP; 1 }
	|| system('python3', '-c', 'import yaml') == 0;
# Without a YAML parser of our own, tests 1-2 are skipped; test 3 (the real loader, which
# rejects any malformed file) still runs.

my %CAT = map { $_ => 1 } qw(file-read file-write file-delete config-change credential-access
	network-download network-upload network-connect network-listen reverse-shell bind-shell
	remote-exec code-exec shell-escape privilege-escalation persistence account-change
	permission-change service-change security-disable log-tamper destructive package-install
	kernel-module process-kill obfuscation display-deception opaque recon);
my %RISK = map { $_ => 1 } qw(none low medium high critical);
my %ROLE = map { $_ => 1 } qw(none read write append delete modify exec command code host url
	listen user group service package module device mode pattern text dir);
my %FLAG = map { $_ => 1 } qw(recursive force in-place listen upload download-to exec shell
	interactive background no-verify setuid all stdout);
my %HANDLER = map { $_ => 1 } qw(find xargs tar dd chmod sh ssh su env busybox curl wget nc
	socat openssl interpreter sed awk);
my %ARG = map { $_ => 1 } qw(none required optional);
my %SPEC_KEYS = map { $_ => 1 } qw(name aliases extend describe explain risk categories attack operands stdin
	first last readonly handler wrapper options subcommands);
my %SUB_KEYS = map { $_ => 1 } qw(names describe explain risk categories attack operands stdin first
	last readonly handler wrapper options);
my %OPT_KEYS = map { $_ => 1 } qw(names arg role flag flags risk categories attack operands explain describe readonly);
my %PATH_KEYS = map { $_ => 1 } qw(match describe read write delete exec);
my %EFFECT_KEYS = map { $_ => 1 } qw(risk categories attack);
my $ATTACK = qr/^T\d{4}(?:\.\d{3})?$/;

my $tests = 0;
my @fail;
sub problem { push @fail, join('', @_) }

# A real string: YAML 1.1 parsers read unquoted yes/on/-1 as booleans or numbers, so such
# words must be quoted in the rules for every parser to agree.
my $JS = JSON::PP->new->allow_nonref;
sub is_str { my ($v) = @_; return defined($v) && !ref($v) && $v ne '' && $JS->encode($v) =~ /^"/ }

sub is_list_of_strings {
	my ($v) = @_;
	return 0 unless ref($v) eq 'ARRAY' && @$v;
	for (@$v) { return 0 unless is_str($_) }
	return 1;
}

sub check_common {
	my ($where, $h) = @_;
	if (exists $h->{risk} && !(defined $h->{risk} && !ref $h->{risk} && $RISK{$h->{risk}})) {
		problem("$where: bad risk '", $h->{risk} // 'null', "'");
	}
	if (exists $h->{categories}) {
		if (ref($h->{categories}) ne 'ARRAY') { problem("$where: categories is not a list") }
		else { $CAT{$_ // ''} or problem("$where: unknown category '", $_ // 'null', "'") for @{ $h->{categories} } }
	}
	if (exists $h->{attack}) {
		if (ref($h->{attack}) ne 'ARRAY') { problem("$where: attack is not a list") }
		else { ($_ // '') =~ $ATTACK or problem("$where: bad ATT&CK id '", $_ // 'null', "'") for @{ $h->{attack} } }
	}
	for my $k (qw(describe explain)) {
		next unless exists $h->{$k};
		problem("$where: $k must be a non-empty string") if !defined $h->{$k} || ref $h->{$k} || $h->{$k} eq '';
		if (defined $h->{$k} && !ref $h->{$k}) {
			for my $ph ($h->{$k} =~ /\{([^}]*)\}/g) {
				$ph =~ /^(operands|first|last|rest|arg|text)$/ or problem("$where: unknown template field {$ph}");
			}
		}
	}
}

sub check_roles {
	my ($where, $h) = @_;
	my $seen_opt = {};
	for my $k (qw(operands last stdin)) {
		next unless exists $h->{$k};
		$ROLE{$h->{$k} // ''} or problem("$where: unknown role in $k: '", $h->{$k} // 'null', "'");
	}
	if (exists $h->{first}) {
		if (ref($h->{first}) ne 'ARRAY') { problem("$where: first is not a list") }
		else { $ROLE{$_ // ''} or problem("$where: unknown role in first: '", $_ // 'null', "'") for @{ $h->{first} } }
	}
	if (exists $h->{readonly} && !(JSON::PP::is_bool($h->{readonly}) || ($h->{readonly} // '') =~ /^(?:0|1|true|false)$/)) {
		problem("$where: readonly must be a boolean");
	}
	if (exists $h->{handler}) {
		$HANDLER{$h->{handler} // ''} or problem("$where: unknown handler '", $h->{handler} // 'null', "'");
	}
	if (exists $h->{wrapper}) {
		my $w = $h->{wrapper};
		if (ref($w) ne 'HASH') { problem("$where: wrapper must be a mapping") }
		else {
			for (keys %$w) { $_ eq 'skip' or problem("$where: unknown wrapper key '$_'") }
			(defined $w->{skip} && $w->{skip} =~ /^\d+$/) or problem("$where: wrapper.skip must be a number");
		}
	}
	# a read-only spec must not be able to write anything on its own
	if ($h->{readonly} && ($h->{readonly} eq '1' || $h->{readonly} eq 'true')) {
		for my $r (($h->{operands} // ()), ($h->{last} // ()), @{ $h->{first} // [] }) {
			$r =~ /^(write|append|delete|modify)$/ and problem("$where: readonly but has a '$r' role");
		}
	}
	if (exists $h->{options}) {
		if (ref($h->{options}) ne 'ARRAY') { problem("$where: options is not a list"); return }
		my $i = 0;
		for my $o (@{ $h->{options} }) {
			my $ow = "$where option #" . $i++;
			if (ref($o) ne 'HASH') { problem("$ow: not a mapping"); next }
			$OPT_KEYS{$_} or problem("$ow: unknown key '$_'") for sort keys %$o;
			if (exists $o->{readonly} && !(JSON::PP::is_bool($o->{readonly}) || ($o->{readonly} // '') =~ /^(?:0|1|true|false)$/)) {
				problem("$ow: readonly must be a boolean");
			}
			is_list_of_strings($o->{names}) or problem("$ow: names must be a non-empty list of strings");
			for my $n (@{ ref $o->{names} eq 'ARRAY' ? $o->{names} : [] }) {
				next unless defined $n && !ref $n;
				# -x, --long, -single-dash-long, NAME= prefix words (dd's if=) or literal words
				# (+i, u+s, 0, su's lone "-"); never blank, never with spaces, never "--"
				($n =~ /^\S+$/ && $n ne '--')
					or problem("$ow: malformed option name '$n'");
				$seen_opt->{$n}++ and problem("$ow: option '$n' listed twice");
			}
			$ow .= ' (' . join(',', map { $_ // '' } @{ ref $o->{names} eq 'ARRAY' ? $o->{names} : [] }) . ')';
			exists $o->{arg} and !$ARG{$o->{arg} // ''} and problem("$ow: bad arg '", $o->{arg} // 'null', "'");
			exists $o->{role} and !$ROLE{$o->{role} // ''} and problem("$ow: unknown role '", $o->{role} // 'null', "'");
			exists $o->{operands} and !$ROLE{$o->{operands} // ''} and problem("$ow: unknown operands role");
			for my $fk (qw(flag flags)) {
				next unless exists $o->{$fk};
				for my $f (ref $o->{$fk} eq 'ARRAY' ? @{ $o->{$fk} } : ($o->{$fk})) {
					$FLAG{$f // ''} or problem("$ow: unknown flag '", $f // 'null', "'");
				}
			}
			# (an option with a role and no `arg` takes a required argument: the loader's rule)
			check_common($ow, $o);
		}
	}
}

my (%owner, $nprog, %files_with);
for my $file ($have_parser ? @cmdfiles : ()) {
	(my $base = $file) =~ s{.*/}{};
	my $ours = $base !~ /^zz-/;
	$tests++;
	my $doc = eval { load_yaml($file) };
	if (!$doc) { problem("$base: does not parse: ", $@ // 'empty document'); next }
	if (ref($doc) ne 'HASH') { problem("$base: top level is not a mapping"); next }
	($doc->{version} // '') eq '1' or problem("$base: version must be 1");
	for (sort keys %$doc) { /^(version|commands)$/ or problem("$base: unknown top-level key '$_'") }
	if (ref($doc->{commands}) ne 'ARRAY') { problem("$base: commands must be a list"); next }
	my $i = 0;
	for my $c (@{ $doc->{commands} }) {
		my $where = "$base: command #" . $i++;
		if (ref($c) ne 'HASH') { problem("$where: not a mapping"); next }
		$where .= ' (' . ($c->{name} // '?') . ')';
		$SPEC_KEYS{$_} or problem("$where: unknown key '$_'") for sort keys %$c;
		my $extend = ($c->{extend} // '') =~ /^(?:1|true|yes)$/ || (ref $c->{extend} && $c->{extend});
		for my $req ($extend ? qw(name) : qw(name describe explain risk)) {
			exists $c->{$req} or problem("$where: missing $req");
		}
		exists $c->{name} && !is_str($c->{name}) and problem("$where: name must be a (quoted) string");
		my @names = ($c->{name} // ());
		if (exists $c->{aliases}) {
			is_list_of_strings($c->{aliases}) ? push(@names, @{ $c->{aliases} })
				: problem("$where: aliases must be a list of strings");
		}
		for my $n (@names) {
			$n =~ m{/} and problem("$where: program name '$n' contains a slash");
			next unless $ours && !$extend;
			if ($owner{$n}) { problem("$where: program '$n' already defined in $owner{$n}") }
			else { $owner{$n} = $base; $nprog++ }
		}
		check_common($where, $c);
		check_roles($where, $c);
		if (exists $c->{subcommands}) {
			if (ref($c->{subcommands}) ne 'ARRAY') { problem("$where: subcommands is not a list"); next }
			my $j = 0;
			my %seen_sub;
			for my $s (@{ $c->{subcommands} }) {
				my $sw = "$where subcommand #" . $j++;
				if (ref($s) ne 'HASH') { problem("$sw: not a mapping"); next }
				$SUB_KEYS{$_} or problem("$sw: unknown key '$_'") for sort keys %$s;
				is_list_of_strings($s->{names}) or problem("$sw: names must be a non-empty list of strings");
				$sw .= ' (' . join(',', @{ ref $s->{names} eq 'ARRAY' ? $s->{names} : [] }) . ')';
				for my $n (@{ ref $s->{names} eq 'ARRAY' ? $s->{names} : [] }) {
					next unless defined $n && !ref $n;
					$n =~ /^-/ and problem("$sw: subcommand name '$n' looks like an option");
					$seen_sub{$n}++ and problem("$sw: subcommand '$n' listed twice");
				}
				check_common($sw, $s);
				check_roles($sw, $s);
			}
		}
	}
}

# paths.yaml
$tests++;
my $paths = $have_parser && -f $pathsfile ? eval { load_yaml($pathsfile) } : undef;
if (!$have_parser) {
	# nothing to check without a parser
} elsif (!$paths || ref($paths) ne 'HASH') { problem("paths.yaml: missing or does not parse: ", $@ // '') }
else {
	($paths->{version} // '') eq '1' or problem("paths.yaml: version must be 1");
	for (sort keys %$paths) { /^(version|paths)$/ or problem("paths.yaml: unknown top-level key '$_'") }
	my $i = 0;
	for my $p (@{ ref $paths->{paths} eq 'ARRAY' ? $paths->{paths} : [] }) {
		my $where = "paths.yaml: entry #" . $i++;
		if (ref($p) ne 'HASH') { problem("$where: not a mapping"); next }
		$PATH_KEYS{$_} or problem("$where: unknown key '$_'") for sort keys %$p;
		is_list_of_strings($p->{match}) or problem("$where: match must be a non-empty list of strings");
		$where .= ' (' . join(',', @{ ref $p->{match} eq 'ARRAY' ? $p->{match} : [] }) . ')';
		exists $p->{describe} or problem("$where: missing describe");
		my $n = 0;
		for my $k (qw(read write delete exec)) {
			next unless exists $p->{$k};
			$n++;
			if (ref($p->{$k}) ne 'HASH') { problem("$where: $k must be a mapping"); next }
			$EFFECT_KEYS{$_} or problem("$where: $k: unknown key '$_'") for sort keys %{ $p->{$k} };
			check_common("$where $k", $p->{$k});
		}
		$n or problem("$where: no read/write/delete/exec consequence");
	}
	$i >= 40 or problem("paths.yaml: only $i entries");
}

print "1..5\n";
if (!$have_parser) {
	print "ok 1 # SKIP no YAML parser (YAML::XS, YAML::PP or python3-yaml) to check the schema\n";
	print "ok 2 # SKIP no YAML parser to count programs\n";
} elsif (@fail) {
	print "not ok 1 - knowledge base is valid (", scalar(@fail), " problems)\n";
	print "# $_\n" for @fail;
} else {
	print "ok 1 - ", scalar(@cmdfiles), " command files and paths.yaml are valid\n";
}
if ($have_parser) {
	$nprog //= 0;
	print(($nprog >= 250 ? "ok" : "not ok"), " 2 - at least 250 distinct programs (have $nprog)\n");
	print "# programs: $nprog in ", scalar(grep { !m{/zz-[^/]*$} } @cmdfiles), " files\n";
}

# 3: the real loader accepts the shipped rules (needs the CLI; skipped until it exists)
# 4: the data means what it says: a few commands whose rating comes from these rules
my $escort = $ENV{ESCORT} // '';
my @golden = (
	# command, lowest acceptable risk, highest acceptable risk
	['ls -la /etc', 'none', 'none'],
	['cat /tmp/file.txt', 'none', 'none'],
	['ps aux', 'none', 'none'],
	['systemctl status nginx', 'none', 'none'],
	['journalctl -u nginx -f', 'none', 'none'],
	['iptables -L -n', 'none', 'none'],
	['git status', 'none', 'none'],
	['cp /tmp/a /tmp/b', 'low', 'low'],
	['apt install nginx', 'medium', 'medium'],
	['systemctl restart nginx', 'medium', 'medium'],
	['cat /etc/shadow', 'high', 'critical'],
	['cat ~/.ssh/id_rsa', 'high', 'critical'],
	['cat ~/.ssh/id_rsa.pub', 'none', 'low'],
	['iptables -F', 'high', 'critical'],
	['setenforce 0', 'high', 'critical'],
	['history -c', 'high', 'critical'],
	['journalctl --vacuum-time=1d', 'high', 'critical'],
	['useradd -o -u 0 toor', 'critical', 'critical'],
	['echo x >> /etc/ld.so.preload', 'critical', 'critical'],
	['dd if=/dev/zero of=/dev/sda', 'critical', 'critical'],
	['mkfs.ext4 /dev/sdb1', 'critical', 'critical'],
	['rm -rf /', 'critical', 'critical'],
	['insmod /tmp/x.ko', 'high', 'critical'],
	['docker run --privileged -it ubuntu', 'critical', 'critical'],
	['crontab -e', 'high', 'critical'],
	['timeout -s KILL 10 rm /etc/shadow', 'critical', 'critical'],
	['sudo -u bob nice -n 5 cat /etc/shadow', 'high', 'critical'],
	['kubectl exec -n prod web -- rm -rf /var/lib/mysql', 'critical', 'critical'],
	# readonly options: listing or dry-run forms of risky tools
	['crontab -l', 'none', 'low'],
	['fdisk -l', 'none', 'low'],
	['wipefs -n /dev/sda', 'none', 'low'],
	['wipefs -n -a /dev/sda', 'none', 'low'],
	['passwd -S bob', 'none', 'low'],
	['modprobe -n dummy', 'none', 'low'],
	['git clean -n', 'none', 'low'],
	['service auditd stop', 'high', 'critical'],
	['rm -rf /var/log', 'high', 'critical'],
);
if (-x $escort) {
	local $ENV{ESCORT_RULES} = $rules;
	my $out = `echo true | "$escort" analyze 2>&1`;
	my $ok = $? == 0 && $out =~ /^\{.*"risk"/m;
	print(($ok ? "ok" : "not ok"), " 3 - escort analyze loads the rules\n");
	print "# $_\n" for $ok ? () : split /\n/, $out;
	my ($tfh, $tname) = File::Temp::tempfile(UNLINK => 1);
	print $tfh map { "$_->[0]\n" } @golden;
	close $tfh;
	my @res = `"$escort" analyze "$tname" 2>&1`;
	my %rank = (none => 0, low => 1, medium => 2, high => 3, critical => 4);
	my @bad;
	for my $i (0 .. $#golden) {
		my ($cmd, $lo, $hi) = @{ $golden[$i] };
		my $got = ($res[$i] // '') =~ /"risk":"(\w+)"/ ? $1 : 'missing';
		my $r = $rank{$got} // -1;
		push @bad, "$cmd: rated $got, expected $lo..$hi" if $r < $rank{$lo} || $r > $rank{$hi};
	}
	print((@bad ? "not ok" : "ok"), " 4 - ", scalar(@golden) - scalar(@bad), "/", scalar(@golden),
	    " reference commands rated as the rules intend\n");
	print "# $_\n" for @bad;
	# what the explanation says about a few of them (the words a non-expert needs)
	my @said = (
		['rm -rf /var/log', qr/audit trail/, 'log-tamper'],
		['mysql -u root -e "DROP DATABASE prod"', qr/as root running the SQL DROP DATABASE prod/, 'code-exec'],
		['dd if=/dev/zero of=/dev/sda', qr/^Overwrites the disk \/dev\/sda directly: everything on it is lost\.$/, 'destructive'],
	);
	my @sbad;
	for my $t (@said) {
		my ($cmd, $re, $cat) = @$t;
		my $o = eval { JSON::PP->new->decode(scalar `printf '%s\n' '$cmd' | "$escort" analyze 2>&1`) };
		my $why = !$o ? 'no JSON' : $o->{explanation} !~ $re ? "explanation '$o->{explanation}'" :
		    !grep({ $_ eq $cat } @{ $o->{categories} }) ? "no category $cat" : '';
		push @sbad, "$cmd: $why" if $why;
	}
	print((@sbad ? "not ok" : "ok"), " 5 - explanations and categories of reference commands\n");
	print "# $_\n" for @sbad;
} else {
	print "ok 3 # SKIP no escort binary at '$escort'\n";
	print "ok 4 # SKIP no escort binary at '$escort'\n";
	print "ok 5 # SKIP no escort binary at '$escort'\n";
}

# EscortPg.pm — a throwaway PostgreSQL server for tests and benchmarks: initdb and pg_ctl
# (Debian's postgresql package) in a temporary directory, listening on a free loopback
# port and on a unix socket inside that directory. As root the server runs as an
# unprivileged user (nobody, or escort-pg created for it). It is stopped and removed when
# the test ends, also when it dies, and by a watchdog when the test itself is killed.
# Also SQL on whichever store a test runs against (store_sql: $ESCORT_STORE's PostgreSQL,
# else DIR/escort.db through build/tools/sqlexec), so one test serves both backends.
package EscortPg;
use strict;
use warnings;
use Exporter 'import';
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();

our @EXPORT_OK = qw(pg_start pg_stop pg_sql pg_url store_pg store_sql store_sql_try);

my @live; # servers this process started and must stop

# The newest installed server binaries (ESCORT_PG_BINDIR overrides).
sub bindir {
	my $e = $ENV{ESCORT_PG_BINDIR};
	return $e if defined $e && -x "$e/initdb";
	my @c = map { m{/postgresql/([0-9]+)/bin/initdb$} ? [$1, $_] : () }
		glob('/usr/lib/postgresql/*/bin/initdb');
	@c = sort { $b->[0] <=> $a->[0] } @c;
	return undef unless @c;
	(my $d = $c[0][1]) =~ s{/initdb$}{};
	return $d;
}

# (uid, gid) the server runs as: ourselves, or as root an unprivileged account, because
# postgres refuses to run as root.
sub server_ids {
	return ($<, $() if $> != 0;
	for my $name ('nobody', 'escort-pg') {
		my @pw = getpwnam($name);
		return ($pw[2], $pw[3]) if @pw && $pw[2] != 0;
	}
	system('useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin',
	       'escort-pg') == 0 or die "useradd escort-pg failed";
	my @pw = getpwnam('escort-pg') or die "escort-pg: no such user after useradd";
	return ($pw[2], $pw[3]);
}

# Runs a command as (uid, gid) with output to $log; returns its exit status.
sub run_as {
	my ($uid, $gid, $log, @cmd) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $log) or POSIX::_exit(126);
		open(STDERR, '>&', \*STDOUT);
		if ($> == 0 && $uid != 0) {
			$) = "$gid $gid";
			POSIX::setgid($gid) or POSIX::_exit(126);
			POSIX::setuid($uid) or POSIX::_exit(126);
			POSIX::_exit(126) if $> == 0 || $< == 0;
		}
		exec { $cmd[0] } @cmd or POSIX::_exit(127);
	}
	waitpid($pid, 0);
	return $?;
}

sub free_port {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
	                              Listen => 1, ReuseAddr => 0) or die "no free port: $!";
	my $p = $s->sockport;
	close $s;
	return $p;
}

sub slurp_log {
	my ($f) = @_;
	open my $fh, '<', $f or return '';
	local $/;
	my $c = <$fh> // '';
	return $c;
}

# pg_start(fsync => 0|1) -> { url, port, dir, bindir, ... }. Dies with the server log on
# failure. fsync 0 (the default) trades durability for speed: right for tests only.
sub pg_start {
	my (%o) = @_;
	my $bin = bindir() or die "no PostgreSQL server binaries (install postgresql)";
	my ($uid, $gid) = server_ids();
	my $dir = tempdir('escort-pg-XXXXXX', DIR => ($> == 0 ? '/tmp' : File::Spec->tmpdir),
	                  CLEANUP => 0);
	my $pg = { dir => $dir, bindir => $bin, uid => $uid, gid => $gid, owner => $$,
	           data => "$dir/data", sock => "$dir/sock", log => "$dir/server.log" };
	push @live, $pg;
	mkdir $pg->{sock} or die "$pg->{sock}: $!";
	open(my $r, '<', '/dev/urandom') or die "/dev/urandom: $!";
	my $raw = '';
	read($r, $raw, 16) == 16 or die "/dev/urandom: short read";
	close $r;
	my $pw = unpack('H*', $raw);
	open my $f, '>', "$dir/pw" or die "$dir/pw: $!";
	print $f "$pw\n";
	close $f;
	if ($> == 0) {
		chown $uid, $gid, $dir, $pg->{sock}, "$dir/pw" or die "chown: $!";
	}
	chmod 0700, $dir;
	my $st = run_as($uid, $gid, "$dir/initdb.log", "$bin/initdb", '-D', $pg->{data}, '-U', 'escort',
	                '--auth-local=trust', '--auth-host=scram-sha-256', "--pwfile=$dir/pw",
	                '-E', 'UTF8', '--locale=C', '--no-sync');
	unlink "$dir/pw";
	die "initdb failed:\n" . slurp_log("$dir/initdb.log") if $st;
	my @settings = ('-c', 'listen_addresses=127.0.0.1', '-k', $pg->{sock},
	                '-c', 'max_connections=60', '-c', 'shared_buffers=32MB');
	push @settings, '-c', 'fsync=off', '-c', 'synchronous_commit=off',
	                '-c', 'full_page_writes=off' unless $o{fsync};
	my $ok = 0;
	for my $try (1 .. 5) { # another process may take the port between probe and bind
		$pg->{port} = free_port();
		$st = run_as($uid, $gid, "$dir/pg_ctl.log", "$bin/pg_ctl", 'start', '-D', $pg->{data},
		             '-l', $pg->{log}, '-w', '-t', '30', '-o',
		             join(' ', '-p', $pg->{port}, @settings));
		if ($st == 0) { $ok = 1; last }
		last unless slurp_log($pg->{log}) =~ /could not bind|already in use/i;
	}
	die "pg_ctl start failed:\n" . slurp_log("$dir/pg_ctl.log") . slurp_log($pg->{log}) unless $ok;
	$pg->{running} = 1;
	watchdog($pg);
	$pg->{base} = "postgresql://escort:$pw\@127.0.0.1:$pg->{port}";
	$pg->{url} = "$pg->{base}/escort";
	my ($s, $out) = pg_sql({ %$pg, url => "$pg->{base}/postgres" }, 'CREATE DATABASE escort');
	die "CREATE DATABASE escort: $out" if $s;
	return $pg;
}

# pg_url(PG, SCHEMA): the URL with search_path set to SCHEMA (undef: the plain URL).
sub pg_url {
	my ($pg, $schema) = @_;
	return $pg->{url} unless defined $schema;
	return "$pg->{url}?options=-csearch_path%3D$schema";
}

# pg_sql(PG, SQL) -> (status, output): psql, unaligned tuples only, stop at first error.
sub pg_sql {
	my ($pg, $sql) = @_;
	my $pid = open(my $r, '-|');
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDERR, '>&', \*STDOUT);
		exec { "$pg->{bindir}/psql" } 'psql', '-X', '-w', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
			'-d', $pg->{url}, '-c', $sql or POSIX::_exit(127);
	}
	local $/;
	my $out = <$r> // '';
	close $r;
	$out =~ s/\s+\z//;
	return ($? >> 8, $out);
}

# store_pg(): true when the tests' store is PostgreSQL ($ESCORT_STORE is a postgres:// URL).
sub store_pg {
	my $u = $ENV{ESCORT_STORE} // '';
	return $u =~ m{^postgres(ql)?://};
}

# store_sql_try(DIR, SQL) -> (status, output): SQL on the store of data directory DIR,
# rows one per line, columns separated by '|' (sqlexec's format); never dies.
sub store_sql_try {
	my ($dir, $sql) = @_;
	if (store_pg()) {
		my $bin = bindir() or return (127, 'no psql (install postgresql)');
		return pg_sql({ bindir => $bin, url => $ENV{ESCORT_STORE} }, $sql);
	}
	my $exe = ($ENV{BUILD} // 'build') . '/tools/sqlexec';
	my $pid = open(my $r, '-|');
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDERR, '>&', \*STDOUT);
		exec { $exe } $exe, "$dir/escort.db", $sql or POSIX::_exit(127);
	}
	local $/;
	my $out = <$r> // '';
	close $r;
	$out =~ s/\n\z//;
	return ($? >> 8, $out);
}

# store_sql(DIR, SQL) -> output, as store_sql_try; dies when the statement fails.
sub store_sql {
	my ($dir, $sql) = @_;
	my ($st, $out) = store_sql_try($dir, $sql);
	die "store_sql failed ($sql): $out\n" if $st;
	return $out;
}

# A process that outlives a SIGKILLed test and cleans up after it.
sub watchdog {
	my ($pg) = @_;
	my $parent = $$;
	my $pid = fork();
	return unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', '/dev/null');
		open(STDERR, '>', '/dev/null');
		POSIX::setsid();
		$SIG{TERM} = sub { POSIX::_exit(0) };
		sleep 1 while getppid() == $parent;
		$pg->{owner} = $$;
		stop_one($pg);
		POSIX::_exit(0);
	}
	$pg->{watchdog} = $pid;
}

sub stop_one {
	my ($pg) = @_;
	return unless $pg->{owner} == $$;
	if ($pg->{running}) {
		my $log = "$pg->{dir}/pg_ctl.log";
		if (run_as($pg->{uid}, $pg->{gid}, $log, "$pg->{bindir}/pg_ctl", 'stop', '-D', $pg->{data},
		           '-m', 'fast', '-w', '-t', '10')) {
			run_as($pg->{uid}, $pg->{gid}, $log, "$pg->{bindir}/pg_ctl", 'stop', '-D',
			       $pg->{data}, '-m', 'immediate', '-w', '-t', '10');
		}
		$pg->{running} = 0;
	}
	if ($pg->{watchdog}) {
		kill 'TERM', $pg->{watchdog};
		waitpid($pg->{watchdog}, 0);
		$pg->{watchdog} = 0;
	}
	system('rm', '-rf', '--', $pg->{dir}) if $pg->{dir} && -d $pg->{dir};
}

# pg_stop(PG): stops the server and removes its directory (also done at exit).
sub pg_stop {
	my ($pg) = @_;
	stop_one($pg);
	@live = grep { $_ != $pg } @live;
}

END {
	my $st = $?;
	stop_one($_) for @live;
	@live = ();
	$? = $st;
}

# die and ^C end the test through END, so the server goes too
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

1;

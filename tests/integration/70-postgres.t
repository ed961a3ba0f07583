#!/usr/bin/perl
# 70-postgres.t — the PostgreSQL store against a real server (initdb + pg_ctl in a
# temporary directory, see tests/lib/EscortPg.pm): the store unit tests on both backends
# (plain and ASan builds), then 8 processes racing to run one approved request run it
# exactly once, both the workflow's way (one write transaction) and a careless caller's
# (read outside a transaction: the database's run-once constraint must stop the rest);
# 8 stores opened at once on an empty schema all succeed and migrate it once. Last, a
# stopped server gives a clear error that names the server and not the password.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use EscortPg qw(pg_start pg_stop pg_sql pg_url);
use File::Temp qw(tempdir);

my $BUILD = $ENV{BUILD} // 'build';
my $RACE = "$BUILD/tools/store_race";
my $t = tempdir(CLEANUP => 1);

my $pg = pg_start();
ok(1, "PostgreSQL started on 127.0.0.1:$pg->{port}");

# ---- the store unit tests against this server ----
for my $bin ("$BUILD/tests/test_store_pg", "$BUILD/asan/tests/test_store_pg") {
	next if $bin =~ m{/asan/} && !-x $bin; # the ASan build exists under make check only
	unless (ok(-x $bin, "$bin is built")) { next }
	local $ENV{ESCORT_TEST_PG} = $pg->{url};
	local $ENV{CMOCKA_MESSAGE_OUTPUT} = 'TAP';
	my $out = `"$bin" 2>&1`;
	my $st = $?;
	my ($plan) = $out =~ /^1\.\.(\d+)$/m;
	my $pass = () = $out =~ /^ok \d+/mg;
	my $fail = () = $out =~ /^not ok \d+/mg;
	my $skip = () = $out =~ /# SKIP/mig;
	my $pgcases = () = $out =~ /^ok \d+ - postgresql: /mg;
	ok($st == 0 && defined $plan && $pass == $plan && $fail == 0 && $skip == 0 && $pgcases >= 14,
	   "$bin: $pass of " . ($plan // '?') . " passed ($pgcases on PostgreSQL), $fail failed, $skip skipped")
		or print map { "# $_\n" } grep { /not ok|SKIP|error|Failure|ERROR/ } split /\n/, $out;
}

# ---- 8 processes race to run one approved request ----
die "$RACE is not built" unless -x $RACE;

# race(SCHEMA, MODE, DELAY_MS) -> (id, {claimed, saw, refused}, run log lines, outputs)
sub race {
	my ($schema, $mode, $delay) = @_;
	my ($s, $o) = pg_sql($pg, "CREATE SCHEMA $schema");
	die "create schema: $o" if $s;
	my $url = pg_url($pg, $schema);
	my $id = `"$RACE" setup "$url"`;
	die "store_race setup failed" if $? || $id !~ /^\d+$/;
	chomp $id;
	my $go = "$t/go-$schema";
	my $runlog = "$t/runs-$schema";
	my @pids;
	for my $p (1 .. 8) {
		my $pid = fork();
		die "fork: $!" unless defined $pid;
		if ($pid == 0) {
			open(STDOUT, '>', "$t/out-$schema-$p") or die;
			open(STDERR, '>&', \*STDOUT);
			exec { $RACE } $RACE, 'claim', $url, $id, "node$p", $go, $delay, $mode, $runlog;
			die "exec: $!";
		}
		push @pids, $pid;
	}
	# start them together once every one is connected and waiting
	for (1 .. 3000) {
		last if (grep { -e "$go.node$_.ready" } 1 .. 8) == 8;
		select(undef, undef, undef, 0.01);
	}
	open my $g, '>', $go or die;
	close $g;
	waitpid($_, 0) for @pids;
	my %n = (claimed => 0, saw => 0, refused => 0);
	my @outs;
	for my $p (1 .. 8) {
		my $o = slurp("$t/out-$schema-$p");
		push @outs, $o;
		$n{$1}++ if $o =~ /^(claimed|saw|refused)/;
	}
	my @runs = -e $runlog ? split(/\n/, slurp($runlog)) : ();
	return ($id, \%n, \@runs, \@outs, $url);
}

{
	my ($id, $n, $runs, $outs, $url) = race('race_tx', 'tx', 50);
	ok(@$runs == 1, 'workflow way: the request ran exactly once (' . scalar(@$runs) . ' runs)')
		or print map { "# $_" } @$outs;
	ok($n->{claimed} == 1 && $n->{saw} == 7 && $n->{refused} == 0,
	   "workflow way: 1 claimed, 7 saw it running ($n->{claimed}/$n->{saw}/$n->{refused})")
		or print map { "# $_" } @$outs;
	ok((grep { /^saw running$/ } @$outs) == 7, 'the others saw it running, not approved');
	chomp(my $show = `"$RACE" show "$url" $id`);
	ok(@$runs == 1 && $show =~ /^running (\S+) \d+$/ && $1 eq $runs->[0],
	   "the store names the one runner ($show)");
}

{
	# a second between reading and claiming: every process reads "approved" before any
	# claims, so only the database can stop the second run
	my ($id, $n, $runs, $outs, $url) = race('race_notx', 'notx', 1000);
	ok(@$runs == 1, 'careless way: the request still ran exactly once (' . scalar(@$runs) . ' runs)')
		or print map { "# $_" } @$outs;
	ok($n->{claimed} == 1 && $n->{refused} == 7,
	   "careless way: all 8 read it approved, 1 claimed, 7 refused by the database " .
	   "($n->{claimed}/$n->{saw}/$n->{refused})")
		or print map { "# $_" } @$outs;
	ok((grep { /^refused: updating a request: request \d+ was already started by node\d: a request runs at most once/ } @$outs) == 7,
	   'the refusal names the operation and the reason')
		or print map { "# $_" } @$outs;
	chomp(my $show = `"$RACE" show "$url" $id`);
	ok(@$runs == 1 && $show =~ /^running (\S+) \d+$/ && $1 eq $runs->[0],
	   "the store names the one runner ($show)");
}

# ---- 8 nodes start at once on an empty schema: they migrate one after the other ----
{
	my ($s, $o) = pg_sql($pg, 'CREATE SCHEMA fresh');
	die "create schema: $o" if $s;
	my $url = pg_url($pg, 'fresh');
	my @pids;
	for my $p (1 .. 8) {
		my $pid = fork();
		die "fork: $!" unless defined $pid;
		if ($pid == 0) {
			open(STDOUT, '>', "$t/setup-$p") or die;
			open(STDERR, '>&', \*STDOUT);
			exec { $RACE } $RACE, 'setup', $url;
			die "exec: $!";
		}
		push @pids, $pid;
	}
	my $bad = 0;
	for (@pids) { waitpid($_, 0); $bad++ if $? }
	my @ids = sort { $a <=> $b } map { my $x = slurp("$t/setup-$_"); chomp $x; $x } 1 .. 8;
	ok($bad == 0 && "@ids" eq "1 2 3 4 5 6 7 8", "8 stores opened at once on an empty schema all succeed (ids @ids)")
		or print map { "# " . slurp("$t/setup-$_") } 1 .. 8;
	($s, $o) = pg_sql($pg, 'SELECT count(*) || \' \' || max(version) FROM fresh.schema_version');
	ok($s == 0 && $o eq '6 6', "the schema was migrated once ($o)");
}

# ---- the server goes away ----
my $url = pg_url($pg, 'race_tx');
pg_stop($pg);
my $err = `"$RACE" show "$url" 1 2>&1`;
my ($pw) = $url =~ m{//escort:([^@]+)@};
ok($? != 0 && $err =~ /postgresql 127\.0\.0\.1:\d+\/escort: / && index($err, $pw) < 0,
   'a stopped server: a clear error naming the server, without the password')
	or print "# $err";
ok(!-d $pg->{dir}, 'the server directory is removed');

done();

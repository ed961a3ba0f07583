#!/usr/bin/perl
# 87-cli-owner.t — the CLI run by root on a data directory another user owns becomes that
# user (src/cli/owner.c) and never keeps group root: a directory whose owner's group would
# be root is refused before anything is opened.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);

if ($> != 0) {
	print "ok 1 # SKIP not root: becoming the owner needs root\n";
	done();
}
# a uid with no passwd entry (its group is then the directory's)
my $uid = 54321;
$uid++ while defined getpwuid($uid);
delete $ENV{$_} for qw(ESCORT_DATA ESCORT_DATA_DIR ESCORT_TOKEN ESCORT_SERVER ESCORT_STORE);

my $t = tempdir(CLEANUP => 1);
chmod 0711, $t;

# ---- group root: refused, nothing done ----
my $g0 = "$t/gid0";
mkdir $g0, 0700 or die "mkdir: $!";
chown $uid, 0, $g0 or die "chown: $!";
my ($s, $o, $e) = escort({}, 'audit', 'verify', '--data', $g0);
ok($s != 0 && $e =~ /refusing to become its owner with group root \(gid 0\)/ && $e =~ /\Q$g0\E/,
   'a directory whose owner would keep group root is refused, naming it')
    or print "# $s $e\n";
my @made = glob("$g0/*");
ok(!@made, 'and nothing was made in it') or print "# made: @made\n";

# ---- the owner's own group: it becomes the owner and goes on ----
my $g1 = "$t/gid1";
mkdir $g1, 0700 or die "mkdir: $!";
chown $uid, $uid, $g1 or die "chown: $!";
($s, $o, $e) = escort({}, 'audit', 'verify', '--data', $g1);
ok($e !~ /refusing to become|cannot become|could not leave root/,
   'a directory of a user with its own group: no refusal to become it') or print "# $s $e\n";

done();

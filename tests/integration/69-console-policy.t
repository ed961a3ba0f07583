#!/usr/bin/perl
# 69-console-policy.t — the policy page: the policy in force and the what-would-happen-if form
# backed by policy explain; signing out.
# Real escortd on a free loopback port, Debian's chromium through playwright-core
# (tests/browser); screenshots go to build/artifacts/console/.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../browser";
use EscortTest;
use ConsoleTest;

my $fx = console_start();
console_run($fx, 'policy');
console_stop();
done();

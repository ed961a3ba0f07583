#!/usr/bin/perl
# 65-console-escort.t — the escort's console: sign in with token and TOTP, the queue (newest first,
# live), a critical request's highlighted finding and explanation denied with a comment,
# a medium one approved.
# Real escortd on a free loopback port, Debian's chromium through playwright-core
# (tests/browser); screenshots go to build/artifacts/console/.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../browser";
use EscortTest;
use ConsoleTest;

my $fx = console_start();
console_run($fx, 'escort');
console_stop();
done();

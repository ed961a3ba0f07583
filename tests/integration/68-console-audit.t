#!/usr/bin/perl
# 68-console-audit.t — the audit page as an auditor sees it: verification, latest signed
# checkpoint, the risk chart, search and the retro-hunt.
# Real escortd on a free loopback port, Debian's chromium through playwright-core
# (tests/browser); screenshots go to build/artifacts/console/.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../browser";
use EscortTest;
use ConsoleTest;

my $fx = console_start();
console_run($fx, 'audit');
console_stop();
done();

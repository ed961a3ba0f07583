#!/usr/bin/perl
# 67-console-inert.t — untrusted text in the console is inert: HTML in a command, ticket and
# justification creates no element and fires no dialog; bidi, zero-width, look-alike and
# invalid UTF-8 are shown as visible escapes exactly where lockbox flags them.
# Real escortd on a free loopback port, Debian's chromium through playwright-core
# (tests/browser); screenshots go to build/artifacts/console/.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../browser";
use EscortTest;
use ConsoleTest;

my $fx = console_start();
console_run($fx, 'inert');
console_stop();
done();

#!/usr/bin/perl
# 66-console-operator.t — an operator in the console: no approve or deny button, and the API
# answers 403 when he tries anyway (session + CSRF, and bearer); CSRF header required.
# Real escortd on a free loopback port, Debian's chromium through playwright-core
# (tests/browser); screenshots go to build/artifacts/console/.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../browser";
use EscortTest;
use ConsoleTest;

my $fx = console_start();
console_run($fx, 'operator');
console_stop();
done();

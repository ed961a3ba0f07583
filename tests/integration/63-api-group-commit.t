#!/usr/bin/perl
# 63-api-group-commit.t — escortd's shared audit log and group-committed creations: many
# concurrent POST /requests all answer 201 (or 403 for a policy denial) with distinct ids,
# each stored request has its created/analyzed/decided records in order, a checkpoint asked
# for right after covers them, a CLI writer on the same data directory gets the audit lock
# soon after the server goes quiet (not after its 60 s wait), and after SIGTERM the log
# verifies with a final signed tree head.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use EscortServer qw(serve_start data_setup);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

sub check($$) { return ok($_[0], $_[1]) }

my $E = $ENV{ESCORT} // 'build/escort';
my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};
delete $ENV{ESCORT_SERVER};

my %tok = data_setup($dir, qw(op-in op-cn aud-1));
my ($s, $o, $e);

my $log = "$t/serve.err";
my ($pid, $url) = serve_start($dir, $log, '--threads', '2', '--rate', '100000', '--per-ip', '64');
check(defined $url, 'serve starts') or do { print '# ', slurp($log); kill 'KILL', $pid; done() };
my $api = "$url/api/v1";

# ---- 16 clients x 5 creations at once; op-cn's requests on dod-web are denied by policy
my ($NCLI, $PER) = (16, 5);
my @kids;
for my $c (1 .. $NCLI) {
	my $k = fork();
	die "fork: $!" unless defined $k;
	if ($k == 0) {
		my $h = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
		my $who = $c % 4 == 0 ? 'op-cn' : 'op-in';
		open(my $out, '>', "$t/client.$c") or die;
		for my $i (1 .. $PER) {
			my $r = $h->request('POST', "$api/requests", {
			    content => encode_json({ target => 'dod-web', commands => ["uptime # $c.$i"],
			                             ticket => "GC-$c-$i" }),
			    headers => { 'Content-Type' => 'application/json',
			                 Authorization => "Bearer $tok{$who}" } });
			my $j = eval { decode_json($r->{content}) } // {};
			my $id = $r->{status} == 201 ? $j->{id} : ($j->{error}{request} // 0);
			print $out "$who $r->{status} $id\n";
		}
		close $out;
		POSIX::_exit(0);
	}
	push @kids, $k;
}
waitpid($_, 0) for @kids;
my %ids;
my ($n201, $n403, $other) = (0, 0, 0);
for my $c (1 .. $NCLI) {
	for (split /\n/, slurp("$t/client.$c")) {
		my ($who, $st, $id) = split / /;
		if ($st == 201 && $who eq 'op-in') { $n201++ }
		elsif ($st == 403 && $who eq 'op-cn') { $n403++ }
		else { $other++; print "# unexpected: $_\n" }
		$ids{$id}++ if $id;
	}
}
my $total = $NCLI * $PER;
check($n201 + $n403 == $total && !$other, "$total concurrent creations: 201 (op-in) / 403 denied (op-cn)")
    or print "# 201: $n201, 403: $n403, other: $other\n";
check(keys(%ids) == $total && !grep({ $_ != 1 } values %ids), 'every creation got its own request id');

# ---- the 201 is written from what the creation stored (api.c), not read back: it must be,
# byte for byte, what GET /requests/ID answers (non-ASCII, bidi, control characters,
# several commands, a pending and an auto-approved request)
my %odd; # id -> the 201 body, for the audit check below
{
	my $h = HTTP::Tiny->new(timeout => 10);
	my %auth = (Authorization => "Bearer $tok{'op-in'}");
	my @bodies = (
	    { target => 'dod-web', ticket => "T-\x{e9}", justification => 'say "why" \\ here',
	      commands => ["echo h\x{e9}llo \x{202e} \x{1f600} \"q\" \\\\ \t/x \x{7} \x{1b}[31m \x{200b}",
	                   'curl -o /tmp/x http://example.com/x && tar xzf /tmp/x -C /srv',
	                   'chmod 600 /tmp/k; systemctl restart nginx'] },
	    { target => 'dod-web', commands => ["cat <<E\n\$(id)\nE"] },
	    { target => 'com-web', commands => ['ls /tmp'] });
	my ($same, @why) = (0);
	for my $b (@bodies) {
		my $r = $h->request('POST', "$api/requests", { content => encode_json($b),
		    headers => { 'Content-Type' => 'application/json', %auth } });
		my $id = $r->{status} == 201 ? (eval { decode_json($r->{content})->{id} } // 0) : 0;
		my $g = $h->request('GET', "$api/requests/$id", { headers => \%auth });
		if ($id && $g->{status} == 200 && $g->{content} eq $r->{content} &&
		    ($r->{headers}{location} // '') eq "/api/v1/requests/$id" &&
		    $r->{content} !~ /[^\x00-\x7f]/) {
			$same++;
			$odd{$id} = decode_json($r->{content});
		} else {
			push @why, "$r->{status} $id: " . substr($r->{content}, 0, 200);
		}
	}
	check($same == @bodies, 'a 201 body is exactly GET /requests/ID (ASCII JSON, Location set)')
	    or print map { "# $_\n" } @why;
}

# ---- a checkpoint asked for now covers every record of those requests
my $h = HTTP::Tiny->new(timeout => 10);
my $r = $h->request('GET', "$api/audit/checkpoint", { headers => { Authorization => "Bearer $tok{'aud-1'}" } });
my $cp = js($r->{content}) // {};
($s, $o, $e) = escort({ token => undef }, 'audit', 'search', '--format', 'jsonl');
my %seen;
my ($maxseq, $inorder) = (0, 1);
my %rank = ('request.created' => 0, 'request.analyzed' => 1, 'request.decided' => 2);
my ($aggok, @aggwhy) = (0);
for (split /\n/, $o) {
	my $ev = js($_) or next;
	next unless exists $rank{ $ev->{type} };
	my $id = $ev->{details}{request};
	if ($odd{$id} && $ev->{type} eq 'request.analyzed') {
		# what the writer aggregated = the stored analyses: the highest risk, every
		# category once in order of first appearance, opaque if any is
		my (@cats, %c, $opq);
		for my $a (map { $_->{analysis} } @{ $odd{$id}{commands} }) {
			push @cats, grep { !$c{$_}++ } @{ $a->{categories} };
			$opq ||= $a->{opaque} ? 1 : 0;
		}
		my $d = $ev->{details};
		if (join(',', @{ $d->{categories} }) eq join(',', @cats) &&
		    $d->{risk} eq $odd{$id}{risk} && ($d->{opaque} ? 1 : 0) == ($opq // 0)) {
			$aggok++;
		} else {
			push @aggwhy, "$id: @{ $d->{categories} } / @cats, $d->{risk} / $odd{$id}{risk}";
		}
	}
	$inorder = 0 if @{ $seen{$id} // [] } != $rank{ $ev->{type} };
	push @{ $seen{$id} }, $ev->{type};
	$maxseq = $ev->{seq} if $ev->{seq} > $maxseq;
}
check($s == 0 && $inorder && (grep { @{ $seen{$_} // [] } == 3 } keys %ids) == $total,
      'each request has created, analyzed, decided in the log, in that order')
    or print "# $e\n";
check(keys(%odd) == 3 && $aggok == keys(%odd),
      'request.analyzed: risk, categories and opaque as the stored analyses say')
    or print map { "# $_\n" } @aggwhy;
check($r->{status} == 200 && ($cp->{size} // 0) > $maxseq, 'the checkpoint covers them (signed on demand)')
    or print "# checkpoint size ", $cp->{size} // 'none', ", last request record $maxseq\n";
($s, $o, $e) = escort({ token => $tok{'op-in'} }, 'request', 'list');
check($s == 0, 'the store answers the CLI while the server runs') or print "# $e\n";

# ---- a CLI writer gets the audit lock once the server is idle
my $t0 = time;
($s, $o, $e) = escort({ token => undef }, 'policy', 'load', 'examples/policy.yaml');
my $dt = time - $t0;
check($s == 0 && $dt < 10, sprintf('escort policy load beside the idle server takes the audit lock (%.1f s)', $dt))
    or print "# $e\n";
$r = $h->request('POST', "$api/requests", {
    content => encode_json({ target => 'dod-web', commands => ['uptime'] }),
    headers => { 'Content-Type' => 'application/json', Authorization => "Bearer $tok{'op-in'}" } });
check($r->{status} == 201, 'the server writes again after the CLI') or print "# $r->{status} $r->{content}\n";

# ---- shutdown: the final tree head
kill 'TERM', $pid;
my $gone = 0;
for (1 .. 200) { if (waitpid($pid, WNOHANG) == $pid) { $gone = 1; last } sleep 0.05 }
check($gone && $? == 0 && slurp($log) =~ /audit tree head signed/, 'SIGTERM: exit 0, tree head signed')
    or do { print '# ', slurp($log); kill 'KILL', $pid unless $gone };
($s, $o, $e) = escort({ token => undef }, 'audit', 'verify');
check($s == 0, 'audit verify passes after the burst') or print "# $o$e\n";
# the last record is the final tree head, covering every record before it
my ($nrec, $cov) = "$o$e" =~ /(\d+) records, \d+ signed tree heads?; newest covers (\d+) records/;
check(defined $cov && $cov == $nrec - 1, 'no unsigned tail after shutdown') or print "# $o$e\n";
done();

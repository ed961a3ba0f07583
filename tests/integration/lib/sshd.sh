#!/bin/sh
# tests/integration/lib/sshd.sh — a throwaway OpenSSH server on 127.0.0.1 for broker tests.
#   sshd.sh start DIR   generates host and client keys in DIR, starts sshd -D -e on a free
#                       port (retrying if the port was taken meanwhile) and writes DIR/port,
#                       DIR/pid, DIR/fingerprint (SHA256:...), DIR/client_key, DIR/user.
#   sshd.sh stop DIR    stops it.
# SSHD_OWNER=PID: sshd is stopped when that process is gone (a crashed test leaves no
# server behind). SSHD_EXTRA: more sshd_config lines (e.g. "SetEnv HOME=/tmp/x" for a login shell
# without this host's ~/.bashrc). Exit 77 when no sshd is installed (callers skip).
set -eu
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: sshd.sh start|stop DIR" >&2; exit 2; }
SSHD=${SSHD:-/usr/sbin/sshd}

case "$cmd" in
stop)
	[ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
	exit 0 ;;
start) ;;
*) echo "usage: sshd.sh start|stop DIR" >&2; exit 2 ;;
esac

[ -x "$SSHD" ] || { echo "no $SSHD (install openssh-server)" >&2; exit 77; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# privilege separation needs this directory (Debian creates it at boot only)
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd && chmod 755 /run/sshd
[ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C escort-test-host -f "$dir/host_ed25519"
[ -f "$dir/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C escort-test-client -f "$dir/client_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
chmod 600 "$dir/client_key" "$dir/authorized_keys"
ssh-keygen -l -E sha256 -f "$dir/host_ed25519.pub" | awk '{print $2}' > "$dir/fingerprint"
id -un > "$dir/user"

cat > "$dir/sshd_config" <<CONF
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile none
LogLevel VERBOSE
MaxSessions 200
MaxStartups 200
PermitUserEnvironment no
AcceptEnv none
CONF
[ -n "${SSHD_EXTRA:-}" ] && printf '%s\n' "$SSHD_EXTRA" >> "$dir/sshd_config"

free_port() {
	perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1, ReuseAddr => 0) or die "$!"; print $s->sockport, "\n"'
}

tries=0
while [ $tries -lt 10 ]; do
	tries=$((tries + 1))
	port=$(free_port)
	: > "$dir/sshd.log"
	"$SSHD" -f "$dir/sshd_config" -p "$port" -D -e >>"$dir/sshd.log" 2>&1 &
	pid=$!
	# ready when it says it listens; gone when the port was taken meanwhile
	n=0
	while [ $n -lt 500 ]; do
		if grep -q "Server listening on 127.0.0.1 port $port" "$dir/sshd.log"; then
			echo "$port" > "$dir/port"
			echo "$pid" > "$dir/pid"
			if [ -n "${SSHD_OWNER:-}" ]; then
				( while kill -0 "$SSHD_OWNER" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do
					sleep 1
				  done
				  kill "$pid" 2>/dev/null ) >/dev/null 2>&1 </dev/null &
			fi
			exit 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		n=$((n + 1))
		sleep 0.01
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
done
echo "sshd did not start:" >&2
cat "$dir/sshd.log" >&2
exit 1

#!/bin/sh
# `make package-test`: the .deb in DEB_BUILDDIR in a fresh Debian chroot of SUITE (bookworm,
# Debian 12, by default; `make package-test` runs it for bookworm and trixie).
#   1. install it alone, then FRR: user _anycastd in frrvty, anycastd --version and
#      check, the registered conffile, every service installed and disabled;
#   2. its sysvinit script for real (start-stop-daemon, READY=1 through --notify-await,
#      reload, a broken configuration refused, stop and a crash both withdraw);
#   3. its runit service for real with Debian's runit (runsv, sv, chpst, svlogd, finish);
#   4. packaging/openrc with Debian's OpenRC (supervise-daemon, checkconfig, stop_post);
#   5. the systemd unit, with the chroot booted under systemd-nspawn (when installed):
#      real FRR, Type=notify, the sandbox, reload, ExecStopPost after a SIGKILL, a
#      drain_time longer than TimeoutStopSec;
#   6. apt-get purge.
# The daemon is the real one, against a stand-in vtysh (tests/integration/data) and a
# stand-in Cabourotte on 127.0.0.1. Root only; the chroot lives in /tmp and goes away.
#
# Environment: SUITE (bookworm), DEB_BUILDDIR (target/deb), DEBIAN_MIRROR (the first URI of
# this machine's apt sources), KEEP=1 keeps the chroot.
# shellcheck disable=SC2016 # dpkg-query formats are not shell expansions
set -eu
cd "$(dirname "$0")/../.."
started=$(date +%s)

say() { printf '== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || fail "package-test needs root (debootstrap, chroot)"
for tool in debootstrap python3 chroot mount; do
	command -v "$tool" >/dev/null || fail "$tool is not installed"
done
builddir=${DEB_BUILDDIR:-target/deb}
deb=
for f in "$builddir"/anycastd_*.deb; do [ -e "$f" ] && deb=$f; done
[ -n "$deb" ] || fail "no .deb in $builddir: make deb"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
suite=${SUITE:-bookworm}
case $suite in bookworm | trixie) ;; *) fail "SUITE=$suite: bookworm or trixie" ;; esac

# The suites of this machine's apt sources (deb822 or one-line) that are $suite or its
# -updates, -security, as "URI SUITE".
apt_sources() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk '
			function flush() {
				if (types ~ /(^| )deb( |$)/) {
					n = split(suites, s, " "); split(uris, u, " ")
					for (i = 1; i <= n; i++) if (s[i] ~ "^" suite) print u[1], s[i]
				}
				types = uris = suites = ""
			}
			/^[[:space:]]*$/ { flush(); next }
			/^Types:/ { sub(/^Types:[[:space:]]*/, ""); types = $0 }
			/^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
			/^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
			END { flush() }' suite="$suite" "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk '$1 == "deb" && $0 !~ /\[/ && $3 ~ "^" suite { print $2, $3 }' suite="$suite" "$f"
	done
}
sources=$(apt_sources)
# Another suite than this machine's: the same Debian mirror.
any_mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	awk '$1 == "URIs:" || $1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:.*\/debian\/?$/) { print $i; exit } }')
mirror=${DEBIAN_MIRROR:-$(printf '%s\n' "$sources" | awk -v s="$suite" '$2 == s { print $1; exit }')}
mirror=${mirror:-${any_mirror:-http://deb.debian.org/debian}}
[ -n "$sources" ] || sources="$mirror $suite
$mirror $suite-updates"

work=$(mktemp -d /tmp/anycastd-package-test.XXXXXX)
root=$work/root
pids=""
cleanup() {
	rc=$?
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do
		n=100
		while kill -0 "$p" 2>/dev/null && [ "$n" -gt 0 ]; do
			sleep 0.1
			n=$((n - 1))
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ -d "$root/proc" ]; then
		# Whatever still runs inside the chroot (a daemon, runsv) goes first.
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -KILL "${p#/proc/}" 2>/dev/null
		done
		sleep 0.5
		mountpoint -q "$root/proc" && umount "$root/proc"
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "chroot kept: $root"
	else
		rm -rf --one-file-system "$work"
	fi
	echo "package-test: $(($(date +%s) - started)) s"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_root() { chroot "$root" "$@"; }
apt_in_root() {
	DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y -q -o Dpkg::Use-Pty=0 "$@"
}
# Wait up to $1 seconds for the command that follows to succeed.
wait_for() {
	n=$(($1 * 10))
	shift
	while ! "$@" 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

say "debootstrap $suite (minbase) from $mirror into $root"
t0=$(date +%s)
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -n 20 "$work/debootstrap.log"; fail "debootstrap"; }
ok "debootstrap: $(($(date +%s) - t0)) s"
printf '%s\n' "$sources" | awk '{ print "deb", $1, $2, "main" }' >"$root/etc/apt/sources.list"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
apt_in_root update >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log"; fail "apt-get update"; }
cp "$deb" "$root/tmp/"
debname=/tmp/$(basename "$deb")

say "install $(basename "$deb") alone (no FRR yet)"
apt_in_root install --no-install-recommends "$debname" >"$work/apt.log" 2>&1 ||
	{ tail -n 30 "$work/apt.log"; fail "installing the package"; }
in_root getent group frrvty >/dev/null || fail "group frrvty not created"
ok "group frrvty created by anycastd's postinst: $(in_root getent group frrvty)"

say "install frr afterwards"
apt_in_root install --no-install-recommends frr >"$work/apt.log" 2>&1 ||
	{ tail -n 30 "$work/apt.log"; fail "installing frr"; }
ok "frr $(in_root dpkg-query -W -f='${Version}' frr) installed"

say "user, groups, binary, configuration"
entry=$(in_root getent passwd _anycastd) || fail "no user _anycastd"
ok "user: $entry"
case $entry in *:/nonexistent:/usr/sbin/nologin) ;; *) fail "unexpected home or shell" ;; esac
groups=$(in_root id -nG _anycastd)
ok "id -nG _anycastd: $groups"
case " $groups " in *" frrvty "*) ;; *) fail "_anycastd is not in frrvty" ;; esac
case " $(in_root id -nG frr) " in *" frrvty "*) ok "frr's own user is in frrvty too" ;; *) fail "frr not in frrvty" ;; esac
ok "anycastd --version: $(in_root anycastd --version)"
in_root anycastd check >"$work/check.out" 2>&1 || { cat "$work/check.out"; fail "anycastd check"; }
ok "anycastd check (the shipped /etc/anycastd/config.toml): exit 0"
in_root setpriv --reuid=_anycastd --regid=_anycastd --init-groups anycastd check >/dev/null ||
	fail "anycastd check as _anycastd"
ok "anycastd check as _anycastd: exit 0"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' anycastd)
printf '%s\n' "$conffiles" | grep -q '^ /etc/anycastd/config.toml [0-9a-f]\{32\}$' ||
	fail "/etc/anycastd/config.toml is not a registered conffile: $conffiles"
ok "conffile registered: $(printf '%s\n' "$conffiles" | grep config.toml)"
cmp -s "$root/etc/anycastd/config.toml" "$root/usr/share/doc/anycastd/examples/config.toml" ||
	fail "conffile differs from the example"
for f in /lib/systemd/system/anycastd.service /etc/init.d/anycastd /etc/sv/anycastd/run \
	/etc/sv/anycastd/finish /etc/sv/anycastd/log/run /usr/share/man/man8/anycastd.8.gz \
	/usr/share/man/man5/anycastd.toml.5.gz; do
	[ -e "$root$f" ] || fail "$f missing"
done
ok "unit, init script, runit service and man pages installed"
ls "$root"/etc/rc2.d/K[0-9][0-9]anycastd >/dev/null 2>&1 || fail "sysvinit links: not disabled"
[ ! -e "$root/etc/rc2.d/S01anycastd" ] || fail "sysvinit: enabled"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/anycastd.service" ] || fail "systemd: enabled"
[ ! -e "$root/etc/service/anycastd" ] || fail "runit: enabled"
ok "installed disabled: rc2.d/$(basename "$root"/etc/rc2.d/K*anycastd), no systemd wants link, no /etc/service/anycastd"

say "stand-ins: vtysh (tests/integration/data/fake-vtysh.sh) and Cabourotte on 127.0.0.1"
install -d "$root/usr/local/lib/anycastd-test"
install -m 0755 tests/integration/data/fake-vtysh.sh "$root/usr/local/lib/anycastd-test/"
printf '#!/bin/sh\nFAKE_VTYSH_DIR=/var/lib/fake-frr exec /usr/local/lib/anycastd-test/fake-vtysh.sh "$@"\n' \
	>"$root/usr/local/bin/fake-vtysh"
chmod 0755 "$root/usr/local/bin/fake-vtysh"
install -d "$root/var/lib/fake-frr"
echo "- 65000" >"$root/var/lib/fake-frr/instances"
: >"$root/var/lib/fake-frr/networks"
in_root chown -R _anycastd:_anycastd /var/lib/fake-frr
python3 - "$work/cabourotte.port" <<'EOF' >"$work/cabourotte.log" 2>&1 &
import http.server, json, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/api/v1/result/"):
            code, body = 200, {"name": name, "success": True, "message": "ok",
                               "healthcheck-timestamp": int(time.time())}
        else:
            code, body = 404, {"messages": ["Not found"]}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(srv.server_address[1]))
deadline = time.time() + 1800
while time.time() < deadline:
    srv.handle_request()
EOF
pids="$pids $!"
wait_for 10 test -s "$work/cabourotte.port" || fail "stand-in Cabourotte did not start"
port=$(cat "$work/cabourotte.port")
cat >"$root/etc/anycastd/config.toml" <<EOF
[services.web]
prefixes.frrouting = [{ prefix = "198.51.100.80", vtysh = "/usr/local/bin/fake-vtysh" }]
checks.cabourotte = [{ name = "web", url = "http://127.0.0.1:$port", interval = "1s", timeout = "500ms" }]
EOF
cp "$root/etc/anycastd/config.toml" "$work/good.toml"
in_root anycastd check >/dev/null || fail "test configuration invalid"
ok "Cabourotte stand-in on 127.0.0.1:$port; test configuration announces 198.51.100.80"

nets=$root/var/lib/fake-frr/networks
announced() { grep -q '198\.51\.100\.80' "$nets"; }
withdrawn() { ! grep -q '198\.51\.100\.80' "$nets"; }
# A process that runs (PID 1 here may be slow to reap a zombie).
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
# "uid gid groups" of a process, as numbers.
creds() { awk '/^Uid:/ { u = $2 } /^Gid:/ { g = $2 } /^Groups:/ { $1 = ""; gs = $0 } END { print u, g, gs }' "/proc/$1/status"; }
uid=$(in_root id -u _anycastd)
vtygid=$(in_root getent group frrvty | cut -d: -f3)
has_vty_group() {
	case " $(creds "$1") " in *" $vtygid "*) return 0 ;; esac
	return 1
}

say "sysvinit: /etc/init.d/anycastd (init-d-script, start-stop-daemon)"
t0=$(date +%s)
in_root /etc/init.d/anycastd start || fail "init.d start"
echo
pid=$(cat "$root/run/anycastd.pid")
ok "start returned after READY=1 ($(($(date +%s) - t0)) s); pid $pid; creds (uid gid groups): $(creds "$pid")"
[ "$(creds "$pid" | cut -d' ' -f1)" = "$uid" ] || fail "not running as _anycastd"
has_vty_group "$pid" || fail "not in frrvty"
wait_for 15 announced || fail "198.51.100.80 not announced"
ok "announced: $(cat "$nets")"
in_root /etc/init.d/anycastd status >/dev/null || fail "init.d status"
ok "status: running"
in_root /etc/init.d/anycastd reload || fail "init.d reload"
sleep 0.5
alive "$pid" || fail "daemon gone after reload"
ok "reload (SIGHUP): same pid $pid"
echo 'services = "broken' >"$root/etc/anycastd/config.toml"
if in_root /etc/init.d/anycastd reload; then fail "reload accepted a broken configuration"; fi
if in_root /etc/init.d/anycastd restart; then fail "restart accepted a broken configuration"; fi
alive "$pid" || fail "daemon stopped by a refused restart"
announced || fail "prefix lost by a refused restart"
ok "broken configuration: reload and restart refused, pid $pid still announcing"
cp "$work/good.toml" "$root/etc/anycastd/config.toml"
in_root /etc/init.d/anycastd stop || fail "init.d stop"
! alive "$pid" || fail "daemon still running after stop"
withdrawn || fail "still announced after stop"
ok "stop: daemon gone, prefix withdrawn"
in_root /etc/init.d/anycastd start || fail "init.d start (2)"
echo
pid=$(cat "$root/run/anycastd.pid")
wait_for 15 announced || fail "not announced (2)"
kill -KILL "$pid"
sleep 0.5
announced || fail "a SIGKILLed daemon withdrew?"
in_root /etc/init.d/anycastd stop || fail "init.d stop after a crash"
withdrawn || fail "stop after a crash did not withdraw"
ok "SIGKILL left the prefix announced; init.d stop withdrew it"
grep -q . "$root/var/log/anycastd.log" || fail "nothing in /var/log/anycastd.log"
ok "log: /var/log/anycastd.log, $(wc -l <"$root/var/log/anycastd.log") lines"

say "runit: /etc/sv/anycastd with Debian's runit (runsv, sv)"
apt_in_root install --no-install-recommends runit >"$work/apt.log" 2>&1 ||
	{ tail -n 30 "$work/apt.log"; fail "installing runit"; }
setsid chroot "$root" runsv /etc/sv/anycastd >"$work/runsv.log" 2>&1 &
pids="$pids $!"
svpid() { in_root sv status /etc/sv/anycastd | sed -n 's/^run: [^(]*(pid \([0-9]*\)).*/\1/p'; }
wait_for 20 announced || { cat "$work/runsv.log"; fail "runit: not announced"; }
pid=$(svpid)
ok "sv status: $(in_root sv status /etc/sv/anycastd)"
ok "creds (uid gid groups): $(creds "$pid")"
[ "$(creds "$pid" | cut -d' ' -f1)" = "$uid" ] || fail "runit: not running as _anycastd"
has_vty_group "$pid" || fail "runit: not in frrvty"
in_root sv reload /etc/sv/anycastd >/dev/null
sleep 0.5
[ "$(svpid)" = "$pid" ] || fail "runit: reload restarted the daemon"
ok "sv reload (SIGHUP): same pid $pid"
in_root sv down /etc/sv/anycastd >/dev/null || fail "sv down"
wait_for 10 withdrawn || fail "runit: still announced after sv down"
ok "sv down: withdrawn; $(in_root sv status /etc/sv/anycastd)"
in_root sv up /etc/sv/anycastd >/dev/null
wait_for 20 announced || fail "runit: not announced after sv up"
pid=$(svpid)
calls=$(wc -l <"$root/var/lib/fake-frr/calls")
withdrawn_since_kill() {
	tail -n +"$((calls + 1))" "$root/var/lib/fake-frr/calls" | grep -q 'no network 198\.51\.100\.80'
}
restarted() {
	p=$(svpid)
	[ -n "$p" ] && [ "$p" != "$pid" ] && announced
}
kill -KILL "$pid"
wait_for 15 withdrawn_since_kill || fail "runit: finish did not withdraw after SIGKILL"
ok "SIGKILL: ./finish withdrew the prefix"
wait_for 20 restarted || fail "runit: not restarted and announced after SIGKILL"
ok "runsv restarted it: $(in_root sv status /etc/sv/anycastd)"
in_root sv exit /etc/sv/anycastd >/dev/null
wait_for 15 withdrawn || fail "runit: still announced after sv exit"
ok "sv exit: withdrawn, runsv gone"
log=$root/var/log/anycastd/current
grep -q . "$log" || fail "runit: svlogd wrote nothing"
ok "svlogd: /var/log/anycastd/current, $(wc -l <"$log") lines, owner $(in_root stat -c %U /var/log/anycastd/current)"

say "OpenRC: packaging/openrc/anycastd.initd with Debian's openrc (supervise-daemon)"
apt_in_root install --no-install-recommends openrc >"$work/apt.log" 2>&1 ||
	{ tail -n 30 "$work/apt.log"; fail "installing openrc"; }
install -m 0755 packaging/openrc/anycastd.initd "$root/etc/init.d/anycastd-openrc"
install -d "$root/etc/conf.d"
install -m 0644 packaging/openrc/anycastd.confd "$root/etc/conf.d/anycastd-openrc"
mkdir -p "$root/run/openrc"
touch "$root/run/openrc/softlevel"
# --nodeps: Debian's OpenRC has no "net" service.
openrc() { in_root /etc/init.d/anycastd-openrc --nodeps "$@"; }
# The daemon of the chroot, from /proc.
daemon_pid() {
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] || continue
		case $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) in
		"/usr/bin/anycastd run "*) echo "${p#/proc/}" ;;
		esac
	done
}
openrc start || fail "openrc start"
wait_for 15 announced || fail "openrc: not announced"
pid=$(daemon_pid)
ok "started under supervise-daemon: pid $pid; creds (uid gid groups): $(creds "$pid")"
[ "$(creds "$pid" | cut -d' ' -f1)" = "$uid" ] || fail "openrc: not running as _anycastd"
has_vty_group "$pid" || fail "openrc: not in frrvty"
openrc reload || fail "openrc reload"
sleep 0.5
[ "$(daemon_pid)" = "$pid" ] || fail "openrc: reload restarted the daemon"
ok "reload (supervise-daemon --signal HUP): same pid $pid"
echo 'services = "broken' >"$root/etc/anycastd/config.toml"
if openrc reload 2>/dev/null; then fail "openrc reload accepted a broken configuration"; fi
openrc restart 2>/dev/null || true
{ [ "$(daemon_pid)" = "$pid" ] && announced; } || fail "openrc: a broken configuration stopped the daemon"
ok "broken configuration: reload refused (non-zero), restart refused (pid $pid still announcing)"
cp "$work/good.toml" "$root/etc/anycastd/config.toml"
openrc stop || fail "openrc stop"
! alive "$pid" || fail "openrc: daemon still running after stop"
withdrawn || fail "openrc: still announced after stop"
ok "stop: daemon gone, prefix withdrawn (stop_post withdraw as _anycastd)"
grep -q . "$root/var/log/anycastd/anycastd.log" || fail "openrc: empty log"
ok "log: /var/log/anycastd/anycastd.log, $(wc -l <"$root/var/log/anycastd/anycastd.log") lines"

if command -v systemd-nspawn >/dev/null 2>&1 && command -v nsenter >/dev/null 2>&1; then
	say "systemd: anycastd.service in the chroot booted with systemd-nspawn (private network, real FRR)"
	apt_in_root install --no-install-recommends systemd systemd-sysv dbus python3 >"$work/apt.log" 2>&1 ||
		{ tail -n 30 "$work/apt.log"; fail "installing systemd"; }
	sed -i 's/^bgpd=no/bgpd=yes/' "$root/etc/frr/daemons"
	printf 'frr defaults traditional\nrouter bgp 65000\n bgp router-id 192.0.2.1\nexit\n' >"$root/etc/frr/frr.conf"
	cat >"$root/usr/local/bin/cabourotte-stub" <<'STUB'
#!/usr/bin/python3
import http.server, json, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        data = json.dumps({"name": name, "success": True, "message": "stub",
                           "healthcheck-timestamp": int(time.time())}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", 9013), H).serve_forever()
STUB
	chmod 0755 "$root/usr/local/bin/cabourotte-stub"
	printf '[Service]\nExecStart=/usr/local/bin/cabourotte-stub\n[Install]\nWantedBy=multi-user.target\n' \
		>"$root/etc/systemd/system/cabourotte-stub.service"
	in_root systemctl enable frr.service cabourotte-stub.service >/dev/null 2>&1
	cat >"$root/etc/anycastd/config.toml" <<'CONFIG'
[services.web]
prefixes.frrouting = [{ prefix = "198.51.100.80", vtysh = "/usr/bin/vtysh" }]
checks.cabourotte = [{ name = "web", url = "http://127.0.0.1:9013", interval = "1s", timeout = "500ms" }]
CONFIG
	cp "$root/etc/anycastd/config.toml" "$work/good-systemd.toml"
	umount "$root/proc"
	systemd-nspawn -D "$root" --boot --private-network --register=no --keep-unit \
		--console=passive -M anycastd-pkgtest >"$work/nspawn.log" 2>&1 &
	nspawn=$!
	pids="$pids $nspawn"
	leader() { cut -d' ' -f1 "/proc/$nspawn/task/$nspawn/children" 2>/dev/null; }
	has_leader() { [ -n "$(leader)" ]; }
	wait_for 20 has_leader || { cat "$work/nspawn.log"; fail "systemd-nspawn did not start"; }
	ns() { nsenter -t "$(leader)" -a -r -w "$@"; }
	booted() {
		case $(ns systemctl is-system-running 2>/dev/null) in running | degraded) return 0 ;; esac
		return 1
	}
	wait_for 90 booted || { cat "$work/nspawn.log"; fail "systemd did not boot in the container"; }
	ok "container booted: systemd $(ns systemctl is-system-running); frr.service $(ns systemctl is-active frr.service)"
	[ "$(ns systemctl is-enabled anycastd.service)" = disabled ] || fail "anycastd.service enabled"
	in_bgp() { ns vtysh -c 'show running-config' 2>/dev/null | grep -q 'network 198\.51\.100\.80/32'; }
	out_of_bgp() { ! in_bgp; }
	t0=$(date +%s)
	ns systemctl start anycastd.service || { ns journalctl -u anycastd -n 30 --no-pager; fail "systemctl start"; }
	in_bgp || fail "systemd: started but not announced in FRR (READY=1 too early?)"
	pid=$(ns systemctl show -p MainPID --value anycastd.service)
	ok "systemctl start returned on READY=1 ($(($(date +%s) - t0)) s), announced in bgpd: $(ns systemctl show -p StatusText --value anycastd.service)"
	ok "main pid $pid: $(ns grep -E '^(Uid|Groups|CapEff|NoNewPrivs|Seccomp):' "/proc/$pid/status" | tr -s '\t\n' '  ')"
	ns grep -Eq "^Groups:.*[[:space:]]$vtygid([[:space:]]|\$)" "/proc/$pid/status" || fail "systemd: not in frrvty"
	ns grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status" || fail "systemd: capabilities"
	ok "live $(ns systemd-analyze security anycastd.service | tail -n 1)"
	ns systemctl reload anycastd.service || fail "systemctl reload"
	[ "$(ns systemctl show -p MainPID --value anycastd.service)" = "$pid" ] || fail "reload restarted"
	ok "systemctl reload (anycastd check, then kill -HUP): same pid"
	echo 'services = "broken' >"$root/etc/anycastd/config.toml"
	if ns systemctl reload anycastd.service 2>/dev/null; then fail "reload accepted a broken configuration"; fi
	{ [ "$(ns systemctl show -p MainPID --value anycastd.service)" = "$pid" ] && in_bgp; } ||
		fail "a refused reload disturbed the daemon"
	ok "broken configuration: systemctl reload fails, pid $pid still announcing"
	cp "$work/good-systemd.toml" "$root/etc/anycastd/config.toml"
	ns sh -c "kill -KILL $pid"
	wait_for 10 out_of_bgp || fail "systemd: SIGKILL left the prefix announced (ExecStopPost)"
	ok "SIGKILL: ExecStopPost withdrew the prefix"
	restarted() {
		p=$(ns systemctl show -p MainPID --value anycastd.service)
		[ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$pid" ] && in_bgp
	}
	wait_for 20 restarted || fail "systemd: not restarted after SIGKILL"
	ok "Restart=on-failure: announced again by pid $(ns systemctl show -p MainPID --value anycastd.service)"
	ns systemctl stop anycastd.service
	out_of_bgp || fail "systemd: still announced after stop"
	ok "systemctl stop: withdrawn ($(ns journalctl -u anycastd.service -o cat --no-pager | grep -c 'Withdrew prefix') withdrawals in the journal)"
	# A drain time longer than TimeoutStopSec: the daemon extends the stop timeout
	# (EXTEND_TIMEOUT_USEC), so systemd lets the drain run to its end instead of killing it.
	dropin="$root/etc/systemd/system/anycastd.service.d"
	mkdir -p "$dropin"
	printf '[Service]\nTimeoutStopSec=3s\n' >"$dropin/short-stop.conf"
	{ printf '[global]\ndrain_time = "6s"\n'; cat "$work/good-systemd.toml"; } >"$root/etc/anycastd/config.toml"
	ns systemctl daemon-reload
	ns systemctl start anycastd.service || { ns journalctl -u anycastd -n 30 --no-pager; fail "systemctl start (drain_time)"; }
	in_bgp || fail "systemd: not announced with drain_time"
	t0=$(date +%s)
	ns systemctl stop anycastd.service
	took=$(($(date +%s) - t0))
	result=$(ns systemctl show -p Result --value anycastd.service)
	[ "$took" -ge 6 ] || fail "systemd: the stop took $took s, less than drain_time (6 s)"
	[ "$result" = success ] || fail "systemd: stop ended with Result=$result: TimeoutStopSec=3s cut the drain short"
	out_of_bgp || fail "systemd: still announced after the drain"
	ok "drain_time 6 s under TimeoutStopSec=3s: stopped after $took s, Result=$result (EXTEND_TIMEOUT_USEC)"
	rm -r "$dropin"
	cp "$work/good-systemd.toml" "$root/etc/anycastd/config.toml"
	ns systemctl daemon-reload
	ns systemctl poweroff || true
	powered_off() { ! kill -0 "$nspawn" 2>/dev/null; }
	wait_for 30 powered_off || kill -KILL "$nspawn"
	mount -t proc proc "$root/proc"
else
	say "systemd: SKIPPED (no systemd-nspawn here: apt-get install systemd-container)"
fi

say "apt-get purge anycastd"
apt_in_root purge anycastd >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log"; fail "purge"; }
[ ! -e "$root/etc/anycastd/config.toml" ] || fail "conffile left after purge"
[ ! -e "$root/etc/sv/anycastd" ] || fail "/etc/sv/anycastd left after purge"
if [ -e "$root/var/log/anycastd" ] || [ -e "$root/var/log/anycastd.log" ]; then
	fail "logs left after purge"
fi
status=$(in_root dpkg-query -W -f='${db:Status-Status}' anycastd 2>/dev/null || echo gone)
ok "purged (dpkg status: $status): /etc/anycastd/config.toml, /etc/sv/anycastd and the logs are gone"
ok "kept by design: $(in_root getent passwd _anycastd)"
echo "package-test: all checks passed on $suite ($(sed -n 's/^PRETTY_NAME="\(.*\)"$/\1/p' "$root/etc/os-release"))"

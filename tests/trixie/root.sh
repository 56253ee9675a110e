#!/bin/sh
# The Debian 13 (trixie) root the FRR 10.3 lab, `make msrv` and `make deb-trixie` run
# from, built once and kept outside the work tree (ANYCASTD_ROOT_SUITE=bookworm: the
# Debian 12 root of `make deb-bookworm`, the same way):
#
#   tests/trixie/root.sh [SET...]      make sure the root exists with the packages of SETs,
#                                      then print its path on stdout
#
#   SET  frr    frr (FRR 10.3: the lab's routers and vtysh)
#        rust   rustc cargo (Debian's 1.85: make msrv; bookworm: rustc-web cargo-web)
#        deb    build-essential debhelper dh-runit dpkg-dev lintian make, and rust's
#               (make deb-trixie, make deb-bookworm)
#
# The root is `debootstrap --variant=minbase trixie`, then `apt-get install` of the sets
# with a policy-rc.d that exits 101 (no package starts a service). A set is there when its
# marker (.anycastd-SET) is and dpkg has every one of its packages; a root that a
# debootstrap left half done (its debootstrap/ directory, no apt-get) is made again.
# Concurrent callers wait for each other (flock). Needs root and the Debian mirror.
#
# Environment: ANYCASTD_ROOT_SUITE (trixie, or bookworm), ANYCASTD_TRIXIE_ROOT
# (/var/cache/anycastd-test/trixie), ANYCASTD_BOOKWORM_ROOT (/var/cache/anycastd-test/bookworm),
# DEBIAN_MIRROR (the first Debian URI of this machine's apt sources, else deb.debian.org),
# ANYCASTD_REBUILD=1 makes the root again.
# shellcheck disable=SC2016 # dpkg-query formats are not shell expansions
set -eu

suite=${ANYCASTD_ROOT_SUITE:-trixie}
case $suite in
trixie) root=${ANYCASTD_TRIXIE_ROOT:-/var/cache/anycastd-test/trixie} rust="rustc cargo" ;;
bookworm) root=${ANYCASTD_BOOKWORM_ROOT:-/var/cache/anycastd-test/bookworm} rust="rustc-web cargo-web" ;;
*) echo "root.sh: ANYCASTD_ROOT_SUITE=$suite: trixie or bookworm" >&2; exit 2 ;;
esac
case $root in /?*) ;; *) echo "root.sh: the root must be an absolute path" >&2; exit 2 ;; esac
[ "$root" != / ] || { echo "root.sh: the root must not be /" >&2; exit 2; }

say() { printf 'anycastd-root: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

packages() {
	case $1 in
	frr) echo frr ;;
	rust) echo "$rust" ;;
	deb) echo build-essential debhelper dh-runit dpkg-dev lintian make "$rust" ;;
	*) die "unknown set $1 (frr, rust, deb)" ;;
	esac
}
for set in "$@"; do packages "$set" >/dev/null; done

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"

installed() { # PACKAGE...: all installed in the root
	for p in "$@"; do
		chroot "$root" dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q 'install ok installed' || return 1
	done
}
has_set() { # SET
	[ -e "$root/.anycastd-$1" ] || return 1
	# shellcheck disable=SC2046 # one word per package
	installed $(packages "$1")
}

ready() {
	[ -x "$root/usr/bin/apt-get" ] && [ ! -d "$root/debootstrap" ] || return 1
	for set in "$@"; do has_set "$set" || return 1; done
}

# Fast path: nothing to do, no lock.
if [ "${ANYCASTD_REBUILD:-0}" != 1 ] && ready "$@"; then
	echo "$root"
	exit 0
fi

mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9

# The Debian mirror of this machine's apt sources (deb822 or one-line form).
host_mirror() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk 'tolower($1) == "uris:" && $2 ~ /\/debian\/?$/ { print $2; exit }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|ftp):.*\/debian\/?$/) { print $i; exit } }' "$f"
	done
}
mirror=${DEBIAN_MIRROR:-$(host_mirror | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

# Something mounted below the root (a build that was killed) goes first.
unmount_all() {
	d=$(readlink -f "$root")
	awk -v d="$d" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m" || true; done
}

rebuild=
if [ "${ANYCASTD_REBUILD:-0}" = 1 ]; then
	rebuild="ANYCASTD_REBUILD=1"
elif [ -d "$root/debootstrap" ]; then
	rebuild="a debootstrap did not finish"
elif [ -e "$root" ] && [ ! -x "$root/usr/bin/apt-get" ]; then
	rebuild="no apt-get in it"
fi
if [ -n "$rebuild" ] && [ -e "$root" ]; then
	say "removing $root ($rebuild)"
	unmount_all
	rm -rf --one-file-system "$root"
fi

t0=$(date +%s)
nice="nice -n 10"
if [ ! -x "$root/usr/bin/apt-get" ]; then
	if ! command -v debootstrap >/dev/null 2>&1; then
		say "installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 \
			debootstrap >/dev/null 2>&1 || {
			apt-get update -qq
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 debootstrap >/dev/null
		}
	fi
	say "debootstrap --variant=minbase $suite $root $mirror"
	log=$(mktemp /tmp/anycastd-debootstrap.XXXXXX)
	$nice debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$log" 2>&1 ||
		{ tail -n 20 "$log" >&2; die "debootstrap failed (log: $log)"; }
	rm -f "$log"
	say "debootstrap: $(($(date +%s) - t0)) s"
	security=${mirror%/debian}/debian-security
	{
		echo "deb $mirror $suite main"
		echo "deb $mirror $suite-updates main"
		echo "deb $security $suite-security main"
	} >"$root/etc/apt/sources.list"
	printf 'APT::Install-Recommends "false";\nAcquire::Languages "none";\nDpkg::Use-Pty "false";\n' \
		>"$root/etc/apt/apt.conf.d/90anycastd"
	printf '#!/bin/sh\n# anycastd tests: no package starts a service here\nexit 101\n' \
		>"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	rm -f "$root"/.anycastd-*
	: >"$root/.anycastd-updated-never"
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

need=
for set in "$@"; do
	has_set "$set" || need="$need $(packages "$set")"
done
if [ -n "$need" ]; then
	mountpoint -q "$root/proc" || { mount -t proc proc "$root/proc" && mounted=1; }
	trap '[ -n "${mounted:-}" ] && umount "$root/proc"' EXIT
	export DEBIAN_FRONTEND=noninteractive
	# An install from the lists the root has; when they are gone or stale, update first.
	# shellcheck disable=SC2086 # one word per package
	if [ -e "$root/.anycastd-updated-never" ] || ! $nice chroot "$root" apt-get install -y -q $need >/dev/null 2>&1; then
		say "apt-get update"
		for _ in 1 2 3; do $nice chroot "$root" apt-get update -qq && break; sleep 5; done
		rm -f "$root/.anycastd-updated-never"
		say "apt-get install$need"
		# shellcheck disable=SC2086 # one word per package
		$nice chroot "$root" apt-get install -y -q $need >/dev/null
	fi
	chroot "$root" apt-get clean
	[ -n "${mounted:-}" ] && umount "$root/proc"
	mounted=
	trap - EXIT
fi
for set in "$@"; do
	has_set "$set" && continue
	# shellcheck disable=SC2046 # one word per package
	installed $(packages "$set") || die "packages of set $set not installed"
	date -u +%FT%TZ >"$root/.anycastd-$set"
done
install -d -m 0755 "$root/proc" "$root/run/netns"
[ "$(date +%s)" -eq "$t0" ] || say "ready in $(($(date +%s) - t0)) s: $root ($*)"
echo "$root"

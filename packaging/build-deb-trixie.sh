#!/bin/sh
# `make deb-trixie`: `make deb` in Debian 13 (the trixie root of tests/trixie/root.sh),
# with Debian's own cargo and rustc (1.85) and trixie's lintian, offline: the crates of
# Cargo.lock come vendored (tests/trixie/vendor.sh). The work tree (committed or not) is
# copied to /build/deb there; the .deb lands in DEB_BUILDDIR (target/deb) here.
# Root only: chroot, and /proc mounted for the build in a mount namespace of its own.
# shellcheck disable=SC2016 # the inner sh expands $1, dpkg-query formats are not expansions
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
builddir=${DEB_BUILDDIR:-target/deb}
root=$(tests/trixie/root.sh deb)
vendor=$(tests/trixie/vendor.sh "$root")
build=/build/deb

rm -rf "$root$build"
mkdir -p "$root$build"
tar -C "$top" --exclude=./target --exclude=./.git --exclude=./vendor --exclude=./.cargo \
	-cf - . | tar -C "$root$build" -xf -
echo "deb-trixie: $(chroot "$root" cargo --version) and $(chroot "$root" lintian --version) in $root"
unshare -m sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' sh "$root" "$root" \
	env -i PATH=/usr/bin:/bin HOME=/root LC_ALL=C.UTF-8 \
	sh -c "cd $build && make deb CARGO=/usr/bin/cargo DEB_PROFILES= DEB_VENDOR=$vendor"

rm -f "$builddir"/anycastd_*.deb
mkdir -p "$builddir"
cp "$root$build"/target/deb/anycastd_*.deb "$builddir/"
for deb in "$builddir"/anycastd_*.deb; do
	echo "deb-trixie: built $deb (Debian 13, cargo $(chroot "$root" dpkg-query -W -f='${Version}' cargo))"
done

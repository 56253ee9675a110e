#!/bin/sh
# `make deb-trixie`, `make deb-bookworm`: `make deb` in a Debian root of tests/trixie/root.sh
# (SUITE: trixie, Debian 13, or bookworm, Debian 12), with that release's own cargo and
# rustc (trixie: cargo, rustc 1.85; bookworm: cargo-web, rustc-web) and its lintian,
# offline: the crates of Cargo.lock come vendored (tests/trixie/vendor.sh). A Rust binary
# names the glibc versions of the release it was built on (weak symbols too), so each
# release gets a package built on it. The work tree (committed or not) is copied to
# /build/deb there; the .deb lands in DEB_BUILDDIR (target/deb/SUITE) here.
# Root only: chroot, and /proc mounted for the build in a mount namespace of its own.
# shellcheck disable=SC2016 # the inner sh expands $1, dpkg-query formats are not expansions
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
suite=${SUITE:-trixie}
builddir=${DEB_BUILDDIR:-target/deb/$suite}
root=$(ANYCASTD_ROOT_SUITE=$suite tests/trixie/root.sh deb)
vendor=$(tests/trixie/vendor.sh "$root")
build=/build/deb

rm -rf "$root$build"
mkdir -p "$root$build"
tar -C "$top" --exclude=./target --exclude=./.git --exclude=./vendor --exclude=./.cargo \
	-cf - . | tar -C "$root$build" -xf -
echo "deb-$suite: $(chroot "$root" cargo --version) and $(chroot "$root" lintian --version) in $root"
unshare -m sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' sh "$root" "$root" \
	env -i PATH=/usr/bin:/bin HOME=/root LC_ALL=C.UTF-8 \
	sh -c "cd $build && make deb CARGO=/usr/bin/cargo DEB_PROFILES= DEB_VENDOR=$vendor"

rm -f "$builddir"/anycastd_*.deb
mkdir -p "$builddir"
cp "$root$build"/target/deb/anycastd_*.deb "$builddir/"
for deb in "$builddir"/anycastd_*.deb; do
	echo "deb-$suite: built $deb ($suite, $(chroot "$root" dpkg-query -W -f='${Package} ${Version}' rustc rustc-web 2>/dev/null | head -n 1))"
done

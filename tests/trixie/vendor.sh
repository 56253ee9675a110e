#!/bin/sh
# The crates of Cargo.lock, vendored once per Cargo.lock into the trixie root, for the
# offline builds made there (make msrv, make deb-trixie):
#
#   tests/trixie/vendor.sh ROOT      prints the directory as seen inside ROOT:
#                                    /var/cache/anycastd-vendor/<sha256 of Cargo.lock>
#
# `cargo vendor` runs here, with this machine's cargo (CARGO, default cargo) and its access
# to crates.io; the root only ever builds offline.
set -eu
cd "$(dirname "$0")/../.."
root=${1:?usage: vendor.sh ROOT}
CARGO=${CARGO:-cargo}
dir=/var/cache/anycastd-vendor/$(sha256sum Cargo.lock | cut -c1-16)
if [ ! -e "$root$dir/.complete" ]; then
	echo "vendor: the crates of Cargo.lock into $root$dir" >&2
	rm -rf "$root$dir"
	mkdir -p "$root$dir"
	"$CARGO" vendor --locked --versioned-dirs "$root$dir" >/dev/null
	: >"$root$dir/.complete"
	# Older vendor directories of this root are of other Cargo.lock files.
	for old in "$root"/var/cache/anycastd-vendor/*; do
		[ "$old" = "$root$dir" ] || rm -rf "$old"
	done
fi
echo "$dir"

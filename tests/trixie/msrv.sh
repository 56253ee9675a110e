#!/bin/sh
# `make msrv`: build anycastd and run its unit tests with Debian 13's own toolchain
# (rustc and cargo 1.85, the MSRV of Cargo.toml), in the trixie root of root.sh, offline.
#
# The crates of Cargo.lock are vendored once per Cargo.lock into the root (vendor.sh: the
# only step that needs crates.io, made with this machine's cargo); the work tree (committed or not, without target/ and .git/) is copied to /build/anycastd
# there, and built with `cargo test --offline --locked --lib --bins` (the simulation with
# 100 seeds, ANYCASTD_SIM_SEEDS: `make test` runs the default number). Its target dir stays
# in the root for the next run. Root only: chroot, and /proc mounted for the build in a
# mount namespace of its own (nothing is mounted on the host).
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
root=$(tests/trixie/root.sh rust)

want=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
have=$(chroot "$root" rustc --version | cut -d' ' -f2)
case $have in
"$want" | "$want".*) ;;
*) echo "msrv: Cargo.toml says rust-version $want, the trixie root has rustc $have" >&2; exit 1 ;;
esac

vendor=$(tests/trixie/vendor.sh "$root")
build=/build/anycastd
# In the root: env -i, so nothing of this machine's Rust (rustup, CARGO_HOME) leaks in.
# shellcheck disable=SC2016 # the inner sh expands them
in_root() {
	unshare -m sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' sh "$root" "$root" \
		env -i PATH=/usr/bin:/bin HOME=/root CARGO_HOME=/build/cargo-home \
		CARGO_TARGET_DIR=/build/target ANYCASTD_SIM_SEEDS="${ANYCASTD_SIM_SEEDS:-100}" "$@"
}

rm -rf "$root$build"
mkdir -p "$root$build" "$root/build/cargo-home"
tar -C "$top" --exclude=./target --exclude=./.git --exclude=./vendor --exclude=./.cargo \
	-cf - . | tar -C "$root$build" -xf -
cat >"$root/build/cargo-home/config.toml" <<EOF
[source.crates-io]
replace-with = "vendored"

[source.vendored]
directory = "$vendor"

[net]
offline = true
EOF

echo "msrv: $(in_root rustc --version), $(in_root cargo --version) (Debian 13)"
# The dependencies unoptimised (Cargo.toml optimises them for the integration tests): what
# is proven here is that 1.85 builds the code and passes the unit tests.
deps='profile.dev.package."*".opt-level=0'
in_root sh -c "cd $build && cargo build --offline --locked --config '$deps' &&
	cargo test --offline --locked --config '$deps' --lib --bins"
echo "msrv: built and unit-tested with rustc $have"

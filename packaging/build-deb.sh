#!/bin/sh
# `make deb`: build the Debian package from a copy of the work tree (committed or not)
# in DEB_BUILDDIR, with the crates of Cargo.lock vendored into that copy, so that
# debian/rules builds with `cargo build --offline --locked`. Then lintian, if installed.
#
# The build dependencies (debian/control's Build-Depends for the profiles used, and
# lintian) are installed with apt-get when missing, as root; otherwise it says what is
# missing.
#
# Environment: CARGO (cargo), DEB_BUILDDIR (target/deb), DEB_PROFILES (build profiles,
# e.g. pkg.anycastd.path-cargo for a cargo that no Debian package provides), DEB_VENDOR
# (a directory of crates already vendored from Cargo.lock, used instead of `cargo vendor`:
# for builds without network), LINTIAN (set to 0 to skip lintian).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
CARGO=${CARGO:-cargo}
builddir=${DEB_BUILDDIR:-target/deb}
profiles=${DEB_PROFILES-}

version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
crate=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
if [ "$version" != "$crate" ]; then
	echo "build-deb: packaging/debian/changelog is at $version but Cargo.toml at $crate:" \
		"add a changelog entry first (dch -c packaging/debian/changelog -v $crate)" >&2
	exit 1
fi

src="$builddir/anycastd-$version"
rm -rf "$builddir"
mkdir -p "$src"
tar -C "$top" --exclude=./target --exclude=./.git --exclude=./debian --exclude=./vendor \
	--exclude=./.cargo -cf - . | tar -C "$src" -xf -

# Files that other work may not have written yet: stand-ins in the copy only.
stub() {
	echo "build-deb: WARNING: $1 is missing: a placeholder goes into the package" >&2
	mkdir -p "$src/$(dirname "$1")"
}
for page in man/anycastd.8 man/anycastd.toml.5; do
	[ -e "$src/$page" ] && continue
	stub "$page"
	name=${page##*/}
	printf '.TH %s %s 2026 anycastd\n.SH NAME\n%s \\- placeholder\n' \
		"$(echo "${name%.*}" | tr '[:lower:]' '[:upper:]')" "${name##*.}" "${name%.*}" >"$src/$page"
done
if [ ! -e "$src/README.md" ]; then
	stub README.md
	echo "anycastd: placeholder README" >"$src/README.md"
fi
if [ ! -e "$src/examples/config.toml" ]; then
	stub examples/config.toml
	cp tests/configs/valid/minimal.toml "$src/examples/config.toml"
fi

cd "$src"
cp -a packaging/debian debian

apt_install() { # apt-get ARGS..., with an update first when the lists are missing or stale
	export DEBIAN_FRONTEND=noninteractive
	apt-get -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "$@" >/dev/null 2>&1 || {
		apt-get update -qq && apt-get -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "$@"
	}
}
command -v dpkg-checkbuilddeps >/dev/null 2>&1 || {
	[ "$(id -u)" = 0 ] || { echo "build-deb: dpkg-dev is not installed" >&2; exit 1; }
	apt_install install dpkg-dev
}
if ! unmet=$(dpkg-checkbuilddeps ${profiles:+-P "$profiles"} 2>&1); then
	if [ "$(id -u)" != 0 ]; then
		echo "build-deb: $unmet (run as root to install them)" >&2
		exit 1
	fi
	echo "build-deb: installing the build dependencies (${unmet##*: })"
	# shellcheck disable=SC2086 # no profile: no option
	apt_install build-dep ${profiles:+-P "$profiles"} ./
fi
if [ "${LINTIAN:-1}" != 0 ] && ! command -v lintian >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	echo "build-deb: installing lintian"
	apt_install install lintian
fi

mkdir -p .cargo
if [ -n "${DEB_VENDOR:-}" ]; then
	cp -a "$DEB_VENDOR" vendor
	rm -f vendor/.complete
	printf '[source.crates-io]\nreplace-with = "vendored-sources"\n\n[source.vendored-sources]\ndirectory = "vendor"\n' \
		>.cargo/config.toml
else
	"$CARGO" vendor --locked --versioned-dirs vendor >.cargo/config.toml
fi
# shellcheck disable=SC2086 # no profile: no option
dpkg-buildpackage -us -uc -b ${profiles:+--build-profiles="$profiles"}
cd "$top"

deb=$(ls "$builddir"/anycastd_"$version"_*.deb)
echo "build-deb: built $deb"
if [ "${LINTIAN:-1}" != 0 ] && command -v lintian >/dev/null 2>&1; then
	lintian --pedantic --display-info --fail-on error,warning "$deb"
	echo "build-deb: lintian --pedantic: no error, no warning"
fi

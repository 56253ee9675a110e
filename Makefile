# anycastd: the one entry point for building, testing, installing and packaging.
#   make build | test | test-frr10 | msrv | sim | lint | bench | demo | install | deb
#   make deb-trixie | deb-bookworm | package-test
#   make install-systemd | install-openrc | install-runit  (install, then the service files)
# Variables: PREFIX (/usr/local), DESTDIR, SYSCONFDIR (/etc), NOMAN (set: no man pages),
#            CARGO, CARGO_FLAGS, SYSTEMDUNITDIR, RUNITSVDIR, DEB_BUILDDIR, DEB_PROFILES,
#            PACKAGE_TEST_SUITES.

CARGO ?= cargo
CARGO_FLAGS ?= --locked
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
DOCDIR = $(PREFIX)/share/doc/anycastd
BIN = target/release/anycastd

.PHONY: all build test test-unit test-integration test-frr10 msrv sim lint lint-systemd bench demo \
	install uninstall clean install-systemd install-openrc install-runit deb deb-trixie deb-bookworm \
	package-test

# Service files (packaging/): the paths they name are rewritten for PREFIX and SYSCONFDIR.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
OPENRCDIR = $(SYSCONFDIR)/init.d
OPENRCCONFDIR = $(SYSCONFDIR)/conf.d
RUNITSVDIR ?= $(SYSCONFDIR)/sv
SUBST = sed -e 's|/usr/bin/anycastd|$(BINDIR)/anycastd|g' -e 's|/etc/anycastd|$(SYSCONFDIR)/anycastd|g'
# $(call subst_install,MODE,SOURCE,DEST): install SOURCE with the paths rewritten.
subst_install = { $(SUBST) $(2) >$(3).new && chmod $(1) $(3).new && mv -f $(3).new $(3); }
# Shell scripts of packaging/ (the OpenRC and runit settings files are sourced sh too).
PACKAGING_SCRIPTS = packaging/build-deb.sh packaging/build-deb-root.sh packaging/test/*.sh \
	packaging/runit/anycastd/run packaging/runit/anycastd/finish packaging/runit/anycastd/log/run \
	packaging/openrc/anycastd.initd packaging/debian/anycastd.init \
	packaging/debian/anycastd.postinst packaging/debian/anycastd.postrm
# Debian package: built in DEB_BUILDDIR from a copy of the tree. A cargo that no Debian
# package provides (rustup's) builds with the profile that drops the cargo/rustc
# Build-Depends.
DEB_BUILDDIR ?= target/deb
DEB_PROFILES ?= $(if $(filter-out /usr/bin/cargo,$(shell command -v $(CARGO))),pkg.anycastd.path-cargo,)

all: build

build:
	$(CARGO) build --release $(CARGO_FLAGS)

# Unit tests, then the integration tests (the real binary against stand-ins and against
# real FRR in network namespaces: those need root and FRR, and fail under CI=true if they
# cannot run).
test:
	$(CARGO) test $(CARGO_FLAGS) --lib --bins -- --skip daemon::sim
	$(CARGO) test $(CARGO_FLAGS) --lib daemon::sim -- --nocapture
	$(CARGO) test $(CARGO_FLAGS) --test integration -- --test-threads=4

# The integration tests again, every lab on Debian 13's FRR 10.3 (run from the trixie root
# of tests/trixie/root.sh, built on first use: root, debootstrap, the Debian mirror).
test-frr10:
	ANYCASTD_TEST_FRR=10.3 $(CARGO) test $(CARGO_FLAGS) --test integration -- --test-threads=4

# Debian 13's own rustc and cargo (1.85, Cargo.toml's rust-version) build the code and run
# the unit tests, offline, in the trixie root of tests/trixie/root.sh (root; built once).
msrv:
	CARGO='$(CARGO)' tests/trixie/msrv.sh

# The deterministic simulation with more seeds (SEEDS, default 100000), optimised; one
# seed with its trace: make sim SEED=1234.
SEEDS ?= 100000
sim:
	ANYCASTD_SIM_SEEDS=$(SEEDS) $(if $(SEED),ANYCASTD_SIM_SEED=$(SEED)) \
		$(CARGO) test $(CARGO_FLAGS) --profile sim --lib daemon::sim -- --nocapture

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(CARGO_FLAGS) --all-targets -- -D warnings
	mandoc -Tlint -W warning man/anycastd.8 man/anycastd.toml.5
	shellcheck .ci/run tests/integration/data/*.sh tests/trixie/*.sh
	shellcheck -x $(PACKAGING_SCRIPTS)
	shellcheck -s sh -e SC2034 packaging/openrc/anycastd.confd packaging/runit/anycastd/conf
	@if command -v systemd-analyze >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory lint-systemd; \
	else \
		echo "lint: no systemd-analyze here: packaging/systemd/anycastd.service NOT verified"; \
	fi

# The unit, with a stand-in for the binary (verify wants an executable); then its
# sandbox: an exposure above 2.0 fails.
lint-systemd:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	printf '#!/bin/sh\n' >"$$tmp/anycastd" && chmod 0755 "$$tmp/anycastd" && \
	sed "s|/usr/bin/anycastd|$$tmp/anycastd|g" packaging/systemd/anycastd.service \
		>"$$tmp/anycastd.service" && \
	systemd-analyze verify --man=no "$$tmp/anycastd.service" && \
	echo "systemd-analyze verify: packaging/systemd/anycastd.service OK" && \
	{ systemd-analyze security --offline=true --threshold=20 "$$tmp/anycastd.service" \
		>"$$tmp/security" || { cat "$$tmp/security"; exit 1; }; } && \
	tail -n 1 "$$tmp/security"

# Benchmarks, figures not assertions: our release build against the Python anycastd 0.1.12
# (installed from PyPI into target/bench/venv, kept for the next run), side by side in one
# run, one table at the end; every number in target/bench/results.json, the scale plot in
# target/bench/scale.svg (gnuplot), the daemons' logs in target/bench/logs/. The real-FRR
# scenarios need root and FRR. About 12 minutes.
bench: build
	$(CARGO) test $(CARGO_FLAGS) --release --test integration bench::side_by_side -- --ignored --exact --nocapture --test-threads=1

# The demo is an ignored integration test: it reuses the FRR lab and the Cabourotte
# stand-in of the test suite, and prints each step as it happens.
demo: build
	$(CARGO) test $(CARGO_FLAGS) --release --test integration e2e::demo -- --ignored --nocapture --test-threads=1

install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/anycastd
ifndef NOMAN
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 man/anycastd.8 $(DESTDIR)$(MANDIR)/man8/anycastd.8
	install -m 0644 man/anycastd.toml.5 $(DESTDIR)$(MANDIR)/man5/anycastd.toml.5
endif
	install -d $(DESTDIR)$(DOCDIR)/examples
	install -m 0644 examples/config.toml $(DESTDIR)$(DOCDIR)/examples/config.toml
	install -d $(DESTDIR)$(SYSCONFDIR)/anycastd
	test -e $(DESTDIR)$(SYSCONFDIR)/anycastd/config.toml || \
		install -m 0644 examples/config.toml $(DESTDIR)$(SYSCONFDIR)/anycastd/config.toml

# The service manager's files; each needs the user: a system user _anycastd (group
# _anycastd), member of FRR's vty group (frrvty; _frrvty on Void Linux).
install-systemd: install
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	$(call subst_install,0644,packaging/systemd/anycastd.service,$(DESTDIR)$(SYSTEMDUNITDIR)/anycastd.service)

install-openrc: install
	install -d $(DESTDIR)$(OPENRCDIR) $(DESTDIR)$(OPENRCCONFDIR)
	$(call subst_install,0755,packaging/openrc/anycastd.initd,$(DESTDIR)$(OPENRCDIR)/anycastd)
	test -e $(DESTDIR)$(OPENRCCONFDIR)/anycastd || \
		$(call subst_install,0644,packaging/openrc/anycastd.confd,$(DESTDIR)$(OPENRCCONFDIR)/anycastd)

install-runit: install
	install -d $(DESTDIR)$(RUNITSVDIR)/anycastd/log
	$(call subst_install,0755,packaging/runit/anycastd/run,$(DESTDIR)$(RUNITSVDIR)/anycastd/run)
	$(call subst_install,0755,packaging/runit/anycastd/finish,$(DESTDIR)$(RUNITSVDIR)/anycastd/finish)
	$(call subst_install,0755,packaging/runit/anycastd/log/run,$(DESTDIR)$(RUNITSVDIR)/anycastd/log/run)
	test -e $(DESTDIR)$(RUNITSVDIR)/anycastd/conf || \
		$(call subst_install,0644,packaging/runit/anycastd/conf,$(DESTDIR)$(RUNITSVDIR)/anycastd/conf)

# Settings files that may have been edited stay, like the configuration.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/anycastd $(DESTDIR)$(MANDIR)/man8/anycastd.8 \
		$(DESTDIR)$(MANDIR)/man5/anycastd.toml.5
	rm -rf $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/anycastd.service $(DESTDIR)$(OPENRCDIR)/anycastd \
		$(DESTDIR)$(RUNITSVDIR)/anycastd/run $(DESTDIR)$(RUNITSVDIR)/anycastd/finish \
		$(DESTDIR)$(RUNITSVDIR)/anycastd/log/run

# Installs what it needs when missing (as root): debian/control's Build-Depends (debhelper,
# dh-runit, dpkg-dev; Debian's cargo and rustc unless a cargo of another origin is used)
# and lintian, which then runs (--pedantic, failing on any error or warning).
deb:
	CARGO='$(CARGO)' DEB_BUILDDIR='$(DEB_BUILDDIR)' DEB_PROFILES='$(DEB_PROFILES)' \
		packaging/build-deb.sh

# `make deb` in a Debian root of tests/trixie/root.sh, with that release's own cargo, rustc
# and lintian, offline (root; each root is built once): the package for Debian 13 in
# $(DEB_BUILDDIR)/trixie, for Debian 12 (cargo-web, rustc-web) in $(DEB_BUILDDIR)/bookworm.
deb-trixie:
	SUITE=trixie DEB_BUILDDIR='$(DEB_BUILDDIR)/trixie' packaging/build-deb-root.sh

deb-bookworm:
	SUITE=bookworm DEB_BUILDDIR='$(DEB_BUILDDIR)/bookworm' packaging/build-deb-root.sh

# For each of PACKAGE_TEST_SUITES: the package that release's toolchain built (make
# deb-SUITE) in a fresh chroot of it, then its sysvinit, runit, OpenRC (and, with
# systemd-nspawn, systemd) services for real (root; debootstrap and the Debian mirror).
PACKAGE_TEST_SUITES ?= bookworm trixie
package-test:
	for suite in $(PACKAGE_TEST_SUITES); do \
		$(MAKE) --no-print-directory deb-$$suite && \
		SUITE=$$suite DEB_BUILDDIR='$(DEB_BUILDDIR)/'$$suite packaging/test/package-test.sh || exit 1; \
	done

clean:
	$(CARGO) clean

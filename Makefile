# changegate — see README.md. `make demo` and `make test` work on a fresh Debian machine as root.
# The toolchain's usual place on these machines, when it is not on PATH yet.
export PATH := $(if $(wildcard /opt/swift/usr/bin/swift),/opt/swift/usr/bin:,)$(PATH)
PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= $(if $(wildcard /opt/swift/usr/bin/swift),/opt/swift/usr/bin/swift,swift)
BIN_DIR = $(shell $(SWIFT) build --show-bin-path 2>/dev/null)
# Release builds link the Swift runtime and Foundation statically: the binaries run on hosts without Swift.
RELEASE_FLAGS = -c release --static-swift-stdlib
RELEASE_BIN_DIR = $(shell $(SWIFT) build $(RELEASE_FLAGS) --show-bin-path 2>/dev/null)

.PHONY: all deps build test reliability demo bench install install-files deb man clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Every test: Package.swift's dependencies against the imports and the doc links (seconds), unit tests of each
# module, integration tests that run the built binaries against the simulator with the sqlite3 CLI, the systemd
# tests in a booted systemd box, `make deb` and the .deb installed and run on a clean Debian 12 root
# (scripts/test-deb-clean-root.sh), then the shortened reliability suite (crash, faults, bad input, storage).
test: deps
	python3 scripts/check_imports_test.py
	SWIFT=$(SWIFT) python3 scripts/check-imports.py
	python3 scripts/check-doc-links.py
	$(SWIFT) build --build-tests
	CHANGEGATE_BIN_DIR=$(BIN_DIR) scripts/run-tests.sh $(SWIFT) test --skip-build --skip HAChaosTests --skip PostgresDaemonTests
	# Alone, each: several daemons on PostgreSQL (a failover, a partition, 200 deployments under attack) load the
	# machine under the other suites' timed waits, and their own lease margins need it unloaded.
	CHANGEGATE_BIN_DIR=$(BIN_DIR) scripts/run-tests.sh $(SWIFT) test --skip-build --filter PostgresDaemonTests
	CHANGEGATE_BIN_DIR=$(BIN_DIR) scripts/run-tests.sh $(SWIFT) test --skip-build --filter HAChaosTests
	$(MAKE) --no-print-directory deb
	scripts/test-deb-clean-root.sh .build/deb
	CHANGEGATE_BIN_DIR=$(BIN_DIR) scripts/run-tests.sh python3 reliability/run.py --short

# The full reliability suite: 300 deployments and 30 kill -9, 200 under ServiceNow faults, bad input, storage.
reliability: deps
	$(SWIFT) build
	CHANGEGATE_BIN_DIR=$(BIN_DIR) python3 reliability/run.py

demo: deps
	$(SWIFT) build --product changegate
	$(SWIFT) build --product changegate-snowsim
	CHANGEGATE_BIN_DIR=$(BIN_DIR) scripts/demo.sh

bench: deps
	$(SWIFT) build $(RELEASE_FLAGS)
	CHANGEGATE_BIN_DIR=$(RELEASE_BIN_DIR) scripts/bench.sh

# Installs the binary, the unit (ExecStart= and Documentation= pointed at PREFIX), the example config
# (never overwriting one), sysusers/tmpfiles snippets, the journal message catalog and the docs. Then, as
# root: systemd-sysusers; systemd-tmpfiles --create changegate.conf; journalctl --update-catalog;
# systemctl daemon-reload (docs/running-under-systemd.md). BINARY=path installs that binary instead of
# building a release here (packagers, tests); UNITDIR=/usr/lib/systemd/system for distribution packages.
# The config is 0644: the daemon runs as user changegate and reads it; it holds no secrets (credentials do).
# `install-files` is the part without the build and the /etc setup, which debian/rules uses.
BINARY ?=
UNITDIR ?= /etc/systemd/system
DOC_DIR = $(DESTDIR)$(PREFIX)/share/doc/changegate
install:
	$(if $(BINARY),test -x $(BINARY),$(SWIFT) build $(RELEASE_FLAGS) --product changegate)
	$(MAKE) --no-print-directory install-files BINARY=$(or $(BINARY),$(RELEASE_BIN_DIR)/changegate)
	install -d -m 0755 $(DESTDIR)/etc/changegate
	install -d -m 0700 $(DESTDIR)/etc/changegate/credentials
	test -e $(DESTDIR)/etc/changegate/changegate.toml || install -m 0644 etc/changegate.toml $(DESTDIR)/etc/changegate/changegate.toml

install-files:
	test -x $(BINARY)
	install -D -m 0755 $(BINARY) $(DESTDIR)$(PREFIX)/bin/changegate
	install -D -m 0644 systemd/changegate.service $(DESTDIR)$(UNITDIR)/changegate.service
	sed -i -e 's|/usr/local/bin/changegate|$(PREFIX)/bin/changegate|g' \
		-e 's|/usr/share/doc/changegate|$(PREFIX)/share/doc/changegate|g' $(DESTDIR)$(UNITDIR)/changegate.service
	install -D -m 0644 systemd/changegate.sysusers $(DESTDIR)/usr/lib/sysusers.d/changegate.conf
	install -D -m 0644 systemd/changegate.tmpfiles $(DESTDIR)/usr/lib/tmpfiles.d/changegate.conf
	install -D -m 0644 systemd/changegate.catalog $(DESTDIR)/usr/lib/systemd/catalog/changegate.catalog
	sed -i 's|/usr/share/doc/changegate|$(PREFIX)/share/doc/changegate|g' $(DESTDIR)/usr/lib/systemd/catalog/changegate.catalog
	install -D -m 0644 README.md $(DOC_DIR)/README.md
	install -m 0644 docs/*.md $(DOC_DIR)/
	install -D -m 0644 systemd/drop-in-example.conf $(DOC_DIR)/drop-in-example.conf
	install -D -m 0644 etc/changegate.toml $(DOC_DIR)/changegate.toml.example

# changegate_<VERSION>_<arch>.deb and changegate-simulator_…deb (+ -dbgsym) in .build/deb/, with debhelper,
# checked by lintian (scripts/build-deb.sh; packaging tools installed by install-deps.sh --packaging).
deb: deps
	scripts/install-deps.sh --packaging
	$(SWIFT) build $(RELEASE_FLAGS) --product changegate
	$(SWIFT) build $(RELEASE_FLAGS) --product changegate-snowsim
	SWIFT=$(SWIFT) scripts/build-deb.sh $(RELEASE_BIN_DIR)

# The man pages the package installs, from a debug build, to read before packaging: man .build/man/changegate.1
man: build
	SWIFT=$(SWIFT) scripts/generate-man-pages.sh $(BIN_DIR) .build/man

clean:
	rm -rf .build demo-run

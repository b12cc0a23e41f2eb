# One task runner: .ci/run and README.md both use `make test`.
CARGO ?= cargo

.PHONY: fmt lint walls test ci run bench schemas ui browser api-fuzz openapi sample-release tray tray-test tray-deb

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# The walls between the crates (GUI, API, heavy dependencies, import circles): scripts/walls.sh.
walls:
	CARGO=$(CARGO) scripts/walls.sh

# The dashboard (ui/) is built first: the qcity-api crate embeds ui/dist.
# `npm install` with the lock file, not `npm ci`: the lock holds only the platform packages the
# registry serves here, and `npm ci` refuses a lock without every optional one.
ui/node_modules/.package-lock.json: ui/package.json ui/package-lock.json
	cd ui && npm install --no-audit --no-fund --no-save

ui: ui/node_modules/.package-lock.json
	cd ui && npm run types:check && npm run check && npm run build

test: ui lint walls
	CARGO=$(CARGO) scripts/newer-qcity.sh
	scripts/moto-venv.sh
	$(CARGO) test --workspace --locked
	$(MAKE) browser
	$(MAKE) api-fuzz
	$(MAKE) tray-test
	$(MAKE) tray-deb

# The dashboard in headless Chromium (Debian's package) against a real `qcity up`.
browser:
	CARGO=$(CARGO) scripts/newer-qcity.sh
	cd ui && QCITY_BIN=$(CURDIR)/target/debug/qcity node --test --test-concurrency=1 tests/

# The API against its generated OpenAPI document: schemathesis (PyPI, in a venv under
# target/tools) drives a real `qcity up` with every check; any failure fails the build.
api-fuzz:
	$(CARGO) build --locked -p qcity
	scripts/api-fuzz.sh

# Rewrites the checked-in OpenAPI document and the dashboard's TypeScript types after a
# change to the API's routes or wire types (`make test` fails while either is stale).
openapi:
	QCITY_BLESS=1 $(CARGO) test --locked -p qcity-api --test api openapi
	cd ui && npm run types

# The tray app for real under Xvfb, with its own D-Bus session (src-tauri/tests/): the tray
# item and notifications over D-Bus, the window over WebDriver (tauri-driver + WebdriverIO).
TOOLS := $(CURDIR)/target/tools
$(TOOLS)/bin/tauri-driver:
	$(CARGO) install tauri-driver --version 2.1.0 --locked --root $(TOOLS)

src-tauri/tests/node_modules/.package-lock.json: src-tauri/tests/package.json src-tauri/tests/package-lock.json
	cd src-tauri/tests && npm install --no-audit --no-fund --no-save

tray-test: $(TOOLS)/bin/tauri-driver src-tauri/tests/node_modules/.package-lock.json
	$(CARGO) build --locked -p qcity-tray -p qcity
	TAURI_DRIVER=$(TOOLS)/bin/tauri-driver xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
	  node --test --test-concurrency=1 src-tauri/tests/

# The tray app's .deb (`tauri build`, release), then a look inside it: the binary, the
# desktop entry, the icons and the libraries it depends on.
DEB := target/release/bundle/deb/qcity-tray_0.1.0_amd64.deb
tray-deb: src-tauri/tests/node_modules/.package-lock.json
	cd src-tauri && CI=true ./tests/node_modules/.bin/tauri build --bundles deb
	dpkg-deb --contents $(DEB) | grep -q ' usr/bin/qcity-tray$$'
	dpkg-deb --contents $(DEB) | grep -q ' usr/bin/qcity-dashboard$$'
	# The tray itself never links WebKit (its idle memory); the dashboard does.
	readelf -d target/release/qcity-dashboard | grep -q 'NEEDED.*libwebkit2gtk'
	! readelf -d target/release/qcity-tray | grep -qi 'NEEDED.*\(webkit\|javascriptcore\)'
	dpkg-deb --contents $(DEB) | grep -q ' usr/share/applications/qcity-tray.desktop$$'
	dpkg-deb --contents $(DEB) | grep -q ' usr/share/icons/hicolor/128x128/apps/qcity-tray.png$$'
	dpkg-deb --field $(DEB) Depends | grep -q libwebkit2gtk-4.1-0
	@echo "tray-deb: ok: $(DEB)"

# Runs the tray app (the engine in-process, or attached to a running `qcity up`).
tray: ui
	$(CARGO) build --release --locked -p qcity-tray --features custom-protocol
	target/release/qcity-tray

ci: test

# Runs QCity on its embedded defaults (sample config, SQLite in the XDG data dir).
run: ui
	$(CARGO) run --release --locked -p qcity -- up

# Regenerates the checked-in JSON Schemas after a change to the config types.
schemas:
	QCITY_BLESS=1 $(CARGO) test -p qcity-config --test schemas

# Re-signs config/qi/manifest.json after a change to the sample release's files
# (crates/qcity-installer/src/sample.rs). QCITY_SAMPLE_KEY: a file with the 64-hex-digit
# Ed25519 seed, kept outside the project.
sample-release:
	QCITY_SAMPLE_KEY=$(QCITY_SAMPLE_KEY) $(CARGO) test -p qcity-installer --test sample -- --nocapture

bench:
	$(CARGO) build --release --locked -p qcity
	bench/run.sh

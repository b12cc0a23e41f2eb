# One task runner: .ci/run and README.md both use `make test`.
CARGO ?= cargo

.PHONY: fmt lint walls test ci run bench schemas

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# The engine crates never depend on a GUI toolkit (DESIGN.md §2, wall 1).
walls:
	@for c in qcity-config qcity-store qcity-engine qcity-api; do \
	  if $(CARGO) tree -p $$c --locked --prefix none | grep -Eq '^(tauri|wry|gtk|webkit2gtk)'; then \
	    echo "$$c depends on a GUI crate"; exit 1; fi; done; echo "walls: ok"

test: lint walls
	$(CARGO) test --workspace --locked

ci: test

# Runs QCity on its embedded defaults (sample config, SQLite in the XDG data dir).
run:
	$(CARGO) run --release --locked -p qcity -- up

# Regenerates the checked-in JSON Schemas after a change to the config types.
schemas:
	QCITY_BLESS=1 $(CARGO) test -p qcity-config --test schemas

bench:
	$(CARGO) build --release --locked -p qcity
	bench/run.sh

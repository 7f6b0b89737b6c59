# The two front-door commands: `make demo` (the main job) and `make test` (the whole suite).
# Both install what they need themselves (apt packages when run as root, pip packages, the
# package built from this checkout), so they work on a fresh machine.

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
APT_PACKAGES := tshark nftables iproute2 ethtool
# rstlab watch --filter compiles pcap expressions with the libpcap it finds at run time.
APT_PACKAGES += libpcap0.8
OUT ?= out

.PHONY: demo test setup system-deps python-deps install rust-test py-test bench fuzz fuzz-stable clean

demo: setup
	$(PYTHON) -m rstlab demo --out $(OUT)

test: setup rust-test py-test

setup: system-deps python-deps install

# Debian packages the tests and the lab use; installed only when missing (needs root).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: skipping apt packages$$missing (tests needing them will skip)"; fi; \
	fi

python-deps:
	$(PIP) install -q --disable-pip-version-check "maturin>=1.5,<2" "pyarrow>=15" "pandas>=2" "polars>=1" \
	  "matplotlib>=3.7" "pytest>=8" "pytest-xdist>=3" "nbclient>=0.7" "nbformat>=5" "ipykernel>=6" "jsonschema>=4.18"

# Build the abi3 wheel from this checkout and install it (what `pip install .` does for users).
install:
	$(PIP) install -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps .

rust-test:
	cargo test --workspace --release --exclude rstlab-py
	cargo test --release -p rstlab-py --lib

py-test:
	$(PYTHON) -m pytest -q
	@if [ "$$(id -u)" = 0 ]; then $(PYTHON) -m rstlab conform; else echo "not root: conformance suite skipped (rstlab conform needs root)"; fi

bench:
	$(PYTHON) bench/run.py

# Coverage-guided fuzzing of reader + connection tracking + Zeek + classifier (needs nightly and
# cargo-fuzz); fuzz-stable runs the same target body over mutated seeds on the stable toolchain.
FUZZ_SECONDS ?= 300
fuzz:
	cd rust/rstlab-trace && mkdir -p fuzz/corpus/read_and_track && \
	  cargo +nightly fuzz run read_and_track fuzz/corpus/read_and_track fuzz/seeds -- -max_total_time=$(FUZZ_SECONDS) -max_len=16384

fuzz-stable:
	cargo run --profile fuzz -p rstlab-trace --example fuzz_smoke -- --seconds $(FUZZ_SECONDS)

clean:
	rm -rf target $(OUT) bench/data

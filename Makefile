# The two front-door commands: `make demo` (the main job) and `make test` (the whole suite).
# Both install what they need themselves (apt packages when run as root, pip packages, the
# package built from this checkout), so they work on a fresh machine.

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
APT_PACKAGES := tshark nftables iproute2 ethtool
APT_PACKAGES += chromium
# rstlab watch --filter compiles pcap expressions with the libpcap it finds at run time.
APT_PACKAGES += libpcap0.8
OUT ?= out

.PHONY: demo test setup system-deps python-deps install wheel rust-test py-test bench fuzz fuzz-stable clean
.PHONY: docs docs-causes

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
	$(PIP) install -q --disable-pip-version-check "maturin>=1.9,<2" "pyarrow>=15" "pandas>=2" "polars>=1" \
	  "matplotlib>=3.7" "pytest>=8" "pytest-xdist>=3" "nbclient>=0.7" "nbformat>=5" "ipykernel>=6" "jsonschema>=4.18"
	$(PIP) install -q --disable-pip-version-check "tqdm>=4.66"
	$(PIP) install -q --disable-pip-version-check "dask[dataframe]>=2024.1" "distributed>=2024.1" "fsspec>=2023.1"  # rstlab[dask]
	$(PIP) install -q --disable-pip-version-check "mypy>=1.15,<3" "basedpyright>=1.28,<2"  # tests/test_typing.py
	$(PIP) install -q --disable-pip-version-check "mkdocs>=1.6,<2" "mkdocs-material>=9.5" "mkdocstrings[python]>=0.25" "ruff>=0.4"
	$(PIP) install -q --disable-pip-version-check "ziglang>=0.13" "auditwheel>=6"

# Build the wheel once (`make wheel`) and install that very file; tests/test_wheel.py reuses it.
install: wheel
	$(PIP) install -q --disable-pip-version-check --force-reinstall --no-deps $(WHEEL_DIR)/rstlab-*.whl

# The manylinux2014 (glibc 2.17) abi3 wheel, extension stripped, and the sdist, in $(WHEEL_DIR).
# zig (PyPI's ziglang, put on PATH here) links against glibc 2.17's symbol versions whatever
# glibc this machine has; maturin then audits the wheel against the manylinux2014 policy.
WHEEL_DIR ?= dist
MATURIN ?= maturin
wheel:
	rm -f $(WHEEL_DIR)/rstlab-*.whl $(WHEEL_DIR)/rstlab-*.tar.gz
	PATH="$$($(PYTHON) -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))'):$$PATH" \
	  $(MATURIN) build --release --zig --compatibility manylinux2014 --out $(WHEEL_DIR)
	$(MATURIN) sdist --out $(WHEEL_DIR)

rust-test:
	cargo test --workspace --release --exclude rstlab-py
	cargo test --release -p rstlab-py --lib

py-test:
	$(PYTHON) -m pytest -q
	@if [ "$$(id -u)" = 0 ]; then $(PYTHON) -m rstlab conform; else echo "not root: conformance suite skipped (rstlab conform needs root)"; fi

# The documentation site, built into site/ (tests/test_docs.py builds it with --strict too);
# docs-causes regenerates the committed cause pages (docs/causes/*.md) after a registry change.
docs: python-deps install
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict --site-dir site

docs-causes:
	$(PYTHON) docs/_gen/causes.py

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

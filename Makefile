# sqmail: `make run` (a private MTA under ./run) and `make test`.

CARGO ?= cargo
# The host, named as --target: the programs go to target/$(TARGET)/, and
# .cargo/static.toml's flags (a static link on x86-64) reach them but not
# the build scripts and proc-macros. Plain `cargo build` works too (dynamic).
TARGET := $(shell uname -m)-unknown-linux-gnu
REL := target/$(TARGET)/release
CARGO_T := $(CARGO) --config .cargo/static.toml
# The programs started for each connection or message are linked with
# musl (make build adds its Rust target with rustup when it can): glibc
# probes the CPU with 68 cpuid instructions at every start, each a trap to
# the hypervisor on a virtual machine (~0.7 ms per exec; README.md,
# "Building for a distribution"). package/home links these from MUSL_REL
# when SQMAIL_MUSL_BIN says so, the glibc build for the rest.
MUSL := $(shell uname -m)-unknown-linux-musl
MUSL_CC := CC_$(subst -,_,$(MUSL))
MUSL_REL := target/$(MUSL)/release
# Started once and running long: their start-up does not count, and they
# keep the glibc build (the deliveries run in forks of qmail-lspawn and
# qmail-rspawn, the TLS relays in forks of sslserver).
LONG_RUNNING := qmail-send qmail-start qmail-lspawn qmail-rspawn qmail-clean \
  qmail-todo tcpserver sslserver splogger
# qmail-authuser checks yescrypt ($$y$$) hashes with the system's libxcrypt,
# which is built for glibc (it does not link with musl, whose crypt has no
# yescrypt).
GLIBC_ONLY := qmail-authuser
MUSL_BINS := $(addprefix --bin ,$(filter-out $(LONG_RUNNING) $(GLIBC_ONLY),\
  $(basename $(notdir $(wildcard src/bin/*.rs)))))
HAVE_MUSL = rustup target list --installed 2>/dev/null | grep -qx $(MUSL)
HOME_DIR := $(CURDIR)/run
USER_NAME := $(shell id -un)

.PHONY: all build test run bench bench-tls bench-backlog setup-test clean fmt lint fuzz

all: build

build:
	@$(HAVE_MUSL) || rustup target add $(MUSL) >/dev/null 2>&1 || \
	  { echo "make: WARNING: no $(MUSL) target (rustup target add $(MUSL)):"; \
	    echo "make: WARNING: every program stays on glibc and starts ~0.7 ms slower (README.md)"; }
	@if $(HAVE_MUSL); then \
	  echo "$(MUSL_CC)=$${CC:-cc} $(CARGO) build --release --target $(MUSL) [per-message programs]"; \
	  $(MUSL_CC)=$${CC:-cc} $(CARGO) build --release --target $(MUSL) $(MUSL_BINS) && \
	  echo "SQMAIL_GLIBC_BUILD=1 $(CARGO_T) build --release --target $(TARGET)" && \
	  SQMAIL_GLIBC_BUILD=1 $(CARGO_T) build --release --target $(TARGET); \
	else \
	  echo "$(CARGO_T) build --release --target $(TARGET)"; \
	  $(CARGO_T) build --release --target $(TARGET); \
	fi

# Everything the tests need from the system is installed by package/testdeps.
test:
	sh package/testdeps
	$(CARGO_T) build --target $(TARGET)
	$(CARGO_T) test --target $(TARGET) --lib --bins --test t -- --test-threads=4
	@# The musl builds that make run and package/install prefer: the queue
	@# and SMTP tests again with them in every test home's bin/. Without
	@# the target they are skipped loudly, or fail under SQMAIL_REQUIRE_PEERS=1.
	@rustup target list --installed 2>/dev/null | grep -qx $(MUSL) || \
	  { [ "$${SQMAIL_REQUIRE_PEERS:-}" = 1 ] && rustup target add $(MUSL) >/dev/null 2>&1; } || \
	  { echo "SKIPPED: musl builds: no $(MUSL) target (rustup target add $(MUSL))" >&2; \
	    [ "$${SQMAIL_REQUIRE_PEERS:-}" != 1 ]; }
	@if rustup target list --installed 2>/dev/null | grep -qx $(MUSL); then \
	  echo "musl builds: qmail-smtpd and queue tests"; \
	  $(MUSL_CC)=$${CC:-cc} $(CARGO) build -q --target $(MUSL) $(MUSL_BINS) && \
	  SQMAIL_MUSL_BIN=$(CURDIR)/target/$(MUSL)/debug $(CARGO_T) test -q --target $(TARGET) --test t -- \
	    qmail_smtpd smtpd_ qmail_queue queue_pool spf postgrey qmtp qmq --test-threads=4; \
	fi

run: build
	@[ -d "$(HOME_DIR)/queue" ] || SQMAIL_BIN=$(CURDIR)/$(REL) SQMAIL_MUSL_BIN=$$([ -x $(MUSL_REL)/qmail-queue ] && echo $(CURDIR)/$(MUSL_REL)) sh package/home "$(HOME_DIR)" "$(USER_NAME)"
	@SQMAIL_BIN=$(CURDIR)/$(REL) SQMAIL_MUSL_BIN=$$([ -x $(MUSL_REL)/qmail-queue ] && echo $(CURDIR)/$(MUSL_REL)) sh package/home "$(HOME_DIR)" "$(USER_NAME)" >/dev/null
	@sh package/run-private "$(HOME_DIR)" "$(USER_NAME)"

bench: build
	bash t/bench/run

# TLS on every session alone (also the "tls" work of make bench).
bench-tls: build
	bash t/bench/tls

# A refusing relay with a long backlog, then its drain, beside Postfix
# (t/bench/backlog; BACKLOG_MSGS=5000 for a quick run).
bench-backlog: build
	bash t/bench/backlog

# Each cargo-fuzz target in turn for FUZZ_SECONDS (nightly and cargo-fuzz
# needed; see fuzz/README.md). New inputs go to fuzz/work/<target>, the
# committed seeds in fuzz/corpus/<target> are only read. Stops at the
# first target that crashes (its input is in fuzz/artifacts/<target>/).
FUZZ_SECONDS ?= 600
FUZZ_TARGETS = $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))

fuzz:
	@set -e; cd fuzz; for t in $(FUZZ_TARGETS); do \
	  mkdir -p work/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	  $(CARGO) +nightly fuzz run $$t work/$$t corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1; \
	done

fmt:
	$(CARGO) fmt

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	@# The fuzz targets are their own workspace: checked here so that a
	@# library change that breaks them fails CI, not the next make fuzz.
	$(CARGO) check -q --manifest-path fuzz/Cargo.toml --bins

clean:
	$(CARGO) clean

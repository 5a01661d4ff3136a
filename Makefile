# sqmail: `make run` (a private MTA under ./run) and `make test`.

CARGO ?= cargo
# The host, named as --target: the programs go to target/$(TARGET)/, and
# .cargo/static.toml's flags (a static link on x86-64) reach them but not
# the build scripts and proc-macros. Plain `cargo build` works too (dynamic).
TARGET := $(shell uname -m)-unknown-linux-gnu
REL := target/$(TARGET)/release
CARGO_T := $(CARGO) --config .cargo/static.toml
# The programs exec'd once per connection or per message, also linked with
# musl when its Rust target is installed (rustup target add
# x86_64-unknown-linux-musl): static glibc probes the CPU's caches with
# cpuid at every start, which traps to the hypervisor here (~0.3-1 ms per
# exec). package/home links these from MUSL_REL when SQMAIL_MUSL_BIN says so.
MUSL := $(shell uname -m)-unknown-linux-musl
MUSL_CC := CC_$(subst -,_,$(MUSL))
MUSL_REL := target/$(MUSL)/release
MUSL_BINS := --bin qmail-queue --bin qmail-smtpd --bin qmail-qmtpd --bin qmail-qmqpd --bin qmail-qmqpc
HOME_DIR := $(CURDIR)/run
USER_NAME := $(shell id -un)

.PHONY: all build test run bench bench-backlog setup-test clean fmt lint fuzz

all: build

build:
	$(CARGO_T) build --release --target $(TARGET)
	@rustup target list --installed 2>/dev/null | grep -qx $(MUSL) || \
	  rustup target add $(MUSL) >/dev/null 2>&1 || \
	  echo "make: no $(MUSL) target: qmail-queue and qmail-smtpd stay on glibc"
	@if rustup target list --installed 2>/dev/null | grep -qx $(MUSL); then \
	  echo "$(MUSL_CC)=$${CC:-cc} $(CARGO) build --release --target $(MUSL) $(MUSL_BINS)"; \
	  $(MUSL_CC)=$${CC:-cc} $(CARGO) build --release --target $(MUSL) $(MUSL_BINS); \
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
	sh t/bench/run

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

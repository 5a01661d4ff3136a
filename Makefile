# sqmail: `make run` (a private MTA under ./run) and `make test`.

CARGO ?= cargo
TARGET := x86_64-unknown-linux-gnu
REL := target/$(TARGET)/release
HOME_DIR := $(CURDIR)/run
USER_NAME := $(shell id -un)

.PHONY: all build test run bench setup-test clean fmt lint

all: build

build:
	$(CARGO) build --release

# Everything the tests need from the system is installed by package/testdeps.
test:
	sh package/testdeps
	$(CARGO) build
	$(CARGO) test --lib --bins --test t -- --test-threads=4

run: build
	@[ -d "$(HOME_DIR)/queue" ] || SQMAIL_BIN=$(CURDIR)/$(REL) sh package/home "$(HOME_DIR)" "$(USER_NAME)"
	@SQMAIL_BIN=$(CURDIR)/$(REL) sh package/home "$(HOME_DIR)" "$(USER_NAME)" >/dev/null
	@sh package/run-private "$(HOME_DIR)" "$(USER_NAME)"

bench: build
	sh t/bench/run

fmt:
	$(CARGO) fmt

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean

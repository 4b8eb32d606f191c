# mailaccess: the two commands a newcomer needs are `make demo` and `make test`.

CARGO ?= cargo
PREFIX ?= /usr/local
DEMO_PORT ?= 1143

.PHONY: all build release test test-deps lint demo clean bench

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

# Installs what the tests need (as root: Debian packages, the test user),
# then runs formatting and lint checks and every test.
test: test-deps
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) build --release --bins
	$(CARGO) test --release

test-deps:
	sh scripts/test-deps.sh

# Times imapd against Dovecot's imap on generated Maildirs and writes
# bench/results.md (run as root; see bench/imap_bench.py --help).
# A quick run: make bench BENCH_ARGS="--sizes 10000 --runs 3".
BENCH_ARGS ?=
bench: release
	python3 bench/imap_bench.py $(BENCH_ARGS)

# Starts imapd on 127.0.0.1:$(DEMO_PORT) serving a demo Maildir in ./demo.
demo: release
	sh scripts/demo.sh $(DEMO_PORT)

clean:
	$(CARGO) clean
	rm -rf demo

# mailaccess: the two commands a newcomer needs are `make demo` and `make test`.

CARGO ?= cargo
PREFIX ?= /usr/local
DEMO_PORT ?= 1143

.PHONY: all build release test test-deps lint demo clean bench install uninstall fuzz deb

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
# Not run here: bench/pop3_bench.py (POP3), bench/mbox_bench.py (a 1 GB
# mbox INBOX, appends to bench/results.md), bench/memory_bench.py (peak
# RSS per request on a 200 MB message), bench/write_bench.py (STORE, APPEND,
# EXPUNGE on 100,000 messages), bench/startup_bench.py (a session's
# start-up against /bin/true), bench/qresync_bench.py (QRESYNC against a
# plain resync after 10 changes on 100,000 messages) and
# bench/proxy_load.py (500 sessions through nginx's mail proxy on two
# hosts, against Dovecot behind the same nginx), each run as root by hand.
BENCH_ARGS ?=
bench: release
	python3 bench/imap_bench.py $(BENCH_ARGS)

# Starts imapd on 127.0.0.1:$(DEMO_PORT) serving a demo Maildir in ./demo.
demo: release
	sh scripts/demo.sh $(DEMO_PORT)

# Installs the release binaries (build them first: make release), man
# pages, PAM and xinetd service files (xinetd services disabled) and
# /etc/mailaccess.conf, never overwriting a file that exists; creates the
# user mailaccess and /var/empty when installing for real (DESTDIR empty).
# See scripts/install.sh and README "Installing".
install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" sh scripts/install.sh install

# Builds mailaccess_VERSION_ARCH.deb (scripts/deb.sh): the files of make
# install under /usr and /etc, /etc files as conffiles, nothing enabled.
deb: release
	sh scripts/deb.sh

# Removes what install put there; configuration files only when unchanged.
uninstall:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" sh scripts/install.sh uninstall

clean:
	$(CARGO) clean
	if [ -L demo ]; then rm -rf "$$(readlink demo)"; fi
	rm -rf demo

# Runs every fuzz target (fuzz/fuzz_targets) for FUZZ_SECONDS each with
# cargo-fuzz on the stable toolchain (no sanitizer: -s none); installs
# cargo-fuzz first when missing. New inputs go to fuzz/corpus/TARGET (not
# in git), starting from the committed seeds in fuzz/seeds/TARGET where
# there are any. Crashes land in fuzz/artifacts/.
FUZZ_SECONDS ?= 60
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	for t in $$(cd fuzz && $(CARGO) fuzz list); do \
	    mkdir -p fuzz/corpus/$$t; \
	    $(CARGO) fuzz run -s none -O $$t fuzz/corpus/$$t $$(ls -d fuzz/seeds/$$t 2>/dev/null) \
	        -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536 || exit 1; \
	done

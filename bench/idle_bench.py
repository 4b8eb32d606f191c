#!/usr/bin/env python3
"""IDLE latency benchmark (issue 13): how long from a delivery to the
idling client's `* n EXISTS`, imapd against Dovecot's imap on the same
kind of mailbox.

One preauthenticated session per server over pipes (run as `mailtest`
through setpriv), SELECT INBOX, IDLE; then, `--runs` times, a message is
delivered as an MTA does (Maildir: written in tmp/, renamed into new/;
mbox: appended at the end of the file) and the time until the EXISTS line
arrives is taken. Deliveries are spaced by a random pause (0.1-0.6 s) so
that they do not line up with a server's periodic look.

Run as root from the repository after `cargo build --release`:

    python3 bench/idle_bench.py [--runs 20] [--backend maildir|mbox]

Python 3.11, standard library only. Prints a table (milliseconds).
"""

from __future__ import annotations

import argparse
import os
import random
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAPD = REPO / "target/release/imapd"
DOVECOT_IMAP = "/usr/lib/dovecot/imap"
USER = "mailtest"
MSG = b"From: a@example.org\nTo: b@example.org\nSubject: idle\n\nhello\n"


def chown(p: Path) -> None:
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(p)], check=True)


def home(root: Path, server: str, backend: str) -> tuple[Path, str]:
    h = root / f"{server}-{backend}"
    if backend == "maildir":
        for d in ("cur", "new", "tmp"):
            (h / "Maildir" / d).mkdir(parents=True, exist_ok=True)
        loc = f"maildir:{h / 'Maildir'}"
    else:
        (h / "mail").mkdir(parents=True, exist_ok=True)
        (h / "inbox").write_bytes(b"From a@b Sat Nov 21 06:13:17 2026\n" + MSG + b"\n")
        loc = f"mbox:{h / 'mail'}:INBOX={h / 'inbox'}"
    (h / "dovecot.conf").write_text(
        f"mail_location = {loc}\nssl = no\nlog_path = /dev/null\n"
        "info_log_path = /dev/null\nprotocols = imap\nlisten =\n"
    )
    chown(h)
    return h, loc


def deliver(h: Path, backend: str, n: int) -> None:
    if backend == "maildir":
        name = f"{1_700_000_000 + n}.M{n}P{os.getpid()}.bench"
        tmp = h / "Maildir/tmp" / name
        tmp.write_bytes(MSG)
        os.chown(tmp, *uid_gid())
        os.rename(tmp, h / "Maildir/new" / name)
    else:
        with open(h / "inbox", "ab") as f:
            f.write(b"From mta@example.org Sat Nov 21 06:13:17 2026\n" + MSG + b"\n")


def uid_gid() -> tuple[int, int]:
    import pwd

    p = pwd.getpwnam(USER)
    return p.pw_uid, p.pw_gid


class Session:
    def __init__(self, argv: list[str]):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buf = b""

    def send(self, line: str) -> None:
        self.p.stdin.write(line.encode() + b"\r\n")
        self.p.stdin.flush()

    def line(self, timeout: float = 10.0) -> bytes:
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                raise TimeoutError(f"no line within {timeout} s")
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def until(self, prefix: bytes, timeout: float = 10.0) -> bytes:
        while True:
            line = self.line(timeout)
            if line.startswith(prefix):
                return line

    def close(self) -> None:
        try:
            self.p.stdin.close()
        except OSError:
            pass
        self.p.wait(timeout=10)


def measure(server: str, backend: str, root: Path, runs: int) -> list[float]:
    h, loc = home(root, server, backend)
    env = ["env", "-i", f"USER={USER}", f"HOME={h}", "PATH=/usr/bin:/bin"]
    if server == "imapd":
        cmd = [str(IMAPD), "-c", "/dev/null", "-o", f"mail_location={loc}"]
    else:
        cmd = [DOVECOT_IMAP, "-c", str(h / "dovecot.conf")]
    s = Session(["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "--", *env, *cmd])
    s.until(b"* PREAUTH")
    s.send("s SELECT INBOX")
    s.until(b"s OK")
    s.send("i IDLE")
    s.until(b"+")
    out = []
    exists = 1 if backend == "mbox" else 0
    for n in range(runs):
        time.sleep(random.uniform(0.1, 0.6))
        t0 = time.monotonic()
        deliver(h, backend, n)
        exists += 1
        s.until(f"* {exists} EXISTS".encode())
        out.append((time.monotonic() - t0) * 1000)
    s.send("DONE")
    s.until(b"i OK")
    s.send("z LOGOUT")
    s.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--backend", choices=["maildir", "mbox"], default="maildir")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit(f"run as root (the servers run as {USER})")
    for p in (IMAPD, DOVECOT_IMAP):
        if not Path(p).exists():
            sys.exit(f"{p} is missing (cargo build --release; make test-deps)")
    root = Path(tempfile.mkdtemp(prefix="idle-bench.", dir="/var/tmp"))
    os.chmod(root, 0o755)
    try:
        rows = []
        for server in ("imapd", "dovecot"):
            ms = measure(server, a.backend, root, a.runs)
            rows.append((server, statistics.median(ms), min(ms), max(ms)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"delivery to EXISTS while idling, {a.backend}, {a.runs} deliveries (ms)\n")
    print("| server | median | min | max |")
    print("|---|---:|---:|---:|")
    for server, med, lo, hi in rows:
        print(f"| {server} | {med:.1f} | {lo:.1f} | {hi:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

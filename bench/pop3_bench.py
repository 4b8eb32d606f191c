#!/usr/bin/env python3
"""POP3 benchmark: pop3d against Dovecot's pop3 on the same Maildir.

One session, as fetchmail or a phone would run it: UIDL, RETR of every
message, QUIT (without DELE, so every run sees the same maildrop). Both
servers run preauthenticated on stdin/stdout as the unprivileged test user
(`mailtest`, created by scripts/test-deps.sh); whole-process time, spawn to
exit, median of N runs, after one run that builds each server's index.

Run as root from the repository (after `cargo build --release`):

    python3 bench/pop3_bench.py [--messages 10000] [--runs 5]
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

USER = "mailtest"
DOVECOT_POP3 = "/usr/lib/dovecot/pop3"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POP3D = os.path.join(REPO, "target", "release", "pop3d")


def message(i, rng):
    """A message of 1-50 KB (log-uniform), a quarter of the larger ones
    multipart with a base64 attachment, LF line ends as an MTA stores them."""
    size = int(10 ** rng.uniform(3, 4.7))
    line = "The quick brown fox jumps over the lazy dog, message %d.\n" % i
    text = line * max(1, size // len(line))
    head = (
        "From: Sender %d <sender%d@example.org>\nTo: you@example.org\n"
        "Subject: Benchmark message %d\nDate: Mon, 7 Feb 1994 21:52:25 -0800\n"
        "Message-ID: <%d@bench.example.org>\n" % (i, i, i, i)
    )
    if size > 4000 and rng.random() < 0.25:
        blob = "".join(rng.choice("ABCDEFGHabcdefgh0123+/") for _ in range(76)) + "\n"
        return (
            head + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b%d"\n\n'
            "--b%d\nContent-Type: text/plain\n\n%s\n--b%d\n"
            "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n%s"
            "--b%d--\n" % (i, i, text[: size // 2], i, blob * (size // 2 // 77 + 1), i)
        ).encode()
    return (head + "\n" + text).encode()


def build(root, n):
    """Two identical Maildirs: <root>/ours/Maildir and <root>/dovecot/Maildir."""
    rng = random.Random(1939)
    dirs = [os.path.join(root, who, "Maildir") for who in ("ours", "dovecot")]
    for d in dirs:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub))
    for i in range(n):
        data = message(i, rng)
        crlf = len(data) + data.count(b"\n")
        name = "%d.M%dP1.bench,S=%d,W=%d:2,S" % (1_000_000_000 + i, i, len(data), crlf)
        for d in dirs:
            with open(os.path.join(d, "cur", name), "wb") as f:
                f.write(data)
    conf = os.path.join(root, "dovecot", "dovecot.conf")
    with open(conf, "w") as f:
        f.write(
            "mail_location = maildir:%s\nssl = no\nlog_path = /dev/null\n"
            "info_log_path = /dev/null\nprotocols = pop3\nlisten =\n" % dirs[1]
        )
    subprocess.run(["chown", "-R", USER, root], check=True)
    return conf


def commands(n):
    return ("UIDL\r\n" + "".join("RETR %d\r\n" % i for i in range(1, n + 1)) + "QUIT\r\n").encode()


def run(argv, env, stdin, n):
    """One whole session; returns seconds, or raises if the output is not
    complete (a failing server must not be timed as fast)."""
    start = time.monotonic()
    p = subprocess.run(argv, input=stdin, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=600)
    took = time.monotonic() - start
    out = p.stdout
    retrs = out.count(b" octets\r\n")
    if retrs != n or not out.rstrip().endswith(b"Logging out."):
        raise RuntimeError("incomplete session: %d of %d RETR answered, exit %d" % (retrs, n, p.returncode))
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (the servers run as %s)" % USER)
    for path in (POP3D, DOVECOT_POP3):
        if not os.path.exists(path):
            sys.exit("%s is missing (cargo build --release; apt-get install dovecot-pop3d)" % path)
    root = tempfile.mkdtemp(prefix="pop3bench.")
    os.chmod(root, 0o755)
    try:
        conf = build(root, args.messages)
        stdin = commands(args.messages)
        setpriv = ["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "--"]
        ours_home = os.path.join(root, "ours")
        ours = (
            setpriv + [POP3D, "-c", "/dev/null", "-o", "mail_location=maildir:%s/Maildir" % ours_home],
            {"HOME": ours_home, "PATH": "/usr/bin:/bin"},
        )
        dov_home = os.path.join(root, "dovecot")
        dovecot = (setpriv + [DOVECOT_POP3, "-c", conf], {"USER": USER, "HOME": dov_home, "PATH": "/usr/bin:/bin"})
        rows = []
        for name, (argv, env) in (("pop3d", ours), ("dovecot pop3", dovecot)):
            first = run(argv, env, stdin, args.messages)
            warm = statistics.median(run(argv, env, stdin, args.messages) for _ in range(args.runs))
            rows.append((name, first, warm))
        (_, of, ow), (_, df, dw) = rows
        print("POP3: UIDL + RETR of every message + QUIT, %d messages, median of %d warm runs" % (args.messages, args.runs))
        print("| server | first (builds index) s | warm s |")
        print("|---|---:|---:|")
        for name, f, w in rows:
            print("| %s | %.3f | %.3f |" % (name, f, w))
        print("ratio pop3d/dovecot: first %.2f, warm %.2f" % (of / df, ow / dw))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

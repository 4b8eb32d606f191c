#!/usr/bin/env python3
"""Memory benchmark (issue 20): peak RSS of one session per request on one
big message, imapd/pop3d against Dovecot's imap/pop3 on the same file.

The message (default 200 MB: a short text part and a base64 attachment, LF
line ends as MTAs store mail) is written once into a Maildir INBOX and once
as an mbox INBOX. Each row is a fresh preauthenticated session over pipes,
run as `mailtest` through setpriv under /usr/bin/time -f %M (the server's
own peak RSS; wait4's figure would include the forked Python), doing
SELECT INBOX and the request. Every session's answers are checked (tagged
OK, a literal of the expected length where there is one), so a failing
server is never reported as small.

Rows: FETCH BODY[], BODY[TEXT]<0.10>, BODY[1]<0.10>, BODY[2],
BODY.PEEK[1.MIME], BODYSTRUCTURE, SEARCH BODY, SEARCH TEXT, COPY to another
mailbox, APPEND of the same message (a 200 MB literal from the client), and
POP3 RETR and TOP (Maildir only: Dovecot's pop3 and ours serve the same
Maildir).

Run as root from the repository after `cargo build --release`:

    python3 bench/memory_bench.py [--size-mb 200] [--mbox-mb 1000] [--output bench/results.md]

Python 3.11, standard library only. The table is printed and replaces the
section "Memory" of bench/results.md (--output - for none).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAPD = REPO / "target/release/imapd"
POP3D = REPO / "target/release/pop3d"
DOVECOT_IMAP = "/usr/lib/dovecot/imap"
DOVECOT_POP3 = "/usr/lib/dovecot/pop3"
USER = "mailtest"
WORD = "zebrafinch"
TIMEOUT = 600


def message(size_mb: int) -> bytes:
    head = (
        "From: Big Sender <big@example.org>\nTo: you@example.net\nSubject: a big one\n"
        "Message-ID: <big@example.org>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="=-=big=-="\n\n'
        "--=-=big=-=\nContent-Type: text/plain; charset=utf-8\n\n"
        + "".join(f"Line {i} of the text part.\n" for i in range(40))
        + f"The word {WORD} is in here.\n"
        + "\n--=-=big=-=\nContent-Type: application/octet-stream; name=\"data.bin\"\n"
        'Content-Disposition: attachment; filename="data.bin"\n'
        "Content-Transfer-Encoding: base64\n\n"
    ).encode()
    raw = os.urandom(size_mb * 1024 * 1024 * 3 // 4)
    body = base64.encodebytes(raw)  # 76-column lines, LF
    return head + body + b"--=-=big=-=--\n"


def chown(path: Path) -> None:
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(path)], check=True)


FILLER = (
    b"From filler@example.org Sat Nov 21 06:13:17 2026\nFrom: filler@example.org\n"
    b"Subject: filler\n\n" + b"Some ordinary mail text of a usual length.\n" * 400 + b"\n"
)


def homes(root: Path, msg: bytes, fillers: int) -> dict:
    """server/backend -> home directory with the message and configs. The
    mbox holds `fillers` ordinary messages before the big one."""
    out = {}
    for server in ("ours", "dovecot"):
        for backend in ("maildir", "mbox"):
            home = root / f"{server}-{backend}"
            if backend == "maildir":
                for d in ("cur", "new", "tmp"):
                    (home / "Maildir" / d).mkdir(parents=True, exist_ok=True)
                (home / "Maildir/cur/1000000000.M1P1.bench:2,").write_bytes(msg)
                loc = f"maildir:{home / 'Maildir'}"
            else:
                (home / "mail").mkdir(parents=True, exist_ok=True)
                with open(home / "inbox", "wb") as f:
                    for _ in range(fillers):
                        f.write(FILLER)
                    f.write(b"From big@example.org Sat Nov 21 06:13:17 2026\n")
                    f.write(msg)
                    f.write(b"\n")
                loc = f"mbox:{home / 'mail'}:INBOX={home / 'inbox'}"
            (home / "dovecot.conf").write_text(
                f"mail_location = {loc}\nssl = no\nlog_path = /dev/null\n"
                "info_log_path = /dev/null\nprotocols = imap pop3\nlisten =\n"
                "pop3_uidl_format = %08Xu%08Xv\n"
            )
            (home / "loc").write_text(loc)
            chown(home)
            out[(server, backend)] = home
    return out


def argv(server: str, proto: str, home: Path) -> list[str]:
    loc = (home / "loc").read_text()
    if server == "ours":
        cmd = [str(IMAPD if proto == "imap" else POP3D), "-c", "/dev/null", "-o", f"mail_location={loc}"]
    else:
        cmd = [DOVECOT_IMAP if proto == "imap" else DOVECOT_POP3, "-c", str(home / "dovecot.conf")]
    env = ["env", "-i", f"USER={USER}", f"HOME={home}", "PATH=/usr/bin:/bin"]
    return ["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "--", *env, *cmd]


LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


def session(args: list[str], rss_file: Path, script: bytes, done, literal_stream: bytes | None = None):
    """Runs one session; `done(line)` says when the last answer is in.
    Returns (peak kB, the text of every answer line, literal sizes)."""
    p = subprocess.Popen(
        ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    timer = threading.Timer(TIMEOUT, p.kill)
    timer.start()

    def feed():
        try:
            p.stdin.write(script)
            if literal_stream is not None:
                p.stdin.write(literal_stream)
            p.stdin.flush()
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed)
    writer.start()
    lines, literals = [], []
    while True:
        line = p.stdout.readline()
        if not line:
            break
        if m := LITERAL.search(line):
            n = int(m.group(1))
            literals.append(n)
            left = n
            while left:
                got = p.stdout.read(min(left, 1 << 20))
                if not got:
                    break
                left -= len(got)
            line += p.stdout.readline()
        lines.append(line)
        if done(line):
            break
    writer.join()
    p.stdin.close()
    p.wait()
    timer.cancel()
    return int(rss_file.read_text().split()[-1]), lines, literals


def imap_row(server, home, command, msg_len, literal=None):
    cmds = ["SELECT INBOX", command]
    if literal is not None:
        cmds = ["SELECT INBOX", "CREATE Appended", command]
    script = "".join(f"t{i} {c}\r\n" for i, c in enumerate(cmds[:-1])).encode()
    last = f"t{len(cmds) - 1}"
    script += f"{last} {cmds[-1]}\r\n".encode()
    kb, lines, lits = session(
        argv(server, "imap", home),
        home / "rss.txt",
        script,
        lambda l: l.startswith(last.encode() + b" "),
        literal,
    )
    tagged = [l for l in lines if re.match(rb"^t\d+ ", l)]
    ok = len(tagged) == len(cmds) and all(l.split()[1] == b"OK" for l in tagged)
    return kb, ok, lits


def pop3_row(server, home, command):
    """The multi-line answer to `command`, then QUIT's (after pop3d's
    greeting; Dovecot's pop3 started preauthenticated sends none)."""
    script = f"{command}\r\nQUIT\r\n".encode()
    first = 1 if server == "ours" else 0
    state = {"answers": 0, "in_data": False, "ok": 0}

    def done(line):
        if state["in_data"]:
            if line == b".\r\n":
                state["in_data"] = False
                state["answers"] += 1
            return False
        state["ok"] += line.startswith(b"+OK")
        if state["answers"] == first and line.startswith(b"+OK"):
            state["in_data"] = True
            return False
        state["answers"] += 1
        return state["answers"] == first + 2

    kb, _, _ = session(argv(server, "pop3", home), home / "rss.txt", script, done)
    return kb, state["ok"] == first + 2 and state["answers"] == first + 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument(
        "--mbox-mb", type=int, default=0, help="pad the mbox with ordinary mail before the big message to this size"
    )
    ap.add_argument("--output", default=str(REPO / "bench/results.md"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit(f"run as root (the servers run as {USER})")
    for p in (IMAPD, POP3D, DOVECOT_IMAP, DOVECOT_POP3, "/usr/bin/time"):
        if not Path(p).exists():
            sys.exit(f"{p} is missing (cargo build --release; make test-deps)")
    root = Path(tempfile.mkdtemp(prefix="memory-bench.", dir="/var/tmp"))
    os.chmod(root, 0o755)
    try:
        msg = message(a.size_mb)
        fillers = max(0, (a.mbox_mb - a.size_mb) * 1024 * 1024 // len(FILLER))
        h = homes(root, msg, fillers)
        requests = [
            ("FETCH * BODY.PEEK[]", "FETCH BODY[]"),
            ("FETCH * BODY.PEEK[TEXT]<0.10>", "FETCH BODY[TEXT]<0.10>"),
            ("FETCH * BODY.PEEK[1]<0.10>", "FETCH BODY[1]<0.10>"),
            ("FETCH * BODY.PEEK[2]", "FETCH BODY[2]"),
            ("FETCH * BODY.PEEK[1.MIME]", "FETCH BODY.PEEK[1.MIME]"),
            ("FETCH * BODYSTRUCTURE", "FETCH BODYSTRUCTURE"),
            (f"SEARCH BODY {WORD}", "SEARCH BODY word"),
            (f"SEARCH TEXT {WORD}", "SEARCH TEXT word"),
            ("COPY * INBOX", "COPY"),
        ]
        rows = []
        for cmd, label in requests:
            row = [label]
            for backend in ("maildir", "mbox"):
                for server in ("ours", "dovecot"):
                    kb, ok, _ = imap_row(server, h[(server, backend)], cmd, len(msg))
                    row.append(f"{kb / 1024:.1f}" if ok else f"failed ({kb / 1024:.1f})")
            rows.append(row)
            print(" | ".join(row), flush=True)
        row = ["APPEND (client literal)"]
        for backend in ("maildir", "mbox"):
            for server in ("ours", "dovecot"):
                kb, ok, _ = imap_row(
                    server,
                    h[(server, backend)],
                    f"APPEND Appended {{{len(msg)}+}}",
                    len(msg),
                    literal=msg + b"\r\n",
                )
                row.append(f"{kb / 1024:.1f}" if ok else f"failed ({kb / 1024:.1f})")
        rows.append(row)
        print(" | ".join(row), flush=True)
        for cmd in ("RETR {n}", "TOP {n} 10"):
            row = ["POP3 " + cmd.replace(" {n}", "")]
            for backend in ("maildir", "mbox"):
                n = 1 if backend == "maildir" else fillers + 1
                for server in ("ours", "dovecot"):
                    kb, ok = pop3_row(server, h[(server, backend)], cmd.format(n=n))
                    row.append(f"{kb / 1024:.1f}" if ok else f"failed ({kb / 1024:.1f})")
            rows.append(row)
            print(" | ".join(row), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table = [
        f"## Memory\n\nPeak RSS (MB, /usr/bin/time %M) of one session: SELECT INBOX and the request, "
        f"on one {a.size_mb} MB message (text part + base64 attachment, LF line ends"
        + (f"; the mbox holds {fillers} ordinary messages before it, {a.mbox_mb} MB in all" if fillers else "")
        + "); "
        "Dovecot 2.3 on the same file. `bench/memory_bench.py`. On mbox the first session "
        "(FETCH BODY[]) writes the X-UID headers into the file, COPY appends to the same file "
        "and the POP3 RETR session claims the copy: those three rewrite the mbox in place.\n",
        "| request | imapd Maildir | Dovecot Maildir | imapd mbox | Dovecot mbox |",
        "|---|---:|---:|---:|---:|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
    ]
    text = "\n".join(table)
    print(text)
    if a.output != "-":
        out = Path(a.output)
        old = out.read_text() if out.exists() else ""
        old = re.sub(r"## Memory\n.*?(?=\n## |\Z)", "", old, flags=re.S).rstrip() + "\n\n"
        out.write_text(old + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

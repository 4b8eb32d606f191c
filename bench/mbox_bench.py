#!/usr/bin/env python3
"""mbox benchmark: imapd against Dovecot's imap on one big mbox INBOX.

One mbox of about 1 GB holding 50,000 messages (LF line ends, a blank line
before each `From ` separator line) is generated once into a cache directory
under /var/tmp and reused. Each server gets its own copy as
`HOME/inbox` (owned by `mailtest`), with `mail_location =
mbox:HOME/mail:INBOX=HOME/inbox`, and runs preauthenticated on stdin/stdout
through setpriv, as bench/imap_bench.py runs them; whole-process time, spawn
to exit, median of N runs.

Scenarios: (a) SELECT INBOX + FETCH 1:* (FLAGS RFC822.SIZE), (b) SELECT INBOX
+ FETCH 1:* ENVELOPE, each as

* "first open": a pristine copy of the mbox (copied again before every run,
  as the first open by either server writes X-UID/X-IMAPbase headers into the
  file) and no `HOME/mail/.imap` (where imapd keeps its mbox state and
  Dovecot its mbox indexes);
* "re-open": the state of the previous session kept (one untimed session
  first, after the last first-open run).

Scenario (s), "single STORE": after one untimed session on a pristine copy
(SELECT + `STORE 1 +FLAGS (\Flagged)`, which makes each server write its
state into the file), each run is a session of SELECT + one `STORE n +FLAGS
(\Seen)` on a message further on: seconds and octets written to storage
(the process's ru_oublock x 512, the journal and caches included), median
of N.

Every run's output is checked (tagged OK for every command, EXISTS and one
FETCH line per message), so a failing server is never timed as fast. The page
cache is never dropped (the machine is shared).

Run as root from the repository (after `cargo build --release`):

    python3 bench/mbox_bench.py [--runs 3] [--messages 50000] [--size-mb 1000]

Python 3.11, standard library only. The table is printed and appended as a
section "mbox" to bench/results.md (--output - for none).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import imap_bench as ib  # noqa: E402  (run_session, TextPool, word lists)

REPO = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 1
SEPARATOR = b"From sender@example.org Mon Feb  7 21:52:25 1994\n"

SCENARIOS = {
    "a": ("FETCH 1:* (FLAGS RFC822.SIZE)", "SELECT + FETCH 1:* (FLAGS RFC822.SIZE)"),
    "b": ("FETCH 1:* ENVELOPE", "SELECT + FETCH 1:* ENVELOPE"),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_message(rnd: random.Random, pool: ib.TextPool, n: int, when: int, target: int) -> bytes:
    """One message of about `target` bytes with realistic headers, LF line
    ends; a quarter of those above 4 KB multipart with a base64 attachment."""
    frm = f"{rnd.choice(ib.FIRST)} {rnd.choice(ib.LAST)}"
    to = f"{rnd.choice(ib.FIRST)} {rnd.choice(ib.LAST)}"
    tz = datetime.timezone(datetime.timedelta(hours=rnd.choice([0, 1, 2, -5])))
    date = datetime.datetime.fromtimestamp(when, tz).strftime("%a, %d %b %Y %H:%M:%S %z")
    subject = " ".join(rnd.choice(ib.SUBJECT_WORDS) for _ in range(rnd.randint(2, 7))).capitalize()
    if rnd.random() < 0.3:
        subject = "Re: " + subject
    head = [
        f"Return-Path: <{frm.split()[0].lower()}@{rnd.choice(ib.DOMAINS)}>",
        f"Received: from mx{rnd.randint(1, 9)}.{rnd.choice(ib.DOMAINS)} (mx.{rnd.choice(ib.DOMAINS)} [192.0.2.{rnd.randint(1, 254)}])",
        f"\tby mail.example.org (Postfix) with ESMTPS id {rnd.getrandbits(40):010X}",
        f"\tfor <{to.split()[0].lower()}@example.org>; {date}",
        f'From: "{frm}" <{frm.replace(" ", ".").lower()}@{rnd.choice(ib.DOMAINS)}>',
        f"To: {to} <{to.replace(' ', '.').lower()}@example.org>",
    ]
    if rnd.random() < 0.3:
        c = f"{rnd.choice(ib.FIRST)} {rnd.choice(ib.LAST)}"
        head.append(f"Cc: {c} <{c.replace(' ', '.').lower()}@{rnd.choice(ib.DOMAINS)}>")
    head += [
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <{when}.{n}.{rnd.getrandbits(32):08x}@{rnd.choice(ib.DOMAINS)}>",
    ]
    if subject.startswith("Re: "):
        head.append(f"In-Reply-To: <{when - 3600}.{n}@{rnd.choice(ib.DOMAINS)}>")
    head.append("MIME-Version: 1.0")
    headers_len = sum(len(h) + 1 for h in head)
    if rnd.random() < 0.25 and target > 4000:
        text_size = rnd.randint(300, 2000)
        boundary = f"=-{rnd.getrandbits(64):016x}"
        ctype, fname = rnd.choice(ib.ATTACH_TYPES)
        head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
        body = [
            "This is a multi-part message in MIME format.",
            "",
            f"--{boundary}",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "",
            *pool.take(rnd, pool.text, text_size),
            "",
            f"--{boundary}",
            f'Content-Type: {ctype}; name="{fname}"',
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: attachment; filename="{fname}"',
            "",
            *pool.take(rnd, pool.b64, max(100, target - headers_len - text_size - 400)),
            f"--{boundary}--",
        ]
    else:
        head.append("Content-Type: text/plain; charset=utf-8")
        head.append("Content-Transfer-Encoding: 8bit")
        body = pool.take(rnd, pool.text, max(200, target - headers_len))
    # mboxrd quoting, should a body line ever start with "From ".
    body = [(">" + b) if b.lstrip(">").startswith("From ") else b for b in body]
    return ("\n".join(head) + "\n\n" + "\n".join(body) + "\n").encode()


def build_source(cache: Path, count: int, size_mb: int, seed: int) -> dict:
    """The reference mbox `cache/inbox` (generated once, then reused)."""
    marker = cache / "complete.json"
    want = {"version": GENERATOR_VERSION, "count": count, "size_mb": size_mb, "seed": seed}
    if marker.exists():
        meta = json.loads(marker.read_text())
        if all(meta.get(k) == v for k, v in want.items()) and (cache / "inbox").exists():
            return meta
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    rnd = random.Random(seed)
    pool = ib.TextPool(rnd)
    # Log-uniform sizes, scaled so that the mbox comes to about size_mb MB.
    mean_target = size_mb * 1_000_000 / count
    spread = 40.0  # largest / smallest message
    lo = mean_target * math.log(spread) / (spread - 1)
    start, step = 1_600_000_000, max(1, (3 * 365 * 86400) // count)
    total_crlf = 0
    t0 = time.monotonic()
    with open(cache / "inbox.tmp", "wb", buffering=1 << 20) as f:
        for i in range(count):
            when = start + i * step + rnd.randrange(step)
            data = make_message(rnd, pool, i, when, int(lo * spread ** rnd.random()))
            f.write(SEPARATOR)
            f.write(data)
            f.write(b"\n")  # the blank line before the next separator
            total_crlf += len(data) + data.count(b"\n")
            if (i + 1) % 10000 == 0:
                log(f"  generated {i + 1}/{count} messages ({time.monotonic() - t0:.0f}s)")
    os.rename(cache / "inbox.tmp", cache / "inbox")
    meta = dict(want, bytes=(cache / "inbox").stat().st_size, total_size=total_crlf)
    marker.write_text(json.dumps(meta))
    return meta


def user_ids() -> tuple[int, int]:
    import pwd

    p = pwd.getpwnam(ib.TEST_USER)
    return p.pw_uid, p.pw_gid


def fresh_home(server: str, work: Path, src: Path) -> Path:
    """`work/server` holding a pristine copy of the mbox as `inbox`, an empty
    `mail/` (no `.imap` state) and, for Dovecot, its config."""
    home = work / server
    if home.exists():
        shutil.rmtree(home)
    (home / "mail").mkdir(parents=True)
    subprocess.run(["cp", str(src), str(home / "inbox")], check=True)
    if server == "dovecot":
        (home / "dovecot.conf").write_text(
            f"mail_location = mbox:{home / 'mail'}:INBOX={home / 'inbox'}\nssl = no\n"
            f"log_path = {home / 'dovecot.log'}\ninfo_log_path = /dev/null\nprotocols = imap\nlisten =\n"
        )
    uid, gid = user_ids()
    os.chmod(home, 0o700)
    subprocess.run(["chown", "-R", f"{uid}:{gid}", str(home)], check=True)
    os.sync()  # the copy's writeback is not the timed session's to pay
    return home


def server_argv(server: str, home: Path, imapd: Path) -> list[str]:
    env = ["env", "-i", f"USER={ib.TEST_USER}", f"HOME={home}", "PATH=/usr/bin:/bin"]
    if server == "imapd":
        cmd = [str(imapd), "-c", "/dev/null", "-o", f"mail_location=mbox:{home / 'mail'}:INBOX={home / 'inbox'}"]
    else:
        cmd = [ib.DOVECOT_IMAP, "-c", str(home / "dovecot.conf")]
    return ["setpriv", "--reuid", ib.TEST_USER, "--regid", ib.TEST_USER, "--init-groups", "--", *env, *cmd]


def check(out: ib.Outcome, count: int) -> str:
    """'' when the session is complete: every command OK, EXISTS and one
    FETCH line per message."""
    if out.error:
        return out.error
    if out.exists != count:
        return f"SELECT said {out.exists} EXISTS, want {count}"
    if out.fetches != count:
        return f"{out.fetches} FETCH responses, want {count}"
    return ""


def peak_rss(server, home, imapd, commands, count, timeout):
    """Peak RSS in KB of one checked session (`imap_bench.peak_rss_of`), or
    None."""
    rss_file = home.parent / f"{server}.maxrss"
    out, kb = ib.peak_rss_of(server_argv(server, home, imapd), rss_file, commands, timeout)
    return None if check(out, count) else kb


def timed(server, work, src, imapd, scenario, count, runs, first, timeout, sizes, rss=None):
    """Median seconds of `runs` checked runs, or (None, why). For a
    re-open, one more session's peak RSS goes into `rss`."""
    commands = ["SELECT INBOX", SCENARIOS[scenario][0], "LOGOUT"]
    home = work / server
    times = []
    if not first:
        out = ib.run_session(server_argv(server, home, imapd), commands, timeout)
        if why := check(out, count):
            return None, "untimed re-open: " + why
    for _ in range(runs):
        if first:
            home = fresh_home(server, work, src)
            if (home / "mail" / ".imap").exists():
                return None, "mail/.imap left over"
        out = ib.run_session(server_argv(server, home, imapd), commands, timeout)
        if why := check(out, count):
            return None, why
        if out.sizes:
            sizes.setdefault(server, set()).add(out.sizes)
        times.append(out.seconds)
        log(f"    {out.seconds:.3f}s")
    if not first and rss is not None:
        rss[(server, scenario)] = peak_rss(server, home, imapd, commands, count, timeout)
        log(f"    peak RSS {rss[(server, scenario)]} KB")
    return statistics.median(times), ""


def store_runs(server, work, src, imapd, count, runs, timeout):
    """(median seconds, median octets written, why) of single-STORE sessions."""
    home = fresh_home(server, work, src)
    argv = server_argv(server, home, imapd)
    out = ib.run_session(argv, ["SELECT INBOX", "STORE 1 +FLAGS (\\Flagged)", "LOGOUT"], timeout)
    if out.error or out.exists != count:
        return None, None, "first session: " + (out.error or f"{out.exists} EXISTS")
    os.sync()
    times, written = [], []
    for k in range(runs):
        n = 1000 * (k + 2)
        out = ib.run_session(argv, ["SELECT INBOX", f"STORE {n} +FLAGS (\\Seen)", "LOGOUT"], timeout)
        if out.error or out.exists != count:
            return None, None, out.error or f"{out.exists} EXISTS"
        times.append(out.seconds)
        written.append(out.written)
        log(f"    {out.seconds:.3f}s {out.written / 1e3:.0f} kB written")
        os.sync()
    return statistics.median(times), statistics.median(written), ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=50000)
    ap.add_argument("--size-mb", type=int, default=1000, help="approximate size of the mbox in MB (default 1000)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per figure (median)")
    ap.add_argument("--scenarios", default="abs", help="a, b (FETCH, first and re-open), s (single STORE)")
    ap.add_argument("--servers", default="imapd,dovecot")
    ap.add_argument("--cache", default="/var/tmp/mailaccess-mboxbench-cache", help="where the generated mbox is kept")
    ap.add_argument("--workdir", default="/var/tmp/mailaccess-mboxbench", help="where the servers' copies go")
    ap.add_argument("--imapd", default=str(REPO / "target/release/imapd"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--output", default=str(REPO / "bench/results.md"), help="Markdown file to append to ('-' for none)")
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit(f"run as root (the servers run as {ib.TEST_USER})")
    imapd = Path(args.imapd)
    servers = [s for s in args.servers.split(",") if s]
    for s, path in (("imapd", imapd), ("dovecot", Path(ib.DOVECOT_IMAP))):
        if s in servers and not path.exists():
            sys.exit(f"{path} is missing (cargo build --release; apt-get install dovecot-imapd)")
    user_ids()

    load_before = os.getloadavg()
    cache = Path(args.cache)
    log(f"mbox of {args.messages} messages, about {args.size_mb} MB in {cache}")
    meta = build_source(cache, args.messages, args.size_mb, args.seed)
    src = cache / "inbox"
    log(f"  {meta['bytes'] / 1e6:.0f} MB")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)

    rows, failures, sizes, stores, rss = [], [], {}, {}, {}
    for sc in args.scenarios:
        if sc == "s":
            for s in servers:
                log(f"  {s:8} single STORE x{args.runs}")
                t, w, why = store_runs(s, work, src, imapd, args.messages, args.runs, args.timeout)
                if why:
                    log(f"    FAILED: {why}")
                    failures.append(f"s/{s}: {why}")
                stores[s] = (t, w)
            continue
        res = {}
        for s in servers:
            for first in (True, False):
                log(f"  {s:8} {sc} {'first' if first else 're-open'} x{args.runs}")
                v, why = timed(s, work, src, imapd, sc, args.messages, args.runs, first, args.timeout, sizes, rss)
                if why:
                    log(f"    FAILED: {why}")
                    failures.append(f"{sc}/{s}/{'first' if first else 're-open'}: {why}")
                res[(s, first)] = v
        rows.append((sc, res))
    load_after = os.getloadavg()

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## mbox",
        "",
        "Command: `" + " ".join(["python3", "bench/mbox_bench.py", *sys.argv[1:]]) + "`",
        "",
        f"Measured {stamp} on {ib.machine()}; {ib.versions(imapd)}.",
        "",
        f"Load average (1/5/15 min) {'/'.join(f'{x:.2f}' for x in load_before)} at the start, "
        f"{'/'.join(f'{x:.2f}' for x in load_after)} at the end (shared machine).",
        "",
        f"One mbox INBOX (`mbox:HOME/mail:INBOX=HOME/inbox`) of {args.messages} messages, "
        f"{meta['bytes'] / 1e6:.0f} MB, LF line ends, log-uniform sizes, a quarter of those above 4 KB multipart "
        "with a base64 attachment. 'first' = pristine copy of the mbox and no `HOME/mail/.imap` "
        "(imapd's state, Dovecot's index); 're-open' = state of the previous session kept. "
        f"Seconds per whole session (spawn to exit), median of {args.runs}; ratio = imapd / Dovecot "
        "(above 1 means imapd is slower). The page cache is not dropped; `sync` after each copy.",
        "",
    ]
    if rows:
        lines += [
            "| scenario | imapd first | imapd re-open | dovecot first | dovecot re-open | ratio first | ratio re-open |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
    for sc, res in rows:
        def g(s, f):
            return res.get((s, f))

        def cell(s, f):
            return ib.fmt(g(s, f)) if (s, f) in res else "-"

        lines.append(
            f"| {sc}: {SCENARIOS[sc][1]} | {cell('imapd', True)} | {cell('imapd', False)} | "
            f"{cell('dovecot', True)} | {cell('dovecot', False)} | "
            f"{ib.ratio(g('imapd', True), g('dovecot', True))} | {ib.ratio(g('imapd', False), g('dovecot', False))} |"
        )
    if rss:
        mb = lambda v: "-" if v is None else f"{v / 1024:.1f} MB"  # noqa: E731
        lines += [
            "",
            "Peak RSS of one more re-open session (/usr/bin/time -f %M: the server's own):",
            "",
            "| scenario | imapd | dovecot | ratio |",
            "|---|---:|---:|---:|",
        ]
        for sc, _ in rows:
            a, b = rss.get(("imapd", sc)), rss.get(("dovecot", sc))
            lines.append(f"| {sc}: {SCENARIOS[sc][1]} | {mb(a)} | {mb(b)} | {ib.ratio(a, b)} |")
    if stores:
        t = {s: v[0] for s, v in stores.items()}
        w = {s: v[1] for s, v in stores.items()}
        kb = lambda v: "-" if v is None else f"{v / 1e3:.0f} kB"  # noqa: E731
        lines += [
            "",
            "Single STORE (scenario s): a session of SELECT + one `STORE n +FLAGS (\\Seen)` after a first "
            f"session wrote each server's state; median of {args.runs}.",
            "",
            "| | imapd | dovecot | ratio |",
            "|---|---:|---:|---:|",
            f"| seconds | {ib.fmt(t.get('imapd'))} | {ib.fmt(t.get('dovecot'))} | {ib.ratio(t.get('imapd'), t.get('dovecot'))} |",
            f"| written | {kb(w.get('imapd'))} | {kb(w.get('dovecot'))} | {ib.ratio(w.get('imapd'), w.get('dovecot'))} |",
        ]
    if sizes:
        lines.append("")
        lines.append(
            "RFC822.SIZE totals seen: "
            + "; ".join(f"{s} {', '.join(str(x) for x in sorted(v))}" for s, v in sizes.items())
            + f" (the generated messages with CRLF line ends: {meta['total_size']})."
        )
    if failures:
        lines.append("")
        lines.append("Failures (not timed):")
        lines.extend(f"* {f}" for f in failures)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output != "-":
        with open(args.output, "a") as f:
            f.write("\n" + text)
        log(f"appended to {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

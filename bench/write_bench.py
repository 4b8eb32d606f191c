#!/usr/bin/env python3
"""Write workloads on a big Maildir: mailaccess imapd against Dovecot's imap.

The storage-engine issue (10) asks that writes cost what changed, not what
the mailbox holds. Three sessions, each on a warm mailbox (the index exists),
run the way xinetd or ssh runs them (one preauthenticated process on
stdin/stdout, as `bench/imap_bench.py` does):

  store    SELECT, 20 single-message `UID STORE n +FLAGS (\\Flagged)`
           (or -FLAGS, alternating between runs, so each one changes)
  append   20 `APPEND INBOX` of a 2 KB message (LITERAL+)
  expunge  SELECT, `STORE 1:10 +FLAGS.SILENT (\\Deleted)`, EXPUNGE

For each: wall seconds (spawn to exit), CPU seconds and octets written to
storage (ru_oublock from wait4: page-cache writes the process caused, so
fsynced or not), median of N interleaved runs (imapd, Dovecot, imapd, ...).
Every session starts after a sync(2): the file system's shared blocks
(bitmaps, inode tables, the journal's) are charged to whichever process
dirties them first, so without it the server that runs second in a round
rides on the first one's writes (measured: the expunge workload's ratio
went from 6.4 to 0.48 by swapping the order alone).
Every run's output is checked: every command tagged OK.

Run as root (`make bench` style): the servers run as `mailtest`.
Python 3.11, standard library only.
"""

from __future__ import annotations

import datetime
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import imap_bench as ib  # noqa: E402

MESSAGE = (
    b"From: Bench <bench@example.org>\r\nTo: user@example.org\r\n"
    b"Subject: appended\r\nDate: Sun, 06 Dec 2026 04:00:00 +0000\r\n\r\n" + b"x" * 70 + b"\r\n"
) + (b"y" * 70 + b"\r\n") * 26


def workload(name: str, run: int, count: int) -> list[str]:
    if name == "store":
        sign = "+" if run % 2 == 0 else "-"
        # 20 UIDs spread over the mailbox (the first ones are expunged by
        # the expunge workload, so start past them).
        step = max(1, (count - 1000) // 20)
        return ["SELECT INBOX"] + [f"UID STORE {1000 + i * step} {sign}FLAGS (\\Flagged)" for i in range(20)] + ["LOGOUT"]
    if name == "append":
        lit = f"APPEND INBOX {{{len(MESSAGE)}+}}\r\n".encode() + MESSAGE
        return [lit.decode()] * 20 + ["LOGOUT"]
    if name == "expunge":
        return ["SELECT INBOX", "STORE 1:10 +FLAGS.SILENT (\\Deleted)", "EXPUNGE", "LOGOUT"]
    raise ValueError(name)


def main() -> int:
    args = ib.big_mailbox_args(__doc__, "store,append,expunge")
    imapd, servers, exp, homes = ib.big_mailbox_homes(args)
    for s in servers:
        out = ib.run_session(ib.server_argv(s, homes[s], imapd), ["SELECT INBOX", "LOGOUT"], args.timeout)
        if why := ib.check(out, "select", exp):
            sys.exit(f"{s}: priming session failed: {why}")

    names = [w for w in args.workloads.split(",") if w]
    figures: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    for run in range(args.runs):
        for w in names:
            for s in servers:
                os.sync()
                out = ib.run_session(ib.server_argv(s, homes[s], imapd), workload(w, run, exp.count), args.timeout)
                if out.error:
                    sys.exit(f"{s} {w} run {run}: {out.error}")
                figures.setdefault((w, s), []).append((out.seconds, out.cpu, out.written))
                ib.log(f"  {w:8} {s:8} {out.seconds:.3f}s cpu {out.cpu:.3f}s wrote {out.written / 1e6:.2f} MB")

    def med(w, s, i):
        return statistics.median(f[i] for f in figures[(w, s)])

    lines = [
        "",
        f"### Writes on {exp.count} messages (`bench/write_bench.py --runs {args.runs}`)",
        "",
        f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {ib.machine()}; {ib.versions(imapd)}.",
        "Median of the runs: wall s / CPU s / MB written; ratio = imapd / Dovecot.",
        "",
        "| workload | imapd | Dovecot | ratio wall | ratio written |",
        "|---|---:|---:|---:|---:|",
    ]
    for w in names:
        cells = []
        for s in ("imapd", "dovecot"):
            if (w, s) in figures:
                cells.append(f"{med(w, s, 0):.3f} / {med(w, s, 1):.3f} / {med(w, s, 2) / 1e6:.2f}")
            else:
                cells.append("-")
        if all((w, s) in figures for s in ("imapd", "dovecot")):
            rw = ib.ratio(med(w, "imapd", 0), med(w, "dovecot", 0))
            dw = med(w, "dovecot", 2)
            rb = f"{med(w, 'imapd', 2) / dw:.2f}" if dw else "-"
        else:
            rw, rb = "-", "-"
        lines.append(f"| {w} | {cells[0]} | {cells[1]} | {rw} | {rb} |")
    ib.report("\n".join(lines) + "\n", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

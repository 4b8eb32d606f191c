#!/usr/bin/env python3
"""Resynchronising a big mailbox: QRESYNC against a plain flag resync,
mailaccess imapd beside Dovecot's imap in the same run (issue 11).

A client was connected (it saved UIDVALIDITY and HIGHESTMODSEQ), went
away, and meanwhile another session flagged 10 messages and expunged 10.
The client comes back and resynchronises, either way:

  qresync  ENABLE QRESYNC, SELECT INBOX (QRESYNC (uidvalidity modseq)):
           the server sends VANISHED (EARLIER) and FETCH of what changed
  plain    SELECT INBOX, UID FETCH 1:* (FLAGS): every UID and its flags,
           the client compares the list itself

For each: wall seconds (spawn to exit) and octets the server sent, median
of N runs interleaved (imapd, Dovecot, imapd, ...), on a warm mailbox of
`--messages` (the Maildir of `bench/imap_bench.py`). Every run is checked:
every command OK, and the QRESYNC answer names exactly the 10 expunged UIDs
and the 10 flagged messages.

Run as root: the servers run as `mailtest`. Python 3.11, standard library
only.
"""

from __future__ import annotations

import datetime
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import imap_bench as ib  # noqa: E402


def session(argv: list[str], commands: list[str], timeout: float) -> tuple[float, bytes]:
    """Runs the commands pipelined in one session: (seconds, all output).
    Exits if any command is not answered OK."""
    script = "".join(f"t{i} {c}\r\n" for i, c in enumerate(commands)).encode()
    last = b"t%d " % (len(commands) - 1)
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    p.stdin.write(script)
    p.stdin.flush()
    # Input stays open until the last answer: Dovecot stops writing at EOF.
    chunks = []
    for line in p.stdout:
        chunks.append(line)
        if line.startswith(last):
            break
    p.stdin.close()
    chunks.append(p.stdout.read())
    p.wait()
    timer.cancel()
    seconds = time.perf_counter() - t0
    out = b"".join(chunks)
    for i, c in enumerate(commands):
        if not re.search(rb"^t%d OK" % i, out, re.M):
            sys.exit(f"{argv[-1]}: {c.split()[0]} not OK: {out[-500:]!r}")
    return seconds, out


def state(out: bytes) -> tuple[int, int]:
    """UIDVALIDITY and HIGHESTMODSEQ of a SELECT's answer."""
    v = re.search(rb"\[UIDVALIDITY (\d+)\]", out)
    m = re.search(rb"\[HIGHESTMODSEQ (\d+)\]", out)
    if not (v and m):
        sys.exit(f"no UIDVALIDITY/HIGHESTMODSEQ in {out[:2000]!r}")
    return int(v.group(1)), int(m.group(1))


def uids(out: bytes) -> list[int]:
    return [int(u) for u in re.findall(rb"UID (\d+)", out)]


def main() -> int:
    args = ib.big_mailbox_args(__doc__)
    imapd, servers, exp, homes = ib.big_mailbox_homes(args)
    argv = {s: ib.server_argv(s, homes[s], imapd) for s in servers}
    for s in servers:
        session(argv[s], ["SELECT INBOX", "LOGOUT"], args.timeout)

    figures: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for run in range(args.runs):
        for s in servers:
            # The client's saved state.
            _, out = session(argv[s], ["ENABLE QRESYNC", "SELECT INBOX", "LOGOUT"], args.timeout)
            v, modseq = state(out)
            # Another session: 10 given a keyword none has yet (a flag some
            # may already have would not change them), 10 expunged, fresh
            # UIDs each run.
            _, out = session(argv[s], ["SELECT INBOX", "UID FETCH 1:* (UID)", "LOGOUT"], args.timeout)
            live = uids(out)
            base = 100 + run * 1000
            flagged = live[base:base + 10 * 97:97]
            gone = live[base + 5:base + 5 + 10 * 89:89]
            cmds = ["SELECT INBOX"]
            cmds += [f"UID STORE {u} +FLAGS.SILENT ($Resync{run})" for u in flagged]
            cmds += [f"UID STORE {u} +FLAGS.SILENT (\\Deleted)" for u in gone]
            cmds += [f"UID EXPUNGE {','.join(map(str, gone))}", "LOGOUT"]
            session(argv[s], cmds, args.timeout)
            # The two resynchronisations.
            secs, out = session(
                argv[s], ["ENABLE QRESYNC", f"SELECT INBOX (QRESYNC ({v} {modseq}))", "LOGOUT"], args.timeout
            )
            van = re.search(rb"\* VANISHED \(EARLIER\) ([0-9:,]+)", out)
            named: set[int] = set()
            for part in (van.group(1).split(b",") if van else []):
                lo, _, hi = part.partition(b":")
                named.update(range(int(lo), int(hi or lo) + 1))
            fetched = set(uids(b"".join(l for l in out.split(b"\r\n") if b" FETCH (" in l)))
            if named != set(gone) or fetched != set(flagged):
                sys.exit(f"{s}: QRESYNC answered VANISHED {sorted(named)} FETCH {sorted(fetched)}; want {gone} and {flagged}")
            figures.setdefault(("qresync", s), []).append((secs, len(out)))
            ib.log(f"  run {run} {s:8} qresync {secs:.3f}s {len(out)} octets")
            secs, out = session(argv[s], ["SELECT INBOX", "UID FETCH 1:* (FLAGS)", "LOGOUT"], args.timeout)
            figures.setdefault(("plain", s), []).append((secs, len(out)))
            ib.log(f"  run {run} {s:8} plain   {secs:.3f}s {len(out)} octets")

    def med(w, s, i):
        return statistics.median(f[i] for f in figures[(w, s)])

    lines = [
        "",
        f"### Resynchronisation after 10 flag changes and 10 expunges, {exp.count} messages (`bench/qresync_bench.py --runs {args.runs}`)",
        "",
        f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {ib.machine()}; {ib.versions(imapd)}.",
        "Median of the runs: wall seconds (spawn to exit) / octets the server sent; ratio = imapd / Dovecot.",
        "",
        "| resync | imapd | Dovecot | ratio time | ratio octets |",
        "|---|---:|---:|---:|---:|",
    ]
    for w in ("qresync", "plain"):
        cells = [f"{med(w, s, 0):.3f} s / {med(w, s, 1):,} B" if (w, s) in figures else "-" for s in ("imapd", "dovecot")]
        both = all((w, s) in figures for s in ("imapd", "dovecot"))
        rt = ib.ratio(med(w, "imapd", 0), med(w, "dovecot", 0)) if both else "-"
        ro = f"{med(w, 'imapd', 1) / med(w, 'dovecot', 1):.2f}" if both else "-"
        lines.append(f"| {w} | {cells[0]} | {cells[1]} | {rt} | {ro} |")
    if all(("qresync", s) in figures and ("plain", s) in figures for s in servers):
        for s in servers:
            lines.append(
                f"\n{s}: QRESYNC takes {med('qresync', s, 0) / med('plain', s, 0):.2f} of the plain resync's time "
                f"and {med('qresync', s, 1) / med('plain', s, 1):.4f} of its octets."
            )
    ib.report("\n".join(lines) + "\n", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

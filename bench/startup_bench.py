#!/usr/bin/env python3
"""Session start-up: greeting to LOGOUT on an empty Maildir, against
exec'ing /bin/true and against Dovecot's imap.

The storage-engine issue (10) asks that one session's start to greeting to
LOGOUT on an empty Maildir be within 2x of exec'ing `/bin/true`, which is
what xinetd pays for every connection anyway. Each run is one process
started the way the other benchmarks start the servers (setpriv to the
test user, a clean environment, preauthenticated on stdin/stdout), timed
from spawn to exit; `/bin/true` goes through the same setpriv and env, so
only the program differs. Median of N runs, interleaved.

Run as root (`make bench` style): the servers run as `mailtest`.
Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import imap_bench as ib  # noqa: E402


def empty_home(work: Path, server: str) -> Path:
    """A home with an empty Maildir (cur/ new/ tmp/) for `server`."""
    home = work / f"startup-{server}"
    subprocess.run(["rm", "-rf", str(home)], check=True)
    for sub in ("cur", "new", "tmp"):
        (home / "Maildir" / sub).mkdir(parents=True)
    if server == "dovecot":
        (home / "dovecot.conf").write_text(
            f"mail_location = maildir:{home / 'Maildir'}\nssl = no\nlog_path = {home / 'dovecot.log'}\n"
            "info_log_path = /dev/null\nprotocols = imap\nlisten =\n"
        )
    ib.give_to_user(home)
    return home


def true_argv(home: Path) -> list[str]:
    """`/bin/true` through the same wrapper as the servers."""
    argv = ib.server_argv("imapd", home, Path("/bin/true"))
    i = argv.index("/bin/true")
    return argv[: i + 1]


def run_true(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--workdir", default="/var/tmp/mailaccess-bench")
    ap.add_argument("--imapd", default=str(ib.REPO / "target/release/imapd"))
    ap.add_argument("--output", default=str(ib.REPO / "bench/results.md"), help="Markdown file the table is appended to ('-' for none)")
    args = ap.parse_args()
    work = Path(args.workdir)
    imapd = Path(args.imapd)
    homes = {s: empty_home(work, s) for s in ("imapd", "dovecot")}
    times: dict[str, list[float]] = {"imapd": [], "dovecot": [], "/bin/true": []}
    for _ in range(args.runs):
        for server, home in homes.items():
            out = ib.run_session(ib.server_argv(server, home, imapd), ["LOGOUT"], 30)
            if out.tagged.get("t0") != "OK":
                print(f"{server}: LOGOUT not answered OK: {out.tagged} {out.error}", file=sys.stderr)
                return 1
            times[server].append(out.seconds)
        times["/bin/true"].append(run_true(true_argv(homes["imapd"])))
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["/bin/true"]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        f"### Session start-up (`bench/startup_bench.py --runs {args.runs}`)",
        "",
        f"Measured {stamp} on {ib.machine()}; {ib.versions(imapd)}.",
        "Greeting to LOGOUT on an empty Maildir, spawn to exit, median of the runs;",
        "`/bin/true` through the same setpriv and env. Target of issue 10: imapd within 2x of /bin/true.",
        "",
        "| program | median ms | x /bin/true |",
        "|---|---:|---:|",
    ]
    for k in ("/bin/true", "imapd", "dovecot"):
        lines.append(f"| {k} | {med[k] * 1000:.2f} | {med[k] / floor:.2f} |")
    ib.report("\n".join(lines) + "\n", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

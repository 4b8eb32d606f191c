#!/usr/bin/env python3
"""Whole-process benchmark of mailaccess imapd against Dovecot's imap.

Both servers run the way a per-connection (xinetd/ssh style) installation runs
them: one process, preauthenticated, the session piped on stdin/stdout, timed
from fork+exec to exit. Each server gets its own identical copy of the same
generated Maildir, owned by the test user `mailtest`.

Run as root (as `make bench` does): the servers then run as `mailtest`
through setpriv, exactly as the tests run them. Run as a normal user, the
servers run as that user.

"first" runs start with no index of the server's own in the Maildir (imapd's
`mailaccess*` and Dovecot's `dovecot*` files are deleted before each run), so
they show what the first open of a mailbox costs; "warm" runs reuse the index
the previous run left, as every later session of a real installation does.
The page cache is never dropped (the machine is shared): "first" means "no
index yet", not "nothing cached".

Every timed run's output is checked (tagged OK for every command, one FETCH
line per message, the right RFC822.SIZE total, SEARCH hit count, literal
octets of BODY[]), so a server that fails is reported as failing, never timed
as fast.

Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOVECOT_IMAP = "/usr/lib/dovecot/imap"
TEST_USER = "mailtest"
# The body word SEARCH looks for; it occurs in about 1% of the messages.
WORD = "quetzalcoatlus"
WORD_RATE = 0.01
GENERATOR_VERSION = 3
BIG_SIZE = 100 * 1024 * 1024

SCENARIOS = {
    "a": ("FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)", "fetch"),
    "b": ("FETCH 1:* ENVELOPE", "fetch"),
    "c": (f'SEARCH BODY "{WORD}"', "search"),
    "d": ("FETCH 1:* BODY.PEEK[]", "fetch-body"),
    # Not in the default set: what opening a mailbox and a command's sync cost.
    "s": ("NOOP", "select"),
    # Not in the default set (issue 12): SORT and THREAD of every message.
    "o": ("SORT (DATE) UTF-8 ALL", "sort"),
    "p": ("SORT (SUBJECT) UTF-8 ALL", "sort"),
    "r": ("THREAD REFERENCES UTF-8 ALL", "sort"),
}
SCENARIO_TITLE = {
    "a": "SELECT + FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)",
    "b": "SELECT + FETCH 1:* ENVELOPE",
    "c": f'SELECT + SEARCH BODY "{WORD}"',
    "d": "SELECT + FETCH 1:* BODY.PEEK[]",
    "s": "SELECT + NOOP",
    "o": "SELECT + SORT (DATE) UTF-8 ALL",
    "p": "SELECT + SORT (SUBJECT) UTF-8 ALL",
    "r": "SELECT + THREAD REFERENCES UTF-8 ALL",
}


# ---------------------------------------------------------------- messages

FIRST = "Anna Bernd Carla David Erik Fatima Georg Hanna Ivan Julia Karl Lena Marco Nina Otto Paula Rita Sven Tanja Uwe".split()
LAST = "Schmidt Meyer Weber Fischer Wagner Becker Hoffmann Koch Richter Klein Wolf Neumann Braun Zimmermann Kraus Lange".split()
DOMAINS = ["example.org", "example.com", "lists.example.net", "mail.example.de", "corp.example"]
SUBJECT_WORDS = "meeting report budget release draft invoice review schedule update question notes plan travel server backup".split()
TEXT_WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an they you "
    "were her she there been one all we their has would when if so no will more can out other into than its time only "
    "could new them these some two may first then do any like my now over such our man me even most made after also did "
    "many before must through back years where much your way well down should because each just those people how too "
    "little state good very make world still own see men work long get here between both life being under never day same "
    "another know while last might us great old year off come since against go came right used take three mailbox server "
    "message folder index protocol client delivery attachment schedule budget quarterly"
).split()
ATTACH_TYPES = [
    ("application/pdf", "report.pdf"),
    ("image/jpeg", "photo.jpg"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "figures.xlsx"),
    ("application/zip", "archive.zip"),
]


class TextPool:
    """Lines of wrapped random words and of base64, to slice bodies from."""

    def __init__(self, rnd: random.Random):
        lines = []
        for _ in range(20000):
            words, n = [], 0
            limit = rnd.randint(40, 76)
            while n < limit:
                w = rnd.choice(TEXT_WORDS)
                words.append(w)
                n += len(w) + 1
            lines.append(" ".join(words))
        self.text = lines
        alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        raw = bytes(rnd.getrandbits(8) for _ in range(76 * 20000))
        self.b64 = [
            bytes(alphabet[b & 63] for b in raw[i * 76 : (i + 1) * 76]).decode() for i in range(20000)
        ]

    def take(self, rnd: random.Random, lines: list[str], size: int) -> list[str]:
        out, n = [], 0
        i = rnd.randrange(len(lines))
        while n < size:
            line = lines[i % len(lines)]
            out.append(line)
            n += len(line) + 1
            i += 1
        return out


def make_message(rnd: random.Random, pool: TextPool, n: int, when: int, with_word: bool) -> bytes:
    """One realistic message of 1-50 KB (log-uniform), LF line ends."""
    target = int(1024 * 50 ** rnd.random())
    frm = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
    to = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
    date = datetime.datetime.fromtimestamp(when, datetime.timezone(datetime.timedelta(hours=rnd.choice([0, 1, 2, -5]))))
    subject = " ".join(rnd.choice(SUBJECT_WORDS) for _ in range(rnd.randint(2, 7))).capitalize()
    if rnd.random() < 0.3:
        subject = "Re: " + subject
    msgid = f"<{when}.{n}.{rnd.getrandbits(32):08x}@{rnd.choice(DOMAINS)}>"
    head = [
        f"Return-Path: <{frm.split()[0].lower()}@{rnd.choice(DOMAINS)}>",
        f"Received: from mx{rnd.randint(1, 9)}.{rnd.choice(DOMAINS)} (mx.{rnd.choice(DOMAINS)} [192.0.2.{rnd.randint(1, 254)}])",
        f"\tby mail.example.org (Postfix) with ESMTPS id {rnd.getrandbits(40):010X}",
        f"\tfor <{to.split()[0].lower()}@example.org>; {date.strftime('%a, %d %b %Y %H:%M:%S %z')}",
        f'From: "{frm}" <{frm.replace(" ", ".").lower()}@{rnd.choice(DOMAINS)}>',
        f"To: {to} <{to.replace(' ', '.').lower()}@example.org>",
    ]
    if rnd.random() < 0.3:
        c = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
        head.append(f"Cc: {c} <{c.replace(' ', '.').lower()}@{rnd.choice(DOMAINS)}>")
    head += [
        f"Subject: {subject}",
        f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S %z')}",
        f"Message-ID: {msgid}",
    ]
    if subject.startswith("Re: "):
        head.append(f"In-Reply-To: <{when - 3600}.{n}@{rnd.choice(DOMAINS)}>")
    head.append("MIME-Version: 1.0")
    headers_len = sum(len(h) + 1 for h in head)
    text_size = max(200, target - headers_len)
    multipart = rnd.random() < 0.25 and target > 4000
    if multipart:
        text_size = rnd.randint(300, 2000)
    text = pool.take(rnd, pool.text, text_size)
    if with_word:
        k = rnd.randrange(len(text))
        text[k] = f"{text[k]} {WORD} again"
    if not multipart:
        head.append("Content-Type: text/plain; charset=utf-8")
        head.append("Content-Transfer-Encoding: 8bit")
        body = text
    else:
        boundary = f"=-{rnd.getrandbits(64):016x}"
        ctype, fname = rnd.choice(ATTACH_TYPES)
        head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
        att = pool.take(rnd, pool.b64, max(100, target - headers_len - text_size - 400))
        body = [
            "This is a multi-part message in MIME format.",
            "",
            f"--{boundary}",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "",
            *text,
            "",
            f"--{boundary}",
            f'Content-Type: {ctype}; name="{fname}"',
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: attachment; filename="{fname}"',
            "",
            *att,
            f"--{boundary}--",
        ]
    return ("\n".join(head) + "\n\n" + "\n".join(body) + "\n").encode()


def maildir_name(when: int, n: int, data: bytes, flags: str) -> str:
    """A Dovecot-style name with S= (file size) and W= (CRLF size)."""
    crlf_size = len(data) + data.count(b"\n")
    return f"{when}.M{n % 1000000}P{4000 + n % 30000}.benchhost,S={len(data)},W={crlf_size}:2,{flags}"


@dataclass
class Expect:
    count: int
    hits: int
    total_size: int  # sum of RFC822.SIZE


def build_source(root: Path, count: int, seed: int) -> Expect:
    """The reference Maildir (cur/ only, so sessions do not move files)."""
    marker = root / "complete.json"
    if marker.exists():
        meta = json.loads(marker.read_text())
        if meta.get("version") == GENERATOR_VERSION and meta.get("count") == count and meta.get("seed") == seed:
            return Expect(meta["count"], meta["hits"], meta["total_size"])
    if root.exists():
        shutil.rmtree(root)
    md = root / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    rnd = random.Random(seed)
    pool = TextPool(rnd)
    hits = max(1, round(count * WORD_RATE))
    word_at = set(rnd.sample(range(count), hits))
    start = 1_600_000_000
    step = max(1, (3 * 365 * 86400) // count)
    total = 0
    t0 = time.monotonic()
    for i in range(count):
        when = start + i * step + rnd.randrange(step)
        data = make_message(rnd, pool, i, when, i in word_at)
        flags = rnd.choices(["S", "RS", "", "FS", "S"], weights=[60, 15, 15, 5, 5])[0]
        path = md / "cur" / maildir_name(when, i, data, flags)
        path.write_bytes(data)
        os.utime(path, (when, when))
        total += len(data) + data.count(b"\n")
        if (i + 1) % 10000 == 0:
            log(f"  generated {i + 1}/{count} messages ({time.monotonic() - t0:.0f}s)")
    marker.write_text(json.dumps({"version": GENERATOR_VERSION, "count": count, "seed": seed, "hits": hits, "total_size": total}))
    return Expect(count, hits, total)


def build_big(root: Path) -> Expect:
    """One Maildir holding a single 100 MB message (a big attachment)."""
    marker = root / "complete.json"
    if marker.exists():
        meta = json.loads(marker.read_text())
        if meta.get("version") == GENERATOR_VERSION:
            return Expect(1, 0, meta["total_size"])
    if root.exists():
        shutil.rmtree(root)
    md = root / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    rnd = random.Random(100)
    pool = TextPool(rnd)
    head = (
        "From: Big Sender <big@example.org>\nTo: someone@example.org\nSubject: the big one\n"
        "Date: Mon, 02 Jan 2023 10:00:00 +0000\nMessage-ID: <big@example.org>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="BIG"\n\n--BIG\nContent-Type: text/plain\n\nSee attached.\n\n'
        '--BIG\nContent-Type: application/octet-stream; name="disk.img"\nContent-Transfer-Encoding: base64\n\n'
    ).encode()
    chunk = ("\n".join(pool.b64[:10000]) + "\n").encode()
    when = 1_672_653_600
    tmp = md / "tmp" / "big"
    with open(tmp, "wb") as f:
        f.write(head)
        n = len(head)
        while n + len(chunk) < BIG_SIZE:
            f.write(chunk)
            n += len(chunk)
        f.write(b"--BIG--\n")
    data_len = tmp.stat().st_size
    with open(tmp, "rb") as f:
        lfs = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
    name = f"{when}.M1P1.benchhost,S={data_len},W={data_len + lfs}:2,S"
    tmp.rename(md / "cur" / name)
    os.utime(md / "cur" / name, (when, when))
    marker.write_text(json.dumps({"version": GENERATOR_VERSION, "total_size": data_len + lfs}))
    return Expect(1, 0, data_len + lfs)


# ---------------------------------------------------------------- servers


def is_root() -> bool:
    return os.geteuid() == 0


def user_ids() -> tuple[int, int]:
    import pwd

    try:
        p = pwd.getpwnam(TEST_USER)
    except KeyError:
        sys.exit(f"user {TEST_USER} is missing: run `make test-deps` (scripts/test-deps.sh) as root")
    return p.pw_uid, p.pw_gid


def give_to_user(path: Path) -> None:
    if not is_root():
        return
    uid, gid = user_ids()
    os.chmod(path, 0o755)
    subprocess.run(["chown", "-R", f"{uid}:{gid}", str(path)], check=True)


def copy_for(server: str, src: Path, work: Path) -> Path:
    """A fresh copy of `src` (a home holding Maildir/) for one server."""
    home = work / f"{src.name}-{server}"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(src / "Maildir"), str(home / "Maildir")], check=True)
    if server == "dovecot":
        (home / "dovecot.conf").write_text(
            f"mail_location = maildir:{home / 'Maildir'}\nssl = no\nlog_path = {home / 'dovecot.log'}\n"
            "info_log_path = /dev/null\nprotocols = imap\nlisten =\n"
        )
    give_to_user(home)
    return home


def server_argv(server: str, home: Path, imapd: Path) -> list[str]:
    env = ["env", "-i", f"USER={TEST_USER if is_root() else os.environ.get('USER', '')}", f"HOME={home}", "PATH=/usr/bin:/bin"]
    if server == "imapd":
        cmd = [str(imapd), "-c", "/dev/null", "-o", f"mail_location=maildir:{home / 'Maildir'}"]
    else:
        cmd = [DOVECOT_IMAP, "-c", str(home / "dovecot.conf")]
    if is_root():
        return ["setpriv", "--reuid", TEST_USER, "--regid", TEST_USER, "--init-groups", "--", *env, *cmd]
    return [*env, *cmd]


def forget_index(server: str, home: Path) -> None:
    """Deletes the server's own index files from the Maildir."""
    prefix = "mailaccess" if server == "imapd" else "dovecot"
    md = home / "Maildir"
    for p in md.iterdir():
        if p.name.startswith(prefix):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()


# On text that starts with "\n" where a line starts (see Scan).
LITERAL = re.compile(rb"\{(\d+)\}\r\n")
FETCH_LINE = re.compile(rb"\n\* \d+ FETCH ")
SIZE_ITEM = re.compile(rb"RFC822\.SIZE (\d+)")
EXISTS_LINE = re.compile(rb"\n\* (\d+) EXISTS")
SEARCH_LINE = re.compile(rb"\n\* SEARCH([^\r\n]*)\r\n")
ORDER_LINE = re.compile(rb"\n(\* (?:SORT|THREAD)[^\r\n]*)\r\n")
TAGGED_LINE = re.compile(rb"\n(t\d+) ([A-Z]+)")


@dataclass
class Outcome:
    seconds: float
    maxrss_kb: int
    # CPU seconds (user + system) and octets written to storage (ru_oublock)
    # of the server process, from wait4.
    cpu: float = 0.0
    written: int = 0
    fetches: int = 0
    sizes: int = 0
    literal_octets: int = 0
    search_hits: int | None = None
    exists: int | None = None
    # SORT and THREAD: how many message numbers the answer holds, and a
    # digest of it (the same answer from both servers has the same one).
    ordered: int = 0
    order_digest: str = ""
    tagged: dict = field(default_factory=dict)
    exit_status: int = 0
    error: str = ""


# Octets of output kept before they are checked (`run_session`).
SCAN_BATCH = 64 << 20


class Scan:
    """Checks a session's output a piece at a time (the pieces cut
    anywhere), with regular expressions over whole pieces and the literals
    skipped: a Python loop over each line, as this bench first had, took
    longer than the servers to read 100,000 FETCH lines."""

    def __init__(self, out: Outcome, tags: list[str]):
        self.out, self.tags = out, tags
        self.buf = b""
        # Octets of a literal still to skip; whether buf starts a line.
        self.literal_left = 0
        self.line_start = True

    def feed(self, chunk: bytes) -> None:
        if self.literal_left:
            skip = min(self.literal_left, len(chunk))
            self.literal_left -= skip
            chunk = chunk[skip:]
        buf = self.buf + chunk if self.buf else chunk
        # Positions, not slices: a piece of 64 MB holds 100,000 literals.
        pos = 0
        while pos < len(buf):
            m = LITERAL.search(buf, pos)
            if m:
                n = int(m.group(1))
                self.text(buf[pos : m.end()])
                self.out.literal_octets += n
                self.line_start = False
                if len(buf) - m.end() >= n:
                    pos = m.end() + n
                    continue
                self.literal_left = n - (len(buf) - m.end())
                self.buf = b""
                return
            last = buf.rfind(b"\r\n", pos)
            if last >= 0:
                self.text(buf[pos : last + 2])
                pos = last + 2
                self.line_start = True
            break
        self.buf = buf[pos:]

    def finish(self) -> None:
        if self.literal_left:
            raise EOFError("output ended inside a literal")

    def text(self, seg: bytes) -> None:
        """Output outside literals, whole lines but where a literal cuts it."""
        out = self.out
        t = b"\n" + seg if self.line_start else seg
        out.fetches += len(FETCH_LINE.findall(t))
        out.sizes += sum(map(int, SIZE_ITEM.findall(t)))
        # Each kind of line looked for only where a plain search (much
        # faster than a regular expression) finds its mark.
        if b" EXISTS" in t:
            for m in EXISTS_LINE.finditer(t):
                out.exists = int(m.group(1))
        if b"\n* SEARCH" in t:
            for m in SEARCH_LINE.finditer(t):
                out.search_hits = len(m.group(1).split())
        if b"\n* SORT" in t or b"\n* THREAD" in t:
            for m in ORDER_LINE.finditer(t):
                out.ordered = len(re.findall(rb"\d+", m.group(1)))
                out.order_digest = hashlib.sha256(m.group(1).rstrip()).hexdigest()[:16]
        if b"\nt" not in t:
            return
        for m in TAGGED_LINE.finditer(t):
            tag = m.group(1).decode()
            if tag in self.tags:
                out.tagged[tag] = m.group(2).decode()


class Watch:
    """Follows the raw output for the tagged responses the session waits
    on (a plain search of each chunk, the end of the one before kept):
    sends the held LOGOUT once the command before it is answered, and
    closes the server's input after the last tagged response. A literal
    holding a line that starts with such a tag would end the wait early;
    the bench's messages hold none."""

    def __init__(self, tags: list[str], held: bytes, stdin):
        self.marks = []
        if held and len(tags) > 1:
            self.marks.append((f"\r\n{tags[-2]} ".encode(), held))
        self.marks.append((f"\r\n{tags[-1]} ".encode(), None))
        self.stdin = stdin
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        if not self.marks:
            return
        look = self.tail + chunk
        while self.marks and self.marks[0][0] in look:
            _, send = self.marks.pop(0)
            if send is None:
                self.stdin.close()
            else:
                self.stdin.write(send)
                self.stdin.flush()
        self.tail = look[-16:]


def run_session(argv: list[str], commands: list[str], timeout: float) -> Outcome:
    """Runs one session: all commands pipelined at once but a final
    LOGOUT, which goes when the command before it is answered (Dovecot
    ends a session at LOGOUT without writing out a pending answer larger
    than the pipe holds, such as SORT's on 100,000 messages); stdin closed
    after the last tagged response; timed from spawn to exit (wait4)."""
    tags = [f"t{i}" for i in range(len(commands))]
    lines = [f"{t} {c}\r\n".encode() for t, c in zip(tags, commands)]
    held = lines.pop() if len(lines) > 1 and commands[-1].upper() == "LOGOUT" else b""
    script = b"".join(lines)
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    killed = []

    def watchdog():
        killed.append(True)
        p.kill()

    timer = threading.Timer(timeout, watchdog)
    timer.start()
    out = Outcome(0.0, 0)
    scan = Scan(out, tags)
    batch, kept = [], 0
    try:
        p.stdin.write(script)
        p.stdin.flush()
        watch = Watch(tags, held, p.stdin)
        fd = p.stdout.fileno()
        # A pipe of 1 MB, not 64 kB: the server writes on while this reads.
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        # The output is kept as it comes and checked in batches of
        # SCAN_BATCH, the last once the server has exited: checking it as
        # it came made the server wait for this reader (a 2.2 MB answer of
        # 50,000 FETCH lines took this client longer than either server).
        while chunk := os.read(fd, 1 << 20):
            watch.feed(chunk)
            batch.append(chunk)
            kept += len(chunk)
            if kept >= SCAN_BATCH:
                # Chunk by chunk: joining them would copy the batch twice,
                # which for 4 GB of BODY[] took seconds the server waited.
                for c in batch:
                    scan.feed(c)
                batch, kept = [], 0
    except (EOFError, BrokenPipeError, OSError) as e:
        out.error = f"{type(e).__name__}: {e}"
    finally:
        if p.stdin and not p.stdin.closed:
            try:
                p.stdin.close()
            except BrokenPipeError:
                pass
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seconds = time.perf_counter() - t0
        timer.cancel()
        p.stdout.close()
    try:
        for c in batch:
            scan.feed(c)
        scan.finish()
    except EOFError as e:
        out.error = out.error or f"EOFError: {e}"
    out.maxrss_kb = ru.ru_maxrss
    out.cpu = ru.ru_utime + ru.ru_stime
    out.written = ru.ru_oublock * 512
    out.exit_status = p.returncode
    if killed:
        out.error = f"killed after {timeout}s"
    elif out.error or p.returncode:
        out.error = f"{out.error or 'failed'} (exit status {p.returncode})"
    for t, c in zip(tags, commands):
        if out.tagged.get(t) != "OK" and not out.error:
            out.error = f"{c.split()[0]} answered {out.tagged.get(t, 'nothing')}"
    return out


def peak_rss(server, home, imapd, commands, timeout):
    """A session under /usr/bin/time -f %M: the server's own peak RSS in KB.

    Not wait4's ru_maxrss: that also counts the forked Python before exec
    (Linux keeps the pre-exec high-water mark), while /usr/bin/time's own
    small fork is all that precedes the server here."""
    return peak_rss_of(server_argv(server, home, imapd), home / "maxrss.txt", commands, timeout)


def peak_rss_of(argv, rss_file, commands, timeout):
    """`peak_rss` of the server `argv` (its figure written to `rss_file`)."""
    argv = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *argv]
    out = run_session(argv, commands, timeout)
    try:
        kb = int(rss_file.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        kb = 0
        out.error = out.error or "no figure from /usr/bin/time"
    return out, kb


def check(out: Outcome, kind: str, exp: Expect) -> str:
    """'' when the session's output is complete and right, else why not."""
    if out.error:
        return out.error
    if kind in ("fetch", "fetch-body") and out.fetches != exp.count:
        return f"{out.fetches} FETCH responses, want {exp.count}"
    if kind == "fetch" and out.sizes and out.sizes != exp.total_size:
        return f"RFC822.SIZE total {out.sizes}, want {exp.total_size}"
    if kind == "fetch-body" and out.literal_octets != exp.total_size:
        return f"{out.literal_octets} literal octets, want {exp.total_size}"
    if kind == "select" and out.exists != exp.count:
        return f"SELECT said {out.exists} EXISTS, want {exp.count}"
    if kind == "search" and out.search_hits != exp.hits:
        return f"SEARCH found {out.search_hits}, want {exp.hits}"
    if kind == "sort" and out.ordered != exp.count:
        return f"the answer orders {out.ordered} messages, want {exp.count}"
    return ""


# ---------------------------------------------------------------- driver


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# SORT and THREAD: the digest of the first answer seen per (scenario,
# mailbox size); every later run, of either server, must give the same.
ORDER_DIGESTS: dict = {}


def same_order(scenario: str, exp: Expect, out: Outcome) -> str:
    want = ORDER_DIGESTS.setdefault((scenario, exp.count), out.order_digest)
    return "" if out.order_digest == want else "the order differs from the other server's answer"


# Runs repeated because a signal from outside ended the server.
EXTERNAL_KILLS: list[str] = []


def timed(server, home, imapd, scenario, exp, runs, first, timeout):
    """Median seconds of `runs` checked runs (None, why) on failure."""
    cmd, kind = SCENARIOS[scenario]
    argv = server_argv(server, home, imapd)
    commands = ["SELECT INBOX", cmd, "LOGOUT"]
    times = []
    if not first:
        # Make sure the index exists and is current (and check once more).
        out = run_session(argv, commands, timeout)
        if why := check(out, kind, exp) or (kind == "sort" and same_order(scenario, exp, out)):
            return None, why
    retries = 0
    while len(times) < runs:
        if first:
            forget_index(server, home)
        out = run_session(argv, commands, timeout)
        if out.exit_status in (-signal.SIGTERM, -signal.SIGHUP) and "killed after" not in out.error and retries < 2:
            # Someone else on this shared machine signalled the server (it
            # does not crash that way): run again, and say so.
            retries += 1
            EXTERNAL_KILLS.append(f"{server} {scenario} {'first' if first else 'warm'}: exit status {out.exit_status}")
            log(f"    killed by signal {-out.exit_status} from outside; running again")
            continue
        if why := check(out, kind, exp) or (kind == "sort" and same_order(scenario, exp, out)):
            return None, why
        times.append(out.seconds)
    return statistics.median(times), ""


def floor_seconds(home: Path, runs: int) -> float:
    """The physical floor of scenario d: `cat` of the same message files
    into a pipe that this script reads, as it reads a server's output
    (median of `runs`)."""
    cur = home / "Maildir" / "cur"
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.Popen(
            ["sh", "-c", "ls -f | grep -v '^[.]' | xargs cat"], cwd=cur, stdout=subprocess.PIPE, bufsize=0
        )
        # The pipe as run_session has it (1 MB).
        fcntl.fcntl(p.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        r = open(p.stdout.fileno(), "rb", buffering=1 << 20, closefd=False)
        while r.read(1 << 20):
            pass
        r.close()
        p.wait()
        p.stdout.close()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def big_mailbox_args(doc: str, workloads: str | None = None) -> argparse.Namespace:
    """The arguments of the benchmarks that work on one warm mailbox of
    `--messages` (write_bench, qresync_bench); `--workloads` with this
    default when given."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if workloads is not None:
        ap.add_argument("--workloads", default=workloads)
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--servers", default="imapd,dovecot")
    ap.add_argument("--workdir", default="/var/tmp/mailaccess-bench")
    ap.add_argument("--imapd", default=str(REPO / "target/release/imapd"))
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--output", default=str(REPO / "bench/results.md"), help="Markdown file the table is appended to ('-' for none)")
    return ap.parse_args()


def big_mailbox_homes(args: argparse.Namespace) -> tuple[Path, list[str], Expect, dict]:
    """imapd's path, the servers, the mailbox's expectations and each
    server's home holding a copy of it (built the first time)."""
    servers = [s for s in args.servers.split(",") if s]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"src-{args.messages}"
    exp = build_source(src, args.messages, 1)
    return Path(args.imapd), servers, exp, {s: copy_for(s, src, work) for s in servers}


def report(text: str, output: str) -> None:
    """Prints a Markdown report and appends it to `output` ('-': nowhere)."""
    print(text)
    if output != "-":
        with open(output, "a") as f:
            f.write(text)
        print(f"appended to {output}")


def fmt(v):
    return "FAIL" if v is None else f"{v:.3f}"


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}"


def versions(imapd: Path) -> str:
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    try:
        dv = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        dv = "?"
    return f"mailaccess imapd at commit {commit or '?'} ({imapd}); Dovecot {dv}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="mailbox sizes, comma-separated (default 10000,100000)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per figure for mailboxes up to 20000 messages (median)")
    ap.add_argument("--runs-large", type=int, default=3, help="timed runs per figure for larger mailboxes")
    ap.add_argument("--scenarios", default="abcd", help="which of a b c d to run (default abcd; s = SELECT + NOOP, the cost of opening and of one sync; o, p, r = SORT by date, by subject, THREAD REFERENCES)")
    ap.add_argument("--servers", default="imapd,dovecot")
    ap.add_argument("--no-first", action="store_true", help="skip the first-open (no index) runs")
    ap.add_argument("--no-rss", action="store_true", help="skip the 100 MB message RSS measurement")
    ap.add_argument("--only-rss", action="store_true", help="only the 100 MB message RSS measurement")
    ap.add_argument("--workdir", default="/var/tmp/mailaccess-bench", help="where the Maildirs go (reused between runs)")
    ap.add_argument("--imapd", default=str(REPO / "target/release/imapd"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before a session is killed and counted as failed")
    ap.add_argument("--output", default=str(REPO / "bench/results.md"), help="Markdown results file ('-' for none)")
    args = ap.parse_args()

    imapd = Path(args.imapd)
    servers = [s for s in args.servers.split(",") if s]
    if "imapd" in servers and not imapd.exists():
        sys.exit(f"{imapd} is missing: run `make release` first")
    if not args.no_rss and not Path("/usr/bin/time").exists():
        sys.exit("/usr/bin/time is missing: install the Debian package time (or use --no-rss)")
    if "dovecot" in servers and not Path(DOVECOT_IMAP).exists():
        sys.exit(f"{DOVECOT_IMAP} is missing: install the Debian package dovecot-imapd")
    if is_root():
        user_ids()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    sizes = [] if args.only_rss else [int(s) for s in args.sizes.split(",") if s]

    load_before = os.getloadavg()[0]
    rows = []
    floors: dict[int, float] = {}
    flag_rss: dict[int, dict[str, list]] = {}
    for size in sizes:
        runs = args.runs if size <= 20000 else args.runs_large
        log(f"mailbox of {size} messages")
        src = work / f"src-{size}"
        exp = build_source(src, size, args.seed)
        log(f"  {exp.count} messages, {exp.total_size / 1e6:.0f} MB, word in {exp.hits}")
        homes = {s: copy_for(s, src, work) for s in servers}
        for sc in args.scenarios:
            res = {}
            for s in servers:
                for first in ([True, False] if not args.no_first else [False]):
                    log(f"  {s:8} {sc} {'first' if first else 'warm '} x{runs}")
                    v, why = timed(s, homes[s], imapd, sc, exp, runs, first, args.timeout)
                    if why:
                        log(f"    FAILED: {why}")
                    else:
                        log(f"    {v:.3f}s")
                    res[(s, first)] = (v, why)
            rows.append((sc, size, runs, res))
            if sc == "d" and "imapd" in homes:
                floors[size] = floor_seconds(homes["imapd"], runs)
                log(f"  floor (cat into a pipe) {floors[size]:.3f}s")
        if not args.no_rss:
            # Issue 10: peak RSS of a warm SELECT + FETCH 1:* (FLAGS), at
            # most Dovecot's. One session first (the index current), then
            # the servers in turn, `runs` times.
            log("  peak RSS of warm SELECT + FETCH 1:* (FLAGS)")
            commands = ["SELECT INBOX", "FETCH 1:* (FLAGS)", "LOGOUT"]
            seen: dict[str, list] = {s: [] for s in servers}
            for s in servers:
                run_session(server_argv(s, homes[s], imapd), commands, args.timeout)
            for _ in range(runs):
                for s in servers:
                    out, kb = peak_rss(s, homes[s], imapd, commands, args.timeout)
                    why = out.error or ("" if out.fetches == exp.count else f"{out.fetches} FETCH responses, want {exp.count}")
                    seen[s].append((kb, why))
                    log(f"    {s:8} maxrss {kb} KB {why}")
            flag_rss[size] = seen

    rss = {}
    if not args.no_rss:
        log("single 100 MB message: peak RSS of FETCH 1 BODY.PEEK[]")
        big = work / "src-big"
        exp = build_big(big)
        for s in servers:
            home = copy_for(s, big, work)
            res = []
            for _ in range(2):  # first open, then warm
                out, kb = peak_rss(s, home, imapd, ["SELECT INBOX", "FETCH 1 BODY.PEEK[]", "LOGOUT"], args.timeout)
                why = check(out, "fetch-body", exp)
                res.append((kb, out.seconds, why))
                log(f"  {s:8} maxrss {kb} KB {out.seconds:.3f}s {why}")
            _, idle = peak_rss(s, home, imapd, ["SELECT INBOX", "LOGOUT"], args.timeout)
            rss[s] = (res, idle)

    lines = []
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(f"Measured {stamp} on {machine()}.")
    lines.append("")
    lines.append(versions(imapd) + ".")
    lines.append("")
    lines.append(
        f"Load average (1 min) {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end: the machine is "
        "shared, so figures taken under load are noisy."
    )
    lines.append("")
    lines.append(
        "Messages: 1-50 KB (log-uniform), a quarter of those above 4 KB multipart with a base64 attachment, "
        f"the word in {WORD_RATE:.0%} of the bodies, all in cur/ with Dovecot-style names carrying S= and W=."
    )
    lines.append("")
    lines.append("Seconds per whole session (spawn to exit, median of N runs); 'first' = no index yet, 'warm' = index from the previous session.")
    lines.append("Ratio = imapd / Dovecot (above 1 means imapd is slower).")
    lines.append("")
    hdr = "| scenario | messages | N | imapd first | imapd warm | dovecot first | dovecot warm | ratio first | ratio warm |"
    lines.append(hdr)
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    failures = []
    for sc, size, runs, res in rows:
        def g(s, f):
            return res.get((s, f), (None, ""))[0]

        def cell(s, f):
            return fmt(g(s, f)) if (s, f) in res else "-"

        lines.append(
            f"| {sc}: {SCENARIO_TITLE[sc]} | {size} | {runs} | {cell('imapd', True)} | {cell('imapd', False)} | "
            f"{cell('dovecot', True)} | {cell('dovecot', False)} | "
            f"{ratio(g('imapd', True), g('dovecot', True))} | {ratio(g('imapd', False), g('dovecot', False))} |"
        )
        for (s, f), (v, why) in res.items():
            if why:
                failures.append(f"{sc}/{size}/{s}/{'first' if f else 'warm'}: {why}")
    for size, fl in floors.items():
        warm = next((res[("imapd", False)][0] for sc, sz, _, res in rows if sc == "d" and sz == size), None)
        ratio_floor = f"{warm / fl:.2f}" if warm else "-"
        lines.append("")
        lines.append(
            f"Floor of d on {size} messages (`cat` of the same files into a pipe read by this script, "
            f"median): {fl:.3f} s; imapd warm / floor = {ratio_floor}."
        )
    for size, seen in flag_rss.items():
        lines.append("")
        lines.append(f"Peak RSS (/usr/bin/time -f %M) of a warm SELECT + FETCH 1:* (FLAGS) of {size} messages, the servers in turn:")
        lines.append("")
        lines.append("| server | runs (MB) | median (MB) |")
        lines.append("|---|---|---:|")
        medians = {}
        for s, got in seen.items():
            kbs = [kb for kb, why in got if not why]
            for kb, why in got:
                if why:
                    failures.append(f"flags-rss/{size}/{s}: {why}")
            medians[s] = statistics.median(kbs) if kbs else None
            runs_mb = ", ".join(f"{kb / 1024:.2f}" for kb in kbs) or "-"
            med = f"{medians[s] / 1024:.2f}" if medians[s] else "-"
            lines.append(f"| {s} | {runs_mb} | {med} |")
        if medians.get("imapd") and medians.get("dovecot"):
            lines.append("")
            lines.append(f"Ratio imapd / Dovecot (medians): {medians['imapd'] / medians['dovecot']:.2f}.")
    if rss:
        lines.append("")
        lines.append(f"Peak RSS of the server process (/usr/bin/time -f %M) for SELECT + FETCH 1 BODY.PEEK[] of one {BIG_SIZE // 2**20} MB message (target for imapd: under 20 MB):")
        lines.append("")
        lines.append("| server | first open | warm | SELECT only | seconds (warm) |")
        lines.append("|---|---:|---:|---:|---:|")
        for s, (res, idle) in rss.items():
            cells = [("FAIL: " + why) if why else f"{kb / 1024:.1f} MB" for kb, _, why in res]
            lines.append(f"| {s} | {cells[0]} | {cells[1]} | {idle / 1024:.1f} MB | {res[1][1]:.3f} |")
            for kb, _, why in res:
                if why:
                    failures.append(f"rss/{s}: {why}")
    if EXTERNAL_KILLS:
        lines.append("")
        lines.append("Runs repeated because the server was ended by a signal from outside (another process on the shared machine):")
        lines.extend(f"* {k}" for k in EXTERNAL_KILLS)
    if failures:
        lines.append("")
        lines.append("Failures (not timed):")
        lines.extend(f"* {f}" for f in failures)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output != "-":
        out = Path(args.output)
        # The IMAP figures are the file's first part; the sections other
        # benchmarks add ("## POP3", "## mbox") are kept.
        others = ""
        if out.exists():
            old = out.read_text()
            at = old.find("\n## ")
            others = old[at:] if at >= 0 else ""
        out.write_text(
            "# Benchmark results\n\nCommand: `"
            + " ".join(["python3", "bench/imap_bench.py", *sys.argv[1:]])
            + "`\n\n"
            + text.rstrip("\n")
            + "\n"
            + others
        )
        log(f"written to {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

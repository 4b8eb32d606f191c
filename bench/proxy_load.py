#!/usr/bin/env python3
"""Load through nginx's mail proxy: N concurrent IMAP sessions on two hosts.

Issue 16's load test: N (default 500) concurrent IMAP sessions through
nginx's mail proxy (the repository's proxy/nginx-mail.conf and
nginx-mail-auth.conf, paths, addresses and ports changed, and nginx's
connection limits raised for the load) across two "hosts", 127.0.0.2 and
127.0.0.3. Each session connects with TLS to nginx, logs in (nginx routes
the user to its host, which checks the password with PAM), SELECTs INBOX,
FETCHes every message's FLAGS and ENVELOPE, and IDLEs. Once all N idle,
the proportional set size (PSS, /proc/PID/smaps_rollup) of every process
of the backends is summed and divided by N; then every session ends with
DONE and LOGOUT. Reported: errors (must be 0), logins per second (N over
the time from the first connection to the last session idling), and PSS
per session.

The same runs with Dovecot 2.3 (Debian's dovecot-imapd) as the backend
behind the same nginx: one Dovecot instance listening on both addresses,
with the PROXY protocol (haproxy = yes) from nginx and the same PAM
service.

Backends: ours under xinetd (one service per host address, `--wrapped -o
trusted_proxies=127.0.0.1` as proxy/nginx-mail.conf says, no per_source
limit). Users: maload1 (on 127.0.0.2, the map's default) and maload2 (on
127.0.0.3: the map's `alice` line, renamed), each with a Maildir of 50
messages; sessions alternate between them, so each host serves half.

Run as root on Debian 12 with nginx, libnginx-mod-mail, xinetd and
dovecot-imapd installed (make test installs them): python3
bench/proxy_load.py [--sessions 500] [--output bench/results.md].
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAPD = REPO / "target" / "release" / "imapd"
MODULE = "/usr/lib/nginx/modules/ngx_mail_module.so"
HOSTS = ["127.0.0.2", "127.0.0.3"]
USERS = ["maload1", "maload2"]
PASSWORD = "load-Pw-16"
PAM_SERVICE = "mailaccess-load"
MESSAGES = 50


def sh(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def users(work: Path) -> None:
    """The load users, with their password and a Maildir of MESSAGES."""
    shutil.copy(REPO / "pam.d" / "imap", f"/etc/pam.d/{PAM_SERVICE}")
    for u in USERS:
        if subprocess.run(["id", u], capture_output=True).returncode != 0:
            sh("useradd", "--create-home", "--shell", "/usr/sbin/nologin", u)
        subprocess.run(["chpasswd"], input=f"{u}:{PASSWORD}\n", text=True, check=True)
        home = Path(subprocess.check_output(["getent", "passwd", u], text=True).split(":")[5])
        md = home / "Maildir"
        shutil.rmtree(md, ignore_errors=True)
        for sub in ("cur", "new", "tmp"):
            (md / sub).mkdir(parents=True)
        for i in range(MESSAGES):
            (md / "cur" / f"{1700000000 + i}.M{i}P1.load:2,S").write_text(
                f"From: sender{i}@example.org\nTo: {u}@example.org\n"
                f"Subject: load message {i}\nDate: Mon, 7 Dec 2026 06:00:00 +0000\n"
                f"Message-ID: <load{i}@example.org>\n\n" + "body line\n" * 20
            )
        sh("chown", "-R", f"{u}:", str(md))


def certs(work: Path) -> tuple[Path, Path]:
    cert, key = work / "cert.pem", work / "key.pem"
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
       "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
       capture_output=True)
    return cert, key


class Daemon:
    """A foreground daemon in its own process group, stopped with it."""

    def __init__(self, argv: list[str], log: Path):
        self.log = log
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log.open("wb"),
                                  stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        try:
            os.killpg(self.p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()


def wait_port(host: str, port: int, what: str) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            socket.create_connection((host, port), 1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} does not listen on {host}:{port}")


def ours(work: Path, port: int, sessions: int) -> Daemon:
    """xinetd with imapd on both host addresses."""
    log = work / "imapd.log"
    conf = f"defaults\n{{\n\tlog_type = FILE {work / 'xinetd-services.log'}\n}}\n"
    for i, host in enumerate(HOSTS):
        conf += (
            f"service imap-proxied-{i}\n{{\n\ttype = UNLISTED\n\tport = {port}\n"
            f"\tbind = {host}\n\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n"
            f"\tuser = root\n\tserver = {IMAPD}\n"
            f"\tserver_args = -c /dev/null -o pam_service={PAM_SERVICE} -o log_path={log} "
            f"--wrapped -o trusted_proxies=127.0.0.1\n"
            f"\tinstances = {sessions + 50}\n\tper_source = UNLIMITED\n"
            f"\tcps = 10000 1\n}}\n"
        )
    (work / "xinetd.conf").write_text(conf)
    d = Daemon(["/usr/sbin/xinetd", "-f", str(work / "xinetd.conf"), "-dontfork",
                "-pidfile", str(work / "xinetd.pid")], work / "xinetd.out")
    time.sleep(0.5)
    return d


def dovecot(work: Path, port: int, sessions: int) -> Daemon:
    """One Dovecot on both host addresses, PROXY protocol from nginx."""
    base = work / "dovecot-run"
    base.mkdir(exist_ok=True)
    conf = work / "dovecot.conf"
    conf.write_text(f"""
base_dir = {base}
state_dir = {work / 'dovecot-state'}
protocols = imap
listen = {' '.join(HOSTS)}
ssl = no
disable_plaintext_auth = no
haproxy_trusted_networks = 127.0.0.1
login_trusted_networks = 127.0.0.1
log_path = {work / 'dovecot.log'}
info_log_path = {work / 'dovecot.log'}
mail_location = maildir:~/Maildir
mail_max_userip_connections = {sessions}
default_process_limit = {sessions + 50}
default_client_limit = {4 * sessions}
passdb {{
  driver = pam
  args = {PAM_SERVICE}
}}
userdb {{
  driver = passwd
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
    haproxy = yes
  }}
}}
""")
    (work / "dovecot-state").mkdir(exist_ok=True)
    return Daemon(["/usr/sbin/dovecot", "-F", "-c", str(conf)], work / "dovecot.out")


def nginx(work: Path, cert: Path, key: Path, backend_port: int, sessions: int) -> tuple[Daemon, int]:
    """The repository's nginx files, with this run's ports and paths."""
    d = work / "nginx"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    front, auth_port = free_port(), free_port()
    mail = (REPO / "proxy" / "nginx-mail.conf").read_text()
    for old, new in [
        ("listen 993 ssl;", f"listen 127.0.0.1:{front} ssl;"),
        ("listen 143;", f"listen 127.0.0.1:{free_port()};"),
        ("listen 110;", f"listen 127.0.0.1:{free_port()};"),
        ("listen 995 ssl;", f"listen 127.0.0.1:{free_port()} ssl;"),
        ("127.0.0.1:8143", f"127.0.0.1:{auth_port}"),
        ("/etc/ssl/mail/fullchain.pem", str(cert)),
        ("/etc/ssl/mail/privkey.pem", str(key)),
    ]:
        assert old in mail, old
        mail = mail.replace(old, new)
    auth = (REPO / "proxy" / "nginx-mail-auth.conf").read_text()
    for old, new in [
        ("listen 127.0.0.1:8143;", f"listen 127.0.0.1:{auth_port};"),
        ("192.0.2.11;", f"{HOSTS[0]};"),
        ("192.0.2.12;", f"{HOSTS[1]};"),
        ("    alice ", f"    {USERS[1]} "),
        ("imap        10143;", f"imap {backend_port};"),
    ]:
        assert old in auth, old
        auth = auth.replace(old, new)
    (d / "mail.conf").write_text(mail)
    (d / "auth.conf").write_text(auth)
    (d / "nginx.conf").write_text(f"""
load_module {MODULE};
daemon off;
worker_processes 1;
worker_rlimit_nofile {8 * sessions + 1024};
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections {4 * sessions + 256}; }}
include {d}/mail.conf;
http {{
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    access_log off;
    include {d}/auth.conf;
}}
""")
    n = Daemon(["/usr/sbin/nginx", "-p", str(d), "-c", str(d / "nginx.conf")], d / "nginx.out")
    wait_port("127.0.0.1", front, "nginx")
    return n, front


async def expect(r: asyncio.StreamReader, tag: bytes) -> list[bytes]:
    lines = []
    while True:
        line = await r.readline()
        if not line:
            raise ConnectionError(f"closed waiting for {tag!r}: {lines[-3:]!r}")
        lines.append(line)
        if line.startswith(tag):
            if not line.startswith(tag + b"OK"):
                raise ConnectionError(line.decode(errors="replace").strip())
            return lines


class Session:
    def __init__(self, user: str):
        self.user = user
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def start(self, port: int, ctx: ssl.SSLContext) -> None:
        self.r, self.w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                       server_hostname="localhost")
        greeting = await self.r.readline()
        if not greeting.startswith(b"* OK"):
            raise ConnectionError(f"greeting {greeting!r}")
        for tag, cmd in [(b"a ", f"LOGIN {self.user} {PASSWORD}"), (b"b ", "SELECT INBOX"),
                         (b"c ", "FETCH 1:* (FLAGS ENVELOPE)")]:
            self.w.write(tag + cmd.encode() + b"\r\n")
            lines = await expect(self.r, tag)
            if tag == b"c " and sum(b" FETCH (" in l for l in lines) != MESSAGES:
                raise ConnectionError("FETCH did not list every message")
        self.w.write(b"d IDLE\r\n")
        line = await self.r.readline()
        if not line.startswith(b"+"):
            raise ConnectionError(f"IDLE: {line!r}")

    async def stop(self) -> None:
        self.w.write(b"DONE\r\n")
        await expect(self.r, b"d ")
        self.w.write(b"e LOGOUT\r\n")
        await expect(self.r, b"e ")
        self.w.close()


def tree(root: int) -> list[int]:
    """`root` and every process descending from it."""
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(p.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def pss_kib(pids: list[int]) -> tuple[int, int]:
    """(sum of PSS in KiB, processes read)."""
    total = n = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    n += 1
                    break
        except OSError:
            pass
    return total, n


async def load(port: int, sessions: int, parallel: int, root_pid: int) -> dict:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    all_s = [Session(USERS[i % 2]) for i in range(sessions)]
    gate = asyncio.Semaphore(parallel)
    errors: list[str] = []

    async def one(s: Session) -> None:
        async with gate:
            try:
                await asyncio.wait_for(s.start(port, ctx), 120)
            except (OSError, ConnectionError, asyncio.TimeoutError) as e:
                errors.append(f"{type(e).__name__}: {e}")
                s.w = None

    t0 = time.perf_counter()
    await asyncio.gather(*(one(s) for s in all_s))
    elapsed = time.perf_counter() - t0
    pss, procs = pss_kib(tree(root_pid))
    live = [s for s in all_s if s.w is not None]

    async def end(s: Session) -> None:
        try:
            await asyncio.wait_for(s.stop(), 60)
        except (OSError, ConnectionError, asyncio.TimeoutError) as e:
            errors.append(f"at logout: {type(e).__name__}: {e}")

    await asyncio.gather(*(end(s) for s in live))
    return {"errors": errors, "seconds": elapsed, "pss_kib": pss, "procs": procs,
            "idle": len(live)}


def run(kind: str, work: Path, cert: Path, key: Path, sessions: int, parallel: int) -> dict:
    port = free_port()
    backend = ours(work, port, sessions) if kind == "imapd" else dovecot(work, port, sessions)
    for h in HOSTS:
        wait_port(h, port, kind)
    front_nginx, front = nginx(work, cert, key, port, sessions)
    try:
        return asyncio.run(load(front, sessions, parallel, backend.p.pid))
    finally:
        front_nginx.stop()
        backend.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=500)
    ap.add_argument("--parallel", type=int, default=50,
                    help="sessions starting at once (default 50)")
    ap.add_argument("--output", default="", help="append the table to this file")
    ap.add_argument("--no-dovecot", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    if not IMAPD.exists():
        raise SystemExit("build first: cargo build --release")
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4 * args.sessions + 256:
        raise SystemExit(f"open files limit {hard} is too low for {args.sessions} sessions")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="mailaccess-load") as w:
        work = Path(w)
        os.chmod(work, 0o755)
        users(work)
        cert, key = certs(work)
        results = {}
        for kind in ["imapd"] + ([] if args.no_dovecot else ["dovecot"]):
            results[kind] = run(kind, work, cert, key, args.sessions, args.parallel)
            r = results[kind]
            print(f"{kind}: {r['idle']}/{args.sessions} idle, {len(r['errors'])} errors, "
                  f"{args.sessions / r['seconds']:.1f} logins/s, "
                  f"PSS {r['pss_kib'] / 1024:.1f} MiB in {r['procs']} processes, "
                  f"{r['pss_kib'] / max(r['idle'], 1):.0f} KiB a session", flush=True)
            for e in r["errors"][:5]:
                print("  error:", e)
    lines = [
        f"\n## Load through nginx's mail proxy ({datetime.date.today()}, "
        f"`bench/proxy_load.py --sessions {args.sessions} --parallel {args.parallel}`)\n",
        f"{args.sessions} concurrent sessions (TLS to nginx, LOGIN through PAM, SELECT, "
        f"FETCH 1:* (FLAGS ENVELOPE) of {MESSAGES} messages, IDLE) across two hosts.\n",
        "| backend | sessions idling | errors | logins/s | PSS of the backend's processes | PSS a session |",
        "|---|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        lines.append(
            f"| {kind} | {r['idle']} | {len(r['errors'])} | {args.sessions / r['seconds']:.1f} | "
            f"{r['pss_kib'] / 1024:.1f} MiB ({r['procs']} processes) | "
            f"{r['pss_kib'] / max(r['idle'], 1):.0f} KiB |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        with open(args.output, "a") as f:
            f.write(text)
    return 0 if all(not r["errors"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

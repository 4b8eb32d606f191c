"""Drives aerc (go-imap) with threading on against imapd --listen
(plain IMAP on 127.0.0.1, LOGIN), through a proxy that logs what goes
each way: aerc must have the server thread (THREAD REFERENCES) and draw
the thread it was given. Arguments: imapd's port, the user, the
password, a work directory, and a thread the server's answer must hold.
Exits non-zero with what failed."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui  # noqa: E402

port, user, password, work, want = sys.argv[1:6]
log = open(os.path.join(work, "traffic.log"), "ab", buffering=0)
lock = threading.Lock()


def pump(a, b, side):
    while True:
        try:
            d = a.recv(65536)
        except OSError:
            break
        if not d:
            break
        with lock:
            log.write(d if side == b"S" else b"".join(b"C: " + l for l in d.splitlines(True)))
        b.sendall(d)
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(4)


def proxy():
    while True:
        c, _ = listener.accept()
        s = socket.create_connection(("127.0.0.1", int(port)))
        threading.Thread(target=pump, args=(c, s, b"C"), daemon=True).start()
        threading.Thread(target=pump, args=(s, c, b"S"), daemon=True).start()


threading.Thread(target=proxy, daemon=True).start()
conf = os.path.join(work, "config", "aerc")
os.makedirs(conf, exist_ok=True)
acct = os.path.join(conf, "accounts.conf")
with open(acct, "w") as f:
    f.write(
        f"""[test]
source = imap+insecure://{user.replace('@', '%40')}:{password}@127.0.0.1:{listener.getsockname()[1]}
default = INBOX
from = Tester <tester@example.org>
outgoing = /bin/false
"""
    )
os.chmod(acct, 0o600)
with open(os.path.join(conf, "aerc.conf"), "w") as f:
    f.write(f"[general]\nlog-file={work}/aerc.log\n[ui]\nthreading-enabled=true\n")
# Quit once the list and a thread mark are drawn (or fail at the timeout).
env = dict(os.environ, TERM="xterm", HOME=work, LANG="C.UTF-8", TZ="UTC",
           XDG_CONFIG_HOME=os.path.join(work, "config"), XDG_RUNTIME_DIR=work)
status, screen = tui.run(["aerc"], env, [(lambda s: "Mango" in s and "└─>" in s, b":quit\r")], ctty=True)
if status != 0:
    sys.exit(f"aerc exited {status}; screen: {screen[-3000:]}")
traffic = open(os.path.join(work, "traffic.log"), "rb").read().decode(errors="replace")
lines = traffic.splitlines()
tag = next((l.split()[1] for l in lines if l.startswith("C: ") and " THREAD REFERENCES " in l), None)
if tag is None:
    sys.exit(f"aerc asked for no THREAD REFERENCES:\n{traffic[-3000:]}")
answer = next((l for l in lines if l.startswith("* THREAD ")), "")
if want not in answer or not any(l.startswith(f"{tag} OK") for l in lines):
    sys.exit(f"the server's THREAD answer lacks {want} or its OK:\n{traffic[-3000:]}")
# The thread drawn as the server gave it: message 3 (12:00) a reply to 1,
# message 5 (14:00) a reply to 3, with aerc's tree marks.
rows = screen.splitlines()
drawn = [any(t in r and mark in r for r in rows) for t, mark in (("12:00 PM", "└─>"), ("02:00 PM", "   └─>"))]
if not all(drawn):
    sys.exit(f"aerc drew no thread for {want} {drawn}:\n{screen[-3000:]}")
print("aerc: THREAD REFERENCES answered with", want, "and drawn")

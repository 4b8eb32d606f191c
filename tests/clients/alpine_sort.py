"""Drives Alpine (c-client) against imapd, preauthenticated through
c-client's rsh path as UW-IMAP's users reach their server, with
`sort-key=Subject`: Alpine must have the server sort (SORT (SUBJECT)) and
show its index in the server's order. Arguments: the shell command that
starts imapd, a work directory, and the SORT answer the server must give.
Exits non-zero with what failed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui  # noqa: E402

cmd, work, want = sys.argv[1], sys.argv[2], sys.argv[3]
inlog, outlog = os.path.join(work, "client.log"), os.path.join(work, "server.log")
shim = os.path.join(work, "imapd.sh")
with open(shim, "w") as f:
    f.write(f"#!/bin/sh\ntee -a {inlog} | {cmd} | tee -a {outlog}\n")
os.chmod(shim, 0o755)
rc = os.path.join(work, "pinerc")
with open(rc, "w") as f:
    f.write(
        f"""inbox-path={{mail.invalid/imap/user=tester}}INBOX
rsh-path={shim}
rsh-command=%s
rsh-open-timeout=15
sort-key=Subject
personal-name=Tester
user-domain=example.org
"""
    )
env = dict(os.environ, TERM="xterm", HOME=work, LANG="C.UTF-8")
# E leaves the first run's greeting (typed: the initial keystrokes wait
# for the main menu); the initial I opens the INBOX's index; once it is
# drawn, Q and Y quit.
keys = [
    (lambda s: "Exit this greeting" in s, b"e"),
    (lambda s: "Mango" in s, b"q"),
    (lambda s: "Really quit" in s, b"y"),
]
status, screen = tui.run(["alpine", "-p", rc, "-I", "i"], env, keys)
if status != 0:
    sys.exit(f"alpine exited {status}; screen: {screen[-3000:]}")
sent = open(inlog, "rb").read().decode(errors="replace")
got = open(outlog, "rb").read().decode(errors="replace")
tag = next((l.split()[0] for l in sent.splitlines() if " SORT (SUBJECT) " in l), None)
if tag is None:
    sys.exit(f"alpine sent no SORT (SUBJECT):\n{sent}")
if f"* SORT {want}\r\n" not in got or f"{tag} OK" not in got:
    sys.exit(f"the server's SORT answer is not * SORT {want} and OK:\n{got}")
index = screen[screen.find("MESSAGE INDEX"):]
places = [index.find(s) for s in ("Apple pie", "Mango", "Zebra plans")]
if -1 in places or places != sorted(places):
    sys.exit(f"the index is not in the server's order {places}:\n{index}")
print("alpine: SORT (SUBJECT) answered", want, "and shown in that order")

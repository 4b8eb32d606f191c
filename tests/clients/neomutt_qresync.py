"""Drives neomutt (imap_qresync and imap_condstore on, with its header
cache) against imapd through its tunnel, in a pseudo-terminal, as a user
would run it. Arguments: the shell command that starts imapd, and a work
directory (neomutt's HOME, its header cache, the logs of what went each
way).

1. neomutt opens INBOX and quits: its header cache now holds the mailbox.
2. Another client (imaplib) flags message 1 and expunges message 2.
3. neomutt opens INBOX again. It must resynchronise with QRESYNC (ENABLE
   QRESYNC, then SELECT ... (QRESYNC (...)) or UID FETCH ... (CHANGEDSINCE
   n VANISHED), answered with VANISHED (EARLIER)),
   and its view must then be right: it copies the messages it shows
   flagged to the folder Flagged, and all the messages it shows to Saved.
   Flagged must hold message 1 alone, Saved messages 1 and 3.

Exits non-zero (with what failed) on any mismatch."""
import imaplib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui  # noqa: E402

cmd, work = sys.argv[1], sys.argv[2]
inlog, outlog = os.path.join(work, "client.log"), os.path.join(work, "server.log")
rc = os.path.join(work, "neomuttrc")
with open(rc, "w") as f:
    f.write(
        f"""set tunnel="tee -a {inlog} | {cmd} | tee -a {outlog}"
set folder="imap://tester@mail.invalid/"
set spoolfile="+INBOX"
set header_cache="{work}/hcache"
set imap_qresync=yes
set imap_condstore=yes
set quit=yes
set confirmcreate=no
set confirmappend=no
set imap_check_subscribed=no
set mail_check_stats=no
set mark_old=no
set move=no
set wait_key=no
set beep=no
set sort=mailbox-order
"""
    )


def neomutt(keys: str) -> None:
    """Runs neomutt on a pseudo-terminal with `keys` pushed; bounded."""
    env = dict(os.environ, TERM="xterm", HOME=work, LANG="C.UTF-8", COLUMNS="100", LINES="30")
    status, screen = tui.run(["neomutt", "-n", "-F", rc, "-e", f'push "{keys}"'], env)
    if status is None:
        sys.exit("neomutt did not finish; screen: " + screen[-3000:])
    if status != 0:
        sys.exit(f"neomutt exited {status}; screen: " + screen[-3000:])


def session():
    m = imaplib.IMAP4_stream(cmd)
    assert m.state == "AUTH", m.state
    return m


def subjects(m, folder):
    typ, data = m.select(folder, readonly=True)
    assert typ == "OK", (folder, typ, data)
    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])") if data != [b"0"] else ("OK", [])
    return sorted(d[1].decode().strip() for d in data if isinstance(d, tuple))


# 1. The first look fills the header cache.
neomutt("<quit>")
first = open(inlog, "rb").read()
assert b"ENABLE QRESYNC" in first, first
assert os.path.exists(os.path.join(work, "hcache")), "no header cache"

# 2. Another client changes the mailbox meanwhile.
m = session()
assert m.select("INBOX")[0] == "OK"
assert m.store("1", "+FLAGS", r"(\Flagged)")[0] == "OK"
assert m.store("2", "+FLAGS", r"(\Deleted)")[0] == "OK"
typ, data = m.expunge()
assert typ == "OK" and data == [b"2"], data
m.logout()

# 3. neomutt resynchronises and acts on what it then shows.
mark = os.path.getsize(inlog)
neomutt(
    "<tag-pattern>~F<enter><tag-prefix><copy-message>=Flagged<enter>"
    "<untag-pattern>~A<enter>"
    "<tag-pattern>~A<enter><tag-prefix><copy-message>=Saved<enter><quit>"
)
sent = open(inlog, "rb").read()[mark:]
said = open(outlog, "rb").read()
assert b"ENABLE QRESYNC" in sent, sent
# neomutt 20220429 selects with CONDSTORE and asks for the rest by
# UID FETCH ... (CHANGEDSINCE n VANISHED); SELECT (QRESYNC ...) is the
# other way RFC 7162 gives.
lines = sent.split(b"\r\n")
assert any(b"SELECT" in l and b"(QRESYNC (" in l for l in lines) or any(
    b"UID FETCH" in l and b"VANISHED)" in l for l in lines
), sent
assert b"* VANISHED (EARLIER) 2" in said, said[-2000:]

m = session()
flagged, saved = subjects(m, "Flagged"), subjects(m, "Saved")
m.logout()
assert flagged == ["Subject: m1"], flagged
assert saved == ["Subject: m1", "Subject: m3"], saved
print("neomutt qresync: ok")

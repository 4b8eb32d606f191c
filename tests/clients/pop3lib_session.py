"""Python poplib against pop3d --listen: CAPA, USER/PASS, APOP, STAT, LIST,
UIDL, TOP, RETR, DELE, RSET, QUIT, and a wrong password ([AUTH]).

usage: pop3lib_session.py HOST PORT USER PASS APOP_USER APOP_PASS
The USER maildrop holds exactly two messages, Subject "one" and "two"; the
APOP maildrop one message. Exits non-zero (with a traceback) on any failure.
"""

import poplib
import sys

host, port, user, password, apop_user, apop_password = sys.argv[1:7]
port = int(port)


def connect():
    return poplib.POP3(host, port, timeout=30)


# CAPA before login tells the truth about this (loopback) link.
p = connect()
caps = p.capa()
for c in ["TOP", "USER", "UIDL", "RESP-CODES", "PIPELINING", "SASL", "AUTH-RESP-CODE"]:
    assert c in caps, (c, caps)
assert "PLAIN" in caps["SASL"], caps
assert caps["EXPIRE"] == ["NEVER"], caps
assert caps["LOGIN-DELAY"] == ["0"], caps
assert "STLS" not in caps, caps
# APOP is offered: the greeting carries a timestamp.
assert b"<" in p.getwelcome(), p.getwelcome()

# A wrong password: -ERR [AUTH] (RFC 3206).
p.user(user)
try:
    p.pass_("wrong password")
    raise AssertionError("wrong password accepted")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
p.quit()

p = connect()
p.user(user)
p.pass_(password)
count, size = p.stat()
assert count == 2, (count, size)
resp, listing, _ = p.list()
sizes = [int(l.split()[1]) for l in listing]
assert sum(sizes) == size, (listing, size)
resp, uidls, _ = p.uidl()
assert len(uidls) == 2 and len(set(u.split()[1] for u in uidls)) == 2, uidls
resp, lines, octets = p.top(1, 0)
assert b"Subject: one" in lines, lines
assert lines[-1] == b"", lines
resp, lines, octets = p.retr(2)
assert b"Subject: two" in lines, lines
assert b".dotted line" in lines, lines  # stuffing undone by poplib
# poplib counts each line plus CRLF: the LIST size exactly.
assert octets == sizes[1], (octets, sizes)
p.dele(1)
try:
    p.retr(1)
    raise AssertionError("retr of a deleted message")
except poplib.error_proto:
    pass
p.rset()
assert p.stat()[0] == 2
p.dele(1)
resp = p.quit()
assert resp.startswith(b"+OK"), resp

p = connect()
p.user(user)
p.pass_(password)
assert p.stat()[0] == 1
resp, uidl_after, _ = p.uidl()
# The survivor keeps its UIDL.
assert uidl_after[0].split()[1] == uidls[1].split()[1], (uidls, uidl_after)
p.quit()

# APOP (RFC 1939 7) with the sasldb user.
p = connect()
p.apop(apop_user, apop_password)
assert p.stat()[0] == 1
resp, lines, _ = p.retr(1)
assert b"Subject: apop" in lines, lines
p.quit()

p = connect()
try:
    p.apop(apop_user, "not the password")
    raise AssertionError("wrong APOP digest accepted")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
p.quit()

print("ok")

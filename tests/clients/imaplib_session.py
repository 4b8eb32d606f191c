"""Drives imapd through Python's imaplib.IMAP4_stream, as a tunnelled
client would (mutt's tunnel=, mbsync's Tunnel). Argument: the shell command
that starts imapd. Exits non-zero (with the failed assertion) on any
mismatch."""
import imaplib
import sys

cmd = sys.argv[1]
M = imaplib.IMAP4_stream(cmd)
assert M.state == "AUTH", M.state  # PREAUTH greeting
assert "IMAP4REV1" in M.capabilities, M.capabilities

typ, data = M.select("INBOX")
assert typ == "OK" and data == [b"2"], (typ, data)

typ, data = M.fetch("1:*", "(UID FLAGS RFC822.SIZE ENVELOPE)")
assert typ == "OK", typ
text = b" ".join(d if isinstance(d, bytes) else b"".join(d) for d in data)
assert b"UID 1" in text and b"UID 2" in text, text
assert b'"Hello"' in text, text

typ, data = M.fetch("1", "(BODY[])")
assert typ == "OK"
body = data[0][1]
assert body.startswith(b"From: Alice") and body.endswith(b"how are you?\r\n"), body

typ, data = M.search(None, "SEEN")
assert data == [b"1"], data
typ, data = M.search(None, "FROM", "carol")
assert data == [b"2"], data

typ, data = M.store("2", "+FLAGS", r"(\Flagged)")
assert typ == "OK" and b"\\Flagged" in data[0], data

typ, data = M.create("Archive")
assert typ == "OK", data
typ, data = M.copy("1:2", "Archive")
assert typ == "OK" and b"COPYUID" in data[0] if data[0] else typ == "OK", data
typ, data = M.append("Archive", r"(\Seen)", imaplib.Time2Internaldate(1e9), b"Subject: appended\r\n\r\nhi\r\n")
assert typ == "OK", data
typ, data = M.status("Archive", "(MESSAGES UNSEEN)")
assert typ == "OK" and b"MESSAGES 3" in data[0], data
typ, data = M.list()
names = [l.decode() for l in data]
assert any(n.endswith(" Archive") for n in names), names

typ, data = M.store("1", "+FLAGS", r"(\Deleted)")
typ, data = M.expunge()
assert typ == "OK" and data == [b"1"], data
typ, data = M.uid("FETCH", "1:*", "(UID)")
assert typ == "OK" and len([d for d in data if d]) == 1 and b"UID 2" in data[0], data

M.close()
typ, data = M.logout()
assert typ == "BYE", typ
print("imaplib: ok")

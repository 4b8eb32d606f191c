"""Logs in to an IMAP server over TCP with Python's imaplib, by every
method a client uses: LOGIN, AUTHENTICATE PLAIN, CRAM-MD5 (imaplib's
login_cram_md5), SCRAM-SHA-1 and SCRAM-SHA-256 (the scramp package, a
client not written by this project; it also checks the server's
signature).

Usage: login_sasl.py HOST PORT CASES_JSON, where CASES_JSON is a list of
  {"user": ..., "password": ..., "method": "LOGIN"|"PLAIN"|"CRAM-MD5"|"SCRAM-SHA-1"|"SCRAM-SHA-256",
   "ok": true|false, "subject": "..." (optional: APPEND a message),
   "caps": [...] (optional: capabilities the greeting must have),
   "nocaps": [...] (optional: capabilities it must not have),
   "code": "..." (optional: the response code of a refusal, default
   AUTHENTICATIONFAILED)}
Each case is one connection. Exits non-zero on the first mismatch."""
import imaplib
import json
import sys

import scramp

host, port, cases = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])


def scram_handler(mechanism, user, password):
    client = scramp.ScramClient([mechanism], user, password)
    state = {"step": 0, "verified": False}

    def handle(challenge):
        step = state["step"]
        state["step"] += 1
        if step == 0:
            assert challenge == b"", challenge
            return client.get_client_first().encode()
        if step == 1:
            client.set_server_first(challenge.decode())
            return client.get_client_final().encode()
        # server-final: scramp raises unless the ServerSignature is right.
        client.set_server_final(challenge.decode())
        state["verified"] = True
        return b""

    return handle, state


for n, case in enumerate(cases):
    what = f"case {n} {case['method']} {case['user']}"
    M = imaplib.IMAP4(host, port, timeout=20)
    for cap in case.get("caps", []):
        assert cap in M.capabilities, (what, cap, M.capabilities)
    for cap in case.get("nocaps", []):
        assert cap not in M.capabilities, (what, cap, M.capabilities)
    method, user, pw = case["method"], case["user"], case["password"]
    state = None
    try:
        if method == "LOGIN":
            typ, data = M.login(user, pw)
        elif method == "PLAIN":
            typ, data = M.authenticate("PLAIN", lambda _: f"\0{user}\0{pw}".encode())
        elif method == "CRAM-MD5":
            typ, data = M.login_cram_md5(user, pw)
        elif method in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
            handler, state = scram_handler(method, user, pw)
            typ, data = M.authenticate(method, handler)
        else:
            raise SystemExit(f"{what}: unknown method")
    except imaplib.IMAP4.error as e:
        assert not case["ok"], f"{what}: refused: {e}"
        code = case.get("code", "AUTHENTICATIONFAILED")
        assert f"[{code}]" in str(e), (what, str(e))
        M.logout()
        print(f"{what}: refused as expected")
        continue
    assert case["ok"], f"{what}: logged in with a bad password"
    assert typ == "OK", (what, typ, data)
    assert b"Logged in" in data[0], (what, data)
    if state is not None:
        assert state["verified"], f"{what}: server-final never checked"
    typ, data = M.select("INBOX")
    assert typ == "OK", (what, typ, data)
    if "subject" in case:
        msg = f"Subject: {case['subject']}\r\nFrom: test@example.org\r\n\r\nbody\r\n"
        typ, data = M.append("INBOX", None, None, msg.encode())
        assert typ == "OK", (what, typ, data)
        M.noop()
        typ, data = M.search(None, "SUBJECT", f'"{case["subject"]}"')
        assert typ == "OK" and data[0], (what, typ, data)
    typ, data = M.logout()
    assert typ == "BYE", (what, typ)
    print(f"{what}: ok")
print("login_sasl: all ok")

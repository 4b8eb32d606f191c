//! BINARY (RFC 3516) against the built `imapd`, on Maildir and mbox:
//! FETCH BINARY, BINARY.PEEK and BINARY.SIZE take each part's
//! Content-Transfer-Encoding off (base64 to its octets, quoted-printable
//! and the identity encodings to text with CRLF line ends), send a
//! `literal8` only when the octets hold a NUL, answer a part in an encoding
//! we cannot decode with `NO [UNKNOWN-CTE]` and nothing of that message,
//! and APPEND takes a `literal8` when the store can keep its octets as
//! they are, and refuses it with `[UNKNOWN-CTE]` otherwise (RFC 3516 4.4).
//! Sizes of a large message are checked in `fetch_memory`.

mod common;

use common::{home_on, imapd_on, ok, run, Server, BOTH};

/// Octets 0..=255 twice, NUL, CR and LF among them.
fn octets() -> Vec<u8> {
    (0..512u32).map(|i| (i % 256) as u8).collect()
}

/// A multipart message with LF line ends, as MTAs store them: 1 text in
/// quoted-printable, 2 the octets in base64, 3 x-uuencode, 4 a message,
/// 5 plain text in 8bit.
fn message() -> Vec<u8> {
    let b64 = mailaccess::auth::sasl::base64_encode(&octets());
    let mut m = b"From: a@example.org\nSubject: binary\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"b\"\n\npreamble\n--b\n\
Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n\
caf=C3=A9 and a soft=\n break\nsecond line=3D\n--b\n\
Content-Type: application/octet-stream\nContent-Transfer-Encoding: BASE64\n\n"
        .to_vec();
    for line in b64.as_bytes().chunks(76) {
        m.extend_from_slice(line);
        m.push(b'\n');
    }
    m.extend_from_slice(
        b"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode\n\n\
begin 644 x\n`\nend\n--b\nContent-Type: message/rfc822\n\n\
Subject: inner\nContent-Transfer-Encoding: base64\n\naGVsbG8K\n--b\n\
Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\
caf\xc3\xa9\nend\n--b--\n",
    );
    m
}

/// The only response line of a FETCH of message `n`, as octets.
fn fetch(s: &mut Server, n: u32, items: &str) -> Vec<u8> {
    let r = s.command_bytes("f", &format!("FETCH {n} {items}"));
    let tagged = String::from_utf8_lossy(r.last().unwrap()).into_owned();
    assert!(tagged.starts_with("f OK"), "{items}: {tagged}");
    assert_eq!(r.len(), 2, "{items}: {r:?}");
    r[0].clone()
}

/// Asserts that FETCH `n` `items` answers `* n FETCH (` + `body` + `)`.
fn expect(s: &mut Server, n: u32, items: &str, body: &[u8]) {
    let want = [format!("* {n} FETCH (").as_bytes(), body, b")\r\n"].concat();
    let got = fetch(s, n, items);
    assert!(
        got == want,
        "{items}:\n got {}\nwant {}",
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn binary_fetch_decodes_each_part() {
    let raw = message();
    let data = octets();
    for b in BOTH {
        eprintln!("on {b:?}");
        let h = home_on(b, &[&raw]);
        let mut s = imapd_on(b, &h);
        let r = run(&mut s, "c", "CAPABILITY");
        assert!(r[0].split(' ').any(|w| w == "BINARY"), "{r:?}");
        ok(&run(&mut s, "s", "SELECT INBOX"), "s");

        // Quoted-printable: decoded, hard line ends CRLF, a literal (no NUL).
        let text = "caf\u{e9} and a soft break\r\nsecond line=";
        expect(
            &mut s,
            1,
            "(BINARY.PEEK[1] BINARY.SIZE[1])",
            format!(
                "BINARY[1] {{{}}}\r\n{text} BINARY.SIZE[1] {}",
                text.len(),
                text.len()
            )
            .as_bytes(),
        );
        // Base64 with NUL: the octets exactly, as a literal8.
        let want = [
            format!("BINARY[2] ~{{{}}}\r\n", data.len()).as_bytes(),
            &data,
            format!(" BINARY.SIZE[2] {}", data.len()).as_bytes(),
        ]
        .concat();
        expect(&mut s, 1, "(BINARY.PEEK[2] BINARY.SIZE[2])", &want);
        // A partial counts decoded octets; without a NUL in it, a literal.
        expect(
            &mut s,
            1,
            "BINARY.PEEK[2]<65.3>",
            b"BINARY[2]<65> {3}\r\nABC",
        );
        expect(
            &mut s,
            1,
            "BINARY.PEEK[2]<255.2>",
            b"BINARY[2]<255> ~{2}\r\n\xff\x00",
        );
        expect(
            &mut s,
            1,
            "BINARY.PEEK[2]<600.10>",
            b"BINARY[2]<600> {0}\r\n",
        );
        // 8bit text: line ends made CRLF.
        expect(
            &mut s,
            1,
            "BINARY.PEEK[5]",
            b"BINARY[5] {10}\r\ncaf\xc3\xa9\r\nend",
        );
        // A message part is sent as it is (its own header names its
        // body's encoding); inside it, part 1 is its body, decoded.
        expect(
            &mut s,
            1,
            "(BINARY.PEEK[4.1] BINARY.SIZE[4.1])",
            b"BINARY[4.1] {6}\r\nhello\n BINARY.SIZE[4.1] 6",
        );
        let inner = b"Subject: inner\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8K";
        expect(
            &mut s,
            1,
            "BINARY.PEEK[4]",
            &[
                format!("BINARY[4] {{{}}}\r\n", inner.len()).as_bytes(),
                inner,
            ]
            .concat(),
        );
        // BINARY[] is the whole message as BODY[] sends it.
        let crlf = mailaccess::mime::crlf::to_crlf(&raw);
        expect(
            &mut s,
            1,
            "BINARY.SIZE[]",
            format!("BINARY.SIZE[] {}", crlf.len()).as_bytes(),
        );
        // A part that does not exist is empty, as for BODY.
        expect(
            &mut s,
            1,
            "(BINARY.PEEK[9] BINARY.SIZE[9])",
            b"BINARY[9] \"\" BINARY.SIZE[9] 0",
        );
        // An encoding we cannot decode: NO [UNKNOWN-CTE], and nothing of
        // the message, not even the items before it.
        for items in ["BINARY.PEEK[3]", "(UID BINARY.PEEK[1] BINARY.SIZE[3])"] {
            let r = run(&mut s, "u", &format!("FETCH 1 {items}"));
            assert_eq!(r.len(), 1, "{b:?} {items}: {r:?}");
            assert!(r[0].starts_with("u NO [UNKNOWN-CTE]"), "{b:?} {r:?}");
        }
        // Only part numbers: BINARY has no HEADER, TEXT or MIME.
        for bad in [
            "FETCH 1 BINARY[1.MIME]",
            "FETCH 1 BINARY[TEXT]",
            "FETCH 1 BINARY.SIZE[1]<0.5>",
            "FETCH 1 BINARY[0]",
        ] {
            let r = run(&mut s, "x", bad);
            assert!(r[0].starts_with("x BAD"), "{b:?} {bad}: {r:?}");
        }
        // BINARY without PEEK sets \Seen and says so.
        let line = fetch(&mut s, 1, "BINARY[5]<0.3>");
        assert_eq!(
            String::from_utf8_lossy(&line),
            "* 1 FETCH (BINARY[5]<0> {3}\r\ncaf FLAGS (\\Seen \\Recent))\r\n",
            "{b:?}"
        );
        ok(&run(&mut s, "l", "LOGOUT"), "l");
    }
}

/// `APPEND INBOX` of `msg` as a non-synchronising literal8.
fn append8(s: &mut Server, tag: &str, msg: &[u8]) -> Vec<String> {
    s.write(format!("{tag} APPEND INBOX ~{{{}+}}\r\n", msg.len()).as_bytes());
    s.write(msg);
    s.write(b"\r\n");
    s.until_tagged(tag)
}

#[test]
fn append_takes_literal8_kept_unchanged() {
    for b in BOTH {
        eprintln!("on {b:?}");
        let h = home_on(b, &[b"Subject: first\n\nfirst\n"]);
        let mut s = imapd_on(b, &h);
        // CRLF line ends, NUL and lone CR: kept as they are.
        let msg = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\n\x00\x01\r\x02\xff\r\nend\r\n";
        ok(&append8(&mut s, "a", msg), "a");
        // A bare LF would come back as CRLF: refused, nothing stored.
        for lossy in [
            &b"Subject: lf\r\n\r\n\x00\n"[..],
            b"Subject: from\r\n\r\nFrom me\r\n",
            b"Subject: end\r\n\r\nno line end",
        ] {
            let r = append8(&mut s, "b", lossy);
            assert!(r[0].starts_with("b NO [UNKNOWN-CTE]"), "{b:?} {r:?}");
        }
        let r = run(&mut s, "s", "SELECT INBOX");
        assert!(r.contains(&"* 2 EXISTS".to_string()), "{b:?} {r:?}");
        let body = b"\x00\x01\r\x02\xff\r\nend\r\n";
        expect(
            &mut s,
            2,
            "BINARY.PEEK[1]",
            &[
                format!("BINARY[1] ~{{{}}}\r\n", body.len()).as_bytes(),
                body,
            ]
            .concat(),
        );
        expect(
            &mut s,
            2,
            "BINARY.PEEK[]",
            &[format!("BINARY[] ~{{{}}}\r\n", msg.len()).as_bytes(), msg].concat(),
        );
        // BODY[] cannot carry NUL (RFC 3501 9 CHAR8): it goes as 0x80.
        let line = fetch(&mut s, 2, "BODY.PEEK[1]");
        assert!(
            line.ends_with(b"BODY[1] {12}\r\n\x80\x01\r\x02\xff\r\nend\r\n)\r\n"),
            "{b:?} {}",
            String::from_utf8_lossy(&line)
        );
        ok(&run(&mut s, "l", "LOGOUT"), "l");
    }
}

//! COMPRESS=DEFLATE (RFC 4978) against the built `imapd`: the OK goes out
//! plain, then both directions are raw DEFLATE with a sync flush after
//! each response (so the client can act on every line at once); a big
//! FETCH and APPEND arrive whole, IDLE still hears a delivery and DONE,
//! a second COMPRESS is `NO [COMPRESSIONACTIVE]`, an unknown algorithm
//! BAD, and before login COMPRESS is refused; a 24 MB message goes out
//! compressed with the session's peak RSS under 16 MB. Both after a real LOGIN
//! (the session behind the privilege-separated login) and preauthenticated.

mod common;
mod login_support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use login_support::*;

/// A client speaking DEFLATE over the server's stdin/stdout.
struct Deflated {
    child: std::process::Child,
    out: Compress,
    inp: Decompress,
    /// Inflated octets not yet taken as lines.
    pending: Vec<u8>,
}

impl Deflated {
    fn send(&mut self, data: &[u8]) {
        let mut buf = vec![0u8; data.len() + 1024];
        let before = self.out.total_out();
        self.out
            .compress(data, &mut buf, FlushCompress::Sync)
            .unwrap();
        let n = (self.out.total_out() - before) as usize;
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(&buf[..n]).unwrap();
        stdin.flush().unwrap();
    }

    /// Inflated input up to and including the line starting with `tag `,
    /// within `wait`.
    fn until(&mut self, tag: &str, wait: Duration) -> String {
        let end = Instant::now() + wait;
        loop {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            let mut at = 0;
            for line in text.split_inclusive("\r\n") {
                at += line.len();
                if line.starts_with(&format!("{tag} ")) && line.ends_with("\r\n") {
                    let out = text[..at].to_string();
                    self.pending.drain(..at);
                    return out;
                }
            }
            assert!(Instant::now() < end, "no {tag} within {wait:?}: {text:?}");
            let mut raw = [0u8; 65536];
            let n = self.child.stdout.as_mut().unwrap().read(&mut raw).unwrap();
            assert!(n > 0, "EOF before {tag}: {text:?}");
            let mut at = 0;
            while at < n {
                let mut out = vec![0u8; 1 << 20];
                let (i, o) = (self.inp.total_in(), self.inp.total_out());
                self.inp
                    .decompress(&raw[at..n], &mut out, FlushDecompress::None)
                    .unwrap();
                at += (self.inp.total_in() - i) as usize;
                self.pending
                    .extend_from_slice(&out[..(self.inp.total_out() - o) as usize]);
            }
        }
    }
}

/// Reads plain lines up to the one starting with `tag `.
fn plain_until(child: &mut std::process::Child, tag: &str) -> String {
    let out = child.stdout.as_mut().unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !(got.ends_with(b"\r\n")
        && String::from_utf8_lossy(&got)
            .lines()
            .last()
            .is_some_and(|l| l.starts_with(&format!("{tag} "))))
    {
        assert_eq!(
            out.read(&mut b).unwrap(),
            1,
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        got.push(b[0]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// After COMPRESS: a 2 MB message appended and fetched back, IDLE woken by
/// a delivery, DONE heard, the errors.
fn exercise(mut c: Deflated, maildir: &std::path::Path) {
    let body: String = (0..40_000)
        .map(|i| format!("line {i} of a long message\r\n"))
        .collect();
    let msg = format!("Subject: big\r\n\r\n{body}");
    c.send(format!("b APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes());
    c.send(msg.as_bytes());
    c.send(b"\r\n");
    let r = c.until("b", Duration::from_secs(20));
    assert!(r.contains("b OK [APPENDUID"), "{r}");
    c.send(b"c SELECT INBOX\r\n");
    let r = c.until("c", Duration::from_secs(20));
    assert!(
        r.contains("* 1 EXISTS") && r.contains("c OK [READ-WRITE]"),
        "{r}"
    );
    c.send(b"d FETCH 1 BODY.PEEK[]\r\n");
    let r = c.until("d", Duration::from_secs(20));
    assert!(
        r.contains(&format!("BODY[] {{{}}}\r\n{msg})", msg.len())),
        "{}",
        r.len()
    );
    c.send(b"e IDLE\r\n");
    let r = c.until("+", Duration::from_secs(10));
    assert!(r.starts_with("+ "), "{r}");
    std::fs::write(
        maildir.join("new/1800000000.M1P1.test"),
        "Subject: new\r\n\r\nx\r\n",
    )
    .unwrap();
    let r = c.until("*", Duration::from_secs(10));
    assert!(r.contains("* 2 EXISTS"), "{r}");
    c.send(b"DONE\r\n");
    let r = c.until("e", Duration::from_secs(10));
    assert!(r.contains("e OK"), "{r}");
    c.send(b"f COMPRESS DEFLATE\r\n");
    let r = c.until("f", Duration::from_secs(10));
    assert!(r.starts_with("f NO [COMPRESSIONACTIVE]"), "{r}");
    c.send(b"g LOGOUT\r\n");
    let r = c.until("g", Duration::from_secs(10));
    assert!(r.contains("* BYE") && r.contains("g OK"), "{r}");
    let _ = c.child.wait();
}

fn start_compress(mut child: std::process::Child, tag: &str) -> Deflated {
    let stdin = child.stdin.as_mut().unwrap();
    stdin
        .write_all(format!("{tag} COMPRESS FOO\r\n{tag} COMPRESS DEFLATE\r\n").as_bytes())
        .unwrap();
    stdin.flush().unwrap();
    let r = plain_until(&mut child, tag);
    assert!(r.starts_with(&format!("{tag} BAD ")), "{r}");
    let r = plain_until(&mut child, tag);
    assert_eq!(r, format!("{tag} OK DEFLATE active.\r\n"));
    Deflated {
        child,
        out: Compress::new(Compression::default(), false),
        inp: Decompress::new(false),
        pending: Vec::new(),
    }
}

/// The server, its stdin and stdout ours (stderr must stay silent).
fn spawn(mut cmd: Command) -> std::process::Child {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn preauthenticated_session() {
    let h = common::Home::new();
    let mut child = spawn(common::server_command(env!("CARGO_BIN_EXE_imapd"), &h, &[]));
    let g = plain_until(&mut child, "*");
    assert!(g.contains("COMPRESS=DEFLATE"), "{g}");
    exercise(start_compress(child, "a"), &h.maildir());
}

#[test]
fn after_login_and_not_before() {
    pam_users();
    let s = Setup::new();
    let md = s.maildir(ALICE, ALICE);
    let mut child = spawn(s.imapd_loopback(&[]));
    let g = plain_until(&mut child, "*");
    assert!(!g.contains("COMPRESS"), "offered before login: {g}");
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"x COMPRESS DEFLATE\r\n").unwrap();
    stdin.flush().unwrap();
    let r = plain_until(&mut child, "x");
    assert!(r.starts_with("x BAD") || r.starts_with("x NO"), "{r}");
    let stdin = child.stdin.as_mut().unwrap();
    stdin
        .write_all(format!("y LOGIN {ALICE} \"{PASSWORD}\"\r\n").as_bytes())
        .unwrap();
    stdin.flush().unwrap();
    let r = plain_until(&mut child, "y");
    assert!(
        r.contains("y OK [CAPABILITY") && r.contains("COMPRESS=DEFLATE"),
        "{r}"
    );
    exercise(start_compress(child, "a"), &md);
}

/// The other end's DEFLATE from another implementation: Python's zlib
/// (raw DEFLATE, sync flushes), as a client built on zlib speaks it
/// (neomutt here is built without zlib, and this mbsync predates its
/// COMPRESS support).
#[test]
fn python_zlib_client() {
    let h = common::Home::new();
    h.deliver(
        None,
        "1000000001.M1P1.test",
        b"Subject: zlib\r\n\r\nfrom the other side\r\n",
    );
    let child = spawn(common::server_command(env!("CARGO_BIN_EXE_imapd"), &h, &[]));
    let script = r#"
import os, sys, zlib
r, w = 0, 1
def plain():
    line = b""
    while not line.endswith(b"\r\n"):
        line += os.read(r, 1)
    return line
assert plain().startswith(b"* PREAUTH")
os.write(w, b"a COMPRESS DEFLATE\r\n")
assert plain() == b"a OK DEFLATE active.\r\n"
c, d = zlib.compressobj(wbits=-15), zlib.decompressobj(wbits=-15)
os.write(w, c.compress(b"b SELECT INBOX\r\nc FETCH 1 BODY[TEXT]\r\nd LOGOUT\r\n") + c.flush(zlib.Z_SYNC_FLUSH))
got = b""
while b"d OK" not in got:
    chunk = os.read(r, 65536)
    assert chunk, got
    got += d.decompress(chunk)
assert b"* 1 FETCH (BODY[TEXT] {21}\r\nfrom the other side\r\n" in got, got
assert b"b OK [READ-WRITE]" in got and b"* BYE" in got, got
"#;
    // The server's output is the script's stdin, the script's stdout the
    // server's input.
    let mut child = child;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::from(child.stdout.take().unwrap()))
        .stdout(Stdio::from(child.stdin.take().unwrap()))
        .stderr(Stdio::piped())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = child.wait();
}

/// Octets of the large message: well past every buffer, so that a copy of
/// it anywhere in the compressed path would show in the peak RSS.
const LARGE: usize = 24 * 1024 * 1024;
/// Peak resident memory allowed to a session sending it compressed, in kB
/// (the uncompressed bound of tests/fetch_memory.rs).
const LARGE_RSS_MAX_KB: u64 = 16 * 1024;

/// A message of `LARGE` octets: a header and pseudo-random text lines
/// (DEFLATE shrinks them, but not to nothing).
fn large_message() -> Vec<u8> {
    let mut m = b"From: big@example.org\nSubject: large\n\n".to_vec();
    let mut x: u32 = 0x9e37_79b9;
    while m.len() < LARGE {
        for _ in 0..76 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            m.push(b'A' + (x % 26) as u8);
        }
        m.push(b'\n');
    }
    m
}

#[test]
fn a_large_message_is_sent_compressed_in_flat_memory() {
    let h = common::Home::new();
    let msg = large_message();
    std::fs::write(h.maildir().join("cur/1700000000.large.test:2,S"), &msg).unwrap();
    h.fix_owner();
    let mut child = spawn(common::server_command(env!("CARGO_BIN_EXE_imapd"), &h, &[]));
    let pid = child.id();
    plain_until(&mut child, "*");
    let mut c = start_compress(child, "a");
    c.send(b"s SELECT INBOX\r\n");
    let r = c.until("s", WAIT);
    assert!(r.contains("s OK"), "{r}");
    c.send(b"f FETCH 1 BODY.PEEK[]\r\n");
    let r = c.until("f", Duration::from_secs(120));
    let tail = &r[r.len().saturating_sub(200)..];
    assert!(r.ends_with("f OK Fetch completed.\r\n"), "{tail}");
    // Every line came, with CRLF (one more octet a line).
    let lines = msg.iter().filter(|&&b| b == b'\n').count();
    assert!(r.len() > msg.len() + lines, "{} octets", r.len());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hwm: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(
        hwm < LARGE_RSS_MAX_KB,
        "peak RSS {hwm} kB sending {LARGE} octets compressed"
    );
    c.send(b"z LOGOUT\r\n");
    c.until("z", WAIT);
    let _ = c.child.wait();
}

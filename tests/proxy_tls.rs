//! The PROXY header comes before the TLS handshake under `--tls` (issue
//! 16: HAProxy in TCP mode passes TLS through to the backend's `--tls`,
//! with `send-proxy-v2`): imapd and pop3d as root on a real TCP
//! connection from 127.0.0.1 take the header, then the handshake, whose
//! first octets follow it in the same write, then a login over TLS; the
//! log names the client from the header. Needs root (`make test`).

mod deploy_common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use deploy_common::*;

/// A PROXY v2 header: the client 198.51.100.23:`port`, over IPv4.
fn v2(port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12, 198, 51, 100, 23, 127, 0, 0, 1]);
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&993u16.to_be_bytes());
    h
}

/// A stream that sends `first` before the first octets written to it:
/// the header and the ClientHello then leave in one write.
struct Prefixed {
    s: TcpStream,
    first: Option<Vec<u8>>,
}

impl std::io::Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.s.read(buf)
    }
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(mut first) = self.first.take() {
            first.extend_from_slice(buf);
            self.s.write_all(&first)?;
            return Ok(buf.len());
        }
        self.s.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.s.flush()
    }
}

#[test]
fn the_header_comes_before_the_tls_handshake() {
    pam_user();
    let certs = Certs::new();
    for (bin, port, login, ok) in [
        (
            IMAPD,
            40001,
            format!("a LOGIN {USER} {PASSWORD}\r\n"),
            "a OK",
        ),
        (
            POP3D,
            40002,
            format!("USER {USER}\r\nPASS {PASSWORD}\r\n"),
            "+OK",
        ),
    ] {
        let log = Log::new();
        let mut args = base_args(if bin == IMAPD { PAM_IMAP } else { PAM_POP3 }, &log);
        args.extend(certs.chain_args("rsa"));
        args.extend([
            "-o".into(),
            "trusted_proxies=127.0.0.1".into(),
            "--tls".into(),
        ]);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        let out = server.try_clone().expect("clone");
        let mut child = Command::new(bin)
            .args(&args)
            .env_remove("REMOTE_HOST")
            .env_remove("REMOTE_PORT")
            .stdin(Stdio::from(OwnedFd::from(server)))
            .stdout(Stdio::from(OwnedFd::from(out)))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        client.set_read_timeout(Some(WAIT)).expect("timeout");
        let stream = Prefixed {
            s: client,
            first: Some(v2(port)),
        };
        let mut c = Client::new(tls(certs.client_config(), stream).expect("handshake"));
        let g = c.line();
        assert!(g.starts_with("* OK") || g.starts_with("+OK"), "{g}");
        assert!(!g.contains("LOGINDISABLED"), "{g}");
        c.send(&login);
        // IMAP: up to the tagged line; POP3: the answers to USER and PASS.
        let answer = if bin == IMAPD {
            c.until("a ")
        } else {
            vec![c.line(), c.line()]
        };
        assert!(
            answer
                .iter()
                .all(|l| l.starts_with('*') || l.starts_with(ok)),
            "{answer:?}"
        );
        c.send(if bin == IMAPD {
            "z LOGOUT\r\n"
        } else {
            "QUIT\r\n"
        });
        let _ = child.wait();
        let text = log.wait_for("through proxy");
        assert!(
            text.contains(&format!(
                "client 198.51.100.23:{port} through proxy 127.0.0.1:"
            )),
            "{text}"
        );
    }
}

//! TLS with rustls (ring provider): the server configuration from PEM files,
//! and a blocking TLS stream over the client's descriptors.
//!
//! TLS 1.2 and 1.3 only; RSA, ECDSA and Ed25519 keys (PKCS#1, PKCS#8,
//! SEC1), certificate chains. A key that does not match the certificate is
//! refused when loading (rustls compares the public keys), with a log line
//! that names the files.
//!
//! The handshake and all decryption run in the unprivileged, chrooted login
//! process (DESIGN.md 1): the configuration is loaded while it is still root,
//! before the jail.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

use crate::config::Config;

/// The server configuration for `tls_cert` and `tls_key`, or `None` when
/// TLS is not configured. `Err` says which file is wrong and why.
pub fn server_config(config: &Config) -> Result<Option<Arc<ServerConfig>>, String> {
    if config.tls_cert.is_empty() && config.tls_key.is_empty() {
        return Ok(None);
    }
    if config.tls_cert.is_empty() || config.tls_key.is_empty() {
        return Err("tls_cert and tls_key must be set together".into());
    }
    let client_ca = (!config.tls_client_ca.is_empty()).then(|| Path::new(&config.tls_client_ca));
    load(
        Path::new(&config.tls_cert),
        Path::new(&config.tls_key),
        client_ca,
    )
    .map(Some)
}

/// The CA certificates of the PEM file `ca` (the setting `key` names it),
/// as a trust store; a file without one is an error.
pub fn roots(key: &str, ca: &Path) -> Result<rustls::RootCertStore, String> {
    let bad = |e: &dyn std::fmt::Display| format!("{key} {}: {e}", ca.display());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| bad(&e))? {
        roots.add(c.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate"));
    }
    Ok(roots)
}

/// The verifier of client certificates signed by the CAs in `ca` (PEM);
/// a client may also present none (`allow_unauthenticated`): EXTERNAL is
/// then not offered.
fn client_verifier(
    ca: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let roots = roots("tls_client_ca", ca)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("tls_client_ca {}: {e}", ca.display()))
}

/// Privileged side of EXTERNAL: `chain` (leaf first, as the login process
/// relays it) verified against `tls_client_ca` again, now, as the parent
/// reads it; the user it names by `rule`.
pub fn client_user(
    ca: &Path,
    chain: &[Vec<u8>],
    rule: &crate::config::ClientUser,
) -> Result<String, String> {
    let verifier = client_verifier(ca)?;
    let (leaf, rest) = chain.split_first().ok_or("no certificate")?;
    let leaf = CertificateDer::from(leaf.clone());
    let intermediates: Vec<CertificateDer<'static>> = rest
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    verifier
        .verify_client_cert(&leaf, &intermediates, rustls::pki_types::UnixTime::now())
        .map_err(|e| format!("client certificate: {e}"))?;
    certificate_user(&leaf, rule).ok_or_else(|| "the client certificate names no user".into())
}

/// The user a certificate names: its subject's commonName, or the first
/// rfc822Name of its subjectAltName. A minimal DER walk, as `not_after`.
pub fn certificate_user(der: &[u8], rule: &crate::config::ClientUser) -> Option<String> {
    if let crate::config::ClientUser::Map(path) = rule {
        let text = match CLIENT_MAP.get() {
            Some(t) => t.clone(),
            None => std::fs::read_to_string(path).ok()?,
        };
        return mapped_user(der, &text);
    }
    let (_, _validity, rest) = tlv(tbs_from_validity(der)?)?;
    let (_, subject, mut rest) = tlv(rest)?;
    let text = |v: &[u8]| {
        std::str::from_utf8(v)
            .ok()
            .filter(|t| !t.is_empty() && !t.chars().any(char::is_control))
            .map(str::to_owned)
    };
    match rule {
        crate::config::ClientUser::Map(_) => None,
        crate::config::ClientUser::CommonName => {
            let mut rdns = subject;
            while let Some((_, set, more)) = tlv(rdns) {
                let (_, attribute, _) = tlv(set)?;
                let (_, oid, value) = tlv(attribute)?;
                if oid == [0x55, 0x04, 0x03] {
                    return text(tlv(value)?.1);
                }
                rdns = more;
            }
            None
        }
        crate::config::ClientUser::Email => {
            rest = tlv(rest)?.2; // subjectPublicKeyInfo
            while let Some((tag, field, more)) = tlv(rest) {
                if tag == 0xa3 {
                    let (_, mut extensions, _) = tlv(field)?;
                    while let Some((_, extension, more)) = tlv(extensions) {
                        let (_, oid, value) = tlv(extension)?;
                        if oid == [0x55, 0x1d, 0x11] {
                            // An optional critical BOOLEAN, then the OCTET STRING.
                            let (mut t, mut v, after) = tlv(value)?;
                            if t == 0x01 {
                                (t, v, _) = tlv(after)?;
                            }
                            if t != 0x04 {
                                return None;
                            }
                            let (_, mut names, _) = tlv(v)?;
                            while let Some((tag, name, more)) = tlv(names) {
                                if tag == 0x81 {
                                    return text(name);
                                }
                                names = more;
                            }
                            return None;
                        }
                        extensions = more;
                    }
                }
                rest = more;
            }
            None
        }
    }
}

pub fn load(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("tls_cert {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "tls_cert {}: no certificate in the file",
            cert.display()
        ));
    }
    if let Some(t) = not_after(&chain[0]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        if t < now {
            // Served anyway: the client decides; but the administrator
            // must hear of it.
            log::warn!(
                "tls_cert {}: the certificate expired {}",
                cert.display(),
                date(t)
            );
        }
    }
    let _ = SERVER_END_POINT.set(end_point(&chain[0]));
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("tls_key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca)?),
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(chain, key_der).map_err(|e| {
        format!(
            "tls_cert {} and tls_key {}: {e}",
            cert.display(),
            key.display()
        )
    })?;
    Ok(Arc::new(config))
}

/// The end of a certificate's validity (X.509 `notAfter`), in seconds since
/// the epoch. A minimal DER walk: Certificate -> tbsCertificate -> skip
/// [0] version, serialNumber, signature, issuer -> validity -> notAfter.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, validity, _) = tlv(tbs_from_validity(der)?)?;
    let (_, _, after) = tlv(validity)?; // notBefore
    let (tag, time, _) = tlv(after)?;
    let text = std::str::from_utf8(time).ok()?;
    let (year, rest) = match tag {
        0x17 => {
            // UTCTime: YYMMDDHHMMSSZ, years 1950-2049 (RFC 5280 4.1.2.5.1).
            let yy: i32 = text.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    let num = |a: usize| rest.get(a..a + 2).and_then(|v| v.parse::<u32>().ok());
    let date = chrono::NaiveDate::from_ymd_opt(year, num(0)?, num(2)?)?;
    let t = date.and_hms_opt(num(4)?, num(6)?, num(8)?)?;
    Some(t.and_utc().timestamp())
}

/// `tls_client_user = map:PATH`, read by the login process while it may
/// (`preload_client_map`, before its jail); the parent reads the file anew
/// for every check.
static CLIENT_MAP: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Login process, before it enters its jail: the certificate map's text.
pub fn preload_client_map(config: &crate::config::Config) {
    if let crate::config::ClientUser::Map(path) = &config.tls_client_user {
        match crate::store::open::read_small(path, crate::limits::CLIENT_MAP_MAX) {
            Ok(text) => {
                let _ = CLIENT_MAP.set(text);
            }
            Err(e) => log::error!("tls_client_user map {}: {e}", path.display()),
        }
    }
}

/// The user a map of `SHA256-FINGERPRINT USER` lines (hexadecimal, colons
/// allowed, `#` comments) gives the certificate `der`.
fn mapped_user(der: &[u8], text: &str) -> Option<String> {
    use sha2::Digest;
    let fingerprint: String = sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|l| {
            let (f, user) = l.split_once(char::is_whitespace)?;
            let f = f.replace(':', "").to_ascii_lowercase();
            (f == fingerprint).then(|| user.trim().to_string())
        })
        .filter(|u| !u.is_empty() && !u.chars().any(char::is_control))
}

/// RFC 5929 `tls-server-end-point` of the certificate this process
/// serves (one per process: `load` sets it).
static SERVER_END_POINT: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();

/// RFC 5929 4.1: the hash of the certificate with the hash of its
/// signature algorithm, SHA-256 where that is MD5 or SHA-1; `None` where
/// the algorithm names no single hash (Ed25519, RSASSA-PSS) and the
/// binding type is undefined.
pub fn end_point(der: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    let (_, cert, _) = tlv(der)?;
    let (_, _, rest) = tlv(cert)?; // tbsCertificate
    let (_, algorithm, _) = tlv(rest)?;
    let (tag, oid, _) = tlv(algorithm)?;
    if tag != 0x06 {
        return None;
    }
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];
    let bits = match (oid.split_last()?, oid) {
        // md5-, sha1-, sha256WithRSAEncryption; ecdsa-with-SHA1, -SHA256.
        ((4 | 5 | 11, head), _) if *head == *RSA => 256,
        (_, o) if o == [ECDSA, &[0x01]].concat() || o == [ECDSA, &[0x03, 0x02]].concat() => 256,
        ((12, head), _) if *head == *RSA => 384,
        (_, o) if o == [ECDSA, &[0x03, 0x03]].concat() => 384,
        ((13, head), _) if *head == *RSA => 512,
        (_, o) if o == [ECDSA, &[0x03, 0x04]].concat() => 512,
        _ => return None,
    };
    Some(match bits {
        256 => sha2::Sha256::digest(der).to_vec(),
        384 => sha2::Sha384::digest(der).to_vec(),
        _ => sha2::Sha512::digest(der).to_vec(),
    })
}

/// A certificate's tbsCertificate from its `validity` on: the [0]
/// version, serialNumber, signature and issuer skipped.
fn tbs_from_validity(der: &[u8]) -> Option<&[u8]> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r;
    }
    for _ in 0..3 {
        rest = tlv(rest)?.2; // serialNumber, signature, issuer
    }
    Some(rest)
}

/// One DER element: (tag, contents, what follows).
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&first, d) = d.split_first()?;
    let (len, d) = if first < 0x80 {
        (first as usize, d)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, d) = d.split_at_checked(n)?;
        (bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize), d)
    };
    let (content, rest) = d.split_at_checked(len)?;
    Some((tag, content, rest))
}

/// For `--check`: a line when the leaf certificate in `cert` has expired.
pub fn expiry_problem(cert: &Path) -> Option<String> {
    let der = CertificateDer::pem_file_iter(cert).ok()?.next()?.ok()?;
    let t = not_after(&der)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    (t < now).then(|| {
        format!(
            "tls_cert {}: the certificate expired {}",
            cert.display(),
            date(t)
        )
    })
}

fn date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A TLS connection over the client's input and output descriptors, read
/// and written in blocking fashion. Reads wait at most `timeout` for the
/// client (poll on the input descriptor, but only when rustls holds no
/// decrypted bytes already).
pub struct TlsStream {
    conn: ServerConnection,
    input: std::fs::File,
    output: std::fs::File,
    timeout: Duration,
}

impl TlsStream {
    /// Runs the handshake; on failure the alert is sent and the reason
    /// returned for the log.
    pub fn accept(
        config: Arc<ServerConfig>,
        input: OwnedFd,
        output: OwnedFd,
        timeout: Duration,
    ) -> io::Result<TlsStream> {
        let conn = ServerConnection::new(config).map_err(io::Error::other)?;
        let mut s = TlsStream {
            conn,
            input: input.into(),
            output: output.into(),
            timeout,
        };
        while s.conn.is_handshaking() {
            if s.conn.wants_write() {
                s.flush_tls()?;
                continue;
            }
            if !s.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "client closed during the TLS handshake",
                ));
            }
        }
        s.flush_tls()?;
        Ok(s)
    }

    /// The descriptor reads come from (for the relay's poll).
    /// What SCRAM-PLUS binds to on this connection: RFC 9266's exporter
    /// (TLS 1.3 only: TLS 1.2 without the extended master secret would
    /// make it unsafe, RFC 9266 3) and our certificate's end point.
    pub fn channel_bindings(&self) -> crate::auth::sasl::ChannelBindings {
        let tls13 = self.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
        let mut exporter = vec![0u8; 32];
        let exporter = (tls13
            && self
                .conn
                .export_keying_material(&mut exporter[..], b"EXPORTER-Channel-Binding", None)
                .is_ok())
        .then_some(exporter);
        crate::auth::sasl::ChannelBindings {
            exporter,
            end_point: SERVER_END_POINT.get().cloned().flatten(),
        }
    }

    /// The client's certificate chain, leaf first, when it presented one
    /// that rustls verified against `tls_client_ca`.
    pub fn client_chain(&self) -> Option<Vec<Vec<u8>>> {
        let chain = self.conn.peer_certificates()?;
        (!chain.is_empty()).then(|| chain.iter().map(|c| c.to_vec()).collect())
    }

    pub fn input_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.input.as_fd()
    }

    /// Reads and processes TLS records from the client: `false` at EOF.
    fn fill(&mut self) -> io::Result<bool> {
        wait_readable(&self.input, Some(self.timeout))?;
        let n = loop {
            match self.conn.read_tls(&mut self.input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n == 0 {
            return Ok(false);
        }
        if let Err(e) = self.conn.process_new_packets() {
            // Tell the client why (the alert), then give up.
            let _ = self.flush_tls();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("TLS: {e}"),
            ));
        }
        Ok(true)
    }

    /// Decrypted bytes rustls already holds, without reading the socket.
    fn buffered(&mut self, out: &mut [u8]) -> io::Result<Option<usize>> {
        match self.conn.reader().read(out) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            // An EOF without close_notify: the peer is gone all the same.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Some(0)),
            Err(e) => Err(e),
        }
    }

    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.output)?;
        }
        self.output.flush()
    }

    /// Sends close_notify (RFC 8446 6.1) and flushes it.
    pub fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush_tls();
    }

    /// One step of the relay: whatever the client sent, decrypted, or
    /// `None` at the end of the connection.
    pub fn read_available(&mut self, out: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            if let Some(n) = self.buffered(out)? {
                return Ok(if n == 0 { None } else { Some(n) });
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Whether decrypted bytes are waiting (so the relay must not poll).
    pub fn has_plaintext(&mut self) -> bool {
        // A zero-length read tells nothing; peek by processing state.
        self.conn
            .process_new_packets()
            .map(|s| s.plaintext_bytes_to_read() > 0)
            .unwrap_or(false)
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
}

impl Read for TlsStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_available(out)?.unwrap_or(0))
    }
}

impl Write for TlsStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.conn.writer().write(data)?;
        // Keep rustls's buffer small: push records out as they form.
        if self.conn.wants_write() {
            self.conn.write_tls(&mut self.output)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.conn.writer().flush()?;
        self.flush_tls()
    }
}

/// One TLS connection used for reading (through `conn::Input`) and
/// writing at once, in one thread.
#[derive(Clone)]
pub struct SharedTls(Rc<RefCell<TlsStream>>);

impl SharedTls {
    pub fn new(s: TlsStream) -> SharedTls {
        SharedTls(Rc::new(RefCell::new(s)))
    }

    pub fn close(&self) {
        self.0.borrow_mut().close();
    }
}

impl Read for SharedTls {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(out)
    }
}

impl Write for SharedTls {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

/// After a login over TLS the login process stays on as the relay
/// (DESIGN.md 1): client TLS <-> plaintext on `data` to the session, which
/// runs as the user and never holds the TLS keys. Ends when either side
/// closes; sends close_notify when the session ends.
pub fn relay(tls: SharedTls, data: OwnedFd) {
    let mut data = std::fs::File::from(data);
    let mut tls = tls.0.borrow_mut();
    tls.set_timeout(crate::limits::IMAP_IDLE_TIMEOUT);
    let mut buf = vec![0u8; crate::limits::STREAM_BUFFER];
    loop {
        // Decrypted bytes rustls already holds go first: the socket may
        // have nothing more to say.
        if tls.has_plaintext() {
            match tls.read_available(&mut buf) {
                Ok(Some(n)) => {
                    if data.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    continue;
                }
                _ => break,
            }
        }
        let mut fds = [
            PollFd::new(&tls.input, PollFlags::IN),
            PollFd::new(&data, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
        let client = !fds[0].revents().is_empty();
        let session = !fds[1].revents().is_empty();
        if client {
            match tls.read_available(&mut buf) {
                Ok(Some(n)) => {
                    if data.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                // The client left (close_notify, EOF or a TLS error).
                Ok(None) | Err(_) => {
                    let _ = rustix::net::shutdown(&data, rustix::net::Shutdown::Write);
                    return;
                }
            }
        }
        if session {
            match data.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tls.write_all(&buf[..n]).and_then(|_| tls.flush()).is_err() {
                        return;
                    }
                }
            }
        }
    }
    tls.close();
}

/// Waits until `fd` is readable, at most `timeout` (forever with `None`).
pub fn wait_readable(fd: impl AsFd, timeout: Option<Duration>) -> io::Result<()> {
    let ts = timeout.map(|t| Timespec {
        tv_sec: t.as_secs() as i64,
        tv_nsec: t.subsec_nanos() as _,
    });
    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")),
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_after_of_real_certificates() {
        // Made by: openssl req -x509 -newkey ec -pkeyopt
        // ec_paramgen_curve:P-256 -nodes -subj /CN=t -days 7300
        // (openssl x509 -enddate: notAfter=Nov 16 06:09:29 2046 GMT).
        let pem = b"-----BEGIN CERTIFICATE-----
MIIBbjCCAROgAwIBAgIUfjX31mcWmI7Y38boPCC/I3G3LhowCgYIKoZIzj0EAwIw
DDEKMAgGA1UEAwwBdDAeFw0yNjExMjEwNjA5MjlaFw00NjExMTYwNjA5MjlaMAwx
CjAIBgNVBAMMAXQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQi1QO9A0EWz7ro
+Q3ovu594UmP1oTrpLXIWx7cV7M3CI239vXGR6oAOPwljUzRaZn92tXxPMd+FtWB
B9t0lSLDo1MwUTAdBgNVHQ4EFgQU0edim7DnlgdRXtMrLqtUg4XltZkwHwYDVR0j
BBgwFoAU0edim7DnlgdRXtMrLqtUg4XltZkwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNJADBGAiEAoWGB0A4H4OmUsAMW3aanYK5xcPCUHQDBYsBAhpwTIAEC
IQDbezhy9pf0lL6Wn6p+2JL8cc9j8y4IWJJj53qtlmHsYQ==
-----END CERTIFICATE-----
";
        let der = CertificateDer::from_pem_slice(pem).unwrap();
        assert_eq!(not_after(&der), Some(2_425_961_369));
        // ecdsa-with-SHA256: RFC 5929's end point is SHA-256 of it all.
        use sha2::Digest;
        assert_eq!(end_point(&der), Some(sha2::Sha256::digest(&der).to_vec()));
        assert_eq!(not_after(b"\x30\x03\x02\x01"), None);
        assert_eq!(not_after(b""), None);
    }

    #[test]
    fn end_point_hash_follows_the_signature_algorithm() {
        // openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
        // -sha384 -nodes -subj /CN=t -days 7300: ecdsa-with-SHA384, so
        // SHA-384 (`openssl x509 -outform der | sha384sum`).
        let p384 = b"-----BEGIN CERTIFICATE-----
MIIBbjCCAROgAwIBAgIUE7MAgWum+LweJ0AlBJyCZvSLLKMwCgYIKoZIzj0EAwMw
DDEKMAgGA1UEAwwBdDAeFw0yNjEyMDcwNjUxMDZaFw00NjEyMDIwNjUxMDZaMAwx
CjAIBgNVBAMMAXQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR1sraP10e+LzpV
ueYSiJURfXvGExQHzpDlRCPTxPIRknbIsS8HszmgFnluU/lPj0nhATusNTSZiDC1
eZYgyVn0o1MwUTAdBgNVHQ4EFgQUU+qxgoqV7CBDe/t+Q9N3sZJ7e8owHwYDVR0j
BBgwFoAUU+qxgoqV7CBDe/t+Q9N3sZJ7e8owDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAwNJADBGAiEAxEy7lXOgvqz+Kr04Y4y63qpzPaxSYz4SEiiL5FD8fSEC
IQCHlDi/7t7E+ughe7zVxGHl5La0a8mTdEzg5vLMmEr1hw==
-----END CERTIFICATE-----
";
        let der = CertificateDer::from_pem_slice(p384).unwrap();
        let hex: String = end_point(&der)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bb08604d78db10a602dceab0f50cd37384267805dd7c8ba101f022ffb9a78b8\
             e13f83ed8d227eefda4fdf479e8f131a"
        );
        // Ed25519 signs without a separate hash: the type is undefined.
        let ed = b"-----BEGIN CERTIFICATE-----
MIIBLDCB36ADAgECAhQd8bN4zxX2FtoxZE8HO1ZMl6rdnjAFBgMrZXAwDDEKMAgG
A1UEAwwBdDAeFw0yNjEyMDcwNjUxMDZaFw00NjEyMDIwNjUxMDZaMAwxCjAIBgNV
BAMMAXQwKjAFBgMrZXADIQDrp79S/hFqNzJVx5aknJKxC6jMLI8+Gsq7XLWDF+3F
BqNTMFEwHQYDVR0OBBYEFKAuH5Y8p8PVwL1r3LXwOd73+1vzMB8GA1UdIwQYMBaA
FKAuH5Y8p8PVwL1r3LXwOd73+1vzMA8GA1UdEwEB/wQFMAMBAf8wBQYDK2VwA0EA
HTde5b8XJ8huSD3y3RwQuQEmJEkeRhxeGSW6V5m0eNkzPgWtnSdbBKCD45QGt1sj
6mCnkpDCUdaumUbaMB/9Dg==
-----END CERTIFICATE-----
";
        let der = CertificateDer::from_pem_slice(ed).unwrap();
        assert_eq!(end_point(&der), None);
        assert_eq!(end_point(b"\x30\x03\x02\x01"), None);
    }

    #[test]
    fn missing_and_unpaired_files_are_explained() {
        let mut c = crate::config::Config::defaults(crate::config::Service::Imap);
        assert!(server_config(&c).unwrap().is_none());
        c.tls_cert = "/nonexistent/cert.pem".into();
        let e = server_config(&c).unwrap_err();
        assert!(e.contains("together"), "{e}");
        c.tls_key = "/nonexistent/key.pem".into();
        let e = server_config(&c).unwrap_err();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    }
}

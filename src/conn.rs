//! The transport under the protocol code: a buffered reader with an idle
//! timeout, and the writer. Under xinetd, stunnel and ssh the client is fds 0
//! and 1; `--listen` gives the same fds to a child process, so the protocol
//! code never knows which it has.

use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};

/// Buffered input that fails with `TimedOut` when the client sends nothing
/// for `timeout`. The timeout is checked with poll(2) on `fd` only when the
/// buffer is empty, so pipelined input is never delayed.
pub struct Input<R> {
    inner: R,
    fd: Option<OwnedFd>,
    timeout: Option<Duration>,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// RFC 4978 COMPRESS=DEFLATE, once started: `buf` then holds what it
    /// inflated.
    inflate: Option<Box<Inflater>>,
}

/// The client's DEFLATE stream: octets read but not yet inflated, and the
/// inflater's state (a 32 KB window).
struct Inflater {
    z: flate2::Decompress,
    raw: Box<[u8]>,
    pos: usize,
    len: usize,
}

impl Inflater {
    /// Inflates what is pending into `out`: (octets made, stream ended).
    fn run(&mut self, out: &mut [u8]) -> io::Result<(usize, bool)> {
        let (before_in, before_out) = (self.z.total_in(), self.z.total_out());
        let status = self
            .z
            .decompress(
                &self.raw[self.pos..self.len],
                out,
                flate2::FlushDecompress::None,
            )
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.pos += (self.z.total_in() - before_in) as usize;
        let made = (self.z.total_out() - before_out) as usize;
        Ok((made, status == flate2::Status::StreamEnd))
    }
}

impl<R: Read> Input<R> {
    /// Input without a timeout (tests drive the session with byte strings).
    pub fn new(inner: R) -> Input<R> {
        Input {
            inner,
            fd: None,
            timeout: None,
            buf: vec![0; crate::limits::INPUT_BUFFER].into(),
            pos: 0,
            len: 0,
            inflate: None,
        }
    }

    /// Input that polls `fd` (the descriptor `inner` reads from) before each
    /// read of the underlying stream.
    pub fn with_timeout(inner: R, fd: OwnedFd, timeout: Duration) -> Input<R> {
        let mut i = Input::new(inner);
        i.fd = Some(fd);
        i.timeout = Some(timeout);
        i
    }

    /// Input whose first bytes are `prefix`: what the login process had
    /// read from the client but not used when it handed over.
    pub fn with_prefix(inner: R, fd: OwnedFd, timeout: Duration, prefix: &[u8]) -> Input<R> {
        let mut i = Input::with_timeout(inner, fd, timeout);
        if prefix.len() > i.buf.len() {
            i.buf = vec![0; prefix.len()].into();
        }
        i.buf[..prefix.len()].copy_from_slice(prefix);
        i.len = prefix.len();
        i
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    /// Bytes read from the client but not yet consumed: handed over intact
    /// when the transport changes (after login), and thrown away at STARTTLS
    /// (RFC 3207 / CVE-2011-0411: nothing sent before the handshake may be
    /// taken as a command after it).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let v = self.buf[self.pos..self.len].to_vec();
        self.pos = 0;
        self.len = 0;
        v
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    fn wait_readable(&self) -> io::Result<()> {
        let (Some(fd), Some(t)) = (&self.fd, self.timeout) else {
            return Ok(());
        };
        match wait(fd.as_fd(), None, t)? {
            Wake::Timeout => Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")),
            _ => Ok(()),
        }
    }
}

/// One read(2), again when a signal interrupted it.
fn read_retrying(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Waits up to `timeout` for `fd` or `other` to be readable; `fd` first
/// when both are.
fn wait(fd: BorrowedFd<'_>, other: Option<BorrowedFd<'_>>, timeout: Duration) -> io::Result<Wake> {
    let ts = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    let mut fds = [
        PollFd::new(&fd, PollFlags::IN),
        PollFd::new(other.as_ref().unwrap_or(&fd), PollFlags::IN),
    ];
    let n = if other.is_some() { 2 } else { 1 };
    loop {
        match poll(&mut fds[..n], Some(&ts)) {
            Ok(0) => return Ok(Wake::Timeout),
            Ok(_) if !fds[0].revents().is_empty() => return Ok(Wake::Client),
            Ok(_) => return Ok(Wake::Other),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> Input<R> {
    /// `fill_buf` under COMPRESS: inflates what is pending, reading more
    /// from the client (with the timeout) only when none is; at the end of
    /// the stream or of the input, nothing (EOF).
    fn fill_inflated(&mut self, z: &mut Inflater) -> io::Result<()> {
        self.pos = 0;
        self.len = 0;
        loop {
            if z.pos < z.len {
                let (made, end) = z.run(&mut self.buf)?;
                if made > 0 || end {
                    self.len = made;
                    return Ok(());
                }
                if z.pos < z.len {
                    // Nothing taken and nothing made: a corrupt stream.
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "DEFLATE stalled",
                    ));
                }
            }
            self.wait_readable()?;
            let n = read_retrying(&mut self.inner, &mut z.raw)?;
            if n == 0 {
                return Ok(());
            }
            (z.pos, z.len) = (0, n);
        }
    }
}

impl<R: Read> BufRead for Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.len {
            if let Some(mut z) = self.inflate.take() {
                let r = self.fill_inflated(&mut z);
                self.inflate = Some(z);
                r?;
                return Ok(&self.buf[self.pos..self.len]);
            }
            self.wait_readable()?;
            self.pos = 0;
            self.len = read_retrying(&mut self.inner, &mut self.buf)?;
        }
        Ok(&self.buf[self.pos..self.len])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }
}

/// Input the session can wait on: IDLE waits for the client's DONE while
/// looking at the mailbox now and then.
pub trait ClientInput: BufRead {
    /// True when input is ready (or the input cannot be polled: tests),
    /// false when `timeout` passed without any.
    fn poll_input(&mut self, timeout: Duration) -> io::Result<bool> {
        self.poll_input_or(timeout, None).map(|w| w == Wake::Client)
    }
    /// Waits up to `timeout` for the client's input or for `other` to be
    /// readable.
    fn poll_input_or(
        &mut self,
        timeout: Duration,
        other: Option<BorrowedFd<'_>>,
    ) -> io::Result<Wake>;
    /// Bytes read but not yet consumed (see `Input::take_buffered`).
    fn take_buffered(&mut self) -> Vec<u8>;
    /// RFC 4978: from now on the client's octets are a DEFLATE stream.
    fn start_inflate(&mut self) -> io::Result<()>;
}

/// What ended a wait for input (`ClientInput::poll_input_or`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    Client,
    Other,
    Timeout,
}

impl<R: Read> ClientInput for Input<R> {
    fn poll_input_or(
        &mut self,
        timeout: Duration,
        other: Option<BorrowedFd<'_>>,
    ) -> io::Result<Wake> {
        // Octets of the client's DEFLATE stream already read count only
        // for what they inflate to (a sync flush's empty block is none).
        if self.pos >= self.len {
            if let Some(z) = self.inflate.as_mut().filter(|z| z.pos < z.len) {
                let (made, _) = z.run(&mut self.buf)?;
                (self.pos, self.len) = (0, made);
            }
        }
        let Some(fd) = self.fd.as_ref().filter(|_| self.pos >= self.len) else {
            return Ok(Wake::Client);
        };
        // The client first: its DONE ends IDLE at once.
        wait(fd.as_fd(), other, timeout)
    }

    fn take_buffered(&mut self) -> Vec<u8> {
        Input::take_buffered(self)
    }

    fn start_inflate(&mut self) -> io::Result<()> {
        if self.inflate.is_some() {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        // What the client sent right after its COMPRESS is compressed.
        let mut raw: Box<[u8]> = vec![0; crate::limits::INPUT_BUFFER].into();
        let pending = self.len - self.pos;
        if pending > raw.len() {
            raw = vec![0; pending].into();
        }
        raw[..pending].copy_from_slice(&self.buf[self.pos..self.len]);
        (self.pos, self.len) = (0, 0);
        self.inflate = Some(Box::new(Inflater {
            z: flate2::Decompress::new(false),
            raw,
            pos: 0,
            len: pending,
        }));
        Ok(())
    }
}

/// Output the session can compress (RFC 4978).
pub trait ClientOutput: Write {
    /// From now on everything written is deflated (RFC 1951, no zlib
    /// header), and each flush is a sync flush: a response reaches the
    /// client whole as soon as it is written.
    fn start_deflate(&mut self) -> io::Result<()>;
    fn deflating(&self) -> bool;
}

/// The writer to the client: plain, or deflated after COMPRESS.
pub struct Output<W: Write> {
    inner: W,
    deflate: Option<Box<Deflater>>,
}

struct Deflater {
    z: flate2::Compress,
    buf: Box<[u8]>,
}

impl<W: Write> Output<W> {
    pub fn new(inner: W) -> Output<W> {
        Output {
            inner,
            deflate: None,
        }
    }

    /// Deflates `data` (with `flush`) into the inner writer.
    fn deflate(&mut self, mut data: &[u8], flush: flate2::FlushCompress) -> io::Result<()> {
        let Some(d) = self.deflate.as_mut() else {
            return self.inner.write_all(data);
        };
        loop {
            let (before_in, before_out) = (d.z.total_in(), d.z.total_out());
            d.z.compress(data, &mut d.buf, flush)
                .map_err(io::Error::other)?;
            let taken = (d.z.total_in() - before_in) as usize;
            let made = (d.z.total_out() - before_out) as usize;
            self.inner.write_all(&d.buf[..made])?;
            data = &data[taken..];
            // Done when all is taken and the last call had room to spare
            // (nothing of a flush is left inside).
            if data.is_empty() && made < d.buf.len() {
                return Ok(());
            }
        }
    }
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.deflate.is_none() {
            return self.inner.write(data);
        }
        self.deflate(data, flate2::FlushCompress::None)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.deflate.is_some() {
            self.deflate(&[], flate2::FlushCompress::Sync)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> ClientOutput for Output<W> {
    fn start_deflate(&mut self) -> io::Result<()> {
        if self.deflate.is_some() {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        self.inner.flush()?;
        self.deflate = Some(Box::new(Deflater {
            z: flate2::Compress::new(flate2::Compression::default(), false),
            buf: vec![0; crate::limits::STREAM_BUFFER].into(),
        }));
        Ok(())
    }

    fn deflating(&self) -> bool {
        self.deflate.is_some()
    }
}

/// The client on fds 0 and 1, as xinetd, stunnel, sshd and `--listen` give
/// it: duplicated into owned files so that nothing else writes through them.
pub fn stdio() -> io::Result<Transport> {
    let rfd = io::stdin().as_fd().try_clone_to_owned()?;
    let pollfd = rfd.try_clone()?;
    let wfd = io::stdout().as_fd().try_clone_to_owned()?;
    let input = Input::with_timeout(
        std::fs::File::from(rfd),
        pollfd,
        crate::limits::IMAP_LOGIN_TIMEOUT,
    );
    Ok((input, writer(wfd)))
}

fn writer(wfd: OwnedFd) -> Output<io::BufWriter<std::fs::File>> {
    Output::new(io::BufWriter::with_capacity(
        crate::limits::STREAM_BUFFER,
        std::fs::File::from(wfd),
    ))
}

/// Who is on the other end of fds 0/1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    /// `ip` (and `:port` when known), for the log and PAM_RHOST.
    pub address: Option<String>,
    pub ip: Option<std::net::IpAddr>,
}

impl Peer {
    /// A client on this machine: its link cannot be sniffed, so it counts
    /// as protected (DESIGN.md 6).
    pub fn is_loopback(&self) -> bool {
        self.ip.is_some_and(|ip| match ip {
            std::net::IpAddr::V4(a) => a.is_loopback(),
            std::net::IpAddr::V6(a) => {
                a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        })
    }
}

/// The client's address: getpeername(2) on fd 0 when it is an IP socket
/// (xinetd, `--listen`), else the REMOTE_HOST/REMOTE_PORT environment that
/// xinetd and stunnel set for the programs they start.
pub fn peer() -> Peer {
    if let Ok(Some(addr)) = rustix::net::getpeername(io::stdin()) {
        if let Ok(sa) = std::net::SocketAddr::try_from(addr) {
            return peer_at(sa);
        }
    }
    peer_from_env()
}

/// A client at `sa`.
pub fn peer_at(sa: std::net::SocketAddr) -> Peer {
    let ip = unmap(sa.ip());
    Peer {
        address: Some(format!("{ip}:{}", sa.port())),
        ip: Some(ip),
    }
}

impl Peer {
    /// REMOTE_HOST and REMOTE_PORT for a process this one starts, as
    /// `peer_from_env` reads them back.
    pub fn env(&self) -> (Option<String>, Option<String>) {
        match (self.ip, &self.address) {
            (Some(ip), Some(a)) => {
                let port = a.strip_prefix(&format!("{ip}:")).map(str::to_string);
                (Some(ip.to_string()), port)
            }
            (Some(ip), None) => (Some(ip.to_string()), None),
            (None, a) => (a.clone(), None),
        }
    }
}

/// What is waiting on fd 0, not taken (a socket's MSG_PEEK, without
/// waiting), into `buf`: how many octets; 0 when nothing is, or fd 0 is
/// no socket.
pub fn peek_input(buf: &mut [u8]) -> usize {
    let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
    rustix::net::recv(io::stdin(), buf, flags).map_or(0, |(n, _)| n)
}

/// Fd 0 read directly, octet for octet (std's `Stdin` buffers and would
/// take what follows): for what must be read before the session's own
/// input is set up.
pub struct RawStdin;

impl Read for RawStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match rustix::io::read(io::stdin(), &mut *buf) {
                Err(rustix::io::Errno::INTR) => continue,
                r => return r.map_err(io::Error::from),
            }
        }
    }
}

/// The client's address as xinetd and stunnel give it in the environment
/// (and the parent to the login child, after any PROXY header).
pub fn peer_from_env() -> Peer {
    let host = std::env::var("REMOTE_HOST").ok().filter(|h| !h.is_empty());
    // stunnel listening on :: passes IPv4 clients as ::ffff:a.b.c.d.
    let ip = host
        .as_deref()
        .and_then(|h| h.parse::<std::net::IpAddr>().ok())
        .map(unmap);
    let host = match (ip, host) {
        (Some(ip), Some(_)) => Some(ip.to_string()),
        (_, h) => h,
    };
    let address = host.map(|h| match std::env::var("REMOTE_PORT") {
        Ok(p) if !p.is_empty() => format!("{h}:{p}"),
        _ => h,
    });
    Peer { address, ip }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
pub fn unmap(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
        ip => ip,
    }
}

/// Input and output of a session.
pub type Transport = (Input<std::fs::File>, Output<io::BufWriter<std::fs::File>>);

/// The client on fds 0 and 1 after login: `prefix` is what the login
/// process had read but not used.
pub fn stdio_after_login(timeout: Duration, prefix: &[u8]) -> io::Result<Transport> {
    let rfd = io::stdin().as_fd().try_clone_to_owned()?;
    let wfd = io::stdout().as_fd().try_clone_to_owned()?;
    transport(rfd, wfd, timeout, prefix)
}

/// The client through the TLS relay's data socket.
pub fn socket_transport(fd: &OwnedFd, timeout: Duration, prefix: &[u8]) -> io::Result<Transport> {
    transport(fd.try_clone()?, fd.try_clone()?, timeout, prefix)
}

fn transport(
    rfd: OwnedFd,
    wfd: OwnedFd,
    timeout: Duration,
    prefix: &[u8],
) -> io::Result<Transport> {
    let pollfd = rfd.try_clone()?;
    let input = Input::with_prefix(std::fs::File::from(rfd), pollfd, timeout, prefix);
    Ok((input, writer(wfd)))
}

/// Writes `data` and flushes: the unit of a response that the client waits
/// for.
pub fn send(out: &mut dyn Write, data: &[u8]) -> io::Result<()> {
    out.write_all(data)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives its octets a few at a time, as a network does.
    struct Trickle(Vec<u8>, usize, usize);

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.2 = self.2 * 7 % 13 + 1;
            let n = self.2.min(out.len()).min(self.0.len() - self.1);
            out[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    /// RFC 4978 both ways: what the output deflates (sync-flushed after
    /// each response) the input inflates back line by line, however the
    /// octets are cut, with plain octets before COMPRESS and compressed
    /// ones already buffered with it.
    #[test]
    fn deflate_out_and_inflate_in_round_trip() {
        let mut out = Output::new(Vec::new());
        out.write_all(b"a COMPRESS DEFLATE\r\n").unwrap();
        out.flush().unwrap();
        out.start_deflate().unwrap();
        assert!(out.deflating() && out.start_deflate().is_err());
        let mut lines = Vec::new();
        for i in 0..3000 {
            let l = format!("* {i} FETCH (UID {i} FLAGS (\\Seen))\r\n");
            out.write_all(l.as_bytes()).unwrap();
            lines.push(l);
            if i % 500 == 0 {
                out.flush().unwrap();
            }
        }
        out.flush().unwrap();
        let wire = out.inner.clone();
        assert!(wire.len() < lines.concat().len() / 4, "{}", wire.len());
        let mut input = Input::new(Trickle(wire, 0, 0));
        let mut first = String::new();
        input.read_line(&mut first).unwrap();
        assert_eq!(first, "a COMPRESS DEFLATE\r\n");
        input.start_inflate().unwrap();
        for want in &lines {
            let mut l = String::new();
            input.read_line(&mut l).unwrap();
            assert_eq!(&l, want);
        }
        let mut rest = String::new();
        assert_eq!(input.read_line(&mut rest).unwrap(), 0);
        // Garbage is an error, not a hang or a panic.
        let mut bad = Input::new(&b"\xff\xff\xff\xff\xff\xff"[..]);
        bad.start_inflate().unwrap();
        assert!(bad.fill_buf().is_err());
    }

    #[test]
    fn timeout_fires_on_silent_peer() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = a.as_fd().try_clone_to_owned().unwrap();
        let mut i = Input::with_timeout(a, fd, Duration::from_millis(50));
        let e = i.fill_buf().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn loopback_peers() {
        let p = |s: &str| Peer {
            address: None,
            ip: Some(s.parse().unwrap()),
        };
        assert!(p("127.0.0.1").is_loopback());
        assert!(p("127.5.0.9").is_loopback());
        assert!(p("::1").is_loopback());
        assert!(p("::ffff:127.0.0.1").is_loopback());
        assert!(!p("192.0.2.1").is_loopback());
        assert!(!Peer::default().is_loopback());
    }

    #[test]
    fn buffered_bytes_survive_handover() {
        let mut i = Input::new(&b"a1 NOOP\r\na2 NOOP\r\n"[..]);
        let mut line = String::new();
        i.read_line(&mut line).unwrap();
        assert_eq!(line, "a1 NOOP\r\n");
        assert_eq!(i.take_buffered(), b"a2 NOOP\r\n");
        assert!(i.fill_buf().unwrap().is_empty());
    }
}

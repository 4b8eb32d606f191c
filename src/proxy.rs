//! HAProxy's PROXY protocol, versions 1 and 2 (haproxy.org,
//! `proxy-protocol.txt`): the header that a proxy in front of us (HAProxy's
//! `send-proxy`/`send-proxy-v2`, nginx's `proxy_protocol on`) sends before
//! anything else, naming the client it relays.
//!
//! It is read only from a peer in `trusted_proxies`, and then must come
//! (the specification forbids guessing); exactly its own octets are read,
//! not one of what follows (the TLS handshake under `--tls`, or the
//! client's first command), within `PROXY_HEADER_WAIT`. A header from any
//! other peer is never believed: the connection is closed with a log line.
//! It is parsed here, by the parent, before TLS and before any IMAP or POP3:
//! a bounded parse of a few fixed fields (fuzz target `proxy_header`).

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::limits::{PROXY_V1_MAX, PROXY_V2_BODY_MAX};

/// The twelve octets every version 2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// What a header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// The client the proxy relays (its source address and port).
    Client(SocketAddr),
    /// No client named (v1 `UNKNOWN`, v2 `LOCAL` or an address family
    /// other than IPv4 and IPv6, a proxy's own health check): the
    /// connection's own address stands, as the specification says.
    Local,
}

/// Reads one header from `r`, octet by octet where its length is not yet
/// known, so nothing after it is consumed.
pub fn read(r: &mut dyn Read) -> Result<Header, String> {
    let mut first = [0u8; 1];
    read_exact(r, &mut first)?;
    match first[0] {
        b'P' => {
            let mut line = vec![b'P'];
            while !line.ends_with(b"\r\n") {
                if line.len() >= PROXY_V1_MAX {
                    return Err("PROXY v1 header too long".into());
                }
                let mut b = [0u8; 1];
                read_exact(r, &mut b)?;
                line.push(b[0]);
            }
            parse_v1(&line).map_err(String::from)
        }
        b'\r' => {
            let mut head = [0u8; 16];
            head[0] = b'\r';
            read_exact(r, &mut head[1..])?;
            let len = usize::from(u16::from_be_bytes([head[14], head[15]]));
            if len > PROXY_V2_BODY_MAX {
                return Err(format!("PROXY v2 header of {len} octets"));
            }
            let mut body = vec![0u8; len];
            read_exact(r, &mut body)?;
            parse_v2(&head, &body).map_err(String::from)
        }
        _ => Err("no PROXY header from a trusted proxy".into()),
    }
}

fn read_exact(r: &mut dyn Read, buf: &mut [u8]) -> Result<(), String> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "connection closed in the PROXY header".to_string(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            "no PROXY header in time".to_string()
        }
        _ => format!("reading the PROXY header: {e}"),
    })
}

/// Whether `data`, what a peer sent first, is (the start of) a PROXY
/// header: for refusing one from a peer that is not trusted.
pub fn looks_like(data: &[u8]) -> bool {
    !data.is_empty()
        && (b"PROXY ".starts_with(&data[..data.len().min(6)])
            || V2_SIGNATURE.starts_with(&data[..data.len().min(12)]))
}

/// Whether the client's first octets, once some have come, are a PROXY
/// header: one that arrived after `serve::start` looked (a proxy's header
/// racing the server's start-up). It is never believed; the login
/// process closes the connection. Fewer octets than a signature are not
/// judged: a client's first segment holds a whole command line.
pub fn came_late<R: std::io::BufRead + ?Sized>(input: &mut R) -> std::io::Result<bool> {
    let data = input.fill_buf()?;
    Ok(data.starts_with(b"PROXY ") || data.starts_with(&V2_SIGNATURE))
}

/// After the greeting, before the first command: whether the connection
/// is to be closed, for a PROXY header that `came_late` (logged), for a
/// client that said nothing in time (`bye` sent), or for a broken one.
pub fn late_header_closes<R: std::io::BufRead + ?Sized>(
    input: &mut R,
    out: &mut dyn std::io::Write,
    bye: &[u8],
) -> bool {
    match came_late(input) {
        Ok(false) => false,
        Ok(true) => {
            log::warn!("PROXY header after the greeting: not taken, closing");
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            let _ = out.write_all(bye).and_then(|()| out.flush());
            true
        }
        Err(_) => true,
    }
}

/// A version 1 line, `\r\n` included: `PROXY TCP4|TCP6 SRC DST SPORT
/// DPORT` or `PROXY UNKNOWN` and anything up to the line end.
pub fn parse_v1(line: &[u8]) -> Result<Header, &'static str> {
    let text = line
        .strip_suffix(b"\r\n")
        .and_then(|l| std::str::from_utf8(l).ok())
        .ok_or("PROXY v1 header not a line")?;
    let mut f = text.split(' ');
    if f.next() != Some("PROXY") {
        return Err("PROXY v1 header without PROXY");
    }
    let family = f.next().ok_or("PROXY v1 header without a protocol")?;
    if family == "UNKNOWN" {
        return Ok(Header::Local);
    }
    let (src, dst, sport, dport) = match (f.next(), f.next(), f.next(), f.next(), f.next()) {
        (Some(a), Some(b), Some(c), Some(d), None) => (a, b, c, d),
        _ => return Err("PROXY v1 header with other than four fields"),
    };
    let ip = |s: &str| -> Result<IpAddr, &'static str> {
        match family {
            "TCP4" => s
                .parse::<Ipv4Addr>()
                .map(IpAddr::V4)
                .map_err(|_| "bad PROXY v1 address"),
            "TCP6" => s
                .parse::<Ipv6Addr>()
                .map(IpAddr::V6)
                .map_err(|_| "bad PROXY v1 address"),
            _ => Err("PROXY v1 protocol neither TCP4, TCP6 nor UNKNOWN"),
        }
    };
    let port = |s: &str| -> Result<u16, &'static str> {
        // Decimal, no sign, no leading zero (the specification's form).
        if s.is_empty()
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            return Err("bad PROXY v1 port");
        }
        s.parse().map_err(|_| "bad PROXY v1 port")
    };
    let source = ip(src)?;
    ip(dst)?;
    let source_port = port(sport)?;
    port(dport)?;
    Ok(Header::Client(SocketAddr::new(source, source_port)))
}

/// A version 2 header: its 16 fixed octets and the `len` octets after.
pub fn parse_v2(head: &[u8; 16], body: &[u8]) -> Result<Header, &'static str> {
    if head[..12] != V2_SIGNATURE {
        return Err("bad PROXY v2 signature");
    }
    if usize::from(u16::from_be_bytes([head[14], head[15]])) != body.len() {
        return Err("PROXY v2 length does not match");
    }
    let (version, command) = (head[12] >> 4, head[12] & 0x0f);
    if version != 2 {
        return Err("PROXY header of an unknown version");
    }
    match command {
        0 => return Ok(Header::Local),
        1 => {}
        _ => return Err("PROXY v2 command neither LOCAL nor PROXY"),
    }
    let (family, transport) = (head[13] >> 4, head[13] & 0x0f);
    // A stream (or unspecified) transport only: we serve TCP.
    if transport > 1 {
        return Err("PROXY v2 header for a datagram transport");
    }
    // Addresses first, then TLVs (ALPN, TLS details, ...), which we skip.
    match family {
        1 => {
            let a = body.get(..12).ok_or("PROXY v2 IPv4 addresses cut short")?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            let port = u16::from_be_bytes([a[8], a[9]]);
            Ok(Header::Client(SocketAddr::new(IpAddr::V4(ip), port)))
        }
        2 => {
            let a = body.get(..36).ok_or("PROXY v2 IPv6 addresses cut short")?;
            let mut o = [0u8; 16];
            o.copy_from_slice(&a[..16]);
            let port = u16::from_be_bytes([a[32], a[33]]);
            Ok(Header::Client(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(o)),
                port,
            )))
        }
        // UNSPEC or a UNIX socket: nothing to say of an IP client.
        0 | 3 => Ok(Header::Local),
        _ => Err("PROXY v2 address family unknown"),
    }
}

/// One `trusted_proxies` (or `trusted_id_proxies`) entry: an address and
/// how many leading bits of it a peer's must share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    pub addr: IpAddr,
    pub bits: u8,
}

impl Network {
    /// `ADDR` or `ADDR/BITS`, IPv4 or IPv6.
    pub fn parse(s: &str) -> Result<Network, String> {
        let (a, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?} is not an address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|&b| b <= max)
                .ok_or_else(|| format!("bad prefix length in {s:?}"))?,
        };
        Ok(Network { addr, bits })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address as
    /// the IPv4 address it is).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = crate::conn::unmap(ip);
        let (a, b, width) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(p)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(p)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(p)) => (u128::from(n), u128::from(p), 128),
            _ => return false,
        };
        let shift = width - u32::from(self.bits);
        shift >= width || (a >> shift) == (b >> shift)
    }
}

/// A list of networks as the settings write it: addresses or
/// `ADDR/BITS`, separated by commas or spaces; an error names `key`.
pub fn networks(key: &str, value: &str) -> Result<Vec<Network>, String> {
    value
        .split([',', ' '])
        .filter(|n| !n.is_empty())
        .map(|n| Network::parse(n).map_err(|e| format!("{key}: {e}")))
        .collect()
}

/// Whether `ip` (if any) is in one of `list`.
pub fn listed(list: &[Network], ip: Option<IpAddr>) -> bool {
    ip.is_some_and(|ip| list.iter().any(|n| n.contains(ip)))
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn version_1_lines() {
        let c = |s: &str| parse_v1(s.as_bytes());
        assert_eq!(
            c("PROXY TCP4 192.0.2.7 198.51.100.1 56324 143\r\n"),
            Ok(Header::Client("192.0.2.7:56324".parse().expect("addr")))
        );
        assert_eq!(
            c("PROXY TCP6 2001:db8::1 2001:db8::2 1 993\r\n"),
            Ok(Header::Client("[2001:db8::1]:1".parse().expect("addr")))
        );
        assert_eq!(c("PROXY UNKNOWN\r\n"), Ok(Header::Local));
        assert_eq!(
            c("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"),
            Ok(Header::Local)
        );
        for bad in [
            "PROXY TCP4 192.0.2.7 198.51.100.1 56324 143\n",
            "PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",
            "PROXY TCP6 192.0.2.7 198.51.100.1 1 2\r\n",
            "PROXY TCP4 192.0.2.7 198.51.100.1 65536 143\r\n",
            "PROXY TCP4 192.0.2.7 198.51.100.1 0143 143\r\n",
            "PROXY TCP4 192.0.2.7 198.51.100.1 +1 143\r\n",
            "PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n",
            "PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3\r\n",
            "PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n",
            "PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",
            "proxy TCP4 192.0.2.7 198.51.100.1 1 2\r\n",
        ] {
            assert!(c(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn version_2_headers() {
        let mut ipv4 = vec![192, 0, 2, 7, 198, 51, 100, 1];
        ipv4.extend_from_slice(&56324u16.to_be_bytes());
        ipv4.extend_from_slice(&143u16.to_be_bytes());
        let p = |h: &[u8]| {
            let mut head = [0u8; 16];
            head.copy_from_slice(&h[..16]);
            parse_v2(&head, &h[16..])
        };
        let client: SocketAddr = "192.0.2.7:56324".parse().expect("addr");
        assert_eq!(p(&v2(1, 0x11, &ipv4)), Ok(Header::Client(client)));
        // TLVs after the addresses are skipped.
        let mut with_tlv = ipv4.clone();
        with_tlv.extend_from_slice(&[0x01, 0, 4, b'i', b'm', b'a', b'p']);
        assert_eq!(p(&v2(1, 0x11, &with_tlv)), Ok(Header::Client(client)));
        let mut ipv6 = vec![0u8; 36];
        ipv6[0] = 0x20;
        ipv6[1] = 0x01;
        ipv6[15] = 1;
        ipv6[32..34].copy_from_slice(&993u16.to_be_bytes());
        assert_eq!(
            p(&v2(1, 0x21, &ipv6)),
            Ok(Header::Client("[2001::1]:993".parse().expect("addr")))
        );
        assert_eq!(p(&v2(0, 0x00, &[])), Ok(Header::Local));
        assert_eq!(p(&v2(0, 0x11, &ipv4)), Ok(Header::Local));
        assert_eq!(p(&v2(1, 0x31, &[0u8; 216])), Ok(Header::Local));
        assert!(p(&v2(1, 0x11, &ipv4[..11])).is_err());
        assert!(p(&v2(1, 0x21, &ipv4)).is_err());
        assert!(p(&v2(1, 0x12, &ipv4)).is_err(), "datagram");
        assert!(p(&v2(2, 0x11, &ipv4)).is_err(), "command 2");
        assert!(p(&v2(1, 0x41, &ipv4)).is_err(), "family 4");
        let mut v3 = v2(1, 0x11, &ipv4);
        v3[12] = 0x31;
        assert!(p(&v3).is_err(), "version 3");
        let mut sig = v2(1, 0x11, &ipv4);
        sig[11] = b'X';
        assert!(p(&sig).is_err(), "signature");
    }

    /// `read` takes a header's octets and not one more, in either version,
    /// and refuses what is not one.
    #[test]
    fn read_takes_the_header_alone() {
        let mut ipv4 = vec![10, 1, 2, 3, 10, 0, 0, 1];
        ipv4.extend_from_slice(&[0x12, 0x34, 0, 143]);
        for (header, want) in [
            (
                b"PROXY TCP4 10.1.2.3 10.0.0.1 4660 143\r\n".to_vec(),
                Header::Client("10.1.2.3:4660".parse().expect("addr")),
            ),
            (
                v2(1, 0x11, &ipv4),
                Header::Client("10.1.2.3:4660".parse().expect("addr")),
            ),
            (b"PROXY UNKNOWN\r\n".to_vec(), Header::Local),
        ] {
            let mut input = header.clone();
            input.extend_from_slice(b"\x16\x03\x01 a TLS hello");
            let mut r = &input[..];
            assert_eq!(read(&mut r), Ok(want));
            assert_eq!(r, b"\x16\x03\x01 a TLS hello");
        }
        for bad in [
            &b"a1 CAPABILITY\r\n"[..],
            b"PROXY TCP4 10.1.2.3",
            b"",
            &[b'P'; 200][..],
        ] {
            let mut r = bad;
            assert!(read(&mut r).is_err(), "{bad:?}");
        }
        let mut big = v2(1, 0x11, &ipv4);
        big[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(read(&mut &big[..]).is_err());
    }

    #[test]
    fn what_looks_like_a_header() {
        assert!(looks_like(b"PROXY TCP4 1.2.3.4"));
        assert!(looks_like(b"PRO"));
        assert!(looks_like(&V2_SIGNATURE[..5]));
        assert!(looks_like(&v2(1, 0x11, &[])));
        assert!(!looks_like(b""));
        assert!(!looks_like(b"a1 LOGIN"));
        assert!(!looks_like(b"\x16\x03\x01"));
        assert!(!looks_like(b"PROXYX"));
    }

    #[test]
    fn networks() {
        let n = |s: &str| Network::parse(s).expect(s);
        let ip = |s: &str| s.parse::<IpAddr>().expect(s);
        assert!(n("10.0.0.0/8").contains(ip("10.200.1.1")));
        assert!(!n("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(n("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!n("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(n("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        assert!(n("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!n("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(n("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!n("2001:db8::/32").contains(ip("2001:db9::1")));
        assert!(n("::/0").contains(ip("::1")));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "host",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "",
        ] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
    }
}

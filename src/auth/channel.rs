//! The socket between the unprivileged login process and its privileged
//! parent (DESIGN.md 1). The login side never holds a credential store: it
//! sends what the client said (`sasl::Request`) and gets a `Verdict` back.
//! After a successful login it sends `Handover` (who logged in, the tag to
//! answer, and the client bytes it had read but not used) and exits.
//!
//! A SOCK_SEQPACKET socketpair keeps message boundaries, so one message is
//! one `send`. Every message the parent receives is parsed here, strictly,
//! before anything else looks at it: untrusted input never reaches the
//! privileged process unparsed.
//!
//! Encoding: one type octet, then fields, each a 4-octet big-endian length
//! and that many octets.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use zeroize::Zeroizing;

use crate::auth::sasl::{Password, Request, ScramHash, Verdict};
use crate::limits::CHANNEL_MESSAGE_MAX;

/// Login process -> privileged parent.
#[derive(Debug)]
pub enum ToParent {
    Verify(Request),
    /// RFC 4505 ANONYMOUS: may this session go on anonymously?
    Anonymous {
        trace: String,
    },
    /// IMAP `ID` before login named the client behind a proxy
    /// (`x-originating-ip` and `-port`, RFC 2971 field values as sent):
    /// the parent takes them if its peer is in `trusted_id_proxies`. No
    /// answer.
    Origin {
        ip: String,
        port: String,
    },
    /// Logged in: `user` (as verified), the command tag to answer, the
    /// mechanism name for the log, and the client's unread bytes.
    Handover {
        user: String,
        tag: String,
        mechanism: String,
        buffered: Vec<u8>,
        relay: bool,
    },
}

/// Privileged parent -> login process.
#[derive(Debug, PartialEq, Eq)]
pub enum ToChild {
    /// The verdict; `close` is set when this was the last failure allowed
    /// (auth_max_failures): the login process says BYE and exits.
    Verdict { verdict: Verdict, close: bool },
}

const T_PLAINTEXT: u8 = 1;
const T_CRAM: u8 = 2;
const T_SCRAM: u8 = 3;
const T_APOP: u8 = 4;
const T_ANONYMOUS: u8 = 5;
const T_HANDOVER: u8 = 6;
const T_ORIGIN: u8 = 7;
const T_EXTERNAL: u8 = 8;
const T_TOKEN: u8 = 9;
const T_VERDICT: u8 = 10;
const T_GSS: u8 = 11;

/// The data pair: a stream socketpair carrying the session's plaintext
/// between the parent and the TLS relay.
pub fn data_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// A connected pair: (parent's end, child's end).
pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((a, b))
}

fn put(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}

fn send(fd: impl AsFd, msg: &[u8]) -> io::Result<()> {
    if msg.len() > CHANNEL_MESSAGE_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "channel message too large",
        ));
    }
    let n = rustix::net::send(fd, msg, SendFlags::NOSIGNAL)?;
    if n != msg.len() {
        return Err(io::Error::other("short send on the login channel"));
    }
    Ok(())
}

/// Receives one message; `Ok(None)` when the other side is gone.
fn recv(fd: impl AsFd) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    // One byte more than allowed: a message that fills it was truncated.
    let mut buf = Zeroizing::new(vec![0u8; CHANNEL_MESSAGE_MAX + 1]);
    let (n, _) = loop {
        match rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty()) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r?,
        }
    };
    if n == 0 {
        return Ok(None);
    }
    if n > CHANNEL_MESSAGE_MAX {
        return Err(bad("message too large"));
    }
    buf.truncate(n);
    Ok(Some(buf))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("login channel: {what}"))
}

/// Reads fields back, refusing anything out of shape.
struct Fields<'a> {
    data: &'a [u8],
}

impl<'a> Fields<'a> {
    fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let (len, rest) = self
            .data
            .split_at_checked(4)
            .ok_or_else(|| bad("truncated length"))?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (field, rest) = rest
            .split_at_checked(len)
            .ok_or_else(|| bad("truncated field"))?;
        self.data = rest;
        Ok(field)
    }

    fn string(&mut self) -> io::Result<String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| bad("field is not UTF-8"))
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        self.bytes()?
            .try_into()
            .map_err(|_| bad("field has the wrong length"))
    }

    fn end(&self) -> io::Result<()> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(bad("trailing data"))
        }
    }
}

impl ToParent {
    pub fn send(&self, fd: impl AsFd) -> io::Result<()> {
        let mut m = Zeroizing::new(Vec::new());
        match self {
            ToParent::Verify(Request::Plaintext { user, password }) => {
                m.push(T_PLAINTEXT);
                put(&mut m, user.as_bytes());
                put(&mut m, password.as_bytes());
            }
            ToParent::Verify(Request::CramMd5 {
                user,
                challenge,
                digest,
            }) => {
                m.push(T_CRAM);
                put(&mut m, user.as_bytes());
                put(&mut m, challenge.as_bytes());
                put(&mut m, digest);
            }
            ToParent::Verify(Request::Scram {
                user,
                hash,
                salt,
                iterations,
                auth_message,
                proof,
            }) => {
                m.push(T_SCRAM);
                put(&mut m, user.as_bytes());
                put(
                    &mut m,
                    &[match hash {
                        ScramHash::Sha1 => 1,
                        ScramHash::Sha256 => 2,
                    }],
                );
                put(&mut m, salt);
                put(&mut m, &iterations.to_be_bytes());
                put(&mut m, auth_message.as_bytes());
                put(&mut m, proof);
            }
            ToParent::Verify(Request::Apop {
                user,
                timestamp,
                digest,
            }) => {
                m.push(T_APOP);
                put(&mut m, user.as_bytes());
                put(&mut m, timestamp.as_bytes());
                put(&mut m, digest);
            }
            ToParent::Verify(Request::External { user, chain }) => {
                m.push(T_EXTERNAL);
                put(&mut m, user.as_bytes());
                for cert in chain {
                    put(&mut m, cert);
                }
            }
            ToParent::Verify(Request::Token { user, token }) => {
                m.push(T_TOKEN);
                put(&mut m, user.as_bytes());
                put(&mut m, token.as_bytes());
            }
            ToParent::Verify(Request::Gss { token, first }) => {
                m.push(T_GSS);
                put(&mut m, token);
                put(&mut m, &[u8::from(*first)]);
            }
            ToParent::Anonymous { trace } => {
                m.push(T_ANONYMOUS);
                put(&mut m, trace.as_bytes());
            }
            ToParent::Origin { ip, port } => {
                m.push(T_ORIGIN);
                put(&mut m, ip.as_bytes());
                put(&mut m, port.as_bytes());
            }
            ToParent::Handover {
                user,
                tag,
                mechanism,
                buffered,
                relay,
            } => {
                m.push(T_HANDOVER);
                put(&mut m, user.as_bytes());
                put(&mut m, tag.as_bytes());
                put(&mut m, mechanism.as_bytes());
                put(&mut m, buffered);
                put(&mut m, &[u8::from(*relay)]);
            }
        }
        send(fd, &m)
    }

    /// Parent side: the next message, parsed; `Ok(None)` when the login
    /// process has gone (logout, disconnect, too many failures).
    pub fn recv(fd: impl AsFd) -> io::Result<Option<ToParent>> {
        let Some(buf) = recv(fd)? else {
            return Ok(None);
        };
        let (&kind, rest) = buf.split_first().ok_or_else(|| bad("empty message"))?;
        let mut f = Fields { data: rest };
        let msg = match kind {
            T_PLAINTEXT => ToParent::Verify(Request::Plaintext {
                user: f.string()?,
                password: Password::new(f.bytes()?.to_vec()),
            }),
            T_CRAM => ToParent::Verify(Request::CramMd5 {
                user: f.string()?,
                challenge: f.string()?,
                digest: f.array()?,
            }),
            T_SCRAM => ToParent::Verify(Request::Scram {
                user: f.string()?,
                hash: match f.array::<1>()? {
                    [1] => ScramHash::Sha1,
                    [2] => ScramHash::Sha256,
                    _ => return Err(bad("unknown SCRAM hash")),
                },
                salt: f.bytes()?.to_vec(),
                iterations: u32::from_be_bytes(f.array()?),
                auth_message: f.string()?,
                proof: f.array()?,
            }),
            T_APOP => ToParent::Verify(Request::Apop {
                user: f.string()?,
                timestamp: f.string()?,
                digest: f.array()?,
            }),
            T_EXTERNAL => {
                let user = f.string()?;
                let mut chain = Vec::new();
                while !f.data.is_empty() {
                    chain.push(f.bytes()?.to_vec());
                }
                if chain.is_empty() {
                    return Err(bad("EXTERNAL without a certificate"));
                }
                ToParent::Verify(Request::External { user, chain })
            }
            T_TOKEN => ToParent::Verify(Request::Token {
                user: f.string()?,
                token: Password::new(f.bytes()?.to_vec()),
            }),
            T_GSS => ToParent::Verify(Request::Gss {
                token: f.bytes()?.to_vec(),
                first: match f.bytes()? {
                    [0] => false,
                    [1] => true,
                    _ => return Err(bad("bad GSSAPI flag")),
                },
            }),
            T_ANONYMOUS => ToParent::Anonymous { trace: f.string()? },
            T_ORIGIN => ToParent::Origin {
                ip: f.string()?,
                port: f.string()?,
            },
            T_HANDOVER => ToParent::Handover {
                user: f.string()?,
                tag: f.string()?,
                mechanism: f.string()?,
                buffered: f.bytes()?.to_vec(),
                relay: match f.bytes()? {
                    [0] => false,
                    [1] => true,
                    _ => return Err(bad("bad relay flag")),
                },
            },
            _ => return Err(bad("unknown message type")),
        };
        f.end()?;
        Ok(Some(msg))
    }
}

/// Login side: relays `request` to the privileged parent and waits for its
/// answer: (verdict, close after this failure).
pub fn ask(fd: impl AsFd + Copy, request: Request) -> io::Result<(Verdict, bool)> {
    ToParent::Verify(request).send(fd)?;
    match ToChild::recv(fd)? {
        Some(ToChild::Verdict { verdict, close }) => Ok((verdict, close)),
        None => Err(io::Error::other("privileged parent went away")),
    }
}

impl ToChild {
    pub fn send(&self, fd: impl AsFd) -> io::Result<()> {
        let ToChild::Verdict { verdict, close } = self;
        let mut m = vec![T_VERDICT, u8::from(*close)];
        match verdict {
            Verdict::Reject => m.push(0),
            Verdict::Accept => m.push(1),
            Verdict::AcceptScram { server_signature } => {
                m.push(2);
                m.extend_from_slice(server_signature);
            }
            Verdict::Gss { token, user } => {
                m.push(3);
                put(&mut m, token);
                if let Some(user) = user {
                    put(&mut m, user.as_bytes());
                }
            }
        }
        send(fd, &m)
    }

    pub fn recv(fd: impl AsFd) -> io::Result<Option<ToChild>> {
        let Some(buf) = recv(fd)? else {
            return Ok(None);
        };
        let verdict = match &buf[..] {
            [T_VERDICT, close @ (0 | 1), 0] => (Verdict::Reject, *close == 1),
            [T_VERDICT, close @ (0 | 1), 1] => (Verdict::Accept, *close == 1),
            [T_VERDICT, close @ (0 | 1), 2, sig @ ..] => {
                let server_signature: [u8; 32] =
                    sig.try_into().map_err(|_| bad("bad signature length"))?;
                (Verdict::AcceptScram { server_signature }, *close == 1)
            }
            [T_VERDICT, close @ (0 | 1), 3, rest @ ..] => {
                let mut f = Fields { data: rest };
                let token = f.bytes()?.to_vec();
                let user = if f.data.is_empty() {
                    None
                } else {
                    Some(f.string()?)
                };
                f.end()?;
                (Verdict::Gss { token, user }, *close == 1)
            }
            _ => return Err(bad("bad verdict")),
        };
        Ok(Some(ToChild::Verdict {
            verdict: verdict.0,
            close: verdict.1,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let (p, c) = pair().unwrap();
        let msgs = vec![
            ToParent::Verify(Request::Plaintext {
                user: "alice".into(),
                password: Password::new(b"s3cret".to_vec()),
            }),
            ToParent::Verify(Request::CramMd5 {
                user: "tim".into(),
                challenge: "<1.2@h>".into(),
                digest: [7; 16],
            }),
            ToParent::Verify(Request::Scram {
                user: "u".into(),
                hash: ScramHash::Sha256,
                salt: vec![1, 2, 3],
                iterations: 4096,
                auth_message: "n=u,r=x".into(),
                proof: [9; 32],
            }),
            ToParent::Verify(Request::Scram {
                user: "u1".into(),
                hash: ScramHash::Sha1,
                salt: vec![4],
                iterations: 4096,
                auth_message: "n=u1,r=y".into(),
                proof: [8; 32],
            }),
            ToParent::Verify(Request::Apop {
                user: "mrose".into(),
                timestamp: "<1@x>".into(),
                digest: [3; 16],
            }),
            ToParent::Anonymous {
                trace: "guest".into(),
            },
            ToParent::Verify(Request::Token {
                user: "alice@example.org".into(),
                token: Password::from(&b"eyJ0.eyJ1.c2ln"[..]),
            }),
            ToParent::Verify(Request::External {
                user: "alice".into(),
                chain: vec![vec![0x30, 1, 2], vec![0x30, 3]],
            }),
            ToParent::Origin {
                ip: "192.0.2.1".into(),
                port: "".into(),
            },
            ToParent::Verify(Request::Gss {
                token: vec![0x60, 0x82, 0, 1],
                first: true,
            }),
            ToParent::Verify(Request::Gss {
                token: Vec::new(),
                first: false,
            }),
            ToParent::Handover {
                user: "alice".into(),
                tag: "a1".into(),
                mechanism: "LOGIN".into(),
                buffered: b"b SELECT INBOX\r\n".to_vec(),
                relay: true,
            },
        ];
        for m in &msgs {
            m.send(&c).unwrap();
            let got = ToParent::recv(&p).unwrap().unwrap();
            assert_eq!(format!("{got:?}"), format!("{m:?}"));
        }
        for v in [
            ToChild::Verdict {
                verdict: Verdict::Reject,
                close: true,
            },
            ToChild::Verdict {
                verdict: Verdict::Accept,
                close: false,
            },
            ToChild::Verdict {
                verdict: Verdict::AcceptScram {
                    server_signature: [5; 32],
                },
                close: false,
            },
            ToChild::Verdict {
                verdict: Verdict::Gss {
                    token: vec![0x60, 1, 2],
                    user: None,
                },
                close: false,
            },
            ToChild::Verdict {
                verdict: Verdict::Gss {
                    token: Vec::new(),
                    user: Some("alice".into()),
                },
                close: false,
            },
            ToChild::Verdict {
                verdict: Verdict::Gss {
                    token: Vec::new(),
                    user: None,
                },
                close: true,
            },
        ] {
            v.send(&p).unwrap();
            assert_eq!(ToChild::recv(&c).unwrap().unwrap(), v);
        }
        drop(c);
        assert!(ToParent::recv(&p).unwrap().is_none());
    }

    #[test]
    fn malformed_messages_are_refused() {
        let (p, c) = pair().unwrap();
        for raw in [
            &b"\x01"[..],
            b"\x01\x00\x00\x00\x05ab",
            b"\x01\x00\x00\x00\x01a\x00\x00\x00\x01bEXTRA",
            b"\x02\x00\x00\x00\x01a\x00\x00\x00\x01b\x00\x00\x00\x03abc",
            b"\x63",
            b"\x01\x00\x00\x00\x02\xff\xfe\x00\x00\x00\x00",
            b"\x01\xff\xff\xff\xff",
        ] {
            send(&c, raw).unwrap();
            assert!(ToParent::recv(&p).is_err(), "{raw:?} accepted");
        }
        for raw in [
            &b"\x0a\x00"[..],
            b"\x0a\x02\x01",
            b"\x0a\x00\x02\x01",
            b"\x0b\x00\x00",
        ] {
            send(&p, raw).unwrap();
            assert!(ToChild::recv(&c).is_err(), "{raw:?} accepted");
        }
    }
}

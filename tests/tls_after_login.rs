//! Every byte after a TLS handshake goes through TLS (issue 18): when the
//! session cannot start after a good login (the mail store cannot be
//! opened), imapd and pop3d say so inside the
//! TLS stream, over implicit TLS and after STARTTLS/STLS. Before, the root
//! parent wrote its `* BYE` straight onto the client's socket, in
//! plaintext in the middle of the TLS records. Needs root.

mod deploy_common;

use deploy_common::*;

/// Not loopback: plaintext login needs TLS first.
const REMOTE: &str = "192.0.2.1";

/// How the session fails after the password was accepted (a Maildir that
/// cannot be created), with what imapd and pop3d then say. (A uid below
/// first_valid_uid is refused before the login succeeds: no case here.)
const FAILURES: &[(&str, &str, &str)] = &[(
    "mail_location=maildir:/proc/mailaccess-none/Maildir",
    "* BYE Cannot open the mail store.",
    "-ERR [SYS/",
)];

fn server(bin: &str, pam: &str, certs: &Certs, log: &Log, option: &str, implicit: bool) -> Piped {
    pam_user();
    let mut args = base_args(pam, log);
    args.extend(certs.chain_args("rsa"));
    args.extend(["-o".to_string(), option.to_string()]);
    if implicit {
        args.push("--tls".into());
    }
    Piped::start(bin, &args, REMOTE)
}

fn take_io(p: &mut Piped) -> PipeIo {
    std::mem::replace(&mut p.io, PipeIo { r: None, w: None })
}

#[test]
fn imapd_failures_after_login_stay_inside_tls() {
    let certs = Certs::new();
    for (option, bye, _) in FAILURES {
        for implicit in [true, false] {
            let log = Log::new();
            let mut p = server(IMAPD, PAM_IMAP, &certs, &log, option, implicit);
            let io = take_io(&mut p);
            let stream = if implicit {
                tls(certs.client_config(), io).expect("handshake")
            } else {
                let mut c = Client::new(io);
                assert!(c.line().starts_with("* OK"));
                let r = c.command("s", "STARTTLS");
                assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
                tls(certs.client_config(), c.into_inner()).expect("handshake")
            };
            let mut c = Client::new(stream);
            if implicit {
                assert!(c.line().starts_with("* OK"));
            }
            c.send(&format!("a LOGIN {USER} {PASSWORD}\r\n"));
            // A line that is not valid TLS would end try_line with None.
            let got = c.try_line();
            assert_eq!(
                got.as_deref().map(str::trim_end),
                Some(*bye),
                "{option}, implicit={implicit}: {}",
                log.text()
            );
            assert!(p.exited_within(WAIT).is_some(), "imapd did not exit");
            assert_eq!(p.stderr(), "");
        }
    }
}

#[test]
fn pop3d_failures_after_login_stay_inside_tls() {
    let certs = Certs::new();
    for (option, _, err) in FAILURES {
        for implicit in [true, false] {
            let log = Log::new();
            let mut p = server(POP3D, PAM_POP3, &certs, &log, option, implicit);
            let io = take_io(&mut p);
            let stream = if implicit {
                tls(certs.client_config(), io).expect("handshake")
            } else {
                let mut c = Client::new(io);
                assert!(c.line().starts_with("+OK"));
                c.send("STLS\r\n");
                assert!(c.line().starts_with("+OK"));
                tls(certs.client_config(), c.into_inner()).expect("handshake")
            };
            let mut c = Client::new(stream);
            if implicit {
                assert!(c.line().starts_with("+OK"));
            }
            c.send(&format!("USER {USER}\r\n"));
            assert!(c.line().starts_with("+OK"));
            c.send(&format!("PASS {PASSWORD}\r\n"));
            let got = c.try_line().unwrap_or_default();
            assert!(
                got.starts_with(err),
                "{option}, implicit={implicit}: {got:?}\n{}",
                log.text()
            );
            assert!(p.exited_within(WAIT).is_some(), "pop3d did not exit");
            assert_eq!(p.stderr(), "");
        }
    }
}

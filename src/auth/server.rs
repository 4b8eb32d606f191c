//! The privileged side of login (DESIGN.md 1), shared by imapd and pop3d:
//! answers the login process's requests against the credential backends
//! (`auth` = pam and/or sasldb, in order), delays every failure by the same
//! `auth_failure_delay` measured from the request's arrival (so an unknown
//! user and a wrong password take the same time), counts failures, logs
//! every attempt without its secret, and on success says who logged in.
//!
//! The login process is not trusted: the user that logs in is the one this
//! side verified, whatever the handover message claims.

use std::os::fd::OwnedFd;
use std::time::Instant;

use crate::auth::channel::{ToChild, ToParent};
use crate::auth::kerberos::{self, Answer};
use crate::auth::sasl::{Request, Verdict};
use crate::auth::sasldb;
use crate::config::Config;
use crate::conn::Peer;
use crate::log::printable;

/// A verified login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The name the user logged in with (for sasldb: `user@realm` when a
    /// realm was given).
    pub user: String,
    /// Which backend said yes.
    pub backend: Backend,
    /// Where it runs, as found when it was verified (`None`: anonymous).
    pub account: Option<Account>,
    /// The login process's answer tag and unread client bytes.
    pub tag: String,
    pub mechanism: String,
    pub buffered: Vec<u8>,
    /// The login process relays TLS: the session uses the data socket.
    pub relay: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Pam,
    Sasldb,
    /// `auth = ldap`: a bind as the user's entry (`ldap_uri`).
    Ldap,
    /// SASL EXTERNAL: a TLS client certificate (`tls_client_ca`).
    Certificate,
    /// OAUTHBEARER, XOAUTH2: a bearer token (`oauth2_jwks`).
    Token,
    /// GSSAPI: a Kerberos principal (`gssapi_keytab`).
    Kerberos,
    Anonymous,
}

/// Which mechanisms the backends can serve: CRAM-MD5, SCRAM and APOP need
/// the plaintext password, which only sasldb has.
pub fn has_plaintext_store(config: &Config) -> bool {
    config.auth.iter().any(|a| a == "sasldb")
}

/// Serves the login process on `channel` until it hands over a logged-in
/// session (`Some`) or goes away (`None`: logout, disconnect, too many
/// failures). `peer` is the client, for PAM (PAM_RHOST) and the log; a
/// peer in `trusted_id_proxies` may name another one before login
/// (`ToParent::Origin`).
pub fn serve(channel: &OwnedFd, config: &Config, peer: &Peer) -> Option<Login> {
    let mut failures = 0u32;
    let mut verified: Option<(String, Backend, Option<Account>)> = None;
    let mut rhost = peer.address.clone();
    let mut relayed = false;
    // A GSSAPI exchange under way (its context is here, not in the login
    // process).
    let mut gss: Option<kerberos::Exchange> = None;
    loop {
        let msg = match ToParent::recv(channel) {
            Ok(Some(m)) => m,
            Ok(None) => return None,
            Err(e) => {
                log::warn!("login process: {e}");
                return None;
            }
        };
        match msg {
            ToParent::Verify(Request::Gss { token, first }) => {
                let started = Instant::now();
                if first {
                    gss = None;
                }
                let answer = match &mut gss {
                    Some(x) => x.step(&token),
                    None if config.gssapi_keytab.is_empty() => {
                        Answer::Fail("GSSAPI: no gssapi_keytab".into())
                    }
                    None => match kerberos::Exchange::new(config) {
                        Ok(x) => gss.insert(x).step(&token),
                        Err(e) => Answer::Fail(e),
                    },
                };
                let verdict = match answer {
                    Answer::Challenge(token) => Verdict::Gss { token, user: None },
                    Answer::Success { user, principal } => {
                        gss = None;
                        if let Some(a) = usable(account(&user, Backend::Kerberos, config), &user) {
                            log::info!("GSSAPI: {} is {}", printable(&principal), printable(&user));
                            verified = Some((user.clone(), Backend::Kerberos, Some(a)));
                            Verdict::Gss {
                                token: Vec::new(),
                                user: Some(user),
                            }
                        } else {
                            Verdict::Reject
                        }
                    }
                    Answer::Fail(e) => {
                        gss = None;
                        log::info!("{e}");
                        Verdict::Reject
                    }
                };
                if verdict == Verdict::Reject {
                    if refuse(channel, config, started, &mut failures, "", "GSSAPI") {
                        return None;
                    }
                } else if (ToChild::Verdict {
                    verdict,
                    close: false,
                })
                .send(channel)
                .is_err()
                {
                    return None;
                }
            }
            ToParent::Verify(req) => {
                let started = Instant::now();
                let user = printable(req.user());
                let (verdict, found) = verify(&req, config, rhost.as_deref());
                if verdict == Verdict::Reject {
                    if refuse(channel, config, started, &mut failures, &user, method(&req)) {
                        return None;
                    }
                } else {
                    verified = found.map(|(b, a)| (req.user().to_string(), b, Some(a)));
                    if (ToChild::Verdict {
                        verdict,
                        close: false,
                    })
                    .send(channel)
                    .is_err()
                    {
                        return None;
                    }
                }
            }
            ToParent::Origin { ip, port } => {
                let trusted = crate::proxy::listed(&config.trusted_id_proxies, peer.ip);
                let from = peer.address.as_deref().unwrap_or("?");
                match origin(&ip, &port) {
                    Some(client) if trusted && verified.is_none() && !relayed => {
                        log::info!("client {client} through proxy {from} (ID)");
                        crate::log::set_remote(&client);
                        rhost = Some(client);
                        relayed = true;
                    }
                    _ => log::warn!(
                        "ID x-originating-ip {} ignored ({})",
                        printable(&ip),
                        if !trusted {
                            "not in trusted_id_proxies"
                        } else if verified.is_some() || relayed {
                            "too late"
                        } else {
                            "not an address"
                        }
                    ),
                }
            }
            ToParent::Anonymous { trace } => {
                let ok = config.allow_anonymous_login;
                let verdict = if ok { Verdict::Accept } else { Verdict::Reject };
                if ok {
                    verified = Some(("anonymous".into(), Backend::Anonymous, None));
                } else {
                    failures += 1;
                }
                log::info!(
                    "anonymous login {}: trace={}",
                    if ok { "accepted" } else { "refused" },
                    printable(&trace)
                );
                let close = !ok && failures >= config.auth_max_failures;
                if (ToChild::Verdict { verdict, close }).send(channel).is_err() || close {
                    return None;
                }
            }
            ToParent::Handover {
                user: claimed,
                tag,
                mechanism,
                buffered,
                relay,
            } => {
                let Some((user, backend, account)) = verified.take() else {
                    log::warn!("login process handed over without a verified login");
                    return None;
                };
                if claimed != user {
                    log::warn!(
                        "login process claimed user {} after verifying {}",
                        printable(&claimed),
                        printable(&user)
                    );
                    return None;
                }
                return Some(Login {
                    user,
                    backend,
                    account,
                    tag,
                    mechanism: printable(&mechanism),
                    buffered,
                    relay,
                });
            }
        }
    }
}

/// A failure: counted, delayed to one fixed time from the request's
/// arrival whatever its cause (DESIGN.md 6), logged, and told. Whether
/// the login process is to go (the last failure allowed, or gone).
fn refuse(
    channel: &OwnedFd,
    config: &Config,
    started: Instant,
    failures: &mut u32,
    user: &str,
    method: &str,
) -> bool {
    *failures += 1;
    if let Some(rest) = config.auth_failure_delay.checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    let close = *failures >= config.auth_max_failures;
    log::info!(
        "login failed: user={user} method={method}{}",
        if close { " (closing)" } else { "" }
    );
    let verdict = Verdict::Reject;
    (ToChild::Verdict { verdict, close }).send(channel).is_err() || close
}

/// The client an ID's `x-originating-ip` and `x-originating-port` name,
/// as the log writes a peer (`ip:port`, or `ip` without a port).
fn origin(ip: &str, port: &str) -> Option<String> {
    let ip = crate::conn::unmap(ip.parse::<std::net::IpAddr>().ok()?);
    if port.is_empty() {
        return Some(ip.to_string());
    }
    let port: u16 = port.parse().ok()?;
    crate::conn::peer_at(std::net::SocketAddr::new(ip, port)).address
}

fn method(req: &Request) -> &'static str {
    match req {
        Request::Plaintext { .. } => "plaintext",
        Request::CramMd5 { .. } => "CRAM-MD5",
        Request::Scram {
            hash: crate::auth::sasl::ScramHash::Sha1,
            ..
        } => "SCRAM-SHA-1",
        Request::Scram { .. } => "SCRAM-SHA-256",
        Request::Apop { .. } => "APOP",
        Request::External { .. } => "EXTERNAL",
        Request::Token { .. } => "bearer token",
        Request::Gss { .. } => "GSSAPI",
    }
}

/// Where a verified login runs: its system account and its mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub system: crate::privsep::User,
    pub mail: crate::config::MailLocation,
}

/// The system account a login runs as: PAM users are system users; sasldb
/// users run as `virtual_user` when it is set (the usual virtual-mailbox
/// set-up, `mail_location` then expanded per login name), else as the
/// system account named like the user's local part. Refuses root and uids
/// below `first_valid_uid`.
pub fn account(user: &str, backend: Backend, config: &Config) -> Result<Account, String> {
    let system_name = match backend {
        Backend::Ldap => return Err("an LDAP user's account comes from its entry".into()),
        Backend::Pam => user.to_string(),
        Backend::Sasldb | Backend::Certificate | Backend::Token
            if !config.virtual_user.is_empty() =>
        {
            config.virtual_user.clone()
        }
        // A principal maps to a system user (krb5.conf's auth_to_local).
        Backend::Certificate | Backend::Token | Backend::Kerberos => user.to_string(),
        Backend::Sasldb => split_realm(user, "").0.to_string(),
        Backend::Anonymous => return Err("anonymous sessions have no account".into()),
    };
    let system = crate::privsep::lookup(&system_name)
        .map_err(|e| format!("looking up {}: {e}", printable(&system_name)))?
        .ok_or_else(|| format!("no system account {}", printable(&system_name)))?;
    if system.uid == 0 || system.uid < config.first_valid_uid {
        return Err(format!(
            "{} has uid {} (first_valid_uid is {})",
            system.name, system.uid, config.first_valid_uid
        ));
    }
    // A sasldb user is one user whether it typed `bob` or `bob@realm`:
    // %u, %n and %d expand from the canonical `user@realm`.
    let canonical = match backend {
        Backend::Sasldb => {
            let (name, realm) = split_realm(user, &config.sasl_realm);
            format!("{name}@{realm}")
        }
        _ => user.to_string(),
    };
    let mail = config.mail_location_for(&canonical, &system.home)?;
    Ok(Account { system, mail })
}

/// The account of an LDAP user (`auth/ldap.rs`): uid and gid from its
/// entry, or else `virtual_user`'s; home from its entry, or else the
/// virtual user's; mail from its entry's mail location attribute, or else
/// `mail_location`, with `%u` the entry's own name for the user (LDAP
/// matches names without regard to case: `Alice` is `alice`). Refuses
/// root and uids below `first_valid_uid`.
pub fn ldap_account(
    user: &str,
    entry: &crate::auth::ldap::Entry,
    config: &Config,
) -> Result<Account, String> {
    let user = entry.name.as_deref().unwrap_or(user);
    let mut system = match (entry.uid, entry.gid) {
        (Some(uid), Some(gid)) => crate::privsep::User {
            name: user.to_string(),
            uid,
            gid,
            home: std::path::PathBuf::new(),
            groups: vec![gid],
        },
        _ if !config.virtual_user.is_empty() => crate::privsep::lookup(&config.virtual_user)
            .map_err(|e| format!("looking up {}: {e}", config.virtual_user))?
            .ok_or_else(|| format!("no system account {}", config.virtual_user))?,
        _ => {
            return Err(format!(
                "{}: no {} and {} and no virtual_user",
                entry.dn, config.ldap_uid_attribute, config.ldap_gid_attribute
            ))
        }
    };
    if let Some(home) = &entry.home {
        if !home.is_absolute() {
            return Err(format!(
                "{}: home {} is not absolute",
                entry.dn,
                home.display()
            ));
        }
        system.home = home.clone();
    }
    if system.uid == 0 || system.uid < config.first_valid_uid {
        return Err(format!(
            "{} has uid {} (first_valid_uid is {})",
            entry.dn, system.uid, config.first_valid_uid
        ));
    }
    let template = entry
        .mail_location
        .as_deref()
        .unwrap_or(&config.mail_location);
    if system.home.as_os_str().is_empty() && template.contains('~') {
        return Err(format!("{}: no home for {template}", entry.dn));
    }
    let mail = crate::config::parse_mail_location(template, user, &system.home)?;
    Ok(Account { system, mail })
}

/// Asks each backend in `auth` order; the first yes with a usable account
/// wins.
fn verify(
    req: &Request,
    config: &Config,
    rhost: Option<&str>,
) -> (Verdict, Option<(Backend, Account)>) {
    let (verdict, backend, entry) = verify_credentials(req, config, rhost);
    let Some(backend) = backend else {
        return (verdict, None);
    };
    let found = match &entry {
        Some(e) => ldap_account(req.user(), e, config),
        None => account(req.user(), backend, config),
    };
    match usable(found, req.user()) {
        Some(a) => (verdict, Some((backend, a))),
        None => (Verdict::Reject, None),
    }
}

/// The account of a verified `user`, if usable. Right credentials without
/// one are a failure like any other for the client; the reason is logged
/// for the administrator.
fn usable(found: Result<Account, String>, user: &str) -> Option<Account> {
    match found {
        Ok(a) => Some(a),
        Err(e) => {
            log::error!("login refused: user={}: {e}", printable(user));
            None
        }
    }
}

/// The verdict on a credential that names its own user (a certificate, a
/// token): yes when the mechanism is configured (`on`), the credential
/// checks out, and it names `user`.
fn confirmed(
    what: &str,
    named: Result<String, String>,
    on: bool,
    user: &str,
    backend: Backend,
) -> (Verdict, Option<Backend>) {
    match named {
        Ok(named) if on && named == user => (Verdict::Accept, Some(backend)),
        Ok(named) => {
            log::warn!("{what}: for {}, not {}", printable(&named), printable(user));
            (Verdict::Reject, None)
        }
        Err(e) => {
            log::info!("{what} refused: {e}");
            (Verdict::Reject, None)
        }
    }
}

/// The verdict, the backend that gave it, and for LDAP the user's entry.
type Verified = (Verdict, Option<Backend>, Option<crate::auth::ldap::Entry>);

fn verify_credentials(req: &Request, config: &Config, rhost: Option<&str>) -> Verified {
    if let Request::External { user, chain } = req {
        // The login process verified the chain; so do we, with the CA
        // file as we read it, and the user must be the one it names.
        let ca = std::path::Path::new(&config.tls_client_ca);
        let named = crate::tls::client_user(ca, chain, &config.tls_client_user);
        let on = !config.tls_client_ca.is_empty();
        let (verdict, backend) =
            confirmed("client certificate", named, on, user, Backend::Certificate);
        return (verdict, backend, None);
    }
    if let Request::Token { user, token } = req {
        let now = chrono::Utc::now().timestamp();
        let token = std::str::from_utf8(token.as_bytes()).unwrap_or("");
        let named = crate::auth::oauth::validate(config, token, now);
        let on = !config.oauth2_jwks.is_empty();
        let (verdict, backend) = confirmed("bearer token", named, on, user, Backend::Token);
        return (verdict, backend, None);
    }
    for backend in &config.auth {
        match backend.as_str() {
            "pam" => {
                // PAM can only check a password the client sent.
                if let Request::Plaintext { user, password } = req {
                    match crate::auth::pam::authenticate(
                        &config.pam_service,
                        user,
                        password.as_bytes(),
                        rhost,
                    ) {
                        Ok(()) => return (Verdict::Accept, Some(Backend::Pam), None),
                        Err(e) => log::debug!("pam: {}: {e:?}", printable(user)),
                    }
                }
            }
            "sasldb" => {
                let (name, realm) = split_realm(req.user(), &config.sasl_realm);
                let stored = match sasldb::Sasldb::lookup_retry(
                    &config.sasldb_path,
                    name,
                    realm,
                    sasldb::USER_PASSWORD,
                ) {
                    Ok(s) => s,
                    Err(e) => {
                        log::error!("sasldb {}: {e}", config.sasldb_path.display());
                        None
                    }
                };
                // An unknown user is checked against a dummy secret, so
                // that both cases do the same work.
                let verdict = match &stored {
                    Some(secret) => req.verify(secret.as_bytes()),
                    None => {
                        let _ = req.verify(b"\x00mailaccess-no-such-user");
                        Verdict::Reject
                    }
                };
                if verdict != Verdict::Reject {
                    return (verdict, Some(Backend::Sasldb), None);
                }
            }
            // LDAP, like PAM, checks only a password the client sent.
            "ldap" => {
                if let Request::Plaintext { user, password } = req {
                    use crate::auth::ldap::{authenticate, Failure};
                    match authenticate(config, user, password.as_bytes()) {
                        Ok(entry) => return (Verdict::Accept, Some(Backend::Ldap), Some(entry)),
                        Err(Failure::Refused(e)) => log::debug!("ldap: {}: {e}", printable(user)),
                        Err(Failure::Trouble(e)) => log::error!("ldap: {}: {e}", printable(user)),
                    }
                }
            }
            _ => {}
        }
    }
    (Verdict::Reject, None, None)
}

/// `user@realm` -> (user, realm); a bare name takes `default_realm`.
pub fn split_realm<'a>(user: &'a str, default_realm: &'a str) -> (&'a str, &'a str) {
    match user.rsplit_once('@') {
        Some((u, r)) if !u.is_empty() && !r.is_empty() => (u, r),
        _ => (user, default_realm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_origin_is_an_address() {
        assert_eq!(origin("192.0.2.8", "993").as_deref(), Some("192.0.2.8:993"));
        assert_eq!(origin("192.0.2.8", "").as_deref(), Some("192.0.2.8"));
        assert_eq!(origin("::ffff:192.0.2.8", "").as_deref(), Some("192.0.2.8"));
        assert_eq!(origin("2001:db8::1", "").as_deref(), Some("2001:db8::1"));
        for (ip, port) in [
            ("mail.example.org", ""),
            ("192.0.2.8", "70000"),
            ("192.0.2.8", "x"),
            ("192.0.2.8\r\nforged", ""),
        ] {
            assert_eq!(origin(ip, port), None, "{ip} {port}");
        }
    }

    #[test]
    fn realms() {
        assert_eq!(
            split_realm("alice@example.org", "host"),
            ("alice", "example.org")
        );
        assert_eq!(split_realm("alice", "host"), ("alice", "host"));
        assert_eq!(split_realm("@x", "host"), ("@x", "host"));
    }
}

//! The native LDAP backend (`auth = ldap`), for virtual users with no
//! system account: the privileged parent finds the user's entry (a search
//! as the service account of `ldap_bind_dn`, or `ldap_dn_template`),
//! checks the password by binding as that entry (RFC 4513 5.1.3), and
//! takes the entry's home, uid and gid and mail location from configured
//! attributes. Only the parent runs this, and it reads the service
//! account's password file only while it binds: the login process and
//! the session never hold it.
//!
//! The connection is opened here (std's connect with `ldap_timeout`, so
//! no resolver thread), then given to `ldap3`, whose runtime is a single
//! thread: the parent is still one thread when it drops privileges.
//! TLS (`ldaps://`, or `ldap_starttls`) verifies the server against
//! `ldap_ca_file`.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use ldap3::{LdapConn, LdapConnSettings, Scope, SearchEntry, StdStream};

use crate::config::Config;

/// What a user's entry says of its account; `None` where the entry has
/// no such attribute (or none is configured).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    pub home: Option<PathBuf>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mail_location: Option<String>,
    /// The user's name as the entry has it (`ldap_user_attribute`).
    pub name: Option<String>,
}

/// Why a login was refused: the user is unknown or the password wrong
/// (`Refused`), or the directory could not be asked (`Trouble`, logged
/// as an error: the administrator has to act).
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    Refused(String),
    Trouble(String),
}

/// Checks `password` for `user` against the directory; the user's entry
/// when it is right.
pub fn authenticate(config: &Config, user: &str, password: &[u8]) -> Result<Entry, Failure> {
    // An empty password would be an unauthenticated bind, which a server
    // answers with success (RFC 4513 5.1.2): never a login.
    if password.is_empty() {
        return Err(Failure::Refused("empty password".into()));
    }
    let password = std::str::from_utf8(password)
        .map_err(|_| Failure::Refused("password is not UTF-8".into()))?;
    if user.is_empty() || user.contains('\0') {
        return Err(Failure::Refused("no user name".into()));
    }
    let mut conn = connect(config).map_err(Failure::Trouble)?;
    let found = find(&mut conn, config, user, password);
    let _ = conn.unbind();
    found
}

/// The entry of `user` after a bind as it with `password`.
fn find(
    conn: &mut LdapConn,
    config: &Config,
    user: &str,
    password: &str,
) -> Result<Entry, Failure> {
    let trouble = |what: &str, e: ldap3::LdapError| Failure::Trouble(format!("{what}: {e}"));
    let dn = if config.ldap_dn_template.is_empty() {
        service_bind(conn, config)?;
        let filter = substitute(&config.ldap_user_filter, user, |v| {
            ldap3::ldap_escape(v).into_owned()
        });
        // Two entries tell that the name is not one user's: the server
        // need not send more (a filter that matches everyone).
        let ldap3::SearchResult(found, result) = conn
            .with_timeout(config.ldap_timeout)
            .with_search_options(ldap3::SearchOptions::new().sizelimit(2))
            .search(&config.ldap_base, Scope::Subtree, &filter, vec!["1.1"])
            .map_err(|e| trouble("search", e))?;
        // sizeLimitExceeded (RFC 4511 4.1.9) comes with the entries found.
        const SIZE_LIMIT_EXCEEDED: u32 = 4;
        if result.rc != 0 && result.rc != SIZE_LIMIT_EXCEEDED {
            return Err(Failure::Trouble(format!("search: {result}")));
        }
        // `search` gives entries only: the references to other servers
        // and partitions that a search from a domain's root in Active
        // Directory also answers with are left out, not followed.
        match found.len() {
            1 if result.rc == 0 => {
                SearchEntry::construct(found.into_iter().next().expect("one")).dn
            }
            0 => return Err(Failure::Refused("no such user".into())),
            _ => {
                return Err(Failure::Trouble(format!(
                    "more than one entry matches {filter} under {}",
                    config.ldap_base
                )))
            }
        }
    } else {
        substitute(&config.ldap_dn_template, user, |v| {
            ldap3::dn_escape(v).into_owned()
        })
    };
    let bound = conn
        .with_timeout(config.ldap_timeout)
        .simple_bind(&dn, password)
        .map_err(|e| trouble("bind", e))?;
    match bound.rc {
        0 => {}
        // invalidCredentials (RFC 4511 4.1.9): wrong password or no entry.
        49 => return Err(Failure::Refused("invalid credentials".into())),
        // noSuchObject: some servers say so of a DN template's DN for a
        // name that is no user.
        32 => return Err(Failure::Refused("no such entry".into())),
        _ => return Err(Failure::Trouble(format!("bind as {dn}: {bound}"))),
    }
    // The entry as the user sees it now.
    let attributes = attributes(config);
    let (found, _) = conn
        .with_timeout(config.ldap_timeout)
        .search(&dn, Scope::Base, "(objectClass=*)", attributes)
        .and_then(|r| r.success())
        .map_err(|e| trouble("reading the entry", e))?;
    let entry = found
        .into_iter()
        .next()
        .map(SearchEntry::construct)
        .ok_or_else(|| Failure::Trouble(format!("{dn}: entry not readable after bind")))?;
    Ok(entry_of(config, entry))
}

/// The attributes asked for (`1.1`, none, when none is configured).
fn attributes(config: &Config) -> Vec<&str> {
    let mut a: Vec<&str> = [
        &config.ldap_home_attribute,
        &config.ldap_uid_attribute,
        &config.ldap_gid_attribute,
        &config.ldap_mail_location_attribute,
        &config.ldap_user_attribute,
    ]
    .into_iter()
    .filter(|a| !a.is_empty())
    .map(String::as_str)
    .collect();
    if a.is_empty() {
        a.push("1.1");
    }
    a
}

fn entry_of(config: &Config, entry: SearchEntry) -> Entry {
    // Attribute names are case-insensitive; the server answers in its
    // schema's case.
    let first = |name: &str| -> Option<String> {
        if name.is_empty() {
            return None;
        }
        entry
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first().cloned())
    };
    let number = |name: &str| first(name).and_then(|v| v.trim().parse::<u32>().ok());
    Entry {
        home: first(&config.ldap_home_attribute).map(PathBuf::from),
        uid: number(&config.ldap_uid_attribute),
        gid: number(&config.ldap_gid_attribute),
        mail_location: first(&config.ldap_mail_location_attribute),
        name: first(&config.ldap_user_attribute),
        dn: entry.dn,
    }
}

/// Binds as the service account (`ldap_bind_dn`, its password read from
/// `ldap_bind_password_file` now and dropped after); no `ldap_bind_dn`:
/// the search is anonymous.
fn service_bind(conn: &mut LdapConn, config: &Config) -> Result<(), Failure> {
    if config.ldap_bind_dn.is_empty() {
        return Ok(());
    }
    let secret = bind_password(config).map_err(Failure::Trouble)?;
    let r = conn
        .with_timeout(config.ldap_timeout)
        .simple_bind(&config.ldap_bind_dn, &secret)
        .map_err(|e| Failure::Trouble(format!("service bind: {e}")))?;
    if r.rc != 0 {
        return Err(Failure::Trouble(format!(
            "service bind as {}: {r}",
            config.ldap_bind_dn
        )));
    }
    Ok(())
}

/// The service account's password: the file's first line.
fn bind_password(config: &Config) -> Result<zeroize::Zeroizing<String>, String> {
    let path = &config.ldap_bind_password_file;
    if path.is_empty() {
        return Err("ldap_bind_dn needs ldap_bind_password_file".into());
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("ldap_bind_password_file {path}: {e}"))?,
    );
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(format!("ldap_bind_password_file {path}: empty"));
    }
    Ok(zeroize::Zeroizing::new(line.to_string()))
}

/// The servers of `ldap_uri` (several, separated by spaces, are tried in
/// order: replicas).
pub fn uris(config: &Config) -> impl Iterator<Item = &str> {
    config.ldap_uri.split_whitespace()
}

/// A connection to the first server of `ldap_uri` that answers.
fn connect(config: &Config) -> Result<LdapConn, String> {
    let mut last = "ldap_uri: empty".to_string();
    for uri in uris(config) {
        match connect_to(config, uri) {
            Ok(c) => return Ok(c),
            Err(e) => {
                log::warn!("{e}");
                last = e;
            }
        }
    }
    Err(last)
}

/// A connection to `uri`, TLS on when the URI or `ldap_starttls` says.
fn connect_to(config: &Config, uri: &str) -> Result<LdapConn, String> {
    if let Some(rest) = uri.strip_prefix("ldapi://") {
        // A Unix socket (slapd on this host); no TLS, none needed.
        let path = socket_path(rest).ok_or_else(|| format!("ldap_uri {uri}: bad socket path"))?;
        let stream = std::os::unix::net::UnixStream::connect(&path)
            .map_err(|e| format!("ldap_uri {uri}: connecting to {path}: {e}"))?;
        let settings = LdapConnSettings::new()
            .set_conn_timeout(config.ldap_timeout)
            .set_std_stream(StdStream::Unix(stream));
        return LdapConn::with_settings(settings, uri).map_err(|e| format!("ldap_uri {uri}: {e}"));
    }
    let (tls, rest) = if let Some(r) = uri.strip_prefix("ldaps://") {
        (true, r)
    } else if let Some(r) = uri.strip_prefix("ldap://") {
        (config.ldap_starttls, r)
    } else {
        return Err(format!("ldap_uri {uri}: not ldap://, ldaps:// or ldapi://"));
    };
    let hostport = rest.split('/').next().unwrap_or("");
    let default_port = if uri.starts_with("ldaps://") {
        636
    } else {
        389
    };
    let addresses = address_of(hostport, default_port)
        .to_socket_addrs()
        .map_err(|e| format!("ldap_uri {uri}: {e}"))?;
    let mut last = format!("ldap_uri {uri}: no address");
    let mut stream = None;
    for a in addresses {
        match TcpStream::connect_timeout(&a, config.ldap_timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("ldap_uri {uri}: connecting to {a}: {e}"),
        }
    }
    let stream = stream.ok_or(last)?;
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(config.ldap_timeout)
        .set_std_stream(StdStream::Tcp(stream));
    if tls {
        settings = settings
            .set_config(client_config(config)?)
            .set_starttls(config.ldap_starttls && !uri.starts_with("ldaps://"));
    }
    LdapConn::with_settings(settings, uri).map_err(|e| format!("ldap_uri {uri}: {e}"))
}

/// The socket of an `ldapi://` URI's host part: percent-encoded
/// (`ldapi://%2Frun%2Fslapd%2Fldapi`), or empty for Debian's slapd's.
fn socket_path(rest: &str) -> Option<String> {
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Some("/run/slapd/ldapi".into());
    }
    let mut out = Vec::new();
    let mut bytes = host.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok().filter(|p| p.starts_with('/'))
}

/// `host`, `host:port` or `[v6]:port` as `ToSocketAddrs` takes it.
fn address_of(hostport: &str, default_port: u16) -> String {
    let has_port = match hostport.rfind(']') {
        Some(close) => hostport[close..].contains(':'),
        None => hostport.contains(':'),
    };
    match hostport {
        "" => format!("localhost:{default_port}"),
        h if has_port => h.to_string(),
        h => format!("{h}:{default_port}"),
    }
}

/// The TLS client configuration: servers verified against `ldap_ca_file`.
fn client_config(config: &Config) -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = crate::tls::roots("ldap_ca_file", std::path::Path::new(&config.ldap_ca_file))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let c = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("ldap TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(c))
}

/// `template` with `%u` (the login name), `%n` (its local part) and `%d`
/// (its domain) put in through `escape` (RFC 4515 3 for a filter, RFC
/// 4514 2.4 for a DN); `%%` is a percent sign.
pub fn substitute(template: &str, user: &str, escape: impl Fn(&str) -> String) -> String {
    let (local, domain) = user.rsplit_once('@').unwrap_or((user, ""));
    let mut out = String::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => out.push_str(&escape(user)),
            Some('n') => out.push_str(&escape(local)),
            Some('d') => out.push_str(&escape(domain)),
            Some(other) => {
                out.push('%');
                if other != '%' {
                    out.push(other);
                }
            }
            None => out.push('%'),
        }
    }
    out
}

/// `--check`: the directory reachable (with TLS as configured) and the
/// service account's bind working.
pub fn check(config: &Config, uri: &str) -> Result<String, String> {
    let mut conn = connect_to(config, uri)?;
    let what = if config.ldap_bind_dn.is_empty() {
        "anonymous".to_string()
    } else {
        service_bind(&mut conn, config).map_err(|e| match e {
            Failure::Refused(e) | Failure::Trouble(e) => e,
        })?;
        format!("bound as {}", config.ldap_bind_dn)
    };
    let _ = conn.unbind();
    let tls = if uri.starts_with("ldaps://") {
        ", TLS"
    } else if config.ldap_starttls {
        ", StartTLS"
    } else {
        ""
    };
    Ok(format!("ldap: {uri}{tls}, {what}"))
}

/// A problem when users' passwords would cross the network unencrypted:
/// `ldap://` to another host without StartTLS.
pub fn cleartext_problem(config: &Config, uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("ldap://")?;
    let hostport = rest.split('/').next().unwrap_or("");
    let host = match hostport.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => hostport.split(':').next().unwrap_or(""),
    };
    let local = host.is_empty()
        || host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!config.ldap_starttls && !local).then(|| {
        format!(
            "ldap_uri {uri}: passwords would cross the network unencrypted \
             (use ldaps:// or ldap_starttls = yes)"
        )
    })
}

/// A problem when the service password file can be read by others than
/// its owner (it should be root's alone: `chmod 600`).
pub fn password_file_problem(config: &Config) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let path = &config.ldap_bind_password_file;
    if config.ldap_bind_dn.is_empty() || path.is_empty() {
        return None;
    }
    let mode = std::fs::metadata(path).ok()?.mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "ldap_bind_password_file {path}: mode {:o}, readable by others than its owner \
             (chmod 600)",
            mode & 0o777
        )
    })
}

/// Checks what the configuration can check without a server.
pub fn validate(config: &Config) -> Result<(), String> {
    if config.ldap_uri.is_empty() {
        return Err("auth = ldap needs ldap_uri".into());
    }
    if config.ldap_dn_template.is_empty() && config.ldap_base.is_empty() {
        return Err("auth = ldap needs ldap_base (to search) or ldap_dn_template".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_escaped_for_filters_and_dns() {
        let f = |v: &str| ldap3::ldap_escape(v).into_owned();
        assert_eq!(
            substitute("(&(objectClass=inetOrgPerson)(uid=%u))", "alice", f),
            "(&(objectClass=inetOrgPerson)(uid=alice))"
        );
        // A name cannot widen the filter (RFC 4515 3).
        assert_eq!(
            substitute("(uid=%u)", "*)(uid=*", f),
            "(uid=\\2a\\29\\28uid=\\2a)"
        );
        assert_eq!(
            substitute("(&(uid=%n)(dc=%d))", "bob@example.org", f),
            "(&(uid=bob)(dc=example.org))"
        );
        let d = |v: &str| ldap3::dn_escape(v).into_owned();
        // Nor leave its RDN (RFC 4514 2.4).
        assert_eq!(
            substitute("uid=%u,ou=people,dc=example", "x,ou=admins", d),
            "uid=x\\2cou\\3dadmins,ou=people,dc=example"
        );
        assert_eq!(substitute("100%% %x %", "u", d), "100% %x %");
    }

    #[test]
    fn plain_ldap_to_another_host_is_a_problem() {
        let mut c = Config::defaults(crate::config::Service::Imap);
        for (uri, starttls, problem) in [
            ("ldap://ldap.example.org/", false, true),
            ("ldap://ldap.example.org/", true, false),
            ("ldaps://ldap.example.org/", false, false),
            ("ldap://127.0.0.1:389/", false, false),
            ("ldap://[::1]:389/", false, false),
            ("ldap://localhost/", false, false),
            ("ldap://192.0.2.1/", false, true),
        ] {
            c.ldap_starttls = starttls;
            assert_eq!(
                cleartext_problem(&c, uri).is_some(),
                problem,
                "{uri} {starttls}"
            );
        }
    }

    #[test]
    fn ldapi_names_a_socket() {
        assert_eq!(
            socket_path("%2Frun%2Fslapd%2Fldapi").as_deref(),
            Some("/run/slapd/ldapi")
        );
        assert_eq!(socket_path("/").as_deref(), Some("/run/slapd/ldapi"));
        assert_eq!(socket_path("%2ftmp%2fx/").as_deref(), Some("/tmp/x"));
        assert_eq!(socket_path("relative"), None);
        assert_eq!(socket_path("%2"), None);
        assert_eq!(socket_path("%zz"), None);
    }

    #[test]
    fn addresses_take_the_default_port() {
        assert_eq!(address_of("ldap.example.org", 389), "ldap.example.org:389");
        assert_eq!(address_of("127.0.0.1:3389", 389), "127.0.0.1:3389");
        assert_eq!(address_of("[::1]:636", 389), "[::1]:636");
        assert_eq!(address_of("[::1]", 636), "[::1]:636");
        assert_eq!(address_of("", 389), "localhost:389");
    }

    #[test]
    fn an_empty_password_is_never_a_bind() {
        let mut c = Config::defaults(crate::config::Service::Imap);
        c.ldap_uri = "ldap://127.0.0.1:1/".into();
        // Refused before any connection is tried.
        assert_eq!(
            authenticate(&c, "alice", b""),
            Err(Failure::Refused("empty password".into()))
        );
        assert!(matches!(
            authenticate(&c, "alice", b"pw"),
            Err(Failure::Trouble(_))
        ));
    }

    #[test]
    fn the_configuration_names_a_server_and_a_way_to_the_entry() {
        let mut c = Config::defaults(crate::config::Service::Imap);
        assert!(validate(&c).is_err());
        c.ldap_uri = "ldap://ldap.example.org".into();
        c.ldap_base = String::new();
        assert!(validate(&c).is_err());
        c.ldap_dn_template = "uid=%u,dc=example".into();
        assert!(validate(&c).is_ok());
    }
}

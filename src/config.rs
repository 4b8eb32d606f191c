//! Configuration: `/etc/mailaccess.conf` (`key = value` lines, `#`
//! comments), then `-o key=value` overrides, then validation. Every key of
//! DESIGN.md section 7 is here with its default; `--check` prints them all.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_CONFIG: &str = "/etc/mailaccess.conf";

/// Which of the two servers is reading the configuration: a few defaults
/// (the PAM service name) differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Imap,
    Pop3,
}

/// Where a user's mail is, after `%u`/`~` expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailLocation {
    Maildir(PathBuf),
    Mbox { root: PathBuf, inbox: PathBuf },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MboxLock {
    Dotlock,
    Fcntl,
    Flock,
    Lockf,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub mail_location: String,
    pub auth: Vec<String>,
    pub pam_service: String,
    pub sasldb_path: PathBuf,
    pub sasl_realm: String,
    pub virtual_user: String,
    pub login_user: String,
    pub login_chroot: PathBuf,
    pub first_valid_uid: u32,
    pub mail_privileged_group: String,
    pub allow_plaintext_auth: bool,
    pub allow_anonymous_login: bool,
    pub tls_cert: String,
    pub tls_key: String,
    /// PEM file of the CAs whose client certificates are taken for SASL
    /// EXTERNAL (RFC 4422 A); empty: no client certificate is asked for.
    pub tls_client_ca: String,
    /// Which part of a verified client certificate names the user: the
    /// subject's CN (`cn`) or the first e-mail address of its
    /// subjectAltName (`email`).
    pub tls_client_user: ClientUser,
    /// OAUTHBEARER and XOAUTH2: the JWKS file (RFC 7517) of the keys that
    /// sign tokens; empty: no bearer tokens are taken.
    pub oauth2_jwks: String,
    /// The `iss` a token must name (empty: any).
    pub oauth2_issuer: String,
    /// The `aud` a token must include (empty: any).
    pub oauth2_audience: String,
    /// The claim that names the user.
    pub oauth2_user_claim: String,
    /// SASL GSSAPI (RFC 4752): the keytab with the service's key, read by
    /// the privileged parent only; empty: GSSAPI is not offered.
    pub gssapi_keytab: String,
    /// The service of the principal `SERVICE/HOST` (RFC 4752 3: `imap`;
    /// RFC 5034 4: `pop`).
    pub gssapi_service: String,
    /// The host of that principal (default: this host's name); `*`: any
    /// key in the keytab.
    pub gssapi_hostname: String,
    /// `auth = ldap` (`auth/ldap.rs`): the directory servers,
    /// `ldap://HOST[:PORT]`, `ldaps://HOST[:PORT]` or `ldapi://SOCKET`,
    /// tried in order.
    pub ldap_uri: String,
    /// StartTLS (RFC 4513 3) on an `ldap://` URI.
    pub ldap_starttls: bool,
    /// The CAs (PEM) a TLS server certificate is verified against.
    pub ldap_ca_file: String,
    /// The service account that searches for users (empty: anonymous).
    pub ldap_bind_dn: String,
    /// Its password (the file's first line), read by the parent only.
    pub ldap_bind_password_file: String,
    /// Where users are searched for, and the filter (`%u`, `%n`, `%d`).
    pub ldap_base: String,
    pub ldap_user_filter: String,
    /// A user's DN made from the login name (`%u`...): no search.
    pub ldap_dn_template: String,
    /// The attributes of a user's home, uid, gid and mail location
    /// (empty: not taken from the directory).
    pub ldap_home_attribute: String,
    pub ldap_uid_attribute: String,
    pub ldap_gid_attribute: String,
    pub ldap_mail_location_attribute: String,
    /// The attribute whose value is the user's own name (`%u` of the
    /// mail location): `Alice` and `alice` find one entry, and one mail
    /// directory. Empty or absent: the name as typed.
    pub ldap_user_attribute: String,
    /// The bound on connecting and on each LDAP operation.
    pub ldap_timeout: Duration,
    pub syslog_facility: String,
    pub log_path: String,
    pub log_debug: bool,
    pub auth_failure_delay: Duration,
    pub auth_max_failures: u32,
    pub mbox_locks: Vec<MboxLock>,
    pub pop3_uidl_format: UidlFormat,
    /// Seal sessions and the login child (`sandbox.rs`); `no` only for
    /// debugging.
    pub sandbox: bool,
    /// RFC 6154 special-use folders made at a user's first IMAP login
    /// (`store::special_use::make_first`): each use and the folder's name.
    pub special_folders: Vec<(&'static str, String)>,
    /// RFC 4467 URLAUTH: the host that GENURLAUTH and URLFETCH URLs must
    /// name (`host` or `host:port`, compared without regard to case);
    /// `*` takes any (the token is what authorizes).
    pub urlauth_host: String,
    /// Peers whose connections start with a PROXY protocol header naming
    /// the client they relay (`proxy.rs`): HAProxy, nginx's mail proxy.
    /// Empty (the default): no header is taken from anyone.
    pub trusted_proxies: Vec<crate::proxy::Network>,
    /// Peers (CIDR) whose IMAP `ID` before login may name the client they
    /// relay (`x-originating-ip`, `x-originating-port`, as Dovecot takes
    /// them): proxies that pass the address that way instead of a PROXY
    /// header. Empty (the default): such fields are ignored.
    pub trusted_id_proxies: Vec<crate::proxy::Network>,
}

/// `tls_client_user`: where a client certificate names its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientUser {
    CommonName,
    Email,
    /// `map:PATH`: a file of `SHA256-FINGERPRINT USER` lines.
    Map(PathBuf),
}

/// `pop3_uidl_format`: a message's POP3 unique-id (RFC 1939 7 UIDL) made
/// from its UID (`%u`) and its mailbox's UIDVALIDITY (`%v`), written as
/// Dovecot writes the setting: `%08Xu` is the UID in 8 hexadecimal digits,
/// zero-padded (in lower case, as Dovecot prints it), `%010u` zero-padded
/// decimal, `%%` a percent sign. Users moving from another server keep
/// their UIDLs (and fetchmail and Outlook do not download everything
/// again) with its format: Dovecot `%08Xu%08Xv` (the default), UW-IMAP's
/// ipop3d `%08Xv%08Xu` (its source prints `%08lx%08lx` of UIDVALIDITY and
/// UID), Dovecot 0.99 and Cyrus 2.1.4+ `%v.%u`, older Cyrus `%u`.
/// Courier's pop3d numbers messages on its own; its UIDLs are imported
/// with the mailbox (`store::courier`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UidlFormat {
    text: String,
    pieces: Vec<UidlPiece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum UidlPiece {
    Text(String),
    /// `u` or `v`, with its width, zero padding and hexadecimal.
    Var {
        var: char,
        width: usize,
        zero: bool,
        hex: bool,
    },
}

/// Dovecot's default, so that users moving from Dovecot keep their UIDLs.
impl Default for UidlFormat {
    fn default() -> UidlFormat {
        UidlFormat::parse("%08Xu%08Xv").expect("the default parses")
    }
}

impl UidlFormat {
    pub fn parse(text: &str) -> Result<UidlFormat, String> {
        let bad = |why: &str| Err(format!("pop3_uidl_format {text:?}: {why}"));
        let mut pieces = Vec::new();
        let mut it = text.chars().peekable();
        let mut lit = String::new();
        while let Some(c) = it.next() {
            if c != '%' {
                // RFC 1939 7: a unique-id is printable ASCII, no space.
                if !('\x21'..='\x7e').contains(&c) {
                    return bad("only printable ASCII without spaces may appear");
                }
                lit.push(c);
                continue;
            }
            if it.peek() == Some(&'%') {
                it.next();
                lit.push('%');
                continue;
            }
            if !lit.is_empty() {
                pieces.push(UidlPiece::Text(std::mem::take(&mut lit)));
            }
            let zero = it.peek() == Some(&'0');
            let mut width = 0usize;
            while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
                it.next();
                width = width * 10 + d as usize;
                if width > 20 {
                    return bad("a width above 20");
                }
            }
            if width > 0 && !zero {
                // Space padding would put spaces into the unique-id.
                return bad("a width must start with 0 (%08u)");
            }
            let hex = it.peek() == Some(&'X');
            if hex {
                it.next();
            }
            match it.next() {
                Some(var @ ('u' | 'v')) => pieces.push(UidlPiece::Var {
                    var,
                    width,
                    zero,
                    hex,
                }),
                _ => return bad("only %u (UID), %v (UIDVALIDITY) and %% are known"),
            }
        }
        if !lit.is_empty() {
            pieces.push(UidlPiece::Text(lit));
        }
        if !pieces
            .iter()
            .any(|p| matches!(p, UidlPiece::Var { var: 'u', .. }))
        {
            return bad("without %u, messages would share one UIDL");
        }
        let f = UidlFormat {
            text: text.to_string(),
            pieces,
        };
        // RFC 1939 7: at most 70 characters.
        if f.render(u32::MAX, u32::MAX).len() > 70 {
            return bad("longer than the 70 characters RFC 1939 allows");
        }
        Ok(f)
    }

    /// The unique-id of the message `uid` in a mailbox of `uid_validity`.
    pub fn render(&self, uid_validity: u32, uid: u32) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                UidlPiece::Text(t) => out.push_str(t),
                UidlPiece::Var {
                    var,
                    width,
                    zero,
                    hex,
                } => {
                    let n = if *var == 'u' { uid } else { uid_validity };
                    let v = if *hex {
                        format!("{n:x}")
                    } else {
                        n.to_string()
                    };
                    let pad = if *zero { '0' } else { ' ' };
                    out.extend(std::iter::repeat_n(pad, width.saturating_sub(v.len())));
                    out.push_str(&v);
                }
            }
        }
        out
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `special_folders`' default: the names most clients look for first.
pub const DEFAULT_SPECIAL_FOLDERS: &str =
    "sent=Sent, drafts=Drafts, trash=Trash, junk=Junk, archive=Archive";

/// `special_folders = use=Name, ...` (uses `sent drafts trash junk
/// archive`, each once; a name as the client sees it, UTF-8 allowed);
/// empty: none are made.
fn parse_special_folders(value: &str) -> Result<Vec<(&'static str, String)>, String> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (u, name) = item
            .split_once('=')
            .ok_or_else(|| format!("special_folders: expected use=Name, not {item:?}"))?;
        let usage = crate::store::special_use::canonical(&format!("\\{}", u.trim()))
            .ok_or_else(|| format!("special_folders: unknown use {:?}", u.trim()))?;
        let name = name.trim();
        let wire = crate::store::names::encode_utf7(name);
        if name.is_empty()
            || crate::store::names::is_inbox(name)
            || crate::store::names::validate(&wire).is_err()
        {
            return Err(format!("special_folders: not a folder name: {name:?}"));
        }
        if out.iter().any(|(x, _)| *x == usage) {
            return Err(format!("special_folders: {} given twice", u.trim()));
        }
        out.push((usage, wire));
    }
    Ok(out)
}

impl Config {
    pub fn defaults(service: Service) -> Config {
        Config {
            mail_location: "maildir:~/Maildir".into(),
            auth: vec!["pam".into()],
            pam_service: match service {
                Service::Imap => "imap".into(),
                Service::Pop3 => "pop3".into(),
            },
            sasldb_path: "/etc/sasldb2".into(),
            sasl_realm: host_name(),
            virtual_user: String::new(),
            login_user: "mailaccess".into(),
            login_chroot: "/var/empty".into(),
            first_valid_uid: 1000,
            mail_privileged_group: "mail".into(),
            allow_plaintext_auth: false,
            allow_anonymous_login: false,
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_ca: String::new(),
            tls_client_user: ClientUser::CommonName,
            oauth2_jwks: String::new(),
            oauth2_issuer: String::new(),
            oauth2_audience: String::new(),
            oauth2_user_claim: "email".into(),
            gssapi_keytab: String::new(),
            gssapi_service: match service {
                Service::Imap => "imap".into(),
                Service::Pop3 => "pop".into(),
            },
            gssapi_hostname: host_name(),
            ldap_uri: String::new(),
            ldap_starttls: false,
            ldap_ca_file: "/etc/ssl/certs/ca-certificates.crt".into(),
            ldap_bind_dn: String::new(),
            ldap_bind_password_file: String::new(),
            ldap_base: String::new(),
            ldap_user_filter: "(uid=%u)".into(),
            ldap_dn_template: String::new(),
            ldap_home_attribute: "homeDirectory".into(),
            ldap_uid_attribute: "uidNumber".into(),
            ldap_gid_attribute: "gidNumber".into(),
            ldap_mail_location_attribute: String::new(),
            ldap_user_attribute: "uid".into(),
            ldap_timeout: Duration::from_secs(5),
            syslog_facility: "mail".into(),
            log_path: "syslog".into(),
            log_debug: false,
            pop3_uidl_format: UidlFormat::default(),
            auth_failure_delay: Duration::from_secs(2),
            auth_max_failures: 3,
            mbox_locks: vec![MboxLock::Dotlock, MboxLock::Fcntl],
            sandbox: true,
            special_folders: parse_special_folders(DEFAULT_SPECIAL_FOLDERS).unwrap_or_default(),
            urlauth_host: "*".into(),
            trusted_proxies: Vec::new(),
            trusted_id_proxies: Vec::new(),
        }
    }

    /// Reads the configuration: `file` (an error if given and missing; the
    /// default file may be absent), then the `-o` overrides.
    pub fn load(
        service: Service,
        file: Option<&Path>,
        overrides: &[String],
    ) -> Result<Config, String> {
        let mut config = Config::defaults(service);
        let (path, required) = match file {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => config.read_text(&text, &path.display().to_string())?,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| format!("-o {o}: expected key=value"))?;
            config
                .set(k.trim(), v.trim())
                .map_err(|e| format!("-o {o}: {e}"))?;
        }
        if config.auth.iter().any(|a| a == "ldap") {
            crate::auth::ldap::validate(&config)?;
        }
        Ok(config)
    }

    /// Applies the `key = value` lines of a configuration file's `text`
    /// (`#` comments and blank lines skipped); errors name `origin` and the
    /// line.
    pub fn read_text(&mut self, text: &str, origin: &str) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("{origin}:{}: expected key = value", n + 1))?;
            self.set(k.trim(), v.trim())
                .map_err(|e| format!("{origin}:{}: {e}", n + 1))?;
        }
        Ok(())
    }

    /// Sets one key; unknown keys and bad values are errors, so a typo in
    /// the configuration is found at once and not silently ignored.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "mail_location" => {
                parse_mail_location(value, "user", Path::new("/home/user"))?;
                self.mail_location = value.into();
            }
            "auth" => {
                let list: Vec<String> = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if list.is_empty()
                    || list
                        .iter()
                        .any(|a| !["pam", "sasldb", "ldap"].contains(&a.as_str()))
                {
                    return Err(format!(
                        "auth: expected pam, sasldb and/or ldap, not {value:?}"
                    ));
                }
                self.auth = list;
            }
            "pam_service" => self.pam_service = value.into(),
            "sasldb_path" => self.sasldb_path = value.into(),
            "sasl_realm" => self.sasl_realm = value.into(),
            "virtual_user" => self.virtual_user = value.into(),
            "login_user" => self.login_user = value.into(),
            "login_chroot" => self.login_chroot = value.into(),
            "first_valid_uid" => {
                self.first_valid_uid = value
                    .parse()
                    .map_err(|_| format!("first_valid_uid: not a number: {value:?}"))?
            }
            "mail_privileged_group" => self.mail_privileged_group = value.into(),
            "allow_plaintext_auth" => self.allow_plaintext_auth = parse_bool(key, value)?,
            "allow_anonymous_login" => self.allow_anonymous_login = parse_bool(key, value)?,
            "sandbox" => self.sandbox = parse_bool(key, value)?,
            "special_folders" => self.special_folders = parse_special_folders(value)?,
            "urlauth_host" => {
                if value.is_empty() || value.contains(['/', '@', ';', ' ']) {
                    return Err(format!(
                        "urlauth_host: expected host[:port] or *, not {value:?}"
                    ));
                }
                self.urlauth_host = value.into()
            }
            "trusted_proxies" => self.trusted_proxies = crate::proxy::networks(key, value)?,
            "trusted_id_proxies" => self.trusted_id_proxies = crate::proxy::networks(key, value)?,
            "tls_cert" => self.tls_cert = value.into(),
            "tls_key" => self.tls_key = value.into(),
            "tls_client_ca" => self.tls_client_ca = value.into(),
            "oauth2_jwks" => self.oauth2_jwks = value.into(),
            "oauth2_issuer" => self.oauth2_issuer = value.into(),
            "oauth2_audience" => self.oauth2_audience = value.into(),
            "oauth2_user_claim" if value.is_empty() => {
                return Err("oauth2_user_claim: a claim name is needed".into())
            }
            "oauth2_user_claim" => self.oauth2_user_claim = value.into(),
            "gssapi_keytab" => self.gssapi_keytab = value.into(),
            "gssapi_service" | "gssapi_hostname"
                if value.is_empty() || value.contains(['/', '@', ' ']) =>
            {
                return Err(format!("{key}: not a principal's part: {value:?}"))
            }
            "gssapi_service" => self.gssapi_service = value.into(),
            "gssapi_hostname" => self.gssapi_hostname = value.into(),
            "ldap_uri"
                if value
                    .split_whitespace()
                    .any(|u| !["ldap://", "ldaps://", "ldapi://"].iter().any(|s| u.starts_with(s))) =>
            {
                return Err(format!(
                    "ldap_uri: expected ldap://HOST, ldaps://HOST or ldapi:// (or several), not {value:?}"
                ))
            }
            "ldap_uri" => self.ldap_uri = value.into(),
            "ldap_starttls" => self.ldap_starttls = parse_bool(key, value)?,
            "ldap_ca_file" => self.ldap_ca_file = value.into(),
            "ldap_bind_dn" => self.ldap_bind_dn = value.into(),
            "ldap_bind_password_file" => self.ldap_bind_password_file = value.into(),
            "ldap_base" => self.ldap_base = value.into(),
            "ldap_user_filter" if !(value.starts_with('(') && value.ends_with(')')) => {
                return Err(format!(
                    "ldap_user_filter: expected (FILTER), not {value:?}"
                ))
            }
            "ldap_user_filter" => self.ldap_user_filter = value.into(),
            "ldap_dn_template" => self.ldap_dn_template = value.into(),
            "ldap_home_attribute" => self.ldap_home_attribute = value.into(),
            "ldap_uid_attribute" => self.ldap_uid_attribute = value.into(),
            "ldap_gid_attribute" => self.ldap_gid_attribute = value.into(),
            "ldap_mail_location_attribute" => self.ldap_mail_location_attribute = value.into(),
            "ldap_user_attribute" => self.ldap_user_attribute = value.into(),
            "ldap_timeout" => self.ldap_timeout = parse_duration(key, value)?,
            "tls_client_user" => {
                self.tls_client_user = match value {
                    "cn" => ClientUser::CommonName,
                    "email" => ClientUser::Email,
                    _ if value.starts_with("map:/") => ClientUser::Map(value[4..].into()),
                    _ => {
                        return Err(format!(
                            "tls_client_user: cn, email or map:/PATH, not {value:?}"
                        ))
                    }
                }
            }
            "syslog_facility" => {
                if value.parse::<syslog::Facility>().is_err() {
                    return Err(format!("syslog_facility: unknown facility {value:?}"));
                }
                self.syslog_facility = value.into()
            }
            "log_path" => self.log_path = value.into(),
            "log_debug" => self.log_debug = parse_bool(key, value)?,
            "pop3_uidl_format" => self.pop3_uidl_format = UidlFormat::parse(value)?,
            "auth_failure_delay" => self.auth_failure_delay = parse_duration(key, value)?,
            "auth_max_failures" => {
                self.auth_max_failures = value
                    .parse()
                    .map_err(|_| format!("auth_max_failures: not a number: {value:?}"))?
            }
            "mbox_locks" => {
                let mut locks = Vec::new();
                for w in value.split_whitespace() {
                    locks.push(match w {
                        "dotlock" => MboxLock::Dotlock,
                        "fcntl" => MboxLock::Fcntl,
                        "flock" => MboxLock::Flock,
                        "lockf" => MboxLock::Lockf,
                        _ => return Err(format!("mbox_locks: unknown lock {w:?}")),
                    });
                }
                self.mbox_locks = locks;
            }
            _ => return Err(format!("unknown key {key:?}")),
        }
        Ok(())
    }

    /// The user's mail location with `~`, `%u`, `%n`, `%d` expanded.
    pub fn mail_location_for(&self, user: &str, home: &Path) -> Result<MailLocation, String> {
        parse_mail_location(&self.mail_location, user, home)
    }

    /// The effective configuration, one `key = value` line per key, as
    /// `--check` prints it.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        let locks: Vec<&str> = self
            .mbox_locks
            .iter()
            .map(|l| match l {
                MboxLock::Dotlock => "dotlock",
                MboxLock::Fcntl => "fcntl",
                MboxLock::Flock => "flock",
                MboxLock::Lockf => "lockf",
            })
            .collect();
        let yn = |b: bool| if b { "yes" } else { "no" };
        let _ = writeln!(s, "mail_location = {}", self.mail_location);
        let _ = writeln!(s, "auth = {}", self.auth.join(","));
        let _ = writeln!(s, "pam_service = {}", self.pam_service);
        let _ = writeln!(s, "sasldb_path = {}", self.sasldb_path.display());
        let _ = writeln!(s, "sasl_realm = {}", self.sasl_realm);
        let _ = writeln!(s, "virtual_user = {}", self.virtual_user);
        let _ = writeln!(s, "login_user = {}", self.login_user);
        let _ = writeln!(s, "login_chroot = {}", self.login_chroot.display());
        let _ = writeln!(s, "first_valid_uid = {}", self.first_valid_uid);
        let _ = writeln!(s, "mail_privileged_group = {}", self.mail_privileged_group);
        let _ = writeln!(
            s,
            "allow_plaintext_auth = {}",
            yn(self.allow_plaintext_auth)
        );
        let _ = writeln!(
            s,
            "allow_anonymous_login = {}",
            yn(self.allow_anonymous_login)
        );
        let _ = writeln!(s, "tls_cert = {}", self.tls_cert);
        let _ = writeln!(s, "tls_key = {}", self.tls_key);
        let _ = writeln!(s, "tls_client_ca = {}", self.tls_client_ca);
        let _ = writeln!(s, "oauth2_jwks = {}", self.oauth2_jwks);
        let _ = writeln!(s, "oauth2_issuer = {}", self.oauth2_issuer);
        let _ = writeln!(s, "oauth2_audience = {}", self.oauth2_audience);
        let _ = writeln!(s, "oauth2_user_claim = {}", self.oauth2_user_claim);
        let _ = writeln!(s, "gssapi_keytab = {}", self.gssapi_keytab);
        let _ = writeln!(s, "gssapi_service = {}", self.gssapi_service);
        let _ = writeln!(s, "gssapi_hostname = {}", self.gssapi_hostname);
        for (k, v) in [
            ("ldap_uri", &self.ldap_uri),
            ("ldap_ca_file", &self.ldap_ca_file),
            ("ldap_bind_dn", &self.ldap_bind_dn),
            ("ldap_bind_password_file", &self.ldap_bind_password_file),
            ("ldap_base", &self.ldap_base),
            ("ldap_user_filter", &self.ldap_user_filter),
            ("ldap_dn_template", &self.ldap_dn_template),
            ("ldap_home_attribute", &self.ldap_home_attribute),
            ("ldap_uid_attribute", &self.ldap_uid_attribute),
            ("ldap_gid_attribute", &self.ldap_gid_attribute),
            (
                "ldap_mail_location_attribute",
                &self.ldap_mail_location_attribute,
            ),
            ("ldap_user_attribute", &self.ldap_user_attribute),
        ] {
            let _ = writeln!(s, "{k} = {v}");
        }
        let _ = writeln!(s, "ldap_starttls = {}", yn(self.ldap_starttls));
        let _ = writeln!(s, "ldap_timeout = {}ms", self.ldap_timeout.as_millis());
        let _ = writeln!(
            s,
            "tls_client_user = {}",
            match &self.tls_client_user {
                ClientUser::CommonName => "cn".to_string(),
                ClientUser::Email => "email".to_string(),
                ClientUser::Map(p) => format!("map:{}", p.display()),
            }
        );
        let _ = writeln!(s, "syslog_facility = {}", self.syslog_facility);
        let _ = writeln!(s, "log_path = {}", self.log_path);
        let _ = writeln!(s, "log_debug = {}", yn(self.log_debug));
        let _ = writeln!(
            s,
            "auth_failure_delay = {}ms",
            self.auth_failure_delay.as_millis()
        );
        let _ = writeln!(s, "auth_max_failures = {}", self.auth_max_failures);
        let _ = writeln!(s, "mbox_locks = {}", locks.join(" "));
        let _ = writeln!(s, "pop3_uidl_format = {}", self.pop3_uidl_format.as_str());
        let folders: Vec<String> = self
            .special_folders
            .iter()
            .map(|(u, n)| {
                let name = crate::store::names::decode_utf7(n).unwrap_or_else(|_| n.clone());
                format!("{}={name}", u.trim_start_matches('\\').to_ascii_lowercase())
            })
            .collect();
        let _ = writeln!(s, "special_folders = {}", folders.join(", "));
        let _ = writeln!(s, "urlauth_host = {}", self.urlauth_host);
        for (key, list) in [
            ("trusted_proxies", &self.trusted_proxies),
            ("trusted_id_proxies", &self.trusted_id_proxies),
        ] {
            let shown: Vec<String> = list.iter().map(|n| n.to_string()).collect();
            let _ = writeln!(s, "{key} = {}", shown.join(" "));
        }
        let _ = writeln!(s, "sandbox = {}", yn(self.sandbox));
        s
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!("{key}: expected yes or no, not {v:?}")),
    }
}

/// `2s`, `500ms`, `1m` or a bare number of seconds.
fn parse_duration(key: &str, v: &str) -> Result<Duration, String> {
    let bad = || format!("{key}: expected a duration like 2s or 500ms, not {v:?}");
    let (num, mult_ms) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000)
    } else {
        (v, 1000)
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    let ms = n.checked_mul(mult_ms).ok_or_else(bad)?;
    Ok(Duration::from_millis(ms))
}

/// Expands `~` (at the start of a path), `%u`, `%n`, `%d`, `%%`.
fn expand(template: &str, user: &str, home: &Path) -> Result<PathBuf, String> {
    // The last @ separates the domain, as in a realm (a local part may hold
    // an @ of its own).
    let (local, domain) = user.rsplit_once('@').unwrap_or((user, ""));
    let mut out = String::new();
    let mut rest = template;
    if let Some(r) = rest.strip_prefix('~') {
        out.push_str(&home.to_string_lossy());
        rest = r;
    }
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => out.push_str(user),
            Some('n') => out.push_str(local),
            Some('d') => out.push_str(domain),
            Some('%') => out.push('%'),
            other => {
                return Err(format!(
                    "mail_location: unknown variable %{}",
                    other.unwrap_or(' ')
                ))
            }
        }
    }
    // A user name is data: it must not be able to make the path climb.
    if user.contains('/') || user.contains("..") {
        return Err("mail_location: user name not usable in a path".into());
    }
    let p = PathBuf::from(out);
    if !p.is_absolute() {
        return Err(format!(
            "mail_location: {} is not an absolute path",
            p.display()
        ));
    }
    Ok(p)
}

pub fn parse_mail_location(v: &str, user: &str, home: &Path) -> Result<MailLocation, String> {
    let (kind, rest) = v
        .split_once(':')
        .ok_or_else(|| format!("mail_location: expected maildir:PATH or mbox:PATH, not {v:?}"))?;
    match kind {
        "maildir" => Ok(MailLocation::Maildir(expand(rest, user, home)?)),
        "mbox" => {
            let mut root = None;
            let mut inbox = None;
            for (i, piece) in rest.split(':').enumerate() {
                if i == 0 {
                    root = Some(expand(piece, user, home)?);
                } else if let Some(p) = piece.strip_prefix("INBOX=") {
                    inbox = Some(expand(p, user, home)?);
                } else {
                    return Err(format!("mail_location: unknown mbox option {piece:?}"));
                }
            }
            let root = root.ok_or("mail_location: mbox needs a path")?;
            let inbox = match inbox {
                Some(i) => i,
                None => expand("/var/mail/%u", user, home)?,
            };
            Ok(MailLocation::Mbox { root, inbox })
        }
        _ => Err(format!("mail_location: unknown format {kind:?}")),
    }
}

/// This host's name (uname(2): no file to open, also in a sealed
/// session), or `localhost`.
pub fn host_name() -> String {
    let u = rustix::system::uname();
    let name = u.nodename().to_string_lossy();
    if name.is_empty() {
        "localhost".into()
    } else {
        name.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_folders_by_default_and_as_set() {
        let d = Config::defaults(Service::Imap);
        let names: Vec<(&str, &str)> = d
            .special_folders
            .iter()
            .map(|(u, n)| (*u, n.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("\\Sent", "Sent"),
                ("\\Drafts", "Drafts"),
                ("\\Trash", "Trash"),
                ("\\Junk", "Junk"),
                ("\\Archive", "Archive")
            ]
        );
        let mut c = Config::defaults(Service::Imap);
        c.set("special_folders", " Trash = Corbeille ,SENT=Envoyés")
            .unwrap();
        assert_eq!(
            c.special_folders,
            [
                ("\\Trash", "Corbeille".to_string()),
                ("\\Sent", "Envoy&AOk-s".to_string())
            ]
        );
        c.set("special_folders", "").unwrap();
        assert!(c.special_folders.is_empty());
    }

    #[test]
    fn trusted_proxies_are_networks() {
        let mut c = Config::defaults(Service::Imap);
        assert!(c.trusted_proxies.is_empty());
        c.set("trusted_proxies", "127.0.0.1, 10.0.0.0/8 2001:db8::/32")
            .unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32"]);
        assert!(c.set("trusted_proxies", "10.0.0.0/40").is_err());
        assert!(c.set("trusted_proxies", "proxy.example.org").is_err());
        c.set("trusted_proxies", "").unwrap();
        assert!(c.trusted_proxies.is_empty());
        c.set("trusted_id_proxies", "192.0.2.0/24").unwrap();
        assert_eq!(c.trusted_id_proxies[0].to_string(), "192.0.2.0/24");
        let e = c.set("trusted_id_proxies", "nginx").unwrap_err();
        assert!(e.starts_with("trusted_id_proxies: "), "{e}");
    }

    #[test]
    fn urlauth_host_takes_a_host_or_star() {
        let mut c = Config::defaults(Service::Imap);
        assert_eq!(c.urlauth_host, "*");
        c.set("urlauth_host", "mail.example.org:143").unwrap();
        assert_eq!(c.urlauth_host, "mail.example.org:143");
        for bad in ["", "imap://mail.example.org", "u@host", "a b"] {
            assert!(c.set("urlauth_host", bad).is_err(), "{bad:?}");
        }
        assert!(c.dump().contains("urlauth_host = mail.example.org:143\n"));
    }

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.conf");
        std::fs::write(
            &f,
            "# comment\nauth = sasldb, pam\nallow_plaintext_auth = yes\nauth_failure_delay = 500ms\n",
        )
        .unwrap();
        let c = Config::load(Service::Pop3, Some(&f), &["auth_max_failures=5".into()]).unwrap();
        assert_eq!(c.auth, vec!["sasldb", "pam"]);
        assert!(c.allow_plaintext_auth);
        assert_eq!(c.auth_failure_delay, Duration::from_millis(500));
        assert_eq!(c.auth_max_failures, 5);
        assert_eq!(c.pam_service, "pop3");
    }

    #[test]
    fn errors_are_reported_with_place() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.conf");
        std::fs::write(&f, "\nmail_locaton = x\n").unwrap();
        let e = Config::load(Service::Imap, Some(&f), &[]).unwrap_err();
        assert!(e.contains(":2:") && e.contains("unknown key"), "{e}");
        let e = Config::load(Service::Imap, Some(&dir.path().join("missing")), &[]).unwrap_err();
        assert!(e.contains("missing"), "{e}");
        assert!(Config::load(Service::Imap, None, &["auth=kerberos".into()]).is_err());
        // LDAP needs a server, and a base or a DN template.
        let e = Config::load(Service::Imap, None, &["auth=ldap".into()]).unwrap_err();
        assert!(e.contains("ldap_uri"), "{e}");
        let ldap = |more: &str| {
            let mut o = vec![
                "auth=ldap".to_string(),
                "ldap_uri=ldap://h/".into(),
                "ldap_base=dc=x".into(),
            ];
            o.push(more.into());
            Config::load(Service::Imap, None, &o)
        };
        assert!(ldap("ldap_base=").unwrap_err().contains("ldap_base"));
        assert!(ldap("ldap_base=dc=example").is_ok());
        assert!(ldap("ldap_uri=http://h/").is_err());
        assert!(ldap("ldap_uri=ldap://a/ ldaps://b/").is_ok());
        assert!(ldap("ldap_uri=ldap://a/ b").is_err());
        assert!(ldap("ldap_user_filter=uid=%u").is_err());
        assert!(Config::load(Service::Imap, None, &["mbox_locks=fcntl nfs".into()]).is_err());
    }

    #[test]
    fn mail_location_expansion() {
        let c = Config::load(
            Service::Imap,
            None,
            &["mail_location=mbox:~/mail:INBOX=/var/mail/%u".into()],
        )
        .unwrap();
        assert_eq!(
            c.mail_location_for("bob", Path::new("/home/bob")).unwrap(),
            MailLocation::Mbox {
                root: "/home/bob/mail".into(),
                inbox: "/var/mail/bob".into()
            }
        );
        let mut c = Config::defaults(Service::Imap);
        c.set("mail_location", "maildir:/srv/mail/%d/%n").unwrap();
        assert_eq!(
            c.mail_location_for("a@ex.org", Path::new("/")).unwrap(),
            MailLocation::Maildir("/srv/mail/ex.org/a".into())
        );
        assert!(c.mail_location_for("../x", Path::new("/")).is_err());
        assert!(c.set("mail_location", "maildir:relative").is_err());
    }
}

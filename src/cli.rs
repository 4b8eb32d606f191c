//! Command line and process start-up shared by `imapd` and `pop3d`
//! (DESIGN.md section 7): `[-c FILE] [-o KEY=VALUE]... [--tls] [--wrapped]
//! [--listen ADDR] [--check]`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::config::{Config, Service};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub config_file: Option<PathBuf>,
    pub overrides: Vec<String>,
    pub tls: bool,
    pub wrapped: bool,
    pub listen: Option<String>,
    pub check: bool,
    pub check_sandbox: bool,
    /// Internal: this process is the login child; its parent's sockets
    /// (control, data) are these fds (privsep::spawn_login_child).
    pub login_child: Option<(i32, i32)>,
}

pub fn usage(name: &str) -> String {
    format!(
        "usage: {name} [-c FILE] [-o KEY=VALUE]... [--tls] [--wrapped] [--listen ADDR] [--check]\n\
         \x20      {name} [-c FILE] [-o KEY=VALUE]... --check-sandbox\n\
         \x20      {name} --version | --help\n\
         \n\
         Serves one {proto} connection on stdin/stdout (xinetd, stunnel, ssh).\n\
         Run as a normal user it serves that user's own mail, preauthenticated.\n\
         \n\
         -c FILE          configuration file (default /etc/mailaccess.conf)\n\
         -o KEY=VALUE     override one configuration key\n\
         --tls            implicit TLS on this connection (ports 993/995)\n\
         --wrapped        the link is already protected (stunnel, ssh)\n\
         --listen ADDR    accept TCP connections on ADDR (e.g. 127.0.0.1:1143) and\n\
         \x20                serve each in a child process (development, demo)\n\
         --check          print the effective configuration and problems (or\n\
         \x20                \"configuration OK\"), then exit: 0 when there is none\n\
         --check-sandbox  seal this process as a session of the current user is\n\
         \x20                sealed, show the proof, then make a forbidden system\n\
         \x20                call: the process must die of it (status 159)\n\
         --version        print the version and exit\n",
        proto = if name.contains("pop") { "POP3" } else { "IMAP" }
    )
}

/// Parses argv (without the program name).
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-c" => o.config_file = Some(it.next().ok_or("-c needs a file")?.into()),
            "-o" => o
                .overrides
                .push(it.next().ok_or("-o needs KEY=VALUE")?.clone()),
            "--tls" => o.tls = true,
            "--wrapped" => o.wrapped = true,
            "--listen" => o.listen = Some(it.next().ok_or("--listen needs an address")?.clone()),
            "--check" => o.check = true,
            "--check-sandbox" => o.check_sandbox = true,
            "--login-child" => {
                let bad = "--login-child needs two descriptors";
                let fds = it.next().ok_or(bad)?;
                let (c, d) = fds.split_once(',').ok_or(bad)?;
                o.login_child = Some((c.parse().map_err(|_| bad)?, d.parse().map_err(|_| bad)?));
            }
            _ if a.starts_with("--listen=") => o.listen = Some(a["--listen=".len()..].to_string()),
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    Ok(o)
}

/// What a binary does once its options are parsed.
pub enum Start {
    /// Print this (stdout for code 0, else stderr) and exit with the code:
    /// `--help`, argument and configuration errors.
    Exit(String, i32),
    /// `--check`: the report goes to stdout; the code says whether problems
    /// were found.
    Report(String, i32),
    /// Serve the connection on fds 0/1 (`args` as given, for the login
    /// child).
    Serve(Box<Config>, Options, Vec<String>),
}

pub fn start(service: Service, name: &str, args: &[String]) -> Start {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Start::Exit(usage(name), 0);
    }
    if args.iter().any(|a| a == "--version" || a == "-V") {
        return Start::Exit(
            format!("{name} (mailaccess) {}\n", env!("CARGO_PKG_VERSION")),
            0,
        );
    }
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => return Start::Exit(format!("{name}: {e}\n{}", usage(name)), 2),
    };
    // Nothing our starter left open reaches any role (DESIGN.md 6); only the
    // login child's two sockets are deliberately passed.
    let keep: Vec<i32> = opts
        .login_child
        .map(|(c, d)| vec![c, d])
        .unwrap_or_default();
    crate::privsep::close_inherited_fds(&keep);
    let config = match Config::load(service, opts.config_file.as_deref(), &opts.overrides) {
        Ok(c) => c,
        Err(e) => return Start::Exit(format!("{name}: {e}\n"), 2),
    };
    if opts.check {
        let (working, problems) = check(&config);
        let mut out = config.dump();
        for line in working {
            out.push_str(&format!("backend: {line}\n"));
        }
        for p in &problems {
            out.push_str(&format!("problem: {p}\n"));
        }
        if problems.is_empty() {
            out.push_str("configuration OK\n");
        }
        return Start::Report(out, if problems.is_empty() { 0 } else { 1 });
    }
    if opts.check_sandbox {
        crate::sandbox::check(&config, name);
    }
    if let Some(addr) = &opts.listen {
        return match listen(addr, args) {
            Ok(()) => Start::Exit(String::new(), 0),
            Err(e) => Start::Exit(format!("{name}: --listen {addr}: {e}\n"), 1),
        };
    }
    Start::Serve(Box::new(config), opts, args.to_vec())
}

/// Problems `--check` reports: what would make a connection fail later.
/// `--check`: what works (each configured backend) and the problems.
pub fn check(config: &Config) -> (Vec<String>, Vec<String>) {
    let mut p = Vec::new();
    if let Err(e) = crate::tls::server_config(config) {
        p.push(e);
    } else if !config.tls_cert.is_empty() {
        p.extend(crate::tls::expiry_problem(std::path::Path::new(
            &config.tls_cert,
        )));
    }
    let (working, backend_problems) = backends(config);
    p.extend(backend_problems);
    if !passwd_has(&config.login_user) {
        p.push(format!("login_user {}: no such user", config.login_user));
    }
    if !config.login_chroot.is_dir() {
        p.push(format!(
            "login_chroot {}: not a directory",
            config.login_chroot.display()
        ));
    }
    (working, p)
}

/// The state of each configured credential backend and mechanism that
/// needs a file: (what works, problems).
pub fn backends(config: &Config) -> (Vec<String>, Vec<String>) {
    let (mut ok, mut p) = (Vec::new(), Vec::new());
    for a in &config.auth {
        match a.as_str() {
            "pam" => {
                let file = std::path::Path::new("/etc/pam.d").join(&config.pam_service);
                if file.is_file() {
                    ok.push(format!(
                        "pam: service {} ({})",
                        config.pam_service,
                        file.display()
                    ));
                } else {
                    p.push(format!(
                        "pam_service {}: no {} (PAM would use its \"other\" service)",
                        config.pam_service,
                        file.display()
                    ));
                }
            }
            "sasldb" => match std::fs::File::open(&config.sasldb_path) {
                Ok(_) => ok.push(format!("sasldb: {} readable", config.sasldb_path.display())),
                Err(e) => p.push(format!("sasldb_path {}: {e}", config.sasldb_path.display())),
            },
            "ldap" => {
                use crate::auth::ldap;
                if let Err(e) = ldap::validate(config) {
                    p.push(e);
                }
                p.extend(ldap::password_file_problem(config));
                // Each server, replicas too.
                for uri in ldap::uris(config) {
                    match ldap::check(config, uri) {
                        Ok(state) => ok.push(state),
                        Err(e) => p.push(e),
                    }
                    p.extend(ldap::cleartext_problem(config, uri));
                }
            }
            _ => {}
        }
    }
    if !config.tls_client_ca.is_empty() {
        if config.tls_cert.is_empty() {
            p.push("tls_client_ca without tls_cert: EXTERNAL is never offered".into());
        } else {
            // Its parse is part of the TLS configuration's.
            if let crate::config::ClientUser::Map(path) = &config.tls_client_user {
                if let Err(e) = std::fs::File::open(path) {
                    p.push(format!("tls_client_user map {}: {e}", path.display()));
                }
            }
            ok.push(format!(
                "EXTERNAL: client certificates of {} name users by {:?}",
                config.tls_client_ca, config.tls_client_user
            ));
        }
    }
    if !config.oauth2_jwks.is_empty() {
        match crate::auth::oauth::usable_keys(std::path::Path::new(&config.oauth2_jwks)) {
            Ok(0) => p.push(format!("oauth2_jwks {}: no usable key", config.oauth2_jwks)),
            Ok(n) => ok.push(format!(
                "OAUTHBEARER, XOAUTH2: {} key(s) in {}, user claim {}",
                n, config.oauth2_jwks, config.oauth2_user_claim
            )),
            Err(e) => p.push(e),
        }
    }
    if !config.gssapi_keytab.is_empty() {
        let principal = format!("{}/{}", config.gssapi_service, config.gssapi_hostname);
        // Acquiring the acceptor's credential reads the keytab and looks
        // for the principal's key (MIT); `*` takes any key in it.
        match std::fs::File::open(&config.gssapi_keytab)
            .map_err(|e| e.to_string())
            .and_then(|_| crate::auth::kerberos::Exchange::new(config).map(|_| ()))
        {
            Ok(()) => ok.push(format!(
                "GSSAPI: keytab {} for {principal}",
                config.gssapi_keytab
            )),
            Err(e) => p.push(format!(
                "gssapi_keytab {} ({principal}): {e}",
                config.gssapi_keytab
            )),
        }
    }
    (ok, p)
}

fn passwd_has(user: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .map(|s| s.lines().any(|l| l.split(':').next() == Some(user)))
        .unwrap_or(false)
}

/// `--listen`: accept on a loopback address and run this same binary per
/// connection with the socket as its stdin/stdout, exactly as xinetd would
/// (so there is one code path for serving a connection).
fn listen(addr: &str, args: &[String]) -> std::io::Result<()> {
    use crate::limits::LISTEN_SPAWN_TRIES;
    let listener = TcpListener::bind(addr)?;
    let exe = std::env::current_exe()?;
    // The child gets the same arguments without --listen.
    let mut child_args = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--listen" {
            it.next();
        } else if !a.starts_with("--listen=") {
            child_args.push(a.clone());
        }
    }
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(_) => continue,
        };
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let (ip, port) = peer.rsplit_once(':').unwrap_or((&peer, ""));
        let out = match stream.try_clone() {
            Ok(s) => s,
            Err(_) => continue,
        };
        let mut cmd = Command::new(&exe);
        cmd.args(&child_args)
            .env("REMOTE_HOST", ip.trim_matches(|c| c == '[' || c == ']'))
            .env("REMOTE_PORT", port)
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(stream)))
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(out)))
            .stderr(Stdio::null());
        // A fork or exec that fails for a moment (EAGAIN, ETXTBSY) is tried
        // again rather than closing on the client with nothing said.
        let mut spawned = cmd.spawn();
        for _ in 0..LISTEN_SPAWN_TRIES {
            if spawned.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            spawned = cmd.spawn();
        }
        if let Ok(mut child) = spawned {
            // Reap children without blocking the accept loop.
            std::thread::spawn(move || child.wait());
        }
    }
    Ok(())
}

/// Ends a process that will not serve: `--help`, `--check`, argument and
/// configuration errors. When a client is already waiting on fd 0 (a
/// socket: xinetd, stunnel) an error must not go to stderr, which is that
/// client: it goes to syslog, and the client gets its protocol's refusal.
pub fn exit(service: Service, name: &str, text: &str, code: i32) -> ! {
    use std::io::Write;
    let client_waiting = rustix::fs::fstat(std::io::stdin())
        .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Socket)
        .unwrap_or(false);
    if code == 0 {
        print!("{text}");
    } else if client_waiting {
        silence_stderr();
        // The client first, and told the session is over (its end of the
        // socket shut), so that a slow log (a syslog socket whose queue is
        // full blocks the sender) never leaves it waiting.
        let refusal: &[u8] = match service {
            Service::Imap => b"* BYE Server configuration problem; see the log.\r\n",
            Service::Pop3 => b"-ERR [SYS/PERM] Server configuration problem; see the log.\r\n",
        };
        let mut out = std::io::stdout();
        let _ = out.write_all(refusal);
        let _ = out.flush();
        let _ = rustix::net::shutdown(std::io::stdin(), rustix::net::Shutdown::Write);
        crate::log::init(name, "syslog", "mail", false);
        log::error!("{}", text.trim_end());
    } else {
        eprint!("{text}");
    }
    std::process::exit(code)
}

/// After start-up nothing may reach fd 2: under xinetd it is the client.
pub fn silence_stderr() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}

/// The user this process runs as, for preauthenticated mode: name and home
/// from the environment that ssh and login set, checked against the uid.
pub fn current_user() -> Option<(String, PathBuf)> {
    let uid = rustix::process::getuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].parse::<u32>().ok() == Some(uid))
            .then(|| (f[0].to_string(), PathBuf::from(f[5])))
    });
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match (entry, home) {
        (Some((name, _)), Some(h)) if h.is_absolute() => Some((name, h)),
        (Some(e), _) => Some(e),
        (None, Some(h)) if h.is_absolute() => {
            let name = std::env::var("USER").unwrap_or_else(|_| uid.to_string());
            Some((name, h))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        let o = parse_args(&v(&[
            "-c",
            "/x",
            "-o",
            "a=b",
            "--tls",
            "--listen",
            "127.0.0.1:1",
        ]))
        .unwrap();
        assert_eq!(o.config_file, Some("/x".into()));
        assert_eq!(o.overrides, vec!["a=b"]);
        assert!(o.tls && !o.wrapped && !o.check);
        assert_eq!(o.listen.as_deref(), Some("127.0.0.1:1"));
        assert!(parse_args(&v(&["-c"])).is_err());
        assert!(parse_args(&v(&["--bogus"])).is_err());
    }

    #[test]
    fn check_reports_problems() {
        let mut c = Config::defaults(Service::Imap);
        c.tls_cert = "/nonexistent/cert.pem".into();
        c.login_user = "no-such-user-xyz".into();
        let (_, p) = check(&c);
        assert!(p.iter().any(|s| s.contains("tls_cert")), "{p:?}");
        assert!(
            p.iter().any(|s| s.contains("tls_cert and tls_key")),
            "{p:?}"
        );
        assert!(p.iter().any(|s| s.contains("no-such-user-xyz")), "{p:?}");
    }

    #[test]
    fn check_reports_each_backend() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::defaults(Service::Imap);
        c.auth = vec!["pam".into(), "sasldb".into()];
        c.pam_service = "no-such-service-xyz".into();
        c.sasldb_path = dir.path().join("missing");
        c.oauth2_jwks = dir.path().join("jwks.json").display().to_string();
        let (_, p) = backends(&c);
        assert!(p.iter().any(|s| s.contains("no-such-service-xyz")), "{p:?}");
        assert!(p.iter().any(|s| s.contains("sasldb_path")), "{p:?}");
        assert!(p.iter().any(|s| s.contains("oauth2_jwks")), "{p:?}");
        std::fs::write(dir.path().join("missing"), b"").unwrap();
        std::fs::write(
            &c.oauth2_jwks,
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},{"kty":"oct","k":"c2VjcmV0"}]}"#,
        )
        .unwrap();
        let (ok, p) = backends(&c);
        assert!(ok.iter().any(|s| s.contains("1 key(s)")), "{ok:?}");
        assert!(ok.iter().any(|s| s.starts_with("sasldb:")), "{ok:?}");
        assert_eq!(p.len(), 1, "{p:?}");
    }
}

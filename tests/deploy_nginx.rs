//! The repository's proxy/nginx-mail.conf and proxy/nginx-mail-auth.conf
//! run by Debian's nginx with its mail module, in front of two "hosts":
//! xinetd on 127.0.0.2 and on 127.0.0.3, each serving imapd and pop3d
//! with `--wrapped -o trusted_proxies=127.0.0.1`, as the file says. Paths,
//! addresses, ports and the routed user's name are changed to the test's,
//! nothing else. nginx ends TLS (IMAPS, POP3S, STARTTLS), routes the user
//! with its own map to the second host, and logs in there with PAM; real
//! clients (Python's imaplib and poplib, verifying the chain) connect
//! from 127.0.0.9, and only the second host serves them, logging that
//! address. Needs root and nginx with libnginx-mod-mail (`make test`).

mod deploy_common;

use std::collections::BTreeMap;

use deploy_common::*;

const CLIENT: &str = "127.0.0.9";
/// The two mail hosts of the files (192.0.2.11, .12) on loopback.
const HOSTS: [&str; 2] = ["127.0.0.2", "127.0.0.3"];
const MODULE: &str = "/usr/lib/nginx/modules/ngx_mail_module.so";

struct Host {
    _xinetd: Daemon,
    log: Log,
}

struct Setup {
    hosts: Vec<Host>,
    nginx: Daemon,
    certs: Certs,
    /// nginx's ports: imap, imaps, pop3, pop3s.
    front: BTreeMap<&'static str, u16>,
}

/// Replaces each `from` of `text` (which must hold it) by `to`.
fn change(text: &mut String, from: &str, to: &str) {
    assert!(text.contains(from), "no {from:?} in {text}");
    *text = text.replace(from, to);
}

fn setup() -> Setup {
    require_tool("/usr/sbin/nginx");
    require_tool(MODULE);
    pam_user();
    let certs = Certs::new();
    let (imap, pop3) = (free_port(), free_port());
    let hosts: Vec<Host> = HOSTS
        .iter()
        .map(|addr| {
            let log = Log::new();
            // The file's server_args for the hosts' services.
            let extra = "--wrapped -o trusted_proxies=127.0.0.1";
            let i = format!("{} {extra}", base_args(PAM_IMAP, &log).join(" "));
            let p = format!("{} {extra}", base_args(PAM_POP3, &log).join(" "));
            let xinetd = xinetd(&[
                xinetd_service_at("xinetd.d/imap", addr, imap, IMAPD, &i),
                xinetd_service_at("xinetd.d/pop3", addr, pop3, POP3D, &p),
            ]);
            wait_started(&xinetd);
            Host {
                _xinetd: xinetd,
                log,
            }
        })
        .collect();

    let front: BTreeMap<&'static str, u16> = ["imap", "imaps", "pop3", "pop3s"]
        .into_iter()
        .map(|n| (n, free_port()))
        .collect();
    let auth_port = free_port();
    let mut mail = std::fs::read_to_string(repo().join("proxy/nginx-mail.conf")).unwrap();
    for (listen, name) in [
        ("listen 143;", "imap"),
        ("listen 993 ssl;", "imaps"),
        ("listen 110;", "pop3"),
        ("listen 995 ssl;", "pop3s"),
    ] {
        let to = listen.replacen(
            listen.split(' ').nth(1).unwrap().trim_end_matches(';'),
            &format!("127.0.0.1:{}", front[name]),
            1,
        );
        change(&mut mail, listen, &to);
    }
    change(
        &mut mail,
        "127.0.0.1:8143",
        &format!("127.0.0.1:{auth_port}"),
    );
    change(
        &mut mail,
        "/etc/ssl/mail/fullchain.pem",
        &certs.path("rsa-chain.pem"),
    );
    change(
        &mut mail,
        "/etc/ssl/mail/privkey.pem",
        &certs.path("rsa.key"),
    );
    let mut auth = std::fs::read_to_string(repo().join("proxy/nginx-mail-auth.conf")).unwrap();
    change(
        &mut auth,
        "listen 127.0.0.1:8143;",
        &format!("listen 127.0.0.1:{auth_port};"),
    );
    change(&mut auth, "192.0.2.11;", &format!("{};", HOSTS[0]));
    change(&mut auth, "192.0.2.12;", &format!("{};", HOSTS[1]));
    change(&mut auth, "    alice ", &format!("    {USER} "));
    change(&mut auth, "imap        10143;", &format!("imap {imap};"));
    change(&mut auth, "pop3        10110;", &format!("pop3 {pop3};"));

    let dir = tempfile::Builder::new()
        .prefix("mailaccess-nginx")
        .tempdir()
        .unwrap();
    let d = dir.path().display();
    std::fs::write(dir.path().join("mailaccess-mail.conf"), mail).unwrap();
    std::fs::write(dir.path().join("mailaccess-auth.conf"), auth).unwrap();
    // Debian's nginx.conf, cut to what the two files need.
    let conf = format!(
        "load_module {MODULE};\n\
         daemon off;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         include {d}/mailaccess-mail.conf;\n\
         http {{\n\
         \x20   client_body_temp_path {d}/body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         \x20   access_log off;\n\
         \x20   include {d}/mailaccess-auth.conf;\n\
         }}\n"
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let (ok, out, err) = run_limited(
        std::process::Command::new("/usr/sbin/nginx")
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path),
        b"",
    );
    assert!(ok, "nginx -t: {out}\n{err}");
    let mut cmd = std::process::Command::new("/usr/sbin/nginx");
    cmd.arg("-p").arg(dir.path()).arg("-c").arg(&conf_path);
    let nginx = Daemon::spawn(cmd, dir);
    for port in front.values() {
        wait_listening(*port);
    }
    Setup {
        hosts,
        nginx,
        certs,
        front,
    }
}

/// Lines of `log` naming `CLIENT` behind nginx (on 127.0.0.1).
fn client_lines(log: &str) -> usize {
    let line = format!("client {CLIENT}:");
    log.lines()
        .filter(|l| l.contains(&line) && l.contains("through proxy 127.0.0.1:"))
        .count()
}

#[test]
fn nginx_ends_tls_routes_the_user_and_passes_the_clients_address() {
    let s = setup();
    let (ok, out, err) = python_from(
        CLIENT,
        &format!(
            "ctx = ssl.create_default_context(cafile='{ca}')\n\
         m = imaplib.IMAP4_SSL('127.0.0.1', {imaps}, ssl_context=ctx)\n\
         print('imaps', m.login('{USER}', '{PASSWORD}')[0], m.select('INBOX'), m.sock.version())\n\
         print('imaps', m.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')[1][0][1])\n\
         m.logout()\n\
         m = imaplib.IMAP4('127.0.0.1', {imap})\n\
         print('imap', 'LOGINDISABLED' in m.capabilities, 'STARTTLS' in m.capabilities)\n\
         m.starttls(ssl_context=ctx)\n\
         print('imap', m.login('{USER}', '{PASSWORD}')[0], m.select('INBOX'))\n\
         try:\n\
         \x20   m2 = imaplib.IMAP4_SSL('127.0.0.1', {imaps}, ssl_context=ctx)\n\
         \x20   m2.login('{USER}', 'wrong')\n\
         \x20   print('wrong password accepted')\n\
         except imaplib.IMAP4.error as e:\n\
         \x20   print('refused', e)\n\
         m.logout()\n\
         p = poplib.POP3_SSL('127.0.0.1', {pop3s}, context=ctx)\n\
         p.user('{USER}')\n\
         print('pop3s', p.pass_('{PASSWORD}'), p.stat())\n\
         p.quit()\n\
         p = poplib.POP3('127.0.0.1', {pop3})\n\
         p.stls(context=ctx)\n\
         p.user('{USER}')\n\
         print('pop3', p.pass_('{PASSWORD}'), p.stat())\n\
         p.quit()\n",
            ca = s.certs.path("ca.pem"),
            imap = s.front["imap"],
            imaps = s.front["imaps"],
            pop3 = s.front["pop3"],
            pop3s = s.front["pop3s"],
        ),
    );
    assert!(
        ok,
        "{out}\n{err}\nnginx: {}\n{}",
        s.nginx.stderr(),
        std::fs::read_to_string(s.nginx.dir.path().join("error.log")).unwrap_or_default()
    );
    let lines: Vec<&str> = out.lines().collect();
    let expect = [
        "imaps OK ('OK', [b'1']) TLSv1.3",
        "imaps b'Subject: deploy test",
        // nginx's own greeting on 143: STARTTLS only.
        "imap True True",
        "imap OK ('OK', [b'1'])",
        "refused ",
        "pop3s b'+OK Logged in, 1 messages.' (1, ",
        "pop3 b'+OK Logged in, 1 messages.' (1, ",
    ];
    assert_eq!(lines.len(), expect.len(), "{out}");
    for (l, e) in lines.iter().zip(expect) {
        assert!(l.starts_with(e), "{l:?} is not {e:?}\n{out}");
    }
    // All five logins (one refused) on the user's host, with the client's
    // address; none on the other.
    let end = std::time::Instant::now() + WAIT;
    while s.hosts[1].log.text().matches("quit: retrieved=0").count() < 2
        && std::time::Instant::now() < end
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let routed = s.hosts[1].log.text();
    assert_eq!(client_lines(&routed), 5, "{routed}");
    assert_eq!(
        routed
            .lines()
            .filter(|l| l.contains(&format!("{CLIENT}:"))
                && l.contains(&format!("user={USER}: login:")))
            .count(),
        4,
        "{routed}"
    );
    assert!(routed.contains("login failed"), "{routed}");
    assert!(
        !routed.contains(PASSWORD),
        "a password reached the log: {routed}"
    );
    let other = s.hosts[0].log.text();
    assert_eq!(client_lines(&other), 0, "{other}");
}

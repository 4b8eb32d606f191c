//! The repository's proxy/haproxy.cfg run by Debian's HAProxy (TCP mode,
//! `send-proxy-v2`, TLS passed through), in front of two "hosts": xinetd
//! on 127.0.0.2 and on 127.0.0.3, each serving imapd and pop3d, plain and
//! `--tls`, with `trusted_proxies=127.0.0.1`. The addresses and ports in the
//! file are changed to those, nothing else. Real clients (Python's imaplib
//! and poplib, with TLS verifying the chain) connect from 127.0.0.9: each
//! host's log names that client behind the proxy, round robin reaches both
//! hosts, and logins go through PAM. Needs root and haproxy (`make test`).

mod deploy_common;

use std::collections::BTreeMap;

use deploy_common::*;

/// The client's address: not the proxy's, so the log shows whose it is.
const CLIENT: &str = "127.0.0.9";
/// The two mail hosts of the file (192.0.2.11, .12) on loopback.
const HOSTS: [&str; 2] = ["127.0.0.2", "127.0.0.3"];

/// One host: xinetd with the four services, and its log.
struct Host {
    _xinetd: Daemon,
    log: Log,
}

/// The ports of the four services (the same on both hosts) and those of
/// HAProxy's frontends.
struct Ports {
    backend: BTreeMap<&'static str, u16>,
    front: BTreeMap<&'static str, u16>,
}

struct Setup {
    hosts: Vec<Host>,
    _haproxy: Daemon,
    certs: Certs,
    ports: Ports,
}

/// The repository's file with the test's addresses and ports.
fn haproxy_config(ports: &Ports) -> String {
    let mut text = std::fs::read_to_string(repo().join("proxy/haproxy.cfg")).unwrap();
    let mut change = |from: String, to: String| {
        assert!(text.contains(&from), "proxy/haproxy.cfg has no {from:?}");
        text = text.replace(&from, &to);
    };
    for (service, (listen, proxied)) in [
        ("imap", (143, 10143)),
        ("imaps", (993, 10993)),
        ("pop3", (110, 10110)),
        ("pop3s", (995, 10995)),
    ] {
        change(
            format!("bind :{listen}\n"),
            format!("bind 127.0.0.1:{}\n", ports.front[service]),
        );
        for (i, host) in HOSTS.iter().enumerate() {
            change(
                format!("192.0.2.{}:{proxied} ", 11 + i),
                format!("{host}:{} ", ports.backend[service]),
            );
        }
    }
    text
}

fn setup() -> Setup {
    require_tool("/usr/sbin/haproxy");
    pam_user();
    let certs = Certs::new();
    let names = ["imap", "imaps", "pop3", "pop3s"];
    let ports = Ports {
        backend: names.iter().map(|&n| (n, free_port())).collect(),
        front: names.iter().map(|&n| (n, free_port())).collect(),
    };
    let hosts: Vec<Host> = HOSTS
        .iter()
        .map(|addr| {
            let log = Log::new();
            let tls = format!(
                "-o tls_cert={} -o tls_key={} -o trusted_proxies=127.0.0.1",
                certs.path("rsa-chain.pem"),
                certs.path("rsa.key")
            );
            let imap = format!("{} {tls}", base_args(PAM_IMAP, &log).join(" "));
            let pop3 = format!("{} {tls}", base_args(PAM_POP3, &log).join(" "));
            let p = &ports.backend;
            let xinetd = xinetd(&[
                xinetd_service_at("xinetd.d/imap", addr, p["imap"], IMAPD, &imap),
                xinetd_service_at("xinetd.d/imaps", addr, p["imaps"], IMAPD, &imap),
                xinetd_service_at("xinetd.d/pop3", addr, p["pop3"], POP3D, &pop3),
                xinetd_service_at("xinetd.d/pop3s", addr, p["pop3s"], POP3D, &pop3),
            ]);
            wait_started(&xinetd);
            Host {
                _xinetd: xinetd,
                log,
            }
        })
        .collect();
    let dir = tempfile::Builder::new()
        .prefix("mailaccess-haproxy")
        .tempdir()
        .unwrap();
    let conf = dir.path().join("haproxy.cfg");
    std::fs::write(&conf, haproxy_config(&ports)).unwrap();
    let (ok, out, err) = run_limited(
        std::process::Command::new("/usr/sbin/haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&conf),
        b"",
    );
    assert!(ok, "haproxy -c: {out}\n{err}");
    let mut cmd = std::process::Command::new("/usr/sbin/haproxy");
    cmd.arg("-db").arg("-f").arg(&conf);
    let haproxy = Daemon::spawn(cmd, dir);
    for port in ports.front.values() {
        wait_listening(*port);
    }
    Setup {
        hosts,
        _haproxy: haproxy,
        certs,
        ports,
    }
}

/// Waits until the hosts' logs together name `CLIENT` behind the proxy
/// `n` times; returns how many times each one does.
fn clients_seen(s: &Setup, n: usize) -> Vec<usize> {
    let line = format!("client {CLIENT}:");
    let end = std::time::Instant::now() + WAIT;
    loop {
        let seen: Vec<usize> = s
            .hosts
            .iter()
            .map(|h| {
                h.log
                    .text()
                    .lines()
                    .filter(|l| l.contains(&line) && l.contains("through proxy 127.0.0.1:"))
                    .count()
            })
            .collect();
        if seen.iter().sum::<usize>() >= n || std::time::Instant::now() > end {
            return seen;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn haproxy_passes_imap_and_pop3_with_the_clients_address() {
    let s = setup();
    let (ok, out, err) = python_from(
        CLIENT,
        &format!(
            "ctx = ssl.create_default_context(cafile='{ca}')\n\
         for i in range(2):\n\
         \x20   m = imaplib.IMAP4('127.0.0.1', {imap})\n\
         \x20   print('imap', m.login('{USER}', '{PASSWORD}')[0], m.select('INBOX'))\n\
         \x20   m.logout()\n\
         \x20   m = imaplib.IMAP4_SSL('127.0.0.1', {imaps}, ssl_context=ctx)\n\
         \x20   print('imaps', m.login('{USER}', '{PASSWORD}')[0], m.sock.version())\n\
         \x20   m.logout()\n\
         \x20   p = poplib.POP3('127.0.0.1', {pop3})\n\
         \x20   p.user('{USER}')\n\
         \x20   print('pop3', p.pass_('{PASSWORD}'), p.stat())\n\
         \x20   p.quit()\n\
         \x20   p = poplib.POP3_SSL('127.0.0.1', {pop3s}, context=ctx)\n\
         \x20   p.user('{USER}')\n\
         \x20   print('pop3s', p.pass_('{PASSWORD}'), p.stat())\n\
         \x20   p.quit()\n",
            ca = s.certs.path("ca.pem"),
            imap = s.ports.front["imap"],
            imaps = s.ports.front["imaps"],
            pop3 = s.ports.front["pop3"],
            pop3s = s.ports.front["pop3s"],
        ),
    );
    assert!(ok, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    let expect = [
        "imap OK ('OK', [b'1'])",
        "imaps OK TLSv1.3",
        "pop3 b'+OK Logged in, 1 messages.' (1, ",
        "pop3s b'+OK Logged in, 1 messages.' (1, ",
    ];
    assert_eq!(lines.len(), 8, "{out}");
    for (l, e) in lines.iter().zip(expect.iter().cycle()) {
        assert!(l.starts_with(e), "{l:?} is not {e:?}\n{out}");
    }
    // 8 sessions, each logged with the client's address by the host that
    // served it; round robin gave each host some.
    let seen = clients_seen(&s, 8);
    assert_eq!(seen.iter().sum::<usize>(), 8, "{seen:?}");
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    for h in &s.hosts {
        let t = h.log.text();
        assert!(t.contains(&format!("user={USER}")), "{t}");
        assert!(!t.contains(PASSWORD), "a password reached the log: {t}");
        // The health checks send the header too (check-send-proxy).
        assert!(!t.contains("no PROXY header"), "{t}");
    }
}

//! OAUTHBEARER (RFC 7628) and XOAUTH2 with tokens validated locally,
//! through the built imapd and pop3d under `systemd-socket-activate`, with
//! curl (`--oauth2-bearer`, OAUTHBEARER) and Python's imaplib (XOAUTH2) as
//! the clients. JWTs signed here with Ed25519
//! (EdDSA), ECDSA P-256 (ES256) and RSA (RS256, the key made by openssl),
//! their public keys in a JWKS file only root can read; the server checks
//! signature, issuer, audience, expiry and the user claim. A token that is
//! expired, for another audience, for another user, unsigned, or signed by
//! a key not in the JWKS is refused. Needs root and curl (`make test`).

mod deploy_common;

use std::process::Command;

use deploy_common::*;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

const ISSUER: &str = "https://login.example.org";
const AUDIENCE: &str = "mailaccess-test";

fn b64url(data: &[u8]) -> String {
    mailaccess::auth::sasl::base64_encode(data)
        .replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_string()
}

/// The test's signing keys and their JWKS.
struct Keys {
    ed: Ed25519KeyPair,
    ec: EcdsaKeyPair,
    rsa: RsaKeyPair,
    /// Not in the JWKS.
    stranger: Ed25519KeyPair,
}

impl Keys {
    fn new(dir: &std::path::Path) -> Keys {
        let rng = SystemRandom::new();
        let ed = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref())
            .unwrap();
        let stranger =
            Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref())
                .unwrap();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let ec = EcdsaKeyPair::from_pkcs8(
            alg,
            EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap().as_ref(),
            &rng,
        )
        .unwrap();
        let der = dir.join("rsa.der");
        sh(&format!(
            "openssl genrsa 2048 2>/dev/null | openssl rsa -traditional -outform DER -out {} 2>/dev/null",
            der.display()
        ));
        let rsa = RsaKeyPair::from_der(&std::fs::read(&der).unwrap()).unwrap();
        Keys {
            ed,
            ec,
            rsa,
            stranger,
        }
    }

    fn jwks(&self) -> String {
        let ec = self.ec.public_key().as_ref();
        let rsa: signature::RsaPublicKeyComponents<Vec<u8>> = self.rsa.public().into();
        format!(
            r#"{{"keys": [
  {{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "{}"}},
  {{"kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256", "x": "{}", "y": "{}"}},
  {{"kty": "RSA", "kid": "rsa", "use": "sig", "n": "{}", "e": "{}"}}
]}}"#,
            b64url(self.ed.public_key().as_ref()),
            b64url(&ec[1..33]),
            b64url(&ec[33..]),
            b64url(&rsa.n),
            b64url(&rsa.e),
        )
    }

    /// A JWT with `claims`, signed as `alg` ("EdDSA", "ES256", "RS256",
    /// "stranger", "none").
    fn token(&self, alg: &str, claims: &str) -> String {
        let (name, kid) = match alg {
            "stranger" => ("EdDSA", "ed"),
            "EdDSA" => ("EdDSA", "ed"),
            "ES256" => ("ES256", "ec"),
            "RS256" => ("RS256", "rsa"),
            _ => ("none", "ed"),
        };
        let header = format!(r#"{{"alg":"{name}","typ":"JWT","kid":"{kid}"}}"#);
        let input = format!(
            "{}.{}",
            b64url(header.as_bytes()),
            b64url(claims.as_bytes())
        );
        let rng = SystemRandom::new();
        let sig = match alg {
            "EdDSA" => self.ed.sign(input.as_bytes()).as_ref().to_vec(),
            "stranger" => self.stranger.sign(input.as_bytes()).as_ref().to_vec(),
            "ES256" => self
                .ec
                .sign(&rng, input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            "RS256" => {
                let mut sig = vec![0; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(
                        &signature::RSA_PKCS1_SHA256,
                        &rng,
                        input.as_bytes(),
                        &mut sig,
                    )
                    .unwrap();
                sig
            }
            _ => Vec::new(),
        };
        format!("{input}.{}", b64url(&sig))
    }
}

fn claims(user: &str, aud: &str, exp_from_now: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    format!(
        r#"{{"iss":"{ISSUER}","aud":["other","{aud}"],"preferred_username":"{user}","iat":{now},"exp":{}}}"#,
        now + exp_from_now
    )
}

/// curl with the bearer token as `user` (it takes OAUTHBEARER when
/// offered).
fn curl(url: &str, user: &str, token: &str) -> (bool, String) {
    let mut cmd = Command::new("/usr/bin/curl");
    cmd.args(["-s", "-S", "--max-time", "20"])
        .args(["--oauth2-bearer", token])
        .args(["-u", &format!("{user}:")])
        .arg(url);
    let (ok, out, err) = run_limited(&mut cmd, b"");
    (ok, format!("{out}\n{err}"))
}

/// Python's imaplib with XOAUTH2, the way Google documents it (curl 7.88
/// always picks OAUTHBEARER): the first answer is the message, a later
/// one (to an error challenge) is empty.
fn xoauth2(port: u16, user: &str, token: &str) -> (bool, String) {
    let (ok, out, err) = python(&format!(
        "import imaplib\n\
         m = imaplib.IMAP4('127.0.0.1', {port})\n\
         said = []\n\
         def answer(challenge):\n\
         \x20   said.append(challenge)\n\
         \x20   return b'user={user}\\x01auth=Bearer {token}\\x01\\x01' if len(said) == 1 else b''\n\
         try:\n\
         \x20   print(m.authenticate('XOAUTH2', answer)[0])\n\
         \x20   print(m.select('INBOX'))\n\
         except imaplib.IMAP4.error as e:\n\
         \x20   print('refused', e, said)\n"
    ));
    (ok && !out.contains("refused"), format!("{out}\n{err}"))
}

#[test]
fn bearer_tokens_checked_locally() {
    pam_user();
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new(dir.path());
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, keys.jwks()).unwrap();
    sh(&format!("chmod 600 {}", jwks.display()));
    let settings = [
        format!("oauth2_jwks={}", jwks.display()),
        format!("oauth2_issuer={ISSUER}"),
        format!("oauth2_audience={AUDIENCE}"),
        "oauth2_user_claim=preferred_username".to_string(),
    ];
    let serve = |bin: &str, pam: &str, log: &Log| {
        let mut args = base_args(pam, log);
        for s in &settings {
            args.push("-o".into());
            args.push(s.clone());
        }
        socket_activate(bin, &args)
    };
    let log = Log::new();
    let (_imapd, port) = serve(IMAPD, PAM_IMAP, &log);
    let url = format!("imap://127.0.0.1:{port}/INBOX;MAILINDEX=1");
    let good = claims(USER, AUDIENCE, 600);
    // Each signature type, with OAUTHBEARER (curl) and XOAUTH2 (imaplib).
    for alg in ["EdDSA", "ES256", "RS256"] {
        let token = keys.token(alg, &good);
        let (ok, out) = curl(&url, USER, &token);
        assert!(ok && out.contains("Subject: deploy test"), "{alg}: {out}");
        let (ok, out) = xoauth2(port, USER, &token);
        assert!(ok && out.contains("('OK', [b'1'])"), "{alg}: {out}");
    }
    // A token of 8 KB (many group claims, as some providers send): taken.
    let groups = format!(r#","groups":"{}"}}"#, "g".repeat(8000));
    let big = good.trim_end_matches('}').to_string() + &groups;
    let (ok, out) = curl(&url, USER, &keys.token("ES256", &big));
    assert!(ok && out.contains("Subject: deploy test"), "{out}");
    let refused = [
        (
            "expired",
            keys.token("EdDSA", &claims(USER, AUDIENCE, -600)),
            USER,
        ),
        (
            "audience",
            keys.token("EdDSA", &claims(USER, "another", 600)),
            USER,
        ),
        ("user", keys.token("ES256", &good), "root"),
        ("unsigned", keys.token("none", &good), USER),
        ("stranger", keys.token("stranger", &good), USER),
    ];
    for (what, token, user) in &refused {
        let (ok, out) = curl(&url, user, token);
        assert!(!ok, "{what}: {out}");
        let (ok, out) = xoauth2(port, user, token);
        // RFC 7628 3.2.2's error challenge came before the NO.
        assert!(!ok && out.contains("401"), "{what}: {out}");
    }
    let t = log.wait_for("bearer token refused: expired");
    assert!(
        t.contains(&format!(
            "user={USER}: login: method=OAUTHBEARER backend=Token"
        )) && t.contains(&format!("user={USER}: login: method=XOAUTH2 backend=Token")),
        "{t}"
    );
    for why in ["another audience", "no key of the JWKS verifies"] {
        assert!(t.contains(why), "{why}: {t}");
    }
    assert!(!t.contains("eyJ"), "a token reached the log: {t}");

    // Neither a logged-in session nor one still before login (its login
    // process and their parent) holds the JWKS open: only the parent reads
    // it, while it checks a token.
    let connect = || {
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        let mut c = Client::new(c);
        assert!(c.line().starts_with("* OK"));
        c
    };
    let mut before_login = connect();
    let mut session = connect();
    let message = format!(
        "n,a={USER},\x01auth=Bearer {}\x01\x01",
        keys.token("EdDSA", &good)
    );
    let r = session.command(
        "a",
        &format!(
            "AUTHENTICATE OAUTHBEARER {}",
            mailaccess::auth::sasl::base64_encode(message.as_bytes())
        ),
    );
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    let servers: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|exe| exe == std::path::Path::new(IMAPD))
        })
        .collect();
    assert!(servers.len() >= 3, "{servers:?}");
    for pid in servers {
        // One that ended meanwhile holds nothing.
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            assert_ne!(target, jwks, "process {pid} holds the JWKS open");
        }
    }
    session.command("z", "LOGOUT");
    before_login.command("z", "LOGOUT");

    // POP3 too.
    let log = Log::new();
    let (_pop3d, port) = serve(POP3D, PAM_POP3, &log);
    let url = format!("pop3://127.0.0.1:{port}/1");
    let (ok, out) = curl(&url, USER, &keys.token("RS256", &good));
    assert!(ok && out.contains("Subject: deploy test"), "{out}");
}

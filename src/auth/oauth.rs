//! OAUTHBEARER (RFC 7628) and XOAUTH2 bearer tokens, validated here
//! without asking anyone: a JWT (RFC 7519) signed with RS256, ES256 or
//! EdDSA (RFC 7518, RFC 8037) by a key of the configured JWKS file (RFC
//! 7517, `oauth2_jwks`, read only by the privileged parent), from the
//! configured issuer (`oauth2_issuer`), for the configured audience
//! (`oauth2_audience`), not expired; the user is a claim
//! (`oauth2_user_claim`, `email` by default, as Dovecot's). Signatures are
//! checked with ring, the key types named in the header and the key
//! agreeing.

use std::path::Path;

use ring::signature::{self, UnparsedPublicKey};
use serde_json::Value;

use crate::config::Config;
use crate::limits::{OAUTH_CLOCK_SKEW, OAUTH_JWKS_MAX};

/// A JWT's three parts: (header, payload) as JSON, the signing input and
/// the signature. Nothing in it is trusted yet.
struct Jwt {
    header: Value,
    payload: Value,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

/// RFC 7515 2 base64url, no padding.
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.contains(['+', '/', '=']) {
        return None;
    }
    let mut std: String = s.replace('-', "+").replace('_', "/");
    while std.len() % 4 != 0 {
        std.push('=');
    }
    crate::imap::parse::base64_decode(std.as_bytes())
}

fn parse(token: &str) -> Option<Jwt> {
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let json = |part: &str| serde_json::from_slice::<Value>(&base64url_decode(part)?).ok();
    Some(Jwt {
        header: json(h)?,
        payload: json(p)?,
        signed: format!("{h}.{p}").into_bytes(),
        signature: base64url_decode(s)?,
    })
}

/// The user a token claims to be for, read without checking anything: what
/// the login process asks the parent to confirm when the client gave no
/// authorisation identity.
pub fn claimed_user(token: &str, claim: &str) -> Option<String> {
    parse(token)?
        .payload
        .get(claim)?
        .as_str()
        .map(str::to_owned)
}

/// The privileged check: the user the token is for, or why it is not
/// taken (for the log).
pub fn validate(config: &Config, token: &str, now: i64) -> Result<String, String> {
    let jwt = parse(token).ok_or("not a JWT")?;
    let alg = jwt.header.get("alg").and_then(Value::as_str).unwrap_or("");
    let kid = jwt.header.get("kid").and_then(Value::as_str);
    let keys = jwks(Path::new(&config.oauth2_jwks))?;
    let verified = keys
        .iter()
        // A token naming its key is tried on that key (and on keys with no
        // name), one naming none on every key.
        .filter(|k| {
            let key_kid = k.get("kid").and_then(Value::as_str);
            kid.is_none() || key_kid.is_none() || key_kid == kid
        })
        .any(|k| verify(alg, k, &jwt.signed, &jwt.signature));
    if !verified {
        return Err(format!("no key of the JWKS verifies this {alg} signature"));
    }
    let claims = &jwt.payload;
    if !config.oauth2_issuer.is_empty()
        && claims.get("iss").and_then(Value::as_str) != Some(config.oauth2_issuer.as_str())
    {
        return Err("another issuer".into());
    }
    if !config.oauth2_audience.is_empty() {
        let aud = config.oauth2_audience.as_str();
        let ok = match claims.get("aud") {
            Some(Value::String(a)) => a == aud,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(aud)),
            _ => false,
        };
        if !ok {
            return Err("another audience".into());
        }
    }
    let skew = OAUTH_CLOCK_SKEW.as_secs() as i64;
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp + skew > now => {}
        Some(_) => return Err("expired".into()),
        None => return Err("no expiry".into()),
    }
    if claims
        .get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| nbf - skew > now)
    {
        return Err("not valid yet".into());
    }
    claims
        .get(&config.oauth2_user_claim)
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("no {} claim", config.oauth2_user_claim))
}

/// For `--check`: how many keys of the JWKS file at `path` could verify a
/// token (RSA, EC P-256 and Ed25519 ones with their fields).
pub fn usable_keys(path: &Path) -> Result<usize, String> {
    let has = |k: &Value, f: &str| {
        k.get(f)
            .and_then(Value::as_str)
            .and_then(base64url_decode)
            .is_some()
    };
    Ok(jwks(path)?
        .iter()
        .filter(|k| {
            match (
                k.get("kty").and_then(Value::as_str),
                k.get("crv").and_then(Value::as_str),
            ) {
                (Some("RSA"), _) => has(k, "n") && has(k, "e"),
                (Some("EC"), Some("P-256")) => has(k, "x") && has(k, "y"),
                (Some("OKP"), Some("Ed25519")) => has(k, "x"),
                _ => false,
            }
        })
        .count())
}

/// The keys of a JWKS file (`{"keys": [...]}`).
fn jwks(path: &Path) -> Result<Vec<Value>, String> {
    let text = crate::store::open::read_small(path, OAUTH_JWKS_MAX)
        .map_err(|e| format!("oauth2_jwks {}: {e}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("oauth2_jwks {}: {e}", path.display()))?;
    match v {
        Value::Object(mut o) => match o.remove("keys") {
            Some(Value::Array(keys)) => Ok(keys),
            _ => Err(format!("oauth2_jwks {}: no \"keys\" list", path.display())),
        },
        _ => Err(format!("oauth2_jwks {}: no \"keys\" list", path.display())),
    }
}

/// Whether `key` (a JWK) of the type `alg` needs verifies `signature`.
fn verify(alg: &str, key: &Value, signed: &[u8], signature: &[u8]) -> bool {
    let field = |name: &str| {
        key.get(name)
            .and_then(Value::as_str)
            .and_then(base64url_decode)
    };
    let kty = key.get("kty").and_then(Value::as_str);
    let crv = key.get("crv").and_then(Value::as_str);
    if key
        .get("alg")
        .and_then(Value::as_str)
        .is_some_and(|a| a != alg)
    {
        return false;
    }
    match (alg, kty, crv) {
        ("RS256", Some("RSA"), _) => {
            let (Some(n), Some(e)) = (field("n"), field("e")) else {
                return false;
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, signature)
                .is_ok()
        }
        ("ES256", Some("EC"), Some("P-256")) => {
            let (Some(x), Some(y)) = (field("x"), field("y")) else {
                return false;
            };
            if x.len() != 32 || y.len() != 32 {
                return false;
            }
            let point = [&[4u8][..], &x, &y].concat();
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, signature)
                .is_ok()
        }
        ("EdDSA", Some("OKP"), Some("Ed25519")) => field("x").is_some_and(|x| {
            UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(signed, signature)
                .is_ok()
        }),
        // "none", HS256 (a shared secret is not a public key) and the rest.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_not_base64() {
        assert_eq!(base64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(base64url_decode("Zm9v").unwrap(), b"foo");
        assert!(base64url_decode("+/8=").is_none());
    }

    #[test]
    fn only_three_parts_of_json() {
        assert!(parse("a.b").is_none());
        assert!(parse("e30.e30.").is_some());
        assert!(parse("e30.e30..x").is_none());
        assert!(parse("bm9wZQ.e30.").is_none());
        assert_eq!(
            claimed_user("e30.eyJlbWFpbCI6ImFAYi5jIn0.", "email").as_deref(),
            Some("a@b.c")
        );
    }

    #[test]
    fn unsigned_and_shared_secret_tokens_are_never_verified() {
        let rsa = serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
        assert!(!verify("none", &rsa, b"x", b""));
        assert!(!verify("HS256", &rsa, b"x", b"0123456789abcdef"));
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"});
        assert!(!verify("ES256", &ec, b"x", &[0; 64]));
        // A key pinned to another algorithm.
        let pinned = serde_json::json!({"kty": "RSA", "alg": "RS512", "n": "AQAB", "e": "AQAB"});
        assert!(!verify("RS256", &pinned, b"x", &[0; 256]));
    }
}

//! AIS AuthN tokens: JSON Web Tokens signed with HS256 (RFC 7519, RFC 7515), the claims AIS's
//! AuthN issues (`sub`, `exp`, `admin`, `clusters`, `buckets`; docs/authn.md in NVIDIA/aistore).
//! Sans-IO: parse and verify a token against a shared secret and a clock, or sign one.
//!
//! Verification is strict, as AIS's: three base64url parts without padding, header `alg`
//! exactly `HS256`, a signature that matches in constant time, a non-empty `sub` and an `exp`
//! in the future. Tokens signed with RSA (AuthN's default when it has no secret) are refused
//! by name: this node verifies HMAC tokens only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Longest token accepted (a header line of this size is already unusual).
pub const TOKEN_BYTES_MAX: usize = 16 * 1024;

/// A permission mask, a decimal string on the wire (`"perm": "771"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Perm(pub u64);

impl Serialize for Perm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Perm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Perm, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(u64),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Perm(n)),
            Raw::S(s) if s.is_empty() => Ok(Perm(0)),
            Raw::S(s) => s
                .parse()
                .map(Perm)
                .map_err(|_| serde::de::Error::custom(format!("invalid permission {s:?}"))),
        }
    }
}

/// A cluster's entry of a token's ACL: `id` is the cluster's UUID (or "" for any cluster).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterAcl {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub perm: Perm,
}

/// A bucket's namespace in an ACL: `uuid` holds the cluster's UUID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclNamespace {
    #[serde(default)]
    pub uuid: String,
    #[serde(default)]
    pub name: String,
}

/// The bucket of a bucket ACL entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclBucket {
    pub name: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub namespace: AclNamespace,
}

/// A bucket's entry of a token's ACL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketAcl {
    pub bck: AclBucket,
    #[serde(default)]
    pub perm: Perm,
}

/// The claims of an AIS token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub clusters: Option<Vec<ClusterAcl>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<BucketAcl>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iss: String,
    /// The user.
    #[serde(default)]
    pub sub: String,
    /// The clusters the token is for (their UUIDs); a JSON array, or a single string as
    /// RFC 7519 also allows. Nodes do not check it (AIS checks it only when configured).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "string_or_strings"
    )]
    pub aud: Vec<String>,
    /// Expiry, Unix seconds.
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// `aud` as RFC 7519 writes it: one string, an array of strings, or null.
fn string_or_strings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        None => Vec::new(),
        Some(Raw::One(s)) => vec![s],
        Some(Raw::Many(v)) => v,
    })
}

/// Why a token was refused (each answered with 401 by a node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts, or a part that does not decode to JSON of the right shape.
    Malformed(String),
    /// A signing algorithm other than HS256.
    Algorithm(String),
    /// The signature does not match.
    Signature,
    /// `exp` is missing or past.
    Expired,
    /// `sub` is missing or empty.
    NoSubject,
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::Malformed(why) => write!(f, "malformed token: {why}"),
            JwtError::Algorithm(a) => write!(
                f,
                "token signed with {a:?}: this node verifies HS256 tokens only"
            ),
            JwtError::Signature => f.write_str("token signature is invalid"),
            JwtError::Expired => f.write_str("token expired"),
            JwtError::NoSubject => f.write_str("missing 'sub' claim"),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key")
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`, base64url without padding (the
/// proxy's signature on a redirect, `cluster::auth::sign_redirect`).
pub fn hmac_b64(key: &[u8], parts: &[&[u8]]) -> String {
    let mut m = mac(key);
    for p in parts {
        m.update(p);
    }
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

/// Whether `sig` (base64url) is the HMAC-SHA256 of `parts` under `key`; compared in constant
/// time.
pub fn hmac_b64_ok(key: &[u8], parts: &[&[u8]], sig: &str) -> bool {
    let Ok(raw) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    let mut m = mac(key);
    for p in parts {
        m.update(p);
    }
    m.verify_slice(&raw).is_ok()
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| JwtError::Malformed(format!("{what}: {e}")))
}

/// Verify `token` with the HMAC `key` at Unix time `now_s`: its claims, or why not.
pub fn verify_hs256(token: &str, key: &[u8], now_s: i64) -> Result<Claims, JwtError> {
    if token.len() > TOKEN_BYTES_MAX {
        return Err(JwtError::Malformed(format!(
            "{} bytes (at most {TOKEN_BYTES_MAX})",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let header: Header = serde_json::from_slice(&decode_part(h, "header")?)
        .map_err(|e| JwtError::Malformed(format!("header: {e}")))?;
    if header.alg != "HS256" {
        return Err(JwtError::Algorithm(header.alg));
    }
    let sig = decode_part(s, "signature")?;
    let mut m = mac(key);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&sig).map_err(|_| JwtError::Signature)?;
    let claims: Claims = serde_json::from_slice(&decode_part(p, "claims")?)
        .map_err(|e| JwtError::Malformed(format!("claims: {e}")))?;
    match claims.exp {
        Some(exp) if exp > now_s => {}
        _ => return Err(JwtError::Expired),
    }
    if claims.sub.is_empty() {
        return Err(JwtError::NoSubject);
    }
    Ok(claims)
}

/// Sign `claims` with HS256 (a node's own token for intra-cluster calls, tests).
pub fn sign_hs256(claims: &Claims, key: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let mut m = mac(key);
    m.update(header.as_bytes());
    m.update(b".");
    m.update(body.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{header}.{body}.{sig}")
}

/// The token of an `Authorization: Bearer <token>` value (scheme exactly `Bearer`).
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme == "Bearer" && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token AIS's AuthN would issue (HS256, secret "aBitLongSecretKey"): cluster
    /// Kx9rT2bQp with LIST-BUCKETS|SHOW-CLUSTER, bucket ais://nnn with 783, expiring
    /// 2030-01-01.
    const AIS_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjbHVzdGVycyI6W3siaWQiOiJLeDlyVDJiUXAiLCJwZXJtIjoiMTIyODgifV0sImJ1Y2tldHMiOlt7ImJjayI6eyJuYW1lIjoibm5uIiwicHJvdmlkZXIiOiJhaXMiLCJuYW1lc3BhY2UiOnsidXVpZCI6Ikt4OXJUMmJRcCIsIm5hbWUiOiIifX0sInBlcm0iOiI3ODMifV0sImFkbWluIjpmYWxzZSwiaXNzIjoiaHR0cDovL2xvY2FsaG9zdDo1MjAwMSIsInN1YiI6ImFsaWNlIiwiYXVkIjpbIkt4OXJUMmJRcCJdLCJleHAiOjE4OTM0NTYwMDAsImlhdCI6MTg5MzM2OTYwMH0.Yu08Cqh-xBW_2eFaS7T3vOUxGz-sTBMdfeSINhBC97E";
    const KEY: &[u8] = b"aBitLongSecretKey";
    const NOW: i64 = 1_893_400_000;

    #[test]
    fn verifies_a_token_as_ais_authn_signs_it() {
        let c = verify_hs256(AIS_TOKEN, KEY, NOW).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.admin, c.exp),
            ("alice", false, Some(1_893_456_000))
        );
        let clu = c.clusters.as_ref().unwrap();
        assert_eq!(
            (clu[0].id.as_str(), clu[0].perm),
            ("Kx9rT2bQp", Perm(12288))
        );
        assert_eq!(c.buckets[0].bck.name, "nnn");
        assert_eq!(c.buckets[0].bck.namespace.uuid, "Kx9rT2bQp");
        assert_eq!(c.buckets[0].perm, Perm(783));
        assert_eq!(c.aud, ["Kx9rT2bQp"]);
    }

    #[test]
    fn aud_is_an_array_or_one_string_and_signs_back_byte_for_byte() {
        // Claims as AIS's AuthN orders them re-sign to AIS's exact token.
        let c = verify_hs256(AIS_TOKEN, KEY, NOW).unwrap();
        assert_eq!(sign_hs256(&c, KEY), AIS_TOKEN);
        let one: Claims = serde_json::from_str(r#"{"sub":"a","aud":"U1"}"#).unwrap();
        assert_eq!(one.aud, ["U1"]);
        let none: Claims = serde_json::from_str(r#"{"sub":"a","aud":null}"#).unwrap();
        assert!(none.aud.is_empty());
        let no_aud = serde_json::to_string(&Claims::default()).unwrap();
        assert!(!no_aud.contains("aud"), "{no_aud}");
    }

    #[test]
    fn refuses_what_ais_refuses() {
        assert_eq!(
            verify_hs256(AIS_TOKEN, b"another key", NOW),
            Err(JwtError::Signature)
        );
        assert_eq!(
            verify_hs256(AIS_TOKEN, KEY, 1_893_456_000),
            Err(JwtError::Expired)
        );
        // A flipped bit anywhere in the claims breaks the signature.
        let (h, rest) = AIS_TOKEN.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        let mut pb = p.as_bytes().to_vec();
        pb[10] ^= 1;
        let forged = format!("{h}.{}.{s}", String::from_utf8(pb).unwrap());
        assert!(verify_hs256(&forged, KEY, NOW).is_err());
        // alg none / RS256: refused by name, whatever the signature.
        for alg in ["none", "RS256", "HS512"] {
            let hdr = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            let t = format!("{hdr}.{p}.{s}");
            assert_eq!(
                verify_hs256(&t, KEY, NOW),
                Err(JwtError::Algorithm(alg.into()))
            );
        }
        for bad in ["", "a.b", "a.b.c.d", "!!.??.**", &format!("{h}.{p}.{s}=")] {
            assert!(
                matches!(verify_hs256(bad, KEY, NOW), Err(JwtError::Malformed(_))),
                "{bad}"
            );
        }
        // Signed right but without sub, or without exp.
        let no_sub = Claims {
            exp: Some(NOW + 60),
            ..Default::default()
        };
        assert_eq!(
            verify_hs256(&sign_hs256(&no_sub, KEY), KEY, NOW),
            Err(JwtError::NoSubject)
        );
        let no_exp = Claims {
            sub: "bob".into(),
            ..Default::default()
        };
        assert_eq!(
            verify_hs256(&sign_hs256(&no_exp, KEY), KEY, NOW),
            Err(JwtError::Expired)
        );
        let huge = "a".repeat(TOKEN_BYTES_MAX + 1);
        assert!(matches!(
            verify_hs256(&huge, KEY, NOW),
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn signs_what_it_verifies() {
        let c = Claims {
            sub: "node-1".into(),
            admin: true,
            exp: Some(NOW + 300),
            ..Default::default()
        };
        assert_eq!(verify_hs256(&sign_hs256(&c, KEY), KEY, NOW).unwrap(), c);
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Basic abc"), None);
    }
}

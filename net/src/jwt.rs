//! AIS AuthN tokens: JSON Web Tokens signed with HS256 or RS256/384/512 (RFC 7519, RFC 7515),
//! the claims AIS's AuthN issues (`sub`, `exp`, `admin`, `clusters`, `buckets`, `aud`;
//! docs/authn.md in NVIDIA/aistore). Sans-IO: parse and verify a token against a key and a
//! clock, or sign one.
//!
//! Verification is strict, as AIS's: three base64url parts without padding, header `alg`
//! matching the key (HS256 for AuthN's secret, RS256/384/512 for its RSA public key; any other
//! pairing is refused by name), a signature that matches (HMAC compared in constant time), a
//! non-empty `sub` and an `exp` in the future.

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
    /// A signing algorithm other than the key's (HS256 for HMAC, RS256/384/512 for RSA).
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
                "token signed with {a:?}, not the algorithm of this node's key (HS256 with AIS_AUTHN_SECRET_KEY, RS256/384/512 with AIS_AUTHN_PUBLIC_KEY)"
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

/// A key that verifies client tokens: AuthN's HMAC secret (HS256) or its RSA public key
/// (RS256, RS384, RS512; `PKCS#1` `RSAPublicKey` DER, see [`rsa_public_key`]).
#[derive(Debug, Clone, Copy)]
pub enum VerifyKey<'a> {
    Hmac(&'a [u8]),
    Rsa(&'a [u8]),
}

/// The label and base64 body of the first PEM block in `text`, and whether it carries
/// RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`, as OpenSSL's legacy encrypted keys do).
pub fn pem_block(text: &str) -> Result<(String, String, bool), String> {
    let start = text
        .find("-----BEGIN ")
        .ok_or("not a PEM file (no -----BEGIN line)")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let (label, rest) = rest
        .split_once("-----")
        .ok_or("PEM: no end of the BEGIN line")?;
    let end = format!("-----END {label}-----");
    let body = rest
        .split_once(end.as_str())
        .ok_or_else(|| format!("PEM: no {end:?}"))?
        .0;
    let mut headers = false;
    let mut b64 = String::new();
    for line in body.lines() {
        if line.contains(':') {
            headers = true;
        } else {
            b64.extend(line.split_whitespace());
        }
    }
    Ok((label.to_owned(), b64, headers))
}

/// An RSA public key as AIS takes it (`AIS_AUTHN_PUBLIC_KEY`, `auth.signature.key`): PEM
/// (`PUBLIC KEY`, i.e. PKIX, or `RSA PUBLIC KEY`, PKCS#1) or the raw base64 of the PKIX DER.
/// Returns the PKCS#1 `RSAPublicKey` DER that [`VerifyKey::Rsa`] holds.
pub fn rsa_public_key(text: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::STANDARD;
    let (label, b64) = if text.contains("-----BEGIN ") {
        let (label, b64, _) = pem_block(text)?;
        (label, b64)
    } else {
        ("PUBLIC KEY".to_string(), text.split_whitespace().collect())
    };
    let der = STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| format!("base64: {e}"))?;
    match label.as_str() {
        "RSA PUBLIC KEY" => Ok(der),
        "PUBLIC KEY" => spki_rsa(&der),
        other => Err(format!(
            "PEM {other:?}: expected PUBLIC KEY or RSA PUBLIC KEY"
        )),
    }
}

/// One DER element at the start of `b`: (tag, contents, rest).
fn der(b: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || "DER: truncated".to_string();
    let (&tag, b) = b.split_first().ok_or_else(bad)?;
    let (&l0, mut b) = b.split_first().ok_or_else(bad)?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || b.len() < n {
            return Err(bad());
        }
        let mut len = 0usize;
        for &x in &b[..n] {
            len = (len << 8) | usize::from(x);
        }
        b = &b[n..];
        len
    };
    if b.len() < len {
        return Err(bad());
    }
    Ok((tag, &b[..len], &b[len..]))
}

/// The `RSAPublicKey` inside a PKIX `SubjectPublicKeyInfo` of algorithm rsaEncryption.
fn spki_rsa(spki: &[u8]) -> Result<Vec<u8>, String> {
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let (tag, body, _) = der(spki)?;
    if tag != 0x30 {
        return Err("PKIX: not a SEQUENCE".into());
    }
    let (tag, alg, rest) = der(body)?;
    let (otag, oid, _) = der(alg)?;
    if tag != 0x30 || otag != 0x06 || oid != RSA_ENCRYPTION {
        return Err("not an RSA public key (algorithm is not rsaEncryption)".into());
    }
    let (tag, bits, _) = der(rest)?;
    match bits.split_first() {
        Some((0, key)) if tag == 0x03 => Ok(key.to_vec()),
        _ => Err("PKIX: bad subjectPublicKey BIT STRING".into()),
    }
}

/// Verify `token` with `key` at Unix time `now_s`: its claims, or why not. The header's
/// `alg` must match the key's kind (HS256 for HMAC; RS256/384/512 for RSA).
pub fn verify(token: &str, key: VerifyKey<'_>, now_s: i64) -> Result<Claims, JwtError> {
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
    let sig = decode_part(s, "signature")?;
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    match (key, header.alg.as_str()) {
        (VerifyKey::Hmac(k), "HS256") => {
            let mut m = mac(k);
            m.update(signed);
            m.verify_slice(&sig).map_err(|_| JwtError::Signature)?;
        }
        (VerifyKey::Rsa(k), alg @ ("RS256" | "RS384" | "RS512")) => {
            use ring::signature as rs;
            let params: &rs::RsaParameters = match alg {
                "RS256" => &rs::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &rs::RSA_PKCS1_2048_8192_SHA384,
                _ => &rs::RSA_PKCS1_2048_8192_SHA512,
            };
            rs::UnparsedPublicKey::new(params, k)
                .verify(signed, &sig)
                .map_err(|_| JwtError::Signature)?;
        }
        _ => return Err(JwtError::Algorithm(header.alg)),
    }
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

/// Sign `claims` with RS256 and the RSA key pair `kp` (the AuthN service's signer); `kid`
/// goes into the header when given.
pub fn sign_rs256(claims: &Claims, kp: &ring::signature::RsaKeyPair, kid: Option<&str>) -> String {
    let header = match kid {
        Some(k) => serde_json::json!({"alg": "RS256", "kid": k, "typ": "JWT"}),
        None => serde_json::json!({"alg": "RS256", "typ": "JWT"}),
    };
    let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize")));
    let mut sig = vec![0u8; kp.public().modulus_len()];
    kp.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        out.as_bytes(),
        &mut sig,
    )
    // Fails only on a wrong output length (sized above) or a broken RNG (PKCS#1 v1.5 signing
    // uses it for blinding only): nothing a caller could handle.
    .expect("RSA signing");
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    out
}

/// Verify `token` with the HMAC `key` at Unix time `now_s`: its claims, or why not.
pub fn verify_hs256(token: &str, key: &[u8], now_s: i64) -> Result<Claims, JwtError> {
    verify(token, VerifyKey::Hmac(key), now_s)
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

    /// RS256 with a key made by openssl: the PKIX PEM (and its bare base64) verifies what the
    /// PKCS#8 key signed; another key, HS256 against an RSA key (the classic algorithm
    /// confusion), and a tampered token do not.
    #[test]
    fn rs256_round_trip_and_algorithm_confusion() {
        let dir = std::env::temp_dir().join(format!("jwt-rsa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("k.pem");
        let run = |args: &[&str]| {
            let st = std::process::Command::new("openssl").args(args).status();
            assert!(st.map(|s| s.success()).unwrap_or(false), "openssl {args:?}");
        };
        let k = key.to_str().unwrap();
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            k,
        ]);
        let pubf = dir.join("pub.pem");
        run(&["pkey", "-in", k, "-pubout", "-out", pubf.to_str().unwrap()]);
        let derf = dir.join("k.der");
        run(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            k,
            "-outform",
            "DER",
            "-out",
            derf.to_str().unwrap(),
        ]);
        let pem = std::fs::read_to_string(&pubf).unwrap();
        let private = std::fs::read(&derf).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let public = rsa_public_key(&pem).unwrap();
        let bare: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(rsa_public_key(&bare).unwrap(), public);
        let claims = Claims {
            sub: "alice".into(),
            exp: Some(2_000),
            ..Default::default()
        };
        let kp = ring::signature::RsaKeyPair::from_pkcs8(&private).unwrap();
        let t = sign_rs256(&claims, &kp, Some("k1"));
        assert_eq!(
            verify(&t, VerifyKey::Rsa(&public), 1_000).unwrap().sub,
            "alice"
        );
        assert_eq!(
            verify(&t, VerifyKey::Rsa(&public), 3_000),
            Err(JwtError::Expired)
        );
        assert!(matches!(
            verify(&t, VerifyKey::Hmac(b"k"), 1_000),
            Err(JwtError::Algorithm(_))
        ));
        // HS256 signed with the public key's bytes must not pass as RSA.
        let confused = sign_hs256(&claims, pem.as_bytes());
        assert!(matches!(
            verify(&confused, VerifyKey::Rsa(&public), 1_000),
            Err(JwtError::Algorithm(_))
        ));
        let mut bad = t.clone().into_bytes();
        let n = bad.len() - 5;
        bad[n] = if bad[n] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert_eq!(
            verify(&bad, VerifyKey::Rsa(&public), 1_000),
            Err(JwtError::Signature)
        );
        assert!(
            rsa_public_key("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err()
        );
    }
}

//! The RSA signing key (RS256, AIS AuthN's default signer: cmd/authn/signing in NVIDIA/aistore)
//! and what is derived from it: the PKIX PEM of the public key (`GET /v1/public-key`, what the
//! nodes take as `AIS_AUTHN_PUBLIC_KEY`), its key id and JWK (`GET /.well-known/jwks.json`).
//!
//! # Invariants
//!
//! * A loaded [`RsaKey`] holds a private key that ring accepted (2048 to 8192 bits, consistent
//!   components), parsed once; every token is signed with it, with its `kid` in the header.
//! * The key id is AIS's: the RFC 7638 JWK thumbprint (SHA-256 of
//!   `{"e":..,"kty":"RSA","n":..}`, base64url without padding), as lestrrat-go/jwx's
//!   `jwk.AssignKeyID` computes it, so a key moved from AIS's AuthN keeps its `kid`.
//!
//! # What this module does not do
//!
//! * Generate keys: ring cannot, and this crate adds no bignum library for it. Where AIS would
//!   generate one (no key file, `signing_key.mode` not "external"), start is refused with the
//!   `openssl genpkey` line that makes one; `POST /v1/rotate-key` is refused as AIS refuses it
//!   for an externally provisioned key.
//! * Encrypted keys: neither PKCS#8 `ENCRYPTED PRIVATE KEY` nor AIS's own passphrase format
//!   (PBKDF2 + AES-GCM over the PEM, `AIS_AUTHN_PRIVATE_KEY_PASS`); both are refused by name.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use net::jwt::Claims;
use ring::signature as rs;
use std::path::Path;

/// Longest key file read.
pub const KEY_FILE_BYTES_MAX: u64 = 64 * 1024;
/// `Cache-Control: max-age` of the JWKS, seconds (AIS `defaultJWKSMaxAge`, 24h).
pub const JWKS_MAX_AGE_S: u64 = 24 * 3600;

/// The `openssl` command that makes a key this service can load (PKCS#8 PEM, unencrypted).
pub fn genkey_hint(path: &Path, bits: u32) -> String {
    format!(
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:{bits} -out {} && chmod 600 {}",
        path.display(),
        path.display()
    )
}

/// An RSA signing key and what is derived from it.
pub struct RsaKey {
    pair: rs::RsaKeyPair,
    /// PKCS#1 `RSAPublicKey` DER (what `net::jwt::VerifyKey::Rsa` takes).
    public_der: Vec<u8>,
    /// PKIX `PUBLIC KEY` PEM, newline-terminated (as Go's `pem.EncodeToMemory` writes it).
    public_pem: String,
    kid: String,
    /// Modulus and exponent, base64url without padding (JWK `n`, `e`).
    n: String,
    e: String,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey")
            .field("kid", &self.kid)
            .field("bits", &(self.pair.public().modulus_len() * 8))
            .finish_non_exhaustive()
    }
}

/// DER length octets of `len`.
fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// The PKIX `SubjectPublicKeyInfo` DER of a PKCS#1 `RSAPublicKey` (rsaEncryption, NULL
/// parameters), as Go's `x509.MarshalPKIXPublicKey` writes it.
pub fn pkix_der(rsa_public_key: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID 1.2.840.113549.1.1.1, NULL }
    const ALG: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8];
    bits.extend_from_slice(rsa_public_key);
    let mut body = ALG.to_vec();
    body.extend(der_tlv(0x03, &bits));
    der_tlv(0x30, &body)
}

/// PEM of `der` under `label`, 64 columns, newline-terminated.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// RFC 7638 thumbprint of an RSA JWK (`n`, `e` base64url), base64url: AIS's `kid`.
pub fn thumbprint(n: &str, e: &str) -> String {
    use sha2::Digest as _;
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

impl RsaKey {
    /// A key from the text of a PEM file: `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY`
    /// (PKCS#1), unencrypted.
    pub fn from_pem(text: &str) -> Result<RsaKey, String> {
        let (label, b64, headers) = net::jwt::pem_block(text)?;
        let encrypted = "the key is encrypted, which this AuthN does not support: decrypt it (openssl pkey -in KEY -out PLAIN) or make a new one";
        let der = STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| format!("PEM {label:?}: base64: {e}"))?;
        let pair = match label.as_str() {
            "PRIVATE KEY" => rs::RsaKeyPair::from_pkcs8(&der)
                .map_err(|e| format!("PKCS#8 RSA private key: {e}"))?,
            "RSA PRIVATE KEY" if headers => return Err(format!("PEM {label:?}: {encrypted}")),
            "RSA PRIVATE KEY" => rs::RsaKeyPair::from_der(&der)
                .map_err(|e| format!("PKCS#1 RSA private key: {e}"))?,
            "ENCRYPTED PRIVATE KEY" => return Err(format!("PEM {label:?}: {encrypted}")),
            other => {
                return Err(format!(
                    "PEM {other:?}: expected an RSA private key (PRIVATE KEY or RSA PRIVATE KEY)"
                ))
            }
        };
        Ok(RsaKey::new(pair))
    }

    fn new(pair: rs::RsaKeyPair) -> RsaKey {
        let public_der = pair.public().as_ref().to_vec();
        let comps: rs::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
        let n = URL_SAFE_NO_PAD.encode(&comps.n);
        let e = URL_SAFE_NO_PAD.encode(&comps.e);
        RsaKey {
            public_pem: pem("PUBLIC KEY", &pkix_der(&public_der)),
            kid: thumbprint(&n, &e),
            public_der,
            pair,
            n,
            e,
        }
    }

    /// Read and parse the key file at `path`.
    pub fn load(path: &Path) -> std::io::Result<Result<RsaKey, String>> {
        use std::io::Read as _;
        let mut bytes = Vec::new();
        std::fs::File::open(path)?
            .take(KEY_FILE_BYTES_MAX + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > KEY_FILE_BYTES_MAX {
            return Ok(Err(format!("larger than {KEY_FILE_BYTES_MAX} bytes")));
        }
        if bytes.is_empty() {
            return Ok(Err("private key file is empty".into()));
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return Ok(Err(
                "not a PEM file (binary; AIS's passphrase-encrypted key files are not supported)"
                    .into(),
            ));
        };
        Ok(RsaKey::from_pem(text))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn bits(&self) -> usize {
        self.pair.public().modulus_len() * 8
    }

    /// PKCS#1 `RSAPublicKey` DER, for `net::jwt::VerifyKey::Rsa`.
    pub fn public_der(&self) -> &[u8] {
        &self.public_der
    }

    /// The public key, PKIX PEM (`GET /v1/public-key`, `AIS_AUTHN_PUBLIC_KEY` on the nodes).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The public JWK, as AIS's JWKS lists it.
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "alg": "RS256",
            "e": self.e,
            "kid": self.kid,
            "kty": "RSA",
            "n": self.n,
            "use": "sig",
        })
    }

    /// The JWKS (`GET /.well-known/jwks.json`): this one key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.jwk()] })
    }

    /// `claims` signed with RS256, header `{"alg":"RS256","kid":..,"typ":"JWT"}`.
    pub fn sign(&self, claims: &Claims) -> String {
        net::jwt::sign_rs256(claims, &self.pair, Some(&self.kid))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::Command;

    /// `openssl` with `args` in `dir`; its stdout.
    pub(crate) fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl CLI");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// A new 2048-bit key in `dir/name` (PKCS#8 PEM).
    pub(crate) fn genkey(dir: &Path, name: &str) -> std::path::PathBuf {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                name,
            ],
        );
        dir.join(name)
    }

    #[test]
    fn pkcs8_and_pkcs1_keys_give_openssl_s_public_key_and_verifiable_tokens() {
        let d = tempfile::tempdir().unwrap();
        let p8 = genkey(d.path(), "k8.pem");
        openssl(
            d.path(),
            &["pkey", "-in", "k8.pem", "-traditional", "-out", "k1.pem"],
        );
        let want_pem =
            String::from_utf8(openssl(d.path(), &["pkey", "-in", "k8.pem", "-pubout"])).unwrap();
        let k8 = RsaKey::load(&p8).unwrap().unwrap();
        let k1 = RsaKey::load(&d.path().join("k1.pem")).unwrap().unwrap();
        assert!(std::fs::read_to_string(d.path().join("k1.pem"))
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY"));
        assert_eq!(k8.public_pem(), want_pem, "PKIX PEM as openssl writes it");
        assert_eq!(k1.public_pem(), want_pem);
        assert_eq!((k8.kid(), k8.bits()), (k1.kid(), 2048));
        // The nodes' parser takes the PEM and verifies our tokens with it.
        let der = net::jwt::rsa_public_key(k8.public_pem()).unwrap();
        assert_eq!(der, k8.public_der());
        let claims = Claims {
            sub: "alice".into(),
            exp: Some(2_000_000_000),
            iat: Some(1_900_000_000),
            ..Default::default()
        };
        let t = k8.sign(&claims);
        let got = net::jwt::verify(&t, net::jwt::VerifyKey::Rsa(&der), 1_950_000_000).unwrap();
        assert_eq!(got, claims);
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(t.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg":"RS256","kid":k8.kid(),"typ":"JWT"})
        );
        assert!(
            t.starts_with("eyJhbGciOiJSUzI1NiIsImtpZCI6"),
            "alg, kid, typ in this order"
        );
        // openssl agrees with the signature (an independent RS256 check).
        let (signed, sig) = t.rsplit_once('.').unwrap();
        std::fs::write(d.path().join("signed"), signed).unwrap();
        std::fs::write(d.path().join("sig"), URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        std::fs::write(d.path().join("pub.pem"), &want_pem).unwrap();
        openssl(
            d.path(),
            &[
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-signature",
                "sig",
                "signed",
            ],
        );
        // Another key's public key refuses it.
        let other = RsaKey::load(&genkey(d.path(), "other.pem"))
            .unwrap()
            .unwrap();
        assert_ne!(other.kid(), k8.kid());
        assert_eq!(
            net::jwt::verify(
                &t,
                net::jwt::VerifyKey::Rsa(other.public_der()),
                1_950_000_000
            ),
            Err(net::jwt::JwtError::Signature)
        );
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint_and_the_jwk_has_openssl_s_modulus() {
        let d = tempfile::tempdir().unwrap();
        let k = RsaKey::load(&genkey(d.path(), "k.pem")).unwrap().unwrap();
        let modulus = String::from_utf8(openssl(
            d.path(),
            &["rsa", "-in", "k.pem", "-noout", "-modulus"],
        ))
        .unwrap();
        let hex = modulus.trim().strip_prefix("Modulus=").unwrap();
        let n_bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let jwk = k.jwk();
        assert_eq!(jwk["n"], URL_SAFE_NO_PAD.encode(&n_bytes));
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(
            (
                jwk["kty"].as_str(),
                jwk["use"].as_str(),
                jwk["alg"].as_str()
            ),
            (Some("RSA"), Some("sig"), Some("RS256"))
        );
        // RFC 7638 §3.1: the canonical JSON is the required members in lexical order, no
        // whitespace; hashed here independently of `thumbprint`.
        let canonical = format!(
            "{{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"{}\"}}",
            jwk["n"].as_str().unwrap()
        );
        std::fs::write(d.path().join("c.json"), canonical).unwrap();
        let digest = openssl(d.path(), &["dgst", "-sha256", "-binary", "c.json"]);
        assert_eq!(k.kid(), URL_SAFE_NO_PAD.encode(digest));
        assert_eq!(jwk["kid"], k.kid());
        assert_eq!(k.jwks()["keys"][0], jwk);
    }

    #[test]
    fn thumbprint_matches_rfc7638_s_example() {
        // RFC 7638 §3.1: the RSA key of RFC 7517 Appendix A.1 and its SHA-256 thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn refuses_encrypted_and_foreign_keys_by_name() {
        let d = tempfile::tempdir().unwrap();
        genkey(d.path(), "k.pem");
        openssl(
            d.path(),
            &[
                "pkey",
                "-in",
                "k.pem",
                "-aes256",
                "-passout",
                "pass:secret-pass",
                "-out",
                "enc8.pem",
            ],
        );
        let e = RsaKey::load(&d.path().join("enc8.pem"))
            .unwrap()
            .unwrap_err();
        assert!(
            e.contains("ENCRYPTED PRIVATE KEY") && e.contains("encrypted"),
            "{e}"
        );
        openssl(
            d.path(),
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ec.pem",
            ],
        );
        let e = RsaKey::load(&d.path().join("ec.pem")).unwrap().unwrap_err();
        assert!(e.contains("EC PRIVATE KEY"), "{e}");
        openssl(
            d.path(),
            &["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"],
        );
        let e = RsaKey::load(&d.path().join("pub.pem"))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("PUBLIC KEY"), "{e}");
        std::fs::write(d.path().join("blob"), [0u8, 0xff, 3, 4]).unwrap();
        let e = RsaKey::load(&d.path().join("blob")).unwrap().unwrap_err();
        assert!(e.contains("not a PEM file"), "{e}");
        std::fs::write(d.path().join("empty"), "").unwrap();
        assert!(RsaKey::load(&d.path().join("empty")).unwrap().is_err());
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let e = RsaKey::from_pem(legacy).unwrap_err();
        assert!(e.contains("encrypted"), "{e}");
        assert!(RsaKey::load(&d.path().join("missing")).is_err());
    }
}

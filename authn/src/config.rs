//! AuthN's configuration: `authn.json` in AIS's shape (api/authn/config.go in NVIDIA/aistore;
//! docs/authn-wire.md §7), the environment variables that override it, and the checks made at
//! start.
//!
//! # Invariants
//!
//! * A running service has a signer, chosen as AIS's `initSigner` chooses: the HMAC secret
//!   (`AIS_AUTHN_SECRET_KEY`, else `auth.secret`) selects HS256; without one, the RSA private
//!   key (`AIS_AUTHN_PRIVATE_KEY_FILE`, else `<config dir>/authn_rsa.key`) is loaded and
//!   tokens are RS256. Also a port in 1024..=65535 and `1m <= expiration_time <= max_token_age`.
//! * The file keeps what the operator wrote: values from the environment are applied on top
//!   and never written back (a secret from `AIS_AUTHN_SECRET_KEY` stays out of the file).
//!
//! # What this module does not do
//!
//! * No HTTPS (`net.http.use_https` is refused at start, by name), no log files (logs go to
//!   stderr).
//! * No RSA key generation (ring cannot): where AIS's AuthN would generate and save a key (no
//!   key file, `signing_key.mode` not "external"), start is refused with the `openssl` line
//!   that makes one. No encrypted keys (`AIS_AUTHN_PRIVATE_KEY_PASS` is refused by name).
//!   `auth.public_key` is kept for AIS's shape and not used.

use crate::signer::{genkey_hint, RsaKey};
use cluster::meta::config::Dur;
use net::jwt::{Claims, JwtError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The file name in the configuration directory.
pub const CONFIG_FILE: &str = "authn.json";
/// The database file in the configuration directory (unless `auth.db.filepath` names one).
pub const DB_FILE: &str = "authn.db.json";
/// The RSA private key in the configuration directory unless `AIS_AUTHN_PRIVATE_KEY_FILE`
/// names one (AIS `fname.AuthNRSAKey`).
pub const RSA_KEY_FILE: &str = "authn_rsa.key";
/// Smallest (and default) RSA key size, bits (AIS `cos.RSAKeyMinBits`).
pub const RSA_BITS_MIN: u32 = 2048;
/// `auth.signing_key.mode` for a key managed outside AuthN (AIS `SigningKeyModeExternal`).
pub const SIGNING_KEY_EXTERNAL: &str = "external";
pub const PORT_DEFAULT: u16 = 52001;
pub const PORT_MIN: u16 = 1024;
/// Shortest token lifetime a login may ask for (AIS `MinAuthExpiration`).
pub const EXPIRY_MIN: Duration = Duration::from_secs(60);
/// Longest `authn.json` read.
pub const CONFIG_BYTES_MAX: u64 = 1 << 20;

const HOUR: u64 = 3600;

/// `authn.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub log: LogConf,
    pub net: NetConf,
    pub auth: AuthConf,
    pub timeout: TimeoutConf,
}

/// `log`: kept for AIS's shape; logs go to stderr (`AIS_LOG` sets the filter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConf {
    pub dir: String,
    pub level: String,
    pub max_size: serde_json::Value,
    pub max_total: serde_json::Value,
    pub flush_interval: serde_json::Value,
}

impl Default for LogConf {
    fn default() -> Self {
        LogConf {
            dir: String::new(),
            level: "3".into(),
            max_size: "4mb".into(),
            max_total: "64mb".into(),
            flush_interval: "30s".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetConf {
    /// The `iss` of every token; default `http://localhost:<port>`.
    pub external_url: String,
    pub http: HttpConf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConf {
    pub port: u16,
    pub use_https: bool,
    pub server_crt: String,
    pub server_key: String,
}

impl Default for HttpConf {
    fn default() -> Self {
        HttpConf {
            port: PORT_DEFAULT,
            use_https: false,
            server_crt: String::new(),
            server_key: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConf {
    /// The HMAC secret (HS256); `AIS_AUTHN_SECRET_KEY` overrides it.
    pub secret: String,
    /// Lifetime of a token when the login asks for none.
    pub expiration_time: Dur,
    /// Longest lifetime a login may ask for (and what `expires_in: 0` gets).
    pub max_token_age: Dur,
    /// AIS keeps it for validating a public key against clusters; not used.
    pub public_key: Option<String>,
    /// Deprecated in AIS for `signing_key.bits`.
    #[serde(skip_serializing_if = "is_zero")]
    pub rsa_key_bits: u32,
    /// The RSA signing key: its size (for the `openssl` hint; AIS generates keys of it) and
    /// whether it is managed outside AuthN (`mode: "external"`).
    pub signing_key: SigningKeyConf,
    pub db: DbConf,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// `auth.signing_key` (AIS `SigningKeyConf`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SigningKeyConf {
    #[serde(skip_serializing_if = "is_zero")]
    pub bits: u32,
    /// "" or "external".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
}

impl SigningKeyConf {
    /// The key size in effect (0: the default; else `rsa_key_bits`, AIS's older name).
    fn bits(&self, legacy: u32) -> u32 {
        match (self.bits, legacy) {
            (0, 0) => RSA_BITS_MIN,
            (0, b) | (b, _) => b,
        }
    }
}

impl Default for AuthConf {
    fn default() -> Self {
        AuthConf {
            secret: String::new(),
            expiration_time: Dur(Duration::from_secs(24 * HOUR)),
            max_token_age: Dur(Duration::from_secs(2160 * HOUR)),
            public_key: None,
            rsa_key_bits: 0,
            signing_key: SigningKeyConf::default(),
            db: DbConf::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DbConf {
    /// "" or "json" (AIS's BuntDB is not read).
    #[serde(rename = "type")]
    pub db_type: String,
    pub filepath: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeoutConf {
    /// Timeout of each call to a cluster.
    pub default_timeout: Dur,
}

impl Default for TimeoutConf {
    fn default() -> Self {
        TimeoutConf {
            default_timeout: Dur(Duration::from_secs(30)),
        }
    }
}

/// `PUT /v1/daemon`: AIS `ConfigToUpdate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigToUpdate {
    #[serde(default)]
    pub auth: Option<AuthToUpdate>,
    #[serde(default)]
    pub log: Option<LogToUpdate>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthToUpdate {
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub expiration_time: Option<Dur>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogToUpdate {
    #[serde(default)]
    pub level: Option<String>,
}

/// The environment variables AuthN reads (AIS's names).
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub su_name: Option<String>,
    pub su_pass: Option<String>,
    pub secret: Option<String>,
    pub port: Option<String>,
    pub external_url: Option<String>,
    pub use_https: Option<String>,
    pub private_key_file: Option<String>,
    pub private_key_pass: Option<String>,
    pub conf_dir: Option<String>,
}

impl Env {
    pub fn from_process() -> Env {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            su_name: get("AIS_AUTHN_SU_NAME"),
            su_pass: get("AIS_AUTHN_SU_PASS"),
            secret: get("AIS_AUTHN_SECRET_KEY"),
            port: get("AIS_AUTHN_PORT"),
            external_url: get("AIS_AUTHN_EXTERNAL_URL"),
            use_https: get("AIS_AUTHN_USE_HTTPS"),
            private_key_file: get("AIS_AUTHN_PRIVATE_KEY_FILE"),
            // Set, even empty, is refused as AIS validates a set passphrase.
            private_key_pass: std::env::var("AIS_AUTHN_PRIVATE_KEY_PASS").ok(),
            conf_dir: get("AIS_AUTHN_CONF_DIR"),
        }
    }
}

/// The configuration in effect: the file's values with the environment applied.
#[derive(Debug, Clone)]
pub struct Effective {
    /// As read from (and written back to) the file.
    pub file: Config,
    pub file_path: PathBuf,
    pub db_path: PathBuf,
    pub port: u16,
    /// The HMAC secret: when non-empty, tokens are HS256.
    pub secret: String,
    /// The RSA key loaded at start when there was no secret (tokens are RS256 while `secret`
    /// is empty; `PUT /v1/daemon` with a secret switches to HS256, as AIS's AuthN does).
    pub rsa: Option<Arc<RsaKey>>,
    /// Where the RSA key was read from.
    pub rsa_path: Option<PathBuf>,
    pub issuer: String,
}

/// Where the configuration lives: `-config <dir|file>`, else `AIS_AUTHN_CONF_DIR`.
pub fn config_path(arg: Option<&str>, env: &Env) -> Result<PathBuf, String> {
    let raw = arg
        .map(str::to_owned)
        .or_else(|| env.conf_dir.clone())
        .ok_or("no configuration: pass -config <dir|file> or set AIS_AUTHN_CONF_DIR")?;
    let p = PathBuf::from(raw);
    Ok(if p.is_dir() { p.join(CONFIG_FILE) } else { p })
}

fn truthy(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "y" | "yes" | "on"
    )
}

/// Read the file at `path` (missing: defaults) and apply `env`; refuse what this service
/// cannot do, by name.
pub fn load(path: &Path, env: &Env) -> Result<Effective, String> {
    let file: Config = match std::fs::File::open(path) {
        Ok(f) => {
            use std::io::Read as _;
            let mut bytes = Vec::new();
            f.take(CONFIG_BYTES_MAX + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if bytes.len() as u64 > CONFIG_BYTES_MAX {
                return Err(format!(
                    "{}: larger than {CONFIG_BYTES_MAX} bytes",
                    path.display()
                ));
            }
            let de = &mut serde_json::Deserializer::from_slice(&bytes);
            serde_path_to_error::deserialize(de)
                .map_err(|e| format!("{}: {}: {}", path.display(), e.path(), e.inner()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    effective(file, path, env)
}

/// Apply `env` to `file` and check the result.
pub fn effective(file: Config, path: &Path, env: &Env) -> Result<Effective, String> {
    let https = file.net.http.use_https || env.use_https.as_deref().is_some_and(truthy);
    if https {
        return Err("net.http.use_https (or AIS_AUTHN_USE_HTTPS) is set: HTTPS for AuthN itself is not supported yet; serve it over HTTP on a trusted network or behind a TLS proxy".into());
    }
    let port = match &env.port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("AIS_AUTHN_PORT={p:?} is not a port number"))?,
        None => file.net.http.port,
    };
    if port < PORT_MIN {
        return Err(format!("port {port} is out of range {PORT_MIN}..=65535"));
    }
    let sk = &file.auth.signing_key;
    let bits = sk.bits(file.auth.rsa_key_bits);
    if bits < RSA_BITS_MIN {
        return Err(format!(
            "invalid auth.signing_key.bits={bits} (must be >= {RSA_BITS_MIN})"
        ));
    }
    if !sk.mode.is_empty() && sk.mode != SIGNING_KEY_EXTERNAL {
        return Err(format!(
            "invalid auth.signing_key.mode={:?} (valid values: {SIGNING_KEY_EXTERNAL:?} or empty)",
            sk.mode
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let secret = env
        .secret
        .clone()
        .unwrap_or_else(|| file.auth.secret.clone());
    let (rsa, rsa_path) = if secret.is_empty() {
        let key_path = env
            .private_key_file
            .as_deref()
            .map_or_else(|| dir.join(RSA_KEY_FILE), PathBuf::from);
        let key = load_rsa(&key_path, sk.mode == SIGNING_KEY_EXTERNAL, bits, env)?;
        (Some(Arc::new(key)), Some(key_path))
    } else {
        (None, None)
    };
    check_expiry(&file.auth)?;
    match file.auth.db.db_type.as_str() {
        "" | "json" => {}
        t => {
            return Err(format!(
                "auth.db.type {t:?} is not supported (this AuthN keeps its database in a JSON file; leave it empty)"
            ))
        }
    }
    let db_path = if file.auth.db.filepath.is_empty() {
        dir.join(DB_FILE)
    } else {
        PathBuf::from(&file.auth.db.filepath)
    };
    let issuer = env
        .external_url
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            if file.net.external_url.is_empty() {
                format!("http://localhost:{port}")
            } else {
                file.net.external_url.clone()
            }
        });
    Ok(Effective {
        file_path: path.to_owned(),
        db_path,
        port,
        secret,
        rsa,
        rsa_path,
        issuer,
        file,
    })
}

/// The RSA signing key at `path`, or why there is none (AIS `RSAKeyManager.Init`, less the
/// generation).
fn load_rsa(path: &Path, external: bool, bits: u32, env: &Env) -> Result<RsaKey, String> {
    if env.private_key_pass.is_some() {
        return Err(format!(
            "AIS_AUTHN_PRIVATE_KEY_PASS is set: passphrase-encrypted RSA keys are not supported by this AuthN; unset it and give an unencrypted PKCS#8 or PKCS#1 PEM key at {} (AIS_AUTHN_PRIVATE_KEY_FILE), or set AIS_AUTHN_SECRET_KEY to sign with HS256",
            path.display()
        ));
    }
    match RsaKey::load(path) {
        Ok(Ok(k)) => Ok(k),
        Ok(Err(e)) => Err(format!(
            "failed to load RSA key from file {:?}: {e}",
            path.display().to_string()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let why = if external {
                format!("RSA key not found at {:?} and auto-generation is disabled (auth.signing_key.mode {SIGNING_KEY_EXTERNAL:?}); pre-provision the key at that path", path.display().to_string())
            } else {
                format!("no HMAC secret (AIS_AUTHN_SECRET_KEY or auth.secret) and no RSA private key at {:?} (AIS_AUTHN_PRIVATE_KEY_FILE): AIS's AuthN would generate one, this one cannot (ring has no RSA key generation)", path.display().to_string())
            };
            Err(format!(
                "{why}; make one with `{}` and start again",
                genkey_hint(path, bits)
            ))
        }
        Err(e) => Err(format!(
            "failed to load RSA key from file {:?}: {e}",
            path.display().to_string()
        )),
    }
}

fn check_expiry(a: &AuthConf) -> Result<(), String> {
    if a.expiration_time.0 < EXPIRY_MIN {
        return Err(format!(
            "auth.expiration_time {} is shorter than the minimum {}",
            a.expiration_time,
            Dur(EXPIRY_MIN)
        ));
    }
    if a.expiration_time > a.max_token_age {
        return Err(format!(
            "auth.expiration_time {} exceeds auth.max_token_age {}",
            a.expiration_time, a.max_token_age
        ));
    }
    Ok(())
}

impl Effective {
    /// The RSA key when tokens are RS256 (no HMAC secret).
    pub fn rsa(&self) -> Option<&RsaKey> {
        self.rsa.as_deref().filter(|_| self.secret.is_empty())
    }

    /// The signing algorithm in effect.
    pub fn alg(&self) -> &'static str {
        if self.rsa().is_some() {
            "RS256"
        } else {
            "HS256"
        }
    }

    /// `claims` signed with the signer in effect.
    pub fn sign(&self, claims: &Claims) -> String {
        match self.rsa() {
            Some(k) => k.sign(claims),
            None => net::jwt::sign_hs256(claims, self.secret.as_bytes()),
        }
    }

    /// The claims of `token` if the signer in effect signed it and it has not expired.
    pub fn verify(&self, token: &str, now_s: i64) -> Result<Claims, JwtError> {
        let key = match self.rsa() {
            Some(k) => net::jwt::VerifyKey::Rsa(k.public_der()),
            None => net::jwt::VerifyKey::Hmac(self.secret.as_bytes()),
        };
        net::jwt::verify(token, key, now_s)
    }

    /// The body of `POST /v1/tokens` to a cluster (AIS `ValidationConf`): the SHA-256 of the
    /// HMAC secret, or the public key's PEM. Nodes ignore it.
    pub fn validation_body(&self) -> serde_json::Value {
        match self.rsa() {
            Some(k) => serde_json::json!({ "secret": "", "public_key": k.public_pem() }),
            None => {
                use sha2::Digest as _;
                let sum = sha2::Sha256::digest(self.secret.as_bytes());
                serde_json::json!({ "secret": net::hex::encode(&sum), "public_key": null })
            }
        }
    }

    /// Apply `PUT /v1/daemon`: a new secret (switches the signer), a new default expiry, a
    /// log level. Checked as a whole first; the file is written by the caller.
    pub fn update(&mut self, u: &ConfigToUpdate) -> Result<(), String> {
        let mut file = self.file.clone();
        let mut secret = self.secret.clone();
        if let Some(a) = &u.auth {
            if let Some(s) = &a.secret {
                if s.is_empty() {
                    return Err("auth.secret: empty secret".into());
                }
                file.auth.secret.clone_from(s);
                secret.clone_from(s);
            }
            if let Some(e) = a.expiration_time {
                file.auth.expiration_time = e;
            }
        }
        if let Some(l) = &u.log {
            if let Some(level) = &l.level {
                match level.parse::<u8>() {
                    Ok(0..=5) => file.log.level.clone_from(level),
                    _ => return Err(format!("log.level {level:?}: expected 0 to 5")),
                }
            }
        }
        check_expiry(&file.auth)?;
        self.file = file;
        self.secret = secret;
        Ok(())
    }

    /// The configuration as `GET /v1/daemon` shows it: the secret censored.
    pub fn shown(&self) -> Config {
        let mut c = self.file.clone();
        if !c.auth.secret.is_empty() {
            c.auth.secret = "**********".into();
        }
        c.net.http.port = self.port;
        c.net.external_url.clone_from(&self.issuer);
        c
    }

    /// Write the file's configuration (atomically).
    pub fn save(&self) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.file).expect("config serializes");
        crate::store::write_atomic(&self.file_path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with_secret() -> Env {
        Env {
            secret: Some("s3cret".into()),
            ..Default::default()
        }
    }

    #[test]
    fn reads_ais_s_authn_json_with_env_on_top() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(CONFIG_FILE);
        std::fs::write(
            &p,
            r#"{"log":{"dir":"/var/log/ais/authn/","level":"3","max_size":"4mb","max_total":"64mb","flush_interval":"30s"},
 "net":{"external_url":"","http":{"port":52001,"use_https":false,"server_crt":"","server_key":""}},
 "auth":{"secret":"from-file","expiration_time":"24h","max_token_age":"2160h","public_key":null,
         "signing_key":{"bits":2048,"mode":""},"db":{"type":"","filepath":""}},
 "timeout":{"default_timeout":"30s"}}"#,
        )
        .unwrap();
        let e = load(&p, &Env::default()).unwrap();
        assert_eq!((e.port, e.secret.as_str()), (52001, "from-file"));
        assert_eq!(e.issuer, "http://localhost:52001");
        assert_eq!(e.db_path, d.path().join(DB_FILE));
        assert_eq!(e.file.auth.expiration_time.0, Duration::from_secs(86400));
        let env = Env {
            port: Some("12345".into()),
            external_url: Some("http://authn.example:1".into()),
            ..env_with_secret()
        };
        let e = load(&p, &env).unwrap();
        assert_eq!(
            (e.port, e.secret.as_str(), e.issuer.as_str()),
            (12345, "s3cret", "http://authn.example:1")
        );
        assert_eq!(
            e.file.auth.secret, "from-file",
            "the env secret never goes to the file"
        );
        assert_eq!(e.shown().auth.secret, "**********");
        // -config takes a directory or the file.
        assert_eq!(
            config_path(Some(d.path().to_str().unwrap()), &Env::default()).unwrap(),
            p
        );
        assert_eq!(
            config_path(Some(p.to_str().unwrap()), &Env::default()).unwrap(),
            p
        );
        assert!(config_path(None, &Env::default()).is_err());
    }

    #[test]
    fn refuses_what_it_cannot_do_by_name() {
        let p = Path::new("/nonexistent/authn.json");
        let e = load(p, &Env::default()).unwrap_err();
        assert!(
            e.contains("AIS_AUTHN_SECRET_KEY")
                && e.contains("/nonexistent/authn_rsa.key")
                && e.contains("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048"),
            "{e}"
        );
        let mut c = Config::default();
        c.net.http.use_https = true;
        let e = effective(c, p, &env_with_secret()).unwrap_err();
        assert!(e.contains("use_https"), "{e}");
        let env = Env {
            use_https: Some("true".into()),
            ..env_with_secret()
        };
        assert!(effective(Config::default(), p, &env)
            .unwrap_err()
            .contains("use_https"));
        let env = Env {
            port: Some("80".into()),
            ..env_with_secret()
        };
        assert!(effective(Config::default(), p, &env).is_err());
        let mut c = Config::default();
        c.auth.expiration_time = Dur(Duration::from_secs(30));
        assert!(effective(c, p, &env_with_secret())
            .unwrap_err()
            .contains("minimum"));
        let mut c = Config::default();
        c.auth.expiration_time = Dur(Duration::from_secs(3 * 2160 * HOUR));
        assert!(effective(c, p, &env_with_secret())
            .unwrap_err()
            .contains("max_token_age"));
        let mut c = Config::default();
        c.auth.db.db_type = "buntdb".into();
        assert!(effective(c, p, &env_with_secret())
            .unwrap_err()
            .contains("auth.db.type"));
        let d = tempfile::tempdir().unwrap();
        let bad = d.path().join("authn.json");
        std::fs::write(&bad, r#"{"auth":{"expiration_time":"soon"}}"#).unwrap();
        assert!(load(&bad, &env_with_secret())
            .unwrap_err()
            .contains("auth.expiration_time"));
    }

    #[test]
    fn the_signer_is_chosen_as_ais_chooses_it() {
        use crate::signer::tests::{genkey, openssl};
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(CONFIG_FILE);
        // No secret, no key: refused with the way to make one, sized as configured.
        let mut c = Config::default();
        c.auth.signing_key.bits = 4096;
        let e = effective(c.clone(), &p, &Env::default()).unwrap_err();
        assert!(
            e.contains("rsa_keygen_bits:4096") && e.contains(RSA_KEY_FILE) && e.contains("cannot"),
            "{e}"
        );
        c.auth.signing_key.mode = SIGNING_KEY_EXTERNAL.into();
        let e = effective(c, &p, &Env::default()).unwrap_err();
        assert!(e.contains("auto-generation is disabled"), "{e}");
        // The key in the configuration directory: RS256.
        genkey(d.path(), RSA_KEY_FILE);
        let e = effective(Config::default(), &p, &Env::default()).unwrap();
        assert_eq!(e.alg(), "RS256");
        let k = e.rsa().unwrap();
        assert_eq!(
            e.rsa_path.as_deref(),
            Some(d.path().join(RSA_KEY_FILE).as_path())
        );
        let claims = Claims {
            sub: "bob".into(),
            exp: Some(i64::MAX / 2),
            ..Default::default()
        };
        let t = e.sign(&claims);
        assert_eq!(e.verify(&t, 0).unwrap(), claims);
        let v = e.validation_body();
        assert_eq!(
            (v["secret"].as_str(), v["public_key"].as_str()),
            (Some(""), Some(k.public_pem()))
        );
        // AIS_AUTHN_PRIVATE_KEY_FILE names another key.
        genkey(d.path(), "other.pem");
        let env = Env {
            private_key_file: Some(d.path().join("other.pem").display().to_string()),
            ..Default::default()
        };
        let e2 = effective(Config::default(), &p, &env).unwrap();
        assert_ne!(e2.rsa().unwrap().kid(), k.kid());
        assert!(e2.verify(&t, 0).is_err(), "another key refuses the token");
        // A bad key file is refused with its path.
        std::fs::write(d.path().join("bad.pem"), "garbage").unwrap();
        let env = Env {
            private_key_file: Some(d.path().join("bad.pem").display().to_string()),
            ..Default::default()
        };
        let e = effective(Config::default(), &p, &env).unwrap_err();
        assert!(e.contains("bad.pem") && e.contains("not a PEM file"), "{e}");
        // A passphrase is refused by name with RSA, unused with HMAC (AIS reads it only for RSA).
        let env = Env {
            private_key_pass: Some("long-pass-phrase".into()),
            ..Default::default()
        };
        let e = effective(Config::default(), &p, &env).unwrap_err();
        assert!(e.contains("AIS_AUTHN_PRIVATE_KEY_PASS"), "{e}");
        let env = Env {
            private_key_pass: Some("long-pass-phrase".into()),
            ..env_with_secret()
        };
        let mut e = effective(Config::default(), &p, &env).unwrap();
        // The secret wins over a present key: HS256, no public key.
        assert!(e.rsa().is_none() && e.rsa.is_none());
        assert_eq!(e.alg(), "HS256");
        let t = e.sign(&claims);
        assert_eq!(net::jwt::verify_hs256(&t, b"s3cret", 0).unwrap(), claims);
        assert_eq!(e.validation_body()["secret"].as_str().unwrap().len(), 64);
        // PUT /v1/daemon with a secret switches an RSA signer to HS256, as AIS's does.
        let mut r = effective(Config::default(), &p, &Env::default()).unwrap();
        let u: ConfigToUpdate = serde_json::from_str(r#"{"auth":{"secret":"new"}}"#).unwrap();
        r.update(&u).unwrap();
        assert_eq!(r.alg(), "HS256");
        e.update(&u).unwrap();
        assert_eq!(r.sign(&claims), e.sign(&claims));
        // signing_key as AIS validates it; an encrypted key file is refused by name.
        let mut c = Config::default();
        c.auth.signing_key.bits = 1024;
        assert!(effective(c, &p, &env_with_secret())
            .unwrap_err()
            .contains("auth.signing_key.bits=1024"));
        let mut c = Config::default();
        c.auth.rsa_key_bits = 1024;
        assert!(
            effective(c, &p, &env_with_secret()).is_err(),
            "the legacy name counts"
        );
        let mut c = Config::default();
        c.auth.signing_key.mode = "hsm".into();
        assert!(effective(c, &p, &env_with_secret())
            .unwrap_err()
            .contains("auth.signing_key.mode"));
        openssl(
            d.path(),
            &[
                "pkey",
                "-in",
                RSA_KEY_FILE,
                "-aes256",
                "-passout",
                "pass:pass-phrase",
                "-out",
                "enc.pem",
            ],
        );
        let env = Env {
            private_key_file: Some(d.path().join("enc.pem").display().to_string()),
            ..Default::default()
        };
        let e = effective(Config::default(), &p, &env).unwrap_err();
        assert!(e.contains("ENCRYPTED PRIVATE KEY"), "{e}");
        // The file keeps AIS's shape: an empty signing_key is written as {}.
        let v = serde_json::to_value(Config::default()).unwrap();
        assert_eq!(v["auth"]["signing_key"], serde_json::json!({}));
        assert!(v["auth"].get("rsa_key_bits").is_none());
    }

    #[test]
    fn updates_are_checked_as_a_whole() {
        let p = Path::new("/x/authn.json");
        let mut e = effective(Config::default(), p, &env_with_secret()).unwrap();
        let u: ConfigToUpdate = serde_json::from_str(
            r#"{"auth":{"secret":"new","expiration_time":"2h"},"log":{"level":"4"}}"#,
        )
        .unwrap();
        e.update(&u).unwrap();
        assert_eq!((e.secret.as_str(), e.file.log.level.as_str()), ("new", "4"));
        assert_eq!(e.file.auth.expiration_time.0, Duration::from_secs(2 * HOUR));
        let bad: ConfigToUpdate =
            serde_json::from_str(r#"{"auth":{"secret":"newer","expiration_time":"10s"}}"#).unwrap();
        assert!(e.update(&bad).is_err());
        assert_eq!(e.secret, "new", "a refused update changes nothing");
        assert!(serde_json::from_str::<ConfigToUpdate>(r#"{"net":{}}"#).is_err());
    }
}

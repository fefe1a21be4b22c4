//! [`S3Config`]: where the S3 backend sends requests and with which credentials, read once at
//! startup from the environment and the AWS shared files, with the precedence of the AWS SDKs
//! that AIS's AWS backend uses:
//!
//! * profile: `AWS_PROFILE`, else `AWS_DEFAULT_PROFILE`, else `default`;
//! * credentials: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else
//!   the profile in the credentials files, else in the config files; none: anonymous
//!   (unsigned) requests;
//! * region: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's `region`, else
//!   `us-east-1`;
//! * endpoint: `S3_ENDPOINT` (AIS's global override), else `AWS_ENDPOINT_URL_S3`, else
//!   `AWS_ENDPOINT_URL`, else the profile's `endpoint_url`, else AWS itself. A custom endpoint
//!   is addressed path-style (`http://host:port/bucket/key`), AWS virtual-hosted
//!   (`bucket.s3.region.amazonaws.com`).
//!
//! Files: with `AIS_S3_CONFIG_DIR` set, as in AIS, every regular file in that directory whose
//! name contains `conf` is a config file and every one whose name contains `cred` a credentials
//! file (in name order; a later file's keys override an earlier one's), and the default files
//! are not read. Otherwise `AWS_CONFIG_FILE` (default `~/.aws/config`) and
//! `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`); a missing file is no error.
//! In config files a profile is `[profile NAME]` (`[default]` for the default one), in
//! credentials files `[NAME]`.
//!
//! Not read: `credential_process`, SSO, web identity, instance metadata (IMDS), `role_arn`.

use super::BackendError;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Default deadline of one backend operation (each socket operation of a streamed body has
/// this deadline on its own).
pub const S3_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// The region when nothing names one (the AWS SDKs' global default).
pub const S3_REGION_DEFAULT: &str = "us-east-1";
/// Largest AWS config or credentials file read.
pub const S3_CONFIG_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// Settings of an [`super::S3Backend`].
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// `http://host[:port][/base]` of an S3-compatible server; `None`: AWS.
    pub endpoint: Option<String>,
    pub region: String,
    /// Empty: anonymous (unsigned) requests.
    pub access_key: String,
    pub secret_key: String,
    /// Empty: none.
    pub session_token: String,
    /// `http://host/bucket/key` rather than `http://bucket.host/key`.
    pub path_style: bool,
    /// Deadline of one operation (connect, send the head, receive the response head) and of
    /// each socket operation while a body streams.
    pub timeout_ms: u64,
    /// The profile read (for messages).
    pub profile: String,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: S3_REGION_DEFAULT.to_owned(),
            access_key: String::new(),
            secret_key: String::new(),
            session_token: String::new(),
            path_style: false,
            timeout_ms: S3_TIMEOUT_MS_DEFAULT,
            profile: "default".to_owned(),
        }
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("session_token", &(!self.session_token.is_empty()))
            .field("path_style", &self.path_style)
            .field("timeout_ms", &self.timeout_ms)
            .field("profile", &self.profile)
            .finish()
    }
}

/// `profile -> key -> value` of one kind of file (config or credentials), merged over files.
type Sections = HashMap<String, HashMap<String, String>>;

fn config_error(message: String) -> BackendError {
    BackendError::new(500, "InvalidConfig", message, "config")
}

impl S3Config {
    /// An anonymous configuration for an S3-compatible endpoint, addressed path-style.
    pub fn for_endpoint(endpoint: &str) -> S3Config {
        S3Config {
            endpoint: Some(endpoint.to_owned()),
            path_style: true,
            ..S3Config::default()
        }
    }

    /// The same configuration with credentials.
    pub fn with_credentials(mut self, access_key: &str, secret_key: &str) -> S3Config {
        self.access_key = access_key.to_owned();
        self.secret_key = secret_key.to_owned();
        self
    }

    /// From the process environment and the AWS files (see the module docs).
    pub fn from_env() -> Result<S3Config, BackendError> {
        S3Config::from_vars(&|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// From the environment as `var` gives it (`HOME` included), for tests.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<S3Config, BackendError> {
        let profile = var("AWS_PROFILE")
            .or_else(|| var("AWS_DEFAULT_PROFILE"))
            .unwrap_or_else(|| "default".to_owned());
        let (config_files, cred_files) = files(var)?;
        let mut config = Sections::new();
        for f in &config_files {
            read_ini(f, true, &mut config)?;
        }
        let mut creds = Sections::new();
        for f in &cred_files {
            read_ini(f, false, &mut creds)?;
        }
        let explicit = var("AWS_PROFILE").is_some() || var("AWS_DEFAULT_PROFILE").is_some();
        if explicit
            && profile != "default"
            && !config.contains_key(&profile)
            && !creds.contains_key(&profile)
        {
            return Err(config_error(format!(
                "AWS profile {profile:?} is in none of the config files {config_files:?} \
                 nor the credentials files {cred_files:?}"
            )));
        }
        let from_files = |key: &str| -> Option<String> {
            creds
                .get(&profile)
                .and_then(|s| s.get(key))
                .or_else(|| config.get(&profile).and_then(|s| s.get(key)))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let mut cfg = S3Config {
            profile: profile.clone(),
            ..S3Config::default()
        };
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(ak), Some(sk)) => {
                cfg.access_key = ak;
                cfg.secret_key = sk;
                cfg.session_token = var("AWS_SESSION_TOKEN").unwrap_or_default();
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(config_error(
                    "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set".to_owned(),
                ))
            }
            (None, None) => {
                match (
                    from_files("aws_access_key_id"),
                    from_files("aws_secret_access_key"),
                ) {
                    (Some(ak), Some(sk)) => {
                        cfg.access_key = ak;
                        cfg.secret_key = sk;
                        cfg.session_token = from_files("aws_session_token").unwrap_or_default();
                    }
                    (None, None) => {}
                    _ => {
                        return Err(config_error(format!(
                            "AWS profile {profile:?} has only one of aws_access_key_id and \
                             aws_secret_access_key"
                        )))
                    }
                }
            }
        }
        if let Some(r) = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .or_else(|| from_files("region"))
        {
            cfg.region = r;
        }
        let endpoint = var("S3_ENDPOINT")
            .or_else(|| var("AWS_ENDPOINT_URL_S3"))
            .or_else(|| var("AWS_ENDPOINT_URL"))
            .or_else(|| from_files("endpoint_url"));
        if let Some(ep) = endpoint {
            cfg.endpoint = Some(ep.trim_end_matches('/').to_owned());
            cfg.path_style = true;
        }
        Ok(cfg)
    }
}

/// The config and credentials files to read, in order.
fn files(
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), BackendError> {
    if let Some(dir) = var("AIS_S3_CONFIG_DIR") {
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| config_error(format!("AIS_S3_CONFIG_DIR {dir}: {e}")))?;
        let mut names: Vec<(String, PathBuf)> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        names.sort();
        let conf = names
            .iter()
            .filter(|(n, _)| n.contains("conf"))
            .map(|(_, p)| p.clone())
            .collect();
        let cred = names
            .iter()
            .filter(|(n, _)| n.contains("cred"))
            .map(|(_, p)| p.clone())
            .collect();
        return Ok((conf, cred));
    }
    let home = var("HOME").map(PathBuf::from);
    let default = |name: &str| home.as_ref().map(|h| h.join(".aws").join(name));
    let conf = var("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| default("config"));
    let cred = var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| default("credentials"));
    Ok((conf.into_iter().collect(), cred.into_iter().collect()))
}

/// Merge the profiles of one INI file into `out`. `config_file`: sections are `[profile X]`
/// (and `[default]`); otherwise `[X]`. A missing file is skipped.
fn read_ini(path: &Path, config_file: bool, out: &mut Sections) -> Result<(), BackendError> {
    let text = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(config_error(format!("{}: {e}", path.display()))),
        Ok(m) if m.len() > S3_CONFIG_FILE_BYTES_MAX => {
            return Err(config_error(format!(
                "{}: {} bytes, more than S3_CONFIG_FILE_BYTES_MAX ({S3_CONFIG_FILE_BYTES_MAX})",
                path.display(),
                m.len()
            )))
        }
        Ok(_) => std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("{}: {e}", path.display())))?,
    };
    parse_ini(&text, config_file, out)
        .map_err(|(line, what)| config_error(format!("{} line {line}: {what}", path.display())))
}

/// The INI subset the AWS files use: `[section]`, `key = value`, `#`/`;` comments, and
/// indented continuation lines (nested settings such as `s3 =\n  addressing_style = path`,
/// which are skipped). Keys are case-insensitive.
fn parse_ini(text: &str, config_file: bool, out: &mut Sections) -> Result<(), (usize, String)> {
    // `None`: outside any profile we use (e.g. `[sso-session x]`), keys are skipped.
    let mut section: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| (i + 1, format!("unterminated section header {line:?}")))?
                .trim();
            section = if config_file {
                match name.strip_prefix("profile ") {
                    Some(p) => Some(p.trim().to_owned()),
                    None if name == "default" => Some(name.to_owned()),
                    None => None,
                }
            } else {
                Some(name.to_owned())
            };
            if let Some(s) = &section {
                out.entry(s.clone()).or_default();
            }
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            continue; // a nested setting's continuation
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| (i + 1, format!("expected key = value, got {line:?}")))?;
        let Some(s) = &section else { continue };
        out.entry(s.clone())
            .or_default()
            .insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn home_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(".aws")).unwrap();
        for (name, text) in files {
            std::fs::write(d.path().join(".aws").join(name), text).unwrap();
        }
        d
    }

    const CONFIG: &str = "[default]\nregion = eu-west-1\n\n[profile other]\nregion = ap-south-1\n\
        endpoint_url = http://127.0.0.1:9000/\ns3 =\n  addressing_style = path\n\
        [sso-session x]\nregion = nowhere\n";
    const CREDS: &str =
        "# comment\n[default]\naws_access_key_id = AKD\naws_secret_access_key = SKD\n\
        [other]\naws_access_key_id=AKO\naws_secret_access_key=SKO\naws_session_token=TOK\n";

    #[test]
    fn nothing_configured_is_anonymous_aws_us_east_1() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        let cfg = S3Config::from_vars(&vars(&[("HOME", h)])).unwrap();
        assert_eq!(cfg, S3Config::default());
        assert!(cfg.access_key.is_empty() && cfg.endpoint.is_none() && !cfg.path_style);
    }

    #[test]
    fn default_profile_from_the_home_files() {
        let home = home_with(&[("config", CONFIG), ("credentials", CREDS)]);
        let h = home.path().to_str().unwrap();
        let cfg = S3Config::from_vars(&vars(&[("HOME", h)])).unwrap();
        assert_eq!(
            (cfg.access_key.as_str(), cfg.secret_key.as_str()),
            ("AKD", "SKD")
        );
        assert_eq!(cfg.region, "eu-west-1");
        assert_eq!(cfg.endpoint, None);
        assert!(!format!("{cfg:?}").contains("SKD"));
    }

    #[test]
    fn named_profile_gives_keys_token_region_and_endpoint() {
        let home = home_with(&[("config", CONFIG), ("credentials", CREDS)]);
        let h = home.path().to_str().unwrap();
        let cfg = S3Config::from_vars(&vars(&[("HOME", h), ("AWS_PROFILE", "other")])).unwrap();
        assert_eq!(cfg.access_key, "AKO");
        assert_eq!(cfg.session_token, "TOK");
        assert_eq!(cfg.region, "ap-south-1");
        assert_eq!(cfg.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(cfg.path_style);
        assert_eq!(cfg.profile, "other");
    }

    #[test]
    fn environment_overrides_the_files() {
        let home = home_with(&[("config", CONFIG), ("credentials", CREDS)]);
        let h = home.path().to_str().unwrap();
        let cfg = S3Config::from_vars(&vars(&[
            ("HOME", h),
            ("AWS_PROFILE", "other"),
            ("AWS_ACCESS_KEY_ID", "AKE"),
            ("AWS_SECRET_ACCESS_KEY", "SKE"),
            ("AWS_SESSION_TOKEN", "TOKE"),
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("AWS_ENDPOINT_URL", "http://10.0.0.1:80"),
            ("S3_ENDPOINT", "http://127.0.0.2:8080"),
        ]))
        .unwrap();
        assert_eq!(
            (
                cfg.access_key.as_str(),
                cfg.secret_key.as_str(),
                cfg.session_token.as_str()
            ),
            ("AKE", "SKE", "TOKE")
        );
        assert_eq!(cfg.region, "us-west-2");
        assert_eq!(cfg.endpoint.as_deref(), Some("http://127.0.0.2:8080"));
        // AWS_REGION wins over AWS_DEFAULT_REGION; AWS_ENDPOINT_URL is used without S3_ENDPOINT.
        let cfg = S3Config::from_vars(&vars(&[
            ("HOME", h),
            ("AWS_REGION", "eu-north-1"),
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("AWS_ENDPOINT_URL", "http://10.0.0.1:80"),
        ]))
        .unwrap();
        assert_eq!(cfg.region, "eu-north-1");
        assert_eq!(cfg.endpoint.as_deref(), Some("http://10.0.0.1:80"));
        assert_eq!(cfg.access_key, "AKD");
    }

    #[test]
    fn ais_s3_config_dir_replaces_the_default_files() {
        let home = home_with(&[("config", CONFIG), ("credentials", CREDS)]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a-credentials"),
            "[default]\naws_access_key_id = AK1\naws_secret_access_key = SK1\n",
        )
        .unwrap();
        // Later names override earlier ones.
        std::fs::write(
            dir.path().join("b-creds"),
            "[default]\naws_access_key_id = AK2\naws_secret_access_key = SK2\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("my.conf"),
            "[default]\nregion = sa-east-1\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("README"), "not = read\n[").unwrap();
        let v = vars(&[
            ("HOME", home.path().to_str().unwrap()),
            ("AIS_S3_CONFIG_DIR", dir.path().to_str().unwrap()),
        ]);
        let cfg = S3Config::from_vars(&v).unwrap();
        assert_eq!(cfg.access_key, "AK2");
        assert_eq!(cfg.region, "sa-east-1");
        let missing = vars(&[("AIS_S3_CONFIG_DIR", "/nonexistent/ais-s3")]);
        let e = S3Config::from_vars(&missing).unwrap_err();
        assert!(e.message.contains("/nonexistent/ais-s3"), "{e}");
    }

    #[test]
    fn bad_configurations_are_errors_naming_the_cause() {
        let home = home_with(&[("config", CONFIG), ("credentials", CREDS)]);
        let h = home.path().to_str().unwrap();
        let e = S3Config::from_vars(&vars(&[("HOME", h), ("AWS_PROFILE", "nope")])).unwrap_err();
        assert!(e.message.contains("\"nope\""), "{e}");
        let e =
            S3Config::from_vars(&vars(&[("HOME", h), ("AWS_ACCESS_KEY_ID", "AK")])).unwrap_err();
        assert!(e.message.contains("AWS_SECRET_ACCESS_KEY"), "{e}");
        let bad = home_with(&[("credentials", "[default]\naws_access_key_id\n")]);
        let e = S3Config::from_vars(&vars(&[("HOME", bad.path().to_str().unwrap())])).unwrap_err();
        assert!(e.message.contains("line 2"), "{e}");
        let half = home_with(&[("credentials", "[default]\naws_access_key_id = A\n")]);
        let e = S3Config::from_vars(&vars(&[("HOME", half.path().to_str().unwrap())])).unwrap_err();
        assert!(e.message.contains("only one of"), "{e}");
    }
}

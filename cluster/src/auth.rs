//! Client authentication with AIS AuthN tokens (issue 18): the node's signing key, token
//! validation (signature, expiry, revocation), the revoked-token list and the node's own
//! token for intra-cluster calls.
//!
//! - The key is HS256's shared secret from `AIS_AUTHN_SECRET_KEY` (AIS's variable), read
//!   once at start; it is never in the config, logs or answers. Without it, authentication
//!   cannot be enabled, and a node that finds it enabled in the cluster config refuses
//!   every checked request (fail closed).
//! - Checked requests (the cluster config's `auth.client_auth_required`): every client request
//!   a proxy takes (and a target takes without a proxy: `Ais-Direct`), native and S3; the
//!   permission each one needs is the caller's (`cluster::meta::access`). Nodes calling each
//!   other carry [`node_token`], an admin token of the node signed with the same key.
//! - Revocation: `DELETE /v1/tokens` adds a token to this process's list and the node that
//!   took it passes it to every node of the cluster map.

use crate::meta::access;
use net::jwt::{self, Claims, JwtError};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// AIS's environment variable for AuthN's HMAC signing key (HS256 tokens).
pub const ENV_SECRET: &str = "AIS_AUTHN_SECRET_KEY";
/// AIS's environment variable for AuthN's RSA public key (RS256/384/512 tokens): PEM, or the
/// base64 of the PKIX DER. Takes precedence over the secret for clients' tokens, as in AIS.
pub const ENV_PUBLIC_KEY: &str = "AIS_AUTHN_PUBLIC_KEY";
/// The nodes' own shared key (node tokens, signed redirects); default: the AuthN secret.
/// Needed with an RSA public key, which cannot sign.
pub const ENV_INTRA_KEY: &str = "AIS_INTRA_CLUSTER_KEY";
/// Lifetime of a node's own token; it is signed again when less than half is left.
pub const NODE_TOKEN_TTL_S: i64 = 600;
/// Revoked tokens kept at most (each until it expires; beyond this the oldest expiry goes).
pub const REVOKED_MAX: usize = 100_000;

/// Why a request is refused: 401 (no token, or not a valid one) or 403 (not allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub status: u16,
    pub message: String,
}

fn unauthorized(message: impl Into<String>) -> Denied {
    Denied {
        status: 401,
        message: message.into(),
    }
}

fn env_bytes(name: &str) -> Option<Vec<u8>> {
    std::env::var(name)
        .ok()
        .filter(|k| !k.is_empty())
        .map(String::into_bytes)
}

/// The key nodes sign their own tokens and the proxies their redirects with (HMAC):
/// [`ENV_INTRA_KEY`], else [`ENV_SECRET`]. Without it nothing a node sends can be told from
/// what a client sends, and authentication cannot be on.
pub fn secret() -> Option<&'static [u8]> {
    static KEY: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    KEY.get_or_init(|| env_bytes(ENV_INTRA_KEY).or_else(|| env_bytes(ENV_SECRET)))
        .as_deref()
}

/// What verifies clients' tokens: AuthN's RSA public key ([`ENV_PUBLIC_KEY`]) or its HMAC
/// secret ([`ENV_SECRET`]); an unparsable public key is an error ([`check_keys`]).
/// The client key as read from the environment: (is RSA, key bytes), or why it is unusable.
type ClientKey = Result<Option<(bool, Vec<u8>)>, String>;

fn client_key_parsed() -> &'static ClientKey {
    static KEY: OnceLock<ClientKey> = OnceLock::new();
    KEY.get_or_init(|| {
        if let Ok(pem) = std::env::var(ENV_PUBLIC_KEY) {
            if !pem.trim().is_empty() {
                return jwt::rsa_public_key(&pem)
                    .map(|k| Some((true, k)))
                    .map_err(|e| format!("{ENV_PUBLIC_KEY}: {e}"));
            }
        }
        Ok(env_bytes(ENV_SECRET).map(|k| (false, k)))
    })
}

/// The key of clients' tokens, if this node has one.
pub fn client_key() -> Option<jwt::VerifyKey<'static>> {
    match client_key_parsed() {
        Ok(Some((true, k))) => Some(jwt::VerifyKey::Rsa(k)),
        Ok(Some((false, k))) => Some(jwt::VerifyKey::Hmac(k)),
        _ => None,
    }
}

/// At start: the keys in the environment are usable (a bad public key stops the node).
pub fn check_keys() -> Result<(), String> {
    client_key_parsed()
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// Why authentication cannot be turned on with this node's keys, if it cannot.
pub fn keys_missing() -> Option<String> {
    if client_key().is_none() {
        return Some(format!(
            "this node has no key for clients' tokens: start every node with {ENV_SECRET} (HS256) or {ENV_PUBLIC_KEY} (RS256)"
        ));
    }
    if secret().is_none() {
        return Some(format!(
            "this node has no key of its own for intra-cluster calls: with {ENV_PUBLIC_KEY}, start every node with {ENV_INTRA_KEY} too"
        ));
    }
    None
}

/// Verify `token` (no revocation check): a client's with the client key, or a node's own
/// (HS256 with [`secret`]).
fn verify_any(token: &str, now: i64) -> Result<Claims, JwtError> {
    let first = match client_key() {
        Some(k) => jwt::verify(token, k, now),
        None => Err(JwtError::Signature),
    };
    match (first, secret()) {
        (Ok(c), _) => Ok(c),
        (Err(e), Some(k)) => match jwt::verify_hs256(token, k, now) {
            Ok(c) if c.sub.starts_with(NODE_SUB_PREFIX) => Ok(c),
            _ => Err(e),
        },
        (Err(e), None) => Err(e),
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Revoked tokens and when each expires (after which it is refused anyway and dropped).
fn revoked() -> &'static Mutex<HashMap<String, i64>> {
    static R: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Add tokens to the revoked list (invalid ones are ignored: they are refused anyway);
/// whether any was new.
pub fn revoke(tokens: &[String]) -> bool {
    if client_key().is_none() && secret().is_none() {
        return false;
    }
    let now = now_s();
    let mut r = revoked().lock().expect("revoked list lock");
    r.retain(|_, exp| *exp > now);
    let mut added = false;
    for t in tokens {
        if let Ok(c) = verify_any(t, now) {
            added |= r.insert(t.clone(), c.exp.unwrap_or(now)).is_none();
        }
    }
    while r.len() > REVOKED_MAX {
        let oldest = r
            .iter()
            .min_by_key(|(_, e)| **e)
            .map(|(t, _)| t.clone())
            .expect("non-empty");
        r.remove(&oldest);
    }
    added
}

/// The revoked tokens that have not expired yet.
pub fn revoked_tokens() -> Vec<String> {
    let now = now_s();
    let mut r = revoked().lock().expect("revoked list lock");
    r.retain(|_, exp| *exp > now);
    r.keys().cloned().collect()
}

/// The revoked list as AIS's `TokenList` (what `DELETE /v1/tokens` takes and metasync
/// carries as `Tokens`).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TokenList {
    #[serde(default)]
    pub tokens: Vec<String>,
    #[serde(default)]
    pub version: String,
}

/// File in the node's `conf/` keeping the revoked list across restarts.
pub const REVOKED_FILE: &str = ".ais.revoked";

/// Write the revoked list to `conf/` (on the blocking thread): a restarted node keeps
/// refusing what was revoked, and metasync hands the list to nodes that join later.
pub async fn persist_revoked(node: &crate::daemon::Node) {
    let list = TokenList {
        tokens: revoked_tokens(),
        version: "0".into(),
    };
    let path = node.confdir.join(REVOKED_FILE);
    let r = glommio::executor()
        .spawn_blocking(move || crate::node::store::persist(&path, 2, &list))
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "revoked tokens not persisted");
    }
}

/// Load the revoked list persisted in `confdir` (at start, before serving).
pub fn load_revoked(confdir: &std::path::Path) -> Result<usize, String> {
    let list: Option<TokenList> =
        crate::node::store::load(&confdir.join(REVOKED_FILE)).map_err(|e| e.to_string())?;
    let tokens = list.map(|l| l.tokens).unwrap_or_default();
    revoke(&tokens);
    Ok(tokens.len())
}

/// The claims of a valid token: signed with this node's key, not expired, not revoked.
pub fn validate(token: &str) -> Result<Claims, Denied> {
    if client_key().is_none() && secret().is_none() {
        return Err(unauthorized(format!(
            "authentication is enabled but this node has no key ({ENV_SECRET} or {ENV_PUBLIC_KEY})"
        )));
    }
    let claims = verify_any(token, now_s())
        .map_err(|e: JwtError| unauthorized(format!("invalid token: {e}")))?;
    if revoked()
        .lock()
        .expect("revoked list lock")
        .contains_key(token)
    {
        return Err(unauthorized("invalid token: token revoked"));
    }
    Ok(claims)
}

/// The token a request carries: `Authorization: Bearer <token>`, else (S3 clients)
/// `X-Amz-Security-Token`.
pub fn token_of<'a>(authorization: Option<&'a str>, amz_token: Option<&'a str>) -> Option<&'a str> {
    authorization
        .and_then(jwt::bearer)
        .or(amz_token.filter(|t| !t.is_empty()))
}

/// Check a request that needs `perms` (on bucket `bck`: name and provider, for bucket bits)
/// in cluster `cluster_uuid` and carries `token`.
pub fn check(
    token: Option<&str>,
    cluster_uuid: &str,
    bck: Option<(&str, &str)>,
    perms: u64,
) -> Result<Claims, Denied> {
    let token = token.ok_or_else(|| unauthorized("token required"))?;
    let claims = validate(token)?;
    access::token_allows(&claims, cluster_uuid, bck, perms).map_err(|message| Denied {
        status: 403,
        message,
    })?;
    Ok(claims)
}

/// This node's admin token for calls to other nodes (none without a key), signed again when
/// half its lifetime is gone.
pub fn node_token() -> Option<String> {
    let key = secret()?;
    static CACHE: OnceLock<Mutex<Option<(String, i64)>>> = OnceLock::new();
    let now = now_s();
    let mut c = CACHE
        .get_or_init(|| Mutex::new(None))
        .lock()
        .expect("node token lock");
    if let Some((t, exp)) = &*c {
        if *exp - now > NODE_TOKEN_TTL_S / 2 {
            return Some(t.clone());
        }
    }
    let claims = Claims {
        admin: true,
        sub: format!("{NODE_SUB_PREFIX}{}", std::process::id()),
        exp: Some(now + NODE_TOKEN_TTL_S),
        iat: Some(now),
        ..Default::default()
    };
    let t = jwt::sign_hs256(&claims, key);
    *c = Some((t.clone(), now + NODE_TOKEN_TTL_S));
    Some(t)
}

/// `sub` of a node's own token ([`node_token`]); AuthN user names cannot contain `/`.
pub const NODE_SUB_PREFIX: &str = "aisnode/";

/// Whether `authorization` (the header) carries a valid token of a node of this cluster
/// (signed with the key, not expired, [`NODE_SUB_PREFIX`]).
pub fn from_node(authorization: Option<&str>) -> bool {
    authorization
        .and_then(jwt::bearer)
        .and_then(|t| validate(t).ok())
        .is_some_and(|c| c.admin && c.sub.starts_with(NODE_SUB_PREFIX))
}

/// Query parameter a proxy appends (last) to a redirect it checked: the HMAC of the method,
/// the decoded path and the query before it (which ends with `pid` and `utm`). A target
/// serves a signed redirect without checking the client again; with a key configured, an
/// unsigned `pid`/`utm` is no proof of anything.
pub const QPARAM_SIG: &str = "sig";
/// Header a node adds to a request it streams on to a target (S3 requests a proxy passes
/// through, get-from-neighbour): `<utm>.<HMAC of method, decoded path, query and utm>`.
pub const HDR_FORWARD_SIG: &str = "Ais-Forward-Sig";
/// How long after the proxy issued it a signed redirect or forward is honoured.
pub const SIGNED_TTL_S: i64 = 600;

fn sig_parts<'a>(
    kind: &'a [u8],
    method: &'a str,
    path: &'a str,
    query: &'a str,
    utm: &'a str,
) -> [&'a [u8]; 9] {
    [
        kind,
        b"\n",
        method.as_bytes(),
        b"\n",
        path.as_bytes(),
        b"?",
        query.as_bytes(),
        b"\n",
        utm.as_bytes(),
    ]
}

/// `utm` (base 36 Unix nanoseconds) is no older than [`SIGNED_TTL_S`] nor in the future
/// beyond the same skew.
fn fresh(utm: &str) -> bool {
    let Ok(ns) = u64::from_str_radix(utm, 36) else {
        return false;
    };
    let age_s = now_s() - (ns / 1_000_000_000) as i64;
    age_s.abs() <= SIGNED_TTL_S
}

/// The `sig` value of a redirect of `method` to `path` (decoded) `?query` (ending with
/// `utm=<utm>`); `None` without a key.
pub fn sign_redirect(method: &str, path: &str, query: &str, utm: &str) -> Option<String> {
    let key = secret()?;
    Some(jwt::hmac_b64(
        key,
        &sig_parts(b"redirect", method, path, query, utm),
    ))
}

/// Whether a request on a target carries this cluster's redirect signature: `query` is the
/// raw query, whose last parameter is `sig`; `utm` its `utm` parameter.
pub fn redirect_signed(method: &str, path: &str, query: &str, utm: Option<&str>) -> bool {
    let (Some(key), Some(utm)) = (secret(), utm) else {
        return false;
    };
    let Some(i) = query.rfind("&sig=") else {
        return false;
    };
    let (signed, sig) = (&query[..i], &query[i + 5..]);
    fresh(utm) && jwt::hmac_b64_ok(key, &sig_parts(b"redirect", method, path, signed, utm), sig)
}

/// The [`HDR_FORWARD_SIG`] value for passing `method path?query` on; `None` without a key.
pub fn sign_forward(method: &str, path: &str, query: &str) -> Option<String> {
    let key = secret()?;
    let utm = net::time::base36(net::time::now_unix_ns() as u64);
    let sig = jwt::hmac_b64(key, &sig_parts(b"forward", method, path, query, &utm));
    Some(format!("{utm}.{sig}"))
}

/// Whether `header` is a valid [`HDR_FORWARD_SIG`] for `method path?query`.
pub fn forward_signed(method: &str, path: &str, query: &str, header: Option<&str>) -> bool {
    let (Some(key), Some((utm, sig))) = (secret(), header.and_then(|h| h.split_once('.'))) else {
        return false;
    };
    fresh(utm) && jwt::hmac_b64_ok(key, &sig_parts(b"forward", method, path, query, utm), sig)
}

/// `Authorization` with this node's token, for calls to other nodes made outside
/// `crate::intra` (raw transfers); `None` without a key.
pub fn node_authorization() -> Option<String> {
    node_token().map(|t| format!("Bearer {t}"))
}

/// Marks a revocation passed on by another node (not passed on again).
pub const HDR_REVOKE_RELAYED: &str = "Ais-Revoke-Relayed";

/// Pass revoked `tokens` to every other node of the cluster map (best effort: a node that
/// does not answer now gets none; its copy of the list is in memory only).
pub async fn relay_revoked(node: &std::sync::Arc<crate::daemon::Node>, tokens: &[String]) {
    #[derive(serde::Serialize)]
    struct TokenList<'a> {
        tokens: &'a [String],
        version: &'static str,
    }
    let body = serde_json::to_vec(&TokenList {
        tokens,
        version: "0",
    })
    .expect("token list serializes");
    let smap = node.smap.load();
    let me = [node.proxy_id.as_str(), node.target_id.as_str()];
    for sn in smap.pmap.values().chain(smap.tmap.values()) {
        if me.contains(&sn.daemon_id.as_str()) {
            continue;
        }
        let url = format!("{}/v1/tokens", sn.intra_control_net.direct_url);
        let hdrs = [
            ("Content-Type", "application/json"),
            (HDR_REVOKE_RELAYED, "true"),
        ];
        if let Err(e) = crate::intra::call("DELETE", &url, &hdrs, &body).await {
            tracing::warn!(node = %sn.daemon_id, error = %e, "revoked tokens not passed on");
        }
    }
}

//! AuthN's HTTP API (cmd/authn/hserv.go in NVIDIA/aistore; docs/authn-wire.md §3): routes,
//! who may call each one, tokens (claims §4, expiry rules), cluster registration and the
//! revocation push. Sans-socket: [`Service::handle`] takes a parsed request and returns the
//! response, so every rule here is tested without a server.
//!
//! # Invariants
//!
//! * Every authentication or authorization failure is 401, as AIS's AuthN answers it (not
//!   403): no token, a token that fails the signature or expiry check, a revoked token, a
//!   non-admin token where an admin is needed.
//! * The state lock is never held across a call to a cluster or a bcrypt verification: a
//!   registration checks, calls the cluster, then stores (checking again); a revocation stores
//!   the token, then pushes it.
//! * A revocation is pushed to every registered cluster before it is acknowledged, so a
//!   client that logged out finds its token refused by the cluster at once.
//!
//! # What this module does not do
//!
//! * Key rotation: `POST /v1/rotate-key` answers 400 with an RSA signer, as AIS's AuthN does
//!   for an externally provisioned key (this one cannot generate keys), and 400 with an HMAC
//!   signer, as AIS's. `GET /v1/public-key` and `GET /.well-known/jwks.json` answer 400 with
//!   an HMAC signer, as AIS's.

use crate::aisreq::{self, TokenList};
use crate::config::{ConfigToUpdate, Effective, EXPIRY_MIN};
use crate::store::{CluAcl, Db, Fail, Role, UserMsg, UserView, ADMIN_ROLE};
use net::jwt::{self, AclBucket, AclNamespace, BucketAcl, Claims, ClusterAcl};
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// AuthN's own token for calls to a cluster lives this long (AIS `selfTokenTTL`).
pub const SELF_TOKEN_TTL_S: i64 = 300;
/// The subject of AuthN's own token.
pub const SELF_SUBJECT: &str = "AuthN";
/// The name in error bodies (`node`) and in messages.
pub const SERVICE_NAME: &str = "AuthN";

/// A request as the server parsed it.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Raw path (percent-encoded), without the query.
    pub path: &'a str,
    pub authorization: Option<&'a str>,
    pub amz_token: Option<&'a str>,
    pub remote_addr: &'a str,
    pub body: &'a [u8],
}

/// A response: status, extra headers, body (JSON when `json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub json: bool,
}

impl Response {
    fn ok() -> Response {
        Response {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
            json: false,
        }
    }
    fn json<T: Serialize>(v: &T) -> Response {
        let mut body = serde_json::to_vec(v).expect("response serializes");
        body.push(b'\n');
        Response {
            body,
            json: true,
            ..Response::ok()
        }
    }
}

/// `POST /v1/users/{id}`.
#[derive(Debug, Deserialize)]
struct LoginMsg {
    #[serde(default)]
    password: Option<String>,
    /// Nanoseconds; `null`: the configured default.
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct TokenMsg {
    #[serde(default)]
    token: Option<String>,
}

#[derive(Serialize)]
struct RegisteredClusters {
    clusters: std::collections::BTreeMap<String, CluAcl>,
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What the service holds: the database and the configuration in effect.
#[derive(Debug)]
pub struct State {
    pub db: Db,
    pub cfg: Effective,
}

/// The AuthN service.
#[derive(Debug)]
pub struct Service {
    state: Mutex<State>,
}

type Result<T> = std::result::Result<T, Fail>;

fn unauthorized(m: impl Into<String>) -> Fail {
    Fail::new(401, m)
}

fn parse<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Fail::new(400, format!("invalid JSON body: {e}")))
}

/// The one item after a route prefix (`/v1/users/bob` → `bob`), percent-decoded; `None` for
/// the collection itself; 400 for more than one item.
fn item(rest: &str) -> Result<Option<String>> {
    let rest = rest.trim_matches('/');
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.contains('/') {
        return Err(Fail::new(400, "invalid request: too many path items"));
    }
    net::http::percent_decode_path(rest)
        .map(Some)
        .map_err(|e| Fail::new(400, format!("invalid path item {rest:?}: {e}")))
}

fn need_item(rest: &str) -> Result<String> {
    item(rest)?.ok_or_else(|| Fail::new(400, "invalid request: the path names no item"))
}

/// 405 naming the methods `allow`ed (also in `Allow`).
fn method_not_allowed(req: &Request, allow: &'static str) -> Response {
    let f = Fail::new(
        405,
        format!(
            "{} {}: method not allowed (allowed: {allow})",
            req.method, req.path
        ),
    );
    let mut r = error_body(&f, req);
    r.headers.push(("Allow", allow.to_owned()));
    r
}

/// AIS's JSON error body.
pub fn error_body(f: &Fail, req: &Request) -> Response {
    let body = net::api::ErrBody {
        tcode: "",
        message: &f.message,
        method: req.method,
        url_path: req.path,
        remote_addr: req.remote_addr,
        caller: "",
        node: SERVICE_NAME,
        status: f.status,
    }
    .to_json();
    Response {
        status: f.status,
        headers: Vec::new(),
        body: body.into_bytes(),
        json: true,
    }
}

impl Service {
    pub fn new(db: Db, cfg: Effective) -> Service {
        Service {
            state: Mutex::new(State { db, cfg }),
        }
    }

    /// The state, for reading or a short change (never held across I/O to a cluster).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock aborts the process (panic = "abort"), so it is never poisoned.
        self.state.lock().expect("state lock")
    }

    pub fn handle(&self, req: &Request) -> Response {
        match self.route(req) {
            Ok(r) => r,
            Err(f) => {
                if f.status >= 500 {
                    tracing::error!(
                        method = req.method,
                        path = req.path,
                        status = f.status,
                        "{}",
                        f.message
                    );
                }
                error_body(&f, req)
            }
        }
    }

    fn route(&self, req: &Request) -> Result<Response> {
        let path = req.path;
        let m = req.method;
        let seg = |prefix: &str| -> Option<&str> {
            let rest = path.strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some(rest)
        };
        if let Some(rest) = seg("/v1/users") {
            return match m {
                "POST" => match item(rest)? {
                    None => self.add_user(req),
                    Some(id) => self.login(&id, req),
                },
                "GET" => match item(rest)? {
                    None => self.list_users(req),
                    Some(id) => self.get_user(&id, req),
                },
                "PUT" => self.update_user(&need_item(rest)?, req),
                "DELETE" => self.delete_user(&need_item(rest)?, req),
                _ => Ok(method_not_allowed(req, "DELETE, GET, POST, PUT")),
            };
        }
        if let Some(rest) = seg("/v1/roles") {
            return match m {
                "GET" => match item(rest)? {
                    None => Ok(Response::json(&self.lock().db.roles())),
                    Some(name) => Ok(Response::json(&self.lock().db.role(&name)?)),
                },
                "POST" => self.add_role(rest, req),
                "PUT" => self.update_role(&need_item(rest)?, req),
                "DELETE" => self.delete_role(&need_item(rest)?, req),
                _ => Ok(method_not_allowed(req, "DELETE, GET, POST, PUT")),
            };
        }
        if let Some(rest) = seg("/v1/clusters") {
            return match m {
                "GET" => self.get_clusters(rest),
                "POST" => self.register_cluster(rest, req),
                "PUT" => self.update_cluster(&need_item(rest)?, req),
                "DELETE" => self.delete_cluster(rest, req),
                _ => Ok(method_not_allowed(req, "DELETE, GET, POST, PUT")),
            };
        }
        if let Some(rest) = seg("/v1/tokens") {
            item(rest)?.map_or(Ok(()), |_| {
                Err(Fail::new(400, "invalid request: too many path items"))
            })?;
            return match m {
                "DELETE" => self.revoke(req),
                _ => Ok(method_not_allowed(req, "DELETE")),
            };
        }
        if let Some(rest) = seg("/v1/daemon") {
            item(rest)?.map_or(Ok(()), |_| {
                Err(Fail::new(400, "invalid request: too many path items"))
            })?;
            return match m {
                "GET" => {
                    self.admin(req)?;
                    Ok(Response::json(&self.lock().cfg.shown()))
                }
                "PUT" => self.update_config(req),
                _ => Ok(method_not_allowed(req, "GET, PUT")),
            };
        }
        if seg("/.well-known/openid-configuration").is_some() {
            if m != "GET" {
                return Ok(method_not_allowed(req, "GET"));
            }
            let iss = self.lock().cfg.issuer.trim_end_matches('/').to_owned();
            return Ok(Response::json(&serde_json::json!({
                "issuer": iss,
                "token_endpoint": format!("{iss}/v1/tokens"),
                "userinfo_endpoint": format!("{iss}/v1/users"),
                "jwks_uri": format!("{iss}/.well-known/jwks.json"),
                "id_token_signing_alg_values_supported": ["HS256", "RS256"],
            })));
        }
        if seg("/.well-known/jwks.json").is_some() {
            if m != "GET" {
                return Ok(method_not_allowed(req, "GET"));
            }
            let st = self.lock();
            let key = st.cfg.rsa().ok_or_else(|| {
                Fail::new(400, "JWKS not available for current signing method (HS256)")
            })?;
            let mut r = Response::json(&key.jwks());
            r.headers.push((
                "Cache-Control",
                format!("max-age={}, public", crate::signer::JWKS_MAX_AGE_S),
            ));
            return Ok(r);
        }
        if seg("/v1/public-key").is_some() {
            if m != "GET" {
                return Ok(method_not_allowed(req, "GET"));
            }
            let st = self.lock();
            let key = st.cfg.rsa().ok_or_else(|| {
                Fail::new(
                    400,
                    "current signing method does not have a public key (HS256)",
                )
            })?;
            return Ok(Response::json(
                &serde_json::json!({ "public_key": key.public_pem() }),
            ));
        }
        if seg("/v1/rotate-key").is_some() {
            if m != "POST" {
                return Ok(method_not_allowed(req, "POST"));
            }
            self.admin(req)?;
            let st = self.lock();
            return Err(match (st.cfg.rsa(), &st.cfg.rsa_path) {
                (Some(k), Some(path)) => Fail::new(
                    400,
                    format!(
                        "key rotation is not supported when the RSA key is externally provisioned (this AuthN does not generate RSA keys: to rotate, replace {} with a new key, e.g. `{}`, restart AuthN and give the nodes the new public key; current key id {})",
                        path.display(),
                        crate::signer::genkey_hint(path, k.bits() as u32),
                        k.kid()
                    ),
                ),
                _ => Fail::new(400, "rotation not supported for current signing method (HS256)"),
            });
        }
        Err(Fail::new(
            404,
            format!("{} {path}: no such AuthN endpoint", req.method),
        ))
    }

    // ---- tokens --------------------------------------------------------------------------

    /// The claims of the request's token: signed with our secret, not expired, not revoked.
    fn claims(&self, req: &Request) -> Result<Claims> {
        let token = req
            .authorization
            .and_then(jwt::bearer)
            .or(req.amz_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| unauthorized("token required"))?;
        let st = self.lock();
        if st.db.is_revoked(token) {
            return Err(unauthorized(
                "not authorized (invalid token: token revoked)",
            ));
        }
        st.cfg
            .verify(token, now_s())
            .map_err(|e| unauthorized(format!("not authorized (invalid token: {e})")))
    }

    fn admin(&self, req: &Request) -> Result<Claims> {
        let c = self.claims(req)?;
        if !c.admin {
            return Err(unauthorized(format!(
                "not authorized: requires admin (user {}, {})",
                c.sub,
                expires_in(&c)
            )));
        }
        Ok(c)
    }

    fn login(&self, id: &str, req: &Request) -> Result<Response> {
        let msg: LoginMsg = parse(req.body)?;
        let password = msg.password.unwrap_or_default();
        if password.is_empty() {
            return Err(unauthorized("empty password"));
        }
        let wrap = |f: Fail| f.failed_to("generate token for", id);
        let hash = self.lock().db.t.users.get(id).map(|u| u.pass.clone());
        let ok = hash.is_some_and(|h| crate::store::password_matches(&password, &h));
        if !ok {
            return Err(wrap(unauthorized("invalid credentials")));
        }
        let st = self.lock();
        let user = st
            .db
            .user(id)
            .map_err(|_| wrap(unauthorized("invalid credentials")))?;
        let now = now_s();
        let exp = expiry(&st.cfg, msg.expires_in, now).map_err(wrap)?;
        let mut claims = user_claims(&st.db, &user, &st.cfg.issuer, now, exp);
        let mut token = st.cfg.sign(&claims);
        // Tokens are deterministic (AIS's claims have no nonce): a login in the same second
        // as a logout would get the revoked token back. Never hand one out: expire a second
        // later instead.
        while st.db.is_revoked(&token) {
            claims.exp = claims.exp.map(|e| e + 1);
            token = st.cfg.sign(&claims);
        }
        Ok(Response::json(&serde_json::json!({ "token": token })))
    }

    fn revoke(&self, req: &Request) -> Result<Response> {
        let msg: TokenMsg = parse(req.body)?;
        let token = msg.token.unwrap_or_default();
        if token.is_empty() {
            return Err(Fail::new(400, "empty token"));
        }
        let now = now_s();
        let (clusters, cfg) = {
            let mut st = self.lock();
            // The signature only: revoking a revoked token again is fine.
            let c = st
                .cfg
                .verify(&token, now)
                .map_err(|e| unauthorized(format!("invalid token: {e}")))?;
            st.db
                .revoke(&token, c.exp.unwrap_or(now), now)
                .map_err(|f| f.failed_to("revoke token", "<token>"))?;
            let clusters: Vec<CluAcl> = st.db.t.clusters.values().cloned().collect();
            (clusters, st.cfg.clone())
        };
        tracing::info!(clusters = clusters.len(), "token revoked");
        push_revoked(&clusters, &[token], &cfg);
        Ok(Response::ok())
    }

    // ---- users ---------------------------------------------------------------------------

    fn add_user(&self, req: &Request) -> Result<Response> {
        self.admin(req)?;
        let msg: UserMsg = parse(req.body)?;
        // bcrypt outside the lock.
        let pass = if msg.pass.is_empty() {
            String::new()
        } else {
            crate::store::hash_password(&msg.pass).map_err(|f| f.failed_to("add user", &msg.id))?
        };
        self.lock()
            .db
            .add_user_hashed(&msg, pass)
            .map_err(|f| f.failed_to("add user", &msg.id))?;
        tracing::info!(user = %msg.id, "user added");
        Ok(Response::ok())
    }

    fn list_users(&self, req: &Request) -> Result<Response> {
        self.admin(req)?;
        Ok(Response::json(&self.lock().db.users()))
    }

    fn get_user(&self, id: &str, req: &Request) -> Result<Response> {
        let c = self.claims(req)?;
        if !c.admin && c.sub != id {
            return Err(unauthorized("not authorized: requires admin or self"));
        }
        Ok(Response::json(&self.lock().db.user(id)?))
    }

    fn update_user(&self, id: &str, req: &Request) -> Result<Response> {
        let msg: UserMsg =
            serde_json::from_slice(req.body).map_err(|_| Fail::new(400, "Invalid request"))?;
        let c = self.claims(req)?;
        let roles = msg.roles.iter().flatten().next().is_some();
        // An admin may change anything; a user only their own password.
        let own_password = c.sub == id && !roles;
        if !c.admin && !own_password {
            return Err(unauthorized(format!(
                "not authorized: (user {}, {})",
                c.sub,
                expires_in(&c)
            )));
        }
        let pass = if msg.pass.is_empty() {
            None
        } else {
            Some(
                crate::store::hash_password(&msg.pass)
                    .map_err(|f| f.failed_to("update user", id))?,
            )
        };
        self.lock()
            .db
            .update_user_hashed(id, &msg, pass)
            .map_err(|f| f.failed_to("update user", id))?;
        Ok(Response::ok())
    }

    fn delete_user(&self, id: &str, req: &Request) -> Result<Response> {
        self.admin(req)?;
        self.lock()
            .db
            .delete_user(id)
            .map_err(|f| f.failed_to("delete user", id))?;
        tracing::info!(user = %id, "user deleted");
        Ok(Response::ok())
    }

    // ---- roles ---------------------------------------------------------------------------

    fn add_role(&self, rest: &str, req: &Request) -> Result<Response> {
        if item(rest)?.is_some() {
            return Err(Fail::new(400, "invalid request: too many path items"));
        }
        self.admin(req)?;
        let role: Role = parse(req.body)?;
        self.lock()
            .db
            .add_role(&role)
            .map_err(|f| f.failed_to("add role", &role.name))?;
        Ok(Response::ok())
    }

    fn update_role(&self, name: &str, req: &Request) -> Result<Response> {
        self.admin(req)?;
        let upd: Role =
            serde_json::from_slice(req.body).map_err(|_| Fail::new(400, "Invalid request"))?;
        self.lock()
            .db
            .update_role(name, &upd)
            .map_err(|f| f.failed_to("update role", name))?;
        Ok(Response::ok())
    }

    fn delete_role(&self, name: &str, req: &Request) -> Result<Response> {
        self.admin(req)?;
        self.lock()
            .db
            .delete_role(name)
            .map_err(|f| f.failed_to("delete role", name))?;
        Ok(Response::ok())
    }

    // ---- clusters ------------------------------------------------------------------------

    fn get_clusters(&self, rest: &str) -> Result<Response> {
        let st = self.lock();
        let clusters = match item(rest)? {
            None => st.db.t.clusters.clone(),
            Some(id) => {
                let c = st.db.cluster(&id)?;
                [(c.id.clone(), c)].into_iter().collect()
            }
        };
        Ok(Response::json(&RegisteredClusters { clusters }))
    }

    fn register_cluster(&self, rest: &str, req: &Request) -> Result<Response> {
        if item(rest)?.is_some() {
            return Err(Fail::new(400, "invalid request: too many path items"));
        }
        self.admin(req)?;
        let clu: CluAcl = parse(req.body)?;
        let wrap = |f: Fail| f.failed_to("add cluster", &clu.id);
        let (cfg, revoked) = {
            let st = self.lock();
            st.db.check_new_cluster(&clu).map_err(wrap)?;
            (st.cfg.clone(), st.db.revoked_live(now_s()))
        };
        // The cluster must accept our tokens, and learn the tokens revoked so far.
        validate_cluster(&clu, &cfg).map_err(wrap)?;
        if !revoked.is_empty() {
            let body = serde_json::to_vec(&TokenList {
                tokens: &revoked,
                version: "0",
            })
            .expect("token list serializes");
            call_cluster(&clu, &cfg, "DELETE", &body, "sync-tokens").map_err(wrap)?;
        }
        self.lock().db.add_cluster(&clu).map_err(wrap)?;
        tracing::info!(cluster = %clu.id, alias = %clu.alias, "cluster registered");
        Ok(Response::ok())
    }

    fn update_cluster(&self, id: &str, req: &Request) -> Result<Response> {
        self.admin(req)?;
        let upd: CluAcl = parse(req.body)?;
        let wrap = |f: Fail| f.failed_to("update cluster", id);
        let (clu, cfg) = {
            let st = self.lock();
            (
                st.db.updated_cluster(id, &upd).map_err(wrap)?,
                st.cfg.clone(),
            )
        };
        validate_cluster(&clu, &cfg).map_err(wrap)?;
        self.lock().db.put_cluster(&clu).map_err(wrap)?;
        Ok(Response::ok())
    }

    fn delete_cluster(&self, rest: &str, req: &Request) -> Result<Response> {
        self.admin(req)?;
        let Some(id) = item(rest)? else {
            return Err(Fail::new(400, "cluster name or ID not defined")
                .failed_to("delete cluster", "undefined"));
        };
        self.lock()
            .db
            .delete_cluster(&id)
            .map_err(|f| f.failed_to("delete cluster", &id))?;
        tracing::info!(cluster = %id, "cluster unregistered");
        Ok(Response::ok())
    }

    // ---- configuration -------------------------------------------------------------------

    fn update_config(&self, req: &Request) -> Result<Response> {
        self.admin(req)?;
        let u: ConfigToUpdate = serde_json::from_slice(req.body)
            .map_err(|e| Fail::new(400, format!("Invalid request: {e}")))?;
        let mut st = self.lock();
        let mut cfg = st.cfg.clone();
        cfg.update(&u).map_err(|e| Fail::new(400, e))?;
        cfg.save()
            .map_err(|e| Fail::new(500, format!("writing {}: {e}", cfg.file_path.display())))?;
        st.cfg = cfg;
        tracing::info!("configuration updated");
        Ok(Response::ok())
    }
}

/// `expires in 23h59m` or `expired`, as AIS's claims describe themselves.
fn expires_in(c: &Claims) -> String {
    match c.exp {
        Some(e) if e > now_s() => format!(
            "token expires in {}",
            cluster::meta::config::format_go_duration(Duration::from_secs((e - now_s()) as u64))
        ),
        _ => "token expired".into(),
    }
}

/// A token's expiry (Unix seconds) for a login asking `expires_in_ns` at `now`.
fn expiry(cfg: &Effective, expires_in_ns: Option<i64>, now: i64) -> Result<i64> {
    let max = cfg.file.auth.max_token_age.0;
    let d = match expires_in_ns {
        None => cfg.file.auth.expiration_time.0,
        Some(0) => max,
        Some(ns) if ns < 0 || (ns as u128) < EXPIRY_MIN.as_nanos() => {
            return Err(Fail::new(
                400,
                format!(
                    "invalid requested expiry date: must be 0 or >= {}",
                    cluster::meta::config::format_go_duration(EXPIRY_MIN)
                ),
            ))
        }
        Some(ns) => Duration::from_nanos(ns as u64),
    };
    if d > max {
        return Err(Fail::new(
            400,
            format!(
                "invalid requested expiry date: cannot exceed configured max token age: {}",
                cluster::meta::config::format_go_duration(max)
            ),
        ));
    }
    Ok(now + d.as_secs() as i64)
}

/// The claims of a token for `user` (AIS `buildClaims`): an admin (role `Admin`) gets
/// `admin: true` and every registered cluster as audience; anyone else the union of their
/// roles' ACLs, cluster aliases replaced by UUIDs, and those UUIDs as audience.
pub fn user_claims(db: &Db, user: &UserView, iss: &str, now: i64, exp: i64) -> Claims {
    let base = Claims {
        iss: iss.to_owned(),
        sub: user.id.clone(),
        exp: Some(exp),
        iat: Some(now),
        ..Default::default()
    };
    if user.roles.iter().any(|r| r.name == ADMIN_ROLE) {
        return Claims {
            admin: true,
            aud: db.t.clusters.keys().cloned().collect(),
            ..base
        };
    }
    let mut clusters: Vec<CluAcl> = Vec::new();
    let mut buckets = Vec::new();
    for r in &user.roles {
        // Aliases become UUIDs before the union, so that two roles naming one cluster, one
        // by alias and one by UUID, add up (AIS resolves after merging and keeps both).
        let mut acls = r.clusters.clone();
        for c in &mut acls {
            if let Some(id) = db.cluster_id(&c.id) {
                c.id = id;
            }
        }
        crate::store::merge_cluster_acls(&mut clusters, &acls, true);
        crate::store::merge_bucket_acls(&mut buckets, &r.buckets, true);
    }
    let mut aud: Vec<String> = clusters
        .iter()
        .map(|c| c.id.clone())
        .chain(buckets.iter().map(|b| b.bck.namespace.uuid.clone()))
        .filter(|id| !id.is_empty())
        .collect();
    aud.sort();
    aud.dedup();
    Claims {
        clusters: (!clusters.is_empty()).then(|| {
            clusters
                .iter()
                .map(|c| ClusterAcl {
                    id: c.id.clone(),
                    perm: c.perm,
                })
                .collect()
        }),
        buckets: buckets
            .iter()
            .map(|b| BucketAcl {
                bck: AclBucket {
                    name: b.bck.name.clone(),
                    provider: b.bck.provider.clone(),
                    namespace: AclNamespace {
                        uuid: b.bck.namespace.uuid.clone(),
                        name: b.bck.namespace.name.clone(),
                    },
                },
                perm: b.perm,
            })
            .collect(),
        aud,
        ..base
    }
}

/// AuthN's own admin token for calls to cluster `cluster_id` (AIS `selfToken`).
pub fn self_token(cfg: &Effective, cluster_id: &str, now: i64) -> String {
    let c = Claims {
        admin: true,
        iss: cfg.issuer.clone(),
        sub: SELF_SUBJECT.into(),
        aud: vec![cluster_id.to_owned()],
        exp: Some(now + SELF_TOKEN_TTL_S),
        iat: Some(now),
        ..Default::default()
    };
    cfg.sign(&c)
}

fn call_cluster(
    clu: &CluAcl,
    cfg: &Effective,
    method: &str,
    body: &[u8],
    what: &str,
) -> Result<()> {
    let token = self_token(cfg, &clu.id, now_s());
    aisreq::call(
        clu,
        method,
        "/v1/tokens",
        body,
        &token,
        cfg.file.timeout.default_timeout.0,
        what,
    )
}

/// Ask the cluster whether it accepts our tokens (`POST /v1/tokens`; the body tells which
/// key, as AIS sends it: the SHA-256 of the secret or the public key's PEM; nodes ignore it).
fn validate_cluster(clu: &CluAcl, cfg: &Effective) -> Result<()> {
    let body = serde_json::to_vec(&cfg.validation_body()).expect("validation body serializes");
    call_cluster(clu, cfg, "POST", &body, "validate-signer")
}

/// Pass revoked `tokens` to every cluster, in parallel, and wait for all (a failure is
/// logged: the cluster gets the token again when it is registered anew).
fn push_revoked(clusters: &[CluAcl], tokens: &[String], cfg: &Effective) {
    let body = serde_json::to_vec(&TokenList {
        tokens,
        version: "0",
    })
    .expect("token list serializes");
    std::thread::scope(|s| {
        for clu in clusters {
            let body = &body;
            s.spawn(move || {
                if let Err(f) = call_cluster(clu, cfg, "DELETE", body, "broadcast-revoked") {
                    tracing::warn!(cluster = %clu.id, status = f.status, "revoked token not delivered: {}", f.message);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Config, Env};
    use cluster::meta::access;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    const SECRET: &str = "unit-test-secret";

    fn service(dir: &std::path::Path) -> Service {
        let env = Env {
            secret: Some(SECRET.into()),
            ..Default::default()
        };
        let cfg = config::effective(Config::default(), &dir.join("authn.json"), &env).unwrap();
        let db = Db::open(&cfg.db_path, "admin", Some("adminpw")).unwrap();
        Service::new(db, cfg)
    }

    fn call(s: &Service, method: &str, path: &str, token: Option<&str>, body: &str) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        s.handle(&Request {
            method,
            path,
            authorization: auth.as_deref(),
            body: body.as_bytes(),
            ..Default::default()
        })
    }

    fn text(r: &Response) -> String {
        String::from_utf8_lossy(&r.body).into_owned()
    }

    fn login(s: &Service, user: &str, pass: &str) -> String {
        let r = call(
            s,
            "POST",
            &format!("/v1/users/{user}"),
            None,
            &format!(r#"{{"password":"{pass}"}}"#),
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["token"].as_str().unwrap().to_owned()
    }

    /// The admin's token with a lifetime of `secs`.
    fn login_for(s: &Service, secs: u64) -> String {
        let body = format!(
            r#"{{"password":"adminpw","expires_in":{}}}"#,
            secs * 1_000_000_000
        );
        let r = call(s, "POST", "/v1/users/admin", None, &body);
        assert_eq!(r.status, 200, "{}", text(&r));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["token"].as_str().unwrap().to_owned()
    }

    fn claims(t: &str) -> Claims {
        jwt::verify_hs256(t, SECRET.as_bytes(), now_s()).unwrap()
    }

    /// What a fake cluster saw of one request: request line, body, the bearer token.
    type Seen = (String, String, String);

    /// A fake cluster proxy on 127.0.0.1 answering `status` to every request and recording
    /// each (method, path, authorization, body).
    fn fake_cluster(status: u16, n: usize) -> (String, std::thread::JoinHandle<Vec<Seen>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..n {
                let (mut c, _) = l.accept().unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let k = c.read(&mut chunk).unwrap();
                    buf.extend_from_slice(&chunk[..k]);
                    let t = String::from_utf8_lossy(&buf).to_string();
                    if let Some(i) = t.find("\r\n\r\n") {
                        let cl: usize = t
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if buf.len() >= i + 4 + cl {
                            break (t[..i].to_owned(), t[i + 4..i + 4 + cl].to_owned());
                        }
                    }
                };
                let line = head.lines().next().unwrap().to_owned();
                let tok = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Authorization: Bearer "))
                    .unwrap()
                    .to_owned();
                got.push((line, body, tok));
                let msg = if status == 200 {
                    ""
                } else {
                    r#"{"message":"cluster says no"}"#
                };
                write!(
                    c,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{msg}",
                    msg.len()
                )
                .unwrap();
            }
            got
        });
        (url, h)
    }

    #[test]
    fn login_and_expiry_rules() {
        let d = tempfile::tempdir().unwrap();
        let s = service(d.path());
        let t = login(&s, "admin", "adminpw");
        let c = claims(&t);
        assert!(c.admin && c.sub == "admin" && c.clusters.is_none());
        assert_eq!(c.iss, "http://localhost:52001");
        let day = c.exp.unwrap() - c.iat.unwrap();
        assert_eq!(day, 24 * 3600);
        // Header and claim layout as AIS writes them.
        let payload: serde_json::Value = {
            use base64::Engine as _;
            let p = t.split('.').nth(1).unwrap();
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(payload["clusters"], serde_json::Value::Null);
        let r = call(
            &s,
            "POST",
            "/v1/users/admin",
            None,
            r#"{"password":"wrong"}"#,
        );
        assert_eq!(r.status, 401);
        assert!(
            text(&r)
                .contains("AuthN: failed to generate token for admin, err: invalid credentials"),
            "{}",
            text(&r)
        );
        let r = call(&s, "POST", "/v1/users/nobody", None, r#"{"password":"x"}"#);
        assert!(r.status == 401 && text(&r).contains("invalid credentials"));
        let r = call(&s, "POST", "/v1/users/admin", None, r#"{"password":""}"#);
        assert!(r.status == 401 && text(&r).contains("empty password"));
        let exp = |ns: &str| {
            call(
                &s,
                "POST",
                "/v1/users/admin",
                None,
                &format!(r#"{{"password":"adminpw","expires_in":{ns}}}"#),
            )
        };
        let r = exp("0");
        let c = claims(
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["token"]
                .as_str()
                .unwrap(),
        );
        assert_eq!(c.exp.unwrap() - c.iat.unwrap(), 2160 * 3600);
        let r = exp("120000000000");
        let c = claims(
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["token"]
                .as_str()
                .unwrap(),
        );
        assert_eq!(c.exp.unwrap() - c.iat.unwrap(), 120);
        for bad in ["59000000000", "-1", "7776001000000000"] {
            let r = exp(bad);
            assert!(
                r.status == 400 && text(&r).contains("invalid requested expiry date"),
                "{bad}: {}",
                text(&r)
            );
        }
        let r = exp("null");
        assert_eq!(r.status, 200);
        assert_eq!(
            call(&s, "POST", "/v1/users/admin", None, "not json").status,
            400
        );
    }

    #[test]
    fn admin_only_endpoints_answer_401_to_everyone_else() {
        let d = tempfile::tempdir().unwrap();
        let s = service(d.path());
        let admin = login(&s, "admin", "adminpw");
        let r = call(
            &s,
            "POST",
            "/v1/users",
            Some(&admin),
            r#"{"id":"bob","pass":"bobpw","roles":[]}"#,
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        let bob = login(&s, "bob", "bobpw");
        let other_key = jwt::sign_hs256(&claims(&admin), b"another key");
        for (method, path, body) in [
            ("POST", "/v1/users", r#"{"id":"eve","pass":"x"}"#),
            ("GET", "/v1/users", ""),
            ("DELETE", "/v1/users/bob", ""),
            ("POST", "/v1/roles", r#"{"name":"r"}"#),
            ("PUT", "/v1/roles/Guest", r#"{"desc":"x"}"#),
            ("DELETE", "/v1/roles/Admin", ""),
            ("POST", "/v1/clusters", r#"{"id":"U"}"#),
            ("DELETE", "/v1/clusters/U", ""),
            ("GET", "/v1/daemon", ""),
            ("PUT", "/v1/daemon", r#"{"auth":{"secret":"mine"}}"#),
            ("POST", "/v1/rotate-key", ""),
        ] {
            let r = call(&s, method, path, None, body);
            assert!(
                r.status == 401 && text(&r).contains("token required"),
                "{method} {path}: {}",
                text(&r)
            );
            let r = call(&s, method, path, Some(&bob), body);
            assert!(
                r.status == 401 && text(&r).contains("requires admin"),
                "{method} {path}: {}",
                text(&r)
            );
            let r = call(&s, method, path, Some(&other_key), body);
            assert!(
                r.status == 401 && text(&r).contains("signature"),
                "{method} {path}: {}",
                text(&r)
            );
        }
        // Nothing changed: eve does not exist, bob still does, the secret is the same.
        assert!(s.lock().db.user("eve").is_err());
        assert!(s.lock().db.user("bob").is_ok());
        assert_eq!(s.lock().cfg.secret, SECRET);
        // Open to anyone: roles and clusters.
        assert_eq!(call(&s, "GET", "/v1/roles", None, "").status, 200);
        assert_eq!(call(&s, "GET", "/v1/roles/Admin/", None, "").status, 200);
        assert_eq!(
            text(&call(&s, "GET", "/v1/clusters", None, "")),
            "{\"clusters\":{}}\n"
        );
        // Self or admin.
        assert_eq!(call(&s, "GET", "/v1/users/bob", Some(&bob), "").status, 200);
        let r = call(&s, "GET", "/v1/users/admin", Some(&bob), "");
        assert!(r.status == 401 && text(&r).contains("requires admin or self"));
        let r = call(&s, "GET", "/v1/users/admin", Some(&admin), "");
        assert_eq!(text(&r), "{\"id\":\"admin\",\"roles\":[{\"name\":\"Admin\",\"desc\":\"AuthN administrator\",\"clusters\":null,\"buckets\":null,\"admin\":true}]}\n");
        // Self may change its password, not its roles.
        let r = call(
            &s,
            "PUT",
            "/v1/users/bob",
            Some(&bob),
            r#"{"id":"bob","roles":[{"name":"Admin"}]}"#,
        );
        assert_eq!(r.status, 401);
        assert!(s.lock().db.user("bob").unwrap().roles.is_empty());
        let r = call(
            &s,
            "PUT",
            "/v1/users/bob",
            Some(&bob),
            r#"{"id":"bob","pass":"newpw","password":null}"#,
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        login(&s, "bob", "newpw");
        // The config shows no secret.
        let r = call(&s, "GET", "/v1/daemon", Some(&admin), "");
        assert!(
            !text(&r).contains(SECRET) && text(&r).contains("\"port\":52001"),
            "{}",
            text(&r)
        );
    }

    #[test]
    fn sdk_error_mapping_substrings() {
        let d = tempfile::tempdir().unwrap();
        let s = service(d.path());
        let admin = login(&s, "admin", "adminpw");
        let chk = |r: Response, status: u16, has: &str, not: &[&str]| {
            let t = text(&r);
            assert_eq!(r.status, status, "{t}");
            assert!(t.contains(has), "{t}");
            for n in not {
                assert!(!t.contains(n), "{t} has {n:?}");
            }
        };
        chk(
            call(&s, "GET", "/v1/users/ghost", Some(&admin), ""),
            404,
            "user ",
            &[],
        );
        chk(
            call(&s, "DELETE", "/v1/users/ghost", Some(&admin), ""),
            404,
            "user ",
            &[],
        );
        chk(
            call(&s, "GET", "/v1/roles/ghost", None, ""),
            404,
            "role ",
            &["user "],
        );
        chk(
            call(&s, "DELETE", "/v1/roles/ghost", Some(&admin), ""),
            404,
            "role ",
            &["user "],
        );
        chk(
            call(&s, "GET", "/v1/clusters/ghost", None, ""),
            404,
            "cluster ",
            &["role ", "user "],
        );
        chk(
            call(
                &s,
                "POST",
                "/v1/users",
                Some(&admin),
                r#"{"id":"admin","pass":"x"}"#,
            ),
            409,
            "user ",
            &[],
        );
        chk(
            call(
                &s,
                "POST",
                "/v1/roles",
                Some(&admin),
                r#"{"name":"Admin","desc":""}"#,
            ),
            409,
            "role ",
            &["user "],
        );
        chk(
            call(
                &s,
                "POST",
                "/v1/users",
                Some(&admin),
                r#"{"id":"x","pass":""}"#,
            ),
            400,
            "invalid credentials",
            &[],
        );
        chk(
            call(&s, "DELETE", "/v1/users/admin", Some(&admin), ""),
            403,
            "built-in",
            &[],
        );
        let r = call(&s, "PATCH", "/v1/users", Some(&admin), "");
        assert_eq!(r.headers, [("Allow", "DELETE, GET, POST, PUT".to_owned())]);
        chk(r, 405, "method not allowed", &[]);
        chk(
            call(&s, "GET", "/v1/nothing", None, ""),
            404,
            "no such AuthN endpoint",
            &[],
        );
        chk(
            call(&s, "GET", "/v1/users/a/b", Some(&admin), ""),
            400,
            "too many path items",
            &[],
        );
        chk(
            call(&s, "GET", "/v1/public-key", None, ""),
            400,
            "public key",
            &[],
        );
        chk(
            call(&s, "GET", "/.well-known/jwks.json", None, ""),
            400,
            "JWKS",
            &[],
        );
        chk(
            call(&s, "POST", "/v1/rotate-key", Some(&admin), ""),
            400,
            "rotation",
            &[],
        );
        chk(
            call(&s, "GET", "/.well-known/openid-configuration", None, ""),
            200,
            "\"jwks_uri\":\"http://localhost:52001/.well-known/jwks.json\"",
            &[],
        );
        // The error body is AIS's.
        let v: serde_json::Value =
            serde_json::from_slice(&call(&s, "GET", "/v1/roles/x", None, "").body).unwrap();
        assert_eq!(
            (
                v["status"].as_u64(),
                v["node"].as_str(),
                v["url_path"].as_str()
            ),
            (Some(404), Some("AuthN"), Some("/v1/roles/x"))
        );
    }

    #[test]
    fn token_acls_are_the_union_of_the_roles_with_aliases_resolved() {
        let d = tempfile::tempdir().unwrap();
        let s = service(d.path());
        {
            let mut st = s.lock();
            st.db.t.clusters.insert(
                "UUID1".into(),
                CluAcl {
                    id: "UUID1".into(),
                    alias: "prod".into(),
                    urls: vec!["http://h:1".into()],
                    ..Default::default()
                },
            );
        }
        let admin = login(&s, "admin", "adminpw");
        let role = |name: &str, clu_id: &str, perm: u64, bucket: Option<&str>| {
            let b = bucket.map_or("null".to_owned(), |b| {
                format!(r#"[{{"bck":{{"name":"{b}","provider":"ais","namespace":{{"uuid":"UUID1","name":""}}}},"perm":"{}"}}]"#, access::RW)
            });
            let body = format!(
                r#"{{"name":"{name}","desc":"","clusters":[{{"id":"{clu_id}","perm":"{perm}"}}],"buckets":{b},"admin":false}}"#
            );
            let r = call(&s, "POST", "/v1/roles", Some(&admin), &body);
            assert_eq!(r.status, 200, "{}", text(&r));
        };
        role("r1", "prod", access::LIST_BUCKETS, Some("b1"));
        role("r2", "UUID1", access::RO, None);
        role("r3", "OTHER", access::GET, None);
        let r = call(
            &s,
            "POST",
            "/v1/users",
            Some(&admin),
            r#"{"id":"u","pass":"p","roles":[{"name":"r1"},{"name":"r2"},{"name":"r3"},{"name":"nope"}]}"#,
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        let c = claims(&login(&s, "u", "p"));
        assert!(!c.admin);
        let clu = c.clusters.clone().unwrap();
        // r1 named the cluster by alias: the token carries its UUID, OR'd with r2's entry.
        assert_eq!(clu[0].id, "UUID1");
        assert_eq!(clu[0].perm.0, access::LIST_BUCKETS | access::RO);
        assert_eq!((clu[1].id.as_str(), clu[1].perm.0), ("OTHER", access::GET));
        assert_eq!(c.buckets[0].bck.name, "b1");
        assert_eq!(c.aud, ["OTHER", "UUID1"]);
        // The node's own check agrees.
        let allows =
            |bck: Option<(&str, &str)>, p| access::token_allows(&c, "UUID1", bck, p).is_ok();
        assert!(allows(None, access::LIST_BUCKETS));
        assert!(allows(Some(("b1", "ais")), access::PUT));
        assert!(!allows(Some(("b2", "ais")), access::PUT));
        assert!(allows(Some(("b2", "ais")), access::GET));
        assert!(!allows(None, access::CREATE_BUCKET));
        // A role update replaces the cluster perm; the next login shows it.
        let r = call(
            &s,
            "PUT",
            "/v1/roles/r2",
            Some(&admin),
            r#"{"name":"r2","desc":"","clusters":[{"id":"UUID1","perm":"53248"}],"buckets":null,"admin":false}"#,
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        let r = call(&s, "GET", "/v1/roles/r2", None, "");
        assert!(
            text(&r).contains(r#""clusters":[{"id":"UUID1","alias":"prod","perm":"53248"}]"#),
            "{}",
            text(&r)
        );
        let c = claims(&login(&s, "u", "p"));
        assert_eq!(c.clusters.unwrap()[0].perm.0, access::LIST_BUCKETS | 53248);
        // The admin's token names every registered cluster.
        assert_eq!(claims(&admin).aud, ["UUID1"]);
    }

    #[test]
    fn registration_asks_the_cluster_and_revocation_reaches_it_before_the_answer() {
        let d = tempfile::tempdir().unwrap();
        let s = service(d.path());
        let admin = login(&s, "admin", "adminpw");
        // A cluster that refuses our token: not registered, its status passes through.
        let (url, h) = fake_cluster(401, 1);
        let r = call(
            &s,
            "POST",
            "/v1/clusters",
            Some(&admin),
            &format!(r#"{{"id":"CLU1","alias":"c1","urls":["{url}"]}}"#),
        );
        h.join().unwrap();
        assert_eq!(r.status, 401, "{}", text(&r));
        assert!(text(&r).contains("cluster says no"), "{}", text(&r));
        assert!(s.lock().db.t.clusters.is_empty() && s.lock().db.role("Guest-c1").is_err());
        // One revoked token exists before the next registration: the cluster gets it.
        // (Another lifetime than `admin`'s: two logins in one second give the same token.)
        let t = login_for(&s, 3600);
        assert_ne!(t, admin);
        let r = call(
            &s,
            "DELETE",
            "/v1/tokens",
            None,
            &format!(r#"{{"token":"{t}"}}"#),
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        let r = call(&s, "GET", "/v1/users", Some(&t), "");
        assert!(
            r.status == 401 && text(&r).contains("revoked"),
            "{}",
            text(&r)
        );
        assert_eq!(
            call(
                &s,
                "DELETE",
                "/v1/tokens",
                None,
                &format!(r#"{{"token":"{t}"}}"#)
            )
            .status,
            200,
            "idempotent"
        );
        // The same login again (same second, same lifetime) gets a token that is not revoked.
        let again = login_for(&s, 3600);
        assert_ne!(again, t);
        assert_eq!(call(&s, "GET", "/v1/users", Some(&again), "").status, 200);
        let (url, h) = fake_cluster(200, 2);
        let r = call(
            &s,
            "POST",
            "/v1/clusters",
            Some(&admin),
            &format!(r#"{{"id":"CLU1","alias":"c1","urls":["{url}"]}}"#),
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        let got = h.join().unwrap();
        assert_eq!(got[0].0, "POST /v1/tokens HTTP/1.1");
        let c = &claims(&got[0].2);
        assert!(c.admin && c.sub == "AuthN" && c.aud == ["CLU1"]);
        assert!(c.exp.unwrap() - now_s() <= SELF_TOKEN_TTL_S);
        assert_eq!(got[1].0, "DELETE /v1/tokens HTTP/1.1");
        assert_eq!(got[1].1, format!(r#"{{"tokens":["{t}"],"version":"0"}}"#));
        assert_eq!(
            s.lock().db.role("BucketOwner-c1").unwrap().clusters[0]
                .perm
                .0,
            access::RW
        );
        let r = call(&s, "GET", "/v1/clusters/c1", None, "");
        assert_eq!(text(&r), format!("{{\"clusters\":{{\"CLU1\":{{\"id\":\"CLU1\",\"alias\":\"c1\",\"urls\":[\"{url}\"],\"perm\":\"0\"}}}}}}\n"));
        let r = call(
            &s,
            "POST",
            "/v1/clusters",
            Some(&admin),
            &format!(r#"{{"id":"CLU2","alias":"c1","urls":["{url}"]}}"#),
        );
        assert!(
            r.status == 409 && text(&r).contains("already registered"),
            "{}",
            text(&r)
        );
        // Logout: the cluster hears of it before the answer.
        let user_t = login_for(&s, 7200);
        let (url2, h) = fake_cluster(200, 1);
        s.lock().db.t.clusters.get_mut("CLU1").unwrap().urls = vec![url2];
        let r = call(
            &s,
            "DELETE",
            "/v1/tokens",
            None,
            &format!(r#"{{"token":"{user_t}"}}"#),
        );
        assert_eq!(r.status, 200);
        let got = h.join().unwrap();
        assert_eq!(got[0].0, "DELETE /v1/tokens HTTP/1.1");
        assert_eq!(
            got[0].1,
            format!(r#"{{"tokens":["{user_t}"],"version":"0"}}"#)
        );
        // Revocation needs a token signed by us.
        let r = call(&s, "DELETE", "/v1/tokens", None, r#"{"token":""}"#);
        assert!(r.status == 400 && text(&r).contains("empty token"));
        let forged = jwt::sign_hs256(&claims(&admin), b"x");
        assert_eq!(
            call(
                &s,
                "DELETE",
                "/v1/tokens",
                None,
                &format!(r#"{{"token":"{forged}"}}"#)
            )
            .status,
            401
        );
    }

    #[test]
    fn cluster_update_is_validated_and_delete_takes_id_or_alias() {
        let d = tempfile::tempdir().unwrap();
        let s = service(d.path());
        let admin = login(&s, "admin", "adminpw");
        let (url, h) = fake_cluster(200, 1);
        let reg = format!(r#"{{"id":"CLU1","alias":"a1","urls":["{url}"]}}"#);
        assert_eq!(
            call(&s, "POST", "/v1/clusters", Some(&admin), &reg).status,
            200
        );
        h.join().unwrap();
        {
            let mut st = s.lock();
            st.db.t.clusters.insert(
                "CLU2".into(),
                CluAcl {
                    id: "CLU2".into(),
                    alias: "a2".into(),
                    urls: vec!["http://127.0.0.1:1".into()],
                    ..Default::default()
                },
            );
        }
        // The SDK's update: alias may be null, urls empty (no change); the cluster is asked.
        let (url2, h) = fake_cluster(200, 1);
        let upd = format!(r#"{{"id":"CLU1","alias":"renamed","urls":["{url2}"]}}"#);
        let r = call(&s, "PUT", "/v1/clusters/CLU1", Some(&admin), &upd);
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(h.join().unwrap()[0].0, "POST /v1/tokens HTTP/1.1");
        let c = s.lock().db.cluster("renamed").unwrap();
        assert_eq!(
            (c.id.as_str(), c.urls.clone()),
            ("CLU1", vec![url2.clone()])
        );
        let (url3, h) = fake_cluster(200, 1);
        s.lock().db.t.clusters.get_mut("CLU1").unwrap().urls = vec![url3];
        let r = call(
            &s,
            "PUT",
            "/v1/clusters/CLU1",
            Some(&admin),
            r#"{"id":"CLU1","alias":null,"urls":[]}"#,
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        h.join().unwrap();
        assert_eq!(s.lock().db.cluster("CLU1").unwrap().alias, "renamed");
        // Refused: an alias in use, a cluster that says no, an alias instead of the id, no id.
        let r = call(
            &s,
            "PUT",
            "/v1/clusters/CLU1",
            Some(&admin),
            r#"{"id":"CLU1","alias":"a2"}"#,
        );
        assert!(
            r.status == 409 && text(&r).contains("is used for cluster"),
            "{}",
            text(&r)
        );
        let (url4, h) = fake_cluster(401, 1);
        let bad = format!(r#"{{"id":"CLU1","urls":["{url4}"]}}"#);
        assert_eq!(
            call(&s, "PUT", "/v1/clusters/CLU1", Some(&admin), &bad).status,
            401
        );
        h.join().unwrap();
        assert_ne!(
            s.lock().db.cluster("CLU1").unwrap().urls,
            [url4],
            "a refused update is not kept"
        );
        assert_eq!(
            call(
                &s,
                "PUT",
                "/v1/clusters/renamed",
                Some(&admin),
                r#"{"id":"CLU1"}"#
            )
            .status,
            404
        );
        assert_eq!(
            call(
                &s,
                "PUT",
                "/v1/clusters/CLU1",
                Some(&admin),
                r#"{"alias":"x"}"#
            )
            .status,
            400
        );
        // Delete by alias, then by id; the predefined roles stay.
        assert_eq!(
            call(&s, "DELETE", "/v1/clusters/renamed", Some(&admin), "").status,
            200
        );
        assert_eq!(
            call(&s, "DELETE", "/v1/clusters/CLU2", Some(&admin), "").status,
            200
        );
        let r = call(&s, "DELETE", "/v1/clusters/CLU2", Some(&admin), "");
        assert!(
            r.status == 404 && text(&r).contains("cluster "),
            "{}",
            text(&r)
        );
        assert_eq!(
            call(&s, "DELETE", "/v1/clusters", Some(&admin), "").status,
            400
        );
        assert!(s.lock().db.t.clusters.is_empty());
        assert!(s.lock().db.role("Guest-a1").is_ok());
    }

    #[test]
    fn a_new_secret_signs_new_tokens_and_is_saved() {
        let d = tempfile::tempdir().unwrap();
        let s = service(d.path());
        let admin = login(&s, "admin", "adminpw");
        let r = call(
            &s,
            "PUT",
            "/v1/daemon",
            Some(&admin),
            r#"{"auth":{"secret":"rotated","expiration_time":"1h"}}"#,
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(
            call(&s, "GET", "/v1/users", Some(&admin), "").status,
            401,
            "old tokens stop working"
        );
        let r = call(
            &s,
            "POST",
            "/v1/users/admin",
            None,
            r#"{"password":"adminpw"}"#,
        );
        let t = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let c = jwt::verify_hs256(&t, b"rotated", now_s()).unwrap();
        assert_eq!(c.exp.unwrap() - c.iat.unwrap(), 3600);
        let saved = std::fs::read_to_string(d.path().join("authn.json")).unwrap();
        assert!(saved.contains("\"expiration_time\": \"1h0m0s\""), "{saved}");
        let r = call(
            &s,
            "PUT",
            "/v1/daemon",
            Some(&t),
            r#"{"auth":{"expiration_time":"1s"}}"#,
        );
        assert_eq!(r.status, 400);
        let r = call(
            &s,
            "PUT",
            "/v1/daemon",
            Some(&t),
            r#"{"net":{"http":{"port":1}}}"#,
        );
        assert_eq!(r.status, 400);
    }

    /// A service signing with a new RSA key in `dir` (no secret: AIS's default signer).
    fn rsa_service(dir: &std::path::Path) -> Service {
        crate::signer::tests::genkey(dir, config::RSA_KEY_FILE);
        let cfg =
            config::effective(Config::default(), &dir.join("authn.json"), &Env::default()).unwrap();
        let db = Db::open(&cfg.db_path, "admin", Some("adminpw")).unwrap();
        Service::new(db, cfg)
    }

    fn json_of(r: &Response) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    fn header_of(t: &str) -> serde_json::Value {
        use base64::Engine as _;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn rsa_signer_serves_its_public_key_and_jwks_and_signs_rs256() {
        let d = tempfile::tempdir().unwrap();
        let s = rsa_service(d.path());
        let admin = login(&s, "admin", "adminpw");
        // The public key as a node takes it (AIS_AUTHN_PUBLIC_KEY) verifies the token.
        let r = call(&s, "GET", "/v1/public-key", None, "");
        assert!(r.status == 200 && r.json, "{}", text(&r));
        let pem = json_of(&r)["public_key"].as_str().unwrap().to_owned();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        let der = jwt::rsa_public_key(&pem).unwrap();
        let c = jwt::verify(&admin, jwt::VerifyKey::Rsa(&der), now_s()).unwrap();
        assert!(c.admin && c.sub == "admin");
        let kid = s.lock().cfg.rsa().unwrap().kid().to_owned();
        assert_eq!(
            header_of(&admin),
            serde_json::json!({"alg":"RS256","kid":kid,"typ":"JWT"})
        );
        // JWKS: one RSA signing key under the tokens' kid, cacheable for a day as AIS's.
        let r = call(&s, "GET", "/.well-known/jwks.json", None, "");
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(
            r.headers,
            vec![("Cache-Control", "max-age=86400, public".to_owned())]
        );
        let jwks = json_of(&r);
        let k = &jwks["keys"][0];
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(
            (
                k["kty"].as_str(),
                k["use"].as_str(),
                k["alg"].as_str(),
                k["kid"].as_str()
            ),
            (Some("RSA"), Some("sig"), Some("RS256"), Some(kid.as_str()))
        );
        let r = call(&s, "GET", "/.well-known/openid-configuration", None, "");
        assert_eq!(
            json_of(&r)["jwks_uri"],
            "http://localhost:52001/.well-known/jwks.json"
        );
        // Rotation: admin only, then refused as AIS refuses it for an external key.
        assert_eq!(call(&s, "POST", "/v1/rotate-key", None, "").status, 401);
        let r = call(&s, "POST", "/v1/rotate-key", Some(&admin), "");
        assert!(
            r.status == 400
                && text(&r).contains("externally provisioned")
                && text(&r).contains("openssl genpkey"),
            "{}",
            text(&r)
        );
        assert_eq!(call(&s, "GET", "/v1/public-key", None, "").body, {
            let mut b = serde_json::to_vec(&serde_json::json!({ "public_key": pem })).unwrap();
            b.push(b'\n');
            b
        });
        // Admin endpoints take the RS256 token; an HS256 token made with the public key
        // as the secret (algorithm confusion) or with the old HMAC secret is refused.
        assert_eq!(call(&s, "GET", "/v1/users", Some(&admin), "").status, 200);
        for forged in [
            jwt::sign_hs256(&c, pem.as_bytes()),
            jwt::sign_hs256(&c, SECRET.as_bytes()),
        ] {
            let r = call(&s, "GET", "/v1/users", Some(&forged), "");
            assert!(
                r.status == 401 && text(&r).contains("HS256"),
                "{}",
                text(&r)
            );
        }
        // Registration sends the public key; the cluster gets an RS256 self-token.
        let (url, h) = fake_cluster(200, 1);
        let r = call(
            &s,
            "POST",
            "/v1/clusters",
            Some(&admin),
            &format!(r#"{{"id":"CLU1","alias":"c1","urls":["{url}"]}}"#),
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        let got = h.join().unwrap();
        assert_eq!(got[0].0, "POST /v1/tokens HTTP/1.1");
        let body: serde_json::Value = serde_json::from_str(&got[0].1).unwrap();
        assert_eq!(body["public_key"].as_str(), Some(pem.as_str()));
        let st = jwt::verify(&got[0].2, jwt::VerifyKey::Rsa(&der), now_s()).unwrap();
        assert!(st.admin && st.sub == SELF_SUBJECT && st.aud == ["CLU1"]);
        // Logout of an RS256 token: revoked here and pushed to the cluster.
        let t = login_for(&s, 3600);
        let (url2, h) = fake_cluster(200, 1);
        s.lock().db.t.clusters.get_mut("CLU1").unwrap().urls = vec![url2];
        let r = call(
            &s,
            "DELETE",
            "/v1/tokens",
            None,
            &format!(r#"{{"token":"{t}"}}"#),
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(
            h.join().unwrap()[0].1,
            format!(r#"{{"tokens":["{t}"],"version":"0"}}"#)
        );
        let r = call(&s, "GET", "/v1/users", Some(&t), "");
        assert!(
            r.status == 401 && text(&r).contains("revoked"),
            "{}",
            text(&r)
        );
        // A secret set at run time switches to HS256 (as AIS's): no public key any more.
        let r = call(
            &s,
            "PUT",
            "/v1/daemon",
            Some(&admin),
            r#"{"auth":{"secret":"hmac-now"}}"#,
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(call(&s, "GET", "/v1/public-key", None, "").status, 400);
        assert_eq!(
            call(&s, "GET", "/.well-known/jwks.json", None, "").status,
            400
        );
        let t = login(&s, "admin", "adminpw");
        assert_eq!(header_of(&t)["alg"], "HS256");
        assert!(jwt::verify_hs256(&t, b"hmac-now", now_s()).is_ok());
    }
}

//! AuthN's database: users, roles, registered clusters and revoked tokens, with AIS AuthN's
//! rules for each (cmd/authn/mgr.go in NVIDIA/aistore; docs/authn-wire.md §2-§3), and its
//! persistence as one JSON file.
//!
//! # Invariants
//!
//! * Role `Admin` (the only role with `admin: true`) and the first-start admin user always
//!   exist: neither can be deleted, the role cannot be changed, the user's roles cannot be.
//! * A user holds role *names*; each read resolves them against the roles table, so a role
//!   update reaches every user that holds it, and a deleted role is removed from every user
//!   (as AIS propagates a role to its users' copies).
//! * Passwords are stored only as bcrypt hashes; no answer ever carries one.
//! * Every change is written before it is acknowledged: [`Db::save`] writes a temporary file,
//!   fsyncs it, renames it over the database and fsyncs the directory, so a crash leaves the
//!   old or the new database, never a torn one.
//!
//! # What this module does not do
//!
//! * No I/O besides the database file, no HTTP, no clock: callers pass `now`.
//! * It does not read AIS's BuntDB file (`authn.db`): the format here is our own, documented
//!   in docs/authn.md.

use cluster::meta::access;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// The built-in role that makes its users administrators.
pub const ADMIN_ROLE: &str = "Admin";
/// AIS's default name of the first-start administrator (`AIS_AUTHN_SU_NAME` overrides).
pub const ADMIN_USER_DEFAULT: &str = "admin";
/// Longest user, role or cluster alias name (AIS `cos.IsAlphaNice`).
pub const NAME_BYTES_MAX: usize = 32;
/// Longest password bcrypt takes without truncating it (Go's bcrypt refuses longer ones).
pub const PASSWORD_BYTES_MAX: usize = 72;
/// bcrypt cost (Go's `bcrypt.DefaultCost`, what AIS's AuthN uses).
pub const BCRYPT_COST: u32 = 10;
/// At most this many users, roles, clusters, each (a bound on the file and on memory).
pub const ENTRIES_MAX: usize = 100_000;
/// At most this many ACL entries in one role.
pub const ACL_ENTRIES_MAX: usize = 1024;
/// Revoked tokens kept at most (each until it expires; beyond this the oldest expiry goes).
pub const REVOKED_MAX: usize = 100_000;
/// Version of the database file's layout.
pub const DB_VERSION: u32 = 1;

/// The predefined roles made for each registered cluster: name prefix, description
/// (`%s`: the cluster), permission.
pub const PREDEFINED_ROLES: [(&str, &str, u64); 3] = [
    ("ClusterOwner", "Admin access to %s", access::ALL),
    ("BucketOwner", "Full access to buckets in %s", access::RW),
    ("Guest", "Read-only access to buckets in %s", access::RO),
];

/// A refusal: the HTTP status and AIS's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub status: u16,
    pub message: String,
}

impl Fail {
    pub fn new(status: u16, message: impl Into<String>) -> Fail {
        Fail {
            status,
            message: message.into(),
        }
    }
    /// AIS's `ErrFailedTo`: `AuthN: failed to <action> <what>, err: <inner>`.
    pub fn failed_to(self, action: &str, what: &str) -> Fail {
        Fail::new(
            self.status,
            format!("AuthN: failed to {action} {what}, err: {}", self.message),
        )
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

fn not_found(collection: &str, key: &str) -> Fail {
    Fail::new(404, format!("{collection} \"{key}\" does not exist"))
}

/// `null` reads as the type's default (the SDK sends `"alias": null`, `"password": null`).
fn null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A permission mask, a decimal string on the wire (`"perm": "771"`).
pub use net::jwt::Perm;

/// A cluster: as a registration (`id`, `alias`, `urls`) and as a role's ACL entry (`id`,
/// `perm`; `id` may be an alias, or "" for any cluster).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CluAcl {
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub alias: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub urls: Vec<String>,
    /// Always written, also when 0 (the SDK's `ClusterPermission` requires it).
    #[serde(default, deserialize_with = "null_default")]
    pub perm: Perm,
}

/// A bucket's namespace: `uuid` holds the cluster's UUID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    #[serde(default, deserialize_with = "null_default")]
    pub uuid: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
}

/// A bucket of a bucket ACL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bck {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub provider: String,
    #[serde(default, deserialize_with = "null_default")]
    pub namespace: Namespace,
}

/// A role's permission on one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BckAcl {
    #[serde(default)]
    pub bck: Bck,
    #[serde(default, deserialize_with = "null_default")]
    pub perm: Perm,
}

/// A role: ACLs per cluster and per bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub desc: String,
    /// `null` on the wire when empty (as AIS writes a nil list); `null` entries are dropped.
    #[serde(default, with = "acl_list")]
    pub clusters: Vec<CluAcl>,
    #[serde(default, with = "acl_list")]
    pub buckets: Vec<BckAcl>,
    #[serde(default, deserialize_with = "null_default")]
    pub admin: bool,
}

/// An ACL list: `null` or `[...]` with `null` entries dropped; written as `null` when empty.
mod acl_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        if v.is_empty() {
            s.serialize_none()
        } else {
            v.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<T>, D::Error> {
        let v = Option::<Vec<Option<T>>>::deserialize(d)?.unwrap_or_default();
        Ok(v.into_iter().flatten().collect())
    }
}

/// A user as the API takes it: `pass` in requests only; `roles` are looked up by name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserMsg {
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub pass: String,
    #[serde(default, deserialize_with = "null_default")]
    pub roles: Vec<Option<RoleRef>>,
}

/// A role named in a user request (the SDK sends whole roles; only the name counts).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoleRef {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
}

/// A user as the API answers it: roles resolved, no password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub id: String,
    /// Always an array (the SDK requires it).
    pub roles: Vec<Role>,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRec {
    pub id: String,
    /// bcrypt hash (`$2b$10$...`).
    pub pass: String,
    pub roles: Vec<String>,
}

/// The whole database, as written to its file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tables {
    pub version: u32,
    /// The first-start administrator (cannot be deleted nor have its roles changed).
    pub admin_user: String,
    pub users: BTreeMap<String, UserRec>,
    pub roles: BTreeMap<String, Role>,
    /// Registered clusters by UUID.
    pub clusters: BTreeMap<String, CluAcl>,
    /// Revoked tokens and their expiry (Unix seconds).
    pub revoked: BTreeMap<String, i64>,
}

/// AIS `cos.IsAlphaNice`: letters, digits, `-` and `_` (not first or last), at most 32 bytes.
/// The empty string passes (an alias is optional); callers check emptiness themselves.
pub fn is_alpha_nice(s: &str) -> bool {
    let n = s.len();
    n <= NAME_BYTES_MAX
        && s.bytes().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric() || ((c == b'-' || c == b'_') && i != 0 && i != n - 1)
        })
}

const ONLY_NICE: &str = "must be less than 32 characters and may only contain letters, numbers, dashes (-), underscores (_)";

/// Merge `from` into `to` by cluster `id`: a matching entry's permission is OR'd (`union`,
/// the ACL of a token from several roles) or replaced (a role update); others are appended.
pub fn merge_cluster_acls(to: &mut Vec<CluAcl>, from: &[CluAcl], union: bool) {
    for n in from {
        match to.iter_mut().find(|a| a.id == n.id) {
            Some(a) if union => a.perm.0 |= n.perm.0,
            Some(a) => a.perm = n.perm,
            None => to.push(n.clone()),
        }
    }
}

/// Merge `from` into `to` by bucket (name, provider and namespace), as
/// [`merge_cluster_acls`].
pub fn merge_bucket_acls(to: &mut Vec<BckAcl>, from: &[BckAcl], union: bool) {
    for n in from {
        match to.iter_mut().find(|a| a.bck == n.bck) {
            Some(a) if union => a.perm.0 |= n.perm.0,
            Some(a) => a.perm = n.perm,
            None => to.push(n.clone()),
        }
    }
}

/// Hash a password for storing (bcrypt, AIS's cost).
pub fn hash_password(password: &str) -> Result<String, Fail> {
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(Fail::new(
            400,
            format!("password is longer than {PASSWORD_BYTES_MAX} bytes (bcrypt's limit)"),
        ));
    }
    bcrypt::hash(password, BCRYPT_COST).map_err(|e| Fail::new(500, format!("bcrypt: {e}")))
}

/// Whether `password` is the one `hash` was made from.
pub fn password_matches(password: &str, hash: &str) -> bool {
    password.len() <= PASSWORD_BYTES_MAX && bcrypt::verify(password, hash).unwrap_or(false)
}

/// The database and the file it lives in.
#[derive(Debug)]
pub struct Db {
    pub t: Tables,
    path: PathBuf,
}

impl Db {
    /// Load the database at `path`; a missing file is an empty database, which is
    /// initialized with role `Admin` and user `admin_name` with `admin_pass` (refused without
    /// a password) and written.
    pub fn open(path: &Path, admin_name: &str, admin_pass: Option<&str>) -> Result<Db, String> {
        let t = match std::fs::read(path) {
            Ok(bytes) => {
                let t: Tables = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("database {}: {e}", path.display()))?;
                if t.version != DB_VERSION {
                    return Err(format!(
                        "database {}: version {} (this AuthN reads version {DB_VERSION})",
                        path.display(),
                        t.version
                    ));
                }
                t
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Tables {
                version: DB_VERSION,
                ..Default::default()
            },
            Err(e) => return Err(format!("database {}: {e}", path.display())),
        };
        let mut db = Db {
            t,
            path: path.to_owned(),
        };
        if db.t.users.is_empty() {
            let pass = admin_pass.filter(|p| !p.is_empty()).ok_or_else(|| {
                "failed to initialize the database: no password for the admin user; set AIS_AUTHN_SU_PASS".to_owned()
            })?;
            if !is_alpha_nice(admin_name) || admin_name.is_empty() {
                return Err(format!(
                    "admin user name {admin_name:?} is invalid: {ONLY_NICE}"
                ));
            }
            db.t.roles.insert(
                ADMIN_ROLE.into(),
                Role {
                    name: ADMIN_ROLE.into(),
                    desc: "AuthN administrator".into(),
                    admin: true,
                    ..Default::default()
                },
            );
            let pass = hash_password(pass).map_err(|f| f.message)?;
            db.t.users.insert(
                admin_name.into(),
                UserRec {
                    id: admin_name.into(),
                    pass,
                    roles: vec![ADMIN_ROLE.into()],
                },
            );
            db.t.admin_user = admin_name.into();
            db.save().map_err(|f| f.message)?;
        }
        Ok(db)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write the database: temporary file, fsync, rename, fsync of the directory.
    pub fn save(&self) -> Result<(), Fail> {
        let bytes = serde_json::to_vec_pretty(&self.t).expect("tables serialize");
        write_atomic(&self.path, &bytes)
            .map_err(|e| Fail::new(500, format!("writing {}: {e}", self.path.display())))
    }

    /// Run `change` on a copy of the tables and keep it only if it succeeds and is saved:
    /// a refused or unsaved change leaves the database as it was.
    fn change<R>(
        &mut self,
        change: impl FnOnce(&mut Tables) -> Result<R, Fail>,
    ) -> Result<R, Fail> {
        let before = self.t.clone();
        let r = change(&mut self.t).and_then(|r| self.save().map(|()| r));
        if r.is_err() {
            self.t = before;
        }
        r
    }

    // ---- users ---------------------------------------------------------------------------

    /// A user with its roles resolved.
    pub fn user(&self, id: &str) -> Result<UserView, Fail> {
        let u = self.t.users.get(id).ok_or_else(|| not_found("user", id))?;
        Ok(self.view(u))
    }

    fn view(&self, u: &UserRec) -> UserView {
        UserView {
            id: u.id.clone(),
            roles: u
                .roles
                .iter()
                .filter_map(|r| self.t.roles.get(r).cloned())
                .collect(),
        }
    }

    pub fn users(&self) -> BTreeMap<String, UserView> {
        self.t
            .users
            .values()
            .map(|u| (u.id.clone(), self.view(u)))
            .collect()
    }

    /// Role names of a request that exist (AIS drops unknown ones silently).
    fn known_roles(t: &Tables, roles: &[Option<RoleRef>]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in roles.iter().flatten() {
            if t.roles.contains_key(&r.name) && !out.contains(&r.name) {
                out.push(r.name.clone());
            }
        }
        out
    }

    pub fn add_user(&mut self, msg: &UserMsg) -> Result<(), Fail> {
        let pass = if msg.pass.is_empty() {
            String::new()
        } else {
            hash_password(&msg.pass)?
        };
        self.add_user_hashed(msg, pass)
    }

    /// [`Db::add_user`] with the password already hashed (`pass_hash`; "" if none was given),
    /// so that bcrypt runs outside the service's lock.
    pub fn add_user_hashed(&mut self, msg: &UserMsg, pass_hash: String) -> Result<(), Fail> {
        if msg.id.is_empty() || msg.pass.is_empty() || pass_hash.is_empty() {
            return Err(Fail::new(400, "invalid credentials"));
        }
        if !is_alpha_nice(&msg.id) {
            return Err(Fail::new(
                400,
                format!("user ID {:?} is invalid: {ONLY_NICE}", msg.id),
            ));
        }
        let pass = pass_hash;
        self.change(|t| {
            if t.users.contains_key(&msg.id) {
                return Err(Fail::new(
                    409,
                    format!("AuthN: user {} already exists", msg.id),
                ));
            }
            if t.users.len() >= ENTRIES_MAX {
                return Err(Fail::new(
                    400,
                    format!("too many users (at most {ENTRIES_MAX})"),
                ));
            }
            let roles = Self::known_roles(t, &msg.roles);
            t.users.insert(
                msg.id.clone(),
                UserRec {
                    id: msg.id.clone(),
                    pass,
                    roles,
                },
            );
            Ok(())
        })
    }

    /// Change a user's password (if given) and roles (if any are given).
    pub fn update_user(&mut self, id: &str, msg: &UserMsg) -> Result<(), Fail> {
        let pass = if msg.pass.is_empty() {
            None
        } else {
            Some(hash_password(&msg.pass)?)
        };
        self.update_user_hashed(id, msg, pass)
    }

    /// [`Db::update_user`] with the new password already hashed.
    pub fn update_user_hashed(
        &mut self,
        id: &str,
        msg: &UserMsg,
        pass: Option<String>,
    ) -> Result<(), Fail> {
        let roles_update = msg.roles.iter().flatten().next().is_some();
        if (id == self.t.admin_user || id == ADMIN_USER_DEFAULT) && roles_update {
            return Err(Fail::new(403, "cannot change administrator's role"));
        }
        self.change(|t| {
            let roles = Self::known_roles(t, &msg.roles);
            let u = t.users.get_mut(id).ok_or_else(|| not_found("user", id))?;
            if let Some(p) = pass {
                u.pass = p;
            }
            if roles_update {
                u.roles = roles;
            }
            Ok(())
        })
    }

    pub fn delete_user(&mut self, id: &str) -> Result<(), Fail> {
        if id == self.t.admin_user || id == ADMIN_USER_DEFAULT {
            return Err(Fail::new(
                403,
                format!("cannot remove built-in {id:?} account"),
            ));
        }
        self.change(|t| {
            t.users
                .remove(id)
                .map(|_| ())
                .ok_or_else(|| not_found("user", id))
        })
    }

    /// The user `id` if `password` is theirs (401 `invalid credentials` otherwise, the same
    /// for an unknown user).
    pub fn check_password(&self, id: &str, password: &str) -> Result<UserView, Fail> {
        let bad = || Fail::new(401, "invalid credentials");
        let u = self.t.users.get(id).ok_or_else(bad)?;
        if !password_matches(password, &u.pass) {
            return Err(bad());
        }
        Ok(self.view(u))
    }

    // ---- roles ---------------------------------------------------------------------------

    pub fn role(&self, name: &str) -> Result<Role, Fail> {
        let mut r = self
            .t
            .roles
            .get(name)
            .cloned()
            .ok_or_else(|| not_found("role", name))?;
        // Each cluster entry shows the cluster's alias (AIS fills it in on GET).
        for c in &mut r.clusters {
            if let Some(reg) = self.t.clusters.get(&c.id) {
                c.alias.clone_from(&reg.alias);
            }
        }
        Ok(r)
    }

    pub fn roles(&self) -> Vec<Role> {
        self.t.roles.values().cloned().collect()
    }

    pub fn add_role(&mut self, role: &Role) -> Result<(), Fail> {
        if role.name.is_empty() {
            return Err(Fail::new(400, "role name is undefined"));
        }
        if !is_alpha_nice(&role.name) {
            return Err(Fail::new(
                400,
                format!("role name {:?} is invalid: {ONLY_NICE}", role.name),
            ));
        }
        if role.admin {
            return Err(Fail::new(
                403,
                format!("only built-in roles can have {ADMIN_USER_DEFAULT:?} permissions"),
            ));
        }
        check_acl_count(role)?;
        self.change(|t| {
            if t.roles.contains_key(&role.name) {
                return Err(Fail::new(
                    409,
                    format!("AuthN: role {} already exists", role.name),
                ));
            }
            if t.roles.len() >= ENTRIES_MAX {
                return Err(Fail::new(
                    400,
                    format!("too many roles (at most {ENTRIES_MAX})"),
                ));
            }
            t.roles.insert(role.name.clone(), stored_role(role));
            Ok(())
        })
    }

    /// A non-empty `desc` replaces; ACLs merge by cluster id and by bucket, replacing the
    /// permission of an entry that exists and appending the others; `name`, `admin` ignored.
    pub fn update_role(&mut self, name: &str, upd: &Role) -> Result<(), Fail> {
        if name == ADMIN_ROLE {
            return Err(Fail::new(
                403,
                format!("cannot modify built-in {ADMIN_ROLE:?} role"),
            ));
        }
        check_acl_count(upd)?;
        self.change(|t| {
            let r = t
                .roles
                .get_mut(name)
                .ok_or_else(|| not_found("role", name))?;
            if !upd.desc.is_empty() {
                r.desc.clone_from(&upd.desc);
            }
            merge_cluster_acls(&mut r.clusters, &stored_role(upd).clusters, false);
            merge_bucket_acls(&mut r.buckets, &upd.buckets, false);
            check_acl_count(r)
        })
    }

    /// Delete a role and take it from every user that holds it.
    pub fn delete_role(&mut self, name: &str) -> Result<(), Fail> {
        if name == ADMIN_ROLE {
            return Err(Fail::new(
                403,
                format!("cannot remove built-in {ADMIN_ROLE:?} role"),
            ));
        }
        self.change(|t| {
            t.roles
                .remove(name)
                .ok_or_else(|| not_found("role", name))?;
            for u in t.users.values_mut() {
                u.roles.retain(|r| r != name);
            }
            Ok(())
        })
    }

    // ---- clusters ------------------------------------------------------------------------

    /// The UUID of the registered cluster whose UUID or alias is `id_or_alias`.
    pub fn cluster_id(&self, id_or_alias: &str) -> Option<String> {
        if id_or_alias.is_empty() {
            return None;
        }
        if self.t.clusters.contains_key(id_or_alias) {
            return Some(id_or_alias.to_owned());
        }
        self.t
            .clusters
            .values()
            .find(|c| c.alias == id_or_alias)
            .map(|c| c.id.clone())
    }

    pub fn cluster(&self, id_or_alias: &str) -> Result<CluAcl, Fail> {
        self.cluster_id(id_or_alias)
            .and_then(|id| self.t.clusters.get(&id).cloned())
            .ok_or_else(|| Fail::new(404, format!("AuthN: cluster {id_or_alias} does not exist")))
    }

    /// Check a registration before the cluster is asked: id set, alias nice, neither taken.
    pub fn check_new_cluster(&self, clu: &CluAcl) -> Result<(), Fail> {
        if clu.id.is_empty() {
            return Err(Fail::new(400, "cluster UUID is undefined"));
        }
        if !is_alpha_nice(&clu.alias) {
            return Err(Fail::new(
                400,
                format!("cluster alias {:?} is invalid: {ONLY_NICE}", clu.alias),
            ));
        }
        if clu.urls.is_empty() {
            return Err(Fail::new(400, format!("cluster {} has no URLs", clu.id)));
        }
        let taken = self
            .cluster_id(&clu.id)
            .or_else(|| self.cluster_id(&clu.alias));
        if let Some(cid) = taken {
            return Err(Fail::new(
                409,
                format!("cluster {}[{cid}] already registered", clu.id),
            ));
        }
        if self.t.clusters.len() >= ENTRIES_MAX {
            return Err(Fail::new(
                400,
                format!("too many clusters (at most {ENTRIES_MAX})"),
            ));
        }
        Ok(())
    }

    /// Store a cluster (checked again: another registration may have won meanwhile) and
    /// create its predefined roles (an existing role of that name is kept).
    pub fn add_cluster(&mut self, clu: &CluAcl) -> Result<(), Fail> {
        self.check_new_cluster(clu)?;
        self.change(|t| {
            let rec = CluAcl {
                perm: Perm(0),
                ..clu.clone()
            };
            t.clusters.insert(clu.id.clone(), rec);
            let suffix = if clu.alias.is_empty() {
                &clu.id
            } else {
                &clu.alias
            };
            let shown = if clu.alias.is_empty() {
                clu.id.clone()
            } else {
                format!("{}[{}]", clu.id, clu.alias)
            };
            for (prefix, desc, perm) in PREDEFINED_ROLES {
                let name = format!("{prefix}-{suffix}");
                t.roles.entry(name.clone()).or_insert_with(|| Role {
                    name,
                    desc: desc.replace("%s", &shown),
                    clusters: vec![CluAcl {
                        id: clu.id.clone(),
                        perm: Perm(perm),
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
            Ok(())
        })
    }

    /// The registration `id` (exact UUID) with a non-empty alias or URL list of `upd`
    /// replacing its own (not stored: the caller validates it against the cluster first).
    pub fn updated_cluster(&self, id: &str, upd: &CluAcl) -> Result<CluAcl, Fail> {
        if upd.id.is_empty() {
            return Err(Fail::new(400, "cluster ID is undefined"));
        }
        let mut clu = self
            .t
            .clusters
            .get(id)
            .cloned()
            .ok_or_else(|| not_found("cluster", id))?;
        if !upd.alias.is_empty() {
            if !is_alpha_nice(&upd.alias) {
                return Err(Fail::new(
                    400,
                    format!("cluster alias {:?} is invalid: {ONLY_NICE}", upd.alias),
                ));
            }
            if let Some(cid) = self.cluster_id(&upd.alias).filter(|c| *c != clu.id) {
                return Err(Fail::new(
                    409,
                    format!("alias {:?} is used for cluster {cid:?}", upd.alias),
                ));
            }
            clu.alias.clone_from(&upd.alias);
        }
        if !upd.urls.is_empty() {
            clu.urls.clone_from(&upd.urls);
        }
        Ok(clu)
    }

    pub fn put_cluster(&mut self, clu: &CluAcl) -> Result<(), Fail> {
        self.change(|t| {
            if !t.clusters.contains_key(&clu.id) {
                return Err(not_found("cluster", &clu.id));
            }
            t.clusters.insert(clu.id.clone(), clu.clone());
            Ok(())
        })
    }

    /// Unregister a cluster (its predefined roles stay, as in AIS).
    pub fn delete_cluster(&mut self, id_or_alias: &str) -> Result<(), Fail> {
        let id = self.cluster_id(id_or_alias).ok_or_else(|| {
            Fail::new(404, format!("AuthN: cluster {id_or_alias} does not exist"))
        })?;
        self.change(|t| {
            t.clusters.remove(&id);
            Ok(())
        })
    }

    // ---- revoked tokens ------------------------------------------------------------------

    pub fn is_revoked(&self, token: &str) -> bool {
        self.t.revoked.contains_key(token)
    }

    /// Add a token (expiring at `exp`) to the revoked table; expired ones are dropped.
    pub fn revoke(&mut self, token: &str, exp: i64, now: i64) -> Result<(), Fail> {
        self.change(|t| {
            t.revoked.retain(|_, e| *e > now);
            t.revoked.insert(token.to_owned(), exp);
            while t.revoked.len() > REVOKED_MAX {
                let oldest = t
                    .revoked
                    .iter()
                    .min_by_key(|(_, e)| **e)
                    .map(|(k, _)| k.clone())
                    .expect("more than REVOKED_MAX entries");
                t.revoked.remove(&oldest);
            }
            Ok(())
        })
    }

    /// Revoked tokens that have not expired yet.
    pub fn revoked_live(&self, now: i64) -> Vec<String> {
        self.t
            .revoked
            .iter()
            .filter(|(_, e)| **e > now)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

fn check_acl_count(role: &Role) -> Result<(), Fail> {
    let n = role.clusters.len() + role.buckets.len();
    if n > ACL_ENTRIES_MAX {
        return Err(Fail::new(
            400,
            format!(
                "role {:?} has {n} ACL entries (at most {ACL_ENTRIES_MAX})",
                role.name
            ),
        ));
    }
    Ok(())
}

/// A role as stored: cluster entries keep `id` and `perm` only (an alias shown on GET comes
/// from the registry; URLs belong to registrations).
fn stored_role(role: &Role) -> Role {
    Role {
        clusters: role
            .clusters
            .iter()
            .map(|c| CluAcl {
                id: c.id.clone(),
                perm: c.perm,
                ..Default::default()
            })
            .collect(),
        ..role.clone()
    }
}

/// Write `bytes` to `path` so that a crash leaves the old file or the new one: a temporary
/// file in the same directory (mode 0600), fsync, rename over `path`, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} names no file", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let r = (|| {
        // Owner only: password hashes, revoked tokens, the configuration's secret.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clu(id: &str, p: u64) -> CluAcl {
        CluAcl {
            id: id.into(),
            perm: Perm(p),
            ..Default::default()
        }
    }

    fn bck(name: &str, uuid: &str, p: u64) -> BckAcl {
        BckAcl {
            bck: Bck {
                name: name.into(),
                provider: "ais".into(),
                namespace: Namespace {
                    uuid: uuid.into(),
                    name: String::new(),
                },
            },
            perm: Perm(p),
        }
    }

    fn open(dir: &Path) -> Db {
        Db::open(&dir.join("authn.db.json"), "admin", Some("pw")).unwrap()
    }

    fn user(id: &str, pass: &str, roles: &[&str]) -> UserMsg {
        UserMsg {
            id: id.into(),
            pass: pass.into(),
            roles: roles
                .iter()
                .map(|r| Some(RoleRef { name: (*r).into() }))
                .collect(),
        }
    }

    #[test]
    fn first_start_needs_a_password_and_creates_admin() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("db.json");
        let e = Db::open(&p, "admin", None).unwrap_err();
        assert!(e.contains("AIS_AUTHN_SU_PASS"), "{e}");
        assert!(Db::open(&p, "admin", Some("")).is_err());
        assert!(!p.exists(), "a refused start writes nothing");
        let db = Db::open(&p, "root", Some("secret")).unwrap();
        let u = db.user("root").unwrap();
        assert_eq!(u.roles.len(), 1);
        assert!(u.roles[0].admin && u.roles[0].name == ADMIN_ROLE);
        assert!(db.check_password("root", "secret").is_ok());
        assert_eq!(db.check_password("root", "nope").unwrap_err().status, 401);
        assert_eq!(
            db.check_password("ghost", "secret").unwrap_err().message,
            "invalid credentials"
        );
        // The stored hash is bcrypt, never the password.
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            !text.contains("secret") && text.contains("$2b$10$"),
            "{text}"
        );
        // Not empty any more: no password needed, nothing re-created.
        let again = Db::open(&p, "other", None).unwrap();
        assert_eq!(again.t, db.t);
    }

    #[test]
    fn every_change_survives_a_reload() {
        let d = tempfile::tempdir().unwrap();
        let mut db = open(d.path());
        db.add_cluster(&CluAcl {
            id: "U1".into(),
            alias: "prod".into(),
            urls: vec!["http://127.0.0.1:1".into()],
            ..Default::default()
        })
        .unwrap();
        db.add_role(&Role {
            name: "r1".into(),
            desc: "d".into(),
            clusters: vec![clu("U1", access::RO)],
            buckets: vec![bck("b", "U1", access::RW)],
            ..Default::default()
        })
        .unwrap();
        db.add_user(&user("alice", "pa", &["r1", "missing"]))
            .unwrap();
        db.revoke("tok", 2_000, 1_000).unwrap();
        let re = open(d.path());
        assert_eq!(re.t, db.t);
        assert_eq!(re.user("alice").unwrap().roles[0].name, "r1");
        assert!(re.check_password("alice", "pa").is_ok());
        assert!(re.is_revoked("tok"));
        assert_eq!(re.revoked_live(1_500), ["tok"]);
        assert!(re.revoked_live(2_000).is_empty());
        assert_eq!(
            re.role("ClusterOwner-prod").unwrap().clusters[0].perm,
            Perm(u64::MAX)
        );
        assert_eq!(
            re.role("Guest-prod").unwrap().desc,
            "Read-only access to buckets in U1[prod]"
        );
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["authn.db.json"]);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(d.path().join("authn.db.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_change_that_cannot_be_saved_is_not_kept() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let mut db = open(&sub);
        std::fs::remove_dir_all(&sub).unwrap();
        let e = db.add_user(&user("bob", "pb", &[])).unwrap_err();
        assert_eq!(e.status, 500);
        assert!(
            db.user("bob").is_err(),
            "refused change must not stay in memory"
        );
    }

    #[test]
    fn role_update_replaces_and_appends_token_merge_unions() {
        let mut to = vec![clu("U1", access::GET), clu("U2", access::PUT)];
        merge_cluster_acls(&mut to, &[clu("U1", access::OBJ_LIST), clu("U3", 1)], false);
        assert_eq!(
            to,
            [
                clu("U1", access::OBJ_LIST),
                clu("U2", access::PUT),
                clu("U3", 1)
            ]
        );
        merge_cluster_acls(&mut to, &[clu("U2", access::GET)], true);
        assert_eq!(to[1].perm, Perm(access::PUT | access::GET));

        let mut b = vec![bck("x", "U1", access::GET)];
        merge_bucket_acls(
            &mut b,
            &[bck("x", "U1", access::PUT), bck("x", "U2", 4)],
            false,
        );
        assert_eq!(b, [bck("x", "U1", access::PUT), bck("x", "U2", 4)]);
        merge_bucket_acls(&mut b, &[bck("x", "U1", access::GET)], true);
        assert_eq!(b[0].perm, Perm(access::PUT | access::GET));

        let d = tempfile::tempdir().unwrap();
        let mut db = open(d.path());
        db.add_role(&Role {
            name: "r".into(),
            desc: "first".into(),
            clusters: vec![clu("U1", access::GET)],
            ..Default::default()
        })
        .unwrap();
        db.add_user(&user("u", "p", &["r"])).unwrap();
        db.update_role(
            "r",
            &Role {
                name: "ignored".into(),
                admin: true,
                clusters: vec![clu("U1", 53248)],
                ..Default::default()
            },
        )
        .unwrap();
        let r = db.role("r").unwrap();
        assert_eq!(
            (r.desc.as_str(), r.admin, r.clusters.clone()),
            ("first", false, vec![clu("U1", 53248)])
        );
        // The user sees the updated role at once.
        assert_eq!(db.user("u").unwrap().roles[0].clusters[0].perm, Perm(53248));
        assert_eq!(
            db.update_role("Admin", &Role::default())
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            db.update_role("nope", &Role::default()).unwrap_err().status,
            404
        );
        // Deleting the role takes it from the user.
        db.delete_role("r").unwrap();
        assert!(db.user("u").unwrap().roles.is_empty());
        assert!(db.t.users["u"].roles.is_empty());
    }

    #[test]
    fn refusals_as_ais_answers_them() {
        let d = tempfile::tempdir().unwrap();
        let mut db = open(d.path());
        let st = |r: Result<(), Fail>| r.unwrap_err().status;
        assert_eq!(st(db.add_user(&user("", "p", &[]))), 400);
        assert_eq!(st(db.add_user(&user("x", "", &[]))), 400);
        assert_eq!(st(db.add_user(&user("-x", "p", &[]))), 400);
        assert_eq!(st(db.add_user(&user(&"a".repeat(33), "p", &[]))), 400);
        assert!(db.add_user(&user(&"a".repeat(32), "p", &[])).is_ok());
        assert_eq!(st(db.add_user(&user("x", &"p".repeat(73), &[]))), 400);
        let dup = db.add_user(&user("admin", "p", &[])).unwrap_err();
        assert_eq!(
            (dup.status, dup.message.as_str()),
            (409, "AuthN: user admin already exists")
        );
        assert_eq!(st(db.delete_user("admin")), 403);
        assert_eq!(
            db.delete_user("nobody").unwrap_err().message,
            "user \"nobody\" does not exist"
        );
        assert_eq!(
            st(db.update_user("admin", &user("admin", "", &["Admin"]))),
            403
        );
        assert!(db
            .update_user("admin", &user("admin", "newpass", &[]))
            .is_ok());
        assert!(db.check_password("admin", "newpass").is_ok());
        assert_eq!(st(db.add_role(&Role::default())), 400);
        assert_eq!(
            st(db.add_role(&Role {
                name: "sneaky".into(),
                admin: true,
                ..Default::default()
            })),
            403
        );
        assert_eq!(
            st(db.add_role(&Role {
                name: "Admin".into(),
                ..Default::default()
            })),
            409
        );
        assert_eq!(st(db.delete_role("Admin")), 403);
        assert_eq!(st(db.delete_role("nope")), 404);
        let too_many = Role {
            name: "big".into(),
            clusters: vec![clu("U", 1); ACL_ENTRIES_MAX + 1],
            ..Default::default()
        };
        assert_eq!(st(db.add_role(&too_many)), 400);
        // Clusters: id required, alias nice, neither taken.
        let c = |id: &str, alias: &str| CluAcl {
            id: id.into(),
            alias: alias.into(),
            urls: vec!["http://h:1".into()],
            ..Default::default()
        };
        assert_eq!(db.check_new_cluster(&c("", "a")).unwrap_err().status, 400);
        assert_eq!(
            db.check_new_cluster(&c("U", "a b")).unwrap_err().status,
            400
        );
        db.add_cluster(&c("U", "a")).unwrap();
        let e = db.check_new_cluster(&c("U2", "a")).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (409, "cluster U2[U] already registered")
        );
        assert_eq!(db.check_new_cluster(&c("U", "")).unwrap_err().status, 409);
        assert_eq!(db.cluster("a").unwrap().id, "U");
        assert_eq!(
            db.cluster("zz").unwrap_err().message,
            "AuthN: cluster zz does not exist"
        );
        assert_eq!(
            db.updated_cluster("a", &c("U", "")).unwrap_err().status,
            404,
            "exact id only"
        );
        db.delete_cluster("a").unwrap();
        assert!(db.role("Guest-a").is_ok(), "predefined roles stay");
    }

    #[test]
    fn wire_shapes_take_sdk_nulls_and_write_ais_s() {
        let r: Role = serde_json::from_str(
            r#"{"name":"r","desc":"d","clusters":[{"id":"U","alias":null,"urls":[],"perm":"12288"},null],"buckets":null,"admin":false}"#,
        )
        .unwrap();
        assert_eq!(r.clusters, [clu("U", 12288)]);
        assert!(r.buckets.is_empty());
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"name":"r","desc":"d","clusters":[{"id":"U","perm":"12288"}],"buckets":null,"admin":false}"#
        );
        let u: UserMsg = serde_json::from_str(
            r#"{"id":"u","password":null,"roles":[{"name":"r","desc":"","clusters":null}],"pass":null}"#,
        )
        .unwrap();
        assert_eq!(
            (u.id.as_str(), u.pass.as_str(), u.roles.len()),
            ("u", "", 1)
        );
        let v = UserView {
            id: "u".into(),
            roles: vec![],
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"id":"u","roles":[]}"#
        );
        assert!(is_alpha_nice("a_b-c1") && is_alpha_nice(""));
        assert!(!is_alpha_nice("_a") && !is_alpha_nice("a-") && !is_alpha_nice("a.b"));
    }
}

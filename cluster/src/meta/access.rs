//! AIS access permissions (`apc.AccessAttrs`): one bit per operation, a `u64` written as a
//! decimal string on the wire (bucket prop `access`, AuthN role and token ACLs). Sans-IO.
//!
//! Without client authentication AIS still enforces a bucket's `access` prop, except for
//! reading (GET, HEAD of objects and bucket, listing), PATCH and setting the ACL, which are
//! always allowed so that a bucket cannot be locked against its own repair
//! ([`bucket_allows`]).

/// Read object contents.
pub const GET: u64 = 1;
/// Read object metadata.
pub const OBJ_HEAD: u64 = 1 << 1;
/// Write an object.
pub const PUT: u64 = 1 << 2;
/// Append to an object.
pub const APPEND: u64 = 1 << 3;
/// Delete an object.
pub const OBJ_DELETE: u64 = 1 << 4;
/// Rename an object.
pub const OBJ_MOVE: u64 = 1 << 5;
/// Promote local files.
pub const PROMOTE: u64 = 1 << 6;
/// Update object metadata.
pub const OBJ_UPDATE: u64 = 1 << 7;
/// Read bucket metadata.
pub const BCK_HEAD: u64 = 1 << 8;
/// List objects.
pub const OBJ_LIST: u64 = 1 << 9;
/// Set bucket properties.
pub const PATCH: u64 = 1 << 10;
/// Set bucket permissions.
pub const BCK_SET_ACL: u64 = 1 << 11;
/// List buckets.
pub const LIST_BUCKETS: u64 = 1 << 12;
/// View cluster information.
pub const SHOW_CLUSTER: u64 = 1 << 13;
/// Create a bucket.
pub const CREATE_BUCKET: u64 = 1 << 14;
/// Destroy a bucket.
pub const DESTROY_BUCKET: u64 = 1 << 15;
/// Rename a bucket.
pub const MOVE_BUCKET: u64 = 1 << 16;
/// Every cluster operation.
pub const ADMIN: u64 = 1 << 17;

/// Everything (the default of a bucket's `access`).
pub const ALL: u64 = u64::MAX;
/// `ro`: read objects and bucket, list.
pub const RO: u64 = GET | OBJ_HEAD | BCK_HEAD | OBJ_LIST;
/// `rw`: `ro` and write, append, delete and rename objects.
pub const RW: u64 = RO | PUT | APPEND | OBJ_DELETE | OBJ_MOVE;

/// Names in AIS's order (`AccessAttrs.Describe`), bit by bit.
const NAMES: [(u64, &str); 18] = [
    (GET, "GET"),
    (OBJ_HEAD, "HEAD-OBJECT"),
    (PUT, "PUT"),
    (APPEND, "APPEND"),
    (OBJ_DELETE, "DELETE-OBJECT"),
    (OBJ_MOVE, "MOVE-OBJECT"),
    (PROMOTE, "PROMOTE"),
    (OBJ_UPDATE, "UPDATE-OBJECT"),
    (BCK_HEAD, "HEAD-BUCKET"),
    (OBJ_LIST, "LIST-OBJECTS"),
    (PATCH, "PATCH"),
    (BCK_SET_ACL, "SET-BUCKET-ACL"),
    (LIST_BUCKETS, "LIST-BUCKETS"),
    (SHOW_CLUSTER, "SHOW-CLUSTER"),
    (CREATE_BUCKET, "CREATE-BUCKET"),
    (DESTROY_BUCKET, "DESTROY-BUCKET"),
    (MOVE_BUCKET, "MOVE-BUCKET"),
    (ADMIN, "ADMIN"),
];

/// The operation name of one bit (AIS `AccessOp`).
pub fn op_name(bit: u64) -> &'static str {
    NAMES
        .iter()
        .find(|(b, _)| *b == bit)
        .map_or("<unknown access>", |(_, n)| n)
}

/// The names of the bits set, comma-separated; `none` for 0; with `all` false at most four
/// and ", ..." (AIS `AccessAttrs.Describe`).
pub fn describe(access: u64, all: bool) -> String {
    if access == 0 {
        return "none".to_owned();
    }
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(b, _)| access & b == *b)
        .map(|(_, n)| *n)
        .collect();
    if all || names.len() <= 4 {
        names.join(",")
    } else {
        format!("{}, ...", names[..4].join(","))
    }
}

/// Bits a bucket's `access` prop never withholds without client authentication: reading,
/// PATCH and ACL changes (a bucket cannot be locked against its own repair).
pub const ALWAYS_ALLOWED: u64 = PATCH | BCK_SET_ACL | RO;

/// Check `ace` (the bits a request needs) against a bucket's `access` prop as AIS does
/// without client authentication ([`ALWAYS_ALLOWED`] pass). The error is AIS's message
/// (answered with 403).
pub fn bucket_allows(cname: &str, access: u64, ace: u64) -> Result<(), String> {
    let need = ace & !ALWAYS_ALLOWED;
    if access & need == need {
        return Ok(());
    }
    // Name the first bit missing, as AIS names the one operation it checked.
    let missing = need & !access;
    let bit = 1u64 << missing.trailing_zeros();
    Err(format!(
        "bucket {cname}: {} access denied (allowed: [{}])",
        op_name(bit),
        describe(access, false)
    ))
}

/// Cluster-wide bits (AIS `ClusterAccessRW | AceAdmin`).
pub const CLUSTER_BITS: u64 =
    LIST_BUCKETS | SHOW_CLUSTER | CREATE_BUCKET | DESTROY_BUCKET | MOVE_BUCKET | ADMIN;
/// Bucket-scoped bits (AIS `AccessRW | AccessBucketAdmin | AcePromote`).
pub const BUCKET_BITS: u64 = RW | PATCH | BCK_SET_ACL | OBJ_UPDATE | PROMOTE;

/// Whether a token's `claims` grant `perms` on cluster `cluster_uuid` and, for bucket-scoped
/// bits, on bucket (`name`, `provider`), as AIS checks a token: an admin token may do
/// anything; cluster bits need the cluster's ACL entry (or the entry for any cluster, id "");
/// bucket bits need the bucket's own entry if the token has one, else the cluster's entry.
/// The error names the user and what is missing (answered with 403).
pub fn token_allows(
    claims: &net::jwt::Claims,
    cluster_uuid: &str,
    bck: Option<(&str, &str)>,
    perms: u64,
) -> Result<(), String> {
    if claims.admin {
        return Ok(());
    }
    let denied = |what: String| {
        Err(format!(
            "user `{}` has insufficient permissions: {what}",
            claims.sub
        ))
    };
    if perms == 0 {
        return denied("no operation is granted".into());
    }
    let acls = claims.clusters.as_deref().unwrap_or(&[]);
    let cluster = acls
        .iter()
        .find(|a| a.id == cluster_uuid)
        .or_else(|| acls.iter().find(|a| a.id.is_empty()))
        .map(|a| a.perm.0);
    let clu = perms & CLUSTER_BITS;
    if clu != 0 && cluster.is_none_or(|p| p & clu != clu) {
        return denied(format!(
            "[{}] on the cluster",
            describe(clu & !cluster.unwrap_or(0), true)
        ));
    }
    let obj = perms & BUCKET_BITS;
    if obj != 0 {
        let Some((name, provider)) = bck else {
            return denied(format!("[{}] without a bucket", describe(obj, true)));
        };
        let own = claims.buckets.iter().find(|b| {
            b.bck.namespace.uuid == cluster_uuid
                && b.bck.name == name
                && (b.bck.provider == provider || (b.bck.provider.is_empty() && provider == "ais"))
        });
        let granted = own.map(|b| b.perm.0).or(cluster).unwrap_or(0);
        if granted & obj != obj {
            return denied(format!(
                "[{}] on bucket {provider}://{name}",
                describe(obj & !granted, true)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_names_and_description_are_ais_s() {
        assert_eq!((RO, RW, ADMIN), (771, 831, 131072));
        assert_eq!(
            LIST_BUCKETS | SHOW_CLUSTER | CREATE_BUCKET | DESTROY_BUCKET | MOVE_BUCKET,
            126976
        );
        assert_eq!(describe(0, false), "none");
        assert_eq!(
            describe(RO, false),
            "GET,HEAD-OBJECT,HEAD-BUCKET,LIST-OBJECTS"
        );
        assert_eq!(describe(RW, false), "GET,HEAD-OBJECT,PUT,APPEND, ...");
        assert_eq!(
            describe(RW, true),
            "GET,HEAD-OBJECT,PUT,APPEND,DELETE-OBJECT,MOVE-OBJECT,HEAD-BUCKET,LIST-OBJECTS"
        );
        assert_eq!(op_name(DESTROY_BUCKET), "DESTROY-BUCKET");
        assert_eq!(op_name(3), "<unknown access>");
    }

    #[test]
    fn token_permissions_as_ais_checks_them() {
        use net::jwt::{AclBucket, AclNamespace, BucketAcl, Claims, ClusterAcl, Perm};
        let clu = |id: &str, p: u64| ClusterAcl {
            id: id.into(),
            perm: Perm(p),
        };
        let bck = |n: &str, uuid: &str, p: u64| BucketAcl {
            bck: AclBucket {
                name: n.into(),
                provider: "ais".into(),
                namespace: AclNamespace {
                    uuid: uuid.into(),
                    name: String::new(),
                },
            },
            perm: Perm(p),
        };
        let c = Claims {
            sub: "alice".into(),
            clusters: Some(vec![clu("U1", LIST_BUCKETS | SHOW_CLUSTER | RO)]),
            buckets: vec![bck("w", "U1", RW)],
            ..Default::default()
        };
        let b = |n| Some((n, "ais"));
        assert_eq!(token_allows(&c, "U1", None, LIST_BUCKETS), Ok(()));
        assert_eq!(
            token_allows(&c, "U1", b("any"), GET),
            Ok(()),
            "cluster ACL covers buckets without their own"
        );
        assert_eq!(
            token_allows(&c, "U1", b("w"), PUT),
            Ok(()),
            "the bucket's own entry"
        );
        let e = token_allows(&c, "U1", b("any"), PUT).unwrap_err();
        assert_eq!(
            e,
            "user `alice` has insufficient permissions: [PUT] on bucket ais://any"
        );
        assert!(token_allows(&c, "U1", None, CREATE_BUCKET)
            .unwrap_err()
            .contains("[CREATE-BUCKET] on the cluster"));
        assert!(token_allows(&c, "U1", None, ADMIN).is_err());
        assert!(
            token_allows(&c, "U1", None, GET).is_err(),
            "bucket bits need a bucket"
        );
        assert!(token_allows(&c, "U1", None, 0).is_err());
        // Another cluster: no entry, so nothing; an entry with id "" is for any cluster.
        assert!(token_allows(&c, "U2", b("w"), GET).is_err());
        let any = Claims {
            clusters: Some(vec![clu("", RO)]),
            ..c.clone()
        };
        assert_eq!(token_allows(&any, "U2", b("x"), GET), Ok(()));
        // A bucket entry decides alone, even if it grants less than the cluster's.
        let narrow = Claims {
            buckets: vec![bck("w", "U1", PUT)],
            ..c.clone()
        };
        assert!(token_allows(&narrow, "U1", b("w"), GET).is_err());
        let admin = Claims {
            admin: true,
            clusters: None,
            ..Default::default()
        };
        assert_eq!(
            token_allows(&admin, "U9", None, ADMIN | DESTROY_BUCKET),
            Ok(())
        );
    }

    #[test]
    fn bucket_access_without_authentication() {
        // Everything is allowed by default.
        for ace in [GET, PUT, APPEND, OBJ_DELETE, OBJ_UPDATE, DESTROY_BUCKET, RW] {
            assert_eq!(bucket_allows("ais://b", ALL, ace), Ok(()));
        }
        // A read-only bucket: reads, PATCH and ACL pass; writes are refused by name.
        for ace in [GET, OBJ_HEAD, BCK_HEAD, OBJ_LIST, PATCH, BCK_SET_ACL] {
            assert_eq!(bucket_allows("ais://b", RO, ace), Ok(()), "{ace}");
        }
        assert_eq!(
            bucket_allows("ais://b", RO, PUT).unwrap_err(),
            "bucket ais://b: PUT access denied (allowed: [GET,HEAD-OBJECT,HEAD-BUCKET,LIST-OBJECTS])"
        );
        assert!(bucket_allows("ais://b", RO, OBJ_DELETE)
            .unwrap_err()
            .contains("DELETE-OBJECT access denied"));
        // Even no bit at all still reads.
        assert_eq!(bucket_allows("ais://b", 0, GET), Ok(()));
        assert!(bucket_allows("ais://b", 0, APPEND)
            .unwrap_err()
            .ends_with("APPEND access denied (allowed: [none])"));
        // RW needs every write bit.
        assert!(bucket_allows("ais://b", ALL & !OBJ_MOVE, RW)
            .unwrap_err()
            .contains("MOVE-OBJECT access denied"));
    }
}

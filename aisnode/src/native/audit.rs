//! Known AIS requests this node does not implement (issue 11): each is refused with 501 and
//! a message naming it, never ignored and never taken for a plainer request. The table is
//! the native half of docs/api-audit.md's "refused 501" rows; tests/integration/test_api_audit.py sends every
//! row of docs/api-audit-refusals.json and expects the answer these functions give.
//!
//! Unknown names (not AIS's) keep AIS's behaviour: parameters are ignored, actions are an
//! "invalid action" 400.

use crate::error::ApiError;
use crate::req::Req;

/// Where a row applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/buckets/B`
    Bucket,
    /// `/v1/objects/B/O` (any method: rows with method `*`)
    Object,
    /// `/v1/objects/B` (no object name: bucket-level object actions)
    ObjectsBucket,
    /// `PUT /v1/cluster`
    Cluster,
    /// `/v1/daemon/mountpaths`, `/v1/reverse/daemon/mountpaths`
    Mountpaths,
    /// `PUT /v1/reverse/daemon` (per-node admin actions)
    ReverseDaemon,
}

/// What kind of name a row refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ActMsg.action`
    Action,
    /// A query parameter (refused when present with a value other than empty or "false")
    Query,
}

pub struct Row {
    pub endpoint: Endpoint,
    pub method: &'static str,
    pub kind: Kind,
    pub name: &'static str,
    /// AIS's meaning, for the message.
    pub meaning: &'static str,
}

const fn act(
    endpoint: Endpoint,
    method: &'static str,
    name: &'static str,
    meaning: &'static str,
) -> Row {
    Row {
        endpoint,
        method,
        kind: Kind::Action,
        name,
        meaning,
    }
}

const fn qp(
    endpoint: Endpoint,
    method: &'static str,
    name: &'static str,
    meaning: &'static str,
) -> Row {
    Row {
        endpoint,
        method,
        kind: Kind::Query,
        name,
        meaning,
    }
}

use Endpoint::{Bucket, Cluster, Mountpaths, Object, ObjectsBucket, ReverseDaemon};

/// Actions and query parameters, per endpoint and method.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    // Objects, on every method: a GET would return untransformed bytes.
    qp(Object, "*", "etl_name", "ETL transformations"),
    qp(Object, "*", "etl_pipeline", "ETL pipelines"),
    qp(Object, "*", "etl_args", "ETL arguments"),
    qp(Object, "*", "etl_fqn", "ETL"),
    act(Bucket, "POST", "etl-bck", "transform a bucket with ETL (job)"),
    act(Bucket, "POST", "etl-listrange", "transform a list or range of objects with ETL (job)"),
    act(Bucket, "POST", "rechunk", "re-chunk stored objects (job)"),
    act(Bucket, "POST", "create-inventory", "create a native bucket inventory (job)"),
    act(Bucket, "DELETE", "destroy-inventory", "destroy native bucket inventories"),
    act(Bucket, "GET", "show-inventory", "show native bucket inventories"),
    act(Cluster, "PUT", "decommission", "decommission the whole cluster"),
    act(Cluster, "PUT", "rm-unsafe", "remove a node without rebalance"),
    act(Cluster, "PUT", "reload-creds", "reload backend credentials"),
    act(Cluster, "PUT", "clear-lcache", "clear the object-metadata caches"),
    act(Mountpaths, "POST", "rescan-mp", "rescan a mountpath"),
    act(Mountpaths, "POST", "fshc-mp", "health-check a mountpath's filesystem"),
    qp(Mountpaths, "PUT", "mountpath_label", "a label for the new mountpath"),
];

/// `what=` values of `GET /v1/cluster` and `GET /v1/daemon` (also through
/// `/v1/reverse/daemon`) that AIS serves and this node does not.
pub const WHATS: &[(&str, &str)] = &[
    ("sysinfo", "CPU, memory and capacity of every node"),
    ("node_stats", "node statistics"),
    ("target_ips", "the IP addresses of every target"),
    ("log", "a node's log"),
    ("metrics", "metric names"),
    ("disk", "disk utilization and capacity"),
    ("software_version", "the node's software version"),
    ("smapvote", "the cluster map with voting state"),
    ("ic_bundle", "information-center state"),
    ("getxstats", "one job's statistics"),
];

/// List-objects flags AIS acts on and this node does not (bit, name, meaning).
pub const LSO_FLAGS: &[(u32, &str, &str)] = &[
    (14, "is-s3", "S3-style ETag and LastModified in every entry"),
    (15, "nbi", "list from a native bucket inventory"),
];

/// Headers of a list-objects request that select a feature this node does not have.
pub const LSO_HEADERS: &[(&str, &str)] = &[
    (
        "Ais-Inv-Name",
        "list from the named native bucket inventory",
    ),
    ("Ais-Bucket-Inventory", "list from a bucket inventory"),
];

/// Whole resources of AIS's API this node does not serve.
pub const RESOURCES: &[(&str, &str)] = &[("etl", "ETL (transformations)")];

fn endpoint_name(e: Endpoint) -> &'static str {
    match e {
        Bucket => "/v1/buckets/<bucket>",
        Object => "/v1/objects/<bucket>/<object>",
        ObjectsBucket => "/v1/objects/<bucket>",
        Cluster => "/v1/cluster",
        Mountpaths => "/v1/daemon/mountpaths",
        ReverseDaemon => "/v1/reverse/daemon",
    }
}

/// 501 for an action of the table.
pub fn check_action(endpoint: Endpoint, method: &str, action: &str) -> Result<(), ApiError> {
    match ROWS.iter().find(|r| {
        r.kind == Kind::Action && r.endpoint == endpoint && r.method == method && r.name == action
    }) {
        Some(r) => Err(ApiError::not_implemented(format!(
            "{method} {}: action {:?} ({}) is not supported by this node",
            endpoint_name(endpoint),
            r.name,
            r.meaning
        ))),
        None => Ok(()),
    }
}

/// 501 for a query parameter of the table that the request sets.
pub fn check_query(endpoint: Endpoint, req: &Req) -> Result<(), ApiError> {
    let method = req.head.method.as_str();
    for r in ROWS.iter().filter(|r| {
        r.kind == Kind::Query && r.endpoint == endpoint && (r.method == method || r.method == "*")
    }) {
        if let Some(v) = req.q(r.name) {
            if !v.is_empty() && v != "false" {
                return Err(ApiError::not_implemented(format!(
                    "{method} {}: query parameter {}={v:?} ({}) is not supported by this node",
                    endpoint_name(endpoint),
                    r.name,
                    r.meaning
                )));
            }
        }
    }
    Ok(())
}

/// 501 for a `what=` value of the table.
pub fn check_what(resource: &str, what: &str) -> Result<(), ApiError> {
    match WHATS.iter().find(|(w, _)| *w == what) {
        Some((w, meaning)) => Err(ApiError::not_implemented(format!(
            "/v1/{resource}?what={w} ({meaning}) is not supported by this node"
        ))),
        None => Ok(()),
    }
}

/// 501 for list-objects flags of the table.
pub fn check_lso_flags(flags: u64) -> Result<(), ApiError> {
    for (bit, name, meaning) in LSO_FLAGS {
        if flags & (1u64 << bit) != 0 {
            return Err(ApiError::not_implemented(format!(
                "list-objects flag {name} (1<<{bit}: {meaning}) is not supported by this node"
            )));
        }
    }
    Ok(())
}

/// 501 for list-objects headers of the table.
pub fn check_lso_headers(req: &Req) -> Result<(), ApiError> {
    for (h, meaning) in LSO_HEADERS {
        if req
            .head
            .header(&h.to_ascii_lowercase())
            .is_some_and(|v| !v.is_empty())
        {
            return Err(ApiError::not_implemented(format!(
                "list-objects header {h} ({meaning}) is not supported by this node"
            )));
        }
    }
    Ok(())
}

/// 501 for a resource of the table.
pub fn check_resource(resource: &str) -> Result<(), ApiError> {
    match RESOURCES.iter().find(|(r, _)| *r == resource) {
        Some((r, meaning)) => Err(ApiError::not_implemented(format!(
            "/v1/{r}: {meaning} is not supported by this node"
        ))),
        None => Ok(()),
    }
}

/// 501 naming a field of a control message's value that is set to something other than
/// its default (`what`: the request, e.g. `PUT /v1/cluster "decommission-node"`).
pub fn refuse_field(what: &str, field: &str, value: &serde_json::Value, meaning: &str) -> ApiError {
    ApiError::not_implemented(format!(
        "{what}: {field}={value} ({meaning}) is not supported by this node"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_endpoint_and_method() {
        for (i, a) in ROWS.iter().enumerate() {
            for b in &ROWS[i + 1..] {
                assert!(
                    !(a.endpoint == b.endpoint && a.method == b.method && a.name == b.name),
                    "duplicate row {} {}",
                    a.method,
                    a.name
                );
            }
        }
    }

    #[test]
    fn refusals_name_the_thing() {
        let e = check_action(Bucket, "POST", "etl-bck").unwrap_err();
        assert_eq!(e.status, 501);
        assert!(e.message.contains("\"etl-bck\""), "{}", e.message);
        assert!(check_action(Bucket, "GET", "etl-bck").is_ok());
        let e = check_lso_flags(1 << 14 | 1 << 4).unwrap_err();
        assert!(e.message.contains("is-s3"), "{}", e.message);
        assert!(
            check_lso_flags(1 << 3).is_ok(),
            "arch-dir is served (native::archive)"
        );
        assert!(check_lso_flags(1 << 4 | 1 << 11).is_ok());
        assert!(check_what("cluster", "sysinfo")
            .unwrap_err()
            .message
            .contains("what=sysinfo"));
        assert!(check_resource("etl").is_err() && check_resource("buckets").is_ok());
    }
}

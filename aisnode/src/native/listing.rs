//! List objects (`GET /v1/buckets/<bucket>` with a `list` action): one page, JSON or msgpack
//! as the client asks, gathered by `cluster::listing` (this target's mountpaths, or every
//! active target through a proxy). Flags and fields AIS acts on and this node does not are
//! refused (501, `native::audit`); those that only concern remote buckets are refused as AIS
//! refuses them for an `ais://` bucket, or have no effect, as in AIS.

use super::audit;
use crate::core::Core;
use crate::error::ApiError;
use crate::reply::send_page;
use crate::req::{Outcome, Req};
use cluster::listing::{self, ListQuery};
use net::api::{
    LsoMsg, LSO_FLAG_ARCH_DIR, LSO_FLAG_DIFF, LSO_FLAG_NOT_CACHED, LSO_FLAG_NO_RECURSION,
};
use net::conn::Conn;
use std::rc::Rc;

/// Go's `time.RFC822` layout: AIS's default time format (as is the empty string).
const TIME_FORMAT_RFC822: &str = "02 Jan 06 15:04 MST";

pub async fn list_objects(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    bucket: &str,
    lso: &LsoMsg,
) -> Result<Outcome, ApiError> {
    if cluster::remote::is_remote(bucket) && lso.flags & net::api::LSO_FLAG_CACHED == 0 {
        // A remote bucket: the backend's listing, entries cached here flagged as such
        // (`LSO_FLAG_CACHED`: only what is here; `LSO_FLAG_NOT_CACHED`: only what is not).
        audit::check_lso_flags(lso.flags)?;
        for (bit, name) in [
            (LSO_FLAG_ARCH_DIR, "arch-dir"),
            (LSO_FLAG_NO_RECURSION, "no-recursion"),
            (LSO_FLAG_DIFF, "diff"),
        ] {
            if lso.flags & bit != 0 {
                return Err(ApiError::not_implemented(format!(
                    "list-objects flag {name} on a remote bucket ({}) is not supported by this node",
                    cluster::buckets::cname(bucket)
                )));
            }
        }
        let q = ListQuery::from_lso(lso);
        let page =
            cluster::remote::list_page(&core.node, &core.smap(), bucket, &q, &lso.uuid).await?;
        return send_page(conn, req, &page).await;
    }
    check(core, req, bucket, lso)?;
    let q = ListQuery::from_lso(lso);
    let entries = listing::entries(&core.node, &core.smap(), bucket, &q).await?;
    let page = listing::page(&lso.uuid, entries, q.page_size);
    send_page(conn, req, &page).await
}

/// What AIS's proxy refuses for an `ais://` bucket, and what this node does not implement.
fn check(core: &Core, req: &Req, bucket: &str, lso: &LsoMsg) -> Result<(), ApiError> {
    let cname = cluster::buckets::cname(bucket);
    if lso.flags & LSO_FLAG_DIFF != 0 {
        return Err(ApiError::bad_request(format!(
            "cannot perform remote versions check (or diff vs remote bucket): bucket {cname} does not provide remote versioning info"
        )));
    }
    audit::check_lso_flags(lso.flags)?;
    if lso.flags & LSO_FLAG_ARCH_DIR != 0 && lso.flags & LSO_FLAG_NO_RECURSION != 0 {
        return Err(ApiError::not_implemented(
            "list-objects flags arch-dir and no-recursion together are not supported by this node",
        ));
    }
    if lso.flags & LSO_FLAG_NOT_CACHED != 0 {
        return Err(ApiError::bad_request(format!(
            "{cname} is not a remote bucket - cannot list 'not cached' objects"
        )));
    }
    audit::check_lso_headers(req)?;
    if !matches!(lso.time_format.as_str(), "" | TIME_FORMAT_RFC822) {
        return Err(audit::refuse_field(
            "list-objects",
            "time_format",
            &serde_json::Value::String(lso.time_format.clone()),
            "a time layout other than RFC822",
        ));
    }
    // AIS pins only a remote bucket's listing to `target`; it refuses a target not in the map.
    if !lso.target.is_empty() && !core.smap().tmap.contains_key(&lso.target) {
        return Err(cluster::Error::NodeNotFound {
            id: lso.target.clone(),
            smap_version: core.smap().version,
        }
        .into());
    }
    Ok(())
}

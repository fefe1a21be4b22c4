//! List objects (`GET /v1/buckets/<bucket>` with a `list` action): one page, JSON or msgpack
//! as the client asks, gathered by `cluster::listing` (this target's mountpaths, or every
//! active target through a proxy).

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::send_page;
use crate::req::{Outcome, Req};
use cluster::listing::{self, ListQuery};
use net::api::LsoMsg;
use net::conn::Conn;
use std::rc::Rc;

pub async fn list_objects(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    bucket: &str,
    lso: &LsoMsg,
) -> Result<Outcome, ApiError> {
    let q = ListQuery::from_lso(lso);
    let entries = listing::entries(&core.node, &core.smap(), bucket, &q).await?;
    let page = listing::page(&lso.uuid, entries, q.page_size);
    send_page(conn, req, &page).await
}

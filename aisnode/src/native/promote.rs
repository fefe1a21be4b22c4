//! `POST /v1/objects/<bucket>` `{"action":"promote","name":SRC,"value":PromoteArgs}` (the
//! SDK's `Object.promote`). A proxy sends it to the target named in `tid`, or to every
//! active target (each promotes the files of a shared tree whose objects it owns); a target
//! or all-in-one node runs `cluster::promote`. Answers 200 when every file is stored.

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::send_ok;
use crate::req::Outcome;
use cluster::intra;
use cluster::node::Role;
use cluster::promote::{self, PromoteArgs};
use net::api::ActMsg;
use net::conn::Conn;
use std::rc::Rc;

pub const ACT_PROMOTE: &str = "promote";

pub async fn handle(
    core: &Rc<Core>,
    conn: &mut Conn,
    bucket: &str,
    msg: ActMsg,
) -> Result<Outcome, ApiError> {
    core.bucket_props(bucket)?;
    let mut args: PromoteArgs = if msg.value.is_null() {
        PromoteArgs::default()
    } else {
        serde_json::from_value(msg.value.clone())
            .map_err(|e| ApiError::bad_request(format!("invalid promote arguments: {e}")))?
    };
    if args.src.is_empty() {
        args.src = msg.name.clone();
    }
    if core.node.cfg.role != Role::Proxy {
        if !args.tid.is_empty() && args.tid != core.node.target_id {
            return Err(ApiError::new(
                404,
                format!("target {:?} (tid) is not this node", args.tid),
            ));
        }
        promote::run(&core.node, bucket, &args).await?;
        return send_ok(conn).await;
    }
    let smap = core.smap();
    let targets: Vec<_> = if args.tid.is_empty() {
        smap.active_targets().cloned().collect()
    } else {
        match smap.tmap.get(&args.tid) {
            Some(t) => vec![t.clone()],
            None => {
                return Err(ApiError::new(
                    404,
                    format!(
                        "target {:?} (tid) is not in Smap v{}",
                        args.tid, smap.version
                    ),
                ))
            }
        }
    };
    let body = serde_json::to_vec(&serde_json::json!({
        "action": ACT_PROMOTE,
        "name": args.src,
        "value": msg.value,
    }))
    .map_err(|e| ApiError::internal(e.to_string()))?;
    for t in targets {
        let url = format!(
            "{}/v1/objects/{bucket}?provider=ais",
            t.intra_control_net.direct_url
        );
        let r = intra::call("POST", &url, &[("Content-Type", "application/json")], &body)
            .await
            .map_err(ApiError::from)?;
        if r.status != 200 {
            return Err(ApiError::new(
                r.status,
                format!("promote on target {}: {}", t.daemon_id, r.message()),
            ));
        }
    }
    send_ok(conn).await
}

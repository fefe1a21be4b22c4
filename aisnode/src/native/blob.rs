//! `POST /v1/objects/<bucket>` `{"action":"blob-download","name":<object>,"value":BlobMsg}`
//! (the SDK's `Object.blob_download`, Go `api.BlobDownload`): start a blob download of one
//! object of a remote bucket (`cluster::blob`). A proxy checks the request (a remote bucket,
//! an object name, the message: 400 naming the fault, nothing started) and sends it to the
//! object's owner target, whose answer it passes on; a target or all-in-one node starts the
//! job. The answer is the job's ID as plain text, empty when the object is cached already.

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::send_job_id;
use crate::req::Outcome;
use cluster::blob::{self, BlobMsg};
use cluster::intra;
use cluster::meta::placement;
use cluster::node::Role;
use net::api::ActMsg;
use net::conn::Conn;
use std::rc::Rc;

pub const ACT_BLOB_DOWNLOAD: &str = blob::KIND;

/// `key`: the bucket key (with its provider); `msg`: the action message.
pub async fn handle(
    core: &Rc<Core>,
    conn: &mut Conn,
    key: &str,
    msg: ActMsg,
) -> Result<Outcome, ApiError> {
    blob::check_remote(key)?;
    let object = msg.name.as_str();
    if object.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{}: the object to download is not named (\"name\")",
            blob::KIND
        )));
    }
    engine::name::validate_native_object(object)
        .map_err(|e| ApiError::bad_request(format!("{}: {e}", blob::KIND)))?;
    let bmsg = BlobMsg::from_value(&msg.value)?;
    let node = &core.node;
    if !core.bmd().buckets.contains_key(key) {
        if node.cfg.role == Role::Target {
            if !cluster::membership::refresh_bmd_for(node, key).await {
                return Err(ApiError::bucket_not_found(&cluster::buckets::cname(key)));
            }
        } else {
            // A remote bucket is added on first access (AIS `add-remote-bck`).
            cluster::remote::ensure_bucket(node, key).await?;
        }
    }
    if node.cfg.role == Role::Proxy {
        let smap = core.smap();
        let Some(owner) = placement::owner(&smap, key, object) else {
            return Err(ApiError::new(
                503,
                format!(
                    "no targets in the cluster map (Smap v{}) to download {}/{object}",
                    smap.version,
                    cluster::buckets::cname(key)
                ),
            ));
        };
        let Some(t) = smap.tmap.get(&owner.target_id) else {
            return Err(ApiError::internal(format!(
                "owner {} of {object} is not in Smap v{}",
                owner.target_id, smap.version
            )));
        };
        let body = serde_json::to_vec(&msg).map_err(|e| ApiError::internal(e.to_string()))?;
        let url = format!(
            "{}/v1/objects/{}",
            t.intra_control_net.direct_url,
            cluster::meta::url_path_q(key)
        );
        let r = intra::call("POST", &url, &[("Content-Type", "application/json")], &body)
            .await
            .map_err(ApiError::from)?;
        if r.status != 200 {
            return Err(ApiError::new(
                r.status,
                format!("{} on target {}: {}", blob::KIND, t.daemon_id, r.message()),
            ));
        }
        return send_job_id(conn, &String::from_utf8_lossy(&r.body)).await;
    }
    let (mp, _) = core.owner(key, object);
    let ck = core.with_props(key, |p| p.checksum.ty.clone())?;
    let id = blob::start(node, &mp, key, object, &ck, &bmsg).await?;
    send_job_id(conn, &id).await
}

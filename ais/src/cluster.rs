//! Cluster and storage commands: `ais cluster show` (the Smap), `ais cluster add-remove-nodes
//! start-maintenance|stop-maintenance|decommission|shutdown` (`PUT /v1/cluster` with
//! `{"sid": NODE}`), and `ais storage mountpath show|attach|detach|enable|disable` (the
//! mountpath API through the proxy: `/v1/reverse/daemon/mountpaths` with `Ais-Node-Id`).

use crate::api::Api;
use crate::bucket::confirm;
use crate::cli::{MountpathArgs, MountpathCmd, NodeCmd};
use crate::error::{Error, Result};
use crate::format::{emit, Table};
use net::http::percent_encode_query;

/// Smap node flags (spec §3).
const FLAG_MAINTENANCE: u64 = 4;
const FLAG_DECOMMISSION: u64 = 8;
const FLAG_MAINTENANCE_POST_REBALANCE: u64 = 16;

/// The cluster map.
pub async fn smap(api: &mut Api) -> Result<serde_json::Value> {
    api.get_json("/v1/daemon?what=smap", &[]).await
}

/// The IDs of the targets of an Smap, sorted.
pub fn target_ids(smap: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = smap["tmap"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

fn node_state(flags: u64) -> &'static str {
    if flags & FLAG_DECOMMISSION != 0 {
        "decommissioning"
    } else if flags & (FLAG_MAINTENANCE | FLAG_MAINTENANCE_POST_REBALANCE) != 0 {
        "maintenance"
    } else {
        "online"
    }
}

/// `ais cluster show [--json]`
pub async fn show(api: &mut Api, json: bool) -> Result<()> {
    let m = smap(api).await?;
    if json {
        let s = serde_json::to_string_pretty(&m).expect("a JSON value serializes");
        return emit(&format!("{s}\n"));
    }
    let primary = m["proxy_si"]["daemon_id"].as_str().unwrap_or("").to_owned();
    let mut t = Table::new(&["NODE", "TYPE", "ENDPOINT", "STATUS"]);
    let mut count = [0usize; 2];
    for (i, (map, kind)) in [("pmap", "proxy"), ("tmap", "target")].iter().enumerate() {
        let Some(nodes) = m[*map].as_object() else {
            continue;
        };
        let mut ids: Vec<&String> = nodes.keys().collect();
        ids.sort();
        count[i] = ids.len();
        for id in ids {
            let n = &nodes[id.as_str()];
            let mut status = node_state(n["flags"].as_u64().unwrap_or(0)).to_owned();
            if *kind == "proxy" && *id == primary {
                status.push_str(", primary");
            }
            t.row(vec![
                id.clone(),
                (*kind).to_owned(),
                n["public_net"]["direct_url"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                status,
            ]);
        }
    }
    let mut out = t.render(true);
    out.push_str(&format!(
        "\nProxies: {}, Targets: {}, Primary: {primary}\nSmap version: {}, cluster UUID: {}\n",
        count[0],
        count[1],
        m["version"]
            .as_str()
            .map_or_else(|| m["version"].to_string(), str::to_owned),
        m["uuid"].as_str().unwrap_or(""),
    ));
    emit(&out)
}

/// `ais cluster add-remove-nodes ...`
pub async fn nodes(api: &mut Api, cmd: &NodeCmd) -> Result<()> {
    let (action, node, done) = match cmd {
        NodeCmd::StartMaintenance { node } => ("start-maintenance", node, "is in maintenance"),
        NodeCmd::StopMaintenance { node } => ("stop-maintenance", node, "is out of maintenance"),
        NodeCmd::Decommission { node, yes } => {
            confirm(&format!("Decommission node {node}?"), *yes)?;
            ("decommission-node", node, "is decommissioned")
        }
        NodeCmd::Shutdown { node, yes } => {
            confirm(&format!("Shut down node {node}?"), *yes)?;
            ("shutdown-node", node, "is shutting down")
        }
    };
    let r = api
        .act(
            "PUT",
            "/v1/cluster",
            &[],
            action,
            &serde_json::json!({"sid": node}),
        )
        .await?;
    let xid = r.text();
    let mut out = format!("Node {node} {done}");
    if !xid.is_empty() {
        out.push_str(&format!(" (request {xid})"));
    }
    out.push('\n');
    if action != "shutdown-node" {
        // The Smap change starts a global rebalance on the targets: name it, so that it can
        // be waited for.
        match rebalance_after(api).await? {
            Some(id) => out.push_str(&format!("Started job {id} (to wait: ais job wait {id})\n")),
            None => out.push_str("No rebalance started yet (see: ais job ls rebalance --all)\n"),
        }
    }
    emit(&out)
}

/// How long to look for the rebalance an Smap change started.
const REBALANCE_LOOKUP_MS: u64 = 5_000;
const REBALANCE_POLL_MS: u64 = 100;

/// The ID of a rebalance job started by the current Smap version (or a later one), if one
/// shows up within [`REBALANCE_LOOKUP_MS`].
async fn rebalance_after(api: &mut Api) -> Result<Option<String>> {
    let m = smap(api).await?;
    let version: i64 = m["version"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .or_else(|| m["version"].as_i64())
        .unwrap_or(0);
    let until = std::time::Instant::now() + std::time::Duration::from_millis(REBALANCE_LOOKUP_MS);
    loop {
        let jobs = api.get_json("/v1/cluster?what=jobs", &[]).await?;
        let found = jobs.as_array().into_iter().flatten().find(|j| {
            j["kind"] == "rebalance" && j["smap_version"].as_i64().unwrap_or(0) >= version
        });
        if let Some(j) = found {
            return Ok(j["id"].as_str().map(str::to_owned));
        }
        if std::time::Instant::now() >= until {
            return Ok(None);
        }
        glommio::timer::sleep(std::time::Duration::from_millis(REBALANCE_POLL_MS)).await;
    }
}

/// `ais storage mountpath ...`
pub async fn mountpath(api: &mut Api, cmd: &MountpathCmd) -> Result<()> {
    let (method, action, a, verb) = match cmd {
        MountpathCmd::Show { node, json } => {
            return mountpath_show(api, node.as_deref(), *json).await
        }
        MountpathCmd::Attach(a) => ("PUT", "attach-mp", a, "attached"),
        MountpathCmd::Detach(a) => ("DELETE", "detach-mp", a, "detached"),
        MountpathCmd::Enable(a) => ("POST", "enable-mp", a, "enabled"),
        MountpathCmd::Disable(a) => ("POST", "disable-mp", a, "disabled"),
    };
    mountpath_change(api, method, action, a, verb).await
}

async fn mountpath_change(
    api: &mut Api,
    method: &str,
    action: &str,
    a: &MountpathArgs,
    verb: &str,
) -> Result<()> {
    let mut target = "/v1/reverse/daemon/mountpaths".to_owned();
    if a.no_resilver {
        target.push_str("?dntres=true");
    }
    let r = api
        .act(
            method,
            &target,
            &[("Ais-Node-Id", a.node.as_str())],
            action,
            &serde_json::Value::String(a.path.clone()),
        )
        .await?;
    if r.status == 204 {
        return emit(&format!(
            "{}: mountpath {} is already {verb}: nothing to do\n",
            a.node, a.path
        ));
    }
    let xid = r.text();
    let mut out = format!("{}: mountpath {} {verb}\n", a.node, a.path);
    if !xid.is_empty() {
        out.push_str(&format!(
            "Started job {xid} (to wait: ais job wait {xid})\n"
        ));
    }
    emit(&out)
}

async fn mountpath_show(api: &mut Api, node: Option<&str>, json: bool) -> Result<()> {
    let all = api.get_json("/v1/cluster?what=mountpaths", &[]).await?;
    let Some(map) = all.as_object() else {
        return Err(Error::BadResponse {
            what: "mountpaths".to_owned(),
            error: "not a JSON object".to_owned(),
        });
    };
    if let Some(n) = node {
        if !map.contains_key(n) {
            return Err(Error::Usage(format!(
                "no target {n:?} (targets: {})",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if json {
        let v = node.map_or(&all, |n| &all[n]);
        let s = serde_json::to_string_pretty(v).expect("a JSON value serializes");
        return emit(&format!("{s}\n"));
    }
    let mut ids: Vec<&String> = map
        .keys()
        .filter(|k| node.is_none_or(|n| n == *k))
        .collect();
    ids.sort();
    let mut t = Table::new(&["TARGET", "MOUNTPATH", "STATE"]);
    for id in ids {
        for (key, state) in [
            ("available", "enabled"),
            ("waiting_dd", "detaching/disabling"),
            ("disabled", "disabled"),
        ] {
            for p in map[id.as_str()][key].as_array().into_iter().flatten() {
                t.row(vec![
                    id.clone(),
                    p.as_str().unwrap_or("").to_owned(),
                    state.to_owned(),
                ]);
            }
        }
    }
    emit(&t.render(true))
}

/// The query string of `set-config`: `k1=v1&k2=v2` (percent-encoded).
pub fn config_query(pairs: &[(&str, &str)], transient: bool) -> String {
    let mut q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode_query(k), percent_encode_query(v)))
        .collect();
    if transient {
        q.push("transient=true".to_owned());
    }
    q.join("&")
}

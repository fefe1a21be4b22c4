//! `ais config cluster [KEY | KEY=VALUE...]` and `ais config node NODE_ID [KEY |
//! KEY=VALUE...]`: show (`GET /v1/cluster?what=cluster_config`, or the node's effective config
//! through `/v1/reverse/daemon?what=config` with `Ais-Node-Id`) or set (`PUT
//! /v1/cluster/set-config?k=v`, or `/v1/reverse/daemon/set-config?k=v` for one node).

use crate::api::Api;
use crate::args::{flatten, parse_kv};
use crate::bucket::show_json_or_table;
use crate::cluster::config_query;
use crate::error::{Error, Result};
use crate::format::emit;

/// What the arguments ask for: show (an optional key) or set (pairs).
enum Ask<'a> {
    Show(&'a str),
    Set(Vec<(&'a str, &'a str)>),
}

fn ask(args: &[String]) -> Result<Ask<'_>> {
    match args {
        [] => Ok(Ask::Show("")),
        [key] if !key.contains('=') => Ok(Ask::Show(key)),
        pairs => {
            let kv = pairs
                .iter()
                .map(|p| parse_kv(p))
                .collect::<Result<Vec<_>>>()?;
            Ok(Ask::Set(kv))
        }
    }
}

/// `ais config cluster ...` (`node: None`) or `ais config node NODE ...`.
pub async fn config(
    api: &mut Api,
    node: Option<&str>,
    args: &[String],
    json: bool,
    transient: bool,
) -> Result<()> {
    let hdr: Vec<(&str, &str)> = node.map(|n| ("Ais-Node-Id", n)).into_iter().collect();
    match ask(args)? {
        Ask::Show(key) => {
            let target = if node.is_some() {
                "/v1/reverse/daemon?what=config"
            } else {
                "/v1/cluster?what=cluster_config"
            };
            let doc = api.get_json(target, &hdr).await?;
            show_json_or_table(&doc, key, json)
        }
        Ask::Set(pairs) => {
            let q = config_query(&pairs, transient);
            let (target, show_target) = if node.is_some() {
                (
                    format!("/v1/reverse/daemon/set-config?{q}"),
                    "/v1/reverse/daemon?what=config",
                )
            } else {
                (
                    format!("/v1/cluster/set-config?{q}"),
                    "/v1/cluster?what=cluster_config",
                )
            };
            api.call("PUT", &target, &hdr, b"").await?;
            let after = flatten(&api.get_json(show_target, &hdr).await?);
            let mut out = String::new();
            for (k, _) in &pairs {
                let v = after
                    .iter()
                    .find(|(ak, _)| ak == k)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| Error::BadResponse {
                        what: "config after set-config".to_owned(),
                        error: format!("no {k:?} in the configuration"),
                    })?;
                out.push_str(&format!("\"{k}\" set to: \"{v}\"\n"));
            }
            emit(&out)
        }
    }
}

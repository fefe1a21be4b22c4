//! `ais`: the command-line client of an AIStore-compatible cluster, with AIS's verbs (see
//! `cli.rs` and `ais/README.md`). It sees the cluster only as a client does: the native REST
//! API through `net::client`, on one glommio executor on the main thread.
//!
//! Exit status: 0 success; 1 a failed request or operation (one line on stderr: `ais:
//! <why>`); 2 a command-line error (clap's usage message, with suggestions).

mod api;
mod args;
mod bucket;
mod cli;
mod cluster;
mod config;
mod error;
mod format;
mod job;
mod object;
mod perf;
mod progress;

use clap::{CommandFactory, Parser};
use cli::{
    BucketCmd, Cli, ClusterCmd, Cmd, ConfigCmd, JobCmd, ObjectCmd, PropsCmd, Shell, ShowCmd,
    StorageCmd, TlsCmd,
};
use error::{Error, Result};

/// glommio I/O memory of the executor: the CLI does no glommio file I/O, so the minimum.
const EXECUTOR_IO_MEMORY_BYTES: usize = 64 << 10;

fn main() {
    let cli = Cli::parse();
    if let Cmd::Completion { shell } = cli.cmd {
        let mut cmd = Cli::command();
        let mut out = Vec::new();
        let shell = match shell {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
        };
        clap_complete::generate(shell, &mut cmd, "ais", &mut out);
        exit_on(format::emit_bytes(&out));
        return;
    }
    let url = std::env::var("AIS_ENDPOINT")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| api::ENDPOINT_DEFAULT.to_owned());
    let executor = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("ais")
        .io_memory(EXECUTOR_IO_MEMORY_BYTES)
        .make()
        .map_err(|e| Error::Failed(format!("cannot start the I/O executor: {e}")));
    let r = executor.and_then(|ex| ex.run(run(cli.cmd, url)));
    exit_on(r);
}

fn exit_on(r: Result<()>) {
    if let Err(e) = r {
        eprintln!("ais: {e}");
        std::process::exit(1);
    }
}

async fn run(cmd: Cmd, url: String) -> Result<()> {
    let mut api = api::Api::new(&url)?;
    let api = &mut api;
    match cmd {
        Cmd::Ls(a) | Cmd::Bucket(BucketCmd::Ls(a)) | Cmd::Object(ObjectCmd::Ls(a)) => {
            bucket::ls(api, &a).await
        }
        Cmd::Bucket(BucketCmd::Create { buckets }) => bucket::create(api, &buckets).await,
        Cmd::Bucket(BucketCmd::Rm { buckets, yes }) => bucket::rm(api, &buckets, yes).await,
        Cmd::Bucket(BucketCmd::Props(PropsCmd::Show {
            bucket,
            prop_prefix,
            json,
        })) => bucket::props_show(api, &bucket, prop_prefix.as_deref(), json).await,
        Cmd::Bucket(BucketCmd::Props(PropsCmd::Set { bucket, props })) => {
            bucket::props_set(api, &bucket, &props).await
        }
        Cmd::Put(a) | Cmd::Object(ObjectCmd::Put(a)) => object::put(api, &a).await,
        Cmd::Get(a) | Cmd::Object(ObjectCmd::Get(a)) => object::get(api, &a).await,
        Cmd::Object(ObjectCmd::Rm { objects }) => object::rm(api, &objects).await,
        Cmd::Object(ObjectCmd::Cat { object }) => object::cat(api, &object).await,
        Cmd::Cluster(ClusterCmd::Show { json }) | Cmd::Show(ShowCmd::Cluster { json }) => {
            cluster::show(api, json).await
        }
        Cmd::Cluster(ClusterCmd::AddRemoveNodes(c)) => cluster::nodes(api, &c).await,
        Cmd::Tls(TlsCmd::LoadCertificate { node }) => {
            let path = match &node {
                Some(id) => format!("/v1/cluster/load-x509/{id}"),
                None => "/v1/cluster/load-x509".to_owned(),
            };
            api.call("PUT", &path, &[], b"").await?;
            format::emit(&format!(
                "Done: TLS certificate reloaded on {}\n",
                node.as_deref().unwrap_or("every node")
            ))
        }
        Cmd::Tls(TlsCmd::Show { node }) => {
            let v = match &node {
                Some(id) => {
                    api.get_json(
                        "/v1/reverse/daemon?what=tls_certificate",
                        &[("Ais-Node-Id", id)],
                    )
                    .await?
                }
                None => api.get_json("/v1/daemon?what=tls_certificate", &[]).await?,
            };
            let text = serde_json::to_string_pretty(&v).expect("JSON value serializes");
            format::emit(&format!("{text}\n"))
        }
        Cmd::Storage(StorageCmd::Mountpath(c)) => cluster::mountpath(api, &c).await,
        Cmd::Job(JobCmd::Ls {
            kind,
            all,
            json,
            units,
        }) => job::ls(api, kind.as_deref(), all, json, units).await,
        Cmd::Job(JobCmd::Wait(a)) | Cmd::Wait(a) => job::wait(api, &a).await,
        Cmd::Job(JobCmd::Stop { id }) => job::stop(api, &id).await,
        Cmd::Job(JobCmd::Start(c)) => job::start(api, &c).await,
        Cmd::Config(ConfigCmd::Cluster {
            args,
            json,
            transient,
        }) => config::config(api, None, &args, json, transient).await,
        Cmd::Config(ConfigCmd::Node {
            node,
            args,
            json,
            transient,
        }) => config::config(api, Some(&node), &args, json, transient).await,
        Cmd::Show(ShowCmd::Performance(a)) => perf::show(api, &a).await,
        Cmd::Completion { .. } => unreachable!("handled before the executor starts"),
    }
}

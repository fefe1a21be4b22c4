//! `cluster`: layers 1-3 of a node (DESIGN.md §2). The `aisnode` crate builds the API
//! handlers (layer 4) and the per-core server (layer 5) on top; nothing here names an HTTP
//! server or response type, and a lower layer never imports a higher one
//! (`tests/layers.rs` fails if one does).
//!
//! 1. [`meta`]: cluster metadata, sans-IO (Smap, BMD, jsp, placement, the version rule, IDs).
//! 2. [`node`]: node state (configuration, identity, published snapshots, the mountpath set).
//! 3. Control-plane services: [`intra`] (calls to other nodes), [`xact`] (the job registry),
//!    [`daemon`] (the node with its job registry), [`gfn`] (get-from-neighbour), [`listing`],
//!    [`buckets`], [`transfer`] (object transfers between targets), [`rebalance`], [`membership`] (join, keepalive, metasync, maintenance),
//!    [`mountpaths`] (runtime changes), [`resilver`], [`jobs`] (the job API), [`vote`]
//!    (primary failover and set-primary), [`config`] (the cluster configuration:
//!    set-config, node overrides, sync), [`backend`] (remote backends: the S3 client), [`remote`]
//!    (remote buckets: this cluster as a cache in front of a backend), [`blob`] (blob downloads:
//!    one large remote object as parallel ranged GETs), [`space`] (capacity,
//!    watermarks, out of space, access times, space cleanup), [`lru`] (the LRU eviction job).
//!
//! [`error`] is the typed error every layer returns (times and dates are `net::time`).

pub mod error;

// Layer 1.
pub mod meta;

// Layer 2.
pub mod node;

// Layer 3.
pub mod auth;
pub mod backend;
pub mod blob;
pub mod buckets;
pub mod config;
pub mod daemon;
pub mod download;
pub mod dsort;
pub mod ec;
pub mod fshc;
pub mod gfn;
pub mod intra;
pub mod jobs;
pub mod lifecycle;
pub mod listing;
pub mod lru;
pub mod membership;
pub mod metasync;
pub mod metrics;
pub mod mirror;
pub mod mountpaths;
pub mod multiobj;
pub mod promote;
pub mod rebalance;
pub mod remote;
pub mod resilver;
pub mod shardidx;
pub mod space;
pub mod stats;
pub mod transfer;
pub mod vote;
pub mod xact;

pub use daemon::Node;
pub use error::{Error, Result};

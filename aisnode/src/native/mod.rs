//! The native AIS API (spec §2), one module per resource: objects, buckets, listing,
//! redirects, node and cluster queries, membership, configuration, jobs, mountpaths.

pub mod append;
pub mod archive;
pub mod audit;
pub mod blob;
pub mod body;
pub mod buckets;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod download;
pub mod dsort;
pub mod ec;
pub mod jobs;
pub mod lifecycle;
pub mod listing;
pub mod ml;
pub mod mountpaths;
pub mod multipart;
pub mod objects;
pub mod promote;
pub mod redirect;
pub mod x509;

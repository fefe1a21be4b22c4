//! aisloader: a load generator compatible with AIStore's `aisloader` (spec §7): same flags and
//! output, native AIS API or any S3 server, closed or open loop, hdrhistogram percentiles and
//! content verification. It sees the system only as a client does: its one workspace
//! dependency is `net` (HTTP client and wire formats).
//!
//! Modules: [`error`] (the library's one error type, [`Error`]), [`flags`] (Go `flag` syntax,
//! sizes, durations), [`params`] (the AIS flag table and its validation),
//! [`format`](mod@format) (AIS output formats), [`content`] (names, sizes, content as a
//! function of the name), [`stats`] (counters, histograms, reports), [`bucket`] (control-plane
//! calls), [`s3`] (SigV4 through `net`, ListObjectsV2), [`run`] (executors, workers, the run
//! itself).

pub mod bucket;
pub mod content;
pub mod direct;
pub mod error;
pub mod flags;
pub mod format;
pub mod params;
pub mod run;
pub mod s3;
pub mod stats;

pub use error::{Error, Result};

//! net: the HTTP/1.1 server on glommio (sans-IO parsing in [`http`], connections with limits
//! and deadlines in [`conn`]), the native AIS API's wire formats ([`api`]), the S3 protocol
//! ([`s3`]), and the helpers every crate of the workspace shares: timestamps ([`time`]) and
//! hex ([`hex`]). [`fuzzing`] holds the fuzz targets' bodies (run by `net/fuzz` and by
//! `tests/fuzz_replay.rs`).
//! Depends on no workspace crate: no storage, no cluster map.

pub mod api;
pub mod client;
pub mod conn;
pub mod fuzzing;
pub mod hex;
pub mod http;
pub mod jwt;
pub mod s3;
pub mod signals;
pub mod time;
pub mod tls;

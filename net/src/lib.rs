//! net: the HTTP/1.1 server on glommio (sans-IO parsing in [`http`], connections with limits
//! and deadlines in [`conn`]) and the native AIS API's wire formats ([`api`]).
//! Depends on no workspace crate: no storage, no cluster map.

pub mod api;
pub mod client;
pub mod conn;
pub mod http;
pub mod s3;

//! An AuthN service compatible with AIStore's (`cmd/authn` in NVIDIA/aistore): users, roles,
//! registered clusters, RS256 or HS256 tokens and their revocation, over AIS's HTTP API, so that the
//! `aistore` SDK's `AuthNClient` and AIS's CLI manage it unchanged (docs/authn.md,
//! docs/authn-wire.md).
//!
//! A separate daemon, as AIS's: nodes never call it. It calls them: to check at registration
//! that a cluster accepts its tokens, and to pass revoked tokens on.
//!
//! - [`config`]: `authn.json` and the environment;
//! - [`store`]: the database (users, roles, clusters, revoked tokens) and its file;
//! - [`service`]: the HTTP API, request by request, without sockets;
//! - [`signer`]: the RSA signing key (RS256), its public PEM, key id and JWK;
//! - [`server`]: the blocking HTTP/1.1 server around it;
//! - [`aisreq`]: the calls to clusters.

pub mod aisreq;
pub mod config;
pub mod server;
pub mod service;
pub mod signer;
pub mod store;

//! cluster: the node roles (proxy and target), routing and redirects, the Smap and BMD,
//! and the per-core servers of the `aisnode` binary. Composes `engine` and `net`.

pub mod api_error;
pub mod forward;
pub mod membership;
pub mod meta;
pub mod mountpaths;
pub mod node;
pub mod proxy;
pub mod rebalance;
pub mod resilver;
pub mod s3;
pub mod server;
pub mod target;
pub mod time;
pub mod xact;

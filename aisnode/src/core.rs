//! One core's server state as every handler sees it: the node, this core's cached views of
//! the published snapshots (one atomic load per request), and the owner of an object.

use crate::error::ApiError;
use cluster::meta::{placement, Bmd, Bprops, Smap};
use cluster::node::{LocalView, MpSet};
use cluster::Node;
use engine::mountpath::Mountpath;
use glommio::channels::shared_channel::ConnectedSender;
use std::cell::Cell;
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// Socket-to-disk copy buffer of a PUT (object, part, append).
pub const PUT_RECV_BYTES: usize = 256 * 1024;

/// A connection moving to the core that owns its request's object.
pub struct Handoff {
    pub fd: OwnedFd,
    pub buf: Vec<u8>,
}

pub struct Core {
    pub id: usize,
    pub node: Arc<Node>,
    pub(crate) smap: LocalView<Smap>,
    pub(crate) bmd: LocalView<Bmd>,
    pub(crate) mps: LocalView<MpSet>,
    /// Hand-off channel to each other core (`None` at our own index).
    pub(crate) senders: Vec<Option<ConnectedSender<Handoff>>>,
    pub(crate) conns: Cell<usize>,
    pub(crate) next_req: Cell<u64>,
}

impl Core {
    pub fn smap(&self) -> Arc<Smap> {
        self.smap.get(&self.node.smap)
    }
    pub fn bmd(&self) -> Arc<Bmd> {
        self.bmd.get(&self.node.bmd)
    }
    /// This target's mountpath set (a snapshot; one atomic load unless it changed).
    pub fn mps(&self) -> Arc<MpSet> {
        self.mps.get(&self.node.mountpaths)
    }
    /// The props of AIS bucket `bucket` from this core's BMD view; 404 if it has none.
    pub fn bucket_props(&self, bucket: &str) -> Result<Bprops, ApiError> {
        self.bmd()
            .buckets
            .get(bucket)
            .cloned()
            .ok_or_else(|| ApiError::bucket_not_found(&cluster::buckets::cname(bucket)))
    }

    /// Owning (mountpath, core) of an object by HRW over this target's available mountpaths.
    pub fn owner(&self, bucket: &str, object: &str) -> (Arc<Mountpath>, usize) {
        self.mps()
            .choose(placement::object_digest(bucket, object))
            .expect("a target has at least one available mountpath")
    }
}

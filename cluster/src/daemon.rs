//! The node as its services see it: the node state (layer 2) plus the registry of the jobs
//! it runs. `Node` dereferences to [`NodeState`], so services read `node.cfg`, `node.smap`
//! and use `node.jobs` alike. One per process, shared by every core (`Arc<Node>`).

use crate::error::Result;
use crate::node::{NodeConfig, NodeState};
use crate::xact::Jobs;

pub struct Node {
    pub state: NodeState,
    /// Jobs (rebalance, resilver) run on this node.
    pub jobs: Jobs,
}

impl Node {
    /// Blocking set-up before the reactors start: mountpaths, IDs, persisted Smap and BMD.
    pub fn init(cfg: NodeConfig) -> Result<Node> {
        Ok(Node {
            state: NodeState::init(cfg)?,
            jobs: Jobs::default(),
        })
    }
}

impl std::ops::Deref for Node {
    type Target = NodeState;
    fn deref(&self) -> &NodeState {
        &self.state
    }
}

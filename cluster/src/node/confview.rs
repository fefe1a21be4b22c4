//! What a node reads of the published configuration (`NodeState::config`): the effective
//! values (cluster config with this node's override), never the start-up flags.

use super::{NodeState, Role};
use crate::meta::config::ClusterConfig;
use std::sync::Arc;
use std::time::Duration;

impl NodeState {
    /// The configuration this node uses now (cluster config with its override).
    pub fn effective_config(&self) -> Arc<ClusterConfig> {
        Arc::new(self.config.load().effective.clone())
    }

    /// How often this node sends keepalives (a target: `keepalivetracker.target.interval`,
    /// a proxy: `keepalivetracker.proxy.interval`); the primary checks at the shorter of
    /// the two.
    pub fn keepalive_interval(&self) -> Duration {
        let c = self.config.load();
        let k = &c.effective.keepalivetracker;
        match self.cfg.role {
            Role::Target => k.target.interval.0,
            _ if self.is_primary() => k.proxy.interval.0.min(k.target.interval.0),
            _ => k.proxy.interval.0,
        }
    }

    /// How long a target (or a proxy) may stay silent before the primary removes it.
    pub fn keepalive_timeout_of(&self, target: bool) -> Duration {
        let c = self.config.load();
        let k = &c.effective.keepalivetracker;
        if target {
            k.target.timeout()
        } else {
            k.proxy.timeout()
        }
    }
}

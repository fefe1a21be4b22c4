//! A request as the handlers see it, and what a handler tells the server to do next.

use net::http::{BodyKind, RequestHead};

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The node's public port (shared by every core): plays the proxy.
    Public,
    /// A core's own port: plays the target.
    Core,
}

/// Request header of a client that sends an object request straight to the owning target
/// core, computed from the cluster map (HRW over the active targets, then over the owning
/// target's mountpaths, whose cores the Smap lists): no redirect hop, and a PUT's body is
/// sent once. An aisnode extension (AIS's targets take only redirected PUTs); `docs/direct.md`.
pub const HDR_DIRECT: &str = "Ais-Direct";

/// What the server does with the connection after a handler.
pub enum Outcome {
    KeepAlive,
    Close,
    /// Move the connection to this core (it owns the request's object).
    Handoff(usize),
}

/// A parsed request.
pub struct Req {
    pub head: RequestHead,
    pub query: Vec<(String, String)>,
    pub remote: String,
    pub listener: Listener,
    /// Set once the handler has consumed the request body.
    pub body_done: bool,
    /// A control body read before the handler (authorization needs the action it names);
    /// `reply::read_body` hands it out.
    pub prefetched: Option<Vec<u8>>,
}

impl Req {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    pub fn q_true(&self, k: &str) -> bool {
        matches!(
            self.q(k),
            Some("true") | Some("1") | Some("yes") | Some("y") | Some("on")
        )
    }
    /// Redirect marker (spec §2.3): both `pid` and `utm` present.
    pub fn redirected(&self) -> bool {
        self.q("pid").is_some() && self.q("utm").is_some()
    }
    pub fn has_body(&self) -> bool {
        !matches!(self.head.body, BodyKind::Empty | BodyKind::Length(0))
    }
    /// `path?query` as the client sent it.
    pub fn target(&self) -> String {
        if self.head.query.is_empty() {
            self.head.path.clone()
        } else {
            format!("{}?{}", self.head.path, self.head.query)
        }
    }
}

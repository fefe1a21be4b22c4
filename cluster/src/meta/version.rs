//! The rule every node applies to a Smap or BMD it is sent: a typed decision, so callers
//! (and peers, through a response header) act on a variant, never on message text.

/// What to do with a received metadata version, given the one we hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Newer (or the first we see): persist and publish it.
    Apply,
    /// The version we already have: nothing to do.
    Same,
    /// Older than ours: refuse (a newer one overtook it).
    Older,
    /// From another cluster (UUID differs): refuse.
    OtherCluster,
}

impl Decision {
    /// The token peers see in the `Ais-Meta-Decision` header of a refusal.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Apply => "apply",
            Decision::Same => "same",
            Decision::Older => "older",
            Decision::OtherCluster => "other-cluster",
        }
    }
    pub fn parse(s: &str) -> Option<Decision> {
        [
            Decision::Apply,
            Decision::Same,
            Decision::Older,
            Decision::OtherCluster,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// Decide on metadata `(uuid, version)` offered while we hold `(cur_uuid, cur_version)`.
/// A node that holds nothing yet (version 0 or no UUID) takes any cluster's.
pub fn decide(cur_uuid: &str, cur_version: i64, uuid: &str, version: i64) -> Decision {
    if !cur_uuid.is_empty() && cur_version > 0 && uuid != cur_uuid {
        return Decision::OtherCluster;
    }
    if version < cur_version {
        return Decision::Older;
    }
    if version == cur_version && cur_version > 0 {
        return Decision::Same;
    }
    Decision::Apply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_table() {
        use Decision::*;
        // (held uuid, held version, offered uuid, offered version) -> decision
        let table: [(&str, i64, &str, i64, Decision); 11] = [
            ("", 0, "A", 1, Apply),   // first map of a joining node
            ("", 0, "A", 0, Apply),   // nothing held: take it
            ("A", 0, "B", 5, Apply),  // UUID but no version yet (pre-join)
            ("A", 3, "A", 4, Apply),  // newer
            ("A", 3, "A", 30, Apply), // much newer
            ("A", 3, "A", 3, Same),   // same
            ("A", 3, "A", 2, Older),  // older
            ("A", 3, "A", -1, Older), // nonsense version
            ("A", 3, "B", 4, OtherCluster),
            ("A", 3, "B", 2, OtherCluster), // other cluster wins over older
            ("A", 3, "", 4, OtherCluster),  // no UUID is another cluster
        ];
        for (cu, cv, u, v, want) in table {
            assert_eq!(
                decide(cu, cv, u, v),
                want,
                "held {cu}/{cv}, offered {u}/{v}"
            );
        }
    }

    #[test]
    fn header_tokens_round_trip() {
        for d in [
            Decision::Apply,
            Decision::Same,
            Decision::Older,
            Decision::OtherCluster,
        ] {
            assert_eq!(Decision::parse(d.as_str()), Some(d));
        }
        assert_eq!(Decision::parse("older Smap"), None);
    }
}

//! The election's rules, sans-IO (the protocol that applies them is `crate::vote`): how a
//! node votes, who wins, and the Smap the winner commits.

use super::Smap;
use std::time::Duration;

/// A node's vote on a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ballot {
    Yes,
    No(String),
}

/// What a voter knows when the vote request arrives.
pub struct Voter<'a> {
    /// The Smap it holds.
    pub held: &'a Smap,
    /// It is the primary itself.
    pub is_primary: bool,
    /// Since the primary last answered it.
    pub silent: Duration,
    /// The keepalive interval.
    pub interval: Duration,
}

/// The vote before the voter checks the primary itself: `Some(No)` settles it, `None`
/// means "check the primary, then [`vote_after_probe`]".
pub fn vote_before_probe(v: &Voter, primary: &str, vote_smap_version: i64) -> Option<Ballot> {
    if v.is_primary {
        return Some(Ballot::No("this node is the primary".into()));
    }
    let held_primary = &v.held.proxy_si.daemon_id;
    if v.held.version > vote_smap_version && held_primary != primary {
        return Some(Ballot::No(format!(
            "Smap v{} already names another primary {held_primary}",
            v.held.version
        )));
    }
    if held_primary != primary {
        return Some(Ballot::No(format!(
            "the vote replaces {primary}, our primary is {held_primary}"
        )));
    }
    if v.silent < v.interval {
        return Some(Ballot::No(format!(
            "heard from the primary {} ms ago",
            v.silent.as_millis()
        )));
    }
    None
}

/// The vote once the voter knows whether the primary answers: YES only for the proxy its
/// own Smap makes the HRW candidate.
pub fn vote_after_probe(
    v: &Voter,
    primary: &str,
    candidate: &str,
    primary_answers: bool,
) -> Ballot {
    if primary_answers {
        return Ballot::No(format!("the primary {primary} answers"));
    }
    match v.held.hrw_proxy(primary) {
        Some(c) if c.daemon_id == candidate => Ballot::Yes,
        Some(c) => Ballot::No(format!("our HRW candidate is {}", c.daemon_id)),
        None => Ballot::No("no electable proxy in our Smap".into()),
    }
}

/// The candidate wins with more YES than NO (a voter that did not answer is a NO); with
/// nobody to ask (a cluster of the candidate and the failed primary) it wins, as in AIS.
pub fn won(yes: usize, no: usize) -> bool {
    yes > no || yes + no == 0
}

/// How much the winner bumps the Smap version (AIS: 100), so that whatever a deposed primary
/// may still produce is older.
pub const ELECTION_VERSION_BUMP: i64 = 100;

/// The Smap the winner `me` commits (before the version bump): `old` removed, `me` primary.
/// `None` if `me` is not a proxy of `smap`.
pub fn commit(smap: &mut Smap, me: &str, old: &str) -> Option<()> {
    let si = smap.pmap.get(me)?.clone();
    smap.remove(old);
    smap.proxy_si = si;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{Snode, FLAG_NON_ELECTABLE};

    fn smap(primary: &str, proxies: &[(&str, u64, u64)], version: i64) -> Smap {
        let mut s = Smap::empty("u", version);
        for (id, digest, flags) in proxies {
            let mut p = Snode::placeholder();
            p.daemon_id = (*id).into();
            p.daemon_type = "proxy".into();
            p.id_digest = *digest;
            p.flags = *flags;
            s.pmap.insert((*id).into(), p);
        }
        s.proxy_si = s.pmap[primary].clone();
        s
    }

    #[test]
    fn votes() {
        let s = smap("p1", &[("p1", 10, 0), ("p2", 30, 0), ("p3", 20, 0)], 5);
        let ms = Duration::from_millis;
        let v = Voter {
            held: &s,
            is_primary: false,
            silent: ms(2000),
            interval: ms(500),
        };
        assert_eq!(vote_before_probe(&v, "p1", 5), None);
        assert_eq!(vote_after_probe(&v, "p1", "p2", false), Ballot::Yes);
        assert!(matches!(
            vote_after_probe(&v, "p1", "p3", false),
            Ballot::No(_)
        ));
        assert!(matches!(
            vote_after_probe(&v, "p1", "p2", true),
            Ballot::No(_)
        ));
        // Heard from the primary within the interval.
        let v2 = Voter {
            silent: ms(100),
            ..v
        };
        assert!(matches!(
            vote_before_probe(&v2, "p1", 5),
            Some(Ballot::No(_))
        ));
        // The primary itself, and a vote to replace a primary we do not follow.
        let v3 = Voter {
            held: &s,
            is_primary: true,
            silent: ms(2000),
            interval: ms(500),
        };
        assert!(matches!(
            vote_before_probe(&v3, "p1", 5),
            Some(Ballot::No(_))
        ));
        let v4 = Voter {
            held: &s,
            is_primary: false,
            silent: ms(2000),
            interval: ms(500),
        };
        assert!(matches!(
            vote_before_probe(&v4, "p3", 4),
            Some(Ballot::No(_))
        ));
        // A non-electable proxy is never the candidate.
        let s2 = smap(
            "p1",
            &[("p1", 10, 0), ("p2", 30, FLAG_NON_ELECTABLE), ("p3", 20, 0)],
            5,
        );
        let v5 = Voter {
            held: &s2,
            is_primary: false,
            silent: ms(2000),
            interval: ms(500),
        };
        assert!(matches!(
            vote_after_probe(&v5, "p1", "p2", false),
            Ballot::No(_)
        ));
        assert_eq!(vote_after_probe(&v5, "p1", "p3", false), Ballot::Yes);
    }

    #[test]
    fn tally_and_commit() {
        assert!(won(3, 2) && !won(2, 2) && !won(1, 2) && won(0, 0) && won(1, 0));
        let mut s = smap("p1", &[("p1", 10, 0), ("p2", 30, 0)], 5);
        assert!(commit(&mut s, "p2", "p1").is_some());
        assert_eq!(s.proxy_si.daemon_id, "p2");
        assert!(!s.pmap.contains_key("p1"));
        assert!(commit(&mut s, "nobody", "p2").is_none());
    }
}

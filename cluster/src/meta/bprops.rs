//! Changing bucket props, sans-IO: AIS's `set-bprops` (a partial `BpropsToSet`: absent or
//! null keys keep their value), `reset-bprops` (back to the defaults) and the props a
//! `create-bck` may carry. The result is validated as a whole, each refusal naming the
//! property, and says which job the change needs (`make-n-copies`, `ec-encode`).
//!
//! Props this node does not act on are refused when a request would change them (501 naming
//! them), never stored silently: the rate limiter, chunking, write policies other than
//! `immediate`, feature flags, backend buckets, LRU on an `ais://` bucket, EC compression.

use super::bmd::Bprops;
use serde_json::Value;

/// Checksum types AIS knows (`cos.SupportedChecksums`).
pub const CKSUM_TYPES: [&str; 7] = [
    "none", "xxhash", "xxhash2", "md5", "crc32c", "sha256", "sha512",
];
/// Mirror copies AIS allows in bucket props.
pub const MIRROR_COPIES_MAX: i64 = 32;
/// Whether this build can erasure-code a bucket (until it can, enabling EC is refused).
pub const EC_IMPLEMENTED: bool = true;
/// Data and parity slice counts AIS allows.
pub const EC_SLICES_MAX: i64 = 32;

/// What the cluster looks like when the change is validated.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Active targets in the Smap.
    pub targets: usize,
    /// The fewest available mountpaths of any active target (`None`: unknown).
    pub min_mountpaths: Option<usize>,
}

/// A job a props change starts on every target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Make every object have this many copies (1: remove the extra copies).
    MakeNCopies(i64),
    /// Erasure-code every object that is not yet.
    EcEncode,
}

impl Job {
    /// The AIS job kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::MakeNCopies(_) => "make-n-copies",
            Job::EcEncode => "ec-encode",
        }
    }
}

/// Why a change is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropsError {
    /// A malformed or out-of-range value (400).
    Invalid(String),
    /// A known property this node does not implement (501).
    NotImplemented(String),
    /// Refused by the bucket's current state (409).
    Conflict(String),
}

impl std::fmt::Display for PropsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropsError::Invalid(m) | PropsError::NotImplemented(m) | PropsError::Conflict(m) => {
                f.write_str(m)
            }
        }
    }
}

/// The props after applying the partial `value` (a `BpropsToSet` JSON object) to `cur`, and the
/// job the change needs. `force` (AIS: `value.force`) accepts an EC layout wider than the
/// cluster and a changed EC size limit.
pub fn apply(
    cur: &Bprops,
    value: &Value,
    limits: Limits,
) -> Result<(Bprops, Option<Job>), PropsError> {
    let Value::Object(req) = value else {
        return Err(PropsError::Invalid(format!(
            "invalid set-bucket-props request: expected a JSON object of props, got {value}"
        )));
    };
    let mut req = req.clone();
    let force = match req.remove("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(v) => return Err(PropsError::Invalid(format!("invalid force: {v}"))),
    };
    let mut merged =
        serde_json::to_value(cur).map_err(|e| PropsError::Invalid(format!("bucket props: {e}")))?;
    merge(&mut merged, &Value::Object(req.clone()), "")?;
    let mut new: Bprops = serde_json::from_value(merged)
        .map_err(|e| PropsError::Invalid(format!("invalid set-bucket-props request: {e}")))?;
    // Identity is not the client's to set.
    new.provider.clone_from(&cur.provider);
    new.bid = cur.bid;
    new.created = cur.created;
    normalize(cur, &mut new);
    check(cur, &new, limits, force)?;
    Ok((new.clone(), job(cur, &new)))
}

/// `reset-bprops`: the defaults a new bucket gets, keeping the bucket's identity; the job the
/// change needs (removing extra copies when the bucket was mirrored).
pub fn reset(cur: &Bprops) -> (Bprops, Option<Job>) {
    let new = Bprops::new_ais(cur.bid, cur.created);
    let job = job(cur, &new);
    (new, job)
}

/// Deep-merge `patch` into `base`: objects key by key, null keeps the old value, anything else
/// replaces. A key the props do not have is refused, naming its dotted path.
fn merge(base: &mut Value, patch: &Value, path: &str) -> Result<(), PropsError> {
    let (Value::Object(b), Value::Object(p)) = (&mut *base, patch) else {
        if !patch.is_null() {
            *base = patch.clone();
        }
        return Ok(());
    };
    for (k, v) in p {
        let key = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match b.get_mut(k) {
            Some(slot) => {
                if v.is_object() && !slot.is_object() {
                    return Err(PropsError::Invalid(format!(
                        "invalid {key}: expected a value, got an object"
                    )));
                }
                merge(slot, v, &key)?;
            }
            None if v.is_null() => {}
            None => {
                return Err(PropsError::Invalid(format!(
                    "unknown bucket property {key:?}"
                )))
            }
        }
    }
    Ok(())
}

/// AIS's adjustments before validation: enabling EC bumps zero slice counts to 1; enabling
/// the mirror with `copies` 1 means 2; `copies` 1 otherwise turns mirroring off.
fn normalize(cur: &Bprops, new: &mut Bprops) {
    if new.ec.enabled && !cur.ec.enabled {
        new.ec.data_slices = new.ec.data_slices.max(1);
        new.ec.parity_slices = new.ec.parity_slices.max(1);
    }
    if new.mirror.enabled && new.mirror.copies <= 1 {
        if cur.mirror.enabled {
            new.mirror.enabled = false;
            new.mirror.copies = 1;
        } else {
            new.mirror.copies = 2;
        }
    }
    if new.mirror.copies == 0 {
        new.mirror.copies = 2;
    }
}

fn check(cur: &Bprops, new: &Bprops, limits: Limits, force: bool) -> Result<(), PropsError> {
    let invalid = |m: String| Err(PropsError::Invalid(m));
    let unsupported = |m: String| Err(PropsError::NotImplemented(m));
    // checksum
    if !CKSUM_TYPES.contains(&new.checksum.ty.as_str()) {
        return invalid(format!(
            "invalid checksum.type {:?} (expecting one of {})",
            new.checksum.ty,
            CKSUM_TYPES.join(", ")
        ));
    }
    if new.checksum.enable_read_range && !cur.checksum.enable_read_range {
        return unsupported(
            "checksum.enable_read_range: range checksums are not implemented".into(),
        );
    }
    // versioning of a remote bucket's objects
    for (on, name) in [
        (
            new.versioning.validate_warm_get,
            "versioning.validate_warm_get",
        ),
        (new.versioning.synchronize, "versioning.synchronize"),
    ] {
        if on {
            return unsupported(format!(
                "{name}: applies to remote backends, which are not implemented"
            ));
        }
    }
    // mirror
    if new.mirror.enabled {
        if !(2..=MIRROR_COPIES_MAX).contains(&new.mirror.copies) {
            return invalid(format!(
                "invalid mirror.copies: {} (expected value in range [2, {MIRROR_COPIES_MAX}])",
                new.mirror.copies
            ));
        }
        if let Some(m) = limits.min_mountpaths {
            if new.mirror.copies as usize > m {
                return invalid(format!(
                    "invalid mirror.copies: {}: not enough mountpaths ({m}) on a target to keep {} copies",
                    new.mirror.copies, new.mirror.copies
                ));
            }
        }
    }
    if new.mirror.burst_buffer < 0 {
        return invalid(format!(
            "invalid mirror.burst_buffer: {} (expected >= 0)",
            new.mirror.burst_buffer
        ));
    }
    // ec
    let (d, p) = (new.ec.data_slices, new.ec.parity_slices);
    if new.ec.enabled && !cur.ec.enabled && !EC_IMPLEMENTED {
        return unsupported("ec.enabled: erasure coding is not implemented yet".into());
    }
    if new.ec.enabled {
        for (v, name) in [(d, "ec.data_slices"), (p, "ec.parity_slices")] {
            if !(1..=EC_SLICES_MAX).contains(&v) {
                return invalid(format!(
                    "invalid {name}: {v} (expected value in range [1, {EC_SLICES_MAX}])"
                ));
            }
        }
        if new.ec.objsize_limit < -1 {
            return invalid(format!(
                "invalid ec.objsize_limit: {} (expected >= -1; -1: always replicate)",
                new.ec.objsize_limit
            ));
        }
        if cur.ec.enabled {
            if (d, p) != (cur.ec.data_slices, cur.ec.parity_slices) {
                return invalid(format!(
                    "once enabled, EC data/parity slices cannot change (old D={}, P={}; new D={d}, P={p}): disable EC first",
                    cur.ec.data_slices, cur.ec.parity_slices
                ));
            }
            if new.ec.objsize_limit != cur.ec.objsize_limit && !force {
                return invalid(format!(
                    "cannot change ec.objsize_limit of an EC bucket ({} to {}) without force",
                    cur.ec.objsize_limit, new.ec.objsize_limit
                ));
            }
        }
        // Slice i goes to HRW rank i of the targets, the owner (rank 0) keeping the object
        // and slice 0: D+P targets (AIS asks for one more). Replicas only: the owner and P.
        let need = if new.ec.objsize_limit == -1 {
            p + 1
        } else {
            d + p
        } as usize;
        if limits.targets < need && !force {
            return invalid(format!(
                "not enough target nodes: EC configuration (D = {d}, P = {p}) requires at least {need} targets (have {})",
                limits.targets
            ));
        }
    }
    if new.ec.compression != cur.ec.compression && new.ec.compression != "never" {
        if new.ec.compression == "always" {
            return unsupported(
                "ec.compression \"always\": compressed slices are not implemented".into(),
            );
        }
        return invalid(format!(
            "invalid ec.compression {:?} (expecting never or always)",
            new.ec.compression
        ));
    }
    if !(1..=16).contains(&new.ec.bundle_multiplier) {
        return invalid(format!(
            "invalid ec.bundle_multiplier: {} (expected value in range [1, 16])",
            new.ec.bundle_multiplier
        ));
    }
    if new.ec.enabled && new.mirror.enabled {
        return unsupported(
            "mirror and ec both enabled on one bucket: not implemented (choose one)".into(),
        );
    }
    // lru: `enabled` on any bucket (AIS allows it on an ais:// bucket, explicitly: its objects
    // then have no other copy once evicted).
    for (v, name, min_s) in [
        (&new.lru.dont_evict_time, "lru.dont_evict_time", 3600),
        (&new.lru.capacity_upd_time, "lru.capacity_upd_time", 10),
    ] {
        match parse_duration_s(v) {
            Some(s) if s >= min_s => {}
            Some(_) => return invalid(format!("invalid {name} {v:?}: must be at least {min_s}s")),
            None => {
                return invalid(format!(
                    "invalid {name} {v:?}: expected a duration such as \"2h\", \"90m\", \"30s\""
                ))
            }
        }
    }
    {
        use crate::meta::space::{LRU_BATCH_SIZE_MAX, LRU_BATCH_SIZE_MIN};
        if !(LRU_BATCH_SIZE_MIN..=LRU_BATCH_SIZE_MAX).contains(&new.lru.batch_size) {
            return invalid(format!(
                "invalid lru.batch_size {}: expected {LRU_BATCH_SIZE_MIN} to {LRU_BATCH_SIZE_MAX}",
                new.lru.batch_size
            ));
        }
    }
    // the rest: AIS sections this node does not act on must stay as they are
    for (k, v) in &new.rest {
        if cur.rest.get(k) != Some(v) {
            return unsupported(format!(
                "bucket property {k:?} cannot be changed: not implemented by this node"
            ));
        }
    }
    Ok(())
}

/// The job a change from `cur` to `new` needs: AIS re-mirrors when the mirror is turned on or
/// its copies change, and encodes when EC is turned on. Turning the mirror off also runs
/// `make-n-copies` (to 1 copy), unlike AIS, which leaves the extra copies: a copy the PUT path
/// no longer refreshes must not outlive its object, or a self-healing GET could serve it.
fn job(cur: &Bprops, new: &Bprops) -> Option<Job> {
    if new.mirror.enabled && (!cur.mirror.enabled || cur.mirror.copies != new.mirror.copies) {
        return Some(Job::MakeNCopies(new.mirror.copies));
    }
    if cur.mirror.enabled && !new.mirror.enabled {
        return Some(Job::MakeNCopies(1));
    }
    if new.ec.enabled && !cur.ec.enabled {
        return Some(Job::EcEncode);
    }
    None
}

/// Seconds of a Go duration string (`2h0m`, `10m`, `90s`, `1h30m`); `None` if malformed.
pub fn parse_duration_s(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
    }
    num.is_empty().then_some(total)
}

/// A `create-bck` value applied over the defaults: `Ok(None)` when it asks for nothing.
pub fn for_create(
    defaults: &Bprops,
    value: &Value,
    limits: Limits,
) -> Result<(Bprops, Option<Job>), PropsError> {
    match value {
        Value::Null => Ok((defaults.clone(), None)),
        Value::Object(m) if m.is_empty() => Ok((defaults.clone(), None)),
        v => apply(defaults, v, limits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WIDE: Limits = Limits {
        targets: 6,
        min_mountpaths: Some(4),
    };

    fn dflt() -> Bprops {
        Bprops::new_ais(7, 9)
    }

    fn err(v: Value) -> PropsError {
        apply(&dflt(), &v, WIDE).unwrap_err()
    }

    #[test]
    fn partial_set_keeps_the_rest_and_names_the_job() {
        let (p, job) = apply(
            &dflt(),
            &json!({"mirror": {"enabled": true, "copies": 3}, "checksum": {"type": "sha256"}}),
            WIDE,
        )
        .unwrap();
        assert_eq!((p.mirror.enabled, p.mirror.copies), (true, 3));
        assert_eq!(p.checksum.ty, "sha256");
        assert!(
            p.checksum.validate_warm_get,
            "untouched keys keep their value"
        );
        assert_eq!((p.bid, p.created), (7, 9));
        assert_eq!(job, Some(Job::MakeNCopies(3)));
        // Same copies again: nothing to do; fewer copies: a job that trims.
        assert_eq!(
            apply(&p, &json!({"mirror": {"copies": 3}}), WIDE)
                .unwrap()
                .1,
            None
        );
        let (q, job) = apply(&p, &json!({"mirror": {"copies": 2}}), WIDE).unwrap();
        assert_eq!((q.mirror.copies, job), (2, Some(Job::MakeNCopies(2))));
        // copies 1 turns it off, and the extra copies go.
        let (q, job) = apply(&p, &json!({"mirror": {"copies": 1}}), WIDE).unwrap();
        assert_eq!((q.mirror.enabled, job), (false, Some(Job::MakeNCopies(1))));
        let (q, job) = apply(&p, &json!({"mirror": {"enabled": false}}), WIDE).unwrap();
        assert_eq!((q.mirror.enabled, job), (false, Some(Job::MakeNCopies(1))));
        let ec = apply(
            &dflt(),
            &json!({"ec": {"enabled": true, "data_slices": 4, "parity_slices": 1}}),
            WIDE,
        );
        if EC_IMPLEMENTED {
            let (q, job) = ec.unwrap();
            assert_eq!(
                (q.ec.data_slices, q.ec.parity_slices, job),
                (4, 1, Some(Job::EcEncode))
            );
        } else {
            assert!(matches!(ec, Err(PropsError::NotImplemented(_))), "{ec:?}");
        }
        let (q, _) = apply(
            &dflt(),
            &json!({"access": "771", "versioning": {"enabled": false}}),
            WIDE,
        )
        .unwrap();
        assert_eq!((q.access, q.versioning.enabled), (771, false));
    }

    #[test]
    fn refusals_name_the_property() {
        let cases: Vec<(Value, &str, bool)> = vec![
            (
                json!({"checksum": {"type": "crc64"}}),
                "checksum.type",
                false,
            ),
            (
                json!({"mirror": {"enabled": true, "copies": 5}}),
                "not enough mountpaths",
                false,
            ),
            (
                json!({"mirror": {"enabled": true, "copies": 40}}),
                "mirror.copies",
                false,
            ),
            (
                json!({"ec": {"compression": "sometimes"}}),
                "ec.compression",
                false,
            ),
            (
                json!({"lru": {"dont_evict_time": "abc"}}),
                "lru.dont_evict_time",
                false,
            ),
            (
                json!({"mirror": {"copies": "x"}}),
                "invalid set-bucket-props",
                false,
            ),
            (json!({"nosuch": 1}), "\"nosuch\"", false),
            (json!({"mirror": {"nosuch": 1}}), "\"mirror.nosuch\"", false),
            (json!([1]), "JSON object", false),
            (json!({"lru": {"batch_size": 1}}), "lru.batch_size", false),
            (json!({"features": "4"}), "\"features\"", true),
            (
                json!({"write_policy": {"md": "never"}}),
                "\"write_policy\"",
                true,
            ),
            (
                json!({"checksum": {"enable_read_range": true}}),
                "enable_read_range",
                true,
            ),
            (
                json!({"ec": {"compression": "always"}}),
                "ec.compression",
                true,
            ),
            (
                json!({"versioning": {"synchronize": true}}),
                "versioning.synchronize",
                true,
            ),
        ];
        for (v, needle, nyi) in cases {
            let e = err(v.clone());
            assert_eq!(
                matches!(e, PropsError::NotImplemented(_)),
                nyi,
                "{v}: {e:?}"
            );
            assert!(e.to_string().contains(needle), "{v}: {e}");
        }
    }

    #[test]
    fn ec_slices_are_fixed_once_enabled_and_force_overrides_width() {
        if !EC_IMPLEMENTED {
            return;
        }
        for (v, needle) in [
            (
                json!({"ec": {"enabled": true, "data_slices": 4, "parity_slices": 3}}),
                "EC configuration (D = 4, P = 3) requires at least 7 targets (have 6)",
            ),
            (
                json!({"ec": {"enabled": true, "data_slices": 0, "parity_slices": 33}}),
                "ec.parity_slices",
            ),
        ] {
            assert!(err(v.clone()).to_string().contains(needle), "{v}");
        }
        // D+P targets are enough: the owner keeps slice 0.
        assert!(apply(
            &dflt(),
            &json!({"ec": {"enabled": true, "data_slices": 4, "parity_slices": 2}}),
            WIDE,
        )
        .is_ok());
        let (ec, _) = apply(
            &dflt(),
            &json!({"ec": {"enabled": true, "data_slices": 2, "parity_slices": 1}}),
            WIDE,
        )
        .unwrap();
        let e = apply(&ec, &json!({"ec": {"data_slices": 3}}), WIDE).unwrap_err();
        assert!(e.to_string().contains("cannot change"), "{e}");
        let e = apply(&ec, &json!({"ec": {"objsize_limit": 10}}), WIDE).unwrap_err();
        assert!(e.to_string().contains("without force"), "{e}");
        assert!(apply(
            &ec,
            &json!({"ec": {"objsize_limit": 10}, "force": true}),
            WIDE
        )
        .is_ok());
        let narrow = Limits {
            targets: 2,
            min_mountpaths: Some(1),
        };
        assert!(apply(&dflt(), &json!({"ec": {"enabled": true}}), narrow).is_err());
        assert!(apply(
            &dflt(),
            &json!({"ec": {"enabled": true}, "force": true}),
            narrow
        )
        .is_ok());
        // Disable, then re-enable with other slices.
        let (off, job) = apply(&ec, &json!({"ec": {"enabled": false}}), WIDE).unwrap();
        assert_eq!(job, None);
        assert!(apply(
            &off,
            &json!({"ec": {"enabled": true, "data_slices": 3}}),
            WIDE
        )
        .is_ok());
    }

    #[test]
    fn reset_restores_defaults_and_identity() {
        let (p, _) = apply(
            &dflt(),
            &json!({"mirror": {"enabled": true}, "access": "1"}),
            WIDE,
        )
        .unwrap();
        let (r, job) = reset(&p);
        assert_eq!(r, dflt());
        assert_eq!(job, Some(Job::MakeNCopies(1)));
        assert_eq!(reset(&dflt()).1, None);
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_duration_s("2h0m"), Some(7200));
        assert_eq!(parse_duration_s("90s"), Some(90));
        assert_eq!(parse_duration_s("1h30m15s"), Some(5415));
        for bad in ["", "2", "h", "2x", "1.5h"] {
            assert_eq!(parse_duration_s(bad), None, "{bad}");
        }
    }
}

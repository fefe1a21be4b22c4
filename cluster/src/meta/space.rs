//! Layer 1: AIS's cluster config sections `space` (capacity watermarks) and `lru` (eviction
//! defaults), their validation, and the watermark arithmetic every user of them shares.
//! Sans-IO: capacities come in as numbers.
//!
//! # Semantics (AIS's, `cmn/config.go` and `docs/storage_svcs.md`)
//! - Used capacity is a percentage per mountpath (its file system): `used * 100 / total`.
//! - Above `highwm` the LRU job runs and evicts until the mountpath is at `lowwm`.
//! - Above `out_of_space` new writes fail (507) until used capacity is back under it.
//! - `cleanupwm` is the level at which space cleanup starts.
//! - Watermarks must be `0 < cleanupwm <= lowwm <= highwm <= out_of_space <= 100`.
//! - `lru.dont_evict_time`: an object accessed within it is never evicted (AIS minimum 1h);
//!   `lru.capacity_upd_time`: how often capacity is refreshed (AIS minimum 10s);
//!   `lru.batch_size`: objects selected per eviction round (AIS range 1Ki..512Ki);
//!   `lru.enabled`: the default `lru.enabled` of remote buckets when they are added.
//!
//! # What this module does not do
//! No statvfs, no walking, no deleting: `crate::space` and `crate::lru` do that.

use super::config::{ConfigError, Dur};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// AIS's defaults (`cleanupWMDflt` ...).
pub const CLEANUP_WM_DEFAULT: i64 = 65;
pub const LOW_WM_DEFAULT: i64 = 75;
pub const HIGH_WM_DEFAULT: i64 = 90;
pub const OOS_DEFAULT: i64 = 95;
pub const DONT_CLEANUP_TIME_MS_DEFAULT: u64 = 30 * 60_000;
pub const DONT_CLEANUP_TIME_MS_MIN: u64 = 15 * 60_000;
pub const DONT_EVICT_TIME_MS_DEFAULT: u64 = 2 * 3_600_000;
pub const DONT_EVICT_TIME_MS_MIN: u64 = 3_600_000;
pub const CAPACITY_UPD_TIME_MS_DEFAULT: u64 = 10 * 60_000;
pub const CAPACITY_UPD_TIME_MS_MIN: u64 = 10_000;
/// AIS's `GCBatchSize*`: objects per eviction round.
pub const LRU_BATCH_SIZE_DEFAULT: i64 = 32 * 1024;
pub const LRU_BATCH_SIZE_MIN: i64 = 1024;
pub const LRU_BATCH_SIZE_MAX: i64 = 512 * 1024;

const _: () = assert!(
    0 < CLEANUP_WM_DEFAULT
        && CLEANUP_WM_DEFAULT <= LOW_WM_DEFAULT
        && LOW_WM_DEFAULT <= HIGH_WM_DEFAULT
        && HIGH_WM_DEFAULT <= OOS_DEFAULT
        && OOS_DEFAULT <= 100
);
const _: () = assert!(
    LRU_BATCH_SIZE_MIN <= LRU_BATCH_SIZE_DEFAULT && LRU_BATCH_SIZE_DEFAULT <= LRU_BATCH_SIZE_MAX
);

/// AIS `space`: used-capacity watermarks (percent of each mountpath's file system).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpaceConf {
    pub cleanupwm: i64,
    pub lowwm: i64,
    pub highwm: i64,
    pub out_of_space: i64,
    /// Space cleanup leaves alone anything modified within this time (AIS
    /// `space.dont_cleanup_time`).
    pub dont_cleanup_time: Dur,
}

impl Default for SpaceConf {
    fn default() -> Self {
        SpaceConf {
            cleanupwm: CLEANUP_WM_DEFAULT,
            lowwm: LOW_WM_DEFAULT,
            highwm: HIGH_WM_DEFAULT,
            out_of_space: OOS_DEFAULT,
            dont_cleanup_time: Dur::from_ms(DONT_CLEANUP_TIME_MS_DEFAULT),
        }
    }
}

/// AIS `lru` (cluster section; a bucket's own `lru` props are `crate::meta::LruConf`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LruConf {
    pub dont_evict_time: Dur,
    pub capacity_upd_time: Dur,
    pub batch_size: i64,
    pub enabled: bool,
}

impl Default for LruConf {
    fn default() -> Self {
        LruConf {
            dont_evict_time: Dur::from_ms(DONT_EVICT_TIME_MS_DEFAULT),
            capacity_upd_time: Dur::from_ms(CAPACITY_UPD_TIME_MS_DEFAULT),
            batch_size: LRU_BATCH_SIZE_DEFAULT,
            enabled: true,
        }
    }
}

fn invalid(path: &str, msg: String) -> ConfigError {
    ConfigError {
        path: path.to_string(),
        msg,
        not_implemented: false,
    }
}

impl SpaceConf {
    /// AIS's rule: `0 < cleanupwm <= lowwm <= highwm <= out_of_space <= 100`; the error
    /// names the first watermark out of order.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let order = format!(
            "(expecting 0 < cleanupwm <= lowwm <= highwm <= out_of_space <= 100; got cleanupwm={}, lowwm={}, highwm={}, out_of_space={})",
            self.cleanupwm, self.lowwm, self.highwm, self.out_of_space
        );
        let checks: [(&str, bool); 4] = [
            ("space.cleanupwm", self.cleanupwm > 0),
            ("space.lowwm", self.lowwm >= self.cleanupwm),
            ("space.highwm", self.highwm >= self.lowwm),
            (
                "space.out_of_space",
                self.out_of_space >= self.highwm && self.out_of_space <= 100,
            ),
        ];
        for (path, ok) in checks {
            if !ok {
                return Err(invalid(path, format!("invalid value {order}")));
            }
        }
        if self.dont_cleanup_time.0 < Duration::from_millis(DONT_CLEANUP_TIME_MS_MIN) {
            return Err(invalid(
                "space.dont_cleanup_time",
                format!(
                    "invalid value {} (expecting at least {})",
                    self.dont_cleanup_time,
                    Dur::from_ms(DONT_CLEANUP_TIME_MS_MIN)
                ),
            ));
        }
        Ok(())
    }

    /// Is a mountpath at `pct` used percent above the high watermark (LRU should run)?
    pub fn above_high(&self, pct: u64) -> bool {
        pct > self.highwm as u64
    }

    /// Is a mountpath at `pct` used percent out of space (new writes fail)?
    pub fn is_oos(&self, pct: u64) -> bool {
        pct > self.out_of_space as u64
    }

    /// Bytes the LRU job frees on a mountpath with `used` of `total` bytes: down to the low
    /// watermark once used capacity reached the high one, else nothing (AIS `evictSize`).
    pub fn evict_bytes(&self, used: u64, total: u64) -> u64 {
        if total == 0 || pct_used(used, total) < self.highwm as u64 {
            return 0;
        }
        let low = (u128::from(total) * self.lowwm as u128 / 100) as u64;
        used.saturating_sub(low)
    }
}

impl LruConf {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (path, v, min_ms) in [
            (
                "lru.dont_evict_time",
                self.dont_evict_time,
                DONT_EVICT_TIME_MS_MIN,
            ),
            (
                "lru.capacity_upd_time",
                self.capacity_upd_time,
                CAPACITY_UPD_TIME_MS_MIN,
            ),
        ] {
            if v.0 < Duration::from_millis(min_ms) {
                return Err(invalid(
                    path,
                    format!(
                        "invalid value {v} (expecting at least {})",
                        Dur::from_ms(min_ms)
                    ),
                ));
            }
        }
        if !(LRU_BATCH_SIZE_MIN..=LRU_BATCH_SIZE_MAX).contains(&self.batch_size) {
            return Err(invalid(
                "lru.batch_size",
                format!(
                    "invalid value {} (expecting {LRU_BATCH_SIZE_MIN} to {LRU_BATCH_SIZE_MAX})",
                    self.batch_size
                ),
            ));
        }
        Ok(())
    }
}

/// Used percent (rounded down), 0 for an empty file system.
pub fn pct_used(used: u64, total: u64) -> u64 {
    (u128::from(used) * 100)
        .checked_div(u128::from(total))
        .unwrap_or(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wm(c: i64, l: i64, h: i64, o: i64) -> SpaceConf {
        SpaceConf {
            cleanupwm: c,
            lowwm: l,
            highwm: h,
            out_of_space: o,
            ..SpaceConf::default()
        }
    }

    #[test]
    fn watermarks_in_order_or_the_error_names_the_first_out_of_order() {
        SpaceConf::default().validate().unwrap();
        wm(1, 1, 1, 1).validate().unwrap();
        wm(65, 75, 90, 100).validate().unwrap();
        for (s, path) in [
            (wm(0, 75, 90, 95), "space.cleanupwm"),
            (wm(-1, 75, 90, 95), "space.cleanupwm"),
            (wm(80, 75, 90, 95), "space.lowwm"),
            (wm(65, 95, 90, 96), "space.highwm"),
            (wm(65, 75, 96, 95), "space.out_of_space"),
            (wm(65, 75, 90, 101), "space.out_of_space"),
        ] {
            assert_eq!(s.validate().unwrap_err().path, path, "{s:?}");
        }
        let mut s = SpaceConf {
            dont_cleanup_time: Dur::from_ms(DONT_CLEANUP_TIME_MS_MIN - 1),
            ..SpaceConf::default()
        };
        assert_eq!(s.validate().unwrap_err().path, "space.dont_cleanup_time");
        s.dont_cleanup_time = Dur::from_ms(DONT_CLEANUP_TIME_MS_MIN);
        s.validate().unwrap();
    }

    #[test]
    fn lru_limits_hold_at_the_bound_and_refuse_one_past_it() {
        LruConf::default().validate().unwrap();
        let mut c = LruConf {
            dont_evict_time: Dur::from_ms(DONT_EVICT_TIME_MS_MIN),
            capacity_upd_time: Dur::from_ms(CAPACITY_UPD_TIME_MS_MIN),
            ..LruConf::default()
        };
        c.validate().unwrap();
        c.dont_evict_time = Dur::from_ms(DONT_EVICT_TIME_MS_MIN - 1);
        assert_eq!(c.validate().unwrap_err().path, "lru.dont_evict_time");
        c.dont_evict_time = Dur::from_ms(DONT_EVICT_TIME_MS_MIN);
        c.capacity_upd_time = Dur::from_ms(CAPACITY_UPD_TIME_MS_MIN - 1);
        assert_eq!(c.validate().unwrap_err().path, "lru.capacity_upd_time");
        c.capacity_upd_time = Dur::from_ms(CAPACITY_UPD_TIME_MS_MIN);
        for (b, ok) in [
            (LRU_BATCH_SIZE_MIN, true),
            (LRU_BATCH_SIZE_MAX, true),
            (LRU_BATCH_SIZE_MIN - 1, false),
            (LRU_BATCH_SIZE_MAX + 1, false),
        ] {
            c.batch_size = b;
            assert_eq!(c.validate().is_ok(), ok, "batch_size {b}");
        }
    }

    #[test]
    fn evict_down_to_low_once_at_high() {
        let s = wm(65, 75, 90, 95);
        // Below the high watermark: nothing.
        assert_eq!(s.evict_bytes(89, 100), 0);
        // At or above it: down to the low watermark.
        assert_eq!(s.evict_bytes(90, 100), 15);
        assert_eq!(s.evict_bytes(99, 100), 24);
        assert_eq!(s.evict_bytes(1_000_000, 1_000_000), 250_000);
        assert_eq!(s.evict_bytes(0, 0), 0);
        // Large file systems do not overflow.
        let t = u64::MAX / 2;
        assert!(s.evict_bytes(t, t) > 0);
        assert!(!s.above_high(90) && s.above_high(91));
        assert!(!s.is_oos(95) && s.is_oos(96));
        assert_eq!(pct_used(1, 3), 33);
        assert_eq!(pct_used(5, 0), 0);
    }
}

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

/// A connection moving to the core that owns its request's object: the descriptor, the
/// plaintext already read (the request head rewound), and for a TLS connection its session
/// (rustls state and ciphertext not yet decrypted), which is `Send` and moves too.
pub struct Handoff {
    pub fd: OwnedFd,
    pub buf: Vec<u8>,
    pub tls: Option<net::tls::TlsState>,
}

pub struct Core {
    pub id: usize,
    pub node: Arc<Node>,
    pub(crate) smap: LocalView<Smap>,
    pub(crate) bmd: LocalView<Bmd>,
    pub(crate) mps: LocalView<MpSet>,
    pub(crate) config: LocalView<cluster::meta::config::ConfigView>,
    /// Hand-off channel to each other core (`None` at our own index).
    pub(crate) senders: Vec<Option<ConnectedSender<Handoff>>>,
    pub(crate) conns: Cell<usize>,
    pub(crate) next_req: Cell<u64>,
    /// The node's drain state (shared by every core and the main thread).
    pub(crate) drain: Arc<crate::drain::Drain>,
    /// Closed when the drain closes the listeners: wakes this core's accept loops and idle
    /// keep-alive connections, which then end.
    pub(crate) closing: glommio::sync::Semaphore,
}

impl Core {
    pub fn smap(&self) -> Arc<Smap> {
        self.smap.get(&self.node.smap)
    }
    pub fn bmd(&self) -> Arc<Bmd> {
        self.bmd.get(&self.node.bmd)
    }
    /// The configuration in force (one atomic load unless it changed).
    pub fn config(&self) -> Arc<cluster::meta::config::ConfigView> {
        self.config.get(&self.node.config)
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

    /// `f` of the props of AIS bucket `bucket` (borrowed from this core's BMD view: no clone
    /// of the props on the data path); 404 if it has none.
    /// The bucket's `access` prop allows `ace` (AIS's check without client authentication:
    /// reads, PATCH and ACL changes always pass), else 403 naming the operation. A bucket
    /// not in the BMD passes: its handler answers 404.
    pub fn check_access(&self, bucket: &str, ace: u64) -> Result<(), ApiError> {
        if ace & !cluster::meta::access::ALWAYS_ALLOWED == 0 {
            return Ok(()); // reads: no BMD lookup on the GET path
        }
        let Some(access) = self.bmd().buckets.get(bucket).map(|p| p.access) else {
            return Ok(());
        };
        cluster::meta::access::bucket_allows(&cluster::buckets::cname(bucket), access, ace)
            .map_err(|m| ApiError::new(403, m))
    }

    pub fn with_props<R>(&self, bucket: &str, f: impl FnOnce(&Bprops) -> R) -> Result<R, ApiError> {
        self.bmd()
            .buckets
            .get(bucket)
            .map(f)
            .ok_or_else(|| ApiError::bucket_not_found(&cluster::buckets::cname(bucket)))
    }

    /// How many replicas (the object included) `bucket`'s objects should have (1: not
    /// mirrored, or no such bucket).
    pub fn copies_wanted(&self, bucket: &str) -> usize {
        self.bmd()
            .buckets
            .get(bucket)
            .map(cluster::mirror::copies_wanted)
            .unwrap_or(1)
    }

    /// After an object was committed on `mp`: make the mirror copies its bucket asks for (on
    /// the core's blocking thread). A copy that fails on its destination is logged and
    /// counted, not the PUT's failure; the error is the object itself gone meanwhile (the
    /// PUT must not be acknowledged).
    pub async fn mirror_after_put(
        &self,
        mp: &Mountpath,
        bucket: &str,
        object: &str,
    ) -> engine::Result<()> {
        let copies = self.copies_wanted(bucket);
        if copies <= 1 {
            return Ok(());
        }
        let set = self.mps();
        let Some(m) = set.with_data().into_iter().find(|m| m.path == mp.path) else {
            return Ok(());
        };
        let (set, m, b, o, fsync) = (
            set,
            m,
            bucket.to_string(),
            object.to_string(),
            self.node.cfg.fsync,
        );
        glommio::executor()
            .spawn_blocking(move || cluster::mirror::after_put(&set, &m, &b, &o, copies, fsync))
            .await
            .map(|_| ())
    }

    /// Whether `bucket` is erasure-coded (EC enabled in this core's BMD view).
    pub fn ec_enabled(&self, bucket: &str) -> bool {
        self.bmd().buckets.get(bucket).is_some_and(|p| p.ec.enabled)
    }

    /// After an object of an EC bucket was committed on `mp`: store its slices (or replicas)
    /// on the ranked targets. An error (the object is stored, its redundancy is not) fails
    /// the request: an acknowledged object survives P target losses.
    pub async fn ec_after_put(
        &self,
        mp: &Mountpath,
        bucket: &str,
        object: &str,
    ) -> Result<(), cluster::Error> {
        if !self.ec_enabled(bucket) {
            return Ok(());
        }
        let Some(m) = self
            .mps()
            .with_data()
            .into_iter()
            .find(|m| m.path == mp.path)
        else {
            return Ok(());
        };
        cluster::ec::after_put(&self.node, &m, bucket, object).await
    }

    /// Before an object of an EC bucket is deleted: remove its slices everywhere (tombstones;
    /// best effort on unreachable targets).
    pub async fn ec_delete(&self, bucket: &str, object: &str) {
        if self.ec_enabled(bucket) {
            cluster::ec::delete(&self.node, bucket, object).await;
        }
    }

    /// Self-healing of an EC object on `mp` that is missing (`corrupted` false) or failed its
    /// checksum: rebuilt from its slices or a replica?
    pub async fn ec_restore(
        &self,
        mp: &Arc<Mountpath>,
        bucket: &str,
        object: &str,
        corrupted: bool,
    ) -> bool {
        if !self.ec_enabled(bucket) {
            return false;
        }
        match cluster::ec::restore(&self.node, mp, bucket, object, corrupted).await {
            Ok(restored) => restored,
            Err(e) => {
                tracing::error!(bucket, object, error = %e, "restoring from EC slices failed");
                false
            }
        }
    }

    /// Delete an object and its mirror copies (copies first: a crash in between leaves an
    /// object without copies, never copies of a deleted object). Blocking (metadata only).
    pub fn delete_object(&self, mp: &Mountpath, bucket: &str, object: &str) -> engine::Result<()> {
        cluster::mirror::remove_copies(&self.mps(), bucket, object)?;
        engine::object::delete(mp, &engine::layout::Bck::ais(bucket), object)
    }

    /// Self-healing of a mirrored object on `mp` that is missing (`corrupted` false) or failed
    /// its checksum: restored from a good copy? (Blocking work on the core's blocking thread.)
    pub async fn mirror_restore(
        &self,
        mp: &Arc<Mountpath>,
        bucket: &str,
        object: &str,
        corrupted: bool,
    ) -> bool {
        if self.copies_wanted(bucket) <= 1 {
            return false;
        }
        let (set, m, b, o, fsync) = (
            self.mps(),
            mp.clone(),
            bucket.to_string(),
            object.to_string(),
            self.node.cfg.fsync,
        );
        let r = glommio::executor()
            .spawn_blocking(move || cluster::mirror::restore(&set, &m, &b, &o, corrupted, fsync))
            .await;
        match r {
            Ok(restored) => restored,
            Err(e) => {
                tracing::error!(bucket, object, error = %e, "self-healing from a mirror copy failed");
                false
            }
        }
    }

    /// A GET found the replica at `read` corrupted (its checksum failed): heal it. A bad copy
    /// is dropped and made again from the object; a bad object is restored from a good copy.
    /// Whether the object can now be served (a retry reads good bytes).
    pub async fn heal_bad_read(
        &self,
        mp: &Arc<Mountpath>,
        bucket: &str,
        object: &str,
        read: &std::path::Path,
    ) -> bool {
        if self.ec_enabled(bucket) {
            return self.ec_restore(mp, bucket, object, true).await;
        }
        if self.copies_wanted(bucket) <= 1 {
            return false;
        }
        let copy_dir = std::path::Component::Normal(engine::mirror::CT_COPY.as_ref());
        if read.components().any(|c| c == copy_dir) {
            let on = self
                .mps()
                .with_data()
                .into_iter()
                .find(|m| read.starts_with(&m.path))
                .map(|m| m.path_str.clone())
                .unwrap_or_default();
            cluster::mirror::count_bad(&on);
            tracing::error!(path = %read.display(), "mirror copy failed its checksum: making it again");
            let _ = std::fs::remove_file(read);
            return self.mirror_after_put(mp, bucket, object).await.is_ok();
        }
        self.mirror_restore(mp, bucket, object, true).await
    }

    /// Open an object for a GET: from the next replica in turn when its bucket is mirrored
    /// (reads balanced across copies), else the object itself; a missing or unreadable
    /// (corrupted metadata) object of a mirrored bucket is first restored from a copy, one of
    /// an EC bucket from its slices.
    pub async fn open_for_get(
        &self,
        mp: &Arc<Mountpath>,
        bucket: &str,
        object: &str,
    ) -> engine::Result<engine::object::ObjectReader> {
        let bck = engine::layout::Bck::ais(bucket);
        let copies = self.copies_wanted(bucket);
        if copies > 1 {
            if let Some(p) = cluster::mirror::pick_replica(&self.mps(), mp, bucket, object, copies)
            {
                if let Ok(rd) = engine::object::ObjectReader::open_path(p).await {
                    return Ok(rd);
                }
            }
        }
        match engine::object::ObjectReader::open(mp, &bck, object).await {
            Err(e @ (engine::Error::NotFound(_) | engine::Error::Corrupt { .. })) if copies > 1 => {
                let corrupted = matches!(e, engine::Error::Corrupt { .. });
                if self.mirror_restore(mp, bucket, object, corrupted).await {
                    if !corrupted {
                        cluster::mirror::kick(&self.node, bucket);
                    }
                    engine::object::ObjectReader::open(mp, &bck, object).await
                } else {
                    Err(e)
                }
            }
            Err(e @ (engine::Error::NotFound(_) | engine::Error::Corrupt { .. }))
                if self.ec_enabled(bucket) =>
            {
                let corrupted = matches!(e, engine::Error::Corrupt { .. });
                if self.ec_restore(mp, bucket, object, corrupted).await {
                    engine::object::ObjectReader::open(mp, &bck, object).await
                } else {
                    Err(e)
                }
            }
            r => r,
        }
    }

    /// Owning (mountpath, core) of an object by HRW over this target's available mountpaths.
    pub fn owner(&self, bucket: &str, object: &str) -> (Arc<Mountpath>, usize) {
        self.mps()
            .choose(placement::object_digest(bucket, object))
            .expect("a target has at least one available mountpath")
    }
}

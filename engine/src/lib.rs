//! engine: one target's local storage.
//!
//! Mountpaths (one local file system each), HRW placement over them, the AIS on-disk
//! layout (`<mountpath>/@<provider>/<bucket>/%ob/<object>`), object metadata (LOM) in the
//! `user.ais.lom` xattr, and direct-I/O object writes and reads through glommio DMA files.
//! Also the erasure-coding codec ([`ec`]): stripe layout, Reed-Solomon encoder and decoder,
//! slice metafiles (a pure library; the cluster layer places and moves slices).
//!
//! Invariants: an object path never leaves its mountpath (names are validated before any
//! path is built); a reader sees the old or the new object, never a mix (work file, sync,
//! metadata, rename); checksum mismatches surface as [`Error::Corrupt`], never as data.
//!
//! What it does not do: sockets, cluster maps, HTTP. It depends on no workspace crate.

pub mod archive;
pub mod cksum;
pub mod dircache;
pub mod ec;
pub mod ecstore;
pub mod error;
pub mod groupsync;
pub mod hrw;
pub mod iostat;
pub mod layout;
pub mod list;
pub mod lom;
pub mod mirror;
pub mod mountpath;
pub mod multipart;
pub mod name;
pub mod object;
pub mod opencache;
pub mod shardidx;
pub mod tarball;

pub use error::Error;
pub type Result<T> = std::result::Result<T, Error>;

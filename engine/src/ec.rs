//! Erasure coding of objects into slices: the stripe layout, a streaming Reed-Solomon encoder
//! and decoder, and the per-slice metafile. A pure library: no files, no sockets, no cluster
//! map. The cluster layer decides which target holds which slice, where the files go, and
//! moves their bytes; this module only turns object bytes into slice bytes and back.
//!
//! # Layout (docs/on-disk-format.md, "Erasure-coded slices")
//!
//! With D data and P parity slices, the object is cut into stripes. A stripe is D data chunks
//! of one length `chunk` (a multiple of [`CHUNK_ALIGN_BYTES`]) holding the stripe's object
//! bytes back to back, zero-padded at the end, plus P parity chunks computed by Reed-Solomon
//! over the D data chunks. Every stripe but the last is full (`chunk` = [`CHUNK_BYTES_MAX`],
//! D MiB of object); the last one's `chunk` is the smallest aligned length that holds the
//! rest. Slice `i` (0..D data, D..D+P parity) is chunk `i` of every stripe, concatenated.
//!
//! Why stripes rather than AIS's D contiguous slices of ceil(size/D) bytes: the encoder and
//! decoder then need about (D+P) chunks of memory whatever the object size, and a PUT can be
//! encoded as its bytes arrive, without knowing where slice 0 ends before the object does.
//!
//! # Invariants
//! - The layout is a function of (object size, D) only ([`stripes`], [`slice_size`]): every
//!   slice of an object has the same size, and the chunk of stripe `s` starts at byte
//!   `s * CHUNK_BYTES_MAX` of each slice.
//! - Memory held by an [`Encoder`] or a [`Decoder`] is bounded by a few times (D+P) chunks,
//!   never by the object size.
//! - A decoder never hands out bytes it could not restore: fewer than D slices is an error
//!   before any stripe is read, and padding that is not zero (a damaged slice) is an error.
//! - Nothing here panics on bad input (object bytes, slice chunks, metafile bytes); calling
//!   the API against its documented contract (a D of 0 in [`stripes`], encoding an
//!   [`EcMeta`] that does not validate) is a programmer error and asserts.
//!
//! # What this module does not do
//! - I/O, paths, choosing targets, verifying slice checksums: the cluster layer reads a slice,
//!   checks it against [`EcMeta::slice_cksum`], and only then gives its chunks to a decoder
//!   (the zero-padding check here is a cheap sanity check, not a substitute).
//! - Interoperate with AIS. AIS cuts an object into D contiguous slices and encodes them with
//!   klauspost/reedsolomon (GF(2^8) matrix codes); we stripe and encode with reed-solomon-simd
//!   (GF(2^16), Leopard FFT). Neither the data slices' layout nor the parity bytes match, and
//!   our metafile is binary where AIS's is not, so slices are not interchangeable.

use reed_solomon_simd::{EncoderResult, ReedSolomonDecoder, ReedSolomonEncoder};
use std::fmt;
use xxhash_rust::xxh64::xxh64;

/// Most data slices an object may have (AIS's `ec.data_slices` limit).
pub const DATA_SLICES_MAX: usize = 32;
/// Most parity slices an object may have (AIS's `ec.parity_slices` limit).
pub const PARITY_SLICES_MAX: usize = 32;
/// Chunk length of a full stripe: a stripe covers at most D of these of object bytes, and an
/// encoder or decoder holds about D+P of them.
pub const CHUNK_BYTES_MAX: usize = 1 << 20;
/// Every chunk length is a multiple of this: reed-solomon-simd needs an even shard length,
/// and 64 keeps its SIMD loads aligned. It bounds a stripe's padding to under 64 * D bytes.
pub const CHUNK_ALIGN_BYTES: usize = 64;
const _: () = assert!(CHUNK_BYTES_MAX.is_multiple_of(CHUNK_ALIGN_BYTES));
const _: () = assert!(CHUNK_ALIGN_BYTES.is_multiple_of(2));
// Slice indexes fit the metafile's one byte, and a decoder's per-stripe bitmap.
const SLICES_MAX: usize = DATA_SLICES_MAX + PARITY_SLICES_MAX;
const _: () = assert!(SLICES_MAX <= u8::MAX as usize);

/// First bytes of every metafile.
pub const META_MAGIC: [u8; 6] = *b"AISEC\0";
/// The metafile format this code writes and the only one it reads.
pub const META_VERSION: u8 = 1;
/// Longest string field of a metafile (its length prefix is a BE u16).
pub const META_STRING_BYTES_MAX: usize = u16::MAX as usize;
/// Metafile bytes before the variable-length fields (see [`EcMeta`]).
const META_FIXED_BYTES: usize = 35;
/// The trailing XXH64.
const META_TRAILER_BYTES: usize = 8;
/// Metafile flag: the object is stored as full copies, not Reed-Solomon slices.
const META_FLAG_REPLICATED: u8 = 1;
/// Metafile flag: a tombstone. The object was deleted at `generation_ns`; there is no slice
/// file, and slices of older generations must not bring the object back.
const META_FLAG_DELETED: u8 = 2;

/// Why coding, decoding or a metafile failed. Display names the problem and the numbers
/// involved; the cluster layer adds the object and the slice file.
#[derive(Debug)]
pub enum EcError {
    /// An EC configuration value out of range (a client or config mistake).
    InvalidConf {
        field: &'static str,
        value: usize,
        max: usize,
    },
    /// More object bytes were pushed into an encoder than the object size it was made for.
    TooManyBytes { obj_size: u64, pushed: u64 },
    /// The encoder was finished before the whole object was pushed.
    ShortObject { obj_size: u64, pushed: u64 },
    /// A slice index outside 0..D+P.
    SliceIndex { index: usize, slices: usize },
    /// The same slice given twice.
    DuplicateSlice { index: usize },
    /// More slices are lost than the parity slices can restore.
    NotEnoughSlices {
        lost: usize,
        slices: usize,
        parity: usize,
    },
    /// A chunk given for a slice the decoder was told is lost.
    UnexpectedSlice { index: usize },
    /// No chunk given for a slice the decoder was told is present.
    MissingChunk { index: usize, stripe: u64 },
    /// A chunk whose length is not the stripe's chunk length.
    ChunkSize {
        index: usize,
        stripe: u64,
        expected: usize,
        got: usize,
    },
    /// `decode_stripe` after the object's last stripe.
    NoMoreStripes { stripes: u64 },
    /// A decoded stripe's padding is not zero: a given chunk is damaged.
    Padding { stripe: u64, obj_offset: u64 },
    /// reed-solomon-simd refused its input (not expected: this module validates first).
    Codec(reed_solomon_simd::Error),
    /// Fewer metafile bytes than its fixed part and trailer.
    MetaTooShort { len: usize },
    /// The metafile does not start with [`META_MAGIC`].
    MetaMagic,
    /// A metafile version this code does not read.
    MetaVersion(u8),
    /// The metafile does not match its trailing checksum.
    MetaChecksum { stored: u64, computed: u64 },
    /// A metafile field is cut short, not UTF-8, out of range, or followed by extra bytes.
    MetaField { field: &'static str, detail: String },
}

impl fmt::Display for EcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EcError::InvalidConf { field, value, max } => {
                write!(
                    f,
                    "invalid {field}: {value} (expected value in range [1, {max}])"
                )
            }
            EcError::TooManyBytes { obj_size, pushed } => write!(
                f,
                "EC encoder got {pushed} bytes of an object of {obj_size} bytes"
            ),
            EcError::ShortObject { obj_size, pushed } => write!(
                f,
                "EC encoder finished after {pushed} bytes of an object of {obj_size} bytes"
            ),
            EcError::SliceIndex { index, slices } => {
                write!(
                    f,
                    "slice index {index} out of range (object has {slices} slices)"
                )
            }
            EcError::DuplicateSlice { index } => write!(f, "slice {index} given twice"),
            EcError::NotEnoughSlices {
                lost,
                slices,
                parity,
            } => write!(
                f,
                "cannot restore the object: {lost} of {slices} slices are missing, \
                 {parity} parity slices restore at most {parity}"
            ),
            EcError::UnexpectedSlice { index } => {
                write!(
                    f,
                    "chunk given for slice {index}, which was declared missing"
                )
            }
            EcError::MissingChunk { index, stripe } => {
                write!(
                    f,
                    "no chunk given for present slice {index} in stripe {stripe}"
                )
            }
            EcError::ChunkSize {
                index,
                stripe,
                expected,
                got,
            } => write!(
                f,
                "slice {index}, stripe {stripe}: chunk of {got} bytes, expected {expected}"
            ),
            EcError::NoMoreStripes { stripes } => {
                write!(f, "all {stripes} stripes of the object are already decoded")
            }
            EcError::Padding { stripe, obj_offset } => write!(
                f,
                "stripe {stripe} (object offset {obj_offset}) decodes to nonzero padding: \
                 a slice is damaged"
            ),
            EcError::Codec(e) => write!(f, "reed-solomon: {e}"),
            EcError::MetaTooShort { len } => write!(
                f,
                "EC metafile of {len} bytes is shorter than the minimum {}",
                META_FIXED_BYTES + META_TRAILER_BYTES
            ),
            EcError::MetaMagic => f.write_str("not an EC metafile (bad magic)"),
            EcError::MetaVersion(v) => write!(f, "EC metafile version {v} not supported"),
            EcError::MetaChecksum { stored, computed } => write!(
                f,
                "EC metafile checksum mismatch: stored {stored:016x}, computed {computed:016x}"
            ),
            EcError::MetaField { field, detail } => {
                write!(f, "EC metafile field {field}: {detail}")
            }
        }
    }
}

impl std::error::Error for EcError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EcError::Codec(e) => Some(e),
            _ => None,
        }
    }
}

impl From<reed_solomon_simd::Error> for EcError {
    fn from(e: reed_solomon_simd::Error) -> EcError {
        EcError::Codec(e)
    }
}

/// A bucket's erasure-coding setting: D data and P parity slices per object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcConf {
    pub data: usize,
    pub parity: usize,
}

impl EcConf {
    /// Both counts in 1..=32, the names and limits AIS's config uses.
    pub fn validate(&self) -> Result<(), EcError> {
        check_range("ec.data_slices", self.data, DATA_SLICES_MAX)?;
        check_range("ec.parity_slices", self.parity, PARITY_SLICES_MAX)
    }

    /// D + P: slices per object.
    pub fn slices(&self) -> usize {
        self.data + self.parity
    }
}

fn check_range(field: &'static str, value: usize, max: usize) -> Result<(), EcError> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(EcError::InvalidConf { field, value, max })
    }
}

/// One stripe of an object: which object bytes it holds and its chunk length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe {
    /// 0-based position among the object's stripes.
    pub index: u64,
    /// First object byte in this stripe.
    pub obj_offset: u64,
    /// Object bytes in this stripe (the rest of its D chunks is zero padding); at least 1.
    pub obj_len: u64,
    /// Length of each of its D+P chunks, a multiple of [`CHUNK_ALIGN_BYTES`].
    pub chunk: usize,
}

impl Stripe {
    /// Where this stripe's chunk starts in every slice: all stripes before it are full.
    pub fn slice_offset(&self) -> u64 {
        self.index * CHUNK_BYTES_MAX as u64
    }

    /// `obj_len` as a buffer length: a stripe holds at most D * 1 MiB (32 MiB).
    fn obj_len_bytes(&self) -> usize {
        usize::try_from(self.obj_len).expect("a stripe holds at most 32 MiB")
    }
}

/// Object bytes in a full stripe.
fn full_stripe_bytes(data: usize) -> u64 {
    (data * CHUNK_BYTES_MAX) as u64
}

/// Chunk length of a final stripe holding `rest` (less than a full stripe) object bytes.
fn tail_chunk(rest: u64, data: usize) -> usize {
    let rest = usize::try_from(rest).expect("less than a full stripe (32 MiB)");
    rest.div_ceil(data).next_multiple_of(CHUNK_ALIGN_BYTES)
}

fn assert_data(data: usize) {
    assert!(
        (1..=DATA_SLICES_MAX).contains(&data),
        "{data} data slices: validate EcConf first"
    );
}

/// The stripes of an object of `obj_size` bytes with `data` (D, 1..=32) data slices, in
/// order. An empty object has none.
pub fn stripes(obj_size: u64, data: usize) -> Stripes {
    assert_data(data);
    Stripes {
        obj_size,
        data,
        index: 0,
        offset: 0,
    }
}

/// How many stripes [`stripes`] yields.
pub fn stripe_count(obj_size: u64, data: usize) -> u64 {
    assert_data(data);
    obj_size.div_ceil(full_stripe_bytes(data))
}

/// Size of each slice (data or parity) of an object: the sum of its stripes' chunk lengths.
pub fn slice_size(obj_size: u64, data: usize) -> u64 {
    assert_data(data);
    let full = full_stripe_bytes(data);
    let rest = obj_size % full;
    let tail = if rest == 0 {
        0
    } else {
        tail_chunk(rest, data) as u64
    };
    obj_size / full * CHUNK_BYTES_MAX as u64 + tail
}

/// Iterator over an object's stripes (see [`stripes`]).
#[derive(Debug, Clone)]
pub struct Stripes {
    obj_size: u64,
    data: usize,
    index: u64,
    offset: u64,
}

impl Iterator for Stripes {
    type Item = Stripe;

    fn next(&mut self) -> Option<Stripe> {
        if self.offset >= self.obj_size {
            return None;
        }
        let rest = self.obj_size - self.offset;
        let full = full_stripe_bytes(self.data);
        let (obj_len, chunk) = if rest >= full {
            (full, CHUNK_BYTES_MAX)
        } else {
            (rest, tail_chunk(rest, self.data))
        };
        let s = Stripe {
            index: self.index,
            obj_offset: self.offset,
            obj_len,
            chunk,
        };
        self.index += 1;
        self.offset += obj_len;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = stripe_count(self.obj_size, self.data) - self.index;
        let left = usize::try_from(left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Stripes {}

/// The reed-solomon-simd encoder kept across stripes, ready for `chunk`-byte shards: created
/// once, then reset before every stripe. A reset reuses the work space (it only reallocates
/// for a larger chunk, never the case after the first stripe), and it starts every stripe
/// clean even if a library error left the previous one half-added.
fn rs_encoder(
    slot: &mut Option<ReedSolomonEncoder>,
    conf: EcConf,
    chunk: usize,
) -> Result<&mut ReedSolomonEncoder, EcError> {
    match slot {
        Some(rs) => rs.reset(conf.data, conf.parity, chunk)?,
        None => *slot = Some(ReedSolomonEncoder::new(conf.data, conf.parity, chunk)?),
    }
    Ok(slot.as_mut().expect("set just above"))
}

/// Same as [`rs_encoder`], for decoding.
fn rs_decoder(
    slot: &mut Option<ReedSolomonDecoder>,
    conf: EcConf,
    chunk: usize,
) -> Result<&mut ReedSolomonDecoder, EcError> {
    match slot {
        Some(rs) => rs.reset(conf.data, conf.parity, chunk)?,
        None => *slot = Some(ReedSolomonDecoder::new(conf.data, conf.parity, chunk)?),
    }
    Ok(slot.as_mut().expect("set just above"))
}

/// Streaming encoder of one object: takes the object's bytes in pieces of any size and
/// yields each stripe's D+P chunks as soon as the stripe is complete.
///
/// Memory: one stripe of data (D chunks) plus reed-solomon-simd's work space, whatever the
/// object size.
pub struct Encoder {
    conf: EcConf,
    obj_size: u64,
    stripes: Stripes,
    /// The stripe being filled; `None` between stripes.
    cur: Option<Stripe>,
    /// Object bytes of `cur` already in `data`.
    filled: usize,
    /// Object bytes taken so far.
    pushed: u64,
    /// The D data chunks of `cur` back to back (chunk i at `i * chunk`), so a stripe's object
    /// bytes are one contiguous copy. Sized for the first stripe, the largest.
    data: Vec<u8>,
    rs: Option<ReedSolomonEncoder>,
}

impl Encoder {
    pub fn new(conf: EcConf, obj_size: u64) -> Result<Encoder, EcError> {
        conf.validate()?;
        let stripes = stripes(obj_size, conf.data);
        let first_chunk = stripes.clone().next().map_or(0, |s| s.chunk);
        Ok(Encoder {
            conf,
            obj_size,
            stripes,
            cur: None,
            filled: 0,
            pushed: 0,
            data: vec![0; conf.data * first_chunk],
            rs: None,
        })
    }

    /// Takes object bytes from the front of `bytes` (advancing it) until a stripe completes,
    /// and returns that stripe, encoded; it stays borrowed until the next call. `None` means
    /// all of `bytes` was taken and no stripe completed. Call again while it returns a stripe:
    ///
    /// ```
    /// use engine::ec::{slice_size, EcConf, Encoder};
    /// let conf = EcConf { data: 2, parity: 1 };
    /// let obj = vec![7u8; 3000];
    /// let mut enc = Encoder::new(conf, obj.len() as u64)?;
    /// let mut slices = vec![Vec::new(); conf.slices()];
    /// for piece in obj.chunks(1000) {
    ///     let mut rest = piece;
    ///     while let Some(stripe) = enc.feed(&mut rest)? {
    ///         for (slice, chunk) in slices.iter_mut().zip(stripe.chunks()) {
    ///             slice.extend_from_slice(chunk); // write to slice file i
    ///         }
    ///     }
    /// }
    /// enc.finish()?;
    /// assert_eq!(slices[2].len() as u64, slice_size(3000, 2));
    /// # Ok::<(), engine::ec::EcError>(())
    /// ```
    ///
    /// Nothing is taken when the bytes would run past the object size.
    pub fn feed<'a>(&'a mut self, bytes: &mut &[u8]) -> Result<Option<EncodedStripe<'a>>, EcError> {
        let pushed = self.pushed + bytes.len() as u64;
        if pushed > self.obj_size {
            return Err(EcError::TooManyBytes {
                obj_size: self.obj_size,
                pushed,
            });
        }
        let stripe = match self.cur {
            Some(s) => s,
            None if bytes.is_empty() => return Ok(None),
            None => {
                let s = self
                    .stripes
                    .next()
                    .expect("fewer than obj_size bytes were taken, so a stripe remains");
                self.cur = Some(s);
                self.filled = 0;
                s
            }
        };
        let obj_len = stripe.obj_len_bytes();
        let n = (obj_len - self.filled).min(bytes.len());
        self.data[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
        self.filled += n;
        self.pushed += n as u64;
        *bytes = &bytes[n..];
        if self.filled < obj_len {
            return Ok(None);
        }
        self.cur = None;
        let (d, chunk) = (self.conf.data, stripe.chunk);
        let data = &mut self.data[..d * chunk];
        data[obj_len..].fill(0);
        let rs = rs_encoder(&mut self.rs, self.conf, chunk)?;
        for c in data.chunks_exact(chunk) {
            rs.add_original_shard(c)?;
        }
        let parity = rs.encode()?;
        Ok(Some(EncodedStripe {
            stripe,
            chunk,
            data,
            parity,
        }))
    }

    /// Takes all of `bytes` and returns the stripes they complete as owned chunks. Simpler
    /// than [`Encoder::feed`] but allocates and copies each chunk once more, and holds as
    /// many stripes as `bytes` completes: push pieces of a few MiB at most.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<StripeOut>, EcError> {
        let mut out = Vec::new();
        while let Some(s) = self.feed(&mut bytes)? {
            out.push(s.to_out());
        }
        Ok(out)
    }

    /// Object bytes taken so far.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Ends the object: an error unless exactly `obj_size` bytes were pushed (then every
    /// stripe has been returned).
    pub fn finish(self) -> Result<(), EcError> {
        if self.pushed != self.obj_size {
            return Err(EcError::ShortObject {
                obj_size: self.obj_size,
                pushed: self.pushed,
            });
        }
        debug_assert!(self.cur.is_none() && self.stripes.clone().next().is_none());
        Ok(())
    }
}

/// One encoded stripe, borrowed from its [`Encoder`] until the next `feed`.
pub struct EncodedStripe<'a> {
    stripe: Stripe,
    chunk: usize,
    /// The D data chunks back to back, padding included.
    data: &'a [u8],
    parity: EncoderResult<'a>,
}

impl EncodedStripe<'_> {
    pub fn stripe(&self) -> Stripe {
        self.stripe
    }

    /// Chunk of slice `slice` (0..D data, D..D+P parity), `stripe().chunk` bytes; it goes at
    /// `stripe().slice_offset()` in that slice.
    pub fn chunk(&self, slice: usize) -> &[u8] {
        let d = self.data.len() / self.chunk;
        if slice < d {
            &self.data[slice * self.chunk..(slice + 1) * self.chunk]
        } else {
            self.parity
                .recovery(slice - d)
                .unwrap_or_else(|| panic!("slice {slice} out of range"))
        }
    }

    /// All D+P chunks in slice order.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.data
            .chunks_exact(self.chunk)
            .chain(self.parity.recovery_iter())
    }

    /// The chunks copied out.
    pub fn to_out(&self) -> StripeOut {
        StripeOut {
            stripe: self.stripe,
            chunks: self.chunks().map(<[u8]>::to_vec).collect(),
        }
    }
}

/// One encoded stripe, owned: D+P chunks of `stripe.chunk` bytes each, in slice order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeOut {
    pub stripe: Stripe,
    pub chunks: Vec<Vec<u8>>,
}

/// Streaming decoder of one object from the slices that are left: for each stripe, given the
/// present slices' chunks, returns the stripe's object bytes and the chunks of the lost
/// slices (to repair them).
///
/// Memory: one stripe of data (D chunks), one chunk per lost parity slice, and
/// reed-solomon-simd's work space.
pub struct Decoder {
    conf: EcConf,
    /// The stripe the next [`Decoder::decode_stripe`] takes.
    cur: Option<Stripe>,
    stripes: Stripes,
    present: [bool; SLICES_MAX],
    /// Lost slice indexes, ascending.
    missing: Vec<usize>,
    /// The stripe's D data chunks back to back: present ones copied, lost ones restored.
    data: Vec<u8>,
    /// Restored chunks of lost parity slices, in `missing` order.
    parity: Vec<u8>,
    rs_dec: Option<ReedSolomonDecoder>,
    rs_enc: Option<ReedSolomonEncoder>,
}

impl Decoder {
    /// `present` lists the slice indexes (0..D+P, any order) that will be given for every
    /// stripe; the others are lost and get restored. At least D must be present.
    pub fn new(conf: EcConf, obj_size: u64, present: &[usize]) -> Result<Decoder, EcError> {
        conf.validate()?;
        let slices = conf.slices();
        let mut have = [false; SLICES_MAX];
        for &index in present {
            if index >= slices {
                return Err(EcError::SliceIndex { index, slices });
            }
            if have[index] {
                return Err(EcError::DuplicateSlice { index });
            }
            have[index] = true;
        }
        let missing: Vec<usize> = (0..slices).filter(|&i| !have[i]).collect();
        if missing.len() > conf.parity {
            return Err(EcError::NotEnoughSlices {
                lost: missing.len(),
                slices,
                parity: conf.parity,
            });
        }
        let mut stripes = stripes(obj_size, conf.data);
        let cur = stripes.next();
        let first_chunk = cur.map_or(0, |s| s.chunk);
        let lost_parity = missing.iter().filter(|&&i| i >= conf.data).count();
        Ok(Decoder {
            conf,
            cur,
            stripes,
            present: have,
            missing,
            data: vec![0; conf.data * first_chunk],
            parity: vec![0; lost_parity * first_chunk],
            rs_dec: None,
            rs_enc: None,
        })
    }

    /// The stripe the next [`Decoder::decode_stripe`] expects (read `chunk` bytes at
    /// `slice_offset()` of each present slice), or `None` when all are decoded.
    pub fn stripe(&self) -> Option<Stripe> {
        self.cur
    }

    /// The lost slice indexes, ascending: the ones [`StripeDecoded::restored`] returns.
    pub fn missing(&self) -> &[usize] {
        &self.missing
    }

    /// Decodes the next stripe from the present slices' chunks for it, `(slice index, chunk)`
    /// in any order, each exactly once. On an error the stripe is not consumed.
    pub fn decode_stripe(
        &mut self,
        chunks: &[(usize, &[u8])],
    ) -> Result<StripeDecoded<'_>, EcError> {
        let slices = self.conf.slices();
        let Some(stripe) = self.cur else {
            return Err(EcError::NoMoreStripes {
                stripes: self.stripes.index,
            });
        };
        let (d, chunk) = (self.conf.data, stripe.chunk);
        let mut seen = [false; SLICES_MAX];
        for &(index, c) in chunks {
            if index >= slices {
                return Err(EcError::SliceIndex { index, slices });
            }
            if !self.present[index] {
                return Err(EcError::UnexpectedSlice { index });
            }
            if seen[index] {
                return Err(EcError::DuplicateSlice { index });
            }
            if c.len() != chunk {
                return Err(EcError::ChunkSize {
                    index,
                    stripe: stripe.index,
                    expected: chunk,
                    got: c.len(),
                });
            }
            seen[index] = true;
        }
        if let Some(index) = (0..slices).find(|&i| self.present[i] && !seen[i]) {
            return Err(EcError::MissingChunk {
                index,
                stripe: stripe.index,
            });
        }

        let data = &mut self.data[..d * chunk];
        for &(i, c) in chunks {
            if i < d {
                data[i * chunk..(i + 1) * chunk].copy_from_slice(c);
            }
        }
        let lost_data = self.missing.iter().filter(|&&i| i < d).count();
        if lost_data > 0 {
            // D shards in all: the present data chunks and as many parity chunks as needed.
            let rs = rs_decoder(&mut self.rs_dec, self.conf, chunk)?;
            let mut parity_needed = lost_data;
            for &(i, c) in chunks {
                if i < d {
                    rs.add_original_shard(i, c)?;
                } else if parity_needed > 0 {
                    rs.add_recovery_shard(i - d, c)?;
                    parity_needed -= 1;
                }
            }
            let restored = rs.decode()?;
            for &i in self.missing.iter().filter(|&&i| i < d) {
                let r = restored
                    .restored_original(i)
                    .expect("the decoder restores every data shard it was not given");
                data[i * chunk..(i + 1) * chunk].copy_from_slice(r);
            }
        }
        let obj_len = stripe.obj_len_bytes();
        if data[obj_len..].iter().any(|&b| b != 0) {
            return Err(EcError::Padding {
                stripe: stripe.index,
                obj_offset: stripe.obj_offset,
            });
        }
        let lost_parity = self.missing.len() - lost_data;
        if lost_parity > 0 {
            // Parity is restored the way it was made: encode the (now complete) data chunks.
            let rs = rs_encoder(&mut self.rs_enc, self.conf, chunk)?;
            for c in data.chunks_exact(chunk) {
                rs.add_original_shard(c)?;
            }
            let parity = rs.encode()?;
            let lost = self.missing.iter().filter(|&&i| i >= d);
            for (out, &i) in self.parity.chunks_exact_mut(chunk).zip(lost) {
                let p = parity
                    .recovery(i - d)
                    .expect("the encoder returns every parity shard");
                out.copy_from_slice(p);
            }
        }

        self.cur = self.stripes.next();
        let (data, parity) = (&self.data[..d * chunk], &self.parity[..lost_parity * chunk]);
        let mut parity_chunks = parity.chunks_exact(chunk);
        let restored = self
            .missing
            .iter()
            .map(|&i| {
                let c = if i < d {
                    &data[i * chunk..(i + 1) * chunk]
                } else {
                    parity_chunks
                        .next()
                        .expect("one chunk per lost parity slice")
                };
                (i, c)
            })
            .collect();
        Ok(StripeDecoded {
            stripe,
            object: &data[..obj_len],
            restored,
        })
    }
}

/// One decoded stripe, borrowed from its [`Decoder`] until the next `decode_stripe`.
#[derive(Debug)]
pub struct StripeDecoded<'a> {
    pub stripe: Stripe,
    /// The stripe's object bytes, `stripe.obj_len` of them, padding removed.
    pub object: &'a [u8],
    /// `(slice index, chunk)` for every lost slice ([`Decoder::missing`] order): the bytes
    /// that go at `stripe.slice_offset()` of that slice to repair it.
    pub restored: Vec<(usize, &'a [u8])>,
}

/// The metafile kept beside each slice (or full copy) of an erasure-coded object: enough to
/// find the other slices, check this one, and rebuild the object's LOM. Format (big-endian,
/// docs/on-disk-format.md):
///
/// | bytes | field |
/// |---|---|
/// | 0..6 | magic `AISEC\0` |
/// | 6 | version, 1 |
/// | 7 | D, data slices (1..=32) |
/// | 8 | P, parity slices (1..=32) |
/// | 9 | slice index (0..D+P) |
/// | 10 | flags: bit 0 replicated, bit 1 deleted (a tombstone), others 0 |
/// | 11..19 | object size, u64 |
/// | 19..27 | generation, i64 ns |
/// | 27..35 | slice checksum, u64 XXH64 (seed 0) of the slice file |
/// | 35.. | object checksum type, checksum value, version: each u16 length + UTF-8 |
/// | .. | D+P target IDs (slice i's holder), each u16 length + UTF-8 |
/// | last 8 | XXH64 (seed 0) of all bytes before it |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcMeta {
    pub version: u8,
    pub data: u8,
    pub parity: u8,
    /// Which slice this metafile describes (0..D data, D..D+P parity).
    pub slice_index: u8,
    pub obj_size: u64,
    /// When the object was encoded (ns since the epoch): slices of one generation belong
    /// together; an older generation is stale.
    pub generation_ns: i64,
    pub obj_cksum_type: String,
    pub obj_cksum_value: String,
    pub obj_version: String,
    /// XXH64 (seed 0) of this slice file's bytes.
    pub slice_cksum: u64,
    /// Daemon ID of the target holding slice i, at index i: D+P entries.
    pub targets: Vec<String>,
    /// The object is small and stored as full copies (the slice file is the whole object),
    /// not Reed-Solomon slices.
    pub replicated: bool,
    /// A tombstone: the object was deleted at `generation_ns` (no slice file goes with it).
    pub deleted: bool,
}

impl EcMeta {
    /// Field ranges: what [`EcMeta::encode`] requires and [`EcMeta::decode`] checks.
    pub fn validate(&self) -> Result<(), EcError> {
        let bad = |field, detail: String| Err(EcError::MetaField { field, detail });
        if self.version != META_VERSION {
            return Err(EcError::MetaVersion(self.version));
        }
        let conf = EcConf {
            data: self.data.into(),
            parity: self.parity.into(),
        };
        if let Err(e) = conf.validate() {
            return bad("data/parity", e.to_string());
        }
        if usize::from(self.slice_index) >= conf.slices() {
            return bad(
                "slice_index",
                format!("{} of {} slices", self.slice_index, conf.slices()),
            );
        }
        if self.targets.len() != conf.slices() {
            return bad(
                "targets",
                format!(
                    "{} entries for {} slices",
                    self.targets.len(),
                    conf.slices()
                ),
            );
        }
        let strings = [
            ("obj_cksum_type", &self.obj_cksum_type),
            ("obj_cksum_value", &self.obj_cksum_value),
            ("obj_version", &self.obj_version),
        ];
        let targets = self.targets.iter().map(|t| ("targets", t));
        for (field, s) in strings.into_iter().chain(targets) {
            if s.len() > META_STRING_BYTES_MAX {
                return bad(
                    field,
                    format!("{} bytes, at most {META_STRING_BYTES_MAX}", s.len()),
                );
            }
        }
        Ok(())
    }

    /// The metafile bytes. The metadata must pass [`EcMeta::validate`] (it is built by us,
    /// from a validated configuration): anything else is a programmer error.
    pub fn encode(&self) -> Vec<u8> {
        if let Err(e) = self.validate() {
            panic!("encoding an invalid EC metafile: {e}");
        }
        let strings_len: usize = [
            &self.obj_cksum_type,
            &self.obj_cksum_value,
            &self.obj_version,
        ]
        .into_iter()
        .chain(&self.targets)
        .map(|s| 2 + s.len())
        .sum();
        let mut b = Vec::with_capacity(META_FIXED_BYTES + strings_len + META_TRAILER_BYTES);
        b.extend_from_slice(&META_MAGIC);
        b.push(self.version);
        b.push(self.data);
        b.push(self.parity);
        b.push(self.slice_index);
        let mut flags = 0;
        if self.replicated {
            flags |= META_FLAG_REPLICATED;
        }
        if self.deleted {
            flags |= META_FLAG_DELETED;
        }
        b.push(flags);
        b.extend_from_slice(&self.obj_size.to_be_bytes());
        b.extend_from_slice(&self.generation_ns.to_be_bytes());
        b.extend_from_slice(&self.slice_cksum.to_be_bytes());
        assert_eq!(b.len(), META_FIXED_BYTES);
        let strings = [
            &self.obj_cksum_type,
            &self.obj_cksum_value,
            &self.obj_version,
        ];
        for s in strings.into_iter().chain(&self.targets) {
            let len = u16::try_from(s.len()).expect("validated: at most u16::MAX bytes");
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        let sum = xxh64(&b, 0);
        b.extend_from_slice(&sum.to_be_bytes());
        b
    }

    /// Parses and checks metafile bytes: magic, version and checksum first, then every
    /// field; extra bytes are refused.
    pub fn decode(b: &[u8]) -> Result<EcMeta, EcError> {
        if b.len() < META_FIXED_BYTES + META_TRAILER_BYTES {
            return Err(EcError::MetaTooShort { len: b.len() });
        }
        if b[..META_MAGIC.len()] != META_MAGIC {
            return Err(EcError::MetaMagic);
        }
        let version = b[META_MAGIC.len()];
        if version != META_VERSION {
            return Err(EcError::MetaVersion(version));
        }
        let (body, trailer) = b.split_at(b.len() - META_TRAILER_BYTES);
        let stored = u64::from_be_bytes(trailer.try_into().expect("8 bytes"));
        let computed = xxh64(body, 0);
        if stored != computed {
            return Err(EcError::MetaChecksum { stored, computed });
        }
        let fixed = &body[..META_FIXED_BYTES];
        let be64 = |at: usize| -> [u8; 8] { fixed[at..at + 8].try_into().expect("8 bytes") };
        let flags = fixed[10];
        if flags & !(META_FLAG_REPLICATED | META_FLAG_DELETED) != 0 {
            return Err(EcError::MetaField {
                field: "flags",
                detail: format!("unknown flags {flags:#04x}"),
            });
        }
        let mut rest = &body[META_FIXED_BYTES..];
        let obj_cksum_type = read_string(&mut rest, "obj_cksum_type")?;
        let obj_cksum_value = read_string(&mut rest, "obj_cksum_value")?;
        let obj_version = read_string(&mut rest, "obj_version")?;
        let (data, parity) = (fixed[7], fixed[8]);
        // D and P are checked before they count the targets to read.
        let conf = EcConf {
            data: data.into(),
            parity: parity.into(),
        };
        if let Err(e) = conf.validate() {
            return Err(EcError::MetaField {
                field: "data/parity",
                detail: e.to_string(),
            });
        }
        let slices = conf.slices();
        let targets = (0..slices)
            .map(|_| read_string(&mut rest, "targets"))
            .collect::<Result<Vec<_>, _>>()?;
        if !rest.is_empty() {
            return Err(EcError::MetaField {
                field: "targets",
                detail: format!("followed by {} unexpected bytes", rest.len()),
            });
        }
        let meta = EcMeta {
            version,
            data,
            parity,
            slice_index: fixed[9],
            obj_size: u64::from_be_bytes(be64(11)),
            generation_ns: i64::from_be_bytes(be64(19)),
            obj_cksum_type,
            obj_cksum_value,
            obj_version,
            slice_cksum: u64::from_be_bytes(be64(27)),
            targets,
            replicated: flags & META_FLAG_REPLICATED != 0,
            deleted: flags & META_FLAG_DELETED != 0,
        };
        meta.validate()?;
        Ok(meta)
    }
}

/// Reads one length-prefixed string from the front of `rest`.
fn read_string(rest: &mut &[u8], field: &'static str) -> Result<String, EcError> {
    let short = || EcError::MetaField {
        field,
        detail: "runs past the end".into(),
    };
    let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(short)?;
    let len = usize::from(u16::from_be_bytes(*len));
    let (s, tail) = tail.split_at_checked(len).ok_or_else(short)?;
    let s = std::str::from_utf8(s).map_err(|e| EcError::MetaField {
        field,
        detail: format!("not UTF-8: {e}"),
    })?;
    *rest = tail;
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = CHUNK_BYTES_MAX as u64;

    /// Deterministic pseudo-random bytes and numbers (SplitMix64): reproducible failures.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            let mut v = Vec::with_capacity(len + 8);
            while v.len() < len {
                v.extend_from_slice(&self.next().to_le_bytes());
            }
            v.truncate(len);
            v
        }
    }

    fn conf(data: usize, parity: usize) -> EcConf {
        EcConf { data, parity }
    }

    /// The object sizes the round trip covers for D data slices: empty, around one alignment
    /// unit, around one aligned chunk per data slice, around one full chunk and one full
    /// stripe, and several stripes with a short tail.
    fn sizes(data: usize) -> Vec<u64> {
        let d = data as u64;
        vec![
            0,
            1,
            63,
            64,
            65,
            d * 64,
            d * 64 + 1,
            MIB - 1,
            d * MIB,
            d * MIB + 1,
            2 * d * MIB + 12345,
        ]
    }

    /// Encodes `obj` with `push` in random piece sizes (1 byte up to a few MiB) and returns
    /// the D+P slices.
    fn encode_slices(c: EcConf, obj: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
        let mut enc = Encoder::new(c, obj.len() as u64).unwrap();
        let mut slices = vec![Vec::new(); c.slices()];
        let mut rest = obj;
        let mut expected = stripes(obj.len() as u64, c.data);
        while !rest.is_empty() {
            let max = [17, 4096, 300_000, 3 << 20][rng.below(4) as usize];
            let n = (1 + rng.below(max) as usize).min(rest.len());
            for out in enc.push(&rest[..n]).unwrap() {
                assert_eq!(Some(out.stripe), expected.next());
                assert_eq!(out.chunks.len(), c.slices());
                for (slice, chunk) in slices.iter_mut().zip(&out.chunks) {
                    assert_eq!(chunk.len(), out.stripe.chunk);
                    assert_eq!(slice.len() as u64, out.stripe.slice_offset());
                    slice.extend_from_slice(chunk);
                }
            }
            rest = &rest[n..];
        }
        assert_eq!(expected.next(), None, "every stripe was returned");
        enc.finish().unwrap();
        let size = slice_size(obj.len() as u64, c.data);
        for s in &slices {
            assert_eq!(s.len() as u64, size);
        }
        slices
    }

    /// Every subset of `0..n` with at most `k` elements, ascending.
    fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
        (0u64..1 << n)
            .filter(|m| m.count_ones() as usize <= k)
            .map(|m| (0..n).filter(|&i| m & (1 << i) != 0).collect())
            .collect()
    }

    /// Decodes the object from the slices not in `lost` and checks the object bytes and every
    /// restored chunk against the originals.
    fn decode_and_check(c: EcConf, obj: &[u8], slices: &[Vec<u8>], lost: &[usize]) {
        let present: Vec<usize> = (0..c.slices()).filter(|i| !lost.contains(i)).collect();
        let mut dec = Decoder::new(c, obj.len() as u64, &present).unwrap();
        assert_eq!(dec.missing(), lost);
        let mut got = Vec::with_capacity(obj.len());
        while let Some(s) = dec.stripe() {
            let at = s.slice_offset() as usize;
            // Give the chunks in reverse order: the decoder must not depend on it.
            let chunks: Vec<(usize, &[u8])> = present
                .iter()
                .rev()
                .map(|&i| (i, &slices[i][at..at + s.chunk]))
                .collect();
            let out = dec.decode_stripe(&chunks).unwrap();
            assert_eq!(out.stripe, s);
            assert_eq!(out.object.len() as u64, s.obj_len);
            got.extend_from_slice(out.object);
            assert_eq!(out.restored.len(), lost.len());
            for (&(i, chunk), &want) in out.restored.iter().zip(lost) {
                assert_eq!(i, want);
                assert!(
                    chunk == &slices[i][at..at + s.chunk],
                    "{c:?} size {}: lost {lost:?}, slice {i} stripe {} restored wrong",
                    obj.len(),
                    s.index
                );
            }
        }
        assert!(
            got == obj,
            "{c:?} size {}: lost {lost:?}, object bytes differ",
            obj.len()
        );
        assert!(matches!(
            dec.decode_stripe(&[]),
            Err(EcError::NoMoreStripes { .. })
        ));
    }

    fn round_trip(data: usize, parity: usize) {
        let c = conf(data, parity);
        let mut rng = Rng(0x5eed ^ ((data as u64) << 8) ^ parity as u64);
        let losses = subsets(c.slices(), parity);
        for size in sizes(data) {
            let obj = rng.bytes(size as usize);
            let slices = encode_slices(c, &obj, &mut rng);
            // The data slices are the object bytes in stripe layout, zero-padded.
            for s in stripes(size, data) {
                let (off, at) = (s.obj_offset as usize, s.slice_offset() as usize);
                let mut stripe = obj[off..off + s.obj_len as usize].to_vec();
                stripe.resize(data * s.chunk, 0);
                for (i, want) in stripe.chunks_exact(s.chunk).enumerate() {
                    assert!(&slices[i][at..at + s.chunk] == want, "{c:?} size {size}");
                }
                // The parity slices are reed-solomon-simd's recovery shards of that stripe.
                let want =
                    reed_solomon_simd::encode(data, parity, stripe.chunks_exact(s.chunk)).unwrap();
                for (j, want) in want.iter().enumerate() {
                    assert!(&slices[data + j][at..at + s.chunk] == want.as_slice());
                }
            }
            for lost in &losses {
                decode_and_check(c, &obj, &slices, lost);
            }
            // One more loss than parity is refused up front, whichever slices they are.
            for lost in subsets(c.slices(), parity + 1)
                .iter()
                .filter(|l| l.len() == parity + 1)
            {
                let present: Vec<usize> = (0..c.slices()).filter(|i| !lost.contains(i)).collect();
                match Decoder::new(c, size, &present) {
                    Err(EcError::NotEnoughSlices {
                        lost: n, parity: p, ..
                    }) => assert_eq!((n, p), (parity + 1, parity)),
                    Err(e) => panic!("{lost:?}: unexpected error {e}"),
                    Ok(_) => panic!("{c:?}: decoder accepted losing {lost:?}"),
                }
            }
        }
    }

    #[test]
    fn round_trip_1_1_every_loss() {
        round_trip(1, 1);
    }

    #[test]
    fn round_trip_2_1_every_loss() {
        round_trip(2, 1);
    }

    #[test]
    fn round_trip_2_2_every_loss() {
        round_trip(2, 2);
    }

    #[test]
    fn round_trip_3_2_every_loss() {
        round_trip(3, 2);
    }

    #[test]
    fn round_trip_4_2_every_loss() {
        round_trip(4, 2);
    }

    #[test]
    fn round_trip_6_3_every_loss() {
        round_trip(6, 3);
    }

    #[test]
    fn feed_and_push_produce_the_same_stripes() {
        let c = conf(3, 2);
        let obj = Rng(7).bytes(3 * CHUNK_BYTES_MAX + 1000);
        let mut by_push = Encoder::new(c, obj.len() as u64).unwrap();
        let pushed = by_push.push(&obj).unwrap();
        by_push.finish().unwrap();
        let mut by_feed = Encoder::new(c, obj.len() as u64).unwrap();
        let mut fed = Vec::new();
        for piece in obj.chunks(777_777) {
            let mut rest = piece;
            while let Some(s) = by_feed.feed(&mut rest).unwrap() {
                assert_eq!(s.chunks().count(), c.slices());
                for i in 0..c.slices() {
                    assert_eq!(s.chunk(i), s.chunks().nth(i).unwrap());
                }
                fed.push(s.to_out());
            }
            assert!(rest.is_empty());
        }
        by_feed.finish().unwrap();
        assert_eq!(pushed.len(), 2);
        assert_eq!(pushed, fed);
    }

    #[test]
    fn encoder_refuses_bytes_past_the_size_and_finish_before_it() {
        let c = conf(2, 1);
        let mut enc = Encoder::new(c, 100).unwrap();
        assert!(enc.push(&[1; 60]).unwrap().is_empty());
        let err = enc.push(&[1; 41]).unwrap_err();
        assert!(matches!(
            err,
            EcError::TooManyBytes {
                obj_size: 100,
                pushed: 101
            }
        ));
        assert_eq!(enc.pushed(), 60, "nothing taken from a refused piece");
        let err = enc.finish().unwrap_err();
        assert!(matches!(
            err,
            EcError::ShortObject {
                obj_size: 100,
                pushed: 60
            }
        ));
        assert_eq!(
            err.to_string(),
            "EC encoder finished after 60 bytes of an object of 100 bytes"
        );

        let mut enc = Encoder::new(c, 100).unwrap();
        assert!(enc.push(&[1; 60]).unwrap().is_empty());
        assert_eq!(enc.push(&[1; 40]).unwrap().len(), 1);
        assert!(enc.push(&[]).unwrap().is_empty());
        enc.finish().unwrap();

        let mut empty = Encoder::new(c, 0).unwrap();
        assert!(empty.push(&[]).unwrap().is_empty());
        assert!(matches!(
            empty.push(&[0]),
            Err(EcError::TooManyBytes { .. })
        ));
        empty.finish().unwrap();
        assert!(matches!(
            Encoder::new(conf(0, 1), 1),
            Err(EcError::InvalidConf { .. })
        ));
    }

    #[test]
    fn conf_limits_name_the_field() {
        for (d, p) in [(1, 1), (32, 32), (1, 32), (32, 1)] {
            conf(d, p).validate().unwrap();
        }
        let msg = |d, p| conf(d, p).validate().unwrap_err().to_string();
        assert_eq!(
            msg(40, 2),
            "invalid ec.data_slices: 40 (expected value in range [1, 32])"
        );
        assert_eq!(
            msg(33, 2),
            "invalid ec.data_slices: 33 (expected value in range [1, 32])"
        );
        assert_eq!(
            msg(0, 2),
            "invalid ec.data_slices: 0 (expected value in range [1, 32])"
        );
        assert_eq!(
            msg(4, 33),
            "invalid ec.parity_slices: 33 (expected value in range [1, 32])"
        );
        assert_eq!(
            msg(4, 0),
            "invalid ec.parity_slices: 0 (expected value in range [1, 32])"
        );
    }

    #[test]
    fn stripes_cover_the_object_with_aligned_chunks_and_bounded_padding() {
        let mut rng = Rng(3);
        for data in 1..=DATA_SLICES_MAX {
            let d = data as u64;
            let mut sizes = sizes(data);
            sizes.extend([
                d * 64 - 1,
                d * MIB - 1,
                d * (MIB - 64),
                d * (MIB - 64) + 1,
                5 * d * MIB,
                5 * d * MIB - 1,
            ]);
            sizes.extend((0..20).map(|_| rng.below(4 * d * MIB)));
            for size in sizes {
                let all: Vec<Stripe> = stripes(size, data).collect();
                assert_eq!(all.len(), stripes(size, data).len());
                assert_eq!(all.len() as u64, stripe_count(size, data));
                assert_eq!(all.iter().map(|s| s.obj_len).sum::<u64>(), size);
                let total_chunks: u64 = all.iter().map(|s| s.chunk as u64).sum();
                assert_eq!(total_chunks, slice_size(size, data));
                let mut offset = 0;
                for (i, s) in all.iter().enumerate() {
                    assert_eq!(s.index, i as u64);
                    assert_eq!(s.obj_offset, offset);
                    offset += s.obj_len;
                    assert!(s.obj_len > 0);
                    assert_eq!(s.chunk % CHUNK_ALIGN_BYTES, 0, "size {size} D {data}");
                    assert!(s.chunk > 0 && s.chunk <= CHUNK_BYTES_MAX);
                    let padding = d * s.chunk as u64 - s.obj_len;
                    assert!(padding < 64 * d, "size {size} D {data}: padding {padding}");
                    if i + 1 < all.len() {
                        assert_eq!((s.chunk, s.obj_len), (CHUNK_BYTES_MAX, d * MIB));
                    }
                }
            }
        }
        assert_eq!(stripes(0, 4).next(), None);
        assert_eq!(slice_size(0, 4), 0);
        // A small object is one stripe of the smallest aligned chunk.
        let one: Vec<Stripe> = stripes(65, 6).collect();
        assert_eq!(
            one,
            [Stripe {
                index: 0,
                obj_offset: 0,
                obj_len: 65,
                chunk: 64
            }]
        );
        assert_eq!(slice_size(4 * MIB + 1, 4), MIB + 64);
    }

    /// Slices of a 2+2 object of two stripes (the second short), for the error tests.
    fn two_stripes() -> (EcConf, Vec<u8>, Vec<Vec<u8>>) {
        let c = conf(2, 2);
        let obj = Rng(11).bytes(2 * CHUNK_BYTES_MAX + 300);
        let slices = encode_slices(c, &obj, &mut Rng(12));
        (c, obj, slices)
    }

    /// What `decode_stripe` takes.
    type Chunks<'a> = &'a [(usize, &'a [u8])];

    #[test]
    fn decoder_refuses_bad_slice_sets_and_chunks_and_keeps_the_stripe() {
        let (c, obj, slices) = two_stripes();
        let size = obj.len() as u64;
        assert!(matches!(
            Decoder::new(c, size, &[0, 4]),
            Err(EcError::SliceIndex {
                index: 4,
                slices: 4
            })
        ));
        assert!(matches!(
            Decoder::new(c, size, &[0, 1, 1]),
            Err(EcError::DuplicateSlice { index: 1 })
        ));
        let err = Decoder::new(c, size, &[3]).err().unwrap();
        assert_eq!(
            err.to_string(),
            "cannot restore the object: 3 of 4 slices are missing, \
             2 parity slices restore at most 2"
        );

        let mut dec = Decoder::new(c, size, &[1, 2]).unwrap();
        let s = dec.stripe().unwrap();
        let at = s.slice_offset() as usize;
        let chunk = |i: usize| &slices[i][at..at + s.chunk];
        let short = &chunk(2)[1..];
        let cases: [(Chunks, &str); 5] = [
            (&[(1, chunk(1))], "MissingChunk"),
            (&[(1, chunk(1)), (2, chunk(2)), (0, chunk(0))], "Unexpected"),
            (&[(1, chunk(1)), (1, chunk(1))], "Duplicate"),
            (&[(1, chunk(1)), (2, short)], "ChunkSize"),
            (&[(1, chunk(1)), (7, chunk(2))], "SliceIndex"),
        ];
        for (chunks, want) in cases {
            let err = dec.decode_stripe(chunks).unwrap_err();
            assert!(format!("{err:?}").starts_with(want), "{want}: got {err:?}");
        }
        // The refused calls consumed nothing: the object still decodes in full.
        let mut got = Vec::new();
        while let Some(s) = dec.stripe() {
            let at = s.slice_offset() as usize;
            let out = dec
                .decode_stripe(&[
                    (2, &slices[2][at..at + s.chunk]),
                    (1, &slices[1][at..at + s.chunk]),
                ])
                .unwrap();
            got.extend_from_slice(out.object);
        }
        assert!(got == obj);
    }

    #[test]
    fn damaged_padding_is_an_error_not_bytes() {
        let (c, obj, slices) = two_stripes();
        let size = obj.len() as u64;
        // The second stripe's data slice 1 ends in padding; corrupt its last byte.
        let last = stripes(size, 2).last().unwrap();
        let mut bad = slices[1].clone();
        *bad.last_mut().unwrap() ^= 1;
        let at = last.slice_offset() as usize;
        let mut dec = Decoder::new(c, size, &[0, 1]).unwrap();
        let first = dec.stripe().unwrap();
        dec.decode_stripe(&[(0, &slices[0][..first.chunk]), (1, &bad[..first.chunk])])
            .unwrap();
        let err = dec
            .decode_stripe(&[(0, &slices[0][at..]), (1, &bad[at..])])
            .unwrap_err();
        assert!(matches!(err, EcError::Padding { stripe: 1, .. }), "{err}");
        // Through RS too: a damaged parity chunk restores data with nonzero padding.
        let mut bad = slices[2].clone();
        for b in &mut bad[at..] {
            *b ^= 0x5a;
        }
        let mut dec = Decoder::new(c, size, &[0, 2]).unwrap();
        dec.decode_stripe(&[(0, &slices[0][..first.chunk]), (2, &bad[..first.chunk])])
            .unwrap();
        let err = dec
            .decode_stripe(&[(0, &slices[0][at..]), (2, &bad[at..])])
            .unwrap_err();
        assert!(matches!(err, EcError::Padding { stripe: 1, .. }), "{err}");
    }

    fn meta() -> EcMeta {
        EcMeta {
            version: META_VERSION,
            data: 4,
            parity: 2,
            slice_index: 5,
            obj_size: 123_456_789_012,
            generation_ns: 1_733_000_000_123_456_789,
            obj_cksum_type: "xxhash2".into(),
            obj_cksum_value: "0123456789abcdef".into(),
            obj_version: "17".into(),
            slice_cksum: 0xfeed_face_dead_beef,
            targets: ["t1", "t2", "tärget-3", "t4", "", "t6"]
                .map(String::from)
                .to_vec(),
            replicated: false,
            deleted: false,
        }
    }

    #[test]
    fn metafile_round_trips() {
        let m = meta();
        let b = m.encode();
        assert_eq!(&b[..6], b"AISEC\0");
        assert_eq!(b[6..11], [1, 4, 2, 5, 0]);
        assert_eq!(b[11..19], 123_456_789_012u64.to_be_bytes());
        assert_eq!(EcMeta::decode(&b).unwrap(), m);
        let tail = u64::from_be_bytes(b[b.len() - 8..].try_into().unwrap());
        assert_eq!(tail, xxh64(&b[..b.len() - 8], 0));

        let small = EcMeta {
            data: 1,
            parity: 1,
            slice_index: 0,
            obj_size: 0,
            generation_ns: -1,
            obj_cksum_type: String::new(),
            obj_cksum_value: String::new(),
            obj_version: String::new(),
            targets: vec!["a".into(), "b".into()],
            replicated: true,
            ..meta()
        };
        let b = small.encode();
        assert_eq!(
            b.len(),
            META_FIXED_BYTES + 3 * 2 + 2 * 3 + META_TRAILER_BYTES
        );
        assert_eq!(b[10], 1, "replicated flag");
        assert_eq!(EcMeta::decode(&b).unwrap(), small);
        let tomb = EcMeta {
            deleted: true,
            replicated: false,
            ..small
        };
        let b = tomb.encode();
        assert_eq!(b[10], 2, "deleted flag");
        assert_eq!(EcMeta::decode(&b).unwrap(), tomb);
    }

    #[test]
    fn metafile_refuses_every_single_bit_flip_and_truncation() {
        let b = meta().encode();
        for bit in 0..b.len() * 8 {
            let mut bad = b.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(EcMeta::decode(&bad).is_err(), "bit {bit} flipped: accepted");
        }
        for len in 0..b.len() {
            assert!(EcMeta::decode(&b[..len]).is_err(), "cut to {len}: accepted");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(EcMeta::decode(&longer).is_err());
        assert!(matches!(
            EcMeta::decode(&b[..10]),
            Err(EcError::MetaTooShort { len: 10 })
        ));
        let mut magic = b.clone();
        magic[0] = b'X';
        assert!(matches!(EcMeta::decode(&magic), Err(EcError::MetaMagic)));
        let mut version = b.clone();
        version[6] = 2;
        assert!(matches!(
            EcMeta::decode(&version),
            Err(EcError::MetaVersion(2))
        ));
        let mut flipped = b;
        flipped[20] ^= 4;
        assert!(matches!(
            EcMeta::decode(&flipped),
            Err(EcError::MetaChecksum { .. })
        ));
    }

    /// Re-seal edited metafile bytes with a valid checksum, so the field checks are what
    /// refuses them.
    fn reseal(mut b: Vec<u8>) -> Vec<u8> {
        let n = b.len() - META_TRAILER_BYTES;
        let sum = xxh64(&b[..n], 0);
        b[n..].copy_from_slice(&sum.to_be_bytes());
        b
    }

    #[test]
    fn metafile_with_a_valid_checksum_but_bad_fields_is_refused() {
        let b = meta().encode();
        let edit = |at: usize, v: u8| {
            let mut x = b.clone();
            x[at] = v;
            EcMeta::decode(&reseal(x)).unwrap_err()
        };
        for (at, v, field) in [
            (7, 0, "data/parity"),
            (7, 33, "data/parity"),
            (8, 0, "data/parity"),
            (7, 5, "targets"), // 5+2 slices but 6 targets: runs past the end
            (7, 3, "targets"), // 3+2 slices: one target's bytes left over
            (9, 6, "slice_index"),
            (10, 4, "flags"),
        ] {
            match edit(at, v) {
                EcError::MetaField { field: f, .. } => assert_eq!(f, field, "byte {at} = {v}"),
                e => panic!("byte {at} = {v}: {e}"),
            }
        }
        // A string that is not UTF-8.
        let mut x = b.clone();
        x[META_FIXED_BYTES + 2] = 0xff;
        match EcMeta::decode(&reseal(x)).unwrap_err() {
            EcError::MetaField { field, detail } => {
                assert_eq!(field, "obj_cksum_type");
                assert!(detail.starts_with("not UTF-8"), "{detail}");
            }
            e => panic!("{e}"),
        }
    }
}

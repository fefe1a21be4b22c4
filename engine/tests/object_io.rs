//! Engine object I/O through real DMA files: every size class and many ranges read back
//! byte-identical, sizes that are not block multiples included. Seeded, reproducible.

use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{ObjectReader, ObjectWriter, PutOpts};

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn sizes_and_ranges_roundtrip_byte_identical() {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let t = tempfile::tempdir_in(base).unwrap();
    let mp = Mountpath::init(&t.path().join("mp")).unwrap();
    let bck = Bck::ais("io");
    mp.create_bucket(&bck).unwrap();
    let seed: u64 = std::env::var("ENGINE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    eprintln!("ENGINE_TEST_SEED={seed}");
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            mp.prime_dma().await.unwrap();
            let opts = PutOpts {
                cksum_type: "xxhash2".into(),
                versioning: true,
                fsync: false,
                ..Default::default()
            };
            let sizes = [
                0usize,
                1,
                511,
                4095,
                4096,
                4097,
                65535,
                65536,
                100_000,
                (1 << 20) + 1,
                3 * (1 << 20) + 5,
            ];
            let mut rng = seed;
            for (i, size) in sizes.iter().enumerate() {
                let data = content(seed + i as u64, *size);
                let name = format!("obj-{i}");
                let mut w = ObjectWriter::create(&mp, &bck, &name).await.unwrap();
                if i % 2 == 0 {
                    w.size_hint(*size as u64);
                }
                // Feed in uneven pieces to exercise buffer growth and boundaries.
                let mut off = 0;
                let mut piece = 1 + (seed as usize % 7000);
                while off < data.len() {
                    let n = piece.min(data.len() - off);
                    w.write(&data[off..off + n]).await.unwrap();
                    off += n;
                    piece = piece * 3 % 300_001 + 1;
                }
                let r = w.commit(&opts).await.unwrap();
                assert_eq!(r.lom.size, *size as u64);
                let mut ranges = vec![(0u64, *size as u64)];
                for _ in 0..12 {
                    if *size == 0 {
                        break;
                    }
                    rng = engine::hrw::mix(rng);
                    let start = rng % *size as u64;
                    rng = engine::hrw::mix(rng);
                    let len = 1 + rng % (*size as u64 - start);
                    ranges.push((start, len));
                }
                for (start, len) in ranges {
                    let rd = ObjectReader::open(&mp, &bck, &name).await.unwrap();
                    let mut s = rd.stream(start, len);
                    let mut got = Vec::new();
                    while (got.len() as u64) < len {
                        let b = s.get_buffer_aligned(1 << 20).await.unwrap();
                        if b.is_empty() {
                            break;
                        }
                        got.extend_from_slice(&b);
                    }
                    let _ = s.close().await;
                    assert_eq!(got.len() as u64, len, "size {size} range {start}+{len}");
                    assert!(
                        got == data[start as usize..(start + len) as usize],
                        "size {size} range {start}+{len}: bytes differ"
                    );
                }
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn check_path_finds_a_flipped_bit_and_a_wrong_length() {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let t = tempfile::tempdir_in(base).unwrap();
    let mp = Mountpath::init(&t.path().join("mp")).unwrap();
    let bck = Bck::ais("chk");
    mp.create_bucket(&bck).unwrap();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            mp.prime_dma().await.unwrap();
            let opts = PutOpts {
                cksum_type: "xxhash2".into(),
                fsync: false,
                ..Default::default()
            };
            let data = content(3, 200_001);
            let mut w = ObjectWriter::create(&mp, &bck, "o").await.unwrap();
            w.write(&data).await.unwrap();
            w.commit(&opts).await.unwrap();
            let fqn = engine::object::locate(&mp, &bck, "o");
            let (lom, bad) = engine::object::check_path(&fqn).unwrap();
            assert_eq!((lom.size, bad), (data.len() as u64, None));
            // One flipped bit: the size holds, the checksum does not.
            let mut flipped = data.clone();
            flipped[123_456] ^= 0x20;
            let f = std::fs::OpenOptions::new().write(true).open(&fqn).unwrap();
            std::os::unix::fs::FileExt::write_all_at(&f, &flipped, 0).unwrap();
            let (_, bad) = engine::object::check_path(&fqn).unwrap();
            assert!(bad.unwrap().contains("BAD DATA CHECKSUM"));
            // Cut short: the metadata no longer matches the file.
            f.set_len(10).unwrap();
            assert!(matches!(
                engine::object::check_path(&fqn),
                Err(engine::Error::Corrupt { .. })
            ));
            assert!(matches!(
                engine::object::check_path(&t.path().join("none")),
                Err(engine::Error::NotFound(_))
            ));
        })
        .unwrap()
        .join()
        .unwrap();
}

/// A plain PUT commits as a new object first (no lookup of its name) and falls back to the
/// overwrite path when an object is there: versions count up, an identical PUT changes
/// nothing, names under new directories and over an escaped copy land where they should.
#[test]
fn new_and_overwriting_puts_version_and_skip_identical_content() {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let t = tempfile::tempdir_in(base).unwrap();
    let mp = Mountpath::init(&t.path().join("mp")).unwrap();
    let bck = Bck::ais("ver");
    mp.create_bucket(&bck).unwrap();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            mp.prime_dma().await.unwrap();
            let opts = PutOpts {
                cksum_type: "xxhash".into(),
                versioning: true,
                fsync: false,
                ..Default::default()
            };
            let put = |name: &'static str, data: Vec<u8>| {
                let (mp, bck, opts) = (&mp, &bck, &opts);
                async move {
                    let mut w = ObjectWriter::create(mp, bck, name).await.unwrap();
                    w.size_hint(data.len() as u64);
                    w.write(&data).await.unwrap();
                    w.commit(opts).await.unwrap()
                }
            };
            for name in ["plain", "dir/sub/deep", "dir"] {
                let r = put(name, content(1, 5000)).await;
                assert!(r.changed, "{name}");
                assert_eq!(r.lom.version, "1", "{name}");
                let r = put(name, content(1, 5000)).await;
                assert!(!r.changed, "{name}: identical content is not a new version");
                assert_eq!(r.lom.version, "1", "{name}");
                let r = put(name, content(2, 7000)).await;
                assert!(r.changed, "{name}");
                assert_eq!(r.lom.version, "2", "{name}");
                let rd = ObjectReader::open(&mp, &bck, name).await.unwrap();
                assert_eq!(
                    (rd.lom.size, rd.lom.version.as_str()),
                    (7000, "2"),
                    "{name}"
                );
                let stored = engine::object::read_lom_path(&rd.fqn).unwrap();
                assert_eq!(stored.version, "2", "{name}: the xattr on disk");
                rd.close().await;
            }
            // No work file is left behind by either path.
            let work = bck.work_dir(&mp.path);
            let left: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
            assert!(left.is_empty(), "work files left: {left:?}");
        })
        .unwrap()
        .join()
        .unwrap();
}

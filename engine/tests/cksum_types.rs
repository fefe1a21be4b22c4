//! Every AIS checksum type through real DMA writes: a commit stores the bucket's type and
//! value; a declared checksum of any type is verified (computed alongside when its type
//! differs from the bucket's); a mismatch stores nothing and leaves an existing object's bytes
//! and metadata as they were; identical content is a no-op only for types whose values can
//! stand for the content. Seeded, reproducible (`ENGINE_TEST_SEED`).

use engine::cksum::{compute, Cksum, CksumError, CksumType};
use engine::layout::Bck;
use engine::lom::Lom;
use engine::mountpath::Mountpath;
use engine::object::{self, ObjectReader, ObjectWriter, PutOpts, PutResult};

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

/// Write `data` in uneven pieces (set up for `opts` when `set_up`), then commit.
async fn put(
    mp: &Mountpath,
    bck: &Bck,
    name: &str,
    data: &[u8],
    opts: &PutOpts,
    set_up: bool,
) -> engine::Result<PutResult> {
    let mut w = ObjectWriter::create(mp, bck, name).await?;
    if set_up {
        w.set_cksums(opts)?;
    }
    let mut off = 0;
    let mut piece = 1 + data.len() % 7001;
    while off < data.len() {
        let n = piece.min(data.len() - off);
        w.write(&data[off..off + n]).await?;
        off += n;
        piece = piece * 3 % 300_001 + 1;
    }
    w.commit(opts).await
}

async fn read(mp: &Mountpath, bck: &Bck, name: &str) -> (Lom, Vec<u8>) {
    let rd = ObjectReader::open(mp, bck, name).await.unwrap();
    let lom = rd.lom.clone();
    let mut s = rd.stream(0, lom.size);
    let mut out = Vec::new();
    while (out.len() as u64) < lom.size {
        let b = s.get_buffer_aligned(1 << 20).await.unwrap();
        assert!(!b.is_empty());
        out.extend_from_slice(&b);
    }
    let _ = s.close().await;
    (lom, out)
}

fn work_files(mp: &Mountpath, bck: &Bck) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(bck.work_dir(&mp.path))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// The stored (type, value) a bucket of type `ty` gives `data`.
fn stored(ty: CksumType, data: &[u8]) -> (String, String) {
    match ty {
        CksumType::None => (String::new(), String::new()),
        t => (t.name().to_string(), compute(t, data)),
    }
}

/// A well-formed checksum of type `ty` that is not the one of `data`.
fn wrong(ty: CksumType, data: &[u8]) -> Cksum {
    let mut v = compute(ty, data).into_bytes();
    v[0] = if v[0] == b'0' { b'1' } else { b'0' };
    Cksum::parse(ty.name(), std::str::from_utf8(&v).unwrap()).unwrap()
}

fn right(ty: CksumType, data: &[u8]) -> Cksum {
    Cksum::parse(ty.name(), &compute(ty, data)).unwrap()
}

fn with_mountpath(name: &str, f: impl AsyncFnOnce(Mountpath, Bck, u64) + Send + 'static) {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let t = tempfile::tempdir_in(base).unwrap();
    let mp = Mountpath::init(&t.path().join("mp")).unwrap();
    let bck = Bck::ais(name);
    mp.create_bucket(&bck).unwrap();
    let seed: u64 = std::env::var("ENGINE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    eprintln!("ENGINE_TEST_SEED={seed}");
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            mp.prime_dma().await.unwrap();
            f(mp, bck, seed).await;
        })
        .unwrap()
        .join()
        .unwrap();
}

const SIZES: [usize; 4] = [0, 4097, 100_000, (1 << 20) * 2 + 7];

#[test]
fn commit_stores_the_bucket_type_and_value_for_every_type() {
    with_mountpath("types", async |mp, bck, seed| {
        for (i, ty) in CksumType::ALL.into_iter().enumerate() {
            for (j, size) in SIZES.into_iter().enumerate() {
                let data = content(seed + (i * 10 + j) as u64, size);
                let name = format!("{ty}/{size}");
                let opts = PutOpts {
                    cksum_type: ty.name().into(),
                    versioning: true,
                    ..Default::default()
                };
                let r = put(&mp, &bck, &name, &data, &opts, true).await.unwrap();
                let want = stored(ty, &data);
                assert_eq!(
                    (r.lom.cksum_type.clone(), r.lom.cksum_value.clone()),
                    want,
                    "{name}"
                );
                let (lom, got) = read(&mp, &bck, &name).await;
                assert!(got == data, "{name}: bytes differ");
                assert_eq!(
                    (lom.cksum_type, lom.cksum_value),
                    want,
                    "{name}: stored LOM"
                );
                assert_eq!(lom.version, "1");
            }
        }
        // The default type when none is configured.
        let data = content(seed, 1000);
        let r = put(&mp, &bck, "default", &data, &PutOpts::default(), true)
            .await
            .unwrap();
        assert_eq!(
            (r.lom.cksum_type, r.lom.cksum_value),
            stored(CksumType::Xxhash2, &data)
        );
    });
}

#[test]
fn a_writer_not_set_up_reads_the_work_file_back() {
    with_mountpath("readback", async |mp, bck, seed| {
        let data = content(seed, 2 * (1 << 20) + 5);
        for ty in CksumType::ALL {
            for declared in [CksumType::Sha256, CksumType::Crc32c, CksumType::Xxhash] {
                let name = format!("{ty}-{declared}");
                let mut opts = PutOpts {
                    cksum_type: ty.name().into(),
                    client_cksum: Some(right(declared, &data)),
                    ..Default::default()
                };
                let r = put(&mp, &bck, &name, &data, &opts, false).await.unwrap();
                assert_eq!(
                    (r.lom.cksum_type, r.lom.cksum_value),
                    stored(ty, &data),
                    "{name}"
                );
                opts.client_cksum = Some(wrong(declared, &data));
                match put(&mp, &bck, &format!("{name}-bad"), &data, &opts, false).await {
                    Err(engine::Error::ChecksumMismatch { ty: t, .. }) => {
                        assert_eq!(t, declared, "{name}");
                    }
                    other => panic!("{name}: want a mismatch, got {other:?}"),
                }
            }
        }
        assert!(work_files(&mp, &bck).is_empty());
    });
}

#[test]
fn a_wrong_declared_checksum_of_every_type_changes_nothing() {
    with_mountpath("wrong", async |mp, bck, seed| {
        let types: Vec<CksumType> = CksumType::ALL
            .into_iter()
            .filter(|t| *t != CksumType::None)
            .collect();
        for bucket_ty in CksumType::ALL {
            let name = format!("obj-{bucket_ty}");
            let first = content(seed, 70_000);
            let base = PutOpts {
                cksum_type: bucket_ty.name().into(),
                versioning: true,
                custom: vec![("k".into(), "v".into())],
                ..Default::default()
            };
            put(&mp, &bck, &name, &first, &base, true).await.unwrap();
            let fqn = object::locate(&mp, &bck, &name);
            let lom_before = object::read_lom_path(&fqn).unwrap();
            for (i, declared) in types.iter().copied().enumerate() {
                let next = content(seed + 1 + i as u64, 70_000 + i);
                let opts = PutOpts {
                    client_cksum: Some(wrong(declared, &next)),
                    ..base.clone()
                };
                let e = put(&mp, &bck, &name, &next, &opts, true).await.unwrap_err();
                match &e {
                    engine::Error::ChecksumMismatch {
                        ty,
                        expected,
                        actual,
                    } => {
                        assert_eq!(*ty, declared, "{name}");
                        assert_eq!(expected, wrong(declared, &next).value());
                        assert_eq!(*actual, compute(declared, &next));
                        assert!(
                            e.to_string().starts_with(&format!(
                                "BAD DATA CHECKSUM: {declared}({expected} != {actual})"
                            )),
                            "{e}"
                        );
                    }
                    other => panic!("{name} declared {declared}: got {other:?}"),
                }
                let (lom, got) = read(&mp, &bck, &name).await;
                assert!(got == first, "{name} declared {declared}: bytes changed");
                // All but the access time (which reading the object may move).
                let no_atime = |l: Lom| Lom { atime_ns: 0, ..l };
                assert_eq!(
                    no_atime(lom),
                    no_atime(lom_before.clone()),
                    "{name} declared {declared}: LOM changed"
                );
                assert_eq!(
                    no_atime(object::read_lom_path(&fqn).unwrap()),
                    no_atime(lom_before.clone())
                );
                assert!(work_files(&mp, &bck).is_empty(), "work file left");
            }
            // The right value of each type is accepted: a new version each time, stored
            // under the bucket's type whatever the declared one.
            for (i, declared) in types.iter().copied().enumerate() {
                let next = content(seed + 100 + i as u64, 5000 + i);
                let opts = PutOpts {
                    client_cksum: Some(right(declared, &next)),
                    ..base.clone()
                };
                let r = put(&mp, &bck, &name, &next, &opts, true).await.unwrap();
                assert!(r.changed);
                assert_eq!(r.lom.version, (i + 2).to_string());
                assert_eq!(
                    (r.lom.cksum_type, r.lom.cksum_value),
                    stored(bucket_ty, &next),
                    "{name} declared {declared}"
                );
                assert!(read(&mp, &bck, &name).await.1 == next);
            }
            // skip_vc: the declared checksum is not verified.
            let next = content(seed + 999, 100);
            let opts = PutOpts {
                client_cksum: Some(wrong(CksumType::Md5, &next)),
                skip_vc: true,
                ..base.clone()
            };
            put(&mp, &bck, &name, &next, &opts, true).await.unwrap();
            assert!(read(&mp, &bck, &name).await.1 == next);
        }
    });
}

#[test]
fn identical_content_is_a_no_op_only_for_types_that_identify_it() {
    with_mountpath("noop", async |mp, bck, seed| {
        let data = content(seed, 12_345);
        for ty in CksumType::ALL {
            let name = format!("same-{ty}");
            let opts = PutOpts {
                cksum_type: ty.name().into(),
                versioning: true,
                ..Default::default()
            };
            put(&mp, &bck, &name, &data, &opts, true).await.unwrap();
            let r = put(&mp, &bck, &name, &data, &opts, true).await.unwrap();
            let noop = ty.identifies_content();
            assert_eq!(r.changed, !noop, "{ty}");
            assert_eq!(r.lom.version, if noop { "1" } else { "2" }, "{ty}");
            // With a (right) declared checksum of another type: the same.
            let opts2 = PutOpts {
                client_cksum: Some(right(CksumType::Sha512, &data)),
                ..opts.clone()
            };
            let r = put(&mp, &bck, &name, &data, &opts2, true).await.unwrap();
            assert_eq!(r.changed, !noop, "{ty}");
        }
        // Same value, other type name (xxhash vs xxhash2): stored anew under the bucket's.
        let xx = PutOpts {
            cksum_type: "xxhash".into(),
            versioning: true,
            ..Default::default()
        };
        let r = put(&mp, &bck, "same-xxhash2", &data, &xx, true)
            .await
            .unwrap();
        assert!(r.changed);
        assert_eq!(r.lom.cksum_type, "xxhash");
        // Changing the bucket's type re-stores identical content under the new type.
        let md5 = PutOpts {
            cksum_type: "md5".into(),
            versioning: true,
            ..Default::default()
        };
        let r = put(&mp, &bck, "same-sha256", &data, &md5, true)
            .await
            .unwrap();
        assert!(r.changed);
        assert_eq!(
            (r.lom.cksum_type, r.lom.cksum_value),
            stored(CksumType::Md5, &data)
        );
    });
}

#[test]
fn unknown_types_are_refused_and_leave_no_work_file() {
    with_mountpath("unknown", async |mp, bck, _seed| {
        let opts = PutOpts {
            cksum_type: "sha1".into(),
            ..Default::default()
        };
        let mut w = ObjectWriter::create(&mp, &bck, "x").await.unwrap();
        match w.set_cksums(&opts) {
            Err(engine::Error::InvalidChecksum(CksumError::UnknownType(t))) => {
                assert_eq!(t, "sha1");
            }
            other => panic!("{other:?}"),
        }
        w.write(b"abc").await.unwrap();
        match w.commit(&opts).await {
            Err(engine::Error::InvalidChecksum(CksumError::UnknownType(t))) => {
                assert_eq!(t, "sha1");
            }
            other => panic!("{:?}", other.map(|r| r.lom)),
        }
        assert!(!object::exists(&mp, &bck, "x"));
        assert!(work_files(&mp, &bck).is_empty());
        assert!(engine::object::is_supported_cksum(""));
        for t in CksumType::ALL {
            assert!(engine::object::is_supported_cksum(t.name()), "{t}");
        }
        assert!(!engine::object::is_supported_cksum("sha1"));
    });
}

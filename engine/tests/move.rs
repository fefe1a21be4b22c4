//! Moving objects between mountpaths (resilver) and no-replace commits (rebalance, resilver):
//! a moved copy never replaces a newer one, and metadata travels with the object.

use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{self, Moved, ObjectReader, ObjectWriter, PutOpts};

async fn put(
    mp: &Mountpath,
    bck: &Bck,
    name: &str,
    data: &[u8],
    opts: &PutOpts,
) -> engine::Result<()> {
    let mut w = ObjectWriter::create(mp, bck, name).await?;
    w.write(data).await?;
    w.commit(opts).await.map(|_| ())
}

async fn read(mp: &Mountpath, bck: &Bck, name: &str) -> Vec<u8> {
    let rd = ObjectReader::open(mp, bck, name).await.unwrap();
    let size = rd.lom.size;
    let mut s = rd.stream(0, size);
    let mut out = Vec::new();
    while (out.len() as u64) < size {
        let b = s.get_buffer_aligned(1 << 20).await.unwrap();
        assert!(!b.is_empty());
        out.extend_from_slice(&b);
    }
    let _ = s.close().await;
    out
}

#[test]
fn move_local_and_no_replace() {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let t = tempfile::tempdir_in(base).unwrap();
    let a = Mountpath::init(&t.path().join("a")).unwrap();
    let b = Mountpath::init(&t.path().join("b")).unwrap();
    let bck = Bck::ais("mv");
    a.create_bucket(&bck).unwrap();
    b.create_bucket(&bck).unwrap();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            a.prime_dma().await.unwrap();
            let opts = PutOpts {
                cksum_type: "xxhash2".into(),
                versioning: true,
                custom: vec![("k".into(), "v".into())],
                ..Default::default()
            };
            // A plain move keeps bytes and metadata and removes the source (and its dirs).
            put(&a, &bck, "d1/d2/x", b"hello", &opts).await.unwrap();
            let before = object::read_lom_path(&bck.fqn(&a.path, "d1/d2/x")).unwrap();
            assert_eq!(
                object::move_local(&a, &b, &bck, "d1/d2/x", true).unwrap(),
                Moved::Moved
            );
            assert!(!bck.fqn(&a.path, "d1/d2/x").exists());
            assert!(
                !bck.fqn(&a.path, "d1").exists(),
                "empty source dirs removed"
            );
            let after = object::read_lom_path(&bck.fqn(&b.path, "d1/d2/x")).unwrap();
            assert_eq!(
                (
                    after.size,
                    &after.cksum_value,
                    &after.version,
                    &after.custom
                ),
                (
                    before.size,
                    &before.cksum_value,
                    &before.version,
                    &before.custom
                )
            );
            assert_eq!(read(&b, &bck, "d1/d2/x").await, b"hello");
            // Gone source: nothing to do.
            assert_eq!(
                object::move_local(&a, &b, &bck, "d1/d2/x", false).unwrap(),
                Moved::Gone
            );

            // An older copy never replaces a newer one at the destination.
            put(&a, &bck, "y", b"old", &opts).await.unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            put(&b, &bck, "y", b"new", &opts).await.unwrap();
            assert_eq!(
                object::move_local(&a, &b, &bck, "y", false).unwrap(),
                Moved::DroppedOlder
            );
            assert_eq!(read(&b, &bck, "y").await, b"new");
            assert!(!bck.fqn(&a.path, "y").exists());
            // A newer source does replace an older destination copy.
            put(&b, &bck, "z", b"old", &opts).await.unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            put(&a, &bck, "z", b"newer", &opts).await.unwrap();
            assert_eq!(
                object::move_local(&a, &b, &bck, "z", false).unwrap(),
                Moved::Moved
            );
            assert_eq!(read(&b, &bck, "z").await, b"newer");

            // no_replace: the commit fails with Exists, keeps what is there, leaves no work file.
            let nr = PutOpts {
                no_replace: true,
                keep_version: Some("7".into()),
                keep_mtime_ns: Some(1_000_000_000_123),
                ..opts.clone()
            };
            match put(&b, &bck, "z", b"moved copy", &nr).await {
                Err(engine::Error::Exists(_)) => {}
                other => panic!("want Exists, got {other:?}"),
            }
            assert_eq!(read(&b, &bck, "z").await, b"newer");
            let wk: Vec<_> = std::fs::read_dir(bck.work_dir(&b.path)).unwrap().collect();
            assert!(wk.is_empty(), "work files left: {wk:?}");
            // ... and where nothing is in place it commits with the kept version and mtime.
            put(&b, &bck, "w", b"moved copy", &nr).await.unwrap();
            let l = object::read_lom_path(&bck.fqn(&b.path, "w")).unwrap();
            assert_eq!((l.version.as_str(), l.mtime_ns), ("7", 1_000_000_000_123));
        })
        .unwrap()
        .join()
        .unwrap();
}

//! The per-core open-file cache (engine::opencache) never serves stale metadata or a replaced
//! or deleted object: hits are counted, and every kind of change (a new object renamed into
//! place, an xattr rewrite before and after the entry settled, a delete, an overwrite with
//! the same size) is seen by the next open.

use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{self, ObjectReader, ObjectWriter, PutOpts};
use engine::opencache;
use std::time::Duration;

async fn put(mp: &Mountpath, bck: &Bck, name: &str, data: &[u8]) {
    let mut w = ObjectWriter::create(mp, bck, name).await.unwrap();
    w.write(data).await.unwrap();
    w.commit(&PutOpts::default()).await.unwrap();
}

async fn read(mp: &Mountpath, bck: &Bck, name: &str) -> (engine::lom::Lom, Vec<u8>) {
    let rd = ObjectReader::open(mp, bck, name).await.unwrap();
    let lom = rd.lom.clone();
    let r = rd.read_range(0, lom.size as usize).await.unwrap();
    let data = r.to_vec();
    rd.close().await;
    (lom, data)
}

#[test]
fn cache_sees_every_change() {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let t = tempfile::tempdir_in(base).unwrap();
    let mp = Mountpath::init(&t.path().join("mp")).unwrap();
    let bck = Bck::ais("oc");
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            mp.prime_dma().await.unwrap();
            opencache::enable(64);
            put(&mp, &bck, "a", b"first").await;
            let (l1, d1) = read(&mp, &bck, "a").await;
            assert_eq!(d1, b"first");
            let s = opencache::stats();
            assert_eq!((s.hits, s.misses, s.entries), (0, 1, 1));
            let (l2, d2) = read(&mp, &bck, "a").await;
            assert_eq!(
                (l2.cksum_value.as_str(), d2.as_slice()),
                (l1.cksum_value.as_str(), &b"first"[..])
            );
            assert_eq!(opencache::stats().hits, 1);

            // Same size, new content, renamed into place at once: a new inode.
            put(&mp, &bck, "a", b"other").await;
            let (l3, d3) = read(&mp, &bck, "a").await;
            assert_eq!(d3, b"other");
            assert_ne!(l3.cksum_value, l1.cksum_value);

            // Metadata rewritten in place while the entry is young (same tick possible).
            let path = bck.fqn(&mp.path, "a");
            object::set_custom(&path, vec![("k".into(), "v1".into())]).unwrap();
            assert_eq!(
                read(&mp, &bck, "a").await.0.custom,
                vec![("k".into(), "v1".into())]
            );
            object::set_custom(&path, vec![("k".into(), "v2".into())]).unwrap();
            assert_eq!(
                read(&mp, &bck, "a").await.0.custom,
                vec![("k".into(), "v2".into())]
            );

            // Settled: trusted without re-reading, until the next change moves ctime.
            std::thread::sleep(Duration::from_millis(120));
            let _ = read(&mp, &bck, "a").await;
            std::thread::sleep(Duration::from_millis(120));
            let before = opencache::stats().hits;
            assert_eq!(
                read(&mp, &bck, "a").await.0.custom,
                vec![("k".into(), "v2".into())]
            );
            assert_eq!(opencache::stats().hits, before + 1);
            object::set_custom(&path, vec![("k".into(), "v3".into())]).unwrap();
            assert_eq!(
                read(&mp, &bck, "a").await.0.custom,
                vec![("k".into(), "v3".into())]
            );

            // Deleted by another thread (this thread's forget does not run): not found.
            let p2 = path.clone();
            std::thread::spawn(move || std::fs::remove_file(p2).unwrap())
                .join()
                .unwrap();
            assert!(matches!(
                ObjectReader::open(&mp, &bck, "a").await,
                Err(engine::Error::NotFound(_))
            ));
            put(&mp, &bck, "a", b"third!").await;
            assert_eq!(read(&mp, &bck, "a").await.1, b"third!");

            // Deleted through the engine: the entry goes at once.
            object::delete(&mp, &bck, "a").unwrap();
            assert_eq!(opencache::stats().entries, 0);

            // Bounded: past the cap, unused entries are dropped.
            for i in 0..100 {
                put(&mp, &bck, &format!("n{i}"), b"x").await;
                let _ = read(&mp, &bck, &format!("n{i}")).await;
            }
            assert!(opencache::stats().entries <= 64);
            opencache::sweep();
            opencache::sweep();
            assert_eq!(opencache::stats().entries, 0);
            opencache::enable(0);
        })
        .unwrap()
        .join()
        .unwrap();
}

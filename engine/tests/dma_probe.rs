//! Regression test for glommio's IOPOLL probe (see mountpath.rs): in a fresh process, the
//! first DMA open on the device must be the non-empty marker. If the engine opened an empty
//! work file first, glommio would mark the device pollable and every later DMA read would
//! fail with EOPNOTSUPP (os error 95). This file holds one test so it runs in its own process.

use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{ObjectReader, ObjectWriter, PutOpts};

#[test]
fn first_put_is_empty_object_then_dma_reads_still_work() {
    // Under target/ so the file system is the real disk (not tmpfs, which skips the probe).
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let t = tempfile::tempdir_in(base).unwrap();
    let mp = Mountpath::init(&t.path().join("mp")).unwrap();
    let bck = Bck::ais("probe");
    mp.create_bucket(&bck).unwrap();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            mp.prime_dma().await.expect("prime DMA probe");
            let opts = PutOpts {
                cksum_type: "xxhash2".into(),
                versioning: true,
                fsync: true,
                ..Default::default()
            };
            // An empty object first: its work file is empty when created.
            let w = ObjectWriter::create(&mp, &bck, "empty").await.unwrap();
            w.commit(&opts).await.unwrap();
            let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
            let mut w = ObjectWriter::create(&mp, &bck, "dir/ten-k").await.unwrap();
            w.write(&data).await.unwrap();
            let r = w.commit(&opts).await.unwrap();
            assert_eq!(r.lom.size, 10_000);
            assert_eq!(r.lom.version, "1");
            let rd = ObjectReader::open(&mp, &bck, "dir/ten-k").await.unwrap();
            assert_eq!(
                rd.lom.cksum_value,
                format!("{:016x}", xxhash_rust::xxh64::xxh64(&data, 0))
            );
            let mut s = rd.stream(0, 10_000);
            let mut got = Vec::new();
            loop {
                let b = s
                    .get_buffer_aligned(1 << 20)
                    .await
                    .expect("DMA read must not fail with EOPNOTSUPP");
                if b.is_empty() {
                    break;
                }
                got.extend_from_slice(&b);
            }
            let _ = s.close().await;
            assert_eq!(got, data);
            let e = ObjectReader::open(&mp, &bck, "empty").await.unwrap();
            assert_eq!(e.lom.size, 0);
            e.close().await;
        })
        .unwrap()
        .join()
        .unwrap();
}

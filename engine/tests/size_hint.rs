//! A size hint preallocates the work file (fallocate): the committed object has exactly the
//! bytes written, whether the hint was right, too large or too small, aligned or not.

use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{self, ObjectReader, ObjectWriter, PutOpts};

#[test]
fn committed_size_is_the_bytes_written() {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let t = tempfile::tempdir_in(base).unwrap();
    let mp = Mountpath::init(&t.path().join("mp")).unwrap();
    let bck = Bck::ais("sh");
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            mp.prime_dma().await.unwrap();
            mp.create_bucket(&bck).unwrap();
            let cases: &[(u64, usize)] = &[
                (4096, 4096),
                (5000, 5000),
                (8192, 4096),
                (10_000, 3),
                (100, 9000),
                (3 << 20, (3 << 20) + 17),
                (1 << 20, 1 << 20),
                (1, 0),
            ];
            for (i, &(hint, len)) in cases.iter().enumerate() {
                let data: Vec<u8> = (0..len).map(|j| (j * 7 + i) as u8).collect();
                let name = format!("o{i}");
                let mut w = ObjectWriter::create(&mp, &bck, &name).await.unwrap();
                w.size_hint(hint);
                for piece in data.chunks(100_000) {
                    w.write(piece).await.unwrap();
                }
                w.commit(&PutOpts::default()).await.unwrap();
                let path = bck.fqn(&mp.path, &name);
                assert_eq!(
                    std::fs::metadata(&path).unwrap().len(),
                    len as u64,
                    "hint {hint}"
                );
                assert_eq!(std::fs::read(&path).unwrap(), data, "hint {hint}");
                let rd = ObjectReader::open(&mp, &bck, &name).await.unwrap();
                assert_eq!(rd.lom.size, len as u64);
                rd.close().await;
                assert_eq!(object::check_path(&path).unwrap().1, None);
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

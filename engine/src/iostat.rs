//! Per-thread disk I/O counters: how many reads and writes this thread's objects issued, their
//! bytes, and the time spent waiting for them (each operation's submit-to-completion time).
//! A server core installs nothing: the first use makes its counters, and the node's metrics
//! take a handle ([`local`]) on each core at start-up to sum them when scraped. Single writer
//! per counter set (its thread): no cache line is shared on the data path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// One thread's counters.
#[derive(Debug, Default)]
pub struct IoCounters {
    pub read_ops: AtomicU64,
    pub read_bytes: AtomicU64,
    pub read_wait_ns: AtomicU64,
    pub write_ops: AtomicU64,
    pub write_bytes: AtomicU64,
    pub write_wait_ns: AtomicU64,
}

thread_local! {
    static LOCAL: Arc<IoCounters> = Arc::default();
}

/// This thread's counters (to be summed from another thread).
pub fn local() -> Arc<IoCounters> {
    LOCAL.with(Arc::clone)
}

fn add(c: &AtomicU64, v: u64) {
    c.fetch_add(v, Ordering::Relaxed);
}

/// A read of `bytes` that started at `since` completed.
pub fn read_done(since: Instant, bytes: usize) {
    let ns = since.elapsed().as_nanos() as u64;
    LOCAL.with(|c| {
        add(&c.read_ops, 1);
        add(&c.read_bytes, bytes as u64);
        add(&c.read_wait_ns, ns);
    });
}

/// A write of `bytes` that started at `since` completed.
pub fn write_done(since: Instant, bytes: usize) {
    let ns = since.elapsed().as_nanos() as u64;
    LOCAL.with(|c| {
        add(&c.write_ops, 1);
        add(&c.write_bytes, bytes as u64);
        add(&c.write_wait_ns, ns);
    });
}

/// The next buffer of a read stream, its wait counted as a read.
pub async fn next_buffer(
    s: &mut glommio::io::DmaStreamReader,
    len: u64,
) -> glommio::Result<glommio::io::ReadResult, ()> {
    let t = Instant::now();
    let r = s.get_buffer_aligned(len).await;
    if let Ok(b) = &r {
        read_done(t, b.len());
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_on_the_calling_thread_only() {
        let here = super::local();
        super::read_done(std::time::Instant::now(), 4096);
        super::write_done(std::time::Instant::now(), 100);
        std::thread::spawn(|| super::read_done(std::time::Instant::now(), 1))
            .join()
            .unwrap();
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(here.read_ops.load(Relaxed), 1);
        assert_eq!(here.read_bytes.load(Relaxed), 4096);
        assert_eq!(here.write_ops.load(Relaxed), 1);
        assert_eq!(here.write_bytes.load(Relaxed), 100);
    }
}

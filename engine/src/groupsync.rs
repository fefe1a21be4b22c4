//! Group commit: PUTs on one mountpath that need durability share one `syncfs(2)` of the
//! mountpath's file system instead of paying an `fdatasync` of their file and an `fsync` of
//! its directory each.
//!
//! A committed PUT (data written with O_DIRECT, metadata set, work file renamed into place)
//! takes a ticket and waits until a sync that *started after* its rename has finished: that
//! sync made its data, its xattr, its inode and the rename durable (one journal commit and
//! one device cache flush for the whole batch). At most one sync per mountpath runs at a
//! time on a core; PUTs that commit while it runs are covered by the next one, which starts
//! as soon as the running one ends. A failed sync fails every PUT of its batch.
//!
//! The sync runs on the executor's blocking thread (`syncfs` has no io_uring operation).
//! Per executor thread (shard-nothing: a mountpath's PUTs all commit on its owning core).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

struct Group {
    /// A directory descriptor on the file system (the mountpath root).
    fd: Arc<OwnedFd>,
    /// Tickets handed out (one per waiting commit).
    issued: Cell<u64>,
    /// Every ticket up to this one is durable (or failed, see `failed`).
    done: Cell<u64>,
    running: Cell<bool>,
    /// Tickets in `(from, to]` failed with this error.
    failed: RefCell<Vec<(u64, u64, std::io::ErrorKind, String)>>,
    waiters: RefCell<Vec<Waker>>,
    syncs: Cell<u64>,
}

thread_local! {
    static GROUPS: RefCell<HashMap<PathBuf, Rc<Group>>> = RefCell::new(HashMap::new());
}

fn group(root: &Path) -> std::io::Result<Rc<Group>> {
    if let Some(g) = GROUPS.with(|m| m.borrow().get(root).cloned()) {
        return Ok(g);
    }
    let fd = rustix::fs::open(
        root,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let g = Rc::new(Group {
        fd: Arc::new(fd),
        issued: Cell::new(0),
        done: Cell::new(0),
        running: Cell::new(false),
        failed: RefCell::new(Vec::new()),
        waiters: RefCell::new(Vec::new()),
        syncs: Cell::new(0),
    });
    GROUPS.with(|m| m.borrow_mut().insert(root.to_path_buf(), g.clone()));
    Ok(g)
}

/// Syncs run on this thread for the file system of `root` (0 if none).
pub fn syncs(root: &Path) -> u64 {
    GROUPS.with(|m| m.borrow().get(root).map_or(0, |g| g.syncs.get()))
}

struct Wait<'a> {
    g: &'a Group,
    ticket: u64,
}

impl Future for Wait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.g.done.get() >= self.ticket || !self.g.running.get() {
            return Poll::Ready(());
        }
        self.g.waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

/// Make everything written on the file system of mountpath `root` before this call durable,
/// sharing the sync with concurrent callers on this thread.
pub async fn sync(root: &Path) -> std::io::Result<()> {
    let g = group(root)?;
    let ticket = g.issued.get() + 1;
    g.issued.set(ticket);
    loop {
        if g.done.get() >= ticket {
            return match g
                .failed
                .borrow()
                .iter()
                .find(|(from, to, _, _)| ticket > *from && ticket <= *to)
            {
                Some((_, _, kind, msg)) => Err(std::io::Error::new(*kind, msg.clone())),
                None => Ok(()),
            };
        }
        if g.running.get() {
            Wait { g: &g, ticket }.await;
            continue;
        }
        // Lead a sync covering every ticket issued so far.
        g.running.set(true);
        let from = g.done.get();
        let upto = g.issued.get();
        let fd = g.fd.clone();
        let r = glommio::executor()
            .spawn_blocking(move || rustix::fs::syncfs(fd.as_ref()).map_err(std::io::Error::from))
            .await;
        g.syncs.set(g.syncs.get() + 1);
        if let Err(e) = r {
            // Reported by each PUT of the batch (its error names syncfs and the mountpath).
            let mut f = g.failed.borrow_mut();
            f.retain(|(_, to, _, _)| *to + 1024 > upto);
            f.push((from, upto, e.kind(), e.to_string()));
        }
        g.done.set(upto);
        g.running.set(false);
        for w in g.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

//! Snapshots the control plane publishes and every core reads: [`Published`] is replaced
//! whole under a lock; [`LocalView`] is a core's cached copy that costs one atomic load per
//! request and takes the lock only when the value changed.
//!
//! # Invariants
//! - A published value is never mutated in place, only replaced.
//! - The generation only grows, so a view never goes back to an older value.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A value the control plane replaces whole; readers on every core see a consistent snapshot.
pub struct Published<T> {
    generation: AtomicU64,
    value: Mutex<Arc<T>>,
}

impl<T> Published<T> {
    pub fn new(v: T) -> Self {
        Published {
            generation: AtomicU64::new(1),
            value: Mutex::new(Arc::new(v)),
        }
    }
    pub fn load(&self) -> Arc<T> {
        self.value
            .lock()
            .expect("publisher never panics while holding the lock")
            .clone()
    }
    pub fn store(&self, v: T) {
        *self
            .value
            .lock()
            .expect("publisher never panics while holding the lock") = Arc::new(v);
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// A core's cached view of a [`Published`] value: one atomic load per request, the lock only
/// when the value changed.
pub struct LocalView<T> {
    generation: Cell<u64>,
    value: RefCell<Option<Arc<T>>>,
}

impl<T> Default for LocalView<T> {
    fn default() -> Self {
        LocalView {
            generation: Cell::new(0),
            value: RefCell::new(None),
        }
    }
}

impl<T> LocalView<T> {
    pub fn get(&self, p: &Published<T>) -> Arc<T> {
        let g = p.generation.load(Ordering::Acquire);
        if g != self.generation.get() || self.value.borrow().is_none() {
            *self.value.borrow_mut() = Some(p.load());
            self.generation.set(g);
        }
        self.value.borrow().as_ref().expect("just filled").clone()
    }
}

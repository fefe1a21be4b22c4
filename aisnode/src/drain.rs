//! The drain state of a stopping node, shared by every core and the main thread.
//!
//! Stopping goes through three states, in order (asserted): serving; draining (every
//! response says `Connection: close`, listeners still accept so that a client redirected
//! under the previous Smap still gets an answer); closed (listening sockets shut down, so
//! a new connection is refused at once, and idle keep-alive connections are closed). The
//! node exits when no request is in flight or the drain deadline has passed.
//!
//! A request is in flight from the moment its head was read until its handler returned;
//! a connection handed to another core stays counted until that core has read the head
//! again ([`InFlight::keep`]), so the count never dips to zero in between.
//!
//! # What this module does not do
//!
//! Tell the primary (`cluster::lifecycle`), or wait (the server polls [`Drain::idle`]).

use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

const SERVING: u8 = 0;
const DRAINING: u8 = 1;
const CLOSED: u8 = 2;

#[derive(Default)]
pub struct Drain {
    state: AtomicU8,
    in_flight: AtomicUsize,
    /// Listening sockets of every core (owned by the cores' accept loops, which live
    /// until [`Drain::close_listeners`] has shut each one down).
    listeners: Mutex<Vec<RawFd>>,
}

/// One request in flight; dropping it ends the request.
pub struct InFlight<'a>(&'a Drain);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let before = self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0, "in-flight count underflow");
    }
}

impl InFlight<'_> {
    /// Keep counting this request after the guard is gone (a hand-off: the receiving core
    /// calls [`Drain::end_handed_off`] once it has read the head again).
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drain {
    pub fn begin_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    /// End a request that a hand-off kept counted ([`InFlight::keep`]).
    pub fn end_handed_off(&self) {
        drop(InFlight(self));
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// No request in flight.
    pub fn idle(&self) -> bool {
        self.in_flight() == 0
    }

    pub fn is_draining(&self) -> bool {
        self.state.load(Ordering::Acquire) >= DRAINING
    }

    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) == CLOSED
    }

    pub fn register_listener(&self, fd: RawFd) {
        assert!(
            !self.is_closed(),
            "a listener registered after the drain closed"
        );
        self.listeners.lock().expect("listeners lock").push(fd);
    }

    /// Serving -> draining.
    pub fn start_draining(&self) {
        let was = self.state.swap(DRAINING, Ordering::AcqRel);
        assert_eq!(was, SERVING, "drain started twice");
    }

    /// Draining -> closed: shut every listening socket down (new connections are refused
    /// from here on; a pending accept fails), then mark the drain closed (the accept loops
    /// end and drop their listeners).
    pub fn close_listeners(&self) {
        let fds = self.listeners.lock().expect("listeners lock");
        assert_eq!(
            self.state.load(Ordering::Acquire),
            DRAINING,
            "listeners closed before draining"
        );
        for fd in fds.iter() {
            #[allow(unsafe_code)]
            // SAFETY: the descriptor is still open: an accept loop drops its listener only
            // once `is_closed` holds (a failed accept while draining waits for it), and that
            // is set below, after the last shutdown.
            let fd = unsafe { BorrowedFd::borrow_raw(*fd) };
            if let Err(e) = rustix::net::shutdown(fd, rustix::net::Shutdown::Both) {
                tracing::warn!(error = %e, "shutting a listening socket down failed");
            }
        }
        self.state.store(CLOSED, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn in_flight_counts_requests_and_hand_offs() {
        let d = Drain::default();
        assert!(d.idle());
        let a = d.begin_request();
        let b = d.begin_request();
        assert_eq!(d.in_flight(), 2);
        drop(a);
        b.keep(); // handed to another core: still in flight
        assert_eq!(d.in_flight(), 1);
        let c = d.begin_request(); // the other core read the head again
        d.end_handed_off();
        assert_eq!(d.in_flight(), 1);
        drop(c);
        assert!(d.idle());
    }

    #[test]
    fn states_advance_in_order() {
        let d = Drain::default();
        assert!(!d.is_draining() && !d.is_closed());
        d.start_draining();
        assert!(d.is_draining() && !d.is_closed());
        d.close_listeners();
        assert!(d.is_draining() && d.is_closed());
    }

    #[test]
    #[should_panic(expected = "listeners closed before draining")]
    fn closing_before_draining_is_a_bug() {
        Drain::default().close_listeners();
    }

    #[test]
    fn closed_listener_refuses_new_connections() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let d = Drain::default();
        d.register_listener(l.as_raw_fd());
        // Accepted while draining.
        d.start_draining();
        let c1 = std::net::TcpStream::connect(addr).unwrap();
        let (_s1, _) = l.accept().unwrap();
        d.close_listeners();
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "a connection after close must be refused"
        );
        assert!(l.accept().is_err(), "accept fails after the shutdown");
        drop(c1);
    }
}

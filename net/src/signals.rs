//! Termination signals for a process that stops in an orderly way (aisnode, authn): block
//! SIGTERM and SIGINT in every thread (call before spawning any), then take them on one
//! thread with `sigwait`.

#[allow(unsafe_code)]
pub fn termination_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialize and fill a sigset_t we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

#[allow(unsafe_code)]
pub fn block_signals(set: &libc::sigset_t) {
    // SAFETY: `set` is initialized; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "pthread_sigmask failed");
}

#[allow(unsafe_code)]
pub fn wait_signal(set: &libc::sigset_t) -> i32 {
    let mut sig: libc::c_int = 0;
    loop {
        // SAFETY: `set` is initialized and `sig` is a valid out-pointer.
        let rc = unsafe { libc::sigwait(set, &mut sig) };
        if rc == 0 {
            return sig;
        }
    }
}

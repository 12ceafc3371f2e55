//! The private network namespace both kernel backends run in: `unshare(CLONE_NEWNET)` for
//! the calling thread (`kernel/nsproxy.c:ksys_unshare`), then `lo` brought up with
//! `ioctl(SIOCSIFFLAGS)` (`net/core/dev_ioctl.c`). The namespace affects that thread only and
//! dies with it; the kernel then purges its TIME-WAIT sockets (`inet_twsk_purge`).

use crate::sys;

/// Why no usable namespace exists.
pub(crate) enum NsError {
    /// No namespace could be created; the thread is still in the caller's namespace.
    Unavailable(String),
    /// The thread is in a new namespace that could not be made usable.
    Broken(String),
}

/// `unshare(CLONE_NEWNET)` for the calling thread, then `lo` up.
pub(crate) fn enter_namespace() -> Result<(), NsError> {
    sys::unshare_net().map_err(|e| {
        NsError::Unavailable(format!(
            "unshare(CLONE_NEWNET) failed: {} (creating a network namespace needs CAP_SYS_ADMIN)",
            e.describe()
        ))
    })?;
    sys::loopback_up().map_err(|e| {
        NsError::Broken(format!(
            "cannot bring lo up in the new namespace (ioctl SIOCSIFFLAGS): {}",
            e.describe()
        ))
    })
}

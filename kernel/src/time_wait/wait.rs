//! The check's waits, counted in [`POLL_SLICE`]s (no clock is read): a non-blocking connect
//! with a deadline, polls, conditions, and the 4-tuple's rows in `/proc/net/tcp`.

use super::{io, sys, KernelTwError, POLL_SLICE};
use crate::proc_net::{parse_proc_net_tcp, TCP_TIME_WAIT};
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use twsim_model::Duration;
use twsim_sim::predict::TwOutcome;

/// Non-blocking connect, then `poll(POLLOUT)` for at most `deadline` and `SO_ERROR`; returns
/// the result and the number of whole poll slices spent.
pub(super) fn connect(
    fd: &OwnedFd,
    to: SocketAddrV4,
    deadline: Duration,
) -> Result<(TwOutcome, u64), KernelTwError> {
    let from_errno = |e: i32| match e {
        0 => TwOutcome::Accepted,
        libc::ECONNREFUSED => TwOutcome::Refused,
        e => TwOutcome::ConnectError(e),
    };
    match sys::connect(fd, to) {
        Ok(()) => return Ok((TwOutcome::Accepted, 0)),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Ok((from_errno(e.raw_os_error().unwrap_or(libc::EIO)), 0)),
    }
    Ok(match poll_for(fd, libc::POLLOUT, deadline)? {
        Some(n) => (from_errno(sys::so_error(fd).map_err(io("SO_ERROR"))?), n),
        None => (TwOutcome::TimedOut, slice_count(deadline)),
    })
}

pub(super) fn slice_count(d: Duration) -> u64 {
    d.micros().div_ceil(POLL_SLICE.micros()).max(1)
}

/// Polls `fd` for `events` for at most `deadline`, in [`POLL_SLICE`]s; `Some(slices spent
/// before the ready one)` or `None` when the deadline passed.
pub(super) fn poll_for(
    fd: &OwnedFd,
    events: libc::c_short,
    deadline: Duration,
) -> Result<Option<u64>, KernelTwError> {
    let ms = libc::c_int::try_from(POLL_SLICE.micros() / 1000).unwrap_or(10);
    for n in 0..slice_count(deadline) {
        match sys::poll(fd, events, ms) {
            Ok(true) => return Ok(Some(n)),
            Ok(false) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("poll")(e)),
        }
    }
    Ok(None)
}

/// Checks `cond` every [`POLL_SLICE`] for at most `deadline`; whether it became true.
pub(super) fn wait_until(
    deadline: Duration,
    mut cond: impl FnMut() -> Result<bool, KernelTwError>,
) -> Result<bool, KernelTwError> {
    for _ in 0..slice_count(deadline) {
        if cond()? {
            return Ok(true);
        }
        sleep(POLL_SLICE);
    }
    cond()
}

pub(super) fn sleep(d: Duration) {
    std::thread::sleep(std::time::Duration::from_micros(d.micros()));
}

/// The states of the rows for `local`/`remote` in this thread's `/proc/net/tcp`
/// (`tcp4_seq_show`; TIME-WAIT rows come from `get_timewait4_sock`).
pub(super) fn tcp_states(
    local: SocketAddrV4,
    remote: SocketAddrV4,
) -> Result<Vec<u8>, KernelTwError> {
    // /proc/self/net follows the process's first thread; thread-self follows this thread,
    // which is the one inside the private namespace.
    let path = "/proc/thread-self/net/tcp";
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    Ok(parse_proc_net_tcp(&text)
        .into_iter()
        .filter(|r| r.0 == local && r.1 == remote)
        .map(|r| r.2)
        .collect())
}

pub(super) fn tcp_state(
    local: SocketAddrV4,
    remote: SocketAddrV4,
) -> Result<Option<u8>, KernelTwError> {
    let states = tcp_states(local, remote)?;
    Ok(if states.contains(&TCP_TIME_WAIT) {
        Some(TCP_TIME_WAIT)
    } else {
        states.first().copied()
    })
}

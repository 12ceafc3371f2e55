//! The socket calls of this check, through the crate's wrappers ([`crate::sys`]), with
//! `std::io::Error` errors.

use crate::sys as k;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};

/// `socket(AF_INET, ty | SOCK_NONBLOCK | SOCK_CLOEXEC, proto)`.
pub fn socket(ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    Ok(k::socket_v4(ty, proto)?)
}

pub fn set_int(
    fd: &OwnedFd,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    Ok(k::set_int(fd.as_raw_fd(), level, opt, v)?)
}

pub fn bind(fd: &OwnedFd, a: SocketAddrV4) -> io::Result<()> {
    Ok(k::bind(fd.as_raw_fd(), SocketAddr::V4(a))?)
}

pub fn listen(fd: &OwnedFd, backlog: libc::c_int) -> io::Result<()> {
    Ok(k::listen(fd.as_raw_fd(), backlog)?)
}

pub fn connect(fd: &OwnedFd, a: SocketAddrV4) -> io::Result<()> {
    Ok(k::connect(fd.as_raw_fd(), SocketAddr::V4(a))?)
}

/// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`.
pub fn accept(fd: &OwnedFd) -> io::Result<OwnedFd> {
    Ok(k::accept(fd.as_raw_fd())?)
}

/// `recv(MSG_DONTWAIT)`.
pub fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    Ok(k::recv(fd.as_raw_fd(), buf)?)
}

/// `sendto(MSG_DONTWAIT)`.
pub fn send_to(fd: &OwnedFd, data: &[u8], to: SocketAddrV4) -> io::Result<usize> {
    Ok(k::send_to(fd.as_raw_fd(), data, SocketAddr::V4(to))?)
}

/// `poll()` on one descriptor: `true` if any of `events` (or an error/hang-up) is pending.
pub fn poll(fd: &OwnedFd, events: libc::c_short, timeout_ms: libc::c_int) -> io::Result<bool> {
    Ok(k::poll(fd.as_raw_fd(), events, timeout_ms)?)
}

/// `getsockopt(SO_ERROR)`: the pending error of a socket, 0 if none.
pub fn so_error(fd: &OwnedFd) -> io::Result<libc::c_int> {
    Ok(k::so_error(fd.as_raw_fd())?)
}

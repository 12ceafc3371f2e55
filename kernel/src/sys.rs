//! Thin, safe wrappers of the socket calls both kernel backends make ([`crate::replay`] and
//! [`crate::time_wait`]); each returns the raw errno ([`Sys`]) on failure. Every `unsafe`
//! block of the crate outside its tests is here: one system call each, with its `SAFETY`
//! argument.

use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use twsim_model::Family;

/// An OS error number from a socket call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sys(pub(crate) i32);

impl From<Sys> for std::io::Error {
    fn from(e: Sys) -> Self {
        std::io::Error::from_raw_os_error(e.0)
    }
}

impl Sys {
    /// The error's text, as `strerror` gives it.
    pub(crate) fn describe(self) -> String {
        std::io::Error::from_raw_os_error(self.0).to_string()
    }
}

fn last() -> Sys {
    Sys(std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO))
}

fn check(r: libc::c_int) -> Result<libc::c_int, Sys> {
    if r < 0 {
        Err(last())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_int) -> Result<OwnedFd, Sys> {
    let fd = check(fd)?;
    // SAFETY: `fd` was just returned by the kernel as a new descriptor that nothing else
    // owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `a` in kernel form with its length: a `sockaddr_in` for an IPv4 address, a
/// `sockaddr_in6` for an IPv6 one (v4-mapped included), whatever the socket's family.
fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match a {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for any sockaddr.
            let sa = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = a.port().to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for any sockaddr.
            let sa = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = a.port().to_be();
            sa.sin6_addr.s6_addr = a.ip().octets();
            sa.sin6_flowinfo = a.flowinfo();
            sa.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// The address in `ss` as the kernel filled it in (`0.0.0.0:0` for an unknown family).
fn from_sockaddr(ss: &libc::sockaddr_storage) -> SocketAddr {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 (ss_family says so) into storage
            // large enough and aligned for it.
            let sa =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sa.sin6_addr.s6_addr),
                u16::from_be(sa.sin6_port),
                sa.sin6_flowinfo,
                sa.sin6_scope_id,
            ))
        }
        _ => {
            // SAFETY: a sockaddr_in (or zeroes) in storage large enough and aligned for it.
            let sa = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sa.sin_port),
            ))
        }
    }
}

/// `socket(AF_INET, ty | SOCK_NONBLOCK | SOCK_CLOEXEC, proto)` (raw sockets included).
pub(crate) fn socket_v4(ty: libc::c_int, proto: libc::c_int) -> Result<OwnedFd, Sys> {
    // SAFETY: no pointers are passed.
    owned(unsafe {
        libc::socket(
            libc::AF_INET,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto,
        )
    })
}

/// `sendto(MSG_DONTWAIT)`.
pub(crate) fn send_to(fd: RawFd, data: &[u8], to: SocketAddr) -> Result<usize, Sys> {
    let (sa, len) = sockaddr(to);
    // SAFETY: `data` is a live slice of the length passed; `sa` is live and holds a
    // sockaddr of `len` bytes.
    sized(unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_DONTWAIT,
            (&sa as *const libc::sockaddr_storage).cast(),
            len,
        )
    })
}

/// `socket(AF_INET or AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)`.
pub(crate) fn tcp_socket(family: Family) -> Result<OwnedFd, Sys> {
    let domain = match family {
        Family::Inet => libc::AF_INET,
        Family::Inet6 => libc::AF_INET6,
    };
    // SAFETY: no pointers are passed.
    owned(unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })
}

pub(crate) fn set_int(fd: RawFd, level: libc::c_int, opt: libc::c_int, v: i32) -> Result<(), Sys> {
    let v: libc::c_int = v;
    // SAFETY: `v` is a live c_int and the length passed is its size.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `SO_LINGER`: `None` = off, `Some(secs)` = on with that linger time.
pub(crate) fn set_linger(fd: RawFd, v: Option<u32>) -> Result<(), Sys> {
    let l = libc::linger {
        l_onoff: libc::c_int::from(v.is_some()),
        l_linger: libc::c_int::try_from(v.unwrap_or(0)).unwrap_or(libc::c_int::MAX),
    };
    // SAFETY: `l` is a live struct linger and the length passed is its size.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}

pub(crate) fn bind(fd: RawFd, a: SocketAddr) -> Result<(), Sys> {
    let (sa, len) = sockaddr(a);
    // SAFETY: `sa` is live and holds a sockaddr of `len` bytes.
    check(unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_storage).cast(), len) }).map(drop)
}

pub(crate) fn listen(fd: RawFd, backlog: libc::c_int) -> Result<(), Sys> {
    // SAFETY: no pointers are passed.
    check(unsafe { libc::listen(fd, backlog) }).map(drop)
}

pub(crate) fn connect(fd: RawFd, a: SocketAddr) -> Result<(), Sys> {
    let (sa, len) = sockaddr(a);
    // SAFETY: `sa` is live and holds a sockaddr of `len` bytes.
    check(unsafe { libc::connect(fd, (&sa as *const libc::sockaddr_storage).cast(), len) })
        .map(drop)
}

/// `connect(AF_UNSPEC)`: abandons a connection attempt (`tcp_disconnect`).
pub(crate) fn disconnect(fd: RawFd) -> Result<(), Sys> {
    // SAFETY: sockaddr is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr = unsafe { zeroed() };
    sa.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    // SAFETY: `sa` is a live sockaddr and the length passed is its size.
    check(unsafe { libc::connect(fd, &sa, size_of::<libc::sockaddr>() as libc::socklen_t) })
        .map(drop)
}

fn name_of(
    fd: RawFd,
    f: unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int,
) -> Result<SocketAddr, Sys> {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `ss` and `len` are live, and `len` holds the size of `ss`.
    check(unsafe {
        f(
            fd,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    Ok(from_sockaddr(&ss))
}

/// `getsockname()`; the family's wildcard with port 0 for an unbound socket.
pub(crate) fn local_addr(fd: RawFd) -> Result<SocketAddr, Sys> {
    name_of(fd, libc::getsockname)
}

/// `getpeername()`.
pub(crate) fn peer_addr(fd: RawFd) -> Result<SocketAddr, Sys> {
    name_of(fd, libc::getpeername)
}

/// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`.
pub(crate) fn accept(fd: RawFd) -> Result<OwnedFd, Sys> {
    // SAFETY: null address pointers are allowed and mean "do not report the peer".
    owned(unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })
}

fn sized(r: isize) -> Result<usize, Sys> {
    usize::try_from(r).map_err(|_| last())
}

/// `send(MSG_NOSIGNAL | MSG_DONTWAIT)`.
pub(crate) fn send(fd: RawFd, data: &[u8]) -> Result<usize, Sys> {
    // SAFETY: `data` is a live slice of the length passed.
    sized(unsafe {
        libc::send(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    })
}

/// `recv(MSG_DONTWAIT)`; `Ok(0)` is the end of the stream.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> Result<usize, Sys> {
    // SAFETY: `buf` is a live, writable slice of the length passed.
    sized(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) })
}

pub(crate) fn shutdown(fd: RawFd, how: libc::c_int) -> Result<(), Sys> {
    // SAFETY: no pointers are passed.
    check(unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// `poll()` on one descriptor: `true` if any of `events` (or an error/hang-up) is pending.
pub(crate) fn poll(fd: RawFd, events: libc::c_short, timeout_ms: libc::c_int) -> Result<bool, Sys> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: `p` is one live pollfd and the count passed is 1.
    let r = check(unsafe { libc::poll(&mut p, 1, timeout_ms) })?;
    Ok(r > 0 && p.revents != 0)
}

/// `getsockopt(SO_ERROR)`: the pending error of a socket, 0 if none.
pub(crate) fn so_error(fd: RawFd) -> Result<libc::c_int, Sys> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are live, and `len` holds the size of `v`.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// `getsockopt(TCP_INFO).tcpi_state` (`include/net/tcp_states.h` numbering).
pub(crate) fn tcp_state(fd: RawFd) -> Result<u8, Sys> {
    // SAFETY: tcp_info is plain old data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` are live, and `len` holds the size of `info`; the kernel
    // writes at most `len` bytes.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    })?;
    Ok(info.tcpi_state)
}

/// `unshare(CLONE_NEWNET)` for the calling thread.
pub(crate) fn unshare_net() -> Result<(), Sys> {
    // SAFETY: no pointers are passed; only this thread's namespace changes.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) }).map(drop)
}

/// Sets `IFF_UP` on `lo` (`SIOCGIFFLAGS`, then `SIOCSIFFLAGS`); the kernel then adds
/// 127.0.0.1/8 and the local route for 127.0.0.0/8 (`inetdev_event`).
pub(crate) fn loopback_up() -> Result<(), Sys> {
    // SAFETY: no pointers are passed.
    let s =
        owned(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    let fd = s.as_raw_fd();
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { zeroed() };
    for (d, c) in req.ifr_name.iter_mut().zip(b"lo") {
        *d = *c as libc::c_char;
    }
    // SAFETY: `req` is a live ifreq with a NUL-terminated name, as SIOCGIFFLAGS expects.
    check(unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req as *mut libc::ifreq) })?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: `req` is a live ifreq, as SIOCSIFFLAGS expects.
    check(unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req as *const libc::ifreq) })?;
    Ok(())
}

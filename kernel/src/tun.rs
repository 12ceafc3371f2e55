//! A real Linux host behind a TUN device, for `twsim packetdrill --kernel`: the calling thread
//! enters a private network namespace, where `tun0` holds 192.168.0.1/8 (so the kernel routes
//! the script's 192.0.2.1 through it: the prefix route of `fib_add_ifaddr`); segments the script injects are written to the device and those the
//! kernel sends are read from it, as packetdrill itself does (`netdev.c`, `tun_alloc`). The
//! sockets are real (non-blocking; the runner decides what blocks).
//!
//! Unlike the rest of this crate, this module reads the monotonic clock: a packetdrill script
//! checks when each segment leaves, and the kernel's timers run in real time.

use crate::netns::{enter_namespace, NsError};
use crate::proc_net::parse_proc_net_tcp;
use crate::sys;
use std::collections::BTreeMap;
use std::mem::zeroed;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;
use twsim_model::{Errno, Family};

/// The host's address on `tun0` (packetdrill's default local address).
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);

/// The kernel's errno name for a failed call (EINPROGRESS, EAGAIN and the names twsim knows).
fn errno_name(e: sys::Sys) -> &'static str {
    match e.0 {
        libc::EINPROGRESS => "EINPROGRESS",
        libc::EAGAIN => "EAGAIN",
        libc::EALREADY => "EALREADY",
        code => crate::replay::errno_from_linux(code).map_or("EIO", Errno::name),
    }
}

/// One real host in its own network namespace, reached through `tun0`.
pub struct TunHost {
    tun: OwnedFd,
    start: Instant,
    socks: BTreeMap<String, OwnedFd>,
}

impl TunHost {
    /// Enters a new network namespace on the calling thread (a new one each time: nothing is
    /// shared between scripts) and brings `tun0` up. Errors: no namespace (needs
    /// CAP_SYS_ADMIN) or no TUN device (`/dev/net/tun`).
    pub fn new() -> Result<TunHost, String> {
        enter_namespace().map_err(|e| match e {
            NsError::Unavailable(m) | NsError::Broken(m) => m,
        })?;
        let path = c"/dev/net/tun";
        // SAFETY: a NUL-terminated path and flags; no other pointers.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(format!(
                "cannot open /dev/net/tun: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let tun = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { zeroed() };
        for (d, c) in req.ifr_name.iter_mut().zip(b"tun0") {
            *d = *c as libc::c_char;
        }
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: `req` is a live ifreq, as TUNSETIFF expects.
        if unsafe {
            libc::ioctl(
                tun.as_raw_fd(),
                libc::TUNSETIFF as _,
                &mut req as *mut libc::ifreq,
            )
        } < 0
        {
            return Err(format!(
                "ioctl(TUNSETIFF): {}",
                std::io::Error::last_os_error()
            ));
        }
        configure("tun0", LOCAL).map_err(|e| format!("configuring tun0: {}", e.describe()))?;
        // The real kernel runs in real time: a script checks when its segments leave.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        Ok(TunHost {
            tun,
            start,
            socks: BTreeMap::new(),
        })
    }

    /// Microseconds since the host was created.
    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn fd(&self, name: &str) -> Result<i32, &'static str> {
        self.socks.get(name).map(|s| s.as_raw_fd()).ok_or("EBADF")
    }

    /// `socket(AF_INET, SOCK_STREAM)`, non-blocking.
    pub fn socket(&mut self, name: &str) -> Result<(), &'static str> {
        let s = sys::tcp_socket(Family::Inet).map_err(name_of)?;
        self.socks.insert(name.to_string(), s);
        Ok(())
    }

    /// SO_REUSEADDR (`port` false) or SO_REUSEPORT (`port` true).
    pub fn set_reuse(&mut self, name: &str, port: bool, on: bool) -> Result<(), &'static str> {
        let opt = if port {
            libc::SO_REUSEPORT
        } else {
            libc::SO_REUSEADDR
        };
        sys::set_int(self.fd(name)?, libc::SOL_SOCKET, opt, i32::from(on)).map_err(name_of)
    }

    /// `bind()`.
    pub fn bind(&mut self, name: &str, a: SocketAddrV4) -> Result<(), &'static str> {
        sys::bind(self.fd(name)?, SocketAddr::V4(a)).map_err(name_of)
    }

    /// `listen()`.
    pub fn listen(&mut self, name: &str, backlog: u32) -> Result<(), &'static str> {
        sys::listen(self.fd(name)?, backlog as i32).map_err(name_of)
    }

    /// `accept()` into `child`; `Ok(false)` when no connection is ready.
    pub fn accept(&mut self, name: &str, child: &str) -> Result<bool, &'static str> {
        match sys::accept(self.fd(name)?) {
            Ok(s) => {
                self.socks.insert(child.to_string(), s);
                Ok(true)
            }
            Err(e) if e.0 == libc::EAGAIN => Ok(false),
            Err(e) => Err(errno_name(e)),
        }
    }

    /// `connect()`, non-blocking: `Ok` once the SYN is on its way.
    pub fn connect(&mut self, name: &str, a: SocketAddrV4) -> Result<(), &'static str> {
        match sys::connect(self.fd(name)?, SocketAddr::V4(a)) {
            Ok(()) => Ok(()),
            Err(e) if e.0 == libc::EINPROGRESS => Ok(()),
            Err(e) => Err(errno_name(e)),
        }
    }

    /// The result of a connect in progress: `None` while it is.
    pub fn connect_result(&mut self, name: &str) -> Option<Result<(), &'static str>> {
        let fd = self.fd(name).ok()?;
        if !sys::poll(fd, libc::POLLOUT, 0).ok()? {
            return None;
        }
        match sys::so_error(fd) {
            Ok(0) => Some(Ok(())),
            Ok(code) => Some(Err(errno_name(sys::Sys(code)))),
            Err(e) => Some(Err(errno_name(e))),
        }
    }

    /// `send()` of `n` zero bytes.
    pub fn send(&mut self, name: &str, n: usize) -> Result<usize, &'static str> {
        sys::send(self.fd(name)?, &vec![0u8; n]).map_err(name_of)
    }

    /// `recv()` of up to `n` bytes: `Ok(None)` when nothing is there.
    pub fn recv(&mut self, name: &str, n: u32) -> Result<Option<usize>, &'static str> {
        let mut buf = vec![0u8; n as usize];
        match sys::recv(self.fd(name)?, &mut buf) {
            Ok(k) => Ok(Some(k)),
            Err(e) if e.0 == libc::EAGAIN => Ok(None),
            Err(e) => Err(errno_name(e)),
        }
    }

    /// `shutdown()`: `write` → SHUT_WR, else SHUT_RD.
    pub fn shutdown(&mut self, name: &str, write: bool) -> Result<(), &'static str> {
        let how = if write { libc::SHUT_WR } else { libc::SHUT_RD };
        sys::shutdown(self.fd(name)?, how).map_err(name_of)
    }

    /// `close()`.
    pub fn close(&mut self, name: &str) -> Result<(), &'static str> {
        self.socks.remove(name).map(drop).ok_or("EBADF")
    }

    /// Whether `name`'s connection is in TCP_CLOSE (an open descriptor whose connection ended).
    pub fn is_closed(&self, name: &str) -> bool {
        self.socks
            .get(name)
            .and_then(|s| sys::tcp_state(s.as_raw_fd()).ok())
            .is_some_and(|st| st == 7 /* TCP_CLOSE, include/net/tcp_states.h */)
    }

    /// TIME-WAIT sockets of the namespace (`/proc/thread-self/net/tcp`, state 06).
    pub fn time_wait_count(&self) -> usize {
        std::fs::read_to_string("/proc/thread-self/net/tcp")
            .map(|t| parse_proc_net_tcp(&t).iter().filter(|r| r.2 == 6).count())
            .unwrap_or(0)
    }

    /// Writes a sysctl of the namespace (`/proc/sys/net/…`, per namespace), e.g.
    /// `net.ipv4.tcp_rfc1337`.
    pub fn sysctl(&mut self, key: &str, value: &str) -> Result<(), String> {
        if !key.starts_with("net.ipv4.") {
            return Err(format!("{key} is not a Linux per-namespace sysctl"));
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value).map_err(|e| format!("{path}: {e}"))
    }

    /// Writes one IPv4 packet to `tun0`, as if it arrived from the network.
    pub fn inject(&mut self, packet: &[u8]) -> Result<(), String> {
        // SAFETY: `packet` is a live slice of the length passed.
        let n = unsafe { libc::write(self.tun.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
        if n as usize != packet.len() {
            return Err(format!(
                "write to tun0: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Packets the kernel sends through `tun0` until `until_us`, with their times (µs); with
    /// `first_only`, returns as soon as one arrives.
    pub fn read_until(&mut self, until_us: u64, first_only: bool) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let mut buf = vec![0u8; 65_536];
            // SAFETY: `buf` is a live buffer of the length passed.
            let n = unsafe { libc::read(self.tun.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                buf.truncate(n as usize);
                // Only IPv4 TCP: the kernel also sends router solicitations and the like.
                if buf.first().is_some_and(|b| b >> 4 == 4) && buf.get(9) == Some(&6) {
                    out.push((self.now_us(), buf));
                    if first_only {
                        return out;
                    }
                }
                continue;
            }
            let now = self.now_us();
            if now >= until_us {
                return out;
            }
            let wait_ms = ((until_us - now) / 1000).clamp(1, 50) as i32;
            let _ = sys::poll(self.tun.as_raw_fd(), libc::POLLIN, wait_ms);
        }
    }
}

fn name_of(e: sys::Sys) -> &'static str {
    errno_name(e)
}

/// Gives `dev` the address `addr` with netmask 255.0.0.0 (the prefix route 192.0.0.0/8 then
/// reaches the script's 192.0.2.1 through it; a zero netmask would add no route at all,
/// `fib_add_ifaddr` skips a zero prefix) and brings it up.
fn configure(dev: &str, addr: Ipv4Addr) -> Result<(), sys::Sys> {
    let s = sys::socket_v4(libc::SOCK_DGRAM, 0)?;
    let fd = s.as_raw_fd();
    let req_for = |sin: Option<Ipv4Addr>| {
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { zeroed() };
        for (d, c) in req.ifr_name.iter_mut().zip(dev.as_bytes()) {
            *d = *c as libc::c_char;
        }
        if let Some(a) = sin {
            // SAFETY: the union's sockaddr member is plain old data, large enough for a
            // sockaddr_in.
            let sa = unsafe {
                &mut *(&mut req.ifr_ifru.ifru_addr as *mut libc::sockaddr)
                    .cast::<libc::sockaddr_in>()
            };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
        }
        req
    };
    let ioctl = |op: libc::c_ulong, req: &mut libc::ifreq| -> Result<(), sys::Sys> {
        // SAFETY: `req` is a live ifreq, as these SIOC* requests expect.
        if unsafe { libc::ioctl(fd, op as _, req as *mut libc::ifreq) } < 0 {
            Err(sys::Sys(
                std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO),
            ))
        } else {
            Ok(())
        }
    };
    ioctl(libc::SIOCSIFADDR, &mut req_for(Some(addr)))?;
    ioctl(
        libc::SIOCSIFNETMASK,
        &mut req_for(Some(Ipv4Addr::new(255, 0, 0, 0))),
    )?;
    let mut flags = req_for(None);
    ioctl(libc::SIOCGIFFLAGS, &mut flags)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    unsafe { flags.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    ioctl(libc::SIOCSIFFLAGS, &mut flags)
}

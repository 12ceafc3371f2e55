//! One method per socket call of a script, each on the kernel's own call (see the table in the
//! module docs of [`crate::replay`]).

use super::budget::Budget;
use super::errno::{fail, Fail};
use super::runner::{Runner, SockInfo};
use super::KernelError;
use crate::sys::{self, Sys};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use twsim_model::addr::family_mismatch;
use twsim_model::{Duration, Errno, Family};
use twsim_sim::scenario::SockOpt;

impl Runner<'_> {
    /// `socket()`: a new descriptor for `n` in `proc`, and fresh options for the name.
    pub(super) fn socket(
        &mut self,
        host: usize,
        proc: &str,
        n: &str,
        family: Family,
    ) -> Result<String, Fail> {
        let fd = sys::tcp_socket(family)?;
        self.hosts[host]
            .procs
            .entry(proc.to_string())
            .or_default()
            .insert(n.to_string(), fd);
        self.hosts[host].socks.insert(
            n.to_string(),
            SockInfo {
                family,
                ..SockInfo::default()
            },
        );
        Ok(String::new())
    }

    /// `setsockopt()`, remembering the options a scratch socket of `wait until bindable`
    /// copies.
    pub(super) fn setsockopt(
        &mut self,
        host: usize,
        proc: &str,
        n: &str,
        o: SockOpt,
    ) -> Result<String, Fail> {
        let fd = self.fd(host, proc, n)?;
        match o {
            SockOpt::ReuseAddr(v) => {
                sys::set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, v.into())?;
                self.info(host, n).reuseaddr = v;
            }
            SockOpt::ReusePort(v) => {
                sys::set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, v.into())?;
                self.info(host, n).reuseport = v;
            }
            SockOpt::Linger(v) => sys::set_linger(fd, v)?,
            SockOpt::V6Only(v) => {
                sys::set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, v.into())?;
                self.info(host, n).v6only = v;
            }
        }
        Ok(String::new())
    }

    /// `bind()`; EADDRNOTAVAIL (emulated) for an address of the socket's family that is not
    /// the host's own.
    pub(super) fn bind(
        &mut self,
        host: usize,
        proc: &str,
        n: &str,
        a: SocketAddr,
    ) -> Result<String, Fail> {
        let fd = self.fd(host, proc, n)?;
        // An address of the other family goes to the kernel as it is, for its answer.
        if family_mismatch(self.info(host, n).family, a).is_none() {
            self.owns(host, &a)?;
        }
        sys::bind(fd, a)?;
        let local = sys::local_addr(fd)?;
        self.info(host, n).local = Some(local);
        Ok(format!("bound {local}"))
    }

    /// `listen()`; refused outside a private namespace when it would autobind the wildcard.
    pub(super) fn listen(
        &mut self,
        host: usize,
        proc: &str,
        n: &str,
        backlog: u32,
    ) -> Result<String, Fail> {
        let fd = self.fd(host, proc, n)?;
        let before = sys::local_addr(fd)?;
        if !self.in_namespace && before.ip().is_unspecified() && before.port() == 0 {
            return Err(Fail::Fatal(KernelError::Namespace(format!(
                "listen on the unbound socket {n:?} would bind {} outside a private \
                 namespace",
                before.ip()
            ))));
        }
        let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
        sys::listen(fd, backlog)?;
        let local = sys::local_addr(fd)?;
        self.info(host, n).local = Some(local);
        Ok(format!("listening {local}"))
    }

    /// `connect()`, from the host's own address when the socket is unbound, then
    /// `poll(POLLOUT)` and `SO_ERROR`; ETIMEDOUT (attempt abandoned) at the deadline.
    pub(super) fn connect(
        &mut self,
        host: usize,
        proc: &str,
        n: &str,
        to: SocketAddr,
        timeout: Duration,
    ) -> Result<String, Fail> {
        let fd = self.fd(host, proc, n)?;
        let local = sys::local_addr(fd)?;
        let info = self.info(host, n).clone();
        // The host's own source for this destination: its IPv4 address (v4-mapped on an IPv6
        // socket), or ::1 towards IPv6. None where the kernel refuses the connect anyway
        // (address of the other family; v4-mapped destination on an IPV6_V6ONLY socket).
        let own = IpAddr::V4(self.host_addr(host));
        let source = match (info.family, to.ip()) {
            (Family::Inet, IpAddr::V4(_)) => Some(own),
            (Family::Inet6, IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(_) if info.v6only => None,
                Some(_) => Some(IpAddr::V6(self.host_addr(host).to_ipv6_mapped())),
                None => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            },
            _ => None,
        };
        if let (true, 0, Some(src)) = (local.ip().is_unspecified(), local.port(), source) {
            // The host's address as source, the port still chosen by connect()
            // (`IP_BIND_ADDRESS_NO_PORT`, ip(7)): the same port choice as an unbound connect.
            sys::set_int(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
            sys::bind(fd, SocketAddr::new(src, 0))?;
        }
        match sys::connect(fd, to) {
            Ok(()) => {}
            Err(Sys(libc::EINPROGRESS)) => {
                let mut budget = Budget::new(timeout);
                if !budget.poll(fd, libc::POLLOUT)? {
                    // Give the attempt up silently, like the model (`tcp_disconnect` sends no
                    // RST from SYN-SENT).
                    let _ = sys::disconnect(fd);
                    return Err(fail(
                        Errno::ETIMEDOUT,
                        format!("no answer from {to} within {timeout}; attempt abandoned"),
                    ));
                }
                // A second connect() ends the call as a blocking connect would have
                // (`__inet_stream_connect`): SS_CONNECTED after success, so a later connect
                // gets EISCONN; SS_UNCONNECTED after failure (it then answers ECONNABORTED,
                // ignored), so the socket may connect again.
                let err = sys::so_error(fd)?;
                let again = sys::connect(fd, to);
                match (err, again) {
                    (0, Ok(()) | Err(Sys(libc::EISCONN))) => {}
                    (0, Err(e)) => return Err(e.into()),
                    (e, _) => return Err(Sys(e).into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
        let local = sys::local_addr(fd)?;
        let remote = sys::peer_addr(fd)?;
        let info = self.info(host, n);
        info.local = Some(local);
        info.remote = Some(remote);
        Ok(format!("connected {local}<->{remote}"))
    }

    /// `poll(POLLIN)` and `accept4()`; the new socket inherits the listener's options.
    pub(super) fn accept(
        &mut self,
        host: usize,
        proc: &str,
        l: &str,
        new: &str,
        timeout: Duration,
    ) -> Result<String, Fail> {
        let fd = self.fd(host, proc, l)?;
        let mut budget = Budget::new(timeout);
        let conn = loop {
            if !budget.poll(fd, libc::POLLIN)? {
                return Err(fail(
                    Errno::EAGAIN,
                    format!("no connection within {timeout}"),
                ));
            }
            match sys::accept(fd) {
                Ok(c) => break c,
                // Readiness without a connection (it was reset in the queue): poll again.
                Err(Sys(libc::EAGAIN)) => {}
                Err(e) => return Err(e.into()),
            }
        };
        let raw = conn.as_raw_fd();
        let local = sys::local_addr(raw)?;
        let remote = sys::peer_addr(raw)?;
        self.hosts[host]
            .procs
            .entry(proc.to_string())
            .or_default()
            .insert(new.to_string(), conn);
        // The child inherits the listener's options (`inet_csk_clone_lock`).
        let parent = self.info(host, l).clone();
        let info = self.info(host, new);
        *info = SockInfo {
            local: Some(local),
            remote: Some(remote),
            ..parent
        };
        Ok(format!("accepted {local}<->{remote}"))
    }

    /// `send(MSG_NOSIGNAL)` until every byte is sent; EAGAIN (with how much was sent) if the
    /// deadline passes first.
    pub(super) fn send(
        &mut self,
        host: usize,
        proc: &str,
        n: &str,
        data: &[u8],
        timeout: Duration,
    ) -> Result<String, Fail> {
        let fd = self.fd(host, proc, n)?;
        let mut budget = Budget::new(timeout);
        let mut sent = 0;
        loop {
            match sys::send(fd, &data[sent..]) {
                Ok(k) => {
                    sent += k;
                    if sent >= data.len() {
                        break;
                    }
                }
                Err(Sys(libc::EAGAIN)) => {
                    if !budget.poll(fd, libc::POLLOUT)? {
                        return Err(fail(
                            Errno::EAGAIN,
                            format!("sent {sent} of {} bytes before {timeout}", data.len()),
                        ));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(format!("{sent} bytes"))
    }

    /// `poll(POLLIN)` and `recv()` of what is there (at most `max` bytes); 0 bytes is the
    /// end of the stream, reported as success.
    pub(super) fn recv(
        &mut self,
        host: usize,
        proc: &str,
        n: &str,
        max: Option<u32>,
        timeout: Duration,
    ) -> Result<String, Fail> {
        const CHUNK: usize = 64 * 1024;
        let fd = self.fd(host, proc, n)?;
        let mut budget = Budget::new(timeout);
        if !budget.poll(fd, libc::POLLIN)? {
            return Err(fail(Errno::EAGAIN, format!("nothing within {timeout}")));
        }
        let limit = max.map_or(usize::MAX, |m| m as usize);
        let mut got: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let want = (limit - got.len()).min(CHUNK);
            if want == 0 {
                break;
            }
            match sys::recv(fd, &mut buf[..want]) {
                Ok(0) if got.is_empty() => return Ok("end of stream".into()),
                Ok(0) => break,
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(Sys(libc::EAGAIN)) if !got.is_empty() => break,
                Err(Sys(libc::EAGAIN)) => {
                    if !budget.poll(fd, libc::POLLIN)? {
                        return Err(fail(Errno::EAGAIN, format!("nothing within {timeout}")));
                    }
                }
                // Data first; the error is reported by the next recv, as the kernel would.
                Err(_) if !got.is_empty() => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(format!(
            "{} bytes {:?}",
            got.len(),
            String::from_utf8_lossy(&got)
        ))
    }

    /// `shutdown(SHUT_RD / SHUT_WR / SHUT_RDWR)`.
    pub(super) fn shutdown(
        &mut self,
        host: usize,
        proc: &str,
        n: &str,
        rd: bool,
        wr: bool,
    ) -> Result<String, Fail> {
        let fd = self.fd(host, proc, n)?;
        let how = match (rd, wr) {
            (true, true) => libc::SHUT_RDWR,
            (true, false) => libc::SHUT_RD,
            _ => libc::SHUT_WR,
        };
        sys::shutdown(fd, how)?;
        Ok(String::new())
    }

    /// `close()` of this process's descriptor; the detail names the processes that still
    /// hold the socket.
    pub(super) fn close(&mut self, host: usize, proc: &str, n: &str) -> Result<String, Fail> {
        let procs = &mut self.hosts[host].procs;
        let fd = procs.get_mut(proc).and_then(|m| m.remove(n));
        let Some(fd) = fd else {
            return Err(fail(
                Errno::EBADF,
                format!("process {proc:?} holds no {n:?}"),
            ));
        };
        drop(fd);
        let others: Vec<&str> = procs
            .iter()
            .filter(|(_, m)| m.contains_key(n))
            .map(|(p, _)| p.as_str())
            .collect();
        Ok(if others.is_empty() {
            "closed (last handle)".into()
        } else {
            format!("handle closed; still open in {}", others.join(", "))
        })
    }

    /// `fork`: `dup()` of every descriptor of the process into the child.
    pub(super) fn fork(&mut self, host: usize, proc: &str, child: &str) -> Result<String, Fail> {
        let procs = &mut self.hosts[host].procs;
        let mut copies = BTreeMap::new();
        for (name, fd) in procs.get(proc).into_iter().flatten() {
            let dup = fd
                .try_clone()
                .map_err(|e| Sys(e.raw_os_error().unwrap_or(libc::EIO)))?;
            copies.insert(name.clone(), dup);
        }
        let k = copies.len();
        procs.insert(child.to_string(), copies);
        Ok(format!("duplicated {k} handles into {child:?}"))
    }

    /// `exit`: `close()` of every descriptor of the process.
    pub(super) fn exit(&mut self, host: usize, proc: &str) -> Result<String, Fail> {
        let closed = self.hosts[host].procs.remove(proc).unwrap_or_default();
        let k = closed.len();
        drop(closed);
        Ok(format!("closed {k} handles"))
    }
}

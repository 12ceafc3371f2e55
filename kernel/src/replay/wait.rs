//! The `wait` steps: `wait for` (a capped real sleep), `wait until state` (the kernel's view of
//! a socket: `TCP_INFO` of a held descriptor, or its row in `/proc/net/tcp`) and `wait until
//! bindable` (a scratch socket with the named socket's options, bound every slice).

use super::budget::{sleep, Budget};
use super::errno::{fail, Fail};
use super::runner::Runner;
use super::{KernelError, MAX_WAIT};
use crate::proc_net::{
    linux_state, parse_proc_net_tcp, parse_proc_net_tcp6, same_endpoint, TCP_TIME_WAIT,
};
use crate::sys::{self, Sys};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use twsim_model::addr::family_mismatch;
use twsim_model::{Duration, Errno, Family, TcpState};

impl Runner<'_> {
    /// `wait for`: sleeps at most [`MAX_WAIT`]; the script clock moves on by the whole wait.
    pub(super) fn wait_time(&mut self, d: Duration) -> String {
        let slept = d.min(MAX_WAIT);
        sleep(slept);
        self.script_time = self.script_time + d;
        if slept < d {
            format!("waited {slept} of {d} (kernel replay caps a wait at {MAX_WAIT})")
        } else {
            format!("waited {d}")
        }
    }

    /// `wait until state`: the socket's state ([`Runner::observe`]) every slice until it is
    /// `want`; ETIMEDOUT at the deadline.
    pub(super) fn wait_state(
        &mut self,
        host: usize,
        proc: &str,
        n: &str,
        want: TcpState,
        timeout: Duration,
    ) -> Result<String, Fail> {
        let mut budget = Budget::new(timeout);
        loop {
            let now = self.observe(host, proc, n)?;
            if now == want {
                return Ok(format!("{now} after ~{} ms", budget.spent_ms()));
            }
            if !budget.sleep_slice() {
                return Err(fail(
                    Errno::ETIMEDOUT,
                    format!("still {now} after {timeout}"),
                ));
            }
        }
    }

    /// `wait until bindable`: `bind()` of a scratch socket with the named socket's family,
    /// `SO_REUSEADDR`/`SO_REUSEPORT` and `IPV6_V6ONLY`, every slice; an error other than
    /// EADDRINUSE ends the wait, ETIMEDOUT at the deadline.
    pub(super) fn wait_bindable(
        &mut self,
        host: usize,
        n: &str,
        a: SocketAddr,
        timeout: Duration,
    ) -> Result<String, Fail> {
        let opts = self.hosts[host].socks.get(n).cloned().unwrap_or_default();
        if family_mismatch(opts.family, a).is_none() {
            self.owns(host, &a)?;
        }
        let mut budget = Budget::new(timeout);
        loop {
            let scratch = sys::tcp_socket(opts.family)?;
            let fd = scratch.as_raw_fd();
            if opts.family == Family::Inet6 {
                sys::set_int(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    opts.v6only.into(),
                )?;
            }
            sys::set_int(
                fd,
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                opts.reuseaddr.into(),
            )?;
            sys::set_int(
                fd,
                libc::SOL_SOCKET,
                libc::SO_REUSEPORT,
                opts.reuseport.into(),
            )?;
            match sys::bind(fd, a) {
                Ok(()) => return Ok(format!("{a} bindable after ~{} ms", budget.spent_ms())),
                Err(Sys(libc::EADDRINUSE)) => {}
                Err(e) => return Err(e.into()),
            }
            drop(scratch);
            if !budget.sleep_slice() {
                return Err(fail(
                    Errno::ETIMEDOUT,
                    format!("{a} still in use after {timeout}"),
                ));
            }
        }
    }

    /// The RFC 9293 state of socket `name`, as the kernel shows it.
    ///
    /// A TIME-WAIT or orphaned socket has no descriptor, so the 4-tuple's row in
    /// `/proc/thread-self/net/tcp` (`tcp4_seq_show`; TIME-WAIT rows come from
    /// `get_timewait4_sock`) is consulted first for TIME-WAIT, then the held descriptor's
    /// `TCP_INFO` (`tcp_get_info`), then the row; no descriptor and no row is CLOSED.
    pub(super) fn observe(&self, host: usize, proc: &str, name: &str) -> Result<TcpState, Fail> {
        let info = self.hosts[host]
            .socks
            .get(name)
            .cloned()
            .unwrap_or_default();
        let row = match info.local {
            Some(local) => {
                let any = match local {
                    SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                let remote = info.remote.unwrap_or(SocketAddr::new(any, 0));
                proc_net_tcp_state(local, remote)?
            }
            None => None,
        };
        let held = match self.any_fd(host, proc, name) {
            Some(fd) => Some(sys::tcp_state(fd)?),
            None => None,
        };
        Ok(match (held, row) {
            (_, Some(TCP_TIME_WAIT)) => TcpState::TimeWait,
            (Some(k), _) => linux_state(k),
            (None, Some(r)) => linux_state(r),
            (None, None) => TcpState::Closed,
        })
    }
}

/// The state column of the row for `local`/`remote` in this thread's `/proc/net/tcp` (IPv4
/// addresses: AF_INET sockets) or `/proc/net/tcp6` (IPv6 addresses, v4-mapped included:
/// AF_INET6 sockets, as `getsockname` shows them).
fn proc_net_tcp_state(local: SocketAddr, remote: SocketAddr) -> Result<Option<u8>, Fail> {
    // /proc/self/net follows the process's first thread; thread-self follows this thread,
    // which is the one inside the private namespace.
    let path = match local {
        SocketAddr::V4(_) => "/proc/thread-self/net/tcp",
        SocketAddr::V6(_) => "/proc/thread-self/net/tcp6",
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::Fatal(KernelError::Io(format!("cannot read {path}: {e}"))))?;
    let rows: Vec<(SocketAddr, SocketAddr, u8)> = match local {
        SocketAddr::V4(_) => parse_proc_net_tcp(&text)
            .into_iter()
            .map(|(l, r, st)| (SocketAddr::V4(l), SocketAddr::V4(r), st))
            .collect(),
        SocketAddr::V6(_) => parse_proc_net_tcp6(&text),
    };
    Ok(rows
        .into_iter()
        .find(|r| same_endpoint(r.0, local) && same_endpoint(r.1, remote))
        .map(|r| r.2))
}

//! Kernel replay (`twsim replay --kernel`): a scenario's socket calls on this machine's real
//! Linux sockets, to check the `linux` profile against the kernel that runs it.
//!
//! Read first: `scenario-format.md` "Kernel replay", `bind-rules.md` (Linux section),
//! socket(7), tcp(7), ip(7) (`IP_BIND_ADDRESS_NO_PORT`), unshare(2), network_namespaces(7).
//!
//! # Safety rails
//! - Loopback only, ever: [`check_loopback`] refuses a host address outside 127.0.0.0/8 and
//!   any bind/connect/wait address that is not loopback (127.0.0.0/8, `::1`, or v4-mapped
//!   `::ffff:127.x.y.z`) or, for bind and `wait until bindable`, a wildcard (`0.0.0.0`, `[::]`,
//!   `[::ffff:0.0.0.0]`), before a socket exists. (`0.0.0.0` is also accepted as a connect
//!   destination, as it always was: Linux sends that to 127.0.0.1.)
//! - Each [`replay`] runs on a thread of its own that first calls `unshare(CLONE_NEWNET)`
//!   (`kernel/nsproxy.c:ksys_unshare`), so it gets a fresh private network namespace whose only
//!   interface is `lo`, brought up with `ioctl(SIOCSIFFLAGS)` (`net/core/dev_ioctl.c`;
//!   `crate::netns`). The namespace affects that thread only; it dies with the thread, and the
//!   kernel purges its TIME-WAIT sockets (`inet_twsk_purge`), so one script never sees
//!   another's leftovers.
//! - Without a namespace (no `CAP_SYS_ADMIN`), the replay runs in the current namespace only
//!   if the script never binds a wildcard address (an explicit `0.0.0.0` or `[::]` bind or
//!   wait, or a `listen` on a socket no step binds, which autobinds the wildcard in
//!   `inet_autobind`); otherwise it is refused with [`KernelError::Namespace`]. Unprivileged
//!   user namespaces are not tried: `unshare(CLONE_NEWUSER)` requires a single-threaded caller.
//! - IPv6: bringing `lo` up in the namespace gives it `::1` (`addrconf_notify` on
//!   `NETDEV_UP`). A script with an `inet6` socket first checks that an AF_INET6 socket can
//!   bind `[::1]:0`; if IPv6 is disabled or absent the replay stops with
//!   [`KernelError::Namespace`] instead of reporting errors the model would never predict.
//!
//! # How a step maps to the kernel
//! Every socket is `socket(AF_INET or AF_INET6, SOCK_STREAM | SOCK_NONBLOCK)` by the step's
//! `family`; blocking calls are built from `poll(2)` with the step's `timeout` (default
//! [`DEFAULT_TIMEOUT`]). An address is passed as the script spells it: `a.b.c.d:port` as a
//! `sockaddr_in`, `[v6]:port` as a `sockaddr_in6`, whatever the socket's family, so a
//! mismatch gets the kernel's own answer (EAFNOSUPPORT on AF_INET, EINVAL on AF_INET6).
//!
//! | call | kernel |
//! | --- | --- |
//! | `setsockopt` | `SO_REUSEADDR`, `SO_REUSEPORT`, `SO_LINGER {on, secs}`, `IPV6_V6ONLY` (`IPPROTO_IPV6`) |
//! | `bind` | `bind()` (`inet_bind` / `inet6_bind` → `inet_csk_get_port`) |
//! | `listen` | `listen(backlog)` (`inet_csk_listen_start`); unbound: the kernel autobinds the family's wildcard |
//! | `connect` | unbound socket: `IP_BIND_ADDRESS_NO_PORT` + `bind(source:0)`, so the host's address is the source and the port is still picked at connect time (`__inet_hash_connect`); the source is the host's address, `[::ffff:host]` towards a v4-mapped destination, `[::1]` towards IPv6 (skipped where the kernel refuses the connect anyway: wrong family, IPV6_V6ONLY towards v4-mapped); then `connect()`, `poll(POLLOUT)`, `SO_ERROR` |
//! | `accept` | `poll(POLLIN)`, `accept4()`; nothing before the deadline → EAGAIN |
//! | `send` | `send(MSG_NOSIGNAL)` (EPIPE instead of SIGPIPE) |
//! | `recv` | `poll(POLLIN)`, `recv()`; 0 bytes = end of stream, reported as success |
//! | `shutdown` | `shutdown(SHUT_RD / SHUT_WR / SHUT_RDWR)` |
//! | `close` | `close()` of this process's descriptor |
//! | `fork` | `dup()` of every descriptor of the process into the child (no real fork) |
//! | `exit` | `close()` of every descriptor of the process |
//! | `wait until state` | `getsockopt(TCP_INFO).tcpi_state` of a held descriptor, and the 4-tuple's row in `/proc/thread-self/net/tcp` or `tcp6` (the only view of an orphaned or TIME-WAIT socket) |
//! | `wait until bindable` | `bind()` of a scratch socket with the named socket's family, `SO_REUSEADDR`/`SO_REUSEPORT` and `IPV6_V6ONLY`, every [`POLL_SLICE`]; an error other than EADDRINUSE ends the wait |
//!
//! A script's socket name belongs to the processes that hold it: each process maps names to
//! its own descriptors, and two processes holding one name hold two descriptors of one open
//! file description (what `dup()` and a real `fork()` both give), so the FIN leaves only when
//! the last one closes (`__fput` → `inet_release` → `tcp_close`).
//!
//! # Deliberate departures (what kernel replay does not preserve)
//! - Time: kernel replay preserves the order of steps, not their durations. A gap before a
//!   step (`at`) sleeps at most [`MAX_AT_SLEEP`]; `wait for` sleeps at most [`MAX_WAIT`]; a
//!   blocking call's default deadline is [`DEFAULT_TIMEOUT`] (the `linux` profile's connect
//!   timeout is 127 s). A 60 s TIME-WAIT is never waited out. Like the rest of this crate the
//!   backend reads no clock: deadlines are counted in the poll and sleep slices it asked for.
//! - After every `close`, `exit` and `shutdown` the replay sleeps [`SETTLE`] so the loopback
//!   FIN exchange finishes before the next step.
//! - One kernel plays every host: all hosts share one port space, a wildcard bind on one host
//!   overlaps every other host's address, and a socket bound to `0.0.0.0:P` that connects gets
//!   the kernel's source address for the destination (127.0.0.1), not its host's address.
//! - Host addresses: the kernel accepts a bind to any 127.0.0.0/8 address; the replay answers
//!   EADDRNOTAVAIL itself when a host binds (or waits to bind) an address of the socket's
//!   family that is not its own ([`twsim_model::addr::host_owns`]: its address, `::1`, its
//!   v4-mapped address, a wildcard), as the `linux` profile does for an address the host does
//!   not own. The step's detail says the answer is emulated. `::1` is every host's.
//! - A connect that does not complete before its deadline is abandoned with
//!   `connect(AF_UNSPEC)` (`tcp_disconnect`: no RST from SYN-SENT) and reports ETIMEDOUT.
//! - Errors: the kernel's errno is mapped by its Linux number ([`errno_from_linux`]);
//!   EWOULDBLOCK is EAGAIN; EINPROGRESS never surfaces (connect waits). An errno that has no
//!   [`Errno`](twsim_model::Errno) name stops the replay with [`KernelError::Io`] naming the
//!   step, rather than being disguised as another errno that a script could then "expect".
//!
//! # Code map
//! - this module: the entry point [`replay`], the loopback and namespace checks before any
//!   socket exists, the per-namespace ephemeral port range;
//! - `runner`: the replay in progress (descriptors per process, what is known of each socket
//!   name) and the dispatch of one step to its call;
//! - `calls`: one method per socket call (`socket` … `exit`);
//! - `wait`: `wait for`, `wait until state` (`TCP_INFO` and `/proc/net/tcp`) and `wait until
//!   bindable`;
//! - `budget`: deadlines counted in poll and sleep slices, and the real sleeps;
//! - `errno`: the kernel's errno numbers as twsim [`Errno`](twsim_model::Errno) names, and
//!   how a step fails.

mod budget;
mod calls;
mod errno;
mod runner;
#[cfg(test)]
mod tests;
mod wait;

pub use errno::errno_from_linux;

use crate::netns::{enter_namespace, NsError};
use crate::sys::{self, Sys};
use runner::Runner;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use twsim_model::addr::{is_wildcard, unmapped};
use twsim_model::{Duration, Family};
use twsim_sim::replay::ReplayStep;
use twsim_sim::scenario::{Call, Resolved, WaitFor};

/// Default deadline of `connect`, `accept`, `recv`, `send` and `wait until` in kernel replay.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest real sleep of one `wait for` step; longer waits are cut to this.
pub const MAX_WAIT: Duration = Duration::from_secs(2);
/// Longest real sleep for the gap before a step (`at`): kernel replay keeps order, not time.
pub const MAX_AT_SLEEP: Duration = Duration::from_millis(50);
/// Real sleep after `close`, `exit` and `shutdown`, for the loopback FIN exchange.
pub const SETTLE: Duration = Duration::from_millis(20);
/// Granularity of polling loops (`poll`, `wait until state`, `wait until bindable`).
pub const POLL_SLICE: Duration = Duration::from_millis(10);

/// Why a kernel replay could not run (exit status 2 in the CLI).
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A host or step address outside loopback; nothing was run.
    #[error(
        "{host}: {addr} is not a loopback address; kernel replay only uses 127.0.0.0/8, ::1 \
         and ::ffff:127.0.0.0/104 (and 0.0.0.0, [::] as bind addresses)"
    )]
    NotLoopback {
        /// The host name, or the step (`steps[3] on host "server"`) that names the address.
        host: String,
        /// The refused address.
        addr: IpAddr,
    },
    /// No private network namespace, and the run needs one (it was required, or the script
    /// binds the wildcard address), or the namespace could not be set up.
    #[error("network namespace: {0}")]
    Namespace(String),
    /// A system call failed in a way no script result can express (an errno without a twsim
    /// name, `/proc` unreadable, the replay thread could not start).
    #[error("kernel replay: {0}")]
    Io(String),
}

/// Checks that every host address is loopback (127.0.0.0/8) and every bind, connect and
/// `wait until bindable` address of the steps is loopback (`127.0.0.0/8`, `::1`,
/// `::ffff:127.0.0.0/104`), a wildcard for bind and wait (`0.0.0.0`, `[::]`,
/// `[::ffff:0.0.0.0]`), or `0.0.0.0` for connect. [`replay`] calls it before any socket
/// exists.
pub fn check_loopback(sc: &Resolved) -> Result<(), KernelError> {
    for h in &sc.hosts {
        if !h.addr.is_loopback() {
            return Err(KernelError::NotLoopback {
                host: h.name.clone(),
                addr: IpAddr::V4(h.addr),
            });
        }
    }
    for s in &sc.steps {
        let (a, binds) = match &s.call {
            Call::Bind(_, a) | Call::Wait(WaitFor::Bindable(_, a)) => (a, true),
            Call::Connect(_, a) => (a, false),
            _ => continue,
        };
        let ok = match a.ip() {
            IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified(),
            v6 => unmapped(v6).is_loopback() || (binds && is_wildcard(v6)),
        };
        if !ok {
            let host = sc.hosts.get(s.host).map_or("?", |h| h.name.as_str());
            return Err(KernelError::NotLoopback {
                host: format!("steps[{}] on host {host:?}", s.index),
                addr: a.ip(),
            });
        }
    }
    Ok(())
}

/// Runs the scenario's steps on real sockets and returns one [`ReplayStep`] per step, and
/// whether the run had a private network namespace of its own.
///
/// The replay runs on a dedicated thread that first calls `unshare(CLONE_NEWNET)` and brings
/// `lo` up; the caller's threads keep their namespace. Without a namespace (`EPERM`: no
/// `CAP_SYS_ADMIN`), `require_namespace` makes that an error; otherwise the run continues in
/// the current namespace unless the script binds the wildcard address (see the module docs).
/// Every descriptor is closed before the thread ends, and the namespace with it.
pub fn replay(
    sc: &Resolved,
    require_namespace: bool,
) -> Result<(Vec<ReplayStep>, bool), KernelError> {
    check_loopback(sc)?;
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("twsim-kernel-replay".into())
            .spawn_scoped(scope, || replay_on_this_thread(sc, require_namespace))
            .map_err(|e| KernelError::Io(format!("cannot start the replay thread: {e}")))?
            .join()
            .map_err(|_| KernelError::Io("the replay thread panicked".into()))?
    })
}

fn replay_on_this_thread(
    sc: &Resolved,
    require_namespace: bool,
) -> Result<(Vec<ReplayStep>, bool), KernelError> {
    let in_namespace = match enter_namespace() {
        Ok(()) => true,
        Err(NsError::Broken(why)) => return Err(KernelError::Namespace(why)),
        Err(NsError::Unavailable(why)) if require_namespace => {
            return Err(KernelError::Namespace(why))
        }
        Err(NsError::Unavailable(why)) => {
            if let Some(what) = wildcard_use(sc) {
                return Err(KernelError::Namespace(format!(
                    "{why}; {what}, and wildcard binds are refused outside a private namespace \
                     (run as root, or bind the host's own address)"
                )));
            }
            false
        }
    };
    if sc.uses_ipv6().is_some() {
        ipv6_available()?;
    }
    set_port_range(sc, in_namespace)?;
    let mut run = Runner::new(sc, in_namespace);
    let mut out = Vec::with_capacity(sc.steps.len());
    for step in &sc.steps {
        out.push(run.step(step)?);
    }
    // `run` drops here: every descriptor closes before the thread (and its namespace) ends.
    Ok((out, in_namespace))
}

/// Applies the scenario's ephemeral port range to the namespace
/// (`net.ipv4.ip_local_port_range` is per network namespace). One kernel plays every host, so
/// every host must ask for the same range; outside a private namespace the range is refused
/// rather than changed for the whole machine.
fn set_port_range(sc: &Resolved, in_namespace: bool) -> Result<(), KernelError> {
    let ranges: std::collections::BTreeSet<(u16, u16)> = sc
        .hosts
        .iter()
        .filter_map(|h| h.ephemeral)
        .map(|r| (r.first, r.last))
        .collect();
    let Some(&(first, last)) = ranges.iter().next() else {
        return Ok(());
    };
    if ranges.len() > 1 || sc.hosts.iter().any(|h| h.ephemeral.is_none()) {
        return Err(KernelError::Io(
            "kernel replay: every host must use the same ephemeral_ports (one kernel plays them all)".into(),
        ));
    }
    if !in_namespace {
        return Err(KernelError::Namespace(
            "ephemeral_ports needs a private network namespace (it would change the machine's range)".into(),
        ));
    }
    let path = "/proc/sys/net/ipv4/ip_local_port_range";
    std::fs::write(path, format!("{first} {last}\n"))
        .map_err(|e| KernelError::Io(format!("cannot write {path}: {e}")))?;
    let back = std::fs::read_to_string(path)
        .map_err(|e| KernelError::Io(format!("cannot read {path}: {e}")))?;
    let got: Vec<u16> = back
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if got != [first, last] {
        return Err(KernelError::Io(format!(
            "{path} reads {back:?} after writing {first} {last}"
        )));
    }
    Ok(())
}

/// Whether this thread's namespace has working IPv6 loopback: an AF_INET6 socket that binds
/// `[::1]:0`. Without it (IPv6 disabled by `disable_ipv6`, or a kernel without IPv6) every
/// IPv6 step would fail in ways the model does not predict, so the replay stops.
fn ipv6_available() -> Result<(), KernelError> {
    let unavailable = |what: &str, e: Sys| {
        KernelError::Namespace(format!(
            "the script uses IPv6, but {what} failed here: {} (is IPv6 disabled? \
             net.ipv6.conf.lo.disable_ipv6)",
            e.describe()
        ))
    };
    let fd = sys::tcp_socket(Family::Inet6).map_err(|e| unavailable("socket(AF_INET6)", e))?;
    let lo = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0);
    sys::bind(fd.as_raw_fd(), lo).map_err(|e| unavailable("bind([::1]:0)", e))
}

/// The first step that would bind a wildcard address, described; `None` if there is none.
/// A `listen` on a socket that no earlier step binds autobinds the wildcard (`inet_autobind`).
fn wildcard_use(sc: &Resolved) -> Option<String> {
    let mut bound: BTreeSet<(usize, &str)> = BTreeSet::new();
    for s in &sc.steps {
        match &s.call {
            Call::Bind(n, a) => {
                if is_wildcard(a.ip()) {
                    return Some(format!("steps[{}] binds the wildcard address {a}", s.index));
                }
                bound.insert((s.host, n.as_str()));
            }
            Call::Wait(WaitFor::Bindable(_, a)) if is_wildcard(a.ip()) => {
                return Some(format!(
                    "steps[{}] waits to bind the wildcard address {a}",
                    s.index
                ));
            }
            Call::Listen(n, _) if !bound.contains(&(s.host, n.as_str())) => {
                return Some(format!(
                    "steps[{}] listens on {n:?} without a bind, which binds the wildcard \
                     address",
                    s.index
                ));
            }
            _ => {}
        }
    }
    None
}

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
//!   interface is `lo`, brought up with `ioctl(SIOCSIFFLAGS)` (`net/core/dev_ioctl.c`). The
//!   namespace affects that thread only; it dies with the thread, and the kernel purges its
//!   TIME-WAIT sockets (`inet_twsk_purge`), so one script never sees another's leftovers.
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
//!   family that is not its own ([`twsim_sim::replay::host_owns`]: its address, `::1`, its
//!   v4-mapped address, a wildcard), as the `linux` profile does for an address the host does
//!   not own. The step's detail says the answer is emulated. `::1` is every host's.
//! - A connect that does not complete before its deadline is abandoned with
//!   `connect(AF_UNSPEC)` (`tcp_disconnect`: no RST from SYN-SENT) and reports ETIMEDOUT.
//! - Errors: the kernel's errno is mapped by its Linux number ([`errno_from_linux`]);
//!   EWOULDBLOCK is EAGAIN; EINPROGRESS never surfaces (connect waits). An errno that has no
//!   [`Errno`] name stops the replay with [`KernelError::Io`] naming the step, rather than
//!   being disguised as another errno that a script could then "expect".

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use twsim_model::addr::{is_wildcard, unmapped};
use twsim_model::Family;
use twsim_model::{Duration, Errno};
use twsim_sim::replay::{family_mismatch, host_owns, ReplayStep};
use twsim_sim::scenario::{At, Call, Resolved, SockOpt, Step, WaitFor};

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

/// Maps a Linux errno number to its [`Errno`] (EWOULDBLOCK is EAGAIN, the same number on
/// Linux); `None` for numbers without a twsim name.
pub fn errno_from_linux(code: i32) -> Option<Errno> {
    Errno::ALL.into_iter().find(|e| e.linux_code() == code)
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

/// A raw errno from a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// An OS error number from a socket call.
pub(crate) struct Sys(pub(crate) i32);

impl From<Sys> for std::io::Error {
    fn from(e: Sys) -> Self {
        std::io::Error::from_raw_os_error(e.0)
    }
}

impl Sys {
    fn describe(self) -> String {
        std::io::Error::from_raw_os_error(self.0).to_string()
    }
}

/// How a step failed: with an errno the script can see, or fatally for the whole replay.
enum Fail {
    Errno(Errno, String),
    Fatal(KernelError),
}

impl From<Sys> for Fail {
    fn from(s: Sys) -> Fail {
        match errno_from_linux(s.0) {
            Some(e) => Fail::Errno(e, String::new()),
            None => Fail::Fatal(KernelError::Io(format!(
                "the kernel returned {}, which has no twsim errno name",
                s.describe()
            ))),
        }
    }
}

fn fail(e: Errno, detail: impl Into<String>) -> Fail {
    Fail::Errno(e, detail.into())
}

/// What the replay knows about one socket name on a host (shared by every process holding it,
/// as the options live in the one open file description).
#[derive(Debug, Clone, Default)]
struct SockInfo {
    family: Family,
    reuseaddr: bool,
    reuseport: bool,
    v6only: bool,
    /// Local address after the last successful bind, listen, connect or accept.
    local: Option<SocketAddr>,
    /// Peer address of a connected or accepted socket.
    remote: Option<SocketAddr>,
}

#[derive(Default)]
struct HostState {
    /// process → socket name → that process's descriptor.
    procs: BTreeMap<String, BTreeMap<String, OwnedFd>>,
    socks: BTreeMap<String, SockInfo>,
}

/// One replay in progress. Host indices come from [`Resolved`], whose `resolve` validated
/// them, and `hosts` has one entry per scenario host, so indexing by a step's host cannot fail.
struct Runner<'a> {
    sc: &'a Resolved,
    in_namespace: bool,
    hosts: Vec<HostState>,
    /// The script's own clock: declared gaps and waits (never read from a real clock).
    script_time: Duration,
}

impl<'a> Runner<'a> {
    fn new(sc: &'a Resolved, in_namespace: bool) -> Self {
        let hosts = sc
            .hosts
            .iter()
            .map(|_| HostState {
                procs: BTreeMap::from([("main".to_string(), BTreeMap::new())]),
                socks: BTreeMap::new(),
            })
            .collect();
        Runner {
            sc,
            in_namespace,
            hosts,
            script_time: Duration::ZERO,
        }
    }

    fn step(&mut self, step: &Step) -> Result<ReplayStep, KernelError> {
        self.advance(step.at);
        let (result, detail) = match self.call(step) {
            Ok(d) => (Ok(()), d),
            Err(Fail::Errno(e, d)) => (Err(e), d),
            Err(Fail::Fatal(k)) => {
                let at = format!("steps[{}] ({})", step.index, call_name(&step.call));
                return Err(match k {
                    KernelError::Io(m) => KernelError::Io(format!("{at}: {m}")),
                    KernelError::Namespace(m) => KernelError::Namespace(format!("{at}: {m}")),
                    other => other,
                });
            }
        };
        if result.is_ok() && matches!(step.call, Call::Close(_) | Call::Exit | Call::Shutdown(..)) {
            sleep(SETTLE);
        }
        Ok(ReplayStep {
            index: step.index,
            host: step.host,
            result,
            detail,
        })
    }

    /// The gap before a step: advances the script clock, sleeps at most [`MAX_AT_SLEEP`].
    fn advance(&mut self, at: Option<At>) {
        let gap = match at {
            None => 0,
            Some(At::Absolute(t)) => t.micros().saturating_sub(self.script_time.micros()),
            Some(At::Relative(d)) => d.micros(),
        };
        self.script_time = self.script_time + Duration::from_micros(gap);
        sleep(Duration::from_micros(gap.min(MAX_AT_SLEEP.micros())));
    }

    fn host_addr(&self, host: usize) -> Ipv4Addr {
        self.sc.hosts[host].addr
    }

    /// The descriptor `proc` holds for `name`; EBADF if it holds none.
    fn fd(&self, host: usize, proc: &str, name: &str) -> Result<RawFd, Fail> {
        self.hosts[host]
            .procs
            .get(proc)
            .and_then(|m| m.get(name))
            .map(|fd| fd.as_raw_fd())
            .ok_or_else(|| fail(Errno::EBADF, format!("process {proc:?} holds no {name:?}")))
    }

    /// `proc`'s descriptor for `name`, or else any process's on the host.
    fn any_fd(&self, host: usize, proc: &str, name: &str) -> Option<RawFd> {
        let procs = &self.hosts[host].procs;
        procs
            .get(proc)
            .and_then(|m| m.get(name))
            .or_else(|| procs.values().find_map(|m| m.get(name)))
            .map(|fd| fd.as_raw_fd())
    }

    fn info(&mut self, host: usize, name: &str) -> &mut SockInfo {
        self.hosts[host].socks.entry(name.to_string()).or_default()
    }

    /// EADDRNOTAVAIL (emulated) for a specific address that is not the host's own.
    fn owns(&self, host: usize, a: &SocketAddr) -> Result<(), Fail> {
        let own = self.host_addr(host);
        if host_owns(own, a.ip()) {
            return Ok(());
        }
        Err(fail(
            Errno::EADDRNOTAVAIL,
            format!(
                "emulated: host {:?} owns {own} (and ::1, ::ffff:{own}), not {} (the kernel \
                 itself accepts any 127.0.0.0/8 address)",
                self.sc.hosts[host].name,
                a.ip()
            ),
        ))
    }

    fn call(&mut self, step: &Step) -> Result<String, Fail> {
        let host = step.host;
        let proc = step.proc.as_str();
        if !self.hosts[host].procs.contains_key(proc) {
            return Err(fail(Errno::EBADF, format!("process {proc:?} has exited")));
        }
        let timeout = step.timeout.unwrap_or(DEFAULT_TIMEOUT);
        match &step.call {
            Call::Socket(n, family) => {
                let fd = sys::tcp_socket(*family)?;
                self.hosts[host]
                    .procs
                    .entry(proc.to_string())
                    .or_default()
                    .insert(n.clone(), fd);
                self.hosts[host].socks.insert(
                    n.clone(),
                    SockInfo {
                        family: *family,
                        ..SockInfo::default()
                    },
                );
                Ok(String::new())
            }
            Call::SetSockOpt(n, o) => {
                let fd = self.fd(host, proc, n)?;
                match *o {
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
            Call::Bind(n, a) => {
                let fd = self.fd(host, proc, n)?;
                // An address of the other family goes to the kernel as it is, for its answer.
                if family_mismatch(self.info(host, n).family, *a).is_none() {
                    self.owns(host, a)?;
                }
                sys::bind(fd, *a)?;
                let local = sys::local_addr(fd)?;
                self.info(host, n).local = Some(local);
                Ok(format!("bound {local}"))
            }
            Call::Listen(n, backlog) => {
                let fd = self.fd(host, proc, n)?;
                let before = sys::local_addr(fd)?;
                if !self.in_namespace && before.ip().is_unspecified() && before.port() == 0 {
                    return Err(Fail::Fatal(KernelError::Namespace(format!(
                        "listen on the unbound socket {n:?} would bind {} outside a private \
                         namespace",
                        before.ip()
                    ))));
                }
                let backlog = libc::c_int::try_from(*backlog).unwrap_or(libc::c_int::MAX);
                sys::listen(fd, backlog)?;
                let local = sys::local_addr(fd)?;
                self.info(host, n).local = Some(local);
                Ok(format!("listening {local}"))
            }
            Call::Connect(n, a) => self.connect(host, proc, n, *a, timeout),
            Call::Accept(l, new) => self.accept(host, proc, l, new, timeout),
            Call::Send(n, data) => {
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
            Call::Recv(n, max) => self.recv(host, proc, n, *max, timeout),
            Call::Shutdown(n, rd, wr) => {
                let fd = self.fd(host, proc, n)?;
                let how = match (rd, wr) {
                    (true, true) => libc::SHUT_RDWR,
                    (true, false) => libc::SHUT_RD,
                    _ => libc::SHUT_WR,
                };
                sys::shutdown(fd, how)?;
                Ok(String::new())
            }
            Call::Close(n) => {
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
            Call::Fork(child) => {
                let procs = &mut self.hosts[host].procs;
                let mut copies = BTreeMap::new();
                for (name, fd) in procs.get(proc).into_iter().flatten() {
                    let dup = fd
                        .try_clone()
                        .map_err(|e| Sys(e.raw_os_error().unwrap_or(libc::EIO)))?;
                    copies.insert(name.clone(), dup);
                }
                let k = copies.len();
                procs.insert(child.clone(), copies);
                Ok(format!("duplicated {k} handles into {child:?}"))
            }
            Call::Exit => {
                let closed = self.hosts[host].procs.remove(proc).unwrap_or_default();
                let k = closed.len();
                drop(closed);
                Ok(format!("closed {k} handles"))
            }
            Call::Wait(WaitFor::Time(d)) => {
                let slept = (*d).min(MAX_WAIT);
                sleep(slept);
                self.script_time = self.script_time + *d;
                Ok(if slept < *d {
                    format!("waited {slept} of {d} (kernel replay caps a wait at {MAX_WAIT})")
                } else {
                    format!("waited {d}")
                })
            }
            Call::Wait(WaitFor::State(n, want)) => {
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
            Call::Wait(WaitFor::Bindable(n, a)) => {
                let opts = self.hosts[host].socks.get(n).cloned().unwrap_or_default();
                if family_mismatch(opts.family, *a).is_none() {
                    self.owns(host, a)?;
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
                    match sys::bind(fd, *a) {
                        Ok(()) => {
                            return Ok(format!("{a} bindable after ~{} ms", budget.spent_ms()))
                        }
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
        }
    }

    fn connect(
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

    fn accept(
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

    fn recv(
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

    /// The RFC 9293 state of socket `name`, as the kernel shows it.
    ///
    /// A TIME-WAIT or orphaned socket has no descriptor, so the 4-tuple's row in
    /// `/proc/thread-self/net/tcp` (`tcp4_seq_show`; TIME-WAIT rows come from
    /// `get_timewait4_sock`) is consulted first for TIME-WAIT, then the held descriptor's
    /// `TCP_INFO` (`tcp_get_info`), then the row; no descriptor and no row is CLOSED.
    fn observe(&self, host: usize, proc: &str, name: &str) -> Result<&'static str, Fail> {
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
            (_, Some(TCP_TIME_WAIT)) => "TIME-WAIT",
            (Some(k), _) => linux_state_name(k),
            (None, Some(r)) => linux_state_name(r),
            (None, None) => "CLOSED",
        })
    }
}

/// `TCP_TIME_WAIT` in `include/net/tcp_states.h`.
const TCP_TIME_WAIT: u8 = 6;

/// RFC 9293 name of a Linux TCP state number (`include/net/tcp_states.h`).
fn linux_state_name(s: u8) -> &'static str {
    match s {
        1 => "ESTABLISHED",
        2 => "SYN-SENT",
        // 12 is TCP_NEW_SYN_RECV, a request socket.
        3 | 12 => "SYN-RECEIVED",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        // 7 is TCP_CLOSE; nothing else is defined.
        _ => "CLOSED",
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

/// Equal address and port (an IPv6 row carries no scope id or flow label to compare).
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() && a.port() == b.port()
}

/// Rows `(local, remote, state)` of `/proc/net/tcp6` (format: `tcp6_seq_show`; each address
/// is four raw network-order words, each printed in host order, then the port, all hex).
fn parse_proc_net_tcp6(text: &str) -> Vec<(SocketAddr, SocketAddr, u8)> {
    fn addr(s: &str) -> Option<SocketAddr> {
        let (ip, port) = s.split_once(':')?;
        if ip.len() != 32 || !ip.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, chunk) in bytes.chunks_mut(4).enumerate() {
            let word = u32::from_str_radix(&ip[8 * i..8 * i + 8], 16).ok()?;
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        let port = u16::from_str_radix(port, 16).ok()?;
        Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(bytes)), port))
    }
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace().skip(1);
            let local = addr(f.next()?)?;
            let remote = addr(f.next()?)?;
            let st = u8::from_str_radix(f.next()?, 16).ok()?;
            Some((local, remote, st))
        })
        .collect()
}

/// Rows `(local, remote, state)` of `/proc/net/tcp` (format: `tcp4_seq_show`; addresses are
/// the raw network-order word printed in host order, ports in host order, all hex).
pub(crate) fn parse_proc_net_tcp(text: &str) -> Vec<(SocketAddrV4, SocketAddrV4, u8)> {
    fn addr(s: &str) -> Option<SocketAddrV4> {
        let (ip, port) = s.split_once(':')?;
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        Some(SocketAddrV4::new(Ipv4Addr::from(ip.to_ne_bytes()), port))
    }
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace().skip(1);
            let local = addr(f.next()?)?;
            let remote = addr(f.next()?)?;
            let st = u8::from_str_radix(f.next()?, 16).ok()?;
            Some((local, remote, st))
        })
        .collect()
}

fn call_name(c: &Call) -> &'static str {
    match c {
        Call::Socket(..) => "socket",
        Call::SetSockOpt(..) => "setsockopt",
        Call::Bind(..) => "bind",
        Call::Listen(..) => "listen",
        Call::Connect(..) => "connect",
        Call::Accept(..) => "accept",
        Call::Send(..) => "send",
        Call::Recv(..) => "recv",
        Call::Shutdown(..) => "shutdown",
        Call::Close(_) => "close",
        Call::Fork(_) => "fork",
        Call::Exit => "exit",
        Call::Wait(_) => "wait",
    }
}

fn to_std(d: Duration) -> std::time::Duration {
    std::time::Duration::from_micros(d.micros())
}

fn sleep(d: Duration) {
    if d > Duration::ZERO {
        std::thread::sleep(to_std(d));
    }
}

/// A deadline counted in the poll and sleep slices the replay asked for (no clock is read;
/// a budget runs out slightly later than the same span of wall time would).
struct Budget {
    total: Duration,
    spent: Duration,
}

impl Budget {
    fn new(total: Duration) -> Self {
        Budget {
            total,
            spent: Duration::ZERO,
        }
    }

    fn left(&self) -> Duration {
        Duration::from_micros(self.total.micros().saturating_sub(self.spent.micros()))
    }

    fn slice(&self) -> Duration {
        self.left().min(POLL_SLICE)
    }

    fn spent_ms(&self) -> u64 {
        self.spent.micros() / 1000
    }

    /// Polls `fd` for `events` until it is ready (`true`) or the budget is spent (`false`).
    /// Always polls at least once, so a ready descriptor is seen even with a zero budget.
    fn poll(&mut self, fd: RawFd, events: libc::c_short) -> Result<bool, Sys> {
        loop {
            let slice = self.slice();
            let ms = libc::c_int::try_from(slice.micros().div_ceil(1000)).unwrap_or(0);
            match sys::poll(fd, events, ms) {
                Ok(true) => return Ok(true),
                Ok(false) | Err(Sys(libc::EINTR)) => {
                    self.spent = self.spent + slice;
                    if self.left() == Duration::ZERO {
                        return Ok(false);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sleeps one slice; `false` (without sleeping) once the budget is spent.
    fn sleep_slice(&mut self) -> bool {
        let slice = self.slice();
        if slice == Duration::ZERO {
            return false;
        }
        sleep(slice);
        self.spent = self.spent + slice;
        true
    }
}

/// Thin wrappers over the libc calls; each returns the raw errno on failure.
/// Thin, safe wrappers of the socket calls both kernel backends make.
pub(crate) mod sys {
    use super::Sys;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use twsim_model::Family;

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
                let sa =
                    unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes()),
                    u16::from_be(sa.sin_port),
                ))
            }
        }
    }

    /// `socket(AF_INET, ty | SOCK_NONBLOCK | SOCK_CLOEXEC, proto)` (raw sockets included).
    pub fn socket_v4(ty: libc::c_int, proto: libc::c_int) -> Result<OwnedFd, Sys> {
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
    pub fn send_to(fd: RawFd, data: &[u8], to: SocketAddr) -> Result<usize, Sys> {
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
    pub fn tcp_socket(family: Family) -> Result<OwnedFd, Sys> {
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

    pub fn set_int(fd: RawFd, level: libc::c_int, opt: libc::c_int, v: i32) -> Result<(), Sys> {
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
    pub fn set_linger(fd: RawFd, v: Option<u32>) -> Result<(), Sys> {
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

    pub fn bind(fd: RawFd, a: SocketAddr) -> Result<(), Sys> {
        let (sa, len) = sockaddr(a);
        // SAFETY: `sa` is live and holds a sockaddr of `len` bytes.
        check(unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_storage).cast(), len) })
            .map(drop)
    }

    pub fn listen(fd: RawFd, backlog: libc::c_int) -> Result<(), Sys> {
        // SAFETY: no pointers are passed.
        check(unsafe { libc::listen(fd, backlog) }).map(drop)
    }

    pub fn connect(fd: RawFd, a: SocketAddr) -> Result<(), Sys> {
        let (sa, len) = sockaddr(a);
        // SAFETY: `sa` is live and holds a sockaddr of `len` bytes.
        check(unsafe { libc::connect(fd, (&sa as *const libc::sockaddr_storage).cast(), len) })
            .map(drop)
    }

    /// `connect(AF_UNSPEC)`: abandons a connection attempt (`tcp_disconnect`).
    pub fn disconnect(fd: RawFd) -> Result<(), Sys> {
        // SAFETY: sockaddr is plain old data; all-zero is a valid value.
        let mut sa: libc::sockaddr = unsafe { zeroed() };
        sa.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        // SAFETY: `sa` is a live sockaddr and the length passed is its size.
        check(unsafe { libc::connect(fd, &sa, size_of::<libc::sockaddr>() as libc::socklen_t) })
            .map(drop)
    }

    fn name_of(
        fd: RawFd,
        f: unsafe extern "C" fn(
            libc::c_int,
            *mut libc::sockaddr,
            *mut libc::socklen_t,
        ) -> libc::c_int,
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
    pub fn local_addr(fd: RawFd) -> Result<SocketAddr, Sys> {
        name_of(fd, libc::getsockname)
    }

    /// `getpeername()`.
    pub fn peer_addr(fd: RawFd) -> Result<SocketAddr, Sys> {
        name_of(fd, libc::getpeername)
    }

    /// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`.
    pub fn accept(fd: RawFd) -> Result<OwnedFd, Sys> {
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
    pub fn send(fd: RawFd, data: &[u8]) -> Result<usize, Sys> {
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
    pub fn recv(fd: RawFd, buf: &mut [u8]) -> Result<usize, Sys> {
        // SAFETY: `buf` is a live, writable slice of the length passed.
        sized(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) })
    }

    pub fn shutdown(fd: RawFd, how: libc::c_int) -> Result<(), Sys> {
        // SAFETY: no pointers are passed.
        check(unsafe { libc::shutdown(fd, how) }).map(drop)
    }

    /// `poll()` on one descriptor: `true` if any of `events` (or an error/hang-up) is pending.
    pub fn poll(fd: RawFd, events: libc::c_short, timeout_ms: libc::c_int) -> Result<bool, Sys> {
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
    pub fn so_error(fd: RawFd) -> Result<libc::c_int, Sys> {
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
    pub fn tcp_state(fd: RawFd) -> Result<u8, Sys> {
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
    pub fn unshare_net() -> Result<(), Sys> {
        // SAFETY: no pointers are passed; only this thread's namespace changes.
        check(unsafe { libc::unshare(libc::CLONE_NEWNET) }).map(drop)
    }

    /// Sets `IFF_UP` on `lo` (`SIOCGIFFLAGS`, then `SIOCSIFFLAGS`); the kernel then adds
    /// 127.0.0.1/8 and the local route for 127.0.0.0/8 (`inetdev_event`).
    pub fn loopback_up() -> Result<(), Sys> {
        // SAFETY: no pointers are passed.
        let s = owned(unsafe {
            libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
        })?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::sync::atomic::{AtomicU16, Ordering};
    use twsim_sim::scenario::{self, Overrides};

    /// A port for one script. Inside a private namespace any fixed port would do; the base is
    /// spread by process id and every script gets its own port so that, when no namespace is
    /// available, parallel tests and TIME-WAIT left by earlier runs do not collide.
    fn port() -> u16 {
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let base = 20_000 + (std::process::id() % 400) as u16 * 25;
        base + NEXT.fetch_add(1, Ordering::Relaxed)
    }

    fn scenario_with(hosts: Value, steps: Vec<Value>) -> Resolved {
        let doc = json!({ "name": "kernel-test", "hosts": hosts, "steps": steps }).to_string();
        let sc = scenario::parse("<test>", &doc).expect("test scenario parses");
        sc.resolve("<test>", &doc, None, &Overrides::default())
            .expect("test scenario resolves")
    }

    fn scenario(steps: Vec<Value>) -> Resolved {
        scenario_with(
            json!([
                { "name": "server", "addr": "127.0.0.2" },
                { "name": "client", "addr": "127.0.0.3" }
            ]),
            steps,
        )
    }

    /// Whether this process may create a network namespace: root with CAP_SYS_ADMIN (bit 21
    /// of CapEff); a container's root without it gets EPERM from unshare.
    fn may_unshare() -> bool {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let cap_sys_admin = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapEff:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .is_some_and(|caps| caps & (1 << 21) != 0);
        root && cap_sys_admin
    }

    /// Replays `sc` (requiring a namespace where one is possible), checks every `expect`
    /// against the kernel, and returns the results.
    fn run(sc: &Resolved) -> Vec<ReplayStep> {
        let ns_link = || std::fs::read_link("/proc/thread-self/ns/net").ok();
        let caller_ns = ns_link();
        let (out, in_namespace) = replay(sc, may_unshare()).expect("kernel replay runs");
        assert_eq!(
            ns_link(),
            caller_ns,
            "the caller's thread keeps its namespace"
        );
        if may_unshare() {
            assert!(
                in_namespace,
                "root with CAP_SYS_ADMIN gets a private namespace"
            );
        } else if !in_namespace {
            eprintln!("note: no private network namespace here; namespace check skipped");
        }
        assert_eq!(out.len(), sc.steps.len());
        for (st, r) in sc.steps.iter().zip(&out) {
            if let Some(want) = st.expect {
                assert_eq!(
                    r.result.err(),
                    want,
                    "steps[{}] {:?}: kernel said {:?} ({})",
                    st.index,
                    st.call,
                    r.result,
                    r.detail
                );
            }
        }
        out
    }

    fn ra(host: &str, sock: &str) -> Value {
        json!({ "host": host, "call": "setsockopt", "sock": sock, "opt": "SO_REUSEADDR", "value": 1 })
    }

    fn expect(ok: bool) -> &'static str {
        if ok {
            "ok"
        } else {
            "EADDRINUSE"
        }
    }

    #[test]
    fn non_loopback_addresses_are_refused_before_any_socket() {
        let sc = scenario_with(
            json!([{ "name": "server", "addr": "10.0.0.1" }]),
            vec![json!({ "host": "server", "call": "socket", "sock": "L" })],
        );
        match check_loopback(&sc) {
            Err(KernelError::NotLoopback { host, addr }) => {
                assert_eq!(host, "server");
                assert_eq!(addr, Ipv4Addr::new(10, 0, 0, 1));
            }
            other => panic!("expected NotLoopback, got {other:?}"),
        }
        assert!(matches!(
            replay(&sc, false),
            Err(KernelError::NotLoopback { .. })
        ));

        // A loopback host that connects elsewhere is refused too.
        let sc = scenario(vec![
            json!({ "host": "client", "call": "socket", "sock": "C" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": "192.0.2.1:80" }),
        ]);
        let e = replay(&sc, true).expect_err("refused");
        assert!(
            matches!(&e, KernelError::NotLoopback { host, .. } if host.contains("steps[1]")),
            "{e}"
        );
    }

    /// bind-rules.md C1: two RA sockets bound, neither listening: both binds succeed; the
    /// first listen succeeds, the second gets EADDRINUSE (`inet_csk_listen_start`).
    #[test]
    fn c1_two_reuseaddr_binds_then_second_listen_fails() {
        let a = format!("127.0.0.2:{}", port());
        let sc = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "S1" }),
            ra("server", "S1"),
            json!({ "host": "server", "call": "bind", "sock": "S1", "addr": a, "expect": "ok" }),
            json!({ "host": "server", "call": "socket", "sock": "S2" }),
            ra("server", "S2"),
            json!({ "host": "server", "call": "bind", "sock": "S2", "addr": a, "expect": "ok" }),
            json!({ "host": "server", "call": "listen", "sock": "S1", "expect": "ok" }),
            json!({ "host": "server", "call": "listen", "sock": "S2", "expect": "EADDRINUSE" }),
            // bind-rules.md M2: bind on a bound socket.
            json!({ "host": "server", "call": "bind", "sock": "S2", "addr": a, "expect": "EINVAL" }),
            // Another host's address: emulated EADDRNOTAVAIL.
            json!({ "host": "server", "call": "socket", "sock": "S3" }),
            json!({ "host": "server", "call": "bind", "sock": "S3", "addr": "127.0.0.3:1", "expect": "EADDRNOTAVAIL" }),
        ]);
        let out = run(&sc);
        assert_eq!(out[2].detail, format!("bound {a}"));
        assert!(out[10].detail.starts_with("emulated"), "{}", out[10].detail);
    }

    /// Server listener `L` on `a` (SO_REUSEADDR if `ra`), client `C` connected, accepted as `A`.
    fn accepted_pair(a: &str, ra_on_listener: bool) -> Vec<serde_json::Value> {
        let mut steps = vec![json!({ "host": "server", "call": "socket", "sock": "L" })];
        if ra_on_listener {
            steps.push(ra("server", "L"));
        }
        steps.extend([
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": a, "expect": "ok" }),
            json!({ "host": "server", "call": "listen", "sock": "L", "expect": "ok" }),
            json!({ "host": "client", "call": "socket", "sock": "C" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": a, "expect": "ok" }),
            json!({ "host": "server", "call": "accept", "sock": "L", "as": "A", "expect": "ok" }),
        ]);
        steps
    }

    /// bind-rules.md A / A11: the listener is closed while its accepted connection stays
    /// ESTABLISHED; a new socket binds the port. Only RA on both the old listener (inherited
    /// by the accepted child) and the new socket succeeds, and the new listener then accepts.
    #[test]
    fn a_listener_closed_while_accepted_connection_lives() {
        for (l, n) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = format!("127.0.0.2:{}", port());
            let mut steps = accepted_pair(&a, l);
            steps.extend([
                json!({ "host": "server", "call": "close", "sock": "L", "expect": "ok" }),
                json!({ "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "ESTABLISHED", "timeout": "100ms", "expect": "ok" }),
                json!({ "host": "server", "call": "socket", "sock": "L2" }),
            ]);
            if n {
                steps.push(ra("server", "L2"));
            }
            steps.push(json!({ "host": "server", "call": "bind", "sock": "L2", "addr": a, "expect": expect(l && n) }));
            if l && n {
                steps.extend([
                    json!({ "host": "server", "call": "listen", "sock": "L2", "expect": "ok" }),
                    json!({ "host": "client", "call": "socket", "sock": "C2" }),
                    json!({ "host": "client", "call": "connect", "sock": "C2", "addr": a, "expect": "ok" }),
                    json!({ "host": "server", "call": "accept", "sock": "L2", "as": "A2", "timeout": "500ms", "expect": "ok" }),
                ]);
            }
            let out = run(&scenario(steps));
            let conn = out.iter().find(|r| r.detail.starts_with("connected"));
            let conn = conn.expect("a connect step");
            assert!(
                conn.detail.starts_with("connected 127.0.0.3:"),
                "the client's own address is the source: {}",
                conn.detail
            );
        }
    }

    /// bind-rules.md B / B11: the server closes first (server-side TIME-WAIT), then the
    /// client; with the listener closed, a rebind succeeds only with RA on both.
    #[test]
    fn b_server_time_wait_blocks_rebind_without_reuseaddr_on_both() {
        for (l, n) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = format!("127.0.0.2:{}", port());
            let mut steps = accepted_pair(&a, l);
            steps.extend([
                json!({ "host": "server", "call": "close", "sock": "A", "expect": "ok" }),
                json!({ "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "FIN-WAIT-2", "timeout": "200ms", "expect": "ok" }),
                json!({ "host": "client", "call": "wait", "until": "state", "sock": "C", "state": "CLOSE-WAIT", "timeout": "200ms", "expect": "ok" }),
                json!({ "host": "client", "call": "close", "sock": "C", "expect": "ok" }),
                json!({ "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "TIME-WAIT", "timeout": "500ms", "expect": "ok" }),
                json!({ "host": "client", "call": "wait", "until": "state", "sock": "C", "state": "CLOSED", "timeout": "500ms", "expect": "ok" }),
                json!({ "host": "server", "call": "close", "sock": "L", "expect": "ok" }),
                json!({ "host": "server", "call": "socket", "sock": "L2" }),
            ]);
            if n {
                steps.push(ra("server", "L2"));
            }
            steps.extend([
                json!({ "host": "server", "call": "wait", "until": "bindable", "sock": "L2", "addr": a, "timeout": "50ms", "expect": if l && n { "ok" } else { "ETIMEDOUT" } }),
                json!({ "host": "server", "call": "bind", "sock": "L2", "addr": a, "expect": expect(l && n) }),
                // The TIME-WAIT outlives the whole script (60 s, never waited out).
                json!({ "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "TIME-WAIT", "timeout": "10ms", "expect": "ok" }),
            ]);
            run(&scenario(steps));
        }
    }

    /// A connect to a port nobody listens on is refused (RST); the same socket may connect
    /// again once a listener exists, and a third connect finds it connected.
    #[test]
    fn connect_refused_then_retried_then_already_connected() {
        let a = format!("127.0.0.2:{}", port());
        let sc = scenario(vec![
            json!({ "host": "client", "call": "socket", "sock": "C" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": a, "expect": "ECONNREFUSED" }),
            json!({ "host": "client", "call": "wait", "until": "state", "sock": "C", "state": "CLOSED", "timeout": "10ms", "expect": "ok" }),
            json!({ "host": "server", "call": "socket", "sock": "L" }),
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": a, "expect": "ok" }),
            json!({ "host": "server", "call": "listen", "sock": "L", "expect": "ok" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": a, "expect": "ok" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": a, "expect": "EISCONN" }),
            json!({ "host": "client", "call": "close", "sock": "C", "expect": "ok" }),
            json!({ "host": "client", "call": "close", "sock": "C", "expect": "EBADF" }),
        ]);
        let out = run(&sc);
        assert!(
            out[6].detail.starts_with("connected 127.0.0.3:"),
            "{}",
            out[6].detail
        );
    }

    /// A SYN the listener drops (its accept queue is full: `tcp_conn_request`) gets no
    /// answer; the connect reports ETIMEDOUT at its deadline and the attempt is abandoned.
    #[test]
    fn unanswered_connect_times_out_and_is_abandoned() {
        let a = format!("127.0.0.2:{}", port());
        let sc = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L" }),
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": a, "expect": "ok" }),
            json!({ "host": "server", "call": "listen", "sock": "L", "backlog": 0, "expect": "ok" }),
            json!({ "host": "client", "call": "socket", "sock": "C1" }),
            json!({ "host": "client", "call": "connect", "sock": "C1", "addr": a, "expect": "ok" }),
            json!({ "host": "client", "call": "socket", "sock": "C2" }),
            json!({ "host": "client", "call": "connect", "sock": "C2", "addr": a, "timeout": "100ms", "expect": "ETIMEDOUT" }),
            json!({ "host": "client", "call": "wait", "until": "state", "sock": "C2", "state": "CLOSED", "timeout": "10ms", "expect": "ok" }),
        ]);
        run(&sc);
    }

    /// bind-rules.md SH1 with handle duplication: the parent closes the accepted socket while
    /// the child still holds it, so no FIN leaves; the client's recv times out. When the child
    /// exits, the last handle closes and the client reads the end of the stream.
    #[test]
    fn fork_fin_leaves_only_when_the_last_handle_closes() {
        let a = format!("127.0.0.2:{}", port());
        let sc = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L" }),
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": a }),
            json!({ "host": "server", "call": "listen", "sock": "L" }),
            json!({ "host": "client", "call": "socket", "sock": "C" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": a, "expect": "ok" }),
            json!({ "host": "server", "call": "accept", "sock": "L", "as": "A", "expect": "ok" }),
            json!({ "host": "server", "call": "fork", "child": "worker", "expect": "ok" }),
            json!({ "host": "server", "call": "close", "sock": "A", "expect": "ok" }),
            json!({ "host": "client", "call": "recv", "sock": "C", "timeout": "200ms", "expect": "EAGAIN" }),
            json!({ "host": "server", "proc": "worker", "call": "send", "sock": "A", "data": "bye", "expect": "ok" }),
            json!({ "host": "server", "proc": "worker", "call": "exit", "expect": "ok" }),
            json!({ "host": "client", "call": "recv", "sock": "C", "timeout": "500ms", "expect": "ok" }),
            json!({ "host": "client", "call": "recv", "sock": "C", "timeout": "500ms", "expect": "ok" }),
            json!({ "host": "client", "call": "wait", "until": "state", "sock": "C", "state": "CLOSE-WAIT", "timeout": "10ms", "expect": "ok" }),
            json!({ "host": "server", "call": "close", "sock": "A", "expect": "EBADF" }),
        ]);
        let out = run(&sc);
        assert_eq!(out[6].detail, "duplicated 2 handles into \"worker\"");
        assert_eq!(out[7].detail, "handle closed; still open in worker");
        assert_eq!(out[11].detail, "3 bytes \"bye\"");
        assert_eq!(out[12].detail, "end of stream");
    }

    #[test]
    fn wildcard_binds_are_found_for_the_no_namespace_refusal() {
        let bind0 = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L" }),
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": "0.0.0.0:80" }),
        ]);
        assert!(wildcard_use(&bind0).is_some_and(|w| w.contains("steps[1]")));
        let autobind = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L" }),
            json!({ "host": "server", "call": "listen", "sock": "L" }),
        ]);
        assert!(wildcard_use(&autobind).is_some_and(|w| w.contains("without a bind")));
        let bind6 = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }),
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": "[::]:80" }),
        ]);
        assert!(wildcard_use(&bind6).is_some_and(|w| w.contains("[::]:80")));
        let specific = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L" }),
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": "127.0.0.2:80" }),
            json!({ "host": "server", "call": "listen", "sock": "L" }),
        ]);
        assert_eq!(wildcard_use(&specific), None);
    }

    #[test]
    fn linux_errno_numbers_map_to_twsim_names() {
        for e in Errno::ALL {
            assert_eq!(errno_from_linux(e.linux_code()), Some(e));
        }
        assert_eq!(errno_from_linux(libc::EWOULDBLOCK), Some(Errno::EAGAIN));
        assert_eq!(errno_from_linux(libc::EINPROGRESS), None);
        assert!(matches!(
            Fail::from(Sys(libc::EALREADY)),
            Fail::Fatal(KernelError::Io(_))
        ));
    }

    #[test]
    fn proc_net_tcp6_rows_parse() {
        let text = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 1 3 0 100 0 0 10 0\n\
           1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:9C41 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0 20 0 0 10 -1\n\
           2: 0000000000000000FFFF00000200007F:1F90 0000000000000000FFFF00000300007F:9C40 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0 20 0 0 10 -1\n";
        let rows = parse_proc_net_tcp6(text);
        if cfg!(target_endian = "little") {
            let sa = |s: &str| s.parse::<SocketAddr>().expect("address");
            assert_eq!(
                rows,
                vec![
                    (sa("[::]:8080"), sa("[::]:0"), 10),
                    (sa("[::1]:8080"), sa("[::1]:40001"), 1),
                    (
                        sa("[::ffff:127.0.0.2]:8080"),
                        sa("[::ffff:127.0.0.3]:40000"),
                        TCP_TIME_WAIT
                    ),
                ]
            );
        }
    }

    #[test]
    fn ipv6_loopback_addresses_pass_and_others_are_refused() {
        let ok = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }),
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": "[::]:80" }),
            json!({ "host": "server", "call": "wait", "until": "bindable", "sock": "L", "addr": "[::ffff:0.0.0.0]:80" }),
            json!({ "host": "client", "call": "socket", "sock": "C", "family": "inet6" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": "[::1]:80" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": "[::ffff:127.0.0.2]:80" }),
        ]);
        assert!(check_loopback(&ok).is_ok());
        for (call, addr) in [
            ("connect", "[::]:80"),
            ("connect", "[::ffff:0.0.0.0]:80"),
            ("bind", "[fd00::2]:80"),
            ("bind", "[::ffff:10.0.0.1]:80"),
            ("connect", "[2001:db8::1]:80"),
        ] {
            let sc = scenario(vec![
                json!({ "host": "client", "call": "socket", "sock": "C", "family": "inet6" }),
                json!({ "host": "client", "call": call, "sock": "C", "addr": addr }),
            ]);
            match check_loopback(&sc) {
                Err(KernelError::NotLoopback { host, addr: a }) => {
                    assert!(host.contains("steps[1]"), "{host}");
                    assert_eq!(
                        SocketAddr::new(a, 80),
                        addr.parse::<SocketAddr>().expect("address")
                    );
                }
                other => panic!("{call} {addr}: expected NotLoopback, got {other:?}"),
            }
        }
    }

    /// bind-rules.md "IPv6": a dual-stack [::]:P listener takes an IPv4 client (the accepted
    /// socket shows v4-mapped addresses, and its TIME-WAIT is found in /proc/net/tcp6); an
    /// IPV6_V6ONLY socket is ENOPROTOOPT on AF_INET, EINVAL once bound; addresses of the
    /// other family get the kernel's own errors.
    #[test]
    fn dual_stack_listener_and_ipv6_errors_on_the_kernel() {
        let p = port();
        let sc = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }),
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": format!("[::]:{p}"), "expect": "ok" }),
            json!({ "host": "server", "call": "setsockopt", "sock": "L", "opt": "IPV6_V6ONLY", "value": 1, "expect": "EINVAL" }),
            json!({ "host": "server", "call": "listen", "sock": "L", "expect": "ok" }),
            json!({ "host": "client", "call": "socket", "sock": "C" }),
            json!({ "host": "client", "call": "setsockopt", "sock": "C", "opt": "IPV6_V6ONLY", "value": 1, "expect": "ENOPROTOOPT" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": format!("[::1]:{p}"), "expect": "EAFNOSUPPORT" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": format!("127.0.0.2:{p}"), "expect": "ok" }),
            json!({ "host": "server", "call": "accept", "sock": "L", "as": "A", "timeout": "500ms", "expect": "ok" }),
            json!({ "host": "server", "call": "close", "sock": "A", "expect": "ok" }),
            json!({ "host": "client", "call": "wait", "until": "state", "sock": "C", "state": "CLOSE-WAIT", "timeout": "500ms", "expect": "ok" }),
            json!({ "host": "client", "call": "close", "sock": "C", "expect": "ok" }),
            json!({ "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "TIME-WAIT", "timeout": "500ms", "expect": "ok" }),
            json!({ "host": "server", "call": "socket", "sock": "S6", "family": "inet6" }),
            json!({ "host": "server", "call": "bind", "sock": "S6", "addr": format!("127.0.0.2:{p}"), "expect": "EINVAL" }),
        ]);
        let out = run(&sc);
        assert!(
            out[8].detail.starts_with(&format!(
                "accepted [::ffff:127.0.0.2]:{p}<->[::ffff:127.0.0.3]:"
            )),
            "{}",
            out[8].detail
        );
    }

    #[test]
    fn proc_net_tcp_rows_parse() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0200007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
           1: 0200007F:1F90 0300007F:9C40 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0\n";
        let rows = parse_proc_net_tcp(text);
        if cfg!(target_endian = "little") {
            let server = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 8080);
            let client = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 3), 40000);
            let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
            assert_eq!(rows, vec![(server, any, 10), (server, client, 6)]);
        }
        assert_eq!(linux_state_name(10), "LISTEN");
        assert_eq!(linux_state_name(TCP_TIME_WAIT), "TIME-WAIT");
        assert_eq!(linux_state_name(7), "CLOSED");
    }
}

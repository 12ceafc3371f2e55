//! One replay in progress: the descriptors each process holds, what is known of each socket
//! name, the script's own clock, and the dispatch of one step to its call (`calls`, `wait`).

use super::budget::sleep;
use super::errno::{fail, Fail};
use super::{KernelError, DEFAULT_TIMEOUT, MAX_AT_SLEEP, SETTLE};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use twsim_model::addr::host_owns;
use twsim_model::{Duration, Errno, Family, Instant};
use twsim_sim::replay::ReplayStep;
use twsim_sim::scenario::{Call, Resolved, Step, WaitFor};

/// What the replay knows about one socket name on a host (shared by every process holding it,
/// as the options live in the one open file description).
#[derive(Debug, Clone, Default)]
pub(super) struct SockInfo {
    pub(super) family: Family,
    pub(super) reuseaddr: bool,
    pub(super) reuseport: bool,
    pub(super) v6only: bool,
    /// Local address after the last successful bind, listen, connect or accept.
    pub(super) local: Option<SocketAddr>,
    /// Peer address of a connected or accepted socket.
    pub(super) remote: Option<SocketAddr>,
}

#[derive(Default)]
pub(super) struct HostState {
    /// process → socket name → that process's descriptor.
    pub(super) procs: BTreeMap<String, BTreeMap<String, OwnedFd>>,
    pub(super) socks: BTreeMap<String, SockInfo>,
}

/// One replay in progress. Host indices come from [`Resolved`], whose `resolve` validated
/// them, and `hosts` has one entry per scenario host, so indexing by a step's host cannot fail.
pub(super) struct Runner<'a> {
    pub(super) sc: &'a Resolved,
    pub(super) in_namespace: bool,
    pub(super) hosts: Vec<HostState>,
    /// The script's own clock: declared gaps and waits (never read from a real clock).
    pub(super) script_time: Duration,
}

impl<'a> Runner<'a> {
    pub(super) fn new(sc: &'a Resolved, in_namespace: bool) -> Self {
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

    pub(super) fn step(&mut self, step: &Step) -> Result<ReplayStep, KernelError> {
        self.advance(step);
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
    fn advance(&mut self, step: &Step) {
        let start = step.start_time(Instant::from_micros(self.script_time.micros()));
        let gap = start.micros() - self.script_time.micros();
        self.script_time = self.script_time + Duration::from_micros(gap);
        sleep(Duration::from_micros(gap.min(MAX_AT_SLEEP.micros())));
    }

    pub(super) fn host_addr(&self, host: usize) -> Ipv4Addr {
        self.sc.hosts[host].addr
    }

    /// The descriptor `proc` holds for `name`; EBADF if it holds none.
    pub(super) fn fd(&self, host: usize, proc: &str, name: &str) -> Result<RawFd, Fail> {
        self.hosts[host]
            .procs
            .get(proc)
            .and_then(|m| m.get(name))
            .map(|fd| fd.as_raw_fd())
            .ok_or_else(|| fail(Errno::EBADF, format!("process {proc:?} holds no {name:?}")))
    }

    /// `proc`'s descriptor for `name`, or else any process's on the host.
    pub(super) fn any_fd(&self, host: usize, proc: &str, name: &str) -> Option<RawFd> {
        let procs = &self.hosts[host].procs;
        procs
            .get(proc)
            .and_then(|m| m.get(name))
            .or_else(|| procs.values().find_map(|m| m.get(name)))
            .map(|fd| fd.as_raw_fd())
    }

    pub(super) fn info(&mut self, host: usize, name: &str) -> &mut SockInfo {
        self.hosts[host].socks.entry(name.to_string()).or_default()
    }

    /// EADDRNOTAVAIL (emulated) for a specific address that is not the host's own.
    pub(super) fn owns(&self, host: usize, a: &SocketAddr) -> Result<(), Fail> {
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

    /// Runs one step's call: EBADF if its process has exited, otherwise the call kind's own
    /// step, with the step's deadline (default [`DEFAULT_TIMEOUT`]) for the blocking ones.
    fn call(&mut self, step: &Step) -> Result<String, Fail> {
        let host = step.host;
        let proc = step.proc.as_str();
        if step.starts {
            // A process the script names first here starts with no descriptors.
            self.hosts[host].procs.entry(proc.to_string()).or_default();
        }
        if !self.hosts[host].procs.contains_key(proc) {
            return Err(fail(Errno::EBADF, format!("process {proc:?} has exited")));
        }
        let timeout = step.timeout.unwrap_or(DEFAULT_TIMEOUT);
        match &step.call {
            Call::Socket(n, family) => self.socket(host, proc, n, *family),
            Call::SetSockOpt(n, o) => self.setsockopt(host, proc, n, *o),
            Call::Bind(n, a) => self.bind(host, proc, n, *a),
            Call::Listen(n, backlog) => self.listen(host, proc, n, *backlog),
            Call::Connect(n, a) => self.connect(host, proc, n, *a, timeout),
            Call::Accept(l, new) => self.accept(host, proc, l, new, timeout),
            Call::Send(n, data) => self.send(host, proc, n, data, timeout),
            Call::Recv(n, max) => self.recv(host, proc, n, *max, timeout),
            Call::Shutdown(n, rd, wr) => self.shutdown(host, proc, n, *rd, *wr),
            Call::Close(n) => self.close(host, proc, n),
            Call::Fork(child) => self.fork(host, proc, child),
            Call::Exit => self.exit(host, proc),
            Call::Wait(WaitFor::Time(d)) => Ok(self.wait_time(*d)),
            Call::Wait(WaitFor::State(n, want)) => self.wait_state(host, proc, n, *want, timeout),
            Call::Wait(WaitFor::Bindable(n, a)) => self.wait_bindable(host, n, *a, timeout),
        }
    }
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

//! Replaying a scenario's socket calls without a network: against the address-table model
//! ([`replay_model`]) or, on Linux, against the real kernel's sockets (the `twsim-kernel`
//! crate).
//!
//! Both produce one [`ReplayStep`] per step, so the two can be compared call by call
//! (`twsim replay --kernel`), and the model replay can be compared with the full simulation
//! (a property test: for fault-free scripts every call returns the same result).
//!
//! Model semantics (scenario-format.md "Model-only replay"): a `connect` to a listener of a
//! host in the scenario establishes both ends at once and queues the server end for `accept`;
//! data sent is at once readable by the peer; the first side to close is the active closer and
//! enters TIME-WAIT for the profile's duration when both sides have closed; `at` and `wait`
//! advance the model's clock and TIME-WAIT records expire on it. A call that would block with
//! nothing left to wake it (accept with an empty queue, recv with nothing to read) returns
//! what the simulation returns at its deadline (EAGAIN; ETIMEDOUT for connect).
//!
//! IPv6 (model and kernel replay only; the full simulation is IPv4-only): every socket has
//! its family (`inet`, `inet6`; an accepted one its listener's). A host owns its IPv4
//! address, `::1` and its v4-mapped address ([`host_owns`]); with one table for every host,
//! `::1` is one address all hosts share. Addresses of the wrong family, IPV6_V6ONLY and
//! v4-mapped destinations fail as on Linux ([`family_mismatch`], [`inet6_connect_refusal`]);
//! overlap is [`twsim_model::addr::overlaps`]; a v4-mapped connection is an IPv4 4-tuple.

use crate::rng::{port_secret, stream};
use crate::scenario::{Call, HostTiming, Resolved, SockOpt, WaitFor};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use twsim_model::addr::{unmapped, unmapped_endpoint};
use twsim_model::Family;
use twsim_model::{
    AddressTable, Duration, Errno, FourTuple, Instant, Processes, ProfileConfig, SeqNum,
    SockOptions, SocketId, TcpState, TimeWaitRecord,
};
use twsim_model::{AppSocket, ConnEnd, ConnView, RecvOutcome, DEFAULT_WAIT_TIMEOUT};

/// The outcome of one replayed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayStep {
    /// Index in the scenario's steps.
    pub index: usize,
    /// Host index.
    pub host: usize,
    /// Ok or the errno the call returned.
    pub result: Result<(), Errno>,
    /// What a successful call returned, as text (bound address, accepted 4-tuple …); empty when
    /// nothing. Not compared between backends (ephemeral ports differ).
    pub detail: String,
}

/// One end of a model connection.
#[derive(Debug, Clone)]
struct End {
    peer: (usize, SocketId),
    tuple: FourTuple,
    /// This end sent its FIN.
    fin_sent: bool,
    /// The peer's FIN arrived.
    fin_received: bool,
    /// Bytes sent by the peer, not yet read.
    unread: u64,
    /// The connection was reset (this end sees ECONNRESET).
    reset: bool,
    /// The connection ended normally (both FINs exchanged).
    done: bool,
}

#[derive(Debug, Clone, Default)]
struct Listener {
    backlog: u32,
    ready: VecDeque<SocketId>,
}

/// What the replay keeps of one socket.
#[derive(Debug, Clone, Copy, Default)]
struct RSock {
    opts: SockOptions,
    /// Address family (an accepted socket inherits its listener's).
    family: Family,
    /// The last handle closed.
    closed: bool,
    /// What the application observes (end, pending `sk_err`): the socket-call semantics
    /// shared with the simulation's host layer.
    app: AppSocket,
}

struct RHost {
    addr: Ipv4Addr,
    cfg: ProfileConfig,
    msl: Duration,
    /// Index of this host's address table in `Model::tables` (all hosts share table 0 when
    /// the replay models one kernel playing every host).
    t: usize,
    procs: Processes,
    names: BTreeMap<String, SocketId>,
    /// Per-socket state beyond listening and connections.
    socks: BTreeMap<SocketId, RSock>,
    listeners: BTreeMap<SocketId, Listener>,
    ends: BTreeMap<SocketId, End>,
    rng: ChaCha8Rng,
}

struct Model {
    now: Instant,
    hosts: Vec<RHost>,
    tables: Vec<AddressTable>,
    /// All hosts share one address table (one kernel plays every host).
    shared: bool,
}

impl Model {
    fn new(sc: &Resolved, shared: bool) -> Self {
        // Every host owns its IPv4 address and ::1 (and, through them, its v4-mapped address);
        // with one table for every host, the table owns them all.
        let loopback6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let all: Vec<IpAddr> = sc
            .hosts
            .iter()
            .map(|h| IpAddr::V4(h.addr))
            .chain([loopback6])
            .collect();
        let mut tables = Vec::new();
        let hosts = sc
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let HostTiming {
                    config: cfg, msl, ..
                } = h.timing(sc.msl);
                let mut rng = stream(sc.seed, &format!("host/{}", h.name));
                // The simulator draws smoltcp's seed first; keep the same sequence of hints so
                // that automatic ports coincide with the full simulation's.
                let _ = rng.next_u64();
                if !shared || i == 0 {
                    let addrs = if shared {
                        all.clone()
                    } else {
                        vec![IpAddr::V4(h.addr), loopback6]
                    };
                    let mut table = AddressTable::new(cfg, addrs);
                    // As the simulation's host has it (a shared table: the first host's).
                    table.set_port_secret(port_secret(sc.seed, &h.name));
                    tables.push(table);
                }
                RHost {
                    addr: h.addr,
                    cfg,
                    msl,
                    t: if shared { 0 } else { i },
                    procs: Processes::new(),
                    names: BTreeMap::new(),
                    socks: BTreeMap::new(),
                    listeners: BTreeMap::new(),
                    ends: BTreeMap::new(),
                    rng,
                }
            })
            .collect();
        Model {
            now: Instant::ZERO,
            hosts,
            tables,
            shared,
        }
    }

    fn advance(&mut self, to: Instant) {
        if to > self.now {
            self.now = to;
        }
        for t in &mut self.tables {
            t.handle_timeout(self.now);
        }
    }

    fn family_of(&self, h: usize, id: SocketId) -> Family {
        self.hosts[h]
            .socks
            .get(&id)
            .map_or(Family::default(), |s| s.family)
    }

    fn held(&self, h: usize, proc: &str, name: &str) -> Result<SocketId, Errno> {
        let id = *self.hosts[h].names.get(name).ok_or(Errno::EBADF)?;
        if !self.hosts[h].procs.holds(proc, id) {
            return Err(Errno::EBADF);
        }
        Ok(id)
    }

    /// The host a connection from host `from` to `ip` reaches: `::1` is every host's own
    /// loopback (with one table, the listener found decides), a v4-mapped address is its IPv4
    /// address's host.
    fn host_of(&self, from: usize, ip: IpAddr) -> Option<usize> {
        match unmapped(ip) {
            IpAddr::V6(v6) if v6.is_loopback() => Some(from),
            IpAddr::V4(v4) => self.hosts.iter().position(|h| h.addr == v4),
            IpAddr::V6(_) => None,
        }
    }

    /// Removes an end whose connection is over; keeps the socket's table entry (and explicit
    /// port) while the application still holds it.
    fn end_connection(&mut self, h: usize, id: SocketId) {
        let t = self.hosts[h].t;
        let host = &mut self.hosts[h];
        if host.socks.get(&id).is_some_and(|s| s.closed) {
            self.tables[t].remove(id);
            host.ends.remove(&id);
        } else {
            self.tables[t].disconnected(id);
        }
    }

    fn reset_both(&mut self, h: usize, id: SocketId) {
        let Some(end) = self.hosts[h].ends.get(&id).cloned() else {
            return;
        };
        let (ph, pid) = end.peer;
        if let Some(pe) = self.hosts[ph].ends.get_mut(&pid) {
            if !(pe.done || pe.reset) {
                pe.reset = true;
                // Linux tcp_reset: EPIPE in CLOSE-WAIT (the peer had sent its FIN), else
                // ECONNRESET.
                let end = ConnEnd::reset(pe.fin_received, pe.fin_sent);
                self.hosts[ph]
                    .socks
                    .entry(pid)
                    .or_default()
                    .app
                    .set_end(end);
            }
        }
        if let Some(e) = self.hosts[h].ends.get_mut(&id) {
            e.reset = true;
            self.hosts[h]
                .socks
                .entry(id)
                .or_default()
                .app
                .set_end(ConnEnd::Aborted);
        }
        // The peer may be in TIME-WAIT already (it closed first and we never did): an RST in
        // TIME-WAIT is the profile's decision; the model keeps the record.
        if self.tables[self.hosts[ph].t].time_wait(pid).is_none() {
            self.end_connection(ph, pid);
        }
        self.end_connection(h, id);
    }

    /// Sends this end's FIN (close or shutdown(SHUT_WR)).
    fn send_fin(&mut self, h: usize, id: SocketId) {
        let Some(end) = self.hosts[h].ends.get(&id).cloned() else {
            return;
        };
        if end.fin_sent || end.reset || end.done {
            return;
        }
        let (ph, pid) = end.peer;
        self.hosts[h].ends.get_mut(&id).expect("present").fin_sent = true;
        let peer_sent = match self.hosts[ph].ends.get_mut(&pid) {
            Some(pe) => {
                pe.fin_received = true;
                pe.fin_sent
            }
            None => false,
        };
        if (ph, pid) == (h, id) {
            // A self-connected socket receives its own FIN: a simultaneous close of one
            // socket, which ends in TIME-WAIT (CLOSING, then the ACK of its own FIN).
            self.hosts[h].ends.get_mut(&id).expect("present").done = true;
            let host = &self.hosts[h];
            let linger = host.socks.get(&id).and_then(|s| s.opts.linger_secs);
            let len = host.cfg.time_wait_for(host.msl, linger);
            if len == Duration::ZERO {
                self.end_connection(h, id);
            } else {
                let record =
                    TimeWaitRecord::new(end.tuple, 1, SeqNum(0), SeqNum(0), 0, self.now, len);
                let _ = self.tables[host.t].enter_time_wait(id, record);
            }
            return;
        }
        if peer_sent {
            // The peer closed first: it enters TIME-WAIT, this end (LAST-ACK) closes.
            let now = self.now;
            let peer_end = self.hosts[ph].ends.get(&pid).cloned();
            if let Some(pe) = peer_end {
                let pt = self.hosts[ph].t;
                let ph_host = &mut self.hosts[ph];
                let linger = ph_host.socks.get(&pid).and_then(|s| s.opts.linger_secs);
                let len = ph_host.cfg.time_wait_for(ph_host.msl, linger);
                ph_host.ends.get_mut(&pid).expect("present").done = true;
                if len == Duration::ZERO {
                    // Stratus STCP, SO_LINGER {1,0}: the linger time replaces TIME-WAIT.
                    self.end_connection(ph, pid);
                } else {
                    let record =
                        TimeWaitRecord::new(pe.tuple, 1, SeqNum(0), SeqNum(0), 0, now, len);
                    let _ = self.tables[pt].enter_time_wait(pid, record);
                }
            }
            if let Some(e) = self.hosts[h].ends.get_mut(&id) {
                e.done = true;
            }
            self.end_connection(h, id);
        }
    }

    /// The socket's last handle closed.
    fn last_close(&mut self, h: usize, id: SocketId) {
        self.hosts[h].socks.entry(id).or_default().closed = true;
        let opts = self.hosts[h]
            .socks
            .get(&id)
            .map(|s| s.opts)
            .unwrap_or_default();
        if let Some(l) = self.hosts[h].listeners.remove(&id) {
            self.tables[self.hosts[h].t].remove(id);
            // Linux inet_csk_listen_stop: connections not yet accepted are reset.
            for child in l.ready {
                self.hosts[h].socks.entry(child).or_default().closed = true;
                self.reset_both(h, child);
            }
            return;
        }
        let Some(end) = self.hosts[h].ends.get(&id).cloned() else {
            if !self.tables[self.hosts[h].t].is_time_wait(id) {
                self.tables[self.hosts[h].t].remove(id);
            }
            return;
        };
        if end.done || end.reset {
            if !self.tables[self.hosts[h].t].is_time_wait(id) {
                self.tables[self.hosts[h].t].remove(id);
            }
            self.hosts[h].ends.remove(&id);
            return;
        }
        let cfg = self.hosts[h].cfg;
        let abortive = (opts.linger_secs == Some(0) && cfg.linger_zero_aborts())
            || (end.unread > 0 && cfg.rst_on_close_with_unread);
        if abortive {
            self.reset_both(h, id);
        } else {
            self.send_fin(h, id);
        }
    }

    /// The application's view of socket `id`'s connection, for the shared socket-call
    /// semantics ([`AppSocket`]).
    fn conn_view(&self, h: usize, id: SocketId) -> ConnView {
        let host = &self.hosts[h];
        if host.listeners.contains_key(&id) {
            return ConnView::Listener;
        }
        match host.ends.get(&id) {
            None if host.socks.get(&id).is_some_and(|s| s.app.end.is_some()) => {
                ConnView::Ended { readable: false }
            }
            None => ConnView::Unconnected,
            Some(e) if e.reset => ConnView::Ended { readable: false },
            Some(e) if e.done => ConnView::Ended {
                readable: e.unread > 0,
            },
            Some(e) => ConnView::Open {
                may_send: !e.fin_sent,
                fin_received: e.fin_received,
                readable: e.unread > 0,
            },
        }
    }

    fn state_of(&self, h: usize, name: &str) -> TcpState {
        let host = &self.hosts[h];
        let Some(id) = host.names.get(name).copied() else {
            return TcpState::Closed;
        };
        if self.tables[host.t].is_time_wait(id) {
            return TcpState::TimeWait;
        }
        if host.listeners.contains_key(&id) {
            return TcpState::Listen;
        }
        match host.ends.get(&id) {
            Some(e) if e.reset || e.done => TcpState::Closed,
            Some(e) => match (e.fin_sent, e.fin_received) {
                (false, false) => TcpState::Established,
                (true, false) => TcpState::FinWait2,
                (false, true) => TcpState::CloseWait,
                (true, true) => TcpState::Closed,
            },
            None => TcpState::Closed,
        }
    }
}

/// Replays the steps of `sc` against the address-table model alone: instant, no network.
/// Each host has its own address table, as in the full simulation.
pub fn replay_model(sc: &Resolved) -> Vec<ReplayStep> {
    replay_model_with(sc, false)
}

/// Like [`replay_model`], with `shared_port_space` putting every host in one address table, as
/// when one kernel plays every host on loopback (`twsim replay --kernel`): a wildcard bind on
/// one host then overlaps every other host's address. It also declares that connections use
/// TCP timestamps, as a real kernel's do (Linux then recycles a TIME-WAIT 4-tuple on bind +
/// connect); the plain replay declares them where the profile sends them
/// ([`twsim_model::ProfileConfig::timestamps`]), as the simulator's endpoints do.
pub fn replay_model_with(sc: &Resolved, shared_port_space: bool) -> Vec<ReplayStep> {
    let mut m = Model::new(sc, shared_port_space);
    for t in &mut m.tables {
        let on = shared_port_space || t.config().timestamps;
        t.set_timestamps(on);
    }
    let mut prev_done = Instant::ZERO;
    let mut out = Vec::with_capacity(sc.steps.len());
    for step in &sc.steps {
        m.advance(step.start_time(prev_done));
        let r = m.call(step.host, &step.proc, &step.call, step.timeout, step.starts);
        prev_done = m.now;
        let (result, detail) = match r {
            Ok(d) => (Ok(()), d),
            Err(e) => (Err(e), String::new()),
        };
        out.push(ReplayStep {
            index: step.index,
            host: step.host,
            result,
            detail,
        });
    }
    out
}

mod calls;
#[cfg(test)]
mod tests;

pub use twsim_model::addr::{family_mismatch, host_owns, inet6_connect_refusal};

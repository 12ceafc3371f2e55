//! Replaying a scenario's socket calls without a network: against the address-table model
//! ([`replay_model`]) or, on Linux, against the real kernel's sockets (`crate::kernel`).
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

use crate::rng::stream;
use crate::scenario::{Call, HostTiming, Resolved, SockOpt, WaitFor};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use twsim_model::addr::{is_plain_v6, unmapped, unmapped_endpoint};
use twsim_model::Family;
use twsim_model::{
    AddressTable, Duration, Errno, FourTuple, Instant, Processes, ProfileConfig, SeqNum,
    SockOptions, SocketId, TcpState, TimeWaitRecord,
};
use twsim_model::{AppSocket, ConnEnd, ConnView, RecvOutcome, DEFAULT_WAIT_TIMEOUT};

/// Whether a host whose address is `host` may bind `ip` (as its own or a wildcard): its
/// IPv4 address, `::1`, its v4-mapped address `::ffff:a.b.c.d`, `0.0.0.0`, `[::]` and
/// `[::ffff:0.0.0.0]`. Kernel replay answers EADDRNOTAVAIL itself for anything else
/// (one kernel owns every host's address), and the model replay does the same.
pub fn host_owns(host: Ipv4Addr, ip: IpAddr) -> bool {
    match unmapped(ip) {
        IpAddr::V4(v4) => v4.is_unspecified() || v4 == host,
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_loopback(),
    }
}

/// Linux's answer when a script gives a socket an address of the other family: an IPv6
/// address (`sockaddr_in6`) on an AF_INET socket is EAFNOSUPPORT (`__inet_bind`,
/// `tcp_v4_connect`); an IPv4 one (`sockaddr_in`, too short) on an AF_INET6 socket is EINVAL
/// (`inet6_bind`, `tcp_v6_connect`: `addr_len < SIN6_LEN_RFC2133`).
pub fn family_mismatch(family: Family, a: SocketAddr) -> Option<Errno> {
    match (family, a) {
        (Family::Inet, SocketAddr::V6(_)) => Some(Errno::EAFNOSUPPORT),
        (Family::Inet6, SocketAddr::V4(_)) => Some(Errno::EINVAL),
        _ => None,
    }
}

/// Linux's answer for a connect() from an AF_INET6 socket (`v6only`, bound to `bound`) to
/// `remote` that its address family rules out: a v4-mapped destination is ENETUNREACH for an
/// IPV6_V6ONLY socket (`tcp_v6_connect`) and for a socket bound to a plain IPv6 address (its
/// IPv4 source is `LOOPBACK4_IPV6`, observed on 6.18); a plain IPv6 destination is
/// EAFNOSUPPORT for a socket bound to a v4-mapped address (`ip6_dst_lookup_tail`).
pub fn inet6_connect_refusal(
    v6only: bool,
    bound: Option<SocketAddr>,
    remote: SocketAddr,
) -> Option<Errno> {
    let bound_ip = bound.map(|b| b.ip());
    let mapped = |ip: IpAddr| matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
    if mapped(remote.ip()) {
        (v6only || bound_ip.is_some_and(is_plain_v6)).then_some(Errno::ENETUNREACH)
    } else {
        bound_ip.is_some_and(mapped).then_some(Errno::EAFNOSUPPORT)
    }
}

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

struct RHost {
    addr: Ipv4Addr,
    cfg: ProfileConfig,
    msl: Duration,
    /// Index of this host's address table in `Model::tables` (all hosts share table 0 when
    /// the replay models one kernel playing every host).
    t: usize,
    procs: Processes,
    names: BTreeMap<String, SocketId>,
    opts: BTreeMap<SocketId, SockOptions>,
    /// Address family of each socket (accepted ones inherit their listener's).
    family: BTreeMap<SocketId, Family>,
    listeners: BTreeMap<SocketId, Listener>,
    ends: BTreeMap<SocketId, End>,
    /// Sockets whose last handle closed.
    closed: BTreeMap<SocketId, ()>,
    /// What the application observes of each socket (end, pending `sk_err`): the socket-call
    /// semantics shared with the simulation's host layer.
    app: BTreeMap<SocketId, AppSocket>,
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
                    tables.push(AddressTable::new(cfg, addrs));
                }
                RHost {
                    addr: h.addr,
                    cfg,
                    msl,
                    t: if shared { 0 } else { i },
                    procs: Processes::new(),
                    names: BTreeMap::new(),
                    opts: BTreeMap::new(),
                    family: BTreeMap::new(),
                    listeners: BTreeMap::new(),
                    ends: BTreeMap::new(),
                    closed: BTreeMap::new(),
                    app: BTreeMap::new(),
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
        self.hosts[h].family.get(&id).copied().unwrap_or_default()
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
        if host.closed.contains_key(&id) {
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
                self.hosts[ph].app.entry(pid).or_default().set_end(end);
            }
        }
        if let Some(e) = self.hosts[h].ends.get_mut(&id) {
            e.reset = true;
            self.hosts[h]
                .app
                .entry(id)
                .or_default()
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
        if peer_sent {
            // The peer closed first: it enters TIME-WAIT, this end (LAST-ACK) closes.
            let now = self.now;
            let peer_end = self.hosts[ph].ends.get(&pid).cloned();
            if let Some(pe) = peer_end {
                let pt = self.hosts[ph].t;
                let ph_host = &mut self.hosts[ph];
                let linger = ph_host.opts.get(&pid).and_then(|o| o.linger_secs);
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
        self.hosts[h].closed.insert(id, ());
        let opts = self.hosts[h].opts.get(&id).copied().unwrap_or_default();
        if let Some(l) = self.hosts[h].listeners.remove(&id) {
            self.tables[self.hosts[h].t].remove(id);
            // Linux inet_csk_listen_stop: connections not yet accepted are reset.
            for child in l.ready {
                self.hosts[h].closed.insert(child, ());
                self.reset_both(h, child);
            }
            return;
        }
        let Some(end) = self.hosts[h].ends.get(&id).cloned() else {
            if self.tables[self.hosts[h].t].time_wait(id).is_none() {
                self.tables[self.hosts[h].t].remove(id);
            }
            return;
        };
        if end.done || end.reset {
            if self.tables[self.hosts[h].t].time_wait(id).is_none() {
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
            None if host.app.get(&id).is_some_and(|a| a.end.is_some()) => {
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
        if self.tables[host.t].time_wait(id).is_some() {
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

    fn call(
        &mut self,
        h: usize,
        proc: &str,
        call: &Call,
        timeout: Option<Duration>,
    ) -> Result<String, Errno> {
        if !self.hosts[h].procs.is_alive(proc) {
            return Err(Errno::EBADF);
        }
        let t = self.hosts[h].t;
        match call {
            Call::Socket(name, family) => {
                let host = &mut self.hosts[h];
                let id = self.tables[t].socket(0);
                host.procs.open(proc, id)?;
                host.names.insert(name.clone(), id);
                host.opts.insert(id, SockOptions::default());
                host.family.insert(id, *family);
                Ok(String::new())
            }
            Call::SetSockOpt(name, o) => {
                let id = self.held(h, proc, name)?;
                if let SockOpt::V6Only(_) = o {
                    // Linux: an IPv6-level option on an IPv4 socket is ENOPROTOOPT
                    // (`ip_setsockopt`); IPV6_V6ONLY once the socket has a port is EINVAL
                    // (`do_ipv6_setsockopt`: `inet_num`).
                    if self.family_of(h, id) != Family::Inet6 {
                        return Err(Errno::ENOPROTOOPT);
                    }
                    if self.tables[t].get(id).is_some_and(|e| e.local.is_some()) {
                        return Err(Errno::EINVAL);
                    }
                }
                let host = &mut self.hosts[h];
                let opts = host.opts.entry(id).or_default();
                match *o {
                    SockOpt::ReuseAddr(v) => opts.reuseaddr = v,
                    SockOpt::ReusePort(v) => opts.reuseport = v,
                    SockOpt::Linger(v) => opts.linger_secs = v,
                    SockOpt::V6Only(v) => opts.v6only = v,
                }
                let opts = *opts;
                let _ = self.tables[t].set_options(id, opts);
                Ok(String::new())
            }
            Call::Bind(name, a) => {
                let id = self.held(h, proc, name)?;
                if let Some(e) = family_mismatch(self.family_of(h, id), *a) {
                    return Err(e);
                }
                let host = &mut self.hosts[h];
                let hint = host.rng.next_u32();
                if !host_owns(host.addr, a.ip()) {
                    // Another host's address (the table may know it when hosts share one).
                    return Err(Errno::EADDRNOTAVAIL);
                }
                self.tables[t]
                    .bind(id, *a, hint)
                    .map(|a| format!("bound {a}"))
            }
            Call::Listen(name, backlog) => {
                let id = self.held(h, proc, name)?;
                // An unbound socket binds the wildcard of its own family (`inet_autobind`).
                let wildcard = match self.family_of(h, id) {
                    Family::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    Family::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                let host = &mut self.hosts[h];
                let hint = host.rng.next_u32();
                let a = self.tables[t].listen_with(id, hint, wildcard)?;
                host.listeners.entry(id).or_default().backlog = *backlog;
                Ok(format!("listening on {a}"))
            }
            Call::Connect(name, remote) => self.connect(h, proc, name, *remote, timeout),
            Call::Accept(name, new_name) => {
                let id = self.held(h, proc, name)?;
                let host = &mut self.hosts[h];
                let l = host.listeners.get_mut(&id).ok_or(Errno::EINVAL)?;
                let Some(child) = l.ready.pop_front() else {
                    self.advance(self.now + timeout.unwrap_or(DEFAULT_WAIT_TIMEOUT));
                    return Err(Errno::EAGAIN);
                };
                let host = &mut self.hosts[h];
                host.procs.open(proc, child)?;
                host.names.insert(new_name.clone(), child);
                let t = host
                    .ends
                    .get(&child)
                    .map(|e| e.tuple.to_string())
                    .unwrap_or_default();
                Ok(format!("accepted {t}"))
            }
            Call::Send(name, data) => {
                let id = self.held(h, proc, name)?;
                let view = self.conn_view(h, id);
                self.hosts[h].app.entry(id).or_default().send(view)?;
                let end = self.hosts[h].ends.get(&id).cloned().ok_or(Errno::EPIPE)?;
                let (ph, pid) = end.peer;
                // RFC 1122 §4.2.2.13: data for a socket its application closed draws an RST
                // where the profile follows that SHOULD (Linux); RFC 793 queues it.
                let peer_gone = self.hosts[ph].closed.contains_key(&pid)
                    && self.hosts[ph].cfg.rst_on_close_with_unread;
                if let Some(pe) = self.hosts[ph].ends.get_mut(&pid) {
                    pe.unread += data.len() as u64;
                }
                if peer_gone {
                    // Data for a socket nobody will read: the peer answers with RST.
                    self.reset_both(ph, pid);
                }
                Ok(format!("{} bytes queued", data.len()))
            }
            Call::Recv(name, max) => {
                let id = self.held(h, proc, name)?;
                let view = self.conn_view(h, id);
                let host = &mut self.hosts[h];
                match host.app.entry(id).or_default().recv(view)? {
                    RecvOutcome::Read => {
                        let end = host.ends.get_mut(&id).ok_or(Errno::ENOTCONN)?;
                        let n = max.map_or(end.unread, |m| end.unread.min(u64::from(m)));
                        end.unread -= n;
                        Ok(format!("{n} bytes"))
                    }
                    RecvOutcome::Eof => Ok("end of stream".into()),
                    RecvOutcome::Block => {
                        self.advance(self.now + timeout.unwrap_or(DEFAULT_WAIT_TIMEOUT));
                        Err(Errno::EAGAIN)
                    }
                }
            }
            Call::Shutdown(name, _, write) => {
                let id = self.held(h, proc, name)?;
                let view = self.conn_view(h, id);
                AppSocket::shutdown(view)?;
                if *write && !matches!(view, ConnView::Listener) {
                    self.send_fin(h, id);
                }
                Ok(String::new())
            }
            Call::Close(name) => {
                let id = *self.hosts[h].names.get(name).ok_or(Errno::EBADF)?;
                if self.hosts[h].procs.close(proc, id)? {
                    self.last_close(h, id);
                }
                Ok(String::new())
            }
            Call::Fork(child) => self.hosts[h].procs.fork(proc, child).map(|_| String::new()),
            Call::Exit => {
                for id in self.hosts[h].procs.exit(proc)? {
                    self.last_close(h, id);
                }
                Ok(String::new())
            }
            Call::Wait(w) => self.wait(h, w, timeout),
        }
    }

    fn connect(
        &mut self,
        h: usize,
        proc: &str,
        name: &str,
        remote: SocketAddr,
        timeout: Option<Duration>,
    ) -> Result<String, Errno> {
        let id = self.held(h, proc, name)?;
        if self.hosts[h].listeners.contains_key(&id) {
            // The profile's answer for connect() on a listener; no port is drawn.
            let (t, src) = (self.hosts[h].t, IpAddr::V4(self.hosts[h].addr));
            let r = self.tables[t].connect(id, src, remote, 0, self.now);
            return Err(r.err().unwrap_or(Errno::EINVAL));
        }
        if self.hosts[h].ends.contains_key(&id) {
            // Linux inet_stream_connect: once connected, a socket stays SS_CONNECTED even
            // after its connection ended; only a failed attempt returns it to SS_UNCONNECTED.
            return Err(Errno::EISCONN);
        }
        let t = self.hosts[h].t;
        // The socket's state is checked before the address (`__inet_stream_connect`).
        let family = self.family_of(h, id);
        if let Some(e) = family_mismatch(family, remote) {
            return Err(e);
        }
        if family == Family::Inet6 {
            let v6only = self.hosts[h].opts.get(&id).is_some_and(|o| o.v6only);
            let bound = self.tables[t].get(id).and_then(|e| e.local);
            if let Some(e) = inet6_connect_refusal(v6only, bound, remote) {
                return Err(e);
            }
        }
        let host = &mut self.hosts[h];
        // A new attempt: the previous connection's end is forgotten (its error is not).
        host.app.entry(id).or_default().end = None;
        let hint = host.rng.next_u32();
        // The source routing picks: the host's IPv4 address towards IPv4 (v4-mapped
        // included), ::1 towards IPv6 (loopback is the only IPv6 network here).
        let remote = unmapped_endpoint(remote);
        let src = match remote.ip() {
            IpAddr::V4(_) => IpAddr::V4(host.addr),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        let local = self.tables[t].connect(id, src, remote, hint, self.now)?;
        // A recycled TIME-WAIT (Linux, timestamps, explicit bind + connect) is simply gone.
        let _ = self.tables[t].take_recycled();
        let tuple = FourTuple::new(local, remote);
        let deadline = timeout.unwrap_or(host.cfg.connect_timeout);
        let Some(sh) = self.host_of(h, remote.ip()) else {
            self.tables[self.hosts[h].t].disconnected(id);
            self.advance(self.now + deadline);
            return Err(Errno::ETIMEDOUT);
        };
        let server_tuple = tuple.reversed();
        // A TIME-WAIT record on the server side for this 4-tuple: the new SYN reopens it
        // (RFC 1122 §4.2.2.13, Linux TCP_TW_SYN with a listener; RFC 793: ACK, RST, retry).
        if let Some(tw) = self.tables[self.hosts[sh].t].lookup_tuple(&server_tuple) {
            if self.tables[self.hosts[sh].t].time_wait(tw).is_some() {
                self.tables[self.hosts[sh].t].remove(tw);
            }
        }
        // The server host draws one number per SYN, as the simulator's host layer does.
        let r = self.hosts[sh].rng.next_u32();
        let listener = match self.tables[self.hosts[sh].t].choose_listener(
            server_tuple.local,
            server_tuple.remote,
            r,
        ) {
            twsim_model::ListenerVerdict::Listener(id) => Some(id),
            twsim_model::ListenerVerdict::None => None,
            twsim_model::ListenerVerdict::Refuse { .. } => {
                self.tables[self.hosts[h].t].disconnected(id);
                return Err(Errno::ECONNREFUSED);
            }
        };
        // With one table for every host (one kernel), the listener found may belong to another
        // host (a wildcard listener covers every local address): the connection goes to it.
        let sh = match listener {
            Some(lid) if self.shared => self
                .hosts
                .iter()
                .position(|x| x.listeners.contains_key(&lid))
                .unwrap_or(sh),
            _ => sh,
        };
        let Some(lid) = listener else {
            self.tables[self.hosts[h].t].disconnected(id);
            return Err(Errno::ECONNREFUSED);
        };
        let l = &self.hosts[sh].listeners[&lid];
        // Linux sk_acceptq_is_full admits backlog + 1 connections; other profiles `backlog`.
        if l.ready.len() as u32 >= crate::host::accept_queue_limit(&self.hosts[sh].cfg, l.backlog) {
            self.tables[self.hosts[h].t].disconnected(id);
            self.advance(self.now + deadline);
            return Err(Errno::ETIMEDOUT);
        }
        let child = match self.tables[self.hosts[sh].t].accept_child(lid, server_tuple) {
            Ok(c) => c,
            Err(_) => {
                // A live connection already holds the server's side of this 4-tuple: the SYN
                // is answered with a challenge ACK and the connect never completes.
                self.tables[self.hosts[h].t].disconnected(id);
                self.advance(self.now + deadline);
                return Err(Errno::ETIMEDOUT);
            }
        };
        let lopts = self.hosts[sh].opts.get(&lid).copied().unwrap_or_default();
        let lfamily = self.family_of(sh, lid);
        let server = &mut self.hosts[sh];
        server.opts.insert(child, lopts);
        server.family.insert(child, lfamily);
        server
            .listeners
            .get_mut(&lid)
            .expect("present")
            .ready
            .push_back(child);
        let fresh = |peer, tuple| End {
            peer,
            tuple,
            fin_sent: false,
            fin_received: false,
            unread: 0,
            reset: false,
            done: false,
        };
        server.ends.insert(child, fresh((h, id), server_tuple));
        self.hosts[h].ends.insert(id, fresh((sh, child), tuple));
        Ok(format!("connected {tuple}"))
    }

    fn wait(&mut self, h: usize, w: &WaitFor, timeout: Option<Duration>) -> Result<String, Errno> {
        let deadline = self.now + timeout.unwrap_or(DEFAULT_WAIT_TIMEOUT);
        match w {
            WaitFor::Time(d) => {
                self.advance(self.now + *d);
                Ok(String::new())
            }
            WaitFor::State(name, st) => loop {
                if self.state_of(h, name) == *st {
                    return Ok(String::new());
                }
                match self.next_expiry().filter(|t| *t <= deadline) {
                    Some(t) => self.advance(t),
                    None => {
                        self.advance(deadline);
                        return Err(Errno::ETIMEDOUT);
                    }
                }
            },
            WaitFor::Bindable(name, a) => {
                let id = *self.hosts[h].names.get(name).ok_or(Errno::EBADF)?;
                let opts = self.hosts[h].opts.get(&id).copied().unwrap_or_default();
                // What time cannot change is answered at once, as by kernel replay's scratch
                // bind: the wrong family, another host's address, a v4-mapped address on an
                // IPV6_V6ONLY socket.
                if let Some(e) = family_mismatch(self.family_of(h, id), *a) {
                    return Err(e);
                }
                if !host_owns(self.hosts[h].addr, a.ip()) {
                    return Err(Errno::EADDRNOTAVAIL);
                }
                if self.tables[self.hosts[h].t]
                    .get(id)
                    .is_some_and(|e| e.local.is_some())
                {
                    // Already bound: bind() would say EINVAL whatever time does.
                    return Err(Errno::EINVAL);
                }
                loop {
                    match self.tables[self.hosts[h].t].check_bind(*a, opts, 0) {
                        Ok(()) => return Ok(String::new()),
                        // A conflict may end (TIME-WAIT expires, a socket closes).
                        Err(Errno::EADDRINUSE | Errno::EACCES) => {}
                        Err(e) => return Err(e),
                    }
                    match self.next_expiry().filter(|t| *t <= deadline) {
                        Some(t) => self.advance(t),
                        None => {
                            self.advance(deadline);
                            return Err(Errno::ETIMEDOUT);
                        }
                    }
                }
            }
        }
    }

    fn next_expiry(&self) -> Option<Instant> {
        self.tables.iter().filter_map(|t| t.poll_timeout()).min()
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
/// connect); the simulator's smoltcp endpoints do not, so the plain replay leaves them off.
pub fn replay_model_with(sc: &Resolved, shared_port_space: bool) -> Vec<ReplayStep> {
    let mut m = Model::new(sc, shared_port_space);
    for t in &mut m.tables {
        t.set_timestamps(shared_port_space);
    }
    let mut prev_done = Instant::ZERO;
    let mut out = Vec::with_capacity(sc.steps.len());
    for step in &sc.steps {
        m.advance(step.start_time(prev_done));
        let r = m.call(step.host, &step.proc, &step.call, step.timeout);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{parse, Overrides};
    use serde_json::{json, Value};

    fn scenario(steps: Vec<Value>) -> Resolved {
        let doc = json!({
            "name": "replay-test",
            "hosts": [
                { "name": "server", "addr": "10.0.0.2" },
                { "name": "client", "addr": "10.0.0.1" }
            ],
            "steps": steps
        })
        .to_string();
        parse("<test>", &doc)
            .expect("parses")
            .resolve("<test>", &doc, None, &Overrides::default())
            .expect("resolves")
    }

    fn results(out: &[ReplayStep]) -> Vec<Option<Errno>> {
        out.iter().map(|s| s.result.err()).collect()
    }

    /// `::1` is every host's own loopback: with a table per host two hosts bind it and a
    /// connect to it stays on the connecting host; with one table (one kernel) the second
    /// bind conflicts and the connect reaches the other host's listener.
    #[test]
    fn loopback6_is_each_hosts_own_unless_one_kernel_plays_them_all() {
        let sc = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }),
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": "[::1]:80" }),
            json!({ "host": "server", "call": "listen", "sock": "L" }),
            json!({ "host": "client", "call": "socket", "sock": "B", "family": "inet6" }),
            json!({ "host": "client", "call": "bind", "sock": "B", "addr": "[::1]:80" }),
            json!({ "host": "client", "call": "socket", "sock": "C", "family": "inet6" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": "[::1]:80" }),
        ]);
        let own = replay_model(&sc);
        assert_eq!(results(&own)[4], None);
        assert_eq!(results(&own)[6], Some(Errno::ECONNREFUSED));
        let shared = replay_model_with(&sc, true);
        assert_eq!(results(&shared)[4], Some(Errno::EADDRINUSE));
        assert_eq!(results(&shared)[6], None);
        assert!(
            shared[6].detail.starts_with("connected [::1]:"),
            "{}",
            shared[6].detail
        );
    }

    /// A dual-stack listener takes IPv4 and v4-mapped clients; the 4-tuple is the IPv4 one
    /// whichever family spelled it. A listen on an unbound IPv6 socket binds `[::]`.
    #[test]
    fn dual_stack_listener_and_v4_mapped_clients() {
        let sc = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }),
            json!({ "host": "server", "call": "listen", "sock": "L" }),
            json!({ "host": "client", "call": "socket", "sock": "C", "family": "inet6" }),
            json!({ "host": "client", "call": "bind", "sock": "C", "addr": "[::ffff:10.0.0.1]:5000" }),
            json!({ "host": "server", "call": "socket", "sock": "M", "family": "inet6" }),
            json!({ "host": "server", "call": "bind", "sock": "M", "addr": "[::ffff:10.0.0.1]:5000" }),
        ]);
        let out = replay_model(&sc);
        assert!(
            out[1].detail.starts_with("listening on [::]:"),
            "{}",
            out[1].detail
        );
        assert_eq!(results(&out)[3], None);
        // Another host's v4-mapped address is not the server's.
        assert_eq!(results(&out)[5], Some(Errno::EADDRNOTAVAIL));

        let port: u16 = out[1].detail.rsplit(':').next().unwrap().parse().unwrap();
        let sc = scenario(vec![
            json!({ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }),
            json!({ "host": "server", "call": "bind", "sock": "L", "addr": format!("[::]:{port}") }),
            json!({ "host": "server", "call": "listen", "sock": "L" }),
            json!({ "host": "client", "call": "socket", "sock": "C", "family": "inet6" }),
            json!({ "host": "client", "call": "setsockopt", "sock": "C", "opt": "SO_REUSEADDR", "value": 1 }),
            json!({ "host": "client", "call": "bind", "sock": "C", "addr": "[::ffff:10.0.0.1]:5000" }),
            json!({ "host": "client", "call": "connect", "sock": "C", "addr": format!("[::ffff:10.0.0.2]:{port}") }),
            json!({ "host": "server", "call": "accept", "sock": "L", "as": "A" }),
            json!({ "host": "client", "call": "socket", "sock": "D" }),
            json!({ "host": "client", "call": "setsockopt", "sock": "D", "opt": "SO_REUSEADDR", "value": 1 }),
            json!({ "host": "client", "call": "bind", "sock": "D", "addr": "10.0.0.1:5000" }),
            json!({ "host": "client", "call": "connect", "sock": "D", "addr": format!("10.0.0.2:{port}") }),
        ]);
        let out = replay_model(&sc);
        assert_eq!(
            out[6].detail,
            format!("connected 10.0.0.1:5000<->10.0.0.2:{port}")
        );
        assert_eq!(
            out[7].detail,
            format!("accepted 10.0.0.2:{port}<->10.0.0.1:5000")
        );
        // SO_REUSEADDR on both lets an IPv4 socket bind the address, but the same 4-tuple
        // spelled in IPv4 is taken.
        assert_eq!(results(&out)[10], None);
        assert_eq!(results(&out)[11], Some(Errno::EADDRNOTAVAIL));
    }

    #[test]
    fn family_rules_for_bind_and_connect() {
        let v4 = "10.0.0.2:80".parse().unwrap();
        let v6 = "[::1]:80".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:10.0.0.2]:80".parse().unwrap();
        assert_eq!(family_mismatch(Family::Inet, v6), Some(Errno::EAFNOSUPPORT));
        assert_eq!(family_mismatch(Family::Inet6, v4), Some(Errno::EINVAL));
        assert_eq!(family_mismatch(Family::Inet6, mapped), None);
        assert_eq!(
            inet6_connect_refusal(true, None, mapped),
            Some(Errno::ENETUNREACH)
        );
        assert_eq!(
            inet6_connect_refusal(false, Some(v6), mapped),
            Some(Errno::ENETUNREACH)
        );
        assert_eq!(
            inet6_connect_refusal(false, Some(mapped), v6),
            Some(Errno::EAFNOSUPPORT)
        );
        assert_eq!(
            inet6_connect_refusal(false, Some("[::]:0".parse().unwrap()), mapped),
            None
        );
        assert!(host_owns(Ipv4Addr::new(10, 0, 0, 2), mapped.ip()));
        assert!(!host_owns(Ipv4Addr::new(10, 0, 0, 1), mapped.ip()));
        assert!(host_owns(Ipv4Addr::new(10, 0, 0, 1), v6.ip()));
    }
}

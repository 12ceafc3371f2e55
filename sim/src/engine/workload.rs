//! Workloads in the event loop: each connection is a small state machine (connect, send the
//! request, read the response, think, close; the server side: accept, read the request, send
//! the response, close), stepped when the loop runs and woken by its own deadlines. Arrivals
//! are computed one at a time (periodic: exact integer arithmetic; Poisson: exponential
//! inter-arrival times from the workload's random stream `rng::stream(seed, "workload/NAME")`).
//! Only live connections are kept; what finished lives on as counters and a fixed-bucket
//! latency histogram, so memory is bounded by live state and the cost of an iteration by the
//! number of live workload connections waiting on the network, whatever the history
//! (connections in their think time sleep in a map ordered by wake time until it ends).
//!
//! Every socket call goes through the host layer, so the trace shows workload connections with
//! the usual records (state changes, segments, TIME-WAIT).

use super::stats::{Occupancy, WorkloadStats};
use super::Sim;
use crate::delay::ln;
use crate::rng::{stream, unit};
use crate::scenario::{Arrivals, Workload, WorkloadEnd};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, SocketAddrV4};
use twsim_model::id_map::IdMap;
use twsim_model::{Duration, Errno, Instant, Pid, SocketId};

/// Most bytes moved per send or recv call of a workload connection (the socket buffers hold
/// 16 KiB).
const CHUNK: usize = 16 * 1024;
/// The bytes workload connections send (their content is not examined).
static PAYLOAD: [u8; CHUNK] = [b'x'; CHUNK];

#[derive(Clone, Copy)]
enum Phase {
    /// Client: waiting for the handshake, until the deadline.
    Connecting { since: Instant, deadline: Instant },
    /// Bytes left to send.
    Send(u64),
    /// Bytes left to read.
    Recv(u64),
    /// The first closer waits until then.
    Think(Instant),
    /// Waiting for the peer's end of stream, then closing.
    Eof,
}

#[derive(Clone, Copy)]
struct Conn {
    /// Connection id, in order of creation (the order a pass steps connections in).
    id: u64,
    wl: usize,
    /// 1-based index of a client connection among its workload's attempts.
    n: u64,
    client: bool,
    host: usize,
    /// The workload's process on `host` (its number, looked up once).
    proc: Pid,
    sock: SocketId,
    phase: Phase,
}

struct Wl {
    /// Index of the next arrival.
    next_i: u64,
    /// When it happens (`None`: no more).
    next_at: Option<Instant>,
    /// The previous arrival's offset from the start, µs (Poisson).
    offset_us: f64,
    rng: ChaCha8Rng,
    listener: Option<SocketId>,
    started: bool,
    accepted: u64,
    /// Connect deadlines of the workload's connections, as (deadline, id, slot) in deadline
    /// order: one timeout per workload, so the order of creation. An entry whose connection
    /// no longer connects is stale; the front never is ([`Workloads::settle`]), and stale
    /// entries are dropped once they outnumber the live ones.
    deadlines: VecDeque<(Instant, u64, u32)>,
    /// Connections of the workload still connecting.
    connecting: usize,
    stats: WorkloadStats,
}

/// A workload whose server listens.
struct Listening {
    /// The workload.
    wl: usize,
    /// Its server host.
    server: usize,
    /// The listener.
    sock: SocketId,
    /// The server host's `Sim::marks` (changes) when the listener was last found with nothing
    /// ready (`u64::MAX`: never): it cannot have a connection ready before the host changes
    /// again.
    seen: u64,
}

/// Every workload's state.
pub(super) struct Workloads {
    wls: Vec<Wl>,
    /// The workloads whose server listens, in workload order.
    listening: Vec<Listening>,
    /// The earliest start of a workload not started yet or arrival of any (`None`: none left):
    /// before then [`Sim::run_workloads`] has nothing to set up and no connection to open.
    arrivals_from: Option<Instant>,
    /// Connections waiting on the network, by slot (`free` lists the empty slots), stepped
    /// when something happened to them: their host woke their socket
    /// ([`Host::take_woken`]: a segment delivered, a state change), their connect deadline
    /// came, or they woke from thinking. A connection just created is connecting
    /// (`SYN-SENT`): it has nothing to do before one of these.
    conns: Vec<Option<Conn>>,
    free: Vec<u32>,
    /// Connections in `conns`.
    live: usize,
    /// The slot in `conns` of each socket, per host (indexed by socket id).
    by_sock: Vec<IdMap<u32>>,
    /// Reused buffers of a pass.
    woken: Vec<SocketId>,
    due: Vec<(u64, u32)>,
    /// Connections thinking, by wake time: not stepped until then.
    sleeping: BTreeMap<(Instant, u64), Conn>,
    /// The earliest wake time in `sleeping` (`None`: it is empty).
    wake_sleeping: Option<Instant>,
    /// [`Workloads::next_wake`] as last computed, or `None` when an arrival, a connect
    /// deadline or a sleeper changed since.
    wake: Option<Option<Instant>>,
    next_conn: u64,
    /// Per host.
    pub(super) occupancy: Vec<Occupancy>,
    /// When the last connection finished or the last arrival happened.
    pub(super) last_activity: Instant,
}

impl Workloads {
    /// No workload is waiting to open connections and none has a live connection.
    pub(super) fn idle(&self) -> bool {
        self.live == 0 && self.sleeping.is_empty() && self.wls.iter().all(|w| w.next_at.is_none())
    }

    /// The earliest start of a workload not started yet or arrival of any; `None` when none
    /// is left ([`Workloads::arrivals_from`]).
    fn arrivals_from(&self, ws: &[Workload]) -> Option<Instant> {
        self.wls
            .iter()
            .zip(ws)
            .flat_map(|(wl, w)| [(!wl.started).then(|| Instant::ZERO + w.start), wl.next_at])
            .flatten()
            .min()
    }

    /// The earliest arrival, connect deadline or end of think time, computed again only
    /// after one of them changed ([`Workloads::wake`]).
    #[inline]
    pub(super) fn next_wake(&mut self) -> Option<Instant> {
        if let Some(t) = self.wake {
            return t;
        }
        let t = self.earliest_wake();
        self.wake = Some(t);
        t
    }

    /// [`Workloads::next_wake`], computed.
    #[inline(never)]
    fn earliest_wake(&self) -> Option<Instant> {
        let mut wake = self.wake_sleeping;
        for w in &self.wls {
            wake = super::earlier(wake, w.next_at);
            if let Some(&(t, _, _)) = w.deadlines.front() {
                wake = super::earlier(wake, Some(t));
            }
        }
        wake
    }

    /// Drops workload `w`'s stale deadlines at the front, and every stale one once they
    /// outnumber the live ones (memory follows the connections still connecting).
    fn settle(&mut self, w: usize) {
        self.wake = None;
        let (wl, conns) = (&mut self.wls[w], &self.conns);
        while let Some(&(_, id, slot)) = wl.deadlines.front() {
            if connecting(conns, id, slot) {
                break;
            }
            wl.deadlines.pop_front();
        }
        if wl.deadlines.len() > 2 * wl.connecting + 32 {
            wl.deadlines
                .retain(|&(_, id, slot)| connecting(conns, id, slot));
        }
    }

    /// Moves the sleepers whose think time has ended by `now` back to the live connections,
    /// each due at this pass.
    #[inline(never)]
    fn wake_sleepers(&mut self, now: Instant) {
        while let Some(entry) = self.sleeping.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), c) = entry.remove_entry();
            let slot = self.insert(c);
            self.due.push((id, slot));
        }
        self.wake_sleeping = self.sleeping.first_key_value().map(|((t, _), _)| *t);
        self.wake = None;
    }

    /// Moves the thinkers whose time has come by `now` back to the live connections, and
    /// makes due at this pass every connection still connecting whose connect deadline has
    /// come.
    #[inline(never)]
    fn wake_due(&mut self, now: Instant) {
        if self.wake_sleeping.is_some_and(|t| t <= now) {
            self.wake_sleepers(now);
        }
        for w in 0..self.wls.len() {
            if self.wls[w]
                .deadlines
                .front()
                .is_some_and(|(t, _, _)| *t <= now)
            {
                self.due_deadlines(w, now);
            }
        }
    }

    /// Makes due at this pass workload `w`'s connections still connecting whose connect
    /// deadline has come by `now`.
    #[inline(never)]
    fn due_deadlines(&mut self, w: usize, now: Instant) {
        let conns = &self.conns;
        self.due.extend(
            self.wls[w]
                .deadlines
                .iter()
                .take_while(|(t, _, _)| *t <= now)
                .filter(|&&(_, id, slot)| connecting(conns, id, slot))
                .map(|&(_, id, slot)| (id, slot)),
        );
    }

    /// Adds a live connection (not thinking); returns its slot.
    fn insert(&mut self, c: Conn) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.conns.push(None);
                (self.conns.len() - 1) as u32
            }
        };
        self.by_sock[c.host].insert(c.sock, slot);
        if let Phase::Connecting { deadline, .. } = c.phase {
            let w = &mut self.wls[c.wl];
            w.deadlines.push_back((deadline, c.id, slot));
            self.wake = None;
            w.connecting += 1;
        }
        self.conns[slot as usize] = Some(c);
        self.live += 1;
        slot
    }

    /// Removes the live connection in `slot` (finished, or going to think); its connect
    /// deadline, while it is still connecting, becomes stale (the pass that steps a
    /// connection out of connecting counts that itself).
    fn remove(&mut self, slot: u32) {
        let Some(c) = self.conns[slot as usize].take() else {
            return;
        };
        self.free.push(slot);
        self.live -= 1;
        self.by_sock[c.host].remove(c.sock);
        if let Phase::Connecting { .. } = c.phase {
            self.wls[c.wl].connecting -= 1;
        }
    }

    /// Removes the live connection in `slot` ([`Workloads::remove`]) and returns it.
    #[inline(never)]
    fn take(&mut self, slot: u32) -> Option<Conn> {
        let c = *self.conns[slot as usize].as_ref()?;
        self.remove(slot);
        Some(c)
    }

    /// Closes every host's steady window at `now`, the last arrival of the last workload.
    #[cold]
    #[inline(never)]
    fn arrivals_over(&mut self, now: Instant) {
        for o in &mut self.occupancy {
            o.steady_to = Some(now);
            o.area_to = Some(o.area);
            if o.area_from.is_none() {
                o.area_to = None;
            }
        }
    }

    /// The statistics, in workload order.
    pub(super) fn into_stats(self) -> (Vec<WorkloadStats>, Vec<Occupancy>) {
        (
            self.wls.into_iter().map(|w| w.stats).collect(),
            self.occupancy,
        )
    }
}

/// Whether the connection `id` in `slot` is live and still connecting (its deadline entry is
/// not stale).
fn connecting(conns: &[Option<Conn>], id: u64, slot: u32) -> bool {
    matches!(
        &conns[slot as usize],
        Some(c) if c.id == id && matches!(c.phase, Phase::Connecting { .. })
    )
}

/// When arrival `i` of `w` happens, drawing from `wl.rng` for Poisson arrivals; `None` past
/// the end.
fn arrival_time(w: &Workload, wl: &mut Wl, i: u64) -> Option<Instant> {
    if let WorkloadEnd::Count(n) = w.end {
        if i >= n {
            return None;
        }
    }
    let offset_us: u128 = match w.arrivals {
        Arrivals::Periodic(r) => r.periodic_offset_us(i),
        Arrivals::Poisson(r) => {
            if i > 0 {
                let mean = r.per_us as f64 / r.per as f64;
                let u = 1.0 - unit(&mut wl.rng); // (0, 1]
                wl.offset_us += -mean * ln(u);
            }
            wl.offset_us as u128
        }
    };
    if let WorkloadEnd::Duration(d) = w.end {
        if offset_us >= u128::from(d.micros()) {
            return None;
        }
    }
    Some(Instant::ZERO + w.start + Duration::from_micros(offset_us as u64))
}

impl Sim<'_> {
    /// The workloads' state at the start of a run.
    pub(super) fn new_workloads(&self) -> Workloads {
        let first_start = self.sc.workloads.iter().map(|w| w.start).min();
        let wls = self
            .sc
            .workloads
            .iter()
            .map(|w| {
                let mut wl = Wl {
                    next_i: 0,
                    next_at: None,
                    offset_us: 0.0,
                    rng: stream(self.sc.seed, &format!("workload/{}", w.name)),
                    listener: None,
                    started: false,
                    accepted: 0,
                    deadlines: VecDeque::new(),
                    connecting: 0,
                    stats: WorkloadStats {
                        name: w.name.clone(),
                        ..WorkloadStats::default()
                    },
                };
                wl.next_at = arrival_time(w, &mut wl, 0);
                wl
            })
            .collect();
        let occupancy = self
            .hosts
            .iter()
            .map(|h| Occupancy {
                host: h.name.clone(),
                steady_from: Instant::ZERO + first_start.unwrap_or(Duration::ZERO) + h.tw_len,
                ..Occupancy::default()
            })
            .collect();
        let mut wl = Workloads {
            wls,
            listening: Vec::new(),
            arrivals_from: None,
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            by_sock: self.hosts.iter().map(|_| IdMap::default()).collect(),
            woken: Vec::new(),
            due: Vec::new(),
            sleeping: BTreeMap::new(),
            wake_sleeping: None,
            wake: None,
            next_conn: 0,
            occupancy,
            last_activity: Instant::ZERO,
        };
        wl.arrivals_from = wl.arrivals_from(&self.sc.workloads);
        wl
    }

    /// Integrates every host's TIME-WAIT count from now until `to` (called before time
    /// advances).
    pub(super) fn integrate_occupancy(&mut self, wl: &mut Workloads, to: Instant) {
        if self.sc.workloads.is_empty() {
            return;
        }
        let now = self.now;
        let dt = u128::from((to - now).micros());
        for (o, h) in wl.occupancy.iter_mut().zip(&self.hosts) {
            let n = h.table.time_wait_count();
            if n == 0 {
                if o.area_from.is_none() && o.steady_from <= to {
                    o.area_from = Some(o.area);
                }
                continue;
            }
            o.max = o.max.max(n);
            let c = n as u128;
            if o.area_from.is_none() && o.steady_from <= to {
                o.area_from = Some(o.area + c * (o.steady_from.max(now) - now).micros() as u128);
            }
            o.area += c * dt;
        }
    }

    /// Sets up every workload whose start has come and makes every arrival due now, in
    /// workload order.
    #[inline(never)]
    fn run_arrivals(&mut self, wl: &mut Workloads) {
        let sc = self.sc;
        let now = self.now;
        wl.wake = None;
        for (i, w) in sc.workloads.iter().enumerate() {
            if !wl.wls[i].started && Instant::ZERO + w.start <= now {
                self.start_workload(i, w, wl);
            }
            while wl.wls[i].next_at.is_some_and(|t| t <= now) {
                self.arrive(i, w, wl);
                let n = wl.wls[i].next_i + 1;
                wl.wls[i].next_i = n;
                let next = arrival_time(w, &mut wl.wls[i], n);
                wl.wls[i].next_at = next;
                wl.last_activity = now;
                if next.is_none() && wl.wls.iter().all(|w| w.next_at.is_none()) {
                    wl.arrivals_over(now);
                }
            }
        }
    }

    /// Starts workload `i` (`w`): its processes and its server's listener, which joins
    /// `wl.listening`.
    #[cold]
    #[inline(never)]
    fn start_workload(&mut self, i: usize, w: &Workload, wl: &mut Workloads) {
        wl.wls[i].started = true;
        self.setup_server(w, &mut wl.wls[i]);
        if let Some(l) = wl.wls[i].listener {
            let at = wl.listening.partition_point(|x| x.wl < i);
            wl.listening.insert(
                at,
                Listening {
                    wl: i,
                    server: w.server,
                    sock: l,
                    seen: u64::MAX,
                },
            );
        }
    }

    /// Runs every workload action due now: server setup, arrivals, then every live
    /// connection's next step, and accepts.
    pub(super) fn run_workloads(&mut self, wl: &mut Workloads) {
        let sc = self.sc;
        let now = self.now;
        if wl.arrivals_from.is_some_and(|t| t <= now) {
            self.run_arrivals(wl);
            wl.arrivals_from = wl.arrivals_from(&sc.workloads);
        }
        self.accept_all(wl);
        // The connections to step, in connection order: stepping any other would find it
        // blocked where it was (nothing reached its socket, its deadline is not due).
        wl.due.clear();
        // Sleepers whose think time has ended and connections whose connect deadline has come
        // (the arrivals due now were made above).
        if wl.next_wake().is_some_and(|t| t <= now) {
            wl.wake_due(now);
        }
        let woken = &mut wl.woken;
        for ((m, h), by_sock) in self.marks.iter_mut().zip(&mut self.hosts).zip(&wl.by_sock) {
            // Only a change to the host can have woken a socket.
            if m.woken_seen == m.changes {
                continue;
            }
            m.woken_seen = m.changes;
            woken.clear();
            h.take_woken(woken);
            let mut last = None;
            for &s in woken.iter() {
                // A socket woken twice in a row is looked up once (`due` is deduplicated).
                if last == Some(s) {
                    continue;
                }
                last = Some(s);
                if let Some(&slot) = by_sock.get(s) {
                    let id = wl.conns[slot as usize].as_ref().map_or(0, |c| c.id);
                    wl.due.push((id, slot));
                }
            }
        }
        if wl.due.len() > 1 {
            wl.due.sort_unstable();
            wl.due.dedup();
        }
        let mut finished = false;
        // Whether a connection stopped connecting (its deadline went stale).
        let mut stale = false;
        // By index: stepping changes `wl` (never `due`).
        for k in 0..wl.due.len() {
            let (id, slot) = wl.due[k];
            let Some(c) = wl.conns[slot as usize].as_mut().filter(|c| c.id == id) else {
                continue;
            };
            let was_connecting = matches!(c.phase, Phase::Connecting { .. });
            let alive = self.step_conn(&sc.workloads[c.wl], &mut wl.wls[c.wl].stats, c);
            let host = c.host;
            if was_connecting && !matches!(c.phase, Phase::Connecting { .. }) {
                wl.wls[c.wl].connecting -= 1;
                stale = true;
            }
            stale |= was_connecting && !alive;
            match c.phase {
                _ if !alive => {
                    finished = true;
                    wl.remove(slot);
                }
                Phase::Think(t) => {
                    let c = wl.take(slot).expect("stepped");
                    wl.sleeping.insert((t, id), c);
                    wl.wake_sleeping = super::earlier(wl.wake_sleeping, Some(t));
                    wl.wake = None;
                }
                _ => {}
            }
            self.flush(host);
        }
        // Only a connection that stopped connecting leaves a stale deadline.
        if stale {
            for w in 0..wl.wls.len() {
                wl.settle(w);
            }
        }
        if finished {
            wl.last_activity = now;
        }
        // A step may have let a server accept at once (without one, no host changed since
        // the accepts above).
        if !wl.due.is_empty() {
            self.accept_all(wl);
        }
    }

    /// Accepts every connection ready at a workload's listener, stepping each at once. A
    /// listener whose host has not changed since it was last found with nothing ready is not
    /// asked again.
    #[inline(always)]
    fn accept_all(&mut self, wl: &mut Workloads) {
        for k in 0..wl.listening.len() {
            let Listening {
                server, sock, seen, ..
            } = wl.listening[k];
            let changes = self.marks[server].changes;
            if seen == changes {
                continue;
            }
            if self.hosts[server].has_ready(sock) {
                self.accept_ready(k, wl);
            } else {
                wl.listening[k].seen = changes;
            }
        }
    }

    /// Accepts every connection ready at the listener `wl.listening[k]`.
    #[inline(never)]
    fn accept_ready(&mut self, k: usize, wl: &mut Workloads) {
        let Listening { wl: i, sock: l, .. } = wl.listening[k];
        let w = &self.sc.workloads[i];
        loop {
            if !self.hosts[w.server].has_ready(l) {
                wl.listening[k].seen = self.marks[w.server].changes;
                return;
            }
            let n = wl.wls[i].accepted;
            let h = self.host_mut(w.server);
            let label = if h.record {
                label(&w.name, 's', n)
            } else {
                String::new()
            };
            let proc = h.pid(&w.name);
            match h.accept_id(proc, l, label) {
                Ok(Some((_, sock))) => {
                    wl.wls[i].accepted += 1;
                    let id = wl.next_conn;
                    wl.next_conn += 1;
                    let mut c = Conn {
                        id,
                        wl: i,
                        n: 0,
                        client: false,
                        host: w.server,
                        proc,
                        sock,
                        phase: Phase::Recv(w.request),
                    };
                    if self.step_conn(w, &mut wl.wls[i].stats, &mut c) {
                        wl.insert(c);
                    }
                    self.flush(w.server);
                }
                _ => return,
            }
        }
    }

    /// Starts the workload's processes and its server's listener.
    fn setup_server(&mut self, w: &Workload, wl: &mut Wl) {
        let _ = self.host_mut(w.client).procs.start(&w.name);
        let h = self.host_mut(w.server);
        let r = (|| {
            h.procs
                .start(&w.name)
                .map_err(|e| format!("start: {}", e.name()))?;
            let p = h.pid(&w.name);
            let l = h
                .open_socket(p, format!("{}.listen", w.name), false)
                .map_err(|e| format!("socket: {}", e.name()))?;
            h.bind_id(p, l, SocketAddr::V4(w.to))
                .map_err(|e| format!("bind: {}", e.name()))?;
            h.listen_id(p, l, w.backlog)
                .map_err(|e| format!("listen: {}", e.name()))?;
            Ok::<_, String>(l)
        })();
        match r {
            Ok(l) => wl.listener = Some(l),
            Err(e) => wl.stats.setup_error = Some(e),
        }
        self.flush(w.server);
    }

    /// One arrival: a client socket, an optional bind, the connect.
    fn arrive(&mut self, i: usize, w: &Workload, wl: &mut Workloads) {
        let now = self.now;
        let n = wl.wls[i].next_i;
        let stats = &mut wl.wls[i].stats;
        stats.attempted += 1;
        let h = self.host_mut(w.client);
        let label = if h.record {
            label(&w.name, 'c', n)
        } else {
            String::new()
        };
        let fail = |stats: &mut WorkloadStats, e: Errno| failed(stats, n + 1, now, e);
        let p = h.pid(&w.name);
        let sock = match h.open_socket(p, label, false) {
            Ok(s) => s,
            Err(e) => return fail(stats, e),
        };
        if let Some(port) = w.from_port {
            if let Err(e) = h.bind_id(p, sock, SocketAddr::V4(SocketAddrV4::new(h.addr, port))) {
                fail(stats, e);
                let _ = h.close_id(now, p, sock);
                self.flush(w.client);
                return;
            }
        }
        match h.connect_id(now, p, sock, SocketAddr::V4(w.to)) {
            Ok(_) => {
                let timeout = w.connect_timeout.unwrap_or(h.cfg.connect_timeout);
                let id = wl.next_conn;
                wl.next_conn += 1;
                wl.insert(Conn {
                    id,
                    wl: i,
                    n: n + 1,
                    client: true,
                    host: w.client,
                    proc: p,
                    sock,
                    phase: Phase::Connecting {
                        since: now,
                        deadline: now + timeout,
                    },
                });
            }
            Err(e) => {
                fail(stats, e);
                let _ = h.close_id(now, p, sock);
            }
        }
        self.flush(w.client);
    }

    /// Advances one connection as far as it can go now; `false` once it is finished (closed).
    fn step_conn(&mut self, w: &Workload, stats: &mut WorkloadStats, c: &mut Conn) -> bool {
        let now = self.now;
        let h = self.host_mut(c.host);
        let p = c.proc;
        loop {
            match c.phase {
                Phase::Connecting { since, deadline } => match h.connect_result_id(c.sock) {
                    None if now >= deadline => {
                        h.connect_timeout_id(now, c.sock);
                        failed(stats, c.n, now, Errno::ETIMEDOUT);
                        let _ = h.close_id(now, p, c.sock);
                        return false;
                    }
                    None => return true,
                    Some(Ok(())) => {
                        stats.connected += 1;
                        stats.latency.add(now - since);
                        c.phase = Phase::Send(w.request);
                    }
                    Some(Err(e)) => {
                        failed(stats, c.n, now, e);
                        let _ = h.close_id(now, p, c.sock);
                        return false;
                    }
                },
                Phase::Send(0) => {
                    c.phase = if c.client {
                        Phase::Recv(w.response)
                    } else {
                        self::after_exchange(w, c.client, now)
                    };
                }
                Phase::Send(left) => {
                    let k = (left as usize).min(CHUNK);
                    match h.send_id(now, p, c.sock, &PAYLOAD[..k]) {
                        Ok(0) => return true,
                        Ok(n) => c.phase = Phase::Send(left - n as u64),
                        Err(e) => {
                            broken(stats, e.name());
                            let _ = h.close_id(now, p, c.sock);
                            return false;
                        }
                    }
                }
                Phase::Recv(0) => {
                    if c.client {
                        stats.completed += 1;
                        c.phase = self::after_exchange(w, true, now);
                    } else {
                        c.phase = Phase::Send(w.response);
                    }
                }
                Phase::Recv(left) => {
                    let k = (left as usize).min(CHUNK);
                    match h.recv_discard(now, p, c.sock, k) {
                        Ok(None) => return true,
                        Ok(Some(0)) => {
                            broken(stats, "EOF");
                            let _ = h.close_id(now, p, c.sock);
                            return false;
                        }
                        Ok(Some(n)) => {
                            stats.bytes_delivered += n as u64;
                            c.phase = Phase::Recv(left - n as u64);
                        }
                        Err(e) => {
                            broken(stats, e.name());
                            let _ = h.close_id(now, p, c.sock);
                            return false;
                        }
                    }
                }
                Phase::Think(t) if now < t => return true,
                Phase::Think(_) => {
                    let _ = h.close_id(now, p, c.sock);
                    return false;
                }
                Phase::Eof => match h.recv_discard(now, p, c.sock, CHUNK) {
                    Ok(None) => return true,
                    Ok(Some(0)) => {
                        let _ = h.close_id(now, p, c.sock);
                        return false;
                    }
                    Ok(Some(_)) => {}
                    Err(e) => {
                        broken(stats, e.name());
                        let _ = h.close_id(now, p, c.sock);
                        return false;
                    }
                },
            }
        }
    }
}

/// The name of a workload connection's socket in events: the workload's name, `side` (`c`
/// for a client, `s` for a server) and the connection's number.
#[cold]
#[inline(never)]
fn label(name: &str, side: char, n: u64) -> String {
    format!("{name}.{side}{n}")
}

/// Counts a client connection that failed with `e` at `now`; the first failure keeps `n`
/// (the attempt's 1-based index), `now` and the error.
#[cold]
#[inline(never)]
fn failed(stats: &mut WorkloadStats, n: u64, now: Instant, e: Errno) {
    *stats.failed.entry(e.name()).or_insert(0) += 1;
    if stats.first_failure.is_none() {
        stats.first_failure = Some((n, now, e.name()));
    }
}

/// Counts a connection broken by `what` (an error's name, or `EOF` before the exchange
/// ended).
#[cold]
#[inline(never)]
fn broken(stats: &mut WorkloadStats, what: &'static str) {
    *stats.broken.entry(what).or_insert(0) += 1;
}

/// What a side does once its part of the exchange is over: the first closer thinks, then
/// closes; the other waits for the end of stream.
fn after_exchange(w: &Workload, client: bool, now: Instant) -> Phase {
    if client == w.client_closes {
        Phase::Think(now + w.think)
    } else {
        Phase::Eof
    }
}

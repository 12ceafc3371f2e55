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
use crate::rng::stream;
use crate::scenario::Workload;
use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, SocketAddrV4};
use twsim_model::id_map::IdMap;
use twsim_model::{Duration, Errno, Instant};

mod state;

pub(super) use state::Workloads;
use state::{arrival_time, Conn, Listening, Phase, Wl};

/// Most bytes moved per send or recv call of a workload connection (the socket buffers hold
/// 16 KiB).
const CHUNK: usize = 16 * 1024;
/// The bytes workload connections send (their content is not examined).
static PAYLOAD: [u8; CHUNK] = [b'x'; CHUNK];

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

//! The workloads' bookkeeping: their connections (live by slot, thinking by wake time), the
//! arrivals still to come, the connect deadlines, and the earliest time any of them needs the
//! event loop again. The event loop's side (opening, stepping and accepting connections) is in
//! the parent module.

use super::super::stats::{Occupancy, WorkloadStats};
use crate::delay::ln;
use crate::rng::unit;
use crate::scenario::{Arrivals, Workload, WorkloadEnd};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use twsim_model::id_map::IdMap;
use twsim_model::{Duration, Instant, Pid, SocketId};

#[derive(Clone, Copy)]
pub(super) enum Phase {
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
pub(super) struct Conn {
    /// Connection id, in order of creation (the order a pass steps connections in).
    pub(super) id: u64,
    pub(super) wl: usize,
    /// 1-based index of a client connection among its workload's attempts.
    pub(super) n: u64,
    pub(super) client: bool,
    pub(super) host: usize,
    /// The workload's process on `host` (its number, looked up once).
    pub(super) proc: Pid,
    pub(super) sock: SocketId,
    pub(super) phase: Phase,
}

pub(super) struct Wl {
    /// Index of the next arrival.
    pub(super) next_i: u64,
    /// When it happens (`None`: no more).
    pub(super) next_at: Option<Instant>,
    /// The previous arrival's offset from the start, µs (Poisson).
    pub(super) offset_us: f64,
    pub(super) rng: ChaCha8Rng,
    pub(super) listener: Option<SocketId>,
    pub(super) started: bool,
    pub(super) accepted: u64,
    /// Connect deadlines of the workload's connections, as (deadline, id, slot) in deadline
    /// order: one timeout per workload, so the order of creation. An entry whose connection
    /// no longer connects is stale; the front never is ([`Workloads::settle`]), and stale
    /// entries are dropped once they outnumber the live ones.
    pub(super) deadlines: VecDeque<(Instant, u64, u32)>,
    /// Connections of the workload still connecting.
    pub(super) connecting: usize,
    pub(super) stats: WorkloadStats,
}

/// A workload whose server listens.
pub(super) struct Listening {
    /// The workload.
    pub(super) wl: usize,
    /// Its server host.
    pub(super) server: usize,
    /// The listener.
    pub(super) sock: SocketId,
    /// The server host's `Sim::marks` (changes) when the listener was last found with nothing
    /// ready (`u64::MAX`: never): it cannot have a connection ready before the host changes
    /// again.
    pub(super) seen: u64,
}

/// Every workload's state.
pub(in crate::engine) struct Workloads {
    pub(super) wls: Vec<Wl>,
    /// The workloads whose server listens, in workload order.
    pub(super) listening: Vec<Listening>,
    /// The earliest start of a workload not started yet or arrival of any (`None`: none left):
    /// before then [`Sim::run_workloads`](crate::engine::Sim) has nothing to set up and no connection to open.
    pub(super) arrivals_from: Option<Instant>,
    /// Connections waiting on the network, by slot (`free` lists the empty slots), stepped
    /// when something happened to them: their host woke their socket
    /// ([`Host::take_woken`](crate::host::Host::take_woken): a segment delivered, a state change), their connect deadline
    /// came, or they woke from thinking. A connection just created is connecting
    /// (`SYN-SENT`): it has nothing to do before one of these.
    pub(super) conns: Vec<Option<Conn>>,
    pub(super) free: Vec<u32>,
    /// Connections in `conns`.
    pub(super) live: usize,
    /// The slot in `conns` of each socket, per host (indexed by socket id).
    pub(super) by_sock: Vec<IdMap<u32>>,
    /// Reused buffers of a pass.
    pub(super) woken: Vec<SocketId>,
    pub(super) due: Vec<(u64, u32)>,
    /// Connections thinking, by wake time: not stepped until then.
    pub(super) sleeping: BTreeMap<(Instant, u64), Conn>,
    /// The earliest wake time in `sleeping` (`None`: it is empty).
    pub(super) wake_sleeping: Option<Instant>,
    /// [`Workloads::next_wake`] as last computed, or `None` when an arrival, a connect
    /// deadline or a sleeper changed since.
    pub(super) wake: Option<Option<Instant>>,
    pub(super) next_conn: u64,
    /// Per host.
    pub(in crate::engine) occupancy: Vec<Occupancy>,
    /// When the last connection finished or the last arrival happened.
    pub(in crate::engine) last_activity: Instant,
}

impl Workloads {
    /// No workload is waiting to open connections and none has a live connection.
    pub(in crate::engine) fn idle(&self) -> bool {
        self.live == 0 && self.sleeping.is_empty() && self.wls.iter().all(|w| w.next_at.is_none())
    }

    /// The earliest start of a workload not started yet or arrival of any; `None` when none
    /// is left ([`Workloads::arrivals_from`]).
    pub(super) fn arrivals_from(&self, ws: &[Workload]) -> Option<Instant> {
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
    pub(in crate::engine) fn next_wake(&mut self) -> Option<Instant> {
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
            wake = super::super::earlier(wake, w.next_at);
            if let Some(&(t, _, _)) = w.deadlines.front() {
                wake = super::super::earlier(wake, Some(t));
            }
        }
        wake
    }

    /// Drops workload `w`'s stale deadlines at the front, and every stale one once they
    /// outnumber the live ones (memory follows the connections still connecting).
    pub(super) fn settle(&mut self, w: usize) {
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
    pub(super) fn wake_due(&mut self, now: Instant) {
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
    pub(super) fn insert(&mut self, c: Conn) -> u32 {
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
    pub(super) fn remove(&mut self, slot: u32) {
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
    pub(super) fn take(&mut self, slot: u32) -> Option<Conn> {
        let c = *self.conns[slot as usize].as_ref()?;
        self.remove(slot);
        Some(c)
    }

    /// Closes every host's steady window at `now`, the last arrival of the last workload.
    #[cold]
    #[inline(never)]
    pub(super) fn arrivals_over(&mut self, now: Instant) {
        for o in &mut self.occupancy {
            o.steady_to = Some(now);
            o.area_to = Some(o.area);
            if o.area_from.is_none() {
                o.area_to = None;
            }
        }
    }

    /// The statistics, in workload order.
    pub(in crate::engine) fn into_stats(self) -> (Vec<WorkloadStats>, Vec<Occupancy>) {
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
pub(super) fn arrival_time(w: &Workload, wl: &mut Wl, i: u64) -> Option<Instant> {
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

//! The simulated network: routes with delay and loss, fault rules, the maximum segment
//! lifetime, and the queue of segments in flight.
//!
//! Fault rules are a chain returning a verdict (turmoil-net style): every rule whose selector
//! matches counts the segment; the first rule that then applies (its `nth` and `probability`
//! allow it) decides. Every decision is returned for the trace.

use crate::delay::DelayDist;
use crate::rng::{stream, unit};
use crate::scenario::{Action, Fault, Route};
use crate::wire::{Packet, SegMeta, TcpFlags};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;
use twsim_model::{Duration, Instant};

/// A segment in flight.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// Segment id (copies have their own id and `dup_of`).
    pub id: u64,
    /// Copy of which segment.
    pub dup_of: Option<u64>,
    /// Sender host index.
    pub from: usize,
    /// Receiver host index.
    pub to: usize,
    /// Route index.
    pub route: usize,
    /// When it left the sender.
    pub sent_at: Instant,
    /// The segment: its bytes and the view parsed when it was emitted.
    pub pkt: Packet,
}

/// What happened to a segment handed to the network.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Scheduled for delivery.
    Scheduled {
        /// Segment id.
        id: u64,
        /// Copy of.
        dup_of: Option<u64>,
        /// Route index ([`Network::route_name`]).
        route: usize,
        /// When it will arrive.
        deliver_at: Instant,
        /// Fault rule that changed its path or time, if any.
        fault: Option<usize>,
    },
    /// Dropped.
    Dropped {
        /// Segment id.
        id: u64,
        /// Why: `"fault"`, `"loss"`, `"max_lifetime"`, `"no_route"`.
        reason: &'static str,
        /// Route index ([`Network::route_name`]); `None` when no host has the destination
        /// address (`"no_route"`).
        route: Option<usize>,
        /// Fault rule index.
        fault: Option<usize>,
    },
}

/// Where a segment goes, beside its packet until it is scheduled.
#[derive(Clone, Copy)]
struct Head {
    id: u64,
    dup_of: Option<u64>,
    from: usize,
    to: usize,
    route: usize,
    sent_at: Instant,
}

impl Head {
    /// The head of segment `id`, an original (not a duplicate), sent at `now` (virtual time)
    /// from host index `from` to host index `to` on route index `route`.
    fn original(id: u64, now: Instant, from: usize, to: usize, route: usize) -> Head {
        Head {
            id,
            dup_of: None,
            from,
            to,
            route,
            sent_at: now,
        }
    }
}

struct FaultState {
    matches: u32,
    seen: BTreeSet<(SocketAddrV4, SocketAddrV4)>,
    rng: ChaCha8Rng,
}

/// The network between hosts.
pub struct Network {
    routes: Vec<Route>,
    route_rng: Vec<ChaCha8Rng>,
    faults: Vec<Fault>,
    fault_state: Vec<FaultState>,
    /// Whether a fault rule selects by the flags seen earlier on a connection (`after`): only
    /// then are they remembered.
    track_flags: bool,
    max_lifetime: Duration,
    /// Per route, its delay when the route draws nothing: no loss, no duplication, a fixed
    /// delay ([`Network::transmit`] then only schedules). `None` when there are fault rules,
    /// which may change any segment's path.
    plain: Vec<Option<Duration>>,
    /// Segments in flight, earliest arrival first; ties in the order they were scheduled.
    queue: Queue,
    /// The segments the queue refers to, by slot: where each goes, and its packet (a list
    /// of one packet, empty once delivered); `free` lists the empty slots. Kept apart so
    /// that a packet is moved into its slot once, not built into a larger value first; a
    /// sender's list of one packet is exchanged with an empty slot's
    /// ([`Network::send_one_quiet`]), the packet not moved at all.
    heads: Vec<Head>,
    packets: Vec<Vec<Packet>>,
    free: Vec<usize>,
    next_seq: u64,
    next_id: u64,
    /// Every connection (unordered endpoint pair) and the flags seen on it so far.
    seen_flags: BTreeMap<(SocketAddrV4, SocketAddrV4), TcpFlags>,
}

/// A segment in the queue, ordered by (arrival, order of scheduling) alone; the segment
/// itself waits in [`Network::packets`], so the heap moves 24 bytes, not the packet.
struct Queued {
    at: Instant,
    seq: u64,
    slot: usize,
}

impl Queued {
    /// Whether `self` arrives before `o` (no two have the same order of scheduling).
    #[inline(always)]
    fn before(&self, o: &Queued) -> bool {
        (self.at, self.seq) < (o.at, o.seq)
    }
}

/// The segments in flight as a binary min-heap of [`Queued`]: each element arrives no
/// earlier than its parent (element `(i - 1) / 2`).
struct Queue(Vec<Queued>);

impl Queue {
    /// The earliest segment.
    #[inline(always)]
    fn peek(&self) -> Option<&Queued> {
        self.0.first()
    }

    /// Adds `q`, moving it up past every parent that arrives after it.
    #[inline(always)]
    fn push(&mut self, q: Queued) {
        let h = &mut self.0;
        let mut i = h.len();
        h.push(q);
        while i > 0 {
            let parent = (i - 1) / 2;
            if !h[i].before(&h[parent]) {
                break;
            }
            h.swap(i, parent);
            i = parent;
        }
    }

    /// Takes the earliest segment out: the last element takes its place and moves down
    /// past every child that arrives before it.
    #[inline(always)]
    fn pop(&mut self) -> Option<Queued> {
        let h = &mut self.0;
        let last = h.pop()?;
        if h.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut h[0], last);
        let n = h.len();
        let mut i = 0;
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let c = if right < n && h[right].before(&h[left]) {
                right
            } else {
                left
            };
            if !h[c].before(&h[i]) {
                break;
            }
            h.swap(i, c);
            i = c;
        }
        Some(top)
    }
}

fn conn_key(a: SocketAddrV4, b: SocketAddrV4) -> (SocketAddrV4, SocketAddrV4) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl Network {
    /// A network with `routes` (at least one), `faults`, dropping segments older than
    /// `max_lifetime`; random streams derived from `seed`.
    pub fn new(seed: u64, routes: Vec<Route>, faults: Vec<Fault>, max_lifetime: Duration) -> Self {
        let route_rng = routes
            .iter()
            .map(|r| stream(seed, &format!("route/{}", r.name)))
            .collect();
        let fault_state = (0..faults.len())
            .map(|i| FaultState {
                matches: 0,
                seen: BTreeSet::new(),
                rng: stream(seed, &format!("fault/{i}")),
            })
            .collect();
        let plain = routes
            .iter()
            .map(|r| {
                let draws = r.loss > 0.0 || r.duplicate > 0.0;
                r.delay.fixed().filter(|_| !draws && faults.is_empty())
            })
            .collect();
        Network {
            plain,
            routes,
            route_rng,
            track_flags: faults.iter().any(|f| f.after.is_some()),
            faults,
            fault_state,
            max_lifetime,
            queue: Queue(Vec::new()),
            heads: Vec::new(),
            packets: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            next_id: 1,
            seen_flags: BTreeMap::new(),
        }
    }

    /// The route a segment from `from` to `to` takes by default.
    fn default_route(&self, from: usize, to: usize) -> usize {
        self.routes
            .iter()
            .position(|r| r.from.is_none_or(|f| f == from) && r.to.is_none_or(|t| t == to))
            .unwrap_or(0)
    }

    fn fault_matches(
        &self,
        i: usize,
        from: usize,
        to: usize,
        route: usize,
        seg: &SegMeta,
        now: Instant,
    ) -> bool {
        let f = &self.faults[i];
        let flags = seg.flags;
        let key = conn_key(seg.src, seg.dst);
        f.from.is_none_or(|h| h == from)
            && f.to.is_none_or(|h| h == to)
            && f.route.is_none_or(|r| r == route)
            && f.flags.is_none_or(|fl| fl == flags)
            && f.has_payload.is_none_or(|p| p == (seg.payload_len > 0))
            && f.from_time.is_none_or(|t| now.micros() >= t.micros())
            && f.until_time.is_none_or(|t| now.micros() < t.micros())
            && (f.after.is_none() || self.fault_state[i].seen.contains(&key))
    }

    /// Queues a segment that survived its route for delivery `delay` after it left; drops it
    /// past the maximum segment lifetime.
    #[inline(always)]
    fn schedule(&mut self, h: Head, pkt: Packet, delay: Duration, fault: Option<usize>) -> Verdict {
        self.schedule_with(h, delay, fault, |slot| slot.push(pkt))
    }

    /// [`Network::schedule`] with the packet put into its (empty) slot by `load`, which is
    /// not called when the segment is dropped.
    #[inline(always)]
    fn schedule_with(
        &mut self,
        h: Head,
        delay: Duration,
        fault: Option<usize>,
        load: impl FnOnce(&mut Vec<Packet>),
    ) -> Verdict {
        if delay > self.max_lifetime {
            return Verdict::Dropped {
                id: h.id,
                reason: "max_lifetime",
                route: Some(h.route),
                fault,
            };
        }
        let at = h.sent_at + delay;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.heads[i] = h;
                i
            }
            None => self.new_slot(h),
        };
        load(&mut self.packets[slot]);
        self.queue.push(Queued {
            at,
            seq: self.next_seq,
            slot,
        });
        Verdict::Scheduled {
            id: h.id,
            dup_of: h.dup_of,
            route: h.route,
            deliver_at: at,
            fault,
        }
    }

    /// A new empty slot for a segment going as `h` says.
    #[cold]
    #[inline(never)]
    fn new_slot(&mut self, h: Head) -> usize {
        self.heads.push(h);
        self.packets.push(Vec::new());
        self.packets.len() - 1
    }

    /// Hands a segment from host `from` to host `to` (None: no host has that address) at
    /// `now`. Puts one verdict per copy into `out` (cleared first), in the order the copies
    /// were decided.
    #[inline]
    pub fn send(
        &mut self,
        now: Instant,
        from: usize,
        to: Option<usize>,
        pkt: Packet,
        out: &mut Vec<Verdict>,
    ) {
        out.clear();
        let seg = &pkt.meta;
        let id = self.next_id;
        self.next_id += 1;
        let Some(to) = to else {
            out.push(Verdict::Dropped {
                id,
                reason: "no_route",
                route: None,
                fault: None,
            });
            return;
        };
        let route = self.default_route(from, to);
        let head = Head::original(id, now, from, to, route);
        if let Some(delay) = self.plain[route] {
            // What the general path below does for such a route, without its steps.
            out.push(self.schedule(head, pkt, delay, None));
            return;
        }
        // Fault chain.
        let mut applied: Option<(usize, Action)> = None;
        for i in 0..self.faults.len() {
            if !self.fault_matches(i, from, to, route, seg, now) {
                continue;
            }
            let st = &mut self.fault_state[i];
            st.matches += 1;
            let f = &self.faults[i];
            if f.nth.is_some_and(|n| n != st.matches) {
                continue;
            }
            if let Some(p) = f.probability {
                if unit(&mut st.rng) >= p {
                    continue;
                }
            }
            applied = Some((i, f.action.clone()));
            break;
        }
        // Remember control flags per connection for later `after` selectors (only kept when a
        // rule needs them: the map grows with every connection).
        if self.track_flags {
            let key = conn_key(seg.src, seg.dst);
            let seen = self.seen_flags.entry(key).or_insert(TcpFlags::NONE);
            *seen |= seg.flags;
            let seen = *seen;
            for (i, f) in self.faults.iter().enumerate() {
                if let Some(a) = f.after {
                    if seen.contains(a) {
                        self.fault_state[i].seen.insert(key);
                    }
                }
            }
        }
        let (head, extra, fault) = match applied {
            None => (head, Duration::ZERO, None),
            Some((i, Action::Drop)) => {
                out.push(Verdict::Dropped {
                    id,
                    reason: "fault",
                    route: Some(route),
                    fault: Some(i),
                });
                return;
            }
            Some((i, Action::Delay(d))) => (head, d, Some(i)),
            Some((i, Action::Via(r))) => (Head { route: r, ..head }, Duration::ZERO, Some(i)),
            Some((i, Action::DuplicateVia(r))) => {
                let copy = Head {
                    id: self.next_id,
                    dup_of: Some(id),
                    route: r,
                    ..head
                };
                self.next_id += 1;
                let bytes = pkt.clone();
                self.transmit(head, pkt, Duration::ZERO, None, out);
                self.transmit(copy, bytes, Duration::ZERO, Some(i), out);
                return;
            }
        };
        self.transmit(head, pkt, extra, fault, out);
    }

    /// [`Network::send`] when nobody reads the verdicts: a segment for a host on a plain route
    /// is scheduled without building one (the same id, time and order as `send`); any other
    /// takes `send`, with `scratch` for its verdicts.
    #[inline]
    pub fn send_quiet(
        &mut self,
        now: Instant,
        from: usize,
        to: Option<usize>,
        pkt: Packet,
        scratch: &mut Vec<Verdict>,
    ) {
        if let Some((head, delay)) = self.plain_head(now, from, to) {
            self.schedule(head, pkt, delay, None);
            return;
        }
        self.send(now, from, to, pkt, scratch);
    }

    /// The head and delay of a segment from `from` to host `to` whose route is plain (no
    /// fault rules, loss, duplication or jitter), its id taken as `send` would take it;
    /// `None` (no id taken) for any other.
    #[inline(always)]
    fn plain_head(
        &mut self,
        now: Instant,
        from: usize,
        to: Option<usize>,
    ) -> Option<(Head, Duration)> {
        let to = to?;
        let route = self.default_route(from, to);
        let delay = self.plain[route]?;
        let id = self.next_id;
        self.next_id += 1;
        Some((Head::original(id, now, from, to, route), delay))
    }

    /// [`Network::send_quiet`] for the one packet in `one` (a list of exactly one packet),
    /// which it leaves empty: on a plain route to a host, `one`'s list goes into the slot
    /// as it is, and `one` gets the slot's empty list.
    #[inline]
    pub fn send_one_quiet(
        &mut self,
        now: Instant,
        from: usize,
        to: Option<usize>,
        one: &mut Vec<Packet>,
        scratch: &mut Vec<Verdict>,
    ) {
        if let Some((head, delay)) = self.plain_head(now, from, to) {
            let load = |slot: &mut Vec<Packet>| std::mem::swap(slot, one);
            if let Verdict::Dropped { .. } = self.schedule_with(head, delay, None, load) {
                one.clear();
            }
            return;
        }
        if let Some(pkt) = one.pop() {
            self.send(now, from, to, pkt, scratch);
        }
    }

    /// Puts one segment on its route: the route's random loss, then its delay (plus `extra`),
    /// then, with the route's duplication probability, a copy with its own delay. Draws come
    /// from the route's stream in that order.
    #[inline]
    fn transmit(
        &mut self,
        h: Head,
        pkt: Packet,
        extra: Duration,
        fault: Option<usize>,
        out: &mut Vec<Verdict>,
    ) {
        let r = h.route;
        let loss = self.routes[r].loss;
        if loss > 0.0 && unit(&mut self.route_rng[r]) < loss {
            out.push(Verdict::Dropped {
                id: h.id,
                reason: "loss",
                route: Some(r),
                fault,
            });
            return;
        }
        let delay = match self.routes[r].delay {
            // A fixed delay draws nothing.
            DelayDist::Fixed(d) => d,
            ref dist => dist.sample(&mut self.route_rng[r]),
        } + extra;
        let dup = self.routes[r].duplicate;
        if dup > 0.0 && unit(&mut self.route_rng[r]) < dup {
            let copy = Head {
                id: self.next_id,
                dup_of: Some(h.id),
                ..h
            };
            self.next_id += 1;
            let bytes = pkt.clone();
            out.push(self.schedule(h, pkt, delay, fault));
            let d = self.routes[r].delay.sample(&mut self.route_rng[r]) + extra;
            out.push(self.schedule(copy, bytes, d, None));
        } else {
            out.push(self.schedule(h, pkt, delay, fault));
        }
    }

    /// When the next segment arrives.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.queue.peek().map(|q| q.at)
    }

    /// Takes the next segment due at or before `now`.
    #[inline(always)]
    pub fn pop_due(&mut self, now: Instant) -> Option<InFlight> {
        let slot = self.pop_due_slot(now)?;
        let h = self.heads[slot];
        Some(InFlight {
            id: h.id,
            dup_of: h.dup_of,
            from: h.from,
            to: h.to,
            route: h.route,
            sent_at: h.sent_at,
            pkt: self.packets[slot].pop()?,
        })
    }

    /// The slot of the next segment due at or before `now`, taken off the queue; its
    /// packet stays in the slot until [`Network::take`] (before anything else is sent).
    #[inline(always)]
    pub fn pop_due_slot(&mut self, now: Instant) -> Option<usize> {
        if self.queue.peek()?.at > now {
            return None;
        }
        let slot = self.queue.pop()?.slot;
        self.free.push(slot);
        Some(slot)
    }

    /// The receiver's index and the packet in slot `slot` (from [`Network::pop_due_slot`]).
    #[inline(always)]
    pub fn in_slot(&self, slot: usize) -> (usize, &Packet) {
        (self.heads[slot].to, &self.packets[slot][0])
    }

    /// Takes the packet out of slot `slot` (from [`Network::pop_due_slot`]).
    #[inline(always)]
    pub fn take(&mut self, slot: usize) -> Packet {
        self.packets[slot]
            .pop()
            .expect("a slot just due holds its packet")
    }

    /// Segments in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.0.len()
    }

    /// Whether no segment is in flight.
    pub fn is_empty(&self) -> bool {
        self.queue.0.is_empty()
    }

    /// Route name by index.
    pub fn route_name(&self, i: usize) -> &str {
        &self.routes[i].name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{craft, Ctl};
    use twsim_model::SeqNum;

    fn route(name: &str, delay_us: u64, from: Option<usize>) -> Route {
        Route {
            name: name.into(),
            delay: DelayDist::Fixed(Duration::from_micros(delay_us)),
            loss: 0.0,
            duplicate: 0.0,
            from,
            to: None,
        }
    }

    /// A plain route's shortcut in [`Network::send`] decides what the general path decides:
    /// the same ids, verdicts (a drop past the maximum lifetime included) and deliveries; so
    /// do [`Network::send_quiet`] and [`Network::send_one_quiet`], verdicts aside, the
    /// latter's deliveries taken through [`Network::pop_due_slot`].
    #[test]
    fn a_plain_route_schedules_as_the_general_path_does() {
        let routes = vec![route("a", 1_000, Some(0)), route("b", 2_500, None)];
        let max_lifetime = Duration::from_micros(2_000);
        let mut quiet = Network::new(1, routes.clone(), vec![], max_lifetime);
        let mut one = Network::new(1, routes.clone(), vec![], max_lifetime);
        let mut fast = Network::new(1, routes.clone(), vec![], max_lifetime);
        let mut general = Network::new(1, routes, vec![], max_lifetime);
        assert!(fast.plain.iter().all(Option::is_some));
        general.plain = vec![None; 2];
        let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
        let (mut v1, mut v2) = (Vec::new(), Vec::new());
        let mut verdicts = 0;
        for k in 0..20u32 {
            let (from, to, src, dst) = match k % 3 {
                0 => (1, Some(0), b, a),
                _ => (0, Some(1), a, b),
            };
            let to = if k == 7 { None } else { to };
            let now = Instant::ZERO + Duration::from_micros(u64::from(k) * 300);
            let pkt = || Packet::parse(craft(src, dst, SeqNum(k), None, Ctl::Ack, 512)).unwrap();
            fast.send(now, from, to, pkt(), &mut v1);
            general.send(now, from, to, pkt(), &mut v2);
            quiet.send_quiet(now, from, to, pkt(), &mut Vec::new());
            let mut batch = vec![pkt()];
            one.send_one_quiet(now, from, to, &mut batch, &mut Vec::new());
            assert!(batch.is_empty());
            assert_eq!(v1, v2);
            verdicts += v1.len();
        }
        assert_eq!(verdicts, 20);
        assert_eq!(fast.in_flight(), general.in_flight());
        assert_eq!(quiet.in_flight(), general.in_flight());
        assert_eq!(one.in_flight(), general.in_flight());
        let end = Instant::ZERO + Duration::from_micros(1_000_000);
        let key = |s: &InFlight| (s.id, s.to, s.route, s.sent_at, s.pkt.meta.seq);
        loop {
            assert_eq!(quiet.next_delivery(), general.next_delivery());
            let (x, y) = (fast.pop_due(end), general.pop_due(end));
            assert_eq!(x.as_ref().map(key), y.as_ref().map(key));
            let z = quiet.pop_due(end);
            assert_eq!(z.as_ref().map(key), y.as_ref().map(key));
            let w = one.pop_due_slot(end).map(|slot| {
                let (to, seq) = (one.in_slot(slot).0, one.in_slot(slot).1.meta.seq);
                assert_eq!(one.take(slot).meta.seq, seq);
                (to, seq)
            });
            assert_eq!(w, y.as_ref().map(|s| (s.to, s.pkt.meta.seq)));
            if x.is_none() {
                break;
            }
        }
    }

    /// The queue gives segments back earliest arrival first, ties in the order they were
    /// scheduled, however pushes and pops interleave (against an ordered set).
    #[test]
    fn the_queue_pops_in_arrival_then_scheduling_order() {
        let mut q = Queue(Vec::new());
        let mut reference = BTreeSet::new();
        let mut x: u64 = 7;
        for seq in 0..2_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = Instant::ZERO + Duration::from_micros((x >> 33) % 50);
            q.push(Queued {
                at,
                seq,
                slot: seq as usize,
            });
            reference.insert((at, seq));
            if x >> 62 == 0 {
                for _ in 0..(x >> 40) % 4 {
                    let got = q.pop().map(|e| (e.at, e.seq));
                    assert_eq!(got, reference.pop_first());
                }
            }
            assert_eq!(q.peek().map(|e| (e.at, e.seq)), reference.first().copied());
        }
        while let Some(e) = q.pop() {
            assert_eq!(Some((e.at, e.seq)), reference.pop_first());
            assert_eq!(e.slot as u64, e.seq);
        }
        assert!(reference.is_empty());
    }

    /// Fault rules or a route that draws take the general path.
    #[test]
    fn only_routes_that_draw_nothing_are_plain() {
        let lossy = Route {
            loss: 0.1,
            ..route("l", 10, None)
        };
        let dup = Route {
            duplicate: 0.1,
            ..route("d", 10, None)
        };
        let random = Route {
            delay: DelayDist::Uniform {
                min: Duration::from_micros(1),
                max: Duration::from_micros(9),
            },
            ..route("u", 10, None)
        };
        let net = Network::new(
            1,
            vec![route("a", 10, None), lossy, dup, random],
            vec![],
            Duration::from_micros(100),
        );
        assert_eq!(
            net.plain,
            vec![Some(Duration::from_micros(10)), None, None, None]
        );
        let fault = Fault {
            from: None,
            to: None,
            route: None,
            flags: None,
            has_payload: None,
            after: None,
            nth: None,
            from_time: None,
            until_time: None,
            probability: None,
            action: Action::Delay(Duration::from_micros(5)),
        };
        let net = Network::new(
            1,
            vec![route("a", 10, None)],
            vec![fault],
            Duration::from_micros(100),
        );
        assert_eq!(net.plain, vec![None]);
    }
}

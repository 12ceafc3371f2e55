//! The discrete-event loop: virtual time, hosts, the network and the script.
//!
//! One queue of deliveries keyed by `(deliver_at, seq)` keeps emission order on ties. The next
//! instant is the earliest of: the next delivery, every host's `poll_at` (smoltcp timers and
//! TIME-WAIT expiries), the next scripted step and the deadline of a blocked call. Time never
//! goes backwards, and a spin guard stops a run that makes no progress at one instant.
//! A run is a pure function of (scenario, seed).

use crate::event::{Event, HostInfo, RouteInfo, RunStart, SegFields, SegmentEvent};
use crate::host::{Host, Outcome};
use crate::net::{InFlight, Network, Verdict};
use crate::rng::{port_secret, stream};
use crate::scenario::Resolved;
use crate::trace::{CapturePoint, Recorder};
use crate::wire::{Packet, SegMeta};
use rand::RngCore;
use twsim_model::{Instant, IsnGenerator};

/// What a run should record besides the summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Keep the JSON Lines trace.
    pub trace: bool,
    /// Keep the pcap capture.
    pub pcap: bool,
    /// Skip the human timeline and host events (benchmarks, sweeps): the summary, step
    /// results and TIME-WAIT records are still kept.
    pub quiet: bool,
}

pub use report::{CheckResult, RunReport, TimeWaitSummary};
use script::Cursor;
pub use script::{call_addr, call_socket, describe, Detail, StepResult};
pub use twsim_model::DEFAULT_WAIT_TIMEOUT;
/// Most loop iterations allowed at one virtual instant before the run is stopped.
const SPIN_LIMIT: u32 = 100_000;
/// Most segments in flight before a run stops as a segment storm (an RFC 793 ACK war over a
/// duplicating network grows without bound).
const MAX_IN_FLIGHT: usize = 1 << 18;

struct Sim<'a> {
    sc: &'a Resolved,
    now: Instant,
    hosts: Vec<Host>,
    net: Network,
    rec: Recorder,
    segments: u64,
    /// Reused buffer of [`Network::send`]'s verdicts.
    verdicts: Vec<Verdict>,
    /// What the engine knows of each host between its changes.
    marks: Vec<Mark>,
    /// Hosts changed since they were last flushed.
    unflushed: usize,
    spare_tx: Vec<Packet>,
    /// Whether the recorder keeps events or the pcapng: deliveries and sends are then
    /// recorded one by one ([`Sim::deliver_recorded`], [`Sim::send_all_recorded`]).
    recorded: bool,
}

/// What the engine knows of a host between two of its changes (every change goes through
/// [`Sim::host_mut`]).
#[derive(Clone, Copy)]
struct Mark {
    /// [`Host::poll_at`] as last read, or `None` when it must be read again. A host's answer
    /// changes only when the host does; for a host left alone it stays exact as time
    /// advances, since time never passes the earliest answer.
    due: Option<Option<Instant>>,
    /// How many times the engine took the host for a change, so that a question asked of an
    /// unchanged host need not be asked again (a listener's ready connections, the sockets
    /// it woke).
    changes: u64,
    /// `changes` when the host was last flushed (a host unchanged since has nothing to
    /// flush).
    flushed: u64,
    /// `changes` when the workloads last took the sockets the host woke
    /// ([`Host::take_woken`]; `u64::MAX`: never): a host unchanged since has woken none.
    woken_seen: u64,
}

impl Mark {
    /// The next instant `host` (the host this mark is of) needs attention at `now`
    /// ([`Host::poll_at`]), read again only after the host changed.
    #[inline(always)]
    fn due(&mut self, host: &mut Host, now: Instant) -> Option<Instant> {
        if let Some(t) = self.due {
            return t;
        }
        let t = host.poll_at(now);
        self.due = Some(t);
        t
    }
}

impl Default for Mark {
    fn default() -> Self {
        Mark {
            due: None,
            changes: 0,
            flushed: 0,
            woken_seen: u64::MAX,
        }
    }
}

impl<'a> Sim<'a> {
    fn new(sc: &'a Resolved, opts: RunOptions, mut rec: Recorder) -> Self {
        let hosts = sc
            .hosts
            .iter()
            .map(|h| {
                let t = h.timing(sc.msl);
                Host::new(
                    h.name.clone(),
                    h.addr,
                    t.config,
                    t.time_wait,
                    t.msl,
                    stream(sc.seed, &format!("host/{}", h.name)),
                    IsnGenerator::new(
                        h.isn.clone(),
                        stream(sc.seed, &format!("isn/{}", h.name)).next_u64(),
                    ),
                )
            })
            .collect();
        let net = Network::new(
            sc.seed,
            sc.routes.clone(),
            sc.faults.clone(),
            sc.max_lifetime,
        );
        rec.timeline_on = !opts.quiet;
        let mut hosts: Vec<Host> = hosts;
        for h in &mut hosts {
            h.record = rec.wants_events();
            h.track_woken = !sc.workloads.is_empty();
            h.table.set_port_secret(port_secret(sc.seed, &h.name));
        }
        let n = hosts.len();
        let recorded = rec.wants_capture() || rec.wants_events();
        Sim {
            sc,
            now: Instant::ZERO,
            hosts,
            net,
            rec,
            segments: 0,
            verdicts: Vec::new(),
            marks: vec![Mark::default(); n],
            unflushed: 0,
            spare_tx: Vec::new(),
            recorded,
        }
    }

    /// Host `i`, to change it (a delivery, a poll, a socket call): forgets what was known of
    /// it ([`Sim::due`], [`Sim::changes`]).
    #[inline]
    fn host_mut(&mut self, i: usize) -> &mut Host {
        self.touch(i);
        &mut self.hosts[i]
    }

    /// Forgets what was known of host `i`, about to change ([`Sim::host_mut`]).
    #[inline(always)]
    fn touch(&mut self, i: usize) {
        let m = &mut self.marks[i];
        if m.flushed == m.changes {
            self.unflushed += 1;
        }
        m.changes += 1;
        m.due = None;
    }

    /// The next instant host `i` needs attention ([`Host::poll_at`]), read again only after
    /// the host changed.
    #[inline]
    fn host_due(&mut self, i: usize) -> Option<Instant> {
        self.marks[i].due(&mut self.hosts[i], self.now)
    }

    fn host_of(&self, ip: std::net::Ipv4Addr) -> Option<usize> {
        self.hosts.iter().position(|h| h.addr == ip)
    }

    /// Moves host `i`'s events into the trace and its packets onto the network (most calls
    /// find neither: two tests).
    #[inline(always)]
    fn flush(&mut self, i: usize) {
        let m = &mut self.marks[i];
        if m.flushed != m.changes {
            m.flushed = m.changes;
            self.unflushed -= 1;
        }
        if !self.hosts[i].events.is_empty() {
            self.flush_events(i);
        }
        if self.hosts[i].has_tx() {
            self.send_spare(i);
        }
    }

    /// Hands host `i`'s packets to the network, in order, through `spare_tx`, whose buffer
    /// it leaves empty (its capacity kept).
    fn send_spare(&mut self, i: usize) {
        self.hosts[i].swap_tx(&mut self.spare_tx);
        self.segments += self.spare_tx.len() as u64;
        if self.recorded {
            let mut tx = std::mem::take(&mut self.spare_tx);
            self.send_all_recorded(i, &mut tx);
            self.spare_tx = tx;
            return;
        }
        // Nothing records the verdicts.
        let now = self.now;
        if let [pkt] = &self.spare_tx[..] {
            let to = self.host_of(*pkt.meta.dst.ip());
            self.net
                .send_one_quiet(now, i, to, &mut self.spare_tx, &mut self.verdicts);
            return;
        }
        self.send_each_quiet(i);
    }

    /// [`Sim::send_spare`] for any number of packets, none recorded.
    #[inline(never)]
    fn send_each_quiet(&mut self, i: usize) {
        let now = self.now;
        let hosts = &self.hosts;
        for pkt in self.spare_tx.drain(..) {
            let to = hosts.iter().position(|h| h.addr == *pkt.meta.dst.ip());
            self.net.send_quiet(now, i, to, pkt, &mut self.verdicts);
        }
    }

    /// Moves host `i`'s events into the trace, keeping the host's buffer.
    fn flush_events(&mut self, i: usize) {
        let now = self.now;
        let mut events = std::mem::take(&mut self.hosts[i].events);
        for e in events.drain(..) {
            self.rec.emit(now, Some(&self.hosts[i].name), &e);
        }
        self.hosts[i].events = events;
    }

    /// [`Sim::send_spare`] when the verdicts are recorded (the trace, the pcapng comments).
    #[inline(never)]
    fn send_all_recorded(&mut self, i: usize, tx: &mut Vec<Packet>) {
        let now = self.now;
        let capture = self.rec.wants_capture();
        let events = self.rec.wants_events();
        let mut verdicts = std::mem::take(&mut self.verdicts);
        for pkt in tx.drain(..) {
            let to = self.host_of(*pkt.meta.dst.ip());
            let seg = pkt.meta;
            let bytes = capture.then(|| pkt.bytes.clone());
            self.net.send(now, i, to, pkt, &mut verdicts);
            if let Some(bytes) = bytes {
                let from = &self.hosts[i].name;
                let to_name = to.map_or("?", |t| self.hosts[t].name.as_str());
                let line = SegFields::of(&seg).line(from, to_name);
                for v in &verdicts {
                    let comment = send_comment(v, &line, &self.net);
                    self.rec
                        .capture_at(now, CapturePoint::Send, &bytes, comment);
                }
            }
            if !events {
                continue;
            }
            let from = self.hosts[i].name.clone();
            let to_name = to.map_or("?".to_string(), |t| self.hosts[t].name.clone());
            for v in &verdicts {
                self.trace_verdict(&from, &to_name, &seg, v);
            }
        }
        self.verdicts = verdicts;
    }

    fn trace_verdict(&mut self, from: &str, to: &str, seg: &SegMeta, v: &Verdict) {
        let seg = SegFields::of(seg);
        let (from, to) = (from.to_string(), to.to_string());
        let event = match v {
            Verdict::Scheduled {
                id,
                dup_of,
                route,
                deliver_at,
                fault,
            } => SegmentEvent::Sent {
                seg,
                id: *id,
                dup_of: *dup_of,
                from,
                to,
                route: self.net.route_name(*route).to_string(),
                deliver_at: *deliver_at,
                fault: *fault,
            },
            Verdict::Dropped {
                id,
                reason,
                route,
                fault,
            } => SegmentEvent::Dropped {
                seg,
                id: *id,
                from,
                to,
                reason,
                route: route.map_or(String::new(), |r| self.net.route_name(r).to_string()),
                fault: *fault,
            },
        };
        let host = match &event {
            SegmentEvent::Sent { from, .. } | SegmentEvent::Dropped { from, .. } => from.clone(),
            SegmentEvent::Delivered { .. } => unreachable!("a verdict is a send"),
        };
        self.rec.emit(self.now, Some(&host), &Event::Segment(event));
    }

    /// Delivers one segment and records its arrival: the pcapng block and the `delivered`
    /// record, after the delivery (it says what became of the segment) and before what the
    /// delivery caused.
    #[inline(never)]
    fn deliver_recorded(&mut self, seg: InFlight) {
        let now = self.now;
        self.rec.capture(now, &seg.pkt.bytes);
        let meta = seg.pkt.meta;
        let bytes = self.rec.wants_capture().then(|| seg.pkt.bytes.clone());
        let arrival = self.host_mut(seg.to).deliver(now, seg.pkt);
        if let Some(bytes) = bytes {
            let mut c = format!("#{}", seg.id);
            if let Some(o) = seg.dup_of {
                c.push_str(&format!(
                    ": copy of #{o} via {}, sent {} ago",
                    self.net.route_name(seg.route),
                    now - seg.sent_at
                ));
            }
            if arrival.stale == Some(true) {
                let inc = arrival
                    .incarnation
                    .map_or("?".to_string(), |n| n.to_string());
                let age = match seg.dup_of {
                    Some(_) => String::new(),
                    None => format!(", sent {} ago", now - seg.sent_at),
                };
                c.push_str(&format!(
                    "; old duplicate of incarnation {inc}{age}: {}",
                    arrival.outcome.name()
                ));
            }
            self.rec.capture_at(now, CapturePoint::Receive, &bytes, c);
        }
        if self.rec.wants_events() {
            let event = Event::Segment(SegmentEvent::Delivered {
                seg: SegFields::of(&meta),
                id: seg.id,
                dup_of: seg.dup_of,
                route: self.net.route_name(seg.route).to_string(),
                age: now - seg.sent_at,
                stale: arrival.stale,
                incarnation: arrival.incarnation,
                outcome: arrival.outcome.name(),
                readable: match arrival.outcome {
                    Outcome::Delivered(n) => Some(n),
                    _ => None,
                },
            });
            self.rec.emit(now, Some(&self.hosts[seg.to].name), &event);
        }
    }

    /// Delivers every segment due now, none recorded; says whether there was one.
    #[inline(never)]
    fn deliver_due(&mut self) -> bool {
        let now = self.now;
        let mut n = 0u64;
        while let Some(slot) = self.net.pop_due_slot(now) {
            n += 1;
            let (to, pkt) = self.net.in_slot(slot);
            self.rec.capture(now, &pkt.bytes);
            self.touch(to);
            self.hosts[to].deliver(now, self.net.take(slot));
            self.flush(to);
        }
        n != 0
    }

    /// Delivers everything due now and runs every host timer due now.
    fn process_due(&mut self) -> Result<(), String> {
        let now = self.now;
        let mut passes = 0;
        loop {
            if passes == SPIN_LIMIT {
                return Err(stuck(now));
            }
            passes += 1;
            let mut delivered = false;
            if self.recorded {
                while let Some(seg) = self.net.pop_due(now) {
                    delivered = true;
                    let to = seg.to;
                    self.deliver_recorded(seg);
                    self.flush(to);
                }
            } else {
                delivered = self.deliver_due();
            }
            // A host neither delivered to nor polled since its last reading is not due: its
            // remembered answer is still exact.
            let mut polled = false;
            for i in 0..self.hosts.len() {
                if self.host_due(i).is_some_and(|t| t <= now) {
                    polled = true;
                    self.host_mut(i).poll(now);
                    self.flush(i);
                }
            }
            if polled || (delivered && self.net.next_delivery().is_some_and(|t| t <= now)) {
                continue;
            }
            // Deliveries alone, every host read after them: another pass would find nothing
            // to do (and counts as one).
            if delivered && passes == SPIN_LIMIT {
                return Err(stuck(now));
            }
            return Ok(());
        }
    }

    fn run(mut self) -> RunReport {
        let start = self.run_record();
        self.timeline_heading();
        self.rec.emit(Instant::ZERO, None, &start);
        let mut cur = Cursor::new(&self.hosts);
        let mut wl = self.new_workloads();
        let aborted = self.event_loop(&mut cur, &mut wl);
        if let Some(p) = &cur.pending {
            let step = &self.sc.steps[p.step];
            let event = Event::Stopped {
                call: describe(&step.call),
            };
            self.rec
                .emit(self.now, Some(&self.hosts[step.host].name), &event);
        }
        self.report(cur, wl, aborted)
    }

    /// The `run` record: what the run simulates.
    fn run_record(&self) -> Event {
        Event::Run(RunStart {
            scenario: self.sc.name.clone(),
            variant: self.sc.variant.clone(),
            seed: self.sc.seed,
            version: env!("CARGO_PKG_VERSION"),
            max_lifetime: self.sc.max_lifetime,
            hosts: self
                .sc
                .hosts
                .iter()
                .zip(&self.hosts)
                .map(|(h, hh)| HostInfo {
                    name: h.name.clone(),
                    addr: h.addr.to_string(),
                    os: h.profile.name(),
                    time_wait: hh.tw_len,
                })
                .collect(),
            routes: self
                .sc
                .routes
                .iter()
                .map(|r| RouteInfo {
                    name: r.name.clone(),
                    delay_us: r.delay.fixed().map(|d| d.micros()),
                    delay: r.delay.to_string(),
                    loss: r.loss,
                    duplicate: r.duplicate,
                })
                .collect(),
        })
    }

    /// Advances virtual time until nothing is left to happen; `Some(why)` if the run had to
    /// stop early.
    fn event_loop(&mut self, cur: &mut Cursor, wl: &mut Workloads) -> Option<String> {
        let mut same_instant = 0u32;
        loop {
            if let Err(e) = self.process_due() {
                return Some(e);
            }
            if cur.pending.is_some() || cur.next < self.sc.steps.len() {
                self.run_due_steps(cur);
            }
            if !self.sc.workloads.is_empty() {
                self.run_workloads(wl);
            }
            // What a host did since its last flush (a blocked step retried) leaves now, after
            // the workloads' segments.
            if self.unflushed > 0 {
                for i in 0..self.hosts.len() {
                    if self.marks[i].flushed != self.marks[i].changes {
                        self.flush(i);
                    }
                }
            }
            // A step became due now (a blocked call completed): run it at this instant.
            if cur.pending.is_none()
                && self
                    .sc
                    .steps
                    .get(cur.next)
                    .is_some_and(|step| step.start_time(cur.prev_done) <= self.now)
            {
                continue;
            }
            if self.net.in_flight() > MAX_IN_FLIGHT {
                // Answering every unacceptable segment (RFC 793 p.69) over a duplicating
                // network multiplies an ACK war without bound; a real network's capacity
                // would cap it, the simulation's does not.
                return Some(storm(self.now));
            }
            let t = self.next_instant(cur, wl)?;
            self.integrate_occupancy(wl, t);
            if t == self.now {
                same_instant += 1;
                if same_instant > SPIN_LIMIT {
                    return Some(spinning(self.now));
                }
            } else {
                same_instant = 0;
            }
            self.now = t;
        }
    }

    /// The earliest of the next delivery, every host's timer, the blocked call's deadline or
    /// the next step's time; `None` when nothing is left, or only events past the linger
    /// time after the last step and the workloads' last activity.
    fn next_instant(&mut self, cur: &Cursor, wl: &mut Workloads) -> Option<Instant> {
        let now = self.now;
        let mut earliest = earlier(self.net.next_delivery(), wl.next_wake());
        for (m, h) in self.marks.iter_mut().zip(&mut self.hosts) {
            earliest = earlier(earliest, m.due(h, now));
        }
        match &cur.pending {
            Some(p) => earliest = earlier(earliest, Some(p.deadline)),
            None => {
                if let Some(step) = self.sc.steps.get(cur.next) {
                    earliest = earlier(earliest, Some(step.start_time(cur.prev_done)));
                }
            }
        }
        let t = earliest?.max(now);
        if cur.next >= self.sc.steps.len()
            && wl.idle()
            && t > cur.prev_done.max(wl.last_activity) + self.sc.linger_after_steps
        {
            return None;
        }
        Some(t)
    }
}

/// Runs a resolved scenario to completion, keeping what `opts` asks for in memory
/// ([`Recorder::new`]: the trace, both captures, the timeline).
pub fn run(sc: &Resolved, opts: RunOptions) -> RunReport {
    run_with(sc, opts, Recorder::new(opts.trace, opts.pcap))
}

/// Runs a resolved scenario to completion, recording into `rec` (for example
/// [`Recorder::with_sinks`], which streams each output as the run goes); `opts.trace` and
/// `opts.pcap` are not read, `opts.quiet` turns the timeline off. Call
/// [`Recorder::finish`] on the report's recorder to flush streamed outputs and learn whether
/// they were written.
pub fn run_with(sc: &Resolved, opts: RunOptions, rec: Recorder) -> RunReport {
    Sim::new(sc, opts, rec).run()
}

mod report;
mod script;
mod stats;
mod workload;
pub use stats::{Histogram, Occupancy, WorkloadStats};
use workload::Workloads;

/// The earlier of two optional instants (`None`: never).
#[inline(always)]
fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Why a run stopped at `now` after [`SPIN_LIMIT`] passes over what was due.
#[cold]
fn stuck(now: Instant) -> String {
    format!("no progress at t={now}: stopped after {SPIN_LIMIT} iterations")
}

/// Why a run stopped at `now` with more than [`MAX_IN_FLIGHT`] segments in flight.
#[cold]
fn storm(now: Instant) -> String {
    format!("segment storm at t={now}: more than {MAX_IN_FLIGHT} segments in flight")
}

/// Why a run stopped after more than [`SPIN_LIMIT`] loop iterations at `now`.
#[cold]
fn spinning(now: Instant) -> String {
    format!("no progress at t={now}")
}

/// The pcapng comment of a segment at its sender: its id, and what the network did to it
/// (`line` is the segment as the timeline shows it).
fn send_comment(v: &Verdict, line: &str, net: &Network) -> String {
    let name = |r: &Option<usize>| r.map_or("", |r| net.route_name(r));
    match v {
        Verdict::Scheduled {
            id,
            dup_of: Some(o),
            route,
            deliver_at,
            fault,
        } => format!(
            "#{id}: copy of #{o} via {}{}, arrives t={deliver_at}",
            net.route_name(*route),
            fault.map_or(String::new(), |f| format!(" (fault #{f})"))
        ),
        Verdict::Scheduled {
            id,
            dup_of: None,
            route,
            deliver_at,
            fault: Some(f),
        } => format!(
            "#{id}: via {} (fault #{f}), arrives t={deliver_at}",
            net.route_name(*route)
        ),
        Verdict::Scheduled { id, .. } => format!("#{id}"),
        Verdict::Dropped {
            id,
            reason,
            route,
            fault,
        } => match fault {
            Some(f) => format!(
                "#{id} dropped by fault #{f} on route {}: {line}",
                name(route)
            ),
            None => format!("#{id} dropped ({reason}) on route {}: {line}", name(route)),
        },
    }
}

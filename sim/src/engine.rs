//! The discrete-event loop: virtual time, hosts, the network and the script.
//!
//! One queue of deliveries keyed by `(deliver_at, seq)` keeps emission order on ties. The next
//! instant is the earliest of: the next delivery, every host's `poll_at` (smoltcp timers and
//! TIME-WAIT expiries), the next scripted step and the deadline of a blocked call. Time never
//! goes backwards, and a spin guard stops a run that makes no progress at one instant.
//! A run is a pure function of (scenario, seed).

use crate::event::{
    CallDone, Event, HostInfo, RouteInfo, RunEnd, RunStart, SegFields, SegmentEvent,
};
use crate::host::Host;
use crate::net::{Network, Verdict};
use crate::rng::stream;
use crate::scenario::{Call, Resolved, SockOpt, Step, WaitFor};
use crate::trace::Recorder;
use crate::wire::SegMeta;
use twsim_model::Family;
use twsim_model::{Duration, Errno, Instant};

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

pub use twsim_model::DEFAULT_WAIT_TIMEOUT;
/// Most loop iterations allowed at one virtual instant before the run is stopped.
const SPIN_LIMIT: u32 = 100_000;

/// What a successful call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    /// Nothing to report.
    None,
    /// bind() chose this address.
    Bound(std::net::SocketAddrV4),
    /// listen() listens here.
    Listening(std::net::SocketAddrV4),
    /// connect() completed after this long.
    Connected(Duration),
    /// accept() returned this connection.
    Accepted(twsim_model::FourTuple),
    /// send() queued this many bytes.
    Queued(usize),
    /// recv() returned these bytes.
    Data(Vec<u8>),
    /// recv() saw the end of the stream.
    Eof,
    /// A wait ended after this long.
    Waited(Duration),
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Detail::None => Ok(()),
            Detail::Bound(a) => write!(f, "bound {a}"),
            Detail::Listening(a) => write!(f, "listening on {a}"),
            Detail::Connected(d) => write!(f, "connected after {d}"),
            Detail::Accepted(t) => write!(f, "accepted {t}"),
            Detail::Queued(n) => write!(f, "{n} bytes queued"),
            Detail::Data(d) => write!(f, "{:?}", String::from_utf8_lossy(d)),
            Detail::Eof => f.write_str("end of stream"),
            Detail::Waited(d) => write!(f, "condition met after {d}"),
        }
    }
}

/// The outcome of one step.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// Index in the scenario.
    pub index: usize,
    /// Host name.
    pub host: String,
    /// Process.
    pub proc: String,
    /// The call, e.g. `bind(L2, 0.0.0.0:9099)` (empty in quiet runs).
    pub call: String,
    /// When it started.
    pub started_at: Instant,
    /// When it completed.
    pub done_at: Instant,
    /// Success detail or errno.
    pub result: Result<Detail, Errno>,
    /// Expected outcome (`Some(None)` = ok).
    pub expect: Option<Option<Errno>>,
    /// Whether the expectations held (`None` = nothing expected).
    pub met: Option<bool>,
    /// Teaching note.
    pub note: Option<String>,
}

/// A TIME-WAIT record's life, for the summary.
#[derive(Debug, Clone)]
pub struct TimeWaitSummary {
    /// Host name.
    pub host: String,
    /// 4-tuple as text.
    pub tuple: String,
    /// Local port.
    pub port: u16,
    /// Incarnation of the 4-tuple.
    pub incarnation: u32,
    /// When it began.
    pub entered_at: Instant,
    /// When it ended (`None`: still alive when the run stopped).
    pub ended_at: Option<Instant>,
    /// End reason name.
    pub reason: &'static str,
    /// Timer restarts.
    pub restarts: u32,
}

/// A check's outcome.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// What was checked.
    pub what: String,
    /// Whether it held.
    pub ok: bool,
}

/// Everything a run produced.
pub struct RunReport {
    /// Scenario name.
    pub name: String,
    /// Variant name.
    pub variant: Option<String>,
    /// Seed.
    pub seed: u64,
    /// (name, address, profile name, TIME-WAIT length) per host.
    pub hosts: Vec<(String, String, &'static str, Duration)>,
    /// Step outcomes, in order.
    pub steps: Vec<StepResult>,
    /// Steps never reached (the run stopped first).
    pub unreached: usize,
    /// TIME-WAIT records.
    pub time_wait: Vec<TimeWaitSummary>,
    /// Checks.
    pub checks: Vec<CheckResult>,
    /// When the run stopped.
    pub ended_at: Instant,
    /// Segments put on the wire, counting copies.
    pub segments: u64,
    /// Recorded trace and capture.
    pub recorder: Recorder,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
}

impl RunReport {
    /// Whether every expectation and check held and the script ran to its end.
    pub fn ok(&self) -> bool {
        self.unreached == 0
            && self.aborted.is_none()
            && self.steps.iter().all(|s| s.met != Some(false))
            && self.checks.iter().all(|c| c.ok)
    }
}

enum Outcome {
    Done(Result<Detail, Errno>),
    Pending,
}

struct Pending {
    step: usize,
    started_at: Instant,
    deadline: Instant,
}

struct Sim<'a> {
    sc: &'a Resolved,
    now: Instant,
    hosts: Vec<Host>,
    net: Network,
    rec: Recorder,
    segments: u64,
}

/// A call as text, e.g. `bind(L2, 0.0.0.0:9099)`.
pub fn describe(call: &Call) -> String {
    match call {
        Call::Socket(s, Family::Inet) => format!("socket({s})"),
        Call::Socket(s, Family::Inet6) => format!("socket({s}, AF_INET6)"),
        Call::SetSockOpt(s, o) => match o {
            SockOpt::ReuseAddr(v) => format!("setsockopt({s}, SO_REUSEADDR, {})", u8::from(*v)),
            SockOpt::ReusePort(v) => format!("setsockopt({s}, SO_REUSEPORT, {})", u8::from(*v)),
            SockOpt::Linger(None) => format!("setsockopt({s}, SO_LINGER, {{0,0}})"),
            SockOpt::Linger(Some(n)) => format!("setsockopt({s}, SO_LINGER, {{1,{n}}})"),
            SockOpt::V6Only(v) => format!("setsockopt({s}, IPV6_V6ONLY, {})", u8::from(*v)),
        },
        Call::Bind(s, a) => format!("bind({s}, {a})"),
        Call::Listen(s, b) => format!("listen({s}, {b})"),
        Call::Connect(s, a) => format!("connect({s}, {a})"),
        Call::Accept(s, a) => format!("accept({s}) -> {a}"),
        Call::Send(s, d) => format!("send({s}, {} bytes)", d.len()),
        Call::Recv(s, _) => format!("recv({s})"),
        Call::Shutdown(s, r, w) => format!(
            "shutdown({s}, {})",
            match (r, w) {
                (true, true) => "SHUT_RDWR",
                (true, false) => "SHUT_RD",
                _ => "SHUT_WR",
            }
        ),
        Call::Close(s) => format!("close({s})"),
        Call::Fork(c) => format!("fork() -> {c}"),
        Call::Exit => "exit()".into(),
        Call::Wait(WaitFor::Time(d)) => format!("wait({d})"),
        Call::Wait(WaitFor::State(s, st)) => format!("wait until {s} is {st}"),
        Call::Wait(WaitFor::Bindable(s, a)) => format!("wait until {s} can bind {a}"),
    }
}

impl<'a> Sim<'a> {
    fn new(sc: &'a Resolved, opts: RunOptions) -> Self {
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
                )
            })
            .collect();
        let net = Network::new(
            sc.seed,
            sc.routes.clone(),
            sc.faults.clone(),
            sc.max_lifetime,
        );
        let mut rec = Recorder::new(opts.trace, opts.pcap);
        rec.timeline_on = !opts.quiet;
        let mut hosts: Vec<Host> = hosts;
        for h in &mut hosts {
            h.record = rec.wants_events();
        }
        Sim {
            sc,
            now: Instant::ZERO,
            hosts,
            net,
            rec,
            segments: 0,
        }
    }

    fn host_of(&self, ip: std::net::Ipv4Addr) -> Option<usize> {
        self.hosts.iter().position(|h| h.addr == ip)
    }

    /// Moves host `i`'s events into the trace and its packets onto the network.
    fn flush(&mut self, i: usize) {
        let now = self.now;
        for e in std::mem::take(&mut self.hosts[i].events) {
            self.rec.emit(now, Some(&self.hosts[i].name), &e);
        }
        for pkt in self.hosts[i].take_tx() {
            let seg = pkt.meta;
            let to = self.host_of(*seg.dst.ip());
            self.segments += 1;
            let verdicts = self.net.send(now, i, to, pkt);
            if !self.rec.wants_events() {
                continue;
            }
            let from = self.hosts[i].name.clone();
            let to_name = to.map_or("?".to_string(), |t| self.hosts[t].name.clone());
            for v in verdicts {
                self.trace_verdict(&from, &to_name, &seg, &v);
            }
        }
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
                route: route.clone(),
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
                route: route.clone(),
                fault: *fault,
            },
        };
        let host = match &event {
            SegmentEvent::Sent { from, .. } | SegmentEvent::Dropped { from, .. } => from.clone(),
            SegmentEvent::Delivered { .. } => unreachable!("a verdict is a send"),
        };
        self.rec.emit(self.now, Some(&host), &Event::Segment(event));
    }

    /// Delivers everything due now and runs every host timer due now.
    fn process_due(&mut self) -> Result<(), String> {
        let now = self.now;
        for _ in 0..SPIN_LIMIT {
            let mut busy = false;
            while let Some(seg) = self.net.pop_due(now) {
                busy = true;
                self.rec.capture(now, &seg.pkt.bytes);
                if self.rec.wants_events() {
                    let event = Event::Segment(SegmentEvent::Delivered {
                        seg: SegFields::of(&seg.pkt.meta),
                        id: seg.id,
                        dup_of: seg.dup_of,
                        route: self.net.route_name(seg.route).to_string(),
                        age: now - seg.sent_at,
                    });
                    self.rec.emit(now, Some(&self.hosts[seg.to].name), &event);
                }
                self.hosts[seg.to].deliver(now, seg.pkt);
                self.flush(seg.to);
            }
            for i in 0..self.hosts.len() {
                if self.hosts[i].poll_at(now).is_some_and(|t| t <= now) {
                    busy = true;
                    self.hosts[i].poll(now);
                    self.flush(i);
                }
            }
            if !busy {
                return Ok(());
            }
        }
        Err(format!(
            "no progress at t={now}: stopped after {SPIN_LIMIT} iterations"
        ))
    }

    fn start(&mut self, step: &Step) -> Outcome {
        let now = self.now;
        let h = &mut self.hosts[step.host];
        let p = step.proc.as_str();
        if !h.procs.is_alive(p) {
            return Outcome::Done(Err(Errno::EBADF));
        }
        let r = match &step.call {
            Call::Socket(s, Family::Inet) => h.socket(p, s).map(|_| Detail::None),
            // The smoltcp endpoints are IPv4-only: like a kernel without IPv6
            // (`inet6_create` absent), socket(AF_INET6) is EAFNOSUPPORT. The CLI refuses such
            // scripts before running them (`Resolved::require_ipv4`).
            Call::Socket(_, Family::Inet6) => Err(Errno::EAFNOSUPPORT),
            // Every socket here is AF_INET: an IPv6-level option is ENOPROTOOPT
            // (`ip_setsockopt`), after the handle check.
            Call::SetSockOpt(s, SockOpt::V6Only(_)) => {
                h.setsockopt(p, s, |_| {}).and(Err(Errno::ENOPROTOOPT))
            }
            Call::SetSockOpt(s, o) => {
                let o = *o;
                h.setsockopt(p, s, |opts| match o {
                    SockOpt::ReuseAddr(v) => opts.reuseaddr = v,
                    SockOpt::ReusePort(v) => opts.reuseport = v,
                    SockOpt::Linger(v) => opts.linger_secs = v,
                    SockOpt::V6Only(_) => {}
                })
                .map(|_| Detail::None)
            }
            Call::Bind(s, a) => h.bind(p, s, *a).map(Detail::Bound),
            Call::Listen(s, b) => h.listen(p, s, *b).map(Detail::Listening),
            Call::Connect(s, a) => match h.connect(now, p, s, *a) {
                Ok(_) => return Outcome::Pending,
                Err(e) => Err(e),
            },
            Call::Accept(..) | Call::Recv(..) | Call::Wait(..) => return Outcome::Pending,
            Call::Send(s, d) => h.send(now, p, s, d).map(Detail::Queued),
            Call::Shutdown(s, _, w) => h.shutdown(now, p, s, *w).map(|_| Detail::None),
            Call::Close(s) => h.close(now, p, s).map(|_| Detail::None),
            Call::Fork(c) => h.fork(p, c).map(|_| Detail::None),
            Call::Exit => h.exit(now, p).map(|_| Detail::None),
        };
        Outcome::Done(r)
    }

    /// Whether the blocked step has completed now; times out at the deadline.
    fn poll_pending(&mut self, step: &Step, pend: &Pending) -> Option<Result<Detail, Errno>> {
        let now = self.now;
        let h = &mut self.hosts[step.host];
        let p = step.proc.as_str();
        let expired = now >= pend.deadline;
        match &step.call {
            Call::Connect(s, _) => match h.connect_result(s) {
                Some(r) => Some(r.map(|_| Detail::Connected(now - pend.started_at))),
                None if expired => {
                    h.connect_timeout(now, s);
                    Some(Err(Errno::ETIMEDOUT))
                }
                None => None,
            },
            Call::Accept(s, a) => match h.accept(p, s, a) {
                Ok(Some(t)) => Some(Ok(Detail::Accepted(t))),
                Ok(None) if expired => Some(Err(Errno::EAGAIN)),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            },
            Call::Recv(s, max) => match h.recv(now, p, s, *max) {
                Ok(Some(d)) if d.is_empty() => Some(Ok(Detail::Eof)),
                Ok(Some(d)) => Some(Ok(Detail::Data(d))),
                Ok(None) if expired => Some(Err(Errno::EAGAIN)),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            },
            Call::Wait(WaitFor::Time(d)) => {
                (now >= pend.started_at + *d).then_some(Ok(Detail::None))
            }
            Call::Wait(WaitFor::State(s, st)) => {
                if h.state_of(s) == st {
                    Some(Ok(Detail::Waited(now - pend.started_at)))
                } else if expired {
                    Some(Err(Errno::ETIMEDOUT))
                } else {
                    None
                }
            }
            Call::Wait(WaitFor::Bindable(s, a)) => match h.bindable(s, *a) {
                Ok(()) => Some(Ok(Detail::Waited(now - pend.started_at))),
                // A conflict may end (TIME-WAIT expires, a socket closes); nothing else will.
                Err(Errno::EADDRINUSE | Errno::EACCES) if expired => Some(Err(Errno::ETIMEDOUT)),
                Err(Errno::EADDRINUSE | Errno::EACCES) => None,
                Err(e) => Some(Err(e)),
            },
            _ => Some(Ok(Detail::None)),
        }
    }

    fn deadline(&self, step: &Step) -> Instant {
        let d = match &step.call {
            Call::Connect(..) => step
                .timeout
                .unwrap_or(self.hosts[step.host].cfg.connect_timeout),
            Call::Wait(WaitFor::Time(d)) => *d,
            _ => step.timeout.unwrap_or(DEFAULT_WAIT_TIMEOUT),
        };
        self.now + d
    }

    fn finish_step(
        &mut self,
        step: &Step,
        started_at: Instant,
        result: Result<Detail, Errno>,
        out: &mut Vec<StepResult>,
    ) {
        let data_ok = match (&step.expect_data, &result) {
            (Some(want), Ok(Detail::Data(got))) => Some(want.as_bytes() == got.as_slice()),
            (Some(_), _) => Some(false),
            _ => None,
        };
        let errno_ok = step.expect.map(|e| e == result.as_ref().err().copied());
        let met = match (errno_ok, data_ok) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(true) && b.unwrap_or(true)),
        };
        let h = &self.hosts[step.host];
        let host = h.name.clone();
        let call = if self.rec.wants_events() || met == Some(false) {
            describe(&step.call)
        } else {
            String::new()
        };
        if self.rec.wants_events() {
            let style = h.cfg.errno_style;
            let shown = match &result {
                Ok(Detail::None) => "ok".to_string(),
                Ok(d) => format!("ok: {d}"),
                Err(e) => e.display_for(style),
            };
            let event = Event::Call(CallDone {
                step: step.index,
                proc: step.proc.clone(),
                call: call.clone(),
                started_at,
                result: match &result {
                    Ok(_) => "ok",
                    Err(e) => e.name(),
                },
                detail: result.as_ref().ok().map(|d| d.to_string()),
                shown,
                expect: step.expect.map(|e| e.map_or("ok", |e| e.name())),
                met,
                expect_shown: step
                    .expect
                    .map(|e| e.map_or("ok".to_string(), |e| e.display_for(style))),
                note: step.note.clone(),
            });
            self.rec.emit(self.now, Some(&host), &event);
        }
        out.push(StepResult {
            index: step.index,
            host,
            proc: step.proc.clone(),
            call,
            started_at,
            done_at: self.now,
            result,
            expect: step.expect,
            met,
            note: step.note.clone(),
        });
    }

    fn run(mut self) -> RunReport {
        let sc = self.sc;
        let start = Event::Run(RunStart {
            scenario: sc.name.clone(),
            variant: sc.variant.clone(),
            seed: sc.seed,
            version: env!("CARGO_PKG_VERSION"),
            max_lifetime: sc.max_lifetime,
            hosts: sc
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
            routes: sc
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
        });
        self.rec.emit(Instant::ZERO, None, &start);
        let mut results = Vec::new();
        let mut next = 0usize;
        let mut prev_done = Instant::ZERO;
        let mut pending: Option<Pending> = None;
        let mut aborted = None;
        let mut same_instant = 0u32;
        loop {
            if let Err(e) = self.process_due() {
                aborted = Some(e);
                break;
            }
            // the script
            loop {
                if let Some(p) = pending.take() {
                    let step = &sc.steps[p.step];
                    match self.poll_pending(step, &p) {
                        Some(r) => {
                            self.finish_step(step, p.started_at, r, &mut results);
                            self.flush(step.host);
                            prev_done = self.now;
                            next += 1;
                        }
                        None => {
                            pending = Some(p);
                            break;
                        }
                    }
                }
                let Some(step) = sc.steps.get(next) else {
                    break;
                };
                if step.start_time(prev_done) > self.now {
                    break;
                }
                match self.start(step) {
                    Outcome::Done(r) => {
                        self.finish_step(step, self.now, r, &mut results);
                        self.flush(step.host);
                        prev_done = self.now;
                        next += 1;
                    }
                    Outcome::Pending => {
                        self.flush(step.host);
                        pending = Some(Pending {
                            step: next,
                            started_at: self.now,
                            deadline: self.deadline(step),
                        });
                    }
                }
            }
            for i in 0..self.hosts.len() {
                self.flush(i);
            }
            if pending.is_none() && next < sc.steps.len() {
                // a step is due now only if its time has come; loop again to run it
                if sc.steps[next].start_time(prev_done) <= self.now {
                    continue;
                }
            }
            // the next instant
            let now = self.now;
            let mut earliest: Option<Instant> = self.net.next_delivery();
            let mut consider = |t: Option<Instant>| {
                if let Some(t) = t {
                    earliest = Some(earliest.map_or(t, |e| e.min(t)));
                }
            };
            for h in &mut self.hosts {
                consider(h.poll_at(now));
            }
            match &pending {
                Some(p) => consider(Some(p.deadline)),
                None => consider(sc.steps.get(next).map(|step| step.start_time(prev_done))),
            }
            let Some(t) = earliest else {
                break;
            };
            let t = t.max(now);
            if next >= sc.steps.len() && t > prev_done + sc.linger_after_steps {
                break;
            }
            if t == now {
                same_instant += 1;
                if same_instant > SPIN_LIMIT {
                    aborted = Some(format!("no progress at t={now}"));
                    break;
                }
            } else {
                same_instant = 0;
            }
            self.now = t;
        }
        let unreached = sc.steps.len() - next;
        if let Some(p) = &pending {
            let step = &sc.steps[p.step];
            let event = Event::Stopped {
                call: describe(&step.call),
            };
            self.rec
                .emit(self.now, Some(&self.hosts[step.host].name), &event);
        }
        self.report(results, unreached, aborted)
    }

    fn report(
        mut self,
        steps: Vec<StepResult>,
        unreached: usize,
        aborted: Option<String>,
    ) -> RunReport {
        let mut tw = Vec::new();
        for h in &self.hosts {
            for l in &h.tw_log {
                tw.push(TimeWaitSummary {
                    host: h.name.clone(),
                    tuple: l.record.tuple.to_string(),
                    port: l.record.tuple.local.port(),
                    incarnation: l.record.incarnation,
                    entered_at: l.record.entered_at,
                    ended_at: Some(l.ended_at),
                    reason: l.reason.name(),
                    restarts: l.record.restarts(),
                });
            }
            for r in h.live_time_wait() {
                tw.push(TimeWaitSummary {
                    host: h.name.clone(),
                    tuple: r.tuple.to_string(),
                    port: r.tuple.local.port(),
                    incarnation: r.incarnation,
                    entered_at: r.entered_at,
                    ended_at: None,
                    reason: "alive",
                    restarts: r.restarts(),
                });
            }
        }
        let mut checks = Vec::new();
        for c in &self.sc.checks {
            let h = &self.hosts[c.host];
            let mine: Vec<&TimeWaitSummary> = tw
                .iter()
                .filter(|t| t.host == h.name && c.port.is_none_or(|p| t.port == p))
                .collect();
            let port = c
                .port
                .map_or("any port".to_string(), |p| format!("port {p}"));
            let count_ok = c.count.map_or(!mine.is_empty(), |n| mine.len() == n);
            checks.push(CheckResult {
                what: format!(
                    "{}: TIME-WAIT records on {port}: {} (expected {})",
                    h.name,
                    mine.len(),
                    c.count.map_or("at least 1".into(), |n| n.to_string())
                ),
                ok: count_ok,
            });
            for t in &mine {
                if let Some(d) = c.duration {
                    let want = d.unwrap_or(h.tw_len);
                    let lived = t.ended_at.map(|e| e - t.entered_at);
                    checks.push(CheckResult {
                        what: format!(
                            "{}: TIME-WAIT {} lived {} (expected {want})",
                            h.name,
                            t.tuple,
                            lived.map_or("(still alive)".into(), |l| l.to_string())
                        ),
                        ok: lived == Some(want),
                    });
                }
                if let Some(n) = c.restarts {
                    checks.push(CheckResult {
                        what: format!(
                            "{}: TIME-WAIT {} restarted {} time(s) (expected {n})",
                            h.name, t.tuple, t.restarts
                        ),
                        ok: t.restarts == n,
                    });
                }
            }
        }
        let hosts = self
            .sc
            .hosts
            .iter()
            .zip(&self.hosts)
            .map(|(s, h)| {
                (
                    s.name.clone(),
                    s.addr.to_string(),
                    s.profile.name(),
                    h.tw_len,
                )
            })
            .collect();
        let end = Event::End(RunEnd {
            steps: steps.len(),
            unreached,
            segments: self.segments,
            aborted: aborted.clone(),
        });
        self.rec.emit(self.now, None, &end);
        RunReport {
            name: self.sc.name.clone(),
            variant: self.sc.variant.clone(),
            seed: self.sc.seed,
            hosts,
            steps,
            unreached,
            time_wait: tw,
            checks,
            ended_at: self.now,
            segments: self.segments,
            recorder: self.rec,
            aborted,
        }
    }
}

/// Runs a resolved scenario to completion.
pub fn run(sc: &Resolved, opts: RunOptions) -> RunReport {
    Sim::new(sc, opts).run()
}

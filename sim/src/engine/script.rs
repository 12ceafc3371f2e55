//! The script interpreter: starting each step when its time comes, completing blocked calls
//! (connect, accept, recv, wait) or timing them out, and recording each step's result.

use super::Sim;
use crate::event::{CallDone, Event};
use crate::scenario::{Call, SockOpt, Step, WaitFor};
use std::sync::Arc;
use twsim_model::{Duration, Errno, Family, Instant, DEFAULT_WAIT_TIMEOUT};

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
    /// accept() returned this connection (boxed: a 4-tuple of two socket addresses is 64
    /// bytes, twice any other detail, and every step's result would carry its size).
    Accepted(Box<twsim_model::FourTuple>),
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

/// The outcome of one step. What the step asked for (its process, call, socket, address,
/// expectation, note) is read from the step itself, which the result shares with
/// [`Resolved::steps`](crate::scenario::Resolved::steps) rather than copying: a result is
/// 80 bytes with nothing else on the heap, where copies of the step's texts made it about
/// 300 (a script of 141 165 steps kept 35 MB of results).
#[derive(Debug, Clone)]
pub struct StepResult {
    /// The step.
    pub step: Arc<Step>,
    /// Its host's name.
    pub host: Arc<str>,
    /// When it started.
    pub started_at: Instant,
    /// When it completed.
    pub done_at: Instant,
    /// Success detail or errno.
    pub result: Result<Detail, Errno>,
    /// Whether the expectations held (`None` = nothing expected): the errno expected
    /// ([`Step::expect`]) and the data expected ([`Step::expect_data`]).
    pub met: Option<bool>,
}

impl StepResult {
    /// The step's index in the scenario.
    pub fn index(&self) -> usize {
        self.step.index
    }

    /// The process that made the call.
    pub fn proc(&self) -> &str {
        &self.step.proc
    }

    /// The call as text, e.g. `bind(L2, 0.0.0.0:9099)` ([`describe`]).
    pub fn call(&self) -> String {
        describe(&self.step.call)
    }

    /// The socket the call acts on ([`call_socket`]; `None` for fork, exit and a plain wait).
    pub fn sock(&self) -> Option<&str> {
        call_socket(&self.step.call)
    }

    /// The address the call names ([`call_addr`]: bind, connect, wait until bindable).
    pub fn addr(&self) -> Option<std::net::SocketAddr> {
        call_addr(&self.step.call)
    }

    /// The expected outcome (`Some(None)` = ok).
    pub fn expect(&self) -> Option<Option<Errno>> {
        self.step.expect
    }

    /// The teaching note printed for this outcome ([`Note::for_outcome`](crate::scenario::Note::for_outcome)).
    pub fn note(&self) -> Option<&str> {
        let errno = self.result.as_ref().err().copied();
        self.step.note.as_ref()?.for_outcome(errno, self.met)
    }

    /// Whether this is the story's key call ([`Step::key`]).
    pub fn key(&self) -> bool {
        self.step.key
    }
}

/// The script name of the socket a call acts on: the listener for accept, the socket waited
/// on for `wait until state` and `wait until bindable`; `None` for fork, exit and a plain
/// wait.
pub fn call_socket(call: &Call) -> Option<&str> {
    match call {
        Call::Socket(s, _)
        | Call::SetSockOpt(s, _)
        | Call::Bind(s, _)
        | Call::Listen(s, _)
        | Call::Connect(s, _)
        | Call::Accept(s, _)
        | Call::Send(s, _)
        | Call::Recv(s, _)
        | Call::Shutdown(s, _, _)
        | Call::Close(s)
        | Call::Wait(WaitFor::State(s, _))
        | Call::Wait(WaitFor::Bindable(s, _)) => Some(s),
        Call::Fork(_) | Call::Exit | Call::Wait(WaitFor::Time(_)) => None,
    }
}

/// The address a call names: bind's local address, connect's remote one, the address of
/// `wait until bindable`; `None` for every other call.
pub fn call_addr(call: &Call) -> Option<std::net::SocketAddr> {
    match call {
        Call::Bind(_, a) | Call::Connect(_, a) | Call::Wait(WaitFor::Bindable(_, a)) => Some(*a),
        _ => None,
    }
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

pub(super) enum Outcome {
    Done(Result<Detail, Errno>),
    Pending,
}

pub(super) struct Pending {
    /// Index of the blocked step.
    pub(super) step: usize,
    /// When it started.
    pub(super) started_at: Instant,
    /// When it times out.
    pub(super) deadline: Instant,
}

/// Where the script stands.
pub(super) struct Cursor {
    /// Index of the next step to start.
    pub(super) next: usize,
    /// When the previous step completed.
    pub(super) prev_done: Instant,
    /// The step blocked in a call, if any.
    pub(super) pending: Option<Pending>,
    /// Results of the completed steps.
    pub(super) results: Vec<StepResult>,
    /// The hosts' names, shared by the results.
    host_names: Vec<Arc<str>>,
}

impl Cursor {
    /// At the first step, with the names of `hosts` (the run's, in order).
    pub(super) fn new(hosts: &[crate::host::Host]) -> Cursor {
        Cursor {
            next: 0,
            prev_done: Instant::ZERO,
            pending: None,
            results: Vec::new(),
            host_names: hosts.iter().map(|h| Arc::from(&*h.name)).collect(),
        }
    }
}

impl Sim<'_> {
    /// Completes the blocked step if it can, then starts every step due now, in order, until
    /// one blocks or the next is not due yet.
    #[inline(never)]
    pub(super) fn run_due_steps(&mut self, cur: &mut Cursor) {
        let sc = self.sc;
        loop {
            if let Some(p) = cur.pending.take() {
                let step = &sc.steps[p.step];
                match self.poll_pending(step, &p) {
                    Some(r) => {
                        self.finish_step(step, p.started_at, r, cur);
                        self.flush(step.host);
                        cur.prev_done = self.now;
                        cur.next += 1;
                    }
                    None => {
                        cur.pending = Some(p);
                        return;
                    }
                }
            }
            let Some(step) = sc.steps.get(cur.next) else {
                return;
            };
            if step.start_time(cur.prev_done) > self.now {
                return;
            }
            match self.start(step) {
                Outcome::Done(r) => {
                    self.finish_step(step, self.now, r, cur);
                    self.flush(step.host);
                    cur.prev_done = self.now;
                    cur.next += 1;
                }
                Outcome::Pending => {
                    self.flush(step.host);
                    cur.pending = Some(Pending {
                        step: cur.next,
                        started_at: self.now,
                        deadline: self.deadline(step),
                    });
                }
            }
        }
    }

    fn start(&mut self, step: &Step) -> Outcome {
        let now = self.now;
        let h = self.host_mut(step.host);
        let p = step.proc.as_str();
        if step.starts {
            // Refused only for a process that exited, which the script's validation excludes.
            let _ = h.procs.start(p);
        }
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
        let h = self.host_mut(step.host);
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
                Ok(Some(t)) => Some(Ok(Detail::Accepted(Box::new(t)))),
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
                if h.state_of(s) == *st {
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
        step: &Arc<Step>,
        started_at: Instant,
        result: Result<Detail, Errno>,
        cur: &mut Cursor,
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
        let r = StepResult {
            step: Arc::clone(step),
            host: Arc::clone(&cur.host_names[step.host]),
            started_at,
            done_at: self.now,
            result,
            met,
        };
        let h = &self.hosts[step.host];
        if self.rec.wants_events() {
            let style = h.cfg.errno_style;
            let result = &r.result;
            let shown = match result {
                Ok(Detail::None) => "ok".to_string(),
                Ok(d) => format!("ok: {d}"),
                Err(e) => e.display_for(style),
            };
            let event = Event::Call(CallDone {
                step: step.index,
                proc: step.proc.clone(),
                call: r.call(),
                started_at,
                result: match result {
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
                note: r.note().map(str::to_string),
                reference: self.sc.reference.map(|p| p.name()),
            });
            self.rec.emit(self.now, Some(&h.name), &event);
        }
        let out = &mut cur.results;
        if out.capacity() == 0 {
            // At most one result per step: sized once rather than doubled, which would leave
            // up to half the vector unused in a run of many steps.
            out.reserve_exact(self.sc.steps.len());
        }
        out.push(r);
    }
}

#[cfg(test)]
mod tests {
    use super::StepResult;

    #[test]
    fn a_result_stays_small_and_copies_nothing_of_its_step() {
        // A script of 141 165 steps keeps one result per step until the end of the run.
        let n = std::mem::size_of::<StepResult>();
        assert!(n <= 80, "{n} bytes");
    }
}

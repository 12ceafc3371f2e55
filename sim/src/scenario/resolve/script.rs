//! The socket-call script: each step's host, process and time, its call with the sockets and
//! processes it names (created by earlier steps), and its expected result.

use super::super::error::{Ctx, ScenarioError};
use super::super::format::{NoteSpec, StepSpec};
use super::super::resolved::{Call, Host, Note, SockOpt, Step, WaitFor};
use super::super::steps::Steps;
use super::super::values::{expectation, flag, linger, socket_addr, state_name, At};
use super::hosts::host_index;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use twsim_model::{Duration, Family};

/// The steps, in file order (a scenario without workloads needs one: `Scenario::resolve`),
/// each allocated once where it is made, as [`Resolved::steps`](super::super::Resolved::steps)
/// holds it.
pub(super) fn steps(
    ctx: &Ctx,
    specs: &Steps,
    hosts: &[Host],
) -> Result<Vec<Arc<Step>>, ScenarioError> {
    let mut script = Script {
        socks: vec![BTreeSet::new(); hosts.len()],
        procs: vec![BTreeMap::from([("main".to_string(), None)]); hosts.len()],
        last_abs: Duration::ZERO,
    };
    let mut steps = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let s = spec(ctx, i, s)?;
        steps.push(Arc::new(script.step(ctx, hosts, i, &s)?));
    }
    Ok(steps)
}

/// Step `i` as read from its text, or the error at its path (only for a scenario not made by
/// `scenario::parse`, which checks every step).
pub(super) fn spec(
    ctx: &Ctx,
    i: usize,
    read: Result<StepSpec, serde_path_to_error::Error<serde_json::Error>>,
) -> Result<StepSpec, ScenarioError> {
    read.map_err(|e| {
        let path = match e.path().to_string().as_str() {
            "." => format!("steps[{i}]"),
            p => format!("steps[{i}].{p}"),
        };
        super::super::serde_error(ctx.file, ctx.src, path, e.into_inner())
    })
}

/// A step's validated note: each key of a per-outcome note is `"ok"` or an errno name.
fn note(ctx: &Ctx, p: &str, n: &NoteSpec) -> Result<Note, ScenarioError> {
    Ok(match n {
        NoteSpec::Text(t) => Note::Text(t.clone()),
        NoteSpec::ByOutcome(m) => {
            if m.is_empty() {
                return Err(ctx.err(
                    &format!("{p}.note"),
                    "a per-outcome note needs at least one outcome",
                ));
            }
            Note::ByOutcome(
                m.iter()
                    .map(|(k, t)| Ok((expectation(ctx, &format!("{p}.note.{k}"), k)?, t.clone())))
                    .collect::<Result<_, ScenarioError>>()?,
            )
        }
    })
}

/// What the steps so far created: socket and process names per host (each process with the
/// step that ended it, if one did), and the latest absolute step time.
struct Script {
    socks: Vec<BTreeSet<String>>,
    procs: Vec<BTreeMap<String, Option<usize>>>,
    last_abs: Duration,
}

impl Script {
    /// Step `i`.
    fn step(
        &mut self,
        ctx: &Ctx,
        hosts: &[Host],
        i: usize,
        s: &StepSpec,
    ) -> Result<Step, ScenarioError> {
        let p = format!("steps[{i}]");
        let h = host_index(ctx, hosts, &format!("{p}.host"), &s.host)?;
        let proc = s.proc.clone().unwrap_or_else(|| "main".into());
        // A process not seen before starts here, holding no handles; one that exited is gone.
        let starts = match self.procs[h].get(&proc) {
            None => {
                self.procs[h].insert(proc.clone(), None);
                true
            }
            Some(None) => false,
            Some(Some(k)) => {
                return Err(ctx.err(
                    &format!("{p}.proc"),
                    format!(
                        "process {proc:?} on host {:?} exited at steps[{k}] and cannot run calls any more (start a process under a new name)",
                        s.host
                    ),
                ))
            }
        };
        if let Some(At::Absolute(t)) = s.at {
            if t < self.last_abs {
                return Err(ctx.err(
                    &format!("{p}.at"),
                    format!(
                        "absolute time {t} is before an earlier step's {}",
                        self.last_abs
                    ),
                ));
            }
            self.last_abs = t;
        }
        if s.family.is_some() && s.call != "socket" {
            return Err(ctx.err(
                &format!("{p}.family"),
                format!("\"family\" belongs to socket, not {:?}", s.call),
            ));
        }
        let f = Fields { ctx, p: &p, s };
        let call = self.call(&f, h)?;
        if matches!(call, Call::Exit) {
            self.procs[h].insert(proc.clone(), Some(i));
        }
        let expect = s
            .expect
            .as_deref()
            .map(|e| expectation(ctx, &format!("{p}.expect"), e))
            .transpose()?;
        Ok(Step {
            index: i,
            at: s.at,
            host: h,
            proc,
            starts,
            call,
            timeout: s.timeout.map(|d| d.0),
            expect,
            expect_data: s.expect_data.clone(),
            note: s.note.as_ref().map(|n| note(ctx, &p, n)).transpose()?,
            key: s.key,
        })
    }

    /// The call of step `f` on host `h`.
    fn call(&mut self, f: &Fields, h: usize) -> Result<Call, ScenarioError> {
        let (ctx, p, s) = (f.ctx, f.p, f.s);
        let socks = &mut self.socks[h];
        Ok(match s.call.as_str() {
            "socket" => {
                let family = match s.family.as_deref() {
                    None | Some("inet") => Family::Inet,
                    Some("inet6") => Family::Inet6,
                    Some(other) => return Err(ctx.err(&format!("{p}.family"), format!("unknown address family {other:?} (inet, inet6)"))),
                };
                Call::Socket(f.new_name(socks, "sock", f.need("sock", &s.sock)?)?, family)
            }
            "setsockopt" => Call::SetSockOpt(f.sock(socks)?, f.sockopt()?),
            "bind" => Call::Bind(f.sock(socks)?, f.addr("addr")?),
            "listen" => Call::Listen(f.sock(socks)?, s.backlog.unwrap_or(128)),
            "connect" => Call::Connect(f.sock(socks)?, f.addr("addr")?),
            "accept" => {
                let l = f.sock(socks)?;
                let a = f.new_name(socks, "as", f.need("as", &s.as_name)?)?;
                Call::Accept(l, a)
            }
            "send" => Call::Send(f.sock(socks)?, f.need("data", &s.data)?.into_bytes()),
            "recv" => Call::Recv(f.sock(socks)?, s.bytes),
            "shutdown" => {
                let n = f.sock(socks)?;
                let (r, w) = match s.how.as_deref().unwrap_or("write") {
                    "read" => (true, false),
                    "write" => (false, true),
                    "both" => (true, true),
                    other => return Err(ctx.err(&format!("{p}.how"), format!("unknown shutdown direction {other:?} (read, write, both)"))),
                };
                Call::Shutdown(n, r, w)
            }
            "close" => Call::Close(f.sock(socks)?),
            "fork" => {
                let c = f.need("child", &s.child)?;
                if self.procs[h].contains_key(&c) {
                    return Err(ctx.err(&format!("{p}.child"), format!("process {c:?} already exists on host {:?}", s.host)));
                }
                self.procs[h].insert(c.clone(), None);
                Call::Fork(c)
            }
            "exit" => Call::Exit,
            "wait" => Call::Wait(f.wait(socks)?),
            other => return Err(ctx.err(&format!("{p}.call"), format!("unknown call {other:?} (socket, setsockopt, bind, listen, connect, accept, send, recv, shutdown, close, fork, exit, wait)"))),
        })
    }
}

/// One step's fields, written at JSON path `p`.
struct Fields<'a> {
    ctx: &'a Ctx<'a>,
    p: &'a str,
    s: &'a StepSpec,
}

impl Fields<'_> {
    /// A field the call needs.
    fn need(&self, field: &str, v: &Option<String>) -> Result<String, ScenarioError> {
        v.clone().ok_or_else(|| {
            self.ctx.err(
                self.p,
                format!("call {:?} needs field {field:?}", self.s.call),
            )
        })
    }

    /// The existing socket named in `sock`.
    fn sock(&self, socks: &BTreeSet<String>) -> Result<String, ScenarioError> {
        let n = self.need("sock", &self.s.sock)?;
        if !socks.contains(&n) {
            return Err(self.ctx.err(
                &format!("{}.sock", self.p),
                format!(
                    "unknown socket {n:?} on host {:?} (create it with socket or accept first)",
                    self.s.host
                ),
            ));
        }
        Ok(n)
    }

    /// A new socket name `n`, written in `field`.
    fn new_name(
        &self,
        socks: &mut BTreeSet<String>,
        field: &str,
        n: String,
    ) -> Result<String, ScenarioError> {
        if !socks.insert(n.clone()) {
            return Err(self.ctx.err(
                &format!("{}.{field}", self.p),
                format!("duplicate socket name {n:?} on host {:?}", self.s.host),
            ));
        }
        Ok(n)
    }

    /// The socket address the call needs in `field` (errors point at `addr`).
    fn addr(&self, field: &str) -> Result<SocketAddr, ScenarioError> {
        let a = self.need(field, &self.s.addr)?;
        socket_addr(self.ctx, &format!("{}.addr", self.p), &a)
    }

    /// The option and value of setsockopt.
    fn sockopt(&self) -> Result<SockOpt, ScenarioError> {
        let (ctx, p, s) = (self.ctx, self.p, self.s);
        let opt = self.need("opt", &s.opt)?;
        let vpath = format!("{p}.value");
        Ok(match opt.as_str() {
            "SO_REUSEADDR" => SockOpt::ReuseAddr(flag(ctx, &vpath, &opt, &s.value)?),
            "SO_REUSEPORT" => SockOpt::ReusePort(flag(ctx, &vpath, &opt, &s.value)?),
            "SO_LINGER" => SockOpt::Linger(linger(ctx, &vpath, &s.value)?),
            "IPV6_V6ONLY" => SockOpt::V6Only(flag(ctx, &vpath, &opt, &s.value)?),
            other => return Err(ctx.err(&format!("{p}.opt"), format!("unknown or unsupported option {other:?} (supported: SO_REUSEADDR, SO_REUSEPORT, SO_LINGER, IPV6_V6ONLY)"))),
        })
    }

    /// What wait waits for: `for` a time, or `until` a state or bindability.
    fn wait(&self, socks: &BTreeSet<String>) -> Result<WaitFor, ScenarioError> {
        let (ctx, p, s) = (self.ctx, self.p, self.s);
        Ok(match (s.until.as_deref(), s.for_) {
            (None, Some(d)) => WaitFor::Time(d.0),
            (Some("state"), None) => {
                let st = state_name(ctx, &format!("{p}.state"), &self.need("state", &s.state)?)?;
                WaitFor::State(self.sock(socks)?, st)
            }
            (Some("bindable"), None) => WaitFor::Bindable(self.sock(socks)?, self.addr("addr")?),
            (Some(u), None) => {
                return Err(ctx.err(
                    &format!("{p}.until"),
                    format!("unknown wait condition {u:?} (state, bindable)"),
                ))
            }
            (None, None) => return Err(ctx.err(p, "wait needs \"for\" or \"until\"")),
            (Some(_), Some(_)) => {
                return Err(ctx.err(p, "wait takes \"for\" or \"until\", not both"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::resolved::{Call, SockOpt, WaitFor};
    use super::super::tests::{error, resolve};
    use twsim_model::{Duration, Family};

    fn script(steps: &str) -> String {
        format!(
            r#"{{"name": "s", "hosts": [{{"name": "a", "addr": "10.0.0.1"}}], "steps": {steps}}}"#
        )
    }

    #[test]
    fn calls_name_sockets_and_processes_created_earlier() {
        let r = resolve(&script(
            r#"[{"host": "a", "call": "socket", "sock": "l", "family": "inet6"},
                {"host": "a", "call": "setsockopt", "sock": "l", "opt": "SO_LINGER",
                 "value": {"on": 1, "secs": 0}},
                {"host": "a", "call": "bind", "sock": "l", "addr": "[::1]:80"},
                {"host": "a", "call": "listen", "sock": "l"},
                {"host": "a", "call": "accept", "sock": "l", "as": "c", "at": "+1s"},
                {"host": "a", "call": "fork", "child": "kid"},
                {"host": "a", "proc": "kid", "call": "exit"},
                {"host": "a", "call": "wait", "until": "state", "sock": "c",
                 "state": "time_wait", "expect": "ETIMEDOUT"}]"#,
        ))
        .unwrap();
        let calls: Vec<&Call> = r.steps.iter().map(|s| &s.call).collect();
        assert_eq!(calls[0], &Call::Socket("l".into(), Family::Inet6));
        assert_eq!(
            calls[1],
            &Call::SetSockOpt("l".into(), SockOpt::Linger(Some(0)))
        );
        assert_eq!(calls[3], &Call::Listen("l".into(), 128));
        assert_eq!(calls[4], &Call::Accept("l".into(), "c".into()));
        assert_eq!(
            calls[7],
            &Call::Wait(WaitFor::State("c".into(), twsim_model::TcpState::TimeWait))
        );
        assert_eq!(r.steps[6].proc, "kid");
        assert!(r.steps[7].expect.unwrap().is_some());
        assert_eq!(r.uses_ipv6().unwrap().path, "steps[0].family");
    }

    #[test]
    fn script_errors() {
        let e = |steps: &str| error(&script(steps));
        assert_eq!(
            e("[]"),
            "steps: a scenario needs at least one step or workload"
        );
        assert_eq!(
            e(r#"[{"host": "b", "call": "exit"}]"#),
            "steps[0].host: unknown host \"b\""
        );
        assert_eq!(
            e(r#"[{"host": "a", "call": "exit"}, {"host": "a", "call": "exit"}]"#),
            "steps[1].proc: process \"main\" on host \"a\" exited at steps[0] and cannot run calls any more (start a process under a new name)"
        );
        assert_eq!(
            e(r#"[{"host": "a", "call": "wait", "for": "1s", "at": "2s"},
                  {"host": "a", "call": "exit", "at": "1s"}]"#),
            "steps[1].at: absolute time 1.000s is before an earlier step's 2.000s"
        );
        assert_eq!(
            e(r#"[{"host": "a", "call": "close", "family": "inet"}]"#),
            "steps[0].family: \"family\" belongs to socket, not \"close\""
        );
        assert_eq!(
            e(r#"[{"host": "a", "call": "bind", "sock": "s"}]"#),
            "steps[0].sock: unknown socket \"s\" on host \"a\" (create it with socket or \
             accept first)"
        );
        assert_eq!(
            e(r#"[{"host": "a", "call": "socket"}]"#),
            "steps[0]: call \"socket\" needs field \"sock\""
        );
        assert_eq!(
            e(r#"[{"host": "a", "call": "socket", "sock": "s"},
                  {"host": "a", "call": "socket", "sock": "s"}]"#),
            "steps[1].sock: duplicate socket name \"s\" on host \"a\""
        );
        assert_eq!(
            e(r#"[{"host": "a", "call": "socket", "sock": "s"},
                  {"host": "a", "call": "setsockopt", "sock": "s", "opt": "SO_REUSEADDR"}]"#),
            "steps[1].value: SO_REUSEADDR takes 0 or 1"
        );
        assert_eq!(
            e(r#"[{"host": "a", "call": "wait"}]"#),
            "steps[0]: wait needs \"for\" or \"until\""
        );
        assert_eq!(
            e(r#"[{"host": "a", "call": "wait", "until": "later"}]"#),
            "steps[0].until: unknown wait condition \"later\" (state, bindable)"
        );
        assert!(e(r#"[{"host": "a", "call": "listen_now"}]"#)
            .starts_with("steps[0].call: unknown call \"listen_now\""));
    }

    #[test]
    fn steps_keep_their_time_and_timeout() {
        let r = resolve(&script(
            r#"[{"host": "a", "call": "wait", "for": "3s", "timeout": "1s", "at": "+2s"}]"#,
        ))
        .unwrap();
        let s = &r.steps[0];
        assert_eq!(s.call, Call::Wait(WaitFor::Time(Duration::from_secs(3))));
        assert_eq!(s.timeout, Some(Duration::from_secs(1)));
        assert_eq!(
            s.start_time(twsim_model::Instant::from_micros(1)),
            twsim_model::Instant::from_micros(2_000_001)
        );
    }
}

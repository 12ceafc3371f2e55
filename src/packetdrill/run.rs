//! Runs one parsed packetdrill script against one simulated host in virtual time.
//!
//! The host under test is a `twsim_sim::host::Host` at 192.168.0.1 (packetdrill's default
//! local address) with the chosen profile; the script plays the remote end, 192.0.2.1. A bound
//! socket takes port 8080 (packetdrill's `--bind_port`), `connect()` goes to 192.0.2.1:8080
//! (`--connect_port`), and injected connections come from 192.0.2.1:48000.
//!
//! Sequence numbers follow packetdrill: the SEQ of an injected segment is written as sent, its
//! ACK relative to the host's ISN; an expected segment's SEQ is relative to the host's ISN
//! (learned from the first SYN or SYN-ACK it sends, and again from a SYN-ACK expected with
//! `...`), its ACK as the script numbers the remote side. `!` (tcp-testsuite) makes both
//! absolute.
//!
//! What is compared, and how (docs/packetdrill.md): flags (PSH ignored), SEQ, ACK and payload
//! length exactly, the send time within the tolerance; the window and the TCP options never
//! (the endpoints are smoltcp's: 16 KiB buffers, its own options). Before the host holds a
//! TIME-WAIT record, an unexpected pure ACK from the host is forgiven (smoltcp's delayed and
//! window-update ACKs differ from other stacks'); from the first TIME-WAIT record on, any
//! unexpected segment fails the script, since time is virtual and nothing else can explain it.

use super::parse::{Action, Event, Script, Segment, Time};
use super::sut::Sut;

mod shell;
use smoltcp::wire::{TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, TcpTimestampRepr};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use twsim_model::{Instant, IsnGenerator, IsnPolicy, Profile, ProfileConfig};
use twsim_sim::host::Host;
use twsim_sim::wire::{emit, Packet, TcpFlags};

/// The host under test (packetdrill's default local address).
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
/// The remote end the script plays.
pub const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The port a bound socket takes and `connect()` goes to.
pub const PORT: u16 = 8080;
/// The remote port of injected connections.
pub const REMOTE_PORT: u16 = 48000;

/// The outcome of one script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every event happened as written.
    Pass,
    /// The first mismatch: script line and what differed.
    Fail(usize, String),
    /// The script needs something twsim does not model: line and why.
    NotApplicable(usize, String),
}

/// How to run a script.
#[derive(Clone, Debug)]
pub struct Config {
    /// The profile of the host under test.
    pub profile: Profile,
    /// Tolerance on send times, µs; when given it replaces the script's (`--tolerance_usecs`
    /// line), otherwise the script's or packetdrill's default 4 ms applies.
    pub tolerance_us: Option<u64>,
    /// Run against this machine's kernel behind a TUN device (Linux, root) instead of a
    /// simulated host; the profile must be `linux`.
    pub kernel: bool,
}

/// A script-level stop: fail or not applicable at a line.
enum Stop {
    Fail(usize, String),
    Na(usize, String),
}

type Step<T> = Result<T, Stop>;

struct Runner<'a> {
    cfg: ProfileConfig,
    /// The system under test, created at the first event that needs it.
    host: Option<Sut>,
    /// Run against the real kernel (`--kernel`).
    kernel: bool,
    /// The host's clock, µs.
    now: u64,
    /// Time of the previous event, µs.
    prev: u64,
    tolerance: u64,
    fds: BTreeMap<i64, String>,
    nonblock: BTreeSet<i64>,
    next_fd: i64,
    /// (host-side endpoint, remote endpoint) of the connection under test.
    tuple: Option<(SocketAddrV4, SocketAddrV4)>,
    local_isn: Option<u32>,
    /// Segments the host sent and no expectation has taken yet, with their send times (µs).
    out: VecDeque<(u64, Packet)>,
    /// Whether the host has ever held a TIME-WAIT record (strict from then on).
    strict: bool,
    line: usize,
    /// Only shell commands follow the current event (a script's closing clean-up).
    cleanup: bool,
    /// FreeBSD `net.inet.tcp.insecure_rst` / `insecure_syn` = 1: RFC 793 instead of RFC 5961
    /// for RSTs / SYNs in synchronized states (`tcp_input`); `tcp_twcheck` reads neither.
    insecure_rst: bool,
    insecure_syn: bool,
    profile: Profile,
    _script: &'a Script,
}

/// Runs `script` under `config`.
pub fn run(script: &Script, config: &Config) -> Verdict {
    let mut tolerance = config.tolerance_us.unwrap_or(4_000);
    for (k, v) in &script.options {
        match k.as_str() {
            // The command line's tolerance, when given, wins over the script's.
            "tolerance_usecs" if config.tolerance_us.is_some() => {}
            "tolerance_usecs" => match v.parse() {
                Ok(t) => tolerance = t,
                Err(_) => return Verdict::NotApplicable(0, format!("bad --tolerance_usecs={v}")),
            },
            "ip_version" if v == "ipv4" => {}
            "ip_version" => {
                return Verdict::NotApplicable(
                    0,
                    format!("--ip_version={v}: the simulated endpoints are IPv4 only"),
                )
            }
            _ => return Verdict::NotApplicable(0, format!("option --{k} is not supported")),
        }
    }
    let mut r = Runner {
        cfg: config.profile.config(),
        host: None,
        kernel: config.kernel,
        now: 0,
        prev: 0,
        tolerance,
        fds: BTreeMap::new(),
        nonblock: BTreeSet::new(),
        next_fd: 3,
        tuple: None,
        local_isn: None,
        out: VecDeque::new(),
        strict: false,
        line: 0,
        cleanup: false,
        insecure_rst: false,
        insecure_syn: false,
        profile: config.profile,
        _script: script,
    };
    match r.all(&script.events) {
        Ok(()) => Verdict::Pass,
        Err(Stop::Fail(l, m)) => Verdict::Fail(l, m),
        Err(Stop::Na(l, m)) => Verdict::NotApplicable(l, m),
    }
}

impl Runner<'_> {
    fn fail<T>(&self, msg: impl Into<String>) -> Step<T> {
        Err(Stop::Fail(self.line, msg.into()))
    }

    fn na<T>(&self, msg: impl Into<String>) -> Step<T> {
        Err(Stop::Na(self.line, msg.into()))
    }

    fn all(&mut self, events: &[Event]) -> Step<()> {
        for (i, e) in events.iter().enumerate() {
            self.line = e.line;
            self.cleanup = events[i + 1..]
                .iter()
                .all(|e| matches!(e.action, Action::Shell(_)));
            let start = match e.when.start {
                Time::Absolute(t) => t,
                Time::Relative(d) => self.prev + d,
                Time::Any => self.prev,
            };
            let end = e.when.end.map(|t| match t {
                Time::Absolute(t) => t,
                Time::Relative(d) => start + d,
                Time::Any => start,
            });
            if start < self.prev {
                return self.na("time goes backwards");
            }
            self.prev = end.unwrap_or(start);
            let any_time = e.when.start == Time::Any;
            match &e.action {
                Action::Shell(cmd) => {
                    self.advance(start)?;
                    self.unexpected(start)?;
                    self.shell(cmd)?;
                }
                Action::Call {
                    name,
                    args,
                    ret,
                    errno,
                } => {
                    self.start_host()?;
                    self.advance(start)?;
                    self.unexpected(start)?;
                    self.call(name, args, *ret, errno.as_deref(), end)?;
                }
                Action::Inject(seg) => {
                    self.start_host()?;
                    self.advance(start)?;
                    self.unexpected(start)?;
                    self.inject(seg)?;
                }
                Action::Expect(seg) => {
                    self.start_host()?;
                    self.expect(seg, start, any_time)?;
                }
            }
        }
        // Nothing more may leave the host within the tolerance of the last event.
        let last = self.prev + self.tolerance;
        self.advance(last)?;
        self.unexpected(last + self.tolerance + 1)
    }

    /// The host, created on first use.
    fn host(&mut self) -> Step<&mut Sut> {
        self.start_host()?;
        Ok(self.host.as_mut().expect("started"))
    }

    /// Creates the host once the settings (sysctls) before the first socket call are known.
    fn start_host(&mut self) -> Step<()> {
        if self.host.is_some() {
            return Ok(());
        }
        if self.kernel {
            #[cfg(target_os = "linux")]
            {
                let k = twsim_kernel::tun::TunHost::new()
                    .map_err(|e| Stop::Na(self.line, format!("no kernel host: {e}")))?;
                self.now = k.now_us();
                self.host = Some(Sut::Kernel(k));
                return Ok(());
            }
            #[cfg(not(target_os = "linux"))]
            return self.na("--kernel needs Linux");
        }
        let msl = self.cfg.default_msl;
        let tw = self.cfg.time_wait_duration(msl);
        self.host = Some(Sut::Sim(Box::new(Host::new(
            "local".into(),
            LOCAL,
            self.cfg,
            tw,
            msl,
            twsim_sim::rng::stream(1, "packetdrill host"),
            IsnGenerator::new(IsnPolicy::Random, 1),
        ))));
        Ok(())
    }

    /// Runs the host up to `to` (µs), collecting what it sends; with `first_only`, stops at
    /// the first segment.
    fn run_until(&mut self, to: u64, first_only: bool) {
        let Some(h) = self.host.as_mut() else {
            self.now = self.now.max(to);
            return;
        };
        let sent = h.advance(&mut self.now, to, first_only);
        self.out.extend(sent);
        self.strict |= h.time_wait_count() > 0;
    }

    /// Runs the host up to `to` (µs), collecting what it sends.
    fn advance(&mut self, to: u64) -> Step<()> {
        self.run_until(to, false);
        Ok(())
    }

    /// Fails on a segment the host sent more than the tolerance before `t` that no expectation
    /// took (forgiving pure ACKs before the first TIME-WAIT record).
    fn unexpected(&mut self, t: u64) -> Step<()> {
        while let Some((at, p)) = self.out.front() {
            if t.saturating_sub(*at) <= self.tolerance {
                return Ok(());
            }
            let pure_ack = p.meta.flags == TcpFlags::ACK && p.meta.payload_len == 0;
            if pure_ack && !self.strict {
                self.out.pop_front();
                continue;
            }
            let d = self.describe(p);
            return self.fail(format!(
                "unexpected segment sent at {}: {d}",
                Instant::from_micros(*at)
            ));
        }
        Ok(())
    }

    /// The segment in the script's numbering.
    fn describe(&self, p: &Packet) -> String {
        let m = &p.meta;
        let rel = m.seq.0.wrapping_sub(self.local_isn.unwrap_or(0));
        let mut s = format!(
            "{} {}:{}({})",
            flag_text(m.flags),
            rel,
            rel.wrapping_add(m.payload_len),
            m.payload_len
        );
        if m.has(TcpFlags::ACK) {
            s.push_str(&format!(" ack {}", m.ack.0));
        }
        s.push_str(&format!(" win {}", m.window));
        s
    }

    fn inject(&mut self, seg: &Segment) -> Step<()> {
        if seg.has('E') || seg.has('W') || seg.has('U') {
            return self.na("ECN and URG flags are not modelled");
        }
        let Some(seq) = seg.seq else {
            return self.na("an injected segment needs a sequence number");
        };
        let (local, remote) = match self.tuple {
            Some(t) => t,
            None => {
                let t = (
                    SocketAddrV4::new(LOCAL, PORT),
                    SocketAddrV4::new(REMOTE, REMOTE_PORT),
                );
                self.tuple = Some(t);
                t
            }
        };
        let ack = match (seg.has('.'), seg.ack) {
            (false, _) => None,
            (true, a) => {
                let a = a.unwrap_or(0);
                if seg.absolute {
                    Some(a)
                } else {
                    match self.local_isn {
                        Some(isn) => Some(isn.wrapping_add(a)),
                        None => return self.na("an ACK is injected before the host sent its ISN"),
                    }
                }
            }
        };
        let insecure = (seg.has('R') && self.insecure_rst) || (seg.has('S') && self.insecure_syn);
        let t = twsim_model::FourTuple::new(SocketAddr::V4(local), SocketAddr::V4(remote));
        if insecure && self.host()?.has_connection(&t) {
            return self.na(
                "RFC 793 processing of RSTs and SYNs in synchronized states (insecure_rst, \
                 insecure_syn = 1) is not modelled: the endpoints follow RFC 5961",
            );
        }
        let (mss, wscale, sack, ts) = parse_options(seg.options.as_deref());
        let payload = vec![0u8; seg.len as usize];
        let tcp = TcpRepr {
            src_port: remote.port(),
            dst_port: local.port(),
            control: TcpControl::None,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: ack.map(|a| TcpSeqNumber(a as i32)),
            window_len: seg.win.unwrap_or(32767).min(65535) as u16,
            window_scale: wscale,
            max_seg_size: mss,
            sack_permitted: sack,
            sack_ranges: [None, None, None],
            timestamp: ts,
            payload: &payload,
        };
        let mut bytes = emit(remote, local, &tcp);
        set_flags(&mut bytes, seg, remote, local);
        let Some(pkt) = Packet::parse(bytes) else {
            return self.fail("could not build the segment");
        };
        let now = self.now;
        if let Err(e) = self.host()?.deliver(now, pkt) {
            return self.na(e);
        }
        self.collect_now();
        Ok(())
    }

    fn expect(&mut self, seg: &Segment, at: u64, any_time: bool) -> Step<()> {
        let limit = at + self.tolerance;
        // Wait for the host to send something, up to the end of the tolerance.
        if self.out.is_empty() {
            self.run_until(limit, true);
        }
        if self.out.is_empty() {
            return self.fail(format!(
                "expected {} at {}, the host sent nothing",
                seg_text(seg),
                Instant::from_micros(at)
            ));
        }
        // Forgive early pure ACKs before TIME-WAIT when something else is expected.
        loop {
            let (sent, p) = self.out.pop_front().expect("not empty");
            let pure_ack = p.meta.flags == TcpFlags::ACK && p.meta.payload_len == 0;
            let want_pure_ack = seg.flags.replace('P', "") == "." && seg.len == 0;
            if pure_ack && !want_pure_ack && !self.strict && !self.out.is_empty() {
                continue;
            }
            if !any_time && sent.abs_diff(at) > self.tolerance {
                let d = self.describe(&p);
                return self.fail(format!(
                    "{d} sent at {}, expected {} at {} (± {} µs)",
                    Instant::from_micros(sent),
                    seg_text(seg),
                    Instant::from_micros(at),
                    self.tolerance
                ));
            }
            return self.compare(seg, &p);
        }
    }

    fn compare(&mut self, seg: &Segment, p: &Packet) -> Step<()> {
        let m = &p.meta;
        let want = script_flags(seg);
        if m.flags != want {
            let d = self.describe(p);
            return self.fail(format!("expected {}, the host sent {d}", seg_text(seg)));
        }
        if m.has(TcpFlags::SYN) && (seg.seq.is_none() || self.local_isn.is_none()) {
            // The host's ISN of this connection (a new incarnation gets a new one).
            self.local_isn = Some(m.seq.0.wrapping_sub(seg.seq.unwrap_or(0)));
        }
        if self.tuple.is_none() {
            self.tuple = Some((m.src, m.dst));
        }
        if let Some(s) = seg.seq {
            let want = if seg.absolute {
                s
            } else {
                self.local_isn.unwrap_or(0).wrapping_add(s)
            };
            if m.seq.0 != want {
                let d = self.describe(p);
                return self.fail(format!(
                    "expected {}, the host sent {d} (SEQ)",
                    seg_text(seg)
                ));
            }
        }
        if m.payload_len != seg.len {
            let d = self.describe(p);
            return self.fail(format!(
                "expected {}, the host sent {d} (length)",
                seg_text(seg)
            ));
        }
        if let (true, Some(a)) = (seg.has('.'), seg.ack) {
            if m.ack.0 != a {
                let d = self.describe(p);
                return self.fail(format!(
                    "expected {}, the host sent {d} (ACK)",
                    seg_text(seg)
                ));
            }
        }
        Ok(())
    }

    fn fd_name(&self, arg: Option<&String>) -> Step<String> {
        let fd: i64 = arg
            .and_then(|a| a.parse().ok())
            .ok_or(())
            .or_else(|_| self.na("a call without a file descriptor"))?;
        match self.fds.get(&fd) {
            Some(n) => Ok(n.clone()),
            None => self.fail(format!("fd {fd} is not open")),
        }
    }

    fn call(
        &mut self,
        name: &str,
        args: &[String],
        ret: i64,
        errno: Option<&str>,
        end: Option<u64>,
    ) -> Step<()> {
        let now = self.now;
        let result: Result<i64, &str> = match name {
            "socket" => {
                if args.get(1).map(String::as_str) != Some("SOCK_STREAM") {
                    return self.na("only SOCK_STREAM sockets");
                }
                let fd = self.next_fd;
                let sock = format!("fd{fd}");
                let r = self.host()?.socket(&sock);
                r.map(|()| {
                    self.fds.insert(fd, sock);
                    self.next_fd += 1;
                    fd
                })
            }
            "fcntl" => {
                let fd: i64 = args[0].parse().unwrap_or(-1);
                let (rdwr, nonblock) = (0x2, self.o_nonblock());
                match args.get(1).map(String::as_str) {
                    Some("F_GETFL") => Ok(rdwr
                        | if self.nonblock.contains(&fd) {
                            nonblock
                        } else {
                            0
                        }),
                    Some("F_SETFL") => {
                        if args.get(2).is_some_and(|a| a.contains("O_NONBLOCK")) {
                            self.nonblock.insert(fd);
                        } else {
                            self.nonblock.remove(&fd);
                        }
                        Ok(0)
                    }
                    _ => return self.na(format!("fcntl {:?} is not supported", args.get(1))),
                }
            }
            "getsockopt" => {
                let _ = self.fd_name(args.first())?;
                match args.get(2).map(String::as_str) {
                    // The stack's buffer size: smoltcp's, not compared.
                    Some("SO_RCVBUF") | Some("SO_SNDBUF") => Ok(0),
                    Some("SO_ERROR") if args.get(3).map(String::as_str) == Some("[0]") => Ok(0),
                    o => return self.na(format!("getsockopt {o:?} is not supported")),
                }
            }
            "setsockopt" => {
                let sock = self.fd_name(args.first())?;
                let on = args.get(3).is_some_and(|v| v != "[0]");
                let port = match args.get(2).map(String::as_str) {
                    Some("SO_REUSEADDR") => false,
                    Some("SO_REUSEPORT") => true,
                    o => return self.na(format!("setsockopt {o:?} is not supported")),
                };
                self.host()?.set_reuse(&sock, port, on).map(|()| 0)
            }
            "bind" => {
                let sock = self.fd_name(args.first())?;
                let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT);
                self.host()?.bind(&sock, addr).map(|()| 0)
            }
            "listen" => {
                let sock = self.fd_name(args.first())?;
                let backlog = args.get(1).and_then(|b| b.parse().ok()).unwrap_or(1);
                self.host()?.listen(&sock, backlog).map(|()| 0)
            }
            "accept" => {
                let sock = self.fd_name(args.first())?;
                let fd = self.next_fd;
                let child = format!("fd{fd}");
                let mut r = self.host()?.accept(&sock, &child);
                if let (Ok(false), Some(end)) = (&r, end) {
                    self.advance(end)?;
                    r = self.host()?.accept(&sock, &child);
                }
                match r {
                    Ok(true) => {
                        self.fds.insert(fd, child);
                        self.next_fd += 1;
                        Ok(fd)
                    }
                    Ok(false) if self.nonblock.contains(&args[0].parse().unwrap_or(-1)) => {
                        Err("EAGAIN")
                    }
                    Ok(false) => return self.fail("accept() would block: no connection is ready"),
                    Err(e) => Err(e),
                }
            }
            "connect" => {
                let sock = self.fd_name(args.first())?;
                let fd: i64 = args[0].parse().unwrap_or(-1);
                let remote = SocketAddrV4::new(REMOTE, PORT);
                match self.host()?.connect(now, &sock, remote) {
                    Err(e) => Err(e),
                    Ok(()) if self.nonblock.contains(&fd) => Err("EINPROGRESS"),
                    Ok(()) => {
                        match end {
                            Some(end) => {
                                self.collect_now();
                                self.advance(end)?;
                                match self.host()?.connect_result(&sock) {
                                    Some(r) => r.map(|()| 0),
                                    None => return self.fail(
                                        "connect() has not completed by the end of its time range",
                                    ),
                                }
                            }
                            None => {
                                return self.na("a blocking connect() needs a time range (t1...t2)")
                            }
                        }
                    }
                }
            }
            "write" | "send" => {
                let sock = self.fd_name(args.first())?;
                let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
                self.host()?.send(now, &sock, n).map(|n| n as i64)
            }
            "read" | "recv" => {
                let sock = self.fd_name(args.first())?;
                let n: u32 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
                match self.host()?.recv(now, &sock, n) {
                    Ok(Some(k)) => Ok(k as i64),
                    Ok(None) => Err("EAGAIN"),
                    Err(e) => Err(e),
                }
            }
            "shutdown" => {
                let sock = self.fd_name(args.first())?;
                let write = match args.get(1).map(String::as_str) {
                    Some("SHUT_WR") | Some("SHUT_RDWR") => true,
                    Some("SHUT_RD") => false,
                    o => return self.na(format!("shutdown {o:?} is not supported")),
                };
                self.host()?.shutdown(now, &sock, write).map(|()| 0)
            }
            "close" => {
                let sock = self.fd_name(args.first())?;
                let fd: i64 = args[0].parse().unwrap_or(-1);
                let r = self.host()?.close(now, &sock).map(|()| 0);
                self.fds.remove(&fd);
                r
            }
            other => return self.na(format!("system call {other}() is not supported")),
        };
        self.collect_now();
        let (got_ret, got_errno) = match result {
            Ok(v) => (v, None),
            Err(e) => (-1, Some(e)),
        };
        if got_ret != ret || (ret == -1 && errno.is_some() && got_errno != errno) {
            let got = match got_errno {
                Some(e) => format!("-1 {e}"),
                None => got_ret.to_string(),
            };
            let want = match errno {
                Some(e) => format!("{ret} {e}"),
                None => ret.to_string(),
            };
            return self.fail(format!("{name}() returned {got}, expected {want}"));
        }
        Ok(())
    }

    /// Takes what the host sent during the last call or delivery.
    fn collect_now(&mut self) {
        let now = self.now;
        self.run_until(now, false);
    }

    /// O_NONBLOCK as the host's system spells it (Linux 04000, the BSDs 0x4).
    fn o_nonblock(&self) -> i64 {
        if self.profile == Profile::Linux || self.kernel {
            0x800
        } else {
            0x4
        }
    }
}

/// The flags of a script segment as a set (PSH ignored: smoltcp sets it on its own terms).
fn script_flags(seg: &Segment) -> TcpFlags {
    let mut f = TcpFlags::NONE;
    for (c, flag) in [
        ('S', TcpFlags::SYN),
        ('F', TcpFlags::FIN),
        ('R', TcpFlags::RST),
        ('.', TcpFlags::ACK),
    ] {
        if seg.has(c) {
            f |= flag;
        }
    }
    f
}

fn flag_text(f: TcpFlags) -> String {
    let mut s = String::new();
    for (c, flag) in [
        ('S', TcpFlags::SYN),
        ('F', TcpFlags::FIN),
        ('R', TcpFlags::RST),
    ] {
        if f.contains(flag) {
            s.push(c);
        }
    }
    if f.contains(TcpFlags::ACK) {
        s.push('.');
    }
    s
}

fn seg_text(seg: &Segment) -> String {
    let seq = match seg.seq {
        Some(s) => format!("{s}:{}({})", s.wrapping_add(seg.len), seg.len),
        None => format!("...({})", seg.len),
    };
    let mut t = format!("{} {seq}", seg.flags);
    if let Some(a) = seg.ack {
        t.push_str(&format!(" ack {a}"));
    }
    t
}

/// MSS, window scale, SACK-permitted and timestamps from an options text.
fn parse_options(o: Option<&str>) -> (Option<u16>, Option<u8>, bool, Option<TcpTimestampRepr>) {
    let (mut mss, mut ws, mut sack, mut ts) = (None, None, false, None);
    for opt in o.unwrap_or("").split(',') {
        let w: Vec<&str> = opt.split_whitespace().collect();
        match w.as_slice() {
            ["mss", n] => mss = n.parse().ok(),
            ["wscale", n] => ws = n.parse().ok(),
            ["sackOK"] => sack = true,
            ["TS", "val", v, "ecr", e] => {
                if let (Ok(v), Ok(e)) = (v.parse(), e.parse()) {
                    ts = Some(TcpTimestampRepr::new(v, e));
                }
            }
            _ => {}
        }
    }
    (mss, ws, sack, ts)
}

/// Writes the script's flags into an emitted segment (smoltcp's `TcpRepr` carries one control
/// flag; a script may combine SYN, FIN and RST) and refreshes the checksum.
fn set_flags(bytes: &mut [u8], seg: &Segment, src: SocketAddrV4, dst: SocketAddrV4) {
    let ihl = usize::from(bytes[0] & 0x0f) * 4;
    let mut p = TcpPacket::new_unchecked(&mut bytes[ihl..]);
    p.set_syn(seg.has('S'));
    p.set_fin(seg.has('F'));
    p.set_rst(seg.has('R'));
    p.set_psh(seg.has('P'));
    p.set_ack(seg.has('.'));
    p.fill_checksum(
        &smoltcp::wire::IpAddress::Ipv4(*src.ip()),
        &smoltcp::wire::IpAddress::Ipv4(*dst.ip()),
    );
}

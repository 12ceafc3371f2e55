//! Real-kernel TIME-WAIT check: a server-side TIME-WAIT on this machine's Linux kernel, probed
//! with a SYN from the old client port and with RSTs, under `tcp_rfc1337` = 0 and 1, next to
//! what the model's `linux` TIME-WAIT policy predicts for the same probes.
//!
//! Read first: `time-wait.md` (rows 4a, 4b, 5 and 6 of the decision table, and "Observed on a
//! real Linux 6.18 kernel"), `bind-rules.md` (cases B-SYN, B-RST, B-RST'), and in the kernel
//! `tcp_timewait_state_process` (net/ipv4/tcp_minisocks.c), `tcp_v4_rcv` with its
//! `TCP_TW_SYN` / `TCP_TW_ACK` / `TCP_TW_RST` dispatch and `tcp_v4_timewait_ack`
//! (net/ipv4/tcp_ipv4.c), and `tcp_rcv_synsent_state_process` (net/ipv4/tcp_input.c).
//!
//! # The experiment ([`observe_kernel`])
//! Everything runs on a dedicated thread in a private network namespace of its own
//! (`unshare(CLONE_NEWNET)` and `lo` up, shared with [`crate::kernel`]); without one the check
//! refuses to run ([`KernelTwError::Namespace`]), so the host's sysctls and sockets are never
//! touched. Only loopback addresses are used: the server is [`SERVER`], the client [`CLIENT`].
//!
//! 1. `tcp_rfc1337` is written in `/proc/sys/net/ipv4/tcp_rfc1337`, which belongs to the
//!    namespace of the thread that opens it (`net/sysctl_net.c`), and read back.
//! 2. A raw `IPPROTO_TCP` socket with `IP_HDRINCL` is opened; it receives a copy of every TCP
//!    segment crossing `lo` (`raw_local_deliver` runs before `tcp_v4_rcv`) and sends the
//!    crafted RSTs.
//! 3. For each of the six cases of [`PROBES`], on ports of its own: the server listens on
//!    `SERVER:P`, the client binds `CLIENT:E` explicitly (`SO_REUSEADDR`) and connects, the
//!    server accepts and closes first, the client reads the end of the stream and closes. The
//!    server's socket goes FIN-WAIT-2 (as a TIME-WAIT mini-socket, `tcp_time_wait`) and then
//!    TIME-WAIT on the client's FIN; the check waits, in bounded poll slices, until the 4-tuple's
//!    row in `/proc/thread-self/net/tcp` has state `06` and the client's row is gone.
//!    (`/proc/self/net` would show the process's namespace, not the thread's.)
//! 4. For the "no listener" cases the listener is closed; otherwise it keeps listening.
//! 5. The probe:
//!    - SYN: an ordinary socket bound to `CLIENT:E` (`SO_REUSEADDR`) connects to `SERVER:P`
//!      without blocking; `poll(POLLOUT)` for at most [`CONNECT_DEADLINE`], then `SO_ERROR`.
//!      Result: accepted, refused (`ECONNREFUSED`), timed out, or another errno.
//!    - RST: a bare RST from `CLIENT:E` to `SERVER:P` with SEQ = RCV.NXT + offset, offset 0 (row
//!      4a) or [`RST_OFFSET`] (row 4b: inside the window, not exact).
//! 6. After the probe and [`SETTLE`], whether the 4-tuple still has a TIME-WAIT row.
//!
//! Deadlines are counted in the poll and sleep slices asked for; no clock is read.
//!
//! # How RCV.NXT is obtained
//! From the capture of step 2, not from the socket: the TIME-WAIT's RCV.NXT (`tw_rcv_nxt`) is
//! one past the client's FIN (SEQ + payload + 1), and it is cross-checked against the ACK field
//! of the server's final ACK, which the kernel built from the same value; SND.NXT is one past
//! the server's FIN and is the SEQ of that final ACK. `TCP_INFO` carries no sequence numbers,
//! `TCP_REPAIR` would change what the socket sends, and provoking an ACK from the TIME-WAIT
//! would itself be a segment processed by it (and rate-limited); reading copies of segments
//! that crossed `lo` anyway disturbs nothing. The capture also shows the chain each probe set
//! off (SYN, the TIME-WAIT's ACK, the client's RST, the retransmitted SYN, ...), reported as
//! [`TwObservation::evidence`].
//!
//! # The prediction ([`predict_linux`])
//! A [`TimeWaitRecord`] with the `linux` profile's policy (`RstInTimeWait::Ignore` for
//! `tcp_rfc1337` = 1, as the `linux-rfc1337` column of the model's decision table) is fed the
//! same probes through [`TimeWaitRecord::on_segment`]. A SYN's [`TwAction::Ack`] reaches the
//! client in SYN-SENT as an unacceptable ACK; the client answers `<SEQ=SEG.ACK><CTL=RST>` and,
//! if nothing was retransmitted yet, retransmits its SYN after `TCP_TIMEOUT_MIN`
//! (`tcp_rcv_synsent_state_process`, `reset_and_undo`); that RST is fed back to the record
//! (`time-wait.md` rows 5/6: ACK → peer RST → KILL). A retransmitted SYN that finds no record
//! goes to the listener, or, without one, is answered with RST (`tcp_v4_send_reset`):
//! ECONNREFUSED. A record that survives every SYN before the deadline leaves the connect
//! timed out.
//!
//! # What is compared
//! The case, the setting, the listener, the probe, the connect result, whether the TIME-WAIT
//! survived, and for a reopened TIME-WAIT the new ISS relative to the old SND.NXT. How many
//! SYNs the TIME-WAIT answered with an ACK is reported in the evidence but not compared: for a
//! SYN above RCV.NXT without a listener, `tcp_v4_rcv` falls through from `TCP_TW_SYN` to
//! `tcp_v4_timewait_ack` without `tcp_timewait_check_oow_rate_limit`, so the kernel ACKs
//! every such SYN, while the model rate-limits them (`tcp_invalid_ratelimit`); under
//! `tcp_rfc1337` = 1 the kernel answers 3 of 3 SYNs in [`CONNECT_DEADLINE`], the model 2 of 3.
//! The connect result and the TIME-WAIT's fate are the same either way.

use crate::kernel::{enter_namespace, parse_proc_net_tcp, NsError};
use crate::wire::TcpFlags;
use crate::wire::{craft, Ctl, SegMeta};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, Ipv4Packet, TcpPacket, TcpRepr};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::OwnedFd;
use twsim_model::time_wait::{RstInTimeWait, TimeWaitPolicy};
use twsim_model::{
    Duration, FourTuple, Instant, Profile, SegmentInfo, SeqNum, TimeWaitRecord, TsVal, TwAction,
};

/// The server's address: the TIME-WAIT's local address.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The client's address: the TIME-WAIT's remote address.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// How long the SYN probe's connect waits. Long enough for the ≈10 ms refusal of B-RST and
/// for a SYN retransmitted after the initial RTO (1 s), far below the `linux` profile's 127 s.
pub const CONNECT_DEADLINE: Duration = Duration::from_millis(1500);
/// The in-window but inexact RST (row 4b) has SEQ = RCV.NXT + this.
pub const RST_OFFSET: u32 = 100;
/// Granularity of every polling loop.
pub const POLL_SLICE: Duration = Duration::from_millis(10);
/// Real sleep after a probe before the TIME-WAIT row is read.
pub const SETTLE: Duration = Duration::from_millis(50);
/// Longest wait for each step that builds the TIME-WAIT (handshake, FINs, `/proc` row).
const SETUP_DEADLINE: Duration = Duration::from_secs(1);
const SERVER_PORT_BASE: u16 = 8000;
const CLIENT_PORT_BASE: u16 = 40000;
/// `TCP_TIME_WAIT` in `include/net/tcp_states.h`.
const TCP_TIME_WAIT: u8 = 6;

/// What is sent at the TIME-WAIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwProbe {
    /// A new connect from the old client port: a SYN on the TIME-WAIT's 4-tuple
    /// (`time-wait.md` row 5; `tcp_timewait_state_process` → `TCP_TW_SYN` or `TCP_TW_ACK`).
    Syn,
    /// A bare RST with SEQ = RCV.NXT + `offset` (rows 4a and 4b).
    Rst {
        /// Distance of SEG.SEQ from the TIME-WAIT's RCV.NXT.
        offset: u32,
    },
}

/// The cases, in the order [`observe_kernel`] and [`predict_linux`] report them:
/// `(listener on the server port, probe)`.
pub const PROBES: [(bool, TwProbe); 6] = [
    (true, TwProbe::Syn),
    (true, TwProbe::Rst { offset: 0 }),
    (true, TwProbe::Rst { offset: RST_OFFSET }),
    (false, TwProbe::Syn),
    (false, TwProbe::Rst { offset: 0 }),
    (false, TwProbe::Rst { offset: RST_OFFSET }),
];

/// What a probe led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwOutcome {
    /// The connect succeeded: the SYN opened a new incarnation (`TCP_TW_SYN` and a listener
    /// in `tcp_v4_rcv`).
    Accepted,
    /// The connect failed with ECONNREFUSED (an RST answered a SYN).
    Refused,
    /// The connect did not complete before [`CONNECT_DEADLINE`].
    TimedOut,
    /// The connect failed with another errno (Linux number).
    ConnectError(i32),
    /// The TIME-WAIT entry of the 4-tuple exists after the probe.
    TimeWaitKept,
    /// The TIME-WAIT entry of the 4-tuple is gone after the probe.
    TimeWaitGone,
}

impl TwOutcome {
    fn time_wait(kept: bool) -> TwOutcome {
        if kept {
            TwOutcome::TimeWaitKept
        } else {
            TwOutcome::TimeWaitGone
        }
    }
}

impl fmt::Display for TwOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TwOutcome::Accepted => f.write_str("accepted"),
            TwOutcome::Refused => f.write_str("ECONNREFUSED"),
            TwOutcome::TimedOut => f.write_str("timed out"),
            TwOutcome::ConnectError(e) => {
                write!(f, "error: {}", std::io::Error::from_raw_os_error(*e))
            }
            TwOutcome::TimeWaitKept => f.write_str("TIME-WAIT kept"),
            TwOutcome::TimeWaitGone => f.write_str("TIME-WAIT gone"),
        }
    }
}

/// One case: what the kernel did, or what the model says it does.
///
/// Equality compares every field except [`TwObservation::evidence`], which records how the
/// result came about (captured segments, or the model's rules) and naturally differs between
/// the kernel and the model.
#[derive(Clone, Debug)]
pub struct TwObservation {
    /// Short name: `B-SYN`, `B-RST`, `B-RST'` (bind-rules.md), `4a`, `4b` (time-wait.md rows).
    pub case: String,
    /// `tcp_rfc1337` (1 = RSTs in TIME-WAIT are ignored).
    pub rfc1337: bool,
    /// Whether a listener was on the server port during the probe.
    pub listener: bool,
    /// What was sent.
    pub probe: TwProbe,
    /// The probe's visible result: for a SYN the connect result, for an RST (which gets no
    /// answer either way) what became of the TIME-WAIT.
    pub kernel: TwOutcome,
    /// [`TwOutcome::TimeWaitKept`] or [`TwOutcome::TimeWaitGone`] after the probe.
    pub time_wait: TwOutcome,
    /// For an accepted SYN that reopened the TIME-WAIT: the new incarnation's ISS minus the
    /// TIME-WAIT's SND.NXT (Linux: 65537, `tcp_timewait_state_process` "tw_snd_nxt + 65535 + 2").
    pub iss_offset: Option<u32>,
    /// How it came about: segments seen on `lo` (sequence numbers relative to the TIME-WAIT's
    /// RCV.NXT and SND.NXT), or the model's decisions with their rules. Not compared.
    pub evidence: Vec<String>,
}

impl PartialEq for TwObservation {
    fn eq(&self, o: &Self) -> bool {
        (
            &self.case,
            self.rfc1337,
            self.listener,
            self.probe,
            self.kernel,
            self.time_wait,
            self.iss_offset,
        ) == (
            &o.case,
            o.rfc1337,
            o.listener,
            o.probe,
            o.kernel,
            o.time_wait,
            o.iss_offset,
        )
    }
}

impl Eq for TwObservation {}

/// The case name of a probe: `bind-rules.md` names for SYNs, `time-wait.md` rows for RSTs.
pub fn case_name(listener: bool, probe: TwProbe, rfc1337: bool) -> String {
    match (probe, listener, rfc1337) {
        (TwProbe::Syn, true, _) => "B-SYN".into(),
        (TwProbe::Syn, false, false) => "B-RST".into(),
        (TwProbe::Syn, false, true) => "B-RST'".into(),
        (TwProbe::Rst { offset: 0 }, _, _) => "4a".into(),
        (TwProbe::Rst { .. }, _, _) => "4b".into(),
    }
}

fn probe_name(p: TwProbe) -> String {
    match p {
        TwProbe::Syn => "SYN from the old client port".into(),
        TwProbe::Rst { offset: 0 } => "RST SEQ=RCV.NXT".into(),
        TwProbe::Rst { offset } => format!("RST SEQ=RCV.NXT+{offset}"),
    }
}

/// The server and client endpoints of case `k` (each case has ports of its own).
fn endpoints(k: usize) -> (SocketAddrV4, SocketAddrV4) {
    let k = u16::try_from(k).unwrap_or(0);
    (
        SocketAddrV4::new(SERVER, SERVER_PORT_BASE + k),
        SocketAddrV4::new(CLIENT, CLIENT_PORT_BASE + k),
    )
}

/// Renders observations as a table, one row per case, each followed by its evidence.
pub fn render_table(title: &str, obs: &[TwObservation]) -> String {
    let mut s = format!(
        "{title}\n{:<7} {:<8} {:<29} {:<16} {:<15} {}\n",
        "case", "listener", "probe", "result", "TIME-WAIT", "ISS-SND.NXT"
    );
    for o in obs {
        s.push_str(&format!(
            "{:<7} {:<8} {:<29} {:<16} {:<15} {}\n",
            o.case,
            if o.listener { "yes" } else { "no" },
            probe_name(o.probe),
            o.kernel.to_string(),
            o.time_wait.to_string(),
            o.iss_offset.map_or("-".to_string(), |d| d.to_string()),
        ));
        for e in &o.evidence {
            s.push_str(&format!("        | {e}\n"));
        }
    }
    s
}

/// Why the kernel check could not run.
#[derive(Debug, thiserror::Error)]
pub enum KernelTwError {
    /// No private network namespace (`unshare(CLONE_NEWNET)` needs `CAP_SYS_ADMIN`), or it
    /// could not be set up. The check never runs in the caller's namespace.
    #[error("network namespace: {0}")]
    Namespace(String),
    /// `tcp_rfc1337` could not be set in the namespace, or did not read back.
    #[error("tcp_rfc1337: {0}")]
    Sysctl(String),
    /// A system call failed.
    #[error("kernel TIME-WAIT check: {0}")]
    Io(String),
    /// The experiment's setup did not go as intended (no TIME-WAIT appeared, the capture
    /// missed a segment it needs); the probes were not judged.
    #[error("kernel TIME-WAIT check setup: {0}")]
    Setup(String),
}

fn io(what: &str) -> impl Fn(std::io::Error) -> KernelTwError + '_ {
    move |e| KernelTwError::Io(format!("{what}: {e}"))
}

/// Runs the six cases of [`PROBES`] on this machine's kernel with `tcp_rfc1337` set to
/// `rfc1337`, in a private network namespace on a thread of its own (see the module docs),
/// and reports what the kernel did. Takes about 0.4 s, plus [`CONNECT_DEADLINE`] for each
/// connect that times out.
pub fn observe_kernel(rfc1337: bool) -> Result<Vec<TwObservation>, KernelTwError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("twsim-kernel-tw".into())
            .spawn_scoped(scope, || observe_on_this_thread(rfc1337))
            .map_err(|e| KernelTwError::Io(format!("cannot start the namespace thread: {e}")))?
            .join()
            .map_err(|_| KernelTwError::Io("the namespace thread panicked".into()))?
    })
}

fn observe_on_this_thread(rfc1337: bool) -> Result<Vec<TwObservation>, KernelTwError> {
    enter_namespace().map_err(|e| match e {
        NsError::Unavailable(why) | NsError::Broken(why) => KernelTwError::Namespace(why),
    })?;
    set_rfc1337(rfc1337)?;
    let cap = Capture::open()?;
    let mut out = Vec::with_capacity(PROBES.len());
    for (k, &(listener, probe)) in PROBES.iter().enumerate() {
        let (server, client) = endpoints(k);
        let mut o = run_case(&cap, server, client, listener, probe)?;
        o.case = case_name(listener, probe, rfc1337);
        o.rfc1337 = rfc1337;
        out.push(o);
    }
    // Every descriptor is closed; the namespace (and the TIME-WAITs left in it, purged by
    // `inet_twsk_purge`) goes with the thread.
    Ok(out)
}

/// Writes `tcp_rfc1337` for this thread's namespace and reads it back.
fn set_rfc1337(on: bool) -> Result<(), KernelTwError> {
    let path = "/proc/sys/net/ipv4/tcp_rfc1337";
    let want = if on { "1" } else { "0" };
    std::fs::write(path, format!("{want}\n"))
        .map_err(|e| KernelTwError::Sysctl(format!("cannot write {path}: {e}")))?;
    let got = std::fs::read_to_string(path)
        .map_err(|e| KernelTwError::Sysctl(format!("cannot read {path}: {e}")))?;
    if got.trim() != want {
        return Err(KernelTwError::Sysctl(format!(
            "wrote {want} to {path}, read back {:?}",
            got.trim()
        )));
    }
    Ok(())
}

/// A TIME-WAIT built on the kernel, with what the capture showed of it.
struct KernelTw {
    server: SocketAddrV4,
    client: SocketAddrV4,
    rcv_nxt: u32,
    snd_nxt: u32,
    /// RCV.WND: the final ACK's window field scaled by the server's window scale
    /// (`tcp_v4_timewait_ack` sends `tw_rcv_wnd >> tw_rcv_wscale`).
    rcv_wnd: u32,
}

impl KernelTw {
    /// One captured segment of this 4-tuple, relative to RCV.NXT and SND.NXT.
    fn describe(&self, s: &Seg) -> String {
        let rel = |a: u32, b: u32| a.wrapping_sub(b) as i32;
        let ts = s.tsval.map_or(String::new(), |v| format!(" TSval={v}"));
        if s.meta.src == self.client {
            format!(
                "client>server {:<3} seq=RCV.NXT{:+}{ts}",
                s.meta.flag_letters(),
                rel(s.meta.seq, self.rcv_nxt)
            )
        } else {
            let ack = if s.meta.has(TcpFlags::ACK) {
                format!(" ack=RCV.NXT{:+}", rel(s.meta.ack, self.rcv_nxt))
            } else {
                String::new()
            };
            // An RST answering a segment without ACK has SEQ = 0 (`tcp_v4_send_reset`).
            let seq = if s.meta.has(TcpFlags::RST) && s.meta.seq == 0 {
                "0".to_string()
            } else {
                format!("SND.NXT{:+}", rel(s.meta.seq, self.snd_nxt))
            };
            format!(
                "server>client {:<3} seq={seq}{ack}{ts}",
                s.meta.flag_letters()
            )
        }
    }

    fn of_tuple(&self, segs: Vec<Seg>) -> Vec<Seg> {
        segs.into_iter()
            .filter(|s| {
                (s.meta.src, s.meta.dst) == (self.client, self.server)
                    || (s.meta.src, s.meta.dst) == (self.server, self.client)
            })
            .collect()
    }

    /// Whether `/proc/thread-self/net/tcp` has a TIME-WAIT row for this 4-tuple.
    fn exists(&self) -> Result<bool, KernelTwError> {
        Ok(tcp_state(self.server, self.client)? == Some(TCP_TIME_WAIT))
    }
}

fn run_case(
    cap: &Capture,
    server: SocketAddrV4,
    client: SocketAddrV4,
    listener: bool,
    probe: TwProbe,
) -> Result<TwObservation, KernelTwError> {
    let (tw, lsock, mut evidence) = build_time_wait(cap, server, client)?;
    // The original listener keeps listening for the "listener" cases (a new listener with
    // SO_REUSEADDR on both would do the same: the SYN finds the TIME-WAIT first in the
    // established hash, then `inet_lookup_listener` in `tcp_v4_rcv`).
    let lsock = if listener {
        Some(lsock)
    } else {
        drop(lsock);
        evidence.push("listener closed".into());
        None
    };
    let (kernel, iss_offset, more) = match probe {
        TwProbe::Syn => probe_syn(cap, &tw)?,
        TwProbe::Rst { offset } => probe_rst(cap, &tw, offset)?,
    };
    evidence.extend(more);
    let time_wait = TwOutcome::time_wait(tw.exists()?);
    drop(lsock);
    Ok(TwObservation {
        case: String::new(),
        rfc1337: false,
        listener,
        probe,
        kernel: match probe {
            TwProbe::Syn => kernel,
            TwProbe::Rst { .. } => time_wait,
        },
        time_wait,
        iss_offset,
        evidence,
    })
}

/// Builds a server-side TIME-WAIT for `server` ← `client`; returns it with the listener and
/// a line of evidence giving its RCV.NXT and SND.NXT.
fn build_time_wait(
    cap: &Capture,
    server: SocketAddrV4,
    client: SocketAddrV4,
) -> Result<(KernelTw, OwnedFd, Vec<String>), KernelTwError> {
    let setup = |what: String| KernelTwError::Setup(format!("{server} <- {client}: {what}"));
    // Segments of earlier cases are of no interest.
    cap.drain()?;
    let l = sys::socket(libc::SOCK_STREAM, 0).map_err(io("socket"))?;
    sys::bind(&l, server).map_err(io("bind the listener"))?;
    sys::listen(&l, 8).map_err(io("listen"))?;
    let c = sys::socket(libc::SOCK_STREAM, 0).map_err(io("socket"))?;
    sys::set_int(&c, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).map_err(io("SO_REUSEADDR"))?;
    sys::bind(&c, client).map_err(io("bind the client"))?;
    let (r, _) = connect(&c, server, SETUP_DEADLINE)?;
    if r != TwOutcome::Accepted {
        return Err(setup(format!("handshake: {r}")));
    }
    if poll_for(&l, libc::POLLIN, SETUP_DEADLINE)?.is_none() {
        return Err(setup("nothing to accept".into()));
    }
    let a = sys::accept(&l).map_err(io("accept"))?;
    // The server closes first: FIN (`tcp_close` → `tcp_send_fin`).
    drop(a);
    if poll_for(&c, libc::POLLIN, SETUP_DEADLINE)?.is_none() {
        return Err(setup("the server's FIN did not arrive".into()));
    }
    let mut buf = [0u8; 16];
    match sys::recv(&c, &mut buf) {
        Ok(0) => {}
        other => return Err(setup(format!("expected the end of stream, got {other:?}"))),
    }
    // The client closes: its FIN takes the server from FIN-WAIT-2 to TIME-WAIT, the server's
    // final ACK (`tcp_v4_timewait_ack`) closes the client's LAST-ACK.
    drop(c);
    let built =
        wait_until(SETUP_DEADLINE, || {
            Ok(tcp_states(server, client)? == [TCP_TIME_WAIT]
                && tcp_states(client, server)?.is_empty())
        })?;
    if !built {
        return Err(setup(format!(
            "no TIME-WAIT: server rows {:?}, client rows {:?}",
            tcp_states(server, client)?,
            tcp_states(client, server)?
        )));
    }
    let segs = cap.drain()?;
    let last = |src: SocketAddrV4, dst: SocketAddrV4, fin: bool| {
        segs.iter()
            .rev()
            .find(|s| s.meta.src == src && s.meta.dst == dst && (!fin || s.meta.has(TcpFlags::FIN)))
    };
    let fin_c =
        last(client, server, true).ok_or_else(|| setup("client FIN not captured".into()))?;
    let fin_s =
        last(server, client, true).ok_or_else(|| setup("server FIN not captured".into()))?;
    let ack = last(server, client, false).ok_or_else(|| setup("final ACK not captured".into()))?;
    let rcv_nxt = fin_c.meta.seq.wrapping_add(fin_c.meta.seg_len());
    let snd_nxt = fin_s.meta.seq.wrapping_add(fin_s.meta.seg_len());
    if ack.meta.flags != TcpFlags::ACK || ack.meta.ack != rcv_nxt || ack.meta.seq != snd_nxt {
        return Err(setup(format!(
            "the final ACK ({} seq {} ack {}) disagrees with RCV.NXT {rcv_nxt} / SND.NXT {snd_nxt}",
            ack.meta.flag_letters(),
            ack.meta.seq,
            ack.meta.ack
        )));
    }
    // The server's window scale is in its SYN-ACK (none: no scaling, RFC 7323 §2.2).
    let wscale = segs
        .iter()
        .find(|s| s.meta.src == server && s.meta.has(TcpFlags::SYN | TcpFlags::ACK))
        .ok_or_else(|| setup("SYN-ACK not captured".into()))?
        .wscale
        .unwrap_or(0);
    let rcv_wnd = u32::from(ack.meta.window) << wscale.min(14);
    let evidence = vec![format!(
        "TIME-WAIT {server} <- {client}: RCV.NXT={rcv_nxt} SND.NXT={snd_nxt} \
         (client FIN + 1, server FIN + 1; the final ACK agrees), RCV.WND={rcv_wnd} \
         ({} << {wscale}), TS.Recent {}",
        ack.meta.window,
        fin_c.tsval.map_or("none".to_string(), |v| v.to_string())
    )];
    let tw = KernelTw {
        server,
        client,
        rcv_nxt,
        snd_nxt,
        rcv_wnd,
    };
    Ok((tw, l, evidence))
}

/// A SYN from the old client port: a new socket bound to the client endpoint connects.
fn probe_syn(
    cap: &Capture,
    tw: &KernelTw,
) -> Result<(TwOutcome, Option<u32>, Vec<String>), KernelTwError> {
    let c = sys::socket(libc::SOCK_STREAM, 0).map_err(io("socket"))?;
    sys::set_int(&c, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).map_err(io("SO_REUSEADDR"))?;
    sys::bind(&c, tw.client).map_err(io("bind the old client port"))?;
    let (result, slices) = connect(&c, tw.server, CONNECT_DEADLINE)?;
    sleep(SETTLE);
    let segs = tw.of_tuple(cap.drain()?);
    let iss_offset = match result {
        TwOutcome::Accepted => segs
            .iter()
            .find(|s| s.meta.src == tw.server && s.meta.has(TcpFlags::SYN | TcpFlags::ACK))
            .map(|s| s.meta.seq.wrapping_sub(tw.snd_nxt)),
        _ => None,
    };
    let mut evidence = vec![format!(
        "connect: {result} within {} poll slices of {} ms",
        slices + 1,
        POLL_SLICE.micros() / 1000
    )];
    evidence.extend(segs.iter().map(|s| tw.describe(s)));
    let (syns, acks) = (
        segs.iter()
            .filter(|s| s.meta.src == tw.client && s.meta.flags == TcpFlags::SYN)
            .count(),
        segs.iter()
            .filter(|s| {
                s.meta.src == tw.server
                    && s.meta.flags == TcpFlags::ACK
                    && (s.meta.seq, s.meta.ack) == (tw.snd_nxt, tw.rcv_nxt)
            })
            .count(),
    );
    evidence.push(format!(
        "the TIME-WAIT answered {acks} of {syns} SYNs with an ACK"
    ));
    // Closing a SYN-SENT socket sends nothing (`tcp_close`: SYN-SENT → CLOSE).
    drop(c);
    Ok((result, iss_offset, evidence))
}

/// A bare RST with SEQ = RCV.NXT + `offset`, crafted and sent on the raw socket.
fn probe_rst(
    cap: &Capture,
    tw: &KernelTw,
    offset: u32,
) -> Result<(TwOutcome, Option<u32>, Vec<String>), KernelTwError> {
    if offset >= tw.rcv_wnd.max(1) {
        return Err(KernelTwError::Setup(format!(
            "{} <- {}: SEQ = RCV.NXT + {offset} is not inside RCV.WND = {}",
            tw.server, tw.client, tw.rcv_wnd
        )));
    }
    let seq = tw.rcv_nxt.wrapping_add(offset);
    let pkt = craft(tw.client, tw.server, seq, None, Ctl::Rst, 0);
    cap.send(&pkt, tw.server)?;
    sleep(SETTLE);
    let segs = tw.of_tuple(cap.drain()?);
    if !segs
        .iter()
        .any(|s| s.meta.src == tw.client && s.meta.flags == TcpFlags::RST && s.meta.seq == seq)
    {
        return Err(KernelTwError::Setup(format!(
            "{} <- {}: the crafted RST was not seen on lo",
            tw.server, tw.client
        )));
    }
    let evidence = segs.iter().map(|s| tw.describe(s)).collect();
    Ok((TwOutcome::TimeWaitKept, None, evidence))
}

/// Non-blocking connect, then `poll(POLLOUT)` for at most `deadline` and `SO_ERROR`; returns
/// the result and the number of whole poll slices spent.
fn connect(
    fd: &OwnedFd,
    to: SocketAddrV4,
    deadline: Duration,
) -> Result<(TwOutcome, u64), KernelTwError> {
    let from_errno = |e: i32| match e {
        0 => TwOutcome::Accepted,
        libc::ECONNREFUSED => TwOutcome::Refused,
        e => TwOutcome::ConnectError(e),
    };
    match sys::connect(fd, to) {
        Ok(()) => return Ok((TwOutcome::Accepted, 0)),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Ok((from_errno(e.raw_os_error().unwrap_or(libc::EIO)), 0)),
    }
    Ok(match poll_for(fd, libc::POLLOUT, deadline)? {
        Some(n) => (from_errno(sys::so_error(fd).map_err(io("SO_ERROR"))?), n),
        None => (TwOutcome::TimedOut, slice_count(deadline)),
    })
}

fn slice_count(d: Duration) -> u64 {
    d.micros().div_ceil(POLL_SLICE.micros()).max(1)
}

/// Polls `fd` for `events` for at most `deadline`, in [`POLL_SLICE`]s; `Some(slices spent
/// before the ready one)` or `None` when the deadline passed.
fn poll_for(
    fd: &OwnedFd,
    events: libc::c_short,
    deadline: Duration,
) -> Result<Option<u64>, KernelTwError> {
    let ms = libc::c_int::try_from(POLL_SLICE.micros() / 1000).unwrap_or(10);
    for n in 0..slice_count(deadline) {
        match sys::poll(fd, events, ms) {
            Ok(true) => return Ok(Some(n)),
            Ok(false) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("poll")(e)),
        }
    }
    Ok(None)
}

/// Checks `cond` every [`POLL_SLICE`] for at most `deadline`; whether it became true.
fn wait_until(
    deadline: Duration,
    mut cond: impl FnMut() -> Result<bool, KernelTwError>,
) -> Result<bool, KernelTwError> {
    for _ in 0..slice_count(deadline) {
        if cond()? {
            return Ok(true);
        }
        sleep(POLL_SLICE);
    }
    cond()
}

fn sleep(d: Duration) {
    std::thread::sleep(std::time::Duration::from_micros(d.micros()));
}

/// The states of the rows for `local`/`remote` in this thread's `/proc/net/tcp`
/// (`tcp4_seq_show`; TIME-WAIT rows come from `get_timewait4_sock`).
fn tcp_states(local: SocketAddrV4, remote: SocketAddrV4) -> Result<Vec<u8>, KernelTwError> {
    // /proc/self/net follows the process's first thread; thread-self follows this thread,
    // which is the one inside the private namespace.
    let path = "/proc/thread-self/net/tcp";
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    Ok(parse_proc_net_tcp(&text)
        .into_iter()
        .filter(|r| r.0 == local && r.1 == remote)
        .map(|r| r.2)
        .collect())
}

fn tcp_state(local: SocketAddrV4, remote: SocketAddrV4) -> Result<Option<u8>, KernelTwError> {
    let states = tcp_states(local, remote)?;
    Ok(if states.contains(&TCP_TIME_WAIT) {
        Some(TCP_TIME_WAIT)
    } else {
        states.first().copied()
    })
}

/// A captured segment.
struct Seg {
    meta: SegMeta,
    tsval: Option<u32>,
    /// The window scale option (SYN segments only).
    wscale: Option<u8>,
}

/// The TSval of a segment's timestamp option and its window scale option (checksums not
/// verified: segments sent by the kernel on `lo` carry a partial checksum, `CHECKSUM_PARTIAL`).
fn options_of(bytes: &[u8]) -> (Option<u32>, Option<u8>) {
    let parse = || {
        let ip = Ipv4Packet::new_checked(bytes).ok()?;
        let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
        let (src, dst) = (
            IpAddress::Ipv4(ip.src_addr()),
            IpAddress::Ipv4(ip.dst_addr()),
        );
        let repr = TcpRepr::parse(&tcp, &src, &dst, &ChecksumCapabilities::ignored()).ok()?;
        Some((repr.timestamp.map(|t| t.tsval), repr.window_scale))
    };
    parse().unwrap_or((None, None))
}

/// The raw `IPPROTO_TCP` socket: a copy of every TCP segment delivered on `lo` in the
/// namespace (`raw_v4_input`), and crafted segments out (`IP_HDRINCL`).
struct Capture {
    fd: OwnedFd,
}

impl Capture {
    /// Most segments read by one [`Capture::drain`]; a case produces a dozen.
    const MAX_DRAIN: usize = 4096;

    fn open() -> Result<Capture, KernelTwError> {
        let fd = sys::socket(libc::SOCK_RAW, libc::IPPROTO_TCP).map_err(io("raw socket"))?;
        sys::set_int(&fd, libc::IPPROTO_IP, libc::IP_HDRINCL, 1).map_err(io("IP_HDRINCL"))?;
        Ok(Capture { fd })
    }

    /// Every segment received since the last drain, in arrival order.
    fn drain(&self) -> Result<Vec<Seg>, KernelTwError> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_536];
        for _ in 0..Self::MAX_DRAIN {
            match sys::recv(&self.fd, &mut buf) {
                Ok(n) => {
                    let bytes = &buf[..n];
                    if let Some(meta) = SegMeta::parse(bytes) {
                        let (tsval, wscale) = options_of(bytes);
                        out.push(Seg {
                            meta,
                            tsval,
                            wscale,
                        });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io("recv on the raw socket")(e)),
            }
        }
        Ok(out)
    }

    /// Sends a complete IPv4 packet (header included) to `to`.
    fn send(&self, packet: &[u8], to: SocketAddrV4) -> Result<(), KernelTwError> {
        let n = sys::send_to(&self.fd, packet, to).map_err(io("sendto on the raw socket"))?;
        if n != packet.len() {
            return Err(KernelTwError::Io(format!(
                "raw sendto wrote {n} of {} bytes",
                packet.len()
            )));
        }
        Ok(())
    }
}

/// Thin wrappers over the libc calls the check needs.
/// The socket calls of this check, through the kernel replay's wrappers (`kernel::sys`), with
/// `std::io::Error` errors.
mod sys {
    use crate::kernel::sys as k;
    use std::io;
    use std::net::{SocketAddr, SocketAddrV4};
    use std::os::fd::{AsRawFd, OwnedFd};

    /// `socket(AF_INET, ty | SOCK_NONBLOCK | SOCK_CLOEXEC, proto)`.
    pub fn socket(ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
        Ok(k::socket_v4(ty, proto)?)
    }

    pub fn set_int(
        fd: &OwnedFd,
        level: libc::c_int,
        opt: libc::c_int,
        v: libc::c_int,
    ) -> io::Result<()> {
        Ok(k::set_int(fd.as_raw_fd(), level, opt, v)?)
    }

    pub fn bind(fd: &OwnedFd, a: SocketAddrV4) -> io::Result<()> {
        Ok(k::bind(fd.as_raw_fd(), SocketAddr::V4(a))?)
    }

    pub fn listen(fd: &OwnedFd, backlog: libc::c_int) -> io::Result<()> {
        Ok(k::listen(fd.as_raw_fd(), backlog)?)
    }

    pub fn connect(fd: &OwnedFd, a: SocketAddrV4) -> io::Result<()> {
        Ok(k::connect(fd.as_raw_fd(), SocketAddr::V4(a))?)
    }

    /// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`.
    pub fn accept(fd: &OwnedFd) -> io::Result<OwnedFd> {
        Ok(k::accept(fd.as_raw_fd())?)
    }

    /// `recv(MSG_DONTWAIT)`.
    pub fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
        Ok(k::recv(fd.as_raw_fd(), buf)?)
    }

    /// `sendto(MSG_DONTWAIT)`.
    pub fn send_to(fd: &OwnedFd, data: &[u8], to: SocketAddrV4) -> io::Result<usize> {
        Ok(k::send_to(fd.as_raw_fd(), data, SocketAddr::V4(to))?)
    }

    /// `poll()` on one descriptor: `true` if any of `events` (or an error/hang-up) is pending.
    pub fn poll(fd: &OwnedFd, events: libc::c_short, timeout_ms: libc::c_int) -> io::Result<bool> {
        Ok(k::poll(fd.as_raw_fd(), events, timeout_ms)?)
    }

    /// `getsockopt(SO_ERROR)`: the pending error of a socket, 0 if none.
    pub fn so_error(fd: &OwnedFd) -> io::Result<libc::c_int> {
        Ok(k::so_error(fd.as_raw_fd())?)
    }
}

/// RCV.NXT of the model's record. The record's numbers are arbitrary except for how the
/// probes relate to them.
const MODEL_RCV_NXT: u32 = 1_000_002;
/// SND.NXT of the model's record.
const MODEL_SND_NXT: u32 = 7_000_002;
/// RCV.WND of the model's record: the 64 KiB a loopback connection advertises.
const MODEL_RCV_WND: u32 = 65_536;
/// TS.Recent of the model's record: Linux uses timestamps by default (`tcp_timestamps` = 1).
const MODEL_TS_RECENT: u32 = 500_000;
/// How far above RCV.NXT the new SYN's SEQ is: Linux's ISN (`secure_tcp_seq`, RFC 6528) is a
/// hash of the 4-tuple, the same for both connections, plus ns >> 6, which grows by ≈15 625
/// per millisecond; the new connect comes at least a millisecond after the old FIN.
const MODEL_SYN_ADVANCE: u32 = 15_625;
/// When the probe reaches the record, after the record was created.
const MODEL_PROBE_AT: Duration = Duration::from_millis(10);
/// A client in SYN-SENT that got an unacceptable ACK before any retransmission retransmits
/// its SYN after `TCP_TIMEOUT_MIN` (2 jiffies, 8 ms at HZ = 250), here rounded up to a poll
/// slice (`tcp_rcv_synsent_state_process`).
const TCP_TIMEOUT_MIN: Duration = Duration::from_millis(10);
/// The SYN retransmission timeout: `TCP_TIMEOUT_INIT` = 1 s, kept linear for the first
/// `tcp_syn_linear_timeouts` = 4 retransmissions (`tcp_retransmit_timer`, Linux 6.5+). With
/// exponential backoff the next SYN would come later still, beyond [`CONNECT_DEADLINE`].
const TCP_TIMEOUT_INIT: Duration = Duration::from_secs(1);

/// What the model says the kernel does in each case of [`PROBES`] with `tcp_rfc1337` =
/// `rfc1337`, derived from the `linux` profile's TIME-WAIT policy through
/// [`TimeWaitRecord::on_segment`] (see the module docs); `RstInTimeWait::Ignore` stands for
/// `tcp_rfc1337` = 1.
pub fn predict_linux(rfc1337: bool) -> Vec<TwObservation> {
    let cfg = Profile::Linux.config();
    let mut policy = cfg.time_wait;
    if rfc1337 {
        policy.rst = RstInTimeWait::Ignore;
    }
    let length = cfg.time_wait_duration(cfg.default_msl);
    PROBES
        .iter()
        .enumerate()
        .map(|(k, &(listener, probe))| {
            let (server, client) = endpoints(k);
            let record = TimeWaitRecord::new(
                FourTuple::new(SocketAddr::V4(server), SocketAddr::V4(client)),
                1,
                SeqNum(MODEL_SND_NXT),
                SeqNum(MODEL_RCV_NXT),
                MODEL_RCV_WND,
                Instant::ZERO,
                length,
            )
            .with_ts_recent(Some(TsVal(MODEL_TS_RECENT)));
            let (kernel, time_wait, iss_offset, evidence) = match probe {
                TwProbe::Syn => predict_syn(record, &policy, listener),
                TwProbe::Rst { offset } => predict_rst(record, &policy, listener, offset),
            };
            TwObservation {
                case: case_name(listener, probe, rfc1337),
                rfc1337,
                listener,
                probe,
                kernel,
                time_wait,
                iss_offset,
                evidence,
            }
        })
        .collect()
}

type Prediction = (TwOutcome, TwOutcome, Option<u32>, Vec<String>);

fn bare(seq: u32) -> SegmentInfo {
    SegmentInfo {
        seq: SeqNum(seq),
        ack: None,
        syn: false,
        fin: false,
        rst: false,
        payload_len: 0,
        tsval: None,
    }
}

fn ms(d: Duration) -> u64 {
    d.micros() / 1000
}

/// A connect from the old client port: SYNs at the client's retransmission times until one
/// is answered or [`CONNECT_DEADLINE`] passes.
fn predict_syn(record: TimeWaitRecord, policy: &TimeWaitPolicy, listener: bool) -> Prediction {
    let mut evidence = Vec::new();
    let (mut syns, mut acks) = (0, 0);
    let (kernel, time_wait, iss_offset) = syn_chain(
        record,
        policy,
        listener,
        &mut evidence,
        &mut syns,
        &mut acks,
    );
    evidence.push(format!(
        "the TIME-WAIT answered {acks} of {syns} SYNs with an ACK"
    ));
    (kernel, time_wait, iss_offset, evidence)
}

fn syn_chain(
    mut record: TimeWaitRecord,
    policy: &TimeWaitPolicy,
    listener: bool,
    evidence: &mut Vec<String>,
    syns: &mut u32,
    acks: &mut u32,
) -> (TwOutcome, TwOutcome, Option<u32>) {
    let mut alive = true;
    let mut t = Duration::ZERO;
    let mut retransmitted = false;
    // Each pass moves `t` on by at least TCP_TIMEOUT_MIN, so the loop ends at the deadline.
    while t <= CONNECT_DEADLINE {
        let now = Instant::ZERO + MODEL_PROBE_AT + t;
        *syns += 1;
        if !alive {
            // No TIME-WAIT: `tcp_v4_rcv` finds the listener, or answers with RST
            // (`tcp_v4_send_reset`).
            return if listener {
                evidence.push(format!(
                    "+{}ms SYN: no TIME-WAIT, the listener takes it",
                    ms(t)
                ));
                (TwOutcome::Accepted, TwOutcome::TimeWaitGone, None)
            } else {
                evidence.push(format!(
                    "+{}ms SYN: no TIME-WAIT, no listener, RST (tcp_v4_send_reset)",
                    ms(t)
                ));
                (TwOutcome::Refused, TwOutcome::TimeWaitGone, None)
            };
        }
        let syn = SegmentInfo {
            syn: true,
            tsval: Some(TsVal(
                MODEL_TS_RECENT + 1 + u32::try_from(ms(t)).unwrap_or(0),
            )),
            ..bare(MODEL_RCV_NXT.wrapping_add(MODEL_SYN_ADVANCE))
        };
        let d = record.on_segment(&syn, now, policy, listener);
        evidence.push(format!(
            "+{}ms SYN seq=RCV.NXT+{MODEL_SYN_ADVANCE}: {:?} ({})",
            ms(t),
            d.action,
            d.rule
        ));
        let next = match d.action {
            TwAction::AcceptSyn { iss } => {
                let offset = iss.map(|i| i.0.wrapping_sub(record.snd_nxt.0));
                return (TwOutcome::Accepted, TwOutcome::TimeWaitGone, offset);
            }
            TwAction::RstAndKill => {
                return (TwOutcome::Refused, TwOutcome::TimeWaitGone, None);
            }
            TwAction::Kill => {
                alive = false;
                TCP_TIMEOUT_INIT
            }
            TwAction::Drop => TCP_TIMEOUT_INIT,
            TwAction::Ack => {
                *acks += 1;
                // <SEQ=SND.NXT><ACK=RCV.NXT> is unacceptable in SYN-SENT: the client answers
                // <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.3, `tcp_rcv_synsent_state_process`
                // reset_and_undo), and that RST reaches the record.
                let rst = SegmentInfo {
                    rst: true,
                    ..bare(record.rcv_nxt.0)
                };
                let d = record.on_segment(&rst, now, policy, listener);
                evidence.push(format!(
                    "+{}ms client RST seq=RCV.NXT: {:?} ({})",
                    ms(t),
                    d.action,
                    d.rule
                ));
                if matches!(d.action, TwAction::Kill | TwAction::RstAndKill) {
                    alive = false;
                }
                if retransmitted {
                    TCP_TIMEOUT_INIT
                } else {
                    TCP_TIMEOUT_MIN
                }
            }
        };
        retransmitted = true;
        t = t + next;
    }
    evidence.push(format!("no answer within {} ms", ms(CONNECT_DEADLINE)));
    (TwOutcome::TimedOut, TwOutcome::time_wait(alive), None)
}

/// A bare RST with SEQ = RCV.NXT + `offset`.
fn predict_rst(
    mut record: TimeWaitRecord,
    policy: &TimeWaitPolicy,
    listener: bool,
    offset: u32,
) -> Prediction {
    let rst = SegmentInfo {
        rst: true,
        ..bare(record.rcv_nxt.0.wrapping_add(offset))
    };
    let d = record.on_segment(&rst, Instant::ZERO + MODEL_PROBE_AT, policy, listener);
    let kept = !matches!(
        d.action,
        TwAction::Kill | TwAction::RstAndKill | TwAction::AcceptSyn { .. }
    );
    let evidence = vec![format!(
        "RST seq=RCV.NXT+{offset} (in window: {}): {:?} ({})",
        offset < record.rcv_wnd,
        d.action,
        d.rule
    )];
    let tw = TwOutcome::time_wait(kept);
    (tw, tw, None, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TwOutcome::{Accepted, Refused, TimeWaitGone as Gone, TimeWaitKept as Kept, TimedOut};

    fn outcomes(v: &[TwObservation]) -> Vec<(&str, bool, TwOutcome, TwOutcome, Option<u32>)> {
        v.iter()
            .map(|o| {
                (
                    o.case.as_str(),
                    o.listener,
                    o.kernel,
                    o.time_wait,
                    o.iss_offset,
                )
            })
            .collect()
    }

    /// The model's `linux` policy gives what `time-wait.md` and `bind-rules.md` record for
    /// the kernel (B-SYN, B-RST, B-RST'; rows 4a and 4b).
    #[test]
    fn prediction_follows_the_spec() {
        assert_eq!(
            outcomes(&predict_linux(false)),
            vec![
                ("B-SYN", true, Accepted, Gone, Some(65537)),
                ("4a", true, Gone, Gone, None),
                ("4b", true, Kept, Kept, None),
                ("B-RST", false, Refused, Gone, None),
                ("4a", false, Gone, Gone, None),
                ("4b", false, Kept, Kept, None),
            ]
        );
        assert_eq!(
            outcomes(&predict_linux(true)),
            vec![
                ("B-SYN", true, Accepted, Gone, Some(65537)),
                ("4a", true, Kept, Kept, None),
                ("4b", true, Kept, Kept, None),
                ("B-RST'", false, TimedOut, Kept, None),
                ("4a", false, Kept, Kept, None),
                ("4b", false, Kept, Kept, None),
            ]
        );
    }

    /// B-RST' in the model: every SYN (newer than RCV.NXT, no listener) is ACKed — Linux
    /// answers it through tcp_v4_timewait_ack outside the out-of-window rate limit, as the
    /// kernel shows (3 SYNs, 3 ACKs) — and every client RST is ignored.
    #[test]
    fn rfc1337_syn_chain_is_ack_and_rst_ignored_every_time() {
        let o = &predict_linux(true)[3];
        let steps: Vec<&String> = o.evidence.iter().filter(|e| e.starts_with('+')).collect();
        let at = [
            "+0ms SYN",
            "+0ms client RST",
            "+10ms SYN",
            "+10ms client RST",
            "+1010ms SYN",
            "+1010ms client RST",
        ];
        assert_eq!(steps.len(), at.len(), "{:?}", o.evidence);
        for (e, want) in steps.iter().zip(at) {
            assert!(e.starts_with(want), "{:?}", o.evidence);
            let action = e.split(": ").nth(1).unwrap_or("");
            let expect = if want.ends_with("SYN") { "Ack" } else { "Drop" };
            assert!(action.starts_with(expect), "{e}");
        }
        assert!(
            o.evidence
                .iter()
                .any(|e| e == "the TIME-WAIT answered 3 of 3 SYNs with an ACK"),
            "{:?}",
            o.evidence
        );
    }

    #[test]
    fn equality_ignores_evidence_and_tables_render() {
        let a = predict_linux(false);
        let mut b = a.clone();
        b[0].evidence = vec!["other".into()];
        assert_eq!(a, b);
        b[0].time_wait = TwOutcome::TimeWaitKept;
        assert_ne!(a, b);
        let t = render_table("model", &a);
        assert!(
            t.contains("B-SYN   yes      SYN from the old client port"),
            "{t}"
        );
        assert!(t.contains("RST SEQ=RCV.NXT+100"), "{t}");
    }
}

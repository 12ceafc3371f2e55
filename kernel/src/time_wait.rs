//! Real-kernel TIME-WAIT check: a server-side TIME-WAIT on this machine's Linux kernel, probed
//! with a SYN from the old client port and with RSTs, under `tcp_rfc1337` = 0 and 1, next to
//! what the model's `linux` TIME-WAIT policy predicts for the same probes
//! ([`twsim_sim::predict`], which holds the cases, the observation type and the prediction).
//!
//! Read first: `time-wait.md` (rows 4a, 4b, 5 and 6 of the decision table, and "Observed on a
//! real Linux 6.18 kernel"), `bind-rules.md` (cases B-SYN, B-RST, B-RST'), and in the kernel
//! `tcp_timewait_state_process` (net/ipv4/tcp_minisocks.c), `tcp_v4_rcv` with its
//! `TCP_TW_SYN` / `TCP_TW_ACK` / `TCP_TW_RST` dispatch and `tcp_v4_timewait_ack`
//! (net/ipv4/tcp_ipv4.c), and `tcp_rcv_synsent_state_process` (net/ipv4/tcp_input.c).
//!
//! # The experiment ([`observe_kernel`])
//! Everything runs on a dedicated thread in a private network namespace of its own
//! (`unshare(CLONE_NEWNET)` and `lo` up, shared with [`crate::replay`]); without one the check
//! refuses to run ([`KernelTwError::Namespace`]), so the host's sysctls and sockets are never
//! touched. Only loopback addresses are used: the server is
//! [`SERVER`](twsim_sim::predict::SERVER), the client [`CLIENT`](twsim_sim::predict::CLIENT).
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
//!    - RST: a bare RST from `CLIENT:E` to `SERVER:P` with SEQ = RCV.NXT + offset, offset 0
//!      (row 4a) or [`RST_OFFSET`](twsim_sim::predict::RST_OFFSET) (row 4b: inside the
//!      window, not exact).
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

use crate::replay::{enter_namespace, parse_proc_net_tcp, NsError};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, Ipv4Packet, TcpPacket, TcpRepr};
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use twsim_model::Duration;
use twsim_sim::predict::{
    case_name, endpoints, TwObservation, TwOutcome, TwProbe, CONNECT_DEADLINE, PROBES,
};
use twsim_sim::wire::TcpFlags;
use twsim_sim::wire::{craft, Ctl, SegMeta};

/// Granularity of every polling loop.
pub const POLL_SLICE: Duration = Duration::from_millis(10);
/// Real sleep after a probe before the TIME-WAIT row is read.
pub const SETTLE: Duration = Duration::from_millis(50);
/// Longest wait for each step that builds the TIME-WAIT (handshake, FINs, `/proc` row).
const SETUP_DEADLINE: Duration = Duration::from_secs(1);
/// `TCP_TIME_WAIT` in `include/net/tcp_states.h`.
const TCP_TIME_WAIT: u8 = 6;

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
    use crate::replay::sys as k;
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

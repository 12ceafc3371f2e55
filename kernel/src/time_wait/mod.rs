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
//!      without blocking; `poll(POLLOUT)` for at most
//!      [`CONNECT_DEADLINE`](twsim_sim::predict::CONNECT_DEADLINE), then `SO_ERROR`. Result:
//!      accepted, refused (`ECONNREFUSED`), timed out, or another errno.
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
//!
//! # Code map
//! - this module: the entry point [`observe_kernel`], the namespace thread, the sysctl, one
//!   case from start to end;
//! - `build`: the TIME-WAIT built on the kernel, and its RCV.NXT and SND.NXT from the capture;
//! - `probe`: the SYN and RST probes;
//! - `capture`: the raw socket that sees every segment on `lo` and sends the crafted RSTs;
//! - `wait`: the non-blocking connect, polls and waits counted in slices, `/proc/net/tcp`
//!   rows;
//! - `sys`: the socket calls of the check, with `std::io::Error` errors.

mod build;
mod capture;
mod probe;
mod sys;
mod wait;

use crate::netns::{enter_namespace, NsError};
use build::build_time_wait;
use capture::Capture;
use probe::{probe_rst, probe_syn};
use std::net::SocketAddrV4;
use twsim_model::Duration;
use twsim_sim::predict::{case_name, endpoints, TwObservation, TwOutcome, TwProbe, PROBES};

/// Granularity of every polling loop.
pub const POLL_SLICE: Duration = Duration::from_millis(10);
/// Real sleep after a probe before the TIME-WAIT row is read.
pub const SETTLE: Duration = Duration::from_millis(50);
/// Longest wait for each step that builds the TIME-WAIT (handshake, FINs, `/proc` row).
const SETUP_DEADLINE: Duration = Duration::from_secs(1);

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
/// and reports what the kernel did. Takes about 0.4 s, plus
/// [`CONNECT_DEADLINE`](twsim_sim::predict::CONNECT_DEADLINE) for each connect that times out.
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

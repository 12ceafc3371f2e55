//! The probes at a TIME-WAIT: a SYN from the old client port (an ordinary connect), or a bare
//! RST crafted and sent on the raw socket.

use super::build::KernelTw;
use super::capture::Capture;
use super::wait::{connect, sleep};
use super::{io, sys, KernelTwError, POLL_SLICE, SETTLE};
use twsim_sim::predict::{TwOutcome, CONNECT_DEADLINE};
use twsim_sim::wire::{craft, Ctl, TcpFlags};

/// A SYN from the old client port: a new socket bound to the client endpoint connects.
pub(super) fn probe_syn(
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
            .map(|s| (s.meta.seq - tw.snd_nxt) as u32),
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
pub(super) fn probe_rst(
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

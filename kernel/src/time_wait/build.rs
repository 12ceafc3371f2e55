//! The TIME-WAIT built on the kernel for one case: a connection the server closes first, and
//! its RCV.NXT, SND.NXT and RCV.WND read from the capture.

use super::capture::{Capture, Seg};
use super::wait::{connect, poll_for, tcp_state, tcp_states, wait_until};
use super::{io, sys, KernelTwError, SETUP_DEADLINE};
use crate::proc_net::TCP_TIME_WAIT;
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use twsim_model::SeqNum;
use twsim_sim::predict::TwOutcome;
use twsim_sim::wire::TcpFlags;

/// A TIME-WAIT built on the kernel, with what the capture showed of it.
pub(super) struct KernelTw {
    pub(super) server: SocketAddrV4,
    pub(super) client: SocketAddrV4,
    pub(super) rcv_nxt: SeqNum,
    pub(super) snd_nxt: SeqNum,
    /// RCV.WND: the final ACK's window field scaled by the server's window scale
    /// (`tcp_v4_timewait_ack` sends `tw_rcv_wnd >> tw_rcv_wscale`).
    pub(super) rcv_wnd: u32,
}

impl KernelTw {
    /// One captured segment of this 4-tuple, relative to RCV.NXT and SND.NXT.
    pub(super) fn describe(&self, s: &Seg) -> String {
        let rel = |a: SeqNum, b: SeqNum| a - b;
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
            let seq = if s.meta.has(TcpFlags::RST) && s.meta.seq == SeqNum(0) {
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

    pub(super) fn of_tuple(&self, segs: Vec<Seg>) -> Vec<Seg> {
        segs.into_iter()
            .filter(|s| {
                (s.meta.src, s.meta.dst) == (self.client, self.server)
                    || (s.meta.src, s.meta.dst) == (self.server, self.client)
            })
            .collect()
    }

    /// Whether `/proc/thread-self/net/tcp` has a TIME-WAIT row for this 4-tuple.
    pub(super) fn exists(&self) -> Result<bool, KernelTwError> {
        Ok(tcp_state(self.server, self.client)? == Some(TCP_TIME_WAIT))
    }
}

/// Builds a server-side TIME-WAIT for `server` ← `client`; returns it with the listener and
/// a line of evidence giving its RCV.NXT and SND.NXT.
pub(super) fn build_time_wait(
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

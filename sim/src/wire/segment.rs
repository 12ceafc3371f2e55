//! Segment summaries and crafted segments, on top of `smoltcp::wire`.
//!
//! The host layer reads every segment through [`SegMeta`], parsed in place with the length
//! checks of smoltcp's checked `Packet` views, and writes its own replies (TIME-WAIT ACKs,
//! RSTs for segments that match no socket) with [`craft`], through smoltcp's `Repr` emitters,
//! so checksums are always computed.

use super::TcpFlags;
use smoltcp::phy::ChecksumCapabilities;
#[cfg(test)]
use smoltcp::wire::TcpOption;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr,
    TcpSeqNumber,
};
use std::net::SocketAddrV4;
use twsim_model::{SegmentInfo, SeqNum, TsVal};

/// What the simulator reads of a TCP/IPv4 segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegMeta {
    /// Source endpoint.
    pub src: SocketAddrV4,
    /// Destination endpoint.
    pub dst: SocketAddrV4,
    /// SYN/FIN/RST/ACK flags.
    pub flags: TcpFlags,
    /// PSH flag.
    pub psh: bool,
    /// SEG.SEQ.
    pub seq: SeqNum,
    /// SEG.ACK (meaningful when ACK is set).
    pub ack: SeqNum,
    /// Payload bytes.
    pub payload_len: u32,
    /// Window field (unscaled).
    pub window: u16,
    /// TCP options.
    pub options: TcpOptions,
}

/// The TCP options of a segment that twsim reads (RFC 9293 §3.2; RFC 7323 window scale and
/// timestamps; RFC 2018 SACK), parsed by the rules of smoltcp's `TcpOption`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Maximum segment size (bytes).
    pub mss: Option<u16>,
    /// Window scale shift count.
    pub window_scale: Option<u8>,
    /// SACK-permitted.
    pub sack_permitted: bool,
    /// SACK blocks: (left edge, right edge) sequence numbers.
    pub sack: [Option<(u32, u32)>; 3],
    /// Timestamps: (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
}

impl TcpOptions {
    /// Parses an options field; a malformed option ends the parse (what was read stays).
    #[inline(never)]
    pub fn parse(bytes: &[u8]) -> TcpOptions {
        // Timestamps alone, after none or two NOPs and before the end of the list (smoltcp's
        // layout, and RFC 7323 Appendix A's NOP, NOP, TS): every segment after the SYN of a
        // connection with timestamps. Read in place; anything else goes through the general
        // parse, which reads these the same way.
        let ([1, 1, 8, 10, ts @ ..] | [8, 10, ts @ ..]) = bytes else {
            return Self::parse_each(bytes);
        };
        match ts {
            [a0, a1, a2, a3, b0, b1, b2, b3] | [a0, a1, a2, a3, b0, b1, b2, b3, 0, ..] => {
                TcpOptions {
                    timestamp: Some((
                        u32::from_be_bytes([*a0, *a1, *a2, *a3]),
                        u32::from_be_bytes([*b0, *b1, *b2, *b3]),
                    )),
                    ..TcpOptions::default()
                }
            }
            _ => Self::parse_each(bytes),
        }
    }

    /// The general parse of [`TcpOptions::parse`]: option by option, in place, with the
    /// rules of smoltcp's `TcpOption::parse` (a known kind with the wrong length, a length
    /// below 2 or past the end ends the parse; SACK blocks beyond the third are dropped;
    /// unknown kinds are skipped).
    #[inline(never)]
    fn parse_each(mut bytes: &[u8]) -> TcpOptions {
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let mut o = TcpOptions::default();
        while let Some(&kind) = bytes.first() {
            let len = match kind {
                0 => break,
                1 => 1,
                _ => {
                    let Some(&len) = bytes.get(1) else { break };
                    let len = usize::from(len);
                    let Some(data) = bytes.get(2..len) else {
                        break;
                    };
                    match (kind, len) {
                        (2, 4) => o.mss = Some(u16::from_be_bytes([data[0], data[1]])),
                        (3, 3) => o.window_scale = Some(data[0]),
                        (4, 2) => o.sack_permitted = true,
                        (2..=4, _) => break,
                        (5, n) if n < 10 || (n - 2) % 8 != 0 => break,
                        (5, _) => o.sack = Self::sack_blocks(data),
                        (8, 10) => o.timestamp = Some((be32(&data[..4]), be32(&data[4..]))),
                        _ => {}
                    }
                    len
                }
            };
            bytes = &bytes[len..];
        }
        o
    }

    /// The blocks of a SACK option's data (8 bytes each, a multiple of 8), the first three.
    #[inline(never)]
    fn sack_blocks(data: &[u8]) -> [Option<(u32, u32)>; 3] {
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let mut sack = [None; 3];
        for (s, b) in sack.iter_mut().zip(data.chunks_exact(8)) {
            *s = Some((be32(&b[..4]), be32(&b[4..])));
        }
        sack
    }

    /// The general parse with smoltcp's `TcpOption`: the reference [`TcpOptions::parse_each`]
    /// is tested against.
    #[cfg(test)]
    fn parse_with_smoltcp(mut bytes: &[u8]) -> TcpOptions {
        let mut o = TcpOptions::default();
        while !bytes.is_empty() {
            let Ok((rest, opt)) = TcpOption::parse(bytes) else {
                break;
            };
            match opt {
                TcpOption::EndOfList => break,
                TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
                TcpOption::MaxSegmentSize(m) => o.mss = Some(m),
                TcpOption::WindowScale(w) => o.window_scale = Some(w),
                TcpOption::SackPermitted => o.sack_permitted = true,
                TcpOption::SackRange(r) => o.sack = r,
                TcpOption::TimeStamp { tsval, tsecr } => o.timestamp = Some((tsval, tsecr)),
            }
            bytes = rest;
        }
        o
    }
}

/// A segment on its way through the simulator: its bytes (for the pcap and the receiving
/// device) and the view parsed once, when the host emitted it. Everything but the pcap and
/// smoltcp reads the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The parsed view.
    pub meta: SegMeta,
    /// The IPv4 packet.
    pub bytes: Vec<u8>,
    /// Ground truth the simulator carries beside the bytes, never on the wire: which
    /// connection sent the segment and where its payload sits in that connection's stream.
    pub prov: Option<Provenance>,
    /// Whether the IPv4 header checksum and the TCP checksum of `bytes` are valid: known
    /// from the emitter ([`Packet::emitted`]), verified by [`Packet::parse`], kept by the
    /// translations here. Code that changes `bytes` must leave the checksums as they were.
    checksums: (bool, bool),
}

/// A connection endpoint, unique in a run: its host's address and the host's count of
/// connections created before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnUid {
    /// The host's address.
    pub host: std::net::Ipv4Addr,
    /// The host's connection number (0-based, in order of creation).
    pub n: u32,
}

/// Where a segment comes from: the sending connection, its incarnation of the 4-tuple on
/// the sending host, and the stream offset of the first payload byte (SEG.SEQ − ISS − 1,
/// bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The sending connection.
    pub conn: ConnUid,
    /// Its incarnation of the 4-tuple, 1-based, as its host counts them.
    pub incarnation: u32,
    /// Stream offset of the first payload byte, in bytes.
    pub offset: u32,
    /// Whether the sender's ISS came from a random generator (smoltcp's), which makes the
    /// segment's place in another incarnation's sequence space uniformly random (for the
    /// expected acceptances of time-wait.md's analytic model).
    pub random_iss: bool,
    /// When the sending connection endpoint was created (virtual time): an endpoint older
    /// than a connection's own SYN cannot be that connection's peer.
    pub born: twsim_model::Instant,
}

impl Packet {
    /// Parses `bytes` once and verifies their checksums; `None` for anything but a
    /// well-formed TCP/IPv4 packet.
    pub fn parse(bytes: Vec<u8>) -> Option<Packet> {
        let meta = SegMeta::parse(&bytes)?;
        let ip = Ipv4Packet::new_unchecked(&bytes[..]);
        let tcp = TcpPacket::new_unchecked(ip.payload());
        let (src, dst) = (
            IpAddress::Ipv4(*meta.src.ip()),
            IpAddress::Ipv4(*meta.dst.ip()),
        );
        let checksums = (ip.verify_checksum(), tcp.verify_checksum(&src, &dst));
        Some(Packet {
            meta,
            bytes,
            prov: None,
            checksums,
        })
    }

    /// Parses `bytes` that an emitter which fills in both checksums just wrote (smoltcp, whose
    /// device does not offload transmit checksums; [`craft`]), without verifying them.
    pub(crate) fn emitted(bytes: Vec<u8>) -> Option<Packet> {
        let meta = SegMeta::parse(&bytes)?;
        Some(Packet {
            meta,
            bytes,
            prov: None,
            checksums: (true, true),
        })
    }

    /// Whether the IPv4 header checksum and the TCP checksum are both valid: what a
    /// receiving stack that verifies them (RFC 791 §3.1, RFC 9293 §3.1) accepts.
    pub fn checksums_ok(&self) -> bool {
        self.checksums == (true, true)
    }

    /// Sequence-number translation of an outbound segment: SEG.SEQ += `delta` (the sender's
    /// ISS as the wire sees it minus its stack's ISS). With [`Packet::unshift_ack`] on the
    /// way in, a bijection between the stack's sequence space and the wire's, as pf's
    /// `modulate state` does; the TCP checksum is recomputed and the view follows.
    pub fn shift_seq(&mut self, delta: u32) {
        if delta == 0 {
            return;
        }
        self.meta.seq = self.meta.seq.wrapping_add(delta);
        let seq = self.meta.seq;
        self.rewrite(|tcp| tcp.set_seq_number(TcpSeqNumber(seq.0 as i32)));
    }

    /// Sequence-number translation of an inbound segment for the receiver whose ISS was
    /// shifted by `delta`: SEG.ACK and every SACK block edge -= `delta` (RFC 2018 blocks
    /// acknowledge the receiver's own data), checksum recomputed, view updated.
    pub fn unshift_ack(&mut self, delta: u32) {
        if delta == 0 {
            return;
        }
        let back = |s: u32| s.wrapping_sub(delta);
        if self.meta.has(TcpFlags::ACK) {
            self.meta.ack = SeqNum(back(self.meta.ack.0));
        }
        for b in self.meta.options.sack.iter_mut().flatten() {
            *b = (back(b.0), back(b.1));
        }
        let (ack, has_ack) = (self.meta.ack, self.meta.has(TcpFlags::ACK));
        self.rewrite(|tcp| {
            if has_ack {
                tcp.set_ack_number(TcpSeqNumber(ack.0 as i32));
            }
            shift_sack_edges(tcp.options_mut(), delta);
        });
    }

    /// Clears the FIN flag (a SYN+FIN handed on as a SYN), checksum recomputed, view updated.
    pub fn clear_fin(&mut self) {
        self.meta.flags = self.meta.flags.without(TcpFlags::FIN);
        self.rewrite(|tcp| tcp.set_fin(false));
    }

    /// Applies `edit` to the TCP header in place and recomputes the TCP checksum.
    fn rewrite(&mut self, edit: impl FnOnce(&mut TcpPacket<&mut [u8]>)) {
        let (src, dst) = (*self.meta.src.ip(), *self.meta.dst.ip());
        let mut ip = Ipv4Packet::new_unchecked(&mut self.bytes[..]);
        let mut tcp = TcpPacket::new_unchecked(ip.payload_mut());
        edit(&mut tcp);
        tcp.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
        self.checksums.1 = true;
    }
}

/// Subtracts `delta` from every edge of every SACK option (kind 5) in a raw options field.
fn shift_sack_edges(mut opts: &mut [u8], delta: u32) {
    while let Some(&kind) = opts.first() {
        match kind {
            0 => return,
            1 => opts = &mut opts[1..],
            _ => {
                let Some(&len) = opts.get(1) else { return };
                let len = usize::from(len);
                if len < 2 || len > opts.len() {
                    return;
                }
                if kind == 5 {
                    for edge in opts[2..len].chunks_exact_mut(4) {
                        let v = u32::from_be_bytes([edge[0], edge[1], edge[2], edge[3]]);
                        edge.copy_from_slice(&v.wrapping_sub(delta).to_be_bytes());
                    }
                }
                opts = &mut opts[len..];
            }
        }
    }
}

impl SegMeta {
    /// Parses an IPv4 packet carrying TCP; `None` for anything else or a malformed packet.
    /// Reads the headers in place (RFC 791 §3.1, RFC 9293 §3.1) and refuses what smoltcp's
    /// checked views refuse (`Ipv4Packet::check_len`, `TcpPacket::check_len`): an IP header
    /// shorter than 20 bytes or longer than the total length, a total length beyond the
    /// buffer, a TCP header shorter than 20 bytes or longer than the IP payload. Bytes past
    /// the total length are not part of the segment.
    pub fn parse(bytes: &[u8]) -> Option<SegMeta> {
        let ip: &[u8; 20] = bytes.get(..20)?.try_into().ok()?;
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        if ihl < 20 || ihl > total || total > bytes.len() || ip[9] != 6 {
            return None;
        }
        let seg = &bytes[ihl..total];
        let tcp: &[u8; 20] = seg.get(..20)?.try_into().ok()?;
        let off = usize::from(tcp[12] >> 4) * 4;
        if off < 20 || off > seg.len() {
            return None;
        }
        let be16 = |i: usize| u16::from_be_bytes([tcp[i], tcp[i + 1]]);
        let be32 = |i: usize| u32::from_be_bytes([tcp[i], tcp[i + 1], tcp[i + 2], tcp[i + 3]]);
        let addr = |i: usize| std::net::Ipv4Addr::new(ip[i], ip[i + 1], ip[i + 2], ip[i + 3]);
        Some(SegMeta {
            src: SocketAddrV4::new(addr(12), be16(0)),
            dst: SocketAddrV4::new(addr(16), be16(2)),
            flags: TcpFlags::from_header_byte(tcp[13]),
            psh: tcp[13] & 0x08 != 0,
            seq: SeqNum(be32(4)),
            ack: SeqNum(be32(8)),
            payload_len: (seg.len() - off) as u32,
            window: be16(14),
            options: TcpOptions::parse(&seg[20..off]),
        })
    }

    /// [`SegMeta::parse`] through smoltcp's checked views, option by option with smoltcp's
    /// `TcpOption`: the reference the in-place parse is tested against.
    #[cfg(test)]
    fn parse_with_smoltcp(bytes: &[u8]) -> Option<SegMeta> {
        let ip = Ipv4Packet::new_checked(bytes).ok()?;
        if ip.next_header() != IpProtocol::Tcp {
            return None;
        }
        let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
        let mut flags = TcpFlags::NONE;
        for (on, bit) in [
            (tcp.syn(), TcpFlags::SYN),
            (tcp.fin(), TcpFlags::FIN),
            (tcp.rst(), TcpFlags::RST),
            (tcp.ack(), TcpFlags::ACK),
        ] {
            if on {
                flags |= bit;
            }
        }
        Some(SegMeta {
            src: SocketAddrV4::new(ip.src_addr(), tcp.src_port()),
            dst: SocketAddrV4::new(ip.dst_addr(), tcp.dst_port()),
            flags,
            psh: tcp.psh(),
            seq: SeqNum(tcp.seq_number().0 as u32),
            ack: SeqNum(tcp.ack_number().0 as u32),
            payload_len: tcp.payload().len() as u32,
            window: tcp.window_len(),
            options: TcpOptions::parse_with_smoltcp(tcp.options()),
        })
    }

    /// Whether all flags in `f` are set.
    pub fn has(&self, f: TcpFlags) -> bool {
        self.flags.contains(f)
    }

    /// SEG.LEN: payload plus SYN and FIN (RFC 9293 §3.4).
    pub fn seg_len(&self) -> u32 {
        self.payload_len + u32::from(self.has(TcpFlags::SYN)) + u32::from(self.has(TcpFlags::FIN))
    }

    /// The view TIME-WAIT processing needs (TSval from the timestamp option, RFC 7323).
    pub fn info(&self) -> SegmentInfo {
        SegmentInfo {
            seq: self.seq,
            ack: self.has(TcpFlags::ACK).then_some(self.ack),
            syn: self.has(TcpFlags::SYN),
            fin: self.has(TcpFlags::FIN),
            rst: self.has(TcpFlags::RST),
            payload_len: self.payload_len,
            tsval: self.options.timestamp.map(|(tsval, _)| TsVal(tsval)),
        }
    }

    /// tcpdump-like flag letters: `S`, `S.`, `F.`, `R`, `.`, `P.`.
    pub fn flag_letters(&self) -> String {
        let mut s = String::new();
        for (bit, c) in [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::RST, 'R'),
        ] {
            if self.has(bit) {
                s.push(c);
            }
        }
        if self.psh {
            s.push('P');
        }
        if self.has(TcpFlags::ACK) {
            s.push('.');
        }
        s
    }
}

/// The control of a crafted segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctl {
    /// Plain ACK.
    Ack,
    /// RST (with ACK if `ack` is given).
    Rst,
}

/// Emits a TCP/IPv4 segment with no payload and no options, checksums filled in.
pub fn craft(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: SeqNum,
    ack: Option<SeqNum>,
    ctl: Ctl,
    window: u16,
) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        control: match ctl {
            Ctl::Ack => TcpControl::None,
            Ctl::Rst => TcpControl::Rst,
        },
        seq_number: TcpSeqNumber(seq.0 as i32),
        ack_number: ack.map(|a| TcpSeqNumber(a.0 as i32)),
        window_len: window,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None, None, None],
        timestamp: None,
        payload: &[],
    };
    emit(src, dst, &tcp)
}

/// Emits `tcp` from `src` to `dst` as an IPv4 packet (TTL 64), checksums filled in.
pub fn emit(src: SocketAddrV4, dst: SocketAddrV4, tcp: &TcpRepr) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let caps = ChecksumCapabilities::default();
    let mut buf = vec![0u8; ip.buffer_len() + tcp.buffer_len()];
    let mut ipp = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut ipp, &caps);
    let mut tcpp = TcpPacket::new_unchecked(ipp.payload_mut());
    let (s, d): (Ipv4Address, Ipv4Address) = (*src.ip(), *dst.ip());
    tcp.emit(&mut tcpp, &IpAddress::Ipv4(s), &IpAddress::Ipv4(d), &caps);
    buf
}

/// The RST that answers a segment which matches no connection, TIME-WAIT record or listener
/// (RFC 9293 §3.10.7.1, "If the state is CLOSED"): `<SEQ=SEG.ACK><CTL=RST>` if the segment
/// had ACK, else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`. An incoming RST is never answered.
pub fn reset_for(seg: &SegMeta) -> Option<Vec<u8>> {
    if seg.has(TcpFlags::RST) {
        return None;
    }
    Some(if seg.has(TcpFlags::ACK) {
        craft(seg.dst, seg.src, seg.ack, None, Ctl::Rst, 0)
    } else {
        craft(
            seg.dst,
            seg.src,
            SeqNum(0),
            Some(seg.seq.wrapping_add(seg.seg_len())),
            Ctl::Rst,
            0,
        )
    })
}

#[cfg(test)]
mod tests;

//! The raw `IPPROTO_TCP` socket of the check: a copy of every segment on `lo`, parsed, and the
//! crafted RSTs out.

use super::{io, sys, KernelTwError};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, Ipv4Packet, TcpPacket, TcpRepr};
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use twsim_sim::wire::SegMeta;

/// A captured segment.
pub(super) struct Seg {
    pub(super) meta: SegMeta,
    pub(super) tsval: Option<u32>,
    /// The window scale option (SYN segments only).
    pub(super) wscale: Option<u8>,
}

/// The TSval of a segment's timestamp option and its window scale option (checksums not
/// verified: segments sent by the kernel on `lo` carry a partial checksum, `CHECKSUM_PARTIAL`).
pub(super) fn options_of(bytes: &[u8]) -> (Option<u32>, Option<u8>) {
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
pub(super) struct Capture {
    fd: OwnedFd,
}

impl Capture {
    /// Most segments read by one [`Capture::drain`]; a case produces a dozen.
    const MAX_DRAIN: usize = 4096;

    pub(super) fn open() -> Result<Capture, KernelTwError> {
        let fd = sys::socket(libc::SOCK_RAW, libc::IPPROTO_TCP).map_err(io("raw socket"))?;
        sys::set_int(&fd, libc::IPPROTO_IP, libc::IP_HDRINCL, 1).map_err(io("IP_HDRINCL"))?;
        Ok(Capture { fd })
    }

    /// Every segment received since the last drain, in arrival order.
    pub(super) fn drain(&self) -> Result<Vec<Seg>, KernelTwError> {
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
    pub(super) fn send(&self, packet: &[u8], to: SocketAddrV4) -> Result<(), KernelTwError> {
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

//! The in-memory network device between a smoltcp interface and the host layer.

use crate::wire::Packet;
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SInstant;
use std::collections::VecDeque;

/// Most packet buffers a device keeps for reuse.
const POOL_MAX: usize = 64;

/// An in-memory `phy::Device` (Medium::Ip): the host layer fills `rx` and drains `tx`, the
/// host's outbound queue: what smoltcp emits is parsed there once, as it is transmitted
/// (`Packet::emitted`; anything but TCP/IPv4 is dropped), and the host layer queues its own
/// crafted segments behind it, so the queue holds the host's packets in the order they left.
/// Buffers of received packets go back to `pool` and carry the next transmitted ones, so a
/// steady exchange allocates nothing per packet. A reused buffer keeps its old bytes (only
/// growth is zero-filled): smoltcp's IPv4 and TCP emitters write every byte of the length they
/// ask for (headers, options with their padding, payload, checksums). Receive checksums are
/// declared offloaded: the host layer hands smoltcp only segments whose checksums are valid
/// (`Host::hand_to_device`).
#[derive(Default)]
pub struct Dev {
    pub(super) rx: VecDeque<Vec<u8>>,
    pub(super) tx: Vec<Packet>,
    pool: Vec<Vec<u8>>,
}

/// Receive token of [`Dev`]: returns its buffer to the pool once consumed.
pub struct RxTok<'a>(Vec<u8>, &'a mut Vec<Vec<u8>>);
/// Transmit token of [`Dev`]: takes a buffer from the pool when it has one (its old bytes are
/// overwritten by the emitter, see [`Dev`]) and queues the packet emitted into it, parsed.
pub struct TxTok<'a> {
    tx: &'a mut Vec<Packet>,
    pool: Option<&'a mut Vec<Vec<u8>>>,
}

impl phy::RxToken for RxTok<'_> {
    #[inline(always)]
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.0);
        let (buf, pool) = (self.0, self.1);
        if pool.len() < POOL_MAX {
            pool.push(buf);
        }
        r
    }
}
impl phy::TxToken for TxTok<'_> {
    #[inline(always)]
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.pool.and_then(|p| p.pop()).unwrap_or_default();
        buf.resize(len, 0);
        let r = f(&mut buf);
        // The one parse of an emitted segment: the view travels with the bytes. smoltcp's
        // emitters fill in both checksums (transmit checksums are not offloaded).
        if let Some(p) = Packet::emitted(buf) {
            self.tx.push(p);
        }
        r
    }
}
impl phy::Device for Dev {
    type RxToken<'a> = RxTok<'a>;
    type TxToken<'a> = TxTok<'a>;
    fn receive(&mut self, _t: SInstant) -> Option<(RxTok<'_>, TxTok<'_>)> {
        let p = self.rx.pop_front()?;
        Some((
            RxTok(p, &mut self.pool),
            TxTok {
                tx: &mut self.tx,
                pool: None,
            },
        ))
    }
    fn transmit(&mut self, _t: SInstant) -> Option<TxTok<'_>> {
        Some(TxTok {
            tx: &mut self.tx,
            pool: Some(&mut self.pool),
        })
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        // Receive checksums are verified by the host layer, and only for segments whose
        // emitter did not compute them (`Packet::checksums_ok`): smoltcp computes its own and
        // never sees a segment with a bad one. Transmit checksums stay smoltcp's.
        c.checksum.ipv4 = Checksum::Tx;
        c.checksum.tcp = Checksum::Tx;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::iface::{Config, Interface, SocketSet};
    use smoltcp::socket::tcp;
    use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};

    /// Every packet two interfaces exchange in a connection with data, both ways, and a close,
    /// the client's device transmitting from `pool` (buffers of reused packets).
    fn exchange(pool: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        let addr = [Ipv4Address::new(10, 0, 0, 1), Ipv4Address::new(10, 0, 0, 2)];
        let mut devs = [Dev::default(), Dev::default()];
        devs[0].pool = pool;
        let mut ifaces = [0, 1].map(|i| {
            let mut c = Config::new(HardwareAddress::Ip);
            c.random_seed = 7;
            let mut iface = Interface::new(c, &mut devs[i], SInstant::from_micros(0));
            iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(addr[i]), 0)).unwrap());
            iface
        });
        let mut sets = [SocketSet::new(Vec::new()), SocketSet::new(Vec::new())];
        let sock = || {
            tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; 4096]),
                tcp::SocketBuffer::new(vec![0; 4096]),
            )
        };
        let mut server = sock();
        server.listen(80).unwrap();
        let hs = sets[1].add(server);
        let hc = sets[0].add(sock());
        let ctx = ifaces[0].context();
        sets[0]
            .get_mut::<tcp::Socket>(hc)
            .connect(ctx, (addr[1], 80), 40000)
            .unwrap();
        let mut wire = Vec::new();
        for step in 0..40u64 {
            let now = SInstant::from_millis(step as i64 * 10);
            for i in 0..2 {
                ifaces[i].poll(now, &mut devs[i], &mut sets[i]);
                for p in std::mem::take(&mut devs[i].tx) {
                    wire.push(p.bytes.clone());
                    devs[1 - i].rx.push_back(p.bytes);
                }
            }
            let [client, server] = &mut sets;
            let (c, s) = (
                client.get_mut::<tcp::Socket>(hc),
                server.get_mut::<tcp::Socket>(hs),
            );
            match step {
                3 => {
                    c.send_slice(b"request").unwrap();
                }
                6 => {
                    s.send_slice(&[5; 300]).unwrap();
                }
                9 => c.close(),
                12 => s.close(),
                _ => {}
            }
            for sock in [c, s] {
                let _ = sock.recv(|b| (b.len(), ()));
            }
        }
        wire
    }

    #[test]
    fn reused_buffers_carry_the_same_bytes_as_fresh_ones() {
        let fresh = exchange(Vec::new());
        assert!(fresh.len() >= 8, "{} packets", fresh.len());
        let dirty = (0..POOL_MAX)
            .map(|i| vec![0xa5 ^ i as u8; 40 + 37 * i])
            .collect();
        assert_eq!(exchange(dirty), fresh);
    }
}

//! The in-memory network device between a smoltcp interface and the host layer.

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SInstant;
use std::collections::VecDeque;

/// Most packet buffers a device keeps for reuse.
const POOL_MAX: usize = 64;

/// An in-memory `phy::Device` (Medium::Ip): the host layer fills `rx` and drains `tx`.
/// Buffers of received packets go back to `pool` and carry the next transmitted ones, so a
/// steady exchange allocates nothing per packet.
#[derive(Default)]
pub struct Dev {
    pub(super) rx: VecDeque<Vec<u8>>,
    pub(super) tx: Vec<Vec<u8>>,
    pool: Vec<Vec<u8>>,
}

/// Receive token of [`Dev`]: returns its buffer to the pool once consumed.
pub struct RxTok<'a>(Vec<u8>, &'a mut Vec<Vec<u8>>);
/// Transmit token of [`Dev`]: takes a buffer from the pool when it has one.
pub struct TxTok<'a> {
    tx: &'a mut Vec<Vec<u8>>,
    pool: Option<&'a mut Vec<Vec<u8>>>,
}

impl phy::RxToken for RxTok<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.0);
        let (mut buf, pool) = (self.0, self.1);
        if pool.len() < POOL_MAX {
            buf.clear();
            pool.push(buf);
        }
        r
    }
}
impl phy::TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.pool.and_then(|p| p.pop()).unwrap_or_default();
        buf.resize(len, 0);
        let r = f(&mut buf);
        self.tx.push(buf);
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
        c
    }
}

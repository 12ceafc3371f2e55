//! Ephemeral ports: the automatic port of `bind(port 0)` (Linux `inet_csk_find_open_port`)
//! and of `connect()` (Linux `__inet_hash_connect`, BSD `in_pcb_lport`), and the reuse of a
//! TIME-WAIT 4-tuple by an automatic connect (Linux `tcp_twsk_unique`).

use super::*;

impl AddressTable {
    pub(super) fn find_open_port(&self, id: SocketId, ip: IpAddr, hint: u32) -> Option<u16> {
        let range = self.cfg.ephemeral;
        let n = range.len();
        let me = &self.entries[&id];
        let free = |port: u16| {
            // relax = false: anything overlapping on the port blocks an automatic choice.
            self.all_on_port(port, |other| {
                other
                    .local
                    .is_none_or(|l| !overlaps(ip, me.opts.v6only, l.ip(), other.opts.v6only))
            })
        };
        let offset = hint % n;
        let order: Vec<u32> = if self.cfg.bind_odd_ports_first {
            // odd ports first, then even ones (inet_csk_find_open_port)
            (0..n)
                .map(|i| (offset + i) % n)
                .filter(|i| (u32::from(range.first) + i) % 2 == 1)
                .chain(
                    (0..n)
                        .map(|i| (offset + i) % n)
                        .filter(|i| (u32::from(range.first) + i) % 2 == 0),
                )
                .collect()
        } else {
            (0..n).map(|i| (offset + i) % n).collect()
        };
        order
            .into_iter()
            .map(|i| (u32::from(range.first) + i) as u16)
            .find(|p| free(*p))
    }

    /// Linux `tcp_twsk_unique` for an automatic port: a TIME-WAIT 4-tuple is reused when
    /// [`ProfileConfig::tw_reuse_loopback_after`] is set (`net.ipv4.tcp_tw_reuse` = 2:
    /// loopback connections only), the old connection used timestamps, and its last timestamp
    /// is older than that delay (`tcp_tw_reuse_delay`) at `now`. The record's entry time stands in for `tw_ts_recent_stamp`.
    /// `slot` is the record's place in the TIME-WAIT store.
    fn tw_reusable(&self, slot: u32, tuple: &FourTuple, now: Instant) -> bool {
        let r = self.tw.record(slot);
        let loopback =
            unmapped(tuple.local.ip()).is_loopback() || unmapped(tuple.remote.ip()).is_loopback();
        let Some(delay) = self.cfg.tw_reuse_loopback_after else {
            return false;
        };
        self.timestamps && loopback && now.saturating_since(r.entered_at) > delay
    }

    /// `tw_reusable` for the TIME-WAIT record, if any, of the 4-tuple
    /// `(src, port) → remote`.
    #[cold]
    #[inline(never)]
    fn tw_reusable_by_connect(
        &self,
        src: IpAddr,
        port: u16,
        remote: SocketAddr,
        now: Instant,
    ) -> bool {
        let tuple = FourTuple::new(SocketAddr::new(src, port), remote);
        self.tw
            .slot_of_tuple(&tuple)
            .is_some_and(|slot| self.tw_reusable(slot, &tuple, now))
    }

    /// Whether nothing on `port` overlaps `src` (BSD `in_pcb_lport`: a port for `connect()`).
    #[inline(never)]
    fn free_for_connect(&self, src: IpAddr, port: u16) -> bool {
        self.all_on_port(port, |e| {
            e.local
                .is_none_or(|l| !overlaps(l.ip(), e.opts.v6only, src, false))
        })
    }

    /// Ends the TIME-WAIT record of `(src, port) → remote`, if any, as recycled by connect.
    #[cold]
    #[inline(never)]
    fn recycle_for_connect(&mut self, src: IpAddr, port: u16, remote: SocketAddr) {
        let tuple = FourTuple::new(SocketAddr::new(src, port), remote);
        if let Some(slot) = self.tw.slot_of_tuple(&tuple) {
            let recycled = self.remove_time_wait(slot);
            self.recycled.push(recycled);
        }
    }

    /// Linux `secure_ipv4_port_ephemeral(saddr, daddr, dport)`: a keyed hash of the source,
    /// the destination and its port ([`AddressTable::set_port_secret`]; 0 without a key),
    /// whose high 32 bits place the destination's scan in the range. The hash is the model's
    /// own (a fixed 64-bit mixer over the key and the endpoints), not the kernel's SipHash:
    /// the key is random there anyway, so only its shape matters, one offset per destination.
    fn port_offset(&self, src: IpAddr, remote: SocketAddr) -> u64 {
        let Some(secret) = self.port_secret else {
            return 0;
        };
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        let words = [
            bits(src) as u64,
            (bits(src) >> 64) as u64,
            bits(remote.ip()) as u64,
            (bits(remote.ip()) >> 64) as u64,
            u64::from(remote.port()),
        ];
        words
            .iter()
            .fold(secret, |h, &w| super::slot_index::mix(h ^ w))
    }

    /// How far the scan of [`AddressTable::connect_port`] moves on from `port` (taken, `left`
    /// ports before the end of the range, every `step`-th one scanned): to the next port of
    /// its parity in its word that is neither taken by a 4-tuple to the destination (`taken`)
    /// nor, where connecting sockets share ports, held by an explicit bind; past the word (or
    /// the range) when there is none. The port-by-port scan would test each port in between
    /// and find each one taken.
    #[inline(never)]
    fn skip_taken(&self, taken: &TakenPorts<'_>, port: u16, step: u32, left: u32) -> u32 {
        let w = usize::from(port >> 6);
        let explicit = if self.cfg.connect_shares_ports {
            self.explicit.word(w)
        } else {
            0
        };
        let bit = u32::from(port & 63);
        let lane = if step == 2 {
            0x5555_5555_5555_5555u64 << (bit & 1)
        } else {
            u64::MAX
        };
        let rest = (u64::MAX << bit) & lane;
        let open = !(taken.word(w) | explicit) & rest;
        let to_next = if open == 0 {
            64 - bit
        } else {
            open.trailing_zeros() - bit
        };
        to_next.min(left).div_ceil(step) * step
    }

    pub(super) fn connect_port(
        &mut self,
        src: IpAddr,
        remote: SocketAddr,
        hint: u32,
        now: Instant,
    ) -> Option<u16> {
        self.scan_connect_port(src, remote, hint, now, true)
    }

    /// The automatic port of `connect()`; `skip_words` allows passing over runs of taken
    /// ports a word at a time (the same result, tested against the port-by-port scan).
    fn scan_connect_port(
        &mut self,
        src: IpAddr,
        remote: SocketAddr,
        hint: u32,
        now: Instant,
        skip_words: bool,
    ) -> Option<u16> {
        let range = self.cfg.ephemeral;
        let n = range.len();
        let key = (remote.ip(), remote.port());
        let perturb = self.perturb.get(&key).copied().unwrap_or(0);
        // Whether a TIME-WAIT 4-tuple can be reused at all on this path (decided once, so a
        // port taken by a record costs one bit test).
        let reuse_possible = self.timestamps
            && self.cfg.tw_reuse_loopback_after.is_some()
            && (unmapped(src).is_loopback() || unmapped(remote.ip()).is_loopback());
        let taken = self.by_tuple.ports_to(src, remote);
        let shares = self.cfg.connect_shares_ports;
        // Reduce the start modulo the range first (as the kernel does), so the scan below
        // never wraps around u32: a wrapped sum would skip ports and report exhaustion early.
        let (offset, step) = if self.cfg.connect_even_ports_first {
            let base = (self.port_offset(src, remote) >> 32) as u32;
            ((base.wrapping_add(perturb) % n) & !1, 2)
        } else {
            (hint % n, 1)
        };
        // Word skipping: from a taken port the scan moves to the next port of its parity in
        // the same word that is not taken by a 4-tuple to this destination (nor, where
        // connecting sockets share ports, held by an explicit bind), or past the word: a
        // destination whose ports are scattered through the range costs a word test per 64
        // ports, not a test per port. The order of the scan and its result are those of the
        // port-by-port loop; only taken ports are skipped. Off when a taken
        // 4-tuple may be reusable, and for an odd range with step 2 (its wrap changes parity).
        let skip_ok = skip_words && !reuse_possible && (step == 1 || n.is_multiple_of(2));
        for parity in 0..step {
            let mut i = 0;
            while i < n {
                let idx = (offset + i + parity) % n;
                let port = (u32::from(range.first) + idx) as u16;
                // Linux: a port held by an explicit bind is never shared.
                let explicit = shares && self.explicit.any(port);
                let tuple_taken = taken.contains(port);
                if skip_ok && (explicit || tuple_taken) {
                    i += self.skip_taken(&taken, port, step, n - idx);
                    continue;
                }
                let usable = !explicit
                    && (!tuple_taken
                        || reuse_possible && self.tw_reusable_by_connect(src, port, remote, now))
                    // Where connecting sockets share ports, every entry on the port got it
                    // from connect() (no explicit bind above).
                    && (shares || self.free_for_connect(src, port));
                if usable {
                    // Linux: `i = max(i, get_random_u32_below(8) * step)`, then
                    // `table_perturb[index] += i + step`.
                    let advance = i.max((hint % 8) * step) + step;
                    self.perturb.insert(key, perturb.wrapping_add(advance));
                    if tuple_taken {
                        // A usable port taken by a 4-tuple to this destination is a TIME-WAIT
                        // record's (a live connection's never is): old enough to reuse
                        // (tcp_twsk_unique with tcp_tw_reuse).
                        self.recycle_for_connect(src, port, remote);
                    }
                    return Some(port);
                }
                i += step;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{PortRange, Profile};
    use crate::time::Duration;
    use crate::time_wait::TimeWaitRecord;
    use crate::SeqNum;

    /// Fills a small port range with connections and TIME-WAIT records to one destination
    /// (and a few explicit binds), and checks at every step that the word-skipping scan picks
    /// the port the port-by-port scan picks, for even and odd ranges and every profile's
    /// step.
    #[test]
    fn word_skipping_scan_equals_port_by_port_scan() {
        for profile in [Profile::Linux, Profile::FreeBsd] {
            for last in [1255u16, 1256] {
                let mut cfg = profile.config();
                cfg.ephemeral = PortRange { first: 1000, last };
                let src: IpAddr = "10.0.0.1".parse().unwrap();
                let remote: SocketAddr = "10.0.0.2:80".parse().unwrap();
                let mut t = AddressTable::new(cfg, vec![src]);
                t.set_port_secret(u64::from(last) * 0x9e37_79b9);
                let now = Instant::ZERO;
                let mut x = 0x9e37_79b9u32;
                let mut next = || {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x
                };
                for k in 0..400u32 {
                    if k % 37 == 5 {
                        let id = t.socket(0);
                        let _ = t.bind(id, SocketAddr::new(src, 1000 + (next() % 256) as u16), 0);
                    }
                    let hint = next();
                    let fast = t.clone().scan_connect_port(src, remote, hint, now, true);
                    let slow = t.clone().scan_connect_port(src, remote, hint, now, false);
                    assert_eq!(fast, slow, "{profile:?} range 1000-{last}, connection {k}");
                    let id = t.socket(0);
                    let Ok(l) = t.connect(id, src, remote, hint, now) else {
                        break;
                    };
                    if k % 3 == 0 {
                        let rec = TimeWaitRecord::new(
                            FourTuple::new(l, remote),
                            1,
                            SeqNum(1),
                            SeqNum(1),
                            1000,
                            now,
                            Duration::from_secs(60),
                        );
                        t.enter_time_wait(id, rec).unwrap();
                    } else if k % 7 == 0 {
                        t.remove(id);
                    }
                }
            }
        }
    }
}

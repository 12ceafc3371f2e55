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
            let addr = SocketAddr::new(ip, port);
            self.by_port.get(&port).into_iter().flatten().all(|o| {
                let other = &self.entries[o];
                // relax = false: anything overlapping on the port blocks an automatic choice.
                other
                    .local
                    .is_none_or(|l| !overlaps(addr.ip(), me.opts.v6only, l.ip(), other.opts.v6only))
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
    fn tw_reusable(&self, id: SocketId, tuple: &FourTuple, now: Instant) -> bool {
        let Some(TableState::TimeWait(r)) = self.entries.get(&id).map(|e| &e.state) else {
            return false;
        };
        let loopback =
            unmapped(tuple.local.ip()).is_loopback() || unmapped(tuple.remote.ip()).is_loopback();
        let Some(delay) = self.cfg.tw_reuse_loopback_after else {
            return false;
        };
        self.timestamps && loopback && now.saturating_since(r.entered_at) > delay
    }

    pub(super) fn connect_port(
        &mut self,
        src: IpAddr,
        remote: SocketAddr,
        hint: u32,
        now: Instant,
    ) -> Option<u16> {
        let range = self.cfg.ephemeral;
        let n = range.len();
        let key = (remote.ip(), remote.port());
        let perturb = self.perturb.get(&key).copied().unwrap_or(0);
        let usable = |port: u16| {
            let tuple = FourTuple::new(SocketAddr::new(src, port), remote);
            if let Some(&other) = self.by_tuple.get(&tuple) {
                if !self.tw_reusable(other, &tuple, now) {
                    return false;
                }
            }
            let mut on_port = self
                .by_port
                .get(&port)
                .into_iter()
                .flatten()
                .map(|o| &self.entries[o]);
            if self.cfg.connect_shares_ports {
                on_port.all(|e| e.port_by_connect)
            } else {
                on_port.all(|e| {
                    e.local
                        .is_none_or(|l| !overlaps(l.ip(), e.opts.v6only, src, false))
                })
            }
        };
        // Reduce the start modulo the range first (as the kernel does), so the scan below
        // never wraps around u32: a wrapped sum would skip ports and report exhaustion early.
        let (offset, step) = if self.cfg.connect_even_ports_first {
            ((hint.wrapping_add(perturb) % n) & !1, 2)
        } else {
            (hint % n, 1)
        };
        let passes: &[u32] = if step == 2 { &[0, 1] } else { &[0] };
        for &parity in passes {
            let mut i = 0;
            while i < n {
                let idx = (offset + i + parity) % n;
                let port = (u32::from(range.first) + idx) as u16;
                if usable(port) {
                    self.perturb.insert(key, perturb.wrapping_add(i + 2));
                    let tuple = FourTuple::new(SocketAddr::new(src, port), remote);
                    if let Some(&other) = self.by_tuple.get(&tuple) {
                        // A TIME-WAIT old enough to reuse (tcp_twsk_unique with tcp_tw_reuse).
                        if let Some(r) = self.remove(other) {
                            self.recycled.push((other, r));
                        }
                    }
                    return Some(port);
                }
                i += step;
            }
        }
        None
    }
}
